/* test-data-page.c: the Data page in a real window: drops (a GdkFileList emitted on the drop
 * targets, and text/uri-list bytes deserialized as a real drop is), relabel by drag, exclude,
 * rename/delete/undo, reopening the project, a hostile folder, thumbnails and the preview. */
#include "config.h"

#include <glib/gstdio.h>
#include <gtk/gtk.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bt-class-row.h"
#include "bt-data-page.h"
#include "bt-data-page-private.h"
#include "bt-image-preview.h"
#include "bt-test-screenshot.h"
#include "bt-thumb-cell.h"
#include "bt-thumbnailer.h"
#include "bt-test-keys.h"
#include "bt-test-screenshot.h"
#include "bt-test-input.h"
#include "bt-test-classes.h"
#include "bt-test-wait.h"
#include "bt-test-exit.h"

typedef struct {
  char       *root;      /* images live here */
  char       *dir;       /* the project */
  BtProject  *project;
  GtkWindow  *window;
  BtDataPage *page;
} Fixture;

static void
spin (void)
{
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

static void
write_png (const char *path, guint seed, int size)
{
  gsize n = (gsize) size * size * 3;
  g_autofree guint8 *pixels = g_malloc (n);
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GdkTexture) texture = NULL;

  for (gsize i = 0; i < n; i++)
    pixels[i] = (guint8) (seed * 131 + i * 7 + (i / 3) * seed);
  bytes = g_bytes_new_take (g_steal_pointer (&pixels), n);
  texture = gdk_memory_texture_new (size, size, GDK_MEMORY_R8G8B8, bytes, (gsize) size * 3);
  g_assert_true (gdk_texture_save_to_png (texture, path));
}

static char *
make_class_dir (Fixture *f, const char *rel, guint n, guint seed)
{
  char *dir = g_build_filename (f->root, rel, NULL);

  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *name = g_strdup_printf ("%s-%03u.png", rel, i);
      g_autofree char *path = NULL;

      g_strdelimit (name, "/", '_');
      path = g_build_filename (dir, name, NULL);
      write_png (path, seed + i, 8);
    }
  return dir;
}

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  f->root = g_dir_make_tmp ("bt-test-data-page-XXXXXX", NULL);
  g_assert_nonnull (f->root);
  f->dir = g_build_filename (f->root, "project", NULL);
  f->project = bt_project_create (f->dir, "Test", &error);
  g_assert_no_error (error);

  f->window = GTK_WINDOW (gtk_window_new ());
  gtk_window_set_default_size (f->window, 1000, 700);
  f->page = g_object_new (BT_TYPE_DATA_PAGE, NULL);
  gtk_window_set_child (f->window, GTK_WIDGET (f->page));
  bt_data_page_set_project (f->page, f->project);
  gtk_window_present (f->window);
  spin ();
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", f->root);

  gtk_window_destroy (f->window);
  spin ();
  g_clear_object (&f->project);
  g_assert_cmpint (system (cmd), ==, 0);
  g_free (f->dir);
  g_free (f->root);
}

/* Waits for an import to end (or to ask for confirmation) and for the grid to settle. */
static void
wait_import (Fixture *f)
{
  GtkSelectionModel *selection = bt_data_page_get_selection (f->page);
  GtkFilterListModel *filter = GTK_FILTER_LIST_MODEL (gtk_multi_selection_get_model (GTK_MULTI_SELECTION (selection)));

  BT_TEST_WAIT (!bt_data_page_get_busy (f->page) || bt_data_page_get_confirming (f->page));
  BT_TEST_WAIT (gtk_filter_list_model_get_pending (filter) == 0);
  spin ();
}

static GtkDropTarget *
find_drop_target (GtkWidget *widget, GType type)
{
  g_autoptr(GListModel) controllers = gtk_widget_observe_controllers (widget);

  for (guint i = 0; i < g_list_model_get_n_items (controllers); i++)
    {
      g_autoptr(GtkEventController) c = g_list_model_get_item (controllers, i);
      gsize n = 0;
      const GType *types;

      if (!GTK_IS_DROP_TARGET (c))
        continue;
      types = gtk_drop_target_get_gtypes (GTK_DROP_TARGET (c), &n);
      for (gsize k = 0; k < n; k++)
        if (types[k] == type)
          return GTK_DROP_TARGET (c);
    }
  return NULL;
}

static BtClassRow *
find_row (Fixture *f, const char *name)
{
  BtClassRow *row;

  spin ();
  row = bt_test_find_class_row (GTK_WIDGET (f->page), name);
  g_assert_nonnull (row);
  return row;
}

/* Selects a class as a person does: a click on its row in the sidebar (NULL: "All Images"). */
static void
click_class (Fixture *f, const char *name)
{
  spin ();
  bt_test_click_class (GTK_WIDGET (f->page), name);
}

/* Clicks the button on show that runs action: the confirmation bar's, the status bar's. */
static void
click_action_button (Fixture *f, const char *action)
{
  GtkWidget *button;

  /* on show once the window is (a fresh window maps after its first frames) */
  BT_TEST_WAIT ((button = bt_test_find_action_button (GTK_WIDGET (f->page), action, TRUE)) != NULL);
  bt_test_click (button);
}

/* Opens the class menu (the button under the class list) and clicks its item. */
static void
click_class_menu_item (Fixture *f, const char *item)
{
  GtkWidget *button = GTK_WIDGET (gtk_widget_get_template_child (GTK_WIDGET (f->page), BT_TYPE_DATA_PAGE,
                                                                 "class_menu_button"));
  GtkWidget *menu = GTK_WIDGET (gtk_menu_button_get_popover (GTK_MENU_BUTTON (button)));

  bt_test_click (button);
  BT_TEST_WAIT (gtk_widget_get_mapped (menu));
  bt_test_click_button (menu, item);
  BT_TEST_WAIT (!gtk_widget_get_mapped (menu));
}

/* A key pressed with the keyboard focus in the thumbnail grid (where the images were picked). */
static void
grid_key (Fixture *f, guint keyval, GdkModifierType mods)
{
  gtk_widget_grab_focus (GTK_WIDGET (gtk_widget_get_template_child (GTK_WIDGET (f->page), BT_TYPE_DATA_PAGE,
                                                                    "grid_view")));
  bt_test_press_key (f->window, keyval, mods);
}

static gboolean
emit_value_drop (GtkDropTarget *target, const GValue *value)
{
  gboolean ret = FALSE;

  g_assert_nonnull (target);
  g_signal_emit_by_name (target, "drop", value, 10.0, 10.0, &ret);
  return ret;
}

static gboolean
emit_file_drop (GtkWidget *widget, const char * const *paths)
{
  g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func (g_object_unref);
  g_auto(GValue) value = G_VALUE_INIT;

  for (guint i = 0; paths[i] != NULL; i++)
    g_ptr_array_add (files, g_file_new_for_path (paths[i]));
  g_value_init (&value, GDK_TYPE_FILE_LIST);
  g_value_take_boxed (&value, gdk_file_list_new_from_array ((GFile **) files->pdata, files->len));
  return emit_value_drop (find_drop_target (widget, GDK_TYPE_FILE_LIST), &value);
}

static int
class_count (Fixture *f, const char *name)
{
  GListModel *classes = bt_project_get_classes (f->project);

  for (guint i = 0; i < g_list_model_get_n_items (classes); i++)
    {
      g_autoptr(BtClassInfo) info = g_list_model_get_item (classes, i);
      if (g_str_equal (bt_class_info_get_name (info), name))
        return (int) bt_class_info_get_n_items (info);
    }
  return -1;
}

static guint
n_classes (Fixture *f)
{
  return g_list_model_get_n_items (bt_project_get_classes (f->project));
}

static guint
n_shown (Fixture *f)
{
  return g_list_model_get_n_items (G_LIST_MODEL (bt_data_page_get_selection (f->page)));
}

static guint
n_excluded (BtProject *project)
{
  GListModel *items = bt_project_get_items (project);
  guint n = 0;

  for (guint i = 0; i < g_list_model_get_n_items (items); i++)
    {
      g_autoptr(BtItem) item = g_list_model_get_item (items, i);
      n += bt_item_get_excluded (item);
    }
  return n;
}

/* Two classes from two dropped folders: cats 12, dogs 3. */
static void
import_cats_and_dogs (Fixture *f)
{
  g_autofree char *cats = make_class_dir (f, "cats", 12, 100);
  g_autofree char *dogs = make_class_dir (f, "dogs", 3, 200);
  const char *paths[] = { cats, dogs, NULL };

  g_assert_true (emit_file_drop (GTK_WIDGET (f->page), paths));
  g_assert_true (bt_data_page_get_busy (f->page));
  wait_import (f);
}

static void
test_drop_folders (Fixture *f, gconstpointer data)
{
  import_cats_and_dogs (f);

  g_assert_cmpuint (n_classes (f), ==, 2);
  g_assert_cmpint (class_count (f, "cats"), ==, 12);
  g_assert_cmpint (class_count (f, "dogs"), ==, 3);
  /* "All images" is selected: the grid shows everything. */
  g_assert_cmpuint (n_shown (f), ==, 15);
  g_assert_nonnull (strstr (bt_data_page_get_status_text (f->page), "15"));
  g_assert_nonnull (strstr (bt_data_page_get_notification (f->page), "15"));
  g_assert_cmpuint (bt_data_page_get_n_skipped (f->page), ==, 0);

  click_class (f, "dogs");
  wait_import (f);
  g_assert_cmpuint (n_shown (f), ==, 3);
}

typedef struct {
  GValue value;
  GError *error;
  gboolean done;
} Deserialized;

static void
deserialized_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  Deserialized *d = user_data;
  const GValue *value;

  if (gdk_content_deserialize_finish (res, &d->value, &d->error))
    {
      value = &d->value;
      g_assert_true (G_VALUE_HOLDS (value, GDK_TYPE_FILE_LIST));
    }
  d->done = TRUE;
}

static void
test_drop_uri_list (Fixture *f, gconstpointer data)
{
  g_autofree char *birds = make_class_dir (f, "birds", 4, 300);
  g_autofree char *uri = g_filename_to_uri (birds, NULL, NULL);
  /* What a file manager sends: a comment line and CRLF endings (RFC 2483). */
  g_autofree char *text = g_strdup_printf ("# dragged from Files\r\n%s\r\n", uri);
  g_autoptr(GInputStream) stream = g_memory_input_stream_new_from_data (g_strdup (text), strlen (text), g_free);
  Deserialized d = { G_VALUE_INIT, NULL, FALSE };

  g_value_init (&d.value, GDK_TYPE_FILE_LIST);
  gdk_content_deserialize_async (stream, "text/uri-list", GDK_TYPE_FILE_LIST, G_PRIORITY_DEFAULT, NULL,
                                 deserialized_cb, &d);
  BT_TEST_WAIT (d.done);
  g_assert_no_error (d.error);

  g_assert_true (emit_value_drop (find_drop_target (GTK_WIDGET (f->page), GDK_TYPE_FILE_LIST), &d.value));
  g_value_unset (&d.value);
  wait_import (f);
  g_assert_cmpint (class_count (f, "birds"), ==, 4);
}

