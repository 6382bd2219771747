/* bt-probability-bars.c: horizontal bars with the probability of every class, sorted from the
 * most likely down, with percentages; the top class highlighted. Drawn with Cairo. */
#include "config.h"

#include <glib/gi18n.h>
#include <math.h>

#include "bt-probability-bars.h"
#include "bt-chart-style.h"

#define ROW_GAP 6.0
#define PAD     4.0

struct _BtProbabilityBars
{
  GtkWidget parent_instance;

  /* Owned */
  guint   n;
  char  **names;
  float  *probs;
  guint  *order;     /* row → class index */
};

G_DEFINE_FINAL_TYPE (BtProbabilityBars, bt_probability_bars, GTK_TYPE_WIDGET)

typedef struct {
  double name_w, pct_w, row_h, bar_x, bar_w;
} Geometry;

static PangoLayout *
make_layout (BtProbabilityBars *self, const char *text, gboolean bold)
{
  PangoLayout *l = gtk_widget_create_pango_layout (GTK_WIDGET (self), text);

  if (bold)
    {
      PangoAttrList *attrs = pango_attr_list_new ();
      pango_attr_list_insert (attrs, pango_attr_weight_new (PANGO_WEIGHT_BOLD));
      pango_layout_set_attributes (l, attrs);
      pango_attr_list_unref (attrs);
    }
  return l;
}

static void
compute_geometry (BtProbabilityBars *self, int width, Geometry *g)
{
  int w, h;

  g->name_w = 0;
  for (guint i = 0; i < self->n; i++)
    {
      g_autoptr(PangoLayout) l = make_layout (self, self->names[i], TRUE);
      pango_layout_get_pixel_size (l, &w, &h);
      g->name_w = MAX (g->name_w, w);
    }
  g->name_w = MIN (g->name_w, width * 0.4);
  {
    g_autoptr(PangoLayout) l = make_layout (self, "100.0%", TRUE);
    pango_layout_get_pixel_size (l, &w, &h);
    g->pct_w = w;
    g->row_h = MAX (h + 8, 24);
  }
  g->bar_x = floor (PAD + g->name_w + 10);
  g->bar_w = MAX (10, floor (width - PAD - g->pct_w - 10 - g->bar_x));
}

gboolean
bt_probability_bars_get_bar_area (BtProbabilityBars *self, int width, int height, guint row,
                                  graphene_rect_t *bar, double *full_x)
{
  Geometry g;
  double y;

  g_return_val_if_fail (BT_IS_PROBABILITY_BARS (self), FALSE);

  if (row >= self->n)
    return FALSE;
  compute_geometry (self, width, &g);
  y = PAD + row * (g.row_h + ROW_GAP);
  if (bar)
    graphene_rect_init (bar, g.bar_x, y, round (g.bar_w * self->probs[self->order[row]]), g.row_h);
  if (full_x)
    *full_x = g.bar_x + g.bar_w;
  return TRUE;
}

void
bt_probability_bars_render (BtProbabilityBars *self, cairo_t *cr, int width, int height)
{
  BtChartStyle st;
  Geometry g;

  g_return_if_fail (BT_IS_PROBABILITY_BARS (self));

  bt_chart_style_init (&st, GTK_WIDGET (self));
  compute_geometry (self, width, &g);

  for (guint row = 0; row < self->n; row++)
    {
      guint k = self->order[row];
      double p = self->probs[k];
      double y = PAD + row * (g.row_h + ROW_GAP);
      gboolean top = row == 0;
      char pct[32];
      g_autoptr(PangoLayout) name = make_layout (self, self->names[k], top);
      g_autoptr(PangoLayout) value = NULL;
      int tw, th;

      /* track, then the bar */
      bt_chart_style_set_color (cr, &st.fg, 0.07);
      cairo_rectangle (cr, g.bar_x, y, g.bar_w, g.row_h);
      cairo_fill (cr);
      if (top)
        bt_chart_style_set_color (cr, &st.accent, 1);
      else
        bt_chart_style_set_color (cr, &st.fg, 0.35);
      cairo_rectangle (cr, g.bar_x, y, round (g.bar_w * p), g.row_h);
      cairo_fill (cr);

      pango_layout_set_width (name, (int) g.name_w * PANGO_SCALE);
      pango_layout_set_ellipsize (name, PANGO_ELLIPSIZE_END);
      pango_layout_get_pixel_size (name, &tw, &th);
      bt_chart_style_set_color (cr, &st.fg, top ? 1 : 0.8);
      cairo_move_to (cr, g.bar_x - 10 - tw, y + (g.row_h - th) / 2);
      pango_cairo_show_layout (cr, name);

      if (p >= 0.9995 || p == 0)
        g_snprintf (pct, sizeof pct, "%.0f%%", p * 100);
      else if (p < 0.001)
        g_snprintf (pct, sizeof pct, "<0.1%%");
      else
        g_snprintf (pct, sizeof pct, "%.1f%%", p * 100);
      value = make_layout (self, pct, top);
      pango_layout_get_pixel_size (value, &tw, &th);
      bt_chart_style_set_color (cr, &st.fg, top ? 1 : 0.8);
      cairo_move_to (cr, g.bar_x + g.bar_w + 10, y + (g.row_h - th) / 2);
      pango_cairo_show_layout (cr, value);
    }
}

