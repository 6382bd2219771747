/* bt-photo-intake.h: photos that do not arrive as files of this computer: what the clipboard
 * holds (Ctrl+V) and http(s) addresses dropped from a web browser. The clipboard is read
 * asynchronously; downloads, checks and writes run on a worker (bt_photo_store_bytes decodes
 * every payload with the one decode function before it is kept). */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

/* Downloads larger than this are refused ("larger than 64 MB"). */
#define BT_INTAKE_MAX_DOWNLOAD ((gsize) 64 * 1024 * 1024)

/* What arrived: local files, http(s) addresses to fetch, image payloads (any may be empty). */
typedef struct {
  GPtrArray *paths;    /* char*, local files and folders */
  GPtrArray *urls;     /* char*, http:// or https:// */
  GPtrArray *images;   /* GBytes*, an encoded image each (PNG, JPEG, ...) */
} BtIntake;

BtIntake *bt_intake_new  (void);
void      bt_intake_free (BtIntake *intake);
gboolean  bt_intake_is_empty (const BtIntake *intake);
/* Sorts files into paths (native) and urls (http/https); other remote files are counted in
 * *n_other (may be NULL). */
void      bt_intake_add_files (BtIntake *intake, GSList *files, guint *n_other);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BtIntake, bt_intake_free)

/* Reads the clipboard: copied files first, then image data, then an http(s) address as text.
 * finish: NULL + error when it holds none of these ("The clipboard holds no image"). */
void      bt_intake_read_clipboard_async  (GdkClipboard *clipboard, GCancellable *cancellable,
                                           GAsyncReadyCallback callback, gpointer user_data);
BtIntake *bt_intake_read_clipboard_finish (GAsyncResult *result, GError **error);

/* Fetches url on the calling (worker) thread: 2xx only, an image/ content type only, at most
 * BT_INTAKE_MAX_DOWNLOAD bytes. NULL + a translated error that names the address otherwise. */
GBytes   *bt_intake_fetch (const char *url, GCancellable *cancellable, GError **error);

/* On a worker: fetches intake's urls, then keeps each image in project_dir/images/<class>/ as
 * <stem>.<suffix> (bt_photo_store_bytes). Local paths are not touched (import them as files).
 * Takes intake. */
typedef struct {
  GPtrArray *paths;    /* char*, the new files */
  GArray    *hashes;   /* guint64, parallel with paths */
  GPtrArray *errors;   /* char*, translated, one per refused payload or address */
} BtIntakeStored;
void      bt_intake_stored_free (BtIntakeStored *stored);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BtIntakeStored, bt_intake_stored_free)
void      bt_intake_store_async  (BtIntake *intake, const char *project_dir, const char *class_name,
                                  const char *stem, GCancellable *cancellable,
                                  GAsyncReadyCallback callback, gpointer user_data);
BtIntakeStored *bt_intake_store_finish (GAsyncResult *result);

/* An image a web browser dragged as pixels (a texture, no address, no file): encoded as PNG on
 * a worker (PNG keeps the pixels exactly). finish: the bytes, or NULL when cancelled. */
void      bt_intake_texture_png_async  (GdkTexture *texture, GCancellable *cancellable,
                                        GAsyncReadyCallback callback, gpointer user_data);
GBytes   *bt_intake_texture_png_finish (GAsyncResult *result);

/* On a worker: fetches intake's urls and returns every payload (GBytes*), in order, with errors
 * of the addresses that failed (the Test page classifies the payloads). Takes intake. */
void      bt_intake_fetch_all_async  (BtIntake *intake, GCancellable *cancellable,
                                      GAsyncReadyCallback callback, gpointer user_data);
GPtrArray *bt_intake_fetch_all_finish (GAsyncResult *result, GPtrArray **errors);

G_END_DECLS
