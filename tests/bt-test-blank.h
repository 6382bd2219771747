/* bt-test-blank.h: a flat 64×64 PNG of one grey level (0…1), for the doctor's tests (a blank
 * image is dark or overexposed, low-contrast and blurry). Header only; needs Cairo. */
#pragma once

#include <cairo.h>
#include <glib.h>

static inline void
bt_test_write_blank_png (const char *dst, double grey)
{
  cairo_surface_t *s = cairo_image_surface_create (CAIRO_FORMAT_RGB24, 64, 64);
  cairo_t *cr = cairo_create (s);
  cairo_set_source_rgb (cr, grey, grey, grey);
  cairo_paint (cr);
  cairo_destroy (cr);
  g_assert_cmpint (cairo_surface_write_to_png (s, dst), ==, CAIRO_STATUS_SUCCESS);
  cairo_surface_destroy (s);
}
