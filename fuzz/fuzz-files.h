/* fuzz-files.h: a scratch folder for the targets that read project and run files from disk
 * (on /dev/shm when there is one, so an fsync costs nothing), and writing one file into it. */
#pragma once

#include <glib.h>
#include <glib/gstdio.h>
#include <stdint.h>

static inline const char *
fuzz_scratch_dir (void)
{
  static char *dir;
  if (dir == NULL)
    {
      const char *base = g_file_test ("/dev/shm", G_FILE_TEST_IS_DIR) ? "/dev/shm" : g_get_tmp_dir ();
      g_autofree char *tmpl = g_build_filename (base, "bt-fuzz-XXXXXX", NULL);
      dir = g_mkdtemp (g_steal_pointer (&tmpl));
      g_assert (dir != NULL);
    }
  return dir;
}

static inline void
fuzz_write (const char *dir, const char *name, const uint8_t *data, size_t size)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autoptr(GError) error = NULL;
  if (!g_file_set_contents (path, (const char *) data, (gssize) size, &error))
    g_error ("%s", error->message);
}

/* The part of data before the first "\n==\n" (*rest: after it, or NULL). */
static inline size_t
fuzz_split (const uint8_t *data, size_t size, const uint8_t **rest, size_t *rest_size)
{
  for (size_t i = 0; i + 4 <= size; i++)
    if (data[i] == '\n' && data[i + 1] == '=' && data[i + 2] == '=' && data[i + 3] == '\n')
      {
        *rest = data + i + 4;
        *rest_size = size - i - 4;
        return i;
      }
  *rest = NULL;
  *rest_size = 0;
  return size;
}
