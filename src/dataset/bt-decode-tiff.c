/* bt-decode-tiff.c: TIFF through libtiff over memory (TIFFClientOpenExt): the first page, any
 * photometric libtiff's RGBA reader knows (RGB, grey, palette, CMYK, YCbCr; 8 or 16 bits, the
 * latter rounded), its Orientation tag and ICC profile passed on. Errors stay per handle. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <glib/gi18n-lib.h>
#include <tiffio.h>

#include "dataset/bt-decode-private.h"

typedef struct {
  const guint8 *data;
  gsize len, pos;
  char  message[256];
  gboolean failed;
} MemTiff;

static tmsize_t
mem_read (thandle_t h, void *buf, tmsize_t n)
{
  MemTiff *m = h;
  if (n <= 0 || m->pos >= m->len)
    return 0;
  gsize k = MIN ((gsize) n, m->len - m->pos);
  memcpy (buf, m->data + m->pos, k);
  m->pos += k;
  return (tmsize_t) k;
}

static tmsize_t
mem_write (thandle_t h, void *buf, tmsize_t n)
{
  (void) h; (void) buf; (void) n;
  return 0;
}

static toff_t
mem_seek (thandle_t h, toff_t off, int whence)
{
  MemTiff *m = h;
  guint64 base = whence == SEEK_CUR ? m->pos : whence == SEEK_END ? m->len : 0;
  guint64 p = base + off;  /* toff_t is unsigned: "negative" offsets wrap and are refused */
  if (p > m->len)
    return (toff_t) -1;
  m->pos = (gsize) p;
  return p;
}

static int
mem_close (thandle_t h)
{
  (void) h;
  return 0;
}

static toff_t
mem_size (thandle_t h)
{
  return ((MemTiff *) h)->len;
}

static int
mem_map (thandle_t h, void **base, toff_t *size)
{
  MemTiff *m = h;
  *base = (void *) m->data;
  *size = m->len;
  return 1;
}

static void
mem_unmap (thandle_t h, void *base, toff_t size)
{
  (void) h; (void) base; (void) size;
}

static int on_error (TIFF *tif, void *user, const char *module, const char *fmt, va_list ap) G_GNUC_PRINTF (4, 0);
static int on_warning (TIFF *tif, void *user, const char *module, const char *fmt, va_list ap) G_GNUC_PRINTF (4, 0);

static int
on_error (TIFF *tif, void *user, const char *module, const char *fmt, va_list ap)
{
  (void) tif; (void) module;
  MemTiff *m = user;
  if (!m->failed)
    vsnprintf (m->message, sizeof m->message, fmt, ap);
  m->failed = TRUE;
  return 1;
}

static int
on_warning (TIFF *tif, void *user, const char *module, const char *fmt, va_list ap)
{
  (void) tif; (void) module;
  MemTiff *m = user;
  /* Unknown tags and the like are harmless; a tag whose data lies past the end of the file
   * means the file was cut short. */
  char msg[256];
  vsnprintf (msg, sizeof msg, fmt, ap);
  if (strstr (msg, "IO error") != NULL || strstr (msg, "truncat") != NULL)
    {
      if (!m->failed)
        g_strlcpy (m->message, msg, sizeof m->message);
      m->failed = TRUE;
    }
  return 1;
}

