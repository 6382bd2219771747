/* bt-dense-fast.c: inference dense layers with the weights packed once into panels of 16 outputs
 * ([panel][in_dim][16], the last panel's missing outputs zero) and a 6-row × 16-output register
 * tile, the bias and the activation applied on the registers. OpenBLAS repacked the Small CNN's
 * 1.6 MB fc1 weights on every call and ran its kernel at about 60 % of the FMA rate, then the
 * activation took another pass (docs/PERFORMANCE.md, #25). Panels run outermost, so one panel
 * (at most in_dim · 64 bytes) stays in L2 while every row streams past it. */
#include "engine/bt-engine-private.h"

#include <string.h>

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define DENSE_X86 1
#else
#define DENSE_X86 0
#endif

#define DENSE_NB 16   /* outputs per panel and register tile */
#define DENSE_MR 6    /* rows per register tile */

static int
n_panels (int out_dim)
{
  return (out_dim + DENSE_NB - 1) / DENSE_NB;
}

gboolean
bt_dense_fast_fits (void)
{
  return bt_conv2d_fast_mode () > 0;
}

gsize
bt_dense_packed_size (int in_dim, int out_dim)
{
  return (gsize) n_panels (out_dim) * in_dim * DENSE_NB;
}

void
bt_dense_pack (float *packed, const float *w, int in_dim, int out_dim)
{
  g_return_if_fail (packed != NULL && w != NULL && in_dim > 0 && out_dim > 0);
  memset (packed, 0, sizeof (float) * bt_dense_packed_size (in_dim, out_dim));
  for (int o = 0; o < out_dim; o++)
    {
      float *p = packed + (gsize) (o / DENSE_NB) * in_dim * DENSE_NB + o % DENSE_NB;
      const float *wo = w + (gsize) o * in_dim;
      for (int k = 0; k < in_dim; k++)
        p[(gsize) k * DENSE_NB] = wo[k];
    }
}

/* Rows rows[0..DENSE_MR) (the ones past nr repeat the last), one panel; out: row r's outputs
 * start at out + r · ldo; nc of the panel's 16 outputs are real; bias: the panel's (nc floats). */
typedef void (*DenseTile) (float *restrict out, int ldo, const float *const *rows, int nr,
                           const float *restrict panel, int k_len, const float *bias, int nc, int act);

static void
tile_portable (float *restrict out, int ldo, const float *const *rows, int nr, const float *restrict panel,
               int k_len, const float *bias, int nc, int act)
{
  for (int r = 0; r < nr; r++)
    for (int o = 0; o < nc; o++)
      {
        float acc = 0.0f;
        for (int k = 0; k < k_len; k++)
          acc += rows[r][k] * panel[(gsize) k * DENSE_NB + o];
        out[(gsize) r * ldo + o] = bt_act_map (acc, 1.0f, bias ? bias[o] : 0.0f, act);
      }
}

