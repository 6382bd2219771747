/* test-decode-photos.c: photos made by independent encoders (make-photo-fixtures.py: Pillow,
 * ImageMagick, heif-enc, cwebp, tiffcp) decode to their intended pixels: every EXIF orientation,
 * HEIC, AVIF, WebP, TIFF, CMYK, 16 bits, palette + alpha, Display P3. Truncated copies are
 * refused as corrupt, over-budget headers as too large, and a DCT-scaled decode matches the
 * full one. */
#include <math.h>
#include <string.h>
#include <glib/gstdio.h>

#include "dataset/bt-dataset.h"
#include "bt-test-fs.h"

static char *fixture_dir;
static GPtrArray *fixtures;  /* of GStrv: name file ref w h max mean marker */

static void
make_fixtures (void)
{
  const char *src = g_getenv ("BOTTEGA_SOURCE_ROOT");
  g_assert_nonnull (src);
  g_autofree char *script = g_build_filename (src, "tests", "dataset", "make-photo-fixtures.py", NULL);
  fixture_dir = g_dir_make_tmp ("bt-photos-XXXXXX", NULL);
  g_assert_nonnull (fixture_dir);
  const char *argv[] = { "/usr/bin/python3", script, fixture_dir, NULL };
  g_autofree char *err = NULL;
  int status = 0;
  g_autoptr(GError) error = NULL;
  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, NULL, &err,
                               &status, &error));
  g_assert_no_error (error);
  if (!g_spawn_check_wait_status (status, NULL))
    g_error ("make-photo-fixtures.py failed: %s", err);
  g_autofree char *manifest = g_build_filename (fixture_dir, "manifest.tsv", NULL);
  g_autofree char *text = NULL;
  g_assert_true (g_file_get_contents (manifest, &text, NULL, NULL));
  fixtures = g_ptr_array_new_with_free_func ((GDestroyNotify) g_strfreev);
  g_auto(GStrv) lines = g_strsplit (text, "\n", -1);
  for (char **l = lines; *l; l++)
    {
      if (**l == '\0')
        continue;
      char **f = g_strsplit (*l, "\t", -1);
      if (g_str_equal (f[0], "skip"))
        {
          g_test_message ("fixture %s not made: %s", f[1], f[2]);
          g_strfreev (f);
          continue;
        }
      g_assert_cmpuint (g_strv_length (f), ==, 8);
      g_ptr_array_add (fixtures, f);
    }
  g_assert_cmpuint (fixtures->len, >=, 30);
}

static GBytes *
read_bytes (const char *path)
{
  char *d = NULL;
  gsize n = 0;
  g_assert_true (g_file_get_contents (path, &d, &n, NULL));
  return g_bytes_new_take (d, n);
}

static gboolean
find_fixture (const char *name, char ***out)
{
  for (guint i = 0; i < fixtures->len; i++)
    {
      char **f = fixtures->pdata[i];
      if (g_str_equal (f[0], name))
        {
          *out = f;
          return TRUE;
        }
    }
  return FALSE;
}

static void
test_pixels (void)
{
  const char *must[] = { "jpeg-orientation-1", "jpeg-orientation-6", "heic", "webp-lossy", "webp-lossless",
                         "webp-alpha", "webp-animated-first-frame", "tiff-16bit", "tiff-cmyk", "jpeg-cmyk",
                         "png-16bit", "png-palette-alpha", "png-display-p3", "gif", "tga" };
  for (guint k = 0; k < G_N_ELEMENTS (must); k++)
    {
      char **f;
      if (!find_fixture (must[k], &f))
        g_error ("fixture %s missing", must[k]);
    }
  guint failures = 0;
  for (guint i = 0; i < fixtures->len; i++)
    {
      char **f = fixtures->pdata[i];
      int w = atoi (f[3]), h = atoi (f[4]), max_tol = atoi (f[5]);
      double mean_tol = g_ascii_strtod (f[6], NULL);
      g_autoptr(GBytes) file = read_bytes (f[1]);
      g_autoptr(GBytes) ref = read_bytes (f[2]);
      g_assert_cmpuint (g_bytes_get_size (ref), ==, (gsize) w * h * 3);
      gsize len;
      const guint8 *d = g_bytes_get_data (file, &len);
      const guint8 *r = g_bytes_get_data (ref, NULL);
      BtDecodeInfo info = { 0 };
      g_autoptr(GError) error = NULL;
      g_autoptr(BtImage) img = bt_image_decode (d, len, 3, 0, 0, &info, NULL, &error);
      if (img == NULL)
        g_error ("%s: %s", f[0], error->message);
      g_assert_cmpint (img->width, ==, w);
      g_assert_cmpint (img->height, ==, h);
      g_assert_cmpint (info.width, ==, w);
      g_assert_cmpint (info.height, ==, h);
      int worst = 0;
      double sum = 0;
      for (gsize j = 0; j < (gsize) w * h * 3; j++)
        {
          int e = abs ((int) img->pixels[j] - r[j]);
          worst = MAX (worst, e);
          sum += e;
        }
      double mean = sum / ((double) w * h * 3);
      g_test_message ("%-28s %-5s o=%d flags=%u  max %3d (≤ %3d)  mean %.2f (≤ %.2f)", f[0], info.format,
                      info.orientation, info.flags, worst, max_tol, mean, mean_tol);
      if (worst > max_tol || mean > mean_tol)
        {
          g_test_message ("%s: pixels differ from the reference: max %d, mean %.2f", f[0], worst, mean);
          failures++;
          continue;
        }
      if (atoi (f[7]))
        {
          /* the red marker (6..22, 6..22) is in the top-left quadrant, upright */
          double rs = 0, gs = 0, bs = 0;
          for (int y = 9; y < 19; y++)
            for (int x = 9; x < 19; x++)
              {
                const guint8 *px = img->pixels + ((gsize) y * w + x) * 3;
                rs += px[0]; gs += px[1]; bs += px[2];
              }
          g_assert_cmpfloat (rs / 100, >, 180);
          g_assert_cmpfloat (gs / 100, <, 60);
          g_assert_cmpfloat (bs / 100, <, 60);
        }
      if (g_str_has_prefix (f[0], "jpeg-orientation-"))
        {
          int o = atoi (f[0] + strlen ("jpeg-orientation-"));
          g_assert_cmpint (info.orientation, ==, o);
          g_assert_cmpint (!!(info.flags & BT_DECODE_ROTATED), ==, o != 1);
        }
      if (strstr (f[0], "p3") || strstr (f[0], "cmyk") || strstr (f[0], "16bit"))
        g_assert_true (info.flags & BT_DECODE_CONVERTED);
      if (g_str_equal (f[0], "png-srgb-copy") || g_str_equal (f[0], "webp-lossless"))
        g_assert_false (info.flags & BT_DECODE_CONVERTED);
      /* the header alone gives the same upright size */
      int pw = 0, ph = 0;
      g_assert_true (bt_image_probe_bytes (d, len, &pw, &ph, NULL, NULL, NULL));
      g_assert_cmpint (pw, ==, w);
      g_assert_cmpint (ph, ==, h);
    }
  g_assert_cmpuint (failures, ==, 0);
}

