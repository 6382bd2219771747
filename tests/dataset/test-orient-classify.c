/* test-orient-classify.c: MobileNet V2 sees a photo stored sideways (EXIF orientation 3, 6, 8)
 * as it sees the upright one: same top-1, score within 0.05. Uses ../shared (skips without). */
#include <math.h>

#include "dataset/bt-dataset.h"
#include "engine/bt-engine.h"
#include "engine/bt-tflite.h"
#include "bt-test-fs.h"

/* Training and prediction lay transparent pixels over the same grey the model file records. */
G_STATIC_ASSERT (BT_MODEL_ALPHA_BACKGROUND == BT_ALPHA_BACKGROUND);

static void
classify (BtTflite *model, BtTfliteExec *exec, const char *path, gsize *top, float *score)
{
  int h, w, c;
  bt_tflite_input_shape (model, &h, &w, &c);
  g_assert_cmpint (c, ==, 3);
  g_autoptr(GError) error = NULL;
  /* the decode + preprocessing of bottega-cli predict */
  g_autoptr(BtImage) img = bt_image_decode_file_sized (path, 3, 2 * w, 2 * h, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_autoptr(BtImage) small = bt_image_resize (img, w, h, BT_DS_RESIZE_SQUASH);
  g_autofree float *x = g_new (float, (gsize) h * w * c);
  bt_tflite_pixels_to_input (model, small->pixels, x);
  gsize n = 0;
  const float *y = bt_tflite_exec_run (exec, x, -1, &n, &error);
  g_assert_no_error (error);
  gsize best = 0;
  for (gsize i = 1; i < n; i++)
    if (y[i] > y[best])
      best = i;
  *top = best;
  *score = y[best];
}

static void
test_sideways (void)
{
  const char *shared = g_getenv ("BOTTEGA_SHARED_DIR");
  g_autofree char *model_path = shared ? g_build_filename (shared, "models", "mobilenet_v2_1.0_224_quant.tflite", NULL) : NULL;
  g_autofree char *cat = shared ? g_build_filename (shared, "images", "cat.bmp", NULL) : NULL;
  if (model_path == NULL || !g_file_test (model_path, G_FILE_TEST_EXISTS) || !g_file_test (cat, G_FILE_TEST_EXISTS))
    {
      g_test_skip ("../shared/models/mobilenet_v2_1.0_224_quant.tflite or ../shared/images/cat.bmp is absent: set BOTTEGA_SHARED_DIR to the folder holding them");
      return;
    }
  g_autofree char *dir = g_dir_make_tmp ("bt-orient-XXXXXX", NULL);
  g_autofree char *script = g_build_filename (g_getenv ("BOTTEGA_SOURCE_ROOT"), "tests", "dataset",
                                              "make-photo-fixtures.py", NULL);
  const char *argv[] = { "/usr/bin/python3", script, dir, "--sideways", cat, NULL };
  int status = 0;
  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, NULL, NULL, &status, NULL));
  g_assert_true (g_spawn_check_wait_status (status, NULL));

  g_autoptr(GError) error = NULL;
  g_autoptr(BtTflite) model = bt_tflite_load (model_path, &error);
  g_assert_no_error (error);
  /* the float path: this test is about orientation; the integer path's own rounding moves the
   * top score by up to ~0.03 between two rotations of the same photo (test-tflite checks it) */
  g_autoptr(BtTfliteExec) exec = bt_tflite_exec_new_path (model, BT_TFLITE_PATH_FLOAT, &error);
  g_assert_no_error (error);
  gsize top1 = 0;
  float score1 = 0;
  g_autofree char *upright = g_build_filename (dir, "photo-o1.jpg", NULL);
  classify (model, exec, upright, &top1, &score1);
  g_test_message ("upright: class %" G_GSIZE_FORMAT " score %.3f", top1, score1);
  const int orientations[] = { 3, 6, 8 };
  for (guint k = 0; k < G_N_ELEMENTS (orientations); k++)
    {
      g_autofree char *name = g_strdup_printf ("photo-o%d.jpg", orientations[k]);
      g_autofree char *path = g_build_filename (dir, name, NULL);
      gsize top = 0;
      float score = 0;
      classify (model, exec, path, &top, &score);
      g_test_message ("orientation %d: class %" G_GSIZE_FORMAT " score %.3f", orientations[k], top, score);
      g_assert_cmpuint (top, ==, top1);
      g_assert_cmpfloat (fabsf (score - score1), <=, 0.05f);
    }
  bt_test_rm_rf (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/dataset/photos/sideways-classify", test_sideways);
  return g_test_run ();
}
