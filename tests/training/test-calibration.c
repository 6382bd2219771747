/* test-calibration.c: the temperature fit, the expected calibration error, the unknown
 * threshold, the logits the net keeps, and the [calibration] keys of a model file. */
#include "config.h"

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "training/bt-calibration.h"
#include "training/bt-training.h"
#include "bt-test-fs.h"

#define K 5

/* Labels drawn from softmax(g) of random logits g, the net's logits g·t_true: a model that is
 * t_true times too sure of itself. The fit should give back t_true. */
static void
make_overconfident (GRand *rand, gsize n, double t_true, float *logits, int *labels)
{
  for (gsize i = 0; i < n; i++)
    {
      double g[K], mx = -INFINITY, sum = 0, u, acc = 0;
      for (int j = 0; j < K; j++)
        {
          /* Box–Muller */
          double a = g_rand_double_range (rand, 1e-12, 1), b = g_rand_double (rand);
          g[j] = 1.5 * sqrt (-2 * log (a)) * cos (2 * G_PI * b);
          mx = MAX (mx, g[j]);
        }
      for (int j = 0; j < K; j++)
        sum += exp (g[j] - mx);
      u = g_rand_double (rand) * sum;
      labels[i] = K - 1;
      for (int j = 0; j < K; j++)
        {
          acc += exp (g[j] - mx);
          if (u < acc)
            {
              labels[i] = j;
              break;
            }
        }
      for (int j = 0; j < K; j++)
        logits[i * K + j] = (float) (g[j] * t_true);
    }
}

static void
test_fit_temperature (void)
{
  const gsize n = 20000;
  g_autoptr(GRand) rand = g_rand_new_with_seed (7);
  g_autofree float *logits = g_new (float, n * K);
  g_autofree int *labels = g_new (int, n);
  double t, nll_before, nll_after;

  make_overconfident (rand, n, 3.0, logits, labels);
  t = bt_calibration_fit_temperature (logits, labels, n, K);
  nll_before = bt_calibration_nll (logits, labels, n, K, 1.0);
  nll_after = bt_calibration_nll (logits, labels, n, K, t);
  g_test_message ("T = %.4f, NLL %.4f → %.4f", t, nll_before, nll_after);
  g_assert_cmpfloat (fabs (t - 3.0), <, 0.15);
  g_assert_cmpfloat (nll_after, <, nll_before - 0.1);
  /* it is the minimum: a step either way is worse */
  g_assert_cmpfloat (nll_after, <=, bt_calibration_nll (logits, labels, n, K, t * 1.02));
  g_assert_cmpfloat (nll_after, <=, bt_calibration_nll (logits, labels, n, K, t / 1.02));

  /* an underconfident model gets a temperature below 1 */
  make_overconfident (rand, n, 0.5, logits, labels);
  t = bt_calibration_fit_temperature (logits, labels, n, K);
  g_assert_cmpfloat (fabs (t - 0.5), <, 0.05);

  /* nothing to fit on: the identity */
  g_assert_cmpfloat (bt_calibration_fit_temperature (logits, labels, 0, K), ==, 1.0);
}

static void
test_ece (void)
{
  /* 15 bins of width 1/15: 0.9 falls in bin 13, 1.0 in bin 14, 0.55 in bin 8.
   * bin 13: 2 images, 1 right, mean confidence 0.9 → |1 − 1.8| = 0.8
   * bin 14: 1 image, right, confidence 1 → 0;  bin 8: 2 right, 0.55 each → |2 − 1.1| = 0.9
   * ECE = (0.8 + 0 + 0.9) / 5 = 0.34 */
  const float conf[] = { 0.9f, 0.9f, 1.0f, 0.55f, 0.55f };
  const gboolean hit[] = { TRUE, FALSE, TRUE, TRUE, TRUE };
  g_assert_cmpfloat (fabs (bt_calibration_ece (conf, hit, 5, 15) - 0.34), <, 1e-6);
  /* one bin: |4 − 3.9| / 5 */
  g_assert_cmpfloat (fabs (bt_calibration_ece (conf, hit, 5, 1) - 0.02), <, 1e-6);
  g_assert_cmpfloat (bt_calibration_ece (conf, hit, 0, 15), ==, 0);
}

