/* bt-image-resize.c: the one preprocessing function (squash / center-crop / pad; area averaging
 * when shrinking, bilinear when growing) and uint8 HWC → float CHW scaling. */
#include "config.h"

#include <math.h>
#include <string.h>

#include "dataset/bt-dataset-private.h"

typedef struct {
  int    *first;   /* per output index: first source index */
  int    *count;   /* number of taps */
  float  *w;       /* taps, max_taps per output index */
  int     max_taps;
} Axis;

static void
axis_clear (Axis *a)
{
  g_free (a->first);
  g_free (a->count);
  g_free (a->w);
}

/* Maps `span` source samples (starting at 0) onto `dst` output samples. */
static void
axis_init (Axis *a, int span, int dst)
{
  a->first = g_new (int, dst);
  a->count = g_new (int, dst);
  if (dst < span)
    {
      double scale = (double) span / dst;
      a->max_taps = (int) ceil (scale) + 1;
      a->w = g_new0 (float, (gsize) dst * a->max_taps);
      for (int i = 0; i < dst; i++)
        {
          double lo = i * scale, hi = (i + 1) * scale;
          int j0 = (int) floor (lo), j1 = MIN ((int) ceil (hi), span);
          a->first[i] = j0;
          int n = 0;
          for (int j = j0; j < j1 && n < a->max_taps; j++)
            {
              double ov = MIN (hi, (double) j + 1) - MAX (lo, (double) j);
              a->w[(gsize) i * a->max_taps + n++] = (float) (MAX (ov, 0.0) / scale);
            }
          a->count[i] = n;
        }
    }
  else
    {
      a->max_taps = 2;
      a->w = g_new0 (float, (gsize) dst * 2);
      for (int i = 0; i < dst; i++)
        {
          double x = (i + 0.5) * span / dst - 0.5;
          x = CLAMP (x, 0.0, (double) (span - 1));
          int j0 = (int) floor (x);
          double f = x - j0;
          if (j0 >= span - 1)
            {
              j0 = span - 1;
              f = 0.0;
            }
          a->first[i] = j0;
          a->count[i] = f > 0.0 ? 2 : 1;
          a->w[i * 2] = (float) (1.0 - f);
          a->w[i * 2 + 1] = (float) f;
        }
    }
}

/* Resamples the sw × sh window at (sx, sy) of src into the dw × dh window at (dx, dy) of dst. */
static void
resample (const BtImage *src, int sx, int sy, int sw, int sh,
          BtImage *dst, int dx, int dy, int dw, int dh)
{
  int c = src->channels;
  if (sw == dw && sh == dh)
    {
      for (int y = 0; y < dh; y++)
        memcpy (dst->pixels + ((gsize) (dy + y) * dst->width + dx) * c,
                src->pixels + ((gsize) (sy + y) * src->width + sx) * c, (gsize) dw * c);
      return;
    }
  Axis ax, ay;
  axis_init (&ax, sw, dw);
  axis_init (&ay, sh, dh);
  float *tmp = g_new (float, (gsize) sh * dw * c);  /* rows of the window, columns resampled */
  for (int y = 0; y < sh; y++)
    {
      const guint8 *row = src->pixels + ((gsize) (sy + y) * src->width + sx) * c;
      float *t = tmp + (gsize) y * dw * c;
      for (int i = 0; i < dw; i++)
        {
          const float *w = ax.w + (gsize) i * ax.max_taps;
          for (int ch = 0; ch < c; ch++)
            {
              float acc = 0.f;
              const guint8 *p = row + (gsize) ax.first[i] * c + ch;
              for (int k = 0; k < ax.count[i]; k++)
                acc += w[k] * p[(gsize) k * c];
              t[i * c + ch] = acc;
            }
        }
    }
  float *acc = g_new (float, (gsize) dw * c);
  for (int j = 0; j < dh; j++)
    {
      memset (acc, 0, sizeof (float) * dw * c);
      const float *w = ay.w + (gsize) j * ay.max_taps;
      for (int k = 0; k < ay.count[j]; k++)
        {
          const float *t = tmp + (gsize) (ay.first[j] + k) * dw * c;
          for (int i = 0; i < dw * c; i++)
            acc[i] += w[k] * t[i];
        }
      guint8 *out = dst->pixels + ((gsize) (dy + j) * dst->width + dx) * c;
      for (int i = 0; i < dw * c; i++)
        {
          float v = acc[i] + 0.5f;
          out[i] = (guint8) (v <= 0.f ? 0 : v >= 255.f ? 255 : (int) v);
        }
    }
  g_free (acc);
  g_free (tmp);
  axis_clear (&ax);
  axis_clear (&ay);
}

