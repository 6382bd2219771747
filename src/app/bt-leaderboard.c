/* bt-leaderboard.c: the hyperparameter search panel. Trials run one after another on a worker
 * (GTask); each finished one is copied to the main thread and becomes a row. */
#include "config.h"

#include <glib/gi18n.h>
#include <math.h>

#include "bt-chart.h"
#include "bt-chart-axis.h"
#include "bt-dialogs.h"
#include "bt-glossary.h"
#include "bt-chart-series.h"
#include "bt-leaderboard.h"
#include "training/bt-kfold.h"
#include "training/bt-training.h"

/* ---- Row objects ---- */

#define BT_TYPE_TRIAL_ROW (bt_trial_row_get_type ())
G_DECLARE_FINAL_TYPE (BtTrialRow, bt_trial_row, BT, TRIAL_ROW, GObject)
struct _BtTrialRow { GObject parent_instance; BtTuneTrial *trial; };
G_DEFINE_FINAL_TYPE (BtTrialRow, bt_trial_row, G_TYPE_OBJECT)

static void
bt_trial_row_finalize (GObject *o)
{
  bt_tune_trial_free (BT_TRIAL_ROW (o)->trial);
  G_OBJECT_CLASS (bt_trial_row_parent_class)->finalize (o);
}
static void bt_trial_row_class_init (BtTrialRowClass *k) { G_OBJECT_CLASS (k)->finalize = bt_trial_row_finalize; }
static void bt_trial_row_init (BtTrialRow *r) { }

static BtTrialRow *
trial_row_new (const BtTuneTrial *t)
{
  BtTrialRow *r = g_object_new (BT_TYPE_TRIAL_ROW, NULL);
  r->trial = bt_tune_trial_copy (t);
  return r;
}

/* ---- The widget ---- */

typedef struct _Job Job;

struct _BtLeaderboard
{
  GtkWidget parent_instance;

  GtkDropDown   *strategy;
  GtkSpinButton *trials, *minutes, *epochs, *lr_min, *lr_max, *dropout_max, *wd_max, *folds;
  GtkCheckButton *try_sgd, *try_adamw, *vary_augment, *vary_preset;
  GtkButton     *start_button, *resume_button, *stop_button, *use_button, *cv_button;
  GtkToggleButton *pause_button;
  GtkLabel      *status, *cv_label, *rounds_note;
  GtkProgressBar *progress;     /* reading the photos, then the tries; shown while a job runs */
  GtkColumnView *view;
  GtkBox        *chart_box;

  /* Owned */
  BtProject     *project;
  GListStore    *rows;          /* BtTrialRow, run order */
  GtkMultiSelection *selection; /* over the sorted rows: the trials compared */
  BtChart       *chart;
  /* the trial in progress, drawn live beside the finished ones */
  BtChartSeries *live_steps, *live_val;
  int            live_index;
  BtTuneSearch  *search;        /* the search shown, when no job holds it */
  Job           *job;           /* running search or k-fold, NULL when idle */
  GCancellable  *load_cancel;
};

G_DEFINE_FINAL_TYPE (BtLeaderboard, bt_leaderboard, GTK_TYPE_WIDGET)

enum { SIGNAL_TRIAL_ADDED, SIGNAL_SEARCH_FINISHED, SIGNAL_LOADED, SIGNAL_TRIALS_SELECTED, SIGNAL_TRIAL_PROGRESS,
       N_SIGNALS };
static guint signals[N_SIGNALS];

struct _Job {
  gatomicrefcount ref;
  GWeakRef        self;
  BtTuneSearch   *search;       /* NULL for k-fold */
  BtTuneData     *data;
  BtTuneTrial    *setting;      /* k-fold */
  int             k;
  GCancellable   *cancel;
  GMainContext   *context;
  /* live progress handed from the search thread to this one, under lock */
  GMutex          lock;
  GArray         *steps;        /* BtStepSample since the last delivery */
  GArray         *epochs;       /* BtEpochInfo since the last delivery */
  BtStepInfo      info;
  gboolean        have_info, progress_pending;
  int             progress_index;
  guint           prep_done, prep_total;  /* the images read before the first try */
  gboolean        have_prep, prepared;
  /* main thread only */
  gboolean        preparing;    /* no try has reported yet */
  char           *prep_text;    /* the last preparation words shown */
  int             n_planned;    /* tries the search's plan holds, 0: only minutes bound it */
};

static Job *
job_ref (Job *j)
{
  g_atomic_ref_count_inc (&j->ref);
  return j;
}

static void
job_unref (Job *j)
{
  if (!g_atomic_ref_count_dec (&j->ref))
    return;
  g_weak_ref_clear (&j->self);
  g_clear_pointer (&j->search, bt_tune_search_free);
  g_clear_pointer (&j->data, bt_tune_data_free);
  g_clear_pointer (&j->setting, bt_tune_trial_free);
  g_clear_object (&j->cancel);
  g_main_context_unref (j->context);
  g_mutex_clear (&j->lock);
  g_array_unref (j->steps);
  g_array_unref (j->epochs);
  g_free (j->prep_text);
  g_free (j);
}

/* The selected rows in view order (borrowed BtTrialRow*). */
static GPtrArray *
selected_rows (BtLeaderboard *self)
{
  GPtrArray *rows = g_ptr_array_new_with_free_func (g_object_unref);
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->selection));

  for (guint i = 0; i < n; i++)
    if (gtk_selection_model_is_selected (GTK_SELECTION_MODEL (self->selection), i))
      g_ptr_array_add (rows, g_list_model_get_item (G_LIST_MODEL (self->selection), i));
  return rows;
}

/* The row "Use these settings" and cross-validation act on: the only one selected. */
static BtTrialRow *
single_selected (BtLeaderboard *self)
{
  g_autoptr (GPtrArray) rows = selected_rows (self);
  return rows->len == 1 ? rows->pdata[0] : NULL;   /* the list store keeps it alive */
}

static gboolean
project_is_transfer (BtLeaderboard *self)
{
  return self->project != NULL && g_strcmp0 (bt_project_get_settings (self->project)->preset, "transfer") == 0;
}

