/* bt-test-wait.h: runs the main loop until a condition holds (a hang guard, not a timing). */
#pragma once

#include <glib.h>

static inline void
bt_test_spin_until (gboolean (*cond) (gpointer), gpointer data)
{
  gint64 end = g_get_monotonic_time () + 120 * G_USEC_PER_SEC;
  while (!cond (data) && g_get_monotonic_time () < end)
    g_main_context_iteration (NULL, TRUE);
  g_assert_true (cond (data));
}
