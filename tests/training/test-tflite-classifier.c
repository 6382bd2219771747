/* test-tflite-classifier.c: a .tflite classifier opened as it is: the metadata Bottega writes
 * read back (names with escapes, the recipe), hostile metadata refused with a reason, a file
 * written by the exporter predicting as the model it came from, and broken files refused. */
#include "config.h"

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "engine/bt-onnx.h"
#include "engine/bt-tflite-export.h"
#include "training/bt-tflite-classifier.h"
#include "training/bt-training.h"

static void
test_labels (void)
{
  const char *names[] = { "cat", "caffè \"latte\"", "a\\b/c", "日本", NULL };
  g_autofree char *json = bt_onnx_labels_json (names);
  g_auto(GStrv) back = bt_tflite_labels_from_json (json, strlen (json), NULL);
  g_auto(GStrv) unicode = bt_tflite_labels_from_json ("[\"\\u00e8\", \"x\"]", 15, NULL);
  const char *bad[] = { "", "[", "[\"a\"", "[\"a\",]", "[1]", "[\"\"]", "{}", "[\"a\"] x", "[\"\\n\"]",
                        "[\"\\ud800\"]", "[\"\\u00\"]", "[\"a\x01\"]", "[\"\xff\"]", "[]" };

  g_assert_nonnull (back);
  g_assert_cmpuint (g_strv_length (back), ==, 4);
  for (int i = 0; names[i]; i++)
    g_assert_cmpstr (back[i], ==, names[i]);
  g_assert_nonnull (unicode);
  g_assert_cmpstr (unicode[0], ==, "è");
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;
      g_auto(GStrv) none = bt_tflite_labels_from_json (bad[i], strlen (bad[i]), &error);
      g_assert_null (none);
      g_assert_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID);
    }
  {
    /* more classes than any classifier has: refused, not allocated without bound */
    GString *many = g_string_new ("[");
    for (int i = 0; i <= BT_TFLITE_CLASSIFIER_MAX_CLASSES; i++)
      g_string_append (many, i ? ",\"c\"" : "\"c\"");
    g_string_append_c (many, ']');
    g_assert_null (bt_tflite_labels_from_json (many->str, many->len, NULL));
    g_string_free (many, TRUE);
  }
}

static void
test_recipe (void)
{
  BtPreprocess p, back;
  g_autofree char *json = NULL;
  const char *bad[] = { "{}", "{\"width\":0,\"height\":2,\"channels\":3,\"resize\":\"pad\",\"scale\":1,\"mean\":[0],\"std\":[1]}",
                        "{\"width\":2,\"height\":2,\"channels\":2,\"resize\":\"pad\",\"scale\":1,\"mean\":[0],\"std\":[1]}",
                        "{\"width\":2,\"height\":2,\"channels\":3,\"resize\":\"zoom\",\"scale\":1,\"mean\":[0],\"std\":[1]}",
                        "{\"width\":2,\"height\":2,\"channels\":3,\"resize\":\"pad\",\"scale\":1,\"mean\":[0],\"std\":[0]}",
                        "{\"width\":2,\"height\":2,\"channels\":3,\"resize\":\"pad\",\"scale\":1,\"mean\":[0,0,0,0],\"std\":[1]}",
                        "{\"width\":2.5,\"height\":2,\"channels\":3,\"resize\":\"pad\",\"scale\":1,\"mean\":[0],\"std\":[1]}",
                        "{\"width\":2,\"height\":2,\"channels\":3,\"resize\":\"pad\",\"scale\":1e999,\"mean\":[0],\"std\":[1]}",
                        "{\"width\":2,\"height\":2,\"channels\":3,\"resize\":\"pad\",\"scale\":1,\"mean\":[0],\"std\":[1]" };

  bt_preprocess_init_default (&p, 24, 16, 3);
  p.resize = BT_RESIZE_CENTER_CROP;
  p.scale = 1.0f / 255;
  p.mean[0] = 0.485f; p.mean[1] = 0.456f; p.mean[2] = 0.406f;
  p.std[0] = 0.229f; p.std[1] = 0.224f; p.std[2] = 0.225f;
  json = bt_onnx_preprocessing_json (&p);
  g_assert_true (bt_tflite_preprocessing_from_json (json, strlen (json), &back, NULL));
  g_assert_cmpint (back.width, ==, 24);
  g_assert_cmpint (back.height, ==, 16);
  g_assert_cmpint (back.channels, ==, 3);
  g_assert_cmpint (back.resize, ==, BT_RESIZE_CENTER_CROP);
  g_assert_cmpfloat (back.scale, ==, p.scale);
  for (int c = 0; c < 3; c++)
    {
      g_assert_cmpfloat (back.mean[c], ==, p.mean[c]);
      g_assert_cmpfloat (back.std[c], ==, p.std[c]);
    }
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;
      g_assert_false (bt_tflite_preprocessing_from_json (bad[i], strlen (bad[i]), &back, &error));
      g_assert_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID);
    }
}

