/* test-dialogs.c: the dialog wrapper on GTK 4.8: choosers return what the person picked or
 * G_IO_ERROR_CANCELLED, message dialogs carry the heading and the error's text, and
 * confirmations report the answer. Without a portal, GtkFileChooserNative shows an in-process
 * GtkFileChooserDialog, which the test answers like a person would. */
#include "config.h"

#include <glib/gstdio.h>
#include <gtk/gtk.h>
#include <string.h>

#include "bt-dialogs.h"
#include "bt-test-wait.h"

/* On GTK 4.10 and later the wrapper calls GtkFileDialog and GtkAlertDialog instead; outside a
 * sandbox (no portal) those show the same in-process GtkFileChooserDialog and GtkMessageDialog,
 * so the same test answers them with the same assertions. */

typedef struct {
  gboolean      done;
  GAsyncResult *result;
} Wait;

static void
spin (void)
{
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

static void
done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Wait *wait = user_data;

  wait->result = g_object_ref (result);
  wait->done = TRUE;
}

static void
wait_done (Wait *wait)
{
  BT_TEST_WAIT (wait->done);
}

static GtkWindow *
find_toplevel (GType type)
{
  GListModel *toplevels = gtk_window_get_toplevels ();

  for (guint i = 0; i < g_list_model_get_n_items (toplevels); i++)
    {
      g_autoptr(GtkWindow) window = g_list_model_get_item (toplevels, i);
      if (G_TYPE_CHECK_INSTANCE_TYPE (window, type) && gtk_widget_get_visible (GTK_WIDGET (window)))
        return window;
    }
  return NULL;
}

static GtkWindow *
parent_new (void)
{
  GtkWindow *parent = GTK_WINDOW (gtk_window_new ());

  gtk_window_present (parent);
  spin ();
  return parent;
}

static GtkFileChooser *
shown_chooser (GtkWindow *parent, const char *title)
{
  GtkWindow *dialog;

  spin ();
  dialog = find_toplevel (GTK_TYPE_FILE_CHOOSER_DIALOG);
  g_assert_nonnull (dialog);
  g_assert_cmpstr (gtk_window_get_title (dialog), ==, title);
  g_assert_true (gtk_window_get_modal (dialog));
  g_assert_true (gtk_window_get_transient_for (dialog) == parent);
  return GTK_FILE_CHOOSER (dialog);
}

/* Selecting needs the chooser to load the folder first, which happens in the background. */
static gboolean
chooser_has_file (GtkFileChooser *chooser, GFile *file)
{
  g_autoptr(GFile) selected = gtk_file_chooser_get_file (chooser);
  return selected != NULL && g_file_equal (selected, file);
}

static void
select_and_wait (GtkFileChooser *chooser, GFile *file)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (gtk_file_chooser_set_file (chooser, file, &error));
  g_assert_no_error (error);
  BT_TEST_WAIT (chooser_has_file (chooser, file));
}

static void
test_choose_folder (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *tmp = g_dir_make_tmp ("bottega-dialogs-XXXXXX", &error);
  g_autoptr(GFile) tmp_file = g_file_new_for_path (tmp);
  GtkWindow *parent = parent_new ();
  GtkFileChooser *chooser;
  Wait wait = { 0 };
  g_autoptr(GFile) folder = NULL;

  g_assert_no_error (error);

  /* Dismissed: cancelled, no file. */
  bt_dialogs_choose_folder_async (parent, "Pick a Folder", "_Create", NULL, done_cb, &wait);
  chooser = shown_chooser (parent, "Pick a Folder");
  g_assert_cmpint (gtk_file_chooser_get_action (chooser), ==, GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER);
  gtk_dialog_response (GTK_DIALOG (chooser), GTK_RESPONSE_CANCEL);
  wait_done (&wait);
  folder = bt_dialogs_choose_folder_finish (wait.result, &error);
  g_assert_null (folder);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);
  g_clear_object (&wait.result);
  spin ();
  g_assert_null (find_toplevel (GTK_TYPE_FILE_CHOOSER_DIALOG));

  /* Accepted: the chosen folder. */
  wait.done = FALSE;
  bt_dialogs_choose_folder_async (parent, "Pick a Folder", "_Create", NULL, done_cb, &wait);
  chooser = shown_chooser (parent, "Pick a Folder");
  select_and_wait (chooser, tmp_file);
  gtk_dialog_response (GTK_DIALOG (chooser), GTK_RESPONSE_ACCEPT);
  wait_done (&wait);
  folder = bt_dialogs_choose_folder_finish (wait.result, &error);
  g_assert_no_error (error);
  g_assert_nonnull (folder);
  g_assert_true (g_file_equal (folder, tmp_file));
  g_clear_object (&wait.result);

  gtk_window_destroy (parent);
  g_rmdir (tmp);
}