gboolean
bt_decode_tiff (const guint8 *data, gsize len, const BtDecodeRequest *req,
                BtRaw *out, BtSkipReason *reason, GError **error)
{
  MemTiff m = { data, len, 0, "", FALSE };
  TIFFOpenOptions *opts = TIFFOpenOptionsAlloc ();
  TIFFOpenOptionsSetErrorHandlerExtR (opts, on_error, &m);
  TIFFOpenOptionsSetWarningHandlerExtR (opts, on_warning, &m);
  /* No single allocation larger than the budget's RGBA raster (+ slack for tables). */
  TIFFOpenOptionsSetMaxSingleMemAlloc (opts, (tmsize_t) MIN ((guint64) G_MAXSSIZE, req->pixel_budget * 8 + (16u << 20)));
  TIFF *tif = TIFFClientOpenExt ("memory", "rm", &m, mem_read, mem_write, mem_seek, mem_close,
                                 mem_size, mem_map, mem_unmap, opts);
  TIFFOpenOptionsFree (opts);
  if (tif == NULL)
    {
      bt_decode_fail (reason, BT_SKIP_CORRUPT, error, _("The TIFF file is damaged: %s"), m.message);
      return FALSE;
    }
  guint32 w = 0, h = 0;
  guint16 orient = ORIENTATION_TOPLEFT;
  TIFFGetField (tif, TIFFTAG_IMAGEWIDTH, &w);
  TIFFGetField (tif, TIFFTAG_IMAGELENGTH, &h);
  TIFFGetField (tif, TIFFTAG_ORIENTATION, &orient);
  out->width = (int) MIN (w, (guint32) G_MAXINT);
  out->height = (int) MIN (h, (guint32) G_MAXINT);
  out->orientation = (orient >= 1 && orient <= 8) ? orient : 1;
  gboolean ok = FALSE;
  if (!bt_decode_check_size (out, out->width, out->height, req, reason, error))
    goto out;
  if (m.failed)
    {
      bt_decode_fail (reason, BT_SKIP_CORRUPT, error, _("The TIFF file is truncated: %s"), m.message);
      goto out;
    }
  if (req->header_only)
    {
      ok = TRUE;
      goto out;
    }
  guint16 bps = 8, photometric = PHOTOMETRIC_RGB;
  TIFFGetField (tif, TIFFTAG_BITSPERSAMPLE, &bps);
  TIFFGetField (tif, TIFFTAG_PHOTOMETRIC, &photometric);
  /* Every strip or tile of the page must lie inside the file: libtiff would decode a cut
   * strip as far as it goes and leave the rest of the raster blank. */
  guint32 n_striles = TIFFIsTiled (tif) ? TIFFNumberOfTiles (tif) : TIFFNumberOfStrips (tif);
  for (guint32 s = 0; s < n_striles; s++)
    {
      guint64 off = TIFFGetStrileOffset (tif, s), count = TIFFGetStrileByteCount (tif, s);
      if (count == 0 || off > len || count > len - off)
        {
          bt_decode_fail (reason, BT_SKIP_CORRUPT, error, _("The TIFF file is truncated"));
          goto out;
        }
    }
  char emsg[1024] = "";
  if (!TIFFRGBAImageOK (tif, emsg))
    {
      bt_decode_fail (reason, BT_SKIP_UNSUPPORTED, error, _("This TIFF image is not supported: %s"), emsg);
      goto out;
    }
  /* Read the rows as stored; bt_raw_orient applies all eight orientations the same way for
   * every format (libtiff's reader would only flip, never transpose). */
  TIFFSetField (tif, TIFFTAG_ORIENTATION, ORIENTATION_TOPLEFT);
  TIFFRGBAImage img;
  if (!TIFFRGBAImageBegin (&img, tif, 1, emsg))
    {
      bt_decode_fail (reason, BT_SKIP_UNSUPPORTED, error, _("This TIFF image is not supported: %s"), emsg);
      goto out;
    }
  img.req_orientation = ORIENTATION_TOPLEFT;
  gsize n = (gsize) w * h;
  guint32 *raster = (guint32 *) bt_pixels_try_alloc (n * 4);
  if (raster == NULL)
    {
      TIFFRGBAImageEnd (&img);
      bt_decode_fail (reason, BT_SKIP_TOO_LARGE, error, _("Not enough memory for a %u × %u image"), w, h);
      goto out;
    }
  int got = TIFFRGBAImageGet (&img, raster, w, h);
  gboolean alpha = img.alpha != 0, premultiplied = img.alpha == EXTRASAMPLE_ASSOCALPHA;
  TIFFRGBAImageEnd (&img);
  if (!got || m.failed)
    {
      bt_pixels_free ((guint8 *) raster);
      bt_decode_fail (reason, BT_SKIP_CORRUPT, error, _("The TIFF image is damaged or truncated: %s"), m.message);
      goto out;
    }
  int nc = alpha ? 4 : 3;
  guint8 *px = (guint8 *) raster;  /* ABGR words → RGB(A) bytes, in place front to back */
  for (gsize i = 0; i < n; i++)
    {
      guint32 v = raster[i];
      guint r = TIFFGetR (v), g = TIFFGetG (v), b = TIFFGetB (v), a = TIFFGetA (v);
      if (premultiplied && a > 0 && a < 255)
        {
          r = MIN (255u, (r * 255 + a / 2) / a);
          g = MIN (255u, (g * 255 + a / 2) / a);
          b = MIN (255u, (b * 255 + a / 2) / a);
        }
      px[i * nc] = (guint8) r;
      px[i * nc + 1] = (guint8) g;
      px[i * nc + 2] = (guint8) b;
      if (nc == 4)
        px[i * nc + 3] = (guint8) a;
    }
  out->pixels = bt_pixels_shrink ((guint8 *) raster, n * nc);
  out->channels = nc;
  out->converted = bps > 8 || photometric == PHOTOMETRIC_SEPARATED;
  guint32 icc_len = 0;
  void *icc = NULL;
  if (TIFFGetField (tif, TIFFTAG_ICCPROFILE, &icc_len, &icc) && icc != NULL && icc_len > 0)
    {
      out->icc = g_memdup2 (icc, icc_len);
      out->icc_len = icc_len;
      out->icc_is_cmyk = photometric == PHOTOMETRIC_SEPARATED;
    }
  ok = TRUE;

out:
  TIFFClose (tif);
  return ok;
}
