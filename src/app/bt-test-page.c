/* bt-test-page.c: the Test page — classify dropped, opened, pasted images or a whole folder
 * with a saved model, showing the probability of every class. */
#include "config.h"

#include <glib/gi18n.h>
#include <errno.h>
#include <math.h>
#include <string.h>

#include "bt-backbone-offer.h"
#include "bt-explain-view.h"
#include "bt-test-page.h"
#include "bt-dialogs.h"
#include "bt-export-actions.h"
#include "bt-serve-window.h"
#include "bt-model-files.h"
#include "bt-live-test.h"
#include "bt-model-list.h"
#include "bt-photo-intake.h"
#include "dataset/bt-image-list.h"
#include "dataset/bt-undo.h"
#include "training/bt-predict-batch.h"
#include "training/bt-tflite-classifier.h"
#include "training/bt-model-runner.h"
#include "training/bt-training.h"

#define PREVIEW_MAX 480
#define MAX_FOLDER_IMAGES 100000
#define MAX_ROWS 1000   /* a list row per image up to here; the CSV export holds them all */

typedef struct {
  char    *path;        /* NULL for a pasted image */
  char    *display;
  char    *error;       /* why it could not be classified, or NULL */
  float   *probs;
  guint    n_classes;
  int      top;
  char    *added_to;    /* the class it was added to with "Correct It", or NULL */
  double   unknown_score;    /* higher = more unknown */
  gboolean unknown;          /* above the model's threshold: "not one of your classes" */
  double   below;            /* top's saved threshold when its probability is under it (not accepted), else NAN */
  BtImage *image;            /* a pasted image, kept for its explanation; NULL for files */
} Result;

static void
result_free (Result *r)
{
  if (r == NULL)
    return;   /* stolen into the page */
  g_free (r->path);
  g_free (r->display);
  g_free (r->error);
  g_free (r->probs);
  g_free (r->added_to);
  g_clear_pointer (&r->image, bt_image_free);
  g_free (r);
}

struct _BtTestPage
{
  GtkWidget parent_instance;

  /* Template widgets */
  GtkDropDown       *model_dropdown;
  GtkStringList     *model_names;
  GtkLabel          *status_label;
  GtkStack          *result_stack;
  GtkPicture        *picture;
  GtkLabel          *verdict_label;
  BtProbabilityBars *bars;
  GtkListBox        *results_list;
  GtkLabel          *folder_summary;
  GtkMenuButton     *correct_button;
  GtkLabel          *correct_label;
  BtHeatOverlay     *heat_overlay;
  BtExplainBar      *explain_bar;
  GtkButton         *live_button;

  /* Owned */
  BtProject         *project;
  GPtrArray         *model_paths;    /* char*, parallel with model_names */
  BtSharedModel     *model;
  BtTfliteClassifier *tflite;        /* a .tflite file opened instead of a model (then model is NULL) */
  GCancellable      *cancellable;    /* model load and classification jobs */
  GCancellable      *list_cancellable;
  GCancellable      *preview_cancellable;
  GPtrArray         *results;        /* Result* */
  int                shown;          /* index of the result on show, or -1 */
  char              *opened_path;    /* a model file opened from elsewhere (Open Model File…) */
  guint              generation;     /* bumped when the model changes: old jobs are dropped */
  guint              list_generation;   /* bumped by every listing: only the newest one counts */
  guint              n_listing;      /* listings in flight (older ones are dropped on arrival) */
  guint              n_loading;      /* model loads in flight */
  guint              progress_source;
  gint               progress_done;  /* atomic, written by the worker */
  gint               progress_total;
  GtkWidget         *backbone_offer; /* borrowed: the model's missing backbone, offered for download */
  BtLiveTest        *live;           /* the live camera mode (bt-live-test.c) */
};

G_DEFINE_FINAL_TYPE (BtTestPage, bt_test_page, GTK_TYPE_WIDGET)

enum { MODEL_READY, RESULTS_CHANGED, N_SIGNALS };
static guint signals[N_SIGNALS];

/* The open model's class names: a Bottega model's or the opened .tflite file's. */
static const char * const *
class_names (BtTestPage *self)
{
  if (self->model != NULL)
    return bt_shared_model_get_class_names (self->model);
  return self->tflite != NULL ? (const char * const *) self->tflite->class_names : NULL;
}

static gboolean
is_ready (BtTestPage *self)
{
  return self->model != NULL || self->tflite != NULL;
}

static void
update_actions (BtTestPage *self)
{
  gboolean ready = is_ready (self);
  gboolean ours = self->model != NULL;   /* live, export and serve take a Bottega model */

  gtk_widget_action_set_enabled (GTK_WIDGET (self), "test.open", ready);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "test.paste", ready);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "test.live",
                                 ours || (self->live != NULL && bt_live_test_is_running (self->live)));
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "test.folder", ready);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "test.export-csv", self->results->len > 0);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "test.open-model", TRUE);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "test.export-onnx", ours);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "test.export-tflite", ours);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "test.export-tflite-int8", ours && self->project != NULL);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "test.serve", ours);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "test.export-pytorch", self->project != NULL);
}

/* ---- Showing one result ---- */

typedef struct {
  GWeakRef  page;
  char     *path;
} PreviewJob;

static void
preview_job_free (PreviewJob *job)
{
  g_weak_ref_clear (&job->page);
  g_free (job->path);
  g_free (job);
}

/* A texture of img at most PREVIEW_MAX a side (workers: it resizes). */
static GdkTexture *
preview_texture (const BtImage *img)
{
  g_autoptr(BtImage) small = NULL;
  const BtImage *shown = img;
  GBytes *bytes;
  GdkTexture *texture;
  int w, h;

  if (img->width > PREVIEW_MAX || img->height > PREVIEW_MAX)
    {
      double s = (double) PREVIEW_MAX / MAX (img->width, img->height);
      w = MAX (1, (int) round (img->width * s));
      h = MAX (1, (int) round (img->height * s));
      small = bt_image_resize (img, w, h, BT_DS_RESIZE_SQUASH);
      if (small)
        shown = small;
    }
  bytes = g_bytes_new (shown->pixels, (gsize) shown->width * shown->height * 3);
  texture = gdk_memory_texture_new (shown->width, shown->height, GDK_MEMORY_R8G8B8, bytes, shown->width * 3);
  g_bytes_unref (bytes);
  return texture;
}

static void
preview_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  PreviewJob *job = task_data;
  g_autoptr(BtImage) img = NULL;
  GError *error = NULL;
  gboolean was = bt_image_set_thread_foreground (TRUE);   /* someone is looking at the page */

  img = bt_image_decode_file_sized (job->path, 3, PREVIEW_MAX, PREVIEW_MAX, NULL, cancellable, NULL, &error);
  bt_image_set_thread_foreground (was);
  if (img == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  g_task_return_pointer (task, preview_texture (img), g_object_unref);
}

static void
preview_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  PreviewJob *job = g_task_get_task_data (G_TASK (result));
  g_autoptr(BtTestPage) self = g_weak_ref_get (&job->page);
  g_autoptr(GdkTexture) texture = g_task_propagate_pointer (G_TASK (result), NULL);

  if (self == NULL || g_task_had_error (G_TASK (result)) || texture == NULL)
    return;
  gtk_picture_set_paintable (self->picture, GDK_PAINTABLE (texture));
}

