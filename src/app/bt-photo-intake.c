/* bt-photo-intake.c: the clipboard and a web browser's drops as photos (bt-photo-intake.h). */
#include "config.h"

#include <glib/gi18n.h>
#include <libsoup/soup.h>
#include <string.h>

#include "bt-photo-intake.h"
#include "dataset/bt-dataset.h"

/* The clipboard's image types we ask for, the most faithful first (a JPEG keeps its EXIF). */
static const char *const image_mime_types[] = {
  "image/jpeg", "image/png", "image/webp", "image/heic", "image/heif", "image/avif", "image/tiff",
  "image/gif", "image/bmp", NULL
};

BtIntake *
bt_intake_new (void)
{
  BtIntake *intake = g_new0 (BtIntake, 1);

  intake->paths = g_ptr_array_new_with_free_func (g_free);
  intake->urls = g_ptr_array_new_with_free_func (g_free);
  intake->images = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  return intake;
}

void
bt_intake_free (BtIntake *intake)
{
  if (intake == NULL)
    return;
  g_ptr_array_unref (intake->paths);
  g_ptr_array_unref (intake->urls);
  g_ptr_array_unref (intake->images);
  g_free (intake);
}

gboolean
bt_intake_is_empty (const BtIntake *intake)
{
  return intake->paths->len == 0 && intake->urls->len == 0 && intake->images->len == 0;
}

static gboolean
is_web_address (const char *uri)
{
  return g_ascii_strncasecmp (uri, "http://", 7) == 0 || g_ascii_strncasecmp (uri, "https://", 8) == 0;
}

void
bt_intake_add_files (BtIntake *intake, GSList *files, guint *n_other)
{
  for (GSList *l = files; l != NULL; l = l->next)
    {
      g_autofree char *path = g_file_get_path (l->data);
      g_autofree char *uri = NULL;

      if (path != NULL)
        {
          g_ptr_array_add (intake->paths, g_steal_pointer (&path));
          continue;
        }
      uri = g_file_get_uri (l->data);
      if (uri != NULL && is_web_address (uri))
        g_ptr_array_add (intake->urls, g_steal_pointer (&uri));
      else if (n_other != NULL)
        (*n_other)++;
    }
}

/* ---- Reading the clipboard ---- */

typedef struct {
  BtIntake      *intake;
  GOutputStream *sink;    /* image data being read */
} ClipJob;

static void
clip_job_free (ClipJob *job)
{
  g_clear_pointer (&job->intake, bt_intake_free);
  g_clear_object (&job->sink);
  g_free (job);
}

static void
no_image (GTask *task)
{
  g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, _("The clipboard holds no image"));
}

static void
clip_text_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  ClipJob *job = g_task_get_task_data (task);
  g_autofree char *text = gdk_clipboard_read_text_finish (GDK_CLIPBOARD (source), result, NULL);
  g_auto(GStrv) lines = NULL;

  if (text == NULL)
    {
      no_image (task);
      return;
    }
  /* one address per line, as a browser's "Copy Image Link" or a list of them */
  lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      char *line = g_strstrip (lines[i]);
      if (is_web_address (line) && strchr (line, ' ') == NULL)
        g_ptr_array_add (job->intake->urls, g_strdup (line));
    }
  if (job->intake->urls->len == 0)
    {
      no_image (task);
      return;
    }
  g_task_return_pointer (task, g_steal_pointer (&job->intake), (GDestroyNotify) bt_intake_free);
}

static void
clip_splice_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  ClipJob *job = g_task_get_task_data (task);
  GError *error = NULL;

  if (g_output_stream_splice_finish (G_OUTPUT_STREAM (source), result, &error) < 0)
    {
      g_task_return_error (task, error);
      return;
    }
  g_ptr_array_add (job->intake->images, g_memory_output_stream_steal_as_bytes (G_MEMORY_OUTPUT_STREAM (job->sink)));
  g_task_return_pointer (task, g_steal_pointer (&job->intake), (GDestroyNotify) bt_intake_free);
}

