/* test-trainer.c: BtTrainer on the built-in Shapes sample: it learns, its events arrive in order
 * on the caller's thread, pause/resume/stop work, a killed run resumes to identical weights, and
 * an absurd learning rate stops training without harming the best model. */
#include "config.h"

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "training/bt-training-private.h"
#include "training/bt-transfer.h"
#include "training/bt-verdict.h"
#include "training/bt-run-files.h"
#include "bt-test-fs.h"
#include "bt-test-wait.h"

#define SAMPLE_PER_CLASS 60
#define SAMPLE_SIZE 32
#define SHAPES_PER_CLASS 150
#define SHAPES_EPOCHS 30

static char *sample_dir;   /* one Shapes sample for the whole program; runs add runs/ and models/ */

/* A fresh project over the shared sample images (so runs of different tests don't mix). */
static void set_test_settings (BtProject *project, int epochs, const char *optimizer, double lr);

static BtProject *
make_project (const char *name, int epochs, const char *optimizer, double lr)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_build_filename (sample_dir, name, NULL);
  g_autofree char *images = g_build_filename (sample_dir, "sample", "images", NULL);
  const char *paths[] = { images, NULL };
  g_autoptr(BtScanResult) scan = NULL;
  BtProject *project;

  project = bt_project_create (dir, name, &error);
  g_assert_no_error (error);
  scan = bt_scan_paths (paths, BT_SCAN_FOLDER_OF_CLASSES, NULL, TRUE, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (bt_project_apply_scan (project, scan, &error), ==, 4 * SAMPLE_PER_CLASS);
  g_assert_no_error (error);
  set_test_settings (project, epochs, optimizer, lr);
  return project;
}

static void
set_test_settings (BtProject *project, int epochs, const char *optimizer, double lr)
{
  g_autoptr(GError) error = NULL;
  BtProjectSettings s;

  bt_project_settings_copy (&s, bt_project_get_settings (project));
  g_free (s.preset);
  s.preset = g_strdup ("small-cnn");
  s.width = s.height = SAMPLE_SIZE;
  s.channels = 3;
  s.epochs = epochs;
  s.batch_size = 32;
  g_free (s.optimizer);
  s.optimizer = g_strdup (optimizer);
  s.learning_rate = lr;
  g_free (s.schedule);
  s.schedule = g_strdup ("constant");
  s.augment_flip = s.augment_crop = s.augment_rotate = s.augment_color = FALSE;
  s.early_stopping_patience = 0;
  s.restore_best = TRUE;
  s.seed = 7;
  g_assert_true (bt_project_update_settings (project, &s, &error));
  g_assert_no_error (error);
  bt_project_settings_clear (&s);
}

/* ---- Recording events ---- */

typedef enum { REC_STEP, REC_EPOCH, REC_MESSAGE, REC_STATE, REC_FINISHED } RecKind;

typedef struct {
  GThread *main_thread;
  GMainLoop *loop;
  GArray *kinds;          /* RecKind, in arrival order */
  GArray *epochs;         /* BtEpochInfo */
  GArray *step_infos;     /* BtStepInfo */
  GArray *samples;        /* BtStepSample, from take_steps */
  GPtrArray *messages;
  GArray *states;         /* BtTrainerState */
  GError *error;
  gboolean finished;
  gboolean wrong_thread;
  gboolean after_finished;
  /* scripted actions */
  int pause_at_step;      /* global step at which to pause (0 = never) */
  int stop_at_step;       /* global step at which to stop (0 = never, < 0 = at once) */
  gint64 trained_at_stop; /* the worker's last step when stop was asked (from take_steps) */
  gboolean paused_seen;
  gboolean pause_checked;
  guint samples_at_pause;
} Recorder;

static void
recorder_init (Recorder *r)
{
  memset (r, 0, sizeof *r);
  r->main_thread = g_thread_self ();
  r->loop = g_main_loop_new (NULL, FALSE);
  r->kinds = g_array_new (FALSE, FALSE, sizeof (RecKind));
  r->epochs = g_array_new (FALSE, FALSE, sizeof (BtEpochInfo));
  r->step_infos = g_array_new (FALSE, FALSE, sizeof (BtStepInfo));
  r->samples = g_array_new (FALSE, FALSE, sizeof (BtStepSample));
  r->messages = g_ptr_array_new_with_free_func (g_free);
  r->states = g_array_new (FALSE, FALSE, sizeof (BtTrainerState));
}

static void
recorder_clear (Recorder *r)
{
  g_main_loop_unref (r->loop);
  g_array_unref (r->kinds);
  g_array_unref (r->epochs);
  g_array_unref (r->step_infos);
  g_array_unref (r->samples);
  g_ptr_array_unref (r->messages);
  g_array_unref (r->states);
  g_clear_error (&r->error);
}

static void
note (Recorder *r, RecKind kind)
{
  if (g_thread_self () != r->main_thread)
    r->wrong_thread = TRUE;
  if (r->finished)
    r->after_finished = TRUE;
  g_array_append_val (r->kinds, kind);
}

static void
take_samples (BtTrainer *trainer, Recorder *r)
{
  g_autoptr(GArray) s = bt_trainer_take_steps (trainer);
  g_array_append_vals (r->samples, s->data, s->len);
}

static void
on_step (BtTrainer *trainer, const BtStepInfo *info, Recorder *r)
{
  note (r, REC_STEP);
  g_array_append_vals (r->step_infos, info, 1);
  take_samples (trainer, r);
  if (r->pause_at_step > 0 && info->global_step >= r->pause_at_step && !r->paused_seen)
    {
      r->pause_at_step = 0;
      bt_trainer_pause (trainer);
    }
  if (r->stop_at_step > 0 && info->global_step >= r->stop_at_step)
    {
      r->stop_at_step = 0;
      take_samples (trainer, r);
      r->trained_at_stop = g_array_index (r->samples, BtStepSample, r->samples->len - 1).global_step;
      bt_trainer_stop (trainer);
    }
}

