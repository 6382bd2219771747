/* test-verdict.c: the verdict of a run from synthetic curves, one table row per case; the run
 * files that store it (metrics.csv and verdict.ini read back as written); which run --resume takes. */
#include "config.h"

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "training/bt-run-files.h"
#include "training/bt-verdict.h"
#include "bt-test-fs.h"

#define MAX_EPOCHS 8

typedef struct {
  const char     *name;
  int             n_classes;
  double          lr;
  const char     *optimizer;
  gboolean        augmented, non_finite, stopped_early, stopped_by_user;
  int             n;
  double          train_loss[MAX_EPOCHS], val_loss[MAX_EPOCHS], val_acc[MAX_EPOCHS];
  BtVerdictKind   kind;
  int             epoch;             /* expected verdict epoch (-1: not checked) */
  BtVerdictAction action;
  double          action_value;
  const char     *action_class;
} Case;

static const Case cases[] = {
  { "learned", 4, 1e-3, "adam", FALSE, FALSE, FALSE, FALSE, 5,
    { 1.30, 0.90, 0.60, 0.45, 0.40 }, { 1.20, 0.95, 0.70, 0.60, 0.55 }, { 0.40, 0.60, 0.75, 0.80, 0.82 },
    BT_VERDICT_LEARNED, -1, BT_VERDICT_ACTION_NONE, 0, NULL },
  { "diverged: loss climbs above its start", 3, 10, "adam", FALSE, FALSE, FALSE, FALSE, 4,
    { 20, 45, 70, 90 }, { 30, 60, 80, 95 }, { 0.33, 0.33, 0.34, 0.33 },
    BT_VERDICT_DIVERGED, 4, BT_VERDICT_ACTION_LEARNING_RATE, 0.001, NULL },
  { "diverged: high but falling, far above ln(classes)", 4, 5, "adam", FALSE, FALSE, FALSE, FALSE, 4,
    { 66, 60, 10, 6 }, { 80, 8, 2, 2 }, { 0.20, 0.30, 0.20, 0.20 },
    BT_VERDICT_DIVERGED, 4, BT_VERDICT_ACTION_LEARNING_RATE, 0.001, NULL },
  { "diverged: NaN (sgd suggests a tenth)", 2, 0.05, "sgd", FALSE, TRUE, FALSE, FALSE, 2,
    { 0.69, 0.65 }, { 0.70, 0.66 }, { 0.60, 0.62 },
    BT_VERDICT_DIVERGED, 2, BT_VERDICT_ACTION_LEARNING_RATE, 0.005, NULL },
  { "did not learn: chance after the warm-up, rate far too low", 4, 1e-6, "adam", FALSE, FALSE, FALSE, FALSE, 4,
    { 1.39, 1.386, 1.385, 1.384 }, { 1.39, 1.387, 1.386, 1.386 }, { 0.40, 0.26, 0.27, 0.28 },
    BT_VERDICT_DID_NOT_LEARN, -1, BT_VERDICT_ACTION_LEARNING_RATE, 0.001, NULL },
  { "did not learn: usual rate, add photos to the smallest class", 2, 1e-3, "adam", FALSE, FALSE, FALSE, FALSE, 3,
    { 0.693, 0.692, 0.690 }, { 0.694, 0.693, 0.693 }, { 0.50, 0.52, 0.54 },
    BT_VERDICT_DID_NOT_LEARN, -1, BT_VERDICT_ACTION_ADD_PHOTOS, 0, "dog" },
  { "one epoch with a high mean loss (the start's transient) is not divergence", 4, 1e-3, "adam", FALSE, FALSE, FALSE, FALSE, 1,
    { 4.9 }, { 1.2 }, { 0.55 },
    BT_VERDICT_LEARNED, -1, BT_VERDICT_ACTION_NONE, 0, NULL },
  { "not chance: 10 points above", 2, 1e-3, "adam", FALSE, FALSE, FALSE, FALSE, 3,
    { 0.69, 0.60, 0.55 }, { 0.69, 0.65, 0.62 }, { 0.50, 0.58, 0.60 },
    BT_VERDICT_LEARNED, -1, BT_VERDICT_ACTION_NONE, 0, NULL },
  { "overfitting from epoch 3, augmentation off", 4, 1e-3, "adam", FALSE, FALSE, FALSE, FALSE, 6,
    { 1.2, 0.8, 0.5, 0.3, 0.2, 0.1 }, { 1.1, 0.9, 0.95, 1.0, 1.1, 1.2 }, { 0.5, 0.65, 0.66, 0.65, 0.64, 0.63 },
    BT_VERDICT_OVERFITTING, 3, BT_VERDICT_ACTION_AUGMENTATION, 0, NULL },
  { "overfitting with augmentation on: add photos", 4, 1e-3, "adam", TRUE, FALSE, FALSE, FALSE, 6,
    { 1.2, 0.8, 0.5, 0.3, 0.2, 0.1 }, { 1.1, 0.9, 0.95, 1.0, 1.1, 1.2 }, { 0.5, 0.65, 0.66, 0.65, 0.64, 0.63 },
    BT_VERDICT_OVERFITTING, 3, BT_VERDICT_ACTION_ADD_PHOTOS, 0, "dog" },
  { "stopped early", 4, 1e-3, "adam", FALSE, FALSE, TRUE, FALSE, 4,
    { 1.2, 0.8, 0.7, 0.65 }, { 1.1, 0.8, 0.81, 0.82 }, { 0.5, 0.7, 0.7, 0.69 },
    BT_VERDICT_STOPPED_EARLY, 4, BT_VERDICT_ACTION_NONE, 0, NULL },
  { "stopped by the person", 4, 1e-3, "adam", FALSE, FALSE, FALSE, TRUE, 2,
    { 1.2, 0.8 }, { 1.1, 0.8 }, { 0.5, 0.7 },
    BT_VERDICT_STOPPED, 2, BT_VERDICT_ACTION_NONE, 0, NULL },
};

