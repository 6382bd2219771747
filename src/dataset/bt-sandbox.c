/* bt-sandbox.c: "decode these bytes" in a pool of long-lived helper processes (bottega-decoder,
 * bt-decoder-helper.c), in the manner of GNOME's glycin. The parent opens the file and passes
 * the descriptor; the helper, confined by seccomp and resource limits, sends the pixels back
 * in the reply's own message when small (BT_SANDBOX_INLINE_MAX), else in a memfd. A helper that crashes, overruns its limits or takes longer than the timeout is
 * killed and replaced; the file is reported as "could not be decoded safely". */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <glib/gi18n-lib.h>

#include "dataset/bt-dataset-private.h"
#include "dataset/bt-sandbox-private.h"

typedef struct {
  GPid pid;     /* 0: not running */
  int  sock;    /* -1: not running */
  gboolean busy;
  gboolean foreground;  /* started at the app's priority (bt_image_set_thread_foreground) */
} Helper;

/* The pool: background helpers (one a core, up to 4: imports, training, thumbnails) at ten
 * nice levels below the app, then FOREGROUND_HELPERS at its own priority for decodes someone is
 * waiting for at the window. A niced helper cannot be raised back, hence two kinds. */
#define FOREGROUND_HELPERS 1
static GPrivate thread_foreground;

static GMutex   pool_lock;
static GCond    pool_cond;
static Helper  *helpers;
static guint    n_helpers;
static char    *helper_path;
static gint64   timeout_ms = 20000;
static guint    n_restarts;
static gint     last_confined = -1;

void
bt_sandbox_set_helper_path (const char *path)
{
  g_mutex_lock (&pool_lock);
  g_free (helper_path);
  helper_path = g_strdup (path);
  g_mutex_unlock (&pool_lock);
}

void
bt_sandbox_set_timeout (guint milliseconds)
{
  g_mutex_lock (&pool_lock);
  timeout_ms = milliseconds;
  g_mutex_unlock (&pool_lock);
}

guint
bt_sandbox_get_n_restarts (void)
{
  g_mutex_lock (&pool_lock);
  guint n = n_restarts;
  g_mutex_unlock (&pool_lock);
  return n;
}

/* Once per process: decoding threads start helpers side by side (two of them racing here
 * each set the path, and LSan saw the first copy leak). */
static const char *
find_helper (void)
{
  static gsize found = 0;

  if (g_once_init_enter (&found))
    {
      g_mutex_lock (&pool_lock);
      const char *env = g_getenv ("BOTTEGA_DECODER");
      if (helper_path != NULL)
        ;   /* bt_sandbox_set_helper_path came first */
      else if (env != NULL && *env)
        helper_path = g_strdup (env);
      else if (g_file_test (BT_DECODER_HELPER_PATH, G_FILE_TEST_IS_EXECUTABLE))
        helper_path = g_strdup (BT_DECODER_HELPER_PATH);
      else
        {
          /* not installed: a program run from the build tree finds it in src/dataset, from
           * src/app or src/cli, from bench/ or tools/, or from tests/<layer>/ */
          static const char * const up[] = { "..", "../src", "../../src" };
          g_autofree char *exe = g_file_read_link ("/proc/self/exe", NULL);
          g_autofree char *dir = exe != NULL ? g_path_get_dirname (exe) : NULL;
          for (guint i = 0; dir != NULL && helper_path == NULL && i < G_N_ELEMENTS (up); i++)
            {
              g_autofree char *near = g_build_filename (dir, up[i], "dataset", "bottega-decoder", NULL);
              if (g_file_test (near, G_FILE_TEST_IS_EXECUTABLE))
                helper_path = g_steal_pointer (&near);
            }
          if (helper_path == NULL)
            helper_path = g_strdup (BT_DECODER_HELPER_PATH);
        }
      g_mutex_unlock (&pool_lock);
      g_once_init_leave (&found, 1);
    }
  return helper_path;
}

