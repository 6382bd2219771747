/* test-trust.c: the window's trust features (#23), driven by clicks: on the Test page the
 * explanation overlay turns on and off with its switch, a click on a probability bar explains
 * that class, the opacity scale reaches the overlay; on the Evaluate page the reliability
 * diagram's sentence and the class threshold slider whose precision and recall follow it. */
#include "config.h"

#include <glib/gstdio.h>
#include <gtk/gtk.h>
#include <math.h>
#include <string.h>

#include "bt-application.h"
#include "bt-confusion-matrix.h"
#include "bt-explain-view.h"
#include "bt-trust-panel.h"
#include "bt-window-private.h"
#include "training/bt-calibration.h"
#include "training/bt-model-runner.h"
#include "bt-test-exit.h"
#include "bt-test-fs.h"
#include "bt-test-input.h"
#include "bt-test-screenshot.h"
#include "bt-test-wait.h"

static BtApplication *app;
static BtWindow *window;
static BtProject *project;
static char *project_dir;
static char *model_path;
static gboolean trained;

static void
click_center (GtkWidget *w)
{
  bt_test_click_at (w, gtk_widget_get_width (w) / 2.0, gtk_widget_get_height (w) / 2.0);
}

/* the first mapped label under root whose text contains needle, or NULL */
static GtkWidget *
find_label_containing (GtkWidget *root, const char *needle)
{
  if (GTK_IS_LABEL (root) && gtk_widget_get_mapped (root) && strstr (gtk_label_get_text (GTK_LABEL (root)), needle))
    return root;
  for (GtkWidget *c = gtk_widget_get_first_child (root); c != NULL; c = gtk_widget_get_next_sibling (c))
    {
      GtkWidget *hit = find_label_containing (c, needle);
      if (hit != NULL)
        return hit;
    }
  return NULL;
}

/* a button or check box pressed from the keyboard (focus, then Space through the X server):
 * a click there could land on another widget's tooltip left over from the last pointer spot */
static void
press_space_on (GtkWidget *w)
{
  BT_TEST_WAIT (gtk_widget_is_sensitive (w));
  g_assert_true (gtk_widget_grab_focus (w));
  bt_test_drain ();
  bt_test_press_key (GTK_WINDOW (window), GDK_KEY_space, 0);
  bt_test_drain ();
}

static double
heat_sum (const BtHeatmap *map)
{
  double s = 0;
  for (int i = 0; i < map->width * map->height; i++)
    s += map->heat[i];
  return s;
}

