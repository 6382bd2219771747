/* test-tflite-export.c: every preset written as a TensorFlow Lite file and run on real photos by
 * Arm NN's TFLite parser (tests/export/check-tflite.py, software Bottega did not write): its
 * probabilities must match bt_net_forward's within 1e-4. Weights are random, batch-norm
 * statistics and biases non-trivial, inputs not square, so a transposed filter, a flatten in
 * the wrong order or a dropped statistic shows. Each model has a calibration temperature and
 * thresholds: the file must give its calibrated probabilities and unknown score. */
#include "engine/bt-tflite-export.h"
#include "engine/bt-onnx.h"
#include "engine/bt-tflite.h"
#include "dataset/bt-dataset.h"
#include "bt-export-test-util.h"

#include <math.h>
#include <string.h>

#define N_IMAGES BT_TEST_N_PHOTOS

typedef struct {
  BtPreset preset;
  int w, h, c;
  double temperature;
} PresetCase;

static const char *class_names[] = { "circle", "square", "triangle", "star “5”", NULL };

/* Bottega's input, probabilities and unknown scores for the shared photos, and the file, into a
 * folder the Python check reads. */
static void
check_with_armnn (GBytes *model, const float *x, int c, int h, int w, const float *probs, const double *scores,
                  double temperature, int k)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = bt_test_mkdtemp ();
  g_autofree char *path = g_build_filename (dir, "model.tflite", NULL);
  g_file_set_contents (path, g_bytes_get_data (model, NULL), (gssize) g_bytes_get_size (model), &error);
  g_assert_no_error (error);
  bt_test_write_floats (dir, "input.bin", x, (gsize) N_IMAGES * c * h * w);
  bt_test_write_floats (dir, "expected.bin", probs, (gsize) N_IMAGES * k);
  if (scores != NULL)
    {
      float s[N_IMAGES];
      for (int i = 0; i < N_IMAGES; i++)
        s[i] = (float) scores[i];
      bt_test_write_floats (dir, "expected-score.bin", s, N_IMAGES);
    }
  g_autofree char *labels = bt_onnx_labels_json (class_names);
  char t[G_ASCII_DTOSTR_BUF_SIZE];
  g_ascii_dtostr (t, sizeof t, temperature);
  g_autofree char *spec = g_strdup_printf ("{\"input_shape\":[%d,%d,%d,%d],\"labels\":%s,\"temperature\":%s}",
                                           N_IMAGES, c, h, w, labels, t);
  g_autofree char *spec_path = g_build_filename (dir, "spec.json", NULL);
  g_file_set_contents (spec_path, spec, -1, &error);
  g_assert_no_error (error);
  bt_test_run_python ("check-tflite.py", (const char *[]) { dir, NULL });
  bt_test_rm_rf (dir);
}

/* The model's own reader gives back the thresholds metadata the exporter wrote. */
static void
check_thresholds_metadata (GBytes *bytes, const BtModel *m)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(BtTflite) t = bt_tflite_load_bytes (bytes, &error);
  g_assert_no_error (error);
  g_autoptr(GBytes) meta = bt_tflite_get_metadata (t, "thresholds");
  g_assert_nonnull (meta);
  g_autofree char *json = g_strndup (g_bytes_get_data (meta, NULL), g_bytes_get_size (meta));
  g_autofree char *temp = g_strdup_printf ("{\"temperature\":%.9g,", (double) (float) m->calib.temperature);
  g_assert_true (g_str_has_prefix (json, temp));
  g_autofree char *unknown = g_strdup_printf ("\"unknown_threshold\":%.9g,", (double) (float) m->calib.unknown_threshold);
  g_assert_nonnull (strstr (json, unknown));
  /* square and star have thresholds, circle and triangle none */
  g_assert_nonnull (strstr (json, "\"classes\":{\"square\":0.75,\"star “5”\":0.5}}"));
}

