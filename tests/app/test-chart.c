/* test-chart.c: the chart axis, series model and widget: ticks, smoothing, CSV, and pixels
 * drawn where the values say, best marker, gap shading, degenerate series, exports. */
#include "config.h"

#include <gtk/gtk.h>
#include <math.h>
#include <string.h>

#include "app/bt-chart.h"
#include "bt-test-pixels.h"

#define W 480
#define H 320

static void
check_ticks (double min, double max, guint max_ticks, gboolean integer,
             const double *want, guint n_want, double want_step)
{
  double ticks[BT_CHART_AXIS_MAX_TICKS], step = 0;
  guint n = bt_chart_compute_ticks (min, max, max_ticks, integer, ticks, &step);

  g_assert_cmpuint (n, ==, n_want);
  g_assert_cmpfloat_with_epsilon (step, want_step, 1e-12);
  for (guint i = 0; i < n; i++)
    g_assert_cmpfloat_with_epsilon (ticks[i], want[i], 1e-12);
}

static void
test_axis_ticks (void)
{
  check_ticks (0, 1, 6, FALSE, (double[]) { 0, 0.2, 0.4, 0.6, 0.8, 1.0 }, 6, 0.2);
  check_ticks (0, 1, 5, FALSE, (double[]) { 0, 0.5, 1.0 }, 3, 0.5);
  check_ticks (0.013, 0.087, 5, FALSE, (double[]) { 0.02, 0.04, 0.06, 0.08 }, 4, 0.02);
  check_ticks (-3, 7, 6, FALSE, (double[]) { -2, 0, 2, 4, 6 }, 5, 2);
  check_ticks (1, 3, 10, TRUE, (double[]) { 1, 2, 3 }, 3, 1);
  check_ticks (0, 100, 6, TRUE, (double[]) { 0, 20, 40, 60, 80, 100 }, 6, 20);

  /* never more ticks than asked for, every tick inside the range and a multiple of the step */
  for (double range = 0.001; range < 1e6; range *= 3.7)
    for (guint max_ticks = 2; max_ticks <= 10; max_ticks++)
      {
        double ticks[BT_CHART_AXIS_MAX_TICKS], step;
        guint n = bt_chart_compute_ticks (0.3 * range, 1.3 * range, max_ticks, FALSE, ticks, &step);
        g_assert_cmpuint (n, >=, 1);
        g_assert_cmpuint (n, <=, max_ticks);
        for (guint i = 0; i < n; i++)
          {
            g_assert_cmpfloat (ticks[i], >=, 0.3 * range - step * 1e-6);
            g_assert_cmpfloat (ticks[i], <=, 1.3 * range + step * 1e-6);
            g_assert_cmpfloat (fabs (ticks[i] / step - round (ticks[i] / step)), <, 1e-6);
          }
      }

  /* absurd input: no ticks, no crash */
  {
    double ticks[BT_CHART_AXIS_MAX_TICKS];
    g_assert_cmpuint (bt_chart_compute_ticks (NAN, 1, 5, FALSE, ticks, NULL), ==, 0);
    g_assert_cmpuint (bt_chart_compute_ticks (0, INFINITY, 5, FALSE, ticks, NULL), ==, 0);
    g_assert_cmpuint (bt_chart_compute_ticks (2, 2, 5, FALSE, ticks, NULL), ==, 1);
  }
}

static void
test_axis_fit_format (void)
{
  g_autoptr(BtChartAxis) loss = bt_chart_axis_new (BT_CHART_AXIS_NUMBER);
  g_autoptr(BtChartAxis) acc = bt_chart_axis_new (BT_CHART_AXIS_PERCENT);
  g_autoptr(BtChartAxis) epochs = bt_chart_axis_new (BT_CHART_AXIS_INTEGER);
  g_autofree char *a = NULL, *b = NULL, *c = NULL;
  double min, max;

  bt_chart_axis_fit (loss, 0.31, 2.29);
  bt_chart_axis_get_range (loss, &min, &max);
  g_assert_cmpfloat (min, ==, 0);
  g_assert_cmpfloat (max, ==, 2.5);
  g_assert_cmpfloat_with_epsilon (bt_chart_axis_normalize (loss, 1.25), 0.5, 1e-12);

  bt_chart_axis_fit (acc, 0.52, 0.97);
  bt_chart_axis_get_range (acc, &min, &max);
  g_assert_cmpfloat_with_epsilon (min, 0.5, 1e-12);
  g_assert_cmpfloat_with_epsilon (max, 1.0, 1e-12);

  /* one epoch: still a usable range */
  bt_chart_axis_fit (epochs, 1, 1);
  bt_chart_axis_get_range (epochs, &min, &max);
  g_assert_cmpfloat (max, >, min);

  /* a fixed axis ignores the data */
  bt_chart_axis_set_auto_range (acc, FALSE);
  bt_chart_axis_set_range (acc, 0, 1);
  bt_chart_axis_fit (acc, 0.2, 0.3);
  bt_chart_axis_get_range (acc, &min, &max);
  g_assert_cmpfloat (min, ==, 0);
  g_assert_cmpfloat (max, ==, 1);

  a = bt_chart_axis_format_value (acc, 0.4, 0.2);
  g_assert_cmpstr (a, ==, "40%");
  b = bt_chart_axis_format_value (loss, 0.04, 0.02);
  g_assert_cmpstr (b, ==, "0.04");
  c = bt_chart_axis_format_value (epochs, 12, 2);
  g_assert_cmpstr (c, ==, "12");
}