/* "Correct It" offers the project's classes for an image file that was classified. */
static void
update_correct (BtTestPage *self, Result *r)
{
  g_autoptr(GMenu) menu = g_menu_new ();
  GListModel *classes = self->project ? bt_project_get_classes (self->project) : NULL;
  guint n = classes ? g_list_model_get_n_items (classes) : 0;
  gboolean can = r != NULL && r->path != NULL && r->added_to == NULL && n > 0;

  for (guint i = 0; i < n; i++)
    {
      g_autoptr(BtClassInfo) info = g_list_model_get_item (classes, i);
      g_autoptr(GMenuItem) item = g_menu_item_new (bt_class_info_get_name (info), NULL);

      g_menu_item_set_action_and_target_value (item, "test.correct",
                                               g_variant_new_string (bt_class_info_get_name (info)));
      g_menu_append_item (menu, item);
    }
  gtk_menu_button_set_menu_model (self->correct_button, G_MENU_MODEL (menu));
  gtk_widget_set_visible (GTK_WIDGET (self->correct_button), can);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "test.correct", can);
  if (r != NULL && r->added_to != NULL)
    {
      g_autofree char *text = g_strdup_printf (_("Added to “%s”: train again to learn from it."), r->added_to);
      gtk_label_set_text (self->correct_label, text);
    }
  else
    gtk_label_set_text (self->correct_label, "");
}

static void
show_result (BtTestPage *self, Result *r, GdkTexture *texture)
{
  g_autofree char *verdict = NULL;

  gtk_stack_set_visible_child_name (self->result_stack, "result");
  if (r->error)
    {
      verdict = g_strdup_printf (_("%s could not be classified: %s"), r->display, r->error);
      bt_probability_bars_set_data (self->bars, 0, NULL, NULL);
    }
  else
    {
      const char * const *names = class_names (self);
      if (r->unknown)
        /* Translators: the verdict on the Test page for an image unlike the training images;
         * the bars below still show every class's probability. E.g. "… (unknown score -3.20)" */
        verdict = g_strdup_printf (_("Not one of your classes (unknown score %.2f)"), r->unknown_score);
      else if (!isnan (r->below))
        /* Translators: the verdict when the likeliest class is under the threshold saved on the
         * Evaluate page, e.g. "square (62.5%) is below its saved threshold of 80%: not accepted" */
        verdict = g_strdup_printf (_("%s (%.1f%%) is below its saved threshold of %.0f%%: not accepted"),
                                   names[r->top], 100.0 * r->probs[r->top], 100.0 * r->below);
      else
        /* Translators: the verdict on the Test page, e.g. "square (92.5%)" */
        verdict = g_strdup_printf (_("%s (%.1f%%)"), names[r->top], 100.0 * r->probs[r->top]);
      bt_probability_bars_set_data (self->bars, r->n_classes, names, r->probs);
    }
  gtk_label_set_text (self->verdict_label, verdict);
  self->shown = -1;
  for (guint i = 0; i < self->results->len; i++)
    if (self->results->pdata[i] == r)
      self->shown = (int) i;
  update_correct (self, r);
  bt_explain_bar_set_subject (self->explain_bar, r->error ? NULL : self->model, r->path, r->image, r->top);

  g_cancellable_cancel (self->preview_cancellable);
  g_clear_object (&self->preview_cancellable);
  gtk_picture_set_paintable (self->picture, texture ? GDK_PAINTABLE (texture) : NULL);
  if (texture == NULL && r->path != NULL)
    {
      PreviewJob *job = g_new0 (PreviewJob, 1);
      g_autoptr(GTask) task = NULL;

      self->preview_cancellable = g_cancellable_new ();
      g_weak_ref_init (&job->page, self);
      job->path = g_strdup (r->path);
      task = g_task_new (NULL, self->preview_cancellable, preview_done_cb, NULL);
      g_task_set_task_data (task, job, (GDestroyNotify) preview_job_free);
      g_task_run_in_thread (task, preview_thread);
    }
}

static GtkWidget *
make_row (BtTestPage *self, Result *r)
{
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 2);
  GtkWidget *name = gtk_label_new (r->display);
  GtkWidget *detail;
  g_autofree char *text = NULL;

  if (r->error)
    text = g_strdup (r->error);
  else if (r->added_to != NULL)
    /* TRANSLATORS: a result corrected with "Correct It": answer · confidence · the class it was added to */
    text = g_strdup_printf (_("%s · %.1f%% · added to “%s”"), class_names (self)[r->top],
                            100.0 * r->probs[r->top], r->added_to);
  else if (r->unknown)
    /* Translators: a row of the Test page's list: closest class, its probability */
    text = g_strdup_printf (_("Not one of your classes · %s %.1f%%"),
                            class_names (self)[r->top], 100.0 * r->probs[r->top]);
  else if (!isnan (r->below))
    /* Translators: a row of the Test page's list: the class under its saved threshold, its probability */
    text = g_strdup_printf (_("Not accepted · %s %.1f%% (below %.0f%%)"),
                            class_names (self)[r->top], 100.0 * r->probs[r->top], 100.0 * r->below);
  else
    text = g_strdup_printf ("%s · %.1f%%", class_names (self)[r->top],
                            100.0 * r->probs[r->top]);
  detail = gtk_label_new (text);
  gtk_label_set_xalign (GTK_LABEL (name), 0);
  gtk_label_set_ellipsize (GTK_LABEL (name), PANGO_ELLIPSIZE_MIDDLE);
  gtk_label_set_xalign (GTK_LABEL (detail), 0);
  gtk_label_set_ellipsize (GTK_LABEL (detail), PANGO_ELLIPSIZE_END);
  gtk_widget_add_css_class (detail, "dim-label");
  gtk_box_append (GTK_BOX (box), name);
  gtk_box_append (GTK_BOX (box), detail);
  gtk_widget_set_margin_start (box, 8);
  gtk_widget_set_margin_end (box, 8);
  gtk_widget_set_margin_top (box, 4);
  gtk_widget_set_margin_bottom (box, 4);
  return box;
}

static void
clear_results (BtTestPage *self)
{
  GtkWidget *child;

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->results_list))) != NULL)
    {
      if (GTK_IS_LIST_BOX_ROW (child))
        gtk_list_box_remove (self->results_list, child);
      else
        break;
    }
  g_ptr_array_set_size (self->results, 0);
  gtk_stack_set_visible_child_name (self->result_stack, "empty");
}

static void
row_selected_cb (BtTestPage *self, GtkListBoxRow *row)
{
  int i;

  if (row == NULL)
    return;
  i = gtk_list_box_row_get_index (row);
  if (i >= 0 && (guint) i < self->results->len)
    show_result (self, self->results->pdata[i], NULL);
}

/* ---- Classification jobs ---- */

typedef struct {
  GWeakRef       page;
  guint          generation;
  BtSharedModel *model;
  BtTfliteClassifier *tflite; /* instead of model */
  GPtrArray     *paths;       /* char*; NULL for a pasted image */
  char          *folder;      /* walk this folder instead of paths */
  GBytes        *pasted;      /* an image's bytes (clipboard, web), decoded on the worker */
  char          *pasted_name;
  gint          *done, *total;   /* progress counters in the page (valid while it lives) */
  GPtrArray     *results;     /* Result* */
  GdkTexture    *texture;     /* shown for a pasted image */
} ClassifyJob;

static void
classify_job_free (ClassifyJob *job)
{
  g_weak_ref_clear (&job->page);
  g_clear_pointer (&job->model, bt_shared_model_unref);
  g_clear_pointer (&job->tflite, bt_tflite_classifier_unref);
  g_clear_pointer (&job->paths, g_ptr_array_unref);
  g_free (job->folder);
  g_clear_pointer (&job->pasted, g_bytes_unref);
  g_free (job->pasted_name);
  g_clear_pointer (&job->results, g_ptr_array_unref);
  g_clear_object (&job->texture);
  g_free (job);
}

static Result *
result_new (const char *path, const char *pasted_name)
{
  Result *r = g_new0 (Result, 1);

  r->path = g_strdup (path);
  if (path)
    {
      g_autofree char *base = g_path_get_basename (path);
      r->display = g_filename_display_name (base);
    }
  else
    r->display = g_strdup (pasted_name ? pasted_name : _("Pasted image"));
  r->unknown_score = NAN;
  r->below = NAN;
  return r;
}