static const char *const class_names[] = { "cat", "dog", "fox", "owl", NULL };
static const guint train_counts[] = { 40, 12, 30, 25 };

/* Epoch rows as the trainer makes them: best epoch by validation loss, overfitting flag by the
 * shared rule. */
static GArray *
rows_of (const Case *c)
{
  GArray *rows = g_array_new (FALSE, TRUE, sizeof (BtEpochInfo));
  double best = INFINITY;
  int best_epoch = 0;

  for (int i = 0; i < c->n; i++)
    {
      BtEpochInfo e = { 0 };
      e.epoch = i + 1;
      e.epochs = c->n;
      e.train_loss = c->train_loss[i];
      e.train_acc = c->val_acc[i];
      e.val_loss = c->val_loss[i];
      e.val_acc = c->val_acc[i];
      if (c->val_loss[i] < best)
        {
          best = c->val_loss[i];
          best_epoch = i + 1;
        }
      e.best_epoch = best_epoch;
      e.overfitting = bt_verdict_overfitting_at (c->train_loss, c->val_loss, i + 1);
      g_array_append_val (rows, e);
    }
  return rows;
}

static void
judge (const Case *c, GArray *rows, BtVerdict *v)
{
  BtVerdictInput in = { 0 };

  in.epochs = (const BtEpochInfo *) rows->data;
  in.n_epochs = rows->len;
  in.n_classes = c->n_classes;
  in.learning_rate = c->lr;
  in.optimizer = c->optimizer;
  in.augmented = c->augmented;
  in.non_finite = c->non_finite;
  in.stopped_early = c->stopped_early;
  in.stopped_by_user = c->stopped_by_user;
  in.class_names = class_names;
  in.train_counts = train_counts;
  bt_verdict_judge (&in, v);
}

