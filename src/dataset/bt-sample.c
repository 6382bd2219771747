/* bt-sample.c: the built-in "Shapes" sample: circles, squares, triangles and stars at random
 * sizes, positions, rotations and colours over noisy backgrounds, drawn with Cairo. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <cairo.h>
#include <glib/gi18n-lib.h>

#include "dataset/bt-dataset-private.h"

static const char * const shape_names[] = { "circle", "square", "triangle", "star" };

/* Each channel uniform in [lo, lo + span). */
static void
random_colour (BtRng *rng, double lo, double span, double rgb[3])
{
  for (int i = 0; i < 3; i++)
    rgb[i] = lo + span * bt_rng_uniform (rng);
}

static double
luma (const double rgb[3])
{
  return 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2];
}

static void
polygon (cairo_t *cr, int n, double r_outer, double r_inner)
{
  int pts = r_inner > 0 ? 2 * n : n;
  for (int i = 0; i < pts; i++)
    {
      double r = (r_inner > 0 && (i & 1)) ? r_inner : r_outer;
      double a = -G_PI / 2 + 2 * G_PI * i / pts;
      if (i == 0)
        cairo_move_to (cr, r * cos (a), r * sin (a));
      else
        cairo_line_to (cr, r * cos (a), r * sin (a));
    }
  cairo_close_path (cr);
}

static cairo_status_t
append_png (void *closure, const unsigned char *data, unsigned int length)
{
  g_byte_array_append (closure, data, length);
  return CAIRO_STATUS_SUCCESS;
}

/* Draws one sample; returns PNG bytes. */
static GBytes *
draw_shape (int shape, int size, BtRng *rng)
{
  cairo_surface_t *s = cairo_image_surface_create (CAIRO_FORMAT_RGB24, size, size);
  /* Light noisy background, darker saturated shape: colours vary, the polarity does not, so
   * a small CNN learns the outlines within a few epochs. */
  double bg[3], fg[3];
  random_colour (rng, 0.55, 0.45, bg);
  for (int tries = 0;; tries++)
    {
      random_colour (rng, 0.0, 0.6, fg);
      if (luma (bg) - luma (fg) >= 0.3 || tries == 50)
        break;
    }

  /* Noisy background: base colour ± noise per pixel, plus a faint gradient. */
  cairo_surface_flush (s);
  guint8 *px = cairo_image_surface_get_data (s);
  int stride = cairo_image_surface_get_stride (s);
  double gx = (bt_rng_uniform (rng) - 0.5) * 0.2, gy = (bt_rng_uniform (rng) - 0.5) * 0.2;
  for (int y = 0; y < size; y++)
    for (int x = 0; x < size; x++)
      {
        guint32 v = 0;
        for (int ch = 0; ch < 3; ch++)
          {
            double c = bg[ch] + gx * (x - size / 2.0) / size + gy * (y - size / 2.0) / size +
                       (bt_rng_uniform (rng) - 0.5) * 0.10;
            int iv = (int) lrint (CLAMP (c, 0.0, 1.0) * 255.0);
            v |= (guint32) iv << (16 - 8 * ch);
          }
        memcpy (px + (gsize) y * stride + x * 4, &v, 4);
      }
  cairo_surface_mark_dirty (s);

  cairo_t *cr = cairo_create (s);
  /* Positions jitter around the centre (at most 12 % of the side, always fully inside): the
   * Small CNN preset has no global pooling, so shapes anywhere would need far more data. */
  double r = size * (0.25 + 0.13 * bt_rng_uniform (rng));
  double jitter = MIN (size * 0.12, size / 2.0 - r - 1.0);
  double cx = size / 2.0 + (2 * bt_rng_uniform (rng) - 1) * jitter;
  double cy = size / 2.0 + (2 * bt_rng_uniform (rng) - 1) * jitter;
  cairo_translate (cr, cx, cy);
  cairo_rotate (cr, 2 * G_PI * bt_rng_uniform (rng));
  switch (shape)
    {
    case 0: cairo_arc (cr, 0, 0, r * 0.85, 0, 2 * G_PI); break;
    case 1: polygon (cr, 4, r, 0); break;
    case 2: polygon (cr, 3, r, 0); break;
    default: polygon (cr, 5, r, r * 0.42); break;
    }
  cairo_set_source_rgb (cr, fg[0], fg[1], fg[2]);
  cairo_fill (cr);
  cairo_destroy (cr);

  GByteArray *png = g_byte_array_new ();
  cairo_surface_write_to_png_stream (s, append_png, png);
  cairo_surface_destroy (s);
  return g_byte_array_free_to_bytes (png);
}

