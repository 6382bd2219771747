/* bt-decode-jpeg.c: JPEG through libjpeg-turbo (baseline, progressive, arithmetic, grey, RGB,
 * CMYK/YCCK incl. Adobe's inverted CMYK), at the smallest DCT scale that covers the request. */
#include "config.h"

#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <glib/gi18n-lib.h>
#include <jpeglib.h>
#include <jerror.h>
#include <lcms2.h>

#include "dataset/bt-decode-private.h"

typedef struct {
  struct jpeg_error_mgr pub;
  jmp_buf  jump;
  gboolean truncated;    /* the data ended (or a marker came) before the scans did */
  char     message[JMSG_LENGTH_MAX];
} JpegErr;

static void
jpeg_err_exit (j_common_ptr cinfo)
{
  JpegErr *e = (JpegErr *) cinfo->err;
  (*cinfo->err->format_message) (cinfo, e->message);
  longjmp (e->jump, 1);
}

static void
jpeg_err_emit (j_common_ptr cinfo, int level)
{
  JpegErr *e = (JpegErr *) cinfo->err;
  /* Warnings only; libjpeg fills what is missing with grey and goes on. We refuse instead. */
  if (level < 0 && (cinfo->err->msg_code == JWRN_JPEG_EOF || cinfo->err->msg_code == JWRN_HIT_MARKER))
    e->truncated = TRUE;
}

static void
jpeg_err_output (j_common_ptr cinfo)
{
  (void) cinfo;  /* never print to stderr */
}

static void
cmyk_to_rgb (guint8 *px, gsize n, gboolean inverted)
{
  /* Naive CMYK → RGB (no profile): R = (255 − C)(255 − K)/255. Adobe writes inverted values. */
  for (gsize i = 0; i < n; i++)
    {
      const guint8 *s = px + i * 4;
      guint c = s[0], m = s[1], y = s[2], k = s[3];
      if (!inverted)
        {
          c = 255 - c; m = 255 - m; y = 255 - y; k = 255 - k;
        }
      guint8 *d = px + i * 3;
      d[0] = (guint8) ((c * k + 127) / 255);
      d[1] = (guint8) ((m * k + 127) / 255);
      d[2] = (guint8) ((y * k + 127) / 255);
    }
}

/* CMYK → sRGB through the file's own CMYK profile (lcms2, perceptual, as print software
 * previews it); FALSE when the profile is unusable or not a CMYK one (then the naive formula). */
static gboolean
cmyk_icc_to_rgb (guint8 *px, gsize n, const guint8 *icc, gsize icc_len, gboolean inverted)
{
  cmsContext ctx;
  cmsHPROFILE in, srgb;
  cmsHTRANSFORM t = NULL;
  guint8 *rgb;

  if (icc == NULL || icc_len < 132 || icc_len > G_MAXUINT32)
    return FALSE;
  ctx = cmsCreateContext (NULL, NULL);
  in = cmsOpenProfileFromMemTHR (ctx, icc, (cmsUInt32Number) icc_len);
  srgb = cmsCreate_sRGBProfileTHR (ctx);
  /* Adobe's inverted CMYK (0 = full ink) is lcms2's "reversed" flavour */
  if (in != NULL && srgb != NULL && cmsGetColorSpace (in) == cmsSigCmykData)
    t = cmsCreateTransformTHR (ctx, in, inverted ? TYPE_CMYK_8_REV : TYPE_CMYK_8, srgb, TYPE_RGB_8,
                               INTENT_PERCEPTUAL, 0);
  if (t != NULL)
    {
      /* in slices, so the RGB result never needs a second full-size buffer */
      const gsize slice = 64 * 1024;
      rgb = g_malloc (slice * 3);
      for (gsize i = 0; i < n; i += slice)
        {
          gsize m = MIN (slice, n - i);
          cmsDoTransform (t, px + i * 4, rgb, (cmsUInt32Number) m);
          memcpy (px + i * 3, rgb, m * 3);   /* ends at (i + m) * 3 <= (i + m) * 4: behind the input */
        }
      g_free (rgb);
      cmsDeleteTransform (t);
    }
  if (srgb != NULL)
    cmsCloseProfile (srgb);
  if (in != NULL)
    cmsCloseProfile (in);
  cmsDeleteContext (ctx);
  return t != NULL;
}

