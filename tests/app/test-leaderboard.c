/* test-leaderboard.c: the search panel on a small Shapes project — trials appear as rows one
 * by one while the search runs, "Use these settings" writes the chosen trial into the project,
 * a paused and stopped search is shown again from runs/ by a fresh panel and resumes to the
 * end; a cold search says how far reading the photos is (a transfer project's through the
 * backbone) before its first try, and stops there. */
#include "config.h"

#include <glib/gstdio.h>
#include <gtk/gtk.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bt-test-keys.h"

#include "bt-leaderboard.h"
#include "bt-test-photos.h"
#include "bt-test-wait.h"
#include "bt-test-input.h"
#include "../training/bt-test-tune-util.h"
#include "training/bt-training.h"
#include "training/bt-model-runner.h"

typedef struct {
  int added, finished;
  guint rows_at_first;
  gboolean busy_at_first;
  GError *error;
} Counts;

static void
on_added (BtLeaderboard *lb, int index, Counts *c)
{
  g_assert_cmpint (index, ==, c->added);
  c->added++;
  g_assert_cmpuint (bt_leaderboard_get_n_trials (lb), ==, (guint) c->added);
  if (c->added == 1)
    {
      c->rows_at_first = bt_leaderboard_get_n_trials (lb);
      c->busy_at_first = bt_leaderboard_is_busy (lb);
    }
}

static void
on_finished (BtLeaderboard *lb, const GError *error, Counts *c)
{
  c->finished++;
  g_clear_error (&c->error);
  c->error = error ? g_error_copy (error) : NULL;
}

/* A thread holding the compute gate: the search's worker stops at its next training step or
 * validation batch, as on a machine too busy to give it a turn. (The gate is not the main
 * thread's to take.) */
typedef struct {
  GMutex lock;
  GCond cond;
  gboolean held, release;
} GateHold;

static gpointer
gate_hold_thread (gpointer data)
{
  GateHold *g = data;

  bt_compute_gate_enter ();
  g_mutex_lock (&g->lock);
  g->held = TRUE;
  g_cond_broadcast (&g->cond);
  while (!g->release)
    g_cond_wait (&g->cond, &g->lock);
  g_mutex_unlock (&g->lock);
  bt_compute_gate_leave ();
  return NULL;
}

static void
on_added_stop (BtLeaderboard *lb, int index, gpointer data)
{
  GateHold g = { 0 };
  GThread *holder;

  /* Pause, then Stop, clicked as the first row appears; the stop ends the waiting trial (else
   * this test hangs). The clicks run the main loop: once, at seed 7, the second trial (one epoch)
   * ended meanwhile, and the search's end (or that trial's own row, re-entering here) released
   * Pause before it was read. The worker now waits for a turn of the compute gate, held from
   * before the first click until Pause is in; and this runs for the first row only. */
  g_signal_handlers_disconnect_by_func (lb, on_added_stop, data);
  g_mutex_init (&g.lock);
  g_cond_init (&g.cond);
  holder = g_thread_new ("gate-holder", gate_hold_thread, &g);
  g_mutex_lock (&g.lock);
  while (!g.held)
    g_cond_wait (&g.cond, &g.lock);
  g_mutex_unlock (&g.lock);

  bt_test_click_button (GTK_WIDGET (lb), "Pause");
  g_assert_true (gtk_toggle_button_get_active (GTK_TOGGLE_BUTTON (bt_test_find_button (GTK_WIDGET (lb), "Pause"))));
  g_assert_true (bt_leaderboard_is_busy (lb));

  g_mutex_lock (&g.lock);
  g.release = TRUE;
  g_cond_broadcast (&g.cond);
  g_mutex_unlock (&g.lock);
  g_thread_join (holder);
  g_mutex_clear (&g.lock);
  g_cond_clear (&g.cond);
  bt_test_click_button (GTK_WIDGET (lb), "Stop");
}

static gboolean finished_cond (gpointer data) { return ((Counts *) data)->finished > 0; }
static gboolean idle_cond (gpointer data) { return !bt_leaderboard_is_busy (data); }

