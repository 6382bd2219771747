/* test-tflite-grad.c: the backward pass of every backbone operator that fine-tuning trains
 * (bt-tflite-grad.c) against central differences, on small graphs written by tflite-builder.h
 * with odd sizes, strides 1 and 2, SAME and VALID padding and the fused ReLU6; the batched
 * forward against the executor; and where the block cuts fall in a two-block graph. */
#include "config.h"

#include <math.h>
#include <string.h>

#include "engine/bt-tflite-grad.h"
#include "engine/bt-tflite-private.h"
#include "engine/bt-net-walk.h"
#include "tflite-builder.h"

enum { SAME = 0, VALID = 1 };
enum { ACT_NONE = 0, ACT_RELU6 = 3 };

static void
fill_random (float *x, gsize n, BtRng *rng, float scale)
{
  for (gsize i = 0; i < n; i++)
    x[i] = scale * (2.f * bt_rng_uniform (rng) - 1.f);
}

/* ---- Graph pieces ---- */

static int
add_conv (TflBuilder *mb, BtRng *rng, int in, int h, int w, int c, int oc, int k, int stride,
          int padding, gboolean depthwise, int act, int *oh, int *ow)
{
  int mult = oc / c;
  int f_shape[4] = { depthwise ? 1 : oc, k, k, depthwise ? oc : c }, b_shape[1] = { oc };
  g_autofree float *f = g_new (float, (gsize) oc * k * k * (depthwise ? 1 : c));
  g_autofree float *b = g_new (float, oc);
  fill_random (f, (gsize) oc * k * k * (depthwise ? 1 : c), rng, 1.f);
  fill_random (b, oc, rng, 0.5f);
  *oh = padding == SAME ? (h + stride - 1) / stride : (h - k) / stride + 1;
  *ow = padding == SAME ? (w + stride - 1) / stride : (w - k) / stride + 1;
  int o_shape[4] = { 1, *oh, *ow, oc };
  int ins[3] = { in, tflb_float (mb, 4, f_shape, f), tflb_float (mb, 1, b_shape, b) };
  int out = tflb_float (mb, 4, o_shape, NULL);
  if (depthwise)
    tflb_op (mb, BT_TFL_OP_DEPTHWISE_CONV_2D, NULL, 3, ins, out, 2,
             tflb_dw_options (padding, stride, stride, mult, act));
  else
    tflb_op (mb, BT_TFL_OP_CONV_2D, NULL, 3, ins, out, 1,
             tflb_conv_options (padding, stride, stride, act));
  return out;
}

typedef struct {
  const char *name;
  int  h, w, c;
  int  kind;          /* 0 conv, 1 depthwise, 2 average pool, 3 mean, 4 residual block */
  int  oc, k, stride, padding, act;
} Case;

static const Case cases[] = {
  { "conv 3×3/1 same relu6 5×7", 5, 7, 3, 0, 4, 3, 1, SAME, ACT_RELU6 },
  { "conv 3×3/2 same 7×5", 7, 5, 2, 0, 3, 3, 2, SAME, ACT_NONE },
  { "conv 3×3/2 valid relu6 7×7", 7, 7, 3, 0, 5, 3, 2, VALID, ACT_RELU6 },
  { "conv 1×1/1 pointwise relu6 3×5", 3, 5, 6, 0, 5, 1, 1, VALID, ACT_RELU6 },
  { "conv 1×1/2 same 5×5", 5, 5, 4, 0, 3, 1, 2, SAME, ACT_NONE },
  { "depthwise 3×3/1 same relu6 5×7", 5, 7, 3, 1, 3, 3, 1, SAME, ACT_RELU6 },
  { "depthwise 3×3/2 same ×2 relu6 7×6", 7, 6, 2, 1, 4, 3, 2, SAME, ACT_RELU6 },
  { "depthwise 3×3/2 valid 7×7", 7, 7, 3, 1, 3, 3, 2, VALID, ACT_NONE },
  { "depthwise 5×5/1 same ×2 relu6 6×5 (general kernel)", 6, 5, 2, 1, 4, 5, 1, SAME, ACT_RELU6 },
  { "average pool 3×3/2 same 7×5", 7, 5, 3, 2, 3, 3, 2, SAME, ACT_NONE },
  { "global average pool 5×3", 5, 3, 4, 2, 4, 0, 1, VALID, ACT_NONE },
  { "mean over h, w 3×5", 3, 5, 4, 3, 4, 0, 1, VALID, ACT_NONE },
  { "inverted residual + mean 5×5", 5, 5, 3, 4, 8, 3, 1, SAME, ACT_RELU6 },
};

