/* bt-decoder-helper.c: bottega-decoder, the helper process of the decoder sandbox
 * (bt-sandbox.c). It receives a file descriptor and a channel count on fd 3 (a SOCK_SEQPACKET
 * socket), decodes with the data layer's decoder, and sends the pixels back: up to
 * BT_SANDBOX_INLINE_MAX bytes in the reply's own message, more in a memfd (for a large image
 * the very one the decoder wrote into: bt-pixels.c). Before
 * its first request it limits its address space and CPU time, lowers its priority (nice +10
 * from the app's; not with --foreground, for the decodes someone waits for at the window) and, with libseccomp, confines itself to the system calls decoding needs: it
 * cannot open a path, create a socket or run a program, so a decoder bug that takes control of
 * it can do little but crash it. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef HAVE_LIBSECCOMP
#include <seccomp.h>
#endif

#include "dataset/bt-dataset-private.h"
#include "dataset/bt-decode-private.h"
#include "dataset/bt-sandbox-private.h"

static int
recv_request (int sock, BtSandboxRequest *req, int *fd)
{
  if (!bt_sandbox_recv (sock, req, sizeof *req, fd, 0))
    return -1;
  if (req->magic != BT_SANDBOX_MAGIC || *fd < 0)
    {
      if (*fd >= 0)
        close (*fd);
      return -1;
    }
  return 0;
}

static void
send_reply (int sock, const BtSandboxReply *reply, int fd)
{
  bt_sandbox_send (sock, reply, sizeof *reply, fd);
}

/* Pixels small enough to go in the reply's own message (BT_SANDBOX_INLINE_MAX): the image's
 * buffer handed to the caller to send and bt_pixels_free. NULL: they go in a memfd. */
static guint8 *
take_inline_pixels (BtImage *img, BtSandboxReply *reply)
{
  gsize n = (gsize) img->width * img->height * img->channels;
  if (n == 0 || n > BT_SANDBOX_INLINE_MAX)
    return NULL;
  reply->inline_len = (guint32) n;
  return g_steal_pointer (&img->pixels);
}

static void
limit_resources (void)
{
  /* the pixel budget (50 MP × 4 bytes, twice: decoded + converted) plus the file and the
   * decoders' own tables */
#if !defined(__SANITIZE_ADDRESS__)
  /* (an AddressSanitizer build reserves terabytes of address space: no cap there) */
  struct rlimit as = { BT_SANDBOX_MAX_AS, BT_SANDBOX_MAX_AS };
  setrlimit (RLIMIT_AS, &as);
#endif
  struct rlimit cpu = { BT_SANDBOX_MAX_CPU_S, BT_SANDBOX_MAX_CPU_S + 5 };
  setrlimit (RLIMIT_CPU, &cpu);
  struct rlimit core = { 0, 0 };
  setrlimit (RLIMIT_CORE, &core);
  struct rlimit nofile = { 16, 16 };
  setrlimit (RLIMIT_NOFILE, &nofile);
}

/* Decoding is background work (an import's checks, the training cache, thumbnails): ten nice
 * levels below the app's main thread, as the in-process checkers ran, so that a folder of
 * photos being checked does not hold the window's frames. The decoders' own threads, made
 * later, inherit it. Done before the seccomp filter, which does not allow setpriority. */
static void
lower_priority (void)
{
  errno = 0;
  int app = getpriority (PRIO_PROCESS, (id_t) getppid ());
  if (errno != 0)
    app = 0;
  int want = MIN (app + 10, 19);
  errno = 0;
  int now = getpriority (PRIO_PROCESS, 0);
  /* spawned from a thread already lowered (a scan checker), it may be there: never raised */
  if (errno == 0 && now < want && setpriority (PRIO_PROCESS, 0, want) != 0)
    g_debug ("setpriority: %s", g_strerror (errno));
}

