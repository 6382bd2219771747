/* bt-thumbnailer.c: a GThreadPool decodes thumbnails newest-request-first; results cross
 * to the main thread through one pending idle, become GdkMemoryTextures and go to an LRU. */
#include "config.h"

#include <glib/gi18n.h>

#include "dataset/bt-dataset.h"
#include "bt-thumbnailer.h"

typedef struct {
  guint            id;
  guint64          seq;
  char            *path;
  int              size;
  gint             cancelled;   /* atomic */
  BtThumbnailReady callback;
  gpointer         user_data;
  GDestroyNotify   destroy;
  /* Set by the worker */
  GBytes          *pixels;
  int              width, height;
  GError          *error;
} Request;

typedef struct {
  GdkTexture *texture;
  GList      *link;        /* in lru, data is the key */
} CacheEntry;

struct _BtThumbnailer
{
  GObject parent_instance;

  int          size;
  guint        cache_size;
  guint        next_id;
  guint64      next_seq;
  GThreadPool *pool;
  GHashTable  *requests;   /* id → Request*, main thread only */
  GHashTable  *cache;      /* path → CacheEntry* */
  GQueue       lru;        /* of path (owned by cache keys), most recent first */

  GMutex       done_mutex;
  GQueue       done;       /* of Request*, finished by workers */
  guint        done_idle;
};

G_DEFINE_FINAL_TYPE (BtThumbnailer, bt_thumbnailer, G_TYPE_OBJECT)

static void
request_clear (gpointer data)
{
  Request *r = data;

  g_free (r->path);
  g_clear_pointer (&r->pixels, g_bytes_unref);
  g_clear_error (&r->error);
}

static void
request_unref (Request *r)
{
  g_atomic_rc_box_release_full (r, request_clear);
}

static void
cache_entry_free (gpointer data)
{
  CacheEntry *e = data;

  g_clear_object (&e->texture);
  g_free (e);
}

GBytes *
bt_thumbnail_decode (const char   *path,
                     int           size,
                     int          *width,
                     int          *height,
                     int          *orig_width,
                     int          *orig_height,
                     GCancellable *cancellable,
                     GError      **error)
{
  g_autoptr(BtImage) img = NULL;
  BtDecodeInfo info;
  int w, h;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (size > 0, NULL);

  img = bt_image_decode_file_sized (path, 3, 2 * size, 2 * size, &info, cancellable, NULL, error);
  if (img == NULL)
    return NULL;

  if (orig_width)
    *orig_width = info.width;
  if (orig_height)
    *orig_height = info.height;

  w = img->width;
  h = img->height;
  if (w > size || h > size)
    {
      if (w >= h)
        {
          h = MAX (1, (int) ((gint64) h * size / w));
          w = size;
        }
      else
        {
          w = MAX (1, (int) ((gint64) w * size / h));
          h = size;
        }
      {
        g_autoptr(BtImage) small = bt_image_resize (img, w, h, BT_DS_RESIZE_SQUASH);
        if (small == NULL)
          {
            g_set_error_literal (error, BT_DATASET_ERROR, BT_DATASET_ERROR_INVALID,
                                 _("The image could not be scaled down"));
            return NULL;
          }
        g_clear_pointer (&img, bt_image_free);
        img = g_steal_pointer (&small);
      }
    }

  *width = img->width;
  *height = img->height;
  if (img->channels == 1)
    {
      /* Thumbnails are always RGB, so the texture format is one. */
      gsize n = (gsize) img->width * img->height;
      guint8 *rgb = g_malloc (n * 3);

      for (gsize i = 0; i < n; i++)
        rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = img->pixels[i];
      return g_bytes_new_take (rgb, n * 3);
    }
  if (img->mapped_len > 0)  /* the sandbox's mapping: only bt_image_free may release it */
    return g_bytes_new (img->pixels, (gsize) img->width * img->height * 3);
  return g_bytes_new_take (g_steal_pointer (&img->pixels), (gsize) img->width * img->height * 3);
}

GdkTexture *
bt_thumbnail_texture_new (GBytes *pixels,
                          int     width,
                          int     height)
{
  g_return_val_if_fail (pixels != NULL, NULL);
  g_return_val_if_fail (g_bytes_get_size (pixels) >= (gsize) width * height * 3, NULL);

  return gdk_memory_texture_new (width, height, GDK_MEMORY_R8G8B8, pixels, (gsize) width * 3);
}

