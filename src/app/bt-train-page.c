/* bt-train-page.c: the Train page — runs the trainer, draws live loss and accuracy charts,
 * explains overfitting and divergence, lists completed runs for comparison, exports. */
#include "config.h"

#include <glib/gi18n.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bt-train-page.h"
#include "bt-dialogs.h"
#include "bt-export-actions.h"
#include "bt-leaderboard.h"
#include "training/bt-run-files.h"
#include "training/bt-tune.h"
#include "training/bt-verdict.h"

/* A finished run or a search trial: its curves, drawn over the current run's in a colour of
 * their own for comparison, and what the runs list shows. */
typedef struct {
  char          *dir;            /* NULL for a trial */
  char          *title;          /* "2026-11-25 18:30 · Small CNN", "Trial 3" */
  double         best_val_acc;   /* at the best epoch (the monitored metric's); NaN when unknown */
  char          *verdict;        /* "diverged", "learned"…: a short word for the list, or NULL */
  int            best_epoch;     /* the chart marker's epoch, 0 when unknown */
  BtChartSeries *train_loss, *val_loss;
  BtChartSeries *train_acc, *val_acc;
  gboolean       shown;
} Run;

static Run *
run_new (const char *dir, const char *title)
{
  Run *run = g_new0 (Run, 1);
  g_autofree char *train = g_strdup_printf (_("%s · training"), title);
  g_autofree char *val = g_strdup_printf (_("%s · validation"), title);

  run->dir = g_strdup (dir);
  run->title = g_strdup (title);
  run->best_val_acc = NAN;
  run->train_loss = bt_chart_series_new (train, BT_CHART_ROLE_OVERLAY_TRAIN);
  run->val_loss = bt_chart_series_new (val, BT_CHART_ROLE_OVERLAY);
  run->train_acc = bt_chart_series_new (train, BT_CHART_ROLE_OVERLAY_TRAIN);
  run->val_acc = bt_chart_series_new (val, BT_CHART_ROLE_OVERLAY);
  return run;
}

static void
run_free (Run *run)
{
  if (run == NULL)
    return;   /* stolen into the page */
  g_free (run->dir);
  g_free (run->title);
  g_free (run->verdict);
  g_clear_object (&run->train_loss);
  g_clear_object (&run->val_loss);
  g_clear_object (&run->train_acc);
  g_clear_object (&run->val_acc);
  g_free (run);
}

struct _BtTrainPage
{
  GtkWidget parent_instance;
  gint64    prep_t0;      /* preparation: when the rate was first measured, and how far it was */
  int       prep_done0;

  /* Template widgets */
  GtkLabel       *status_label;
  GtkProgressBar *progress_bar;
  GtkLabel       *advice_label;
  GtkBox         *charts_box;
  GtkAdjustment  *smoothing_adjustment;
  GtkCheckButton *steps_check;
  GtkListBox     *runs_list;
  GtkWidget      *verdict_box;
  GtkLabel       *verdict_label;
  GtkButton      *verdict_button;
  GtkButton      *resume_run_button;

  /* Owned */
  BtProject      *project;
  BtTrainer      *trainer;
  GCancellable   *runs_cancellable;
  GPtrArray      *runs;            /* Run*, finished runs in the order listed (newest last) */
  GPtrArray      *trials;          /* Run*, the search trials selected in the leaderboard */
  GtkWidget      *leaderboard;     /* weak: the search window's panel while it is open */
  BtChartSeries  *step_loss, *train_loss, *val_loss;
  BtChartSeries  *step_acc, *train_acc, *val_acc;
  char           *run_title;
  double          best_val_acc;    /* at the best epoch: the chart marker's, the saved model's */
  BtVerdict       verdict;         /* of the last run, for its action button */
  char           *resume_dir;      /* a run a crash or kill interrupted, or NULL */
  int             steps_per_epoch;

  /* Borrowed (children) */
  BtChart        *loss_chart;
  BtChart        *acc_chart;
};

G_DEFINE_FINAL_TYPE (BtTrainPage, bt_train_page, GTK_TYPE_WIDGET)

enum { MODEL_SAVED, N_SIGNALS };
static guint signals[N_SIGNALS];

static void load_runs (BtTrainPage *self);

/* ---- Actions and state ---- */

static void
update_actions (BtTrainPage *self)
{
  BtTrainerState state = self->trainer ? bt_trainer_get_state (self->trainer) : BT_TRAINER_IDLE;
  gboolean busy = state == BT_TRAINER_PREPARING || state == BT_TRAINER_RUNNING ||
                  state == BT_TRAINER_PAUSED || state == BT_TRAINER_STOPPING;

  gtk_widget_action_set_enabled (GTK_WIDGET (self), "train.start", self->project != NULL && !busy);
  /* a run also pauses while it decodes the images or computes the embeddings */
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "train.pause",
                                 state == BT_TRAINER_RUNNING || state == BT_TRAINER_PREPARING);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "train.resume", state == BT_TRAINER_PAUSED);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "train.stop",
                                 state == BT_TRAINER_RUNNING || state == BT_TRAINER_PAUSED ||
                                 state == BT_TRAINER_PREPARING);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "train.export-csv",
                                 bt_chart_series_get_n_points (self->train_loss) > 0);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "train.export-chart",
                                 bt_chart_series_get_n_points (self->train_loss) > 0 ||
                                 bt_chart_series_get_n_points (self->step_loss) > 0);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "train.export-onnx",
                                 self->trainer != NULL && !busy &&
                                 bt_trainer_get_best_model_path (self->trainer) != NULL);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "train.export-tflite",
                                 self->trainer != NULL && !busy &&
                                 bt_trainer_get_best_model_path (self->trainer) != NULL);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "train.export-tflite-int8",
                                 self->trainer != NULL && !busy && self->project != NULL &&
                                 bt_trainer_get_best_model_path (self->trainer) != NULL);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "train.export-pytorch", self->project != NULL && !busy);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "train.apply-verdict",
                                 self->project != NULL && !busy && self->verdict.action != BT_VERDICT_ACTION_NONE);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "train.resume-run",
                                 self->project != NULL && !busy && self->resume_dir != NULL);
}

