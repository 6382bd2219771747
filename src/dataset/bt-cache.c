/* bt-cache.c: every usable item decoded once, by a thread pool, into one compact uint8 block
 * at the model's input size. Beyond the memory budget the block is a file mapping in the
 * project's cache/ folder, so the kernel can page it out instead of the process growing. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>

#include "dataset/bt-dataset-private.h"

struct _BtCache {
  int       width, height, channels;
  guint     n;
  gsize     slot;
  guint8   *data;
  gsize     data_len;
  gboolean  mapped;
  guint8   *valid;    /* 1 when decoded */
  guint8   *reasons;  /* BtSkipReason of failures */
  GPtrArray *failed;  /* paths of the usable items that could not be decoded, in item order */
  GArray    *failed_index;  /* guint: their item indices */
};

static gsize default_budget = (gsize) 1024 * 1024 * 1024;

void
bt_cache_set_memory_budget (gsize bytes)
{
  default_budget = bytes;
}

typedef struct {
  BtCache      *cache;
  char        **paths;      /* n entries, NULL = not usable */
  BtDsResize    resize;
  GCancellable *cancellable;
  BtCacheGate   gate;
  gpointer      gate_data;
  gint          stopped;    /* atomic: the gate said stop */
  GMutex        lock;
  GCond         cond;
  guint         done, chunks_left;
} Build;

#define CACHE_CHUNK 128

static void
build_chunk (gpointer data, gpointer user_data)
{
  Build *b = user_data;
  BtCache *c = b->cache;
  guint start = GPOINTER_TO_UINT (data) - 1;
  guint end = MIN (start + CACHE_CHUNK, c->n);
  for (guint i = start; i < end; i++)
    {
      if (g_cancellable_is_cancelled (b->cancellable) || g_atomic_int_get (&b->stopped))
        break;
      if (b->paths[i] == NULL)
        continue;
      /* blocks while the training run is paused */
      if (b->gate != NULL && !b->gate (b->gate_data))
        {
          g_atomic_int_set (&b->stopped, 1);
          break;
        }
      BtSkipReason reason = BT_SKIP_CORRUPT;
      g_autoptr(BtImage) img = bt_image_preprocess_file (b->paths[i], c->width, c->height, c->channels,
                                                         b->resize, NULL, &reason, NULL);
      if (img == NULL)
        {
          c->reasons[i] = (guint8) reason;
          continue;
        }
      memcpy (c->data + c->slot * i, img->pixels, c->slot);
      c->valid[i] = 1;
    }
  g_mutex_lock (&b->lock);
  b->done += end - start;
  b->chunks_left--;
  g_cond_signal (&b->cond);
  g_mutex_unlock (&b->lock);
}

static gboolean
alloc_storage (BtCache *c, const char *spill_dir, GError **error)
{
  c->data_len = MAX (c->slot * c->n, 1);
  if (c->data_len <= default_budget)
    {
      c->data = g_malloc0 (c->data_len);
      return TRUE;
    }
  const char *dir = spill_dir ? spill_dir : g_get_tmp_dir ();
  g_autofree char *tmpl = g_build_filename (dir, "decoded-XXXXXX", NULL);
  int fd = g_mkstemp_full (tmpl, O_RDWR | O_CLOEXEC, 0600);
  int e = 0;
  if (fd < 0)
    e = errno;
  else
    {
      g_unlink (tmpl);  /* disposable: gone when the cache is freed or the process dies */
      /* Reserve the blocks now: a sparse file (ftruncate) on a full disk turns the first
       * write into a page of the mapping into SIGBUS, which kills the app. */
      e = posix_fallocate (fd, 0, (off_t) c->data_len);
      if (e == 0)
        {
          void *m = mmap (NULL, c->data_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
          if (m == MAP_FAILED)
            e = errno;
          else
            {
              c->data = m;
              c->mapped = TRUE;
            }
        }
      close (fd);
    }
  if (e == ENOSPC || e == EDQUOT || e == EFBIG)
    {
      g_autofree char *size = g_format_size (c->data_len);
      g_autofree char *where = g_filename_display_name (dir);
      g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_IO,
                   _("Not enough free disk space for the decoded images: they need %s in “%s”. "
                     "Free some space there, or choose a smaller image size."), size, where);
      return FALSE;
    }
  if (e)
    {
      g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_IO,
                   _("Could not make room for the decoded images: %s"), g_strerror (e));
      return FALSE;
    }
  return TRUE;
}

