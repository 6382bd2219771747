/* bt-chart-axis.c: a chart axis — maps values to 0..1 and computes readable ("nice") ticks. */
#include "config.h"

#include <math.h>

#include "bt-chart-axis.h"

struct _BtChartAxis
{
  GObject parent_instance;

  double            min, max;
  BtChartAxisFormat format;
  gboolean          auto_range;
};

G_DEFINE_FINAL_TYPE (BtChartAxis, bt_chart_axis, G_TYPE_OBJECT)

enum { PROP_0, PROP_MIN, PROP_MAX, PROP_AUTO_RANGE, PROP_FORMAT, N_PROPS };
static GParamSpec *properties[N_PROPS];

enum { CHANGED, N_SIGNALS };
static guint signals[N_SIGNALS];

static void
bt_chart_axis_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  BtChartAxis *self = BT_CHART_AXIS (object);

  switch (prop_id)
    {
    case PROP_MIN: g_value_set_double (value, self->min); break;
    case PROP_MAX: g_value_set_double (value, self->max); break;
    case PROP_AUTO_RANGE: g_value_set_boolean (value, self->auto_range); break;
    case PROP_FORMAT: g_value_set_int (value, self->format); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
bt_chart_axis_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  BtChartAxis *self = BT_CHART_AXIS (object);

  switch (prop_id)
    {
    case PROP_MIN: bt_chart_axis_set_range (self, g_value_get_double (value), self->max); break;
    case PROP_MAX: bt_chart_axis_set_range (self, self->min, g_value_get_double (value)); break;
    case PROP_AUTO_RANGE: bt_chart_axis_set_auto_range (self, g_value_get_boolean (value)); break;
    case PROP_FORMAT: self->format = g_value_get_int (value); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
bt_chart_axis_class_init (BtChartAxisClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = bt_chart_axis_get_property;
  object_class->set_property = bt_chart_axis_set_property;

  properties[PROP_MIN] = g_param_spec_double ("min", NULL, NULL, -G_MAXDOUBLE, G_MAXDOUBLE, 0,
                                              G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_MAX] = g_param_spec_double ("max", NULL, NULL, -G_MAXDOUBLE, G_MAXDOUBLE, 1,
                                              G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_AUTO_RANGE] = g_param_spec_boolean ("auto-range", NULL, NULL, TRUE,
                                                      G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_FORMAT] = g_param_spec_int ("format", NULL, NULL, BT_CHART_AXIS_NUMBER, BT_CHART_AXIS_PERCENT,
                                              BT_CHART_AXIS_NUMBER,
                                              G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  signals[CHANGED] = g_signal_new ("changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                   0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
bt_chart_axis_init (BtChartAxis *self)
{
  self->min = 0;
  self->max = 1;
  self->auto_range = TRUE;
}

BtChartAxis *
bt_chart_axis_new (BtChartAxisFormat format)
{
  return g_object_new (BT_TYPE_CHART_AXIS, "format", format, NULL);
}

void
bt_chart_axis_set_range (BtChartAxis *self, double min, double max)
{
  g_return_if_fail (BT_IS_CHART_AXIS (self));
  g_return_if_fail (isfinite (min) && isfinite (max));

  if (max < min)
    {
      double t = min;
      min = max;
      max = t;
    }
  if (min == self->min && max == self->max)
    return;

  g_object_freeze_notify (G_OBJECT (self));
  if (min != self->min)
    {
      self->min = min;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MIN]);
    }
  if (max != self->max)
    {
      self->max = max;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MAX]);
    }
  g_object_thaw_notify (G_OBJECT (self));
  g_signal_emit (self, signals[CHANGED], 0);
}

void
bt_chart_axis_get_range (BtChartAxis *self, double *min, double *max)
{
  g_return_if_fail (BT_IS_CHART_AXIS (self));

  if (min)
    *min = self->min;
  if (max)
    *max = self->max;
}

void
bt_chart_axis_set_auto_range (BtChartAxis *self, gboolean auto_range)
{
  g_return_if_fail (BT_IS_CHART_AXIS (self));

  auto_range = !!auto_range;
  if (self->auto_range == auto_range)
    return;
  self->auto_range = auto_range;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_AUTO_RANGE]);
  g_signal_emit (self, signals[CHANGED], 0);
}

gboolean
bt_chart_axis_get_auto_range (BtChartAxis *self)
{
  g_return_val_if_fail (BT_IS_CHART_AXIS (self), FALSE);
  return self->auto_range;
}

BtChartAxisFormat
bt_chart_axis_get_format (BtChartAxis *self)
{
  g_return_val_if_fail (BT_IS_CHART_AXIS (self), BT_CHART_AXIS_NUMBER);
  return self->format;
}

double
bt_chart_nice_step (double range, guint max_ticks, gboolean integer)
{
  double raw, mag, frac, step;

  if (max_ticks < 2)
    max_ticks = 2;
  if (!isfinite (range) || range <= 0)
    return integer ? 1 : 0.1;

  /* max_ticks ticks span max_ticks - 1 intervals */
  raw = range / (max_ticks - 1);
  mag = pow (10, floor (log10 (raw)));
  frac = raw / mag;
  if (frac <= 1)
    step = 1 * mag;
  else if (frac <= 2)
    step = 2 * mag;
  else if (frac <= 5)
    step = 5 * mag;
  else
    step = 10 * mag;

  if (integer && step < 1)
    step = 1;
  return step;
}

