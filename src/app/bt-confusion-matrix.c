/* bt-confusion-matrix.c: a Cairo-drawn confusion matrix — rows are true classes, columns
 * predictions; colour by row-normalized value, counts in cells, hover details, activatable cells. */
#include "config.h"

#include <glib/gi18n.h>
#include <math.h>

#include "bt-confusion-matrix.h"
#include "bt-chart-style.h"

#define PAD 8.0

struct _BtConfusionMatrix
{
  GtkWidget parent_instance;

  /* Owned */
  guint     n;
  char    **names;      /* n + 1, NULL-terminated */
  guint    *counts;     /* n × n */
  guint    *marks;      /* n × n or NULL: images per cell the data doctor suspects */

  int       hover_row, hover_col;   /* -1: none */
  guint     sel_row, sel_col;
};

G_DEFINE_FINAL_TYPE (BtConfusionMatrix, bt_confusion_matrix, GTK_TYPE_WIDGET)

enum { CELL_ACTIVATED, N_SIGNALS };

/* the smallest cell (px) that shows its count */
#define COUNT_MIN_CELL 18
static guint signals[N_SIGNALS];

typedef struct {
  double x, y;      /* top-left of the grid */
  double cell;      /* square cells */
  double left_w;    /* room for row names */
  double top_h;     /* room for column names (rotated) */
  int angle;        /* column names drawn level (0), at 45° or upright (90) */
} Geometry;

static PangoLayout *
make_layout (BtConfusionMatrix *self, const char *text, double scale_font, gboolean bold)
{
  PangoLayout *l = gtk_widget_create_pango_layout (GTK_WIDGET (self), text);
  PangoAttrList *attrs = pango_attr_list_new ();

  pango_attr_list_insert (attrs, pango_attr_scale_new (scale_font));
  if (bold)
    pango_attr_list_insert (attrs, pango_attr_weight_new (PANGO_WEIGHT_BOLD));
  pango_layout_set_attributes (l, attrs);
  pango_attr_list_unref (attrs);
  return l;
}

static void
compute_geometry (BtConfusionMatrix *self, int width, int height, Geometry *g)
{
  double max_name_w = 0, name_h = 0, title_h, avail_w, avail_h;

  for (guint i = 0; i < self->n; i++)
    {
      g_autoptr(PangoLayout) l = make_layout (self, self->names[i], 0.9, FALSE);
      int w, h;
      pango_layout_get_pixel_size (l, &w, &h);
      max_name_w = MAX (max_name_w, MIN (w, 160));
      name_h = MAX (name_h, h);
    }
  {
    g_autoptr(PangoLayout) l = make_layout (self, "Ag", 0.9, TRUE);
    int h;
    pango_layout_get_pixel_size (l, NULL, &h);
    title_h = h;
    if (name_h == 0)
      name_h = h;
  }

  /* left: axis title (rotated) + names; top: axis title + names, level when they fit the
   * cells, else turned 45°, else upright. A turned name starts above its column's middle and
   * runs up to the right by reach: the last one must end inside the widget, so the grid and
   * that overhang share the width (n cells + reach − half a cell). Upright names overhang by
   * half their height only; they are the last resort, when 45° would leave the cells too small
   * for their counts. */
  g->left_w = title_h + 4 + max_name_w + 6;
  avail_w = width - 2 * PAD - g->left_w;
  for (int angle = 0; angle <= 90; angle += 45)
    {
      double reach = angle == 0 ? 0 : angle == 45 ? (max_name_w + name_h) * M_SQRT1_2 : name_h / 2.0;
      double cell;

      g->angle = angle;
      g->top_h = title_h + 4 + (angle == 0 ? name_h : angle == 45 ? (max_name_w + name_h) * M_SQRT1_2 : max_name_w) + 6;
      avail_h = height - 2 * PAD - g->top_h;
      cell = self->n ? floor (MIN (avail_w, avail_h) / self->n) : 0;
      if (angle > 0 && self->n > 0 && reach > cell / 2)
        cell = floor (MIN (cell, (avail_w - reach) / (self->n - 0.5)));
      g->cell = MAX (cell, 1);
      if ((angle == 0 && max_name_w + 4 <= g->cell) || (angle == 45 && g->cell >= COUNT_MIN_CELL) || angle == 90)
        break;
    }
  g->x = floor (PAD + g->left_w);
  g->y = floor (PAD + g->top_h);
}