static void
count_cb (gpointer obj, guint *n)
{
  (*n)++;
}

static void
test_series_model (void)
{
  g_autoptr(BtChartSeries) s = bt_chart_series_new ("Training loss", BT_CHART_ROLE_TRAIN);
  g_autoptr(BtChartSeries) v = bt_chart_series_new ("Validation, loss", BT_CHART_ROLE_VALIDATION);
  g_autofree char *csv = NULL;
  double x0, x1, y0, y1, y;
  guint changes = 0;

  g_signal_connect (s, "changed", G_CALLBACK (count_cb), &changes);
  g_assert_false (bt_chart_series_get_bounds (s, NULL, NULL, NULL, NULL));
  g_assert_cmpint (bt_chart_series_find_nearest (s, 1), ==, -1);

  bt_chart_series_append (s, 1, 1.0);
  bt_chart_series_append (s, 2, NAN);
  bt_chart_series_append (s, 3, 3.0);
  bt_chart_series_append (s, NAN, 5.0);  /* no x: dropped */
  g_assert_cmpuint (changes, ==, 4);
  g_assert_cmpuint (bt_chart_series_get_n_points (s), ==, 3);

  g_assert_true (bt_chart_series_get_bounds (s, &x0, &x1, &y0, &y1));
  g_assert_cmpfloat (x0, ==, 1);
  g_assert_cmpfloat (x1, ==, 3);
  g_assert_cmpfloat (y0, ==, 1);
  g_assert_cmpfloat (y1, ==, 3);

  g_assert_cmpint (bt_chart_series_find_nearest (s, 2.4), ==, 1);
  g_assert_cmpint (bt_chart_series_find_nearest (s, 2.6), ==, 2);
  g_assert_cmpint (bt_chart_series_find_nearest (s, -10), ==, 0);
  g_assert_cmpint (bt_chart_series_find_x (s, 2.5), ==, -1);

  /* EMA with bias correction, skipping the NaN: 1, NaN, (0.25 + 1.5) / 0.75 */
  g_assert_cmpfloat (bt_chart_series_get_smoothed (s, 2), ==, 3.0);
  bt_chart_series_set_smoothing (s, 0.5);
  g_assert_cmpfloat_with_epsilon (bt_chart_series_get_smoothed (s, 0), 1.0, 1e-12);
  g_assert_true (isnan (bt_chart_series_get_smoothed (s, 1)));
  g_assert_cmpfloat_with_epsilon (bt_chart_series_get_smoothed (s, 2), 1.75 / 0.75, 1e-12);
  bt_chart_series_get_point (s, 2, NULL, &y);
  g_assert_cmpfloat (y, ==, 3.0);   /* raw values stay */

  bt_chart_series_append (v, 2, 0.5);
  csv = bt_chart_series_to_csv ((BtChartSeries *[]) { s, v }, 2, "epoch");
  g_assert_cmpstr (csv, ==,
                   "epoch,Training loss,\"Validation, loss\"\r\n"
                   "1,1,\r\n"
                   "2,nan,0.5\r\n"
                   "3,3,\r\n");

  bt_chart_series_clear (s);
  g_assert_cmpuint (bt_chart_series_get_n_points (s), ==, 0);
}

