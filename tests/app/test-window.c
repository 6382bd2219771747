/* test-window.c: the main window from its template: pages, page actions, accelerators,
 * About and Shortcuts, the in-window notification, window state in GSettings, closing. */
#include "config.h"

#include <glib/gstdio.h>
#include <gtk/gtk.h>
#include <string.h>

#include "bt-application.h"
#include "bt-window-private.h"
#include "bt-test-fs.h"
#include "bt-test-exit.h"
#include "bt-test-wait.h"
#include "bt-test-input.h"

static BtApplication *app;

static void
spin (void)
{
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

static GtkWindow *
find_toplevel (GType type)
{
  GListModel *toplevels = gtk_window_get_toplevels ();

  for (guint i = 0; i < g_list_model_get_n_items (toplevels); i++)
    {
      g_autoptr(GtkWindow) window = g_list_model_get_item (toplevels, i);
      if (G_TYPE_CHECK_INSTANCE_TYPE (window, type))
        return window;
    }
  return NULL;
}

static BtWindow *
window_new (void)
{
  BtWindow *window = bt_window_new (GTK_APPLICATION (app));

  gtk_window_present (GTK_WINDOW (window));
  spin ();
  return window;
}

static void
window_destroy (BtWindow *window)
{
  GtkWindow *weak = GTK_WINDOW (window);

  g_object_add_weak_pointer (G_OBJECT (weak), (gpointer *) &weak);
  gtk_window_destroy (GTK_WINDOW (window));
  spin ();
  g_assert_null (weak);
}

/* The page buttons in the header bar, in order. */
static GPtrArray *
page_buttons (BtWindow *window)
{
  GPtrArray *buttons = g_ptr_array_new ();

  for (GtkWidget *child = gtk_widget_get_first_child (window->page_switcher);
       child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      g_assert_true (GTK_IS_TOGGLE_BUTTON (child));
      g_ptr_array_add (buttons, child);
    }
  return buttons;
}

static void
test_window_template (void)
{
  BtWindow *window = window_new ();

  g_assert_true (BT_IS_DATA_PAGE (window->data_page));
  g_assert_true (BT_IS_MODEL_PAGE (window->model_page));
  g_assert_true (BT_IS_TRAIN_PAGE (window->train_page));
  g_assert_true (BT_IS_EVALUATE_PAGE (window->evaluate_page));
  g_assert_true (BT_IS_TEST_PAGE (window->test_page));

  /* No project: the welcome view, no page switcher, Save disabled. */
  g_assert_null (bt_window_get_project (window));
  g_assert_cmpstr (gtk_stack_get_visible_child_name (window->main_stack), ==, "welcome");
  g_assert_false (gtk_widget_get_visible (window->page_switcher));
  g_assert_cmpstr (gtk_window_get_title (GTK_WINDOW (window)), ==, "Bottega");
  /* Ctrl+S with Save disabled does nothing: no "saved" notification. */
  bt_test_press_key (GTK_WINDOW (window), GDK_KEY_s, GDK_CONTROL_MASK);
  spin ();
  g_assert_false (gtk_revealer_get_reveal_child (window->notification_revealer));

  window_destroy (window);
}

static void
test_window_pages (void)
{
  static const struct { const char *name; const char *title; } pages[] = {
    { "data", "Data" }, { "model", "Model" }, { "train", "Train" },
    { "evaluate", "Evaluate" }, { "test", "Test" },
  };
  BtWindow *window = window_new ();
  g_autoptr(GPtrArray) buttons = page_buttons (window);
  GtkSelectionModel *stack_pages = gtk_stack_get_pages (window->page_stack);
  GType page_types[] = { BT_TYPE_DATA_PAGE, BT_TYPE_MODEL_PAGE, BT_TYPE_TRAIN_PAGE,
                         BT_TYPE_EVALUATE_PAGE, BT_TYPE_TEST_PAGE };

  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (stack_pages)), ==, G_N_ELEMENTS (pages));
  g_assert_cmpuint (buttons->len, ==, G_N_ELEMENTS (pages));
  g_object_unref (stack_pages);

  /* Backwards first, so every step really changes the page. */
  for (int i = G_N_ELEMENTS (pages) - 1; i >= 0; i--)
    {
      GtkStackPage *page;

      stack_pages = gtk_stack_get_pages (window->page_stack);
      page = g_list_model_get_item (G_LIST_MODEL (stack_pages), i);
      g_object_unref (stack_pages);
      g_assert_cmpstr (gtk_stack_page_get_name (page), ==, pages[i].name);
      g_assert_cmpstr (gtk_stack_page_get_title (page), ==, pages[i].title);
      g_assert_nonnull (gtk_stack_page_get_icon_name (page));
      g_object_unref (page);

      /* Alt+1 … Alt+5 */
      bt_test_press_key (GTK_WINDOW (window), GDK_KEY_1 + i, GDK_ALT_MASK);
      BT_TEST_WAIT (g_strcmp0 (bt_window_get_page (window), pages[i].name) == 0);
      g_assert_true (G_TYPE_CHECK_INSTANCE_TYPE (gtk_stack_get_visible_child (window->page_stack),
                                                 page_types[i]));
      for (guint b = 0; b < buttons->len; b++)
        g_assert_cmpint (gtk_toggle_button_get_active (buttons->pdata[b]), ==, b == (guint) i);
    }

  /* Clicking a header button switches the page too. */
  g_signal_emit_by_name (buttons->pdata[2], "clicked");
  spin ();
  g_assert_cmpstr (bt_window_get_page (window), ==, "train");

  bt_window_set_page (window, "evaluate");
  g_assert_true (gtk_toggle_button_get_active (buttons->pdata[3]));

  window_destroy (window);
}