static void
test_drop_folder_of_folders (Fixture *f, gconstpointer data)
{
  g_autofree char *a = make_class_dir (f, "zoo/lion", 10, 400);
  g_autofree char *b = make_class_dir (f, "zoo/tiger", 11, 500);
  g_autofree char *zoo = g_build_filename (f->root, "zoo", NULL);
  const char *paths[] = { zoo, NULL };

  /* Declined first: nothing changes. */
  g_assert_true (emit_file_drop (GTK_WIDGET (f->page), paths));
  wait_import (f);
  g_assert_true (bt_data_page_get_confirming (f->page));
  click_action_button (f, "data.cancel-import");
  wait_import (f);
  g_assert_false (bt_data_page_get_busy (f->page));
  g_assert_cmpuint (n_classes (f), ==, 0);

  g_assert_true (emit_file_drop (GTK_WIDGET (f->page), paths));
  wait_import (f);
  g_assert_true (bt_data_page_get_confirming (f->page));
  click_action_button (f, "data.confirm-import");
  wait_import (f);
  g_assert_false (bt_data_page_get_busy (f->page));
  g_assert_cmpuint (n_classes (f), ==, 2);
  g_assert_cmpint (class_count (f, "lion"), ==, 10);
  g_assert_cmpint (class_count (f, "tiger"), ==, 11);
}

static void
test_drop_onto_class (Fixture *f, gconstpointer data)
{
  g_autofree char *more = NULL;
  g_autofree char *loose = NULL;
  const char *paths[3] = { NULL, };

  import_cats_and_dogs (f);
  more = make_class_dir (f, "more-dogs", 5, 600);
  loose = g_build_filename (f->root, "puppy.png", NULL);
  write_png (loose, 700, 8);
  paths[0] = more;
  paths[1] = loose;

  g_assert_true (emit_file_drop (GTK_WIDGET (find_row (f, "dogs")), paths));
  wait_import (f);
  g_assert_cmpint (class_count (f, "dogs"), ==, 3 + 5 + 1);
  g_assert_cmpint (class_count (f, "more-dogs"), ==, -1);
  g_assert_cmpuint (n_classes (f), ==, 2);
}

static void
test_relabel_by_drag (Fixture *f, gconstpointer data)
{
  GtkSelectionModel *selection;
  g_autoptr(BtItem) first = NULL;
  g_autoptr(BtItem) unselected = NULL;
  g_auto(GValue) value = G_VALUE_INIT;
  GtkDropTarget *target;

  import_cats_and_dogs (f);
  click_class (f, "cats");
  wait_import (f);
  selection = bt_data_page_get_selection (f->page);
  g_assert_cmpuint (n_shown (f), ==, 12);
  gtk_selection_model_select_range (selection, 0, 3, TRUE);
  first = g_list_model_get_item (G_LIST_MODEL (selection), 0);
  unselected = g_list_model_get_item (G_LIST_MODEL (selection), 5);

  /* Dragging one thumbnail of a selection carries the whole selection. */
  target = find_drop_target (GTK_WIDGET (find_row (f, "dogs")), BT_TYPE_ITEM);
  g_value_init (&value, BT_TYPE_ITEM);
  g_value_set_object (&value, first);
  g_assert_true (emit_value_drop (target, &value));
  wait_import (f);
  g_assert_cmpint (class_count (f, "cats"), ==, 9);
  g_assert_cmpint (class_count (f, "dogs"), ==, 6);
  g_assert_cmpstr (bt_item_get_class_name (first), ==, "dogs");
  g_assert_cmpuint (n_shown (f), ==, 9);

  /* A thumbnail outside the selection moves alone. */
  gtk_selection_model_select_item (selection, 0, TRUE);
  g_value_set_object (&value, unselected);
  g_assert_true (emit_value_drop (target, &value));
  wait_import (f);
  g_assert_cmpint (class_count (f, "cats"), ==, 8);
  g_assert_cmpstr (bt_item_get_class_name (unselected), ==, "dogs");
}

static GtkEventController *
find_controller (GtkWidget *widget, GType type)
{
  g_autoptr(GListModel) controllers = gtk_widget_observe_controllers (widget);

  for (guint i = 0; i < g_list_model_get_n_items (controllers); i++)
    {
      g_autoptr(GtkEventController) c = g_list_model_get_item (controllers, i);

      if (G_TYPE_CHECK_INSTANCE_TYPE (c, type))
        return c;
    }
  return NULL;
}

static char *
class_order (BtProject *project)
{
  GListModel *classes = bt_project_get_classes (project);
  GString *s = g_string_new (NULL);

  for (guint i = 0; i < g_list_model_get_n_items (classes); i++)
    {
      g_autoptr(BtClassInfo) info = g_list_model_get_item (classes, i);
      g_string_append_printf (s, "%s%s", i ? " " : "", bt_class_info_get_name (info));
    }
  return g_string_free (s, FALSE);
}

/* Drops the class named dragged on the row of onto (NULL: "All images"), in its upper or
 * lower half, after a motion over the same place, as a real drag does. */
static gboolean
drop_class_on_row (Fixture *f, const char *dragged, const char *onto, gboolean lower_half)
{
  GtkWidget *row = onto ? GTK_WIDGET (find_row (f, onto)) : GTK_WIDGET (bt_test_find_class_row (GTK_WIDGET (f->page), NULL));
  GtkDropTarget *target = find_drop_target (row, BT_TYPE_CLASS_INFO);
  GListModel *classes = bt_project_get_classes (f->project);
  g_autoptr(BtClassInfo) info = g_list_model_get_item (classes, bt_project_find_class (f->project, dragged));
  g_auto(GValue) value = G_VALUE_INIT;
  gint64 end = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  /* A row of a just reordered list gets its size with the next frame (saves no longer block
   * the main loop, so the test can get here before that frame). */
  while (gtk_widget_get_height (row) <= 4 && g_get_monotonic_time () < end)
    g_main_context_iteration (NULL, TRUE);
  double y = lower_half ? gtk_widget_get_height (row) - 1 : 1;
  GdkDragAction action = 0;
  gboolean dropped = FALSE;

  g_assert_nonnull (target);
  g_assert_cmpint (gtk_widget_get_height (row), >, 4);
  g_signal_emit_by_name (target, "motion", 10.0, y, &action);
  g_assert_cmpint (action, ==, GDK_ACTION_MOVE);
  if (onto != NULL)
    g_assert_cmpint (bt_class_row_get_drop (BT_CLASS_ROW (row)), ==,
                     lower_half ? BT_CLASS_ROW_DROP_AFTER : BT_CLASS_ROW_DROP_BEFORE);
  g_value_init (&value, BT_TYPE_CLASS_INFO);
  g_value_set_object (&value, info);
  g_signal_emit_by_name (target, "drop", &value, 10.0, y, &dropped);
  if (!dropped)
    return FALSE;
  g_assert_cmpint (bt_class_row_get_drop (BT_CLASS_ROW (row)), ==, BT_CLASS_ROW_DROP_NONE);
  wait_import (f);
  return TRUE;
}

static void
test_reorder_by_drag (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(BtProject) reopened = NULL;
  g_autofree char *order = NULL;
  GtkDragSource *source;
  g_autoptr(GdkContentProvider) content = NULL;
  g_autoptr(GdkContentProvider) none = NULL;
  g_autoptr(GdkContentFormats) formats = NULL;
  g_auto(GValue) value = G_VALUE_INIT;

  import_cats_and_dogs (f);
  g_assert_true (bt_project_add_class (f->project, "birds", &error));
  g_assert_no_error (error);
  wait_import (f);
  order = class_order (f->project);
  g_assert_cmpstr (order, ==, "cats dogs birds");
  click_class (f, "cats");
  wait_import (f);

  /* A class row's drag carries its BtClassInfo: not an image, not files. */
  source = GTK_DRAG_SOURCE (find_controller (GTK_WIDGET (find_row (f, "birds")), GTK_TYPE_DRAG_SOURCE));
  g_assert_nonnull (source);
  g_signal_emit_by_name (source, "prepare", 5.0, 5.0, &content);
  g_assert_nonnull (content);
  formats = gdk_content_provider_ref_formats (content);
  g_assert_true (gdk_content_formats_contain_gtype (formats, BT_TYPE_CLASS_INFO));
  g_assert_false (gdk_content_formats_contain_gtype (formats, BT_TYPE_ITEM));
  g_assert_false (gdk_content_formats_contain_gtype (formats, GDK_TYPE_FILE_LIST));
  g_value_init (&value, BT_TYPE_CLASS_INFO);
  g_assert_true (gdk_content_provider_get_value (content, &value, NULL));
  g_assert_cmpstr (bt_class_info_get_name (g_value_get_object (&value)), ==, "birds");
  /* "All images" cannot be dragged. */
  source = GTK_DRAG_SOURCE (find_controller (GTK_WIDGET (bt_test_find_class_row (GTK_WIDGET (f->page), NULL)),
                                             GTK_TYPE_DRAG_SOURCE));
  g_assert_nonnull (source);
  g_signal_emit_by_name (source, "prepare", 5.0, 5.0, &none);
  g_assert_null (none);

  /* Upper half of a row: before it; lower half: after it; "All images": first. */
  g_assert_true (drop_class_on_row (f, "birds", "cats", FALSE));
  g_free (order);
  order = class_order (f->project);
  g_assert_cmpstr (order, ==, "birds cats dogs");
  g_assert_true (drop_class_on_row (f, "birds", "dogs", TRUE));
  g_free (order);
  order = class_order (f->project);
  g_assert_cmpstr (order, ==, "cats dogs birds");
  g_assert_true (drop_class_on_row (f, "dogs", NULL, TRUE));
  g_free (order);
  order = class_order (f->project);
  g_assert_cmpstr (order, ==, "dogs cats birds");
  /* The selected class stayed selected through the moves. */
  g_assert_cmpuint (n_shown (f), ==, 12);

  /* The keyboard still reorders (Alt+Down on the selected class). */
  click_class (f, "cats");
  bt_test_press_key (f->window, GDK_KEY_Down, GDK_ALT_MASK);
  g_free (order);
  order = class_order (f->project);
  g_assert_cmpstr (order, ==, "dogs birds cats");

  g_assert_true (bt_project_flush (f->project, &error));  /* saves run on a writer thread */
  reopened = bt_project_open (f->dir, &error);
  g_assert_no_error (error);
  g_free (order);
  order = class_order (reopened);
  g_assert_cmpstr (order, ==, "dogs birds cats");
}