/* The "thresholds" entry the exporter writes, read back; hostile values refused with a reason. */
static void
test_thresholds (void)
{
  const char *names[] = { "cat", "dog \"big\"", "owl", NULL };
  const char *good = "{\"temperature\":0.652000010,\"unknown_threshold\":-2.5,"
                     "\"unknown_score\":\"-temperature*logsumexp(logits)\","
                     "\"classes\":{\"dog \\\"big\\\"\":0.8,\"owl\":0},\"note\":\"later keys are skipped\"}";
  const char *bad[] = {
    "", "{}", "[]", "{\"temperature\":1", "{\"temperature\":1} x",
    "{\"temperature\":0}", "{\"temperature\":-1}", "{\"temperature\":101}", "{\"temperature\":1e999}",
    "{\"temperature\":\"1\"}", "{\"temperature\":null}", "{\"unknown_threshold\":null}",
    "{\"temperature\":1,\"unknown_threshold\":1e31}", "{\"temperature\":1,\"unknown_threshold\":\"x\"}",
    "{\"temperature\":1,\"unknown_score\":\"energy+centroids\"}", "{\"temperature\":1,\"unknown_score\":3}",
    "{\"temperature\":1,\"classes\":{\"fox\":0.5}}", "{\"temperature\":1,\"classes\":{\"cat\":1.5}}",
    "{\"temperature\":1,\"classes\":{\"cat\":-0.1}}", "{\"temperature\":1,\"classes\":{\"cat\":\"0.5\"}}",
    "{\"temperature\":1,\"classes\":{\"cat\":0.5,\"cat\":0.6}}", "{\"temperature\":1,\"classes\":[0.5]}",
    "{\"temperature\":1,\"classes\":{\"cat\":0.5}", "{\"temperature\":1,\"extra\":{\"a\":1}}",
    "{\"temperature\":1,\"extra\":[1]}", "{\"temperature\":1,}",
  };
  BtCalibration calib;
  g_autofree double *t = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_true (bt_tflite_thresholds_from_json (good, strlen (good), names, 3, &calib, &t, &error));
  g_assert_no_error (error);
  g_assert_cmpfloat_with_epsilon (calib.temperature, 0.652, 1e-7);
  g_assert_cmpfloat (calib.unknown_threshold, ==, -2.5);
  g_assert_true (isnan (t[0]));
  g_assert_cmpfloat (t[1], ==, 0.8);
  g_assert_true (isnan (t[2]));   /* 0 means none, as in the model file */
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) e = NULL;
      g_autofree double *none = NULL;
      BtCalibration untouched = { .temperature = 42 };
      g_assert_false (bt_tflite_thresholds_from_json (bad[i], strlen (bad[i]), names, 3, &untouched, &none, &e));
      g_assert_error (e, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID);
      g_assert_null (none);
      g_assert_cmpfloat (untouched.temperature, ==, 42);
    }
}