/* A short word for a verdict, for the runs list. */
static const char *
verdict_word (BtVerdictKind kind)
{
  switch (kind)
    {
    case BT_VERDICT_LEARNED: return _("learned");
    case BT_VERDICT_OVERFITTING: return _("overfitting");
    case BT_VERDICT_DIVERGED: return _("diverged");
    case BT_VERDICT_DID_NOT_LEARN: return _("did not learn");
    case BT_VERDICT_STOPPED_EARLY: return _("stopped early");
    case BT_VERDICT_STOPPED: return _("stopped");
    case BT_VERDICT_NONE:
    default: return NULL;
    }
}

/* The last run's verdict under the charts, with its action as a button. */
static void
show_verdict (BtTrainPage *self, const BtVerdict *v)
{
  g_autofree char *text = NULL;
  g_autofree char *action = NULL;

  bt_verdict_clear (&self->verdict);
  memset (&self->verdict, 0, sizeof self->verdict);
  if (v == NULL)
    {
      gtk_widget_set_visible (self->verdict_box, FALSE);
      update_actions (self);
      return;
    }
  bt_verdict_copy (&self->verdict, v);
  text = bt_verdict_describe (v);
  action = bt_verdict_action_label (v);
  gtk_label_set_text (self->verdict_label, text);
  gtk_button_set_label (self->verdict_button, action ? action : "");
  gtk_widget_set_visible (GTK_WIDGET (self->verdict_button), action != NULL);
  gtk_widget_set_visible (self->verdict_box, TRUE);
  update_actions (self);
}

static void
set_advice (BtTrainPage *self, const char *text)
{
  gtk_label_set_text (self->advice_label, text ? text : "");
  gtk_widget_set_visible (GTK_WIDGET (self->advice_label), text != NULL && *text);
}

static char *
format_duration (double s)
{
  if (!isfinite (s) || s < 0)
    return g_strdup (_("estimating…"));
  if (s < 60)
    return g_strdup_printf (_("%.0f s left"), s);
  if (s < 3600)
    return g_strdup_printf (_("%.0f min %02.0f s left"), floor (s / 60), fmod (s, 60));
  return g_strdup_printf (_("%.0f h %02.0f min left"), floor (s / 3600), fmod (floor (s / 60), 60));
}

static void
state_changed_cb (BtTrainPage *self)
{
  BtTrainerState state = bt_trainer_get_state (self->trainer);

  switch (state)
    {
    case BT_TRAINER_PREPARING:
      gtk_label_set_text (self->status_label, _("Preparing the images…"));
      gtk_progress_bar_pulse (self->progress_bar);
      break;
    case BT_TRAINER_RUNNING:
      gtk_label_set_text (self->status_label, _("Training…"));
      break;
    case BT_TRAINER_PAUSED:
      gtk_label_set_text (self->status_label, _("Paused."));
      gtk_progress_bar_set_text (self->progress_bar, _("Paused"));
      break;
    case BT_TRAINER_STOPPING:
      gtk_label_set_text (self->status_label, _("Stopping after this batch…"));
      break;
    case BT_TRAINER_IDLE:
    case BT_TRAINER_FINISHED:
    case BT_TRAINER_FAILED:
    default:
      break;
    }
  update_actions (self);
}

static void
step_cb (BtTrainPage *self, const BtStepInfo *info)
{
  g_autoptr(GArray) steps = NULL;
  g_autofree char *eta = NULL;
  g_autofree char *text = NULL;
  double done, total;

  if (bt_trainer_get_state (self->trainer) == BT_TRAINER_PREPARING || info->global_step == 0)
    {
      /* before the first batch, "step" reports the images decoded (or embedded) into the cache */
      gint64 now = g_get_monotonic_time ();
      double elapsed;
      if (self->prep_t0 == 0 || info->step < self->prep_done0)
        {
          self->prep_t0 = now;
          self->prep_done0 = MAX (info->step, 0);
        }
      elapsed = (now - self->prep_t0) / 1e6;
      eta = format_duration (info->step > self->prep_done0 && elapsed > 0.5
                             ? (info->steps_per_epoch - info->step) * elapsed / (info->step - self->prep_done0)
                             : NAN);
      /* Translators: e.g. "Preparing the images: 120 of 2000 · 1 min 10 s left" */
      text = g_strdup_printf (_("Preparing the images: %d of %d · %s"), info->step, info->steps_per_epoch, eta);
      gtk_progress_bar_set_fraction (self->progress_bar,
                                     info->steps_per_epoch > 0 ? CLAMP ((double) info->step / info->steps_per_epoch, 0, 1) : 0);
      gtk_progress_bar_set_text (self->progress_bar, text);
      return;
    }

  self->prep_t0 = 0;
  steps = bt_trainer_take_steps (self->trainer);
  eta = format_duration (info->eta_s);
  if (info->steps_per_epoch > 0)
    self->steps_per_epoch = info->steps_per_epoch;
  total = (double) MAX (info->epochs, 1) * MAX (info->steps_per_epoch, 1);
  done = (double) (info->epoch - 1) * MAX (info->steps_per_epoch, 1) + info->step;
  gtk_progress_bar_set_fraction (self->progress_bar, CLAMP (done / total, 0, 1));
  /* Translators: progress of training, e.g. "Epoch 2 of 10 · step 40 of 94 · 850 images/s · 1 min 20 s left" */
  text = g_strdup_printf (_("Epoch %d of %d · step %d of %d · %.0f images/s · %s"),
                          info->epoch, info->epochs, info->step, info->steps_per_epoch,
                          info->images_per_s, eta);
  gtk_progress_bar_set_text (self->progress_bar, text);

  if (steps != NULL && steps->len > 0 && self->steps_per_epoch > 0)
    {
      g_autofree double *xs = g_new (double, steps->len);
      g_autofree double *ls = g_new (double, steps->len);
      g_autofree double *as = g_new (double, steps->len);

      for (guint i = 0; i < steps->len; i++)
        {
          const BtStepSample *s = &g_array_index (steps, BtStepSample, i);
          /* in epochs, so that step and epoch curves share the x axis */
          xs[i] = (double) s->global_step / self->steps_per_epoch;
          ls[i] = s->loss;
          as[i] = s->acc;
        }
      bt_chart_series_append_many (self->step_loss, xs, ls, steps->len);
      bt_chart_series_append_many (self->step_acc, xs, as, steps->len);
    }
}

