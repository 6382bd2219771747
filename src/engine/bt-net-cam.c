/* bt-net-cam.c: the gradient of a class logit with respect to a CNN's last spatial feature map,
 * for Grad-CAM (#23). Only the classifier that follows the map is walked backwards (flatten or
 * global average pooling, dropout, dense layers with their activations), on an inference forward
 * pass, so dropout and batch norm behave as in prediction and no training buffers are touched. */
#include "config.h"

#include <math.h>
#include <string.h>

#include "engine/bt-engine-private.h"
#include "engine/bt-net-cam.h"

static gboolean
is_pool (const BtLayer *l)
{
  return l->kind == BT_LAYER_MAXPOOL || l->kind == BT_LAYER_AVGPOOL;
}

/* TRUE when the layers after layer t (-1: the input) form a chain this file walks. */
static gboolean
is_known_chain (const BtNet *net, int t)
{
  for (guint i = t + 1; i < net->layers->len; i++)
    {
      const BtLayer *l = bt_net_layer (net, i);
      if (l->src != (int) i - 1)
        return FALSE;
      if (l->kind != BT_LAYER_FLATTEN && l->kind != BT_LAYER_GAP && l->kind != BT_LAYER_DENSE &&
          l->kind != BT_LAYER_DROPOUT && !is_pool (l))
        return FALSE;
    }
  return TRUE;
}

/* The index of the last spatial map: the producer of the first flatten / GAP layer, before any
 * pooling, when everything after it is a chain of layers this file knows; -1 otherwise. */
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
  /* the map before its pooling, at twice the pooled resolution; bt_net_class_gradient runs an
   * unfused forward pass, since fused inference writes only a conv group's pooled output */
  while (t >= 0 && is_pool (bt_net_layer (net, t)))
    t = bt_net_layer (net, t)->src;
  if (t < 0 || (guint) t + 1 >= net->layers->len)
    return -1;
  const BtLayer *f = bt_net_layer (net, t);
  if (f->h * f->w <= 1)
    return -1;
  return is_known_chain (net, t) ? t : -1;
}

