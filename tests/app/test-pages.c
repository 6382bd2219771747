/* test-pages.c: the Train, Evaluate and Test pages in the main window, driven through a real
 * short training run on the Shapes sample: live chart events, Pause/Resume/Stop button states,
 * the saved model reaching Evaluate (confusion sums, gallery, relabel) and Test (bars). */
#include "config.h"

#include <glib/gstdio.h>
#include <gtk/gtk.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bt-application.h"
#include "bt-explain-view.h"
#include "bt-window-private.h"
#include "training/bt-verdict.h"
#include "training/bt-run-files.h"
#include "engine/bt-tflite-export.h"
#include "bt-test-screenshot.h"
#include "bt-test-keys.h"
#include "dataset/bt-undo.h"
#include "bt-test-fs.h"
#include "bt-test-photos.h"
#include "bt-test-wait.h"
#include "bt-test-input.h"
#include "bt-test-exit.h"

/* Small by default so that CI stays fast; the docs screenshots use a longer run
 * (BT_PAGES_EPOCHS, BT_PAGES_PER_CLASS). */
static int N_EPOCHS = 4;
static guint per_class = 40;

static BtApplication *app;
static BtWindow *window;
static BtProject *project;
static char *project_dir;
static char *model_path;

typedef gboolean (*Condition) (gpointer data);

/* Runs the main loop until cond holds, failing loudly at bt-test-wait.h's deadline. */
#define wait_for(cond, data) BT_TEST_WAIT ((cond) (data))

static GtkWidget *
find_label_prefix (GtkWidget *root, const char *prefix)
{
  for (GtkWidget *c = gtk_widget_get_first_child (root); c; c = gtk_widget_get_next_sibling (c))
    {
      GtkWidget *found;
      if (GTK_IS_LABEL (c) && g_str_has_prefix (gtk_label_get_text (GTK_LABEL (c)), prefix))
        return c;
      if ((found = find_label_prefix (c, prefix)))
        return found;
    }
  return NULL;
}

static gboolean
button_enabled (BtTrainPage *page, const char *action)
{
  GtkWidget *b = bt_test_find_action_button (GTK_WIDGET (page), action, FALSE);
  g_assert_nonnull (b);
  return gtk_widget_is_sensitive (b);
}

static BtChartSeries *
series_with_role (BtChart *chart, BtChartRole role)
{
  for (guint i = 0; i < bt_chart_get_n_series (chart); i++)
    if (bt_chart_series_get_role (bt_chart_get_series (chart, i)) == role)
      return bt_chart_get_series (chart, i);
  g_assert_not_reached ();
  return NULL;
}

static gboolean
is_state (gpointer data)
{
  BtTrainer *trainer = bt_train_page_get_trainer (window->train_page);
  return trainer && (int) bt_trainer_get_state (trainer) == GPOINTER_TO_INT (data);
}

static gboolean
has_steps (gpointer data)
{
  BtChart *loss = bt_train_page_get_loss_chart (window->train_page);
  return bt_chart_series_get_n_points (series_with_role (loss, BT_CHART_ROLE_STEP)) > 0;
}

static gboolean
has_epochs (gpointer data)
{
  BtChart *loss = bt_train_page_get_loss_chart (window->train_page);
  return bt_chart_series_get_n_points (series_with_role (loss, BT_CHART_ROLE_TRAIN)) >= GPOINTER_TO_UINT (data);
}

static void answer_chooser (GFile *file, const char *accept);

static gboolean
not_busy (gpointer data)
{
  return !bt_train_page_is_busy (window->train_page);
}

static void
model_saved_cb (BtTrainPage *page, const char *path, gpointer data)
{
  g_free (model_path);
  model_path = g_strdup (path);
}

/* A trained model for the pages after Train, whichever test runs first: trains once (Train
 * clicked) when no test has yet. */
static void
ensure_model (void)
{
  if (model_path != NULL)
    return;
  bt_window_set_page (window, "train");
  bt_test_click_button (GTK_WIDGET (window->train_page), "Train");
  BT_TEST_WAIT (bt_train_page_is_busy (window->train_page));
  wait_for (not_busy, NULL);
  g_assert_nonnull (model_path);
}

static void
test_train_run (void)
{
  BtTrainPage *page = window->train_page;
  BtChart *loss = bt_train_page_get_loss_chart (page);
  BtChart *acc = bt_train_page_get_accuracy_chart (page);
  guint runs_before = bt_train_page_get_n_runs (page);

  bt_window_set_page (window, "train");

  g_assert_true (button_enabled (page, "train.start"));
  g_assert_false (button_enabled (page, "train.pause"));
  g_assert_false (button_enabled (page, "train.resume"));
  g_assert_false (button_enabled (page, "train.stop"));

  /* Ctrl+Return starts a run with the focus outside the page too (after Alt+3 it is on the header's
   * page buttons; here it is nowhere): the window passes it to the visible Train page */
  gtk_window_set_focus (GTK_WINDOW (window), NULL);
  bt_test_press_key (GTK_WINDOW (window), GDK_KEY_Return, GDK_CONTROL_MASK);   /* Ctrl+Return: Train */
  /* (not "the chart has steps": it may still show an earlier test's run until this one's first) */
  BT_TEST_WAIT (bt_train_page_is_busy (page));
  g_assert_false (button_enabled (page, "train.start"));
  g_assert_true (button_enabled (page, "train.stop"));

  /* pause as soon as running: the buttons follow the trainer's state */
  wait_for (is_state, GINT_TO_POINTER (BT_TRAINER_RUNNING));
  wait_for (has_steps, NULL);
  g_assert_true (button_enabled (page, "train.pause"));
  g_assert_false (button_enabled (page, "train.resume"));
  bt_test_click_button (GTK_WIDGET (page), "Pause");
  wait_for (is_state, GINT_TO_POINTER (BT_TRAINER_PAUSED));
  g_assert_false (button_enabled (page, "train.pause"));
  g_assert_true (button_enabled (page, "train.resume"));
  g_assert_true (button_enabled (page, "train.stop"));
  g_assert_false (button_enabled (page, "train.start"));

  bt_test_click_button (GTK_WIDGET (page), "Resume");
  wait_for (is_state, GINT_TO_POINTER (BT_TRAINER_RUNNING));
  wait_for (has_epochs, GUINT_TO_POINTER (2));
  bt_test_screenshot (GTK_WIDGET (window), "train-page-running.png");
  wait_for (not_busy, NULL);

  /* every epoch reached both charts, training and validation */
  g_assert_cmpuint (bt_chart_series_get_n_points (series_with_role (loss, BT_CHART_ROLE_TRAIN)), ==, N_EPOCHS);
  g_assert_cmpuint (bt_chart_series_get_n_points (series_with_role (loss, BT_CHART_ROLE_VALIDATION)), ==, N_EPOCHS);
  g_assert_cmpuint (bt_chart_series_get_n_points (series_with_role (acc, BT_CHART_ROLE_VALIDATION)), ==, N_EPOCHS);
  /* every step reached the per-step curve, in order */
  {
    BtChartSeries *steps = series_with_role (loss, BT_CHART_ROLE_STEP);
    guint n = bt_chart_series_get_n_points (steps);
    double prev = -1, x, y;
    g_assert_cmpuint (n, >=, N_EPOCHS);
    for (guint i = 0; i < n; i++)
      {
        bt_chart_series_get_point (steps, i, &x, &y);
        g_assert_cmpfloat (x, >, prev);
        g_assert_true (isfinite (y));
        prev = x;
      }
    g_assert_cmpfloat_with_epsilon (prev, N_EPOCHS, 1e-9);
  }
  g_assert_cmpfloat (bt_chart_get_best_x (loss), >=, 1);
  g_assert_cmpfloat (bt_chart_get_best_x (loss), <=, N_EPOCHS);

  g_assert_nonnull (model_path);
  g_assert_true (g_file_test (model_path, G_FILE_TEST_IS_REGULAR));
  g_assert_cmpuint (bt_train_page_get_n_runs (page), ==, runs_before + 1);
  g_assert_true (button_enabled (page, "train.start"));
  g_assert_false (button_enabled (page, "train.stop"));

  /* the metrics CSV holds one row per epoch */
  {
    g_autofree char *csv = bt_train_page_dup_metrics_csv (page);
    g_auto(GStrv) lines = g_strsplit (csv, "\r\n", -1);
    g_assert_cmpuint (g_strv_length (lines), ==, 1 + N_EPOCHS + 1);
  }
  bt_test_screenshot (GTK_WIDGET (window), "train-page-finished.png");

  /* (the overfitting advice and the advice after a NaN loss come from real runs:
   * train/overfitting and train/verdict-diverged) */
}

