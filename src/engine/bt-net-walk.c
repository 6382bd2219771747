/* bt-net-walk.c: the read-only layer walks of bt-net-walk.h over the engine's private layouts
 * (a BtNet, a TFLite backbone's parsed graph). */
#include "engine/bt-net-walk.h"
#include "engine/bt-engine-private.h"
#include "engine/bt-tflite-private.h"

#include <math.h>
#include <string.h>

/* The engine's batch-norm constants (BN_EPS, BN_MOMENTUM in bt-net.c). */
#define WALK_BN_EPS      1e-5f
#define WALK_BN_MOMENTUM 0.1f

G_STATIC_ASSERT ((int) BT_NET_OP_CONV == (int) BT_LAYER_CONV);
G_STATIC_ASSERT ((int) BT_NET_OP_DWCONV == (int) BT_LAYER_DWCONV);
G_STATIC_ASSERT ((int) BT_NET_OP_DENSE == (int) BT_LAYER_DENSE);
G_STATIC_ASSERT ((int) BT_NET_OP_MAXPOOL == (int) BT_LAYER_MAXPOOL);
G_STATIC_ASSERT ((int) BT_NET_OP_AVGPOOL == (int) BT_LAYER_AVGPOOL);
G_STATIC_ASSERT ((int) BT_NET_OP_GAP == (int) BT_LAYER_GAP);
G_STATIC_ASSERT ((int) BT_NET_OP_FLATTEN == (int) BT_LAYER_FLATTEN);
G_STATIC_ASSERT ((int) BT_NET_OP_DROPOUT == (int) BT_LAYER_DROPOUT);
G_STATIC_ASSERT ((int) BT_NET_OP_BATCHNORM == (int) BT_LAYER_BATCHNORM);
G_STATIC_ASSERT ((int) BT_NET_OP_ADD == (int) BT_LAYER_ADD);
G_STATIC_ASSERT ((int) BT_NET_ACT_RELU == (int) BT_ACT_RELU);
G_STATIC_ASSERT ((int) BT_NET_ACT_RELU6 == (int) BT_ACT_RELU6);

static const char *op_ids[] = { "conv", "dwconv", "dense", "maxpool", "avgpool", "gap",
                                "flatten", "dropout", "batchnorm", "add" };

guint
bt_net_n_layers (const BtNet *net)
{
  g_return_val_if_fail (net != NULL, 0);
  return net->layers->len;
}

gboolean
bt_net_get_layer (const BtNet *net, guint i, BtNetLayerInfo *info)
{
  g_return_val_if_fail (net != NULL && info != NULL, FALSE);
  if (i >= net->layers->len)
    return FALSE;
  const BtLayer *l = bt_net_layer (net, i);
  g_return_val_if_fail ((guint) l->kind < G_N_ELEMENTS (op_ids), FALSE);

  memset (info, 0, sizeof *info);
  info->op = (BtNetOp) l->kind;
  info->op_id = op_ids[l->kind];
  info->name = l->name;
  info->src = l->src;
  info->src2 = l->kind == BT_LAYER_ADD ? l->src2 : -1;
  info->act = (BtNetAct) l->act;
  info->in_c = l->in_c; info->in_h = l->in_h; info->in_w = l->in_w;
  info->c = l->c; info->h = l->h; info->w = l->w;
  info->kh = l->kh; info->kw = l->kw; info->sh = l->sh; info->sw = l->sw;
  info->pad_top = l->pt; info->pad_left = l->pl; info->pad_bottom = l->pb; info->pad_right = l->pr;
  info->groups = MAX (l->groups, 1);
  info->p = l->p;
  if (l->w_len > 0)
    {
      info->weight = net->params + l->w_off;
      info->weight_len = l->w_len;
      info->weight_offset = l->w_off;
    }
  if (l->b_len > 0)
    {
      info->bias = net->params + l->b_off;
      info->bias_len = l->b_len;
      info->bias_offset = l->b_off;
    }
  if (l->kind == BT_LAYER_BATCHNORM)
    {
      info->eps = WALK_BN_EPS;
      info->momentum = WALK_BN_MOMENTUM;
      info->running_mean = net->buffers + l->buf_off;
      info->running_var = net->buffers + l->buf_off + l->c;
      info->buffer_offset = l->buf_off;
    }
  return TRUE;
}

/* ---- A TFLite backbone's float graph ---- */

/* A tensor's per-image shape, channels first: rank 4 is logical NHWC, rank 2 [1, c]. */
static gboolean
tfl_shape (const BtTflTensor *t, int *c, int *h, int *w)
{
  if (t->rank == 4 && t->shape[0] == 1)
    {
      *h = t->shape[1];
      *w = t->shape[2];
      *c = t->shape[3];
      return TRUE;
    }
  if (t->rank == 2 && t->shape[0] == 1)
    {
      *c = t->shape[1];
      *h = *w = 1;
      return TRUE;
    }
  return FALSE;
}

