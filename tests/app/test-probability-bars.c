/* test-probability-bars.c: sorting, bar lengths, highlight and bad values of the
 * probability bars widget. */
#include "config.h"

#include <gtk/gtk.h>
#include <math.h>

#include "app/bt-probability-bars.h"
#include "app/bt-chart-style.h"
#include "bt-test-pixels.h"

#define W 400
#define H 200

static void
test_sorted_and_drawn (void)
{
  static const char *names[] = { "circle", "square", "star", "triangle" };
  static const float probs[] = { 0.1f, 0.6f, 0.05f, 0.25f };
  GtkWidget *window = gtk_window_new ();
  BtProbabilityBars *bars = BT_PROBABILITY_BARS (bt_probability_bars_new ());
  cairo_surface_t *surface;
  cairo_t *cr;
  graphene_rect_t bar, bar2;
  BtChartStyle st;
  GdkRGBA got;
  double full_x;
  static const int want_order[] = { 1, 3, 0, 2 };

  gtk_window_set_child (GTK_WINDOW (window), GTK_WIDGET (bars));
  bt_probability_bars_set_data (bars, 4, names, probs);
  g_assert_cmpuint (bt_probability_bars_get_n (bars), ==, 4);
  for (guint row = 0; row < 4; row++)
    g_assert_cmpint (bt_probability_bars_get_class_at_row (bars, row), ==, want_order[row]);
  g_assert_cmpint (bt_probability_bars_get_class_at_row (bars, 4), ==, -1);

  surface = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, W, H);
  cr = cairo_create (surface);
  bt_probability_bars_render (bars, cr, W, H);
  cairo_destroy (cr);
  bt_chart_style_init (&st, GTK_WIDGET (bars));

  /* bar lengths proportional to the probabilities, rows top to bottom */
  g_assert_true (bt_probability_bars_get_bar_area (bars, W, H, 0, &bar, &full_x));
  g_assert_true (bt_probability_bars_get_bar_area (bars, W, H, 1, &bar2, NULL));
  g_assert_cmpfloat (bar2.origin.y, >, bar.origin.y + bar.size.height - 1);
  g_assert_cmpfloat_with_epsilon (bar.size.width / (full_x - bar.origin.x), 0.6, 0.01);
  g_assert_cmpfloat_with_epsilon (bar2.size.width / (full_x - bar2.origin.x), 0.25, 0.01);

  /* the top class in the accent colour, the others not */
  got = bt_test_pixel (surface, bar.origin.x + bar.size.width - 3, bar.origin.y + bar.size.height / 2);
  g_assert_true (bt_test_color_near (&got, &st.accent, 0.03));
  got = bt_test_pixel (surface, bar2.origin.x + bar2.size.width - 3, bar2.origin.y + bar2.size.height / 2);
  g_assert_false (bt_test_color_near (&got, &st.accent, 0.1));
  g_assert_cmpfloat (got.alpha, >, 0.3);
  /* past the end of the top bar: only the faint track */
  got = bt_test_pixel (surface, bar.origin.x + bar.size.width + 5, bar.origin.y + bar.size.height / 2);
  g_assert_cmpfloat (got.alpha, <, 0.15);

  cairo_surface_destroy (surface);
  gtk_window_destroy (GTK_WINDOW (window));
}

static void
test_bad_values (void)
{
  static const char *names[] = { "a", "b", "c" };
  const float probs[] = { NAN, -0.5f, INFINITY };
  BtProbabilityBars *bars = g_object_ref_sink (BT_PROBABILITY_BARS (bt_probability_bars_new ()));
  cairo_surface_t *surface = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, 50, 20);
  cairo_t *cr = cairo_create (surface);

  bt_probability_bars_set_data (bars, 3, names, probs);
  g_assert_cmpfloat (bt_probability_bars_get_probability (bars, 0), ==, 0);
  g_assert_cmpfloat (bt_probability_bars_get_probability (bars, 1), ==, 0);
  g_assert_cmpfloat (bt_probability_bars_get_probability (bars, 2), ==, 0);
  /* ties keep class order */
  g_assert_cmpint (bt_probability_bars_get_class_at_row (bars, 0), ==, 0);
  bt_probability_bars_render (bars, cr, 50, 20);
  bt_probability_bars_set_data (bars, 0, NULL, NULL);
  bt_probability_bars_render (bars, cr, 50, 20);
  g_assert_cmpint (bt_probability_bars_get_class_at_row (bars, 0), ==, -1);

  cairo_destroy (cr);
  cairo_surface_destroy (surface);
  g_object_unref (bars);
}

int
main (int argc, char **argv)
{
  gtk_test_init (&argc, &argv, NULL);

  g_test_add_func ("/probability-bars/sorted-drawn", test_sorted_and_drawn);
  g_test_add_func ("/probability-bars/bad-values", test_bad_values);

  return g_test_run ();
}
