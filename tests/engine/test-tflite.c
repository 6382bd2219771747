/* test-tflite.c: the TFLite reader against naive NHWC references of every operator (one-operator
 * models written by tflite-builder.h), quantized weights, unsupported operators, and broken files. */
#include "config.h"

#include <math.h>

#include "engine/bt-tflite-private.h"
#include "engine/bt-tflite-int8.h"
#include "tflite-builder.h"

enum { SAME = 0, VALID = 1 };
enum { ACT_NONE = 0, ACT_RELU = 1, ACT_RELU6 = 3 };

static void
fill_random (float *x, gsize n, BtRng *rng)
{
  for (gsize i = 0; i < n; i++)
    x[i] = 2.f * bt_rng_uniform (rng) - 1.f;
}

static float
act_ref (float v, int act)
{
  if (act == ACT_RELU)
    return v > 0 ? v : 0;
  if (act == ACT_RELU6)
    return v < 0 ? 0 : (v > 6 ? 6 : v);
  return v;
}

static void
geometry_ref (int in, int k, int stride, int padding, int *out, int *before)
{
  if (padding == SAME)
    {
      int total;
      *out = (in + stride - 1) / stride;
      total = (*out - 1) * stride + k - in;
      *before = total > 0 ? total / 2 : 0;
    }
  else
    {
      *out = (in - k) / stride + 1;
      *before = 0;
    }
}

/* Loads, runs on an NHWC input, returns the output in TFLite's own element order. */
static float *
run_model (GBytes *bytes, const float *in_nhwc, gsize *n_out)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(BtTflite) m = bt_tflite_load_bytes (bytes, &error);
  g_autoptr(BtTfliteExec) e = NULL;
  g_autofree float *x = NULL;
  const float *y;
  int h, w, c;

  g_assert_no_error (error);
  g_assert_nonnull (m);
  bt_tflite_input_shape (m, &h, &w, &c);
  x = g_new (float, (gsize) h * w * c);
  bt_tflite_nhwc_to_nchw (x, in_nhwc, 1, h, w, c);
  e = bt_tflite_exec_new (m, &error);
  g_assert_no_error (error);
  y = bt_tflite_exec_run (e, x, -1, n_out, &error);
  g_assert_no_error (error);
  g_assert_nonnull (y);
  return g_memdup2 (y, sizeof (float) * *n_out);
}

static void
assert_close (const float *got, const float *want, gsize n, float tol)
{
  for (gsize i = 0; i < n; i++)
    if (!(fabsf (got[i] - want[i]) <= tol * (1.f + fabsf (want[i]))))
      g_error ("element %" G_GSIZE_FORMAT ": got %g, want %g", i, got[i], want[i]);
}

/* ---- CONV_2D and DEPTHWISE_CONV_2D ---- */

typedef struct {
  int h, w, c, oc, k, stride_h, stride_w, padding, act;
  gboolean depthwise;
} ConvCase;

/* f: TFLite layout ([oc, kh, kw, c] or depthwise [1, kh, kw, oc]). */
static void
conv_ref (float *out, const float *in, const float *f, const float *b, const ConvCase *cc,
          int oh, int ow, int pt, int pl)
{
  int mult = cc->depthwise ? cc->oc / cc->c : 1;
  for (int oy = 0; oy < oh; oy++)
    for (int ox = 0; ox < ow; ox++)
      for (int o = 0; o < cc->oc; o++)
        {
          double acc = b[o];
          for (int ky = 0; ky < cc->k; ky++)
            for (int kx = 0; kx < cc->k; kx++)
              {
                int iy = oy * cc->stride_h - pt + ky, ix = ox * cc->stride_w - pl + kx;
                if (iy < 0 || iy >= cc->h || ix < 0 || ix >= cc->w)
                  continue;
                if (cc->depthwise)
                  acc += (double) in[(iy * cc->w + ix) * cc->c + o / mult]
                         * f[(ky * cc->k + kx) * cc->oc + o];
                else
                  for (int ci = 0; ci < cc->c; ci++)
                    acc += (double) in[(iy * cc->w + ix) * cc->c + ci]
                           * f[((o * cc->k + ky) * cc->k + kx) * cc->c + ci];
              }
          out[(oy * ow + ox) * cc->oc + o] = act_ref ((float) acc, cc->act);
        }
}

static void
check_conv_case (const ConvCase *cc, BtRng *rng)
{
  TflBuilder mb;
  int oh, ow, pt, pl;
  int in_shape[4] = { 1, cc->h, cc->w, cc->c };
  int f_shape[4] = { cc->depthwise ? 1 : cc->oc, cc->k, cc->k, cc->depthwise ? cc->oc : cc->c };
  int b_shape[1] = { cc->oc };
  gsize nf = (gsize) cc->oc * cc->k * cc->k * (cc->depthwise ? 1 : cc->c);
  g_autofree float *f = g_new (float, nf);
  g_autofree float *b = g_new (float, cc->oc);
  g_autofree float *x = g_new (float, (gsize) cc->h * cc->w * cc->c);
  g_autofree float *want = NULL, *got = NULL;
  g_autoptr(GBytes) bytes = NULL;
  gsize n;
  int ti, tf, tb, to;

  geometry_ref (cc->h, cc->k, cc->stride_h, cc->padding, &oh, &pt);
  geometry_ref (cc->w, cc->k, cc->stride_w, cc->padding, &ow, &pl);
  fill_random (f, nf, rng);
  fill_random (b, cc->oc, rng);
  fill_random (x, (gsize) cc->h * cc->w * cc->c, rng);

  tflb_init (&mb);
  ti = tflb_float (&mb, 4, in_shape, NULL);
  tf = tflb_float (&mb, 4, f_shape, f);
  tb = tflb_float (&mb, 1, b_shape, b);
  {
    int o_shape[4] = { 1, oh, ow, cc->oc };
    int ins[3] = { ti, tf, tb };
    to = tflb_float (&mb, 4, o_shape, NULL);
    if (cc->depthwise)
      tflb_op (&mb, BT_TFL_OP_DEPTHWISE_CONV_2D, NULL, 3, ins, to, 2,
               tflb_dw_options (cc->padding, cc->stride_w, cc->stride_h, cc->oc / cc->c, cc->act));
    else
      tflb_op (&mb, BT_TFL_OP_CONV_2D, NULL, 3, ins, to, 1,
               tflb_conv_options (cc->padding, cc->stride_w, cc->stride_h, cc->act));
  }
  bytes = tflb_finish (&mb, ti, to);

  want = g_new (float, (gsize) oh * ow * cc->oc);
  conv_ref (want, x, f, b, cc, oh, ow, pt, pl);
  got = run_model (bytes, x, &n);
  g_assert_cmpuint (n, ==, (gsize) oh * ow * cc->oc);
  assert_close (got, want, n, 1e-4f);
}

static void
test_conv (void)
{
  static const ConvCase cases[] = {
    /* h  w  c oc k sh sw pad act dw */
    { 9, 9, 3, 8, 3, 1, 1, SAME, ACT_NONE, FALSE },
    { 10, 10, 3, 8, 3, 2, 2, SAME, ACT_RELU6, FALSE },   /* asymmetric SAME padding */
    { 11, 8, 4, 5, 3, 2, 1, SAME, ACT_RELU, FALSE },
    { 9, 9, 3, 4, 3, 2, 2, VALID, ACT_NONE, FALSE },
    { 7, 6, 16, 24, 1, 1, 1, VALID, ACT_RELU6, FALSE },  /* pointwise: direct sgemm */
    { 8, 8, 6, 4, 1, 2, 2, SAME, ACT_NONE, FALSE },      /* strided 1×1 */
    { 6, 7, 2, 3, 5, 1, 1, SAME, ACT_NONE, FALSE },
  };
  BtRng rng;
  bt_rng_seed (&rng, 1);
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    check_conv_case (&cases[i], &rng);
}