gboolean
bt_confusion_matrix_get_cell_area (BtConfusionMatrix *self, int width, int height,
                                   guint row, guint col, graphene_rect_t *area)
{
  Geometry g;

  g_return_val_if_fail (BT_IS_CONFUSION_MATRIX (self), FALSE);
  g_return_val_if_fail (area != NULL, FALSE);

  if (row >= self->n || col >= self->n)
    return FALSE;
  compute_geometry (self, width, height, &g);
  graphene_rect_init (area, g.x + col * g.cell, g.y + row * g.cell, g.cell, g.cell);
  return TRUE;
}

gboolean
bt_confusion_matrix_cell_at (BtConfusionMatrix *self, int width, int height,
                             double x, double y, guint *row, guint *col)
{
  Geometry g;
  double c, r;

  g_return_val_if_fail (BT_IS_CONFUSION_MATRIX (self), FALSE);

  if (self->n == 0)
    return FALSE;
  compute_geometry (self, width, height, &g);
  c = floor ((x - g.x) / g.cell);
  r = floor ((y - g.y) / g.cell);
  if (c < 0 || r < 0 || c >= self->n || r >= self->n)
    return FALSE;
  if (row)
    *row = (guint) r;
  if (col)
    *col = (guint) c;
  return TRUE;
}

static guint
row_total (BtConfusionMatrix *self, guint row)
{
  guint t = 0;
  for (guint c = 0; c < self->n; c++)
    t += self->counts[row * self->n + c];
  return t;
}

double
bt_confusion_matrix_get_fraction (BtConfusionMatrix *self, guint row, guint col)
{
  guint t;

  g_return_val_if_fail (BT_IS_CONFUSION_MATRIX (self), 0);
  g_return_val_if_fail (row < self->n && col < self->n, 0);

  t = row_total (self, row);
  return t ? (double) self->counts[row * self->n + col] / t : 0;
}

guint
bt_confusion_matrix_get_count (BtConfusionMatrix *self, guint row, guint col)
{
  g_return_val_if_fail (BT_IS_CONFUSION_MATRIX (self), 0);
  g_return_val_if_fail (row < self->n && col < self->n, 0);
  return self->counts[row * self->n + col];
}

guint
bt_confusion_matrix_get_n_classes (BtConfusionMatrix *self)
{
  g_return_val_if_fail (BT_IS_CONFUSION_MATRIX (self), 0);
  return self->n;
}

static char *
describe_counts (BtConfusionMatrix *self, guint row, guint col)
{
  guint count, total;

  count = self->counts[row * self->n + col];
  total = row_total (self, row);
  if (row == col)
    /* Translators: tooltip of a diagonal cell of the confusion matrix */
    return g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%u %s image recognised correctly (%.1f%% of %u)",
                                         "%u %s images recognised correctly (%.1f%% of %u)", count),
                            count, self->names[row], total ? 100.0 * count / total : 0.0, total);
  /* Translators: tooltip of a cell of the confusion matrix: "<n> <true class> images taken for <predicted class>" */
  return g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%u %s image taken for %s (%.1f%% of %u)",
                                       "%u %s images taken for %s (%.1f%% of %u)", count),
                          count, self->names[row], self->names[col],
                          total ? 100.0 * count / total : 0.0, total);
}

char *
bt_confusion_matrix_describe_cell (BtConfusionMatrix *self, guint row, guint col)
{
  guint marked;
  g_autofree char *counts = NULL, *more = NULL;

  g_return_val_if_fail (BT_IS_CONFUSION_MATRIX (self), NULL);
  g_return_val_if_fail (row < self->n && col < self->n, NULL);

  counts = describe_counts (self, row, col);
  marked = bt_confusion_matrix_get_mark (self, row, col);
  if (marked == 0)
    return g_steal_pointer (&counts);
  /* Translators: a second line of a confusion-matrix cell's tooltip */
  more = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "The data doctor suspects the label of %u of them.",
                                       "The data doctor suspects the labels of %u of them.", marked), marked);
  return g_strconcat (counts, "\n", more, NULL);
}

