/* bt-project-csv.c: importing a labels CSV (path,class[,split]) into a project, at once (the
 * CLI) or off the main thread with the rows applied in low-priority slices (the Data page). */
#include "config.h"

#include <glib/gi18n-lib.h>

#include "dataset/bt-project-private.h"

/* ---- Importing a labels CSV (path,class[,split]; paths relative to the CSV's folder) ---- */

typedef struct {
  char     *abs;
  char     *cls;
  int       split;     /* -1: by hash */
  guint64   hash;
  int       width, height;
  gboolean  probed, ok;
} CsvRow;

static void
csv_row_clear (gpointer p)
{
  CsvRow *r = p;
  g_free (r->abs);
  g_free (r->cls);
}

/* Reads and parses the CSV (any thread): rows with a usable path and class, paths made
 * absolute against the CSV's folder. */
static GArray *
csv_read_rows (const char *csv_path, GError **error)
{
  g_autofree guint8 *data = NULL;
  gsize len = 0;
  g_autoptr(GError) local = NULL;
  g_autofree char *display = g_filename_display_name (csv_path);
  if (!bt_read_regular_file (csv_path, BT_MAX_LABELS_BYTES, &data, &len, NULL, error))
    return NULL;
  g_autoptr(GPtrArray) rows = bt_csv_parse ((const char *) data, len, &local);
  if (rows == NULL)
    {
      g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_CORRUPT,
                   _("“%s” is not a valid CSV file: %s"), display, local->message);
      return NULL;
    }
  BtLabelsColumns c = { 0, 1, 2, -1, -1, -1, -1 };
  guint first = 0;
  if (rows->len > 0 && _bt_project_labels_header (rows->pdata[0], &c))
    first = 1;
  else
    c = (BtLabelsColumns) { 0, 1, 2, -1, -1, -1, -1 };
  g_autofree char *base = g_path_get_dirname (csv_path);
  g_autofree char *abs_base = g_canonicalize_filename (base, NULL);
  GArray *out = g_array_new (FALSE, TRUE, sizeof (CsvRow));
  g_array_set_clear_func (out, csv_row_clear);
  for (guint r = first; r < rows->len; r++)
    {
      char **row = rows->pdata[r];
      const char *p = _bt_project_labels_field (row, c.col_path), *cls = _bt_project_labels_field (row, c.col_class);
      if (p == NULL || p[0] == '\0' || cls == NULL || !_bt_project_check_class_name (cls, NULL))
        continue;
      CsvRow cr = { 0 };
      BtSplit sp;
      cr.abs = g_canonicalize_filename (p, abs_base);
      cr.cls = g_strdup (cls);
      cr.split = bt_split_from_string (_bt_project_labels_field (row, c.col_split), &sp) ? (int) sp : -1;
      g_array_append_val (out, cr);
    }
  return out;
}

/* Reads one row's image: content hash and size; not an image → ok FALSE. */
static void
csv_probe_row (CsvRow *r)
{
  g_autofree guint8 *img = NULL;
  gsize img_len = 0;
  r->probed = TRUE;
  r->ok = bt_read_regular_file (r->abs, BT_MAX_FILE_BYTES, &img, &img_len, NULL, NULL) &&
          bt_image_probe_bytes (img, img_len, &r->width, &r->height, NULL, NULL, NULL);
  if (r->ok)
    r->hash = bt_hash_bytes (img, img_len);
}

/* Applies rows [from, to) (main thread): known paths are relabelled (and re-split when the CSV
 * says), new images added in one splice. Returns whether a class was created. */
static gboolean
csv_apply_rows (BtProject *self, GArray *rows, guint from, guint to, GPtrArray *added)
{
  guint n_classes_before = g_list_model_get_n_items (G_LIST_MODEL (self->classes));
  g_autoptr(GPtrArray) fresh = g_ptr_array_new_with_free_func (g_object_unref);
  const BtProjectSettings *s = &self->settings;
  for (guint i = from; i < to; i++)
    {
      CsvRow *r = &g_array_index (rows, CsvRow, i);
      BtItem *existing = g_hash_table_lookup (self->by_path, r->abs);
      if (existing)
        {
          _bt_project_ensure_class (self, r->cls);
          bt_item_set_class_name (existing, r->cls);
          if (r->split >= 0)
            bt_item_set_split (existing, (BtSplit) r->split);
          continue;
        }
      if (!r->probed)
        csv_probe_row (r);
      if (!r->ok)
        continue;
      _bt_project_ensure_class (self, r->cls);
      BtSplit sp = r->split >= 0 ? (BtSplit) r->split
                                 : bt_split_for_hash (r->hash, s->split_train, s->split_val, s->split_test);
      BtItem *it = bt_item_new (r->abs, r->cls, sp, r->hash);
      bt_item_set_size (it, r->width, r->height);
      g_hash_table_insert (self->by_path, (gpointer) bt_item_get_path (it), it);
      g_ptr_array_add (fresh, it);
      g_ptr_array_add (added, g_object_ref (it));
    }
  if (fresh->len > 0)
    g_list_store_splice (self->items, g_list_model_get_n_items (G_LIST_MODEL (self->items)), 0,
                         fresh->pdata, fresh->len);
  return g_list_model_get_n_items (G_LIST_MODEL (self->classes)) != n_classes_before;
}