static void
update_sensitivity (BtLeaderboard *self)
{
  gboolean busy = self->job != NULL;
  gboolean have_row = single_selected (self) != NULL;
  /* a transfer project's tries vary its head only: the photos' embeddings are made once */
  gtk_widget_set_sensitive (GTK_WIDGET (self->vary_augment), !project_is_transfer (self));
  gtk_widget_set_sensitive (GTK_WIDGET (self->vary_preset), !project_is_transfer (self));
  gtk_widget_set_sensitive (GTK_WIDGET (self->start_button), !busy && self->project != NULL);
  gtk_widget_set_sensitive (GTK_WIDGET (self->resume_button), !busy && self->project != NULL && self->search != NULL &&
                            !bt_tune_search_is_finished (self->search));
  gtk_widget_set_sensitive (GTK_WIDGET (self->stop_button), busy);
  /* a search's bar goes on through its tries; a cross-validation's only while it reads the photos */
  gtk_widget_set_visible (GTK_WIDGET (self->progress), busy && (self->job->search != NULL || self->job->preparing));
  gtk_widget_set_sensitive (GTK_WIDGET (self->pause_button), busy && self->job->search != NULL);
  if (!busy)
    gtk_toggle_button_set_active (self->pause_button, FALSE);
  gtk_widget_set_sensitive (GTK_WIDGET (self->use_button), have_row && self->project != NULL);
  gtk_widget_set_sensitive (GTK_WIDGET (self->cv_button), have_row && !busy && self->project != NULL);
}

static void
clear_chart (BtLeaderboard *self)
{
  while (bt_chart_get_n_series (self->chart) > 0)
    bt_chart_remove_series (self->chart, bt_chart_get_series (self->chart, 0));
  /* the trial in progress stays drawn whatever is selected */
  if (self->live_steps != NULL)
    {
      bt_chart_add_series (self->chart, self->live_steps);
      bt_chart_add_series (self->chart, self->live_val);
    }
}

static void
drop_live (BtLeaderboard *self)
{
  if (self->live_steps == NULL)
    return;
  bt_chart_remove_series (self->chart, self->live_steps);
  bt_chart_remove_series (self->chart, self->live_val);
  g_clear_object (&self->live_steps);
  g_clear_object (&self->live_val);
  self->live_index = -1;
}

/* Per-step training accuracy (x in epochs: step / steps per epoch) and the validation accuracy
 * of each finished epoch, for the trial with this index. */
static void
ensure_live (BtLeaderboard *self, int index)
{
  if (self->live_steps != NULL && self->live_index == index)
    return;
  drop_live (self);
  g_autofree char *steps_title = g_strdup_printf (_("Try %d (running) · training, per step"), index + 1);
  g_autofree char *val_title = g_strdup_printf (_("Try %d (running) · validation"), index + 1);
  self->live_steps = bt_chart_series_new (steps_title, BT_CHART_ROLE_STEP);
  bt_chart_series_set_smoothing (self->live_steps, 0.9);
  self->live_val = bt_chart_series_new (val_title, BT_CHART_ROLE_VALIDATION);
  self->live_index = index;
  bt_chart_add_series (self->chart, self->live_steps);
  bt_chart_add_series (self->chart, self->live_val);
}

/* One validation-accuracy curve per trial (or fold), each in its own colour. */
static void
chart_curve (BtLeaderboard *self, const char *title, GArray *values, int color)
{
  g_autoptr (BtChartSeries) s = bt_chart_series_new (title, BT_CHART_ROLE_OVERLAY);
  bt_chart_series_set_color_index (s, color);
  for (guint e = 0; e < values->len; e++)
    bt_chart_series_append (s, e + 1, g_array_index (values, double, e));
  bt_chart_add_series (self->chart, s);
}

static void
show_curves (BtLeaderboard *self)
{
  /* the selected trials, or else the three best (the view sorts by accuracy first) */
  g_autoptr (GPtrArray) rows = selected_rows (self);
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->selection));
  for (guint i = 0; rows->len == 0 && i < MIN (n, 3); i++)
    g_ptr_array_add (rows, g_list_model_get_item (G_LIST_MODEL (self->selection), i));
  clear_chart (self);
  for (guint i = 0; i < rows->len; i++)
    {
      const BtTuneTrial *t = ((BtTrialRow *) rows->pdata[i])->trial;
      g_autofree char *title = g_strdup_printf (_("Try %d"), t->index + 1);
      chart_curve (self, title, t->curve_acc, (int) i);
    }
}

static void
add_row (BtLeaderboard *self, const BtTuneTrial *t)
{
  g_autoptr (BtTrialRow) row = trial_row_new (t);
  g_list_store_append (self->rows, row);
  show_curves (self);
  update_sensitivity (self);
}

static void
set_rows_from_search (BtLeaderboard *self, BtTuneSearch *s)
{
  g_list_store_remove_all (self->rows);
  GPtrArray *trials = bt_tune_search_get_trials (s);
  for (guint i = 0; i < trials->len; i++)
    add_row (self, g_ptr_array_index (trials, i));
}

/* ---- Search job ---- */

/* The bar through the tries: those finished, plus how far the one running is (0…1). */
static void
show_tries_progress (BtLeaderboard *self, double within)
{
  guint done = g_list_model_get_n_items (G_LIST_MODEL (self->rows));
  int planned = self->job->n_planned;
  if (planned <= 0)
    gtk_progress_bar_pulse (self->progress);   /* only minutes bound it: how many is not known */
  else
    gtk_progress_bar_set_fraction (self->progress, CLAMP ((done + within) / planned, 0.0, 1.0));
}

/* The first phase, in words and on the bar: the images read of those to read. */
static void
show_prepare (BtLeaderboard *self, guint done, guint total)
{
  Job *job = self->job;
  gtk_progress_bar_set_fraction (self->progress, total > 0 ? (double) done / total : 0.0);
  g_free (job->prep_text);
  job->prep_text = bt_tune_data_describe_prepare (job->data, done, total);
  if (job->search == NULL)
    gtk_label_set_text (self->cv_label, job->prep_text);
  else if (!gtk_toggle_button_get_active (self->pause_button))   /* "Paused" stays until Pause is released */
    gtk_label_set_text (self->status, job->prep_text);
}

/* The newest count of images read the job's thread reported, shown while no try has reported. */
static void
take_prepare (BtLeaderboard *self, Job *job)
{
  g_mutex_lock (&job->lock);
  guint done = job->prep_done, total = job->prep_total;
  gboolean have = job->have_prep;
  job->have_prep = FALSE;
  g_mutex_unlock (&job->lock);
  if (have && job->preparing)
    show_prepare (self, done, total);
}

typedef struct { Job *job; BtTuneTrial *trial; } Delivery;

