/* test-pytorch-transfer.c: the PyTorch export of a transfer-learning project (crops of the shared
 * photos, MobileNet V2 backbone): Bottega writes the backbone's embeddings as .npy files, the
 * script trains the head 1 epoch on the CPU, in one process and under torchrun with two gloo
 * processes, and Bottega loads the model it writes and predicts what the script predicted
 * (max abs difference ≤ 1e-4), through the head, through backbone + head and through
 * `bottega-cli predict`. */
#include "training/bt-export-pytorch.h"
#include "training/bt-transfer.h"
#include "bt-test-photos.h"
#include "bt-test-wait.h"
#include "bt-export-test-util.h"

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>
#include <sys/wait.h>

static const char *sources[4][2] = {
  { "cat", "cat_720p.jpg" }, { "owl", "owl.jpg" }, { "sunflower", "sunflower.bmp" }, { "hot dog", "hot_dog.jpg" },
};
#define PER_CLASS 6
#define HELD_OUT 1
#define HIDDEN 16

typedef struct {
  char      *dir, *out;
  BtProject *project;
  GPtrArray *held_out;   /* paths of crops outside the project */
} Fixture;

static Fixture fx;

static gboolean
have_fixtures (void)
{
  g_autofree char *m = bt_test_shared_file ("models", BT_BACKBONE_DEFAULT);
  if (m == NULL)
    {
      g_test_skip ("$BOTTEGA_SHARED_DIR/models/" BT_BACKBONE_DEFAULT " is absent");
      return FALSE;
    }
  for (int i = 0; i < 4; i++)
    {
      g_autofree char *p = bt_test_shared_file ("images", sources[i][1]);
      if (p == NULL)
        {
          g_test_skip ("the shared photos ($BOTTEGA_SHARED_DIR/images) are absent");
          return FALSE;
        }
    }
  return TRUE;
}

/* The project (4 classes × PER_CLASS crops, 60/20/20 split, mirrored variants on) and its
 * export, made once for every test. */
static gboolean
setup (void)
{
  if (fx.project != NULL)
    return TRUE;
  if (!have_fixtures ())
    return FALSE;
  g_autoptr(GError) error = NULL;
  /* the backbone folder is $BOTTEGA_BACKBONE_DIR, set in main () before any thread (the CLI runs
   * here read it too) */
  fx.dir = bt_test_mkdtemp ();
  g_autofree char *photos = g_build_filename (fx.dir, "photos", NULL);
  g_autofree char *held = g_build_filename (fx.dir, "held-out", NULL);
  fx.held_out = g_ptr_array_new_with_free_func (g_free);
  for (int c = 0; c < 4; c++)
    {
      g_autofree char *src = bt_test_shared_file ("images", sources[c][1]);
      g_autofree char *class_dir = g_build_filename (photos, sources[c][0], NULL);
      bt_test_write_crops (src, class_dir, sources[c][0], PER_CLASS, 40 + c);
      bt_test_write_crops (src, held, sources[c][0], HELD_OUT, 80 + c);
      for (int i = 0; i < HELD_OUT; i++)
        g_ptr_array_add (fx.held_out, g_strdup_printf ("%s/%s-%02d.bmp", held, sources[c][0], i));
    }

  g_autofree char *proj_dir = g_build_filename (fx.dir, "project", NULL);
  fx.project = bt_project_create (proj_dir, "Transfer export", &error);
  g_assert_no_error (error);
  BtProjectSettings s = { 0 };
  bt_project_settings_copy (&s, bt_project_get_settings (fx.project));
  g_free (s.preset);
  s.preset = g_strdup ("transfer");
  g_free (s.recipe);
  s.recipe = g_strdup ("manual");   /* the export reproduces these very settings */
  s.epochs = 1;
  s.batch_size = 8;
  g_free (s.optimizer);
  s.optimizer = g_strdup ("adam");
  s.learning_rate = 0.01;
  s.dropout = 0.2;
  s.augment_flip = TRUE;
  s.augment_crop = s.augment_rotate = s.augment_color = FALSE;
  s.transfer_hidden = HIDDEN;
  s.split_train = 60;
  s.split_val = 20;
  s.split_test = 20;
  g_assert_true (bt_project_update_settings (fx.project, &s, &error));
  g_assert_no_error (error);
  bt_project_settings_clear (&s);

  const char *paths[] = { photos, NULL };
  g_autoptr(BtScanResult) scan = bt_scan_paths (paths, BT_SCAN_FOLDER_OF_CLASSES, NULL, TRUE, NULL, NULL, NULL,
                                                &error);
  g_assert_no_error (error);
  g_assert_cmpuint (bt_project_apply_scan (fx.project, scan, &error), ==, 4 * PER_CLASS);
  g_assert_no_error (error);

  fx.out = g_build_filename (fx.dir, "export", NULL);
  g_assert_true (bt_export_pytorch (fx.project, fx.out, &error));
  g_assert_no_error (error);
  return TRUE;
}