/* A small CNN with random weights, written by the exporter, predicts as the net itself. */
static void
test_exported (void)
{
  const char *names[] = { "circle", "square", "star", NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(BtNet) net = bt_net_new_preset (BT_PRESET_SMALL_CNN, 20, 20, 1, 3, 0.0f, 7, &error);
  g_autofree char *dir = g_dir_make_tmp ("bt-tflite-classifier-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "m.tflite", NULL);
  g_autofree char *broken = g_build_filename (dir, "broken.tflite", NULL);
  g_autoptr(BtImage) img = bt_image_new (20, 20, 1);
  g_autoptr(BtTfliteClassifier) c = NULL;
  g_autoptr(GBytes) bytes = NULL;
  g_autofree float *probs = NULL;
  g_autofree float *x = g_new (float, 400);
  BtPreprocess prep;
  const float *want;
  gsize len;
  const guint8 *data;

  g_assert_no_error (error);
  bt_preprocess_init_default (&prep, 20, 20, 1);
  bytes = bt_tflite_export_net (net, names, &prep, &error);
  g_assert_no_error (error);
  data = g_bytes_get_data (bytes, &len);
  g_assert_true (g_file_set_contents (path, (const char *) data, (gssize) len, NULL));
  c = bt_tflite_classifier_load (path, &error);
  g_assert_no_error (error);
  g_assert_true (c->has_names && c->has_recipe);
  g_assert_cmpint (c->n_classes, ==, 3);
  g_assert_cmpstr (c->class_names[2], ==, "star");
  for (int i = 0; i < 400; i++)
    img->pixels[i] = (guint8) (i * 37 % 256);
  probs = bt_tflite_classifier_predict_image (c, img, NULL, &error);
  g_assert_no_error (error);
  for (int i = 0; i < 400; i++)
    x[i] = img->pixels[i] * prep.scale;   /* the default recipe: mean 0, std 1 */
  g_assert_cmpfloat (prep.mean[0], ==, 0);
  g_assert_cmpfloat (prep.std[0], ==, 1);
  want = bt_net_forward (net, x, 1, FALSE, &error);
  g_assert_no_error (error);
  for (int k = 0; k < 3; k++)
    g_assert_cmpfloat_with_epsilon (probs[k], want[k], 1e-5);

  /* its full-integer int8 form (calibrated on this image and a few others) opens the same way:
   * names and recipe from the float file's metadata, int8 in and out handled by the reader */
  {
    g_autoptr(BtTfliteCalibration) cal = bt_tflite_calibration_new (bytes, &error);
    g_assert_no_error (error);
    g_autofree float *other = g_new (float, 400);
    for (int j = 0; j < 8; j++)
      {
        for (int i = 0; i < 400; i++)
          other[i] = (float) ((i * (37 + j) + 11 * j) % 256) * prep.scale;
        g_assert_true (bt_tflite_calibration_add (cal, j == 0 ? x : other, &error));
      }
    float range[2];
    g_assert_true (bt_tflite_recipe_input_range (&prep, range));
    g_autoptr(GBytes) q = bt_tflite_calibration_finish_int8 (cal, range, &error);
    g_assert_no_error (error);
    g_autofree char *qpath = g_build_filename (dir, "m8.tflite", NULL);
    g_assert_true (g_file_set_contents (qpath, g_bytes_get_data (q, NULL), (gssize) g_bytes_get_size (q), NULL));
    g_autoptr(BtTfliteClassifier) c8 = bt_tflite_classifier_load (qpath, &error);
    g_assert_no_error (error);
    g_assert_true (c8->has_names && c8->has_recipe);
    g_autofree float *p8 = bt_tflite_classifier_predict_image (c8, img, NULL, &error);
    g_assert_no_error (error);
    want = bt_net_forward (net, x, 1, FALSE, &error);
    for (int k = 0; k < 3; k++)
      {
        g_test_message ("int8 %s: %.4f, float %.4f", names[k], p8[k], want[k]);
        g_assert_cmpfloat_with_epsilon (p8[k], want[k], 0.05);
      }
    g_unlink (qpath);
  }

  /* a file whose thresholds entry is hostile (here a threshold of 1.5, which the exporter writes
   * as it finds it) is refused with the reason, as the Test page shows it */
  {
    double bad_t[3] = { NAN, 1.5, NAN };
    BtModel m = { .net = net, .class_names = (char **) names, .prep = prep,
                  .calib = { .temperature = 1.0, .unknown_threshold = NAN }, .class_thresholds = bad_t };
    g_autoptr(GBytes) hostile = bt_tflite_export_model_bytes (&m, NULL, NULL, &error);
    g_assert_no_error (error);
    g_autoptr(GError) e = NULL;
    g_assert_true (g_file_set_contents (broken, g_bytes_get_data (hostile, NULL), (gssize) g_bytes_get_size (hostile),
                                        NULL));
    g_assert_null (bt_tflite_classifier_load (broken, &e));
    g_assert_error (e, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID);
    g_assert_nonnull (strstr (e->message, "“square”"));
  }

  /* cut anywhere, or one byte changed in the header: a reason, never a crash */
  for (gsize cut = 0; cut < len; cut += MAX (len / 40, 1))
    {
      g_autoptr(GError) e = NULL;
      g_assert_true (g_file_set_contents (broken, (const char *) data, (gssize) cut, NULL));
      g_assert_null (bt_tflite_classifier_load (broken, &e));
      g_assert_nonnull (e);
    }
  for (gsize at = 0; at < MIN (len, 256); at++)
    {
      g_autoptr(GError) e = NULL;
      g_autofree guint8 *copy = g_memdup2 (data, len);
      g_autoptr(BtTfliteClassifier) maybe = NULL;
      copy[at] ^= 0xa5;
      g_assert_true (g_file_set_contents (broken, (const char *) copy, (gssize) len, NULL));
      maybe = bt_tflite_classifier_load (broken, &e);
      g_assert_true ((maybe == NULL) != (e == NULL));
    }
  g_unlink (broken);
  g_unlink (path);
  g_rmdir (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/tflite-classifier/labels", test_labels);
  g_test_add_func ("/tflite-classifier/recipe", test_recipe);
  g_test_add_func ("/tflite-classifier/thresholds", test_thresholds);
  g_test_add_func ("/tflite-classifier/exported", test_exported);
  return g_test_run ();
}
