/* test-image-guard.c: the two byte shapes that drove stb_image 2.27 into undefined behaviour
 * (a JPEG Huffman table of more than 256 codes, a PNG whose first IDAT is empty) are refused as
 * damaged by probe and decode, while valid files with the same structure still decode. The
 * sanitizer build (_build-asan) runs this with UBSan fatal, so a miss is a crash, not a pass. */
#include <string.h>

#include "dataset/bt-dataset.h"
#include "dataset/bt-image-guard.h"
#include "bt-test-images.h"

static void
expect_damaged (GBytes *bytes, const char *what)
{
  gsize len = 0;
  const guint8 *d = g_bytes_get_data (bytes, &len);
  BtSkipReason reason = 999;
  g_autoptr(GError) error = NULL;
  g_assert_false (bt_image_probe_bytes (d, len, NULL, NULL, NULL, &reason, &error));
  g_assert_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_CORRUPT);
  g_assert_cmpint (reason, ==, BT_SKIP_CORRUPT);
  g_clear_error (&error);
  g_autoptr(BtImage) img = bt_image_decode_bytes (d, len, 3, &reason, &error);
  g_assert_null (img);
  g_assert_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_CORRUPT);
  g_test_message ("%s → %s", what, error->message);
}

/* Offset of the first marker m in a JPEG's header segments, or 0. */
static gsize
find_marker (const guint8 *d, gsize len, guint8 m)
{
  for (gsize i = 2; i + 4 <= len && d[i] == 0xff; i += 2 + (((gsize) d[i + 2] << 8) | d[i + 3]))
    if (d[i + 1] == m)
      return i;
  return 0;
}

static void
test_jpeg_huffman_over_256 (void)
{
  g_autofree guint8 *pat = bt_test_pattern (24, 16, 3, 2);
  g_autoptr(GBytes) jpg = bt_test_encode_jpeg (pat, 24, 16, 3, 90);
  gsize len = 0;
  const guint8 *orig = g_bytes_get_data (jpg, &len);
  g_assert_true (bt_image_guard_jpeg (orig, len));
  g_autoptr(BtImage) ok = bt_image_decode_bytes (orig, len, 3, NULL, NULL);
  g_assert_nonnull (ok);

  gsize dht = find_marker (orig, len, 0xc4);
  g_assert_cmpuint (dht, >, 0);
  g_autofree guint8 *bad = g_memdup2 (orig, len);
  /* counts of the first table: 16 × 255 codes, so stb would write 4080 code sizes into 257 */
  memset (bad + dht + 5, 0xff, 16);
  g_assert_false (bt_image_guard_jpeg (bad, len));
  g_autoptr(GBytes) b = g_bytes_new (bad, len);
  expect_damaged (b, "jpeg with a 4080-code Huffman table");

  /* the same after 0xFF fill bytes before SOI, which stb skips (found by fuzz-decode) */
  {
    g_autofree guint8 *filled = g_malloc (len + 5);
    memset (filled, 0xff, 5);
    memcpy (filled + 5, bad, len);
    memset (filled + 5 + dht + 5, 0xff, 16);
    g_autoptr(GBytes) fb = g_bytes_new (filled, len + 5);
    expect_damaged (fb, "jpeg after fill bytes, with a 4080-code Huffman table");
  }

  /* a lone table of exactly 256 codes is the legal maximum and passes; 257 does not */
  gsize seg = 2 + 17 + 256;
  g_autofree guint8 *one = g_malloc0 (2 + 2 + seg + 2);
  one[0] = 0xff, one[1] = 0xd8, one[2] = 0xff, one[3] = 0xc4;
  one[4] = seg >> 8, one[5] = seg & 0xff;
  one[6] = 0x10;                /* AC table 0 */
  one[7 + 15] = 255;
  one[7 + 14] = 1;
  one[2 + 2 + seg] = 0xff, one[2 + 2 + seg + 1] = 0xd9;
  g_assert_true (bt_image_guard_jpeg (one, 2 + 2 + seg + 2));
  one[7 + 13] = 1;
  g_assert_false (bt_image_guard_jpeg (one, 2 + 2 + seg + 2));
}

static void
test_png_empty_first_idat (void)
{
  g_autofree guint8 *pat = bt_test_pattern (20, 10, 3, 3);
  g_autoptr(GBytes) png = bt_test_encode_png (pat, 20, 10, 3);
  gsize len = 0;
  const guint8 *orig = g_bytes_get_data (png, &len);
  g_assert_true (bt_image_guard_png (orig, len));

  /* insert an empty IDAT (length 0, type, CRC of "IDAT") right after IHDR (8 + 25 bytes) */
  static const guint8 empty_idat[12] = { 0, 0, 0, 0, 'I', 'D', 'A', 'T', 0x35, 0xaf, 0x06, 0x1e };
  gsize at = 8 + 25;
  g_assert_cmpmem (orig + at - 21, 4, "IHDR", 4);
  g_autofree guint8 *bad = g_malloc (len + 12);
  memcpy (bad, orig, at);
  memcpy (bad + at, empty_idat, 12);
  memcpy (bad + at + 12, orig + at, len - at);
  g_assert_false (bt_image_guard_png (bad, len + 12));
  g_autoptr(GBytes) b = g_bytes_new (bad, len + 12);
  expect_damaged (b, "png whose first IDAT is empty");

  /* an empty IDAT after data is harmless (stb appends nothing to live data): still decodes */
  g_autoptr(BtImage) ok = bt_image_decode_bytes (orig, len, 3, NULL, NULL);
  g_assert_nonnull (ok);
  g_assert_cmpint (ok->width, ==, 20);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/image-guard/jpeg-huffman-over-256", test_jpeg_huffman_over_256);
  g_test_add_func ("/image-guard/png-empty-first-idat", test_png_empty_first_idat);
  return g_test_run ();
}