/* The reliability diagram's bins of the same five images, and precision/recall at thresholds. */
static void
test_reliability_and_threshold (void)
{
  const float conf[] = { 0.9f, 0.9f, 1.0f, 0.55f, 0.55f };
  const gboolean hit[] = { TRUE, FALSE, TRUE, TRUE, TRUE };
  guint count[15];
  double mean[15], acc[15], p, r;

  bt_calibration_reliability (conf, hit, 5, 15, count, mean, acc);
  g_assert_cmpuint (count[13], ==, 2);
  g_assert_cmpfloat (fabs (mean[13] - 0.9), <, 1e-6);
  g_assert_cmpfloat (fabs (acc[13] - 0.5), <, 1e-9);
  g_assert_cmpuint (count[8], ==, 2);
  g_assert_cmpfloat (acc[8], ==, 1.0);
  g_assert_cmpuint (count[14], ==, 1);
  g_assert_cmpuint (count[0], ==, 0);
  g_assert_true (isnan (acc[0]) && isnan (mean[0]));

  /* scores of one class, positive = the image is of that class */
  const float score[] = { 0.95f, 0.8f, 0.6f, 0.4f, 0.2f, 0.1f };
  const gboolean pos[] = { TRUE, TRUE, FALSE, TRUE, FALSE, FALSE };
  bt_threshold_scores (score, pos, 6, 0.5, &p, &r);
  g_assert_cmpfloat (fabs (p - 2.0 / 3), <, 1e-9);
  g_assert_cmpfloat (fabs (r - 2.0 / 3), <, 1e-9);
  bt_threshold_scores (score, pos, 6, 0.3, &p, &r);
  g_assert_cmpfloat (fabs (p - 3.0 / 4), <, 1e-9);
  g_assert_cmpfloat (r, ==, 1.0);
  bt_threshold_scores (score, pos, 6, 0.99, &p, &r);
  g_assert_true (isnan (p));
  g_assert_cmpfloat (r, ==, 0.0);
}

static void
test_ece_lower_after_fit (void)
{
  const gsize n = 20000;
  g_autoptr(GRand) rand = g_rand_new_with_seed (11);
  g_autofree float *logits = g_new (float, n * K);
  g_autofree int *labels = g_new (int, n);
  g_autofree float *raw = g_new (float, n), *cal = g_new (float, n);
  g_autofree gboolean *hit = g_new (gboolean, n);
  BtCalibration one, fitted;
  float p[K];
  double before, after;

  make_overconfident (rand, n, 2.5, logits, labels);
  bt_calibration_init (&one);
  bt_calibration_fit (logits, labels, n, K, NULL, &fitted);
  for (gsize i = 0; i < n; i++)
    {
      int top = 0;
      bt_calibration_apply (&one, logits + i * K, K, p);
      for (int j = 1; j < K; j++)
        if (p[j] > p[top])
          top = j;
      raw[i] = p[top];
      hit[i] = top == labels[i];
      bt_calibration_apply (&fitted, logits + i * K, K, p);
      cal[i] = p[top];
    }
  before = bt_calibration_ece (raw, hit, n, BT_ECE_BINS);
  after = bt_calibration_ece (cal, hit, n, BT_ECE_BINS);
  g_test_message ("ECE %.4f → %.4f (T = %.3f)", before, after, fitted.temperature);
  g_assert_cmpfloat (before, >, 0.1);
  g_assert_cmpfloat (after, <, 0.02);
}

