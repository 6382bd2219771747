/* bt-project-import.c: images found by a scan become project items: the one-shot apply (the
 * CLI) and the streaming import that splices chunks into the item model as the scan finds them
 * (the Data page). */
#include "config.h"

#include <string.h>
#include <glib/gi18n-lib.h>

#include "dataset/bt-project-private.h"

/* ---- Applying a scan ---- */

/* One loop turns scan results into items, for the one-shot apply below (one chunk) and for the
 * streaming import: decide_chunk() picks what is new (in walk order; duplicates by path and by
 * content) and creates the classes, splice_items() then puts the new items into the model. */

/* Content hashes as keys: the value itself where a pointer holds 64 bits. One small block
 * per image was 70,000 of them freed at an import's end, and glibc then consolidated them
 * on the main thread's next large allocation (~10 ms inside a frame). */
#if GLIB_SIZEOF_VOID_P >= 8
static guint
hkey_hash (gconstpointer k)
{
  guint64 v = (guintptr) k;
  return (guint) (v ^ (v >> 32));
}
static inline gpointer      hkey_new  (guint64 h)        { return (gpointer) (guintptr) h; }
static inline gconstpointer hkey_find (const guint64 *h) { return (gconstpointer) (guintptr) *h; }
#define HKEY_EQUAL g_direct_equal
#define HKEY_FREE  NULL
#else
#define hkey_hash  g_int64_hash
static inline gpointer      hkey_new  (guint64 h)        { return g_memdup2 (&h, sizeof h); }
static inline gconstpointer hkey_find (const guint64 *h) { return h; }
#define HKEY_EQUAL g_int64_equal
#define HKEY_FREE  g_free
#endif

/* Content hash → item (ref) for everything in the project: the duplicate index. */
static GHashTable *
hash_index (BtProject *self)
{
  GHashTable *by_hash = g_hash_table_new_full (hkey_hash, HKEY_EQUAL, HKEY_FREE, g_object_unref);
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->items));
  for (guint i = 0; i < n; i++)
    {
      BtItem *it = g_list_model_get_item (G_LIST_MODEL (self->items), i);
      g_hash_table_insert (by_hash, hkey_new (bt_item_get_hash (it)), it);
    }
  return by_hash;
}

/* Appends to fresh (refs) the items made for r's new files, already in by_path and by_hash but
 * not yet in the item model; creates every class r names. A file whose content is already there
 * is a duplicate: skipped into skips (a label conflict when under another class). */
static void
decide_chunk (BtProject *self, GHashTable *by_hash, BtScanResult *r, BtScanResult *skips, GPtrArray *fresh)
{
  const BtProjectSettings *s = &self->settings;
  gboolean sizes = r->widths != NULL && r->heights != NULL && r->widths->len >= r->paths->len &&
                   r->heights->len >= r->paths->len;
  for (guint i = 0; i < r->paths->len; i++)
    {
      const char *path = r->paths->pdata[i];
      guint ci = g_array_index (r->class_index, guint, i);
      guint64 hash = g_array_index (r->hashes, guint64, i);
      if (ci >= r->class_names->len || !_bt_project_check_class_name (r->class_names->pdata[ci], NULL))
        continue;
      const char *cls = _bt_project_import_class_name (self, r->class_names->pdata[ci]);
      g_autofree char *abs = _bt_project_to_absolute (self, path);
      if (g_hash_table_contains (self->by_path, abs))
        continue;  /* already imported: nothing to do */
      BtItem *dup = g_hash_table_lookup (by_hash, hkey_find (&hash));
      if (dup && g_hash_table_lookup (self->by_path, bt_item_get_path (dup)) == dup)
        {
          bt_scan_result_add_skip (skips, path, BT_SKIP_DUPLICATE, bt_item_get_path (dup));
          if (g_strcmp0 (bt_item_get_class_name (dup), cls) != 0)
            skips->n_label_conflicts++;
          continue;
        }
      _bt_project_ensure_class (self, cls);
      BtItem *it = bt_item_new (abs, cls, bt_split_for_hash (hash, s->split_train, s->split_val, s->split_test), hash);
      if (sizes)
        bt_item_set_size (it, g_array_index (r->widths, int, i), g_array_index (r->heights, int, i));
      g_ptr_array_add (fresh, it);
      g_hash_table_insert (self->by_path, (gpointer) bt_item_get_path (it), it);
      g_hash_table_insert (by_hash, hkey_new (hash), g_object_ref (it));
    }
  /* Classes found empty are still classes the user asked for. */
  for (guint c = 0; c < r->class_names->len; c++)
    if (_bt_project_check_class_name (r->class_names->pdata[c], NULL))
      _bt_project_ensure_class (self, _bt_project_import_class_name (self, r->class_names->pdata[c]));
}

