/* bt-chart-series.c: one line of a chart — a GObject holding (x, y) points that tells the
 * chart when they change; optionally drawn as a faint raw line under an EMA-smoothed one. */
#include "config.h"

#include <math.h>
#include <string.h>

#include "bt-chart-series.h"
#include "dataset/bt-dataset.h"

typedef struct { double x, y; } Point;

struct _BtChartSeries
{
  GObject parent_instance;

  char        *title;
  BtChartRole  role;
  double       smoothing;
  gboolean     visible;
  int          color_index;

  GArray      *points;     /* Point */
  GArray      *smoothed;   /* double, valid up to n_smoothed */
  guint        n_smoothed;
};

G_DEFINE_FINAL_TYPE (BtChartSeries, bt_chart_series, G_TYPE_OBJECT)

enum { PROP_0, PROP_TITLE, PROP_ROLE, PROP_SMOOTHING, PROP_VISIBLE, PROP_COLOR_INDEX, N_PROPS };
static GParamSpec *properties[N_PROPS];

enum { CHANGED, N_SIGNALS };
static guint signals[N_SIGNALS];

static void
bt_chart_series_finalize (GObject *object)
{
  BtChartSeries *self = BT_CHART_SERIES (object);

  g_free (self->title);
  g_array_unref (self->points);
  g_array_unref (self->smoothed);

  G_OBJECT_CLASS (bt_chart_series_parent_class)->finalize (object);
}

