/* bt-window-actions.c: the window's actions (win.*): new and open project, save, page
 * switching. Project I/O runs in a GTask thread; the main thread only shows the result. */
#include "config.h"

#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <errno.h>
#include <unistd.h>

#include "bt-dialogs.h"
#include "bt-window-private.h"

typedef enum {
  OPEN_EXISTING,
  OPEN_CREATE,
  OPEN_SAMPLE,       /* open the sample, making it first if it is not there yet */
} OpenMode;

typedef struct {
  OpenMode  mode;
  char     *dir;
  char     *name;    /* for OPEN_CREATE */
} OpenJob;


static void
open_job_free (gpointer data)
{
  OpenJob *job = data;

  g_free (job->dir);
  g_free (job->name);
  g_free (job);
}

static void
open_project_thread (GTask        *task,
                     gpointer      source_object,
                     gpointer      task_data,
                     GCancellable *cancellable)
{
  OpenJob *job = task_data;
  GError *error = NULL;
  BtProject *project;

  switch (job->mode)
    {
    case OPEN_CREATE:
      project = bt_project_create (job->dir, job->name, &error);
      break;
    case OPEN_SAMPLE:
      {
        g_autofree char *ini = g_build_filename (job->dir, "project.ini", NULL);

        if (g_file_test (ini, G_FILE_TEST_EXISTS))
          project = bt_project_open (job->dir, &error);
        else if (g_mkdir_with_parents (job->dir, 0755) != 0)
          {
            int saved_errno = errno;
            project = NULL;
            g_set_error (&error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                         _("Could not create the folder “%s”: %s"),
                         job->dir, g_strerror (saved_errno));
          }
        else
          project = bt_sample_create_default (job->dir, cancellable, &error);
      }
      break;
    case OPEN_EXISTING:
    default:
      project = bt_project_open (job->dir, &error);
      break;
    }

  if (project == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, project, g_object_unref);
}

static void
open_project_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  BtWindow *self = BT_WINDOW (source);
  GTask *task = G_TASK (result);
  OpenJob *job = g_task_get_task_data (task);
  g_autoptr(BtProject) project = NULL;
  g_autoptr(GError) error = NULL;

  project = g_task_propagate_pointer (task, &error);
  /* A later request replaced this one, or the window is closing. */
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) ||
      g_task_get_cancellable (task) != self->open_cancellable)
    return;
  if (project == NULL)
    {
      /* A recent project whose folder has gone is forgotten, not offered again. */
      if (job->mode == OPEN_EXISTING && !g_file_test (job->dir, G_FILE_TEST_IS_DIR))
        _bt_window_remove_recent (self, job->dir);
      bt_dialogs_show_error (GTK_WINDOW (self),
                             job->mode == OPEN_CREATE ? _("Could not create the project")
                             : job->mode == OPEN_SAMPLE ? _("Could not open the sample project")
                             : _("Could not open the project"),
                             error);
      return;
    }

  /* A second project gets a window of its own; this one keeps what it shows. */
  if (self->project != NULL && g_strcmp0 (bt_project_get_dir (self->project), bt_project_get_dir (project)) != 0)
    {
      BtWindow *other = bt_window_new (gtk_window_get_application (GTK_WINDOW (self)));

      bt_window_set_project (other, project);
      gtk_window_present (GTK_WINDOW (other));
    }
  else
    bt_window_set_project (self, project);
  _bt_window_add_recent (self, bt_project_get_dir (project));
}

static void
start_open (BtWindow *self, GFile *folder, OpenMode mode)
{
  g_autoptr(GTask) task = NULL;
  OpenJob *job;

  if (!g_file_is_native (folder))
    {
      g_autoptr(GError) error = g_error_new (G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED, "%s",
                                             _("Projects must be in a local folder."));
      bt_dialogs_show_error (GTK_WINDOW (self), _("Could not open the project"), error);
      return;
    }

  /* Only the latest request counts. */
  g_cancellable_cancel (self->open_cancellable);
  g_clear_object (&self->open_cancellable);
  self->open_cancellable = g_cancellable_new ();

  job = g_new0 (OpenJob, 1);
  job->mode = mode;
  job->dir = g_file_get_path (folder);
  if (mode == OPEN_CREATE)
    job->name = g_file_get_basename (folder);

  task = g_task_new (self, self->open_cancellable, open_project_done_cb, NULL);
  g_task_set_source_tag (task, start_open);
  g_task_set_task_data (task, job, open_job_free);
  g_task_set_return_on_cancel (task, FALSE);
  g_task_run_in_thread (task, open_project_thread);
}

void
bt_window_open_folder (BtWindow *self, GFile *folder)
{
  g_return_if_fail (BT_IS_WINDOW (self));
  g_return_if_fail (G_IS_FILE (folder));

  start_open (self, folder, OPEN_EXISTING);
}

