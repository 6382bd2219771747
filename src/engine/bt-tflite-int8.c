/* bt-tflite-int8.c: the integer path of the TFLite executor (see bt-tflite-int8.h).
 *
 * Numbers: a quantized tensor holds real = s × (q − z). We store c = q − z as int16 (|c| ≤ 255),
 * so padding with real 0 is padding with 0 and no zero-point correction terms are needed. A conv
 * output channel k is acc = Σ c_in × c_w (exact in int32), then
 *   c_out = clamp (round (acc × s_in × s_w[k] / s_out + bias[k] / s_out), lo, hi)
 * in float (the rescale is one FMA; TFLite's fixed-point multiplier rounds the same value, so the
 * two can differ by one step on ties). lo/hi are the output type's range intersected with the
 * fused activation (ReLU6), both moved by −z_out. Depthwise sums are exact in float (9 products
 * of at most 255² stay below 2^24).
 *
 * Layout: every activation tensor is rows × cs int16, rows = elements / C where C is its last
 * (logical) dimension, cs = C rounded up to 16 (4 for an image input only a first convolution
 * reads); NHWC, i.e. TFLite's own order, so RESHAPE and SQUEEZE that keep the last dimension
 * are copies. Padding channels hold anything: every
 * reader multiplies them by zero weights or skips them. */
#include "config.h"

#include "engine/bt-tflite-int8.h"
#include "engine/bt-engine-private.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define BT_Q_X86 1
#include <immintrin.h>
#define BT_Q_AVX2 __attribute__ ((target ("avx2,fma")))
#else
#define BT_Q_X86 0
#endif

enum { QK_NONE, QK_GEMM, QK_CONV, QK_DW, QK_ADD, QK_GAP, QK_REQUANT, QK_SOFTMAX, QK_DEQUANT,
       QK_FLOAT_PASS };

#define QPAD 16
/* Rows of A per pass over the output-channel blocks: the pass's rows stay in L1/L2 while each
 * block's weights are read once per pass (a multiple of 6). */
#define GEMM_ROWS 96
#define ROUND_UP(x, m) ((((x) + (m) - 1) / (m)) * (m))
/* A convolution → depthwise → 1×1 chain whose middle plane is larger than this runs a band of
 * rows at a time (run_fused), the band's expanded rows about FUSE_BAND_BYTES, so that the planes
 * between its three operators stay in L2 instead of going out to L3 and back. */
#define FUSE_MIN_BYTES (256 * 1024)
#define FUSE_BAND_BYTES (64 * 1024)

typedef struct {
  int     kind;
  int     in0, in1, out;
  int     K, lda;        /* GEMM depth (even, ≤ lda) and the A row stride, int16s */
  gint16 *wp;            /* GEMM weights [oc_pad/16][K/2][16][2] */
  gint16 *wd;            /* depthwise weights [(taps + 1) / 2][cs / 16][2][16], see dw_index */
  float  *mul, *add;     /* per output channel (cs): rescale and bias, in output steps */
  float   m0, m1;        /* ADD / REQUANT multipliers; GAP: input scale */
  int     lo, hi;        /* clamp of the centred output */
  float   flo, fhi;      /* float clamp (GAP as target) */
  float   beta;          /* SOFTMAX */
  int     band;          /* > 0: this GEMM / conv and the next two ops run fused (run_fused) */
} QOp;

struct _BtTflQuant {
  int       n_ops;
  QOp      *ops;
  int       n_ok;         /* ops [0, n_ok) run on integers */
  int      *cs, *rows, *C; /* per tensor */
  gsize     max_col;      /* im2col int16s */
  gsize     max_float;    /* float result floats */
  gsize     max_band, max_drow; /* run_fused's expanded rows and depthwise rows, int16s */
  gsize     max_dw_row;   /* the widest depthwise input row, int16s */
};

struct _BtTflQuantExec {
  const BtTflite   *model;
  const BtTflQuant *q;
  gint16          **act;
  gint16          **slots;
  int               n_slots;
  gint16           *col;
  gint16           *band, *drow;
  gint16           *zero;     /* max_dw_row zeros: the rows and columns outside an image */
  float            *fout, *ftmp;
};

static gboolean
tensor_ok (const BtTflTensor *t)
{
  return t->is_activation && !t->is_const && t->n_scale == 1 && t->scale[0] > 0.f
         && (t->type == BT_TFL_UINT8 || t->type == BT_TFL_INT8);
}

/* Centred clamp of an output tensor from the op's real clamp (already ∩ the type's range). */
static void
out_clamp (const BtTflTensor *t, float lo, float hi, int *clo, int *chi)
{
  int qmin = t->type == BT_TFL_UINT8 ? 0 : -128, qmax = t->type == BT_TFL_UINT8 ? 255 : 127;
  int z = (int) t->zero_point[0];
  *clo = qmin - z;
  *chi = qmax - z;
  if (isfinite (lo))
    *clo = MAX (*clo, (int) lrintf (lo / t->scale[0]));
  if (isfinite (hi))
    *chi = MIN (*chi, (int) lrintf (hi / t->scale[0]));
}

static float
wscale (const BtTflTensor *f, int k)
{
  return f->n_scale > 1 ? f->scale[k] : f->scale[0];
}

/* Where channel k's int32 sum lands: 16 channels a group as two vectors of 8 sums, channels
 * 0–3 and 8–11 in the first, 4–7 and 12–15 in the second, the order in which
 * _mm256_packs_epi32 (first, second) puts them back in channel order (it interleaves per
 * 128-bit lane), so that the stores need no permutation. GEMM columns, depthwise sums and their
 * rescales follow it. */
static inline int
lane16 (int k)
{
  int r = k % 16;
  return k - r + ((r % 8) / 4) * 8 + (r / 8) * 4 + r % 4;
}

/* GEMM weights from real weights w [oc][K] (K in the order of the GEMM's rows) with the filter
 * tensor f's scales; K_pad ≥ K rows beyond K are zero. The loader keeps the real weights in the
 * operator (op->w, op->b) and frees the tensors' copies. */
static gboolean
pack_gemm (QOp *q, const BtTflTensor *in, const BtTflTensor *f, const float *w, const float *bias,
           const BtTflTensor *out, int oc, int K, int K_pad, const BtTflOp *op)
{
  int ocp = ROUND_UP (oc, QPAD), kp2 = K_pad / 2;
  if (f->n_scale != 1 && (f->n_scale != oc || f->qdim != 0))
    return FALSE;
  q->K = K_pad;
  q->wp = g_aligned_alloc0 ((gsize) ocp * K_pad, sizeof (gint16), 64);
  q->mul = g_new0 (float, ocp);
  q->add = g_new0 (float, ocp);
  for (int k = 0; k < oc; k++)
    {
      float s = wscale (f, k);
      const float *row = w + (gsize) k * K;
      gint16 *blk = q->wp + (gsize) (k / QPAD) * kp2 * 32;
      for (int i = 0; i < K; i++)
        {
          long v = lrintf (row[i] / s);
          if (v < -32768 || v > 32767)
            return FALSE;
          blk[((gsize) (i / 2) * QPAD + lane16 (k) % QPAD) * 2 + i % 2] = (gint16) v;
        }
      q->mul[lane16 (k)] = in->scale[0] * s / out->scale[0];
      q->add[lane16 (k)] = bias != NULL ? bias[k] / out->scale[0] : 0.f;
    }
  out_clamp (out, op->lo, op->hi, &q->lo, &q->hi);
  return TRUE;
}

/* Depthwise sums use vpmaddwd on pairs of taps (2j, 2j + 1): for 16 channels, the pairs in the
 * order _mm256_unpack{lo,hi}_epi16 (x_2j, x_2j+1) gives them: "lo" holds channels 0–3 and 8–11,
 * "hi" channels 4–7 and 12–15. Index of tap t's weight of channel k in QOp.wd: */
