/* bench-train-gui.c: Small CNN on a Fashion-MNIST PNG tree, trained twice in one process: once
 * by a bare BtTrainer (what bottega-cli runs) and once through the Train page of the real
 * window. Prints images/s of both, how often the charts got new points, and the longest
 * main-loop stall seen by a high-priority 2 ms probe while the GUI trained.
 * Usage: bench-train-gui PNG_TREE [EPOCHS] (make the tree with tools/bottega-fmnist-to-png). */
#include "config.h"

#include <gtk/gtk.h>
#include <math.h>
#include <stdlib.h>
#include <time.h>

#include "bt-application.h"
#include "bt-window-private.h"

static gint64 last_tick, max_gap, n_ticks, last_cpu, max_cpu;
static double last_images_per_s;
static gint64 step_times[1 << 16];
static guint n_step_times;

/* CPU time of the main thread: a wall-clock gap that the main thread did not spend working
 * is the scheduler giving the cores to the trainer (or to other programs), not our stall. */
static gint64
thread_cpu_us (void)
{
  struct timespec t;
  clock_gettime (CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec * G_GINT64_CONSTANT (1000000) + t.tv_nsec / 1000;
}

static gboolean
probe_cb (gpointer data)
{
  gint64 now = g_get_monotonic_time (), cpu = thread_cpu_us ();

  if (last_tick)
    {
      max_gap = MAX (max_gap, now - last_tick);
      max_cpu = MAX (max_cpu, cpu - last_cpu);
    }
  last_tick = now;
  last_cpu = cpu;
  n_ticks++;
  return G_SOURCE_CONTINUE;
}

static void
epoch_cb (BtTrainer *trainer, const BtEpochInfo *info, gpointer data)
{
  last_images_per_s = info->images_per_s;
}

static void
step_cb (BtTrainer *trainer, const BtStepInfo *info, gpointer data)
{
  if (g_getenv ("BT_BENCH_VERBOSE") && (info->global_step <= 1 || info->step == info->steps_per_epoch))
    g_printerr ("step %ld at %.3f s\n", (long) info->global_step, g_get_monotonic_time () / 1e6);
  if (n_step_times < G_N_ELEMENTS (step_times) && info->global_step > 0)
    step_times[n_step_times++] = g_get_monotonic_time ();
}

static gboolean
busy (BtTrainer *trainer)
{
  BtTrainerState s = bt_trainer_get_state (trainer);
  return s == BT_TRAINER_PREPARING || s == BT_TRAINER_RUNNING || s == BT_TRAINER_STOPPING ||
         s == BT_TRAINER_PAUSED;
}

static double
bare_run (BtProject *project)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(BtTrainer) bare = bt_trainer_new (project);

  last_images_per_s = NAN;
  g_signal_connect (bare, "epoch", G_CALLBACK (epoch_cb), NULL);
  if (!bt_trainer_start (bare, NULL, &error))
    g_error ("start: %s", error->message);
  while (busy (bare))
    g_main_context_iteration (NULL, TRUE);
  return last_images_per_s;
}

static BtProject *
make_project (const char *tree, int epochs, GError **error)
{
  g_autofree char *dir = g_dir_make_tmp ("bt-bench-gui-XXXXXX", error);
  const char *paths[] = { tree, NULL };
  g_autoptr(BtScanResult) scan = NULL;
  BtProjectSettings s = { 0 };
  BtProject *project;

  if (dir == NULL || (project = bt_project_create (dir, "bench", error)) == NULL)
    return NULL;
  scan = bt_scan_paths (paths, BT_SCAN_FOLDER_OF_CLASSES, NULL, TRUE, NULL, NULL, NULL, error);
  if (scan == NULL || bt_project_apply_scan (project, scan, error) == 0)
    return NULL;
  bt_project_settings_copy (&s, bt_project_get_settings (project));
  g_free (s.preset);
  s.preset = g_strdup ("small-cnn");
  s.width = s.height = 28;
  s.channels = 1;
  s.epochs = epochs;
  s.batch_size = 64;
  s.early_stopping_patience = 0;
  if (!bt_project_update_settings (project, &s, error))
    return NULL;
  bt_project_settings_clear (&s);
  return project;
}

