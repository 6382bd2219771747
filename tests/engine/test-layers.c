/* test-layers.c: every layer kernel against a central-difference gradient check and its fast
 * paths against naive reference loops, on fresh random inputs of several (odd) shapes. */
#include "engine/bt-layers.h"
#include "engine/bt-engine-private.h"

#include <math.h>
#include <string.h>

static BtRng rng;

static float *
rand_buf (gsize len, float scale)
{
  float *v = g_new (float, len);
  for (gsize i = 0; i < len; i++)
    v[i] = (bt_rng_uniform (&rng) * 2.0f - 1.0f) * scale;
  return v;
}

/* Values spaced at least 0.05 apart in random order: no ties for max pooling. */
static float *
distinct_buf (gsize len)
{
  guint32 *perm = g_new (guint32, len);
  float *v = g_new (float, len);
  for (gsize i = 0; i < len; i++)
    perm[i] = (guint32) i;
  bt_rng_shuffle (&rng, perm, len);
  for (gsize i = 0; i < len; i++)
    v[i] = (float) perm[i] * 0.05f - (float) len * 0.025f;
  g_free (perm);
  return v;
}

static double
dot (const float *a, const float *b, gsize len)
{
  double s = 0.0;
  for (gsize i = 0; i < len; i++)
    s += (double) a[i] * b[i];
  return s;
}

static void
assert_close (const char *what, const float *got, const float *want, gsize len, double rtol, double atol)
{
  double scale = 0.0;
  for (gsize i = 0; i < len; i++)
    scale = MAX (scale, fabs (want[i]));
  for (gsize i = 0; i < len; i++)
    {
      double err = fabs ((double) got[i] - want[i]);
      if (!(err <= atol + rtol * MAX (fabs (want[i]), scale * 0.1)))   /* a NaN (an output never written) fails */
        {
          g_test_fail_printf ("%s[%" G_GSIZE_FORMAT "]: got %.7g, want %.7g (len %" G_GSIZE_FORMAT ")",
                              what, i, got[i], want[i], len);
          return;
        }
    }
}

/* A loss L = Σ out · R recomputed from the current tensors. */
typedef double (*LossFn) (gpointer ctx);

/* Central differences on (a sample of) x against the analytic gradient. */
static void
check_grad (const char *what, float *x, const float *analytic, gsize len, LossFn f, gpointer ctx,
            float h)
{
  gsize step = len > 60 ? len / 60 : 1;
  double scale = 1e-3;
  for (gsize i = 0; i < len; i++)
    scale = MAX (scale, fabs (analytic[i]));
  for (gsize i = 0; i < len; i += step)
    {
      float saved = x[i];
      x[i] = saved + h;
      double lp = f (ctx);
      x[i] = saved - h;
      double lm = f (ctx);
      x[i] = saved;
      double num = (lp - lm) / (2.0 * h);
      double err = fabs (num - analytic[i]);
      if (err > 2e-3 * scale + 2e-2 * fabs (num))
        {
          g_test_fail_printf ("%s: gradient[%" G_GSIZE_FORMAT "] analytic %.6g numeric %.6g", what, i,
                              analytic[i], num);
          return;
        }
    }
}

/* ---- Dense ---- */

typedef struct { int n, in_dim, out_dim; float *x, *w, *b, *out, *r; } DenseCtx;

static double
dense_loss (gpointer p)
{
  DenseCtx *c = p;
  bt_dense_forward (c->out, c->x, c->w, c->b, c->n, c->in_dim, c->out_dim);
  return dot (c->out, c->r, (gsize) c->n * c->out_dim);
}

static void
test_dense (void)
{
  const int shapes[][3] = { { 3, 5, 4 }, { 1, 7, 1 }, { 5, 1, 3 }, { 17, 33, 9 } };
  for (guint t = 0; t < G_N_ELEMENTS (shapes); t++)
    {
      DenseCtx c = { shapes[t][0], shapes[t][1], shapes[t][2] };
      gsize nx = (gsize) c.n * c.in_dim, nw = (gsize) c.in_dim * c.out_dim, no = (gsize) c.n * c.out_dim;
      c.x = rand_buf (nx, 1); c.w = rand_buf (nw, 1); c.b = rand_buf (c.out_dim, 1);
      c.out = g_new (float, no); c.r = rand_buf (no, 1);
      /* naive */
      dense_loss (&c);
      g_autofree float *ref = g_new (float, no);
      for (int i = 0; i < c.n; i++)
        for (int o = 0; o < c.out_dim; o++)
          {
            double s = c.b[o];
            for (int k = 0; k < c.in_dim; k++)
              s += (double) c.x[i * c.in_dim + k] * c.w[o * c.in_dim + k];
            ref[i * c.out_dim + o] = (float) s;
          }
      assert_close ("dense out", c.out, ref, no, 1e-5, 1e-6);
      g_autofree float *dx = g_new (float, nx);
      g_autofree float *dw = g_new0 (float, nw);
      g_autofree float *db = g_new0 (float, c.out_dim);
      bt_dense_backward (dx, dw, db, c.r, c.x, c.w, c.n, c.in_dim, c.out_dim);
      check_grad ("dense d_in", c.x, dx, nx, dense_loss, &c, 1e-2f);
      check_grad ("dense d_w", c.w, dw, nw, dense_loss, &c, 1e-2f);
      check_grad ("dense d_b", c.b, db, c.out_dim, dense_loss, &c, 1e-2f);
      /* backward accumulates into parameter gradients */
      g_autofree float *dw2 = g_memdup2 (dw, nw * sizeof (float));
      bt_dense_backward (NULL, dw2, NULL, c.r, c.x, c.w, c.n, c.in_dim, c.out_dim);
      for (gsize i = 0; i < nw; i++)
        g_assert_cmpfloat_with_epsilon (dw2[i], 2 * dw[i], 1e-4 + 1e-5 * fabs (dw[i]));
      g_free (c.x); g_free (c.w); g_free (c.b); g_free (c.out); g_free (c.r);
    }
}

/* ---- Conv2D and depthwise ---- */

typedef struct { BtConvShape s; float *x, *w, *b, *out, *r, *ws; gboolean dw; } ConvCtx;

static double
conv_loss (gpointer p)
{
  ConvCtx *c = p;
  if (c->dw)
    bt_dwconv2d_forward (c->out, c->x, c->w, c->b, &c->s);
  else
    bt_conv2d_forward (c->out, c->x, c->w, c->b, &c->s, c->ws);
  return dot (c->out, c->r, (gsize) c->s.n * c->s.oc * c->s.oh * c->s.ow);
}

static void
naive_conv (float *out, const float *in, const float *w, const float *b, const BtConvShape *s)
{
  int m = s->oc / s->groups, cin = s->c / s->groups;
  for (int img = 0; img < s->n; img++)
    for (int o = 0; o < s->oc; o++)
      for (int oy = 0; oy < s->oh; oy++)
        for (int ox = 0; ox < s->ow; ox++)
          {
            double sum = b ? b[o] : 0.0;
            int g = o / m;
            for (int ci = 0; ci < cin; ci++)
              for (int ky = 0; ky < s->kh; ky++)
                for (int kx = 0; kx < s->kw; kx++)
                  {
                    int iy = oy * s->stride_h - s->pad_top + ky;
                    int ix = ox * s->stride_w - s->pad_left + kx;
                    if (iy < 0 || iy >= s->h || ix < 0 || ix >= s->w)
                      continue;
                    int c = g * cin + ci;
                    sum += (double) in[((img * s->c + c) * s->h + iy) * s->w + ix] *
                           w[((o * cin + ci) * s->kh + ky) * s->kw + kx];
                  }
            out[((img * s->oc + o) * s->oh + oy) * s->ow + ox] = (float) sum;
          }
}

/* n c h w oc kh kw sh sw pt pl pb pr */
static const int conv_shapes[][13] = {
  { 2, 3, 5, 7, 4, 3, 3, 1, 1, 1, 1, 1, 1 },
  { 1, 2, 6, 5, 3, 3, 3, 2, 2, 0, 0, 0, 0 },
  { 2, 1, 7, 7, 2, 3, 3, 2, 2, 0, 0, 1, 1 },   /* TFLite SAME, stride 2: bottom/right pad */
  { 1, 3, 4, 4, 2, 1, 1, 1, 1, 0, 0, 0, 0 },
  { 2, 2, 5, 6, 3, 2, 3, 2, 1, 1, 0, 0, 2 },
  { 3, 2, 9, 8, 5, 5, 5, 3, 2, 2, 1, 0, 3 },
};

