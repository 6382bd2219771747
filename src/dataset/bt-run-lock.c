/* bt-run-lock.c: one writer of a project's runs/ at a time. A trainer (the app's or the CLI's)
 * holds an flock on runs/.lock for as long as it writes there, and so does a hyper-parameter
 * search (bt-tune.c) for its tune-* folder, and the tidy-up for the moment it cleans runs/; a
 * second writer is refused with a message naming the holder and what it does. The kernel drops the lock when its process dies, so a lock left by
 * a killed trainer is taken over by the next without any age rule; the file's content (process
 * id and program) is only for the message. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>

#include "dataset/bt-dataset-private.h"

#define LOCK_NAME ".lock"

static const char * const kind_ids[] = { "train", "search", "tidy" };

/* "PID KIND PROGRAM" of the holder, from the lock file (best effort: FALSE when unreadable). A
 * line of a Bottega from before the kinds ("PID PROGRAM") is a training run's. */
static gboolean
read_holder (int fd, long *pid, BtRunLockKind *kind, char *program, gsize program_len)
{
  char buf[128];
  ssize_t n = pread (fd, buf, sizeof buf - 1, 0);
  if (n <= 0)
    return FALSE;
  buf[n] = '\0';
  char *end = NULL;
  long p = strtol (buf, &end, 10);
  if (end == buf || p <= 0)
    return FALSE;
  *pid = p;
  while (*end == ' ')
    end++;
  *kind = BT_RUN_LOCK_TRAIN;
  for (guint k = 0; k < G_N_ELEMENTS (kind_ids); k++)
    {
      gsize len = strlen (kind_ids[k]);
      if (strncmp (end, kind_ids[k], len) == 0 && end[len] == ' ')
        {
          *kind = (BtRunLockKind) k;
          end += len + 1;
          break;
        }
    }
  gsize i = 0;
  for (; end[i] != '\0' && end[i] != '\n' && i + 1 < program_len; i++)
    program[i] = g_ascii_isprint (end[i]) ? end[i] : '?';
  program[i] = '\0';
  return TRUE;
}

int
bt_run_lock_try (const char *project_dir, BtRunLockKind kind, GError **error)
{
  g_return_val_if_fail (project_dir != NULL, -1);
  g_return_val_if_fail ((guint) kind < G_N_ELEMENTS (kind_ids), -1);
  g_autofree char *runs = g_build_filename (project_dir, "runs", NULL);
  if (g_mkdir_with_parents (runs, 0755) != 0)
    {
      int e = errno;
      g_autofree char *display = g_filename_display_name (runs);
      g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_IO, _("Cannot create “%s”: %s"), display,
                   g_strerror (e));
      return -1;
    }
  g_autofree char *path = g_build_filename (runs, LOCK_NAME, NULL);
  int fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0)
    {
      int e = errno;
      g_autofree char *display = g_filename_display_name (path);
      g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_IO, _("Cannot open “%s”: %s"), display,
                   g_strerror (e));
      return -1;
    }
  int r, e = 0;
  long pid = 0;
  BtRunLockKind holder = BT_RUN_LOCK_TRAIN;
  char program[64] = "";
  gboolean known = FALSE;
  for (int attempt = 0;; attempt++)
    {
      r = flock (fd, LOCK_EX | LOCK_NB);
      e = errno;
      if (r == 0 || e == EINTR)
        {
          if (r == 0)
            break;
          continue;
        }
      known = e == EWOULDBLOCK && read_holder (fd, &pid, &holder, program, sizeof program);
      /* a tidy-up (bt_project_tidy) holds it for milliseconds, and so does this process's own
       * trainer as it ends: wait for them; and so for a holder that has not written its line
       * yet or has emptied it on release (the file is empty under the lock for a moment at both
       * ends: test-finetune met it). A search holds it for minutes: never waited for. */
      gboolean brief = !known || holder == BT_RUN_LOCK_TIDY ||
                       (holder == BT_RUN_LOCK_TRAIN && pid == (long) getpid ());
      if (e != EWOULDBLOCK || !brief || attempt >= 100)
        break;
      g_usleep (20 * 1000);
    }
  if (r != 0)
    {
      close (fd);
      if (e != EWOULDBLOCK)
        g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_IO, _("Cannot lock “%s”: %s"), path, g_strerror (e));
      else if (known && holder == BT_RUN_LOCK_SEARCH)
        g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_BUSY,
                     _("A search for the best settings is running in this project (%s, process %ld). Wait "
                       "until it ends or stop it, then start again."), program, pid);
      else if (known)
        g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_BUSY,
                     _("Another training run is writing to this project (%s, process %ld). Wait until it "
                       "ends or stop it, then start again."), program, pid);
      else
        g_set_error_literal (error, BT_DATASET_ERROR, BT_DATASET_ERROR_BUSY,
                             _("Another training run is writing to this project. Wait until it ends or stop "
                               "it, then start again."));
      return -1;
    }
  /* ours now (maybe taken over from a killed process): say who holds it */
  g_autofree char *line = g_strdup_printf ("%ld %s %s\n", (long) getpid (), kind_ids[kind],
                                           g_get_prgname () != NULL ? g_get_prgname () : "bottega");
  if (ftruncate (fd, 0) != 0 || pwrite (fd, line, strlen (line), 0) < 0)
    g_debug ("could not write %s", path);  /* the lock holds all the same */
  return fd;
}

void
bt_run_lock_release (int fd)
{
  if (fd < 0)
    return;
  /* the file stays: removing it would race with a trainer that just opened it */
  if (ftruncate (fd, 0) != 0)
    g_debug ("could not empty the run lock");
  close (fd);
}
