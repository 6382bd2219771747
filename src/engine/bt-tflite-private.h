/* bt-tflite-private.h: the parsed TFLite graph, shared by the reader, the executor and the
 * tests that compare each operator with a naive reference. */
#pragma once

#include "engine/bt-tflite.h"
#include "engine/bt-layers.h"

G_BEGIN_DECLS

/* TensorType values of the TFLite schema. */
enum {
  BT_TFL_FLOAT32 = 0, BT_TFL_FLOAT16 = 1, BT_TFL_INT32 = 2, BT_TFL_UINT8 = 3,
  BT_TFL_INT64 = 4, BT_TFL_INT16 = 7, BT_TFL_INT8 = 9,
};

/* BuiltinOperator values this reader runs. */
enum {
  BT_TFL_OP_ADD = 0, BT_TFL_OP_AVERAGE_POOL_2D = 1, BT_TFL_OP_CONCATENATION = 2,
  BT_TFL_OP_CONV_2D = 3, BT_TFL_OP_DEPTHWISE_CONV_2D = 4, BT_TFL_OP_DEQUANTIZE = 6,
  BT_TFL_OP_FULLY_CONNECTED = 9, BT_TFL_OP_LOGISTIC = 14, BT_TFL_OP_MAX_POOL_2D = 17,
  BT_TFL_OP_RELU = 19, BT_TFL_OP_RELU6 = 21, BT_TFL_OP_RESHAPE = 22, BT_TFL_OP_SOFTMAX = 25,
  BT_TFL_OP_PAD = 34, BT_TFL_OP_MEAN = 40, BT_TFL_OP_SQUEEZE = 43, BT_TFL_OP_QUANTIZE = 114,
};

#define BT_TFL_MAX_RANK 4

typedef struct {
  char     *name;
  int       type;
  int       rank;
  int       shape[BT_TFL_MAX_RANK];
  gsize     n_elems;
  /* Quantization (n_scale 0 = none; 1 = per tensor; else per channel along qdim). */
  int       n_scale;
  float    *scale;
  gint64   *zero_point;
  int       qdim;
  /* Constants: real values (float32), and raw integers for int tensors (shapes, axes, pads). */
  gboolean  is_const;
  float    *data;
  gint64   *ints;
  /* Where a constant's bytes lie in the file (raw_len 0: none), for an exporter that copies it. */
  gsize     raw_off, raw_len;
  /* Graph bookkeeping. */
  int       producer;    /* operator index, -1 for constants and the graph input */
  int       last_use;    /* last operator reading it */
  gboolean  is_activation;
} BtTflTensor;

typedef struct {
  int         code;        /* BuiltinOperator */
  int         inputs[3];   /* tensor indices, -1 when absent */
  int         n_inputs;
  int         output;
  /* Output clamp: fused activation ∩ representable range of a quantized output. */
  float       lo, hi;
  int         act;         /* the fused ActivationFunctionType as written (0 NONE, 1 RELU, 3 RELU6) */
  /* CONV_2D, DEPTHWISE_CONV_2D, pools: geometry in engine terms (NCHW). */
  BtConvShape cs;
  gboolean    pointwise;   /* 1×1, stride 1, no padding: a direct sgemm */
  gboolean    dw3x3;       /* depthwise 3×3: the padded fast path */
  float      *w, *b;       /* owned, engine layout: [oc, c/groups, kh, kw], [oc] */
  int         in_dim, out_dim; /* FULLY_CONNECTED */
  float       beta;        /* SOFTMAX */
  int         axis;        /* CONCATENATION (logical, non-negative) */
  guint       mean_mask;   /* MEAN: bit i = reduce logical axis i */
  int         pads[BT_TFL_MAX_RANK][2]; /* PAD (logical) */
} BtTflOp;

struct _BtTflite {
  gatomicrefcount ref;
  int          n_tensors;
  BtTflTensor *tensors;
  int          n_ops;
  BtTflOp     *ops;
  int          input, output;
  char        *description;
  /* The integer path (bt-tflite-int8.c), built on the first executor that wants it. */
  gsize        quant_once;
  struct _BtTflQuant *quant;
  /* bt_tflite_set_op_weights changed op->w/op->b (fine-tuning): the integer path's packed
   * weights are the file's, so every executor takes the float path from then on. */
  gboolean     weights_changed;
  /* The model's metadata entries (name → GBytes of its buffer), e.g. a classifier's labels. */
  GHashTable  *metadata;
};

/* Physical layout of activations: rank-4 tensors (logical NHWC) are stored NCHW, the engine's
 * layout; other ranks are stored in logical order. */
void bt_tflite_nhwc_to_nchw (float *out, const float *in, int n, int h, int w, int c);
void bt_tflite_nchw_to_nhwc (float *out, const float *in, int n, int h, int w, int c);

/* From now on every run of this float-path executor widens ranges[2 t], ranges[2 t + 1] (min,
 * max; the caller starts them at +inf, -inf) by the values tensor t took (borrowed; NULL: off).
 * The int8 export's calibration. */
void bt_tflite_exec_observe (BtTfliteExec *exec, float *ranges);

/* Name of a BuiltinOperator code ("CONV_2D"), or NULL when unknown. */
const char *bt_tflite_op_name (int code);

/* Depthwise 3×3 on one plane (bt-tflite.c): pad copies plane into the zero-padded
 * (h + pads) × (w + pads) buffer; dw3x3_plane writes the oh × ow output of kernel k from it. */
void bt_tfl_pad_plane   (float *restrict pad, const float *restrict plane, const BtConvShape *s);
void bt_tfl_dw3x3_plane (float *restrict dst, const float *restrict pad, const BtConvShape *s,
                         const float *k, float bias);

G_END_DECLS