static void
run_conv_case (const int *sh, int groups, int mult)
{
  ConvCtx c = { 0 };
  g_autoptr (GError) error = NULL;
  int oc = groups == 1 ? sh[4] : sh[1] * mult;
  g_assert_true (bt_conv_shape_init (&c.s, sh[0], sh[1], sh[2], sh[3], oc, sh[5], sh[6], sh[7], sh[8],
                                     sh[9], sh[10], sh[11], sh[12], groups, &error));
  g_assert_no_error (error);
  c.dw = groups != 1;
  const BtConvShape *s = &c.s;
  gsize nx = (gsize) s->n * s->c * s->h * s->w;
  gsize nw = (gsize) s->oc * (s->c / groups) * s->kh * s->kw;
  gsize no = (gsize) s->n * s->oc * s->oh * s->ow;
  c.x = rand_buf (nx, 1); c.w = rand_buf (nw, 1); c.b = rand_buf (s->oc, 1);
  c.out = g_new (float, no); c.r = rand_buf (no, 1);
  c.ws = g_new (float, MAX (bt_conv2d_workspace_size (s), 1));
  g_autofree float *ref = g_new (float, no);
  conv_loss (&c);
  naive_conv (ref, c.x, c.w, c.b, s);
  assert_close (c.dw ? "dwconv out" : "conv out", c.out, ref, no, 1e-5, 1e-5);
  /* without bias */
  naive_conv (ref, c.x, c.w, NULL, s);
  if (c.dw)
    bt_dwconv2d_forward (c.out, c.x, c.w, NULL, s);
  else
    bt_conv2d_forward (c.out, c.x, c.w, NULL, s, c.ws);
  assert_close ("conv out (no bias)", c.out, ref, no, 1e-5, 1e-5);

  g_autofree float *dx = g_new (float, nx);
  g_autofree float *dw = g_new0 (float, nw);
  g_autofree float *db = g_new0 (float, s->oc);
  if (c.dw)
    bt_dwconv2d_backward (dx, dw, db, c.r, c.x, c.w, s);
  else
    bt_conv2d_backward (dx, dw, db, c.r, c.x, c.w, s, c.ws);
  check_grad ("conv d_in", c.x, dx, nx, conv_loss, &c, 1e-2f);
  check_grad ("conv d_w", c.w, dw, nw, conv_loss, &c, 1e-2f);
  check_grad ("conv d_b", c.b, db, s->oc, conv_loss, &c, 1e-2f);
  /* d_in NULL skips the input gradient but still accumulates parameters */
  g_autofree float *dw2 = g_memdup2 (dw, nw * sizeof (float));
  if (c.dw)
    bt_dwconv2d_backward (NULL, dw2, NULL, c.r, c.x, c.w, s);
  else
    bt_conv2d_backward (NULL, dw2, NULL, c.r, c.x, c.w, s, c.ws);
  for (gsize i = 0; i < nw; i++)
    g_assert_cmpfloat_with_epsilon (dw2[i], 2 * dw[i], 1e-3 + 1e-5 * fabs (dw[i]));
  g_free (c.x); g_free (c.w); g_free (c.b); g_free (c.out); g_free (c.r); g_free (c.ws);
}

static void
test_conv2d (void)
{
  for (guint t = 0; t < G_N_ELEMENTS (conv_shapes); t++)
    run_conv_case (conv_shapes[t], 1, 1);
}

static void
test_dwconv2d (void)
{
  for (guint t = 0; t < G_N_ELEMENTS (conv_shapes); t++)
    for (int mult = 1; mult <= 2; mult++)
      run_conv_case (conv_shapes[t], conv_shapes[t][1], mult);
}

/* A big-ish random conv compared with the naive loop (fresh inputs each run). */
static void
test_conv2d_large (void)
{
  BtConvShape s;
  g_assert_true (bt_conv_shape_init (&s, 4, 16, 14, 14, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, NULL));
  gsize nx = (gsize) s.n * s.c * s.h * s.w, nw = (gsize) s.oc * s.c * 9, no = (gsize) s.n * s.oc * s.oh * s.ow;
  g_autofree float *x = rand_buf (nx, 1), *w = rand_buf (nw, 0.3f), *b = rand_buf (s.oc, 1);
  g_autofree float *out = g_new (float, no), *ref = g_new (float, no);
  g_autofree float *ws = g_new (float, bt_conv2d_workspace_size (&s));
  bt_conv2d_forward (out, x, w, b, &s, ws);
  naive_conv (ref, x, w, b, &s);
  assert_close ("conv large", out, ref, no, 1e-4, 1e-5);
}

/* ---- Fast paths at every schedule against naive loops ---- */

/* Naive backward of conv (groups 1) with the fused activation's mask, in double. */
static void
naive_conv_backward (float *d_in, float *d_w, float *d_b, const float *d_out, const float *y, int act,
                     const float *in, const float *w, const BtConvShape *s)
{
  const int K = s->c * s->kh * s->kw, P = s->oh * s->ow;
  g_autofree double *gi = g_new0 (double, (gsize) s->n * s->c * s->h * s->w);
  g_autofree double *gw = g_new0 (double, (gsize) s->oc * K);
  g_autofree double *gb = g_new0 (double, s->oc);
  for (int img = 0; img < s->n; img++)
    for (int o = 0; o < s->oc; o++)
      for (int p = 0; p < P; p++)
        {
          gsize at = ((gsize) img * s->oc + o) * P + p;
          double g = d_out[at];
          if (act == 1 && !(y[at] > 0.0f))
            g = 0.0;
          gb[o] += g;
          int oy = p / s->ow, ox = p % s->ow;
          for (int c = 0; c < s->c; c++)
            for (int ky = 0; ky < s->kh; ky++)
              for (int kx = 0; kx < s->kw; kx++)
                {
                  int iy = oy * s->stride_h - s->pad_top + ky, ix = ox * s->stride_w - s->pad_left + kx;
                  if (iy < 0 || iy >= s->h || ix < 0 || ix >= s->w)
                    continue;
                  gsize ii = (((gsize) img * s->c + c) * s->h + iy) * s->w + ix;
                  gsize wi = (((gsize) o * s->c + c) * s->kh + ky) * s->kw + kx;
                  gw[wi] += g * in[ii];
                  gi[ii] += g * w[wi];
                }
        }
  for (gsize i = 0; i < (gsize) s->n * s->c * s->h * s->w; i++)
    d_in[i] = (float) gi[i];
  for (gsize i = 0; i < (gsize) s->oc * K; i++)
    d_w[i] = (float) gw[i];
  for (int o = 0; o < s->oc; o++)
    d_b[o] = (float) gb[o];
}

/* The conv at 1, 2 and 3 threads (slab schedule; whole-batch schedule when the batch is smaller
 * than the thread count), batch sizes 1, odd and above the group count, ReLU fused or not,
 * stride 1 and 2, padding 0 and 1, asymmetric padding: forward and backward against the naive
 * loops; at one thread count, two runs give identical bits. */