static void
test_drop_position (void)
{
  /* from, onto, after → new position, for a list of four classes */
  static const struct { guint from, onto; gboolean after; guint expected; } cases[] = {
    { 0, 2, TRUE, 2 }, { 0, 2, FALSE, 1 }, { 3, 0, FALSE, 0 }, { 3, 0, TRUE, 1 },
    { 1, 1, FALSE, 1 }, { 1, 1, TRUE, 1 }, { 1, 0, TRUE, 1 }, { 0, 3, TRUE, 3 }, { 2, 1, FALSE, 1 },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    g_assert_cmpuint (bt_class_drop_position (cases[i].from, cases[i].onto, cases[i].after), ==, cases[i].expected);
}

static void
test_exclude_restore (Fixture *f, gconstpointer data)
{
  GtkSelectionModel *selection;
  GtkDropDown *filter;

  import_cats_and_dogs (f);
  selection = bt_data_page_get_selection (f->page);
  gtk_selection_model_select_range (selection, 2, 2, TRUE);
  grid_key (f, GDK_KEY_Delete, 0);
  wait_import (f);
  g_assert_cmpuint (n_excluded (f->project), ==, 2);
  g_assert_nonnull (strstr (bt_data_page_get_status_text (f->page), "excluded 2"));

  /* The "Excluded" filter shows exactly them; restore from there. */
  filter = GTK_DROP_DOWN (gtk_widget_get_template_child (GTK_WIDGET (f->page), BT_TYPE_DATA_PAGE,
                                                         "filter_dropdown"));
  gtk_drop_down_set_selected (filter, 4);
  wait_import (f);
  g_assert_cmpuint (n_shown (f), ==, 2);
  gtk_selection_model_select_all (selection);
  grid_key (f, GDK_KEY_r, GDK_CONTROL_MASK);
  wait_import (f);
  g_assert_cmpuint (n_excluded (f->project), ==, 0);
  g_assert_cmpuint (n_shown (f), ==, 0);
}

static GtkWidget *
find_type (GtkWidget *widget, GType type)
{
  if (G_TYPE_CHECK_INSTANCE_TYPE (widget, type))
    return widget;
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child; child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *found = find_type (child, type);
      if (found != NULL)
        return found;
    }
  return NULL;
}

/* Whether the keyboard focus is widget or inside it (an entry's focus is its text child). */
static gboolean
focus_in (GtkWindow *window, GtkWidget *widget)
{
  GtkWidget *focus = gtk_root_get_focus (GTK_ROOT (window));
  return focus != NULL && (focus == widget || gtk_widget_is_ancestor (focus, widget));
}

/* F2 on the class, type the new name, Enter: as a person renames a class. */
static void
rename_in_place (Fixture *f, const char *from, const char *to)
{
  GtkWidget *entry;

  click_class (f, from);
  wait_import (f);
  bt_test_press_key (f->window, GDK_KEY_F2, 0);
  entry = find_type (GTK_WIDGET (find_row (f, from)), GTK_TYPE_ENTRY);
  g_assert_nonnull (entry);
  BT_TEST_WAIT (focus_in (f->window, entry));
  gtk_editable_set_text (GTK_EDITABLE (entry), to);
  bt_test_press_key (f->window, GDK_KEY_Return, 0);
  wait_import (f);
}

static void
test_rename_delete_undo (Fixture *f, gconstpointer data)
{
  GtkSelectionModel *selection;
  g_autoptr(BtProject) reopened = NULL;
  g_autoptr(GError) error = NULL;

  import_cats_and_dogs (f);

  /* F2 on the selected class, type, Enter. */
  rename_in_place (f, "dogs", "wolves");
  g_assert_cmpint (class_count (f, "dogs"), ==, -1);
  g_assert_cmpint (class_count (f, "wolves"), ==, 3);
  g_assert_cmpuint (n_shown (f), ==, 3);

  /* Exclude one wolf, then delete the class and undo: all comes back as it was. */
  selection = bt_data_page_get_selection (f->page);
  gtk_selection_model_select_item (selection, 1, TRUE);
  grid_key (f, GDK_KEY_Delete, 0);
  g_assert_cmpuint (n_excluded (f->project), ==, 1);
  click_class (f, "cats");
  bt_test_click (bt_test_find_action_button (GTK_WIDGET (f->page), "data.move-class-down", TRUE));
  g_assert_cmpint (bt_project_find_class (f->project, "cats"), ==, 1);

  click_class (f, "wolves");
  click_class_menu_item (f, "Delete Class");
  wait_import (f);
  g_assert_cmpint (class_count (f, "wolves"), ==, -1);
  g_assert_cmpuint (g_list_model_get_n_items (bt_project_get_items (f->project)), ==, 12);
  g_assert_nonnull (strstr (bt_data_page_get_notification (f->page), "wolves"));

  grid_key (f, GDK_KEY_z, GDK_CONTROL_MASK);
  wait_import (f);
  g_assert_cmpint (class_count (f, "wolves"), ==, 3);
  g_assert_cmpint (bt_project_find_class (f->project, "wolves"), ==, 0);
  g_assert_cmpuint (n_excluded (f->project), ==, 1);

  /* Reopen from disk: everything as it was. */
  g_assert_true (bt_project_flush (f->project, &error));
  reopened = bt_project_open (f->dir, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_list_model_get_n_items (bt_project_get_classes (reopened)), ==, 2);
  g_assert_cmpint (bt_project_find_class (reopened, "wolves"), ==, 0);
  g_assert_cmpint (bt_project_find_class (reopened, "cats"), ==, 1);
  g_assert_cmpuint (g_list_model_get_n_items (bt_project_get_items (reopened)), ==, 15);
  g_assert_cmpuint (n_excluded (reopened), ==, 1);
}

/* Another window taking the focus (the user switches apps, or a parallel test presents a
 * window on the shared display) must not end an in-place rename with the old name. */
static void
test_rename_survives_focus_loss (Fixture *f, gconstpointer data)
{
  GtkWindow *other;
  GtkWidget *entry;
  gint64 end;

  import_cats_and_dogs (f);
  end = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;   /* a hang guard, not a timing */
  while (!gtk_window_is_active (f->window) && g_get_monotonic_time () < end)
    g_main_context_iteration (NULL, FALSE);
  if (!gtk_window_is_active (f->window))
    {
      g_test_skip ("the display gives this window no keyboard focus");
      return;
    }

  click_class (f, "dogs");
  wait_import (f);
  bt_test_press_key (f->window, GDK_KEY_F2, 0);
  entry = find_type (GTK_WIDGET (find_row (f, "dogs")), GTK_TYPE_ENTRY);
  g_assert_nonnull (entry);
  g_assert_true (gtk_widget_is_visible (entry));

  other = GTK_WINDOW (gtk_window_new ());
  gtk_window_present (other);
  end = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  while (gtk_window_is_active (f->window) && g_get_monotonic_time () < end)
    g_main_context_iteration (NULL, FALSE);
  spin ();
  if (gtk_window_is_active (f->window))
    {
      gtk_window_destroy (other);
      g_test_skip ("the display did not move the focus to the other window");
      return;
    }
  /* still editing: typing and Enter rename */
  g_assert_true (gtk_widget_is_visible (entry));
  gtk_editable_set_text (GTK_EDITABLE (entry), "wolves");
  bt_test_press_key (f->window, GDK_KEY_Return, 0);
  wait_import (f);
  g_assert_cmpint (class_count (f, "dogs"), ==, -1);
  g_assert_cmpint (class_count (f, "wolves"), ==, 3);
  gtk_window_destroy (other);
  spin ();
}

static void
test_reopen_after_relabel (Fixture *f, gconstpointer data)
{
  GtkSelectionModel *selection;
  g_autoptr(BtProject) reopened = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(BtItem) moved = NULL;
  g_autofree char *moved_path = NULL;
  BtItem *found;

  import_cats_and_dogs (f);
  click_class (f, "cats");
  wait_import (f);
  selection = bt_data_page_get_selection (f->page);
  gtk_selection_model_select_item (selection, 0, TRUE);
  moved = g_list_model_get_item (G_LIST_MODEL (selection), 0);
  moved_path = g_strdup (bt_item_get_path (moved));
  /* Ctrl+2: to the second class */
  g_assert_cmpint (bt_project_find_class (f->project, "dogs"), ==, 1);
  grid_key (f, GDK_KEY_2, GDK_CONTROL_MASK);
  gtk_selection_model_select_item (selection, 0, TRUE);
  grid_key (f, GDK_KEY_Delete, 0);

  g_assert_true (bt_project_flush (f->project, &error));
  reopened = bt_project_open (f->dir, &error);
  g_assert_no_error (error);
  found = bt_project_find_item (reopened, moved_path);
  g_assert_nonnull (found);
  g_assert_cmpstr (bt_item_get_class_name (found), ==, "dogs");
  g_assert_cmpuint (n_excluded (reopened), ==, 1);
  g_assert_cmpuint (g_list_model_get_n_items (bt_project_get_items (reopened)), ==, 15);
}

static void
test_hostile_folder (Fixture *f, gconstpointer data)
{
  g_autofree char *dir = make_class_dir (f, "hostile", 1, 800);
  g_autofree char *corrupt = g_build_filename (dir, "corrupt.png", NULL);
  g_autofree char *empty = g_build_filename (dir, "empty.jpg", NULL);
  g_autofree char *text = g_build_filename (dir, "notes.txt", NULL);
  g_autofree char *fifo = g_build_filename (dir, "pipe.png", NULL);
  g_autofree char *loop = g_build_filename (dir, "loop", NULL);
  static const guint8 png_head[] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R',
                                     0x7f, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 8, 2, 0, 0, 0 };
  const char *paths[] = { dir, NULL };
  GListModel *toplevels;
  gboolean found_dialog = FALSE;

  g_assert_true (g_file_set_contents (corrupt, (const char *) png_head, sizeof png_head, NULL));
  g_assert_true (g_file_set_contents (empty, "", 0, NULL));
  g_assert_true (g_file_set_contents (text, "not an image", -1, NULL));
  g_assert_cmpint (mkfifo (fifo, 0600), ==, 0);
  g_assert_cmpint (symlink (dir, loop), ==, 0);

  g_assert_true (emit_file_drop (GTK_WIDGET (f->page), paths));
  wait_import (f);
  g_assert_false (bt_data_page_get_busy (f->page));
  g_assert_cmpint (class_count (f, "hostile"), ==, 1);
  g_assert_cmpuint (bt_data_page_get_n_skipped (f->page), >=, 4);
  g_assert_nonnull (strstr (bt_data_page_get_notification (f->page), "skipped"));

  click_action_button (f, "data.show-skipped");
  spin ();
  toplevels = gtk_window_get_toplevels ();
  for (guint i = 0; i < g_list_model_get_n_items (toplevels); i++)
    {
      g_autoptr(GtkWindow) w = g_list_model_get_item (toplevels, i);
      if (g_strcmp0 (gtk_window_get_title (w), "Skipped Files") == 0)
        {
          found_dialog = TRUE;
          gtk_window_destroy (w);
          break;
        }
    }
  g_assert_true (found_dialog);
}

