/* test-confusion-matrix.c: hit-testing, row-normalized values, colours and the
 * cell-activated signal of the confusion matrix widget. */
#include "config.h"

#include <gtk/gtk.h>
#include <string.h>

#include "app/bt-confusion-matrix.h"
#include "app/bt-chart-style.h"
#include "bt-test-input.h"
#include "bt-test-pixels.h"
#include "bt-test-wait.h"

#define W 420
#define H 380

static const char *names[] = { "circle", "square", "a rather long class name" };
static const guint counts[] = {
  8, 2, 0,
  0, 10, 0,
  1, 1, 2,
};

static void
test_hit_testing (void)
{
  GtkWidget *window = gtk_window_new ();
  BtConfusionMatrix *cm = BT_CONFUSION_MATRIX (bt_confusion_matrix_new ());
  graphene_rect_t area, prev;
  guint r, c;

  gtk_window_set_child (GTK_WINDOW (window), GTK_WIDGET (cm));
  g_assert_false (bt_confusion_matrix_cell_at (cm, W, H, W / 2, H / 2, &r, &c));

  bt_confusion_matrix_set_data (cm, 3, names, counts);
  g_assert_cmpuint (bt_confusion_matrix_get_n_classes (cm), ==, 3);

  for (guint row = 0; row < 3; row++)
    for (guint col = 0; col < 3; col++)
      {
        g_assert_true (bt_confusion_matrix_get_cell_area (cm, W, H, row, col, &area));
        g_assert_cmpfloat (area.size.width, >=, 40);
        /* the centre and points just inside the corners belong to the cell */
        g_assert_true (bt_confusion_matrix_cell_at (cm, W, H, area.origin.x + area.size.width / 2,
                                                    area.origin.y + area.size.height / 2, &r, &c));
        g_assert_cmpuint (r, ==, row);
        g_assert_cmpuint (c, ==, col);
        g_assert_true (bt_confusion_matrix_cell_at (cm, W, H, area.origin.x + 0.5, area.origin.y + 0.5, &r, &c));
        g_assert_cmpuint (r, ==, row);
        g_assert_cmpuint (c, ==, col);
        g_assert_true (bt_confusion_matrix_cell_at (cm, W, H, area.origin.x + area.size.width - 0.5,
                                                    area.origin.y + area.size.height - 0.5, &r, &c));
        g_assert_cmpuint (r, ==, row);
        g_assert_cmpuint (c, ==, col);
        /* cells lie inside the widget, left to right, top to bottom */
        g_assert_cmpfloat (area.origin.x + area.size.width, <=, W);
        g_assert_cmpfloat (area.origin.y + area.size.height, <=, H);
        if (col > 0)
          g_assert_cmpfloat (area.origin.x, >=, prev.origin.x + prev.size.width - 0.01);
        prev = area;
      }

  /* outside the grid: the label margins and beyond the last cell */
  bt_confusion_matrix_get_cell_area (cm, W, H, 0, 0, &area);
  g_assert_false (bt_confusion_matrix_cell_at (cm, W, H, area.origin.x - 2, area.origin.y + 5, &r, &c));
  g_assert_false (bt_confusion_matrix_cell_at (cm, W, H, area.origin.x + 5, area.origin.y - 2, &r, &c));
  bt_confusion_matrix_get_cell_area (cm, W, H, 2, 2, &area);
  g_assert_false (bt_confusion_matrix_cell_at (cm, W, H, area.origin.x + area.size.width + 1,
                                               area.origin.y + 5, &r, &c));
  g_assert_false (bt_confusion_matrix_get_cell_area (cm, W, H, 3, 0, &area));

  gtk_window_destroy (GTK_WINDOW (window));
}

/* Twelve flower names in a narrow matrix (the Evaluate page at 800×600): every column name is
 * drawn inside the widget's width (the last one, turned 45°, ran 40 px past it and was cut) and
 * the cells stay big enough for their counts; a wide matrix keeps its names at 45°. Drawn onto
 * a surface wider than the widget: ink right of the width is a name that the page would cut. */
static void
test_names_inside (void)
{
  static const char *flowers[] = { "bluebell", "buttercup", "colts-foot", "daisy", "dandelion", "fritillary",
                                   "iris", "lily-valley", "pansy", "sunflower", "tigerlily", "windflower" };
  GtkWidget *window = gtk_window_new ();
  BtConfusionMatrix *cm = BT_CONFUSION_MATRIX (bt_confusion_matrix_new ());
  guint many[12 * 12] = { 0 };
  const int widths[] = { 380, 460, 700 };

  gtk_window_set_child (GTK_WINDOW (window), GTK_WIDGET (cm));
  for (int k = 0; k < 12; k++)
    many[k * 12 + k] = 5 + k;
  bt_confusion_matrix_set_data (cm, 12, flowers, many);
  for (guint w = 0; w < G_N_ELEMENTS (widths); w++)
    {
      const int width = widths[w], height = 900, extra = 200;
      cairo_surface_t *surface = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, width + extra, height);
      cairo_t *cr = cairo_create (surface);
      graphene_rect_t area;
      int outside = 0;

      bt_confusion_matrix_render (cm, cr, width, height);
      cairo_destroy (cr);
      for (int y = 0; y < height; y++)
        for (int x = width; x < width + extra; x++)
          outside += bt_test_pixel (surface, x, y).alpha > 0;
      g_test_message ("width %d: %d pixels drawn right of the widget", width, outside);
      g_assert_cmpint (outside, ==, 0);
      g_assert_true (bt_confusion_matrix_get_cell_area (cm, width, height, 11, 11, &area));
      g_assert_cmpfloat (area.size.width, >=, 18);   /* counts are shown from 18 px */
      g_assert_cmpfloat (area.origin.x + area.size.width, <=, width);
      cairo_surface_destroy (surface);
    }
  gtk_window_destroy (GTK_WINDOW (window));
}

