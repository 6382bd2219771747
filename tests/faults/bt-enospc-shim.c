/* bt-enospc-shim.c: LD_PRELOAD library that makes the disk look full for some files.
 * BT_ENOSPC_MATCH: a substring of the paths concerned (default: every regular file);
 * BT_ENOSPC_AFTER: bytes such files may still take in all (default 0). Past that, write,
 * pwrite, writev, fallocate and posix_fallocate fail with ENOSPC, as on a full disk. For the
 * fault-injection tests when they cannot mount a small tmpfs (not root). */
/* both the plain and the 64-bit names are defined here, so no redirection of one to the other */
#undef _FILE_OFFSET_BITS
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

static long long budget = -1;  /* -1: not read yet */
static const char *match;

static int
concerned (int fd)
{
  struct stat st;
  if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode))
    return 0;
  if (budget < 0)
    {
      const char *a = getenv ("BT_ENOSPC_AFTER");
      budget = a ? atoll (a) : 0;
      match = getenv ("BT_ENOSPC_MATCH");
    }
  if (match == NULL || *match == '\0')
    return 1;
  char link[64], path[4096];
  snprintf (link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink (link, path, sizeof path - 1);
  if (n <= 0)
    return 0;
  path[n] = '\0';
  return strstr (path, match) != NULL;
}

/* How many of len bytes may go to fd: len, fewer (a short write), or -1 with ENOSPC. */
static long long
allow (int fd, size_t len)
{
  if (len == 0 || !concerned (fd))
    return (long long) len;
  if (budget <= 0)
    {
      errno = ENOSPC;
      return -1;
    }
  long long n = (long long) len < budget ? (long long) len : budget;
  budget -= n;
  return n;
}

ssize_t
write (int fd, const void *buf, size_t len)
{
  static ssize_t (*real) (int, const void *, size_t);
  if (!real)
    real = dlsym (RTLD_NEXT, "write");
  long long n = allow (fd, len);
  return n < 0 ? -1 : real (fd, buf, (size_t) n);
}

ssize_t
pwrite (int fd, const void *buf, size_t len, off_t off)
{
  static ssize_t (*real) (int, const void *, size_t, off_t);
  if (!real)
    real = dlsym (RTLD_NEXT, "pwrite");
  long long n = allow (fd, len);
  return n < 0 ? -1 : real (fd, buf, (size_t) n, off);
}

ssize_t
pwrite64 (int fd, const void *buf, size_t len, off64_t off)
{
  static ssize_t (*real) (int, const void *, size_t, off64_t);
  if (!real)
    real = dlsym (RTLD_NEXT, "pwrite64");
  long long n = allow (fd, len);
  return n < 0 ? -1 : real (fd, buf, (size_t) n, off);
}

ssize_t
writev (int fd, const struct iovec *iov, int cnt)
{
  static ssize_t (*real) (int, const struct iovec *, int);
  if (!real)
    real = dlsym (RTLD_NEXT, "writev");
  size_t len = 0;
  for (int i = 0; i < cnt; i++)
    len += iov[i].iov_len;
  long long n = allow (fd, len);
  if (n < 0)
    return -1;
  if ((size_t) n < len)
    {
      /* a short write of the first n bytes, through plain write */
      ssize_t done = 0;
      for (int i = 0; i < cnt && n > 0; i++)
        {
          size_t part = iov[i].iov_len < (size_t) n ? iov[i].iov_len : (size_t) n;
          static ssize_t (*wr) (int, const void *, size_t);
          if (!wr)
            wr = dlsym (RTLD_NEXT, "write");
          ssize_t w = wr (fd, iov[i].iov_base, part);
          if (w < 0)
            return done ? done : -1;
          done += w;
          n -= w;
        }
      return done;
    }
  return real (fd, iov, cnt);
}

int
fallocate (int fd, int mode, off_t off, off_t len)
{
  static int (*real) (int, int, off_t, off_t);
  if (!real)
    real = dlsym (RTLD_NEXT, "fallocate");
  if (concerned (fd) && (long long) len > budget)
    {
      errno = ENOSPC;
      return -1;
    }
  return real (fd, mode, off, len);
}

int
fallocate64 (int fd, int mode, off64_t off, off64_t len)
{
  static int (*real) (int, int, off64_t, off64_t);
  if (!real)
    real = dlsym (RTLD_NEXT, "fallocate64");
  if (concerned (fd) && (long long) len > budget)
    {
      errno = ENOSPC;
      return -1;
    }
  return real (fd, mode, off, len);
}

int
posix_fallocate (int fd, off_t off, off_t len)
{
  static int (*real) (int, off_t, off_t);
  if (!real)
    real = dlsym (RTLD_NEXT, "posix_fallocate");
  if (concerned (fd) && (long long) len > budget)
    return ENOSPC;
  return real (fd, off, len);
}

int
posix_fallocate64 (int fd, off64_t off, off64_t len)
{
  static int (*real) (int, off64_t, off64_t);
  if (!real)
    real = dlsym (RTLD_NEXT, "posix_fallocate64");
  if (concerned (fd) && (long long) len > budget)
    return ENOSPC;
  return real (fd, off, len);
}
