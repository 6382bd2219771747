/* bt-scan.c: folder import on a worker. Walks folders (never following a symlink loop, never
 * opening FIFOs or devices), then reads, hashes and fully decodes each file on a thread pool;
 * every skipped file gets a reason, exact duplicates are found by content hash. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <glib/gi18n-lib.h>

#include "dataset/bt-dataset-private.h"

void
bt_scan_result_free (BtScanResult *r)
{
  if (r == NULL)
    return;
  g_ptr_array_unref (r->class_names);
  g_ptr_array_unref (r->paths);
  g_array_unref (r->class_index);
  g_array_unref (r->hashes);
  g_ptr_array_unref (r->skipped_paths);
  g_array_unref (r->skipped_reasons);
  g_ptr_array_unref (r->duplicate_of);
  g_free (r);
}

static BtScanResult *
scan_result_new (void)
{
  BtScanResult *r = g_new0 (BtScanResult, 1);
  r->class_names = g_ptr_array_new_with_free_func (g_free);
  r->paths = g_ptr_array_new_with_free_func (g_free);
  r->class_index = g_array_new (FALSE, FALSE, sizeof (guint));
  r->hashes = g_array_new (FALSE, FALSE, sizeof (guint64));
  r->skipped_paths = g_ptr_array_new_with_free_func (g_free);
  r->skipped_reasons = g_array_new (FALSE, FALSE, sizeof (BtSkipReason));
  r->duplicate_of = g_ptr_array_new_with_free_func (g_free);
  return r;
}

void
bt_scan_result_add_skip (BtScanResult *r, const char *path, BtSkipReason reason, const char *dup_of)
{
  g_ptr_array_add (r->skipped_paths, g_strdup (path));
  g_array_append_val (r->skipped_reasons, reason);
  g_ptr_array_add (r->duplicate_of, g_strdup (dup_of));
}

/* ---- Walking ---- */

typedef struct {
  char  *path;
  guint  class_index;
  /* filled by the checkers */
  guint64      hash;
  BtSkipReason reason;
  gboolean     ok;
} Candidate;

typedef struct {
  BtScanResult  *result;
  GArray        *cands;       /* Candidate */
  GHashTable    *visited;     /* "dev:ino" of directories entered */
  GHashTable    *class_ids;   /* name → index+1 */
  gboolean       recursive;
  GCancellable  *cancellable;
  BtScanProgress progress;
  gpointer       progress_data;
  gint64         last_progress;
  guint          n_seen, n_special;
} Walk;

static guint
class_id (Walk *w, const char *name)
{
  guint id = GPOINTER_TO_UINT (g_hash_table_lookup (w->class_ids, name));
  if (id)
    return id - 1;
  g_ptr_array_add (w->result->class_names, g_strdup (name));
  id = w->result->class_names->len;
  g_hash_table_insert (w->class_ids, g_strdup (name), GUINT_TO_POINTER (id));
  return id - 1;
}

static void
walk_progress (Walk *w, gboolean force)
{
  if (w->progress == NULL)
    return;
  gint64 now = g_get_monotonic_time ();
  if (!force && now - w->last_progress < 50000)
    return;
  w->last_progress = now;
  w->progress (w->n_seen, 0, w->result->skipped_paths->len, w->progress_data);
}

/* stat following symlinks; classifies what cannot be followed. */
static gboolean
stat_entry (Walk *w, const char *path, struct stat *st)
{
  if (stat (path, st) == 0)
    return TRUE;
  /* ELOOP: a symlink loop; anything else (dangling link, no permission): unreadable. */
  int e = errno;
  bt_scan_result_add_skip (w->result, path, (e == ELOOP) ? BT_SKIP_SPECIAL : BT_SKIP_UNREADABLE, NULL);
  return FALSE;
}

static gboolean
enter_dir (Walk *w, const struct stat *st)
{
  char key[64];
  g_snprintf (key, sizeof key, "%" G_GUINT64_FORMAT ":%" G_GUINT64_FORMAT,
              (guint64) st->st_dev, (guint64) st->st_ino);
  if (g_hash_table_contains (w->visited, key))
    return FALSE;
  g_hash_table_add (w->visited, g_strdup (key));
  return TRUE;
}

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char * const *) a, *(char * const *) b);
}

/* Lists a directory's entries, sorted, so scans are reproducible. */
static GPtrArray *
list_dir (Walk *w, const char *dir)
{
  DIR *d = opendir (dir);
  if (d == NULL)
    {
      bt_scan_result_add_skip (w->result, dir, BT_SKIP_UNREADABLE, NULL);
      return NULL;
    }
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);
  struct dirent *de;
  while ((de = readdir (d)) != NULL)
    {
      /* Hidden entries (".", "..", .DS_Store, .thumbnails, .git) are not the user's images:
       * left out without a reason, as file managers do. */
      if (de->d_name[0] == '.')
        continue;
      g_ptr_array_add (names, g_strdup (de->d_name));
    }
  closedir (d);
  g_ptr_array_sort (names, compare_names);
  return names;
}

