/* bt-chart.c: a line chart widget drawn with Cairo — series models on two axes, legend,
 * hover tooltip, best-epoch marker, shaded train/validation gap; PNG/SVG export. */
#include "config.h"

#include <glib/gi18n.h>
#include <math.h>
#include <cairo-svg.h>

#include "bt-chart.h"
#include "bt-chart-style.h"

#define PAD          8.0
#define TICK_GAP     6.0
#define LEGEND_SWATCH 18.0

struct _BtChart
{
  GtkWidget parent_instance;

  /* Owned */
  char          *title;
  char          *x_title;
  char          *empty_text;
  BtChartAxis   *x_axis;
  BtChartAxis   *y_axis;
  GPtrArray     *series;        /* BtChartSeries*, owned */

  /* Borrowed (members of series) */
  BtChartSeries *gap_lower;
  BtChartSeries *gap_upper;

  double         best_x;
  double         hover_x;
  guint          update_a11y_idle;
};

G_DEFINE_FINAL_TYPE (BtChart, bt_chart, GTK_TYPE_WIDGET)

enum { PROP_0, PROP_TITLE, PROP_X_TITLE, PROP_BEST_X, PROP_EMPTY_TEXT, N_PROPS };
static GParamSpec *properties[N_PROPS];

typedef struct {
  double x, y, w, h;
} Rect;

static void bt_chart_queue_update (BtChart *self);

static void
series_changed_cb (BtChart *self)
{
  bt_chart_queue_update (self);
}

static gboolean
series_drawn (BtChartSeries *s)
{
  return bt_chart_series_get_visible (s) && bt_chart_series_get_n_points (s) > 0;
}

/* Refits auto-ranged axes to the visible data. */
static void
fit_axes (BtChart *self)
{
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;

  for (guint i = 0; i < self->series->len; i++)
    {
      BtChartSeries *s = g_ptr_array_index (self->series, i);
      double a, b, c, d;

      if (!bt_chart_series_get_visible (s) || !bt_chart_series_get_bounds (s, &a, &b, &c, &d))
        continue;
      x0 = MIN (x0, a);
      x1 = MAX (x1, b);
      y0 = MIN (y0, c);
      y1 = MAX (y1, d);
    }
  if (isfinite (x0))
    {
      bt_chart_axis_fit (self->x_axis, x0, x1);
      bt_chart_axis_fit (self->y_axis, y0, y1);
    }
}

static void
update_accessible (BtChart *self)
{
  GString *desc = g_string_new (NULL);

  for (guint i = 0; i < self->series->len; i++)
    {
      BtChartSeries *s = g_ptr_array_index (self->series, i);
      guint n = bt_chart_series_get_n_points (s);
      double x, y;

      if (!series_drawn (s) || !bt_chart_series_get_point (s, n - 1, &x, &y))
        continue;
      if (bt_chart_series_get_smoothing (s) > 0)
        y = bt_chart_series_get_smoothed (s, n - 1);
      if (desc->len)
        g_string_append (desc, "; ");
      /* Translators: accessible description of a chart line: "<series>: <value> at <x title> <x>" */
      g_string_append_printf (desc, _("%s: %.4g at %s %.4g"), bt_chart_series_get_title (s), y,
                              self->x_title ? self->x_title : "x", x);
    }
  if (desc->len == 0)
    g_string_append (desc, self->empty_text ? self->empty_text : _("No data yet"));

  gtk_accessible_update_property (GTK_ACCESSIBLE (self),
                                  GTK_ACCESSIBLE_PROPERTY_LABEL, self->title ? self->title : "",
                                  GTK_ACCESSIBLE_PROPERTY_DESCRIPTION, desc->str,
                                  -1);
  g_string_free (desc, TRUE);
}

static gboolean
update_a11y_idle_cb (gpointer data)
{
  BtChart *self = data;

  self->update_a11y_idle = 0;
  update_accessible (self);
  return G_SOURCE_REMOVE;
}

static void
bt_chart_queue_update (BtChart *self)
{
  fit_axes (self);
  gtk_widget_queue_draw (GTK_WIDGET (self));
  /* the description is for screen readers: once per main-loop turn is plenty */
  if (self->update_a11y_idle == 0)
    self->update_a11y_idle = g_idle_add_full (G_PRIORITY_LOW, update_a11y_idle_cb, self, NULL);
}

/* ---- Layout ---- */

static PangoLayout *
make_layout (BtChart *self, cairo_t *cr, const char *text, gboolean bold, double scale_font)
{
  PangoLayout *layout = gtk_widget_create_pango_layout (GTK_WIDGET (self), text);

  if (bold || scale_font != 1.0)
    {
      PangoAttrList *attrs = pango_attr_list_new ();
      if (bold)
        pango_attr_list_insert (attrs, pango_attr_weight_new (PANGO_WEIGHT_BOLD));
      if (scale_font != 1.0)
        pango_attr_list_insert (attrs, pango_attr_scale_new (scale_font));
      pango_layout_set_attributes (layout, attrs);
      pango_attr_list_unref (attrs);
    }
  if (cr != NULL)
    pango_cairo_update_layout (cr, layout);
  return layout;
}

static void
layout_size (PangoLayout *layout, double *w, double *h)
{
  int lw, lh;

  pango_layout_get_pixel_size (layout, &lw, &lh);
  if (w) *w = lw;
  if (h) *h = lh;
}

static guint
max_y_ticks_for (double plot_h, double line_h)
{
  return (guint) CLAMP (plot_h / (line_h * 2.2), 2, 10);
}

/* The legend flows under the title; returns its height for the given width. */
static double
legend_height (BtChart *self, double width, double line_h)
{
  double x = 0, rows = 0;

  for (guint i = 0; i < self->series->len; i++)
    {
      BtChartSeries *s = g_ptr_array_index (self->series, i);
      g_autoptr(PangoLayout) l = NULL;
      double w;

      if (!bt_chart_series_get_visible (s))
        continue;
      l = make_layout (self, NULL, bt_chart_series_get_title (s), FALSE, 0.9);
      layout_size (l, &w, NULL);
      w += LEGEND_SWATCH + 4 + 14;
      if (rows == 0 || x + w > width)
        {
          rows++;
          x = 0;
        }
      x += w;
    }
  return rows * (line_h + 2);
}