static gboolean
deliver_trial (gpointer data)
{
  Delivery *d = data;
  g_autoptr (BtLeaderboard) self = g_weak_ref_get (&d->job->self);
  if (self != NULL && self->job == d->job)
    {
      if (self->live_index == d->trial->index)
        drop_live (self);
      take_prepare (self, self->job);   /* its last count, which a quick try overtook */
      self->job->preparing = FALSE;
      add_row (self, d->trial);
      show_tries_progress (self, 0.0);
      g_autofree char *desc = bt_tune_trial_describe (d->trial);
      g_autofree char *msg = g_strdup_printf (_("Try %d finished: %.1f %% validation accuracy (%s)."),
                                              d->trial->index + 1, 100.0 * d->trial->val_acc, desc);
      gtk_label_set_text (self->status, msg);
      g_signal_emit (self, signals[SIGNAL_TRIAL_ADDED], 0, d->trial->index);
    }
  return G_SOURCE_REMOVE;
}

static void
delivery_free (gpointer data)
{
  Delivery *d = data;
  job_unref (d->job);
  bt_tune_trial_free (d->trial);
  g_free (d);
}

static void
on_worker_trial (const BtTuneTrial *t, gpointer user_data)
{
  Job *job = user_data;
  Delivery *d = g_new0 (Delivery, 1);
  d->job = job_ref (job);
  d->trial = bt_tune_trial_copy (t);
  /* not g_main_context_invoke: the worker must never run it itself */
  GSource *src = g_idle_source_new ();
  g_source_set_priority (src, G_PRIORITY_DEFAULT);
  g_source_set_callback (src, deliver_trial, d, delivery_free);
  g_source_attach (src, job->context);
  g_source_unref (src);
}

/* On this thread: what the search thread queued since the last delivery. */
static gboolean
deliver_progress (gpointer data)
{
  Job *job = data;
  g_autoptr (BtLeaderboard) self = g_weak_ref_get (&job->self);
  g_mutex_lock (&job->lock);
  g_autoptr (GArray) steps = job->steps;
  g_autoptr (GArray) epochs = job->epochs;
  job->steps = g_array_new (FALSE, FALSE, sizeof (BtStepSample));
  job->epochs = g_array_new (FALSE, FALSE, sizeof (BtEpochInfo));
  BtStepInfo info = job->info;
  gboolean have_info = job->have_info;
  int index = job->progress_index;
  gboolean prepared = job->prepared;
  job->have_info = job->progress_pending = FALSE;
  g_mutex_unlock (&job->lock);
  if (self == NULL || self->job != job)
    return G_SOURCE_REMOVE;
  take_prepare (self, job);
  if (prepared && job->preparing && job->search == NULL)
    {
      job->preparing = FALSE;
      gtk_label_set_text (self->cv_label, _("Cross-validating…"));
      update_sensitivity (self);
    }
  if (index < 0)   /* no try has reported yet */
    return G_SOURCE_REMOVE;
  job->preparing = FALSE;
  /* a trial whose row already arrived is over */
  for (guint i = 0; i < g_list_model_get_n_items (G_LIST_MODEL (self->rows)); i++)
    {
      g_autoptr (BtTrialRow) row = g_list_model_get_item (G_LIST_MODEL (self->rows), i);
      if (row->trial->index == index)
        return G_SOURCE_REMOVE;
    }
  ensure_live (self, index);
  if (steps->len > 0)
    {
      int per_epoch = have_info && info.steps_per_epoch > 0 ? info.steps_per_epoch : 0;
      g_autofree double *xs = g_new (double, steps->len);
      g_autofree double *ys = g_new (double, steps->len);
      guint n = 0;
      for (guint i = 0; i < steps->len && per_epoch > 0; i++)
        {
          const BtStepSample *st = &g_array_index (steps, BtStepSample, i);
          /* x in epochs, so the live curve shares the finished trials' axis */
          double within = (double) (st->global_step - (gint64) (st->epoch - 1) * per_epoch) / per_epoch;
          xs[n] = st->epoch - 1 + CLAMP (within, 0.0, 1.0);
          ys[n++] = st->acc;
        }
      if (n > 0)
        bt_chart_series_append_many (self->live_steps, xs, ys, n);
    }
  for (guint i = 0; i < epochs->len; i++)
    {
      const BtEpochInfo *e = &g_array_index (epochs, BtEpochInfo, i);
      bt_chart_series_append (self->live_val, e->epoch, e->val_acc);
    }
  if (have_info)
    {
      int planned = job->n_planned;
      g_autofree char *msg = planned > 0
        /* Translators: the try running, of those the search will run; its epoch and step */
        ? g_strdup_printf (_("Try %d of %d: epoch %d of %d, step %d of %d…"), index + 1, MAX (planned, index + 1),
                           info.epoch, info.epochs, info.step, info.steps_per_epoch)
        : g_strdup_printf (_("Try %d: epoch %d of %d, step %d of %d…"), index + 1, info.epoch, info.epochs, info.step,
                           info.steps_per_epoch);
      gtk_label_set_text (self->status, msg);
      double in_epoch = info.steps_per_epoch > 0 ? (double) info.step / info.steps_per_epoch : 0.0;
      show_tries_progress (self, info.epochs > 0 ? (info.epoch - 1 + in_epoch) / info.epochs : 0.0);
    }
  g_signal_emit (self, signals[SIGNAL_TRIAL_PROGRESS], 0, index);
  return G_SOURCE_REMOVE;
}

/* Called with job->lock held, which it releases: wakes the job's thread once per batch of
 * reports, at most ten times a second. */
static void
unlock_and_deliver (Job *job)
{
  gboolean schedule = !job->progress_pending;
  job->progress_pending = TRUE;
  g_mutex_unlock (&job->lock);
  if (schedule)
    {
      GSource *src = g_timeout_source_new (100);
      g_source_set_priority (src, G_PRIORITY_DEFAULT);
      g_source_set_callback (src, deliver_progress, job_ref (job), (GDestroyNotify) job_unref);
      g_source_attach (src, job->context);
      g_source_unref (src);
    }
}

/* On the search thread: queue it, and wake this thread once per batch of reports. */
static void
on_worker_progress (int index, const BtStepInfo *info, const BtStepSample *steps, guint n_steps,
                    const BtEpochInfo *epoch, gpointer user_data)
{
  Job *job = user_data;
  g_mutex_lock (&job->lock);
  if (job->progress_index != index)
    {
      g_array_set_size (job->steps, 0);
      g_array_set_size (job->epochs, 0);
      job->have_info = FALSE;
      job->progress_index = index;
    }
  if (n_steps > 0)
    g_array_append_vals (job->steps, steps, n_steps);
  if (epoch != NULL)
    g_array_append_vals (job->epochs, epoch, 1);
  if (info != NULL)
    {
      job->info = *info;
      job->have_info = TRUE;
    }
  unlock_and_deliver (job);
}

