/* bench-data-page-stall: the longest main-loop stall while the Data page imports the
 * Fashion-MNIST PNG tree (70,000 files, a folder of class folders), then while the grid
 * scrolls through all of it. Probes: the main context's poll function (the longest time
 * between one poll returning and the next starting is the longest stall: one turn of the
 * loop that could not wait for input) and a tick callback (the longest gap between frames).
 * Each also reads the main thread's CPU clock: on a shared, loaded machine a gap is mostly
 * waiting for a core, and the CPU time the main thread spent inside it is the app's part. */
#include "config.h"

#include <gtk/gtk.h>
#include <stdio.h>
#include <time.h>

#include "bt-data-page.h"

typedef struct {
  gint64  last;
  gint64  last_cpu;
  gint64  max_gap;
  gint64  max_cpu_gap;   /* main-thread CPU µs spent inside one gap */
  guint   n_over_50ms;
  GArray *gaps;      /* gint64 µs */
} Probe;

static Probe loop_probe, frame_probe;
static gboolean probing;

static gint64
thread_cpu_us (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts);
  return (gint64) ts.tv_sec * G_USEC_PER_SEC + ts.tv_nsec / 1000;
}

static void
probe_hit (Probe *p)
{
  gint64 now = g_get_monotonic_time ();
  gint64 cpu = thread_cpu_us ();

  if (probing && p->last != 0)
    {
      gint64 gap = now - p->last;

      p->max_gap = MAX (p->max_gap, gap);
      p->max_cpu_gap = MAX (p->max_cpu_gap, cpu - p->last_cpu);
      if (gap > 50000)
        p->n_over_50ms++;
      g_array_append_val (p->gaps, gap);
    }
  p->last = now;
  p->last_cpu = cpu;
}

static void
probe_reset (Probe *p)
{
  p->last = 0;
  p->max_gap = 0;
  p->max_cpu_gap = 0;
  p->n_over_50ms = 0;
  g_array_set_size (p->gaps, 0);
}

static int
cmp_gap (gconstpointer a, gconstpointer b)
{
  gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;
  return x < y ? -1 : x > y;
}

static double
percentile_ms (Probe *p, double q)
{
  if (p->gaps->len == 0)
    return 0;
  g_array_sort (p->gaps, cmp_gap);
  return g_array_index (p->gaps, gint64, MIN (p->gaps->len - 1, (guint) (q * p->gaps->len))) / 1000.0;
}

static void
report (const char *phase, double seconds)
{
  printf ("%-24s %6.1f s  longest stall %6.1f ms (main-loop turn), main-thread CPU in a stall %6.1f ms  "
          "longest frame gap %6.1f ms  p99 frame gap %5.1f ms  stalls > 50 ms: %u\n",
          phase, seconds, loop_probe.max_gap / 1000.0, loop_probe.max_cpu_gap / 1000.0,
          frame_probe.max_gap / 1000.0, percentile_ms (&frame_probe, 0.99), loop_probe.n_over_50ms);
  fflush (stdout);
}

/* A stall is the time from one poll returning to the next poll: what the loop dispatched
 * in between. Unlike a timer source, this cannot starve other sources or be starved. */
static GPollFunc real_poll;
static gint64 poll_end, poll_end_cpu, phase_start;
static double trace_ms;  /* --trace: print every turn with at least this much main-thread CPU */

static gint
stall_poll (GPollFD *fds, guint n_fds, gint timeout)
{
  gint64 now = g_get_monotonic_time ();
  gint64 cpu = thread_cpu_us ();
  gint result;

  if (probing && poll_end != 0)
    {
      gint64 gap = now - poll_end;

      loop_probe.max_gap = MAX (loop_probe.max_gap, gap);
      loop_probe.max_cpu_gap = MAX (loop_probe.max_cpu_gap, cpu - poll_end_cpu);
      if (gap > 50000)
        loop_probe.n_over_50ms++;
      if (trace_ms > 0 && (cpu - poll_end_cpu) >= trace_ms * 1000)
        printf ("  turn at %7.1f ms: %6.1f ms wall, %6.1f ms main-thread CPU (monotonic %.4f s)\n",
                (poll_end - phase_start) / 1000.0, gap / 1000.0, (cpu - poll_end_cpu) / 1000.0, poll_end / 1e6);
    }
  result = real_poll (fds, n_fds, timeout);
  poll_end = g_get_monotonic_time ();
  poll_end_cpu = thread_cpu_us ();
  return result;
}

