/* bench-sandbox.c: what the decoder sandbox costs. Decodes every PNG of the Fashion-MNIST tree
 * (70,000 files; --limit for fewer) in-process and through the sandbox's helper processes, with
 * the same number of threads, side by side in one run; then the import's own check of the same
 * tree (bt_scan_paths: a small-scale decode and the content hash of every file); then a
 * 12-megapixel JPEG, five times each way, full size and at thumbnail/training size. Prints files
 * per second and the ratio (sandbox / in-process time). */
#include "config.h"

#include <stdio.h>
#include <string.h>
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

typedef struct {
  gboolean sandbox;
  gint failed;
} Job;

static void
decode_one (gpointer data, gpointer user_data)
{
  Job *job = user_data;
  bt_image_set_in_process (!job->sandbox);
  g_autoptr(BtImage) img = bt_image_decode_file (data, 1, NULL, NULL, NULL);
  if (img == NULL)
    g_atomic_int_inc (&job->failed);
}

static double
decode_all (GPtrArray *files, gboolean sandbox, int threads)
{
  Job job = { sandbox, 0 };
  double t0 = now_s ();
  GThreadPool *pool = g_thread_pool_new (decode_one, &job, threads, TRUE, NULL);
  for (guint i = 0; i < files->len; i++)
    g_thread_pool_push (pool, files->pdata[i], NULL);
  g_thread_pool_free (pool, FALSE, TRUE);
  double t = now_s () - t0;
  if (job.failed)
    printf ("  (%d files failed to decode)\n", job.failed);
  return t;
}

static double
scan_tree (const char *tree, gboolean sandbox)
{
  bt_image_set_in_process (!sandbox);
  const char *paths[] = { tree, NULL };
  double t0 = now_s ();
  g_autoptr(GError) error = NULL;
  BtScanResult *r = bt_scan_paths (paths, BT_SCAN_FOLDER_OF_CLASSES, NULL, TRUE, NULL, NULL, NULL, &error);
  double t = now_s () - t0;
  if (r == NULL)
    printf ("  scan failed: %s\n", error->message);
  else
    bt_scan_result_free (r);
  return t;
}

int
main (int argc, char **argv)
{
  g_autofree char *tree_arg = NULL, *converter = NULL;
  int threads = 0, limit = 0;
  GOptionEntry entries[] = {
    { "tree", 't', 0, G_OPTION_ARG_FILENAME, &tree_arg, "Existing PNG tree (default: convert into $TMPDIR/bottega-bench-import-tree)", "DIR" },
    { "converter", 'c', 0, G_OPTION_ARG_FILENAME, &converter, "Path of bottega-fmnist-to-png", "PATH" },
    { "threads", 'j', 0, G_OPTION_ARG_INT, &threads, "Decode threads (default: one per core, at most 4)", "N" },
    { "limit", 'n', 0, G_OPTION_ARG_INT, &limit, "Decode only the first N files", "N" },
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
  if (threads <= 0)
    threads = CLAMP ((int) g_get_num_processors (), 1, 4);
  int tree_status = 0;
  g_autofree char *tree = bench_fmnist_tree (tree_arg, converter, &tree_status);
  if (tree == NULL)
    return tree_status;
  g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func (g_free);
  list_files (tree, files, (guint) limit);
  printf ("%u files, %d threads, %u cores\n", files->len, threads, g_get_num_processors ());
  /* warm the page cache and start the helpers before timing */
  decode_all (files, TRUE, threads);
  double t_in = 0, t_sb = 0;
  for (int round = 0; round < 2; round++)
    {
      /* alternate, so a change of machine load hits both sides */
      t_in += decode_all (files, FALSE, threads);
      t_sb += decode_all (files, TRUE, threads);
    }
  printf ("full decode: in-process %.0f files/s, sandbox %.0f files/s, sandbox/in-process time %.2f\n",
          2 * files->len / t_in, 2 * files->len / t_sb, t_sb / t_in);
  double s_in = 0, s_sb = 0;
  for (int round = 0; round < 2; round++)
    {
      s_in += scan_tree (tree, FALSE);
      s_sb += scan_tree (tree, TRUE);
    }
  printf ("import check (bt_scan_paths): in-process %.0f files/s, sandbox %.0f files/s, "
          "sandbox/in-process time %.2f\n", 2 * files->len / s_in, 2 * files->len / s_sb, s_sb / s_in);

  /* a 12 MP photo-like JPEG (4000×3000) */
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
  g_autofree char *tmp = g_dir_make_tmp ("bt-bench-sandbox-XXXXXX", NULL);
  g_autofree char *jpg = g_build_filename (tmp, "12mp.jpg", NULL);
  if (!stbi_write_jpg (jpg, w, h, 3, px, 90))
    return 1;
  const int boxes[][2] = { { 0, 0 }, { 448, 448 } };  /* full size; a 224-px model's 2× box */
  for (guint k = 0; k < G_N_ELEMENTS (boxes); k++)
    {
      double j_in = 0, j_sb = 0;
      for (int i = 0; i < 5; i++)
        {
          double t0 = now_s ();
          bt_image_set_in_process (TRUE);
          g_autoptr(BtImage) a = bt_image_decode_file_sized (jpg, 3, boxes[k][0], boxes[k][1], NULL, NULL, NULL, NULL);
          double t1 = now_s ();
          bt_image_set_in_process (FALSE);
          g_autoptr(BtImage) b = bt_image_decode_file_sized (jpg, 3, boxes[k][0], boxes[k][1], NULL, NULL, NULL, NULL);
          double t2 = now_s ();
          if (a == NULL || b == NULL || memcmp (a->pixels, b->pixels, (gsize) a->width * a->height * 3) != 0)
            {
              printf ("12 MP JPEG: decode failed or differs\n");
              return 1;
            }
          j_in += t1 - t0;
          j_sb += t2 - t1;
        }
      printf ("12 MP JPEG to %s: in-process %.1f ms, sandbox %.1f ms, sandbox/in-process time %.2f\n",
              k == 0 ? "full size" : "448 px", j_in / 5 * 1000, j_sb / 5 * 1000, j_sb / j_in);
    }
  printf ("load average: ");
  g_autofree char *load = NULL;
  if (g_file_get_contents ("/proc/loadavg", &load, NULL, NULL))
    printf ("%s", load);
  g_unlink (jpg);
  g_rmdir (tmp);
  bt_sandbox_shutdown ();
  return 0;
}
