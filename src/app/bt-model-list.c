/* bt-model-list.c: BtModelList, a popover listing a project's saved models (newest first) with
 * a Pin toggle, an inline rename and a Delete (to the trash) on each row. */
#include "config.h"

#include <glib/gi18n.h>
#include <math.h>

#include "bt-model-files.h"
#include "bt-model-list.h"

struct _BtModelList
{
  GtkPopover  parent_instance;

  GtkWidget  *box;
  GtkWidget  *empty;
  GtkListBox *list;
};

G_DEFINE_FINAL_TYPE (BtModelList, bt_model_list, GTK_TYPE_POPOVER)

enum { SIGNAL_CHANGED, SIGNAL_ERROR, N_SIGNALS };
static guint signals[N_SIGNALS];

static const char *
row_path (GtkWidget *w)
{
  GtkWidget *row = gtk_widget_get_ancestor (w, GTK_TYPE_LIST_BOX_ROW);
  return row ? g_object_get_data (G_OBJECT (row), "path") : NULL;
}

static void
report (BtModelList *self, const char *what, GError *error)
{
  g_autofree char *message = g_strdup_printf ("%s: %s", what, error->message);
  g_signal_emit (self, signals[SIGNAL_ERROR], 0, message);
}

static void
pin_toggled_cb (GtkToggleButton *button, BtModelList *self)
{
  g_autoptr(GError) error = NULL;
  const char *path = row_path (GTK_WIDGET (button));

  if (path == NULL)
    return;
  if (!bt_model_files_set_pinned (path, gtk_toggle_button_get_active (button), &error))
    report (self, _("Could not pin the model"), error);
  g_signal_emit (self, signals[SIGNAL_CHANGED], 0);
}

static void
rename_activate_cb (GtkEntry *entry, BtModelList *self)
{
  g_autoptr(GError) error = NULL;
  const char *path = row_path (GTK_WIDGET (entry));

  if (path == NULL)
    return;
  if (!bt_model_files_rename (path, gtk_editable_get_text (GTK_EDITABLE (entry)), &error))
    report (self, _("Could not rename the model"), error);
  g_signal_emit (self, signals[SIGNAL_CHANGED], 0);
}

static void
rename_clicked_cb (GtkButton *button, BtModelList *self)
{
  GtkWidget *row_box = gtk_widget_get_parent (GTK_WIDGET (button));
  GtkWidget *entry = g_object_get_data (G_OBJECT (row_box), "entry");
  GtkWidget *title = g_object_get_data (G_OBJECT (row_box), "title");

  gtk_widget_set_visible (title, FALSE);
  gtk_widget_set_visible (entry, TRUE);
  gtk_widget_grab_focus (entry);
}

static void
delete_clicked_cb (GtkButton *button, BtModelList *self)
{
  g_autoptr(GError) error = NULL;
  const char *path = row_path (GTK_WIDGET (button));

  if (path == NULL)
    return;
  if (!bt_model_files_delete (path, &error))
    report (self, _("Could not delete the model"), error);
  g_signal_emit (self, signals[SIGNAL_CHANGED], 0);
}

/* The run verdicts the trainer writes into a model's metadata, in words; NULL for none. */
static const char *
verdict_text (const char *verdict)
{
  static const struct { const char *id; const char *text; } verdicts[] = {
    { "learned", N_("learned") },
    { "overfitting", N_("overfitting") },
    { "diverged", N_("diverged") },
    { "did-not-learn", N_("did not learn") },
    { "stopped-early", N_("stopped early") },
  };

  for (guint i = 0; verdict != NULL && i < G_N_ELEMENTS (verdicts); i++)
    if (g_str_equal (verdict, verdicts[i].id))
      return _(verdicts[i].text);
  return NULL;
}

static GtkWidget *
icon_button (const char *icon, const char *tooltip, const char *accessible)
{
  GtkWidget *b = gtk_button_new_from_icon_name (icon);

  gtk_widget_set_tooltip_text (b, tooltip);
  gtk_accessible_update_property (GTK_ACCESSIBLE (b), GTK_ACCESSIBLE_PROPERTY_LABEL, accessible, -1);
  gtk_widget_add_css_class (b, "flat");
  gtk_widget_set_valign (b, GTK_ALIGN_CENTER);
  return b;
}