static void
compute_plot (BtChart *self, int width, int height, Rect *plot)
{
  g_autoptr(PangoLayout) probe = make_layout (self, NULL, "0.00%", FALSE, 0.9);
  double line_h, top, left = 0, bottom, tick_w;
  double ticks[BT_CHART_AXIS_MAX_TICKS], step;
  guint n;

  layout_size (probe, NULL, &line_h);

  top = PAD;
  if (self->title && *self->title)
    {
      g_autoptr(PangoLayout) t = make_layout (self, NULL, self->title, TRUE, 1.0);
      double th;
      layout_size (t, NULL, &th);
      top += th + 2;
    }
  top += legend_height (self, width - 2 * PAD, line_h) + PAD;

  bottom = height - PAD - line_h - TICK_GAP;
  if (self->x_title && *self->x_title)
    bottom -= line_h + 2;

  /* widest y tick label decides the left margin */
  n = bt_chart_axis_get_ticks (self->y_axis, max_y_ticks_for (bottom - top, line_h), ticks, &step);
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *text = bt_chart_axis_format_value (self->y_axis, ticks[i], step);
      g_autoptr(PangoLayout) l = make_layout (self, NULL, text, FALSE, 0.9);
      layout_size (l, &tick_w, NULL);
      left = MAX (left, tick_w);
    }
  left += PAD + TICK_GAP;

  plot->x = floor (left);
  plot->y = floor (top);
  plot->w = MAX (1, floor (width - PAD - 4 - plot->x));
  plot->h = MAX (1, floor (bottom - plot->y));
}

void
bt_chart_get_plot_area (BtChart *self, int width, int height, graphene_rect_t *area)
{
  Rect r;

  g_return_if_fail (BT_IS_CHART (self));
  g_return_if_fail (area != NULL);

  compute_plot (self, width, height, &r);
  graphene_rect_init (area, r.x, r.y, r.w, r.h);
}

static void
to_point (BtChart *self, const Rect *plot, double x, double y, double *px, double *py)
{
  *px = plot->x + bt_chart_axis_normalize (self->x_axis, x) * plot->w;
  *py = plot->y + (1 - bt_chart_axis_normalize (self->y_axis, y)) * plot->h;
}

void
bt_chart_value_to_point (BtChart *self, int width, int height, double x, double y,
                         double *px, double *py)
{
  Rect plot;

  g_return_if_fail (BT_IS_CHART (self));
  g_return_if_fail (px != NULL && py != NULL);

  compute_plot (self, width, height, &plot);
  to_point (self, &plot, x, y, px, py);
}

static void
series_color (BtChart *self, const BtChartStyle *st, BtChartSeries *s, GdkRGBA *c)
{
  switch (bt_chart_series_get_role (s))
    {
    case BT_CHART_ROLE_VALIDATION: *c = st->accent2; break;
    case BT_CHART_ROLE_OVERLAY:
    case BT_CHART_ROLE_OVERLAY_TRAIN:
      {
        int i = bt_chart_series_get_color_index (s);
        *c = i >= 0 ? st->compare[i % BT_CHART_N_COMPARE_COLORS] : st->muted;
      }
      break;
    case BT_CHART_ROLE_TRAIN:
    case BT_CHART_ROLE_STEP:
    default: *c = st->accent; break;
    }
}

void
bt_chart_get_series_color (BtChart *self, BtChartSeries *series, GdkRGBA *color)
{
  BtChartStyle st;

  g_return_if_fail (BT_IS_CHART (self));
  g_return_if_fail (BT_IS_CHART_SERIES (series));
  g_return_if_fail (color != NULL);

  bt_chart_style_init (&st, GTK_WIDGET (self));
  series_color (self, &st, series, color);
}

void
bt_chart_get_best_color (BtChart *self, GdkRGBA *color)
{
  BtChartStyle st;

  g_return_if_fail (BT_IS_CHART (self));
  g_return_if_fail (color != NULL);

  bt_chart_style_init (&st, GTK_WIDGET (self));
  *color = st.good;
}

/* ---- Drawing ---- */

static void
stroke_style (cairo_t *cr, BtChartSeries *s, double scale)
{
  switch (bt_chart_series_get_role (s))
    {
    case BT_CHART_ROLE_OVERLAY_TRAIN:
      {
        double dash[] = { 5, 3 };
        cairo_set_dash (cr, dash, 2, 0);
        cairo_set_line_width (cr, 1.5);
      }
      break;
    case BT_CHART_ROLE_OVERLAY:
      cairo_set_dash (cr, NULL, 0, 0);
      cairo_set_line_width (cr, 1.5);
      break;
    case BT_CHART_ROLE_STEP:
      cairo_set_dash (cr, NULL, 0, 0);
      cairo_set_line_width (cr, 1.5);
      break;
    case BT_CHART_ROLE_TRAIN:
    case BT_CHART_ROLE_VALIDATION:
    default:
      cairo_set_dash (cr, NULL, 0, 0);
      cairo_set_line_width (cr, 2.0);
      break;
    }
}

/* A polyline through the finite points; a NaN/Inf value breaks it. */
static void
path_series (BtChart *self, cairo_t *cr, const Rect *plot, BtChartSeries *s, gboolean smoothed)
{
  guint n = bt_chart_series_get_n_points (s);
  gboolean pen_down = FALSE;
  double last_px = -INFINITY;

  for (guint i = 0; i < n; i++)
    {
      double x, y, px, py;

      bt_chart_series_get_point (s, i, &x, &y);
      if (smoothed)
        y = bt_chart_series_get_smoothed (s, i);
      if (!isfinite (y))
        {
          pen_down = FALSE;
          continue;
        }
      to_point (self, plot, x, y, &px, &py);
      /* thousands of steps on a few hundred pixels: skip points that land on the same
       * quarter pixel column, they cannot change what is seen */
      if (pen_down && i + 1 < n && px - last_px < 0.25)
        continue;
      if (pen_down)
        cairo_line_to (cr, px, py);
      else
        cairo_move_to (cr, px, py);
      pen_down = TRUE;
      last_px = px;
    }
}

/* Thousands of per-step values on a few hundred pixels: per pixel column, the raw values
 * become one vertical span of a filled band and the smoothed curve one point. The cost is
 * bounded by the plot's width, whatever the number of steps (a zig-zag polyline of every
 * step costs the rasteriser dearly once it overlaps itself). */