static void
test_train_stop (void)
{
  BtTrainPage *page = window->train_page;

  bt_window_set_page (window, "train");
  BT_TEST_WAIT (!bt_train_page_is_busy (page));
  bt_test_click_button (GTK_WIDGET (page), "Train");
  wait_for (is_state, GINT_TO_POINTER (BT_TRAINER_RUNNING));

  /* closing the window while it trains asks first and keeps the window */
  {
    GListModel *toplevels = gtk_window_get_toplevels ();
    guint before = g_list_model_get_n_items (toplevels);
    GtkWindow *dialog = NULL;

    gtk_window_close (GTK_WINDOW (window));
    BT_TEST_WAIT (g_list_model_get_n_items (toplevels) == before + 1);
    g_assert_true (gtk_widget_get_visible (GTK_WIDGET (window)));
    g_assert_cmpuint (g_list_model_get_n_items (toplevels), ==, before + 1);
    for (guint i = 0; i < g_list_model_get_n_items (toplevels); i++)
      {
        g_autoptr(GtkWindow) w = g_list_model_get_item (toplevels, i);
        if (w != GTK_WINDOW (window) && gtk_window_get_transient_for (w) == GTK_WINDOW (window))
          dialog = w;
      }
    g_assert_nonnull (dialog);
    gtk_window_destroy (dialog);   /* dismissed: nothing closes */
    BT_TEST_WAIT (g_list_model_get_n_items (toplevels) == before);
    bt_test_drain ();
    g_assert_true (gtk_widget_get_visible (GTK_WIDGET (window)));
  }

  bt_test_press_key (GTK_WINDOW (window), GDK_KEY_period, GDK_CONTROL_MASK);   /* Ctrl+.: Stop */
  wait_for (not_busy, NULL);
  g_assert_true (button_enabled (page, "train.start"));
  g_assert_false (button_enabled (page, "train.pause"));
  g_assert_false (button_enabled (page, "train.resume"));
  g_assert_false (button_enabled (page, "train.stop"));
}


static gboolean
resume_offered (gpointer data)
{
  GtkWidget *b = bt_test_find_action_button (GTK_WIDGET (window->train_page), "train.resume-run", FALSE);
  return b != NULL && gtk_widget_get_visible (b) && gtk_widget_is_sensitive (b);
}

/* #21 "Resume in the app": a run interrupted after its first epoch is offered as "Resume from
 * epoch N" when the project is opened again, and the button continues that very run. */
static void
test_train_resume_interrupted (void)
{
  BtTrainPage *page = window->train_page;
  g_autofree char *run_dir = NULL;
  GtkWidget *button;

  bt_window_set_page (window, "train");
  BT_TEST_WAIT (!bt_train_page_is_busy (page));
  bt_test_click_button (GTK_WIDGET (page), "Train");
  BT_TEST_WAIT (bt_train_page_is_busy (page));
  wait_for (has_epochs, GUINT_TO_POINTER (1));
  run_dir = g_strdup (bt_trainer_get_run_dir (bt_train_page_get_trainer (page)));
  bt_test_click_button (GTK_WIDGET (page), "Stop");
  wait_for (not_busy, NULL);

  /* the project opened again, as after a crash */
  bt_train_page_set_project (page, NULL);
  bt_train_page_set_project (page, project);
  wait_for (resume_offered, NULL);
  button = bt_test_find_action_button (GTK_WIDGET (page), "train.resume-run", FALSE);
  g_assert_true (g_str_has_prefix (gtk_button_get_label (GTK_BUTTON (button)), "Resume from epoch "));
  g_assert_cmpint (atoi (gtk_button_get_label (GTK_BUTTON (button)) + strlen ("Resume from epoch ")), >=, 1);
  bt_test_screenshot (GTK_WIDGET (window), "train-page-resume.png");
  bt_test_click (button);
  g_assert_nonnull (bt_train_page_get_trainer (page));
  g_assert_cmpstr (bt_trainer_get_run_dir (bt_train_page_get_trainer (page)), ==, run_dir);
  wait_for (not_busy, NULL);
  g_assert_false (gtk_widget_get_visible (button));
  g_assert_cmpint (bt_trainer_get_state (bt_train_page_get_trainer (page)), ==, BT_TRAINER_FINISHED);
}

/* #21: a run at learning rate 10 ends with the diverged verdict; its button sets 0.001 in the
 * project's settings, and the failed run's model does not become the pages' model. */
static void
test_train_verdict_diverged (void)
{
  BtTrainPage *page = window->train_page;
  g_autofree char *model_before = g_strdup (model_path);
  g_autoptr(GError) error = NULL;
  BtProjectSettings s, before;
  GtkWidget *button;

  bt_project_settings_copy (&before, bt_project_get_settings (project));
  bt_project_settings_copy (&s, bt_project_get_settings (project));
  s.learning_rate = 10;
  g_assert_true (bt_project_update_settings (project, &s, &error));
  bt_project_settings_clear (&s);

  bt_window_set_page (window, "train");
  BT_TEST_WAIT (!bt_train_page_is_busy (page));
  bt_test_click_button (GTK_WIDGET (page), "Train");
  BT_TEST_WAIT (bt_train_page_is_busy (page));
  wait_for (not_busy, NULL);
  g_assert_nonnull (bt_trainer_get_verdict (bt_train_page_get_trainer (page)));
  g_assert_cmpint (bt_trainer_get_verdict (bt_train_page_get_trainer (page))->kind, ==, BT_VERDICT_DIVERGED);
  g_assert_cmpstr (model_path, ==, model_before);

  button = bt_test_find_action_button (GTK_WIDGET (page), "train.apply-verdict", FALSE);
  g_assert_nonnull (button);
  g_assert_true (gtk_widget_get_visible (button) && gtk_widget_is_sensitive (button));
  g_assert_cmpstr (gtk_button_get_label (GTK_BUTTON (button)), ==, "Try learning rate 0.001");
  bt_test_screenshot (GTK_WIDGET (window), "train-page-verdict.png");
  bt_test_click (button);
  g_assert_cmpfloat (bt_project_get_settings (project)->learning_rate, ==, 0.001);
  g_assert_false (gtk_widget_get_visible (button));
  /* (a rising loss: no NaN, so no advice about one) */
  g_assert_cmpstr (bt_train_page_get_advice (page), ==, "");

  /* AdamW at learning rate 10 with weight decay 1: each step multiplies the weights by
   * 1 - 10 × 1 = -9, whatever the images, so the loss is not a number within a few dozen
   * steps (SGD at 10 alone went NaN on some orders of the other cases and not on others); the
   * run ends there, and the page says why and what to do */
  bt_project_settings_copy (&s, bt_project_get_settings (project));
  s.learning_rate = 10;
  s.weight_decay = 1;
  g_free (s.optimizer);
  s.optimizer = g_strdup ("adamw");
  g_assert_true (bt_project_update_settings (project, &s, &error));
  bt_project_settings_clear (&s);
  bt_test_click_button (GTK_WIDGET (page), "Train");
  BT_TEST_WAIT (bt_train_page_is_busy (page));
  wait_for (not_busy, NULL);
  g_test_message ("advice: %s", bt_train_page_get_advice (page));
  g_assert_true (g_str_has_prefix (bt_train_page_get_advice (page), "Training diverged at epoch "));
  g_assert_nonnull (strstr (bt_train_page_get_advice (page), "Lower the learning rate"));
  g_assert_nonnull (bt_test_find_label (GTK_WIDGET (page), "Training diverged."));
  g_assert_cmpint (bt_trainer_get_verdict (bt_train_page_get_trainer (page))->kind, ==, BT_VERDICT_DIVERGED);
  g_assert_cmpstr (model_path, ==, model_before);
  g_assert_true (gtk_widget_get_visible (button) && gtk_widget_is_sensitive (button));
  g_assert_cmpstr (gtk_button_get_label (GTK_BUTTON (button)), ==, "Try learning rate 0.001");
  bt_test_click (button);
  g_assert_cmpfloat (bt_project_get_settings (project)->learning_rate, ==, 0.001);

  /* the other cases train with the project's settings as they were */
  g_assert_true (bt_project_update_settings (project, &before, &error));
  bt_project_settings_clear (&before);
}

/* 20 images of one class, 8×8 grey: noise (60 %) over a bright half (40 %), the left half for
 * left, the right half for right, except every 10th and 11th of 10 (two in ten) which show the
 * other class's half: labels a network learns at first and then memorises past, so validation
 * loss rises while training loss falls. */
