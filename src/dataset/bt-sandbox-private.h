/* bt-sandbox-private.h: the wire format between bt-sandbox.c and its helper process. */
#pragma once

#include <glib.h>

#define BT_SANDBOX_MAGIC    0x42544453u  /* "BTDS" */
#define BT_SANDBOX_MAX_AS   ((guint64) 2048 * 1024 * 1024)
#define BT_SANDBOX_MAX_CPU_S 600          /* a helper's lifetime total; the parent also times out each request */

typedef struct {
  guint32 magic;
  guint32 want_channels;
} BtSandboxRequest;

typedef struct {
  guint32 magic;
  gint32  status;       /* 0: pixels in the memfd that comes with it */
  guint32 reason;       /* BtSkipReason when status != 0 */
  gint32  width, height, channels;
  gint32  confined;     /* the seccomp filter is on */
  gint32  opened_path;  /* test hook "open": fopen succeeded (it must not) */
  char    message[256];
} BtSandboxReply;