/* Takes probs (n_classes of them; NULL: failed, with error). */
static Result *
result_take (Result *r, guint n_classes, float *probs, const GError *error, const BtImage *image)
{
  r->n_classes = n_classes;
  r->probs = probs;
  if (r->probs == NULL)
    r->error = g_strdup (error ? error->message : _("Unknown error"));
  else
    {
      for (guint k = 1; k < r->n_classes; k++)
        if (r->probs[k] > r->probs[r->top])
          r->top = k;
    }
  if (r->probs != NULL && image != NULL)
    r->image = bt_image_copy (image);   /* for its explanation */
  return r;
}

/* The same for a Bottega model (its unknown score); called with the model locked. */
static Result *
result_finish (Result *r, BtModel *model, float *probs, double unknown_score, const GError *error,
               const BtImage *image)
{
  r->unknown_score = unknown_score;
  r->unknown = probs != NULL && bt_calibration_is_unknown (&model->calib, unknown_score);
  result_take (r, bt_net_n_classes (model->net), probs, error, image);
  if (r->probs != NULL && bt_model_answer (model, r->probs, r->unknown_score, NULL) == BT_ANSWER_BELOW_THRESHOLD)
    r->below = bt_model_get_threshold (model, r->top);
  return r;
}

/* The same for a .tflite file: its own thresholds entry decides, by the model's rule. */
static Result *
result_finish_tflite (Result *r, BtTfliteClassifier *c, float *probs, double unknown_score, const GError *error,
                      const BtImage *image)
{
  int top = 0;
  BtAnswer answer = probs != NULL ? bt_tflite_classifier_answer (c, probs, unknown_score, &top) : BT_ANSWER_CLASS;

  r->unknown_score = unknown_score;
  r->unknown = answer == BT_ANSWER_UNKNOWN;
  result_take (r, c->n_classes, probs, error, image);
  if (answer == BT_ANSWER_BELOW_THRESHOLD)
    r->below = c->class_thresholds[top];
  return r;
}

static Result *
classify_one (ClassifyJob *job, const BtImage *image)
{
  Result *r = result_new (NULL, job->pasted_name);
  g_autoptr(GError) error = NULL;
  BtModel *model;
  double score = NAN;
  float *probs;

  if (job->tflite != NULL)
    {
      probs = bt_tflite_classifier_predict_image (job->tflite, image, &score, &error);
      return result_finish_tflite (r, job->tflite, probs, score, error, image);
    }
  model = bt_shared_model_lock (job->model);
  probs = bt_predict_image_scored (model, image, &score, &error);
  result_finish (r, model, probs, score, error, image);
  bt_shared_model_unlock (job->model);
  return r;
}

/* Files in batches: decoding and the backbone on every core (bt_predict_files), the model
 * locked for one small batch at a time (the main thread may wait for it). */
#define CLASSIFY_BATCH 8

static void
classify_files (ClassifyJob *job, GCancellable *cancellable)
{
  for (guint i = 0; job->tflite != NULL && i < job->paths->len && !g_cancellable_is_cancelled (cancellable); i++)
    {
      g_autoptr(GError) error = NULL;
      double score = NAN;
      float *probs = bt_tflite_classifier_predict_file (job->tflite, job->paths->pdata[i], &score, cancellable,
                                                        &error);
      g_ptr_array_add (job->results, result_finish_tflite (result_new (job->paths->pdata[i], NULL), job->tflite,
                                                           probs, score, error, NULL));
      g_atomic_int_inc (job->done);
    }
  for (guint start = 0; job->model != NULL && start < job->paths->len; start += CLASSIFY_BATCH)
    {
      guint n = MIN (CLASSIFY_BATCH, job->paths->len - start);
      const char * const *paths = (const char * const *) job->paths->pdata + start;
      BtModel *model;
      BtPrediction *res;

      if (g_cancellable_is_cancelled (cancellable))
        break;
      model = bt_shared_model_lock (job->model);
      res = bt_predict_files (model, paths, n, 0, NULL, NULL, cancellable);
      for (guint i = 0; i < n; i++)
        if (!g_error_matches (res[i].error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
          g_ptr_array_add (job->results, result_finish (result_new (paths[i], NULL), model,
                                                        g_steal_pointer (&res[i].probs),
                                                        res[i].unknown_score, res[i].error, NULL));
      bt_shared_model_unlock (job->model);
      bt_predictions_free (res, n);
      g_atomic_int_add (job->done, (int) n);
    }
}

/* Bytes from the clipboard or the web, through the one decode function (at twice the preview). */
static Result *
classify_pasted (ClassifyJob *job)
{
  g_autoptr(GError) error = NULL;
  gsize len;
  const guint8 *data = g_bytes_get_data (job->pasted, &len);
  g_autoptr(BtImage) img = bt_image_decode (data, len, 3, 2 * PREVIEW_MAX, 2 * PREVIEW_MAX, NULL, NULL, &error);
  Result *r;

  if (img == NULL)
    {
      r = g_new0 (Result, 1);
      r->display = g_strdup (job->pasted_name ? job->pasted_name : _("Pasted image"));
      r->error = g_strdup (error->message);
      return r;
    }
  job->texture = preview_texture (img);
  return classify_one (job, img);
}

static void
classify_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  ClassifyJob *job = task_data;
  /* a photo given to the Test page is awaited: its decodes go ahead of a training run's (a
   * folder's too, one batch at a time) */
  gboolean was = bt_image_set_thread_foreground (TRUE);

  if (job->folder)
    {
      g_autoptr(GPtrArray) found = bt_image_list_walk (job->folder, MAX_FOLDER_IMAGES, cancellable, NULL);
      for (guint i = 0; found != NULL && i < found->len; i++)
        g_ptr_array_add (job->paths, g_steal_pointer (&found->pdata[i]));
    }
  g_atomic_int_set (job->total, job->pasted ? 1 : job->paths->len);
  g_atomic_int_set (job->done, 0);

  if (job->pasted)
    g_ptr_array_add (job->results, classify_pasted (job));
  classify_files (job, cancellable);
  bt_image_set_thread_foreground (was);
  g_task_return_boolean (task, TRUE);
}

static gboolean
progress_cb (gpointer data)
{
  BtTestPage *self = data;
  int done = g_atomic_int_get (&self->progress_done), total = g_atomic_int_get (&self->progress_total);
  g_autofree char *text = NULL;

  if (total > 0)
    {
      text = g_strdup_printf (_("Classified %d of %d images…"), done, total);
      gtk_label_set_text (self->status_label, text);
    }
  return G_SOURCE_CONTINUE;
}

/* After a folder: how many images went to each class, how sure the model was on average,
 * and, when the images sit in folders named like the classes, how often it was right. */
static char *
folder_summary (BtTestPage *self, guint first)
{
  const char * const *names = class_names (self);
  guint n_classes = g_strv_length ((char **) names);
  g_autofree guint *counts = g_new0 (guint, MAX (n_classes, 1));
  GString *s = g_string_new (NULL);
  double confidence = 0;
  guint n = 0, labelled = 0, correct = 0;

  for (guint i = first; i < self->results->len; i++)
    {
      Result *r = self->results->pdata[i];
      g_autofree char *parent = NULL;
      g_autofree char *parent_name = NULL;

      if (r->probs == NULL || r->path == NULL)
        continue;
      n++;
      counts[r->top]++;
      confidence += r->probs[r->top];
      parent = g_path_get_dirname (r->path);
      parent_name = g_path_get_basename (parent);
      for (guint k = 0; k < n_classes; k++)
        if (g_utf8_collate (parent_name, names[k]) == 0 || g_ascii_strcasecmp (parent_name, names[k]) == 0)
          {
            labelled++;
            correct += (guint) r->top == k;
            break;
          }
    }
  if (n == 0)
    {
      g_string_free (s, TRUE);
      return NULL;
    }
  for (guint k = 0; k < n_classes; k++)
    {
      if (counts[k] == 0)
        continue;
      if (s->len > 0)
        g_string_append (s, " · ");
      /* TRANSLATORS: in the folder summary: a class and how many images the model put in it */
      g_string_append_printf (s, _("%s %u"), names[k], counts[k]);
    }
  /* TRANSLATORS: the folder summary: counts per class, then the mean confidence */
  g_string_append_printf (s, _(" · mean confidence %.0f%%"), 100.0 * confidence / n);
  if (labelled == n)
    {
      g_string_append_c (s, '\n');
      g_string_append_printf (s, g_dngettext (GETTEXT_PACKAGE,
                                              "The folders are named like the classes: %u of %u image right (%.0f%%).",
                                              "The folders are named like the classes: %u of %u images right (%.0f%%).",
                                              n),
                              correct, n, 100.0 * correct / n);
    }
  return g_string_free (s, FALSE);
}

static char *tflite_note (BtTestPage *self);

static void
classify_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  ClassifyJob *job = g_task_get_task_data (G_TASK (result));
  g_autoptr(BtTestPage) self = g_weak_ref_get (&job->page);
  guint first;
  g_autofree char *text = NULL;

  if (self == NULL)
    return;
  g_clear_handle_id (&self->progress_source, g_source_remove);
  if (job->generation != self->generation || !is_ready (self))
    return;   /* the model changed meanwhile: these probabilities belong to another model */

  first = self->results->len;
  for (guint i = 0; i < job->results->len; i++)
    {
      Result *r = g_steal_pointer (&job->results->pdata[i]);
      g_ptr_array_add (self->results, r);
      if (self->results->len <= MAX_ROWS)
        gtk_list_box_append (self->results_list, make_row (self, r));
    }
  g_ptr_array_set_size (job->results, 0);
  if (self->results->len > first)
    {
      GtkListBoxRow *row = gtk_list_box_get_row_at_index (self->results_list, first);
      show_result (self, self->results->pdata[first], job->texture);
      g_signal_handlers_block_by_func (self->results_list, row_selected_cb, self);
      gtk_list_box_select_row (self->results_list, row);
      g_signal_handlers_unblock_by_func (self->results_list, row_selected_cb, self);
    }
  text = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%u image classified.", "%u images classified.",
                                       self->results->len - first), self->results->len - first);
  if (self->results->len > MAX_ROWS)
    {
      char *t = g_strdup_printf (_("%s The list shows the first %u; export the CSV for all."), text, MAX_ROWS);
      g_free (text);
      text = t;
    }
  {
    g_autofree char *note = tflite_note (self);
    if (note != NULL)
      {
        char *t = g_strconcat (text, " ", note, NULL);
        g_free (text);
        text = t;
      }
  }
  gtk_label_set_text (self->status_label, text);
  if (job->folder != NULL)
    {
      g_autofree char *summary = folder_summary (self, first);
      gtk_label_set_text (self->folder_summary, summary);
      gtk_widget_set_visible (GTK_WIDGET (self->folder_summary), summary != NULL);
    }
  update_actions (self);
  g_signal_emit (self, signals[RESULTS_CHANGED], 0);
}