static void
write_noise_class (const char *dir, const char *name, gboolean left, GRand *rand)
{
  g_autofree char *folder = g_build_filename (dir, name, NULL);

  g_assert_cmpint (g_mkdir_with_parents (folder, 0755), ==, 0);
  for (guint i = 0; i < 20; i++)
    {
      g_autofree char *file = g_strdup_printf ("%s-%02u.png", name, i);
      g_autofree char *path = g_build_filename (folder, file, NULL);
      guint8 px[8 * 8 * 3];
      g_autoptr(GBytes) bytes = NULL;
      g_autoptr(GdkTexture) texture = NULL;
      const char *paths[] = { path, NULL };
      g_autoptr(GError) error = NULL;

      gboolean bright_left = i % 10 < 2 ? !left : left;

      for (guint k = 0; k < 8 * 8; k++)
        {
          double half = (k % 8 < 4) == bright_left ? 255 : 0;
          px[3 * k] = px[3 * k + 1] = px[3 * k + 2] = (guint8) (0.6 * g_rand_int_range (rand, 0, 256) + 0.4 * half);
        }
      bytes = g_bytes_new (px, sizeof px);
      texture = gdk_memory_texture_new (8, 8, GDK_MEMORY_R8G8B8, bytes, 8 * 3);
      g_assert_true (gdk_texture_save_to_png (texture, path));
      g_assert_true (bt_project_add_items (bt_window_get_project (window), name, paths, NULL, &error));
      g_assert_no_error (error);
    }
}

/* Once a project is opened, a worker lists its runs for the Train page: the page then shows
 * exactly those on disk (runs finished since are added, a resumed one twice, so only right after
 * the opening is this the test). */
static gboolean
runs_listed (gpointer data)
{
  g_autoptr(GPtrArray) runs = bt_run_files_list_runs (bt_project_get_dir (project), NULL);
  return bt_train_page_get_n_runs (window->train_page) == runs->len;
}

typedef struct {
  BtTrainPage *page;
  GArray      *shown;   /* gboolean per epoch: the advice said "memorising" after that epoch */
} AdviceLog;

/* notify::label of the advice: what it says after each epoch (the label changes only when the
 * advice does, so the epochs in between keep the last state) */
static void
advice_changed_cb (GtkLabel *label, GParamSpec *pspec, AdviceLog *log)
{
  BtChart *loss = bt_train_page_get_loss_chart (log->page);
  guint epoch = bt_chart_series_get_n_points (series_with_role (loss, BT_CHART_ROLE_TRAIN));
  gboolean shown = strstr (gtk_label_get_text (label), "memorising") != NULL;

  if (epoch == 0)
    return;
  while (log->shown->len < epoch)
    {
      gboolean last = log->shown->len > 0 ? g_array_index (log->shown, gboolean, log->shown->len - 1) : FALSE;
      g_array_append_val (log->shown, last);
    }
  g_array_index (log->shown, gboolean, epoch - 1) = shown;
}

/* A real run that overfits: the page explains each overfitting epoch in words while it trains,
 * and takes the advice back on an epoch that is not; the verdict's button turns augmentation on.
 * A project of its own (40 images, an MLP on 8×8 grey: 30 epochs in 0.3 s of CPU), whose trained
 * model does not become the other cases' model. */