/* A panel on the project in a shown window, idle (its latest search read back). */
static BtLeaderboard *
panel_new (BtProject *project, GtkWidget **window)
{
  BtLeaderboard *lb = BT_LEADERBOARD (bt_leaderboard_new ());
  *window = gtk_window_new ();
  gtk_window_set_child (GTK_WINDOW (*window), GTK_WIDGET (lb));
  gtk_window_present (GTK_WINDOW (*window));
  bt_leaderboard_set_project (lb, project);
  bt_test_spin_until (idle_cond, lb);
  return lb;
}

/* A Shapes project (per_class images per class, 32×32 grey) in a fresh folder *dir, and a
 * panel on it in a shown window, idle. batch_size 0 keeps the project's. */
static BtProject *
panel_on_shapes (char **dir, guint per_class, int batch_size, GtkWidget **window, BtLeaderboard **lb)
{
  g_autoptr (GError) error = NULL;
  *dir = g_dir_make_tmp ("bt-leaderboard-XXXXXX", &error);
  g_assert_no_error (error);
  BtProject *project = bt_sample_create_shapes (*dir, per_class, 32, 3, NULL, &error);
  g_assert_no_error (error);
  BtProjectSettings s;
  bt_project_settings_copy (&s, bt_project_get_settings (project));
  s.width = s.height = 32;
  s.channels = 1;
  s.split_train = 60;
  s.split_val = 25;
  s.split_test = 15;
  if (batch_size > 0)
    s.batch_size = batch_size;
  g_assert_true (bt_project_update_settings (project, &s, &error));
  bt_project_settings_clear (&s);
  *lb = panel_new (project, window);
  return project;
}

/* The control right after the label text in the panel's form grid. */
static GtkWidget *
control_after (GtkWidget *root, const char *text)
{
  for (GtkWidget *c = gtk_widget_get_first_child (root); c; c = gtk_widget_get_next_sibling (c))
    {
      GtkWidget *found;
      if (GTK_IS_LABEL (c) && g_strcmp0 (gtk_label_get_text (GTK_LABEL (c)), text) == 0)
        return gtk_widget_get_next_sibling (c);
      if ((found = control_after (c, text)))
        return found;
    }
  return NULL;
}

