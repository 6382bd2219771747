/* bt-layers.h: the engine's layer kernels as plain functions, outputs first, shapes in comments
 * (llm.c style). Backward functions ADD into parameter gradients (d_w, d_b) and OVERWRITE d_in;
 * d_in may be NULL when the input gradient is not needed (first layer, frozen backbone).
 * All tensors are float32, batch-first NCHW, contiguous. The training thread is the only
 * caller of these (they may call OpenBLAS). */
#pragma once

#include "engine/bt-engine.h"

G_BEGIN_DECLS

/* Dense. in: [n, in_dim], w: [out_dim, in_dim], b: [out_dim] (may be NULL), out: [n, out_dim] */
void bt_dense_forward  (float *out, const float *in, const float *w, const float *b,
                        int n, int in_dim, int out_dim);
void bt_dense_backward (float *d_in, float *d_w, float *d_b, const float *d_out,
                        const float *in, const float *w, int n, int in_dim, int out_dim);

/* Convolution geometry. Padding may be asymmetric (TFLite SAME pads bottom/right first). */
typedef struct {
  int n, c, h, w;               /* input */
  int oc, kh, kw;               /* output channels, kernel */
  int stride_h, stride_w;
  int pad_top, pad_left, pad_bottom, pad_right;
  int groups;                   /* 1 = ordinary conv, c = depthwise (oc = c × multiplier) */
  int oh, ow;                   /* derived by bt_conv_shape_init */
} BtConvShape;
/* Fills oh/ow; FALSE (and error) when the geometry is impossible. */
gboolean bt_conv_shape_init (BtConvShape *s, int n, int c, int h, int w, int oc, int kh, int kw,
                             int stride_h, int stride_w, int pad_top, int pad_left,
                             int pad_bottom, int pad_right, int groups, GError **error);
/* Scratch floats the conv kernels need (im2col buffer), allocated once per batch size. */
gsize bt_conv2d_workspace_size (const BtConvShape *s);

/* Conv2D (groups == 1): im2col over the whole batch + one sgemm.
 * in: [n, c, h, w], w: [oc, c, kh, kw], b: [oc] or NULL, out: [n, oc, oh, ow] */
void bt_conv2d_forward  (float *out, const float *in, const float *w, const float *b,
                         const BtConvShape *s, float *workspace);
void bt_conv2d_backward (float *d_in, float *d_w, float *d_b, const float *d_out,
                         const float *in, const float *w, const BtConvShape *s, float *workspace);

/* Depthwise Conv2D (groups == c, multiplier = oc / c). w: [oc, 1, kh, kw] */
void bt_dwconv2d_forward  (float *out, const float *in, const float *w, const float *b,
                           const BtConvShape *s);
void bt_dwconv2d_backward (float *d_in, float *d_w, float *d_b, const float *d_out,
                           const float *in, const float *w, const BtConvShape *s);

/* Pooling over a kh×kw window with stride and padding (same geometry struct, oc = c, groups ignored).
 * Max pool records argmax indices (int32, size n*c*oh*ow) for backward. Average pool counts
 * only in-bounds elements (TFLite/PyTorch count_include_pad=False). */
void bt_maxpool2d_forward  (float *out, gint32 *argmax, const float *in, const BtConvShape *s);
void bt_maxpool2d_backward (float *d_in, const float *d_out, const gint32 *argmax, const BtConvShape *s);
void bt_avgpool2d_forward  (float *out, const float *in, const BtConvShape *s);
void bt_avgpool2d_backward (float *d_in, const float *d_out, const BtConvShape *s);
/* Global average pool: in [n, c, h, w] → out [n, c] */
void bt_gap_forward  (float *out, const float *in, int n, int c, int h, int w);
void bt_gap_backward (float *d_in, const float *d_out, int n, int c, int h, int w);

/* Elementwise (len = total elements). */
void bt_relu_forward   (float *out, const float *in, gsize len);
void bt_relu_backward  (float *d_in, const float *d_out, const float *out, gsize len);
void bt_relu6_forward  (float *out, const float *in, gsize len);
void bt_relu6_backward (float *d_in, const float *d_out, const float *in, gsize len);
/* Inverted dropout: mask holds 0 or 1/(1-p); drawn from rng in the caller's order. */
void bt_dropout_forward  (float *out, float *mask, const float *in, gsize len, float p, BtRng *rng);
void bt_dropout_backward (float *d_in, const float *d_out, const float *mask, gsize len);
/* Residual add: out = a + b */
void bt_add_forward (float *out, const float *a, const float *b, gsize len);

/* BatchNorm2D over [n, c, h, w]. Training: batch statistics, running stats updated with momentum;
 * saves mean and inverse std per channel for backward. Inference: running stats. */
void bt_batchnorm_forward_train (float *out, float *save_mean, float *save_invstd,
                                 float *running_mean, float *running_var,
                                 const float *in, const float *gamma, const float *beta,
                                 int n, int c, int hw, float momentum, float eps);
void bt_batchnorm_forward_infer (float *out, const float *in, const float *gamma, const float *beta,
                                 const float *running_mean, const float *running_var,
                                 int n, int c, int hw, float eps);
void bt_batchnorm_backward (float *d_in, float *d_gamma, float *d_beta, const float *d_out,
                            const float *in, const float *gamma, const float *save_mean,
                            const float *save_invstd, int n, int c, int hw);

/* Row-wise softmax with the row max subtracted. logits/probs: [n, k] */
void bt_softmax_forward (float *probs, const float *logits, int n, int k);
/* Fused softmax + cross-entropy. Returns the SUM of per-row losses (double) weighted by
 * class_weights (NULL = 1); d_logits = (p − target) × weight / n where target is the
 * label-smoothed one-hot. d_logits may be NULL (evaluation). */
double bt_softmax_xent (float *d_logits, const float *probs, const int *labels, int n, int k,
                        const float *class_weights, float label_smoothing);

G_END_DECLS