static void
test_explain_overlay (void)
{
  BtTestPage *page = window->test_page;
  BtExplainBar *bar = BT_EXPLAIN_BAR (bt_test_find_type (GTK_WIDGET (page), BT_TYPE_EXPLAIN_BAR));
  BtHeatOverlay *overlay = BT_HEAT_OVERLAY (bt_test_find_type (GTK_WIDGET (page), BT_TYPE_HEAT_OVERLAY));
  BtProbabilityBars *bars = bt_test_page_get_bars (page);
  g_autofree char *folder = g_build_filename (project_dir, "images", "circle", NULL);
  g_autoptr(GDir) dir = g_dir_open (folder, 0, NULL);
  g_autofree char *path = g_build_filename (folder, g_dir_read_name (dir), NULL);
  const char *paths[] = { path, NULL };
  int top, other;

  g_assert_nonnull (bar);
  g_assert_nonnull (overlay);
  bt_window_set_page (window, "test");
  BT_TEST_WAIT (bt_test_page_get_model_path (page) != NULL && !bt_test_page_is_busy (page));
  g_assert_true (bt_test_drop_files (GTK_WIDGET (page), paths));
  BT_TEST_WAIT (bt_test_page_get_n_results (page) >= 1 && bt_probability_bars_get_n (bars) == 4);
  bt_test_drain ();

  /* off at first: no map, nothing computed */
  g_assert_false (bt_heat_overlay_has_map (overlay));
  g_assert_false (bt_explain_bar_is_busy (bar));
  top = bt_probability_bars_get_class_at_row (bars, 0);
  g_assert_cmpint (bt_explain_bar_get_class (bar), ==, top);

  /* the switch, clicked: a map of the predicted class over the image, by occlusion */
  click_center (bt_explain_bar_get_toggle (bar));
  BT_TEST_WAIT (bt_explain_bar_get_map (bar) != NULL);
  g_assert_true (bt_heat_overlay_has_map (overlay));
  g_assert_cmpint (bt_explain_bar_get_map (bar)->class_index, ==, top);
  g_assert_cmpint (bt_explain_bar_get_map (bar)->method, ==, BT_EXPLAIN_OCCLUSION);
  g_assert_cmpfloat_with_epsilon (heat_sum (bt_explain_bar_get_map (bar)), 1.0, 1e-3);
  g_assert_nonnull (strstr (bt_explain_bar_get_status (bar), "covering"));

  /* Grad-CAM chosen: a new map by that method */
  gtk_drop_down_set_selected (bt_explain_bar_get_method (bar), 1);
  BT_TEST_WAIT (bt_explain_bar_get_map (bar) != NULL && bt_explain_bar_get_map (bar)->method == BT_EXPLAIN_GRADCAM);
  g_assert_nonnull (strstr (bt_explain_bar_get_status (bar), "Grad-CAM"));

  /* the opacity scale reaches the overlay */
  gtk_range_set_value (bt_explain_bar_get_opacity (bar), 0.35);
  g_assert_cmpfloat_with_epsilon (bt_heat_overlay_get_opacity (overlay), 0.35, 1e-9);
  bt_test_screenshot (GTK_WIDGET (window), "test-page-explain.png");

  /* a click on the last bar explains that class */
  {
    GtkWidget *w = GTK_WIDGET (bars);
    guint last = bt_probability_bars_get_n (bars) - 1;
    graphene_rect_t area;
    double full_x;
    g_assert_true (bt_probability_bars_get_bar_area (bars, gtk_widget_get_width (w), gtk_widget_get_height (w),
                                                     last, &area, &full_x));
    other = bt_probability_bars_get_class_at_row (bars, last);
    g_assert_cmpint (other, !=, top);
    bt_test_click_at (w, area.origin.x + 2, area.origin.y + area.size.height / 2);
    BT_TEST_WAIT (bt_explain_bar_get_class (bar) == other && bt_explain_bar_get_map (bar) != NULL &&
                  bt_explain_bar_get_map (bar)->class_index == other);
  }

  /* the switch again: the overlay is gone */
  click_center (bt_explain_bar_get_toggle (bar));
  BT_TEST_WAIT (!bt_heat_overlay_has_map (overlay));
  g_assert_null (bt_explain_bar_get_map (bar));

  /* a pasted image (no file behind it) is explained too */
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(GdkTexture) texture = gdk_texture_new_from_filename (path, &error);
    guint before = bt_test_page_get_n_results (page);
    g_assert_no_error (error);
    gdk_clipboard_set_texture (gtk_widget_get_clipboard (GTK_WIDGET (page)), texture);
    bt_test_click_button (GTK_WIDGET (page), "Paste");
    BT_TEST_WAIT (bt_test_page_get_n_results (page) == before + 1 && !bt_test_page_is_busy (page));
    bt_test_drain ();
    /* the class to explain is the answer, the top bar */
    g_assert_cmpint (bt_explain_bar_get_class (bar), ==, bt_probability_bars_get_class_at_row (bars, 0));
    click_center (bt_explain_bar_get_toggle (bar));
    BT_TEST_WAIT (bt_explain_bar_get_map (bar) != NULL);
    g_assert_cmpfloat_with_epsilon (heat_sum (bt_explain_bar_get_map (bar)), 1.0, 1e-3);
    click_center (bt_explain_bar_get_toggle (bar));
    BT_TEST_WAIT (!bt_heat_overlay_has_map (overlay));
  }
}