void
bt_confusion_matrix_render (BtConfusionMatrix *self, cairo_t *cr, int width, int height)
{
  BtChartStyle st;
  Geometry g;
  double scale;

  g_return_if_fail (BT_IS_CONFUSION_MATRIX (self));

  bt_chart_style_init (&st, GTK_WIDGET (self));
  scale = bt_chart_style_get_scale (cr);

  if (self->n == 0)
    {
      g_autoptr(PangoLayout) l = make_layout (self, _("No evaluation yet"), 1.0, FALSE);
      int w, h;
      pango_layout_get_pixel_size (l, &w, &h);
      bt_chart_style_set_color (cr, &st.fg, 0.5);
      cairo_move_to (cr, (width - w) / 2.0, (height - h) / 2.0);
      pango_cairo_show_layout (cr, l);
      return;
    }

  compute_geometry (self, width, height, &g);

  for (guint r = 0; r < self->n; r++)
    for (guint c = 0; c < self->n; c++)
      {
        guint count = self->counts[r * self->n + c];
        double f = bt_confusion_matrix_get_fraction (self, r, c);
        const GdkRGBA *base = r == c ? &st.accent : &st.bad;
        double x = g.x + c * g.cell, y = g.y + r * g.cell;
        char text[16];
        g_autoptr(PangoLayout) l = NULL;
        int tw, th;

        /* a faint floor so that empty cells still show the grid */
        bt_chart_style_set_color (cr, &st.fg, 0.04);
        cairo_rectangle (cr, x + 1, y + 1, g.cell - 2, g.cell - 2);
        cairo_fill (cr);
        if (count > 0)
          {
            bt_chart_style_set_color (cr, base, 0.12 + 0.88 * f);
            cairo_rectangle (cr, x + 1, y + 1, g.cell - 2, g.cell - 2);
            cairo_fill (cr);
          }

        if (self->marks != NULL && self->marks[r * self->n + c] > 0)
          {
            /* a corner flag: the doctor suspects labels among these images */
            double m = MAX (5.0, g.cell * 0.22);
            bt_chart_style_set_color (cr, &st.fg, 0.75);
            cairo_move_to (cr, x + g.cell - 1 - m, y + 1);
            cairo_line_to (cr, x + g.cell - 1, y + 1);
            cairo_line_to (cr, x + g.cell - 1, y + 1 + m);
            cairo_close_path (cr);
            cairo_fill (cr);
          }

        if (g.cell >= COUNT_MIN_CELL)
          {
            g_snprintf (text, sizeof text, "%u", count);
            l = make_layout (self, text, g.cell < 36 ? 0.75 : 0.9, r == c);
            pango_layout_get_pixel_size (l, &tw, &th);
            if (tw < g.cell - 2)
              {
                if (count > 0 && f > 0.5)
                  cairo_set_source_rgb (cr, 1, 1, 1);
                else
                  bt_chart_style_set_color (cr, &st.fg, count ? 0.9 : 0.35);
                cairo_move_to (cr, x + (g.cell - tw) / 2, y + (g.cell - th) / 2);
                pango_cairo_show_layout (cr, l);
              }
          }
      }

  /* hovered and keyboard-selected cells */
  cairo_set_line_width (cr, 2);
  if (self->hover_row >= 0 && self->hover_col >= 0)
    {
      bt_chart_style_set_color (cr, &st.fg, 0.6);
      cairo_rectangle (cr, g.x + self->hover_col * g.cell + 1, g.y + self->hover_row * g.cell + 1,
                       g.cell - 2, g.cell - 2);
      cairo_stroke (cr);
    }
  if (gtk_widget_has_visible_focus (GTK_WIDGET (self)))
    {
      bt_chart_style_set_color (cr, &st.fg, 1);
      cairo_rectangle (cr, g.x + self->sel_col * g.cell + 2, g.y + self->sel_row * g.cell + 2,
                       g.cell - 4, g.cell - 4);
      cairo_stroke (cr);
    }

  /* class names: rows on the left, columns on top */
  for (guint i = 0; i < self->n; i++)
    {
      g_autoptr(PangoLayout) l = make_layout (self, self->names[i], 0.9, FALSE);
      int tw, th;

      pango_layout_set_width (l, 160 * PANGO_SCALE);
      pango_layout_set_ellipsize (l, PANGO_ELLIPSIZE_END);
      pango_layout_get_pixel_size (l, &tw, &th);
      bt_chart_style_set_color (cr, &st.fg, 0.85);
      cairo_move_to (cr, g.x - 6 - tw, bt_chart_style_align (g.y + (i + 0.5) * g.cell - th / 2.0, scale) - 0.5 / scale);
      pango_cairo_show_layout (cr, l);

      cairo_save (cr);
      if (g.angle > 0)
        {
          cairo_translate (cr, g.x + (i + 0.5) * g.cell, g.y - 6);
          cairo_rotate (cr, -G_PI * g.angle / 180);
          cairo_move_to (cr, 0, -th / 2.0);
        }
      else
        cairo_move_to (cr, g.x + (i + 0.5) * g.cell - tw / 2.0, g.y - 6 - th);
      pango_cairo_show_layout (cr, l);
      cairo_restore (cr);
    }

  /* axis titles */
  {
    g_autoptr(PangoLayout) pred = make_layout (self, _("Predicted class"), 0.9, TRUE);
    g_autoptr(PangoLayout) truth = make_layout (self, _("True class"), 0.9, TRUE);
    int tw, th;

    bt_chart_style_set_color (cr, &st.fg, 0.7);
    pango_layout_get_pixel_size (pred, &tw, &th);
    cairo_move_to (cr, g.x + (self->n * g.cell - tw) / 2.0, PAD);
    pango_cairo_show_layout (cr, pred);

    pango_layout_get_pixel_size (truth, &tw, &th);
    cairo_save (cr);
    cairo_translate (cr, PAD, g.y + (self->n * g.cell + tw) / 2.0);
    cairo_rotate (cr, -G_PI / 2);
    cairo_move_to (cr, 0, 0);
    pango_cairo_show_layout (cr, truth);
    cairo_restore (cr);
  }
}