int
main (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(BtProject) project = NULL;
  g_autoptr(BtApplication) app = NULL;
  BtWindow *window;
  BtTrainer *trainer;
  double cli_rate, cli_rate2, gui_rate, worst_update_gap = 0;
  gint64 gui_wall0, gui_cpu0, gui_wall, gui_cpu;
  int epochs = argc > 2 ? CLAMP (atoi (argv[2]), 1, 50) : 1;

  gtk_init ();
  if (argc < 2)
    {
      g_printerr ("usage: %s PNG_TREE [EPOCHS]\n", argv[0]);
      return 2;
    }
  project = make_project (argv[1], epochs, &error);
  if (project == NULL)
    {
      g_printerr ("could not make the project: %s\n", error ? error->message : "no images");
      return 1;
    }
  g_print ("images: %u, epochs: %d, preset: small-cnn 28x28 grey, batch 64\n",
           g_list_model_get_n_items (bt_project_get_items (project)), epochs);

  /* 1: the trainer alone, as bottega-cli drives it (again after the GUI run, so that a
   * change in the machine's load shows up as a difference between the two bare runs) */
  cli_rate = bare_run (project);

  /* 2: the same through the Train page of the real window, with a 2 ms probe */
  app = bt_application_new ();
  g_application_set_flags (G_APPLICATION (app), G_APPLICATION_NON_UNIQUE);
  if (!g_application_register (G_APPLICATION (app), NULL, &error))
    g_error ("register: %s", error->message);
  window = bt_window_new (GTK_APPLICATION (app));
  gtk_window_set_default_size (GTK_WINDOW (window), 1200, 800);
  gtk_window_present (GTK_WINDOW (window));
  bt_window_set_project (window, project);
  bt_window_set_page (window, "train");
  for (int i = 0; i < 100; i++)
    g_main_context_iteration (NULL, FALSE);

  last_images_per_s = NAN;
  gui_wall0 = g_get_monotonic_time ();
  gui_cpu0 = thread_cpu_us ();
  g_timeout_add_full (G_PRIORITY_HIGH, 2, probe_cb, NULL, NULL);
  if (g_getenv ("BT_BENCH_VERBOSE"))
    g_printerr ("start at %.3f s\n", g_get_monotonic_time () / 1e6);
  gtk_widget_activate_action (GTK_WIDGET (window->train_page), "train.start", NULL);
  trainer = bt_train_page_get_trainer (window->train_page);
  g_signal_connect (trainer, "epoch", G_CALLBACK (epoch_cb), NULL);
  g_signal_connect (trainer, "step", G_CALLBACK (step_cb), NULL);
  while (busy (trainer))
    g_main_context_iteration (NULL, TRUE);
  gui_rate = last_images_per_s;
  gui_wall = g_get_monotonic_time () - gui_wall0;
  gui_cpu = thread_cpu_us () - gui_cpu0;
  cli_rate2 = bare_run (project);
  for (guint i = 1; i < n_step_times; i++)
    worst_update_gap = MAX (worst_update_gap, (step_times[i] - step_times[i - 1]) / 1e3);

  g_print ("trainer alone (bottega-cli path): %.0f images/s before, %.0f after the GUI run\n",
           cli_rate, cli_rate2);
  g_print ("through the Train page:          %.0f images/s (%+.1f%% against their mean)\n", gui_rate,
           200.0 * (gui_rate - (cli_rate + cli_rate2) / 2) / (cli_rate + cli_rate2));
  g_print ("main thread busy %.1f%% of the GUI run (%.1f s CPU in %.1f s)\n",
           100.0 * gui_cpu / gui_wall, gui_cpu / 1e6, gui_wall / 1e6);
  g_print ("chart updates: %u, longest gap between two: %.0f ms\n", n_step_times, worst_update_gap);
  g_print ("longest main-loop stall (2 ms probe, %" G_GINT64_FORMAT " ticks): %.1f ms wall, "
           "of which at most %.1f ms main-thread CPU\n", n_ticks, max_gap / 1e3, max_cpu / 1e3);

  gtk_window_destroy (GTK_WINDOW (window));
  return 0;
}
