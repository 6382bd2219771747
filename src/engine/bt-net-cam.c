/* bt-net-cam.c: the gradient of a class logit with respect to a CNN's last spatial feature map,
 * for Grad-CAM (#23). Only the classifier that follows the map is walked backwards (flatten or
 * global average pooling, dropout, dense layers with their activations), on an inference forward
 * pass, so dropout and batch norm behave as in prediction and no training buffers are touched. */
#include "config.h"

#include <math.h>
#include <string.h>

#include "engine/bt-engine-private.h"
#include "engine/bt-net-cam.h"

/* The index of the last spatial map: the producer of the first flatten / GAP layer, when
 * everything after it is a chain of layers this file knows; -1 otherwise. */
static int
feature_layer (const BtNet *net)
{
  int t = -1;

  for (guint i = 0; i < net->layers->len; i++)
    {
      const BtLayer *l = bt_net_layer (net, i);
      if (l->kind == BT_LAYER_FLATTEN || l->kind == BT_LAYER_GAP)
        {
          t = l->src;
          break;
        }
    }
  if (t < 0 || (guint) t + 1 >= net->layers->len)
    return -1;
  const BtLayer *f = bt_net_layer (net, t);
  if (f->h * f->w <= 1)
    return -1;
  for (guint i = t + 1; i < net->layers->len; i++)
    {
      const BtLayer *l = bt_net_layer (net, i);
      if (l->src != (int) i - 1)
        return -1;
      if (l->kind != BT_LAYER_FLATTEN && l->kind != BT_LAYER_GAP && l->kind != BT_LAYER_DENSE &&
          l->kind != BT_LAYER_DROPOUT)
        return -1;
    }
  return t;
}

gboolean
bt_net_has_feature_map (const BtNet *net)
{
  g_return_val_if_fail (net != NULL, FALSE);
  return feature_layer (net) >= 0;
}

static gsize
out_len (const BtLayer *l)
{
  return (gsize) l->c * l->h * l->w;
}

static void
activate (const BtLayer *l, float *v, gsize len)
{
  if (l->act == BT_ACT_RELU)
    bt_relu_forward (v, v, len);
  else if (l->act == BT_ACT_RELU6)
    bt_relu6_forward (v, v, len);
}

/* The classifier's forward pass from the map: every tail layer's output (batch 1) in outs. */
static void
tail_forward (BtNet *net, int t, const float *features, float **outs)
{
  const float *in = features;

  for (guint i = t + 1; i < net->layers->len; i++)
    {
      const BtLayer *l = bt_net_layer (net, i);
      const BtLayer *src = bt_net_layer (net, i - 1);
      float *out = outs[i - t - 1];
      gsize len = out_len (l);

      switch (l->kind)
        {
        case BT_LAYER_DENSE:
          bt_dense_forward (out, in, net->params + l->w_off, l->b_len ? net->params + l->b_off : NULL,
                            1, (int) out_len (src), l->c);
          break;
        case BT_LAYER_GAP:
          bt_gap_forward (out, in, 1, l->in_c, l->in_h, l->in_w);
          break;
        default:   /* flatten, dropout at inference: the same values */
          memcpy (out, in, len * sizeof (float));
          break;
        }
      activate (l, out, len);
      in = out;
    }
}

static float **
tail_buffers (const BtNet *net, int t)
{
  guint n = net->layers->len - t - 1;
  float **outs = g_new0 (float *, n + 1);

  for (guint i = 0; i < n; i++)
    outs[i] = g_new0 (float, out_len (bt_net_layer (net, t + 1 + i)));
  return outs;
}

double
bt_net_logit_from_features (BtNet *net, const float *features, int class_index)
{
  int t;
  double logit;

  g_return_val_if_fail (net != NULL && features != NULL, NAN);
  g_return_val_if_fail (class_index >= 0 && class_index < net->n_classes, NAN);
  t = feature_layer (net);
  if (t < 0)
    return NAN;
  float **outs = tail_buffers (net, t);
  tail_forward (net, t, features, outs);
  logit = outs[net->layers->len - t - 2][class_index];
  g_strfreev ((char **) outs);
  return logit;
}

/* d (the gradient at layer i's output, after its activation) → the gradient at its input. */
static void
tail_backward_layer (BtNet *net, guint i, const float *out, float *d, float *d_in)
{
  const BtLayer *l = bt_net_layer (net, i);
  const BtLayer *src = bt_net_layer (net, i - 1);
  gsize len = out_len (l), in_len = out_len (src);

  for (gsize k = 0; k < len; k++)
    if ((l->act == BT_ACT_RELU && out[k] <= 0.0f) ||
        (l->act == BT_ACT_RELU6 && (out[k] <= 0.0f || out[k] >= 6.0f)))
      d[k] = 0.0f;
  switch (l->kind)
    {
    case BT_LAYER_DENSE:
      {
        const float *w = net->params + l->w_off;   /* out × in, row-major */
        memset (d_in, 0, in_len * sizeof (float));
        for (gsize o = 0; o < len; o++)
          if (d[o] != 0.0f)
            for (gsize k = 0; k < in_len; k++)
              d_in[k] += d[o] * w[o * in_len + k];
      }
      break;
    case BT_LAYER_GAP:
      {
        gsize hw = (gsize) l->in_h * l->in_w;
        for (gsize c = 0; c < len; c++)
          for (gsize p = 0; p < hw; p++)
            d_in[c * hw + p] = d[c] / (float) hw;
      }
      break;
    default:
      memcpy (d_in, d, len * sizeof (float));
      break;
    }
}

gboolean
bt_net_class_gradient (BtNet *net, const float *x, int class_index,
                       float **features, float **gradient,
                       int *c, int *h, int *w, GError **error)
{
  int t;

  g_return_val_if_fail (net != NULL && x != NULL, FALSE);
  g_return_val_if_fail (features != NULL && gradient != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  if (class_index < 0 || class_index >= net->n_classes)
    {
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID,
                   "Class %d is out of range (the network has %d classes)", class_index, net->n_classes);
      return FALSE;
    }
  t = feature_layer (net);
  if (t < 0)
    {
      g_set_error_literal (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_UNSUPPORTED,
                           "This network has no convolutional feature map to explain");
      return FALSE;
    }
  if (bt_net_forward (net, x, 1, FALSE, error) == NULL)
    return FALSE;

  const BtLayer *f = bt_net_layer (net, t);
  gsize n = out_len (f);
  guint last = net->layers->len - 1;
  float **outs = tail_buffers (net, t);
  g_autofree float *d = NULL;

  *features = g_memdup2 (f->out, n * sizeof (float));
  tail_forward (net, t, *features, outs);
  /* d logit / d logit = one-hot; walk back to the map */
  for (guint i = t + 1; i <= last; i++)
    n = MAX (n, out_len (bt_net_layer (net, i)));
  d = g_new0 (float, n);
  g_autofree float *d_in = g_new0 (float, n);
  d[class_index] = 1.0f;
  for (guint i = last; i > (guint) t; i--)
    {
      tail_backward_layer (net, i, outs[i - t - 1], d, d_in);
      memcpy (d, d_in, out_len (bt_net_layer (net, i - 1)) * sizeof (float));
    }
  *gradient = g_memdup2 (d, out_len (f) * sizeof (float));
  *c = f->c;
  *h = f->h;
  *w = f->w;
  g_strfreev ((char **) outs);
  return TRUE;
}
