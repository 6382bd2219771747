/* bt-test-cli.h: what the tests that run the built bottega-cli share (header only): finding it and
 * a work folder, and running it with arguments up to NULL, stdout and stderr kept, a death by
 * signal a failure of its own. */
#pragma once

#include <glib.h>
#include <stdarg.h>
#include <sys/wait.h>

/* Runs cli with the arguments of ap in cwd with envp; *out / *err (may be NULL) get the output.
 * Returns the exit status. */
static inline int
bt_test_run_cliv (const char *cli, const char *cwd, char **envp, char **out, char **err, va_list ap)
{
  g_autoptr(GPtrArray) args = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *o = NULL, *e = NULL, *line = NULL;
  int wait_status = 0;
  const char *arg;

  g_ptr_array_add (args, (char *) cli);
  while ((arg = va_arg (ap, const char *)) != NULL)
    g_ptr_array_add (args, (char *) arg);
  g_ptr_array_add (args, NULL);
  g_assert_true (g_spawn_sync (cwd, (char **) args->pdata, envp, G_SPAWN_DEFAULT, NULL, NULL, &o, &e,
                               &wait_status, &error));
  g_assert_no_error (error);
  line = g_strjoinv (" ", (char **) args->pdata + 1);
  g_test_message ("$ bottega-cli %s\n%s%s", line, o, e);
  g_assert_true (WIFEXITED (wait_status));
  if (out != NULL)
    *out = g_steal_pointer (&o);
  if (err != NULL)
    *err = g_steal_pointer (&e);
  return WEXITSTATUS (wait_status);
}

/* Finds bottega-cli in the build tree and makes a temporary work folder from template (as
 * g_dir_make_tmp takes it). FALSE, with the test skipped, when not run through meson test. */
static inline gboolean
bt_test_cli_init (const char *template, char **cli_path, char **work_dir)
{
  g_autoptr(GError) error = NULL;
  const char *build_root = g_getenv ("BOTTEGA_BUILD_ROOT");
  if (build_root == NULL)
    {
      g_test_skip ("BOTTEGA_BUILD_ROOT is not set: run through meson test");
      return FALSE;
    }
  *cli_path = g_build_filename (build_root, "src", "cli", "bottega-cli", NULL);
  *work_dir = g_dir_make_tmp (template, &error);
  g_assert_no_error (error);
  return TRUE;
}
