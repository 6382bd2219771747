/* test-overlay.c: comparing curves on the Train page — a completed run's training and
 * validation curves come back from runs/ when its check is set, and the trials selected in the
 * leaderboard are drawn as their stored points, each run or trial in a colour of its own and
 * named in the legend; unselecting takes them away again. */
#include "config.h"

#include <glib/gstdio.h>
#include <gtk/gtk.h>
#include <math.h>
#include <string.h>

#include "bt-leaderboard.h"
#include "bt-test-wait.h"
#include "../training/bt-test-tune-util.h"
#include "bt-test-pixels.h"
#include "bt-test-screenshot.h"
#include "bt-train-page.h"
#include "training/bt-tune.h"

static gboolean runs_loaded (gpointer page) { return bt_train_page_get_n_runs (page) == 1; }
static gboolean board_loaded (gpointer lb) { return bt_leaderboard_get_n_trials (lb) == 3; }

/* A finished run as the trainer leaves it: config.ini and metrics.csv. */
static const char metrics[] =
  "epoch,train_loss,train_acc,val_loss,val_acc,lr,images_per_s,elapsed_s,best_epoch,overfitting\n"
  "1,1.300000,0.400000,1.250000,0.450000,0.001,100,1,1,0\n"
  "2,0.900000,0.600000,1.050000,0.500000,0.001,100,2,2,0\n"
  "3,0.600000,0.750000,1.100000,0.520000,0.001,100,3,3,0\n";

static void
write_run (const char *project_dir)
{
  g_autofree char *run = g_build_filename (project_dir, "runs", "20261125-180000", NULL);
  g_autofree char *csv = g_build_filename (run, "metrics.csv", NULL);
  g_autofree char *ini = g_build_filename (run, "config.ini", NULL);
  g_assert_cmpint (g_mkdir_with_parents (run, 0755), ==, 0);
  g_assert_true (g_file_set_contents (csv, metrics, -1, NULL));
  g_assert_true (g_file_set_contents (ini, "[training]\npreset=small-cnn\n", -1, NULL));
}

/* A search with three recorded trials of known curves (no training). */
static void
write_search (BtProject *project)
{
  g_autoptr (GError) error = NULL;
  BtTuneOptions o;
  bt_tune_options_init (&o, bt_project_get_settings (project));
  o.max_trials = 3;
  o.epochs = 4;
  g_autoptr (BtTuneSearch) s = bt_tune_search_new (bt_project_get_dir (project), bt_project_get_settings (project),
                                                   &o, &error);
  g_assert_no_error (error);
  for (int i = 0; i < 3; i++)
    {
      g_autoptr (BtTuneTrial) t = bt_tune_search_plan_next (s);
      for (int e = 0; e < 4; e++)
        {
          double va = 0.3 + 0.1 * i + 0.05 * e, vl = 1.5 - 0.2 * e - 0.1 * i;
          double ta = va + 0.02, tl = vl - 0.1;
          g_array_append_val (t->curve_acc, va);
          g_array_append_val (t->curve_loss, vl);
          g_array_append_val (t->curve_train_acc, ta);
          g_array_append_val (t->curve_train_loss, tl);
        }
      t->val_acc = g_array_index (t->curve_acc, double, 3);
      t->val_loss = g_array_index (t->curve_loss, double, 3);
      t->best_epoch = 4;
      t->seconds = 1;
      g_assert_true (bt_tune_search_record (s, t, &error));
    }
  bt_tune_options_clear (&o);
}

/* The chart's series whose title is `title`, or NULL. */
static BtChartSeries *
find_series (BtChart *chart, const char *title)
{
  for (guint i = 0; i < bt_chart_get_n_series (chart); i++)
    if (g_strcmp0 (bt_chart_series_get_title (bt_chart_get_series (chart, i)), title) == 0)
      return bt_chart_get_series (chart, i);
  return NULL;
}

static void
assert_points (BtChartSeries *s, GArray *values)
{
  g_assert_nonnull (s);
  g_assert_cmpuint (bt_chart_series_get_n_points (s), ==, values->len);
  for (guint i = 0; i < values->len; i++)
    {
      double x, y;
      g_assert_true (bt_chart_series_get_point (s, i, &x, &y));
      g_assert_cmpfloat (x, ==, i + 1);
      g_assert_cmpfloat (y, ==, g_array_index (values, double, i));
    }
}