static void
test_conv2d_schedules (void)
{
  /* n c h w oc kh kw sh sw pt pl pb pr */
  static const int shapes[][13] = {
    { 1, 1, 28, 28, 8, 3, 3, 1, 1, 1, 1, 1, 1 },    /* the Small CNN's first conv, one image */
    { 17, 3, 14, 14, 16, 3, 3, 1, 1, 1, 1, 1, 1 },  /* odd batch > groups */
    { 3, 5, 9, 7, 6, 3, 3, 2, 2, 1, 1, 1, 1 },      /* stride 2, odd sizes */
    { 9, 2, 8, 11, 5, 3, 3, 1, 1, 0, 0, 0, 0 },     /* padding 0 */
    { 5, 4, 7, 6, 3, 1, 1, 1, 1, 0, 0, 0, 0 },      /* 1×1 */
    { 2, 3, 10, 9, 4, 3, 2, 2, 1, 0, 1, 1, 0 },     /* asymmetric padding */
    { 12, 32, 14, 14, 64, 3, 3, 1, 1, 1, 1, 1, 1 }, /* the second conv's shape, several slabs */
    { 3, 2, 6, 5, 3, 2, 2, 1, 1, 0, 0, 1, 1 },      /* even kernel, SAME: rows as wide as the input */
    { 4, 2, 6, 5, 3, 2, 2, 1, 1, 1, 1, 0, 0 },      /* the same padded top/left */
    { 2, 3, 9, 10, 4, 5, 5, 1, 1, 2, 2, 2, 2 },     /* 5×5 pad 2 */
    { 2, 2, 3, 3, 2, 3, 3, 1, 1, 2, 2, 2, 2 },      /* pad 2 on a 3×3 kernel: rows and columns entirely outside */
    { 3, 2, 2, 3, 3, 5, 5, 1, 1, 2, 2, 2, 2 },      /* 5×5 on 2×3: kernel rows with no valid output row */
  };
  for (guint t = 0; t < G_N_ELEMENTS (shapes); t++)
    {
      const int *sh = shapes[t];
      BtConvShape s;
      g_assert_true (bt_conv_shape_init (&s, sh[0], sh[1], sh[2], sh[3], sh[4], sh[5], sh[6], sh[7], sh[8],
                                         sh[9], sh[10], sh[11], sh[12], 1, NULL));
      const gsize nx = (gsize) s.n * s.c * s.h * s.w, nw = (gsize) s.oc * s.c * s.kh * s.kw;
      const gsize no = (gsize) s.n * s.oc * s.oh * s.ow;
      g_autofree float *x = rand_buf (nx, 1), *w = rand_buf (nw, 0.5f), *b = rand_buf (s.oc, 0.5f);
      g_autofree float *r = rand_buf (no, 1);
      g_autofree float *ref = g_new (float, no), *out = g_new (float, no), *out2 = g_new (float, no);
      g_autofree float *ws = g_new (float, MAX (bt_conv2d_workspace_size (&s), 1));
      g_autofree float *rdx = g_new (float, nx), *rdw = g_new (float, nw), *rdb = g_new (float, s.oc);
      g_autofree float *dx = g_new (float, nx), *dw = g_new (float, nw), *db = g_new (float, s.oc);
      g_autofree float *dx2 = g_new (float, nx), *dw2 = g_new (float, nw), *db2 = g_new (float, s.oc);
      for (int act = 0; act <= 1; act++)
        {
          naive_conv (ref, x, w, b, &s);
          /* no gradient where the output is within rounding of ReLU's kink: the engine's sum
           * and the double-precision reference may fall on either side of 0 there (a seed of
           * the random data made exactly that fail, one element's gradient off) */
          for (gsize i = 0; i < no; i++)
            if (fabsf (ref[i]) < 1e-3f)
              r[i] = 0.0f;
          if (act == 1)
            for (gsize i = 0; i < no; i++)
              ref[i] = MAX (ref[i], 0.0f);
          naive_conv_backward (rdx, rdw, rdb, r, ref, act, x, w, &s);
          for (int threads = 1; threads <= 3; threads++)
            {
              bt_engine_set_threads (threads);
              bt_conv2d_forward_ex (out, x, w, b, &s, ws, act);
              assert_close ("conv forward", out, ref, no, 1e-4, 1e-5);
              memset (dw, 0, nw * sizeof (float));
              memset (db, 0, s.oc * sizeof (float));
              bt_conv2d_backward_ex (dx, dw, db, r, x, w, &s, ws, out, act, FALSE);
              assert_close ("conv d_in", dx, rdx, nx, 1e-4, 1e-5);
              assert_close ("conv d_w", dw, rdw, nw, 1e-4, 1e-5);
              assert_close ("conv d_b", db, rdb, s.oc, 1e-4, 1e-5);
              /* same thread count, same bits; parameter gradients accumulate */
              bt_conv2d_forward_ex (out2, x, w, b, &s, ws, act);
              g_assert_cmpmem (out2, no * sizeof (float), out, no * sizeof (float));
              memcpy (dw2, dw, nw * sizeof (float));
              memcpy (db2, db, s.oc * sizeof (float));
              bt_conv2d_backward_ex (dx2, dw2, db2, r, x, w, &s, ws, out, act, FALSE);
              g_assert_cmpmem (dx2, nx * sizeof (float), dx, nx * sizeof (float));
              for (gsize i = 0; i < nw; i++)
                g_assert_cmpfloat_with_epsilon (dw2[i], 2 * dw[i], 1e-4 + 1e-5 * fabs (dw[i]));
              /* no input gradient wanted */
              memset (dw2, 0, nw * sizeof (float));
              bt_conv2d_backward_ex (NULL, dw2, NULL, r, x, w, &s, ws, out, act, FALSE);
              g_assert_cmpmem (dw2, nw * sizeof (float), dw, nw * sizeof (float));
            }
        }
    }
  bt_engine_set_threads (3);
}

/* bt_sgemm (column blocks over the engine's threads) against a naive product, all four
 * transpositions, odd sizes, leading dimensions wider than the matrices, beta 0 and 1. */
static void
test_sgemm_blocks (void)
{
  /* m n k */
  const int shapes[][3] = { { 64, 196, 288 }, { 33, 517, 71 }, { 3, 1001, 129 }, { 7, 15, 5 },
                            { 129, 35, 300 }, { 1, 4099, 40 } };
  for (guint t = 0; t < G_N_ELEMENTS (shapes); t++)
    for (int trans = 0; trans < 4; trans++)
      for (int threads = 1; threads <= 3; threads++)
        {
          const int m = shapes[t][0], n = shapes[t][1], k = shapes[t][2];
          const gboolean ta = trans & 1, tb = trans >> 1;
          const int lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 5, ldc = n + 2;
          g_autofree float *a = rand_buf ((gsize) (ta ? k : m) * lda, 1);
          g_autofree float *b = rand_buf ((gsize) (tb ? n : k) * ldb, 1);
          g_autofree float *c = rand_buf ((gsize) m * ldc, 1);
          g_autofree float *want = g_memdup2 (c, sizeof (float) * m * ldc);
          const float beta = (float) (t % 2);
          for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
              {
                double sum = 0.0;
                for (int q = 0; q < k; q++)
                  sum += (double) (ta ? a[(gsize) q * lda + i] : a[(gsize) i * lda + q]) *
                         (tb ? b[(gsize) j * ldb + q] : b[(gsize) q * ldb + j]);
                want[(gsize) i * ldc + j] = (float) (0.5 * sum + beta * c[(gsize) i * ldc + j]);
              }
          bt_engine_set_threads (threads);
          bt_sgemm (ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, 0.5f,
                    a, lda, b, ldb, beta, c, ldc);
          /* the padding columns of C are never written */
          assert_close ("sgemm", c, want, (gsize) m * ldc, 1e-4, 1e-4);
        }
  bt_engine_set_threads (3);
}

/* Reference for the fused inference conv: naive conv, then y = act(x · scale + shift), then
 * the 2×2 stride-2 max pool when asked. */
static void
naive_conv_epilogue (float *out, const float *in, const float *w, const BtConvShape *s,
                     const float *scale, const float *shift, int act, gboolean pool)
{
  const gsize P = (gsize) s->oh * s->ow;
  g_autofree float *y = g_new (float, (gsize) s->n * s->oc * P);
  naive_conv (y, in, w, NULL, s);
  for (int img = 0; img < s->n; img++)
    for (int o = 0; o < s->oc; o++)
      {
        float *plane = y + ((gsize) img * s->oc + o) * P;
        for (gsize p = 0; p < P; p++)
          {
            float v = plane[p] * (scale ? scale[o] : 1.0f) + (shift ? shift[o] : 0.0f);
            if (act >= 1)
              v = MAX (v, 0.0f);
            if (act == 2)
              v = MIN (v, 6.0f);
            plane[p] = v;
          }
        const int ph = pool ? s->oh / 2 : s->oh, pw = pool ? s->ow / 2 : s->ow;
        float *dst = out + ((gsize) img * s->oc + o) * ph * pw;
        for (int py = 0; py < ph; py++)
          for (int px = 0; px < pw; px++)
            if (!pool)
              dst[py * pw + px] = plane[py * s->ow + px];
            else
              {
                const float *r = plane + (gsize) 2 * py * s->ow + 2 * px;
                dst[py * pw + px] = MAX (MAX (r[0], r[1]), MAX (r[s->ow], r[s->ow + 1]));
              }
      }
}

/* bt_conv2d_forward_fused (bias or batch-norm scale/shift, activation, 2×2 max pool in the output
 * pass) against the naive layers one after another, both schedules, odd sizes and strides,
 * negative scales (a batch norm's negative gamma turns the max into a min); im2col, and the
 * direct conv (both kernels) on the shapes with few input channels. */