/* Puts fresh[from, to) into the item model in one splice and adds them to their classes'
 * counts: O(to - from). An item whose class went meanwhile (deleted or renamed while it
 * waited for its slice) or whose path was taken by another item is left out. Returns the
 * items spliced (borrowed from fresh). */
static GPtrArray *
splice_items (BtProject *self, GPtrArray *fresh, guint from, guint to)
{
  GPtrArray *in = g_ptr_array_sized_new (to - from);
  g_autoptr(GHashTable) per_class = g_hash_table_new (NULL, NULL);
  for (guint i = from; i < to; i++)
    {
      BtItem *it = fresh->pdata[i];
      BtClassInfo *c = g_hash_table_lookup (self->class_by_name, bt_item_get_class_name (it));
      if (g_hash_table_lookup (self->by_path, bt_item_get_path (it)) != it)
        continue;
      if (c == NULL)
        {
          /* renamed while the item waited: it follows its class */
          const char *now = _bt_project_import_class_name (self, bt_item_get_class_name (it));
          c = g_hash_table_lookup (self->class_by_name, now);
          if (c != NULL)
            bt_item_set_class_name (it, now);
        }
      if (c == NULL)
        {
          g_hash_table_remove (self->by_path, bt_item_get_path (it));
          continue;
        }
      g_ptr_array_add (in, it);
      g_hash_table_insert (per_class, c, GUINT_TO_POINTER (GPOINTER_TO_UINT (g_hash_table_lookup (per_class, c)) + 1));
    }
  if (in->len == 0)
    return in;
  g_list_store_splice (self->items, g_list_model_get_n_items (G_LIST_MODEL (self->items)), 0, in->pdata, in->len);
  GHashTableIter iter;
  gpointer key, value;
  g_hash_table_iter_init (&iter, per_class);
  while (g_hash_table_iter_next (&iter, &key, &value))
    bt_class_info_set_n_items (key, bt_class_info_get_n_items (key) + GPOINTER_TO_UINT (value));
  return in;
}

guint
bt_project_apply_scan (BtProject *self, BtScanResult *result, GError **error)
{
  g_return_val_if_fail (BT_IS_PROJECT (self), 0);
  g_return_val_if_fail (result != NULL, 0);
  g_autoptr(GHashTable) by_hash = hash_index (self);
  g_autoptr(GPtrArray) fresh = g_ptr_array_new_with_free_func (g_object_unref);
  guint n_classes_before = g_list_model_get_n_items (G_LIST_MODEL (self->classes));
  decide_chunk (self, by_hash, result, result, fresh);
  g_autoptr(GPtrArray) in = splice_items (self, fresh, 0, fresh->len);
  guint n_added = in->len;
  _bt_project_ensure_val_added (self, in);
  gboolean new_classes = g_list_model_get_n_items (G_LIST_MODEL (self->classes)) != n_classes_before;
  if (n_added == 0 && !new_classes)
    return 0;
  if (!_bt_project_commit (self, new_classes, n_added > 0, error))
    return 0;
  return n_added;
}

/* ---- Streaming import: scan + apply chunk by chunk on the main thread ----
 * The scan streams chunks to this thread. Each is decided at once (decide_chunk: O(chunk)) and
 * its items spliced into the item model in slices, one per main-loop turn, in order: a view
 * builds widgets for the first items it is given, so the first slices are small and grow
 * (SLICE_FIRST, doubling up to SLICE_MAX), and a chunk that creates classes is spliced from
 * the next turn on (the classes' rows and the grid's first cells are not built in one turn).
 * Class counts follow each slice; the save goes to the writer thread. Content already in the
 * project is a duplicate, against a hash index built once at the start. Small classes get
 * their validation image once, at the end. */

#define SLICE_FIRST 64
#define SLICE_MAX   4096