static guint
count_ticks (double min, double max, double step)
{
  return (guint) (floor (max / step + 1e-9) - ceil (min / step - 1e-9) + 1);
}

guint
bt_chart_compute_ticks (double min, double max, guint max_ticks, gboolean integer,
                        double *ticks, double *step_out)
{
  static const double mult[] = { 1, 2, 5 };
  double step = 0, first, mag;
  guint n = 0;

  g_return_val_if_fail (ticks != NULL, 0);

  if (max_ticks > BT_CHART_AXIS_MAX_TICKS)
    max_ticks = BT_CHART_AXIS_MAX_TICKS;
  if (max_ticks < 2)
    max_ticks = 2;
  if (!isfinite (min) || !isfinite (max) || max < min)
    return 0;

  if (max == min)
    step = integer ? 1 : bt_chart_nice_step (fabs (min) > 0 ? fabs (min) : 1, max_ticks, FALSE);
  else
    {
      /* the smallest 1-2-5 step that gives at most max_ticks ticks: as many as allowed */
      mag = pow (10, floor (log10 ((max - min) / max_ticks)) - 1);
      for (int k = 0; k < 30 && step == 0; k++, mag *= 10)
        for (guint m = 0; m < G_N_ELEMENTS (mult); m++)
          {
            double s = mult[m] * mag;
            if (integer && s < 1)
              continue;
            if (count_ticks (min, max, s) <= max_ticks)
              {
                step = s;
                break;
              }
          }
      if (step == 0)
        return 0;
    }

  first = ceil (min / step - 1e-9) * step;
  for (double v = first; v <= max + step * 1e-9 && n < max_ticks; v += step)
    {
      double t = round (v / step) * step;   /* no 0.30000000000000004 */
      if (fabs (t) < step * 1e-9)
        t = 0;
      ticks[n++] = t;
    }
  if (step_out)
    *step_out = step;
  return n;
}

void
bt_chart_axis_fit (BtChartAxis *self, double data_min, double data_max)
{
  gboolean integer;
  double step, lo, hi;

  g_return_if_fail (BT_IS_CHART_AXIS (self));

  if (!self->auto_range || !isfinite (data_min) || !isfinite (data_max))
    return;

  integer = self->format == BT_CHART_AXIS_INTEGER;
  if (data_max < data_min)
    {
      double t = data_min;
      data_min = data_max;
      data_max = t;
    }
  if (data_max == data_min)
    {
      double pad = integer ? 1 : (data_min == 0 ? 1 : fabs (data_min) * 0.1);
      data_min -= integer ? 0 : pad;
      data_max += pad;
    }

  if (integer)
    {
      /* epochs: exactly from the first to the last, no padding beyond the data */
      bt_chart_axis_set_range (self, floor (data_min), ceil (data_max));
      return;
    }

  step = bt_chart_nice_step (data_max - data_min, 6, FALSE);
  lo = floor (data_min / step) * step;
  hi = ceil (data_max / step) * step;
  /* losses and accuracies are ≥ 0: do not invent a negative part of the axis */
  if (data_min >= 0 && lo < 0)
    lo = 0;
  if (self->format == BT_CHART_AXIS_PERCENT)
    {
      lo = MAX (lo, 0);
      hi = MIN (hi, 1);
      if (hi <= lo)
        hi = lo + step;
    }
  bt_chart_axis_set_range (self, lo, hi);
}

double
bt_chart_axis_normalize (BtChartAxis *self, double value)
{
  g_return_val_if_fail (BT_IS_CHART_AXIS (self), NAN);

  if (self->max == self->min)
    return 0.5;
  return (value - self->min) / (self->max - self->min);
}

guint
bt_chart_axis_get_ticks (BtChartAxis *self, guint max_ticks, double *ticks, double *step)
{
  g_return_val_if_fail (BT_IS_CHART_AXIS (self), 0);
  return bt_chart_compute_ticks (self->min, self->max, max_ticks,
                                 self->format == BT_CHART_AXIS_INTEGER, ticks, step);
}

char *
bt_chart_axis_format_value (BtChartAxis *self, double value, double step)
{
  int decimals;

  g_return_val_if_fail (BT_IS_CHART_AXIS (self), NULL);

  if (!isfinite (value))
    return g_strdup ("–");

  if (self->format == BT_CHART_AXIS_PERCENT)
    {
      value *= 100;
      step *= 100;
    }
  if (self->format == BT_CHART_AXIS_INTEGER)
    decimals = 0;
  else if (step > 0 && isfinite (step))
    decimals = CLAMP ((int) ceil (-log10 (step) - 1e-9), 0, 6);
  else
    decimals = 3;

  if (self->format == BT_CHART_AXIS_PERCENT)
    return g_strdup_printf ("%.*f%%", decimals, value);
  return g_strdup_printf ("%.*f", decimals, value);
}