/* On a reading thread: how many images the preparation has read. */
static void
on_worker_prepare (guint done, guint total, gpointer user_data)
{
  Job *job = user_data;
  g_mutex_lock (&job->lock);
  job->prep_done = done;
  job->prep_total = total;
  job->have_prep = TRUE;
  unlock_and_deliver (job);
}

/* On the reading threads, before each image: Pause holds the preparation too. */
static gboolean
prepare_gate (gpointer data)
{
  Job *job = data;
  while (bt_tune_search_get_paused (job->search) && !g_cancellable_is_cancelled (job->cancel))
    g_usleep (50000);
  return !g_cancellable_is_cancelled (job->cancel);
}

/* On the job's thread: the photos read (or embedded) once, saying how far it is. */
static gboolean
job_prepare (Job *job, GError **error)
{
  g_autoptr (GError) local = NULL;
  if (!bt_tune_data_prepare_full (job->data, on_worker_prepare, job, job->search != NULL ? prepare_gate : NULL, job,
                                  job->cancel, &local))
    {
      if (job->search != NULL && g_error_matches (local, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_set_error_literal (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_CANCELLED, _("The search was stopped."));
      else
        g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }
  g_mutex_lock (&job->lock);
  job->prepared = TRUE;
  unlock_and_deliver (job);
  return TRUE;
}

static void
search_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  Job *job = task_data;
  GError *error = NULL;
  if (!job_prepare (job, &error) || !bt_tune_search_run (job->search, job->data, on_worker_trial, job, job->cancel, &error))
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

static void
search_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Job *job = user_data;
  g_autoptr (GError) error = NULL;
  g_task_propagate_boolean (G_TASK (result), &error);
  g_autoptr (BtLeaderboard) self = g_weak_ref_get (&job->self);
  if (self != NULL && self->job == job)
    {
      /* trials still queued as idles were attached before this callback: they ran already */
      self->job = NULL;
      drop_live (self);
      g_clear_pointer (&self->search, bt_tune_search_free);
      self->search = g_steal_pointer (&job->search);
      if (self->search != NULL)
        bt_tune_search_set_progress (self->search, NULL, NULL);   /* it pointed at this job */
      if (error == NULL)
        gtk_label_set_text (self->status, _("The search is done. Pick a row and use its settings."));
      else if (g_error_matches (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_CANCELLED))
        gtk_label_set_text (self->status, _("The search was stopped. Resume continues where it stopped."));
      else
        {
          g_autofree char *msg = g_strdup_printf (_("The search failed: %s"), error->message);
          gtk_label_set_text (self->status, msg);
        }
      update_sensitivity (self);
      g_signal_emit (self, signals[SIGNAL_SEARCH_FINISHED], 0, error);
    }
  job_unref (job);
}

static Job *
job_new (BtLeaderboard *self)
{
  Job *job = g_new0 (Job, 1);
  g_atomic_ref_count_init (&job->ref);
  g_weak_ref_init (&job->self, self);
  job->cancel = g_cancellable_new ();
  job->context = g_main_context_ref_thread_default ();
  g_mutex_init (&job->lock);
  job->steps = g_array_new (FALSE, FALSE, sizeof (BtStepSample));
  job->epochs = g_array_new (FALSE, FALSE, sizeof (BtEpochInfo));
  job->progress_index = -1;
  return job;
}

static gboolean
run_search (BtLeaderboard *self, BtTuneSearch *search, GError **error)
{
  BtTuneData *data = bt_tune_data_new (self->project, error);
  if (data == NULL)
    {
      bt_tune_search_free (search);
      return FALSE;
    }
  Job *job = job_new (self);
  bt_tune_search_set_paused (search, FALSE);   /* a search stopped while paused resumes running */
  job->search = search;
  job->data = data;
  job->n_planned = bt_tune_search_get_n_planned (search);
  job->preparing = TRUE;
  gtk_progress_bar_set_fraction (self->progress, 0.0);
  bt_tune_search_set_progress (search, on_worker_progress, job);
  self->job = job;
  gtk_label_set_text (self->status, bt_tune_data_is_transfer (data)
                                    ? _("Searching… Each try trains only the head, on the photos’ embeddings computed "
                                        "once (fine-tuning stays off). Tries appear below as they finish.")
                                    : _("Searching… Tries appear below as they finish."));
  g_autoptr (GTask) task = g_task_new (NULL, NULL, search_done, job_ref (job));
  g_task_set_task_data (task, job, (GDestroyNotify) job_unref);
  g_task_run_in_thread (task, search_thread);
  update_sensitivity (self);
  return TRUE;
}

gboolean
bt_leaderboard_start (BtLeaderboard *self, const BtTuneOptions *opts, GError **error)
{
  g_return_val_if_fail (BT_IS_LEADERBOARD (self) && opts != NULL, FALSE);
  if (self->project == NULL || self->job != NULL)
    {
      g_set_error_literal (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID,
                           _("A search or cross-validation is already running."));
      return FALSE;
    }
  /* the folder is a mkdir and two small files: fine on this thread */
  BtTuneSearch *s = bt_tune_search_new (bt_project_get_dir (self->project), bt_project_get_settings (self->project),
                                        opts, error);
  if (s == NULL)
    return FALSE;
  g_clear_pointer (&self->search, bt_tune_search_free);
  g_list_store_remove_all (self->rows);
  gtk_label_set_text (self->cv_label, "");
  return run_search (self, s, error);
}

gboolean
bt_leaderboard_resume (BtLeaderboard *self, GError **error)
{
  g_return_val_if_fail (BT_IS_LEADERBOARD (self), FALSE);
  if (self->project == NULL || self->job != NULL || self->search == NULL || bt_tune_search_is_finished (self->search))
    {
      g_set_error_literal (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID, _("There is no unfinished search to resume."));
      return FALSE;
    }
  return run_search (self, g_steal_pointer (&self->search), error);
}

void
bt_leaderboard_stop (BtLeaderboard *self)
{
  g_return_if_fail (BT_IS_LEADERBOARD (self));
  if (self->job != NULL)
    g_cancellable_cancel (self->job->cancel);
}

gboolean
bt_leaderboard_is_busy (BtLeaderboard *self)
{
  g_return_val_if_fail (BT_IS_LEADERBOARD (self), FALSE);
  return self->job != NULL || self->load_cancel != NULL;
}

guint
bt_leaderboard_get_n_trials (BtLeaderboard *self)
{
  g_return_val_if_fail (BT_IS_LEADERBOARD (self), 0);
  return g_list_model_get_n_items (G_LIST_MODEL (self->rows));
}

const BtTuneTrial *
bt_leaderboard_get_trial (BtLeaderboard *self, guint index)
{
  g_return_val_if_fail (BT_IS_LEADERBOARD (self), NULL);
  g_autoptr (BtTrialRow) r = g_list_model_get_item (G_LIST_MODEL (self->rows), index);
  return r ? r->trial : NULL;
}

const BtTuneTrial *
bt_leaderboard_get_shown_trial (BtLeaderboard *self, guint position)
{
  g_return_val_if_fail (BT_IS_LEADERBOARD (self), NULL);
  g_autoptr (BtTrialRow) r = g_list_model_get_item (G_LIST_MODEL (self->selection), position);
  return r ? r->trial : NULL;
}

void
bt_leaderboard_select (BtLeaderboard *self, guint index)
{
  bt_leaderboard_set_selected (self, index, TRUE, TRUE);
}

void
bt_leaderboard_set_selected (BtLeaderboard *self, guint index, gboolean selected, gboolean exclusive)
{
  g_return_if_fail (BT_IS_LEADERBOARD (self));
  GListModel *m = G_LIST_MODEL (self->selection);
  for (guint i = 0; i < g_list_model_get_n_items (m); i++)
    {
      g_autoptr (BtTrialRow) r = g_list_model_get_item (m, i);
      if ((guint) r->trial->index != index)
        continue;
      if (selected)
        gtk_selection_model_select_item (GTK_SELECTION_MODEL (self->selection), i, exclusive);
      else
        gtk_selection_model_unselect_item (GTK_SELECTION_MODEL (self->selection), i);
      return;
    }
}

GPtrArray *
bt_leaderboard_get_selected_trials (BtLeaderboard *self)
{
  g_return_val_if_fail (BT_IS_LEADERBOARD (self), NULL);
  g_autoptr (GPtrArray) rows = selected_rows (self);
  GPtrArray *trials = g_ptr_array_new ();
  for (guint i = 0; i < rows->len; i++)
    g_ptr_array_add (trials, ((BtTrialRow *) rows->pdata[i])->trial);
  return trials;
}

gboolean
bt_leaderboard_use_selected (BtLeaderboard *self, GError **error)
{
  g_return_val_if_fail (BT_IS_LEADERBOARD (self), FALSE);
  BtTrialRow *r = single_selected (self);
  if (r == NULL || self->project == NULL)
    {
      g_set_error_literal (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID, _("Select one try first."));
      return FALSE;
    }
  BtProjectSettings s;
  bt_project_settings_copy (&s, bt_project_get_settings (self->project));
  bt_tune_trial_apply (r->trial, &s);
  gboolean ok = bt_project_update_settings (self->project, &s, error);
  bt_project_settings_clear (&s);
  if (ok)
    {
      g_autofree char *msg = g_strdup_printf (_("The project now uses the settings of try %d."), r->trial->index + 1);
      gtk_label_set_text (self->status, msg);
    }
  return ok;
}

/* ---- Cross-validation job ---- */

static void
kfold_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  Job *job = task_data;
  GError *error = NULL;
  BtKFoldResult *r = job_prepare (job, &error)
                     ? bt_kfold_run (job->data, job->setting, job->k, NULL, NULL, job->cancel, &error) : NULL;
  if (r == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, r, (GDestroyNotify) bt_kfold_result_free);
}

