/* test-model-runner.c: the model runner runs its jobs one at a time and in order, skips a job
 * cancelled while queued, releases tasks on the main thread; and while a real training run goes
 * on, runner predictions and the training steps never call OpenBLAS at the same time (every
 * cblas_sgemm of this program goes through a counting wrapper). */
#include "config.h"

#include <cblas.h>
#include <dlfcn.h>
#include <glib/gstdio.h>
#include <string.h>

#include "training/bt-model-runner.h"
#include "training/bt-training.h"
#include "bt-test-fs.h"
#include "bt-test-wait.h"

/* ---- Instrument: every cblas_sgemm of the engine comes here first ---- */

typedef void (*SgemmFunc) (OPENBLAS_CONST enum CBLAS_ORDER, OPENBLAS_CONST enum CBLAS_TRANSPOSE,
                           OPENBLAS_CONST enum CBLAS_TRANSPOSE, OPENBLAS_CONST blasint, OPENBLAS_CONST blasint,
                           OPENBLAS_CONST blasint, OPENBLAS_CONST float, OPENBLAS_CONST float *,
                           OPENBLAS_CONST blasint, OPENBLAS_CONST float *, OPENBLAS_CONST blasint,
                           OPENBLAS_CONST float, float *, OPENBLAS_CONST blasint);

static gint sgemm_inside;         /* callers inside cblas_sgemm now */
static gint sgemm_max_inside;     /* the most at once */
static gint sgemm_runner_calls;   /* from the runner's thread */
static gint sgemm_runner_calls_while_training;
static gint sgemm_other_calls;    /* from any other thread (the trainer's) */
static gint training_running;
static _Thread_local gboolean on_runner;

void
cblas_sgemm (OPENBLAS_CONST enum CBLAS_ORDER order, OPENBLAS_CONST enum CBLAS_TRANSPOSE ta,
             OPENBLAS_CONST enum CBLAS_TRANSPOSE tb, OPENBLAS_CONST blasint m, OPENBLAS_CONST blasint n,
             OPENBLAS_CONST blasint k, OPENBLAS_CONST float alpha, OPENBLAS_CONST float *a,
             OPENBLAS_CONST blasint lda, OPENBLAS_CONST float *b, OPENBLAS_CONST blasint ldb,
             OPENBLAS_CONST float beta, float *c, OPENBLAS_CONST blasint ldc)
{
  static SgemmFunc real;
  int now, max;

  if (g_once_init_enter (&real))
    g_once_init_leave (&real, (SgemmFunc) dlsym (RTLD_NEXT, "cblas_sgemm"));
  now = g_atomic_int_add (&sgemm_inside, 1) + 1;
  while (now > (max = g_atomic_int_get (&sgemm_max_inside)) &&
         !g_atomic_int_compare_and_exchange (&sgemm_max_inside, max, now))
    ;
  if (on_runner)
    {
      g_atomic_int_inc (&sgemm_runner_calls);
      if (g_atomic_int_get (&training_running))
        g_atomic_int_inc (&sgemm_runner_calls_while_training);
    }
  else
    g_atomic_int_inc (&sgemm_other_calls);
  real (order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  g_atomic_int_add (&sgemm_inside, -1);
}

static void
reset_instrument (void)
{
  g_atomic_int_set (&sgemm_inside, 0);
  g_atomic_int_set (&sgemm_max_inside, 0);
  g_atomic_int_set (&sgemm_runner_calls, 0);
  g_atomic_int_set (&sgemm_runner_calls_while_training, 0);
  g_atomic_int_set (&sgemm_other_calls, 0);
}

/* ---- Jobs one at a time, in order ---- */

typedef struct {
  GMutex   lock;
  GCond    cond;
  gint     active, max_active;
  GArray  *ran;           /* job indices in the order they ran */
  guint    n_done;
  gboolean release;       /* for the blocking job */
  gboolean blocking;      /* the blocking job has started */
  GThread *main_thread;
  guint    freed_on_main, freed_elsewhere;
  BtNet   *net;           /* a small net every job runs a forward pass of */
} Shared;

typedef struct {
  Shared *shared;
  int     index;
  gboolean block;
  gboolean ran;
} JobData;

static void
job_data_free (JobData *d)
{
  if (g_thread_self () == d->shared->main_thread)
    d->shared->freed_on_main++;
  else
    d->shared->freed_elsewhere++;
  g_free (d);
}

static void
job_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  JobData *d = task_data;
  Shared *sh = d->shared;
  int now, max;

  d->ran = TRUE;
  now = g_atomic_int_add (&sh->active, 1) + 1;
  while (now > (max = g_atomic_int_get (&sh->max_active)) &&
         !g_atomic_int_compare_and_exchange (&sh->max_active, max, now))
    ;
  g_mutex_lock (&sh->lock);
  g_array_append_val (sh->ran, d->index);
  if (d->block)
    {
      sh->blocking = TRUE;
      g_cond_broadcast (&sh->cond);
      while (!sh->release)
        g_cond_wait (&sh->cond, &sh->lock);
    }
  g_mutex_unlock (&sh->lock);
  if (sh->net != NULL)
    {
      /* a real forward pass, so overlapping jobs would overlap in the network code too */
      g_autofree float *x = g_new0 (float, 3 * 32 * 32 * 4);
      bt_compute_gate_enter ();
      g_assert_nonnull (bt_net_forward (sh->net, x, 4, FALSE, NULL));
      bt_compute_gate_leave ();
    }
  else
    {
      /* a moment of real work (not a sleep), so that jobs run side by side would overlap */
      volatile double acc = 0;
      for (int i = 1; i < 200000; i++)
        acc += 1.0 / i;
      g_assert_cmpfloat (acc, >, 12);
    }
  g_atomic_int_add (&sh->active, -1);
  g_task_return_int (task, d->index);
}

