/* bt-decode-heif.c: HEIC/HEIF and AVIF through libheif: the primary image with its
 * transformations (irot, imir, clap) applied, alpha kept, the ICC profile passed on. Whether
 * HEVC or AV1 can be decoded depends on libheif's plugins: asked at run time. */
#include "config.h"

#include <string.h>
#include <glib/gi18n-lib.h>
#include <lcms2.h>
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

/* An nclx colour description (the colr box an iPhone or a camera writes instead of an ICC
 * profile): libheif's conversion to RGB already honours its matrix and range, not its primaries
 * and transfer. Those become an RGB ICC profile (lcms2), which the one decode path then converts
 * to sRGB like an embedded one. sRGB/BT.709 primaries with an sRGB-like curve need nothing; PQ
 * and HLG (HDR) are left as they are, since no SDR rendering of them is unique. */
/* ITU-T H.273 colour primaries: red, green, blue, white (x, y). libheif 1.15 leaves the nclx
 * struct's decoded chromaticities at 0, so they come from this table. */
static const struct { int code; double xy[8]; } h273_primaries[] = {
  { 4,  { 0.67, 0.33, 0.21, 0.71, 0.14, 0.08, 0.310, 0.316 } },
  { 5,  { 0.64, 0.33, 0.29, 0.60, 0.15, 0.06, 0.3127, 0.3290 } },
  { 6,  { 0.630, 0.340, 0.310, 0.595, 0.155, 0.070, 0.3127, 0.3290 } },
  { 7,  { 0.630, 0.340, 0.310, 0.595, 0.155, 0.070, 0.3127, 0.3290 } },
  { 8,  { 0.681, 0.319, 0.243, 0.692, 0.145, 0.049, 0.310, 0.316 } },
  { 9,  { 0.708, 0.292, 0.170, 0.797, 0.131, 0.046, 0.3127, 0.3290 } },
  { 11, { 0.680, 0.320, 0.265, 0.690, 0.150, 0.060, 0.314, 0.351 } },
  { 12, { 0.680, 0.320, 0.265, 0.690, 0.150, 0.060, 0.3127, 0.3290 } },
  { 22, { 0.630, 0.340, 0.295, 0.605, 0.155, 0.077, 0.3127, 0.3290 } },
};
static const double bt709_primaries[8] = { 0.64, 0.33, 0.30, 0.60, 0.15, 0.06, 0.3127, 0.3290 };

static void
nclx_to_icc (const struct heif_image_handle *handle, BtRaw *out)
{
  struct heif_color_profile_nclx *nclx = NULL;
  double gamma = 0;   /* 0: the sRGB curve */
  const double *xy = bt709_primaries;

  /* libheif 1.15 may hand back the struct with an error (a corrupt colr box): freed either way */
  if (heif_image_handle_get_nclx_color_profile (handle, &nclx).code != heif_error_Ok || nclx == NULL)
    {
      if (nclx != NULL)
        heif_nclx_color_profile_free (nclx);
      return;
    }
  /* BT.709 (= sRGB), unspecified, and what H.273 has no chromaticities for (XYZ) stay as sRGB */
  for (guint i = 0; i < G_N_ELEMENTS (h273_primaries); i++)
    if ((int) nclx->color_primaries == h273_primaries[i].code)
      xy = h273_primaries[i].xy;
  switch ((int) nclx->transfer_characteristics)
    {
    case heif_transfer_characteristic_ITU_R_BT_470_6_System_M: gamma = 2.2; break;
    case heif_transfer_characteristic_ITU_R_BT_470_6_System_B_G: gamma = 2.8; break;
    case heif_transfer_characteristic_linear: gamma = 1.0; break;
    default: break;   /* sRGB, BT.709/601/2020 (displayed like sRGB), unspecified, HDR */
    }
  if (xy == bt709_primaries && gamma == 0)
    {
      heif_nclx_color_profile_free (nclx);
      return;
    }
  {
    cmsContext ctx = cmsCreateContext (NULL, NULL);
    const cmsFloat64Number srgb_params[5] = { 2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045 };
    cmsToneCurve *curve = gamma == 0 ? cmsBuildParametricToneCurve (ctx, 4, srgb_params)
                                     : cmsBuildGamma (ctx, gamma);
    cmsToneCurve *curves[3] = { curve, curve, curve };
    cmsCIExyY white = { xy[6], xy[7], 1.0 };
    cmsCIExyYTRIPLE prim = { { xy[0], xy[1], 1.0 }, { xy[2], xy[3], 1.0 }, { xy[4], xy[5], 1.0 } };
    cmsHPROFILE profile = curve ? cmsCreateRGBProfileTHR (ctx, &white, &prim, curves) : NULL;
    cmsUInt32Number n = 0;

    if (profile != NULL && cmsSaveProfileToMem (profile, NULL, &n) && n > 0)
      {
        out->icc = g_malloc (n);
        if (cmsSaveProfileToMem (profile, out->icc, &n))
          out->icc_len = n;
        else
          g_clear_pointer (&out->icc, g_free);
      }
    if (profile != NULL)
      cmsCloseProfile (profile);
    if (curve != NULL)
      cmsFreeToneCurve (curve);
    cmsDeleteContext (ctx);
  }
  heif_nclx_color_profile_free (nclx);
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
  /* libheif decodes the coded image (its ispe size) whole before a crop (clap) makes it the
   * size above: that one must fit the same limits (a fuzzed file cropped 1×1 out of 60,000² spent
   * seconds clearing memory). */
  {
    int iw = heif_image_handle_get_ispe_width (handle), ih = heif_image_handle_get_ispe_height (handle);
    if ((iw > out->width || ih > out->height) &&
        !bt_decode_check_size (out, MAX (iw, out->width), MAX (ih, out->height), req, reason, error))
      goto out;
    /* and the codec's own stream may claim more than the file says (16384 × 63744 under a
     * 32 × 24 item, 3 GB): libheif refuses a side over its limit, so the limit is the file's */
    heif_context_set_maximum_image_size_limit (ctx, MAX (MAX (iw, ih), MAX (out->width, out->height)));
  }
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
  out->pixels = bt_pixels_alloc ((gsize) w * h * nc);
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
  else if (pt == heif_color_profile_type_nclx)
    nclx_to_icc (handle, out);
  ok = TRUE;

out:
  if (img)
    heif_image_release (img);
  if (handle)
    heif_image_handle_release (handle);
  heif_context_free (ctx);
  return ok;
}
