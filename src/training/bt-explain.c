/* bt-explain.c: heat maps of what a model looked at (#23). Both methods work in the model's input
 * space (the image after its resize mode: squash, centre crop or pad) and the result is mapped
 * back onto the image, so a crop's cut-off sides get no heat. Occlusion: a grey patch slides
 * over the input; each pixel's heat is the mean drop of the class's probability over the patches
 * that covered it (own nets in batches of 64, transfer models one backbone pass per patch).
 * Grad-CAM: ReLU(Σ_k ReLU(∂logit/∂A_k) (A_k − mean A_k)) per position on the last conv layer's
 * map A before its pooling (engine/bt-net-cam.c; a transfer model's backbone, bt-transfer.c),
 * upsampled bilinearly. */
#include "config.h"

#include <glib/gi18n-lib.h>
#include <math.h>
#include <string.h>

#include "engine/bt-net-cam.h"
#include "training/bt-explain.h"
#include "training/bt-model-runner.h"
#include "training/bt-training-private.h"
#include "training/bt-transfer.h"

#define BATCH 64
#define OCCLUSION_GREY 128
#define MAX_PATCHES_OWN 400        /* batched small nets: cheap */
#define MAX_PATCHES_TRANSFER 64    /* one backbone pass each */

static const char *method_ids[] = { "auto", "occlusion", "gradcam" };

const char *
bt_explain_method_to_string (BtExplainMethod method)
{
  g_return_val_if_fail (method <= BT_EXPLAIN_GRADCAM, "auto");
  return method_ids[method];
}

gboolean
bt_explain_method_from_string (const char *s, BtExplainMethod *out)
{
  for (guint i = 0; s != NULL && i < G_N_ELEMENTS (method_ids); i++)
    if (g_str_equal (s, method_ids[i]))
      {
        *out = (BtExplainMethod) i;
        return TRUE;
      }
  return FALSE;
}

gboolean
bt_explain_supports_gradcam (BtModel *model)
{
  g_return_val_if_fail (model != NULL && model->net != NULL, FALSE);
  /* a transfer model: its backbone's last convolution (bt_transfer_class_gradient checks it) */
  return model->backbone_name != NULL || bt_net_has_feature_map (model->net);
}

void
bt_heatmap_free (BtHeatmap *map)
{
  if (map == NULL)
    return;
  g_free (map->heat);
  g_free (map);
}

/* ---- Geometry: which part of the image lands where in the input (bt_image_resize's rules) ---- */

typedef struct {
  double sx, sy, sw, sh;   /* the image's rectangle that is used */
  double dx, dy, dw, dh;   /* where it lands in the input */
} Mapping;

static void
mapping_for (Mapping *m, int iw, int ih, int ow, int oh, BtResizeMode mode)
{
  guint64 lhs = (guint64) iw * oh, rhs = (guint64) ih * ow;

  *m = (Mapping) { 0, 0, iw, ih, 0, 0, ow, oh };
  if (mode == BT_RESIZE_CENTER_CROP && lhs > rhs)
    {
      int cw = CLAMP ((int) ((rhs + oh / 2) / oh), 1, iw);
      m->sx = (iw - cw) / 2;
      m->sw = cw;
    }
  else if (mode == BT_RESIZE_CENTER_CROP)
    {
      int ch = CLAMP ((int) ((lhs + ow / 2) / ow), 1, ih);
      m->sy = (ih - ch) / 2;
      m->sh = ch;
    }
  else if (mode == BT_RESIZE_PAD && lhs > rhs)
    {
      int nh = CLAMP ((int) (((guint64) ih * ow + iw / 2) / iw), 1, oh);
      m->dy = (oh - nh) / 2;
      m->dh = nh;
    }
  else if (mode == BT_RESIZE_PAD)
    {
      int nw = CLAMP ((int) (((guint64) iw * oh + ih / 2) / ih), 1, ow);
      m->dx = (ow - nw) / 2;
      m->dw = nw;
    }
}