static void
epoch_cb (BtTrainPage *self, const BtEpochInfo *info)
{
  bt_chart_series_append (self->train_loss, info->epoch, info->train_loss);
  bt_chart_series_append (self->val_loss, info->epoch, info->val_loss);
  bt_chart_series_append (self->train_acc, info->epoch, info->train_acc);
  bt_chart_series_append (self->val_acc, info->epoch, info->val_acc);
  if (info->best_epoch > 0)
    {
      bt_chart_set_best_x (self->loss_chart, info->best_epoch);
      bt_chart_set_best_x (self->acc_chart, info->best_epoch);
    }
  /* one rule: the monitored metric's best epoch is the marker's, the text's and the model's */
  if (info->best_epoch == info->epoch)
    self->best_val_acc = info->val_acc;

  if (info->overfitting)
    {
      g_autofree char *text = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE,
          "Validation loss has risen for %d epoch while training loss keeps falling: the model is "
          "memorising. Try more data, augmentation, dropout or early stopping.",
          "Validation loss has risen for %d epochs while training loss keeps falling: the model is "
          "memorising. Try more data, augmentation, dropout or early stopping.",
          BT_TRAINER_OVERFIT_EPOCHS), BT_TRAINER_OVERFIT_EPOCHS);
      set_advice (self, text);
    }
  else
    set_advice (self, NULL);
  update_actions (self);
}

static void
message_cb (BtTrainPage *self, const char *message)
{
  if (message != NULL && *message)
    gtk_label_set_text (self->status_label, message);
}

static void
add_run_row (BtTrainPage *self, Run *run);

static void
copy_points (BtChartSeries *dest, BtChartSeries *src)
{
  for (guint i = 0; i < bt_chart_series_get_n_points (src); i++)
    {
      double x, y;
      bt_chart_series_get_point (src, i, &x, &y);
      bt_chart_series_append (dest, x, y);
    }
}

static void
finished_cb (BtTrainPage *self, const GError *error)
{
  const char *model_path = bt_trainer_get_best_model_path (self->trainer);
  const BtVerdict *verdict = bt_trainer_get_verdict (self->trainer);
  gboolean failed = verdict != NULL && bt_verdict_is_failure (verdict);
  g_autofree char *status = NULL;

  /* a resumed run's best epoch may precede the epochs this page saw */
  if (!isfinite (self->best_val_acc) && verdict != NULL && verdict->best_epoch > 0)
    self->best_val_acc = verdict->best_acc;

  gtk_progress_bar_set_fraction (self->progress_bar, error == NULL ? 1.0 : gtk_progress_bar_get_fraction (self->progress_bar));
  if (error == NULL && failed)
    {
      status = g_strdup (_("Finished, but the model did not train well: see why below."));
      gtk_progress_bar_set_text (self->progress_bar, _("Finished"));
    }
  else if (error == NULL)
    {
      if (isfinite (self->best_val_acc))
        status = g_strdup_printf (_("Finished. Best validation accuracy %.1f%%; the model is saved."),
                                  100 * self->best_val_acc);
      else
        status = g_strdup (_("Finished; the model is saved."));
      gtk_progress_bar_set_text (self->progress_bar, _("Finished"));
    }
  else if (g_error_matches (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_CANCELLED))
    {
      status = g_strdup (model_path ? _("Stopped. The best model so far is saved.") : _("Stopped."));
      gtk_progress_bar_set_text (self->progress_bar, _("Stopped"));
    }
  else if (g_error_matches (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_DIVERGED))
    {
      g_autofree char *advice = g_strdup_printf ("%s\n%s", error->message,
          _("The loss became “not a number”: training diverged, the steps were too big. Lower the "
            "learning rate (a tenth is a good start) on the Model page and train again."));
      set_advice (self, advice);
      status = g_strdup (_("Training diverged."));
      gtk_progress_bar_set_text (self->progress_bar, _("Diverged"));
    }
  else
    {
      status = g_strdup_printf (_("Training failed: %s"), error->message);
      gtk_progress_bar_set_text (self->progress_bar, _("Failed"));
    }
  gtk_label_set_text (self->status_label, status);
  show_verdict (self, verdict);

  if (bt_chart_series_get_n_points (self->train_loss) > 0)
    {
      Run *run = run_new (bt_trainer_get_run_dir (self->trainer), self->run_title);
      run->best_val_acc = self->best_val_acc;
      run->best_epoch = verdict != NULL ? verdict->best_epoch : 0;
      run->verdict = g_strdup (verdict != NULL ? verdict_word (verdict->kind) : NULL);
      copy_points (run->train_loss, self->train_loss);
      copy_points (run->val_loss, self->val_loss);
      copy_points (run->train_acc, self->train_acc);
      copy_points (run->val_acc, self->val_acc);
      g_ptr_array_add (self->runs, run);
      add_run_row (self, run);
    }

  update_actions (self);
  /* a failed run keeps its curves, but its model does not become the one the pages open */
  if (model_path != NULL && !failed &&
      (error == NULL || g_error_matches (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_CANCELLED)))
    g_signal_emit (self, signals[MODEL_SAVED], 0, model_path);
}

static void
clear_current (BtTrainPage *self)
{
  bt_chart_series_clear (self->step_loss);
  bt_chart_series_clear (self->train_loss);
  bt_chart_series_clear (self->val_loss);
  bt_chart_series_clear (self->step_acc);
  bt_chart_series_clear (self->train_acc);
  bt_chart_series_clear (self->val_acc);
  bt_chart_set_best_x (self->loss_chart, NAN);
  bt_chart_set_best_x (self->acc_chart, NAN);
  self->best_val_acc = NAN;
  self->steps_per_epoch = 0;
  set_advice (self, NULL);
  show_verdict (self, NULL);
}

static void
drop_trainer (BtTrainPage *self)
{
  if (self->trainer == NULL)
    return;
  g_signal_handlers_disconnect_by_data (self->trainer, self);
  bt_trainer_stop (self->trainer);
  g_clear_object (&self->trainer);
}

static void
export_onnx_action (GtkWidget *widget, const char *action_name, GVariant *param)
{
  BtTrainPage *self = BT_TRAIN_PAGE (widget);
  const char *path = self->trainer ? bt_trainer_get_best_model_path (self->trainer) : NULL;

  if (path != NULL && self->project != NULL && g_str_equal (action_name, "train.export-tflite-int8"))
    bt_export_actions_choose_tflite_int8 (widget, path, self->project);
  else if (path != NULL && g_str_equal (action_name, "train.export-tflite"))
    bt_export_actions_choose_tflite (widget, path);
  else if (path != NULL)
    bt_export_actions_choose_onnx (widget, path);
}

