/* bt-data-page.c: the Data page's models (class sidebar, filtered thumbnail grid), thumbnail
 * cells, status area and in-page notification. Drops live in -dnd.c, actions in -actions.c. */
#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "bt-class-row.h"
#include "bt-data-page-private.h"
#include "bt-review-button.h"
#include "bt-thumb-cell.h"
#include "dataset/bt-undo.h"

#define THUMB_SIZE 112
#define THUMB_CACHE 1500
#define TOAST_SECONDS 8

enum {
  PROP_0,
  PROP_PROJECT,
  PROP_BUSY,
  N_PROPS
};
static GParamSpec *properties[N_PROPS];

enum { SIGNAL_IMPORT_FINISHED, N_SIGNALS };
static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (BtDataPage, bt_data_page, GTK_TYPE_WIDGET)

/* ---- Notification ---- */

static gboolean
toast_timeout_cb (gpointer data)
{
  BtDataPage *self = data;

  self->toast_timeout = 0;
  gtk_revealer_set_reveal_child (self->toast_revealer, FALSE);
  return G_SOURCE_REMOVE;
}

void
_bt_data_page_show_toast (BtDataPage *self,
                          const char *message,
                          const char *button_label,
                          const char *detailed_action)
{
  gtk_label_set_text (self->toast_label, message);
  gtk_widget_set_visible (GTK_WIDGET (self->toast_button), button_label != NULL);
  if (button_label != NULL)
    {
      gtk_button_set_label (self->toast_button, button_label);
      gtk_button_set_use_underline (self->toast_button, TRUE);
    }
  g_free (self->toast_action);
  self->toast_action = g_strdup (detailed_action);
  gtk_revealer_set_reveal_child (self->toast_revealer, TRUE);
  g_clear_handle_id (&self->toast_timeout, g_source_remove);
  self->toast_timeout = g_timeout_add_seconds (TOAST_SECONDS, toast_timeout_cb, self);
  gtk_accessible_update_property (GTK_ACCESSIBLE (self->toast_label),
                                  GTK_ACCESSIBLE_PROPERTY_LABEL, message, -1);
}

static void
toast_button_clicked_cb (BtDataPage *self)
{
  g_autofree char *action = g_steal_pointer (&self->toast_action);
  g_autofree char *name = NULL;
  g_autoptr(GVariant) target = NULL;
  g_autoptr(GError) error = NULL;

  gtk_revealer_set_reveal_child (self->toast_revealer, FALSE);
  g_clear_handle_id (&self->toast_timeout, g_source_remove);
  if (action == NULL)
    return;
  if (!g_action_parse_detailed_name (action, &name, &target, &error))
    return;
  gtk_widget_activate_action_variant (GTK_WIDGET (self), name, target);
}

static void
toast_close_clicked_cb (BtDataPage *self)
{
  gtk_revealer_set_reveal_child (self->toast_revealer, FALSE);
  g_clear_handle_id (&self->toast_timeout, g_source_remove);
}

const char *
bt_data_page_get_notification (BtDataPage *self)
{
  g_return_val_if_fail (BT_IS_DATA_PAGE (self), NULL);

  return gtk_revealer_get_reveal_child (self->toast_revealer) ? gtk_label_get_text (self->toast_label) : "";
}

