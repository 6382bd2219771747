/* bt-import.c: from dropped paths to scan jobs. Only looks at names and file types (the data
 * layer's plan-only walk, bt_scan_plan: no decoding); runs in a worker because folders are
 * walked to count files. */
#include "config.h"

#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <string.h>

#include "bt-import.h"

static void
import_job_free (BtImportJob *job)
{
  g_free (job->class_name);
  g_clear_pointer (&job->paths, g_ptr_array_unref);
  g_free (job);
}

void
bt_import_plan_free (BtImportPlan *plan)
{
  if (plan == NULL)
    return;
  g_clear_pointer (&plan->jobs, g_ptr_array_unref);
  g_clear_pointer (&plan->ignored, g_ptr_array_unref);
  g_free (plan);
}

static BtImportJob *
find_or_add_job (BtImportPlan *plan, BtScanMode mode, const char *class_name)
{
  BtImportJob *job;

  for (guint i = 0; i < plan->jobs->len; i++)
    {
      job = g_ptr_array_index (plan->jobs, i);
      if (job->mode == mode && g_strcmp0 (job->class_name, class_name) == 0)
        return job;
    }
  job = g_new0 (BtImportJob, 1);
  job->mode = mode;
  job->class_name = g_strdup (class_name);
  job->paths = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (plan->jobs, job);
  return job;
}

static guint
count_skips (const BtScanResult *r, BtSkipReason reason, gboolean with_image_suffix)
{
  guint n = 0;

  for (guint i = 0; i < r->skipped_paths->len; i++)
    if (g_array_index (r->skipped_reasons, BtSkipReason, i) == reason &&
        bt_image_path_has_image_suffix (r->skipped_paths->pdata[i]) == with_image_suffix)
      n++;
  return n;
}

/* A dropped folder: its class or classes, by the names the data layer's walk finds (the scan
 * that follows uses the same walk). A folder whose own files are not images and whose
 * sub-folders hold images is a folder of classes, one per such sub-folder; otherwise the
 * folder is one class. FALSE only when cancelled. */