static void
test_search (Fixture *f, gconstpointer data)
{
  GtkEditable *search;

  import_cats_and_dogs (f);
  search = GTK_EDITABLE (gtk_widget_get_template_child (GTK_WIDGET (f->page), BT_TYPE_DATA_PAGE, "search_entry"));
  /* the entry's own search-changed, after its typing delay, filters the grid */
  gtk_editable_set_text (search, "DOGS-00");
  BT_TEST_WAIT (n_shown (f) == 3);
  wait_import (f);
  g_assert_cmpuint (n_shown (f), ==, 3);
  gtk_editable_set_text (search, "cats-011");
  BT_TEST_WAIT (n_shown (f) == 1);
  wait_import (f);
  g_assert_cmpuint (n_shown (f), ==, 1);
}

static gboolean
has_picture_with_paintable (GtkWidget *widget)
{
  if (BT_IS_THUMB_CELL (widget) && bt_thumb_cell_get_texture (BT_THUMB_CELL (widget)) != NULL)
    return TRUE;
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child; child = gtk_widget_get_next_sibling (child))
    if (has_picture_with_paintable (child))
      return TRUE;
  return FALSE;
}

/* Counts the bound cells, those with a class label, and those whose label is not their
 * own class (the file names start with the class: "cats-003.png"). */
static void
count_class_labels (GtkWidget *widget, guint *cells, guint *labelled, guint *wrong)
{
  if (BT_IS_THUMB_CELL (widget) && gtk_widget_get_mapped (widget) && bt_thumb_cell_get_name (BT_THUMB_CELL (widget)))
    {
      const char *name = bt_thumb_cell_get_name (BT_THUMB_CELL (widget));
      const char *cls = bt_thumb_cell_get_class (BT_THUMB_CELL (widget));

      (*cells)++;
      if (cls != NULL)
        {
          (*labelled)++;
          if (!g_str_has_prefix (name, cls))
            (*wrong)++;
        }
    }
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child; child = gtk_widget_get_next_sibling (child))
    count_class_labels (child, cells, labelled, wrong);
}

static void
test_all_images_show_class (Fixture *f, gconstpointer data)
{
  guint cells = 0, labelled = 0, wrong = 0;

  import_cats_and_dogs (f);
  click_class (f, NULL);
  wait_import (f);
  count_class_labels (GTK_WIDGET (f->page), &cells, &labelled, &wrong);
  g_assert_cmpuint (cells, >, 0);
  g_assert_cmpuint (labelled, ==, cells);
  g_assert_cmpuint (wrong, ==, 0);

  /* a class's own view needs no label */
  click_class (f, "dogs");
  wait_import (f);
  cells = labelled = wrong = 0;
  count_class_labels (GTK_WIDGET (f->page), &cells, &labelled, &wrong);
  g_assert_cmpuint (cells, ==, 3);
  g_assert_cmpuint (labelled, ==, 0);
  bt_test_screenshot (GTK_WIDGET (f->window), "data-page-dogs.png");
  click_class (f, NULL);
  wait_import (f);
  cells = labelled = wrong = 0;
  count_class_labels (GTK_WIDGET (f->page), &cells, &labelled, &wrong);
  g_assert_cmpuint (labelled, ==, cells);
  bt_test_screenshot (GTK_WIDGET (f->window), "data-page-all-images.png");
}

static GtkWindow *
find_window_titled (const char *title)
{
  GListModel *toplevels = gtk_window_get_toplevels ();

  for (guint i = 0; i < g_list_model_get_n_items (toplevels); i++)
    {
      g_autoptr(GtkWindow) w = g_list_model_get_item (toplevels, i);
      if (g_strcmp0 (gtk_window_get_title (w), title) == 0)
        return w;
    }
  return NULL;
}

/* "1 duplicate · 0 label conflicts" is a button: it shows the duplicates (here skipped by the
 * import, so the list of skipped files), and Escape closes that list. */
static void
test_duplicates_link (Fixture *f, gconstpointer data)
{
  g_autofree char *twins = make_class_dir (f, "twins", 2, 7);
  g_autofree char *a = g_build_filename (twins, "twins-000.png", NULL);
  g_autofree char *b = g_build_filename (twins, "twins-copy.png", NULL);
  g_autofree char *contents = NULL;
  gsize len;
  const char *paths[] = { twins, NULL };
  GtkWidget *button = GTK_WIDGET (gtk_widget_get_template_child (GTK_WIDGET (f->page), BT_TYPE_DATA_PAGE, "issues_button"));
  GtkWindow *skipped;

  g_assert_true (g_file_get_contents (a, &contents, &len, NULL));
  g_assert_true (g_file_set_contents (b, contents, len, NULL));
  g_assert_true (emit_file_drop (GTK_WIDGET (f->page), paths));
  wait_import (f);
  spin ();
  g_assert_true (gtk_widget_get_visible (button));
  bt_test_click (button);
  BT_TEST_WAIT ((skipped = find_window_titled ("Skipped Files")) != NULL);
  g_object_add_weak_pointer (G_OBJECT (skipped), (gpointer *) &skipped);
  g_assert_true (bt_test_shortcut_key (skipped, GDK_KEY_Escape, 0));
  spin ();
  g_assert_null (skipped);
}

static void
test_thumbnails_appear (Fixture *f, gconstpointer data)
{
  gint64 end;

  import_cats_and_dogs (f);
  end = g_get_monotonic_time () + 30 * G_USEC_PER_SEC;
  while (!has_picture_with_paintable (GTK_WIDGET (f->page)) && g_get_monotonic_time () < end)
    g_main_context_iteration (NULL, TRUE);
  g_assert_true (has_picture_with_paintable (GTK_WIDGET (f->page)));
}

static void
test_preview (Fixture *f, gconstpointer data)
{
  g_autoptr(BtItem) item = NULL;
  BtImagePreview *preview;

  import_cats_and_dogs (f);
  click_class (f, "dogs");
  wait_import (f);
  item = g_list_model_get_item (G_LIST_MODEL (bt_data_page_get_selection (f->page)), 0);
  preview = bt_image_preview_new (f->window, item);
  gtk_window_present (GTK_WINDOW (preview));
  BT_TEST_WAIT (bt_image_preview_get_loaded (preview));
  g_assert_nonnull (strstr (bt_image_preview_get_details (preview), "8 × 8"));
  g_assert_nonnull (strstr (bt_image_preview_get_details (preview), "dogs"));
  gtk_window_destroy (GTK_WINDOW (preview));
}

typedef struct {
  int n_ok, n_failed;
} ThumbCount;

static void
thumb_cb (GdkTexture *texture, const GError *error, gpointer user_data)
{
  ThumbCount *c = user_data;

  if (texture != NULL)
    {
      g_assert_cmpint (MAX (gdk_texture_get_width (texture), gdk_texture_get_height (texture)), <=, 16);
      c->n_ok++;
    }
  else
    {
      g_assert_nonnull (error);
      c->n_failed++;
    }
}

static void
test_thumbnailer (void)
{
  g_autofree char *root = g_dir_make_tmp ("bt-test-thumb-XXXXXX", NULL);
  g_autofree char *good = g_build_filename (root, "big.png", NULL);
  g_autofree char *bad = g_build_filename (root, "bad.png", NULL);
  g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", root);
  g_autoptr(BtThumbnailer) t = bt_thumbnailer_new (16, 32);
  ThumbCount c = { 0, 0 };
  guint cancelled;

  write_png (good, 1, 40);
  g_assert_true (g_file_set_contents (bad, "garbage", -1, NULL));
  bt_thumbnailer_request (t, good, thumb_cb, &c, NULL);
  bt_thumbnailer_request (t, bad, thumb_cb, &c, NULL);
  cancelled = bt_thumbnailer_request (t, good, thumb_cb, &c, NULL);
  bt_thumbnailer_cancel (t, cancelled);
  BT_TEST_WAIT (bt_thumbnailer_get_n_pending (t) == 0);
  g_assert_cmpint (c.n_ok, ==, 1);
  g_assert_cmpint (c.n_failed, ==, 1);
  g_assert_nonnull (bt_thumbnailer_lookup (t, good));
  g_assert_null (bt_thumbnailer_lookup (t, bad));
  bt_thumbnailer_forget (t, good);
  g_assert_null (bt_thumbnailer_lookup (t, good));
  g_assert_cmpint (system (cmd), ==, 0);
}