static void
helper_stop (Helper *h)
{
  if (h->sock >= 0)
    close (h->sock);
  h->sock = -1;
  if (h->pid > 0)
    {
      kill (h->pid, SIGKILL);
      waitpid (h->pid, NULL, 0);
    }
  h->pid = 0;
}

static gboolean
helper_start (Helper *h, GError **error)
{
  int sv[2];
  if (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
    {
      int e = errno;
      g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_IO, "socketpair: %s", g_strerror (e));
      return FALSE;
    }
  const char *argv[] = { find_helper (), h->foreground ? "--foreground" : NULL, NULL };
  /* not what the app was preloaded with (a test's ENOSPC shim, a profiler): the helper's
   * system calls are only what its filter allows */
  g_auto(GStrv) envp = g_environ_unsetenv (g_get_environ (), "LD_PRELOAD");
  gint source_fds[] = { sv[1] };
  gint target_fds[] = { 3 };
  GPid pid = 0;
  g_autoptr(GError) local = NULL;
  gboolean ok = g_spawn_async_with_pipes_and_fds (NULL, argv, (const char * const *) envp,
                                                   G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL,
                                                   NULL, NULL, -1, -1, -1, source_fds, target_fds, 1,
                                                   &pid, NULL, NULL, NULL, &local);
  close (sv[1]);
  if (!ok)
    {
      close (sv[0]);
      g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_IO,
                   _("The image decoder could not be started: %s"), local->message);
      return FALSE;
    }
  h->pid = pid;
  h->sock = sv[0];
  return TRUE;
}

gboolean
bt_image_set_thread_foreground (gboolean foreground)
{
  gboolean was = g_private_get (&thread_foreground) != NULL;
  g_private_set (&thread_foreground, foreground ? GINT_TO_POINTER (1) : NULL);
  return was;
}

gboolean
bt_image_get_thread_foreground (void)
{
  return g_private_get (&thread_foreground) != NULL;
}

static Helper *
take_helper (void)
{
  gboolean fg = g_private_get (&thread_foreground) != NULL;

  g_mutex_lock (&pool_lock);
  if (helpers == NULL)
    {
      guint n_bg = CLAMP (g_get_num_processors (), 1, 4);
      n_helpers = n_bg + FOREGROUND_HELPERS;
      helpers = g_new0 (Helper, n_helpers);
      for (guint i = 0; i < n_helpers; i++)
        {
          helpers[i].sock = -1;
          helpers[i].foreground = i >= n_bg;
        }
    }
  for (;;)
    {
      for (guint i = 0; i < n_helpers; i++)
        if (!helpers[i].busy && helpers[i].foreground == fg)
          {
            helpers[i].busy = TRUE;
            g_mutex_unlock (&pool_lock);
            return &helpers[i];
          }
      g_cond_wait (&pool_cond, &pool_lock);
    }
}

static void
give_back (Helper *h, gboolean broken)
{
  g_mutex_lock (&pool_lock);
  if (broken)
    {
      helper_stop (h);
      n_restarts++;  /* the next request starts a fresh one */
    }
  h->busy = FALSE;
  /* every waiter: one woken for a helper of the other kind (foreground or not) would wait on,
   * and the one this helper suits would sleep through its turn */
  g_cond_broadcast (&pool_cond);
  g_mutex_unlock (&pool_lock);
}

static gboolean
send_request (int sock, int fd, const BtSandboxRequest *req)
{
  return bt_sandbox_send (sock, req, sizeof *req, fd);
}

/* 1: reply read; 0: the helper died or timed out; the memfd (or -1) in *out_fd, and with tail
 * the bytes that followed the reply in its message (inline pixels; NULL when none) */
