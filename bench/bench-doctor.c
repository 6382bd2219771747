/* bench-doctor.c: the data doctor on Fashion-MNIST (Debian's dataset-fashion-mnist): the first
 * N training images (default 10,000) with 5% of the labels flipped to another class, 50 planted
 * near-duplicates (a 1-pixel shift and a brightness change, put in another split) and 30
 * planted outliers (10 noise, 10 flat, 10 line drawings). Prints precision of the top 500 label
 * issues against the flips, recall within the top 1,000, the suggested class's accuracy on the
 * flips found, near-duplicate recall, outlier recall in the top 100, seconds and peak RSS.
 * The doctor sees a project whose preset is --preset (default mlp) at 28×28 grey.
 * Usage: bench-doctor [--images N] [--preset ID|none] [--epochs N] [--keep DIR] */
#include "config.h"

#include <cairo.h>
#include <gio/gio.h>
#include <math.h>
#include <stdio.h>
#include <sys/resource.h>

#include "doctor/bt-doctor.h"
#include "engine/bt-engine.h"

#define FMNIST "/usr/share/datasets/fashion-mnist/"
static const char *names[11] = { "tshirt", "trouser", "pullover", "dress", "coat",
                                 "sandal", "shirt", "sneaker", "bag", "boot", NULL };

static GBytes *
read_gz (const char *path)
{
  g_autoptr (GFile) f = g_file_new_for_path (path);
  g_autoptr (GError) error = NULL;
  g_autoptr (GInputStream) raw = G_INPUT_STREAM (g_file_read (f, NULL, &error));
  if (raw == NULL)
    {
      fprintf (stderr, "bench-doctor: %s (install dataset-fashion-mnist)\n", error->message);
      exit (77);
    }
  g_autoptr (GZlibDecompressor) z = g_zlib_decompressor_new (G_ZLIB_COMPRESSOR_FORMAT_GZIP);
  g_autoptr (GInputStream) in = g_converter_input_stream_new (raw, G_CONVERTER (z));
  g_autoptr (GOutputStream) out = g_memory_output_stream_new_resizable ();
  if (g_output_stream_splice (out, in, G_OUTPUT_STREAM_SPLICE_CLOSE_TARGET, NULL, &error) < 0)
    {
      fprintf (stderr, "bench-doctor: %s\n", error->message);
      exit (1);
    }
  return g_memory_output_stream_steal_as_bytes (G_MEMORY_OUTPUT_STREAM (out));
}

/* 28×28 grey → PNG; dx, dy shift (edge pixels repeated), brightness added */
static void
write_png (const char *path, const guint8 *px, int dx, int dy, int bright)
{
  cairo_surface_t *s = cairo_image_surface_create (CAIRO_FORMAT_RGB24, 28, 28);
  cairo_surface_flush (s);
  guint8 *d = cairo_image_surface_get_data (s);
  int stride = cairo_image_surface_get_stride (s);
  for (int y = 0; y < 28; y++)
    for (int x = 0; x < 28; x++)
      {
        int sx = CLAMP (x - dx, 0, 27), sy = CLAMP (y - dy, 0, 27);
        int v = CLAMP (px[sy * 28 + sx] + bright, 0, 255);
        guint32 *p = (guint32 *) (d + y * stride + 4 * x);
        *p = ((guint32) v << 16) | ((guint32) v << 8) | (guint32) v;
      }
  cairo_surface_mark_dirty (s);
  cairo_surface_write_to_png (s, path);
  cairo_surface_destroy (s);
}

static void
write_drawing (const char *path, BtRng *rng)
{
  cairo_surface_t *s = cairo_image_surface_create (CAIRO_FORMAT_RGB24, 28, 28);
  cairo_t *cr = cairo_create (s);
  cairo_set_source_rgb (cr, 1, 1, 1);
  cairo_paint (cr);
  cairo_set_source_rgb (cr, 0, 0, 0);
  cairo_set_line_width (cr, 1.5);
  for (int i = 0; i < 4; i++)
    {
      cairo_move_to (cr, 28 * bt_rng_uniform (rng), 28 * bt_rng_uniform (rng));
      cairo_line_to (cr, 28 * bt_rng_uniform (rng), 28 * bt_rng_uniform (rng));
    }
  cairo_stroke (cr);
  cairo_destroy (cr);
  cairo_surface_write_to_png (s, path);
  cairo_surface_destroy (s);
}