/* The graph of one case: input → operator(s) → output. */
static GBytes *
build_case (const Case *cc, BtRng *rng)
{
  TflBuilder mb;
  int in_shape[4] = { 1, cc->h, cc->w, cc->c };
  int ti, to, oh, ow;

  tflb_init (&mb);
  ti = tflb_float (&mb, 4, in_shape, NULL);
  switch (cc->kind)
    {
    case 0:
    case 1:
      to = add_conv (&mb, rng, ti, cc->h, cc->w, cc->c, cc->oc, cc->k, cc->stride, cc->padding,
                     cc->kind == 1, cc->act, &oh, &ow);
      break;
    case 2:
      {
        int k = cc->k > 0 ? cc->k : 0, kh = k ? k : cc->h, kw = k ? k : cc->w;
        oh = cc->padding == SAME ? (cc->h + cc->stride - 1) / cc->stride : (cc->h - kh) / cc->stride + 1;
        ow = cc->padding == SAME ? (cc->w + cc->stride - 1) / cc->stride : (cc->w - kw) / cc->stride + 1;
        int o_shape[4] = { 1, oh, ow, cc->c };
        to = tflb_float (&mb, 4, o_shape, NULL);
        tflb_op (&mb, BT_TFL_OP_AVERAGE_POOL_2D, NULL, 1, &ti, to, 5,
                 tflb_pool_options (cc->padding, cc->stride, cc->stride, kw, kh, ACT_NONE));
        break;
      }
    default:
      {
        int x = ti;
        if (cc->kind == 4)
          {
            /* expand 1×1 + ReLU6, depthwise 3×3 + ReLU6, linear projection, add the input */
            int e = add_conv (&mb, rng, ti, cc->h, cc->w, cc->c, cc->oc, 1, 1, VALID, FALSE,
                              ACT_RELU6, &oh, &ow);
            int d = add_conv (&mb, rng, e, oh, ow, cc->oc, cc->oc, 3, 1, SAME, TRUE, ACT_RELU6, &oh, &ow);
            int p = add_conv (&mb, rng, d, oh, ow, cc->oc, cc->c, 1, 1, VALID, FALSE, ACT_NONE, &oh, &ow);
            int a_ins[2] = { p, ti };
            x = tflb_float (&mb, 4, in_shape, NULL);
            tflb_op (&mb, BT_TFL_OP_ADD, NULL, 2, a_ins, x, 11, tflb_act_options (ACT_NONE));
          }
        int axes[2] = { 1, 2 }, as[1] = { 2 }, o_shape[2] = { 1, cc->c };
        int ins[2] = { x, tflb_int32 (&mb, 1, as, axes) };
        FbNode *opt = fbn_table ();
        fbn_scalar (opt, 0, 1, 0);
        to = tflb_float (&mb, 2, o_shape, NULL);
        tflb_op (&mb, BT_TFL_OP_MEAN, NULL, 2, ins, to, 27, opt);
        break;
      }
    }
  return tflb_finish (&mb, ti, to);
}

/* ---- The check ---- */

typedef struct { BtTflTrain *t; float *x, *y, *r; int n; gsize n_out; } LossCtx;

static double
loss (LossCtx *c)
{
  double l = 0;
  bt_tfl_train_forward (c->t, c->x, c->n, c->y);
  for (gsize i = 0; i < c->n_out; i++)
    l += (double) c->y[i] * c->r[i];
  return l;
}

/* Finite differences on every element of x (at most 80 of them) against the analytic gradient.
 * The graphs are piecewise linear in each input and weight, so where a clamp's kink lies between
 * x − h and x + h one of the one-sided differences is still exact: the check takes the closest
 * of the central and the two one-sided ones. */