static void
cache_insert (BtThumbnailer *self, const char *path, GdkTexture *texture)
{
  CacheEntry *e = g_hash_table_lookup (self->cache, path);
  char *key;

  if (e != NULL)
    {
      g_set_object (&e->texture, texture);
      return;
    }
  key = g_strdup (path);
  e = g_new0 (CacheEntry, 1);
  e->texture = g_object_ref (texture);
  g_queue_push_head (&self->lru, key);
  e->link = self->lru.head;
  g_hash_table_insert (self->cache, key, e);

  while (self->lru.length > self->cache_size)
    {
      char *old = g_queue_pop_tail (&self->lru);
      g_hash_table_remove (self->cache, old);
    }
}

GdkTexture *
bt_thumbnailer_lookup (BtThumbnailer *self,
                       const char    *path)
{
  CacheEntry *e;

  g_return_val_if_fail (BT_IS_THUMBNAILER (self), NULL);
  g_return_val_if_fail (path != NULL, NULL);

  e = g_hash_table_lookup (self->cache, path);
  if (e == NULL)
    return NULL;
  g_queue_unlink (&self->lru, e->link);
  g_queue_push_head_link (&self->lru, e->link);
  return e->texture;
}

void
bt_thumbnailer_forget (BtThumbnailer *self,
                       const char    *path)
{
  CacheEntry *e;

  g_return_if_fail (BT_IS_THUMBNAILER (self));

  e = g_hash_table_lookup (self->cache, path);
  if (e == NULL)
    return;
  g_queue_delete_link (&self->lru, e->link);
  g_hash_table_remove (self->cache, path);
}

static gboolean
deliver_idle (gpointer data)
{
  BtThumbnailer *self = data;
  GQueue done = G_QUEUE_INIT;
  Request *r;

  g_mutex_lock (&self->done_mutex);
  done = self->done;
  g_queue_init (&self->done);
  self->done_idle = 0;
  g_mutex_unlock (&self->done_mutex);

  g_object_ref (self);
  while ((r = g_queue_pop_head (&done)) != NULL)
    {
      /* Only requests still in the table are wanted; cancel already released them. */
      if (g_hash_table_steal (self->requests, GUINT_TO_POINTER (r->id)))
        {
          g_autoptr(GdkTexture) texture = NULL;

          if (r->pixels != NULL)
            {
              texture = bt_thumbnail_texture_new (r->pixels, r->width, r->height);
              cache_insert (self, r->path, texture);
            }
          if (r->callback)
            r->callback (texture, r->error, r->user_data);
          if (r->destroy)
            r->destroy (r->user_data);
          request_unref (r);   /* the table's reference */
        }
      request_unref (r);       /* the done queue's reference */
    }
  g_object_unref (self);

  return G_SOURCE_REMOVE;
}

static void
decode_func (gpointer data,
             gpointer user_data)
{
  Request *r = data;
  BtThumbnailer *self = user_data;

  if (!g_atomic_int_get (&r->cancelled))
    r->pixels = bt_thumbnail_decode (r->path, r->size, &r->width, &r->height, NULL, NULL, NULL, &r->error);

  g_mutex_lock (&self->done_mutex);
  g_queue_push_tail (&self->done, r);
  if (self->done_idle == 0)
    self->done_idle = g_idle_add_full (G_PRIORITY_DEFAULT_IDLE, deliver_idle, self, NULL);
  g_mutex_unlock (&self->done_mutex);
}

static gint
newest_first (gconstpointer a, gconstpointer b, gpointer user_data)
{
  const Request *ra = a, *rb = b;

  return ra->seq > rb->seq ? -1 : ra->seq < rb->seq ? 1 : 0;
}

