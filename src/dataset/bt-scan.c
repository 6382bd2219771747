/* bt-scan.c: folder import on a worker. What the walk (bt-walk.c) finds is read, hashed and
 * fully decoded on a thread pool while the walk goes on; every skipped file gets a reason,
 * exact duplicates are found by content hash. */
#include "config.h"

#include <errno.h>
#include <string.h>
#ifdef __linux__
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif
#include <glib/gi18n-lib.h>

#include "dataset/bt-dataset-private.h"
#include "dataset/bt-sandbox-private.h"

void
bt_scan_result_free (BtScanResult *r)
{
  if (r == NULL)
    return;
  g_ptr_array_unref (r->class_names);
  g_ptr_array_unref (r->paths);
  g_array_unref (r->class_index);
  g_array_unref (r->hashes);
  g_clear_pointer (&r->widths, g_array_unref);
  g_clear_pointer (&r->heights, g_array_unref);
  g_ptr_array_unref (r->skipped_paths);
  g_array_unref (r->skipped_reasons);
  g_ptr_array_unref (r->duplicate_of);
  g_free (r);
}

BtScanResult *
bt_scan_result_new (void)
{
  BtScanResult *r = g_new0 (BtScanResult, 1);
  r->class_names = g_ptr_array_new_with_free_func (g_free);
  r->paths = g_ptr_array_new_with_free_func (g_free);
  r->class_index = g_array_new (FALSE, FALSE, sizeof (guint));
  r->hashes = g_array_new (FALSE, FALSE, sizeof (guint64));
  r->widths = g_array_new (FALSE, FALSE, sizeof (int));
  r->heights = g_array_new (FALSE, FALSE, sizeof (int));
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

/* ---- Pipeline: the walk fills batches of candidates that a pool checks (read, hash, decode)
 * while the walk goes on; finished batches are put back in walk order and emitted in chunks. */

typedef struct {
  char         *path;
  guint         class_index;
  guint64       hash;
  int           width, height;
  BtSkipReason  reason;
  guint         decode_flags;  /* BtDecodeFlags */
  gboolean      ok;
  gboolean      walked_skip;  /* a skip decided by the walk: not checked */
  char         *dup_of;
} Candidate;

static void
candidate_clear (gpointer p)
{
  Candidate *c = p;
  g_free (c->path);
  g_free (c->dup_of);
}

#define CHECK_CHUNK 64
#define EMIT_ITEMS 1000
#define EMIT_USEC 100000

typedef struct {
  guint   seq;
  GArray *cands;  /* Candidate */
} Batch;

static void
batch_free (gpointer p)
{
  Batch *b = p;
  g_array_unref (b->cands);
  g_free (b);
}

typedef struct {
  GMutex          lock;
  GCond           cond;
  GCancellable   *cancellable;
  GHashTable     *done;        /* seq → Batch: checked, waiting for their turn */
  guint           next_emit, n_pushed, n_finished;
  GHashTable     *by_hash;     /* content hash → first path (owned by total) */
  BtScanResult   *total;
  BtScanResult   *pending;     /* the chunk being gathered */
  gint64          last_emit;
  GPtrArray      *class_names; /* char*, appended by the walk */
  guint           n_ok, n_skipped;
  BtScanChunkFunc chunk;
  gpointer        chunk_data;
} Stream;

typedef struct {
  Stream        *st;
  GThreadPool   *pool;
  GArray        *batch;       /* being filled */
  BtScanProgress progress;
  gpointer       progress_data;
  gint64         last_progress;
  guint          n_seen;
} Walk;

static GArray *
new_batch (void)
{
  GArray *a = g_array_sized_new (FALSE, TRUE, sizeof (Candidate), CHECK_CHUNK);
  g_array_set_clear_func (a, candidate_clear);
  return a;
}

static void
push_batch (Walk *w)
{
  if (w->batch->len == 0)
    return;
  Batch *b = g_new0 (Batch, 1);
  b->cands = g_steal_pointer (&w->batch);
  w->batch = new_batch ();
  g_mutex_lock (&w->st->lock);
  b->seq = w->st->n_pushed++;
  g_mutex_unlock (&w->st->lock);
  g_thread_pool_push (w->pool, b, NULL);
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
  g_mutex_lock (&w->st->lock);
  guint ok = w->st->n_ok, skipped = w->st->n_skipped;
  g_mutex_unlock (&w->st->lock);
  w->progress (w->n_seen, ok, skipped, w->progress_data);
}

/* ---- The walk's callbacks (bt-walk.c walks; this file checks what it finds) ---- */

static void
walk_class_added (gpointer data, guint index, const char *name)
{
  Walk *w = data;
  g_mutex_lock (&w->st->lock);
  g_assert (index == w->st->class_names->len);
  g_ptr_array_add (w->st->class_names, g_strdup (name));
  g_mutex_unlock (&w->st->lock);
}

static void
append_candidate (Walk *w, const Candidate *c)
{
  g_array_append_vals (w->batch, c, 1);
  if (w->batch->len >= CHECK_CHUNK)
    push_batch (w);
}

static gboolean
walk_file (gpointer data, const char *path, guint cls)
{
  Candidate c = { .path = g_strdup (path), .class_index = cls };
  append_candidate (data, &c);
  return TRUE;
}

/* A skip found by the walk travels with the candidates, so skips stay in walk order. */
static void
walk_skip (gpointer data, const char *path, BtSkipReason reason)
{
  Candidate c = { .path = g_strdup (path), .reason = reason, .walked_skip = TRUE };
  append_candidate (data, &c);
}

static void
walk_seen (gpointer data, guint n_seen)
{
  Walk *w = data;
  w->n_seen = n_seen;
  walk_progress (w, FALSE);
}

/* ---- Emitting, in walk order (under the stream lock) ---- */

static void
result_add_item (BtScanResult *r, const Candidate *c)
{
  g_ptr_array_add (r->paths, g_strdup (c->path));
  g_array_append_val (r->class_index, c->class_index);
  g_array_append_val (r->hashes, c->hash);
  g_array_append_val (r->widths, c->width);
  g_array_append_val (r->heights, c->height);
  r->n_rotated += (c->decode_flags & BT_DECODE_ROTATED) != 0;
  r->n_converted += (c->decode_flags & BT_DECODE_CONVERTED) != 0;
}

static void
stream_flush (Stream *st, gboolean force)
{
  BtScanResult *p = st->pending;
  guint n = p->paths->len + p->skipped_paths->len;
  gint64 now = g_get_monotonic_time ();
  if (st->chunk == NULL || (!force && (n == 0 || (n < EMIT_ITEMS && now - st->last_emit < EMIT_USEC))))
    return;
  st->last_emit = now;
  for (guint i = 0; i < st->class_names->len; i++)
    g_ptr_array_add (p->class_names, g_strdup (st->class_names->pdata[i]));
  st->pending = bt_scan_result_new ();
  st->chunk (p, st->chunk_data);
}

static void
stream_emit_batch (Stream *st, Batch *b)
{
  for (guint i = 0; i < b->cands->len; i++)
    {
      Candidate *c = &g_array_index (b->cands, Candidate, i);
      if (!c->ok)
        {
          bt_scan_result_add_skip (st->total, c->path, c->reason, NULL);
          bt_scan_result_add_skip (st->pending, c->path, c->reason, NULL);
          continue;
        }
      guint first = GPOINTER_TO_UINT (g_hash_table_lookup (st->by_hash, &c->hash));
      if (first)
        {
          const char *first_path = st->total->paths->pdata[first - 1];
          bt_scan_result_add_skip (st->total, c->path, BT_SKIP_DUPLICATE, first_path);
          bt_scan_result_add_skip (st->pending, c->path, BT_SKIP_DUPLICATE, first_path);
          if (g_array_index (st->total->class_index, guint, first - 1) != c->class_index)
            {
              st->total->n_label_conflicts++;
              st->pending->n_label_conflicts++;
            }
          continue;
        }
      result_add_item (st->total, c);
      result_add_item (st->pending, c);
      g_hash_table_insert (st->by_hash, g_memdup2 (&c->hash, sizeof c->hash),
                           GUINT_TO_POINTER (st->total->paths->len));
    }
}

/* One candidate checked: decoded at the smallest scale and its content hashed, in a sandbox
 * helper (which reads the file: the bytes never enter this process), or in-process. */
static gboolean
scan_decode (const char *path, BtDecodeInfo *info, guint64 *hash, BtSkipReason *reason)
{
  g_autoptr(BtImage) img = NULL;
  if (!bt_image_get_in_process ())
    {
      int fd = bt_open_regular_file (path, BT_MAX_FILE_BYTES, NULL, reason, NULL);
      if (fd < 0)
        return FALSE;
      gboolean ok = bt_sandbox_decode_full (fd, path, 1, 32, 32, BT_SANDBOX_HASH, &img, info, hash, reason, NULL);
      close (fd);
      return ok;
    }
  g_autofree guint8 *bytes = NULL;
  gsize len = 0;
  if (!bt_read_regular_file (path, BT_MAX_FILE_BYTES, &bytes, &len, reason, NULL))
    return FALSE;
  img = bt_image_decode (bytes, len, 1, 32, 32, info, reason, NULL);
  if (img == NULL)
    return FALSE;
  *hash = bt_hash_bytes (bytes, len);
  return TRUE;
}

static void
check_batch (gpointer data, gpointer user_data)
{
  Batch *b = data;
  Stream *st = user_data;
  guint ok = 0, bad = 0;
#ifdef __linux__
  /* The checkers yield to the GUI thread: ten nice levels below it (they are the pool's own
   * threads, which end with the scan), so a busy machine does not stall the caller's frames. */
  static _Thread_local gboolean lowered;
  if (!lowered)
    {
      lowered = TRUE;
      id_t tid = (id_t) syscall (SYS_gettid);
      errno = 0;
      int nice_now = getpriority (PRIO_PROCESS, tid);
      if (errno == 0)
        (void) setpriority (PRIO_PROCESS, tid, MIN (nice_now + 10, 19));
    }
#endif
  for (guint i = 0; i < b->cands->len; i++)
    {
      Candidate *c = &g_array_index (b->cands, Candidate, i);
      if (c->walked_skip)
        {
          bad++;
          continue;
        }
      if (g_cancellable_is_cancelled (st->cancellable))
        break;
      BtSkipReason reason = BT_SKIP_UNREADABLE;
      /* Every pixel is decoded (a damaged photo is refused here, not at training), but a
       * JPEG or WebP only at the smallest scale: checking is not viewing. */
      BtDecodeInfo info;
      guint64 hash = 0;
      if (!scan_decode (c->path, &info, &hash, &reason))
        {
          c->reason = reason;
          bad++;
          continue;
        }
      c->hash = hash;
      c->width = info.width;
      c->height = info.height;
      c->decode_flags = info.flags;
      c->ok = TRUE;
      ok++;
    }
  g_mutex_lock (&st->lock);
  st->n_ok += ok;
  st->n_skipped += bad;
  g_hash_table_insert (st->done, GUINT_TO_POINTER (b->seq + 1), b);
  Batch *next;
  while ((next = g_hash_table_lookup (st->done, GUINT_TO_POINTER (st->next_emit + 1))))
    {
      g_hash_table_steal (st->done, GUINT_TO_POINTER (st->next_emit + 1));
      st->next_emit++;
      if (!g_cancellable_is_cancelled (st->cancellable))
        {
          stream_emit_batch (st, next);
          stream_flush (st, FALSE);
        }
      batch_free (next);
    }
  st->n_finished++;
  g_cond_broadcast (&st->cond);
  g_mutex_unlock (&st->lock);
}

BtScanResult *
bt_scan_paths_stream (const char * const *paths, BtScanMode mode, const char *class_name,
                      gboolean recursive, BtScanProgress progress, gpointer progress_data,
                      BtScanChunkFunc chunk, gpointer chunk_data,
                      GCancellable *cancellable, GError **error)
{
  g_return_val_if_fail (paths != NULL, NULL);
  g_return_val_if_fail (mode <= BT_SCAN_FILES_INTO_CLASS, NULL);
  g_return_val_if_fail (mode != BT_SCAN_FILES_INTO_CLASS || class_name != NULL, NULL);

  Stream st = { 0 };
  g_mutex_init (&st.lock);
  g_cond_init (&st.cond);
  st.cancellable = cancellable;
  st.done = g_hash_table_new_full (NULL, NULL, NULL, batch_free);
  st.by_hash = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);
  st.total = bt_scan_result_new ();
  st.pending = bt_scan_result_new ();
  st.class_names = g_ptr_array_new_with_free_func (g_free);
  st.chunk = chunk;
  st.chunk_data = chunk_data;
  st.last_emit = g_get_monotonic_time ();

  static const BtWalkFuncs funcs = { walk_class_added, walk_file, walk_skip, walk_seen };
  Walk w = { 0 };
  w.st = &st;
  w.batch = new_batch ();
  w.progress = progress;
  w.progress_data = progress_data;
  int n_threads = CLAMP ((int) g_get_num_processors (), 1, 8);
  /* Exclusive: the threads are this scan's (see check_batch) and end with it. */
  w.pool = g_thread_pool_new (check_batch, &st, n_threads, TRUE, NULL);

  gboolean ok = bt_walk_paths (paths, mode, class_name, recursive, &funcs, &w, cancellable, error);
  push_batch (&w);
  walk_progress (&w, TRUE);

  /* Wait for the pool; this thread reports progress. */
  g_mutex_lock (&st.lock);
  while (st.n_finished < st.n_pushed)
    {
      g_cond_wait_until (&st.cond, &st.lock, g_get_monotonic_time () + 100000);
      if (progress)
        {
          guint a = st.n_ok, b = st.n_skipped;
          g_mutex_unlock (&st.lock);
          progress (w.n_seen, a, b, progress_data);
          g_mutex_lock (&st.lock);
        }
    }
  g_mutex_unlock (&st.lock);
  g_thread_pool_free (w.pool, FALSE, TRUE);
  g_array_unref (w.batch);

  BtScanResult *result = NULL;
  if (ok && !g_cancellable_set_error_if_cancelled (cancellable, error))
    {
      g_mutex_lock (&st.lock);
      stream_flush (&st, TRUE);  /* the last chunk, also when empty: it names every class */
      g_mutex_unlock (&st.lock);
      for (guint i = 0; i < st.class_names->len; i++)
        g_ptr_array_add (st.total->class_names, g_strdup (st.class_names->pdata[i]));
      result = g_steal_pointer (&st.total);
      if (progress)
        progress (w.n_seen, result->paths->len, result->skipped_paths->len, progress_data);
    }
  g_clear_pointer (&st.total, bt_scan_result_free);
  bt_scan_result_free (st.pending);
  g_ptr_array_unref (st.class_names);
  g_hash_table_unref (st.by_hash);
  g_hash_table_unref (st.done);
  g_mutex_clear (&st.lock);
  g_cond_clear (&st.cond);
  return result;
}