static void
export_pytorch_action (GtkWidget *widget, const char *action_name, GVariant *param)
{
  BtTrainPage *self = BT_TRAIN_PAGE (widget);

  if (self->project != NULL)
    bt_export_actions_choose_pytorch (widget, self->project);
}

/* Starts a new run, or resumes the interrupted one in resume_dir. */
static void
start_run (BtTrainPage *self, const char *resume_dir)
{
  const BtProjectSettings *settings;
  g_autoptr(GError) error = NULL;
  g_autoptr(GDateTime) now = g_date_time_new_now_local ();
  g_autofree char *date = g_date_time_format (now, "%Y-%m-%d %H:%M");
  BtPreset preset;

  if (self->project == NULL || bt_train_page_is_busy (self))
    return;

  drop_trainer (self);
  clear_current (self);
  /* a new run is the newest: the interrupted one is no longer offered */
  g_clear_pointer (&self->resume_dir, g_free);
  gtk_widget_set_visible (GTK_WIDGET (self->resume_run_button), FALSE);

  settings = bt_project_get_settings (self->project);
  g_free (self->run_title);
  if (settings->preset && bt_preset_from_id (settings->preset, &preset))
    self->run_title = g_strdup_printf ("%s · %s", date, _(bt_preset_title (preset)));
  else
    self->run_title = g_strdup (date);

  self->trainer = bt_trainer_new (self->project);
  g_signal_connect_object (self->trainer, "state-changed", G_CALLBACK (state_changed_cb), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->trainer, "step", G_CALLBACK (step_cb), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->trainer, "epoch", G_CALLBACK (epoch_cb), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->trainer, "message", G_CALLBACK (message_cb), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->trainer, "finished", G_CALLBACK (finished_cb), self, G_CONNECT_SWAPPED);

  gtk_progress_bar_set_fraction (self->progress_bar, 0);
  gtk_progress_bar_set_text (self->progress_bar, _("Starting…"));
  if (!bt_project_check_trainable (self->project, &error) || !bt_trainer_start (self->trainer, resume_dir, &error))
    {
      g_autofree char *msg = g_strdup_printf (_("Training could not start: %s"), error->message);
      gtk_label_set_text (self->status_label, msg);
      gtk_progress_bar_set_text (self->progress_bar, _("Not training"));
      g_clear_object (&self->trainer);
    }
  update_actions (self);
}

static void
start_action (GtkWidget *widget, const char *action_name, GVariant *param)
{
  start_run (BT_TRAIN_PAGE (widget), NULL);
}

static void
resume_run_action (GtkWidget *widget, const char *action_name, GVariant *param)
{
  BtTrainPage *self = BT_TRAIN_PAGE (widget);
  g_autofree char *dir = g_steal_pointer (&self->resume_dir);

  gtk_widget_set_visible (GTK_WIDGET (self->resume_run_button), FALSE);
  if (dir != NULL)
    start_run (self, dir);
  update_actions (self);
}

/* The verdict's suggestion: a setting changed in the project, or the Data page to add photos. */
static void
apply_verdict_action (GtkWidget *widget, const char *action_name, GVariant *param)
{
  BtTrainPage *self = BT_TRAIN_PAGE (widget);
  g_autoptr(GError) error = NULL;
  BtProjectSettings s;

  if (self->project == NULL || self->verdict.action == BT_VERDICT_ACTION_NONE)
    return;
  if (self->verdict.action == BT_VERDICT_ACTION_ADD_PHOTOS)
    {
      gtk_widget_activate_action (widget, "win.page", "s", "data");
      return;
    }
  bt_project_settings_copy (&s, bt_project_get_settings (self->project));
  if (bt_verdict_apply (&self->verdict, &s) && !bt_project_update_settings (self->project, &s, &error))
    bt_dialogs_show_error (GTK_WINDOW (gtk_widget_get_root (widget)), _("The setting could not be changed"), error);
  else
    {
      g_autofree char *label = bt_verdict_action_label (&self->verdict);
      /* Translators: after pressing a verdict's button, e.g. "Done: Try learning rate 0.001. Train again to see." */
      g_autofree char *text = g_strdup_printf (_("Done: %s. Press Train to try it."), label);
      gtk_label_set_text (self->status_label, text);
      self->verdict.action = BT_VERDICT_ACTION_NONE;
      gtk_widget_set_visible (GTK_WIDGET (self->verdict_button), FALSE);
    }
  bt_project_settings_clear (&s);
  update_actions (self);
}

static void
pause_action (GtkWidget *widget, const char *action_name, GVariant *param)
{
  BtTrainPage *self = BT_TRAIN_PAGE (widget);

  if (self->trainer)
    bt_trainer_pause (self->trainer);
  update_actions (self);
}

static void
resume_action (GtkWidget *widget, const char *action_name, GVariant *param)
{
  BtTrainPage *self = BT_TRAIN_PAGE (widget);

  if (self->trainer)
    bt_trainer_resume (self->trainer);
  update_actions (self);
}

static void
stop_action (GtkWidget *widget, const char *action_name, GVariant *param)
{
  BtTrainPage *self = BT_TRAIN_PAGE (widget);

  if (self->trainer)
    bt_trainer_stop (self->trainer);
  update_actions (self);
}

/* ---- Export ---- */

typedef struct {
  BtTrainPage *self;
  GBytes      *bytes;
} ExportJob;

static void
replace_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;
  GtkWidget *widget = user_data;   /* a strong ref held for the write */

  if (!g_file_replace_contents_finish (G_FILE (source), result, NULL, &error))
    bt_dialogs_show_error (GTK_WINDOW (gtk_widget_get_root (widget)), _("The file could not be saved"), error);
  g_object_unref (widget);
}

static void
save_chosen_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  ExportJob *job = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GFile) file = bt_dialogs_save_file_finish (result, &error);

  if (file != NULL)
    /* GIO writes on its worker: the main thread never blocks on the disk */
    g_file_replace_contents_bytes_async (file, job->bytes, NULL, FALSE, G_FILE_CREATE_REPLACE_DESTINATION,
                                         NULL, replace_done_cb, g_object_ref (job->self));
  else if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    bt_dialogs_show_error (GTK_WINDOW (gtk_widget_get_root (GTK_WIDGET (job->self))),
                           _("The file could not be saved"), error);
  g_object_unref (job->self);
  g_bytes_unref (job->bytes);
  g_free (job);
}