static gboolean
confine (void)
{
#ifdef HAVE_LIBSECCOMP
  scmp_filter_ctx ctx = seccomp_init (SCMP_ACT_KILL_PROCESS);
  if (ctx == NULL)
    return FALSE;
  static const int allowed[] = {
    SCMP_SYS (read), SCMP_SYS (pread64), SCMP_SYS (write), SCMP_SYS (close), SCMP_SYS (fstat),
    SCMP_SYS (newfstatat), SCMP_SYS (lseek), SCMP_SYS (mmap), SCMP_SYS (munmap),
    SCMP_SYS (mremap), SCMP_SYS (mprotect), SCMP_SYS (brk), SCMP_SYS (madvise), SCMP_SYS (futex),
    SCMP_SYS (recvmsg), SCMP_SYS (sendmsg), SCMP_SYS (memfd_create), SCMP_SYS (ftruncate),
    SCMP_SYS (exit), SCMP_SYS (exit_group), SCMP_SYS (rt_sigreturn), SCMP_SYS (rt_sigprocmask),
    SCMP_SYS (rt_sigaction), SCMP_SYS (getrandom), SCMP_SYS (clock_gettime), SCMP_SYS (gettid),
    SCMP_SYS (getpid), SCMP_SYS (tgkill), SCMP_SYS (sched_yield), SCMP_SYS (fcntl),
    /* decoders with worker threads (libheif/libde265) and what glibc asks of a new thread */
    SCMP_SYS (set_robust_list), SCMP_SYS (rseq), SCMP_SYS (sched_getaffinity), SCMP_SYS (sysinfo),
    SCMP_SYS (prlimit64), SCMP_SYS (getrlimit), SCMP_SYS (nanosleep), SCMP_SYS (clock_nanosleep),
    SCMP_SYS (munlock), SCMP_SYS (mlock),
    SCMP_SYS (sigaltstack),  /* a new thread's signal stack (glibc, and AddressSanitizer on every thread) */
  };
  gboolean ok = TRUE;
  for (guint i = 0; i < G_N_ELEMENTS (allowed); i++)
    ok = ok && seccomp_rule_add (ctx, SCMP_ACT_ALLOW, allowed[i], 0) == 0;
  /* threads, never processes: clone only with CLONE_THREAD; clone3 (whose flags seccomp cannot
   * see) answers ENOSYS, and glibc falls back to clone */
  ok = ok && seccomp_rule_add (ctx, SCMP_ACT_ALLOW, SCMP_SYS (clone), 1,
                               SCMP_A0 (SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD)) == 0;
  ok = ok && seccomp_rule_add (ctx, SCMP_ACT_ERRNO (ENOSYS), SCMP_SYS (clone3), 0) == 0;
  /* dav1d names its worker threads */
  ok = ok && seccomp_rule_add (ctx, SCMP_ACT_ALLOW, SCMP_SYS (prctl), 1,
                               SCMP_A0 (SCMP_CMP_EQ, PR_SET_NAME)) == 0;
  /* opening a path fails cleanly instead of killing: a library probing for a config file */
  ok = ok && seccomp_rule_add (ctx, SCMP_ACT_ERRNO (EACCES), SCMP_SYS (openat), 0) == 0;
  ok = ok && seccomp_rule_add (ctx, SCMP_ACT_ERRNO (EACCES), SCMP_SYS (open), 0) == 0;
  ok = ok && seccomp_load (ctx) == 0;
  seccomp_release (ctx);
  return ok;
#else
  return FALSE;
#endif
}

