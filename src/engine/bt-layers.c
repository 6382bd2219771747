/* bt-layers.c: the layer kernels of bt-layers.h (forward and backward, float32 NCHW).
 * Convolution is im2col + sgemm (per thread, in cache-sized slabs of images); the rest plain loops. */
#include "engine/bt-layers.h"
#include "engine/bt-engine-private.h"

#include <cblas.h>
#include <math.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* Caps that keep every index of a conv/pool inside int and every buffer size inside gsize. */
#define BT_MAX_DIM      (1 << 16)
#define BT_MAX_ELEMENTS (G_GUINT64_CONSTANT (1) << 31)

gboolean
bt_conv_shape_init (BtConvShape *s, int n, int c, int h, int w, int oc, int kh, int kw,
                    int stride_h, int stride_w, int pad_top, int pad_left,
                    int pad_bottom, int pad_right, int groups, GError **error)
{
  g_return_val_if_fail (s != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  memset (s, 0, sizeof *s);
  if (n < 1 || c < 1 || h < 1 || w < 1 || oc < 1 || kh < 1 || kw < 1 ||
      n > BT_MAX_DIM || c > BT_MAX_DIM || h > BT_MAX_DIM || w > BT_MAX_DIM ||
      oc > BT_MAX_DIM || kh > BT_MAX_DIM || kw > BT_MAX_DIM)
    {
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID,
                   "Convolution sizes out of range (batch %d, %d×%d×%d input, %d outputs, %d×%d kernel)",
                   n, c, h, w, oc, kh, kw);
      return FALSE;
    }
  if (stride_h < 1 || stride_w < 1 || stride_h > BT_MAX_DIM || stride_w > BT_MAX_DIM ||
      pad_top < 0 || pad_left < 0 || pad_bottom < 0 || pad_right < 0 ||
      pad_top >= kh || pad_bottom >= kh || pad_left >= kw || pad_right >= kw)
    {
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID,
                   "Invalid stride (%d, %d) or padding (%d, %d, %d, %d) for a %d×%d kernel",
                   stride_h, stride_w, pad_top, pad_left, pad_bottom, pad_right, kh, kw);
      return FALSE;
    }
  if (groups != 1 && !(groups == c && oc % c == 0))
    {
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID,
                   "Unsupported groups %d for %d input and %d output channels", groups, c, oc);
      return FALSE;
    }
  if (h + pad_top + pad_bottom < kh || w + pad_left + pad_right < kw)
    {
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID,
                   "A %d×%d kernel does not fit a %d×%d input", kh, kw, h, w);
      return FALSE;
    }
  int oh = (h + pad_top + pad_bottom - kh) / stride_h + 1;
  int ow = (w + pad_left + pad_right - kw) / stride_w + 1;
  /* each factor ≤ 2^16, so every partial product of two or three fits; check the rest */
  guint64 in_el, out_el, col_el;
  gboolean fits = g_uint64_checked_mul (&in_el, (guint64) n * c, (guint64) h * w) &&
                  g_uint64_checked_mul (&out_el, (guint64) n * oc, (guint64) oh * ow) &&
                  g_uint64_checked_mul (&col_el, (guint64) c * kh * kw, (guint64) n * oh) &&
                  g_uint64_checked_mul (&col_el, col_el, (guint64) ow);
  if (!fits || in_el > BT_MAX_ELEMENTS || out_el > BT_MAX_ELEMENTS ||
      (groups == 1 && col_el > BT_MAX_ELEMENTS))
    {
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_NO_MEMORY,
                   "Convolution too large (batch %d, %d×%d×%d input)", n, c, h, w);
      return FALSE;
    }
  *s = (BtConvShape) {
    .n = n, .c = c, .h = h, .w = w, .oc = oc, .kh = kh, .kw = kw,
    .stride_h = stride_h, .stride_w = stride_w,
    .pad_top = pad_top, .pad_left = pad_left, .pad_bottom = pad_bottom, .pad_right = pad_right,
    .groups = groups, .oh = oh, .ow = ow,
  };
  return TRUE;
}

/* Output positions [lo, hi) along one axis whose input index o*stride - pad + k is in [0, in). */
BT_INLINE void
valid_range (int pad, int k, int stride, int in, int out, int *lo, int *hi)
{
  int a = pad - k;  /* input index = o*stride - a */
  int l = a > 0 ? (a + stride - 1) / stride : 0;
  int b = in - 1 + a;
  int u = b < 0 ? 0 : b / stride + 1;
  if (u > out)
    u = out;
  if (l > u)
    l = u;
  *lo = l;
  *hi = u;
}

/* ---- Dense ---- */

/* Big enough dense layers are split over the engine's threads (rows of the batch; output units for
 * the weight gradient), each running single-threaded sgemm, for the same reason as the
 * convolutions' slabs: OpenBLAS's own threads must stay idle (see below). Below OpenBLAS's own
 * threading threshold (m·n·k ≤ 2^18) one call does it all. */
#define DENSE_SPLIT_MIN (G_GUINT64_CONSTANT (1) << 18)
#define DENSE_GEMV_ROWS 4   /* below this many rows, one sgemv per row */


static int
dense_workers (int rows, int in_dim, int out_dim)
{
  int t = bt_parallel_get_threads ();
  if (t <= 1 || (guint64) rows * in_dim * out_dim <= DENSE_SPLIT_MIN)
    return 1;
  return MIN (t, MIN (rows, out_dim));
}

typedef struct {
  int n, in_dim, out_dim, workers;
  const float *in, *w, *b, *d_out;
  float *out, *d_in, *d_w;
} DenseJob;

static void
dense_forward_part (gpointer p, gsize t0, gsize t1)
{
  const DenseJob *j = p;
  for (gsize t = t0; t < t1; t++)
    {
      const int r0 = (int) ((gsize) j->n * t / j->workers), r1 = (int) ((gsize) j->n * (t + 1) / j->workers);
      float *out = j->out + (gsize) r0 * j->out_dim;
      float beta = 0.0f;
      if (j->b != NULL)
        {
          for (int i = r0; i < r1; i++)
            memcpy (j->out + (gsize) i * j->out_dim, j->b, sizeof (float) * j->out_dim);
          beta = 1.0f;
        }
      if (r1 - r0 < DENSE_GEMV_ROWS)
        /* a few rows (one photo on the Test page): sgemm would repack all the weights for
         * them; matrix-vector products read the weights once, in place */
        for (int i = r0; i < r1; i++)
          cblas_sgemv (CblasRowMajor, CblasNoTrans, j->out_dim, j->in_dim, 1.0f, j->w, j->in_dim,
                       j->in + (gsize) i * j->in_dim, 1, beta, j->out + (gsize) i * j->out_dim, 1);
      else
        cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, r1 - r0, j->out_dim, j->in_dim,
                     1.0f, j->in + (gsize) r0 * j->in_dim, j->in_dim, j->w, j->in_dim, beta, out, j->out_dim);
    }
}

void
bt_dense_forward (float *out, const float *in, const float *w, const float *b,
                  int n, int in_dim, int out_dim)
{
  g_assert (out && in && w && n > 0 && in_dim > 0 && out_dim > 0);
  DenseJob j = { n, in_dim, out_dim, dense_workers (n, in_dim, out_dim), in, w, b, NULL, out, NULL, NULL };
  bt_parallel_for ((gsize) j.workers, 1, dense_forward_part, &j);
}

