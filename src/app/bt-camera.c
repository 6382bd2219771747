/* bt-camera.c: a camera through GStreamer (bt-camera.h). */
#include "config.h"

#include <glib/gi18n.h>
#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <gst/video/video.h>
#include <gio/gunixfdlist.h>
#include <string.h>
#include <unistd.h>

#include "bt-camera.h"

/* Frames wider or taller than this are scaled down by the pipeline (a shot for training and a
 * preview need no more, and a 4K webcam would copy 25 MB a frame). */
#define MAX_FRAME_W 1280
#define MAX_FRAME_H 960

struct _BtCamera
{
  GObject     parent_instance;

  char       *name;
  GstDevice  *device;        /* NULL: description */
  char       *description;   /* the test source's gst-launch description */
  int         portal_fd;     /* PipeWire remote the camera portal opened, or -1 */
  GDBusConnection *portal_bus; /* kept while the camera is: the portal's grant is the caller's */
  GstElement *pipeline;
  guint       bus_watch;
  GMainContext *context;

  GMutex      lock;          /* guards the fields below (the streaming thread writes them) */
  GBytes     *frame;
  int         width, height;
  gboolean    pending;       /* a delivery to the main context is queued */
  guint       n_frames;      /* main thread */
};

G_DEFINE_FINAL_TYPE (BtCamera, bt_camera, G_TYPE_OBJECT)

enum { FRAME, ERROR, N_SIGNALS };
static guint signals[N_SIGNALS];

/* ---- Frames: streaming thread → main context ---- */

static void
weak_ref_free (GWeakRef *ref)
{
  g_weak_ref_clear (ref);
  g_free (ref);
}

static gboolean
deliver_cb (gpointer data)
{
  g_autoptr(BtCamera) self = g_weak_ref_get (data);
  g_autoptr(GBytes) frame = NULL;
  g_autoptr(GdkTexture) texture = NULL;
  int w, h;

  if (self == NULL)
    return G_SOURCE_REMOVE;
  g_mutex_lock (&self->lock);
  self->pending = FALSE;
  frame = self->frame ? g_bytes_ref (self->frame) : NULL;
  w = self->width;
  h = self->height;
  g_mutex_unlock (&self->lock);
  if (frame == NULL || self->pipeline == NULL)
    return G_SOURCE_REMOVE;
  /* wraps the bytes: the pixels were converted on the streaming thread */
  texture = gdk_memory_texture_new (w, h, GDK_MEMORY_R8G8B8, frame, (gsize) w * 3);
  self->n_frames++;
  g_signal_emit (self, signals[FRAME], 0, texture);
  return G_SOURCE_REMOVE;
}

static GstFlowReturn
new_sample_cb (GstAppSink *sink, gpointer user_data)
{
  BtCamera *self = user_data;
  g_autoptr(GstSample) sample = gst_app_sink_pull_sample (sink);
  GstVideoInfo info;
  GstVideoFrame vframe;
  GBytes *bytes;
  guint8 *packed;
  int w, h;
  gboolean queue;

  if (sample == NULL)
    return GST_FLOW_EOS;
  if (!gst_video_info_from_caps (&info, gst_sample_get_caps (sample))
      || !gst_video_frame_map (&vframe, &info, gst_sample_get_buffer (sample), GST_MAP_READ))
    return GST_FLOW_OK;   /* a frame we cannot read: the next one may be fine */
  w = GST_VIDEO_FRAME_WIDTH (&vframe);
  h = GST_VIDEO_FRAME_HEIGHT (&vframe);
  /* rows of RGB are padded to 4 bytes in GStreamer: packed for GDK and the workers */
  packed = g_malloc ((gsize) w * h * 3);
  for (int y = 0; y < h; y++)
    memcpy (packed + (gsize) y * w * 3,
            (const guint8 *) GST_VIDEO_FRAME_PLANE_DATA (&vframe, 0) + (gsize) y * GST_VIDEO_FRAME_PLANE_STRIDE (&vframe, 0),
            (gsize) w * 3);
  gst_video_frame_unmap (&vframe);
  bytes = g_bytes_new_take (packed, (gsize) w * h * 3);

  g_mutex_lock (&self->lock);
  g_clear_pointer (&self->frame, g_bytes_unref);
  self->frame = bytes;
  self->width = w;
  self->height = h;
  queue = !self->pending;
  self->pending = TRUE;
  if (queue)
    {
      GSource *source = g_idle_source_new ();
      GWeakRef *ref = g_new0 (GWeakRef, 1);

      g_weak_ref_init (ref, self);
      g_source_set_priority (source, G_PRIORITY_DEFAULT);
      g_source_set_callback (source, deliver_cb, ref, (GDestroyNotify) weak_ref_free);
      g_source_attach (source, self->context);
      g_source_unref (source);
    }
  g_mutex_unlock (&self->lock);
  return GST_FLOW_OK;
}