static BtCache *
build_paths (const char * const *paths, guint n, int width, int height, int channels,
             BtDsResize resize, const char *spill_dir, int n_threads,
             BtCacheProgress progress, gpointer user_data, BtCacheGate gate, gpointer gate_data,
             GCancellable *cancellable, GError **error)
{
  g_return_val_if_fail (paths != NULL || n == 0, NULL);
  g_return_val_if_fail (width > 0 && height > 0 && width <= 4096 && height <= 4096, NULL);
  g_return_val_if_fail (channels == 1 || channels == 3, NULL);

  g_autoptr(BtCache) c = g_new0 (BtCache, 1);
  c->width = width;
  c->height = height;
  c->channels = channels;
  c->n = n;
  c->slot = (gsize) width * height * channels;
  c->valid = g_malloc0 (MAX (n, 1));
  c->reasons = g_malloc0 (MAX (n, 1));
  c->failed = g_ptr_array_new_with_free_func (g_free);
  c->failed_index = g_array_new (FALSE, FALSE, sizeof (guint));
  if (!alloc_storage (c, spill_dir, error))
    return NULL;

  Build b = { 0 };
  b.cache = c;
  b.paths = (char **) paths;
  b.resize = resize;
  b.cancellable = cancellable;
  b.gate = gate;
  b.gate_data = gate_data;
  g_mutex_init (&b.lock);
  g_cond_init (&b.cond);
  guint n_chunks = (n + CACHE_CHUNK - 1) / CACHE_CHUNK;
  b.chunks_left = n_chunks;
  if (n_chunks > 0)
    {
      if (n_threads <= 0)
        n_threads = (int) g_get_num_processors ();
      n_threads = CLAMP (n_threads, 1, 16);
      GThreadPool *pool = g_thread_pool_new (build_chunk, &b, n_threads, TRUE, NULL);
      for (guint k = 0; k < n_chunks; k++)
        g_thread_pool_push (pool, GUINT_TO_POINTER (k * CACHE_CHUNK + 1), NULL);
      g_mutex_lock (&b.lock);
      while (b.chunks_left > 0)
        {
          g_cond_wait_until (&b.cond, &b.lock, g_get_monotonic_time () + 100000);
          if (progress)
            {
              guint done = b.done;
              g_mutex_unlock (&b.lock);
              progress (done, n, user_data);
              g_mutex_lock (&b.lock);
            }
        }
      g_mutex_unlock (&b.lock);
      g_thread_pool_free (pool, FALSE, TRUE);
    }
  g_mutex_clear (&b.lock);
  g_cond_clear (&b.cond);
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return NULL;
  if (b.stopped)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CANCELLED, _("Decoding the images was stopped"));
      return NULL;
    }
  if (progress)
    progress (n, n, user_data);
  for (guint i = 0; i < n; i++)
    if (paths[i] != NULL && !c->valid[i])
      {
        g_ptr_array_add (c->failed, g_strdup (paths[i]));
        g_array_append_val (c->failed_index, i);
      }
  return g_steal_pointer (&c);
}

BtCache *
bt_cache_build_paths (const char * const *paths, guint n, int width, int height, int channels,
                      BtDsResize resize, const char *spill_dir, int n_threads,
                      BtCacheProgress progress, gpointer user_data,
                      GCancellable *cancellable, GError **error)
{
  return build_paths (paths, n, width, height, channels, resize, spill_dir, n_threads, progress, user_data,
                      NULL, NULL, cancellable, error);
}

BtCache *
bt_cache_build_paths_gated (const char * const *paths, guint n, int width, int height, int channels,
                            BtDsResize resize, const char *spill_dir, int n_threads,
                            BtCacheProgress progress, gpointer user_data,
                            BtCacheGate gate, gpointer gate_data,
                            GCancellable *cancellable, GError **error)
{
  return build_paths (paths, n, width, height, channels, resize, spill_dir, n_threads, progress, user_data,
                      gate, gate_data, cancellable, error);
}

BtCache *
bt_cache_build (BtProject *project, int width, int height, int channels, BtDsResize resize,
                int n_threads, BtCacheProgress progress, gpointer user_data,
                GCancellable *cancellable, GError **error)
{
  return bt_cache_build_gated (project, width, height, channels, resize, n_threads, progress, user_data,
                               NULL, NULL, cancellable, error);
}