static void
bt_confusion_matrix_snapshot (GtkWidget *widget, GtkSnapshot *snapshot)
{
  int width = gtk_widget_get_width (widget), height = gtk_widget_get_height (widget);
  cairo_t *cr;

  if (width <= 0 || height <= 0)
    return;
  cr = gtk_snapshot_append_cairo (snapshot, &GRAPHENE_RECT_INIT (0, 0, width, height));
  bt_confusion_matrix_render (BT_CONFUSION_MATRIX (widget), cr, width, height);
  cairo_destroy (cr);
}

/* Width: down to 360 px in a narrow window. Height: what square cells of the given width need
 * (at most the natural side), as minimum and natural alike. In the page's scrolled window a
 * child gets its minimum height once the page is taller than the window, so a minimum below the
 * natural one shrank the matrix the moment the gallery under it made the page scroll (#21). */
static void
bt_confusion_matrix_measure (GtkWidget *widget, GtkOrientation orientation, int for_size,
                             int *minimum, int *natural, int *minimum_baseline, int *natural_baseline)
{
  BtConfusionMatrix *self = BT_CONFUSION_MATRIX (widget);
  int side = 160 + 56 * MIN (self->n, 10);
  int height = MAX (side, 360);

  if (orientation == GTK_ORIENTATION_HORIZONTAL)
    {
      *minimum = MIN (side, 360);
      *natural = MAX (side, 360);
      return;
    }
  if (for_size > 0 && self->n > 0)
    {
      Geometry g;
      compute_geometry (self, for_size, G_MAXINT / 4, &g);   /* cells as wide as the width allows */
      height = MIN (height, (int) ceil (g.y + self->n * g.cell + PAD));
    }
  *minimum = *natural = height;
}

static GtkSizeRequestMode
bt_confusion_matrix_get_request_mode (GtkWidget *widget)
{
  return GTK_SIZE_REQUEST_HEIGHT_FOR_WIDTH;
}