/* A .npy file written by the export: checks the header and returns the data (g_free). */
static void *
read_npy (const char *name, const char *descr, gsize *rows, gsize *cols)
{
  g_autofree char *path = g_build_filename (fx.out, "embeddings", name, NULL);
  g_autofree char *buf = NULL;
  gsize len = 0;
  g_autoptr(GError) error = NULL;
  g_file_get_contents (path, &buf, &len, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (len, >=, 10);
  g_assert_cmpmem (buf, 8, "\x93NUMPY\x01\x00", 8);
  guint16 hlen = (guint16) ((guint8) buf[8] | ((guint8) buf[9] << 8));
  g_assert_cmpuint ((10u + hlen) % 64, ==, 0);
  g_autofree char *header = g_strndup (buf + 10, hlen);
  g_autofree char *want = g_strdup_printf ("'descr': '%s'", descr);
  g_assert_nonnull (strstr (header, want));
  const char *shape = strstr (header, "'shape': (");
  g_assert_nonnull (shape);
  char *end = NULL;
  *rows = g_ascii_strtoull (shape + 10, &end, 10);
  *cols = *end == ',' && end[1] == ' ' ? g_ascii_strtoull (end + 2, NULL, 10) : 0;
  gsize elem = g_str_equal (descr, "<f4") ? 4 : 8;
  g_assert_cmpuint (len, ==, 10u + hlen + *rows * MAX (*cols, 1) * elem);
  return g_memdup2 (buf + 10 + hlen, len - 10 - hlen);
}

static char *
read_export_file (const char *out, const char *name)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = g_build_filename (out, name, NULL);
  char *text = NULL;
  g_file_get_contents (path, &text, NULL, &error);
  g_assert_no_error (error);
  return text;
}

static void
test_files (void)
{
  if (!setup ())
    return;
  g_autoptr(GError) error = NULL;
  g_autoptr(BtBackbone) bb = bt_backbone_get (BT_BACKBONE_DEFAULT, NULL, &error);
  g_assert_no_error (error);
  int dim = bt_backbone_get_dim (bb);

  /* the initial model is the head with the backbone reference of Bottega's own transfer models */
  g_autofree char *initial_path = g_build_filename (fx.out, "initial.bottega-model", NULL);
  g_autoptr(BtModel) initial = bt_model_load (initial_path, &error);
  g_assert_no_error (error);
  g_assert_cmpint (bt_net_preset (initial->net), ==, BT_PRESET_TRANSFER);
  g_assert_cmpint (bt_net_hidden (initial->net), ==, HIDDEN);
  g_assert_null (initial->backbone_data);
  g_assert_cmpstr (initial->backbone_sha256, ==, bt_backbone_get_sha256 (bb));
  g_assert_true (g_str_has_suffix (initial->backbone_name, ".tflite"));
  int c, h, w;
  bt_net_input_shape (initial->net, &c, &h, &w);
  g_assert_cmpint (c * h * w, ==, dim);

  /* per split: x rows × dim, y and row per row; train has the mirrored variant of each image */
  g_autofree char *labels = NULL;
  g_autofree char *labels_path = g_build_filename (fx.out, "labels.csv", NULL);
  g_file_get_contents (labels_path, &labels, NULL, &error);
  g_assert_no_error (error);
  g_auto(GStrv) lines = g_strsplit (labels, "\r\n", -1);
  guint total_images = 0;
  for (int k = 0; k < 3; k++)
    {
      const char *split = (const char *[]) { "train", "val", "test" }[k];
      g_autofree char *xn = g_strdup_printf ("%s_x.npy", split);
      g_autofree char *yn = g_strdup_printf ("%s_y.npy", split);
      g_autofree char *rn = g_strdup_printf ("%s_row.npy", split);
      gsize xr, xc, yr, yc, rr, rc;
      g_autofree float *x = read_npy (xn, "<f4", &xr, &xc);
      g_autofree gint64 *y = read_npy (yn, "<i8", &yr, &yc);
      g_autofree gint64 *row = read_npy (rn, "<i8", &rr, &rc);
      g_assert_cmpuint (xc, ==, (gsize) dim);
      g_assert_cmpuint (yr, ==, xr);
      g_assert_cmpuint (rr, ==, xr);
      g_assert_cmpuint (yc + rc, ==, 0);
      g_autoptr(GHashTable) distinct = g_hash_table_new (g_direct_hash, g_direct_equal);
      for (gsize i = 0; i < xr; i++)
        {
          g_assert_cmpint (y[i], >=, 0);
          g_assert_cmpint (y[i], <, 4);
          g_assert_cmpint (row[i], >=, 0);
          g_assert_cmpint (row[i] + 1, <, (gint64) g_strv_length (lines));
          /* labels.csv row: path,class,split — the class and split agree */
          const char *line = lines[row[i] + 1];
          g_assert_true (g_str_has_suffix (line, split));
          g_assert_nonnull (strstr (line, initial->class_names[y[i]]));
          g_hash_table_add (distinct, GINT_TO_POINTER ((int) row[i]));
        }
      guint n_images = g_hash_table_size (distinct);
      total_images += n_images;
      g_assert_cmpuint (xr, ==, k == 0 ? 2 * n_images : n_images);

      /* the first row is the backbone's embedding of that image, as Bottega computes it */
      if (xr > 0)
        {
          g_auto(GStrv) fields = g_strsplit (lines[row[0] + 1], ",", 2);
          g_autoptr(BtImage) img = bt_image_decode_file (fields[0], 3, NULL, NULL, &error);
          g_assert_no_error (error);
          g_autofree float *emb = g_new (float, dim);
          g_assert_true (bt_backbone_embed_image (bb, img, bt_project_get_settings (fx.project)->resize, emb, &error));
          g_assert_no_error (error);
          double diff = 0;
          for (int d = 0; d < dim; d++)
            diff = MAX (diff, fabs ((double) emb[d] - x[d]));
          g_assert_cmpfloat (diff, <=, 1e-5);
        }
    }
  g_assert_cmpuint (total_images, ==, 4 * PER_CLASS);

  g_autofree char *readme = read_export_file (fx.out, "README.md");
  g_assert_nonnull (strstr (readme, "allow_pickle=False"));
  g_assert_nonnull (strstr (readme, "--predict photo.jpg"));
  g_assert_nonnull (strstr (readme, "NCCL"));
  /* without a model, the project's backbone as it is: no fine-tuned operator */
  g_autofree char *graph = read_export_file (fx.out, "backbone.json");
  g_assert_nonnull (strstr (graph, "\"fine_tuned_ops\": []"));
  g_assert_nonnull (strstr (readme, "the project trains with"));
}