static void
test_search_and_use (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = NULL;
  GtkWidget *window;
  BtLeaderboard *lb;
  g_autoptr (BtProject) project = panel_on_shapes (&dir, 12, 0, &window, &lb);
  g_assert_cmpuint (bt_leaderboard_get_n_trials (lb), ==, 0);

  Counts c = { 0 };
  g_signal_connect (lb, "trial-added", G_CALLBACK (on_added), &c);
  g_signal_connect (lb, "search-finished", G_CALLBACK (on_finished), &c);
  /* the form as a person fills it: random search, 3 trials of 1 epoch; then Start Search */
  gtk_drop_down_set_selected (GTK_DROP_DOWN (control_after (GTK_WIDGET (lb), "Strategy")), BT_TUNE_RANDOM);
  gtk_spin_button_set_value (GTK_SPIN_BUTTON (control_after (GTK_WIDGET (lb), "Tries")), 3);
  gtk_spin_button_set_value (GTK_SPIN_BUTTON (control_after (GTK_WIDGET (lb), "Epochs per try")), 1);
  bt_test_click_button (GTK_WIDGET (lb), "Start Search");
  g_assert_true (bt_leaderboard_is_busy (lb));
  bt_test_spin_until (finished_cond, &c);
  g_assert_no_error (c.error);
  g_assert_cmpint (c.added, ==, 3);
  /* the first row was there while the search still ran */
  g_assert_cmpuint (c.rows_at_first, ==, 1);
  g_assert_true (c.busy_at_first);
  g_assert_false (bt_leaderboard_is_busy (lb));
  /* the view lists them best first (sorted by the accuracy column) */
  double prev_acc = 2.0;
  for (guint i = 0; i < 3; i++)
    {
      const BtTuneTrial *t = bt_leaderboard_get_shown_trial (lb, i);
      g_assert_nonnull (t);
      g_assert_cmpfloat (t->val_acc, <=, prev_acc);
      prev_acc = t->val_acc;
    }
  g_assert_null (bt_leaderboard_get_shown_trial (lb, 3));

  /* pick a trial whose learning rate differs from the project's, and use it */
  const BtTuneTrial *pick = bt_leaderboard_get_trial (lb, 2);
  g_assert_cmpfloat (pick->learning_rate, !=, bt_project_get_settings (project)->learning_rate);
  int epochs_before = bt_project_get_settings (project)->epochs;
  {
    /* a click on its row (on its settings, as the table shows them) */
    g_autofree char *described = bt_tune_trial_describe (pick);
    GtkWidget *cell = bt_test_find_label (GTK_WIDGET (lb), described);
    g_assert_nonnull (cell);
    bt_test_click (cell);
  }
  bt_test_click_button (GTK_WIDGET (lb), "Use These Settings");
  const BtProjectSettings *now = bt_project_get_settings (project);
  g_assert_cmpfloat (now->learning_rate, ==, pick->learning_rate);
  g_assert_cmpint (now->batch_size, ==, pick->batch_size);
  g_assert_cmpstr (now->optimizer, ==, pick->optimizer);
  g_assert_cmpfloat (now->dropout, ==, pick->dropout);
  g_assert_cmpint (now->epochs, ==, epochs_before);
  /* and it is on disk (saves run on a writer thread) */
  g_assert_true (bt_project_flush (project, &error));
  g_autoptr (BtProject) reopened = bt_project_open (dir, &error);
  g_assert_no_error (error);
  g_assert_cmpfloat (bt_project_get_settings (reopened)->learning_rate, ==, pick->learning_rate);

  /* a search stopped after its first trial, shown again by a fresh panel and resumed */
  gtk_spin_button_set_value (GTK_SPIN_BUTTON (control_after (GTK_WIDGET (lb), "Tries")), 2);
  c.added = c.finished = 0;
  g_signal_connect (lb, "trial-added", G_CALLBACK (on_added_stop), NULL);
  bt_test_click_button (GTK_WIDGET (lb), "Start Search");
  bt_test_spin_until (finished_cond, &c);
  g_assert_error (c.error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_CANCELLED);
  g_assert_cmpuint (bt_leaderboard_get_n_trials (lb), ==, 1);
  double first_acc = bt_leaderboard_get_trial (lb, 0)->val_acc;
  gtk_window_destroy (GTK_WINDOW (window));

  lb = panel_new (project, &window);
  g_assert_cmpuint (bt_leaderboard_get_n_trials (lb), ==, 1);
  g_assert_cmpfloat (bt_leaderboard_get_trial (lb, 0)->val_acc, ==, first_acc);
  Counts c2 = { 0 };
  c2.added = 1;
  g_signal_connect (lb, "trial-added", G_CALLBACK (on_added), &c2);
  g_signal_connect (lb, "search-finished", G_CALLBACK (on_finished), &c2);
  bt_test_click_button (GTK_WIDGET (lb), "Resume");
  bt_test_spin_until (finished_cond, &c2);
  g_assert_no_error (c2.error);
  g_assert_cmpint (c2.added, ==, 2);
  /* nothing left to resume: its button is greyed out, and a click on it does nothing */
  bt_test_click_insensitive (bt_test_find_button (GTK_WIDGET (lb), "Resume"));
  g_assert_false (bt_leaderboard_is_busy (lb));
  g_assert_cmpuint (bt_leaderboard_get_n_trials (lb), ==, 2);

  gtk_window_destroy (GTK_WINDOW (window));
  g_clear_error (&c.error);
  g_clear_error (&c2.error);
  g_clear_object (&reopened);
  g_clear_object (&project);
  bt_test_rm_rf (dir);
}

/* The trial in progress is drawn live: per-step training accuracy and per-epoch validation
 * accuracy in series titled "(running)", and the status line says where it is; once the
 * trial is a row, its live series are gone. */
typedef struct {
  int progress;
  guint max_step_points, max_val_points;
  gboolean titled, status_ok, row_while_live;
  BtLeaderboard *lb;
} Live;

