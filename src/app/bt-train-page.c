/* bt-train-page.c: the Train page — runs the trainer, draws live loss and accuracy charts,
 * explains overfitting and divergence, lists completed runs for comparison, exports. */
#include "config.h"

#include <glib/gi18n.h>
#include <math.h>
#include <string.h>

#include "bt-train-page.h"
#include "bt-dialogs.h"
#include "bt-export-actions.h"
#include "bt-leaderboard.h"
#include "training/bt-tune.h"

/* A finished run or a search trial: its curves, drawn over the current run's in a colour of
 * their own for comparison, and what the runs list shows. */
typedef struct {
  char          *dir;            /* NULL for a trial */
  char          *title;          /* "2026-11-25 18:30 · Small CNN", "Trial 3" */
  double         best_val_acc;   /* NaN when unknown */
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
  g_clear_object (&run->train_loss);
  g_clear_object (&run->val_loss);
  g_clear_object (&run->train_acc);
  g_clear_object (&run->val_acc);
  g_free (run);
}

struct _BtTrainPage
{
  GtkWidget parent_instance;

  /* Template widgets */
  GtkLabel       *status_label;
  GtkProgressBar *progress_bar;
  GtkLabel       *advice_label;
  GtkBox         *charts_box;
  GtkAdjustment  *smoothing_adjustment;
  GtkCheckButton *steps_check;
  GtkListBox     *runs_list;

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
  double          best_val_acc;
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
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "train.export-pytorch", self->project != NULL && !busy);
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
      /* before the first batch, "step" reports the images decoded into the cache */
      text = g_strdup_printf (_("Preparing the images: %d of %d"), info->step, info->steps_per_epoch);
      gtk_progress_bar_set_fraction (self->progress_bar,
                                     info->steps_per_epoch > 0 ? CLAMP ((double) info->step / info->steps_per_epoch, 0, 1) : 0);
      gtk_progress_bar_set_text (self->progress_bar, text);
      return;
    }

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
  if (isfinite (info->val_acc) && (!isfinite (self->best_val_acc) || info->val_acc > self->best_val_acc))
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
  g_autofree char *status = NULL;

  gtk_progress_bar_set_fraction (self->progress_bar, error == NULL ? 1.0 : gtk_progress_bar_get_fraction (self->progress_bar));
  if (error == NULL)
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

  if (bt_chart_series_get_n_points (self->train_loss) > 0)
    {
      Run *run = run_new (bt_trainer_get_run_dir (self->trainer), self->run_title);
      run->best_val_acc = self->best_val_acc;
      copy_points (run->train_loss, self->train_loss);
      copy_points (run->val_loss, self->val_loss);
      copy_points (run->train_acc, self->train_acc);
      copy_points (run->val_acc, self->val_acc);
      g_ptr_array_add (self->runs, run);
      add_run_row (self, run);
    }

  update_actions (self);
  if (model_path != NULL && (error == NULL || g_error_matches (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_CANCELLED)))
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

  if (path != NULL)
    bt_export_actions_choose_onnx (widget, path);
}

static void
export_pytorch_action (GtkWidget *widget, const char *action_name, GVariant *param)
{
  BtTrainPage *self = BT_TRAIN_PAGE (widget);

  if (self->project != NULL)
    bt_export_actions_choose_pytorch (widget, self->project);
}

