/* bt-test-cli.h: what the tests that run the built bottega-cli share (header only). */
#pragma once

#include <glib.h>

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