static void
bt_chart_series_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  BtChartSeries *self = BT_CHART_SERIES (object);

  switch (prop_id)
    {
    case PROP_TITLE: g_value_set_string (value, self->title); break;
    case PROP_ROLE: g_value_set_int (value, self->role); break;
    case PROP_SMOOTHING: g_value_set_double (value, self->smoothing); break;
    case PROP_VISIBLE: g_value_set_boolean (value, self->visible); break;
    case PROP_COLOR_INDEX: g_value_set_int (value, self->color_index); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
bt_chart_series_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  BtChartSeries *self = BT_CHART_SERIES (object);

  switch (prop_id)
    {
    case PROP_TITLE: g_free (self->title); self->title = g_value_dup_string (value); break;
    case PROP_ROLE: self->role = g_value_get_int (value); break;
    case PROP_SMOOTHING: bt_chart_series_set_smoothing (self, g_value_get_double (value)); break;
    case PROP_VISIBLE: bt_chart_series_set_visible (self, g_value_get_boolean (value)); break;
    case PROP_COLOR_INDEX: bt_chart_series_set_color_index (self, g_value_get_int (value)); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
bt_chart_series_class_init (BtChartSeriesClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = bt_chart_series_finalize;
  object_class->get_property = bt_chart_series_get_property;
  object_class->set_property = bt_chart_series_set_property;

  properties[PROP_TITLE] = g_param_spec_string ("title", NULL, NULL, NULL,
                                                G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  properties[PROP_ROLE] = g_param_spec_int ("role", NULL, NULL, BT_CHART_ROLE_TRAIN, BT_CHART_ROLE_OVERLAY_TRAIN,
                                            BT_CHART_ROLE_TRAIN,
                                            G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  properties[PROP_SMOOTHING] = g_param_spec_double ("smoothing", NULL, NULL, 0, 0.999, 0,
                                                    G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_VISIBLE] = g_param_spec_boolean ("visible", NULL, NULL, TRUE,
                                                   G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_COLOR_INDEX] = g_param_spec_int ("color-index", NULL, NULL, -1, G_MAXINT, -1,
                                                   G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  signals[CHANGED] = g_signal_new ("changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                   0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
bt_chart_series_init (BtChartSeries *self)
{
  self->visible = TRUE;
  self->color_index = -1;
  self->points = g_array_new (FALSE, FALSE, sizeof (Point));
  self->smoothed = g_array_new (FALSE, FALSE, sizeof (double));
}

BtChartSeries *
bt_chart_series_new (const char *title, BtChartRole role)
{
  return g_object_new (BT_TYPE_CHART_SERIES, "title", title, "role", role, NULL);
}

const char *
bt_chart_series_get_title (BtChartSeries *self)
{
  g_return_val_if_fail (BT_IS_CHART_SERIES (self), NULL);
  return self->title ? self->title : "";
}

BtChartRole
bt_chart_series_get_role (BtChartSeries *self)
{
  g_return_val_if_fail (BT_IS_CHART_SERIES (self), BT_CHART_ROLE_TRAIN);
  return self->role;
}

void
bt_chart_series_set_smoothing (BtChartSeries *self, double smoothing)
{
  g_return_if_fail (BT_IS_CHART_SERIES (self));

  if (!isfinite (smoothing))
    smoothing = 0;
  smoothing = CLAMP (smoothing, 0, 0.999);
  if (smoothing == self->smoothing)
    return;
  self->smoothing = smoothing;
  self->n_smoothed = 0;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SMOOTHING]);
  g_signal_emit (self, signals[CHANGED], 0);
}

double
bt_chart_series_get_smoothing (BtChartSeries *self)
{
  g_return_val_if_fail (BT_IS_CHART_SERIES (self), 0);
  return self->smoothing;
}

void
bt_chart_series_set_visible (BtChartSeries *self, gboolean visible)
{
  g_return_if_fail (BT_IS_CHART_SERIES (self));

  visible = !!visible;
  if (visible == self->visible)
    return;
  self->visible = visible;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_VISIBLE]);
  g_signal_emit (self, signals[CHANGED], 0);
}

gboolean
bt_chart_series_get_visible (BtChartSeries *self)
{
  g_return_val_if_fail (BT_IS_CHART_SERIES (self), FALSE);
  return self->visible;
}

void
bt_chart_series_set_color_index (BtChartSeries *self, int index)
{
  g_return_if_fail (BT_IS_CHART_SERIES (self));

  index = MAX (index, -1);
  if (index == self->color_index)
    return;
  self->color_index = index;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_COLOR_INDEX]);
  g_signal_emit (self, signals[CHANGED], 0);
}

int
bt_chart_series_get_color_index (BtChartSeries *self)
{
  g_return_val_if_fail (BT_IS_CHART_SERIES (self), -1);
  return self->color_index;
}

void
bt_chart_series_append_many (BtChartSeries *self, const double *xs, const double *ys, guint n)
{
  g_return_if_fail (BT_IS_CHART_SERIES (self));
  g_return_if_fail (n == 0 || (xs != NULL && ys != NULL));

  if (n == 0)
    return;
  for (guint i = 0; i < n; i++)
    {
      Point p = { xs[i], ys[i] };
      if (!isfinite (p.x))
        continue;   /* a point without a place on the x axis cannot be drawn or found */
      g_array_append_val (self->points, p);
    }
  g_signal_emit (self, signals[CHANGED], 0);
}

void
bt_chart_series_append (BtChartSeries *self, double x, double y)
{
  bt_chart_series_append_many (self, &x, &y, 1);
}

void
bt_chart_series_clear (BtChartSeries *self)
{
  g_return_if_fail (BT_IS_CHART_SERIES (self));

  if (self->points->len == 0)
    return;
  g_array_set_size (self->points, 0);
  self->n_smoothed = 0;
  g_signal_emit (self, signals[CHANGED], 0);
}

guint
bt_chart_series_get_n_points (BtChartSeries *self)
{
  g_return_val_if_fail (BT_IS_CHART_SERIES (self), 0);
  return self->points->len;
}

gboolean
bt_chart_series_get_point (BtChartSeries *self, guint i, double *x, double *y)
{
  const Point *p;

  g_return_val_if_fail (BT_IS_CHART_SERIES (self), FALSE);

  if (i >= self->points->len)
    return FALSE;
  p = &g_array_index (self->points, Point, i);
  if (x)
    *x = p->x;
  if (y)
    *y = p->y;
  return TRUE;
}

double
bt_chart_series_get_smoothed (BtChartSeries *self, guint i)
{
  g_return_val_if_fail (BT_IS_CHART_SERIES (self), NAN);

  if (i >= self->points->len)
    return NAN;
  if (self->smoothing <= 0)
    return g_array_index (self->points, Point, i).y;

  /* recomputed in one O(n) pass after points were added: cheap next to drawing them */
  if (self->n_smoothed <= i)
    {
      double ema = 0, weight = 0;

      g_array_set_size (self->smoothed, self->points->len);
      for (guint j = 0; j < self->points->len; j++)
        {
          double y = g_array_index (self->points, Point, j).y;
          if (isfinite (y))
            {
              ema = self->smoothing * ema + (1 - self->smoothing) * y;
              weight = self->smoothing * weight + (1 - self->smoothing);
            }
          g_array_index (self->smoothed, double, j) = (weight > 0 && isfinite (y)) ? ema / weight : NAN;
        }
      self->n_smoothed = self->points->len;
    }
  return g_array_index (self->smoothed, double, i);
}

gboolean
bt_chart_series_get_bounds (BtChartSeries *self, double *x_min, double *x_max,
                            double *y_min, double *y_max)
{
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  gboolean any = FALSE;

  g_return_val_if_fail (BT_IS_CHART_SERIES (self), FALSE);

  for (guint i = 0; i < self->points->len; i++)
    {
      const Point *p = &g_array_index (self->points, Point, i);
      if (!isfinite (p->y))
        continue;
      any = TRUE;
      x0 = MIN (x0, p->x);
      x1 = MAX (x1, p->x);
      y0 = MIN (y0, p->y);
      y1 = MAX (y1, p->y);
    }
  if (!any)
    return FALSE;
  if (x_min) *x_min = x0;
  if (x_max) *x_max = x1;
  if (y_min) *y_min = y0;
  if (y_max) *y_max = y1;
  return TRUE;
}

int
bt_chart_series_find_nearest (BtChartSeries *self, double x)
{
  guint lo = 0, hi;

  g_return_val_if_fail (BT_IS_CHART_SERIES (self), -1);

  if (self->points->len == 0 || !isfinite (x))
    return -1;

  /* points arrive in x order (epochs, steps); binary search, then compare neighbours */
  hi = self->points->len;
  while (lo < hi)
    {
      guint mid = (lo + hi) / 2;
      if (g_array_index (self->points, Point, mid).x < x)
        lo = mid + 1;
      else
        hi = mid;
    }
  if (lo >= self->points->len)
    return self->points->len - 1;
  if (lo > 0 && fabs (g_array_index (self->points, Point, lo - 1).x - x) <=
                fabs (g_array_index (self->points, Point, lo).x - x))
    return lo - 1;
  return lo;
}

int
bt_chart_series_find_x (BtChartSeries *self, double x)
{
  int i = bt_chart_series_find_nearest (self, x);

  if (i >= 0 && g_array_index (self->points, Point, i).x == x)
    return i;
  return -1;
}

static int
cmp_double (gconstpointer a, gconstpointer b)
{
  double da = *(const double *) a, db = *(const double *) b;
  return (da > db) - (da < db);
}

char *
bt_chart_series_to_csv (BtChartSeries * const *series, guint n_series, const char *x_title)
{
  g_autoptr(GArray) xs = g_array_new (FALSE, FALSE, sizeof (double));
  GString *s = g_string_new (NULL);
  char buf[G_ASCII_DTOSTR_BUF_SIZE];

  g_return_val_if_fail (n_series == 0 || series != NULL, NULL);

  for (guint k = 0; k < n_series; k++)
    for (guint i = 0; i < series[k]->points->len; i++)
      g_array_append_val (xs, g_array_index (series[k]->points, Point, i).x);
  g_array_sort (xs, cmp_double);

  bt_csv_append_value (s, x_title ? x_title : "x");
  for (guint k = 0; k < n_series; k++)
    {
      g_string_append_c (s, ',');
      bt_csv_append_value (s, bt_chart_series_get_title (series[k]));
    }
  g_string_append (s, "\r\n");

  for (guint i = 0; i < xs->len; i++)
    {
      double x = g_array_index (xs, double, i);
      if (i > 0 && g_array_index (xs, double, i - 1) == x)
        continue;
      g_string_append (s, g_ascii_formatd (buf, sizeof buf, "%.10g", x));
      for (guint k = 0; k < n_series; k++)
        {
          int j = bt_chart_series_find_x (series[k], x);
          g_string_append_c (s, ',');
          if (j >= 0)
            {
              double y = g_array_index (series[k]->points, Point, j).y;
              if (isfinite (y))
                g_string_append (s, g_ascii_formatd (buf, sizeof buf, "%.8g", y));
              else
                g_string_append (s, isnan (y) ? "nan" : (y > 0 ? "inf" : "-inf"));
            }
        }
      g_string_append (s, "\r\n");
    }
  return g_string_free (s, FALSE);
}
