/* test-transfer.c: the transfer-learning pieces on a small photo set made of crops and flips of
 * the shared photos (cat, owl, sunflower, hot dog): backbone search, cached embeddings, a head
 * trained on them, and held-out crops predicted through backbone + head. */
#include "config.h"

#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "training/bt-training.h"
#include "training/bt-transfer.h"
#include "training/bt-recipe.h"
#include "training/bt-run-files.h"
#include "training/bt-export-onnx.h"
#include "training/bt-run-files.h"
#include "training/bt-training-private.h"
#include "bt-test-photos.h"
#include "bt-test-fs.h"
#include "bt-test-wait.h"

static const char *sources[4][2] = {
  { "cat", "cat_720p.jpg" }, { "owl", "owl.jpg" }, { "sunflower", "sunflower.bmp" }, { "hot dog", "hot_dog.jpg" },
};

static gboolean
have_fixtures (void)
{
  g_autofree char *m = bt_test_shared_file ("models", BT_BACKBONE_DEFAULT);
  if (m == NULL)
    return FALSE;
  for (int i = 0; i < 4; i++)
    {
      g_autofree char *p = bt_test_shared_file ("images", sources[i][1]);
      if (p == NULL)
        return FALSE;
    }
  return TRUE;
}

/* A random crop (55–90% of each side, anywhere), sometimes mirrored, scaled to ≤ 200 px. */
static void
write_crop (const BtImage *src, BtRng *rng, const char *path)
{
  int w = (int) (src->width * (0.55f + 0.35f * bt_rng_uniform (rng)));
  int h = (int) (src->height * (0.55f + 0.35f * bt_rng_uniform (rng)));
  int x0 = (int) bt_rng_below (rng, (guint32) (src->width - w + 1));
  int y0 = (int) bt_rng_below (rng, (guint32) (src->height - h + 1));
  gboolean flip = bt_rng_below (rng, 2);
  BtImage crop = { w, h, 3, g_malloc ((gsize) w * h * 3) };
  g_autoptr(BtImage) small = NULL;
  float s = MIN (1.f, 200.f / MAX (w, h));

  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      memcpy (crop.pixels + ((gsize) y * w + x) * 3,
              src->pixels + ((gsize) (y0 + y) * src->width + x0 + (flip ? w - 1 - x : x)) * 3, 3);
  small = bt_image_resize (&crop, MAX (8, (int) (w * s)), MAX (8, (int) (h * s)), BT_DS_RESIZE_SQUASH);
  bt_test_write_bmp (path, small);
  g_free (crop.pixels);
}

typedef struct {
  char       *dir;
  BtProject  *project;
  GPtrArray  *held_out;      /* paths */
  GArray     *held_labels;   /* int */
} PhotoSet;

static void
photo_set_free (PhotoSet *ps)
{
  g_clear_object (&ps->project);
  g_ptr_array_unref (ps->held_out);
  g_array_unref (ps->held_labels);
  g_free (ps->dir);
}

static void
make_photo_set (PhotoSet *ps, int per_class, int held_per_class)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *images = NULL, *held = NULL;
  g_autoptr(BtScanResult) scan = NULL;
  BtRng rng;

  ps->dir = g_dir_make_tmp ("bottega-transfer-XXXXXX", &error);
  g_assert_no_error (error);
  images = g_build_filename (ps->dir, "photos", NULL);
  held = g_build_filename (ps->dir, "held-out", NULL);
  g_assert_cmpint (g_mkdir_with_parents (held, 0755), ==, 0);
  ps->held_out = g_ptr_array_new_with_free_func (g_free);
  ps->held_labels = g_array_new (FALSE, FALSE, sizeof (int));
  bt_rng_seed (&rng, 42);
  for (int c = 0; c < 4; c++)
    {
      g_autofree char *src_path = bt_test_shared_file ("images", sources[c][1]);
      g_autofree char *class_dir = g_build_filename (images, sources[c][0], NULL);
      g_autoptr(BtImage) src = bt_image_decode_file (src_path, 3, NULL, NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpint (g_mkdir_with_parents (class_dir, 0755), ==, 0);
      for (int i = 0; i < per_class + held_per_class; i++)
        {
          g_autofree char *name = g_strdup_printf ("%s-%02d.bmp", sources[c][0], i);
          char *path = g_build_filename (i < per_class ? class_dir : held, name, NULL);
          write_crop (src, &rng, path);
          if (i >= per_class)
            {
              g_ptr_array_add (ps->held_out, path);
              g_array_append_val (ps->held_labels, c);
            }
          else
            g_free (path);
        }
    }
  ps->project = bt_project_create (ps->dir, "Transfer test", &error);
  g_assert_no_error (error);
  {
    const char *paths[] = { images, NULL };
    scan = bt_scan_paths (paths, BT_SCAN_FOLDER_OF_CLASSES, NULL, TRUE, NULL, NULL, NULL, &error);
    g_assert_no_error (error);
  }
  g_assert_cmpuint (bt_project_apply_scan (ps->project, scan, &error), ==, (guint) (4 * per_class));
  g_assert_no_error (error);
}

static void
test_backbone_search (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *empty = g_dir_make_tmp ("bottega-backbones-XXXXXX", NULL);
  g_autofree char *path = NULL;
  g_auto(GStrv) dirs = NULL;

  bt_backbone_set_search_dir (empty);
  dirs = bt_backbone_search_path ();
  g_assert_cmpstr (dirs[0], ==, empty);
  g_assert_true (g_str_has_suffix (dirs[1], "bottega/backbones"));
  path = bt_backbone_find ("no-such-backbone.tflite", &error);
  g_assert_null (path);
  g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
  g_assert_nonnull (strstr (error->message, empty));   /* says where it looked */
  g_clear_error (&error);
  g_assert_null (bt_backbone_find ("../evil.tflite", &error));
  g_assert_nonnull (error);
  g_clear_error (&error);

  /* A file that is not a model is refused with a reason, not a crash. */
  {
    g_autofree char *bogus = g_build_filename (empty, "bogus.tflite", NULL);
    g_assert_true (g_file_set_contents (bogus, "definitely not a flatbuffer", -1, NULL));
    g_assert_null (bt_backbone_get ("bogus.tflite", NULL, &error));
    g_assert_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_CORRUPT);
    g_remove (bogus);
  }
  g_remove (empty);
}

static gboolean
same_file_content (const char *a, const char *b)
{
  g_autofree char *da = NULL, *db = NULL;
  gsize la, lb;
  g_assert_true (g_file_get_contents (a, &da, &la, NULL));
  g_assert_true (g_file_get_contents (b, &db, &lb, NULL));
  return la == lb && memcmp (da, db, la) == 0;
}

/* The whole network inside the model file: it predicts exactly what the referenced model
 * predicts, with the backbone file nowhere on the search path, and exports to the same ONNX. */