static void
bt_probability_bars_snapshot (GtkWidget *widget, GtkSnapshot *snapshot)
{
  int width = gtk_widget_get_width (widget), height = gtk_widget_get_height (widget);
  cairo_t *cr;

  if (width <= 0 || height <= 0)
    return;
  cr = gtk_snapshot_append_cairo (snapshot, &GRAPHENE_RECT_INIT (0, 0, width, height));
  bt_probability_bars_render (BT_PROBABILITY_BARS (widget), cr, width, height);
  cairo_destroy (cr);
}

static void
bt_probability_bars_measure (GtkWidget *widget, GtkOrientation orientation, int for_size,
                             int *minimum, int *natural, int *minimum_baseline, int *natural_baseline)
{
  BtProbabilityBars *self = BT_PROBABILITY_BARS (widget);

  if (orientation == GTK_ORIENTATION_HORIZONTAL)
    {
      *minimum = 200;
      *natural = 360;
    }
  else
    {
      Geometry g;
      compute_geometry (self, 360, &g);
      *minimum = *natural = (int) ceil (2 * PAD + self->n * g.row_h + (self->n ? (self->n - 1) * ROW_GAP : 0));
    }
}

static void
bt_probability_bars_finalize (GObject *object)
{
  BtProbabilityBars *self = BT_PROBABILITY_BARS (object);

  g_strfreev (self->names);
  g_free (self->probs);
  g_free (self->order);

  G_OBJECT_CLASS (bt_probability_bars_parent_class)->finalize (object);
}

static void
bt_probability_bars_class_init (BtProbabilityBarsClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->finalize = bt_probability_bars_finalize;
  widget_class->snapshot = bt_probability_bars_snapshot;
  widget_class->measure = bt_probability_bars_measure;

  gtk_widget_class_set_css_name (widget_class, "btprobabilitybars");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_IMG);
}

static void
bt_probability_bars_init (BtProbabilityBars *self)
{
  self->names = g_new0 (char *, 1);
  gtk_accessible_update_property (GTK_ACCESSIBLE (self), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _("Class probabilities"), -1);
}

GtkWidget *
bt_probability_bars_new (void)
{
  return g_object_new (BT_TYPE_PROBABILITY_BARS, NULL);
}

static int
cmp_rows (gconstpointer a, gconstpointer b, gpointer data)
{
  const float *probs = data;
  guint ia = *(const guint *) a, ib = *(const guint *) b;
  float pa = probs[ia], pb = probs[ib];

  if (pa != pb)
    return pa > pb ? -1 : 1;
  return (ia > ib) - (ia < ib);   /* ties keep the class order: stable for tests and eyes */
}

void
bt_probability_bars_set_data (BtProbabilityBars *self, guint n_classes,
                              const char * const *class_names, const float *probs)
{
  GString *desc;

  g_return_if_fail (BT_IS_PROBABILITY_BARS (self));
  g_return_if_fail (n_classes == 0 || (class_names != NULL && probs != NULL));
  g_return_if_fail (n_classes <= 100000);

  g_strfreev (self->names);
  g_free (self->probs);
  g_free (self->order);
  self->n = n_classes;
  self->names = g_new0 (char *, n_classes + 1);
  self->probs = g_new0 (float, MAX (n_classes, 1));
  self->order = g_new0 (guint, MAX (n_classes, 1));
  for (guint i = 0; i < n_classes; i++)
    {
      float p = probs[i];
      self->names[i] = g_strdup (class_names[i] ? class_names[i] : "");
      self->probs[i] = (isfinite (p) && p > 0) ? MIN (p, 1.f) : 0.f;
      self->order[i] = i;
    }
  g_qsort_with_data (self->order, n_classes, sizeof (guint), cmp_rows, self->probs);

  desc = g_string_new (NULL);
  for (guint row = 0; row < n_classes && row < 5; row++)
    g_string_append_printf (desc, "%s%s %.1f%%", row ? ", " : "", self->names[self->order[row]],
                            100.0 * self->probs[self->order[row]]);
  gtk_accessible_update_property (GTK_ACCESSIBLE (self), GTK_ACCESSIBLE_PROPERTY_DESCRIPTION, desc->str, -1);
  g_string_free (desc, TRUE);

  gtk_widget_queue_resize (GTK_WIDGET (self));
}

guint
bt_probability_bars_get_n (BtProbabilityBars *self)
{
  g_return_val_if_fail (BT_IS_PROBABILITY_BARS (self), 0);
  return self->n;
}

int
bt_probability_bars_get_class_at_row (BtProbabilityBars *self, guint row)
{
  g_return_val_if_fail (BT_IS_PROBABILITY_BARS (self), -1);
  return row < self->n ? (int) self->order[row] : -1;
}

float
bt_probability_bars_get_probability (BtProbabilityBars *self, guint class_index)
{
  g_return_val_if_fail (BT_IS_PROBABILITY_BARS (self), 0);
  g_return_val_if_fail (class_index < self->n, 0);
  return self->probs[class_index];
}