static void
draw_dense_series (BtChart *self, cairo_t *cr, const Rect *plot, BtChartSeries *s,
                   const GdkRGBA *color, double band_alpha, double line_alpha)
{
  guint n = bt_chart_series_get_n_points (s);
  int w = MAX (1, (int) ceil (plot->w) + 1);
  g_autofree double *lo = g_new (double, w);
  g_autofree double *hi = g_new (double, w);
  g_autofree double *sm = g_new (double, w);
  g_autofree gboolean *gap = g_new0 (gboolean, w);   /* a NaN fell into this column */
  g_autofree int *cols = g_new (int, w);
  gboolean smooth = bt_chart_series_get_smoothing (s) > 0;
  int n_cols = 0;

  for (int c = 0; c < w; c++)
    {
      lo[c] = INFINITY;
      hi[c] = -INFINITY;
      sm[c] = NAN;
    }
  for (guint i = 0; i < n; i++)
    {
      double x, y, px, py;
      int c;

      bt_chart_series_get_point (s, i, &x, &y);
      to_point (self, plot, x, isfinite (y) ? y : 0, &px, &py);
      c = (int) floor (px - plot->x);
      if (c < 0 || c >= w)
        continue;
      if (!isfinite (y))
        {
          gap[c] = TRUE;
          continue;
        }
      lo[c] = MIN (lo[c], py);
      hi[c] = MAX (hi[c], py);
      if (smooth)
        {
          double v = bt_chart_series_get_smoothed (s, i);
          if (isfinite (v))
            to_point (self, plot, x, v, &px, &sm[c]);
        }
    }
  for (int c = 0; c < w; c++)
    if (isfinite (lo[c]))
      cols[n_cols++] = c;

  /* the band: each column's span of raw values (where many steps share a pixel), and a
   * hairline through the columns (where a step is wider than a pixel); only a NaN between
   * two columns breaks the line */
  for (int k = 0; k < n_cols; k++)
    if (hi[cols[k]] - lo[cols[k]] >= 1)
      cairo_rectangle (cr, plot->x + cols[k], lo[cols[k]], 1, hi[cols[k]] - lo[cols[k]]);
  bt_chart_style_set_color (cr, color, band_alpha);
  cairo_fill (cr);
  for (int k = 0; k < n_cols; k++)
    {
      gboolean broken = k == 0;
      double y = (lo[cols[k]] + hi[cols[k]]) / 2;
      for (int c = k > 0 ? cols[k - 1] + 1 : 0; c <= cols[k] && !broken; c++)
        broken = gap[c];
      if (broken)
        cairo_move_to (cr, plot->x + cols[k] + 0.5, y);
      else
        cairo_line_to (cr, plot->x + cols[k] + 0.5, y);
    }
  cairo_set_line_width (cr, 1.0);
  cairo_stroke (cr);

  if (!smooth)
    return;
  {
    gboolean pen = FALSE;
    for (int c = 0; c < w; c++)
      {
        if (gap[c])
          pen = FALSE;
        if (!isfinite (sm[c]))
          continue;
        if (pen)
          cairo_line_to (cr, plot->x + c + 0.5, sm[c]);
        else
          cairo_move_to (cr, plot->x + c + 0.5, sm[c]);
        pen = TRUE;
      }
    cairo_set_line_width (cr, 1.5);
    bt_chart_style_set_color (cr, color, line_alpha);
    cairo_stroke (cr);
  }
}

static void
draw_dots (BtChart *self, cairo_t *cr, const Rect *plot, BtChartSeries *s, double radius)
{
  guint n = bt_chart_series_get_n_points (s);

  for (guint i = 0; i < n; i++)
    {
      double x, y, px, py;

      bt_chart_series_get_point (s, i, &x, &y);
      if (!isfinite (y))
        continue;
      to_point (self, plot, x, y, &px, &py);
      cairo_new_sub_path (cr);
      cairo_arc (cr, px, py, radius, 0, 2 * G_PI);
    }
  cairo_fill (cr);
}

static void
draw_gap (BtChart *self, cairo_t *cr, const Rect *plot, const BtChartStyle *st)
{
  guint n;
  gboolean have_prev = FALSE;
  double prev_x = 0, prev_lo = 0, prev_hi = 0;

  if (!self->gap_lower || !self->gap_upper ||
      !bt_chart_series_get_visible (self->gap_lower) || !bt_chart_series_get_visible (self->gap_upper))
    return;

  n = bt_chart_series_get_n_points (self->gap_lower);
  for (guint i = 0; i < n; i++)
    {
      double x, lo, hi;
      int j;

      bt_chart_series_get_point (self->gap_lower, i, &x, &lo);
      j = bt_chart_series_find_x (self->gap_upper, x);
      if (j < 0 || !bt_chart_series_get_point (self->gap_upper, j, NULL, &hi) ||
          !isfinite (lo) || !isfinite (hi))
        {
          have_prev = FALSE;
          continue;
        }
      if (have_prev)
        {
          double ax, ay, bx, by;

          to_point (self, plot, prev_x, prev_lo, &ax, &ay);
          cairo_move_to (cr, ax, ay);
          to_point (self, plot, x, lo, &bx, &by);
          cairo_line_to (cr, bx, by);
          to_point (self, plot, x, hi, &bx, &by);
          cairo_line_to (cr, bx, by);
          to_point (self, plot, prev_x, prev_hi, &ax, &ay);
          cairo_line_to (cr, ax, ay);
          cairo_close_path (cr);
        }
      prev_x = x;
      prev_lo = lo;
      prev_hi = hi;
      have_prev = TRUE;
    }
  /* the validation colour: the shaded band is "how much worse on unseen images" */
  bt_chart_style_set_color (cr, &st->accent2, 0.16);
  cairo_fill (cr);
}

static void
show_layout_at (cairo_t *cr, PangoLayout *layout, double x, double y)
{
  cairo_move_to (cr, x, y);
  pango_cairo_show_layout (cr, layout);
}

