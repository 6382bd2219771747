/* test-known-answer.c: a tiny fixed net run through the engine's kernels and compared with
 * values PyTorch computed once in float64 (known-answer.txt, made by make-known-answer.py). */
#include "engine/bt-layers.h"

#include <math.h>
#include <string.h>

static GHashTable *fixture;   /* name → GArray of double */

static void
load_fixture (void)
{
  g_autofree char *path = g_test_build_filename (G_TEST_DIST, "engine", "known-answer.txt", NULL);
  g_autofree char *text = NULL;
  g_autoptr (GError) error = NULL;
  g_assert_true (g_file_get_contents (path, &text, NULL, &error));
  fixture = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_array_unref);
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  for (int i = 0; lines[i]; i++)
    {
      if (lines[i][0] == '#' || lines[i][0] == '\0')
        continue;
      g_auto (GStrv) f = g_strsplit (lines[i], " ", -1);
      guint n = (guint) g_ascii_strtoull (f[1], NULL, 10);
      g_assert_cmpuint (g_strv_length (f), ==, n + 2);
      GArray *a = g_array_sized_new (FALSE, FALSE, sizeof (double), n);
      for (guint k = 0; k < n; k++)
        {
          double v = g_ascii_strtod (f[k + 2], NULL);
          g_array_append_val (a, v);
        }
      g_hash_table_insert (fixture, g_strdup (f[0]), a);
    }
}

static float *
get (const char *name, guint expect)
{
  GArray *a = g_hash_table_lookup (fixture, name);
  g_assert_nonnull (a);
  g_assert_cmpuint (a->len, ==, expect);
  float *v = g_new (float, expect);
  for (guint i = 0; i < expect; i++)
    v[i] = (float) g_array_index (a, double, i);
  return v;
}

static void
expect_close (const char *name, const float *got, guint n)
{
  g_autofree float *want = get (name, n);
  double scale = 1e-6;
  for (guint i = 0; i < n; i++)
    scale = MAX (scale, fabs (want[i]));
  for (guint i = 0; i < n; i++)
    if (fabs ((double) got[i] - want[i]) > 1e-5 * scale + 1e-4 * fabs (want[i]))
      {
        g_test_fail_printf ("%s[%u]: engine %.8g, PyTorch %.8g", name, i, got[i], want[i]);
        return;
      }
}

static void
test_net_a (void)
{
  g_autofree float *x = get ("a.x", 100), *cw = get ("a.conv_w", 54), *cb = get ("a.conv_b", 3);
  g_autofree float *gamma = get ("a.gamma", 3), *beta = get ("a.beta", 3);
  g_autofree float *dw = get ("a.dense_w", 36), *db = get ("a.dense_b", 3);
  g_autofree float *labf = get ("a.labels", 2), *weights = get ("a.class_weights", 3);
  int labels[2] = { (int) labf[0], (int) labf[1] };

  BtConvShape cs, ps;
  g_assert_true (bt_conv_shape_init (&cs, 2, 2, 5, 5, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, NULL));
  g_assert_true (bt_conv_shape_init (&ps, 2, 3, 5, 5, 3, 2, 2, 2, 2, 0, 0, 0, 0, 1, NULL));
  g_autofree float *ws = g_new (float, bt_conv2d_workspace_size (&cs));
  float conv[150], bn[150], mean[3], invstd[3], rm[3] = { 0, 0, 0 }, rv[3] = { 1, 1, 1 };
  float pool[24], logits[6], probs[6];
  gint32 am[24];
  bt_conv2d_forward (conv, x, cw, cb, &cs, ws);
  bt_batchnorm_forward_train (bn, mean, invstd, rm, rv, conv, gamma, beta, 2, 3, 25, 0.1f, 1e-5f);
  bt_relu_forward (bn, bn, 150);
  bt_maxpool2d_forward (pool, am, bn, &ps);
  bt_dense_forward (logits, pool, dw, db, 2, 12, 3);
  bt_softmax_forward (probs, logits, 2, 3);
  expect_close ("a.probs", probs, 6);
  expect_close ("a.running_mean", rm, 3);
  expect_close ("a.running_var", rv, 3);

  float d_logits[6];
  float loss = (float) (bt_softmax_xent (d_logits, probs, labels, 2, 3, weights, 0.1f) / 2);
  expect_close ("a.loss", &loss, 1);

  float d_pool[24], d_bn[150], d_conv[150], d_x[100];
  float g_dw[36] = { 0 }, g_db[3] = { 0 }, g_cw[54] = { 0 }, g_cb[3] = { 0 }, g_gamma[3] = { 0 }, g_beta[3] = { 0 };
  bt_dense_backward (d_pool, g_dw, g_db, d_logits, pool, dw, 2, 12, 3);
  bt_maxpool2d_backward (d_bn, d_pool, am, &ps);
  bt_relu_backward (d_bn, d_bn, bn, 150);
  bt_batchnorm_backward (d_conv, g_gamma, g_beta, d_bn, conv, gamma, mean, invstd, 2, 3, 25);
  bt_conv2d_backward (d_x, g_cw, g_cb, d_conv, x, cw, &cs, ws);
  expect_close ("a.d_dense_w", g_dw, 36);
  expect_close ("a.d_dense_b", g_db, 3);
  expect_close ("a.d_gamma", g_gamma, 3);
  expect_close ("a.d_beta", g_beta, 3);
  expect_close ("a.d_conv_w", g_cw, 54);
  /* ≈ 0 (batch norm cancels the bias): compare on the scale of the other gradients */
  g_autofree float *want_cb = get ("a.d_conv_b", 3);
  for (int i = 0; i < 3; i++)
    g_assert_cmpfloat (fabs (g_cb[i] - want_cb[i]), <, 1e-5);
  expect_close ("a.d_x", d_x, 100);
}

static void
test_net_b (void)
{
  g_autofree float *x = get ("b.x", 72), *w = get ("b.w", 36), *b = get ("b.b", 4), *r = get ("b.r", 16);
  BtConvShape ds, ps;
  /* TFLite SAME, stride 2: the one padding row/column goes bottom/right */
  g_assert_true (bt_conv_shape_init (&ds, 1, 2, 6, 6, 4, 3, 3, 2, 2, 0, 0, 1, 1, 2, NULL));
  g_assert_cmpint (ds.oh, ==, 3);
  g_assert_true (bt_conv_shape_init (&ps, 1, 4, 3, 3, 4, 2, 2, 1, 1, 0, 0, 0, 0, 1, NULL));
  float pre[36], act[36], out[16];
  bt_dwconv2d_forward (pre, x, w, b, &ds);
  bt_relu6_forward (act, pre, 36);
  bt_avgpool2d_forward (out, act, &ps);
  expect_close ("b.out", out, 16);
  float d_act[36], d_x[72], g_w[36] = { 0 }, g_b[4] = { 0 };
  bt_avgpool2d_backward (d_act, r, &ps);
  bt_relu6_backward (d_act, d_act, pre, 36);
  bt_dwconv2d_backward (d_x, g_w, g_b, d_act, x, w, &ds);
  expect_close ("b.d_x", d_x, 72);
  expect_close ("b.d_w", g_w, 36);
  expect_close ("b.d_b", g_b, 4);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  load_fixture ();
  g_test_add_func ("/known-answer/conv-bn-relu-pool-dense-xent", test_net_a);
  g_test_add_func ("/known-answer/dwconv-same-relu6-avgpool", test_net_b);
  int rc = g_test_run ();
  g_hash_table_unref (fixture);
  return rc;
}
