/* bt-chart.h: a line chart widget drawn with Cairo — series models on two axes, legend,
 * hover tooltip, best-epoch marker, shaded train/validation gap; PNG/SVG export. */
#pragma once

#include <gtk/gtk.h>

#include "bt-chart-axis.h"
#include "bt-chart-series.h"

G_BEGIN_DECLS

#define BT_TYPE_CHART (bt_chart_get_type ())
G_DECLARE_FINAL_TYPE (BtChart, bt_chart, BT, CHART, GtkWidget)

/* Properties: title, x-title, best-x (NaN = no marker), empty-text. */
GtkWidget     *bt_chart_new            (const char *title, BtChartAxis *x_axis, BtChartAxis *y_axis);
const char    *bt_chart_get_title      (BtChart *self);
void           bt_chart_set_title      (BtChart *self, const char *title);
void           bt_chart_set_x_title    (BtChart *self, const char *x_title);
void           bt_chart_set_empty_text (BtChart *self, const char *text);
BtChartAxis   *bt_chart_get_x_axis     (BtChart *self);
BtChartAxis   *bt_chart_get_y_axis     (BtChart *self);

void           bt_chart_add_series     (BtChart *self, BtChartSeries *series);
void           bt_chart_remove_series  (BtChart *self, BtChartSeries *series);
guint          bt_chart_get_n_series   (BtChart *self);
BtChartSeries *bt_chart_get_series     (BtChart *self, guint i);
/* Shades the area between two of the chart's series where both have a value at the same x. */
void           bt_chart_set_gap        (BtChart *self, BtChartSeries *lower, BtChartSeries *upper);
void           bt_chart_set_best_x     (BtChart *self, double x);
double         bt_chart_get_best_x     (BtChart *self);

/* The x the pointer or keyboard points at (NaN = none); the tooltip shows its values. */
void           bt_chart_set_hover_x    (BtChart *self, double x);
double         bt_chart_get_hover_x    (BtChart *self);
/* The text of the tooltip for the hovered x (NULL when nothing is hovered), Pango markup. */
char          *bt_chart_dup_hover_markup (BtChart *self);

/* Draws the chart into cr at width × height (user units; the target's device scale is used
 * for pixel alignment). Used by the widget, by exports and by tests. */
void           bt_chart_render         (BtChart *self, cairo_t *cr, int width, int height, gboolean with_background);
/* Where the data area lies for a given size, and where a value is drawn. */
void           bt_chart_get_plot_area  (BtChart *self, int width, int height, graphene_rect_t *area);
void           bt_chart_value_to_point (BtChart *self, int width, int height, double x, double y,
                                        double *px, double *py);
/* The colour a series is drawn in (for legends elsewhere and tests). */
void           bt_chart_get_series_color (BtChart *self, BtChartSeries *series, GdkRGBA *color);
void           bt_chart_get_best_color (BtChart *self, GdkRGBA *color);

/* Renders to an encoded PNG (scale = device pixels per unit) or SVG, for saving off the main thread. */
GBytes        *bt_chart_render_png     (BtChart *self, int width, int height, int scale, GError **error);
GBytes        *bt_chart_render_svg     (BtChart *self, int width, int height, GError **error);

G_END_DECLS
