/* test-net.c: presets (shapes, parameter counts, bad settings), an end-to-end gradient check of
 * every preset, determinism, batch-size independence, NaN reporting, optimizers and schedules. */
#include <glib/gstdio.h>
#include "engine/bt-engine.h"
#include "engine/bt-engine-private.h"

#include <math.h>
#include <string.h>

static float *
rand_input (BtRng *rng, gsize len)
{
  float *v = g_new (float, len);
  for (gsize i = 0; i < len; i++)
    v[i] = bt_rng_uniform (rng);
  return v;
}

static void
test_presets (void)
{
  /* counts as PyTorch reports them for the same layers at 28×28×1, 10 classes */
  const struct { BtPreset p; gsize params; } known[] = {
    { BT_PRESET_MLP, 235146 },
    { BT_PRESET_SMALL_CNN, 421642 },
  };
  for (guint i = 0; i < G_N_ELEMENTS (known); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (BtNet) net = bt_net_new_preset (known[i].p, 28, 28, 1, 10, -1, 1, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (bt_net_n_params (net), ==, known[i].params);
    }
  for (int p = 0; p < BT_N_PRESETS; p++)
    {
      int w, h, c;
      bt_preset_default_input (p, &w, &h, &c);
      g_autoptr (GError) error = NULL;
      g_autoptr (BtNet) net = bt_net_new_preset (p, w, h, c, 7, -1, 3, &error);
      g_assert_no_error (error);
      g_assert_cmpint (bt_net_n_classes (net), ==, 7);
      g_assert_cmpint (bt_net_preset (net), ==, p);
      int ic, ih, iw;
      bt_net_input_shape (net, &ic, &ih, &iw);
      g_assert_cmpint (ic, ==, c);
      g_assert_cmpint (ih, ==, h);
      g_assert_cmpint (iw, ==, w);
      g_autofree char *desc = bt_net_describe (net);
      g_assert_nonnull (strstr (desc, "total"));
      g_assert_cmpfloat (bt_net_flops_per_image (net), >, 3.0 * bt_net_n_params (net));
      BtPreset back;
      g_assert_true (bt_preset_from_id (bt_preset_to_id (p), &back));
      g_assert_cmpint (back, ==, p);
      g_assert_nonnull (bt_preset_title (p));
    }
  /* odd sizes build too (pools are skipped where the map is too small) */
  const int odd[][3] = { { 13, 9, 3 }, { 3, 3, 1 }, { 1, 1, 1 }, { 47, 31, 3 } };
  for (int p = 0; p < BT_N_PRESETS; p++)
    for (guint i = 0; i < G_N_ELEMENTS (odd); i++)
      {
        g_autoptr (GError) error = NULL;
        g_autoptr (BtNet) net = bt_net_new_preset (p, odd[i][0], odd[i][1], odd[i][2], 2, -1, 3, &error);
        if (net == NULL)
          {
            /* the only acceptable refusal: the pools of Small CNN need 2×2 */
            g_assert_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID);
            g_assert_true (p == BT_PRESET_SMALL_CNN && odd[i][0] < 4);
          }
      }
  g_assert_false (bt_preset_from_id ("nope", &(BtPreset) { 0 }));
}

static void
test_bad_settings (void)
{
  const struct { BtPreset p; int w, h, c, k; float drop; } bad[] = {
    { BT_PRESET_MLP, 28, 28, 1, 0, -1 },        /* zero classes */
    { BT_PRESET_MLP, 28, 28, 1, -3, -1 },
    { BT_PRESET_SMALL_CNN, 0, 28, 1, 10, -1 },
    { BT_PRESET_SMALL_CNN, 100000, 28, 1, 10, -1 },
    { BT_PRESET_SMALL_CNN, 28, 28, 0, 10, -1 },
    { BT_PRESET_SMALL_CNN, 28, 28, 7, 10, -1 },
    { BT_PRESET_SMALL_CNN, 28, 28, 1, 10, 1.0f },
    { BT_PRESET_SMALL_CNN, 28, 28, 1, 10, NAN },
    { BT_PRESET_SMALL_CNN, 4096, 4096, 3, 10, -1 },  /* 268M weights in fc1: refused, not allocated */
    { BT_N_PRESETS, 28, 28, 1, 10, -1 },
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      BtNet *net = bt_net_new_preset (bad[i].p, bad[i].w, bad[i].h, bad[i].c, bad[i].k, bad[i].drop, 1, &error);
      g_assert_null (net);
      g_assert_nonnull (error);
      g_assert_true (error->domain == BT_ENGINE_ERROR);
    }

  g_autoptr (BtNet) net = bt_net_new_preset (BT_PRESET_MLP, 4, 4, 1, 3, -1, 1, NULL);
  float x[2 * 16] = { 0 };
  int labels[2] = { 0, 3 };
  g_autoptr (GError) error = NULL;
  g_assert_null (bt_net_forward (net, x, 0, TRUE, &error));
  g_assert_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_nonnull (bt_net_forward (net, x, 2, TRUE, &error));
  double loss;
  int correct;
  g_assert_false (bt_net_backward (net, labels, 2, NULL, 0.0f, &loss, &correct, &error));  /* label 3 of 3 */
  g_assert_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID);
  g_clear_error (&error);
  labels[1] = 2;
  g_assert_false (bt_net_backward (net, labels, 1, NULL, 0.0f, &loss, &correct, &error));  /* batch mismatch */
  g_assert_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_false (bt_net_backward (net, labels, 2, NULL, 1.5f, &loss, &correct, &error));
  g_assert_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_nonnull (bt_net_forward (net, x, 2, FALSE, &error));
  g_assert_false (bt_net_backward (net, labels, 2, NULL, 0.0f, &loss, &correct, &error));  /* inference forward */
  g_assert_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID);
}

