/* bt-test-wait.h: the one way tests wait. BT_TEST_WAIT (expr) runs the main loop until expr holds
 * and fails loudly, naming expr, file and line, when BT_TEST_WAIT_SECONDS pass first: a hang
 * guard, never a timing. BT_TEST_WAIT_UP_TO (seconds, expr) is the same with a guard of its own
 * (a child process that trains first). bt_test_drain () dispatches what is already queued,
 * nothing more. Tests without a main loop use them too: the loop then only sleeps until the
 * next tick, when expr (a file, another thread's flag, a child's state) is read again. */
#pragma once

#include <glib.h>

/* Long enough for the sanitizer build on a loaded 2-core machine; meson's timeout is longer. */
#define BT_TEST_WAIT_SECONDS 60

/* How often expr is re-read when nothing else wakes the loop. */
#define BT_TEST_WAIT_TICK_MS 10

typedef struct
{
  gint64 end;
  int    seconds;
  guint  tick;
} BtTestDeadline;

static inline gboolean
bt_test_wait_tick_cb (gpointer data)
{
  return G_SOURCE_CONTINUE;   /* only wakes the loop so the deadline and other threads' flags are re-read */
}

static inline BtTestDeadline
bt_test_deadline_start (int seconds)
{
  BtTestDeadline d = { g_get_monotonic_time () + seconds * G_USEC_PER_SEC, seconds,
                       g_timeout_add (BT_TEST_WAIT_TICK_MS, bt_test_wait_tick_cb, NULL) };
  return d;
}

static inline void
bt_test_deadline_iterate (BtTestDeadline *d, const char *what, const char *file, int line)
{
  if (g_get_monotonic_time () > d->end)
    g_error ("%s:%d: still waiting for '%s' after %d s", file, line, what, d->seconds);
  g_main_context_iteration (NULL, TRUE);
}

static inline void
bt_test_deadline_end (BtTestDeadline *d)
{
  g_source_remove (d->tick);
}

#define BT_TEST_WAIT_UP_TO(seconds, expr)                                    \
  G_STMT_START {                                                             \
    BtTestDeadline bt_wait_d_ = bt_test_deadline_start (seconds);           \
    while (!(expr))                                                          \
      bt_test_deadline_iterate (&bt_wait_d_, #expr, __FILE__, __LINE__);     \
    bt_test_deadline_end (&bt_wait_d_);                                      \
  } G_STMT_END

#define BT_TEST_WAIT(expr) BT_TEST_WAIT_UP_TO (BT_TEST_WAIT_SECONDS, expr)

/* Runs the main loop until cond (data) holds (the callback form of BT_TEST_WAIT). */
#define bt_test_spin_until(cond, data) BT_TEST_WAIT ((cond) (data))

/* Dispatches every source that is ready now; returns without blocking. */
static inline void
bt_test_drain (void)
{
  while (g_main_context_iteration (NULL, FALSE))
    ;
}