#if DENSE_X86
__attribute__ ((target ("avx2,fma")))
static void
tile_avx2 (float *restrict out, int ldo, const float *const *rows, int nr, const float *restrict panel,
           int k_len, const float *bias, int nc, int act)
{
  const float *r0 = rows[0], *r1 = rows[1], *r2 = rows[2], *r3 = rows[3], *r4 = rows[4], *r5 = rows[5];
  __m256 a00 = _mm256_setzero_ps (), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00;
  __m256 a30 = a00, a31 = a00, a40 = a00, a41 = a00, a50 = a00, a51 = a00;
  for (int k = 0; k < k_len; k++, panel += DENSE_NB)
    {
      const __m256 v0 = _mm256_loadu_ps (panel), v1 = _mm256_loadu_ps (panel + 8);
      __m256 b = _mm256_broadcast_ss (r0 + k);
      a00 = _mm256_fmadd_ps (b, v0, a00), a01 = _mm256_fmadd_ps (b, v1, a01);
      b = _mm256_broadcast_ss (r1 + k);
      a10 = _mm256_fmadd_ps (b, v0, a10), a11 = _mm256_fmadd_ps (b, v1, a11);
      b = _mm256_broadcast_ss (r2 + k);
      a20 = _mm256_fmadd_ps (b, v0, a20), a21 = _mm256_fmadd_ps (b, v1, a21);
      b = _mm256_broadcast_ss (r3 + k);
      a30 = _mm256_fmadd_ps (b, v0, a30), a31 = _mm256_fmadd_ps (b, v1, a31);
      b = _mm256_broadcast_ss (r4 + k);
      a40 = _mm256_fmadd_ps (b, v0, a40), a41 = _mm256_fmadd_ps (b, v1, a41);
      b = _mm256_broadcast_ss (r5 + k);
      a50 = _mm256_fmadd_ps (b, v0, a50), a51 = _mm256_fmadd_ps (b, v1, a51);
    }
  float bs[DENSE_NB] = { 0 };
  if (bias != NULL)
    memcpy (bs, bias, sizeof (float) * nc);
  const __m256 b0 = _mm256_loadu_ps (bs), b1 = _mm256_loadu_ps (bs + 8), one = _mm256_set1_ps (1.0f);
  const __m256 acc[DENSE_MR][2] = { { a00, a01 }, { a10, a11 }, { a20, a21 }, { a30, a31 }, { a40, a41 }, { a50, a51 } };
  for (int r = 0; r < nr; r++)
    {
      const __m256 y0 = bt_act8_avx2 (acc[r][0], one, b0, act), y1 = bt_act8_avx2 (acc[r][1], one, b1, act);
      float *d = out + (gsize) r * ldo;
      if (nc == DENSE_NB)
        {
          _mm256_storeu_ps (d, y0);
          _mm256_storeu_ps (d + 8, y1);
          continue;
        }
      float tmp[DENSE_NB];
      _mm256_storeu_ps (tmp, y0);
      _mm256_storeu_ps (tmp + 8, y1);
      memcpy (d, tmp, sizeof (float) * nc);
    }
}
#endif

typedef struct {
  float *out;
  const float *in, *packed, *b;
  int n, in_dim, out_dim, act, n_rb;
  DenseTile tile;
} DenseFastJob;

/* items: panel-major (panel · n_rb + row block), so a worker keeps its panel in L2 */
static void
dense_fast_part (gpointer p, gsize i0, gsize i1)
{
  const DenseFastJob *j = p;
  for (gsize i = i0; i < i1; i++)
    {
      const int ob = (int) (i / j->n_rb), r0 = (int) (i % j->n_rb) * DENSE_MR;
      const int nr = MIN (DENSE_MR, j->n - r0), nc = MIN (DENSE_NB, j->out_dim - ob * DENSE_NB);
      const float *rows[DENSE_MR];
      for (int r = 0; r < DENSE_MR; r++)
        rows[r] = j->in + (gsize) (r0 + MIN (r, nr - 1)) * j->in_dim;
      j->tile (j->out + (gsize) r0 * j->out_dim + ob * DENSE_NB, j->out_dim, rows, nr,
               j->packed + (gsize) ob * j->in_dim * DENSE_NB, j->in_dim, j->b ? j->b + ob * DENSE_NB : NULL, nc,
               j->act);
    }
}

void
bt_dense_forward_packed (float *out, const float *in, const float *packed, const float *b, int n, int in_dim,
                         int out_dim, int act)
{
  g_assert (out && in && packed && n > 0 && in_dim > 0 && out_dim > 0 && bt_dense_fast_fits ());
  DenseFastJob j = { out, in, packed, b, n, in_dim, out_dim, act, (n + DENSE_MR - 1) / DENSE_MR, tile_portable };
#if DENSE_X86
  if (bt_conv2d_fast_mode () == 2)
    j.tile = tile_avx2;
#endif
  bt_parallel_for ((gsize) n_panels (out_dim) * j.n_rb, 1, dense_fast_part, &j);
}

