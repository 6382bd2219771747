/* bt-class-row.c: the class sidebar row. Emits "rename" (old, new) when an in-place edit
 * (F2, Enter to keep, Escape to drop) ends with another name; the page asks the project. */
#include "config.h"

#include <glib/gi18n.h>

#include "bt-class-row.h"

struct _BtClassRow
{
  GtkWidget parent_instance;

  /* Template widgets (built in code: the row is small) */
  GtkWidget *box;
  GtkWidget *chip;
  GtkWidget *name_stack;     /* "label" or "entry" while renaming */
  GtkWidget *name_label;
  GtkWidget *name_entry;
  GtkWidget *count_label;
  GtkWidget *warning_image;

  /* Owned */
  BtClassInfo *info;
  gulong       notify_id;
  guint        color;
  gboolean     is_all;
  BtClassRowDrop drop;
};

enum { SIGNAL_RENAME, N_SIGNALS };
static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (BtClassRow, bt_class_row, GTK_TYPE_WIDGET)

/* Distinct for colour-blind viewers first (Okabe–Ito), then GNOME palette hues. */
static const char * const palette[] = {
  "#e69f00", "#56b4e9", "#009e73", "#f0e442", "#0072b2", "#d55e00", "#cc79a7",
  "#3584e4", "#33d17a", "#f6d32d", "#ff7800", "#e01b24", "#9141ac", "#986a44",
};

void
bt_class_color (guint index, GdkRGBA *rgba)
{
  g_return_if_fail (rgba != NULL);

  gdk_rgba_parse (rgba, palette[index % G_N_ELEMENTS (palette)]);
}

char *
bt_class_warning_text (guint n, guint largest)
{
  if (n < BT_CLASS_MIN_IMAGES)
    return g_strdup_printf (g_dngettext (GETTEXT_PACKAGE,
                                         "Only %u image: add at least %u so the model can learn this class",
                                         "Only %u images: add at least %u so the model can learn this class",
                                         n),
                            n, (guint) BT_CLASS_MIN_IMAGES);
  if ((guint64) n * BT_CLASS_IMBALANCE_RATIO < largest)
    return g_strdup_printf (_("Far fewer images than the largest class (%u against %u): "
                              "the model may learn to ignore it"), n, largest);
  return NULL;
}

static void
chip_draw (GtkDrawingArea *area, cairo_t *cr, int width, int height, gpointer user_data)
{
  BtClassRow *self = user_data;
  GdkRGBA rgba;
  double r = MIN (width, height) / 2.0;

  if (self->is_all)
    {
      gdk_rgba_parse (&rgba, "#9a9996");
      cairo_set_source_rgba (cr, rgba.red, rgba.green, rgba.blue, 1);
      cairo_set_line_width (cr, 2);
      cairo_arc (cr, width / 2.0, height / 2.0, r - 1, 0, 2 * G_PI);
      cairo_stroke (cr);
      return;
    }
  bt_class_color (self->color, &rgba);
  cairo_set_source_rgba (cr, rgba.red, rgba.green, rgba.blue, 1);
  cairo_arc (cr, width / 2.0, height / 2.0, r, 0, 2 * G_PI);
  cairo_fill (cr);
}

static gboolean
is_editing (BtClassRow *self)
{
  return gtk_stack_get_visible_child (GTK_STACK (self->name_stack)) == self->name_entry;
}

static void
finish_rename (BtClassRow *self, gboolean commit)
{
  g_autofree char *new_name = NULL;
  g_autofree char *old_name = NULL;

  if (!is_editing (self) || self->info == NULL)
    return;
  new_name = g_strstrip (g_strdup (gtk_editable_get_text (GTK_EDITABLE (self->name_entry))));
  old_name = g_strdup (bt_class_info_get_name (self->info));
  gtk_stack_set_visible_child (GTK_STACK (self->name_stack), self->name_label);
  if (gtk_widget_get_realized (GTK_WIDGET (self)))
    gtk_widget_grab_focus (GTK_WIDGET (self));
  /* The page renames in the project; on success the info's name follows. */
  if (commit && new_name[0] != '\0' && g_strcmp0 (new_name, old_name) != 0)
    g_signal_emit (self, signals[SIGNAL_RENAME], 0, old_name, new_name);
}

static void
entry_activate_cb (BtClassRow *self)
{
  finish_rename (self, TRUE);
}

static gboolean
entry_key_cb (GtkEventControllerKey *controller, guint keyval, guint keycode,
              GdkModifierType state, BtClassRow *self)
{
  if (keyval == GDK_KEY_Escape)
    {
      finish_rename (self, FALSE);
      return TRUE;
    }
  return FALSE;
}

static void
entry_focus_leave_cb (BtClassRow *self)
{
  GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (self));

  /* GTK also sends "leave" when the whole window loses focus (another window is
   * presented, the user switches apps): keep editing then, the entry gets focus back. */
  if (GTK_IS_WINDOW (root) && !gtk_window_is_active (GTK_WINDOW (root)))
    return;
  finish_rename (self, TRUE);
}