static guint settle_frames;

static gboolean
tick_cb (GtkWidget *widget, GdkFrameClock *clock, gpointer data)
{
  settle_frames++;
  probe_hit (&frame_probe);
  return G_SOURCE_CONTINUE;
}

static GtkWidget *
find_type (GtkWidget *widget, GType type)
{
  if (G_TYPE_CHECK_INSTANCE_TYPE (widget, type))
    return widget;
  for (GtkWidget *c = gtk_widget_get_first_child (widget); c; c = gtk_widget_get_next_sibling (c))
    {
      GtkWidget *found = find_type (c, type);
      if (found)
        return found;
    }
  return NULL;
}

static void
wait_until_settled (BtDataPage *page, gboolean confirm)
{
  GtkSelectionModel *sel = bt_data_page_get_selection (page);
  GtkFilterListModel *filter = GTK_FILTER_LIST_MODEL (gtk_multi_selection_get_model (GTK_MULTI_SELECTION (sel)));

  for (;;)
    {
      g_main_context_iteration (NULL, TRUE);
      if (confirm && bt_data_page_get_confirming (page))
        {
          gtk_widget_activate_action (GTK_WIDGET (page), "data.confirm-import", NULL);
          continue;
        }
      if (!bt_data_page_get_busy (page) && gtk_filter_list_model_get_pending (filter) == 0)
        break;
    }
  /* The grid lays the new items out on the next frames: those count for the import too. */
  settle_frames = 0;
  while (settle_frames < 10)
    g_main_context_iteration (NULL, TRUE);
}