static void
test_depthwise (void)
{
  static const ConvCase cases[] = {
    { 12, 12, 8, 8, 3, 1, 1, SAME, ACT_RELU6, TRUE },   /* fast 3×3 path */
    { 12, 12, 8, 8, 3, 2, 2, SAME, ACT_NONE, TRUE },    /* stride 2, pads bottom/right */
    { 13, 11, 4, 4, 3, 2, 2, SAME, ACT_RELU, TRUE },
    { 9, 9, 3, 6, 3, 1, 1, SAME, ACT_NONE, TRUE },      /* multiplier 2 */
    { 9, 10, 4, 4, 3, 1, 1, VALID, ACT_NONE, TRUE },
    { 10, 10, 4, 4, 5, 2, 2, SAME, ACT_NONE, TRUE },    /* engine kernel */
    { 3, 3, 2, 2, 3, 1, 1, SAME, ACT_NONE, TRUE },
  };
  BtRng rng;
  bt_rng_seed (&rng, 2);
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    check_conv_case (&cases[i], &rng);
}

/* ---- Pools ---- */

static void
check_pool (gboolean is_max, int h, int w, int c, int k, int stride, int padding, BtRng *rng)
{
  TflBuilder mb;
  int oh, ow, pt, pl;
  int in_shape[4] = { 1, h, w, c };
  g_autofree float *x = g_new (float, (gsize) h * w * c);
  g_autofree float *want = NULL, *got = NULL;
  g_autoptr(GBytes) bytes = NULL;
  gsize n;
  int ti, to;

  geometry_ref (h, k, stride, padding, &oh, &pt);
  geometry_ref (w, k, stride, padding, &ow, &pl);
  fill_random (x, (gsize) h * w * c, rng);
  tflb_init (&mb);
  ti = tflb_float (&mb, 4, in_shape, NULL);
  {
    int o_shape[4] = { 1, oh, ow, c };
    to = tflb_float (&mb, 4, o_shape, NULL);
  }
  tflb_op (&mb, is_max ? BT_TFL_OP_MAX_POOL_2D : BT_TFL_OP_AVERAGE_POOL_2D, NULL, 1, &ti, to, 5,
           tflb_pool_options (padding, stride, stride, k, k, ACT_NONE));
  bytes = tflb_finish (&mb, ti, to);

  want = g_new (float, (gsize) oh * ow * c);
  for (int oy = 0; oy < oh; oy++)
    for (int ox = 0; ox < ow; ox++)
      for (int ci = 0; ci < c; ci++)
        {
          double acc = 0;
          float mx = -INFINITY;
          int cnt = 0;
          for (int ky = 0; ky < k; ky++)
            for (int kx = 0; kx < k; kx++)
              {
                int iy = oy * stride - pt + ky, ix = ox * stride - pl + kx;
                if (iy < 0 || iy >= h || ix < 0 || ix >= w)
                  continue;
                acc += x[(iy * w + ix) * c + ci];
                mx = MAX (mx, x[(iy * w + ix) * c + ci]);
                cnt++;
              }
          want[(oy * ow + ox) * c + ci] = is_max ? mx : (float) (acc / cnt);
        }
  got = run_model (bytes, x, &n);
  g_assert_cmpuint (n, ==, (gsize) oh * ow * c);
  assert_close (got, want, n, 1e-5f);
}

static void
test_pool (void)
{
  BtRng rng;
  bt_rng_seed (&rng, 3);
  check_pool (FALSE, 7, 7, 5, 7, 1, VALID, &rng);   /* global average pool */
  check_pool (FALSE, 9, 8, 3, 3, 2, SAME, &rng);    /* in-bounds count at the borders */
  check_pool (TRUE, 9, 9, 4, 3, 2, SAME, &rng);
  check_pool (TRUE, 8, 8, 2, 2, 2, VALID, &rng);
}

/* ---- Elementwise and shape operators ---- */

static void
test_add_softmax_reshape (void)
{
  TflBuilder mb;
  BtRng rng;
  int s4[4] = { 1, 3, 4, 5 }, s2[2] = { 12, 5 };
  float x[60], cst[60], want[60];
  g_autofree float *got = NULL;
  g_autoptr(GBytes) bytes = NULL;
  gsize n;
  int ti, tc, ta, tr, ts;

  bt_rng_seed (&rng, 4);
  fill_random (x, 60, &rng);
  fill_random (cst, 60, &rng);
  for (int i = 0; i < 60; i++)
    cst[i] *= 5.f;
  tflb_init (&mb);
  ti = tflb_float (&mb, 4, s4, NULL);
  tc = tflb_float (&mb, 4, s4, NULL);
  ta = tflb_float (&mb, 4, s4, NULL);
  tr = tflb_float (&mb, 2, s2, NULL);
  ts = tflb_float (&mb, 2, s2, NULL);
  {
    /* x → RELU6(x) → ADD(x, relu6(x)) with fused RELU → RESHAPE to [12, 5] → SOFTMAX(beta 2) */
    int ins[2] = { ti, tc };
    FbNode *sm = fbn_table ();
    float beta = 2.f;
    guint32 bb;
    tflb_op (&mb, BT_TFL_OP_RELU6, NULL, 1, &ti, tc, 0, NULL);
    tflb_op (&mb, BT_TFL_OP_ADD, NULL, 2, ins, ta, 11, tflb_act_options (ACT_RELU));
    tflb_op (&mb, BT_TFL_OP_RESHAPE, NULL, 1, &ta, tr, 0, NULL);
    memcpy (&bb, &beta, 4);
    fbn_scalar (sm, 0, 4, bb);
    tflb_op (&mb, BT_TFL_OP_SOFTMAX, NULL, 1, &tr, ts, 9, sm);
  }
  bytes = tflb_finish (&mb, ti, ts);
  for (int i = 0; i < 60; i++)
    {
      float r6 = x[i] < 0 ? 0 : (x[i] > 6 ? 6 : x[i]);
      want[i] = act_ref (x[i] + r6, ACT_RELU);
    }
  for (int r = 0; r < 12; r++)
    {
      double sum = 0, mx = -INFINITY;
      for (int k = 0; k < 5; k++)
        mx = MAX (mx, 2.0 * want[r * 5 + k]);
      for (int k = 0; k < 5; k++)
        sum += exp (2.0 * want[r * 5 + k] - mx);
      for (int k = 0; k < 5; k++)
        want[r * 5 + k] = (float) (exp (2.0 * want[r * 5 + k] - mx) / sum);
    }
  got = run_model (bytes, x, &n);
  g_assert_cmpuint (n, ==, 60);
  assert_close (got, want, n, 1e-5f);
}

