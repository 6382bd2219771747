/* bt-live-test.c: the Test page's live camera mode (bt-live-test.h). */
#include "config.h"

#include <glib/gi18n.h>
#include <math.h>

#include "bt-camera.h"
#include "bt-live-test.h"
#include "training/bt-model-runner.h"
#include "training/bt-training.h"

struct _BtLiveTest
{
  GObject            parent_instance;

  GtkPicture        *picture;     /* borrowed */
  BtProbabilityBars *bars;
  GtkLabel          *verdict, *status;
  GtkButton         *button;

  BtCamera          *camera;
  BtSharedModel     *model;
  GCancellable      *cancellable; /* the search for the camera and the jobs of this run */
  gulong             frame_id, error_id;
  gboolean           busy;        /* a frame is being classified */
  guint              n_updates;
  gint64             rate_start;  /* monotonic µs; updates counted since */
  guint              rate_count;
};

G_DEFINE_FINAL_TYPE (BtLiveTest, bt_live_test, G_TYPE_OBJECT)

static void
set_button (BtLiveTest *self, gboolean running)
{
  gtk_button_set_label (self->button, running ? _("Stop _Camera") : _("Live _Camera"));
}

/* ---- One frame on the model runner ---- */

typedef struct {
  GWeakRef       live;
  BtSharedModel *model;
  GBytes        *frame;
  int            width, height;
  float         *probs;
  guint          n_classes;
  gboolean       unknown;
  double         unknown_score;
  double         below;          /* the likeliest class's saved threshold when under it, else NAN */
  char          *error;
} LiveJob;

static void
live_job_free (LiveJob *job)
{
  g_weak_ref_clear (&job->live);
  bt_shared_model_unref (job->model);
  g_bytes_unref (job->frame);
  g_free (job->probs);
  g_free (job->error);
  g_free (job);
}

static void
live_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  LiveJob *job = task_data;
  /* the frame's packed RGB as an image, without a copy (the model resizes it its own way) */
  BtImage image = { job->width, job->height, 3, (guint8 *) g_bytes_get_data (job->frame, NULL) };
  g_autoptr(GError) error = NULL;
  BtModel *model = bt_shared_model_lock (job->model);

  job->n_classes = bt_net_n_classes (model->net);
  job->probs = bt_predict_image_scored (model, &image, &job->unknown_score, &error);
  job->unknown = job->probs != NULL && bt_calibration_is_unknown (&model->calib, job->unknown_score);
  job->below = NAN;
  if (job->probs != NULL)
    {
      int top = 0;
      if (bt_model_answer (model, job->probs, job->unknown_score, &top) == BT_ANSWER_BELOW_THRESHOLD)
        job->below = bt_model_get_threshold (model, top);
    }
  bt_shared_model_unlock (job->model);
  if (job->probs == NULL)
    job->error = g_strdup (error ? error->message : _("Unknown error"));
  g_task_return_boolean (task, TRUE);
}

static void
show_answer (BtLiveTest *self, LiveJob *job)
{
  const char * const *names = bt_shared_model_get_class_names (job->model);
  g_autofree char *verdict = NULL;
  gint64 now = g_get_monotonic_time ();
  guint top = 0;

  for (guint k = 1; k < job->n_classes; k++)
    if (job->probs[k] > job->probs[top])
      top = k;
  bt_probability_bars_set_data (self->bars, job->n_classes, names, job->probs);
  if (job->unknown)
    verdict = g_strdup_printf (_("Not one of your classes (unknown score %.2f)"), job->unknown_score);
  else if (!isnan (job->below))
    verdict = g_strdup_printf (_("%s (%.1f%%) is below its saved threshold of %.0f%%: not accepted"),
                               names[top], 100.0 * job->probs[top], 100.0 * job->below);
  else
    verdict = g_strdup_printf (_("%s (%.1f%%)"), names[top], 100.0 * job->probs[top]);
  gtk_label_set_text (self->verdict, verdict);
  self->n_updates++;
  self->rate_count++;
  if (now - self->rate_start >= G_USEC_PER_SEC)
    {
      /* TRANSLATORS: the Test page's status in live mode */
      g_autofree char *text = g_strdup_printf (_("Live: %.1f answers a second"),
                                               self->rate_count * (double) G_USEC_PER_SEC / (now - self->rate_start));
      gtk_label_set_text (self->status, text);
      self->rate_start = now;
      self->rate_count = 0;
    }
}

static void
live_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  LiveJob *job = g_task_get_task_data (G_TASK (result));
  g_autoptr(BtLiveTest) self = g_weak_ref_get (&job->live);

  if (self == NULL || g_task_had_error (G_TASK (result)) || self->model != job->model)
    return;
  self->busy = FALSE;
  if (job->error != NULL)
    {
      gtk_label_set_text (self->status, job->error);
      bt_live_test_stop (self);
      return;
    }
  show_answer (self, job);
}