/* ---- End-to-end gradient check ---- */

typedef struct { BtNet *net; const float *x; const int *labels; int n; BtRng rng; } NetCtx;

static double
net_loss (NetCtx *c)
{
  *bt_net_rng (c->net) = c->rng;   /* same dropout mask every time */
  g_autoptr (GError) error = NULL;
  const float *p = bt_net_forward (c->net, c->x, c->n, TRUE, &error);
  g_assert_no_error (error);
  g_assert_nonnull (p);
  return bt_net_loss (c->net, c->labels, c->n, NULL);
}

static void
grad_check_net (BtPreset preset, int w, int h, int ch, int classes, float dropout, int hidden)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (BtNet) net = preset == BT_PRESET_TRANSFER
    ? bt_net_new_transfer (ch, hidden, classes, dropout, 11, &error)
    : bt_net_new_preset (preset, w, h, ch, classes, dropout, 11, &error);
  g_assert_no_error (error);
  BtRng rng;
  bt_rng_seed (&rng, g_test_rand_int ());
  const int n = 8;
  gsize in_len = (gsize) n * w * h * ch;
  g_autofree float *x = rand_input (&rng, in_len);
  int labels[8];
  for (int i = 0; i < n; i++)
    labels[i] = (int) bt_rng_below (&rng, classes);
  NetCtx c = { net, x, labels, n, *bt_net_rng (net) };

  net_loss (&c);
  bt_net_zero_grad (net);
  double loss;
  int correct;
  g_assert_true (bt_net_backward (net, labels, n, NULL, 0.0f, &loss, &correct, &error));
  g_assert_no_error (error);
  g_assert_cmpint (correct, >=, 0);
  g_assert_cmpint (correct, <=, n);
  gsize np;
  float *params = bt_net_params (net, &np);
  g_autofree float *analytic = g_memdup2 (bt_net_grads (net, NULL), np * sizeof (float));
  double scale = 1e-4;
  for (gsize i = 0; i < np; i++)
    scale = MAX (scale, fabs (analytic[i]));

  const float hstep = 1e-3f;
  double l0 = net_loss (&c);
  int checked = 0, failed = 0, kinks = 0;
  gsize stride = MAX (np / 150, 1);
  for (gsize i = bt_rng_below (&rng, (guint32) stride); i < np; i += stride)
    {
      float saved = params[i];
      params[i] = saved + hstep;
      double lp = net_loss (&c);
      params[i] = saved - hstep;
      double lm = net_loss (&c);
      params[i] = saved;
      double num = (lp - lm) / (2.0 * hstep);
      double tol = 5e-3 * scale + 5e-2 * fabs (num);
      checked++;
      if (fabs (num - analytic[i]) <= tol)
        continue;
      /* A step that crosses a ReLU kink or a max-pool tie makes the two one-sided slopes
       * disagree (a wrong gradient on a smooth stretch does not): such a sample says nothing.
       * One hidden unit near its kink takes every weight into it along (seen: 7 of 115). */
      if (fabs ((lp - l0) / hstep - (l0 - lm) / hstep) > tol)
        {
          kinks++;
          continue;
        }
      failed++;
      g_test_message ("%s param %" G_GSIZE_FORMAT ": analytic %g numeric %g",
                      bt_preset_to_id (preset), i, analytic[i], num);
    }
  /* allow a stray sample or two, no more; and most samples must have been smooth ones */
  g_test_message ("%s: %d of %d sampled gradients off, %d at a kink", bt_preset_to_id (preset), failed, checked,
                  kinks);
  if (failed > checked / 20 + 1)
    g_test_fail_printf ("%s: %d of %d sampled gradients disagree", bt_preset_to_id (preset), failed, checked);
  if (kinks > checked / 4)
    g_test_fail_printf ("%s: %d of %d samples at a kink", bt_preset_to_id (preset), kinks, checked);
}

static void
test_net_gradients (void)
{
  grad_check_net (BT_PRESET_MLP, 5, 3, 2, 4, 0.3f, 0);
  grad_check_net (BT_PRESET_SMALL_CNN, 8, 6, 1, 3, 0.25f, 0);
  grad_check_net (BT_PRESET_DEEPER_CNN, 17, 16, 3, 3, 0.3f, 0);
  grad_check_net (BT_PRESET_MINI_RESNET, 16, 15, 3, 5, 0.2f, 0);
  grad_check_net (BT_PRESET_TRANSFER, 1, 1, 12, 3, 0.2f, 0);
  grad_check_net (BT_PRESET_TRANSFER, 1, 1, 12, 3, 0.2f, 7);
}

/* ---- Training steps: determinism and batch independence ---- */