static void
dense_backward_part (gpointer p, gsize t0, gsize t1)
{
  const DenseJob *j = p;
  for (gsize t = t0; t < t1; t++)
    {
      if (j->d_w != NULL)
        {
          /* output units [o0, o1): d_w rows += d_out[:, o0:o1]ᵀ · in */
          const int o0 = (int) ((gsize) j->out_dim * t / j->workers);
          const int o1 = (int) ((gsize) j->out_dim * (t + 1) / j->workers);
          cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, o1 - o0, j->in_dim, j->n,
                       1.0f, j->d_out + o0, j->out_dim, j->in, j->in_dim,
                       1.0f, j->d_w + (gsize) o0 * j->in_dim, j->in_dim);
        }
      if (j->d_in != NULL)
        {
          const int r0 = (int) ((gsize) j->n * t / j->workers), r1 = (int) ((gsize) j->n * (t + 1) / j->workers);
          cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, r1 - r0, j->in_dim, j->out_dim,
                       1.0f, j->d_out + (gsize) r0 * j->out_dim, j->out_dim, j->w, j->in_dim,
                       0.0f, j->d_in + (gsize) r0 * j->in_dim, j->in_dim);
        }
    }
}

void
bt_dense_backward (float *d_in, float *d_w, float *d_b, const float *d_out,
                   const float *in, const float *w, int n, int in_dim, int out_dim)
{
  g_assert (d_out && in && w && n > 0 && in_dim > 0 && out_dim > 0);
  if (d_b != NULL)
    for (int i = 0; i < n; i++)
      {
        const float *row = d_out + (gsize) i * out_dim;
        for (int j = 0; j < out_dim; j++)
          d_b[j] += row[j];
      }
  if (d_w == NULL && d_in == NULL)
    return;
  DenseJob j = { n, in_dim, out_dim, dense_workers (n, in_dim, out_dim), in, w, NULL, d_out, NULL, d_in, d_w };
  bt_parallel_for ((gsize) j.workers, 1, dense_backward_part, &j);
}

/* ---- Conv2D via im2col ---- */

/* Two schedules. Slabs (the usual one, at least as many images as engine threads): the batch is
 * cut into up to CONV_GROUPS fixed groups of consecutive images; the engine's threads take groups
 * as they come free and walk each a few images at a time (a slab), running im2col, a
 * single-threaded sgemm and the bias/activation pass on data that stays in cache. Weight and
 * bias gradients are summed per group and the groups added in order afterwards, so the result
 * does not depend on which thread ran what, and a thread that the OS preempts holds up at most
 * one group. Whole batch (fewer images than threads, e.g. one photo through MobileNet): im2col
 * over the whole batch + one sgemm on OpenBLAS's threads. Why slabs: the whole-batch columns of
 * the Small CNN's second conv are 14 MB (written, then read back from RAM), and OpenBLAS's
 * worker threads busy-wait between calls, competing with the engine's own threads on a two-core
 * machine (docs/PERFORMANCE.md, "Small CNN speed, session 3"). */
#define CONV_MAX_WORKERS 8
#define CONV_GROUPS      8
#define CONV_SLAB_FLOATS (160 * 1024)  /* columns + result of one slab (640 KiB; measured best of 96/160/320 Ki) */
#define CONV_ALIGN_FLOATS 16           /* per-thread regions start on their own cache lines */

BT_INLINE int
conv_k (const BtConvShape *s)
{
  return s->c * s->kh * s->kw;
}

/* Images per slab (at least one). */
static int
conv_slab_images (const BtConvShape *s)
{
  gsize per_image = ((gsize) conv_k (s) + s->oc) * s->oh * s->ow;
  gsize nb = CONV_SLAB_FLOATS / MAX (per_image, 1);
  return (int) CLAMP (nb, 1, (gsize) s->n);
}

BT_INLINE gsize
align_floats (gsize len)
{
  return (len + CONV_ALIGN_FLOATS - 1) / CONV_ALIGN_FLOATS * CONV_ALIGN_FLOATS;
}

/* One thread's scratch: columns [K, nb·P], then the slab's result or gradient [oc, nb·P]. */
static gsize
conv_scratch_floats (const BtConvShape *s, int nb)
{
  return align_floats (((gsize) conv_k (s) + s->oc) * nb * s->oh * s->ow);
}

/* One group's gradient partial sums: d_w [oc, K], then d_b [oc]. */
static gsize
conv_partial_floats (const BtConvShape *s)
{
  return align_floats ((gsize) s->oc * conv_k (s) + s->oc);
}

BT_INLINE int
conv_groups (const BtConvShape *s)
{
  return MIN (s->n, CONV_GROUPS);
}

/* Threads for the slab schedule, 0 = whole batch. */
static int
conv_workers (const BtConvShape *s)
{
  int t = CLAMP (bt_parallel_get_threads (), 1, CONV_MAX_WORKERS);
  return s->n >= t ? t : 0;
}

gsize
bt_conv2d_workspace_size (const BtConvShape *s)
{
  g_return_val_if_fail (s != NULL, 0);
  if (s->groups != 1)
    return 0;
  /* enough for either schedule at any thread count up to CONV_MAX_WORKERS (threads may change
   * after the caller sized its workspace) */
  gsize slabs = (gsize) conv_groups (s) * conv_partial_floats (s) +
                (gsize) MIN (s->n, CONV_MAX_WORKERS) * conv_scratch_floats (s, conv_slab_images (s));
  gsize whole = s->n < CONV_MAX_WORKERS ? ((gsize) conv_k (s) + s->oc) * s->n * s->oh * s->ow : 0;
  return MAX (MAX (slabs, whole),
              MAX (bt_conv2d_winograd_workspace_size (s), bt_conv2d_direct_workspace_size (s)));
}

/* ---- GEMM over the engine's threads ---- */

/* OpenBLAS is single-threaded (bt-parallel.c); a big GEMM is cut into blocks of C's columns, one
 * single-threaded sgemm per block on the engine's pool. Blocks are multiples of 16 columns, so
 * each starts on its own cache line when C's rows do. */
#define SGEMM_SPLIT_MIN (G_GUINT64_CONSTANT (1) << 17)   /* multiply-adds below which one call does */

typedef struct {
  CBLAS_TRANSPOSE ta, tb;
  int m, n, k, lda, ldb, ldc, parts;
  float alpha, beta;
  const float *a, *b;
  float *c;
} GemmJob;

static void
sgemm_part (gpointer p, gsize t0, gsize t1)
{
  const GemmJob *j = p;
  for (gsize t = t0; t < t1; t++)
    {
      const int blocks = (j->n + 15) / 16;
      const int n0 = MIN (j->n, (int) ((gsize) blocks * t / j->parts) * 16);
      const int n1 = MIN (j->n, (int) ((gsize) blocks * (t + 1) / j->parts) * 16);
      if (n1 <= n0)
        continue;
      const float *b = j->tb == CblasNoTrans ? j->b + n0 : j->b + (gsize) n0 * j->ldb;
      cblas_sgemm (CblasRowMajor, j->ta, j->tb, j->m, n1 - n0, j->k, j->alpha, j->a, j->lda,
                   b, j->ldb, j->beta, j->c + n0, j->ldc);
    }
}