static void
test_p3_matches_srgb_copy (void)
{
  char **p3 = NULL, **copy = NULL;
  g_assert_true (find_fixture ("png-display-p3", &p3));
  g_assert_true (find_fixture ("png-srgb-copy", &copy));
  g_autoptr(BtImage) a = bt_image_decode_file (p3[1], 3, NULL, NULL, NULL);
  g_autoptr(BtImage) b = bt_image_decode_file (copy[1], 3, NULL, NULL, NULL);
  g_assert_nonnull (a);
  g_assert_nonnull (b);
  /* the same tensor within ±2 per channel after the training resize */
  g_autoptr(BtImage) ta = bt_image_resize (a, 32, 32, BT_DS_RESIZE_SQUASH);
  g_autoptr(BtImage) tb = bt_image_resize (b, 32, 32, BT_DS_RESIZE_SQUASH);
  int worst = 0;
  for (gsize i = 0; i < 32 * 32 * 3; i++)
    worst = MAX (worst, abs ((int) ta->pixels[i] - tb->pixels[i]));
  g_test_message ("P3 vs sRGB copy: max %d", worst);
  g_assert_cmpint (worst, <=, 2);
}

static void
test_truncated (void)
{
  for (guint i = 0; i < fixtures->len; i++)
    {
      char **f = fixtures->pdata[i];
      g_autoptr(GBytes) file = read_bytes (f[1]);
      gsize len;
      const guint8 *d = g_bytes_get_data (file, &len);
      const double cuts[] = { 0.5, 0.8, 0.95 };
      for (guint k = 0; k < G_N_ELEMENTS (cuts); k++)
        {
          gsize n = (gsize) (len * cuts[k]);
          BtSkipReason reason = 999;
          g_autoptr(GError) error = NULL;
          g_autoptr(BtImage) img = bt_image_decode (d, n, 3, 0, 0, NULL, &reason, &error);
          if (img != NULL)
            g_error ("%s cut to %" G_GSIZE_FORMAT " of %" G_GSIZE_FORMAT " bytes decoded", f[0], n, len);
          g_assert_cmpstr (bt_skip_reason_to_string (reason), ==, bt_skip_reason_to_string (BT_SKIP_CORRUPT));
        }
    }
}

static void
test_budget (void)
{
  /* Each format's header is checked before its pixels are allocated: a budget smaller than
   * the fixture refuses it, with its size in the message. */
  bt_image_set_pixel_budget (96 * 64 - 1);
  for (guint i = 0; i < fixtures->len; i++)
    {
      char **f = fixtures->pdata[i];
      g_autoptr(GBytes) file = read_bytes (f[1]);
      gsize len;
      const guint8 *d = g_bytes_get_data (file, &len);
      BtSkipReason reason = 999;
      g_autoptr(GError) error = NULL;
      g_autoptr(BtImage) img = bt_image_decode (d, len, 3, 0, 0, NULL, &reason, &error);
      g_assert_null (img);
      g_assert_cmpstr (bt_skip_reason_to_string (reason), ==, "too large");
      g_assert_nonnull (strstr (error->message, "96 × 64") ? error->message : strstr (error->message, "64 × 96"));
      g_clear_error (&error);
      g_assert_false (bt_image_probe_bytes (d, len, NULL, NULL, NULL, &reason, &error));
      g_assert_cmpstr (bt_skip_reason_to_string (reason), ==, "too large");
    }
  bt_image_set_pixel_budget (0);
  g_assert_cmpuint (bt_image_get_pixel_budget (), ==, BT_PIXEL_BUDGET_DEFAULT);
}

