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

#include "training/bt-model-runner.h"
#include "training/bt-training-private.h"
#include "training/bt-transfer.h"
#include "training/bt-tune.h"

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
} Event;

/* Everything the worker needs, copied on the main thread at start: the worker never reads
 * the project's list models (the GUI may change them while training runs). */
typedef struct {
  BtTrainer *trainer;             /* strong ref, dropped on the main context at the end */
  GCancellable *cancellable;
  BtProject *project;             /* only for bt_cache_build */
  BtProjectSettings settings;
  char **class_names;
  int n_classes;
  BtSplitView *views[BT_N_SPLITS];
  char **item_paths;              /* by project item index, test split only (else NULL) */
  guint n_items;
  float *class_weights;           /* NULL when off */
  char *run_dir;
  char *model_path;
  char *project_dir;
  char *project_name;
  gboolean resume;
  gboolean project_changed;       /* resuming on other images than the run started with */
  int kill_after_epoch;
  BtBackbone *backbone;           /* transfer preset only (worker) */
  gboolean prep_paused;           /* worker: the embedding phase told the GUI it is paused */
  BtEvaluation *test_eval;        /* result */
  /* A trial (bt_trainer_start_trial): images from a search's snapshot, borrowed; no files
   * (run_dir and model_path stay NULL) and an empty test view. */
  BtTuneData *tune_data;
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
  int kill_after_epoch;

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
  g_free (ev);
}