void
bt_sgemm (CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, float alpha,
          const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
  int parts = bt_parallel_get_threads ();
  if ((guint64) m * n * k < SGEMM_SPLIT_MIN)
    parts = 1;
  parts = MIN (parts, (n + 15) / 16);
  if (parts <= 1)
    {
      cblas_sgemm (CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
      return;
    }
  GemmJob j = { ta, tb, m, n, k, lda, ldb, ldc, parts, alpha, beta, a, b, c };
  bt_parallel_for ((gsize) parts, 1, sgemm_part, &j);
}

/* Columns of images [img0, img0 + m), rows [r0, r1):
 * col[(c*kh + ky)*kw + kx][j*P + oy*ow + ox] = in[img0 + j][c][oy*sh - pt + ky][ox*sw - pl + kx].
 * Plain copy loops, not memcpy: the rows are short (14–28 floats) and a libc call per row cost
 * more than the copy. */
BT_HOT_LOOP
static void
im2col_slab (float *restrict col, const float *restrict in, const BtConvShape *s, int img0, int m,
             gsize r0, gsize r1)
{
  const int P = s->oh * s->ow;
  const gsize N = (gsize) m * P;
  const gsize HW = (gsize) s->h * s->w;
  for (gsize r = r0; r < r1; r++)
    {
      const int kx = (int) (r % s->kw), ky = (int) (r / s->kw % s->kh), c = (int) (r / s->kw / s->kh);
      float *dst = col + r * N;
      int lo, hi;
      valid_range (s->pad_left, kx, s->stride_w, s->w, s->ow, &lo, &hi);
      const int off = kx - s->pad_left;
      if (s->stride_h == 1 && s->stride_w == 1 && s->ow == s->w)
        {
          /* Output row oy reads input row oy + ky - pt shifted by off, rows as wide as the
           * output's: the valid rows are one contiguous copy, and the few columns that wrapped
           * around a row end are zeroed afterwards (3×3 pad 1, 1×1 convs). */
          int ylo, yhi;
          valid_range (s->pad_top, ky, 1, s->h, s->oh, &ylo, &yhi);
          const gsize q0 = (gsize) ylo * s->ow + lo, q1 = yhi > 0 ? (gsize) (yhi - 1) * s->ow + hi : 0;
          const gssize delta = (gssize) (ky - s->pad_top) * s->w + off;
          for (int j = 0; j < m; j++)
            {
              float *restrict d = dst + (gsize) j * P;
              if (ylo >= yhi || lo >= hi)
                {
                  for (int q = 0; q < P; q++)
                    d[q] = 0.0f;
                  continue;
                }
              const float *restrict plane = in + ((gsize) (img0 + j) * s->c + c) * HW;
              for (gsize q = 0; q < q0; q++)
                d[q] = 0.0f;
              const float *restrict sp = plane + ((gssize) q0 + delta);
              float *restrict dp = d + q0;
#pragma GCC ivdep
              for (gsize q = 0; q < q1 - q0; q++)
                dp[q] = sp[q];
              for (gsize q = q1; q < (gsize) P; q++)
                d[q] = 0.0f;
              for (int oy = ylo; oy + 1 < yhi; oy++)
                for (int q = oy * s->ow + hi; q < (oy + 1) * s->ow + lo; q++)
                  d[q] = 0.0f;
            }
          continue;
        }
      for (int j = 0; j < m; j++)
        {
          const float *plane = in + ((gsize) (img0 + j) * s->c + c) * HW;
          for (int oy = 0; oy < s->oh; oy++)
            {
              float *restrict d = dst + (gsize) j * P + (gsize) oy * s->ow;
              int iy = oy * s->stride_h - s->pad_top + ky;
              if (iy < 0 || iy >= s->h || lo >= hi)
                {
                  for (int ox = 0; ox < s->ow; ox++)
                    d[ox] = 0.0f;
                  continue;
                }
              const float *restrict src = plane + (gsize) iy * s->w + off;
              for (int ox = 0; ox < lo; ox++)
                d[ox] = 0.0f;
              if (s->stride_w == 1)
                for (int ox = lo; ox < hi; ox++)
                  d[ox] = src[ox];
              else
                for (int ox = lo; ox < hi; ox++)
                  d[ox] = src[ox * s->stride_w];
              for (int ox = hi; ox < s->ow; ox++)
                d[ox] = 0.0f;
            }
        }
    }
}

/* The adjoint of im2col for images [img0, img0 + m), channels [c0, c1): zeroes those planes of
 * d_in, then adds the scattered columns (zeroing, in the fast case below, the entries of col that
 * fall outside the image). */
BT_HOT_LOOP
static void
col2im_slab (float *restrict d_in, float *restrict col, const BtConvShape *s, int img0, int m,
             int c0, int c1)
{
  const int P = s->oh * s->ow;
  const gsize N = (gsize) m * P;
  const gsize HW = (gsize) s->h * s->w;
  for (int j = 0; j < m; j++)
    memset (d_in + ((gsize) (img0 + j) * s->c + c0) * HW, 0, sizeof (float) * (c1 - c0) * HW);
  for (int c = c0; c < c1; c++)
    for (int ky = 0; ky < s->kh; ky++)
      for (int kx = 0; kx < s->kw; kx++)
        {
          float *src = col + ((gsize) (c * s->kh + ky) * s->kw + kx) * N;
          int lo, hi;
          valid_range (s->pad_left, kx, s->stride_w, s->w, s->ow, &lo, &hi);
          const int off = kx - s->pad_left;
          if (s->stride_h == 1 && s->stride_w == 1 && s->ow == s->w)
            {
              /* im2col's contiguous case backwards: one add over the valid rows, with the
               * entries that wrapped around a row end zeroed first */
              int ylo, yhi;
              valid_range (s->pad_top, ky, 1, s->h, s->oh, &ylo, &yhi);
              if (ylo >= yhi || lo >= hi)
                continue;
              const gsize q0 = (gsize) ylo * s->ow + lo, q1 = (gsize) (yhi - 1) * s->ow + hi;
              const gssize delta = (gssize) (ky - s->pad_top) * s->w + off;
              for (int j = 0; j < m; j++)
                {
                  float *restrict sv = src + (gsize) j * P;
                  float *restrict plane = d_in + ((gsize) (img0 + j) * s->c + c) * HW;
                  for (int oy = ylo; oy + 1 < yhi; oy++)
                    for (int q = oy * s->ow + hi; q < (oy + 1) * s->ow + lo; q++)
                      sv[q] = 0.0f;
                  float *restrict dp = plane + ((gssize) q0 + delta);
                  const float *restrict sp = sv + q0;
#pragma GCC ivdep
                  for (gsize q = 0; q < q1 - q0; q++)
                    dp[q] += sp[q];
                }
              continue;
            }
          for (int j = 0; j < m; j++)
            {
              float *plane = d_in + ((gsize) (img0 + j) * s->c + c) * HW;
              for (int oy = 0; oy < s->oh; oy++)
                {
                  int iy = oy * s->stride_h - s->pad_top + ky;
                  if (iy < 0 || iy >= s->h)
                    continue;
                  const float *restrict sv = src + (gsize) j * P + (gsize) oy * s->ow;
                  float *restrict dst = plane + (gsize) iy * s->w + off;
                  if (s->stride_w == 1)
                    for (int ox = lo; ox < hi; ox++)
                      dst[ox] += sv[ox];
                  else
                    for (int ox = lo; ox < hi; ox++)
                      dst[ox * s->stride_w] += sv[ox];
                }
            }
        }
}

/* Sum of v[0..n) with eight independent partial sums (vectorizes, and is more accurate). */
BT_INLINE float
sum_floats (const float *restrict v, int n)
{
  float acc[8] = { 0 };
  int i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; k++)
      acc[k] += v[i + k];
  float s = 0.0f;
  for (; i < n; i++)
    s += v[i];
  for (int k = 0; k < 8; k++)
    s += acc[k];
  return s;
}