BtProject *
bt_sample_create_shapes (const char *dir, guint n_per_class, int size, guint64 seed,
                         GCancellable *cancellable, GError **error)
{
  g_return_val_if_fail (dir != NULL, NULL);
  if (n_per_class < 1 || n_per_class > 100000 || size < 16 || size > 1024)
    {
      g_set_error_literal (error, BT_DATASET_ERROR, BT_DATASET_ERROR_INVALID,
                           _("The sample needs 1 to 100000 images per class of 16 to 1024 pixels"));
      return NULL;
    }
  g_autoptr(BtProject) project = bt_project_create (dir, _("Shapes"), error);
  if (project == NULL)
    return NULL;
  BtRng rng = { bt_mix64 (seed) };
  for (guint k = 0; k < G_N_ELEMENTS (shape_names); k++)
    {
      g_autofree char *cdir = g_build_filename (bt_project_get_dir (project), "images", shape_names[k], NULL);
      if (g_mkdir_with_parents (cdir, 0755) != 0)
        {
          g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_IO,
                       _("Could not create the folder for the sample images: %s"), g_strerror (errno));
          return NULL;
        }
      g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func (g_free);
      g_autofree guint64 *hashes = g_new (guint64, n_per_class);
      for (guint i = 0; i < n_per_class; i++)
        {
          if (g_cancellable_set_error_if_cancelled (cancellable, error))
            return NULL;
          g_autoptr(GBytes) png = draw_shape ((int) k, size, &rng);
          gsize len = 0;
          const guint8 *data = g_bytes_get_data (png, &len);
          g_autofree char *name = g_strdup_printf ("%s-%04u.png", shape_names[k], i);
          g_autofree char *path = g_build_filename (cdir, name, NULL);
          g_autoptr(GError) local = NULL;
          if (!g_file_set_contents (path, (const char *) data, (gssize) len, &local))
            {
              g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_IO,
                           _("Could not write the sample images: %s"), local->message);
              return NULL;
            }
          hashes[i] = bt_hash_bytes (data, len);
          g_ptr_array_add (paths, g_steal_pointer (&path));
        }
      g_ptr_array_add (paths, NULL);
      if (!bt_project_add_items (project, shape_names[k], (const char * const *) paths->pdata, hashes, error))
        return NULL;
    }
  BtProjectSettings s;
  bt_project_settings_copy (&s, bt_project_get_settings (project));
  s.width = s.height = size;
  s.channels = 3;
  s.epochs = 20;
  gboolean ok = bt_project_update_settings (project, &s, error) && bt_project_flush (project, error);
  bt_project_settings_clear (&s);
  if (!ok)
    return NULL;
  return g_steal_pointer (&project);
}

BtProject *
bt_sample_create_default (const char *dir, GCancellable *cancellable, GError **error)
{
  g_return_val_if_fail (dir != NULL, NULL);
  g_autoptr(BtProject) project = bt_sample_create_shapes (dir, BT_SAMPLE_PER_CLASS, BT_SAMPLE_SIZE,
                                                          BT_SAMPLE_SEED, cancellable, error);
  if (project == NULL)
    return NULL;
  BtProjectSettings s;
  bt_project_settings_copy (&s, bt_project_get_settings (project));
  s.width = s.height = 32;
  s.channels = 1;
  s.epochs = 20;
  gboolean ok = bt_project_update_settings (project, &s, error) && bt_project_flush (project, error);
  bt_project_settings_clear (&s);
  if (!ok)
    return NULL;
  return g_steal_pointer (&project);
}