static void
set_hover (BtConfusionMatrix *self, int row, int col)
{
  if (row == self->hover_row && col == self->hover_col)
    return;
  self->hover_row = row;
  self->hover_col = col;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static void
motion_cb (GtkEventControllerMotion *motion, double x, double y, BtConfusionMatrix *self)
{
  guint r, c;

  if (bt_confusion_matrix_cell_at (self, gtk_widget_get_width (GTK_WIDGET (self)),
                                   gtk_widget_get_height (GTK_WIDGET (self)), x, y, &r, &c))
    set_hover (self, r, c);
  else
    set_hover (self, -1, -1);
}

static void
leave_cb (GtkEventControllerMotion *motion, BtConfusionMatrix *self)
{
  set_hover (self, -1, -1);
}

static void
released_cb (GtkGestureClick *click, int n_press, double x, double y, BtConfusionMatrix *self)
{
  guint r, c;

  if (!bt_confusion_matrix_cell_at (self, gtk_widget_get_width (GTK_WIDGET (self)),
                                    gtk_widget_get_height (GTK_WIDGET (self)), x, y, &r, &c))
    return;
  bt_confusion_matrix_select_cell (self, r, c);
  g_signal_emit (self, signals[CELL_ACTIVATED], 0, (int) r, (int) c);
}

static void
update_accessible (BtConfusionMatrix *self)
{
  g_autofree char *desc = NULL;

  if (self->n == 0)
    return;
  desc = bt_confusion_matrix_describe_cell (self, self->sel_row, self->sel_col);
  gtk_accessible_update_property (GTK_ACCESSIBLE (self), GTK_ACCESSIBLE_PROPERTY_DESCRIPTION, desc, -1);
}

static gboolean
key_pressed_cb (GtkEventControllerKey *key, guint keyval, guint keycode, GdkModifierType state,
                BtConfusionMatrix *self)
{
  int r = self->sel_row, c = self->sel_col;

  if (self->n == 0)
    return FALSE;
  switch (keyval)
    {
    case GDK_KEY_Left: case GDK_KEY_KP_Left: c--; break;
    case GDK_KEY_Right: case GDK_KEY_KP_Right: c++; break;
    case GDK_KEY_Up: case GDK_KEY_KP_Up: r--; break;
    case GDK_KEY_Down: case GDK_KEY_KP_Down: r++; break;
    case GDK_KEY_Return: case GDK_KEY_KP_Enter: case GDK_KEY_space: case GDK_KEY_KP_Space:
      g_signal_emit (self, signals[CELL_ACTIVATED], 0, (int) self->sel_row, (int) self->sel_col);
      return TRUE;
    default:
      return FALSE;
    }
  bt_confusion_matrix_select_cell (self, CLAMP (r, 0, (int) self->n - 1), CLAMP (c, 0, (int) self->n - 1));
  gtk_widget_trigger_tooltip_query (GTK_WIDGET (self));
  return TRUE;
}

static gboolean
bt_confusion_matrix_query_tooltip (GtkWidget *widget, int x, int y, gboolean keyboard, GtkTooltip *tooltip)
{
  BtConfusionMatrix *self = BT_CONFUSION_MATRIX (widget);
  g_autofree char *text = NULL;
  guint r, c;

  if (keyboard)
    {
      if (self->n == 0)
        return FALSE;
      r = self->sel_row;
      c = self->sel_col;
    }
  else if (!bt_confusion_matrix_cell_at (self, gtk_widget_get_width (widget), gtk_widget_get_height (widget),
                                         x, y, &r, &c))
    return FALSE;
  text = bt_confusion_matrix_describe_cell (self, r, c);
  gtk_tooltip_set_text (tooltip, text);
  return TRUE;
}

static void
bt_confusion_matrix_finalize (GObject *object)
{
  BtConfusionMatrix *self = BT_CONFUSION_MATRIX (object);

  g_strfreev (self->names);
  g_free (self->counts);
  g_free (self->marks);

  G_OBJECT_CLASS (bt_confusion_matrix_parent_class)->finalize (object);
}

static void
bt_confusion_matrix_class_init (BtConfusionMatrixClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->finalize = bt_confusion_matrix_finalize;
  widget_class->snapshot = bt_confusion_matrix_snapshot;
  widget_class->measure = bt_confusion_matrix_measure;
  widget_class->get_request_mode = bt_confusion_matrix_get_request_mode;
  widget_class->query_tooltip = bt_confusion_matrix_query_tooltip;

  signals[CELL_ACTIVATED] = g_signal_new ("cell-activated", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                          0, NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_INT, G_TYPE_INT);

  gtk_widget_class_set_css_name (widget_class, "btconfusionmatrix");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_GRID);
}

