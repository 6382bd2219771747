/* bt-model-files.c: the saved models of a project (the .bottega-model files in models/), listed and loaded
 * off the main thread, and shared safely between the page and its worker jobs. */
#include "config.h"

#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <string.h>

#include "bt-model-files.h"
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

typedef struct { char *path; gint64 mtime; } Entry;

static int
cmp_newest_first (gconstpointer a, gconstpointer b)
{
  const Entry *ea = *(Entry * const *) a, *eb = *(Entry * const *) b;

  if (ea->mtime != eb->mtime)
    return ea->mtime > eb->mtime ? -1 : 1;
  return -g_strcmp0 (ea->path, eb->path);
}

static void
entry_free (Entry *e)
{
  g_free (e->path);
  g_free (e);
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
  const char *dir_path = task_data;
  g_autoptr(GPtrArray) entries = g_ptr_array_new_with_free_func ((GDestroyNotify) entry_free);
  g_autoptr(GDir) dir = g_dir_open (dir_path, 0, NULL);
  GPtrArray *paths = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  while (dir && (name = g_dir_read_name (dir)) && entries->len < 10000)
    {
      Entry *e;
      GStatBuf st;
      g_autofree char *path = NULL;

      if (!g_str_has_suffix (name, ".bottega-model"))
        continue;
      path = g_build_filename (dir_path, name, NULL);
      if (g_stat (path, &st) != 0 || !S_ISREG (st.st_mode))
        continue;
      e = g_new0 (Entry, 1);
      e->path = g_steal_pointer (&path);
      e->mtime = st.st_mtime;
      g_ptr_array_add (entries, e);
    }
  g_ptr_array_sort (entries, cmp_newest_first);
  for (guint i = 0; i < entries->len; i++)
    g_ptr_array_add (paths, g_strdup (((Entry *) entries->pdata[i])->path));
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
  g_task_set_task_data (task, g_build_filename (bt_project_get_dir (project), "models", NULL), g_free);
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
  g_autofree char *base = g_path_get_basename (path);
  g_autofree char *display = g_filename_display_name (base);
  char *dot = strstr (display, ".bottega-model");

  if (dot)
    *dot = '\0';
  return g_steal_pointer (&display);
}