void
_bt_data_page_show_error (BtDataPage   *self,
                          const char   *what,
                          const GError *error)
{
  g_autofree char *message = NULL;

  if (error != NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  message = g_strdup_printf ("%s: %s", what, error ? error->message : _("unknown error"));
  _bt_data_page_show_toast (self, message, NULL, NULL);
}

/* ---- Status ---- */

#define STATUS_SLICE 8192

static void
status_restart (BtDataPage *self, guint n)
{
  self->status_pos = 0;
  self->status_n = n;
  memset (self->status_counts, 0, sizeof self->status_counts);
}

static gboolean
status_idle_cb (gpointer data)
{
  BtDataPage *self = data;
  GListModel *items, *classes;
  guint end, n, per_split[BT_N_SPLITS] = { 0, }, n_excluded = 0, n_missing = 0, n_duplicate = 0;
  guint largest = 0, n_classes;
  g_autofree char *total = NULL;
  g_autofree char *split_label = NULL;
  GHashTableIter iter;
  gpointer row;
  const BtProjectSettings *settings;

  if (self->project == NULL)
    {
      self->status_idle = 0;
      g_free (self->status_text);
      self->status_text = g_strdup (_("No project open"));
      gtk_label_set_text (self->status_label, self->status_text);
      return G_SOURCE_REMOVE;
    }

  items = bt_project_get_items (self->project);
  n = g_list_model_get_n_items (items);
  /* Items appended since the last count (an import's chunks) are counted on top of it:
   * a 70,000-image import does not recount everything after each chunk. */
  if (!self->status_appends_only || n < self->status_pos)
    status_restart (self, n);
  self->status_appends_only = TRUE;
  self->status_n = n;
  end = MIN (n, self->status_pos + STATUS_SLICE);
  for (guint i = self->status_pos; i < end; i++)
    {
      g_autoptr(BtItem) item = g_list_model_get_item (items, i);

      if (bt_item_get_excluded (item))
        self->status_counts[BT_N_SPLITS]++;
      else if (bt_item_get_missing (item))
        self->status_counts[BT_N_SPLITS + 1]++;
      else
        self->status_counts[bt_item_get_split (item)]++;
      if (bt_item_get_duplicate (item))
        self->status_counts[BT_N_SPLITS + 2]++;
    }
  self->status_pos = end;
  if (end < n)
    return G_SOURCE_CONTINUE;
  self->status_idle = 0;
  for (guint k = 0; k < BT_N_SPLITS; k++)
    per_split[k] = self->status_counts[k];
  n_excluded = self->status_counts[BT_N_SPLITS];
  n_missing = self->status_counts[BT_N_SPLITS + 1];
  n_duplicate = self->status_counts[BT_N_SPLITS + 2];

  classes = bt_project_get_classes (self->project);
  n_classes = g_list_model_get_n_items (classes);
  for (guint i = 0; i < n_classes; i++)
    {
      g_autoptr(BtClassInfo) info = g_list_model_get_item (classes, i);
      largest = MAX (largest, bt_class_info_get_n_items (info));
    }

  g_hash_table_iter_init (&iter, self->class_rows);
  while (g_hash_table_iter_next (&iter, &row, NULL))
    {
      if (bt_class_row_get_info (row) == NULL)
        bt_class_row_set_all (row, n);
      else
        bt_class_row_update (row, largest);
    }

  total = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%u image in %u classes", "%u images in %u classes", n),
                           n, n_classes);
  g_free (self->status_text);
  self->status_text = g_strdup_printf (_("%s · training %u · validation %u · test %u · excluded %u · missing %u"),
                                       total, per_split[BT_SPLIT_TRAIN], per_split[BT_SPLIT_VAL],
                                       per_split[BT_SPLIT_TEST], n_excluded, n_missing);
  gtk_label_set_text (self->status_label, self->status_text);

  settings = bt_project_get_settings (self->project);
  split_label = g_strdup_printf (_("Split %d / %d / %d"), settings->split_train, settings->split_val,
                                 settings->split_test);
  gtk_menu_button_set_label (self->split_button, split_label);
  if (!gtk_widget_get_visible (GTK_WIDGET (gtk_menu_button_get_popover (self->split_button))))
    {
      gtk_spin_button_set_value (self->split_train_spin, settings->split_train);
      gtk_spin_button_set_value (self->split_val_spin, settings->split_val);
      gtk_spin_button_set_value (self->split_test_spin, settings->split_test);
    }

  if (n_duplicate > 0 || self->n_conflicts > 0 || self->n_duplicates > 0)
    {
      g_autofree char *dups = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%u duplicate", "%u duplicates",
                                                            n_duplicate + self->n_duplicates),
                                               n_duplicate + self->n_duplicates);
      g_autofree char *conflicts = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%u label conflict",
                                                                 "%u label conflicts", self->n_conflicts),
                                                    self->n_conflicts);
      g_autofree char *text = g_strdup_printf ("%s · %s", dups, conflicts);
      gtk_label_set_text (self->issues_label, text);
      gtk_widget_set_tooltip_text (GTK_WIDGET (self->issues_button),
                                   _("Duplicates are the same picture more than once; a label conflict is "
                                     "the same picture found under two classes. Click to see them."));
      gtk_widget_set_visible (GTK_WIDGET (self->issues_button), TRUE);
    }
  else
    gtk_widget_set_visible (GTK_WIDGET (self->issues_button), FALSE);

  if (self->skipped_paths->len > 0)
    {
      g_autofree char *label = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%u file skipped",
                                                             "%u files skipped", self->skipped_paths->len),
                                                self->skipped_paths->len);
      gtk_button_set_label (self->skipped_button, label);
      gtk_widget_set_visible (GTK_WIDGET (self->skipped_button), TRUE);
    }
  else
    gtk_widget_set_visible (GTK_WIDGET (self->skipped_button), FALSE);

  gtk_stack_set_visible_child_name (self->grid_stack,
                                    g_list_model_get_n_items (G_LIST_MODEL (self->item_filter_model)) > 0
                                    || gtk_filter_list_model_get_pending (self->item_filter_model) > 0
                                    ? "grid" : "empty");
  if (n > 0)
    {
      gtk_label_set_text (self->empty_title, _("No images here"));
      gtk_label_set_text (self->empty_label, _("Nothing matches the search and filter, or this class is "
                                               "empty: drop images or folders on it."));
    }
  else
    {
      gtk_label_set_text (self->empty_title, _("Bring your images in"));
      gtk_label_set_text (self->empty_label, _("Drop folders of images here; each folder becomes a class."));
    }

  _bt_data_page_update_actions (self);
  return G_SOURCE_REMOVE;
}

void
_bt_data_page_queue_status (BtDataPage *self)
{
  self->status_appends_only = FALSE;  /* what was counted may have changed */
  _bt_data_page_queue_status_appended (self);
}

/* Only items were appended: the counts so far stay valid. */
void
_bt_data_page_queue_status_appended (BtDataPage *self)
{
  if (self->status_idle == 0)
    self->status_idle = g_idle_add_full (G_PRIORITY_LOW, status_idle_cb, self, NULL);
}

const char *
bt_data_page_get_status_text (BtDataPage *self)
{
  g_return_val_if_fail (BT_IS_DATA_PAGE (self), NULL);

  if (self->status_idle != 0)
    {
      g_clear_handle_id (&self->status_idle, g_source_remove);
      while (status_idle_cb (self) == G_SOURCE_CONTINUE)
        ;
    }
  return self->status_text ? self->status_text : "";
}

/* ---- Item filter ---- */

static const char *
item_basename (BtItem *item)
{
  const char *path = bt_item_get_path (item);
  const char *slash = strrchr (path, G_DIR_SEPARATOR);

  return slash ? slash + 1 : path;
}

static gboolean
item_filter_func (gpointer object, gpointer user_data)
{
  BtDataPage *self = user_data;
  BtItem *item = object;

  if (self->selected_class != NULL && g_strcmp0 (bt_item_get_class_name (item), self->selected_class) != 0)
    return FALSE;

  switch (self->filter)
    {
    case BT_DATA_FILTER_ALL:
      break;
    case BT_DATA_FILTER_TRAIN:
    case BT_DATA_FILTER_VAL:
    case BT_DATA_FILTER_TEST:
      if (bt_item_get_excluded (item) || (int) bt_item_get_split (item) != (int) self->filter - 1)
        return FALSE;
      break;
    case BT_DATA_FILTER_EXCLUDED:
      if (!bt_item_get_excluded (item))
        return FALSE;
      break;
    case BT_DATA_FILTER_MISSING:
      if (!bt_item_get_missing (item))
        return FALSE;
      break;
    case BT_DATA_FILTER_DUPLICATE:
      if (!bt_item_get_duplicate (item))
        return FALSE;
      break;
    default:
      g_assert_not_reached ();
    }

  if (self->search_casefold != NULL)
    {
      g_autofree char *display = g_filename_display_name (item_basename (item));
      g_autofree char *folded = g_utf8_casefold (display, -1);

      if (strstr (folded, self->search_casefold) == NULL)
        return FALSE;
    }
  return TRUE;
}

