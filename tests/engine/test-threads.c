/* test-threads.c: the engine's threading contract. OpenBLAS is set single-threaded once and the
 * engine's own pool does the splitting, so threads that change the thread count while others run
 * convolutions (the trainer beside the model runner and the embedding workers) leave a process
 * that exits: OpenBLAS 0.3.21 hung at exit after concurrent openblas_set_num_threads calls (#25). */
#include "engine/bt-engine-private.h"

#include <cblas.h>
#include <string.h>

#define N_WORKERS 4

typedef struct { int id; gboolean ok; } Worker;

static gpointer
hammer (gpointer data)
{
  Worker *wk = data;
  BtConvShape s;
  /* batch 1 and batch 6: the whole-batch (GEMM blocks) and the slab schedules */
  const int n = wk->id % 2 ? 1 : 6;
  g_assert_true (bt_conv_shape_init (&s, n, 16, 14, 14, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, NULL));
  const gsize nx = (gsize) n * 16 * 14 * 14, nw = (gsize) 32 * 16 * 9, no = (gsize) n * 32 * 14 * 14;
  g_autofree float *x = g_new (float, nx), *w = g_new (float, nw), *out = g_new (float, no);
  g_autofree float *dx = g_new (float, nx), *dw = g_new0 (float, nw), *db = g_new0 (float, 32);
  g_autofree float *ws = g_new (float, bt_conv2d_workspace_size (&s));
  for (gsize i = 0; i < nx; i++)
    x[i] = (float) ((i * 37) % 11) / 11.0f - 0.5f;
  for (gsize i = 0; i < nw; i++)
    w[i] = (float) ((i * 13) % 7) / 7.0f - 0.5f;
  for (int it = 0; it < 40; it++)
    {
      bt_engine_set_threads (1 + (it + wk->id) % 3);
      bt_conv2d_forward_ex (out, x, w, NULL, &s, ws, 1);
      bt_conv2d_backward_ex (dx, dw, db, out, x, w, &s, ws, out, 1, FALSE);
    }
  wk->ok = TRUE;
  return NULL;
}

static void
test_exit_after_concurrent_threads (void)
{
  if (g_test_subprocess ())
    {
      Worker wk[N_WORKERS];
      GThread *t[N_WORKERS];
      for (int i = 0; i < N_WORKERS; i++)
        {
          wk[i] = (Worker) { i, FALSE };
          t[i] = g_thread_new ("hammer", hammer, &wk[i]);
        }
      for (int i = 0; i < N_WORKERS; i++)
        {
          g_thread_join (t[i]);
          g_assert_true (wk[i].ok);
        }
      /* OpenBLAS itself never got more than one thread */
      g_assert_cmpint (openblas_get_num_threads (), ==, 1);
      bt_engine_set_threads (2);
      g_assert_cmpint (openblas_get_num_threads (), ==, 1);
      g_assert_cmpint (bt_engine_get_threads (), ==, 2);
      g_print ("workers done\n");
      return;   /* the process now exits through OpenBLAS's and GLib's destructors */
    }
  /* killed (and failed) if the child has not exited after 60 s */
  g_test_trap_subprocess (NULL, 60 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stdout ("*workers done*");
}

/* Without bt_engine_set_threads, the engine uses the machine's cores (the app and bottega-cli
 * without -j): no single-threaded slab loop beside a multi-threaded OpenBLAS any more. */
static void
test_default_threads (void)
{
  if (g_test_subprocess ())
    {
      int want = (int) MIN (g_get_num_processors (), 8u);
      g_assert_cmpint (bt_engine_get_threads (), ==, want);
      g_assert_cmpint (openblas_get_num_threads (), ==, 1);
      return;
    }
  g_test_trap_subprocess (NULL, 60 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/threads/exit-after-concurrent-set", test_exit_after_concurrent_threads);
  g_test_add_func ("/threads/default", test_default_threads);
  return g_test_run ();
}
