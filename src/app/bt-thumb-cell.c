/* bt-thumb-cell.c: a thumbnail grid cell drawn in one snapshot. A grid view keeps a few
 * hundred cells alive and builds them all on its first layout; one widget per cell instead
 * of a tree of seven (box, overlay, images, picture, label) keeps that layout short, and the
 * name is only shaped when the cell is drawn, not when it is measured. */
#include "config.h"

#include "bt-thumb-cell.h"

#define SPACING 4
#define PLACEHOLDER_SIZE 32
#define BADGE_ICON 16
#define BADGE_PAD 3

struct _BtThumbCell
{
  GtkWidget parent_instance;

  int         thumb_size;
  char       *name;
  GdkTexture *texture;
  char       *badge;
  char       *class_name;
  GdkRGBA     class_color;
  PangoLayout *class_layout;
  guint        class_serial;
  gboolean    failed;
  gboolean    dimmed;
  /* Height of a line of text, for the pango context of this serial. */
  int         line_height;
  guint       line_serial;
  /* The name shaped for this width and serial: a redraw of the whole grid (the window
   * changed, a thumbnail arrived) does not shape a few hundred names again. */
  PangoLayout *layout;
  int          layout_width;
  guint        layout_serial;
};

G_DEFINE_FINAL_TYPE (BtThumbCell, bt_thumb_cell, GTK_TYPE_WIDGET)

static void
widget_color (GtkWidget *widget, GdkRGBA *color)
{
#if GTK_CHECK_VERSION (4, 10, 0)
  gtk_widget_get_color (widget, color);
#else
  gtk_style_context_get_color (gtk_widget_get_style_context (widget), color);
#endif
}

static int
line_height (BtThumbCell *self)
{
  PangoContext *context = gtk_widget_get_pango_context (GTK_WIDGET (self));
  guint serial = pango_context_get_serial (context);

  if (self->line_height == 0 || self->line_serial != serial)
    {
      g_autoptr(PangoLayout) layout = pango_layout_new (context);

      pango_layout_set_text (layout, "Ag", -1);
      pango_layout_get_pixel_size (layout, NULL, &self->line_height);
      self->line_serial = serial;
    }
  return self->line_height;
}

static void
bt_thumb_cell_measure (GtkWidget      *widget,
                       GtkOrientation  orientation,
                       int             for_size,
                       int            *minimum,
                       int            *natural,
                       int            *minimum_baseline,
                       int            *natural_baseline)
{
  BtThumbCell *self = BT_THUMB_CELL (widget);

  if (orientation == GTK_ORIENTATION_HORIZONTAL)
    *minimum = *natural = self->thumb_size;
  else
    *minimum = *natural = self->thumb_size + SPACING + line_height (self);
}

static void
snapshot_icon (GtkWidget   *widget,
               GtkSnapshot *snapshot,
               const char  *icon_name,
               int          size,
               float        x,
               float        y,
               const GdkRGBA *color)
{
  GtkIconTheme *theme = gtk_icon_theme_get_for_display (gtk_widget_get_display (widget));
  g_autoptr(GtkIconPaintable) icon = gtk_icon_theme_lookup_icon (theme, icon_name, NULL, size,
                                                                 gtk_widget_get_scale_factor (widget),
                                                                 gtk_widget_get_direction (widget), 0);

  gtk_snapshot_save (snapshot);
  gtk_snapshot_translate (snapshot, &GRAPHENE_POINT_INIT (x, y));
  gtk_symbolic_paintable_snapshot_symbolic (GTK_SYMBOLIC_PAINTABLE (icon), snapshot, size, size, color, 1);
  gtk_snapshot_restore (snapshot);
}

