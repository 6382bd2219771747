/* bt-exif.c: the EXIF Orientation tag, read by a bounds-checked parser of IFD0 only, and the
 * eight orientations applied to decoded pixels. */
#include "config.h"

#include <string.h>

#include "dataset/bt-decode-private.h"

static guint
rd16 (const guint8 *p, gboolean le)
{
  return le ? (guint) p[0] | ((guint) p[1] << 8) : ((guint) p[0] << 8) | p[1];
}

static guint32
rd32 (const guint8 *p, gboolean le)
{
  return le ? (guint32) p[0] | ((guint32) p[1] << 8) | ((guint32) p[2] << 16) | ((guint32) p[3] << 24)
            : ((guint32) p[0] << 24) | ((guint32) p[1] << 16) | ((guint32) p[2] << 8) | p[3];
}

int
bt_exif_orientation (const guint8 *d, gsize len)
{
  if (d == NULL)
    return 1;
  if (len >= 6 && memcmp (d, "Exif\0\0", 6) == 0)
    {
      d += 6;
      len -= 6;
    }
  if (len < 8)
    return 1;
  gboolean le;
  if (memcmp (d, "II*\0", 4) == 0)
    le = TRUE;
  else if (memcmp (d, "MM\0*", 4) == 0)
    le = FALSE;
  else
    return 1;
  guint32 ifd = rd32 (d + 4, le);
  if (ifd < 8 || ifd > len - 2)
    return 1;
  guint n = rd16 (d + ifd, le);
  gsize p = (gsize) ifd + 2;
  for (guint i = 0; i < n && p + 12 <= len; i++, p += 12)
    {
      guint tag = rd16 (d + p, le), type = rd16 (d + p + 2, le);
      guint32 count = rd32 (d + p + 4, le);
      if (tag != 0x0112)
        continue;
      if (type != 3 || count != 1)  /* SHORT, one value, stored inline */
        return 1;
      guint v = rd16 (d + p + 8, le);
      return (v >= 1 && v <= 8) ? (int) v : 1;
    }
  return 1;
}

void
bt_raw_orient (BtRaw *raw)
{
  int o = raw->orientation;
  raw->orientation = 1;
  if (o <= 1 || o > 8 || raw->pixels == NULL)
    return;
  int W = raw->width, H = raw->height, c = raw->channels;
  gboolean swap = o >= 5;
  int ow = swap ? H : W, oh = swap ? W : H;
  /* out(x, y) = src(sx, sy) with sx, sy affine in x and y: each output row is a walk through
   * the source from a start pixel with a fixed step (in pixels). */
  gssize row = (gssize) W;
  gssize x0, y0, dx, dy;  /* source index of out(0,0); change per output x; per output y */
  switch (o)
    {
    case 2: x0 = W - 1;                 dx = -1;   dy = row;  break;
    case 3: x0 = (H - 1) * row + W - 1; dx = -1;   dy = -row; break;
    case 4: x0 = (H - 1) * row;         dx = 1;    dy = -row; break;
    case 5: x0 = 0;                     dx = row;  dy = 1;    break;
    case 6: x0 = (H - 1) * row;         dx = -row; dy = 1;    break;
    case 7: x0 = (H - 1) * row + W - 1; dx = -row; dy = -1;   break;
    case 8: default: x0 = W - 1;        dx = row;  dy = -1;   break;
    }
  y0 = x0;
  guint8 *out = bt_pixels_alloc ((gsize) ow * oh * c);
  const guint8 *src = raw->pixels;
  for (int y = 0; y < oh; y++, y0 += dy)
    {
      guint8 *d = out + (gsize) y * ow * c;
      gssize i = y0;
      if (c == 3)
        for (int x = 0; x < ow; x++, i += dx, d += 3)
          {
            const guint8 *s = src + i * 3;
            d[0] = s[0]; d[1] = s[1]; d[2] = s[2];
          }
      else if (c == 1)
        for (int x = 0; x < ow; x++, i += dx)
          d[x] = src[i];
      else
        for (int x = 0; x < ow; x++, i += dx, d += c)
          memcpy (d, src + i * c, c);
    }
  bt_pixels_free (raw->pixels);
  raw->pixels = out;
  raw->width = ow;
  raw->height = oh;
}