typedef struct {
  GError  *result;       /* set when done ("ok" as G_IO_ERROR_EXISTS on success) */
  GThread *main_thread;
  guint    n_reports, last_done, last_total;
  gboolean after_done;
} AsyncRun;

static void
done_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  AsyncRun *run = data;
  if (!bt_export_pytorch_finish (result, &run->result))
    g_assert_nonnull (run->result);
  else
    run->result = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_EXISTS, "ok");
}

static void
progress_cb (guint done, guint total, gpointer data)
{
  AsyncRun *run = data;
  g_assert_true (g_thread_self () == run->main_thread);
  if (run->result != NULL)
    run->after_done = TRUE;
  g_assert_cmpuint (done, <=, total);
  g_assert_cmpuint (done, >=, run->last_done);
  run->n_reports++;
  run->last_done = done;
  run->last_total = total;
}

/* The window's path: the snapshot is taken here, the embeddings computed (again) in a worker
 * from a private copy of the project, with progress on this thread; the files are the same as
 * the synchronous export's, byte for byte. */
static void
test_async (void)
{
  if (!setup ())
    return;
  g_autofree char *out2 = g_build_filename (fx.dir, "export-async", NULL);
  /* without the embedding cache the worker computes them again and reports its progress */
  g_autofree char *cache = g_build_filename (bt_project_get_dir (fx.project), "cache", "embeddings", NULL);
  g_assert_true (g_file_test (cache, G_FILE_TEST_IS_DIR));
  bt_test_rm_rf (cache);
  AsyncRun run = { NULL, g_thread_self (), 0, 0, 0, FALSE };
  bt_export_pytorch_async_full (fx.project, out2, progress_cb, &run, NULL, done_cb, &run);
  BT_TEST_WAIT (run.result != NULL);
  g_assert_error (run.result, G_IO_ERROR, G_IO_ERROR_EXISTS);   /* "ok" */
  g_clear_error (&run.result);
  /* 24 images and the mirrored variant of each training image */
  g_assert_cmpuint (run.n_reports, >=, 1);
  g_assert_cmpuint (run.last_total, >, 24);
  g_assert_cmpuint (run.last_total, <, 48);
  g_assert_cmpuint (run.last_done, ==, run.last_total);
  /* reports still queued when the result came are dropped */
  bt_test_drain ();
  g_assert_false (run.after_done);
  const char *files[] = { "embeddings/train_x.npy", "embeddings/val_y.npy", "embeddings/test_row.npy",
                          "labels.csv", "config.json" };
  for (guint i = 0; i < G_N_ELEMENTS (files); i++)
    {
      g_autofree char *a = g_build_filename (fx.out, files[i], NULL);
      g_autofree char *b = g_build_filename (out2, files[i], NULL);
      g_autofree char *da = NULL, *db = NULL;
      gsize la = 0, lb = 0;
      g_assert_true (g_file_get_contents (a, &da, &la, NULL));
      g_assert_true (g_file_get_contents (b, &db, &lb, NULL));
      g_assert_cmpmem (da, la, db, lb);
    }
}

