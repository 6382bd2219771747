/* bt-camera.h: a camera through GStreamer: source → videoconvert → videoscale → RGB appsink.
 * GStreamer's streaming thread converts and copies each frame; the main thread gets the newest
 * frame as a texture to draw (at most one delivery pending, the newest wins) and hands the
 * frame's bytes to workers (camera shots, live classification). */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

/* A gst-launch description of the source that replaces the search for a device, for tests only
 * (e.g. "videotestsrc is-live=true pattern=ball"). */
#define BT_CAMERA_SOURCE_ENV "BOTTEGA_CAMERA_SOURCE"
/* "1": reach the camera through the desktop's camera portal (org.freedesktop.portal.Camera →
 * PipeWire) as in a Flatpak, "0": never; unset: only in a Flatpak (/.flatpak-info). */
#define BT_CAMERA_PORTAL_ENV "BOTTEGA_CAMERA_PORTAL"

#define BT_TYPE_CAMERA (bt_camera_get_type ())
G_DECLARE_FINAL_TYPE (BtCamera, bt_camera, BT, CAMERA, GObject)

/* Looks for a camera on a worker (GStreamer's device monitor, Video/Source; in a Flatpak the
 * camera portal, which may ask the person first). finish: NULL and a translated error when there
 * is none ("No camera found"), it was not allowed, or GStreamer cannot start. */
void        bt_camera_find_async  (GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
BtCamera   *bt_camera_find_finish (GAsyncResult *result, GError **error);
const char *bt_camera_get_name    (BtCamera *self);

/* Plays the pipeline; "frame" is emitted on the main context for each new frame that arrives
 * while the previous one was drawn, "error" once when the stream fails. */
gboolean    bt_camera_start       (BtCamera *self, GError **error);
void        bt_camera_stop        (BtCamera *self);
gboolean    bt_camera_is_running  (BtCamera *self);
/* The newest frame: packed RGB (width × 3 bytes a row), or NULL before the first. */
GBytes     *bt_camera_dup_frame   (BtCamera *self, int *width, int *height);
guint       bt_camera_get_n_frames (BtCamera *self);   /* frames delivered to the main thread */

G_END_DECLS