BtCache *
bt_cache_build_gated (BtProject *project, int width, int height, int channels, BtDsResize resize,
                      int n_threads, BtCacheProgress progress, gpointer user_data,
                      BtCacheGate gate, gpointer gate_data,
                      GCancellable *cancellable, GError **error)
{
  g_return_val_if_fail (BT_IS_PROJECT (project), NULL);
  GListModel *items = bt_project_get_items (project);
  guint n = g_list_model_get_n_items (items);
  g_autoptr(GPtrArray) paths = g_ptr_array_new_full (n, g_free);
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(BtItem) it = g_list_model_get_item (items, i);
      gboolean usable = !bt_item_get_excluded (it) && !bt_item_get_missing (it);
      g_ptr_array_add (paths, usable ? g_strdup (bt_item_get_path (it)) : NULL);
    }
  g_autofree char *spill = g_build_filename (bt_project_get_dir (project), "cache", NULL);
  if (!g_file_test (spill, G_FILE_TEST_IS_DIR))
    g_clear_pointer (&spill, g_free);
  return build_paths ((const char * const *) paths->pdata, n, width, height, channels, resize,
                      spill, n_threads, progress, user_data, gate, gate_data, cancellable, error);
}

void
bt_cache_free (BtCache *cache)
{
  if (cache == NULL)
    return;
  if (cache->mapped)
    munmap (cache->data, cache->data_len);
  else
    g_free (cache->data);
  g_free (cache->valid);
  g_free (cache->reasons);
  g_clear_pointer (&cache->failed, g_ptr_array_unref);
  g_clear_pointer (&cache->failed_index, g_array_unref);
  g_free (cache);
}

const guint8 *
bt_cache_get (BtCache *cache, guint item_index)
{
  g_return_val_if_fail (cache != NULL, NULL);
  if (item_index >= cache->n || !cache->valid[item_index])
    return NULL;
  return cache->data + cache->slot * item_index;
}

gboolean
bt_cache_is_valid (BtCache *cache, guint item_index)
{
  g_return_val_if_fail (cache != NULL, FALSE);
  return item_index < cache->n && cache->valid[item_index];
}

BtSkipReason
bt_cache_get_failure (BtCache *cache, guint item_index)
{
  g_return_val_if_fail (cache != NULL && item_index < cache->n, BT_SKIP_UNREADABLE);
  return (BtSkipReason) cache->reasons[item_index];
}

void
bt_cache_get_shape (BtCache *cache, int *width, int *height, int *channels, guint *n_items)
{
  g_return_if_fail (cache != NULL);
  if (width) *width = cache->width;
  if (height) *height = cache->height;
  if (channels) *channels = cache->channels;
  if (n_items) *n_items = cache->n;
}

gboolean
bt_cache_is_spilled (BtCache *cache)
{
  g_return_val_if_fail (cache != NULL, FALSE);
  return cache->mapped;
}

guint
bt_cache_get_n_failed (BtCache *cache)
{
  g_return_val_if_fail (cache != NULL, 0);
  return cache->failed->len;
}

const char *
bt_cache_get_failed (BtCache *cache, guint i, guint *item_index, BtSkipReason *reason)
{
  g_return_val_if_fail (cache != NULL && i < cache->failed->len, NULL);
  guint idx = g_array_index (cache->failed_index, guint, i);
  if (item_index)
    *item_index = idx;
  if (reason)
    *reason = (BtSkipReason) cache->reasons[idx];
  return cache->failed->pdata[i];
}

char *
bt_unreadable_report (const char * const *paths, const BtSkipReason *reasons, guint n)
{
  if (n == 0)
    return NULL;
  GString *s = g_string_new (NULL);
  g_string_append_printf (s, g_dngettext (GETTEXT_PACKAGE, "%u image could not be read and is left out:",
                                          "%u images could not be read and are left out:", n), n);
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *display = g_filename_display_name (paths[i]);
      /* one per line: a person can find each file, a script can cut the list */
      g_string_append_printf (s, "\n  %s (%s)", display, bt_skip_reason_to_display (reasons[i]));
    }
  return g_string_free (s, FALSE);
}

char *
bt_cache_dup_failure_report (BtCache *cache)
{
  g_return_val_if_fail (cache != NULL, NULL);
  guint n = cache->failed->len;
  g_autofree BtSkipReason *reasons = g_new (BtSkipReason, MAX (n, 1));
  for (guint i = 0; i < n; i++)
    bt_cache_get_failed (cache, i, NULL, &reasons[i]);
  return bt_unreadable_report ((const char * const *) cache->failed->pdata, reasons, n);
}