static void
run_job (BtTestPage *self, ClassifyJob *job)
{
  g_autoptr(GTask) task = NULL;

  g_weak_ref_init (&job->page, self);
  job->generation = self->generation;
  job->model = self->model != NULL ? bt_shared_model_ref (self->model) : NULL;
  job->tflite = self->tflite != NULL ? bt_tflite_classifier_ref (self->tflite) : NULL;
  job->results = g_ptr_array_new_with_free_func ((GDestroyNotify) result_free);
  if (job->paths == NULL)
    job->paths = g_ptr_array_new_with_free_func (g_free);
  job->done = &self->progress_done;
  job->total = &self->progress_total;
  g_atomic_int_set (&self->progress_total, 0);
  gtk_label_set_text (self->status_label, _("Classifying…"));
  if (self->progress_source == 0)
    self->progress_source = g_timeout_add (250, progress_cb, self);

  task = g_task_new (NULL, self->cancellable, classify_done_cb, NULL);
  g_task_set_task_data (task, job, (GDestroyNotify) classify_job_free);
  bt_model_runner_run_in_thread (bt_model_runner_get_default (), task, classify_thread);
}

void
bt_test_page_classify_files (BtTestPage *self, GFile * const *files, guint n)
{
  ClassifyJob *job;

  g_return_if_fail (BT_IS_TEST_PAGE (self));
  g_return_if_fail (n == 0 || files != NULL);

  if (!is_ready (self) || n == 0)
    return;
  job = g_new0 (ClassifyJob, 1);
  job->paths = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < n; i++)
    {
      char *path = g_file_get_path (files[i]);
      if (path)
        g_ptr_array_add (job->paths, path);
    }
  run_job (self, job);
}

/* ---- Models ---- */

/* An asynchronous call's page and the generation it was started in. */
typedef struct {
  BtTestPage *page;
  guint       generation;
} Pending;

static Pending *
pending_new (BtTestPage *self, guint generation)
{
  Pending *p = g_new (Pending, 1);

  p->page = g_object_ref (self);
  p->generation = generation;
  return p;
}

static void
offer_installed_cb (BtTestPage *self)
{
  gtk_label_set_text (self->status_label, _("The model’s backbone is installed: the model is ready."));
}

/* A model whose backbone is not here gets exactly that backbone offered (name and sha256 from
 * the model file); any other model takes the offer away. */
static void
offer_backbone (BtTestPage *self)
{
  const BtBackboneInfo *info = NULL;

  if (self->backbone_offer != NULL)
    {
      gtk_widget_unparent (self->backbone_offer);
      self->backbone_offer = NULL;
    }
  if (self->model == NULL || !bt_shared_model_needs_backbone (self->model, &info))
    return;
  {
    BtModel *m = bt_shared_model_lock (self->model);
    self->backbone_offer = bt_backbone_offer_new (info, m->backbone_name, m->backbone_sha256);
    bt_shared_model_unlock (self->model);
  }
  g_signal_connect_object (self->backbone_offer, "installed", G_CALLBACK (offer_installed_cb), self,
                           G_CONNECT_SWAPPED);
  {
    /* a row of its own under the toolbar that holds the status line */
    GtkWidget *bar = gtk_widget_get_parent (GTK_WIDGET (self->status_label));
    gtk_widget_set_margin_start (self->backbone_offer, 12);
    gtk_widget_set_margin_end (self->backbone_offer, 12);
    gtk_widget_set_margin_bottom (self->backbone_offer, 6);
    gtk_widget_insert_after (self->backbone_offer, gtk_widget_get_parent (bar), bar);
  }
}

GtkWidget *
bt_test_page_get_backbone_offer (BtTestPage *self)
{
  g_return_val_if_fail (BT_IS_TEST_PAGE (self), NULL);
  return self->backbone_offer;
}

static void
model_loaded_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Pending *pending = user_data;
  g_autoptr(BtTestPage) self = pending->page;
  guint generation = pending->generation;
  g_autoptr(GError) error = NULL;
  BtSharedModel *model = bt_model_files_load_finish (result, &error);

  g_free (pending);
  self->n_loading--;
  /* another model was chosen (or another project opened) meanwhile: this one is not wanted */
  if (generation != self->generation)
    {
      g_clear_pointer (&model, bt_shared_model_unref);
      return;
    }
  if (model == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) && self->project != NULL)
        {
          g_autofree char *text = g_strdup_printf (_("The model could not be loaded: %s"), error->message);
          gtk_label_set_text (self->status_label, text);
        }
      return;
    }
  g_clear_pointer (&self->model, bt_shared_model_unref);
  self->model = model;
  gtk_label_set_text (self->status_label, "");
  offer_backbone (self);
  update_actions (self);
  g_signal_emit (self, signals[MODEL_READY], 0);
}

/* ---- A .tflite file opened as it is (bt-tflite-classifier.h): read and checked on a worker ---- */

