/* bt-test-pixels.h: reading back pixels of Cairo image surfaces in the widget tests. */
#pragma once

#include <gtk/gtk.h>
#include <math.h>

/* Un-premultiplied colour of the pixel at user coordinate (x, y) of an ARGB32 surface. */
static inline GdkRGBA
bt_test_pixel (cairo_surface_t *surface, double x, double y)
{
  double sx = 1, sy = 1;
  int px, py, stride;
  const guint8 *data;
  guint32 v;
  GdkRGBA c = { 0, 0, 0, 0 };

  cairo_surface_flush (surface);
  cairo_surface_get_device_scale (surface, &sx, &sy);
  px = (int) floor (x * sx);
  py = (int) floor (y * sy);
  if (px < 0 || py < 0 || px >= cairo_image_surface_get_width (surface) ||
      py >= cairo_image_surface_get_height (surface))
    return c;
  stride = cairo_image_surface_get_stride (surface);
  data = cairo_image_surface_get_data (surface);
  v = *(const guint32 *) (data + py * stride + px * 4);
  c.alpha = ((v >> 24) & 0xff) / 255.f;
  if (c.alpha > 0)
    {
      c.red = ((v >> 16) & 0xff) / 255.f / c.alpha;
      c.green = ((v >> 8) & 0xff) / 255.f / c.alpha;
      c.blue = (v & 0xff) / 255.f / c.alpha;
    }
  return c;
}

/* Opaque enough and within tol (0..1 per channel) of want. */
static inline gboolean
bt_test_color_near (const GdkRGBA *got, const GdkRGBA *want, double tol)
{
  return got->alpha > 0.9 &&
         fabs (got->red - want->red) <= tol &&
         fabs (got->green - want->green) <= tol &&
         fabs (got->blue - want->blue) <= tol;
}

/* Any pixel within radius r of (x, y) near the colour. */
static inline gboolean
bt_test_color_around (cairo_surface_t *surface, double x, double y, int r, const GdkRGBA *want, double tol)
{
  for (int dy = -r; dy <= r; dy++)
    for (int dx = -r; dx <= r; dx++)
      {
        GdkRGBA got = bt_test_pixel (surface, x + dx, y + dy);
        if (bt_test_color_near (&got, want, tol))
          return TRUE;
      }
  return FALSE;
}