static void
test_open_and_save (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *tmp = g_dir_make_tmp ("bottega-dialogs-XXXXXX", &error);
  g_autofree char *png = g_build_filename (tmp, "a.png", NULL);
  g_autoptr(GFile) png_file = g_file_new_for_path (png);
  g_autoptr(GFile) tmp_file = g_file_new_for_path (tmp);
  g_autoptr(GtkFileFilter) filter = bt_dialogs_image_filter_new ();
  g_autoptr(GListModel) files = NULL;
  g_autoptr(GFile) first = NULL;
  g_autoptr(GFile) saved = NULL;
  g_autoptr(GFile) expected = NULL;
  GtkWindow *parent = parent_new ();
  GtkFileChooser *chooser;
  Wait wait = { 0 };

  g_assert_no_error (error);
  g_assert_true (g_file_set_contents (png, "not really a png", -1, &error));

  /* Open several: a list of the picked files, the image filter offered. */
  bt_dialogs_open_files_async (parent, "Add Images", filter, TRUE, NULL, done_cb, &wait);
  chooser = shown_chooser (parent, "Add Images");
  g_assert_cmpint (gtk_file_chooser_get_action (chooser), ==, GTK_FILE_CHOOSER_ACTION_OPEN);
  g_assert_true (gtk_file_chooser_get_select_multiple (chooser));
  g_assert_true (gtk_file_chooser_get_filter (chooser) == filter);
  select_and_wait (chooser, png_file);
  gtk_dialog_response (GTK_DIALOG (chooser), GTK_RESPONSE_ACCEPT);
  wait_done (&wait);
  files = bt_dialogs_open_files_finish (wait.result, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_list_model_get_n_items (files), ==, 1);
  first = g_list_model_get_item (files, 0);
  g_assert_true (g_file_equal (first, png_file));
  g_clear_object (&wait.result);

  /* Save: the suggested name in the chosen folder. */
  wait.done = FALSE;
  bt_dialogs_save_file_async (parent, "Export Model", "cats.bottega", NULL, done_cb, &wait);
  chooser = shown_chooser (parent, "Export Model");
  g_assert_cmpint (gtk_file_chooser_get_action (chooser), ==, GTK_FILE_CHOOSER_ACTION_SAVE);
  g_assert_true (gtk_file_chooser_set_current_folder (chooser, tmp_file, &error));
  g_assert_no_error (error);
  {
    g_autofree char *name = gtk_file_chooser_get_current_name (chooser);
    g_assert_cmpstr (name, ==, "cats.bottega");
  }
  gtk_dialog_response (GTK_DIALOG (chooser), GTK_RESPONSE_ACCEPT);
  wait_done (&wait);
  saved = bt_dialogs_save_file_finish (wait.result, &error);
  g_assert_no_error (error);
  expected = g_file_get_child (tmp_file, "cats.bottega");
  g_assert_true (g_file_equal (saved, expected));
  g_clear_object (&wait.result);

  gtk_window_destroy (parent);
  g_unlink (png);
  g_rmdir (tmp);
}

static void
test_image_filter (void)
{
  g_autoptr(GtkFileFilter) filter = bt_dialogs_image_filter_new ();
  g_autoptr(GVariant) state = gtk_file_filter_to_gvariant (filter);
  g_autofree char *text = g_variant_print (state, FALSE);

  g_assert_cmpstr (gtk_file_filter_get_name (filter), ==, "Images");
  g_assert_nonnull (strstr (text, "image/png"));
  g_assert_nonnull (strstr (text, "image/jpeg"));
  /* Formats the data layer refuses are not offered. */
  g_assert_null (strstr (text, "image/vnd.adobe.photoshop"));
  g_assert_null (strstr (text, "image/x-portable-pixmap"));
}