static void
test_conv_fused (void)
{
  /* n c h w oc kh kw sh sw pt pl pb pr */
  const int shapes[][13] = {
    { 12, 32, 14, 14, 64, 3, 3, 1, 1, 1, 1, 1, 1 },  /* the Small CNN's second conv */
    { 1, 32, 14, 14, 64, 3, 3, 1, 1, 1, 1, 1, 1 },   /* the same at batch 1 (whole-batch GEMM) */
    { 5, 1, 28, 28, 32, 3, 3, 1, 1, 1, 1, 1, 1 },    /* the first conv */
    { 3, 3, 11, 9, 5, 3, 3, 1, 1, 1, 1, 1, 1 },      /* odd planes: the pool drops the last row/col */
    { 2, 4, 13, 10, 7, 3, 3, 2, 1, 1, 0, 1, 2 },     /* strides and asymmetric padding */
    { 1, 7, 23, 19, 33, 3, 3, 1, 2, 1, 1, 1, 1 },
    { 3, 2, 7, 12, 9, 3, 3, 1, 1, 0, 2, 1, 0 },     /* few channels: the direct conv */
    { 2, 4, 5, 17, 6, 3, 3, 1, 1, 2, 0, 0, 2 },
    { 1, 3, 64, 64, 32, 3, 3, 1, 1, 1, 1, 1, 1 },   /* the Deeper CNN's first conv, one image */
    { 2, 1, 7, 18, 5, 3, 3, 1, 1, 1, 1, 1, 1 },     /* 9 pooled columns: a 1-float tail of a pooled row */
    { 1, 2, 9, 47, 4, 3, 3, 1, 1, 0, 1, 0, 2 },     /* 24 pooled columns: three 16-column tiles */
    { 1, 1, 28, 28, 7, 3, 3, 1, 1, 1, 1, 1, 1 },    /* one image: 7 channels split over the threads */
  };
  for (guint t = 0; t < G_N_ELEMENTS (shapes); t++)
    {
      const int *sh = shapes[t];
      BtConvShape s;
      g_assert_true (bt_conv_shape_init (&s, sh[0], sh[1], sh[2], sh[3], sh[4], sh[5], sh[6], sh[7], sh[8],
                                         sh[9], sh[10], sh[11], sh[12], 1, NULL));
      const gsize nx = (gsize) s.n * s.c * s.h * s.w, nw = (gsize) s.oc * s.c * s.kh * s.kw;
      const gsize no = (gsize) s.n * s.oc * s.oh * s.ow;
      g_autofree float *x = rand_buf (nx, 1), *w = rand_buf (nw, 0.5f);
      g_autofree float *scale = rand_buf (s.oc, 1.5f), *shift = rand_buf (s.oc, 0.5f);
      g_autofree float *ref = g_new (float, no), *out = g_new (float, no), *first = g_new (float, no);
      g_autofree float *ws = g_new (float, MAX (bt_conv2d_workspace_size (&s), 1));
      for (int variant = 0; variant < 2 * 3 * 2; variant++)
        {
          const int act = variant % 3;
          const gboolean pool = (variant / 3) % 2, scaled = variant / 6;
          const gsize len = pool ? (gsize) s.n * s.oc * (s.oh / 2) * (s.ow / 2) : no;
          naive_conv_epilogue (ref, x, w, &s, scaled ? scale : NULL, shift, act, pool);
          BtConvEpilogue e = { scaled ? scale : NULL, shift, act, pool, NULL };
          /* im2col; then, where it fits, the direct conv with each kernel */
          for (int mode = 0; mode <= 2; mode++)
            {
              bt_conv2d_winograd_set_mode (mode);
              if (mode > 0 && !bt_conv2d_direct_fits (&s))
                break;
              for (int threads = 1; threads <= 3; threads++)
                {
                  bt_engine_set_threads (threads);
                  for (gsize i = 0; i < no; i++)
                    out[i] = NAN;
                  bt_conv2d_forward_fused (out, x, w, &e, &s, ws);
                  assert_close ("fused conv", out, ref, len, 1e-4, 1e-5);
                  /* the direct conv: the same bits however the threads split the work */
                  if (mode > 0 && threads == 1)
                    memcpy (first, out, len * sizeof (float));
                  else if (mode > 0)
                    g_assert_cmpmem (out, len * sizeof (float), first, len * sizeof (float));
                }
            }
        }
    }
  bt_conv2d_winograd_set_mode (-1);
  bt_engine_set_threads (3);
}

/* Winograd F(4×4, 3×3) (both micro-kernels) against the naive conv + epilogue (its transforms
 * scale by up to 8 and 5: rounding reaches ~1e-5 of the output's scale at 1,152 terms, hence
 * 3e-4 of a tenth of it; a wrong transform is off by far more): random shapes
 * with odd planes, every padding from 0 to 2 on each side, tiles that straddle images, output
 * channels that are not a multiple of the kernel's 6; the same bits at 1 and 3 threads; a
 * stride-2 shape given packed weights still takes the im2col path. */
static void
test_conv_winograd (void)
{
  /* n c h w oc pt pl pb pr */
  int shapes[16][9] = {
    { 3, 32, 14, 14, 64, 1, 1, 1, 1 },   /* the Small CNN's second conv */
    { 1, 128, 8, 8, 40, 1, 1, 1, 1 },    /* the Deeper CNN's last (fewer output channels), one image */
    { 2, 8, 2, 3, 1, 0, 0, 2, 2 },
  };
  for (int t = 3; t < (int) G_N_ELEMENTS (shapes); t++)
    {
      int *sh = shapes[t];
      sh[0] = 1 + (int) (bt_rng_uniform (&rng) * 4);
      sh[1] = 8 + (int) (bt_rng_uniform (&rng) * 33);
      sh[2] = 1 + (int) (bt_rng_uniform (&rng) * 17);
      sh[3] = 1 + (int) (bt_rng_uniform (&rng) * 17);
      sh[4] = 1 + (int) (bt_rng_uniform (&rng) * 20);
      for (int k = 5; k < 9; k++)
        sh[k] = (int) (bt_rng_uniform (&rng) * 3);
      /* at least one output row and column */
      sh[2] = MAX (sh[2], 3 - sh[5] - sh[7]);
      sh[3] = MAX (sh[3], 3 - sh[6] - sh[8]);
    }
  for (guint t = 0; t < G_N_ELEMENTS (shapes); t++)
    {
      const int *sh = shapes[t];
      BtConvShape s;
      g_assert_true (bt_conv_shape_init (&s, sh[0], sh[1], sh[2], sh[3], sh[4], 3, 3, 1, 1,
                                         sh[5], sh[6], sh[7], sh[8], 1, NULL));
      const gsize nx = (gsize) s.n * s.c * s.h * s.w, nw = (gsize) s.oc * s.c * 9;
      const gsize no = (gsize) s.n * s.oc * s.oh * s.ow;
      g_autofree float *x = rand_buf (nx, 1), *w = rand_buf (nw, 0.5f);
      g_autofree float *scale = rand_buf (s.oc, 1.5f), *shift = rand_buf (s.oc, 0.5f);
      g_autofree float *ref = g_new (float, no), *out = g_new (float, no), *first = g_new (float, no);
      g_autofree float *packed = g_new (float, bt_conv2d_winograd_packed_size (s.oc, s.c));
      g_autofree float *ws = g_new (float, MAX (bt_conv2d_workspace_size (&s), 1));
      bt_conv2d_winograd_pack (packed, w, s.oc, s.c);
      for (int variant = 0; variant < 2 * 3 * 2; variant++)
        {
          const int act = variant % 3;
          const gboolean pool = (variant / 3) % 2 && s.oh >= 2 && s.ow >= 2, scaled = variant / 6;
          const gsize len = pool ? (gsize) s.n * s.oc * (s.oh / 2) * (s.ow / 2) : no;
          naive_conv_epilogue (ref, x, w, &s, scaled ? scale : NULL, shift, act, pool);
          BtConvEpilogue e = { scaled ? scale : NULL, shift, act, pool, packed };
          for (int mode = 1; mode <= 2; mode++)
            {
              bt_conv2d_winograd_set_mode (mode);
              g_assert_true (bt_conv2d_winograd_fits (&s));
              for (int threads = 1; threads <= 3; threads += 2)
                {
                  bt_engine_set_threads (threads);
                  for (gsize i = 0; i < no; i++)
                    out[i] = NAN;
                  bt_conv2d_forward_fused (out, x, w, &e, &s, ws);
                  assert_close ("winograd conv", out, ref, len, 3e-4, 1e-5);
                  if (threads == 1)
                    memcpy (first, out, len * sizeof (float));
                  else
                    g_assert_cmpmem (out, len * sizeof (float), first, len * sizeof (float));
                }
            }
        }
    }
  /* stride 2 does not fit: the packed weights are ignored */
  BtConvShape s;
  g_assert_true (bt_conv_shape_init (&s, 2, 9, 9, 8, 5, 3, 3, 2, 2, 1, 1, 1, 1, 1, NULL));
  g_assert_false (bt_conv2d_winograd_fits (&s));
  g_autofree float *x = rand_buf ((gsize) s.n * s.c * s.h * s.w, 1), *w = rand_buf ((gsize) s.oc * s.c * 9, 0.5f);
  g_autofree float *shift = rand_buf (s.oc, 0.5f), *junk = rand_buf (bt_conv2d_winograd_packed_size (s.oc, s.c), 1);
  const gsize no = (gsize) s.n * s.oc * s.oh * s.ow;
  g_autofree float *ref = g_new (float, no), *out = g_new (float, no);
  g_autofree float *ws = g_new (float, MAX (bt_conv2d_workspace_size (&s), 1));
  naive_conv_epilogue (ref, x, w, &s, NULL, shift, 1, FALSE);
  BtConvEpilogue e = { NULL, shift, 1, FALSE, junk };
  bt_conv2d_forward_fused (out, x, w, &e, &s, ws);
  assert_close ("stride-2 conv given packed weights", out, ref, no, 1e-4, 1e-5);
  bt_conv2d_winograd_set_mode (-1);
  bt_engine_set_threads (3);
}

/* The naive dense layer in double: out = act (x · wᵀ + b) (b may be NULL; act 1 ReLU, 2 ReLU6) and,
 * for the output gradient r, dx = r · w, dw = rᵀ · x, db = Σ r; a NULL output is not computed. */