static void
train_steps (BtNet *net, BtOptimizerKind kind, int steps, guint64 data_seed)
{
  BtOptimizerConfig cfg;
  bt_optimizer_config_init (&cfg, kind);
  cfg.weight_decay = 1e-3f;
  cfg.clip_norm = 5.0f;
  g_autoptr (BtOptimizer) opt = bt_optimizer_new (net, &cfg);
  int c, h, w;
  bt_net_input_shape (net, &c, &h, &w);
  BtRng rng;
  bt_rng_seed (&rng, data_seed);
  const int n = 8;
  g_autofree float *x = g_new (float, (gsize) n * c * h * w);
  int labels[8];
  for (int s = 0; s < steps; s++)
    {
      for (gsize i = 0; i < (gsize) n * c * h * w; i++)
        x[i] = bt_rng_uniform (&rng);
      for (int i = 0; i < n; i++)
        labels[i] = (int) bt_rng_below (&rng, bt_net_n_classes (net));
      g_autoptr (GError) error = NULL;
      g_assert_nonnull (bt_net_forward (net, x, n, TRUE, &error));
      bt_net_zero_grad (net);
      double loss;
      g_assert_true (bt_net_backward (net, labels, n, NULL, 0.1f, &loss, NULL, &error));
      g_assert_no_error (error);
      g_assert_true (isfinite (bt_optimizer_step (opt, net, 1e-2f)));
    }
}

static void
test_determinism (void)
{
  for (int p = 0; p < BT_N_PRESETS; p++)
    {
      int w = 12, h = 10, c = p == BT_PRESET_TRANSFER ? 16 : 3;
      if (p == BT_PRESET_TRANSFER)
        w = h = 1;
      g_autoptr (BtNet) a = bt_net_new_preset (p, w, h, c, 4, 0.3f, 99, NULL);
      g_autoptr (BtNet) b = bt_net_new_preset (p, w, h, c, 4, 0.3f, 99, NULL);
      g_autoptr (BtNet) d = bt_net_new_preset (p, w, h, c, 4, 0.3f, 100, NULL);
      gsize n;
      g_assert_cmpmem (bt_net_params (a, &n), n * 4, bt_net_params (b, NULL), n * 4);
      g_assert_true (memcmp (bt_net_params (a, NULL), bt_net_params (d, NULL), n * 4) != 0);
      train_steps (a, BT_OPTIMIZER_ADAMW, 4, 5);
      train_steps (b, BT_OPTIMIZER_ADAMW, 4, 5);
      g_assert_cmpmem (bt_net_params (a, &n), n * 4, bt_net_params (b, NULL), n * 4);
      gsize nb;
      float *ba = bt_net_buffers (a, &nb);
      if (nb)
        g_assert_cmpmem (ba, nb * 4, bt_net_buffers (b, NULL), nb * 4);
    }
}

/* Inference probabilities with Winograd off (im2col) and on, for the same weights. */
static void
forward_both (BtNet *net, const float *x, int n, float *im2col, float *wino)
{
  const gsize len = (gsize) n * bt_net_n_classes (net) * sizeof (float);
  bt_conv2d_winograd_set_mode (0);
  memcpy (im2col, bt_net_forward (net, x, n, FALSE, NULL), len);
  bt_conv2d_winograd_set_mode (2);
  memcpy (wino, bt_net_forward (net, x, n, FALSE, NULL), len);
}

/* The presets whose 3×3 convs take the Winograd path and whose dense layers the packed one give
 * the plain paths' probabilities, and the packed weights follow the weights: after optimizer
 * steps, and after a write through bt_net_params (a stale packing would keep the old answers). */
static void
test_winograd_net (void)
{
  const BtPreset presets[] = { BT_PRESET_SMALL_CNN, BT_PRESET_DEEPER_CNN, BT_PRESET_MINI_RESNET, BT_PRESET_MLP };
  for (guint p = 0; p < G_N_ELEMENTS (presets); p++)
    {
      g_autoptr (BtNet) net = bt_net_new_preset (presets[p], 15, 13, 3, 6, -1, 7, NULL);
      train_steps (net, BT_OPTIMIZER_SGD, 2, 3);   /* non-trivial batch-norm statistics */
      BtRng rng;
      bt_rng_seed (&rng, 5);
      const int n = 5;
      g_autofree float *x = rand_input (&rng, (gsize) n * 3 * 15 * 13);
      float a[5 * 6], b[5 * 6], before[5 * 6];
      for (int round = 0; round < 3; round++)
        {
          forward_both (net, x, n, a, b);
          for (int i = 0; i < n * 6; i++)
            g_assert_cmpfloat_with_epsilon (a[i], b[i], 2e-5);
          if (round > 0)
            g_assert_true (memcmp (a, before, sizeof a) != 0);   /* the weights did change */
          memcpy (before, a, sizeof a);
          if (round == 0)
            train_steps (net, BT_OPTIMIZER_ADAMW, 2, 4);
          else
            {
              gsize np;
              float *w = bt_net_params (net, &np);
              for (gsize i = 0; i < np; i++)
                w[i] *= 1.25f;
            }
        }
    }
  bt_conv2d_winograd_set_mode (-1);
}

