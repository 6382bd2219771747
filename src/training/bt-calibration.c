/* bt-calibration.c: temperature scaling, the unknown threshold and the expected calibration
 * error, fitted on held-out logits in double. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "training/bt-calibration.h"

double
bt_calibration_nll (const float *logits, const int *labels, gsize n, int k, double t)
{
  double sum = 0;

  g_return_val_if_fail (n == 0 || (logits != NULL && labels != NULL && k > 0 && t > 0), NAN);
  for (gsize i = 0; i < n; i++)
    {
      const float *z = logits + i * k;
      double mx = -INFINITY, s = 0;

      for (int j = 0; j < k; j++)
        mx = MAX (mx, z[j] / t);
      for (int j = 0; j < k; j++)
        s += exp (z[j] / t - mx);
      sum += mx + log (s) - z[labels[i]] / t;
    }
  return n > 0 ? sum / n : 0;
}

double
bt_calibration_fit_temperature (const float *logits, const int *labels, gsize n, int k)
{
  const double phi = (sqrt (5.0) - 1) / 2;
  double a = log (BT_TEMPERATURE_MIN), b = log (BT_TEMPERATURE_MAX);
  double c, d, fc, fd;

  if (n == 0)
    return 1.0;
  c = b - phi * (b - a);
  d = a + phi * (b - a);
  fc = bt_calibration_nll (logits, labels, n, k, exp (c));
  fd = bt_calibration_nll (logits, labels, n, k, exp (d));
  /* the bracket shrinks by φ per step: 60 steps take ln(10⁴) to ~3e-12 */
  for (int it = 0; it < 60; it++)
    {
      if (fc <= fd)
        {
          b = d; d = c; fd = fc;
          c = b - phi * (b - a);
          fc = bt_calibration_nll (logits, labels, n, k, exp (c));
        }
      else
        {
          a = c; c = d; fc = fd;
          d = a + phi * (b - a);
          fd = bt_calibration_nll (logits, labels, n, k, exp (d));
        }
    }
  return CLAMP (exp ((a + b) / 2), BT_TEMPERATURE_MIN, BT_TEMPERATURE_MAX);
}

static int
cmp_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

double
bt_calibration_fit_threshold (const double *scores, gsize n, double accept)
{
  g_autofree double *sorted = NULL;
  gsize idx;

  g_return_val_if_fail (n == 0 || scores != NULL, NAN);
  if (n == 0)
    return NAN;
  sorted = g_memdup2 (scores, sizeof (double) * n);
  qsort (sorted, n, sizeof (double), cmp_double);
  idx = (gsize) ceil (CLAMP (accept, 0.0, 1.0) * n);
  idx = idx > 0 ? idx - 1 : 0;
  return sorted[MIN (idx, n - 1)];
}

/* The energy and the centroid distance of each validation image, each measured from its median
 * in units of (95th percentile − median); the threshold is then fitted on their maximum. Left
 * energy-only when either part has no spread on these images. */
static void
fit_combined (BtCalibration *calib, const double *energy, const double *distance, gsize n)
{
  g_autofree double *scores = g_new (double, n);
  double e_med = bt_calibration_fit_threshold (energy, n, 0.5);
  double e_scale = bt_calibration_fit_threshold (energy, n, BT_UNKNOWN_ACCEPT) - e_med;
  double d_med = bt_calibration_fit_threshold (distance, n, 0.5);
  double d_scale = bt_calibration_fit_threshold (distance, n, BT_UNKNOWN_ACCEPT) - d_med;

  if (!(e_scale > 0 && d_scale > 0 && isfinite (e_scale) && isfinite (d_scale)))
    return;
  calib->energy_threshold = calib->unknown_threshold;
  calib->energy_center = e_med;
  calib->energy_scale = e_scale;
  calib->distance_center = d_med;
  calib->distance_scale = d_scale;
  for (gsize i = 0; i < n; i++)
    scores[i] = MAX ((energy[i] - e_med) / e_scale, (distance[i] - d_med) / d_scale);
  calib->unknown_threshold = bt_calibration_fit_threshold (scores, n, BT_UNKNOWN_ACCEPT);
}

void
bt_calibration_fit (const float *logits, const int *labels, gsize n, int k, const double *distances,
                    BtCalibration *calib)
{
  g_autofree double *energy = NULL;

  g_return_if_fail (calib != NULL);
  bt_calibration_init (calib);
  if (n == 0)
    return;
  calib->temperature = bt_calibration_fit_temperature (logits, labels, n, k);
  energy = g_new (double, n);
  for (gsize i = 0; i < n; i++)
    energy[i] = bt_calibration_apply (calib, logits + i * k, k, NULL);
  calib->unknown_threshold = bt_calibration_fit_threshold (energy, n, BT_UNKNOWN_ACCEPT);
  if (distances != NULL)
    fit_combined (calib, energy, distances, n);
}

struct _BtCentroidsFit {
  int     k, dim;
  double *sum, *sq;               /* [k, dim] */
  gsize  *count;                  /* [k] */
};

BtCentroidsFit *
bt_centroids_fit_new (int k, int dim)
{
  BtCentroidsFit *fit;
  g_return_val_if_fail (k > 0 && dim > 0, NULL);
  fit = g_new0 (BtCentroidsFit, 1);
  fit->k = k;
  fit->dim = dim;
  fit->sum = g_try_new0 (double, (gsize) k * dim);
  fit->sq = g_try_new0 (double, (gsize) k * dim);
  fit->count = g_new0 (gsize, k);
  if (fit->sum == NULL || fit->sq == NULL)
    g_clear_pointer (&fit, bt_centroids_fit_free);
  return fit;
}