static void
check_self_contained (PhotoSet *ps, BtNet *net, const char * const *class_names, const BtPreprocess *prep,
                      BtBackbone *bb, const char *ref_path)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(BtModel) ref = bt_model_load (ref_path, &error);
  g_autoptr(BtModel) whole = NULL;
  g_autoptr(GPtrArray) ref_probs = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *whole_path = g_build_filename (ps->dir, "models", "whole.bottega-model", NULL);
  g_autofree char *onnx_ref = g_build_filename (ps->dir, "ref.onnx", NULL);
  g_autofree char *onnx_whole = g_build_filename (ps->dir, "whole.onnx", NULL);
  g_autofree char *bb_path = bt_backbone_find (BT_BACKBONE_DEFAULT, NULL);
  g_autofree char *empty = g_dir_make_tmp ("bottega-no-backbone-XXXXXX", NULL);
  g_autofree char *still = NULL;
  int k = bt_net_n_classes (net);
  GStatBuf st_ref, st_whole;

  g_assert_no_error (error);
  g_assert_nonnull (bb_path);
  g_assert_null (ref->backbone_data);
  for (guint i = 0; i < ps->held_out->len; i++)
    {
      float *p = bt_predict_file (ref, ps->held_out->pdata[i], &error);
      g_assert_no_error (error);
      g_ptr_array_add (ref_probs, p);
    }
  g_assert_true (bt_export_onnx (ref_path, bb_path, BT_ONNX_FORM_FAST, onnx_ref, &error));
  g_assert_no_error (error);

  g_assert_true (bt_model_save_full (whole_path, net, class_names, prep, bt_backbone_get_name (bb),
                                     bt_backbone_get_sha256 (bb), bt_backbone_get_bytes (bb), NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpint (g_stat (ref_path, &st_ref), ==, 0);
  g_assert_cmpint (g_stat (whole_path, &st_whole), ==, 0);
  g_assert_cmpint (st_whole.st_size, >=, st_ref.st_size + (gint64) g_bytes_get_size (bt_backbone_get_bytes (bb)));

  /* Out of reach: an empty backbone folder and no preferred file. */
  bt_backbone_set_search_dir (empty);
  bt_backbone_set_preferred_file (NULL);
  still = bt_backbone_find (BT_BACKBONE_DEFAULT, NULL);
  if (still == NULL)
    {
      g_autoptr(BtImage) img = bt_image_decode_file (ps->held_out->pdata[0], 3, NULL, NULL, &error);
      g_assert_no_error (error);
      g_assert_null (bt_transfer_predict_image (ref, img, &error));
      g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
      g_clear_error (&error);
    }
  else
    g_test_message ("%s is installed system-wide: the referenced model is not checked to fail", still);

  whole = bt_model_load (whole_path, &error);
  g_assert_no_error (error);
  g_assert_nonnull (whole->backbone_data);
  g_assert_cmpstr (whole->backbone_name, ==, bt_backbone_get_name (bb));
  g_assert_cmpstr (whole->backbone_sha256, ==, bt_backbone_get_sha256 (bb));
  g_assert_true (g_bytes_equal (whole->backbone_data, bt_backbone_get_bytes (bb)));
  for (guint i = 0; i < ps->held_out->len; i++)
    {
      g_autofree float *p = bt_predict_file (whole, ps->held_out->pdata[i], &error);
      g_assert_no_error (error);
      for (int c = 0; c < k; c++)
        g_assert_cmpfloat (p[c], ==, ((float *) ref_probs->pdata[i])[c]);
    }
  /* ONNX from the file alone, the same graph as from the referenced model + backbone file */
  g_assert_true (bt_export_onnx (whole_path, NULL, BT_ONNX_FORM_FAST, onnx_whole, &error));
  g_assert_no_error (error);
  g_assert_true (same_file_content (onnx_ref, onnx_whole));
  g_assert_false (bt_export_onnx (ref_path, NULL, BT_ONNX_FORM_FAST, onnx_whole, &error));
  g_assert_nonnull (error);
  g_clear_error (&error);

  bt_backbone_set_search_dir (NULL);
  g_remove (empty);
}

/* Where a backbone comes from: the chosen file first (when its name matches, and always for
 * training), then $BOTTEGA_BACKBONE_DIR, the user data dir, $XDG_DATA_DIRS; with a SHA-256 the
 * first candidate with that content wins. */
static void
test_resolution_order (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *root = g_dir_make_tmp ("bottega-resolve-XXXXXX", NULL);
  g_autofree char *env_dir = g_build_filename (root, "env", NULL);
  g_autofree char *pick_dir = g_build_filename (root, "picked", NULL);
  g_autofree char *env_file = g_build_filename (env_dir, "x.tflite", NULL);
  g_autofree char *pick_file = g_build_filename (pick_dir, "x.tflite", NULL);
  g_autofree char *env_default = g_build_filename (env_dir, BT_BACKBONE_DEFAULT, NULL);
  g_autofree char *other = g_build_filename (pick_dir, "other.tflite", NULL);
  g_autofree char *found = NULL;
  g_auto(GStrv) dirs = NULL;
  const char * const *sys = g_get_system_data_dirs ();

  g_mkdir_with_parents (env_dir, 0755);
  g_mkdir_with_parents (pick_dir, 0755);
  bt_backbone_set_search_dir (env_dir);
  bt_backbone_set_preferred_file (NULL);

  dirs = bt_backbone_search_path ();
  g_assert_cmpstr (dirs[0], ==, env_dir);
  {
    g_autofree char *user = g_build_filename (g_get_user_data_dir (), "bottega", "backbones", NULL);
    g_autofree char *first_sys = g_build_filename (sys[0], "bottega", "backbones", NULL);
    g_assert_cmpstr (dirs[1], ==, user);
    g_assert_cmpstr (dirs[2], ==, first_sys);
  }

  /* only the folders: nothing there yet */
  g_assert_null (bt_backbone_find ("x.tflite", &error));
  g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
  g_assert_nonnull (strstr (error->message, env_dir));
  g_clear_error (&error);
  g_assert_true (g_file_set_contents (env_file, "env", -1, NULL));
  found = bt_backbone_find ("x.tflite", &error);
  g_assert_cmpstr (found, ==, env_file);
  g_clear_pointer (&found, g_free);

  /* a chosen file of the same name comes first; one of another name is not that backbone */
  g_assert_true (g_file_set_contents (pick_file, "picked", -1, NULL));
  bt_backbone_set_preferred_file (pick_file);
  found = bt_backbone_find ("x.tflite", &error);
  g_assert_cmpstr (found, ==, pick_file);
  g_clear_pointer (&found, g_free);
  g_assert_true (g_file_set_contents (other, "other", -1, NULL));
  bt_backbone_set_preferred_file (other);
  found = bt_backbone_find ("x.tflite", &error);
  g_assert_cmpstr (found, ==, env_file);
  g_clear_pointer (&found, g_free);

  /* training uses the chosen file whatever its name; a vanished one is an error that says so */
  found = bt_backbone_find_for_training (&error);
  g_assert_cmpstr (found, ==, other);
  g_clear_pointer (&found, g_free);
  g_remove (other);
  g_assert_null (bt_backbone_find_for_training (&error));
  g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
  g_assert_nonnull (strstr (error->message, other));
  g_clear_error (&error);
  /* cleared: the default name on the search path */
  bt_backbone_set_preferred_file ("");
  g_assert_null (bt_backbone_dup_preferred_file ());
  g_assert_true (g_file_set_contents (env_default, "stand-in", -1, NULL));
  found = bt_backbone_find_for_training (&error);
  g_assert_no_error (error);
  g_assert_cmpstr (found, ==, env_default);
  g_clear_pointer (&found, g_free);

  /* With a SHA-256, a same-named file with other content earlier in the order is passed over. */
  {
    g_autofree char *v1 = bt_test_shared_file ("models", "mobilenet_v1_0.25_128_quant.tflite");
    g_autofree char *v1_sum = NULL;
    g_autofree char *v2_sum = NULL;
    g_autoptr(BtBackbone) bb = NULL;
    g_autoptr(BtBackbone) loaded = NULL;

    if (v1 == NULL)
      g_test_message ("MobileNet V1 0.25 not found: the SHA-256 order is not checked");
    else
      {
        g_autofree char *v1_bytes = NULL;
        gsize len;
        g_assert_true (g_file_get_contents (v1, &v1_bytes, &len, NULL));
        v1_sum = g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guchar *) v1_bytes, len);
        /* the env folder gets the real V1 file, the chosen file is a copy with one byte changed */
        g_remove (env_file);
        g_remove (pick_file);
        g_assert_true (g_file_set_contents (env_file, v1_bytes, len, NULL));
        v1_bytes[len - 1] ^= 1;
        g_assert_true (g_file_set_contents (pick_file, v1_bytes, len, NULL));
        v2_sum = g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guchar *) v1_bytes, len);
        bt_backbone_set_preferred_file (pick_file);
        bb = bt_backbone_get ("x.tflite", v1_sum, &error);
        g_assert_no_error (error);
        g_assert_cmpstr (bt_backbone_get_sha256 (bb), ==, v1_sum);
        g_assert_cmpint (bt_backbone_get_dim (bb), ==, 256);
        /* without a SHA-256 the first candidate wins, whatever it holds */
        loaded = bt_backbone_get ("x.tflite", NULL, &error);
        if (loaded != NULL)
          g_assert_cmpstr (bt_backbone_get_sha256 (loaded), ==, v2_sum);
        g_clear_error (&error);
        /* neither has it: said so */
        g_assert_null (bt_backbone_get ("x.tflite", "0000", &error));
        g_assert_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID);
        g_clear_error (&error);
      }
  }
  bt_backbone_set_preferred_file (NULL);
  bt_backbone_set_search_dir (NULL);
  g_remove (env_file);
  g_remove (pick_file);
  g_remove (env_default);
  g_rmdir (env_dir);
  g_rmdir (pick_dir);
  g_rmdir (root);
}