static GtkWidget *
make_row (BtModelList *self, const BtModelInfo *info)
{
  GtkWidget *row = gtk_list_box_row_new ();
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 6);
  GtkWidget *texts = gtk_box_new (GTK_ORIENTATION_VERTICAL, 2);
  GtkWidget *title = gtk_label_new (info->name);
  GtkWidget *entry = gtk_entry_new ();
  GtkWidget *pin = gtk_toggle_button_new ();
  GtkWidget *rename, *del, *sub;
  g_autoptr(GDateTime) dt = g_date_time_new_from_unix_local (info->created);
  g_autofree char *date = dt ? g_date_time_format (dt, "%Y-%m-%d %H:%M") : g_strdup ("");
  g_autofree char *acc = isnan (info->accuracy) ? g_strdup (_("accuracy unknown"))
                                                : g_strdup_printf (_("%.1f%% validation accuracy"),
                                                                   100.0 * info->accuracy);
  g_autofree char *details = NULL;
  g_autofree char *a_pin = g_strdup_printf (_("Pin “%s”"), info->name);
  g_autofree char *a_rename = g_strdup_printf (_("Rename “%s”"), info->name);
  g_autofree char *a_delete = g_strdup_printf (_("Delete “%s”"), info->name);

  g_object_set_data_full (G_OBJECT (row), "path", g_strdup (info->path), g_free);
  details = info->data_changed
            /* TRANSLATORS: under a model's name: accuracy · date · a warning */
            ? g_strdup_printf (_("%s · %s · the images or labels changed since"), acc, date)
            : g_strdup_printf ("%s · %s", acc, date);
  if (verdict_text (info->verdict) != NULL)
    {
      /* TRANSLATORS: the model's details, then the verdict of its run, e.g. "diverged" */
      char *t = g_strdup_printf (_("%s · run: %s"), details, verdict_text (info->verdict));
      g_free (details);
      details = t;
    }
  gtk_label_set_xalign (GTK_LABEL (title), 0);
  gtk_label_set_ellipsize (GTK_LABEL (title), PANGO_ELLIPSIZE_END);
  gtk_label_set_max_width_chars (GTK_LABEL (title), 40);
  gtk_widget_add_css_class (title, "heading");
  sub = gtk_label_new (details);
  gtk_label_set_xalign (GTK_LABEL (sub), 0);
  gtk_label_set_wrap (GTK_LABEL (sub), TRUE);
  gtk_label_set_max_width_chars (GTK_LABEL (sub), 40);
  gtk_widget_add_css_class (sub, info->data_changed ? "warning" : "dim-label");
  gtk_widget_add_css_class (sub, "caption");
  gtk_editable_set_text (GTK_EDITABLE (entry), info->custom_name ? info->custom_name : info->name);
  gtk_widget_set_visible (entry, FALSE);
  gtk_accessible_update_property (GTK_ACCESSIBLE (entry), GTK_ACCESSIBLE_PROPERTY_LABEL, _("Model name"), -1);
  g_signal_connect_object (entry, "activate", G_CALLBACK (rename_activate_cb), self, 0);
  gtk_box_append (GTK_BOX (texts), title);
  gtk_box_append (GTK_BOX (texts), entry);
  gtk_box_append (GTK_BOX (texts), sub);
  gtk_widget_set_hexpand (texts, TRUE);
  gtk_box_append (GTK_BOX (box), texts);

  gtk_button_set_icon_name (GTK_BUTTON (pin), "view-pin-symbolic");
  gtk_toggle_button_set_active (GTK_TOGGLE_BUTTON (pin), info->pinned);
  gtk_widget_set_tooltip_text (pin, _("Pin: Evaluate and Test open this model first"));
  gtk_accessible_update_property (GTK_ACCESSIBLE (pin), GTK_ACCESSIBLE_PROPERTY_LABEL, a_pin, -1);
  gtk_widget_add_css_class (pin, "flat");
  gtk_widget_set_valign (pin, GTK_ALIGN_CENTER);
  g_signal_connect_object (pin, "toggled", G_CALLBACK (pin_toggled_cb), self, 0);
  gtk_box_append (GTK_BOX (box), pin);
  rename = icon_button ("document-edit-symbolic", _("Rename"), a_rename);
  g_signal_connect_object (rename, "clicked", G_CALLBACK (rename_clicked_cb), self, 0);
  gtk_box_append (GTK_BOX (box), rename);
  del = icon_button ("user-trash-symbolic", _("Move the model file to the trash"), a_delete);
  g_signal_connect_object (del, "clicked", G_CALLBACK (delete_clicked_cb), self, 0);
  gtk_box_append (GTK_BOX (box), del);
  g_object_set_data (G_OBJECT (box), "entry", entry);
  g_object_set_data (G_OBJECT (box), "title", title);

  gtk_widget_set_margin_top (box, 4);
  gtk_widget_set_margin_bottom (box, 4);
  gtk_list_box_row_set_child (GTK_LIST_BOX_ROW (row), box);
  gtk_list_box_row_set_activatable (GTK_LIST_BOX_ROW (row), FALSE);
  return row;
}