static void
export_bytes (BtTrainPage *self, GBytes *bytes, const char *initial_name)
{
  ExportJob *job = g_new0 (ExportJob, 1);

  job->self = g_object_ref (self);
  job->bytes = bytes;
  bt_dialogs_save_file_async (GTK_WINDOW (gtk_widget_get_root (GTK_WIDGET (self))), _("Export"),
                              initial_name, NULL, save_chosen_cb, job);
}

static void
export_chart_action (GtkWidget *widget, const char *action_name, GVariant *param)
{
  BtTrainPage *self = BT_TRAIN_PAGE (widget);
  const char *which = g_variant_get_string (param, NULL);
  BtChart *chart = g_str_has_prefix (which, "loss") ? self->loss_chart : self->acc_chart;
  g_autoptr(GError) error = NULL;
  GBytes *bytes;

  if (g_str_has_suffix (which, ".svg"))
    bytes = bt_chart_render_svg (chart, 800, 450, &error);
  else
    bytes = bt_chart_render_png (chart, 800, 450, 2, &error);
  if (bytes == NULL)
    {
      bt_dialogs_show_error (GTK_WINDOW (gtk_widget_get_root (widget)), _("The chart could not be exported"), error);
      return;
    }
  export_bytes (self, bytes, which);
}

char *
bt_train_page_dup_metrics_csv (BtTrainPage *self)
{
  g_return_val_if_fail (BT_IS_TRAIN_PAGE (self), NULL);

  return bt_chart_series_to_csv ((BtChartSeries *[]) { self->train_loss, self->val_loss,
                                                        self->train_acc, self->val_acc }, 4, "epoch");
}

static void
export_csv_action (GtkWidget *widget, const char *action_name, GVariant *param)
{
  BtTrainPage *self = BT_TRAIN_PAGE (widget);
  char *csv = bt_train_page_dup_metrics_csv (self);

  export_bytes (self, g_bytes_new_take (csv, strlen (csv)), "metrics.csv");
}

/* ---- Completed runs ---- */

/* The lowest comparison colour no shown run or trial has. */
static int
free_color (BtTrainPage *self)
{
  gboolean used[BT_CHART_N_COMPARE_COLORS] = { FALSE };
  GPtrArray *lists[] = { self->runs, self->trials };

  for (guint l = 0; l < G_N_ELEMENTS (lists); l++)
    for (guint i = 0; i < lists[l]->len; i++)
      {
        Run *run = lists[l]->pdata[i];
        if (run->shown)
          used[bt_chart_series_get_color_index (run->val_loss) % BT_CHART_N_COMPARE_COLORS] = TRUE;
      }
  for (int c = 0; c < BT_CHART_N_COMPARE_COLORS; c++)
    if (!used[c])
      return c;
  return 0;
}

static void
show_run (BtTrainPage *self, Run *run, gboolean shown)
{
  BtChartSeries *series[] = { run->train_loss, run->val_loss, run->train_acc, run->val_acc };

  if (shown == run->shown)
    return;
  if (shown)
    {
      int color = free_color (self);
      for (guint i = 0; i < G_N_ELEMENTS (series); i++)
        bt_chart_series_set_color_index (series[i], color);
      bt_chart_add_series (self->loss_chart, run->train_loss);
      bt_chart_add_series (self->loss_chart, run->val_loss);
      bt_chart_add_series (self->acc_chart, run->train_acc);
      bt_chart_add_series (self->acc_chart, run->val_acc);
    }
  else
    {
      bt_chart_remove_series (self->loss_chart, run->train_loss);
      bt_chart_remove_series (self->loss_chart, run->val_loss);
      bt_chart_remove_series (self->acc_chart, run->train_acc);
      bt_chart_remove_series (self->acc_chart, run->val_acc);
    }
  run->shown = shown;
}

static void
overlay_toggled_cb (GtkCheckButton *check, BtTrainPage *self)
{
  Run *run = g_object_get_data (G_OBJECT (check), "bt-run");

  show_run (self, run, gtk_check_button_get_active (check));
}

static void
add_run_row (BtTrainPage *self, Run *run)
{
  GtkWidget *check = gtk_check_button_new ();
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 12);
  GtkWidget *title = gtk_label_new (run->title);
  GtkWidget *acc;
  g_autofree char *acc_text = NULL;

  if (isfinite (run->best_val_acc))
    acc_text = g_strdup_printf (_("best validation accuracy %.1f%%"), 100 * run->best_val_acc);
  else
    acc_text = g_strdup (_("no validation accuracy"));
  if (run->verdict != NULL)
    {
      /* Translators: a run in the list: "best validation accuracy 91.0% · learned" */
      char *with = g_strdup_printf (_("%s · %s"), acc_text, run->verdict);
      g_free (acc_text);
      acc_text = with;
    }
  acc = gtk_label_new (acc_text);
  gtk_widget_add_css_class (acc, "dim-label");
  gtk_widget_set_hexpand (title, TRUE);
  gtk_label_set_xalign (GTK_LABEL (title), 0);
  gtk_check_button_set_child (GTK_CHECK_BUTTON (check), title);
  gtk_widget_set_hexpand (check, TRUE);
  gtk_widget_set_tooltip_text (check, _("Draw this run’s training and validation curves for comparison"));
  g_object_set_data (G_OBJECT (check), "bt-run", run);
  g_object_set_data (G_OBJECT (box), "bt-check", check);
  g_signal_connect_object (check, "toggled", G_CALLBACK (overlay_toggled_cb), self, 0);
  gtk_box_append (GTK_BOX (box), check);
  gtk_box_append (GTK_BOX (box), acc);
  gtk_widget_set_margin_start (box, 6);
  gtk_widget_set_margin_end (box, 6);
  gtk_widget_set_margin_top (box, 4);
  gtk_widget_set_margin_bottom (box, 4);
  gtk_list_box_prepend (self->runs_list, box);
}

