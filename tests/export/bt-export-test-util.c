/* bt-export-test-util.c: see bt-export-test-util.h. */
#include "bt-export-test-util.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/wait.h>

#include "dataset/bt-dataset.h"
#include "engine/bt-engine.h"
#include "training/bt-training.h"
#include "bt-test-photos.h"
#include "engine/bt-net-walk.h"
#include "engine/bt-tflite-grad.h"

char *
bt_test_mkdtemp (void)
{
  g_autoptr(GError) error = NULL;
  char *dir = g_dir_make_tmp ("bottega-export-XXXXXX", &error);
  g_assert_no_error (error);
  return dir;
}

int
bt_test_run_cli (const char * const *args, char **out, char **err)
{
  const char *build = g_getenv ("BOTTEGA_BUILD_ROOT");
  g_assert_nonnull (build);
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (argv, g_build_filename (build, "src", "cli", "bottega-cli", NULL));
  for (guint i = 0; args[i]; i++)
    g_ptr_array_add (argv, g_strdup (args[i]));
  g_ptr_array_add (argv, NULL);
  int status = 0;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) env = g_environ_setenv (g_get_environ (), "LANGUAGE", "C", TRUE);
  env = g_environ_setenv (env, "LC_ALL", "C.UTF-8", TRUE);
  g_autofree char *o = NULL, *e = NULL;
  g_spawn_sync (NULL, (char **) argv->pdata, env, G_SPAWN_DEFAULT, NULL, NULL, &o, &e, &status, &error);
  g_assert_no_error (error);
  /* what it said, always in the log: a status that is not the expected one (test-cli-serve's
   * usage check once got 1 for 2 under ASan, cause unseen) shows its stderr */
  g_autofree char *line = g_strjoinv (" ", (char **) argv->pdata + 1);
  g_test_message ("$ bottega-cli %s → %s %d\n%s%s", line, WIFEXITED (status) ? "exit" : "signal",
                  WIFEXITED (status) ? WEXITSTATUS (status) : WTERMSIG (status), o ? o : "", e ? e : "");
  if (out)
    *out = g_steal_pointer (&o);
  if (err)
    *err = g_steal_pointer (&e);
  return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

char *
bt_test_predict_json (const char *dir, const char *model, const char * const *images, guint n)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_ptr_array_add (argv, "predict");
  g_ptr_array_add (argv, (gpointer) model);
  for (guint i = 0; i < n; i++)
    g_ptr_array_add (argv, (gpointer) images[i]);
  g_ptr_array_add (argv, "--json");
  g_ptr_array_add (argv, NULL);
  g_autofree char *json = NULL;
  g_assert_cmpint (bt_test_run_cli ((const char * const *) argv->pdata, &json, NULL), ==, 0);
  char *path = g_build_filename (dir, "predict.json", NULL);
  g_autoptr(GError) error = NULL;
  g_assert_true (g_file_set_contents (path, json, -1, &error));
  return path;
}

char *
bt_test_save_shapes_model (const char *dir)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(BtNet) net = bt_net_new_preset (BT_PRESET_SMALL_CNN, 24, 24, 3, 4, -1.0f, 3, &error);
  g_assert_no_error (error);
  BtPreprocess prep;
  bt_preprocess_init_default (&prep, 24, 24, 3);
  prep.resize = BT_RESIZE_CENTER_CROP;
  prep.mean[0] = 0.485f; prep.mean[1] = 0.456f; prep.mean[2] = 0.406f;
  prep.std[0] = 0.229f; prep.std[1] = 0.224f; prep.std[2] = 0.225f;
  const char *names[] = { "circle", "square", "triangle", "star", NULL };
  char *path = g_build_filename (dir, "m.bottega-model", NULL);
  g_assert_true (bt_model_save (path, net, names, &prep, NULL, NULL, NULL, &error));
  g_assert_no_error (error);
  return path;
}