static void
test_batch_independence (void)
{
  g_autoptr (BtNet) net = bt_net_new_preset (BT_PRESET_MINI_RESNET, 9, 9, 3, 5, -1, 4, NULL);
  train_steps (net, BT_OPTIMIZER_SGD, 3, 8);   /* non-trivial running statistics */
  BtRng rng;
  bt_rng_seed (&rng, 1);
  const int N = 150;   /* more than one inference slice */
  const gsize per = 3 * 9 * 9;
  g_autofree float *x = rand_input (&rng, N * per);
  g_autoptr (GError) error = NULL;
  g_autofree float *all = g_memdup2 (bt_net_forward (net, x, N, FALSE, &error), (gsize) N * 5 * 4);
  g_assert_no_error (error);
  for (int i = 0; i < N; i += 37)
    {
      const float *one = bt_net_forward (net, x + i * per, 1, FALSE, &error);
      g_assert_no_error (error);
      for (int k = 0; k < 5; k++)
        g_assert_cmpfloat_with_epsilon (one[k], all[i * 5 + k], 1e-5);
    }
  for (int i = 0; i < N; i++)
    {
      double s = 0;
      for (int k = 0; k < 5; k++)
        s += all[i * 5 + k];
      g_assert_cmpfloat_with_epsilon (s, 1.0, 1e-5);
    }
}

static void
test_nan_reported (void)
{
  g_autoptr (BtNet) net = bt_net_new_preset (BT_PRESET_SMALL_CNN, 8, 8, 1, 3, -1, 4, NULL);
  float x[2 * 64];
  for (int i = 0; i < 128; i++)
    x[i] = (float) i / 128;
  int labels[2] = { 0, 1 };
  g_autoptr (GError) error = NULL;
  g_assert_nonnull (bt_net_forward (net, x, 2, TRUE, &error));
  float *p = bt_net_params (net, NULL);
  p[3] = NAN;
  g_assert_null (bt_net_forward (net, x, 2, TRUE, &error));
  g_assert_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_NUMERIC);
  g_clear_error (&error);
  p[3] = 0.1f;
  x[5] = INFINITY;
  g_assert_null (bt_net_forward (net, x, 2, FALSE, &error));
  g_assert_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_NUMERIC);
  g_clear_error (&error);
  x[5] = 0.0f;
  /* a huge class weight on big activations overflows the gradients: reported, not propagated */
  g_assert_nonnull (bt_net_forward (net, x, 2, TRUE, &error));
  float cw[3] = { 1, 1, 1 };
  double loss;
  g_assert_true (bt_net_backward (net, labels, 2, cw, 0.0f, &loss, NULL, &error));
  cw[0] = cw[1] = 3e38f;
  for (int i = 0; i < 128; i++)
    x[i] = 1000.0f * (i % 7);
  bt_net_zero_grad (net);
  g_assert_nonnull (bt_net_forward (net, x, 2, TRUE, &error));
  g_assert_false (bt_net_backward (net, labels, 2, cw, 0.0f, &loss, NULL, &error));
  g_assert_nonnull (error);
  g_assert_true (error->code == BT_ENGINE_ERROR_NUMERIC);
  /* an optimizer never applies a non-finite step */
  BtOptimizerConfig cfg;
  bt_optimizer_config_init (&cfg, BT_OPTIMIZER_ADAM);
  g_autoptr (BtOptimizer) opt = bt_optimizer_new (net, &cfg);
  gsize n;
  g_autofree float *before = g_memdup2 (bt_net_params (net, &n), bt_net_n_params (net) * 4);
  bt_net_grads (net, NULL)[7] = NAN;
  g_assert_false (isfinite (bt_optimizer_step (opt, net, 0.1f)));
  g_assert_cmpmem (before, n * 4, bt_net_params (net, NULL), n * 4);
}

/* bt_net_train_step is forward + zeroed backward + the optimizer's step: the same weights, loss
 * and count as the three calls by hand; a non-finite input fails with NUMERIC and changes nothing. */
static void
test_train_step (void)
{
  g_autoptr (BtNet) a = bt_net_new_preset (BT_PRESET_SMALL_CNN, 8, 8, 1, 3, -1, 4, NULL);
  g_autoptr (BtNet) b = bt_net_new_preset (BT_PRESET_SMALL_CNN, 8, 8, 1, 3, -1, 4, NULL);
  BtOptimizerConfig cfg;
  float x[2 * 64], cw[3] = { 1, 2, 0.5f };
  int labels[2] = { 2, 1 }, correct_a = -1, correct_b = -1;
  double loss_a = 0, loss_b = 0;
  gsize n;
  g_autoptr (GError) error = NULL;

  for (int i = 0; i < 128; i++)
    x[i] = (float) ((i * 37) % 101) / 101;
  bt_optimizer_config_init (&cfg, BT_OPTIMIZER_ADAM);
  g_autoptr (BtOptimizer) oa = bt_optimizer_new (a, &cfg);
  g_autoptr (BtOptimizer) ob = bt_optimizer_new (b, &cfg);
  g_autofree float *start = g_memdup2 (bt_net_params (a, &n), bt_net_n_params (a) * 4);
  for (int step = 0; step < 3; step++)
    {
      g_assert_true (bt_net_train_step (a, oa, x, labels, 2, cw, 0.1f, 0.01f, &loss_a, &correct_a, &error));
      g_assert_no_error (error);
      g_assert_nonnull (bt_net_forward (b, x, 2, TRUE, NULL));
      bt_net_zero_grad (b);
      g_assert_true (bt_net_backward (b, labels, 2, cw, 0.1f, &loss_b, &correct_b, NULL));
      g_assert_true (isfinite (bt_optimizer_step (ob, b, 0.01f)));
      g_assert_cmpfloat (loss_a, ==, loss_b);
      g_assert_cmpint (correct_a, ==, correct_b);
      g_assert_cmpmem (bt_net_params (a, NULL), n * 4, bt_net_params (b, NULL), n * 4);
    }
  g_assert_true (memcmp (start, bt_net_params (a, NULL), n * 4) != 0);
  g_free (start);
  start = g_memdup2 (bt_net_params (a, NULL), n * 4);
  x[9] = NAN;
  g_assert_false (bt_net_train_step (a, oa, x, labels, 2, cw, 0.1f, 0.01f, &loss_a, NULL, &error));
  g_assert_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_NUMERIC);
  g_assert_cmpmem (start, n * 4, bt_net_params (a, NULL), n * 4);
}