/* dst = act(src + bias) over len floats; dst may be src. */
BT_INLINE void
bias_act (float *dst, const float *src, int len, float bias, int act)
{
  if (act == 1)
    for (int p = 0; p < len; p++)
      {
        float v = src[p] + bias;
        dst[p] = v < 0.0f ? 0.0f : v;
      }
  else if (act == 2)
    for (int p = 0; p < len; p++)
      {
        float v = src[p] + bias;
        v = v < 0.0f ? 0.0f : v;
        dst[p] = v > 6.0f ? 6.0f : v;
      }
  else
    for (int p = 0; p < len; p++)
      dst[p] = src[p] + bias;
}

/* dst = act(src · scale + shift) over len floats; dst may be src. */
BT_INLINE void
scale_shift_act (float *dst, const float *src, int len, float scale, float shift, int act)
{
  if (scale == 1.0f)
    {
      bias_act (dst, src, len, shift, act);
      return;
    }
  for (int p = 0; p < len; p++)
    {
      float v = src[p] * scale + shift;
      v = act != 0 && v < 0.0f ? 0.0f : v;
      dst[p] = act == 2 && v > 6.0f ? 6.0f : v;
    }
}

/* One output channel's plane [oh, ow] of raw sums → dst: act(x · scale + shift), then the
 * 2×2 stride-2 max pool when e->pool (dst is [oh/2, ow/2] then). */
BT_HOT_LOOP
static void
epilogue_plane (float *restrict dst, const float *restrict src, const BtConvShape *s,
                const BtConvEpilogue *e, int o)
{
  const float scale = e->scale ? e->scale[o] : 1.0f, shift = e->shift ? e->shift[o] : 0.0f;
  if (!e->pool)
    {
      scale_shift_act (dst, src, s->oh * s->ow, scale, shift, e->act);
      return;
    }
  const int ow = s->ow, ph = s->oh / 2, pw = s->ow / 2;
  for (int py = 0; py < ph; py++)
    {
      const float *restrict r0 = src + (gsize) 2 * py * ow, *restrict r1 = r0 + ow;
      float *restrict d = dst + (gsize) py * pw;
      for (int px = 0; px < pw; px++)
        d[px] = bt_pool_map (r0[2 * px], r0[2 * px + 1], r1[2 * px], r1[2 * px + 1], scale, shift, e->act);
    }
}

/* dst = src masked by the activation's derivative at y (the layer's output); returns Σ dst. */
BT_INLINE float
mask_act (float *restrict dst, const float *restrict src, const float *restrict y, int len, int act)
{
  if (act == 1 && y != NULL)
    /* unconditional loads, so the select vectorizes */
    for (int p = 0; p < len; p++)
      {
        float g = src[p], v = y[p];
        dst[p] = v > 0.0f ? g : 0.0f;
      }
  else if (act == 2 && y != NULL)
    for (int p = 0; p < len; p++)
      {
        float g = src[p], v = y[p];
        dst[p] = ((v > 0.0f) & (v < 6.0f)) ? g : 0.0f;
      }
  else
    for (int p = 0; p < len; p++)
      dst[p] = src[p];
  return sum_floats (dst, len);
}

typedef struct {
  const BtConvShape *s;
  float *partials, *scratch;   /* CONV_GROUPS × partial, then one scratch per thread */
  gsize partial_len, scratch_len;
  int groups, nb, act;
  const BtConvEpilogue *epi;   /* forward only */
  gint next_group;
  const float *in, *w, *b, *act_out, *d_out;
  float *out, *d_in, *d_w, *d_b;
} ConvJob;

static void
conv_job_init (ConvJob *j, const BtConvShape *s, float *workspace, int act)
{
  *j = (ConvJob) { .s = s, .groups = conv_groups (s), .nb = conv_slab_images (s), .act = act };
  j->partial_len = conv_partial_floats (s);
  j->scratch_len = conv_scratch_floats (s, j->nb);
  j->partials = workspace;
  j->scratch = workspace + (gsize) j->groups * j->partial_len;
}

BT_HOT_LOOP
static void
conv_forward_slabs (gpointer p, gsize t0, gsize t1)
{
  ConvJob *j = p;
  const BtConvShape *s = j->s;
  const int K = conv_k (s), P = s->oh * s->ow;
  const gsize out_p = j->epi->pool ? (gsize) (s->oh / 2) * (s->ow / 2) : (gsize) P;
  const gsize out_sz = (gsize) s->oc * out_p;
  for (gsize t = t0; t < t1; t++)
    {
      float *col = j->scratch + t * j->scratch_len;
      float *res = col + (gsize) K * j->nb * P;
      int g;
      while ((g = g_atomic_int_add (&j->next_group, 1)) < j->groups)
        {
          const int i0 = s->n * g / j->groups, i1 = s->n * (g + 1) / j->groups;
          for (int i = i0; i < i1; i += j->nb)
            {
              const int m = MIN (j->nb, i1 - i);
              const int N = m * P;
              im2col_slab (col, j->in, s, i, m, 0, K);
              /* one image, no pool: the sgemm result [oc, P] is already that image's NCHW output */
              float *dst = m == 1 && !j->epi->pool ? j->out + (gsize) i * out_sz : res;
              cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, s->oc, N, K,
                           1.0f, j->w, K, col, N, 0.0f, dst, N);
              for (int k = 0; k < m; k++)
                for (int o = 0; o < s->oc; o++)
                  epilogue_plane (j->out + (gsize) (i + k) * out_sz + (gsize) o * out_p,
                                  dst + (gsize) o * N + (gsize) k * P, s, j->epi, o);
            }
        }
    }
}

BT_HOT_LOOP
static void
conv_backward_slabs (gpointer p, gsize t0, gsize t1)
{
  ConvJob *j = p;
  const BtConvShape *s = j->s;
  const int K = conv_k (s), P = s->oh * s->ow;
  const gsize out_sz = (gsize) s->oc * P;
  for (gsize t = t0; t < t1; t++)
    {
      float *col = j->scratch + t * j->scratch_len;
      float *gr = col + (gsize) K * j->nb * P;
      int g;
      while ((g = g_atomic_int_add (&j->next_group, 1)) < j->groups)
        {
          float *dw = j->partials + (gsize) g * j->partial_len;
          float *db = dw + (gsize) s->oc * K;
          memset (dw, 0, sizeof (float) * ((gsize) s->oc * K + s->oc));
          const int i0 = s->n * g / j->groups, i1 = s->n * (g + 1) / j->groups;
          for (int i = i0; i < i1; i += j->nb)
            {
              const int m = MIN (j->nb, i1 - i);
              const int N = m * P;
              /* [m, oc, P] → [oc, m·P], masked by the fused activation's derivative */
              for (int k = 0; k < m; k++)
                for (int o = 0; o < s->oc; o++)
                  {
                    gsize at = (gsize) (i + k) * out_sz + (gsize) o * P;
                    db[o] += mask_act (gr + (gsize) o * N + (gsize) k * P, j->d_out + at,
                                       j->act_out ? j->act_out + at : NULL, P, j->act);
                  }
              if (j->d_w != NULL)
                {
                  im2col_slab (col, j->in, s, i, m, 0, K);
                  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, s->oc, K, N,
                               1.0f, gr, N, col, N, 1.0f, dw, K);
                }
              if (j->d_in != NULL)
                {
                  cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, K, N, s->oc,
                               1.0f, j->w, K, gr, N, 0.0f, col, N);
                  col2im_slab (j->d_in, col, s, i, m, 0, s->c);
                }
            }
        }
    }
}

/* ---- Conv2D, whole-batch schedule ---- */

typedef struct { float *col; float *in; const BtConvShape *s; } ColCtx;

static void
im2col_rows (gpointer p, gsize r0, gsize r1)
{
  ColCtx *x = p;
  im2col_slab (x->col, x->in, x->s, 0, x->s->n, r0, r1);
}