static void
add_candidate (Walk *w, const char *path, guint cls)
{
  Candidate c = { g_strdup (path), cls, 0, 0, FALSE };
  g_array_append_val (w->cands, c);
}

/* Adds the files of dir to class cls; descends when recursive. */
static void
walk_class_dir (Walk *w, const char *dir, guint cls, gboolean descend)
{
  g_autoptr(GPtrArray) names = list_dir (w, dir);
  for (guint i = 0; names && i < names->len; i++)
    {
      if (g_cancellable_is_cancelled (w->cancellable))
        return;
      g_autofree char *path = g_build_filename (dir, names->pdata[i], NULL);
      struct stat st;
      w->n_seen++;
      walk_progress (w, FALSE);
      if (!stat_entry (w, path, &st))
        continue;
      if (S_ISDIR (st.st_mode))
        {
          if (!descend)
            continue;  /* sub-folders are an option; not a skipped file */
          if (!enter_dir (w, &st))
            {
              bt_scan_result_add_skip (w->result, path, BT_SKIP_SPECIAL, NULL);  /* loop */
              continue;
            }
          walk_class_dir (w, path, cls, TRUE);
        }
      else if (S_ISREG (st.st_mode))
        add_candidate (w, path, cls);
      else
        bt_scan_result_add_skip (w->result, path, BT_SKIP_SPECIAL, NULL);
    }
}

static gboolean
walk_root (Walk *w, const char *root, BtScanMode mode, const char *class_name, GError **error)
{
  struct stat st;
  if (stat (root, &st) != 0)
    {
      int e = errno;
      g_autofree char *display = g_filename_display_name (root);
      if (mode == BT_SCAN_FILES_INTO_CLASS)
        {
          bt_scan_result_add_skip (w->result, root, e == ELOOP ? BT_SKIP_SPECIAL : BT_SKIP_UNREADABLE, NULL);
          return TRUE;
        }
      g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_IO,
                   _("Cannot open “%s”: %s"), display, g_strerror (e));
      return FALSE;
    }
  if (mode == BT_SCAN_FILES_INTO_CLASS)
    {
      guint cls = class_id (w, class_name);
      w->n_seen++;
      if (S_ISREG (st.st_mode))
        add_candidate (w, root, cls);
      else if (S_ISDIR (st.st_mode))
        {
          if (enter_dir (w, &st))
            walk_class_dir (w, root, cls, w->recursive);
        }
      else
        bt_scan_result_add_skip (w->result, root, BT_SKIP_SPECIAL, NULL);
      return TRUE;
    }
  if (!S_ISDIR (st.st_mode))
    {
      g_autofree char *display = g_filename_display_name (root);
      g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_INVALID,
                   _("“%s” is not a folder"), display);
      return FALSE;
    }
  if (!enter_dir (w, &st))
    return TRUE;
  if (mode == BT_SCAN_FOLDER_AS_CLASS)
    {
      g_autofree char *name = g_filename_display_basename (root);
      walk_class_dir (w, root, class_id (w, class_name ? class_name : name), w->recursive);
      return TRUE;
    }
  /* BT_SCAN_FOLDER_OF_CLASSES */
  g_autoptr(GPtrArray) names = list_dir (w, root);
  for (guint i = 0; names && i < names->len; i++)
    {
      if (g_cancellable_is_cancelled (w->cancellable))
        break;
      g_autofree char *path = g_build_filename (root, names->pdata[i], NULL);
      struct stat sub;
      w->n_seen++;
      if (!stat_entry (w, path, &sub))
        continue;
      if (S_ISDIR (sub.st_mode))
        {
          if (!enter_dir (w, &sub))
            {
              bt_scan_result_add_skip (w->result, path, BT_SKIP_SPECIAL, NULL);
              continue;
            }
          g_autofree char *name = g_filename_display_name (names->pdata[i]);
          walk_class_dir (w, path, class_id (w, name), w->recursive);
        }
      else if (S_ISREG (sub.st_mode))
        bt_scan_result_add_skip (w->result, path, BT_SKIP_NO_CLASS, NULL);
      else
        bt_scan_result_add_skip (w->result, path, BT_SKIP_SPECIAL, NULL);
    }
  return TRUE;
}

/* ---- Checking: read, hash, decode, on a pool ---- */

