/* bt-test-fs.h: removing a test's temporary tree, for every test program (header only, so a
 * test needs no extra source file). */
#pragma once

#include <glib.h>
#include <glib/gstdio.h>

/* Removes path and, for a folder, everything in it; a link is removed, never followed. */
static inline void
bt_test_rm_rf (const char *path)
{
  GDir *d = g_file_test (path, G_FILE_TEST_IS_SYMLINK) ? NULL : g_dir_open (path, 0, NULL);
  if (d != NULL)
    {
      const char *name;
      while ((name = g_dir_read_name (d)) != NULL)
        {
          g_autofree char *child = g_build_filename (path, name, NULL);
          bt_test_rm_rf (child);
        }
      g_dir_close (d);
    }
  g_remove (path);
}