static void
test_fully_connected (void)
{
  TflBuilder mb;
  BtRng rng;
  int s4[4] = { 1, 2, 3, 4 }, ws[2] = { 7, 24 }, bs[1] = { 7 }, os[2] = { 1, 7 };
  float x[24], w[168], b[7], want[7];
  g_autofree float *got = NULL;
  g_autoptr(GBytes) bytes = NULL;
  gsize n;
  int ti, tw, tb, to;

  bt_rng_seed (&rng, 5);
  fill_random (x, 24, &rng);
  fill_random (w, 168, &rng);
  fill_random (b, 7, &rng);
  tflb_init (&mb);
  ti = tflb_float (&mb, 4, s4, NULL);
  tw = tflb_float (&mb, 2, ws, w);
  tb = tflb_float (&mb, 1, bs, b);
  to = tflb_float (&mb, 2, os, NULL);
  {
    int ins[3] = { ti, tw, tb };
    tflb_op (&mb, BT_TFL_OP_FULLY_CONNECTED, NULL, 3, ins, to, 8, tflb_act_options (ACT_RELU));
  }
  bytes = tflb_finish (&mb, ti, to);
  /* The input is flattened in TFLite's NHWC order, whatever the executor stores. */
  for (int o = 0; o < 7; o++)
    {
      double acc = b[o];
      for (int i = 0; i < 24; i++)
        acc += (double) w[o * 24 + i] * x[i];
      want[o] = act_ref ((float) acc, ACT_RELU);
    }
  got = run_model (bytes, x, &n);
  g_assert_cmpuint (n, ==, 7);
  assert_close (got, want, n, 1e-5f);
}

static void
check_mean (const int *axes, int n_axes, gboolean keep, BtRng *rng)
{
  TflBuilder mb;
  int s4[4] = { 1, 3, 4, 5 }, as[1] = { n_axes };
  int os[4], orank = 0;
  float x[60];
  double acc[60] = { 0 };
  int cnt = 1;
  gboolean red[4] = { FALSE };
  g_autofree float *got = NULL;
  float want[60];
  g_autoptr(GBytes) bytes = NULL;
  gsize n, nw = 0;
  int ti, ta, to;
  FbNode *opt = fbn_table ();

  fill_random (x, 60, rng);
  for (int i = 0; i < n_axes; i++)
    {
      red[axes[i]] = TRUE;
      cnt *= s4[axes[i]];
    }
  for (int d = 0; d < 4; d++)
    if (!red[d] || keep)
      os[orank++] = red[d] ? 1 : s4[d];
  tflb_init (&mb);
  ti = tflb_float (&mb, 4, s4, NULL);
  ta = tflb_int32 (&mb, 1, as, axes);
  to = tflb_float (&mb, orank, os, NULL);
  {
    int ins[2] = { ti, ta };
    fbn_scalar (opt, 0, 1, keep);
    tflb_op (&mb, BT_TFL_OP_MEAN, NULL, 2, ins, to, 27, opt);
  }
  bytes = tflb_finish (&mb, ti, to);
  /* Reference: row-major over the kept axes, in logical order. */
  for (int a = 0; a < 3; a++)
    for (int b = 0; b < 4; b++)
      for (int c = 0; c < 5; c++)
        {
          int idx = 0;
          int coord[4] = { 0, a, b, c };
          for (int d = 0; d < 4; d++)
            if (!red[d])
              idx = idx * s4[d] + coord[d];
          acc[idx] += x[(a * 4 + b) * 5 + c];
        }
  nw = 60 / cnt;
  for (gsize i = 0; i < nw; i++)
    want[i] = (float) (acc[i] / cnt);
  got = run_model (bytes, x, &n);
  g_assert_cmpuint (n, ==, nw);
  assert_close (got, want, n, 1e-5f);
}

static void
test_mean (void)
{
  static const int hw[2] = { 1, 2 }, h[1] = { 1 }, c[1] = { 3 }, wc[2] = { 2, 3 };
  BtRng rng;
  bt_rng_seed (&rng, 6);
  check_mean (hw, 2, TRUE, &rng);
  check_mean (hw, 2, FALSE, &rng);
  check_mean (h, 1, FALSE, &rng);
  check_mean (c, 1, TRUE, &rng);
  check_mean (wc, 2, FALSE, &rng);
}

static void
test_pad_concat (void)
{
  TflBuilder mb;
  BtRng rng;
  int s4[4] = { 1, 3, 4, 2 }, ps[2] = { 4, 2 }, pad_out[4] = { 1, 4, 7, 2 };
  int cat_c[4] = { 1, 4, 7, 4 }, cat_w[4] = { 1, 4, 14, 4 };
  gint32 pads[8] = { 0, 0, 1, 0, 2, 1, 0, 0 };
  float x[24];
  float padded[56], catc[112], want[224];
  g_autofree float *got = NULL;
  g_autoptr(GBytes) bytes = NULL;
  gsize n;
  int ti, tp, tpo, tc, tw;

  bt_rng_seed (&rng, 7);
  fill_random (x, 24, &rng);
  tflb_init (&mb);
  ti = tflb_float (&mb, 4, s4, NULL);
  tp = tflb_int32 (&mb, 2, ps, pads);
  tpo = tflb_float (&mb, 4, pad_out, NULL);
  tc = tflb_float (&mb, 4, cat_c, NULL);
  tw = tflb_float (&mb, 4, cat_w, NULL);
  {
    /* PAD → concat with itself along channels → concat with itself along width (axis −2). */
    int ins[2] = { ti, tp }, cc[2] = { tpo, tpo }, cw[2] = { tc, tc };
    FbNode *o1 = fbn_table (), *o2 = fbn_table ();
    tflb_op (&mb, BT_TFL_OP_PAD, NULL, 2, ins, tpo, 0, NULL);
    fbn_scalar (o1, 0, 4, 3);
    tflb_op (&mb, BT_TFL_OP_CONCATENATION, NULL, 2, cc, tc, 10, o1);
    fbn_scalar (o2, 0, 4, (guint32) -2);
    tflb_op (&mb, BT_TFL_OP_CONCATENATION, NULL, 2, cw, tw, 10, o2);
  }
  bytes = tflb_finish (&mb, ti, tw);
  for (int y = 0; y < 4; y++)
    for (int xx = 0; xx < 7; xx++)
      for (int c = 0; c < 2; c++)
        {
          int sy = y - 1, sx = xx - 2;
          padded[(y * 7 + xx) * 2 + c] = (sy >= 0 && sy < 3 && sx >= 0 && sx < 4) ? x[(sy * 4 + sx) * 2 + c] : 0.f;
        }
  for (int p = 0; p < 28; p++)
    for (int c = 0; c < 4; c++)
      catc[p * 4 + c] = padded[p * 2 + (c % 2)];
  for (int y = 0; y < 4; y++)
    for (int xx = 0; xx < 14; xx++)
      for (int c = 0; c < 4; c++)
        want[(y * 14 + xx) * 4 + c] = catc[(y * 7 + (xx % 7)) * 4 + c];
  got = run_model (bytes, x, &n);
  g_assert_cmpuint (n, ==, 224);
  assert_close (got, want, n, 0.f);
}