/* The trained head with a calibration temperature: `train.py --model` on the held-out crops'
 * embeddings gives `bottega-cli predict`'s probabilities for the crops themselves. */
static void
check_calibrated (const char *out, BtModel *trained, const char *x_path)
{
  g_autoptr(GError) error = NULL;
  trained->calib.temperature = 1.6;
  g_autofree char *model_path = g_build_filename (out, "calibrated.bottega-model", NULL);
  g_assert_true (bt_model_save_model (model_path, trained, &error));
  g_assert_no_error (error);
  g_autofree char *json_path = bt_test_predict_json (out, model_path, (const char * const *) fx.held_out->pdata,
                                                    fx.held_out->len);
  g_autofree char *p_path = g_build_filename (out, "calibrated.p", NULL);
  g_autofree char *config_path = g_build_filename (out, "config.json", NULL);
  if (bt_test_run_python ("run-train.py", (const char *[]) { "single", out, "--model", model_path, "--predict", x_path,
                                                             "--predict-output", p_path, NULL }))
    bt_test_run_python ("check-predict.py", (const char *[]) { p_path, json_path, config_path, NULL });
}

static void
train_and_compare_in (const char *out, const char *mode, gboolean whole)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(BtBackbone) bb = bt_backbone_get (BT_BACKBONE_DEFAULT, NULL, &error);
  g_assert_no_error (error);
  int dim = bt_backbone_get_dim (bb);
  BtDsResize resize = bt_project_get_settings (fx.project)->resize;

  /* the held-out crops' embeddings, by Bottega's backbone */
  guint n = fx.held_out->len;
  g_autofree float *x = g_new (float, (gsize) n * dim);
  g_autoptr(GPtrArray) images = g_ptr_array_new_with_free_func ((GDestroyNotify) bt_image_free);
  for (guint i = 0; i < n; i++)
    {
      BtImage *img = bt_image_decode_file (g_ptr_array_index (fx.held_out, i), 3, NULL, NULL, &error);
      g_assert_no_error (error);
      g_ptr_array_add (images, img);
      g_assert_true (bt_backbone_embed_image (bb, img, resize, x + (gsize) i * dim, &error));
      g_assert_no_error (error);
    }
  g_autofree char *xname = g_strdup_printf ("x-%s.f32", mode);
  bt_test_write_floats (out, xname, x, (gsize) n * dim);

  g_autofree char *trained_name = g_strdup_printf ("trained-%s.bottega-model", mode);
  g_autofree char *trained_path = g_build_filename (out, trained_name, NULL);
  g_autofree char *x_path = g_build_filename (out, xname, NULL);
  g_autofree char *p_path = g_strconcat (x_path, ".p", NULL);
  if (!bt_test_run_python ("run-train.py", (const char *[]) { mode, out, "--epochs", "1", "--output", trained_path,
                                                                "--predict", x_path, "--predict-output", p_path, NULL }))
    return;

  g_autoptr(BtModel) trained = bt_model_load (trained_path, &error);
  g_assert_no_error (error);
  g_assert_cmpint (bt_net_preset (trained->net), ==, BT_PRESET_TRANSFER);
  g_assert_cmpint (bt_net_hidden (trained->net), ==, HIDDEN);
  if (whole)
    {
      /* the backbone travelled inside the file, byte for byte */
      g_assert_nonnull (trained->backbone_data);
      GBytes *want = bt_backbone_get_bytes (bb);
      g_assert_true (g_bytes_equal (trained->backbone_data, want));
      /* and it predicts with no backbone on the search path */
      bt_backbone_set_search_dir (out);
    }
  else
    g_assert_null (trained->backbone_data);
  g_assert_cmpstr (trained->backbone_sha256, ==, bt_backbone_get_sha256 (bb));
  g_assert_cmpstr (g_hash_table_lookup (trained->metadata, "trained-processes"), ==,
                   g_str_equal (mode, "single") ? "1" : "2");
  g_autofree char *initial_path = g_build_filename (out, "initial.bottega-model", NULL);
  g_autoptr(BtModel) initial = bt_model_load (initial_path, &error);
  g_assert_no_error (error);
  gsize np, np0;
  const float *w1 = bt_net_params (trained->net, &np);
  const float *w0 = bt_net_params (initial->net, &np0);
  g_assert_cmpuint (np, ==, np0);
  double change = 0;
  for (gsize i = 0; i < np; i++)
    change = MAX (change, fabs ((double) w1[i] - w0[i]));
  g_assert_cmpfloat (change, >, 1e-4);

  g_autofree char *pbytes = NULL;
  gsize plen = 0;
  g_file_get_contents (p_path, &pbytes, &plen, &error);
  g_assert_no_error (error);
  int k = bt_net_n_classes (trained->net);
  g_assert_cmpint (k, ==, 4);
  g_assert_cmpuint (plen, ==, sizeof (float) * n * k);
  const float *script = (const float *) pbytes;
  g_autofree float *head = g_memdup2 (bt_net_forward (trained->net, x, (int) n, FALSE, &error),
                                      sizeof (float) * n * k);
  g_assert_no_error (error);
  double diff = 0, diff_full = 0;
  for (guint i = 0; i < n * (guint) k; i++)
    diff = MAX (diff, fabs ((double) head[i] - script[i]));
  /* what the Test page shows: backbone + head from the image */
  for (guint i = 0; i < n; i++)
    {
      g_autofree float *p = bt_transfer_predict_image (trained, g_ptr_array_index (images, i), &error);
      g_assert_no_error (error);
      for (int j = 0; j < k; j++)
        diff_full = MAX (diff_full, fabs ((double) p[j] - script[i * k + j]));
    }
  g_test_message ("transfer %s%s: head weights moved by up to %.3g; Bottega vs PyTorch max abs diff %.3g "
                  "(head), %.3g (image → backbone → head)", mode, whole ? " (whole network)" : "", change, diff,
                  diff_full);
  g_assert_cmpfloat (diff, <=, 1e-4);
  g_assert_cmpfloat (diff_full, <=, 1e-4);
  if (!whole && g_str_equal (mode, "single"))
    check_calibrated (out, trained, x_path);
  if (whole)
    {
      bt_backbone_set_search_dir (NULL);   /* $BOTTEGA_BACKBONE_DIR again */
    }
}

