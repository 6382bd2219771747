/* bt-trainer.c: BtTrainer, a training run on one worker thread that owns the network (the only
 * BLAS caller), with pause/stop, checkpoints, best model, early stopping and throttled events. */
#include "config.h"

#include <errno.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "training/bt-calibration.h"
#include "training/bt-estimate.h"
#include "training/bt-finetune.h"
#include "training/bt-model-runner.h"
#include "training/bt-recipe.h"
#include "training/bt-run-files.h"
#include "training/bt-train-source.h"
#include "training/bt-training-private.h"
#include "training/bt-verdict.h"

#define MAX_QUEUED_STEPS 65536
#define PLATEAU_DEFAULT_PATIENCE 3

typedef enum {
  EV_STEP,
  EV_EPOCH,
  EV_MESSAGE,
  EV_STATE,
  EV_BEST,
  EV_FINISHED,
} EventKind;

typedef struct {
  EventKind kind;
  BtStepInfo step;
  BtEpochInfo epoch;
  BtTrainerState state;
  char *text;
  GError *error;
  BtVerdict verdict;              /* EV_FINISHED */
} Event;

/* Everything the worker needs, copied on the main thread at start: the worker never reads
 * the project (the GUI may change it while training runs). */
typedef struct {
  BtTrainer *trainer;             /* strong ref, dropped on the main context at the end */
  GCancellable *cancellable;
  BtProjectSettings settings;
  char **class_names;
  int n_classes;
  BtSplitView *views[BT_N_SPLITS];
  char **item_paths;              /* by project item index, test split only (else NULL) */
  guint n_items;
  float *class_weights;           /* NULL when off */
  BtTrainSource *source;          /* the samples, prepared on the worker */
  BtTrainSource *own_source;      /* source, when the job owns it */
  char *run_dir;                  /* NULL for a trial: no files at all */
  char *model_path;
  char *project_dir;
  char *project_name;
  gboolean resume;
  gboolean project_changed;       /* resuming on other images than the run started with */
  BtTrainerCheckpointHook checkpoint_hook;
  gpointer checkpoint_hook_data;
  gboolean prep_paused;           /* worker: the preparation told the GUI it is paused */
  BtEvaluation *test_eval;        /* result */
  BtVerdict verdict;              /* result */
  BtCalibration calib;            /* worker: fitted on the validation split at the end */
  BtCentroids  *centroids;        /* worker: the training split's class centroids, at the end */
  GArray *backbone_weights;       /* worker, fine-tuning's stage 2: the operators saved with the model */
  int final_images;               /* worker: > 0 when the saved model's head saw train + val (the recipe's) */
  guint n_unreadable;             /* result: usable images that could not be read */
  char *unreadable_report;        /* result: them, one line each (NULL: none or not known) */
  gboolean have_run_lock;         /* run_lock holds the project's run lock until job_free */
  int run_lock;
} Job;

struct _BtTrainer
{
  GObject parent_instance;

  /* Owned, main thread */
  BtProject *project;
  GMainContext *context;
  GThread *thread;
  GCancellable *cancellable;
  char *run_dir;
  char *best_model_path;
  BtTrainerState state;
  BtEvaluation *test_eval;
  guint n_unreadable;
  char *unreadable_report;
  BtVerdict verdict;
  BtTrainerCheckpointHook checkpoint_hook;
  gpointer checkpoint_hook_data;

  /* Shared with the worker, under mutex */
  GMutex mutex;
  GCond cond;
  gboolean paused;
  gint64 stop_requested_us;
  double stop_latency_s;
  GQueue events;
  gboolean have_step;
  BtStepInfo latest_step;
  GArray *steps;
  GSource *idle;
};

enum {
  PROP_0,
  PROP_PROJECT,
  PROP_STATE,
  PROP_RUN_DIR,
  PROP_BEST_MODEL_PATH,
  N_PROPS
};

enum {
  SIGNAL_STEP,
  SIGNAL_EPOCH,
  SIGNAL_MESSAGE,
  SIGNAL_STATE_CHANGED,
  SIGNAL_FINISHED,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (BtTrainer, bt_trainer, G_TYPE_OBJECT)

static void
event_free (Event *ev)
{
  g_free (ev->text);
  g_clear_error (&ev->error);
  bt_verdict_clear (&ev->verdict);
  g_free (ev);
}

static void
job_free (Job *job)
{
  if (job->have_run_lock)
    bt_run_lock_release (job->run_lock);
  g_clear_object (&job->trainer);
  g_clear_object (&job->cancellable);
  bt_project_settings_clear (&job->settings);
  g_clear_pointer (&job->own_source, bt_train_source_free);
  g_strfreev (job->class_names);
  for (int i = 0; i < BT_N_SPLITS; i++)
    g_clear_pointer (&job->views[i], bt_split_view_free);
  if (job->item_paths != NULL)
    for (guint i = 0; i < job->n_items; i++)
      g_free (job->item_paths[i]);
  g_free (job->item_paths);
  g_free (job->class_weights);
  g_free (job->run_dir);
  g_free (job->model_path);
  g_free (job->project_dir);
  g_free (job->project_name);
  g_free (job->unreadable_report);
  g_clear_pointer (&job->test_eval, bt_evaluation_free);
  g_clear_pointer (&job->backbone_weights, g_array_unref);
  g_clear_pointer (&job->centroids, bt_centroids_free);
  bt_verdict_clear (&job->verdict);
  g_free (job);
}

/* ---- Events: worker → main context ---- */

static gboolean dispatch_events (gpointer data);

static void
schedule_idle_locked (BtTrainer *self)
{
  if (self->idle != NULL)
    return;
  self->idle = g_idle_source_new ();
  g_source_set_priority (self->idle, G_PRIORITY_DEFAULT_IDLE);
  g_source_set_callback (self->idle, dispatch_events, g_object_ref (self), g_object_unref);
  g_source_set_name (self->idle, "[bottega] trainer events");
  g_source_attach (self->idle, self->context);
}

static void
post_event (BtTrainer *self, Event *ev)
{
  g_mutex_lock (&self->mutex);
  /* A coalesced step goes out before any ordered event that follows it. */
  if (self->have_step)
    {
      Event *step = g_new0 (Event, 1);
      step->kind = EV_STEP;
      step->step = self->latest_step;
      g_queue_push_tail (&self->events, step);
      self->have_step = FALSE;
    }
  g_queue_push_tail (&self->events, ev);
  schedule_idle_locked (self);
  g_mutex_unlock (&self->mutex);
}

static void
post_state (BtTrainer *self, BtTrainerState state)
{
  Event *ev = g_new0 (Event, 1);
  ev->kind = EV_STATE;
  ev->state = state;
  post_event (self, ev);
}

G_GNUC_PRINTF (2, 3) static void
post_message (BtTrainer *self, const char *format, ...)
{
  Event *ev = g_new0 (Event, 1);
  va_list args;

  va_start (args, format);
  ev->kind = EV_MESSAGE;
  ev->text = g_strdup_vprintf (format, args);
  va_end (args);
  post_event (self, ev);
}

static void
post_step (BtTrainer *self, const BtStepInfo *info, const BtStepSample *sample)
{
  g_mutex_lock (&self->mutex);
  self->latest_step = *info;
  self->have_step = TRUE;
  if (self->steps->len >= MAX_QUEUED_STEPS)
    g_array_remove_range (self->steps, 0, self->steps->len / 2);
  g_array_append_vals (self->steps, sample, 1);
  schedule_idle_locked (self);
  g_mutex_unlock (&self->mutex);
}

static void
set_state (BtTrainer *self, BtTrainerState state)
{
  if (self->state == state)
    return;
  self->state = state;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATE]);
  g_signal_emit (self, signals[SIGNAL_STATE_CHANGED], 0);
}

static void
finish_on_main (BtTrainer *self, Event *ev)
{
  Job *job = NULL;

  if (self->thread != NULL)
    job = g_thread_join (g_steal_pointer (&self->thread));
  if (job != NULL && job->have_run_lock)
    {
      /* the run's files are all written: free before "finished", whose handlers may start the next */
      bt_run_lock_release (job->run_lock);
      job->have_run_lock = FALSE;
    }
  if (job != NULL)
    {
      g_clear_pointer (&self->test_eval, bt_evaluation_free);
      self->test_eval = g_steal_pointer (&job->test_eval);
      self->n_unreadable = job->n_unreadable;
      g_free (self->unreadable_report);
      self->unreadable_report = g_steal_pointer (&job->unreadable_report);
    }
  g_clear_object (&self->cancellable);
  bt_verdict_clear (&self->verdict);
  bt_verdict_copy (&self->verdict, &ev->verdict);

  if (ev->error == NULL)
    set_state (self, BT_TRAINER_FINISHED);
  else if (g_error_matches (ev->error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_CANCELLED))
    set_state (self, BT_TRAINER_FINISHED);
  else
    set_state (self, BT_TRAINER_FAILED);
  g_signal_emit (self, signals[SIGNAL_FINISHED], 0, ev->error);

  /* the worker's reference goes last, on the main context */
  if (job != NULL)
    job_free (job);
}

static gboolean
dispatch_events (gpointer data)
{
  BtTrainer *self = data;
  GQueue events = G_QUEUE_INIT;
  gboolean have_step;
  BtStepInfo step;
  Event *ev;

  g_mutex_lock (&self->mutex);
  events = self->events;
  g_queue_init (&self->events);
  have_step = self->have_step;
  step = self->latest_step;
  self->have_step = FALSE;
  g_clear_pointer (&self->idle, g_source_unref);
  g_mutex_unlock (&self->mutex);

  while ((ev = g_queue_pop_head (&events)) != NULL)
    {
      switch (ev->kind)
        {
        case EV_STEP:
          g_signal_emit (self, signals[SIGNAL_STEP], 0, &ev->step);
          break;
        case EV_EPOCH:
          g_signal_emit (self, signals[SIGNAL_EPOCH], 0, &ev->epoch);
          break;
        case EV_MESSAGE:
          g_signal_emit (self, signals[SIGNAL_MESSAGE], 0, ev->text);
          break;
        case EV_STATE:
          /* a stop asked for on the main thread wins over what the worker said before */
          if (self->state != BT_TRAINER_STOPPING)
            set_state (self, ev->state);
          break;
        case EV_BEST:
          g_free (self->best_model_path);
          self->best_model_path = g_strdup (ev->text);
          g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BEST_MODEL_PATH]);
          break;
        case EV_FINISHED:
          finish_on_main (self, ev);
          break;
        default:
          g_assert_not_reached ();
        }
      event_free (ev);
    }

  if (have_step)
    g_signal_emit (self, signals[SIGNAL_STEP], 0, &step);

  return G_SOURCE_REMOVE;
}

/* ---- The worker ---- */

/* ---- The worker ---- */

typedef struct {
  /* counters that go into the checkpoint's "extra" table */
  gint64 global_step;
  double elapsed_s;
  int bad_epochs;          /* early stopping */
  BtPlateau plateau;
  GArray *train_losses;    /* double, per epoch */
  GArray *val_losses;
  gboolean overfitting;
} RunCounters;

static void
extra_set_double (GHashTable *extra, const char *key, double v)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE];
  g_hash_table_insert (extra, g_strdup (key), g_strdup (g_ascii_dtostr (buf, sizeof buf, v)));
}

static double
extra_get_double (GHashTable *extra, const char *key, double fallback)
{
  const char *s = extra != NULL ? g_hash_table_lookup (extra, key) : NULL;
  char *end = NULL;
  double v;

  if (s == NULL)
    return fallback;
  v = g_ascii_strtod (s, &end);
  return end != s ? v : fallback;
}

static char *
doubles_to_string (GArray *a)
{
  GString *s = g_string_new (NULL);

  for (guint i = 0; i < a->len; i++)
    {
      char buf[G_ASCII_DTOSTR_BUF_SIZE];
      if (i > 0)
        g_string_append_c (s, ' ');
      g_string_append (s, g_ascii_dtostr (buf, sizeof buf, g_array_index (a, double, i)));
    }
  return g_string_free (s, FALSE);
}

static void
doubles_from_string (GArray *a, const char *s)
{
  g_auto(GStrv) parts = NULL;

  g_array_set_size (a, 0);
  if (s == NULL || *s == '\0')
    return;
  parts = g_strsplit (s, " ", -1);
  for (guint i = 0; parts[i] != NULL; i++)
    {
      double v = g_ascii_strtod (parts[i], NULL);
      g_array_append_val (a, v);
    }
}