static void
sync_from_info (BtClassRow *self)
{
  g_autofree char *count = NULL;
  g_autofree char *a11y = NULL;
  const char *name;
  guint n;

  if (self->info == NULL)
    return;
  name = bt_class_info_get_name (self->info);
  n = bt_class_info_get_n_items (self->info);
  self->color = bt_class_info_get_color (self->info);
  gtk_label_set_text (GTK_LABEL (self->name_label), name);
  count = g_strdup_printf ("%u", n);
  gtk_label_set_text (GTK_LABEL (self->count_label), count);
  a11y = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "Class %s, %u image", "Class %s, %u images", n), name, n);
  gtk_accessible_update_property (GTK_ACCESSIBLE (self), GTK_ACCESSIBLE_PROPERTY_LABEL, a11y, -1);
  gtk_widget_queue_draw (self->chip);
}

static void
info_notify_cb (BtClassRow *self)
{
  sync_from_info (self);
}

void
bt_class_row_set_info (BtClassRow *self, BtClassInfo *info)
{
  g_return_if_fail (BT_IS_CLASS_ROW (self));

  if (self->info == info && !self->is_all)
    return;
  if (self->info != NULL)
    g_clear_signal_handler (&self->notify_id, self->info);
  g_set_object (&self->info, info);
  self->is_all = FALSE;
  gtk_widget_set_visible (self->count_label, TRUE);
  if (info != NULL)
    {
      self->notify_id = g_signal_connect_object (info, "notify", G_CALLBACK (info_notify_cb),
                                                 self, G_CONNECT_SWAPPED);
      sync_from_info (self);
    }
}

BtClassInfo *
bt_class_row_get_info (BtClassRow *self)
{
  g_return_val_if_fail (BT_IS_CLASS_ROW (self), NULL);

  return self->is_all ? NULL : self->info;
}

void
bt_class_row_set_all (BtClassRow *self, guint total)
{
  g_autofree char *count = NULL;

  g_return_if_fail (BT_IS_CLASS_ROW (self));

  bt_class_row_set_info (self, NULL);
  self->is_all = TRUE;
  gtk_label_set_text (GTK_LABEL (self->name_label), _("All Images"));
  count = g_strdup_printf ("%u", total);
  gtk_label_set_text (GTK_LABEL (self->count_label), count);
  gtk_widget_set_visible (self->warning_image, FALSE);
  gtk_accessible_update_property (GTK_ACCESSIBLE (self), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _("All images"), -1);
  gtk_widget_queue_draw (self->chip);
}

void
bt_class_row_update (BtClassRow *self, guint largest)
{
  g_autofree char *warning = NULL;

  g_return_if_fail (BT_IS_CLASS_ROW (self));

  if (self->is_all || self->info == NULL)
    return;
  warning = bt_class_warning_text (bt_class_info_get_n_items (self->info), largest);
  gtk_widget_set_visible (self->warning_image, warning != NULL);
  gtk_widget_set_tooltip_text (self->warning_image, warning);
  if (warning != NULL)
    gtk_accessible_update_property (GTK_ACCESSIBLE (self->warning_image),
                                    GTK_ACCESSIBLE_PROPERTY_DESCRIPTION, warning, -1);
}

void
bt_class_row_start_rename (BtClassRow *self)
{
  g_return_if_fail (BT_IS_CLASS_ROW (self));

  if (self->is_all || self->info == NULL)
    return;
  gtk_editable_set_text (GTK_EDITABLE (self->name_entry), bt_class_info_get_name (self->info));
  gtk_stack_set_visible_child (GTK_STACK (self->name_stack), self->name_entry);
  gtk_widget_grab_focus (self->name_entry);
  gtk_editable_select_region (GTK_EDITABLE (self->name_entry), 0, -1);
}

gboolean
bt_class_row_is_renaming (BtClassRow *self)
{
  g_return_val_if_fail (BT_IS_CLASS_ROW (self), FALSE);

  return is_editing (self);
}