/* A run from its files (bt-run-files.c): curves, title, the best epoch's accuracy, verdict. */
static Run *
run_from_info (const BtRunInfo *info)
{
  g_autofree char *title = NULL;
  const BtEpochInfo *last = info->epochs->len > 0 ? &g_array_index (info->epochs, BtEpochInfo, info->epochs->len - 1) : NULL;
  BtPreset preset;
  Run *run;

  int y, mo, d, h, mi;
  g_autofree char *when = NULL;

  /* "20261207-005921" → "2026-12-07 00:59", as this session's runs are titled */
  if (sscanf (info->id, "%4d%2d%2d-%2d%2d", &y, &mo, &d, &h, &mi) == 5)
    when = g_strdup_printf ("%04d-%02d-%02d %02d:%02d", y, mo, d, h, mi);
  else
    when = g_strdup (info->id);
  if (info->preset && bt_preset_from_id (info->preset, &preset))
    title = g_strdup_printf ("%s · %s", when, _(bt_preset_title (preset)));
  else
    title = g_strdup (when);
  run = run_new (info->dir, title);
  for (guint i = 0; i < info->epochs->len; i++)
    {
      const BtEpochInfo *e = &g_array_index (info->epochs, BtEpochInfo, i);
      bt_chart_series_append (run->train_loss, e->epoch, e->train_loss);
      bt_chart_series_append (run->val_loss, e->epoch, e->val_loss);
      bt_chart_series_append (run->train_acc, e->epoch, e->train_acc);
      bt_chart_series_append (run->val_acc, e->epoch, e->val_acc);
      if (last != NULL && e->epoch == last->best_epoch)
        {
          run->best_val_acc = e->val_acc;
          run->best_epoch = e->epoch;
        }
    }
  if (info->has_verdict)
    {
      run->verdict = g_strdup (verdict_word (info->verdict.kind));
      /* metrics without the best epoch's column (older runs, a resumed run's tail): the verdict's */
      if (!isfinite (run->best_val_acc) && info->verdict.best_epoch > 0)
        {
          run->best_val_acc = info->verdict.best_acc;
          run->best_epoch = info->verdict.best_epoch;
        }
    }
  return run;
}

typedef struct {
  GPtrArray *runs;         /* Run* */
  char      *resume_dir;   /* an interrupted run */
  int        resume_epoch;
} LoadedRuns;

static void
loaded_runs_free (LoadedRuns *l)
{
  g_clear_pointer (&l->runs, g_ptr_array_unref);
  g_free (l->resume_dir);
  g_free (l);
}

static void
load_runs_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  const char *project_dir = task_data;
  g_autoptr(GPtrArray) infos = bt_run_files_list_runs (project_dir, cancellable);
  LoadedRuns *l = g_new0 (LoadedRuns, 1);

  /* oldest first: prepending rows puts the newest on top */
  l->runs = g_ptr_array_new_with_free_func ((GDestroyNotify) run_free);
  for (guint i = 0; i < infos->len; i++)
    g_ptr_array_add (l->runs, run_from_info (infos->pdata[i]));
  l->resume_dir = bt_run_files_find_interrupted (project_dir);
  l->resume_epoch = l->resume_dir != NULL ? bt_run_files_last_checkpoint (l->resume_dir) : 0;
  g_task_return_pointer (task, l, (GDestroyNotify) loaded_runs_free);
}

static void
load_runs_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  BtTrainPage *self = BT_TRAIN_PAGE (source);
  LoadedRuns *l = g_task_propagate_pointer (G_TASK (result), NULL);

  if (l == NULL)
    return;
  for (guint i = 0; i < l->runs->len; i++)
    {
      Run *run = g_steal_pointer (&l->runs->pdata[i]);
      g_ptr_array_add (self->runs, run);
      add_run_row (self, run);
    }
  /* a reopened project shows its latest run's curves, as they were when it finished */
  if (self->trainer == NULL && self->runs->len > 0 && bt_chart_series_get_n_points (self->train_loss) == 0)
    {
      Run *latest = self->runs->pdata[self->runs->len - 1];
      copy_points (self->train_loss, latest->train_loss);
      copy_points (self->val_loss, latest->val_loss);
      copy_points (self->train_acc, latest->train_acc);
      copy_points (self->val_acc, latest->val_acc);
      if (latest->best_epoch > 0)
        {
          bt_chart_set_best_x (self->loss_chart, latest->best_epoch);
          bt_chart_set_best_x (self->acc_chart, latest->best_epoch);
        }
    }
  g_free (self->resume_dir);
  self->resume_dir = g_steal_pointer (&l->resume_dir);
  if (self->resume_dir != NULL)
    {
      g_autofree char *label = g_strdup_printf (_("Resume from epoch %d"), l->resume_epoch);
      gtk_button_set_label (self->resume_run_button, label);
    }
  gtk_widget_set_visible (GTK_WIDGET (self->resume_run_button), self->resume_dir != NULL);
  update_actions (self);
  loaded_runs_free (l);
}

static void
load_runs (BtTrainPage *self)
{
  g_autoptr(GTask) task = NULL;

  g_cancellable_cancel (self->runs_cancellable);
  g_clear_object (&self->runs_cancellable);
  if (self->project == NULL)
    return;
  self->runs_cancellable = g_cancellable_new ();
  task = g_task_new (self, self->runs_cancellable, load_runs_done_cb, NULL);
  g_task_set_task_data (task, g_strdup (bt_project_get_dir (self->project)), g_free);
  g_task_run_in_thread (task, load_runs_thread);
}

static void
clear_runs (BtTrainPage *self)
{
  GtkWidget *child;

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->runs_list))) != NULL)
    gtk_list_box_remove (self->runs_list, child);
  for (guint i = 0; i < self->runs->len; i++)
    show_run (self, self->runs->pdata[i], FALSE);
  g_ptr_array_set_size (self->runs, 0);
  bt_train_page_show_trials (self, NULL);
  g_clear_pointer (&self->resume_dir, g_free);
  gtk_widget_set_visible (GTK_WIDGET (self->resume_run_button), FALSE);
}

/* ---- Template callbacks ---- */

static void
smoothing_changed_cb (BtTrainPage *self)
{
  double v = gtk_adjustment_get_value (self->smoothing_adjustment);

  bt_chart_series_set_smoothing (self->step_loss, v);
  bt_chart_series_set_smoothing (self->step_acc, v);
}

static void
steps_toggled_cb (BtTrainPage *self)
{
  gboolean on = gtk_check_button_get_active (self->steps_check);

  bt_chart_series_set_visible (self->step_loss, on);
  bt_chart_series_set_visible (self->step_acc, on);
}

/* ---- Search trials over the charts ---- */

