/* bt-estimate.c: speed and memory estimates of a preset on this machine (see bt-estimate.h). */
#include "config.h"

#include <glib/gi18n-lib.h>
#include <math.h>
#include <string.h>

#include "training/bt-estimate.h"
#include "training/bt-model-runner.h"

#define ESTIMATE_BATCH 8

void
bt_estimate_preset (BtPreset preset, int width, int height, int channels, int n_classes,
                    int transfer_dim, int transfer_hidden, GCancellable *cancellable, BtPresetEstimate *out)
{
  g_autoptr(BtNet) net = NULL;
  g_autofree float *x = NULL;
  g_autofree int *labels = NULL;
  gsize in_floats = (gsize) width * height * channels;
  gint64 t0 = 0;
  double loss;
  int correct;

  g_return_if_fail (out != NULL);

  out->n_params = 0;
  out->flops = 0;
  out->images_per_s = NAN;
  if (g_cancellable_is_cancelled (cancellable))
    return;
  /* The transfer head trains on embeddings; each photo's embedding is computed once. */
  if (preset == BT_PRESET_TRANSFER)
    {
      net = bt_net_new_transfer (transfer_dim, transfer_hidden, n_classes, -1, 1, NULL);
      in_floats = (gsize) transfer_dim;
    }
  else
    net = bt_net_new_preset (preset, width, height, channels, n_classes, -1, 1, NULL);
  if (net == NULL)
    return;
  out->n_params = bt_net_n_params (net);
  out->flops = bt_net_flops_per_image (net);
  /* one warm-up step, then time one real training step on zeros */
  x = g_new0 (float, ESTIMATE_BATCH * in_floats);
  labels = g_new0 (int, ESTIMATE_BATCH);
  /* one turn of the compute gate: a training run waits a step, and the time measured is this
   * net's alone */
  bt_compute_gate_enter ();
  for (int step = 0; step < 2; step++)
    {
      if (step == 1)
        t0 = g_get_monotonic_time ();
      if (bt_net_forward (net, x, ESTIMATE_BATCH, TRUE, NULL) == NULL)
        break;
      bt_net_zero_grad (net);
      if (!bt_net_backward (net, labels, ESTIMATE_BATCH, NULL, 0, &loss, &correct, NULL))
        break;
      if (step == 1)
        out->images_per_s = 1.0 * ESTIMATE_BATCH / MAX (1e-6, (g_get_monotonic_time () - t0) / 1e6);
    }
  bt_compute_gate_leave ();
}

/* MemAvailable of /proc/meminfo in bytes, or 0 when unknown. */
static guint64
available_memory (void)
{
  g_autofree char *text = NULL;
  const char *line;

  if (!g_file_get_contents ("/proc/meminfo", &text, NULL, NULL))
    return 0;
  line = strstr (text, "MemAvailable:");
  if (line == NULL)
    return 0;
  return g_ascii_strtoull (line + strlen ("MemAvailable:"), NULL, 10) * 1024;
}

gboolean
bt_estimate_check_memory (const BtProjectSettings *s, int n_classes, guint n_train, GError **error)
{
  g_autoptr(BtNet) net = NULL;
  g_autofree char *need_text = NULL;
  g_autofree char *have_text = NULL;
  BtPreset preset;
  gsize per_image, sample;
  guint64 batch, need, have;
  gboolean too_many_activations;

  if (!bt_preset_from_id (s->preset, &preset) || preset == BT_PRESET_TRANSFER)
    return TRUE;
  net = bt_net_new_preset (preset, s->width, s->height, s->channels, MAX (n_classes, 2), (float) s->dropout,
                           s->seed, NULL);
  batch = MAX (1, MIN ((guint64) s->batch_size, (guint64) n_train));
  sample = (gsize) s->width * s->height * s->channels;
  if (net == NULL)
    {
      per_image = 0;
      need = G_MAXUINT64;
      too_many_activations = TRUE;
    }
  else
    {
      per_image = bt_net_train_floats_per_image (net);
      /* a batch of inputs and the net's steps; parameters ×6: weights, gradients, two optimizer
       * moments, the weights' average and the best epoch's copy */
      need = 4 * (batch * (per_image + sample) + 6 * (guint64) bt_net_n_params (net));
      too_many_activations = batch * per_image / 2 > bt_net_max_activation_floats ();
    }
  have = available_memory ();
  if (!too_many_activations && (have == 0 || need <= have))
    return TRUE;

  need_text = need == G_MAXUINT64 ? g_strdup (_("more memory than this computer has"))
                                  : g_format_size_full (need, G_FORMAT_SIZE_IEC_UNITS);
  have_text = g_format_size_full (have, G_FORMAT_SIZE_IEC_UNITS);
  g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID,
               _("Not enough memory: a batch of %u images at %d×%d needs %s while training "
                 "(%s available). Lower the batch size (now %d) or the input size (now %d×%d)."),
               (guint) batch, s->width, s->height, need_text, have_text, s->batch_size, s->width, s->height);
  return FALSE;
}