static void
kfold_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Job *job = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (BtKFoldResult) r = g_task_propagate_pointer (G_TASK (result), &error);
  g_autoptr (BtLeaderboard) self = g_weak_ref_get (&job->self);
  if (self != NULL && self->job == job)
    {
      self->job = NULL;
      if (r != NULL)
        {
          /* Translators: k-fold result: k, mean ± standard deviation, lowest and highest fold */
          g_autofree char *msg = g_strdup_printf (_("%d-fold validation accuracy: %.1f %% ± %.1f %% (folds from %.1f %% to %.1f %%). "
                                                    "The wider the spread, the less one number can be trusted."),
                                                  r->k, 100 * r->mean_acc, 100 * r->std_acc, 100 * r->min_acc, 100 * r->max_acc);
          gtk_label_set_text (self->cv_label, msg);
          clear_chart (self);
          for (guint f = 0; f < r->fold_trials->len; f++)
            {
              BtTuneTrial *t = g_ptr_array_index (r->fold_trials, f);
              g_autofree char *title = g_strdup_printf (_("Fold %u"), f + 1);
              chart_curve (self, title, t->curve_acc, (int) f);
            }
        }
      else
        {
          g_autofree char *msg = g_strdup_printf (_("Cross-validation failed: %s"), error->message);
          gtk_label_set_text (self->cv_label, msg);
        }
      update_sensitivity (self);
    }
  job_unref (job);
}

static void
on_cv_clicked (BtLeaderboard *self)
{
  BtTrialRow *r = single_selected (self);
  if (r == NULL || self->job != NULL || self->project == NULL)
    return;
  g_autoptr (GError) error = NULL;
  BtTuneData *data = bt_tune_data_new (self->project, &error);
  if (data == NULL)
    {
      gtk_label_set_text (self->cv_label, error->message);
      return;
    }
  Job *job = job_new (self);
  job->data = data;
  job->setting = bt_tune_trial_copy (r->trial);
  job->k = gtk_spin_button_get_value_as_int (self->folds);
  job->preparing = TRUE;
  self->job = job;
  gtk_label_set_text (self->cv_label, _("Cross-validating…"));
  g_autoptr (GTask) task = g_task_new (NULL, NULL, kfold_done, job_ref (job));
  g_task_set_task_data (task, job, (GDestroyNotify) job_unref);
  g_task_run_in_thread (task, kfold_thread);
  update_sensitivity (self);
}

/* ---- Loading the latest search of a project (worker: it walks runs/) ---- */

static void
load_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  g_autofree char *dir = bt_tune_find_latest (task_data);
  BtTuneSearch *s = dir ? bt_tune_search_open (dir, NULL) : NULL;
  g_task_return_pointer (task, s, (GDestroyNotify) bt_tune_search_free);
}