/* uint8 per-tensor and int8 per-channel weights, int32 bias, quantized activations that saturate. */
static void
test_quantized (void)
{
  TflBuilder mb;
  BtRng rng;
  int in_s[4] = { 1, 5, 5, 3 }, f_s[4] = { 4, 3, 3, 3 }, b_s[1] = { 4 }, o_s[4] = { 1, 5, 5, 4 };
  int d_s[4] = { 1, 5, 5, 4 }, dw_s[4] = { 1, 3, 3, 4 };
  guint8 fq[108];
  gint8 dq[36];
  gint32 bq[4] = { 100, -50, 7, 0 }, dbq[4] = { 3, 4, -5, 6 };
  float in_scale = 1.f / 128, f_scale = 0.02f, d_scales[4] = { 0.01f, 0.02f, 0.03f, 0.04f };
  float o_scale = 0.05f, b_scales[4];
  gint64 in_zp = 128, f_zp = 120, o_zp = 20, d_zps[4] = { 0 }, zero = 0;
  float x[75], f[108], b[4], df[36], db[4], mid[100], want[100];
  g_autofree float *got = NULL;
  g_autoptr(GBytes) bytes = NULL;
  gsize n;
  int ti, tf, tb, tm, tdf, tdb, to;
  ConvCase c1 = { 5, 5, 3, 4, 3, 1, 1, SAME, ACT_NONE, FALSE };
  ConvCase c2 = { 5, 5, 4, 4, 3, 1, 1, SAME, ACT_RELU6, TRUE };

  bt_rng_seed (&rng, 8);
  for (int i = 0; i < 75; i++)
    x[i] = in_scale * ((int) bt_rng_below (&rng, 256) - (float) in_zp);
  for (int i = 0; i < 108; i++)
    {
      fq[i] = (guint8) bt_rng_below (&rng, 256);
      f[i] = f_scale * (fq[i] - (float) f_zp);
    }
  for (int i = 0; i < 36; i++)
    {
      dq[i] = (gint8) ((int) bt_rng_below (&rng, 255) - 127);
      df[i] = d_scales[i % 4] * dq[i];     /* per channel along the last dimension */
    }
  for (int k = 0; k < 4; k++)
    {
      b_scales[k] = in_scale * f_scale;
      b[k] = b_scales[k] * bq[k];
      db[k] = o_scale * d_scales[k] * dbq[k];
    }

  tflb_init (&mb);
  ti = tflb_tensor (&mb, BT_TFL_UINT8, 4, in_s, NULL, 0, 1, &in_scale, &in_zp, 0);
  tf = tflb_tensor (&mb, BT_TFL_UINT8, 4, f_s, fq, sizeof fq, 1, &f_scale, &f_zp, 0);
  tb = tflb_tensor (&mb, BT_TFL_INT32, 1, b_s, bq, sizeof bq, 1, b_scales, &zero, 0);
  tm = tflb_tensor (&mb, BT_TFL_UINT8, 4, o_s, NULL, 0, 1, &o_scale, &o_zp, 0);
  {
    float s[4];
    for (int k = 0; k < 4; k++)
      s[k] = o_scale * d_scales[k];
    tdf = tflb_tensor (&mb, BT_TFL_INT8, 4, dw_s, dq, sizeof dq, 4, d_scales, d_zps, 3);
    tdb = tflb_tensor (&mb, BT_TFL_INT32, 1, b_s, dbq, sizeof dbq, 4, s, d_zps, 0);
  }
  to = tflb_float (&mb, 4, d_s, NULL);
  {
    int a[3] = { ti, tf, tb }, d[3] = { tm, tdf, tdb };
    tflb_op (&mb, BT_TFL_OP_CONV_2D, NULL, 3, a, tm, 1, tflb_conv_options (SAME, 1, 1, ACT_NONE));
    tflb_op (&mb, BT_TFL_OP_DEPTHWISE_CONV_2D, NULL, 3, d, to, 2, tflb_dw_options (SAME, 1, 1, 1, ACT_RELU6));
  }
  bytes = tflb_finish (&mb, ti, to);

  conv_ref (mid, x, f, b, &c1, 5, 5, 1, 1);
  /* The uint8 intermediate saturates at its representable range. */
  for (int i = 0; i < 100; i++)
    mid[i] = CLAMP (mid[i], o_scale * (0 - o_zp), o_scale * (255 - o_zp));
  conv_ref (want, mid, df, db, &c2, 5, 5, 1, 1);
  got = run_model (bytes, x, &n);
  g_assert_cmpuint (n, ==, 100);
  assert_close (got, want, n, 1e-4f);

  {
    g_autoptr(BtTflite) m = bt_tflite_load_bytes (bytes, NULL);
    float lo, hi;
    bt_tflite_input_range (m, &lo, &hi);
    g_assert_cmpfloat_with_epsilon (lo, -1.f, 1e-6);
    g_assert_cmpfloat_with_epsilon (hi, 127.f / 128, 1e-6);
  }
}

/* ---- Errors ---- */

static GBytes *
small_model (int extra_code, const char *custom)
{
  TflBuilder mb;
  int s4[4] = { 1, 6, 6, 3 }, f_s[4] = { 4, 3, 3, 3 }, o_s[4] = { 1, 3, 3, 4 }, g_s[4] = { 1, 1, 1, 4 };
  int fl_s[2] = { 1, 4 };
  float f[108];
  BtRng rng;
  int ti, tf, tc, tg, tr, ts;

  bt_rng_seed (&rng, 9);
  fill_random (f, 108, &rng);
  tflb_init (&mb);
  ti = tflb_float (&mb, 4, s4, NULL);
  tf = tflb_float (&mb, 4, f_s, f);
  tc = tflb_float (&mb, 4, o_s, NULL);
  tg = tflb_float (&mb, 4, g_s, NULL);
  tr = tflb_float (&mb, 2, fl_s, NULL);
  ts = tflb_float (&mb, 2, fl_s, NULL);
  {
    int ins[2] = { ti, tf };
    tflb_op (&mb, BT_TFL_OP_CONV_2D, NULL, 2, ins, tc, 1, tflb_conv_options (SAME, 2, 2, ACT_RELU6));
    tflb_op (&mb, BT_TFL_OP_AVERAGE_POOL_2D, NULL, 1, &tc, tg, 5, tflb_pool_options (VALID, 1, 1, 3, 3, 0));
    tflb_op (&mb, extra_code >= 0 ? extra_code : BT_TFL_OP_RESHAPE, custom, 1, &tg, tr, 0, NULL);
    tflb_op (&mb, BT_TFL_OP_SOFTMAX, NULL, 1, &tr, ts, 0, NULL);
  }
  return tflb_finish (&mb, ti, ts);
}

static void
test_unsupported (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) good = small_model (-1, NULL);
  g_autoptr(GBytes) mul = small_model (18, NULL);
  g_autoptr(GBytes) custom = small_model (32, "MyFancyOp");
  g_autoptr(GBytes) newer = small_model (150, NULL);
  g_autoptr(BtTflite) m = bt_tflite_load_bytes (good, &error);
  int dim = 0;

  g_assert_no_error (error);
  g_assert_cmpint (bt_tflite_find_embedding_cut (m, &dim, &error), >=, 0);
  g_assert_cmpint (dim, ==, 4);
  g_assert_null (bt_tflite_load_bytes (mul, &error));
  g_assert_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_UNSUPPORTED);
  g_assert_nonnull (strstr (error->message, "MUL"));
  g_clear_error (&error);
  g_assert_null (bt_tflite_load_bytes (custom, &error));
  g_assert_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_UNSUPPORTED);
  g_assert_nonnull (strstr (error->message, "MyFancyOp"));
  g_clear_error (&error);
  g_assert_null (bt_tflite_load_bytes (newer, &error));
  g_assert_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_UNSUPPORTED);
  g_assert_nonnull (strstr (error->message, "150"));
}

/* Every load of damaged bytes either fails with an error or gives a model that runs. */
static void
load_and_run (const guint8 *data, gsize len)
{
  g_autoptr(GBytes) b = g_bytes_new (data, len);
  g_autoptr(GError) error = NULL;
  g_autoptr(BtTflite) m = bt_tflite_load_bytes (b, &error);
  g_autoptr(BtTfliteExec) e = NULL;
  g_autofree float *x = NULL;
  int h, w, c;
  gsize n;

  if (m == NULL)
    {
      g_assert_nonnull (error);
      g_assert_true (error->domain == BT_ENGINE_ERROR);
      return;
    }
  g_assert_no_error (error);
  bt_tflite_input_shape (m, &h, &w, &c);
  x = g_new0 (float, (gsize) h * w * c);
  e = bt_tflite_exec_new (m, &error);
  if (e == NULL)
    return;
  if (bt_tflite_exec_run (e, x, -1, &n, &error) == NULL)
    g_assert_nonnull (error);
}

