/* test-decode.c: hardened decoding (hostile bytes → the right reason), colour conversion and the
 * preprocessing resize compared with naive references. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dataset/bt-dataset.h"
#include "bt-test-images.h"

static void
expect_reason (GBytes *bytes, BtSkipReason want, const char *what)
{
  gsize len = 0;
  const guint8 *d = g_bytes_get_data (bytes, &len);
  BtSkipReason reason = 999;
  g_autoptr(GError) error = NULL;
  g_autoptr(BtImage) img = bt_image_decode_bytes (d, len, 3, &reason, &error);
  if (img != NULL)
    g_error ("%s: decoded, expected refusal", what);
  g_assert_nonnull (error);
  g_assert_true (error->domain == BT_DATASET_ERROR);
  g_test_message ("%s → %s (%s)", what, bt_skip_reason_to_string (reason), error->message);
  g_assert_cmpstr (bt_skip_reason_to_string (reason), ==, bt_skip_reason_to_string (want));
}

static void
test_hostile_bytes (void)
{
  g_autoptr(GBytes) empty = g_bytes_new (NULL, 0);
  expect_reason (empty, BT_SKIP_NOT_IMAGE, "empty");
  g_autoptr(GBytes) text = g_bytes_new_static ("hello, this is text\n", 20);
  expect_reason (text, BT_SKIP_NOT_IMAGE, "text");
  g_autoptr(GBytes) huge = bt_test_png_header_only (100000, 100000);
  expect_reason (huge, BT_SKIP_TOO_LARGE, "100000x100000 png");
  g_autoptr(GBytes) over = bt_test_png_header_only (12000, 9000);
  expect_reason (over, BT_SKIP_TOO_LARGE, "108 MP png");
  g_autoptr(GBytes) bomb = bt_test_png_header_only (7000, 7000);
  expect_reason (bomb, BT_SKIP_CORRUPT, "49 MP header in 45 bytes");
  g_autoptr(GBytes) pnm16 = g_bytes_new_static ("P5\n2 2\n65535\n\0\1\0\2\0\3\0\4", 21);
  expect_reason (pnm16, BT_SKIP_UNSUPPORTED, "16-bit PGM");
  guint8 pic[128] = { 0x53, 0x80, 0xf6, 0x34 };
  memcpy (pic + 88, "PICT", 4);
  g_autoptr(GBytes) picb = g_bytes_new (pic, sizeof pic);
  expect_reason (picb, BT_SKIP_UNSUPPORTED, "PIC");
  guint8 psd[64] = { '8', 'B', 'P', 'S', 0, 1 };
  g_autoptr(GBytes) psdb = g_bytes_new (psd, sizeof psd);
  expect_reason (psdb, BT_SKIP_UNSUPPORTED, "PSD");
  g_autoptr(GBytes) hdr = g_bytes_new_static ("#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n", 35);
  expect_reason (hdr, BT_SKIP_UNSUPPORTED, "HDR");

  g_autofree guint8 *pat = bt_test_pattern (40, 30, 3, 1);
  g_autoptr(GBytes) png = bt_test_encode_png (pat, 40, 30, 3);
  g_autoptr(GBytes) jpg = bt_test_encode_jpeg (pat, 40, 30, 3, 90);
  g_autoptr(GBytes) tpng = g_bytes_new_from_bytes (png, 0, g_bytes_get_size (png) / 2);
  g_autoptr(GBytes) tjpg = g_bytes_new_from_bytes (jpg, 0, g_bytes_get_size (jpg) * 2 / 3);
  expect_reason (tpng, BT_SKIP_CORRUPT, "truncated png");
  expect_reason (tjpg, BT_SKIP_CORRUPT, "truncated jpeg");
  g_autoptr(GBytes) tpng_hdr = g_bytes_new_from_bytes (png, 0, 20);
  expect_reason (tpng_hdr, BT_SKIP_CORRUPT, "png cut inside the header");
}

static void
test_decode_exact (void)
{
  for (int c = 1; c <= 4; c++)
    {
      g_autofree guint8 *pat = bt_test_pattern (17, 11, c, c);
      g_autoptr(GBytes) png = bt_test_encode_png (pat, 17, 11, c);
      gsize len;
      const guint8 *d = g_bytes_get_data (png, &len);
      for (int want = 1; want <= 3; want += 2)
        {
          g_autoptr(GError) error = NULL;
          g_autoptr(BtImage) img = bt_image_decode_bytes (d, len, want, NULL, &error);
          g_assert_no_error (error);
          g_assert_cmpint (img->width, ==, 17);
          g_assert_cmpint (img->height, ==, 11);
          g_assert_cmpint (img->channels, ==, want);
          for (int i = 0; i < 17 * 11; i++)
            {
              const guint8 *s = pat + i * c;
              int r, g, b, a = (c == 2 || c == 4) ? s[c - 1] : 255;
              if (c <= 2) r = g = b = s[0]; else { r = s[0]; g = s[1]; b = s[2]; }
              if (want == 3)
                {
                  int er = (r * a + 255 * (255 - a) + 127) / 255;
                  int eg = (g * a + 255 * (255 - a) + 127) / 255;
                  int eb = (b * a + 255 * (255 - a) + 127) / 255;
                  g_assert_cmpint (img->pixels[i * 3], ==, er);
                  g_assert_cmpint (img->pixels[i * 3 + 1], ==, eg);
                  g_assert_cmpint (img->pixels[i * 3 + 2], ==, eb);
                }
              else
                {
                  /* stb's luma: (77r + 150g + 29b) >> 8, then alpha over white. */
                  int y = c <= 2 ? r : (r * 77 + g * 150 + b * 29) >> 8;
                  int ey = (y * a + 255 * (255 - a) + 127) / 255;
                  g_assert_cmpint (img->pixels[i], ==, ey);
                }
            }
        }
    }
}

