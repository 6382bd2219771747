/* bt-dialogs.c: file choosers and message dialogs behind one small API. GTK 4.8 gets
 * GtkFileChooserNative and GtkMessageDialog; newer SDKs GtkFileDialog and GtkAlertDialog. */
#include "config.h"

#include <glib/gi18n.h>

#include "bt-dialogs.h"
#include "dataset/bt-dataset.h"

#define BT_NEW_DIALOGS GTK_CHECK_VERSION (4, 10, 0)

static void
return_dismissed (GTask *task)
{
  g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CANCELLED, "%s",
                           _("The dialog was dismissed"));
}

#if BT_NEW_DIALOGS
/* The project builds with GDK_VERSION_MAX_ALLOWED = 4.8; these calls are newer on purpose. */
G_GNUC_BEGIN_IGNORE_DEPRECATIONS

static void
return_dialog_error (GTask *task, GError *error)
{
  if (g_error_matches (error, GTK_DIALOG_ERROR, GTK_DIALOG_ERROR_DISMISSED) ||
      g_error_matches (error, GTK_DIALOG_ERROR, GTK_DIALOG_ERROR_CANCELLED))
    {
      g_error_free (error);
      return_dismissed (task);
    }
  else
    g_task_return_error (task, error);
}

static GtkFileDialog *
file_dialog_new (const char *title, const char *accept_label, GtkFileFilter *filter)
{
  GtkFileDialog *dialog = gtk_file_dialog_new ();

  gtk_file_dialog_set_title (dialog, title);
  gtk_file_dialog_set_modal (dialog, TRUE);
  if (accept_label != NULL)
    gtk_file_dialog_set_accept_label (dialog, accept_label);
  if (filter != NULL)
    gtk_file_dialog_set_default_filter (dialog, filter);
  return dialog;
}

/* A dialog's one file, or its error, to the task. */
static void
return_file (GTask *task, GFile *file, GError *error)
{
  if (file == NULL)
    return_dialog_error (task, error);
  else
    g_task_return_pointer (task, file, g_object_unref);
}

static void
select_folder_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  GError *error = NULL;
  GFile *file = gtk_file_dialog_select_folder_finish (GTK_FILE_DIALOG (source), result, &error);

  return_file (task, file, error);
}

static void
open_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  GError *error = NULL;
  GFile *file = gtk_file_dialog_open_finish (GTK_FILE_DIALOG (source), result, &error);

  if (file == NULL)
    return_dialog_error (task, error);
  else
    {
      GListStore *store = g_list_store_new (G_TYPE_FILE);
      g_list_store_append (store, file);
      g_object_unref (file);
      g_task_return_pointer (task, store, g_object_unref);
    }
}

static void
open_multiple_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  GError *error = NULL;
  GListModel *files;

  files = gtk_file_dialog_open_multiple_finish (GTK_FILE_DIALOG (source), result, &error);

  if (files == NULL)
    return_dialog_error (task, error);
  else
    g_task_return_pointer (task, files, g_object_unref);
}

static void
save_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  GError *error = NULL;
  GFile *file = gtk_file_dialog_save_finish (GTK_FILE_DIALOG (source), result, &error);

  return_file (task, file, error);
}

static void
alert_choose_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  GError *error = NULL;
  int button = gtk_alert_dialog_choose_finish (GTK_ALERT_DIALOG (source), result, &error);

  if (button < 0)
    return_dialog_error (task, error);
  else
    g_task_return_boolean (task, button == 1);
}

G_GNUC_END_IGNORE_DEPRECATIONS

#else /* GTK 4.8 */

static void
native_response_cb (GtkNativeDialog *native, int response, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  GtkFileChooser *chooser = GTK_FILE_CHOOSER (native);

  if (response != GTK_RESPONSE_ACCEPT)
    return_dismissed (task);
  else if (GPOINTER_TO_INT (g_task_get_task_data (task)) == 1)
    {
      /* Multiple selection: return the chooser's list model as is (of GFile). */
      GListModel *files = gtk_file_chooser_get_files (chooser);
      if (files == NULL || g_list_model_get_n_items (files) == 0)
        {
          g_clear_object (&files);
          return_dismissed (task);
        }
      else
        g_task_return_pointer (task, files, g_object_unref);
    }
  else
    {
      GFile *file = gtk_file_chooser_get_file (chooser);
      if (file == NULL)
        return_dismissed (task);
      else if (GPOINTER_TO_INT (g_task_get_task_data (task)) == 2)
        {
          GListStore *store = g_list_store_new (G_TYPE_FILE);
          g_list_store_append (store, file);
          g_object_unref (file);
          g_task_return_pointer (task, store, g_object_unref);
        }
      else
        g_task_return_pointer (task, file, g_object_unref);
    }

  gtk_native_dialog_destroy (native);
  g_object_unref (native);
}