/* Large projects filter in slices so the main loop never stalls; small ones at once, so the
 * grid never empties for a moment while it refills. */
#define INCREMENTAL_FROM 20000

static gboolean
page_filters (BtDataPage *self)
{
  return self->selected_class != NULL || self->filter != BT_DATA_FILTER_ALL || self->search_casefold != NULL;
}

void
_bt_data_page_refilter (BtDataPage *self, GtkFilterChange change)
{
  GListModel *model = gtk_filter_list_model_get_model (self->item_filter_model);
  guint n = model ? g_list_model_get_n_items (model) : 0;
  /* "All images" unfiltered (what an import ends on) passes the items through: no
   * filter run over 70,000 items and no stream of items-changed into the grid. */
  GtkFilter *want = page_filters (self) ? GTK_FILTER (self->item_filter) : NULL;

  /* GTK 4.8 corrupts the views' item tracking when incremental is switched off while
   * items are pending, so switch only when the model is settled. */
  if (gtk_filter_list_model_get_pending (self->item_filter_model) == 0)
    gtk_filter_list_model_set_incremental (self->item_filter_model, n >= INCREMENTAL_FROM);
  if (gtk_filter_list_model_get_filter (self->item_filter_model) != want)
    gtk_filter_list_model_set_filter (self->item_filter_model, want);
  else if (want != NULL)
    gtk_filter_changed (want, change);
  _bt_data_page_queue_status (self);
}

void
_bt_data_page_hint_change (BtDataPage *self, int change)
{
  self->change_hint = change;
}

static void
search_changed_cb (BtDataPage *self)
{
  const char *text = gtk_editable_get_text (GTK_EDITABLE (self->search_entry));
  g_autofree char *old = g_steal_pointer (&self->search_casefold);
  GtkFilterChange change = GTK_FILTER_CHANGE_DIFFERENT;

  if (text != NULL && text[0] != '\0')
    self->search_casefold = g_utf8_casefold (text, -1);
  /* Typing on narrows what is shown, deleting widens it. */
  if (old == NULL || (self->search_casefold != NULL && g_str_has_prefix (self->search_casefold, old)))
    change = GTK_FILTER_CHANGE_MORE_STRICT;
  else if (self->search_casefold == NULL || g_str_has_prefix (old, self->search_casefold))
    change = GTK_FILTER_CHANGE_LESS_STRICT;
  if (g_strcmp0 (old, self->search_casefold) != 0)
    _bt_data_page_refilter (self, change);
}

static void
filter_changed_cb (BtDataPage *self)
{
  guint selected = gtk_drop_down_get_selected (self->filter_dropdown);

  self->filter = selected <= BT_DATA_FILTER_DUPLICATE ? (BtDataFilter) selected : BT_DATA_FILTER_ALL;
  _bt_data_page_refilter (self, GTK_FILTER_CHANGE_DIFFERENT);
}

static void
class_selection_changed_cb (BtDataPage *self)
{
  GObject *selected = gtk_single_selection_get_selected_item (self->class_selection);
  const char *name = BT_IS_CLASS_INFO (selected) ? bt_class_info_get_name (BT_CLASS_INFO (selected)) : NULL;

  if (g_strcmp0 (name, self->selected_class) == 0)
    return;
  g_free (self->selected_class);
  self->selected_class = g_strdup (name);
  gtk_selection_model_unselect_all (GTK_SELECTION_MODEL (self->item_selection));
  _bt_data_page_refilter (self, GTK_FILTER_CHANGE_DIFFERENT);
  _bt_data_page_update_actions (self);
}

void
bt_data_page_select_class (BtDataPage *self,
                           const char *class_name)
{
  GListModel *model;
  guint n;

  g_return_if_fail (BT_IS_DATA_PAGE (self));

  model = G_LIST_MODEL (self->class_selection);
  n = g_list_model_get_n_items (model);
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(GObject) obj = g_list_model_get_item (model, i);
      const char *name = BT_IS_CLASS_INFO (obj) ? bt_class_info_get_name (BT_CLASS_INFO (obj)) : NULL;

      if (g_strcmp0 (name, class_name) == 0)
        {
          gtk_single_selection_set_selected (self->class_selection, i);
          class_selection_changed_cb (self);
          return;
        }
    }
}

GtkSelectionModel *
bt_data_page_get_selection (BtDataPage *self)
{
  g_return_val_if_fail (BT_IS_DATA_PAGE (self), NULL);

  return GTK_SELECTION_MODEL (self->item_selection);
}

GPtrArray *
_bt_data_page_get_selected_items (BtDataPage *self,
                                  BtItem     *extra)
{
  GPtrArray *items = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GtkBitset) set = gtk_selection_model_get_selection (GTK_SELECTION_MODEL (self->item_selection));
  GtkBitsetIter iter;
  guint pos;
  gboolean extra_selected = FALSE;

  for (gboolean ok = gtk_bitset_iter_init_first (&iter, set, &pos); ok; ok = gtk_bitset_iter_next (&iter, &pos))
    {
      BtItem *item = g_list_model_get_item (G_LIST_MODEL (self->item_selection), pos);

      if (item == extra)
        extra_selected = TRUE;
      g_ptr_array_add (items, item);
    }
  if (extra != NULL && !extra_selected)
    {
      g_ptr_array_set_size (items, 0);
      g_ptr_array_add (items, g_object_ref (extra));
    }
  return items;
}

/* ---- Class sidebar ---- */