static int
recv_reply (int sock, BtSandboxReply *reply, int *out_fd, guint8 **tail, gsize *tail_len, gint64 timeout)
{
  struct pollfd p = { sock, POLLIN, 0 };
  gint64 end = g_get_monotonic_time () + timeout * 1000;
  for (;;)
    {
      gint64 left = (end - g_get_monotonic_time ()) / 1000;
      if (left <= 0)
        return 0;
      int r = poll (&p, 1, (int) MIN (left, G_MAXINT));
      if (r < 0 && errno == EINTR)
        continue;
      if (r <= 0)
        return 0;
      break;
    }
  guint8 *buf = tail != NULL ? g_malloc (BT_SANDBOX_INLINE_MAX) : NULL;
  gsize n = 0;
  if (!bt_sandbox_recv2 (sock, reply, sizeof *reply, buf, buf != NULL ? BT_SANDBOX_INLINE_MAX : 0, &n, out_fd,
                         MSG_DONTWAIT) ||
      reply->magic != BT_SANDBOX_MAGIC)
    {
      g_free (buf);
      if (*out_fd >= 0)
        close (*out_fd);
      *out_fd = -1;
      return 0;
    }
  reply->message[sizeof reply->message - 1] = '\0';
  if (tail != NULL)
    {
      *tail_len = n;
      *tail = n > 0 ? buf : NULL;
      if (n == 0)
        g_free (buf);
    }
  return 1;
}

static BtImage *
unsafe (const char *what, BtSkipReason *reason, GError **error)
{
  if (reason)
    *reason = BT_SKIP_CORRUPT;
  if (what == NULL)
    {
      g_set_error_literal (error, BT_DATASET_ERROR, BT_DATASET_ERROR_CORRUPT,
                           _("The image could not be decoded safely"));
      return NULL;
    }
  g_autofree char *display = g_filename_display_name (what);
  g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_CORRUPT,
               _("“%s” could not be decoded safely"), display);
  return NULL;
}

#define BIG_IMAGE_BYTES ((gsize) 1024 * 1024)

/* The size the reply claims for its pixels, 0 when it makes no sense. */
static gsize
reply_pixel_bytes (const BtSandboxReply *r)
{
  if (r->width <= 0 || r->height <= 0 || (r->channels != 1 && r->channels != 3) ||
      (guint64) r->width * r->height > BT_MAX_PIXELS)
    return 0;
  return (gsize) r->width * r->height * r->channels;
}

/* The pixels that came in the reply's message (tail, taken over): exactly what it claims. */
static BtImage *
image_from_tail (guint8 *tail, gsize tail_len, const BtSandboxReply *r)
{
  gsize n = reply_pixel_bytes (r);
  if (n == 0 || n != tail_len || r->inline_len != tail_len)
    {
      g_free (tail);
      return NULL;
    }
  BtImage *img = g_new0 (BtImage, 1);
  img->width = r->width;
  img->height = r->height;
  img->channels = r->channels;
  img->pixels = g_realloc (tail, n);
  return img;
}