static void
check_grad (const char *what, const char *name, float *x, const float *analytic, gsize len, LossCtx *c)
{
  const float h = 2e-3f;
  gsize step = len > 80 ? len / 80 : 1;
  double scale = 1e-2;
  for (gsize i = 0; i < len; i++)
    scale = MAX (scale, fabs (analytic[i]));
  for (gsize i = 0; i < len; i += step)
    {
      float saved = x[i];
      double l0 = loss (c);
      x[i] = saved + h;
      double lp = loss (c);
      x[i] = saved - h;
      double lm = loss (c);
      x[i] = saved;
      double num[3] = { (lp - lm) / (2.0 * h), (lp - l0) / h, (l0 - lm) / h };
      double best = num[0];
      for (int k = 1; k < 3; k++)
        if (fabs (num[k] - analytic[i]) < fabs (best - analytic[i]))
          best = num[k];
      if (fabs (best - analytic[i]) > 3e-3 * scale + 2e-2 * fabs (best))
        {
          g_test_fail_printf ("%s, %s[%" G_GSIZE_FORMAT "]: analytic %.6g, numeric %.6g", name, what, i,
                              analytic[i], num[0]);
          return;
        }
    }
}

static void
test_case (gconstpointer data)
{
  const Case *cc = data;
  g_autoptr(GError) error = NULL;
  BtRng rng;
  const int n = 3;

  bt_rng_seed (&rng, 27 + (guint64) (cc - cases));
  g_autoptr(GBytes) bytes = build_case (cc, &rng);
  g_autoptr(BtTflite) m = bt_tflite_load_bytes (bytes, &error);
  g_assert_no_error (error);
  g_autoptr(BtTflTrain) t = bt_tfl_train_new (m, m->input, m->output, 4, &error);
  g_assert_no_error (error);
  gsize in_size = bt_tfl_train_in_size (t), out_size = bt_tfl_train_out_size (t), n_p;
  g_autofree float *x = g_new (float, n * in_size), *y = g_new (float, n * out_size);
  g_autofree float *r = g_new (float, n * out_size), *dx = g_new (float, n * in_size);
  LossCtx c = { t, x, y, r, n, n * out_size };

  fill_random (x, n * in_size, &rng, 1.f);
  fill_random (r, n * out_size, &rng, 1.f);

  /* the batched forward is the executor's, image by image */
  {
    g_autoptr(BtTfliteExec) e = bt_tflite_exec_new (m, &error);
    g_autofree float *want = g_new (float, out_size);
    bt_tfl_train_forward (t, x, n, y);
    for (int i = 0; i < n; i++)
      {
        gsize k;
        const float *l = bt_tflite_exec_run (e, x + i * in_size, -1, &k, &error);
        const BtTflTensor *ot = &m->tensors[m->output];
        g_assert_no_error (error);
        g_assert_cmpuint (k, ==, out_size);
        if (ot->rank == 4)
          bt_tflite_nhwc_to_nchw (want, l, 1, ot->shape[1], ot->shape[2], ot->shape[3]);
        else
          memcpy (want, l, k * sizeof (float));
        for (gsize j = 0; j < k; j++)
          g_assert_cmpfloat_with_epsilon (y[i * out_size + j], want[j], 1e-4 * (1 + fabsf (want[j])));
      }
  }

  float *p = bt_tfl_train_params (t, &n_p);
  float *g = bt_tfl_train_grads (t, &n_p);
  bt_tfl_train_zero_grads (t);
  bt_tfl_train_forward (t, x, n, y);
  bt_tfl_train_backward (t, r, dx);
  check_grad ("d_in", cc->name, x, dx, n * in_size, &c);
  if (n_p > 0)
    {
      g_autofree float *g1 = g_memdup2 (g, n_p * sizeof (float));
      check_grad ("d_params", cc->name, p, g1, n_p, &c);
      /* backward adds into the gradients; without d_in the parameter gradients are the same */
      bt_tfl_train_forward (t, x, n, y);
      bt_tfl_train_backward (t, r, NULL);
      for (gsize i = 0; i < n_p; i++)
        g_assert_cmpfloat_with_epsilon (g[i], 2 * g1[i], 1e-5 * (1 + fabsf (g1[i])));
    }
}

/* Two inverted residual blocks and a 1×1 head conv before the mean: the cut for one block is the
 * first block's output (the add), for two the input. */