static void
test_transfer_head (void)
{
  PhotoSet ps = { 0 };
  g_autoptr(GError) error = NULL;
  g_autoptr(BtBackbone) bb = NULL;
  g_autoptr(BtEmbeddings) emb = NULL, again = NULL;
  g_autoptr(BtSplitView) train = NULL;
  g_autoptr(BtEmbBatcher) batcher = NULL;
  g_autoptr(BtNet) net = NULL;
  g_autoptr(BtOptimizer) opt = NULL;
  g_autoptr(BtModel) model = NULL;
  g_autofree char *models_dir = NULL, *model_path = NULL;
  g_autofree float *x = NULL;
  g_autofree int *labels = NULL;
  BtOptimizerConfig cfg;
  BtPreprocess prep;
  GListModel *classes;
  const char *class_names[5] = { NULL };
  gint64 t0;
  int dim;

  if (!have_fixtures ())
    {
      g_test_skip ("MobileNet V2 backbone or photos not found: set BOTTEGA_SHARED_DIR to the folder holding models/ and images/");
      return;
    }
  {
    g_autofree char *m = bt_test_shared_file ("models", BT_BACKBONE_DEFAULT);
    g_autofree char *dir = g_path_get_dirname (m);
    bt_backbone_set_search_dir (dir);
  }
  make_photo_set (&ps, 10, 3);

  bb = bt_backbone_get (BT_BACKBONE_DEFAULT, "7aad0c74c5e3c06e5eb3c827e13304fdd68a83da6087d92ee169c24ff9fd4776", &error);
  g_assert_no_error (error);
  dim = bt_backbone_get_dim (bb);
  g_assert_cmpint (dim, ==, 1280);
  g_assert_null (bt_backbone_get (BT_BACKBONE_DEFAULT, "00", &error));   /* wrong content */
  g_assert_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID);
  g_clear_error (&error);

  t0 = g_get_monotonic_time ();
  emb = bt_embeddings_build (ps.project, bb, BT_DS_RESIZE_SQUASH, TRUE, TRUE, 2, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_test_message ("embeddings: %u computed in %.1f s", bt_embeddings_n_computed (emb),
                  (g_get_monotonic_time () - t0) / 1e6);
  g_assert_cmpuint (bt_embeddings_n_failed (emb), ==, 0);
  g_assert_cmpuint (bt_embeddings_n_computed (emb), >, 40);

  /* A second build reads every embedding back from the cache, bit for bit. */
  again = bt_embeddings_build (ps.project, bb, BT_DS_RESIZE_SQUASH, TRUE, TRUE, 2, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (bt_embeddings_n_computed (again), ==, 0);
  for (guint i = 0; i < 40; i++)
    {
      g_assert_true (bt_embeddings_is_valid (again, i));
      g_assert_cmpmem (bt_embeddings_get (again, i, 0), sizeof (float) * dim,
                       bt_embeddings_get (emb, i, 0), sizeof (float) * dim);
    }

  /* The head: dense on the embeddings, trained for a few epochs on the train split's variants. */
  train = bt_project_split_view (ps.project, BT_SPLIT_TRAIN);
  g_assert_cmpuint (train->n, >, 20);
  batcher = bt_emb_batcher_new (emb, train, 16, TRUE, TRUE, 7);
  g_assert_cmpuint (bt_emb_batcher_n_samples (batcher), >, train->n);   /* augmented variants */
  net = bt_net_new_transfer (dim, 0, 4, 0.2f, 7, &error);
  g_assert_no_error (error);
  bt_optimizer_config_init (&cfg, BT_OPTIMIZER_ADAM);
  opt = bt_optimizer_new (net, &cfg);
  x = g_new (float, 16 * dim);
  labels = g_new (int, 16);
  for (int epoch = 0; epoch < 30; epoch++)
    {
      int k;
      bt_emb_batcher_start_epoch (batcher, epoch);
      while ((k = bt_emb_batcher_next (batcher, x, labels, NULL)) > 0)
        {
          double loss;
          int correct;
          g_assert_nonnull (bt_net_forward (net, x, k, TRUE, &error));
          bt_net_zero_grad (net);
          g_assert_true (bt_net_backward (net, labels, k, NULL, 0.f, &loss, &correct, &error));
          bt_optimizer_step (opt, net, 1e-3f);
        }
    }

  /* Saved with a reference to the backbone, loaded back, run from the held-out image files. */
  classes = bt_project_get_classes (ps.project);
  g_assert_cmpuint (g_list_model_get_n_items (classes), ==, 4);
  for (guint c = 0; c < 4; c++)
    {
      g_autoptr(BtClassInfo) info = g_list_model_get_item (classes, c);
      class_names[c] = bt_class_info_get_name (info);
    }
  bt_backbone_get_preprocess (bb, BT_DS_RESIZE_SQUASH, &prep);
  models_dir = g_build_filename (ps.dir, "models", NULL);
  g_mkdir_with_parents (models_dir, 0755);
  model_path = g_build_filename (models_dir, "transfer.bottega-model", NULL);
  g_assert_true (bt_model_save (model_path, net, class_names, &prep, bt_backbone_get_name (bb),
                                bt_backbone_get_sha256 (bb), NULL, &error));
  g_assert_no_error (error);
  model = bt_model_load (model_path, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (model->backbone_name, ==, BT_BACKBONE_DEFAULT);
  g_assert_cmpstr (model->backbone_sha256, ==, bt_backbone_get_sha256 (bb));

  for (guint i = 0; i < ps.held_out->len; i++)
    {
      const char *path = ps.held_out->pdata[i];
      int want = g_array_index (ps.held_labels, int, i);
      g_autoptr(BtImage) img = bt_image_decode_file (path, 3, NULL, NULL, &error);
      g_autofree float *p = NULL;
      int best = 0;
      g_assert_no_error (error);
      p = bt_transfer_predict_image (model, img, &error);
      g_assert_no_error (error);
      for (int c = 1; c < 4; c++)
        if (p[c] > p[best])
          best = c;
      g_assert_cmpstr (class_names[best], ==, sources[want][0]);
    }

  check_self_contained (&ps, net, class_names, &prep, bb, model_path);
  bt_test_rm_rf (ps.dir);
  photo_set_free (&ps);
}

typedef struct {
  GMainLoop *loop;
  GError    *error;
  gboolean   finished;
} RunState;

static void
on_trainer_finished (BtTrainer *trainer, const GError *error, RunState *rs)
{
  rs->finished = TRUE;
  if (error != NULL)
    rs->error = g_error_copy (error);
  g_main_loop_quit (rs->loop);
}

/* The pending give-up timeout: removed once its loop is done (a stale one would quit a later
 * test's freed loop). */
static guint give_up_id;

static gboolean
give_up (gpointer data)
{
  give_up_id = 0;
  g_main_loop_quit (data);
  return G_SOURCE_REMOVE;
}

/* The whole preset through BtTrainer (what the Train page runs): embeddings, then the head. */
static void
test_transfer_trainer (void)
{
  PhotoSet ps = { 0 };
  g_autoptr(GError) error = NULL;
  g_autoptr(BtTrainer) trainer = NULL;
  g_autoptr(BtModel) model = NULL;
  BtProjectSettings s = { 0 };
  RunState rs = { 0 };
  gint64 t0;

  if (!have_fixtures ())
    {
      g_test_skip ("MobileNet V2 backbone or photos not found: set BOTTEGA_SHARED_DIR to the folder holding models/ and images/");
      return;
    }
  {
    g_autofree char *m = bt_test_shared_file ("models", BT_BACKBONE_DEFAULT);
    g_autofree char *dir = g_path_get_dirname (m);
    bt_backbone_set_search_dir (dir);
  }
  make_photo_set (&ps, 8, 3);
  bt_project_settings_copy (&s, bt_project_get_settings (ps.project));
  g_free (s.preset);
  s.preset = g_strdup ("transfer");
  s.width = s.height = 224;
  s.channels = 3;
  s.epochs = 25;
  s.batch_size = 16;
  g_free (s.optimizer);
  s.optimizer = g_strdup ("adam");
  s.learning_rate = 1e-3;
  g_free (s.schedule);
  s.schedule = g_strdup ("constant");
  s.augment_flip = TRUE;
  s.augment_crop = FALSE;
  s.augment_rotate = s.augment_color = FALSE;
  s.early_stopping_patience = 0;
  s.restore_best = FALSE;
  s.seed = 7;
  g_free (s.recipe);
  s.recipe = g_strdup ("manual");
  g_assert_true (bt_project_update_settings (ps.project, &s, &error));
  g_assert_no_error (error);
  bt_project_settings_clear (&s);

  trainer = bt_trainer_new (ps.project);
  rs.loop = g_main_loop_new (NULL, FALSE);
  g_signal_connect (trainer, "finished", G_CALLBACK (on_trainer_finished), &rs);
  t0 = g_get_monotonic_time ();
  g_assert_true (bt_trainer_start (trainer, NULL, &error));
  g_assert_no_error (error);
  give_up_id = g_timeout_add_seconds (100, give_up, rs.loop);
  g_main_loop_run (rs.loop);
  g_clear_handle_id (&give_up_id, g_source_remove);
  g_assert_true (rs.finished);
  g_assert_no_error (rs.error);
  g_test_message ("transfer run (embeddings + head): %.1f s", (g_get_monotonic_time () - t0) / 1e6);

  model = bt_model_load (bt_trainer_get_best_model_path (trainer), &error);
  g_assert_no_error (error);
  g_assert_cmpstr (model->backbone_name, ==, BT_BACKBONE_DEFAULT);
  for (guint i = 0; i < ps.held_out->len; i++)
    {
      int want = g_array_index (ps.held_labels, int, i), best = 0;
      g_autofree float *p = bt_predict_file (model, ps.held_out->pdata[i], &error);
      g_assert_no_error (error);
      for (int c = 1; c < 4; c++)
        if (p[c] > p[best])
          best = c;
      g_assert_cmpstr (model->class_names[best], ==, sources[want][0]);
    }
  g_main_loop_unref (rs.loop);
  bt_test_rm_rf (ps.dir);
  photo_set_free (&ps);
}

static void
set_transfer_settings (BtProject *project, int epochs, gboolean flip, int hidden, gboolean whole)
{
  g_autoptr(GError) error = NULL;
  BtProjectSettings s = { 0 };

  bt_project_settings_copy (&s, bt_project_get_settings (project));
  g_free (s.preset);
  s.preset = g_strdup ("transfer");
  s.width = s.height = 224;
  s.channels = 3;
  s.epochs = epochs;
  s.batch_size = 16;
  g_free (s.optimizer);
  s.optimizer = g_strdup ("adam");
  s.learning_rate = 1e-3;
  g_free (s.schedule);
  s.schedule = g_strdup ("constant");
  s.augment_flip = flip;
  s.augment_crop = s.augment_rotate = s.augment_color = FALSE;
  s.early_stopping_patience = 0;
  s.restore_best = FALSE;
  s.seed = 7;
  g_free (s.recipe);
  s.recipe = g_strdup ("manual");   /* these tests train exactly the settings they set */
  s.transfer_hidden = hidden;
  s.transfer_whole_network = whole;
  g_assert_true (bt_project_update_settings (project, &s, &error));
  g_assert_no_error (error);
  bt_project_settings_clear (&s);
}

static void
use_shared_backbone_dir (void)
{
  g_autofree char *m = bt_test_shared_file ("models", BT_BACKBONE_DEFAULT);
  g_autofree char *dir = g_path_get_dirname (m);
  bt_backbone_set_search_dir (dir);
  bt_backbone_set_preferred_file (NULL);
}

/* A head with a hidden layer, from the project's settings (project.ini and back), trained
 * through BtTrainer, saved with the whole network, loaded and run. */
static void
test_transfer_hidden (void)
{
  PhotoSet ps = { 0 };
  g_autoptr(GError) error = NULL;
  g_autoptr(BtTrainer) trainer = NULL;
  g_autoptr(BtModel) model = NULL;
  g_autoptr(BtProject) reopened = NULL;
  g_autofree char *config = NULL, *config_text = NULL;
  RunState rs = { 0 };
  guint right = 0;

  if (!have_fixtures ())
    {
      g_test_skip ("MobileNet V2 backbone or photos not found: set BOTTEGA_SHARED_DIR to the folder holding models/ and images/");
      return;
    }
  use_shared_backbone_dir ();
  make_photo_set (&ps, 6, 2);
  set_transfer_settings (ps.project, 12, FALSE, 128, TRUE);
  g_assert_true (bt_project_flush (ps.project, &error));  /* saves run on a writer thread */
  reopened = bt_project_open (ps.dir, &error);   /* the settings went through project.ini */
  g_assert_no_error (error);
  g_assert_cmpint (bt_project_get_settings (reopened)->transfer_hidden, ==, 128);
  g_assert_true (bt_project_get_settings (reopened)->transfer_whole_network);

  trainer = bt_trainer_new (reopened);
  rs.loop = g_main_loop_new (NULL, FALSE);
  g_signal_connect (trainer, "finished", G_CALLBACK (on_trainer_finished), &rs);
  g_assert_true (bt_trainer_start (trainer, NULL, &error));
  g_assert_no_error (error);
  give_up_id = g_timeout_add_seconds (100, give_up, rs.loop);
  g_main_loop_run (rs.loop);
  g_clear_handle_id (&give_up_id, g_source_remove);
  g_assert_true (rs.finished);
  g_assert_no_error (rs.error);

  /* the run's own config records both, for resume */
  config = g_build_filename (bt_trainer_get_run_dir (trainer), "config.ini", NULL);
  g_assert_true (g_file_get_contents (config, &config_text, NULL, NULL));
  g_assert_nonnull (strstr (config_text, "transfer-hidden=128"));
  g_assert_nonnull (strstr (config_text, "transfer-whole-network=true"));

  model = bt_model_load (bt_trainer_get_best_model_path (trainer), &error);
  g_assert_no_error (error);
  g_assert_cmpint (bt_net_hidden (model->net), ==, 128);
  g_assert_nonnull (model->backbone_data);
  {
    g_autofree char *sum = g_compute_checksum_for_bytes (G_CHECKSUM_SHA256, model->backbone_data);
    g_assert_cmpstr (sum, ==, model->backbone_sha256);
  }
  for (guint i = 0; i < ps.held_out->len; i++)
    {
      int want = g_array_index (ps.held_labels, int, i), best = 0;
      g_autofree float *p = bt_predict_file (model, ps.held_out->pdata[i], &error);
      g_assert_no_error (error);
      for (int c = 1; c < 4; c++)
        if (p[c] > p[best])
          best = c;
      right += g_strcmp0 (model->class_names[best], sources[want][0]) == 0;
    }
  g_test_message ("hidden-layer head: %u of %u held-out crops right", right, ps.held_out->len);
  g_assert_cmpuint (right, >=, ps.held_out->len * 3 / 4);
  g_main_loop_unref (rs.loop);
  bt_test_rm_rf (ps.dir);
  photo_set_free (&ps);
}

typedef struct {
  GMainLoop     *loop;
  BtTrainer     *trainer;
  gboolean       saw_paused;
  guint          last_done;       /* embedding progress: images embedded so far */
  guint          reports;         /* embedding progress reports received */
  gboolean       in_prep;
  GError        *error;
  gboolean       finished;
} PauseState;

static void
pause_on_step (BtTrainer *trainer, const BtStepInfo *info, PauseState *ps)
{
  if (info->epoch == 0)
    {
      ps->last_done = info->step;
      ps->reports++;
    }
}

static void
pause_on_state (BtTrainer *trainer, PauseState *ps)
{
  if (bt_trainer_get_state (trainer) == BT_TRAINER_PAUSED)
    {
      ps->saw_paused = TRUE;
      g_main_loop_quit (ps->loop);
    }
}

static void
pause_on_finished (BtTrainer *trainer, const GError *error, PauseState *ps)
{
  ps->finished = TRUE;
  if (error != NULL)
    ps->error = g_error_copy (error);
  g_main_loop_quit (ps->loop);
}

/* Waits for n more embedding progress reports: the trainer thread polls the embedding workers
 * and reports even while they are parked, so this counts hand-offs from the worker, not time. */
static void
wait_reports (PauseState *st, guint n)
{
  guint until = st->reports + n;
  BT_TEST_WAIT (st->reports >= until || st->finished);
  g_assert_false (st->finished);
}

/* Pause, resume and stop while the embeddings are computed, not only while the head trains. */
static void
test_transfer_pause (void)
{
  PhotoSet ps = { 0 };
  g_autoptr(GError) error = NULL;
  g_autoptr(BtTrainer) trainer = NULL;
  g_autoptr(BtTrainer) second = NULL;
  PauseState st = { 0 };
  guint held;

  if (!have_fixtures ())
    {
      g_test_skip ("MobileNet V2 backbone or photos not found: set BOTTEGA_SHARED_DIR to the folder holding models/ and images/");
      return;
    }
  use_shared_backbone_dir ();
  make_photo_set (&ps, 5, 0);
  set_transfer_settings (ps.project, 3, FALSE, 0, FALSE);

  trainer = bt_trainer_new (ps.project);
  st.loop = g_main_loop_new (NULL, FALSE);
  g_signal_connect (trainer, "step", G_CALLBACK (pause_on_step), &st);
  g_signal_connect (trainer, "state-changed", G_CALLBACK (pause_on_state), &st);
  g_signal_connect (trainer, "finished", G_CALLBACK (pause_on_finished), &st);
  g_assert_true (bt_trainer_start (trainer, NULL, &error));
  g_assert_no_error (error);
  /* paused before the first image is embedded: the embedding phase says PAUSED */
  bt_trainer_pause (trainer);
  give_up_id = g_timeout_add_seconds (60, give_up, st.loop);
  while (!st.saw_paused && !st.finished)
    g_main_loop_run (st.loop);
  g_assert_false (st.finished);
  g_assert_cmpint (bt_trainer_get_state (trainer), ==, BT_TRAINER_PAUSED);
  /* no image is embedded while paused (one started before the pause may still finish) */
  wait_reports (&st, 5);
  held = st.last_done;
  wait_reports (&st, 5);
  g_assert_cmpuint (st.last_done, ==, held);
  g_assert_cmpuint (held, <, 20);
  g_assert_null (bt_trainer_get_best_model_path (trainer));

  /* resumed, the run embeds everything and trains to the end */
  bt_trainer_resume (trainer);
  while (!st.finished)
    g_main_loop_run (st.loop);
  g_assert_no_error (st.error);
  g_assert_cmpuint (st.last_done, ==, 20);
  g_clear_handle_id (&give_up_id, g_source_remove);
  g_assert_nonnull (bt_trainer_get_best_model_path (trainer));

  /* Stop while paused in the embedding phase (a fresh project: nothing comes from its cache). */
  bt_test_rm_rf (ps.dir);
  photo_set_free (&ps);
  make_photo_set (&ps, 5, 0);
  set_transfer_settings (ps.project, 3, FALSE, 0, FALSE);
  memset (&st, 0, sizeof st);
  st.loop = g_main_loop_new (NULL, FALSE);
  second = bt_trainer_new (ps.project);
  g_signal_connect (second, "step", G_CALLBACK (pause_on_step), &st);
  g_signal_connect (second, "state-changed", G_CALLBACK (pause_on_state), &st);
  g_signal_connect (second, "finished", G_CALLBACK (pause_on_finished), &st);
  g_assert_true (bt_trainer_start (second, NULL, &error));
  bt_trainer_pause (second);
  while (!st.saw_paused && !st.finished)
    g_main_loop_run (st.loop);
  g_assert_false (st.finished);
  bt_trainer_stop (second);
  while (!st.finished)
    g_main_loop_run (st.loop);
  g_assert_error (st.error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_CANCELLED);
  g_assert_null (bt_trainer_get_best_model_path (second));
  g_clear_error (&st.error);
  g_main_loop_unref (st.loop);
  bt_test_rm_rf (ps.dir);
  photo_set_free (&ps);
}

/* Re-seals a model file's bytes after an edit (the trailing SHA-256), so that the loader's
 * own checks, not the checksum, must refuse it. */
static GBytes *
reseal (guint8 *buf, gsize len)
{
  gsize dlen = 32;
  g_autoptr(GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  g_checksum_update (sum, buf, len - 32);
  g_checksum_get_digest (sum, buf + len - 32, &dlen);
  return g_bytes_new (buf, len);
}

static guint8 *
find_bytes (guint8 *buf, gsize len, const char *needle)
{
  gsize n = strlen (needle);
  for (gsize i = 0; i + n <= len; i++)
    if (memcmp (buf + i, needle, n) == 0)
      return buf + i;
  return NULL;
}

/* The format of self-contained models (version 2, a u8 blob) and the loader's checks on it. */
static void
test_whole_network_format (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(BtNet) head = bt_net_new_transfer (8, 4, 3, 0.f, 1, &error);
  g_autoptr(BtNet) cnn = bt_net_new_preset (BT_PRESET_MLP, 8, 8, 1, 3, 0.f, 1, &error);
  const char *names[] = { "a", "b", "c", NULL };
  /* 100 to 999 bytes, so that its length has three digits (see below) */
  const char blob_text[] = "stand-in for a backbone file; the model loader does not parse it, "
                           "it only checks it against its SHA-256";
  g_autoptr(GBytes) blob = g_bytes_new_static (blob_text, sizeof blob_text);
  g_autofree char *sha = g_compute_checksum_for_bytes (G_CHECKSUM_SHA256, blob);
  g_autoptr(GBytes) v1 = NULL, v2 = NULL;
  g_autoptr(BtModel) m1 = NULL, m2 = NULL;
  g_autofree guint8 *buf = NULL;
  gsize len;
  guint32 version;
  BtPreprocess prep;

  g_assert_no_error (error);
  bt_preprocess_init_default (&prep, 32, 32, 3);
  v1 = bt_model_save_to_bytes (head, names, &prep, "bb.tflite", sha, NULL, &error);
  g_assert_no_error (error);
  v2 = bt_model_save_to_bytes_full (head, names, &prep, "bb.tflite", NULL, blob, NULL, &error);
  g_assert_no_error (error);
  memcpy (&version, (const guint8 *) g_bytes_get_data (v1, NULL) + 8, 4);
  g_assert_cmpuint (GUINT32_FROM_LE (version), ==, 1);   /* referenced models stay version 1 */
  memcpy (&version, (const guint8 *) g_bytes_get_data (v2, NULL) + 8, 4);
  g_assert_cmpuint (GUINT32_FROM_LE (version), ==, 2);

  m1 = bt_model_load_bytes (v1, &error);
  g_assert_no_error (error);
  g_assert_null (m1->backbone_data);
  m2 = bt_model_load_bytes (v2, &error);
  g_assert_no_error (error);
  g_assert_true (g_bytes_equal (m2->backbone_data, blob));
  g_assert_cmpstr (m2->backbone_sha256, ==, sha);        /* filled in from the content */
  g_assert_cmpint (bt_net_hidden (m2->net), ==, 4);

  /* Refused when saving: a blob that is not the named content, a blob in a non-transfer model. */
  g_assert_null (bt_model_save_to_bytes_full (head, names, &prep, "bb.tflite",
                                               "0000000000000000000000000000000000000000000000000000000000000000",
                                               blob, NULL, &error));
  g_assert_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_null (bt_model_save_to_bytes_full (cnn, names, NULL, "bb.tflite", NULL, blob, NULL, &error));
  g_assert_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID);
  g_clear_error (&error);

  /* Hostile files, re-sealed so that only the loader's own checks stand in the way. */
  len = g_bytes_get_size (v2);
  buf = g_memdup2 (g_bytes_get_data (v2, NULL), len);
  {
    /* a blob whose content is not what the header's SHA-256 says */
    g_autofree guint8 *b = g_memdup2 (buf, len);
    g_autoptr(GBytes) bad = NULL;
    guint8 *at = find_bytes (b, len, "stand-in");
    g_assert_nonnull (at);
    at[0] ^= 1;
    bad = reseal (b, len);
    g_assert_null (bt_model_load_bytes (bad, &error));
    g_assert_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_CORRUPT);
    g_assert_nonnull (strstr (error->message, "SHA-256"));
    g_clear_error (&error);
  }
  {
    /* a u8 tensor in a version 1 file */
    g_autofree guint8 *b = g_memdup2 (buf, len);
    g_autoptr(GBytes) bad = NULL;
    guint32 one = GUINT32_TO_LE (1);
    memcpy (b + 8, &one, 4);
    bad = reseal (b, len);
    g_assert_null (bt_model_load_bytes (bad, &error));
    g_assert_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_CORRUPT);
    g_clear_error (&error);
  }
  {
    /* a version from the future (3 is a fine-tuned model's) */
    g_autofree guint8 *b = g_memdup2 (buf, len);
    g_autoptr(GBytes) bad = NULL;
    guint32 four = GUINT32_TO_LE (4);
    memcpy (b + 8, &four, 4);
    bad = reseal (b, len);
    g_assert_null (bt_model_load_bytes (bad, &error));
    g_assert_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_UNSUPPORTED);
    g_clear_error (&error);
  }
  {
    /* the blob's length grown past the data block */
    g_autofree guint8 *b = g_memdup2 (buf, len);
    g_autoptr(GBytes) bad = NULL;
    g_autofree char *shape = g_strdup_printf ("shape=%u;", (guint) sizeof blob_text);
    guint8 *at = find_bytes (b, len, shape);
    g_assert_nonnull (at);
    at[6] = '9';
    bad = reseal (b, len);
    g_assert_null (bt_model_load_bytes (bad, &error));
    g_assert_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_CORRUPT);
    g_assert_nonnull (strstr (error->message, "outside the data block"));
    g_clear_error (&error);
  }
  {
    /* the blob's dtype turned to f32le: it must not be read as weights, nor as a backbone */
    g_autofree guint8 *b = g_memdup2 (buf, len);
    g_autoptr(GBytes) bad = NULL;
    guint8 *at = find_bytes (b, len, "dtype=u8\n");
    g_assert_nonnull (at);
    /* same length: "u8" → "f3" is not a type at all */
    at[6] = 'f';
    at[7] = '3';
    bad = reseal (b, len);
    g_assert_null (bt_model_load_bytes (bad, &error));
    g_assert_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_CORRUPT);
    g_clear_error (&error);
  }
}