/* A bigger project swapped in and the window closed while thumbnails load. */
static void
test_sample_swap_and_close (Fixture *f, gconstpointer data)
{
  g_autofree char *dir = g_build_filename (f->root, "shapes", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(BtProject) sample = bt_sample_create_shapes (dir, 100, 32, 7, NULL, &error);

  g_assert_no_error (error);
  import_cats_and_dogs (f);
  /* As in the window: the project arrives while the page is not shown. */
  bt_data_page_set_project (f->page, NULL);
  gtk_widget_set_visible (GTK_WIDGET (f->page), FALSE);
  spin ();
  bt_data_page_set_project (f->page, sample);
  gtk_widget_set_visible (GTK_WIDGET (f->page), TRUE);
  wait_import (f);
  g_assert_cmpuint (n_shown (f), ==, 400);
  g_assert_nonnull (strstr (bt_data_page_get_status_text (f->page), "400"));
  click_class (f, "star");
  wait_import (f);
  g_assert_cmpuint (n_shown (f), ==, 100);
  click_class (f, NULL);
  spin ();
}

/* A stand-in file manager on a private session bus records what "Show in Files" asks for. */
typedef struct {
  GPtrArray *uris;
  char      *startup_id;
  guint      n_calls;
  gboolean   owned;
} FileManager;

static const char file_manager_xml[] =
  "<node><interface name='org.freedesktop.FileManager1'>"
  "<method name='ShowItems'><arg type='as' name='uris' direction='in'/>"
  "<arg type='s' name='startup_id' direction='in'/></method>"
  "</interface></node>";

static void
file_manager_call_cb (GDBusConnection       *connection,
                      const char            *sender,
                      const char            *object_path,
                      const char            *interface_name,
                      const char            *method_name,
                      GVariant              *parameters,
                      GDBusMethodInvocation *invocation,
                      gpointer               user_data)
{
  FileManager *fm = user_data;
  g_autofree const char **uris = NULL;
  const char *startup_id = NULL;

  g_assert_cmpstr (method_name, ==, "ShowItems");
  g_variant_get (parameters, "(^a&s&s)", &uris, &startup_id);
  for (guint i = 0; uris[i] != NULL; i++)
    g_ptr_array_add (fm->uris, g_strdup (uris[i]));
  g_free (fm->startup_id);
  fm->startup_id = g_strdup (startup_id);
  fm->n_calls++;
  g_dbus_method_invocation_return_value (invocation, NULL);
}

static void
name_acquired_cb (GDBusConnection *connection, const char *name, gpointer user_data)
{
  ((FileManager *) user_data)->owned = TRUE;
}

static void
test_show_in_files (Fixture *f, gconstpointer data)
{
  /* GTK 4.10+ shows the first file with GtkFileLauncher, which calls the same ShowItems itself
   * (no portal outside a sandbox); before, the page calls it with every selected file. */
#if GTK_CHECK_VERSION (4, 10, 0)
  const guint n_shown = 1;
#else
  const guint n_shown = 2;
#endif
  g_autofree char *daemon = g_find_program_in_path ("dbus-daemon");
  g_autoptr(GTestDBus) bus = NULL;
  g_autoptr(GDBusConnection) connection = NULL;
  g_autoptr(GDBusNodeInfo) info = NULL;
  g_autoptr(GError) error = NULL;
  GDBusInterfaceVTable vtable = { file_manager_call_cb, NULL, NULL, { 0 } };
  FileManager fm = { g_ptr_array_new_with_free_func (g_free), NULL, 0, FALSE };
  GtkSelectionModel *selection;
  guint object_id, owner_id;
  gint64 end;

  if (daemon == NULL)
    {
      g_test_skip ("needs dbus-daemon for a private session bus");
      g_ptr_array_unref (fm.uris);
      return;
    }
  bus = g_test_dbus_new (G_TEST_DBUS_NONE);
  g_test_dbus_up (bus);
  connection = g_dbus_connection_new_for_address_sync (g_test_dbus_get_bus_address (bus),
                                                       G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT
                                                       | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                                       NULL, NULL, &error);
  g_assert_no_error (error);
  info = g_dbus_node_info_new_for_xml (file_manager_xml, &error);
  g_assert_no_error (error);
  object_id = g_dbus_connection_register_object (connection, "/org/freedesktop/FileManager1", info->interfaces[0],
                                                 &vtable, &fm, NULL, &error);
  g_assert_no_error (error);
  owner_id = g_bus_own_name_on_connection (connection, "org.freedesktop.FileManager1", G_BUS_NAME_OWNER_FLAGS_NONE,
                                           name_acquired_cb, NULL, &fm, NULL);
  end = g_get_monotonic_time () + 20 * G_USEC_PER_SEC;   /* hang guards, not timings */
  while (!fm.owned && g_get_monotonic_time () < end)
    g_main_context_iteration (NULL, TRUE);
  g_assert_true (fm.owned);

  import_cats_and_dogs (f);
  click_class (f, "dogs");
  wait_import (f);
  selection = bt_data_page_get_selection (f->page);
  gtk_selection_model_select_range (selection, 0, 2, TRUE);
  grid_key (f, GDK_KEY_o, GDK_CONTROL_MASK | GDK_ALT_MASK);
  while (fm.n_calls == 0 && g_get_monotonic_time () < end)
    g_main_context_iteration (NULL, TRUE);
  spin ();

  /* One call with the files, as file:// URIs, so the file manager selects them. */
  g_assert_cmpuint (fm.n_calls, ==, 1);
  g_assert_cmpuint (fm.uris->len, ==, n_shown);
  for (guint i = 0; i < n_shown; i++)
    {
      g_autoptr(BtItem) item = g_list_model_get_item (G_LIST_MODEL (selection), i);
      g_autofree char *uri = g_filename_to_uri (bt_item_get_path (item), NULL, NULL);

      g_assert_cmpstr (g_ptr_array_index (fm.uris, i), ==, uri);
    }
  g_assert_null (strstr (bt_data_page_get_notification (f->page), "Could not"));

  g_bus_unown_name (owner_id);
  g_dbus_connection_unregister_object (connection, object_id);
  g_dbus_connection_close_sync (connection, NULL, NULL);
  g_clear_object (&connection);
  g_test_dbus_down (bus);
  g_ptr_array_unref (fm.uris);
  g_free (fm.startup_id);
}

/* ---- Keyboard and accessible names ---- */

static gboolean
has_visible_text (GtkWidget *widget)
{
  if (GTK_IS_LABEL (widget))
    return gtk_label_get_text (GTK_LABEL (widget))[0] != '\0';
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child; child = gtk_widget_get_next_sibling (child))
    if (gtk_widget_get_visible (child) && has_visible_text (child))
      return TRUE;
  return FALSE;
}

static gboolean
has_accessible_name (GtkWidget *widget)
{
  return gtk_test_accessible_has_property (GTK_ACCESSIBLE (widget), GTK_ACCESSIBLE_PROPERTY_LABEL)
         || gtk_test_accessible_has_relation (GTK_ACCESSIBLE (widget), GTK_ACCESSIBLE_RELATION_LABELLED_BY);
}

/* Something a person acts on: it needs a name a screen reader can say. GTK's own
 * composites (a spin button's +/−, a menu button's inner button) are checked as a whole. */
static gboolean
is_actionable (GtkWidget *widget)
{
  return GTK_IS_BUTTON (widget) || GTK_IS_MENU_BUTTON (widget) || GTK_IS_EDITABLE (widget)
         || GTK_IS_DROP_DOWN (widget) || GTK_IS_LIST_VIEW (widget) || GTK_IS_GRID_VIEW (widget)
         || GTK_IS_CHECK_BUTTON (widget) || GTK_IS_SWITCH (widget) || BT_IS_CLASS_ROW (widget)
         || BT_IS_THUMB_CELL (widget);
}

/* A menu button is walked into: GTK 4.8 focuses its inner button (which must have a name
 * too), and its popover holds more controls. */
static gboolean
is_composite (GtkWidget *widget)
{
  return GTK_IS_SPIN_BUTTON (widget) || GTK_IS_SEARCH_ENTRY (widget) || GTK_IS_DROP_DOWN (widget)
         || GTK_IS_ENTRY (widget);
}

static void
collect_unnamed (GtkWidget *widget, GPtrArray *unnamed, guint *n_checked)
{
  /* Hidden parts (a notification's button, "N files skipped") get their text when shown. */
  if (!gtk_widget_get_visible (widget))
    return;
  if (is_actionable (widget))
    {
      gboolean named;

      /* A button's own text is its name; an icon alone is not (GTK relates every button to
       * its child, icon or not, so "labelled by" says nothing for buttons). */
      if (GTK_IS_BUTTON (widget) || GTK_IS_MENU_BUTTON (widget) || GTK_IS_CHECK_BUTTON (widget))
        named = gtk_test_accessible_has_property (GTK_ACCESSIBLE (widget), GTK_ACCESSIBLE_PROPERTY_LABEL)
                || has_visible_text (widget);
      else
        named = has_accessible_name (widget);
      (*n_checked)++;
      if (!named)
        {
          const char *tip = gtk_widget_get_tooltip_text (widget);
          g_ptr_array_add (unnamed, g_strdup_printf ("%s (tooltip %s)", G_OBJECT_TYPE_NAME (widget),
                                                     tip ? tip : "none"));
        }
    }
  if (is_composite (widget))
    return;
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child; child = gtk_widget_get_next_sibling (child))
    collect_unnamed (child, unnamed, n_checked);
}

static void
test_accessible_names (Fixture *f, gconstpointer data)
{
  g_autoptr(GPtrArray) unnamed = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *joined = NULL;
  guint n_checked = 0;

  import_cats_and_dogs (f);
  click_class (f, "dogs");
  wait_import (f);
  /* Open the split popover so its spin buttons and Apply are built and walked too. */
  gtk_menu_button_popup (GTK_MENU_BUTTON (gtk_widget_get_template_child (GTK_WIDGET (f->page), BT_TYPE_DATA_PAGE,
                                                                         "split_button")));
  spin ();

  collect_unnamed (GTK_WIDGET (f->page), unnamed, &n_checked);
  g_ptr_array_add (unnamed, NULL);
  joined = g_strjoinv (", ", (char **) unnamed->pdata);
  g_assert_cmpstr (joined, ==, "");
  /* the walk really saw the page: buttons, entries, the two lists, rows and cells */
  g_assert_cmpuint (n_checked, >=, 20);
  /* closed again: an open popover keeps the pointer grabbed for the tests after this one */
  gtk_menu_button_popdown (GTK_MENU_BUTTON (gtk_widget_get_template_child (GTK_WIDGET (f->page), BT_TYPE_DATA_PAGE,
                                                                           "split_button")));
  spin ();
}

/* The split popover's spin buttons hold the settings table's limits and show the project's split. */
static void
test_split_spins (Fixture *f, gconstpointer data)
{
  const char *spins[] = { "split_train_spin", "split_val_spin", "split_test_spin" };
  const char *keys[] = { "split-train", "split-val", "split-test" };
  const BtProjectSettings *s = bt_project_get_settings (f->project);
  int values[] = { s->split_train, s->split_val, s->split_test };

  for (guint i = 0; i < G_N_ELEMENTS (spins); i++)
    {
      GtkSpinButton *spin = GTK_SPIN_BUTTON (gtk_widget_get_template_child (GTK_WIDGET (f->page), BT_TYPE_DATA_PAGE,
                                                                            spins[i]));
      GtkAdjustment *adj = gtk_spin_button_get_adjustment (spin);
      const BtSettingInfo *row = bt_settings_find (keys[i]);
      g_assert_cmpfloat (gtk_adjustment_get_lower (adj), ==, row->min);
      g_assert_cmpfloat (gtk_adjustment_get_upper (adj), ==, row->max);
      g_assert_cmpfloat (gtk_adjustment_get_step_increment (adj), ==, row->step);
      g_assert_cmpint (gtk_spin_button_get_value_as_int (spin), ==, values[i]);
    }
}