typedef struct {
  BtProject      *project;
  GHashTable     *by_hash;    /* guint64* → BtItem (ref) */
  GPtrArray      *added;      /* BtItem (ref) */
  BtScanResult   *total;      /* class names, added items, every skip */
  BtScanProgress  progress;
  gpointer        progress_data;
  GDestroyNotify  progress_notify;
  GHashTable     *class_pos;  /* class name (total's) → its index in total->class_names */
  GHashTable     *val_seen;   /* class name → non-NULL once an added item of it is in val */
  GPtrArray      *pending;    /* BtItem (ref): decided, waiting for their slice */
  guint           pending_from;
  guint           slice;
  GSource        *splice_source;
  GTask          *done_task;  /* the scan ended while items were pending */
  BtScanResult   *whole;
  GError         *error;
} ImportJob;

static void
import_job_free (gpointer p)
{
  ImportJob *j = p;
  if (j->splice_source)
    {
      g_source_destroy (j->splice_source);
      g_clear_pointer (&j->splice_source, g_source_unref);
    }
  if (j->project != NULL && --j->project->n_imports == 0)
    g_clear_pointer (&j->project->renamed, g_hash_table_unref);
  g_clear_object (&j->project);
  g_clear_pointer (&j->by_hash, g_hash_table_unref);
  g_clear_pointer (&j->added, g_ptr_array_unref);
  g_clear_pointer (&j->total, bt_scan_result_free);
  g_clear_pointer (&j->pending, g_ptr_array_unref);
  g_clear_pointer (&j->class_pos, g_hash_table_unref);
  g_clear_pointer (&j->val_seen, g_hash_table_unref);
  g_clear_pointer (&j->whole, bt_scan_result_free);
  g_clear_error (&j->error);
  if (j->progress_notify)
    j->progress_notify (j->progress_data);
  g_free (j);
}

static void
import_progress (guint n_seen, guint n_ok, guint n_skipped, gpointer p)
{
  ImportJob *j = g_task_get_task_data (p);
  if (j->progress)
    j->progress (n_seen, n_ok, n_skipped, j->progress_data);
}

static void import_complete (GTask *task);

/* Once cancelled, the items still waiting are not added: Cancel stops at once. */
static void
import_drop_pending (ImportJob *j)
{
  for (guint i = j->pending_from; i < j->pending->len; i++)
    {
      BtItem *it = j->pending->pdata[i];
      if (g_hash_table_lookup (j->project->by_path, bt_item_get_path (it)) == it)
        g_hash_table_remove (j->project->by_path, bt_item_get_path (it));
    }
  g_ptr_array_set_size (j->pending, 0);
  j->pending_from = 0;
}

/* One slice of the pending items into the model, recorded in the result; TRUE while more
 * are pending. */
static gboolean
import_splice_slice (GTask *task)
{
  ImportJob *j = g_task_get_task_data (task);
  if (g_cancellable_is_cancelled (g_task_get_cancellable (task)))
    {
      import_drop_pending (j);
      return FALSE;
    }
  guint to = MIN (j->pending->len, j->pending_from + j->slice);
  g_autoptr(GPtrArray) in = splice_items (j->project, j->pending, j->pending_from, to);
  BtScanResult *t = j->total;
  for (guint i = 0; i < in->len; i++)
    {
      BtItem *it = in->pdata[i];
      guint ci = GPOINTER_TO_UINT (g_hash_table_lookup (j->class_pos, bt_item_get_class_name (it)));
      guint64 hash = bt_item_get_hash (it);
      int w = bt_item_get_width (it), h = bt_item_get_height (it);
      g_ptr_array_add (j->added, g_object_ref (it));
      /* Noted as they come, so the end needs no pass over all added items. */
      const char *cls = bt_item_get_class_name (it);
      gboolean val = bt_item_get_split (it) == BT_SPLIT_VAL;
      gpointer seen_key, seen_val;
      if (!g_hash_table_lookup_extended (j->val_seen, cls, &seen_key, &seen_val))
        g_hash_table_insert (j->val_seen, g_strdup (cls), GINT_TO_POINTER (val));
      else if (val && seen_val == NULL)
        g_hash_table_insert (j->val_seen, g_strdup (cls), GINT_TO_POINTER (TRUE));
      g_ptr_array_add (t->paths, g_strdup (bt_item_get_path (it)));
      g_array_append_val (t->class_index, ci);
      g_array_append_val (t->hashes, hash);
      g_array_append_val (t->widths, w);
      g_array_append_val (t->heights, h);
    }
  j->pending_from = to;
  j->slice = MIN (j->slice * 2, SLICE_MAX);
  if (j->pending_from == j->pending->len)
    {
      g_ptr_array_set_size (j->pending, 0);
      j->pending_from = 0;
    }
  if (in->len > 0)
    _bt_project_commit_ex (j->project, FALSE, TRUE, FALSE, TRUE);
  return j->pending->len > 0;
}