static void
on_progress (BtLeaderboard *lb, int index, Live *l)
{
  BtChart *chart = bt_leaderboard_get_chart (lb);
  g_autofree char *want = g_strdup_printf ("Try %d (running)", index + 1);
  l->progress++;
  for (guint i = 0; i < bt_chart_get_n_series (chart); i++)
    {
      BtChartSeries *s = bt_chart_get_series (chart, i);
      const char *title = bt_chart_series_get_title (s);
      if (strstr (title, want) == NULL)
        continue;
      l->titled = TRUE;
      if (bt_chart_series_get_role (s) == BT_CHART_ROLE_STEP)
        {
          guint n = bt_chart_series_get_n_points (s);
          double x, y;
          l->max_step_points = MAX (l->max_step_points, n);
          g_assert_true (bt_chart_series_get_point (s, n - 1, &x, &y));
          g_assert_cmpfloat (x, >, 0.0);     /* in epochs, within the planned ones */
          g_assert_cmpfloat (x, <=, 3.0);
          g_assert_cmpfloat (y, >=, 0.0);    /* a batch accuracy */
          g_assert_cmpfloat (y, <=, 1.0);
        }
      else
        l->max_val_points = MAX (l->max_val_points, bt_chart_series_get_n_points (s));
    }
  /* which try of how many, and where it is */
  g_autofree char *where = g_strdup_printf ("Try %d of 2: epoch ", index + 1);
  if (g_str_has_prefix (bt_leaderboard_get_status (lb), where))
    l->status_ok = TRUE;
  for (guint i = 0; i < bt_leaderboard_get_n_trials (lb); i++)
    if (bt_leaderboard_get_trial (lb, i)->index == index)
      l->row_while_live = TRUE;
}

static void
test_live_trial (void)
{
  g_autofree char *dir = NULL;
  GtkWidget *window;
  BtLeaderboard *lb;
  g_autoptr (BtProject) project = panel_on_shapes (&dir, 40, 8, &window, &lb);

  Live l = { 0 };
  Counts c = { 0 };
  g_signal_connect (lb, "trial-progress", G_CALLBACK (on_progress), &l);
  g_signal_connect (lb, "trial-added", G_CALLBACK (on_added), &c);
  g_signal_connect (lb, "search-finished", G_CALLBACK (on_finished), &c);
  gtk_drop_down_set_selected (GTK_DROP_DOWN (control_after (GTK_WIDGET (lb), "Strategy")), BT_TUNE_RANDOM);
  gtk_spin_button_set_value (GTK_SPIN_BUTTON (control_after (GTK_WIDGET (lb), "Tries")), 2);
  gtk_spin_button_set_value (GTK_SPIN_BUTTON (control_after (GTK_WIDGET (lb), "Epochs per try")), 3);
  bt_test_click_button (GTK_WIDGET (lb), "Start Search");
  bt_test_spin_until (finished_cond, &c);
  g_assert_no_error (c.error);
  g_assert_cmpint (c.added, ==, 2);
  g_test_message ("%d progress updates, up to %u step points and %u validation points", l.progress,
                  l.max_step_points, l.max_val_points);
  g_assert_cmpint (l.progress, >, 0);
  g_assert_true (l.titled);
  g_assert_cmpuint (l.max_step_points, >, 0);
  g_assert_true (l.status_ok);
  g_assert_false (l.row_while_live);
  /* over: nothing "(running)" is left on the chart */
  BtChart *chart = bt_leaderboard_get_chart (lb);
  for (guint i = 0; i < bt_chart_get_n_series (chart); i++)
    g_assert_null (strstr (bt_chart_series_get_title (bt_chart_get_series (chart, i)), "(running)"));

  gtk_window_destroy (GTK_WINDOW (window));
  g_clear_error (&c.error);
  g_clear_object (&project);
  bt_test_rm_rf (dir);
}

/* The words: "tries" and "rounds", and the rounds explained beside the table when the
 * adaptive strategy (the default) is chosen; gone for a random search. */
static gboolean
find_text (GtkWidget *w, const char *needle, gboolean visible_only)
{
  if (visible_only && !gtk_widget_get_visible (w))
    return FALSE;
  if (GTK_IS_LABEL (w) && strstr (gtk_label_get_text (GTK_LABEL (w)), needle))
    return TRUE;
  for (GtkWidget *c = gtk_widget_get_first_child (w); c; c = gtk_widget_get_next_sibling (c))
    if (find_text (c, needle, visible_only))
      return TRUE;
  return FALSE;
}