static void
pool_shape (const BtLayer *l, BtConvShape *s)
{
  gboolean ok = bt_conv_shape_init (s, 1, l->in_c, l->in_h, l->in_w, l->in_c, l->kh, l->kw, l->sh, l->sw,
                                    l->pt, l->pl, l->pb, l->pr, 1, NULL);
  g_assert (ok);
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

/* Floats into layer i: the output of layer i - 1, or the net's input for the first. */
static gsize
in_len (const BtNet *net, guint i)
{
  return i == 0 ? (gsize) net->in_c * net->in_h * net->in_w : out_len (bt_net_layer (net, i - 1));
}

static void
activate (const BtLayer *l, float *v, gsize len)
{
  if (l->act == BT_ACT_RELU)
    bt_relu_forward (v, v, len);
  else if (l->act == BT_ACT_RELU6)
    bt_relu6_forward (v, v, len);
}

/* The outputs of the layers after the map (batch 1), and max pooling's argmax. */
typedef struct {
  guint    n;
  float  **outs;
  gint32 **argmax;
} Tail;

static void
tail_init (Tail *tail, const BtNet *net, int t)
{
  tail->n = net->layers->len - t - 1;
  tail->outs = g_new0 (float *, tail->n);
  tail->argmax = g_new0 (gint32 *, tail->n);
  for (guint i = 0; i < tail->n; i++)
    {
      const BtLayer *l = bt_net_layer (net, t + 1 + i);
      tail->outs[i] = g_new0 (float, out_len (l));
      if (l->kind == BT_LAYER_MAXPOOL)
        tail->argmax[i] = g_new0 (gint32, out_len (l));
    }
}

static void
tail_clear (Tail *tail)
{
  for (guint i = 0; i < tail->n; i++)
    {
      g_free (tail->outs[i]);
      g_free (tail->argmax[i]);
    }
  g_free (tail->outs);
  g_free (tail->argmax);
}

/* The classifier's forward pass from the map into tail. */
static void
tail_forward (BtNet *net, int t, const float *features, Tail *tail)
{
  const float *in = features;

  for (guint i = (guint) (t + 1); i < net->layers->len; i++)
    {
      const BtLayer *l = bt_net_layer (net, i);
      float *out = tail->outs[i - t - 1];
      gsize len = out_len (l);
      BtConvShape s;

      switch (l->kind)
        {
        case BT_LAYER_DENSE:
          bt_dense_forward (out, in, net->params + l->w_off, l->b_len ? net->params + l->b_off : NULL,
                            1, (int) in_len (net, i), l->c);
          break;
        case BT_LAYER_GAP:
          bt_gap_forward (out, in, 1, l->in_c, l->in_h, l->in_w);
          break;
        case BT_LAYER_MAXPOOL:
          pool_shape (l, &s);
          bt_maxpool2d_forward (out, tail->argmax[i - t - 1], in, &s);
          break;
        case BT_LAYER_AVGPOOL:
          pool_shape (l, &s);
          bt_avgpool2d_forward (out, in, &s);
          break;
        default:   /* flatten, dropout at inference: the same values */
          memcpy (out, in, len * sizeof (float));
          break;
        }
      activate (l, out, len);
      in = out;
    }
}

double
bt_net_logit_from_features (BtNet *net, const float *features, int class_index)
{
  Tail tail;
  int t;
  double logit;

  g_return_val_if_fail (net != NULL && features != NULL, NAN);
  g_return_val_if_fail (class_index >= 0 && class_index < net->n_classes, NAN);
  t = feature_layer (net);
  if (t < 0)
    return NAN;
  tail_init (&tail, net, t);
  tail_forward (net, t, features, &tail);
  logit = tail.outs[tail.n - 1][class_index];
  tail_clear (&tail);
  return logit;
}

/* d (the gradient at layer i's output, after its activation) → the gradient at its input. */
static void
tail_backward_layer (BtNet *net, guint i, const float *out, const gint32 *argmax, float *d, float *d_in)
{
  const BtLayer *l = bt_net_layer (net, i);
  gsize len = out_len (l), n_in = in_len (net, i);

  for (gsize k = 0; k < len; k++)
    if ((l->act == BT_ACT_RELU && out[k] <= 0.0f) ||
        (l->act == BT_ACT_RELU6 && (out[k] <= 0.0f || out[k] >= 6.0f)))
      d[k] = 0.0f;
  switch (l->kind)
    {
    case BT_LAYER_DENSE:
      {
        const float *w = net->params + l->w_off;   /* out × in, row-major */
        memset (d_in, 0, n_in * sizeof (float));
        for (gsize o = 0; o < len; o++)
          if (d[o] != 0.0f)
            for (gsize k = 0; k < n_in; k++)
              d_in[k] += d[o] * w[o * n_in + k];
      }
      break;
    case BT_LAYER_MAXPOOL:
    case BT_LAYER_AVGPOOL:
      {
        BtConvShape s;
        pool_shape (l, &s);
        memset (d_in, 0, n_in * sizeof (float));
        if (l->kind == BT_LAYER_MAXPOOL)
          bt_maxpool2d_backward (d_in, d, argmax, &s);
        else
          bt_avgpool2d_backward (d_in, d, &s);
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

/* d logit[class_index] / d in, in being the input of layer t + 1 (the net's input for t = -1),
 * through the known chain after t, into d_in. */
static void
tail_gradient (BtNet *net, int t, const float *in, int class_index, float *d_in)
{
  int last = (int) net->layers->len - 1;
  gsize n = in_len (net, (guint) (t + 1));
  g_autofree float *d = NULL;
  g_autofree float *d_prev = NULL;
  Tail tail;

  tail_init (&tail, net, t);
  tail_forward (net, t, in, &tail);
  /* d logit / d logit = one-hot; walk back to the map */
  for (int i = t + 1; i <= last; i++)
    n = MAX (n, out_len (bt_net_layer (net, i)));
  d = g_new0 (float, n);
  d_prev = g_new0 (float, n);
  d[class_index] = 1.0f;
  for (int i = last; i > t; i--)
    {
      tail_backward_layer (net, i, tail.outs[i - t - 1], tail.argmax[i - t - 1], d, d_prev);
      memcpy (d, d_prev, in_len (net, i) * sizeof (float));
    }
  memcpy (d_in, d, in_len (net, (guint) (t + 1)) * sizeof (float));
  tail_clear (&tail);
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
  net->unfused = TRUE;
  const float *probs = bt_net_forward (net, x, 1, FALSE, error);
  net->unfused = FALSE;
  if (probs == NULL)
    return FALSE;

  const BtLayer *f = bt_net_layer (net, t);
  *features = g_memdup2 (f->out, out_len (f) * sizeof (float));
  *gradient = g_new (float, out_len (f));
  tail_gradient (net, t, *features, class_index, *gradient);
  *c = f->c;
  *h = f->h;
  *w = f->w;
  return TRUE;
}

gboolean
bt_net_class_input_gradient (BtNet *net, const float *x, int class_index, float *d_x, GError **error)
{
  g_return_val_if_fail (net != NULL && x != NULL && d_x != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  if (class_index < 0 || class_index >= net->n_classes)
    {
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID,
                   "Class %d is out of range (the network has %d classes)", class_index, net->n_classes);
      return FALSE;
    }
  if (!is_known_chain (net, -1))
    {
      g_set_error_literal (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_UNSUPPORTED,
                           "This network holds a layer whose input gradient is not computed here");
      return FALSE;
    }
  tail_gradient (net, -1, x, class_index, d_x);
  return TRUE;
}