static GHashTable *
counters_to_extra (const RunCounters *c)
{
  GHashTable *extra = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);

  g_hash_table_insert (extra, g_strdup ("global_step"),
                       g_strdup_printf ("%" G_GINT64_FORMAT, c->global_step));
  extra_set_double (extra, "elapsed_s", c->elapsed_s);
  g_hash_table_insert (extra, g_strdup ("bad_epochs"), g_strdup_printf ("%d", c->bad_epochs));
  extra_set_double (extra, "plateau_best", c->plateau.best);
  g_hash_table_insert (extra, g_strdup ("plateau_bad_epochs"), g_strdup_printf ("%d", c->plateau.bad_epochs));
  extra_set_double (extra, "plateau_multiplier", c->plateau.multiplier);
  g_hash_table_insert (extra, g_strdup ("train_losses"), doubles_to_string (c->train_losses));
  g_hash_table_insert (extra, g_strdup ("val_losses"), doubles_to_string (c->val_losses));
  g_hash_table_insert (extra, g_strdup ("overfitting"), g_strdup (c->overfitting ? "1" : "0"));
  return extra;
}

static void
counters_from_extra (RunCounters *c, GHashTable *extra)
{
  c->global_step = (gint64) extra_get_double (extra, "global_step", 0);
  c->elapsed_s = extra_get_double (extra, "elapsed_s", 0);
  c->bad_epochs = (int) extra_get_double (extra, "bad_epochs", 0);
  c->plateau.best = extra_get_double (extra, "plateau_best", c->plateau.best);
  c->plateau.bad_epochs = (int) extra_get_double (extra, "plateau_bad_epochs", 0);
  c->plateau.multiplier = (float) extra_get_double (extra, "plateau_multiplier", 1.0);
  if (extra != NULL)
    {
      doubles_from_string (c->train_losses, g_hash_table_lookup (extra, "train_losses"));
      doubles_from_string (c->val_losses, g_hash_table_lookup (extra, "val_losses"));
      c->overfitting = g_strcmp0 (g_hash_table_lookup (extra, "overfitting"), "1") == 0;
    }
}


/* Waits while paused; returns FALSE when stopped. */
static gboolean
check_pause_and_stop (BtTrainer *self, Job *job, gint64 *paused_us)
{
  gboolean stopped;

  g_mutex_lock (&self->mutex);
  if (self->paused && !g_cancellable_is_cancelled (job->cancellable))
    {
      gint64 t0 = g_get_monotonic_time ();
      g_mutex_unlock (&self->mutex);
      post_state (self, BT_TRAINER_PAUSED);
      g_mutex_lock (&self->mutex);
      while (self->paused && !g_cancellable_is_cancelled (job->cancellable))
        g_cond_wait (&self->cond, &self->mutex);
      *paused_us += g_get_monotonic_time () - t0;
      if (!g_cancellable_is_cancelled (job->cancellable))
        {
          g_mutex_unlock (&self->mutex);
          post_state (self, BT_TRAINER_RUNNING);
          g_mutex_lock (&self->mutex);
        }
    }
  stopped = g_cancellable_is_cancelled (job->cancellable);
  if (stopped && self->stop_requested_us > 0 && self->stop_latency_s < 0)
    self->stop_latency_s = (g_get_monotonic_time () - self->stop_requested_us) / 1e6;
  g_mutex_unlock (&self->mutex);
  return !stopped;
}

static gboolean
params_finite (BtNet *net)
{
  gsize n = 0;
  const float *p = bt_net_params (net, &n);

  for (gsize i = 0; i < n; i++)
    if (!isfinite (p[i]))
      return FALSE;
  return TRUE;
}

static void
meta_set (GHashTable *meta, const char *key, char *value)
{
  g_hash_table_insert (meta, g_strdup (key), value);
}

/* How the saved model turns an image into its input: the backbone's, or the settings'. */
static void
job_preprocess (Job *job, BtPreprocess *prep)
{
  BtBackbone *bb = bt_train_source_get_backbone (job->source);
  const BtProjectSettings *s = &job->settings;

  if (bb != NULL)
    bt_backbone_get_preprocess (bb, s->resize, prep);
  else
    {
      bt_preprocess_init_default (prep, s->width, s->height, s->channels);
      prep->resize = bt_resize_mode_from_ds (s->resize);
    }
}

/* The model file a run saves: the kept model (models/), or beside it in the run folder the
 * recipe's frozen final head when fine-tuning was kept (frozen: no fine-tuned backbone, no
 * calibration or centroids of the fine-tuned features, trained on train + val), so that one run
 * can be judged on test/ both ways (bench/bench-recipe.sh). */
static gboolean
save_model_as (Job *job, BtNet *net, const BtEpochInfo *e, const char *frozen_path, int frozen_images,
               GError **error)
{
  g_autoptr(GHashTable) meta = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_autoptr(GDateTime) now = g_date_time_new_now_utc ();
  BtBackbone *bb = bt_train_source_get_backbone (job->source);
  const BtProjectSettings *s = &job->settings;
  char buf[G_ASCII_DTOSTR_BUF_SIZE];
  BtPreprocess prep;

  job_preprocess (job, &prep);
  meta_set (meta, "created", g_date_time_format_iso8601 (now));
  meta_set (meta, "project", g_strdup (job->project_dir));
  meta_set (meta, "project_name", g_strdup (job->project_name ? job->project_name : ""));
  meta_set (meta, "run", g_strdup (job->run_dir));
  meta_set (meta, "preset", g_strdup (s->preset));
  meta_set (meta, "epoch", g_strdup_printf ("%d", e->epoch));
  meta_set (meta, "epochs", g_strdup_printf ("%d", s->epochs));
  meta_set (meta, "optimizer", g_strdup (s->optimizer));
  meta_set (meta, "learning_rate", g_strdup (g_ascii_dtostr (buf, sizeof buf, s->learning_rate)));
  meta_set (meta, "seed", g_strdup_printf ("%" G_GUINT64_FORMAT, s->seed));
  meta_set (meta, "train_loss", g_strdup_printf ("%.6f", e->train_loss));
  meta_set (meta, "train_acc", g_strdup_printf ("%.6f", e->train_acc));
  if (isfinite (e->val_loss))
    {
      meta_set (meta, "val_loss", g_strdup_printf ("%.6f", e->val_loss));
      meta_set (meta, "val_acc", g_strdup_printf ("%.6f", e->val_acc));
    }
  meta_set (meta, "bottega_version", g_strdup (PACKAGE_VERSION));
  /* what the weights were trained on (the recipe's final head also saw the validation split) */
  int final_images = frozen_path != NULL ? frozen_images : job->final_images;
  meta_set (meta, "trained_on", g_strdup (final_images > 0 ? "train+val" : "train"));
  if (final_images > 0)
    meta_set (meta, "trained_images", g_strdup_printf ("%d", final_images));
  if (frozen_path != NULL)
    meta_set (meta, "role", g_strdup ("frozen-head-for-comparison"));

  /* a fine-tuned backbone travels inside the model: it is a whole-network model */
  GArray *weights = frozen_path != NULL ? NULL : job->backbone_weights;
  BtModel m = {
    .net = net, .class_names = job->class_names, .prep = prep, .metadata = meta, .calib = job->calib,
    .backbone_name = bb != NULL ? (char *) bt_backbone_get_name (bb) : NULL,
    .backbone_sha256 = bb != NULL ? (char *) bt_backbone_get_sha256 (bb) : NULL,
    .backbone_data = bb != NULL && (s->transfer_whole_network || weights != NULL) ? bt_backbone_get_bytes (bb) : NULL,
    .backbone_weights = weights,
    .tta = s->tta ? BT_TTA_MIRROR : BT_TTA_NONE,
    .centroids = frozen_path != NULL ? NULL : job->centroids,
  };
  if (frozen_path != NULL)
    bt_calibration_init (&m.calib);
  return bt_model_save_model (frozen_path != NULL ? frozen_path : job->model_path, &m, error);
}

static gboolean
save_model (Job *job, BtNet *net, const BtEpochInfo *e, GError **error)
{
  return save_model_as (job, net, e, NULL, 0, error);
}

static void
set_diverged (GError **error, int epoch, int step, double lr)
{
  g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_DIVERGED,
               _("Training diverged at epoch %d, step %d: the loss became infinite or not a "
                 "number. The learning rate (%g) is probably too high; try one ten times "
                 "smaller. The last good checkpoint and the best model are kept."),
               epoch, step, lr);
}

static void
set_stopped (GError **error)
{
  g_set_error_literal (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_CANCELLED, _("Training was stopped"));
}

/* ---- Preparation hooks: progress, the pause gate, messages ---- */

static void
prepare_progress (guint done, guint total, gpointer user_data)
{
  /* preparation progress rides on the step snapshot: epoch 0, step = images decoded */
  Job *job = user_data;
  BtTrainer *self = job->trainer;
  BtStepInfo info = { 0 };
  gboolean paused;

  /* the workers are held by a pause: tell the GUI when they stop and when they go on */
  g_mutex_lock (&self->mutex);
  paused = self->paused && !g_cancellable_is_cancelled (job->cancellable);
  g_mutex_unlock (&self->mutex);
  if (paused != job->prep_paused)
    {
      job->prep_paused = paused;
      post_state (self, paused ? BT_TRAINER_PAUSED : BT_TRAINER_PREPARING);
    }

  info.epochs = job->settings.epochs;
  info.step = done;
  info.steps_per_epoch = total;
  info.val_loss = info.val_acc = NAN;
  g_mutex_lock (&self->mutex);
  self->latest_step = info;
  self->have_step = TRUE;
  schedule_idle_locked (self);
  g_mutex_unlock (&self->mutex);
}

/* The decode and embedding workers wait here while the run is paused; FALSE once it is stopped. */
static gboolean
prepare_gate (gpointer data)
{
  Job *job = data;
  BtTrainer *self = job->trainer;
  gboolean go;

  g_mutex_lock (&self->mutex);
  while (self->paused && !g_cancellable_is_cancelled (job->cancellable))
    g_cond_wait (&self->cond, &self->mutex);
  go = !g_cancellable_is_cancelled (job->cancellable);
  g_mutex_unlock (&self->mutex);
  return go;
}

static void
prepare_message (const char *text, gpointer data)
{
  Job *job = data;
  post_message (job->trainer, "%s", text);
}

/* ---- One run: the state train() works on ---- */

typedef struct {
  BtTrainer *self;
  Job *job;
  const BtProjectSettings *s;
  /* the network and how it learns */
  BtNet *net;
  BtOptimizer *opt;
  BtSchedule sched;
  gboolean use_plateau, monitor_acc;
  /* the data */
  BtTrainBatches *train_b, *val_b, *test_b;   /* val_b, test_b NULL without images */
  guint n_train, n_val, n_test;
  int steps_per_epoch;
  float *x;
  int *labels;
  guint *item_indices;
  /* the best epoch's weights, for restore-best */
  gsize n_params, n_buffers;
  float *best_params, *best_buffers;
  /* counters (checkpointed) and the curves (metrics.csv) */
  BtTrainState st;
  RunCounters c;
  GArray *rows;            /* BtEpochInfo, one per finished epoch */
  int start_epoch;
  /* time */
  gint64 paused_us, session_start_us;
  double session_images;
  /* how it ended */
  gboolean stopped_early, non_finite;
  /* fine-tuning's second stage (run_finetune_begin): NULL before it */
  int epochs;              /* all epochs: the settings' and the second stage's */
  BtFinetune *ft;
  float *ft_best;          /* the best epoch's blocks (the backbone's own before stage 2 improves) */
  /* the Automatic recipe (bt-recipe.h): its choice, and its final head on train + val */
  gboolean recipe;         /* the settings are a recipe's: recipe.ini is this run's */
  BtRecipeChoice choice;
  int head_dim;            /* the head's input length (the embedding's) */
  float *final_params;     /* the final frozen head (trained before stage 2 replaces the embeddings), or NULL */
  guint final_images;      /* the images it saw */
} Run;

/* One epoch, from its first step to its checkpoint. */
typedef struct {
  BtEpochInfo info;        /* what the "epoch" signal and metrics.csv get */
  double score;            /* the monitored value */
  guint seen;
  int step;
  gint64 start_us, paused_at_start;
} Epoch;

static void
run_init (Run *r, BtTrainer *self, Job *job)
{
  memset (r, 0, sizeof *r);
  r->self = self;
  r->job = job;
  r->s = &job->settings;
  r->epochs = job->settings.epochs;
  bt_calibration_init (&job->calib);
  r->c.train_losses = g_array_new (FALSE, FALSE, sizeof (double));
  r->c.val_losses = g_array_new (FALSE, FALSE, sizeof (double));
  r->rows = g_array_new (FALSE, TRUE, sizeof (BtEpochInfo));
  r->st.best_score = NAN;
}