/* ---- Training: forward, weight and input gradients with one strided tile ----
 * Every product of a dense layer's training step is C[6×16] tiles of Σ_k a_i[k·aks] · b[k·ldb + j]:
 *   forward  outᵀ tile: a = six weight rows (aks 1), b = the input transposed into [in_dim][16·r]
 *            (inᵀ, written here per call), stored transposed with the bias and activation;
 *   d_w      a = six columns of d_out (aks out_dim), b = the input's rows (ldb in_dim), K = batch;
 *   d_in     a = six rows of d_out (aks 1), b = the weights' rows (ldb in_dim), K = out_dim.
 * No operand is packed but the batch's input (a few hundred KB): OpenBLAS packed the whole weight
 * matrix on each of the two threads every step, and zeroed d_w in a separate pass that the tile
 * now skips by writing its first sum (docs/PERFORMANCE.md, "MLP training step"). Each output is
 * one tile's sum in k order, so the result is the same at any thread count. */

#define DENSE_T_ROWS 64   /* batch rows transposed at a time */
/* multiply-adds below which a product runs on the calling thread: handing the Small CNN's or the
 * MLP's last layer (82 k) to the pool cost more than it saved */
#define DENSE_TRAIN_SPLIT_MIN (G_GUINT64_CONSTANT (1) << 18)

/* bt_parallel_for, or the calling thread alone for a small product */
static void
train_for (guint64 macs, gsize items, gsize min_chunk, BtRangeFunc fn, gpointer ctx)
{
  if (macs < DENSE_TRAIN_SPLIT_MIN)
    fn (ctx, 0, items);
  else
    bt_parallel_for (items, min_chunk, fn, ctx);
}

gsize
bt_dense_train_scratch_size (int n, int in_dim)
{
  return (gsize) in_dim * ((MIN (n, DENSE_T_ROWS) + DENSE_NB - 1) / DENSE_NB * DENSE_NB);
}

gboolean
bt_dense_train_fast (void)
{
  return bt_conv2d_fast_mode () == 2;
}

#if DENSE_X86
/* acc[i][j] = Σ_{k<K} a[i][k·aks] · b[k·ldb + j] for j < cols (cols < 16: masked loads, the other
 * columns 0) */