static guint8 *
read_fd (int fd, gsize *len, BtSandboxReply *reply)
{
  struct stat st;
  if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode))
    {
      reply->reason = BT_SKIP_SPECIAL;
      reply->code = BT_DATASET_ERROR_UNSUPPORTED;
      g_strlcpy (reply->message, "not a regular file", sizeof reply->message);
      return NULL;
    }
  if ((guint64) st.st_size > BT_MAX_FILE_BYTES)
    {
      reply->reason = BT_SKIP_TOO_LARGE;
      reply->code = BT_DATASET_ERROR_TOO_LARGE;
      g_strlcpy (reply->message, "The file is too large", sizeof reply->message);
      return NULL;
    }
  gsize cap = (gsize) st.st_size;
  guint8 *data = g_malloc (MAX (cap, 1));
  gsize done = 0;
  while (done < cap)
    {
      ssize_t r = pread (fd, data + done, cap - done, (off_t) done);
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        {
          reply->reason = BT_SKIP_UNREADABLE;
          reply->code = BT_DATASET_ERROR_IO;
          g_strlcpy (reply->message, g_strerror (errno), sizeof reply->message);
          g_free (data);
          return NULL;
        }
      if (r == 0)
        break;
      done += (gsize) r;
    }
  *len = done;
  return data;
}

/* test-only: a decoder that crashes, never returns, lies about its pixels or tries to open a
 * path. TRUE: answered. */
static gboolean
run_test_hook (const char *hook, const guint8 *data, gsize len, int sock, BtSandboxReply *reply)
{
  if (hook == NULL || data == NULL || len < 7)
    return FALSE;
  if (strstr (hook, "crash") != NULL && memcmp (data, "BTCRASH", 7) == 0)
    abort ();
  if (strstr (hook, "loop") != NULL && memcmp (data, "BTLOOP!", 7) == 0)
    for (volatile guint64 spin = 0;; spin++)
      ;
  if (strstr (hook, "lie") != NULL && (memcmp (data, "BTLIE1!", 7) == 0 || memcmp (data, "BTLIE2!", 7) == 0))
    {
      /* a hijacked helper's reply: 1, fewer inline bytes than it claims; 2, more than the app
       * takes inline */
      gboolean more = data[5] == '2';
      reply->width = more ? 256 : 10;
      reply->height = more ? 257 : 10;
      reply->channels = 1;
      reply->inline_len = (guint32) (reply->width * reply->height);
      gsize n = more ? reply->inline_len : reply->inline_len / 2;
      g_autofree guint8 *tail = g_malloc0 (n);
      bt_sandbox_send2 (sock, reply, sizeof *reply, tail, n, -1);
      return TRUE;
    }
  if (strstr (hook, "open") != NULL && memcmp (data, "BTOPEN!", 7) == 0)
    {
      FILE *f = fopen ("/etc/passwd", "r");
      reply->opened_path = f != NULL;
      if (f)
        fclose (f);
      reply->status = 1;
      reply->reason = BT_SKIP_NOT_IMAGE;
      g_strlcpy (reply->message, f ? "the helper opened a path" : "the helper could not open a path",
                 sizeof reply->message);
      send_reply (sock, reply, -1);
      return TRUE;
    }
  return FALSE;
}

/* The pixels as a sealed memfd (-1 on failure, with the reply saying why). A large image's
 * buffer already is one (bt-pixels.c) and goes as it is; a small one is written into a new one. */