/* ---- Optimizers against hand-written reference updates ---- */

static void
test_optimizers (void)
{
  for (int variant = 0; variant < 5; variant++)
    {
      g_autoptr (BtNet) net = bt_net_new_transfer (3, 0, 2, 0.0f, 5, NULL);
      gsize n;
      float *p = bt_net_params (net, &n);
      g_assert_cmpuint (n, ==, 8);   /* w [2,3] then b [2] */
      BtOptimizerConfig cfg;
      BtOptimizerKind kind = variant < 2 ? BT_OPTIMIZER_SGD : variant < 4 ? BT_OPTIMIZER_ADAM : BT_OPTIMIZER_ADAMW;
      bt_optimizer_config_init (&cfg, kind);
      cfg.nesterov = variant == 1;
      cfg.weight_decay = 0.1f;
      cfg.clip_norm = variant == 3 ? 0.5f : 0.0f;
      g_autoptr (BtOptimizer) opt = bt_optimizer_new (net, &cfg);
      double ref[8], m[8] = { 0 }, v[8] = { 0 };
      for (gsize i = 0; i < 8; i++)
        ref[i] = p[i];
      const float lr = 0.05f;
      for (int t = 1; t <= 3; t++)
        {
          float *g = bt_net_grads (net, NULL);
          double g2 = 0, gd[8];
          for (gsize i = 0; i < 8; i++)
            {
              g[i] = (float) (i + 1) * 0.3f * (t % 2 ? 1 : -1);
              g2 += (double) g[i] * g[i];
            }
          double norm = bt_optimizer_step (opt, net, lr);
          g_assert_cmpfloat_with_epsilon (norm, sqrt (g2), 1e-4);
          double sc = (cfg.clip_norm > 0 && sqrt (g2) > cfg.clip_norm) ? cfg.clip_norm / sqrt (g2) : 1.0;
          for (gsize i = 0; i < 8; i++)
            {
              double wd = i < 6 ? 0.1 : 0.0;   /* biases are not decayed */
              gd[i] = g[i] * sc;
              if (kind == BT_OPTIMIZER_SGD)
                {
                  gd[i] += wd * ref[i];
                  m[i] = 0.9 * m[i] + gd[i];
                  ref[i] -= lr * (cfg.nesterov ? gd[i] + 0.9 * m[i] : m[i]);
                }
              else
                {
                  if (kind == BT_OPTIMIZER_ADAMW)
                    ref[i] -= lr * wd * ref[i];
                  else
                    gd[i] += wd * ref[i];
                  m[i] = 0.9 * m[i] + 0.1 * gd[i];
                  v[i] = 0.999 * v[i] + 0.001 * gd[i] * gd[i];
                  double mh = m[i] / (1 - pow (0.9, t)), vh = v[i] / (1 - pow (0.999, t));
                  ref[i] -= lr * mh / (sqrt (vh) + 1e-8);
                }
            }
          for (gsize i = 0; i < 8; i++)
            g_assert_cmpfloat_with_epsilon (p[i], ref[i], 1e-5);
        }
      g_assert_cmpint (bt_optimizer_get_t (opt), ==, 3);
      gsize ns;
      bt_optimizer_state (opt, &ns);
      g_assert_cmpuint (ns, ==, kind == BT_OPTIMIZER_SGD ? 8 : 16);
    }
  BtOptimizerKind k;
  g_assert_true (bt_optimizer_kind_from_id ("adamw", &k) && k == BT_OPTIMIZER_ADAMW);
  g_assert_false (bt_optimizer_kind_from_id ("rmsprop", &k));
  g_assert_cmpstr (bt_optimizer_kind_to_id (BT_OPTIMIZER_SGD), ==, "sgd");
}

/* The optimizers on an MLP's 42,499 parameters (odd-length ranges, more than one thread's share)
 * against a double-precision reference for three steps of random gradients, with weight decay
 * on the weights only, clipping and the moving average; the same bits at 1 and 3 threads. This
 * covers the vectorized Adam(W) pass and its scalar tail, which test_optimizers' 8 parameters
 * never reach. */
