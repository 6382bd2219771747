/* bt-engine-private.h: the network's internal layout, shared by the engine's own files
 * (bt-net.c builds and runs it, bt-model.c saves and restores it). */
#pragma once

#include "engine/bt-engine.h"
#include "engine/bt-layers.h"
#include <cblas.h>

G_BEGIN_DECLS

typedef enum {
  BT_LAYER_CONV,
  BT_LAYER_DWCONV,
  BT_LAYER_DENSE,
  BT_LAYER_MAXPOOL,
  BT_LAYER_AVGPOOL,
  BT_LAYER_GAP,
  BT_LAYER_FLATTEN,
  BT_LAYER_DROPOUT,
  BT_LAYER_BATCHNORM,
  BT_LAYER_ADD,
} BtLayerKind;

typedef enum { BT_ACT_NONE, BT_ACT_RELU, BT_ACT_RELU6 } BtActivation;

typedef struct {
  BtLayerKind  kind;
  char         name[32];
  int          src, src2;          /* producer layer index, -1 = the net's input; src2 for add */
  BtActivation act;                /* fused after the layer */
  int          in_c, in_h, in_w;   /* per image */
  int          c, h, w;            /* output per image */
  /* conv / pool geometry */
  int          kh, kw, sh, sw, pt, pl, pb, pr, groups;
  float        p;                  /* dropout */
  /* parameters: offsets into the param/grad blocks, lengths in floats (0 = none) */
  gsize        w_off, w_len, b_off, b_len;
  gsize        buf_off;            /* batch norm running mean, then var (c each) */
  /* per batch (carved from the arenas) */
  float       *out, *grad, *mask;
  gint32      *argmax;
  float       *save_mean, *save_invstd;
  float       *packed;             /* inference: the weights packed for Winograd (conv) or in
                                      panels (dense), or NULL */
  guint64      packed_version;     /* the params_version they were packed from */
  int          n_consumers;
  gboolean     grad_written;
} BtLayer;

struct _BtNet {
  BtPreset  preset;
  int       in_c, in_h, in_w;
  int       n_classes;
  float     dropout;
  int       hidden;                /* transfer head hidden units, 0 = none */
  guint64   seed;
  GArray   *layers;                /* BtLayer */
  float    *params, *grads, *buffers;
  gsize     n_params, n_buffers;
  float    *bn_stats;              /* save_mean/save_invstd of every BN layer */
  /* activations for up to act_capacity images */
  int       act_capacity, act_batch;
  float    *act_arena;
  gsize     act_arena_len;
  float    *workspace;
  gsize     workspace_len;
  int       grad_batch;
  float    *grad_arena, *scratch;
  gsize     grad_arena_len;
  float    *probs;
  float    *logits;    /* the last forward's logits, same shape as probs */
  float    *features;  /* the last inference forward's features (bt_net_features), [batch, feature dim] */
  int       features_capacity;
  float    *input;                 /* copy of the last training batch */
  gsize     input_len;
  int       probs_capacity;
  int       last_batch;
  gboolean  last_training;
  BtRng     rng;                   /* dropout masks */
  int       ws_layer;              /* conv layer whose forward columns are in workspace, or -1 */
  float    *input_grad;            /* bt_net_set_input_grad: where backward writes d(loss)/d(input) */
  gboolean  input_grad_written;
  float    *fuse;                  /* inference: a fused conv's per-channel scale and shift */
  gboolean  unfused;               /* inference writes every layer's output (Grad-CAM reads a conv's) */
  gsize     fuse_len;
  guint64   params_version;        /* bumped whenever params may have changed (packed copies) */
  float    *dense_t;               /* training: a dense layer's input transposed (bt_dense_forward_train) */
  gsize     dense_t_len;
  double   *square_partials;       /* bt_grads_square_sum's blocks, n_params / BT_NORM_BLOCK + 1 */
  double    grads_square;          /* Σ grads² from the last backward, while grads_square_valid */
  gboolean  grads_square_valid;    /* nothing has written grads since (bt_net_grads () clears it) */
  gboolean  grads_zero_pending;    /* bt_net_zero_grad was called and grads not yet cleared: the
                                      next backward writes them instead of adding (bt_net_grads_ready) */
};

/* Σ g² over n floats in double, in fixed blocks of BT_NORM_BLOCK summed in order (partials: one
 * double a block), so the same at any thread count: the gradient norm, and the backward pass's
 * check that every gradient is finite. */
#define BT_NORM_BLOCK 16384
double bt_grads_square_sum (const float *g, gsize n, double *partials);

/* Clears the gradients a bt_net_zero_grad left pending; every reader of net->grads but the
 * backward pass calls it first. */
void bt_net_grads_ready (BtNet *net);