static void
run_clear (Run *r)
{
  g_clear_pointer (&r->train_b, bt_train_batches_free);
  g_clear_pointer (&r->val_b, bt_train_batches_free);
  g_clear_pointer (&r->test_b, bt_train_batches_free);
  g_clear_pointer (&r->opt, bt_optimizer_free);
  /* the blocks hold the head (its input gradient): they go first */
  g_clear_pointer (&r->ft, bt_finetune_free);
  g_clear_pointer (&r->net, bt_net_free);
  g_free (r->x);
  g_free (r->labels);
  g_free (r->item_indices);
  g_free (r->best_params);
  g_free (r->best_buffers);
  g_free (r->ft_best);
  g_free (r->final_params);
  g_array_unref (r->c.train_losses);
  g_array_unref (r->c.val_losses);
  g_array_unref (r->rows);
  g_clear_pointer (&r->st.extra, g_hash_table_unref);
}

static guint
count_valid (BtTrainSource *src, const BtSplitView *view)
{
  guint n = 0;

  for (guint i = 0; i < view->n; i++)
    n += bt_train_source_is_valid (src, view->items[i]);
  return n;
}

/* Decodes (or embeds) every image once and counts what is usable. */
static gboolean
run_prepare_data (Run *r, GError **error)
{
  Job *job = r->job;
  BtTrainSourceHooks hooks = { prepare_progress, prepare_gate, prepare_message, job };
  gboolean ok;
  guint n_all, n_ok;

  post_state (r->self, BT_TRAINER_PREPARING);
  ok = bt_train_source_prepare (job->source, &hooks, job->cancellable, error);
  if (job->prep_paused)
    {
      job->prep_paused = FALSE;
      post_state (r->self, BT_TRAINER_PREPARING);
    }
  if (!ok)
    {
      if (g_cancellable_is_cancelled (job->cancellable))
        {
          g_clear_error (error);
          check_pause_and_stop (r->self, job, &r->paused_us);
          set_stopped (error);
        }
      return FALSE;
    }

  r->n_train = count_valid (job->source, job->views[BT_SPLIT_TRAIN]);
  r->n_val = count_valid (job->source, job->views[BT_SPLIT_VAL]);
  r->n_test = count_valid (job->source, job->views[BT_SPLIT_TEST]);
  n_all = job->views[0]->n + job->views[1]->n + job->views[2]->n;
  n_ok = r->n_train + r->n_val + r->n_test;
  /* every one named, with its reason */
  job->unreadable_report = bt_train_source_dup_unreadable_report (job->source, &job->n_unreadable);
  if (job->unreadable_report != NULL)
    post_message (r->self, "%s", job->unreadable_report);
  else if (n_ok < n_all)
    {
      job->n_unreadable = n_all - n_ok;
      post_message (r->self, g_dngettext (GETTEXT_PACKAGE, "%u image could not be read and is left out",
                                          "%u images could not be read and are left out", n_all - n_ok),
                    n_all - n_ok);
    }
  if (job->n_classes < 2)
    g_set_error_literal (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_NO_DATA, _("Training needs at least two classes"));
  else if (r->n_train == 0)
    g_set_error_literal (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_NO_DATA, _("The training split has no usable images"));
  else
    return TRUE;
  return FALSE;
}

/* The Automatic recipe (bt-recipe.h), on a new transfer run once its embeddings are ready: the
 * head's settings it chooses replace the job's, and config.ini is written again with them (a
 * resumed run reads them there and does not search again). */
static gboolean
run_choose_recipe (Run *r, GError **error)
{
  Job *job = r->job;
  BtEmbeddings *emb = bt_train_source_get_embeddings (job->source);
  BtRecipeChoice c;
  int n_split[BT_N_SPLITS];
  g_autofree char *text = NULL;

  if (job->resume && job->run_dir != NULL && emb != NULL && bt_recipe_applies (&job->settings))
    {
      /* a resumed run continues the choice it made (fine-tuning included: config.ini has it) */
      r->recipe = bt_recipe_load (&r->choice, job->run_dir, NULL);
      return TRUE;
    }
  if (job->resume || job->run_dir == NULL || emb == NULL || !bt_recipe_applies (&job->settings) ||
      bt_recipe_free_fields (&job->settings) == 0)
    return TRUE;
  post_message (r->self, "%s", _("Choosing the recipe on the training photos…"));
  if (!bt_recipe_search (emb, job->views[BT_SPLIT_TRAIN], bt_train_source_get_hashes (job->source), job->n_classes,
                         &job->settings, job->class_weights, prepare_gate, job, &c, error))
    {
      if (g_error_matches (*error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_NO_DATA))
        {
          /* too few images to search: the settings as they are */
          post_message (r->self, "%s", (*error)->message);
          g_clear_error (error);
          return TRUE;
        }
      return FALSE;
    }
  bt_recipe_apply (&c, &job->settings);
  /* The recipe's next step: with enough photos per class, the person's default of no fine-tuning
   * and validation photos to judge it by, the head is followed by fine-tuning the backbone's last
   * blocks (the second stage, kept only if its validation loss beats the head's). */
  {
    BtBackbone *bb = bt_train_source_get_backbone (job->source);
    const BtSettingInfo *row = bt_settings_find ("finetune-blocks");
    if (bb != NULL && r->n_val > 0 && row != NULL && bt_setting_get_number (row, &job->settings) == row->def &&
        bt_recipe_finetune_rule (job->views[BT_SPLIT_TRAIN], job->n_classes) &&
        bt_finetune_max_blocks (bb) >= BT_RECIPE_FINETUNE_BLOCKS)
      {
        job->settings.transfer_finetune_blocks = BT_RECIPE_FINETUNE_BLOCKS;
        c.finetune_blocks = BT_RECIPE_FINETUNE_BLOCKS;
      }
  }
  r->recipe = TRUE;
  r->choice = c;
  text = bt_recipe_describe (&c);
  post_message (r->self, "%s", text);
  for (int i = 0; i < BT_N_SPLITS; i++)
    n_split[i] = (int) job->views[i]->n;
  return bt_run_files_write_config (job->run_dir, &job->settings, (const char * const *) job->class_names,
                                    n_split, error) &&
         bt_recipe_save (&c, job->run_dir, error);
}

/* The settings' learning-rate schedule for epochs of steps_per_epoch steps. */
static void
schedule_init (BtSchedule *sched, const BtProjectSettings *s, int steps_per_epoch)
{
  if (!bt_schedule_kind_from_id (s->schedule, &sched->kind))
    sched->kind = BT_SCHEDULE_CONSTANT;
  sched->base_lr = (float) s->learning_rate;
  sched->total_steps = s->epochs * steps_per_epoch;
  sched->warmup_steps = sched->kind == BT_SCHEDULE_COSINE ? MIN (sched->total_steps / 20, 500) : 0;
  sched->step_every = MAX (1, s->epochs / 3) * steps_per_epoch;
  sched->gamma = 0.1f;
  sched->min_lr = 0;
}

/* The schedule (or reduce-on-plateau) and what the best model is judged by. */
static void
run_setup_schedule (Run *r)
{
  const BtProjectSettings *s = r->s;

  schedule_init (&r->sched, s, r->steps_per_epoch);
  r->use_plateau = r->sched.kind == BT_SCHEDULE_PLATEAU;

  r->monitor_acc = r->val_b != NULL && g_strcmp0 (s->early_stopping_monitor, "val_acc") == 0;
  bt_plateau_init (&r->c.plateau, 0.5f,
                   s->early_stopping_patience > 0 ? MAX (1, s->early_stopping_patience / 2) : PLATEAU_DEFAULT_PATIENCE,
                   s->early_stopping_min_delta, r->monitor_acc);
}

/* The splits' batches from the source as it is now (pixels, embeddings or a cut's activations)
 * and the input buffer for BATCH samples of its size; any earlier ones are freed. */
static gboolean
run_make_batches (Run *r, int batch, GError **error)
{
  const BtProjectSettings *s = r->s;
  Job *job = r->job;

  g_clear_pointer (&r->train_b, bt_train_batches_free);
  g_clear_pointer (&r->val_b, bt_train_batches_free);
  g_clear_pointer (&r->test_b, bt_train_batches_free);
  r->train_b = bt_train_batches_new (job->source, job->views[BT_SPLIT_TRAIN], s, TRUE);
  if (r->n_val > 0)
    r->val_b = bt_train_batches_new (job->source, job->views[BT_SPLIT_VAL], s, FALSE);
  if (r->n_test > 0)
    r->test_b = bt_train_batches_new (job->source, job->views[BT_SPLIT_TEST], s, FALSE);
  r->steps_per_epoch = (int) bt_train_batches_n_batches (r->train_b);
  g_free (r->x);
  r->x = g_try_new (float, bt_train_source_sample_floats (job->source) * MAX (batch, 1));
  if (r->x == NULL)
    {
      g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID,
                   _("Not enough memory for a batch of %d images; lower the batch size (now %d)"),
                   batch, s->batch_size);
      return FALSE;
    }
  return TRUE;
}

/* Network, optimizer, batches and the step buffers (sized for min(batch, images)). */
static gboolean
run_build (Run *r, GError **error)
{
  const BtProjectSettings *s = r->s;
  Job *job = r->job;
  BtOptimizerConfig opt_cfg;
  BtOptimizerKind opt_kind;
  BtPreset preset;
  gsize sample = bt_train_source_sample_floats (job->source);
  /* augmented embeddings: each variant of an image is a sample of its own (a batch can hold more
   * samples than the split has images) */
  gboolean variants = bt_train_source_get_embeddings (job->source) != NULL && (s->augment_flip || s->augment_crop);
  guint train_samples = r->n_train * (variants ? BT_EMBED_N_VARIANTS : 1);
  int batch = (int) MIN ((guint) s->batch_size, MAX (MAX (train_samples, r->n_val), r->n_test));

  if (!bt_preset_from_id (s->preset, &preset) || !bt_optimizer_kind_from_id (s->optimizer, &opt_kind))
    {
      g_set_error_literal (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID, _("Invalid preset or optimizer"));
      return FALSE;
    }
  r->head_dim = (int) sample;
  if (preset == BT_PRESET_TRANSFER)
    r->net = bt_net_new_transfer ((int) sample, s->transfer_hidden, job->n_classes, (float) s->dropout, s->seed, error);
  else
    r->net = bt_net_new_preset (preset, s->width, s->height, s->channels, job->n_classes,
                                (float) s->dropout, s->seed, error);
  if (r->net == NULL)
    return FALSE;
  bt_optimizer_config_init (&opt_cfg, opt_kind);
  opt_cfg.weight_decay = (float) s->weight_decay;
  /* the model scored, kept and saved is the weights' moving average (docs/ARCHITECTURE.md) */
  opt_cfg.ema_decay = BT_WEIGHT_AVERAGE_DECAY;
  r->opt = bt_optimizer_new (r->net, &opt_cfg);
  if (r->opt == NULL)
    {
      g_set_error_literal (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID, _("The optimizer could not be created"));
      return FALSE;
    }

  /* a batch never holds more images than the largest split (bt_estimate_check_memory's rule) */
  if (!run_make_batches (r, batch, error))
    return FALSE;
  run_setup_schedule (r);
  r->labels = g_new (int, MAX (batch, 1));
  r->item_indices = g_new (guint, MAX (batch, 1));
  bt_net_params (r->net, &r->n_params);
  bt_net_buffers (r->net, &r->n_buffers);
  r->st.rng = *bt_net_rng (r->net);
  return TRUE;
}

static void
keep_best_weights (Run *r)
{
  gsize dummy;
  const float *p = bt_net_params (r->net, &dummy);
  const float *b = bt_net_buffers (r->net, &dummy);

  if (r->best_params == NULL)
    r->best_params = g_new (float, MAX (r->n_params, 1));
  memcpy (r->best_params, p, sizeof (float) * r->n_params);
  if (r->ft != NULL)
    bt_finetune_get_params (r->ft, r->ft_best);
  if (r->n_buffers > 0)
    {
      if (r->best_buffers == NULL)
        r->best_buffers = g_new (float, r->n_buffers);
      memcpy (r->best_buffers, b, sizeof (float) * r->n_buffers);
    }
}

/* The best model so far, read back so that restore-best works across a resume. */
static void
load_best_weights (Run *r)
{
  g_autoptr(BtModel) best = NULL;
  gsize n = 0, nb = 0;
  const float *p, *b;

  if (r->st.best_epoch <= 0 || !g_file_test (r->job->model_path, G_FILE_TEST_IS_REGULAR))
    return;
  best = bt_model_load (r->job->model_path, NULL);
  if (best == NULL)
    return;
  p = bt_net_params (best->net, &n);
  b = bt_net_buffers (best->net, &nb);
  if (n == r->n_params && nb == r->n_buffers)
    {
      r->best_params = g_memdup2 (p, sizeof (float) * n);
      r->best_buffers = nb > 0 ? g_memdup2 (b, sizeof (float) * nb) : NULL;
    }
}

