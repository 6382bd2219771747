/* test-pytorch-export.c: the PyTorch export trains 1 epoch on a small Shapes sample on the CPU,
 * in one process and under torchrun with two gloo processes; Bottega loads the model it writes
 * and predicts what the script itself predicted (max abs difference ≤ 1e-4). Also the
 * folder-per-class dataset export. */
#include "training/bt-export-dataset.h"
#include "training/bt-export-pytorch.h"
#include "bt-export-test-util.h"

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#define SIZE 32

static BtProject *
make_sample (const char *dir, const char *preset, int epochs)
{
  g_autoptr(GError) error = NULL;
  BtProject *p = bt_sample_create_shapes (dir, 6, SIZE, 5, NULL, &error);
  g_assert_no_error (error);
  BtProjectSettings s = { 0 };
  bt_project_settings_copy (&s, bt_project_get_settings (p));
  g_free (s.preset);
  s.preset = g_strdup (preset);
  s.width = s.height = SIZE;
  s.channels = 3;
  s.epochs = epochs;
  s.batch_size = 8;
  g_free (s.optimizer);
  s.optimizer = g_strdup ("adam");
  s.learning_rate = 0.003;
  s.augment_flip = TRUE;
  /* every setting the script honours, on */
  s.augment_crop = s.augment_rotate = s.augment_color = TRUE;
  s.class_weights = TRUE;
  s.label_smoothing = 0.1;
  s.early_stopping_patience = 1;
  g_free (s.early_stopping_monitor);
  s.early_stopping_monitor = g_strdup ("val_acc");
  s.restore_best = TRUE;
  g_free (s.schedule);
  s.schedule = g_strdup ("cosine");
  bt_project_update_settings (p, &s, &error);
  g_assert_no_error (error);
  bt_project_settings_clear (&s);
  return p;
}

/* The first n usable images, preprocessed by Bottega's own pipeline for the model. */
static float *
sample_inputs (BtProject *p, const BtPreprocess *prep, int n)
{
  gsize plane = (gsize) prep->width * prep->height * prep->channels;
  float *x = g_new (float, plane * n);
  GListModel *items = bt_project_get_items (p);
  g_assert_cmpuint (g_list_model_get_n_items (items), >=, (guint) n);
  for (int i = 0; i < n; i++)
    {
      g_autoptr(BtItem) it = g_list_model_get_item (items, (guint) i * 5);
      g_autoptr(GError) error = NULL;
      BtDsResize mode;
      g_assert_true (bt_ds_resize_from_string (bt_resize_mode_to_string (prep->resize), &mode));
      g_autoptr(BtImage) img = bt_image_preprocess_file (bt_item_get_path (it), prep->width, prep->height,
                                                         prep->channels, mode, NULL, NULL, &error);
      g_assert_no_error (error);
      bt_image_to_chw_float (img->pixels, prep->width, prep->height, prep->channels, prep->scale,
                             prep->mean, prep->std, x + plane * i);
    }
  return x;
}

