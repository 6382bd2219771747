/* bt-chart-style.h: colours shared by Bottega's Cairo widgets, derived from the widget's
 * foreground colour so that they follow the light and dark styles. */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

typedef struct {
  GdkRGBA  fg;          /* text */
  GdkRGBA  background;  /* only for exports; widgets draw on the window's background */
  GdkRGBA  accent;      /* training, top class, diagonal */
  GdkRGBA  accent2;     /* validation */
  GdkRGBA  bad;         /* mistakes */
  GdkRGBA  good;        /* best epoch */
  GdkRGBA  muted;       /* comparison runs, other classes */
  GdkRGBA  compare[6];  /* compared runs, each its own (BT_CHART_N_COMPARE_COLORS) */
  gboolean dark;
} BtChartStyle;

void bt_chart_style_init      (BtChartStyle *style, GtkWidget *widget);
void bt_chart_style_set_color (cairo_t *cr, const GdkRGBA *color, double alpha);
/* Half-pixel alignment of a 1-device-pixel line at user coordinate v. */
double bt_chart_style_align   (double v, double scale);
double bt_chart_style_get_scale (cairo_t *cr);

G_END_DECLS