static void
load_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GWeakRef *wr = user_data;
  g_autoptr (BtLeaderboard) self = g_weak_ref_get (wr);
  g_weak_ref_clear (wr);
  g_free (wr);
  BtTuneSearch *s = g_task_propagate_pointer (G_TASK (result), NULL);
  GCancellable *c = g_task_get_cancellable (G_TASK (result));
  if (self == NULL || g_cancellable_is_cancelled (c) || self->load_cancel != c)
    {
      bt_tune_search_free (s);
      return;
    }
  g_clear_object (&self->load_cancel);
  if (s != NULL && self->job == NULL)
    {
      g_clear_pointer (&self->search, bt_tune_search_free);
      self->search = s;
      set_rows_from_search (self, s);
      if (!bt_tune_search_is_finished (s))
        gtk_label_set_text (self->status, _("The last search was stopped before its end. Resume continues it."));
    }
  else
    bt_tune_search_free (s);
  update_sensitivity (self);
  g_signal_emit (self, signals[SIGNAL_LOADED], 0);
}

void
bt_leaderboard_set_project (BtLeaderboard *self, BtProject *project)
{
  g_return_if_fail (BT_IS_LEADERBOARD (self));
  g_return_if_fail (project == NULL || BT_IS_PROJECT (project));
  bt_leaderboard_stop (self);
  self->job = NULL;   /* a running job finds itself orphaned and drops its results */
  if (self->load_cancel)
    g_cancellable_cancel (self->load_cancel);
  g_clear_object (&self->load_cancel);
  g_clear_pointer (&self->search, bt_tune_search_free);
  g_list_store_remove_all (self->rows);
  g_set_object (&self->project, project);
  if (project != NULL)
    {
      /* the controls start at the search's defaults for this project (a transfer head's differ) */
      BtTuneOptions o;
      bt_tune_options_init (&o, bt_project_get_settings (project));
      gtk_spin_button_set_value (self->epochs, o.epochs);
      gtk_spin_button_set_value (self->wd_max, o.space.weight_decay_max);
      gtk_check_button_set_active (self->try_sgd, g_strv_contains ((const char * const *) o.space.optimizers, "sgd"));
      gtk_check_button_set_active (self->try_adamw, g_strv_contains ((const char * const *) o.space.optimizers, "adamw"));
      gtk_check_button_set_active (self->vary_augment, o.space.vary_augment);
      bt_tune_options_clear (&o);
      self->load_cancel = g_cancellable_new ();
      GWeakRef *wr = g_new0 (GWeakRef, 1);
      g_weak_ref_init (wr, self);
      g_autoptr (GTask) task = g_task_new (NULL, self->load_cancel, load_done, wr);
      g_task_set_task_data (task, g_strdup (bt_project_get_dir (project)), g_free);
      g_task_run_in_thread (task, load_thread);
    }
  update_sensitivity (self);
}

/* ---- Controls ---- */

static void
options_from_controls (BtLeaderboard *self, BtTuneOptions *o)
{
  const BtProjectSettings *base = bt_project_get_settings (self->project);
  bt_tune_options_init (o, base);
  guint st = gtk_drop_down_get_selected (self->strategy);
  o->strategy = st == 0 ? BT_TUNE_GRID : st == 1 ? BT_TUNE_RANDOM : BT_TUNE_ADAPTIVE;
  o->max_trials = gtk_spin_button_get_value_as_int (self->trials);
  o->max_minutes = gtk_spin_button_get_value (self->minutes);
  o->epochs = gtk_spin_button_get_value_as_int (self->epochs);
  o->space.lr_min = MIN (gtk_spin_button_get_value (self->lr_min), gtk_spin_button_get_value (self->lr_max));
  o->space.lr_max = MAX (gtk_spin_button_get_value (self->lr_min), gtk_spin_button_get_value (self->lr_max));
  o->space.dropout_max = gtk_spin_button_get_value (self->dropout_max);
  o->space.weight_decay_max = gtk_spin_button_get_value (self->wd_max);
  o->space.vary_augment = gtk_check_button_get_active (self->vary_augment) && !project_is_transfer (self);
  g_autoptr (GStrvBuilder) ob = g_strv_builder_new ();
  g_strv_builder_add (ob, "adam");
  if (gtk_check_button_get_active (self->try_sgd))
    g_strv_builder_add (ob, "sgd");
  if (gtk_check_button_get_active (self->try_adamw))
    g_strv_builder_add (ob, "adamw");
  g_strfreev (o->space.optimizers);
  o->space.optimizers = g_strv_builder_end (ob);
  if (gtk_check_button_get_active (self->vary_preset) && !project_is_transfer (self))
    {
      const char *p[] = { "small-cnn", "deeper-cnn", "mini-resnet", NULL };
      g_strfreev (o->space.presets);
      o->space.presets = g_strdupv ((char **) p);
    }
}

static void
on_start_clicked (BtLeaderboard *self)
{
  if (self->project == NULL)
    return;
  BtTuneOptions o;
  options_from_controls (self, &o);
  g_autoptr (GError) error = NULL;
  if (!bt_leaderboard_start (self, &o, &error))
    gtk_label_set_text (self->status, error->message);
  bt_tune_options_clear (&o);
}

static void
on_resume_clicked (BtLeaderboard *self)
{
  g_autoptr (GError) error = NULL;
  if (!bt_leaderboard_resume (self, &error))
    gtk_label_set_text (self->status, error->message);
}

static void
on_pause_toggled (BtLeaderboard *self)
{
  gboolean paused = gtk_toggle_button_get_active (self->pause_button);

  if (self->job == NULL || self->job->search == NULL)
    return;
  bt_tune_search_set_paused (self->job->search, paused);
  if (self->job->preparing)
    gtk_label_set_text (self->status, paused ? _("Paused: reading the photos waits until Pause is pressed again.")
                                      : self->job->prep_text != NULL ? self->job->prep_text
                                      : _("Searching… Tries appear below as they finish."));
  else
    gtk_label_set_text (self->status, paused ? _("Paused: the try in progress waits after its current batch.")
                                             : _("Searching… Tries appear below as they finish."));
}

void
bt_leaderboard_set_paused (BtLeaderboard *self, gboolean paused)
{
  g_return_if_fail (BT_IS_LEADERBOARD (self));
  gtk_toggle_button_set_active (self->pause_button, paused);
}

