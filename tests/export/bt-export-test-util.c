/* bt-export-test-util.c: see bt-export-test-util.h. */
#include "bt-export-test-util.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <sys/wait.h>

char *
bt_test_mkdtemp (void)
{
  g_autoptr(GError) error = NULL;
  char *dir = g_dir_make_tmp ("bottega-export-XXXXXX", &error);
  g_assert_no_error (error);
  return dir;
}

void
bt_test_rm_rf (const char *dir)
{
  g_autoptr(GFile) f = g_file_new_for_path (dir);
  g_autoptr(GFileEnumerator) e = g_file_enumerate_children (f, G_FILE_ATTRIBUTE_STANDARD_NAME ","
                                                            G_FILE_ATTRIBUTE_STANDARD_TYPE,
                                                            G_FILE_QUERY_INFO_NOFOLLOW_SYMLINKS, NULL, NULL);
  if (e != NULL)
    {
      GFileInfo *info;
      while ((info = g_file_enumerator_next_file (e, NULL, NULL)) != NULL)
        {
          g_autofree char *child = g_build_filename (dir, g_file_info_get_name (info), NULL);
          if (g_file_info_get_file_type (info) == G_FILE_TYPE_DIRECTORY)
            bt_test_rm_rf (child);
          else
            g_unlink (child);
          g_object_unref (info);
        }
    }
  g_rmdir (dir);
}

void
bt_test_write_floats (const char *dir, const char *name, const float *v, gsize n)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_assert_true (G_BYTE_ORDER == G_LITTLE_ENDIAN);
  g_file_set_contents (path, (const char *) v, (gssize) (n * sizeof (float)), &error);
  g_assert_no_error (error);
}

gboolean
bt_test_run_python (const char *script, const char * const *args)
{
  if (!g_file_test ("/usr/bin/python3", G_FILE_TEST_IS_EXECUTABLE))
    {
      g_test_skip ("/usr/bin/python3 is not installed");
      return FALSE;
    }
  const char *root = g_getenv ("BOTTEGA_SOURCE_ROOT");
  g_assert_nonnull (root);
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (argv, g_strdup ("/usr/bin/python3"));
  g_ptr_array_add (argv, g_build_filename (root, "tests", "export", script, NULL));
  for (guint i = 0; args && args[i]; i++)
    g_ptr_array_add (argv, g_strdup (args[i]));
  g_ptr_array_add (argv, NULL);

  g_autofree char *out = NULL, *err = NULL;
  int status = 0;
  g_autoptr(GError) error = NULL;
  g_spawn_sync (NULL, (char **) argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &status, &error);
  g_assert_no_error (error);
  if (g_spawn_check_wait_status (status, NULL))
    {
      g_test_message ("%s: %s", script, g_strstrip (out));
      return TRUE;
    }
  if (WIFEXITED (status) && WEXITSTATUS (status) == 77)
    {
      g_autofree char *msg = g_strdup_printf ("%s: %s", script, g_strstrip (out));
      g_test_skip (msg);
      return FALSE;
    }
  g_test_message ("%s failed:\n%s\n%s", script, out, err);
  g_test_fail ();
  return FALSE;
}