static void
dense_reference (float *out, float *dx, float *dw, float *db, const float *x, const float *w, const float *b,
                 const float *r, int n, int in_dim, int out_dim, int act)
{
  for (int i = 0; out && i < n; i++)
    for (int o = 0; o < out_dim; o++)
      {
        double sum = b ? b[o] : 0.0;
        for (int k = 0; k < in_dim; k++)
          sum += (double) x[(gsize) i * in_dim + k] * w[(gsize) o * in_dim + k];
        if (act >= 1)
          sum = MAX (sum, 0.0);
        if (act == 2)
          sum = MIN (sum, 6.0);
        out[(gsize) i * out_dim + o] = (float) sum;
      }
  for (int o = 0; dw && o < out_dim; o++)
    {
      double sb = 0.0;
      for (int i = 0; i < n; i++)
        sb += r[(gsize) i * out_dim + o];
      db[o] = (float) sb;
      for (int k = 0; k < in_dim; k++)
        {
          double sw = 0.0;
          for (int i = 0; i < n; i++)
            sw += (double) r[(gsize) i * out_dim + o] * x[(gsize) i * in_dim + k];
          dw[(gsize) o * in_dim + k] = (float) sw;
        }
    }
  for (int i = 0; dx && i < n; i++)
    for (int k = 0; k < in_dim; k++)
      {
        double sx = 0.0;
        for (int o = 0; o < out_dim; o++)
          sx += (double) r[(gsize) i * out_dim + o] * w[(gsize) o * in_dim + k];
        dx[(gsize) i * in_dim + k] = (float) sx;
      }
}

/* Dense layers large enough to be split over threads, against the naive loops. */
static void
test_dense_split (void)
{
  const int shapes[][3] = { { 37, 130, 70 }, { 64, 784, 256 }, { 3, 1000, 120 }, { 65, 300, 2 },
                            { 1, 3136, 128 }, { 2, 301, 77 }, { 5, 129, 1 } };   /* the last three: sgemv rows */
  for (guint t = 0; t < G_N_ELEMENTS (shapes); t++)
    {
      const int n = shapes[t][0], in_dim = shapes[t][1], out_dim = shapes[t][2];
      const gsize nx = (gsize) n * in_dim, nw = (gsize) in_dim * out_dim, no = (gsize) n * out_dim;
      g_autofree float *x = rand_buf (nx, 1), *w = rand_buf (nw, 0.2f), *b = rand_buf (out_dim, 1);
      g_autofree float *r = rand_buf (no, 1);
      g_autofree float *ref = g_new (float, no), *out = g_new (float, no);
      g_autofree float *rdx = g_new (float, nx), *rdw = g_new (float, nw), *rdb = g_new (float, out_dim);
      g_autofree float *dx = g_new (float, nx), *dw = g_new (float, nw), *db = g_new (float, out_dim);
      dense_reference (ref, rdx, rdw, rdb, x, w, b, r, n, in_dim, out_dim, 0);
      for (int threads = 1; threads <= 3; threads++)
        {
          bt_engine_set_threads (threads);
          bt_dense_forward (out, x, w, b, n, in_dim, out_dim);
          assert_close ("dense split out", out, ref, no, 1e-4, 1e-5);
          memset (dw, 0, nw * sizeof (float));
          memset (db, 0, out_dim * sizeof (float));
          bt_dense_backward (dx, dw, db, r, x, w, n, in_dim, out_dim);
          assert_close ("dense split d_in", dx, rdx, nx, 1e-4, 1e-5);
          assert_close ("dense split d_w", dw, rdw, nw, 1e-4, 1e-5);
          assert_close ("dense split d_b", db, rdb, out_dim, 1e-4, 1e-5);
        }
    }
  bt_engine_set_threads (3);
}

/* The packed inference dense layer (both tiles) and, with AVX2, the training forward (its batch
 * transposed 64 rows at a time) against the naive loops with the bias and each activation: rows
 * and outputs that are not multiples of the 6 × 16 tile, more than 64 rows, no bias, one row; the
 * same bits at 1, 2 and 3 threads. */
static void
test_dense_packed (void)
{
  const int shapes[][3] = { { 37, 130, 70 }, { 1, 3136, 128 }, { 13, 301, 17 }, { 6, 16, 16 },
                            { 5, 129, 1 }, { 64, 128, 10 }, { 2, 7, 33 }, { 70, 35, 13 }, { 130, 17, 6 },
                            { 64, 784, 256 } };
  for (guint t = 0; t < G_N_ELEMENTS (shapes); t++)
    {
      const int n = shapes[t][0], in_dim = shapes[t][1], out_dim = shapes[t][2];
      const gsize no = (gsize) n * out_dim;
      g_autofree float *x = rand_buf ((gsize) n * in_dim, 1), *w = rand_buf ((gsize) in_dim * out_dim, 0.2f);
      g_autofree float *b = rand_buf (out_dim, 1), *ref = g_new (float, no), *out = g_new (float, no);
      g_autofree float *first = g_new (float, no);
      g_autofree float *packed = g_new (float, bt_dense_packed_size (in_dim, out_dim));
      g_autofree float *scratch = g_new (float, bt_dense_train_scratch_size (n, in_dim));
      bt_dense_pack (packed, w, in_dim, out_dim);
      for (int variant = 0; variant < 6; variant++)
        {
          const int act = variant % 3;
          const float *bias = variant < 3 ? b : NULL;
          dense_reference (ref, NULL, NULL, NULL, x, w, bias, NULL, n, in_dim, out_dim, act);
          /* mode 3: the training forward */
          for (int mode = 1; mode <= (bt_cpu_has_avx2_fma () ? 3 : 2); mode++)
            {
              bt_conv2d_winograd_set_mode (MIN (mode, 2));
              g_assert_true (bt_dense_fast_fits ());
              for (int threads = 1; threads <= 3; threads++)
                {
                  bt_engine_set_threads (threads);
                  for (gsize i = 0; i < no; i++)
                    out[i] = NAN;
                  if (mode == 3)
                    bt_dense_forward_train (out, x, w, bias, n, in_dim, out_dim, act, scratch);
                  else
                    bt_dense_forward_packed (out, x, packed, bias, n, in_dim, out_dim, act);
                  assert_close (mode == 3 ? "training dense" : "packed dense", out, ref, no, 1e-4, 1e-5);
                  if (threads == 1)
                    memcpy (first, out, no * sizeof (float));
                  else
                    g_assert_cmpmem (out, no * sizeof (float), first, no * sizeof (float));
                }
            }
        }
    }
  bt_conv2d_winograd_set_mode (0);
  g_assert_false (bt_dense_fast_fits ());
  bt_conv2d_winograd_set_mode (-1);
  bt_engine_set_threads (3);
}

/* The training dense backward (bt-dense-fast.c) against the naive loops on odd shapes: d_w
 * written over garbage or added to, d_in left out; the same bits at 1, 2 and 3 threads; and a
 * central-difference check of the training kernels' gradients (their forward: test_dense_packed). */
typedef struct { int n, in_dim, out_dim, act; float *x, *w, *b, *out, *r, *scratch; } TrainDenseCtx;

static double
train_dense_loss (gpointer p)
{
  TrainDenseCtx *c = p;
  bt_dense_forward_train (c->out, c->x, c->w, c->b, c->n, c->in_dim, c->out_dim, c->act, c->scratch);
  return dot (c->out, c->r, (gsize) c->n * c->out_dim);
}