static void
job_free (Job *job)
{
  g_clear_object (&job->trainer);
  g_clear_object (&job->cancellable);
  g_clear_object (&job->project);
  bt_project_settings_clear (&job->settings);
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
  g_clear_pointer (&job->test_eval, bt_evaluation_free);
  g_clear_pointer (&job->backbone, bt_backbone_unref);
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
  if (job != NULL)
    {
      g_clear_pointer (&self->test_eval, bt_evaluation_free);
      self->test_eval = g_steal_pointer (&job->test_eval);
    }
  g_clear_object (&self->cancellable);

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

static char *
checkpoint_path (const char *run_dir, int epoch)
{
  g_autofree char *name = g_strdup_printf ("checkpoint-%04d.state", epoch);
  return g_build_filename (run_dir, name, NULL);
}

/* Newest checkpoint-NNNN.state of a run, or 0. */
static int
find_last_checkpoint (const char *run_dir)
{
  g_autoptr(GDir) dir = g_dir_open (run_dir, 0, NULL);
  const char *name;
  int best = 0;

  if (dir == NULL)
    return 0;
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      int epoch;
      char tail[8];
      if (sscanf (name, "checkpoint-%d.stat%1s", &epoch, tail) == 2 &&
          g_str_has_suffix (name, ".state") && epoch > best)
        best = epoch;
    }
  return best;
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

static gboolean
save_model (Job *job, BtNet *net, const char *path, int epoch, double train_loss, double train_acc,
            double val_loss, double val_acc, GError **error)
{
  g_autoptr(GHashTable) meta = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_autoptr(GDateTime) now = g_date_time_new_now_utc ();
  BtPreprocess prep;
  char buf[G_ASCII_DTOSTR_BUF_SIZE];

  if (job->backbone != NULL)
    bt_backbone_get_preprocess (job->backbone, job->settings.resize, &prep);
  else
    {
      bt_preprocess_init_default (&prep, job->settings.width, job->settings.height, job->settings.channels);
      prep.resize = bt_resize_mode_from_ds (job->settings.resize);
    }

  g_hash_table_insert (meta, g_strdup ("created"), g_date_time_format_iso8601 (now));
  g_hash_table_insert (meta, g_strdup ("project"), g_strdup (job->project_dir));
  g_hash_table_insert (meta, g_strdup ("project_name"), g_strdup (job->project_name ? job->project_name : ""));
  g_hash_table_insert (meta, g_strdup ("run"), g_strdup (job->run_dir));
  g_hash_table_insert (meta, g_strdup ("preset"), g_strdup (job->settings.preset));
  g_hash_table_insert (meta, g_strdup ("epoch"), g_strdup_printf ("%d", epoch));
  g_hash_table_insert (meta, g_strdup ("epochs"), g_strdup_printf ("%d", job->settings.epochs));
  g_hash_table_insert (meta, g_strdup ("optimizer"), g_strdup (job->settings.optimizer));
  g_hash_table_insert (meta, g_strdup ("learning_rate"),
                       g_strdup (g_ascii_dtostr (buf, sizeof buf, job->settings.learning_rate)));
  g_hash_table_insert (meta, g_strdup ("seed"), g_strdup_printf ("%" G_GUINT64_FORMAT, job->settings.seed));
  g_hash_table_insert (meta, g_strdup ("train_loss"), g_strdup_printf ("%.6f", train_loss));
  g_hash_table_insert (meta, g_strdup ("train_acc"), g_strdup_printf ("%.6f", train_acc));
  if (isfinite (val_loss))
    {
      g_hash_table_insert (meta, g_strdup ("val_loss"), g_strdup_printf ("%.6f", val_loss));
      g_hash_table_insert (meta, g_strdup ("val_acc"), g_strdup_printf ("%.6f", val_acc));
    }
  g_hash_table_insert (meta, g_strdup ("bottega_version"), g_strdup (PACKAGE_VERSION));

  return bt_model_save_full (path, net, (const char * const *) job->class_names, &prep,
                             job->backbone != NULL ? bt_backbone_get_name (job->backbone) : NULL,
                             job->backbone != NULL ? bt_backbone_get_sha256 (job->backbone) : NULL,
                             job->backbone != NULL && job->settings.transfer_whole_network
                               ? bt_backbone_get_bytes (job->backbone) : NULL,
                             meta, error);
}

/* Batches from the pixel cache, or from backbone embeddings for the transfer preset. */
typedef struct {
  BtBatcher *pixels;
  BtEmbBatcher *emb;
} Source;

static void
source_start (Source *src, int epoch)
{
  if (src->emb != NULL)
    bt_emb_batcher_start_epoch (src->emb, epoch);
  else
    bt_batcher_start_epoch (src->pixels, epoch);
}

static int
source_next (Source *src, float *x, int *labels, guint *item_indices)
{
  if (src->emb != NULL)
    return bt_emb_batcher_next (src->emb, x, labels, item_indices);
  return bt_batcher_next (src->pixels, x, labels, item_indices);
}

static guint
source_n_batches (Source *src)
{
  return src->emb != NULL ? bt_emb_batcher_n_batches (src->emb) : bt_batcher_n_batches (src->pixels);
}

static void
source_clear (Source *src)
{
  g_clear_pointer (&src->emb, bt_emb_batcher_free);
  g_clear_pointer (&src->pixels, bt_batcher_free);
}

/* Runs a split through the net (no training) and accumulates loss and accuracy. When ev is
 * given, every image is added to it. Returns FALSE when stopped or on error. */
static gboolean
run_eval (BtTrainer *self, Job *job, BtNet *net, Source *batcher, float *x, int *labels,
          guint *item_indices, double *loss_out, double *acc_out, BtEvaluation *ev,
          gint64 *paused_us, GError **error)
{
  double loss_sum = 0;
  guint correct = 0, seen = 0;
  int n;

  source_start (batcher, 0);
  while (TRUE)
    {
      const float *probs;
      int n_correct = 0;

      if (!check_pause_and_stop (self, job, paused_us))
        {
          g_set_error_literal (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_CANCELLED, _("Training was stopped"));
          return FALSE;
        }
      n = source_next (batcher, x, labels, item_indices);
      if (n <= 0)
        break;
      bt_compute_gate_enter ();
      probs = bt_net_forward (net, x, n, FALSE, error);
      if (probs != NULL)
        loss_sum += bt_net_loss (net, labels, n, &n_correct) * n;
      bt_compute_gate_leave ();
      if (probs == NULL)
        return FALSE;
      correct += n_correct;
      seen += n;
      if (ev != NULL)
        for (int i = 0; i < n; i++)
          {
            guint idx = item_indices[i];
            const char *path = idx < job->n_items && job->item_paths[idx] != NULL ? job->item_paths[idx] : "";
            bt_evaluation_add (ev, probs + (gsize) i * job->n_classes, labels[i], path, idx);
          }
    }
  *loss_out = seen > 0 ? loss_sum / seen : NAN;
  *acc_out = seen > 0 ? (double) correct / seen : NAN;
  return TRUE;
}

static guint
count_valid (BtCache *cache, BtEmbeddings *emb, const BtSplitView *view)
{
  guint n = 0;

  for (guint i = 0; i < view->n; i++)
    if (emb != NULL ? bt_embeddings_is_valid (emb, view->items[i]) : bt_cache_is_valid (cache, view->items[i]))
      n++;
  return n;
}

static void
cache_progress (guint done, guint total, gpointer user_data)
{
  /* preparation progress rides on the step snapshot: epoch 0, step = images decoded */
  Job *job = user_data;
  BtStepInfo info = { 0 };
  BtTrainer *self = job->trainer;

  info.epoch = 0;
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

/* The embedding and decode workers wait here while the run is paused; FALSE once it is stopped. */
static gboolean
embed_gate (gpointer data)
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

/* Embedding and decode progress, polled on the trainer thread: also tells the GUI when the
 * workers are held by a pause and when they go on. */
static void
embed_progress (guint done, guint total, gpointer user_data)
{
  Job *job = user_data;
  BtTrainer *self = job->trainer;
  gboolean paused;

  g_mutex_lock (&self->mutex);
  paused = self->paused && !g_cancellable_is_cancelled (job->cancellable);
  g_mutex_unlock (&self->mutex);
  if (paused != job->prep_paused)
    {
      job->prep_paused = paused;
      post_state (self, paused ? BT_TRAINER_PAUSED : BT_TRAINER_PREPARING);
    }
  cache_progress (done, total, user_data);
}

static gboolean
write_metrics (const char *run_dir, GString *csv, GError **error)
{
  g_autofree char *path = g_build_filename (run_dir, "metrics.csv", NULL);
  return bt_write_file_atomic (path, csv->str, csv->len, error);
}

#define METRICS_HEADER "epoch,train_loss,train_acc,val_loss,val_acc,lr,images_per_s,elapsed_s,best_epoch,overfitting\n"

/* On resume: keep the header and the rows of epochs ≤ last. */
static GString *
read_metrics (const char *run_dir, int last)
{
  g_autofree char *path = g_build_filename (run_dir, "metrics.csv", NULL);
  g_autofree char *contents = NULL;
  GString *csv = g_string_new (METRICS_HEADER);

  if (g_file_get_contents (path, &contents, NULL, NULL))
    {
      g_auto(GStrv) lines = g_strsplit (contents, "\n", -1);
      for (guint i = 1; lines[i] != NULL; i++)
        {
          int epoch = atoi (lines[i]);
          if (epoch >= 1 && epoch <= last)
            g_string_append_printf (csv, "%s\n", lines[i]);
        }
    }
  return csv;
}

static void
format_csv_double (GString *csv, double v)
{
  if (isfinite (v))
    g_string_append_printf (csv, ",%.6f", v);
  else
    g_string_append (csv, ",");
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

static gboolean
train (BtTrainer *self, Job *job, GError **error)
{
  BtProjectSettings *s = &job->settings;
  g_autoptr(BtCache) own_cache = NULL;
  BtCache *cache = NULL;
  g_autoptr(BtEmbeddings) emb = NULL;
  g_autoptr(BtNet) net = NULL;
  g_autoptr(BtOptimizer) opt = NULL;
  g_autoptr(GString) csv = NULL;
  g_autofree float *x = NULL;
  g_autofree int *labels = NULL;
  g_autofree guint *item_indices = NULL;
  g_autofree float *best_params = NULL;
  g_autofree float *best_buffers = NULL;
  Source train_src = { 0 }, val_src = { 0 }, test_src = { 0 };
  Source *train_b = &train_src, *val_b = NULL, *test_b = NULL;
  BtOptimizerConfig opt_cfg;
  BtOptimizerKind opt_kind;
  BtSchedule sched = { 0 };
  BtPreset preset;
  BtPreprocess prep;
  BtAugment augment;
  BtTrainState st = { 0 };
  RunCounters c = { 0 };
  gboolean use_plateau, monitor_acc, have_val, ok = FALSE, stopped_early = FALSE, averaged = FALSE;
  guint n_train, n_val, n_test;
  int steps_per_epoch, start_epoch, last_epoch = 0;
  gsize image_floats, n_params = 0, n_buffers = 0;
  gint64 paused_us = 0, session_start_us;
  double session_images = 0, last_train_loss = NAN, last_train_acc = NAN;
  double last_val_loss = NAN, last_val_acc = NAN;

  c.train_losses = g_array_new (FALSE, FALSE, sizeof (double));
  c.val_losses = g_array_new (FALSE, FALSE, sizeof (double));
  st.best_score = NAN;

  /* -- Prepare: decode every image once into the cache (or embed it, for transfer) -- */
  if (!bt_preset_from_id (s->preset, &preset) || !bt_optimizer_kind_from_id (s->optimizer, &opt_kind))
    {
      g_set_error_literal (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID, _("Invalid preset or optimizer"));
      goto out;
    }
  post_state (self, BT_TRAINER_PREPARING);
  if (preset == BT_PRESET_TRANSFER)
    {
      g_autofree char *bb_path = bt_backbone_find_for_training (error);
      if (bb_path == NULL)
        goto out;
      job->backbone = bt_backbone_get (bb_path, NULL, error);
      if (job->backbone == NULL)
        goto out;
      post_message (self, _("Computing image embeddings with %s…"), bt_backbone_get_name (job->backbone));
      emb = bt_embeddings_build_full (job->project, job->backbone, s->resize, s->augment_flip, s->augment_crop,
                                      CLAMP ((int) g_get_num_processors (), 1, 8),
                                      embed_progress, job, embed_gate, job,
                                      job->cancellable, error);
      if (job->prep_paused)
        {
          job->prep_paused = FALSE;
          post_state (self, BT_TRAINER_PREPARING);
        }
    }
  else if (job->tune_data != NULL)
    {
      /* a trial: the search decoded its train+val images once, for all its trials */
      if (bt_tune_data_prepare (job->tune_data, job->cancellable, error))
        cache = bt_tune_data_get_cache (job->tune_data);
    }
  else
    {
      post_message (self, _("Preparing images at %d×%d…"), s->width, s->height);
      /* the decode workers wait at the same gate as the embedding ones while paused */
      own_cache = bt_cache_build_gated (job->project, s->width, s->height, s->channels, s->resize,
                                        CLAMP ((int) g_get_num_processors (), 1, 8),
                                        embed_progress, job, embed_gate, job, job->cancellable, error);
      if (job->prep_paused)
        {
          job->prep_paused = FALSE;
          post_state (self, BT_TRAINER_PREPARING);
        }
      cache = own_cache;
    }
  if (cache == NULL && emb == NULL)
    {
      if (g_cancellable_is_cancelled (job->cancellable))
        {
          g_clear_error (error);
          check_pause_and_stop (self, job, &paused_us);
          g_set_error_literal (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_CANCELLED, _("Training was stopped"));
        }
      goto out;
    }

  n_train = count_valid (cache, emb, job->views[BT_SPLIT_TRAIN]);
  n_val = count_valid (cache, emb, job->views[BT_SPLIT_VAL]);
  n_test = count_valid (cache, emb, job->views[BT_SPLIT_TEST]);
  {
    guint n_all = job->views[0]->n + job->views[1]->n + job->views[2]->n;
    guint n_ok = n_train + n_val + n_test;
    if (n_ok < n_all)
      post_message (self, g_dngettext (GETTEXT_PACKAGE, "%u image could not be read and is left out",
                                       "%u images could not be read and are left out", n_all - n_ok),
                    n_all - n_ok);
  }
  if (job->n_classes < 2)
    {
      g_set_error_literal (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_NO_DATA,
                           _("Training needs at least two classes"));
      goto out;
    }
  if (n_train == 0)
    {
      g_set_error_literal (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_NO_DATA,
                           _("The training split has no usable images"));
      goto out;
    }
  have_val = n_val > 0;

  /* -- Network, optimizer, schedule -- */
  if (emb != NULL)
    net = bt_net_new_transfer (bt_embeddings_get_dim (emb), s->transfer_hidden, job->n_classes,
                               (float) s->dropout, s->seed, error);
  else
    net = bt_net_new_preset (preset, s->width, s->height, s->channels, job->n_classes,
                             (float) s->dropout, s->seed, error);
  if (net == NULL)
    goto out;
  bt_optimizer_config_init (&opt_cfg, opt_kind);
  opt_cfg.weight_decay = (float) s->weight_decay;
  /* the model scored, kept and saved is the weights' moving average (docs/ARCHITECTURE.md) */
  opt_cfg.ema_decay = BT_WEIGHT_AVERAGE_DECAY;
  opt = bt_optimizer_new (net, &opt_cfg);
  if (opt == NULL)
    {
      g_set_error_literal (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID, _("The optimizer could not be created"));
      goto out;
    }

  bt_preprocess_init_default (&prep, s->width, s->height, s->channels);
  augment.flip = s->augment_flip;
  augment.crop = s->augment_crop;
  augment.rotate = s->augment_rotate;
  augment.color = s->augment_color;
  if (emb != NULL)
    {
      train_src.emb = bt_emb_batcher_new (emb, job->views[BT_SPLIT_TRAIN], s->batch_size, TRUE,
                                          s->augment_flip || s->augment_crop, s->seed);
      if (have_val)
        val_src.emb = bt_emb_batcher_new (emb, job->views[BT_SPLIT_VAL], s->batch_size, FALSE, FALSE, s->seed);
      if (n_test > 0)
        test_src.emb = bt_emb_batcher_new (emb, job->views[BT_SPLIT_TEST], s->batch_size, FALSE, FALSE, s->seed);
    }
  else
    {
      train_src.pixels = bt_batcher_new (cache, job->views[BT_SPLIT_TRAIN], s->batch_size, TRUE, &augment,
                                         prep.scale, prep.mean, prep.std, s->seed);
      if (have_val)
        val_src.pixels = bt_batcher_new (cache, job->views[BT_SPLIT_VAL], s->batch_size, FALSE, NULL,
                                         prep.scale, prep.mean, prep.std, s->seed);
      if (n_test > 0)
        test_src.pixels = bt_batcher_new (cache, job->views[BT_SPLIT_TEST], s->batch_size, FALSE, NULL,
                                          prep.scale, prep.mean, prep.std, s->seed);
    }
  if (have_val)
    val_b = &val_src;
  if (n_test > 0)
    test_b = &test_src;
  steps_per_epoch = (int) source_n_batches (train_b);

  if (!bt_schedule_kind_from_id (s->schedule, &sched.kind))
    sched.kind = BT_SCHEDULE_CONSTANT;
  use_plateau = sched.kind == BT_SCHEDULE_PLATEAU;
  sched.base_lr = (float) s->learning_rate;
  sched.total_steps = s->epochs * steps_per_epoch;
  sched.warmup_steps = sched.kind == BT_SCHEDULE_COSINE ? MIN (sched.total_steps / 20, 500) : 0;
  sched.step_every = MAX (1, s->epochs / 3) * steps_per_epoch;
  sched.gamma = 0.1f;
  sched.min_lr = 0;

  monitor_acc = have_val && g_strcmp0 (s->early_stopping_monitor, "val_acc") == 0;
  bt_plateau_init (&c.plateau, 0.5f,
                   s->early_stopping_patience > 0 ? MAX (1, s->early_stopping_patience / 2) : PLATEAU_DEFAULT_PATIENCE,
                   s->early_stopping_min_delta, monitor_acc);

  image_floats = emb != NULL ? (gsize) bt_embeddings_get_dim (emb) : (gsize) s->channels * s->height * s->width;
  x = g_new (float, image_floats * s->batch_size);
  labels = g_new (int, s->batch_size);
  item_indices = g_new (guint, s->batch_size);
  bt_net_params (net, &n_params);
  bt_net_buffers (net, &n_buffers);
  st.rng = *bt_net_rng (net);

  /* -- Resume from the last complete checkpoint -- */
  start_epoch = 0;
  if (job->resume)
    {
      int last = find_last_checkpoint (job->run_dir);
      g_autofree char *path = NULL;

      if (last == 0)
        {
          g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID,
                       _("The run “%s” has no checkpoint to resume from"), job->run_dir);
          goto out;
        }
      path = checkpoint_path (job->run_dir, last);
      if (!bt_train_state_load (path, net, opt, &st, error))
        goto out;
      /* the dropout generator continues where the checkpoint left it */
      *bt_net_rng (net) = st.rng;
      counters_from_extra (&c, st.extra);
      g_clear_pointer (&st.extra, g_hash_table_unref);
      start_epoch = st.epoch;
      bt_optimizer_set_t (opt, st.opt_t);
      if (st.best_epoch > 0 && g_file_test (job->model_path, G_FILE_TEST_IS_REGULAR))
        {
          g_autoptr(BtModel) best = bt_model_load (job->model_path, NULL);
          gsize n = 0, nb = 0;
          if (best != NULL)
            {
              const float *p = bt_net_params (best->net, &n);
              const float *b = bt_net_buffers (best->net, &nb);
              if (n == n_params && nb == n_buffers)
                {
                  best_params = g_memdup2 (p, sizeof (float) * n);
                  best_buffers = nb > 0 ? g_memdup2 (b, sizeof (float) * nb) : NULL;
                }
            }
        }
      post_message (self, _("Resuming after epoch %d of %d"), start_epoch, s->epochs);
      if (job->project_changed)
        post_message (self, _("The project’s images changed since this run started, so the resumed "
                              "run will differ from an uninterrupted one"));
    }
  csv = job->run_dir != NULL ? read_metrics (job->run_dir, start_epoch) : g_string_new (METRICS_HEADER);
  last_epoch = start_epoch;

  post_state (self, BT_TRAINER_RUNNING);
  session_start_us = g_get_monotonic_time ();

  for (int epoch = start_epoch + 1; epoch <= s->epochs; epoch++)
    {
      double loss_sum = 0, val_loss = NAN, val_acc = NAN, train_loss, train_acc, score, lr = 0;
      guint correct = 0, seen = 0;
      gint64 epoch_start_us = g_get_monotonic_time (), epoch_paused_us = paused_us;
      BtEpochInfo info = { 0 };
      gboolean improved = FALSE;
      Event *ev;
      int step = 0, n;

      source_start (train_b, epoch);
      while (TRUE)
        {
          BtStepInfo si = { 0 };
          BtStepSample sample;
          double loss = 0, active_s, rate;
          int n_correct = 0;
          gboolean step_ok;

          if (!check_pause_and_stop (self, job, &paused_us))
            {
              g_set_error_literal (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_CANCELLED, _("Training was stopped"));
              goto out;
            }
          n = source_next (train_b, x, labels, item_indices);
          if (n <= 0)
            break;
          step++;
          lr = bt_schedule_lr (&sched, c.global_step) * c.plateau.multiplier;

          /* one turn of the compute gate per step: the model runner's jobs go in between */
          bt_compute_gate_enter ();
          step_ok = bt_net_forward (net, x, n, TRUE, error) != NULL;
          if (step_ok)
            {
              bt_net_zero_grad (net);
              step_ok = bt_net_backward (net, labels, n, job->class_weights, (float) s->label_smoothing,
                                         &loss, &n_correct, error) && isfinite (loss);
            }
          if (step_ok)
            step_ok = isfinite (bt_optimizer_step (opt, net, (float) lr));
          bt_compute_gate_leave ();
          if (!step_ok)
            {
              if (error != NULL && *error != NULL &&
                  !g_error_matches (*error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_NUMERIC))
                goto out;
              g_clear_error (error);
              set_diverged (error, epoch, step, lr);
              goto out;
            }
          c.global_step++;
          loss_sum += loss * n;
          correct += n_correct;
          seen += n;
          session_images += n;

          active_s = (g_get_monotonic_time () - epoch_start_us - (paused_us - epoch_paused_us)) / 1e6;
          rate = active_s > 0 ? seen / active_s : 0;
          si.epoch = epoch;
          si.epochs = s->epochs;
          si.step = step;
          si.steps_per_epoch = steps_per_epoch;
          si.global_step = c.global_step;
          si.loss = loss;
          si.acc = (double) n_correct / n;
          si.lr = lr;
          si.images_per_s = rate;
          si.elapsed_s = c.elapsed_s + (g_get_monotonic_time () - session_start_us - paused_us) / 1e6;
          {
            double remaining = (double) (s->epochs - epoch) * (n_train + n_val) + (n_train - seen) + n_val;
            si.eta_s = rate > 0 ? remaining / rate : 0;
          }
          si.epoch_loss = loss_sum / seen;
          si.epoch_acc = (double) correct / seen;
          si.val_loss = last_val_loss;
          si.val_acc = last_val_acc;
          sample.global_step = c.global_step;
          sample.epoch = epoch;
          sample.loss = (float) loss;
          sample.acc = (float) si.acc;
          post_step (self, &si, &sample);
        }

      train_loss = seen > 0 ? loss_sum / seen : NAN;
      train_acc = seen > 0 ? (double) correct / seen : NAN;
      /* validation, the best model and restore-best see the averaged weights; the next
       * epoch's steps the trained ones again (swapped back before the checkpoint) */
      averaged = bt_optimizer_swap_average (opt, net);
      if (have_val && !run_eval (self, job, net, val_b, x, labels, item_indices,
                                 &val_loss, &val_acc, NULL, &paused_us, error))
        {
          if (g_error_matches (*error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_NUMERIC))
            {
              g_clear_error (error);
              set_diverged (error, epoch, step, lr);
            }
          goto out;
        }
      if (have_val && !isfinite (val_loss))
        {
          set_diverged (error, epoch, step, lr);
          goto out;
        }

      c.elapsed_s += (g_get_monotonic_time () - epoch_start_us - (paused_us - epoch_paused_us)) / 1e6;
      g_array_append_val (c.train_losses, train_loss);
      g_array_append_val (c.val_losses, val_loss);

      /* Overfitting: validation loss rose N epochs in a row while training loss fell. */
      {
        guint len = c.val_losses->len;
        /* …and only with a real gap, so a net that learns nothing is not called "memorising" */
        gboolean over = have_val && len > BT_TRAINER_OVERFIT_EPOCHS && val_loss > train_loss;
        for (guint i = len - BT_TRAINER_OVERFIT_EPOCHS; over && i < len; i++)
          if (!(g_array_index (c.val_losses, double, i) > g_array_index (c.val_losses, double, i - 1) &&
                g_array_index (c.train_losses, double, i) < g_array_index (c.train_losses, double, i - 1)))
            over = FALSE;
        if (over && !c.overfitting)
          post_message (self, _("Validation loss has risen for %d epochs while training loss keeps falling: "
                                "the model is memorising. Try more data, augmentation, dropout or early stopping."),
                        BT_TRAINER_OVERFIT_EPOCHS);
        c.overfitting = over;
      }

      /* Best model: monitored score, never a non-finite one. */
      score = have_val ? (monitor_acc ? val_acc : val_loss) : train_loss;
      if (isfinite (score))
        {
          if (st.best_epoch == 0 || !isfinite (st.best_score))
            improved = TRUE;
          else if (monitor_acc)
            improved = score > st.best_score + s->early_stopping_min_delta;
          else
            improved = score < st.best_score - s->early_stopping_min_delta;
        }
      if (improved && params_finite (net))
        {
          g_autoptr(GError) save_error = NULL;
          if (job->model_path != NULL &&
              !save_model (job, net, job->model_path, epoch, train_loss, train_acc, val_loss, val_acc, &save_error))
            {
              g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_IO,
                           _("The best model could not be saved: %s"), save_error->message);
              goto out;
            }
          st.best_score = score;
          st.best_epoch = epoch;
          c.bad_epochs = 0;
          if (s->restore_best && job->model_path != NULL)
            {
              gsize dummy;
              const float *p = bt_net_params (net, &dummy);
              const float *b = bt_net_buffers (net, &dummy);
              if (best_params == NULL)
                best_params = g_new (float, MAX (n_params, 1));
              memcpy (best_params, p, sizeof (float) * n_params);
              if (n_buffers > 0)
                {
                  if (best_buffers == NULL)
                    best_buffers = g_new (float, n_buffers);
                  memcpy (best_buffers, b, sizeof (float) * n_buffers);
                }
            }
          if (job->model_path != NULL)
            {
              ev = g_new0 (Event, 1);
              ev->kind = EV_BEST;
              ev->text = g_strdup (job->model_path);
              post_event (self, ev);
            }
        }
      else
        {
          improved = FALSE;
          c.bad_epochs++;
        }

      if (use_plateau && isfinite (score))
        {
          float before = c.plateau.multiplier;
          float after = bt_plateau_update (&c.plateau, score);
          if (after < before)
            post_message (self, _("No progress for %d epochs: learning rate lowered to %g"),
                          c.plateau.patience, s->learning_rate * after);
        }

      g_string_append_printf (csv, "%d", epoch);
      format_csv_double (csv, train_loss);
      format_csv_double (csv, train_acc);
      format_csv_double (csv, val_loss);
      format_csv_double (csv, val_acc);
      g_string_append_printf (csv, ",%g", lr);
      format_csv_double (csv, (double) seen / MAX (1e-9, (g_get_monotonic_time () - epoch_start_us -
                                                           (paused_us - epoch_paused_us)) / 1e6));
      format_csv_double (csv, c.elapsed_s);
      g_string_append_printf (csv, ",%d,%d\n", st.best_epoch, c.overfitting ? 1 : 0);
      if (job->run_dir != NULL && !write_metrics (job->run_dir, csv, error))
        goto out;

      if (averaged)
        bt_optimizer_swap_average (opt, net);
      averaged = FALSE;

      /* Checkpoint; the previous one goes only once this one is on disk. */
      if (job->run_dir != NULL)
        {
          g_autofree char *path = checkpoint_path (job->run_dir, epoch);
          g_autofree char *prev = checkpoint_path (job->run_dir, epoch - 1);
          g_autoptr(GError) save_error = NULL;

          st.epoch = epoch;
          st.opt_t = bt_optimizer_get_t (opt);
          st.rng = *bt_net_rng (net);
          st.extra = counters_to_extra (&c);
          if (!bt_train_state_save (path, net, opt, &st, &save_error))
            {
              g_clear_pointer (&st.extra, g_hash_table_unref);
              g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_IO,
                           _("The checkpoint of epoch %d could not be saved: %s"), epoch, save_error->message);
              goto out;
            }
          g_clear_pointer (&st.extra, g_hash_table_unref);
          if (epoch > 1)
            g_unlink (prev);
          if (job->kill_after_epoch == epoch)
            _exit (0);
        }
      last_epoch = epoch;
      last_train_loss = train_loss;
      last_train_acc = train_acc;
      last_val_loss = val_loss;
      last_val_acc = val_acc;

      info.epoch = epoch;
      info.epochs = s->epochs;
      info.train_loss = train_loss;
      info.train_acc = train_acc;
      info.val_loss = val_loss;
      info.val_acc = val_acc;
      info.lr = lr;
      info.images_per_s = session_images / MAX (1e-9, (g_get_monotonic_time () - session_start_us - paused_us) / 1e6);
      info.elapsed_s = c.elapsed_s;
      info.best_epoch = st.best_epoch;
      info.best_score = st.best_score;
      info.improved = improved;
      info.overfitting = c.overfitting;
      info.eta_s = info.images_per_s > 0
                 ? (double) (s->epochs - epoch) * (n_train + n_val) / info.images_per_s : 0;
      ev = g_new0 (Event, 1);
      ev->kind = EV_EPOCH;
      ev->epoch = info;
      post_event (self, ev);

      if (s->early_stopping_patience > 0 && c.bad_epochs >= s->early_stopping_patience && epoch < s->epochs)
        {
          post_message (self, _("Early stopping: %s has not improved for %d epochs; the best epoch was %d"),
                        have_val ? s->early_stopping_monitor : "train_loss", c.bad_epochs, st.best_epoch);
          stopped_early = TRUE;
          break;
        }
    }

  /* -- The model the user keeps, and its test accuracy -- */
  /* the last epoch's model is its averaged weights, as validated and saved */
  bt_optimizer_swap_average (opt, net);
  if (s->restore_best && best_params != NULL && st.best_epoch != last_epoch)
    {
      gsize dummy;
      memcpy (bt_net_params (net, &dummy), best_params, sizeof (float) * n_params);
      if (n_buffers > 0 && best_buffers != NULL)
        memcpy (bt_net_buffers (net, &dummy), best_buffers, sizeof (float) * n_buffers);
      post_message (self, _("Restored the weights of the best epoch (%d)"), st.best_epoch);
    }
  else if (!s->restore_best && job->model_path != NULL && last_epoch > 0 && params_finite (net) &&
           st.best_epoch != last_epoch)
    {
      /* without restore-best the user keeps the last epoch's weights */
      g_autoptr(GError) save_error = NULL;
      if (!save_model (job, net, job->model_path, last_epoch, last_train_loss, last_train_acc,
                       last_val_loss, last_val_acc, &save_error))
        {
          g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_IO,
                       _("The model could not be saved: %s"), save_error->message);
          goto out;
        }
    }
  (void) stopped_early;

  if (test_b != NULL)
    {
      double test_loss, test_acc;
      BtEvaluation *ev = bt_evaluation_new (job->n_classes, (const char * const *) job->class_names);

      if (!run_eval (self, job, net, test_b, x, labels, item_indices, &test_loss, &test_acc, ev,
                     &paused_us, error))
        {
          bt_evaluation_free (ev);
          goto out;
        }
      bt_evaluation_finish (ev);
      job->test_eval = ev;
    }
  if (job->run_dir != NULL)
    {
      /* a finished run is no longer offered for resume */
      g_autofree char *done = g_build_filename (job->run_dir, "finished", NULL);
      bt_write_file_atomic (done, "", 0, NULL);
    }
  ok = TRUE;