void
bt_model_list_set_infos (BtModelList *self, GPtrArray *infos)
{
  GtkWidget *child;

  g_return_if_fail (BT_IS_MODEL_LIST (self));

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->list))) != NULL)
    gtk_list_box_remove (self->list, child);
  for (guint i = 0; infos != NULL && i < infos->len; i++)
    gtk_list_box_append (self->list, make_row (self, infos->pdata[i]));
  gtk_widget_set_visible (self->empty, infos == NULL || infos->len == 0);
}

static void
bt_model_list_class_init (BtModelListClass *klass)
{
  signals[SIGNAL_CHANGED] = g_signal_new ("changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                          0, NULL, NULL, NULL, G_TYPE_NONE, 0);
  signals[SIGNAL_ERROR] = g_signal_new ("error", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                        0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
}

static void
bt_model_list_init (BtModelList *self)
{
  GtkWidget *scroll = gtk_scrolled_window_new ();
  GtkWidget *heading = gtk_label_new (_("Saved models"));

  self->box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 6);
  gtk_widget_add_css_class (heading, "heading");
  gtk_label_set_xalign (GTK_LABEL (heading), 0);
  gtk_box_append (GTK_BOX (self->box), heading);
  self->empty = gtk_label_new (_("No saved model yet: train one on the Train page."));
  gtk_box_append (GTK_BOX (self->box), self->empty);
  self->list = GTK_LIST_BOX (gtk_list_box_new ());
  gtk_list_box_set_selection_mode (self->list, GTK_SELECTION_NONE);
  gtk_widget_add_css_class (GTK_WIDGET (self->list), "boxed-list");
  gtk_scrolled_window_set_policy (GTK_SCROLLED_WINDOW (scroll), GTK_POLICY_NEVER, GTK_POLICY_AUTOMATIC);
  gtk_scrolled_window_set_propagate_natural_height (GTK_SCROLLED_WINDOW (scroll), TRUE);
  /* else the popover takes the rows' minimum width: every name cut to "Transf…", a word a line */
  gtk_scrolled_window_set_propagate_natural_width (GTK_SCROLLED_WINDOW (scroll), TRUE);
  gtk_scrolled_window_set_max_content_height (GTK_SCROLLED_WINDOW (scroll), 420);
  gtk_scrolled_window_set_child (GTK_SCROLLED_WINDOW (scroll), GTK_WIDGET (self->list));
  gtk_box_append (GTK_BOX (self->box), scroll);
  gtk_popover_set_child (GTK_POPOVER (self), self->box);
}

GtkWidget *
bt_model_list_new (void)
{
  return g_object_new (BT_TYPE_MODEL_LIST, NULL);
}

static void
setup_label_cb (GtkSignalListItemFactory *factory, GtkListItem *item, gpointer ellipsize)
{
  GtkWidget *label = gtk_label_new (NULL);

  gtk_label_set_xalign (GTK_LABEL (label), 0);
  if (GPOINTER_TO_INT (ellipsize))
    {
      gtk_label_set_ellipsize (GTK_LABEL (label), PANGO_ELLIPSIZE_END);
      gtk_label_set_max_width_chars (GTK_LABEL (label), 30);
      gtk_label_set_width_chars (GTK_LABEL (label), 12);
    }
  gtk_list_item_set_child (item, label);
}

static void
bind_label_cb (GtkSignalListItemFactory *factory, GtkListItem *item, gpointer ellipsize)
{
  GtkWidget *label = gtk_list_item_get_child (item);
  GtkStringObject *string = gtk_list_item_get_item (item);
  const char *text = string ? gtk_string_object_get_string (string) : "";

  gtk_label_set_text (GTK_LABEL (label), text);
  gtk_widget_set_tooltip_text (label, GPOINTER_TO_INT (ellipsize) ? text : NULL);
}

static GtkListItemFactory *
label_factory (gboolean ellipsize)
{
  GtkListItemFactory *factory = gtk_signal_list_item_factory_new ();

  g_signal_connect (factory, "setup", G_CALLBACK (setup_label_cb), GINT_TO_POINTER (ellipsize));
  g_signal_connect (factory, "bind", G_CALLBACK (bind_label_cb), GINT_TO_POINTER (ellipsize));
  return factory;
}

void
bt_model_list_setup_dropdown (GtkDropDown *dropdown)
{
  g_autoptr(GtkListItemFactory) shown = label_factory (TRUE);
  g_autoptr(GtkListItemFactory) listed = label_factory (FALSE);

  g_return_if_fail (GTK_IS_DROP_DOWN (dropdown));

  gtk_drop_down_set_factory (dropdown, shown);
  gtk_drop_down_set_list_factory (dropdown, listed);
}