static void
on_use_clicked (BtLeaderboard *self)
{
  g_autoptr (GError) error = NULL;
  if (!bt_leaderboard_use_selected (self, &error))
    gtk_label_set_text (self->status, error->message);
}

static void
on_selection_changed (BtLeaderboard *self)
{
  show_curves (self);
  update_sensitivity (self);
  g_signal_emit (self, signals[SIGNAL_TRIALS_SELECTED], 0);
}

/* ---- Columns ---- */

typedef enum { COL_INDEX, COL_SETTINGS, COL_ROUND, COL_ACC, COL_LOSS, COL_EPOCHS, COL_TIME } Column;

static void
setup_cell (GtkSignalListItemFactory *f, GtkListItem *item, gpointer data)
{
  GtkWidget *label = gtk_label_new (NULL);
  gtk_label_set_xalign (GTK_LABEL (label), GPOINTER_TO_INT (data) == COL_SETTINGS ? 0.0f : 1.0f);
  gtk_list_item_set_child (item, label);
}

static void
bind_cell (GtkSignalListItemFactory *f, GtkListItem *item, gpointer data)
{
  BtTrialRow *r = gtk_list_item_get_item (item);
  const BtTuneTrial *t = r->trial;
  g_autofree char *text = NULL;
  switch ((Column) GPOINTER_TO_INT (data))
    {
    case COL_INDEX: text = g_strdup_printf ("%d", t->index + 1); break;
    case COL_SETTINGS: text = bt_tune_trial_describe (t); break;
    case COL_ACC:
      text = t->diverged ? g_strdup (_("diverged")) : g_strdup_printf ("%.1f %%", 100.0 * t->val_acc);
      break;
    case COL_LOSS: text = isfinite (t->val_loss) ? g_strdup_printf ("%.4f", t->val_loss) : g_strdup ("—"); break;
    case COL_EPOCHS:
      if (!t->diverged && t->curve_acc->len > 0 && t->curve_acc->len < (guint) t->epochs)
        /* Translators: epochs a trial trained before early stopping, of those planned */
        text = g_strdup_printf (_("%u of %d"), t->curve_acc->len, t->epochs);
      else
        text = g_strdup_printf ("%d", t->epochs);
      break;
    case COL_TIME: text = g_strdup_printf (_("%.1f s"), t->seconds); break;
    case COL_ROUND: text = g_strdup_printf ("%d", t->rung + 1); break;
    }
  gtk_label_set_text (GTK_LABEL (gtk_list_item_get_child (item)), text);
}

static int
compare_rows (gconstpointer a, gconstpointer b, gpointer data)
{
  const BtTuneTrial *x = ((BtTrialRow *) a)->trial, *y = ((BtTrialRow *) b)->trial;
  double u = 0, v = 0;
  switch ((Column) GPOINTER_TO_INT (data))
    {
    case COL_INDEX: case COL_SETTINGS: u = x->index; v = y->index; break;
    case COL_ACC: u = x->val_acc; v = y->val_acc; break;
    case COL_LOSS: u = isfinite (x->val_loss) ? x->val_loss : G_MAXDOUBLE; v = isfinite (y->val_loss) ? y->val_loss : G_MAXDOUBLE; break;
    case COL_EPOCHS: u = x->epochs; v = y->epochs; break;
    case COL_TIME: u = x->seconds; v = y->seconds; break;
    case COL_ROUND: u = x->rung; v = y->rung; break;
    }
  return u < v ? GTK_ORDERING_SMALLER : u > v ? GTK_ORDERING_LARGER : GTK_ORDERING_EQUAL;
}

static void
add_column (BtLeaderboard *self, const char *title, Column col, gboolean expand)
{
  GtkListItemFactory *f = gtk_signal_list_item_factory_new ();
  g_signal_connect (f, "setup", G_CALLBACK (setup_cell), GINT_TO_POINTER (col));
  g_signal_connect (f, "bind", G_CALLBACK (bind_cell), GINT_TO_POINTER (col));
  GtkColumnViewColumn *c = gtk_column_view_column_new (title, f);
  gtk_column_view_column_set_expand (c, expand);
  gtk_column_view_column_set_resizable (c, TRUE);
  GtkSorter *sorter = GTK_SORTER (gtk_custom_sorter_new (compare_rows, GINT_TO_POINTER (col), NULL));
  gtk_column_view_column_set_sorter (c, sorter);
  g_object_unref (sorter);
  gtk_column_view_append_column (self->view, c);
  if (col == COL_ACC)
    gtk_column_view_sort_by_column (self->view, c, GTK_SORT_DESCENDING);
  g_object_unref (c);
}

/* Adaptive searches train the same settings again in later rounds, with other scores: say so
 * where the table is, in plain words. */
static void
strategy_changed_cb (BtLeaderboard *self)
{
  gtk_widget_set_visible (GTK_WIDGET (self->rounds_note), gtk_drop_down_get_selected (self->strategy) == 2);
}

static void
bt_leaderboard_dispose (GObject *object)
{
  BtLeaderboard *self = BT_LEADERBOARD (object);
  GtkWidget *child;

  if (self->job != NULL)
    g_cancellable_cancel (self->job->cancel);
  self->job = NULL;
  if (self->load_cancel)
    g_cancellable_cancel (self->load_cancel);
  g_clear_object (&self->load_cancel);
  if (self->selection != NULL)
    g_signal_handlers_disconnect_by_data (self->selection, self);
  if (self->view != NULL)
    gtk_column_view_set_model (self->view, NULL);
  gtk_widget_dispose_template (GTK_WIDGET (self), BT_TYPE_LEADERBOARD);
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self))) != NULL)
    gtk_widget_unparent (child);
  g_clear_object (&self->selection);
  g_clear_object (&self->rows);
  g_clear_object (&self->live_steps);
  g_clear_object (&self->live_val);
  g_clear_object (&self->project);
  g_clear_pointer (&self->search, bt_tune_search_free);
  G_OBJECT_CLASS (bt_leaderboard_parent_class)->dispose (object);
}