static void
im2col (float *col, const float *in, const BtConvShape *s)
{
  ColCtx x = { col, (float *) in, s };
  bt_parallel_for ((gsize) conv_k (s), 1, im2col_rows, &x);
}

static void
col2im_channels (gpointer p, gsize c0, gsize c1)
{
  ColCtx *x = p;   /* roles swapped: col is d_in, in is the columns */
  col2im_slab (x->col, x->in, x->s, 0, x->s->n, (int) c0, (int) c1);
}

static void
col2im (float *d_in, float *col, const BtConvShape *s)
{
  ColCtx x = { d_in, col, s };
  bt_parallel_for ((gsize) s->c, 1, col2im_channels, &x);
}

typedef struct { float *out; const float *out_t; const BtConvEpilogue *e; const BtConvShape *s; } EpiCtx;

/* [oc, n, P] → [n, oc, P'], through the epilogue on the way. */
static void
conv_epilogue (gpointer ctx, gsize o0, gsize o1)
{
  EpiCtx *x = ctx;
  const BtConvShape *s = x->s;
  const int P = s->oh * s->ow;
  const gsize out_p = x->e->pool ? (gsize) (s->oh / 2) * (s->ow / 2) : (gsize) P;
  const gsize N = (gsize) s->n * P;
  for (int img = 0; img < s->n; img++)
    for (int o = (int) o0; o < (int) o1; o++)
      epilogue_plane (x->out + ((gsize) img * s->oc + o) * out_p, x->out_t + (gsize) o * N + (gsize) img * P,
                      s, x->e, o);
}

void
bt_conv2d_forward_ex (float *out, const float *in, const float *w, const float *b,
                      const BtConvShape *s, float *workspace, int act)
{
  BtConvEpilogue e = { NULL, b, act, FALSE, NULL };
  bt_conv2d_forward_fused (out, in, w, &e, s, workspace);
}

void
bt_conv2d_forward_fused (float *out, const float *in, const float *w, const BtConvEpilogue *e,
                         const BtConvShape *s, float *workspace)
{
  g_assert (out && in && w && e && s && workspace && s->groups == 1);
  g_assert (!e->pool || (s->oh >= 2 && s->ow >= 2));
  if (e->winograd != NULL && bt_conv2d_winograd_fits (s))
    {
      bt_conv2d_forward_winograd (out, in, e->winograd, e, s, workspace);
      return;
    }
  if (bt_conv2d_direct_fits (s))
    {
      bt_conv2d_forward_direct (out, in, w, e, s, workspace);
      return;
    }
  const float *b = e->shift;
  const int act = e->act;
  const int K = conv_k (s);
  const int P = s->oh * s->ow;
  const int N = s->n * P;
  const int workers = conv_workers (s);
  if (workers > 0)
    {
      ConvJob j;
      conv_job_init (&j, s, workspace, act);
      j.in = in, j.w = w, j.b = b, j.out = out, j.epi = e;
      bt_parallel_for ((gsize) workers, 1, conv_forward_slabs, &j);
      return;
    }
  float *col = workspace;
  float *out_t = workspace + (gsize) K * N;
  im2col (col, in, s);
  bt_sgemm (CblasNoTrans, CblasNoTrans, s->oc, N, K, 1.0f, w, K, col, N, 0.0f, out_t, N);
  EpiCtx x = { out, out_t, e, s };
  bt_parallel_for ((gsize) s->oc, 1, conv_epilogue, &x);
}

void
bt_conv2d_forward (float *out, const float *in, const float *w, const float *b,
                   const BtConvShape *s, float *workspace)
{
  bt_conv2d_forward_ex (out, in, w, b, s, workspace, 0);
}

typedef struct { float *dout_t; const float *d_out; float *d_b; const float *act_out; int act;
                 const BtConvShape *s; } TrCtx;

/* [n, oc, P] → [oc, n, P], masked by the fused activation's derivative; bias gradient sums */
static void
conv_grad_transpose (gpointer ctx, gsize o0, gsize o1)
{
  TrCtx *x = ctx;
  const BtConvShape *s = x->s;
  const int P = s->oh * s->ow;
  const gsize N = (gsize) s->n * P;
  for (int o = (int) o0; o < (int) o1; o++)
    {
      float bsum = 0.0f;
      for (int img = 0; img < s->n; img++)
        {
          gsize at = ((gsize) img * s->oc + o) * P;
          bsum += mask_act (x->dout_t + (gsize) o * N + (gsize) img * P, x->d_out + at,
                            x->act_out ? x->act_out + at : NULL, P, x->act);
        }
      if (x->d_b != NULL)
        x->d_b[o] += bsum;
    }
}

void
bt_conv2d_backward_ex (float *d_in, float *d_w, float *d_b, const float *d_out,
                       const float *in, const float *w, const BtConvShape *s, float *workspace,
                       const float *act_out, int act, gboolean col_ready)
{
  g_assert (d_out && in && w && s && workspace && s->groups == 1);
  const int K = conv_k (s);
  const int P = s->oh * s->ow;
  const int N = s->n * P;
  const int workers = conv_workers (s);
  /* col_ready is not used: the slab schedule keeps no whole-batch columns, and the thread count
   * (so the schedule) may have changed since the forward pass. */
  (void) col_ready;
  if (workers > 0)
    {
      ConvJob j;
      conv_job_init (&j, s, workspace, act);
      j.in = in, j.w = w, j.act_out = act_out, j.d_out = d_out, j.d_in = d_in, j.d_w = d_w;
      bt_parallel_for ((gsize) workers, 1, conv_backward_slabs, &j);
      /* the groups' partial sums, added in group order */
      const gsize wlen = (gsize) s->oc * K;
      for (int g = 0; g < j.groups; g++)
        {
          const float *dw = j.partials + (gsize) g * j.partial_len;
          const float *db = dw + wlen;
          if (d_w != NULL)
            for (gsize k = 0; k < wlen; k++)
              d_w[k] += dw[k];
          if (d_b != NULL)
            for (int o = 0; o < s->oc; o++)
              d_b[o] += db[o];
        }
      return;
    }
  float *col = workspace;
  float *dout_t = workspace + (gsize) K * N;
  TrCtx x = { dout_t, d_out, d_b, act_out, act, s };
  bt_parallel_for ((gsize) s->oc, 1, conv_grad_transpose, &x);
  if (d_w != NULL)
    {
      im2col (col, in, s);
      bt_sgemm (CblasNoTrans, CblasTrans, s->oc, K, N, 1.0f, dout_t, N, col, N, 1.0f, d_w, K);
    }
  if (d_in != NULL)
    {
      bt_sgemm (CblasTrans, CblasNoTrans, K, N, s->oc, 1.0f, w, K, dout_t, N, 0.0f, col, N);
      col2im (d_in, col, s);
    }
}

void
bt_conv2d_backward (float *d_in, float *d_w, float *d_b, const float *d_out,
                    const float *in, const float *w, const BtConvShape *s, float *workspace)
{
  bt_conv2d_backward_ex (d_in, d_w, d_b, d_out, in, w, s, workspace, NULL, 0, FALSE);
}

/* ---- Depthwise Conv2D: direct loops, one output row at a time ---- */