static void
test_reliability_and_threshold (void)
{
  BtEvaluatePage *page = window->evaluate_page;
  BtTrustPanel *panel = BT_TRUST_PANEL (bt_test_find_type (GTK_WIDGET (page), BT_TYPE_TRUST_PANEL));
  const BtEvaluation *ev;
  GtkRange *threshold;
  g_autofree char *before = NULL;
  g_autofree float *scores = NULL;
  g_autofree gboolean *positive = NULL;
  double p, r;
  g_autofree char *pt = NULL;

  g_assert_nonnull (panel);
  bt_window_set_page (window, "evaluate");
  BT_TEST_WAIT (bt_evaluate_page_get_evaluation (page) != NULL && !bt_evaluate_page_is_busy (page));
  bt_test_drain ();
  ev = bt_evaluate_page_get_evaluation (page);
  g_assert_true (gtk_widget_get_visible (GTK_WIDGET (panel)));
  /* the model was saved with a temperature: both errors, in words */
  g_assert_nonnull (strstr (bt_trust_panel_get_calibration_text (panel), "before temperature scaling"));
  if (!trained)
    g_assert_nonnull (strstr (bt_trust_panel_get_calibration_text (panel), "temperature 1.70"));

  /* the slider, moved: precision and recall of class 1 at 80% */
  gtk_drop_down_set_selected (bt_trust_panel_get_class_dropdown (panel), 1);
  threshold = bt_trust_panel_get_threshold (panel);
  before = g_strdup (bt_trust_panel_get_scores_text (panel));
  gtk_range_set_value (threshold, 0.8);
  g_assert_cmpstr (before, !=, bt_trust_panel_get_scores_text (panel));
  g_assert_nonnull (strstr (bt_trust_panel_get_scores_text (panel), "at least 80%"));
  scores = g_new (float, ev->all->len);
  positive = g_new (gboolean, ev->all->len);
  for (guint i = 0; i < ev->all->len; i++)
    {
      const BtMistake *m = g_ptr_array_index (ev->all, i);
      scores[i] = m->probs[1];
      positive[i] = m->true_class == 1;
    }
  bt_threshold_scores (scores, positive, ev->all->len, 0.8, &p, &r);
  pt = isnan (r) ? g_strdup ("recall —") : g_strdup_printf ("recall %.0f%%", 100 * r);
  g_assert_nonnull (strstr (bt_trust_panel_get_scores_text (panel), pt));

  /* Save Threshold into Model, clicked: the file on disk holds 80% for class 1 and nothing else,
   * written by a worker; the line under the button says so */
  g_assert_nonnull (strstr (bt_trust_panel_get_saved_text (panel), "No threshold saved"));
  press_space_on (GTK_WIDGET (bt_trust_panel_get_save_button (panel)));
  /* the worker may already be done once the key press has been delivered (press_space_on runs the
   * main loop until it is): wait for the line, not for a saving state that may be over */
  BT_TEST_WAIT (strstr (bt_trust_panel_get_saved_text (panel), "accepted at 80% or more") != NULL);
  g_assert_false (bt_trust_panel_is_saving (panel));
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(BtModel) saved = bt_model_load (model_path, &error);
    g_assert_no_error (error);
    g_assert_cmpfloat_with_epsilon (bt_model_get_threshold (saved, 1), 0.8, 1e-9);
    g_assert_true (isnan (bt_model_get_threshold (saved, 0)));
    g_assert_true (isnan (bt_model_get_threshold (saved, 2)));
    /* the rest of the model is as it was */
    g_assert_cmpfloat (saved->calib.temperature, ==, ev->temperature);
  }
  /* another class, then back: the slider returns to the saved value */
  gtk_drop_down_set_selected (bt_trust_panel_get_class_dropdown (panel), 0);
  g_assert_nonnull (strstr (bt_trust_panel_get_saved_text (panel), "No threshold saved"));
  gtk_range_set_value (threshold, 0.3);
  gtk_drop_down_set_selected (bt_trust_panel_get_class_dropdown (panel), 1);
  g_assert_cmpfloat_with_epsilon (gtk_range_get_value (threshold), 0.8, 1e-9);
  {
    /* the screenshot shows the whole card, the saved line under the button included */
    GtkWidget *sw = gtk_widget_get_ancestor (GTK_WIDGET (panel), GTK_TYPE_SCROLLED_WINDOW);
    GtkAdjustment *adj = gtk_scrolled_window_get_vadjustment (GTK_SCROLLED_WINDOW (sw));
    gtk_adjustment_set_value (adj, gtk_adjustment_get_upper (adj));
    bt_test_drain ();
  }
  bt_test_screenshot (GTK_WIDGET (window), "evaluate-trust.png");

  /* a threshold above the Test page's answer: the page loads the model again and holds it back */
  {
    BtTestPage *test = window->test_page;
    g_autofree char *folder = g_build_filename (project_dir, "images", "circle", NULL);
    g_autoptr(GDir) dir = g_dir_open (folder, 0, NULL);
    g_autofree char *path = g_build_filename (folder, g_dir_read_name (dir), NULL);
    const char *paths[] = { path, NULL };
    guint n_before = bt_test_page_get_n_results (test);
    GtkWidget *verdict;

    gtk_drop_down_set_selected (bt_trust_panel_get_class_dropdown (panel), 0);
    gtk_range_set_value (threshold, 0.99);
    press_space_on (GTK_WIDGET (bt_trust_panel_get_save_button (panel)));
    BT_TEST_WAIT (strstr (bt_trust_panel_get_saved_text (panel), "accepted at 99% or more") != NULL &&
                  !bt_trust_panel_is_saving (panel));
    bt_window_set_page (window, "test");
    BT_TEST_WAIT (!bt_test_page_is_busy (test) && bt_test_page_get_model_path (test) != NULL);
    g_assert_true (bt_test_drop_files (GTK_WIDGET (test), paths));
    BT_TEST_WAIT (bt_test_page_get_n_results (test) == n_before + 1 && !bt_test_page_is_busy (test));
    bt_test_drain ();
    verdict = find_label_containing (GTK_WIDGET (test), "below its saved threshold of 99%: not accepted");
    g_assert_nonnull (verdict);
    g_assert_true (g_str_has_prefix (gtk_label_get_text (GTK_LABEL (verdict)), "circle ("));
    /* and its row in the list of results */
    g_assert_nonnull (find_label_containing (GTK_WIDGET (test), "Not accepted · circle "));
    bt_test_screenshot (GTK_WIDGET (window), "test-page-threshold.png");
    bt_window_set_page (window, "evaluate");
    bt_test_drain ();
  }

  /* at 800×600 the two cards stack instead of widening the window */
  gtk_window_set_default_size (GTK_WINDOW (window), 800, 600);
  gtk_widget_queue_resize (GTK_WIDGET (window));
  BT_TEST_WAIT (gtk_widget_get_width (GTK_WIDGET (window)) <= 800);
  bt_test_drain ();
  bt_test_screenshot (GTK_WIDGET (window), "evaluate-trust-800x600.png");
  g_assert_cmpint (gtk_widget_get_width (GTK_WIDGET (panel)), <=, 800);
  /* and the Test page's explanation rows fit as well */
  bt_window_set_page (window, "test");
  bt_test_drain ();
  bt_test_screenshot (GTK_WIDGET (window), "test-page-explain-800x600.png");
  {
    GtkWidget *bar = bt_test_find_type (GTK_WIDGET (window->test_page), BT_TYPE_EXPLAIN_BAR);
    graphene_rect_t bounds;
    g_assert_true (gtk_widget_compute_bounds (bar, GTK_WIDGET (window), &bounds));
    g_assert_cmpfloat (bounds.origin.x + bounds.size.width, <=, gtk_widget_get_width (GTK_WIDGET (window)));
  }
  /* the long "not accepted" verdict is whole in view: inside what shows it (a scrolled window
   * when it scrolls with the image; it ran under the bottom edge at 800×600 there) */
  {
    GtkWidget *test = GTK_WIDGET (window->test_page);
    GtkWidget *verdict = find_label_containing (test, "below its saved threshold of 99%: not accepted");
    GtkWidget *view;
    graphene_rect_t bounds;
    g_assert_nonnull (verdict);
    view = gtk_widget_get_ancestor (verdict, GTK_TYPE_SCROLLED_WINDOW);
    if (view == NULL)
      view = test;
    g_assert_true (gtk_widget_compute_bounds (verdict, view, &bounds));
    g_test_message ("verdict at y %.0f–%.0f of %d", bounds.origin.y, bounds.origin.y + bounds.size.height,
                    gtk_widget_get_height (view));
    g_assert_cmpfloat (bounds.origin.y, >=, 0);
    g_assert_cmpfloat (bounds.origin.y + bounds.size.height, <=, gtk_widget_get_height (view));
  }
  /* the window back at main()'s size: at 800×600 the next case's Test page had its probability
   * bars below the window's edge, and a click on them waited for ever (BT_TEST_SHUFFLE=5) */
  gtk_window_set_default_size (GTK_WINDOW (window), 1200, 820);
  gtk_widget_queue_resize (GTK_WIDGET (window));
  BT_TEST_WAIT (gtk_widget_get_width (GTK_WIDGET (window)) > 800);
}