static void
train_and_compare (const char *preset, const char *mode, const char *epochs)
{
  g_autofree char *dir = bt_test_mkdtemp ();
  g_autofree char *proj_dir = g_build_filename (dir, "project", NULL);
  g_autofree char *out = g_build_filename (dir, "export", NULL);
  g_autoptr(BtProject) p = make_sample (proj_dir, preset, 1);
  g_autoptr(GError) error = NULL;

  g_assert_true (bt_export_pytorch (p, out, &error));
  g_assert_no_error (error);
  const char *files[] = { "train.py", "config.json", "labels.csv", "initial.bottega-model", "README.md" };
  for (guint i = 0; i < G_N_ELEMENTS (files); i++)
    {
      g_autofree char *f = g_build_filename (out, files[i], NULL);
      g_assert_true (g_file_test (f, G_FILE_TEST_IS_REGULAR));
    }

  g_autofree char *initial_path = g_build_filename (out, "initial.bottega-model", NULL);
  g_autoptr(BtModel) initial = bt_model_load (initial_path, &error);
  g_assert_no_error (error);
  const int n = 5;
  g_autofree float *x = sample_inputs (p, &initial->prep, n);
  int c, h, w;
  bt_net_input_shape (initial->net, &c, &h, &w);
  bt_test_write_floats (out, "x.f32", x, (gsize) n * c * h * w);

  g_autofree char *trained_path = g_build_filename (out, "trained.bottega-model", NULL);
  g_autofree char *x_path = g_build_filename (out, "x.f32", NULL);
  g_autofree char *p_path = g_build_filename (out, "p.f32", NULL);
  /* in one process the images have moved since the export: --path-map finds them */
  g_autofree char *moved = g_strconcat (proj_dir, "-moved", NULL);
  g_autofree char *map = g_strdup_printf ("%s/=%s/", proj_dir, moved);
  gboolean single = g_str_equal (mode, "single");
  if (single)
    g_assert_cmpint (g_rename (proj_dir, moved), ==, 0);
  gboolean ran = bt_test_run_python ("run-train.py", (const char *[]) { mode, out, "--epochs", epochs, "--output",
                                                                          trained_path, "--predict", x_path,
                                                                          "--predict-output", p_path,
                                                                          single ? "--path-map" : NULL, map, NULL });
  if (single)
    g_assert_cmpint (g_rename (moved, proj_dir), ==, 0);
  if (!ran)
    {
      bt_test_rm_rf (dir);
      return;
    }

  g_autoptr(BtModel) trained = bt_model_load (trained_path, &error);
  g_assert_no_error (error);
  g_assert_cmpint (bt_net_preset (trained->net), ==, bt_net_preset (initial->net));
  g_assert_cmpstrv (trained->class_names, initial->class_names);
  g_assert_cmpstr (g_hash_table_lookup (trained->metadata, "trained-processes"), ==,
                   g_str_equal (mode, "single") ? "1" : "2");

  /* training changed the weights */
  gsize np, np0;
  const float *w1 = bt_net_params (trained->net, &np);
  const float *w0 = bt_net_params (initial->net, &np0);
  g_assert_cmpuint (np, ==, np0);
  double change = 0;
  for (gsize i = 0; i < np; i++)
    change = MAX (change, fabs ((double) w1[i] - w0[i]));
  g_assert_cmpfloat (change, >, 1e-4);

  /* Bottega predicts what PyTorch predicted */
  g_autofree char *pbytes = NULL;
  gsize plen = 0;
  g_file_get_contents (p_path, &pbytes, &plen, &error);
  g_assert_no_error (error);
  int k = bt_net_n_classes (trained->net);
  g_assert_cmpuint (plen, ==, sizeof (float) * n * k);
  const float *probs = bt_net_forward (trained->net, x, n, FALSE, &error);
  g_assert_no_error (error);
  double diff = 0;
  for (int i = 0; i < n * k; i++)
    diff = MAX (diff, fabs ((double) probs[i] - ((const float *) pbytes)[i]));
  g_test_message ("%s %s: weights moved by up to %.3g; Bottega vs PyTorch max abs diff %.3g", preset, mode,
                  change, diff);
  g_assert_cmpfloat (diff, <=, 1e-4);
  bt_test_rm_rf (dir);
}

/* A model of the project with a calibration temperature and thresholds: config.json carries
 * them, and `train.py --model M --predict` gives `bottega-cli predict`'s probabilities. */
