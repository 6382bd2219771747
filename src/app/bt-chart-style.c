/* bt-chart-style.c: colours shared by Bottega's Cairo widgets, derived from the widget's
 * foreground colour so that they follow the light and dark styles. */
#include "config.h"

#include <math.h>

#include "bt-chart-style.h"

static void
rgba_from_hex (GdkRGBA *c, guint32 hex)
{
  c->red = ((hex >> 16) & 0xff) / 255.f;
  c->green = ((hex >> 8) & 0xff) / 255.f;
  c->blue = (hex & 0xff) / 255.f;
  c->alpha = 1;
}

/* GNOME palette without the blue and orange of the current run: purple, green, red, brown,
 * yellow, grey */
static const guint32 compare_light[] = { 0x813d9c, 0x26a269, 0xc01c28, 0x865e3c, 0xc88800, 0x5e5c64 };
static const guint32 compare_dark[] = { 0xc061cb, 0x57e389, 0xf66151, 0xcdab8f, 0xf8e45c, 0xc0bfbc };

void
bt_chart_style_init (BtChartStyle *style, GtkWidget *widget)
{
  double luminance;

  g_return_if_fail (style != NULL);

  rgba_from_hex (&style->fg, 0x1e1e1e);
  if (widget != NULL)
    {
#if GTK_CHECK_VERSION (4, 10, 0)
      gtk_widget_get_color (widget, &style->fg);
#else
      gtk_style_context_get_color (gtk_widget_get_style_context (widget), &style->fg);
#endif
    }
  style->fg.alpha = 1;
  luminance = 0.2126 * style->fg.red + 0.7152 * style->fg.green + 0.0722 * style->fg.blue;
  style->dark = luminance > 0.5;

  /* GNOME palette: the darker shades on light backgrounds, the lighter on dark ones */
  if (style->dark)
    {
      rgba_from_hex (&style->background, 0x242424);
      rgba_from_hex (&style->accent, 0x62a0ea);
      rgba_from_hex (&style->accent2, 0xffa348);
      rgba_from_hex (&style->bad, 0xf66151);
      rgba_from_hex (&style->good, 0x57e389);
      rgba_from_hex (&style->muted, 0xc061cb);
      for (guint i = 0; i < G_N_ELEMENTS (compare_dark); i++)
        rgba_from_hex (&style->compare[i], compare_dark[i]);
    }
  else
    {
      rgba_from_hex (&style->background, 0xffffff);
      rgba_from_hex (&style->accent, 0x1c71d8);
      rgba_from_hex (&style->accent2, 0xe66100);
      rgba_from_hex (&style->bad, 0xc01c28);
      rgba_from_hex (&style->good, 0x26a269);
      rgba_from_hex (&style->muted, 0x813d9c);
      for (guint i = 0; i < G_N_ELEMENTS (compare_light); i++)
        rgba_from_hex (&style->compare[i], compare_light[i]);
    }
}

void
bt_chart_style_set_color (cairo_t *cr, const GdkRGBA *color, double alpha)
{
  cairo_set_source_rgba (cr, color->red, color->green, color->blue, color->alpha * alpha);
}

double
bt_chart_style_get_scale (cairo_t *cr)
{
  double sx = 1, sy = 1;

  cairo_surface_get_device_scale (cairo_get_target (cr), &sx, &sy);
  return sx > 0 ? sx : 1;
}

double
bt_chart_style_align (double v, double scale)
{
  return (floor (v * scale) + 0.5) / scale;
}
