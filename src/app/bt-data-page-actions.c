/* bt-data-page-actions.c: the Data page's actions and shortcuts (classes: add, rename,
 * delete with undo, reorder; images: move to class, exclude, restore, open, show, preview). */
#include "config.h"

#include <glib/gi18n.h>

#include "bt-class-row.h"
#include "bt-data-page-private.h"
#include "bt-dialogs.h"
#include "bt-image-preview.h"
#include "dataset/bt-undo.h"
#include "training/bt-export-dataset.h"

static GtkWindow *
page_window (BtDataPage *self)
{
  GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (self));

  return GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL;
}

static BtClassRow *
find_row (BtDataPage *self, const char *class_name)
{
  GHashTableIter iter;
  gpointer row;

  g_hash_table_iter_init (&iter, self->class_rows);
  while (g_hash_table_iter_next (&iter, &row, NULL))
    {
      BtClassInfo *info = bt_class_row_get_info (row);
      if (info != NULL && g_strcmp0 (bt_class_info_get_name (info), class_name) == 0)
        return row;
    }
  return NULL;
}

void
_bt_data_page_update_actions (BtDataPage *self)
{
  GtkWidget *w = GTK_WIDGET (self);
  gboolean has_project = self->project != NULL;
  gboolean has_class = has_project && self->selected_class != NULL;
  g_autoptr(GtkBitset) set = gtk_selection_model_get_selection (GTK_SELECTION_MODEL (self->item_selection));
  gboolean has_items = has_project && !gtk_bitset_is_empty (set);
  int position = has_class ? bt_project_find_class (self->project, self->selected_class) : -1;
  guint n_classes = has_project ? g_list_model_get_n_items (bt_project_get_classes (self->project)) : 0;

  gtk_widget_action_set_enabled (w, "data.add-class", has_project);
  gtk_widget_action_set_enabled (w, "data.rename-class", has_class);
  gtk_widget_action_set_enabled (w, "data.remove-class", has_class && !self->busy);
  /* not while an import adds images: an undone deletion would race it for the same files */
  gtk_widget_action_set_enabled (w, "data.undo", has_project && !self->busy
                                 && bt_undo_stack_can_undo (bt_undo_stack_get (self->project)));
  gtk_widget_action_set_enabled (w, "data.redo", has_project && !self->busy
                                 && bt_undo_stack_can_redo (bt_undo_stack_get (self->project)));
  gtk_widget_action_set_enabled (w, "data.move-class-up", position > 0);
  gtk_widget_action_set_enabled (w, "data.move-class-down", position >= 0 && (guint) position + 1 < n_classes);
  gtk_widget_action_set_enabled (w, "data.move-to", has_items);
  gtk_widget_action_set_enabled (w, "data.move-to-index", has_items);
  gtk_widget_action_set_enabled (w, "data.exclude", has_items);
  gtk_widget_action_set_enabled (w, "data.restore", has_items);
  gtk_widget_action_set_enabled (w, "data.open", has_items);
  gtk_widget_action_set_enabled (w, "data.show-in-files", has_items);
  gtk_widget_action_set_enabled (w, "data.preview", has_items);
  gtk_widget_action_set_enabled (w, "data.context-menu", has_items);
  gtk_widget_action_set_enabled (w, "data.add-images", has_project && !self->busy);
  gtk_widget_action_set_enabled (w, "data.add-folder", has_project && !self->busy);
  gtk_widget_action_set_enabled (w, "data.import-csv", has_project && !self->busy);
  gtk_widget_action_set_enabled (w, "data.cancel-import", self->busy);
  gtk_widget_action_set_enabled (w, "data.confirm-import", self->pending_plan != NULL);
  gtk_widget_action_set_enabled (w, "data.show-skipped", self->skipped_paths->len > 0);
  gtk_widget_action_set_enabled (w, "data.apply-split", has_project);
  gtk_widget_action_set_enabled (w, "data.export-dataset", has_project && !self->busy);
}