static gboolean
bus_cb (GstBus *bus, GstMessage *message, gpointer user_data)
{
  BtCamera *self = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *debug = NULL;

  if (GST_MESSAGE_TYPE (message) != GST_MESSAGE_ERROR)
    return G_SOURCE_CONTINUE;
  gst_message_parse_error (message, &error, &debug);
  g_debug ("camera: %s (%s)", error->message, debug ? debug : "");
  bt_camera_stop (self);
  g_signal_emit (self, signals[ERROR], 0, error->message);
  return G_SOURCE_CONTINUE;
}

/* ---- Finding a camera (worker) ---- */

static gboolean
ensure_gst (GError **error)
{
  static gsize done;
  static gboolean ok;
  static GError *init_error;

  if (g_once_init_enter (&done))
    {
      ok = gst_init_check (NULL, NULL, &init_error);
      g_once_init_leave (&done, 1);
    }
  if (!ok && error != NULL)
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, _("The camera cannot be used: %s"),
                 init_error ? init_error->message : _("GStreamer did not start"));
  return ok;
}

/* ---- The desktop's camera portal (a Flatpak sees no /dev/video*) ---- */

#define PORTAL_NAME "org.freedesktop.portal.Desktop"
#define PORTAL_PATH "/org/freedesktop/portal/desktop"
#define PORTAL_CAMERA "org.freedesktop.portal.Camera"

static gboolean
use_portal (void)
{
  const char *env = g_getenv (BT_CAMERA_PORTAL_ENV);

  if (env != NULL && env[0] != '\0')
    return g_strcmp0 (env, "1") == 0;
  return g_file_test ("/.flatpak-info", G_FILE_TEST_EXISTS);
}

typedef struct {
  gboolean answered;
  guint32  response;
} PortalAnswer;

static void
response_cb (GDBusConnection *bus, const char *sender, const char *path, const char *iface, const char *signal,
             GVariant *params, gpointer user_data)
{
  PortalAnswer *answer = user_data;

  if (g_variant_is_of_type (params, G_VARIANT_TYPE ("(ua{sv})")))
    {
      g_variant_get (params, "(u@a{sv})", &answer->response, NULL);
      answer->answered = TRUE;
    }
}

static gboolean
wake_cb (GCancellable *cancellable, gpointer user_data)
{
  return G_SOURCE_REMOVE;   /* the wait's loop sees the cancel */
}

static void
portal_error (GError **error, const GError *why)
{
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
               _("The desktop's camera portal did not answer (%s). Without it a Flatpak cannot use the camera."),
               why != NULL ? why->message : "?");
}

/* Asks for the camera (the desktop may ask the person) and, once allowed, for the PipeWire
 * remote that carries it. On a worker: waits on a context of its own. */
