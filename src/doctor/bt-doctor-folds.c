/* bt-doctor-folds.c: the doctor's out-of-fold probabilities. One fresh network per fold (the
 * project's preset on its pixels, or the transfer head on the features), trained for a short
 * cosine schedule on the other folds, predicts the held-out fold. Takes the compute gate per
 * step and per prediction batch, as the trainer does. */
#include "config.h"

#include <math.h>
#include <string.h>

#include "dataset/bt-dataset.h"
#include "doctor/bt-doctor-private.h"
#include "training/bt-model-runner.h"

static gsize
row_floats (const BtDoctorFoldModel *m)
{
  return m->pixels != NULL ? (gsize) m->width * m->height * m->channels : (gsize) m->dim;
}

/* rows[0…nb) of the data as one float batch (NCHW for pixels). */
static void
fill_batch (const BtDoctorFoldModel *m, const guint *rows, int nb, float *x)
{
  gsize rf = row_floats (m);
  static const float mean[3] = { 0, 0, 0 }, std[3] = { 1, 1, 1 };
  for (int b = 0; b < nb; b++)
    {
      if (m->pixels != NULL)
        bt_image_to_chw_float (m->pixels + (gsize) rows[b] * rf, m->width, m->height, m->channels,
                               1.0f / 255.0f, mean, std, x + (gsize) b * rf);
      else
        memcpy (x + (gsize) b * rf, m->features + (gsize) rows[b] * rf, sizeof (float) * rf);
    }
}

static BtNet *
fold_net (const BtDoctorFoldModel *m, int classes, int fold, GError **error)
{
  guint64 seed = m->seed * 1000003u + (guint64) fold;
  if (m->pixels != NULL)
    return bt_net_new_preset (m->preset, m->width, m->height, m->channels, classes, m->dropout, seed, error);
  return bt_net_new_transfer (m->dim, m->hidden, classes, MAX (m->dropout, 0.0f), seed, error);
}

/* Trains net on rows[0…nr) (their order is shuffled in place each epoch). */
static gboolean
train_fold (const BtDoctorFoldModel *m, BtNet *net, const int *labels, guint *rows, guint nr, float *x,
            int *y, double done, double share, BtDoctorFoldProgress progress, gpointer user_data,
            GCancellable *cancellable, GError **error)
{
  BtOptimizerConfig cfg;
  bt_optimizer_config_init (&cfg, m->optimizer);
  if (m->weight_decay > 0)
    cfg.weight_decay = m->weight_decay;
  g_autoptr (BtOptimizer) opt = bt_optimizer_new (net, &cfg);
  int bs = CLAMP (m->batch_size, 1, 256);
  gint64 steps_per_epoch = (nr + bs - 1) / bs, total = steps_per_epoch * m->epochs, t = 0;
  for (int e = 0; e < m->epochs; e++)
    {
      bt_rng_shuffle (bt_net_rng (net), rows, nr);
      for (guint s = 0; s < nr; s += bs, t++)
        {
          if (g_cancellable_set_error_if_cancelled (cancellable, error))
            return FALSE;
          int nb = (int) MIN ((guint) bs, nr - s);
          fill_batch (m, rows + s, nb, x);
          for (int b = 0; b < nb; b++)
            y[b] = labels[rows[s + b]];
          float lr = (float) (m->learning_rate * 0.5 * (1.0 + cos (G_PI * t / MAX (total, 1))));
          bt_compute_gate_enter ();
          bt_net_zero_grad (net);
          gboolean ok = bt_net_forward (net, x, nb, TRUE, error) != NULL &&
                        bt_net_backward (net, y, nb, NULL, 0.0f, NULL, NULL, error);
          if (ok)
            bt_optimizer_step (opt, net, lr);
          bt_compute_gate_leave ();
          if (!ok)
            return FALSE;
          if (progress != NULL && t % 16 == 0)
            progress (done + share * (double) t / MAX (total, 1), user_data);
        }
    }
  return TRUE;
}

gboolean
bt_doctor_out_of_fold (const BtDoctorFoldModel *m, const int *labels, const int *fold, guint n, int classes,
                       int k, double *P, BtDoctorFoldProgress progress, gpointer user_data,
                       GCancellable *cancellable, GError **error)
{
  g_return_val_if_fail (m != NULL && (m->pixels != NULL) != (m->features != NULL), FALSE);
  int bs = CLAMP (m->batch_size, 1, 256);
  g_autofree float *x = g_new (float, row_floats (m) * MAX (bs, 64));
  g_autofree int *y = g_new (int, MAX (bs, 64));
  g_autofree guint *rows = g_new (guint, MAX (n, 1));
  for (int f = 0; f < k; f++)
    {
      guint nr = 0;
      for (guint i = 0; i < n; i++)
        if (labels[i] >= 0 && fold[i] >= 0 && fold[i] != f)
          rows[nr++] = i;
      if (nr == 0)
        continue;
      g_autoptr (BtNet) net = fold_net (m, classes, f, error);
      if (net == NULL ||
          !train_fold (m, net, labels, rows, nr, x, y, (double) f / k, 1.0 / k, progress, user_data, cancellable,
                       error))
        return FALSE;
      /* the held-out fold, in batches of 64 */
      guint nh = 0;
      for (guint i = 0; i < n; i++)
        if (fold[i] == f)
          rows[nh++] = i;
      for (guint s = 0; s < nh; s += 64)
        {
          if (g_cancellable_set_error_if_cancelled (cancellable, error))
            return FALSE;
          int nb = (int) MIN (64u, nh - s);
          fill_batch (m, rows + s, nb, x);
          bt_compute_gate_enter ();
          const float *p = bt_net_forward (net, x, nb, FALSE, error);
          for (int b = 0; p != NULL && b < nb; b++)
            for (int j = 0; j < classes; j++)
              P[(gsize) rows[s + b] * classes + j] = p[(gsize) b * classes + j];
          bt_compute_gate_leave ();
          if (p == NULL)
            return FALSE;
        }
      if (progress != NULL)
        progress ((f + 1.0) / k, user_data);
    }
  return TRUE;
}