void
bt_centroids_fit_free (BtCentroidsFit *fit)
{
  if (fit == NULL)
    return;
  g_free (fit->sum);
  g_free (fit->sq);
  g_free (fit->count);
  g_free (fit);
}

void
bt_centroids_fit_add (BtCentroidsFit *fit, const float *features, const int *labels, gsize n)
{
  g_return_if_fail (fit != NULL && (n == 0 || (features != NULL && labels != NULL)));
  for (gsize i = 0; i < n; i++)
    {
      const float *f = features + i * fit->dim;
      double *s, *q;
      if (labels[i] < 0 || labels[i] >= fit->k)
        continue;
      s = fit->sum + (gsize) labels[i] * fit->dim;
      q = fit->sq + (gsize) labels[i] * fit->dim;
      fit->count[labels[i]]++;
      for (int j = 0; j < fit->dim; j++)
        {
          s[j] += f[j];
          q[j] += (double) f[j] * f[j];
        }
    }
}

BtCentroids *
bt_centroids_fit_finish (const BtCentroidsFit *fit)
{
  g_autofree double *var = NULL;
  g_autoptr(BtCentroids) c = NULL;
  double pooled = 0, floor2;
  gsize len;

  g_return_val_if_fail (fit != NULL, NULL);
  len = (gsize) fit->k * fit->dim;
  for (int y = 0; y < fit->k; y++)
    if (fit->count[y] == 0)
      return NULL;   /* a class without images has no centroid: the model keeps the energy alone */
  c = bt_centroids_new (fit->k, fit->dim);
  if (c == NULL)
    return NULL;
  var = g_new (double, len);
  for (gsize i = 0; i < len; i++)
    {
      gsize y = i / fit->dim;
      double mean = fit->sum[i] / fit->count[y];
      c->mean[i] = (float) mean;
      var[i] = MAX (fit->sq[i] / fit->count[y] - mean * mean, 0.0);
      pooled += sqrt (var[i]);
    }
  /* a feature that (almost) never varies within a class would make any change look infinitely
   * far: every spread gets a tenth of the mean spread added in quadrature */
  pooled /= (double) len;
  floor2 = pooled > 0 ? 0.01 * pooled * pooled : 1.0;
  for (gsize i = 0; i < len; i++)
    c->spread[i] = (float) sqrt (var[i] + floor2);
  return g_steal_pointer (&c);
}

BtCentroids *
bt_centroids_fit (const float *features, const int *labels, gsize n, int k, int dim)
{
  BtCentroidsFit *fit = bt_centroids_fit_new (k, dim);
  BtCentroids *c;

  if (fit == NULL)
    return NULL;
  bt_centroids_fit_add (fit, features, labels, n);
  c = bt_centroids_fit_finish (fit);
  bt_centroids_fit_free (fit);
  return c;
}

void
bt_calibration_reliability (const float *confidence, const gboolean *correct, gsize n, int n_bins,
                            guint *count, double *mean_confidence, double *accuracy)
{
  g_return_if_fail (n_bins > 0 && count != NULL && mean_confidence != NULL && accuracy != NULL);
  memset (count, 0, sizeof (guint) * n_bins);
  for (int b = 0; b < n_bins; b++)
    mean_confidence[b] = accuracy[b] = 0;
  for (gsize i = 0; i < n; i++)
    {
      double c = CLAMP (confidence[i], 0.0f, 1.0f);
      /* bins are (b/B, (b+1)/B]: a confidence of exactly 1 falls in the last */
      int b = (int) ceil (c * n_bins) - 1;
      b = CLAMP (b, 0, n_bins - 1);
      mean_confidence[b] += c;
      accuracy[b] += correct[i] ? 1 : 0;
      count[b]++;
    }
  for (int b = 0; b < n_bins; b++)
    {
      mean_confidence[b] = count[b] > 0 ? mean_confidence[b] / count[b] : NAN;
      accuracy[b] = count[b] > 0 ? accuracy[b] / count[b] : NAN;
    }
}

double
bt_calibration_ece (const float *confidence, const gboolean *correct, gsize n, int n_bins)
{
  g_autofree guint *count = NULL;
  g_autofree double *conf = NULL, *acc = NULL;
  double ece = 0;

  g_return_val_if_fail (n_bins > 0, NAN);
  if (n == 0)
    return 0;
  count = g_new (guint, n_bins);
  conf = g_new (double, n_bins);
  acc = g_new (double, n_bins);
  bt_calibration_reliability (confidence, correct, n, n_bins, count, conf, acc);
  for (int b = 0; b < n_bins; b++)
    if (count[b] > 0)
      ece += (double) count[b] / n * fabs (acc[b] - conf[b]);
  return ece;
}

void
bt_threshold_scores (const float *scores, const gboolean *positive, gsize n, double threshold,
                     double *precision, double *recall)
{
  gsize tp = 0, fp = 0, pos = 0;

  for (gsize i = 0; i < n; i++)
    {
      gboolean said = scores[i] >= threshold;
      pos += positive[i] ? 1 : 0;
      tp += said && positive[i];
      fp += said && !positive[i];
    }
  *precision = tp + fp > 0 ? (double) tp / (tp + fp) : NAN;
  *recall = pos > 0 ? (double) tp / pos : NAN;
}
