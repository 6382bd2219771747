/* bt-chart-axis.h: a chart axis — maps values to 0..1 and computes readable ("nice") ticks. */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

typedef enum {
  BT_CHART_AXIS_NUMBER,    /* 0.25, 1.5, 1000 */
  BT_CHART_AXIS_INTEGER,   /* epochs, steps: ticks never fall between integers */
  BT_CHART_AXIS_PERCENT,   /* values in 0..1 shown as 0 %..100 % */
} BtChartAxisFormat;

#define BT_CHART_AXIS_MAX_TICKS 32

#define BT_TYPE_CHART_AXIS (bt_chart_axis_get_type ())
G_DECLARE_FINAL_TYPE (BtChartAxis, bt_chart_axis, BT, CHART_AXIS, GObject)

/* Properties: min, max (the shown range), auto-range (follow the data), format.
 * Signal "changed" whenever anything that affects drawing changes. */
BtChartAxis      *bt_chart_axis_new            (BtChartAxisFormat format);
void              bt_chart_axis_set_range      (BtChartAxis *self, double min, double max);
void              bt_chart_axis_get_range      (BtChartAxis *self, double *min, double *max);
void              bt_chart_axis_set_auto_range (BtChartAxis *self, gboolean auto_range);
gboolean          bt_chart_axis_get_auto_range (BtChartAxis *self);
BtChartAxisFormat bt_chart_axis_get_format     (BtChartAxis *self);
/* Fits the range to data bounds (when auto-range is on): widened to nice tick steps,
 * a degenerate range [v, v] becomes a small range around v. */
void              bt_chart_axis_fit            (BtChartAxis *self, double data_min, double data_max);
/* value → position in 0..1 over the range (values outside map outside; NaN stays NaN). */
double            bt_chart_axis_normalize      (BtChartAxis *self, double value);
/* Ticks inside the range, at most max_ticks (≥ 2), at multiples of 1, 2 or 5 × 10^k.
 * Returns how many were written into ticks (size BT_CHART_AXIS_MAX_TICKS). */
guint             bt_chart_axis_get_ticks      (BtChartAxis *self, guint max_ticks, double *ticks, double *step);
/* A tick label for value with the precision the step needs (g_free). */
char             *bt_chart_axis_format_value   (BtChartAxis *self, double value, double step);

/* The pure computation behind get_ticks, for any range. */
double            bt_chart_nice_step           (double range, guint max_ticks, gboolean integer);
guint             bt_chart_compute_ticks       (double min, double max, guint max_ticks, gboolean integer,
                                                double *ticks, double *step);

G_END_DECLS