static void
test_dense_train (void)
{
  if (!bt_cpu_has_avx2_fma ())
    {
      g_test_skip ("the training dense kernels need AVX2 and FMA");
      return;
    }
  bt_conv2d_winograd_set_mode (2);
  g_assert_true (bt_dense_train_fast ());
  const int shapes[][3] = { { 64, 784, 256 }, { 70, 35, 13 }, { 130, 17, 6 }, { 1, 3136, 128 },
                            { 5, 1, 1 }, { 13, 301, 17 }, { 64, 128, 10 }, { 3, 40, 7 } };
  for (guint t = 0; t < G_N_ELEMENTS (shapes); t++)
    {
      const int n = shapes[t][0], in_dim = shapes[t][1], out_dim = shapes[t][2];
      const gsize nx = (gsize) n * in_dim, nw = (gsize) in_dim * out_dim, no = (gsize) n * out_dim;
      g_autofree float *x = rand_buf (nx, 1), *w = rand_buf (nw, 0.2f), *b = rand_buf (out_dim, 1);
      g_autofree float *r = rand_buf (no, 1), *out = g_new (float, no);
      g_autofree float *scratch = g_new (float, bt_dense_train_scratch_size (n, in_dim));
      g_autofree float *rdx = g_new (float, nx), *rdw = g_new (float, nw), *rdb = g_new (float, out_dim);
      g_autofree float *dx = g_new (float, nx), *dw = g_new (float, nw), *db = g_new (float, out_dim);
      g_autofree float *dx1 = g_new (float, nx), *dw1 = g_new (float, nw), *base = rand_buf (nw, 1);
      dense_reference (NULL, rdx, rdw, rdb, x, w, NULL, r, n, in_dim, out_dim, 0);
      for (int threads = 1; threads <= 3; threads++)
        {
          bt_engine_set_threads (threads);
          /* written over garbage (the gradients were zeroed), d_b added to zeros */
          for (gsize i = 0; i < nw; i++)
            dw[i] = NAN;
          for (gsize i = 0; i < nx; i++)
            dx[i] = NAN;
          memset (db, 0, out_dim * sizeof (float));
          bt_dense_backward_train (dx, dw, TRUE, db, r, x, w, n, in_dim, out_dim);
          assert_close ("training dense d_in", dx, rdx, nx, 1e-4, 1e-5);
          assert_close ("training dense d_w", dw, rdw, nw, 1e-4, 1e-5);
          assert_close ("training dense d_b", db, rdb, out_dim, 1e-4, 1e-5);
          if (threads == 1)
            {
              memcpy (dx1, dx, nx * sizeof (float));
              memcpy (dw1, dw, nw * sizeof (float));
            }
          g_assert_cmpmem (dx, nx * sizeof (float), dx1, nx * sizeof (float));
          g_assert_cmpmem (dw, nw * sizeof (float), dw1, nw * sizeof (float));
          /* added to what is there; no d_in asked for */
          memcpy (dw, base, nw * sizeof (float));
          bt_dense_backward_train (NULL, dw, FALSE, NULL, r, x, w, n, in_dim, out_dim);
          for (gsize i = 0; i < nw; i++)
            if (fabsf ((dw[i] - base[i]) - rdw[i]) > 1e-4f + 1e-4f * fabsf (rdw[i]) + 1e-6f * fabsf (base[i]))
              g_error ("training dense d_w added: [%" G_GSIZE_FORMAT "] %g, want %g", i, dw[i] - base[i], rdw[i]);
        }
      if (nx * out_dim < 200000)
        {
          TrainDenseCtx c = { n, in_dim, out_dim, 0, x, w, b, out, r, scratch };
          /* no activation: a ReLU's kink within the step would fail a correct gradient */
          memset (db, 0, out_dim * sizeof (float));
          bt_dense_backward_train (dx, dw, TRUE, db, r, x, w, n, in_dim, out_dim);
          check_grad ("training dense d_in", x, dx, nx, train_dense_loss, &c, 1e-2f);
          check_grad ("training dense d_w", w, dw, nw, train_dense_loss, &c, 1e-2f);
          check_grad ("training dense d_b", b, db, out_dim, train_dense_loss, &c, 1e-2f);
        }
    }
  bt_conv2d_winograd_set_mode (0);
  g_assert_false (bt_dense_train_fast ());
  bt_conv2d_winograd_set_mode (-1);
  bt_engine_set_threads (3);
}

static void
test_conv_shape_errors (void)
{
  BtConvShape s;
  const int bad[][15] = {
    { 0, 1, 4, 4, 1, 3, 3, 1, 1, 0, 0, 0, 0, 1 },
    { 1, 1, 2, 2, 1, 3, 3, 1, 1, 0, 0, 0, 0, 1 },   /* kernel larger than input */
    { 1, 1, 4, 4, 1, 3, 3, 0, 1, 0, 0, 0, 0, 1 },   /* stride 0 */
    { 1, 1, 4, 4, 1, 3, 3, 1, 1, -1, 0, 0, 0, 1 },  /* negative pad */
    { 1, 3, 4, 4, 4, 3, 3, 1, 1, 0, 0, 0, 0, 3 },   /* oc not a multiple of c */
    { 1, 3, 4, 4, 4, 3, 3, 1, 1, 0, 0, 0, 0, 2 },   /* grouped conv unsupported */
    { 1, 1, 4, 4, 1, 3, 3, 1, 1, 3, 0, 0, 0, 1 },   /* pad ≥ kernel */
    { 65536, 65536, 65536, 65536, 1, 3, 3, 1, 1, 0, 0, 0, 0, 1 }, /* absurd */
  };
  for (guint t = 0; t < G_N_ELEMENTS (bad); t++)
    {
      g_autoptr (GError) error = NULL;
      const int *b = bad[t];
      g_assert_false (bt_conv_shape_init (&s, b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8],
                                          b[9], b[10], b[11], b[12], b[13], &error));
      g_assert_nonnull (error);
      g_assert_true (error->domain == BT_ENGINE_ERROR);
    }
  g_assert_true (bt_conv_shape_init (&s, 2, 3, 28, 28, 8, 3, 3, 2, 2, 0, 0, 1, 1, 1, NULL));
  g_assert_cmpint (s.oh, ==, 14);
  g_assert_cmpint (s.ow, ==, 14);
}

/* ---- Pooling ---- */

typedef struct { BtConvShape s; float *x, *out, *r; gint32 *am; gboolean avg; } PoolCtx;

static double
pool_loss (gpointer p)
{
  PoolCtx *c = p;
  if (c->avg)
    bt_avgpool2d_forward (c->out, c->x, &c->s);
  else
    bt_maxpool2d_forward (c->out, c->am, c->x, &c->s);
  return dot (c->out, c->r, (gsize) c->s.n * c->s.c * c->s.oh * c->s.ow);
}

static void
naive_pool (float *out, const float *in, const BtConvShape *s, gboolean avg)
{
  for (int pl = 0; pl < s->n * s->c; pl++)
    for (int oy = 0; oy < s->oh; oy++)
      for (int ox = 0; ox < s->ow; ox++)
        {
          double acc = avg ? 0.0 : -INFINITY;
          int count = 0;
          for (int ky = 0; ky < s->kh; ky++)
            for (int kx = 0; kx < s->kw; kx++)
              {
                int iy = oy * s->stride_h - s->pad_top + ky, ix = ox * s->stride_w - s->pad_left + kx;
                if (iy < 0 || iy >= s->h || ix < 0 || ix >= s->w)
                  continue;
                double v = in[(pl * s->h + iy) * s->w + ix];
                acc = avg ? acc + v : MAX (acc, v);
                count++;
              }
          out[(pl * s->oh + oy) * s->ow + ox] = (float) (avg ? acc / count : acc);
        }
}

static void
test_pool (void)
{
  /* n c h w kh kw sh sw pt pl pb pr */
  const int shapes[][12] = {
    { 2, 3, 8, 8, 2, 2, 2, 2, 0, 0, 0, 0 },
    { 1, 2, 7, 9, 2, 2, 2, 2, 0, 0, 0, 0 },   /* odd: last row/col dropped */
    { 2, 2, 7, 7, 3, 3, 2, 2, 1, 1, 1, 1 },
    { 1, 3, 6, 5, 3, 3, 2, 2, 0, 0, 1, 1 },   /* asymmetric (SAME) */
    { 1, 1, 5, 5, 3, 2, 1, 1, 1, 0, 1, 1 },
  };
  for (int avg = 0; avg <= 1; avg++)
    for (guint t = 0; t < G_N_ELEMENTS (shapes); t++)
      {
        const int *v = shapes[t];
        PoolCtx c = { .avg = avg };
        g_assert_true (bt_conv_shape_init (&c.s, v[0], v[1], v[2], v[3], v[1], v[4], v[5], v[6], v[7],
                                           v[8], v[9], v[10], v[11], 1, NULL));
        gsize nx = (gsize) v[0] * v[1] * v[2] * v[3], no = (gsize) v[0] * v[1] * c.s.oh * c.s.ow;
        c.x = distinct_buf (nx); c.out = g_new (float, no); c.r = rand_buf (no, 1);
        c.am = g_new (gint32, no);
        g_autofree float *ref = g_new (float, no);
        pool_loss (&c);
        naive_pool (ref, c.x, &c.s, avg);
        assert_close (avg ? "avgpool" : "maxpool", c.out, ref, no, 1e-6, 1e-6);
        g_autofree float *dx = g_new (float, nx);
        if (avg)
          bt_avgpool2d_backward (dx, c.r, &c.s);
        else
          bt_maxpool2d_backward (dx, c.r, c.am, &c.s);
        check_grad (avg ? "avgpool d_in" : "maxpool d_in", c.x, dx, nx, pool_loss, &c, 1e-2f);
        g_free (c.x); g_free (c.out); g_free (c.r); g_free (c.am);
      }
}

typedef struct { int n, c, h, w; float *x, *out, *r; } GapCtx;

static double
gap_loss (gpointer p)
{
  GapCtx *c = p;
  bt_gap_forward (c->out, c->x, c->n, c->c, c->h, c->w);
  return dot (c->out, c->r, (gsize) c->n * c->c);
}

/* The 2×2/2 max pool's vector path against a naive scan with the same rule (the first maximum in
 * scan order wins a tie): values and argmax indices, with many ties, widths that leave a tail. */
