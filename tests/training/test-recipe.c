/* test-recipe.c: the Automatic recipe's last steps (#27) through BtTrainer on small synthetic
 * transfer projects (four kinds of drawn patterns): with enough photos per class the chosen head
 * is followed by fine-tuning the backbone's top blocks, and in every case the final head is
 * trained on the training and validation photos together and says so (recipe.ini, the model's
 * metadata, the messages) without a validation score of its own. Needs the default backbone
 * ($BOTTEGA_SHARED_DIR/models); skips without it. */
#include "config.h"

#include <glib/gstdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "training/bt-training.h"
#include "training/bt-transfer.h"
#include "training/bt-recipe.h"
#include "training/bt-run-files.h"
#include "bt-test-photos.h"
#include "bt-test-fs.h"

#define SIDE 96
static const char *kinds[] = { "stripes", "checks", "rings", "dots" };

/* One drawn pattern of kind k (random period, phase, colours and noise from rng). */
static void
draw (int k, BtRng *rng, BtImage *img)
{
  guint8 fg[3], bg[3];
  int period = 6 + (int) bt_rng_below (rng, 14), phase = (int) bt_rng_below (rng, 32);
  float cx = SIDE * (0.3f + 0.4f * bt_rng_uniform (rng)), cy = SIDE * (0.3f + 0.4f * bt_rng_uniform (rng));

  for (int c = 0; c < 3; c++)
    {
      fg[c] = (guint8) bt_rng_below (rng, 256);
      bg[c] = (guint8) (fg[c] + 80 + bt_rng_below (rng, 96));
    }
  for (int y = 0; y < SIDE; y++)
    for (int x = 0; x < SIDE; x++)
      {
        gboolean on;
        switch (k)
          {
          case 0: on = ((y + phase) / period) % 2 == 0; break;
          case 1: on = (((x + phase) / period) + ((y + phase) / period)) % 2 == 0; break;
          case 2: on = (int) (hypotf (x - cx, y - cy) / period) % 2 == 0; break;
          default: on = ((x * 7 + y * 13 + phase) % (period * 3)) < 3 && ((x / 3 + y / 3) % 2 == 0); break;
          }
        for (int c = 0; c < 3; c++)
          {
            int v = (on ? fg[c] : bg[c]) + (int) bt_rng_below (rng, 24) - 12;
            img->pixels[((gsize) y * SIDE + x) * 3 + c] = (guint8) CLAMP (v, 0, 255);
          }
      }
}

/* A transfer project of per_class drawn photos of each kind, split train_pct/val/0, the
 * Automatic recipe, everything else at the table's defaults. */
static BtProject *
make_project (int per_class, int train_pct, int size, char **dir_out)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("bottega-recipe-XXXXXX", &error);
  g_autofree char *photos = g_build_filename (dir, "photos", NULL);
  g_autoptr(BtScanResult) scan = NULL;
  BtImage img = { SIDE, SIDE, 3, g_malloc ((gsize) SIDE * SIDE * 3) };
  BtProjectSettings s = { 0 };
  BtProject *project;
  BtRng rng;

  g_assert_no_error (error);
  bt_rng_seed (&rng, 27);
  for (int k = 0; k < (int) G_N_ELEMENTS (kinds); k++)
    {
      g_autofree char *class_dir = g_build_filename (photos, kinds[k], NULL);
      g_assert_cmpint (g_mkdir_with_parents (class_dir, 0755), ==, 0);
      for (int i = 0; i < per_class; i++)
        {
          g_autofree char *name = g_strdup_printf ("%s-%02d.bmp", kinds[k], i);
          g_autofree char *path = g_build_filename (class_dir, name, NULL);
          draw (k, &rng, &img);
          bt_test_write_bmp (path, &img);
        }
    }
  g_free (img.pixels);
  project = bt_project_create (dir, "Recipe test", &error);
  g_assert_no_error (error);
  {
    const char *paths[] = { photos, NULL };
    scan = bt_scan_paths (paths, BT_SCAN_FOLDER_OF_CLASSES, NULL, TRUE, NULL, NULL, NULL, &error);
    g_assert_no_error (error);
  }
  g_assert_cmpuint (bt_project_apply_scan (project, scan, &error), ==, (guint) (4 * per_class));
  g_assert_no_error (error);

  bt_project_settings_copy (&s, bt_project_get_settings (project));
  g_free (s.preset);
  s.preset = g_strdup ("transfer");
  s.width = s.height = size;
  s.channels = 3;
  g_free (s.recipe);
  s.recipe = g_strdup ("auto");
  s.split_train = train_pct;
  s.split_val = 100 - train_pct;
  s.split_test = 0;
  g_assert_true (bt_project_update_settings (project, &s, &error));
  g_assert_no_error (error);
  g_assert_true (bt_recipe_applies (&s));
  g_assert_cmpuint (bt_recipe_free_fields (&s), ==, BT_RECIPE_ALL_FIELDS);
  bt_project_settings_clear (&s);
  *dir_out = g_steal_pointer (&dir);
  return project;
}