static void
on_epoch (BtTrainer *trainer, const BtEpochInfo *info, Recorder *r)
{
  note (r, REC_EPOCH);
  g_array_append_vals (r->epochs, info, 1);
  take_samples (trainer, r);
}

static void
on_message (BtTrainer *trainer, const char *message, Recorder *r)
{
  note (r, REC_MESSAGE);
  g_ptr_array_add (r->messages, g_strdup (message));
  g_test_message ("trainer: %s", message);
}

static Recorder *pause_recorder;

static guint pause_idles;

/* The worker posts PAUSED just before it waits, so nothing may arrive after it: the sample
 * count must hold across several idle turns of the main loop (each one a moment when every
 * hand-off the worker had queued has been delivered), and then the run resumes. */
static gboolean
resume_later (gpointer data)
{
  BtTrainer *trainer = data;
  Recorder *r = pause_recorder;

  /* nothing was trained while paused */
  take_samples (trainer, r);
  g_assert_cmpuint (r->samples->len, ==, r->samples_at_pause);
  if (++pause_idles < 5)
    return G_SOURCE_CONTINUE;
  r->pause_checked = TRUE;
  bt_trainer_resume (trainer);
  return G_SOURCE_REMOVE;
}

static void
on_state (BtTrainer *trainer, Recorder *r)
{
  BtTrainerState state = bt_trainer_get_state (trainer);

  note (r, REC_STATE);
  g_array_append_val (r->states, state);
  if (state == BT_TRAINER_PAUSED && !r->paused_seen)
    {
      r->paused_seen = TRUE;
      take_samples (trainer, r);
      r->samples_at_pause = r->samples->len;
      /* stay paused for a few idle turns: no step may arrive meanwhile */
      pause_recorder = r;
      pause_idles = 0;
      g_idle_add_full (G_PRIORITY_LOW, resume_later, trainer, NULL);
    }
}

static void
on_finished (BtTrainer *trainer, const GError *error, Recorder *r)
{
  note (r, REC_FINISHED);
  take_samples (trainer, r);
  r->finished = TRUE;
  if (error != NULL)
    r->error = g_error_copy (error);
  g_main_loop_quit (r->loop);
}

static void
run_trainer (BtTrainer *trainer, Recorder *r, const char *resume_dir)
{
  g_autoptr(GError) error = NULL;

  g_signal_connect (trainer, "step", G_CALLBACK (on_step), r);
  g_signal_connect (trainer, "epoch", G_CALLBACK (on_epoch), r);
  g_signal_connect (trainer, "message", G_CALLBACK (on_message), r);
  g_signal_connect (trainer, "state-changed", G_CALLBACK (on_state), r);
  g_signal_connect (trainer, "finished", G_CALLBACK (on_finished), r);
  g_assert_true (bt_trainer_start (trainer, resume_dir, &error));
  g_assert_no_error (error);
  if (r->stop_at_step < 0)   /* stop before the first step: while the images are prepared */
    bt_trainer_stop (trainer);
  g_main_loop_run (r->loop);
  g_signal_handlers_disconnect_by_data (trainer, r);
}

static void
assert_events_in_order (Recorder *r, int first_epoch)
{
  gint64 prev_global = 0;
  int next_epoch = first_epoch;
  int epochs_seen = 0;

  g_assert_false (r->wrong_thread);
  g_assert_false (r->after_finished);
  g_assert_cmpint (g_array_index (r->kinds, RecKind, r->kinds->len - 1), ==, REC_FINISHED);

  /* every step is queued, in order, without gaps */
  for (guint i = 0; i < r->samples->len; i++)
    {
      const BtStepSample *s = &g_array_index (r->samples, BtStepSample, i);
      if (i > 0)
        g_assert_cmpint (s->global_step, ==, prev_global + 1);
      g_assert_true (isfinite (s->loss));
      prev_global = s->global_step;
    }
  /* epochs come in order, none dropped */
  for (guint i = 0; i < r->epochs->len; i++)
    {
      const BtEpochInfo *e = &g_array_index (r->epochs, BtEpochInfo, i);
      g_assert_cmpint (e->epoch, ==, next_epoch);
      next_epoch++;
      epochs_seen++;
    }
  /* a step snapshot never comes after the epoch event of a later epoch, nor before an earlier one */
  {
    guint si = 0, ei = 0;
    int current_epoch = first_epoch - 1;
    for (guint i = 0; i < r->kinds->len; i++)
      {
        RecKind k = g_array_index (r->kinds, RecKind, i);
        if (k == REC_EPOCH)
          current_epoch = g_array_index (r->epochs, BtEpochInfo, ei++).epoch;
        else if (k == REC_STEP)
          {
            const BtStepInfo *s = &g_array_index (r->step_infos, BtStepInfo, si++);
            if (s->epoch > 0)
              g_assert_cmpint (s->epoch, ==, current_epoch + 1);
          }
      }
  }
  (void) epochs_seen;
}

/* ---- Tests ---- */

