/* bt-model-runner.c: the one worker that runs every forward pass outside training, and the
 * first-come-first-served compute gate it shares with the training thread. */
#include "config.h"

#include "training/bt-model-runner.h"

/* ---- Compute gate: a ticket lock, so turns alternate fairly between waiting threads ---- */

static GMutex gate_lock;
static GCond gate_cond;
static guint64 gate_next_ticket;
static guint64 gate_now_serving;
static _Thread_local int gate_depth;

void
bt_compute_gate_enter (void)
{
  guint64 ticket;

  if (gate_depth++ > 0)
    return;
  g_mutex_lock (&gate_lock);
  ticket = gate_next_ticket++;
  while (gate_now_serving != ticket)
    g_cond_wait (&gate_cond, &gate_lock);
  g_mutex_unlock (&gate_lock);
}

void
bt_compute_gate_leave (void)
{
  g_return_if_fail (gate_depth > 0);

  if (--gate_depth > 0)
    return;
  g_mutex_lock (&gate_lock);
  gate_now_serving++;
  g_cond_broadcast (&gate_cond);
  g_mutex_unlock (&gate_lock);
}

gboolean
bt_compute_gate_is_held (void)
{
  return gate_depth > 0;
}

/* ---- Runner ---- */

struct _BtModelRunner
{
  GObject      parent_instance;

  GThreadPool *pool;      /* at most one thread: jobs never overlap */
  gint         n_pending; /* atomic */
};

G_DEFINE_FINAL_TYPE (BtModelRunner, bt_model_runner, G_TYPE_OBJECT)

typedef struct {
  GTask          *task;
  GTaskThreadFunc func;
  BtModelRunner  *runner;
} Job;

/* On the task's own context: drop the job's task reference, then count the job as done (so a
 * main loop that waits for "no jobs pending" wakes up for it). */
static gboolean
release_job_cb (gpointer data)
{
  Job *job = data;

  g_object_unref (job->task);
  g_atomic_int_dec_and_test (&job->runner->n_pending);
  g_object_unref (job->runner);
  g_free (job);
  return G_SOURCE_REMOVE;
}

static void
run_job (gpointer data, gpointer user_data)
{
  Job *job = data;
  GTask *task = job->task;
  GSource *source;

  if (!g_task_return_error_if_cancelled (task))
    job->func (task, g_task_get_source_object (task), g_task_get_task_data (task),
               g_task_get_cancellable (task));
  /* The task data holds page references and project objects: let them go where they live. */
  source = g_idle_source_new ();
  g_source_set_callback (source, release_job_cb, job, NULL);
  g_source_attach (source, g_task_get_context (task));
  g_source_unref (source);
}

static void
bt_model_runner_finalize (GObject *object)
{
  BtModelRunner *self = BT_MODEL_RUNNER (object);

  /* every job holds a reference until it is released, so no job is left here */
  g_thread_pool_free (self->pool, FALSE, TRUE);
  G_OBJECT_CLASS (bt_model_runner_parent_class)->finalize (object);
}

static void
bt_model_runner_class_init (BtModelRunnerClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = bt_model_runner_finalize;
}

static void
bt_model_runner_init (BtModelRunner *self)
{
  self->pool = g_thread_pool_new (run_job, self, 1, FALSE, NULL);
}

BtModelRunner *
bt_model_runner_new (void)
{
  return g_object_new (BT_TYPE_MODEL_RUNNER, NULL);
}

BtModelRunner *
bt_model_runner_get_default (void)
{
  static BtModelRunner *runner;

  if (g_once_init_enter (&runner))
    g_once_init_leave (&runner, bt_model_runner_new ());
  return runner;
}

void
bt_model_runner_run_in_thread (BtModelRunner *self, GTask *task, GTaskThreadFunc func)
{
  Job *job;

  g_return_if_fail (BT_IS_MODEL_RUNNER (self));
  g_return_if_fail (G_IS_TASK (task));
  g_return_if_fail (func != NULL);

  job = g_new0 (Job, 1);
  job->task = g_object_ref (task);
  job->func = func;
  /* released with the task on its context: the runner never finalizes on its own worker */
  job->runner = g_object_ref (self);
  g_atomic_int_inc (&self->n_pending);
  g_thread_pool_push (self->pool, job, NULL);
}

guint
bt_model_runner_get_n_pending (BtModelRunner *self)
{
  g_return_val_if_fail (BT_IS_MODEL_RUNNER (self), 0);
  return (guint) g_atomic_int_get (&self->n_pending);
}