typedef struct {
  GArray       *cands;
  GCancellable *cancellable;
  GMutex        lock;
  GCond         cond;
  guint         n_done, n_ok;
  guint         n_chunks_left;
} Check;

#define CHECK_CHUNK 64

static void
check_chunk (gpointer data, gpointer user_data)
{
  Check *chk = user_data;
  guint start = GPOINTER_TO_UINT (data) - 1;
  guint end = MIN (start + CHECK_CHUNK, chk->cands->len);
  guint ok = 0;
  for (guint i = start; i < end; i++)
    {
      Candidate *c = &g_array_index (chk->cands, Candidate, i);
      if (g_cancellable_is_cancelled (chk->cancellable))
        break;
      g_autofree guint8 *bytes = NULL;
      gsize len = 0;
      BtSkipReason reason = BT_SKIP_UNREADABLE;
      if (!bt_read_regular_file (c->path, BT_MAX_FILE_BYTES, &bytes, &len, &reason, NULL))
        {
          c->reason = reason;
          continue;
        }
      g_autoptr(BtImage) img = bt_image_decode_bytes (bytes, len, 1, &reason, NULL);
      if (img == NULL)
        {
          c->reason = reason;
          continue;
        }
      c->hash = bt_hash_bytes (bytes, len);
      c->ok = TRUE;
      ok++;
    }
  g_mutex_lock (&chk->lock);
  chk->n_done += end - start;
  chk->n_ok += ok;
  chk->n_chunks_left--;
  g_cond_signal (&chk->cond);
  g_mutex_unlock (&chk->lock);
}

static void
candidate_clear (gpointer p)
{
  g_free (((Candidate *) p)->path);
}

BtScanResult *
bt_scan_paths (const char * const *paths, BtScanMode mode, const char *class_name,
               gboolean recursive, BtScanProgress progress, gpointer user_data,
               GCancellable *cancellable, GError **error)
{
  g_return_val_if_fail (paths != NULL, NULL);
  g_return_val_if_fail (mode <= BT_SCAN_FILES_INTO_CLASS, NULL);
  g_return_val_if_fail (mode != BT_SCAN_FILES_INTO_CLASS || class_name != NULL, NULL);

  g_autoptr(BtScanResult) result = scan_result_new ();
  g_autoptr(GArray) cands = g_array_new (FALSE, FALSE, sizeof (Candidate));
  g_array_set_clear_func (cands, candidate_clear);
  g_autoptr(GHashTable) visited = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr(GHashTable) class_ids = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  Walk w = { 0 };
  w.result = result;
  w.cands = cands;
  w.visited = visited;
  w.class_ids = class_ids;
  w.recursive = recursive;
  w.cancellable = cancellable;
  w.progress = progress;
  w.progress_data = user_data;

  for (guint i = 0; paths[i]; i++)
    if (!walk_root (&w, paths[i], mode, class_name, error))
      return NULL;
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return NULL;
  walk_progress (&w, TRUE);

  /* Check every candidate on a pool; this thread reports progress. */
  Check chk = { 0 };
  chk.cands = cands;
  chk.cancellable = cancellable;
  g_mutex_init (&chk.lock);
  g_cond_init (&chk.cond);
  guint n_chunks = (cands->len + CHECK_CHUNK - 1) / CHECK_CHUNK;
  chk.n_chunks_left = n_chunks;
  if (n_chunks > 0)
    {
      int n_threads = CLAMP ((int) g_get_num_processors (), 1, 8);
      GThreadPool *pool = g_thread_pool_new (check_chunk, &chk, n_threads, FALSE, NULL);
      for (guint k = 0; k < n_chunks; k++)
        g_thread_pool_push (pool, GUINT_TO_POINTER (k * CHECK_CHUNK + 1), NULL);
      g_mutex_lock (&chk.lock);
      while (chk.n_chunks_left > 0)
        {
          g_cond_wait_until (&chk.cond, &chk.lock, g_get_monotonic_time () + 100000);
          if (progress)
            {
              guint done = chk.n_done, ok = chk.n_ok;
              g_mutex_unlock (&chk.lock);
              progress (w.n_seen, ok, result->skipped_paths->len + (done - ok), user_data);
              g_mutex_lock (&chk.lock);
            }
        }
      g_mutex_unlock (&chk.lock);
      g_thread_pool_free (pool, FALSE, TRUE);
    }
  g_mutex_clear (&chk.lock);
  g_cond_clear (&chk.cond);
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return NULL;

  /* Assemble in walk order; the first copy of identical content wins. */
  g_autoptr(GHashTable) by_hash = g_hash_table_new (g_int64_hash, g_int64_equal);
  for (guint i = 0; i < cands->len; i++)
    {
      Candidate *c = &g_array_index (cands, Candidate, i);
      if (!c->ok)
        {
          bt_scan_result_add_skip (result, c->path, c->reason, NULL);
          continue;
        }
      Candidate *first = g_hash_table_lookup (by_hash, &c->hash);
      if (first)
        {
          bt_scan_result_add_skip (result, c->path, BT_SKIP_DUPLICATE, first->path);
          if (first->class_index != c->class_index)
            result->n_label_conflicts++;
          continue;
        }
      g_hash_table_insert (by_hash, &c->hash, c);
      g_ptr_array_add (result->paths, g_strdup (c->path));
      g_array_append_val (result->class_index, c->class_index);
      g_array_append_val (result->hashes, c->hash);
    }
  if (progress)
    progress (w.n_seen, result->paths->len, result->skipped_paths->len, user_data);
  return g_steal_pointer (&result);
}