/* ---- Fine-tuning the backbone's top blocks (#27) ---- */

static void
set_finetune (BtProject *project, int blocks, int epochs, double dropout)
{
  g_autoptr(GError) error = NULL;
  BtProjectSettings s = { 0 };

  set_transfer_settings (project, epochs, TRUE, 0, FALSE);
  bt_project_settings_copy (&s, bt_project_get_settings (project));
  s.transfer_finetune_blocks = blocks;
  s.dropout = dropout;
  g_assert_true (bt_project_update_settings (project, &s, &error));
  g_assert_no_error (error);
  bt_project_settings_clear (&s);
}

/* Trains (or resumes) to the end; the run folder and the model file. */
static void
run_to_end (BtProject *project, const char *resume_dir, char **run_dir, char **model_path)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(BtTrainer) trainer = bt_trainer_new (project);
  RunState rs = { 0 };

  rs.loop = g_main_loop_new (NULL, FALSE);
  g_signal_connect (trainer, "finished", G_CALLBACK (on_trainer_finished), &rs);
  gboolean started = bt_trainer_start (trainer, resume_dir, &error);
  g_assert_no_error (error);   /* (first: its message says why) */
  g_assert_true (started);
  give_up_id = g_timeout_add_seconds (200, give_up, rs.loop);
  g_main_loop_run (rs.loop);
  /* a timeout left pending would quit a freed loop later in the process */
  g_clear_handle_id (&give_up_id, g_source_remove);
  g_assert_true (rs.finished);
  g_assert_no_error (rs.error);
  *run_dir = g_strdup (bt_trainer_get_run_dir (trainer));
  *model_path = g_strdup (bt_trainer_get_best_model_path (trainer));
  g_main_loop_unref (rs.loop);
}