static void
test_window_accels (void)
{
  static const struct { const char *action; const char *accel; } accels[] = {
    { "win.new-project", "<Control>n" },
    { "win.open-project", "<Control>o" },
    { "win.save", "<Control>s" },
    { "win.show-help-overlay", "<Control>question" },
    { "app.quit", "<Control>q" },
    { "win.page::data", "<Alt>1" },
    { "win.page::test", "<Alt>5" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (accels); i++)
    {
      g_auto(GStrv) got = gtk_application_get_accels_for_action (GTK_APPLICATION (app), accels[i].action);
      guint want_key, got_key;
      GdkModifierType want_mods, got_mods;

      g_assert_nonnull (got);
      g_assert_nonnull (got[0]);
      g_assert_true (gtk_accelerator_parse (accels[i].accel, &want_key, &want_mods));
      g_assert_true (gtk_accelerator_parse (got[0], &got_key, &got_mods));
      g_assert_cmpuint (want_key, ==, got_key);
      g_assert_cmpuint (want_mods, ==, got_mods);
    }
}

static void
test_window_about (void)
{
  BtWindow *window = window_new ();
  GtkWindow *about;

  g_assert_null (find_toplevel (GTK_TYPE_ABOUT_DIALOG));
  g_action_group_activate_action (G_ACTION_GROUP (app), "about", NULL);
  spin ();

  about = find_toplevel (GTK_TYPE_ABOUT_DIALOG);
  g_assert_nonnull (about);
  g_assert_true (gtk_widget_get_visible (GTK_WIDGET (about)));
  g_assert_true (gtk_window_get_transient_for (about) == GTK_WINDOW (window));
  g_assert_cmpstr (gtk_about_dialog_get_version (GTK_ABOUT_DIALOG (about)), ==, PACKAGE_VERSION);
  g_assert_cmpstr (gtk_about_dialog_get_program_name (GTK_ABOUT_DIALOG (about)), ==, "Bottega");
  g_assert_cmpint (gtk_about_dialog_get_license_type (GTK_ABOUT_DIALOG (about)), ==, GTK_LICENSE_GPL_3_0);

  gtk_window_destroy (about);
  spin ();
  g_assert_null (find_toplevel (GTK_TYPE_ABOUT_DIALOG));
  window_destroy (window);
}

static void
test_window_shortcuts (void)
{
  BtWindow *window = window_new ();
  GtkShortcutsWindow *overlay;

  overlay = gtk_application_window_get_help_overlay (GTK_APPLICATION_WINDOW (window));
  g_assert_nonnull (overlay);
  g_assert_false (gtk_widget_get_visible (GTK_WIDGET (overlay)));

  bt_test_press_key (GTK_WINDOW (window), GDK_KEY_question, GDK_CONTROL_MASK);
  BT_TEST_WAIT (gtk_widget_get_visible (GTK_WIDGET (overlay)));
  g_assert_true (gtk_window_get_transient_for (GTK_WINDOW (overlay)) == GTK_WINDOW (window));

  gtk_window_close (GTK_WINDOW (overlay));
  spin ();
  window_destroy (window);
}

static void
test_window_notification (void)
{
  BtWindow *window = window_new ();

  g_assert_false (gtk_revealer_get_reveal_child (window->notification_revealer));
  bt_window_notify (window, "All changes are saved");
  g_assert_true (gtk_revealer_get_reveal_child (window->notification_revealer));
  g_assert_cmpstr (gtk_label_get_label (window->notification_label), ==, "All changes are saved");
  g_assert_cmpuint (window->notification_timeout, !=, 0);

  window_destroy (window);
}

static void
test_window_state (void)
{
  g_autoptr(GSettings) settings = g_settings_new ("io.github.bottega.Bottega");
  BtWindow *window;
  int width, height;

  g_settings_set_int (settings, "window-width", 777);
  g_settings_set_int (settings, "window-height", 555);
  g_settings_set_boolean (settings, "window-maximized", FALSE);

  /* Restored from settings ... */
  window = window_new ();
  gtk_window_get_default_size (GTK_WINDOW (window), &width, &height);
  g_assert_cmpint (width, ==, 777);
  g_assert_cmpint (height, ==, 555);

  /* ... and written back on close. */
  gtk_window_set_default_size (GTK_WINDOW (window), 900, 640);
  {
    GtkWindow *weak = GTK_WINDOW (window);
    g_object_add_weak_pointer (G_OBJECT (weak), (gpointer *) &weak);
    gtk_window_close (GTK_WINDOW (window));
    spin ();
    g_assert_null (weak);
  }
  g_assert_cmpint (g_settings_get_int (settings, "window-width"), ==, 900);
  g_assert_cmpint (g_settings_get_int (settings, "window-height"), ==, 640);
  g_assert_false (g_settings_get_boolean (settings, "window-maximized"));
}

static void
wait_for (gboolean (*done) (BtWindow *), BtWindow *window)
{
  BT_TEST_WAIT (done (window));
}

static gboolean
has_project (BtWindow *window)
{
  return bt_window_get_project (window) != NULL;
}

static gboolean
notification_shown (BtWindow *window)
{
  return gtk_revealer_get_reveal_child (window->notification_revealer);
}

static GtkWindow *
error_dialog (void)
{
  /* GTK 4.10+'s GtkAlertDialog (what bt-dialogs.c calls there) shows a GtkMessageDialog too */
  return find_toplevel (GTK_TYPE_MESSAGE_DIALOG);
}

static gboolean
error_dialog_shown (BtWindow *window)
{
  return error_dialog () != NULL;
}

static char *
dialog_text (GtkWindow *dialog)
{
  g_autofree char *text = NULL, *secondary = NULL;

  g_object_get (dialog, "text", &text, "secondary-text", &secondary, NULL);
  return g_strdup_printf ("%s\n%s", text, secondary ? secondary : "");
}

static void
test_window_project (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *tmp = g_dir_make_tmp ("bottega-window-XXXXXX", &error);
  g_autofree char *dir = NULL;
  g_autoptr(BtProject) project = NULL;
  g_autoptr(GPtrArray) buttons = NULL;
  BtWindow *window;

  g_assert_no_error (error);
  dir = g_build_filename (tmp, "Cats and Dogs", NULL);
  g_assert_cmpint (g_mkdir (dir, 0700), ==, 0);
  project = bt_project_create (dir, "Cats and Dogs", &error);
  g_assert_no_error (error);
  {
    /* the recent list counted below starts empty, whichever tests opened projects before */
    g_autoptr(GSettings) settings = g_settings_new ("io.github.bottega.Bottega");
    g_settings_reset (settings, "recent-projects");
  }

  window = window_new ();
  bt_window_set_page (window, "test");
  bt_window_set_project (window, project);
  g_assert_true (bt_window_get_project (window) == project);
  g_assert_cmpstr (gtk_window_get_title (GTK_WINDOW (window)), ==, "Cats and Dogs — Bottega");
  g_assert_cmpstr (gtk_label_get_label (window->project_label), ==, "Cats and Dogs");
  g_assert_cmpstr (gtk_stack_get_visible_child_name (window->main_stack), ==, "pages");
  g_assert_true (gtk_widget_get_visible (window->page_switcher));
  /* A new project starts on its first page. */
  g_assert_cmpstr (bt_window_get_page (window), ==, "data");

  /* A renamed project renames the window. */
  g_assert_true (bt_project_set_name (project, "Birds", &error));
  g_assert_no_error (error);
  g_assert_cmpstr (gtk_window_get_title (GTK_WINDOW (window)), ==, "Birds — Bottega");

  /* Save (Ctrl+S) confirms, from a worker's check of the folder. */
  bt_test_press_key (GTK_WINDOW (window), GDK_KEY_s, GDK_CONTROL_MASK);
  wait_for (notification_shown, window);
  g_assert_cmpstr (gtk_label_get_label (window->notification_label), ==, "All changes are saved");

  /* Back to no project: the welcome view again. */
  bt_window_set_project (window, NULL);
  g_assert_cmpstr (gtk_stack_get_visible_child_name (window->main_stack), ==, "welcome");
  g_assert_false (gtk_widget_get_visible (window->page_switcher));
  g_assert_cmpstr (gtk_window_get_title (GTK_WINDOW (window)), ==, "Bottega");

  window_destroy (window);
  g_clear_object (&project);

  /* `bottega FOLDER` is GApplication::open; the folder opens on a worker. */
  {
    g_autoptr(GFile) folder = g_file_new_for_path (dir);
    GFile *files[] = { folder };

    g_assert_null (gtk_application_get_active_window (GTK_APPLICATION (app)));
    g_application_open (G_APPLICATION (app), files, 1, "");
    window = BT_WINDOW (gtk_application_get_active_window (GTK_APPLICATION (app)));
    g_assert_nonnull (window);
    g_assert_null (bt_window_get_project (window));
    wait_for (has_project, window);
    g_assert_cmpstr (bt_project_get_dir (bt_window_get_project (window)), ==, dir);
    window_destroy (window);
  }

  /* File ▸ Open takes the same path. */
  window = window_new ();
  {
    g_autoptr(GFile) folder = g_file_new_for_path (dir);
    bt_window_open_folder (window, folder);
  }
  g_assert_null (bt_window_get_project (window));
  wait_for (has_project, window);
  g_assert_cmpstr (bt_project_get_name (bt_window_get_project (window)), ==, "Birds");

  /* It is now the first recent project, offered on the welcome view. */
  {
    g_autoptr(GSettings) settings = g_settings_new ("io.github.bottega.Bottega");
    g_auto(GStrv) recent = g_settings_get_strv (settings, "recent-projects");
    GtkListBoxRow *row;

    g_assert_nonnull (recent[0]);
    g_assert_cmpstr (recent[0], ==, dir);
    bt_window_set_project (window, NULL);
    g_assert_true (gtk_widget_get_visible (window->recent_box));
    row = gtk_list_box_get_row_at_index (window->recent_list, 0);
    g_assert_nonnull (row);
    g_assert_cmpstr (gtk_widget_get_tooltip_text (GTK_WIDGET (row)), !=, NULL);
    bt_test_click (GTK_WIDGET (row));
    wait_for (has_project, window);
    g_assert_cmpstr (bt_project_get_dir (bt_window_get_project (window)), ==, dir);

    /* Opening it again does not list it twice. */
    g_strfreev (recent);
    recent = g_settings_get_strv (settings, "recent-projects");
    g_assert_cmpuint (g_strv_length (recent), ==, 1);
  }

  /* Save when the folder has gone is an error, not a false "saved". */
  {
    g_autofree char *ini = g_build_filename (dir, "project.ini", NULL);
    g_autofree char *moved = g_build_filename (tmp, "project.ini.moved", NULL);
    GtkWindow *dialog;
    g_autofree char *text = NULL;

    g_assert_cmpint (g_rename (ini, moved), ==, 0);
    bt_test_press_key (GTK_WINDOW (window), GDK_KEY_s, GDK_CONTROL_MASK);
    wait_for (error_dialog_shown, window);
    dialog = error_dialog ();
    text = dialog_text (dialog);
    g_assert_nonnull (strstr (text, "Could not save the project"));
    g_assert_nonnull (strstr (text, "Cats and Dogs"));
    g_assert_false (notification_shown (window));
    gtk_window_destroy (dialog);
    g_assert_cmpint (g_rename (moved, ini), ==, 0);
  }

  window_destroy (window);
  bt_test_rm_rf (tmp);
}

static void
test_window_open_error (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *tmp = g_dir_make_tmp ("bottega-window-XXXXXX", &error);
  g_autoptr(GFile) folder = NULL;
  BtWindow *window;
  GtkWindow *dialog;
  g_autofree char *text = NULL;

  /* An empty folder is not a project. */
  g_assert_no_error (error);
  window = window_new ();
  folder = g_file_new_for_path (tmp);
  bt_window_open_folder (window, folder);
  wait_for (error_dialog_shown, window);
  dialog = error_dialog ();
  text = dialog_text (dialog);
  g_assert_nonnull (strstr (text, "Could not open the project"));
  g_assert_null (bt_window_get_project (window));
  g_assert_cmpstr (gtk_stack_get_visible_child_name (window->main_stack), ==, "welcome");
  gtk_window_destroy (dialog);

  /* A recent project whose folder has gone disappears from the list after one try. */
  {
    g_autoptr(GSettings) settings = g_settings_new ("io.github.bottega.Bottega");
    g_autofree char *gone = g_build_filename (tmp, "gone", NULL);
    const char *recent[] = { gone, tmp, NULL };
    g_autoptr(GFile) gone_file = g_file_new_for_path (gone);
    g_auto(GStrv) left = NULL;

    g_settings_set_strv (settings, "recent-projects", recent);
    g_assert_nonnull (gtk_list_box_get_row_at_index (window->recent_list, 1));
    bt_window_open_folder (window, gone_file);
    wait_for (error_dialog_shown, window);
    gtk_window_destroy (error_dialog ());
    left = g_settings_get_strv (settings, "recent-projects");
    g_assert_cmpuint (g_strv_length (left), ==, 1);
    g_assert_cmpstr (left[0], ==, tmp);
    g_assert_null (gtk_list_box_get_row_at_index (window->recent_list, 1));
  }

  window_destroy (window);
  bt_test_rm_rf (tmp);
}

static void
test_window_sample (void)
{
  g_autofree char *expected_dir = g_build_filename (g_get_user_data_dir (), "bottega", "samples", "shapes", NULL);
  BtWindow *window;
  BtProject *project;

  /* --sample goes through app.open-sample; the first time it draws the images. */
  g_action_group_activate_action (G_ACTION_GROUP (app), "open-sample", NULL);
  window = BT_WINDOW (gtk_application_get_active_window (GTK_APPLICATION (app)));
  g_assert_nonnull (window);
  wait_for (has_project, window);
  project = bt_window_get_project (window);
  g_assert_cmpstr (bt_project_get_dir (project), ==, expected_dir);
  g_assert_cmpuint (g_list_model_get_n_items (bt_project_get_classes (project)), ==, 4);
  g_assert_cmpuint (g_list_model_get_n_items (bt_project_get_items (project)), ==, 4 * BT_SAMPLE_PER_CLASS);
  g_assert_cmpstr (gtk_stack_get_visible_child_name (window->main_stack), ==, "pages");
  window_destroy (window);

  /* The second time it opens what is there instead of drawing again. */
  window = window_new ();
  bt_test_click (bt_test_find_action_button (GTK_WIDGET (window), "win.open-sample", TRUE));
  wait_for (has_project, window);
  project = bt_window_get_project (window);
  g_assert_cmpstr (bt_project_get_dir (project), ==, expected_dir);
  g_assert_cmpuint (g_list_model_get_n_items (bt_project_get_items (project)), ==, 4 * BT_SAMPLE_PER_CLASS);
  window_destroy (window);
}

static void
test_window_quit (void)
{
  BtWindow *window = window_new ();
  GtkWindow *weak = GTK_WINDOW (window);

  g_object_add_weak_pointer (G_OBJECT (weak), (gpointer *) &weak);
  bt_test_press_key (GTK_WINDOW (window), GDK_KEY_q, GDK_CONTROL_MASK);
  BT_TEST_WAIT (weak == NULL);
  g_assert_null (gtk_application_get_windows (GTK_APPLICATION (app)));
}

int
main (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *xdg = g_dir_make_tmp ("bt-test-window-xdg-XXXXXX", NULL);
  g_autofree char *data_home = NULL, *config_home = NULL;
  int ret;

  /* The run gets its own empty data and config folders: the sample lands in the data folder,
   * and a shared ~/.local/share would be raced by parallel runs and say "already drawn".
   * (gtk_test_init() ignores G_TEST_OPTION_ISOLATE_DIRS, and that option also hides the
   * cache folders GTK needs to load the SVG icons.) */
  g_assert_nonnull (xdg);
  data_home = g_build_filename (xdg, "data", NULL);
  config_home = g_build_filename (xdg, "config", NULL);
  g_setenv ("XDG_DATA_HOME", data_home, TRUE);
  g_setenv ("XDG_CONFIG_HOME", config_home, TRUE);
  gtk_test_init (&argc, &argv, NULL);

  app = bt_application_new ();
  /* No session bus under the test runner: stay a local, non-unique instance. */
  g_application_set_flags (G_APPLICATION (app),
                           g_application_get_flags (G_APPLICATION (app)) | G_APPLICATION_NON_UNIQUE);
  if (!g_application_register (G_APPLICATION (app), NULL, &error))
    g_error ("register: %s", error->message);

  g_test_add_func ("/window/template", test_window_template);
  g_test_add_func ("/window/pages", test_window_pages);
  g_test_add_func ("/window/accels", test_window_accels);
  g_test_add_func ("/window/about", test_window_about);
  g_test_add_func ("/window/shortcuts", test_window_shortcuts);
  g_test_add_func ("/window/notification", test_window_notification);
  g_test_add_func ("/window/state", test_window_state);
  g_test_add_func ("/window/project", test_window_project);
  g_test_add_func ("/window/open-error", test_window_open_error);
  g_test_add_func ("/window/sample", test_window_sample);
  g_test_add_func ("/window/quit", test_window_quit);

  ret = g_test_run ();
  g_clear_object (&app);
  bt_test_rm_rf (xdg);
  bt_test_exit (ret);
}