static void
train_and_compare (const char *mode)
{
  if (!setup ())
    return;
  train_and_compare_in (fx.out, mode, FALSE);
}

/* "Save the whole network": the export's model files hold the backbone, and so does the file
 * the script writes, which predicts with no backbone installed. */
static void
test_whole_network (void)
{
  if (!setup ())
    return;
  g_autoptr(GError) error = NULL;
  BtProjectSettings s = { 0 };
  bt_project_settings_copy (&s, bt_project_get_settings (fx.project));
  s.transfer_whole_network = TRUE;
  g_assert_true (bt_project_update_settings (fx.project, &s, &error));
  g_assert_no_error (error);
  bt_project_settings_clear (&s);
  g_autofree char *out = g_build_filename (fx.dir, "export-whole", NULL);
  g_assert_true (bt_export_pytorch (fx.project, out, &error));
  g_assert_no_error (error);
  g_autofree char *initial_path = g_build_filename (out, "initial.bottega-model", NULL);
  g_autoptr(BtModel) initial = bt_model_load (initial_path, &error);
  g_assert_no_error (error);
  g_assert_nonnull (initial->backbone_data);
  train_and_compare_in (out, "single", TRUE);
}

static void
test_single (void)
{
  train_and_compare ("single");
}

static void
test_torchrun (void)
{
  train_and_compare ("torchrun2");
}


/* bottega-cli: `export PROJECT --pytorch` writes the same embeddings, and `predict` with the
 * model the script wrote (one-process run) gives the script's probabilities for a photo. */