void
_bt_data_page_rebuild_move_menu (BtDataPage *self)
{
  GListModel *classes;
  guint n;

  g_menu_remove_all (self->move_to_menu);
  if (self->project == NULL)
    return;
  classes = bt_project_get_classes (self->project);
  n = g_list_model_get_n_items (classes);
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(BtClassInfo) info = g_list_model_get_item (classes, i);
      g_autoptr(GMenuItem) item = g_menu_item_new (bt_class_info_get_name (info), NULL);

      g_menu_item_set_action_and_target_value (item, "data.move-to",
                                               g_variant_new_string (bt_class_info_get_name (info)));
      if (i < 9)
        {
          g_autofree char *accel = g_strdup_printf ("<Control>%u", i + 1);
          g_menu_item_set_attribute (item, "accel", "s", accel);
        }
      g_menu_append_item (self->move_to_menu, item);
    }
}

/* ---- Classes ---- */

static gboolean
start_rename_idle (gpointer data)
{
  g_autoptr(BtDataPage) self = data;
  BtClassRow *row;

  if (self->selected_class != NULL && (row = find_row (self, self->selected_class)) != NULL)
    bt_class_row_start_rename (row);
  return G_SOURCE_REMOVE;
}

static void
add_class_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  BtDataPage *self = BT_DATA_PAGE (widget);
  g_autoptr(GError) error = NULL;
  g_autofree char *name = g_strdup (_("New Class"));

  for (guint i = 2; bt_project_find_class (self->project, name) >= 0; i++)
    {
      g_free (name);
      name = g_strdup_printf (_("New Class %u"), i);
    }
  if (!bt_project_add_class (self->project, name, &error))
    {
      _bt_data_page_show_error (self, _("Could not add a class"), error);
      return;
    }
  bt_data_page_select_class (self, name);
  /* The row for the new class is bound on the next layout. */
  g_idle_add (start_rename_idle, g_object_ref (self));
}

static void
rename_class_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  BtDataPage *self = BT_DATA_PAGE (widget);
  BtClassRow *row = find_row (self, self->selected_class);

  if (row != NULL)
    bt_class_row_start_rename (row);
}

static void
remove_class_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  BtDataPage *self = BT_DATA_PAGE (widget);
  g_autofree char *name = g_strdup (self->selected_class);
  g_autoptr(GError) error = NULL;
  g_autofree char *message = NULL;
  guint n_images = 0;
  int position = bt_project_find_class (self->project, name);
  gboolean ok;

  if (position < 0)
    return;
  {
    g_autoptr(BtClassInfo) info = g_list_model_get_item (bt_project_get_classes (self->project), position);
    n_images = bt_class_info_get_n_items (info);
  }

  _bt_data_page_detach_items (self);
  ok = bt_undo_stack_remove_class (bt_undo_stack_get (self->project), name, &error);
  _bt_data_page_attach_items (self);
  if (!ok)
    {
      _bt_data_page_show_error (self, _("Could not delete the class"), error);
      return;
    }
  message = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "Class “%s” deleted with its %u image. "
                                          "The image file stays where it is.",
                                          "Class “%s” deleted with its %u images. "
                                          "The image files stay where they are.", n_images),
                             name, n_images);
  _bt_data_page_show_toast (self, message, _("_Undo"), "data.undo");
  _bt_data_page_update_actions (self);
}

static gboolean
focus_is_inside (BtDataPage *self)
{
  GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (self));
  GtkWidget *focus = root ? gtk_root_get_focus (root) : NULL;

  return focus != NULL && (focus == GTK_WIDGET (self) || gtk_widget_is_ancestor (focus, GTK_WIDGET (self)));
}

/* Undo and redo replay steps that may bring back a class's thousands of images: the grid
 * takes them in one go, detached, as it does for a deletion. */