static GMutex runner_lock;
static GCond runner_cond;
static gboolean runner_held;

/* holds the model runner until runner_held is cleared: what is queued behind it waits */
static void
hold_runner_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  g_mutex_lock (&runner_lock);
  while (runner_held)
    g_cond_wait (&runner_cond, &runner_lock);
  g_mutex_unlock (&runner_lock);
  g_task_return_boolean (task, TRUE);
}

static void
set_runner_held (gboolean held)
{
  g_mutex_lock (&runner_lock);
  runner_held = held;
  g_cond_broadcast (&runner_cond);
  g_mutex_unlock (&runner_lock);
}

/* the cells of the matrix with images, the fullest first: (true, predicted) pairs */
static GArray *
cells_by_count (const BtEvaluation *ev)
{
  GArray *cells = g_array_new (FALSE, FALSE, sizeof (int) * 2);
  for (guint done = 0; done < (guint) (ev->n_classes * ev->n_classes); done++)
    {
      int best = -1;
      for (int c = 0; c < ev->n_classes * ev->n_classes; c++)
        {
          gboolean taken = FALSE;
          for (guint j = 0; j < cells->len; j++)
            taken |= g_array_index (cells, int, 2 * j) * ev->n_classes + g_array_index (cells, int, 2 * j + 1) == c;
          if (!taken && ev->confusion[c] > 0 && (best < 0 || ev->confusion[c] > ev->confusion[best]))
            best = c;
        }
      if (best < 0)
        break;
      g_array_append_vals (cells, (int[]) { best / ev->n_classes, best % ev->n_classes }, 1);
    }
  return cells;
}