static void
draw_legend (BtChart *self, cairo_t *cr, const BtChartStyle *st, double x0, double y0, double width,
             double line_h)
{
  double x = x0, y = y0;
  gboolean first = TRUE;

  for (guint i = 0; i < self->series->len; i++)
    {
      BtChartSeries *s = g_ptr_array_index (self->series, i);
      g_autoptr(PangoLayout) l = NULL;
      GdkRGBA c;
      double w, mid;

      if (!bt_chart_series_get_visible (s))
        continue;
      l = make_layout (self, cr, bt_chart_series_get_title (s), FALSE, 0.9);
      layout_size (l, &w, NULL);
      if (!first && x + LEGEND_SWATCH + 4 + w > x0 + width)
        {
          x = x0;
          y += line_h + 2;
        }
      first = FALSE;

      series_color (self, st, s, &c);
      mid = y + line_h / 2;
      stroke_style (cr, s, 1);
      if (bt_chart_series_get_role (s) == BT_CHART_ROLE_STEP)
        {
          bt_chart_style_set_color (cr, &c, 0.3);
          cairo_move_to (cr, x, mid + 3);
          cairo_line_to (cr, x + LEGEND_SWATCH / 3, mid - 3);
          cairo_line_to (cr, x + 2 * LEGEND_SWATCH / 3, mid + 3);
          cairo_line_to (cr, x + LEGEND_SWATCH, mid - 3);
          cairo_stroke (cr);
        }
      bt_chart_style_set_color (cr, &c, 1);
      cairo_move_to (cr, x, mid);
      cairo_line_to (cr, x + LEGEND_SWATCH, mid);
      cairo_stroke (cr);
      cairo_set_dash (cr, NULL, 0, 0);

      bt_chart_style_set_color (cr, &st->fg, 0.85);
      show_layout_at (cr, l, x + LEGEND_SWATCH + 4, y);
      x += LEGEND_SWATCH + 4 + w + 14;
    }
}

/* The grid, the ticks and their values, the x axis title and the axis lines. */
static void
draw_axes (BtChart *self, cairo_t *cr, const Rect *plot, const BtChartStyle *st, double scale, double line_h)
{
  double ticks[BT_CHART_AXIS_MAX_TICKS], step;
  guint n;

  /* horizontal grid and y ticks */
  cairo_set_line_width (cr, 1 / scale);
  n = bt_chart_axis_get_ticks (self->y_axis, max_y_ticks_for (plot->h, line_h), ticks, &step);
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *text = bt_chart_axis_format_value (self->y_axis, ticks[i], step);
      g_autoptr(PangoLayout) l = make_layout (self, cr, text, FALSE, 0.9);
      double px, py, tw, th;

      to_point (self, plot, 0, ticks[i], &px, &py);
      if (py < plot->y - 0.5 || py > plot->y + plot->h + 0.5)
        continue;
      py = bt_chart_style_align (py, scale);
      bt_chart_style_set_color (cr, &st->fg, 0.10);
      cairo_move_to (cr, plot->x, py);
      cairo_line_to (cr, plot->x + plot->w, py);
      cairo_stroke (cr);

      layout_size (l, &tw, &th);
      bt_chart_style_set_color (cr, &st->fg, 0.7);
      show_layout_at (cr, l, plot->x - TICK_GAP - tw, py - th / 2);
    }

  /* x ticks: as many as fit without labels touching */
  {
    g_autoptr(PangoLayout) wide = make_layout (self, cr, "0000", FALSE, 0.9);
    double label_w;
    layout_size (wide, &label_w, NULL);
    n = bt_chart_axis_get_ticks (self->x_axis, (guint) CLAMP (plot->w / (label_w * 1.8), 2, 12), ticks, &step);
  }
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *text = bt_chart_axis_format_value (self->x_axis, ticks[i], step);
      g_autoptr(PangoLayout) l = make_layout (self, cr, text, FALSE, 0.9);
      double px, py, tw;

      to_point (self, plot, ticks[i], 0, &px, &py);
      if (px < plot->x - 0.5 || px > plot->x + plot->w + 0.5)
        continue;
      px = bt_chart_style_align (px, scale);
      bt_chart_style_set_color (cr, &st->fg, 0.3);
      cairo_move_to (cr, px, plot->y + plot->h);
      cairo_line_to (cr, px, plot->y + plot->h + 4);
      cairo_stroke (cr);

      layout_size (l, &tw, NULL);
      bt_chart_style_set_color (cr, &st->fg, 0.7);
      show_layout_at (cr, l, px - tw / 2, plot->y + plot->h + TICK_GAP);
    }
  if (self->x_title && *self->x_title)
    {
      g_autoptr(PangoLayout) l = make_layout (self, cr, self->x_title, FALSE, 0.9);
      double tw;
      layout_size (l, &tw, NULL);
      bt_chart_style_set_color (cr, &st->fg, 0.7);
      show_layout_at (cr, l, plot->x + (plot->w - tw) / 2, plot->y + plot->h + TICK_GAP + line_h + 2);
    }

  /* the axis lines */
  bt_chart_style_set_color (cr, &st->fg, 0.35);
  cairo_move_to (cr, bt_chart_style_align (plot->x, scale), plot->y);
  cairo_line_to (cr, bt_chart_style_align (plot->x, scale), bt_chart_style_align (plot->y + plot->h, scale));
  cairo_line_to (cr, plot->x + plot->w, bt_chart_style_align (plot->y + plot->h, scale));
  cairo_stroke (cr);
}

/* Every drawn series (comparison runs and per-step curves under the epoch curves); TRUE when
 * any has a point. */
static gboolean
draw_all_series (BtChart *self, cairo_t *cr, const Rect *plot, const BtChartStyle *st, double scale)
{
  gboolean any_data = FALSE;

  for (guint pass = 0; pass < 2; pass++)
    for (guint i = 0; i < self->series->len; i++)
      {
        BtChartSeries *s = g_ptr_array_index (self->series, i);
        BtChartRole role = bt_chart_series_get_role (s);
        GdkRGBA c;

        if (!series_drawn (s))
          continue;
        /* comparison runs and per-step curves first, so the epoch curves lie on top */
        if ((pass == 0) != (role == BT_CHART_ROLE_OVERLAY || role == BT_CHART_ROLE_OVERLAY_TRAIN ||
                            role == BT_CHART_ROLE_STEP))
          continue;
        if (bt_chart_series_get_bounds (s, NULL, NULL, NULL, NULL))
          any_data = TRUE;

        series_color (self, st, s, &c);
        stroke_style (cr, s, scale);
        if (role == BT_CHART_ROLE_STEP && bt_chart_series_get_n_points (s) > 1)
          draw_dense_series (self, cr, plot, s, &c, bt_chart_series_get_smoothing (s) > 0 ? 0.22 : 0.5, 0.75);
        else if (bt_chart_series_get_smoothing (s) > 0)
          {
            /* raw values faint, the smoothed curve over them */
            path_series (self, cr, plot, s, FALSE);
            bt_chart_style_set_color (cr, &c, 0.22);
            cairo_set_line_width (cr, 1.0);
            cairo_stroke (cr);
            stroke_style (cr, s, scale);
            path_series (self, cr, plot, s, TRUE);
            bt_chart_style_set_color (cr, &c, role == BT_CHART_ROLE_STEP ? 0.75 : 1);
            cairo_stroke (cr);
          }
        else
          {
            path_series (self, cr, plot, s, FALSE);
            bt_chart_style_set_color (cr, &c, role == BT_CHART_ROLE_STEP ? 0.5 : 1);
            cairo_stroke (cr);
          }
        cairo_set_dash (cr, NULL, 0, 0);
        if (((role == BT_CHART_ROLE_TRAIN || role == BT_CHART_ROLE_VALIDATION) &&
             bt_chart_series_get_n_points (s) <= plot->w / 8) ||
            bt_chart_series_get_n_points (s) == 1)   /* a lone point draws no line */
          {
            bt_chart_style_set_color (cr, &c, 1);
            draw_dots (self, cr, plot, s, 3.0);
          }
      }
  return any_data;
}