static void
check_damage (GBytes *good, int n_flips, guint64 seed)
{
  gsize len;
  const guint8 *data = g_bytes_get_data (good, &len);
  g_autofree guint8 *copy = g_memdup2 (data, len);
  BtRng rng;
  g_autoptr(GError) error = NULL;

  bt_rng_seed (&rng, seed);
  for (gsize cut = 0; cut < len; cut += 1 + len / 97)
    load_and_run (data, cut);
  {
    /* Half a file does not load. */
    g_autoptr(GBytes) b = g_bytes_new (data, len / 2);
    g_assert_null (bt_tflite_load_bytes (b, &error));
    g_assert_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_CORRUPT);
  }
  for (int i = 0; i < n_flips; i++)
    {
      gsize pos = bt_rng_below (&rng, (guint32) MIN (len, G_MAXUINT32));
      guint8 bit = (guint8) (1u << bt_rng_below (&rng, 8));
      copy[pos] ^= bit;
      load_and_run (copy, len);
      copy[pos] ^= bit;
    }
}

static void
test_corrupt (void)
{
  g_autoptr(GBytes) good = small_model (-1, NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) junk = g_bytes_new_static ("not a model at all, just words", 30);

  g_assert_null (bt_tflite_load_bytes (junk, &error));
  g_assert_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_CORRUPT);
  check_damage (good, 3000, 10);
}

/* ---- The shared MobileNet fixtures (skipped without them) ---- */

static char *
model_path (const char *file)
{
  const char *shared = g_getenv ("BOTTEGA_SHARED_DIR");
  char *path;
  if (shared == NULL)
    return NULL;
  path = g_build_filename (shared, "models", file, NULL);
  if (!g_file_test (path, G_FILE_TEST_IS_REGULAR))
    g_clear_pointer (&path, g_free);
  return path;
}