BtScanResult *
bt_scan_paths (const char * const *paths, BtScanMode mode, const char *class_name,
               gboolean recursive, BtScanProgress progress, gpointer user_data,
               GCancellable *cancellable, GError **error)
{
  return bt_scan_paths_stream (paths, mode, class_name, recursive, progress, user_data, NULL, NULL,
                               cancellable, error);
}

/* ---- Streaming on the caller's main context, progress throttled ---- */

typedef struct {
  char          **paths;
  BtScanMode      mode;
  char           *class_name;
  gboolean        recursive;
  BtThrottle     *progress;      /* NULL without a progress function */
  gpointer        notify_data;   /* freed by notify here when there is no throttle to own it */
  GDestroyNotify  notify;
  GMainContext   *context;
  GMutex          lock;
  gint            refs;
  /* Streaming: chunks queued by the scanning threads, delivered one per idle dispatch. */
  BtScanChunkFunc chunk;
  gpointer        chunk_data;
  GQueue          chunks;        /* BtScanResult*, under lock */
  gboolean        chunk_idle_pending;
  GTask          *outer;         /* completed once the last chunk was delivered */
  BtScanResult   *result;        /* the thread's, waiting for the chunks to drain */
  GError         *error;
  gboolean        thread_done;
} ScanJob;