static void
test_values_and_colours (void)
{
  GtkWidget *window = gtk_window_new ();
  BtConfusionMatrix *cm = BT_CONFUSION_MATRIX (bt_confusion_matrix_new ());
  cairo_surface_t *surface;
  cairo_t *cr;
  graphene_rect_t area;
  BtChartStyle st;
  GdkRGBA got;
  g_autofree char *d01 = NULL, *d11 = NULL;

  gtk_window_set_child (GTK_WINDOW (window), GTK_WIDGET (cm));
  bt_confusion_matrix_set_data (cm, 3, names, counts);

  for (guint row = 0; row < 3; row++)
    {
      double sum = 0;
      for (guint col = 0; col < 3; col++)
        sum += bt_confusion_matrix_get_fraction (cm, row, col);
      g_assert_cmpfloat_with_epsilon (sum, 1.0, 1e-12);
    }
  g_assert_cmpfloat_with_epsilon (bt_confusion_matrix_get_fraction (cm, 0, 1), 0.2, 1e-12);
  g_assert_cmpuint (bt_confusion_matrix_get_count (cm, 2, 2), ==, 2);

  d01 = bt_confusion_matrix_describe_cell (cm, 0, 1);
  g_assert_nonnull (strstr (d01, "circle"));
  g_assert_nonnull (strstr (d01, "square"));
  g_assert_nonnull (strstr (d01, "20.0%"));
  d11 = bt_confusion_matrix_describe_cell (cm, 1, 1);
  g_assert_nonnull (strstr (d11, "100.0%"));

  surface = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, W, H);
  cr = cairo_create (surface);
  bt_confusion_matrix_render (cm, cr, W, H);
  cairo_destroy (cr);
  bt_chart_style_init (&st, GTK_WIDGET (cm));

  /* a perfect row's diagonal: full accent colour (sampled off the centred number) */
  bt_confusion_matrix_get_cell_area (cm, W, H, 1, 1, &area);
  got = bt_test_pixel (surface, area.origin.x + 4, area.origin.y + 4);
  g_assert_true (bt_test_color_near (&got, &st.accent, 0.03));
  /* a mistake cell in the mistake colour, lighter than the diagonal of its row */
  bt_confusion_matrix_get_cell_area (cm, W, H, 0, 1, &area);
  got = bt_test_pixel (surface, area.origin.x + 4, area.origin.y + 4);
  g_assert_cmpfloat (got.alpha, >, 0.15);
  g_assert_cmpfloat (got.alpha, <, 0.6);
  g_assert_cmpfloat (fabs (got.red - st.bad.red) + fabs (got.green - st.bad.green) + fabs (got.blue - st.bad.blue), <, 0.1);
  /* an empty cell: barely tinted */
  bt_confusion_matrix_get_cell_area (cm, W, H, 1, 0, &area);
  got = bt_test_pixel (surface, area.origin.x + 4, area.origin.y + 4);
  g_assert_cmpfloat (got.alpha, <, 0.1);
  cairo_surface_destroy (surface);

  /* clearing and absurd sizes do not crash */
  bt_confusion_matrix_set_data (cm, 0, NULL, NULL);
  surface = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, 10, 10);
  cr = cairo_create (surface);
  bt_confusion_matrix_render (cm, cr, 10, 10);
  bt_confusion_matrix_set_data (cm, 3, names, counts);
  bt_confusion_matrix_render (cm, cr, 10, 10);
  cairo_destroy (cr);
  cairo_surface_destroy (surface);

  gtk_window_destroy (GTK_WINDOW (window));
}

/* The data doctor's marks: a corner flag on the marked cell only, a line in its tooltip, gone
 * with new data. */