/* Resume from the last complete checkpoint: weights, optimizer, generators, counters, curves. */
static gboolean
run_resume (Run *r, GError **error)
{
  Job *job = r->job;
  g_autofree char *path = NULL;
  int last;

  if (!job->resume)
    return TRUE;
  last = bt_run_files_last_checkpoint (job->run_dir);
  if (last == 0)
    {
      g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID,
                   _("The run “%s” has no checkpoint to resume from"), job->run_dir);
      return FALSE;
    }
  path = bt_run_files_checkpoint_path (job->run_dir, last);
  if (!bt_train_state_load (path, r->net, r->opt, &r->st, error))
    return FALSE;
  /* the dropout generator continues where the checkpoint left it */
  *bt_net_rng (r->net) = r->st.rng;
  counters_from_extra (&r->c, r->st.extra);
  g_clear_pointer (&r->st.extra, g_hash_table_unref);
  r->start_epoch = r->st.epoch;
  bt_optimizer_set_t (r->opt, r->st.opt_t);
  load_best_weights (r);

  {
    g_autoptr(GArray) rows = bt_run_files_read_metrics (job->run_dir);
    for (guint i = 0; rows != NULL && i < rows->len; i++)
      if (g_array_index (rows, BtEpochInfo, i).epoch <= r->start_epoch)
        g_array_append_val (r->rows, g_array_index (rows, BtEpochInfo, i));
  }
  post_message (r->self, _("Resuming after epoch %d of %d"), r->start_epoch, r->s->epochs);
  if (job->project_changed)
    post_message (r->self, _("The project’s images changed since this run started, so the resumed "
                             "run will differ from an uninterrupted one"));
  return TRUE;
}

static void
post_step_info (Run *r, Epoch *e, double loss, int n_correct, int n, double lr,
                double loss_sum, guint correct)
{
  const BtEpochInfo *prev = r->rows->len > 0 ? &g_array_index (r->rows, BtEpochInfo, r->rows->len - 1) : NULL;
  BtStepInfo si = { 0 };
  BtStepSample sample;
  gint64 now = g_get_monotonic_time ();
  double active_s = (now - e->start_us - (r->paused_us - e->paused_at_start)) / 1e6;
  double rate = active_s > 0 ? e->seen / active_s : 0;
  double remaining = (double) (r->epochs - e->info.epoch) * (r->n_train + r->n_val) + (r->n_train - e->seen) + r->n_val;

  si.epoch = e->info.epoch;
  si.epochs = r->epochs;
  si.step = e->step;
  si.steps_per_epoch = r->steps_per_epoch;
  si.global_step = r->c.global_step;
  si.loss = loss;
  si.acc = (double) n_correct / n;
  si.lr = lr;
  si.images_per_s = rate;
  si.elapsed_s = r->c.elapsed_s + (now - r->session_start_us - r->paused_us) / 1e6;
  si.eta_s = rate > 0 ? remaining / rate : 0;
  si.epoch_loss = loss_sum / e->seen;
  si.epoch_acc = (double) correct / e->seen;
  si.val_loss = prev != NULL && prev->epoch == e->info.epoch - 1 ? prev->val_loss : NAN;
  si.val_acc = prev != NULL && prev->epoch == e->info.epoch - 1 ? prev->val_acc : NAN;
  sample.global_step = r->c.global_step;
  sample.epoch = e->info.epoch;
  sample.loss = (float) loss;
  sample.acc = (float) si.acc;
  post_step (r->self, &si, &sample);
}

/* One optimizer step on one batch; FALSE with DIVERGED on NaN/Inf. */
static gboolean
train_step (Run *r, Epoch *e, int n, double lr, double *loss, int *n_correct, GError **error)
{
  gboolean ok;

  /* one turn of the compute gate per step: the model runner's jobs go in between */
  bt_compute_gate_enter ();
  if (r->ft != NULL)
    {
      BtFinetuneParams p = { (float) lr, (float) r->s->weight_decay, (float) r->s->label_smoothing,
                             r->job->class_weights };
      ok = bt_finetune_step (r->ft, r->x, r->labels, n, &p, loss, n_correct, error) && isfinite (*loss);
      bt_compute_gate_leave ();
      goto done;
    }
  ok = bt_net_train_step (r->net, r->opt, r->x, r->labels, n, r->job->class_weights,
                          (float) r->s->label_smoothing, (float) lr, loss, n_correct, error);
  bt_compute_gate_leave ();
done:
  if (ok)
    return TRUE;
  if (error != NULL && *error != NULL && !g_error_matches (*error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_NUMERIC))
    return FALSE;
  g_clear_error (error);
  r->non_finite = TRUE;
  set_diverged (error, e->info.epoch, e->step, lr);
  return FALSE;
}

/* The epoch's steps over the training split. */
static gboolean
run_train_epoch (Run *r, Epoch *e, GError **error)
{
  double loss_sum = 0, lr = 0;
  guint correct = 0;
  int n;

  e->start_us = g_get_monotonic_time ();
  e->paused_at_start = r->paused_us;
  bt_train_batches_start_epoch (r->train_b, e->info.epoch);
  while (TRUE)
    {
      double loss = 0;
      int n_correct = 0;

      if (!check_pause_and_stop (r->self, r->job, &r->paused_us))
        {
          set_stopped (error);
          return FALSE;
        }
      n = bt_train_batches_next (r->train_b, r->x, r->labels, r->item_indices);
      if (n <= 0)
        break;
      e->step++;
      lr = bt_schedule_lr (&r->sched, r->c.global_step) * r->c.plateau.multiplier;
      if (!train_step (r, e, n, lr, &loss, &n_correct, error))
        return FALSE;
      r->c.global_step++;
      loss_sum += loss * n;
      correct += n_correct;
      e->seen += n;
      r->session_images += n;
      post_step_info (r, e, loss, n_correct, n, lr, loss_sum, correct);
    }
  e->info.train_loss = e->seen > 0 ? loss_sum / e->seen : NAN;
  e->info.train_acc = e->seen > 0 ? (double) correct / e->seen : NAN;
  e->info.lr = lr;
  return TRUE;
}

/* Runs a split through the net (no training) and accumulates loss and accuracy. When ev is
 * given, every image is added to it (at the job's calibration); when logits is, the logits and
 * labels are appended to it and labels. Returns FALSE when stopped or on error. */
static gboolean
run_eval (Run *r, BtTrainBatches *batches, double *loss_out, double *acc_out, BtEvaluation *ev,
          GArray *logits, GArray *labels, GArray *distances, BtCentroidsFit *fit, GError **error)
{
  const int dim = bt_net_feature_dim (r->net);
  Job *job = r->job;
  double loss_sum = 0;
  guint correct = 0, seen = 0;
  int n;

  bt_train_batches_start_epoch (batches, 0);
  while (TRUE)
    {
      const float *probs;
      int n_correct = 0;

      if (!check_pause_and_stop (r->self, job, &r->paused_us))
        {
          set_stopped (error);
          return FALSE;
        }
      n = bt_train_batches_next (batches, r->x, r->labels, r->item_indices);
      if (n <= 0)
        break;
      bt_compute_gate_enter ();
      probs = r->ft != NULL ? bt_finetune_forward (r->ft, r->x, n, error)
                            : bt_net_forward (r->net, r->x, n, FALSE, error);
      if (probs != NULL)
        loss_sum += bt_net_loss (r->net, r->labels, n, &n_correct) * n;
      bt_compute_gate_leave ();
      if (probs == NULL)
        return FALSE;
      correct += n_correct;
      seen += n;
      for (int i = 0; ev != NULL && i < n; i++)
        {
          guint idx = r->item_indices[i];
          const char *path = idx < job->n_items && job->item_paths[idx] != NULL ? job->item_paths[idx] : "";
          const float *z = bt_net_logits (r->net) + (gsize) i * job->n_classes;
          double score = bt_unknown_score (&job->calib, job->centroids, z, job->n_classes,
                                           bt_net_features (r->net) + (gsize) i * dim, NULL);
          bt_evaluation_add_logits (ev, &job->calib, z, score, r->labels[i], path, idx);
        }
      if (logits != NULL)
        g_array_append_vals (logits, bt_net_logits (r->net), (guint) n * job->n_classes);
      if (labels != NULL)
        g_array_append_vals (labels, r->labels, n);
      for (int i = 0; distances != NULL && i < n; i++)
        {
          double d = bt_centroids_distance (job->centroids, bt_net_features (r->net) + (gsize) i * dim);
          g_array_append_val (distances, d);
        }
      if (fit != NULL)
        bt_centroids_fit_add (fit, bt_net_features (r->net), r->labels, n);
    }
  *loss_out = seen > 0 ? loss_sum / seen : NAN;
  *acc_out = seen > 0 ? (double) correct / seen : NAN;
  return TRUE;
}

/* With test-time augmentation the test split is scored as the saved model predicts: every test
 * image decoded again and run through bt_model_image_logits (the image and its mirror). */
static gboolean
run_test_tta (Run *r, BtEvaluation *ev, GError **error)
{
  Job *job = r->job;
  BtBackbone *bb = bt_train_source_get_backbone (job->source);
  const BtSplitView *view = job->views[BT_SPLIT_TEST];
  g_autofree float *logits = g_new (float, job->n_classes);
  g_autofree float *features = g_new (float, bt_net_feature_dim (r->net));
  BtModel m = {
    .net = r->net, .class_names = job->class_names, .calib = job->calib, .tta = BT_TTA_MIRROR,
    .centroids = job->centroids,
    .backbone_name = bb != NULL ? (char *) bt_backbone_get_name (bb) : NULL,
    .backbone_sha256 = bb != NULL ? (char *) bt_backbone_get_sha256 (bb) : NULL,
    /* a kept fine-tuned stage: the photos go through its blocks, as with the saved model */
    .backbone_data = bb != NULL && job->backbone_weights != NULL ? bt_backbone_get_bytes (bb) : NULL,
    .backbone_weights = bb != NULL ? job->backbone_weights : NULL,
  };

  job_preprocess (job, &m.prep);
  for (guint i = 0; i < view->n; i++)
    {
      const char *path = view->items[i] < job->n_items ? job->item_paths[view->items[i]] : NULL;
      g_autoptr(BtImage) img = NULL;

      if (!check_pause_and_stop (r->self, job, &r->paused_us))
        {
          set_stopped (error);
          return FALSE;
        }
      if (path == NULL || !bt_train_source_is_valid (job->source, view->items[i]))
        continue;
      img = bt_image_decode_file_sized (path, bb != NULL ? 3 : m.prep.channels, BT_TENSOR_BOX (m.prep.width),
                                        BT_TENSOR_BOX (m.prep.height), NULL, job->cancellable, NULL, NULL);
      if (img != NULL && bt_model_image_outputs (&m, img, logits, features, NULL))
        bt_evaluation_add_logits (ev, &job->calib, logits, bt_model_unknown_score (&m, logits, features, NULL),
                                  view->labels[i], path, view->items[i]);
    }
  return TRUE;
}

/* Validation sees the weights' average (swapped back in run_persist_epoch); a non-finite
 * validation loss is divergence too. */
static gboolean
run_validate (Run *r, Epoch *e, GError **error)
{
  e->info.val_loss = e->info.val_acc = NAN;
  bt_optimizer_swap_average (r->opt, r->net);
  if (r->val_b == NULL)
    return TRUE;
  if (!run_eval (r, r->val_b, &e->info.val_loss, &e->info.val_acc, NULL, NULL, NULL, NULL, NULL, error))
    {
      if (g_error_matches (*error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_NUMERIC))
        {
          g_clear_error (error);
          r->non_finite = TRUE;
          set_diverged (error, e->info.epoch, e->step, e->info.lr);
        }
      return FALSE;
    }
  if (!isfinite (e->info.val_loss))
    {
      r->non_finite = TRUE;
      set_diverged (error, e->info.epoch, e->step, e->info.lr);
      return FALSE;
    }
  return TRUE;
}

/* Epoch scoring: overfitting, the best epoch by the monitored metric, early-stopping count,
 * reduce-on-plateau. No I/O. */
