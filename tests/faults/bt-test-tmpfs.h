/* bt-test-tmpfs.h: a small tmpfs of the test's own, in a private mount namespace, to make a
 * real full disk (root only: CI runs as root); header only. */
#pragma once

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>
#include <glib.h>
#include <glib/gstdio.h>

/* Call before any thread starts (unshare of the mount namespace needs a single thread).
 * Returns FALSE when not root or the kernel refuses; *why says which. */
static inline gboolean
bt_test_private_mounts (const char **why)
{
  if (geteuid () != 0)
    {
      *why = "not root: cannot mount a small tmpfs";
      return FALSE;
    }
  if (unshare (CLONE_NEWNS) != 0 || mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
    {
      *why = "no private mount namespace (unshare refused)";
      return FALSE;
    }
  return TRUE;
}

/* A fresh tmpfs of size_bytes on a new temporary folder (NULL on failure). */
static inline char *
bt_test_mount_tmpfs (gsize size_bytes)
{
  g_autofree char *dir = g_dir_make_tmp ("bt-full-XXXXXX", NULL);
  if (dir == NULL)
    return NULL;
  g_autofree char *opts = g_strdup_printf ("size=%" G_GSIZE_FORMAT ",mode=0755", size_bytes);
  if (mount ("tmpfs", dir, "tmpfs", 0, opts) != 0)
    {
      g_rmdir (dir);
      return NULL;
    }
  return g_steal_pointer (&dir);
}

static inline void
bt_test_umount (const char *dir)
{
  umount2 (dir, MNT_DETACH);
  g_rmdir (dir);
}

/* Writes dir/filler until the disk is full; returns its path (remove it to free the space). */
static inline char *
bt_test_fill_disk (const char *dir)
{
  char *path = g_build_filename (dir, "filler", NULL);
  int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  g_assert_cmpint (fd, >=, 0);
  static char block[4096];
  for (gsize step = sizeof block; step > 0; step /= 2)
    while (write (fd, block, step) == (ssize_t) step)
      ;
  g_assert_cmpint (errno, ==, ENOSPC);
  close (fd);
  return path;
}