typedef struct {
  guint n_seen, n_ok, n_skipped;
} ScanCounts;

typedef struct {
  BtScanProgress func;
  gpointer       data;
  GDestroyNotify notify;
} ProgressTarget;

static void
progress_target_free (gpointer p)
{
  ProgressTarget *t = p;
  if (t->notify)
    t->notify (t->data);
  g_free (t);
}

static void
progress_deliver (gconstpointer value, gpointer user_data)
{
  const ScanCounts *c = value;
  ProgressTarget *t = user_data;
  t->func (c->n_seen, c->n_ok, c->n_skipped, t->data);
}

/* A job of one reference, reporting to the caller's thread-default context. The progress
 * throttle owns user_data (and frees it with notify) so that a progress idle still pending
 * when the job ends never sees it freed. */
static ScanJob *
scan_job_new (const char * const *paths, BtScanMode mode, const char *class_name, gboolean recursive,
              BtScanProgress progress, gpointer user_data, GDestroyNotify notify)
{
  ScanJob *j = g_new0 (ScanJob, 1);
  j->paths = g_strdupv ((char **) paths);
  j->mode = mode;
  j->class_name = g_strdup (class_name);
  j->recursive = recursive;
  if (progress != NULL)
    {
      ProgressTarget *t = g_new0 (ProgressTarget, 1);
      t->func = progress;
      t->data = user_data;
      t->notify = notify;
      j->progress = bt_throttle_new (sizeof (ScanCounts), G_PRIORITY_LOW, progress_deliver, t, progress_target_free);
    }
  else
    {
      j->notify = notify;
      j->notify_data = user_data;
    }
  j->context = g_main_context_ref_thread_default ();
  j->refs = 1;
  g_mutex_init (&j->lock);
  return j;
}