guint
bt_thumbnailer_request (BtThumbnailer   *self,
                        const char      *path,
                        BtThumbnailReady callback,
                        gpointer         user_data,
                        GDestroyNotify   destroy)
{
  Request *r;

  g_return_val_if_fail (BT_IS_THUMBNAILER (self), 0);
  g_return_val_if_fail (path != NULL, 0);

  r = g_atomic_rc_box_new0 (Request);
  r->id = ++self->next_id;
  if (r->id == 0)
    r->id = ++self->next_id;
  r->seq = ++self->next_seq;
  r->path = g_strdup (path);
  r->size = self->size;
  r->callback = callback;
  r->user_data = user_data;
  r->destroy = destroy;

  g_hash_table_insert (self->requests, GUINT_TO_POINTER (r->id), r);
  g_thread_pool_push (self->pool, g_atomic_rc_box_acquire (r), NULL);
  return r->id;
}

void
bt_thumbnailer_cancel (BtThumbnailer *self,
                       guint          id)
{
  Request *r;

  g_return_if_fail (BT_IS_THUMBNAILER (self));

  r = g_hash_table_lookup (self->requests, GUINT_TO_POINTER (id));
  if (r == NULL)
    return;
  g_hash_table_steal (self->requests, GUINT_TO_POINTER (id));
  g_atomic_int_set (&r->cancelled, TRUE);
  if (r->destroy)
    r->destroy (r->user_data);
  r->user_data = NULL;
  request_unref (r);
}

guint
bt_thumbnailer_get_n_pending (BtThumbnailer *self)
{
  g_return_val_if_fail (BT_IS_THUMBNAILER (self), 0);

  return g_hash_table_size (self->requests);
}

int
bt_thumbnailer_get_size (BtThumbnailer *self)
{
  g_return_val_if_fail (BT_IS_THUMBNAILER (self), 0);

  return self->size;
}

static void
bt_thumbnailer_dispose (GObject *object)
{
  BtThumbnailer *self = BT_THUMBNAILER (object);
  GHashTableIter iter;
  gpointer value;
  Request *r;

  if (self->pool != NULL)
    {
      GHashTableIter it;
      gpointer v;

      /* Queued requests still in the pool get skipped fast once marked cancelled. */
      g_hash_table_iter_init (&it, self->requests);
      while (g_hash_table_iter_next (&it, NULL, &v))
        g_atomic_int_set (&((Request *) v)->cancelled, TRUE);
      g_thread_pool_free (g_steal_pointer (&self->pool), FALSE, TRUE);
    }

  g_mutex_lock (&self->done_mutex);
  if (self->done_idle != 0)
    g_source_remove (self->done_idle);
  self->done_idle = 0;
  while ((r = g_queue_pop_head (&self->done)) != NULL)
    request_unref (r);
  g_mutex_unlock (&self->done_mutex);

  g_hash_table_iter_init (&iter, self->requests);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      r = value;
      if (r->destroy)
        r->destroy (r->user_data);
      request_unref (r);
      g_hash_table_iter_steal (&iter);
    }

  G_OBJECT_CLASS (bt_thumbnailer_parent_class)->dispose (object);
}

static void
bt_thumbnailer_finalize (GObject *object)
{
  BtThumbnailer *self = BT_THUMBNAILER (object);

  g_hash_table_unref (self->requests);
  g_queue_clear (&self->lru);
  g_hash_table_unref (self->cache);
  g_mutex_clear (&self->done_mutex);

  G_OBJECT_CLASS (bt_thumbnailer_parent_class)->finalize (object);
}

static void
bt_thumbnailer_class_init (BtThumbnailerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = bt_thumbnailer_dispose;
  object_class->finalize = bt_thumbnailer_finalize;
}

static void
bt_thumbnailer_init (BtThumbnailer *self)
{
  g_mutex_init (&self->done_mutex);
  g_queue_init (&self->done);
  g_queue_init (&self->lru);
  self->requests = g_hash_table_new (NULL, NULL);
  self->cache = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, cache_entry_free);
}

BtThumbnailer *
bt_thumbnailer_new (int   size,
                    guint cache_size)
{
  BtThumbnailer *self;
  int n_threads;

  g_return_val_if_fail (size > 0 && size <= 1024, NULL);

  self = g_object_new (BT_TYPE_THUMBNAILER, NULL);
  self->size = size;
  self->cache_size = MAX (cache_size, 16);
  n_threads = CLAMP ((int) g_get_num_processors () - 1, 1, 4);
  self->pool = g_thread_pool_new (decode_func, self, n_threads, FALSE, NULL);
  g_thread_pool_set_sort_function (self->pool, newest_first, NULL);
  return self;
}