static void
run_score_epoch (Run *r, Epoch *e)
{
  const BtProjectSettings *s = r->s;
  BtEpochInfo *info = &e->info;
  gboolean over, improved = FALSE;

  r->c.elapsed_s += (g_get_monotonic_time () - e->start_us - (r->paused_us - e->paused_at_start)) / 1e6;
  g_array_append_val (r->c.train_losses, info->train_loss);
  g_array_append_val (r->c.val_losses, info->val_loss);
  over = r->val_b != NULL && bt_verdict_overfitting_at ((double *) r->c.train_losses->data,
                                                        (double *) r->c.val_losses->data, r->c.val_losses->len);
  if (over && !r->c.overfitting)
    post_message (r->self, _("Validation loss has risen for %d epochs while training loss keeps falling: "
                             "the model is memorising. Try more data, augmentation, dropout or early stopping."),
                  BT_TRAINER_OVERFIT_EPOCHS);
  r->c.overfitting = over;

  /* the best model: the monitored score, never a non-finite one or non-finite weights */
  e->score = r->val_b != NULL ? (r->monitor_acc ? info->val_acc : info->val_loss) : info->train_loss;
  if (isfinite (e->score))
    {
      if (r->st.best_epoch == 0 || !isfinite (r->st.best_score))
        improved = TRUE;
      else if (r->monitor_acc)
        improved = e->score > r->st.best_score + s->early_stopping_min_delta;
      else
        improved = e->score < r->st.best_score - s->early_stopping_min_delta;
    }
  info->improved = improved && params_finite (r->net);
  if (info->improved)
    {
      r->st.best_score = e->score;
      r->st.best_epoch = info->epoch;
      r->c.bad_epochs = 0;
      if (s->restore_best && r->job->model_path != NULL)
        keep_best_weights (r);
    }
  else
    r->c.bad_epochs++;

  if (r->use_plateau && isfinite (e->score))
    {
      float before = r->c.plateau.multiplier;
      float after = bt_plateau_update (&r->c.plateau, e->score);
      if (after < before)
        post_message (r->self, _("No progress for %d epochs: learning rate lowered to %g"),
                      r->c.plateau.patience, s->learning_rate * after);
    }

  info->epochs = r->epochs;
  info->best_epoch = r->st.best_epoch;
  info->best_score = r->st.best_score;
  info->overfitting = r->c.overfitting;
  info->elapsed_s = r->c.elapsed_s;
}

static gboolean
save_checkpoint (Run *r, int epoch, GError **error)
{
  g_autofree char *path = bt_run_files_checkpoint_path (r->job->run_dir, epoch);
  g_autofree char *prev = bt_run_files_checkpoint_path (r->job->run_dir, epoch - 1);
  g_autoptr(GError) save_error = NULL;
  gboolean ok;

  r->st.epoch = epoch;
  r->st.opt_t = bt_optimizer_get_t (r->opt);
  r->st.rng = *bt_net_rng (r->net);
  r->st.extra = counters_to_extra (&r->c);
  ok = bt_train_state_save (path, r->net, r->opt, &r->st, &save_error);
  g_clear_pointer (&r->st.extra, g_hash_table_unref);
  if (!ok)
    {
      g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_IO,
                   _("The checkpoint of epoch %d could not be saved: %s"), epoch, save_error->message);
      return FALSE;
    }
  /* the previous checkpoint goes only once this one is on disk */
  if (epoch > 1)
    g_unlink (prev);
  return TRUE;
}

/* ---- Fine-tuning's second stage (#27): the top blocks and the head together ---- */

/* Epochs of the second stage at most, and its patience when the settings have none. */
#define FINETUNE_EPOCHS(s) CLAMP ((s)->epochs / 2, 1, 10)
#define FINETUNE_PATIENCE 2
/* The Automatic recipe's: the first epoch after the switch pays for the new optimizer (flowers12:
 * validation loss 0.086 → 0.125 → 0.080, the best head's 0.078), so one more epoch to recover */
#define RECIPE_FINETUNE_PATIENCE 3
#define FINETUNE_STATE "finetune.state"
enum { FTC_EPOCH, FTC_BEST_SCORE, FTC_BEST_EPOCH, FTC_BAD, FTC_STEP, FTC_ELAPSED, FTC_N };

/* The second stage's checkpoint: blocks, head, both optimizers' moments, the best epoch's
 * weights and the counters (the first stage's last checkpoint stays as it is). */
static gboolean
save_finetune_state (Run *r, int epoch, GError **error)
{
  g_autofree char *path = g_build_filename (r->job->run_dir, FINETUNE_STATE, NULL);
  gsize nt = bt_finetune_n_params (r->ft), nh = r->n_params;
  g_autofree float *extra = g_new (float, nt + nh);
  double c[FTC_N] = { epoch, r->st.best_score, r->st.best_epoch, r->c.bad_epochs,
                      (double) r->c.global_step, r->c.elapsed_s };
  g_autoptr(GError) save_error = NULL;

  memcpy (extra, r->ft_best, nt * sizeof (float));
  memcpy (extra + nt, r->best_params != NULL ? r->best_params : bt_net_params (r->net, &nh), nh * sizeof (float));
  if (!bt_finetune_save_state (r->ft, path, c, FTC_N, extra, nt + nh, &save_error))
    {
      g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_IO,
                   _("The checkpoint of epoch %d could not be saved: %s"), epoch, save_error->message);
      return FALSE;
    }
  return TRUE;
}

/* A stopped second stage continues from its checkpoint; returns the last epoch it finished. */
static gboolean
run_finetune_resume (Run *r, int *last, GError **error)
{
  g_autofree char *path = g_build_filename (r->job->run_dir, FINETUNE_STATE, NULL);
  gsize nt = bt_finetune_n_params (r->ft), nh = r->n_params;
  g_autofree float *extra = g_new (float, nt + nh);
  double c[FTC_N];

  if (!r->job->resume || !g_file_test (path, G_FILE_TEST_IS_REGULAR))
    return TRUE;
  if (!bt_finetune_load_state (r->ft, path, c, FTC_N, extra, nt + nh, error))
    return FALSE;
  *last = (int) c[FTC_EPOCH];
  r->st.best_score = c[FTC_BEST_SCORE];
  r->st.best_epoch = (int) c[FTC_BEST_EPOCH];
  r->c.bad_epochs = (int) c[FTC_BAD];
  r->c.global_step = (gint64) c[FTC_STEP];
  r->c.elapsed_s = c[FTC_ELAPSED];
  memcpy (r->ft_best, extra, nt * sizeof (float));
  if (r->best_params == NULL)
    r->best_params = g_new (float, MAX (nh, 1));
  memcpy (r->best_params, extra + nt, nh * sizeof (float));
  {
    g_autoptr(GArray) rows = bt_run_files_read_metrics (r->job->run_dir);
    for (guint i = 0; rows != NULL && i < rows->len; i++)
      {
        const BtEpochInfo *row = &g_array_index (rows, BtEpochInfo, i);
        if (row->epoch > r->s->epochs && row->epoch <= *last)
          g_array_append_val (r->rows, *row);
      }
  }
  return TRUE;
}

/* From the head alone to blocks + head: the first stage's kept head, the activations at the
 * cut, batches of them, the blocks, a constant rate a tenth of the head's. */
static gboolean
run_finetune_begin (Run *r, int *first, GError **error)
{
  Job *job = r->job;
  const BtProjectSettings *s = r->s;
  BtTrainSourceHooks hooks = { prepare_progress, prepare_gate, prepare_message, job };
  BtBackbone *bb = bt_train_source_get_backbone (job->source);
  const BtEpochInfo *last = r->rows->len > 0 ? &g_array_index (r->rows, BtEpochInfo, r->rows->len - 1) : NULL;
  int batch = (int) MIN ((guint) s->batch_size, MAX (MAX (r->n_train, r->n_val), r->n_test));
  BtOptimizerConfig cfg;
  BtOptimizerKind kind;
  int cut, done;
  gsize dummy;

  *first = s->epochs + 1;
  /* the head the first stage validated (averaged) or kept (its best epoch) */
  bt_optimizer_swap_average (r->opt, r->net);
  if (s->restore_best && r->best_params != NULL && last != NULL && r->st.best_epoch != last->epoch)
    memcpy (bt_net_params (r->net, &dummy), r->best_params, sizeof (float) * r->n_params);
  cut = bt_finetune_cut_tensor (bb, s->transfer_finetune_blocks, error);
  if (cut < 0)
    return FALSE;
  post_state (r->self, BT_TRAINER_PREPARING);
  if (!bt_train_source_prepare_cut (job->source, cut, &hooks, job->cancellable, error))
    {
      if (g_cancellable_is_cancelled (job->cancellable))
        {
          g_clear_error (error);
          set_stopped (error);
        }
      return FALSE;
    }
  r->ft = bt_finetune_new (bb, s->transfer_finetune_blocks, r->net, MAX (batch, 1), error);
  if (r->ft == NULL)
    return FALSE;
  r->ft_best = g_new (float, MAX (bt_finetune_n_params (r->ft), 1));
  bt_finetune_get_params (r->ft, r->ft_best);

  if (!run_make_batches (r, batch, error))
    return FALSE;

  /* no moving average in this stage: blocks and head are scored and saved as trained */
  bt_optimizer_kind_from_id (s->optimizer, &kind);
  bt_optimizer_config_init (&cfg, kind);
  bt_optimizer_free (r->opt);
  r->opt = bt_optimizer_new (r->net, &cfg);
  r->sched.kind = BT_SCHEDULE_CONSTANT;
  r->sched.base_lr = (float) (s->learning_rate * BT_FINETUNE_LR_FACTOR);
  r->use_plateau = FALSE;
  r->c.plateau.multiplier = 1.0f;
  r->c.bad_epochs = 0;
  r->epochs = s->epochs + FINETUNE_EPOCHS (s);
  done = s->epochs;
  if (!run_finetune_resume (r, &done, error))
    return FALSE;
  *first = done + 1;
  post_state (r->self, BT_TRAINER_RUNNING);
  post_message (r->self, _("Fine-tuning the backbone’s last %d blocks with the head at a learning rate of %g"),
                s->transfer_finetune_blocks, s->learning_rate * BT_FINETUNE_LR_FACTOR);
  return TRUE;
}

/* Persistence: the best model (averaged weights), metrics.csv, then the trained weights back
 * and the checkpoint. */
static gboolean
run_persist_epoch (Run *r, Epoch *e, GError **error)
{
  Job *job = r->job;
  BtEpochInfo row = e->info;

  if (e->info.improved && r->ft != NULL)
    {
      /* the model saved from now on carries these blocks */
      g_clear_pointer (&job->backbone_weights, g_array_unref);
      job->backbone_weights = bt_finetune_backbone_weights (r->ft);
    }
  if (e->info.improved && job->model_path != NULL)
    {
      g_autoptr(GError) save_error = NULL;
      Event *ev;

      if (!save_model (job, r->net, &e->info, &save_error))
        {
          g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_IO,
                       _("The best model could not be saved: %s"), save_error->message);
          return FALSE;
        }
      ev = g_new0 (Event, 1);
      ev->kind = EV_BEST;
      ev->text = g_strdup (job->model_path);
      post_event (r->self, ev);
    }

  /* metrics.csv has this epoch's own rate */
  row.images_per_s = (double) e->seen / MAX (1e-9, (g_get_monotonic_time () - e->start_us -
                                                    (r->paused_us - e->paused_at_start)) / 1e6);
  g_array_append_val (r->rows, row);
  if (job->run_dir != NULL && !bt_run_files_write_metrics (job->run_dir, r->rows, error))
    return FALSE;

  bt_optimizer_swap_average (r->opt, r->net);
  if (job->run_dir == NULL)
    return TRUE;
  if (!(r->ft != NULL ? save_finetune_state (r, e->info.epoch, error) : save_checkpoint (r, e->info.epoch, error)))
    return FALSE;
  if (job->checkpoint_hook != NULL)
    job->checkpoint_hook (e->info.epoch, job->checkpoint_hook_data);
  return TRUE;
}

static void
run_post_epoch (Run *r, Epoch *e)
{
  BtEpochInfo *info = &e->info;
  double active_s = (g_get_monotonic_time () - r->session_start_us - r->paused_us) / 1e6;
  Event *ev = g_new0 (Event, 1);

  info->images_per_s = r->session_images / MAX (1e-9, active_s);
  info->eta_s = info->images_per_s > 0
              ? (double) (r->epochs - info->epoch) * (r->n_train + r->n_val) / info->images_per_s : 0;
  ev->kind = EV_EPOCH;
  ev->epoch = *info;
  post_event (r->self, ev);
}

static gboolean
run_should_stop_early (Run *r, const Epoch *e)
{
  const BtProjectSettings *s = r->s;

  /* the second stage always stops early: fine-tuning is kept only while it beats what came before */
  int patience = r->ft != NULL && s->early_stopping_patience <= 0
               ? (r->choice.finetune_blocks > 0 ? RECIPE_FINETUNE_PATIENCE : FINETUNE_PATIENCE)
               : s->early_stopping_patience;

  if (patience <= 0 || r->c.bad_epochs < patience || e->info.epoch >= r->epochs)
    return FALSE;
  post_message (r->self, _("Early stopping: %s has not improved for %d epochs; the best epoch was %d"),
                r->val_b != NULL ? s->early_stopping_monitor : "train_loss", r->c.bad_epochs, r->st.best_epoch);
  r->stopped_early = TRUE;
  return TRUE;
}