static void
test_maxpool_fast (void)
{
  const int shapes[][4] = { { 3, 5, 28, 28 }, { 2, 3, 14, 14 }, { 1, 2, 9, 19 }, { 2, 1, 4, 16 }, { 1, 1, 2, 2 } };
  for (guint t = 0; t < G_N_ELEMENTS (shapes); t++)
    {
      const int *v = shapes[t];
      BtConvShape s;
      g_assert_true (bt_conv_shape_init (&s, v[0], v[1], v[2], v[3], v[1], 2, 2, 2, 2, 0, 0, 0, 0, 1, NULL));
      const gsize nx = (gsize) v[0] * v[1] * v[2] * v[3], no = (gsize) v[0] * v[1] * s.oh * s.ow;
      g_autofree float *x = g_new (float, nx);
      for (gsize i = 0; i < nx; i++)
        x[i] = floorf (bt_rng_uniform (&rng) * 4.0f) - 2.0f;   /* few distinct values: ties */
      g_autofree float *out = g_new (float, no);
      g_autofree gint32 *am = g_new (gint32, no);
      bt_maxpool2d_forward (out, am, x, &s);
      const int HW = s.h * s.w, P = s.oh * s.ow;
      for (gsize pl = 0; pl < (gsize) v[0] * v[1]; pl++)
        for (int oy = 0; oy < s.oh; oy++)
          for (int ox = 0; ox < s.ow; ox++)
            {
              float best = 0.0f;
              int bi = -1;
              for (int ky = 0; ky < 2; ky++)
                for (int kx = 0; kx < 2; kx++)
                  {
                    int i = (2 * oy + ky) * s.w + 2 * ox + kx;
                    if (bi < 0 || x[pl * HW + i] > best)
                      best = x[pl * HW + i], bi = i;
                  }
              g_assert_cmpfloat (out[pl * P + oy * s.ow + ox], ==, best);
              g_assert_cmpint (am[pl * P + oy * s.ow + ox], ==, bi);
            }
    }
}

static void
test_gap (void)
{
  GapCtx c = { 3, 4, 5, 3 };
  gsize nx = (gsize) c.n * c.c * c.h * c.w;
  c.x = rand_buf (nx, 1); c.out = g_new (float, c.n * c.c); c.r = rand_buf (c.n * c.c, 1);
  gap_loss (&c);
  for (int pl = 0; pl < c.n * c.c; pl++)
    {
      double s = 0;
      for (int i = 0; i < c.h * c.w; i++)
        s += c.x[pl * c.h * c.w + i];
      g_assert_cmpfloat_with_epsilon (c.out[pl], s / (c.h * c.w), 1e-6);
    }
  g_autofree float *dx = g_new (float, nx);
  bt_gap_backward (dx, c.r, c.n, c.c, c.h, c.w);
  check_grad ("gap d_in", c.x, dx, nx, gap_loss, &c, 1e-2f);
  g_free (c.x); g_free (c.out); g_free (c.r);
}

/* ---- Elementwise ---- */

typedef struct { gsize len; float *x, *out, *r; int kind; } EwCtx;

static double
ew_loss (gpointer p)
{
  EwCtx *c = p;
  if (c->kind == 0)
    bt_relu_forward (c->out, c->x, c->len);
  else
    bt_relu6_forward (c->out, c->x, c->len);
  return dot (c->out, c->r, c->len);
}

static void
test_relu (void)
{
  for (int kind = 0; kind < 2; kind++)
    {
      EwCtx c = { 301, .kind = kind };
      c.x = rand_buf (c.len, 8); c.out = g_new (float, c.len); c.r = rand_buf (c.len, 1);
      /* keep inputs away from the kinks at 0 and 6 */
      for (gsize i = 0; i < c.len; i++)
        if (fabsf (c.x[i]) < 0.05f || fabsf (c.x[i] - 6.0f) < 0.05f)
          c.x[i] += 0.2f;
      ew_loss (&c);
      for (gsize i = 0; i < c.len; i++)
        {
          float want = MAX (c.x[i], 0.0f);
          if (kind == 1)
            want = MIN (want, 6.0f);
          g_assert_cmpfloat (c.out[i], ==, want);
        }
      g_autofree float *dx = g_new (float, c.len);
      if (kind == 0)
        bt_relu_backward (dx, c.r, c.out, c.len);
      else
        bt_relu6_backward (dx, c.r, c.x, c.len);
      check_grad (kind ? "relu6" : "relu", c.x, dx, c.len, ew_loss, &c, 1e-2f);
      g_free (c.x); g_free (c.out); g_free (c.r);
    }
}

static void
test_dropout (void)
{
  const gsize len = 20000;
  g_autofree float *x = rand_buf (len, 1), *out = g_new (float, len), *mask = g_new (float, len);
  g_autofree float *out2 = g_new (float, len), *mask2 = g_new (float, len);
  BtRng a, b;
  bt_rng_seed (&a, 7);
  b = a;
  bt_dropout_forward (out, mask, x, len, 0.25f, &a);
  bt_dropout_forward (out2, mask2, x, len, 0.25f, &b);
  g_assert_cmpmem (mask, len * sizeof (float), mask2, len * sizeof (float));
  gsize zeros = 0;
  for (gsize i = 0; i < len; i++)
    {
      g_assert_true (mask[i] == 0.0f || mask[i] == 1.0f / 0.75f);
      zeros += mask[i] == 0.0f;
      g_assert_cmpfloat (out[i], ==, x[i] * mask[i]);
    }
  g_assert_cmpfloat (fabs ((double) zeros / len - 0.25), <, 0.02);
  g_autofree float *r = rand_buf (len, 1), *dx = g_new (float, len);
  bt_dropout_backward (dx, r, mask, len);
  for (gsize i = 0; i < len; i++)
    g_assert_cmpfloat (dx[i], ==, r[i] * mask[i]);
  /* a different stream gives a different mask */
  bt_dropout_forward (out2, mask2, x, len, 0.25f, &a);
  g_assert_true (memcmp (mask, mask2, len * sizeof (float)) != 0);
  /* p = 0 is the identity */
  bt_dropout_forward (out2, mask2, x, len, 0.0f, &a);
  g_assert_cmpmem (out2, len * sizeof (float), x, len * sizeof (float));
}

static void
test_add (void)
{
  const gsize len = 37;
  g_autofree float *a = rand_buf (len, 1), *b = rand_buf (len, 1), *o = g_new (float, len);
  bt_add_forward (o, a, b, len);
  for (gsize i = 0; i < len; i++)
    g_assert_cmpfloat (o[i], ==, a[i] + b[i]);
}

/* ---- Batch norm ---- */

typedef struct { int n, c, hw; float *x, *gamma, *beta, *out, *r, *mean, *invstd; } BnCtx;

static double
bn_loss (gpointer p)
{
  BnCtx *c = p;
  bt_batchnorm_forward_train (c->out, c->mean, c->invstd, NULL, NULL, c->x, c->gamma, c->beta,
                              c->n, c->c, c->hw, 0.1f, 1e-5f);
  return dot (c->out, c->r, (gsize) c->n * c->c * c->hw);
}

static void
test_batchnorm (void)
{
  const int shapes[][3] = { { 4, 3, 5 }, { 2, 2, 9 }, { 7, 5, 1 } };
  for (guint t = 0; t < G_N_ELEMENTS (shapes); t++)
    {
      BnCtx c = { shapes[t][0], shapes[t][1], shapes[t][2] };
      gsize len = (gsize) c.n * c.c * c.hw;
      c.x = rand_buf (len, 2); c.gamma = rand_buf (c.c, 1); c.beta = rand_buf (c.c, 1);
      c.out = g_new (float, len); c.r = rand_buf (len, 1);
      c.mean = g_new (float, c.c); c.invstd = g_new (float, c.c);
      for (gsize i = 0; i < len; i++)
        c.x[i] += 0.5f;
      g_autofree float *rm = g_new0 (float, c.c), *rv = g_new (float, c.c);
      for (int ch = 0; ch < c.c; ch++)
        rv[ch] = 1.0f;
      bt_batchnorm_forward_train (c.out, c.mean, c.invstd, rm, rv, c.x, c.gamma, c.beta,
                                  c.n, c.c, c.hw, 0.1f, 1e-5f);
      /* naive reference in double */
      int M = c.n * c.hw;
      for (int ch = 0; ch < c.c; ch++)
        {
          double mean = 0, var = 0;
          for (int img = 0; img < c.n; img++)
            for (int i = 0; i < c.hw; i++)
              mean += c.x[(img * c.c + ch) * c.hw + i];
          mean /= M;
          for (int img = 0; img < c.n; img++)
            for (int i = 0; i < c.hw; i++)
              var += pow (c.x[(img * c.c + ch) * c.hw + i] - mean, 2);
          double unb = var / (M - 1);
          var /= M;
          for (int img = 0; img < c.n; img++)
            for (int i = 0; i < c.hw; i++)
              {
                int k = (img * c.c + ch) * c.hw + i;
                double want = (c.x[k] - mean) / sqrt (var + 1e-5) * c.gamma[ch] + c.beta[ch];
                g_assert_cmpfloat_with_epsilon (c.out[k], want, 1e-4);
              }
          g_assert_cmpfloat_with_epsilon (rm[ch], 0.1 * mean, 1e-5);
          g_assert_cmpfloat_with_epsilon (rv[ch], 0.9 + 0.1 * unb, 1e-4);
        }
      /* inference with the running stats equals the naive formula */
      bt_batchnorm_forward_infer (c.out, c.x, c.gamma, c.beta, rm, rv, c.n, c.c, c.hw, 1e-5f);
      for (gsize k = 0; k < len; k++)
        {
          int ch = (int) (k / c.hw) % c.c;
          double want = (c.x[k] - rm[ch]) / sqrt (rv[ch] + 1e-5) * c.gamma[ch] + c.beta[ch];
          g_assert_cmpfloat_with_epsilon (c.out[k], want, 1e-4);
        }
      bn_loss (&c);
      g_autofree float *dx = g_new (float, len), *dg = g_new0 (float, c.c), *dbt = g_new0 (float, c.c);
      bt_batchnorm_backward (dx, dg, dbt, c.r, c.x, c.gamma, c.mean, c.invstd, c.n, c.c, c.hw);
      check_grad ("bn d_in", c.x, dx, len, bn_loss, &c, 1e-2f);
      check_grad ("bn d_gamma", c.gamma, dg, c.c, bn_loss, &c, 1e-2f);
      check_grad ("bn d_beta", c.beta, dbt, c.c, bn_loss, &c, 1e-2f);
      g_free (c.x); g_free (c.gamma); g_free (c.beta); g_free (c.out); g_free (c.r);
      g_free (c.mean); g_free (c.invstd);
    }
}