static gboolean
plan_folder (BtImportPlan *plan, const char *path, const char *target_class, GHashTable *classes,
             GCancellable *cancellable, GError **error)
{
  const char *paths[] = { path, NULL };
  g_autoptr(GError) local = NULL;
  g_autoptr(BtScanResult) r = NULL;
  guint direct_images = 0, direct_other = 0;
  g_autoptr(GHashTable) with_images = g_hash_table_new (NULL, NULL);
  BtImportJob *job;

  if (target_class != NULL)
    r = bt_scan_plan (paths, BT_SCAN_FILES_INTO_CLASS, target_class, TRUE, 0, cancellable, &local);
  else
    r = bt_scan_plan (paths, BT_SCAN_FOLDER_OF_CLASSES, NULL, TRUE, 0, cancellable, &local);
  if (r == NULL && g_error_matches (local, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }
  /* an unreadable folder: the import says why */
  if (r != NULL)
    {
      plan->n_images += r->paths->len;
      plan->n_other += count_skips (r, BT_SKIP_NOT_IMAGE, FALSE);
      direct_images = count_skips (r, BT_SKIP_NO_CLASS, TRUE);
      direct_other = count_skips (r, BT_SKIP_NO_CLASS, FALSE);
      plan->n_images += direct_images;
      plan->n_other += direct_other;
      for (guint i = 0; i < r->class_index->len; i++)
        g_hash_table_add (with_images, GUINT_TO_POINTER (g_array_index (r->class_index, guint, i) + 1));
    }

  if (target_class != NULL)
    {
      job = find_or_add_job (plan, BT_SCAN_FILES_INTO_CLASS, target_class);
      g_hash_table_add (classes, g_strdup (target_class));
    }
  else if (r != NULL && direct_images == 0 && g_hash_table_size (with_images) > 0)
    {
      job = find_or_add_job (plan, BT_SCAN_FOLDER_OF_CLASSES, NULL);
      for (guint k = 0; k < r->class_names->len; k++)
        if (g_hash_table_contains (with_images, GUINT_TO_POINTER (k + 1)))
          g_hash_table_add (classes, g_strdup (r->class_names->pdata[k]));
      plan->needs_confirmation = TRUE;
    }
  else
    {
      job = find_or_add_job (plan, BT_SCAN_FOLDER_AS_CLASS, NULL);
      g_hash_table_add (classes, g_path_get_basename (path));
    }
  g_ptr_array_add (job->paths, g_strdup (path));
  return TRUE;
}

BtImportPlan *
bt_import_plan_build (const char * const *paths,
                      const char         *target_class,
                      GCancellable       *cancellable,
                      GError            **error)
{
  g_autoptr(BtImportPlan) plan = NULL;
  g_autoptr(GHashTable) classes = NULL;

  g_return_val_if_fail (paths != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  plan = g_new0 (BtImportPlan, 1);
  plan->jobs = g_ptr_array_new_with_free_func ((GDestroyNotify) import_job_free);
  plan->ignored = g_ptr_array_new_with_free_func (g_free);
  classes = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  for (guint i = 0; paths[i] != NULL; i++)
    {
      const char *path = paths[i];
      GStatBuf st;

      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        return NULL;

      /* What the person dropped is followed if it is a link; what lies inside is not. */
      if (g_stat (path, &st) != 0)
        {
          g_ptr_array_add (plan->ignored, g_strdup (path));
          continue;
        }

      if (S_ISDIR (st.st_mode))
        {
          if (!plan_folder (plan, path, target_class, classes, cancellable, error))
            return NULL;
        }
      else if (S_ISREG (st.st_mode))
        {
          g_autofree char *class_name = NULL;
          BtImportJob *job;

          if (bt_image_path_has_image_suffix (path))
            plan->n_images++;
          else
            plan->n_other++;

          if (target_class != NULL)
            class_name = g_strdup (target_class);
          else
            {
              g_autofree char *parent = g_path_get_dirname (path);
              class_name = g_path_get_basename (parent);
              if (g_strcmp0 (class_name, "/") == 0 || g_strcmp0 (class_name, ".") == 0)
                {
                  g_free (class_name);
                  class_name = g_strdup (_("Images"));
                }
            }
          /* The scanner sniffs content and reports non-images with a reason. */
          job = find_or_add_job (plan, BT_SCAN_FILES_INTO_CLASS, class_name);
          g_ptr_array_add (job->paths, g_strdup (path));
          g_hash_table_add (classes, g_steal_pointer (&class_name));
        }
      else
        g_ptr_array_add (plan->ignored, g_strdup (path));
    }

  if (plan->jobs->len == 0)
    {
      g_set_error_literal (error, BT_DATASET_ERROR, BT_DATASET_ERROR_UNSUPPORTED,
                           _("Nothing that was dropped is a folder or a file"));
      return NULL;
    }

  plan->n_classes = g_hash_table_size (classes);
  return g_steal_pointer (&plan);
}

static void
plan_thread (GTask        *task,
             gpointer      source_object,
             gpointer      task_data,
             GCancellable *cancellable)
{
  char **data = task_data;
  const char *target_class = data[0];
  GError *error = NULL;
  BtImportPlan *plan;

  plan = bt_import_plan_build ((const char * const *) data + 1, target_class[0] ? target_class : NULL,
                               cancellable, &error);
  if (plan == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, plan, (GDestroyNotify) bt_import_plan_free);
}

void
bt_import_plan_async (const char * const *paths,
                      const char         *target_class,
                      GCancellable       *cancellable,
                      GAsyncReadyCallback callback,
                      gpointer            user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();

  g_return_if_fail (paths != NULL);

  /* data[0] is the target class ("" for none), then the paths: one copied strv. */
  g_strv_builder_add (builder, target_class ? target_class : "");
  g_strv_builder_addv (builder, (const char **) paths);

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, bt_import_plan_async);
  g_task_set_task_data (task, g_strv_builder_end (builder), (GDestroyNotify) g_strfreev);
  g_task_run_in_thread (task, plan_thread);
}

BtImportPlan *
bt_import_plan_finish (GAsyncResult *result,
                       GError      **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

GStrv
bt_import_paths_from_files (GSList *files, guint *n_remote)
{
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  guint remote = 0;

  for (GSList *l = files; l != NULL; l = l->next)
    {
      g_autofree char *path = g_file_get_path (G_FILE (l->data));

      if (path != NULL)
        g_strv_builder_add (builder, path);
      else
        remote++;
    }
  if (n_remote != NULL)
    *n_remote = remote;
  return g_strv_builder_end (builder);
}