int
main (int argc, char **argv)
{
  g_autofree char *tree_arg = NULL, *converter = NULL;
  double scroll_seconds = 10, scroll_speed = 20000;
  GOptionEntry entries[] = {
    { "tree", 't', 0, G_OPTION_ARG_FILENAME, &tree_arg, "Existing PNG tree (default: convert into $TMPDIR/bottega-fmnist-tree)", "DIR" },
    { "converter", 'c', 0, G_OPTION_ARG_FILENAME, &converter, "Path of bottega-fmnist-to-png", "PATH" },
    { "scroll-seconds", 's', 0, G_OPTION_ARG_DOUBLE, &scroll_seconds, "How long to scroll the grid (default 10)", "S" },
    { "trace", 0, 0, G_OPTION_ARG_DOUBLE, &trace_ms, "Print every main-loop turn that used at least MS of main-thread CPU", "MS" },
    { "scroll-speed", 'v', 0, G_OPTION_ARG_DOUBLE, &scroll_speed, "Scroll speed in pixels per second (default 20000, a hard flick)", "PX" },
    { NULL }
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new (NULL);
  g_autoptr(GError) error = NULL;
  g_autofree char *default_tree = g_build_filename (g_get_tmp_dir (), "bottega-fmnist-tree", NULL);
  g_autofree char *tmp = NULL, *pdir = NULL, *cmd = NULL;
  const char *tree;
  g_autoptr(BtProject) project = NULL;
  GtkWindow *window;
  BtDataPage *page;
  GtkScrolledWindow *scrolled;
  GtkAdjustment *adj;
  gint64 start, end;
  const char *paths[2] = { NULL, NULL };

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      fprintf (stderr, "%s\n", error->message);
      return 2;
    }
  if (!gtk_init_check ())
    {
      printf ("SKIP: needs a display (run under xvfb-run -a)\n");
      return 0;
    }

  tree = tree_arg ? tree_arg : default_tree;
  if (tree_arg == NULL)
    {
      g_autofree char *marker = g_build_filename (tree, "Ankle_boot", NULL);
      g_autoptr(GDir) dir = g_dir_open (marker, 0, NULL);
      guint n_files = 0;

      /* File names depend on the label order, so count: Fashion-MNIST has 7,000 per class. */
      while (dir != NULL && g_dir_read_name (dir) != NULL)
        n_files++;
      if (n_files < 7000)
        {
          const char *cargv[] = { converter, tree, NULL };
          int status = 0;

          if (converter == NULL || !g_file_test ("/usr/share/datasets/fashion-mnist", G_FILE_TEST_IS_DIR))
            {
              printf ("SKIP: needs Debian's dataset-fashion-mnist and --converter\n");
              return 0;
            }
          printf ("converting Fashion-MNIST into %s (not timed)...\n", tree);
          if (!g_spawn_sync (NULL, (char **) cargv, NULL, G_SPAWN_DEFAULT, NULL, NULL, NULL, NULL, &status, &error)
              || !g_spawn_check_wait_status (status, &error))
            {
              fprintf (stderr, "converter failed: %s\n", error->message);
              return 1;
            }
        }
    }

  tmp = g_dir_make_tmp ("bt-bench-stall-XXXXXX", NULL);
  pdir = g_build_filename (tmp, "project", NULL);
  project = bt_project_create (pdir, "Bench", &error);
  if (project == NULL)
    {
      fprintf (stderr, "%s\n", error->message);
      return 1;
    }

  window = GTK_WINDOW (gtk_window_new ());
  gtk_window_set_default_size (window, 1200, 800);
  page = g_object_new (BT_TYPE_DATA_PAGE, NULL);
  gtk_window_set_child (window, GTK_WIDGET (page));
  bt_data_page_set_project (page, project);
  gtk_window_present (window);
  for (int i = 0; i < 50; i++)
    g_main_context_iteration (NULL, FALSE);

  loop_probe.gaps = g_array_new (FALSE, FALSE, sizeof (gint64));
  frame_probe.gaps = g_array_new (FALSE, FALSE, sizeof (gint64));
  real_poll = g_main_context_get_poll_func (NULL);
  g_main_context_set_poll_func (NULL, stall_poll);
  gtk_widget_add_tick_callback (GTK_WIDGET (page), tick_cb, NULL, NULL);

  /* Phase 1: drop the tree (a folder of class folders), confirm, wait for the scan, the apply
   * and 10 more frames. */
  probing = TRUE;
  paths[0] = tree;
  start = phase_start = g_get_monotonic_time ();
  bt_data_page_import_paths (page, paths, NULL);
  wait_until_settled (page, TRUE);
  end = g_get_monotonic_time ();
  printf ("imported %u images into %u classes\n",
          g_list_model_get_n_items (bt_project_get_items (project)),
          g_list_model_get_n_items (bt_project_get_classes (project)));
  report ("import (70,000 files)", (end - start) / 1e6);

  /* Phase 2: scroll the grid of all images down at a steady speed, thumbnails decoding behind. */
  probe_reset (&loop_probe);
  probe_reset (&frame_probe);
  scrolled = GTK_SCROLLED_WINDOW (gtk_widget_get_ancestor (find_type (GTK_WIDGET (page), GTK_TYPE_GRID_VIEW),
                                                           GTK_TYPE_SCROLLED_WINDOW));
  adj = gtk_scrolled_window_get_vadjustment (scrolled);
  start = phase_start = g_get_monotonic_time ();
  end = start + (gint64) (scroll_seconds * G_USEC_PER_SEC);
  while (g_get_monotonic_time () < end)
    {
      double t = (g_get_monotonic_time () - start) / 1e6;
      double upper = gtk_adjustment_get_upper (adj) - gtk_adjustment_get_page_size (adj);

      gtk_adjustment_set_value (adj, MIN (upper, t * scroll_speed));
      g_main_context_iteration (NULL, TRUE);
    }
  printf ("scrolled %.0f px of %.0f\n", gtk_adjustment_get_value (adj), gtk_adjustment_get_upper (adj));
  report ("scroll (grid)", scroll_seconds);

  probing = FALSE;
  gtk_window_destroy (window);
  for (int i = 0; i < 50; i++)
    g_main_context_iteration (NULL, FALSE);
  g_clear_object (&project);
  cmd = g_strdup_printf ("rm -rf '%s'", tmp);
  if (system (cmd) != 0)
    fprintf (stderr, "could not remove %s\n", tmp);
  return 0;
}