void
bt_test_write_floats (const char *dir, const char *name, const float *v, gsize n)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_assert_true (G_BYTE_ORDER == G_LITTLE_ENDIAN);
  g_file_set_contents (path, (const char *) v, (gssize) (n * sizeof (float)), &error);
  g_assert_no_error (error);
}

gboolean
bt_test_run_python (const char *script, const char * const *args)
{
  if (!g_file_test ("/usr/bin/python3", G_FILE_TEST_IS_EXECUTABLE))
    {
      g_test_skip ("/usr/bin/python3 is not installed");
      return FALSE;
    }
  const char *root = g_getenv ("BOTTEGA_SOURCE_ROOT");
  g_assert_nonnull (root);
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (argv, g_strdup ("/usr/bin/python3"));
  g_ptr_array_add (argv, g_build_filename (root, "tests", "export", script, NULL));
  for (guint i = 0; args && args[i]; i++)
    g_ptr_array_add (argv, g_strdup (args[i]));
  g_ptr_array_add (argv, NULL);

  g_autofree char *out = NULL, *err = NULL;
  int status = 0;
  g_autoptr(GError) error = NULL;
  g_spawn_sync (NULL, (char **) argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &status, &error);
  g_assert_no_error (error);
  if (g_spawn_check_wait_status (status, NULL))
    {
      g_test_message ("%s: %s", script, g_strstrip (out));
      return TRUE;
    }
  if (WIFEXITED (status) && WEXITSTATUS (status) == 77)
    {
      g_autofree char *msg = g_strdup_printf ("%s: %s", script, g_strstrip (out));
      g_test_skip (msg);
      return FALSE;
    }
  g_test_message ("%s failed:\n%s\n%s", script, out, err);
  g_test_fail ();
  return FALSE;
}

void
bt_test_write_crops (const char *src, const char *dir, const char *prefix, int n, guint64 seed)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(BtImage) img = bt_image_decode_file (src, 3, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  BtRng rng;
  bt_rng_seed (&rng, seed);
  for (int i = 0; i < n; i++)
    {
      int w = (int) (img->width * (0.55f + 0.35f * bt_rng_uniform (&rng)));
      int h = (int) (img->height * (0.55f + 0.35f * bt_rng_uniform (&rng)));
      int x0 = (int) bt_rng_below (&rng, (guint32) (img->width - w + 1));
      int y0 = (int) bt_rng_below (&rng, (guint32) (img->height - h + 1));
      gboolean flip = bt_rng_below (&rng, 2);
      BtImage crop = { w, h, 3, g_malloc ((gsize) w * h * 3) };
      for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
          memcpy (crop.pixels + ((gsize) y * w + x) * 3,
                  img->pixels + ((gsize) (y0 + y) * img->width + x0 + (flip ? w - 1 - x : x)) * 3, 3);
      float s = MIN (1.f, 160.f / MAX (w, h));
      g_autoptr(BtImage) small = bt_image_resize (&crop, MAX (8, (int) (w * s)), MAX (8, (int) (h * s)),
                                                  BT_DS_RESIZE_SQUASH);
      g_free (crop.pixels);
      g_autofree char *name = g_strdup_printf ("%s-%02d.bmp", prefix, i);
      g_autofree char *path = g_build_filename (dir, name, NULL);
      bt_test_write_bmp (path, small);
    }
}

static const char *test_photos[] = { "cat.bmp", "grace_hopper.bmp", "owl.jpg", "sunflower.bmp", "hot_dog.jpg" };

/* BT_TEST_N_PHOTOS preprocessed photos (w × h × c, squash) as HWC uint8; random pixels when the shared
 * folder is absent, so the check still runs (on less realistic input). */
