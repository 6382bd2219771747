/* bt-decode-heif.c: HEIC/HEIF and AVIF through libheif: the primary image with its
 * transformations (irot, imir, clap) applied, alpha kept, the ICC profile passed on. Whether
 * HEVC or AV1 can be decoded depends on libheif's plugins: asked at run time. */
#include "config.h"

#include <string.h>
#include <glib/gi18n-lib.h>
#include <libheif/heif.h>

#include "dataset/bt-decode-private.h"

static void
fail_heif (BtSkipReason *reason, GError **error, struct heif_error err)
{
  BtSkipReason r = BT_SKIP_CORRUPT;
  if (err.code == heif_error_Unsupported_feature || err.code == heif_error_Unsupported_filetype ||
      err.code == heif_error_Plugin_loading_error)
    r = BT_SKIP_UNSUPPORTED;
  else if (err.code == heif_error_Memory_allocation_error)
    r = BT_SKIP_TOO_LARGE;
  bt_decode_fail (reason, r, error, _("The HEIF image cannot be decoded: %s"),
                  err.message ? err.message : "?");
}

gboolean
bt_decode_heif (const guint8 *data, gsize len, const BtDecodeRequest *req,
                BtRaw *out, BtSkipReason *reason, GError **error)
{
  gboolean avif = heif_check_filetype (data, (int) MIN (len, 64)) != heif_filetype_no &&
                  (len >= 12 && (memcmp (data + 8, "avif", 4) == 0 || memcmp (data + 8, "avis", 4) == 0));
  enum heif_compression_format need = avif ? heif_compression_AV1 : heif_compression_HEVC;
  if (!heif_have_decoder_for_format (need))
    {
      bt_decode_fail (reason, BT_SKIP_UNSUPPORTED, error,
                      avif ? _("AVIF images are not supported: this system's libheif has no AV1 decoder")
                           : _("HEIC images are not supported: this system's libheif has no HEVC decoder"));
      return FALSE;
    }
  struct heif_context *ctx = heif_context_alloc ();
  struct heif_image_handle *handle = NULL;
  struct heif_image *img = NULL;
  gboolean ok = FALSE;
  heif_context_set_maximum_image_size_limit (ctx, 65535);
  struct heif_error err = heif_context_read_from_memory_without_copy (ctx, data, len, NULL);
  if (err.code == heif_error_Ok)
    err = heif_context_get_primary_image_handle (ctx, &handle);
  if (err.code != heif_error_Ok)
    {
      fail_heif (reason, error, err);
      goto out;
    }
  /* Dimensions after the transformations; the pixels come out already oriented. */
  out->width = heif_image_handle_get_width (handle);
  out->height = heif_image_handle_get_height (handle);
  out->orientation = 1;
  if (!bt_decode_check_size (out, out->width, out->height, req, reason, error))
    goto out;
  if (req->header_only)
    {
      ok = TRUE;
      goto out;
    }
  gboolean alpha = heif_image_handle_has_alpha_channel (handle);
  struct heif_decoding_options *opts = heif_decoding_options_alloc ();
  opts->ignore_transformations = 0;
  err = heif_decode_image (handle, &img, heif_colorspace_RGB,
                           alpha ? heif_chroma_interleaved_RGBA : heif_chroma_interleaved_RGB, opts);
  heif_decoding_options_free (opts);
  if (err.code != heif_error_Ok)
    {
      fail_heif (reason, error, err);
      goto out;
    }
  int stride = 0;
  const guint8 *plane = heif_image_get_plane_readonly (img, heif_channel_interleaved, &stride);
  int w = heif_image_get_width (img, heif_channel_interleaved);
  int h = heif_image_get_height (img, heif_channel_interleaved);
  int nc = alpha ? 4 : 3;
  if (plane == NULL || w <= 0 || h <= 0 || stride < w * nc ||
      (guint64) w * h > req->pixel_budget)
    {
      bt_decode_fail (reason, BT_SKIP_CORRUPT, error, _("The HEIF image is inconsistent"));
      goto out;
    }
  out->pixels = g_malloc ((gsize) w * h * nc);
  for (int y = 0; y < h; y++)
    memcpy (out->pixels + (gsize) y * w * nc, plane + (gsize) y * stride, (gsize) w * nc);
  out->width = w;
  out->height = h;
  out->channels = nc;
  enum heif_color_profile_type pt = heif_image_handle_get_color_profile_type (handle);
  if (pt == heif_color_profile_type_prof || pt == heif_color_profile_type_rICC)
    {
      gsize n = heif_image_handle_get_raw_color_profile_size (handle);
      if (n > 0 && n < (16u << 20))
        {
          out->icc = g_malloc (n);
          if (heif_image_handle_get_raw_color_profile (handle, out->icc).code == heif_error_Ok)
            out->icc_len = n;
          else
            g_clear_pointer (&out->icc, g_free);
        }
    }
  ok = TRUE;

out:
  if (img)
    heif_image_release (img);
  if (handle)
    heif_image_handle_release (handle);
  heif_context_free (ctx);
  return ok;
}