static gboolean
import_splice_idle (gpointer data)
{
  GTask *task = data;
  ImportJob *j = g_task_get_task_data (task);
  if (import_splice_slice (task))
    return G_SOURCE_CONTINUE;
  g_clear_pointer (&j->splice_source, g_source_unref);
  if (j->done_task)
    import_complete (g_steal_pointer (&j->done_task));
  return G_SOURCE_REMOVE;
}

/* Same priority as the scan's chunk deliveries: slices and chunks keep their order. */
static void
import_schedule_splice (GTask *task)
{
  ImportJob *j = g_task_get_task_data (task);
  if (j->splice_source)
    return;
  j->splice_source = g_idle_source_new ();
  g_source_set_priority (j->splice_source, G_PRIORITY_DEFAULT_IDLE);
  g_source_set_callback (j->splice_source, import_splice_idle, g_object_ref (task), g_object_unref);
  g_source_attach (j->splice_source, g_main_context_get_thread_default ());
}

static void
import_chunk (BtScanResult *chunk, gpointer p)
{
  g_autoptr(BtScanResult) r = chunk;
  GTask *task = p;
  ImportJob *j = g_task_get_task_data (task);
  BtProject *self = j->project;
  BtScanResult *t = j->total;
  guint n_classes_before = g_list_model_get_n_items (G_LIST_MODEL (self->classes));

  for (guint i = 0; i < r->skipped_paths->len; i++)
    bt_scan_result_add_skip (t, r->skipped_paths->pdata[i], g_array_index (r->skipped_reasons, BtSkipReason, i),
                             r->duplicate_of->pdata[i]);
  t->n_label_conflicts += r->n_label_conflicts;
  t->n_rotated += r->n_rotated;
  t->n_converted += r->n_converted;
  for (guint c = t->class_names->len; c < r->class_names->len; c++)
    {
      g_ptr_array_add (t->class_names, g_strdup (r->class_names->pdata[c]));
      if (!g_hash_table_contains (j->class_pos, r->class_names->pdata[c]))
        g_hash_table_insert (j->class_pos, t->class_names->pdata[c], GUINT_TO_POINTER (c));
    }

  decide_chunk (self, j->by_hash, r, t, j->pending);
  if (g_list_model_get_n_items (G_LIST_MODEL (self->classes)) != n_classes_before)
    {
      _bt_project_commit_ex (self, TRUE, FALSE, FALSE, TRUE);
      if (j->pending->len > 0)
        import_schedule_splice (task);
      return;
    }
  if (j->pending->len == 0 || j->splice_source != NULL)
    return;
  if (import_splice_slice (task))
    import_schedule_splice (task);
}

/* Frees a finished import's big tables (tens of thousands of paths and refs) off the caller's
 * thread: on the main thread that alone stalled a GUI by tens of ms. */
typedef struct { BtScanResult *whole; GHashTable *by_hash; GPtrArray *added; } ImportLeftovers;

static gpointer
free_leftovers_thread (gpointer data)
{
  ImportLeftovers *l = data;
  g_clear_pointer (&l->whole, bt_scan_result_free);
  g_clear_pointer (&l->by_hash, g_hash_table_unref);
  g_clear_pointer (&l->added, g_ptr_array_unref);
  g_free (l);
  return NULL;
}

/* The scan ended and every decided item is in the model. What was added stays (it is saved)
 * also when the scan was cancelled or failed; the task then keeps the partial result for
 * bt_project_import_finish_full(). */