static void
test_cli (void)
{
  if (!setup ())
    return;
  g_autofree char *trained = g_build_filename (fx.out, "trained-single.bottega-model", NULL);
  g_autofree char *p_path = g_build_filename (fx.out, "x-single.f32.p", NULL);
  g_autofree char *out3 = g_build_filename (fx.dir, "export-cli", NULL);
  g_autofree char *stdout_text = NULL;
  g_assert_cmpint (bt_test_run_cli ((const char *[]) { "export", bt_project_get_dir (fx.project), "--pytorch", out3,
                                                      NULL }, &stdout_text, NULL), ==, 0);
  g_assert_nonnull (strstr (stdout_text, "embeddings"));
  g_autofree char *a = NULL, *b = NULL;
  g_autofree char *fa = g_build_filename (fx.out, "embeddings", "train_x.npy", NULL);
  g_autofree char *fb = g_build_filename (out3, "embeddings", "train_x.npy", NULL);
  gsize la = 0, lb = 0;
  g_assert_true (g_file_get_contents (fa, &a, &la, NULL));
  g_assert_true (g_file_get_contents (fb, &b, &lb, NULL));
  g_assert_cmpmem (a, la, b, lb);

  if (!g_file_test (trained, G_FILE_TEST_IS_REGULAR) || !g_file_test (p_path, G_FILE_TEST_IS_REGULAR))
    {
      g_test_skip ("the one-process training did not run");
      return;
    }
  g_autofree char *pbytes = NULL;
  g_assert_true (g_file_get_contents (p_path, &pbytes, NULL, NULL));
  g_autoptr(GError) error = NULL;
  g_autoptr(BtModel) model = bt_model_load (trained, &error);
  g_assert_no_error (error);
  g_clear_pointer (&stdout_text, g_free);
  const char *image = g_ptr_array_index (fx.held_out, 0);
  g_assert_cmpint (bt_test_run_cli ((const char *[]) { "predict", trained, image, NULL }, &stdout_text, NULL), ==, 0);
  /* "class probability" per line, every class */
  g_auto(GStrv) lines = g_strsplit (stdout_text, "\n", -1);
  guint seen = 0;
  for (guint i = 0; lines[i] != NULL; i++)
    {
      const char *sp = strrchr (lines[i], ' ');
      if (sp == NULL)
        continue;
      g_autofree char *name = g_strndup (lines[i], sp - lines[i]);
      double prob = g_ascii_strtod (sp + 1, NULL);
      for (int k = 0; model->class_names[k] != NULL; k++)
        if (g_str_equal (model->class_names[k], name))
          {
            g_assert_cmpfloat (fabs (prob - ((const float *) pbytes)[k]), <=, 1e-4);
            seen++;
          }
    }
  g_assert_cmpuint (seen, ==, 4);
}

/* A fine-tuned model (format 3, #27) as the project's model: the export carries its whole network
 * (backbone.json + backbone.f32 with the fine-tuned weights), and `train.py --model M --predict
 * PHOTOS` gives `bottega-cli predict`'s probabilities (calibration temperature and test-time
 * mirroring included) within 1e-4 for photos of the shared folder. The photos are written at the
 * backbone's input size first, so that both read the very same pixels (Bottega's decoder and
 * resampling are not Pillow's). The fine-tuned weights change these probabilities by far more
 * than 1e-4 (checked), so a folder with the frozen backbone's weights fails. */