static void
bt_leaderboard_class_init (BtLeaderboardClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = bt_leaderboard_dispose;
  signals[SIGNAL_TRIAL_ADDED] = g_signal_new ("trial-added", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                              NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_INT);
  signals[SIGNAL_SEARCH_FINISHED] = g_signal_new ("search-finished", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                                  NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_POINTER);
  signals[SIGNAL_TRIALS_SELECTED] = g_signal_new ("trials-selected", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                                  NULL, NULL, NULL, G_TYPE_NONE, 0);
  signals[SIGNAL_LOADED] = g_signal_new ("loaded", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                         NULL, NULL, NULL, G_TYPE_NONE, 0);
  signals[SIGNAL_TRIAL_PROGRESS] = g_signal_new ("trial-progress", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                                 NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_INT);

  gtk_widget_class_set_template_from_resource (widget_class, APP_ID_PATH "/ui/bt-leaderboard.ui");
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
#define CHILD(name) gtk_widget_class_bind_template_child (widget_class, BtLeaderboard, name)
  CHILD (strategy); CHILD (trials); CHILD (minutes); CHILD (epochs); CHILD (lr_min); CHILD (lr_max);
  CHILD (dropout_max); CHILD (wd_max); CHILD (folds); CHILD (try_sgd); CHILD (try_adamw);
  CHILD (vary_augment); CHILD (vary_preset); CHILD (start_button); CHILD (resume_button);
  CHILD (stop_button); CHILD (pause_button); CHILD (use_button); CHILD (cv_button); CHILD (status); CHILD (cv_label);
  CHILD (view); CHILD (chart_box); CHILD (rounds_note); CHILD (progress);
#undef CHILD
}

static void
bt_leaderboard_init (BtLeaderboard *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  self->live_index = -1;
  self->rows = g_list_store_new (BT_TYPE_TRIAL_ROW);
  add_column (self, _("#"), COL_INDEX, FALSE);
  add_column (self, _("Settings"), COL_SETTINGS, TRUE);
  /* TRANSLATORS: column of the search's table: in which round of an adaptive search a try ran */
  add_column (self, _("Round"), COL_ROUND, FALSE);
  add_column (self, _("Validation accuracy"), COL_ACC, FALSE);
  add_column (self, _("Validation loss"), COL_LOSS, FALSE);
  add_column (self, _("Epochs"), COL_EPOCHS, FALSE);
  add_column (self, _("Time"), COL_TIME, FALSE);
  GtkSorter *sorter = gtk_column_view_get_sorter (self->view);
  GtkSortListModel *sorted = gtk_sort_list_model_new (G_LIST_MODEL (g_object_ref (self->rows)),
                                                      sorter ? g_object_ref (sorter) : NULL);
  self->selection = gtk_multi_selection_new (G_LIST_MODEL (sorted));
  gtk_column_view_set_model (self->view, GTK_SELECTION_MODEL (self->selection));
  g_signal_connect_swapped (self->selection, "selection-changed", G_CALLBACK (on_selection_changed), self);
  g_signal_connect_swapped (self->selection, "items-changed", G_CALLBACK (on_selection_changed), self);

  BtChartAxis *x = bt_chart_axis_new (BT_CHART_AXIS_INTEGER), *y = bt_chart_axis_new (BT_CHART_AXIS_PERCENT);
  self->chart = BT_CHART (bt_chart_new (_("Validation accuracy per epoch"), x, y));
  g_object_unref (x);
  g_object_unref (y);
  bt_chart_set_x_title (self->chart, _("Epoch"));
  bt_chart_set_empty_text (self->chart, _("Curves of finished tries appear here."));
  gtk_widget_set_hexpand (GTK_WIDGET (self->chart), TRUE);
  gtk_widget_set_vexpand (GTK_WIDGET (self->chart), TRUE);
  gtk_box_append (self->chart_box, GTK_WIDGET (self->chart));

  g_signal_connect_swapped (self->start_button, "clicked", G_CALLBACK (on_start_clicked), self);
  g_signal_connect_swapped (self->resume_button, "clicked", G_CALLBACK (on_resume_clicked), self);
  g_signal_connect_swapped (self->stop_button, "clicked", G_CALLBACK (bt_leaderboard_stop), self);
  g_signal_connect_swapped (self->pause_button, "toggled", G_CALLBACK (on_pause_toggled), self);
  g_signal_connect_swapped (self->use_button, "clicked", G_CALLBACK (on_use_clicked), self);
  g_signal_connect_swapped (self->cv_button, "clicked", G_CALLBACK (on_cv_clicked), self);
  /* the terms explained where they are set */
  bt_glossary_set_tooltip (GTK_WIDGET (self->epochs), BT_TERM_EPOCH);
  bt_glossary_set_tooltip (GTK_WIDGET (self->lr_min), BT_TERM_LEARNING_RATE);
  bt_glossary_set_tooltip (GTK_WIDGET (self->lr_max), BT_TERM_LEARNING_RATE);
  bt_glossary_set_tooltip (GTK_WIDGET (self->dropout_max), BT_TERM_DROPOUT);
  bt_glossary_set_tooltip (GTK_WIDGET (self->wd_max), BT_TERM_WEIGHT_DECAY);
  bt_glossary_set_tooltip (GTK_WIDGET (self->vary_augment), BT_TERM_AUGMENTATION);
  bt_glossary_set_tooltip (GTK_WIDGET (self->status), BT_TERM_VALIDATION);
  g_signal_connect_swapped (self->strategy, "notify::selected", G_CALLBACK (strategy_changed_cb), self);
  strategy_changed_cb (self);
  update_sensitivity (self);
}

GtkWidget *
bt_leaderboard_new (void)
{
  return g_object_new (BT_TYPE_LEADERBOARD, NULL);
}

BtChart *
bt_leaderboard_get_chart (BtLeaderboard *self)
{
  g_return_val_if_fail (BT_IS_LEADERBOARD (self), NULL);
  return self->chart;
}

const char *
bt_leaderboard_get_status (BtLeaderboard *self)
{
  g_return_val_if_fail (BT_IS_LEADERBOARD (self), NULL);
  return gtk_label_get_text (self->status);
}

GtkWindow *
bt_leaderboard_present_window (GtkWindow *parent, BtProject *project)
{
  g_return_val_if_fail (BT_IS_PROJECT (project), NULL);
  GtkWindow *win = GTK_WINDOW (gtk_window_new ());
  gtk_window_set_title (win, _("Search for Better Settings"));
  bt_dialogs_close_on_escape (win);
  gtk_window_set_default_size (win, 1000, 720);
  if (parent != NULL)
    gtk_window_set_transient_for (win, parent);
  gtk_window_set_destroy_with_parent (win, TRUE);
  GtkWidget *lb = bt_leaderboard_new ();
  gtk_window_set_child (win, lb);
  bt_leaderboard_set_project (BT_LEADERBOARD (lb), project);
  gtk_window_present (win);
  return win;
}