static void
test_calibrated (void)
{
  g_autofree char *dir = bt_test_mkdtemp ();
  g_autofree char *proj_dir = g_build_filename (dir, "project", NULL);
  g_autofree char *out = g_build_filename (dir, "export", NULL);
  g_autoptr(BtProject) p = make_sample (proj_dir, "small-cnn", 1);
  g_autoptr(GError) error = NULL;

  g_assert_true (bt_export_pytorch (p, out, &error));
  g_assert_no_error (error);
  g_autofree char *config_path = g_build_filename (out, "config.json", NULL);
  g_autofree char *config = NULL;
  g_assert_true (g_file_get_contents (config_path, &config, NULL, &error));
  g_assert_nonnull (strstr (config, "\"current_model\":null"));

  /* "trained": the initial weights moved, T = 0.45, an unknown threshold, square at 0.8 */
  g_autofree char *initial_path = g_build_filename (out, "initial.bottega-model", NULL);
  g_autoptr(BtModel) m = bt_model_load (initial_path, &error);
  g_assert_no_error (error);
  bt_test_perturb_net (m->net, 4);
  m->calib.temperature = 0.45;
  m->calib.unknown_threshold = -2.25;
  g_assert_true (bt_model_set_threshold (m, 1, 0.8, &error));
  g_autofree char *model_path = g_build_filename (proj_dir, "models", "calibrated.bottega-model", NULL);
  g_assert_true (bt_model_save_model (model_path, m, &error));
  g_assert_no_error (error);

  g_assert_true (bt_export_pytorch (p, out, &error));
  g_assert_no_error (error);
  g_clear_pointer (&config, g_free);
  g_assert_true (g_file_get_contents (config_path, &config, NULL, &error));
  g_autofree char *want = g_strdup_printf ("\"current_model\":{\"file\":\"calibrated.bottega-model\","
                                           "\"temperature\":0.45,\"unknown_threshold\":-2.25,"
                                           "\"class_thresholds\":{\"%s\":0.8}}", m->class_names[1]);
  g_assert_nonnull (strstr (config, want));

  const int n = 4;
  g_autofree float *x = sample_inputs (p, &m->prep, n);
  int c, h, w;
  bt_net_input_shape (m->net, &c, &h, &w);
  bt_test_write_floats (out, "x.f32", x, (gsize) n * c * h * w);
  g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func (g_free);
  GListModel *items = bt_project_get_items (p);
  for (int i = 0; i < n; i++)
    {
      g_autoptr(BtItem) it = g_list_model_get_item (items, (guint) i * 5);   /* sample_inputs' images */
      g_ptr_array_add (paths, g_strdup (bt_item_get_path (it)));
    }
  g_autofree char *json_path = bt_test_predict_json (out, model_path, (const char * const *) paths->pdata, n);

  g_autofree char *x_path = g_build_filename (out, "x.f32", NULL);
  g_autofree char *p_path = g_build_filename (out, "p.f32", NULL);
  if (bt_test_run_python ("run-train.py", (const char *[]) { "single", out, "--model", model_path, "--predict", x_path,
                                                             "--predict-output", p_path, NULL }))
    bt_test_run_python ("check-predict.py", (const char *[]) { p_path, json_path, config_path, NULL });
  bt_test_rm_rf (dir);
}

static void
test_single (void)
{
  train_and_compare ("deeper-cnn", "single", "2");
}

static void
test_torchrun (void)
{
  train_and_compare ("mini-resnet", "torchrun2", "1");
}

static void
test_refusals (void)
{
  g_autofree char *dir = bt_test_mkdtemp ();
  g_autoptr(GError) error = NULL;

  /* an unknown architecture */
  g_autofree char *proj_dir = g_build_filename (dir, "project", NULL);
  g_autoptr(BtProject) p = make_sample (proj_dir, "mlp", 1);
  BtProjectSettings s = { 0 };
  bt_project_settings_copy (&s, bt_project_get_settings (p));
  g_free (s.preset);
  s.preset = g_strdup ("no-such-net");
  bt_project_update_settings (p, &s, NULL);
  bt_project_settings_clear (&s);
  g_autofree char *out = g_build_filename (dir, "export", NULL);
  if (g_strcmp0 (bt_project_get_settings (p)->preset, "no-such-net") == 0)
    {
      g_assert_false (bt_export_pytorch (p, out, &error));
      g_assert_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID);
      g_clear_error (&error);
    }

  /* an out_dir that is a file */
  g_autofree char *file = g_build_filename (dir, "a-file", NULL);
  g_file_set_contents (file, "x", -1, &error);
  g_assert_no_error (error);
  g_autofree char *proj2 = g_build_filename (dir, "project2", NULL);
  g_autoptr(BtProject) q = make_sample (proj2, "mlp", 1);
  g_assert_false (bt_export_pytorch (q, file, &error));
  g_assert_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_IO);
  bt_test_rm_rf (dir);
}