/* The backbone file (in the shared models/) the runs use; NULL: the default one. */
static gboolean
have_backbone (const char *file)
{
  g_autofree char *m = bt_test_shared_file ("models", file != NULL ? file : BT_BACKBONE_DEFAULT);
  g_autofree char *dir = NULL;

  if (m == NULL)
    return FALSE;
  dir = g_path_get_dirname (m);
  bt_backbone_set_search_dir (dir);
  bt_backbone_set_preferred_file (file != NULL ? m : NULL);
  return TRUE;
}

typedef struct {
  GMainLoop *loop;
  GError    *error;
  gboolean   finished;
  GPtrArray *messages;
} RunState;

static void
on_finished (BtTrainer *trainer, const GError *error, RunState *rs)
{
  rs->finished = TRUE;
  if (error != NULL)
    rs->error = g_error_copy (error);
  g_main_loop_quit (rs->loop);
}

static void
on_message (BtTrainer *trainer, const char *message, RunState *rs)
{
  g_ptr_array_add (rs->messages, g_strdup (message));
}

static gboolean
give_up (gpointer data)
{
  g_main_loop_quit (data);
  return G_SOURCE_REMOVE;
}

/* Trains the project once with the trainer; returns it (finished, no error). */
static BtTrainer *
train (BtProject *project, RunState *rs)
{
  g_autoptr(GError) error = NULL;
  BtTrainer *trainer = bt_trainer_new (project);
  guint id;

  rs->loop = g_main_loop_new (NULL, FALSE);
  rs->messages = g_ptr_array_new_with_free_func (g_free);
  g_signal_connect (trainer, "finished", G_CALLBACK (on_finished), rs);
  g_signal_connect (trainer, "message", G_CALLBACK (on_message), rs);
  g_assert_true (bt_trainer_start (trainer, NULL, &error));
  g_assert_no_error (error);
  /* a safety net on a loaded machine (it takes ≈ 60 CPU s), under meson's timeout */
  id = g_timeout_add_seconds (560, give_up, rs->loop);
  g_main_loop_run (rs->loop);
  if (rs->finished)
    g_source_remove (id);
  for (guint i = 0; !rs->finished && i < rs->messages->len; i++)
    g_test_message ("trainer said: %s", (const char *) rs->messages->pdata[i]);
  g_assert_true (rs->finished);
  g_assert_no_error (rs->error);
  return trainer;
}

static void
run_state_clear (RunState *rs)
{
  g_main_loop_unref (rs->loop);
  g_ptr_array_unref (rs->messages);
}

/* The usable images of the training and validation splits. */
static guint
n_train_val (BtProject *project)
{
  g_autoptr(BtSplitView) t = bt_project_split_view (project, BT_SPLIT_TRAIN);
  g_autoptr(BtSplitView) v = bt_project_split_view (project, BT_SPLIT_VAL);
  return t->n + v->n;
}

/* Kept fine-tuning leaves the frozen final head it replaced beside it in the run folder (frozen,
 * trained on train + val, uncalibrated, marked, not one of the project's models); otherwise there
 * is none (the saved model is that head). */