static void
test_train_shapes (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *learn_dir = g_build_filename (sample_dir, "learns", NULL);
  /* 60 images per class stay under 62 % val even after 40 epochs; 150 reach 95 % (PERFORMANCE.md) */
  g_autoptr(BtProject) project = bt_sample_create_shapes (learn_dir, SHAPES_PER_CLASS, SAMPLE_SIZE, 1,
                                                          NULL, &error);
  g_autoptr(BtTrainer) trainer = NULL;
  g_autoptr(BtModel) model = NULL;
  g_autoptr(BtEvaluation) ev = NULL;
  g_autofree char *metrics = NULL;
  g_autofree char *metrics_path = NULL;
  g_autofree char *run_name = NULL;
  g_auto(GStrv) lines = NULL;
  const BtEvaluation *test_ev;
  double best_val = 0;
  Recorder r;

  g_assert_no_error (error);
  set_test_settings (project, SHAPES_EPOCHS, "adam", 1e-3);
  trainer = bt_trainer_new (project);
  recorder_init (&r);
  run_trainer (trainer, &r, NULL);
  g_assert_no_error (r.error);
  g_assert_cmpint (bt_trainer_get_state (trainer), ==, BT_TRAINER_FINISHED);
  assert_events_in_order (&r, 1);
  g_assert_cmpuint (r.epochs->len, ==, SHAPES_EPOCHS);
  g_assert_cmpint (g_array_index (r.samples, BtStepSample, 0).global_step, ==, 1);

  for (guint i = 0; i < r.epochs->len; i++)
    {
      const BtEpochInfo *e = &g_array_index (r.epochs, BtEpochInfo, i);
      g_test_message ("epoch %d: train %.3f/%.3f val %.3f/%.3f", e->epoch, e->train_loss, e->train_acc,
                      e->val_loss, e->val_acc);
      best_val = MAX (best_val, e->val_acc);
    }
  g_print ("# Shapes 4x%d at %dpx, Small CNN, %d epochs: best validation accuracy %.1f%%\n",
           SHAPES_PER_CLASS, SAMPLE_SIZE, SHAPES_EPOCHS, 100 * best_val);
  g_assert_cmpfloat (best_val, >=, 0.90);
  g_assert_cmpfloat (g_array_index (r.epochs, BtEpochInfo, SHAPES_EPOCHS - 1).train_loss, <,
                     g_array_index (r.epochs, BtEpochInfo, 0).train_loss);
  for (guint i = 0; i < r.epochs->len; i++)
    {
      const BtEpochInfo *e = &g_array_index (r.epochs, BtEpochInfo, i);
      const BtEpochInfo *last = &g_array_index (r.epochs, BtEpochInfo, r.epochs->len - 1);
      g_assert_cmpfloat (e->val_loss, >=, last->best_score);
    }

  /* the run folder: config, metrics (header + one row per epoch), one checkpoint */
  metrics_path = g_build_filename (bt_trainer_get_run_dir (trainer), "metrics.csv", NULL);
  g_assert_true (g_file_get_contents (metrics_path, &metrics, NULL, NULL));
  lines = g_strsplit (g_strstrip (metrics), "\n", -1);
  g_assert_cmpuint (g_strv_length (lines), ==, SHAPES_EPOCHS + 1);
  g_assert_true (g_str_has_prefix (lines[0], "epoch,train_loss"));
  g_assert_true (g_str_has_prefix (lines[SHAPES_EPOCHS], G_STRINGIFY (SHAPES_EPOCHS) ","));
  {
    g_autofree char *ck8 = g_build_filename (bt_trainer_get_run_dir (trainer), "checkpoint-0030.state", NULL);
    g_autofree char *ck7 = g_build_filename (bt_trainer_get_run_dir (trainer), "checkpoint-0029.state", NULL);
    g_autofree char *config = g_build_filename (bt_trainer_get_run_dir (trainer), "config.ini", NULL);
    g_assert_true (g_file_test (ck8, G_FILE_TEST_IS_REGULAR));
    g_assert_false (g_file_test (ck7, G_FILE_TEST_EXISTS));
    g_assert_true (g_file_test (config, G_FILE_TEST_IS_REGULAR));
  }

  /* the best model loads, and evaluating it from the image files gives what the trainer's
   * cache-based test evaluation gave: one preprocessing path */
  g_assert_nonnull (bt_trainer_get_best_model_path (trainer));
  model = bt_model_load (bt_trainer_get_best_model_path (trainer), &error);
  g_assert_no_error (error);
  g_assert_cmpint (bt_net_n_classes (model->net), ==, 4);
  test_ev = bt_trainer_get_test_evaluation (trainer);
  g_assert_nonnull (test_ev);
  g_assert_cmpuint (test_ev->n, >, 0);
  ev = bt_evaluate_project (model, project, BT_SPLIT_TEST, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (ev->n, ==, test_ev->n);
  g_test_message ("test accuracy: trainer %.4f, from files %.4f", test_ev->accuracy, ev->accuracy);
  g_assert_cmpfloat (fabs (ev->accuracy - test_ev->accuracy), <=, 1.0 / ev->n + 1e-9);

  /* single-image prediction agrees with the evaluation's probabilities */
  {
    const BtMistake *m = g_ptr_array_index (ev->all, 0);
    g_autofree float *probs = bt_predict_file (model, m->path, &error);
    float sum = 0;
    g_assert_no_error (error);
    for (int k = 0; k < 4; k++)
      {
        g_assert_cmpfloat (fabsf (probs[k] - m->probs[k]), <, 1e-5);
        sum += probs[k];
      }
    g_assert_cmpfloat (fabsf (sum - 1), <, 1e-4);
  }

  /* a finished run is not offered for resume */
  run_name = bt_trainer_find_resumable_run (project);
  g_assert_null (run_name);
  recorder_clear (&r);
}

static void
test_pause_resume_stop (void)
{
  g_autoptr(BtProject) project = make_project ("pause", 200, "adam", 1e-3);
  double worst = 0;

  /* several runs stopped at different points; the latency is printed, not asserted */
  for (int round = 0; round < 4; round++)
    {
      g_autoptr(BtTrainer) trainer = bt_trainer_new (project);
      Recorder r;
      double latency;

      recorder_init (&r);
      r.pause_at_step = round == 0 ? 5 : 0;
      r.stop_at_step = 12 + 7 * round;
      run_trainer (trainer, &r, NULL);
      g_assert_error (r.error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_CANCELLED);
      g_assert_cmpint (bt_trainer_get_state (trainer), ==, BT_TRAINER_FINISHED);
      assert_events_in_order (&r, 1);
      if (round == 0)
        {
          gboolean saw_paused = FALSE, saw_running_after = FALSE;
          for (guint i = 0; i < r.states->len; i++)
            {
              BtTrainerState s = g_array_index (r.states, BtTrainerState, i);
              if (s == BT_TRAINER_PAUSED)
                saw_paused = TRUE;
              else if (s == BT_TRAINER_RUNNING && saw_paused)
                saw_running_after = TRUE;
            }
          g_assert_true (saw_paused);
          g_assert_true (saw_running_after);
          g_assert_true (r.pause_checked);
        }
      /* it stopped within a batch of the request: at most the batch the worker was in when it was
       * asked, plus one that may have finished between reading its steps and the request */
      {
        const BtStepSample *last = &g_array_index (r.samples, BtStepSample, r.samples->len - 1);
        g_assert_cmpint (r.trained_at_stop, >=, 12 + 7 * round);
        g_assert_cmpint (last->global_step, <=, r.trained_at_stop + 2);
        g_assert_cmpuint (r.epochs->len, <=, (guint) last->epoch);
      }
      latency = bt_trainer_get_stop_latency (trainer);
      g_assert_cmpfloat (latency, >=, 0);
      worst = MAX (worst, latency);
      g_test_message ("stop latency (round %d): %.1f ms", round, latency * 1000);
      recorder_clear (&r);
    }
  g_test_message ("worst stop latency: %.1f ms (Small CNN, batch 32, 32×32 RGB)", worst * 1000);
  g_print ("# worst stop latency: %.1f ms (Small CNN, batch 32, 32x32 RGB)\n", worst * 1000);
}

/* ---- Pause and stop while the images are decoded (before the first step) ---- */

typedef struct {
  GMainLoop *loop;
  guint      decoded, total;   /* the last preparation progress (epoch 0 steps) */
  guint      reports;          /* preparation progress reports received */
  gboolean   trained;          /* a training step arrived */
  gboolean   saw_paused, finished;
  GError    *error;
} DecodePause;

static void
dp_step (BtTrainer *trainer, const BtStepInfo *info, DecodePause *dp)
{
  if (info->epoch == 0)
    {
      dp->decoded = info->step;
      dp->total = info->steps_per_epoch;
      dp->reports++;
    }
  else
    dp->trained = TRUE;
}

static void
dp_state (BtTrainer *trainer, DecodePause *dp)
{
  if (bt_trainer_get_state (trainer) == BT_TRAINER_PAUSED)
    {
      dp->saw_paused = TRUE;
      g_main_loop_quit (dp->loop);
    }
}

static void
dp_finished (BtTrainer *trainer, const GError *error, DecodePause *dp)
{
  dp->finished = TRUE;
  if (error != NULL)
    dp->error = g_error_copy (error);
  g_main_loop_quit (dp->loop);
}

/* Waits for n more progress reports: the trainer thread polls its decode workers and reports
 * even while they are parked, so this counts hand-offs from the worker, not time. */
static void
dp_reports (DecodePause *dp, guint n)
{
  guint until = dp->reports + n;
  BT_TEST_WAIT (dp->reports >= until || dp->finished);
  g_assert_false (dp->finished);
}

static BtTrainer *
dp_start_paused (BtProject *project, DecodePause *dp)
{
  g_autoptr(GError) error = NULL;
  BtTrainer *trainer = bt_trainer_new (project);

  memset (dp, 0, sizeof *dp);
  dp->loop = g_main_loop_new (NULL, FALSE);
  g_signal_connect (trainer, "step", G_CALLBACK (dp_step), dp);
  g_signal_connect (trainer, "state-changed", G_CALLBACK (dp_state), dp);
  g_signal_connect (trainer, "finished", G_CALLBACK (dp_finished), dp);
  g_assert_true (bt_trainer_start (trainer, NULL, &error));
  g_assert_no_error (error);
  bt_trainer_pause (trainer);   /* before the decode workers reach their first image */
  while (!dp->saw_paused && !dp->finished)
    g_main_loop_run (dp->loop);
  g_assert_false (dp->finished);
  g_assert_cmpint (bt_trainer_get_state (trainer), ==, BT_TRAINER_PAUSED);
  g_assert_false (dp->trained);
  return trainer;
}

static void
test_pause_while_decoding (void)
{
  g_autoptr(BtProject) project = make_project ("pause-decode", 1, "adam", 1e-3);
  DecodePause dp;
  guint held;

  /* paused, the decode workers decode nothing more (one image each may finish) */
  {
    g_autoptr(BtTrainer) trainer = dp_start_paused (project, &dp);
    dp_reports (&dp, 5);
    held = dp.decoded;
    dp_reports (&dp, 5);
    g_assert_cmpuint (dp.decoded, ==, held);
    g_assert_cmpuint (held, <, 4 * SAMPLE_PER_CLASS);
    g_assert_false (dp.trained);
    /* resumed, it decodes everything and trains to the end */
    bt_trainer_resume (trainer);
    while (!dp.finished)
      g_main_loop_run (dp.loop);
    g_assert_no_error (dp.error);
    g_assert_true (dp.trained);
    g_assert_nonnull (bt_trainer_get_best_model_path (trainer));
    g_signal_handlers_disconnect_by_data (trainer, &dp);
    g_main_loop_unref (dp.loop);
  }
  /* stopped while paused there: it ends as stopped, without training */
  {
    g_autoptr(BtTrainer) trainer = dp_start_paused (project, &dp);
    bt_trainer_stop (trainer);
    while (!dp.finished)
      g_main_loop_run (dp.loop);
    g_assert_error (dp.error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_CANCELLED);
    g_assert_false (dp.trained);
    g_clear_error (&dp.error);
    g_signal_handlers_disconnect_by_data (trainer, &dp);
    g_main_loop_unref (dp.loop);
  }
}

static BtModel *
load_or_die (const char *path)
{
  g_autoptr(GError) error = NULL;
  BtModel *m = bt_model_load (path, &error);
  g_assert_no_error (error);
  return m;
}

static void
assert_same_weights (BtModel *a, BtModel *b)
{
  gsize na = 0, nb = 0;
  const float *pa = bt_net_params (a->net, &na);
  const float *pb = bt_net_params (b->net, &nb);

  g_assert_cmpuint (na, ==, nb);
  g_assert_cmpint (memcmp (pa, pb, na * sizeof (float)), ==, 0);
}

/* A hard kill at a known point: right after the checkpoint of the given epoch is on disk. */
static void
exit_after_epoch (int epoch, gpointer user_data)
{
  if (epoch == GPOINTER_TO_INT (user_data))
    _exit (0);
}

static void
test_kill_and_resume (void)
{
  g_autoptr(BtProject) project = NULL;
  g_autofree char *dir = g_build_filename (sample_dir, "resume", NULL);
  g_autofree char *resume_dir = NULL;
  g_autofree char *resumed_model = NULL;
  g_autofree char *straight_model = NULL;
  g_autoptr(BtModel) a = NULL;
  g_autoptr(BtModel) b = NULL;
  g_autoptr(GError) error = NULL;

  bt_engine_set_threads (2);
  if (g_test_subprocess ())
    {
      /* the child: trains, and dies hard right after epoch 2's checkpoint */
      g_autoptr(BtProject) p = bt_project_open (dir, &error);
      g_autoptr(BtTrainer) trainer = NULL;
      Recorder r;
      g_assert_no_error (error);
      trainer = bt_trainer_new (p);
      bt_trainer_set_checkpoint_hook (trainer, exit_after_epoch, GINT_TO_POINTER (2));
      recorder_init (&r);
      run_trainer (trainer, &r, NULL);
      g_assert_not_reached ();
    }

  project = make_project ("resume", 4, "adam", 1e-3);
  g_clear_object (&project);
  g_test_trap_subprocess (NULL, 120 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();

  project = bt_project_open (dir, &error);
  g_assert_no_error (error);
  resume_dir = bt_trainer_find_resumable_run (project);
  g_assert_nonnull (resume_dir);
  {
    g_autofree char *ck2 = g_build_filename (resume_dir, "checkpoint-0002.state", NULL);
    g_autofree char *ck3 = g_build_filename (resume_dir, "checkpoint-0003.state", NULL);
    g_assert_true (g_file_test (ck2, G_FILE_TEST_IS_REGULAR));
    g_assert_false (g_file_test (ck3, G_FILE_TEST_EXISTS));
  }

  /* resume to the end */
  {
    g_autoptr(BtTrainer) trainer = bt_trainer_new (project);
    Recorder r;
    recorder_init (&r);
    run_trainer (trainer, &r, resume_dir);
    g_assert_no_error (r.error);
    assert_events_in_order (&r, 3);
    g_assert_cmpuint (r.epochs->len, ==, 2);
    g_assert_cmpint (g_array_index (r.samples, BtStepSample, 0).global_step, >, 1);
    resumed_model = g_strdup (bt_trainer_get_best_model_path (trainer));
    recorder_clear (&r);
  }

  /* the same run without interruption */
  {
    g_autoptr(BtTrainer) trainer = bt_trainer_new (project);
    Recorder r;
    recorder_init (&r);
    run_trainer (trainer, &r, NULL);
    g_assert_no_error (r.error);
    straight_model = g_strdup (bt_trainer_get_best_model_path (trainer));
    recorder_clear (&r);
  }

  g_assert_cmpstr (resumed_model, !=, straight_model);
  a = load_or_die (resumed_model);
  b = load_or_die (straight_model);
  assert_same_weights (a, b);
  g_assert_cmpstr (g_hash_table_lookup (a->metadata, "epoch"), ==, g_hash_table_lookup (b->metadata, "epoch"));
}

static void
test_divergence (void)
{
  g_autoptr(BtProject) project = make_project ("nan", 2, "adam", 1e-3);
  g_autoptr(GError) error = NULL;
  g_autofree char *run_dir = NULL;
  g_autofree char *model_path = NULL;
  g_autofree char *model_before = NULL;
  g_autofree char *config_path = NULL;
  g_autofree char *ck2 = NULL;
  gsize model_len = 0;

  /* a good run first: 2 epochs, a best model and a checkpoint */
  {
    g_autoptr(BtTrainer) trainer = bt_trainer_new (project);
    Recorder r;
    recorder_init (&r);
    run_trainer (trainer, &r, NULL);
    g_assert_no_error (r.error);
    run_dir = g_strdup (bt_trainer_get_run_dir (trainer));
    model_path = g_strdup (bt_trainer_get_best_model_path (trainer));
    recorder_clear (&r);
  }
  g_assert_true (g_file_get_contents (model_path, &model_before, &model_len, NULL));

  /* an absurd learning rate written into the run's config.ini is refused before anything runs,
   * with the settings table's limit (the same everywhere) */
  config_path = g_build_filename (run_dir, "config.ini", NULL);
  ck2 = g_build_filename (run_dir, "checkpoint-0002.state", NULL);
  {
    g_autoptr(GKeyFile) kf = g_key_file_new ();
    g_autofree char *good = NULL, *data = NULL;
    g_autoptr(BtTrainer) trainer = bt_trainer_new (project);
    g_assert_true (g_file_get_contents (config_path, &good, NULL, NULL));
    g_assert_true (g_key_file_load_from_data (kf, good, -1, G_KEY_FILE_NONE, NULL));
    g_key_file_set_string (kf, "training", "learning-rate", "1e30");
    data = g_key_file_to_data (kf, NULL, NULL);
    g_assert_true (g_file_set_contents (config_path, data, -1, NULL));
    g_assert_false (bt_trainer_start (trainer, run_dir, &error));
    g_assert_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID);
    g_assert_nonnull (strstr (error->message, "Learning rate must be between"));
    g_clear_error (&error);
    /* then the same run continues for more epochs from weights blown up to 1e30 (what a too
     * high rate does), in the checkpoint it resumes from */
    g_key_file_load_from_data (kf, good, -1, G_KEY_FILE_NONE, NULL);
    g_key_file_set_integer (kf, "training", "epochs", 6);
    g_free (data);
    data = g_key_file_to_data (kf, NULL, NULL);
    g_assert_true (g_file_set_contents (config_path, data, -1, NULL));
  }
  {
    g_autoptr(BtModel) m = load_or_die (model_path);
    BtOptimizerConfig cfg;
    bt_optimizer_config_init (&cfg, BT_OPTIMIZER_ADAM);
    g_autoptr(BtOptimizer) opt = bt_optimizer_new (m->net, &cfg);
    BtTrainState state = { 0 };
    gsize n = 0;
    float *p;
    g_assert_true (bt_train_state_load (ck2, m->net, opt, &state, &error));
    g_assert_no_error (error);
    p = (float *) bt_net_params (m->net, &n);
    for (gsize i = 0; i < n; i++)
      p[i] = p[i] >= 0 ? 1e30f : -1e30f;
    g_assert_true (bt_train_state_save (ck2, m->net, opt, &state, &error));
    g_assert_no_error (error);
    g_clear_pointer (&state.extra, g_hash_table_unref);
  }
  {
    g_autoptr(BtTrainer) trainer = bt_trainer_new (project);
    Recorder r;
    gboolean named_lr = FALSE;

    recorder_init (&r);
    run_trainer (trainer, &r, run_dir);
    g_assert_error (r.error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_DIVERGED);
    g_test_message ("divergence: %s", r.error->message);
    g_assert_nonnull (strstr (r.error->message, "learning rate"));
    /* said once, with "finished" (a "message" too would print it twice in the CLI) */
    for (guint i = 0; i < r.messages->len; i++)
      if (g_strcmp0 (g_ptr_array_index (r.messages, i), r.error->message) == 0)
        named_lr = TRUE;
    g_assert_false (named_lr);
    /* the verdict says so too, with the learning rate to try: a tenth of the run's 0.001 */
    {
      const BtVerdict *v = bt_trainer_get_verdict (trainer);
      g_assert_nonnull (v);
      g_assert_cmpint (v->kind, ==, BT_VERDICT_DIVERGED);
      g_assert_cmpint (v->action, ==, BT_VERDICT_ACTION_LEARNING_RATE);
      g_assert_cmpfloat_with_epsilon (v->action_value, 0.0001, 1e-12);
    }
    g_assert_cmpint (bt_trainer_get_state (trainer), ==, BT_TRAINER_FAILED);
    g_assert_null (bt_trainer_get_test_evaluation (trainer));
    recorder_clear (&r);
  }

  /* the best model is byte for byte the good one, and the last good checkpoint is kept */
  {
    g_autofree char *after = NULL;
    gsize after_len = 0;
    g_autoptr(BtModel) m = NULL;
    gsize n = 0;
    const float *p;

    g_assert_true (g_file_get_contents (model_path, &after, &after_len, NULL));
    g_assert_cmpmem (after, after_len, model_before, model_len);
    m = load_or_die (model_path);
    p = bt_net_params (m->net, &n);
    for (gsize i = 0; i < n; i++)
      g_assert_true (isfinite (p[i]));
  }
  g_assert_true (g_file_test (ck2, G_FILE_TEST_IS_REGULAR));
}

static void
test_bad_settings (void)
{
  g_autoptr(BtProject) project = make_project ("bad", 1, "adam", 1e-3);
  g_autoptr(BtTrainer) trainer = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *missing = g_build_filename (sample_dir, "no-such-run", NULL);
  BtProjectSettings s;

  bt_project_settings_copy (&s, bt_project_get_settings (project));
  s.batch_size = 0;
  /* the project may refuse it itself; if it takes it, the trainer must */
  if (bt_project_update_settings (project, &s, NULL))
    {
      trainer = bt_trainer_new (project);
      g_assert_false (bt_trainer_start (trainer, NULL, &error));
      g_assert_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID);
      g_clear_error (&error);
      g_clear_object (&trainer);
    }
  bt_project_settings_clear (&s);

  trainer = bt_trainer_new (project);
  g_assert_false (bt_trainer_start (trainer, missing, &error));
  g_assert_nonnull (error);
  g_assert_cmpint (bt_trainer_get_state (trainer), ==, BT_TRAINER_IDLE);
}