void
bt_dwconv2d_forward (float *out, const float *in, const float *w, const float *b,
                     const BtConvShape *s)
{
  g_assert (out && in && w && s && s->oc % s->c == 0);
  const int m = s->oc / s->c;
  const int HW = s->h * s->w, P = s->oh * s->ow;
  for (int img = 0; img < s->n; img++)
    for (int o = 0; o < s->oc; o++)
      {
        const float *plane = in + ((gsize) img * s->c + o / m) * HW;
        float *dst = out + ((gsize) img * s->oc + o) * P;
        const float *k = w + (gsize) o * s->kh * s->kw;
        float bias = b ? b[o] : 0.0f;
        for (int oy = 0; oy < s->oh; oy++)
          {
            float *restrict orow = dst + (gsize) oy * s->ow;
            for (int ox = 0; ox < s->ow; ox++)
              orow[ox] = bias;
            for (int ky = 0; ky < s->kh; ky++)
              {
                int iy = oy * s->stride_h - s->pad_top + ky;
                if (iy < 0 || iy >= s->h)
                  continue;
                const float *restrict irow = plane + (gsize) iy * s->w;
                for (int kx = 0; kx < s->kw; kx++)
                  {
                    int lo, hi;
                    valid_range (s->pad_left, kx, s->stride_w, s->w, s->ow, &lo, &hi);
                    const float wv = k[ky * s->kw + kx];
                    const int off = kx - s->pad_left;
                    if (s->stride_w == 1)
                      for (int ox = lo; ox < hi; ox++)
                        orow[ox] += wv * irow[ox + off];
                    else if (s->stride_w == 2)
                      for (int ox = lo; ox < hi; ox++)
                        orow[ox] += wv * irow[2 * ox + off];
                    else
                      for (int ox = lo; ox < hi; ox++)
                        orow[ox] += wv * irow[ox * s->stride_w + off];
                  }
              }
          }
      }
}

void
bt_dwconv2d_backward (float *d_in, float *d_w, float *d_b, const float *d_out,
                      const float *in, const float *w, const BtConvShape *s)
{
  g_assert (d_out && in && w && s && s->oc % s->c == 0);
  const int m = s->oc / s->c;
  const int HW = s->h * s->w, P = s->oh * s->ow;
  if (d_in != NULL)
    memset (d_in, 0, sizeof (float) * s->n * s->c * HW);
  for (int img = 0; img < s->n; img++)
    for (int o = 0; o < s->oc; o++)
      {
        const float *plane = in + ((gsize) img * s->c + o / m) * HW;
        float *dplane = d_in ? d_in + ((gsize) img * s->c + o / m) * HW : NULL;
        const float *g = d_out + ((gsize) img * s->oc + o) * P;
        const float *k = w + (gsize) o * s->kh * s->kw;
        float *dk = d_w ? d_w + (gsize) o * s->kh * s->kw : NULL;
        if (d_b != NULL)
          {
            float sum = 0.0f;
            for (int p = 0; p < P; p++)
              sum += g[p];
            d_b[o] += sum;
          }
        for (int ky = 0; ky < s->kh; ky++)
          for (int kx = 0; kx < s->kw; kx++)
            {
              int lo, hi;
              valid_range (s->pad_left, kx, s->stride_w, s->w, s->ow, &lo, &hi);
              const int off = kx - s->pad_left;
              const float wv = k[ky * s->kw + kx];
              float wsum = 0.0f;
              for (int oy = 0; oy < s->oh; oy++)
                {
                  int iy = oy * s->stride_h - s->pad_top + ky;
                  if (iy < 0 || iy >= s->h)
                    continue;
                  const float *grow = g + (gsize) oy * s->ow;
                  const float *irow = plane + (gsize) iy * s->w;
                  for (int ox = lo; ox < hi; ox++)
                    wsum += grow[ox] * irow[ox * s->stride_w + off];
                  if (dplane != NULL)
                    {
                      float *drow = dplane + (gsize) iy * s->w;
                      for (int ox = lo; ox < hi; ox++)
                        drow[ox * s->stride_w + off] += wv * grow[ox];
                    }
                }
              if (dk != NULL)
                dk[ky * s->kw + kx] += wsum;
            }
      }
}

/* ---- Pooling ---- */

typedef struct { float *out; gint32 *argmax; const float *in; const BtConvShape *s; } PoolCtx;

BT_HOT_LOOP
static void
maxpool_planes (gpointer ctx, gsize p0, gsize p1)
{
  PoolCtx *x = ctx;
  const BtConvShape *s = x->s;
  float *out = x->out;
  gint32 *argmax = x->argmax;
  const float *in = x->in;
  const int HW = s->h * s->w, P = s->oh * s->ow;
  for (gsize pl = p0; pl < p1; pl++)
    {
      const float *plane = in + pl * HW;
      float *dst = out + pl * P;
      gint32 *am = argmax + pl * P;
      if (s->kh == 2 && s->kw == 2 && s->stride_h == 2 && s->stride_w == 2 &&
          s->pad_top == 0 && s->pad_left == 0 && s->pad_bottom == 0 && s->pad_right == 0)
        {
          /* The common 2×2/2 window, every element in bounds (h, w ≥ 2·oh, 2·ow). */
          for (int oy = 0; oy < s->oh; oy++)
            {
              const float *restrict r0 = plane + (gsize) (2 * oy) * s->w;
              const float *restrict r1 = r0 + s->w;
              float *restrict d = dst + (gsize) oy * s->ow;
              gint32 *restrict a = am + (gsize) oy * s->ow;
              const gint32 base0 = 2 * oy * s->w, base1 = base0 + s->w;
              int ox = 0;
#ifdef __SSE2__
              /* four outputs at a time, the same comparisons as the scalar loop below (a
               * branchy scalar loop was 9 % of a training run: the branches mispredict) */
              const __m128i step = _mm_set_epi32 (6, 4, 2, 0);
              for (; ox + 4 <= s->ow; ox += 4)
                {
                  __m128 a0 = _mm_loadu_ps (r0 + 2 * ox), b0 = _mm_loadu_ps (r0 + 2 * ox + 4);
                  __m128 a1 = _mm_loadu_ps (r1 + 2 * ox), b1 = _mm_loadu_ps (r1 + 2 * ox + 4);
                  __m128 v00 = _mm_shuffle_ps (a0, b0, _MM_SHUFFLE (2, 0, 2, 0));
                  __m128 v01 = _mm_shuffle_ps (a0, b0, _MM_SHUFFLE (3, 1, 3, 1));
                  __m128 v10 = _mm_shuffle_ps (a1, b1, _MM_SHUFFLE (2, 0, 2, 0));
                  __m128 v11 = _mm_shuffle_ps (a1, b1, _MM_SHUFFLE (3, 1, 3, 1));
                  __m128 c0 = _mm_cmpgt_ps (v01, v00), c1 = _mm_cmpgt_ps (v11, v10);
                  __m128 m0 = _mm_or_ps (_mm_and_ps (c0, v01), _mm_andnot_ps (c0, v00));
                  __m128 m1 = _mm_or_ps (_mm_and_ps (c1, v11), _mm_andnot_ps (c1, v10));
                  __m128 c = _mm_cmpgt_ps (m1, m0);
                  _mm_storeu_ps (d + ox, _mm_or_ps (_mm_and_ps (c, m1), _mm_andnot_ps (c, m0)));
                  /* a true comparison is −1 as an integer: index + 1 = index − mask */
                  __m128i col2 = _mm_add_epi32 (_mm_set1_epi32 (2 * ox), step);
                  __m128i i0 = _mm_sub_epi32 (_mm_add_epi32 (_mm_set1_epi32 (base0), col2), _mm_castps_si128 (c0));
                  __m128i i1 = _mm_sub_epi32 (_mm_add_epi32 (_mm_set1_epi32 (base1), col2), _mm_castps_si128 (c1));
                  __m128i ci = _mm_castps_si128 (c);
                  _mm_storeu_si128 ((__m128i *) (a + ox),
                                    _mm_or_si128 (_mm_and_si128 (ci, i1), _mm_andnot_si128 (ci, i0)));
                }
#endif
              for (; ox < s->ow; ox++)
                {
                  float v00 = r0[2 * ox], v01 = r0[2 * ox + 1], v10 = r1[2 * ox], v11 = r1[2 * ox + 1];
                  gboolean c0 = v01 > v00, c1 = v11 > v10;
                  float m0 = c0 ? v01 : v00, m1 = c1 ? v11 : v10;
                  gboolean c = m1 > m0;
                  d[ox] = c ? m1 : m0;
                  a[ox] = c ? base1 + 2 * ox + c1 : base0 + 2 * ox + c0;
                }
            }
          continue;
        }
      for (int oy = 0; oy < s->oh; oy++)
        for (int ox = 0; ox < s->ow; ox++)
          {
            float best = -INFINITY;
            gint32 bi = -1;
            for (int ky = 0; ky < s->kh; ky++)
              {
                int iy = oy * s->stride_h - s->pad_top + ky;
                if (iy < 0 || iy >= s->h)
                  continue;
                for (int kx = 0; kx < s->kw; kx++)
                  {
                    int ix = ox * s->stride_w - s->pad_left + kx;
                    if (ix < 0 || ix >= s->w)
                      continue;
                    float v = plane[iy * s->w + ix];
                    if (bi < 0 || v > best)
                      {
                        best = v;
                        bi = iy * s->w + ix;
                      }
                  }
              }
            dst[oy * s->ow + ox] = bi < 0 ? 0.0f : best;
            am[oy * s->ow + ox] = bi;
          }
    }
}

