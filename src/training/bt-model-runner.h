/* bt-model-runner.h: the one worker that runs every forward pass outside training (evaluation,
 * prediction, time estimates), and the compute gate that takes turns with the training thread. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* ---- The compute gate ----
 * At most one thread computes with the network code (and so calls OpenBLAS) at a time. The
 * trainer holds the gate for one training step or one validation batch, the runner's jobs for
 * one forward pass (or one batch of one); turns are handed out first come, first served, so a
 * runner job that waits gets the next turn after the current training step. Entering again on
 * a thread that holds it only counts (evaluation inside a gated region does not deadlock).
 * Callable from any thread; never from the GTK main thread, which must not compute. */
void     bt_compute_gate_enter (void);
void     bt_compute_gate_leave (void);
/* TRUE when the calling thread holds the gate. */
gboolean bt_compute_gate_is_held (void);

/* ---- The model runner ----
 * One worker thread; jobs run one after another in the order they were queued. A job is a
 * GTask: its result reaches the task's callback on the main context the task was made in (as
 * with g_task_run_in_thread). A job whose cancellable is cancelled before its turn is not run
 * and returns G_IO_ERROR_CANCELLED. The task (and its task data) is released on its own main
 * context, never on the worker. */
#define BT_TYPE_MODEL_RUNNER (bt_model_runner_get_type ())
G_DECLARE_FINAL_TYPE (BtModelRunner, bt_model_runner, BT, MODEL_RUNNER, GObject)

BtModelRunner *bt_model_runner_new (void);
/* The process's runner (the app's pages share it). Never freed. */
BtModelRunner *bt_model_runner_get_default (void);
/* Queues func to run on the runner's thread with task. Takes its own reference to task. */
void           bt_model_runner_run_in_thread (BtModelRunner   *self,
                                              GTask           *task,
                                              GTaskThreadFunc  func);
/* Jobs queued, running, or finished but not yet released on their task's context (the count
 * drops there, so a main loop waiting for 0 is woken by it). */
guint          bt_model_runner_get_n_pending (BtModelRunner *self);

G_END_DECLS