/* bottega-cli predict's probabilities (8 decimals) for one image, in class order. */
static void
cli_predict (const char *model, const char *image, int k, double *p)
{
  const char *root = g_getenv ("BOTTEGA_BUILD_ROOT");
  g_autofree char *cli = g_build_filename (root != NULL ? root : ".", "src", "cli", "bottega-cli", NULL);
  const char *argv[] = { cli, "predict", model, image, NULL };
  g_autofree char *out = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) envp = g_environ_setenv (g_get_environ (), "LANGUAGE", "C", TRUE);
  g_autoptr(BtModel) m = bt_model_load (model, &error);
  int status;

  g_assert_true (g_spawn_sync (NULL, (char **) argv, envp, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out,
                               NULL, &status, &error));
  g_assert_no_error (error);
  for (int c = 0; c < k; c++)
    {
      /* "<class> <probability>" lines, best first */
      g_autofree char *needle = g_strdup_printf ("%s ", m->class_names[c]);
      const char *at = strstr (out, needle);
      g_assert_nonnull (at);
      p[c] = g_ascii_strtod (at + strlen (needle), NULL);
    }
}

/* The head alone, then the last two blocks and the head: the first stage is exactly the frozen
 * run's, the second lowers the training loss below the frozen head trained as long, and the
 * whole-network model predicts the same in-process, after a reload and in bottega-cli. */