static void
test_fixtures_structure (void)
{
  static const struct { const char *file; int size, dim; gsize out; } cases[] = {
    { "mobilenet_v2_1.0_224_quant.tflite", 224, 1280, 1001 },
    { "mobilenet_v1_0.25_128_quant.tflite", 128, 256, 1001 },
    { "mobilenet_v1_1.0_224_quant_embedding_extractor.tflite", 224, 1024, 1024 },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *path = model_path (cases[i].file);
      g_autoptr(GError) error = NULL;
      g_autoptr(BtTflite) m = NULL;
      g_autoptr(BtTfliteExec) e = NULL;
      g_autofree float *x = NULL;
      int h, w, c, dim = 0, cut;
      float lo, hi;
      const float *y;
      gsize n;

      if (path == NULL)
        {
          g_test_skip ("MobileNet fixtures not found: set BOTTEGA_SHARED_DIR to the folder holding models/");
          return;
        }
      m = bt_tflite_load (path, &error);
      g_assert_no_error (error);
      bt_tflite_input_shape (m, &h, &w, &c);
      g_assert_cmpint (h, ==, cases[i].size);
      g_assert_cmpint (w, ==, cases[i].size);
      g_assert_cmpint (c, ==, 3);
      bt_tflite_input_range (m, &lo, &hi);
      g_assert_cmpfloat_with_epsilon (lo, -1.f, 0.01);
      g_assert_cmpfloat_with_epsilon (hi, 1.f, 0.01);
      g_assert_cmpuint (bt_tflite_output_size (m), ==, cases[i].out);
      cut = bt_tflite_find_embedding_cut (m, &dim, &error);
      g_assert_no_error (error);
      g_assert_cmpint (cut, >=, 0);
      g_assert_cmpint (dim, ==, cases[i].dim);

      /* The embedding after ReLU6 + average pooling lies in [0, 6] and is not all zero. */
      x = g_new (float, (gsize) h * w * c);
      for (gsize k = 0; k < (gsize) h * w * c; k++)
        x[k] = sinf ((float) k * 0.01f);
      e = bt_tflite_exec_new (m, &error);
      g_assert_no_error (error);
      y = bt_tflite_exec_run (e, x, cut, &n, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (n, ==, (gsize) dim);
      {
        double sum = 0;
        for (gsize k = 0; k < n; k++)
          {
            g_assert_cmpfloat (y[k], >=, 0.f);
            g_assert_cmpfloat (y[k], <=, 6.f);
            sum += y[k];
          }
        g_assert_cmpfloat (sum, >, 0.0);
      }
      if (cases[i].out == (gsize) dim)
        {
          /* The embedding extractor's own output is the cut. */
          g_autofree float *emb = g_memdup2 (y, sizeof (float) * n);
          y = bt_tflite_exec_run (e, x, -1, &n, &error);
          g_assert_no_error (error);
          assert_close (y, emb, n, 0.f);
        }
      else
        {
          double sum = 0;
          y = bt_tflite_exec_run (e, x, -1, &n, &error);
          g_assert_no_error (error);
          for (gsize k = 0; k < n; k++)
            sum += y[k];
          g_assert_cmpfloat_with_epsilon (sum, 1.0, 0.02);
        }
    }
}

static void
test_fixture_damage (void)
{
  g_autofree char *path = model_path ("mobilenet_v1_0.25_128_quant.tflite");
  g_autofree char *data = NULL;
  gsize len;
  g_autoptr(GBytes) bytes = NULL;

  if (path == NULL)
    {
      g_test_skip ("MobileNet fixtures not found: set BOTTEGA_SHARED_DIR to the folder holding models/");
      return;
    }
  g_assert_true (g_file_get_contents (path, &data, &len, NULL));
  bytes = g_bytes_new_take (g_steal_pointer (&data), len);
  check_damage (bytes, 60, 11);
}

/* ---- The integer path against the float path ---- */

/* m's input (NCHW floats) from centred quantized values of an input with scale 1/128 (NHWC). */
static float *
centred_input (BtTflite *m, const gint16 *centred)
{
  int h, w, c;
  g_autofree float *nhwc = NULL;
  float *x;
  bt_tflite_input_shape (m, &h, &w, &c);
  nhwc = g_new (float, (gsize) h * w * c);
  x = g_new (float, (gsize) h * w * c);
  for (gsize i = 0; i < (gsize) h * w * c; i++)
    nhwc[i] = centred[i] / 128.f;
  bt_tflite_nhwc_to_nchw (x, nhwc, 1, h, w, c);
  return x;
}

/* Runs bytes on the float and the integer path (input: centred quantized values of an input
 * with scale 1/128); returns the largest |int − float| in output steps, or -1 when this CPU has
 * no integer path. */
static double
int8_vs_float (GBytes *bytes, const gint16 *centred, float out_scale, float mid_scale)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(BtTflite) m = bt_tflite_load_bytes (bytes, &error);
  g_autoptr(BtTfliteExec) ef = NULL, eq = NULL;
  g_autofree float *x = NULL, *want = NULL;
  const float *got;
  gsize n, nq;
  double worst = 0;

  g_assert_no_error (error);
  x = centred_input (m, centred);
  ef = bt_tflite_exec_new_path (m, BT_TFLITE_PATH_FLOAT, &error);
  g_assert_no_error (error);
  got = bt_tflite_exec_run (ef, x, -1, &n, &error);
  g_assert_no_error (error);
  want = g_memdup2 (got, sizeof (float) * n);
  eq = bt_tflite_exec_new_path (m, BT_TFLITE_PATH_INT8, &error);
  if (eq == NULL)
    return -1;
  g_assert_cmpint (bt_tflite_exec_path (eq, -1), ==, BT_TFLITE_PATH_INT8);
  g_assert_cmpint (bt_tflite_exec_path (ef, -1), ==, BT_TFLITE_PATH_FLOAT);
  got = bt_tflite_exec_run (eq, x, -1, &nq, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (nq, ==, n);
  for (gsize i = 0; i < n; i++)
    worst = MAX (worst, fabs ((double) got[i] - want[i]) / out_scale);
  /* A rounded intermediate moves the result by at most half its step. */
  return worst - (mid_scale > 0 ? 0.5 * mid_scale / out_scale : 0);
}

typedef enum { IK_CONV, IK_DW, IK_FC, IK_RESIDUAL, IK_MEAN, IK_N } IntKind;

/* One random case: a uint8 conv / depthwise / fully connected layer (optionally followed by a
 * residual ADD or a global MEAN) with random geometry and channel counts that are not
 * multiples of 16, checked on both paths. */
static void
check_int8_case (IntKind kind, BtRng *rng)
{
  TflBuilder mb;
  int H = 1 + (int) bt_rng_below (rng, 13), W = 1 + (int) bt_rng_below (rng, 13);
  int C = 1 + (int) bt_rng_below (rng, 40), OC = kind == IK_DW ? C : 1 + (int) bt_rng_below (rng, 40);
  int k = kind == IK_FC || kind == IK_RESIDUAL || bt_rng_below (rng, 2) ? 1 : 3;
  int stride = kind == IK_RESIDUAL || kind == IK_FC || k == 1 ? 1 : 1 + (int) bt_rng_below (rng, 2);
  int padding = bt_rng_below (rng, 2) ? SAME : VALID, act = bt_rng_below (rng, 2) ? ACT_RELU6 : ACT_NONE;
  int K = kind == IK_DW ? k * k : k * k * C, oh, ow, before, ti, tf, tb, to, n_f;
  float in_scale = 1.f / 128, f_scale = 0.004f + 0.01f * bt_rng_uniform (rng), out_scale, mid_scale = 0;
  gint64 in_zp = 128, f_zp = 100 + bt_rng_below (rng, 56), out_zp = 128, zero = 0;
  g_autofree guint8 *fq = NULL;
  g_autofree gint32 *bq = NULL;
  g_autofree gint16 *centred = NULL;
  g_autoptr(GBytes) bytes = NULL;
  float b_scale;
  double worst;

  if (kind == IK_RESIDUAL)
    OC = C;
  if (kind == IK_FC)
    H = W = 1;
  if (padding == VALID && (H < k || W < k))
    padding = SAME;
  if (kind == IK_MEAN)
    act = ACT_NONE;
  geometry_ref (H, k, stride, padding, &oh, &before);
  geometry_ref (W, k, stride, padding, &ow, &before);
  n_f = kind == IK_DW ? K * C : OC * K;
  fq = g_new (guint8, n_f);
  bq = g_new (gint32, OC);
  for (int i = 0; i < n_f; i++)
    fq[i] = (guint8) bt_rng_below (rng, 256);
  b_scale = in_scale * f_scale;
  for (int i = 0; i < OC; i++)
    bq[i] = (gint32) bt_rng_below (rng, 4001) - 2000;
  /* About ±4 standard deviations of the output over the 256 steps. */
  out_scale = 40.f * sqrtf ((float) K) * f_scale * 4.f / 128.f;
  tflb_init (&mb);
  {
    int in_s[4] = { 1, H, W, C }, b_s[1] = { OC }, o_s[4] = { 1, oh, ow, OC };
    int f_s[4] = { OC, k, k, C }, dw_s[4] = { 1, k, k, C }, fc_s[2] = { OC, C }, fo_s[2] = { 1, OC };
    ti = tflb_tensor (&mb, BT_TFL_UINT8, 4, in_s, NULL, 0, 1, &in_scale, &in_zp, 0);
    tf = kind == IK_DW ? tflb_tensor (&mb, BT_TFL_UINT8, 4, dw_s, fq, n_f, 1, &f_scale, &f_zp, 0)
       : kind == IK_FC ? tflb_tensor (&mb, BT_TFL_UINT8, 2, fc_s, fq, n_f, 1, &f_scale, &f_zp, 0)
       : tflb_tensor (&mb, BT_TFL_UINT8, 4, f_s, fq, n_f, 1, &f_scale, &f_zp, 0);
    tb = tflb_tensor (&mb, BT_TFL_INT32, 1, b_s, bq, sizeof (gint32) * OC, 1, &b_scale, &zero, 0);
    to = kind == IK_FC ? tflb_tensor (&mb, BT_TFL_UINT8, 2, fo_s, NULL, 0, 1, &out_scale, &out_zp, 0)
       : tflb_tensor (&mb, BT_TFL_UINT8, 4, o_s, NULL, 0, 1, &out_scale, &out_zp, 0);
    {
      int ins[3] = { ti, tf, tb };
      if (kind == IK_DW)
        tflb_op (&mb, BT_TFL_OP_DEPTHWISE_CONV_2D, NULL, 3, ins, to, 2, tflb_dw_options (padding, stride, stride, 1, act));
      else if (kind == IK_FC)
        tflb_op (&mb, BT_TFL_OP_FULLY_CONNECTED, NULL, 3, ins, to, 0, NULL);
      else
        tflb_op (&mb, BT_TFL_OP_CONV_2D, NULL, 3, ins, to, 1, tflb_conv_options (padding, stride, stride, act));
    }
    if (kind == IK_RESIDUAL)
      {
        float sum_scale = out_scale + in_scale;
        int ta = tflb_tensor (&mb, BT_TFL_UINT8, 4, o_s, NULL, 0, 1, &sum_scale, &out_zp, 0);
        int ins[2] = { to, ti };
        tflb_op (&mb, BT_TFL_OP_ADD, NULL, 2, ins, ta, 11, tflb_act_options (ACT_NONE));
        mid_scale = out_scale;
        out_scale = sum_scale;
        to = ta;
      }
    else if (kind == IK_MEAN)
      {
        gint32 axes[2] = { 1, 2 };
        int ax_s[1] = { 2 }, m_s[4] = { 1, 1, 1, OC };
        int tax = tflb_int32 (&mb, 1, ax_s, axes);
        int tm = tflb_tensor (&mb, BT_TFL_UINT8, 4, m_s, NULL, 0, 1, &out_scale, &out_zp, 0);
        FbNode *o = fbn_table ();
        int ins[2] = { to, tax };
        fbn_scalar (o, 0, 1, 1);   /* keep_dims */
        tflb_op (&mb, BT_TFL_OP_MEAN, NULL, 2, ins, tm, 27, o);
        /* The pooled target itself is returned unrounded: only the conv output is rounded. */
        mid_scale = out_scale;
        to = tm;
      }
  }
  bytes = tflb_finish (&mb, ti, to);
  centred = g_new (gint16, (gsize) H * W * C);
  for (int i = 0; i < H * W * C; i++)
    centred[i] = (gint16) ((int) bt_rng_below (rng, 256) - 128);
  worst = int8_vs_float (bytes, centred, out_scale, mid_scale);
  if (worst == -1)
    return;
  if (!(worst <= 0.501))
    g_error ("kind %d, %dx%dx%d → %d, k %d, stride %d, padding %d, act %d: %.3f steps apart",
             kind, H, W, C, OC, k, stride, padding, act, worst);
}

/* Extreme values planted on purpose: uint8 inputs at 0 or 255 (zero point 0) against centred
 * weights at −128 / 127 (conv, zero point 128) or 255 (depthwise, zero point 0), so that most
 * pairs of products overflow int16 (2 × 255 × 127 = 64,770). A kernel that sums pairs in 16 bits
 * (vpmaddubsw without a correction, 16-bit adds) or drops a remainder row, channel block or tap
 * moves outputs by many steps; exact int32 sums keep them within half a step of the float
 * path, whose sums of integers below 2^24 are exact as well. */
static void
check_int8_extreme (gboolean depthwise, int H, int W, int C, int OC, int k, BtRng *rng)
{
  TflBuilder mb;
  int K = depthwise ? k * k : k * k * C, n_f = depthwise ? K * C : OC * K, ti, tf, tb, to;
  float in_scale = 1.f / 128, f_scale = 0.01f, out_scale;
  gint64 in_zp = 0, f_zp = depthwise ? 0 : 128, out_zp = 128, zero = 0;
  g_autofree guint8 *fq = g_new (guint8, n_f);
  g_autofree gint32 *bq = g_new0 (gint32, OC);
  g_autofree gint16 *centred = g_new (gint16, (gsize) H * W * C);
  g_autoptr(GBytes) bytes = NULL;
  float b_scale = in_scale * f_scale;
  double worst;

  for (int i = 0; i < n_f; i++)
    fq[i] = depthwise ? (bt_rng_below (rng, 8) ? 255 : (guint8) bt_rng_below (rng, 256))
                      : (bt_rng_below (rng, 2) ? 255 : 0);
  for (int i = 0; i < H * W * C; i++)
    centred[i] = bt_rng_below (rng, 8) ? 255 : 0;
  if (depthwise)
    for (int i = 0; i < OC; i++)
      bq[i] = -K * 255 * 255 / 2;   /* centres the all-255 sums on the output's zero point */
  /* The largest |sum| spans the 127 steps above the zero point. */
  out_scale = (float) K * 255.f * (depthwise ? 255.f / 2 : 128.f) * b_scale / 127.f;
  tflb_init (&mb);
  {
    int in_s[4] = { 1, H, W, C }, b_s[1] = { OC }, o_s[4] = { 1, H, W, OC };
    int f_s[4] = { OC, k, k, C }, dw_s[4] = { 1, k, k, C };
    int ins[3];
    ti = tflb_tensor (&mb, BT_TFL_UINT8, 4, in_s, NULL, 0, 1, &in_scale, &in_zp, 0);
    tf = tflb_tensor (&mb, BT_TFL_UINT8, 4, depthwise ? dw_s : f_s, fq, n_f, 1, &f_scale, &f_zp, 0);
    tb = tflb_tensor (&mb, BT_TFL_INT32, 1, b_s, bq, sizeof (gint32) * OC, 1, &b_scale, &zero, 0);
    to = tflb_tensor (&mb, BT_TFL_UINT8, 4, o_s, NULL, 0, 1, &out_scale, &out_zp, 0);
    ins[0] = ti;
    ins[1] = tf;
    ins[2] = tb;
    if (depthwise)
      tflb_op (&mb, BT_TFL_OP_DEPTHWISE_CONV_2D, NULL, 3, ins, to, 2, tflb_dw_options (SAME, 1, 1, 1, ACT_NONE));
    else
      tflb_op (&mb, BT_TFL_OP_CONV_2D, NULL, 3, ins, to, 1, tflb_conv_options (SAME, 1, 1, ACT_NONE));
  }
  bytes = tflb_finish (&mb, ti, to);
  worst = int8_vs_float (bytes, centred, out_scale, 0);
  if (worst != -1 && !(worst <= 0.501))
    g_error ("extreme %s %dx%dx%d → %d, k %d: %.3f steps apart",
             depthwise ? "depthwise" : "conv", H, W, C, OC, k, worst);
}

static void
test_int8_extreme (void)
{
  BtRng rng;

  bt_rng_seed (&rng, 1919);
  /* 1×1: 13 pixels = two 6-row tiles + 1, 37 channels = two blocks + 5, 2 to 96 input channels. */
  for (int c = 2; c <= 96; c += 47)
    check_int8_extreme (FALSE, 13, 1, c, 37, 1, &rng);
  /* 3×3 through im2col (3 channels: the 4-channel copies) and a wider one. */
  check_int8_extreme (FALSE, 9, 7, 3, 32, 3, &rng);
  check_int8_extreme (FALSE, 5, 6, 20, 17, 3, &rng);
  /* Depthwise 3×3 and 5×5 (odd tap counts), pairs of pixels and edges, 16 + 9 channels. */
  check_int8_extreme (TRUE, 7, 9, 25, 25, 3, &rng);
  check_int8_extreme (TRUE, 6, 11, 25, 25, 5, &rng);
}

static void
test_int8_random (void)
{
  BtRng rng;
  g_autoptr(BtTflite) probe = NULL;

  bt_rng_seed (&rng, 19);
  for (int i = 0; i < 200; i++)
    check_int8_case ((IntKind) (i % IK_N), &rng);
  {
    /* Say so when the CPU cannot take the integer path: then only the float one was run. */
    g_autoptr(BtTfliteExec) e = NULL;
    TflBuilder mb;
    int s[4] = { 1, 2, 2, 3 }, fs[4] = { 2, 1, 1, 3 }, os[4] = { 1, 2, 2, 2 }, bs[1] = { 2 };
    float sc = 0.01f;
    gint64 zp = 128, zero = 0;
    guint8 fq[6] = { 1, 2, 3, 4, 5, 6 };
    gint32 bq[2] = { 0, 0 };
    int ti, tf, tb, to;
    tflb_init (&mb);
    ti = tflb_tensor (&mb, BT_TFL_UINT8, 4, s, NULL, 0, 1, &sc, &zp, 0);
    tf = tflb_tensor (&mb, BT_TFL_UINT8, 4, fs, fq, 6, 1, &sc, &zp, 0);
    tb = tflb_tensor (&mb, BT_TFL_INT32, 1, bs, bq, 8, 1, &sc, &zero, 0);
    to = tflb_tensor (&mb, BT_TFL_UINT8, 4, os, NULL, 0, 1, &sc, &zp, 0);
    {
      int ins[3] = { ti, tf, tb };
      g_autoptr(GBytes) bytes = NULL;
      tflb_op (&mb, BT_TFL_OP_CONV_2D, NULL, 3, ins, to, 1, tflb_conv_options (SAME, 1, 1, ACT_NONE));
      bytes = tflb_finish (&mb, ti, to);
      probe = bt_tflite_load_bytes (bytes, NULL);
    }
    e = bt_tflite_exec_new_path (probe, BT_TFLITE_PATH_INT8, NULL);
    if (e == NULL)
      g_test_skip ("This CPU has no AVX2/FMA: the integer path was not run");
  }
}

/* The int8 outputs of bytes on input centred (scale 1/128) with BOTTEGA_TFLITE_FUSE=fuse
 * ("" for the default), and how many chains the integer path fused; NULL without AVX2. */
static float *
int8_run_fused (GBytes *bytes, const gint16 *centred, const char *fuse, gsize *n, int *n_fused)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(BtTflite) m = NULL;
  g_autoptr(BtTfliteExec) e = NULL;
  g_autofree float *x = NULL;
  const float *y;

  if (*fuse)
    g_setenv ("BOTTEGA_TFLITE_FUSE", fuse, TRUE);
  else
    g_unsetenv ("BOTTEGA_TFLITE_FUSE");
  m = bt_tflite_load_bytes (bytes, &error);
  g_assert_no_error (error);
  e = bt_tflite_exec_new_path (m, BT_TFLITE_PATH_INT8, NULL);
  g_unsetenv ("BOTTEGA_TFLITE_FUSE");
  if (e == NULL)
    return NULL;
  x = centred_input (m, centred);
  y = bt_tflite_exec_run (e, x, -1, n, &error);
  g_assert_no_error (error);
  *n_fused = bt_tfl_quant_n_fused (m->quant);
  return g_memdup2 (y, sizeof (float) * *n);
}