/* A click on the confusion matrix's cell (row, col) of the Evaluate page: its gallery opens. */
static void
click_cell (BtEvaluatePage *page, int row, int col)
{
  GtkWidget *matrix = bt_test_find_type (GTK_WIDGET (page), BT_TYPE_CONFUSION_MATRIX);
  graphene_rect_t area;

  g_assert_nonnull (matrix);
  g_assert_true (bt_confusion_matrix_get_cell_area (BT_CONFUSION_MATRIX (matrix), gtk_widget_get_width (matrix),
                                                    gtk_widget_get_height (matrix), row, col, &area));
  bt_test_click_at (matrix, area.origin.x + area.size.width / 2, area.origin.y + area.size.height / 2);
  BT_TEST_WAIT (bt_evaluate_page_get_gallery_size (page) > 0);
}

/* "Show Heat Maps" in the Evaluate gallery: each image gets the map of its predicted class,
 * computed on the model runner; closing the gallery cancels what has not run yet. */
static void
test_gallery_heat_maps (void)
{
  BtEvaluatePage *page = window->evaluate_page;
  GtkCheckButton *toggle = bt_evaluate_page_get_heat_toggle (page);
  const BtEvaluation *ev;
  g_autoptr(GArray) cells = NULL;
  guint n, computed;

  bt_window_set_page (window, "evaluate");
  BT_TEST_WAIT (bt_evaluate_page_get_evaluation (page) != NULL && !bt_evaluate_page_is_busy (page));
  bt_test_drain ();
  ev = bt_evaluate_page_get_evaluation (page);
  cells = cells_by_count (ev);
  g_assert_cmpuint (cells->len, >=, 2);
  click_cell (page, g_array_index (cells, int, 0), g_array_index (cells, int, 1));
  n = bt_evaluate_page_get_gallery_size (page);
  g_assert_cmpuint (n, >, 0);
  g_assert_null (bt_evaluate_page_get_heat_map (page, 0));

  /* on: every image's map, of its predicted class, by occlusion, the thumbnail's size at most */
  press_space_on (GTK_WIDGET (toggle));
  g_assert_true (gtk_check_button_get_active (toggle));
  BT_TEST_WAIT (bt_evaluate_page_get_n_heat_jobs (page) == 0);
  for (guint i = 0; i < n; i++)
    {
      const BtHeatmap *map = bt_evaluate_page_get_heat_map (page, i);
      g_assert_nonnull (map);
      g_assert_cmpint (map->class_index, ==, bt_evaluate_page_get_gallery_item (page, i)->pred_class);
      g_assert_cmpint (map->method, ==, BT_EXPLAIN_OCCLUSION);
      g_assert_cmpint (MAX (map->width, map->height), <=, 128);
      g_assert_cmpfloat_with_epsilon (heat_sum (map), 1.0, 1e-3);
    }
  g_assert_cmpuint (bt_evaluate_page_get_n_heat_computed (page), ==, n);
  bt_test_screenshot (GTK_WIDGET (window), "evaluate-heat-800x600.png");
  gtk_window_set_default_size (GTK_WINDOW (window), 1280, 900);
  gtk_widget_queue_resize (GTK_WIDGET (window));
  BT_TEST_WAIT (gtk_widget_get_width (GTK_WIDGET (window)) > 800);
  bt_test_drain ();
  bt_test_screenshot (GTK_WIDGET (window), "evaluate-heat.png");

  /* off: the maps go */
  press_space_on (GTK_WIDGET (toggle));
  g_assert_false (gtk_check_button_get_active (toggle));
  g_assert_null (bt_evaluate_page_get_heat_map (page, 0));

  /* another cell while the runner is busy, then the gallery closes: its maps are never computed */
  computed = bt_evaluate_page_get_n_heat_computed (page);
  set_runner_held (TRUE);
  {
    g_autoptr(GTask) hold = g_task_new (NULL, NULL, NULL, NULL);
    bt_model_runner_run_in_thread (bt_model_runner_get_default (), hold, hold_runner_thread);
  }
  gtk_check_button_set_active (toggle, TRUE);
  click_cell (page, g_array_index (cells, int, 2), g_array_index (cells, int, 3));
  g_assert_cmpuint (bt_evaluate_page_get_n_heat_jobs (page), ==, bt_evaluate_page_get_gallery_size (page));
  bt_evaluate_page_show_cell (page, -1, -1);
  set_runner_held (FALSE);
  BT_TEST_WAIT (bt_evaluate_page_get_n_heat_jobs (page) == 0 &&
                bt_model_runner_get_n_pending (bt_model_runner_get_default ()) == 0);
  g_assert_cmpuint (bt_evaluate_page_get_n_heat_computed (page), ==, computed);
  /* and the first cell again: its maps come from memory, none computed again */
  click_cell (page, g_array_index (cells, int, 0), g_array_index (cells, int, 1));
  g_assert_nonnull (bt_evaluate_page_get_heat_map (page, 0));
  g_assert_cmpuint (bt_evaluate_page_get_n_heat_jobs (page), ==, 0);
  gtk_check_button_set_active (toggle, FALSE);
}