static void
test_optimizers_wide (void)
{
  for (int variant = 0; variant < 5; variant++)
    {
      BtOptimizerKind kind = variant == 0 ? BT_OPTIMIZER_SGD : variant < 3 ? BT_OPTIMIZER_ADAM : BT_OPTIMIZER_ADAMW;
      g_autofree float *first = NULL;
      for (int threads = 1; threads <= 3; threads += 2)
        {
          bt_engine_set_threads (threads);
          g_autoptr (BtNet) net = bt_net_new_preset (BT_PRESET_MLP, 7, 5, 1, 3, 0.0f, 11, NULL);
          gsize n;
          float *p = bt_net_params (net, &n);
          g_assert_cmpuint (n, ==, 42499);
          g_autofree double *ref = g_new (double, n), *m = g_new0 (double, n), *v = g_new0 (double, n);
          g_autofree double *avg = g_new (double, n), *wd = g_new0 (double, n);
          for (gsize i = 0; i < n; i++)
            ref[i] = avg[i] = p[i];
          for (guint li = 0; li < net->layers->len; li++)
            {
              const BtLayer *l = bt_net_layer (net, li);
              for (gsize i = 0; i < l->w_len; i++)
                wd[l->w_off + i] = 0.1;   /* biases are not decayed */
            }
          BtOptimizerConfig cfg;
          bt_optimizer_config_init (&cfg, kind);
          cfg.nesterov = TRUE;
          cfg.weight_decay = 0.1f;
          cfg.clip_norm = variant == 2 ? 5.0f : 0.0f;
          cfg.ema_decay = 0.9f;
          g_autoptr (BtOptimizer) opt = bt_optimizer_new (net, &cfg);
          BtRng rng;
          bt_rng_seed (&rng, 5);
          const float lr = 0.01f;
          for (int t = 1; t <= 3; t++)
            {
              float *g = bt_net_grads (net, NULL);
              double g2 = 0;
              for (gsize i = 0; i < n; i++)
                {
                  g[i] = (bt_rng_uniform (&rng) - 0.5f) * (i % 13 == 0 ? 0.0f : 0.2f);
                  g2 += (double) g[i] * g[i];
                }
              double norm = bt_optimizer_step (opt, net, lr);
              g_assert_cmpfloat_with_epsilon (norm, sqrt (g2), 1e-6 * sqrt (g2));
              double sc = cfg.clip_norm > 0 && sqrt (g2) > cfg.clip_norm ? cfg.clip_norm / sqrt (g2) : 1.0;
              double keep = MIN (0.9, (1.0 + t) / (10.0 + t));
              for (gsize i = 0; i < n; i++)
                {
                  double gd = g[i] * sc;
                  if (kind == BT_OPTIMIZER_SGD)
                    {
                      gd += wd[i] * ref[i];
                      m[i] = 0.9 * m[i] + gd;
                      ref[i] -= lr * (gd + 0.9 * m[i]);
                    }
                  else
                    {
                      if (kind == BT_OPTIMIZER_ADAMW)
                        ref[i] -= lr * wd[i] * ref[i];
                      else
                        gd += wd[i] * ref[i];
                      m[i] = 0.9 * m[i] + 0.1 * gd;
                      v[i] = 0.999 * v[i] + 0.001 * gd * gd;
                      double mh = m[i] / (1 - pow (0.9, t)), vh = v[i] / (1 - pow (0.999, t));
                      ref[i] -= lr * mh / (sqrt (vh) + 1e-8);
                    }
                  avg[i] = keep * avg[i] + (1.0 - keep) * ref[i];
                }
              const float *a = bt_optimizer_average (opt, NULL);
              for (gsize i = 0; i < n; i++)
                {
                  if (fabs (p[i] - ref[i]) > 2e-6 || fabs (a[i] - avg[i]) > 2e-6)
                    g_error ("variant %d, %d threads, step %d, parameter %" G_GSIZE_FORMAT " of %" G_GSIZE_FORMAT
                             ": %.9g (reference %.9g), average %.9g (reference %.9g)",
                             variant, threads, t, i, n, p[i], ref[i], a[i], avg[i]);
                }
            }
          if (first == NULL)
            first = g_memdup2 (p, n * sizeof (float));
          else
            g_assert_cmpmem (first, n * sizeof (float), p, n * sizeof (float));
        }
    }
  bt_engine_set_threads (2);
}

/* The gradients' bookkeeping between backward and the optimizer: bt_net_zero_grad clears them
 * (the fast dense kernels then write instead of adding), a second backward adds to them, the
 * optimizer's norm is the backward's Σ g² until someone writes through bt_net_grads (). */