static gboolean
portal_open (BtCamera *camera, GCancellable *cancellable, GError **error)
{
  g_autoptr(GMainContext) context = g_main_context_new ();
  g_autoptr(GError) local = NULL;
  g_autoptr(GVariant) present = NULL, reply = NULL;
  g_autoptr(GUnixFDList) fds = NULL;
  g_autofree char *address = NULL, *sender = NULL, *token = NULL, *path = NULL;
  g_autoptr(GVariantBuilder) options = NULL;
  PortalAnswer answer = { FALSE, 2 };
  const char *handle = NULL;
  GDBusConnection *bus;
  guint watch;
  gint32 index;

  address = g_dbus_address_get_for_bus_sync (G_BUS_TYPE_SESSION, cancellable, &local);
  if (address != NULL)
    camera->portal_bus = g_dbus_connection_new_for_address_sync (address,
                                                                  G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT
                                                                  | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                                                  NULL, cancellable, &local);
  if ((bus = camera->portal_bus) == NULL)
    {
      portal_error (error, local);
      return FALSE;
    }
  present = g_dbus_connection_call_sync (bus, PORTAL_NAME, PORTAL_PATH, "org.freedesktop.DBus.Properties", "Get",
                                         g_variant_new ("(ss)", PORTAL_CAMERA, "IsCameraPresent"),
                                         G_VARIANT_TYPE ("(v)"), G_DBUS_CALL_FLAGS_NONE, 10000, cancellable, &local);
  if (present == NULL)
    {
      portal_error (error, local);
      return FALSE;
    }
  {
    g_autoptr(GVariant) v = NULL;
    g_variant_get (present, "(v)", &v);
    if (!g_variant_is_of_type (v, G_VARIANT_TYPE_BOOLEAN) || !g_variant_get_boolean (v))
      {
        g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                             _("No camera found. Connect one, or allow Bottega to use it, then try again."));
        return FALSE;
      }
  }
  /* the request's object path is known before the call: listen there first */
  sender = g_strdup (g_dbus_connection_get_unique_name (bus) + 1);
  g_strdelimit (sender, ".", '_');
  token = g_strdup_printf ("bottega%u", g_random_int ());
  path = g_strdup_printf (PORTAL_PATH "/request/%s/%s", sender, token);
  g_main_context_push_thread_default (context);
  watch = g_dbus_connection_signal_subscribe (bus, PORTAL_NAME, "org.freedesktop.portal.Request", "Response", path,
                                              NULL, G_DBUS_SIGNAL_FLAGS_NONE, response_cb, &answer, NULL);
  options = g_variant_builder_new (G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (options, "{sv}", "handle_token", g_variant_new_string (token));
  reply = g_dbus_connection_call_sync (bus, PORTAL_NAME, PORTAL_PATH, PORTAL_CAMERA, "AccessCamera",
                                       g_variant_new ("(a{sv})", options), G_VARIANT_TYPE ("(o)"),
                                       G_DBUS_CALL_FLAGS_NONE, 10000, cancellable, &local);
  if (reply != NULL)
    {
      g_variant_get (reply, "(&o)", &handle);
      if (strcmp (handle, path) != 0)   /* an older portal names the request itself */
        {
          g_dbus_connection_signal_unsubscribe (bus, watch);
          watch = g_dbus_connection_signal_subscribe (bus, PORTAL_NAME, "org.freedesktop.portal.Request", "Response",
                                                      handle, NULL, G_DBUS_SIGNAL_FLAGS_NONE, response_cb, &answer,
                                                      NULL);
        }
      /* the person may take their time to answer the desktop's question; a cancel wakes us */
      GSource *wake = cancellable != NULL ? g_cancellable_source_new (cancellable) : NULL;
      if (wake != NULL)
        {
          g_source_set_callback (wake, G_SOURCE_FUNC (wake_cb), NULL, NULL);
          g_source_attach (wake, context);
        }
      while (!answer.answered && !g_cancellable_is_cancelled (cancellable))
        g_main_context_iteration (context, TRUE);
      if (wake != NULL)
        {
          g_source_destroy (wake);
          g_source_unref (wake);
        }
    }
  g_dbus_connection_signal_unsubscribe (bus, watch);
  g_main_context_pop_thread_default (context);
  if (reply == NULL)
    {
      portal_error (error, local);
      return FALSE;
    }
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return FALSE;
  if (answer.response != 0)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                           _("Bottega was not allowed to use the camera. Allow it in the system's privacy "
                             "settings, then try again."));
      return FALSE;
    }
  g_clear_pointer (&reply, g_variant_unref);
  g_variant_builder_unref (g_steal_pointer (&options));
  options = g_variant_builder_new (G_VARIANT_TYPE_VARDICT);
  reply = g_dbus_connection_call_with_unix_fd_list_sync (bus, PORTAL_NAME, PORTAL_PATH, PORTAL_CAMERA,
                                                         "OpenPipeWireRemote", g_variant_new ("(a{sv})", options),
                                                         G_VARIANT_TYPE ("(h)"), G_DBUS_CALL_FLAGS_NONE, 10000,
                                                         NULL, &fds, cancellable, &local);
  if (reply == NULL)
    {
      portal_error (error, local);
      return FALSE;
    }
  g_variant_get (reply, "(h)", &index);
  if (fds == NULL || (camera->portal_fd = g_unix_fd_list_get (fds, index, &local)) < 0)
    {
      portal_error (error, local);
      return FALSE;
    }
  return TRUE;
}

