/* bench-sandbox.c: what the decoder sandbox costs. Decodes every PNG of the Fashion-MNIST tree
 * (70,000 files; --limit for fewer) in-process and through the sandbox's helper processes, with
 * the same number of threads; then the import's own check of the same tree (bt_scan_paths: a
 * small-scale decode and the content hash of every file); then a 12-megapixel JPEG five times,
 * full size and at thumbnail/training size. Each case runs its sides in turn, twice (in-process,
 * sandbox, and with --old-helper a second helper binary), and prints wall and CPU seconds (this
 * process and its helpers) and the ratios to in-process. */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <glib/gstdio.h>

#include "dataset/bt-dataset-private.h"
#include "bench-fmnist-tree.h"

/* stb's writer, only to make the test JPEG (its own code, not under our warnings) */
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#define STBIW_ASSERT(x) g_assert (x)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-prototypes"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wundef"
#include <stb_image_write.h>
#pragma GCC diagnostic pop

static double
now_s (void)
{
  return g_get_monotonic_time () / 1e6;
}

/* CPU seconds of this process, every thread */
static double
self_cpu_s (void)
{
  struct rusage ru;
  getrusage (RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* CPU seconds of this process's bottega-decoder children so far, from /proc (they are never
 * waited for while they run, so RUSAGE_CHILDREN cannot see them) */
static double
helpers_cpu_s (void)
{
  double t = 0;
  g_autoptr(GDir) proc = g_dir_open ("/proc", 0, NULL);
  const char *name;
  while (proc != NULL && (name = g_dir_read_name (proc)) != NULL)
    {
      g_autofree char *path = g_build_filename ("/proc", name, "stat", NULL);
      g_autofree char *line = NULL;
      if (!g_ascii_isdigit (name[0]) || !g_file_get_contents (path, &line, NULL, NULL))
        continue;
      const char *rp = strrchr (line, ')');
      if (rp == NULL || strstr (line, "(bottega-decoder)") == NULL)
        continue;
      g_auto(GStrv) f = g_strsplit (rp + 2, " ", 0);  /* f[0] is field 3 (state) */
      if (g_strv_length (f) > 12 && g_ascii_strtoll (f[1], NULL, 10) == (gint64) getpid ())
        t += (g_ascii_strtod (f[11], NULL) + g_ascii_strtod (f[12], NULL)) / sysconf (_SC_CLK_TCK);
    }
  return t;
}

static void
print_load (const char *when)
{
  g_autofree char *load = NULL;
  if (g_file_get_contents ("/proc/loadavg", &load, NULL, NULL))
    printf ("load average %s: %s", when, load);
}

static void
list_files (const char *dir, GPtrArray *out, guint limit)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, (GCompareFunc) g_strcmp0);
  for (guint i = 0; i < names->len && (limit == 0 || out->len < limit); i++)
    {
      const char *n = names->pdata[i];
      if (n[0] == '.')
        continue;
      g_autofree char *path = g_build_filename (dir, n, NULL);
      if (g_file_test (path, G_FILE_TEST_IS_DIR))
        list_files (path, out, limit);
      else if (g_str_has_suffix (n, ".png") || g_str_has_suffix (n, ".jpg"))
        g_ptr_array_add (out, g_steal_pointer (&path));
    }
}

/* The sides of each case, in the order they take turns */
typedef enum { SIDE_IN_PROCESS, SIDE_SANDBOX, SIDE_OLD_HELPER, N_SIDES } Side;
static const char * const side_names[N_SIDES] = { "in-process", "sandbox", "old helper" };

typedef struct {
  GPtrArray  *files;
  int         threads;
  const char *tree;
  const char *jpg;    /* the 12 MP JPEG */
  int         box;    /* its decode's box (0: full size) */
  const char *helpers[N_SIDES];  /* the helper binary of each sandboxed side */
  Side        running;           /* whose helpers the pool runs */
  gint        failed;
} Bench;

static void
decode_one (gpointer data, gpointer user_data)
{
  Bench *b = user_data;
  g_autoptr(BtImage) img = bt_image_decode_file (data, 1, NULL, NULL, NULL);
  if (img == NULL)
    g_atomic_int_inc (&b->failed);
}

static void
decode_files (Bench *b, guint n)
{
  GThreadPool *pool = g_thread_pool_new (decode_one, b, b->threads, TRUE, NULL);
  for (guint i = 0; i < n && i < b->files->len; i++)
    g_thread_pool_push (pool, b->files->pdata[i], NULL);
  g_thread_pool_free (pool, FALSE, TRUE);
}

static guint
decode_all (Bench *b)
{
  decode_files (b, b->files->len);
  return b->files->len;
}