static void
scan_job_unref (gpointer p)
{
  ScanJob *j = p;
  if (!g_atomic_int_dec_and_test (&j->refs))
    return;
  g_strfreev (j->paths);
  g_free (j->class_name);
  g_queue_clear_full (&j->chunks, (GDestroyNotify) bt_scan_result_free);
  g_clear_pointer (&j->result, bt_scan_result_free);
  g_clear_error (&j->error);
  g_clear_pointer (&j->progress, bt_throttle_unref);
  if (j->notify)
    j->notify (j->notify_data);
  g_main_context_unref (j->context);
  g_mutex_clear (&j->lock);
  g_free (j);
}

/* Runs func (j) once on the caller's context; the idle holds a reference to the job. */
static void
scan_job_idle (ScanJob *j, int priority, GSourceFunc func)
{
  g_atomic_int_inc (&j->refs);
  GSource *src = g_idle_source_new ();
  g_source_set_priority (src, priority);
  g_source_set_callback (src, func, j, scan_job_unref);
  g_source_attach (src, j->context);
  g_source_unref (src);
}

static void
scan_progress_worker (guint n_seen, guint n_ok, guint n_skipped, gpointer p)
{
  ScanJob *j = p;
  ScanCounts c = { n_seen, n_ok, n_skipped };
  bt_throttle_post (j->progress, &c);
}

