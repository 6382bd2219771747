/* bt-image-guard.c: walks PNG chunks to refuse what makes stb_image 2.27 (Debian 12) misbehave:
 * an empty IDAT before any image data (NULL + 0 in stbi__getn). JPEG, whose Huffman tables of
 * more than 256 codes made stb write past h->size[257], is read by libjpeg-turbo now. */
#include "config.h"

#include <string.h>

#include "dataset/bt-image-guard.h"

gboolean
bt_image_guard_png (const guint8 *d, gsize len)
{
  g_return_val_if_fail (d != NULL || len == 0, FALSE);
  gsize i = 8;
  while (i + 8 <= len)
    {
      guint32 n = ((guint32) d[i] << 24) | ((guint32) d[i + 1] << 16) | ((guint32) d[i + 2] << 8) | d[i + 3];
      if (memcmp (d + i + 4, "IDAT", 4) == 0)
        return n != 0;  /* the first IDAT decides; later empty ones append to live data */
      if (n > len - i - 8)
        return TRUE;    /* truncated: stb refuses it itself */
      i += 12 + (gsize) n;
    }
  return TRUE;
}