/* Training images the centroids are measured on, about: every k-th of each class of a bigger split. On
 * Fashion-MNIST's Small CNN every 8th image (7,006) rejected as many far-out images as all 56,043
 * (PERFORMANCE.md), and a pass over all of them costs about a tenth of an epoch. */
#define CENTROID_IMAGES 10000

/* The class centroids of the training split's features (each image once, not augmented), for the
 * weights in the net; NULL (the energy alone) when a class has no training image. */
static gboolean
run_centroids (Run *r, BtCentroids **out, GError **error)
{
  Job *job = r->job;
  const BtSplitView *all = job->views[BT_SPLIT_TRAIN];
  guint stride = all->n > CENTROID_IMAGES ? (all->n + CENTROID_IMAGES - 1) / CENTROID_IMAGES : 1;
  g_autoptr(BtCentroidsFit) fit = bt_centroids_fit_new (job->n_classes, bt_net_feature_dim (r->net));
  g_autoptr(BtSplitView) some = g_new0 (BtSplitView, 1);
  BtTrainBatches *train;
  double loss, acc;
  gboolean ok;

  *out = NULL;
  if (fit == NULL)
    return TRUE;
  g_autofree guint *seen = g_new0 (guint, MAX (job->n_classes, 1));
  some->items = g_new (guint, MAX (all->n, 1));
  some->labels = g_new (int, MAX (all->n, 1));
  /* every k-th image of each class, so that a small class keeps its first image */
  for (guint i = 0; i < all->n; i++)
    if (all->labels[i] < 0 || all->labels[i] >= job->n_classes || seen[all->labels[i]]++ % stride == 0)
      {
        some->items[some->n] = all->items[i];
        some->labels[some->n++] = all->labels[i];
      }
  train = bt_train_batches_new (job->source, some, r->s, FALSE);
  ok = run_eval (r, train, &loss, &acc, NULL, NULL, NULL, NULL, fit, error);
  bt_train_batches_free (train);
  if (ok)
    *out = bt_centroids_fit_finish (fit);
  return ok;
}

/* Temperature, class centroids (training split) and unknown threshold (validation split) for the
 * weights in the net (those of kept_epoch), and the model file saved again with them. Without a
 * validation split or a model file the model stays uncalibrated (temperature 1, no threshold). */
static gboolean
run_calibrate (Run *r, int kept_epoch, GError **error)
{
  Job *job = r->job;
  g_autoptr(GArray) logits = g_array_new (FALSE, FALSE, sizeof (float));
  g_autoptr(GArray) labels = g_array_new (FALSE, FALSE, sizeof (int));
  g_autoptr(GArray) distances = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GError) save_error = NULL;
  const BtEpochInfo *row = NULL;
  double loss, acc;

  for (guint i = 0; i < r->rows->len; i++)
    if (g_array_index (r->rows, BtEpochInfo, i).epoch == kept_epoch)
      row = &g_array_index (r->rows, BtEpochInfo, i);
  if (r->val_b == NULL || job->model_path == NULL || row == NULL || !params_finite (r->net))
    return TRUE;
  g_clear_pointer (&job->centroids, bt_centroids_free);
  if (!run_centroids (r, &job->centroids, error) ||
      !run_eval (r, r->val_b, &loss, &acc, NULL, logits, labels, job->centroids != NULL ? distances : NULL, NULL,
                 error))
    return FALSE;
  bt_calibration_fit ((const float *) logits->data, (const int *) labels->data, labels->len, job->n_classes,
                      job->centroids != NULL ? (const double *) distances->data : NULL, &job->calib);
  if (!bt_calibration_uses_centroids (&job->calib))
    g_clear_pointer (&job->centroids, bt_centroids_free);
  if (!save_model (job, r->net, row, &save_error))
    {
      g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_IO,
                   _("The model could not be saved: %s"), save_error->message);
      return FALSE;
    }
  return TRUE;
}

/* ---- The Automatic recipe's final head (#27) ---- */

/* Once the validation photos have judged (the head's best epoch, fine-tuning), the recipe trains
 * its head again on the training and validation photos together: the settings were chosen by
 * cross-validation on the training split, so the validation photos are only more examples now.
 * Without validation photos, a model file or a recipe, there is nothing to do. */
static gboolean
final_head_applies (Run *r)
{
  return r->recipe && r->n_val > 0 && r->job->model_path != NULL && r->job->run_dir != NULL &&
         bt_train_source_get_embeddings (r->job->source) != NULL;
}

/* The final head's samples: the embeddings of every usable image of the training and
 * validation splits with its augmented variants (as training batches them), one row each:
 * pointers into the run's embeddings, not copies. */
static GArray *
final_samples (Run *r, int **labels_out, guint *images_out)
{
  Job *job = r->job;
  BtEmbeddings *emb = bt_train_source_get_embeddings (job->source);
  const BtSplitView *views[2] = { job->views[BT_SPLIT_TRAIN], job->views[BT_SPLIT_VAL] };
  int n_variants = r->s->augment_flip || r->s->augment_crop ? BT_EMBED_N_VARIANTS : 1;
  GArray *rows = g_array_new (FALSE, FALSE, sizeof (const float *));
  g_autoptr(GArray) labels = g_array_new (FALSE, FALSE, sizeof (int));

  g_assert (bt_embeddings_get_dim (emb) == r->head_dim);
  *images_out = 0;
  for (int v = 0; v < 2; v++)
    for (guint i = 0; i < views[v]->n; i++)
      {
        if (!bt_embeddings_is_valid (emb, views[v]->items[i]))
          continue;
        (*images_out)++;
        for (int k = 0; k < n_variants; k++)
          {
            const float *row = bt_embeddings_get (emb, views[v]->items[i], k);
            if (row == NULL)
              continue;
            g_array_append_val (rows, row);
            g_array_append_val (labels, views[v]->labels[i]);
          }
      }
  *labels_out = (int *) g_array_free (g_steal_pointer (&labels), FALSE);
  return rows;
}

/* A new head (the settings' seed) trained for the settings' epochs on the sample rows x, as the
 * first stage trains (its optimizer, schedule and weight average); the average's weights, or NULL
 * with a message when it diverged (the validated model stays) or FALSE when stopped. */
static gboolean
final_fit (Run *r, const GArray *x, const int *labels, float **params_out, GError **error)
{
  const guint n = x->len;
  const BtProjectSettings *s = r->s;
  Job *job = r->job;
  int batch = (int) MIN ((guint) s->batch_size, MAX (n, 1));
  gsize dim = (gsize) r->head_dim, np;
  g_autoptr(BtNet) net = NULL;
  BtOptimizer *opt;
  BtOptimizerConfig cfg;
  BtOptimizerKind kind = BT_OPTIMIZER_ADAM;
  BtSchedule sched;
  g_autoptr(BtEmbBatcher) batches = NULL;
  g_autofree float *xb = g_new (float, dim * batch);
  g_autofree int *lb = g_new (int, batch);
  gint64 step = 0;
  gboolean alive = TRUE;
  int m;

  *params_out = NULL;
  net = bt_net_new_transfer (r->head_dim, s->transfer_hidden, job->n_classes, (float) s->dropout, s->seed, error);
  if (net == NULL)
    return FALSE;
  bt_optimizer_kind_from_id (s->optimizer, &kind);
  bt_optimizer_config_init (&cfg, kind);
  cfg.weight_decay = (float) s->weight_decay;
  cfg.ema_decay = BT_WEIGHT_AVERAGE_DECAY;
  opt = bt_optimizer_new (net, &cfg);
  schedule_init (&sched, s, (int) ((n + batch - 1) / batch));
  batches = bt_emb_batcher_new_rows ((const float *const *) x->data, labels, n, (int) dim, batch, TRUE, s->seed);
  for (int epoch = 1; alive && epoch <= s->epochs; epoch++)
    {
      if (!check_pause_and_stop (r->self, job, &r->paused_us))
        {
          bt_optimizer_free (opt);
          set_stopped (error);
          return FALSE;
        }
      bt_emb_batcher_start_epoch (batches, epoch);
      while (alive && (m = bt_emb_batcher_next (batches, xb, lb, NULL)) > 0)
        {
          double loss = 0;

          bt_compute_gate_enter ();
          alive = bt_net_train_step (net, opt, xb, lb, m, job->class_weights, (float) s->label_smoothing,
                                     bt_schedule_lr (&sched, step++), &loss, NULL, NULL);
          bt_compute_gate_leave ();
        }
    }
  bt_optimizer_swap_average (opt, net);
  bt_optimizer_free (opt);
  if (!alive || !params_finite (net))
    {
      post_message (r->self, "%s", _("The final head on the training and validation photos diverged; the model "
                                     "trained on the training photos is kept"));
      return TRUE;
    }
  {
    const float *p = bt_net_params (net, &np);   /* before np is read */
    g_assert (np == r->n_params);
    *params_out = g_memdup2 (p, np * sizeof (float));
  }
  return TRUE;
}

/* The frozen final head, trained on the embeddings before the second stage replaces them with
 * the cut's activations (kept for when fine-tuning is left out). */
static gboolean
run_final_frozen (Run *r, GError **error)
{
  g_autofree int *labels = NULL;
  g_autoptr(GArray) x = NULL;

  if (!final_head_applies (r))
    return TRUE;
  x = final_samples (r, &labels, &r->final_images);
  post_message (r->self, "%s", _("Training the final head on the training and validation photos"));
  return final_fit (r, x, labels, &r->final_params, error);
}

/* The frozen final head beside the kept fine-tuned model, in the run folder (not in models/):
 * the net's head is swapped for it while it is saved. */
static gboolean
save_frozen_head (Run *r, const BtEpochInfo *kept, GError **error)
{
  gsize n;
  float *params = bt_net_params (r->net, &n);
  g_autofree float *tuned = g_memdup2 (params, r->n_params * sizeof (float));
  g_autofree char *path = bt_run_files_frozen_head_path (r->job->run_dir);
  g_autoptr(GError) save_error = NULL;
  BtEpochInfo row = *kept;
  gboolean ok;

  memcpy (params, r->final_params, r->n_params * sizeof (float));
  row.val_loss = row.val_acc = NAN;
  row.epoch = r->s->epochs;
  ok = save_model_as (r->job, r->net, &row, path, (int) r->final_images, &save_error);
  memcpy (bt_net_params (r->net, &n), tuned, r->n_params * sizeof (float));
  if (!ok)
    g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_IO, _("The model could not be saved: %s"),
                 save_error->message);
  return ok;
}

/* The final model: without fine-tuning (or with it left out), the frozen final head, saved
 * without a validation score (it saw those photos). Kept fine-tuning stays as validated: its
 * blocks were chosen together with their head, and a new head on their output did worse on
 * flowers12 (235 of 240 test photos against 236; docs/PERFORMANCE.md). The outcome goes to
 * recipe.ini either way. kept is the validated model's epoch row. */
static gboolean
run_final_head (Run *r, const BtEpochInfo *kept, GError **error)
{
  Job *job = r->job;
  gboolean ft_kept = r->ft != NULL && (!r->s->restore_best || r->st.best_epoch > r->s->epochs);
  g_autoptr(GError) save_error = NULL;
  const float *params = ft_kept ? NULL : r->final_params;
  BtEpochInfo row;
  gsize dummy;

  if (!final_head_applies (r) || kept == NULL)
    return TRUE;
  r->choice.finished = TRUE;
  r->choice.finetune_kept = ft_kept;
  r->choice.holdout_val_acc = isfinite (kept->val_acc) ? kept->val_acc : NAN;
  if (ft_kept && r->final_params != NULL && !save_frozen_head (r, kept, error))
    return FALSE;
  if (params != NULL)
    {
      memcpy (bt_net_params (r->net, &dummy), params, r->n_params * sizeof (float));
      job->final_images = (int) r->final_images;
      r->choice.final_images = (int) r->final_images;
      row = *kept;
      row.val_loss = row.val_acc = NAN;
      row.epoch = r->s->epochs;
      if (!save_model (job, r->net, &row, &save_error))
        {
          g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_IO,
                       _("The model could not be saved: %s"), save_error->message);
          return FALSE;
        }
    }
  {
    g_autofree char *text = bt_recipe_describe (&r->choice);
    post_message (r->self, "%s", text);
  }
  return bt_recipe_save (&r->choice, job->run_dir, error);
}

/* The model the person keeps (the best epoch's, or the last one's without restore-best), its
 * test accuracy, and the run marked finished. */