static void
clip_image_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  ClipJob *job = g_task_get_task_data (task);
  GError *error = NULL;
  g_autoptr(GInputStream) stream = gdk_clipboard_read_finish (GDK_CLIPBOARD (source), result, NULL, &error);
  GCancellable *cancellable;

  if (stream == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  /* the copy happens in the main loop's turns, never blocking it; decoding waits for a worker */
  job->sink = g_memory_output_stream_new_resizable ();
  cancellable = g_task_get_cancellable (task);
  g_output_stream_splice_async (job->sink, stream,
                                G_OUTPUT_STREAM_SPLICE_CLOSE_SOURCE | G_OUTPUT_STREAM_SPLICE_CLOSE_TARGET,
                                G_PRIORITY_DEFAULT, cancellable, clip_splice_cb, g_steal_pointer (&task));
}

static void
clip_files_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  ClipJob *job = g_task_get_task_data (task);
  GError *error = NULL;
  const GValue *value = gdk_clipboard_read_value_finish (GDK_CLIPBOARD (source), result, &error);
  g_autoptr(GSList) files = NULL;

  if (value == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  files = gdk_file_list_get_files (g_value_get_boxed (value));
  bt_intake_add_files (job->intake, files, NULL);
  if (bt_intake_is_empty (job->intake))
    {
      no_image (task);
      return;
    }
  g_task_return_pointer (task, g_steal_pointer (&job->intake), (GDestroyNotify) bt_intake_free);
}

void
bt_intake_read_clipboard_async (GdkClipboard *clipboard, GCancellable *cancellable,
                                GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (clipboard, cancellable, callback, user_data);
  GdkContentFormats *formats = gdk_clipboard_get_formats (clipboard);
  ClipJob *job = g_new0 (ClipJob, 1);
  gboolean has_image = FALSE;

  job->intake = bt_intake_new ();
  g_task_set_task_data (task, job, (GDestroyNotify) clip_job_free);
  g_task_set_source_tag (task, bt_intake_read_clipboard_async);
  for (guint i = 0; image_mime_types[i] != NULL; i++)
    has_image |= gdk_content_formats_contain_mime_type (formats, image_mime_types[i]);

  if (gdk_content_formats_contain_gtype (formats, GDK_TYPE_FILE_LIST))
    gdk_clipboard_read_value_async (clipboard, GDK_TYPE_FILE_LIST, G_PRIORITY_DEFAULT, cancellable, clip_files_cb,
                                    task);
  else if (has_image)
    gdk_clipboard_read_async (clipboard, (const char **) image_mime_types, G_PRIORITY_DEFAULT, cancellable,
                              clip_image_cb, task);
  else if (gdk_content_formats_contain_gtype (formats, G_TYPE_STRING))
    gdk_clipboard_read_text_async (clipboard, cancellable, clip_text_cb, task);
  else
    {
      no_image (task);
      g_object_unref (task);
    }
}

BtIntake *
bt_intake_read_clipboard_finish (GAsyncResult *result, GError **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ---- Downloads (worker threads) ---- */

static gboolean
read_capped (GInputStream *in, GByteArray *out, GCancellable *cancellable, const char *url, GError **error)
{
  guint8 buf[64 * 1024];

  for (;;)
    {
      gssize n = g_input_stream_read (in, buf, sizeof buf, cancellable, error);
      if (n < 0)
        return FALSE;
      if (n == 0)
        return TRUE;
      if (out->len + (gsize) n > BT_INTAKE_MAX_DOWNLOAD)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE, _("“%s” is larger than %s"), url,
                       g_format_size (BT_INTAKE_MAX_DOWNLOAD));
          return FALSE;
        }
      g_byte_array_append (out, buf, (guint) n);
    }
}