static void
frame_cb (BtCamera *camera, GdkTexture *texture, BtLiveTest *self)
{
  g_autoptr(GTask) task = NULL;
  LiveJob *job;

  gtk_picture_set_paintable (self->picture, GDK_PAINTABLE (texture));
  if (self->busy || self->model == NULL)
    return;   /* the newest frame goes next, when the answer for this one is back */
  job = g_new0 (LiveJob, 1);
  job->frame = bt_camera_dup_frame (camera, &job->width, &job->height);
  if (job->frame == NULL)
    {
      g_free (job);
      return;
    }
  g_weak_ref_init (&job->live, self);
  job->model = bt_shared_model_ref (self->model);
  self->busy = TRUE;
  task = g_task_new (NULL, self->cancellable, live_done_cb, NULL);
  g_task_set_task_data (task, job, (GDestroyNotify) live_job_free);
  bt_model_runner_run_in_thread (bt_model_runner_get_default (), task, live_thread);
}

static void
camera_error_cb (BtCamera *camera, const char *message, BtLiveTest *self)
{
  g_autofree char *text = g_strdup_printf (_("The camera stopped: %s"), message);

  bt_live_test_stop (self);
  gtk_label_set_text (self->status, text);
}

/* ---- Starting and stopping ---- */

static void
camera_found_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(BtLiveTest) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(BtCamera) camera = bt_camera_find_finish (result, &error);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) || self->model == NULL)
    return;
  gtk_widget_set_sensitive (GTK_WIDGET (self->button), TRUE);
  if (camera == NULL || !bt_camera_start (camera, &error))
    {
      /* no camera: the button says so, the status line says why */
      gtk_button_set_label (self->button, _("No Camera"));
      gtk_widget_set_tooltip_text (GTK_WIDGET (self->button), error->message);
      gtk_label_set_text (self->status, error->message);
      g_clear_pointer (&self->model, bt_shared_model_unref);
      return;
    }
  self->camera = g_steal_pointer (&camera);
  self->frame_id = g_signal_connect (self->camera, "frame", G_CALLBACK (frame_cb), self);
  self->error_id = g_signal_connect (self->camera, "error", G_CALLBACK (camera_error_cb), self);
  self->rate_start = g_get_monotonic_time ();
  self->rate_count = 0;
  gtk_label_set_text (self->status, _("Live: classifying what the camera sees…"));
  set_button (self, TRUE);
}

void
bt_live_test_toggle (BtLiveTest *self, BtSharedModel *model)
{
  g_return_if_fail (BT_IS_LIVE_TEST (self));

  if (bt_live_test_is_running (self))
    {
      bt_live_test_stop (self);
      gtk_label_set_text (self->status, _("Live mode stopped."));
      return;
    }
  if (model == NULL)
    return;
  self->model = bt_shared_model_ref (model);
  self->cancellable = g_cancellable_new ();
  self->n_updates = 0;
  gtk_widget_set_sensitive (GTK_WIDGET (self->button), FALSE);
  gtk_label_set_text (self->status, _("Looking for a camera…"));
  bt_camera_find_async (self->cancellable, camera_found_cb, g_object_ref (self));
}

void
bt_live_test_stop (BtLiveTest *self)
{
  g_return_if_fail (BT_IS_LIVE_TEST (self));

  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  if (self->camera != NULL)
    {
      g_clear_signal_handler (&self->frame_id, self->camera);
      g_clear_signal_handler (&self->error_id, self->camera);
      bt_camera_stop (self->camera);
      g_clear_object (&self->camera);
      set_button (self, FALSE);
    }
  gtk_widget_set_sensitive (GTK_WIDGET (self->button), TRUE);
  g_clear_pointer (&self->model, bt_shared_model_unref);
  self->busy = FALSE;
}

gboolean
bt_live_test_is_running (BtLiveTest *self)
{
  g_return_val_if_fail (BT_IS_LIVE_TEST (self), FALSE);
  return self->model != NULL;
}

guint
bt_live_test_get_n_updates (BtLiveTest *self)
{
  g_return_val_if_fail (BT_IS_LIVE_TEST (self), 0);
  return self->n_updates;
}

BtLiveTest *
bt_live_test_new (GtkPicture *picture, BtProbabilityBars *bars, GtkLabel *verdict, GtkLabel *status,
                  GtkButton *button)
{
  BtLiveTest *self = g_object_new (BT_TYPE_LIVE_TEST, NULL);

  self->picture = picture;
  self->bars = bars;
  self->verdict = verdict;
  self->status = status;
  self->button = button;
  return self;
}

static void
bt_live_test_dispose (GObject *object)
{
  BtLiveTest *self = BT_LIVE_TEST (object);

  if (self->camera != NULL || self->cancellable != NULL)
    {
      g_cancellable_cancel (self->cancellable);
      g_clear_object (&self->cancellable);
      if (self->camera != NULL)
        {
          g_clear_signal_handler (&self->frame_id, self->camera);
          g_clear_signal_handler (&self->error_id, self->camera);
          g_clear_object (&self->camera);   /* stops it */
        }
    }
  g_clear_pointer (&self->model, bt_shared_model_unref);
  G_OBJECT_CLASS (bt_live_test_parent_class)->dispose (object);
}

static void
bt_live_test_class_init (BtLiveTestClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = bt_live_test_dispose;
}

static void
bt_live_test_init (BtLiveTest *self)
{
}
