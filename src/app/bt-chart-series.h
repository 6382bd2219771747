/* bt-chart-series.h: one line of a chart — a GObject holding (x, y) points that tells the
 * chart when they change; optionally drawn as a faint raw line under an EMA-smoothed one. */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

/* Which colour and stroke a series gets; colours come from the widget's style. */
typedef enum {
  BT_CHART_ROLE_TRAIN,        /* solid, first accent colour */
  BT_CHART_ROLE_VALIDATION,   /* solid, second accent colour */
  BT_CHART_ROLE_STEP,         /* per-step training values: faint raw + smoothed */
  BT_CHART_ROLE_OVERLAY,      /* a compared run's validation curve: thin solid */
  BT_CHART_ROLE_OVERLAY_TRAIN,/* a compared run's training curve: thin dashed */
} BtChartRole;
/* Compared runs take their colours from a palette of this many (muted colour when none). */
#define BT_CHART_N_COMPARE_COLORS 6

#define BT_TYPE_CHART_SERIES (bt_chart_series_get_type ())
G_DECLARE_FINAL_TYPE (BtChartSeries, bt_chart_series, BT, CHART_SERIES, GObject)

/* Properties: title, role, smoothing (EMA weight 0..0.999; 0 = off), visible,
 * color-index (-1: the role's colour; n ≥ 0: comparison colour n mod BT_CHART_N_COMPARE_COLORS).
 * Signal "changed" after points were added or removed or a drawing property changed. */
BtChartSeries *bt_chart_series_new           (const char *title, BtChartRole role);
const char    *bt_chart_series_get_title     (BtChartSeries *self);
BtChartRole    bt_chart_series_get_role      (BtChartSeries *self);
void           bt_chart_series_set_smoothing (BtChartSeries *self, double smoothing);
double         bt_chart_series_get_smoothing (BtChartSeries *self);
void           bt_chart_series_set_visible   (BtChartSeries *self, gboolean visible);
gboolean       bt_chart_series_get_visible   (BtChartSeries *self);
void           bt_chart_series_set_color_index (BtChartSeries *self, int index);
int            bt_chart_series_get_color_index (BtChartSeries *self);

/* y may be NaN or ±Inf (a diverged loss): such points are kept and drawn as a gap. */
void           bt_chart_series_append        (BtChartSeries *self, double x, double y);
void           bt_chart_series_append_many   (BtChartSeries *self, const double *xs, const double *ys, guint n);
void           bt_chart_series_clear         (BtChartSeries *self);
guint          bt_chart_series_get_n_points  (BtChartSeries *self);
gboolean       bt_chart_series_get_point     (BtChartSeries *self, guint i, double *x, double *y);
/* The EMA-smoothed value at i (bias-corrected like TensorBoard, NaN-skipping);
 * equals the raw value when smoothing is 0. */
double         bt_chart_series_get_smoothed  (BtChartSeries *self, guint i);
/* Bounds of the finite points; FALSE when there is none. */
gboolean       bt_chart_series_get_bounds    (BtChartSeries *self, double *x_min, double *x_max,
                                              double *y_min, double *y_max);
/* Index of the point whose x is nearest to x, or -1 for an empty series. */
int            bt_chart_series_find_nearest  (BtChartSeries *self, double x);
/* Index of the point with exactly this x, or -1. */
int            bt_chart_series_find_x        (BtChartSeries *self, double x);

/* CSV (RFC 4180) with one row per distinct x over all series (sorted) and one column per
 * series, headed by x_title and the series titles; missing values are empty cells. */
char          *bt_chart_series_to_csv        (BtChartSeries * const *series, guint n_series,
                                              const char *x_title);

G_END_DECLS