static void
start_action (GtkWidget *widget, const char *action_name, GVariant *param)
{
  BtTrainPage *self = BT_TRAIN_PAGE (widget);
  const BtProjectSettings *settings;
  g_autoptr(GError) error = NULL;
  g_autoptr(GDateTime) now = g_date_time_new_now_local ();
  g_autofree char *date = g_date_time_format (now, "%Y-%m-%d %H:%M");
  BtPreset preset;

  if (self->project == NULL || bt_train_page_is_busy (self))
    return;

  drop_trainer (self);
  clear_current (self);

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
  if (!bt_project_check_trainable (self->project, &error) || !bt_trainer_start (self->trainer, NULL, &error))
    {
      g_autofree char *msg = g_strdup_printf (_("Training could not start: %s"), error->message);
      gtk_label_set_text (self->status_label, msg);
      gtk_progress_bar_set_text (self->progress_bar, _("Not training"));
      g_clear_object (&self->trainer);
    }
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

/* metrics.csv of a run: a header row naming the columns, one row per epoch. */
static Run *
read_run (const char *dir)
{
  g_autofree char *path = g_build_filename (dir, "metrics.csv", NULL);
  g_autofree char *config_path = g_build_filename (dir, "config.ini", NULL);
  g_autofree char *text = NULL;
  g_autoptr(GKeyFile) config = g_key_file_new ();
  g_auto(GStrv) lines = NULL;
  g_auto(GStrv) header = NULL;
  int col_epoch = -1, col[4] = { -1, -1, -1, -1 };
  static const char *const names[4] = { "train_loss", "val_loss", "train_acc", "val_acc" };
  g_autofree char *base = g_path_get_basename (dir);
  g_autofree char *preset_id = NULL;
  BtPreset preset;
  Run *run;
  gsize len;

  if (!g_file_get_contents (path, &text, &len, NULL) || len > 16 * 1024 * 1024 || !g_utf8_validate (text, len, NULL))
    return NULL;
  lines = g_strsplit (text, "\n", -1);
  if (lines[0] == NULL)
    return NULL;
  header = g_strsplit (g_strstrip (lines[0]), ",", -1);
  for (int i = 0; header[i]; i++)
    {
      if (g_str_equal (header[i], "epoch"))
        col_epoch = i;
      for (int k = 0; k < 4; k++)
        if (g_str_equal (header[i], names[k]))
          col[k] = i;
    }
  if (col_epoch < 0 || (col[0] < 0 && col[1] < 0 && col[2] < 0 && col[3] < 0))
    return NULL;

  if (g_key_file_load_from_file (config, config_path, G_KEY_FILE_NONE, NULL))
    {
      g_auto(GStrv) groups = g_key_file_get_groups (config, NULL);
      for (guint g = 0; groups[g] && preset_id == NULL; g++)
        preset_id = g_key_file_get_string (config, groups[g], "preset", NULL);
    }
  {
    g_autofree char *title = NULL;
    if (preset_id && bt_preset_from_id (preset_id, &preset))
      title = g_strdup_printf ("%s · %s", base, _(bt_preset_title (preset)));
    else
      title = g_strdup (base);
    run = run_new (dir, title);
  }
  for (guint l = 1; lines[l]; l++)
    {
      g_auto(GStrv) f = g_strsplit (g_strstrip (lines[l]), ",", -1);
      BtChartSeries *series[4] = { run->train_loss, run->val_loss, run->train_acc, run->val_acc };
      guint n = g_strv_length (f);
      double epoch;

      if (n <= (guint) col_epoch || !*f[col_epoch])
        continue;
      epoch = g_ascii_strtod (f[col_epoch], NULL);
      for (int k = 0; k < 4; k++)
        if (col[k] >= 0 && (guint) col[k] < n && *f[col[k]])
          bt_chart_series_append (series[k], epoch, g_ascii_strtod (f[col[k]], NULL));
      if (col[3] >= 0 && (guint) col[3] < n && *f[col[3]])
        {
          double a = g_ascii_strtod (f[col[3]], NULL);
          if (isfinite (a) && (!isfinite (run->best_val_acc) || a > run->best_val_acc))
            run->best_val_acc = a;
        }
    }
  return run;
}

static int
cmp_names (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(char * const *) a, *(char * const *) b);
}

static void
load_runs_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  const char *runs_dir = task_data;
  g_autoptr(GDir) dir = g_dir_open (runs_dir, 0, NULL);
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  GPtrArray *runs = g_ptr_array_new_with_free_func ((GDestroyNotify) run_free);
  const char *name;

  /* sorted by name (a timestamp): prepending rows puts the newest on top */
  while (dir && (name = g_dir_read_name (dir)) && names->len < 1000)
    g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, cmp_names);
  for (guint i = 0; i < names->len && !g_cancellable_is_cancelled (cancellable); i++)
    {
      g_autofree char *path = g_build_filename (runs_dir, names->pdata[i], NULL);
      Run *run = read_run (path);
      if (run)
        g_ptr_array_add (runs, run);
    }
  g_task_return_pointer (task, runs, (GDestroyNotify) g_ptr_array_unref);
}

static void
load_runs_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  BtTrainPage *self = BT_TRAIN_PAGE (source);
  g_autoptr(GPtrArray) runs = g_task_propagate_pointer (G_TASK (result), NULL);

  if (runs == NULL)
    return;
  for (guint i = 0; i < runs->len; i++)
    {
      Run *run = g_steal_pointer (&runs->pdata[i]);
      g_ptr_array_add (self->runs, run);
      add_run_row (self, run);
    }
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
  g_task_set_task_data (task, g_build_filename (bt_project_get_dir (self->project), "runs", NULL), g_free);
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
  gtk_widget_class_bind_template_callback (widget_class, smoothing_changed_cb);
  gtk_widget_class_bind_template_callback (widget_class, steps_toggled_cb);
  gtk_widget_class_bind_template_callback (widget_class, bt_train_page_on_search_clicked);
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);

  gtk_widget_class_install_action (widget_class, "train.start", NULL, start_action);
  gtk_widget_class_install_action (widget_class, "train.pause", NULL, pause_action);
  gtk_widget_class_install_action (widget_class, "train.resume", NULL, resume_action);
  gtk_widget_class_install_action (widget_class, "train.stop", NULL, stop_action);
  gtk_widget_class_install_action (widget_class, "train.export-chart", "s", export_chart_action);
  gtk_widget_class_install_action (widget_class, "train.export-csv", NULL, export_csv_action);
  gtk_widget_class_install_action (widget_class, "train.export-onnx", NULL, export_onnx_action);
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