static void
class_row_rename_cb (BtClassRow *row,
                     const char *old_name,
                     const char *new_name,
                     BtDataPage *self)
{
  g_autoptr(GError) error = NULL;

  if (self->project == NULL)
    return;
  /* The grid follows the selected class by name: rename it first, the refilter comes
   * with the project's "changed". */
  if (g_strcmp0 (self->selected_class, old_name) == 0)
    {
      g_free (self->selected_class);
      self->selected_class = g_strdup (new_name);
    }
  if (bt_project_find_class (self->project, new_name) >= 0 && g_strcmp0 (old_name, new_name) != 0)
    {
      g_autofree char *message = NULL;
      g_autofree char *from = g_strdup (old_name);
      g_autofree char *into = g_strdup (new_name);

      /* Naming a class like another one puts them together: a merge, undone by Ctrl+Z. */
      g_free (self->selected_class);
      self->selected_class = g_strdup (into);
      _bt_data_page_detach_items (self);
      if (!bt_undo_stack_merge_class (bt_undo_stack_get (self->project), from, into, &error))
        {
          _bt_data_page_attach_items (self);
          _bt_data_page_show_error (self, _("Could not merge the classes"), error);
          return;
        }
      _bt_data_page_attach_items (self);
      bt_data_page_select_class (self, into);
      _bt_data_page_rebuild_move_menu (self);
      message = g_strdup_printf (_("“%s” merged into “%s”"), from, into);
      _bt_data_page_show_toast (self, message, _("_Undo"), "data.undo");
      return;
    }
  if (!bt_undo_stack_rename_class (bt_undo_stack_get (self->project), old_name, new_name, &error))
    {
      if (g_strcmp0 (self->selected_class, new_name) == 0)
        {
          g_free (self->selected_class);
          self->selected_class = g_strdup (old_name);
        }
      _bt_data_page_show_error (self, _("Could not rename the class"), error);
      return;
    }
  _bt_data_page_rebuild_move_menu (self);
}

static void
class_setup_cb (GtkSignalListItemFactory *factory,
                GtkListItem              *list_item,
                BtDataPage               *self)
{
  GtkWidget *row = bt_class_row_new ();

  g_signal_connect_object (row, "rename", G_CALLBACK (class_row_rename_cb), self, 0);
  _bt_data_page_setup_row_dnd (self, row);
  gtk_list_item_set_child (list_item, row);
}

static void
class_bind_cb (GtkSignalListItemFactory *factory,
               GtkListItem              *list_item,
               BtDataPage               *self)
{
  BtClassRow *row = BT_CLASS_ROW (gtk_list_item_get_child (list_item));
  GObject *obj = gtk_list_item_get_item (list_item);

  if (BT_IS_CLASS_INFO (obj))
    bt_class_row_set_info (row, BT_CLASS_INFO (obj));
  else
    bt_class_row_set_all (row, self->project ? g_list_model_get_n_items (bt_project_get_items (self->project)) : 0);
  g_hash_table_add (self->class_rows, row);
  _bt_data_page_queue_status (self);
}

static void
class_unbind_cb (GtkSignalListItemFactory *factory,
                 GtkListItem              *list_item,
                 BtDataPage               *self)
{
  g_hash_table_remove (self->class_rows, gtk_list_item_get_child (list_item));
}

/* ---- Thumbnail cells ---- */

typedef struct {
  GWeakRef cell;
  char    *path;
} ThumbWait;

static void
thumb_wait_free (gpointer data)
{
  ThumbWait *w = data;

  g_weak_ref_clear (&w->cell);
  g_free (w->path);
  g_free (w);
}

static void
thumb_ready_cb (GdkTexture *texture, const GError *error, gpointer user_data)
{
  ThumbWait *w = user_data;
  g_autoptr(GtkWidget) cell = g_weak_ref_get (&w->cell);

  if (cell == NULL || g_strcmp0 (g_object_get_data (G_OBJECT (cell), "path"), w->path) != 0)
    return;
  g_object_set_data (G_OBJECT (cell), "request", NULL);
  bt_thumb_cell_set_texture (BT_THUMB_CELL (cell), texture, texture == NULL);
  if (texture == NULL && error != NULL)
    g_object_set_data_full (G_OBJECT (cell), "thumb-error", g_strdup (error->message), g_free);
}

static const char *
item_state (BtItem *item)
{
  if (bt_item_get_missing (item))
    return _("file missing");
  if (bt_item_get_excluded (item))
    return _("excluded from training");
  if (bt_item_get_duplicate (item))
    return _("duplicate");
  return "";
}

/* "name\nClass: … · Split: … · state": the cell's tooltip and accessible name. */
static char *
cell_describe (BtItem *item)
{
  g_autofree char *name = g_filename_display_name (item_basename (item));
  const char *split_names[] = { N_("training"), N_("validation"), N_("test") };
  const char *state = item_state (item);

  return g_strdup_printf (_("%s\nClass: %s · Split: %s%s%s"), name, bt_item_get_class_name (item),
                          _(split_names[bt_item_get_split (item)]), state[0] ? " · " : "", state);
}

static void
cell_sync (GtkWidget *cell, BtItem *item)
{
  BtThumbCell *thumb = BT_THUMB_CELL (cell);
  g_autofree char *name = g_filename_display_name (item_basename (item));
  g_autofree char *description = cell_describe (item);
  const char *badge = NULL;

  bt_thumb_cell_set_name (thumb, name);
  bt_thumb_cell_set_dimmed (thumb, bt_item_get_excluded (item));
  if (bt_item_get_missing (item))
    badge = "dialog-warning-symbolic";
  else if (bt_item_get_excluded (item))
    badge = "action-unavailable-symbolic";
  else if (bt_item_get_duplicate (item))
    badge = "edit-copy-symbolic";
  bt_thumb_cell_set_badge (thumb, badge);
  gtk_accessible_update_property (GTK_ACCESSIBLE (cell), GTK_ACCESSIBLE_PROPERTY_LABEL, description, -1);
  /* "All images" mixes the classes: each image says which it is (a class view rebinds its
   * cells when it is chosen, so the label goes away there) */
  {
    BtDataPage *page = BT_DATA_PAGE (gtk_widget_get_ancestor (cell, BT_TYPE_DATA_PAGE));
    int position = page && page->project ? bt_project_find_class (page->project, bt_item_get_class_name (item)) : -1;

    if (page != NULL && page->selected_class == NULL && position >= 0)
      {
        g_autoptr(BtClassInfo) info = g_list_model_get_item (bt_project_get_classes (page->project), position);
        GdkRGBA rgba;

        bt_class_color (bt_class_info_get_color (info), &rgba);
        bt_thumb_cell_set_class (thumb, bt_item_get_class_name (item), &rgba);
      }
    else
      bt_thumb_cell_set_class (thumb, NULL, NULL);
  }
}