static void
test_table (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      const Case *c = &cases[i];
      g_autoptr(GArray) rows = rows_of (c);
      g_autofree char *text = NULL;
      BtVerdict v;

      judge (c, rows, &v);
      text = bt_verdict_describe (&v);
      g_test_message ("%s: %s (%s)", c->name, bt_verdict_kind_to_id (v.kind), text);
      g_assert_cmpstr (bt_verdict_kind_to_id (v.kind), ==, bt_verdict_kind_to_id (c->kind));
      if (c->epoch >= 0)
        g_assert_cmpint (v.epoch, ==, c->epoch);
      g_assert_cmpstr (bt_verdict_action_to_id (v.action), ==, bt_verdict_action_to_id (c->action));
      g_assert_cmpfloat_with_epsilon (v.action_value, c->action_value, 1e-12);
      g_assert_cmpstr (v.action_class, ==, c->action_class);
      /* the best epoch is the rows' (the monitored metric's) */
      g_assert_cmpint (v.best_epoch, ==, g_array_index (rows, BtEpochInfo, rows->len - 1).best_epoch);
      g_assert_cmpint (bt_verdict_is_failure (&v), ==,
                       c->kind == BT_VERDICT_DIVERGED || c->kind == BT_VERDICT_DID_NOT_LEARN);
      bt_verdict_clear (&v);
    }
}

static void
test_apply (void)
{
  BtProjectSettings s = { 0 };
  BtVerdict v = { 0 };
  g_autofree char *label = NULL;

  s.learning_rate = 10;
  v.kind = BT_VERDICT_DIVERGED;
  v.action = BT_VERDICT_ACTION_LEARNING_RATE;
  v.action_value = 0.001;
  label = bt_verdict_action_label (&v);
  g_assert_cmpstr (label, ==, "Try learning rate 0.001");
  g_assert_true (bt_verdict_apply (&v, &s));
  g_assert_cmpfloat (s.learning_rate, ==, 0.001);
  v.action = BT_VERDICT_ACTION_AUGMENTATION;
  g_assert_true (bt_verdict_apply (&v, &s));
  g_assert_true (s.augment_flip && s.augment_crop);
  v.action = BT_VERDICT_ACTION_ADD_PHOTOS;
  g_assert_false (bt_verdict_apply (&v, &s));
  v.action = BT_VERDICT_ACTION_NONE;
  g_assert_null (bt_verdict_action_label (&v));
}

/* metrics.csv and verdict.ini read back what was written, and a failed run's model sorts last. */
static void
test_run_files (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *project = g_dir_make_tmp ("bt-verdict-XXXXXX", &error);
  g_autofree char *run = NULL;
  g_autofree char *model = NULL;
  g_autofree char *good = NULL;
  g_autoptr(GArray) rows = rows_of (&cases[1]);
  g_autoptr(GArray) back = NULL;
  g_autoptr(GPtrArray) models = NULL;
  g_autoptr(BtRunInfo) info = NULL;
  BtVerdict v, v2;

  g_assert_no_error (error);
  run = bt_run_files_new_run_dir (project, &error);
  g_assert_no_error (error);
  g_assert_true (bt_run_files_write_metrics (run, rows, &error));
  back = bt_run_files_read_metrics (run);
  g_assert_nonnull (back);
  g_assert_cmpuint (back->len, ==, rows->len);
  for (guint i = 0; i < rows->len; i++)
    {
      g_assert_cmpint (g_array_index (back, BtEpochInfo, i).epoch, ==, g_array_index (rows, BtEpochInfo, i).epoch);
      g_assert_cmpfloat_with_epsilon (g_array_index (back, BtEpochInfo, i).val_loss,
                                      g_array_index (rows, BtEpochInfo, i).val_loss, 1e-6);
      g_assert_cmpint (g_array_index (back, BtEpochInfo, i).best_epoch, ==, g_array_index (rows, BtEpochInfo, i).best_epoch);
    }

  judge (&cases[1], rows, &v);
  model = bt_run_files_model_path (project, run, "mlp", &error);
  g_assert_no_error (error);
  g_assert_true (g_file_set_contents (model, "x", 1, NULL));
  g_assert_true (bt_run_files_write_verdict (run, &v, model, &error));
  g_assert_true (bt_run_files_read_verdict (run, &v2, NULL));
  g_assert_cmpint (v2.kind, ==, v.kind);
  g_assert_cmpint (v2.action, ==, v.action);
  g_assert_cmpfloat (v2.action_value, ==, v.action_value);
  info = bt_run_info_load (run);
  g_assert_nonnull (info);
  g_assert_true (info->has_verdict);

  /* an older good model stays the default though the failed one is newer */
  good = g_build_filename (project, "models", "20000101-000000-mlp.bottega-model", NULL);
  g_assert_true (g_file_set_contents (good, "x", 1, NULL));
  {
    GFile *f = g_file_new_for_path (good);
    g_file_set_attribute_uint64 (f, G_FILE_ATTRIBUTE_TIME_MODIFIED, 1000, G_FILE_QUERY_INFO_NONE, NULL, NULL);
    g_object_unref (f);
  }
  models = bt_run_files_list_models (project);
  g_assert_cmpuint (models->len, ==, 2);
  g_assert_cmpstr (models->pdata[0], ==, good);
  g_assert_cmpstr (models->pdata[1], ==, model);

  bt_verdict_clear (&v);
  bt_verdict_clear (&v2);
  bt_test_rm_rf (project);
}

