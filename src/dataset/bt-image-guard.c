/* bt-image-guard.c: walks JPEG marker segments and PNG chunks to refuse the two shapes that make
 * stb_image 2.27 misbehave: a Huffman table declaring more than 256 codes (stbi__build_huffman
 * writes past h->size[257]) and an empty IDAT before any image data (NULL + 0 in stbi__getn). */
#include "config.h"

#include <string.h>

#include "dataset/bt-image-guard.h"

/* One DHT segment body: tables of (class/id byte, 16 counts, values). */
static gboolean
dht_ok (const guint8 *p, gsize len)
{
  gsize i = 0;
  while (i < len)
    {
      if (i + 17 > len)
        return FALSE;
      guint n = 0;
      for (int k = 1; k <= 16; k++)
        n += p[i + k];
      if (n > 256)
        return FALSE;
      i += 17 + n;
    }
  return TRUE;
}

gboolean
bt_image_guard_jpeg (const guint8 *d, gsize len)
{
  g_return_val_if_fail (d != NULL || len == 0, FALSE);
  /* stb reads a JPEG after any number of 0xFF fill bytes before SOI, whatever the magic says */
  gsize i = 0;
  while (i < len && d[i] == 0xff)
    i++;
  if (i == 0 || i >= len || d[i] != 0xd8)
    return TRUE;   /* not a JPEG to stb */
  i++;
  while (i + 4 <= len)
    {
      if (d[i] != 0xff)
        {
          i++;  /* entropy-coded data of the last scan: look for the next marker */
          continue;
        }
      guint8 m = d[i + 1];
      if (m == 0xff || m == 0x00 || m == 0x01 || (m >= 0xd0 && m <= 0xd7))
        {
          i += m == 0xff ? 1 : 2;
          continue;
        }
      if (m == 0xd9)
        return TRUE;
      gsize seg = ((gsize) d[i + 2] << 8) | d[i + 3];
      if (seg < 2)
        return TRUE;  /* stb refuses it itself */
      gsize body = MIN (seg - 2, len - (i + 4));
      if (m == 0xc4 && !dht_ok (d + i + 4, body))
        return FALSE;
      i += 2 + seg;
    }
  return TRUE;
}

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