void
bt_class_row_set_drop (BtClassRow *self, BtClassRowDrop where)
{
  g_return_if_fail (BT_IS_CLASS_ROW (self));

  if (self->drop == where)
    return;
  self->drop = where;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

BtClassRowDrop
bt_class_row_get_drop (BtClassRow *self)
{
  g_return_val_if_fail (BT_IS_CLASS_ROW (self), BT_CLASS_ROW_DROP_NONE);

  return self->drop;
}

guint
bt_class_drop_position (guint from, guint onto, gboolean after)
{
  guint insert = onto + (after ? 1 : 0);

  /* Taking the class out first shifts everything after it up by one. */
  return from < insert ? insert - 1 : insert;
}

static void
bt_class_row_snapshot (GtkWidget *widget, GtkSnapshot *snapshot)
{
  BtClassRow *self = BT_CLASS_ROW (widget);
  const GdkRGBA accent = { 0x35 / 255.f, 0x84 / 255.f, 0xe4 / 255.f, 1 };
  int width = gtk_widget_get_width (widget);
  int height = gtk_widget_get_height (widget);

  gtk_widget_snapshot_child (widget, self->box, snapshot);
  if (self->drop != BT_CLASS_ROW_DROP_NONE)
    gtk_snapshot_append_color (snapshot, &accent,
                               &GRAPHENE_RECT_INIT (0, self->drop == BT_CLASS_ROW_DROP_BEFORE ? 0 : height - 2,
                                                    width, 2));
}

static void
bt_class_row_dispose (GObject *object)
{
  BtClassRow *self = BT_CLASS_ROW (object);

  if (self->info != NULL)
    g_clear_signal_handler (&self->notify_id, self->info);
  g_clear_object (&self->info);
  g_clear_pointer (&self->box, gtk_widget_unparent);

  G_OBJECT_CLASS (bt_class_row_parent_class)->dispose (object);
}

static void
bt_class_row_class_init (BtClassRowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = bt_class_row_dispose;

  /* (old name, new name) */
  signals[SIGNAL_RENAME] = g_signal_new ("rename", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                         0, NULL, NULL, NULL, G_TYPE_NONE, 2,
                                         G_TYPE_STRING, G_TYPE_STRING);

  widget_class->snapshot = bt_class_row_snapshot;
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
  gtk_widget_class_set_css_name (widget_class, "btclassrow");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_GROUP);
}

static void
bt_class_row_init (BtClassRow *self)
{
  self->box = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 8);
  gtk_widget_set_margin_start (self->box, 6);
  gtk_widget_set_margin_end (self->box, 6);
  gtk_widget_set_margin_top (self->box, 6);
  gtk_widget_set_margin_bottom (self->box, 6);
  gtk_widget_set_parent (self->box, GTK_WIDGET (self));

  self->chip = gtk_drawing_area_new ();
  gtk_drawing_area_set_content_width (GTK_DRAWING_AREA (self->chip), 12);
  gtk_drawing_area_set_content_height (GTK_DRAWING_AREA (self->chip), 12);
  gtk_widget_set_valign (self->chip, GTK_ALIGN_CENTER);
  gtk_drawing_area_set_draw_func (GTK_DRAWING_AREA (self->chip), chip_draw, self, NULL);
  gtk_box_append (GTK_BOX (self->box), self->chip);

  self->name_stack = gtk_stack_new ();
  gtk_widget_set_hexpand (self->name_stack, TRUE);
  gtk_stack_set_hhomogeneous (GTK_STACK (self->name_stack), FALSE);
  gtk_box_append (GTK_BOX (self->box), self->name_stack);

  self->name_label = gtk_label_new ("");
  gtk_label_set_xalign (GTK_LABEL (self->name_label), 0);
  gtk_label_set_ellipsize (GTK_LABEL (self->name_label), PANGO_ELLIPSIZE_END);
  gtk_stack_add_child (GTK_STACK (self->name_stack), self->name_label);

  self->name_entry = gtk_entry_new ();
  gtk_editable_set_width_chars (GTK_EDITABLE (self->name_entry), 8);
  gtk_accessible_update_property (GTK_ACCESSIBLE (self->name_entry), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _("New class name"), -1);
  g_signal_connect_object (self->name_entry, "activate", G_CALLBACK (entry_activate_cb),
                           self, G_CONNECT_SWAPPED);
  {
    GtkEventController *key = gtk_event_controller_key_new ();
    GtkEventController *focus = gtk_event_controller_focus_new ();

    g_signal_connect_object (key, "key-pressed", G_CALLBACK (entry_key_cb), self, 0);
    gtk_widget_add_controller (self->name_entry, key);
    g_signal_connect_object (focus, "leave", G_CALLBACK (entry_focus_leave_cb), self, G_CONNECT_SWAPPED);
    gtk_widget_add_controller (self->name_entry, focus);
  }
  gtk_stack_add_child (GTK_STACK (self->name_stack), self->name_entry);
  gtk_stack_set_visible_child (GTK_STACK (self->name_stack), self->name_label);

  self->warning_image = gtk_image_new_from_icon_name ("dialog-warning-symbolic");
  gtk_widget_add_css_class (self->warning_image, "warning");
  gtk_widget_set_visible (self->warning_image, FALSE);
  gtk_box_append (GTK_BOX (self->box), self->warning_image);

  self->count_label = gtk_label_new ("0");
  gtk_widget_add_css_class (self->count_label, "dim-label");
  gtk_widget_add_css_class (self->count_label, "numeric");
  gtk_box_append (GTK_BOX (self->box), self->count_label);
}

GtkWidget *
bt_class_row_new (void)
{
  return g_object_new (BT_TYPE_CLASS_ROW, NULL);
}
