/* bt-write-file.c: atomic, durable file writes: a temp file beside the target, fsync, rename,
 * fsync of the folder; a failure leaves the old file untouched. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>

#include "dataset/bt-dataset-private.h"

gssize bt_atomic_write_fail_after = -1;

gboolean
bt_write_file_temp (const char *path, const void *data, gsize len, char **tmp_out, GError **error)
{
  g_return_val_if_fail (path != NULL && tmp_out != NULL, FALSE);
  g_return_val_if_fail (data != NULL || len == 0, FALSE);

  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *base = g_path_get_basename (path);
  g_autofree char *display = g_filename_display_name (path);
  g_autofree char *tmp = g_strdup_printf ("%s/.%s.XXXXXX", dir, base);
  int fd = g_mkstemp_full (tmp, O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0)
    {
      int e = errno;
      g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_IO,
                   _("Could not save “%s”: %s"), display, g_strerror (e));
      return FALSE;
    }
  const guint8 *p = data;
  gsize done = 0;
  int e = 0;
  while (done < len)
    {
      gsize chunk = MIN (len - done, (gsize) 1 << 20);
      if (bt_atomic_write_fail_after >= 0)
        {
          if (done >= (gsize) bt_atomic_write_fail_after)
            {
              e = ENOSPC;
              break;
            }
          chunk = MIN (chunk, (gsize) bt_atomic_write_fail_after - done);
        }
      ssize_t w = write (fd, p + done, chunk);
      if (w < 0)
        {
          if (errno == EINTR)
            continue;
          e = errno;
          break;
        }
      done += (gsize) w;
    }
  if (e == 0 && fsync (fd) != 0)
    e = errno;
  if (close (fd) != 0 && e == 0)
    e = errno;
  if (e != 0)
    {
      g_unlink (tmp);
      g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_IO,
                   _("Could not save “%s”: %s"), display, g_strerror (e));
      return FALSE;
    }
  *tmp_out = g_steal_pointer (&tmp);
  return TRUE;
}

gboolean
bt_write_file_commit (const char *tmp, const char *path, GError **error)
{
  g_return_val_if_fail (tmp != NULL && path != NULL, FALSE);
  if (rename (tmp, path) != 0)
    {
      int e = errno;
      g_autofree char *display = g_filename_display_name (path);
      g_unlink (tmp);
      g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_IO,
                   _("Could not save “%s”: %s"), display, g_strerror (e));
      return FALSE;
    }
  /* Make the rename itself durable. */
  g_autofree char *dir = g_path_get_dirname (path);
  int dfd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0)
    {
      fsync (dfd);
      close (dfd);
    }
  return TRUE;
}

gboolean
bt_write_file_atomic (const char *path, const void *data, gsize len, GError **error)
{
  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (data != NULL || len == 0, FALSE);
  g_autofree char *tmp = NULL;
  return bt_write_file_temp (path, data, len, &tmp, error) && bt_write_file_commit (tmp, path, error);
}