void
bt_maxpool2d_forward (float *out, gint32 *argmax, const float *in, const BtConvShape *s)
{
  g_assert (out && argmax && in && s);
  PoolCtx x = { out, argmax, (float *) in, s };
  bt_parallel_for ((gsize) s->n * s->c, 4, maxpool_planes, &x);
}

BT_HOT_LOOP
static void
maxpool_back_planes (gpointer ctx, gsize p0, gsize p1)
{
  PoolCtx *x = ctx;
  const BtConvShape *s = x->s;
  float *d_in = x->out;
  const float *d_out = x->in;
  const gint32 *argmax = x->argmax;
  const int HW = s->h * s->w, P = s->oh * s->ow;
  memset (d_in + p0 * HW, 0, sizeof (float) * (p1 - p0) * HW);
  for (gsize pl = p0; pl < p1; pl++)
    {
      float *dplane = d_in + pl * HW;
      const float *g = d_out + pl * P;
      const gint32 *am = argmax + pl * P;
      for (int p = 0; p < P; p++)
        if (am[p] >= 0)
          dplane[am[p]] += g[p];
    }
}

void
bt_maxpool2d_backward (float *d_in, const float *d_out, const gint32 *argmax, const BtConvShape *s)
{
  g_assert (d_in && d_out && argmax && s);
  PoolCtx x = { d_in, (gint32 *) argmax, d_out, s };
  bt_parallel_for ((gsize) s->n * s->c, 4, maxpool_back_planes, &x);
}

void
bt_avgpool2d_forward (float *out, const float *in, const BtConvShape *s)
{
  g_assert (out && in && s);
  const int HW = s->h * s->w, P = s->oh * s->ow;
  const gsize planes = (gsize) s->n * s->c;
  for (gsize pl = 0; pl < planes; pl++)
    {
      const float *plane = in + pl * HW;
      float *dst = out + pl * P;
      for (int oy = 0; oy < s->oh; oy++)
        {
          int y0 = MAX (oy * s->stride_h - s->pad_top, 0);
          int y1 = MIN (oy * s->stride_h - s->pad_top + s->kh, s->h);
          for (int ox = 0; ox < s->ow; ox++)
            {
              int x0 = MAX (ox * s->stride_w - s->pad_left, 0);
              int x1 = MIN (ox * s->stride_w - s->pad_left + s->kw, s->w);
              float sum = 0.0f;
              for (int iy = y0; iy < y1; iy++)
                for (int ix = x0; ix < x1; ix++)
                  sum += plane[iy * s->w + ix];
              int count = (y1 - y0) * (x1 - x0);
              dst[oy * s->ow + ox] = count > 0 ? sum / count : 0.0f;
            }
        }
    }
}

void
bt_avgpool2d_backward (float *d_in, const float *d_out, const BtConvShape *s)
{
  g_assert (d_in && d_out && s);
  const int HW = s->h * s->w, P = s->oh * s->ow;
  const gsize planes = (gsize) s->n * s->c;
  memset (d_in, 0, sizeof (float) * planes * HW);
  for (gsize pl = 0; pl < planes; pl++)
    {
      float *dplane = d_in + pl * HW;
      const float *g = d_out + pl * P;
      for (int oy = 0; oy < s->oh; oy++)
        {
          int y0 = MAX (oy * s->stride_h - s->pad_top, 0);
          int y1 = MIN (oy * s->stride_h - s->pad_top + s->kh, s->h);
          for (int ox = 0; ox < s->ow; ox++)
            {
              int x0 = MAX (ox * s->stride_w - s->pad_left, 0);
              int x1 = MIN (ox * s->stride_w - s->pad_left + s->kw, s->w);
              int count = (y1 - y0) * (x1 - x0);
              if (count <= 0)
                continue;
              float v = g[oy * s->ow + ox] / count;
              for (int iy = y0; iy < y1; iy++)
                for (int ix = x0; ix < x1; ix++)
                  dplane[iy * s->w + ix] += v;
            }
        }
    }
}

void
bt_gap_forward (float *out, const float *in, int n, int c, int h, int w)
{
  g_assert (out && in);
  const gsize HW = (gsize) h * w;
  for (gsize pl = 0; pl < (gsize) n * c; pl++)
    {
      const float *p = in + pl * HW;
      float sum = 0.0f;
      for (gsize i = 0; i < HW; i++)
        sum += p[i];
      out[pl] = sum / (float) HW;
    }
}

void
bt_gap_backward (float *d_in, const float *d_out, int n, int c, int h, int w)
{
  g_assert (d_in && d_out);
  const gsize HW = (gsize) h * w;
  for (gsize pl = 0; pl < (gsize) n * c; pl++)
    {
      float v = d_out[pl] / (float) HW;
      float *p = d_in + pl * HW;
      for (gsize i = 0; i < HW; i++)
        p[i] = v;
    }
}

/* ---- Elementwise ---- */

typedef struct { float *out; const float *a, *b; } EwCtx;

static void
relu_range (gpointer ctx, gsize i0, gsize i1)
{
  EwCtx *x = ctx;
  float *restrict out = x->out;
  const float *restrict in = x->a;
  for (gsize i = i0; i < i1; i++)
    {
      float v = in[i];
      out[i] = v < 0.0f ? 0.0f : v;   /* NaN passes through, to be reported */
    }
}

void
bt_relu_forward (float *out, const float *in, gsize len)
{
  EwCtx x = { out, in, NULL };
  bt_parallel_for (len, 1 << 15, relu_range, &x);
}

static void
relu_back_range (gpointer ctx, gsize i0, gsize i1)
{
  EwCtx *x = ctx;
  float *d_in = x->out;
  const float *d_out = x->a, *out = x->b;
  for (gsize i = i0; i < i1; i++)
    {
      float g = d_out[i], v = out[i];
      d_in[i] = v > 0.0f ? g : 0.0f;
    }
}