/* Whether operator k is one of BtTflLayerOp's, reading activations produced before it. */
static gboolean
tfl_walkable (const BtTflite *m, int k)
{
  const BtTflOp *op = &m->ops[k];
  const BtTflTensor *in = &m->tensors[op->inputs[0]], *out = &m->tensors[op->output];
  int c, h, w;

  if (!tfl_shape (in, &c, &h, &w) || !tfl_shape (out, &c, &h, &w))
    return FALSE;
  if (in->producer >= k || (in->producer < 0 && op->inputs[0] != m->input))
    return FALSE;
  switch (op->code)
    {
    case BT_TFL_OP_CONV_2D:
    case BT_TFL_OP_DEPTHWISE_CONV_2D:
    case BT_TFL_OP_AVERAGE_POOL_2D:
    case BT_TFL_OP_MAX_POOL_2D:
      return in->rank == 4 && out->rank == 4;
    case BT_TFL_OP_ADD:
      {
        const BtTflTensor *b = &m->tensors[op->inputs[1]];
        if (b->is_const)
          return b->n_elems == 1;
        return b->producer >= 0 && b->producer < k && b->n_elems == out->n_elems && in->n_elems == out->n_elems;
      }
    case BT_TFL_OP_MEAN:
      return in->rank == 4 && op->mean_mask == 0x6;
    case BT_TFL_OP_DEQUANTIZE:
    case BT_TFL_OP_QUANTIZE:
    case BT_TFL_OP_RELU:
    case BT_TFL_OP_RELU6:
    case BT_TFL_OP_RESHAPE:
    case BT_TFL_OP_SQUEEZE:
      return in->rank == out->rank && in->n_elems == out->n_elems;
    default:
      return FALSE;
    }
}

int
bt_tflite_walk_n_layers (const BtTflite *model, int *dim, GError **error)
{
  g_return_val_if_fail (model != NULL, -1);
  int cut = bt_tflite_find_embedding_cut (model, dim, error);
  if (cut < 0)
    return -1;
  int last = model->tensors[cut].producer;
  for (int k = 0; k <= last; k++)
    if (!tfl_walkable (model, k))
      {
        g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_UNSUPPORTED,
                     "The backbone's operator %s (number %d) cannot be exported yet",
                     bt_tflite_op_name (model->ops[k].code), k);
        return -1;
      }
  return last + 1;
}

void
bt_tflite_walk_layer (const BtTflite *model, int i, BtTflLayerInfo *info)
{
  g_return_if_fail (model != NULL && info != NULL && i >= 0 && i < model->n_ops);
  static const char *ids[] = { "conv", "dwconv", "avgpool", "maxpool", "mean", "add", "identity" };
  const BtTflOp *op = &model->ops[i];
  const BtTflTensor *in = &model->tensors[op->inputs[0]], *out = &model->tensors[op->output];
  const BtConvShape *cs = &op->cs;

  memset (info, 0, sizeof *info);
  info->index = i;
  info->src = in->producer;
  info->src2 = -1;
  info->lo = op->lo;
  info->hi = op->hi;
  tfl_shape (in, &info->in_c, &info->in_h, &info->in_w);
  tfl_shape (out, &info->c, &info->h, &info->w);
  info->out_rank = out->rank;
  info->groups = 1;
  switch (op->code)
    {
    case BT_TFL_OP_CONV_2D:
    case BT_TFL_OP_DEPTHWISE_CONV_2D:
    case BT_TFL_OP_AVERAGE_POOL_2D:
    case BT_TFL_OP_MAX_POOL_2D:
      info->op = op->code == BT_TFL_OP_CONV_2D ? BT_TFL_LAYER_CONV
               : op->code == BT_TFL_OP_DEPTHWISE_CONV_2D ? BT_TFL_LAYER_DWCONV
               : op->code == BT_TFL_OP_AVERAGE_POOL_2D ? BT_TFL_LAYER_AVGPOOL : BT_TFL_LAYER_MAXPOOL;
      info->kh = cs->kh; info->kw = cs->kw; info->sh = cs->stride_h; info->sw = cs->stride_w;
      info->pad_top = cs->pad_top; info->pad_left = cs->pad_left;
      info->pad_bottom = cs->pad_bottom; info->pad_right = cs->pad_right;
      info->groups = MAX (cs->groups, 1);
      if (op->w != NULL)
        {
          info->weight = op->w;
          info->weight_len = (gsize) cs->oc * (cs->c / info->groups) * cs->kh * cs->kw;
          info->bias = op->b;
          info->bias_len = op->b != NULL ? (gsize) cs->oc : 0;
        }
      break;
    case BT_TFL_OP_ADD:
      info->op = BT_TFL_LAYER_ADD;
      if (model->tensors[op->inputs[1]].is_const)
        info->constant = model->tensors[op->inputs[1]].data[0];
      else
        info->src2 = model->tensors[op->inputs[1]].producer;
      break;
    case BT_TFL_OP_MEAN:
      info->op = BT_TFL_LAYER_MEAN;
      break;
    default:
      info->op = BT_TFL_LAYER_IDENTITY;
      break;
    }
  info->op_id = ids[info->op];
}