static void
undo_redo_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  BtDataPage *self = BT_DATA_PAGE (widget);
  gboolean undo = g_str_equal (action_name, "data.undo");
  g_autofree char *message = NULL;
  g_autofree char *keep_class = g_strdup (self->selected_class);
  g_autoptr(GError) error = NULL;
  gboolean had_focus;

  if (self->project == NULL)
    return;
  had_focus = focus_is_inside (self);
  _bt_data_page_detach_items (self);
  message = bt_undo_stack_step (bt_undo_stack_get (self->project), undo, &error);
  _bt_data_page_attach_items (self);
  /* The detached grid drops the focused cell (GTK 4.8 leaves the window's focus on the
   * unparented cell, where keys go nowhere): give the keyboard back to the grid. */
  if (had_focus && !focus_is_inside (self))
    gtk_widget_grab_focus (GTK_WIDGET (self->grid_view));
  if (error != NULL)
    {
      _bt_data_page_show_error (self, undo ? _("Could not undo") : _("Could not redo"), error);
      return;
    }
  if (message == NULL)
    return;
  if (keep_class != NULL && bt_project_find_class (self->project, keep_class) >= 0)
    bt_data_page_select_class (self, keep_class);
  _bt_data_page_rebuild_move_menu (self);
  _bt_data_page_show_toast (self, message, undo ? _("_Redo") : _("_Undo"), undo ? "data.redo" : "data.undo");
  _bt_data_page_update_actions (self);
}

/* The status line's "3 duplicates · 2 label conflicts": all images, filtered to the
 * duplicates; and the skipped files (conflicts among them) when the import skipped some. */
static void
show_duplicates_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  BtDataPage *self = BT_DATA_PAGE (widget);

  /* duplicates skipped by an import are not in the project: the skipped list shows them */
  if (self->status_counts[BT_N_SPLITS + 2] == 0 && self->skipped_paths->len > 0)
    {
      _bt_data_page_show_skipped (self);
      return;
    }
  bt_data_page_select_class (self, NULL);
  gtk_drop_down_set_selected (self->filter_dropdown, BT_DATA_FILTER_DUPLICATE);
}

static void
move_class_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  BtDataPage *self = BT_DATA_PAGE (widget);
  g_autoptr(GError) error = NULL;
  g_autofree char *name = g_strdup (self->selected_class);
  int position = bt_project_find_class (self->project, name);
  int delta = g_str_equal (action_name, "data.move-class-up") ? -1 : 1;

  if (position < 0 || position + delta < 0)
    return;
  if (!bt_undo_stack_move_class (bt_undo_stack_get (self->project), name, position + delta, &error))
    {
      _bt_data_page_show_error (self, _("Could not move the class"), error);
      return;
    }
  bt_data_page_select_class (self, name);
  _bt_data_page_update_actions (self);
}

/* ---- Images ---- */

static void
relabel_selection (BtDataPage *self, const char *class_name)
{
  g_autoptr(GPtrArray) items = _bt_data_page_get_selected_items (self, NULL);
  g_autoptr(GError) error = NULL;
  g_autofree char *message = NULL;

  if (items->len == 0)
    return;
  _bt_data_page_hint_change (self, GTK_FILTER_CHANGE_MORE_STRICT);
  if (!bt_undo_stack_relabel (bt_undo_stack_get (self->project), (BtItem * const *) items->pdata, items->len,
                              class_name, &error))
    {
      _bt_data_page_hint_change (self, -1);
      _bt_data_page_show_error (self, _("Could not move the images"), error);
      return;
    }
  message = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "Moved %u image to “%s”", "Moved %u images to “%s”",
                                          items->len), items->len, class_name);
  _bt_data_page_show_toast (self, message, _("_Undo"), "data.undo");
}

static void
move_to_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  relabel_selection (BT_DATA_PAGE (widget), g_variant_get_string (parameter, NULL));
}

static void
move_to_index_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  BtDataPage *self = BT_DATA_PAGE (widget);
  GListModel *classes = bt_project_get_classes (self->project);
  guint index = g_variant_get_uint32 (parameter);
  g_autoptr(BtClassInfo) info = NULL;

  if (index >= g_list_model_get_n_items (classes))
    return;
  info = g_list_model_get_item (classes, index);
  relabel_selection (self, bt_class_info_get_name (info));
}

