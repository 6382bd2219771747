/* bt-camera-window.h: the Data page's camera window: a live preview, the class the shots go
 * to, Take Photo (Space) and Record at a chosen rate. Shots are saved as JPEG into the project's
 * images/<class>/ folder on a worker and added to the class at once. */
#pragma once

#include <gtk/gtk.h>

#include "bt-camera.h"
#include "dataset/bt-dataset.h"

G_BEGIN_DECLS

/* Opens a window on camera (taken, started here) for project; class_name is preselected (NULL:
 * the first class). The window stops the camera when it closes. */
GtkWindow *bt_camera_window_new (GtkWindow *parent, BtProject *project, BtCamera *camera,
                                 const char *class_name);
/* Photos the window saved and added so far (for tests and its own label). */
guint      bt_camera_window_get_n_added (GtkWindow *window);
/* Photos taken and still being written to disk (for tests: after Stop, what is still to come). */
guint      bt_camera_window_get_n_saving (GtkWindow *window);

G_END_DECLS