BtImage *
bt_image_copy (const BtImage *img)
{
  BtImage *out;

  g_return_val_if_fail (img != NULL && img->pixels != NULL, NULL);
  out = bt_image_new (img->width, img->height, img->channels);
  if (out != NULL)
    memcpy (out->pixels, img->pixels, (gsize) img->width * img->height * img->channels);
  return out;
}

BtImage *
bt_image_resize (const BtImage *img, int out_w, int out_h, BtDsResize mode)
{
  g_return_val_if_fail (img != NULL && img->pixels != NULL, NULL);
  g_return_val_if_fail (img->width > 0 && img->height > 0, NULL);
  g_return_val_if_fail (img->channels == 1 || img->channels == 3, NULL);
  g_return_val_if_fail (out_w > 0 && out_h > 0 && out_w <= 16384 && out_h <= 16384, NULL);

  int sw = img->width, sh = img->height;
  BtImage *out = bt_image_new (out_w, out_h, img->channels);
  guint64 lhs = (guint64) sw * out_h, rhs = (guint64) sh * out_w;  /* compare aspect ratios */
  switch (mode)
    {
    case BT_DS_RESIZE_CENTER_CROP:
      if (lhs > rhs)  /* source wider: keep full height */
        {
          int cw = CLAMP ((int) ((rhs + out_h / 2) / out_h), 1, sw);
          resample (img, (sw - cw) / 2, 0, cw, sh, out, 0, 0, out_w, out_h);
        }
      else
        {
          int ch = CLAMP ((int) ((lhs + out_w / 2) / out_w), 1, sh);
          resample (img, 0, (sh - ch) / 2, sw, ch, out, 0, 0, out_w, out_h);
        }
      break;
    case BT_DS_RESIZE_PAD:  /* fit inside, centred, the rest black */
      if (lhs > rhs)
        {
          int nh = CLAMP ((int) (((guint64) sh * out_w + sw / 2) / sw), 1, out_h);
          resample (img, 0, 0, sw, sh, out, 0, (out_h - nh) / 2, out_w, nh);
        }
      else
        {
          int nw = CLAMP ((int) (((guint64) sw * out_h + sh / 2) / sh), 1, out_w);
          resample (img, 0, 0, sw, sh, out, (out_w - nw) / 2, 0, nw, out_h);
        }
      break;
    case BT_DS_RESIZE_SQUASH:
    default:
      resample (img, 0, 0, sw, sh, out, 0, 0, out_w, out_h);
      break;
    }
  return out;
}

void
bt_image_to_chw_float (const guint8 *hwc, int w, int h, int c, float scale,
                       const float *mean, const float *std, float *out)
{
  g_return_if_fail (hwc != NULL && out != NULL && w > 0 && h > 0 && c > 0);
  gsize plane = (gsize) w * h;
  for (int ch = 0; ch < c; ch++)
    {
      float m = mean ? mean[ch] : 0.f;
      float inv = (std && std[ch] != 0.f) ? 1.f / std[ch] : 1.f;
      float *o = out + plane * ch;
      const guint8 *p = hwc + ch;
      for (gsize i = 0; i < plane; i++)
        o[i] = ((float) p[i * c] * scale - m) * inv;
    }
}

BtImage *
bt_image_preprocess_file (const char *path, int width, int height, int channels, BtDsResize mode,
                          GCancellable *cancellable, BtSkipReason *reason, GError **error)
{
  g_return_val_if_fail (path != NULL, NULL);
  g_autoptr(BtImage) img = bt_image_decode_file_sized (path, channels, BT_TENSOR_BOX (width),
                                                       BT_TENSOR_BOX (height), NULL,
                                                       cancellable, reason, error);
  if (img == NULL)
    return NULL;
  return bt_image_resize (img, width, height, mode);
}

const char *
bt_ds_resize_to_string (BtDsResize mode)
{
  switch (mode)
    {
    case BT_DS_RESIZE_CENTER_CROP: return "center-crop";
    case BT_DS_RESIZE_PAD:         return "pad";
    case BT_DS_RESIZE_SQUASH:
    default:                       return "squash";
    }
}

gboolean
bt_ds_resize_from_string (const char *s, BtDsResize *out)
{
  g_return_val_if_fail (out != NULL, FALSE);
  if (s == NULL)
    return FALSE;
  if (g_str_equal (s, "squash")) *out = BT_DS_RESIZE_SQUASH;
  else if (g_str_equal (s, "center-crop")) *out = BT_DS_RESIZE_CENTER_CROP;
  else if (g_str_equal (s, "pad")) *out = BT_DS_RESIZE_PAD;
  else return FALSE;
  return TRUE;
}
