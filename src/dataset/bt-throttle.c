/* bt-throttle.c: the latest value under a mutex and at most one pending idle (bt-throttle.h). */
#include "config.h"

#include <string.h>

#include "dataset/bt-throttle.h"

struct _BtThrottle
{
  GMainContext   *context;
  int             priority;
  BtThrottleFunc  func;
  gpointer        user_data;
  GDestroyNotify  notify;
  gsize           size;

  GMutex          lock;
  gboolean        pending;   /* an idle is attached and has not run */
  gboolean        closed;
  guint8         *value;     /* the newest posted value */
};

BtThrottle *
bt_throttle_new (gsize value_size, int priority, BtThrottleFunc func, gpointer user_data, GDestroyNotify notify)
{
  BtThrottle *self;

  g_return_val_if_fail (value_size > 0, NULL);
  g_return_val_if_fail (func != NULL, NULL);

  self = g_atomic_rc_box_new (BtThrottle);
  *self = (BtThrottle) { .context = g_main_context_ref_thread_default (), .priority = priority,
                         .func = func, .user_data = user_data, .notify = notify, .size = value_size,
                         .value = g_malloc0 (value_size) };
  g_mutex_init (&self->lock);
  return self;
}

BtThrottle *
bt_throttle_ref (BtThrottle *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return g_atomic_rc_box_acquire (self);
}

static void
throttle_clear (gpointer data)
{
  BtThrottle *self = data;
  if (self->notify != NULL)
    self->notify (self->user_data);
  g_main_context_unref (self->context);
  g_mutex_clear (&self->lock);
  g_free (self->value);
}

void
bt_throttle_unref (BtThrottle *self)
{
  if (self != NULL)
    g_atomic_rc_box_release_full (self, throttle_clear);
}

static gboolean
deliver (gpointer data)
{
  BtThrottle *self = data;
  g_autofree guint8 *value = g_malloc (self->size);
  gboolean closed;

  g_mutex_lock (&self->lock);
  memcpy (value, self->value, self->size);
  self->pending = FALSE;
  closed = self->closed;
  g_mutex_unlock (&self->lock);
  if (!closed)
    self->func (value, self->user_data);
  return G_SOURCE_REMOVE;
}

void
bt_throttle_post (BtThrottle *self, gconstpointer value)
{
  g_return_if_fail (self != NULL);
  g_return_if_fail (value != NULL);

  g_mutex_lock (&self->lock);
  memcpy (self->value, value, self->size);
  if (!self->pending && !self->closed)
    {
      GSource *source = g_idle_source_new ();

      self->pending = TRUE;
      g_source_set_priority (source, self->priority);
      g_source_set_callback (source, deliver, bt_throttle_ref (self), (GDestroyNotify) bt_throttle_unref);
      g_source_set_name (source, "[bottega] throttled progress");
      g_source_attach (source, self->context);
      g_source_unref (source);
    }
  g_mutex_unlock (&self->lock);
}

void
bt_throttle_close (BtThrottle *self)
{
  g_return_if_fail (self != NULL);

  g_mutex_lock (&self->lock);
  self->closed = TRUE;
  g_mutex_unlock (&self->lock);
}

gboolean
bt_throttle_is_pending (BtThrottle *self)
{
  gboolean pending;

  g_return_val_if_fail (self != NULL, FALSE);
  g_mutex_lock (&self->lock);
  pending = self->pending;
  g_mutex_unlock (&self->lock);
  return pending;
}