__attribute__ ((target ("avx2,fma")))
static void
strided_tile_avx2 (float acc[DENSE_MR][DENSE_NB], const float *const *a, gsize aks, const float *b, gsize ldb,
                   int K, int cols)
{
  const float *p0 = a[0], *p1 = a[1], *p2 = a[2], *p3 = a[3], *p4 = a[4], *p5 = a[5];
  __m256 a00 = _mm256_setzero_ps (), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00;
  __m256 a30 = a00, a31 = a00, a40 = a00, a41 = a00, a50 = a00, a51 = a00;
  const __m256i lane = _mm256_setr_epi32 (0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i m0 = _mm256_cmpgt_epi32 (_mm256_set1_epi32 (cols), lane);
  const __m256i m1 = _mm256_cmpgt_epi32 (_mm256_set1_epi32 (cols - 8), lane);
#define STRIDED_STEP(LOAD0, LOAD1)                                                                         \
  for (int k = 0; k < K; k++, b += ldb, p0 += aks, p1 += aks, p2 += aks, p3 += aks, p4 += aks, p5 += aks) \
    {                                                                                                      \
      const __m256 v0 = LOAD0, v1 = LOAD1;                                                                 \
      __m256 s = _mm256_broadcast_ss (p0);                                                                 \
      a00 = _mm256_fmadd_ps (s, v0, a00), a01 = _mm256_fmadd_ps (s, v1, a01);                              \
      s = _mm256_broadcast_ss (p1);                                                                        \
      a10 = _mm256_fmadd_ps (s, v0, a10), a11 = _mm256_fmadd_ps (s, v1, a11);                              \
      s = _mm256_broadcast_ss (p2);                                                                        \
      a20 = _mm256_fmadd_ps (s, v0, a20), a21 = _mm256_fmadd_ps (s, v1, a21);                              \
      s = _mm256_broadcast_ss (p3);                                                                        \
      a30 = _mm256_fmadd_ps (s, v0, a30), a31 = _mm256_fmadd_ps (s, v1, a31);                              \
      s = _mm256_broadcast_ss (p4);                                                                        \
      a40 = _mm256_fmadd_ps (s, v0, a40), a41 = _mm256_fmadd_ps (s, v1, a41);                              \
      s = _mm256_broadcast_ss (p5);                                                                        \
      a50 = _mm256_fmadd_ps (s, v0, a50), a51 = _mm256_fmadd_ps (s, v1, a51);                              \
    }
  if (cols == DENSE_NB)
    STRIDED_STEP (_mm256_loadu_ps (b), _mm256_loadu_ps (b + 8))
  else if (cols > 8)
    STRIDED_STEP (_mm256_loadu_ps (b), _mm256_maskload_ps (b + 8, m1))
  else
    STRIDED_STEP (_mm256_maskload_ps (b, m0), _mm256_setzero_ps ())
#undef STRIDED_STEP
  _mm256_storeu_ps (acc[0], a00), _mm256_storeu_ps (acc[0] + 8, a01);
  _mm256_storeu_ps (acc[1], a10), _mm256_storeu_ps (acc[1] + 8, a11);
  _mm256_storeu_ps (acc[2], a20), _mm256_storeu_ps (acc[2] + 8, a21);
  _mm256_storeu_ps (acc[3], a30), _mm256_storeu_ps (acc[3] + 8, a31);
  _mm256_storeu_ps (acc[4], a40), _mm256_storeu_ps (acc[4] + 8, a41);
  _mm256_storeu_ps (acc[5], a50), _mm256_storeu_ps (acc[5] + 8, a51);
}
#endif

/* The same sums in plain C (CPUs without AVX2 never get here; kept for the build elsewhere). */
static void
strided_tile (float acc[DENSE_MR][DENSE_NB], const float *const *a, gsize aks, const float *b, gsize ldb, int K,
              int cols)
{
#if DENSE_X86
  strided_tile_avx2 (acc, a, aks, b, ldb, K, cols);
#else
  for (int i = 0; i < DENSE_MR; i++)
    for (int j = 0; j < DENSE_NB; j++)
      {
        float s = 0.0f;
        for (int k = 0; k < K && j < cols; k++)
          s += a[i][(gsize) k * aks] * b[(gsize) k * ldb + j];
        acc[i][j] = s;
      }
#endif
}

typedef struct {
  const float *in;
  float *in_t;
  int in_dim;
  int r0, rows, ldt;    /* the batch rows [r0, r0 + rows) transposed, ldt floats a row of in_t */
} TrainJob;

/* The six A rows of a tile from row r0 (the ones past nr repeat the last), stride floats apart */
static void
tile_rows (const float *a[DENSE_MR], const float *base, int r0, int nr, gsize stride)
{
  for (int i = 0; i < DENSE_MR; i++)
    a[i] = base + (gsize) (r0 + MIN (i, nr - 1)) * stride;
}

static void
transpose_part (gpointer p, gsize k0, gsize k1)
{
  const TrainJob *j = p;
  for (gsize k = k0; k < k1; k++)
    {
      float *t = j->in_t + k * j->ldt;
      const float *src = j->in + (gsize) j->r0 * j->in_dim + k;
      int r = 0;
      for (; r < j->rows; r++)
        t[r] = src[(gsize) r * j->in_dim];
      for (; r < j->ldt; r++)
        t[r] = 0.0f;
    }
}

/* c (+)= Σ_k a[row · ars + k · aks] · b[k · ldb + col] for rows × cols, tiles of six rows × 16 columns,
 * items row block major (a thread walks its share of a's rows once): the weight gradient (a = d_outᵀ),
 * the input gradient (a = d_out, b = the weights) and the forward (a = the weights, b = inᵀ, stored
 * transposed, c[col · ldc + row], with the bias and activation) */
typedef struct {
  const float *a, *b;
  gsize ars, aks, ldb;
  float *c;
  gsize ldc;
  int rows, cols, K, n_cb;
  gboolean accumulate, transposed;
  const float *bias;   /* per row, transposed only */
  int act;
} Product;

static void
product_tiles (gpointer p, gsize i0, gsize i1)
{
  const Product *q = p;
  float acc[DENSE_MR][DENSE_NB];
  for (gsize it = i0; it < i1; it++)
    {
      const int r0 = (int) (it / q->n_cb) * DENSE_MR, c0 = (int) (it % q->n_cb) * DENSE_NB;
      const int nr = MIN (DENSE_MR, q->rows - r0), nc = MIN (DENSE_NB, q->cols - c0);
      const float *a[DENSE_MR];
      tile_rows (a, q->a, r0, nr, q->ars);
      strided_tile (acc, a, q->aks, q->b + c0, q->ldb, q->K, nc);
      for (int i = 0; i < nr; i++)
        {
          if (q->transposed)
            {
              const float bias = q->bias ? q->bias[r0 + i] : 0.0f;
              float *d = q->c + (gsize) c0 * q->ldc + r0 + i;
              for (int c = 0; c < nc; c++)
                d[(gsize) c * q->ldc] = bt_act_map (acc[i][c], 1.0f, bias, q->act);
              continue;
            }
          float *d = q->c + (gsize) (r0 + i) * q->ldc + c0;
          if (q->accumulate)
            for (int c = 0; c < nc; c++)
              d[c] += acc[i][c];
          else
            memcpy (d, acc[i], sizeof (float) * nc);
        }
    }
}

void
bt_dense_forward_train (float *out, const float *in, const float *w, const float *b, int n, int in_dim,
                        int out_dim, int act, float *scratch)
{
  g_assert (out && in && w && scratch && n > 0 && in_dim > 0 && out_dim > 0 && bt_dense_train_fast ());
  TrainJob j = { .in = in, .in_t = scratch, .in_dim = in_dim };
  const gsize n_ob = (gsize) (out_dim + DENSE_MR - 1) / DENSE_MR;
  for (j.r0 = 0; j.r0 < n; j.r0 += DENSE_T_ROWS)
    {
      j.rows = MIN (DENSE_T_ROWS, n - j.r0);
      j.ldt = (j.rows + DENSE_NB - 1) / DENSE_NB * DENSE_NB;
      const guint64 macs = (guint64) j.rows * in_dim * out_dim;
      train_for (macs, (gsize) in_dim, 256, transpose_part, &j);
      /* outᵀ [out_dim, rows] = w · inᵀ */
      Product q = { .a = w, .b = scratch, .ars = (gsize) in_dim, .aks = 1, .ldb = (gsize) j.ldt,
                    .c = out + (gsize) j.r0 * out_dim, .ldc = (gsize) out_dim, .rows = out_dim, .cols = j.rows,
                    .K = in_dim, .n_cb = j.ldt / DENSE_NB, .transposed = TRUE, .bias = b, .act = act };
      train_for (macs, n_ob * q.n_cb, 4, product_tiles, &q);
    }
}

void
bt_dense_backward_train (float *d_in, float *d_w, gboolean d_w_zero, float *d_b, const float *d_out,
                         const float *in, const float *w, int n, int in_dim, int out_dim)
{
  g_assert (d_out && in && w && n > 0 && in_dim > 0 && out_dim > 0 && bt_dense_train_fast ());
  if (d_b != NULL)
    for (int i = 0; i < n; i++)
      {
        const float *row = d_out + (gsize) i * out_dim;
        for (int o = 0; o < out_dim; o++)
          d_b[o] += row[o];
      }
  const guint64 macs = (guint64) n * in_dim * out_dim;
  const int n_cb = (in_dim + DENSE_NB - 1) / DENSE_NB;
  if (d_w != NULL)
    {
      /* d_w [out_dim, in_dim] (+)= d_outᵀ · in */
      Product q = { .a = d_out, .b = in, .ars = 1, .aks = (gsize) out_dim, .ldb = (gsize) in_dim, .c = d_w,
                    .ldc = (gsize) in_dim, .rows = out_dim, .cols = in_dim, .K = n, .n_cb = n_cb,
                    .accumulate = !d_w_zero };
      train_for (macs, (gsize) (out_dim + DENSE_MR - 1) / DENSE_MR * n_cb, 8, product_tiles, &q);
    }
  if (d_in != NULL)
    {
      /* d_in [n, in_dim] = d_out · w */
      Product q = { .a = d_out, .b = w, .ars = (gsize) out_dim, .aks = 1, .ldb = (gsize) in_dim, .c = d_in,
                    .ldc = (gsize) in_dim, .rows = n, .cols = in_dim, .K = out_dim, .n_cb = n_cb };
      train_for (macs, (gsize) (n + DENSE_MR - 1) / DENSE_MR * n_cb, 8, product_tiles, &q);
    }
}