/* Tooltips are built when asked for: gtk_widget_set_tooltip_text() asks the X server where
 * the pointer is, one round trip per bound cell, which made a big grid's first layout slow. */
static gboolean
cell_query_tooltip_cb (GtkWidget   *cell,
                       int          x,
                       int          y,
                       gboolean     keyboard,
                       GtkTooltip  *tooltip,
                       GtkListItem *list_item)
{
  BtItem *item = gtk_list_item_get_item (list_item);
  const char *error = g_object_get_data (G_OBJECT (cell), "thumb-error");
  g_autofree char *text = NULL;

  if (item == NULL)
    return FALSE;
  text = cell_describe (item);
  if (error != NULL)
    {
      g_autofree char *with_error = g_strdup_printf ("%s\n%s", text, error);
      gtk_tooltip_set_text (tooltip, with_error);
    }
  else
    gtk_tooltip_set_text (tooltip, text);
  return TRUE;
}

static void
cell_item_notify_cb (GtkWidget *cell, GParamSpec *pspec, BtItem *item)
{
  cell_sync (cell, item);
}

static gboolean
cell_right_click_idle_popup (BtDataPage *self, GtkWidget *cell, double x, double y)
{
  _bt_data_page_popup_item_menu (self, cell, x, y);
  return TRUE;
}

static void
cell_pressed_cb (GtkGestureClick *gesture, int n_press, double x, double y, GtkListItem *list_item)
{
  GtkWidget *cell = gtk_event_controller_get_widget (GTK_EVENT_CONTROLLER (gesture));
  BtDataPage *self = BT_DATA_PAGE (gtk_widget_get_ancestor (cell, BT_TYPE_DATA_PAGE));
  guint pos = gtk_list_item_get_position (list_item);

  if (self == NULL || pos == GTK_INVALID_LIST_POSITION)
    return;
  if (!gtk_selection_model_is_selected (GTK_SELECTION_MODEL (self->item_selection), pos))
    gtk_selection_model_select_item (GTK_SELECTION_MODEL (self->item_selection), pos, TRUE);
  gtk_gesture_set_state (GTK_GESTURE (gesture), GTK_EVENT_SEQUENCE_CLAIMED);
  cell_right_click_idle_popup (self, cell, x, y);
}

static void
grid_setup_cb (GtkSignalListItemFactory *factory,
               GtkListItem              *list_item,
               BtDataPage               *self)
{
  GtkWidget *cell = bt_thumb_cell_new (THUMB_SIZE);
  GtkGesture *click = gtk_gesture_click_new ();

  gtk_widget_set_margin_start (cell, 6);
  gtk_widget_set_margin_end (cell, 6);
  gtk_widget_set_margin_top (cell, 4);
  gtk_widget_set_margin_bottom (cell, 2);

  gtk_widget_set_has_tooltip (cell, TRUE);
  g_signal_connect_object (cell, "query-tooltip", G_CALLBACK (cell_query_tooltip_cb), list_item, 0);
  gtk_gesture_single_set_button (GTK_GESTURE_SINGLE (click), GDK_BUTTON_SECONDARY);
  g_signal_connect_object (click, "pressed", G_CALLBACK (cell_pressed_cb), list_item, 0);
  gtk_widget_add_controller (cell, GTK_EVENT_CONTROLLER (click));
  _bt_data_page_setup_cell_drag (self, cell, list_item);

  gtk_list_item_set_child (list_item, cell);
}

static void
grid_bind_cb (GtkSignalListItemFactory *factory,
              GtkListItem              *list_item,
              BtDataPage               *self)
{
  GtkWidget *cell = gtk_list_item_get_child (list_item);
  BtItem *item = gtk_list_item_get_item (list_item);
  const char *path = bt_item_get_path (item);
  GdkTexture *texture;
  gulong id;

  g_object_set_data_full (G_OBJECT (cell), "path", g_strdup (path), g_free);
  g_object_set_data (G_OBJECT (cell), "thumb-error", NULL);
  cell_sync (cell, item);
  id = g_signal_connect_object (item, "notify", G_CALLBACK (cell_item_notify_cb), cell, G_CONNECT_SWAPPED);
  g_object_set_data (G_OBJECT (list_item), "notify-id", GSIZE_TO_POINTER ((gsize) id));

  if (bt_item_get_missing (item))
    {
      bt_thumb_cell_set_texture (BT_THUMB_CELL (cell), NULL, TRUE);
      return;
    }
  texture = bt_thumbnailer_lookup (self->thumbnailer, path);
  bt_thumb_cell_set_texture (BT_THUMB_CELL (cell), texture, FALSE);
  if (texture == NULL)
    {
      ThumbWait *w = g_new0 (ThumbWait, 1);
      guint request;

      g_weak_ref_init (&w->cell, cell);
      w->path = g_strdup (path);
      request = bt_thumbnailer_request (self->thumbnailer, path, thumb_ready_cb, w, thumb_wait_free);
      g_object_set_data (G_OBJECT (list_item), "request", GUINT_TO_POINTER (request));
    }
}

static void
grid_unbind_cb (GtkSignalListItemFactory *factory,
                GtkListItem              *list_item,
                BtDataPage               *self)
{
  BtItem *item = gtk_list_item_get_item (list_item);
  guint request = GPOINTER_TO_UINT (g_object_get_data (G_OBJECT (list_item), "request"));
  gulong id = (gulong) GPOINTER_TO_SIZE (g_object_get_data (G_OBJECT (list_item), "notify-id"));

  /* A cell scrolled away stops waiting: fast scrolling never piles up decodes. */
  if (request != 0)
    bt_thumbnailer_cancel (self->thumbnailer, request);
  g_object_set_data (G_OBJECT (list_item), "request", NULL);
  if (id != 0 && item != NULL)
    g_signal_handler_disconnect (item, id);
  g_object_set_data (G_OBJECT (list_item), "notify-id", NULL);
}

static void
grid_activate_cb (BtDataPage *self, guint position)
{
  g_autoptr(BtItem) item = g_list_model_get_item (G_LIST_MODEL (self->item_selection), position);

  if (item != NULL)
    _bt_data_page_preview_item (self, item);
}