static long
peak_rss_kib (void)
{
  struct rusage ru;
  getrusage (RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

int
main (int argc, char **argv)
{
  int n = 10000;
  char *keep = NULL, *preset = NULL;
  int epochs = 0;
  double max_distance = 0;
  GOptionEntry entries[] = {
    { "images", 0, 0, G_OPTION_ARG_INT, &n, "Training images (default 10000)", "N" },
    { "preset", 0, 0, G_OPTION_ARG_STRING, &preset,
      "The project's preset at 28×28 grey (default mlp; none: no project settings, the descriptor)", "ID" },
    { "epochs", 0, 0, G_OPTION_ARG_INT, &epochs, "Epochs of each fold model (default: the doctor's)", "N" },
    { "max-distance", 0, 0, G_OPTION_ARG_DOUBLE, &max_distance, "Near-duplicates' distance (default: the doctor's)", "D" },
    { "keep", 0, 0, G_OPTION_ARG_FILENAME, &keep, "Write the images here and keep them", "DIR" },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new (NULL);
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, NULL) || n < 100 || n > 60000)
    return 2;
  g_autoptr (GBytes) ib = read_gz (FMNIST "train-images-idx3-ubyte.gz");
  g_autoptr (GBytes) lb = read_gz (FMNIST "train-labels-idx1-ubyte.gz");
  const guint8 *images = (const guint8 *) g_bytes_get_data (ib, NULL) + 16;
  const guint8 *labels = (const guint8 *) g_bytes_get_data (lb, NULL) + 8;
  g_autofree char *dir = keep ? g_strdup (keep) : g_dir_make_tmp ("bt-bench-doctor-XXXXXX", NULL);
  g_mkdir_with_parents (dir, 0755);

  BtRng rng;
  bt_rng_seed (&rng, 2026);
  const int n_dup = 50, n_out = 30;
  int total = n + n_dup + n_out;
  g_autofree int *given = g_new (int, total);
  g_autofree int *truth = g_new (int, total);
  g_autofree BtSplit *split = g_new (BtSplit, total);
  g_autofree int *dup_of = g_new (int, total);
  g_autofree gboolean *outlier = g_new0 (gboolean, total);
  g_autoptr (GPtrArray) paths = g_ptr_array_new_with_free_func (g_free);
  for (int i = 0; i < n; i++)
    {
      truth[i] = given[i] = labels[i];
      float u = bt_rng_uniform (&rng);
      split[i] = u < 0.8f ? BT_SPLIT_TRAIN : u < 0.9f ? BT_SPLIT_VAL : BT_SPLIT_TEST;
      dup_of[i] = -1;
      g_ptr_array_add (paths, g_strdup_printf ("%s/img-%05d.png", dir, i));
      write_png (g_ptr_array_index (paths, i), images + (gsize) i * 784, 0, 0, 0);
    }
  /* 5% flipped to another class */
  g_autofree guint32 *perm = g_new (guint32, n);
  for (int i = 0; i < n; i++)
    perm[i] = i;
  bt_rng_shuffle (&rng, perm, n);
  int n_flip = n / 20;
  for (int f = 0; f < n_flip; f++)
    given[perm[f]] = (truth[perm[f]] + 1 + (int) bt_rng_below (&rng, 9)) % 10;
  /* near-duplicates of other images (not flipped), in another split */
  g_autofree char **dup_how = g_new0 (char *, n_dup);
  for (int k = 0; k < n_dup; k++)
    {
      int i = n + k, src = perm[n_flip + k];
      truth[i] = truth[src];
      given[i] = given[src];
      split[i] = (split[src] + 1 + bt_rng_below (&rng, 2)) % 3;
      dup_of[i] = src;
      int dx = (int) bt_rng_below (&rng, 3) - 1, dy = k % 2 ? 1 : -1;
      int bright = (int) bt_rng_below (&rng, 31) - 15;
      dup_how[k] = g_strdup_printf ("dup-%02d (dx %d dy %d brightness %+d)", k, dx, dy, bright);
      g_ptr_array_add (paths, g_strdup_printf ("%s/dup-%02d.png", dir, k));
      write_png (g_ptr_array_index (paths, i), images + (gsize) src * 784, dx, dy, bright);
    }
  /* outliers */
  for (int k = 0; k < n_out; k++)
    {
      int i = n + n_dup + k;
      truth[i] = given[i] = (int) bt_rng_below (&rng, 10);
      split[i] = BT_SPLIT_TRAIN;
      dup_of[i] = -1;
      outlier[i] = TRUE;
      g_ptr_array_add (paths, g_strdup_printf ("%s/odd-%02d.png", dir, k));
      guint8 px[784];
      for (int p = 0; p < 784; p++)
        px[p] = k < 10 ? (guint8) bt_rng_below (&rng, 256) : (guint8) (40 + 17 * k);
      if (k < 20)
        write_png (g_ptr_array_index (paths, i), px, 0, 0, 0);
      else
        write_drawing (g_ptr_array_index (paths, i), &rng);
    }

  BtProjectSettings settings;
  bt_project_settings_init (&settings);
  g_free (settings.preset);
  settings.preset = g_strdup (preset != NULL ? preset : "mlp");
  settings.width = settings.height = 28;
  settings.channels = 1;
  gboolean none = g_str_equal (settings.preset, "none");
  g_autoptr (BtDoctorInput) in = bt_doctor_input_new_empty (names, none ? NULL : &settings);
  bt_project_settings_clear (&settings);
  for (int i = 0; i < total; i++)
    bt_doctor_input_add (in, g_ptr_array_index (paths, i), given[i], split[i]);
  BtDoctorOptions opts;
  bt_doctor_options_init (&opts);
  opts.epochs = epochs;
  if (max_distance > 0)
    opts.max_distance = max_distance;
  gint64 t0 = g_get_monotonic_time ();
  g_autoptr (GError) error = NULL;
  g_autoptr (BtDoctorReport) r = bt_doctor_run (in, &opts, NULL, NULL, NULL, &error);
  double seconds = (g_get_monotonic_time () - t0) / 1e6;
  if (r == NULL)
    {
      fprintf (stderr, "bench-doctor: %s\n", error->message);
      return 1;
    }
  int in500 = 0, in1000 = 0, found = 0, right = 0;
  for (guint i = 0; i < r->label_issues->len; i++)
    {
      const BtDoctorLabelIssue *x = &g_array_index (r->label_issues, BtDoctorLabelIssue, i);
      if (given[x->item] == truth[x->item])
        continue;
      in500 += i < 500;
      in1000 += i < 1000;
      found++;
      right += x->suggested == truth[x->item];
    }
  int dups = 0;
  g_autofree double *dup_found = g_new0 (double, n_dup);   /* distance + 1, 0: not found */
  for (guint i = 0; i < r->duplicates->len; i++)
    {
      const BtDoctorDuplicate *d = &g_array_index (r->duplicates, BtDoctorDuplicate, i);
      if (dup_of[d->b] == (int) d->a)
        dup_found[d->b - n] = 1 + d->distance;
      else if (dup_of[d->a] == (int) d->b)
        dup_found[d->a - n] = 1 + d->distance;
    }
  g_autoptr (GString) dup_missed = g_string_new (NULL);
  for (int k = 0; k < n_dup; k++)
    {
      dups += dup_found[k] > 0;
      if (!dup_found[k] || dup_found[k] - 1 > opts.max_distance)
        g_string_append_printf (dup_missed, "  %s distance %.4f\n", dup_how[k], dup_found[k] - 1);
      g_free (dup_how[k]);
    }
  int outs = 0;
  g_autofree int *out_rank = g_new0 (int, total);
  for (guint i = 0; i < r->outliers->len; i++)
    out_rank[g_array_index (r->outliers, BtDoctorOutlier, i).item] = (int) i + 1;
  for (guint i = 0; i < MIN (r->outliers->len, 100); i++)
    outs += outlier[g_array_index (r->outliers, BtDoctorOutlier, i).item];
  g_autoptr (GString) missed = g_string_new (NULL);
  for (int k = 0; k < n_out; k++)
    if (out_rank[n + n_dup + k] == 0 || out_rank[n + n_dup + k] > 100)
      g_string_append_printf (missed, " odd-%02d (%s %d)", k, k < 10 ? "noise" : k < 20 ? "flat" : "drawing",
                              out_rank[n + n_dup + k]);
  printf ("images %d (flipped %d, near-duplicates %d, outliers %d), fold models: %s\n", total, n_flip, n_dup,
          n_out, r->model);
  printf ("out-of-fold accuracy %.3f, label issues %u, duplicate pairs %u, outliers %u, quality %u\n",
          r->oof_accuracy, r->label_issues->len, r->duplicates->len, r->outliers->len, r->quality->len);
  printf ("%-24s %10s %10s\n", "measure", "result", "target");
  printf ("%-24s %10.3f %10s\n", "precision@500", in500 / 500.0, ">= 0.80");
  printf ("%-24s %10.3f %10s\n", "recall@1000", (double) in1000 / n_flip, ">= 0.90");
  printf ("%-24s %10.3f %10s   (%d of %d flips found)\n", "suggested class right",
          found ? (double) right / found : 0.0, ">= 0.85", found, n_flip);
  printf ("%-24s %7d/%-2d %10s\n", "near-duplicates", dups, n_dup, ">= 48/50");
  printf ("%-24s %7d/%-2d %10s\n", "outliers in top 100", outs, n_out, ">= 25/30");
  if (g_getenv ("BENCH_DOCTOR_DISTANCES") != NULL)
    {
      printf ("planted:");
      for (int k = 0; k < n_dup; k++)
        printf (" %.3f", dup_found[k] - 1);
      printf ("\nothers:");
      for (guint i = 0; i < r->duplicates->len; i++)
        {
          const BtDoctorDuplicate *d = &g_array_index (r->duplicates, BtDoctorDuplicate, i);
          if (dup_of[d->b] != (int) d->a && dup_of[d->a] != (int) d->b && i < 400)
            printf (" %.3f", d->distance);
        }
      printf ("\n");
    }
  if (dup_missed->len > 0)
    printf ("near-duplicates missed:\n%s", dup_missed->str);
  if (missed->len > 0)
    printf ("outliers missed (rank, 0: not flagged):%s\n", missed->str);
  printf ("%-24s %10.1f %10s\n", "seconds (wall)", seconds, "<= 120");
  printf ("%-24s %10.0f %10s\n", "peak RSS MiB", peak_rss_kib () / 1024.0, "<= 400");
  if (keep == NULL)
    {
      const char *rm[] = { "rm", "-rf", dir, NULL };
      g_spawn_sync (NULL, (char **) rm, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, NULL, NULL);
    }
  return 0;
}