/* #21: the Model page's special values in words, typed words accepted, glossary tooltips. */
static void
test_setting_words (void)
{
  BtModelPage *page = window->model_page;
  GtkSpinButton *dropout = bt_model_page_get_setting_spin (page, "dropout");
  GtkSpinButton *patience = bt_model_page_get_setting_spin (page, "early-stopping-patience");
  GtkSpinButton *lr = bt_model_page_get_setting_spin (page, "learning-rate");

  bt_window_set_page (window, "model");
  bt_test_drain ();
  gtk_spin_button_set_value (dropout, -1);
  gtk_spin_button_set_value (patience, 0);
  g_assert_cmpstr (gtk_editable_get_text (GTK_EDITABLE (dropout)), ==, "Preset default");
  g_assert_cmpstr (gtk_editable_get_text (GTK_EDITABLE (patience)), ==, "Off");
  /* an ordinary value is a number again, and the words typed back mean the special value */
  gtk_spin_button_set_value (patience, 5);
  g_assert_cmpstr (gtk_editable_get_text (GTK_EDITABLE (patience)), ==, "5");
  gtk_editable_set_text (GTK_EDITABLE (patience), "off");
  gtk_spin_button_update (patience);
  g_assert_cmpfloat (gtk_spin_button_get_value (patience), ==, 0);
  g_assert_cmpint (bt_project_get_settings (project)->early_stopping_patience, ==, 0);
  gtk_spin_button_set_value (dropout, 0.3);
  g_assert_cmpfloat_with_epsilon (bt_project_get_settings (project)->dropout, 0.3, 1e-9);
  gtk_editable_set_text (GTK_EDITABLE (dropout), "Preset default");
  gtk_spin_button_update (dropout);
  g_assert_cmpfloat (bt_project_get_settings (project)->dropout, <, 0);
  /* the glossary: each term explained where it is set */
  g_assert_nonnull (strstr (gtk_widget_get_tooltip_text (GTK_WIDGET (lr)), "Learning rate: how big each adjustment"));
  g_assert_nonnull (strstr (gtk_widget_get_tooltip_text (GTK_WIDGET (dropout)), "Dropout: while training"));
}

