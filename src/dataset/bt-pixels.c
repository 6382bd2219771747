/* bt-pixels.c: the buffers decoders write their pixels into. g_malloc in the app and the fuzzers;
 * in the decoder helper (bt-decoder-helper.c) a large one is a memfd mapped shared, so the one
 * that becomes the image goes to the app as it is (bt_pixels_steal_memfd), not copied into a
 * memfd after the decode. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dataset/bt-decode-private.h"

typedef struct {
  guint8 *ptr;   /* NULL: a free slot */
  gsize   len;
  int     fd;
} Mapped;

/* A decode holds at most three at once (decoded, oriented, converted); more fall back to the heap. */
#define MAX_MAPPED 8

static GMutex mapped_lock;
static Mapped mapped[MAX_MAPPED];
static gint   n_mapped;   /* atomic: 0 lets bt_pixels_free skip the table */
static gint   use_memfd;  /* atomic */

void
bt_pixels_use_memfd (gboolean value)
{
  g_atomic_int_set (&use_memfd, value ? 1 : 0);
}

/* A fresh memfd of n bytes mapped shared and already populated (one system call instead of a
 * page fault per 4 KB), or NULL: not in the helper, small, or out of memory or slots. */
static guint8 *
memfd_alloc (gsize n)
{
  if (!g_atomic_int_get (&use_memfd) || n < BT_PIXELS_MEMFD_MIN)
    return NULL;
  int fd = memfd_create ("bottega-pixels", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0)
    return NULL;
  void *m = MAP_FAILED;
  if (ftruncate (fd, (off_t) n) == 0)
    m = mmap (NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
  if (m == MAP_FAILED)
    {
      close (fd);
      return NULL;
    }
  g_mutex_lock (&mapped_lock);
  for (guint i = 0; i < MAX_MAPPED; i++)
    if (mapped[i].ptr == NULL)
      {
        mapped[i] = (Mapped) { m, n, fd };
        g_atomic_int_inc (&n_mapped);
        g_mutex_unlock (&mapped_lock);
        return m;
      }
  g_mutex_unlock (&mapped_lock);
  munmap (m, n);
  close (fd);
  return NULL;
}

guint8 *
bt_pixels_alloc (gsize n)
{
  guint8 *p = memfd_alloc (n);
  return p != NULL ? p : g_malloc (n);
}

guint8 *
bt_pixels_try_alloc (gsize n)
{
  guint8 *p = memfd_alloc (n);
  return p != NULL ? p : g_try_malloc (n);
}

/* p's slot, taken out of the table (TRUE), or FALSE: p came from the heap. */
static gboolean
take (const guint8 *p, Mapped *out)
{
  if (g_atomic_int_get (&n_mapped) == 0)
    return FALSE;
  gboolean found = FALSE;
  g_mutex_lock (&mapped_lock);
  for (guint i = 0; i < MAX_MAPPED && !found; i++)
    if (mapped[i].ptr == p)
      {
        *out = mapped[i];
        mapped[i].ptr = NULL;
        g_atomic_int_dec_and_test (&n_mapped);
        found = TRUE;
      }
  g_mutex_unlock (&mapped_lock);
  return found;
}

void
bt_pixels_free (guint8 *p)
{
  Mapped m;
  if (p == NULL)
    return;
  if (!take (p, &m))
    {
      g_free (p);
      return;
    }
  munmap (m.ptr, m.len);
  close (m.fd);
}

guint8 *
bt_pixels_shrink (guint8 *p, gsize n)
{
  g_return_val_if_fail (n > 0, p);
  if (p != NULL && g_atomic_int_get (&n_mapped) > 0)
    {
      g_mutex_lock (&mapped_lock);
      for (guint i = 0; i < MAX_MAPPED; i++)
        if (mapped[i].ptr == p)
          {
            /* in place: the tail pages unmapped (the file is cut to size when handed out) */
            if (n < mapped[i].len && mremap (p, mapped[i].len, n, 0) == p)
              mapped[i].len = n;
            g_mutex_unlock (&mapped_lock);
            return p;
          }
      g_mutex_unlock (&mapped_lock);
    }
  return g_realloc (p, n);
}

gboolean
bt_pixels_steal_memfd (guint8 *p, gsize n, int *fd)
{
  Mapped m;
  *fd = -1;
  if (p == NULL || !take (p, &m))
    return FALSE;
  /* unmapped first: a memfd with a writable shared mapping cannot be sealed against writes */
  munmap (m.ptr, m.len);
  if (n == 0 || n > m.len)
    errno = EINVAL;  /* a caller's bug: never more bytes than the buffer holds */
  else if (ftruncate (m.fd, (off_t) n) == 0)
    {
      *fd = m.fd;
      return TRUE;
    }
  int e = errno;
  close (m.fd);
  errno = e;
  return TRUE;
}
