/* bt-engine-error.c: the engine's error domain, and the one way it reads a file it was given. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/bt-engine.h"

G_DEFINE_QUARK (bt-engine-error-quark, bt_engine_error)

GBytes *
bt_engine_read_file (const char *path, guint64 max_len, GError **error)
{
  g_return_val_if_fail (path != NULL, NULL);
  g_autofree char *display = g_filename_display_name (path);
  /* O_NONBLOCK: opening a FIFO must not wait for a writer; fstat before any read, so a device
   * (/dev/zero) or a FIFO is refused instead of read until memory runs out */
  int fd = open (path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    {
      int e = errno;
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_IO, "Could not open “%s”: %s", display, g_strerror (e));
      return NULL;
    }
  struct stat st;
  if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode))
    {
      close (fd);
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_IO, "“%s” is not a regular file", display);
      return NULL;
    }
  if ((guint64) st.st_size > max_len)
    {
      close (fd);
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_NO_MEMORY,
                   "“%s” is too large (%" G_GUINT64_FORMAT " MiB; at most %" G_GUINT64_FORMAT " MiB)",
                   display, (guint64) st.st_size >> 20, max_len >> 20);
      return NULL;
    }
  /* read at most max_len + 1: a file that grows while read is still capped */
  gsize cap = (gsize) MIN ((guint64) st.st_size + 1, max_len + 1);
  guint8 *data = g_malloc (MAX (cap, 1));
  gsize len = 0;
  int e = 0;
  while (len < cap)
    {
      ssize_t r = read (fd, data + len, cap - len);
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        {
          e = errno;
          break;
        }
      if (r == 0)
        break;
      len += (gsize) r;
      if (len == cap && len <= max_len)
        {
          cap = (gsize) MIN ((guint64) cap * 2, max_len + 1);
          data = g_realloc (data, cap);
        }
    }
  close (fd);
  if (e != 0)
    {
      g_free (data);
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_IO, "Could not read “%s”: %s", display, g_strerror (e));
      return NULL;
    }
  if (len > max_len)
    {
      g_free (data);
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_NO_MEMORY, "“%s” is too large", display);
      return NULL;
    }
  return g_bytes_new_take (data, len);
}