static void
test_grad_bookkeeping (void)
{
  g_autoptr (BtNet) net = bt_net_new_preset (BT_PRESET_MLP, 9, 3, 1, 4, 0.0f, 2, NULL);
  BtRng rng;
  bt_rng_seed (&rng, 3);
  g_autofree float *x = rand_input (&rng, 5 * 27);
  int labels[5] = { 0, 3, 1, 2, 3 };
  gsize n;
  float *g = bt_net_grads (net, &n);
  for (gsize i = 0; i < n; i++)
    g[i] = 1.0f;
  bt_net_zero_grad (net);
  g = bt_net_grads (net, NULL);
  for (gsize i = 0; i < n; i++)
    g_assert_cmpfloat (g[i], ==, 0.0f);

  /* one backward after zeroing over garbage, then a second one added to it */
  for (gsize i = 0; i < n; i++)
    g[i] = NAN;
  bt_net_zero_grad (net);
  g_assert_nonnull (bt_net_forward (net, x, 5, TRUE, NULL));
  g_assert_true (bt_net_backward (net, labels, 5, NULL, 0.0f, NULL, NULL, NULL));
  g_autofree float *once = g_memdup2 (bt_net_grads (net, NULL), n * sizeof (float));
  double sq = 0.0;
  for (gsize i = 0; i < n; i++)
    sq += (double) once[i] * once[i];
  g_assert_cmpfloat (sq, >, 0.0);
  g_assert_true (bt_net_backward (net, labels, 5, NULL, 0.0f, NULL, NULL, NULL));
  g = bt_net_grads (net, NULL);
  for (gsize i = 0; i < n; i++)
    g_assert_cmpfloat_with_epsilon (g[i], 2.0f * once[i], 1e-6 + 1e-6 * fabsf (once[i]));

  BtOptimizerConfig cfg;
  bt_optimizer_config_init (&cfg, BT_OPTIMIZER_SGD);
  g_autoptr (BtOptimizer) opt = bt_optimizer_new (net, &cfg);
  bt_net_zero_grad (net);
  g_assert_nonnull (bt_net_forward (net, x, 5, TRUE, NULL));
  g_assert_true (bt_net_backward (net, labels, 5, NULL, 0.0f, NULL, NULL, NULL));
  g_assert_cmpfloat_with_epsilon (bt_optimizer_step (opt, net, 0.0f), sqrt (sq), 1e-6 * sqrt (sq));
  /* written through bt_net_grads (): the norm is of what is there now */
  g = bt_net_grads (net, NULL);
  for (gsize i = 0; i < n; i++)
    g[i] *= 3.0f;
  g_assert_cmpfloat_with_epsilon (bt_optimizer_step (opt, net, 0.0f), 3.0 * sqrt (sq), 3e-6 * sqrt (sq));
  /* zeroed and not written since: zero */
  bt_net_zero_grad (net);
  g_assert_cmpfloat (bt_optimizer_step (opt, net, 0.0f), ==, 0.0);
}

/* The weights' moving average: follows the weights with decay min(d, (1+t)/(10+t)), swaps
 * in and out exactly, and survives a training-state save/load (a state without it restarts
 * it from the weights). */