static void
exclude_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  BtDataPage *self = BT_DATA_PAGE (widget);
  gboolean exclude = g_str_equal (action_name, "data.exclude");
  g_autoptr(GPtrArray) items = _bt_data_page_get_selected_items (self, NULL);
  g_autoptr(GError) error = NULL;
  g_autofree char *message = NULL;

  if (items->len == 0)
    return;
  _bt_data_page_hint_change (self, GTK_FILTER_CHANGE_MORE_STRICT);
  if (!bt_undo_stack_set_excluded (bt_undo_stack_get (self->project), (BtItem * const *) items->pdata, items->len,
                                   exclude, &error))
    {
      _bt_data_page_hint_change (self, -1);
      _bt_data_page_show_error (self, _("Could not change the images"), error);
      return;
    }
  if (exclude)
    message = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%u image excluded from training",
                                            "%u images excluded from training", items->len), items->len);
  else
    message = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%u image restored", "%u images restored",
                                            items->len), items->len);
  _bt_data_page_show_toast (self, message, _("_Undo"), "data.undo");
}

/* ---- Open, Show in Files ---- */

/* Opening or showing hundreds of files is never what was meant. */
#define MAX_OPEN 5
#define MAX_SHOW 100

#if GTK_CHECK_VERSION (4, 10, 0)
static void
launch_done_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(BtDataPage) self = user_data;
  g_autoptr(GError) error = NULL;

  if (!gtk_file_launcher_launch_finish (GTK_FILE_LAUNCHER (source), res, &error))
    _bt_data_page_show_error (self, _("Could not open the file"), error);
}

static void
show_done_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(BtDataPage) self = user_data;
  g_autoptr(GError) error = NULL;

  if (!gtk_file_launcher_open_containing_folder_finish (GTK_FILE_LAUNCHER (source), res, &error))
    _bt_data_page_show_error (self, _("Could not show the file in the file manager"), error);
}
#else
static void
launch_done_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(BtDataPage) self = user_data;
  g_autoptr(GError) error = NULL;

  if (!g_app_info_launch_default_for_uri_finish (res, &error))
    _bt_data_page_show_error (self, _("Could not open the file"), error);
}

static void
launch_uri (BtDataPage *self, const char *uri)
{
  g_autoptr(GAppLaunchContext) context = NULL;

  if (self->launch_uri_func != NULL)
    {
      self->launch_uri_func (self, uri, self->launch_uri_data);
      return;
    }
  context = G_APP_LAUNCH_CONTEXT (gdk_display_get_app_launch_context (gtk_widget_get_display (GTK_WIDGET (self))));
  g_app_info_launch_default_for_uri_async (uri, context, NULL, launch_done_cb, g_object_ref (self));
}

/* GTK 4.8 has no "open containing folder": ask the file manager over D-Bus to show the
 * files selected (org.freedesktop.FileManager1, which Files, Dolphin, Nemo and others
 * implement), and open the folder when nobody answers. Nothing here waits on the bus. */
typedef struct {
  BtDataPage *page;
  GStrv       uris;
} ShowJob;

static void
show_job_free (ShowJob *job)
{
  g_clear_object (&job->page);
  g_strfreev (job->uris);
  g_free (job);
}

static void
show_fallback (ShowJob *job)
{
  g_autoptr(GFile) file = g_file_new_for_uri (job->uris[0]);
  g_autoptr(GFile) folder = g_file_get_parent (file);
  g_autofree char *uri = g_file_get_uri (folder ? folder : file);

  launch_uri (job->page, uri);
  show_job_free (job);
}

static void
show_items_done_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  ShowJob *job = user_data;
  g_autoptr(GVariant) reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), res, NULL);

  if (reply == NULL)
    {
      show_fallback (job);
      return;
    }
  show_job_free (job);
}