static void
bt_thumb_cell_snapshot (GtkWidget *widget, GtkSnapshot *snapshot)
{
  BtThumbCell *self = BT_THUMB_CELL (widget);
  int width = gtk_widget_get_width (widget);
  float t = self->thumb_size;
  float fx = (width - t) / 2.0f;
  GdkRGBA color;

  widget_color (widget, &color);
  if (self->dimmed)
    gtk_snapshot_push_opacity (snapshot, 0.4);

  if (self->texture != NULL)
    {
      float w = gdk_texture_get_width (self->texture);
      float h = gdk_texture_get_height (self->texture);
      float scale = MIN (t / w, t / h);

      w *= scale;
      h *= scale;
      gtk_snapshot_append_texture (snapshot, self->texture,
                                   &GRAPHENE_RECT_INIT (fx + (t - w) / 2, (t - h) / 2, w, h));
    }
  else
    {
      GdkRGBA dim = color;

      dim.alpha *= 0.55f;
      snapshot_icon (widget, snapshot, self->failed ? "image-missing-symbolic" : "image-x-generic-symbolic",
                     PLACEHOLDER_SIZE, fx + (t - PLACEHOLDER_SIZE) / 2, (t - PLACEHOLDER_SIZE) / 2, &dim);
    }

  if (self->badge != NULL)
    {
      const float side = BADGE_ICON + 2 * BADGE_PAD;
      GskRoundedRect rounded;
      GdkRGBA white = { 1, 1, 1, 1 };

      gsk_rounded_rect_init_from_rect (&rounded, &GRAPHENE_RECT_INIT (fx + t - side, 0, side, side), side / 2);
      gtk_snapshot_push_rounded_clip (snapshot, &rounded);
      gtk_snapshot_append_color (snapshot, &(GdkRGBA) { 0, 0, 0, 0.65f }, &rounded.bounds);
      gtk_snapshot_pop (snapshot);
      snapshot_icon (widget, snapshot, self->badge, BADGE_ICON, fx + t - side + BADGE_PAD, BADGE_PAD, &white);
    }

  if (self->class_name != NULL)
    {
      guint serial = pango_context_get_serial (gtk_widget_get_pango_context (widget));
      int lw, lh;
      float pad = 3, dot = 8, h, w;
      GskRoundedRect pill, spot;
      GdkRGBA white = { 1, 1, 1, 1 };

      if (self->class_layout == NULL || self->class_serial != serial)
        {
          PangoAttrList *attrs = pango_attr_list_new ();

          g_clear_object (&self->class_layout);
          self->class_layout = gtk_widget_create_pango_layout (widget, self->class_name);
          pango_attr_list_insert (attrs, pango_attr_scale_new (0.85));
          pango_layout_set_attributes (self->class_layout, attrs);
          pango_attr_list_unref (attrs);
          pango_layout_set_ellipsize (self->class_layout, PANGO_ELLIPSIZE_END);
          pango_layout_set_width (self->class_layout, (int) ((t - 3 * pad - dot - 8) * PANGO_SCALE));
          self->class_serial = serial;
        }
      pango_layout_get_pixel_size (self->class_layout, &lw, &lh);
      h = lh + 2;
      w = MIN (t - 4, pad + dot + pad + lw + pad + 2);
      gsk_rounded_rect_init_from_rect (&pill, &GRAPHENE_RECT_INIT (fx + 2, t - h - 2, w, h), h / 2);
      gtk_snapshot_push_rounded_clip (snapshot, &pill);
      gtk_snapshot_append_color (snapshot, &(GdkRGBA) { 0, 0, 0, 0.6f }, &pill.bounds);
      gtk_snapshot_pop (snapshot);
      gsk_rounded_rect_init_from_rect (&spot, &GRAPHENE_RECT_INIT (fx + 2 + pad, t - 2 - h / 2 - dot / 2, dot, dot),
                                       dot / 2);
      gtk_snapshot_push_rounded_clip (snapshot, &spot);
      gtk_snapshot_append_color (snapshot, &self->class_color, &spot.bounds);
      gtk_snapshot_pop (snapshot);
      gtk_snapshot_save (snapshot);
      gtk_snapshot_translate (snapshot, &GRAPHENE_POINT_INIT (fx + 2 + pad + dot + pad, t - h - 1));
      gtk_snapshot_append_layout (snapshot, self->class_layout, &white);
      gtk_snapshot_restore (snapshot);
    }

  if (self->dimmed)
    gtk_snapshot_pop (snapshot);

  if (self->name != NULL && self->name[0] != '\0')
    {
      guint serial = pango_context_get_serial (gtk_widget_get_pango_context (widget));

      if (self->layout == NULL || self->layout_width != width || self->layout_serial != serial)
        {
          g_clear_object (&self->layout);
          self->layout = gtk_widget_create_pango_layout (widget, self->name);
          pango_layout_set_width (self->layout, width * PANGO_SCALE);
          pango_layout_set_ellipsize (self->layout, PANGO_ELLIPSIZE_MIDDLE);
          pango_layout_set_alignment (self->layout, PANGO_ALIGN_CENTER);
          self->layout_width = width;
          self->layout_serial = serial;
        }
      gtk_snapshot_save (snapshot);
      gtk_snapshot_translate (snapshot, &GRAPHENE_POINT_INIT (0, t + SPACING));
      gtk_snapshot_append_layout (snapshot, self->layout, &color);
      gtk_snapshot_restore (snapshot);
    }
}