static void
test_preset (gconstpointer data)
{
  const PresetCase *pc = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(BtNet) net = bt_net_new_preset (pc->preset, pc->w, pc->h, pc->c, 4, -1.0f, 11, &error);
  g_assert_no_error (error);
  bt_test_perturb_net (net, 3);

  BtPreprocess prep;
  bt_preprocess_init_default (&prep, pc->w, pc->h, pc->c);
  g_autofree guint8 *px = bt_test_load_pixels (pc->w, pc->h, pc->c);
  gsize plane = (gsize) pc->w * pc->h * pc->c;
  g_autofree float *x = g_new (float, plane * N_IMAGES);
  for (int i = 0; i < N_IMAGES; i++)
    bt_image_to_chw_float (px + plane * i, pc->w, pc->h, pc->c, prep.scale, prep.mean, prep.std, x + plane * i);

  /* a calibrated model (temperature ≠ 1, an unknown threshold, two saved class thresholds):
   * the file must give its calibrated probabilities and unknown score, not the plain softmax */
  double thresholds[4] = { NAN, 0.75, NAN, 0.5 };
  BtModel m = { .net = net, .class_names = (char **) class_names, .prep = prep,
                .calib = { .temperature = pc->temperature, .unknown_threshold = -1.25 },
                .class_thresholds = thresholds };
  const float *p = bt_net_forward (net, x, N_IMAGES, FALSE, &error);
  g_assert_no_error (error);
  g_assert_nonnull (p);
  float probs[4 * N_IMAGES];
  double scores[N_IMAGES];
  for (int i = 0; i < N_IMAGES; i++)
    scores[i] = bt_calibration_apply (&m.calib, bt_net_logits (net) + 4 * i, 4, probs + 4 * i);

  g_autoptr(GBytes) model = bt_tflite_export_model_bytes (&m, &error);
  g_assert_no_error (error);
  g_assert_nonnull (model);
  check_thresholds_metadata (model, &m);
  check_with_armnn (model, x, pc->c, pc->h, pc->w, probs, scores, pc->temperature, 4);
}

static void
test_bad_input (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(BtNet) net = bt_net_new_preset (BT_PRESET_SMALL_CNN, 16, 16, 1, 4, -1.0f, 1, &error);
  g_assert_no_error (error);
  BtPreprocess prep;
  bt_preprocess_init_default (&prep, 16, 16, 1);
  BtPreprocess wrong = prep;
  wrong.channels = 3;
  g_assert_null (bt_tflite_export_net (net, class_names, &wrong, &error));
  g_assert_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_null (bt_tflite_export_net (net, (const char *[]) { "a", NULL }, &prep, &error));
  g_assert_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID);
  g_clear_error (&error);

  /* an unwritable destination is an error and leaves nothing behind */
  BtModel m = { .net = net, .class_names = (char **) class_names, .prep = prep };
  bt_calibration_init (&m.calib);
  g_assert_false (bt_tflite_export_model (&m, "/nonexistent-dir/model.tflite", &error));
  g_assert_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_IO);
  g_clear_error (&error);

  /* a transfer head is refused with a message, not written half */
  g_autoptr(BtNet) head = bt_net_new_transfer (32, 0, 4, 0.0f, 1, &error);
  g_assert_no_error (error);
  g_autofree char *dir = bt_test_mkdtemp ();
  g_autofree char *out = g_build_filename (dir, "head.tflite", NULL);
  BtModel hm = { .net = head, .class_names = (char **) class_names, .prep = prep };
  bt_calibration_init (&hm.calib);
  g_assert_false (bt_tflite_export_model (&hm, out, &error));
  g_assert_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_UNSUPPORTED);
  g_assert_false (g_file_test (out, G_FILE_TEST_EXISTS));
  bt_test_rm_rf (dir);
}

static const PresetCase cases[] = {
  { BT_PRESET_MLP, 28, 28, 1, 0.652 },
  { BT_PRESET_MLP, 12, 10, 3, 1.0 },     /* colour: the flatten order matters */
  { BT_PRESET_SMALL_CNN, 32, 24, 3, 1.7 },
  { BT_PRESET_DEEPER_CNN, 32, 32, 3, 0.4 },
  { BT_PRESET_MINI_RESNET, 30, 30, 3, 2.5 },
  { BT_PRESET_SMALL_CNN, 28, 28, 1, 0.652 },
};

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  bt_engine_set_threads (1);
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/tflite-export/preset/%s-%dx%dx%d", bt_preset_to_id (cases[i].preset),
                                               cases[i].w, cases[i].h, cases[i].c);
      g_test_add_data_func (path, &cases[i], test_preset);
    }
  g_test_add_func ("/tflite-export/bad-input", test_bad_input);
  return g_test_run ();
}