/* ---- Async wrapper with throttled progress on the caller's main context ---- */

typedef struct {
  char          **paths;
  BtScanMode      mode;
  char           *class_name;
  gboolean        recursive;
  BtScanProgress  progress;
  gpointer        progress_data;
  GDestroyNotify  progress_notify;
  GMainContext   *context;
  GMutex          lock;
  guint           n_seen, n_ok, n_skipped;
  gboolean        idle_pending;
  gint            refs;
} ScanJob;

static void
scan_job_unref (gpointer p)
{
  ScanJob *j = p;
  if (!g_atomic_int_dec_and_test (&j->refs))
    return;
  g_strfreev (j->paths);
  g_free (j->class_name);
  if (j->progress_notify)
    j->progress_notify (j->progress_data);
  g_main_context_unref (j->context);
  g_mutex_clear (&j->lock);
  g_free (j);
}

static gboolean
scan_progress_idle (gpointer p)
{
  ScanJob *j = p;
  g_mutex_lock (&j->lock);
  guint a = j->n_seen, b = j->n_ok, c = j->n_skipped;
  j->idle_pending = FALSE;
  g_mutex_unlock (&j->lock);
  j->progress (a, b, c, j->progress_data);
  return G_SOURCE_REMOVE;
}

static void
scan_progress_worker (guint n_seen, guint n_ok, guint n_skipped, gpointer p)
{
  ScanJob *j = p;
  g_mutex_lock (&j->lock);
  j->n_seen = n_seen;
  j->n_ok = n_ok;
  j->n_skipped = n_skipped;
  gboolean schedule = !j->idle_pending;
  j->idle_pending = TRUE;
  g_mutex_unlock (&j->lock);
  if (schedule)
    {
      g_atomic_int_inc (&j->refs);
      GSource *s = g_idle_source_new ();
      g_source_set_priority (s, G_PRIORITY_LOW);
      g_source_set_callback (s, scan_progress_idle, j, scan_job_unref);
      g_source_attach (s, j->context);
      g_source_unref (s);
    }
}

static void
scan_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  ScanJob *j = data;
  GError *error = NULL;
  BtScanResult *r = bt_scan_paths ((const char * const *) j->paths, j->mode, j->class_name, j->recursive,
                                   j->progress ? scan_progress_worker : NULL, j, cancellable, &error);
  if (r == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, r, (GDestroyNotify) bt_scan_result_free);
}

void
bt_scan_paths_async_full (const char * const *paths, BtScanMode mode, const char *class_name,
                          gboolean recursive, BtScanProgress progress, gpointer progress_data,
                          GDestroyNotify progress_notify, GCancellable *cancellable,
                          GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (paths != NULL);
  ScanJob *j = g_new0 (ScanJob, 1);
  j->paths = g_strdupv ((char **) paths);
  j->mode = mode;
  j->class_name = g_strdup (class_name);
  j->recursive = recursive;
  j->progress = progress;
  j->progress_data = progress_data;
  j->progress_notify = progress_notify;
  j->context = g_main_context_ref_thread_default ();
  j->refs = 1;
  g_mutex_init (&j->lock);
  g_autoptr(GTask) task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, bt_scan_paths_async_full);
  g_task_set_task_data (task, j, scan_job_unref);
  g_task_run_in_thread (task, scan_thread);
}

void
bt_scan_paths_async (const char * const *paths, BtScanMode mode, const char *class_name,
                     gboolean recursive, GCancellable *cancellable,
                     GAsyncReadyCallback callback, gpointer user_data)
{
  bt_scan_paths_async_full (paths, mode, class_name, recursive, NULL, NULL, NULL, cancellable,
                            callback, user_data);
}

BtScanResult *
bt_scan_paths_finish (GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (G_IS_TASK (result), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}
