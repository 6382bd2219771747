/* bt-test-photos.c: see bt-test-photos.h. */
#include "bt-test-photos.h"

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