typedef struct {
  Shared *shared;
  int     index;
  GError *error;
  gssize  value;
} Outcome;

static void
job_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Outcome *o = user_data;

  g_assert_true (g_thread_self () == o->shared->main_thread);
  o->value = g_task_propagate_int (G_TASK (result), &o->error);
  o->shared->n_done++;
}

static GTask *
queue_job (BtModelRunner *runner, Shared *sh, int index, gboolean block, GCancellable *cancellable,
           Outcome *outcome, JobData **data_out)
{
  JobData *d = g_new0 (JobData, 1);
  GTask *task;

  d->shared = sh;
  d->index = index;
  d->block = block;
  outcome->shared = sh;
  outcome->index = index;
  task = g_task_new (NULL, cancellable, job_done_cb, outcome);
  g_task_set_task_data (task, d, (GDestroyNotify) job_data_free);
  bt_model_runner_run_in_thread (runner, task, job_thread);
  if (data_out)
    *data_out = d;
  return task;
}

static void
shared_init (Shared *sh)
{
  memset (sh, 0, sizeof *sh);
  g_mutex_init (&sh->lock);
  g_cond_init (&sh->cond);
  sh->ran = g_array_new (FALSE, FALSE, sizeof (int));
  sh->main_thread = g_thread_self ();
}

static void
shared_clear (Shared *sh)
{
  g_mutex_clear (&sh->lock);
  g_cond_clear (&sh->cond);
  g_array_unref (sh->ran);
  g_clear_pointer (&sh->net, bt_net_free);
}

static void
spin_until_done (Shared *sh, guint n)
{
  BT_TEST_WAIT (sh->n_done >= n);
}

static void
test_serial (void)
{
  g_autoptr(BtModelRunner) runner = bt_model_runner_new ();
  Shared sh;
  Outcome outcomes[12] = { 0 };

  shared_init (&sh);
  sh.net = bt_net_new_preset (BT_PRESET_SMALL_CNN, 32, 32, 3, 4, -1, 1, NULL);
  g_assert_nonnull (sh.net);
  for (int i = 0; i < 12; i++)
    g_object_unref (queue_job (runner, &sh, i, FALSE, NULL, &outcomes[i], NULL));
  spin_until_done (&sh, 12);

  /* never two jobs at once, and in the order they were queued */
  g_assert_cmpint (sh.max_active, ==, 1);
  g_assert_cmpuint (sh.ran->len, ==, 12);
  for (int i = 0; i < 12; i++)
    {
      g_assert_cmpint (g_array_index (sh.ran, int, i), ==, i);
      g_assert_no_error (outcomes[i].error);
      g_assert_cmpint (outcomes[i].value, ==, i);
    }
  /* the task data is released on the main context, after the callback */
  BT_TEST_WAIT (sh.freed_on_main + sh.freed_elsewhere >= 12 && bt_model_runner_get_n_pending (runner) == 0);
  g_assert_cmpuint (sh.freed_on_main, ==, 12);
  g_assert_cmpuint (sh.freed_elsewhere, ==, 0);
  shared_clear (&sh);
}