/* Every focusable part of the page is reached by Tab, in a cycle that comes back. */
static void
test_keyboard_reaches_everything (Fixture *f, gconstpointer data)
{
  const char *children[] = { "class_list", "search_entry", "filter_dropdown", "grid_view", "split_button" };
  const char *tooltips[] = { "Add Class", "Move Class Up", "Class Menu", "Add a Folder of Images as a Class…",
                             "Add Images to This Class…" };
  g_autoptr(GPtrArray) focused = g_ptr_array_new ();
  GtkWidget *page = GTK_WIDGET (f->page);

  import_cats_and_dogs (f);
  click_class (f, "dogs");   /* second of two: Move Up is enabled */
  wait_import (f);

  gtk_widget_grab_focus (GTK_WIDGET (gtk_widget_get_template_child (page, BT_TYPE_DATA_PAGE, "search_entry")));
  for (guint i = 0; i < 60; i++)
    {
      GtkWidget *focus;

      gtk_widget_child_focus (GTK_WIDGET (f->window), GTK_DIR_TAB_FORWARD);
      spin ();
      focus = gtk_root_get_focus (GTK_ROOT (f->window));
      if (focus != NULL)
        g_ptr_array_add (focused, focus);
    }

  for (guint i = 0; i < G_N_ELEMENTS (children); i++)
    {
      GtkWidget *w = GTK_WIDGET (gtk_widget_get_template_child (page, BT_TYPE_DATA_PAGE, children[i]));
      gboolean reached = FALSE;

      for (guint k = 0; k < focused->len && !reached; k++)
        reached = g_ptr_array_index (focused, k) == w || gtk_widget_is_ancestor (g_ptr_array_index (focused, k), w);
      if (!reached)
        g_error ("Tab never reaches %s", children[i]);
    }
  for (guint i = 0; i < G_N_ELEMENTS (tooltips); i++)
    {
      gboolean reached = FALSE;

      for (guint k = 0; k < focused->len && !reached; k++)
        {
          GtkWidget *w = g_ptr_array_index (focused, k);

          for (; w != NULL && !reached; w = gtk_widget_get_parent (w))
            reached = g_strcmp0 (gtk_widget_get_tooltip_text (w), tooltips[i]) == 0;
        }
      if (!reached)
        g_error ("Tab never reaches the “%s” button", tooltips[i]);
    }
}

/* What has no button of its own on screen has a key: the page's class-wide shortcuts. */
/* ---- Undo and redo, driven by keys and the toast's button ---- */

