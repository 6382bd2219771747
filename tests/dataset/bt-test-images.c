/* bt-test-images.c: in-memory PNG/JPEG/BMP encoders for tests, from stb_image_write. */
#include "bt-test-images.h"

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#define STBI_WRITE_NO_STDIO
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-prototypes"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wundef"
#include <stb_image_write.h>

static void
append (void *ctx, void *data, int size)
{
  g_byte_array_append (ctx, data, (guint) size);
}

GBytes *
bt_test_encode_png (const guint8 *pixels, int w, int h, int c)
{
  GByteArray *a = g_byte_array_new ();
  stbi_write_png_to_func (append, a, w, h, c, pixels, w * c);
  return g_byte_array_free_to_bytes (a);
}

GBytes *
bt_test_encode_jpeg (const guint8 *pixels, int w, int h, int c, int quality)
{
  GByteArray *a = g_byte_array_new ();
  stbi_write_jpg_to_func (append, a, w, h, c, pixels, quality);
  return g_byte_array_free_to_bytes (a);
}

GBytes *
bt_test_encode_bmp (const guint8 *pixels, int w, int h, int c)
{
  GByteArray *a = g_byte_array_new ();
  stbi_write_bmp_to_func (append, a, w, h, c, pixels);
  return g_byte_array_free_to_bytes (a);
}

guint8 *
bt_test_pattern (int w, int h, int c, guint seed)
{
  guint8 *p = g_malloc ((gsize) w * h * c);
  guint32 s = seed * 2654435761u + 1;
  for (int i = 0; i < w * h * c; i++)
    {
      s = s * 1664525u + 1013904223u;
      p[i] = (guint8) (((i / c) % w * 7 + (i / c) / w * 3 + (i % c) * 50) ^ (s >> 28));
    }
  return p;
}

gboolean
bt_test_write_file (const char *path, GBytes *bytes)
{
  gsize len = 0;
  const char *d = g_bytes_get_data (bytes, &len);
  return g_file_set_contents (path, d, (gssize) len, NULL);
}