/* Bilinear sample of a w × h grid at (x, y) in pixel-centre coordinates, clamped to the edges. */
static float
sample (const float *v, int w, int h, double x, double y)
{
  x = CLAMP (x, 0.0, w - 1.0);
  y = CLAMP (y, 0.0, h - 1.0);
  int x0 = (int) x, y0 = (int) y;
  int x1 = MIN (x0 + 1, w - 1), y1 = MIN (y0 + 1, h - 1);
  double fx = x - x0, fy = y - y0;
  double top = v[y0 * w + x0] * (1 - fx) + v[y0 * w + x1] * fx;
  double bottom = v[y1 * w + x0] * (1 - fx) + v[y1 * w + x1] * fx;
  return (float) (top * (1 - fy) + bottom * fy);
}

static void
normalize (float *heat, gsize n)
{
  double sum = 0;

  for (gsize i = 0; i < n; i++)
    {
      if (!(heat[i] > 0.0f))   /* negative or NaN */
        heat[i] = 0.0f;
      sum += heat[i];
    }
  for (gsize i = 0; i < n; i++)
    heat[i] = sum > 0 ? (float) (heat[i] / sum) : 1.0f / n;
}

/* The input-space heat (pw × ph) onto the image (iw × ih) at out_w × out_h. */
static BtHeatmap *
to_image_space (const float *input_heat, int pw, int ph, int iw, int ih, BtResizeMode mode,
                int out_w, int out_h)
{
  BtHeatmap *map = g_new0 (BtHeatmap, 1);
  Mapping m;

  mapping_for (&m, iw, ih, pw, ph, mode);
  map->width = out_w;
  map->height = out_h;
  map->heat = g_new0 (float, (gsize) out_w * out_h);
  for (int v = 0; v < out_h; v++)
    for (int u = 0; u < out_w; u++)
      {
        double ix = (u + 0.5) * iw / out_w, iy = (v + 0.5) * ih / out_h;   /* image coordinates */
        if (ix < m.sx || ix >= m.sx + m.sw || iy < m.sy || iy >= m.sy + m.sh)
          continue;   /* cut off by the crop */
        double x = m.dx + (ix - m.sx) * m.dw / m.sw - 0.5, y = m.dy + (iy - m.sy) * m.dh / m.sh - 0.5;
        map->heat[(gsize) v * out_w + u] = sample (input_heat, pw, ph, x, y);
      }
  normalize (map->heat, (gsize) out_w * out_h);
  return map;
}

/* ---- Occlusion ---- */

typedef struct {
  BtModel *model;
  const BtImage *canvas;   /* the image at the model's input size */
  const float *x;          /* own nets: the canvas as input tensor */
  int pw, ph, patch, stride;
  int nx, ny;
  int cls;                 /* -1 until the base prediction decides it */
  GCancellable *cancellable;
} Occlusion;

static int
argmax (const float *v, int n)
{
  int best = 0;
  for (int j = 1; j < n; j++)
    if (v[j] > v[best])
      best = j;
  return best;
}

static int
patch_origin (int i, int n, int size, int patch)
{
  return n <= 1 ? 0 : (int) ((gint64) i * (size - patch) / (n - 1));
}

/* Own nets: probabilities of patches [first, first + n), patch index -1 = the plain canvas. */
static gboolean
occlusion_batch_own (Occlusion *o, int first, int n, float *probs_out, GError **error)
{
  const BtPreprocess *prep = &o->model->prep;
  gsize plane = (gsize) o->pw * o->ph, in_sz = plane * prep->channels;
  int k = bt_net_n_classes (o->model->net);
  g_autofree float *batch = g_new (float, in_sz * n);
  const float *probs;

  for (int b = 0; b < n; b++)
    {
      float *x = batch + in_sz * b;
      int idx = first + b;
      memcpy (x, o->x, in_sz * sizeof (float));
      if (idx < 0)
        continue;
      int x0 = patch_origin (idx % o->nx, o->nx, o->pw, o->patch);
      int y0 = patch_origin (idx / o->nx, o->ny, o->ph, o->patch);
      for (int c = 0; c < prep->channels; c++)
        {
          float grey = (OCCLUSION_GREY * prep->scale - prep->mean[c]) / prep->std[c];
          for (int y = y0; y < y0 + o->patch; y++)
            for (int xx = x0; xx < x0 + o->patch; xx++)
              x[c * plane + (gsize) y * o->pw + xx] = grey;
        }
    }
  bt_compute_gate_enter ();
  probs = bt_net_forward (o->model->net, batch, n, FALSE, error);
  if (probs != NULL)
    memcpy (probs_out, probs, sizeof (float) * k * n);
  bt_compute_gate_leave ();
  return probs != NULL;
}

