/* bt-image-formats.h: the image formats Bottega knows, one row each — the only list of file
 * name suffixes and MIME types (import, Test a Folder, file choosers, the CLI all read it). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define BT_IMAGE_FORMAT_MAX_NAMES 4

typedef struct {
  const char *name;                                     /* as bt_image_probe_bytes names it */
  const char *suffixes[BT_IMAGE_FORMAT_MAX_NAMES];      /* lower case, no dot; NULL-terminated */
  const char *mime_types[BT_IMAGE_FORMAT_MAX_NAMES];    /* for file choosers; NULL-terminated */
  gboolean    decoded;  /* FALSE: recognised as a photo, refused by the decoder as unsupported */
} BtImageFormat;

/* The table, in a fixed order; *n_formats gets its length. */
const BtImageFormat *bt_image_formats (guint *n_formats);
/* The row whose suffix the file name (or path) ends in, ignoring case, or NULL. */
const BtImageFormat *bt_image_format_for_path (const char *path);
/* TRUE when the name ends in the suffix of a known format (decoded or not). Only the name is
 * looked at: the import still checks every file's content. */
gboolean             bt_image_path_has_image_suffix (const char *path);

G_END_DECLS