static void
item_selection_changed_cb (BtDataPage *self)
{
  _bt_data_page_update_actions (self);
}

static void
filter_pending_cb (BtDataPage *self)
{
  _bt_data_page_queue_status (self);
}

/* ---- Project ---- */

static void
project_changed_cb (BtDataPage *self)
{
  GtkFilterChange change = self->change_hint >= 0 ? (GtkFilterChange) self->change_hint
                                                  : GTK_FILTER_CHANGE_DIFFERENT;
  gboolean appended = self->change_hint == BT_DATA_PAGE_CHANGE_APPENDED;

  self->change_hint = -1;
  _bt_data_page_rebuild_move_menu (self);
  if (appended)
    {
      /* The filter model filters appended items itself; the shown ones did not change. */
      _bt_data_page_queue_status_appended (self);
      return;
    }
  _bt_data_page_refilter (self, change);
}

static void
project_save_failed_cb (BtDataPage *self, const GError *error)
{
  _bt_data_page_show_error (self, _("Your last change could not be saved"), error);
}

void
_bt_data_page_detach_items (BtDataPage *self)
{
  gtk_filter_list_model_set_model (self->item_filter_model, NULL);
}

void
_bt_data_page_attach_items (BtDataPage *self)
{
  GListModel *items;

  if (self->project == NULL)
    return;
  items = bt_project_get_items (self->project);
  /* Nothing is pending on a detached model, so switching incremental here is safe. */
  gtk_filter_list_model_set_model (self->item_filter_model, NULL);
  gtk_filter_list_model_set_incremental (self->item_filter_model,
                                         g_list_model_get_n_items (items) >= INCREMENTAL_FROM);
  gtk_filter_list_model_set_model (self->item_filter_model, items);
}

void
bt_data_page_set_project (BtDataPage *self, BtProject *project)
{
  g_return_if_fail (BT_IS_DATA_PAGE (self));
  g_return_if_fail (project == NULL || BT_IS_PROJECT (project));

  if (self->project == project)
    return;

  _bt_data_page_cancel_import (self);
  if (self->project != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->project, self);
      g_signal_handlers_disconnect_by_data (bt_undo_stack_get (self->project), self);
      g_clear_object (&self->project);
    }
  self->project = project ? g_object_ref (project) : NULL;

  g_clear_pointer (&self->selected_class, g_free);
  g_ptr_array_set_size (self->skipped_paths, 0);
  g_ptr_array_set_size (self->skipped_reasons, 0);
  self->n_duplicates = self->n_conflicts = 0;

  if (g_list_model_get_n_items (G_LIST_MODEL (self->class_sources)) > 1)
    g_list_store_remove (self->class_sources, 1);
  if (project != NULL)
    {
      g_list_store_append (self->class_sources, bt_project_get_classes (project));
      _bt_data_page_attach_items (self);
      g_signal_connect_object (project, "changed", G_CALLBACK (project_changed_cb), self, G_CONNECT_SWAPPED);
      g_signal_connect_object (project, "save-failed", G_CALLBACK (project_save_failed_cb), self,
                               G_CONNECT_SWAPPED);
      g_signal_connect_object (bt_undo_stack_get (project), "changed", G_CALLBACK (_bt_data_page_update_actions),
                               self, G_CONNECT_SWAPPED);
    }
  else
    gtk_filter_list_model_set_model (self->item_filter_model, NULL);
  gtk_single_selection_set_selected (self->class_selection, 0);

  _bt_data_page_rebuild_move_menu (self);
  _bt_data_page_refilter (self, GTK_FILTER_CHANGE_DIFFERENT);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PROJECT]);
}

BtProject *
bt_data_page_get_project (BtDataPage *self)
{
  g_return_val_if_fail (BT_IS_DATA_PAGE (self), NULL);

  return self->project;
}

void
_bt_data_page_set_busy (BtDataPage *self, gboolean busy)
{
  if (self->busy == busy)
    return;
  self->busy = busy;
  gtk_widget_set_visible (self->progress_box, busy);
  gtk_widget_set_visible (GTK_WIDGET (self->status_label), !busy);
  _bt_data_page_update_actions (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BUSY]);
  if (!busy)
    g_signal_emit (self, signals[SIGNAL_IMPORT_FINISHED], 0);
}

gboolean
bt_data_page_get_busy (BtDataPage *self)
{
  g_return_val_if_fail (BT_IS_DATA_PAGE (self), FALSE);

  return self->busy;
}

gboolean
bt_data_page_get_confirming (BtDataPage *self)
{
  g_return_val_if_fail (BT_IS_DATA_PAGE (self), FALSE);

  return self->pending_plan != NULL;
}

guint
bt_data_page_get_n_skipped (BtDataPage *self)
{
  g_return_val_if_fail (BT_IS_DATA_PAGE (self), 0);

  return self->skipped_paths->len;
}

const char *
bt_data_page_get_skipped_path (BtDataPage *self, guint index)
{
  g_return_val_if_fail (BT_IS_DATA_PAGE (self), NULL);
  g_return_val_if_fail (index < self->skipped_paths->len, NULL);

  return g_ptr_array_index (self->skipped_paths, index);
}

/* ---- Layout ---- */

/* GtkGridView keeps cells for about 32 rows of max-columns items. A fixed, generous
 * max-columns (40, for wide screens) made a big project's first layout build and bind ~1,300
 * cells at once; the page keeps it at what its width can show. The sidebar is at least
 * SIDEBAR_MIN_WIDTH and a cell at least THUMB_SIZE wide, so this never hides a column. */
#define SIDEBAR_MIN_WIDTH 200

static guint
grid_columns_for_width (int width)
{
  return (guint) MAX (1, (width - SIDEBAR_MIN_WIDTH) / THUMB_SIZE);
}

static gboolean
columns_idle_cb (gpointer data)
{
  BtDataPage *self = data;
  guint columns = grid_columns_for_width (gtk_widget_get_width (GTK_WIDGET (self)));

  self->columns_idle = 0;
  if (gtk_grid_view_get_max_columns (self->grid_view) != columns)
    gtk_grid_view_set_max_columns (self->grid_view, columns);
  return G_SOURCE_REMOVE;
}