static void
find_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  const char *description = g_getenv (BT_CAMERA_SOURCE_ENV);
  g_autoptr(GstDeviceMonitor) monitor = NULL;
  GList *devices;
  BtCamera *camera;
  GError *error = NULL;

  if (!ensure_gst (&error))
    {
      g_task_return_error (task, error);
      return;
    }
  camera = g_object_new (BT_TYPE_CAMERA, NULL);
  if (use_portal ())
    {
      if (!portal_open (camera, cancellable, &error))
        {
          g_object_unref (camera);
          g_task_return_error (task, error);
          return;
        }
      camera->name = g_strdup (_("Camera"));
      /* tests have no PipeWire: the test source stands in for the picture */
      if (description != NULL && description[0] != '\0')
        camera->description = g_strdup (description);
      g_task_return_pointer (task, camera, g_object_unref);
      return;
    }
  if (description != NULL && description[0] != '\0')
    {
      camera->description = g_strdup (description);
      camera->name = g_strdup (description);
      g_task_return_pointer (task, camera, g_object_unref);
      return;
    }
  monitor = gst_device_monitor_new ();
  gst_device_monitor_add_filter (monitor, "Video/Source", NULL);
  if (!gst_device_monitor_start (monitor))
    devices = NULL;
  else
    {
      devices = gst_device_monitor_get_devices (monitor);
      gst_device_monitor_stop (monitor);
    }
  if (devices == NULL)
    {
      g_object_unref (camera);
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                               _("No camera found. Connect one, or allow Bottega to use it, then try again."));
      return;
    }
  camera->device = g_object_ref (devices->data);
  camera->name = gst_device_get_display_name (camera->device);
  g_list_free_full (devices, gst_object_unref);
  g_task_return_pointer (task, camera, g_object_unref);
}

void
bt_camera_find_async (GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new (NULL, cancellable, callback, user_data);

  g_task_run_in_thread (task, find_thread);
}

