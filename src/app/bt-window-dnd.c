/* bt-window-dnd.c: files and folders dropped anywhere on the window. With a project open they
 * go to the Data page; on the welcome view a new project is made for them first, in the
 * user's data folder, named after the first dropped folder. */
#include "config.h"

#include <glib/gi18n.h>

#include "bt-dialogs.h"
#include "bt-window-private.h"

typedef struct {
  GStrv  paths;
  char  *dir;      /* chosen by the worker */
} DropJob;

static void
drop_job_free (gpointer data)
{
  DropJob *job = data;

  g_strfreev (job->paths);
  g_free (job->dir);
  g_free (job);
}

static void
create_project_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  DropJob *job = task_data;
  g_autofree char *base = g_path_get_basename (job->paths[0]);
  g_autofree char *parent = g_build_filename (g_get_user_data_dir (), "bottega", "projects", NULL);
  g_autofree char *name = NULL;
  GError *error = NULL;
  BtProject *project;

  /* Dropped files rather than a folder: the project is named after their folder. */
  if (!g_file_test (job->paths[0], G_FILE_TEST_IS_DIR))
    {
      g_autofree char *dirname = g_path_get_dirname (job->paths[0]);
      g_free (base);
      base = g_path_get_basename (dirname);
    }
  for (guint i = 1; ; i++)
    {
      g_free (name);
      name = i == 1 ? g_strdup (base) : g_strdup_printf ("%s-%u", base, i);
      g_free (job->dir);
      job->dir = g_build_filename (parent, name, NULL);
      if (!g_file_test (job->dir, G_FILE_TEST_EXISTS) || i > 1000)
        break;
    }
  project = bt_project_create (job->dir, NULL, &error);
  if (project == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, project, g_object_unref);
}

static void
create_project_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  BtWindow *self = BT_WINDOW (source);
  DropJob *job = g_task_get_task_data (G_TASK (result));
  g_autoptr(GError) error = NULL;
  g_autoptr(BtProject) project = g_task_propagate_pointer (G_TASK (result), &error);
  g_autofree char *message = NULL;
  g_autofree char *where = NULL;

  if (project == NULL)
    {
      bt_dialogs_show_error (GTK_WINDOW (self), _("Could not create a project for the dropped folders"), error);
      return;
    }
  if (self->project != NULL)
    return;
  bt_window_set_project (self, project);
  _bt_window_add_recent (self, bt_project_get_dir (project));
  bt_data_page_import_paths (self->data_page, (const char * const *) job->paths, NULL);
  where = g_filename_display_name (job->dir);
  message = g_strdup_printf (_("New project in %s"), where);
  bt_window_notify (self, message);
}

static gboolean
window_drop_cb (GtkDropTarget *target, const GValue *value, double x, double y, BtWindow *self)
{
  g_autoptr(GSList) files = NULL;
  g_auto(GStrv) paths = NULL;
  g_autoptr(GTask) task = NULL;
  DropJob *job;

  if (!G_VALUE_HOLDS (value, GDK_TYPE_FILE_LIST))
    return FALSE;
  files = gdk_file_list_get_files (g_value_get_boxed (value));
  if (self->project != NULL)
    {
      bt_window_set_page (self, "data");
      bt_data_page_import_files (self->data_page, files, NULL);
      return TRUE;
    }

  paths = bt_import_paths_from_files (files, NULL);
  if (paths == NULL || paths[0] == NULL)
    {
      bt_window_notify (self, _("Only files on this computer can be added"));
      return FALSE;
    }
  job = g_new0 (DropJob, 1);
  job->paths = g_steal_pointer (&paths);
  task = g_task_new (self, self->open_cancellable, create_project_done_cb, NULL);
  g_task_set_source_tag (task, window_drop_cb);
  g_task_set_task_data (task, job, drop_job_free);
  g_task_run_in_thread (task, create_project_thread);
  return TRUE;
}

void
_bt_window_dnd_init (BtWindow *self)
{
  GtkDropTarget *target = gtk_drop_target_new (GDK_TYPE_FILE_LIST, GDK_ACTION_COPY);

  g_signal_connect_object (target, "drop", G_CALLBACK (window_drop_cb), self, 0);
  gtk_widget_add_controller (GTK_WIDGET (self), GTK_EVENT_CONTROLLER (target));
}