/* What the opened .tflite file lacks, said on loading and after each classification; or NULL. */
static char *
tflite_note (BtTestPage *self)
{
  if (self->tflite == NULL)
    return NULL;
  if (!self->tflite->has_names)
    return g_strdup_printf (g_dngettext (GETTEXT_PACKAGE,
                                         "This file stores no class names: its %d class is numbered.",
                                         "This file stores no class names: its %d classes are numbered.",
                                         self->tflite->n_classes), self->tflite->n_classes);
  if (!self->tflite->has_recipe)
    return g_strdup_printf (_("This file stores no preprocessing recipe: images are resized to %d×%d as they are."),
                            self->tflite->prep.width, self->tflite->prep.height);
  return NULL;
}

static void
tflite_load_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  GError *error = NULL;
  BtTfliteClassifier *c = bt_tflite_classifier_load (task_data, &error);

  if (c == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, c, (GDestroyNotify) bt_tflite_classifier_unref);
}

static void
tflite_loaded_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Pending *pending = user_data;
  g_autoptr(BtTestPage) self = pending->page;
  guint generation = pending->generation;
  g_autoptr(GError) error = NULL;
  g_autoptr(BtTfliteClassifier) c = g_task_propagate_pointer (G_TASK (result), &error);
  g_autofree char *text = NULL;

  g_free (pending);
  self->n_loading--;
  if (generation != self->generation)
    return;
  if (c == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          text = g_strdup_printf (_("This TensorFlow Lite file cannot be used: %s"), error->message);
          gtk_label_set_text (self->status_label, text);
        }
      return;
    }
  self->tflite = g_steal_pointer (&c);
  text = tflite_note (self);
  gtk_label_set_text (self->status_label, text != NULL ? text : "");
  update_actions (self);
  g_signal_emit (self, signals[MODEL_READY], 0);
}

static void
reset_jobs (BtTestPage *self)
{
  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  self->cancellable = g_cancellable_new ();
  g_clear_handle_id (&self->progress_source, g_source_remove);
  self->generation++;
  if (self->live != NULL)
    bt_live_test_stop (self->live);   /* its answers would be another model's */
}

static void
model_selected_cb (BtTestPage *self)
{
  guint i = gtk_drop_down_get_selected (self->model_dropdown);

  reset_jobs (self);
  g_clear_pointer (&self->model, bt_shared_model_unref);
  g_clear_pointer (&self->tflite, bt_tflite_classifier_unref);
  offer_backbone (self);
  clear_results (self);
  update_actions (self);
  if (i == GTK_INVALID_LIST_POSITION || i >= self->model_paths->len)
    return;
  gtk_label_set_text (self->status_label, _("Loading the model…"));
  self->n_loading++;
  if (g_str_has_suffix (self->model_paths->pdata[i], ".tflite"))
    {
      g_autoptr(GTask) task = g_task_new (NULL, self->cancellable, tflite_loaded_cb,
                                          pending_new (self, self->generation));
      g_task_set_task_data (task, g_strdup (self->model_paths->pdata[i]), g_free);
      g_task_run_in_thread (task, tflite_load_thread);
      return;
    }
  bt_model_files_load_async (self->model_paths->pdata[i], self->cancellable, model_loaded_cb,
                             pending_new (self, self->generation));
}

static void
models_listed_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Pending *pending = user_data;
  g_autoptr(BtTestPage) self = pending->page;
  guint generation = pending->generation;
  g_autoptr(GPtrArray) paths = bt_model_files_list_info_finish (result, NULL);
  guint old;
  int selected;

  g_free (pending);
  self->n_listing--;
  /* a newer listing was started: it has (or will have) the newer answer */
  if (generation != self->list_generation || paths == NULL || self->project == NULL)
    return;
  g_ptr_array_set_size (self->model_paths, 0);
  old = g_list_model_get_n_items (G_LIST_MODEL (self->model_names));
  g_signal_handlers_block_by_func (self->model_dropdown, model_selected_cb, self);
  gtk_string_list_splice (self->model_names, 0, old, NULL);
  for (guint i = 0; i < paths->len; i++)
    {
      BtModelInfo *info = paths->pdata[i];
      g_autofree char *name = bt_model_info_label (info);
      g_ptr_array_add (self->model_paths, g_strdup (info->path));
      gtk_string_list_append (self->model_names, name);
    }
  /* the pinned or most accurate model, not merely the newest */
  selected = bt_model_files_pick_default (paths);
  gtk_drop_down_set_selected (self->model_dropdown, selected >= 0 ? (guint) selected : GTK_INVALID_LIST_POSITION);
  g_signal_handlers_unblock_by_func (self->model_dropdown, model_selected_cb, self);
  model_selected_cb (self);
  if (paths->len == 0)
    gtk_label_set_text (self->status_label, _("No saved model yet: train one on the Train page."));
}

static void
cancel_listing (BtTestPage *self)
{
  g_cancellable_cancel (self->list_cancellable);
  g_clear_object (&self->list_cancellable);
  self->list_cancellable = g_cancellable_new ();
  self->list_generation++;
}

void
bt_test_page_reload_models (BtTestPage *self)
{
  g_return_if_fail (BT_IS_TEST_PAGE (self));

  if (self->project == NULL)
    return;
  cancel_listing (self);
  self->n_listing++;
  bt_model_files_list_async (self->project, self->list_cancellable, models_listed_cb,
                             pending_new (self, self->list_generation));
}

guint
bt_test_page_get_n_listings (BtTestPage *self)
{
  g_return_val_if_fail (BT_IS_TEST_PAGE (self), 0);
  return self->n_listing;
}

gboolean
bt_test_page_is_busy (BtTestPage *self)
{
  g_return_val_if_fail (BT_IS_TEST_PAGE (self), FALSE);
  return self->n_listing > 0 || self->n_loading > 0 || self->progress_source != 0;
}

/* ---- Actions ---- */

static void
files_chosen_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(BtTestPage) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GListModel) files = bt_dialogs_open_files_finish (result, &error);
  g_autoptr(GPtrArray) arr = g_ptr_array_new_with_free_func (g_object_unref);

  if (files == NULL)
    {
      bt_dialogs_show_error (GTK_WINDOW (gtk_widget_get_root (GTK_WIDGET (self))), _("No image was opened"), error);
      return;
    }
  for (guint i = 0; i < g_list_model_get_n_items (files); i++)
    g_ptr_array_add (arr, g_list_model_get_item (files, i));
  bt_test_page_classify_files (self, (GFile * const *) arr->pdata, arr->len);
}

static void
open_action (GtkWidget *widget, const char *action_name, GVariant *param)
{
  g_autoptr(GtkFileFilter) filter = bt_dialogs_image_filter_new ();

  bt_dialogs_open_files_async (GTK_WINDOW (gtk_widget_get_root (widget)), _("Open Images to Classify"),
                               filter, TRUE, NULL, files_chosen_cb, g_object_ref (widget));
}

static void
folder_chosen_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(BtTestPage) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GFile) folder = bt_dialogs_choose_folder_finish (result, &error);

  if (folder == NULL)
    {
      bt_dialogs_show_error (GTK_WINDOW (gtk_widget_get_root (GTK_WIDGET (self))), _("No folder was opened"), error);
      return;
    }
  bt_test_page_classify_folder (self, folder);
}

void
bt_test_page_classify_folder (BtTestPage *self, GFile *folder)
{
  ClassifyJob *job;

  g_return_if_fail (BT_IS_TEST_PAGE (self));
  g_return_if_fail (G_IS_FILE (folder));

  if (!is_ready (self) || g_file_peek_path (folder) == NULL)
    return;
  job = g_new0 (ClassifyJob, 1);
  job->folder = g_file_get_path (folder);
  clear_results (self);
  run_job (self, job);
}

static void
folder_action (GtkWidget *widget, const char *action_name, GVariant *param)
{
  bt_dialogs_choose_folder_async (GTK_WINDOW (gtk_widget_get_root (widget)), _("Test a Folder"),
                                  _("_Classify"), NULL, folder_chosen_cb, g_object_ref (widget));
}