void
bt_relu_backward (float *d_in, const float *d_out, const float *out, gsize len)
{
  EwCtx x = { d_in, d_out, out };
  bt_parallel_for (len, 1 << 15, relu_back_range, &x);
}

void
bt_relu6_forward (float *out, const float *in, gsize len)
{
  for (gsize i = 0; i < len; i++)
    {
      float v = in[i] < 0.0f ? 0.0f : in[i];
      out[i] = v > 6.0f ? 6.0f : v;
    }
}

void
bt_relu6_backward (float *d_in, const float *d_out, const float *in, gsize len)
{
  for (gsize i = 0; i < len; i++)
    {
      float g = d_out[i], v = in[i];
      d_in[i] = ((v > 0.0f) & (v < 6.0f)) ? g : 0.0f;
    }
}

void
bt_dropout_forward (float *out, float *mask, const float *in, gsize len, float p, BtRng *rng)
{
  g_assert (out && mask && in && rng && p >= 0.0f && p < 1.0f);
  const float keep = 1.0f / (1.0f - p);
  for (gsize i = 0; i < len; i++)
    {
      mask[i] = (p > 0.0f && bt_rng_uniform (rng) < p) ? 0.0f : keep;
      out[i] = in[i] * mask[i];
    }
}

void
bt_dropout_backward (float *d_in, const float *d_out, const float *mask, gsize len)
{
  for (gsize i = 0; i < len; i++)
    d_in[i] = d_out[i] * mask[i];
}

void
bt_add_forward (float *out, const float *a, const float *b, gsize len)
{
  for (gsize i = 0; i < len; i++)
    out[i] = a[i] + b[i];
}

/* ---- Batch norm ---- */

void
bt_batchnorm_forward_train (float *out, float *save_mean, float *save_invstd,
                            float *running_mean, float *running_var,
                            const float *in, const float *gamma, const float *beta,
                            int n, int c, int hw, float momentum, float eps)
{
  g_assert (out && save_mean && save_invstd && in && gamma && beta);
  const gsize M = (gsize) n * hw;
  for (int ch = 0; ch < c; ch++)
    {
      double sum = 0.0;
      for (int img = 0; img < n; img++)
        {
          const float *p = in + ((gsize) img * c + ch) * hw;
          for (int i = 0; i < hw; i++)
            sum += p[i];
        }
      double mean = sum / M;
      double sq = 0.0;
      for (int img = 0; img < n; img++)
        {
          const float *p = in + ((gsize) img * c + ch) * hw;
          for (int i = 0; i < hw; i++)
            {
              double d = p[i] - mean;
              sq += d * d;
            }
        }
      double var = sq / M;
      float invstd = (float) (1.0 / sqrt (var + eps));
      save_mean[ch] = (float) mean;
      save_invstd[ch] = invstd;
      if (running_mean != NULL && running_var != NULL)
        {
          double unbiased = M > 1 ? sq / (M - 1) : var;
          running_mean[ch] = (1.0f - momentum) * running_mean[ch] + momentum * (float) mean;
          running_var[ch] = (1.0f - momentum) * running_var[ch] + momentum * (float) unbiased;
        }
      const float scale = gamma[ch] * invstd;
      const float shift = beta[ch] - (float) mean * scale;
      for (int img = 0; img < n; img++)
        {
          const float *p = in + ((gsize) img * c + ch) * hw;
          float *o = out + ((gsize) img * c + ch) * hw;
          for (int i = 0; i < hw; i++)
            o[i] = p[i] * scale + shift;
        }
    }
}

void
bt_batchnorm_forward_infer (float *out, const float *in, const float *gamma, const float *beta,
                            const float *running_mean, const float *running_var,
                            int n, int c, int hw, float eps)
{
  g_assert (out && in && gamma && beta && running_mean && running_var);
  for (int ch = 0; ch < c; ch++)
    {
      const float scale = gamma[ch] / sqrtf (running_var[ch] + eps);
      const float shift = beta[ch] - running_mean[ch] * scale;
      for (int img = 0; img < n; img++)
        {
          const float *p = in + ((gsize) img * c + ch) * hw;
          float *o = out + ((gsize) img * c + ch) * hw;
          for (int i = 0; i < hw; i++)
            o[i] = p[i] * scale + shift;
        }
    }
}

void
bt_batchnorm_backward (float *d_in, float *d_gamma, float *d_beta, const float *d_out,
                       const float *in, const float *gamma, const float *save_mean,
                       const float *save_invstd, int n, int c, int hw)
{
  g_assert (d_out && in && gamma && save_mean && save_invstd);
  const gsize M = (gsize) n * hw;
  for (int ch = 0; ch < c; ch++)
    {
      const float mean = save_mean[ch], invstd = save_invstd[ch];
      double sdy = 0.0, sdyx = 0.0;
      for (int img = 0; img < n; img++)
        {
          const float *g = d_out + ((gsize) img * c + ch) * hw;
          const float *p = in + ((gsize) img * c + ch) * hw;
          for (int i = 0; i < hw; i++)
            {
              sdy += g[i];
              sdyx += g[i] * ((p[i] - mean) * invstd);
            }
        }
      if (d_gamma != NULL)
        d_gamma[ch] += (float) sdyx;
      if (d_beta != NULL)
        d_beta[ch] += (float) sdy;
      if (d_in == NULL)
        continue;
      const float k = gamma[ch] * invstd / (float) M;
      const float a = (float) sdy, bcoef = (float) sdyx;
      for (int img = 0; img < n; img++)
        {
          const float *g = d_out + ((gsize) img * c + ch) * hw;
          const float *p = in + ((gsize) img * c + ch) * hw;
          float *d = d_in + ((gsize) img * c + ch) * hw;
          for (int i = 0; i < hw; i++)
            d[i] = k * ((float) M * g[i] - a - (p[i] - mean) * invstd * bcoef);
        }
    }
}

/* ---- Softmax and cross-entropy ---- */

void
bt_softmax_forward (float *probs, const float *logits, int n, int k)
{
  g_assert (probs && logits && k > 0);
  for (int i = 0; i < n; i++)
    {
      const float *l = logits + (gsize) i * k;
      float *p = probs + (gsize) i * k;
      float mx = l[0];
      for (int j = 1; j < k; j++)
        if (l[j] > mx)
          mx = l[j];
      double sum = 0.0;
      for (int j = 0; j < k; j++)
        {
          p[j] = expf (l[j] - mx);
          sum += p[j];
        }
      float inv = (float) (1.0 / sum);
      for (int j = 0; j < k; j++)
        p[j] *= inv;
    }
}

double
bt_softmax_xent (float *d_logits, const float *probs, const int *labels, int n, int k,
                 const float *class_weights, float label_smoothing)
{
  g_assert (probs && labels && n > 0 && k > 0);
  const double off = label_smoothing / (double) k;
  const double on = 1.0 - label_smoothing + off;
  double total = 0.0;
  for (int i = 0; i < n; i++)
    {
      const float *p = probs + (gsize) i * k;
      const int y = labels[i];
      g_assert (y >= 0 && y < k);
      const double wt = class_weights ? class_weights[y] : 1.0;
      double row = 0.0;
      if (label_smoothing > 0.0f)
        for (int j = 0; j < k; j++)
          row -= (j == y ? on : off) * log (MAX ((double) p[j], 1e-45));
      else
        row = -log (MAX ((double) p[y], 1e-45));
      total += wt * row;
      if (d_logits != NULL)
        {
          float *d = d_logits + (gsize) i * k;
          const float scale = (float) (wt / n);
          for (int j = 0; j < k; j++)
            d[j] = (p[j] - (float) (j == y ? on : off)) * scale;
        }
    }
  return total;
}