static gboolean
has_train_points (gpointer data)
{
  BtChart *loss = bt_train_page_get_loss_chart (window->train_page);
  for (guint i = 0; i < bt_chart_get_n_series (loss); i++)
    {
      BtChartSeries *series = bt_chart_get_series (loss, i);
      if (bt_chart_series_get_role (series) == BT_CHART_ROLE_TRAIN && bt_chart_series_get_n_points (series) > 0)
        return TRUE;
    }
  return FALSE;
}

/* #21: a reopened project's Train page shows its latest run's curves. A short run on the
 * Train page, then the same folder opened again as a new project. A project of its own: its
 * run's MLP would otherwise become the other cases' model (Grad-CAM has no map for an MLP). */
static void
test_reopen_curves (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(BtProject) other = NULL, reopened = NULL;
  g_autofree char *other_dir = g_build_filename (project_dir, "other-project", NULL);
  BtProjectSettings s = { 0 };

  other = bt_sample_create_shapes (other_dir, 10, 32, 11, NULL, &error);
  g_assert_no_error (error);
  bt_window_set_project (window, other);
  bt_project_settings_copy (&s, bt_project_get_settings (other));
  g_free (s.preset);
  s.preset = g_strdup ("mlp");
  s.width = s.height = 16;
  s.epochs = 2;
  g_assert_true (bt_project_update_settings (other, &s, &error));
  bt_project_settings_clear (&s);
  bt_window_set_page (window, "train");
  bt_test_click_button (GTK_WIDGET (window->train_page), "Train");
  BT_TEST_WAIT (bt_train_page_is_busy (window->train_page));
  BT_TEST_WAIT (!bt_train_page_is_busy (window->train_page));
  g_assert_true (bt_project_flush (other, &error));

  reopened = bt_project_open (other_dir, &error);
  g_assert_no_error (error);
  bt_window_set_project (window, reopened);
  g_assert_false (has_train_points (NULL));   /* cleared with the old project… */
  BT_TEST_WAIT (has_train_points (NULL));     /* …and drawn again from runs/ */
  bt_window_set_page (window, "train");
  bt_test_screenshot (GTK_WIDGET (window), "train-page-reopened.png");
  bt_window_set_project (window, project);
}