void
bt_window_open_sample (BtWindow *self)
{
  g_autofree char *dir = NULL;
  g_autoptr(GFile) folder = NULL;

  g_return_if_fail (BT_IS_WINDOW (self));

  dir = g_build_filename (g_get_user_data_dir (), "bottega", "samples", "shapes", NULL);
  folder = g_file_new_for_path (dir);
  bt_window_notify (self, _("Opening the sample project…"));
  start_open (self, folder, OPEN_SAMPLE);
}

static void
choose_new_folder_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  BtWindow *self = BT_WINDOW (source);
  g_autoptr(GFile) folder = NULL;
  g_autoptr(GError) error = NULL;

  folder = bt_dialogs_choose_folder_finish (result, &error);
  if (folder == NULL)
    bt_dialogs_show_error (GTK_WINDOW (self), _("Could not create the project"), error);
  else
    start_open (self, folder, OPEN_CREATE);
}

static void
choose_open_folder_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  BtWindow *self = BT_WINDOW (source);
  g_autoptr(GFile) folder = NULL;
  g_autoptr(GError) error = NULL;

  folder = bt_dialogs_choose_folder_finish (result, &error);
  if (folder == NULL)
    bt_dialogs_show_error (GTK_WINDOW (self), _("Could not open the project"), error);
  else
    start_open (self, folder, OPEN_EXISTING);
}

static void
new_project_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  bt_dialogs_choose_folder_async (GTK_WINDOW (widget),
                                  _("Choose a Folder for the New Project"),
                                  _("_Create"), NULL, choose_new_folder_cb, NULL);
}

static void
open_project_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  bt_dialogs_choose_folder_async (GTK_WINDOW (widget),
                                  _("Open a Project Folder"),
                                  _("_Open"), NULL, choose_open_folder_cb, NULL);
}

static void
check_saved_thread (GTask        *task,
                    gpointer      source_object,
                    gpointer      task_data,
                    GCancellable *cancellable)
{
  const char *dir = task_data;
  g_autofree char *ini = g_build_filename (dir, "project.ini", NULL);

  /* Changes were written as they happened; what can still go wrong is the folder
   * itself vanishing or turning read-only under us. */
  if (!g_file_test (ini, G_FILE_TEST_IS_REGULAR))
    g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                             _("The project folder “%s” is gone or no longer holds the project."),
                             dir);
  else if (g_access (dir, W_OK) != 0 || g_access (ini, W_OK) != 0)
    g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                             _("The project folder “%s” can no longer be written to."), dir);
  else
    g_task_return_boolean (task, TRUE);
}

static void
check_saved_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  BtWindow *self = BT_WINDOW (source);
  g_autoptr(GError) error = NULL;

  if (g_task_propagate_boolean (G_TASK (result), &error))
    bt_window_notify (self, _("All changes are saved"));
  else
    bt_dialogs_show_error (GTK_WINDOW (self), _("Could not save the project"), error);
}

static void
open_sample_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  bt_window_open_sample (BT_WINDOW (widget));
}

static void
save_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  BtWindow *self = BT_WINDOW (widget);
  g_autoptr(GTask) task = NULL;

  if (self->project == NULL)
    return;

  g_settings_sync ();
  task = g_task_new (self, NULL, check_saved_done_cb, NULL);
  g_task_set_source_tag (task, save_action);
  g_task_set_task_data (task, g_strdup (bt_project_get_dir (self->project)), g_free);
  g_task_run_in_thread (task, check_saved_thread);
}

void
_bt_window_update_actions (BtWindow *self)
{
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.save", self->project != NULL);
}

/* Ctrl+Return on the Train page starts a run even when the focus is not inside the page (after
 * Alt+3 or a click on the header it is on the page buttons, or nowhere): the page's own binding
 * sees only keys from inside it. Runs after every binding of the focus chain. */
static gboolean
train_shortcut (GtkWidget *widget, GVariant *args, gpointer user_data)
{
  BtWindow *self = BT_WINDOW (widget);

  if (self->project == NULL || g_strcmp0 (bt_window_get_page (self), "train") != 0)
    return FALSE;
  return gtk_widget_activate_action (GTK_WIDGET (self->train_page), "train.start", NULL);
}

void
_bt_window_class_actions_init (GtkWidgetClass *widget_class)
{
  gtk_widget_class_add_binding (widget_class, GDK_KEY_Return, GDK_CONTROL_MASK, train_shortcut, NULL);
  gtk_widget_class_install_action (widget_class, "win.new-project", NULL, new_project_action);
  gtk_widget_class_install_action (widget_class, "win.open-project", NULL, open_project_action);
  gtk_widget_class_install_action (widget_class, "win.open-sample", NULL, open_sample_action);
  gtk_widget_class_install_action (widget_class, "win.save", NULL, save_action);
  /* State follows the "page" property, so the header buttons show the visible page. */
  gtk_widget_class_install_property_action (widget_class, "win.page", "page");
}
