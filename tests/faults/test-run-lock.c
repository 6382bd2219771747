/* test-run-lock.c: a hyper-parameter search holds the project's run lock (bt-run-lock.c) for
 * its whole run, as a trainer does: two searches, or a search and a training run, in one
 * project cannot collide, and the tidy-up (bt-project-tidy.c) treats tune-* folders as it
 * treats run folders. The search is a real `bottega-cli tune`, frozen with SIGSTOP while it
 * holds the lock, then killed. */
#include "config.h"

#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <utime.h>
#include <glib/gstdio.h>

#include "dataset/bt-dataset-private.h"
#include "bt-test-fs.h"
#include "bt-test-images.h"
#include "bt-test-wait.h"

static char *cli_path;

/* a file of one byte, its time age_s in the past */
static void
plant (const char *path, gint64 age_s)
{
  g_assert_true (g_file_set_contents (path, "x", 1, NULL));
  struct utimbuf t;
  t.actime = t.modtime = (time_t) (g_get_real_time () / G_USEC_PER_SEC - age_s);
  g_assert_cmpint (utime (path, &t), ==, 0);
}

static int
run_cli (char **out, char **err, const char * const *args)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_ptr_array_add (argv, cli_path);
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer) args[i]);
  g_ptr_array_add (argv, NULL);
  int status = 0;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) envp = g_environ_setenv (g_get_environ (), "LC_ALL", "C.UTF-8", TRUE);
  g_assert_true (g_spawn_sync (NULL, (char **) argv->pdata, envp, G_SPAWN_DEFAULT, NULL, NULL, out, err,
                               &status, &error));
  g_assert_no_error (error);
  g_assert_true (WIFEXITED (status));
  return WEXITSTATUS (status);
}

/* the search's folder once its first trial is recorded (it is then in its run), or NULL */
static char *
recorded_search (const char *runs)
{
  g_autoptr(GDir) d = g_dir_open (runs, 0, NULL);
  const char *name;
  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    {
      if (!g_str_has_prefix (name, "tune-"))
        continue;
      g_autofree char *dir = g_build_filename (runs, name, NULL);
      g_autofree char *csv = g_build_filename (dir, "trials.csv", NULL);
      g_autofree char *text = NULL;
      const char *nl;
      if (g_file_get_contents (csv, &text, NULL, NULL) && (nl = strchr (text, '\n')) != NULL &&
          strchr (nl + 1, '\n') != NULL)
        return g_steal_pointer (&dir);
    }
  return NULL;
}

/* recorded_search into *tune, once the search (still running: it must not have ended) has one */
static gboolean
running_and_recorded (GPid search, const char *runs, char **tune)
{
  g_assert_cmpint (waitpid (search, NULL, WNOHANG), ==, 0);
  *tune = recorded_search (runs);
  return *tune != NULL;
}

/* A search (`tune`) writes its tune-* folder under the project's run lock: a second search or a
 * training run in the project is refused with a message saying a search is running, the tidy-up
 * leaves the live search's files alone, and once the search is killed its leftovers go. */
static void
test_search_holds_run_lock (void)
{
  g_autofree char *root = g_dir_make_tmp ("bt-search-lock-XXXXXX", NULL);
  g_autofree char *src = g_build_filename (root, "src", NULL);
  g_autofree char *pdir = g_build_filename (root, "project", NULL);
  for (guint c = 0; c < 2; c++)
    {
      g_autofree char *cls = g_build_filename (src, c ? "dogs" : "cats", NULL);
      g_assert_cmpint (g_mkdir_with_parents (cls, 0755), ==, 0);
      for (guint i = 0; i < 16; i++)
        {
          g_autofree guint8 *px = bt_test_pattern (8, 8, 3, 100 * c + i);
          g_autoptr(GBytes) png = bt_test_encode_png (px, 8, 8, 3);
          g_autofree char *name = g_strdup_printf ("%u.png", i);
          g_autofree char *path = g_build_filename (cls, name, NULL);
          g_assert_true (bt_test_write_file (path, png));
        }
    }
  g_autofree char *out = NULL, *err = NULL;
  const char *create[] = { "new", pdir, "--from", src, NULL };
  g_assert_cmpint (run_cli (&out, &err, create), ==, 0);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  const char *argv[] = { cli_path, "tune", pdir, "--trials", "5000", "--epochs", "8", NULL };
  g_auto(GStrv) envp = g_environ_setenv (g_get_environ (), "LC_ALL", "C.UTF-8", TRUE);
  GPid search = 0;
  g_autoptr(GError) error = NULL;
  g_assert_true (g_spawn_async (NULL, (char **) argv, envp,
                                G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL,
                                NULL, NULL, &search, &error));
  g_assert_no_error (error);
  /* until its first trial is recorded (the search is then in its run), then frozen there */
  g_autofree char *runs = g_build_filename (pdir, "runs", NULL);
  g_autofree char *tune = NULL;
  /* (up to 100 s on a loaded machine) */
  BT_TEST_WAIT_UP_TO (100, running_and_recorded (search, runs, &tune));
  g_assert_cmpint (kill (search, SIGSTOP), ==, 0);

  /* a second search, and a training run, are refused and say why */
  const char *second[] = { "tune", pdir, "--trials", "1", "--epochs", "1", NULL };
  int status = run_cli (&out, &err, second);
  g_test_message ("second search: %d, %s", status, err);
  g_assert_cmpint (status, !=, 0);
  g_assert_nonnull (strstr (err, "A search for the best settings is running in this project"));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  const char *train[] = { "train", pdir, "--epochs", "1", NULL };
  status = run_cli (&out, &err, train);
  g_test_message ("training: %d, %s", status, err);
  g_assert_cmpint (status, !=, 0);
  g_assert_nonnull (strstr (err, "A search for the best settings is running in this project"));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  /* the tidy-up, with no age at all, leaves the live search's files alone */
  g_autofree char *tmp = g_build_filename (tune, ".trials.csv.Ab12Cd", NULL);
  g_autofree char *ini = g_build_filename (tune, "search.ini", NULL);
  g_autofree char *csv = g_build_filename (tune, "trials.csv", NULL);
  plant (tmp, 3600);
  g_assert_cmpuint (bt_project_tidy (pdir, 0), ==, 0);
  g_assert_true (g_file_test (tmp, G_FILE_TEST_EXISTS));

  /* killed: its fresh temp file goes at the next tidy-up (no age waited for), and so does a
   * folder a search made before it could write search.ini; the search itself stays resumable */
  kill (search, SIGKILL);
  g_assert_cmpint (waitpid (search, NULL, 0), ==, search);
  g_spawn_close_pid (search);
  plant (tmp, 0);
  g_autofree char *empty = g_build_filename (runs, "tune-20260101-000000", NULL);
  g_assert_cmpint (g_mkdir (empty, 0755), ==, 0);
  g_assert_cmpuint (bt_project_tidy (pdir, BT_TIDY_TEMP_AGE_S), >=, 2);
  g_assert_false (g_file_test (tmp, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (empty, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (ini, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (csv, G_FILE_TEST_EXISTS));
  bt_test_rm_rf (root);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  cli_path = g_build_filename (g_getenv ("BOTTEGA_BUILD_ROOT"), "src", "cli", "bottega-cli", NULL);
  g_test_add_func ("/faults/run-lock/search", test_search_holds_run_lock);
  int r = g_test_run ();
  g_free (cli_path);
  return r;
}