static void
test_fine_tuned (void)
{
  static const char *photos[] = { "cat.bmp", "grace_hopper.bmp", "owl.jpg", "sunflower.bmp", "hot_dog.jpg" };
  if (!setup ())
    return;
  g_autoptr(GError) error = NULL;
  g_autoptr(BtBackbone) bb = bt_backbone_get (BT_BACKBONE_DEFAULT, NULL, &error);
  g_assert_no_error (error);
  int dim = bt_backbone_get_dim (bb);
  g_autoptr(GArray) weights = bt_test_nudged_top_blocks (bt_backbone_get_model (bb), 27);

  g_autoptr(BtNet) head = bt_net_new_transfer (dim, HIDDEN, 4, 0.2f, 5, &error);
  g_assert_no_error (error);
  bt_test_perturb_net (head, 3);
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  GListModel *classes = bt_project_get_classes (fx.project);
  for (guint i = 0; i < g_list_model_get_n_items (classes); i++)
    {
      g_autoptr(BtClassInfo) info = g_list_model_get_item (classes, i);
      g_ptr_array_add (names, g_strdup (bt_class_info_get_name (info)));
    }
  g_ptr_array_add (names, NULL);
  BtModel m = { .net = head, .class_names = (char **) names->pdata,
                .backbone_name = (char *) bt_backbone_get_name (bb),
                .backbone_sha256 = (char *) bt_backbone_get_sha256 (bb),
                .backbone_data = bt_backbone_get_bytes (bb), .backbone_weights = weights, .tta = BT_TTA_MIRROR };
  bt_backbone_get_preprocess (bb, bt_project_get_settings (fx.project)->resize, &m.prep);
  bt_calibration_init (&m.calib);
  m.calib.temperature = 1.4;
  g_autofree char *models = g_build_filename (bt_project_get_dir (fx.project), "models", NULL);
  g_assert_cmpint (g_mkdir_with_parents (models, 0755), ==, 0);
  g_autofree char *model_path = g_build_filename (models, "29991231-000000-transfer.bottega-model", NULL);
  g_assert_true (bt_model_save_model (model_path, &m, &error));
  g_assert_no_error (error);

  /* the photos at the backbone's input size; the fine-tuned blocks move their probabilities */
  g_autofree char *dir = g_build_filename (fx.dir, "fine-tuned-photos", NULL);
  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(BtModel) saved = bt_model_load (model_path, &error);
  g_assert_no_error (error);
  BtModel frozen = *saved;
  frozen.backbone_weights = NULL;
  double moved = 0;
  for (guint i = 0; i < G_N_ELEMENTS (photos); i++)
    {
      g_autofree char *src = bt_test_shared_file ("images", photos[i]);
      if (src == NULL)
        {
          g_test_skip ("the shared photos ($BOTTEGA_SHARED_DIR/images) are absent");
          g_remove (model_path);
          return;
        }
      g_autoptr(BtImage) img = bt_image_preprocess_file (src, m.prep.width, m.prep.height, 3, BT_DS_RESIZE_SQUASH,
                                                         NULL, NULL, &error);
      g_assert_no_error (error);
      char *path = g_strdup_printf ("%s/photo-%u.bmp", dir, i);
      bt_test_write_bmp (path, img);
      g_ptr_array_add (paths, path);
      g_autofree float *pt = bt_transfer_predict_image (saved, img, &error);
      g_assert_no_error (error);
      g_autofree float *pf = bt_transfer_predict_image (&frozen, img, &error);
      g_assert_no_error (error);
      for (int k = 0; k < 4; k++)
        moved = MAX (moved, fabsf (pt[k] - pf[k]));
    }
  g_test_message ("fine-tuned vs frozen backbone: probabilities differ by up to %.3g", moved);
  g_assert_cmpfloat (moved, >, 1e-2);

  g_autofree char *out = g_build_filename (fx.dir, "export-fine-tuned", NULL);
  g_assert_true (bt_export_pytorch (fx.project, out, &error));
  g_assert_no_error (error);
  g_autofree char *graph = read_export_file (out, "backbone.json");
  GString *want = g_string_new ("\"fine_tuned_ops\": [");
  for (guint i = 0; i < weights->len; i++)
    g_string_append_printf (want, "%s%d", i ? "," : "", g_array_index (weights, BtBackboneWeights, i).op);
  g_autofree char *want_ops = g_string_free (want, FALSE);
  g_assert_nonnull (strstr (graph, want_ops));

  g_autofree char *json_path = bt_test_predict_json (out, model_path, (const char * const *) paths->pdata, paths->len);
  g_autofree char *p_path = g_build_filename (out, "photos.p", NULL);
  g_autofree char *config_path = g_build_filename (out, "config.json", NULL);
  g_autoptr(GPtrArray) args = g_ptr_array_new ();
  const char *head_args[] = { "single", out, "--model", model_path, "--predict-output", p_path, "--predict" };
  for (guint i = 0; i < G_N_ELEMENTS (head_args); i++)
    g_ptr_array_add (args, (gpointer) head_args[i]);
  for (guint i = 0; i < paths->len; i++)
    g_ptr_array_add (args, paths->pdata[i]);
  g_ptr_array_add (args, NULL);
  if (bt_test_run_python ("run-train.py", (const char * const *) args->pdata))
    bt_test_run_python ("check-predict.py", (const char *[]) { p_path, json_path, config_path, NULL });
  g_remove (model_path);   /* the other cases export a project without a model */
}

/* Without its backbone a transfer project cannot be exported, and says where it looked. */
/* Cancel from the first progress report: the export fails and leaves neither files nor the
 * folder it created. */
static void
cancel_on_progress (guint done, guint total, gpointer data)
{
  g_cancellable_cancel (G_CANCELLABLE (data));
}

static void
cancelled_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  GError **out = data;
  if (bt_export_pytorch_finish (result, out))
    *out = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_EXISTS, "finished despite the cancel");
}