static void
import_complete (GTask *task)
{
  ImportJob *j = g_task_get_task_data (task);
  /* Every class that got images got a validation image among them (always, for a big import)? */
  gboolean all_val = TRUE;
  GHashTableIter vi;
  gpointer has_val;
  g_hash_table_iter_init (&vi, j->val_seen);
  while (all_val && g_hash_table_iter_next (&vi, NULL, &has_val))
    all_val = has_val != NULL;
  if (!all_val && _bt_project_ensure_val_added (j->project, j->added))
    _bt_project_commit_full (j->project, FALSE, TRUE, FALSE);
  else if (j->project->dirty_labels || j->project->dirty_ini)
    {
      /* The import's end is saved at once, like an edit (or as soon as the writer is free). */
      j->project->dirty_edit = TRUE;
      _bt_project_request_save (j->project, FALSE, FALSE, FALSE);
    }
  ImportLeftovers *l = g_new0 (ImportLeftovers, 1);
  l->whole = g_steal_pointer (&j->whole);
  l->by_hash = g_steal_pointer (&j->by_hash);
  l->added = g_steal_pointer (&j->added);
  GThread *t = g_thread_try_new ("bt-import-free", free_leftovers_thread, l, NULL);
  if (t)
    g_thread_unref (t);
  else
    free_leftovers_thread (l);
  /* Cancelled after the scan's end, while slices were pending: an error like any cancel, so
   * the partial result stays with the task for bt_project_import_finish_full(). */
  if (j->error == NULL)
    g_cancellable_set_error_if_cancelled (g_task_get_cancellable (task), &j->error);
  if (j->error)
    g_task_return_error (task, g_steal_pointer (&j->error));
  else
    g_task_return_pointer (task, g_steal_pointer (&j->total), (GDestroyNotify) bt_scan_result_free);
  g_object_unref (task);
}

static void
import_scan_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  ImportJob *j = g_task_get_task_data (task);
  j->whole = bt_scan_paths_finish (res, &j->error);
  if (j->splice_source != NULL)
    j->done_task = task;  /* completed by the last slice */
  else
    import_complete (task);
}

void
bt_project_import_async (BtProject *self, const char * const *paths, BtScanMode mode, const char *class_name,
                         gboolean recursive, BtScanProgress progress, gpointer progress_data,
                         GDestroyNotify progress_notify, GCancellable *cancellable,
                         GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (BT_IS_PROJECT (self));
  g_return_if_fail (paths != NULL);
  g_return_if_fail (mode != BT_SCAN_FILES_INTO_CLASS || class_name != NULL);
  ImportJob *j = g_new0 (ImportJob, 1);
  j->project = g_object_ref (self);
  self->n_imports++;
  j->by_hash = hash_index (self);
  j->added = g_ptr_array_new_with_free_func (g_object_unref);
  j->total = bt_scan_result_new ();
  j->progress = progress;
  j->progress_data = progress_data;
  j->progress_notify = progress_notify;
  j->pending = g_ptr_array_new_with_free_func (g_object_unref);
  j->class_pos = g_hash_table_new (g_str_hash, g_str_equal);
  j->val_seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  j->slice = SLICE_FIRST;
  /* Relative paths are the project folder's, as everywhere in the project. */
  g_autoptr(GPtrArray) abs = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; paths[i]; i++)
    g_ptr_array_add (abs, _bt_project_to_absolute (self, paths[i]));
  g_ptr_array_add (abs, NULL);
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, bt_project_import_async);
  g_task_set_task_data (task, j, import_job_free);
  /* The chunks borrow the task: the scan's callback holds it until the last one was delivered. */
  bt_scan_paths_stream_async ((const char * const *) abs->pdata, mode, class_name, recursive,
                              import_progress, import_chunk, task, NULL, cancellable, import_scan_done, task);
}

BtScanResult *
bt_project_import_finish (BtProject *self, GAsyncResult *res, GError **error)
{
  return bt_project_import_finish_full (self, res, NULL, error);
}

BtScanResult *
bt_project_import_finish_full (BtProject *self, GAsyncResult *res, BtScanResult **partial, GError **error)
{
  g_return_val_if_fail (BT_IS_PROJECT (self), NULL);
  g_return_val_if_fail (g_task_is_valid (res, self), NULL);
  g_return_val_if_fail (partial == NULL || *partial == NULL, NULL);
  BtScanResult *r = g_task_propagate_pointer (G_TASK (res), error);
  if (r == NULL && partial != NULL)
    {
      ImportJob *j = g_task_get_task_data (G_TASK (res));
      *partial = g_steal_pointer (&j->total);
    }
  return r;
}

