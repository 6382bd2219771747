/* bt-test-images.h: small images encoded in memory for the dataset tests (stb_image_write). */
#pragma once

#include <glib.h>

/* PNG/JPEG/BMP bytes of a w×h image with c channels (1..4), HWC. */
GBytes *bt_test_encode_png  (const guint8 *pixels, int w, int h, int c);
GBytes *bt_test_encode_jpeg (const guint8 *pixels, int w, int h, int c, int quality);
GBytes *bt_test_encode_bmp  (const guint8 *pixels, int w, int h, int c);
/* A deterministic pattern image. */
guint8 *bt_test_pattern (int w, int h, int c, guint seed);
gboolean bt_test_write_file (const char *path, GBytes *bytes);
/* A PNG signature + IHDR claiming w×h, then IEND: no pixel data at all. */
GBytes *bt_test_png_header_only (guint32 w, guint32 h);