static void
test_block_cuts (void)
{
  g_autoptr(GError) error = NULL;
  TflBuilder mb;
  BtRng rng;
  int in_shape[4] = { 1, 5, 5, 3 }, oh, ow, cuts[4];
  int ti, x, blocks[2];

  bt_rng_seed (&rng, 5);
  tflb_init (&mb);
  ti = x = tflb_float (&mb, 4, in_shape, NULL);
  for (int b = 0; b < 2; b++)
    {
      int e = add_conv (&mb, &rng, x, 5, 5, 3, 6, 1, 1, VALID, FALSE, ACT_RELU6, &oh, &ow);
      int d = add_conv (&mb, &rng, e, 5, 5, 6, 6, 3, 1, SAME, TRUE, ACT_RELU6, &oh, &ow);
      int p = add_conv (&mb, &rng, d, 5, 5, 6, 3, 1, 1, VALID, FALSE, ACT_NONE, &oh, &ow);
      int a_ins[2] = { p, x };
      int a = tflb_float (&mb, 4, in_shape, NULL);
      tflb_op (&mb, BT_TFL_OP_ADD, NULL, 2, a_ins, a, 11, tflb_act_options (ACT_NONE));
      blocks[b] = x = a;
    }
  int head = add_conv (&mb, &rng, x, 5, 5, 3, 8, 1, 1, VALID, FALSE, ACT_RELU6, &oh, &ow);
  int axes[2] = { 1, 2 }, as[1] = { 2 }, o_shape[2] = { 1, 8 };
  int ins[2] = { head, tflb_int32 (&mb, 1, as, axes) };
  FbNode *opt = fbn_table ();
  fbn_scalar (opt, 0, 1, 0);
  int to = tflb_float (&mb, 2, o_shape, NULL);
  tflb_op (&mb, BT_TFL_OP_MEAN, NULL, 2, ins, to, 27, opt);
  g_autoptr(GBytes) bytes = tflb_finish (&mb, ti, to);
  g_autoptr(BtTflite) m = bt_tflite_load_bytes (bytes, &error);
  g_assert_no_error (error);

  g_assert_cmpint (bt_tflite_block_cuts (m, to, cuts, 4), ==, 2);
  g_assert_cmpint (cuts[0], ==, blocks[0]);
  g_assert_cmpint (cuts[1], ==, ti);
  g_assert_cmpint (bt_tflite_block_cuts (m, to, cuts, 1), ==, 1);
  g_assert_cmpuint (bt_tflite_tensor_size (m, cuts[0]), ==, 75);

  /* a cut inside a block (the expansion's output) reads the block's input from below: refused */
  g_autoptr(BtTflTrain) bad = bt_tfl_train_new (m, m->ops[0].output, to, 2, &error);
  g_assert_null (bad);
  g_assert_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID);
  g_clear_error (&error);

  /* the top block + head: 3 convs of the block and the head conv are weighted */
  g_autoptr(BtTflTrain) t = bt_tfl_train_new (m, cuts[0], to, 2, &error);
  g_assert_no_error (error);
  g_assert_cmpint (bt_tfl_train_n_weighted (t), ==, 4);
  g_assert_cmpuint (bt_tfl_train_out_size (t), ==, 8);

  /* set_op_weights checks lengths and values */
  const float *w, *b;
  gsize nw, nb;
  int op = bt_tfl_train_weighted (t, 3, &w, &nw, &b, &nb);
  g_assert_cmpint (op, ==, m->tensors[head].producer);
  g_assert_false (bt_tflite_set_op_weights (m, op, w, nw - 1, b, nb, &error));
  g_assert_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_CORRUPT);
  g_clear_error (&error);
  g_autofree float *nanw = g_memdup2 (w, nw * sizeof (float));
  nanw[1] = NAN;
  g_assert_false (bt_tflite_set_op_weights (m, op, nanw, nw, b, nb, &error));
  g_assert_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_CORRUPT);
  g_clear_error (&error);
}

/* Runs the walk's layer list (bt_tflite_walk_layer, what the PyTorch export writes) with the
 * engine's plain kernels; returns the embedding (g_free). */