static void
bt_data_page_measure (GtkWidget      *widget,
                      GtkOrientation  orientation,
                      int             for_size,
                      int            *minimum,
                      int            *natural,
                      int            *minimum_baseline,
                      int            *natural_baseline)
{
  gtk_widget_measure (BT_DATA_PAGE (widget)->overlay, orientation, for_size, minimum, natural,
                      minimum_baseline, natural_baseline);
}

static void
bt_data_page_size_allocate (GtkWidget *widget,
                            int        width,
                            int        height,
                            int        baseline)
{
  BtDataPage *self = BT_DATA_PAGE (widget);

  /* Changed after this allocation, not inside it. */
  if (gtk_grid_view_get_max_columns (self->grid_view) != grid_columns_for_width (width) && self->columns_idle == 0)
    self->columns_idle = g_idle_add_full (G_PRIORITY_HIGH_IDLE, columns_idle_cb, self, NULL);
  gtk_widget_allocate (self->overlay, width, height, baseline, NULL);
}

/* ---- GObject ---- */

static void
bt_data_page_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  BtDataPage *self = BT_DATA_PAGE (object);

  switch (prop_id)
    {
    case PROP_PROJECT:
      g_value_set_object (value, self->project);
      break;
    case PROP_BUSY:
      g_value_set_boolean (value, self->busy);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
bt_data_page_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  BtDataPage *self = BT_DATA_PAGE (object);

  switch (prop_id)
    {
    case PROP_PROJECT:
      bt_data_page_set_project (self, g_value_get_object (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
bt_data_page_dispose (GObject *object)
{
  BtDataPage *self = BT_DATA_PAGE (object);

  _bt_data_page_cancel_import (self);
  if (self->project != NULL)
    g_signal_handlers_disconnect_by_data (self->project, self);
  g_clear_handle_id (&self->status_idle, g_source_remove);
  g_clear_handle_id (&self->columns_idle, g_source_remove);
  g_clear_handle_id (&self->toast_timeout, g_source_remove);
  g_clear_pointer (&self->item_menu, gtk_widget_unparent);
  g_cancellable_cancel (self->camera_search);
  g_clear_object (&self->camera_search);

  gtk_widget_dispose_template (GTK_WIDGET (self), BT_TYPE_DATA_PAGE);

  g_clear_object (&self->thumbnailer);
  g_clear_object (&self->item_selection);
  g_clear_object (&self->item_filter_model);
  g_clear_object (&self->item_filter);
  g_clear_object (&self->class_selection);
  g_clear_object (&self->class_sources);
  g_clear_object (&self->all_store);
  g_clear_object (&self->move_to_menu);
  g_clear_object (&self->project);

  G_OBJECT_CLASS (bt_data_page_parent_class)->dispose (object);
}

static void
bt_data_page_finalize (GObject *object)
{
  BtDataPage *self = BT_DATA_PAGE (object);

  g_clear_pointer (&self->class_rows, g_hash_table_unref);
  g_clear_pointer (&self->skipped_paths, g_ptr_array_unref);
  g_clear_pointer (&self->skipped_reasons, g_ptr_array_unref);
  g_free (self->selected_class);
  g_free (self->search_casefold);
  g_free (self->status_text);
  g_free (self->toast_action);

  G_OBJECT_CLASS (bt_data_page_parent_class)->finalize (object);
}

static void
bt_data_page_class_init (BtDataPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = bt_data_page_dispose;
  object_class->finalize = bt_data_page_finalize;
  object_class->get_property = bt_data_page_get_property;
  object_class->set_property = bt_data_page_set_property;
  g_type_ensure (BT_TYPE_REVIEW_BUTTON);

  properties[PROP_PROJECT] =
    g_param_spec_object ("project", NULL, NULL, BT_TYPE_PROJECT,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_BUSY] =
    g_param_spec_boolean ("busy", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  signals[SIGNAL_IMPORT_FINISHED] =
    g_signal_new ("import-finished", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 0);

  gtk_widget_class_set_template_from_resource (widget_class, APP_ID_PATH "/ui/bt-data-page.ui");
  widget_class->measure = bt_data_page_measure;
  widget_class->size_allocate = bt_data_page_size_allocate;
  gtk_widget_class_set_css_name (widget_class, "btdatapage");

  gtk_widget_class_bind_template_child (widget_class, BtDataPage, overlay);
  gtk_widget_class_bind_template_child (widget_class, BtDataPage, toast_revealer);
  gtk_widget_class_bind_template_child (widget_class, BtDataPage, toast_label);
  gtk_widget_class_bind_template_child (widget_class, BtDataPage, toast_button);
  gtk_widget_class_bind_template_child (widget_class, BtDataPage, confirm_revealer);
  gtk_widget_class_bind_template_child (widget_class, BtDataPage, confirm_label);
  gtk_widget_class_bind_template_child (widget_class, BtDataPage, class_list);
  gtk_widget_class_bind_template_child (widget_class, BtDataPage, class_menu_button);
  gtk_widget_class_bind_template_child (widget_class, BtDataPage, search_entry);
  gtk_widget_class_bind_template_child (widget_class, BtDataPage, filter_dropdown);
  gtk_widget_class_bind_template_child (widget_class, BtDataPage, grid_stack);
  gtk_widget_class_bind_template_child (widget_class, BtDataPage, empty_title);
  gtk_widget_class_bind_template_child (widget_class, BtDataPage, empty_label);
  gtk_widget_class_bind_template_child (widget_class, BtDataPage, grid_view);
  gtk_widget_class_bind_template_child (widget_class, BtDataPage, status_label);
  gtk_widget_class_bind_template_child (widget_class, BtDataPage, split_button);
  gtk_widget_class_bind_template_child (widget_class, BtDataPage, split_train_spin);
  gtk_widget_class_bind_template_child (widget_class, BtDataPage, split_val_spin);
  gtk_widget_class_bind_template_child (widget_class, BtDataPage, split_test_spin);
  gtk_widget_class_bind_template_child (widget_class, BtDataPage, skipped_button);
  gtk_widget_class_bind_template_child (widget_class, BtDataPage, issues_label);
  gtk_widget_class_bind_template_child (widget_class, BtDataPage, issues_button);
  gtk_widget_class_bind_template_child (widget_class, BtDataPage, progress_box);
  gtk_widget_class_bind_template_child (widget_class, BtDataPage, progress_label);
  gtk_widget_class_bind_template_child (widget_class, BtDataPage, progress_bar);
  gtk_widget_class_bind_template_child (widget_class, BtDataPage, camera_button);
  gtk_widget_class_bind_template_callback (widget_class, toast_button_clicked_cb);
  gtk_widget_class_bind_template_callback (widget_class, toast_close_clicked_cb);
  gtk_widget_class_bind_template_callback (widget_class, search_changed_cb);
  gtk_widget_class_bind_template_callback (widget_class, filter_changed_cb);
  gtk_widget_class_bind_template_callback (widget_class, grid_activate_cb);

  _bt_data_page_class_actions_init (widget_class);
  _bt_data_page_photos_class_init (widget_class);
}

/* GTK 4.8 gives the focus to a menu button's inner button, which has no name of its own:
 * an icon-only menu button needs it set there too. */
static void
name_menu_button (GtkMenuButton *button, const char *name)
{
  for (GtkWidget *child = gtk_widget_get_first_child (GTK_WIDGET (button)); child;
       child = gtk_widget_get_next_sibling (child))
    if (GTK_IS_BUTTON (child))
      gtk_accessible_update_property (GTK_ACCESSIBLE (child), GTK_ACCESSIBLE_PROPERTY_LABEL, name, -1);
}

static void
bt_data_page_init (BtDataPage *self)
{
  GtkListItemFactory *factory;
  g_autoptr(GtkStringObject) all = gtk_string_object_new ("all");

  gtk_widget_init_template (GTK_WIDGET (self));
  name_menu_button (self->class_menu_button, _("Class Menu"));
  {
    /* the split percentages' bounds and steps are the settings table's (bt-settings.c) */
    GtkSpinButton *spins[] = { self->split_train_spin, self->split_val_spin, self->split_test_spin };
    const char *keys[] = { "split-train", "split-val", "split-test" };
    for (guint i = 0; i < G_N_ELEMENTS (spins); i++)
      {
        const BtSettingInfo *row = bt_settings_find (keys[i]);
        gtk_adjustment_configure (gtk_spin_button_get_adjustment (spins[i]), row->def, row->min, row->max,
                                  row->step, row->page, 0);
      }
  }

  self->change_hint = -1;
  self->class_rows = g_hash_table_new (NULL, NULL);
  self->skipped_paths = g_ptr_array_new_with_free_func (g_free);
  self->skipped_reasons = g_ptr_array_new_with_free_func (g_free);
  self->thumbnailer = bt_thumbnailer_new (THUMB_SIZE, THUMB_CACHE);

  /* Sidebar: "All images" first, then the project's classes. */
  self->all_store = g_list_store_new (G_TYPE_OBJECT);
  g_list_store_append (self->all_store, all);
  self->class_sources = g_list_store_new (G_TYPE_LIST_MODEL);
  g_list_store_append (self->class_sources, self->all_store);
  self->class_selection = gtk_single_selection_new (
    G_LIST_MODEL (gtk_flatten_list_model_new (G_LIST_MODEL (g_object_ref (self->class_sources)))));
  gtk_single_selection_set_autoselect (self->class_selection, TRUE);
  g_signal_connect_object (self->class_selection, "notify::selected", G_CALLBACK (class_selection_changed_cb),
                           self, G_CONNECT_SWAPPED);
  factory = gtk_signal_list_item_factory_new ();
  g_signal_connect_object (factory, "setup", G_CALLBACK (class_setup_cb), self, 0);
  g_signal_connect_object (factory, "bind", G_CALLBACK (class_bind_cb), self, 0);
  g_signal_connect_object (factory, "unbind", G_CALLBACK (class_unbind_cb), self, 0);
  gtk_list_view_set_factory (self->class_list, factory);
  g_object_unref (factory);
  gtk_list_view_set_model (self->class_list, GTK_SELECTION_MODEL (self->class_selection));

  /* Grid: project items → filter (incremental, so 100,000 items never block) → selection. */
  self->item_filter = gtk_custom_filter_new (item_filter_func, self, NULL);
  self->item_filter_model = gtk_filter_list_model_new (NULL, GTK_FILTER (g_object_ref (self->item_filter)));
  g_signal_connect_object (self->item_filter_model, "notify::pending", G_CALLBACK (filter_pending_cb),
                           self, G_CONNECT_SWAPPED);
  self->item_selection = gtk_multi_selection_new (G_LIST_MODEL (g_object_ref (self->item_filter_model)));
  g_signal_connect_object (self->item_selection, "selection-changed", G_CALLBACK (item_selection_changed_cb),
                           self, G_CONNECT_SWAPPED);
  factory = gtk_signal_list_item_factory_new ();
  g_signal_connect_object (factory, "setup", G_CALLBACK (grid_setup_cb), self, 0);
  g_signal_connect_object (factory, "bind", G_CALLBACK (grid_bind_cb), self, 0);
  g_signal_connect_object (factory, "unbind", G_CALLBACK (grid_unbind_cb), self, 0);
  gtk_grid_view_set_factory (self->grid_view, factory);
  g_object_unref (factory);
  gtk_grid_view_set_model (self->grid_view, GTK_SELECTION_MODEL (self->item_selection));

  /* Space previews; in capture phase, before the grid's own Space (select) binding. */
  {
    GtkEventController *shortcuts = gtk_shortcut_controller_new ();

    gtk_event_controller_set_propagation_phase (shortcuts, GTK_PHASE_CAPTURE);
    gtk_shortcut_controller_add_shortcut (GTK_SHORTCUT_CONTROLLER (shortcuts),
                                          gtk_shortcut_new (gtk_keyval_trigger_new (GDK_KEY_space, 0),
                                                            gtk_named_action_new ("data.preview")));
    gtk_widget_add_controller (GTK_WIDGET (self->grid_view), shortcuts);
  }

  self->move_to_menu = g_menu_new ();
  _bt_data_page_dnd_init (self);
  _bt_data_page_rebuild_move_menu (self);
  _bt_data_page_queue_status (self);
}