static void
test_cancel_queued (void)
{
  g_autoptr(BtModelRunner) runner = bt_model_runner_new ();
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  Shared sh;
  Outcome blocker = { 0 }, cancelled = { 0 }, after = { 0 };
  JobData *cancelled_data = NULL;
  GTask *t;

  shared_init (&sh);
  /* job 0 holds the runner until released; job 1 is cancelled while it waits its turn */
  g_object_unref (queue_job (runner, &sh, 0, TRUE, NULL, &blocker, NULL));
  t = queue_job (runner, &sh, 1, FALSE, cancellable, &cancelled, &cancelled_data);
  g_object_unref (queue_job (runner, &sh, 2, FALSE, NULL, &after, NULL));
  g_mutex_lock (&sh.lock);
  while (!sh.blocking)
    g_cond_wait (&sh.cond, &sh.lock);
  g_mutex_unlock (&sh.lock);
  g_assert_cmpuint (bt_model_runner_get_n_pending (runner), ==, 3);

  g_cancellable_cancel (cancellable);
  g_assert_false (cancelled_data->ran);   /* still queued: its data is alive */
  g_mutex_lock (&sh.lock);
  sh.release = TRUE;
  g_cond_broadcast (&sh.cond);
  g_mutex_unlock (&sh.lock);
  spin_until_done (&sh, 3);

  /* job 1 never ran: only 0 and 2 did */
  g_assert_error (cancelled.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_no_error (blocker.error);
  g_assert_no_error (after.error);
  g_assert_cmpint (after.value, ==, 2);
  g_assert_cmpuint (sh.ran->len, ==, 2);
  g_assert_cmpint (g_array_index (sh.ran, int, 0), ==, 0);
  g_assert_cmpint (g_array_index (sh.ran, int, 1), ==, 2);
  g_object_unref (t);
  BT_TEST_WAIT (bt_model_runner_get_n_pending (runner) == 0 && sh.freed_on_main >= 3);
  g_clear_error (&cancelled.error);
  shared_clear (&sh);
}

/* ---- The gate: a training run and runner predictions take turns ---- */

typedef struct {
  BtModel    *model;
  BtProject  *project;
  GPtrArray  *paths;
  gboolean    stop;       /* main thread: stop queueing */
  guint       n_queued, n_done, n_predicted;
  GMainLoop  *loop;
  gboolean    finished;
  GError     *train_error;
} GateTest;

static void
predict_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  GateTest *gt = task_data;
  guint ok = 0;

  on_runner = TRUE;
  for (guint i = 0; i < gt->paths->len; i++)
    {
      g_autofree float *p = bt_predict_file (gt->model, gt->paths->pdata[i], NULL);
      ok += p != NULL;
    }
  {
    /* and a whole evaluation, batch by batch */
    g_autoptr(BtEvaluation) ev = bt_evaluate_project (gt->model, gt->project, BT_SPLIT_TRAIN, cancellable, NULL);
    ok += ev != NULL;
  }
  g_task_return_int (task, ok);
}

static void queue_predictions (GateTest *gt);

static void
predict_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GateTest *gt = user_data;

  gt->n_predicted += g_task_propagate_int (G_TASK (result), NULL);
  gt->n_done++;
  if (!gt->finished)
    queue_predictions (gt);
  else if (gt->n_done == gt->n_queued)
    g_main_loop_quit (gt->loop);
}

static void
queue_predictions (GateTest *gt)
{
  g_autoptr(GTask) task = g_task_new (NULL, NULL, predict_done_cb, gt);

  g_task_set_task_data (task, gt, NULL);
  gt->n_queued++;
  bt_model_runner_run_in_thread (bt_model_runner_get_default (), task, predict_thread);
}

static void
state_cb (BtTrainer *trainer, GParamSpec *pspec, GateTest *gt)
{
  g_atomic_int_set (&training_running, bt_trainer_get_state (trainer) == BT_TRAINER_RUNNING);
}

static void
finished_cb (BtTrainer *trainer, const GError *error, GateTest *gt)
{
  g_atomic_int_set (&training_running, FALSE);
  gt->finished = TRUE;
  if (error)
    gt->train_error = g_error_copy (error);
  if (gt->n_done == gt->n_queued)
    g_main_loop_quit (gt->loop);
}