/* A Small CNN saved into the project's models/ with temperature 1.7: the pages list it. */
static void
save_model (void)
{
  static const char *names[] = { "circle", "square", "star", "triangle", NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(BtNet) net = bt_net_new_preset (BT_PRESET_SMALL_CNN, 24, 24, 1, 4, 0.0f, 5, &error);
  g_autofree char *models = g_build_filename (project_dir, "models", NULL);
  BtPreprocess prep;
  BtCalibration calib;

  g_assert_no_error (error);
  bt_preprocess_init_default (&prep, 24, 24, 1);
  bt_calibration_init (&calib);
  calib.temperature = 1.7;
  g_mkdir_with_parents (models, 0755);
  model_path = g_build_filename (models, "20261207-050000-small-cnn.bottega-model", NULL);
  g_assert_true (bt_model_save_calibrated (model_path, net, names, &prep, NULL, NULL, NULL, &calib, NULL, &error));
  g_assert_no_error (error);
}

static void
train_model (const char *epochs)
{
  g_autofree char *cli = g_build_filename (g_getenv ("BOTTEGA_BUILD_ROOT"), "src", "cli", "bottega-cli", NULL);
  const char *argv[] = { cli, "train", project_dir, "--preset", "small-cnn", "--size", "32", "--epochs", epochs,
                         "--quiet", NULL };
  g_autoptr(GError) error = NULL;
  int status = -1;

  g_autofree char *out = NULL;   /* kept off the TAP stream */

  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, NULL, &status, &error));
  g_assert_no_error (error);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  g_clear_object (&project);
  project = bt_project_open (project_dir, &error);
  g_assert_no_error (error);
}

int
main (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  int ret;

  gtk_test_init (&argc, &argv, NULL);
  app = bt_application_new ();
  g_application_set_flags (G_APPLICATION (app),
                           g_application_get_flags (G_APPLICATION (app)) | G_APPLICATION_NON_UNIQUE);
  if (!g_application_register (G_APPLICATION (app), NULL, &error))
    g_error ("register: %s", error->message);

  project_dir = g_dir_make_tmp ("bt-trust-XXXXXX", &error);
  g_assert_no_error (error);
  /* BT_TRUST_TRAIN=EPOCHS (for the docs' screenshots): a real run of bottega-cli instead of
   * an untrained net, on more images */
  trained = g_getenv ("BT_TRUST_TRAIN") != NULL;
  project = bt_sample_create_shapes (project_dir, trained ? 150 : 20, 32, 11, NULL, &error);
  g_assert_no_error (error);
  if (trained)
    train_model (g_getenv ("BT_TRUST_TRAIN"));
  else
    save_model ();

  window = bt_window_new (GTK_APPLICATION (app));
  gtk_window_set_default_size (GTK_WINDOW (window), 1200, 820);
  gtk_window_present (GTK_WINDOW (window));
  bt_window_set_project (window, project);

  g_test_add_func ("/trust/test-page/explain-overlay", test_explain_overlay);
  g_test_add_func ("/trust/evaluate/reliability-threshold", test_reliability_and_threshold);
  g_test_add_func ("/trust/evaluate/gallery-heat-maps", test_gallery_heat_maps);
  g_test_add_func ("/trust/model/setting-words", test_setting_words);
  g_test_add_func ("/trust/train/reopen-curves", test_reopen_curves);
  ret = g_test_run ();

  gtk_window_destroy (GTK_WINDOW (window));
  g_object_unref (project);
  bt_test_rm_rf (project_dir);
  g_free (project_dir);
  g_free (model_path);
  g_object_unref (app);
  bt_test_exit (ret);
}
