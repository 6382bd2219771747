/* bt-export-dataset.c: the folder-per-class export of bt-export-dataset.h. The item list is
 * snapshotted first so the copies can run on a worker while the project lives on. */
#include "config.h"

#include "training/bt-export-dataset.h"

#include <errno.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <string.h>

typedef struct {
  char      *out_dir;
  GPtrArray *src;    /* char*: absolute source paths */
  GPtrArray *dest;   /* char*: "<split>/<class folder>" */
  guint      n_copied, n_skipped;
} Plan;

static void
plan_free (Plan *p)
{
  g_free (p->out_dir);
  g_ptr_array_unref (p->src);
  g_ptr_array_unref (p->dest);
  g_free (p);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Plan, plan_free)

/* A class name as one safe folder name: no separators, no "." / ".." / hidden names. */
static char *
safe_folder_name (const char *name)
{
  GString *s = g_string_new (NULL);
  for (const char *p = name; *p; p++)
    g_string_append_c (s, (*p == '/' || *p == '\\' || (guchar) *p < 0x20) ? '_' : *p);
  if (s->len == 0 || s->str[0] == '.')
    g_string_prepend_c (s, '_');
  return g_string_free (s, FALSE);
}

static Plan *
plan_new (BtProject *project, const char *out_dir)
{
  Plan *p = g_new0 (Plan, 1);
  p->out_dir = g_strdup (out_dir);
  p->src = g_ptr_array_new_with_free_func (g_free);
  p->dest = g_ptr_array_new_with_free_func (g_free);
  GListModel *items = bt_project_get_items (project);
  guint n = g_list_model_get_n_items (items);
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(BtItem) it = g_list_model_get_item (items, i);
      if (bt_item_get_excluded (it) || bt_item_get_missing (it))
        continue;
      g_autofree char *folder = safe_folder_name (bt_item_get_class_name (it));
      g_ptr_array_add (p->src, g_strdup (bt_item_get_path (it)));
      g_ptr_array_add (p->dest, g_build_filename (bt_split_to_string (bt_item_get_split (it)), folder, NULL));
    }
  return p;
}

static gboolean
dir_is_missing_or_empty (const char *dir, GError **error)
{
  if (!g_file_test (dir, G_FILE_TEST_EXISTS))
    return TRUE;
  g_autoptr(GError) local = NULL;
  g_autoptr(GDir) d = g_dir_open (dir, 0, &local);
  if (d == NULL)
    {
      g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_IO,
                   _("Cannot export into “%s”: %s"), dir, local->message);
      return FALSE;
    }
  if (g_dir_read_name (d) != NULL)
    {
      g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID,
                   _("The folder “%s” is not empty; choose an empty or new folder"), dir);
      return FALSE;
    }
  return TRUE;
}

/* "name.ext" → "name-k.ext" */
static char *
numbered (const char *base, guint k)
{
  const char *dot = strrchr (base, '.');
  if (dot == NULL || dot == base)
    return g_strdup_printf ("%s-%u", base, k);
  return g_strdup_printf ("%.*s-%u%s", (int) (dot - base), base, k, dot);
}

static gboolean
plan_run (Plan *p, GCancellable *cancellable, GError **error)
{
  if (!dir_is_missing_or_empty (p->out_dir, error))
    return FALSE;
  if (p->src->len == 0)
    {
      g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_NO_DATA, _("The project has no images to export"));
      return FALSE;
    }
  g_autoptr(GHashTable) taken = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  for (guint i = 0; i < p->src->len; i++)
    {
      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        return FALSE;
      const char *src = g_ptr_array_index (p->src, i);
      g_autofree char *folder = g_build_filename (p->out_dir, g_ptr_array_index (p->dest, i), NULL);
      if (g_mkdir_with_parents (folder, 0755) != 0)
        {
          int e = errno;
          g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_IO, _("Cannot create the folder “%s”: %s"),
                       folder, g_strerror (e));
          return FALSE;
        }
      g_autofree char *base = g_path_get_basename (src);
      g_autofree char *dest = g_build_filename (folder, base, NULL);
      for (guint k = 2; g_hash_table_contains (taken, dest); k++)
        {
          g_autofree char *alt = numbered (base, k);
          g_free (dest);
          dest = g_build_filename (folder, alt, NULL);
        }
      g_autoptr(GFile) from = g_file_new_for_path (src);
      g_autoptr(GFile) to = g_file_new_for_path (dest);
      g_autoptr(GError) local = NULL;
      if (!g_file_copy (from, to, G_FILE_COPY_NONE, cancellable, NULL, NULL, &local))
        {
          if (g_error_matches (local, G_IO_ERROR, G_IO_ERROR_CANCELLED))
            {
              g_propagate_error (error, g_steal_pointer (&local));
              return FALSE;
            }
          if (g_access (src, R_OK) != 0 || g_file_test (src, G_FILE_TEST_IS_DIR))
            {
              /* the image vanished or became unreadable: the user's data, not our disk */
              p->n_skipped++;
              continue;
            }
          g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_IO, _("Cannot copy “%s”: %s"),
                       src, local->message);
          return FALSE;
        }
      g_hash_table_add (taken, g_steal_pointer (&dest));
      p->n_copied++;
    }
  return TRUE;
}

gboolean
bt_export_dataset (BtProject *project, const char *out_dir, guint *n_copied, guint *n_skipped,
                   GCancellable *cancellable, GError **error)
{
  g_return_val_if_fail (BT_IS_PROJECT (project), FALSE);
  g_return_val_if_fail (out_dir != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  g_autoptr(Plan) p = plan_new (project, out_dir);
  gboolean ok = plan_run (p, cancellable, error);
  if (n_copied)
    *n_copied = p->n_copied;
  if (n_skipped)
    *n_skipped = p->n_skipped;
  return ok;
}

static void
export_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  Plan *p = data;
  GError *error = NULL;
  if (plan_run (p, cancellable, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

void
bt_export_dataset_async (BtProject *project, const char *out_dir, GCancellable *cancellable,
                         GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (BT_IS_PROJECT (project));
  g_return_if_fail (out_dir != NULL);
  g_autoptr(GTask) task = g_task_new (project, cancellable, callback, user_data);
  g_task_set_source_tag (task, bt_export_dataset_async);
  g_task_set_task_data (task, plan_new (project, out_dir), (GDestroyNotify) plan_free);
  g_task_run_in_thread (task, export_thread);
}

gboolean
bt_export_dataset_finish (GAsyncResult *result, guint *n_copied, guint *n_skipped, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), FALSE);
  Plan *p = g_task_get_task_data (G_TASK (result));
  if (n_copied)
    *n_copied = p->n_copied;
  if (n_skipped)
    *n_skipped = p->n_skipped;
  return g_task_propagate_boolean (G_TASK (result), error);
}