static void
test_unknown_threshold (void)
{
  const float logits[K] = { 4, 1, 0, -1, 0.5f };
  BtCalibration c;
  float p[K];
  double s, lse = 0, sum = 0;
  double scores[100];

  bt_calibration_init (&c);
  c.temperature = 2.0;
  s = bt_calibration_apply (&c, logits, K, p);
  for (int j = 0; j < K; j++)
    lse += exp (logits[j] / 2.0);
  g_assert_cmpfloat (fabs (s - (-2.0 * log (lse))), <, 1e-9);
  for (int j = 0; j < K; j++)
    sum += p[j];
  g_assert_cmpfloat (fabs (sum - 1), <, 1e-6);
  g_assert_cmpfloat (fabs (p[0] - exp (2.0) / lse), <, 1e-6);

  /* no threshold: never unknown */
  g_assert_false (bt_calibration_is_unknown (&c, s));
  g_assert_false (bt_calibration_is_unknown (&c, 1e9));
  /* the verdict flips as the threshold crosses the score */
  c.unknown_threshold = s + 1e-6;
  g_assert_false (bt_calibration_is_unknown (&c, s));
  c.unknown_threshold = s - 1e-6;
  g_assert_true (bt_calibration_is_unknown (&c, s));

  /* the threshold accepts 95% of the scores it is fitted on */
  for (int i = 0; i < 100; i++)
    scores[i] = 100 - i;   /* 100 … 1, unsorted order on purpose */
  g_assert_cmpfloat (bt_calibration_fit_threshold (scores, 100, 0.95), ==, 95);
  g_assert_cmpfloat (bt_calibration_fit_threshold (scores, 100, 1.0), ==, 100);
  g_assert_true (isnan (bt_calibration_fit_threshold (scores, 0, 0.95)));
}

/* A transfer head whose classifier reads only the embedding's first value: an embedding far off in
 * the other values gets the logits of a typical image. The energy alone cannot tell it from one;
 * its distance to the class centroids can, and the combined score (fitted on validation images
 * to accept 95 % of them) calls it unknown. The features the net keeps are its input. */
static void
test_centroid_distance (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GRand) rand = g_rand_new_with_seed (23);
  const int dim = 4, n = 400;
  BtModel m = { 0 };
  g_autofree float *x = g_new (float, n * dim);
  g_autofree int *labels = g_new (int, n);
  g_autofree double *dist = g_new (double, n / 2);
  g_autoptr(GArray) logits = g_array_new (FALSE, FALSE, sizeof (float));
  g_autoptr(GArray) feats = g_array_new (FALSE, FALSE, sizeof (float));
  const float planted[4] = { 1.0f, 0.0f, 6.0f, -6.0f }, typical[4] = { 1.0f, 0.1f, -0.1f, 0.05f };
  float z[2], f[4];
  gsize np;
  float *w;
  double energy, distance;
  guint accepted = 0;

  m.net = bt_net_new_transfer (dim, 0, 2, 0.0f, 1, &error);
  g_assert_no_error (error);
  g_assert_cmpint (bt_net_feature_dim (m.net), ==, dim);
  w = bt_net_params (m.net, &np);
  g_assert_cmpuint (np, ==, 10);
  memset (w, 0, sizeof (float) * np);
  w[0] = 3.0f;        /* class 0: +3·x0 */
  w[dim] = -3.0f;     /* class 1: −3·x0 */
  bt_calibration_init (&m.calib);
  /* two classes at x0 = ±1, a little noise in every value; the first half trains, the second validates */
  for (int i = 0; i < n; i++)
    {
      labels[i] = i % 2;
      for (int j = 0; j < dim; j++)
        x[i * dim + j] = (j == 0 ? (labels[i] == 0 ? 1.0f : -1.0f) : 0.0f) + (float) g_rand_double_range (rand, -0.3, 0.3);
    }
  g_assert_nonnull (bt_net_forward (m.net, x, n, FALSE, &error));
  g_assert_cmpmem (bt_net_features (m.net), sizeof (float) * n * dim, x, sizeof (float) * n * dim);
  m.centroids = bt_centroids_fit (bt_net_features (m.net), labels, n / 2, 2, dim);
  g_assert_nonnull (m.centroids);
  g_assert_cmpfloat (fabs (m.centroids->mean[0] - 1.0), <, 0.1);
  g_assert_cmpfloat (fabs (m.centroids->mean[dim] + 1.0), <, 0.1);
  g_array_append_vals (logits, bt_net_logits (m.net) + n, n);   /* rows n/2 … n − 1: 2 logits each */
  g_array_append_vals (feats, bt_net_features (m.net) + n / 2 * dim, n / 2 * dim);
  for (int i = 0; i < n / 2; i++)
    dist[i] = bt_centroids_distance (m.centroids, (const float *) feats->data + i * dim);
  bt_calibration_fit ((const float *) logits->data, labels + n / 2, n / 2, 2, dist, &m.calib);
  g_assert_true (bt_calibration_uses_centroids (&m.calib));
  for (int i = 0; i < n / 2; i++)
    accepted += !bt_calibration_is_unknown (&m.calib, bt_model_unknown_score (&m, (const float *) logits->data + 2 * i,
                                                                                (const float *) feats->data + i * dim, NULL));
  g_assert_cmpuint (accepted, >=, 190);   /* 95 % of the validation images */

  /* the planted embedding: its logits are a typical class-0 image's, so the energy passes ... */
  g_assert_nonnull (bt_net_forward (m.net, planted, 1, FALSE, &error));
  memcpy (z, bt_net_logits (m.net), sizeof z);
  memcpy (f, bt_net_features (m.net), sizeof f);
  bt_unknown_parts (&m.calib, m.centroids, z, 2, f, &energy, &distance);
  g_test_message ("planted: energy %.3f (its own threshold %.3f), distance %.3f; combined %.3f > %.3f",
                  energy, bt_calibration_energy_threshold (&m.calib), distance,
                  bt_model_unknown_score (&m, z, f, NULL), m.calib.unknown_threshold);
  g_assert_cmpfloat (energy, <=, bt_calibration_energy_threshold (&m.calib));
  /* ... and the distance to the nearest centroid does not */
  g_assert_true (bt_calibration_is_unknown (&m.calib, bt_model_unknown_score (&m, z, f, NULL)));
  g_assert_true (isnan (bt_model_unknown_score (&m, z, NULL, NULL)));   /* never unknown without features */
  /* a typical image stays accepted */
  g_assert_nonnull (bt_net_forward (m.net, typical, 1, FALSE, &error));
  g_assert_false (bt_calibration_is_unknown (&m.calib, bt_model_unknown_score (&m, bt_net_logits (m.net),
                                                                               bt_net_features (m.net), NULL)));
  /* a training forward keeps no features */
  {
    const int lab = 0;
    BtOptimizerConfig cfg;
    g_autoptr(BtOptimizer) opt = NULL;
    double loss;
    bt_optimizer_config_init (&cfg, BT_OPTIMIZER_SGD);
    opt = bt_optimizer_new (m.net, &cfg);
    g_assert_true (bt_net_train_step (m.net, opt, typical, &lab, 1, NULL, 0, 0.0f, &loss, NULL, &error));
    g_assert_null (bt_net_features (m.net));
  }
  bt_centroids_free (m.centroids);
  bt_net_free (m.net);
}