/* One colour per 8×8 block (the pattern's colour at the block's first pixel): at quality 100
 * without chroma subsampling a JPEG keeps such a block's colour but for the rounding of the
 * colour conversion there and back, so the decode can be held to a pixel or two instead of the
 * 40/255 that noise needed. */
static guint8 *
block_pattern (const guint8 *pat, int w, int h)
{
  guint8 *b = g_malloc ((gsize) w * h * 3);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      memcpy (b + ((gsize) y * w + x) * 3, pat + ((gsize) (y / 8 * 8) * w + x / 8 * 8) * 3, 3);
  return b;
}

static void
test_decode_formats (void)
{
  g_autofree guint8 *noise = bt_test_pattern (24, 16, 3, 9);
  g_autofree guint8 *blocks = block_pattern (noise, 24, 16);
  g_autoptr(GBytes) jpg = bt_test_encode_jpeg (blocks, 24, 16, 3, 100);
  g_autoptr(GBytes) bmp = bt_test_encode_bmp (noise, 24, 16, 3);
  GBytes *all[] = { jpg, bmp };
  const guint8 *pats[] = { blocks, noise };
  const char *fmts[] = { "jpeg", "bmp" };
  for (guint k = 0; k < G_N_ELEMENTS (all); k++)
    {
      const guint8 *pat = pats[k];
      gsize len;
      const guint8 *d = g_bytes_get_data (all[k], &len);
      int w = 0, h = 0;
      const char *fmt = NULL;
      g_assert_true (bt_image_probe_bytes (d, len, &w, &h, &fmt, NULL, NULL));
      g_assert_cmpint (w, ==, 24);
      g_assert_cmpint (h, ==, 16);
      g_assert_cmpstr (fmt, ==, fmts[k]);
      g_autoptr(BtImage) img = bt_image_decode_bytes (d, len, 3, NULL, NULL);
      g_assert_nonnull (img);
      int worst = 0;
      for (int i = 0; i < 24 * 16 * 3; i++)
        worst = MAX (worst, abs ((int) img->pixels[i] - pat[i]));
      g_test_message ("%s largest error %d", fmts[k], worst);
      g_assert_cmpint (worst, <=, k == 0 ? 2 : 0);
    }
}

/* ---- Resize against naive references ---- */

static double
src_at (const BtImage *s, int x, int y, int c)
{
  return s->pixels[((gsize) y * s->width + x) * s->channels + c];
}

/* Area average over the exact footprint when shrinking, bilinear with half-pixel centres when
 * growing, computed per output pixel in double without any tables. */
static double
naive_axis_weight (int src_len, int dst_len, int i, int j)
{
  if (dst_len < src_len)
    {
      double s = (double) src_len / dst_len, lo = i * s, hi = (i + 1) * s;
      double ov = MIN (hi, j + 1.0) - MAX (lo, (double) j);
      return ov > 0 ? ov / s : 0.0;
    }
  double x = (i + 0.5) * src_len / dst_len - 0.5;
  x = CLAMP (x, 0.0, src_len - 1.0);
  double w = 1.0 - fabs (x - j);
  return w > 0 ? w : 0.0;
}

