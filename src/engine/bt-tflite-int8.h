/* bt-tflite-int8.h: the integer path of the TFLite executor. Quantized backbones (uint8 or int8
 * per-tensor activations) run on their quantized values: activations are kept as int16 "centred"
 * values (q − zero point) in NHWC rows padded to 16 channels, 1×1 convolutions and fully
 * connected layers are integer GEMMs (AVX2 vpmaddwd, exact int32 sums) with the bias, rescale
 * and clamp (ReLU6) fused into the store, depthwise convolutions are direct NHWC kernels.
 * Engine-internal: bt-tflite.c builds it once per model and dispatches to it. */
#pragma once

#include "engine/bt-tflite-private.h"

G_BEGIN_DECLS

typedef struct _BtTflQuant     BtTflQuant;      /* per model, immutable, shared by threads */
typedef struct _BtTflQuantExec BtTflQuantExec;  /* per thread */

/* The packed integer form of the model's operators; NULL when this CPU has no AVX2/FMA or when
 * not even the first operator can run on integers. Never fails otherwise. */
BtTflQuant     *bt_tfl_quant_new       (const BtTflite *model);
void            bt_tfl_quant_free      (BtTflQuant *q);
/* TRUE when every operator up to the one producing target runs on the integer path. */
gboolean        bt_tfl_quant_covers    (const BtTflQuant *q, const BtTflite *model, int target);
/* How many convolution → depthwise → 1×1 chains run fused, a band of rows at a time (tests). */
int             bt_tfl_quant_n_fused   (const BtTflQuant *q);

BtTflQuantExec *bt_tfl_quant_exec_new  (const BtTflite *model, const BtTflQuant *q);
void            bt_tfl_quant_exec_free (BtTflQuantExec *e);
/* input: float NCHW in the input's real range (as for bt_tflite_exec_run). Returns target's
 * values as floats in TFLite's logical order (the dequantized result; a global average pool
 * that is the target is returned unrounded), owned by e. */
const float    *bt_tfl_quant_run       (BtTflQuantExec *e, const float *input, int target,
                                        gsize *n_out);

G_END_DECLS
