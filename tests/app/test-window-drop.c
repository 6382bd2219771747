/* test-window-drop.c: folders dropped on the window itself: on the welcome view a project is
 * made for them and they become its classes; with a project open they go to the Data page. */
#include "config.h"

#include <glib/gstdio.h>
#include <gtk/gtk.h>

#include "bt-application.h"
#include "bt-window-private.h"
#include "bt-test-exit.h"
#include "bt-test-wait.h"

static BtApplication *app;

static void
write_png (const char *path, guint seed)
{
  guint8 pixels[8 * 8 * 3];
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GdkTexture) texture = NULL;

  for (guint i = 0; i < sizeof pixels; i++)
    pixels[i] = (guint8) (seed * 37 + i * 11 + (i / 3) * seed);
  bytes = g_bytes_new (pixels, sizeof pixels);
  texture = gdk_memory_texture_new (8, 8, GDK_MEMORY_R8G8B8, bytes, 8 * 3);
  g_assert_true (gdk_texture_save_to_png (texture, path));
}

static char *
make_class_dir (const char *root, const char *name, guint n, guint seed)
{
  char *dir = g_build_filename (root, name, NULL);

  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *file = g_strdup_printf ("%s-%u.png", name, i);
      g_autofree char *path = g_build_filename (dir, file, NULL);
      write_png (path, seed + i);
    }
  return dir;
}

static gboolean
drop_on (GtkWidget *widget, const char * const *paths)
{
  g_autoptr(GListModel) controllers = gtk_widget_observe_controllers (widget);
  g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func (g_object_unref);
  g_auto(GValue) value = G_VALUE_INIT;
  gboolean ret = FALSE;

  for (guint i = 0; paths[i] != NULL; i++)
    g_ptr_array_add (files, g_file_new_for_path (paths[i]));
  g_value_init (&value, GDK_TYPE_FILE_LIST);
  g_value_take_boxed (&value, gdk_file_list_new_from_array ((GFile **) files->pdata, files->len));
  for (guint i = 0; i < g_list_model_get_n_items (controllers); i++)
    {
      g_autoptr(GtkEventController) c = g_list_model_get_item (controllers, i);

      if (GTK_IS_DROP_TARGET (c) && gtk_drop_target_get_gtypes (GTK_DROP_TARGET (c), NULL)[0] == GDK_TYPE_FILE_LIST)
        {
          g_signal_emit_by_name (c, "drop", &value, 5.0, 5.0, &ret);
          return ret;
        }
    }
  g_assert_not_reached ();
  return FALSE;
}

static guint
n_items (BtWindow *window)
{
  BtProject *project = bt_window_get_project (window);

  return project ? g_list_model_get_n_items (bt_project_get_items (project)) : 0;
}

static void
wait_items (BtWindow *window, guint n)
{
  BT_TEST_WAIT (n_items (window) >= n && !bt_data_page_get_busy (window->data_page));
}

static void
test_drop_on_welcome_and_on_pages (void)
{
  g_autofree char *root = g_dir_make_tmp ("bt-test-window-drop-XXXXXX", NULL);
  g_autofree char *apples = make_class_dir (root, "apples", 3, 1);
  g_autofree char *pears = make_class_dir (root, "pears", 2, 10);
  g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", root);
  g_autofree char *expected = NULL;
  const char *first[] = { apples, NULL };
  const char *second[] = { pears, NULL };
  BtWindow *window = bt_window_new (GTK_APPLICATION (app));

  gtk_window_present (GTK_WINDOW (window));
  g_assert_null (bt_window_get_project (window));

  /* On the welcome view: a new project named after the folder, holding it as a class. */
  g_assert_true (drop_on (GTK_WIDGET (window), first));
  wait_items (window, 3);
  expected = g_build_filename (g_get_user_data_dir (), "bottega", "projects", "apples", NULL);
  g_assert_cmpstr (bt_project_get_dir (bt_window_get_project (window)), ==, expected);
  g_assert_cmpint (bt_project_find_class (bt_window_get_project (window), "apples"), ==, 0);

  /* From another page: the Data page comes forward and takes the folder. */
  bt_window_set_page (window, "train");
  g_assert_true (drop_on (GTK_WIDGET (window), second));
  wait_items (window, 5);
  g_assert_cmpstr (bt_window_get_page (window), ==, "data");
  g_assert_cmpint (bt_project_find_class (bt_window_get_project (window), "pears"), ==, 1);

  gtk_window_destroy (GTK_WINDOW (window));
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_cmpint (system (cmd), ==, 0);
}

int
main (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *data_home = g_dir_make_tmp ("bt-test-window-drop-data-XXXXXX", NULL);
  g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", data_home);
  int ret;

  /* The dropped-on welcome view makes its project in the data folder: keep it throwaway. */
  g_setenv ("XDG_DATA_HOME", data_home, TRUE);
  gtk_test_init (&argc, &argv, NULL);
  app = bt_application_new ();
  g_application_set_flags (G_APPLICATION (app),
                           g_application_get_flags (G_APPLICATION (app)) | G_APPLICATION_NON_UNIQUE);
  if (!g_application_register (G_APPLICATION (app), NULL, &error))
    g_error ("register: %s", error->message);

  g_test_add_func ("/window-drop/welcome-then-page", test_drop_on_welcome_and_on_pages);
  ret = g_test_run ();
  g_clear_object (&app);
  if (system (cmd) != 0)
    g_printerr ("could not remove %s\n", data_home);
  bt_test_exit (ret);
}
