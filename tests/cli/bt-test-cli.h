/* bt-test-cli.h: running the built bottega-cli from a CLI test (header only): arguments up to
 * NULL, stdout and stderr kept, a death by signal is a failure of its own. */
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