/* mode: 0 returns one GFile, 1 a list of files, 2 one file wrapped in a list. */
static void
run_native (GtkWindow            *parent,
            const char           *title,
            GtkFileChooserAction  action,
            const char           *accept_label,
            GtkFileFilter        *filter,
            gboolean              multiple,
            const char           *initial_name,
            int                   mode,
            GTask                *task)
{
  GtkFileChooserNative *native;

  native = gtk_file_chooser_native_new (title, parent, action, accept_label, _("_Cancel"));
  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (native), TRUE);
  if (filter != NULL)
    gtk_file_chooser_add_filter (GTK_FILE_CHOOSER (native), filter);
  if (multiple)
    gtk_file_chooser_set_select_multiple (GTK_FILE_CHOOSER (native), TRUE);
  if (initial_name != NULL)
    gtk_file_chooser_set_current_name (GTK_FILE_CHOOSER (native), initial_name);

  g_task_set_task_data (task, GINT_TO_POINTER (mode), NULL);
  /* The native dialog keeps itself alive until the response; the task owns one ref. */
  g_signal_connect (native, "response", G_CALLBACK (native_response_cb), task);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (native));
}

static void
message_response_cb (GtkDialog *dialog, int response, gpointer user_data)
{
  GTask *task = user_data;

  if (task != NULL)
    {
      if (response == GTK_RESPONSE_ACCEPT)
        g_task_return_boolean (task, TRUE);
      else if (response == GTK_RESPONSE_CANCEL || response == GTK_RESPONSE_REJECT)
        g_task_return_boolean (task, FALSE);
      else
        return_dismissed (task);
      g_object_unref (task);
    }
  gtk_window_destroy (GTK_WINDOW (dialog));
}

static GtkWidget *
message_dialog_new (GtkWindow *parent, GtkMessageType type, GtkButtonsType buttons,
                    const char *heading, const char *body)
{
  GtkWidget *dialog = gtk_message_dialog_new (parent,
                                              GTK_DIALOG_MODAL | GTK_DIALOG_DESTROY_WITH_PARENT,
                                              type, buttons, "%s", heading);
  if (body != NULL && *body != '\0')
    gtk_message_dialog_format_secondary_text (GTK_MESSAGE_DIALOG (dialog), "%s", body);
  return dialog;
}
#endif

void
bt_dialogs_choose_folder_async (GtkWindow           *parent,
                                const char          *title,
                                const char          *accept_label,
                                GCancellable        *cancellable,
                                GAsyncReadyCallback  callback,
                                gpointer             user_data)
{
  GTask *task;

  g_return_if_fail (parent == NULL || GTK_IS_WINDOW (parent));
  g_return_if_fail (title != NULL);

  task = g_task_new (parent, cancellable, callback, user_data);
  g_task_set_source_tag (task, bt_dialogs_choose_folder_async);
#if BT_NEW_DIALOGS
  G_GNUC_BEGIN_IGNORE_DEPRECATIONS
  {
    g_autoptr(GtkFileDialog) dialog = file_dialog_new (title, accept_label, NULL);
    gtk_file_dialog_select_folder (dialog, parent, cancellable, select_folder_cb, task);
  }
  G_GNUC_END_IGNORE_DEPRECATIONS
#else
  run_native (parent, title, GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER, accept_label,
              NULL, FALSE, NULL, 0, task);
#endif
}