/* Stops the run right after epoch 1's checkpoint (called on the worker: stop is thread-safe). */
static void
stop_after_epoch (int epoch, gpointer user_data)
{
  if (epoch == 1)
    bt_trainer_stop (user_data);
}

/* #21: a run at learning rate 10 ends with the diverged verdict, stored with the run, suggesting
 * 0.001; its model does not become the project's default. */
static void
test_verdict_diverged (void)
{
  g_autoptr(BtProject) project = make_project ("lr10", 10, "adam", 1e-3);
  g_autofree char *good_model = NULL;
  g_autofree char *bad_run = NULL;
  g_autofree char *default_model = NULL;
  g_autoptr(BtRunInfo) info = NULL;

  {
    g_autoptr(BtTrainer) trainer = bt_trainer_new (project);
    Recorder r;
    recorder_init (&r);
    run_trainer (trainer, &r, NULL);
    g_assert_no_error (r.error);
    good_model = g_strdup (bt_trainer_get_best_model_path (trainer));
    g_assert_nonnull (bt_trainer_get_verdict (trainer));
    for (guint i = 0; i < r.epochs->len; i++)
      g_test_message ("epoch %d: loss %.3f/%.3f acc %.3f/%.3f", g_array_index (r.epochs, BtEpochInfo, i).epoch,
                      g_array_index (r.epochs, BtEpochInfo, i).train_loss, g_array_index (r.epochs, BtEpochInfo, i).val_loss,
                      g_array_index (r.epochs, BtEpochInfo, i).train_acc, g_array_index (r.epochs, BtEpochInfo, i).val_acc);
    g_test_message ("good run: %s", bt_verdict_describe (bt_trainer_get_verdict (trainer)));
    g_assert_false (bt_verdict_is_failure (bt_trainer_get_verdict (trainer)));
    recorder_clear (&r);
  }
  set_test_settings (project, 3, "adam", 10);
  {
    g_autoptr(BtTrainer) trainer = bt_trainer_new (project);
    const BtVerdict *v;
    Recorder r;
    recorder_init (&r);
    run_trainer (trainer, &r, NULL);
    /* a loss that climbs, or one that stops being a number: either way, diverged */
    if (r.error != NULL)
      g_assert_error (r.error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_DIVERGED);
    v = bt_trainer_get_verdict (trainer);
    g_assert_nonnull (v);
    g_test_message ("lr 10: %s", bt_verdict_describe (v));
    g_assert_cmpint (v->kind, ==, BT_VERDICT_DIVERGED);
    g_assert_cmpint (v->action, ==, BT_VERDICT_ACTION_LEARNING_RATE);
    g_assert_cmpfloat (v->action_value, ==, 0.001);
    bad_run = g_strdup (bt_trainer_get_run_dir (trainer));
    recorder_clear (&r);
  }
  info = bt_run_info_load (bad_run);
  g_assert_nonnull (info);
  g_assert_true (info->has_verdict);
  g_assert_cmpint (info->verdict.kind, ==, BT_VERDICT_DIVERGED);
  default_model = bt_run_files_default_model (bt_project_get_dir (project));
  g_assert_cmpstr (default_model, ==, good_model);
}

