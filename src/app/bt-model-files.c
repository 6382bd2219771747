/* bt-model-files.c: the saved models of a project (the .bottega-model files in models/), listed and loaded
 * off the main thread, and shared safely between the page and its worker jobs. */
#include "config.h"

#include <glib/gi18n.h>

#include "bt-model-files.h"
#include "training/bt-run-files.h"
#include "training/bt-backbones.h"

struct _BtSharedModel
{
  gatomicrefcount ref;
  GMutex          lock;
  char           *path;
  BtModel        *model;
  gboolean        needs_backbone;           /* its backbone is not on this computer */
  const BtBackboneInfo *backbone_info;      /* that backbone in the catalogue, or NULL */
};

BtSharedModel *
bt_shared_model_ref (BtSharedModel *m)
{
  g_return_val_if_fail (m != NULL, NULL);
  g_atomic_ref_count_inc (&m->ref);
  return m;
}

void
bt_shared_model_unref (BtSharedModel *m)
{
  g_return_if_fail (m != NULL);
  if (!g_atomic_ref_count_dec (&m->ref))
    return;
  g_mutex_clear (&m->lock);
  bt_model_free (m->model);
  g_free (m->path);
  g_free (m);
}

BtModel *
bt_shared_model_lock (BtSharedModel *m)
{
  g_return_val_if_fail (m != NULL, NULL);
  g_mutex_lock (&m->lock);
  return m->model;
}

void
bt_shared_model_unlock (BtSharedModel *m)
{
  g_return_if_fail (m != NULL);
  g_mutex_unlock (&m->lock);
}

const char *
bt_shared_model_get_path (BtSharedModel *m)
{
  g_return_val_if_fail (m != NULL, NULL);
  return m->path;
}

const char * const *
bt_shared_model_get_class_names (BtSharedModel *m)
{
  g_return_val_if_fail (m != NULL, NULL);
  return (const char * const *) m->model->class_names;
}

static BtModelFilesListHook list_hook;
static gpointer list_hook_data;

void
bt_model_files_set_list_hook (BtModelFilesListHook hook, gpointer user_data)
{
  list_hook = hook;
  list_hook_data = user_data;
}

static void
list_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  /* the run files' order: newest first, failed runs' models last */
  GPtrArray *paths = bt_run_files_list_models (task_data);

  if (list_hook != NULL)
    list_hook (paths, list_hook_data);
  g_task_return_pointer (task, paths, (GDestroyNotify) g_ptr_array_unref);
}

void
bt_model_files_list_async (BtProject *project, GCancellable *cancellable,
                           GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (BT_IS_PROJECT (project));

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_task_data (task, g_strdup (bt_project_get_dir (project)), g_free);
  g_task_run_in_thread (task, list_thread);
}

GPtrArray *
bt_model_files_list_finish (GAsyncResult *result, GError **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
load_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  const char *path = task_data;
  GError *error = NULL;
  BtModel *model = bt_model_load (path, &error);
  BtSharedModel *m;

  if (model == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  m = g_new0 (BtSharedModel, 1);
  g_atomic_ref_count_init (&m->ref);
  g_mutex_init (&m->lock);
  m->path = g_strdup (path);
  m->model = model;
  m->needs_backbone = bt_backbones_model_needs (model, &m->backbone_info);
  g_task_return_pointer (task, m, (GDestroyNotify) bt_shared_model_unref);
}

void
bt_model_files_load_async (const char *path, GCancellable *cancellable,
                           GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (path != NULL);

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_task_data (task, g_strdup (path), g_free);
  g_task_run_in_thread (task, load_thread);
}

BtSharedModel *
bt_model_files_load_finish (GAsyncResult *result, GError **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

gboolean
bt_shared_model_needs_backbone (BtSharedModel *m, const BtBackboneInfo **info)
{
  g_return_val_if_fail (m != NULL, FALSE);
  if (info)
    *info = m->backbone_info;
  return m->needs_backbone;
}

char *
bt_model_files_display_name (const char *path)
{
  return bt_run_files_model_display_name (path);
}
