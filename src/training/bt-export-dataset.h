/* bt-export-dataset.h: writes a project's labelled images as a folder-per-class tree, one
 * sub-tree per split (out/train/<class>/…, out/val/…, out/test/…), the layout that Keras'
 * image_dataset_from_directory and torchvision's ImageFolder read. */
#pragma once

#include "training/bt-training.h"

G_BEGIN_DECLS

/* Copies every usable image (excluded and missing images are left out) into
 * out_dir/<split>/<class>/<file name>; equal file names within a folder get "-2", "-3"…
 * before the extension; class names are made safe as folder names ("/" → "_", no leading
 * "."). out_dir must be missing or empty. n_copied / n_skipped (may be NULL): images copied,
 * and images that vanished or could not be read (skipped, not an error). Cancellable. */
gboolean bt_export_dataset (BtProject *project, const char *out_dir, guint *n_copied, guint *n_skipped,
                            GCancellable *cancellable, GError **error);

/* The same with the item list snapshotted on the calling thread and the copies made in a
 * GTask thread. The result's value is the number of images copied. */
void     bt_export_dataset_async  (BtProject *project, const char *out_dir, GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer user_data);
gboolean bt_export_dataset_finish (GAsyncResult *result, guint *n_copied, guint *n_skipped, GError **error);

G_END_DECLS