/* Payloads (bytes of images) from the clipboard or the web: one classification each. */
static void
classify_payloads (BtTestPage *self, GPtrArray *payloads, const char *name)
{
  for (guint i = 0; i < payloads->len && is_ready (self); i++)
    {
      ClassifyJob *job = g_new0 (ClassifyJob, 1);
      job->pasted = g_bytes_ref (payloads->pdata[i]);
      job->pasted_name = g_strdup (name);
      run_job (self, job);
    }
}

static void
fetched_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(BtTestPage) self = user_data;
  g_autoptr(GPtrArray) errors = NULL;
  g_autoptr(GPtrArray) payloads = bt_intake_fetch_all_finish (result, &errors);

  classify_payloads (self, payloads, _("Downloaded image"));
  if (errors->len > 0)
    gtk_label_set_text (self->status_label, errors->pdata[0]);
}

/* Files classify as files; image data and web addresses are fetched on a worker first. */
static void
take_intake (BtTestPage *self, BtIntake *intake)
{
  if (!is_ready (self))
    {
      bt_intake_free (intake);
      return;
    }
  if (intake->paths->len > 0)
    {
      g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func (g_object_unref);
      for (guint i = 0; i < intake->paths->len; i++)
        g_ptr_array_add (files, g_file_new_for_path (intake->paths->pdata[i]));
      bt_test_page_classify_files (self, (GFile * const *) files->pdata, files->len);
    }
  classify_payloads (self, intake->images, NULL);
  if (intake->urls->len > 0)
    {
      g_ptr_array_set_size (intake->paths, 0);
      g_ptr_array_set_size (intake->images, 0);
      gtk_label_set_text (self->status_label, _("Downloading the image…"));
      bt_intake_fetch_all_async (intake, self->cancellable, fetched_cb, g_object_ref (self));
      return;
    }
  bt_intake_free (intake);
}

static void
paste_read_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(BtTestPage) self = user_data;
  g_autoptr(GError) error = NULL;
  BtIntake *intake = bt_intake_read_clipboard_finish (result, &error);

  if (intake == NULL)
    {
      gtk_label_set_text (self->status_label, error->message);
      return;
    }
  take_intake (self, intake);
}

static void
paste_action (GtkWidget *widget, const char *action_name, GVariant *param)
{
  bt_intake_read_clipboard_async (gtk_widget_get_clipboard (widget), NULL, paste_read_cb, g_object_ref (widget));
}

static void
live_action (GtkWidget *widget, const char *action_name, GVariant *param)
{
  BtTestPage *self = BT_TEST_PAGE (widget);

  gtk_stack_set_visible_child_name (self->result_stack, "result");
  bt_live_test_toggle (self->live, self->model);
}

BtLiveTest *
bt_test_page_get_live (BtTestPage *self)
{
  g_return_val_if_fail (BT_IS_TEST_PAGE (self), NULL);
  return self->live;
}

char *
bt_test_page_dup_results_csv (BtTestPage *self)
{
  GString *s = g_string_new (NULL);
  const char * const *names = class_names (self);

  g_return_val_if_fail (BT_IS_TEST_PAGE (self), NULL);

  bt_predictions_csv_header (s, names);
  for (guint i = 0; i < self->results->len; i++)
    {
      Result *r = self->results->pdata[i];
      g_autofree char *utf8 = r->path ? g_filename_display_name (r->path) : g_strdup (r->display);

      bt_predictions_csv_row_scored (s, utf8, names ? r->probs : NULL, r->n_classes, names, r->unknown_score,
                                     r->unknown, !isnan (r->below));
    }
  return g_string_free (s, FALSE);
}

static void
csv_written_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(BtTestPage) self = user_data;
  g_autoptr(GError) error = NULL;

  if (!g_file_replace_contents_finish (G_FILE (source), result, NULL, &error))
    bt_dialogs_show_error (GTK_WINDOW (gtk_widget_get_root (GTK_WIDGET (self))), _("The file could not be saved"), error);
  else
    {
      g_autofree char *name = g_file_get_parse_name (G_FILE (source));
      g_autofree char *text = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "Saved %u result to %s",
                                                            "Saved %u results to %s", self->results->len),
                                               self->results->len, name);
      gtk_label_set_text (self->status_label, text);
    }
}

static void
csv_chosen_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(BtTestPage) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GFile) file = bt_dialogs_save_file_finish (result, &error);
  g_autoptr(GBytes) bytes = NULL;
  char *csv;

  if (file == NULL)
    {
      bt_dialogs_show_error (GTK_WINDOW (gtk_widget_get_root (GTK_WIDGET (self))), _("The file could not be saved"), error);
      return;
    }
  csv = bt_test_page_dup_results_csv (self);
  bytes = g_bytes_new_take (csv, strlen (csv));
  g_file_replace_contents_bytes_async (file, bytes, NULL, FALSE, G_FILE_CREATE_REPLACE_DESTINATION, NULL,
                                       csv_written_cb, g_object_ref (self));
}

static void
export_csv_action (GtkWidget *widget, const char *action_name, GVariant *param)
{
  bt_dialogs_save_file_async (GTK_WINDOW (gtk_widget_get_root (widget)), _("Export Results"),
                              "results.csv", NULL, csv_chosen_cb, g_object_ref (widget));
}

static void
export_onnx_action (GtkWidget *widget, const char *action_name, GVariant *param)
{
  BtTestPage *self = BT_TEST_PAGE (widget);

  if (self->model != NULL && g_str_equal (action_name, "test.serve"))
    bt_serve_window_open (GTK_WINDOW (gtk_widget_get_root (widget)), bt_shared_model_get_path (self->model));
  else if (self->model != NULL && self->project != NULL && g_str_equal (action_name, "test.export-tflite-int8"))
    bt_export_actions_choose_tflite_int8 (widget, bt_shared_model_get_path (self->model), self->project);
  else if (self->model != NULL && g_str_equal (action_name, "test.export-tflite"))
    bt_export_actions_choose_tflite (widget, bt_shared_model_get_path (self->model));
  else if (self->model != NULL)
    bt_export_actions_choose_onnx (widget, bt_shared_model_get_path (self->model));
}

static void
export_pytorch_action (GtkWidget *widget, const char *action_name, GVariant *param)
{
  BtTestPage *self = BT_TEST_PAGE (widget);

  if (self->project != NULL)
    bt_export_actions_choose_pytorch (widget, self->project);
}

/* ---- Correct It: the image joins the project, copied into images/<class>/ ---- */

typedef struct {
  GWeakRef  page;
  char     *src;
  char     *class_name;
  char     *dir;        /* <project>/images/<class> */
} CopyJob;

static void
copy_job_free (CopyJob *job)
{
  g_weak_ref_clear (&job->page);
  g_free (job->src);
  g_free (job->class_name);
  g_free (job->dir);
  g_free (job);
}

static void
copy_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  CopyJob *job = task_data;
  g_autofree char *base = g_path_get_basename (job->src);
  g_autoptr(GFile) src = g_file_new_for_path (job->src);
  GError *error = NULL;

  if (g_mkdir_with_parents (job->dir, 0755) != 0)
    {
      int saved = errno;
      g_task_return_new_error (task, G_IO_ERROR, g_io_error_from_errno (saved), _("Cannot create “%s”: %s"),
                               job->dir, g_strerror (saved));
      return;
    }
  /* "from-testing-" marks where the image came from; a number keeps earlier ones */
  for (guint i = 1; i < 1000; i++)
    {
      g_autofree char *name = NULL;
      g_autofree char *dest_path = NULL;
      g_autoptr(GFile) dest = NULL;
      const char *dot = strrchr (base, '.');

      if (i == 1)
        name = g_strconcat ("from-testing-", base, NULL);
      else if (dot != NULL && dot != base)
        name = g_strdup_printf ("from-testing-%.*s-%u%s", (int) (dot - base), base, i, dot);
      else
        name = g_strdup_printf ("from-testing-%s-%u", base, i);
      dest_path = g_build_filename (job->dir, name, NULL);
      dest = g_file_new_for_path (dest_path);
      if (g_file_copy (src, dest, G_FILE_COPY_NONE, cancellable, NULL, NULL, &error))
        {
          g_task_return_pointer (task, g_steal_pointer (&dest_path), g_free);
          return;
        }
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_EXISTS))
        {
          g_task_return_error (task, error);
          return;
        }
      g_clear_error (&error);
    }
  g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_EXISTS, _("Too many copies of “%s” already"), base);
}