out:
  source_clear (&train_src);
  source_clear (&val_src);
  source_clear (&test_src);
  g_array_unref (c.train_losses);
  g_array_unref (c.val_losses);
  if (st.extra != NULL)
    g_hash_table_unref (st.extra);
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
          g_set_error_literal (&error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_CANCELLED, _("Training was stopped"));
        }
      if (!g_error_matches (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_CANCELLED))
        post_message (self, "%s", error->message);
    }

  ev = g_new0 (Event, 1);
  ev->kind = EV_FINISHED;
  ev->error = g_steal_pointer (&error);
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

static char *
new_run_dir (const char *project_dir, GError **error)
{
  g_autoptr(GDateTime) now = g_date_time_new_now_local ();
  g_autofree char *stamp = g_date_time_format (now, "%Y%m%d-%H%M%S");
  g_autofree char *runs = g_build_filename (project_dir, "runs", NULL);

  if (g_mkdir_with_parents (runs, 0755) != 0)
    {
      int saved = errno;
      g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_IO,
                   _("Cannot create “%s”: %s"), runs, g_strerror (saved));
      return NULL;
    }
  for (int i = 0; i < 1000; i++)
    {
      g_autofree char *name = i == 0 ? g_strdup (stamp) : g_strdup_printf ("%s-%d", stamp, i);
      g_autofree char *dir = g_build_filename (runs, name, NULL);

      if (g_mkdir (dir, 0755) == 0)
        return g_steal_pointer (&dir);
      if (errno != EEXIST)
        {
          int saved = errno;
          g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_IO,
                       _("Cannot create “%s”: %s"), dir, g_strerror (saved));
          return NULL;
        }
    }
  g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_IO, _("Cannot create a run folder in “%s”"), runs);
  return NULL;
}

