/* test-cli-tune.c: `bottega-cli tune` prints one line per finished trial and then the
 * leaderboard, saves runs/tune-*, resumes an unfinished search; `bottega-cli cv` prints each
 * fold and mean ± std; bad options are usage errors (exit 2). */
#include "config.h"

#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset/bt-dataset.h"

static char *cli_path, *project_dir;

G_GNUC_NULL_TERMINATED static int
run_cli (char **out, ...)
{
  g_autoptr (GPtrArray) args = g_ptr_array_new ();
  g_ptr_array_add (args, cli_path);
  va_list ap;
  va_start (ap, out);
  const char *a;
  while ((a = va_arg (ap, const char *)) != NULL)
    g_ptr_array_add (args, (char *) a);
  va_end (ap);
  g_ptr_array_add (args, NULL);
  g_auto (GStrv) envp = g_environ_setenv (g_get_environ (), "LANGUAGE", "C", TRUE);
  envp = g_environ_setenv (envp, "LC_ALL", "C.UTF-8", TRUE);
  g_autofree char *err = NULL;
  int status = 0;
  g_autoptr (GError) error = NULL;
  g_assert_true (g_spawn_sync (NULL, (char **) args->pdata, envp, G_SPAWN_DEFAULT, NULL, NULL, out, &err,
                               &status, &error));
  g_assert_no_error (error);
  if (err && *err)
    g_test_message ("stderr: %s", err);
  return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

static guint
count_lines_with (const char *text, const char *prefix)
{
  guint n = 0;
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i]; i++)
    n += g_str_has_prefix (lines[i], prefix);
  return n;
}

static void
test_tune (void)
{
  g_autofree char *out = NULL;
  int rc = run_cli (&out, "tune", project_dir, "--strategy", "random", "--trials", "3", "--epochs", "1",
                    "--seed", "4", NULL);
  g_assert_cmpint (rc, ==, 0);
  g_test_message ("%s", out);
  g_assert_cmpuint (count_lines_with (out, "trial "), ==, 3);
  g_assert_nonnull (strstr (out, "validation accuracy"));
  g_assert_nonnull (strstr (out, "Leaderboard"));
  g_assert_nonnull (strstr (out, " 3. "));
  g_assert_null (strstr (out, " 4. "));
  /* trial 1 is the project's own settings */
  g_assert_nonnull (strstr (out, "trial 1 (rung 0, 1 epochs): small-cnn, adam, lr 0.001, batch 32"));

  /* the same seed again: the same lines */
  g_autofree char *again = NULL;
  g_assert_cmpint (run_cli (&again, "tune", project_dir, "--strategy", "random", "--trials", "3", "--epochs", "1",
                            "--seed", "4", NULL), ==, 0);
  g_auto (GStrv) a = g_strsplit (out, "\n", -1), b = g_strsplit (again, "\n", -1);
  for (guint i = 0; i < 3; i++)
    {
      /* drop the time at the end of the line */
      char *ta = strrchr (a[i], ','), *tb = strrchr (b[i], ',');
      g_assert_nonnull (ta);
      g_assert_nonnull (tb);
      *ta = *tb = '\0';
      g_assert_cmpstr (a[i], ==, b[i]);
    }

  g_autofree char *none = NULL;
  g_assert_cmpint (run_cli (&none, "tune", project_dir, "--resume", NULL), ==, 1);   /* all finished */
  g_autofree char *bad = NULL;
  g_assert_cmpint (run_cli (&bad, "tune", project_dir, "--strategy", "magic", NULL), ==, 2);
  g_clear_pointer (&bad, g_free);
  g_assert_cmpint (run_cli (&bad, "tune", NULL), ==, 2);
  g_clear_pointer (&bad, g_free);
  g_assert_cmpint (run_cli (&bad, "tune", "/nonexistent/project", NULL), ==, 1);
}

static void
test_cv (void)
{
  g_autofree char *out = NULL;
  g_assert_cmpint (run_cli (&out, "cv", project_dir, "--k", "3", "--epochs", "1", NULL), ==, 0);
  g_test_message ("%s", out);
  g_assert_cmpuint (count_lines_with (out, "fold "), ==, 3);
  g_assert_nonnull (strstr (out, "3-fold validation accuracy: "));
  g_assert_nonnull (strstr (out, "±"));
  g_autofree char *bad = NULL;
  g_assert_cmpint (run_cli (&bad, "cv", project_dir, "--k", "11", NULL), ==, 1);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  const char *build = g_getenv ("BOTTEGA_BUILD_ROOT");
  if (build == NULL)
    {
      g_test_skip ("BOTTEGA_BUILD_ROOT is not set; run through meson test");
      return g_test_run ();
    }
  cli_path = g_build_filename (build, "src", "cli", "bottega-cli", NULL);
  g_autoptr (GError) error = NULL;
  g_autofree char *tmp = g_dir_make_tmp ("bt-cli-tune-XXXXXX", &error);
  g_assert_no_error (error);
  project_dir = g_build_filename (tmp, "shapes", NULL);
  {
    g_autoptr (BtProject) p = bt_sample_create_shapes (project_dir, 10, 32, 2, NULL, &error);
    g_assert_no_error (error);
    BtProjectSettings s;
    bt_project_settings_copy (&s, bt_project_get_settings (p));
    s.width = s.height = 32;
    s.channels = 1;
    s.split_train = 60;
    s.split_val = 25;
    s.split_test = 15;
    g_assert_true (bt_project_update_settings (p, &s, &error));
    bt_project_settings_clear (&s);
  }
  g_test_add_func ("/cli/tune", test_tune);
  g_test_add_func ("/cli/cv", test_cv);
  int rc = g_test_run ();
  g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", tmp);
  (void) !system (cmd);
  g_free (cli_path);
  g_free (project_dir);
  return rc;
}
