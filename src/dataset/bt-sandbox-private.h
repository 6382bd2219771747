/* bt-sandbox-private.h: the wire format between bt-sandbox.c and its helper process. */
#pragma once

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <glib.h>

#include "dataset/bt-dataset.h"

#define BT_SANDBOX_MAGIC    0x42544453u  /* "BTDS" */
#define BT_SANDBOX_MAX_AS   ((guint64) 2048 * 1024 * 1024)
/* Pixels up to this many bytes come back in the reply's own message, not in a memfd: a memfd
 * a file cost the import check of small images more than the decode (docs/PERFORMANCE.md).
 * Well under the socket's default send buffer (~208 KiB). */
#define BT_SANDBOX_INLINE_MAX ((gsize) 64 * 1024)
#define BT_SANDBOX_MAX_CPU_S 600          /* a helper's lifetime total; the parent also times out each request */

/* What a request asks for besides the pixels */
enum {
  BT_SANDBOX_PROBE = 1 << 0,  /* the header only: info, no pixels */
  BT_SANDBOX_HASH  = 1 << 1,  /* the file's content hash (bt_hash_bytes) too */
};

typedef struct {
  guint32 magic;
  guint32 want_channels;
  gint32  min_w, min_h;   /* as bt_image_decode's */
  guint32 flags;          /* BT_SANDBOX_PROBE | BT_SANDBOX_HASH */
  guint32 pad;
  guint64 pixel_budget;   /* the parent's bt_image_get_pixel_budget () */
} BtSandboxRequest;

typedef struct {
  guint32 magic;
  gint32  status;       /* 0: pixels in the memfd that comes with it (none for a probe) */
  guint32 reason;       /* BtSkipReason when status != 0 */
  guint32 code;         /* BtDatasetError when status != 0 */
  gint32  width, height, channels;
  gint32  confined;     /* the seccomp filter is on */
  gint32  opened_path;  /* test hook "open": fopen succeeded (it must not) */
  gint32  info_width, info_height, info_orientation;  /* BtDecodeInfo */
  guint32 info_flags;
  guint32 inline_len;   /* status 0, no memfd: the pixels follow the reply in the same message */
  guint32 pad;
  char    info_format[8];
  guint64 hash;         /* BT_SANDBOX_HASH */
  char    message[256];
} BtSandboxReply;

/* One message with an optional descriptor (fd < 0: none) over the SOCK_SEQPACKET socket. */
static inline gboolean
bt_sandbox_send2 (int sock, const void *buf, gsize len, const void *tail, gsize tail_len, int fd)
{
  char cbuf[CMSG_SPACE (sizeof (int))];
  memset (cbuf, 0, sizeof cbuf);
  struct iovec iov[2] = { { (void *) buf, len }, { (void *) tail, tail_len } };
  struct msghdr msg = { 0 };
  msg.msg_iov = iov;
  msg.msg_iovlen = tail_len > 0 ? 2 : 1;
  if (fd >= 0)
    {
      msg.msg_control = cbuf;
      msg.msg_controllen = sizeof cbuf;
      struct cmsghdr *c = CMSG_FIRSTHDR (&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN (sizeof (int));
      memcpy (CMSG_DATA (c), &fd, sizeof (int));
    }
  ssize_t n;
  do
    n = sendmsg (sock, &msg, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  return n == (ssize_t) (len + tail_len);
}

static inline gboolean
bt_sandbox_send (int sock, const void *buf, gsize len, int fd)
{
  return bt_sandbox_send2 (sock, buf, len, NULL, 0, fd);
}

/* Receives one message of exactly len bytes, or with tail (may be NULL) len and then up to
 * tail_cap more, their count in *tail_len; *fd: the descriptor that came with it, or -1.
 * FALSE (and no descriptor left open) on anything else, a message longer than that too. */
static inline gboolean
bt_sandbox_recv2 (int sock, void *buf, gsize len, void *tail, gsize tail_cap, gsize *tail_len, int *fd, int flags)
{
  char cbuf[CMSG_SPACE (sizeof (int))];
  struct iovec iov[2] = { { buf, len }, { tail, tail_cap } };
  struct msghdr msg = { 0 };
  msg.msg_iov = iov;
  msg.msg_iovlen = tail != NULL && tail_cap > 0 ? 2 : 1;
  msg.msg_control = cbuf;
  msg.msg_controllen = sizeof cbuf;
  ssize_t n;
  do
    n = recvmsg (sock, &msg, MSG_CMSG_CLOEXEC | flags);
  while (n < 0 && errno == EINTR);
  *fd = -1;
  struct cmsghdr *c = n >= 0 ? CMSG_FIRSTHDR (&msg) : NULL;
  if (c != NULL && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
    memcpy (fd, CMSG_DATA (c), sizeof (int));
  if (tail_len != NULL)
    *tail_len = n > (ssize_t) len ? (gsize) n - len : 0;
  if (n < (ssize_t) len || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
      (n > (ssize_t) len && msg.msg_iovlen == 1))
    {
      if (*fd >= 0)
        close (*fd);
      *fd = -1;
      return FALSE;
    }
  return TRUE;
}

static inline gboolean
bt_sandbox_recv (int sock, void *buf, gsize len, int *fd, int flags)
{
  return bt_sandbox_recv2 (sock, buf, len, NULL, 0, NULL, fd, flags);
}

/* The sandbox's one request (bt-sandbox.c): decode (or with BT_SANDBOX_PROBE, only read the
 * header of) the file behind fd in a helper; *image (not for a probe), info and hash may be
 * NULL. name (may be NULL) prefixes error messages. */
gboolean bt_sandbox_decode_full (int fd, const char *name, int want_channels, int min_w, int min_h, guint flags,
                                 BtImage **image, BtDecodeInfo *info, guint64 *hash, BtSkipReason *reason,
                                 GError **error);
/* The bytes in a sealed-off memfd to hand to a helper (-1 with error set on failure). */
int      bt_sandbox_memfd_from_bytes (const guint8 *data, gsize len, BtSkipReason *reason, GError **error);
