/* fuzz-model.c: libFuzzer target for the .bottega-model loader. Built with -Dfuzzing=true,
 * where the checksum comparison is skipped so mutations reach the parser. A file that loads
 * is run forward once when its input is small; an embedded backbone (self-contained transfer
 * models) goes through the TFLite reader as prediction would. */
#include "engine/bt-engine.h"
#include "engine/bt-tflite.h"
#include "engine/bt-tflite-grad.h"

#include <stdint.h>
#include <math.h>
#include <string.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static gboolean once;
  if (!once)
    {
      bt_engine_set_threads (1);
      once = TRUE;
    }
  g_autoptr (GBytes) bytes = g_bytes_new_static (data, size);
  g_autoptr (GError) error = NULL;
  g_autoptr (BtModel) model = bt_model_load_bytes (bytes, &error);
  if (model == NULL)
    {
      g_assert (error != NULL && error->domain == BT_ENGINE_ERROR);
      return 0;
    }
  g_assert (error == NULL);
  int c, h, w;
  bt_net_input_shape (model->net, &c, &h, &w);
  if ((gsize) c * h * w <= 64 * 64 * 3)
    {
      g_autofree float *x = g_new0 (float, (gsize) c * h * w);
      const float *p = bt_net_forward (model->net, x, 1, FALSE, &error);
      g_assert ((p != NULL) == (error == NULL));
      /* the unknown score reads the features the forward pass kept (and the centroids, if any) */
      if (p != NULL)
        (void) bt_model_unknown_score (model, bt_net_logits (model->net), bt_net_features (model->net), NULL);
      g_clear_error (&error);   /* non-finite outputs are an answer, not a failure of the file */
    }
  /* what loaded must save again */
  if (model->backbone_data != NULL)
    {
      g_autoptr (GError) terr = NULL;
      g_autoptr (BtTflite) bb = bt_tflite_load_bytes (model->backbone_data, &terr);
      g_assert ((bb != NULL) == (terr == NULL));
      /* fine-tuned operators (format 3) either fit the graph or are refused */
      if (bb != NULL && model->backbone_weights != NULL)
        {
          gboolean fits = bt_tflite_apply_weights (bb, model->backbone_weights, &terr);
          g_assert (fits == (terr == NULL));
        }
    }
  g_autoptr (GBytes) again = bt_model_to_bytes (model, &error);
  if (again == NULL)
    g_error ("a loaded model does not save again: %s", error->message);
  /* ... and what it saved loads back to the same classes, recipe and weights */
  g_autoptr (BtModel) back = bt_model_load_bytes (again, &error);
  if (back == NULL)
    g_error ("a re-saved model does not load: %s", error->message);
  g_assert (g_strv_equal ((const char * const *) back->class_names, (const char * const *) model->class_names));
  g_assert (memcmp (&back->prep, &model->prep, sizeof model->prep) == 0);
  g_assert (g_strcmp0 (back->backbone_name, model->backbone_name) == 0);
  g_assert (g_strcmp0 (back->backbone_sha256, model->backbone_sha256) == 0);
  g_assert (back->tta == model->tta);
  g_assert (back->calib.temperature == model->calib.temperature);
  /* a saved threshold comes back exactly; 0 (the same as none) comes back as none */
  for (int k = 0; k < bt_net_n_classes (model->net); k++)
    {
      double t = bt_model_get_threshold (model, k), tb = bt_model_get_threshold (back, k);
      g_assert (isnan (t) || t == 0.0 ? isnan (tb) : tb == t);
    }
  /* the combined unknown score's scales and the class centroids come back exactly */
  g_assert (bt_calibration_uses_centroids (&back->calib) == bt_calibration_uses_centroids (&model->calib));
  g_assert (!bt_calibration_uses_centroids (&model->calib) ||
            (back->calib.energy_scale == model->calib.energy_scale &&
             back->calib.distance_center == model->calib.distance_center &&
             back->calib.energy_threshold == model->calib.energy_threshold &&
             back->calib.unknown_threshold == model->calib.unknown_threshold));
  g_assert ((back->centroids != NULL) == (model->centroids != NULL));
  if (model->centroids != NULL)
    {
      gsize len = sizeof (float) * model->centroids->n_classes * model->centroids->dim;
      g_assert (memcmp (back->centroids->mean, model->centroids->mean, len) == 0);
      g_assert (memcmp (back->centroids->spread, model->centroids->spread, len) == 0);
    }
  gsize n = 0, n_back = 0;
  const float *wts = bt_net_params (model->net, &n), *wts_back = bt_net_params (back->net, &n_back);
  g_assert (n == n_back && (n == 0 || memcmp (wts, wts_back, n * sizeof (float)) == 0));
  g_assert ((back->backbone_weights != NULL) == (model->backbone_weights != NULL));
  g_assert (back->backbone_weights == NULL || back->backbone_weights->len == model->backbone_weights->len);
  return 0;
}