/* A uint8 chain of random geometry, a 1×1 or 3×3 convolution (MobileNet's first layer) → 3×3
 * depthwise → 1×1: run fused a band of 1, 2 or 3 rows at a time (bands that share input rows, a
 * last band cut short, padding rows at either end), its outputs equal those of the three
 * operators run one by one, to the bit. */
static void
check_int8_chain (BtRng *rng)
{
  TflBuilder mb;
  int H = 1 + (int) bt_rng_below (rng, 20), W = 1 + (int) bt_rng_below (rng, 20);
  int C = 1 + (int) bt_rng_below (rng, 40), E = 1 + (int) bt_rng_below (rng, 70);
  int OC = 1 + (int) bt_rng_below (rng, 40), stride = 1 + (int) bt_rng_below (rng, 2);
  int k0 = bt_rng_below (rng, 2) ? 3 : 1, stride0 = k0 == 3 ? 1 + (int) bt_rng_below (rng, 2) : 1;
  int padding, H0, W0, oh, ow, before;
  float scale[4] = { 1.f / 128, 0, 0, 0 }, f_scale[3];
  gint64 zp = 128, zero = 0;
  int t[4], layer_k[3] = { k0 * k0 * C, 9, E };
  g_autoptr(GBytes) bytes = NULL;
  g_autofree gint16 *centred = NULL;
  g_autofree float *plain = NULL;
  gsize n_plain;
  int n_fused;

  geometry_ref (H, k0, stride0, SAME, &H0, &before);
  geometry_ref (W, k0, stride0, SAME, &W0, &before);
  padding = bt_rng_below (rng, 2) || H0 < 3 || W0 < 3 ? SAME : VALID;
  geometry_ref (H0, 3, stride, padding, &oh, &before);
  geometry_ref (W0, 3, stride, padding, &ow, &before);
  for (int l = 0; l < 3; l++)
    {
      f_scale[l] = 0.004f + 0.01f * bt_rng_uniform (rng);
      scale[l + 1] = 40.f * sqrtf ((float) layer_k[l]) * f_scale[l] * 4.f * scale[l];
    }
  tflb_init (&mb);
  {
    int in_s[4] = { 1, H, W, C }, e_s[4] = { 1, H0, W0, E }, d_s[4] = { 1, oh, ow, E }, o_s[4] = { 1, oh, ow, OC };
    int f_s[3][4] = { { E, k0, k0, C }, { 1, 3, 3, E }, { OC, 1, 1, E } }, n_out[3] = { E, E, OC };
    const int *shapes[4] = { in_s, e_s, d_s, o_s };
    t[0] = tflb_tensor (&mb, BT_TFL_UINT8, 4, in_s, NULL, 0, 1, &scale[0], &zp, 0);
    for (int l = 0; l < 3; l++)
      {
        int n_f = f_s[l][0] * f_s[l][1] * f_s[l][2] * f_s[l][3], b_s[1] = { n_out[l] }, tf, tb;
        g_autofree guint8 *fq = g_new (guint8, n_f);
        g_autofree gint32 *bq = g_new (gint32, n_out[l]);
        gint64 f_zp = 100 + bt_rng_below (rng, 56);
        float b_scale = scale[l] * f_scale[l];
        int act = bt_rng_below (rng, 2) ? ACT_RELU6 : ACT_NONE;
        for (int i = 0; i < n_f; i++)
          fq[i] = (guint8) bt_rng_below (rng, 256);
        for (int i = 0; i < n_out[l]; i++)
          bq[i] = (gint32) bt_rng_below (rng, 4001) - 2000;
        tf = tflb_tensor (&mb, BT_TFL_UINT8, 4, f_s[l], fq, n_f, 1, &f_scale[l], &f_zp, 0);
        tb = tflb_tensor (&mb, BT_TFL_INT32, 1, b_s, bq, sizeof (gint32) * n_out[l], 1, &b_scale, &zero, 0);
        t[l + 1] = tflb_tensor (&mb, BT_TFL_UINT8, 4, shapes[l + 1], NULL, 0, 1, &scale[l + 1], &zp, 0);
        {
          int ins[3] = { t[l], tf, tb };
          if (l == 1)
            tflb_op (&mb, BT_TFL_OP_DEPTHWISE_CONV_2D, NULL, 3, ins, t[2], 2, tflb_dw_options (padding, stride, stride, 1, act));
          else
            tflb_op (&mb, BT_TFL_OP_CONV_2D, NULL, 3, ins, t[l + 1], 1,
                     tflb_conv_options (SAME, l == 0 ? stride0 : 1, l == 0 ? stride0 : 1, act));
        }
      }
  }
  bytes = tflb_finish (&mb, t[0], t[3]);
  centred = g_new (gint16, (gsize) H * W * C);
  for (int i = 0; i < H * W * C; i++)
    centred[i] = (gint16) ((int) bt_rng_below (rng, 256) - 128);
  plain = int8_run_fused (bytes, centred, "0", &n_plain, &n_fused);
  if (plain == NULL)
    return;
  g_assert_cmpint (n_fused, ==, 0);
  g_assert_cmpuint (n_plain, ==, (gsize) oh * ow * OC);
  for (int band = 1; band <= 3; band++)
    {
      g_autofree char *fuse = g_strdup_printf ("%d", band);
      gsize n;
      g_autofree float *fused = int8_run_fused (bytes, centred, fuse, &n, &n_fused);
      g_assert_cmpint (n_fused, ==, 1);
      g_assert_cmpuint (n, ==, n_plain);
      for (gsize i = 0; i < n; i++)
        if (fused[i] != plain[i])
          g_error ("%dx%dx%d → %d (k %d, stride %d) → %d, stride %d, padding %d, band %d: output %"
                   G_GSIZE_FORMAT " is %g fused, %g op by op", H, W, C, E, k0, stride0, OC, stride,
                   padding, band, i, fused[i], plain[i]);
    }
}