/* The best epoch: a dashed vertical line and a ring on each validation curve there. */
static void
draw_best (BtChart *self, cairo_t *cr, const Rect *plot, const BtChartStyle *st, double scale)
{
  double px, py, dash[] = { 4, 3 };

  if (!isfinite (self->best_x))
    return;
  to_point (self, plot, self->best_x, 0, &px, &py);
  if (px < plot->x - 0.5 || px > plot->x + plot->w + 0.5)
    return;
  px = bt_chart_style_align (px, scale);
  bt_chart_style_set_color (cr, &st->good, 0.9);
  cairo_set_line_width (cr, 1.5);
  cairo_set_dash (cr, dash, 2, 0);
  cairo_move_to (cr, px, plot->y);
  cairo_line_to (cr, px, plot->y + plot->h);
  cairo_stroke (cr);
  cairo_set_dash (cr, NULL, 0, 0);
  for (guint i = 0; i < self->series->len; i++)
    {
      BtChartSeries *s = g_ptr_array_index (self->series, i);
      double y;
      int j;
      if (!series_drawn (s) || bt_chart_series_get_role (s) != BT_CHART_ROLE_VALIDATION)
        continue;
      j = bt_chart_series_find_x (s, self->best_x);
      if (j < 0 || !bt_chart_series_get_point (s, j, NULL, &y) || !isfinite (y))
        continue;
      to_point (self, plot, self->best_x, y, &px, &py);
      cairo_new_sub_path (cr);
      cairo_arc (cr, px, py, 6, 0, 2 * G_PI);
      cairo_set_line_width (cr, 2.5);
      cairo_stroke (cr);
    }
}

/* Hover: a guide and a dot on each curve at the pointer's x. */
static void
draw_hover (BtChart *self, cairo_t *cr, const Rect *plot, const BtChartStyle *st, double scale)
{
  double px, py;

  if (!isfinite (self->hover_x))
    return;
  to_point (self, plot, self->hover_x, 0, &px, &py);
  px = bt_chart_style_align (px, scale);
  bt_chart_style_set_color (cr, &st->fg, 0.4);
  cairo_set_line_width (cr, 1 / scale);
  cairo_move_to (cr, px, plot->y);
  cairo_line_to (cr, px, plot->y + plot->h);
  cairo_stroke (cr);
  for (guint i = 0; i < self->series->len; i++)
    {
      BtChartSeries *s = g_ptr_array_index (self->series, i);
      double x, y;
      int j;
      GdkRGBA c;
      if (!series_drawn (s))
        continue;
      j = bt_chart_series_find_nearest (s, self->hover_x);
      if (j < 0 || !bt_chart_series_get_point (s, j, &x, &y))
        continue;
      if (bt_chart_series_get_smoothing (s) > 0)
        y = bt_chart_series_get_smoothed (s, j);
      if (!isfinite (y) || fabs (x - self->hover_x) > 0.5)
        continue;
      series_color (self, st, s, &c);
      to_point (self, plot, x, y, &px, &py);
      bt_chart_style_set_color (cr, &st->background, 1);
      cairo_arc (cr, px, py, 4.5, 0, 2 * G_PI);
      cairo_fill (cr);
      bt_chart_style_set_color (cr, &c, 1);
      cairo_arc (cr, px, py, 3.5, 0, 2 * G_PI);
      cairo_fill (cr);
    }
}

void
bt_chart_render (BtChart *self, cairo_t *cr, int width, int height, gboolean with_background)
{
  BtChartStyle st;
  Rect plot;
  double scale, line_h;
  g_autoptr(PangoLayout) probe = NULL;
  gboolean any_data;

  g_return_if_fail (BT_IS_CHART (self));
  g_return_if_fail (cr != NULL);

  if (width <= 0 || height <= 0)
    return;

  bt_chart_style_init (&st, GTK_WIDGET (self));
  scale = bt_chart_style_get_scale (cr);
  compute_plot (self, width, height, &plot);
  probe = make_layout (self, cr, "0", FALSE, 0.9);
  layout_size (probe, NULL, &line_h);

  cairo_save (cr);

  if (with_background)
    {
      bt_chart_style_set_color (cr, &st.background, 1);
      cairo_paint (cr);
    }

  /* title and legend */
  {
    double y = PAD;
    if (self->title && *self->title)
      {
        g_autoptr(PangoLayout) t = make_layout (self, cr, self->title, TRUE, 1.0);
        double th;
        layout_size (t, NULL, &th);
        bt_chart_style_set_color (cr, &st.fg, 1);
        show_layout_at (cr, t, PAD, y);
        y += th + 2;
      }
    draw_legend (self, cr, &st, PAD, y, width - 2 * PAD, line_h);
  }

  draw_axes (self, cr, &plot, &st, scale, line_h);

  /* data, clipped to the plot (a little room for line caps and dots) */
  cairo_save (cr);
  cairo_rectangle (cr, plot.x - 4, plot.y - 4, plot.w + 8, plot.h + 8);
  cairo_clip (cr);
  cairo_set_line_join (cr, CAIRO_LINE_JOIN_ROUND);
  cairo_set_line_cap (cr, CAIRO_LINE_CAP_ROUND);
  draw_gap (self, cr, &plot, &st);
  any_data = draw_all_series (self, cr, &plot, &st, scale);
  if (any_data)
    {
      draw_best (self, cr, &plot, &st, scale);
      draw_hover (self, cr, &plot, &st, scale);
    }
  cairo_restore (cr);

  if (!any_data)
    {
      g_autoptr(PangoLayout) l = make_layout (self, cr, self->empty_text ? self->empty_text : _("No data yet"),
                                              FALSE, 1.0);
      double tw, th;
      layout_size (l, &tw, &th);
      bt_chart_style_set_color (cr, &st.fg, 0.5);
      show_layout_at (cr, l, plot.x + (plot.w - tw) / 2, plot.y + (plot.h - th) / 2);
    }

  cairo_restore (cr);
}