/* ---- Softmax + cross-entropy ---- */

static void
test_softmax (void)
{
  const int n = 4, k = 5;
  float logits[4 * 5], probs[4 * 5];
  for (int i = 0; i < n * k; i++)
    logits[i] = (bt_rng_uniform (&rng) - 0.5f) * 10;
  logits[0] = 1000.0f;  /* would overflow exp without the row max */
  logits[5] = -1000.0f;
  bt_softmax_forward (probs, logits, n, k);
  for (int i = 0; i < n; i++)
    {
      double mx = -INFINITY, sum = 0, s2 = 0;
      for (int j = 0; j < k; j++)
        mx = MAX (mx, logits[i * k + j]);
      for (int j = 0; j < k; j++)
        sum += exp (logits[i * k + j] - mx);
      for (int j = 0; j < k; j++)
        {
          g_assert_true (isfinite (probs[i * k + j]));
          g_assert_cmpfloat_with_epsilon (probs[i * k + j], exp (logits[i * k + j] - mx) / sum, 1e-6);
          s2 += probs[i * k + j];
        }
      g_assert_cmpfloat_with_epsilon (s2, 1.0, 1e-5);
    }
}

typedef struct { int n, k; float *logits, *probs; int *labels; float *cw; float ls; } XentCtx;

static double
xent_loss (gpointer p)
{
  XentCtx *c = p;
  bt_softmax_forward (c->probs, c->logits, c->n, c->k);
  return bt_softmax_xent (NULL, c->probs, c->labels, c->n, c->k, c->cw, c->ls) / c->n;
}

static void
test_softmax_xent (void)
{
  /* uniform probabilities: loss log k per row, with or without smoothing */
  float probs[3 * 4];
  int labels[3] = { 0, 3, 1 };
  for (int i = 0; i < 12; i++)
    probs[i] = 0.25f;
  g_assert_cmpfloat_with_epsilon (bt_softmax_xent (NULL, probs, labels, 3, 4, NULL, 0.0f), 3 * log (4.0), 1e-5);
  g_assert_cmpfloat_with_epsilon (bt_softmax_xent (NULL, probs, labels, 3, 4, NULL, 0.3f), 3 * log (4.0), 1e-5);
  float w[4] = { 2.0f, 1.0f, 0.5f, 3.0f };
  g_assert_cmpfloat_with_epsilon (bt_softmax_xent (NULL, probs, labels, 3, 4, w, 0.0f), (2 + 3 + 1) * log (4.0), 1e-5);

  for (int variant = 0; variant < 4; variant++)
    {
      XentCtx c = { 5, 7 };
      int lab[5] = { 0, 6, 3, 3, 2 };
      float cw[7] = { 1, 2, 0.5f, 1.5f, 1, 1, 3 };
      c.labels = lab;
      c.cw = (variant & 1) ? cw : NULL;
      c.ls = (variant & 2) ? 0.1f : 0.0f;
      c.logits = rand_buf (35, 3);
      c.probs = g_new (float, 35);
      xent_loss (&c);
      g_autofree float *d = g_new (float, 35);
      bt_softmax_xent (d, c.probs, c.labels, c.n, c.k, c.cw, c.ls);
      check_grad ("softmax-xent d_logits", c.logits, d, 35, xent_loss, &c, 1e-2f);
      /* with smoothing each row's gradient still sums to zero */
      for (int i = 0; i < c.n; i++)
        {
          double s = 0;
          for (int j = 0; j < c.k; j++)
            s += d[i * c.k + j];
          g_assert_cmpfloat_with_epsilon (s, 0.0, 1e-6);
        }
      g_free (c.logits); g_free (c.probs);
    }
}

/* ---- RNG ---- */

static void
test_rng (void)
{
  BtRng a, b;
  bt_rng_seed (&a, 42);
  bt_rng_seed (&b, 42);
  for (int i = 0; i < 100; i++)
    g_assert_cmpuint (bt_rng_next (&a), ==, bt_rng_next (&b));
  bt_rng_seed (&b, 43);
  g_assert_cmpuint (bt_rng_next (&a), !=, bt_rng_next (&b));

  double sum = 0, sq = 0;
  const int N = 100000;
  guint counts[10] = { 0 };
  for (int i = 0; i < N; i++)
    {
      float u = bt_rng_uniform (&a);
      g_assert_cmpfloat (u, >=, 0.0f);
      g_assert_cmpfloat (u, <, 1.0f);
      float z = bt_rng_normal (&a);
      g_assert_true (isfinite (z));
      sum += z;
      sq += z * z;
      guint32 k = bt_rng_below (&a, 10);
      g_assert_cmpuint (k, <, 10);
      counts[k]++;
    }
  g_assert_cmpfloat (fabs (sum / N), <, 0.02);
  g_assert_cmpfloat (fabs (sq / N - 1.0), <, 0.03);
  for (int k = 0; k < 10; k++)
    g_assert_cmpuint (counts[k], >, N / 10 - 600);
  g_assert_cmpuint (bt_rng_below (&a, 1), ==, 0);

  guint32 v[50];
  for (guint32 i = 0; i < 50; i++)
    v[i] = i;
  bt_rng_shuffle (&a, v, 50);
  gboolean moved = FALSE, seen[50] = { FALSE };
  for (guint32 i = 0; i < 50; i++)
    {
      g_assert_false (seen[v[i]]);
      seen[v[i]] = TRUE;
      moved |= v[i] != i;
    }
  g_assert_true (moved);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  bt_rng_seed (&rng, g_test_rand_int ());
  /* three threads: the kernels' own loops split into uneven ranges */
  bt_engine_set_threads (3);
  g_test_add_func ("/layers/rng", test_rng);
  g_test_add_func ("/layers/dense", test_dense);
  g_test_add_func ("/layers/conv2d", test_conv2d);
  g_test_add_func ("/layers/conv2d-large", test_conv2d_large);
  g_test_add_func ("/layers/conv2d-schedules", test_conv2d_schedules);
  g_test_add_func ("/layers/dense-split", test_dense_split);
  g_test_add_func ("/layers/sgemm-blocks", test_sgemm_blocks);
  g_test_add_func ("/layers/conv-fused", test_conv_fused);
  g_test_add_func ("/layers/conv-winograd", test_conv_winograd);
  g_test_add_func ("/layers/dense-packed", test_dense_packed);
  g_test_add_func ("/layers/dense-train", test_dense_train);
  g_test_add_func ("/layers/conv-shape-errors", test_conv_shape_errors);
  g_test_add_func ("/layers/dwconv2d", test_dwconv2d);
  g_test_add_func ("/layers/pool", test_pool);
  g_test_add_func ("/layers/maxpool-fast", test_maxpool_fast);
  g_test_add_func ("/layers/gap", test_gap);
  g_test_add_func ("/layers/relu", test_relu);
  g_test_add_func ("/layers/dropout", test_dropout);
  g_test_add_func ("/layers/add", test_add);
  g_test_add_func ("/layers/batchnorm", test_batchnorm);
  g_test_add_func ("/layers/softmax", test_softmax);
  g_test_add_func ("/layers/softmax-xent", test_softmax_xent);
  return g_test_run ();
}