/* #26 hole 3: settings the project accepts but memory cannot hold fail at start with a message
 * that names the setting, before any allocation or run folder. */
static void
test_memory_estimate (void)
{
  g_autoptr(BtProject) project = make_project ("memory", 1, "adam", 1e-3);
  g_autoptr(BtTrainer) trainer = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *runs = g_build_filename (bt_project_get_dir (project), "runs", NULL);
  BtProjectSettings s;

  bt_project_settings_copy (&s, bt_project_get_settings (project));
  g_free (s.preset);
  s.preset = g_strdup ("mini-resnet");
  s.width = s.height = 1024;
  s.batch_size = 4096;
  g_assert_true (bt_project_update_settings (project, &s, NULL));
  bt_project_settings_clear (&s);

  trainer = bt_trainer_new (project);
  g_assert_false (bt_trainer_start (trainer, NULL, &error));
  g_assert_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "batch size"));
  {
    /* no run folder was made */
    g_autoptr(GDir) dir = g_dir_open (runs, 0, NULL);
    const char *name;
    while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
      {
        g_autofree char *path = g_build_filename (runs, name, NULL);
        g_assert_false (g_file_test (path, G_FILE_TEST_IS_DIR));  /* (the run lock is a file) */
      }
  }
}

/* #26 hole 4: resume is bound to a run: after a run stopped before its first checkpoint, the
 * older run with a checkpoint is not offered, and a named run is. */