static void
test_words (void)
{
  g_autofree char *dir = NULL;
  GtkWidget *window;
  BtLeaderboard *lb;
  g_autoptr (BtProject) project = panel_on_shapes (&dir, 4, 0, &window, &lb);
  GtkDropDown *strategy = GTK_DROP_DOWN (gtk_widget_get_template_child (GTK_WIDGET (lb), BT_TYPE_LEADERBOARD, "strategy"));

  g_assert_true (find_text (GTK_WIDGET (lb), "Tries", TRUE));
  /* the glossary explains the terms where they are set */
  {
    GtkWidget *epochs = GTK_WIDGET (gtk_widget_get_template_child (GTK_WIDGET (lb), BT_TYPE_LEADERBOARD, "epochs"));
    GtkWidget *lr = GTK_WIDGET (gtk_widget_get_template_child (GTK_WIDGET (lb), BT_TYPE_LEADERBOARD, "lr_min"));
    g_assert_nonnull (strstr (gtk_widget_get_tooltip_text (epochs), "one pass over all the training images"));
    g_assert_nonnull (strstr (gtk_widget_get_tooltip_text (lr), "how big each adjustment is"));
  }
  g_assert_true (find_text (GTK_WIDGET (lb), "Round", TRUE));
  g_assert_cmpuint (gtk_drop_down_get_selected (strategy), ==, 2);
  g_assert_true (find_text (GTK_WIDGET (lb), "only the better half goes on", TRUE));
  gtk_drop_down_set_selected (strategy, 1);
  g_assert_false (find_text (GTK_WIDGET (lb), "only the better half goes on", TRUE));
  g_assert_false (find_text (GTK_WIDGET (lb), "Trial", FALSE));
  g_assert_false (find_text (GTK_WIDGET (lb), "rung", FALSE));
  gtk_window_destroy (GTK_WINDOW (window));

  /* the Search window fits 800×600 (its settings were one 8-column grid: about 1,080 px wide),
   * and closes on Escape */
  {
    GtkWindow *search = bt_leaderboard_present_window (NULL, project);
    int min_w = 0, min_h = 0;
    g_object_add_weak_pointer (G_OBJECT (search), (gpointer *) &search);
    while (g_main_context_iteration (NULL, FALSE))
      ;
    gtk_widget_measure (GTK_WIDGET (search), GTK_ORIENTATION_HORIZONTAL, -1, &min_w, NULL, NULL, NULL);
    gtk_widget_measure (GTK_WIDGET (search), GTK_ORIENTATION_VERTICAL, 800, &min_h, NULL, NULL, NULL);
    g_test_message ("Search window minimum %d × %d", min_w, min_h);
    g_assert_cmpint (min_w, <=, 800);
    g_assert_cmpint (min_h, <=, 600);
    g_assert_true (bt_test_shortcut_key (search, GDK_KEY_Escape, 0));
    while (search != NULL && g_main_context_iteration (NULL, FALSE))
      ;
    g_assert_null (search);
  }
  bt_test_rm_rf (dir);
}

/* What the person sees while a search starts: each text of the status line, in order, and the
 * bar beside the words "Preparing: reading photos N of M…". */
typedef struct {
  GtkProgressBar *bar;
  GPtrArray *texts;
  int first_prepare, first_try;   /* positions in texts, -1: not seen */
  guint done, total;              /* of the last "Preparing" text */
  gboolean bar_shown, bar_agrees; /* at every "Preparing" text */
  Counts c;                       /* the search's end */
  double bar_after_first;         /* the bar when the first try became a row: half of two */
} Watch;