static inline gsize
dw_index (int t, int k, int cs)
{
  int g = k / 16, r = k % 16, half = (r % 8) / 4, pos = (r / 8) * 8 + (r % 4) * 2 + t % 2;
  return (((gsize) (t / 2) * (cs / 16) + g) * 2 + half) * 16 + pos;
}

static gboolean
prepare_conv (const BtTflite *m, const BtTflOp *op, QOp *q, gboolean depthwise)
{
  const BtTflTensor *in = &m->tensors[op->inputs[0]], *f = &m->tensors[op->inputs[1]];
  const BtTflTensor *out = &m->tensors[op->output];
  const BtConvShape *s = &op->cs;

  if (!tensor_ok (in) || !tensor_ok (out) || f->n_scale < 1 || s->n != 1)
    return FALSE;
  if (depthwise)
    {
      int cs = ROUND_UP (s->c, QPAD), taps = s->kh * s->kw;
      if (s->oc != s->c || (f->n_scale != 1 && (f->n_scale != s->oc || f->qdim != 3))
          || s->kh > 5 || s->kw > 5)
        return FALSE;
      q->kind = QK_DW;
      q->wd = g_aligned_alloc0 ((gsize) (taps + 1) / 2 * cs * 2, sizeof (gint16), 64);
      q->mul = g_new0 (float, cs);
      q->add = g_new0 (float, cs);
      for (int k = 0; k < s->c; k++)
        {
          float sw = wscale (f, k);
          for (int t = 0; t < taps; t++)
            {
              long v = lrintf (op->w[(gsize) k * taps + t] / sw);
              if (v < -32768 || v > 32767)
                return FALSE;
              q->wd[dw_index (t, k, cs)] = (gint16) v;
            }
          /* The sums come out in the lane order of dw_index; the rescale follows them. */
          q->mul[lane16 (k)] = in->scale[0] * sw / out->scale[0];
          q->add[lane16 (k)] = op->b[k] / out->scale[0];
        }
      out_clamp (out, op->lo, op->hi, &q->lo, &q->hi);
      return TRUE;
    }
  if (op->pointwise)
    {
      q->kind = QK_GEMM;
      q->lda = ROUND_UP (s->c, QPAD);
      /* Engine filter [oc, c, 1, 1]: K = c, rounded up to a pair (the rows' padding channels
       * are never read: 24 channels take 12 steps, not 16). */
      return pack_gemm (q, in, f, op->w, op->b, out, s->oc, s->c, ROUND_UP (s->c, 2), op);
    }
  q->kind = QK_CONV;
  {
    /* Engine [oc, c, kh, kw] → GEMM rows in im2col's order (ky, kx, c). */
    int K = s->kh * s->kw * s->c;
    g_autofree float *w = g_new (float, (gsize) s->oc * K);
    for (int k = 0; k < s->oc; k++)
      for (int ci = 0; ci < s->c; ci++)
        for (int t = 0; t < s->kh * s->kw; t++)
          w[(gsize) k * K + (gsize) t * s->c + ci] = op->w[((gsize) k * s->c + ci) * s->kh * s->kw + t];
    q->lda = ROUND_UP (K, 2);
    return pack_gemm (q, in, f, w, op->b, out, s->oc, K, q->lda, op);
  }
}

static gboolean
prepare_op (const BtTflite *m, const BtTflOp *op, QOp *q, const BtTflQuant *Q)
{
  const BtTflTensor *out = &m->tensors[op->output];
  const BtTflTensor *in = op->n_inputs > 0 && op->inputs[0] >= 0 ? &m->tensors[op->inputs[0]] : NULL;

  q->in0 = op->inputs[0];
  q->in1 = op->n_inputs > 1 ? op->inputs[1] : -1;
  q->out = op->output;
  switch (op->code)
    {
    case BT_TFL_OP_CONV_2D:
      return prepare_conv (m, op, q, FALSE);
    case BT_TFL_OP_DEPTHWISE_CONV_2D:
      return prepare_conv (m, op, q, TRUE);
    case BT_TFL_OP_FULLY_CONNECTED:
      {
        const BtTflTensor *f = &m->tensors[op->inputs[1]];
        if (!tensor_ok (in) || !tensor_ok (out) || f->n_scale < 1 || !f->is_const
            || Q->C[q->in0] != op->in_dim || Q->C[q->out] != op->out_dim)
          return FALSE;
        q->kind = QK_GEMM;
        q->lda = Q->cs[q->in0];
        return pack_gemm (q, in, f, op->w, op->b, out, op->out_dim, op->in_dim, ROUND_UP (op->in_dim, 2), op);
      }
    case BT_TFL_OP_ADD:
      {
        const BtTflTensor *b = &m->tensors[op->inputs[1]];
        if (!tensor_ok (in) || !tensor_ok (b) || !tensor_ok (out) || in->n_elems != out->n_elems
            || b->n_elems != out->n_elems || Q->C[q->in0] != Q->C[q->in1])
          return FALSE;
        q->kind = QK_ADD;
        q->m0 = in->scale[0] / out->scale[0];
        q->m1 = b->scale[0] / out->scale[0];
        out_clamp (out, op->lo, op->hi, &q->lo, &q->hi);
        return TRUE;
      }
    case BT_TFL_OP_AVERAGE_POOL_2D:
    case BT_TFL_OP_MEAN:
      {
        gboolean global = op->code == BT_TFL_OP_MEAN
          ? in->rank == 4 && (op->mean_mask & 0xf) == 0x6
          : in->rank == 4 && op->cs.oh == 1 && op->cs.ow == 1 && op->cs.kh == in->shape[1]
            && op->cs.kw == in->shape[2] && op->cs.pad_top == 0 && op->cs.pad_left == 0;
        if (!global || !tensor_ok (in) || !tensor_ok (out) || in->shape[0] != 1
            || Q->C[q->out] != in->shape[3])
          return FALSE;
        q->kind = QK_GAP;
        q->m0 = in->scale[0];
        q->m1 = 1.f / out->scale[0];
        q->flo = op->lo;
        q->fhi = op->hi;
        out_clamp (out, op->lo, op->hi, &q->lo, &q->hi);
        return TRUE;
      }
    case BT_TFL_OP_RESHAPE:
    case BT_TFL_OP_SQUEEZE:
    case BT_TFL_OP_QUANTIZE:
      if (!tensor_ok (in) || !tensor_ok (out) || Q->C[q->in0] != Q->C[q->out])
        return FALSE;
      q->kind = QK_REQUANT;
      q->m0 = in->scale[0] / out->scale[0];
      out_clamp (out, op->lo, op->hi, &q->lo, &q->hi);
      return TRUE;
    case BT_TFL_OP_SOFTMAX:
    case BT_TFL_OP_DEQUANTIZE:
      /* Float tails: only as the last operator run (checked by bt_tfl_quant_covers). */
      if (!tensor_ok (in) || (out->type != BT_TFL_FLOAT32 && !tensor_ok (out)))
        return FALSE;
      q->kind = op->code == BT_TFL_OP_SOFTMAX ? QK_SOFTMAX : QK_DEQUANT;
      q->beta = op->beta;
      q->m0 = in->scale[0];
      q->flo = op->lo;
      q->fhi = op->hi;
      return TRUE;
    default:
      return FALSE;
    }
}

static gboolean
is_float (int kind)
{
  return kind == QK_SOFTMAX || kind == QK_DEQUANT || kind == QK_FLOAT_PASS;
}

/* Marks the convolution → depthwise → 1×1 chains that run_fused runs: each intermediate plane
 * read only by the next operator of the chain, the middle one past FUSE_MIN_BYTES.
 * BOTTEGA_TFLITE_FUSE=N (tests) fuses every chain, N output rows a band; 0 none. */
