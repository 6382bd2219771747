/* bench-doctor.c: the data doctor on Fashion-MNIST (Debian's dataset-fashion-mnist): the first
 * N training images (default 10,000; above 60,000 the test images, then training images turned
 * a quarter, up to 100,000) with 5% of the labels flipped to another class, 50 planted
 * near-duplicates (a 1-pixel shift and a brightness change, put in another split) and 30
 * planted outliers (10 noise, 10 flat, 10 line drawings). Prints precision of the top 500 label
 * issues against the flips, recall within the top 1,000, the suggested class's accuracy on the
 * flips found, near-duplicate recall, outlier recall in the top 100, seconds and peak RSS.
 * The doctor sees a project whose preset is --preset (default mlp) at 28×28 grey.
 * --torch runs bench/torch_doctor_oof.py (/usr/bin/python3 with torch) on the same images and
 * prints its label-issue numbers beside the doctor's: the PyTorch out-of-fold baseline.
 * BENCH_DOCTOR_PAIRS=1 prints every reported pair ("PAIR a b distance") on stderr, to compare two
 * builds' near-duplicates.
 * The doctor's cache is in DIR/cache-doctor (filled by the first run). --rerun K then K times
 * puts 5 more flipped images back to their class (a person's relabels) and runs the doctor
 * again (from the cache), then once more cold (cache removed first, filled again: a first run's
 * cost), alternating; it prints wall, CPU (this process and, separately, the decoder helpers),
 * the images and pairs taken from the cache, the load average, and whether the cached run's
 * report is the cold run's.
 * Usage: bench-doctor [--images N] [--preset ID|none] [--epochs N] [--keep DIR] [--torch] [--rerun K] */
#include "config.h"

#include <cairo.h>
#include <gio/gio.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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