GBytes *
bt_intake_fetch (const char *url, GCancellable *cancellable, GError **error)
{
  g_autoptr(SoupSession) session = NULL;
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GInputStream) in = NULL;
  g_autoptr(GByteArray) data = NULL;
  g_autoptr(GError) local = NULL;
  const char *type;
  goffset length;
  guint status;

  g_return_val_if_fail (url != NULL, NULL);
  if (!is_web_address (url) || (msg = soup_message_new (SOUP_METHOD_GET, url)) == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, _("“%s” is not a web address"), url);
      return NULL;
    }
  /* a session of its own on this worker (synchronous), like the backbone download */
  session = soup_session_new_with_options ("timeout", 30, "user-agent", "Bottega/" PACKAGE_VERSION, NULL);
  in = soup_session_send (session, msg, cancellable, &local);
  if (in == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, _("Could not download “%s”: %s"), url, local->message);
      return NULL;
    }
  status = soup_message_get_status (msg);
  if (status < 200 || status >= 300)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, _("Could not download “%s”: the server answered %u %s"),
                   url, status, soup_message_get_reason_phrase (msg));
      return NULL;
    }
  type = soup_message_headers_get_content_type (soup_message_get_response_headers (msg), NULL);
  if (type == NULL || g_ascii_strncasecmp (type, "image/", 6) != 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED, _("“%s” is not an image (the server sent %s)"), url,
                   type ? type : _("no content type"));
      return NULL;
    }
  length = soup_message_headers_get_content_length (soup_message_get_response_headers (msg));
  if (length > (goffset) BT_INTAKE_MAX_DOWNLOAD)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE, _("“%s” is larger than %s"), url,
                   g_format_size (BT_INTAKE_MAX_DOWNLOAD));
      return NULL;
    }
  data = g_byte_array_new ();
  if (!read_capped (in, data, cancellable, url, &local))
    {
      if (local->domain == G_IO_ERROR && local->code == G_IO_ERROR_MESSAGE_TOO_LARGE)
        g_propagate_error (error, g_steal_pointer (&local));
      else
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, _("Could not download “%s”: %s"), url, local->message);
      return NULL;
    }
  return g_byte_array_free_to_bytes (g_steal_pointer (&data));
}

/* ---- Keeping the photos in the project (worker) ---- */

typedef struct {
  BtIntake *intake;
  char     *project_dir, *class_name, *stem;
} StoreJob;

static void
store_job_free (StoreJob *job)
{
  bt_intake_free (job->intake);
  g_free (job->project_dir);
  g_free (job->class_name);
  g_free (job->stem);
  g_free (job);
}

void
bt_intake_stored_free (BtIntakeStored *stored)
{
  if (stored == NULL)
    return;
  g_ptr_array_unref (stored->paths);
  g_array_unref (stored->hashes);
  g_ptr_array_unref (stored->errors);
  g_free (stored);
}

/* Every payload of intake, the fetched ones after the given ones; errors get the failures. */
static GPtrArray *
gather_payloads (BtIntake *intake, GPtrArray *errors, GCancellable *cancellable)
{
  GPtrArray *payloads = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);

  for (guint i = 0; i < intake->images->len; i++)
    g_ptr_array_add (payloads, g_bytes_ref (intake->images->pdata[i]));
  for (guint i = 0; i < intake->urls->len && !g_cancellable_is_cancelled (cancellable); i++)
    {
      g_autoptr(GError) error = NULL;
      GBytes *bytes = bt_intake_fetch (intake->urls->pdata[i], cancellable, &error);

      if (bytes != NULL)
        g_ptr_array_add (payloads, bytes);
      else
        g_ptr_array_add (errors, g_strdup (error->message));
    }
  return payloads;
}