GFile *
bt_dialogs_choose_folder_finish (GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (G_IS_TASK (result), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == bt_dialogs_choose_folder_async,
                        NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

void
bt_dialogs_open_files_async (GtkWindow           *parent,
                             const char          *title,
                             GtkFileFilter       *filter,
                             gboolean             select_multiple,
                             GCancellable        *cancellable,
                             GAsyncReadyCallback  callback,
                             gpointer             user_data)
{
  GTask *task;

  g_return_if_fail (parent == NULL || GTK_IS_WINDOW (parent));
  g_return_if_fail (title != NULL);
  g_return_if_fail (filter == NULL || GTK_IS_FILE_FILTER (filter));

  task = g_task_new (parent, cancellable, callback, user_data);
  g_task_set_source_tag (task, bt_dialogs_open_files_async);
#if BT_NEW_DIALOGS
  G_GNUC_BEGIN_IGNORE_DEPRECATIONS
  {
    g_autoptr(GtkFileDialog) dialog = file_dialog_new (title, NULL, filter);
    if (select_multiple)
      gtk_file_dialog_open_multiple (dialog, parent, cancellable, open_multiple_cb, task);
    else
      gtk_file_dialog_open (dialog, parent, cancellable, open_cb, task);
  }
  G_GNUC_END_IGNORE_DEPRECATIONS
#else
  run_native (parent, title, GTK_FILE_CHOOSER_ACTION_OPEN, _("_Open"), filter, select_multiple,
              NULL, select_multiple ? 1 : 2, task);
#endif
}

GListModel *
bt_dialogs_open_files_finish (GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (G_IS_TASK (result), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == bt_dialogs_open_files_async,
                        NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

void
bt_dialogs_save_file_async (GtkWindow           *parent,
                            const char          *title,
                            const char          *initial_name,
                            GCancellable        *cancellable,
                            GAsyncReadyCallback  callback,
                            gpointer             user_data)
{
  GTask *task;

  g_return_if_fail (parent == NULL || GTK_IS_WINDOW (parent));
  g_return_if_fail (title != NULL);

  task = g_task_new (parent, cancellable, callback, user_data);
  g_task_set_source_tag (task, bt_dialogs_save_file_async);
#if BT_NEW_DIALOGS
  G_GNUC_BEGIN_IGNORE_DEPRECATIONS
  {
    g_autoptr(GtkFileDialog) dialog = file_dialog_new (title, _("_Save"), NULL);
    if (initial_name != NULL)
      gtk_file_dialog_set_initial_name (dialog, initial_name);
    gtk_file_dialog_save (dialog, parent, cancellable, save_cb, task);
  }
  G_GNUC_END_IGNORE_DEPRECATIONS
#else
  run_native (parent, title, GTK_FILE_CHOOSER_ACTION_SAVE, _("_Save"), NULL, FALSE,
              initial_name, 0, task);
#endif
}

GFile *
bt_dialogs_save_file_finish (GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (G_IS_TASK (result), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == bt_dialogs_save_file_async,
                        NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

GtkFileFilter *
bt_dialogs_image_filter_new (void)
{
  /* What the data layer decodes (bt-image-formats.h) */
  guint n_formats;
  const BtImageFormat *formats = bt_image_formats (&n_formats);
  GtkFileFilter *filter = gtk_file_filter_new ();

  gtk_file_filter_set_name (filter, _("Images"));
  for (guint i = 0; i < n_formats; i++)
    {
      if (!formats[i].decoded)
        continue;
      for (guint k = 0; formats[i].mime_types[k] != NULL; k++)
        gtk_file_filter_add_mime_type (filter, formats[i].mime_types[k]);
      for (guint k = 0; formats[i].suffixes[k] != NULL; k++)
        gtk_file_filter_add_suffix (filter, formats[i].suffixes[k]);
    }
  return filter;
}

void
bt_dialogs_show_error (GtkWindow *parent, const char *heading, const GError *error)
{
  g_return_if_fail (parent == NULL || GTK_IS_WINDOW (parent));
  g_return_if_fail (heading != NULL);

  if (error != NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;

#if BT_NEW_DIALOGS
  G_GNUC_BEGIN_IGNORE_DEPRECATIONS
  {
    g_autoptr(GtkAlertDialog) alert = gtk_alert_dialog_new ("%s", heading);
    if (error != NULL)
      gtk_alert_dialog_set_detail (alert, error->message);
    gtk_alert_dialog_show (alert, parent);
  }
  G_GNUC_END_IGNORE_DEPRECATIONS
#else
  {
    GtkWidget *dialog = message_dialog_new (parent, GTK_MESSAGE_ERROR, GTK_BUTTONS_CLOSE, heading,
                                            error != NULL ? error->message : NULL);
    g_signal_connect (dialog, "response", G_CALLBACK (message_response_cb), NULL);
    gtk_window_present (GTK_WINDOW (dialog));
  }
#endif
}

void
bt_dialogs_show_message (GtkWindow *parent, const char *heading, const char *body)
{
  g_return_if_fail (parent == NULL || GTK_IS_WINDOW (parent));
  g_return_if_fail (heading != NULL);

#if BT_NEW_DIALOGS
  G_GNUC_BEGIN_IGNORE_DEPRECATIONS
  {
    g_autoptr(GtkAlertDialog) alert = gtk_alert_dialog_new ("%s", heading);
    if (body != NULL)
      gtk_alert_dialog_set_detail (alert, body);
    gtk_alert_dialog_show (alert, parent);
  }
  G_GNUC_END_IGNORE_DEPRECATIONS
#else
  {
    GtkWidget *dialog = message_dialog_new (parent, GTK_MESSAGE_INFO, GTK_BUTTONS_OK,
                                            heading, body);
    g_signal_connect (dialog, "response", G_CALLBACK (message_response_cb), NULL);
    gtk_window_present (GTK_WINDOW (dialog));
  }
#endif
}

void
bt_dialogs_confirm_async (GtkWindow           *parent,
                          const char          *heading,
                          const char          *body,
                          const char          *accept_label,
                          gboolean             destructive,
                          GCancellable        *cancellable,
                          GAsyncReadyCallback  callback,
                          gpointer             user_data)
{
  GTask *task;

  g_return_if_fail (parent == NULL || GTK_IS_WINDOW (parent));
  g_return_if_fail (heading != NULL);
  g_return_if_fail (accept_label != NULL);

  task = g_task_new (parent, cancellable, callback, user_data);
  g_task_set_source_tag (task, bt_dialogs_confirm_async);
#if BT_NEW_DIALOGS
  G_GNUC_BEGIN_IGNORE_DEPRECATIONS
  {
    const char *buttons[] = { _("_Cancel"), accept_label, NULL };
    g_autoptr(GtkAlertDialog) alert = gtk_alert_dialog_new ("%s", heading);
    if (body != NULL)
      gtk_alert_dialog_set_detail (alert, body);
    gtk_alert_dialog_set_buttons (alert, buttons);
    gtk_alert_dialog_set_cancel_button (alert, 0);
    gtk_alert_dialog_set_default_button (alert, destructive ? 0 : 1);
    gtk_alert_dialog_choose (alert, parent, cancellable, alert_choose_cb, task);
  }
  G_GNUC_END_IGNORE_DEPRECATIONS
#else
  {
    GtkWidget *dialog = message_dialog_new (parent, GTK_MESSAGE_QUESTION, GTK_BUTTONS_NONE,
                                            heading, body);
    GtkWidget *accept;

    gtk_dialog_add_button (GTK_DIALOG (dialog), _("_Cancel"), GTK_RESPONSE_CANCEL);
    accept = gtk_dialog_add_button (GTK_DIALOG (dialog), accept_label, GTK_RESPONSE_ACCEPT);
    if (destructive)
      gtk_widget_add_css_class (accept, "destructive-action");
    else
      gtk_dialog_set_default_response (GTK_DIALOG (dialog), GTK_RESPONSE_ACCEPT);
    g_signal_connect (dialog, "response", G_CALLBACK (message_response_cb), task);
    gtk_window_present (GTK_WINDOW (dialog));
  }
#endif
}

gboolean
bt_dialogs_confirm_finish (GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (G_IS_TASK (result), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == bt_dialogs_confirm_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

void
bt_dialogs_close_on_escape (GtkWindow *window)
{
  GtkEventController *controller;
  GtkShortcut *shortcut;

  g_return_if_fail (GTK_IS_WINDOW (window));

  controller = gtk_shortcut_controller_new ();
  gtk_shortcut_controller_set_scope (GTK_SHORTCUT_CONTROLLER (controller), GTK_SHORTCUT_SCOPE_MANAGED);
  shortcut = gtk_shortcut_new (gtk_keyval_trigger_new (GDK_KEY_Escape, 0),
                               gtk_named_action_new ("window.close"));
  gtk_shortcut_controller_add_shortcut (GTK_SHORTCUT_CONTROLLER (controller), shortcut);
  gtk_widget_add_controller (GTK_WIDGET (window), controller);
}
