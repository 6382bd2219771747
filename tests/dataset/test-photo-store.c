/* test-photo-store.c: photos that arrive as bytes or pixels (bt-photo-store.c): kept under
 * images/<class>/ with the suffix of their format, never over a file, refused when they do not
 * decode; camera pixels become a JPEG whose pixels come back within JPEG's error. */
#include "config.h"

#include <glib/gstdio.h>
#include <string.h>

#include "dataset/bt-dataset.h"
#include "bt-test-fs.h"

static char *tmp;

/* A 64×48 RGB gradient with a red square in the top-left quadrant. */
static guint8 *
make_rgb (int w, int h)
{
  guint8 *px = g_malloc ((gsize) w * h * 3);

  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        guint8 *p = px + ((gsize) y * w + x) * 3;
        gboolean red = x < w / 4 && y < h / 4;
        p[0] = red ? 230 : (guint8) (x * 255 / w);
        p[1] = red ? 20 : (guint8) (y * 255 / h);
        p[2] = red ? 20 : 128;
      }
  return px;
}

static void
test_rgb_to_jpeg (void)
{
  const int w = 64, h = 48;
  g_autofree guint8 *px = make_rgb (w, h);
  g_autoptr(GError) error = NULL;
  guint64 hash = 0, hash2 = 0;
  g_autofree char *path = bt_photo_store_rgb (tmp, "cats/and dogs", "camera-1", px, w, h, w * 3, &hash, &error);
  g_autofree char *path2 = NULL;
  g_autofree char *expected = g_build_filename (tmp, "images", "cats_and dogs", "camera-1.jpg", NULL);
  g_autoptr(BtImage) back = NULL;
  BtDecodeInfo info = { 0 };
  guint64 total = 0;

  g_assert_no_error (error);
  g_assert_cmpstr (path, ==, expected);
  g_assert_cmpuint (hash, !=, 0);
  back = bt_image_decode_file_sized (path, 3, 0, 0, &info, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (info.format, ==, "jpeg");
  g_assert_cmpint (back->width, ==, w);
  g_assert_cmpint (back->height, ==, h);
  for (gsize i = 0; i < (gsize) w * h * 3; i++)
    total += ABS ((int) back->pixels[i] - (int) px[i]);
  /* quality 92 with 4:2:0 chroma: large errors only along the red square's edge */
  g_assert_cmpfloat ((double) total / (w * h * 3), <=, 3.0);
  /* the red marker is where it was */
  g_assert_cmpint (back->pixels[(5 * w + 5) * 3 + 0], >, 200);
  g_assert_cmpint (back->pixels[(5 * w + 5) * 3 + 1], <, 50);

  /* the same stem again: a second file beside it, the first untouched */
  path2 = bt_photo_store_rgb (tmp, "cats/and dogs", "camera-1", px, w, h, w * 3, &hash2, &error);
  g_assert_no_error (error);
  g_assert_true (g_str_has_suffix (path2, "camera-1-2.jpg"));
  g_assert_cmpuint (hash2, ==, hash);
  g_assert_true (g_file_test (path, G_FILE_TEST_IS_REGULAR));
}

static void
test_bytes_kept_as_they_are (void)
{
  const int w = 32, h = 24;
  g_autofree guint8 *px = make_rgb (w, h);
  gsize len = 0;
  g_autofree guint8 *jpeg = bt_photo_encode_jpeg (px, w, h, w * 3, 90, &len);
  g_autoptr(GError) error = NULL;
  g_autofree char *path = NULL;
  g_autofree char *kept = NULL;
  gsize kept_len = 0;

  g_assert_nonnull (jpeg);
  path = bt_photo_store_bytes (tmp, "web", "pasted", jpeg, len, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_str_has_suffix (path, G_DIR_SEPARATOR_S "web" G_DIR_SEPARATOR_S "pasted.jpg"));
  g_assert_true (g_file_get_contents (path, &kept, &kept_len, NULL));
  g_assert_cmpmem (kept, kept_len, jpeg, len);
}

static void
test_bad_bytes_refused (void)
{
  const int w = 32, h = 24;
  g_autofree guint8 *px = make_rgb (w, h);
  gsize len = 0;
  g_autofree guint8 *jpeg = bt_photo_encode_jpeg (px, w, h, w * 3, 90, &len);
  g_autofree char *dir = g_build_filename (tmp, "images", "refused", NULL);
  const char *html = "<html><body>not an image</body></html>";
  g_autoptr(GError) error = NULL;
  char *path;

  /* a JPEG cut in half: corrupt, and nothing written */
  path = bt_photo_store_bytes (tmp, "refused", "half", jpeg, len / 2, NULL, &error);
  g_assert_null (path);
  g_assert_nonnull (error);
  g_clear_error (&error);
  /* a web page */
  path = bt_photo_store_bytes (tmp, "refused", "page", (const guint8 *) html, strlen (html), NULL, &error);
  g_assert_null (path);
  g_assert_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_UNSUPPORTED);
  g_assert_false (g_file_test (dir, G_FILE_TEST_EXISTS));
}

int
main (int argc, char **argv)
{
  int ret;

  g_test_init (&argc, &argv, NULL);
  tmp = g_dir_make_tmp ("bt-test-photo-store-XXXXXX", NULL);
  g_test_add_func ("/photo-store/rgb-to-jpeg", test_rgb_to_jpeg);
  g_test_add_func ("/photo-store/bytes-kept", test_bytes_kept_as_they_are);
  g_test_add_func ("/photo-store/bad-bytes-refused", test_bad_bytes_refused);
  ret = g_test_run ();
  bt_test_rm_rf (tmp);
  g_free (tmp);
  return ret;
}