static void
check_resize_against_naive (int sw, int sh, int dw, int dh, int c)
{
  g_autofree guint8 *pat = bt_test_pattern (sw, sh, c, sw * 31 + dh);
  BtImage src = { sw, sh, c, pat };
  g_autoptr(BtImage) out = bt_image_resize (&src, dw, dh, BT_DS_RESIZE_SQUASH);
  g_assert_nonnull (out);
  g_assert_cmpint (out->width, ==, dw);
  g_assert_cmpint (out->height, ==, dh);
  int worst = 0;
  for (int y = 0; y < dh; y++)
    for (int x = 0; x < dw; x++)
      for (int ch = 0; ch < c; ch++)
        {
          double acc = 0;
          for (int j = 0; j < sh; j++)
            {
              double wy = naive_axis_weight (sh, dh, y, j);
              if (wy == 0)
                continue;
              for (int i = 0; i < sw; i++)
                {
                  double wx = naive_axis_weight (sw, dw, x, i);
                  if (wx != 0)
                    acc += wx * wy * src_at (&src, i, j, ch);
                }
            }
          int want = (int) floor (acc + 0.5);
          int got = out->pixels[((gsize) y * dw + x) * c + ch];
          worst = MAX (worst, abs (want - got));
        }
  if (worst > 1)
    g_error ("resize %dx%d → %dx%d: differs from the naive reference by %d", sw, sh, dw, dh, worst);
}

static void
test_resize_naive (void)
{
  static const int cases[][5] = {
    { 8, 8, 4, 4, 1 }, { 28, 28, 28, 28, 1 }, { 30, 20, 7, 9, 3 }, { 5, 4, 13, 11, 3 },
    { 64, 48, 20, 20, 3 }, { 10, 40, 25, 8, 1 }, { 3, 3, 1, 1, 3 }, { 1, 1, 5, 3, 1 },
    { 97, 61, 32, 32, 3 },
  };
  for (guint k = 0; k < G_N_ELEMENTS (cases); k++)
    check_resize_against_naive (cases[k][0], cases[k][1], cases[k][2], cases[k][3], cases[k][4]);
}

static void
test_resize_modes (void)
{
  /* 40×20 image: left half 0, right half 200. */
  g_autoptr(BtImage) src = bt_image_new (40, 20, 1);
  for (int y = 0; y < 20; y++)
    for (int x = 20; x < 40; x++)
      src->pixels[y * 40 + x] = 200;
  src->pixels[0] = 0;
  /* pad to 10×10: content 10×5 centred vertically (rows 2..6), black borders. */
  g_autoptr(BtImage) src2 = bt_image_new (40, 20, 1);
  memset (src2->pixels, 100, 40 * 20);
  g_autoptr(BtImage) pad = bt_image_resize (src2, 10, 10, BT_DS_RESIZE_PAD);
  for (int y = 0; y < 10; y++)
    for (int x = 0; x < 10; x++)
      g_assert_cmpint (pad->pixels[y * 10 + x], ==, (y >= 2 && y < 7) ? 100 : 0);
  /* center-crop to 10×10 keeps the middle 20×20: 10 columns of 0 then 10 of 200 → 5 + 5. */
  g_autoptr(BtImage) crop = bt_image_resize (src, 10, 10, BT_DS_RESIZE_CENTER_CROP);
  for (int y = 0; y < 10; y++)
    for (int x = 0; x < 10; x++)
      g_assert_cmpint (crop->pixels[y * 10 + x], ==, x < 5 ? 0 : 200);
  /* squash keeps both halves whole. */
  g_autoptr(BtImage) sq = bt_image_resize (src, 4, 2, BT_DS_RESIZE_SQUASH);
  g_assert_cmpint (sq->pixels[0], ==, 0);
  g_assert_cmpint (sq->pixels[1], ==, 0);
  g_assert_cmpint (sq->pixels[2], ==, 200);
  g_assert_cmpint (sq->pixels[3], ==, 200);
}

static void
test_chw (void)
{
  guint8 hwc[2 * 1 * 3] = { 10, 20, 30, 40, 50, 60 };
  float mean[3] = { 0.5f, 0.f, 0.f }, std[3] = { 0.5f, 1.f, 2.f };
  float out[6];
  bt_image_to_chw_float (hwc, 2, 1, 3, 1.f / 255.f, mean, std, out);
  g_assert_cmpfloat_with_epsilon (out[0], (10 / 255.f - 0.5f) / 0.5f, 1e-6);
  g_assert_cmpfloat_with_epsilon (out[1], (40 / 255.f - 0.5f) / 0.5f, 1e-6);
  g_assert_cmpfloat_with_epsilon (out[2], 20 / 255.f, 1e-6);
  g_assert_cmpfloat_with_epsilon (out[5], 60 / 255.f / 2.f, 1e-6);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/dataset/decode/hostile-bytes", test_hostile_bytes);
  g_test_add_func ("/dataset/decode/exact-png", test_decode_exact);
  g_test_add_func ("/dataset/decode/formats", test_decode_formats);
  g_test_add_func ("/dataset/resize/naive-reference", test_resize_naive);
  g_test_add_func ("/dataset/resize/modes", test_resize_modes);
  g_test_add_func ("/dataset/resize/chw", test_chw);
  return g_test_run ();
}
