/* test-tune.c: hyperparameter search on a small Shapes project: the same seed gives the same
 * trials and scores, a stopped search resumes where it stopped, the test split is never read
 * (its files are deleted first and the decode counter stays at 0), the best trial is at least
 * as good as the defaults, successive halving promotes the best configs, damaged files fail
 * cleanly; a trial (a BtTrainer run) honours early stopping, class weights, pause and stop; a
 * transfer project's search varies its head's rows only and keeps the preset when applied; the
 * preparation (reading the images once) reports its progress and stops at its gate. */
#include "config.h"

#include <math.h>
#include <string.h>

#include "training/bt-training.h"
#include "training/bt-kfold.h"
#include "training/bt-tune.h"
#include "bt-test-tune-util.h"
#include "bt-test-wait.h"

static char *project_dir;
static BtProject *project;

static BtTuneOptions
small_options (BtTuneStrategy strategy, int trials, guint64 seed)
{
  BtTuneOptions o;
  bt_tune_options_init (&o, bt_project_get_settings (project));
  o.strategy = strategy;
  o.max_trials = trials;
  o.epochs = 2;
  o.seed = seed;
  o.space.lr_min = 3e-4;
  o.space.lr_max = 1e-2;
  return o;
}

static BtTuneSearch *
new_search (const BtTuneOptions *o)
{
  g_autoptr (GError) error = NULL;
  BtTuneSearch *s = bt_tune_search_new (project_dir, bt_project_get_settings (project), o, &error);
  g_assert_no_error (error);
  g_assert_nonnull (s);
  return s;
}

static void
assert_same_trial (const BtTuneTrial *a, const BtTuneTrial *b)
{
  g_assert_cmpint (a->config, ==, b->config);
  g_assert_cmpint (a->epochs, ==, b->epochs);
  g_assert_cmpstr (a->preset, ==, b->preset);
  g_assert_cmpstr (a->optimizer, ==, b->optimizer);
  g_assert_cmpfloat (a->learning_rate, ==, b->learning_rate);
  g_assert_cmpint (a->batch_size, ==, b->batch_size);
  g_assert_cmpfloat (a->dropout, ==, b->dropout);
  g_assert_cmpfloat (a->weight_decay, ==, b->weight_decay);
  g_assert_cmpint (a->augment, ==, b->augment);
  g_assert_cmpfloat (a->label_smoothing, ==, b->label_smoothing);
  g_assert_cmpint (a->hidden, ==, b->hidden);
  g_assert_cmpuint (a->seed, ==, b->seed);
  g_assert_cmpfloat (a->val_acc, ==, b->val_acc);
  g_assert_cmpfloat (a->val_loss, ==, b->val_loss);
  g_assert_cmpuint (a->curve_acc->len, ==, b->curve_acc->len);
  g_assert_cmpmem (a->curve_loss->data, a->curve_loss->len * sizeof (double),
                   b->curve_loss->data, b->curve_loss->len * sizeof (double));
}

typedef struct { int seen; int stop_after; GCancellable *cancel; } StopData;

static void
on_trial (const BtTuneTrial *t, gpointer user_data)
{
  StopData *sd = user_data;
  g_assert_cmpint (t->index, ==, sd->seen);
  sd->seen++;
  if (sd->stop_after > 0 && sd->seen == sd->stop_after)
    g_cancellable_cancel (sd->cancel);
}