/* Every writer of net->params calls this (bt_net_params () does, for its callers), so weights
 * packed from them at inference are packed again before the next forward. */
static inline void
bt_net_params_changed (BtNet *net)
{
  net->params_version++;
}

static inline BtLayer *
bt_net_layer (const BtNet *net, guint i)
{
  return &g_array_index (net->layers, BtLayer, i);
}

/* The engine's hot loops (im2col, epilogues, pooling, the optimizer): -O3 and an AVX2/FMA clone
 * picked at load time beside the generic one, since distribution builds target plain x86-64
 * (OpenBLAS dispatches its own kernels the same way). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define BT_HOT_LOOP __attribute__ ((optimize ("O3", "no-tree-loop-distribute-patterns", "no-math-errno"), \
                                    target_clones ("arch=x86-64-v3", "default")))
#else
#define BT_HOT_LOOP
#endif

/* Runs fn over [0, n) split into up to bt_engine_get_threads () contiguous ranges of at least
 * min_chunk items, one on the calling thread; returns when all are done. */
typedef void (*BtRangeFunc) (gpointer ctx, gsize begin, gsize end);
void bt_parallel_for         (gsize n, gsize min_chunk, BtRangeFunc fn, gpointer ctx);
void bt_parallel_set_threads (int n);
/* Threads bt_parallel_for splits over (the caller included). */
int  bt_parallel_get_threads (void);

/* Row-major sgemm C = alpha·op(A)·op(B) + beta·C with big products cut into column blocks over
 * the engine's threads (OpenBLAS itself is kept single-threaded; see bt-parallel.c). */
void bt_sgemm (CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, float alpha,
               const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);

/* Conv2D with the bias and an activation (0 none, 1 ReLU, 2 ReLU6) fused into the output
 * pass; backward masks d_out with the activation's derivative (act_out: the layer's output)
 * and skips im2col when col_ready (the workspace still holds this layer's forward columns). */
void bt_conv2d_forward_ex  (float *out, const float *in, const float *w, const float *b,
                            const BtConvShape *s, float *workspace, int act);
/* Inference: per output channel o, y = act(sum · scale[o] + shift[o]) (scale NULL: 1; shift
 * NULL: 0), then a 2×2 stride-2 max pool when pool (out is [n, oc, oh/2, ow/2] then). A conv's
 * bias, a following batch norm's running statistics and its ReLU and max pool fold into it. */
typedef struct {
  const float *scale, *shift;
  int          act;
  gboolean     pool;
  const float *winograd;   /* w packed by bt_conv2d_winograd_pack, or NULL: used when the shape fits */
} BtConvEpilogue;
void bt_conv2d_forward_fused (float *out, const float *in, const float *w, const BtConvEpilogue *e,
                              const BtConvShape *s, float *workspace);

/* Winograd F(2×2, 3×3) at inference (bt-winograd.c): 3×3 stride-1 convs with at least 8 input
 * channels on a CPU with AVX2/FMA (BOTTEGA_CONV=im2col turns it off). The weights [oc, c, 3, 3]
 * are transformed once into bt_conv2d_winograd_packed_size floats; bt_conv2d_workspace_size
 * covers the scratch. Same epilogue and output as bt_conv2d_forward_fused, which calls it. */
gboolean bt_conv2d_winograd_fits           (const BtConvShape *s);
gsize    bt_conv2d_winograd_packed_size    (int oc, int c);
void     bt_conv2d_winograd_pack           (float *packed, const float *w, int oc, int c);
gsize    bt_conv2d_winograd_workspace_size (const BtConvShape *s);
void     bt_conv2d_forward_winograd        (float *out, const float *in, const float *packed,
                                            const BtConvEpilogue *e, const BtConvShape *s, float *workspace);
/* Direct 3×3 stride-1 convs with at most 4 input channels (bt-conv-direct.c), same contract. */
gboolean bt_conv2d_direct_fits             (const BtConvShape *s);
gsize    bt_conv2d_direct_workspace_size   (const BtConvShape *s);
void     bt_conv2d_forward_direct          (float *out, const float *in, const float *w,
                                            const BtConvEpilogue *e, const BtConvShape *s, float *workspace);
/* Inference dense layers (bt-dense-fast.c) when the fast paths are on: out = act (in · wᵀ + b)
 * (act as BtConvEpilogue's), w [out_dim, in_dim] packed once by bt_dense_pack into
 * bt_dense_packed_size floats; the same bits at any thread count. */
gboolean bt_dense_fast_fits                (void);
gsize    bt_dense_packed_size              (int in_dim, int out_dim);
void     bt_dense_pack                     (float *packed, const float *w, int in_dim, int out_dim);
void     bt_dense_forward_packed           (float *out, const float *in, const float *packed, const float *b,
                                            int n, int in_dim, int out_dim, int act);