static void
test_overlay (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *tmp = g_dir_make_tmp ("bt-overlay-XXXXXX", &error);
  g_assert_no_error (error);
  g_autofree char *dir = g_build_filename (tmp, "shapes", NULL);
  g_autoptr (BtProject) project = bt_sample_create_shapes (dir, 4, 32, 1, NULL, &error);
  g_assert_no_error (error);
  write_run (dir);
  write_search (project);

  GtkWidget *window = gtk_window_new ();
  gtk_window_set_default_size (GTK_WINDOW (window), 1100, 720);
  BtTrainPage *page = g_object_new (BT_TYPE_TRAIN_PAGE, NULL);
  gtk_window_set_child (GTK_WINDOW (window), GTK_WIDGET (page));
  gtk_window_present (GTK_WINDOW (window));
  bt_train_page_set_project (page, project);
  bt_test_spin_until (runs_loaded, page);

  BtChart *loss = bt_train_page_get_loss_chart (page), *acc = bt_train_page_get_accuracy_chart (page);
  guint base_loss = bt_chart_get_n_series (loss), base_acc = bt_chart_get_n_series (acc);

  /* the run's check: training and validation curves of both metrics, read back from disk */
  bt_train_page_set_run_shown (page, 0, TRUE);
  g_assert_cmpuint (bt_chart_get_n_series (loss), ==, base_loss + 2);
  g_assert_cmpuint (bt_chart_get_n_series (acc), ==, base_acc + 2);
  /* titled like this session's runs: the folder's timestamp as a date */
  const char *run_title = "2026-11-25 18:00 · Small CNN";
  g_autofree char *run_train = g_strdup_printf ("%s · training", run_title);
  g_autofree char *run_val = g_strdup_printf ("%s · validation", run_title);
  BtChartSeries *rt = find_series (loss, run_train), *rv = find_series (acc, run_val);
  g_assert_nonnull (rt);
  g_assert_nonnull (rv);
  g_assert_cmpint (bt_chart_series_get_role (rt), ==, BT_CHART_ROLE_OVERLAY_TRAIN);
  g_assert_cmpint (bt_chart_series_get_role (rv), ==, BT_CHART_ROLE_OVERLAY);
  double x, y;
  g_assert_cmpuint (bt_chart_series_get_n_points (rt), ==, 3);
  g_assert_true (bt_chart_series_get_point (rt, 2, &x, &y));
  g_assert_cmpfloat (x, ==, 3);
  g_assert_cmpfloat (y, ==, 0.6);
  g_assert_true (bt_chart_series_get_point (rv, 1, &x, &y));
  g_assert_cmpfloat (y, ==, 0.5);

  /* two trials selected in the leaderboard: two more pairs of curves on each chart */
  BtLeaderboard *lb = BT_LEADERBOARD (bt_leaderboard_new ());
  g_object_ref_sink (lb);
  bt_leaderboard_set_project (lb, project);
  bt_test_spin_until (board_loaded, lb);
  bt_train_page_attach_leaderboard (page, lb);
  g_assert_cmpuint (bt_chart_get_n_series (loss), ==, base_loss + 2);
  bt_leaderboard_set_selected (lb, 0, TRUE, TRUE);
  bt_leaderboard_set_selected (lb, 2, TRUE, FALSE);
  g_autoptr (GPtrArray) sel = bt_leaderboard_get_selected_trials (lb);
  g_assert_cmpuint (sel->len, ==, 2);
  g_assert_cmpuint (bt_chart_get_n_series (loss), ==, base_loss + 2 + 4);
  g_assert_cmpuint (bt_chart_get_n_series (acc), ==, base_acc + 2 + 4);
  GdkRGBA colors[3];
  bt_chart_get_series_color (acc, rv, &colors[0]);
  for (guint i = 0; i < sel->len; i++)
    {
      const BtTuneTrial *t = g_ptr_array_index (sel, i);
      g_autofree char *train = g_strdup_printf ("Trial %d · training", t->index + 1);
      g_autofree char *val = g_strdup_printf ("Trial %d · validation", t->index + 1);
      assert_points (find_series (loss, train), t->curve_train_loss);
      assert_points (find_series (loss, val), t->curve_loss);
      assert_points (find_series (acc, train), t->curve_train_acc);
      assert_points (find_series (acc, val), t->curve_acc);
      bt_chart_get_series_color (acc, find_series (acc, val), &colors[i + 1]);
      /* training and validation of one trial share its colour */
      GdkRGBA c;
      bt_chart_get_series_color (loss, find_series (loss, train), &c);
      g_assert_true (gdk_rgba_equal (&c, &colors[i + 1]));
    }
  /* the run and each trial in a colour of its own, none the current run's */
  GdkRGBA current;
  bt_chart_get_series_color (acc, bt_chart_get_series (acc, 2), &current);
  for (int i = 0; i < 3; i++)
    {
      g_assert_false (gdk_rgba_equal (&colors[i], &current));
      for (int j = i + 1; j < 3; j++)
        g_assert_false (gdk_rgba_equal (&colors[i], &colors[j]));
    }

  /* drawn: at the last epoch of the first selected trial's validation accuracy, its colour */
  {
    const BtTuneTrial *t = g_ptr_array_index (sel, 0);
    g_autofree char *val = g_strdup_printf ("Trial %d · validation", t->index + 1);
    cairo_surface_t *surface = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, 600, 400);
    cairo_t *cr = cairo_create (surface);
    double px, py;
    bt_chart_render (acc, cr, 600, 400, TRUE);
    cairo_destroy (cr);
    cairo_surface_flush (surface);
    bt_chart_value_to_point (acc, 600, 400, 2.5, (g_array_index (t->curve_acc, double, 1) +
                                                  g_array_index (t->curve_acc, double, 2)) / 2, &px, &py);
    GdkRGBA want;
    bt_chart_get_series_color (acc, find_series (acc, val), &want);
    g_assert_true (bt_test_color_around (surface, px, py, 2, &want, 0.12));
    cairo_surface_destroy (surface);
  }

  bt_test_screenshot (window, "train-page-overlay.png");

  /* unselecting one trial takes its two curves away; the run's check too */
  bt_leaderboard_set_selected (lb, 0, FALSE, FALSE);
  g_assert_cmpuint (bt_chart_get_n_series (loss), ==, base_loss + 2 + 2);
  bt_train_page_set_run_shown (page, 0, FALSE);
  g_assert_cmpuint (bt_chart_get_n_series (loss), ==, base_loss + 2);
  g_assert_null (find_series (loss, run_train));

  gtk_window_destroy (GTK_WINDOW (window));
  g_object_unref (lb);
  g_clear_object (&project);
  bt_test_rm_rf (tmp);
}

int
main (int argc, char **argv)
{
  gtk_test_init (&argc, &argv, NULL);
  g_test_add_func ("/overlay/runs-and-trials", test_overlay);
  return g_test_run ();
}