static float *
run_walk (const BtTflite *m, const float *img, int *dim)
{
  int n_layers = bt_tflite_walk_n_layers (m, dim, NULL);
  g_assert_cmpint (n_layers, >, 0);
  guint n = (guint) n_layers;
  float **outs = g_new0 (float *, n);
  for (int i = 0; i < n_layers; i++)
    {
      BtTflLayerInfo l;
      BtConvShape cs;
      bt_tflite_walk_layer (m, i, &l);
      g_assert_cmpint (l.index, ==, i);
      g_assert_cmpint (l.src, <, i);
      g_assert_cmpint (l.src2, <, i);
      const float *x = l.src < 0 ? img : outs[l.src];
      gsize size = (gsize) l.c * l.h * l.w;
      float *y = outs[i] = g_new (float, size);
      if (l.op <= BT_TFL_LAYER_MAXPOOL)
        g_assert_true (bt_conv_shape_init (&cs, 1, l.in_c, l.in_h, l.in_w, l.c, l.kh, l.kw, l.sh, l.sw, l.pad_top,
                                           l.pad_left, l.pad_bottom, l.pad_right, l.groups, NULL));
      switch (l.op)
        {
        case BT_TFL_LAYER_CONV:
          {
            g_assert_cmpuint (l.weight_len, ==, (gsize) l.c * l.in_c * l.kh * l.kw);
            g_autofree float *ws = g_new (float, bt_conv2d_workspace_size (&cs));
            bt_conv2d_forward (y, x, l.weight, l.bias, &cs, ws);
            break;
          }
        case BT_TFL_LAYER_DWCONV:
          g_assert_cmpint (l.groups, ==, l.in_c);
          bt_dwconv2d_forward (y, x, l.weight, l.bias, &cs);
          break;
        case BT_TFL_LAYER_AVGPOOL:
          bt_avgpool2d_forward (y, x, &cs);
          break;
        case BT_TFL_LAYER_MAXPOOL:
          {
            g_autofree gint32 *arg = g_new (gint32, size);
            bt_maxpool2d_forward (y, arg, x, &cs);
            break;
          }
        case BT_TFL_LAYER_MEAN:
          for (int c = 0; c < l.c; c++)
            {
              double sum = 0;
              for (int k = 0; k < l.in_h * l.in_w; k++)
                sum += x[(gsize) c * l.in_h * l.in_w + k];
              y[c] = (float) (sum / (l.in_h * l.in_w));
            }
          break;
        case BT_TFL_LAYER_ADD:
          for (gsize k = 0; k < size; k++)
            y[k] = x[k] + (l.src2 >= 0 ? outs[l.src2][k] : l.constant);
          break;
        case BT_TFL_LAYER_IDENTITY:
        default:
          memcpy (y, x, size * sizeof (float));
          break;
        }
      for (gsize k = 0; k < size; k++)
        y[k] = CLAMP (y[k], l.lo, l.hi);
    }
  float *emb = g_steal_pointer (&outs[n - 1]);
  for (guint i = 0; i < n; i++)
    g_free (outs[i]);
  g_free (outs);
  return emb;
}

/* The walk of a backbone's float graph (the PyTorch export's backbone.json): run with plain
 * kernels it gives the float executor's embedding, and after fine-tuned weights replace an
 * operator's it reports (and computes with) those. MobileNet V1 0.25/128, for time. */
static void
test_walk (void)
{
  g_autoptr(GError) error = NULL;
  const char *shared = g_getenv ("BOTTEGA_SHARED_DIR");
  g_autofree char *path = g_build_filename (shared ? shared : "../shared", "models",
                                            "mobilenet_v1_0.25_128_quant.tflite", NULL);
  int dim, wdim, h, w, c, end;
  BtRng rng;

  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    {
      g_test_skip ("MobileNet V1 0.25/128 not found: set BOTTEGA_SHARED_DIR to the folder holding models/");
      return;
    }
  g_autoptr(BtTflite) m = bt_tflite_load (path, &error);
  g_assert_no_error (error);
  end = bt_tflite_find_embedding_cut (m, &dim, &error);
  g_assert_no_error (error);
  bt_tflite_input_shape (m, &h, &w, &c);
  g_autofree float *img = g_new (float, (gsize) h * w * c);
  bt_rng_seed (&rng, 5);
  fill_random (img, (gsize) h * w * c, &rng, 1.f);

  /* a "fine-tuned" last convolution: its weights scaled */
  int op = -1, shape[4];
  gsize nb = 0;
  for (int k = bt_tflite_n_operators (m) - 1; k >= 0 && op < 0; k--)
    if (m->ops[k].code == BT_TFL_OP_CONV_2D && bt_tflite_op_weight_shape (m, k, shape, &nb))
      op = k;
  g_assert_cmpint (op, >=, 0);
  gsize nw = (gsize) shape[0] * shape[1] * shape[2] * shape[3];
  g_autofree float *nwts = g_memdup2 (m->ops[op].w, nw * sizeof (float));
  g_autofree float *nbias = g_memdup2 (m->ops[op].b, nb * sizeof (float));
  for (gsize i = 0; i < nw; i++)
    nwts[i] *= 1.5f;
  g_assert_true (bt_tflite_set_op_weights (m, op, nwts, nw, nbias, nb, &error));
  g_assert_no_error (error);

  BtTflLayerInfo l;
  bt_tflite_walk_layer (m, op, &l);
  g_assert_true (l.op == BT_TFL_LAYER_CONV && l.weight_len == nw);
  g_assert_cmpmem (l.weight, nw * sizeof (float), nwts, nw * sizeof (float));

  g_autoptr(BtTfliteExec) e = bt_tflite_exec_new (m, &error);   /* changed weights: the float path */
  gsize n;
  const float *want = bt_tflite_exec_run (e, img, end, &n, &error);
  g_assert_no_error (error);
  g_autofree float *got = run_walk (m, img, &wdim);
  g_assert_cmpint (wdim, ==, dim);
  for (int i = 0; i < dim; i++)
    g_assert_cmpfloat_with_epsilon (got[i], want[i], 1e-4 * (1 + fabsf (want[i])));
}