/* ---- Hover and tooltip ---- */

/* The x under the pointer snapped to the nearest epoch point (or step point). */
static double
snap_x (BtChart *self, double data_x)
{
  double best = NAN, best_d = INFINITY;

  for (int pass = 0; pass < 2 && !isfinite (best); pass++)
    for (guint i = 0; i < self->series->len; i++)
      {
        BtChartSeries *s = g_ptr_array_index (self->series, i);
        BtChartRole role = bt_chart_series_get_role (s);
        double x;
        int j;

        if (!series_drawn (s))
          continue;
        if ((pass == 0) != (role == BT_CHART_ROLE_TRAIN || role == BT_CHART_ROLE_VALIDATION))
          continue;
        j = bt_chart_series_find_nearest (s, data_x);
        if (j >= 0 && bt_chart_series_get_point (s, j, &x, NULL) && fabs (x - data_x) < best_d)
          {
            best = x;
            best_d = fabs (x - data_x);
          }
      }
  return best;
}

char *
bt_chart_dup_hover_markup (BtChart *self)
{
  GString *s;
  char buf[64];

  g_return_val_if_fail (BT_IS_CHART (self), NULL);

  if (!isfinite (self->hover_x))
    return NULL;

  s = g_string_new (NULL);
  g_snprintf (buf, sizeof buf, "%g", self->hover_x);
  g_string_append_printf (s, "<b>%s %s</b>", self->x_title ? self->x_title : "x", buf);
  for (guint i = 0; i < self->series->len; i++)
    {
      BtChartSeries *ser = g_ptr_array_index (self->series, i);
      g_autofree char *title = NULL, *value = NULL;
      double x, y;
      int j;

      if (!series_drawn (ser))
        continue;
      j = bt_chart_series_find_nearest (ser, self->hover_x);
      if (j < 0 || !bt_chart_series_get_point (ser, j, &x, &y) || fabs (x - self->hover_x) > 0.5)
        continue;
      if (bt_chart_series_get_smoothing (ser) > 0)
        y = bt_chart_series_get_smoothed (ser, j);
      title = g_markup_escape_text (bt_chart_series_get_title (ser), -1);
      if (!isfinite (y))
        value = g_strdup (_("not a number (diverged)"));
      else if (bt_chart_axis_get_format (self->y_axis) == BT_CHART_AXIS_PERCENT)
        value = g_strdup_printf ("%.2f%%", y * 100);
      else
        value = g_strdup_printf ("%.4f", y);
      g_string_append_printf (s, "\n%s: %s", title, value);
    }
  if (isfinite (self->best_x) && self->hover_x == self->best_x)
    g_string_append_printf (s, "\n<i>%s</i>", _("Best epoch"));
  return g_string_free (s, FALSE);
}

