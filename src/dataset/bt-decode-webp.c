/* bt-decode-webp.c: WebP through libwebp (lossy, lossless, alpha; the first frame of an
 * animation via WebPAnimDecoder), with the EXIF and ICCP chunks found by WebPDemux. */
#include "config.h"

#include <string.h>
#include <glib/gi18n-lib.h>
#include <webp/decode.h>
#include <webp/demux.h>

#include "dataset/bt-decode-private.h"

static gboolean
decode_first_frame (const WebPData *wdata, BtRaw *out, BtSkipReason *reason, GError **error)
{
  WebPAnimDecoderOptions opts;
  if (!WebPAnimDecoderOptionsInit (&opts))
    return FALSE;
  opts.color_mode = MODE_RGBA;
  opts.use_threads = 0;
  WebPAnimDecoder *dec = WebPAnimDecoderNew (wdata, &opts);
  WebPAnimInfo info;
  uint8_t *frame = NULL;
  int ts = 0;
  if (dec == NULL || !WebPAnimDecoderGetInfo (dec, &info) || !WebPAnimDecoderGetNext (dec, &frame, &ts) ||
      (int) info.canvas_width != out->width || (int) info.canvas_height != out->height)
    {
      if (dec)
        WebPAnimDecoderDelete (dec);
      bt_decode_fail (reason, BT_SKIP_CORRUPT, error, _("The animated WebP image is damaged"));
      return FALSE;
    }
  out->channels = 4;
  out->pixels = bt_pixels_alloc ((gsize) out->width * out->height * 4);
  memcpy (out->pixels, frame, (gsize) out->width * out->height * 4);
  WebPAnimDecoderDelete (dec);
  return TRUE;
}

gboolean
bt_decode_webp (const guint8 *data, gsize len, const BtDecodeRequest *req,
                BtRaw *out, BtSkipReason *reason, GError **error)
{
  WebPData wdata = { data, len };
  WebPDemuxer *demux = WebPDemux (&wdata);  /* refuses a file cut short */
  if (demux == NULL)
    {
      bt_decode_fail (reason, BT_SKIP_CORRUPT, error, _("The WebP file is damaged or truncated"));
      return FALSE;
    }
  out->width = (int) WebPDemuxGetI (demux, WEBP_FF_CANVAS_WIDTH);
  out->height = (int) WebPDemuxGetI (demux, WEBP_FF_CANVAS_HEIGHT);
  guint32 flags = WebPDemuxGetI (demux, WEBP_FF_FORMAT_FLAGS);
  guint32 frames = WebPDemuxGetI (demux, WEBP_FF_FRAME_COUNT);
  WebPChunkIterator chunk;
  if (WebPDemuxGetChunk (demux, "EXIF", 1, &chunk))
    {
      out->orientation = bt_exif_orientation (chunk.chunk.bytes, chunk.chunk.size);
      WebPDemuxReleaseChunkIterator (&chunk);
    }
  if (!bt_decode_check_size (out, out->width, out->height, req, reason, error))
    {
      WebPDemuxDelete (demux);
      return FALSE;
    }
  if (req->header_only)
    {
      WebPDemuxDelete (demux);
      return TRUE;
    }
  if (WebPDemuxGetChunk (demux, "ICCP", 1, &chunk))
    {
      out->icc = g_memdup2 (chunk.chunk.bytes, chunk.chunk.size);
      out->icc_len = chunk.chunk.size;
      WebPDemuxReleaseChunkIterator (&chunk);
    }
  WebPDemuxDelete (demux);
  if ((flags & ANIMATION_FLAG) || frames > 1)
    return decode_first_frame (&wdata, out, reason, error);

  WebPDecoderConfig config;
  if (!WebPInitDecoderConfig (&config) || WebPGetFeatures (data, len, &config.input) != VP8_STATUS_OK)
    {
      bt_decode_fail (reason, BT_SKIP_CORRUPT, error, _("The WebP image header is damaged"));
      return FALSE;
    }
  int w = config.input.width, h = config.input.height;
  if (w != out->width || h != out->height)
    {
      bt_decode_fail (reason, BT_SKIP_CORRUPT, error, _("The WebP image is inconsistent"));
      return FALSE;
    }
  /* libwebp's scaler (an area average) to the smallest size that still covers the request. */
  int min_w = out->orientation >= 5 ? req->min_h : req->min_w;
  int min_h = out->orientation >= 5 ? req->min_w : req->min_h;
  if (min_w > 0 && min_h > 0)
    {
      double s = MAX ((double) min_w / w, (double) min_h / h);
      if (s < 0.5)
        {
          config.options.use_scaling = 1;
          config.options.scaled_width = MAX (1, (int) (w * s + 0.999));
          config.options.scaled_height = MAX (1, (int) (h * s + 0.999));
          w = config.options.scaled_width;
          h = config.options.scaled_height;
        }
    }
  int nc = config.input.has_alpha ? 4 : 3;
  guint8 *pixels = bt_pixels_alloc ((gsize) w * h * nc);
  config.output.colorspace = nc == 4 ? MODE_RGBA : MODE_RGB;
  config.output.is_external_memory = 1;
  config.output.u.RGBA.rgba = pixels;
  config.output.u.RGBA.stride = w * nc;
  config.output.u.RGBA.size = (size_t) w * h * nc;
  VP8StatusCode st = WebPDecode (data, len, &config);
  WebPFreeDecBuffer (&config.output);
  if (st != VP8_STATUS_OK)
    {
      bt_pixels_free (pixels);
      bt_decode_fail (reason, st == VP8_STATUS_UNSUPPORTED_FEATURE ? BT_SKIP_UNSUPPORTED : BT_SKIP_CORRUPT,
                      error, _("The WebP image is damaged (libwebp status %d)"), (int) st);
      return FALSE;
    }
  out->pixels = pixels;
  out->width = w;
  out->height = h;
  out->channels = nc;
  return TRUE;
}