static void
check_frozen_head (BtProject *project, BtTrainer *trainer, const BtRecipeChoice *c, const BtModel *kept)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = bt_run_files_frozen_head_path (bt_trainer_get_run_dir (trainer));
  g_autoptr(GPtrArray) models = bt_run_files_list_models (bt_project_get_dir (project));
  g_autoptr(BtModel) frozen = NULL;
  gsize n_kept, n_frozen;
  const float *pk, *pf;
  double moved = 0;

  g_assert_cmpint (g_file_test (path, G_FILE_TEST_EXISTS), ==, c->finetune_kept);
  g_assert_cmpuint (models->len, ==, 1);
  if (!c->finetune_kept)
    return;
  frozen = bt_model_load (path, &error);
  g_assert_no_error (error);
  g_assert_null (frozen->backbone_weights);
  g_assert_cmpstr (frozen->backbone_sha256, ==, kept->backbone_sha256);
  g_assert_cmpstr (g_hash_table_lookup (frozen->metadata, "role"), ==, "frozen-head-for-comparison");
  g_assert_cmpstr (g_hash_table_lookup (frozen->metadata, "trained_on"), ==, "train+val");
  g_assert_cmpint (atoi (g_hash_table_lookup (frozen->metadata, "trained_images")), ==, (int) n_train_val (project));
  g_assert_null (g_hash_table_lookup (frozen->metadata, "val_acc"));
  g_assert_cmpfloat (frozen->calib.temperature, ==, 1.0);
  g_assert_null (frozen->centroids);
  /* its own head, not the fine-tuned model's */
  pk = bt_net_params (kept->net, &n_kept);
  pf = bt_net_params (frozen->net, &n_frozen);
  g_assert_cmpuint (n_kept, ==, n_frozen);
  for (gsize i = 0; i < n_kept; i++)
    moved = MAX (moved, fabs ((double) pk[i] - pf[i]));
  g_assert_cmpfloat (moved, >, 1e-3);
}

/* How a recipe run with validation photos ends, said in recipe.ini, in the model file and in the
 * messages: the final head on train + val (no validation score), or, when fine-tuning was kept,
 * the validated model (trained on the training split, its own validation score). */
static void
check_final_head (BtProject *project, BtTrainer *trainer, RunState *rs, BtRecipeChoice *c, BtModel **model_out)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *line = NULL;
  BtModel *model;
  const char *trained_on;

  g_assert_true (bt_recipe_load (c, bt_trainer_get_run_dir (trainer), &error));
  g_assert_no_error (error);
  g_assert_true (c->finished);
  g_assert_cmpint (c->final_images, ==, c->finetune_kept ? 0 : (int) n_train_val (project));
  g_assert_true (isfinite (c->holdout_val_acc));
  g_assert_cmpfloat (c->holdout_val_acc, >=, 0);
  g_assert_cmpfloat (c->holdout_val_acc, <=, 1);
  line = bt_recipe_describe (c);
  g_assert_nonnull (strstr (line, c->finetune_kept ? "trained on the training photos only"
                                                   : "training and validation photos together"));
  g_assert_true (g_ptr_array_find_with_equal_func (rs->messages, line, g_str_equal, NULL));
  {
    g_autofree char *latest = bt_recipe_describe_latest (bt_project_get_dir (project));
    g_assert_cmpstr (latest, ==, line);
  }
  model = bt_model_load (bt_trainer_get_best_model_path (trainer), &error);
  g_assert_no_error (error);
  trained_on = g_hash_table_lookup (model->metadata, "trained_on");
  if (c->finetune_kept)
    {
      g_assert_cmpstr (trained_on, ==, "train");
      g_assert_cmpfloat (g_ascii_strtod (g_hash_table_lookup (model->metadata, "val_acc"), NULL), ==,
                         round (c->holdout_val_acc * 1e6) / 1e6);
    }
  else
    {
      g_assert_cmpstr (trained_on, ==, "train+val");
      g_assert_nonnull (g_hash_table_lookup (model->metadata, "trained_images"));
      g_assert_cmpint (atoi (g_hash_table_lookup (model->metadata, "trained_images")), ==, c->final_images);
      /* a validation score of images the model saw would not be one */
      g_assert_null (g_hash_table_lookup (model->metadata, "val_acc"));
      g_assert_null (g_hash_table_lookup (model->metadata, "val_loss"));
    }
  check_frozen_head (project, trainer, c, model);
  *model_out = model;
}

/* ≥ 30 photos per class in the training split: the recipe fine-tunes the top blocks after its
 * head; the final model is the fine-tuned one or a head on train + val. */