static void
test_seed_resume_no_test_reads (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (BtTuneData) d = bt_tune_data_new (project, &error);
  g_assert_no_error (error);
  guint test_before = bt_tune_get_decoded (BT_SPLIT_TEST), val_before = bt_tune_get_decoded (BT_SPLIT_VAL);

  BtTuneOptions o = small_options (BT_TUNE_RANDOM, 3, 7);
  g_autoptr (BtTuneSearch) full = new_search (&o);
  StopData sd = { 0, 0, NULL };
  g_assert_true (bt_tune_search_run (full, d, on_trial, &sd, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpint (sd.seen, ==, 3);
  g_assert_true (bt_tune_search_is_finished (full));
  GPtrArray *ft = bt_tune_search_get_trials (full);
  for (guint i = 0; i < ft->len; i++)
    {
      const BtTuneTrial *t = g_ptr_array_index (ft, i);
      g_assert_cmpuint (t->curve_acc->len, ==, 2);
      g_assert_true (t->val_acc >= 0 && t->val_acc <= 1);
    }
  /* the trials differ from each other (the space is really sampled) */
  const BtTuneTrial *t1 = g_ptr_array_index (ft, 1), *t2 = g_ptr_array_index (ft, 2);
  g_assert_true (t1->learning_rate != t2->learning_rate && t1->seed != t2->seed);

  /* the same seed, stopped after one trial, then reopened from disk and resumed */
  g_autoptr (GCancellable) cancel = g_cancellable_new ();
  g_autofree char *dir = NULL;
  {
    g_autoptr (BtTuneSearch) part = new_search (&o);
    dir = g_strdup (bt_tune_search_get_dir (part));
    StopData sp = { 0, 1, cancel };
    g_assert_false (bt_tune_search_run (part, d, on_trial, &sp, cancel, &error));
    g_assert_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_CANCELLED);
    g_clear_error (&error);
    g_assert_cmpint (sp.seen, ==, 1);
    g_assert_false (bt_tune_search_is_finished (part));
  }
  g_autofree char *found = bt_tune_find_resumable (project_dir);
  g_assert_cmpstr (found, ==, dir);
  g_autoptr (BtTuneSearch) resumed = bt_tune_search_open (dir, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (bt_tune_search_get_trials (resumed)->len, ==, 1);
  StopData sr = { 1, 0, NULL };
  g_assert_true (bt_tune_search_run (resumed, d, on_trial, &sr, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpint (sr.seen, ==, 3);   /* two more: it went on from trial 2 */
  GPtrArray *rt = bt_tune_search_get_trials (resumed);
  g_assert_cmpuint (rt->len, ==, ft->len);
  for (guint i = 0; i < ft->len; i++)
    assert_same_trial (g_ptr_array_index (ft, i), g_ptr_array_index (rt, i));
  g_autofree char *none = bt_tune_find_resumable (project_dir);
  g_assert_null (none);

  /* another seed plans other trials */
  BtTuneOptions o2 = small_options (BT_TUNE_RANDOM, 3, 8);
  g_autoptr (BtTuneSearch) other = new_search (&o2);
  g_autoptr (BtTuneTrial) p1 = bt_tune_search_plan_next (other);
  g_assert_cmpint (p1->config, ==, 0);
  bt_tune_search_record (other, p1, &error);
  g_autoptr (BtTuneTrial) p2 = bt_tune_search_plan_next (other);
  g_assert_true (p2->learning_rate != t1->learning_rate);

  /* validation images were decoded, test images never (their files are gone, too) */
  g_assert_cmpuint (bt_tune_get_decoded (BT_SPLIT_VAL), >, val_before);
  g_assert_cmpuint (bt_tune_get_decoded (BT_SPLIT_TEST), ==, test_before);
  g_assert_cmpuint (bt_tune_get_decoded (BT_SPLIT_TEST), ==, 0);
  bt_tune_options_clear (&o);
  bt_tune_options_clear (&o2);
}

static void
test_adaptive_beats_defaults (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (BtTuneData) d = bt_tune_data_new (project, &error);
  g_assert_no_error (error);
  BtTuneOptions o = small_options (BT_TUNE_ADAPTIVE, 6, 11);
  o.epochs = 3;
  g_autoptr (BtTuneSearch) s = new_search (&o);
  g_assert_true (bt_tune_search_run (s, d, NULL, NULL, NULL, &error));
  g_assert_no_error (error);
  GPtrArray *trials = bt_tune_search_get_trials (s);
  g_assert_cmpuint (trials->len, <=, 6);
  g_assert_cmpuint (trials->len, >=, 4);
  /* later rungs train fewer configs for more epochs */
  const BtTuneTrial *first = g_ptr_array_index (trials, 0), *last = g_ptr_array_index (trials, trials->len - 1);
  g_assert_cmpint (last->rung, >, first->rung);
  g_assert_cmpint (last->epochs, >, first->epochs);
  g_assert_cmpint (last->epochs, ==, 3);

  /* the project's own settings, trained the same way for the full epochs */
  g_autoptr (BtTuneTrial) def = bt_tune_trial_new ();
  BtProjectSettings base;
  bt_project_settings_copy (&base, bt_project_get_settings (project));
  def->preset = g_strdup (base.preset);
  def->optimizer = g_strdup (base.optimizer);
  def->learning_rate = base.learning_rate;
  def->batch_size = base.batch_size;
  def->dropout = base.dropout;
  def->weight_decay = base.weight_decay;
  def->epochs = 3;
  def->seed = base.seed;
  guint n = bt_tune_data_get_n_items (d);
  g_autoptr (GArray) tr = g_array_new (FALSE, FALSE, sizeof (guint)), va = g_array_new (FALSE, FALSE, sizeof (guint));
  for (guint i = 0; i < n; i++)
    g_array_append_val (bt_tune_data_get_split (d, i) == BT_SPLIT_VAL ? va : tr, i);
  g_assert_true (bt_tune_train (d, def, (guint *) tr->data, tr->len, (guint *) va->data, va->len, NULL, &error));
  g_assert_no_error (error);
  g_autoptr (GPtrArray) board = bt_tune_search_leaderboard (s);
  const BtTuneTrial *best = g_ptr_array_index (board, 0);
  g_test_message ("defaults %.3f, best trial %.3f (%d epochs)", def->val_acc, best->val_acc, best->epochs);
  g_assert_cmpfloat (best->val_acc, >=, def->val_acc);
  for (guint i = 1; i < board->len; i++)
    g_assert_cmpfloat (((BtTuneTrial *) g_ptr_array_index (board, i))->val_acc, <=, best->val_acc);

  /* "Use these settings": the trial's hyperparameters over the project's */
  bt_tune_trial_apply (best, &base);
  g_assert_cmpfloat (base.learning_rate, ==, best->learning_rate);
  g_assert_cmpint (base.batch_size, ==, best->batch_size);
  g_assert_cmpstr (base.optimizer, ==, best->optimizer);
  g_assert_cmpint (base.width, ==, 32);
  bt_project_settings_clear (&base);
  bt_tune_options_clear (&o);
}

/* The planner with made-up scores (no training): successive halving promotes the top half. */
static void
test_halving_plan (void)
{
  BtTuneOptions o = small_options (BT_TUNE_ADAPTIVE, 7, 3);
  o.epochs = 4;    /* rungs of 1, 2, 4 epochs: 4 + 2 + 1 trials */
  g_autoptr (BtTuneSearch) s = new_search (&o);
  g_autoptr (GError) error = NULL;
  const double score[] = { 0.3, 0.9, 0.5, 0.7 };
  for (int i = 0; i < 4; i++)
    {
      g_autoptr (BtTuneTrial) t = bt_tune_search_plan_next (s);
      g_assert_cmpint (t->rung, ==, 0);
      g_assert_cmpint (t->epochs, ==, 1);
      g_assert_cmpint (t->config, ==, i);
      t->val_acc = score[i];
      t->val_loss = 1.0;
      g_assert_true (bt_tune_search_record (s, t, &error));
    }
  const int want_config[] = { 1, 3 };
  for (int i = 0; i < 2; i++)
    {
      g_autoptr (BtTuneTrial) t = bt_tune_search_plan_next (s);
      g_assert_cmpint (t->rung, ==, 1);
      g_assert_cmpint (t->epochs, ==, 2);
      g_assert_cmpint (t->config, ==, want_config[i]);
      const BtTuneTrial *r0 = g_ptr_array_index (bt_tune_search_get_trials (s), want_config[i]);
      g_assert_cmpfloat (t->learning_rate, ==, r0->learning_rate);   /* the same config, more epochs */
      g_assert_cmpuint (t->seed, ==, r0->seed);
      t->val_acc = i == 0 ? 0.6 : 0.8;
      t->val_loss = 1.0;
      g_assert_true (bt_tune_search_record (s, t, &error));
    }
  g_autoptr (BtTuneTrial) last = bt_tune_search_plan_next (s);
  g_assert_cmpint (last->rung, ==, 2);
  g_assert_cmpint (last->epochs, ==, 4);
  g_assert_cmpint (last->config, ==, 3);
  g_assert_true (bt_tune_search_record (s, last, &error));
  g_assert_null (bt_tune_search_plan_next (s));
  g_assert_cmpint (bt_tune_search_get_n_planned (s), ==, 7);   /* what the Search window's bar counts */

  /* grid: distinct points, no repeats */
  BtTuneOptions g = small_options (BT_TUNE_GRID, 20, 5);
  g_autoptr (BtTuneSearch) gs = new_search (&g);
  g_autoptr (GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  for (int i = 0; i < 20; i++)
    {
      g_autoptr (BtTuneTrial) t = bt_tune_search_plan_next (gs);
      g_assert_nonnull (t);
      char *desc = bt_tune_trial_describe (t);
      g_assert_false (g_hash_table_contains (seen, desc));
      g_hash_table_add (seen, desc);
      g_assert_true (bt_tune_search_record (gs, t, &error));
    }
  g_assert_null (bt_tune_search_plan_next (gs));   /* the trial budget */
  g_assert_cmpint (bt_tune_search_get_n_planned (gs), ==, 20);

  /* a grid smaller than its budget: every point and the base config, as many as planned */
  BtTuneOptions sg = small_options (BT_TUNE_GRID, 500, 6);
  sg.space.grid_points = 2;
  sg.space.vary_augment = FALSE;
  sg.space.dropout_max = sg.space.dropout_min;
  sg.space.weight_decay_max = sg.space.weight_decay_min;
  g_autoptr (BtTuneSearch) sgs = new_search (&sg);
  int n_grid = 0;
  for (BtTuneTrial *t; (t = bt_tune_search_plan_next (sgs)) != NULL; bt_tune_trial_free (t), n_grid++)
    g_assert_true (bt_tune_search_record (sgs, t, &error));
  g_assert_cmpint (n_grid, >, 2);
  g_assert_cmpint (n_grid, <, 500);
  g_assert_cmpint (bt_tune_search_get_n_planned (sgs), ==, n_grid);
  bt_tune_options_clear (&sg);

  /* a minutes budget: no new trial once the recorded trials' time reaches it */
  BtTuneOptions m = small_options (BT_TUNE_RANDOM, 0, 9);
  m.max_minutes = 1.0;
  g_autoptr (BtTuneSearch) ms = new_search (&m);
  for (int i = 0; i < 2; i++)
    {
      g_autoptr (BtTuneTrial) t = bt_tune_search_plan_next (ms);
      g_assert_nonnull (t);
      t->seconds = 25.0;
      g_assert_true (bt_tune_search_record (ms, t, &error));
    }
  g_autoptr (BtTuneTrial) third = bt_tune_search_plan_next (ms);
  g_assert_nonnull (third);   /* 50 s spent */
  third->seconds = 15.0;
  g_assert_true (bt_tune_search_record (ms, third, &error));
  g_assert_null (bt_tune_search_plan_next (ms));   /* 65 s ≥ 1 min */
  g_assert_cmpint (bt_tune_search_get_n_planned (ms), ==, 0);   /* only minutes bound it */
  bt_tune_options_clear (&m);
  bt_tune_options_clear (&o);
  bt_tune_options_clear (&g);
}

static void
test_bad_input (void)
{
  g_autoptr (GError) error = NULL;
  BtTuneOptions o = small_options (BT_TUNE_RANDOM, 2, 1);
  o.space.lr_min = -1;
  g_assert_null (bt_tune_search_new (project_dir, bt_project_get_settings (project), &o, &error));
  g_assert_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID);
  g_clear_error (&error);
  o.space.lr_min = 1e-3;
  o.max_trials = 0;   /* no budget at all */
  g_assert_null (bt_tune_search_new (project_dir, bt_project_get_settings (project), &o, &error));
  g_assert_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID);
  g_clear_error (&error);
  o.max_trials = 2;

  g_autoptr (BtTuneSearch) s = new_search (&o);
  g_autoptr (BtTuneTrial) t = bt_tune_search_plan_next (s);
  g_assert_true (bt_tune_search_record (s, t, &error));
  g_autofree char *dir = g_strdup (bt_tune_search_get_dir (s));
  g_autofree char *csv = g_build_filename (dir, "trials.csv", NULL);
  g_autofree char *ini = g_build_filename (dir, "search.ini", NULL);
  const char *const bad_csv[] = { "x\n1,2,3\n", "h\n0,0,0,2,small-cnn,adam,nan,32,0,0,0,1,0.5,1,1,1,0,,,\n",
                                  "h\n0,0,0,2,evil,adam,0.1,32,0,0,0,1,0.5,1,1,1,0,,,\n",
                                  "h\n5,0,0,2,small-cnn,adam,0.1,32,0,0,0,1,0.5,1,1,1,0,0.5;x,,\n" };
  for (guint i = 0; i < G_N_ELEMENTS (bad_csv); i++)
    {
      g_assert_true (g_file_set_contents (csv, bad_csv[i], -1, NULL));
      g_autoptr (BtTuneSearch) r = bt_tune_search_open (dir, &error);
      g_assert_null (r);
      g_assert_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_IO);
      g_clear_error (&error);
    }
  g_assert_true (g_file_set_contents (ini, "[search]\nstrategy=grid\nepochs=-4\n", -1, NULL));
  g_assert_null (bt_tune_search_open (dir, &error));
  g_assert_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_IO);
  g_clear_error (&error);
  g_assert_null (bt_tune_search_open ("/nonexistent/tune-x", &error));
  g_assert_nonnull (error);
  bt_tune_options_clear (&o);
}


/* A snapshot of the project's train+val images with some settings changed (then restored). */
static BtTuneData *
data_with (int patience, double min_delta, gboolean class_weights)
{
  g_autoptr (GError) error = NULL;
  BtProjectSettings keep, s;
  bt_project_settings_copy (&keep, bt_project_get_settings (project));
  bt_project_settings_copy (&s, &keep);
  s.early_stopping_patience = patience;
  s.early_stopping_min_delta = min_delta;
  s.class_weights = class_weights;
  g_assert_true (bt_project_update_settings (project, &s, &error));
  BtTuneData *d = bt_tune_data_new (project, &error);
  g_assert_no_error (error);
  g_assert_true (bt_project_update_settings (project, &keep, &error));
  bt_project_settings_clear (&keep);
  bt_project_settings_clear (&s);
  return d;
}

static BtTuneTrial *
base_trial (BtTuneData *d, int epochs)
{
  BtTuneTrial *t = bt_kfold_setting_from_project (d, epochs);
  t->augment = FALSE;
  t->seed = 17;
  return t;
}

static void
split_of (BtTuneData *d, GArray *train, GArray *val)
{
  for (guint i = 0; i < bt_tune_data_get_n_items (d); i++)
    g_array_append_val (bt_tune_data_get_split (d, i) == BT_SPLIT_VAL ? val : train, i);
}

static guint
count_entries (const char *dir)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  guint n = 0;
  while (d != NULL && g_dir_read_name (d) != NULL)
    n++;
  return n;
}