void
bt_chart_set_hover_x (BtChart *self, double x)
{
  g_return_if_fail (BT_IS_CHART (self));

  if (x == self->hover_x || (isnan (x) && isnan (self->hover_x)))
    return;
  self->hover_x = x;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

double
bt_chart_get_hover_x (BtChart *self)
{
  g_return_val_if_fail (BT_IS_CHART (self), NAN);
  return self->hover_x;
}

static void
motion_cb (GtkEventControllerMotion *motion, double x, double y, BtChart *self)
{
  int width = gtk_widget_get_width (GTK_WIDGET (self));
  int height = gtk_widget_get_height (GTK_WIDGET (self));
  double xmin, xmax;
  Rect plot;

  compute_plot (self, width, height, &plot);
  if (x < plot.x - 8 || x > plot.x + plot.w + 8 || y < plot.y - 8 || y > plot.y + plot.h + 8)
    {
      bt_chart_set_hover_x (self, NAN);
      return;
    }
  bt_chart_axis_get_range (self->x_axis, &xmin, &xmax);
  bt_chart_set_hover_x (self, snap_x (self, xmin + (x - plot.x) / plot.w * (xmax - xmin)));
}

static void
leave_cb (GtkEventControllerMotion *motion, BtChart *self)
{
  bt_chart_set_hover_x (self, NAN);
}

static gboolean
bt_chart_query_tooltip (GtkWidget *widget, int x, int y, gboolean keyboard, GtkTooltip *tooltip)
{
  BtChart *self = BT_CHART (widget);
  g_autofree char *markup = NULL;

  if (keyboard || !isfinite (self->hover_x))
    {
      /* keyboard users move with the arrows; the tooltip follows the selected epoch */
      if (!isfinite (self->hover_x))
        return FALSE;
    }
  markup = bt_chart_dup_hover_markup (self);
  if (markup == NULL)
    return FALSE;
  gtk_tooltip_set_markup (tooltip, markup);
  return TRUE;
}

/* Left/Right walk the epochs; Home/End jump; Escape clears. */
static gboolean
key_pressed_cb (GtkEventControllerKey *key, guint keyval, guint keycode, GdkModifierType state, BtChart *self)
{
  double xmin, xmax, target;

  bt_chart_axis_get_range (self->x_axis, &xmin, &xmax);
  switch (keyval)
    {
    case GDK_KEY_Left: case GDK_KEY_KP_Left:
      target = isfinite (self->hover_x) ? self->hover_x - 1 : xmax;
      break;
    case GDK_KEY_Right: case GDK_KEY_KP_Right:
      target = isfinite (self->hover_x) ? self->hover_x + 1 : xmin;
      break;
    case GDK_KEY_Home: target = xmin; break;
    case GDK_KEY_End: target = xmax; break;
    case GDK_KEY_Escape:
      bt_chart_set_hover_x (self, NAN);
      return TRUE;
    default:
      return FALSE;
    }
  bt_chart_set_hover_x (self, snap_x (self, target));
  if (isfinite (self->hover_x))
    {
      g_autofree char *markup = bt_chart_dup_hover_markup (self);
      g_autofree char *text = NULL;
      pango_parse_markup (markup, -1, 0, NULL, &text, NULL, NULL);
      gtk_accessible_update_property (GTK_ACCESSIBLE (self), GTK_ACCESSIBLE_PROPERTY_DESCRIPTION,
                                      text ? text : "", -1);
      gtk_widget_trigger_tooltip_query (GTK_WIDGET (self));
    }
  return TRUE;
}

/* ---- GtkWidget ---- */

static void
bt_chart_snapshot (GtkWidget *widget, GtkSnapshot *snapshot)
{
  BtChart *self = BT_CHART (widget);
  int width = gtk_widget_get_width (widget);
  int height = gtk_widget_get_height (widget);
  cairo_t *cr;

  if (width <= 0 || height <= 0)
    return;
  cr = gtk_snapshot_append_cairo (snapshot, &GRAPHENE_RECT_INIT (0, 0, width, height));
  bt_chart_render (self, cr, width, height, FALSE);
  cairo_destroy (cr);

  if (gtk_widget_has_visible_focus (widget))
    {
      BtChartStyle st;
      GskRoundedRect outline;
      GdkRGBA c;
      bt_chart_style_init (&st, widget);
      c = st.accent;
      c.alpha = 0.5;
      gsk_rounded_rect_init_from_rect (&outline, &GRAPHENE_RECT_INIT (1, 1, width - 2, height - 2), 6);
      gtk_snapshot_append_border (snapshot, &outline, (float[4]) { 2, 2, 2, 2 },
                                  (GdkRGBA[4]) { c, c, c, c });
    }
}

static void
bt_chart_measure (GtkWidget *widget, GtkOrientation orientation, int for_size,
                  int *minimum, int *natural, int *minimum_baseline, int *natural_baseline)
{
  if (orientation == GTK_ORIENTATION_HORIZONTAL)
    {
      *minimum = 220;
      *natural = 480;
    }
  else
    {
      *minimum = 160;
      *natural = 280;
    }
}

static void
bt_chart_css_changed (GtkWidget *widget, GtkCssStyleChange *change)
{
  GTK_WIDGET_CLASS (bt_chart_parent_class)->css_changed (widget, change);
  gtk_widget_queue_draw (widget);
}

static void
bt_chart_dispose (GObject *object)
{
  BtChart *self = BT_CHART (object);

  g_clear_handle_id (&self->update_a11y_idle, g_source_remove);
  if (self->series->len)
    {
      for (guint i = 0; i < self->series->len; i++)
        g_signal_handlers_disconnect_by_func (g_ptr_array_index (self->series, i), series_changed_cb, self);
      g_ptr_array_set_size (self->series, 0);
    }
  self->gap_lower = self->gap_upper = NULL;
  if (self->x_axis)
    g_signal_handlers_disconnect_by_func (self->x_axis, gtk_widget_queue_draw, self);
  if (self->y_axis)
    g_signal_handlers_disconnect_by_func (self->y_axis, gtk_widget_queue_draw, self);
  g_clear_object (&self->x_axis);
  g_clear_object (&self->y_axis);

  G_OBJECT_CLASS (bt_chart_parent_class)->dispose (object);
}

static void
bt_chart_finalize (GObject *object)
{
  BtChart *self = BT_CHART (object);

  g_free (self->title);
  g_free (self->x_title);
  g_free (self->empty_text);
  g_ptr_array_unref (self->series);

  G_OBJECT_CLASS (bt_chart_parent_class)->finalize (object);
}

static void
bt_chart_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  BtChart *self = BT_CHART (object);

  switch (prop_id)
    {
    case PROP_TITLE: g_value_set_string (value, self->title); break;
    case PROP_X_TITLE: g_value_set_string (value, self->x_title); break;
    case PROP_BEST_X: g_value_set_double (value, self->best_x); break;
    case PROP_EMPTY_TEXT: g_value_set_string (value, self->empty_text); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
bt_chart_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  BtChart *self = BT_CHART (object);

  switch (prop_id)
    {
    case PROP_TITLE: bt_chart_set_title (self, g_value_get_string (value)); break;
    case PROP_X_TITLE: bt_chart_set_x_title (self, g_value_get_string (value)); break;
    case PROP_BEST_X: bt_chart_set_best_x (self, g_value_get_double (value)); break;
    case PROP_EMPTY_TEXT: bt_chart_set_empty_text (self, g_value_get_string (value)); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
bt_chart_class_init (BtChartClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = bt_chart_dispose;
  object_class->finalize = bt_chart_finalize;
  object_class->get_property = bt_chart_get_property;
  object_class->set_property = bt_chart_set_property;

  widget_class->snapshot = bt_chart_snapshot;
  widget_class->measure = bt_chart_measure;
  widget_class->query_tooltip = bt_chart_query_tooltip;
  widget_class->css_changed = bt_chart_css_changed;

  properties[PROP_TITLE] = g_param_spec_string ("title", NULL, NULL, NULL,
                                                G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_X_TITLE] = g_param_spec_string ("x-title", NULL, NULL, NULL,
                                                  G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_BEST_X] = g_param_spec_double ("best-x", NULL, NULL, -G_MAXDOUBLE, G_MAXDOUBLE, 0,
                                                 G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_EMPTY_TEXT] = g_param_spec_string ("empty-text", NULL, NULL, NULL,
                                                     G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_set_css_name (widget_class, "btchart");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_IMG);
}

static void
bt_chart_init (BtChart *self)
{
  GtkEventController *motion = gtk_event_controller_motion_new ();
  GtkEventController *key = gtk_event_controller_key_new ();

  self->series = g_ptr_array_new_with_free_func (g_object_unref);
  self->best_x = NAN;
  self->hover_x = NAN;

  g_signal_connect (motion, "motion", G_CALLBACK (motion_cb), self);
  g_signal_connect (motion, "leave", G_CALLBACK (leave_cb), self);
  gtk_widget_add_controller (GTK_WIDGET (self), motion);
  g_signal_connect (key, "key-pressed", G_CALLBACK (key_pressed_cb), self);
  gtk_widget_add_controller (GTK_WIDGET (self), key);

  gtk_widget_set_has_tooltip (GTK_WIDGET (self), TRUE);
  gtk_widget_set_focusable (GTK_WIDGET (self), TRUE);
  gtk_widget_set_hexpand (GTK_WIDGET (self), TRUE);
  gtk_widget_set_vexpand (GTK_WIDGET (self), TRUE);
}

GtkWidget *
bt_chart_new (const char *title, BtChartAxis *x_axis, BtChartAxis *y_axis)
{
  BtChart *self = g_object_new (BT_TYPE_CHART, "title", title, NULL);

  self->x_axis = x_axis ? g_object_ref (x_axis) : bt_chart_axis_new (BT_CHART_AXIS_INTEGER);
  self->y_axis = y_axis ? g_object_ref (y_axis) : bt_chart_axis_new (BT_CHART_AXIS_NUMBER);
  g_signal_connect_swapped (self->x_axis, "changed", G_CALLBACK (gtk_widget_queue_draw), self);
  g_signal_connect_swapped (self->y_axis, "changed", G_CALLBACK (gtk_widget_queue_draw), self);
  update_accessible (self);
  return GTK_WIDGET (self);
}

const char *
bt_chart_get_title (BtChart *self)
{
  g_return_val_if_fail (BT_IS_CHART (self), NULL);
  return self->title;
}

void
bt_chart_set_title (BtChart *self, const char *title)
{
  g_return_if_fail (BT_IS_CHART (self));

  if (g_strcmp0 (title, self->title) == 0)
    return;
  g_free (self->title);
  self->title = g_strdup (title);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TITLE]);
  bt_chart_queue_update (self);
}

void
bt_chart_set_x_title (BtChart *self, const char *x_title)
{
  g_return_if_fail (BT_IS_CHART (self));

  if (g_strcmp0 (x_title, self->x_title) == 0)
    return;
  g_free (self->x_title);
  self->x_title = g_strdup (x_title);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_X_TITLE]);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