/* The net keeps its logits, and they agree with its probabilities, across inference slices. */
static void
test_net_logits (void)
{
  g_autoptr(GError) error = NULL;
  BtNet *net = bt_net_new_preset (BT_PRESET_MLP, 8, 8, 1, 3, 0, 3, &error);
  const int batch = 150;   /* more than one slice of 64 */
  g_autofree float *x = g_new (float, batch * 64);
  const float *probs, *logits;
  BtCalibration one;

  g_assert_no_error (error);
  bt_calibration_init (&one);
  for (int i = 0; i < batch * 64; i++)
    x[i] = (float) sin (i * 0.37);
  probs = bt_net_forward (net, x, batch, FALSE, &error);
  g_assert_no_error (error);
  logits = bt_net_logits (net);
  g_assert_nonnull (logits);
  for (int i = 0; i < batch; i++)
    {
      float p[3];
      bt_calibration_apply (&one, logits + i * 3, 3, p);
      for (int j = 0; j < 3; j++)
        g_assert_cmpfloat (fabs (p[j] - probs[i * 3 + j]), <, 1e-5);
    }
  bt_net_free (net);
}

static char *
save_tiny (const char *dir, const char *name, const BtCalibration *calib, GError **error)
{
  g_autoptr(GError) local = NULL;
  BtNet *net = bt_net_new_preset (BT_PRESET_MLP, 8, 8, 1, 3, 0, 3, &local);
  const char *names[] = { "a", "b", "c", NULL };
  char *path = g_build_filename (dir, name, NULL);
  gboolean ok;

  g_assert_no_error (local);
  ok = bt_model_save_calibrated (path, net, names, NULL, NULL, NULL, NULL, calib, NULL, error);
  bt_net_free (net);
  if (!ok)
    g_clear_pointer (&path, g_free);
  return path;
}