/* The results of path say which class they were added to (their row and, on show, the
 * Correct It button). */
static void
mark_corrected (BtTestPage *self, const char *path, const char *class_name)
{
  for (guint i = 0; i < self->results->len; i++)
    {
      Result *r = self->results->pdata[i];
      GtkListBoxRow *row;

      if (g_strcmp0 (r->path, path) != 0 || r->added_to != NULL)
        continue;
      r->added_to = g_strdup (class_name);
      if ((row = gtk_list_box_get_row_at_index (self->results_list, i)) != NULL)
        gtk_list_box_row_set_child (row, make_row (self, r));
      if ((int) i == self->shown)
        update_correct (self, r);
    }
}

static void
copy_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  CopyJob *job = g_task_get_task_data (G_TASK (result));
  g_autoptr(BtTestPage) self = g_weak_ref_get (&job->page);
  g_autoptr(GError) error = NULL;
  g_autofree char *dest = g_task_propagate_pointer (G_TASK (result), &error);
  const char *paths[2] = { dest, NULL };
  g_autofree char *text = NULL;

  if (self == NULL)
    return;
  if (dest == NULL || self->project == NULL
      || !bt_project_add_items (self->project, job->class_name, paths, NULL, &error))
    {
      bt_dialogs_show_error (GTK_WINDOW (gtk_widget_get_root (GTK_WIDGET (self))),
                             _("The image could not be added to the project"), error);
      return;
    }
  mark_corrected (self, job->src, job->class_name);
  text = g_strdup_printf (_("Added to “%s” in the project as %s"), job->class_name, dest);
  gtk_label_set_text (self->status_label, text);
}

static void
correct_action (GtkWidget *widget, const char *action_name, GVariant *param)
{
  BtTestPage *self = BT_TEST_PAGE (widget);
  const char *class_name = g_variant_get_string (param, NULL);
  g_autofree char *folder = NULL;
  g_autoptr(GTask) task = NULL;
  CopyJob *job;
  Result *r;

  if (self->project == NULL || self->shown < 0 || (guint) self->shown >= self->results->len)
    return;
  r = self->results->pdata[self->shown];
  if (r->path == NULL || r->added_to != NULL || bt_project_find_class (self->project, class_name) < 0)
    return;
  /* an image of the project itself gets its label fixed (undoable), not a second copy */
  {
    BtItem *item = bt_project_find_item (self->project, r->path);
    g_autoptr(GError) error = NULL;
    g_autofree char *text = NULL;

    if (item != NULL)
      {
        if (!bt_undo_stack_relabel (bt_undo_stack_get (self->project), &item, 1, class_name, &error))
          {
            bt_dialogs_show_error (GTK_WINDOW (gtk_widget_get_root (widget)), _("The image could not be moved"),
                                   error);
            return;
          }
        mark_corrected (self, r->path, class_name);
        text = g_strdup_printf (_("This image was already in the project: it is now in “%s”."), class_name);
        gtk_label_set_text (self->status_label, text);
        return;
      }
  }
  /* a class name is one path component already; keep it so even if that ever changes */
  folder = g_strdup (class_name);
  g_strdelimit (folder, "/\\", '_');
  if (folder[0] == '.')
    folder[0] = '_';
  job = g_new0 (CopyJob, 1);
  g_weak_ref_init (&job->page, self);
  job->src = g_strdup (r->path);
  job->class_name = g_strdup (class_name);
  job->dir = g_build_filename (bt_project_get_dir (self->project), "images", folder, NULL);
  gtk_widget_action_set_enabled (widget, "test.correct", FALSE);
  task = g_task_new (NULL, self->cancellable, copy_done_cb, NULL);
  g_task_set_task_data (task, job, (GDestroyNotify) copy_job_free);
  g_task_run_in_thread (task, copy_thread);
}

/* ---- Open Model File… ---- */

void
bt_test_page_open_model_file (BtTestPage *self, GFile *file)
{
  g_autofree char *path = NULL;
  g_autofree char *name = NULL;

  g_return_if_fail (BT_IS_TEST_PAGE (self));
  g_return_if_fail (G_IS_FILE (file));

  path = g_file_get_path (file);
  if (path == NULL)
    return;
  g_free (self->opened_path);
  self->opened_path = g_strdup (path);
  name = g_filename_display_basename (path);
  /* the dropdown gains the file as its last entry, and selecting it loads it */
  for (guint i = 0; i < self->model_paths->len; i++)
    if (g_str_equal (self->model_paths->pdata[i], path))
      {
        gtk_drop_down_set_selected (self->model_dropdown, i);
        return;
      }
  g_ptr_array_add (self->model_paths, g_strdup (path));
  {
    /* TRANSLATORS: a model file opened from outside the project, in the model list */
    g_autofree char *label = g_strdup_printf (_("%s (opened file)"), name);
    gtk_string_list_append (self->model_names, label);
  }
  gtk_drop_down_set_selected (self->model_dropdown, self->model_paths->len - 1);
}

static void
model_file_chosen_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(BtTestPage) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GListModel) files = bt_dialogs_open_files_finish (result, &error);
  g_autoptr(GFile) file = NULL;

  if (files == NULL || g_list_model_get_n_items (files) == 0)
    {
      bt_dialogs_show_error (GTK_WINDOW (gtk_widget_get_root (GTK_WIDGET (self))), _("No model was opened"), error);
      return;
    }
  file = g_list_model_get_item (files, 0);
  bt_test_page_open_model_file (self, file);
}

static void
open_model_action (GtkWidget *widget, const char *action_name, GVariant *param)
{
  g_autoptr(GtkFileFilter) filter = gtk_file_filter_new ();

  gtk_file_filter_set_name (filter, _("Bottega models"));
  gtk_file_filter_add_pattern (filter, "*.bottega-model");
  gtk_file_filter_add_pattern (filter, "*.tflite");
  bt_dialogs_open_files_async (GTK_WINDOW (gtk_widget_get_root (widget)), _("Open a Model File"),
                               filter, FALSE, NULL, model_file_chosen_cb, g_object_ref (widget));
}

static void
texture_png_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(BtTestPage) self = user_data;
  g_autoptr(GBytes) png = bt_intake_texture_png_finish (result);
  g_autoptr(GPtrArray) payloads = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);

  if (png == NULL)
    return;
  g_ptr_array_add (payloads, g_steal_pointer (&png));
  classify_payloads (self, payloads, _("Dropped image"));
}

static gboolean
drop_cb (GtkDropTarget *target, const GValue *value, double x, double y, BtTestPage *self)
{
  GSList *files;
  BtIntake *intake;

  if (!is_ready (self))
    return FALSE;
  /* an image a web browser sends as pixels (no address, no file): PNG bytes on a worker, then
   * classified like a pasted image */
  if (G_VALUE_HOLDS (value, GDK_TYPE_TEXTURE))
    {
      bt_intake_texture_png_async (g_value_get_object (value), self->cancellable, texture_png_cb, g_object_ref (self));
      return TRUE;
    }
  if (!G_VALUE_HOLDS (value, GDK_TYPE_FILE_LIST))
    return FALSE;
  files = gdk_file_list_get_files (g_value_get_boxed (value));
  /* files here, and the addresses a web browser drops (fetched first) */
  intake = bt_intake_new ();
  bt_intake_add_files (intake, files, NULL);
  take_intake (self, intake);
  g_slist_free (files);
  return TRUE;
}