static void
test_doctor_marks (void)
{
  GtkWidget *window = gtk_window_new ();
  BtConfusionMatrix *cm = BT_CONFUSION_MATRIX (bt_confusion_matrix_new ());
  guint marks[9] = { 0, 2, 0, 0, 0, 0, 0, 0, 0 };
  cairo_surface_t *surface;
  cairo_t *cr;
  graphene_rect_t area;
  GdkRGBA flag, plain;
  g_autofree char *d01 = NULL, *d02 = NULL;

  gtk_window_set_child (GTK_WINDOW (window), GTK_WIDGET (cm));
  bt_confusion_matrix_set_data (cm, 3, names, counts);
  bt_confusion_matrix_set_marks (cm, marks);
  g_assert_cmpuint (bt_confusion_matrix_get_mark (cm, 0, 1), ==, 2);
  g_assert_cmpuint (bt_confusion_matrix_get_mark (cm, 0, 2), ==, 0);
  d01 = bt_confusion_matrix_describe_cell (cm, 0, 1);
  g_assert_nonnull (strstr (d01, "doctor suspects the labels of 2"));
  d02 = bt_confusion_matrix_describe_cell (cm, 0, 2);
  g_assert_null (strstr (d02, "doctor"));

  surface = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, W, H);
  cr = cairo_create (surface);
  bt_confusion_matrix_render (cm, cr, W, H);
  cairo_destroy (cr);
  /* the top-right corner of the marked cell is dark and opaque; the same corner of its
   * neighbour (same count) is not */
  bt_confusion_matrix_get_cell_area (cm, W, H, 0, 1, &area);
  flag = bt_test_pixel (surface, area.origin.x + area.size.width - 3, area.origin.y + 3);
  bt_confusion_matrix_get_cell_area (cm, W, H, 0, 2, &area);
  plain = bt_test_pixel (surface, area.origin.x + area.size.width - 3, area.origin.y + 3);
  g_assert_cmpfloat (flag.alpha, >, 0.6);
  g_assert_cmpfloat (flag.alpha, >, plain.alpha + 0.2);
  cairo_surface_destroy (surface);

  bt_confusion_matrix_set_data (cm, 3, names, counts);
  g_assert_cmpuint (bt_confusion_matrix_get_mark (cm, 0, 1), ==, 0);
  gtk_window_destroy (GTK_WINDOW (window));
}

static void
activated_cb (BtConfusionMatrix *cm, int row, int col, int *out)
{
  out[0] = row;
  out[1] = col;
  out[2]++;
}

static void
test_keyboard_activation (void)
{
  GtkWidget *window = gtk_window_new ();
  BtConfusionMatrix *cm = BT_CONFUSION_MATRIX (bt_confusion_matrix_new ());
  int got[3] = { -1, -1, 0 };
  graphene_rect_t area;
  guint r, c;

  gtk_window_set_child (GTK_WINDOW (window), GTK_WIDGET (cm));
  bt_confusion_matrix_set_data (cm, 3, names, counts);
  g_signal_connect (cm, "cell-activated", G_CALLBACK (activated_cb), got);

  g_assert_true (bt_confusion_matrix_get_selected (cm, &r, &c));
  g_assert_cmpuint (r, ==, 0);
  g_assert_cmpuint (c, ==, 0);
  bt_confusion_matrix_select_cell (cm, 2, 1);
  bt_confusion_matrix_select_cell (cm, 7, 1);   /* out of range: ignored */
  g_assert_true (bt_confusion_matrix_get_selected (cm, &r, &c));
  g_assert_cmpuint (r, ==, 2);
  g_assert_cmpuint (c, ==, 1);

  /* Return on the focused matrix activates the selected cell */
  gtk_window_set_default_size (GTK_WINDOW (window), 400, 400);
  bt_test_focus_window (GTK_WINDOW (window));
  BT_TEST_WAIT (gtk_widget_get_mapped (GTK_WIDGET (cm)) && gtk_widget_get_width (GTK_WIDGET (cm)) > 0);
  gtk_widget_grab_focus (GTK_WIDGET (cm));
  bt_test_press_key (GTK_WINDOW (window), GDK_KEY_Return, 0);
  BT_TEST_WAIT (got[2] == 1);
  g_assert_cmpint (got[0], ==, 2);
  g_assert_cmpint (got[1], ==, 1);

  /* a click on a cell selects and activates that one */
  g_assert_true (bt_confusion_matrix_get_cell_area (cm, gtk_widget_get_width (GTK_WIDGET (cm)),
                                                    gtk_widget_get_height (GTK_WIDGET (cm)), 0, 2, &area));
  bt_test_click_at (GTK_WIDGET (cm), area.origin.x + area.size.width / 2, area.origin.y + area.size.height / 2);
  BT_TEST_WAIT (got[2] == 2);
  g_assert_cmpint (got[0], ==, 0);
  g_assert_cmpint (got[1], ==, 2);
  g_assert_true (bt_confusion_matrix_get_selected (cm, &r, &c));
  g_assert_cmpuint (r, ==, 0);
  g_assert_cmpuint (c, ==, 2);

  gtk_window_destroy (GTK_WINDOW (window));
}

int
main (int argc, char **argv)
{
  gtk_test_init (&argc, &argv, NULL);

  g_test_add_func ("/confusion-matrix/hit-testing", test_hit_testing);
  g_test_add_func ("/confusion-matrix/values-colours", test_values_and_colours);
  g_test_add_func ("/confusion-matrix/names-inside", test_names_inside);
  g_test_add_func ("/confusion-matrix/selection", test_keyboard_activation);
  g_test_add_func ("/confusion-matrix/doctor-marks", test_doctor_marks);

  return g_test_run ();
}