void
bt_chart_set_empty_text (BtChart *self, const char *text)
{
  g_return_if_fail (BT_IS_CHART (self));

  if (g_strcmp0 (text, self->empty_text) == 0)
    return;
  g_free (self->empty_text);
  self->empty_text = g_strdup (text);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_EMPTY_TEXT]);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

BtChartAxis *
bt_chart_get_x_axis (BtChart *self)
{
  g_return_val_if_fail (BT_IS_CHART (self), NULL);
  return self->x_axis;
}

BtChartAxis *
bt_chart_get_y_axis (BtChart *self)
{
  g_return_val_if_fail (BT_IS_CHART (self), NULL);
  return self->y_axis;
}

void
bt_chart_add_series (BtChart *self, BtChartSeries *series)
{
  g_return_if_fail (BT_IS_CHART (self));
  g_return_if_fail (BT_IS_CHART_SERIES (series));

  if (g_ptr_array_find (self->series, series, NULL))
    return;
  g_ptr_array_add (self->series, g_object_ref (series));
  g_signal_connect_swapped (series, "changed", G_CALLBACK (series_changed_cb), self);
  bt_chart_queue_update (self);
}

void
bt_chart_remove_series (BtChart *self, BtChartSeries *series)
{
  g_return_if_fail (BT_IS_CHART (self));
  g_return_if_fail (BT_IS_CHART_SERIES (series));

  if (!g_ptr_array_find (self->series, series, NULL))
    return;
  if (self->gap_lower == series || self->gap_upper == series)
    self->gap_lower = self->gap_upper = NULL;
  g_signal_handlers_disconnect_by_func (series, series_changed_cb, self);
  g_ptr_array_remove (self->series, series);
  bt_chart_queue_update (self);
}

guint
bt_chart_get_n_series (BtChart *self)
{
  g_return_val_if_fail (BT_IS_CHART (self), 0);
  return self->series->len;
}

BtChartSeries *
bt_chart_get_series (BtChart *self, guint i)
{
  g_return_val_if_fail (BT_IS_CHART (self), NULL);
  g_return_val_if_fail (i < self->series->len, NULL);
  return g_ptr_array_index (self->series, i);
}

void
bt_chart_set_gap (BtChart *self, BtChartSeries *lower, BtChartSeries *upper)
{
  g_return_if_fail (BT_IS_CHART (self));
  g_return_if_fail (lower == NULL || g_ptr_array_find (self->series, lower, NULL));
  g_return_if_fail (upper == NULL || g_ptr_array_find (self->series, upper, NULL));

  self->gap_lower = lower;
  self->gap_upper = upper;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

void
bt_chart_set_best_x (BtChart *self, double x)
{
  g_return_if_fail (BT_IS_CHART (self));

  if (x == self->best_x || (isnan (x) && isnan (self->best_x)))
    return;
  self->best_x = x;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BEST_X]);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

double
bt_chart_get_best_x (BtChart *self)
{
  g_return_val_if_fail (BT_IS_CHART (self), NAN);
  return self->best_x;
}

/* ---- Export ---- */

static cairo_status_t
write_to_array_cb (void *closure, const unsigned char *data, unsigned int length)
{
  g_byte_array_append (closure, data, length);
  return CAIRO_STATUS_SUCCESS;
}

GBytes *
bt_chart_render_png (BtChart *self, int width, int height, int scale, GError **error)
{
  cairo_surface_t *surface;
  cairo_t *cr;
  cairo_status_t status;
  g_autoptr(GByteArray) out = g_byte_array_new ();

  g_return_val_if_fail (BT_IS_CHART (self), NULL);

  if (width <= 0 || height <= 0 || width > 8000 || height > 8000 || scale < 1 || scale > 4)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   _("A chart image of %d × %d pixels at scale %d cannot be made"), width, height, scale);
      return NULL;
    }
  surface = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, width * scale, height * scale);
  cairo_surface_set_device_scale (surface, scale, scale);
  cr = cairo_create (surface);
  bt_chart_render (self, cr, width, height, TRUE);
  cairo_destroy (cr);
  status = cairo_surface_write_to_png_stream (surface, write_to_array_cb, out);
  cairo_surface_destroy (surface);
  if (status != CAIRO_STATUS_SUCCESS)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, _("Could not encode the chart as PNG: %s"),
                   cairo_status_to_string (status));
      return NULL;
    }
  return g_byte_array_free_to_bytes (g_steal_pointer (&out));
}

GBytes *
bt_chart_render_svg (BtChart *self, int width, int height, GError **error)
{
  cairo_surface_t *surface;
  cairo_t *cr;
  cairo_status_t status;
  g_autoptr(GByteArray) out = g_byte_array_new ();

  g_return_val_if_fail (BT_IS_CHART (self), NULL);

  if (width <= 0 || height <= 0 || width > 8000 || height > 8000)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   _("A chart image of %d × %d pixels at scale %d cannot be made"), width, height, 1);
      return NULL;
    }
  surface = cairo_svg_surface_create_for_stream (write_to_array_cb, out, width, height);
  cr = cairo_create (surface);
  bt_chart_render (self, cr, width, height, TRUE);
  cairo_destroy (cr);
  cairo_surface_finish (surface);
  status = cairo_surface_status (surface);
  cairo_surface_destroy (surface);
  if (status != CAIRO_STATUS_SUCCESS)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, _("Could not encode the chart as SVG: %s"),
                   cairo_status_to_string (status));
      return NULL;
    }
  return g_byte_array_free_to_bytes (g_steal_pointer (&out));
}
