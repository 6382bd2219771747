/* bt-test-images.c: in-memory PNG/JPEG/BMP encoders for tests, from stb_image_write. */
#include <string.h>

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

static guint32
crc32_of (const guint8 *p, gsize n)
{
  guint32 c = 0xffffffffu;
  for (gsize i = 0; i < n; i++)
    {
      c ^= p[i];
      for (int k = 0; k < 8; k++)
        c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
  return c ^ 0xffffffffu;
}

static void
put_be32 (guint8 *p, guint32 v)
{
  p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v;
}

/* A PNG signature + IHDR claiming w×h, then nothing. */
GBytes *
bt_test_png_header_only (guint32 w, guint32 h)
{
  guint8 b[8 + 25 + 12];
  memcpy (b, "\x89PNG\r\n\x1a\n", 8);
  put_be32 (b + 8, 13);
  memcpy (b + 12, "IHDR", 4);
  put_be32 (b + 16, w);
  put_be32 (b + 20, h);
  b[24] = 8; b[25] = 2; b[26] = 0; b[27] = 0; b[28] = 0;
  put_be32 (b + 29, crc32_of (b + 12, 17));
  put_be32 (b + 33, 0);
  memcpy (b + 37, "IEND", 4);
  put_be32 (b + 41, crc32_of (b + 37, 4));
  return g_bytes_new (b, sizeof b);
}

