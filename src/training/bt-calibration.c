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

void
bt_calibration_fit (const float *logits, const int *labels, gsize n, int k, BtCalibration *calib)
{
  g_autofree double *scores = NULL;

  g_return_if_fail (calib != NULL);
  bt_calibration_init (calib);
  if (n == 0)
    return;
  calib->temperature = bt_calibration_fit_temperature (logits, labels, n, k);
  scores = g_new (double, n);
  for (gsize i = 0; i < n; i++)
    scores[i] = bt_calibration_apply (calib, logits + i * k, k, NULL);
  calib->unknown_threshold = bt_calibration_fit_threshold (scores, n, BT_UNKNOWN_ACCEPT);
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