static void
test_finetune_and_final_head (void)
{
  g_autofree char *dir = NULL;
  g_autoptr(BtProject) project = NULL;
  g_autoptr(BtTrainer) trainer = NULL;
  g_autoptr(BtModel) model = NULL;
  g_autoptr(GArray) rows = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(BtSplitView) train_view = NULL;
  BtProjectSettings run = { 0 };
  RunState rs = { 0 };
  BtRecipeChoice c;
  int n_split[BT_N_SPLITS], stage2 = 0;

  /* MobileNet V1 0.25/128: the same recipe at a tenth of V2's work (CI time) */
  if (!have_backbone ("mobilenet_v1_0.25_128_quant.tflite"))
    {
      g_test_skip ("MobileNet V1 0.25/128 not found: set BOTTEGA_SHARED_DIR to the folder holding models/");
      return;
    }
  project = make_project (44, 80, 128, &dir);
  train_view = bt_project_split_view (project, BT_SPLIT_TRAIN);
  g_assert_true (bt_recipe_finetune_rule (train_view, 4));   /* the premise */
  trainer = train (project, &rs);

  /* the rule said yes: the run fine-tuned the top blocks after the head (epochs past the head's) */
  g_assert_true (bt_run_files_read_config (bt_trainer_get_run_dir (trainer), &run, NULL, n_split, &error));
  g_assert_no_error (error);
  g_assert_cmpint (run.transfer_finetune_blocks, ==, BT_RECIPE_FINETUNE_BLOCKS);
  rows = bt_run_files_read_metrics (bt_trainer_get_run_dir (trainer));
  g_assert_nonnull (rows);
  for (guint i = 0; i < rows->len; i++)
    stage2 += g_array_index (rows, BtEpochInfo, i).epoch > run.epochs;
  g_assert_cmpint (stage2, >=, 1);

  check_final_head (project, trainer, &rs, &c, &model);
  g_assert_cmpint (c.finetune_blocks, ==, BT_RECIPE_FINETUNE_BLOCKS);
  g_test_message ("fine-tuning %s, %d epochs of stage 2, held-out validation %.3f, cross-validation %.3f",
                  c.finetune_kept ? "kept" : "left out", stage2, c.holdout_val_acc, c.cv_acc);
  /* kept fine-tuning travels in the model (whole network); left out, the model is the head's */
  g_assert_cmpint (model->backbone_weights != NULL, ==, c.finetune_kept);

  bt_project_settings_clear (&run);
  run_state_clear (&rs);
  g_clear_object (&trainer);
  g_clear_object (&project);
  bt_test_rm_rf (dir);
}

/* Too few photos per class: no fine-tuning, but the final head still sees train + val. */
static void
test_final_head_small (void)
{
  g_autofree char *dir = NULL;
  g_autoptr(BtProject) project = NULL;
  g_autoptr(BtTrainer) trainer = NULL;
  g_autoptr(BtModel) model = NULL;
  g_autoptr(GArray) rows = NULL;
  g_autoptr(GError) error = NULL;
  BtProjectSettings run = { 0 };
  RunState rs = { 0 };
  BtRecipeChoice c;
  int n_split[BT_N_SPLITS];

  if (!have_backbone (NULL))
    {
      g_test_skip ("MobileNet V2 backbone not found: set BOTTEGA_SHARED_DIR to the folder holding models/");
      return;
    }
  project = make_project (12, 70, 224, &dir);
  trainer = train (project, &rs);
  check_final_head (project, trainer, &rs, &c, &model);
  g_assert_cmpint (c.finetune_blocks, ==, 0);
  g_assert_null (model->backbone_weights);
  g_assert_true (bt_run_files_read_config (bt_trainer_get_run_dir (trainer), &run, NULL, n_split, &error));
  g_assert_cmpint (run.transfer_finetune_blocks, ==, 0);
  rows = bt_run_files_read_metrics (bt_trainer_get_run_dir (trainer));
  for (guint i = 0; rows != NULL && i < rows->len; i++)
    g_assert_cmpint (g_array_index (rows, BtEpochInfo, i).epoch, <=, run.epochs);

  bt_project_settings_clear (&run);
  run_state_clear (&rs);
  g_clear_object (&trainer);
  g_clear_object (&project);
  bt_test_rm_rf (dir);
}