static void
test_finetune (void)
{
  PhotoSet ps = { 0 };
  g_autoptr(GError) error = NULL;
  g_autofree char *frozen_dir = NULL, *frozen_model = NULL, *ft_dir = NULL, *ft_model = NULL;

  if (!have_fixtures ())
    {
      g_test_skip ("MobileNet V2 backbone or photos not found: set BOTTEGA_SHARED_DIR to the folder holding models/ and images/");
      return;
    }
  use_shared_backbone_dir ();
  make_photo_set (&ps, 8, 3);
  /* frozen for 4 + 2 epochs; then 4 frozen + 2 fine-tuned (the second stage's length for 4) */
  set_finetune (ps.project, 0, 6, 0);
  run_to_end (ps.project, NULL, &frozen_dir, &frozen_model);
  set_finetune (ps.project, 2, 4, 0);
  run_to_end (ps.project, NULL, &ft_dir, &ft_model);

  g_autoptr(GArray) rf = bt_run_files_read_metrics (frozen_dir);
  g_autoptr(GArray) rt = bt_run_files_read_metrics (ft_dir);
  g_assert_cmpuint (rf->len, ==, 6);
  g_assert_cmpuint (rt->len, ==, 6);
  for (guint i = 0; i < 4; i++)
    {
      const BtEpochInfo *a = &g_array_index (rf, BtEpochInfo, i), *b = &g_array_index (rt, BtEpochInfo, i);
      g_assert_cmpfloat (a->train_loss, ==, b->train_loss);
      g_assert_cmpfloat (a->val_loss, ==, b->val_loss);
    }
  g_test_message ("train loss after 6 epochs: frozen %.4f, fine-tuned %.4f",
                  g_array_index (rf, BtEpochInfo, 5).train_loss, g_array_index (rt, BtEpochInfo, 5).train_loss);
  g_assert_cmpfloat (g_array_index (rt, BtEpochInfo, 5).train_loss, <, g_array_index (rf, BtEpochInfo, 5).train_loss);

  /* a whole-network model carrying the two blocks and the 1×1 convolution after them */
  g_autoptr(BtModel) model = bt_model_load (ft_model, &error);
  g_assert_no_error (error);
  g_assert_nonnull (model->backbone_data);
  g_assert_nonnull (model->backbone_weights);
  g_assert_cmpuint (model->backbone_weights->len, ==, 7);
  g_autoptr(BtModel) frozen = bt_model_load (frozen_model, &error);
  g_assert_null (frozen->backbone_weights);
  {
    /* bottega-cli info says so */
    const char *root = g_getenv ("BOTTEGA_BUILD_ROOT");
    g_autofree char *cli = g_build_filename (root != NULL ? root : ".", "src", "cli", "bottega-cli", NULL);
    const char *argv[] = { cli, "info", ft_model, NULL };
    g_auto(GStrv) envp = g_environ_setenv (g_get_environ (), "LANGUAGE", "C", TRUE);
    g_autofree char *out = NULL;
    g_assert_true (g_spawn_sync (NULL, (char **) argv, envp, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out, NULL,
                                 NULL, &error));
    g_assert_nonnull (strstr (out, "fine-tuned: 7 of its operators have the weights stored here"));
  }
  for (guint i = 0; i < ps.held_out->len; i += 3)
    {
      g_autofree float *p = bt_predict_file (model, ps.held_out->pdata[i], &error);
      g_assert_no_error (error);
      g_autoptr(BtModel) again = bt_model_load (ft_model, &error);
      g_autofree float *q = bt_predict_file (again, ps.held_out->pdata[i], &error);
      g_assert_no_error (error);
      double c[4];
      cli_predict (ft_model, ps.held_out->pdata[i], 4, c);
      for (int k = 0; k < 4; k++)
        {
          g_assert_cmpfloat (p[k], ==, q[k]);
          g_assert_cmpfloat_with_epsilon (p[k], c[k], 1e-7);
        }
    }
  bt_test_rm_rf (ps.dir);
  photo_set_free (&ps);
}

static void
exit_after_epoch (int epoch, gpointer data)
{
  if (epoch == GPOINTER_TO_INT (data))
    _exit (0);
}