static void
on_status_text (GtkLabel *label, GParamSpec *pspec, Watch *w)
{
  const char *text = gtk_label_get_text (label);
  g_ptr_array_add (w->texts, g_strdup (text));
  if (w->first_try < 0 && g_str_has_prefix (text, "Try 1"))
    w->first_try = (int) w->texts->len - 1;
  if (g_str_has_prefix (text, "Try 1 finished"))
    w->bar_after_first = gtk_progress_bar_get_fraction (w->bar);
  if (!g_str_has_prefix (text, "Preparing: reading photos"))
    return;
  if (w->first_prepare < 0)
    w->first_prepare = (int) w->texts->len - 1;
  g_assert_cmpint (sscanf (text + strcspn (text, "0123456789"), "%u of %u", &w->done, &w->total), ==, 2);
  w->bar_shown &= gtk_widget_get_mapped (GTK_WIDGET (w->bar));
  w->bar_agrees &= w->total > 0 && fabs (gtk_progress_bar_get_fraction (w->bar) - (double) w->done / w->total) < 1e-9;
}

static Watch *
watch_new (BtLeaderboard *lb)
{
  Watch *w = g_new0 (Watch, 1);
  w->bar = GTK_PROGRESS_BAR (gtk_widget_get_template_child (GTK_WIDGET (lb), BT_TYPE_LEADERBOARD, "progress"));
  w->texts = g_ptr_array_new_with_free_func (g_free);
  w->first_prepare = w->first_try = -1;
  w->bar_after_first = -1.0;
  w->bar_shown = w->bar_agrees = TRUE;
  GtkWidget *status = GTK_WIDGET (gtk_widget_get_template_child (GTK_WIDGET (lb), BT_TYPE_LEADERBOARD, "status"));
  g_signal_connect (status, "notify::label", G_CALLBACK (on_status_text), w);
  g_signal_connect (lb, "search-finished", G_CALLBACK (on_finished), &w->c);
  return w;
}

static void
watch_free (Watch *w, BtLeaderboard *lb)
{
  GtkWidget *status = GTK_WIDGET (gtk_widget_get_template_child (GTK_WIDGET (lb), BT_TYPE_LEADERBOARD, "status"));
  g_signal_handlers_disconnect_by_data (status, w);
  g_signal_handlers_disconnect_by_data (lb, &w->c);
  g_clear_error (&w->c.error);
  g_ptr_array_unref (w->texts);
  g_free (w);
}

/* Start Search with `tries` random tries of `epochs` epochs, as the person fills the form. */
static void
start_search (BtLeaderboard *lb, int tries, int epochs)
{
  gtk_drop_down_set_selected (GTK_DROP_DOWN (control_after (GTK_WIDGET (lb), "Strategy")), BT_TUNE_RANDOM);
  gtk_spin_button_set_value (GTK_SPIN_BUTTON (control_after (GTK_WIDGET (lb), "Tries")), tries);
  gtk_spin_button_set_value (GTK_SPIN_BUTTON (control_after (GTK_WIDGET (lb), "Epochs per try")), epochs);
  bt_test_click_button (GTK_WIDGET (lb), "Start Search");
}

/* A search of two tries: the preparation in words and on the bar before the first try, ending
 * at every one of `n_read` images read (at least, with a transfer project's flipped and cropped
 * copies); then the bar counts the tries and hides when the search is done. */
static void
assert_prepared_then_tried (BtLeaderboard *lb, guint n_read)
{
  Watch *w = watch_new (lb);
  start_search (lb, 2, 1);
  bt_test_spin_until (finished_cond, &w->c);
  g_assert_no_error (w->c.error);
  for (guint i = 0; i < w->texts->len; i++)
    g_test_message ("status: %s", (const char *) w->texts->pdata[i]);
  g_assert_cmpint (w->first_prepare, >=, 0);
  g_assert_cmpint (w->first_try, >, w->first_prepare);
  g_assert_true (w->bar_shown);
  g_assert_true (w->bar_agrees);
  g_assert_cmpuint (w->done, ==, w->total);
  g_assert_cmpuint (w->total, >=, n_read);
  g_assert_cmpfloat (w->bar_after_first, ==, 0.5);
  g_assert_cmpuint (bt_leaderboard_get_n_trials (lb), ==, 2);
  g_assert_false (gtk_widget_get_visible (GTK_WIDGET (w->bar)));
  watch_free (w, lb);
}

static gboolean
prepare_seen (gpointer data)
{
  return ((Watch *) data)->first_prepare >= 0;
}