static void
test_show_error (void)
{
  GtkWindow *parent = parent_new ();
  g_autoptr(GError) cancelled = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, "Cancelled");
  g_autoptr(GError) error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "The folder is gone");
  GtkWindow *dialog;
  g_autofree char *text = NULL, *secondary = NULL;

  /* Cancelling is not an error worth a dialog. */
  bt_dialogs_show_error (parent, "Could not open", cancelled);
  spin ();
  g_assert_null (find_toplevel (GTK_TYPE_MESSAGE_DIALOG));

  bt_dialogs_show_error (parent, "Could not open", error);
  spin ();
  dialog = find_toplevel (GTK_TYPE_MESSAGE_DIALOG);
  g_assert_nonnull (dialog);
  g_assert_true (gtk_window_get_modal (dialog));
  g_assert_true (gtk_window_get_transient_for (dialog) == parent);
  g_object_get (dialog, "text", &text, "secondary-text", &secondary, NULL);
  g_assert_cmpstr (text, ==, "Could not open");
  g_assert_cmpstr (secondary, ==, "The folder is gone");

  /* Answering closes it. */
  gtk_dialog_response (GTK_DIALOG (dialog), GTK_RESPONSE_CLOSE);
  spin ();
  g_assert_null (find_toplevel (GTK_TYPE_MESSAGE_DIALOG));

  bt_dialogs_show_message (parent, "Saved", NULL);
  spin ();
  dialog = find_toplevel (GTK_TYPE_MESSAGE_DIALOG);
  g_assert_nonnull (dialog);
  gtk_dialog_response (GTK_DIALOG (dialog), GTK_RESPONSE_OK);
  spin ();
  g_assert_null (find_toplevel (GTK_TYPE_MESSAGE_DIALOG));

  gtk_window_destroy (parent);
}

static void
test_confirm (void)
{
  static const struct { int response; gboolean destructive; gboolean accepted; gboolean cancelled; } cases[] = {
    { GTK_RESPONSE_ACCEPT, FALSE, TRUE, FALSE },
    { GTK_RESPONSE_CANCEL, FALSE, FALSE, FALSE },
    { GTK_RESPONSE_ACCEPT, TRUE, TRUE, FALSE },
    { GTK_RESPONSE_DELETE_EVENT, TRUE, FALSE, TRUE },
  };
  GtkWindow *parent = parent_new ();

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      Wait wait = { 0 };
      GtkWindow *dialog;
      GtkWidget *accept;
      gboolean accepted;

      bt_dialogs_confirm_async (parent, "Remove the class?", "Its images stay on disk.", "_Remove",
                                cases[i].destructive, NULL, done_cb, &wait);
      spin ();
      dialog = find_toplevel (GTK_TYPE_MESSAGE_DIALOG);
      g_assert_nonnull (dialog);
      accept = gtk_dialog_get_widget_for_response (GTK_DIALOG (dialog), GTK_RESPONSE_ACCEPT);
      g_assert_nonnull (accept);
      g_assert_cmpint (gtk_widget_has_css_class (accept, "destructive-action"), ==, cases[i].destructive);

      gtk_dialog_response (GTK_DIALOG (dialog), cases[i].response);
      wait_done (&wait);
      accepted = bt_dialogs_confirm_finish (wait.result, &error);
      if (cases[i].cancelled)
        g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
      else
        g_assert_no_error (error);
      g_assert_cmpint (accepted, ==, cases[i].accepted);
      g_clear_object (&wait.result);
      spin ();
      g_assert_null (find_toplevel (GTK_TYPE_MESSAGE_DIALOG));
    }

  gtk_window_destroy (parent);
}

int
main (int argc, char **argv)
{
  gtk_test_init (&argc, &argv, NULL);

  g_test_add_func ("/dialogs/choose-folder", test_choose_folder);
  g_test_add_func ("/dialogs/open-and-save", test_open_and_save);
  g_test_add_func ("/dialogs/image-filter", test_image_filter);
  g_test_add_func ("/dialogs/show-error", test_show_error);
  g_test_add_func ("/dialogs/confirm", test_confirm);

  return g_test_run ();
}