/* The project's early stopping ends a trial as it ends a run; a trial writes no files. */
static void
test_trial_early_stopping (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *runs = g_build_filename (project_dir, "runs", NULL);
  g_autofree char *models = g_build_filename (project_dir, "models", NULL);
  guint runs_before = count_entries (runs), models_before = count_entries (models);
  g_autoptr (GArray) tr = g_array_new (FALSE, FALSE, sizeof (guint)), va = g_array_new (FALSE, FALSE, sizeof (guint));

  /* no patience: all 4 epochs */
  g_autoptr (BtTuneData) off = data_with (0, 0, FALSE);
  split_of (off, tr, va);
  g_autoptr (BtTuneTrial) full = base_trial (off, 4);
  g_assert_true (bt_tune_train (off, full, (guint *) tr->data, tr->len, (guint *) va->data, va->len, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (full->curve_acc->len, ==, 4);
  g_assert_cmpuint (full->curve_train_acc->len, ==, 4);

  /* patience 1 and a minimum change no epoch can reach: epoch 1 is the best, epoch 2 the
   * first without improvement, and the trainer stops there */
  g_autoptr (BtTuneData) on = data_with (1, 1e5, FALSE);
  g_autoptr (BtTuneTrial) early = base_trial (on, 4);
  g_assert_true (bt_tune_train (on, early, (guint *) tr->data, tr->len, (guint *) va->data, va->len, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpint (early->epochs, ==, 4);
  g_assert_cmpuint (early->curve_acc->len, ==, 2);
  /* a trial gets its verdict like any run; early stopping is behind it unless something worse is */
  g_assert_cmpint (full->verdict, !=, BT_VERDICT_NONE);
  g_assert_true (early->verdict == BT_VERDICT_STOPPED_EARLY || bt_verdict_is_failure (&(BtVerdict) { .kind = early->verdict }));
  g_assert_cmpuint (early->curve_loss->len, ==, 2);
  /* the epochs it did train are those of the full trial (same seed, same loop) */
  g_assert_cmpmem (early->curve_loss->data, 2 * sizeof (double), full->curve_loss->data, 2 * sizeof (double));

  g_assert_cmpuint (count_entries (runs), ==, runs_before);
  g_assert_cmpuint (count_entries (models), ==, models_before);
}

/* Class weights come from the trial's own training items: on an exactly balanced subset they
 * are all 1 (the curves match an unweighted trial), on an unbalanced one they change them. */
static void
test_trial_class_weights (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (BtTuneData) plain = data_with (0, 0, FALSE);
  g_autoptr (BtTuneData) weighted = data_with (0, 0, TRUE);
  g_assert_true (bt_tune_data_get_settings (weighted)->class_weights);
  guint n = bt_tune_data_get_n_items (plain);
  const int *labels = bt_tune_data_get_labels (plain);
  g_autoptr (GArray) all_tr = g_array_new (FALSE, FALSE, sizeof (guint)), va = g_array_new (FALSE, FALSE, sizeof (guint));
  split_of (plain, all_tr, va);

  /* balanced: the same number of training images of every class */
  guint per_class[4] = { 0 }, least = G_MAXUINT;
  for (guint i = 0; i < all_tr->len; i++)
    per_class[labels[g_array_index (all_tr, guint, i)]]++;
  for (guint k = 0; k < 4; k++)
    least = MIN (least, per_class[k]);
  g_assert_cmpuint (least, >=, 4);
  g_autoptr (GArray) balanced = g_array_new (FALSE, FALSE, sizeof (guint));
  g_autoptr (GArray) unbalanced = g_array_new (FALSE, FALSE, sizeof (guint));
  guint taken[4] = { 0 };
  for (guint i = 0; i < all_tr->len; i++)
    {
      guint idx = g_array_index (all_tr, guint, i);
      int c = labels[idx];
      if (taken[c] < least)
        g_array_append_val (balanced, idx);
      /* class 0 keeps a quarter of its images */
      if (c != 0 || taken[c] < least / 4)
        g_array_append_val (unbalanced, idx);
      taken[c]++;
    }
  g_assert_cmpuint (n, >, balanced->len);

  g_autoptr (BtTuneTrial) a = base_trial (plain, 1), b = base_trial (weighted, 1);
  g_autoptr (BtTuneTrial) c = base_trial (plain, 1), d = base_trial (weighted, 1);
  g_assert_true (bt_tune_train (plain, a, (guint *) balanced->data, balanced->len, (guint *) va->data, va->len, NULL, &error));
  g_assert_true (bt_tune_train (weighted, b, (guint *) balanced->data, balanced->len, (guint *) va->data, va->len, NULL, &error));
  g_assert_true (bt_tune_train (plain, c, (guint *) unbalanced->data, unbalanced->len, (guint *) va->data, va->len, NULL, &error));
  g_assert_true (bt_tune_train (weighted, d, (guint *) unbalanced->data, unbalanced->len, (guint *) va->data, va->len, NULL, &error));
  g_assert_no_error (error);
  g_test_message ("train loss balanced %.6f / %.6f, unbalanced %.6f / %.6f",
                  g_array_index (a->curve_train_loss, double, 0), g_array_index (b->curve_train_loss, double, 0),
                  g_array_index (c->curve_train_loss, double, 0), g_array_index (d->curve_train_loss, double, 0));
  g_assert_cmpfloat_with_epsilon (g_array_index (a->curve_train_loss, double, 0),
                                  g_array_index (b->curve_train_loss, double, 0), 1e-6);
  g_assert_cmpfloat_with_epsilon (g_array_index (a->curve_loss, double, 0),
                                  g_array_index (b->curve_loss, double, 0), 1e-6);
  g_assert_cmpfloat (fabs (g_array_index (c->curve_train_loss, double, 0) -
                           g_array_index (d->curve_train_loss, double, 0)), >, 1e-4);
}

/* Pause: the trainer pauses the trial at its first batch; on PAUSED the test resumes it. */
typedef struct { int paused_seen; } PauseData;

static void
pause_state_cb (BtTrainer *trainer, PauseData *pd)
{
  if (bt_trainer_get_state (trainer) == BT_TRAINER_PAUSED)
    {
      pd->paused_seen++;
      bt_trainer_resume (trainer);
    }
}

static void
pause_at_start (BtTrainer *trainer, gpointer user_data)
{
  if (trainer == NULL)
    return;
  g_signal_connect (trainer, "state-changed", G_CALLBACK (pause_state_cb), user_data);
  bt_trainer_pause (trainer);
}

/* A trial paused by its trainer waits and then goes on to the same result; a trial stopped from
 * another thread's cancellable ends with CANCELLED. */
static gpointer
cancel_now (gpointer data)
{
  g_cancellable_cancel (data);
  return NULL;
}

/* Once the trial's first step has arrived, another thread cancels it (a condition, not a delay). */
static void
cancel_on_first_step (BtTrainer *trainer, const BtStepInfo *info, GCancellable *cancel)
{
  if (info->epoch >= 1 && !g_cancellable_is_cancelled (cancel))
    g_thread_join (g_thread_new ("cancel", cancel_now, cancel));
}

static void
cancel_after_start (BtTrainer *trainer, gpointer user_data)
{
  if (trainer != NULL)
    g_signal_connect (trainer, "step", G_CALLBACK (cancel_on_first_step), user_data);
}

static void
test_trial_stop (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (BtTuneData) d = data_with (0, 0, FALSE);
  g_autoptr (GArray) tr = g_array_new (FALSE, FALSE, sizeof (guint)), va = g_array_new (FALSE, FALSE, sizeof (guint));
  split_of (d, tr, va);
  g_autoptr (BtTuneTrial) plain = base_trial (d, 2), paused = base_trial (d, 2);
  PauseData pd = { 0 };
  g_assert_true (bt_tune_train (d, plain, (guint *) tr->data, tr->len, (guint *) va->data, va->len, NULL, &error));
  g_assert_true (bt_tune_train_full (d, paused, (guint *) tr->data, tr->len, (guint *) va->data, va->len,
                                     pause_at_start, &pd, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpint (pd.paused_seen, ==, 1);
  g_assert_cmpmem (paused->curve_loss->data, 2 * sizeof (double), plain->curve_loss->data, 2 * sizeof (double));

  g_autoptr (BtTuneTrial) t = base_trial (d, 500);
  g_autoptr (GCancellable) cancel = g_cancellable_new ();
  g_assert_false (bt_tune_train_full (d, t, (guint *) tr->data, tr->len, (guint *) va->data, va->len,
                                      cancel_after_start, cancel, cancel, &error));
  g_assert_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_CANCELLED);
  /* cancelled during the first epoch: it ends within a batch, before a second epoch is scored */
  g_assert_cmpuint (t->curve_acc->len, <=, 1);
}

typedef struct {
  BtTuneSearch *search;
  BtTuneData   *data;
  GCancellable *cancel;
  GError       *error;
} SearchThread;

static gpointer
search_thread (gpointer user_data)
{
  SearchThread *st = user_data;
  bt_tune_search_run (st->search, st->data, NULL, NULL, st->cancel, &st->error);
  return NULL;
}

/* Whether the run lock file at path names kind as its holder. */
static gboolean
lock_names (const char *path, const char *kind)
{
  g_autofree char *text = NULL;
  return g_file_get_contents (path, &text, NULL, NULL) && strstr (text, kind) != NULL;
}

/* A running search holds the project's run lock (its folder is written by nobody else): a
 * second search started on another thread meanwhile is refused and says a search is running;
 * once the first is stopped, a new one starts. */
static void
test_one_writer (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (BtTuneData) d = bt_tune_data_new (project, &error);
  g_assert_no_error (error);
  BtTuneOptions o = small_options (BT_TUNE_RANDOM, 50, 5);
  g_autoptr (BtTuneSearch) first = new_search (&o);
  g_autoptr (GCancellable) cancel = g_cancellable_new ();
  bt_tune_search_set_paused (first, TRUE);   /* holds it until stopped */
  SearchThread st = { first, d, cancel, NULL };
  GThread *thread = g_thread_new ("search", search_thread, &st);
  /* the lock file names its holder's kind once the run holds it */
  g_autofree char *lock = g_build_filename (project_dir, "runs", ".lock", NULL);
  BT_TEST_WAIT (lock_names (lock, " search "));
  g_assert_null (bt_tune_search_new (project_dir, bt_project_get_settings (project), &o, &error));
  g_assert_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_BUSY);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "search for the best settings is running"));
  g_clear_error (&error);
  g_cancellable_cancel (cancel);
  g_thread_join (thread);
  g_assert_error (st.error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_CANCELLED);
  g_clear_error (&st.error);
  g_autoptr (BtTuneSearch) next = new_search (&o);
  bt_tune_options_clear (&o);
}

/* Two copies of one search (the app's, read earlier, and a `tune --resume`): the copy that runs
 * second goes on from the trials the first wrote instead of writing its older list over them. */
static void
test_stale_copy (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (BtTuneData) d = bt_tune_data_new (project, &error);
  g_assert_no_error (error);
  BtTuneOptions o = small_options (BT_TUNE_RANDOM, 3, 21);
  g_autoptr (BtTuneSearch) made = new_search (&o);
  g_autoptr (BtTuneSearch) app = bt_tune_search_open (bt_tune_search_get_dir (made), &error);
  g_assert_no_error (error);
  g_autoptr (BtTuneSearch) cli = bt_tune_search_open (bt_tune_search_get_dir (made), &error);
  g_assert_no_error (error);
  g_autoptr (GCancellable) cancel = g_cancellable_new ();
  StopData sc = { 0, 1, cancel };
  g_assert_false (bt_tune_search_run (cli, d, on_trial, &sc, cancel, &error));
  g_assert_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_CANCELLED);
  g_clear_error (&error);
  StopData sa = { 1, 0, NULL };   /* on_trial checks that the first it sees is trial 2 */
  g_assert_true (bt_tune_search_run (app, d, on_trial, &sa, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpint (sa.seen, ==, 3);
  g_autoptr (BtTuneSearch) disk = bt_tune_search_open (bt_tune_search_get_dir (made), &error);
  g_assert_no_error (error);
  g_assert_cmpuint (bt_tune_search_get_trials (disk)->len, ==, 3);
  assert_same_trial (g_ptr_array_index (bt_tune_search_get_trials (cli), 0),
                     g_ptr_array_index (bt_tune_search_get_trials (disk), 0));
  bt_tune_options_clear (&o);
}

/* A transfer project's search (no backbone needed: nothing is trained here): its space is the
 * head's, its plan varies hidden units and label smoothing and nothing of the images, its trials
 * round-trip through trials.csv, and applied they keep the preset; presets of the two kinds never
 * mix, and pixels never train a transfer trial. */
static void
test_transfer_space (void)
{
  g_autoptr (GError) error = NULL;
  /* the table's defaults, a transfer head of the person's own */
  BtProjectSettings base;
  bt_project_settings_init (&base);
  base.label_smoothing = 0.05;
  base.transfer_hidden = 64;
  base.augment_flip = TRUE;
  g_free (base.preset);
  base.preset = g_strdup ("transfer");
  BtTuneOptions o;
  bt_tune_options_init (&o, &base);
  g_assert_cmpstr (o.space.presets[0], ==, "transfer");
  g_assert_null (o.space.presets[1]);
  g_assert_cmpint (o.space.n_batch_sizes, ==, 1);
  g_assert_cmpint (o.space.batch_sizes[0], ==, base.batch_size);
  g_assert_false (o.space.vary_augment);
  g_assert_cmpint (o.space.n_hidden_units, ==, 2);
  g_assert_cmpfloat (o.space.label_smoothing_max, >, o.space.label_smoothing_min);
  o.max_trials = 12;

  /* a transfer space on a pixel project, a pixel space on a transfer project, both kinds at once */
  g_assert_null (bt_tune_search_new (project_dir, bt_project_get_settings (project), &o, &error));
  g_assert_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID);
  g_clear_error (&error);
  BtTuneOptions pix = small_options (BT_TUNE_RANDOM, 2, 1);
  g_assert_null (bt_tune_search_new (project_dir, &base, &pix, &error));
  g_assert_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID);
  g_clear_error (&error);
  g_strfreev (pix.space.presets);
  const char *mixed[] = { "transfer", "small-cnn", NULL };
  pix.space.presets = g_strdupv ((char **) mixed);
  g_assert_null (bt_tune_search_new (project_dir, &base, &pix, &error));
  g_assert_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID);
  g_clear_error (&error);
  bt_tune_options_clear (&pix);

  g_autofree char *tmp = g_path_get_dirname (project_dir);
  g_autofree char *dir = g_build_filename (tmp, "transfer", NULL);
  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  g_autoptr (BtTuneSearch) s = bt_tune_search_new (dir, &base, &o, &error);
  g_assert_no_error (error);
  gboolean hidden_seen[2] = { FALSE, FALSE };
  double ls_first = -1;
  gboolean ls_varies = FALSE;
  for (int i = 0; i < 12; i++)
    {
      g_autoptr (BtTuneTrial) t = bt_tune_search_plan_next (s);
      g_assert_nonnull (t);
      g_assert_cmpstr (t->preset, ==, "transfer");
      g_assert_cmpint (t->batch_size, ==, base.batch_size);
      g_assert_true (t->augment);
      if (i == 0)
        {
          /* the project's own head first */
          g_assert_cmpint (t->hidden, ==, 64);
          g_assert_cmpfloat (t->label_smoothing, ==, 0.05);
        }
      else
        {
          g_assert_true (t->hidden == 0 || t->hidden == 256);
          hidden_seen[t->hidden == 256] = TRUE;
          g_assert_cmpfloat (t->label_smoothing, >=, 0);
          g_assert_cmpfloat (t->label_smoothing, <=, 0.1);
          ls_varies |= ls_first >= 0 && t->label_smoothing != ls_first;
          ls_first = ls_first < 0 ? t->label_smoothing : ls_first;
        }
      t->val_acc = 0.5 + 0.01 * i;
      t->val_loss = 1.0;
      t->best_epoch = 1 + i % 3;
      g_assert_true (bt_tune_search_record (s, t, &error));
    }
  g_assert_true (hidden_seen[0] && hidden_seen[1]);
  g_assert_true (ls_varies);
  g_autoptr (BtTuneSearch) back = bt_tune_search_open (bt_tune_search_get_dir (s), &error);
  g_assert_no_error (error);
  g_assert_cmpint (bt_tune_search_get_options (back)->space.n_hidden_units, ==, 2);
  for (guint i = 0; i < 12; i++)
    assert_same_trial (g_ptr_array_index (bt_tune_search_get_trials (s), i),
                       g_ptr_array_index (bt_tune_search_get_trials (back), i));

  /* applied: the preset stays, the head's rows and its best epoch are written */
  const BtTuneTrial *last = g_ptr_array_index (bt_tune_search_get_trials (back), 11);
  BtProjectSettings applied;
  bt_project_settings_copy (&applied, &base);
  bt_tune_trial_apply (last, &applied);
  g_assert_cmpstr (applied.preset, ==, "transfer");
  g_assert_cmpint (applied.transfer_hidden, ==, last->hidden);
  g_assert_cmpfloat (applied.label_smoothing, ==, last->label_smoothing);
  g_assert_cmpint (applied.epochs, ==, last->best_epoch);
  g_assert_cmpstr (applied.recipe, ==, "manual");
  g_autofree char *desc = bt_tune_trial_describe (last);
  g_assert_true (g_str_has_prefix (desc, "transfer, "));
  g_assert_nonnull (strstr (desc, "smoothing "));
  bt_project_settings_clear (&applied);

  /* the pixels of a Shapes project cannot train a head */
  g_autoptr (BtTuneData) d = bt_tune_data_new (project, &error);
  g_assert_no_error (error);
  g_assert_false (bt_tune_data_is_transfer (d));
  g_autoptr (BtTuneTrial) t = bt_tune_trial_copy (last);
  guint one = 0;
  g_assert_false (bt_tune_train (d, t, &one, 1, &one, 1, NULL, &error));
  g_assert_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "only in a transfer project"));
  bt_tune_options_clear (&o);
  bt_project_settings_clear (&base);
}