static void
test_cancelled (void)
{
  if (!setup ())
    return;
  g_autofree char *out = g_build_filename (fx.dir, "export-cancelled", NULL);
  g_autofree char *cache = g_build_filename (bt_project_get_dir (fx.project), "cache", "embeddings", NULL);
  /* so the worker computes embeddings and reports progress; the cache is put back at the end,
   * because later tests compare with embeddings this process computed (another process's may
   * differ in the last bits) */
  g_autofree char *kept = g_strconcat (cache, ".kept", NULL);
  g_assert_cmpint (g_rename (cache, kept), ==, 0);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  bt_export_pytorch_async_full (fx.project, out, cancel_on_progress, cancellable, cancellable,
                                cancelled_cb, &error);
  BT_TEST_WAIT (error != NULL);
  g_assert_false (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_EXISTS));
  g_assert_true (g_cancellable_is_cancelled (cancellable));
  g_assert_false (g_file_test (out, G_FILE_TEST_EXISTS));

  /* into a folder that already holds the user's file: that file stays, nothing else is left */
  g_assert_true (g_mkdir_with_parents (out, 0755) == 0);
  g_autofree char *mine = g_build_filename (out, "notes.txt", NULL);
  g_assert_true (g_file_set_contents (mine, "mine", -1, NULL));
  g_clear_error (&error);
  bt_test_rm_rf (cache);
  g_autoptr(GCancellable) c2 = g_cancellable_new ();
  bt_export_pytorch_async_full (fx.project, out, cancel_on_progress, c2, c2, cancelled_cb, &error);
  BT_TEST_WAIT (error != NULL);
  g_assert_false (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_EXISTS));
  g_autoptr(GDir) d = g_dir_open (out, 0, NULL);
  g_assert_nonnull (d);
  g_assert_cmpstr (g_dir_read_name (d), ==, "notes.txt");
  g_assert_null (g_dir_read_name (d));
  bt_test_rm_rf (out);
  bt_test_rm_rf (cache);
  g_assert_cmpint (g_rename (kept, cache), ==, 0);
}

static void
test_no_backbone (void)
{
  g_autofree char *dir = bt_test_mkdtemp ();
  bt_backbone_set_search_dir (dir);
  g_autofree char *found = bt_backbone_find (BT_BACKBONE_DEFAULT, NULL);
  if (found != NULL)
    {
      g_test_skip ("a backbone is installed on this machine's search path");
    }
  else
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *proj_dir = g_build_filename (dir, "project", NULL);
      g_autoptr(BtProject) p = bt_sample_create_shapes (proj_dir, 4, 32, 5, NULL, &error);
      g_assert_no_error (error);
      BtProjectSettings s = { 0 };
      bt_project_settings_copy (&s, bt_project_get_settings (p));
      g_free (s.preset);
      s.preset = g_strdup ("transfer");
      g_free (s.recipe);
      s.recipe = g_strdup ("manual");
      g_assert_true (bt_project_update_settings (p, &s, &error));
      bt_project_settings_clear (&s);
      g_autofree char *out = g_build_filename (dir, "export", NULL);
      g_assert_false (bt_export_pytorch (p, out, &error));
      g_assert_nonnull (error);
      g_assert_nonnull (strstr (error->message, dir));
      g_autofree char *model = g_build_filename (out, "initial.bottega-model", NULL);
      g_assert_false (g_file_test (model, G_FILE_TEST_EXISTS));
    }
  bt_backbone_set_search_dir (NULL);
  bt_test_rm_rf (dir);
}

int
main (int argc, char **argv)
{
  /* before any thread starts: the backbone folder of this process and of the CLI runs it spawns */
  {
    g_autofree char *models = bt_test_shared_file ("models", BT_BACKBONE_DEFAULT);
    if (models != NULL)
      {
        g_autofree char *models_dir = g_path_get_dirname (models);
        g_setenv ("BOTTEGA_BACKBONE_DIR", models_dir, TRUE);
      }
  }
  g_test_init (&argc, &argv, NULL);
  bt_engine_set_threads (1);
  g_test_add_func ("/pytorch-transfer/no-backbone", test_no_backbone);
  g_test_add_func ("/pytorch-transfer/files", test_files);
  g_test_add_func ("/pytorch-transfer/async", test_async);
  g_test_add_func ("/pytorch-transfer/cancelled", test_cancelled);
  g_test_add_func ("/pytorch-transfer/one-process", test_single);
  g_test_add_func ("/pytorch-transfer/torchrun-2-gloo", test_torchrun);
  g_test_add_func ("/pytorch-transfer/cli", test_cli);
  g_test_add_func ("/pytorch-transfer/whole-network", test_whole_network);
  g_test_add_func ("/pytorch-transfer/fine-tuned", test_fine_tuned);
  int rc = g_test_run ();
  if (fx.dir != NULL)
    bt_test_rm_rf (fx.dir);
  g_clear_object (&fx.project);
  return rc;
}