BtScanResult *
bt_scan_paths_finish (GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (G_IS_TASK (result), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ---- Streaming async: chunks on the caller's main context ---- */

static void
stream_complete (ScanJob *j)
{
  GTask *outer = g_steal_pointer (&j->outer);
  /* the callback runs now: no progress after it */
  if (j->progress != NULL)
    bt_throttle_close (j->progress);
  /* A cancelled stream dropped chunks: its whole result would not match what was delivered. */
  if (j->error == NULL && g_cancellable_set_error_if_cancelled (g_task_get_cancellable (outer), &j->error))
    g_clear_pointer (&j->result, bt_scan_result_free);
  if (j->error)
    g_task_return_error (outer, g_steal_pointer (&j->error));
  else
    g_task_return_pointer (outer, g_steal_pointer (&j->result), (GDestroyNotify) bt_scan_result_free);
  g_object_unref (outer);
}

static gboolean
stream_chunk_idle (gpointer p)
{
  ScanJob *j = p;
  g_mutex_lock (&j->lock);
  BtScanResult *chunk = g_queue_pop_head (&j->chunks);
  gboolean more = !g_queue_is_empty (&j->chunks);
  if (!more)
    j->chunk_idle_pending = FALSE;
  g_mutex_unlock (&j->lock);
  GCancellable *cancellable = j->outer ? g_task_get_cancellable (j->outer) : NULL;
  if (chunk && !g_cancellable_is_cancelled (cancellable))
    j->chunk (chunk, j->chunk_data);
  else
    g_clear_pointer (&chunk, bt_scan_result_free);
  if (more)
    return G_SOURCE_CONTINUE;
  g_mutex_lock (&j->lock);
  gboolean finish = j->thread_done && g_queue_is_empty (&j->chunks) && j->outer != NULL;
  g_mutex_unlock (&j->lock);
  if (finish)
    stream_complete (j);
  return G_SOURCE_REMOVE;
}

static void
stream_chunk_worker (BtScanResult *chunk, gpointer p)
{
  ScanJob *j = p;
  g_mutex_lock (&j->lock);
  g_queue_push_tail (&j->chunks, chunk);
  gboolean schedule = !j->chunk_idle_pending;
  j->chunk_idle_pending = TRUE;
  g_mutex_unlock (&j->lock);
  if (schedule)
    scan_job_idle (j, G_PRIORITY_DEFAULT_IDLE, stream_chunk_idle);
}

static void
stream_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  ScanJob *j = data;
  GError *error = NULL;
  BtScanResult *r = bt_scan_paths_stream ((const char * const *) j->paths, j->mode, j->class_name, j->recursive,
                                          j->progress ? scan_progress_worker : NULL, j,
                                          j->chunk ? stream_chunk_worker : NULL, j, cancellable, &error);
  if (r == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, r, (GDestroyNotify) bt_scan_result_free);
}

static void
stream_thread_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
  ScanJob *j = g_task_get_task_data (G_TASK (res));
  j->result = g_task_propagate_pointer (G_TASK (res), &j->error);
  g_mutex_lock (&j->lock);
  j->thread_done = TRUE;
  gboolean finish = !j->chunk_idle_pending;
  g_mutex_unlock (&j->lock);
  if (finish)
    stream_complete (j);
}

void
bt_scan_paths_stream_async (const char * const *paths, BtScanMode mode, const char *class_name,
                            gboolean recursive, BtScanProgress progress, BtScanChunkFunc chunk,
                            gpointer user_data, GDestroyNotify notify, GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer callback_data)
{
  g_return_if_fail (paths != NULL);
  ScanJob *j = scan_job_new (paths, mode, class_name, recursive, progress, user_data, notify);
  j->chunk = chunk;
  j->chunk_data = user_data;
  g_queue_init (&j->chunks);
  j->outer = g_task_new (NULL, cancellable, callback, callback_data);
  g_task_set_source_tag (j->outer, bt_scan_paths_stream_async);
  g_autoptr(GTask) task = g_task_new (NULL, cancellable, stream_thread_done, NULL);
  g_task_set_task_data (task, j, scan_job_unref);
  g_task_run_in_thread (task, stream_thread);
}