static void
test_train_overfitting (void)
{
  BtTrainPage *page = window->train_page;
  g_autofree char *model_before = g_strdup (model_path);
  g_autofree char *dir = g_build_filename (project_dir, "overfit", NULL);
  g_autofree char *images = g_build_filename (project_dir, "overfit-images", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(BtProject) own = bt_project_create (dir, "Overfit", &error);
  g_autoptr(GRand) rand = g_rand_new_with_seed (7);
  AdviceLog log = { page, g_array_new (FALSE, TRUE, sizeof (gboolean)) };
  GtkWidget *advice = GTK_WIDGET (gtk_widget_get_template_child (GTK_WIDGET (page), BT_TYPE_TRAIN_PAGE, "advice_label"));
  BtProjectSettings s;
  GtkWidget *button;
  gulong id;
  guint n_flagged = 0, n_epochs;

  g_assert_no_error (error);
  bt_window_set_project (window, own);
  bt_project_settings_copy (&s, bt_project_get_settings (own));
  g_free (s.preset);
  s.preset = g_strdup ("mlp");
  s.width = s.height = 8;
  s.channels = 1;
  s.epochs = 30;
  s.batch_size = 64;
  s.learning_rate = 0.003;
  s.dropout = 0;
  s.split_train = 50;
  s.split_val = 50;
  s.split_test = 0;
  s.early_stopping_patience = 0;
  g_assert_true (bt_project_update_settings (own, &s, &error));
  bt_project_settings_clear (&s);
  write_noise_class (images, "left", TRUE, rand);
  write_noise_class (images, "right", FALSE, rand);

  id = g_signal_connect (advice, "notify::label", G_CALLBACK (advice_changed_cb), &log);
  bt_window_set_page (window, "train");
  bt_test_click_button (GTK_WIDGET (page), "Train");
  BT_TEST_WAIT (bt_train_page_is_busy (page));
  wait_for (not_busy, NULL);
  g_signal_handler_disconnect (advice, id);

  /* the advice after each epoch is the trainer's overfitting flag in the run's metrics.csv */
  {
    g_autofree char *path = g_build_filename (bt_trainer_get_run_dir (bt_train_page_get_trainer (page)),
                                              "metrics.csv", NULL);
    g_autofree char *csv = NULL;
    g_auto(GStrv) lines = NULL;
    g_autoptr(GString) flags = g_string_new (NULL), said = g_string_new (NULL);

    g_assert_true (g_file_get_contents (path, &csv, NULL, &error));
    lines = g_strsplit (csv, "\n", -1);
    n_epochs = g_strv_length (lines) - 2;
    g_assert_cmpuint (n_epochs, ==, 30);
    g_assert_true (g_str_has_suffix (lines[0], ",overfitting"));
    for (guint e = 1; e <= n_epochs; e++)
      {
        gboolean flag = g_str_has_suffix (lines[e], ",1");
        gboolean shown = e <= log.shown->len ? g_array_index (log.shown, gboolean, e - 1)
                                             : log.shown->len > 0 && g_array_index (log.shown, gboolean, log.shown->len - 1);
        g_string_append_c (flags, flag ? '1' : '0');
        g_string_append_c (said, shown ? '1' : '0');
        n_flagged += flag;
      }
    g_test_message ("overfitting per epoch %s, advice %s", flags->str, said->str);
    g_assert_cmpstr (said->str, ==, flags->str);
    g_assert_cmpuint (n_flagged, >, 0);
    g_assert_nonnull (strstr (flags->str, "10"));   /* taken back once */
  }
  g_assert_cmpint (bt_trainer_get_verdict (bt_train_page_get_trainer (page))->kind, ==, BT_VERDICT_OVERFITTING);
  g_assert_cmpfloat (bt_chart_get_best_x (bt_train_page_get_loss_chart (page)), ==,
                     bt_trainer_get_verdict (bt_train_page_get_trainer (page))->best_epoch);
  button = bt_test_find_action_button (GTK_WIDGET (page), "train.apply-verdict", FALSE);
  g_assert_true (gtk_widget_get_visible (button) && gtk_widget_is_sensitive (button));
  g_assert_cmpstr (gtk_button_get_label (GTK_BUTTON (button)), ==, "Turn on augmentation");
  bt_test_screenshot (GTK_WIDGET (window), "train-page-overfitting.png");
  g_assert_false (bt_project_get_settings (own)->augment_flip);
  bt_test_click (button);
  g_assert_true (bt_project_get_settings (own)->augment_flip);

  /* the pages go back to the project the other cases use, its runs (listed on a worker: train/run
   * counted them before they came, BT_TEST_SHUFFLE=5) and its model */
  bt_window_set_project (window, project);
  wait_for (runs_listed, NULL);
  g_free (model_path);
  model_path = g_steal_pointer (&model_before);
  g_array_unref (log.shown);
}

/* Evaluated, and no newer model (the stopped run's) still on its way to replace it. */
static gboolean
evaluated (gpointer data)
{
  return !bt_evaluate_page_is_busy (window->evaluate_page) &&
         bt_evaluate_page_get_evaluation (window->evaluate_page) != NULL;
}

/* The gallery: the homogeneous flow box (the trust panel below it has one of its own). */
static GtkWidget *
find_gallery (GtkWidget *root)
{
  for (GtkWidget *c = gtk_widget_get_first_child (root); c; c = gtk_widget_get_next_sibling (c))
    {
      GtkWidget *found;
      if (GTK_IS_FLOW_BOX (c) && gtk_flow_box_get_homogeneous (GTK_FLOW_BOX (c)))
        return c;
      if ((found = find_gallery (c)))
        return found;
    }
  return NULL;
}

/* The gallery card of bt_evaluate_page_get_gallery_item (page, 0). */
static GtkWidget *
first_gallery_card (BtEvaluatePage *page)
{
  GtkWidget *gallery = find_gallery (GTK_WIDGET (page));
  g_assert_nonnull (gallery);
  GtkFlowBoxChild *child = gtk_flow_box_get_child_at_index (GTK_FLOW_BOX (gallery), 0);
  g_assert_nonnull (child);
  return GTK_WIDGET (child);
}

/* Everything queued dispatched, then one frame laid out and painted. */
static void
laid_out (GtkWidget *toplevel)
{
  bt_test_painted_frame (toplevel);
  bt_test_drain ();
}

static void
test_evaluate (void)
{
  BtEvaluatePage *page = window->evaluate_page;
  const BtEvaluation *ev;
  g_autoptr(BtSplitView) view = bt_project_split_view (project, BT_SPLIT_TEST);
  guint total = 0;
  int row = -1, col = -1;
  const BtMistake *m;
  const char *target = NULL;
  g_autoptr(GError) error = NULL;
  BtItem *item;

  ensure_model ();
  bt_window_set_page (window, "evaluate");
  wait_for (evaluated, NULL);
  /* Evaluate again, as a person does after changing the data: the button starts a run */
  bt_test_click_button (GTK_WIDGET (page), "Evaluate");
  g_assert_true (bt_evaluate_page_is_busy (page));
  wait_for (evaluated, NULL);
  ev = bt_evaluate_page_get_evaluation (page);

  /* the matrix counts every test image once */
  for (int i = 0; i < ev->n_classes * ev->n_classes; i++)
    total += ev->confusion[i];
  g_assert_cmpuint (total, ==, ev->n);
  g_assert_cmpuint (ev->n + ev->n_skipped, ==, view->n);
  for (int r = 0; r < ev->n_classes; r++)
    for (int c = 0; c < ev->n_classes; c++)
      g_assert_cmpuint (bt_confusion_matrix_get_count (bt_evaluate_page_get_matrix (page), r, c), ==,
                        ev->confusion[r * ev->n_classes + c]);

  /* a mistake cell if there is one, else the fullest cell */
  for (int r = 0; r < ev->n_classes; r++)
    for (int c = 0; c < ev->n_classes; c++)
      if (ev->confusion[r * ev->n_classes + c] > 0 &&
          (row < 0 || (r != c && row == col) ||
           ((r != c) == (row != col) && ev->confusion[r * ev->n_classes + c] > ev->confusion[row * ev->n_classes + col])))
        {
          row = r;
          col = c;
        }
  g_assert_cmpint (row, >=, 0);
  {
    /* a click in the middle of that cell shows its images, and the matrix stays where it was:
     * same place in the window, same size (#21: it jumped when the gallery opened) */
    GtkWidget *matrix = GTK_WIDGET (bt_evaluate_page_get_matrix (page));
    graphene_rect_t area, before, after;
    /* a window the page fits in until the gallery opens: the gallery then makes it scroll */
    GtkWidget *sw = gtk_widget_get_ancestor (matrix, GTK_TYPE_SCROLLED_WINDOW);
    GtkAdjustment *adj = gtk_scrolled_window_get_vadjustment (GTK_SCROLLED_WINDOW (sw));
    gtk_window_set_default_size (GTK_WINDOW (window), 1200, 990);
    bt_evaluate_page_show_cell (page, -1, -1);
    laid_out (GTK_WIDGET (window));
    if (gtk_adjustment_get_upper (adj) > gtk_adjustment_get_page_size (adj))
      {
        /* the page grew since this size was chosen: just tall enough for it */
        gtk_window_set_default_size (GTK_WINDOW (window), 1200,
                                     990 + (int) ceil (gtk_adjustment_get_upper (adj) - gtk_adjustment_get_page_size (adj)));
        laid_out (GTK_WIDGET (window));
      }
    g_assert_true (gtk_widget_compute_bounds (matrix, GTK_WIDGET (window), &before));
    g_test_message ("page %.0f px in a %.0f px window", gtk_adjustment_get_upper (adj),
                    gtk_adjustment_get_page_size (adj));
    g_assert_cmpfloat (gtk_adjustment_get_upper (adj), <=, gtk_adjustment_get_page_size (adj));
    g_assert_true (bt_confusion_matrix_get_cell_area (BT_CONFUSION_MATRIX (matrix), gtk_widget_get_width (matrix),
                                                      gtk_widget_get_height (matrix), row, col, &area));
    bt_test_click_at (matrix, area.origin.x + area.size.width / 2, area.origin.y + area.size.height / 2);
    laid_out (GTK_WIDGET (window));
    g_assert_true (gtk_widget_compute_bounds (matrix, GTK_WIDGET (window), &after));
    g_test_message ("matrix before the gallery: %.0f,%.0f %.0f×%.0f; after: %.0f,%.0f %.0f×%.0f",
                    before.origin.x, before.origin.y, before.size.width, before.size.height,
                    after.origin.x, after.origin.y, after.size.width, after.size.height);
    g_assert_cmpfloat (fabs (after.origin.x - before.origin.x), <, 0.5);
    g_assert_cmpfloat (fabs (after.origin.y - before.origin.y), <, 0.5);
    g_assert_cmpfloat (fabs (after.size.width - before.size.width), <, 0.5);
    g_assert_cmpfloat (fabs (after.size.height - before.size.height), <, 0.5);
    g_assert_cmpfloat (gtk_adjustment_get_upper (adj), >, gtk_adjustment_get_page_size (adj));
    gtk_window_set_default_size (GTK_WINDOW (window), 1200, 820);
  }
  g_assert_cmpuint (bt_evaluate_page_get_gallery_size (page), ==, ev->confusion[row * ev->n_classes + col]);
  for (guint i = 0; i < bt_evaluate_page_get_gallery_size (page); i++)
    {
      m = bt_evaluate_page_get_gallery_item (page, i);
      g_assert_cmpint (m->true_class, ==, row);
      g_assert_cmpint (m->pred_class, ==, col);
      if (i > 0)
        g_assert_cmpfloat (m->confidence, <=, bt_evaluate_page_get_gallery_item (page, i - 1)->confidence);
    }
  /* a small test set says how little its accuracy proves (a Wilson 95% interval) */
  {
    GtkLabel *caveat = GTK_LABEL (gtk_widget_get_template_child (GTK_WIDGET (page), BT_TYPE_EVALUATE_PAGE, "caveat_label"));
    GtkLabel *summary = GTK_LABEL (gtk_widget_get_template_child (GTK_WIDGET (page), BT_TYPE_EVALUATE_PAGE, "summary_label"));
    guint correct = 0;
    double z = 1.959964, p, d, c, h;
    g_autofree char *range = NULL;

    for (int k = 0; k < ev->n_classes; k++)
      correct += ev->confusion[k * ev->n_classes + k];
    p = (double) correct / ev->n;
    d = 1 + z * z / ev->n;
    c = (p + z * z / (2.0 * ev->n)) / d;
    h = z * sqrt (p * (1 - p) / ev->n + z * z / (4.0 * ev->n * ev->n)) / d;
    range = g_strdup_printf ("%.0f%%–%.0f%%", 100 * MAX (0, c - h), 100 * MIN (1, c + h));
    g_assert_nonnull (strstr (gtk_label_get_text (summary), range));
    g_assert_cmpint (gtk_widget_get_visible (GTK_WIDGET (caveat)), ==, ev->n < 50);
    if (ev->n < 50)
      g_assert_nonnull (strstr (gtk_label_get_text (caveat), "Only"));
  }
  bt_test_screenshot (GTK_WIDGET (window), "evaluate-page.png");

  /* relabel the first image of the cell from the gallery: the project changes at once */
  m = bt_evaluate_page_get_gallery_item (page, 0);
  for (int k = 0; k < ev->n_classes; k++)
    if (k != m->true_class)
      {
        target = ev->class_names[k];
        break;
      }
  {
    /* "Move to" on the image's card, then the class in its menu */
    GtkWidget *card = first_gallery_card (page);
    GtkWidget *move = bt_test_find_button (card, "Move to");
    g_assert_nonnull (move);
    bt_test_click (move);
    BT_TEST_WAIT (bt_test_find_button (move, target) != NULL);
    bt_test_click (bt_test_find_button (move, target));
  }
  item = bt_project_find_item (project, m->path);
  g_assert_nonnull (item);
  g_assert_cmpstr (bt_item_get_class_name (item), ==, target);
  {
    g_assert_true (bt_project_flush (project, &error));  /* saves run on a writer thread */
    g_autoptr(BtProject) reopened = bt_project_open (project_dir, &error);
    g_assert_no_error (error);
    g_assert_cmpstr (bt_item_get_class_name (bt_project_find_item (reopened, m->path)), ==, target);
  }
  /* and excluding takes it out of the gallery */
  {
    guint before = bt_evaluate_page_get_gallery_size (page);
    g_autofree char *path = g_strdup (m->path);
    GtkWidget *exclude = bt_test_find_button (first_gallery_card (page),
                                              "Exclude this image from training and evaluation");
    g_assert_nonnull (exclude);
    bt_test_click (exclude);
    g_assert_cmpuint (bt_evaluate_page_get_gallery_size (page), ==, before - 1);
    g_assert_true (bt_item_get_excluded (bt_project_find_item (project, path)));

    /* the page's Undo button brings it back; Ctrl+Z then undoes the relabel too */
    GtkWidget *undo = bt_test_find_labelled_button (GTK_WIDGET (page), "_Undo");
    g_assert_nonnull (undo);
    bt_test_click (undo);
    g_assert_false (bt_item_get_excluded (bt_project_find_item (project, path)));
    gtk_widget_grab_focus (GTK_WIDGET (page));
    gtk_widget_child_focus (GTK_WIDGET (page), GTK_DIR_TAB_FORWARD);
    g_assert_true (bt_test_shortcut_key (GTK_WINDOW (window), GDK_KEY_z, GDK_CONTROL_MASK));
    g_assert_cmpstr (bt_item_get_class_name (bt_project_find_item (project, path)), ==, ev->class_names[m->true_class]);
    g_assert_true (bt_project_flush (project, &error));
    g_autoptr(BtProject) reopened = bt_project_open (project_dir, &error);
    g_assert_no_error (error);
    g_assert_cmpstr (bt_item_get_class_name (bt_project_find_item (reopened, path)), ==,
                     ev->class_names[m->true_class]);
  }
}

static gboolean
test_model_ready (gpointer data)
{
  /* the newest model loaded, and no listing still on its way to reload it (and clear results) */
  return g_strcmp0 (bt_test_page_get_model_path (window->test_page), model_path) == 0 &&
         !bt_test_page_is_busy (window->test_page);
}

static gboolean
has_results (gpointer data)
{
  return bt_test_page_get_n_results (window->test_page) >= GPOINTER_TO_UINT (data);
}

static const char *
test_page_label (const char *name)
{
  return gtk_label_get_text (GTK_LABEL (gtk_widget_get_template_child (GTK_WIDGET (window->test_page),
                                                                       BT_TYPE_TEST_PAGE, name)));
}

static gboolean
test_page_idle (gpointer data)
{
  return !bt_test_page_is_busy (window->test_page);
}

/* A star of the Shapes sample (its first file). */
static char *
star_image (void)
{
  g_autofree char *images = g_build_filename (project_dir, "images", "star", NULL);
  g_autoptr(GDir) dir = g_dir_open (images, 0, NULL);
  g_assert_nonnull (dir);
  return g_build_filename (images, g_dir_read_name (dir), NULL);
}

/* Opens path on the Test page (what Open Model File… does with the chosen file). */
static void
open_model_file (const char *path)
{
  g_autoptr(GFile) file = g_file_new_for_path (path);
  bt_test_page_open_model_file (window->test_page, file);
  wait_for (test_page_idle, NULL);
}

/* Drops image on the Test page and waits for its bars. */
static void
drop_image (const char *image)
{
  const char *paths[] = { image, NULL };
  guint before = bt_test_page_get_n_results (window->test_page);
  g_assert_true (bt_test_drop_files (GTK_WIDGET (window->test_page), paths));
  wait_for (has_results, GUINT_TO_POINTER (before + 1));
}

/* #21: a .tflite classifier Bottega exported opens on the Test page and predicts as its model
 * does, with its class names; a file without names says so; a broken one says why. */
static void
test_open_tflite (void)
{
  BtTestPage *page = window->test_page;
  BtProbabilityBars *bars = bt_test_page_get_bars (page);
  g_autofree char *image = star_image ();
  g_autofree char *tflite = g_build_filename (project_dir, "exported.tflite", NULL);
  g_autofree char *broken = g_build_filename (project_dir, "broken.tflite", NULL);
  g_autofree char *bytes = NULL, *verdict = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(BtModel) model = NULL;
  g_autofree float *want = NULL;
  gsize len;
  int top = 0;

  ensure_model ();
  bt_window_set_page (window, "test");
  wait_for (test_model_ready, NULL);
  model = bt_model_load (model_path, &error);
  g_assert_no_error (error);
  g_assert_true (bt_tflite_export_model (model, NULL, NULL, tflite, &error));
  g_assert_no_error (error);

  open_model_file (tflite);
  g_assert_cmpstr (bt_test_page_get_model_path (page), ==, tflite);
  g_test_message ("status: %s", test_page_label ("status_label"));
  g_assert_cmpstr (test_page_label ("status_label"), ==, "");   /* names and recipe in the file */
  drop_image (image);
  /* the file holds the model's calibrated probabilities (its temperature folded in), without
   * the mirrored copy of test-time augmentation */
  g_test_message ("the model's temperature %.3f, test-time augmentation %d", model->calib.temperature, model->tta);
  g_assert_cmpfloat (fabs (model->calib.temperature - 1.0), >, 0.01);
  model->tta = BT_TTA_NONE;
  want = bt_predict_file (model, image, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (bt_probability_bars_get_n (bars), ==, bt_net_n_classes (model->net));
  for (int k = 0; k < bt_net_n_classes (model->net); k++)
    {
      g_test_message ("%s: tflite %.6f, model %.6f", model->class_names[k],
                      bt_probability_bars_get_probability (bars, k), want[k]);
      g_assert_cmpfloat_with_epsilon (bt_probability_bars_get_probability (bars, k), want[k], 1e-4);
      if (want[k] > want[top])
        top = k;
    }
  verdict = g_strdup_printf ("%s (", model->class_names[top]);
  g_assert_true (g_str_has_prefix (test_page_label ("verdict_label"), verdict));
  bt_test_screenshot (GTK_WIDGET (window), "test-page-tflite.png");
  /* with a saved threshold above the top class's probability, the file's "thresholds" entry
   * holds the answer back as the model does (the old reader ignored it and named the class) */
  {
    g_autofree char *held = g_build_filename (project_dir, "held-back.tflite", NULL);
    g_autofree char *want_verdict = NULL;
    double t = (want[top] + 1) / 2;
    g_assert_true (bt_model_set_threshold (model, top, t, &error));
    g_assert_true (bt_tflite_export_model (model, NULL, NULL, held, &error));
    g_assert_no_error (error);
    open_model_file (held);
    drop_image (image);
    want_verdict = g_strdup_printf ("%s (%.1f%%) is below its saved threshold of %.0f%%: not accepted",
                                    model->class_names[top], 100.0 * bt_probability_bars_get_probability (bars, top),
                                    100.0 * (float) t);
    g_test_message ("verdict: %s", test_page_label ("verdict_label"));
    g_assert_cmpstr (test_page_label ("verdict_label"), ==, want_verdict);
    bt_test_screenshot (GTK_WIDGET (window), "test-page-tflite-threshold.png");
    if (g_getenv ("BT_SCREENSHOT_DIR") != NULL)
      {
        gtk_window_set_default_size (GTK_WINDOW (window), 800, 600);
        BT_TEST_WAIT (gtk_widget_get_width (GTK_WIDGET (window)) <= 800);
        bt_test_screenshot (GTK_WIDGET (window), "test-page-tflite-threshold-800x600.png");
        gtk_window_set_default_size (GTK_WINDOW (window), 1200, 820);
      }
    g_assert_true (bt_model_set_threshold (model, top, NAN, &error));
  }
  /* a .tflite has no heat maps: "Show what it looked at" cannot be switched on, and says why */
  {
    BtExplainBar *bar = BT_EXPLAIN_BAR (bt_test_find_type (GTK_WIDGET (page), BT_TYPE_EXPLAIN_BAR));
    GtkWidget *toggle = bt_explain_bar_get_toggle (bar);
    g_assert_false (gtk_widget_get_sensitive (toggle));
    g_assert_nonnull (strstr (gtk_widget_get_tooltip_text (toggle), ".tflite"));
  }

  /* a truncated file: a clear reason, no model */
  g_assert_true (g_file_get_contents (tflite, &bytes, &len, NULL));
  g_assert_true (g_file_set_contents (broken, bytes, (gssize) (len / 2), NULL));
  open_model_file (broken);
  g_test_message ("status: %s", test_page_label ("status_label"));
  g_assert_true (g_str_has_prefix (test_page_label ("status_label"), "This TensorFlow Lite file cannot be used: "));
  g_assert_null (bt_test_page_get_model_path (page));
  g_assert_cmpuint (bt_test_page_get_n_results (page), ==, 0);
  {
    /* and a drop does nothing without a model */
    const char *paths[] = { image, NULL };
    bt_test_drop_files (GTK_WIDGET (page), paths);
    wait_for (test_page_idle, NULL);
    g_assert_cmpuint (bt_test_page_get_n_results (page), ==, 0);
  }

  /* a classifier without class names (a pretrained ImageNet one): numbered, and said so */
  {
    g_autofree char *imagenet = bt_test_shared_file ("models", "mobilenet_v1_0.5_160_quant.tflite");
    g_autofree char *cat = bt_test_shared_file ("images", "cat.bmp");
    if (imagenet != NULL && cat != NULL)
      {
        open_model_file (imagenet);
        g_test_message ("status: %s", test_page_label ("status_label"));
        g_assert_nonnull (strstr (test_page_label ("status_label"), "no class names: its 1001 classes are numbered"));
        drop_image (cat);
        /* index 286, Egyptian cat (../shared/models/README.md): "Class 287" counting from 1 */
        g_test_message ("verdict: %s", test_page_label ("verdict_label"));
        g_assert_nonnull (strstr (test_page_label ("status_label"), "no class names"));
        g_assert_true (g_str_has_prefix (test_page_label ("verdict_label"), "Class 287 ("));
        bt_test_screenshot (GTK_WIDGET (window), "test-page-tflite-numbered.png");
      }
    else
      g_test_message ("../shared models or images not found: the unnamed-classes case is skipped");
  }
  /* back to the project's models for the tests after this one; heat maps are offered again */
  bt_test_page_reload_models (page);
  wait_for (test_model_ready, NULL);
  drop_image (image);
  g_assert_true (gtk_widget_get_sensitive (
    bt_explain_bar_get_toggle (BT_EXPLAIN_BAR (bt_test_find_type (GTK_WIDGET (page), BT_TYPE_EXPLAIN_BAR)))));

  /* #20: the same photo dragged from a web browser as pixels (a texture, no file): classified
   * like a pasted image, with the file's probabilities (PNG keeps the pixels exactly; a pasted
   * image is decoded in colour and then made the model's input, a file straight to it, which
   * moves the probabilities by 4e-4 here) */
  {
    guint k = bt_probability_bars_get_n (bars), before = bt_test_page_get_n_results (page);
    g_autofree double *from_file = g_new (double, k);
    g_autoptr(GdkTexture) texture = gdk_texture_new_from_filename (image, &error);
    g_autoptr(GdkContentProvider) content = NULL;

    g_assert_no_error (error);
    for (guint c = 0; c < k; c++)
      from_file[c] = bt_probability_bars_get_probability (bars, c);
    content = gdk_content_provider_new_typed (GDK_TYPE_TEXTURE, texture);
    g_assert_true (bt_test_drop (GTK_WIDGET (page), content, 20, 20));
    wait_for (has_results, GUINT_TO_POINTER (before + 1));
    g_assert_null (bt_test_page_get_result_path (page, before));   /* no file behind it */
    g_assert_cmpuint (bt_probability_bars_get_n (bars), ==, k);
    for (guint c = 0; c < k; c++)
      g_assert_cmpfloat_with_epsilon (bt_probability_bars_get_probability (bars, c), from_file[c], 2e-3);
  }
}

/* Opens the Test page's correction menu and clicks the item of a class (the popover's items are
 * the project's classes). */
static void
choose_correction (GtkMenuButton *correct, const char *class_name)
{
  GtkWidget *menu = GTK_WIDGET (gtk_menu_button_get_popover (correct));

  bt_test_click (GTK_WIDGET (correct));
  BT_TEST_WAIT (gtk_widget_get_mapped (menu));
  bt_test_click_button (menu, class_name);
  BT_TEST_WAIT (!gtk_widget_get_mapped (menu));
}

static void
test_test_page (void)
{
  BtTestPage *page = window->test_page;
  BtProbabilityBars *bars = bt_test_page_get_bars (page);
  g_autofree char *path = star_image ();
  g_autoptr(GError) error = NULL;
  g_autoptr(BtModel) model = NULL;
  g_autofree float *want = NULL;
  double sum = 0;
  guint n;

  ensure_model ();
  bt_window_set_page (window, "test");
  wait_for (test_model_ready, NULL);   /* the newest model is the default */

  /* an image dropped on the page */
  guint before = bt_test_page_get_n_results (page);
  {
    const char *paths[] = { path, NULL };
    g_assert_true (bt_test_drop_files (GTK_WIDGET (page), paths));
  }
  wait_for (has_results, GUINT_TO_POINTER (before + 1));
  n = bt_probability_bars_get_n (bars);
  g_assert_cmpuint (n, ==, 4);
  for (guint k = 0; k < n; k++)
    sum += bt_probability_bars_get_probability (bars, k);
  g_assert_cmpfloat_with_epsilon (sum, 1.0, 1e-4);

  /* same numbers, same order as predicting the file directly with the model */
  model = bt_model_load (model_path, &error);
  g_assert_no_error (error);
  want = bt_predict_file (model, path, &error);
  g_assert_no_error (error);
  for (guint k = 0; k < n; k++)
    g_assert_cmpfloat_with_epsilon (bt_probability_bars_get_probability (bars, k), want[k], 1e-5);
  for (guint row = 1; row < n; row++)
    g_assert_cmpfloat (want[bt_probability_bars_get_class_at_row (bars, row)], <=,
                       want[bt_probability_bars_get_class_at_row (bars, row - 1)]);

  /* and the same order as `bottega-cli predict` prints for this model and image */
  {
    g_autofree char *cli = g_build_filename (g_getenv ("BOTTEGA_BUILD_ROOT") ? g_getenv ("BOTTEGA_BUILD_ROOT") : ".",
                                             "src", "cli", "bottega-cli", NULL);
    const char *cli_argv[] = { cli, "predict", model_path, path, NULL };
    g_autofree char *out = NULL;
    int status = -1;

    if (g_file_test (cli, G_FILE_TEST_IS_EXECUTABLE) &&
        g_spawn_sync (NULL, (char **) cli_argv, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out, NULL,
                      &status, NULL) && g_spawn_check_wait_status (status, NULL))
      {
        g_auto(GStrv) lines = g_strsplit (g_strstrip (out), "\n", -1);
        const BtModel *m = model;
        g_assert_cmpuint (g_strv_length (lines), ==, n);
        for (guint row = 0; row < n; row++)
          {
            g_auto(GStrv) f = g_strsplit (lines[row], " ", 2);
            int k = bt_probability_bars_get_class_at_row (bars, row);
            g_assert_cmpstr (f[0], ==, m->class_names[k]);
            g_assert_cmpfloat_with_epsilon (g_ascii_strtod (f[1], NULL), bt_probability_bars_get_probability (bars, k), 1e-5);
          }
      }
    else
      g_test_message ("bottega-cli predict not available; compared with bt_predict_file only");
  }

  bt_test_screenshot (GTK_WIDGET (window), "test-page.png");

  /* a file that is no image gets a row with the reason, not a crash */
  {
    g_autofree char *bogus = g_build_filename (project_dir, "project.ini", NULL);
    const char *paths[] = { bogus, NULL };
    g_autofree char *csv = NULL;
    g_assert_true (bt_test_drop_files (GTK_WIDGET (page), paths));
    wait_for (has_results, GUINT_TO_POINTER (before + 2));
    csv = bt_test_page_dup_results_csv (page);
    g_assert_nonnull (strstr (csv, "path,top_class,confidence"));
    g_assert_nonnull (strstr (csv, "project.ini,,"));
  }

  /* #23: images unlike the shapes (uniform noise, black, white) against the model's unknown
   * threshold: the verdict says "Not one of your classes" exactly when the score is above it */
  g_assert_true (isfinite (model->calib.unknown_threshold));
  for (int kind = 0; kind < 3; kind++)
    {
      g_autofree char *name = g_strdup_printf ("far-out-%d.png", kind);
      g_autofree char *far = g_build_filename (project_dir, name, NULL);
      g_autoptr(GdkPixbuf) pb = gdk_pixbuf_new (GDK_COLORSPACE_RGB, FALSE, 8, 48, 48);
      g_autoptr(GRand) rand = g_rand_new_with_seed (3);
      g_autofree float *probs = NULL;
      guint8 *px = gdk_pixbuf_get_pixels (pb);
      double score = NAN;
      gboolean unknown;

      for (int i = 0; i < gdk_pixbuf_get_rowstride (pb) * 48; i++)
        px[i] = kind == 0 ? (guint8) g_rand_int_range (rand, 0, 256) : kind == 1 ? 0 : 255;
      g_assert_true (gdk_pixbuf_save (pb, far, "png", &error, NULL));
      probs = bt_predict_file_scored (model, far, &score, &error);
      g_assert_no_error (error);
      unknown = bt_calibration_is_unknown (&model->calib, score);
      g_test_message ("far-out %d: unknown score %.3f, threshold %.3f", kind, score,
                      model->calib.unknown_threshold);
      {
        const char *paths[] = { far, NULL };
        g_assert_true (bt_test_drop_files (GTK_WIDGET (page), paths));
      }
      wait_for (has_results, GUINT_TO_POINTER (before + 3 + kind));   /* after an earlier case's rows too */
      bt_test_drain ();
      g_assert_true ((find_label_prefix (GTK_WIDGET (page), "Not one of your classes (") != NULL) == unknown);
    }
  /* the threshold rejects ~5% of the validation images, so some shapes are above it too: the
   * first one found must be shown as unknown, with its scores */
  {
    const char *classes[] = { "circle", "square", "triangle", "star" };
    g_autofree char *found = NULL;
    for (guint c = 0; found == NULL && c < G_N_ELEMENTS (classes); c++)
      {
        g_autofree char *cdir = g_build_filename (project_dir, "images", classes[c], NULL);
        g_autoptr(GDir) d = g_dir_open (cdir, 0, NULL);
        const char *name;
        while (found == NULL && d != NULL && (name = g_dir_read_name (d)) != NULL)
          {
            g_autofree char *p = g_build_filename (cdir, name, NULL);
            g_autofree float *probs = NULL;
            double score = NAN;
            probs = bt_predict_file_scored (model, p, &score, NULL);
            if (probs != NULL && bt_calibration_is_unknown (&model->calib, score))
              found = g_steal_pointer (&p);
          }
      }
    if (found != NULL)
      {
        const char *paths[] = { found, NULL };
        g_assert_true (bt_test_drop_files (GTK_WIDGET (page), paths));
        wait_for (has_results, GUINT_TO_POINTER (6));
        bt_test_drain ();
        g_assert_nonnull (find_label_prefix (GTK_WIDGET (page), "Not one of your classes ("));
        g_assert_cmpuint (bt_probability_bars_get_n (bars), ==, 4);   /* the scores stay visible */
        bt_test_screenshot (GTK_WIDGET (window), "test-page-unknown.png");
      }
    else
      g_test_message ("no project image is above the unknown threshold; the unknown verdict was not shown");
  }
  /* a folder of class folders: counts per class, mean confidence, and accuracy by folder name */
  {
    g_autofree char *images = g_build_filename (project_dir, "images", NULL);
    g_autoptr(GFile) folder = g_file_new_for_path (images);
    GtkLabel *summary = GTK_LABEL (gtk_widget_get_template_child (GTK_WIDGET (page), BT_TYPE_TEST_PAGE, "folder_summary"));
    guint n_images = g_list_model_get_n_items (bt_project_get_items (project));
    g_autofree char *right = g_strdup_printf ("of %u images right", n_images);

    bt_test_click_button (GTK_WIDGET (page), "Test a Folder…");
    answer_chooser (folder, "Classify");
    wait_for (has_results, GUINT_TO_POINTER (n_images));
    g_assert_cmpuint (bt_test_page_get_n_results (page), ==, n_images);
    g_assert_true (gtk_widget_get_visible (GTK_WIDGET (summary)));
    g_assert_nonnull (strstr (gtk_label_get_text (summary), "mean confidence"));
    g_assert_nonnull (strstr (gtk_label_get_text (summary), right));
  }

  /* "Correct It" on a project image fixes its label (undoable); on an image from elsewhere it
   * copies it into images/<class>/ and adds it */
  {
    GtkListBox *list = GTK_LIST_BOX (gtk_widget_get_template_child (GTK_WIDGET (page), BT_TYPE_TEST_PAGE, "results_list"));
    GtkMenuButton *correct = GTK_MENU_BUTTON (gtk_widget_get_template_child (GTK_WIDGET (page), BT_TYPE_TEST_PAGE, "correct_button"));
    guint n_items_before = g_list_model_get_n_items (bt_project_get_items (project));
    g_autofree char *copy_dir = g_build_filename (project_dir, "images", "circle", NULL);
    g_autofree char *outside_dir = g_dir_make_tmp ("bt-pages-outside-XXXXXX", NULL);
    g_autofree char *outside = g_build_filename (outside_dir, "found.png", NULL);
    g_autoptr(BtItem) first = g_list_model_get_item (bt_project_get_items (project), 0);
    g_autofree char *first_path = g_strdup (bt_item_get_path (first));
    g_autofree char *first_class = g_strdup (bt_item_get_class_name (first));
    const char *other = g_str_equal (first_class, "square") ? "circle" : "square";
    gboolean found = FALSE;
    guint row = 0;

    for (guint i = 0; i < bt_test_page_get_n_results (page); i++)
      if (g_strcmp0 (bt_test_page_get_result_path (page, i), first_path) == 0)
        row = i;
    gtk_list_box_select_row (list, gtk_list_box_get_row_at_index (list, row));
    g_assert_true (gtk_widget_get_visible (GTK_WIDGET (correct)));
    g_assert_cmpint (g_menu_model_get_n_items (gtk_menu_button_get_menu_model (correct)), ==, 4);
    /* a class chosen in its menu */
    choose_correction (correct, other);
    g_assert_cmpstr (bt_item_get_class_name (bt_project_find_item (project, first_path)), ==, other);
    g_assert_cmpuint (g_list_model_get_n_items (bt_project_get_items (project)), ==, n_items_before);
    g_assert_true (bt_undo_stack_can_undo (bt_undo_stack_get (project)));
    g_assert_false (gtk_widget_get_visible (GTK_WIDGET (correct)));   /* once is enough */
    g_assert_true (bt_undo_stack_undo (bt_undo_stack_get (project), NULL));
    g_assert_cmpstr (bt_item_get_class_name (bt_project_find_item (project, first_path)), ==, first_class);

    {
      /* a picture from elsewhere: new content, so not a duplicate of a project image */
      g_autofree guint8 *pixels = g_malloc (24 * 24 * 3);
      g_autoptr(GBytes) bytes = NULL;
      g_autoptr(GdkTexture) texture = NULL;

      for (guint i = 0; i < 24 * 24 * 3; i++)
        pixels[i] = (guint8) (i * 37 + 11);
      bytes = g_bytes_new_take (g_steal_pointer (&pixels), 24 * 24 * 3);
      texture = gdk_memory_texture_new (24, 24, GDK_MEMORY_R8G8B8, bytes, 24 * 3);
      g_assert_true (gdk_texture_save_to_png (texture, outside));
    }
    {
      guint n_want = bt_test_page_get_n_results (page) + 1;
      const char *paths[] = { outside, NULL };
      g_assert_true (bt_test_drop_files (GTK_WIDGET (page), paths));
      wait_for (has_results, GUINT_TO_POINTER (n_want));
    }
    gtk_list_box_select_row (list, gtk_list_box_get_row_at_index (list, bt_test_page_get_n_results (page) - 1));
    g_assert_true (gtk_widget_get_visible (GTK_WIDGET (correct)));
    choose_correction (correct, "circle");
    BT_TEST_WAIT (g_list_model_get_n_items (bt_project_get_items (project)) != n_items_before);
    g_assert_cmpuint (g_list_model_get_n_items (bt_project_get_items (project)), ==, n_items_before + 1);
    for (guint i = 0; i < n_items_before + 1; i++)
      {
        g_autoptr(BtItem) item = g_list_model_get_item (bt_project_get_items (project), i);
        g_autofree char *base = g_path_get_basename (bt_item_get_path (item));
        g_autofree char *parent = g_path_get_dirname (bt_item_get_path (item));
        if (g_str_equal (base, "from-testing-found.png"))
          {
            found = TRUE;
            g_assert_cmpstr (bt_item_get_class_name (item), ==, "circle");
            g_assert_cmpstr (parent, ==, copy_dir);
            g_assert_true (g_file_test (bt_item_get_path (item), G_FILE_TEST_IS_REGULAR));
          }
      }
    g_assert_true (found);
    g_assert_false (gtk_widget_get_visible (GTK_WIDGET (correct)));
    bt_test_screenshot (GTK_WIDGET (window), "test-page-corrected.png");
    bt_test_rm_rf (outside_dir);
  }

  /* Open Model File…: a model from anywhere joins the list; a .tflite that is not there gets a
   * reason (test_open_tflite opens real ones) */
  {
    g_autoptr(GFile) mf = g_file_new_for_path (model_path);
    g_autoptr(GFile) tf = g_file_new_for_path ("/nonexistent/backbone.tflite");
    GtkLabel *status = GTK_LABEL (gtk_widget_get_template_child (GTK_WIDGET (page), BT_TYPE_TEST_PAGE, "status_label"));

    bt_test_page_open_model_file (page, tf);
    wait_for (test_page_idle, NULL);
    g_test_message ("%s", gtk_label_get_text (status));
    g_assert_true (g_str_has_prefix (gtk_label_get_text (status), "This TensorFlow Lite file cannot be used: "));
    bt_test_page_open_model_file (page, mf);
    wait_for (test_model_ready, NULL);
  }
}

static GtkWindow *
find_chooser (GListModel *toplevels)
{
  for (guint i = 0; i < g_list_model_get_n_items (toplevels); i++)
    {
      g_autoptr(GtkWindow) w = g_list_model_get_item (toplevels, i);
      if (GTK_IS_FILE_CHOOSER (w) && gtk_widget_get_visible (GTK_WIDGET (w)))
        return w;
    }
  return NULL;
}

G_GNUC_BEGIN_IGNORE_DEPRECATIONS
static gboolean
chooser_has (GtkFileChooser *chooser, GFile *file)
{
  g_autoptr(GFile) selected = gtk_file_chooser_get_file (chooser);
  return selected != NULL && g_file_equal (selected, file);
}
G_GNUC_END_IGNORE_DEPRECATIONS

/* The chooser a button opened (in-process on GTK without a portal), answered like a person:
 * pick file, then click the accept button. */
static void
answer_chooser (GFile *file, const char *accept)
{
  GtkWindow *dialog = NULL;
  GListModel *toplevels = gtk_window_get_toplevels ();
  g_autoptr(GError) error = NULL;

  BT_TEST_WAIT ((dialog = find_chooser (toplevels)) != NULL && gtk_widget_get_mapped (GTK_WIDGET (dialog)));
  g_assert_true (gtk_window_get_transient_for (dialog) == GTK_WINDOW (window));
  G_GNUC_BEGIN_IGNORE_DEPRECATIONS
  g_assert_true (gtk_file_chooser_set_file (GTK_FILE_CHOOSER (dialog), file, &error));
  g_assert_no_error (error);
  BT_TEST_WAIT (chooser_has (GTK_FILE_CHOOSER (dialog), file));
  G_GNUC_END_IGNORE_DEPRECATIONS
  bt_test_click_button (GTK_WIDGET (dialog), accept);
  BT_TEST_WAIT (find_chooser (toplevels) == NULL);
}

/* Open Images…, Test a Folder…, Paste and Ctrl+V: each adds its results. */
static void
test_test_page_actions (void)
{
  BtTestPage *page = window->test_page;
  g_autofree char *folder = g_build_filename (project_dir, "images", "circle", NULL);
  g_autoptr(GFile) folder_file = g_file_new_for_path (folder);
  g_autoptr(GDir) dir = g_dir_open (folder, 0, NULL);
  g_autofree char *path = g_build_filename (folder, g_dir_read_name (dir), NULL);
  g_autoptr(GFile) file = g_file_new_for_path (path);
  guint n_images = 1, before;

  while (g_dir_read_name (dir))
    n_images++;
  ensure_model ();
  bt_window_set_page (window, "test");
  wait_for (test_model_ready, NULL);

  before = bt_test_page_get_n_results (page);
  bt_test_click_button (GTK_WIDGET (page), "Open Images…");
  answer_chooser (file, "Open");
  wait_for (has_results, GUINT_TO_POINTER (before + 1));

  /* a folder replaces the list with one row per image in it */
  bt_test_click_button (GTK_WIDGET (page), "Test a Folder…");
  answer_chooser (folder_file, "Classify");
  BT_TEST_WAIT (!bt_test_page_is_busy (page) && bt_test_page_get_n_results (page) == n_images);
  {
    g_autofree char *csv = bt_test_page_dup_results_csv (page);
    g_autofree char *base = g_path_get_basename (path);
    g_assert_nonnull (strstr (csv, base));
  }

  /* an image on the clipboard: the Paste button, then Ctrl+V */
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(GdkTexture) texture = gdk_texture_new_from_filename (path, &error);
    g_assert_no_error (error);
    gdk_clipboard_set_texture (gtk_widget_get_clipboard (GTK_WIDGET (page)), texture);
  }
  before = bt_test_page_get_n_results (page);
  bt_test_click_button (GTK_WIDGET (page), "Paste");
  wait_for (has_results, GUINT_TO_POINTER (before + 1));
  bt_test_press_key (GTK_WINDOW (window), GDK_KEY_v, GDK_CONTROL_MASK);
  wait_for (has_results, GUINT_TO_POINTER (before + 2));
  g_assert_cmpuint (bt_test_page_get_n_results (page), ==, before + 2);
}

static void
test_model_page_shot (void)
{
  BtModelPage *page = window->model_page;

  bt_window_set_page (window, "model");
  g_assert_true (gtk_widget_get_mapped (GTK_WIDGET (page)));
  BT_TEST_WAIT (!bt_model_page_is_busy (page) && bt_model_page_get_n_previews (page) > 0);
  /* what the network sees: the project's 24×24 grey samples, and the chosen preset's estimate */
  for (guint i = 0; i < bt_model_page_get_n_previews (page); i++)
    {
      GdkPaintable *p = bt_model_page_get_preview (page, i);
      g_assert_nonnull (p);
      g_assert_cmpint (gdk_paintable_get_intrinsic_width (p), ==, 24);
      g_assert_cmpint (gdk_paintable_get_intrinsic_height (p), ==, 24);
    }
  {
    g_autofree char *card = bt_model_page_dup_card_text (page, BT_PRESET_SMALL_CNN);
    g_assert_nonnull (strstr (card, "parameters"));
  }
  bt_test_screenshot (GTK_WIDGET (window), "model-page.png");
}

int
main (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  BtProjectSettings s = { 0 };
  int ret;

  gtk_test_init (&argc, &argv, NULL);

  app = bt_application_new ();
  g_application_set_flags (G_APPLICATION (app),
                           g_application_get_flags (G_APPLICATION (app)) | G_APPLICATION_NON_UNIQUE);
  if (!g_application_register (G_APPLICATION (app), NULL, &error))
    g_error ("register: %s", error->message);

  project_dir = g_dir_make_tmp ("bt-pages-XXXXXX", &error);
  g_assert_no_error (error);
  if (g_getenv ("BT_PAGES_EPOCHS"))
    N_EPOCHS = CLAMP (atoi (g_getenv ("BT_PAGES_EPOCHS")), 2, 100);
  if (g_getenv ("BT_PAGES_PER_CLASS"))
    per_class = CLAMP (atoi (g_getenv ("BT_PAGES_PER_CLASS")), 10, 2000);
  project = bt_sample_create_shapes (project_dir, per_class, 32, 11, NULL, &error);
  g_assert_no_error (error);
  bt_project_settings_copy (&s, bt_project_get_settings (project));
  g_free (s.preset);
  s.preset = g_strdup ("small-cnn");
  s.width = s.height = 24;
  s.channels = 1;
  s.epochs = N_EPOCHS;
  s.batch_size = 16;
  s.early_stopping_patience = 0;
  if (!bt_project_update_settings (project, &s, &error))
    g_error ("settings: %s", error->message);
  bt_project_settings_clear (&s);

  window = bt_window_new (GTK_APPLICATION (app));
  gtk_window_set_default_size (GTK_WINDOW (window), 1200, 820);
  gtk_window_present (GTK_WINDOW (window));
  bt_window_set_project (window, project);
  g_signal_connect (window->train_page, "model-saved", G_CALLBACK (model_saved_cb), NULL);

  g_test_add_func ("/pages/train/run", test_train_run);
  g_test_add_func ("/pages/evaluate/confusion-gallery-relabel", test_evaluate);
  g_test_add_func ("/pages/test/bars", test_test_page);
  g_test_add_func ("/pages/test/open-folder-paste", test_test_page_actions);
  g_test_add_func ("/pages/train/stop", test_train_stop);
  g_test_add_func ("/pages/train/resume-interrupted", test_train_resume_interrupted);
  g_test_add_func ("/pages/train/verdict-diverged", test_train_verdict_diverged);
  g_test_add_func ("/pages/train/overfitting", test_train_overfitting);
  g_test_add_func ("/pages/model/screenshot", test_model_page_shot);
  g_test_add_func ("/pages/test/open-tflite", test_open_tflite);

  ret = g_test_run ();

  gtk_window_destroy (GTK_WINDOW (window));
  g_object_unref (project);
  bt_test_rm_rf (project_dir);
  g_free (project_dir);
  g_free (model_path);
  g_object_unref (app);
  bt_test_exit (ret);
}
