/* bt-parallel.c: a small persistent worker pool for the engine's own loops (convolution slabs,
 * GEMM column blocks, pooling, elementwise, optimizer), sized by bt_engine_set_threads (default:
 * the machine's cores). Work is split into fixed ranges, so results never depend on timing.
 *
 * OpenBLAS runs single-threaded, set once here and never changed: every parallel GEMM is cut into
 * blocks over this pool. OpenBLAS 0.3.21's openblas_set_num_threads is not safe to call from
 * several threads (the trainer, the model runner, embedding workers), and doing so left its
 * thread server in a state where the process hung at exit (#25). */
#include "engine/bt-engine-private.h"

#include <cblas.h>

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
static gboolean pool_sized;
static void worker (gpointer data, gpointer user_data);   /* bt_parallel_set_threads has run (else: one per core on first use) */

/* The one place the process's OpenBLAS thread count is set. */
static void
blas_single_threaded_once (void)
{
  static gsize done = 0;
  if (g_once_init_enter (&done))
    {
      openblas_set_num_threads (1);
      g_once_init_leave (&done, 1);
    }
}

/* Called with pool_lock held. */
static void
pool_resize_locked (int n)
{
  pool_threads = CLAMP (n, 1, 256);
  pool_sized = TRUE;
  if (pool_threads > 1)
    {
      if (pool == NULL)
        pool = g_thread_pool_new (worker, NULL, pool_threads - 1, TRUE, NULL);
      else
        g_thread_pool_set_max_threads (pool, pool_threads - 1, NULL);
    }
}

/* The pool as it is now, sized to the machine on first use. */
static int
pool_get (GThreadPool **p)
{
  blas_single_threaded_once ();
  g_mutex_lock (&pool_lock);
  if (!pool_sized)
    pool_resize_locked ((int) MIN (g_get_num_processors (), 8u));
  int threads = pool ? pool_threads : 1;
  if (p != NULL)
    *p = pool;
  g_mutex_unlock (&pool_lock);
  return threads;
}

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
  blas_single_threaded_once ();
  g_mutex_lock (&pool_lock);
  pool_resize_locked (n);
  g_mutex_unlock (&pool_lock);
}

int
bt_parallel_get_threads (void)
{
  return pool_get (NULL);
}

void
bt_parallel_for (gsize n, gsize min_chunk, BtRangeFunc fn, gpointer ctx)
{
  if (n == 0)
    return;
  GThreadPool *p;
  int threads = pool_get (&p);
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
