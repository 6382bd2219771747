/* bt-net-walk.h: a read-only walk over a BtNet's layers (kind, wiring, shapes, geometry and
 * weights), and over a TFLite backbone's float graph, for code outside the engine that
 * re-expresses a net elsewhere (ONNX, PyTorch). */
#pragma once

#include "engine/bt-engine.h"
#include "engine/bt-tflite.h"

G_BEGIN_DECLS

typedef enum {
  BT_NET_OP_CONV,        /* weight [c, in_c/groups, kh, kw], bias [c] or none */
  BT_NET_OP_DWCONV,      /* depthwise: groups == in_c, weight [c, 1, kh, kw] */
  BT_NET_OP_DENSE,       /* weight [c, in_c·in_h·in_w] (row = output unit), bias [c] */
  BT_NET_OP_MAXPOOL,
  BT_NET_OP_AVGPOOL,     /* counts only in-bounds elements */
  BT_NET_OP_GAP,         /* global average pool → [c, 1, 1] */
  BT_NET_OP_FLATTEN,     /* [c·h·w, 1, 1], NCHW order */
  BT_NET_OP_DROPOUT,     /* identity at inference */
  BT_NET_OP_BATCHNORM,   /* weight = γ, bias = β, running mean/var; y = γ(x − μ)/√(σ² + eps) + β */
  BT_NET_OP_ADD,         /* out = src + src2 */
} BtNetOp;

typedef enum { BT_NET_ACT_NONE, BT_NET_ACT_RELU, BT_NET_ACT_RELU6 } BtNetAct;

typedef struct {
  BtNetOp      op;
  const char  *op_id;          /* "conv", "dwconv", "dense", "maxpool", "avgpool", "gap",
                                  "flatten", "dropout", "batchnorm", "add" */
  const char  *name;           /* unique within the net, e.g. "block1.conv1" */
  int          src, src2;      /* producer layer index; -1 = the net's input; src2 only for add */
  BtNetAct     act;            /* applied after the op */
  int          in_c, in_h, in_w;
  int          c, h, w;        /* output per image */
  int          kh, kw, sh, sw; /* conv / pool kernel and stride */
  int          pad_top, pad_left, pad_bottom, pad_right;
  int          groups;
  float        p;              /* dropout probability (training only) */
  float        eps, momentum;  /* batch norm */
  /* Borrowed pointers into the net's blocks (valid while the net lives), NULL when absent. */
  const float *weight, *bias, *running_mean, *running_var;
  gsize        weight_len, bias_len;
  /* Offsets in floats into bt_net_params () and bt_net_buffers (), for writers of those blocks. */
  gsize        weight_offset, bias_offset, buffer_offset;
} BtNetLayerInfo;

guint    bt_net_n_layers   (const BtNet *net);
/* FALSE when i is out of range. The last layer's output is the logits (before softmax). */
gboolean bt_net_get_layer  (const BtNet *net, guint i, BtNetLayerInfo *info);

/* The same for a TFLite backbone: its float graph (what the float executor runs: dequantized
 * weights, a fine-tuned model's replaced ones, batch norm folded as the file has it) from the
 * image input to the embedding cut, one layer per operator in graph order. */
typedef enum {
  BT_TFL_LAYER_CONV,      /* weight [c, in_c, kh, kw], bias [c] */
  BT_TFL_LAYER_DWCONV,    /* groups == in_c, weight [c, 1, kh, kw], bias [c] */
  BT_TFL_LAYER_AVGPOOL,   /* counts only in-bounds elements */
  BT_TFL_LAYER_MAXPOOL,
  BT_TFL_LAYER_MEAN,      /* over rows and columns → [c, 1, 1], or [c] when out_rank is 2 */
  BT_TFL_LAYER_ADD,       /* src + src2, or src + constant when src2 is -1 */
  BT_TFL_LAYER_IDENTITY,  /* (de)quantize, reshape without a change of rank, a ReLU's own op: the clamp only */
} BtTflLayerOp;

typedef struct {
  BtTflLayerOp op;
  const char  *op_id;          /* "conv", "dwconv", "avgpool", "maxpool", "mean", "add", "identity" */
  int          index;          /* the operator's index in the graph (a fine-tuned model's backbone.op.K) */
  int          src, src2;      /* producer layer index; -1 = the image; src2 only for add */
  float        constant;       /* add with src2 == -1 */
  float        lo, hi;         /* the output is clamped to [lo, hi]; ±INFINITY where open */
  int          in_c, in_h, in_w;
  int          c, h, w;        /* output per image, channels first */
  int          out_rank;       /* 4, or 2 for a [1, c] output */
  int          kh, kw, sh, sw; /* conv / pool kernel and stride */
  int          pad_top, pad_left, pad_bottom, pad_right;
  int          groups;
  /* Borrowed from the model (valid while it lives); conv and dwconv only. */
  const float *weight, *bias;  /* bias NULL: zeros */
  gsize        weight_len, bias_len;
} BtTflLayerInfo;

/* How many layers lead to the embedding (the last one computes it, *dim values); -1 and an error
 * naming the operator when the graph has no embedding cut or uses one outside the list above. */
int      bt_tflite_walk_n_layers (const BtTflite *model, int *dim, GError **error);
/* Layer i (0 … n − 1 of bt_tflite_walk_n_layers, which must have succeeded). */
void     bt_tflite_walk_layer    (const BtTflite *model, int i, BtTflLayerInfo *info);

G_END_DECLS