static guint
count_files (const char *dir)
{
  guint n = 0;
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;
  while (d && (name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *child = g_build_filename (dir, name, NULL);
      n += g_file_test (child, G_FILE_TEST_IS_DIR) ? count_files (child) : 1;
    }
  return n;
}

static void
test_dataset (void)
{
  g_autofree char *dir = bt_test_mkdtemp ();
  g_autofree char *proj_dir = g_build_filename (dir, "project", NULL);
  g_autoptr(BtProject) p = make_sample (proj_dir, "small-cnn", 1);
  g_autoptr(GError) error = NULL;
  GListModel *items = bt_project_get_items (p);
  guint total = g_list_model_get_n_items (items);

  /* exclude two images, relabel one to a class name that is not a safe folder name, and
   * delete one file behind the project's back */
  g_autoptr(BtItem) a = g_list_model_get_item (items, 0);
  g_autoptr(BtItem) b = g_list_model_get_item (items, 7);
  g_autoptr(BtItem) r = g_list_model_get_item (items, 3);
  g_autoptr(BtItem) gone = g_list_model_get_item (items, 11);
  BtItem *ex[] = { a, b };
  g_assert_true (bt_project_set_excluded (p, ex, 2, TRUE, &error));
  g_assert_no_error (error);
  g_assert_true (bt_project_relabel (p, &r, 1, "../up/and away", &error));
  g_assert_no_error (error);
  g_assert_cmpint (g_unlink (bt_item_get_path (gone)), ==, 0);

  g_autofree char *out = g_build_filename (dir, "tree", NULL);
  guint copied = 0, skipped = 0;
  g_assert_true (bt_export_dataset (p, out, &copied, &skipped, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (copied, ==, total - 3);
  g_assert_cmpuint (skipped, ==, 1);
  g_assert_cmpuint (count_files (out), ==, copied);

  /* every copied image lies in <split>/<class>/ of its item, excluded ones nowhere */
  for (guint i = 0; i < total; i++)
    {
      g_autoptr(BtItem) it = g_list_model_get_item (items, i);
      g_autofree char *base = g_path_get_basename (bt_item_get_path (it));
      const char *cls = bt_item_get_class_name (it);
      g_autofree char *folder = g_str_equal (cls, "../up/and away") ? g_strdup ("_.._up_and away") : g_strdup (cls);
      g_autofree char *want = g_build_filename (out, bt_split_to_string (bt_item_get_split (it)), folder, base, NULL);
      gboolean expect = !bt_item_get_excluded (it) && it != gone;
      g_assert_cmpint (g_file_test (want, G_FILE_TEST_IS_REGULAR), ==, expect);
    }
  g_autofree char *escaped = g_build_filename (dir, "up", NULL);
  g_assert_false (g_file_test (escaped, G_FILE_TEST_EXISTS));

  /* a non-empty destination is refused */
  g_assert_false (bt_export_dataset (p, out, NULL, NULL, NULL, &error));
  g_assert_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID);
  bt_test_rm_rf (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  bt_engine_set_threads (1);
  g_test_add_func ("/pytorch-export/one-process", test_single);
  g_test_add_func ("/pytorch-export/torchrun-2-gloo", test_torchrun);
  g_test_add_func ("/pytorch-export/refusals", test_refusals);
  g_test_add_func ("/pytorch-export/calibrated", test_calibrated);
  g_test_add_func ("/dataset-export/tree", test_dataset);
  return g_test_run ();
}