/* Training dense layers (bt-dense-fast.c) when the fast mode is 2 (AVX2): the forward with the
 * bias and activation (act as above) fused, in transposed into scratch (bt_dense_train_scratch_size
 * floats); the backward as bt_dense_backward, except that d_w is written, not added to, when
 * d_w_zero (the gradients were zeroed). The same bits at any thread count. */
gboolean bt_dense_train_fast               (void);
gsize    bt_dense_train_scratch_size       (int n, int in_dim);
void     bt_dense_forward_train            (float *out, const float *in, const float *w, const float *b, int n,
                                            int in_dim, int out_dim, int act, float *scratch);
void     bt_dense_backward_train           (float *d_in, float *d_w, gboolean d_w_zero, float *d_b,
                                            const float *d_out, const float *in, const float *w, int n,
                                            int in_dim, int out_dim);
/* The fast paths' mode (Winograd, direct conv, packed dense): 0 off, 1 portable kernels, 2 AVX2 kernels; set_mode (-1) = automatic
 * (AVX2 when the CPU has it, else off). Tests and benchmarks set it. */
int      bt_conv2d_fast_mode               (void);
void     bt_conv2d_winograd_set_mode       (int mode);

/* AVX2 and FMA on this CPU: the run-time choice of the hand-written kernels (Winograd, direct
 * conv, the TFLite integer path); builds target plain x86-64. */
static inline gboolean
bt_cpu_has_avx2_fma (void)
{
#if defined(__GNUC__) && defined(__x86_64__)
  __builtin_cpu_init ();
  return __builtin_cpu_supports ("avx2") && __builtin_cpu_supports ("fma");
#else
  return FALSE;
#endif
}

/* Helpers of the BT_HOT_LOOP functions: always inlined, since their optimize options differ. */
#define BT_INLINE static inline __attribute__ ((always_inline))

/* act(v · scale + shift): 0 none, 1 ReLU, 2 ReLU6. */
BT_INLINE float
bt_act_map (float v, float scale, float shift, int act)
{
  v = v * scale + shift;
  v = act != 0 && v < 0.0f ? 0.0f : v;
  return act == 2 && v > 6.0f ? 6.0f : v;
}

/* v = act(v · scale + shift) over n floats, the activation's branch outside the loops */
BT_INLINE void
bt_act_block (float *restrict v, int n, float scale, float shift, int act)
{
  if (act == 0)
    for (int i = 0; i < n; i++)
      v[i] = v[i] * scale + shift;
  else if (act == 1)
    for (int i = 0; i < n; i++)
      {
        float x = v[i] * scale + shift;
        v[i] = x < 0.0f ? 0.0f : x;   /* as bt_act_map: a NaN stays a NaN */
      }
  else
    for (int i = 0; i < n; i++)
      {
        float x = v[i] * scale + shift;
        x = x < 0.0f ? 0.0f : x;
        v[i] = x > 6.0f ? 6.0f : x;
      }
}

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
/* bt_act_map on eight lanes, for the AVX2 kernels (a NaN stays a NaN: max and min return their
 * second operand when either is a NaN). */
__attribute__ ((target ("avx2,fma"), always_inline))
static inline __m256
bt_act8_avx2 (__m256 v, __m256 scale, __m256 shift, int act)
{
  v = _mm256_fmadd_ps (v, scale, shift);
  if (act != 0)
    v = _mm256_max_ps (_mm256_setzero_ps (), v);
  if (act == 2)
    v = _mm256_min_ps (_mm256_set1_ps (6.0f), v);
  return v;
}
#endif

/* The affine map and the activations are non-decreasing (so commute with max) when scale ≥ 0,
 * and turn max into min when scale < 0: the 2×2 pool takes the max (or min) of the raw sums and
 * maps that one value, which equals pooling the mapped values exactly. */
BT_INLINE float
bt_pool_map (float a, float b, float c, float d, float scale, float shift, int act)
{
  float m;
  if (scale >= 0.0f)
    {
      float x = a > b ? a : b, y = c > d ? c : d;
      m = x > y ? x : y;
    }
  else
    {
      float x = a < b ? a : b, y = c < d ? c : d;
      m = x < y ? x : y;
    }
  return bt_act_map (m, scale, shift, act);
}
void bt_conv2d_backward_ex (float *d_in, float *d_w, float *d_b, const float *d_out,
                            const float *in, const float *w, const BtConvShape *s, float *workspace,
                            const float *act_out, int act, gboolean col_ready);

/* A preset net with zeroed weights (the loader overwrites them). max_params caps the
 * parameter count before anything is allocated (the loader passes what the file holds). */
BtNet *bt_net_new_spec (BtPreset preset, int width, int height, int channels, int n_classes,
                        float dropout, int hidden, guint64 seed, gsize max_params, GError **error);

G_END_DECLS
