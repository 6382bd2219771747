/* bt-parallel.c: a small persistent worker pool for the engine's own loops (im2col, col2im,
 * transpositions, pooling, elementwise, optimizer), sized by bt_engine_set_threads. Work is
 * split into fixed ranges, so results never depend on timing. */
#include "engine/bt-engine-private.h"

typedef struct {
  GMutex lock;
  GCond  done;
  int    pending;
} Job;

typedef struct {
  BtRangeFunc fn;
  gpointer    ctx;
  gsize       begin, end;
  Job        *job;
} Task;

static GMutex pool_lock;
static GThreadPool *pool;
static int pool_threads = 1;

static void
worker (gpointer data, gpointer user_data)
{
  Task *t = data;
  t->fn (t->ctx, t->begin, t->end);
  g_mutex_lock (&t->job->lock);
  if (--t->job->pending == 0)
    g_cond_signal (&t->job->done);
  g_mutex_unlock (&t->job->lock);
}

void
bt_parallel_set_threads (int n)
{
  g_mutex_lock (&pool_lock);
  pool_threads = MAX (n, 1);
  if (pool_threads > 1)
    {
      if (pool == NULL)
        pool = g_thread_pool_new (worker, NULL, pool_threads - 1, TRUE, NULL);
      else
        g_thread_pool_set_max_threads (pool, pool_threads - 1, NULL);
    }
  g_mutex_unlock (&pool_lock);
}

int
bt_parallel_get_threads (void)
{
  g_mutex_lock (&pool_lock);
  int threads = pool ? pool_threads : 1;
  g_mutex_unlock (&pool_lock);
  return threads;
}

void
bt_parallel_for (gsize n, gsize min_chunk, BtRangeFunc fn, gpointer ctx)
{
  if (n == 0)
    return;
  g_mutex_lock (&pool_lock);
  int threads = pool ? pool_threads : 1;
  GThreadPool *p = pool;
  g_mutex_unlock (&pool_lock);
  gsize parts = MIN ((gsize) threads, n / MAX (min_chunk, 1));
  if (parts <= 1)
    {
      fn (ctx, 0, n);
      return;
    }
  Job job = { .pending = (int) parts - 1 };
  g_mutex_init (&job.lock);
  g_cond_init (&job.done);
  Task tasks[64];
  parts = MIN (parts, G_N_ELEMENTS (tasks));
  job.pending = (int) parts - 1;
  for (gsize i = 1; i < parts; i++)
    {
      tasks[i] = (Task) { fn, ctx, n * i / parts, n * (i + 1) / parts, &job };
      g_thread_pool_push (p, &tasks[i], NULL);
    }
  fn (ctx, 0, n / parts);
  g_mutex_lock (&job.lock);
  while (job.pending > 0)
    g_cond_wait (&job.done, &job.lock);
  g_mutex_unlock (&job.lock);
  g_mutex_clear (&job.lock);
  g_cond_clear (&job.done);
}
