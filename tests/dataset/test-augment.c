/* test-augment.c: each augmentation of the batcher checked against its definition on a known
 * image, not only "differs from plain": crop is an integer shift of at most a pad of min(w,h)/8
 * with zeros let in, rotation turns about the centre by at most ±15°, colour is one global
 * contrast in [0.8, 1.2] about mid-grey plus one brightness in ±20% of the range. */
#include <math.h>
#include <string.h>
#include <glib/gstdio.h>

#include "dataset/bt-dataset.h"
#include "bt-test-images.h"
#include "bt-test-fs.h"

#define N_COPIES 12
#define N_EPOCHS 4

typedef struct
{
  char     *dir;
  BtCache  *cache;
  BtSplitView view;
  int       w, h;
} Known;

/* N_COPIES files of one grey image, cached at its own size. */
static void
known_init (Known *k, const guint8 *pixels, int w, int h)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GBytes) png = bt_test_encode_png (pixels, w, h, 1);

  k->dir = g_dir_make_tmp ("bt-augment-XXXXXX", &error);
  g_assert_no_error (error);
  for (int i = 0; i < N_COPIES; i++)
    {
      char *p = g_strdup_printf ("%s/k%02d.png", k->dir, i);
      g_assert_true (bt_test_write_file (p, png));
      g_ptr_array_add (paths, p);
    }
  k->cache = bt_cache_build_paths ((const char * const *) paths->pdata, paths->len, w, h, 1,
                                   BT_DS_RESIZE_SQUASH, NULL, 1, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (k->cache);
  k->view.n = N_COPIES;
  k->view.items = g_new (guint, N_COPIES);
  k->view.labels = g_new0 (int, N_COPIES);
  for (guint i = 0; i < N_COPIES; i++)
    k->view.items[i] = i;
  k->w = w;
  k->h = h;
}

static void
known_clear (Known *k)
{
  bt_cache_free (k->cache);
  g_free (k->view.items);
  g_free (k->view.labels);
  bt_test_rm_rf (k->dir);
  g_free (k->dir);
}

/* Every augmented image of N_EPOCHS epochs (raw 0–255 values, one plane each), appended to out. */
static guint
augmented (Known *k, const BtAugment *aug, GArray *out)
{
  g_autoptr(BtBatcher) b = bt_batcher_new (k->cache, &k->view, 4, FALSE, aug, 1.f, NULL, NULL, 42);
  gsize plane = (gsize) k->w * k->h;
  g_autofree float *x = g_new (float, plane * 4);
  guint n = 0;
  int got;

  for (int e = 0; e < N_EPOCHS; e++)
    {
      bt_batcher_start_epoch (b, e);
      while ((got = bt_batcher_next (b, x, NULL, NULL)) > 0)
        {
          g_array_append_vals (out, x, plane * got);
          n += got;
        }
    }
  g_assert_cmpuint (n, ==, N_COPIES * N_EPOCHS);
  return n;
}

static void
test_crop (void)
{
  /* one white pixel at (8, 8) of a black 16×16 image: the output is that pixel moved */
  guint8 img[16 * 16] = { 0 };
  img[8 * 16 + 8] = 255;
  Known k;
  known_init (&k, img, 16, 16);
  BtAugment crop = { FALSE, TRUE, FALSE, FALSE };
  g_autoptr(GArray) out = g_array_new (FALSE, FALSE, sizeof (float));
  guint n = augmented (&k, &crop, out);
  int pad = MAX (1, 16 / 8);
  gboolean seen[5][5] = { { FALSE } };
  guint distinct = 0;

  for (guint s = 0; s < n; s++)
    {
      const float *p = &g_array_index (out, float, s * 256);
      int wx = -1, wy = -1, lit = 0;
      for (int i = 0; i < 256; i++)
        if (p[i] != 0.f)
          {
            g_assert_cmpfloat (p[i], ==, 255.f);   /* a shift copies pixels, never blends */
            wx = i % 16, wy = i / 16;
            lit++;
          }
      g_assert_cmpint (lit, ==, 1);
      g_assert_cmpint (ABS (wx - 8), <=, pad);
      g_assert_cmpint (ABS (wy - 8), <=, pad);
      if (!seen[wy - 8 + pad][wx - 8 + pad])
        distinct++;
      seen[wy - 8 + pad][wx - 8 + pad] = TRUE;
    }
  g_test_message ("crop: %u distinct shifts of %u possible", distinct, (2 * pad + 1) * (2 * pad + 1));
  g_assert_cmpuint (distinct, >=, 5);
  known_clear (&k);
}