static void
plan_fusion (BtTflQuant *Q, const BtTflite *m)
{
  const char *env = g_getenv ("BOTTEGA_TFLITE_FUSE");
  int forced = env != NULL ? CLAMP (atoi (env), 0, 64) : -1;
  for (int i = 0; BT_Q_X86 && forced != 0 && i + 2 < Q->n_ok; i++)
    {
      QOp *qe = &Q->ops[i];
      const QOp *qd = &Q->ops[i + 1], *qp = &Q->ops[i + 2];
      const BtConvShape *s = &m->ops[i + 1].cs;
      gsize row = (gsize) s->w * Q->cs[qe->out];
      if ((qe->kind != QK_GEMM && qe->kind != QK_CONV) || m->ops[i].code != BT_TFL_OP_CONV_2D
          || qd->kind != QK_DW
          || qp->kind != QK_GEMM || m->ops[i + 2].code != BT_TFL_OP_CONV_2D
          || qd->in0 != qe->out || qp->in0 != qd->out
          || m->tensors[qe->out].last_use != i + 1 || m->tensors[qd->out].last_use != i + 2)
        continue;
      if (forced > 0)
        qe->band = forced;
      else if (row * s->h * sizeof (gint16) >= FUSE_MIN_BYTES)
        qe->band = MAX (1, ((int) (FUSE_BAND_BYTES / (row * sizeof (gint16))) - s->kh) / s->stride_h + 1);
      else
        continue;
      Q->max_band = MAX (Q->max_band, ((gsize) (qe->band - 1) * s->stride_h + s->kh) * row);
      Q->max_drow = MAX (Q->max_drow, (gsize) qe->band * s->ow * Q->cs[qd->out]);
      i += 2;
    }
}

BtTflQuant *
bt_tfl_quant_new (const BtTflite *m)
{
  BtTflQuant *Q;

  if (!bt_cpu_has_avx2_fma () || !tensor_ok (&m->tensors[m->input]) || m->tensors[m->input].rank != 4)
    return NULL;
  Q = g_new0 (BtTflQuant, 1);
  Q->n_ops = m->n_ops;
  Q->ops = g_new0 (QOp, m->n_ops);
  Q->cs = g_new0 (int, m->n_tensors);
  Q->rows = g_new0 (int, m->n_tensors);
  Q->C = g_new0 (int, m->n_tensors);
  Q->max_col = 1;
  Q->max_float = 1;
  for (int t = 0; t < m->n_tensors; t++)
    {
      const BtTflTensor *T = &m->tensors[t];
      Q->C[t] = T->rank > 0 ? T->shape[T->rank - 1] : 1;
      Q->cs[t] = ROUND_UP (Q->C[t], QPAD);
      Q->rows[t] = (int) (T->n_elems / (gsize) Q->C[t]);
      Q->max_float = MAX (Q->max_float, T->n_elems);
    }
  for (int i = 0; i < m->n_ops; i++)
    {
      const BtTflOp *op = &m->ops[i];
      if (Q->n_ok > 0 && is_float (Q->ops[Q->n_ok - 1].kind))
        {
          /* After a float tail only reshapes and (de)quantizations of its result: the float
           * path's semantics (clamped to the output's range, not rounded). */
          if ((op->code != BT_TFL_OP_QUANTIZE && op->code != BT_TFL_OP_DEQUANTIZE
               && op->code != BT_TFL_OP_RESHAPE && op->code != BT_TFL_OP_SQUEEZE)
              || op->inputs[0] != m->ops[i - 1].output)
            break;
          Q->ops[i] = (QOp) { .kind = QK_FLOAT_PASS, .in0 = op->inputs[0], .in1 = -1,
                              .out = op->output, .flo = op->lo, .fhi = op->hi };
          Q->n_ok = i + 1;
          continue;
        }
      if (!prepare_op (m, op, &Q->ops[i], Q))
        break;
      Q->n_ok = i + 1;
      if (Q->ops[i].kind == QK_CONV)
        Q->max_col = MAX (Q->max_col, (gsize) GEMM_ROWS * Q->ops[i].lda);
      if (Q->ops[i].kind == QK_DW)
        Q->max_dw_row = MAX (Q->max_dw_row, (gsize) op->cs.w * Q->cs[Q->ops[i].in0]);
    }
  if (Q->n_ok == 0)
    {
      bt_tfl_quant_free (Q);
      return NULL;
    }
  plan_fusion (Q, m);
  /* An image input read only by a first convolution (MobileNet's 3 channels) is kept 4 channels
   * a pixel, not 16: the conversion writes and im2col reads a quarter of the bytes (224 × 224:
   * 0.4 MB, not 1.6). */
  if (Q->C[m->input] <= 4 && Q->ops[0].kind == QK_CONV && Q->ops[0].in0 == m->input
      && m->tensors[m->input].last_use == 0)
    Q->cs[m->input] = 4;
  return Q;
}

void
bt_tfl_quant_free (BtTflQuant *Q)
{
  if (Q == NULL)
    return;
  for (int i = 0; i < Q->n_ops; i++)
    {
      g_aligned_free (Q->ops[i].wp);
      g_aligned_free (Q->ops[i].wd);
      g_free (Q->ops[i].mul);
      g_free (Q->ops[i].add);
    }
  g_free (Q->ops);
  g_free (Q->cs);
  g_free (Q->rows);
  g_free (Q->C);
  g_free (Q);
}

gboolean
bt_tfl_quant_covers (const BtTflQuant *Q, const BtTflite *m, int target)
{
  int producer;
  if (Q == NULL || target < 0 || target >= m->n_tensors)
    return FALSE;
  producer = m->tensors[target].producer;
  return producer >= 0 && producer < Q->n_ok;
}

int
bt_tfl_quant_n_fused (const BtTflQuant *Q)
{
  int n = 0;
  g_return_val_if_fail (Q != NULL, 0);
  for (int i = 0; i < Q->n_ok; i++)
    n += Q->ops[i].band > 0;
  return n;
}

/* ------------------------------------------------------------------------------------------ */
/* Kernels                                                                                     */

/* Rows p0 … p1 − 1 of a convolution as a GEMM input: for each output pixel the kh × kw × c
 * window, zero (real 0) outside the image, in TFLite's filter order (ky, kx, c). */
static void
im2col (gint16 *col, const gint16 *in, int cs_in, const BtConvShape *s, int lda, int p0, int p1)
{
  const gboolean quad = s->c <= 4 && cs_in >= 4 && s->kh * s->kw * s->c - s->c + 4 <= lda;
  int oy = p0 / s->ow, ox = p0 % s->ow;
  for (int p = p0; p < p1; p++, ox = ox + 1 < s->ow ? ox + 1 : 0, oy += ox == 0)
    {
      gint16 *d = col + (gsize) (p - p0) * lda;
      const int iy0 = oy * s->stride_h - s->pad_top, ix0 = ox * s->stride_w - s->pad_left;
      const gboolean inside = iy0 >= 0 && ix0 >= 0 && iy0 + s->kh <= s->h && ix0 + s->kw <= s->w;
      const gint16 *corner = inside ? in + ((gsize) iy0 * s->w + ix0) * cs_in : in;
      int k = 0;
      if (inside && quad)
        {
          /* Few channels (the first layer's 3): one 4-channel copy per tap, each overwriting
           * the previous one's padding channels; the last one's are cleared below. */
          for (int ky = 0; ky < s->kh; ky++)
            for (int kx = 0; kx < s->kw; kx++, k += s->c)
              memcpy (d + k, corner + ((gsize) ky * s->w + kx) * cs_in, 4 * sizeof (gint16));
        }
      else if (inside)
        for (int ky = 0; ky < s->kh; ky++)
          for (int kx = 0; kx < s->kw; kx++, k += s->c)
            memcpy (d + k, corner + ((gsize) ky * s->w + kx) * cs_in, s->c * sizeof (gint16));
      else
        for (int ky = 0; ky < s->kh; ky++)
          for (int kx = 0; kx < s->kw; kx++, k += s->c)
            {
              int iy = iy0 + ky, ix = ix0 + kx;
              gboolean in_image = iy >= 0 && iy < s->h && ix >= 0 && ix < s->w;
              const gint16 *src = in_image ? in + ((gsize) iy * s->w + ix) * cs_in : NULL;
              for (int ci = 0; ci < s->c; ci++)
                d[k + ci] = in_image ? src[ci] : 0;
            }
      for (; k < lda; k++)
        d[k] = 0;
    }
}

