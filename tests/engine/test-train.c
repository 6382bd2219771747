/* test-train.c: the Small CNN preset learns a synthetic shape task (lines, diagonals, boxes at
 * random places in noise) to ≥ 95% on held-out samples, and the same seed replays the same
 * loss curve bit for bit while another seed does not. */
#include "engine/bt-engine.h"

#include <math.h>
#include <string.h>

#define S 12
#define N_CLASSES 4
#define N_TRAIN 1200
#define N_TEST 400
#define BATCH 32

static void
draw (float *img, int cls, BtRng *rng)
{
  for (int i = 0; i < S * S; i++)
    img[i] = (bt_rng_uniform (rng) - 0.5f) * 0.6f;
  float v = 0.6f + 0.4f * bt_rng_uniform (rng);
  int len = 5 + (int) bt_rng_below (rng, 4);
  int y = (int) bt_rng_below (rng, S - len + 1), x = (int) bt_rng_below (rng, S - len + 1);
  switch (cls)
    {
    case 0: /* horizontal line */
      y = (int) bt_rng_below (rng, S);
      for (int k = 0; k < len; k++)
        img[y * S + x + k] += v;
      break;
    case 1: /* vertical line */
      x = (int) bt_rng_below (rng, S);
      for (int k = 0; k < len; k++)
        img[(y + k) * S + x] += v;
      break;
    case 2: /* a diagonal, either way */
      {
        gboolean flip = bt_rng_below (rng, 2);
        for (int k = 0; k < len; k++)
          img[(y + k) * S + (flip ? x + len - 1 - k : x + k)] += v;
      }
      break;
    default: /* hollow box */
      for (int k = 0; k < len; k++)
        {
          img[y * S + x + k] += v;
          img[(y + len - 1) * S + x + k] += v;
          img[(y + k) * S + x] += v;
          img[(y + k) * S + x + len - 1] += v;
        }
      break;
    }
}

static void
make_set (float *x, int *labels, int n, guint64 seed)
{
  BtRng rng;
  bt_rng_seed (&rng, seed);
  for (int i = 0; i < n; i++)
    {
      labels[i] = (int) bt_rng_below (&rng, N_CLASSES);
      draw (x + (gsize) i * S * S, labels[i], &rng);
    }
}

/* Trains for `epochs`, writing each step's loss into curve; returns held-out accuracy. */
static double
train (guint64 seed, int epochs, const float *xtr, const int *ytr, const float *xte, const int *yte,
       GArray *curve)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (BtNet) net = bt_net_new_preset (BT_PRESET_SMALL_CNN, S, S, 1, N_CLASSES, -1, seed, &error);
  g_assert_no_error (error);
  BtOptimizerConfig cfg;
  bt_optimizer_config_init (&cfg, BT_OPTIMIZER_ADAM);
  g_autoptr (BtOptimizer) opt = bt_optimizer_new (net, &cfg);
  guint32 order[N_TRAIN];
  for (guint32 i = 0; i < N_TRAIN; i++)
    order[i] = i;
  float xb[BATCH * S * S];
  int yb[BATCH];
  BtRng *rng = bt_net_rng (net);   /* one seeded generator for shuffles and dropout */
  for (int e = 0; e < epochs; e++)
    {
      bt_rng_shuffle (rng, order, N_TRAIN);
      for (int s = 0; s + BATCH <= N_TRAIN; s += BATCH)
        {
          for (int i = 0; i < BATCH; i++)
            {
              memcpy (xb + i * S * S, xtr + (gsize) order[s + i] * S * S, sizeof (float) * S * S);
              yb[i] = ytr[order[s + i]];
            }
          g_assert_nonnull (bt_net_forward (net, xb, BATCH, TRUE, &error));
          bt_net_zero_grad (net);
          double loss;
          g_assert_true (bt_net_backward (net, yb, BATCH, NULL, 0.0f, &loss, NULL, &error));
          g_assert_no_error (error);
          bt_optimizer_step (opt, net, 2e-3f);
          g_array_append_val (curve, loss);
        }
    }
  const float *p = bt_net_forward (net, xte, N_TEST, FALSE, &error);
  g_assert_no_error (error);
  int correct;
  double test_loss = bt_net_loss (net, yte, N_TEST, &correct);
  g_assert_true (isfinite (test_loss));
  g_assert_nonnull (p);
  return (double) correct / N_TEST;
}

static void
test_learns (void)
{
  g_autofree float *xtr = g_new (float, (gsize) N_TRAIN * S * S), *xte = g_new (float, (gsize) N_TEST * S * S);
  g_autofree int *ytr = g_new (int, N_TRAIN), *yte = g_new (int, N_TEST);
  make_set (xtr, ytr, N_TRAIN, 1);
  make_set (xte, yte, N_TEST, 2);   /* held out: drawn independently */

  g_autoptr (GArray) curve = g_array_new (FALSE, FALSE, sizeof (double));
  double acc = train (42, 4, xtr, ytr, xte, yte, curve);
  g_test_message ("held-out accuracy %.3f, first loss %.3f, last loss %.3f", acc,
                  g_array_index (curve, double, 0), g_array_index (curve, double, curve->len - 1));
  g_assert_cmpfloat (acc, >=, 0.95);
  g_assert_cmpfloat (g_array_index (curve, double, curve->len - 1), <, g_array_index (curve, double, 0));

  /* same seed: the same curve, bit for bit (first epoch) */
  g_autoptr (GArray) again = g_array_new (FALSE, FALSE, sizeof (double));
  train (42, 1, xtr, ytr, xte, yte, again);
  g_assert_cmpmem (again->data, again->len * sizeof (double), curve->data, again->len * sizeof (double));
  /* another seed: another curve */
  g_autoptr (GArray) other = g_array_new (FALSE, FALSE, sizeof (double));
  train (43, 1, xtr, ytr, xte, yte, other);
  g_assert_true (memcmp (other->data, curve->data, other->len * sizeof (double)) != 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  bt_engine_set_threads (2);
  g_test_add_func ("/train/small-cnn-learns-shapes", test_learns);
  return g_test_run ();
}
