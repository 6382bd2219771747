/* bt-test-photos.c: see bt-test-photos.h. */
#include "bt-test-photos.h"

#include "engine/bt-engine.h"

#include <string.h>

char *
bt_test_shared_file (const char *sub, const char *file)
{
  const char *shared = g_getenv ("BOTTEGA_SHARED_DIR");
  if (shared == NULL)
    return NULL;
  char *p = g_build_filename (shared, sub, file, NULL);
  if (!g_file_test (p, G_FILE_TEST_IS_REGULAR))
    g_clear_pointer (&p, g_free);
  return p;
}

void
bt_test_write_bmp (const char *path, const BtImage *img)
{
  int row = (img->width * 3 + 3) & ~3;
  gsize size = 54 + (gsize) row * img->height;
  g_autofree guint8 *d = g_malloc0 (size);
  const guint32 fields[][2] = { { 2, (guint32) size }, { 10, 54 }, { 14, 40 }, { 18, (guint32) img->width },
                                { 22, (guint32) img->height } };
  d[0] = 'B';
  d[1] = 'M';
  for (guint i = 0; i < G_N_ELEMENTS (fields); i++)
    {
      guint32 v = GUINT32_TO_LE (fields[i][1]);
      memcpy (d + fields[i][0], &v, 4);
    }
  d[26] = 1;   /* planes */
  d[28] = 24;  /* bits per pixel; rows bottom-up, BGR */
  for (int y = 0; y < img->height; y++)
    for (int x = 0; x < img->width; x++)
      {
        const guint8 *p = img->pixels + ((gsize) y * img->width + x) * 3;
        guint8 *q = d + 54 + (gsize) (img->height - 1 - y) * row + 3 * x;
        q[0] = p[2];
        q[1] = p[1];
        q[2] = p[0];
      }
  g_assert_true (g_file_set_contents (path, (const char *) d, (gssize) size, NULL));
}

void
bt_test_write_scaled_crops (const BtImage *src, const char *dir, guint n, int percent, int width, const char *name_format,
                     BtRng *rng)
{
  for (guint i = 0; i < n; i++)
    {
      int w = src->width * percent / 100, h = src->height * percent / 100;
      int x0 = (int) bt_rng_below (rng, (guint32) (src->width - w + 1));
      int y0 = (int) bt_rng_below (rng, (guint32) (src->height - h + 1));
      BtImage crop = { w, h, 3, g_malloc ((gsize) w * h * 3) };
      g_autoptr(BtImage) small = NULL;
      g_autofree char *file = g_strdup_printf (name_format, i);
      g_autofree char *path = g_build_filename (dir, file, NULL);
      for (int y = 0; y < h; y++)
        memcpy (crop.pixels + (gsize) y * w * 3, src->pixels + ((gsize) (y0 + y) * src->width + x0) * 3, (gsize) w * 3);
      small = bt_image_resize (&crop, width, width * h / w, BT_DS_RESIZE_SQUASH);
      bt_test_write_bmp (path, small);
      g_free (crop.pixels);
    }
}

gboolean
bt_test_make_class_crops (const char *dir, const char *const (*classes)[2], guint n_classes, guint per_class,
                          guint64 seed)
{
  BtRng rng;

  bt_rng_seed (&rng, seed);
  for (guint c = 0; c < n_classes; c++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *src_path = bt_test_shared_file ("images", classes[c][1]);
      g_autofree char *class_dir = g_build_filename (dir, classes[c][0], NULL);
      g_autoptr(BtImage) src = NULL;
      if (src_path == NULL)
        {
          g_test_skip ("shared photos not found: set BOTTEGA_SHARED_DIR to the folder holding images/");
          return FALSE;
        }
      src = bt_image_decode_file (src_path, 3, NULL, NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpint (g_mkdir_with_parents (class_dir, 0755), ==, 0);
      bt_test_write_scaled_crops (src, class_dir, per_class, 75, 100, "%u.bmp", &rng);
    }
  return TRUE;
}
