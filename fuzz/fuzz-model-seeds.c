/* fuzz-model-seeds.c: writes a small seed corpus of valid .bottega-model files into the
 * directory given as argv[1] (run by fuzz/run-fuzzer.sh before fuzz-model). */
#include "engine/bt-engine.h"

#include <math.h>

#include <glib/gstdio.h>

static void
save (const char *dir, const char *name, BtNet *net, const char * const *names, const char *backbone,
      GBytes *blob)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GHashTable) meta = g_hash_table_new (g_str_hash, g_str_equal);
  g_hash_table_insert (meta, "created", "2026-01-01T00:00:00Z");
  g_autofree char *path = g_build_filename (dir, name, NULL);
  if (!bt_model_save_full (path, net, names, NULL, backbone, backbone && !blob ? "0123abcd0123abcd0123abcd0123abcd0123abcd0123abcd0123abcd0123abcd" : NULL, blob,
                           meta, &error))
    g_error ("%s", error->message);
}

int
main (int argc, char **argv)
{
  if (argc != 2)
    {
      g_printerr ("usage: %s DIR\n", argv[0]);
      return 2;
    }
  g_mkdir_with_parents (argv[1], 0755);
  const char *two[] = { "cat", "dog", NULL };
  const char *three[] = { "gatto", "Süßigkeit", "猫", NULL };
  g_autoptr (BtNet) t0 = bt_net_new_transfer (8, 0, 2, -1, 1, NULL);
  g_autoptr (BtNet) t1 = bt_net_new_transfer (6, 4, 3, -1, 2, NULL);
  g_autoptr (BtNet) cnn = bt_net_new_preset (BT_PRESET_SMALL_CNN, 4, 4, 1, 2, -1, 3, NULL);
  g_autoptr (BtNet) mlp = bt_net_new_preset (BT_PRESET_MLP, 2, 2, 1, 3, -1, 4, NULL);
  /* a self-contained model (format version 2): a byte blob stands in for the backbone file */
  static const char tfl[] = "\x10\0\0\0TFL3 not a real graph, but it has the identifier";
  g_autoptr (GBytes) blob = g_bytes_new_static (tfl, sizeof tfl);
  save (argv[1], "transfer.bottega-model", t0, two, "mobilenet-v1", NULL);
  save (argv[1], "transfer-hidden.bottega-model", t1, three, NULL, NULL);
  save (argv[1], "transfer-whole.bottega-model", t1, three, "backbone.tflite", blob);
  save (argv[1], "small-cnn.bottega-model", cnn, two, NULL, NULL);
  save (argv[1], "mlp.bottega-model", mlp, three, NULL, NULL);
  /* a fine-tuned whole-network model (format version 3): one 3×3 depthwise operator replaced */
  {
    static float w[2 * 9], b[2] = { 0.5f, -0.25f };
    g_autoptr (GArray) weights = g_array_new (FALSE, TRUE, sizeof (BtBackboneWeights));
    BtBackboneWeights bw = { 3, { 2, 1, 3, 3 }, w, b };
    g_autofree char *path = g_build_filename (argv[1], "transfer-finetuned.bottega-model", NULL);
    g_autoptr (GError) error = NULL;
    for (int i = 0; i < 18; i++)
      w[i] = 0.125f * (float) (i - 9);
    g_array_append_val (weights, bw);
    if (!bt_model_save_finetuned (path, t1, three, NULL, "backbone.tflite", NULL, blob, weights, NULL, NULL, &error))
      {
        g_printerr ("%s\n", error->message);
        return 1;
      }
  }
  /* test-time augmentation: the [inference] group */
  BtModel tta = { .net = cnn, .class_names = (char **) two, .tta = BT_TTA_MIRROR };
  bt_preprocess_init_default (&tta.prep, 4, 4, 1);
  bt_calibration_init (&tta.calib);
  g_autofree char *tta_path = g_build_filename (argv[1], "small-cnn-tta.bottega-model", NULL);
  g_autoptr (GError) error = NULL;
  if (!bt_model_save_model (tta_path, &tta, &error))
    g_error ("%s", error->message);
  /* a saved class threshold: the [thresholds] group */
  double held[2] = { NAN, 0.8 };
  tta.class_thresholds = held;
  g_autofree char *held_path = g_build_filename (argv[1], "small-cnn-threshold.bottega-model", NULL);
  if (!bt_model_save_model (held_path, &tta, &error))
    g_error ("%s", error->message);
  /* class centroids and the combined unknown score: [centroids], its tensors, [calibration]'s scales */
  g_autoptr (BtCentroids) cen = bt_centroids_new (2, bt_net_feature_dim (cnn));
  for (int i = 0; i < 2 * cen->dim; i++)
    {
      cen->mean[i] = 0.25f * (float) (i % 5);
      cen->spread[i] = 0.5f + 0.125f * (float) (i % 3);
    }
  tta.class_thresholds = NULL;
  tta.centroids = cen;
  tta.calib.unknown_threshold = 1.25;
  tta.calib.energy_center = -3.5;
  tta.calib.energy_scale = 0.75;
  tta.calib.distance_center = 1.0;
  tta.calib.distance_scale = 0.5;
  tta.calib.energy_threshold = -2.75;
  g_autofree char *cen_path = g_build_filename (argv[1], "small-cnn-centroids.bottega-model", NULL);
  if (!bt_model_save_model (cen_path, &tta, &error))
    g_error ("%s", error->message);
  return 0;
}