static void
store_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  StoreJob *job = task_data;
  BtIntakeStored *stored = g_new0 (BtIntakeStored, 1);
  g_autoptr(GPtrArray) payloads = NULL;

  stored->paths = g_ptr_array_new_with_free_func (g_free);
  stored->hashes = g_array_new (FALSE, FALSE, sizeof (guint64));
  stored->errors = g_ptr_array_new_with_free_func (g_free);
  payloads = gather_payloads (job->intake, stored->errors, cancellable);
  for (guint i = 0; i < payloads->len && !g_cancellable_is_cancelled (cancellable); i++)
    {
      g_autoptr(GError) error = NULL;
      gsize len;
      const guint8 *data = g_bytes_get_data (payloads->pdata[i], &len);
      guint64 hash = 0;
      char *path = bt_photo_store_bytes (job->project_dir, job->class_name, job->stem, data, len, &hash, &error);

      if (path == NULL)
        {
          /* TRANSLATORS: %s is the decoder's reason, e.g. "Corrupt image" */
          g_ptr_array_add (stored->errors, g_strdup_printf (_("An image was not added: %s"), error->message));
          continue;
        }
      g_ptr_array_add (stored->paths, path);
      g_array_append_val (stored->hashes, hash);
    }
  g_task_return_pointer (task, stored, (GDestroyNotify) bt_intake_stored_free);
}

void
bt_intake_store_async (BtIntake *intake, const char *project_dir, const char *class_name, const char *stem,
                       GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new (NULL, cancellable, callback, user_data);
  StoreJob *job = g_new0 (StoreJob, 1);

  job->intake = intake;
  job->project_dir = g_strdup (project_dir);
  job->class_name = g_strdup (class_name);
  job->stem = g_strdup (stem);
  g_task_set_task_data (task, job, (GDestroyNotify) store_job_free);
  g_task_run_in_thread (task, store_thread);
}

BtIntakeStored *
bt_intake_store_finish (GAsyncResult *result)
{
  return g_task_propagate_pointer (G_TASK (result), NULL);
}

typedef struct {
  GPtrArray *payloads, *errors;
} Fetched;

static void
fetched_free (Fetched *f)
{
  g_clear_pointer (&f->payloads, g_ptr_array_unref);
  g_clear_pointer (&f->errors, g_ptr_array_unref);
  g_free (f);
}

static void
fetch_all_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  Fetched *f = g_new0 (Fetched, 1);

  f->errors = g_ptr_array_new_with_free_func (g_free);
  f->payloads = gather_payloads (task_data, f->errors, cancellable);
  g_task_return_pointer (task, f, (GDestroyNotify) fetched_free);
}

void
bt_intake_fetch_all_async (BtIntake *intake, GCancellable *cancellable, GAsyncReadyCallback callback,
                           gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new (NULL, cancellable, callback, user_data);

  g_task_set_task_data (task, intake, (GDestroyNotify) bt_intake_free);
  g_task_run_in_thread (task, fetch_all_thread);
}

GPtrArray *
bt_intake_fetch_all_finish (GAsyncResult *result, GPtrArray **errors)
{
  Fetched *f = g_task_propagate_pointer (G_TASK (result), NULL);
  GPtrArray *payloads;

  if (f == NULL)
    {
      *errors = g_ptr_array_new_with_free_func (g_free);
      return g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
    }
  payloads = g_steal_pointer (&f->payloads);
  *errors = g_steal_pointer (&f->errors);
  fetched_free (f);
  return payloads;
}

static void
texture_png_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  g_task_return_pointer (task, gdk_texture_save_to_png_bytes (GDK_TEXTURE (task_data)), (GDestroyNotify) g_bytes_unref);
}

void
bt_intake_texture_png_async (GdkTexture *texture, GCancellable *cancellable, GAsyncReadyCallback callback,
                             gpointer user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (GDK_IS_TEXTURE (texture));
  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, bt_intake_texture_png_async);
  g_task_set_return_on_cancel (task, FALSE);
  g_task_set_task_data (task, g_object_ref (texture), g_object_unref);
  g_task_run_in_thread (task, texture_png_thread);
}

GBytes *
bt_intake_texture_png_finish (GAsyncResult *result)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  return g_task_propagate_pointer (G_TASK (result), NULL);
}