/* bt_tune_data_prepare_full says how far it is, on the calling thread, ending at every train and
 * validation image read; a Stop seen by its gate ends it, cancelled, and a later prepare reads them. */
typedef struct { guint calls, last_done, last_total, backwards; GThread *thread; } Prep;

static void
on_prepare (guint done, guint total, gpointer user_data)
{
  Prep *p = user_data;
  g_assert_true (g_thread_self () == p->thread);
  p->backwards += p->calls > 0 && done < p->last_done;
  p->calls++;
  p->last_done = done;
  p->last_total = total;
}

/* Stop pressed while the images are read: the gate wakes up cancelled */
static gboolean
stop_gate (gpointer cancel)
{
  g_cancellable_cancel (cancel);
  return FALSE;
}

static void
test_prepare_progress (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (BtTuneData) stopped = bt_tune_data_new (project, &error);
  g_assert_no_error (error);
  Prep p = { 0, .thread = g_thread_self () };
  g_autoptr (GCancellable) cancel = g_cancellable_new ();
  g_assert_false (bt_tune_data_prepare_full (stopped, on_prepare, &p, stop_gate, cancel, cancel, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_null (bt_tune_data_get_cache (stopped));
  g_clear_error (&error);

  memset (&p, 0, sizeof p);
  p.thread = g_thread_self ();
  g_assert_true (bt_tune_data_prepare_full (stopped, on_prepare, &p, NULL, NULL, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (p.calls, >, 0);
  g_assert_cmpuint (p.backwards, ==, 0);
  g_assert_cmpuint (p.last_total, ==, bt_tune_data_get_n_items (stopped));
  g_assert_cmpuint (p.last_done, ==, p.last_total);
  g_assert_nonnull (bt_tune_data_get_cache (stopped));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  bt_engine_set_threads (2);
  g_autoptr (GError) error = NULL;
  g_autofree char *tmp = g_dir_make_tmp ("bt-tune-XXXXXX", &error);
  g_assert_no_error (error);
  project_dir = g_build_filename (tmp, "shapes", NULL);
  project = bt_test_shapes_project (project_dir, 30);
  /* delete the test split's files: a search that read them would fail to decode */
  g_autoptr (BtSplitView) tv = bt_project_split_view (project, BT_SPLIT_TEST);
  g_assert_cmpuint (tv->n, >, 0);
  for (guint i = 0; i < tv->n; i++)
    {
      g_autoptr (BtItem) it = g_list_model_get_item (bt_project_get_items (project), tv->items[i]);
      g_assert_cmpint (g_remove (bt_item_get_path (it)), ==, 0);
    }
  g_test_add_func ("/tune/seed-resume-no-test-reads", test_seed_resume_no_test_reads);
  g_test_add_func ("/tune/adaptive-at-least-defaults", test_adaptive_beats_defaults);
  g_test_add_func ("/tune/halving-and-grid-plans", test_halving_plan);
  g_test_add_func ("/tune/bad-input", test_bad_input);
  g_test_add_func ("/tune/trial-early-stopping", test_trial_early_stopping);
  g_test_add_func ("/tune/trial-class-weights", test_trial_class_weights);
  g_test_add_func ("/tune/trial-stop", test_trial_stop);
  g_test_add_func ("/tune/one-writer", test_one_writer);
  g_test_add_func ("/tune/stale-copy", test_stale_copy);
  g_test_add_func ("/tune/transfer-space", test_transfer_space);
  g_test_add_func ("/tune/prepare-progress", test_prepare_progress);
  int rc = g_test_run ();
  g_clear_object (&project);
  bt_test_rm_rf (tmp);
  g_free (project_dir);
  return rc;
}