/* Transfer models: one prediction (backbone + head) per patch. */
static gboolean
occlusion_batch_transfer (Occlusion *o, int first, int n, float *probs_out, GError **error)
{
  int k = bt_net_n_classes (o->model->net);
  g_autoptr(BtImage) img = bt_image_new (o->pw, o->ph, o->canvas->channels);
  gsize row = (gsize) o->pw * o->canvas->channels;

  for (int b = 0; b < n; b++)
    {
      int idx = first + b;
      memcpy (img->pixels, o->canvas->pixels, row * o->ph);
      if (idx >= 0)
        {
          int x0 = patch_origin (idx % o->nx, o->nx, o->pw, o->patch);
          int y0 = patch_origin (idx / o->nx, o->ny, o->ph, o->patch);
          for (int y = y0; y < y0 + o->patch; y++)
            memset (img->pixels + y * row + (gsize) x0 * img->channels, OCCLUSION_GREY,
                    (gsize) o->patch * img->channels);
        }
      g_autofree float *p = bt_predict_image (o->model, img, error);
      if (p == NULL)
        return FALSE;
      memcpy (probs_out + (gsize) b * k, p, sizeof (float) * k);
      if (g_cancellable_set_error_if_cancelled (o->cancellable, error))
        return FALSE;
    }
  return TRUE;
}

static float *
occlusion_heat (Occlusion *o, GError **error)
{
  gboolean transfer = o->model->backbone_name != NULL;
  int k = bt_net_n_classes (o->model->net);
  int short_side = MIN (o->pw, o->ph), max_patches = transfer ? MAX_PATCHES_TRANSFER : MAX_PATCHES_OWN;
  gsize plane = (gsize) o->pw * o->ph;
  g_autofree float *probs = g_new (float, (gsize) k * BATCH);
  g_autofree float *sum = g_new0 (float, plane);
  g_autofree float *count = g_new0 (float, plane);
  float base;

  o->patch = CLAMP (short_side / 6, 1, short_side);
  for (o->stride = MAX (1, o->patch / 2);; o->stride++)
    {
      o->nx = (o->pw - o->patch) / o->stride + 1 + ((o->pw - o->patch) % o->stride != 0);
      o->ny = (o->ph - o->patch) / o->stride + 1 + ((o->ph - o->patch) % o->stride != 0);
      if (o->nx * o->ny <= max_patches)
        break;
    }
  /* the plain image first: its probability is what each patch is compared with */
  if (!(transfer ? occlusion_batch_transfer : occlusion_batch_own) (o, -1, 1, probs, error))
    return NULL;
  if (o->cls < 0)
    o->cls = argmax (probs, k);
  base = probs[o->cls];
  for (int first = 0; first < o->nx * o->ny; first += BATCH)
    {
      int n = MIN (BATCH, o->nx * o->ny - first);
      if (g_cancellable_set_error_if_cancelled (o->cancellable, error) ||
          !(transfer ? occlusion_batch_transfer : occlusion_batch_own) (o, first, n, probs, error))
        return NULL;
      for (int b = 0; b < n; b++)
        {
          int x0 = patch_origin ((first + b) % o->nx, o->nx, o->pw, o->patch);
          int y0 = patch_origin ((first + b) / o->nx, o->ny, o->ph, o->patch);
          float drop = base - probs[(gsize) b * k + o->cls];
          for (int y = y0; y < y0 + o->patch; y++)
            for (int x = x0; x < x0 + o->patch; x++)
              {
                sum[(gsize) y * o->pw + x] += drop;
                count[(gsize) y * o->pw + x] += 1;
              }
        }
    }
  for (gsize i = 0; i < plane; i++)
    sum[i] = count[i] > 0 ? sum[i] / count[i] : 0;
  return g_steal_pointer (&sum);
}

/* ---- Grad-CAM ---- */