gboolean
bt_decode_jpeg (const guint8 *data, gsize len, const BtDecodeRequest *req,
                BtRaw *out, BtSkipReason *reason, GError **error)
{
  struct jpeg_decompress_struct cinfo;
  JpegErr jerr;
  memset (&jerr, 0, sizeof jerr);
  cinfo.err = jpeg_std_error (&jerr.pub);
  jerr.pub.error_exit = jpeg_err_exit;
  jerr.pub.emit_message = jpeg_err_emit;
  jerr.pub.output_message = jpeg_err_output;
  guint8 *volatile pixels = NULL;
  JSAMPROW *volatile rows = NULL;

  if (setjmp (jerr.jump))
    {
      bt_pixels_free (pixels);
      g_free (rows);
      jpeg_destroy_decompress (&cinfo);
      bt_raw_clear (out);
      bt_decode_fail (reason, BT_SKIP_CORRUPT, error, _("The JPEG image is damaged: %s"), jerr.message);
      return FALSE;
    }
  jpeg_create_decompress (&cinfo);
  /* A bound on the decoder's own working memory (progressive coefficient buffers). */
  cinfo.mem->max_memory_to_use = (long) MIN ((guint64) G_MAXLONG, req->pixel_budget * 8 + (64u << 20));
  jpeg_mem_src (&cinfo, data, (unsigned long) len);
  jpeg_save_markers (&cinfo, JPEG_APP0 + 1, 0xffff);
  if (!req->header_only)
    jpeg_save_markers (&cinfo, JPEG_APP0 + 2, 0xffff);
  jpeg_read_header (&cinfo, TRUE);

  int orientation = 1;
  for (jpeg_saved_marker_ptr m = cinfo.marker_list; m != NULL; m = m->next)
    if (m->marker == JPEG_APP0 + 1 && m->data_length > 6 && memcmp (m->data, "Exif\0\0", 6) == 0)
      {
        orientation = bt_exif_orientation (m->data, m->data_length);
        break;
      }
  out->orientation = orientation;
  out->width = (int) cinfo.image_width;
  out->height = (int) cinfo.image_height;
  if (!bt_decode_check_size (out, out->width, out->height, req, reason, error))
    {
      jpeg_destroy_decompress (&cinfo);
      return FALSE;
    }
  if (req->header_only)
    {
      jpeg_destroy_decompress (&cinfo);
      return TRUE;
    }

  gboolean cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
  gboolean grey = cinfo.jpeg_color_space == JCS_GRAYSCALE;
  cinfo.out_color_space = cmyk ? JCS_CMYK : grey ? JCS_GRAYSCALE : JCS_EXT_RGB;
  if (!cmyk && !grey && cinfo.num_components != 3)
    {
      jpeg_destroy_decompress (&cinfo);
      bt_decode_fail (reason, BT_SKIP_UNSUPPORTED, error, _("JPEG images with %d colour components are not supported"),
                      cinfo.num_components);
      return FALSE;
    }
  /* The smallest power-of-two DCT scale whose output still covers the request. */
  int denom = 1;
  int min_w = orientation >= 5 ? req->min_h : req->min_w, min_h = orientation >= 5 ? req->min_w : req->min_h;
  if (min_w > 0 && min_h > 0)
    for (int d = 8; d > 1; d /= 2)
      if ((int) ((cinfo.image_width + d - 1) / d) >= min_w &&
          (int) ((cinfo.image_height + d - 1) / d) >= min_h)
        {
          denom = d;
          break;
        }
  cinfo.scale_num = 1;
  cinfo.scale_denom = (unsigned) denom;
  cinfo.dct_method = JDCT_ISLOW;
  /* Scaled output is shrunk further by the area resize: libjpeg's merged upsampling + colour
   * conversion is enough there, and cheaper than its triangle filter. */
  if (denom > 1)
    cinfo.do_fancy_upsampling = FALSE;
  jpeg_start_decompress (&cinfo);
  /* before finish_decompress, which resets the state */
  JOCTET *icc = NULL;
  unsigned int icc_len = 0;
  if (jpeg_read_icc_profile (&cinfo, &icc, &icc_len) && icc != NULL)
    {
      out->icc = g_memdup2 (icc, icc_len);
      out->icc_len = icc_len;
      out->icc_is_cmyk = cmyk;
      free (icc);
    }

  int w = (int) cinfo.output_width, h = (int) cinfo.output_height, nc = cinfo.output_components;
  pixels = bt_pixels_alloc ((gsize) w * h * nc);
  rows = g_new (JSAMPROW, h);
  for (int y = 0; y < h; y++)
    rows[y] = pixels + (gsize) y * w * nc;
  while (cinfo.output_scanline < cinfo.output_height && !jerr.truncated)
    jpeg_read_scanlines (&cinfo, rows + cinfo.output_scanline, cinfo.output_height - cinfo.output_scanline);
  if (!jerr.truncated)
    jpeg_finish_decompress (&cinfo);
  if (jerr.truncated)
    {
      bt_pixels_free (pixels);
      g_free (rows);
      jpeg_destroy_decompress (&cinfo);
      bt_decode_fail (reason, BT_SKIP_CORRUPT, error, _("The JPEG file is truncated"));
      return FALSE;
    }

  if (cmyk)
    {
      if (!cmyk_icc_to_rgb (pixels, (gsize) w * h, out->icc, out->icc_len, cinfo.saw_Adobe_marker))
        cmyk_to_rgb (pixels, (gsize) w * h, cinfo.saw_Adobe_marker);
      nc = 3;
      out->converted = TRUE;
    }
  jpeg_destroy_decompress (&cinfo);
  g_free (rows);
  out->pixels = pixels;
  out->width = w;
  out->height = h;
  out->channels = nc;
  return TRUE;
}