static void
session_bus_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  ShowJob *job = user_data;
  g_autoptr(GDBusConnection) bus = g_bus_get_finish (res, NULL);

  if (bus == NULL)
    {
      show_fallback (job);
      return;
    }
  g_dbus_connection_call (bus, "org.freedesktop.FileManager1", "/org/freedesktop/FileManager1",
                          "org.freedesktop.FileManager1", "ShowItems",
                          g_variant_new ("(^ass)", job->uris, ""), NULL, G_DBUS_CALL_FLAGS_NONE, -1, NULL,
                          show_items_done_cb, job);
}
#endif

void
_bt_data_page_set_launch_uri (BtDataPage *self, BtLaunchUriFunc func, gpointer data)
{
  self->launch_uri_func = func;
  self->launch_uri_data = data;
}

static void
open_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  BtDataPage *self = BT_DATA_PAGE (widget);
  g_autoptr(GPtrArray) items = _bt_data_page_get_selected_items (self, NULL);

  for (guint i = 0; i < MIN (items->len, MAX_OPEN); i++)
    {
      g_autoptr(GFile) file = g_file_new_for_path (bt_item_get_path (g_ptr_array_index (items, i)));
#if GTK_CHECK_VERSION (4, 10, 0)
      g_autoptr(GtkFileLauncher) launcher = gtk_file_launcher_new (file);

      gtk_file_launcher_launch (launcher, page_window (self), NULL, launch_done_cb, g_object_ref (self));
#else
      g_autofree char *uri = g_file_get_uri (file);

      launch_uri (self, uri);
#endif
    }
}

static void
show_in_files_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  BtDataPage *self = BT_DATA_PAGE (widget);
  g_autoptr(GPtrArray) items = _bt_data_page_get_selected_items (self, NULL);

  if (items->len == 0)
    return;
#if GTK_CHECK_VERSION (4, 10, 0)
  {
    g_autoptr(GFile) file = g_file_new_for_path (bt_item_get_path (g_ptr_array_index (items, 0)));
    g_autoptr(GtkFileLauncher) launcher = gtk_file_launcher_new (file);

    gtk_file_launcher_open_containing_folder (launcher, page_window (self), NULL, show_done_cb,
                                              g_object_ref (self));
  }
#else
  {
    g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
    ShowJob *job = g_new0 (ShowJob, 1);

    for (guint i = 0; i < MIN (items->len, MAX_SHOW); i++)
      {
        g_autoptr(GFile) file = g_file_new_for_path (bt_item_get_path (g_ptr_array_index (items, i)));
        g_autofree char *uri = g_file_get_uri (file);

        g_strv_builder_add (builder, uri);
      }
    job->page = g_object_ref (self);
    job->uris = g_strv_builder_end (builder);
    g_bus_get (G_BUS_TYPE_SESSION, NULL, session_bus_cb, job);
  }
#endif
}

void
_bt_data_page_preview_item (BtDataPage *self, BtItem *item)
{
  BtImagePreview *preview = bt_image_preview_new (page_window (self), item);

  gtk_window_present (GTK_WINDOW (preview));
}

static void
preview_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  BtDataPage *self = BT_DATA_PAGE (widget);
  g_autoptr(GPtrArray) items = _bt_data_page_get_selected_items (self, NULL);

  if (items->len > 0)
    _bt_data_page_preview_item (self, g_ptr_array_index (items, 0));
}