static void
test_rotate (void)
{
  /* a 2-pixel horizontal bar through the centre of a black 32×32 image */
  guint8 img[32 * 32] = { 0 };
  for (int x = 0; x < 32; x++)
    img[15 * 32 + x] = img[16 * 32 + x] = 255;
  Known k;
  known_init (&k, img, 32, 32);
  BtAugment rot = { FALSE, FALSE, TRUE, FALSE };
  g_autoptr(GArray) out = g_array_new (FALSE, FALSE, sizeof (float));
  guint n = augmented (&k, &rot, out);
  double max_deg = 0, min_signed = 0, max_signed = 0;

  for (guint s = 0; s < n; s++)
    {
      const float *p = &g_array_index (out, float, s * 1024);
      double m = 0, mx = 0, my = 0, mxx = 0, myy = 0, mxy = 0;
      for (int y = 0; y < 32; y++)
        for (int x = 0; x < 32; x++)
          {
            double v = p[y * 32 + x];
            m += v, mx += v * x, my += v * y;
          }
      mx /= m, my /= m;
      /* it turns about the centre: the bar's centre of mass stays there */
      g_assert_cmpfloat (fabs (mx - 15.5), <, 0.75);
      g_assert_cmpfloat (fabs (my - 15.5), <, 0.75);
      for (int y = 0; y < 32; y++)
        for (int x = 0; x < 32; x++)
          {
            double v = p[y * 32 + x];
            mxx += v * (x - mx) * (x - mx), myy += v * (y - my) * (y - my), mxy += v * (x - mx) * (y - my);
          }
      double deg = 0.5 * atan2 (2 * mxy, mxx - myy) * 180.0 / G_PI;
      g_assert_cmpfloat (fabs (deg), <=, 15.0 + 1.0);   /* ±15°, plus the bar's pixel grid */
      max_deg = MAX (max_deg, fabs (deg));
      min_signed = MIN (min_signed, deg);
      max_signed = MAX (max_signed, deg);
    }
  g_test_message ("rotate: angles from %.1f° to %.1f°", min_signed, max_signed);
  g_assert_cmpfloat (max_deg, >, 5.0);        /* it does turn, both ways */
  g_assert_cmpfloat (min_signed, <, -1.0);
  g_assert_cmpfloat (max_signed, >, 1.0);
  known_clear (&k);
}

static void
test_color (void)
{
  /* left half 100, right half 150 */
  guint8 img[16 * 16];
  for (int i = 0; i < 256; i++)
    img[i] = (i % 16) < 8 ? 100 : 150;
  Known k;
  known_init (&k, img, 16, 16);
  BtAugment col = { FALSE, FALSE, FALSE, TRUE };
  g_autoptr(GArray) out = g_array_new (FALSE, FALSE, sizeof (float));
  guint n = augmented (&k, &col, out);
  double cmin = 10, cmax = 0;

  for (guint s = 0; s < n; s++)
    {
      const float *p = &g_array_index (out, float, s * 256);
      float l = p[0], r = p[15];
      /* one transform for the whole image: every pixel of a level maps to the same value */
      for (int i = 0; i < 256; i++)
        g_assert_cmpfloat (p[i], ==, (i % 16) < 8 ? l : r);
      g_assert_cmpfloat (l, >, 0.f);     /* no clipping at these levels and ranges */
      g_assert_cmpfloat (r, <, 255.f);
      /* out = (v − 127.5)·contrast + 127.5 + brightness, rounded */
      double contrast = (r - l) / 50.0;
      double brightness = l - ((100 - 127.5) * contrast + 127.5);
      g_assert_cmpfloat (contrast, >=, 0.8 - 1.0 / 50);
      g_assert_cmpfloat (contrast, <=, 1.2 + 1.0 / 50);
      g_assert_cmpfloat (fabs (brightness), <=, 0.2 * 255 + 1.5);
      cmin = MIN (cmin, contrast), cmax = MAX (cmax, contrast);
    }
  g_test_message ("colour: contrast from %.3f to %.3f", cmin, cmax);
  g_assert_cmpfloat (cmax - cmin, >, 0.1);
  known_clear (&k);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/augment/crop-is-a-bounded-shift", test_crop);
  g_test_add_func ("/augment/rotation-about-the-centre-within-15-degrees", test_rotate);
  g_test_add_func ("/augment/colour-is-one-contrast-and-brightness", test_color);
  return g_test_run ();
}
