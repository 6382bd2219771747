/* bt-calibration.c: temperature scaling, the unknown threshold and the expected calibration
 * error, fitted on held-out logits in double. */
#include "config.h"

#include <math.h>
#include <stdlib.h>

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

double
bt_calibration_ece (const float *confidence, const gboolean *correct, gsize n, int n_bins)
{
  g_autofree double *conf_sum = NULL, *hit_sum = NULL;
  g_autofree gsize *count = NULL;
  double ece = 0;

  g_return_val_if_fail (n_bins > 0, NAN);
  if (n == 0)
    return 0;
  conf_sum = g_new0 (double, n_bins);
  hit_sum = g_new0 (double, n_bins);
  count = g_new0 (gsize, n_bins);
  for (gsize i = 0; i < n; i++)
    {
      double c = CLAMP (confidence[i], 0.0f, 1.0f);
      /* bins are (b/B, (b+1)/B]: a confidence of exactly 1 falls in the last */
      int b = (int) ceil (c * n_bins) - 1;
      b = CLAMP (b, 0, n_bins - 1);
      conf_sum[b] += c;
      hit_sum[b] += correct[i] ? 1 : 0;
      count[b]++;
    }
  for (int b = 0; b < n_bins; b++)
    if (count[b] > 0)
      ece += fabs (hit_sum[b] - conf_sum[b]) / n;
  return ece;
}