static void
test_weight_average (void)
{
  g_autoptr (BtNet) net = bt_net_new_transfer (3, 0, 2, 0.0f, 5, NULL);
  gsize n, na;
  float *p = bt_net_params (net, &n);
  BtOptimizerConfig cfg;
  bt_optimizer_config_init (&cfg, BT_OPTIMIZER_SGD);
  g_assert_cmpfloat (cfg.ema_decay, ==, 0.0f);   /* off unless asked for */
  {
    g_autoptr (BtOptimizer) plain = bt_optimizer_new (net, &cfg);
    g_assert_null (bt_optimizer_average (plain, &na));
    g_assert_false (bt_optimizer_swap_average (plain, net));
  }
  cfg.ema_decay = 0.5f;
  g_autoptr (BtOptimizer) opt = bt_optimizer_new (net, &cfg);
  double avg[8];
  for (gsize i = 0; i < 8; i++)
    avg[i] = p[i];
  for (int t = 1; t <= 6; t++)
    {
      float *g = bt_net_grads (net, NULL);
      for (gsize i = 0; i < 8; i++)
        g[i] = (float) (i + 1) * 0.2f * (t % 3 ? 1 : -1);
      bt_optimizer_step (opt, net, 0.1f);
      double keep = MIN (0.5, (1.0 + t) / (10.0 + t));   /* 0.18, 0.27, …, then 0.5 from t = 8 */
      for (gsize i = 0; i < 8; i++)
        avg[i] = keep * avg[i] + (1.0 - keep) * p[i];
    }
  const float *a = bt_optimizer_average (opt, &na);
  g_assert_cmpuint (na, ==, n);
  double differ = 0;
  for (gsize i = 0; i < 8; i++)
    {
      g_assert_cmpfloat_with_epsilon (a[i], avg[i], 1e-5);
      differ = MAX (differ, fabs (a[i] - p[i]));
    }
  g_assert_cmpfloat (differ, >, 1e-3);   /* the average is not the weights */

  /* swap in, swap out: exact */
  g_autofree float *w = g_memdup2 (p, n * sizeof (float));
  g_autofree float *av = g_memdup2 (a, n * sizeof (float));
  g_assert_true (bt_optimizer_swap_average (opt, net));
  g_assert_true (bt_optimizer_is_swapped (opt));
  g_assert_cmpmem (p, n * sizeof (float), av, n * sizeof (float));
  g_assert_true (bt_optimizer_swap_average (opt, net));
  g_assert_false (bt_optimizer_is_swapped (opt));
  g_assert_cmpmem (p, n * sizeof (float), w, n * sizeof (float));

  /* save → load into a fresh optimizer: the average comes back */
  g_autofree char *dir = g_dir_make_tmp ("bt-avg-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "state", NULL);
  BtTrainState st = { 0 };
  st.opt_t = bt_optimizer_get_t (opt);
  st.best_score = 0.5;
  st.epoch = st.best_epoch = 1;
  st.rng = *bt_net_rng (net);
  g_autoptr (GError) error = NULL;
  g_assert_true (bt_train_state_save (path, net, opt, &st, &error));
  g_assert_no_error (error);
  g_autoptr (BtOptimizer) again = bt_optimizer_new (net, &cfg);
  BtTrainState st2 = { 0 };
  bt_train_state_load (path, net, again, &st2, &error);
  g_assert_no_error (error);
  g_assert_no_error (error);
  g_clear_pointer (&st2.extra, g_hash_table_unref);
  g_assert_cmpmem (bt_optimizer_average (again, NULL), n * sizeof (float), av, n * sizeof (float));
  /* a state saved without an average (the option was off): restarted from the weights */
  BtOptimizerConfig off = cfg;
  off.ema_decay = 0.0f;
  g_autoptr (BtOptimizer) plain = bt_optimizer_new (net, &off);
  g_assert_true (bt_train_state_save (path, net, plain, &st, &error));
  g_autoptr (BtOptimizer) third = bt_optimizer_new (net, &cfg);
  g_assert_true (bt_train_state_load (path, net, third, &st2, &error));
  g_assert_no_error (error);
  g_clear_pointer (&st2.extra, g_hash_table_unref);
  g_assert_cmpmem (bt_optimizer_average (third, NULL), n * sizeof (float), p, n * sizeof (float));
  g_unlink (path);
  g_rmdir (dir);
}

static void
test_schedules (void)
{
  BtSchedule s = { BT_SCHEDULE_CONSTANT, 0.1f };
  g_assert_cmpfloat (bt_schedule_lr (&s, 1000), ==, 0.1f);
  s = (BtSchedule) { BT_SCHEDULE_STEP, 0.1f, .step_every = 10, .gamma = 0.5f };
  g_assert_cmpfloat_with_epsilon (bt_schedule_lr (&s, 9), 0.1, 1e-7);
  g_assert_cmpfloat_with_epsilon (bt_schedule_lr (&s, 10), 0.05, 1e-7);
  g_assert_cmpfloat_with_epsilon (bt_schedule_lr (&s, 25), 0.025, 1e-7);
  s = (BtSchedule) { BT_SCHEDULE_COSINE, 1.0f, .warmup_steps = 10, .total_steps = 110, .min_lr = 0.0f };
  g_assert_cmpfloat_with_epsilon (bt_schedule_lr (&s, 0), 0.1, 1e-6);
  g_assert_cmpfloat_with_epsilon (bt_schedule_lr (&s, 9), 1.0, 1e-6);
  g_assert_cmpfloat_with_epsilon (bt_schedule_lr (&s, 10), 1.0, 1e-6);
  g_assert_cmpfloat_with_epsilon (bt_schedule_lr (&s, 60), 0.5, 1e-6);
  g_assert_cmpfloat_with_epsilon (bt_schedule_lr (&s, 110), 0.0, 1e-6);
  g_assert_cmpfloat_with_epsilon (bt_schedule_lr (&s, 500), 0.0, 1e-6);
  BtScheduleKind k;
  g_assert_true (bt_schedule_kind_from_id ("cosine", &k) && k == BT_SCHEDULE_COSINE);
  g_assert_false (bt_schedule_kind_from_id ("exp", &k));

  BtPlateau pl;
  bt_plateau_init (&pl, 0.5f, 2, 0.01, FALSE);
  g_assert_cmpfloat (bt_plateau_update (&pl, 1.0), ==, 1.0f);
  g_assert_cmpfloat (bt_plateau_update (&pl, 0.9), ==, 1.0f);
  g_assert_cmpfloat (bt_plateau_update (&pl, 0.895), ==, 1.0f);  /* below min_delta: bad 1 */
  g_assert_cmpfloat (bt_plateau_update (&pl, 0.95), ==, 1.0f);   /* bad 2 */
  g_assert_cmpfloat (bt_plateau_update (&pl, 0.95), ==, 0.5f);   /* bad 3 > patience */
  g_assert_cmpfloat (bt_plateau_update (&pl, NAN), ==, 0.5f);
  g_assert_cmpfloat (bt_plateau_update (&pl, 0.5), ==, 0.5f);
  bt_plateau_init (&pl, 0.1f, 0, 0.0, TRUE);
  g_assert_cmpfloat (bt_plateau_update (&pl, 0.5), ==, 1.0f);
  g_assert_cmpfloat_with_epsilon (bt_plateau_update (&pl, 0.4), 0.1, 1e-7);
}

static void
test_threads (void)
{
  bt_engine_set_threads (1);
  g_assert_cmpint (bt_engine_get_threads (), ==, 1);
  bt_engine_set_threads (2);
  g_assert_cmpint (bt_engine_get_threads (), ==, 2);
  bt_engine_set_threads (0);
  g_assert_cmpint (bt_engine_get_threads (), >=, 1);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  bt_engine_set_threads (2);
  g_test_add_func ("/net/presets", test_presets);
  g_test_add_func ("/net/bad-settings", test_bad_settings);
  g_test_add_func ("/net/gradients", test_net_gradients);
  g_test_add_func ("/net/determinism", test_determinism);
  g_test_add_func ("/net/batch-independence", test_batch_independence);
  g_test_add_func ("/net/winograd", test_winograd_net);
  g_test_add_func ("/net/nan-reported", test_nan_reported);
  g_test_add_func ("/net/train-step", test_train_step);
  g_test_add_func ("/net/optimizers", test_optimizers);
  g_test_add_func ("/net/optimizers-wide", test_optimizers_wide);
  g_test_add_func ("/net/grad-bookkeeping", test_grad_bookkeeping);
  g_test_add_func ("/net/schedules", test_schedules);
  g_test_add_func ("/net/weight-average", test_weight_average);
  g_test_add_func ("/net/threads", test_threads);
  return g_test_run ();
}
