/* bt-thumbnailer.h: decodes image thumbnails in a worker pool, keeps the most recent ones
 * in a cache, and hands textures back on the main thread. */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define BT_TYPE_THUMBNAILER (bt_thumbnailer_get_type ())
G_DECLARE_FINAL_TYPE (BtThumbnailer, bt_thumbnailer, BT, THUMBNAILER, GObject)

/* Called on the main thread; texture is NULL when the file could not be decoded
 * (error says why). Not called when the request was cancelled. */
typedef void (*BtThumbnailReady) (GdkTexture   *texture,
                                  const GError *error,
                                  gpointer      user_data);

/* size: longest side of a thumbnail in pixels; cache_size: textures kept. */
BtThumbnailer *bt_thumbnailer_new        (int            size,
                                          guint          cache_size);
int            bt_thumbnailer_get_size   (BtThumbnailer *self);
/* The cached texture of path, or NULL (transfer none). */
GdkTexture    *bt_thumbnailer_lookup     (BtThumbnailer *self,
                                          const char    *path);
/* Queues a decode; newer requests go first. Returns an id for bt_thumbnailer_cancel.
 * user_data is released with destroy once the request is done or cancelled. */
guint          bt_thumbnailer_request    (BtThumbnailer   *self,
                                          const char      *path,
                                          BtThumbnailReady callback,
                                          gpointer         user_data,
                                          GDestroyNotify   destroy);
void           bt_thumbnailer_cancel     (BtThumbnailer *self,
                                          guint          id);
/* Forgets the cached thumbnail of path (the file changed or vanished). */
void           bt_thumbnailer_forget     (BtThumbnailer *self,
                                          const char    *path);
/* Requests not yet delivered. */
guint          bt_thumbnailer_get_n_pending (BtThumbnailer *self);

/* Decodes path in the calling thread (a worker) to RGB8 pixels whose longest side is at
 * most size; width and height receive the result's size, orig_width and orig_height the file's. */
GBytes        *bt_thumbnail_decode       (const char    *path,
                                          int            size,
                                          int           *width,
                                          int           *height,
                                          int           *orig_width,
                                          int           *orig_height,
                                          GCancellable  *cancellable,
                                          GError       **error);
/* Wraps pixels from bt_thumbnail_decode (main thread). */
GdkTexture    *bt_thumbnail_texture_new  (GBytes        *pixels,
                                          int            width,
                                          int            height);

G_END_DECLS