BtCamera *
bt_camera_find_finish (GAsyncResult *result, GError **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

const char *
bt_camera_get_name (BtCamera *self)
{
  g_return_val_if_fail (BT_IS_CAMERA (self), NULL);
  return self->name;
}

/* ---- The pipeline ---- */

static GstElement *
make_source (BtCamera *self, GError **error)
{
  GstElement *src;

  if (self->description != NULL)
    return gst_parse_bin_from_description (self->description, TRUE, error);
  if (self->portal_fd >= 0)
    {
      /* PipeWire's source takes a copy of the remote's descriptor */
      if ((src = gst_element_factory_make ("pipewiresrc", NULL)) == NULL)
        g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                             _("The camera cannot be used: GStreamer's PipeWire plugin is missing"));
      else
        g_object_set (src, "fd", self->portal_fd, NULL);
      return src;
    }
  src = gst_device_create_element (self->device, NULL);
  if (src == NULL)
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, _("The camera “%s” cannot be opened"), self->name);
  return src;
}

/* What the source offers: a device's own list, or what a description's last element can give. */
static GstCaps *
source_caps (BtCamera *self, GstElement *src)
{
  g_autoptr(GstPad) pad = NULL;

  if (self->device != NULL)
    return gst_device_get_caps (self->device);
  pad = gst_element_get_static_pad (src, "src");
  return pad != NULL ? gst_pad_query_caps (pad, NULL) : NULL;
}

/* Some webcams send only JPEG frames (MJPEG): such a source gets a JPEG decoder in front of the
 * conversion, which takes raw frames only. One that offers raw frames too keeps them. */
static gboolean
jpeg_only (BtCamera *self, GstElement *src)
{
  g_autoptr(GstCaps) offered = source_caps (self, src);
  g_autoptr(GstCaps) raw = gst_caps_from_string ("video/x-raw");
  g_autoptr(GstCaps) jpeg = gst_caps_from_string ("image/jpeg");

  if (offered == NULL || gst_caps_is_any (offered))
    return FALSE;
  return !gst_caps_can_intersect (offered, raw) && gst_caps_can_intersect (offered, jpeg);
}

gboolean
bt_camera_start (BtCamera *self, GError **error)
{
  g_autoptr(GstCaps) caps = NULL;
  g_autoptr(GstBus) bus = NULL;
  GstElement *src, *decode = NULL, *convert, *scale, *filter, *sink;
  GstAppSinkCallbacks callbacks = { 0 };

  g_return_val_if_fail (BT_IS_CAMERA (self), FALSE);
  if (self->pipeline != NULL)
    return TRUE;
  if ((src = make_source (self, error)) == NULL)
    return FALSE;
  if (jpeg_only (self, src) && (decode = gst_element_factory_make ("jpegdec", NULL)) == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                   _("The camera “%s” sends JPEG pictures and GStreamer's JPEG decoder is missing "
                     "(Debian package gstreamer1.0-plugins-good)"), self->name);
      gst_object_unref (src);
      return FALSE;
    }
  convert = gst_element_factory_make ("videoconvert", NULL);
  scale = gst_element_factory_make ("videoscale", NULL);
  filter = gst_element_factory_make ("capsfilter", NULL);
  sink = gst_element_factory_make ("appsink", NULL);
  if (convert == NULL || scale == NULL || filter == NULL || sink == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                   _("The camera cannot be used: GStreamer's base plugins are missing"));
      gst_object_unref (src);
      g_clear_pointer (&decode, gst_object_unref);
      g_clear_pointer (&convert, gst_object_unref);
      g_clear_pointer (&scale, gst_object_unref);
      g_clear_pointer (&filter, gst_object_unref);
      g_clear_pointer (&sink, gst_object_unref);
      return FALSE;
    }
  caps = gst_caps_new_simple ("video/x-raw", "format", G_TYPE_STRING, "RGB",
                              "width", GST_TYPE_INT_RANGE, 16, MAX_FRAME_W,
                              "height", GST_TYPE_INT_RANGE, 16, MAX_FRAME_H,
                              "pixel-aspect-ratio", GST_TYPE_FRACTION, 1, 1, NULL);
  g_object_set (filter, "caps", caps, NULL);
  /* the newest frame only: a slow consumer drops frames instead of queueing them */
  g_object_set (sink, "max-buffers", 1, "drop", TRUE, "sync", FALSE, NULL);
  callbacks.new_sample = new_sample_cb;
  gst_app_sink_set_callbacks (GST_APP_SINK (sink), &callbacks, self, NULL);

  self->pipeline = gst_pipeline_new ("bottega-camera");
  gst_bin_add_many (GST_BIN (self->pipeline), src, convert, scale, filter, sink, NULL);
  if (decode != NULL)
    gst_bin_add (GST_BIN (self->pipeline), decode);
  if (!(decode != NULL ? gst_element_link_many (src, decode, convert, NULL) : gst_element_link (src, convert))
      || !gst_element_link_many (convert, scale, filter, sink, NULL))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, _("The camera “%s” gives no picture Bottega can read"),
                   self->name);
      g_clear_pointer (&self->pipeline, gst_object_unref);
      return FALSE;
    }
  bus = gst_pipeline_get_bus (GST_PIPELINE (self->pipeline));
  self->bus_watch = gst_bus_add_watch (bus, bus_cb, self);
  if (gst_element_set_state (self->pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_BUSY, _("The camera “%s” could not be started (is another program using it?)"),
                   self->name);
      bt_camera_stop (self);
      return FALSE;
    }
  return TRUE;
}

