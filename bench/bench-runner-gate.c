/* bench-runner-gate.c: what taking turns at the compute gate costs. Trains the Small CNN on a
 * Shapes sample alone, then again while the model runner keeps evaluating a saved model, and
 * times the runner's evaluations alone; prints images/s of each. Prints numbers, asserts none.
 * Usage: bench-runner-gate [--per-class N] [--epochs N] */
#include "config.h"

#include <glib/gstdio.h>
#include <stdlib.h>

#include "training/bt-model-runner.h"
#include "training/bt-training.h"

typedef struct {
  GMainLoop *loop;
  BtModel   *model;
  BtProject *project;
  gboolean   keep_evaluating;
  gboolean   trainer_done;
  guint      evals_in_flight;
  guint64    eval_images;
  double     eval_seconds;
  double     train_images_per_s;
} Bench;

static void
rm_rf (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);
      if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
        rm_rf (child);
      else
        g_unlink (child);
    }
  g_rmdir (path);
}

static void
eval_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  Bench *b = task_data;
  gint64 t0 = g_get_monotonic_time ();
  g_autoptr(BtEvaluation) ev = bt_evaluate_project (b->model, b->project, BT_SPLIT_TRAIN, NULL, NULL);
  double s = (g_get_monotonic_time () - t0) / 1e6;

  b->eval_seconds += s;
  b->eval_images += ev ? ev->n : 0;
  g_task_return_boolean (task, TRUE);
}

static void queue_eval (Bench *b);

static void
eval_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Bench *b = user_data;

  b->evals_in_flight--;
  if (b->keep_evaluating)
    queue_eval (b);
  else if (b->evals_in_flight == 0 && b->trainer_done)
    g_main_loop_quit (b->loop);
}

static void
queue_eval (Bench *b)
{
  g_autoptr(GTask) task = g_task_new (NULL, NULL, eval_done_cb, b);

  g_task_set_task_data (task, b, NULL);
  b->evals_in_flight++;
  bt_model_runner_run_in_thread (bt_model_runner_get_default (), task, eval_thread);
}

static void
epoch_cb (BtTrainer *trainer, const BtEpochInfo *info, Bench *b)
{
  b->train_images_per_s = info->images_per_s;   /* the last epoch's */
}

static void
finished_cb (BtTrainer *trainer, const GError *error, Bench *b)
{
  if (error)
    g_printerr ("training: %s\n", error->message);
  b->trainer_done = TRUE;
  b->keep_evaluating = FALSE;
  if (b->evals_in_flight == 0)
    g_main_loop_quit (b->loop);
}

static double
train (BtProject *project, Bench *b, gboolean with_runner)
{
  g_autoptr(BtTrainer) trainer = bt_trainer_new (project);
  g_autoptr(GError) error = NULL;

  b->trainer_done = FALSE;
  b->eval_images = 0;
  b->eval_seconds = 0;
  b->train_images_per_s = 0;
  g_signal_connect (trainer, "epoch", G_CALLBACK (epoch_cb), b);
  g_signal_connect (trainer, "finished", G_CALLBACK (finished_cb), b);
  if (!bt_trainer_start (trainer, NULL, &error))
    g_error ("start: %s", error->message);
  if (with_runner)
    {
      b->keep_evaluating = TRUE;
      queue_eval (b);
    }
  g_main_loop_run (b->loop);
  return b->train_images_per_s;
}

int
main (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("bt-bench-gate-XXXXXX", &error);
  g_autofree char *model_path = NULL;
  g_autoptr(BtProject) project = NULL;
  g_autoptr(BtNet) net = NULL;
  const char *names[] = { "circle", "square", "triangle", "star", NULL };
  BtProjectSettings s = { 0 };
  Bench b = { 0 };
  guint per_class = 200;
  int epochs = 3;
  double alone, together, together_eval, eval_alone;

  for (int i = 1; i + 1 < argc; i++)
    {
      int v = atoi (argv[i + 1]);

      if (g_str_equal (argv[i], "--per-class"))
        per_class = CLAMP (v, 10, 5000), i++;
      else if (g_str_equal (argv[i], "--epochs"))
        epochs = CLAMP (v, 1, 100), i++;
    }
  if (dir == NULL)
    g_error ("%s", error->message);
  project = bt_sample_create_shapes (dir, per_class, 32, 9, NULL, &error);
  if (project == NULL)
    g_error ("%s", error->message);
  bt_project_settings_copy (&s, bt_project_get_settings (project));
  g_free (s.preset);
  s.preset = g_strdup ("small-cnn");
  s.width = s.height = 32;
  s.channels = 3;
  s.epochs = epochs;
  s.batch_size = 32;
  s.early_stopping_patience = 0;
  if (!bt_project_update_settings (project, &s, &error))
    g_error ("%s", error->message);
  bt_project_settings_clear (&s);

  net = bt_net_new_preset (BT_PRESET_SMALL_CNN, 32, 32, 3, 4, -1, 1, NULL);
  model_path = g_build_filename (dir, "bench.bottega-model", NULL);
  if (!bt_model_save (model_path, net, names, NULL, NULL, NULL, NULL, &error))
    g_error ("%s", error->message);
  b.model = bt_model_load (model_path, &error);
  b.project = project;
  b.loop = g_main_loop_new (NULL, FALSE);

  alone = train (project, &b, FALSE);
  together = train (project, &b, TRUE);
  together_eval = b.eval_seconds > 0 ? b.eval_images / b.eval_seconds : 0;
  {
    /* the runner alone, about as long */
    gint64 t0 = g_get_monotonic_time ();
    b.eval_images = 0;
    b.eval_seconds = 0;
    while ((g_get_monotonic_time () - t0) < 5 * G_USEC_PER_SEC)
      {
        g_autoptr(BtEvaluation) ev = bt_evaluate_project (b.model, project, BT_SPLIT_TRAIN, NULL, NULL);
        b.eval_images += ev ? ev->n : 0;
      }
    eval_alone = b.eval_images / ((g_get_monotonic_time () - t0) / 1e6);
  }

  g_print ("Small CNN 32x32 RGB, %u images per class, %d epochs, batch 32, %d cores\n",
           per_class, epochs, (int) g_get_num_processors ());
  g_print ("training alone:                   %8.0f images/s (last epoch)\n", alone);
  g_print ("training while the runner evaluates: %5.0f images/s (last epoch)\n", together);
  g_print ("runner evaluating during training: %6.0f images/s\n", together_eval);
  g_print ("runner evaluating alone:           %6.0f images/s\n", eval_alone);

  bt_model_free (b.model);
  g_main_loop_unref (b.loop);
  g_clear_object (&project);
  rm_rf (dir);
  return 0;
}