gboolean
bt_project_import_csv (BtProject *self, const char *csv_path, GError **error)
{
  g_return_val_if_fail (BT_IS_PROJECT (self), FALSE);
  g_return_val_if_fail (csv_path != NULL, FALSE);
  g_autoptr(GArray) rows = csv_read_rows (csv_path, error);
  if (rows == NULL)
    return FALSE;
  g_autoptr(GPtrArray) added = g_ptr_array_new_with_free_func (g_object_unref);
  gboolean new_classes = csv_apply_rows (self, rows, 0, rows->len, added);
  _bt_project_ensure_val_added (self, added);
  return _bt_project_commit (self, new_classes, TRUE, error);
}

/* ---- The same off the main thread: a worker reads, parses and probes every image; the main
 * thread applies CSV_CHUNK rows per idle dispatch, each chunk one splice and one save hand-over. */

#define CSV_CHUNK 1000

typedef struct {
  char      *csv_path;
  GArray    *rows;
  GPtrArray *added;
  guint      next;
} CsvJob;

static void
csv_job_free (gpointer p)
{
  CsvJob *j = p;
  g_free (j->csv_path);
  g_clear_pointer (&j->rows, g_array_unref);
  g_clear_pointer (&j->added, g_ptr_array_unref);
  g_free (j);
}

static void
csv_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  CsvJob *j = data;
  GError *error = NULL;
  j->rows = csv_read_rows (j->csv_path, &error);
  if (j->rows == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  for (guint i = 0; i < j->rows->len; i++)
    {
      if (g_task_return_error_if_cancelled (task))
        return;
      csv_probe_row (&g_array_index (j->rows, CsvRow, i));
    }
  g_task_return_boolean (task, TRUE);
}

static gboolean
csv_apply_idle (gpointer data)
{
  GTask *task = data;
  BtProject *self = g_task_get_source_object (task);
  CsvJob *j = g_task_get_task_data (task);
  if (g_cancellable_is_cancelled (g_task_get_cancellable (task)))
    {
      g_task_return_error_if_cancelled (task);
      return G_SOURCE_REMOVE;
    }
  guint to = MIN (j->next + CSV_CHUNK, j->rows->len);
  gboolean new_classes = csv_apply_rows (self, j->rows, j->next, to, j->added);
  j->next = to;
  gboolean last = to >= j->rows->len;
  if (last)
    _bt_project_ensure_val_added (self, j->added);
  _bt_project_commit_ex (self, new_classes || last, TRUE, TRUE, !last);
  if (!last)
    return G_SOURCE_CONTINUE;
  g_task_return_int (task, j->added->len);
  return G_SOURCE_REMOVE;
}

static void
csv_read_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  g_autoptr(GError) error = NULL;
  if (!g_task_propagate_boolean (G_TASK (res), &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      g_object_unref (task);
      return;
    }
  CsvJob *inner = g_task_get_task_data (G_TASK (res));
  CsvJob *j = g_task_get_task_data (task);
  j->rows = g_steal_pointer (&inner->rows);
  GSource *src = g_idle_source_new ();
  g_source_set_priority (src, G_PRIORITY_DEFAULT_IDLE);
  g_source_set_callback (src, csv_apply_idle, task, g_object_unref);
  g_source_attach (src, g_task_get_context (task));
  g_source_unref (src);
}

void
bt_project_import_csv_async (BtProject *self, const char *csv_path, GCancellable *cancellable,
                             GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (BT_IS_PROJECT (self));
  g_return_if_fail (csv_path != NULL);
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, bt_project_import_csv_async);
  CsvJob *j = g_new0 (CsvJob, 1);
  j->added = g_ptr_array_new_with_free_func (g_object_unref);
  g_task_set_task_data (task, j, csv_job_free);
  g_autoptr(GTask) inner = g_task_new (NULL, cancellable, csv_read_done, task);
  CsvJob *ij = g_new0 (CsvJob, 1);
  ij->csv_path = g_strdup (csv_path);
  g_task_set_task_data (inner, ij, csv_job_free);
  g_task_run_in_thread (inner, csv_thread);
}

gssize
bt_project_import_csv_finish (BtProject *self, GAsyncResult *res, GError **error)
{
  g_return_val_if_fail (BT_IS_PROJECT (self), -1);
  g_return_val_if_fail (g_task_is_valid (res, self), -1);
  return g_task_propagate_int (G_TASK (res), error);
}