gboolean
bt_trainer_start (BtTrainer *self, const char *resume_dir, GError **error)
{
  g_autoptr(GKeyFile) kf = NULL;
  g_autofree char *config_path = NULL;
  g_autofree char *model_name = NULL;
  g_autofree char *models_dir = NULL;
  g_autofree char *run_name = NULL;
  Job *job;
  GListModel *classes, *items;
  guint n_classes;
  int n_split[BT_N_SPLITS];

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
  job->kill_after_epoch = self->kill_after_epoch;

  if (resume_dir != NULL)
    {
      g_autoptr(GError) local = NULL;

      job->resume = TRUE;
      job->run_dir = g_canonicalize_filename (resume_dir, NULL);
      config_path = g_build_filename (job->run_dir, "config.ini", NULL);
      kf = g_key_file_new ();
      if (!g_key_file_load_from_file (kf, config_path, G_KEY_FILE_NONE, &local))
        {
          g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID,
                       _("Cannot resume: “%s” is not a readable run (%s)"), resume_dir, local->message);
          job_free (job);
          return FALSE;
        }
      if (!bt_settings_from_key_file (&job->settings, kf, error))
        {
          job_free (job);
          return FALSE;
        }
      if (find_last_checkpoint (job->run_dir) == 0)
        {
          g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID,
                       _("The run “%s” has no checkpoint to resume from"), resume_dir);
          job_free (job);
          return FALSE;
        }
    }
  else
    {
      bt_project_settings_copy (&job->settings, bt_project_get_settings (self->project));
      if (!bt_settings_validate (&job->settings, error))
        {
          job_free (job);
          return FALSE;
        }
    }

  /* Snapshot of the project, taken here on the main thread. */
  classes = bt_project_get_classes (self->project);
  n_classes = g_list_model_get_n_items (classes);
  job->n_classes = n_classes;
  job->class_names = g_new0 (char *, n_classes + 1);
  for (guint i = 0; i < n_classes; i++)
    {
      g_autoptr(BtClassInfo) info = g_list_model_get_item (classes, i);
      job->class_names[i] = g_strdup (bt_class_info_get_name (info));
    }
  if (job->resume)
    {
      g_auto(GStrv) saved = g_key_file_get_string_list (kf, "training", "classes", NULL, NULL);
      if (saved == NULL || !g_strv_equal ((const char * const *) saved, (const char * const *) job->class_names))
        {
          g_set_error_literal (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID,
                               _("Cannot resume: the project’s classes changed since this run started"));
          job_free (job);
          return FALSE;
        }
    }
  for (int i = 0; i < BT_N_SPLITS; i++)
    {
      job->views[i] = bt_project_split_view (self->project, i);
      n_split[i] = job->views[i] != NULL ? (int) job->views[i]->n : 0;
      if (job->views[i] == NULL)
        {
          g_set_error_literal (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_NO_DATA,
                               _("The project’s images could not be listed"));
          job_free (job);
          return FALSE;
        }
    }
  if (n_classes < 2)
    {
      g_set_error_literal (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_NO_DATA,
                           _("Training needs at least two classes"));
      job_free (job);
      return FALSE;
    }
  if (n_split[BT_SPLIT_TRAIN] == 0)
    {
      g_set_error_literal (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_NO_DATA,
                           _("The training split has no images"));
      job_free (job);
      return FALSE;
    }
  items = bt_project_get_items (self->project);
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
    job->class_weights = class_weights_of (job->views[BT_SPLIT_TRAIN], n_classes);

  /* The run folder and its config. */
  if (!job->resume)
    {
      g_autofree char *data = NULL;
      gsize len;

      job->run_dir = new_run_dir (job->project_dir, error);
      if (job->run_dir == NULL)
        {
          job_free (job);
          return FALSE;
        }
      kf = bt_settings_to_key_file (&job->settings);
      g_key_file_set_string_list (kf, "training", "classes", (const char * const *) job->class_names, n_classes);
      g_key_file_set_integer (kf, "training", "n-train", n_split[BT_SPLIT_TRAIN]);
      g_key_file_set_integer (kf, "training", "n-val", n_split[BT_SPLIT_VAL]);
      g_key_file_set_integer (kf, "training", "n-test", n_split[BT_SPLIT_TEST]);
      g_key_file_set_integer (kf, "training", "threads", bt_engine_get_threads ());
      g_key_file_set_string (kf, "training", "bottega-version", PACKAGE_VERSION);
      data = g_key_file_to_data (kf, &len, NULL);
      config_path = g_build_filename (job->run_dir, "config.ini", NULL);
      if (!bt_write_file_atomic (config_path, data, len, error))
        {
          job_free (job);
          return FALSE;
        }
    }
  else
    {
      int saved_train = g_key_file_get_integer (kf, "training", "n-train", NULL);
      int saved_val = g_key_file_get_integer (kf, "training", "n-val", NULL);
      if (saved_train != n_split[BT_SPLIT_TRAIN] || saved_val != n_split[BT_SPLIT_VAL])
        job->project_changed = TRUE;
    }

  run_name = g_path_get_basename (job->run_dir);
  model_name = g_strdup_printf ("%s-%s.bottega-model", run_name, job->settings.preset);
  models_dir = g_build_filename (job->project_dir, "models", NULL);
  if (g_mkdir_with_parents (models_dir, 0755) != 0)
    {
      int saved = errno;
      g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_IO,
                   _("Cannot create “%s”: %s"), models_dir, g_strerror (saved));
      job_free (job);
      return FALSE;
    }
  job->model_path = g_build_filename (models_dir, model_name, NULL);

  launch (self, job);
  return TRUE;
}

