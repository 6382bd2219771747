/* bt-layers.c: the layer kernels of bt-layers.h (forward and backward, float32 NCHW).
 * Convolution is im2col over the whole batch + one sgemm; everything else is plain loops. */
#include "engine/bt-layers.h"
#include "engine/bt-engine-private.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

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
static inline void
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

void
bt_dense_forward (float *out, const float *in, const float *w, const float *b,
                  int n, int in_dim, int out_dim)
{
  g_assert (out && in && w && n > 0 && in_dim > 0 && out_dim > 0);
  float beta = 0.0f;
  if (b != NULL)
    {
      for (int i = 0; i < n; i++)
        memcpy (out + (gsize) i * out_dim, b, sizeof (float) * out_dim);
      beta = 1.0f;
    }
  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, n, out_dim, in_dim,
               1.0f, in, in_dim, w, in_dim, beta, out, out_dim);
}

void
bt_dense_backward (float *d_in, float *d_w, float *d_b, const float *d_out,
                   const float *in, const float *w, int n, int in_dim, int out_dim)
{
  g_assert (d_out && in && w && n > 0 && in_dim > 0 && out_dim > 0);
  if (d_w != NULL)
    cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, out_dim, in_dim, n,
                 1.0f, d_out, out_dim, in, in_dim, 1.0f, d_w, in_dim);
  if (d_b != NULL)
    for (int i = 0; i < n; i++)
      {
        const float *row = d_out + (gsize) i * out_dim;
        for (int j = 0; j < out_dim; j++)
          d_b[j] += row[j];
      }
  if (d_in != NULL)
    cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, n, in_dim, out_dim,
                 1.0f, d_out, out_dim, w, in_dim, 0.0f, d_in, in_dim);
}

/* ---- Conv2D via im2col ---- */

gsize
bt_conv2d_workspace_size (const BtConvShape *s)
{
  g_return_val_if_fail (s != NULL, 0);
  if (s->groups != 1)
    return 0;
  gsize cols = (gsize) s->n * s->oh * s->ow;
  /* col [K, N] + output in channel-major order [oc, N] */
  return ((gsize) s->c * s->kh * s->kw + (gsize) s->oc) * cols;
}

/* col[(c*kh + ky)*kw + kx][img*P + oy*ow + ox] = in[img][c][oy*sh - pt + ky][ox*sw - pl + kx] */
typedef struct { float *col; const float *in; const BtConvShape *s; } ColCtx;

static void
im2col_rows (gpointer p, gsize r0, gsize r1)
{
  ColCtx *x = p;
  float *restrict col = x->col;
  const float *restrict in = x->in;
  const BtConvShape *s = x->s;
  const int P = s->oh * s->ow;
  const gsize N = (gsize) s->n * P;
  for (gsize r = r0; r < r1; r++)
        {
          const int kx = (int) (r % s->kw), ky = (int) (r / s->kw % s->kh), c = (int) (r / s->kw / s->kh);
          float *dst = col + ((gsize) (c * s->kh + ky) * s->kw + kx) * N;
          int lo, hi;
          valid_range (s->pad_left, kx, s->stride_w, s->w, s->ow, &lo, &hi);
          const int off = kx - s->pad_left;
          for (int img = 0; img < s->n; img++)
            {
              const float *plane = in + ((gsize) img * s->c + c) * s->h * s->w;
              for (int oy = 0; oy < s->oh; oy++)
                {
                  float *d = dst + (gsize) img * P + (gsize) oy * s->ow;
                  int iy = oy * s->stride_h - s->pad_top + ky;
                  if (iy < 0 || iy >= s->h || lo >= hi)
                    {
                      memset (d, 0, sizeof (float) * s->ow);
                      continue;
                    }
                  const float *src = plane + (gsize) iy * s->w;
                  for (int ox = 0; ox < lo; ox++)
                    d[ox] = 0.0f;
                  if (s->stride_w == 1)
                    memcpy (d + lo, src + lo + off, sizeof (float) * (hi - lo));
                  else
                    for (int ox = lo; ox < hi; ox++)
                      d[ox] = src[ox * s->stride_w + off];
                  for (int ox = hi; ox < s->ow; ox++)
                    d[ox] = 0.0f;
                }
            }
        }
}

static void
im2col (float *col, const float *in, const BtConvShape *s)
{
  ColCtx x = { col, in, s };
  bt_parallel_for ((gsize) s->c * s->kh * s->kw, 1, im2col_rows, &x);
}

/* The adjoint of im2col: d_in (zeroed first) += scattered col. */
static void
col2im_channels (gpointer p, gsize c0, gsize c1)
{
  ColCtx *x = p;
  float *restrict d_in = x->col;   /* (roles swapped: writes the image) */
  const float *restrict col = x->in;
  const BtConvShape *s = x->s;
  const int P = s->oh * s->ow;
  const gsize N = (gsize) s->n * P;
  for (int img = 0; img < s->n; img++)
    memset (d_in + ((gsize) img * s->c + c0) * s->h * s->w, 0, sizeof (float) * (c1 - c0) * s->h * s->w);
  for (int c = (int) c0; c < (int) c1; c++)
    for (int ky = 0; ky < s->kh; ky++)
      for (int kx = 0; kx < s->kw; kx++)
        {
          const float *src = col + ((gsize) (c * s->kh + ky) * s->kw + kx) * N;
          int lo, hi;
          valid_range (s->pad_left, kx, s->stride_w, s->w, s->ow, &lo, &hi);
          const int off = kx - s->pad_left;
          for (int img = 0; img < s->n; img++)
            {
              float *plane = d_in + ((gsize) img * s->c + c) * s->h * s->w;
              for (int oy = 0; oy < s->oh; oy++)
                {
                  int iy = oy * s->stride_h - s->pad_top + ky;
                  if (iy < 0 || iy >= s->h)
                    continue;
                  const float *sv = src + (gsize) img * P + (gsize) oy * s->ow;
                  float *dst = plane + (gsize) iy * s->w;
                  if (s->stride_w == 1)
                    for (int ox = lo; ox < hi; ox++)
                      dst[ox + off] += sv[ox];
                  else
                    for (int ox = lo; ox < hi; ox++)
                      dst[ox * s->stride_w + off] += sv[ox];
                }
            }
        }
}