typedef struct {
  GtkWidget     *window;
  BtChart       *chart;
  BtChartSeries *train;
  BtChartSeries *val;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr(BtChartAxis) x = bt_chart_axis_new (BT_CHART_AXIS_INTEGER);
  g_autoptr(BtChartAxis) y = bt_chart_axis_new (BT_CHART_AXIS_NUMBER);

  bt_chart_axis_set_auto_range (x, FALSE);
  bt_chart_axis_set_range (x, 1, 3);
  bt_chart_axis_set_auto_range (y, FALSE);
  bt_chart_axis_set_range (y, 0, 1);

  f->window = gtk_window_new ();
  f->chart = BT_CHART (bt_chart_new ("Loss", x, y));
  bt_chart_set_x_title (f->chart, "Epoch");
  gtk_window_set_child (GTK_WINDOW (f->window), GTK_WIDGET (f->chart));
  f->train = bt_chart_series_new ("Training", BT_CHART_ROLE_TRAIN);
  f->val = bt_chart_series_new ("Validation", BT_CHART_ROLE_VALIDATION);
  bt_chart_add_series (f->chart, f->train);
  bt_chart_add_series (f->chart, f->val);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  g_object_unref (f->train);
  g_object_unref (f->val);
  gtk_window_destroy (GTK_WINDOW (f->window));
}

static cairo_surface_t *
render (BtChart *chart, int scale)
{
  cairo_surface_t *surface = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, W * scale, H * scale);
  cairo_t *cr;

  cairo_surface_set_device_scale (surface, scale, scale);
  cr = cairo_create (surface);
  bt_chart_render (chart, cr, W, H, FALSE);
  g_assert_cmpint (cairo_status (cr), ==, CAIRO_STATUS_SUCCESS);
  cairo_destroy (cr);
  return surface;
}

static void
test_chart_points (Fixture *f, gconstpointer data)
{
  static const double xs[] = { 1, 2, 3 }, train[] = { 0.8, 0.5, 0.2 }, val[] = { 0.9, 0.7, 0.6 };
  cairo_surface_t *surface;
  graphene_rect_t plot;
  GdkRGBA tc, vc, bg;
  double px, py;

  bt_chart_series_append_many (f->train, xs, train, 3);
  bt_chart_series_append_many (f->val, xs, val, 3);
  bt_chart_get_series_color (f->chart, f->train, &tc);
  bt_chart_get_series_color (f->chart, f->val, &vc);
  g_assert_false (gdk_rgba_equal (&tc, &vc));

  for (int scale = 1; scale <= 2; scale++)
    {
      surface = render (f->chart, scale);
      bt_chart_get_plot_area (f->chart, W, H, &plot);
      g_assert_cmpfloat (plot.size.width, >, W / 2);
      g_assert_cmpfloat (plot.size.height, >, H / 3);

      for (guint i = 0; i < 3; i++)
        {
          GdkRGBA got;
          bt_chart_value_to_point (f->chart, W, H, xs[i], train[i], &px, &py);
          got = bt_test_pixel (surface, px, py);
          g_assert_true (bt_test_color_near (&got, &tc, 0.03));
          bt_chart_value_to_point (f->chart, W, H, xs[i], val[i], &px, &py);
          got = bt_test_pixel (surface, px, py);
          g_assert_true (bt_test_color_near (&got, &vc, 0.03));
        }
      /* the first and last epochs lie on the plot's edges */
      bt_chart_value_to_point (f->chart, W, H, 1, 0, &px, &py);
      g_assert_cmpfloat_with_epsilon (px, plot.origin.x, 1e-9);
      g_assert_cmpfloat_with_epsilon (py, plot.origin.y + plot.size.height, 1e-9);

      /* far from every line (top-left of the plot) nothing of either colour */
      bt_chart_value_to_point (f->chart, W, H, 1.5, 0.05, &px, &py);
      bg = bt_test_pixel (surface, px, py);
      g_assert_false (bt_test_color_near (&bg, &tc, 0.2));
      g_assert_false (bt_test_color_near (&bg, &vc, 0.2));
      cairo_surface_destroy (surface);
    }
}

static void
test_chart_best_marker (Fixture *f, gconstpointer data)
{
  static const double xs[] = { 1, 2, 3 }, train[] = { 0.8, 0.5, 0.2 }, val[] = { 0.9, 0.4, 0.6 };
  cairo_surface_t *before, *after;
  GdkRGBA good;
  double px, top, bottom;
  guint hits_before = 0, hits_after = 0;

  bt_chart_series_append_many (f->train, xs, train, 3);
  bt_chart_series_append_many (f->val, xs, val, 3);
  bt_chart_get_best_color (f->chart, &good);

  before = render (f->chart, 1);
  bt_chart_set_best_x (f->chart, 2);
  g_assert_cmpfloat (bt_chart_get_best_x (f->chart), ==, 2);
  after = render (f->chart, 1);

  bt_chart_value_to_point (f->chart, W, H, 2, 1, &px, &top);
  bt_chart_value_to_point (f->chart, W, H, 2, 0, &px, &bottom);
  for (double y = top + 2; y < bottom - 2; y += 1)
    {
      GdkRGBA a = bt_test_pixel (before, px, y), b = bt_test_pixel (after, px, y);
      hits_before += bt_test_color_near (&a, &good, 0.12);
      hits_after += bt_test_color_near (&b, &good, 0.12);
    }
  g_assert_cmpuint (hits_before, ==, 0);
  /* a dashed line: more than a third of the column */
  g_assert_cmpuint (hits_after, >, (bottom - top) / 3);

  cairo_surface_destroy (before);
  cairo_surface_destroy (after);
}