#if BT_Q_X86
/* 16 floats → rounded, clamped, 16 int16 in order. lo/hi: 16-bit lanes; the saturating pack
 * before the clamp changes nothing, as lo and hi lie inside int16. */
BT_Q_AVX2 static inline __m256i
requant16 (__m256 f0, __m256 f1, __m256i lo, __m256i hi)
{
  __m256i p = _mm256_packs_epi32 (_mm256_cvtps_epi32 (f0), _mm256_cvtps_epi32 (f1));
  return _mm256_permute4x64_epi64 (_mm256_min_epi16 (_mm256_max_epi16 (p, lo), hi), 0xD8);
}

/* The same for 16 sums in lane16's order: the pack alone restores the channel order. */
BT_Q_AVX2 static inline __m256i
requant16_lanes (__m256 f0, __m256 f1, __m256i lo, __m256i hi)
{
  __m256i p = _mm256_packs_epi32 (_mm256_cvtps_epi32 (f0), _mm256_cvtps_epi32 (f1));
  return _mm256_min_epi16 (_mm256_max_epi16 (p, lo), hi);
}

BT_Q_AVX2 static inline __m256
load8 (const gint16 *p)
{
  return _mm256_cvtepi32_ps (_mm256_cvtepi16_epi32 (_mm_loadu_si128 ((const __m128i *) p)));
}

/* The fused store of R rows × 16 output channels of int32 sums (in lane16's order): rescale +
 * bias, round, clamp. */
BT_Q_AVX2 static inline void
store_rows (const __m256i acc[][2], int R, const float *mul, const float *add, __m256i lo,
            __m256i hi, gint16 *o, int ldo)
{
  __m256 m0 = _mm256_loadu_ps (mul), m1 = _mm256_loadu_ps (mul + 8);
  __m256 b0 = _mm256_loadu_ps (add), b1 = _mm256_loadu_ps (add + 8);
  for (int r = 0; r < R; r++)
    {
      __m256 f0 = _mm256_fmadd_ps (_mm256_cvtepi32_ps (acc[r][0]), m0, b0);
      __m256 f1 = _mm256_fmadd_ps (_mm256_cvtepi32_ps (acc[r][1]), m1, b1);
      _mm256_storeu_si256 ((__m256i *) (o + (gsize) r * ldo), requant16_lanes (f0, f1, lo, hi));
    }
}

/* R ≤ 4 rows (pixels) × 16 output channels: int32 sums of int16 pairs (vpmaddwd), then the fused
 * rescale + bias + clamp. R is a constant at every call, so the loops unroll; 4 rows keep the 8
 * accumulators, 2 weight vectors and the broadcasts in the 16 registers (6 rows spilled). */
BT_Q_AVX2 static inline __attribute__ ((always_inline)) void
gemm_block (const gint16 *a, int lda, const gint16 *wb, int kp2, const float *mul,
            const float *add, __m256i lo, __m256i hi, gint16 *o, int ldo, const int R)
{
  __m256i acc[4][2];
  for (int r = 0; r < R; r++)
    acc[r][0] = acc[r][1] = _mm256_setzero_si256 ();
  for (int k = 0; k < kp2; k++)
    {
      __m256i w0 = _mm256_loadu_si256 ((const __m256i *) (wb + (gsize) k * 32));
      __m256i w1 = _mm256_loadu_si256 ((const __m256i *) (wb + (gsize) k * 32 + 16));
      for (int r = 0; r < R; r++)
        {
          gint32 pair;
          memcpy (&pair, a + (gsize) r * lda + 2 * k, sizeof pair);
          __m256i x = _mm256_set1_epi32 (pair);
          acc[r][0] = _mm256_add_epi32 (acc[r][0], _mm256_madd_epi16 (x, w0));
          acc[r][1] = _mm256_add_epi32 (acc[r][1], _mm256_madd_epi16 (x, w1));
        }
    }
  store_rows (acc, R, mul, add, lo, hi, o, ldo);
}

/* 6 rows × 16 output channels: 12 accumulators (ymm0–11), the two weight vectors, the broadcast
 * pair and one product fill the 16 registers exactly. Written in assembly because the compiler,
 * given the same loop in intrinsics, spills the accumulators at 6 rows and copies them every
 * step at 4 (`perf annotate`: 8 vmovdqa per 8 vpmaddwd). The store (store_rows' arithmetic:
 * one FMA, round to nearest even, pack, clamp) follows in registers: passing the sums through
 * memory cost 24 loads and stores a tile, a quarter of the work at K = 16. Volatile: its
 * results are in memory only. kp2 ≥ 1. */