static void
test_resume_bound_to_run (void)
{
  g_autoptr(BtProject) project = make_project ("resume-bound", 3, "adam", 1e-3);
  g_autoptr(GError) error = NULL;
  g_autofree char *first = NULL;
  g_autofree char *first_id = NULL;
  g_autofree char *found = NULL;
  g_autofree char *named = NULL;

  {
    g_autoptr(BtTrainer) trainer = bt_trainer_new (project);
    Recorder r;
    recorder_init (&r);
    bt_trainer_set_checkpoint_hook (trainer, stop_after_epoch, trainer);
    run_trainer (trainer, &r, NULL);
    g_assert_error (r.error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_CANCELLED);
    first = g_strdup (bt_trainer_get_run_dir (trainer));
    recorder_clear (&r);
  }
  g_assert_cmpint (bt_run_files_last_checkpoint (first), >=, 1);
  found = bt_trainer_find_resumable_run (project);
  g_assert_cmpstr (found, ==, first);
  g_clear_pointer (&found, g_free);

  /* a newer run, stopped while it prepares: no checkpoint */
  {
    g_autoptr(BtTrainer) trainer = bt_trainer_new (project);
    Recorder r;
    recorder_init (&r);
    /* (most often in the first run's second: its id then gets a suffix, and it is still the newest) */
    r.stop_at_step = -1;
    run_trainer (trainer, &r, NULL);
    g_assert_error (r.error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_CANCELLED);
    g_assert_cmpstr (bt_trainer_get_run_dir (trainer), !=, first);
    g_assert_cmpint (bt_run_files_last_checkpoint (bt_trainer_get_run_dir (trainer)), ==, 0);
    recorder_clear (&r);
  }
  found = bt_trainer_find_resumable_run (project);
  g_assert_null (found);
  g_assert_null (bt_run_files_find_resumable (bt_project_get_dir (project), NULL, &error));
  g_assert_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "checkpoint"));
  first_id = g_path_get_basename (first);
  named = bt_run_files_find_resumable (bt_project_get_dir (project), first_id, NULL);
  g_assert_cmpstr (named, ==, first);
}

