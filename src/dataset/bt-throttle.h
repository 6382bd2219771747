/* bt-throttle.h: worker → main-thread progress, the way Sysprof's document loader does it: the
 * latest value under a mutex and at most one pending idle on the owner's main context. Values
 * posted while an idle is pending replace each other (the last one wins); the idle delivers
 * whatever is newest when it runs. GLib only, so every layer can use it. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _BtThrottle BtThrottle;

/* Runs on the owner's main context with a copy of the newest value. */
typedef void (*BtThrottleFunc) (gconstpointer value, gpointer user_data);

/* Values of value_size bytes are delivered to func on the thread-default main context of the
 * caller, by an idle of the given priority. The throttle owns user_data (notify frees it when
 * the last reference goes, on whichever thread drops it). */
BtThrottle *bt_throttle_new    (gsize value_size, int priority, BtThrottleFunc func,
                                gpointer user_data, GDestroyNotify notify);
BtThrottle *bt_throttle_ref    (BtThrottle *self);
void        bt_throttle_unref  (BtThrottle *self);
/* Any thread: keeps a copy of value and schedules the idle unless one is pending. */
void        bt_throttle_post   (BtThrottle *self, gconstpointer value);
/* On the owner's thread: nothing is delivered after this returns (a pending idle does nothing). */
void        bt_throttle_close  (BtThrottle *self);
/* TRUE while an idle is scheduled and has not run yet. */
gboolean    bt_throttle_is_pending (BtThrottle *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (BtThrottle, bt_throttle_unref)

G_END_DECLS