static void
test_undo_redo (Fixture *f, gconstpointer data)
{
  GtkWidget *grid = GTK_WIDGET (gtk_widget_get_template_child (GTK_WIDGET (f->page), BT_TYPE_DATA_PAGE, "grid_view"));
  GtkSelectionModel *selection;
  g_autoptr(BtItem) first = NULL;
  g_autofree char *first_path = NULL;
  g_auto(GValue) value = G_VALUE_INIT;
  g_autoptr(GError) error = NULL;
  g_autoptr(BtProject) reopened = NULL;
  g_autofree char *order = NULL;
  GtkWidget *undo_button;

  import_cats_and_dogs (f);
  click_class (f, "cats");
  wait_import (f);
  selection = bt_data_page_get_selection (f->page);
  gtk_selection_model_select_range (selection, 0, 3, TRUE);
  first = g_list_model_get_item (G_LIST_MODEL (selection), 0);
  first_path = g_strdup (bt_item_get_path (first));

  /* Drag three cats onto "dogs"; the label is saved. */
  g_value_init (&value, BT_TYPE_ITEM);
  g_value_set_object (&value, first);
  g_assert_true (emit_value_drop (find_drop_target (GTK_WIDGET (find_row (f, "dogs")), BT_TYPE_ITEM), &value));
  wait_import (f);
  g_assert_cmpint (class_count (f, "dogs"), ==, 6);
  g_assert_nonnull (bt_test_find_labelled_button (GTK_WIDGET (f->page), "_Undo"));
  g_assert_true (bt_project_flush (f->project, &error));
  g_assert_no_error (error);

  /* Ctrl+Z on the grid, after the save: the labels come back. */
  gtk_widget_grab_focus (grid);
  g_assert_true (bt_test_shortcut_key (f->window, GDK_KEY_z, GDK_CONTROL_MASK));
  wait_import (f);
  g_assert_cmpint (class_count (f, "cats"), ==, 12);
  g_assert_cmpint (class_count (f, "dogs"), ==, 3);
  g_assert_cmpstr (bt_item_get_class_name (bt_project_find_item (f->project, first_path)), ==, "cats");
  g_assert_nonnull (strstr (bt_data_page_get_notification (f->page), "dogs"));

  /* Ctrl+Shift+Z does it again, Ctrl+Z undoes it again. */
  gtk_widget_grab_focus (grid);
  g_assert_true (bt_test_shortcut_key (f->window, GDK_KEY_z, GDK_CONTROL_MASK | GDK_SHIFT_MASK));
  wait_import (f);
  g_assert_cmpint (class_count (f, "dogs"), ==, 6);
  g_assert_true (bt_test_shortcut_key (f->window, GDK_KEY_z, GDK_CONTROL_MASK));
  wait_import (f);
  g_assert_cmpint (class_count (f, "dogs"), ==, 3);

  /* Delete excludes; the toast's Undo button restores. */
  click_class (f, "cats");
  wait_import (f);
  gtk_selection_model_select_item (selection, 0, TRUE);
  gtk_widget_grab_focus (grid);
  g_assert_true (bt_test_shortcut_key (f->window, GDK_KEY_Delete, 0));
  wait_import (f);
  g_assert_cmpuint (n_excluded (f->project), ==, 1);
  undo_button = bt_test_find_labelled_button (GTK_WIDGET (f->page), "_Undo");
  g_assert_nonnull (undo_button);
  bt_test_click (undo_button);
  wait_import (f);
  g_assert_cmpuint (n_excluded (f->project), ==, 0);

  /* Renaming "dogs" to "cats" merges them; Ctrl+Z separates them, in their places. */
  rename_in_place (f, "dogs", "cats");
  g_assert_cmpint (class_count (f, "dogs"), ==, -1);
  g_assert_cmpint (class_count (f, "cats"), ==, 15);
  gtk_widget_grab_focus (grid);
  g_assert_true (bt_test_shortcut_key (f->window, GDK_KEY_z, GDK_CONTROL_MASK));
  wait_import (f);
  g_assert_cmpint (class_count (f, "cats"), ==, 12);
  g_assert_cmpint (class_count (f, "dogs"), ==, 3);
  order = class_order (f->project);
  g_assert_cmpstr (order, ==, "cats dogs");

  /* Delete a class, undo, redo, undo. */
  click_class (f, "cats");
  click_class_menu_item (f, "Delete Class");
  wait_import (f);
  g_assert_cmpint (class_count (f, "cats"), ==, -1);
  gtk_widget_grab_focus (grid);
  g_assert_true (bt_test_shortcut_key (f->window, GDK_KEY_z, GDK_CONTROL_MASK));
  wait_import (f);
  g_assert_cmpint (class_count (f, "cats"), ==, 12);
  g_assert_cmpint (bt_project_find_class (f->project, "cats"), ==, 0);

  /* The undone state is what is on disk. */
  g_assert_true (bt_project_flush (f->project, &error));
  reopened = bt_project_open (f->dir, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (bt_item_get_class_name (bt_project_find_item (reopened, first_path)), ==, "cats");
  g_assert_cmpuint (g_list_model_get_n_items (bt_project_get_items (reopened)), ==, 15);
  g_assert_cmpuint (n_excluded (reopened), ==, 0);
  g_free (order);
  order = class_order (reopened);
  g_assert_cmpstr (order, ==, "cats dogs");
}

static void
test_keyboard_shortcuts (Fixture *f, gconstpointer data)
{
  static const struct { const char *action; guint keyval; GdkModifierType mods; } expected[] = {
    { "data.rename-class", GDK_KEY_F2, 0 },
    { "data.add-class", GDK_KEY_n, GDK_CONTROL_MASK | GDK_SHIFT_MASK },
    { "data.move-class-up", GDK_KEY_Up, GDK_ALT_MASK },
    { "data.move-class-down", GDK_KEY_Down, GDK_ALT_MASK },
    { "data.undo", GDK_KEY_z, GDK_CONTROL_MASK },
    { "data.redo", GDK_KEY_z, GDK_CONTROL_MASK | GDK_SHIFT_MASK },
    { "data.exclude", GDK_KEY_Delete, 0 },
    { "data.restore", GDK_KEY_r, GDK_CONTROL_MASK },
    { "data.open", GDK_KEY_Return, GDK_CONTROL_MASK },
    { "data.show-in-files", GDK_KEY_o, GDK_CONTROL_MASK | GDK_ALT_MASK },
    { "data.context-menu", GDK_KEY_Menu, 0 },
    { "data.context-menu", GDK_KEY_F10, GDK_SHIFT_MASK },
    { "data.focus-search", GDK_KEY_f, GDK_CONTROL_MASK },
    { "data.add-folder", GDK_KEY_i, GDK_CONTROL_MASK },
    { "data.move-to-index", GDK_KEY_1, GDK_CONTROL_MASK },
    { "data.move-to-index", GDK_KEY_9, GDK_CONTROL_MASK },
    { "data.preview", GDK_KEY_space, 0 },   /* on the grid, before its own Space */
  };
  GtkWidget *grid = GTK_WIDGET (gtk_widget_get_template_child (GTK_WIDGET (f->page), BT_TYPE_DATA_PAGE, "grid_view"));
  GtkWidget *owners[] = { GTK_WIDGET (f->page), grid };

  for (guint e = 0; e < G_N_ELEMENTS (expected); e++)
    {
      gboolean found = FALSE;

      for (guint o = 0; o < G_N_ELEMENTS (owners) && !found; o++)
        {
          g_autoptr(GListModel) controllers = gtk_widget_observe_controllers (owners[o]);

          for (guint i = 0; i < g_list_model_get_n_items (controllers) && !found; i++)
            {
              g_autoptr(GtkEventController) c = g_list_model_get_item (controllers, i);

              if (!GTK_IS_SHORTCUT_CONTROLLER (c))
                continue;
              for (guint k = 0; k < g_list_model_get_n_items (G_LIST_MODEL (c)) && !found; k++)
                {
                  g_autoptr(GtkShortcut) shortcut = g_list_model_get_item (G_LIST_MODEL (c), k);
                  GtkShortcutAction *action = gtk_shortcut_get_action (shortcut);
                  GtkShortcutTrigger *trigger = gtk_shortcut_get_trigger (shortcut);

                  found = GTK_IS_NAMED_ACTION (action) && GTK_IS_KEYVAL_TRIGGER (trigger)
                          && g_str_equal (gtk_named_action_get_action_name (GTK_NAMED_ACTION (action)),
                                          expected[e].action)
                          && gtk_keyval_trigger_get_keyval (GTK_KEYVAL_TRIGGER (trigger)) == expected[e].keyval
                          && gtk_keyval_trigger_get_modifiers (GTK_KEYVAL_TRIGGER (trigger)) == expected[e].mods;
                }
            }
        }
      if (!found)
        g_error ("no key for %s (%s)", expected[e].action, gdk_keyval_name (expected[e].keyval));
    }

  /* And the keys work, pressed: Ctrl+Z brings a deleted class back, Alt+Up moves it up. */
  import_cats_and_dogs (f);
  click_class (f, "dogs");
  click_class_menu_item (f, "Delete Class");
  wait_import (f);
  g_assert_cmpint (class_count (f, "dogs"), ==, -1);
  click_class (f, NULL);   /* the focused row went with its class: the person clicks the list again */
  bt_test_press_key (f->window, GDK_KEY_z, GDK_CONTROL_MASK);
  wait_import (f);
  g_assert_cmpint (class_count (f, "dogs"), ==, 3);
  {
    int at = bt_project_find_class (f->project, "dogs");
    g_assert_cmpint (at, >, 0);
    click_class (f, "dogs");
    bt_test_press_key (f->window, GDK_KEY_Up, GDK_ALT_MASK);
    wait_import (f);
    g_assert_cmpint (bt_project_find_class (f->project, "dogs"), ==, at - 1);
  }
}

static void
test_warnings (void)
{
  g_autofree char *few = bt_class_warning_text (3, 50);
  g_autofree char *imbalanced = bt_class_warning_text (20, 500);
  g_autofree char *fine = bt_class_warning_text (100, 120);

  g_assert_nonnull (few);
  g_assert_nonnull (strstr (few, "3"));
  g_assert_nonnull (imbalanced);
  g_assert_nonnull (strstr (imbalanced, "500"));
  g_assert_null (fine);
}

/* ---- Streaming import: a multi-chunk import shows images before it ends ---- */

#define N_STREAM_A 1300
#define N_STREAM_B 1200

/* 8×8 PNGs whose content differs for every id (the importer skips duplicates by content). */
static char *
make_unique_dir (Fixture *f, const char *rel, guint n, guint first_id)
{
  char *dir = g_build_filename (f->root, rel, NULL);

  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  for (guint i = 0; i < n; i++)
    {
      guint id = first_id + i;
      guint8 pixels[8 * 8 * 3];
      g_autofree char *name = g_strdup_printf ("img-%05u.png", id);
      g_autofree char *path = g_build_filename (dir, name, NULL);
      g_autoptr(GBytes) bytes = NULL;
      g_autoptr(GdkTexture) texture = NULL;

      for (gsize k = 0; k < sizeof pixels; k++)
        pixels[k] = (guint8) (k * 5 + id);
      pixels[0] = id & 0xff;
      pixels[1] = (id >> 8) & 0xff;
      pixels[2] = (id >> 16) & 0xff;
      bytes = g_bytes_new (pixels, sizeof pixels);
      texture = gdk_memory_texture_new (8, 8, GDK_MEMORY_R8G8B8, bytes, 8 * 3);
      g_assert_true (gdk_texture_save_to_png (texture, path));
    }
  return dir;
}

static gboolean
find_label_containing (GtkWidget *widget, const char *needle)
{
  if (GTK_IS_LABEL (widget) && gtk_widget_get_mapped (widget) &&
      strstr (gtk_label_get_text (GTK_LABEL (widget)), needle) != NULL)
    return TRUE;
  for (GtkWidget *c = gtk_widget_get_first_child (widget); c; c = gtk_widget_get_next_sibling (c))
    if (find_label_containing (c, needle))
      return TRUE;
  return FALSE;
}

/* Drops the folder of two class folders, confirms, and runs the main loop until the page's
 * grid model holds some but not all of the images while the import still runs; returns that
 * count (0 when the import ended without one). */
static guint
start_stream_import (Fixture *f)
{
  g_autofree char *a = make_unique_dir (f, "stream/shirts", N_STREAM_A, 0);
  g_autofree char *b = make_unique_dir (f, "stream/shoes", N_STREAM_B, N_STREAM_A);
  g_autofree char *top = g_build_filename (f->root, "stream", NULL);
  g_autofree char *broken = g_build_filename (a, "a-broken.png", NULL);
  const char *paths[] = { top, NULL };
  GListModel *grid = G_LIST_MODEL (bt_data_page_get_selection (f->page));
  gint64 end = g_get_monotonic_time () + 50 * G_USEC_PER_SEC;

  /* First in walk order, so the first chunk that adds images has skipped it already. */
  g_assert_true (g_file_set_contents (broken, "not a PNG at all", -1, NULL));

  bt_data_page_import_paths (f->page, paths, NULL);
  wait_import (f);
  g_assert_true (bt_data_page_get_confirming (f->page));
  click_action_button (f, "data.confirm-import");
  while (bt_data_page_get_busy (f->page) && g_get_monotonic_time () < end)
    {
      guint n = g_list_model_get_n_items (grid);

      if (n > 0 && n < N_STREAM_A + N_STREAM_B)
        return n;
      g_main_context_iteration (NULL, TRUE);
    }
  return 0;
}

static void
test_stream_import (Fixture *f, gconstpointer data)
{
  GListModel *grid = G_LIST_MODEL (bt_data_page_get_selection (f->page));
  guint seen = start_stream_import (f);

  /* Images reached the grid while the scan was still running (it sends ~1000 per chunk). */
  g_assert_cmpuint (seen, >, 0);
  g_assert_cmpuint (seen, <, N_STREAM_A + N_STREAM_B);
  g_assert_true (bt_data_page_get_busy (f->page));
  wait_import (f);
  g_assert_false (bt_data_page_get_busy (f->page));
  g_assert_cmpuint (g_list_model_get_n_items (grid), ==, N_STREAM_A + N_STREAM_B);
  g_assert_cmpint (class_count (f, "shirts"), ==, N_STREAM_A);
  g_assert_cmpint (class_count (f, "shoes"), ==, N_STREAM_B);
}

/* The project's item count at the moment the page stops being busy (the cancel's own moment). */
static void
count_at_idle_cb (BtDataPage *page, GParamSpec *pspec, guint *at)
{
  if (!bt_data_page_get_busy (page) && *at == G_MAXUINT)
    *at = g_list_model_get_n_items (bt_project_get_items (bt_data_page_get_project (page)));
}

static void
test_stream_cancel (Fixture *f, gconstpointer data)
{
  GListModel *items = bt_project_get_items (f->project);
  guint seen = start_stream_import (f);
  guint at_cancel = G_MAXUINT, n;
  gulong id;
  GtkWidget *cancel;
  g_autoptr(GError) error = NULL;
  g_autoptr(BtProject) reopened = NULL;
  g_autoptr(GHashTable) paths = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);

  g_assert_cmpuint (seen, >, 0);
  /* Cancel mid-import: the status bar's Cancel clicked through the X server. (Why a click once
   * waited 60 s: the confirmation bar slides shut for 250 ms after Create Classes with its own
   * Cancel still mapped, the first one found; the click waited for that one to be under the
   * pointer, which it never was again. Seen 1 run in 6 at nice 19 under load 24. Buttons found
   * are now those on show.) Chunks can still arrive while the click travels, so the count kept is
   * the one at the moment the page stops being busy. */
  id = g_signal_connect (f->page, "notify::busy", G_CALLBACK (count_at_idle_cb), &at_cancel);
  BT_TEST_WAIT ((cancel = bt_test_find_action_button (GTK_WIDGET (f->page), "data.cancel-import", TRUE)) != NULL);
  g_assert_true (gtk_widget_is_ancestor (cancel, GTK_WIDGET (gtk_widget_get_template_child (GTK_WIDGET (f->page),
                                                                                              BT_TYPE_DATA_PAGE,
                                                                                              "progress_box"))));
  bt_test_click (cancel);
  g_signal_handler_disconnect (f->page, id);
  g_assert_false (bt_data_page_get_busy (f->page));
  g_assert_cmpuint (at_cancel, <, N_STREAM_A + N_STREAM_B);

  /* The cancelled import ends (no chunk after the cancel) and says what it kept. */
  BT_TEST_WAIT (find_label_containing (GTK_WIDGET (f->window), "added so far"));
  spin ();
  n = g_list_model_get_n_items (items);
  g_assert_cmpuint (n, ==, at_cancel);

  /* The files skipped before the cancel are listed, with their reason, as after a finished
   * import: in the toast, the status area and the skipped-files dialog's list. */
  g_assert_nonnull (strstr (bt_data_page_get_notification (f->page), "1 file was skipped"));
  g_assert_cmpuint (bt_data_page_get_n_skipped (f->page), ==, 1);
  g_assert_true (g_str_has_suffix (bt_data_page_get_skipped_path (f->page, 0), "a-broken.png"));
  g_assert_true (find_label_containing (GTK_WIDGET (f->window), "1 file skipped"));
  g_assert_true (gtk_widget_get_sensitive (GTK_WIDGET (f->page)));

  /* What the project holds is what is on disk. */
  g_assert_true (bt_project_flush (f->project, &error));
  g_assert_no_error (error);
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(BtItem) it = g_list_model_get_item (items, i);
      g_hash_table_insert (paths, g_strdup (bt_item_get_path (it)), g_strdup (bt_item_get_class_name (it)));
    }
  reopened = bt_project_open (f->dir, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_list_model_get_n_items (bt_project_get_items (reopened)), ==, n);
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(BtItem) it = g_list_model_get_item (bt_project_get_items (reopened), i);
      const char *cls = g_hash_table_lookup (paths, bt_item_get_path (it));

      g_assert_nonnull (cls);
      g_assert_cmpstr (cls, ==, bt_item_get_class_name (it));
    }
}

/* Phone photos stored sideways (EXIF orientation 3, 6, 8, made by Pillow): the import says how
 * many it turned upright, and the thumbnails show them upright. */
static void
test_import_photos (Fixture *f, gconstpointer data)
{
  g_autofree char *top = g_build_filename (f->root, "photos", NULL);
  g_autofree char *cats = g_build_filename (top, "cats", NULL);
  g_autofree char *script = g_build_filename (g_getenv ("BOTTEGA_SOURCE_ROOT"), "tests", "dataset",
                                              "make-photo-fixtures.py", NULL);
  const char *argv[] = { "/usr/bin/python3", script, cats, "--sideways", "-", NULL };
  const char *paths[] = { top, NULL };
  int status = 0;

  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, NULL, NULL, &status, NULL));
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  bt_data_page_import_paths (f->page, paths, NULL);
  wait_import (f);
  g_assert_true (bt_data_page_get_confirming (f->page));
  click_action_button (f, "data.confirm-import");
  wait_import (f);
  g_assert_cmpint (class_count (f, "cats"), ==, 4);
  g_test_message ("%s", bt_data_page_get_notification (f->page));
  g_assert_nonnull (strstr (bt_data_page_get_notification (f->page), "3 photos turned upright"));
  bt_test_screenshot (GTK_WIDGET (f->window), "data-page-photos");
}