/* Hands a prepared job to a new worker thread. */
static void
launch (BtTrainer *self, Job *job)
{
  /* State shared with the worker. */
  g_clear_pointer (&self->test_eval, bt_evaluation_free);
  g_clear_pointer (&self->context, g_main_context_unref);
  self->context = g_main_context_ref_thread_default ();
  self->cancellable = g_cancellable_new ();
  job->cancellable = g_object_ref (self->cancellable);
  job->project = self->project != NULL ? g_object_ref (self->project) : NULL;
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
bt_trainer_start_trial (BtTrainer *self, const BtProjectSettings *settings, BtTuneData *data,
                        const guint *train, guint n_train, const guint *val, guint n_val, GError **error)
{
  Job *job;
  guint n_items;
  BtPreset preset;

  g_return_val_if_fail (BT_IS_TRAINER (self), FALSE);
  g_return_val_if_fail (settings != NULL && data != NULL, FALSE);
  g_return_val_if_fail (train != NULL || n_train == 0, FALSE);
  g_return_val_if_fail (val != NULL || n_val == 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!check_idle (self, error))
    return FALSE;
  if (!bt_settings_validate (settings, error))
    return FALSE;
  if (bt_preset_from_id (settings->preset, &preset) && preset == BT_PRESET_TRANSFER)
    {
      g_set_error_literal (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID,
                           _("A search cannot try the transfer-learning preset"));
      return FALSE;
    }
  if (n_train == 0 || n_val == 0)
    {
      g_set_error_literal (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_NO_DATA,
                           _("A trial needs training and validation images."));
      return FALSE;
    }
  n_items = bt_tune_data_get_n_items (data);
  for (guint i = 0; i < n_train; i++)
    g_return_val_if_fail (train[i] < n_items, FALSE);
  for (guint i = 0; i < n_val; i++)
    g_return_val_if_fail (val[i] < n_items, FALSE);

  job = g_new0 (Job, 1);
  bt_project_settings_copy (&job->settings, settings);
  job->tune_data = data;
  job->n_classes = (int) bt_tune_data_get_n_classes (data);
  job->class_names = g_new0 (char *, job->n_classes + 1);
  for (int i = 0; i < job->n_classes; i++)
    job->class_names[i] = g_strdup_printf ("%d", i);
  job->views[BT_SPLIT_TRAIN] = view_of (bt_tune_data_get_labels (data), train, n_train);
  job->views[BT_SPLIT_VAL] = view_of (bt_tune_data_get_labels (data), val, n_val);
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

void
bt_trainer_set_kill_after_epoch (BtTrainer *self, int epoch)
{
  g_return_if_fail (BT_IS_TRAINER (self));
  self->kill_after_epoch = epoch;
}

char *
bt_trainer_find_resumable_run (BtProject *project)
{
  g_autofree char *runs = NULL;
  g_autoptr(GDir) dir = NULL;
  g_autofree char *best = NULL;
  const char *name;

  g_return_val_if_fail (BT_IS_PROJECT (project), NULL);

  runs = g_build_filename (bt_project_get_dir (project), "runs", NULL);
  dir = g_dir_open (runs, 0, NULL);
  if (dir == NULL)
    return NULL;
  /* run names are timestamps, so the newest sorts last */
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (runs, name, NULL);
      g_autofree char *config = g_build_filename (path, "config.ini", NULL);

      g_autofree char *done = g_build_filename (path, "finished", NULL);

      if (find_last_checkpoint (path) > 0 && g_file_test (config, G_FILE_TEST_IS_REGULAR) &&
          !g_file_test (done, G_FILE_TEST_EXISTS) &&
          (best == NULL || strcmp (name, best) > 0))
        {
          g_free (best);
          best = g_strdup (name);
        }
    }
  return best != NULL ? g_build_filename (runs, best, NULL) : NULL;
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