/* CPU seconds of this process, all its threads */
static double
cpu_seconds (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* CPU seconds of the live child processes (the decoder helpers: they decode for the doctor). */
static double
children_cpu_seconds (void)
{
  g_autoptr (GDir) proc = g_dir_open ("/proc", 0, NULL);
  const char *name;
  double total = 0;
  while (proc != NULL && (name = g_dir_read_name (proc)) != NULL)
    {
      if (!g_ascii_isdigit (name[0]))
        continue;
      g_autofree char *file = g_strdup_printf ("/proc/%s/stat", name);
      g_autofree char *text = NULL;
      if (!g_file_get_contents (file, &text, NULL, NULL))
        continue;
      /* after "pid (comm) ": state ppid … utime stime are fields 4 and 14, 15 */
      const char *rest = strrchr (text, ')');
      int ppid = 0;
      unsigned long long ut = 0, st = 0;
      if (rest != NULL &&
          sscanf (rest + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ppid, &ut, &st) == 3 &&
          ppid == (int) getpid ())
        total += (double) (ut + st) / sysconf (_SC_CLK_TCK);
    }
  return total;
}

static char *
load_average (void)
{
  g_autofree char *text = NULL;
  if (!g_file_get_contents ("/proc/loadavg", &text, NULL, NULL))
    return g_strdup ("?");
  char **f = g_strsplit (text, " ", 4);
  char *out = g_strdup_printf ("%s %s %s", f[0], f[1] ? f[1] : "", f[1] && f[2] ? f[2] : "");
  g_strfreev (f);
  return out;
}

/* Wall and CPU seconds of each stage of the run, from the doctor's progress (stages in order). */
typedef struct { char stage[16]; double wall0, cpu0; GString *out; } Stages;

static void
stage_end (Stages *st)
{
  if (st->stage[0] != '\0')
    g_string_append_printf (st->out, " %s %.1f s (CPU %.1f)", st->stage, g_get_monotonic_time () / 1e6 - st->wall0,
                            cpu_seconds () - st->cpu0);
}

static void
on_progress (const char *stage, double fraction, gpointer user_data)
{
  Stages *st = user_data;
  (void) fraction;
  if (g_str_equal (stage, st->stage))
    return;
  stage_end (st);
  g_strlcpy (st->stage, stage, sizeof st->stage);
  st->wall0 = g_get_monotonic_time () / 1e6;
  st->cpu0 = cpu_seconds ();
}

/* The doctor's input: the images with these labels, in a project whose preset is `preset` at
 * 28×28 grey ("none": no settings, the descriptor). */
static BtDoctorInput *
input_with_labels (const char *preset, GPtrArray *paths, const int *given, const BtSplit *split, int total)
{
  BtProjectSettings settings;
  bt_project_settings_init (&settings);
  g_free (settings.preset);
  settings.preset = g_strdup (preset);
  settings.width = settings.height = 28;
  settings.channels = 1;
  BtDoctorInput *in = bt_doctor_input_new_empty (names, g_str_equal (preset, "none") ? NULL : &settings);
  bt_project_settings_clear (&settings);
  for (int i = 0; i < total; i++)
    bt_doctor_input_add (in, g_ptr_array_index (paths, i), given[i], split[i]);
  return in;
}

static void
remove_tree (const char *dir)
{
  const char *rm[] = { "rm", "-rf", dir, NULL };
  g_spawn_sync (NULL, (char **) rm, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, NULL, NULL);
}

/* One run's costs. */
typedef struct { double wall, cpu, helpers_cpu; char *stages, *load; } Timed;

static void
timed_clear (Timed *t)
{
  g_free (t->stages);
  g_free (t->load);
}

static BtDoctorReport *
timed_run (BtDoctorInput *in, const BtDoctorOptions *opts, Timed *t)
{
  g_autoptr (GError) error = NULL;
  Stages stages = { "", 0, 0, g_string_new (NULL) };
  t->load = load_average ();
  gint64 t0 = g_get_monotonic_time ();
  double cpu0 = cpu_seconds (), helpers0 = children_cpu_seconds ();
  BtDoctorReport *r = bt_doctor_run (in, opts, on_progress, &stages, NULL, &error);
  t->wall = (g_get_monotonic_time () - t0) / 1e6;
  t->cpu = cpu_seconds () - cpu0;
  t->helpers_cpu = children_cpu_seconds () - helpers0;
  stage_end (&stages);
  t->stages = g_string_free (stages.out, FALSE);
  if (r == NULL)
    fprintf (stderr, "bench-doctor: %s\n", error->message);
  return r;
}

static void
print_timed (const char *labels, const char *what, const Timed *t, const BtDoctorReport *r, int total, const char *same)
{
  printf ("%-6s %-9s %8.1f %8.1f %10.1f %8u %6s %7u  %-14s  %s\n", labels, what, t->wall, t->cpu, t->helpers_cpu,
          (guint) total - r->n_cached, r->duplicates_cached ? "cache" : "found", r->label_issues->len, t->load,
          same != NULL ? same : "");
}

typedef struct { double oof, p500, r1000, cpu, wall; int issues, found, right; } LabelScores;

/* The PyTorch baseline on the same images and labels (list: path, given, true class per line);
 * FALSE (with the reason printed) when it cannot run. */
static gboolean
run_torch (const char *dir, GPtrArray *paths, const int *given, const int *truth, int total, const char *preset,
           int epochs, LabelScores *t)
{
  g_autofree char *list = g_build_filename (dir, "torch-list.tsv", NULL);
  g_autoptr (GString) s = g_string_new (NULL);
  for (int i = 0; i < total; i++)
    g_string_append_printf (s, "%s\t%d\t%d\n", (const char *) g_ptr_array_index (paths, i), given[i], truth[i]);
  g_autoptr (GError) error = NULL;
  if (!g_file_set_contents (list, s->str, (gssize) s->len, &error))
    {
      printf ("PyTorch baseline not run: %s\n", error->message);
      return FALSE;
    }
  const char *root = g_getenv ("BOTTEGA_SOURCE_ROOT") ? g_getenv ("BOTTEGA_SOURCE_ROOT") : SOURCE_ROOT;
  g_autofree char *script = g_build_filename (root, "bench", "torch_doctor_oof.py", NULL);
  g_autofree char *ep = g_strdup_printf ("%d", epochs);
  char *argv[] = { "/usr/bin/python3", script, "--list", list, "--preset", (char *) preset, "--epochs", ep, NULL };
  g_autofree char *out = NULL, *err = NULL;
  int status = 0;
  if (!g_spawn_sync (NULL, argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &status, &error))
    {
      printf ("PyTorch baseline not run: %s\n", error->message);
      return FALSE;
    }
  const char *line = out != NULL ? strstr (out, "RESULT ") : NULL;
  if (line == NULL ||
      sscanf (line, "RESULT oof_accuracy=%lf issues=%d precision500=%lf recall1000=%lf found=%d right=%d "
                    "cpu=%lf wall=%lf", &t->oof, &t->issues, &t->p500, &t->r1000, &t->found, &t->right, &t->cpu,
              &t->wall) != 8)
    {
      printf ("PyTorch baseline not run (exit %d): %s\n", WIFEXITED (status) ? WEXITSTATUS (status) : -1,
              err != NULL ? g_strstrip (err) : "");
      return FALSE;
    }
  return TRUE;
}

/* The doctor's label-issue numbers beside the PyTorch baseline's (same preset and epochs). */
static void
print_torch (const char *dir, GPtrArray *paths, const int *given, const int *truth, int total, int n_flip,
             const BtDoctorReport *r, const BtDoctorOptions *opts, int epochs, int in500, int in1000, int found,
             int right, double seconds, double cpu)
{
  const char *preset = "mlp";
  const char *at = r->model != NULL ? strstr (r->model, "small-cnn ") : NULL;
  if (at != NULL)
    preset = "small-cnn";
  else
    at = r->model != NULL ? strstr (r->model, "mlp ") : NULL;
  const char *ep = at != NULL ? strstr (at, ", ") : NULL;
  if (epochs <= 0 && (ep == NULL || sscanf (ep, ", %d epochs", &epochs) != 1))
    {
      printf ("PyTorch baseline not run: the doctor trained no mlp or small-cnn (%s)\n", r->model);
      return;
    }
  LabelScores t;
  if (!run_torch (dir, paths, given, truth, total, preset, epochs, &t))
    return;
  printf ("\nlabel issues, side by side (%d folds; PyTorch: %s, %d epochs, batch 32, Adam 1e-3, cosine, 2 threads)\n",
          opts->folds, preset, epochs);
  printf ("%-24s %12s %12s\n", "measure", "doctor", "PyTorch");
  printf ("%-24s %12.3f %12.3f\n", "out-of-fold accuracy", r->oof_accuracy, t.oof);
  printf ("%-24s %12u %12d\n", "label issues listed", r->label_issues->len, t.issues);
  printf ("%-24s %12.3f %12.3f\n", "precision@500", in500 / 500.0, t.p500);
  printf ("%-24s %12.3f %12.3f\n", "recall@1000", (double) in1000 / n_flip, t.r1000);
  printf ("%-24s %12.3f %12.3f\n", "suggested class right", found ? (double) right / found : 0.0,
          t.found ? (double) t.right / t.found : 0.0);
  printf ("%-24s %12.1f %12.1f   (doctor: the whole run; PyTorch: folds + ranking)\n", "seconds (wall)", seconds, t.wall);
  printf ("%-24s %12.1f %12.1f\n", "seconds (CPU)", cpu, t.cpu);
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
  int epochs = 0, rerun = 0;
  double max_distance = 0;
  gboolean torch = FALSE;
  GOptionEntry entries[] = {
    { "images", 0, 0, G_OPTION_ARG_INT, &n, "Images (default 10000, at most 100000)", "N" },
    { "preset", 0, 0, G_OPTION_ARG_STRING, &preset,
      "The project's preset at 28×28 grey (default mlp; none: no project settings, the descriptor)", "ID" },
    { "epochs", 0, 0, G_OPTION_ARG_INT, &epochs, "Epochs of each fold model (default: the doctor's)", "N" },
    { "max-distance", 0, 0, G_OPTION_ARG_DOUBLE, &max_distance, "Near-duplicates' distance (default: the doctor's)", "D" },
    { "torch", 0, 0, G_OPTION_ARG_NONE, &torch, "Also run the PyTorch out-of-fold baseline on the same images", NULL },
    { "keep", 0, 0, G_OPTION_ARG_FILENAME, &keep, "Write the images here and keep them", "DIR" },
    { "rerun", 0, 0, G_OPTION_ARG_INT, &rerun,
      "K times: 5 relabels, a run from the cache, a cold run with the same labels", "K" },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new (NULL);
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, NULL) || n < 100 || n > 100000 || rerun < 0 || rerun > 20)
    return 2;
  g_autoptr (GBytes) ib = read_gz (FMNIST "train-images-idx3-ubyte.gz");
  g_autoptr (GBytes) lb = read_gz (FMNIST "train-labels-idx1-ubyte.gz");
  const guint8 *images = (const guint8 *) g_bytes_get_data (ib, NULL) + 16;
  const guint8 *labels = (const guint8 *) g_bytes_get_data (lb, NULL) + 8;
  g_autofree guint8 *more = NULL, *more_labels = NULL;
  if (n > 60000)
    {
      /* the scale run: the 60,000 training images, the 10,000 test images, then training
       * images turned a quarter (not copies of anything) */
      g_autoptr (GBytes) tb = read_gz (FMNIST "t10k-images-idx3-ubyte.gz");
      g_autoptr (GBytes) tl = read_gz (FMNIST "t10k-labels-idx1-ubyte.gz");
      more = g_malloc ((gsize) n * 784);
      more_labels = g_malloc (n);
      memcpy (more, images, (gsize) 60000 * 784);
      memcpy (more_labels, labels, 60000);
      memcpy (more + (gsize) 60000 * 784, (const guint8 *) g_bytes_get_data (tb, NULL) + 16, (gsize) 10000 * 784);
      memcpy (more_labels + 60000, (const guint8 *) g_bytes_get_data (tl, NULL) + 8, 10000);
      for (int i = 70000; i < n; i++)
        {
          const guint8 *src = images + (gsize) (i - 70000) * 784;
          for (int y = 0; y < 28; y++)
            for (int x = 0; x < 28; x++)
              more[(gsize) i * 784 + y * 28 + x] = src[x * 28 + (27 - y)];
          more_labels[i] = labels[i - 70000];
        }
      images = more;
      labels = more_labels;
    }
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

  g_autoptr (BtDoctorInput) in = input_with_labels (preset != NULL ? preset : "mlp", paths, given, split, total);
  g_autofree char *cache_dir = g_build_filename (dir, "cache-doctor", NULL);
  remove_tree (cache_dir);   /* a kept folder's cache from an earlier run would make this one warm */
  bt_doctor_input_set_cache_dir (in, cache_dir);
  BtDoctorOptions opts;
  bt_doctor_options_init (&opts);
  opts.epochs = epochs;
  if (max_distance > 0)
    opts.max_distance = max_distance;
  Timed first = { 0 };
  g_autoptr (BtDoctorReport) r = timed_run (in, &opts, &first);
  if (r == NULL)
    return 1;
  double seconds = first.wall, cpu = first.cpu;
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
  if (g_getenv ("BENCH_DOCTOR_PAIRS"))
    for (guint i = 0; i < r->duplicates->len; i++)
      {
        const BtDoctorDuplicate *d = &g_array_index (r->duplicates, BtDoctorDuplicate, i);
        fprintf (stderr, "PAIR %u %u %.4f\n", d->a, d->b, d->distance);
      }
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
  printf ("%-24s %10.1f %10s   (this process's threads; the decoder helper not counted)\n", "seconds (CPU)", cpu, "");
  printf ("%-24s %10.0f %10s\n", "peak RSS MiB", peak_rss_kib () / 1024.0, "<= 400");
  printf ("%-24s %10.1f\n", "decoder helpers' CPU s", first.helpers_cpu);
  printf ("stages:%s\n", first.stages);
  if (rerun > 0)
    {
      printf ("\nthe doctor's cache: a run after 5 relabels (cached) and a cold run with the same labels, "
              "alternated (load %s at the start)\n", first.load);
      printf ("%-6s %-9s %8s %8s %10s %8s %6s %7s  %-14s  %s\n", "labels", "run", "wall s", "CPU s", "helpers s",
              "decoded", "pairs", "issues", "load", "same report");
      print_timed ("0", "first", &first, r, total, NULL);
      int next_flip = 0;
      for (int k = 0; k < rerun; k++)
        {
          /* a person puts 5 flipped images back (the first flips still flipped) */
          for (int moved = 0; moved < 5 && next_flip < n_flip; next_flip++)
            if (given[perm[next_flip]] != truth[perm[next_flip]])
              {
                given[perm[next_flip]] = truth[perm[next_flip]];
                moved++;
              }
          g_autofree char *tag = g_strdup_printf ("+%d", 5 * (k + 1));
          g_autoptr (BtDoctorInput) again = input_with_labels (preset != NULL ? preset : "mlp", paths, given, split,
                                                               total);
          bt_doctor_input_set_cache_dir (again, cache_dir);
          Timed warm = { 0 }, cold = { 0 };
          g_autoptr (BtDoctorReport) rw = timed_run (again, &opts, &warm);
          remove_tree (cache_dir);
          g_autoptr (BtDoctorReport) rc = timed_run (again, &opts, &cold);
          if (rw == NULL || rc == NULL)
            return 1;
          g_autofree char *jw = bt_doctor_report_to_json (rw), *jc = bt_doctor_report_to_json (rc);
          print_timed (tag, "cached", &warm, rw, total, g_str_equal (jw, jc) ? "yes" : "NO");
          print_timed (tag, "cold", &cold, rc, total, NULL);
          printf ("  stages cached:%s\n  stages cold:  %s\n", warm.stages, cold.stages);
          timed_clear (&warm);
          timed_clear (&cold);
        }
    }
  timed_clear (&first);
  if (torch)
    print_torch (dir, paths, given, truth, total, n_flip, r, &opts, epochs, in500, in1000, found, right, seconds, cpu);
  if (keep == NULL)
    remove_tree (dir);
  return 0;
}