static void
test_early_stopping_and_plateau (void)
{
  g_autoptr(BtProject) project = make_project ("early", 10, "adam", 1e-3);
  g_autoptr(BtTrainer) trainer = NULL;
  g_autoptr(GError) error = NULL;
  gboolean said_stop = FALSE, said_lowered = FALSE, said_restored = FALSE;
  BtProjectSettings s;
  Recorder r;

  /* no epoch after the first can improve by 1000: patience 4 stops after epoch 5, and the
   * plateau schedule (patience 2) lowers the learning rate before that */
  bt_project_settings_copy (&s, bt_project_get_settings (project));
  s.early_stopping_patience = 4;
  s.early_stopping_min_delta = 1000;
  g_free (s.schedule);
  s.schedule = g_strdup ("plateau");
  g_assert_true (bt_project_update_settings (project, &s, &error));
  g_assert_no_error (error);
  bt_project_settings_clear (&s);

  trainer = bt_trainer_new (project);
  recorder_init (&r);
  run_trainer (trainer, &r, NULL);
  g_assert_no_error (r.error);
  assert_events_in_order (&r, 1);
  g_assert_cmpuint (r.epochs->len, ==, 5);
  g_assert_cmpint (g_array_index (r.epochs, BtEpochInfo, 4).best_epoch, ==, 1);
  g_assert_cmpfloat (g_array_index (r.epochs, BtEpochInfo, 4).lr, <, g_array_index (r.epochs, BtEpochInfo, 0).lr);
  for (guint i = 0; i < r.messages->len; i++)
    {
      const char *m = g_ptr_array_index (r.messages, i);
      said_stop |= strstr (m, "Early stopping") != NULL;
      said_lowered |= strstr (m, "learning rate lowered") != NULL;
      said_restored |= strstr (m, "best epoch (1)") != NULL;
    }
  g_assert_true (said_stop);
  g_assert_true (said_lowered);
  g_assert_true (said_restored);
  /* the kept model is epoch 1's */
  {
    g_autoptr(BtModel) m = load_or_die (bt_trainer_get_best_model_path (trainer));
    g_assert_cmpstr (g_hash_table_lookup (m->metadata, "epoch"), ==, "1");
  }
  recorder_clear (&r);
}