static void
test_prepare_phase (void)
{
  g_autofree char *dir = NULL;
  GtkWidget *window;
  BtLeaderboard *lb;
  g_autoptr (BtProject) project = panel_on_shapes (&dir, 12, 0, &window, &lb);
  guint n_read = 0;
  for (BtSplit sp = BT_SPLIT_TRAIN; sp <= BT_SPLIT_VAL; sp++)
    {
      g_autoptr (BtSplitView) v = bt_project_split_view (project, sp);
      n_read += v->n;
    }
  assert_prepared_then_tried (lb, n_read);

  /* Stop as soon as the words say the photos are being read: no try runs, the search says it
   * stopped (tries of 50 epochs: a try could not end before the click) */
  {
    Watch *w = watch_new (lb);
    start_search (lb, 2, 50);
    bt_test_spin_until (prepare_seen, w);
    bt_test_click_button (GTK_WIDGET (lb), "Stop");
    bt_test_spin_until (finished_cond, &w->c);
    g_assert_error (w->c.error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_CANCELLED);
    g_assert_cmpuint (bt_leaderboard_get_n_trials (lb), ==, 0);
    g_assert_nonnull (strstr (bt_leaderboard_get_status (lb), "stopped"));
    g_assert_false (gtk_widget_get_visible (GTK_WIDGET (w->bar)));
    watch_free (w, lb);
  }
  gtk_window_destroy (GTK_WINDOW (window));
  g_clear_object (&project);
  bt_test_rm_rf (dir);

  /* a transfer project: the photos' embeddings computed once, said the same way */
  static const char *const photos[3][2] = { { "cat", "cat_720p.jpg" }, { "owl", "owl.jpg" }, { "sunflower", "sunflower.bmp" } };
  g_autofree char *backbone = bt_test_shared_file ("models", "mobilenet_v1_0.25_128_quant.tflite");
  if (backbone == NULL)
    {
      g_test_skip ("MobileNet V1 0.25/128 not found: set BOTTEGA_SHARED_DIR to the folder holding models/");
      return;
    }
  g_autoptr (GError) error = NULL;
  g_autofree char *tmp = g_dir_make_tmp ("bt-leaderboard-XXXXXX", &error);
  g_assert_no_error (error);
  g_autofree char *from = g_build_filename (tmp, "photos", NULL);
  g_autofree char *pdir = g_build_filename (tmp, "project", NULL);
  if (!bt_test_make_class_crops (from, photos, G_N_ELEMENTS (photos), 8, 5))
    {
      bt_test_rm_rf (tmp);
      return;
    }
  project = bt_project_create (pdir, "Three flowers", &error);
  g_assert_no_error (error);
  {
    const char *paths[] = { from, NULL };
    g_autoptr (BtScanResult) scan = bt_scan_paths (paths, BT_SCAN_FOLDER_OF_CLASSES, NULL, TRUE, NULL, NULL, NULL, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (bt_project_apply_scan (project, scan, &error), ==, 24);
    bt_test_tune_make_transfer (project);
  }
  bt_backbone_set_preferred_file (backbone);
  lb = panel_new (project, &window);
  assert_prepared_then_tried (lb, 24);
  /* warm: the embeddings are in the project's cache, nothing to read */
  {
    Watch *w = watch_new (lb);
    start_search (lb, 1, 1);
    bt_test_spin_until (finished_cond, &w->c);
    g_assert_no_error (w->c.error);
    g_assert_cmpint (w->first_prepare, ==, -1);
    watch_free (w, lb);
  }
  bt_backbone_set_preferred_file (NULL);
  gtk_window_destroy (GTK_WINDOW (window));
  g_clear_object (&project);
  bt_test_rm_rf (tmp);
}

int
main (int argc, char **argv)
{
  gtk_test_init (&argc, &argv, NULL);
  bt_engine_set_threads (2);
  g_test_add_func ("/leaderboard/search-use-resume", test_search_and_use);
  g_test_add_func ("/leaderboard/live-trial", test_live_trial);
  g_test_add_func ("/leaderboard/words", test_words);
  g_test_add_func ("/leaderboard/prepare-phase", test_prepare_phase);
  return g_test_run ();
}