static gboolean
run_finish (Run *r, GError **error)
{
  Job *job = r->job;
  const BtEpochInfo *last = r->rows->len > 0 ? &g_array_index (r->rows, BtEpochInfo, r->rows->len - 1) : NULL;
  int last_epoch = last != NULL ? last->epoch : 0;
  int kept_epoch = last_epoch;

  /* the last epoch's model is its averaged weights, as validated and saved */
  bt_optimizer_swap_average (r->opt, r->net);
  if (r->s->restore_best && r->best_params != NULL && r->st.best_epoch != last_epoch)
    {
      gsize dummy;
      memcpy (bt_net_params (r->net, &dummy), r->best_params, sizeof (float) * r->n_params);
      if (r->ft != NULL)
        bt_finetune_set_params (r->ft, r->ft_best);
      if (r->n_buffers > 0 && r->best_buffers != NULL)
        memcpy (bt_net_buffers (r->net, &dummy), r->best_buffers, sizeof (float) * r->n_buffers);
      post_message (r->self, _("Restored the weights of the best epoch (%d)"), r->st.best_epoch);
      kept_epoch = r->st.best_epoch;
    }
  else if (r->s->restore_best && r->st.best_epoch != last_epoch)
    kept_epoch = 0;   /* the file holds the best epoch's weights, the net does not: leave it as it is */
  else if (!r->s->restore_best && job->model_path != NULL && last != NULL && params_finite (r->net) &&
           r->st.best_epoch != last_epoch)
    {
      /* without restore-best the person keeps the last epoch's weights */
      g_autoptr(GError) save_error = NULL;
      if (r->ft != NULL)
        {
          g_clear_pointer (&job->backbone_weights, g_array_unref);
          job->backbone_weights = bt_finetune_backbone_weights (r->ft);
        }
      if (!save_model (job, r->net, last, &save_error))
        {
          g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_IO,
                       _("The model could not be saved: %s"), save_error->message);
          return FALSE;
        }
    }

  if (!run_calibrate (r, kept_epoch, error))
    return FALSE;
  /* the recipe's head on train + val (its calibration stays the validated model's) */
  for (guint i = 0; i < r->rows->len; i++)
    if (g_array_index (r->rows, BtEpochInfo, i).epoch == kept_epoch &&
        !run_final_head (r, &g_array_index (r->rows, BtEpochInfo, i), error))
      return FALSE;
  if (r->test_b != NULL)
    {
      double test_loss, test_acc;
      BtEvaluation *ev = bt_evaluation_new (job->n_classes, (const char * const *) job->class_names);

      if (!(r->s->tta ? run_test_tta (r, ev, error)
                      : run_eval (r, r->test_b, &test_loss, &test_acc, ev, NULL, NULL, NULL, NULL, error)))
        {
          bt_evaluation_free (ev);
          return FALSE;
        }
      bt_evaluation_finish (ev);
      job->test_eval = ev;
    }
  if (job->run_dir != NULL)
    bt_run_files_mark_finished (job->run_dir, NULL);
  return TRUE;
}

/* The verdict from the curves, however the run ended, stored with the run. */
static void
run_judge (Run *r, const GError *error)
{
  Job *job = r->job;
  g_autofree guint *counts = g_new0 (guint, MAX (job->n_classes, 1));
  const BtSplitView *train = job->views[BT_SPLIT_TRAIN];
  BtVerdictInput in = { 0 };

  if (error != NULL && !g_error_matches (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_CANCELLED) &&
      !g_error_matches (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_DIVERGED))
    return;   /* it failed for another reason: no verdict on the curves */
  for (guint i = 0; i < train->n; i++)
    if (train->labels[i] >= 0 && train->labels[i] < job->n_classes)
      counts[train->labels[i]]++;
  in.epochs = (const BtEpochInfo *) r->rows->data;
  in.n_epochs = r->rows->len;
  in.n_classes = job->n_classes;
  in.learning_rate = r->s->learning_rate;
  in.optimizer = r->s->optimizer;
  in.augmented = r->s->augment_flip || r->s->augment_crop;
  in.non_finite = r->non_finite;
  in.stopped_early = r->stopped_early;
  in.stopped_by_user = g_error_matches (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_CANCELLED);
  in.class_names = (const char * const *) job->class_names;
  in.train_counts = counts;
  bt_verdict_judge (&in, &job->verdict);
  if (job->run_dir != NULL)
    bt_run_files_write_verdict (job->run_dir, &job->verdict, job->model_path, NULL);
}

/* Epochs first … last: steps, validation, scoring, persistence; FALSE on error or stop. */
static gboolean
run_epochs (Run *r, int first, int last, GError **error)
{
  for (int epoch = first; epoch <= last; epoch++)
    {
      Epoch e = { .info.epoch = epoch };

      if (!run_train_epoch (r, &e, error) || !run_validate (r, &e, error))
        return FALSE;
      run_score_epoch (r, &e);
      if (!run_persist_epoch (r, &e, error))
        return FALSE;
      run_post_epoch (r, &e);
      if (run_should_stop_early (r, &e))
        break;
    }
  return TRUE;
}

/* setup → epochs (steps, validation, scoring, persistence) → finish; the verdict either way. */
static gboolean
train (BtTrainer *self, Job *job, GError **error)
{
  Run r;
  gboolean ok;

  run_init (&r, self, job);
  ok = run_prepare_data (&r, error) && run_choose_recipe (&r, error) && run_build (&r, error) &&
       run_resume (&r, error);
  if (ok)
    {
      post_state (self, BT_TRAINER_RUNNING);
      r.session_start_us = g_get_monotonic_time ();
      ok = run_epochs (&r, r.start_epoch + 1, r.s->epochs, error) && run_final_frozen (&r, error);
      /* fine-tuning: the head alone first, then the top blocks and the head together */
      if (ok && r.s->transfer_finetune_blocks > 0 && bt_train_source_get_backbone (job->source) != NULL)
        {
          int first;
          ok = run_finetune_begin (&r, &first, error) && run_epochs (&r, first, r.epochs, error);
        }
      ok = ok && run_finish (&r, error);
    }
  if (r.rows->len > 0 || r.non_finite)
    run_judge (&r, ok || error == NULL ? NULL : *error);
  run_clear (&r);
  return ok;
}

static gpointer
worker_main (gpointer data)
{
  Job *job = data;
  BtTrainer *self = job->trainer;
  g_autoptr(GError) error = NULL;
  Event *ev;

  if (!train (self, job, &error))
    {
      g_assert (error != NULL);
      if (error->domain == G_IO_ERROR && error->code == G_IO_ERROR_CANCELLED)
        {
          g_clear_error (&error);
          set_stopped (&error);
        }
    }

  /* the error travels with "finished" only: a message too would say it twice */
  ev = g_new0 (Event, 1);
  ev->kind = EV_FINISHED;
  ev->error = g_steal_pointer (&error);
  bt_verdict_copy (&ev->verdict, &job->verdict);
  post_event (self, ev);
  return job;
}

/* ---- Public API ---- */

static void launch (BtTrainer *self, Job *job);

static gboolean
check_idle (BtTrainer *self, GError **error)
{
  if (self->thread == NULL)
    return TRUE;
  g_set_error_literal (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID, _("Training is already running"));
  return FALSE;
}

/* Inverse-frequency weights of the training images' classes (1 for a class without any). */
static float *
class_weights_of (const BtSplitView *train, int n_classes)
{
  g_autofree guint *counts = g_new0 (guint, MAX (n_classes, 1));
  float *w = g_new (float, MAX (n_classes, 1));
  guint total = 0, present = 0;

  for (guint i = 0; i < train->n; i++)
    if (train->labels[i] >= 0 && train->labels[i] < n_classes)
      {
        counts[train->labels[i]]++;
        total++;
      }
  for (int k = 0; k < n_classes; k++)
    present += counts[k] > 0;
  for (int k = 0; k < n_classes; k++)
    w[k] = counts[k] > 0 ? (float) total / ((float) present * counts[k]) : 1.0f;
  return w;
}

/* The settings of a new run (the project's), or of the run being resumed (its config.ini),
 * with the classes it started with. */
static gboolean
job_read_settings (BtTrainer *self, Job *job, const char *resume_dir, char ***saved_classes,
                   int saved_split[BT_N_SPLITS], GError **error)
{
  if (resume_dir == NULL)
    {
      bt_project_settings_copy (&job->settings, bt_project_get_settings (self->project));
      return bt_settings_validate (&job->settings, error);
    }
  job->resume = TRUE;
  job->run_dir = g_canonicalize_filename (resume_dir, NULL);
  if (!bt_run_files_read_config (job->run_dir, &job->settings, saved_classes, saved_split, error))
    {
      g_prefix_error (error, "%s", _("Cannot resume: "));
      return FALSE;
    }
  if (bt_run_files_last_checkpoint (job->run_dir) == 0)
    {
      g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID,
                   _("The run “%s” has no checkpoint to resume from"), resume_dir);
      return FALSE;
    }
  return TRUE;
}

/* Snapshot of the project on the main thread: classes, split views, test paths, the source. */
static gboolean
job_snapshot_project (BtProject *project, Job *job, GError **error)
{
  GListModel *classes = bt_project_get_classes (project);
  GListModel *items = bt_project_get_items (project);

  job->n_classes = (int) g_list_model_get_n_items (classes);
  job->class_names = g_new0 (char *, job->n_classes + 1);
  for (int i = 0; i < job->n_classes; i++)
    {
      g_autoptr(BtClassInfo) info = g_list_model_get_item (classes, i);
      job->class_names[i] = g_strdup (bt_class_info_get_name (info));
    }
  for (int i = 0; i < BT_N_SPLITS; i++)
    if ((job->views[i] = bt_project_split_view (project, i)) == NULL)
      {
        g_set_error_literal (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_NO_DATA,
                             _("The project’s images could not be listed"));
        return FALSE;
      }
  if (job->n_classes < 2 || job->views[BT_SPLIT_TRAIN]->n == 0)
    {
      g_set_error_literal (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_NO_DATA,
                           job->n_classes < 2 ? _("Training needs at least two classes")
                                              : _("The training split has no images"));
      return FALSE;
    }

  job->n_items = g_list_model_get_n_items (items);
  job->item_paths = g_new0 (char *, MAX (job->n_items, 1));
  for (guint i = 0; i < job->views[BT_SPLIT_TEST]->n; i++)
    {
      guint idx = job->views[BT_SPLIT_TEST]->items[i];
      g_autoptr(BtItem) item = idx < job->n_items ? g_list_model_get_item (items, idx) : NULL;
      if (item != NULL)
        job->item_paths[idx] = g_strdup (bt_item_get_path (item));
    }
  if (job->settings.class_weights)
    job->class_weights = class_weights_of (job->views[BT_SPLIT_TRAIN], job->n_classes);
  if (!job->resume && bt_recipe_applies (&job->settings) && (bt_recipe_free_fields (&job->settings) & BT_RECIPE_FLIP))
    {
      /* the recipe may choose mirrored photos and test-time augmentation: their embeddings too */
      BtProjectSettings with_mirrors = job->settings;   /* shallow: read while the source is made */
      with_mirrors.augment_flip = TRUE;
      job->own_source = bt_train_source_new_for_project (project, &with_mirrors);
    }
  else
    job->own_source = bt_train_source_new_for_project (project, &job->settings);
  job->source = job->own_source;
  return TRUE;
}

/* The run folder (a new one with its config.ini, or the resumed one checked) and the model path. */
static gboolean
job_open_run (Job *job, char **saved_classes, const int saved_split[BT_N_SPLITS], GError **error)
{
  int n_split[BT_N_SPLITS];

  for (int i = 0; i < BT_N_SPLITS; i++)
    n_split[i] = (int) job->views[i]->n;
  if (job->resume)
    {
      if (saved_classes == NULL ||
          !g_strv_equal ((const char * const *) saved_classes, (const char * const *) job->class_names))
        {
          g_set_error_literal (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID,
                               _("Cannot resume: the project’s classes changed since this run started"));
          return FALSE;
        }
      job->project_changed = saved_split[BT_SPLIT_TRAIN] != n_split[BT_SPLIT_TRAIN] ||
                             saved_split[BT_SPLIT_VAL] != n_split[BT_SPLIT_VAL];
    }
  else
    {
      job->run_dir = bt_run_files_new_run_dir (job->project_dir, error);
      if (job->run_dir == NULL ||
          !bt_run_files_write_config (job->run_dir, &job->settings, (const char * const *) job->class_names,
                                      n_split, error))
        return FALSE;
    }
  job->model_path = bt_run_files_model_path (job->project_dir, job->run_dir, job->settings.preset, error);
  return job->model_path != NULL;
}

/* One trainer writes a project's runs at a time (the app's, the CLI's): held until job_free. */
static gboolean
job_lock_runs (Job *job, GError **error)
{
  job->run_lock = bt_run_lock_try (job->project_dir, BT_RUN_LOCK_TRAIN, error);
  job->have_run_lock = job->run_lock >= 0;
  return job->have_run_lock;
}