static void
append_curve (BtChartSeries *series, GArray *values)
{
  for (guint e = 0; e < values->len; e++)
    bt_chart_series_append (series, e + 1, g_array_index (values, double, e));
}

void
bt_train_page_show_trials (BtTrainPage *self, GPtrArray *trials)
{
  g_return_if_fail (BT_IS_TRAIN_PAGE (self));

  for (guint i = 0; i < self->trials->len; i++)
    show_run (self, self->trials->pdata[i], FALSE);
  g_ptr_array_set_size (self->trials, 0);
  for (guint i = 0; trials != NULL && i < trials->len; i++)
    {
      const BtTuneTrial *t = g_ptr_array_index (trials, i);
      g_autofree char *title = g_strdup_printf (_("Trial %d"), t->index + 1);
      Run *run = run_new (NULL, title);

      run->best_val_acc = t->val_acc;
      append_curve (run->train_loss, t->curve_train_loss);
      append_curve (run->val_loss, t->curve_loss);
      append_curve (run->train_acc, t->curve_train_acc);
      append_curve (run->val_acc, t->curve_acc);
      g_ptr_array_add (self->trials, run);
      show_run (self, run, TRUE);
    }
}

static void
trials_selected_cb (BtTrainPage *self, BtLeaderboard *leaderboard)
{
  g_autoptr(GPtrArray) trials = bt_leaderboard_get_selected_trials (leaderboard);

  bt_train_page_show_trials (self, trials);
}

void
bt_train_page_attach_leaderboard (BtTrainPage *self, BtLeaderboard *leaderboard)
{
  g_return_if_fail (BT_IS_TRAIN_PAGE (self));
  g_return_if_fail (BT_IS_LEADERBOARD (leaderboard));

  if (self->leaderboard != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->leaderboard, self);
      g_object_remove_weak_pointer (G_OBJECT (self->leaderboard), (gpointer *) &self->leaderboard);
    }
  self->leaderboard = GTK_WIDGET (leaderboard);
  g_object_add_weak_pointer (G_OBJECT (self->leaderboard), (gpointer *) &self->leaderboard);
  g_signal_connect_object (leaderboard, "trials-selected", G_CALLBACK (trials_selected_cb), self, G_CONNECT_SWAPPED);
  trials_selected_cb (self, leaderboard);
}

/* Opens the hyperparameter search (bt-leaderboard.c) in its own window, or raises it. */
static void
bt_train_page_on_search_clicked (BtTrainPage *self)
{
  GtkWindow *win;

  if (self->project == NULL)
    return;
  if (self->leaderboard != NULL)
    {
      gtk_window_present (GTK_WINDOW (gtk_widget_get_root (self->leaderboard)));
      return;
    }
  win = bt_leaderboard_present_window (GTK_WINDOW (gtk_widget_get_root (GTK_WIDGET (self))), self->project);
  bt_train_page_attach_leaderboard (self, BT_LEADERBOARD (gtk_window_get_child (win)));
}

/* ---- GObject ---- */

static void
bt_train_page_dispose (GObject *object)
{
  BtTrainPage *self = BT_TRAIN_PAGE (object);
  GtkWidget *child;

  drop_trainer (self);
  if (self->leaderboard != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->leaderboard, self);
      g_object_remove_weak_pointer (G_OBJECT (self->leaderboard), (gpointer *) &self->leaderboard);
      self->leaderboard = NULL;
    }
  g_cancellable_cancel (self->runs_cancellable);
  g_clear_object (&self->runs_cancellable);
  gtk_widget_dispose_template (GTK_WIDGET (self), BT_TYPE_TRAIN_PAGE);
  /* GTK 4.8 unparents only bound template children */
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self))) != NULL)
    gtk_widget_unparent (child);
  g_clear_object (&self->project);
  g_clear_pointer (&self->runs, g_ptr_array_unref);
  g_clear_pointer (&self->trials, g_ptr_array_unref);
  g_clear_object (&self->step_loss);
  g_clear_object (&self->train_loss);
  g_clear_object (&self->val_loss);
  g_clear_object (&self->step_acc);
  g_clear_object (&self->train_acc);
  g_clear_object (&self->val_acc);
  g_clear_pointer (&self->run_title, g_free);
  g_clear_pointer (&self->resume_dir, g_free);
  bt_verdict_clear (&self->verdict);

  G_OBJECT_CLASS (bt_train_page_parent_class)->dispose (object);
}

static void
bt_train_page_class_init (BtTrainPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = bt_train_page_dispose;

  signals[MODEL_SAVED] = g_signal_new ("model-saved", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                       0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);

  gtk_widget_class_set_template_from_resource (widget_class, APP_ID_PATH "/ui/bt-train-page.ui");
  gtk_widget_class_bind_template_child (widget_class, BtTrainPage, status_label);
  gtk_widget_class_bind_template_child (widget_class, BtTrainPage, progress_bar);
  gtk_widget_class_bind_template_child (widget_class, BtTrainPage, advice_label);
  gtk_widget_class_bind_template_child (widget_class, BtTrainPage, charts_box);
  gtk_widget_class_bind_template_child (widget_class, BtTrainPage, smoothing_adjustment);
  gtk_widget_class_bind_template_child (widget_class, BtTrainPage, steps_check);
  gtk_widget_class_bind_template_child (widget_class, BtTrainPage, runs_list);
  gtk_widget_class_bind_template_child (widget_class, BtTrainPage, verdict_box);
  gtk_widget_class_bind_template_child (widget_class, BtTrainPage, verdict_label);
  gtk_widget_class_bind_template_child (widget_class, BtTrainPage, verdict_button);
  gtk_widget_class_bind_template_child (widget_class, BtTrainPage, resume_run_button);
  gtk_widget_class_bind_template_callback (widget_class, smoothing_changed_cb);
  gtk_widget_class_bind_template_callback (widget_class, steps_toggled_cb);
  gtk_widget_class_bind_template_callback (widget_class, bt_train_page_on_search_clicked);
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);

  gtk_widget_class_install_action (widget_class, "train.start", NULL, start_action);
  gtk_widget_class_install_action (widget_class, "train.resume-run", NULL, resume_run_action);
  gtk_widget_class_install_action (widget_class, "train.apply-verdict", NULL, apply_verdict_action);
  gtk_widget_class_install_action (widget_class, "train.pause", NULL, pause_action);
  gtk_widget_class_install_action (widget_class, "train.resume", NULL, resume_action);
  gtk_widget_class_install_action (widget_class, "train.stop", NULL, stop_action);
  gtk_widget_class_install_action (widget_class, "train.export-chart", "s", export_chart_action);
  gtk_widget_class_install_action (widget_class, "train.export-csv", NULL, export_csv_action);
  gtk_widget_class_install_action (widget_class, "train.export-onnx", NULL, export_onnx_action);
  gtk_widget_class_install_action (widget_class, "train.export-tflite", NULL, export_onnx_action);
  gtk_widget_class_install_action (widget_class, "train.export-tflite-int8", NULL, export_onnx_action);
  gtk_widget_class_install_action (widget_class, "train.export-pytorch", NULL, export_pytorch_action);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Return, GDK_CONTROL_MASK, "train.start", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_period, GDK_CONTROL_MASK, "train.stop", NULL);
}