/* The pixels from a memfd the helper filled: checked against what the reply claims. */
static BtImage *
image_from_memfd (int fd, const BtSandboxReply *r)
{
  gsize n = reply_pixel_bytes (r);
  if (n == 0)
    return NULL;
  struct stat st;
  if (fstat (fd, &st) != 0 || (guint64) st.st_size != n)
    return NULL;
  BtImage *img = g_new0 (BtImage, 1);
  img->width = r->width;
  img->height = r->height;
  img->channels = r->channels;
  const int seals = F_SEAL_SHRINK | F_SEAL_WRITE;
  if (n >= BIG_IMAGE_BYTES && (fcntl (fd, F_GET_SEALS) & seals) == seals)
    {
      /* a large image is used where the helper wrote it, not copied again; sealed, so the
       * helper (even a hijacked one) can neither shrink it under us (SIGBUS) nor change it.
       * Private: the caller may write to its pixels. */
      void *m = mmap (NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
      if (m != MAP_FAILED)
        {
          img->pixels = m;
          img->mapped_len = n;
          return img;
        }
    }
  img->pixels = g_malloc (n);
  gsize done = 0;
  while (done < n)
    {
      ssize_t k = pread (fd, img->pixels + done, n - done, (off_t) done);
      if (k < 0 && errno == EINTR)
        continue;
      if (k <= 0)
        {
          bt_image_free (img);
          return NULL;
        }
      done += (gsize) k;
    }
  return img;
}

/* The format name the helper sent, as the static string the in-process decoder would give. */
static const char *
known_format (const char *name)
{
  static const char * const formats[] = { "jpeg", "png", "webp", "heif", "avif", "tiff", "gif", "bmp", "tga" };
  for (guint i = 0; i < G_N_ELEMENTS (formats); i++)
    if (strcmp (name, formats[i]) == 0)
      return formats[i];
  return NULL;
}

/* Sends one request to a helper of the pool (a fresh one if the last died since) and waits for
 * its reply. FALSE: the helper crashed, hung or could not start (error set when it could not). */
static gboolean
exchange (int fd, const BtSandboxRequest *req, BtSandboxReply *reply, int *out, guint8 **tail, gsize *tail_len,
          gboolean *started, GError **error)
{
  Helper *h = take_helper ();
  g_mutex_lock (&pool_lock);
  gint64 timeout = timeout_ms;
  gboolean running = h->pid > 0;
  g_mutex_unlock (&pool_lock);
  *started = TRUE;
  if (!running && !helper_start (h, error))
    {
      give_back (h, FALSE);
      *started = FALSE;
      return FALSE;
    }
  /* a helper that died since its last request: one fresh try before giving up */
  gboolean sent = send_request (h->sock, fd, req);
  if (!sent)
    {
      give_back (h, TRUE);
      h = take_helper ();
      if (h->pid == 0 && !helper_start (h, error))
        {
          give_back (h, FALSE);
          *started = FALSE;
          return FALSE;
        }
      sent = send_request (h->sock, fd, req);
    }
  if (!sent || !recv_reply (h->sock, reply, out, tail, tail_len, timeout))
    {
      give_back (h, TRUE);
      return FALSE;
    }
  give_back (h, FALSE);
  g_atomic_int_set (&last_confined, reply->confined ? 1 : 0);
  return TRUE;
}

gboolean
bt_sandbox_decode_full (int fd, const char *name, int want_channels, int min_w, int min_h, guint flags,
                        BtImage **image, BtDecodeInfo *info, guint64 *hash, BtSkipReason *reason,
                        GError **error)
{
  g_return_val_if_fail (fd >= 0, FALSE);
  g_return_val_if_fail (want_channels == 1 || want_channels == 3, FALSE);
  g_return_val_if_fail ((flags & BT_SANDBOX_PROBE) || image != NULL, FALSE);
  BtSandboxRequest req = { BT_SANDBOX_MAGIC, (guint32) want_channels, MAX (min_w, 0), MAX (min_h, 0), flags, 0,
                           bt_image_get_pixel_budget () };
  BtSandboxReply reply = { 0 };
  int out = -1;
  g_autofree guint8 *tail = NULL;  /* pixels that came inline, in the reply's own message */
  gsize tail_len = 0;
  gboolean started;
  if (!exchange (fd, &req, &reply, &out, (flags & BT_SANDBOX_PROBE) ? NULL : &tail, &tail_len, &started, error))
    {
      if (!started)
        {
          if (reason)
            *reason = BT_SKIP_UNREADABLE;
          return FALSE;
        }
      unsafe (name, reason, error);
      return FALSE;
    }
  if (reply.status != 0)
    {
      if (out >= 0)
        close (out);
      if (reason)
        *reason = reply.reason <= BT_SKIP_HIDDEN ? (BtSkipReason) reply.reason : BT_SKIP_CORRUPT;
      int code = reply.code <= BT_DATASET_ERROR_CANCELLED ? (int) reply.code : BT_DATASET_ERROR_CORRUPT;
      if (name != NULL)
        {
          g_autofree char *display = g_filename_display_name (name);
          g_set_error (error, BT_DATASET_ERROR, code, "%s: %s", display, reply.message);
        }
      else
        g_set_error_literal (error, BT_DATASET_ERROR, code, reply.message);
      return FALSE;
    }
  reply.info_format[sizeof reply.info_format - 1] = '\0';
  if (info)
    {
      info->format = known_format (reply.info_format);
      info->width = reply.info_width;
      info->height = reply.info_height;
      info->orientation = reply.info_orientation;
      info->flags = reply.info_flags;
    }
  if (hash)
    *hash = reply.hash;
  if (flags & BT_SANDBOX_PROBE)
    {
      if (out >= 0)
        close (out);
      return TRUE;
    }
  BtImage *img = NULL;
  if (out >= 0)
    img = tail == NULL ? image_from_memfd (out, &reply) : NULL;
  else if (tail != NULL)
    img = image_from_tail (g_steal_pointer (&tail), tail_len, &reply);
  if (out >= 0)
    close (out);
  if (img == NULL)
    {
      unsafe (name, reason, error);
      return FALSE;
    }
  *image = img;
  return TRUE;
}

BtImage *
bt_sandbox_decode_fd (int fd, const char *name, int want_channels, BtSkipReason *reason, GError **error)
{
  BtImage *img = NULL;
  bt_sandbox_decode_full (fd, name, want_channels, 0, 0, 0, &img, NULL, NULL, reason, error);
  return img;
}

BtImage *
bt_sandbox_decode_file (const char *path, int want_channels, BtSkipReason *reason, GError **error)
{
  g_return_val_if_fail (path != NULL, NULL);
  int fd = bt_open_regular_file (path, BT_MAX_FILE_BYTES, NULL, reason, error);
  if (fd < 0)
    return NULL;
  BtImage *img = bt_sandbox_decode_fd (fd, path, want_channels, reason, error);
  close (fd);
  return img;
}

int
bt_sandbox_memfd_from_bytes (const guint8 *data, gsize len, BtSkipReason *reason, GError **error)
{
  int fd = memfd_create ("bottega-input", MFD_CLOEXEC);
  gboolean ok = fd >= 0 && ftruncate (fd, (off_t) len) == 0;
  for (gsize w = 0; ok && w < len;)
    {
      ssize_t r = pwrite (fd, data + w, len - w, (off_t) w);
      if (r < 0 && errno == EINTR)
        continue;
      ok = r > 0;
      w += r > 0 ? (gsize) r : 0;
    }
  if (ok)
    return fd;
  int e = errno;
  if (fd >= 0)
    close (fd);
  if (reason)
    *reason = BT_SKIP_UNREADABLE;
  g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_IO, "memfd: %s", g_strerror (e));
  return -1;
}

BtImage *
bt_sandbox_decode_bytes (const guint8 *data, gsize len, int want_channels, BtSkipReason *reason, GError **error)
{
  g_return_val_if_fail (data != NULL || len == 0, NULL);
  int fd = bt_sandbox_memfd_from_bytes (data, len, reason, error);
  if (fd < 0)
    return NULL;
  BtImage *img = bt_sandbox_decode_fd (fd, NULL, want_channels, reason, error);
  close (fd);
  return img;
}

int
bt_sandbox_get_confined (void)
{
  return g_atomic_int_get (&last_confined);
}

void
bt_sandbox_shutdown (void)
{
  g_mutex_lock (&pool_lock);
  for (guint i = 0; helpers != NULL && i < n_helpers; i++)
    {
      while (helpers[i].busy)
        g_cond_wait (&pool_cond, &pool_lock);
      helper_stop (&helpers[i]);
    }
  g_mutex_unlock (&pool_lock);
}