void
_bt_data_page_popup_item_menu (BtDataPage *self, GtkWidget *widget, double x, double y)
{
  graphene_point_t in = GRAPHENE_POINT_INIT (x, y), out;

  if (self->item_menu == NULL)
    {
      g_autoptr(GMenu) menu = g_menu_new ();
      g_autoptr(GMenu) section = g_menu_new ();

      g_menu_append_submenu (section, _("_Move to Class"), G_MENU_MODEL (self->move_to_menu));
      g_menu_append_section (menu, NULL, G_MENU_MODEL (section));
      g_clear_object (&section);
      section = g_menu_new ();
      g_menu_append (section, _("_Exclude from Training"), "data.exclude");
      g_menu_append (section, _("_Restore"), "data.restore");
      g_menu_append_section (menu, NULL, G_MENU_MODEL (section));
      g_clear_object (&section);
      section = g_menu_new ();
      g_menu_append (section, _("_Preview"), "data.preview");
      g_menu_append (section, _("_Open"), "data.open");
      g_menu_append (section, _("Show in _Files"), "data.show-in-files");
      g_menu_append_section (menu, NULL, G_MENU_MODEL (section));

      self->item_menu = gtk_popover_menu_new_from_model (G_MENU_MODEL (menu));
      gtk_popover_set_has_arrow (GTK_POPOVER (self->item_menu), FALSE);
      gtk_widget_set_halign (self->item_menu, GTK_ALIGN_START);
      gtk_widget_set_parent (self->item_menu, GTK_WIDGET (self->grid_view));
    }
  if (!gtk_widget_compute_point (widget, GTK_WIDGET (self->grid_view), &in, &out))
    out = in;
  gtk_popover_set_pointing_to (GTK_POPOVER (self->item_menu),
                               &(GdkRectangle) { (int) out.x, (int) out.y, 1, 1 });
  gtk_popover_popup (GTK_POPOVER (self->item_menu));
}

static void
context_menu_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  BtDataPage *self = BT_DATA_PAGE (widget);
  GtkRoot *root = gtk_widget_get_root (widget);
  GtkWidget *focus = root ? gtk_root_get_focus (root) : NULL;

  if (focus != NULL && gtk_widget_is_ancestor (focus, GTK_WIDGET (self->grid_view)))
    _bt_data_page_popup_item_menu (self, focus, gtk_widget_get_width (focus) / 2.0,
                                   gtk_widget_get_height (focus) / 2.0);
  else
    _bt_data_page_popup_item_menu (self, GTK_WIDGET (self->grid_view), 24, 24);
}

/* ---- Adding files through choosers ---- */

static void
import_chosen (BtDataPage *self, GListModel *files, const char *class_name)
{
  g_autoptr(GSList) list = NULL;
  guint n = g_list_model_get_n_items (files);

  for (guint i = n; i > 0; i--)
    list = g_slist_prepend (list, g_list_model_get_item (files, i - 1));
  bt_data_page_import_files (self, list, class_name);
  g_slist_free_full (g_steal_pointer (&list), g_object_unref);
}

static void
images_chosen_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(BtDataPage) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GListModel) files = bt_dialogs_open_files_finish (res, &error);

  if (files == NULL)
    {
      _bt_data_page_show_error (self, _("No images added"), error);
      return;
    }
  import_chosen (self, files, self->selected_class);
}

static void
add_images_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  BtDataPage *self = BT_DATA_PAGE (widget);
  g_autoptr(GtkFileFilter) filter = bt_dialogs_image_filter_new ();

  bt_dialogs_open_files_async (page_window (self), _("Add Images"), filter, TRUE, NULL,
                               images_chosen_cb, g_object_ref (self));
}

static void
folder_chosen_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(BtDataPage) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GFile) folder = bt_dialogs_choose_folder_finish (res, &error);
  g_autoptr(GSList) list = NULL;

  if (folder == NULL)
    {
      _bt_data_page_show_error (self, _("No folder added"), error);
      return;
    }
  list = g_slist_prepend (NULL, folder);
  bt_data_page_import_files (self, list, NULL);
}

static void
add_folder_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  BtDataPage *self = BT_DATA_PAGE (widget);

  bt_dialogs_choose_folder_async (page_window (self), _("Add a Folder of Images"), _("_Add"), NULL,
                                  folder_chosen_cb, g_object_ref (self));
}

void
_bt_data_page_import_chosen_csv (BtDataPage *self, GListModel *files, const GError *error)
{
  g_autoptr(GFile) file = NULL;
  g_autofree char *path = NULL;

  if (files == NULL || g_list_model_get_n_items (files) == 0)
    {
      _bt_data_page_show_error (self, _("No CSV file imported"), error);
      return;
    }
  file = g_list_model_get_item (files, 0);
  path = g_file_get_path (file);
  if (path == NULL)
    {
      _bt_data_page_show_toast (self, _("Only files on this computer can be added"), NULL, NULL);
      return;
    }
  bt_data_page_import_csv (self, path);
}

