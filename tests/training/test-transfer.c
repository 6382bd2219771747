/* test-transfer.c: the transfer-learning pieces on a small photo set made of crops and flips of
 * the shared photos (cat, owl, sunflower, hot dog): backbone search, cached embeddings, a head
 * trained on them, and held-out crops predicted through backbone + head. */
#include "config.h"

#include <glib/gstdio.h>
#include <string.h>

#include "training/bt-training.h"
#include "training/bt-transfer.h"

static const char *sources[4][2] = {
  { "cat", "cat_720p.jpg" }, { "owl", "owl.jpg" }, { "sunflower", "sunflower.bmp" }, { "hot dog", "hot_dog.jpg" },
};

static char *
shared_file (const char *sub, const char *file)
{
  const char *shared = g_getenv ("BOTTEGA_SHARED_DIR");
  char *p;
  if (shared == NULL)
    return NULL;
  p = g_build_filename (shared, sub, file, NULL);
  if (!g_file_test (p, G_FILE_TEST_IS_REGULAR))
    g_clear_pointer (&p, g_free);
  return p;
}

static gboolean
have_fixtures (void)
{
  g_autofree char *m = shared_file ("models", BT_BACKBONE_DEFAULT);
  if (m == NULL)
    return FALSE;
  for (int i = 0; i < 4; i++)
    {
      g_autofree char *p = shared_file ("images", sources[i][1]);
      if (p == NULL)
        return FALSE;
    }
  return TRUE;
}

static void
write_bmp (const char *path, const BtImage *img)
{
  int row = (img->width * 3 + 3) & ~3;
  gsize size = 54 + (gsize) row * img->height;
  g_autofree guint8 *d = g_malloc0 (size);
  guint32 v;

  d[0] = 'B';
  d[1] = 'M';
  v = GUINT32_TO_LE ((guint32) size); memcpy (d + 2, &v, 4);
  v = GUINT32_TO_LE (54); memcpy (d + 10, &v, 4);
  v = GUINT32_TO_LE (40); memcpy (d + 14, &v, 4);
  v = GUINT32_TO_LE ((guint32) img->width); memcpy (d + 18, &v, 4);
  v = GUINT32_TO_LE ((guint32) img->height); memcpy (d + 22, &v, 4);
  d[26] = 1;
  d[28] = 24;
  for (int y = 0; y < img->height; y++)
    for (int x = 0; x < img->width; x++)
      {
        const guint8 *p = img->pixels + ((gsize) y * img->width + x) * 3;
        guint8 *q = d + 54 + (gsize) (img->height - 1 - y) * row + 3 * x;
        q[0] = p[2];
        q[1] = p[1];
        q[2] = p[0];
      }
  g_assert_true (g_file_set_contents (path, (const char *) d, size, NULL));
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
  write_bmp (path, small);
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
      g_autofree char *src_path = shared_file ("images", sources[c][1]);
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
rm_rf (const char *path)
{
  GDir *d = g_dir_open (path, 0, NULL);
  if (d != NULL)
    {
      const char *name;
      while ((name = g_dir_read_name (d)) != NULL)
        {
          g_autofree char *p = g_build_filename (path, name, NULL);
          rm_rf (p);
        }
      g_dir_close (d);
    }
  g_remove (path);
}

static void
test_backbone_search (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *empty = g_dir_make_tmp ("bottega-backbones-XXXXXX", NULL);
  g_autofree char *path = NULL;
  g_auto(GStrv) dirs = NULL;

  g_setenv ("BOTTEGA_BACKBONE_DIR", empty, TRUE);
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
    g_autofree char *m = shared_file ("models", BT_BACKBONE_DEFAULT);
    g_autofree char *dir = g_path_get_dirname (m);
    g_setenv ("BOTTEGA_BACKBONE_DIR", dir, TRUE);
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

  rm_rf (ps.dir);
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

static gboolean
give_up (gpointer data)
{
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
    g_autofree char *m = shared_file ("models", BT_BACKBONE_DEFAULT);
    g_autofree char *dir = g_path_get_dirname (m);
    g_setenv ("BOTTEGA_BACKBONE_DIR", dir, TRUE);
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
  g_assert_true (bt_project_update_settings (ps.project, &s, &error));
  g_assert_no_error (error);
  bt_project_settings_clear (&s);

  trainer = bt_trainer_new (ps.project);
  rs.loop = g_main_loop_new (NULL, FALSE);
  g_signal_connect (trainer, "finished", G_CALLBACK (on_trainer_finished), &rs);
  t0 = g_get_monotonic_time ();
  g_assert_true (bt_trainer_start (trainer, NULL, &error));
  g_assert_no_error (error);
  g_timeout_add_seconds (100, give_up, rs.loop);
  g_main_loop_run (rs.loop);
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
  rm_rf (ps.dir);
  photo_set_free (&ps);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/transfer/backbone-search", test_backbone_search);
  g_test_add_func ("/transfer/head", test_transfer_head);
  g_test_add_func ("/transfer/trainer", test_transfer_trainer);
  return g_test_run ();
}