/* recipe.ini keeps the trainer's outcome; a file from before it loads as "the training split
 * only"; the text says what the final model saw. */
static void
test_outcome_file (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("bottega-recipe-ini-XXXXXX", &error);
  g_autofree char *path = g_build_filename (dir, "recipe.ini", NULL);
  g_autofree char *planned = NULL, *kept = NULL, *left = NULL;
  BtRecipeChoice c = { 0 }, r;

  c.chosen = BT_RECIPE_ALL_FIELDS;
  c.learning_rate = 0.001;
  c.hidden = 256;
  c.epochs = 20;
  c.k = 3;
  c.n_tried = 12;
  c.cv_acc = 0.9;
  c.base_acc = 0.8;
  c.holdout_val_acc = NAN;
  c.finetune_blocks = 2;
  planned = bt_recipe_describe (&c);
  g_assert_nonnull (strstr (planned, "last 2 blocks are fine-tuned"));
  g_assert_null (strstr (planned, "validation photos together"));

  /* left out: the final head on train + val */
  c.finished = TRUE;
  c.finetune_kept = FALSE;
  c.final_images = 648;
  c.holdout_val_acc = 0.975;
  left = bt_recipe_describe (&c);
  g_assert_nonnull (strstr (left, "tried and left out"));
  g_assert_nonnull (strstr (left, "together (648 images)"));
  g_assert_nonnull (strstr (left, "97.5%"));
  g_assert_true (bt_recipe_save (&c, dir, &error));
  g_assert_no_error (error);
  g_assert_true (bt_recipe_load (&r, dir, &error));
  g_assert_no_error (error);
  g_assert_cmpint (r.finetune_blocks, ==, 2);
  g_assert_true (r.finished && !r.finetune_kept);
  g_assert_cmpint (r.final_images, ==, 648);
  g_assert_cmpfloat (r.holdout_val_acc, ==, 0.975);

  /* kept: the validated model */
  c.finetune_kept = TRUE;
  c.final_images = 0;
  kept = bt_recipe_describe (&c);
  g_assert_nonnull (strstr (kept, "last 2 blocks were fine-tuned"));
  g_assert_nonnull (strstr (kept, "the one validated"));
  g_assert_null (strstr (kept, "together"));
  g_assert_true (bt_recipe_save (&c, dir, &error));
  g_assert_true (bt_recipe_load (&r, dir, &error));
  g_assert_true (r.finished && r.finetune_kept);
  g_assert_cmpint (r.final_images, ==, 0);

  /* an older file: the search's keys only */
  g_assert_true (g_file_set_contents (path, "[recipe]\nchosen=127\nlearning-rate=0.001\nweight-decay=0\n"
                                      "label-smoothing=0\nhidden=256\nepochs=20\ncv-accuracy=0.9\ncv-loss=0.3\n"
                                      "base-accuracy=0.8\nfolds=3\ntried=12\nseconds=2\n", -1, NULL));
  g_assert_true (bt_recipe_load (&r, dir, &error));
  g_assert_no_error (error);
  g_assert_cmpint (r.finetune_blocks, ==, 0);
  g_assert_false (r.finished);
  g_assert_cmpint (r.final_images, ==, 0);
  g_assert_true (isnan (r.holdout_val_acc));
  /* a damaged outcome is refused */
  g_assert_true (g_file_set_contents (path, "[recipe]\nchosen=127\nlearning-rate=0.001\nweight-decay=0\n"
                                      "label-smoothing=0\nhidden=256\nepochs=20\ncv-accuracy=0.9\ncv-loss=0.3\n"
                                      "base-accuracy=0.8\nfolds=3\ntried=12\nseconds=2\nfinal-images=-4\n", -1, NULL));
  g_assert_false (bt_recipe_load (&r, dir, &error));
  g_assert_nonnull (error);
  g_clear_error (&error);
  bt_test_rm_rf (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/recipe/outcome-file", test_outcome_file);
  g_test_add_func ("/recipe/final-head-small", test_final_head_small);
  g_test_add_func ("/recipe/finetune-and-final-head", test_finetune_and_final_head);
  return g_test_run ();
}