static void
bt_confusion_matrix_init (BtConfusionMatrix *self)
{
  GtkEventController *motion = gtk_event_controller_motion_new ();
  GtkEventController *key = gtk_event_controller_key_new ();
  GtkGesture *click = gtk_gesture_click_new ();

  self->names = g_new0 (char *, 1);
  self->hover_row = self->hover_col = -1;

  g_signal_connect (motion, "motion", G_CALLBACK (motion_cb), self);
  g_signal_connect (motion, "leave", G_CALLBACK (leave_cb), self);
  gtk_widget_add_controller (GTK_WIDGET (self), motion);
  g_signal_connect (key, "key-pressed", G_CALLBACK (key_pressed_cb), self);
  gtk_widget_add_controller (GTK_WIDGET (self), key);
  g_signal_connect (click, "released", G_CALLBACK (released_cb), self);
  gtk_widget_add_controller (GTK_WIDGET (self), GTK_EVENT_CONTROLLER (click));

  gtk_widget_set_has_tooltip (GTK_WIDGET (self), TRUE);
  gtk_widget_set_focusable (GTK_WIDGET (self), TRUE);
  gtk_accessible_update_property (GTK_ACCESSIBLE (self), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _("Confusion matrix"), -1);
}

GtkWidget *
bt_confusion_matrix_new (void)
{
  return g_object_new (BT_TYPE_CONFUSION_MATRIX, NULL);
}

void
bt_confusion_matrix_set_data (BtConfusionMatrix *self, guint n_classes,
                              const char * const *class_names, const guint *counts)
{
  g_return_if_fail (BT_IS_CONFUSION_MATRIX (self));
  g_return_if_fail (n_classes == 0 || (class_names != NULL && counts != NULL));
  g_return_if_fail (n_classes <= 1000);

  g_strfreev (self->names);
  g_free (self->counts);
  self->n = n_classes;
  self->names = g_new0 (char *, n_classes + 1);
  for (guint i = 0; i < n_classes; i++)
    self->names[i] = g_strdup (class_names[i] ? class_names[i] : "");
  self->counts = n_classes ? g_memdup2 (counts, sizeof (guint) * n_classes * n_classes) : NULL;
  g_clear_pointer (&self->marks, g_free);
  self->hover_row = self->hover_col = -1;
  self->sel_row = self->sel_col = 0;
  update_accessible (self);
  gtk_widget_queue_resize (GTK_WIDGET (self));
}

void
bt_confusion_matrix_set_marks (BtConfusionMatrix *self, const guint *marks)
{
  g_return_if_fail (BT_IS_CONFUSION_MATRIX (self));

  g_clear_pointer (&self->marks, g_free);
  if (marks != NULL && self->n > 0)
    self->marks = g_memdup2 (marks, sizeof (guint) * self->n * self->n);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

guint
bt_confusion_matrix_get_mark (BtConfusionMatrix *self, guint row, guint col)
{
  g_return_val_if_fail (BT_IS_CONFUSION_MATRIX (self), 0);
  return self->marks != NULL && row < self->n && col < self->n ? self->marks[row * self->n + col] : 0;
}

void
bt_confusion_matrix_select_cell (BtConfusionMatrix *self, guint row, guint col)
{
  g_return_if_fail (BT_IS_CONFUSION_MATRIX (self));

  if (row >= self->n || col >= self->n)
    return;
  self->sel_row = row;
  self->sel_col = col;
  update_accessible (self);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

gboolean
bt_confusion_matrix_get_selected (BtConfusionMatrix *self, guint *row, guint *col)
{
  g_return_val_if_fail (BT_IS_CONFUSION_MATRIX (self), FALSE);

  if (self->n == 0)
    return FALSE;
  if (row) *row = self->sel_row;
  if (col) *col = self->sel_col;
  return TRUE;
}