static void
test_transfer (void)
{
  const char *shared = g_getenv ("BOTTEGA_SHARED_DIR");
  g_autofree char *models = shared != NULL ? g_build_filename (shared, "models", NULL) : NULL;
  g_autofree char *backbone = models != NULL ? g_build_filename (models, "mobilenet_v2_1.0_224_quant.tflite", NULL) : NULL;
  g_autofree char *dir = g_build_filename (sample_dir, "transfer-sample", NULL);
  g_autoptr(BtProject) project = NULL;
  g_autoptr(BtTrainer) trainer = NULL;
  g_autoptr(BtModel) model = NULL;
  g_autoptr(GError) error = NULL;
  BtProjectSettings s;
  Recorder r;

  if (backbone == NULL || !g_file_test (backbone, G_FILE_TEST_IS_REGULAR))
    {
      g_test_skip ("MobileNet V2 backbone not found in $BOTTEGA_SHARED_DIR/models");
      return;
    }
  bt_backbone_set_search_dir (models);

  /* a tiny project of its own: embeddings cost ~25 ms an image */
  project = bt_sample_create_shapes (dir, 8, 32, 11, NULL, &error);
  g_assert_no_error (error);
  bt_project_settings_copy (&s, bt_project_get_settings (project));
  g_free (s.preset);
  s.preset = g_strdup ("transfer");
  g_free (s.recipe);
  s.recipe = g_strdup ("manual");
  s.epochs = 3;
  s.batch_size = 8;
  s.augment_flip = s.augment_crop = s.augment_rotate = s.augment_color = FALSE;
  g_assert_true (bt_project_update_settings (project, &s, &error));
  g_assert_no_error (error);
  bt_project_settings_clear (&s);

  trainer = bt_trainer_new (project);
  recorder_init (&r);
  run_trainer (trainer, &r, NULL);
  g_assert_no_error (r.error);
  assert_events_in_order (&r, 1);
  g_assert_cmpuint (r.epochs->len, ==, 3);

  /* the model refers to its backbone and predicts from an image file */
  model = bt_model_load (bt_trainer_get_best_model_path (trainer), &error);
  g_assert_no_error (error);
  g_assert_cmpstr (model->backbone_name, ==, "mobilenet_v2_1.0_224_quant.tflite");
  {
    g_autoptr(BtEvaluation) ev = bt_evaluate_project (model, project, BT_SPLIT_TRAIN, NULL, &error);
    g_autofree float *probs = NULL;
    const BtMistake *m;
    g_assert_no_error (error);
    m = g_ptr_array_index (ev->all, 0);
    probs = bt_predict_file (model, m->path, &error);
    g_assert_no_error (error);
    for (int k = 0; k < 4; k++)
      g_assert_cmpfloat (fabsf (probs[k] - m->probs[k]), <, 1e-5);
  }
  recorder_clear (&r);
}

int
main (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *sample = NULL;
  int status;

  g_test_init (&argc, &argv, NULL);

  if (g_test_subprocess ())
    {
      /* a re-executed child works in its parent's folder */
      sample_dir = g_strdup (g_getenv ("BOTTEGA_TEST_TRAINER_DIR"));
      g_assert_nonnull (sample_dir);
    }
  else
    {
      g_autoptr(BtProject) p = NULL;

      sample_dir = g_dir_make_tmp ("bottega-trainer-XXXXXX", &error);
      g_assert_no_error (error);
      g_setenv ("BOTTEGA_TEST_TRAINER_DIR", sample_dir, TRUE);
      sample = g_build_filename (sample_dir, "sample", NULL);
      p = bt_sample_create_shapes (sample, SAMPLE_PER_CLASS, SAMPLE_SIZE, 1, NULL, &error);
      g_assert_no_error (error);
    }

  g_test_add_func ("/trainer/shapes", test_train_shapes);
  g_test_add_func ("/trainer/pause-resume-stop", test_pause_resume_stop);
  g_test_add_func ("/trainer/pause-while-decoding", test_pause_while_decoding);
  g_test_add_func ("/trainer/kill-and-resume", test_kill_and_resume);
  g_test_add_func ("/trainer/divergence", test_divergence);
  g_test_add_func ("/trainer/bad-settings", test_bad_settings);
  g_test_add_func ("/trainer/early-stopping-plateau", test_early_stopping_and_plateau);
  g_test_add_func ("/trainer/transfer", test_transfer);
  g_test_add_func ("/trainer/verdict-diverged", test_verdict_diverged);
  g_test_add_func ("/trainer/memory-estimate", test_memory_estimate);
  g_test_add_func ("/trainer/resume-bound-to-run", test_resume_bound_to_run);
  status = g_test_run ();
  if (!g_test_subprocess ())
    bt_test_rm_rf (sample_dir);
  return status;
}