static void
test_int8_fused (void)
{
  BtRng rng;
  bt_rng_seed (&rng, 1919);
  for (int i = 0; i < 60; i++)
    check_int8_chain (&rng);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/tflite/op/conv", test_conv);
  g_test_add_func ("/tflite/op/depthwise", test_depthwise);
  g_test_add_func ("/tflite/op/pool", test_pool);
  g_test_add_func ("/tflite/op/add-softmax-reshape", test_add_softmax_reshape);
  g_test_add_func ("/tflite/op/fully-connected", test_fully_connected);
  g_test_add_func ("/tflite/op/mean", test_mean);
  g_test_add_func ("/tflite/op/pad-concat", test_pad_concat);
  g_test_add_func ("/tflite/quantized", test_quantized);
  g_test_add_func ("/tflite/int8/random-shapes", test_int8_random);
  g_test_add_func ("/tflite/int8/extreme-values", test_int8_extreme);
  g_test_add_func ("/tflite/int8/fused-chains", test_int8_fused);
  g_test_add_func ("/tflite/unsupported", test_unsupported);
  g_test_add_func ("/tflite/corrupt", test_corrupt);
  g_test_add_func ("/tflite/fixtures/structure", test_fixtures_structure);
  g_test_add_func ("/tflite/fixtures/damage", test_fixture_damage);
  return g_test_run ();
}