/* MobileNet V2 (the quantized backbone, dequantized): its blocks, and the top blocks' batched
 * forward from the executor's cut activation equals the executor's embedding. */
static void
test_mobilenet_v2 (void)
{
  g_autoptr(GError) error = NULL;
  const char *shared = g_getenv ("BOTTEGA_SHARED_DIR");
  g_autofree char *path = g_build_filename (shared ? shared : "../shared", "models",
                                            "mobilenet_v2_1.0_224_quant.tflite", NULL);
  int cuts[20], dim, h, w, c;
  BtRng rng;

  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    {
      g_test_skip ("MobileNet V2 not found: set BOTTEGA_SHARED_DIR to the folder holding models/");
      return;
    }
  g_autoptr(BtTflite) m = bt_tflite_load (path, &error);
  g_assert_no_error (error);
  int end = bt_tflite_find_embedding_cut (m, &dim, &error);
  g_assert_no_error (error);
  /* 17 inverted residual blocks; the first (no expansion) starts at the stem's output */
  g_assert_cmpint (bt_tflite_block_cuts (m, end, cuts, 20), ==, 17);
  g_assert_cmpuint (bt_tflite_tensor_size (m, cuts[0]), ==, 7 * 7 * 160);
  g_assert_cmpuint (bt_tflite_tensor_size (m, cuts[2]), ==, 7 * 7 * 160);
  g_assert_cmpuint (bt_tflite_tensor_size (m, cuts[3]), ==, 14 * 14 * 96);

  bt_tflite_input_shape (m, &h, &w, &c);
  g_autofree float *img = g_new (float, (gsize) h * w * c);
  bt_rng_seed (&rng, 3);
  fill_random (img, (gsize) h * w * c, &rng, 1.f);
  /* the float path: the arithmetic the top blocks are trained and predicted with */
  g_autoptr(BtTfliteExec) e = bt_tflite_exec_new_path (m, BT_TFLITE_PATH_FLOAT, &error);
  gsize n;
  const float *emb = bt_tflite_exec_run (e, img, end, &n, &error);
  g_assert_no_error (error);
  g_autofree float *want = g_memdup2 (emb, n * sizeof (float));
  const BtTflTensor *ct = &m->tensors[cuts[3]];
  const float *cut = bt_tflite_exec_run (e, img, cuts[3], &n, &error);
  g_assert_no_error (error);
  g_autofree float *x = g_new (float, n);
  bt_tflite_nhwc_to_nchw (x, cut, 1, ct->shape[1], ct->shape[2], ct->shape[3]);

  g_autoptr(BtTflTrain) t = bt_tfl_train_new (m, cuts[3], end, 2, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (bt_tfl_train_out_size (t), ==, (gsize) dim);
  g_autofree float *y = g_new (float, dim);
  bt_tfl_train_forward (t, x, 1, y);
  for (int i = 0; i < dim; i++)
    g_assert_cmpfloat_with_epsilon (y[i], want[i], 1e-4 * (1 + fabsf (want[i])));

  /* changed (fine-tuned) weights never run on the integer path, whose packed weights are the
   * file's: every executor from then on takes the float path and computes with the new ones */
  int op = -1, shape[4];
  gsize nb = 0;
  for (int k = 0; k < m->n_ops && op < 0; k++)
    if (m->ops[k].inputs[0] == cuts[0] && bt_tflite_op_weight_shape (m, k, shape, &nb))
      op = k;
  g_assert_cmpint (op, >=, 0);
  gsize nw = (gsize) shape[0] * shape[1] * shape[2] * shape[3];
  g_autofree float *w2 = g_memdup2 (m->ops[op].w, nw * sizeof (float));
  g_autofree float *b2 = g_memdup2 (m->ops[op].b, nb * sizeof (float));
  for (gsize i = 0; i < nw; i++)
    w2[i] *= 0.5f;
  g_assert_true (bt_tflite_set_op_weights (m, op, w2, nw, b2, nb, &error));
  g_assert_no_error (error);
  g_assert_null (bt_tflite_exec_new_path (m, BT_TFLITE_PATH_INT8, &error));
  g_assert_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_UNSUPPORTED);
  g_clear_error (&error);
  g_autoptr(BtTfliteExec) e2 = bt_tflite_exec_new (m, &error);
  g_assert_no_error (error);
  g_assert_cmpint (bt_tflite_exec_path (e2, end), ==, BT_TFLITE_PATH_FLOAT);
  g_autoptr(BtTfliteExec) e3 = bt_tflite_exec_new_path (m, BT_TFLITE_PATH_FLOAT, &error);
  const float *a2 = bt_tflite_exec_run (e2, img, end, &n, &error);
  g_assert_no_error (error);
  g_autofree float *got = g_memdup2 (a2, n * sizeof (float));
  const float *a3 = bt_tflite_exec_run (e3, img, end, &n, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (got, n * sizeof (float), a3, n * sizeof (float));
  gboolean differs = FALSE;
  for (int i = 0; i < dim; i++)
    differs |= got[i] != want[i];
  g_assert_true (differs);
}

/* The transfer head's gradient with respect to its input (what fine-tuning feeds back into the
 * backbone's top), against central differences of the loss. */
static void
test_head_input_grad (void)
{
  g_autoptr(GError) error = NULL;
  const int n = 3, dim = 7, classes = 4;
  int labels[3] = { 0, 3, 1 };
  float x[21], dx[21];
  BtRng rng;
  double l;

  bt_rng_seed (&rng, 11);
  fill_random (x, G_N_ELEMENTS (x), &rng, 2.f);
  for (int hidden = 0; hidden <= 8; hidden += 8)
    {
      g_autoptr(BtNet) net = bt_net_new_transfer (dim, hidden, classes, 0.f, 1, &error);
      g_assert_no_error (error);
      bt_net_set_input_grad (net, dx);
      g_assert_nonnull (bt_net_forward (net, x, n, TRUE, &error));
      bt_net_zero_grad (net);
      g_assert_true (bt_net_backward (net, labels, n, NULL, 0.f, &l, NULL, &error));
      bt_net_set_input_grad (net, NULL);
      for (int i = 0; i < n * dim; i++)
        {
          const float h = 1e-2f, saved = x[i];
          double lp, lm;
          x[i] = saved + h;
          bt_net_forward (net, x, n, FALSE, &error);
          lp = bt_net_loss (net, labels, n, NULL);
          x[i] = saved - h;
          bt_net_forward (net, x, n, FALSE, &error);
          lm = bt_net_loss (net, labels, n, NULL);
          x[i] = saved;
          /* bt_net_backward's loss is the batch mean, as bt_net_loss's */
          g_assert_cmpfloat_with_epsilon (dx[i], (lp - lm) / (2 * h), 2e-3);
        }
    }
}

/* Bytes changed in place and the file's SHA-256 made right again: only the change is wrong. */
static GBytes *
reseal (guint8 *b, gsize len)
{
  g_autoptr(GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  gsize dlen = 32;
  g_checksum_update (sum, b, len - 32);
  g_checksum_get_digest (sum, b + len - 32, &dlen);
  return g_bytes_new (b, len);
}

/* Format 3: fine-tuned operators round-trip; they need the whole network, a version 3 file,
 * and each weight its bias. */
static void
test_model_format (void)
{
  g_autoptr(GError) error = NULL;
  static const char tfl[] = "\x10\0\0\0TFL3 stands in for the backbone";
  g_autoptr(GBytes) blob = g_bytes_new_static (tfl, sizeof tfl);
  const char *names[] = { "a", "b", NULL };
  float w[18], b[2] = { 0.5f, -0.25f };
  g_autoptr(GArray) weights = g_array_new (FALSE, TRUE, sizeof (BtBackboneWeights));
  BtBackboneWeights bw = { 3, { 2, 1, 3, 3 }, w, b };
  g_autoptr(BtNet) net = bt_net_new_transfer (6, 0, 2, 0.f, 1, &error);

  for (int i = 0; i < 18; i++)
    w[i] = 0.125f * (float) (i - 9);
  g_array_append_val (weights, bw);
  g_assert_null (bt_model_save_to_bytes_finetuned (net, names, NULL, "bb.tflite", NULL, NULL, weights, NULL, NULL, &error));
  g_assert_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID);
  g_clear_error (&error);
  g_autoptr(GBytes) bytes = bt_model_save_to_bytes_finetuned (net, names, NULL, "bb.tflite", NULL, blob, weights,
                                                              NULL, NULL, &error);
  g_assert_no_error (error);
  gsize len;
  const guint8 *data = g_bytes_get_data (bytes, &len);
  g_assert_cmpuint (data[8], ==, 3);
  g_autoptr(BtModel) m = bt_model_load_bytes (bytes, &error);
  g_assert_no_error (error);
  g_assert_nonnull (m->backbone_weights);
  g_assert_cmpuint (m->backbone_weights->len, ==, 1);
  const BtBackboneWeights *got = &g_array_index (m->backbone_weights, BtBackboneWeights, 0);
  g_assert_cmpint (got->op, ==, 3);
  g_assert_cmpmem (got->w, sizeof w, w, sizeof w);
  g_assert_cmpmem (got->b, sizeof b, b, sizeof b);
  /* a file without fine-tuned operators stays version 2 */
  g_autoptr(GBytes) v2 = bt_model_save_to_bytes_finetuned (net, names, NULL, "bb.tflite", NULL, blob, NULL, NULL,
                                                           NULL, &error);
  g_assert_cmpuint (((const guint8 *) g_bytes_get_data (v2, NULL))[8], ==, 2);
  /* test-time augmentation ([inference], no version of its own) and fine-tuned operators
   * together: a version 3 file that keeps both, through the whole-model saver */
  {
    BtModel both = { .net = net, .class_names = (char **) names, .backbone_name = (char *) "bb.tflite",
                     .backbone_data = blob, .backbone_weights = weights, .tta = BT_TTA_MIRROR };
    bt_preprocess_init_default (&both.prep, 224, 224, 3);
    bt_calibration_init (&both.calib);
    g_autoptr(GBytes) tb = bt_model_to_bytes (&both, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (((const guint8 *) g_bytes_get_data (tb, NULL))[8], ==, 3);
    g_autoptr(BtModel) back = bt_model_load_bytes (tb, &error);
    g_assert_no_error (error);
    g_assert_cmpint (back->tta, ==, BT_TTA_MIRROR);
    g_assert_nonnull (back->backbone_weights);
    g_assert_cmpuint (back->backbone_weights->len, ==, 1);
    g_assert_cmpmem (g_array_index (back->backbone_weights, BtBackboneWeights, 0).w, sizeof w, w, sizeof w);
  }

  /* the same tensors in a file that says version 2: damaged */
  {
    g_autofree guint8 *c = g_memdup2 (data, len);
    c[8] = 2;
    g_autoptr(GBytes) bad = reseal (c, len);
    g_assert_null (bt_model_load_bytes (bad, &error));
    g_assert_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_CORRUPT);
    g_clear_error (&error);
  }
  /* a weight without its bias (renamed): damaged */
  {
    g_autofree guint8 *c = g_memdup2 (data, len);
    guint8 *at = memmem (c, len, "backbone.op.3.bias", 18);
    g_assert_nonnull (at);
    at[17] = 'z';
    g_autoptr(GBytes) bad = reseal (c, len);
    g_assert_null (bt_model_load_bytes (bad, &error));
    g_assert_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_CORRUPT);
    g_clear_error (&error);
  }
  /* a future version: unsupported, not damaged */
  {
    g_autofree guint8 *c = g_memdup2 (data, len);
    c[8] = 4;
    g_autoptr(GBytes) bad = reseal (c, len);
    g_assert_null (bt_model_load_bytes (bad, &error));
    g_assert_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_UNSUPPORTED);
    g_clear_error (&error);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/tflite-grad/op/%" G_GSIZE_FORMAT, i);
      g_test_add_data_func (path, &cases[i], test_case);
    }
  g_test_add_func ("/tflite-grad/block-cuts", test_block_cuts);
  g_test_add_func ("/tflite-grad/mobilenet-v2", test_mobilenet_v2);
  g_test_add_func ("/tflite-grad/head-input-grad", test_head_input_grad);
  g_test_add_func ("/tflite-grad/model-format-3", test_model_format);
  g_test_add_func ("/tflite-grad/walk", test_walk);
  return g_test_run ();
}
