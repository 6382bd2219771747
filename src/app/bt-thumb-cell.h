/* bt-thumb-cell.h: one cell of the Data page's thumbnail grid, drawn as a single widget:
 * the thumbnail (or a placeholder icon), a state badge and the file name. */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define BT_TYPE_THUMB_CELL (bt_thumb_cell_get_type ())
G_DECLARE_FINAL_TYPE (BtThumbCell, bt_thumb_cell, BT, THUMB_CELL, GtkWidget)

GtkWidget  *bt_thumb_cell_new         (int          thumb_size);
/* The file name shown under the picture (UTF-8). */
void        bt_thumb_cell_set_name    (BtThumbCell *self,
                                       const char  *name);
const char *bt_thumb_cell_get_name    (BtThumbCell *self);
/* NULL shows the placeholder: "image-missing" when failed, else "image loading". */
void        bt_thumb_cell_set_texture (BtThumbCell *self,
                                       GdkTexture  *texture,
                                       gboolean     failed);
GdkTexture *bt_thumb_cell_get_texture (BtThumbCell *self);
/* A symbolic icon in the picture's corner (missing, excluded, duplicate), or NULL. */
void        bt_thumb_cell_set_badge   (BtThumbCell *self,
                                       const char  *icon_name);
/* A small label with the class's colour over the picture's corner (the "All images" view
 * shows each image's class); class_name NULL hides it. */
void        bt_thumb_cell_set_class   (BtThumbCell   *self,
                                       const char    *class_name,
                                       const GdkRGBA *color);
const char *bt_thumb_cell_get_class   (BtThumbCell   *self);
/* Drawn faded (an image excluded from training). */
void        bt_thumb_cell_set_dimmed  (BtThumbCell *self,
                                       gboolean     dimmed);

G_END_DECLS