void
bt_camera_stop (BtCamera *self)
{
  g_return_if_fail (BT_IS_CAMERA (self));
  if (self->pipeline == NULL)
    return;
  g_clear_handle_id (&self->bus_watch, g_source_remove);
  /* joins the streaming threads: no frame arrives after this */
  gst_element_set_state (self->pipeline, GST_STATE_NULL);
  g_clear_pointer (&self->pipeline, gst_object_unref);
}

gboolean
bt_camera_is_running (BtCamera *self)
{
  g_return_val_if_fail (BT_IS_CAMERA (self), FALSE);
  return self->pipeline != NULL;
}

GBytes *
bt_camera_dup_frame (BtCamera *self, int *width, int *height)
{
  GBytes *frame;

  g_return_val_if_fail (BT_IS_CAMERA (self), NULL);
  g_mutex_lock (&self->lock);
  frame = self->frame ? g_bytes_ref (self->frame) : NULL;
  *width = self->width;
  *height = self->height;
  g_mutex_unlock (&self->lock);
  return frame;
}

guint
bt_camera_get_n_frames (BtCamera *self)
{
  g_return_val_if_fail (BT_IS_CAMERA (self), 0);
  return self->n_frames;
}

static void
bt_camera_dispose (GObject *object)
{
  BtCamera *self = BT_CAMERA (object);

  if (self->pipeline != NULL)
    bt_camera_stop (self);
  G_OBJECT_CLASS (bt_camera_parent_class)->dispose (object);
}

static void
bt_camera_finalize (GObject *object)
{
  BtCamera *self = BT_CAMERA (object);

  g_clear_object (&self->device);
  if (self->portal_fd >= 0)
    close (self->portal_fd);
  g_clear_object (&self->portal_bus);
  g_free (self->name);
  g_free (self->description);
  g_clear_pointer (&self->frame, g_bytes_unref);
  g_mutex_clear (&self->lock);
  g_main_context_unref (self->context);
  G_OBJECT_CLASS (bt_camera_parent_class)->finalize (object);
}

static void
bt_camera_class_init (BtCameraClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = bt_camera_dispose;
  object_class->finalize = bt_camera_finalize;
  signals[FRAME] = g_signal_new ("frame", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                 G_TYPE_NONE, 1, GDK_TYPE_TEXTURE);
  signals[ERROR] = g_signal_new ("error", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                 G_TYPE_NONE, 1, G_TYPE_STRING);
}

static void
bt_camera_init (BtCamera *self)
{
  self->portal_fd = -1;
  g_mutex_init (&self->lock);
  /* made on a worker (find), used from the main context */
  self->context = g_main_context_ref (g_main_context_default ());
}