/* x: own nets' input tensor; canvas: a transfer model's image at its input size. */
static float *
gradcam_heat (BtModel *model, const float *x, const BtImage *canvas, int *cls, GError **error)
{
  g_autofree float *features = NULL, *grad = NULL;
  int c, h, w, pw = model->prep.width, ph = model->prep.height;
  gboolean ok;

  bt_compute_gate_enter ();
  if (model->backbone_name != NULL)
    ok = bt_transfer_class_gradient (model, canvas, cls, &features, &grad, &c, &h, &w, error);
  else
    {
      if (*cls < 0)
        {
          const float *p = bt_net_forward (model->net, x, 1, FALSE, error);
          if (p != NULL)
            *cls = argmax (p, bt_net_n_classes (model->net));
        }
      ok = *cls >= 0 && bt_net_class_gradient (model->net, x, *cls, &features, &grad, &c, &h, &w, error);
    }
  bt_compute_gate_leave ();
  if (!ok)
    return NULL;

  gsize hw = (gsize) h * w;
  g_autofree float *cam = g_new0 (float, hw);
  /* LayerCAM's weighting (Jiang et al., 2021): each position's own positive gradient instead of
   * the channel's mean, which keeps the map sharp when a dense layer (not global pooling)
   * follows the features; for a GAP head the two agree up to the ReLU. Each activation counts
   * by how far it stands above its channel's mean over the map: a texture that fills the whole
   * image excites a channel everywhere alike and so gets no heat (0.42 → 0.59 of the heat on
   * the deciding marker, docs/PERFORMANCE.md). */
  for (int k = 0; k < c; k++)
    {
      const float *a = features + k * hw, *g = grad + k * hw;
      double mean = 0;
      for (gsize p = 0; p < hw; p++)
        mean += a[p];
      mean /= (double) hw;
      for (gsize p = 0; p < hw; p++)
        cam[p] += MAX (g[p], 0.0f) * (float) (a[p] - mean);
    }
  float *heat = g_new (float, (gsize) pw * ph);
  for (int y = 0; y < ph; y++)
    for (int xx = 0; xx < pw; xx++)
      {
        float v = sample (cam, w, h, (xx + 0.5) * w / pw - 0.5, (y + 0.5) * h / ph - 0.5);
        heat[(gsize) y * pw + xx] = MAX (v, 0.0f);
      }
  return heat;
}

/* ---- Entry point ---- */

BtHeatmap *
bt_explain_image (BtModel *model, const BtImage *image, int class_index,
                  BtExplainMethod method, int out_w, int out_h,
                  GCancellable *cancellable, GError **error)
{
  g_autoptr(BtImage) converted = NULL;
  g_autoptr(BtImage) canvas = NULL;
  g_autofree float *x = NULL;
  g_autofree float *heat = NULL;
  const BtPreprocess *prep;
  gboolean transfer;
  int channels;
  BtHeatmap *map;

  g_return_val_if_fail (model != NULL && model->net != NULL, NULL);
  g_return_val_if_fail (image != NULL && image->pixels != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  prep = &model->prep;
  transfer = model->backbone_name != NULL;
  channels = transfer ? 3 : prep->channels;
  if (class_index >= bt_net_n_classes (model->net))
    {
      g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID,
                   _("The model has no class number %d"), class_index + 1);
      return NULL;
    }
  if (method == BT_EXPLAIN_AUTO)   /* a backbone's last map is coarse (4×4 to 7×7): occlusion */
    method = !transfer && bt_explain_supports_gradcam (model) ? BT_EXPLAIN_GRADCAM : BT_EXPLAIN_OCCLUSION;
  if (method == BT_EXPLAIN_GRADCAM && !bt_explain_supports_gradcam (model))
    {
      g_set_error_literal (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID,
                           _("Grad-CAM needs a convolutional network; use occlusion for this model"));
      return NULL;
    }
  if (image->width <= 0 || image->height <= 0 || (image->channels != 1 && image->channels != 3) ||
      (channels != 1 && channels != 3))
    {
      g_set_error_literal (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID,
                           _("The image is empty or has an unsupported pixel format"));
      return NULL;
    }
  if (image->channels != channels)
    converted = bt_image_convert_channels (image, channels);
  canvas = bt_image_resize (converted ? converted : image, prep->width, prep->height,
                            bt_resize_mode_to_ds (prep->resize));
  if (canvas == NULL)
    {
      g_set_error_literal (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID,
                           _("The image could not be resized to the model’s input size"));
      return NULL;
    }
  if (!transfer)
    {
      x = g_new (float, (gsize) channels * prep->width * prep->height);
      bt_image_to_chw_float (canvas->pixels, canvas->width, canvas->height, channels,
                             prep->scale, prep->mean, prep->std, x);
    }

  if (method == BT_EXPLAIN_GRADCAM)
    heat = gradcam_heat (model, x, canvas, &class_index, error);
  else
    {
      Occlusion o = { model, canvas, x, prep->width, prep->height, 0, 0, 0, 0, class_index, cancellable };
      heat = occlusion_heat (&o, error);
      class_index = o.cls;
    }
  if (heat == NULL)
    return NULL;
  if (out_w <= 0 || out_h <= 0)
    {
      out_w = image->width;
      out_h = image->height;
    }
  map = to_image_space (heat, prep->width, prep->height, image->width, image->height, prep->resize,
                        out_w, out_h);
  map->class_index = class_index;
  map->method = method;
  return map;
}