void
bt_thumb_cell_set_name (BtThumbCell *self, const char *name)
{
  g_return_if_fail (BT_IS_THUMB_CELL (self));

  if (g_strcmp0 (self->name, name) == 0)
    return;
  g_free (self->name);
  self->name = g_strdup (name);
  g_clear_object (&self->layout);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

const char *
bt_thumb_cell_get_name (BtThumbCell *self)
{
  g_return_val_if_fail (BT_IS_THUMB_CELL (self), NULL);

  return self->name;
}

void
bt_thumb_cell_set_texture (BtThumbCell *self, GdkTexture *texture, gboolean failed)
{
  g_return_if_fail (BT_IS_THUMB_CELL (self));
  g_return_if_fail (texture == NULL || GDK_IS_TEXTURE (texture));

  if (self->texture == texture && self->failed == failed)
    return;
  g_set_object (&self->texture, texture);
  self->failed = failed;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

GdkTexture *
bt_thumb_cell_get_texture (BtThumbCell *self)
{
  g_return_val_if_fail (BT_IS_THUMB_CELL (self), NULL);

  return self->texture;
}

void
bt_thumb_cell_set_badge (BtThumbCell *self, const char *icon_name)
{
  g_return_if_fail (BT_IS_THUMB_CELL (self));

  if (g_strcmp0 (self->badge, icon_name) == 0)
    return;
  g_free (self->badge);
  self->badge = g_strdup (icon_name);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

void
bt_thumb_cell_set_class (BtThumbCell *self, const char *class_name, const GdkRGBA *color)
{
  g_return_if_fail (BT_IS_THUMB_CELL (self));

  if (color != NULL)
    self->class_color = *color;
  if (g_strcmp0 (self->class_name, class_name) == 0)
    {
      gtk_widget_queue_draw (GTK_WIDGET (self));
      return;
    }
  g_free (self->class_name);
  self->class_name = g_strdup (class_name);
  g_clear_object (&self->class_layout);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

const char *
bt_thumb_cell_get_class (BtThumbCell *self)
{
  g_return_val_if_fail (BT_IS_THUMB_CELL (self), NULL);
  return self->class_name;
}

void
bt_thumb_cell_set_dimmed (BtThumbCell *self, gboolean dimmed)
{
  g_return_if_fail (BT_IS_THUMB_CELL (self));

  dimmed = !!dimmed;
  if (self->dimmed == dimmed)
    return;
  self->dimmed = dimmed;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static void
bt_thumb_cell_finalize (GObject *object)
{
  BtThumbCell *self = BT_THUMB_CELL (object);

  g_clear_object (&self->texture);
  g_clear_object (&self->layout);
  g_clear_object (&self->class_layout);
  g_free (self->name);
  g_free (self->badge);
  g_free (self->class_name);

  G_OBJECT_CLASS (bt_thumb_cell_parent_class)->finalize (object);
}

static void
bt_thumb_cell_class_init (BtThumbCellClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->finalize = bt_thumb_cell_finalize;
  widget_class->measure = bt_thumb_cell_measure;
  widget_class->snapshot = bt_thumb_cell_snapshot;
  gtk_widget_class_set_css_name (widget_class, "btthumbcell");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_IMG);
}

static void
bt_thumb_cell_init (BtThumbCell *self)
{
  gtk_widget_add_css_class (GTK_WIDGET (self), "caption");
}

GtkWidget *
bt_thumb_cell_new (int thumb_size)
{
  BtThumbCell *self;

  g_return_val_if_fail (thumb_size > 0, NULL);

  self = g_object_new (BT_TYPE_THUMB_CELL, NULL);
  self->thumb_size = thumb_size;
  return GTK_WIDGET (self);
}