static void
test_gate_with_training (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("bt-runner-XXXXXX", &error);
  g_autofree char *model_path = NULL;
  g_autoptr(BtProject) project = NULL;
  g_autoptr(BtTrainer) trainer = NULL;
  g_autoptr(BtNet) net = NULL;
  BtProjectSettings s = { 0 };
  GateTest gt = { 0 };
  GListModel *items;
  const char *names[] = { "circle", "square", "triangle", "star", NULL };

  g_assert_no_error (error);
  project = bt_sample_create_shapes (dir, 16, 24, 3, NULL, &error);
  g_assert_no_error (error);
  bt_project_settings_copy (&s, bt_project_get_settings (project));
  g_free (s.preset);
  s.preset = g_strdup ("small-cnn");
  s.width = s.height = 24;
  s.channels = 3;
  s.epochs = 3;
  s.batch_size = 8;
  s.early_stopping_patience = 0;
  g_assert_true (bt_project_update_settings (project, &s, &error));
  bt_project_settings_clear (&s);

  /* a model for the runner to predict with: untrained weights do just as well here */
  net = bt_net_new_preset (BT_PRESET_SMALL_CNN, 24, 24, 3, 4, -1, 5, &error);
  g_assert_no_error (error);
  model_path = g_build_filename (dir, "runner.bottega-model", NULL);
  g_assert_true (bt_model_save (model_path, net, names, NULL, NULL, NULL, NULL, &error));
  g_assert_no_error (error);
  gt.model = bt_model_load (model_path, &error);
  g_assert_no_error (error);
  gt.project = project;
  gt.paths = g_ptr_array_new_with_free_func (g_free);
  items = bt_project_get_items (project);
  for (guint i = 0; i < g_list_model_get_n_items (items) && i < 12; i++)
    {
      g_autoptr(BtItem) item = g_list_model_get_item (items, i);
      g_ptr_array_add (gt.paths, g_strdup (bt_item_get_path (item)));
    }
  gt.loop = g_main_loop_new (NULL, FALSE);

  reset_instrument ();
  trainer = bt_trainer_new (project);
  g_signal_connect (trainer, "notify::state", G_CALLBACK (state_cb), &gt);
  g_signal_connect (trainer, "finished", G_CALLBACK (finished_cb), &gt);
  g_assert_true (bt_trainer_start (trainer, NULL, &error));
  g_assert_no_error (error);
  queue_predictions (&gt);
  queue_predictions (&gt);   /* one waiting while the other runs */
  g_main_loop_run (gt.loop);

  g_assert_no_error (gt.train_error);
  g_test_message ("sgemm calls: %d from the runner (%d while training ran), %d from the trainer; most at once: %d",
                  sgemm_runner_calls, sgemm_runner_calls_while_training, sgemm_other_calls, sgemm_max_inside);
  g_assert_cmpint (sgemm_other_calls, >, 0);
  g_assert_cmpint (sgemm_runner_calls_while_training, >, 0);
  g_assert_cmpuint (gt.n_predicted, >, 0);
  /* both worked on the network code at the same time, yet never inside OpenBLAS together */
  g_assert_cmpint (sgemm_max_inside, ==, 1);

  bt_model_free (gt.model);
  g_ptr_array_unref (gt.paths);
  g_main_loop_unref (gt.loop);
  g_clear_object (&trainer);
  g_clear_object (&project);
  bt_test_rm_rf (dir);
}

/* The instrument itself: two threads forwarding without the gate are seen overlapping. */
typedef struct {
  BtNet *net;
  gint  *stop;
} RawArgs;

static gpointer
raw_forward_thread (gpointer data)
{
  RawArgs *a = data;
  g_autofree float *x = g_new0 (float, 3 * 32 * 32 * 16);

  for (int i = 0; i < 5000 && !g_atomic_int_get (a->stop); i++)
    {
      g_assert_nonnull (bt_net_forward (a->net, x, 16, FALSE, NULL));
      if (g_atomic_int_get (&sgemm_max_inside) >= 2)
        g_atomic_int_set (a->stop, TRUE);
    }
  return NULL;
}

static void
test_instrument_sees_overlap (void)
{
  gint stop = FALSE;
  RawArgs a[2];
  GThread *threads[2];

  reset_instrument ();
  for (int t = 0; t < 2; t++)
    {
      a[t].net = bt_net_new_preset (BT_PRESET_SMALL_CNN, 32, 32, 3, 4, -1, 1 + t, NULL);
      a[t].stop = &stop;
      threads[t] = g_thread_new ("raw-forward", raw_forward_thread, &a[t]);
    }
  for (int t = 0; t < 2; t++)
    {
      g_thread_join (threads[t]);
      bt_net_free (a[t].net);
    }
  g_assert_cmpint (sgemm_max_inside, >=, 2);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  /* the instrument counts OpenBLAS calls, and the inference fast paths (Winograd, the direct
   * first conv, packed dense layers) make none: run predictions on the im2col + sgemm path */
  g_setenv ("BOTTEGA_CONV", "im2col", TRUE);
  /* one engine thread: a job then calls OpenBLAS from one thread at a time, so two calls at once
   * can only be two jobs (with more, one job's GEMM runs as column blocks on the pool) */
  bt_engine_set_threads (1);

  g_test_add_func ("/model-runner/serial", test_serial);
  g_test_add_func ("/model-runner/cancel-queued", test_cancel_queued);
  g_test_add_func ("/model-runner/instrument", test_instrument_sees_overlap);
  g_test_add_func ("/model-runner/gate-with-training", test_gate_with_training);

  return g_test_run ();
}
