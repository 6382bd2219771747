/* bt-test-wait.h: the one way tests wait. BT_TEST_WAIT (expr) runs the main loop until expr holds
 * and fails loudly, naming expr, file and line, when BT_TEST_WAIT_SECONDS pass first: a hang
 * guard, never a timing. bt_test_drain () dispatches what is already queued, nothing more. */
#pragma once

#include <glib.h>

/* Long enough for the sanitizer build on a loaded 2-core machine; meson's timeout is longer. */
#define BT_TEST_WAIT_SECONDS 60

typedef struct
{
  gint64 end;
  guint  tick;
} BtTestDeadline;

static inline gboolean
bt_test_wait_tick_cb (gpointer data)
{
  return G_SOURCE_CONTINUE;   /* only wakes the loop so the deadline and other threads' flags are re-read */
}

static inline BtTestDeadline
bt_test_deadline_start (void)
{
  BtTestDeadline d = { g_get_monotonic_time () + BT_TEST_WAIT_SECONDS * G_USEC_PER_SEC,
                       g_timeout_add (50, bt_test_wait_tick_cb, NULL) };
  return d;
}

static inline void
bt_test_deadline_iterate (BtTestDeadline *d, const char *what, const char *file, int line)
{
  if (g_get_monotonic_time () > d->end)
    g_error ("%s:%d: still waiting for '%s' after %d s", file, line, what, BT_TEST_WAIT_SECONDS);
  g_main_context_iteration (NULL, TRUE);
}

static inline void
bt_test_deadline_end (BtTestDeadline *d)
{
  g_source_remove (d->tick);
}

#define BT_TEST_WAIT(expr)                                                   \
  G_STMT_START {                                                             \
    BtTestDeadline bt_wait_d_ = bt_test_deadline_start ();                  \
    while (!(expr))                                                          \
      bt_test_deadline_iterate (&bt_wait_d_, #expr, __FILE__, __LINE__);     \
    bt_test_deadline_end (&bt_wait_d_);                                      \
  } G_STMT_END

/* Runs the main loop until cond (data) holds (the callback form of BT_TEST_WAIT). */
#define bt_test_spin_until(cond, data) BT_TEST_WAIT ((cond) (data))

/* Dispatches every source that is ready now; returns without blocking. */
static inline void
bt_test_drain (void)
{
  while (g_main_context_iteration (NULL, FALSE))
    ;
}