static void
test_import_csv (Fixture *f, gconstpointer data)
{
  g_autofree char *dir = make_unique_dir (f, "csv-images", 30, 9000);
  g_autofree char *csv_path = g_build_filename (f->root, "labels.csv", NULL);
  g_autoptr(GString) csv = g_string_new ("path,class\n");
  g_autoptr(GError) error = NULL;

  for (guint i = 0; i < 30; i++)
    g_string_append_printf (csv, "%s/img-%05u.png,%s\n", dir, 9000 + i, i < 20 ? "sneakers" : "sandals");
  g_string_append (csv, "/nonexistent/nothing.png,sandals\n");
  g_assert_true (g_file_set_contents (csv_path, csv->str, csv->len, &error));
  g_assert_no_error (error);

  bt_data_page_import_csv (f->page, csv_path);
  g_assert_true (bt_data_page_get_busy (f->page));
  wait_import (f);
  g_assert_false (bt_data_page_get_busy (f->page));
  g_assert_cmpint (class_count (f, "sneakers"), ==, 20);
  /* The listed file that does not exist is not added. */
  g_assert_cmpint (class_count (f, "sandals"), ==, 10);
}

/* The Import CSV action's file chooser hands its answer to _bt_data_page_import_chosen_csv:
 * a real CSV, a cancelled chooser, and two hostile CSVs (binary junk; rows naming devices,
 * folders, the CSV itself, missing files and unusable class names beside one good row). */
static void
import_chosen (Fixture *f, const char *path)
{
  g_autoptr(GListStore) files = g_list_store_new (G_TYPE_FILE);
  g_autoptr(GFile) file = g_file_new_for_path (path);

  g_list_store_append (files, file);
  _bt_data_page_import_chosen_csv (f->page, G_LIST_MODEL (files), NULL);
  wait_import (f);
  g_assert_false (bt_data_page_get_busy (f->page));
}

static void
test_import_csv_chooser (Fixture *f, gconstpointer data)
{
  g_autofree char *dir = make_unique_dir (f, "chooser-images", 3, 9500);
  g_autofree char *good = g_build_filename (f->root, "good.csv", NULL);
  g_autofree char *junk = g_build_filename (f->root, "junk.csv", NULL);
  g_autofree char *hostile = g_build_filename (f->root, "hostile.csv", NULL);
  g_autofree char *long_class = g_strnfill (300, 'x');
  g_autofree char *csv = NULL;
  g_autoptr(GError) cancelled = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, "dismissed");
  guint8 junk_bytes[4096];
  guint n_before;

  /* A chooser closed without a file: nothing happens, nothing is said. */
  _bt_data_page_import_chosen_csv (f->page, NULL, cancelled);
  g_assert_false (bt_data_page_get_busy (f->page));
  g_assert_cmpstr (bt_data_page_get_notification (f->page), ==, "");

  csv = g_strdup_printf ("path,class\n%s/img-09500.png,boots\n%s/img-09501.png,boots\n", dir, dir);
  g_assert_true (g_file_set_contents (good, csv, -1, NULL));
  import_chosen (f, good);
  g_assert_cmpint (class_count (f, "boots"), ==, 2);
  g_assert_nonnull (strstr (bt_data_page_get_notification (f->page), "2 images"));

  /* Binary junk with NUL bytes: no class, no image, no crash. */
  for (guint i = 0; i < sizeof junk_bytes; i++)
    junk_bytes[i] = (guint8) (g_test_rand_int () & 0xff);
  junk_bytes[7] = 0;
  g_assert_true (g_file_set_contents (junk, (const char *) junk_bytes, sizeof junk_bytes, NULL));
  n_before = n_classes (f);
  import_chosen (f, junk);
  g_assert_cmpuint (n_classes (f), ==, n_before);
  g_assert_cmpint (class_count (f, "boots"), ==, 2);
  g_assert_cmpstr (bt_data_page_get_notification (f->page), !=, "");

  g_clear_pointer (&csv, g_free);
  csv = g_strdup_printf ("path,class\n"
                         "/dev/zero,devices\n"
                         "%s,folders\n"
                         "%s,itself\n"
                         "%s/not-there.png,missing\n"
                         "%s/img-09502.png,%s\n"
                         "%s/img-09502.png,\"\"\n"
                         "%s/img-09502.png,\"\xff\xfe\"\n"
                         "\"%s/img-09502.png\",\"sandals, \"\"open\"\"\"\n"
                         "\"unterminated,row\n",
                         dir, hostile, dir, dir, long_class, dir, dir, dir);
  g_assert_true (g_file_set_contents (hostile, csv, -1, NULL));
  import_chosen (f, hostile);
  /* Nothing from the rows that name no image; img-09502.png's first row (a class name too long)
   * decides for that image, so its later rows, the quoted one too, are duplicates. */
  g_assert_cmpint (class_count (f, "devices"), ==, -1);
  g_assert_cmpint (class_count (f, "folders"), ==, -1);
  g_assert_cmpint (class_count (f, "itself"), ==, -1);
  g_assert_cmpint (class_count (f, "missing"), ==, -1);
  g_assert_cmpint (class_count (f, long_class), ==, -1);
  g_assert_cmpint (class_count (f, "boots"), ==, 2);
  g_assert_cmpint (class_count (f, "sandals, \"open\""), ==, -1);
  g_assert_cmpstr (bt_data_page_get_notification (f->page), !=, "");
}

/* Show in Files when no file manager answers on the bus: the folder is opened instead,
 * through the page's launcher seam (nothing is launched). */
static void
record_uri (BtDataPage *page, const char *uri, gpointer data)
{
  g_ptr_array_add (data, g_strdup (uri));
}

static void
test_show_in_files_fallback (Fixture *f, gconstpointer data)
{
#if GTK_CHECK_VERSION (4, 10, 0)
  g_test_skip ("GTK 4.10 and later show files with GtkFileLauncher, which has its own fallback");
#else
  g_autofree char *daemon = g_find_program_in_path ("dbus-daemon");
  g_autoptr(GTestDBus) bus = NULL;
  g_autoptr(GPtrArray) launched = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(BtItem) item = NULL;
  g_autoptr(GFile) file = NULL;
  g_autoptr(GFile) folder = NULL;
  g_autofree char *folder_uri = NULL;
  GtkSelectionModel *selection;
  gint64 end;

  if (daemon == NULL)
    {
      g_test_skip ("needs dbus-daemon for a private session bus");
      return;
    }
  /* A session bus where nobody owns org.freedesktop.FileManager1: ShowItems fails. */
  bus = g_test_dbus_new (G_TEST_DBUS_NONE);
  g_test_dbus_up (bus);
  _bt_data_page_set_launch_uri (f->page, record_uri, launched);

  import_cats_and_dogs (f);
  click_class (f, "dogs");
  wait_import (f);
  selection = bt_data_page_get_selection (f->page);
  gtk_selection_model_select_range (selection, 0, 2, TRUE);
  grid_key (f, GDK_KEY_o, GDK_CONTROL_MASK | GDK_ALT_MASK);
  end = g_get_monotonic_time () + 20 * G_USEC_PER_SEC;   /* a hang guard, not a timing */
  while (launched->len == 0 && g_get_monotonic_time () < end)
    g_main_context_iteration (NULL, TRUE);
  spin ();

  /* One launch: the folder of the first selected file, as a file:// URI. */
  g_assert_cmpuint (launched->len, ==, 1);
  item = g_list_model_get_item (G_LIST_MODEL (selection), 0);
  file = g_file_new_for_path (bt_item_get_path (item));
  folder = g_file_get_parent (file);
  folder_uri = g_file_get_uri (folder);
  g_assert_cmpstr (g_ptr_array_index (launched, 0), ==, folder_uri);
  g_assert_null (strstr (bt_data_page_get_notification (f->page), "Could not"));

  _bt_data_page_set_launch_uri (f->page, NULL, NULL);
  g_test_dbus_down (bus);
#endif
}

int
main (int argc, char **argv)
{
  /* GTK's test accessibility backend keeps what the page tells assistive technologies, so
   * the accessible-name test can read it ("none" drops it; AT-SPI needs a session bus). */
  g_setenv ("GTK_A11Y", "test", TRUE);
  gtk_test_init (&argc, &argv, NULL);

#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)
  ADD ("/data-page/drop/folders", test_drop_folders);
  ADD ("/data-page/split-spins", test_split_spins);
  ADD ("/data-page/drop/uri-list", test_drop_uri_list);
  ADD ("/data-page/drop/folder-of-folders", test_drop_folder_of_folders);
  ADD ("/data-page/drop/onto-class", test_drop_onto_class);
  ADD ("/data-page/drop/hostile-folder", test_hostile_folder);
  ADD ("/data-page/relabel-by-drag", test_relabel_by_drag);
  ADD ("/data-page/reorder-by-drag", test_reorder_by_drag);
  ADD ("/data-page/exclude-restore", test_exclude_restore);
  ADD ("/data-page/rename-delete-undo-reopen", test_rename_delete_undo);
  ADD ("/data-page/rename-survives-focus-loss", test_rename_survives_focus_loss);
  ADD ("/data-page/reopen-after-relabel", test_reopen_after_relabel);
  ADD ("/data-page/search", test_search);
  ADD ("/data-page/thumbnails", test_thumbnails_appear);
  ADD ("/data-page/all-images-show-class", test_all_images_show_class);
  ADD ("/data-page/duplicates-link", test_duplicates_link);
  ADD ("/data-page/preview", test_preview);
  ADD ("/data-page/show-in-files/file-manager", test_show_in_files);
  ADD ("/data-page/accessible-names", test_accessible_names);
  ADD ("/data-page/keyboard/tab-reaches-everything", test_keyboard_reaches_everything);
  ADD ("/data-page/keyboard/shortcuts", test_keyboard_shortcuts);
  ADD ("/data-page/undo-redo", test_undo_redo);
  ADD ("/data-page/sample-swap-and-close", test_sample_swap_and_close);
  ADD ("/data-page/stream/items-before-the-end", test_stream_import);
  ADD ("/data-page/stream/cancel-keeps-a-consistent-project", test_stream_cancel);
  ADD ("/data-page/import-csv/labels", test_import_csv);
  ADD ("/data-page/import-photos-upright", test_import_photos);
  ADD ("/data-page/import-csv/chooser-and-hostile", test_import_csv_chooser);
  ADD ("/data-page/show-in-files/fallback", test_show_in_files_fallback);
#undef ADD
  g_test_add_func ("/data-page/thumbnailer", test_thumbnailer);
  g_test_add_func ("/data-page/class-warnings", test_warnings);
  g_test_add_func ("/data-page/class-drop-position", test_drop_position);
  bt_test_exit (g_test_run ());
}