gboolean
bt_trainer_start (BtTrainer *self, const char *resume_dir, GError **error)
{
  g_auto(GStrv) saved_classes = NULL;
  int saved_split[BT_N_SPLITS] = { 0 };
  Job *job;

  g_return_val_if_fail (BT_IS_TRAINER (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!check_idle (self, error))
    return FALSE;
  if (self->project == NULL)
    {
      g_set_error_literal (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID,
                           _("This trainer has no project to train"));
      return FALSE;
    }

  job = g_new0 (Job, 1);
  job->project_dir = g_strdup (bt_project_get_dir (self->project));
  job->project_name = g_strdup (bt_project_get_name (self->project));
  job->checkpoint_hook = self->checkpoint_hook;
  job->checkpoint_hook_data = self->checkpoint_hook_data;
  if (!job_read_settings (self, job, resume_dir, &saved_classes, saved_split, error) ||
      !job_snapshot_project (self->project, job, error) ||
      /* before any folder or allocation: settings that cannot fit say which one to lower */
      !bt_estimate_check_memory (&job->settings, job->n_classes, job->views[BT_SPLIT_TRAIN]->n, error) ||
      !job_lock_runs (job, error) ||
      !job_open_run (job, saved_classes, saved_split, error))
    {
      job_free (job);
      return FALSE;
    }
  launch (self, job);
  return TRUE;
}

/* Hands a prepared job to a new worker thread. */
static void
launch (BtTrainer *self, Job *job)
{
  /* State shared with the worker. */
  g_clear_pointer (&self->test_eval, bt_evaluation_free);
  self->n_unreadable = 0;
  g_clear_pointer (&self->unreadable_report, g_free);
  bt_verdict_clear (&self->verdict);
  memset (&self->verdict, 0, sizeof self->verdict);
  g_clear_pointer (&self->context, g_main_context_unref);
  self->context = g_main_context_ref_thread_default ();
  self->cancellable = g_cancellable_new ();
  job->cancellable = g_object_ref (self->cancellable);
  job->trainer = g_object_ref (self);
  g_mutex_lock (&self->mutex);
  self->paused = FALSE;
  self->stop_requested_us = 0;
  self->stop_latency_s = -1;
  g_array_set_size (self->steps, 0);
  g_mutex_unlock (&self->mutex);

  g_free (self->run_dir);
  self->run_dir = g_strdup (job->run_dir);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_RUN_DIR]);
  g_clear_pointer (&self->best_model_path, g_free);
  if (job->resume && g_file_test (job->model_path, G_FILE_TEST_IS_REGULAR))
    self->best_model_path = g_strdup (job->model_path);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BEST_MODEL_PATH]);

  set_state (self, BT_TRAINER_PREPARING);
  self->thread = g_thread_new ("bottega-trainer", worker_main, job);
}

static BtSplitView *
view_of (const int *labels, const guint *items, guint n)
{
  BtSplitView *v = g_new0 (BtSplitView, 1);

  v->n = n;
  v->items = g_new (guint, MAX (n, 1));
  v->labels = g_new (int, MAX (n, 1));
  for (guint i = 0; i < n; i++)
    {
      v->items[i] = items[i];
      v->labels[i] = labels[items[i]];
    }
  return v;
}

gboolean
bt_trainer_start_trial (BtTrainer *self, const BtProjectSettings *settings, BtTrainSource *source,
                        const int *labels, int n_classes, const guint *train, guint n_train,
                        const guint *val, guint n_val, GError **error)
{
  Job *job;
  guint n_items;
  BtPreset preset;

  g_return_val_if_fail (BT_IS_TRAINER (self), FALSE);
  g_return_val_if_fail (settings != NULL && source != NULL && labels != NULL, FALSE);
  g_return_val_if_fail (train != NULL || n_train == 0, FALSE);
  g_return_val_if_fail (val != NULL || n_val == 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!check_idle (self, error))
    return FALSE;
  if (!bt_settings_validate (settings, error))
    return FALSE;
  /* a transfer trial trains its head on a search's embeddings (bt_train_source_new_for_embeddings),
   * every other trial a network on pixels */
  g_return_val_if_fail (bt_preset_from_id (settings->preset, &preset) &&
                        (preset == BT_PRESET_TRANSFER) == (bt_train_source_get_embeddings (source) != NULL), FALSE);
  if (n_train == 0 || n_val == 0)
    {
      g_set_error_literal (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_NO_DATA,
                           _("A trial needs training and validation images."));
      return FALSE;
    }
  n_items = bt_train_source_get_n_items (source);
  for (guint i = 0; i < n_train; i++)
    g_return_val_if_fail (train[i] < n_items, FALSE);
  for (guint i = 0; i < n_val; i++)
    g_return_val_if_fail (val[i] < n_items, FALSE);

  job = g_new0 (Job, 1);
  bt_project_settings_copy (&job->settings, settings);
  job->source = source;
  job->n_classes = n_classes;
  job->class_names = g_new0 (char *, job->n_classes + 1);
  for (int i = 0; i < job->n_classes; i++)
    job->class_names[i] = g_strdup_printf ("%d", i);
  job->views[BT_SPLIT_TRAIN] = view_of (labels, train, n_train);
  job->views[BT_SPLIT_VAL] = view_of (labels, val, n_val);
  job->views[BT_SPLIT_TEST] = view_of (NULL, NULL, 0);
  job->item_paths = g_new0 (char *, 1);
  if (job->settings.class_weights)
    job->class_weights = class_weights_of (job->views[BT_SPLIT_TRAIN], job->n_classes);
  launch (self, job);
  return TRUE;
}

void
bt_trainer_pause (BtTrainer *self)
{
  g_return_if_fail (BT_IS_TRAINER (self));

  g_mutex_lock (&self->mutex);
  if (self->thread != NULL)
    self->paused = TRUE;
  g_mutex_unlock (&self->mutex);
}

void
bt_trainer_resume (BtTrainer *self)
{
  g_return_if_fail (BT_IS_TRAINER (self));

  g_mutex_lock (&self->mutex);
  self->paused = FALSE;
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->mutex);
}

void
bt_trainer_stop (BtTrainer *self)
{
  g_return_if_fail (BT_IS_TRAINER (self));

  if (self->thread == NULL || self->cancellable == NULL)
    return;
  g_mutex_lock (&self->mutex);
  if (self->stop_requested_us == 0)
    self->stop_requested_us = g_get_monotonic_time ();
  self->paused = FALSE;
  g_cancellable_cancel (self->cancellable);
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->mutex);
  set_state (self, BT_TRAINER_STOPPING);
}

BtTrainerState
bt_trainer_get_state (BtTrainer *self)
{
  g_return_val_if_fail (BT_IS_TRAINER (self), BT_TRAINER_IDLE);
  return self->state;
}

const char *
bt_trainer_get_run_dir (BtTrainer *self)
{
  g_return_val_if_fail (BT_IS_TRAINER (self), NULL);
  return self->run_dir;
}

const char *
bt_trainer_get_best_model_path (BtTrainer *self)
{
  g_return_val_if_fail (BT_IS_TRAINER (self), NULL);
  return self->best_model_path;
}

GArray *
bt_trainer_take_steps (BtTrainer *self)
{
  GArray *out;

  g_return_val_if_fail (BT_IS_TRAINER (self), NULL);

  g_mutex_lock (&self->mutex);
  out = self->steps;
  self->steps = g_array_new (FALSE, FALSE, sizeof (BtStepSample));
  g_mutex_unlock (&self->mutex);
  return out;
}

const BtEvaluation *
bt_trainer_get_test_evaluation (BtTrainer *self)
{
  g_return_val_if_fail (BT_IS_TRAINER (self), NULL);
  return self->test_eval;
}

guint
bt_trainer_get_n_unreadable (BtTrainer *self)
{
  g_return_val_if_fail (BT_IS_TRAINER (self), 0);
  return self->n_unreadable;
}

const char *
bt_trainer_get_unreadable_report (BtTrainer *self)
{
  g_return_val_if_fail (BT_IS_TRAINER (self), NULL);
  return self->unreadable_report;
}

double
bt_trainer_get_stop_latency (BtTrainer *self)
{
  double v;

  g_return_val_if_fail (BT_IS_TRAINER (self), -1);
  g_mutex_lock (&self->mutex);
  v = self->stop_latency_s;
  g_mutex_unlock (&self->mutex);
  return v;
}


const BtVerdict *
bt_trainer_get_verdict (BtTrainer *self)
{
  g_return_val_if_fail (BT_IS_TRAINER (self), NULL);
  return self->verdict.kind != BT_VERDICT_NONE ? &self->verdict : NULL;
}

void
bt_trainer_set_checkpoint_hook (BtTrainer *self, BtTrainerCheckpointHook hook, gpointer user_data)
{
  g_return_if_fail (BT_IS_TRAINER (self));
  self->checkpoint_hook = hook;
  self->checkpoint_hook_data = user_data;
}

char *
bt_trainer_find_resumable_run (BtProject *project)
{
  g_return_val_if_fail (BT_IS_PROJECT (project), NULL);
  return bt_run_files_find_interrupted (bt_project_get_dir (project));
}

/* ---- GObject ---- */

BtTrainer *
bt_trainer_new (BtProject *project)
{
  g_return_val_if_fail (project == NULL || BT_IS_PROJECT (project), NULL);

  return g_object_new (BT_TYPE_TRAINER, "project", project, NULL);
}

static void
bt_trainer_dispose (GObject *object)
{
  BtTrainer *self = BT_TRAINER (object);

  /* A running worker holds a reference, so dispose never races it. */
  g_assert (self->thread == NULL);
  g_clear_object (&self->project);
  g_clear_object (&self->cancellable);

  G_OBJECT_CLASS (bt_trainer_parent_class)->dispose (object);
}

static void
bt_trainer_finalize (GObject *object)
{
  BtTrainer *self = BT_TRAINER (object);

  g_queue_clear_full (&self->events, (GDestroyNotify) event_free);
  g_clear_pointer (&self->steps, g_array_unref);
  g_clear_pointer (&self->context, g_main_context_unref);
  g_clear_pointer (&self->run_dir, g_free);
  g_clear_pointer (&self->best_model_path, g_free);
  g_clear_pointer (&self->test_eval, bt_evaluation_free);
  g_free (self->unreadable_report);
  bt_verdict_clear (&self->verdict);
  g_mutex_clear (&self->mutex);
  g_cond_clear (&self->cond);

  G_OBJECT_CLASS (bt_trainer_parent_class)->finalize (object);
}

static void
bt_trainer_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  BtTrainer *self = BT_TRAINER (object);

  switch (prop_id)
    {
    case PROP_STATE:
      g_value_set_int (value, self->state);
      break;
    case PROP_RUN_DIR:
      g_value_set_string (value, self->run_dir);
      break;
    case PROP_BEST_MODEL_PATH:
      g_value_set_string (value, self->best_model_path);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
bt_trainer_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  BtTrainer *self = BT_TRAINER (object);

  switch (prop_id)
    {
    case PROP_PROJECT:
      self->project = g_value_dup_object (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
bt_trainer_class_init (BtTrainerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = bt_trainer_dispose;
  object_class->finalize = bt_trainer_finalize;
  object_class->get_property = bt_trainer_get_property;
  object_class->set_property = bt_trainer_set_property;

  properties[PROP_PROJECT] =
    g_param_spec_object ("project", NULL, NULL, BT_TYPE_PROJECT,
                         G_PARAM_WRITABLE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  /* a BtTrainerState value */
  properties[PROP_STATE] =
    g_param_spec_int ("state", NULL, NULL, BT_TRAINER_IDLE, BT_TRAINER_FAILED, BT_TRAINER_IDLE,
                      G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_RUN_DIR] =
    g_param_spec_string ("run-dir", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_BEST_MODEL_PATH] =
    g_param_spec_string ("best-model-path", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  signals[SIGNAL_STEP] =
    g_signal_new ("step", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_POINTER);
  signals[SIGNAL_EPOCH] =
    g_signal_new ("epoch", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_POINTER);
  signals[SIGNAL_MESSAGE] =
    g_signal_new ("message", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_STRING);
  signals[SIGNAL_STATE_CHANGED] =
    g_signal_new ("state-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 0);
  signals[SIGNAL_FINISHED] =
    g_signal_new ("finished", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_POINTER);
}

static void
bt_trainer_init (BtTrainer *self)
{
  g_mutex_init (&self->mutex);
  g_cond_init (&self->cond);
  g_queue_init (&self->events);
  self->steps = g_array_new (FALSE, FALSE, sizeof (BtStepSample));
  self->stop_latency_s = -1;
  self->state = BT_TRAINER_IDLE;
}