/* Replaces `from` by `to` (same length) in the header and re-seals the file's SHA-256. */
static void
tamper (const char *path, const char *from, const char *to)
{
  g_autofree char *data = NULL;
  gsize len;
  char *at;
  g_autoptr(GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  gsize digest_len = 32;

  g_assert_cmpuint (strlen (from), ==, strlen (to));
  g_assert_true (g_file_get_contents (path, &data, &len, NULL));
  at = memmem (data, len, from, strlen (from));
  g_assert_nonnull (at);
  memcpy (at, to, strlen (to));
  g_checksum_update (sum, (const guchar *) data, len - 32);
  g_checksum_get_digest (sum, (guint8 *) data + len - 32, &digest_len);
  g_assert_true (g_file_set_contents (path, data, len, NULL));
}

static void
test_model_file (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("bt-calib-XXXXXX", NULL);
  BtCalibration c = { 2.5, -3.25 }, bad;
  const char *corrupt[] = { "nan", "0.0", "-25", "1e9" };

  /* round trip, exactly */
  {
    g_autofree char *path = save_tiny (dir, "a.bottega-model", &c, &error);
    g_autoptr(BtModel) m = NULL;
    g_assert_no_error (error);
    m = bt_model_load (path, &error);
    g_assert_no_error (error);
    g_assert_cmpfloat (m->calib.temperature, ==, 2.5);
    g_assert_cmpfloat (m->calib.unknown_threshold, ==, -3.25);
  }
  /* a file without calibration (older Bottegas): temperature 1, no threshold */
  {
    g_autofree char *path = save_tiny (dir, "old.bottega-model", NULL, &error);
    g_autofree char *data = NULL;
    g_autoptr(BtModel) m = NULL;
    g_assert_no_error (error);
    g_assert_true (g_file_get_contents (path, &data, NULL, NULL));
    g_assert_null (strstr (data, "[calibration]"));
    m = bt_model_load (path, &error);
    g_assert_no_error (error);
    g_assert_cmpfloat (m->calib.temperature, ==, 1.0);
    g_assert_true (isnan (m->calib.unknown_threshold));
  }
  /* absurd values are refused when saving ... */
  bad = c;
  bad.temperature = 0;
  g_assert_null (save_tiny (dir, "zero.bottega-model", &bad, &error));
  g_assert_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID);
  g_clear_error (&error);
  bad.temperature = NAN;
  g_assert_null (save_tiny (dir, "nan.bottega-model", &bad, &error));
  g_clear_error (&error);
  bad.temperature = 1;
  bad.unknown_threshold = INFINITY;
  g_assert_null (save_tiny (dir, "inf.bottega-model", &bad, &error));
  g_clear_error (&error);
  /* ... and when reading a file that holds them (its checksum right) */
  for (guint i = 0; i < G_N_ELEMENTS (corrupt); i++)
    {
      g_autofree char *path = save_tiny (dir, "t.bottega-model", &c, &error);
      g_autofree char *to = g_strconcat ("temperature=", corrupt[i], NULL);
      g_autoptr(BtModel) m = NULL;
      g_assert_no_error (error);
      tamper (path, "temperature=2.5", to);
      m = bt_model_load (path, &error);
      g_assert_null (m);
      g_assert_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_CORRUPT);
      g_assert_nonnull (strstr (error->message, "calibration"));
      g_clear_error (&error);
    }
  {
    g_autofree char *path = save_tiny (dir, "u.bottega-model", &c, &error);
    g_autoptr(BtModel) m = NULL;
    g_assert_no_error (error);
    tamper (path, "unknown-threshold=-3.25", "unknown-threshold=nan!!");
    m = bt_model_load (path, &error);
    g_assert_null (m);
    g_assert_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_CORRUPT);
    g_clear_error (&error);
  }
  bt_test_rm_rf (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/calibration/fit-temperature", test_fit_temperature);
  g_test_add_func ("/calibration/ece", test_ece);
  g_test_add_func ("/calibration/reliability-threshold", test_reliability_and_threshold);
  g_test_add_func ("/calibration/ece-lower-after-fit", test_ece_lower_after_fit);
  g_test_add_func ("/calibration/unknown-threshold", test_unknown_threshold);
  g_test_add_func ("/calibration/net-logits", test_net_logits);
  g_test_add_func ("/calibration/centroid-distance", test_centroid_distance);
  g_test_add_func ("/calibration/model-file", test_model_file);
  return g_test_run ();
}