static void
test_chart_gap (Fixture *f, gconstpointer data)
{
  static const double xs[] = { 1, 2, 3 }, train[] = { 0.2, 0.2, 0.2 }, val[] = { 0.8, 0.8, 0.8 };
  cairo_surface_t *plain, *shaded;
  GdkRGBA a, b, vc;
  double px, py;

  bt_chart_series_append_many (f->train, xs, train, 3);
  bt_chart_series_append_many (f->val, xs, val, 3);
  bt_chart_get_series_color (f->chart, f->val, &vc);

  plain = render (f->chart, 1);
  bt_chart_set_gap (f->chart, f->train, f->val);
  shaded = render (f->chart, 1);

  bt_chart_value_to_point (f->chart, W, H, 1.5, 0.5, &px, &py);
  a = bt_test_pixel (plain, px, py);
  b = bt_test_pixel (shaded, px, py);
  g_assert_cmpfloat (a.alpha, <, 0.05);
  g_assert_cmpfloat (b.alpha, >, 0.08);
  g_assert_cmpfloat (b.alpha, <, 0.5);   /* shaded, not painted over */
  g_assert_cmpfloat (fabs (b.red - vc.red) + fabs (b.green - vc.green) + fabs (b.blue - vc.blue), <, 0.15);

  /* outside the band, no shading */
  bt_chart_value_to_point (f->chart, W, H, 1.5, 0.95, &px, &py);
  b = bt_test_pixel (shaded, px, py);
  g_assert_cmpfloat (b.alpha, <, 0.05);

  cairo_surface_destroy (plain);
  cairo_surface_destroy (shaded);
}

static void
test_chart_degenerate (Fixture *f, gconstpointer data)
{
  cairo_surface_t *surface;
  GdkRGBA tc, got;
  double px, py, min, max;
  BtChartAxis *y = bt_chart_get_y_axis (f->chart);

  /* empty */
  surface = render (f->chart, 1);
  cairo_surface_destroy (surface);
  g_assert_null (bt_chart_dup_hover_markup (f->chart));

  /* one point: a dot where it is */
  bt_chart_series_append (f->train, 2, 0.5);
  bt_chart_get_series_color (f->chart, f->train, &tc);
  surface = render (f->chart, 1);
  bt_chart_value_to_point (f->chart, W, H, 2, 0.5, &px, &py);
  got = bt_test_pixel (surface, px, py);
  g_assert_true (bt_test_color_near (&got, &tc, 0.03));
  cairo_surface_destroy (surface);

  /* NaN and Inf (diverged) with an auto-ranged axis: the range stays finite and from the
   * finite values only */
  bt_chart_axis_set_auto_range (y, TRUE);
  bt_chart_series_append (f->val, 1, NAN);
  bt_chart_series_append (f->val, 2, INFINITY);
  bt_chart_series_append (f->val, 3, 0.7);
  bt_chart_axis_get_range (y, &min, &max);
  g_assert_true (isfinite (min) && isfinite (max));
  g_assert_cmpfloat (max, <=, 1.0);
  surface = render (f->chart, 1);
  cairo_surface_destroy (surface);

  /* only NaN */
  bt_chart_series_clear (f->train);
  bt_chart_series_clear (f->val);
  bt_chart_series_append (f->val, 1, NAN);
  surface = render (f->chart, 1);
  cairo_surface_destroy (surface);

  /* tiny sizes */
  for (int w = 0; w < 40; w += 7)
    {
      cairo_surface_t *s = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, MAX (w, 1), MAX (w, 1));
      cairo_t *cr = cairo_create (s);
      bt_chart_render (f->chart, cr, w, w, TRUE);
      cairo_destroy (cr);
      cairo_surface_destroy (s);
    }
}