static BtChart *
make_chart (BtTrainPage *self, const char *title, BtChartAxisFormat y_format,
            BtChartSeries *step, BtChartSeries *train, BtChartSeries *val)
{
  g_autoptr(BtChartAxis) x = bt_chart_axis_new (BT_CHART_AXIS_INTEGER);
  g_autoptr(BtChartAxis) y = bt_chart_axis_new (y_format);
  BtChart *chart = BT_CHART (bt_chart_new (title, x, y));

  bt_chart_set_x_title (chart, _("Epoch"));
  bt_chart_set_empty_text (chart, _("The curves appear here while the model trains."));
  bt_chart_add_series (chart, step);
  bt_chart_add_series (chart, train);
  bt_chart_add_series (chart, val);
  /* loss: validation above training is the gap; accuracy: the other way round */
  if (y_format == BT_CHART_AXIS_PERCENT)
    bt_chart_set_gap (chart, val, train);
  else
    bt_chart_set_gap (chart, train, val);
  gtk_box_append (self->charts_box, GTK_WIDGET (chart));
  return chart;
}

static void
bt_train_page_init (BtTrainPage *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));

  self->runs = g_ptr_array_new_with_free_func ((GDestroyNotify) run_free);
  self->trials = g_ptr_array_new_with_free_func ((GDestroyNotify) run_free);
  self->best_val_acc = NAN;
  self->step_loss = bt_chart_series_new (_("Training, per step"), BT_CHART_ROLE_STEP);
  self->train_loss = bt_chart_series_new (_("Training"), BT_CHART_ROLE_TRAIN);
  self->val_loss = bt_chart_series_new (_("Validation"), BT_CHART_ROLE_VALIDATION);
  self->step_acc = bt_chart_series_new (_("Training, per step"), BT_CHART_ROLE_STEP);
  self->train_acc = bt_chart_series_new (_("Training"), BT_CHART_ROLE_TRAIN);
  self->val_acc = bt_chart_series_new (_("Validation"), BT_CHART_ROLE_VALIDATION);
  self->loss_chart = make_chart (self, _("Loss"), BT_CHART_AXIS_NUMBER, self->step_loss, self->train_loss, self->val_loss);
  self->acc_chart = make_chart (self, _("Accuracy"), BT_CHART_AXIS_PERCENT, self->step_acc, self->train_acc, self->val_acc);
  smoothing_changed_cb (self);
  update_actions (self);
}

void
bt_train_page_set_project (BtTrainPage *self, BtProject *project)
{
  g_return_if_fail (BT_IS_TRAIN_PAGE (self));
  g_return_if_fail (project == NULL || BT_IS_PROJECT (project));

  if (project == self->project)
    return;
  drop_trainer (self);
  g_set_object (&self->project, project);
  clear_current (self);
  clear_runs (self);
  gtk_label_set_text (self->status_label, project ? _("Press Train to start.") : _("No project open."));
  gtk_progress_bar_set_fraction (self->progress_bar, 0);
  gtk_progress_bar_set_text (self->progress_bar, _("Not training"));
  load_runs (self);
  update_actions (self);
}

gboolean
bt_train_page_is_busy (BtTrainPage *self)
{
  BtTrainerState state;

  g_return_val_if_fail (BT_IS_TRAIN_PAGE (self), FALSE);

  if (self->trainer == NULL)
    return FALSE;
  state = bt_trainer_get_state (self->trainer);
  return state == BT_TRAINER_PREPARING || state == BT_TRAINER_RUNNING ||
         state == BT_TRAINER_PAUSED || state == BT_TRAINER_STOPPING;
}

BtTrainer *
bt_train_page_get_trainer (BtTrainPage *self)
{
  g_return_val_if_fail (BT_IS_TRAIN_PAGE (self), NULL);
  return self->trainer;
}

BtChart *
bt_train_page_get_loss_chart (BtTrainPage *self)
{
  g_return_val_if_fail (BT_IS_TRAIN_PAGE (self), NULL);
  return self->loss_chart;
}

BtChart *
bt_train_page_get_accuracy_chart (BtTrainPage *self)
{
  g_return_val_if_fail (BT_IS_TRAIN_PAGE (self), NULL);
  return self->acc_chart;
}

const char *
bt_train_page_get_advice (BtTrainPage *self)
{
  g_return_val_if_fail (BT_IS_TRAIN_PAGE (self), NULL);
  return gtk_widget_get_visible (GTK_WIDGET (self->advice_label)) ? gtk_label_get_text (self->advice_label) : "";
}

guint
bt_train_page_get_n_runs (BtTrainPage *self)
{
  g_return_val_if_fail (BT_IS_TRAIN_PAGE (self), 0);
  return self->runs->len;
}

void
bt_train_page_set_run_shown (BtTrainPage *self, guint index, gboolean shown)
{
  GtkWidget *row;

  g_return_if_fail (BT_IS_TRAIN_PAGE (self));
  g_return_if_fail (index < self->runs->len);

  for (row = gtk_widget_get_first_child (GTK_WIDGET (self->runs_list)); row != NULL;
       row = gtk_widget_get_next_sibling (row))
    {
      GtkWidget *box = gtk_list_box_row_get_child (GTK_LIST_BOX_ROW (row));
      GtkCheckButton *check = box ? g_object_get_data (G_OBJECT (box), "bt-check") : NULL;

      if (check != NULL && g_object_get_data (G_OBJECT (check), "bt-run") == self->runs->pdata[index])
        gtk_check_button_set_active (check, shown);
    }
}