static int
pixels_to_memfd (BtImage *img, BtSandboxReply *reply)
{
  gsize n = (gsize) img->width * img->height * img->channels;
  int out = -1;
  gboolean ok;
  if (bt_pixels_steal_memfd (img->pixels, n, &out))
    {
      img->pixels = NULL;
      ok = out >= 0;
    }
  else
    {
      out = memfd_create ("bottega-pixels", MFD_CLOEXEC | MFD_ALLOW_SEALING);
      ok = out >= 0 && ftruncate (out, (off_t) n) == 0;
      for (gsize w = 0; ok && w < n;)
        {
          ssize_t r = write (out, img->pixels + w, n - w);
          if (r < 0 && errno == EINTR)
            continue;
          ok = r > 0;
          w += r > 0 ? (gsize) r : 0;
        }
    }
  /* sealed: the parent may map it and trust that it never shrinks (no SIGBUS) nor changes */
  if (ok && fcntl (out, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0)
    g_debug ("memfd seals: %s", g_strerror (errno));
  if (ok)
    return out;
  reply->status = 1;
  reply->reason = BT_SKIP_UNREADABLE;
  reply->code = BT_DATASET_ERROR_IO;
  g_strlcpy (reply->message, g_strerror (errno), sizeof reply->message);
  if (out >= 0)
    close (out);
  return -1;
}

/* One request: decode (or probe) the file behind fd; the reply and its memfd (or -1), or its
 * pixels in *tail (reply->inline_len bytes, the caller frees them). */
static int
handle (const BtSandboxRequest *req, int fd, const char *hook, int sock, BtSandboxReply *reply, guint8 **tail)
{
  gsize len = 0;
  g_autofree guint8 *data = read_fd (fd, &len, reply);
  close (fd);
  if (data == NULL)
    {
      reply->status = 1;
      return -1;
    }
  if (run_test_hook (hook, data, len, sock, reply))
    return -2;
  if (req->flags & BT_SANDBOX_HASH)
    reply->hash = bt_hash_bytes (data, len);
  bt_image_set_pixel_budget (req->pixel_budget);
  BtSkipReason reason = BT_SKIP_UNREADABLE;
  g_autoptr(GError) error = NULL;
  BtDecodeInfo info = { 0 };
  g_autoptr(BtImage) img = NULL;
  gboolean ok;
  if (req->flags & BT_SANDBOX_PROBE)
    ok = bt_image_probe_bytes (data, len, &info.width, &info.height, &info.format, &reason, &error);
  else
    ok = (img = bt_image_decode (data, len, (int) req->want_channels, req->min_w, req->min_h, &info,
                                 &reason, &error)) != NULL;
  if (!ok)
    {
      reply->status = 1;
      reply->reason = reason;
      reply->code = error != NULL && error->domain == BT_DATASET_ERROR ? (guint32) error->code
                                                                        : BT_DATASET_ERROR_CORRUPT;
      g_strlcpy (reply->message, error ? error->message : "unreadable", sizeof reply->message);
      return -1;
    }
  reply->info_width = info.width;
  reply->info_height = info.height;
  reply->info_orientation = info.orientation;
  reply->info_flags = info.flags;
  g_strlcpy (reply->info_format, info.format ? info.format : "", sizeof reply->info_format);
  if (img == NULL)
    return -1;
  reply->width = img->width;
  reply->height = img->height;
  reply->channels = img->channels;
  if ((*tail = take_inline_pixels (img, reply)) != NULL)
    return -1;
  return pixels_to_memfd (img, reply);
}

int
main (int argc, char **argv)
{
  const int sock = 3;
  signal (SIGPIPE, SIG_IGN);
  bt_image_set_in_process (TRUE);  /* this is where the decoding happens */
  bt_pixels_use_memfd (TRUE);      /* large pixels decoded straight into what goes back */
  limit_resources ();
  /* a foreground helper decodes what someone waits for at the window (bt-sandbox.c) */
  if (argc < 2 || g_strcmp0 (argv[1], "--foreground") != 0)
    lower_priority ();
#if DEVELOPMENT
  const char *hook = g_getenv ("BT_DECODER_TEST_HOOK");  /* tests only: see test-sandbox.c */
#else
  const char *hook = NULL;
#endif
  gboolean confined = confine ();
  if (!confined && g_getenv ("BT_DECODER_REQUIRE_SECCOMP") != NULL)
    return 3;
  for (;;)
    {
      BtSandboxRequest req;
      int fd = -1;
      if (recv_request (sock, &req, &fd) != 0)
        return 0;  /* the parent went away or spoke nonsense: done */
      BtSandboxReply reply = { 0 };
      reply.magic = BT_SANDBOX_MAGIC;
      reply.confined = confined;
      guint8 *tail = NULL;
      int out = handle (&req, fd, hook, sock, &reply, &tail);
      if (out == -2)
        continue;  /* a test hook answered */
      bt_sandbox_send2 (sock, &reply, sizeof reply, tail, tail != NULL ? reply.inline_len : 0, out);
      bt_pixels_free (tail);
      if (out >= 0)
        close (out);
    }
}
