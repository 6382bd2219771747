/* bt-image-preview.h: a window with one image at a large size and what is known about it. */
#pragma once

#include <gtk/gtk.h>

#include "dataset/bt-dataset.h"

G_BEGIN_DECLS

#define BT_TYPE_IMAGE_PREVIEW (bt_image_preview_get_type ())
G_DECLARE_FINAL_TYPE (BtImagePreview, bt_image_preview, BT, IMAGE_PREVIEW, GtkWindow)

/* Decodes on a worker; the window shows a placeholder until the image is ready. */
BtImagePreview *bt_image_preview_new        (GtkWindow      *parent,
                                             BtItem         *item);
/* TRUE once the worker has answered (image shown or its error). */
gboolean        bt_image_preview_get_loaded (BtImagePreview *self);
const char     *bt_image_preview_get_details (BtImagePreview *self);

G_END_DECLS