static void
col2im (float *d_in, const float *col, const BtConvShape *s)
{
  ColCtx x = { d_in, col, s };
  bt_parallel_for ((gsize) s->c, 1, col2im_channels, &x);
}

/* Sum of v[0..n) with eight independent partial sums (vectorizes, and is more accurate). */
static inline float
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

typedef struct { float *out; const float *out_t; const float *b; const BtConvShape *s; int act; } EpiCtx;

/* [oc, n, P] → [n, oc, P], adding the bias and applying the activation on the way. */
static void
conv_epilogue (gpointer ctx, gsize o0, gsize o1)
{
  EpiCtx *x = ctx;
  const BtConvShape *s = x->s;
  const float *b = x->b;
  const int act = x->act;
  const int P = s->oh * s->ow;
  const gsize N = (gsize) s->n * P;
  for (int img = 0; img < s->n; img++)
    for (int o = (int) o0; o < (int) o1; o++)
      {
        float *out = x->out;
        const float *out_t = x->out_t;
        float *restrict dst = out + ((gsize) img * s->oc + o) * P;
        const float *restrict src = out_t + (gsize) o * N + (gsize) img * P;
        const float bias = b ? b[o] : 0.0f;
        if (act == 1)
          for (int p = 0; p < P; p++)
            {
              float v = src[p] + bias;
              dst[p] = v < 0.0f ? 0.0f : v;
            }
        else if (act == 2)
          for (int p = 0; p < P; p++)
            {
              float v = src[p] + bias;
              v = v < 0.0f ? 0.0f : v;
              dst[p] = v > 6.0f ? 6.0f : v;
            }
        else
          for (int p = 0; p < P; p++)
            dst[p] = src[p] + bias;
      }
}

void
bt_conv2d_forward_ex (float *out, const float *in, const float *w, const float *b,
                      const BtConvShape *s, float *workspace, int act)
{
  g_assert (out && in && w && s && workspace && s->groups == 1);
  const int K = s->c * s->kh * s->kw;
  const int P = s->oh * s->ow;
  const int N = s->n * P;
  float *col = workspace;
  float *out_t = workspace + (gsize) K * N;

  im2col (col, in, s);
  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, s->oc, N, K,
               1.0f, w, K, col, N, 0.0f, out_t, N);
  EpiCtx x = { out, out_t, b, s, act };
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
  float *dout_t = x->dout_t, *d_b = x->d_b;
  const float *d_out = x->d_out, *act_out = x->act_out;
  const int act = x->act;
  for (int o = (int) o0; o < (int) o1; o++)
    {
      float bsum = 0.0f;
      for (int img = 0; img < s->n; img++)
        {
          const float *restrict src = d_out + ((gsize) img * s->oc + o) * P;
          float *restrict dst = dout_t + (gsize) o * N + (gsize) img * P;
          if (act != 0 && act_out != NULL)
            {
              const float *restrict y = act_out + ((gsize) img * s->oc + o) * P;
              /* unconditional loads, so the select vectorizes */
              if (act == 1)
                for (int p = 0; p < P; p++)
                  {
                    float g = src[p], v = y[p];
                    dst[p] = v > 0.0f ? g : 0.0f;
                  }
              else
                for (int p = 0; p < P; p++)
                  {
                    float g = src[p], v = y[p];
                    dst[p] = ((v > 0.0f) & (v < 6.0f)) ? g : 0.0f;
                  }
            }
          else
            memcpy (dst, src, sizeof (float) * P);
          if (d_b != NULL)
            bsum += sum_floats (dst, P);
        }
      if (d_b != NULL)
        d_b[o] += bsum;
    }
}

void
bt_conv2d_backward_ex (float *d_in, float *d_w, float *d_b, const float *d_out,
                       const float *in, const float *w, const BtConvShape *s, float *workspace,
                       const float *act_out, int act, gboolean col_ready)
{
  g_assert (d_out && in && w && s && workspace && s->groups == 1);
  const int K = s->c * s->kh * s->kw;
  const int P = s->oh * s->ow;
  const int N = s->n * P;
  float *col = workspace;
  float *dout_t = workspace + (gsize) K * N;

  TrCtx x = { dout_t, d_out, d_b, act_out, act, s };
  bt_parallel_for ((gsize) s->oc, 1, conv_grad_transpose, &x);
  if (d_w != NULL)
    {
      if (!col_ready)
        im2col (col, in, s);
      cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, s->oc, K, N,
                   1.0f, dout_t, N, col, N, 1.0f, d_w, K);
    }
  if (d_in != NULL)
    {
      cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, K, N, s->oc,
                   1.0f, w, K, dout_t, N, 0.0f, col, N);
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
              for (int ox = 0; ox < s->ow; ox++)
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