static void
test_scaled_decode (void)
{
  /* A 1600×1200 JPEG and WebP asked for a 200×150 box: the JPEG comes at 1/8 (200×150), the
   * WebP from libwebp's scaler; both, resized to 100×75, match the full decode. */
  g_autofree char *png = g_build_filename (fixture_dir, "big.png", NULL);
  g_autofree char *jpg = g_build_filename (fixture_dir, "big.jpg", NULL);
  g_autofree char *webp = g_build_filename (fixture_dir, "big.webp", NULL);
  const char *mk[] = { "convert", "-size", "1600x1200", "gradient:orange-navy", "-swirl", "180", png, NULL };
  const char *mkj[] = { "convert", png, "-quality", "92", jpg, NULL };
  const char *mkw[] = { "cwebp", "-quiet", "-q", "92", png, "-o", webp, NULL };
  g_autofree char *flat_png = g_build_filename (fixture_dir, "flat.png", NULL);
  g_autofree char *flat = g_build_filename (fixture_dir, "flat.webp", NULL);
  const char *mkf[] = { "convert", "-size", "4000x3000", "xc:#3366cc", "-type", "TrueColor", flat_png, NULL };
  const char *mkfw[] = { "cwebp", "-quiet", "-lossless", flat_png, "-o", flat, NULL };
  const char **cmds[] = { mk, mkj, mkw, mkf, mkfw };
  for (guint i = 0; i < G_N_ELEMENTS (cmds); i++)
    {
      int status = 0;
      g_assert_true (g_spawn_sync (NULL, (char **) cmds[i], NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL |
                                   G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, NULL, NULL, &status, NULL));
      g_assert_true (g_spawn_check_wait_status (status, NULL));
    }
  /* 12 MP of one colour in a few hundred bytes of lossless WebP is a photo, not a bomb */
  {
    BtDecodeInfo info = { 0 };
    g_autoptr(GError) error = NULL;
    g_autoptr(BtImage) img = bt_image_decode_file_sized (flat, 3, 224, 224, &info, NULL, NULL, &error);
    g_assert_no_error (error);
    g_assert_cmpint (info.width, ==, 4000);
    g_assert_cmpint (img->pixels[0], ==, 0x33);
    g_assert_cmpint (img->pixels[1], ==, 0x66);
    g_assert_cmpint (img->pixels[2], ==, 0xcc);
  }
  const char *files[] = { jpg, webp };
  for (guint i = 0; i < G_N_ELEMENTS (files); i++)
    {
      BtDecodeInfo info = { 0 };
      g_autoptr(BtImage) full = bt_image_decode_file (files[i], 3, NULL, NULL, NULL);
      g_autoptr(BtImage) small = bt_image_decode_file_sized (files[i], 3, 200, 150, &info, NULL, NULL, NULL);
      g_assert_nonnull (full);
      g_assert_nonnull (small);
      g_assert_cmpint (info.width, ==, 1600);
      g_assert_cmpint (info.height, ==, 1200);
      g_assert_cmpint (small->width, >=, 200);
      g_assert_cmpint (small->height, >=, 150);
      g_assert_cmpint (small->width, <=, 400);
      if (i == 0)
        g_assert_cmpint (small->width, ==, 200);
      g_autoptr(BtImage) a = bt_image_resize (full, 100, 75, BT_DS_RESIZE_SQUASH);
      g_autoptr(BtImage) b = bt_image_resize (small, 100, 75, BT_DS_RESIZE_SQUASH);
      double sum = 0;
      int worst = 0;
      for (gsize j = 0; j < 100 * 75 * 3; j++)
        {
          int e = abs ((int) a->pixels[j] - b->pixels[j]);
          worst = MAX (worst, e);
          sum += e;
        }
      g_test_message ("%s scaled %d×%d: max %d mean %.2f", files[i], small->width, small->height, worst,
                      sum / (100 * 75 * 3));
      g_assert_cmpfloat (sum / (100 * 75 * 3), <, 1.5);
      g_assert_cmpint (worst, <=, 16);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  make_fixtures ();
  g_test_add_func ("/dataset/photos/pixels", test_pixels);
  g_test_add_func ("/dataset/photos/p3-matches-srgb", test_p3_matches_srgb_copy);
  g_test_add_func ("/dataset/photos/truncated", test_truncated);
  g_test_add_func ("/dataset/photos/budget", test_budget);
  g_test_add_func ("/dataset/photos/scaled", test_scaled_decode);
  int rc = g_test_run ();
  bt_test_rm_rf (fixture_dir);
  g_free (fixture_dir);
  g_ptr_array_unref (fixtures);
  return rc;
}
