/* bench-import: import of the Fashion-MNIST PNG tree (70,000 files): scan + apply to a project +
 * decode into the 28×28 grayscale cache. Prints wall time per phase and peak RSS. With --stream:
 * the streaming bt_project_import_async on a main loop instead of scan + apply, with the time to
 * the first images, the number of chunks and the longest main-loop stall (a 2 ms timer's gaps). */
#include <stdio.h>
#include <sys/resource.h>
#include <time.h>
#include <glib/gstdio.h>

#include "dataset/bt-dataset.h"
#include "bench-fmnist-tree.h"

static double
now_s (void)
{
  return g_get_monotonic_time () / 1e6;
}

typedef struct {
  GMainLoop    *loop;
  BtScanResult *result;
  GError       *error;
  gint64        last_tick, max_gap, first_items;
  gint64        last_cpu, max_cpu_gap;  /* main-thread CPU µs: what a gap cost this thread */
  guint         n_chunks, n_gaps_over_50ms;
} Stream;

static gint64
thread_cpu_us (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts);
  return (gint64) ts.tv_sec * G_USEC_PER_SEC + ts.tv_nsec / 1000;
}

static gboolean
tick (gpointer data)
{
  Stream *st = data;
  gint64 now = g_get_monotonic_time ();
  gint64 cpu = thread_cpu_us ();
  if (st->last_tick)
    {
      gint64 gap = now - st->last_tick;
      st->max_gap = MAX (st->max_gap, gap);
      st->max_cpu_gap = MAX (st->max_cpu_gap, cpu - st->last_cpu);
      st->n_gaps_over_50ms += gap > 50000;
    }
  st->last_tick = now;
  st->last_cpu = cpu;
  return G_SOURCE_CONTINUE;
}

static void
items_changed (GListModel *m, guint pos, guint removed, guint added, Stream *st)
{
  if (added == 0)
    return;
  if (st->n_chunks++ == 0)
    st->first_items = g_get_monotonic_time ();
}

static void
import_done (GObject *source, GAsyncResult *res, gpointer data)
{
  Stream *st = data;
  st->result = bt_project_import_finish (BT_PROJECT (source), res, &st->error);
  g_main_loop_quit (st->loop);
}

int
main (int argc, char **argv)
{
  g_autofree char *tree_arg = NULL, *converter = NULL;
  int threads = 0;
  gboolean stream = FALSE;
  GOptionEntry entries[] = {
    { "tree", 't', 0, G_OPTION_ARG_FILENAME, &tree_arg, "Existing PNG tree (default: convert into $TMPDIR/bottega-bench-import-tree)", "DIR" },
    { "converter", 'c', 0, G_OPTION_ARG_FILENAME, &converter, "Path of bottega-fmnist-to-png", "PATH" },
    { "threads", 'j', 0, G_OPTION_ARG_INT, &threads, "Decode threads (default: one per core)", "N" },
    { "stream", 's', 0, G_OPTION_ARG_NONE, &stream, "Streaming import on a main loop, with stall times", NULL },
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
  int tree_status = 0;
  g_autofree char *tree = bench_fmnist_tree (tree_arg, converter, &tree_status);
  if (tree == NULL)
    return tree_status;

  g_autofree char *tmp = g_dir_make_tmp ("bt-bench-import-XXXXXX", NULL);
  g_autofree char *pdir = g_build_filename (tmp, "project", NULL);
  const char *roots[] = { tree, NULL };

  double t0 = now_s (), t1;
  g_autoptr(BtScanResult) r = NULL;
  g_autoptr(BtProject) p = NULL;
  guint added = 0;
  if (stream)
    {
      p = bt_project_create (pdir, "Fashion-MNIST", &error);
      if (p == NULL)
        {
          fprintf (stderr, "project failed: %s\n", error->message);
          return 1;
        }
      Stream st = { g_main_loop_new (NULL, FALSE) };
      g_signal_connect (bt_project_get_items (p), "items-changed", G_CALLBACK (items_changed), &st);
      guint timer = g_timeout_add (2, tick, &st);
      t0 = now_s ();
      bt_project_import_async (p, roots, BT_SCAN_FOLDER_OF_CLASSES, NULL, FALSE, NULL, NULL, NULL, NULL,
                               import_done, &st);
      g_main_loop_run (st.loop);
      g_source_remove (timer);
      if (st.result == NULL)
        {
          fprintf (stderr, "import failed: %s\n", st.error->message);
          return 1;
        }
      r = st.result;
      added = r->paths->len;
      t1 = now_s ();
      printf ("streaming import: first images after %.2f s, %u chunks, scan + apply %.2f s\n",
              (st.first_items / 1e6) - t0, st.n_chunks, t1 - t0);
      printf ("main loop: longest gap of a 2 ms timer %.1f ms, gaps over 50 ms: %u, most main-thread CPU in a gap %.1f ms\n",
              st.max_gap / 1000.0, st.n_gaps_over_50ms, st.max_cpu_gap / 1000.0);
      if (!bt_project_flush (p, &error))
        {
          fprintf (stderr, "save failed: %s\n", error->message);
          return 1;
        }
      g_main_loop_unref (st.loop);
    }
  else
    {
      r = bt_scan_paths (roots, BT_SCAN_FOLDER_OF_CLASSES, NULL, FALSE, NULL, NULL, NULL, &error);
      if (r == NULL)
        {
          fprintf (stderr, "scan failed: %s\n", error->message);
          return 1;
        }
      t1 = now_s ();
      p = bt_project_create (pdir, "Fashion-MNIST", &error);
      added = p ? bt_project_apply_scan (p, r, &error) : 0;
      if (error || (p && !bt_project_flush (p, &error)))
        {
          fprintf (stderr, "project failed: %s\n", error->message);
          return 1;
        }
    }
  double t2 = now_s ();
  g_autoptr(BtCache) c = bt_cache_build (p, 28, 28, 1, BT_DS_RESIZE_SQUASH, threads, NULL, NULL, NULL, &error);
  if (c == NULL)
    {
      fprintf (stderr, "cache failed: %s\n", error->message);
      return 1;
    }
  double t3 = now_s ();
  guint valid = 0;
  for (guint i = 0; i < added; i++)
    valid += bt_cache_is_valid (c, i);

  struct rusage ru;
  getrusage (RUSAGE_SELF, &ru);
  printf ("files: %u imported, %u skipped (%u label conflicts), %u cached\n",
          added, r->skipped_paths->len, r->n_label_conflicts, valid);
  printf ("scan (walk + read + hash + verify-decode): %.2f s\n", t1 - t0);
  printf ("apply to project + save labels.csv:        %.2f s%s\n", t2 - t1,
          stream ? " (stream: waiting for the last write)" : "");
  printf ("decode into 28x28x1 cache:                 %.2f s\n", t3 - t2);
  printf ("total import + cache:                      %.2f s\n", t3 - t0);
  printf ("peak RSS:                                  %.1f MiB\n", ru.ru_maxrss / 1024.0);
  printf ("cores available: %u\n", g_get_num_processors ());
  g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", tmp);
  if (system (cmd) != 0)
    return 1;
  return 0;
}
