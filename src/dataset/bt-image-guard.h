/* bt-image-guard.h: structural checks that refuse inputs known to drive stb_image 2.27 (Debian 12)
 * into undefined behaviour, run before stb sees the bytes (PNG; stb reads no JPEG any more). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

gboolean bt_image_guard_png  (const guint8 *data, gsize len);

G_END_DECLS