/* Killed right after the second stage's first epoch, resumed: the same model as without. */
static void
test_finetune_resume (void)
{
  /* the child learns the project's folder from a file named after the parent */
  g_autofree char *note = g_strdup_printf ("%s/bottega-ft-resume-%d", g_get_tmp_dir (),
                                           g_test_subprocess () ? (int) getppid () : (int) getpid ());
  g_autofree char *dir = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *run_a = NULL, *model_a = NULL, *run_b = NULL, *model_b = NULL;

  if (!have_fixtures ())
    {
      g_test_skip ("MobileNet V2 backbone or photos not found: set BOTTEGA_SHARED_DIR to the folder holding models/ and images/");
      return;
    }
  use_shared_backbone_dir ();
  if (g_test_subprocess ())
    {
      g_assert_true (g_file_get_contents (note, &dir, NULL, NULL));
      g_autoptr(BtProject) p = bt_project_open (dir, &error);
      g_autoptr(BtTrainer) trainer = bt_trainer_new (p);
      RunState rs = { 0 };
      g_assert_no_error (error);
      bt_trainer_set_checkpoint_hook (trainer, exit_after_epoch, GINT_TO_POINTER (5));
      rs.loop = g_main_loop_new (NULL, FALSE);
      g_signal_connect (trainer, "finished", G_CALLBACK (on_trainer_finished), &rs);
      g_assert_true (bt_trainer_start (trainer, NULL, &error));
      g_assert_no_error (error);
      g_main_loop_run (rs.loop);
      /* the run ended without the second stage's first epoch: say how (the parent prints it) */
      g_printerr ("the run finished before epoch 5: %s\n", rs.error != NULL ? rs.error->message : "no error");
      g_assert_not_reached ();
    }
  PhotoSet ps = { 0 };
  make_photo_set (&ps, 6, 0);
  /* with dropout: its generator is in the checkpoint, so the resumed masks are the same ones */
  set_finetune (ps.project, 1, 4, 0.3);
  dir = g_strdup (ps.dir);
  g_assert_true (g_file_set_contents (note, dir, -1, NULL));
  g_clear_object (&ps.project);
  /* the child's stderr goes to the test's: a failure there is seen in meson's log */
  g_test_trap_subprocess (NULL, 200 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();

  g_autoptr(BtProject) project = bt_project_open (dir, &error);
  g_assert_no_error (error);
  g_autofree char *resume_dir = bt_trainer_find_resumable_run (project);
  g_assert_nonnull (resume_dir);
  g_autofree char *state = g_build_filename (resume_dir, "finetune.state", NULL);
  g_assert_true (g_file_test (state, G_FILE_TEST_IS_REGULAR));
  run_to_end (project, resume_dir, &run_a, &model_a);
  run_to_end (project, NULL, &run_b, &model_b);

  g_autoptr(GArray) ra = bt_run_files_read_metrics (run_a);
  g_autoptr(GArray) rb = bt_run_files_read_metrics (run_b);
  g_assert_cmpuint (ra->len, ==, rb->len);
  g_assert_cmpuint (ra->len, ==, 6);
  for (guint i = 0; i < ra->len; i++)
    g_assert_cmpfloat (g_array_index (ra, BtEpochInfo, i).train_loss, ==, g_array_index (rb, BtEpochInfo, i).train_loss);
  g_autoptr(BtModel) a = bt_model_load (model_a, &error);
  g_autoptr(BtModel) b = bt_model_load (model_b, &error);
  g_assert_no_error (error);
  g_assert_nonnull (a->backbone_weights);
  g_assert_cmpuint (a->backbone_weights->len, ==, b->backbone_weights->len);
  for (guint i = 0; i < a->backbone_weights->len; i++)
    {
      const BtBackboneWeights *x = &g_array_index (a->backbone_weights, BtBackboneWeights, i);
      const BtBackboneWeights *y = &g_array_index (b->backbone_weights, BtBackboneWeights, i);
      g_assert_cmpint (x->op, ==, y->op);
      g_assert_cmpmem (x->w, sizeof (float) * x->shape[0] * x->shape[1] * x->shape[2] * x->shape[3],
                       y->w, sizeof (float) * y->shape[0] * y->shape[1] * y->shape[2] * y->shape[3]);
    }
  g_clear_object (&project);
  bt_test_rm_rf (dir);
  g_unlink (note);
  g_ptr_array_unref (ps.held_out);
  g_array_unref (ps.held_labels);
  g_free (ps.dir);
}

static gboolean
same_choice (const BtRecipeChoice *a, const BtRecipeChoice *b)
{
  return a->chosen == b->chosen && a->flip == b->flip && a->tta == b->tta && a->learning_rate == b->learning_rate && a->weight_decay == b->weight_decay &&
         a->label_smoothing == b->label_smoothing && a->hidden == b->hidden && a->epochs == b->epochs &&
         a->cv_acc == b->cv_acc && a->cv_loss == b->cv_loss && a->base_acc == b->base_acc && a->k == b->k &&
         a->n_tried == b->n_tried;
}

static void
on_recipe_message (BtTrainer *trainer, const char *message, GPtrArray *messages)
{
  g_ptr_array_add (messages, g_strdup (message));
}

/* The Automatic recipe: the same data, settings and seed give the same choice; a row the person
 * set stays theirs; a trainer run with recipe=auto makes that very choice, says it, records it
 * and trains with it. */
static void
test_recipe (void)
{
  PhotoSet ps = { 0 };
  g_autoptr(GError) error = NULL;
  g_autoptr(BtBackbone) bb = NULL;
  g_autoptr(BtEmbeddings) emb = NULL;
  g_autoptr(BtSplitView) train = NULL;
  g_autoptr(BtTrainer) trainer = NULL;
  g_autoptr(BtModel) model = NULL;
  g_autoptr(GPtrArray) messages = g_ptr_array_new_with_free_func (g_free);
  g_autofree guint64 *hashes = NULL;
  g_autofree char *line = NULL, *pinned_line = NULL;
  BtRecipeChoice a, b, pinned, read, saved;
  BtProjectSettings s = { 0 }, run = { 0 };
  GListModel *items;
  RunState rs = { 0 };
  int n_split[BT_N_SPLITS];

  if (!have_fixtures ())
    {
      g_test_skip ("MobileNet V2 backbone or photos not found: set BOTTEGA_SHARED_DIR to the folder holding models/ and images/");
      return;
    }
  use_shared_backbone_dir ();
  make_photo_set (&ps, 10, 0);
  set_transfer_settings (ps.project, 20, FALSE, 0, FALSE);
  bt_project_settings_copy (&s, bt_project_get_settings (ps.project));
  g_free (s.recipe);
  s.recipe = g_strdup ("auto");
  s.learning_rate = 0.001;   /* the table's defaults: every field is the recipe's */
  s.batch_size = 32;
  g_assert_true (bt_project_update_settings (ps.project, &s, &error));
  g_assert_true (bt_recipe_applies (&s));
  g_assert_cmpuint (bt_recipe_free_fields (&s), ==, BT_RECIPE_ALL_FIELDS);

  bb = bt_backbone_get (BT_BACKBONE_DEFAULT, NULL, &error);
  g_assert_no_error (error);
  /* the mirrored training photos too, as the trainer computes them for the recipe */
  emb = bt_embeddings_build (ps.project, bb, BT_DS_RESIZE_SQUASH, TRUE, FALSE, 2, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  train = bt_project_split_view (ps.project, BT_SPLIT_TRAIN);
  items = bt_project_get_items (ps.project);
  hashes = g_new (guint64, g_list_model_get_n_items (items));
  for (guint i = 0; i < g_list_model_get_n_items (items); i++)
    {
      g_autoptr(BtItem) it = g_list_model_get_item (items, i);
      hashes[i] = bt_item_get_hash (it);
    }

  g_assert_true (bt_recipe_search (emb, train, hashes, 4, &s, NULL, NULL, NULL, &a, &error));
  g_assert_no_error (error);
  g_assert_true (bt_recipe_search (emb, train, hashes, 4, &s, NULL, NULL, NULL, &b, &error));
  g_assert_true (same_choice (&a, &b));
  g_test_message ("recipe: lr %g wd %g ls %g hidden %d flip %d tta %d epochs %d, k-fold %.3f (defaults %.3f), "
                  "%d tried in %.1f s", a.learning_rate, a.weight_decay, a.label_smoothing, a.hidden, a.flip, a.tta,
                  a.epochs, a.cv_acc, a.base_acc, a.n_tried, a.seconds);
  g_assert_cmpuint (a.chosen, ==, BT_RECIPE_ALL_FIELDS);
  g_assert_cmpint (a.k, ==, BT_RECIPE_FOLDS);
  g_assert_cmpint (a.n_tried, >=, 6);
  g_assert_cmpint (a.n_tried, <=, 12);
  g_assert_cmpfloat (a.cv_acc, >=, a.base_acc);   /* the defaults are one of the settings tried */
  g_assert_cmpint (a.epochs, >=, 5);
  g_assert_cmpint (a.epochs, <=, 40);
  line = bt_recipe_describe (&a);
  g_assert_nonnull (strstr (line, "learning rate"));
  g_assert_nonnull (strstr (line, "epoch"));

  /* the person's learning rate wins */
  s.learning_rate = 0.01;
  g_assert_true (bt_recipe_search (emb, train, hashes, 4, &s, NULL, NULL, NULL, &pinned, &error));
  g_assert_cmpuint (pinned.chosen, ==, BT_RECIPE_ALL_FIELDS & ~BT_RECIPE_LEARNING_RATE);
  bt_recipe_apply (&pinned, &s);
  g_assert_cmpfloat (s.learning_rate, ==, 0.01);
  g_assert_cmpint (s.epochs, ==, pinned.epochs);
  /* the person's augmentation too: with crops asked for, the recipe leaves flips alone */
  s.augment_flip = FALSE;
  g_assert_cmpuint (bt_recipe_free_fields (&s) & BT_RECIPE_FLIP, ==, BT_RECIPE_FLIP);
  s.augment_crop = TRUE;
  g_assert_cmpuint (bt_recipe_free_fields (&s) & BT_RECIPE_FLIP, ==, 0);
  s.augment_crop = FALSE;
  pinned_line = bt_recipe_describe (&pinned);
  g_assert_null (strstr (pinned_line, "learning rate"));
  bt_project_settings_clear (&s);

  /* the trainer: the same choice, said, recorded in recipe.ini and config.ini, and used */
  trainer = bt_trainer_new (ps.project);
  rs.loop = g_main_loop_new (NULL, FALSE);
  g_signal_connect (trainer, "finished", G_CALLBACK (on_trainer_finished), &rs);
  g_signal_connect (trainer, "message", G_CALLBACK (on_recipe_message), messages);
  g_assert_true (bt_trainer_start (trainer, NULL, &error));
  give_up_id = g_timeout_add_seconds (100, give_up, rs.loop);
  g_main_loop_run (rs.loop);
  g_clear_handle_id (&give_up_id, g_source_remove);
  g_assert_true (rs.finished);
  g_assert_no_error (rs.error);
  g_assert_true (g_ptr_array_find_with_equal_func (messages, line, g_str_equal, NULL));
  g_assert_true (bt_recipe_load (&read, bt_trainer_get_run_dir (trainer), &error));
  g_assert_no_error (error);
  g_assert_true (same_choice (&read, &a));
  g_assert_true (bt_run_files_read_config (bt_trainer_get_run_dir (trainer), &run, NULL, n_split, &error));
  g_assert_cmpfloat (run.learning_rate, ==, a.learning_rate);
  g_assert_cmpint (run.epochs, ==, a.epochs);
  g_assert_cmpint (run.transfer_hidden, ==, a.hidden);
  g_assert_cmpint (run.augment_flip, ==, a.flip);
  g_assert_cmpint (run.tta, ==, a.tta);
  model = bt_model_load (bt_trainer_get_best_model_path (trainer), &error);
  g_assert_no_error (error);
  g_assert_cmpint (bt_net_hidden (model->net), ==, a.hidden);
  g_assert_cmpint (model->tta, ==, a.tta ? BT_TTA_MIRROR : BT_TTA_NONE);
  {
    g_autofree char *latest = bt_recipe_describe_latest (ps.dir);
    /* the choice, then what the run made of it (the final head: test-recipe.c) */
    g_assert_true (g_str_has_prefix (latest, line));
  }
  /* recipe.ini round trip, and a damaged one is refused */
  saved = a;
  g_assert_true (bt_recipe_save (&saved, ps.dir, &error));
  g_assert_true (bt_recipe_load (&read, ps.dir, &error));
  g_assert_true (same_choice (&read, &saved));
  {
    g_autofree char *path = g_build_filename (ps.dir, "recipe.ini", NULL);
    g_assert_true (g_file_set_contents (path, "[recipe]\nchosen=31\nlearning-rate=abc\n", -1, NULL));
    g_assert_false (bt_recipe_load (&read, ps.dir, &error));
    g_assert_nonnull (error);
    g_clear_error (&error);
  }
  bt_project_settings_clear (&run);
  g_main_loop_unref (rs.loop);
  bt_test_rm_rf (ps.dir);
  photo_set_free (&ps);
}

/* The batches every head-training loop takes: each row once per epoch with its own label, in an
 * order set by (seed, epoch) alone, and in the rows' order without shuffling. */
static void
test_row_batcher (void)
{
  enum { N = 23, DIM = 3, BATCH = 5 };
  float data[N * DIM];
  const float *rows[N];
  int labels[N], lb[BATCH];
  float xb[BATCH * DIM];
  guint first[N], again[N], other[N], idx[BATCH];
  g_autoptr(BtEmbBatcher) b = NULL, c = NULL;

  for (guint i = 0; i < N; i++)
    {
      for (int d = 0; d < DIM; d++)
        data[i * DIM + d] = (float) (i * 10 + d);
      rows[(i * 7) % N] = data + i * DIM;   /* rows in another order than the data */
      labels[(i * 7) % N] = (int) i % 4;
    }
  b = bt_emb_batcher_new_rows (rows, labels, N, DIM, BATCH, TRUE, 99);
  c = bt_emb_batcher_new_rows (rows, labels, N, DIM, BATCH, TRUE, 99);
  g_assert_cmpuint (bt_emb_batcher_n_batches (b), ==, (N + BATCH - 1) / BATCH);
  for (int pass = 0; pass < 3; pass++)
    {
      /* pass 0: epoch 2; pass 1: epoch 2 again after epoch 5 (same order); pass 2: epoch 5 */
      guint *out = pass == 0 ? first : pass == 1 ? again : other;
      guint seen = 0, mask_count[N] = { 0 };
      int k;

      if (pass == 1)
        bt_emb_batcher_start_epoch (c, 5);
      bt_emb_batcher_start_epoch (pass == 1 ? c : b, pass == 2 ? 5 : 2);
      while ((k = bt_emb_batcher_next (pass == 1 ? c : b, xb, lb, idx)) > 0)
        for (int r = 0; r < k; r++)
          {
            g_assert_cmpuint (idx[r], <, N);
            g_assert_cmpmem (xb + r * DIM, sizeof (float) * DIM, rows[idx[r]], sizeof (float) * DIM);
            g_assert_cmpint (lb[r], ==, labels[idx[r]]);
            mask_count[idx[r]]++;
            out[seen++] = idx[r];
          }
      g_assert_cmpuint (seen, ==, N);
      for (guint i = 0; i < N; i++)
        g_assert_cmpuint (mask_count[i], ==, 1);
    }
  g_assert_cmpmem (first, sizeof first, again, sizeof again);
  g_assert_true (memcmp (first, other, sizeof first) != 0);
  /* without shuffling: the rows' own order, one batch */
  g_clear_pointer (&b, bt_emb_batcher_free);
  b = bt_emb_batcher_new_rows (rows, labels, N, DIM, N, FALSE, 0);
  {
    float all[N * DIM];
    int all_labels[N];

    g_assert_cmpint (bt_emb_batcher_next (b, all, all_labels, NULL), ==, N);
    for (guint i = 0; i < N; i++)
      {
        g_assert_cmpmem (all + i * DIM, sizeof (float) * DIM, rows[i], sizeof (float) * DIM);
        g_assert_cmpint (all_labels[i], ==, labels[i]);
      }
    g_assert_cmpint (bt_emb_batcher_next (b, all, all_labels, NULL), ==, 0);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/transfer/backbone-search", test_backbone_search);
  g_test_add_func ("/transfer/resolution-order", test_resolution_order);
  g_test_add_func ("/transfer/whole-network-format", test_whole_network_format);
  g_test_add_func ("/transfer/head", test_transfer_head);
  g_test_add_func ("/transfer/row-batcher", test_row_batcher);
  g_test_add_func ("/transfer/trainer", test_transfer_trainer);
  g_test_add_func ("/transfer/hidden", test_transfer_hidden);
  g_test_add_func ("/transfer/pause-embedding", test_transfer_pause);
  g_test_add_func ("/transfer/finetune/two-stages", test_finetune);
  g_test_add_func ("/transfer/finetune/resume", test_finetune_resume);
  g_test_add_func ("/transfer/recipe", test_recipe);
  return g_test_run ();
}