static void
test_chart_hover_and_export (Fixture *f, gconstpointer data)
{
  static const double xs[] = { 1, 2, 3 }, train[] = { 0.8, 0.5, 0.2 }, val[] = { 0.9, 0.4, 0.6 };
  g_autofree char *markup = NULL;
  g_autoptr(GBytes) png = NULL, svg = NULL;
  g_autoptr(GError) error = NULL;
  gsize len;
  const char *data_bytes;

  bt_chart_series_append_many (f->train, xs, train, 3);
  bt_chart_series_append_many (f->val, xs, val, 3);
  bt_chart_set_best_x (f->chart, 2);
  bt_chart_set_hover_x (f->chart, 2);
  markup = bt_chart_dup_hover_markup (f->chart);
  g_assert_nonnull (strstr (markup, "Epoch 2"));
  g_assert_nonnull (strstr (markup, "Training: 0.5000"));
  g_assert_nonnull (strstr (markup, "Validation: 0.4000"));

  png = bt_chart_render_png (f->chart, 640, 400, 2, &error);
  g_assert_no_error (error);
  data_bytes = g_bytes_get_data (png, &len);
  g_assert_cmpuint (len, >, 8);
  g_assert_cmpmem (data_bytes, 8, "\x89PNG\r\n\x1a\n", 8);

  svg = bt_chart_render_svg (f->chart, 640, 400, &error);
  g_assert_no_error (error);
  data_bytes = g_bytes_get_data (svg, &len);
  g_assert_nonnull (g_strstr_len (data_bytes, len, "<svg"));

  g_assert_null (bt_chart_render_png (f->chart, 0, 400, 1, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
}

static void
test_chart_smoothing_drawn (Fixture *f, gconstpointer data)
{
  g_autoptr(BtChartSeries) steps = bt_chart_series_new ("Training (per step)", BT_CHART_ROLE_STEP);
  cairo_surface_t *surface;
  GdkRGBA tc, got;
  double px, py;

  /* zig-zag raw values around 0.5: the smoothed line runs through the middle */
  for (int i = 0; i <= 2000; i++)
    bt_chart_series_append (steps, 1 + i / 1000.0, (i % 2) ? 0.7 : 0.3);
  bt_chart_series_set_smoothing (steps, 0.9);
  bt_chart_add_series (f->chart, steps);
  bt_chart_get_series_color (f->chart, steps, &tc);
  surface = render (f->chart, 1);
  bt_chart_value_to_point (f->chart, W, H, 2.5, bt_chart_series_get_smoothed (steps, 1500), &px, &py);
  g_assert_cmpfloat_with_epsilon (bt_chart_series_get_smoothed (steps, 1500), 0.5, 0.05);
  /* drawn at 75 % opacity over the faint raw band (one point per pixel column) */
  {
    gboolean found = FALSE;
    for (int dy = -2; dy <= 2 && !found; dy++)
      {
        got = bt_test_pixel (surface, px, py + dy);
        found = got.alpha > 0.6 && fabs (got.blue - tc.blue) < 0.2;
      }
    g_assert_true (found);
  }
  /* the raw band: faint between the zig-zag's extremes, empty outside them */
  bt_chart_value_to_point (f->chart, W, H, 2.5, 0.62, &px, &py);
  got = bt_test_pixel (surface, px, py);
  g_assert_cmpfloat (got.alpha, >, 0.1);
  g_assert_cmpfloat (got.alpha, <, 0.5);
  bt_chart_value_to_point (f->chart, W, H, 2.5, 0.85, &px, &py);
  got = bt_test_pixel (surface, px, py);
  g_assert_cmpfloat (got.alpha, <, 0.05);
  cairo_surface_destroy (surface);
}

int
main (int argc, char **argv)
{
  gtk_test_init (&argc, &argv, NULL);

  g_test_add_func ("/chart/axis/ticks", test_axis_ticks);
  g_test_add_func ("/chart/axis/fit-format", test_axis_fit_format);
  g_test_add_func ("/chart/series/model", test_series_model);
  g_test_add ("/chart/widget/points", Fixture, NULL, fixture_setup, test_chart_points, fixture_teardown);
  g_test_add ("/chart/widget/best-marker", Fixture, NULL, fixture_setup, test_chart_best_marker, fixture_teardown);
  g_test_add ("/chart/widget/gap", Fixture, NULL, fixture_setup, test_chart_gap, fixture_teardown);
  g_test_add ("/chart/widget/degenerate", Fixture, NULL, fixture_setup, test_chart_degenerate, fixture_teardown);
  g_test_add ("/chart/widget/hover-export", Fixture, NULL, fixture_setup, test_chart_hover_and_export, fixture_teardown);
  g_test_add ("/chart/widget/smoothing", Fixture, NULL, fixture_setup, test_chart_smoothing_drawn, fixture_teardown);

  return g_test_run ();
}