guint8 *
bt_test_load_pixels (int w, int h, int c)
{
  gsize plane = (gsize) w * h * c;
  guint8 *px = g_new (guint8, plane * BT_TEST_N_PHOTOS);
  const char *shared = g_getenv ("BOTTEGA_SHARED_DIR");
  BtRng rng;
  bt_rng_seed (&rng, 7);
  for (int i = 0; i < BT_TEST_N_PHOTOS; i++)
    {
      g_autofree char *path = shared ? g_build_filename (shared, "images", test_photos[i], NULL) : NULL;
      g_autoptr(BtImage) img = NULL;
      if (path && g_file_test (path, G_FILE_TEST_EXISTS))
        {
          g_autoptr(GError) error = NULL;
          img = bt_image_preprocess_file (path, w, h, c, BT_DS_RESIZE_SQUASH, NULL, NULL, &error);
          g_assert_no_error (error);
          memcpy (px + plane * i, img->pixels, plane);
        }
      else
        {
          if (i == 0)
            g_test_message ("BOTTEGA_SHARED_DIR/images is absent: random pixels instead of photos");
          for (gsize k = 0; k < plane; k++)
            px[plane * i + k] = (guint8) bt_rng_below (&rng, 256);
        }
    }
  return px;
}

/* Batch-norm γ, β, running mean and variance away from their 1/0/0/1 start, so the export of
 * every one of them matters; biases too. */
void
bt_test_perturb_net (BtNet *net, guint64 seed)
{
  BtRng rng;
  bt_rng_seed (&rng, seed);
  float *params = bt_net_params (net, NULL);
  float *buffers = bt_net_buffers (net, NULL);
  for (guint i = 0; i < bt_net_n_layers (net); i++)
    {
      BtNetLayerInfo l;
      g_assert_true (bt_net_get_layer (net, i, &l));
      for (gsize k = 0; k < l.bias_len; k++)
        params[l.bias_offset + k] = 0.2f * (bt_rng_uniform (&rng) - 0.5f);
      if (l.op == BT_NET_OP_BATCHNORM)
        for (int k = 0; k < l.c; k++)
          {
            params[l.weight_offset + k] = 0.6f + bt_rng_uniform (&rng);
            buffers[l.buffer_offset + k] = 0.3f * (bt_rng_uniform (&rng) - 0.5f);
            buffers[l.buffer_offset + l.c + k] = 0.5f + bt_rng_uniform (&rng);
          }
    }
  g_assert_false (bt_net_get_layer (net, bt_net_n_layers (net), &(BtNetLayerInfo) { 0 }));
}


GArray *
bt_test_nudged_top_blocks (BtTflite *orig, guint64 seed)
{
  g_autoptr(GError) error = NULL;
  int dim, cuts[2];
  int end = bt_tflite_find_embedding_cut (orig, &dim, &error);
  g_assert_no_error (error);
  g_assert_cmpint (bt_tflite_block_cuts (orig, end, cuts, 2), ==, 2);
  g_autoptr(BtTflTrain) top = bt_tfl_train_new (orig, cuts[1], end, 1, &error);
  g_assert_no_error (error);
  gsize np;
  float *p = bt_tfl_train_params (top, &np);
  BtRng rng;
  bt_rng_seed (&rng, seed);
  for (gsize i = 0; i < np; i++)
    p[i] *= 1.0f + 0.3f * (2.0f * bt_rng_uniform (&rng) - 1.0f);
  GArray *weights = g_array_new (FALSE, TRUE, sizeof (BtBackboneWeights));
  g_array_set_clear_func (weights, bt_backbone_weights_clear);
  for (int i = 0; i < bt_tfl_train_n_weighted (top); i++)
    {
      const float *wt, *b;
      gsize nw, nb;
      BtBackboneWeights bw = { 0 };
      bw.op = bt_tfl_train_weighted (top, i, &wt, &nw, &b, &nb);
      g_assert_true (bt_tflite_op_weight_shape (orig, bw.op, bw.shape, &nb));
      bw.w = g_memdup2 (wt, nw * sizeof (float));
      bw.b = g_memdup2 (b, nb * sizeof (float));
      g_array_append_val (weights, bw);
    }
  return weights;
}