BtHeatmap *
bt_explain_file (BtModel *model, const char *path, int class_index, BtExplainMethod method,
                 int max_side, BtImage **image, GCancellable *cancellable, GError **error)
{
  g_autoptr(GMappedFile) mapped = NULL;
  g_autoptr(BtImage) img = NULL;
  BtHeatmap *map;
  int w = 0, h = 0;

  g_return_val_if_fail (model != NULL && path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  /* the upright size from the header, then one decode at that size (or smaller) */
  mapped = g_mapped_file_new (path, FALSE, error);
  if (mapped == NULL ||
      !bt_image_probe_bytes ((const guint8 *) g_mapped_file_get_contents (mapped), g_mapped_file_get_length (mapped),
                             &w, &h, NULL, NULL, error))
    return NULL;
  g_clear_pointer (&mapped, g_mapped_file_unref);
  if (max_side > 0 && MAX (w, h) > max_side)
    {
      double s = (double) max_side / MAX (w, h);
      w = MAX (1, (int) (w * s + 0.5));
      h = MAX (1, (int) (h * s + 0.5));
    }
  img = bt_image_preprocess_file (path, w, h, model->backbone_name != NULL ? 3 : model->prep.channels,
                                  BT_DS_RESIZE_SQUASH, cancellable, NULL, error);
  if (img == NULL)
    return NULL;
  map = bt_explain_image (model, img, class_index, method, 0, 0, cancellable, error);
  if (map != NULL && image != NULL)
    *image = g_steal_pointer (&img);
  return map;
}

double
bt_heatmap_share_in (const BtHeatmap *map, int x, int y, int w, int h)
{
  double share = 0;

  g_return_val_if_fail (map != NULL, 0);
  for (int v = MAX (y, 0); v < MIN (y + h, map->height); v++)
    for (int u = MAX (x, 0); u < MIN (x + w, map->width); u++)
      share += map->heat[(gsize) v * map->width + u];
  return share;
}

guint8 *
bt_heatmap_to_rgba (const BtHeatmap *map, double opacity)
{
  gsize n;
  float top = 0;
  guint8 *rgba;

  g_return_val_if_fail (map != NULL, NULL);
  n = (gsize) map->width * map->height;
  for (gsize i = 0; i < n; i++)
    top = MAX (top, map->heat[i]);
  rgba = g_new (guint8, n * 4);
  for (gsize i = 0; i < n; i++)
    {
      double t = top > 0 ? map->heat[i] / top : 0;
      /* red (warm) → yellow (hot); cold parts stay clear, so the image itself still shows */
      rgba[4 * i + 0] = 255;
      rgba[4 * i + 1] = (guint8) lround (255 * CLAMP (1.4 * t - 0.4, 0, 1));
      rgba[4 * i + 2] = 0;
      rgba[4 * i + 3] = (guint8) lround (255 * CLAMP (opacity, 0, 1) * CLAMP (1.5 * t, 0, 1));
    }
  return rgba;
}