/* the whole tree, whatever --limit says: the count of files it checked */
static guint
scan_tree (Bench *b)
{
  const char *paths[] = { b->tree, NULL };
  g_autoptr(GError) error = NULL;
  BtScanResult *r = bt_scan_paths (paths, BT_SCAN_FOLDER_OF_CLASSES, NULL, TRUE, NULL, NULL, NULL, &error);
  if (r == NULL)
    {
      printf ("  scan failed: %s\n", error->message);
      return 0;
    }
  guint n = r->paths->len + r->skipped_paths->len;
  bt_scan_result_free (r);
  return n;
}

/* Five decodes of the JPEG, each read once whole (a mapped result pays its page faults here,
 * as whoever uses it would). On a thread marked foreground, as the Test page's photo: its helper
 * runs at this process's priority, not ten nice levels below, so that on a loaded machine the
 * two sides' wall times compare the work and not the scheduler's shares. */
static guint
decode_jpeg (Bench *b)
{
  gboolean was = bt_image_set_thread_foreground (TRUE);
  for (int i = 0; i < 5; i++)
    {
      g_autoptr(BtImage) img = bt_image_decode_file_sized (b->jpg, 3, b->box, b->box, NULL, NULL, NULL, NULL);
      if (img == NULL)
        {
          g_atomic_int_inc (&b->failed);
          continue;
        }
      guint64 sum = 0;
      const guint64 *p = (const guint64 *) img->pixels;
      for (gsize k = 0, n = (gsize) img->width * img->height * 3 / 8; k < n; k++)
        sum += p[k];
      volatile guint64 sink = sum;
      (void) sink;
    }
  bt_image_set_thread_foreground (was);
  return 0;
}

/* In-process, or through the pool with this side's helper binary: the helpers of another side
 * stopped and this side's started (by a few untimed decodes) before anything is timed. */
static void
use_side (Bench *b, Side side)
{
  bt_image_set_in_process (side == SIDE_IN_PROCESS);
  if (side == SIDE_IN_PROCESS || side == b->running)
    return;
  if (b->helpers[side] != NULL)
    {
      bt_sandbox_shutdown ();
      bt_sandbox_set_helper_path (b->helpers[side]);
    }
  b->running = side;
  decode_files (b, (guint) b->threads * 8);
  /* and the foreground helper, which the JPEG's decodes go to */
  bt_image_set_thread_foreground (TRUE);
  g_autoptr(BtImage) img = bt_image_decode_file (b->files->pdata[0], 1, NULL, NULL, NULL);
  bt_image_set_thread_foreground (FALSE);
}

/* The case's sides in turn, twice; wall and CPU seconds per run of it, and the ratios. */
static void
run_case (Bench *b, const char *label, guint (*run) (Bench *), int n_sides)
{
  guint per_run = 0;  /* files a run handled (0: five decodes of the JPEG) */
  double wall[N_SIDES] = { 0 }, cpu[N_SIDES] = { 0 }, helpers[N_SIDES] = { 0 };
  b->failed = 0;
  for (int round = 0; round < 2; round++)
    for (int s = 0; s < n_sides; s++)
      {
        use_side (b, (Side) s);
        /* the /proc walks outside what is counted: before the start, after the end */
        double h0 = helpers_cpu_s (), c0 = self_cpu_s (), t0 = now_s ();
        per_run = run (b);
        double t1 = now_s (), c1 = self_cpu_s (), h1 = helpers_cpu_s ();
        wall[s] += t1 - t0;
        cpu[s] += (c1 - c0) + (h1 - h0);
        helpers[s] += h1 - h0;
      }
  printf ("%s:\n", label);
  for (int s = 0; s < n_sides; s++)
    {
      double w = wall[s] / 2, c = cpu[s] / 2, h = helpers[s] / 2;
      if (per_run > 0)
        printf ("  %-10s %8.2f s wall %8.2f s CPU (helpers %.2f) %7.0f files/s", side_names[s], w, c, h,
                per_run / w);
      else
        printf ("  %-10s %8.1f ms wall %7.1f ms CPU (helpers %.1f) a decode", side_names[s], w / 5 * 1000,
                c / 5 * 1000, h / 5 * 1000);
      if (s > 0)
        printf ("  × in-process: wall %.2f, CPU %.2f", w / (wall[0] / 2), c / (cpu[0] / 2));
      printf ("\n");
    }
  if (b->failed)
    printf ("  (%d decodes failed)\n", b->failed);
}