/* ---- GObject ---- */

static void
bt_test_page_dispose (GObject *object)
{
  BtTestPage *self = BT_TEST_PAGE (object);
  GtkWidget *child;

  g_cancellable_cancel (self->cancellable);
  g_cancellable_cancel (self->list_cancellable);
  g_cancellable_cancel (self->preview_cancellable);
  g_clear_handle_id (&self->progress_source, g_source_remove);
  self->generation++;        /* answers still on their way are dropped */
  self->list_generation++;
  g_clear_object (&self->live);
  gtk_widget_dispose_template (GTK_WIDGET (self), BT_TYPE_TEST_PAGE);
  /* GTK 4.8 unparents only bound template children */
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self))) != NULL)
    gtk_widget_unparent (child);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->list_cancellable);
  g_clear_object (&self->preview_cancellable);
  g_clear_object (&self->project);
  g_clear_pointer (&self->model, bt_shared_model_unref);
  g_clear_pointer (&self->tflite, bt_tflite_classifier_unref);
  g_clear_pointer (&self->model_paths, g_ptr_array_unref);
  g_clear_pointer (&self->results, g_ptr_array_unref);
  g_clear_pointer (&self->opened_path, g_free);

  G_OBJECT_CLASS (bt_test_page_parent_class)->dispose (object);
}

static void
bt_test_page_class_init (BtTestPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = bt_test_page_dispose;

  signals[MODEL_READY] = g_signal_new ("model-ready", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                       0, NULL, NULL, NULL, G_TYPE_NONE, 0);
  signals[RESULTS_CHANGED] = g_signal_new ("results-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                           0, NULL, NULL, NULL, G_TYPE_NONE, 0);

  g_type_ensure (BT_TYPE_PROBABILITY_BARS);
  g_type_ensure (BT_TYPE_HEAT_OVERLAY);
  g_type_ensure (BT_TYPE_EXPLAIN_BAR);
  gtk_widget_class_set_template_from_resource (widget_class, APP_ID_PATH "/ui/bt-test-page.ui");
  gtk_widget_class_bind_template_child (widget_class, BtTestPage, model_dropdown);
  gtk_widget_class_bind_template_child (widget_class, BtTestPage, model_names);
  gtk_widget_class_bind_template_child (widget_class, BtTestPage, status_label);
  gtk_widget_class_bind_template_child (widget_class, BtTestPage, result_stack);
  gtk_widget_class_bind_template_child (widget_class, BtTestPage, picture);
  gtk_widget_class_bind_template_child (widget_class, BtTestPage, verdict_label);
  gtk_widget_class_bind_template_child (widget_class, BtTestPage, bars);
  gtk_widget_class_bind_template_child (widget_class, BtTestPage, results_list);
  gtk_widget_class_bind_template_child (widget_class, BtTestPage, folder_summary);
  gtk_widget_class_bind_template_child (widget_class, BtTestPage, correct_button);
  gtk_widget_class_bind_template_child (widget_class, BtTestPage, correct_label);
  gtk_widget_class_bind_template_child (widget_class, BtTestPage, heat_overlay);
  gtk_widget_class_bind_template_child (widget_class, BtTestPage, explain_bar);
  gtk_widget_class_bind_template_child (widget_class, BtTestPage, live_button);
  gtk_widget_class_bind_template_callback (widget_class, model_selected_cb);
  gtk_widget_class_bind_template_callback (widget_class, row_selected_cb);
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);

  gtk_widget_class_install_action (widget_class, "test.open", NULL, open_action);
  gtk_widget_class_install_action (widget_class, "test.paste", NULL, paste_action);
  gtk_widget_class_install_action (widget_class, "test.live", NULL, live_action);
  gtk_widget_class_install_action (widget_class, "test.folder", NULL, folder_action);
  gtk_widget_class_install_action (widget_class, "test.export-csv", NULL, export_csv_action);
  gtk_widget_class_install_action (widget_class, "test.correct", "s", correct_action);
  gtk_widget_class_install_action (widget_class, "test.open-model", NULL, open_model_action);
  gtk_widget_class_install_action (widget_class, "test.export-onnx", NULL, export_onnx_action);
  gtk_widget_class_install_action (widget_class, "test.export-tflite", NULL, export_onnx_action);
  gtk_widget_class_install_action (widget_class, "test.export-tflite-int8", NULL, export_onnx_action);
  gtk_widget_class_install_action (widget_class, "test.serve", NULL, export_onnx_action);
  gtk_widget_class_install_action (widget_class, "test.export-pytorch", NULL, export_pytorch_action);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_v, GDK_CONTROL_MASK, "test.paste", NULL);
}

static void
bt_test_page_init (BtTestPage *self)
{
  GtkDropTarget *drop;

  gtk_widget_init_template (GTK_WIDGET (self));
  self->live = bt_live_test_new (self->picture, self->bars, self->verdict_label, self->status_label,
                                 self->live_button);
  self->model_paths = g_ptr_array_new_with_free_func (g_free);
  self->results = g_ptr_array_new_with_free_func ((GDestroyNotify) result_free);
  self->shown = -1;
  self->cancellable = g_cancellable_new ();
  bt_model_list_setup_dropdown (self->model_dropdown);
  self->list_cancellable = g_cancellable_new ();
  bt_explain_bar_attach (self->explain_bar, self->heat_overlay, self->bars);

  drop = gtk_drop_target_new (G_TYPE_INVALID, GDK_ACTION_COPY);
  {
    /* files (and a browser's addresses, as text/uri-list) first; an image sent as pixels */
    GType types[] = { GDK_TYPE_FILE_LIST, GDK_TYPE_TEXTURE };
    gtk_drop_target_set_gtypes (drop, types, G_N_ELEMENTS (types));
  }
  g_signal_connect_object (drop, "drop", G_CALLBACK (drop_cb), self, 0);
  gtk_widget_add_controller (GTK_WIDGET (self), GTK_EVENT_CONTROLLER (drop));
  update_actions (self);
}

void
bt_test_page_set_project (BtTestPage *self, BtProject *project)
{
  g_return_if_fail (BT_IS_TEST_PAGE (self));
  g_return_if_fail (project == NULL || BT_IS_PROJECT (project));

  if (project == self->project)
    return;
  reset_jobs (self);
  cancel_listing (self);
  g_set_object (&self->project, project);
  g_clear_pointer (&self->model, bt_shared_model_unref);
  g_clear_pointer (&self->tflite, bt_tflite_classifier_unref);
  clear_results (self);
  g_ptr_array_set_size (self->model_paths, 0);
  gtk_string_list_splice (self->model_names, 0, g_list_model_get_n_items (G_LIST_MODEL (self->model_names)), NULL);
  gtk_label_set_text (self->status_label, "");
  update_actions (self);
  bt_test_page_reload_models (self);
}

const char *
bt_test_page_get_model_path (BtTestPage *self)
{
  g_return_val_if_fail (BT_IS_TEST_PAGE (self), NULL);
  if (self->tflite != NULL)
    {
      guint i = gtk_drop_down_get_selected (self->model_dropdown);
      return i < self->model_paths->len ? self->model_paths->pdata[i] : NULL;
    }
  return self->model ? bt_shared_model_get_path (self->model) : NULL;
}

guint
bt_test_page_get_n_results (BtTestPage *self)
{
  g_return_val_if_fail (BT_IS_TEST_PAGE (self), 0);
  return self->results->len;
}

const char *
bt_test_page_get_result_path (BtTestPage *self, guint i)
{
  g_return_val_if_fail (BT_IS_TEST_PAGE (self), NULL);
  g_return_val_if_fail (i < self->results->len, NULL);
  return ((Result *) self->results->pdata[i])->path;
}

BtProbabilityBars *
bt_test_page_get_bars (BtTestPage *self)
{
  g_return_val_if_fail (BT_IS_TEST_PAGE (self), NULL);
  return self->bars;
}
