/* bt-tflite-grad.h: training the top of a TFLite backbone. The float graph between a cut tensor
 * and the embedding gets a forward pass over a batch that keeps its activations and a backward
 * pass for every operator MobileNet V2 uses there (CONV_2D, DEPTHWISE_CONV_2D, ADD, the fused
 * and quantized-range clamps, AVERAGE_POOL_2D, MEAN over height and width, and the layout-free
 * RESHAPE/QUANTIZE/DEQUANTIZE/RELU/RELU6). Training-thread only, like the engine's layers. */
#pragma once

#include "engine/bt-tflite.h"

G_BEGIN_DECLS

/* Where the graph can be cut below its last blocks. A block ends where one activation alone is
 * live (no skip connection spans the cut) and holds one depthwise convolution with the 1×1
 * expansion before it; the last block also holds what follows it up to end_tensor (MobileNet
 * V2: the 1×1 convolution to 1280 channels and the pooling). cuts[k] is the tensor below the
 * last k + 1 blocks. Returns how many cuts were stored (at most max_cuts); only blocks whose
 * operators all have a backward pass count. */
int   bt_tflite_block_cuts (const BtTflite *model, int end_tensor, int *cuts, int max_cuts);
/* Floats per image of an activation tensor (its elements with the batch of 1). */
gsize bt_tflite_tensor_size (const BtTflite *model, int tensor);
/* bt_tflite_exec_run's result for tensor (TFLite's NHWC order) → the order bt_tfl_train_forward
 * takes (channels, rows, columns). */
void  bt_tflite_to_physical (const BtTflite *model, int tensor, const float *logical, float *out);

/* Grad-CAM's map in a backbone: the tensor the global pooling that makes the embedding
 * end_tensor reads (MobileNet's last convolution's output), with its channels and size, when it
 * is spatial and the way from it to end_tensor has a backward pass; -1 otherwise. */
int   bt_tflite_feature_map (const BtTflite *model, int end_tensor, int *c, int *h, int *w);

typedef struct _BtTflTrain BtTflTrain;
/* The trainable graph from cut_tensor (its input) to end_tensor (its output), for batches of at
 * most max_batch images. The weights start as the model's; the model is not changed. */
BtTflTrain *bt_tfl_train_new  (BtTflite *model, int cut_tensor, int end_tensor, int max_batch,
                               GError **error);
void        bt_tfl_train_free (BtTflTrain *t);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BtTflTrain, bt_tfl_train_free)
gsize       bt_tfl_train_in_size  (const BtTflTrain *t);  /* floats per image at the cut */
gsize       bt_tfl_train_out_size (const BtTflTrain *t);  /* floats per image at the end */
/* One flat block of weights and one of their gradients (same length). */
float      *bt_tfl_train_params   (BtTflTrain *t, gsize *n);
float      *bt_tfl_train_grads    (BtTflTrain *t, gsize *n);
void        bt_tfl_train_zero_grads (BtTflTrain *t);
/* in: n images (1 ≤ n ≤ max_batch), each the cut tensor in the executor's physical order
 * (rank 4: channels, then rows, then columns); out: n × out_size floats. Keeps the activations
 * for backward. */
void        bt_tfl_train_forward  (BtTflTrain *t, const float *in, int n, float *out);
/* Backward of the last forward: d_out n × out_size; ADDS into the gradients; d_in (n × in_size)
 * may be NULL. */
void        bt_tfl_train_backward (BtTflTrain *t, const float *d_out, float *d_in);

/* The weighted operators, for saving: operator index k of the model, its weights (engine layout
 * [oc, c/groups, kh, kw]) and biases inside the flat block. */
int         bt_tfl_train_n_weighted (const BtTflTrain *t);
int         bt_tfl_train_weighted   (const BtTflTrain *t, int i, const float **w, gsize *n_w,
                                     const float **b, gsize *n_b);
/* Operator k's weight shape in engine layout (oc, c/groups, kh, kw) and bias length; FALSE for
 * an operator without weights. */
gboolean    bt_tflite_op_weight_shape (const BtTflite *model, int op, int shape[4], gsize *n_b);
/* Replaces operator op's weights and biases (lengths must match) on a model nobody else holds
 * yet (a fresh load): how a fine-tuned model is rebuilt from its file. Non-finite values and
 * wrong lengths → FALSE and BT_ENGINE_ERROR_CORRUPT. */
gboolean    bt_tflite_set_op_weights (BtTflite *model, int op, const float *w, gsize n_w,
                                      const float *b, gsize n_b, GError **error);

/* Every BtBackboneWeights of a fine-tuned model (bt-engine.h) on a fresh model: FALSE and
 * BT_ENGINE_ERROR_CORRUPT when one does not fit (operator, shape) or holds a non-finite value. */
gboolean    bt_tflite_apply_weights (BtTflite *model, const GArray *weights, GError **error);

G_END_DECLS
