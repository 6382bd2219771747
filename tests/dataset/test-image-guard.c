/* test-image-guard.c: the two byte shapes that drove stb_image 2.27 into undefined behaviour
 * (a JPEG Huffman table of more than 256 codes, now read by libjpeg-turbo; a PNG whose first IDAT
 * is empty, refused by bt-image-guard.c) are refused as damaged by probe and decode, while valid
 * files still decode. The sanitizer build runs this with UBSan fatal: a miss is a crash. */
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
  /* the JPEG that made stb write past its table; libjpeg-turbo reads JPEG now and must refuse it */
  g_autofree guint8 *pat = bt_test_pattern (24, 16, 3, 2);
  g_autoptr(GBytes) jpg = bt_test_encode_jpeg (pat, 24, 16, 3, 90);
  gsize len = 0;
  const guint8 *orig = g_bytes_get_data (jpg, &len);
  g_autoptr(BtImage) ok = bt_image_decode_bytes (orig, len, 3, NULL, NULL);
  g_assert_nonnull (ok);

  gsize dht = find_marker (orig, len, 0xc4);
  g_assert_cmpuint (dht, >, 0);
  g_autofree guint8 *bad = g_memdup2 (orig, len);
  memset (bad + dht + 5, 0xff, 16);   /* 16 × 255 codes in the first table */
  g_autoptr(GBytes) b = g_bytes_new (bad, len);
  expect_damaged (b, "jpeg with a 4080-code Huffman table");
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