static void
csv_chosen_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(BtDataPage) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GListModel) files = bt_dialogs_open_files_finish (res, &error);

  _bt_data_page_import_chosen_csv (self, files, error);
}

static void
import_csv_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  BtDataPage *self = BT_DATA_PAGE (widget);
  g_autoptr(GtkFileFilter) filter = gtk_file_filter_new ();

  gtk_file_filter_set_name (filter, _("CSV files"));
  gtk_file_filter_add_mime_type (filter, "text/csv");
  gtk_file_filter_add_suffix (filter, "csv");
  bt_dialogs_open_files_async (page_window (self), _("Import Labels from a CSV File"), filter, FALSE, NULL,
                               csv_chosen_cb, g_object_ref (self));
}

/* ---- Export as a folder-per-class tree ---- */

static void
export_done_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(BtDataPage) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *message = NULL;
  guint n_copied = 0, n_skipped = 0;

  if (!bt_export_dataset_finish (res, &n_copied, &n_skipped, &error))
    {
      _bt_data_page_show_error (self, _("Could not export the dataset"), error);
      return;
    }
  if (n_skipped > 0)
    message = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "Exported %u images; %u could not be read",
                                            "Exported %u images; %u could not be read", n_skipped),
                               n_copied, n_skipped);
  else
    message = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "Exported %u image, one folder per class",
                                            "Exported %u images, one folder per class", n_copied), n_copied);
  _bt_data_page_show_toast (self, message, NULL, NULL);
}

static void
export_folder_chosen_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(BtDataPage) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GFile) folder = bt_dialogs_choose_folder_finish (res, &error);
  g_autofree char *path = NULL;

  if (folder == NULL || self->project == NULL)
    {
      _bt_data_page_show_error (self, _("Nothing was exported"), error);
      return;
    }
  path = g_file_get_path (folder);
  if (path == NULL)
    {
      _bt_data_page_show_toast (self, _("Choose a folder on this computer"), NULL, NULL);
      return;
    }
  _bt_data_page_show_toast (self, _("Exporting the dataset…"), NULL, NULL);
  bt_export_dataset_async (self->project, path, NULL, export_done_cb, g_object_ref (self));
}

static void
export_dataset_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  BtDataPage *self = BT_DATA_PAGE (widget);

  bt_dialogs_choose_folder_async (page_window (self), _("Export the Dataset into an Empty Folder"),
                                  _("_Export"), NULL, export_folder_chosen_cb, g_object_ref (self));
}

/* ---- Import, status ---- */

static void
import_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  BtDataPage *self = BT_DATA_PAGE (widget);

  if (g_str_equal (action_name, "data.confirm-import"))
    _bt_data_page_confirm_import (self, TRUE);
  else if (self->pending_plan != NULL)
    _bt_data_page_confirm_import (self, FALSE);
  else
    _bt_data_page_cancel_import (self);
}

static void
show_skipped_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  _bt_data_page_show_skipped (BT_DATA_PAGE (widget));
}

static void
apply_split_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  BtDataPage *self = BT_DATA_PAGE (widget);
  BtProjectSettings settings = { 0, };
  g_autoptr(GError) error = NULL;
  int train = gtk_spin_button_get_value_as_int (self->split_train_spin);
  int val = gtk_spin_button_get_value_as_int (self->split_val_spin);
  int test = gtk_spin_button_get_value_as_int (self->split_test_spin);

  if (train + val + test != 100)
    {
      g_autofree char *message = g_strdup_printf (_("The three parts add up to %d%%; they must add up to 100%%"),
                                                  train + val + test);
      _bt_data_page_show_toast (self, message, NULL, NULL);
      return;
    }
  bt_project_settings_copy (&settings, bt_project_get_settings (self->project));
  settings.split_train = train;
  settings.split_val = val;
  settings.split_test = test;
  if (!bt_project_update_settings (self->project, &settings, &error))
    _bt_data_page_show_error (self, _("Could not change the split"), error);
  bt_project_settings_clear (&settings);
  gtk_menu_button_popdown (self->split_button);
}