/* --resume without a run takes the newest training run only: not a search's folder, and not an
 * older run when the newest one's folder was cleaned away. */
static void
test_resume_newest_only (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *project = g_dir_make_tmp ("bt-resume-XXXXXX", &error);
  g_autofree char *old_run = g_build_filename (project, "runs", "20000101-000000", NULL);
  g_autofree char *tune = g_build_filename (project, "runs", "tune-20990101-000000", NULL);
  g_autofree char *old_config = g_build_filename (old_run, "config.ini", NULL);
  g_autofree char *old_checkpoint = g_build_filename (old_run, "checkpoint-0015.state", NULL);
  g_autofree char *found = NULL;
  g_autofree char *newest = NULL;
  g_autofree char *newest_id = NULL;

  g_assert_no_error (error);
  g_assert_cmpint (g_mkdir_with_parents (old_run, 0755), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (tune, 0755), ==, 0);
  g_assert_true (g_file_set_contents (old_config, "[training]\n", -1, NULL));
  g_assert_true (g_file_set_contents (old_checkpoint, "x", 1, NULL));
  found = bt_run_files_find_resumable (project, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (found, ==, old_run);   /* the newest training run (the search's folder is not one) */
  g_clear_pointer (&found, g_free);

  newest = bt_run_files_new_run_dir (project, &error);
  g_assert_no_error (error);
  newest_id = g_path_get_basename (newest);
  g_assert_null (bt_run_files_find_resumable (project, NULL, &error));
  g_assert_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, newest_id));
  g_assert_nonnull (strstr (error->message, "checkpoint"));
  g_clear_error (&error);

  /* the newest run's empty folder cleaned away (the tidy-up may do it while --resume looks):
   * still not the old one, and the same reason */
  g_assert_cmpint (g_rmdir (newest), ==, 0);
  g_assert_null (bt_run_files_find_resumable (project, NULL, &error));
  g_assert_nonnull (strstr (error->message, newest_id));
  g_assert_nonnull (strstr (error->message, "checkpoint"));
  g_clear_error (&error);
  /* a run named that does not exist is said so */
  g_assert_null (bt_run_files_find_resumable (project, newest_id, &error));
  g_assert_nonnull (strstr (error->message, newest_id));
  g_assert_null (strstr (error->message, "checkpoint"));
  g_clear_error (&error);
  found = bt_run_files_find_resumable (project, "20000101-000000", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (found, ==, old_run);
  bt_test_rm_rf (project);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/verdict/table", test_table);
  g_test_add_func ("/verdict/apply", test_apply);
  g_test_add_func ("/verdict/run-files", test_run_files);
  g_test_add_func ("/verdict/resume-newest-only", test_resume_newest_only);
  return g_test_run ();
}