/* A 12 MP photo-like JPEG (4000×3000) in a new temporary folder; the same pixels either way. */
static char *
make_jpeg (Bench *b, char **tmp)
{
  const int w = 4000, h = 3000;
  g_autofree guint8 *px = g_malloc ((gsize) w * h * 3);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        guint8 *p = px + ((gsize) y * w + x) * 3;
        p[0] = (guint8) (x * 255 / w);
        p[1] = (guint8) (y * 255 / h);
        p[2] = (guint8) ((x ^ y) & 0xff);
      }
  *tmp = g_dir_make_tmp ("bt-bench-sandbox-XXXXXX", NULL);
  char *jpg = g_build_filename (*tmp, "12mp.jpg", NULL);
  if (!stbi_write_jpg (jpg, w, h, 3, px, 90))
    {
      printf ("12 MP JPEG: could not write %s\n", jpg);
      g_free (jpg);
      return NULL;
    }
  for (int s = SIDE_SANDBOX; s < N_SIDES; s++)
    {
      if (s == SIDE_OLD_HELPER && b->helpers[s] == NULL)
        break;
      use_side (b, SIDE_IN_PROCESS);
      g_autoptr(BtImage) a = bt_image_decode_file (jpg, 3, NULL, NULL, NULL);
      use_side (b, (Side) s);
      g_autoptr(BtImage) c = bt_image_decode_file (jpg, 3, NULL, NULL, NULL);
      if (a == NULL || c == NULL || memcmp (a->pixels, c->pixels, (gsize) w * h * 3) != 0)
        {
          printf ("12 MP JPEG: the %s decode failed or differs\n", side_names[s]);
          g_clear_pointer (&jpg, g_free);
          return NULL;
        }
    }
  return jpg;
}

int
main (int argc, char **argv)
{
  g_autofree char *tree_arg = NULL, *converter = NULL, *old_helper = NULL;
  int threads = 0, limit = 0;
  GOptionEntry entries[] = {
    { "tree", 't', 0, G_OPTION_ARG_FILENAME, &tree_arg, "Existing PNG tree (default: convert into $TMPDIR/bottega-bench-import-tree)", "DIR" },
    { "converter", 'c', 0, G_OPTION_ARG_FILENAME, &converter, "Path of bottega-fmnist-to-png", "PATH" },
    { "threads", 'j', 0, G_OPTION_ARG_INT, &threads, "Decode threads (default: one per core, at most 4)", "N" },
    { "limit", 'n', 0, G_OPTION_ARG_INT, &limit, "Decode only the first N files", "N" },
    { "old-helper", 0, 0, G_OPTION_ARG_FILENAME, &old_helper, "A second bottega-decoder to compare (needs BOTTEGA_DECODER for the first)", "PATH" },
    { NULL }
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new (NULL);
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_autoptr(GError) error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      fprintf (stderr, "%s\n", error->message);
      return 2;
    }
  Bench b = { .running = SIDE_SANDBOX };
  b.helpers[SIDE_SANDBOX] = g_getenv ("BOTTEGA_DECODER");
  b.helpers[SIDE_OLD_HELPER] = old_helper;
  if (old_helper != NULL && b.helpers[SIDE_SANDBOX] == NULL)
    {
      fprintf (stderr, "--old-helper needs BOTTEGA_DECODER (the helper to compare it with)\n");
      return 2;
    }
  int n_sides = old_helper != NULL ? 3 : 2;
  b.threads = threads > 0 ? threads : CLAMP ((int) g_get_num_processors (), 1, 4);
  int tree_status = 0;
  g_autofree char *tree = bench_fmnist_tree (tree_arg, converter, &tree_status);
  if (tree == NULL)
    return tree_status;
  b.tree = tree;
  g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func (g_free);
  list_files (tree, files, (guint) limit);
  b.files = files;
  if (files->len == 0)
    {
      fprintf (stderr, "no PNG or JPEG files under %s\n", tree);
      return 1;
    }
  printf ("%u files, %d threads, %u cores\n", files->len, b.threads, g_get_num_processors ());
  print_load ("at the start");
  /* warm the page cache and start the helpers before timing */
  decode_all (&b);

  run_case (&b, "full decode of every PNG", decode_all, n_sides);
  run_case (&b, "the import's check of the whole tree (bt_scan_paths)", scan_tree, n_sides);
  g_autofree char *tmp = NULL;
  g_autofree char *jpg = make_jpeg (&b, &tmp);
  if (jpg == NULL)
    return 1;
  b.jpg = jpg;
  run_case (&b, "12 MP JPEG, full size, 5 decodes", decode_jpeg, n_sides);
  b.box = 448;  /* a 224-px model's 2× box, the thumbnails', the Test page's */
  run_case (&b, "12 MP JPEG to a 448-px box, 5 decodes", decode_jpeg, n_sides);
  print_load ("at the end");
  g_unlink (jpg);
  g_rmdir (tmp);
  bt_sandbox_shutdown ();
  return 0;
}