static void
focus_search_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  gtk_widget_grab_focus (GTK_WIDGET (BT_DATA_PAGE (widget)->search_entry));
}

void
_bt_data_page_class_actions_init (GtkWidgetClass *widget_class)
{
  gtk_widget_class_install_action (widget_class, "data.add-class", NULL, add_class_action);
  gtk_widget_class_install_action (widget_class, "data.rename-class", NULL, rename_class_action);
  gtk_widget_class_install_action (widget_class, "data.remove-class", NULL, remove_class_action);
  gtk_widget_class_install_action (widget_class, "data.undo", NULL, undo_redo_action);
  gtk_widget_class_install_action (widget_class, "data.show-duplicates", NULL, show_duplicates_action);
  gtk_widget_class_install_action (widget_class, "data.redo", NULL, undo_redo_action);
  gtk_widget_class_install_action (widget_class, "data.move-class-up", NULL, move_class_action);
  gtk_widget_class_install_action (widget_class, "data.move-class-down", NULL, move_class_action);
  gtk_widget_class_install_action (widget_class, "data.move-to", "s", move_to_action);
  gtk_widget_class_install_action (widget_class, "data.move-to-index", "u", move_to_index_action);
  gtk_widget_class_install_action (widget_class, "data.exclude", NULL, exclude_action);
  gtk_widget_class_install_action (widget_class, "data.restore", NULL, exclude_action);
  gtk_widget_class_install_action (widget_class, "data.open", NULL, open_action);
  gtk_widget_class_install_action (widget_class, "data.show-in-files", NULL, show_in_files_action);
  gtk_widget_class_install_action (widget_class, "data.preview", NULL, preview_action);
  gtk_widget_class_install_action (widget_class, "data.context-menu", NULL, context_menu_action);
  gtk_widget_class_install_action (widget_class, "data.add-images", NULL, add_images_action);
  gtk_widget_class_install_action (widget_class, "data.add-folder", NULL, add_folder_action);
  gtk_widget_class_install_action (widget_class, "data.import-csv", NULL, import_csv_action);
  gtk_widget_class_install_action (widget_class, "data.confirm-import", NULL, import_action);
  gtk_widget_class_install_action (widget_class, "data.cancel-import", NULL, import_action);
  gtk_widget_class_install_action (widget_class, "data.show-skipped", NULL, show_skipped_action);
  gtk_widget_class_install_action (widget_class, "data.apply-split", NULL, apply_split_action);
  gtk_widget_class_install_action (widget_class, "data.focus-search", NULL, focus_search_action);
  gtk_widget_class_install_action (widget_class, "data.export-dataset", NULL, export_dataset_action);

  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_F2, 0, "data.rename-class", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_n, GDK_CONTROL_MASK | GDK_SHIFT_MASK,
                                       "data.add-class", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Up, GDK_ALT_MASK, "data.move-class-up", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Down, GDK_ALT_MASK, "data.move-class-down", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_z, GDK_CONTROL_MASK, "data.undo", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_z, GDK_CONTROL_MASK | GDK_SHIFT_MASK, "data.redo", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Z, GDK_CONTROL_MASK | GDK_SHIFT_MASK, "data.redo", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_y, GDK_CONTROL_MASK, "data.redo", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Delete, 0, "data.exclude", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_r, GDK_CONTROL_MASK, "data.restore", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Return, GDK_CONTROL_MASK, "data.open", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_o, GDK_CONTROL_MASK | GDK_ALT_MASK,
                                       "data.show-in-files", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Menu, 0, "data.context-menu", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_F10, GDK_SHIFT_MASK, "data.context-menu", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_f, GDK_CONTROL_MASK, "data.focus-search", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_i, GDK_CONTROL_MASK, "data.add-folder", NULL);
  for (guint i = 0; i < 9; i++)
    gtk_widget_class_add_binding_action (widget_class, GDK_KEY_1 + i, GDK_CONTROL_MASK, "data.move-to-index",
                                         "u", i);
}