BT_Q_AVX2 static inline void
gemm_tile6 (const gint16 *a, int lda, const gint16 *wb, int kp2, const float *mul,
            const float *add, __m256i lo, __m256i hi, gint16 *o, int ldo)
{
  const __m256i lh[2] = { lo, hi };
  const gint16 *p0 = a, *p3 = a + (gsize) 3 * lda, *w = wb;
  gsize ld = (gsize) lda * sizeof (gint16), ldob = (gsize) ldo * sizeof (gint16);
  long n = kp2;

#define BT_Q_ROW(addr, c0, c1)                  \
  "vpbroadcastd " addr ", %%ymm14\n\t"          \
  "vpmaddwd %%ymm12, %%ymm14, %%ymm15\n\t"      \
  "vpaddd %%ymm15, %%" c0 ", %%" c0 "\n\t"      \
  "vpmaddwd %%ymm13, %%ymm14, %%ymm15\n\t"      \
  "vpaddd %%ymm15, %%" c1 ", %%" c1 "\n\t"
/* One row's two sum vectors (lane16's order) → requantized int16 at dst: ymm12/13 hold the
 * rescales, ymm14/15 the clamp. */
#define BT_Q_STORE(s0, s1, dst)                         \
  "vcvtdq2ps %%" s0 ", %%" s0 "\n\t"                    \
  "vfmadd213ps (%[add]), %%ymm12, %%" s0 "\n\t"        \
  "vcvtps2dq %%" s0 ", %%" s0 "\n\t"                    \
  "vcvtdq2ps %%" s1 ", %%" s1 "\n\t"                    \
  "vfmadd213ps 32(%[add]), %%ymm13, %%" s1 "\n\t"      \
  "vcvtps2dq %%" s1 ", %%" s1 "\n\t"                    \
  "vpackssdw %%" s1 ", %%" s0 ", %%" s0 "\n\t"          \
  "vpmaxsw %%ymm14, %%" s0 ", %%" s0 "\n\t"             \
  "vpminsw %%ymm15, %%" s0 ", %%" s0 "\n\t"             \
  "vmovdqu %%" s0 ", " dst "\n\t"
  __asm__ volatile ("vpxor %%xmm0, %%xmm0, %%xmm0\n\t"
                    "vpxor %%xmm1, %%xmm1, %%xmm1\n\t"
                    "vpxor %%xmm2, %%xmm2, %%xmm2\n\t"
                    "vpxor %%xmm3, %%xmm3, %%xmm3\n\t"
                    "vpxor %%xmm4, %%xmm4, %%xmm4\n\t"
                    "vpxor %%xmm5, %%xmm5, %%xmm5\n\t"
                    "vpxor %%xmm6, %%xmm6, %%xmm6\n\t"
                    "vpxor %%xmm7, %%xmm7, %%xmm7\n\t"
                    "vpxor %%xmm8, %%xmm8, %%xmm8\n\t"
                    "vpxor %%xmm9, %%xmm9, %%xmm9\n\t"
                    "vpxor %%xmm10, %%xmm10, %%xmm10\n\t"
                    "vpxor %%xmm11, %%xmm11, %%xmm11\n\t"
                    "1:\n\t"
                    "vmovdqu (%[w]), %%ymm12\n\t"
                    "vmovdqu 32(%[w]), %%ymm13\n\t"
                    BT_Q_ROW ("(%[p0])", "ymm0", "ymm1")
                    BT_Q_ROW ("(%[p0],%[ld],1)", "ymm2", "ymm3")
                    BT_Q_ROW ("(%[p0],%[ld],2)", "ymm4", "ymm5")
                    BT_Q_ROW ("(%[p3])", "ymm6", "ymm7")
                    BT_Q_ROW ("(%[p3],%[ld],1)", "ymm8", "ymm9")
                    BT_Q_ROW ("(%[p3],%[ld],2)", "ymm10", "ymm11")
                    "add $64, %[w]\n\t"
                    "add $4, %[p0]\n\t"
                    "add $4, %[p3]\n\t"
                    "dec %[n]\n\t"
                    "jnz 1b\n\t"
                    "vmovups (%[mul]), %%ymm12\n\t"
                    "vmovups 32(%[mul]), %%ymm13\n\t"
                    "vmovdqu (%[lh]), %%ymm14\n\t"
                    "vmovdqu 32(%[lh]), %%ymm15\n\t"
                    "lea (%[o],%[ldo],2), %[p3]\n\t"
                    "add %[ldo], %[p3]\n\t"
                    BT_Q_STORE ("ymm0", "ymm1", "(%[o])")
                    BT_Q_STORE ("ymm2", "ymm3", "(%[o],%[ldo],1)")
                    BT_Q_STORE ("ymm4", "ymm5", "(%[o],%[ldo],2)")
                    BT_Q_STORE ("ymm6", "ymm7", "(%[p3])")
                    BT_Q_STORE ("ymm8", "ymm9", "(%[p3],%[ldo],1)")
                    BT_Q_STORE ("ymm10", "ymm11", "(%[p3],%[ldo],2)")
                    : [w] "+r" (w), [p0] "+r" (p0), [p3] "+r" (p3), [n] "+r" (n)
                    : [ld] "r" (ld), [mul] "r" (mul), [add] "r" (add), [lh] "r" (lh), [o] "r" (o),
                      [ldo] "r" (ldob)
                    : "cc", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
                      "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
#undef BT_Q_ROW
#undef BT_Q_STORE
}


/* out [P][ldo] = requant (A [P][lda] · W). */
BT_Q_AVX2 static void
gemm (const gint16 *A, int P, const QOp *q, int oc, gint16 *out, int ldo)
{
  const int kp2 = q->K / 2;
  const __m256i lo = _mm256_set1_epi16 ((short) q->lo), hi = _mm256_set1_epi16 ((short) q->hi);
  for (int p0 = 0; p0 < P; p0 += GEMM_ROWS)
    {
      const int p1 = MIN (P, p0 + GEMM_ROWS);
      for (int ob = 0; ob < ROUND_UP (oc, QPAD) / QPAD; ob++)
        {
          const gint16 *wb = q->wp + (gsize) ob * kp2 * 32;
          const float *mul = q->mul + ob * QPAD, *add = q->add + ob * QPAD;
          gint16 *o = out + ob * QPAD;
          int p = p0;
          for (; p + 6 <= p1; p += 6)
            gemm_tile6 (A + (gsize) p * q->lda, q->lda, wb, kp2, mul, add, lo, hi, o + (gsize) p * ldo, ldo);
          const gint16 *a = A + (gsize) p * q->lda;
          gint16 *d = o + (gsize) p * ldo;
          switch (p1 - p)
            {
            case 5:
              gemm_block (a, q->lda, wb, kp2, mul, add, lo, hi, d, ldo, 4);
              gemm_block (a + (gsize) 4 * q->lda, q->lda, wb, kp2, mul, add, lo, hi, d + (gsize) 4 * ldo, ldo, 1);
              break;
            case 4: gemm_block (a, q->lda, wb, kp2, mul, add, lo, hi, d, ldo, 4); break;
            case 3: gemm_block (a, q->lda, wb, kp2, mul, add, lo, hi, d, ldo, 3); break;
            case 2: gemm_block (a, q->lda, wb, kp2, mul, add, lo, hi, d, ldo, 2); break;
            case 1: gemm_block (a, q->lda, wb, kp2, mul, add, lo, hi, d, ldo, 1); break;
            default: break;
            }
        }
    }
}

/* Depthwise sums of 16 channels as "lo"/"hi" halves (see dw_index; lane16's order) →
 * requantized int16 in channel order. */
BT_Q_AVX2 static inline void
dw_store (__m256i slo, __m256i shi, const QOp *q, int c, __m256i lo, __m256i hi, gint16 *o)
{
  __m256 flo = _mm256_fmadd_ps (_mm256_cvtepi32_ps (slo), _mm256_loadu_ps (q->mul + c),
                                _mm256_loadu_ps (q->add + c));
  __m256 fhi = _mm256_fmadd_ps (_mm256_cvtepi32_ps (shi), _mm256_loadu_ps (q->mul + c + 8),
                                _mm256_loadu_ps (q->add + c + 8));
  _mm256_storeu_si256 ((__m256i *) o, requant16_lanes (flo, fhi, lo, hi));
}

/* A depthwise output row reads its kh input rows through pointers (a row outside the image
 * points at a row of zeros, real 0), so that the whole-plane kernel and the fused block (which
 * keeps only a band of its expanded rows) share it. */

/* One output pixel whose window may leave the image: taps outside read the zero row. */
BT_Q_AVX2 static void
dw_pixel (const gint16 *const *rows, const gint16 *zero, int cs, const BtConvShape *s,
          const QOp *q, int ix0, __m256i lo, __m256i hi, gint16 *o)
{
  const int taps = s->kh * s->kw, ng = cs / 16;
  const gint16 *src[26];
  for (int t = 0; t < taps + 1; t++)
    {
      int ix = ix0 + t % s->kw;
      src[t] = t < taps && ix >= 0 && ix < s->w ? rows[t / s->kw] + (gsize) ix * cs : zero;
    }
  for (int g = 0; g < ng; g++)
    {
      __m256i slo = _mm256_setzero_si256 (), shi = _mm256_setzero_si256 ();
      for (int t = 0; t < taps; t += 2)
        {
          const gint16 *w = q->wd + (((gsize) (t / 2) * ng + g) * 2) * 16;
          __m256i a = _mm256_loadu_si256 ((const __m256i *) (src[t] + g * 16));
          __m256i b = _mm256_loadu_si256 ((const __m256i *) (src[t + 1] + g * 16));
          slo = _mm256_add_epi32 (slo, _mm256_madd_epi16 (_mm256_unpacklo_epi16 (a, b),
                                                          _mm256_loadu_si256 ((const __m256i *) w)));
          shi = _mm256_add_epi32 (shi, _mm256_madd_epi16 (_mm256_unpackhi_epi16 (a, b),
                                                          _mm256_loadu_si256 ((const __m256i *) (w + 16))));
        }
      dw_store (slo, shi, q, g * 16, lo, hi, o + g * 16);
    }
}

/* One pair of taps of one output pixel into its sums. */
#define BT_Q_DW_PAIR(ta, tb, wl, wh)                                                        \
  do {                                                                                      \
    __m256i a0_ = _mm256_loadu_si256 ((const __m256i *) (ta));                              \
    __m256i a1_ = _mm256_loadu_si256 ((const __m256i *) (tb));                              \
    slo = _mm256_add_epi32 (slo, _mm256_madd_epi16 (_mm256_unpacklo_epi16 (a0_, a1_), wl)); \
    shi = _mm256_add_epi32 (shi, _mm256_madd_epi16 (_mm256_unpackhi_epi16 (a0_, a1_), wh)); \
  } while (0)

/* n output pixels of a 3 × 3 depthwise row whose windows are wholly inside; r0, r1, r2 point at
 * the first window's corner in each input row. 16 channels at a time across the row, so the
 * group's ten weight vectors stay in registers for the whole row (the ninth tap is paired with
 * itself against a zero partner weight). */
BT_Q_AVX2 static void
dw3_row (const gint16 *r0, const gint16 *r1, const gint16 *r2, int cs, gsize step,
         const QOp *q, int n, __m256i lo, __m256i hi, gint16 *o)
{
  const int ng = cs / 16;
  const gsize c1 = cs, c2 = 2 * (gsize) cs, wstep = (gsize) ng * 32;
  for (int g = 0; g < ng; g++)
    {
      const gint16 *w = q->wd + (gsize) g * 32;
      const __m256i w0l = _mm256_loadu_si256 ((const __m256i *) w);
      const __m256i w0h = _mm256_loadu_si256 ((const __m256i *) (w + 16));
      const __m256i w1l = _mm256_loadu_si256 ((const __m256i *) (w + wstep));
      const __m256i w1h = _mm256_loadu_si256 ((const __m256i *) (w + wstep + 16));
      const __m256i w2l = _mm256_loadu_si256 ((const __m256i *) (w + 2 * wstep));
      const __m256i w2h = _mm256_loadu_si256 ((const __m256i *) (w + 2 * wstep + 16));
      const __m256i w3l = _mm256_loadu_si256 ((const __m256i *) (w + 3 * wstep));
      const __m256i w3h = _mm256_loadu_si256 ((const __m256i *) (w + 3 * wstep + 16));
      const __m256i w4l = _mm256_loadu_si256 ((const __m256i *) (w + 4 * wstep));
      const __m256i w4h = _mm256_loadu_si256 ((const __m256i *) (w + 4 * wstep + 16));
      const gint16 *a = r0 + g * 16, *b = r1 + g * 16, *c = r2 + g * 16;
      gint16 *d = o + g * 16;
      for (int i = 0; i < n; i++, a += step, b += step, c += step, d += cs)
        {
          __m256i slo = _mm256_setzero_si256 (), shi = slo;
          BT_Q_DW_PAIR (a, a + c1, w0l, w0h);
          BT_Q_DW_PAIR (a + c2, b, w1l, w1h);
          BT_Q_DW_PAIR (b + c1, b + c2, w2l, w2h);
          BT_Q_DW_PAIR (c, c + c1, w3l, w3h);
          BT_Q_DW_PAIR (c + c2, c + c2, w4l, w4h);
          dw_store (slo, shi, q, g * 16, lo, hi, d);
        }
    }
}
#undef BT_Q_DW_PAIR

/* One output row of a depthwise conv (multiplier 1), NHWC, exact int32 sums of pairs of taps:
 * rows [ky] is input row iy0 + ky (zero, a row of zeros, outside the image). */
BT_Q_AVX2 static void
dw_row (const gint16 *const *rows, const gint16 *zero, int cs, const BtConvShape *s,
        const QOp *q, gint16 *o)
{
  const __m256i lo = _mm256_set1_epi16 ((short) q->lo), hi = _mm256_set1_epi16 ((short) q->hi);
  /* Output columns [ox_in, ox_end) have their windows inside the image's columns. */
  const int ox_in = MIN (s->ow, (s->pad_left + s->stride_w - 1) / s->stride_w);
  const int span = s->w - s->kw + s->pad_left;
  const int ox_end = span < 0 ? ox_in : MAX (ox_in, MIN (s->ow, span / s->stride_w + 1));
  int ox = 0;

  if (s->kh == 3 && s->kw == 3 && ox_end > ox_in)
    {
      gsize first = (gsize) (ox_in * s->stride_w - s->pad_left) * cs;
      for (; ox < ox_in; ox++)
        dw_pixel (rows, zero, cs, s, q, ox * s->stride_w - s->pad_left, lo, hi, o + (gsize) ox * cs);
      dw3_row (rows[0] + first, rows[1] + first, rows[2] + first, cs, (gsize) s->stride_w * cs, q,
               ox_end - ox_in, lo, hi, o + (gsize) ox_in * cs);
      ox = ox_end;
    }
  for (; ox < s->ow; ox++)
    dw_pixel (rows, zero, cs, s, q, ox * s->stride_w - s->pad_left, lo, hi, o + (gsize) ox * cs);
}

/* The input rows of output row oy: base + (iy − row0) rows of w × cs for the rows held,
 * [row0, row1) (all those inside the image), zero for the others. */
static void
dw_rows_of (const gint16 **rows, const BtConvShape *s, int cs, int oy, const gint16 *base,
            int row0, int row1, const gint16 *zero)
{
  for (int ky = 0; ky < s->kh; ky++)
    {
      int iy = oy * s->stride_h - s->pad_top + ky;
      rows[ky] = iy >= row0 && iy < row1 ? base + (gsize) (iy - row0) * s->w * cs : zero;
    }
}

/* zero: a row of zeros, w × cs int16s. */
BT_Q_AVX2 static void
dw_conv (const gint16 *in, int cs, const BtConvShape *s, const QOp *q, const gint16 *zero,
         gint16 *out)
{
  for (int oy = 0; oy < s->oh; oy++)
    {
      const gint16 *rows[5];
      dw_rows_of (rows, s, cs, oy, in, 0, s->h, zero);
      dw_row (rows, zero, cs, s, q, out + (gsize) oy * s->ow * cs);
    }
}

/* out = requant (m0 × a + m1 × b) elementwise; n is a multiple of 16. */
BT_Q_AVX2 static void
add_requant (gint16 *out, const gint16 *a, const gint16 *b, gsize n, const QOp *q)
{
  const __m256i lo = _mm256_set1_epi16 ((short) q->lo), hi = _mm256_set1_epi16 ((short) q->hi);
  const __m256 m0 = _mm256_set1_ps (q->m0), m1 = _mm256_set1_ps (q->m1);
  for (gsize i = 0; i < n; i += 16)
    {
      __m256 f0 = _mm256_fmadd_ps (load8 (a + i), m0, _mm256_mul_ps (load8 (b + i), m1));
      __m256 f1 = _mm256_fmadd_ps (load8 (a + i + 8), m0, _mm256_mul_ps (load8 (b + i + 8), m1));
      _mm256_storeu_si256 ((__m256i *) (out + i), requant16 (f0, f1, lo, hi));
    }
}

/* The input conversion of bt_tfl_quant_run, 8 pixels a step for c ≤ 16 channels; returns the
 * pixels done (a multiple of 8), the caller does the rest. */
BT_Q_AVX2 static gsize
input_to_centred (gint16 *x, const float *input, gsize hw, int c, int cs, float inv)
{
  const __m256 k = _mm256_set1_ps (inv), vlo = _mm256_set1_ps (-32768.f), vhi = _mm256_set1_ps (32767.f);
  const __m256 half = _mm256_set1_ps (0.5f), sign = _mm256_set1_ps (-0.f);
  gint32 t[16][8];
  gsize p = 0;
  if (c > 16)
    return 0;
  if (c == 3 && cs == 4)
    {
      /* An RGB image (the usual input) kept 4 channels a pixel: the three rows of 8 rounded
       * values are interleaved in registers, not through t one int16 at a time. */
      const __m256i z = _mm256_setzero_si256 ();
      for (; p + 8 <= hw; p += 8)
        {
          __m256i v[3];
          for (int ch = 0; ch < 3; ch++)
            {
              __m256 f = _mm256_mul_ps (_mm256_loadu_ps (input + ch * hw + p), k);
              f = _mm256_min_ps (_mm256_max_ps (f, vlo), vhi);
              v[ch] = _mm256_cvttps_epi32 (_mm256_add_ps (f, _mm256_or_ps (half, _mm256_and_ps (f, sign))));
            }
          /* Per 128-bit lane (pixels 0–3 | 4–7): (c0, c1) pairs, then (c2, 0) pairs, then
           * the two interleaved into 4-channel pixels 0, 1 | 4, 5 and 2, 3 | 6, 7. */
          __m256i p01 = _mm256_packs_epi32 (v[0], v[1]);
          __m256i c01 = _mm256_unpacklo_epi16 (p01, _mm256_bsrli_epi128 (p01, 8));
          __m256i c2z = _mm256_unpacklo_epi16 (_mm256_packs_epi32 (v[2], z), z);
          __m256i a = _mm256_unpacklo_epi32 (c01, c2z), b = _mm256_unpackhi_epi32 (c01, c2z);
          _mm256_storeu_si256 ((__m256i *) (x + p * 4), _mm256_permute2x128_si256 (a, b, 0x20));
          _mm256_storeu_si256 ((__m256i *) (x + p * 4 + 16), _mm256_permute2x128_si256 (a, b, 0x31));
        }
      return p;
    }
  for (; p + 8 <= hw; p += 8)
    {
      for (int ch = 0; ch < c; ch++)
        {
          __m256 v = _mm256_min_ps (_mm256_max_ps (_mm256_mul_ps (_mm256_loadu_ps (input + ch * hw + p), k), vlo), vhi);
          /* v ± 0.5 by v's sign, then truncate: the scalar loop's rounding. */
          v = _mm256_add_ps (v, _mm256_or_ps (half, _mm256_and_ps (v, sign)));
          _mm256_storeu_si256 ((__m256i *) t[ch], _mm256_cvttps_epi32 (v));
        }
      for (int i = 0; i < 8; i++)
        for (int ch = 0; ch < c; ch++)
          x[(p + i) * cs + ch] = (gint16) t[ch][i];
    }
  return p;
}

/* out = requant (m0 × x) elementwise (QUANTIZE, RESHAPE with new parameters); n is a multiple
 * of 16. Rounds to nearest even like lrintf in the default rounding mode. */
BT_Q_AVX2 static void
requant (gint16 *out, const gint16 *x, gsize n, const QOp *q)
{
  const __m256i lo = _mm256_set1_epi16 ((short) q->lo), hi = _mm256_set1_epi16 ((short) q->hi);
  const __m256 m0 = _mm256_set1_ps (q->m0);
  for (gsize i = 0; i < n; i += 16)
    _mm256_storeu_si256 ((__m256i *) (out + i),
                         requant16 (_mm256_mul_ps (load8 (x + i), m0),
                                    _mm256_mul_ps (load8 (x + i + 8), m0), lo, hi));
}
#endif

static inline int
clampi (long v, int lo, int hi)
{
  return v < lo ? lo : v > hi ? hi : (int) v;
}

/* ------------------------------------------------------------------------------------------ */
/* Execution                                                                                   */

/* n int16s, zeroed, on a cache line (so that no 32-byte load of a row straddles two), or NULL. */
static gint16 *
try_alloc16 (gsize n)
{
  void *p = NULL;
  if (posix_memalign (&p, 64, MAX (n, 1) * sizeof (gint16)) != 0)
    return NULL;
  return memset (p, 0, MAX (n, 1) * sizeof (gint16));
}

void
bt_tfl_quant_exec_free (BtTflQuantExec *e)
{
  if (e == NULL)
    return;
  for (int s = 0; s < e->n_slots; s++)
    free (e->slots[s]);
  g_free (e->slots);
  g_free (e->act);
  free (e->col);
  free (e->band);
  free (e->drow);
  free (e->zero);
  g_free (e->fout);
  g_free (e->ftmp);
  g_free (e);
}

BtTflQuantExec *
bt_tfl_quant_exec_new (const BtTflite *m, const BtTflQuant *Q)
{
  BtTflQuantExec *e = g_new0 (BtTflQuantExec, 1);
  g_autofree int *slot_of = g_new (int, m->n_tensors);
  g_autofree gsize *cap = g_new0 (gsize, Q->n_ok + 1);
  g_autofree gboolean *busy = g_new0 (gboolean, Q->n_ok + 1);

  e->model = m;
  e->q = Q;
  /* Lifetimes as in the float executor: a tensor takes the best-fitting free slot. */
  for (int t = 0; t < m->n_tensors; t++)
    slot_of[t] = -1;
  for (int i = -1; i < Q->n_ok; i++)
    {
      int t = i < 0 ? m->input : m->ops[i].output, best = -1;
      gsize need = (gsize) Q->rows[t] * Q->cs[t];
      for (int s = 0; s < e->n_slots; s++)
        if (!busy[s] && cap[s] >= need && (best < 0 || cap[s] < cap[best]))
          best = s;
      if (best < 0)
        for (int s = 0; s < e->n_slots; s++)
          if (!busy[s] && (best < 0 || cap[s] > cap[best]))
            best = s;
      if (best < 0)
        best = e->n_slots++;
      cap[best] = MAX (cap[best], need);
      busy[best] = TRUE;
      slot_of[t] = best;
      if (i >= 0)
        for (int k = 0; k < m->ops[i].n_inputs; k++)
          {
            int in = m->ops[i].inputs[k];
            if (in >= 0 && slot_of[in] >= 0 && m->tensors[in].last_use == i)
              busy[slot_of[in]] = FALSE;
          }
    }
  e->slots = g_new0 (gint16 *, e->n_slots);
  e->act = g_new0 (gint16 *, m->n_tensors);
  for (int s = 0; s < e->n_slots; s++)
    if ((e->slots[s] = try_alloc16 (cap[s])) == NULL)
      goto oom;
  for (int t = 0; t < m->n_tensors; t++)
    if (slot_of[t] >= 0)
      e->act[t] = e->slots[slot_of[t]];
  e->col = try_alloc16 (Q->max_col);
  e->band = try_alloc16 (Q->max_band);
  e->drow = try_alloc16 (Q->max_drow);
  e->zero = try_alloc16 (Q->max_dw_row);
  e->fout = g_try_new (float, Q->max_float);
  e->ftmp = g_try_new (float, Q->max_float);
  if (e->col == NULL || e->band == NULL || e->drow == NULL || e->zero == NULL || e->fout == NULL
      || e->ftmp == NULL)
    goto oom;
  return e;
oom:
  bt_tfl_quant_exec_free (e);
  return NULL;
}

static void
run_gap (BtTflQuantExec *e, const QOp *q, gboolean is_target)
{
  const BtTflQuant *Q = e->q;
  const int rows = Q->rows[q->in0], cs = Q->cs[q->in0], C = Q->C[q->out];
  const gint16 *x = e->act[q->in0];
  g_autofree gint32 *sum = g_new0 (gint32, cs);
  for (int r = 0; r < rows; r++)
    for (int c = 0; c < cs; c++)
      sum[c] += x[(gsize) r * cs + c];
  for (int c = 0; c < C; c++)
    {
      float real = q->m0 * (float) sum[c] / (float) rows;
      if (is_target)
        e->fout[c] = CLAMP (real, q->flo, q->fhi);
      else
        e->act[q->out][c] = (gint16) clampi (lrintf (real * q->m1), q->lo, q->hi);
    }
}

static void
dequant (const BtTflQuantExec *e, int t, float scale, float *dst)
{
  const int rows = e->q->rows[t], cs = e->q->cs[t], C = e->q->C[t];
  for (int r = 0; r < rows; r++)
    for (int c = 0; c < C; c++)
      dst[(gsize) r * C + c] = scale * e->act[t][(gsize) r * cs + c];
}

static gsize
m_elems (const BtTflQuantExec *e, int t)
{
  return e->model->tensors[t].n_elems;
}

#if BT_Q_X86
/* Output rows (pixels) [p0, p1) of a GEMM or convolution q into dst; a convolution a pass of
 * GEMM rows at a time, so the window rows stay in L1 between im2col and the GEMM. */
BT_Q_AVX2 static void
gemm_rows (BtTflQuantExec *e, const BtTflOp *op, const QOp *q, int p0, int p1, gint16 *dst)
{
  const BtTflQuant *Q = e->q;
  const gint16 *x = e->act[q->in0];
  const int cso = Q->cs[q->out];
  if (q->kind == QK_GEMM)
    {
      gemm (x + (gsize) p0 * q->lda, p1 - p0, q, Q->C[q->out], dst, cso);
      return;
    }
  for (int p = p0; p < p1; p += GEMM_ROWS)
    {
      int pe = MIN (p1, p + GEMM_ROWS);
      im2col (e->col, x, Q->cs[q->in0], &op->cs, q->lda, p, pe);
      gemm (e->col, pe - p, q, Q->C[q->out], dst + (gsize) (p - p0) * cso, cso);
    }
}

/* Ops i (a 1×1 expand or a first convolution), i + 1 (depthwise), i + 2 (1×1 project) a band
 * of output rows at a time:
 * the expanded rows the band's windows need (those of the previous band that it shares are
 * moved to the front, not computed again), its depthwise rows, then their projection into the
 * output plane. The same kernels on the same values as run one by one: identical results. */
BT_Q_AVX2 static void
run_fused (BtTflQuantExec *e, int i)
{
  const BtTflQuant *Q = e->q;
  const QOp *qe = &Q->ops[i], *qd = &Q->ops[i + 1], *qp = &Q->ops[i + 2];
  const BtConvShape *s = &e->model->ops[i + 1].cs;
  const int cse = Q->cs[qe->out], cso = Q->cs[qp->out];
  const gsize erow = (gsize) s->w * cse;
  int held0 = 0, held1 = 0;   /* expanded rows [held0, held1) are at e->band's start */

  for (int oy0 = 0; oy0 < s->oh; oy0 += qe->band)
    {
      const int oy1 = MIN (s->oh, oy0 + qe->band);
      const int r0 = CLAMP (oy0 * s->stride_h - s->pad_top, 0, s->h);
      const int r1 = CLAMP ((oy1 - 1) * s->stride_h - s->pad_top + s->kh, r0, s->h);
      const int from = MAX (r0, held1);
      if (held1 > r0 && r0 > held0)
        memmove (e->band, e->band + (gsize) (r0 - held0) * erow,
                 (gsize) (held1 - r0) * erow * sizeof (gint16));
      if (r1 > from)
        gemm_rows (e, &e->model->ops[i], qe, from * s->w, r1 * s->w, e->band + (gsize) (from - r0) * erow);
      held0 = r0;
      held1 = r1;
      for (int oy = oy0; oy < oy1; oy++)
        {
          const gint16 *rows[5];
          dw_rows_of (rows, s, cse, oy, e->band, r0, r1, e->zero);
          dw_row (rows, e->zero, cse, s, qd, e->drow + (gsize) (oy - oy0) * s->ow * cse);
        }
      gemm (e->drow, (oy1 - oy0) * s->ow, qp, Q->C[qp->out], e->act[qp->out] + (gsize) oy0 * s->ow * cso, cso);
    }
}
#endif

static void
run_qop (BtTflQuantExec *e, const BtTflOp *op, const QOp *q, int target)
{
  const BtTflQuant *Q = e->q;
  gint16 *out = e->act[q->out];
  const gint16 *x = e->act[q->in0];

  switch (q->kind)
    {
#if BT_Q_X86
    case QK_GEMM:
    case QK_CONV:
      gemm_rows (e, op, q, 0, Q->rows[q->out], out);
      break;
    case QK_DW:
      dw_conv (x, Q->cs[q->in0], &op->cs, q, e->zero, out);
      break;
    case QK_ADD:
      add_requant (out, x, e->act[q->in1], (gsize) Q->rows[q->out] * Q->cs[q->out], q);
      break;
#endif
    case QK_GAP:
      run_gap (e, q, q->out == target);
      break;
    case QK_REQUANT:
#if BT_Q_X86
      requant (out, x, (gsize) Q->rows[q->out] * Q->cs[q->out], q);
#else
      for (gsize i = 0; i < (gsize) Q->rows[q->out] * Q->cs[q->out]; i++)
        out[i] = (gint16) clampi (lrintf (x[i] * q->m0), q->lo, q->hi);
#endif
      break;
    case QK_SOFTMAX:
      {
        gsize n = (gsize) Q->rows[q->in0] * Q->C[q->in0];
        dequant (e, q->in0, q->m0 * q->beta, e->ftmp);
        bt_softmax_forward (e->fout, e->ftmp, Q->rows[q->in0], Q->C[q->in0]);
        for (gsize i = 0; i < n; i++)
          e->fout[i] = CLAMP (e->fout[i], q->flo, q->fhi);
        break;
      }
    case QK_DEQUANT:
      dequant (e, q->in0, q->m0, e->fout);
      break;
    case QK_FLOAT_PASS:
      for (gsize i = 0; i < m_elems (e, q->out); i++)
        e->fout[i] = CLAMP (e->fout[i], q->flo, q->fhi);
      break;
    default:
      g_assert_not_reached ();
    }
}

const float *
bt_tfl_quant_run (BtTflQuantExec *e, const float *input, int target, gsize *n_out)
{
  const BtTflite *m = e->model;
  const BtTflQuant *Q = e->q;
  const BtTflTensor *in = &m->tensors[m->input];
  const int h = in->shape[1], w = in->shape[2], c = in->shape[3], cs = Q->cs[m->input];
  const float inv = 1.f / in->scale[0];
  gint16 *x = e->act[m->input];
  int producer = m->tensors[target].producer, kind;

  g_return_val_if_fail (bt_tfl_quant_covers (Q, m, target), NULL);
  /* Float NCHW real → centred NHWC (round half away from zero; the pixels are whole steps). */
  {
    gsize p = 0;
#if BT_Q_X86
    p = input_to_centred (x, input, (gsize) h * w, c, cs, inv);
#endif
    for (; p < (gsize) h * w; p++)
      for (int ch = 0; ch < c; ch++)
        {
          float v = CLAMP (input[ch * (gsize) h * w + p] * inv, -32768.f, 32767.f);
          x[p * cs + ch] = (gint16) (v + (v >= 0 ? 0.5f : -0.5f));
        }
  }
  for (int i = 0; i <= producer; i++)
    {
#if BT_Q_X86
      if (Q->ops[i].band > 0 && i + 2 <= producer)
        {
          run_fused (e, i);
          i += 2;
          continue;
        }
#endif
      run_qop (e, &m->ops[i], &Q->ops[i], target);
    }

  kind = Q->ops[producer].kind;
  if (!is_float (kind) && kind != QK_GAP)
    dequant (e, target, m->tensors[target].scale[0], e->fout);
  if (n_out)
    *n_out = m->tensors[target].n_elems;
  return e->fout;
}
