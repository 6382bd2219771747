/* bt-net-walk.c: the read-only layer walk of bt-net-walk.h over the engine's private layout. */
#include "engine/bt-net-walk.h"
#include "engine/bt-engine-private.h"

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
