/* bt-evaluation.c: evaluation of a model on a project split (confusion matrix, per-class
 * precision/recall/F1, mistakes sorted most-confident-wrong first) and single-image prediction. */
#include "config.h"

#include <glib/gi18n-lib.h>
#include <math.h>
#include <string.h>

#include "training/bt-calibration.h"
#include "training/bt-model-runner.h"
#include "training/bt-predict-batch.h"
#include "training/bt-training-private.h"
#include "training/bt-transfer.h"

#define EVAL_BATCH 64

static void
bt_mistake_free (gpointer data)
{
  BtMistake *m = data;

  g_free (m->path);
  g_free (m->probs);
  g_free (m);
}

void
bt_evaluation_free (BtEvaluation *ev)
{
  if (ev == NULL)
    return;
  g_strfreev (ev->class_names);
  g_free (ev->confusion);
  g_free (ev->precision);
  g_free (ev->recall);
  g_free (ev->f1);
  /* mistakes borrow the entries of all */
  g_clear_pointer (&ev->mistakes, g_ptr_array_unref);
  g_clear_pointer (&ev->all, g_ptr_array_unref);
  g_free (ev);
}

BtEvaluation *
bt_evaluation_new (int n_classes, const char * const *class_names)
{
  BtEvaluation *ev = g_new0 (BtEvaluation, 1);

  g_assert (n_classes > 0);
  ev->n_classes = n_classes;
  ev->class_names = g_new0 (char *, n_classes + 1);
  for (int i = 0; i < n_classes; i++)
    ev->class_names[i] = g_strdup (class_names != NULL && class_names[i] != NULL ? class_names[i] : "");
  ev->confusion = g_new0 (guint, (gsize) n_classes * n_classes);
  ev->precision = g_new0 (double, n_classes);
  ev->recall = g_new0 (double, n_classes);
  ev->f1 = g_new0 (double, n_classes);
  ev->all = g_ptr_array_new_with_free_func (bt_mistake_free);
  ev->mistakes = g_ptr_array_new ();
  ev->temperature = 1.0;
  return ev;
}

void
bt_evaluation_add (BtEvaluation *ev, const float *probs, int true_class,
                   const char *path, guint item_index)
{
  BtMistake *m;
  int pred = 0;

  g_assert (true_class >= 0 && true_class < ev->n_classes);
  for (int k = 1; k < ev->n_classes; k++)
    if (probs[k] > probs[pred])
      pred = k;

  m = g_new0 (BtMistake, 1);
  m->path = g_strdup (path);
  m->item_index = item_index;
  m->true_class = true_class;
  m->pred_class = pred;
  m->confidence = m->raw_confidence = probs[pred];
  m->unknown_score = NAN;
  m->probs = g_memdup2 (probs, sizeof (float) * ev->n_classes);
  g_ptr_array_add (ev->all, m);

  ev->confusion[(gsize) true_class * ev->n_classes + pred]++;
  ev->loss += -log (MAX ((double) probs[true_class], 1e-12));
  ev->n++;
}

void
bt_evaluation_add_logits (BtEvaluation *ev, const BtCalibration *calib, const float *logits,
                          double unknown_score, int true_class, const char *path, guint item_index)
{
  g_autofree float *probs = g_new (float, ev->n_classes);
  BtCalibration raw;
  BtMistake *m;

  bt_calibration_init (&raw);
  bt_calibration_apply (&raw, logits, ev->n_classes, probs);
  float raw_conf = 0;
  for (int k = 0; k < ev->n_classes; k++)
    raw_conf = MAX (raw_conf, probs[k]);
  bt_calibration_apply (calib, logits, ev->n_classes, probs);
  bt_evaluation_add (ev, probs, true_class, path, item_index);
  m = g_ptr_array_index (ev->all, ev->all->len - 1);
  m->raw_confidence = raw_conf;
  m->unknown_score = (float) unknown_score;
  ev->temperature = calib->temperature;
}

static int
compare_confidence_desc (gconstpointer a, gconstpointer b)
{
  const BtMistake *ma = *(BtMistake * const *) a;
  const BtMistake *mb = *(BtMistake * const *) b;

  if (ma->confidence != mb->confidence)
    return ma->confidence > mb->confidence ? -1 : 1;
  /* stable tie-break so that the gallery order never depends on qsort */
  return ma->item_index < mb->item_index ? -1 : ma->item_index > mb->item_index;
}

void
bt_evaluation_finish (BtEvaluation *ev)
{
  int k = ev->n_classes;
  guint correct = 0;

  for (int i = 0; i < k; i++)
    {
      guint tp = ev->confusion[(gsize) i * k + i];
      guint row = 0, col = 0;

      for (int j = 0; j < k; j++)
        {
          row += ev->confusion[(gsize) i * k + j];
          col += ev->confusion[(gsize) j * k + i];
        }
      correct += tp;
      ev->precision[i] = col > 0 ? (double) tp / col : 0.0;
      ev->recall[i] = row > 0 ? (double) tp / row : 0.0;
      ev->f1[i] = ev->precision[i] + ev->recall[i] > 0
                ? 2.0 * ev->precision[i] * ev->recall[i] / (ev->precision[i] + ev->recall[i])
                : 0.0;
    }
  ev->accuracy = ev->n > 0 ? (double) correct / ev->n : NAN;
  {
    g_autofree float *raw = g_new (float, MAX (ev->all->len, 1));
    g_autofree float *cal = g_new (float, MAX (ev->all->len, 1));
    g_autofree gboolean *hit = g_new (gboolean, MAX (ev->all->len, 1));
    for (guint i = 0; i < ev->all->len; i++)
      {
        const BtMistake *m = g_ptr_array_index (ev->all, i);
        raw[i] = m->raw_confidence;
        cal[i] = m->confidence;
        hit[i] = m->pred_class == m->true_class;
      }
    ev->ece_before = bt_calibration_ece (raw, hit, ev->all->len, BT_ECE_BINS);
    ev->ece_after = bt_calibration_ece (cal, hit, ev->all->len, BT_ECE_BINS);
  }
  ev->loss = ev->n > 0 ? ev->loss / ev->n : NAN;

  g_ptr_array_set_size (ev->mistakes, 0);
  for (guint i = 0; i < ev->all->len; i++)
    {
      BtMistake *m = g_ptr_array_index (ev->all, i);
      if (m->pred_class != m->true_class)
        g_ptr_array_add (ev->mistakes, m);
    }
  g_ptr_array_sort (ev->mistakes, compare_confidence_desc);
}

BtResizeMode
bt_resize_mode_from_ds (BtDsResize mode)
{
  switch (mode)
    {
    case BT_DS_RESIZE_CENTER_CROP: return BT_RESIZE_CENTER_CROP;
    case BT_DS_RESIZE_PAD:         return BT_RESIZE_PAD;
    case BT_DS_RESIZE_SQUASH:
    default:                       return BT_RESIZE_SQUASH;
    }
}

BtDsResize
bt_resize_mode_to_ds (BtResizeMode mode)
{
  switch (mode)
    {
    case BT_RESIZE_CENTER_CROP: return BT_DS_RESIZE_CENTER_CROP;
    case BT_RESIZE_PAD:         return BT_DS_RESIZE_PAD;
    case BT_RESIZE_SQUASH:
    default:                    return BT_DS_RESIZE_SQUASH;
    }
}

/* Grey ↔ RGB when a decoded image's channels differ from the recipe's (ITU-R 601 luma). */
BtImage *
bt_image_convert_channels (const BtImage *img, int channels)
{
  BtImage *out = g_new0 (BtImage, 1);
  gsize n = (gsize) img->width * img->height;

  out->width = img->width;
  out->height = img->height;
  out->channels = channels;
  out->pixels = g_malloc (n * channels);
  for (gsize i = 0; i < n; i++)
    {
      if (channels == 1)
        {
          const guint8 *p = img->pixels + i * 3;
          out->pixels[i] = (guint8) ((299 * p[0] + 587 * p[1] + 114 * p[2] + 500) / 1000);
        }
      else
        memset (out->pixels + i * 3, img->pixels[i], 3);
    }
  return out;
}

gboolean
bt_prepare_image (const BtPreprocess *prep, const BtImage *image, float *out, GError **error)
{
  g_autoptr(BtImage) converted = NULL;
  g_autoptr(BtImage) resized = NULL;
  const BtImage *src = image;

  if (prep->channels != 1 && prep->channels != 3)
    {
      g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID,
                   _("The model expects %d colour channels, which is not supported"), prep->channels);
      return FALSE;
    }
  if (image == NULL || image->pixels == NULL || image->width <= 0 || image->height <= 0 ||
      (image->channels != 1 && image->channels != 3))
    {
      g_set_error_literal (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID,
                           _("The image is empty or has an unsupported pixel format"));
      return FALSE;
    }
  if (image->channels != prep->channels)
    src = converted = bt_image_convert_channels (image, prep->channels);

  resized = bt_image_resize (src, prep->width, prep->height, bt_resize_mode_to_ds (prep->resize));
  if (resized == NULL)
    {
      g_set_error_literal (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID,
                           _("The image could not be resized to the model’s input size"));
      return FALSE;
    }
  bt_image_to_chw_float (resized->pixels, resized->width, resized->height, resized->channels,
                         prep->scale, prep->mean, prep->std, out);
  return TRUE;
}

gboolean
bt_prepare_image_file (const BtPreprocess *prep, const char *path, float *out,
                       GCancellable *cancellable, GError **error)
{
  g_autoptr(BtImage) img = NULL;

  img = bt_image_decode_file_sized (path, prep->channels, BT_TENSOR_BOX (prep->width),
                                    BT_TENSOR_BOX (prep->height), NULL, cancellable,
                                    NULL, error);
  if (img == NULL)
    return FALSE;
  return bt_prepare_image (prep, img, out, error);
}

float *
bt_predict_image (BtModel *model, const BtImage *image, GError **error)
{
  return bt_predict_image_scored (model, image, NULL, error);
}

/* One forward pass of one image (under the gate); the logits are then the net's. */
static gboolean
forward_image (BtModel *model, const BtImage *image, GError **error)
{
  g_autofree float *x = NULL;
  g_autofree float *probs = NULL;

  if (model->backbone_name != NULL)
    return (probs = bt_transfer_predict_image (model, image, error)) != NULL;
  x = g_new (float, (gsize) model->prep.channels * model->prep.height * model->prep.width);
  return bt_prepare_image (&model->prep, image, x, error) && bt_net_forward (model->net, x, 1, FALSE, error) != NULL;
}

gboolean
bt_model_image_logits (BtModel *model, const BtImage *image, float *logits, GError **error)
{
  return bt_model_image_outputs (model, image, logits, NULL, error);
}

gboolean
bt_model_image_outputs (BtModel *model, const BtImage *image, float *logits, float *features, GError **error)
{
  int k, dim;

  g_return_val_if_fail (model != NULL && model->net != NULL && image != NULL && logits != NULL, FALSE);
  k = bt_net_n_classes (model->net);
  dim = bt_net_feature_dim (model->net);
  bt_compute_gate_enter ();
  gboolean ok = forward_image (model, image, error);
  if (ok)
    memcpy (logits, bt_net_logits (model->net), sizeof (float) * k);
  if (ok && features != NULL)
    memcpy (features, bt_net_features (model->net), sizeof (float) * dim);
  if (ok && model->tta == BT_TTA_MIRROR)
    {
      /* test-time augmentation: the mean of the image's logits and its mirror's (features too) */
      g_autoptr(BtImage) mirror = bt_transfer_make_variant (image, 1);
      ok = forward_image (model, mirror, error);
      for (int j = 0; ok && j < k; j++)
        logits[j] = 0.5f * (logits[j] + bt_net_logits (model->net)[j]);
      for (int j = 0; ok && features != NULL && j < dim; j++)
        features[j] = 0.5f * (features[j] + bt_net_features (model->net)[j]);
    }
  bt_compute_gate_leave ();
  return ok;
}

float *
bt_predict_image_scored (BtModel *model, const BtImage *image, double *unknown_score, GError **error)
{
  return bt_predict_image_parts (model, image, unknown_score, NULL, NULL, error);
}

float *
bt_predict_image_parts (BtModel *model, const BtImage *image, double *unknown_score, double *energy,
                        double *distance, GError **error)
{
  g_autofree float *logits = NULL, *features = NULL;
  float *result;
  double score, e, d;

  g_return_val_if_fail (model != NULL && model->net != NULL, NULL);
  g_return_val_if_fail (image != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  logits = g_new (float, bt_net_n_classes (model->net));
  features = g_new (float, bt_net_feature_dim (model->net));
  if (!bt_model_image_outputs (model, image, logits, features, error))
    return NULL;
  /* the probabilities at the model's temperature and the unknown score, from the outputs */
  result = g_new (float, bt_net_n_classes (model->net));
  score = bt_model_unknown_score (model, logits, features, result);
  bt_unknown_parts (&model->calib, model->centroids, logits, bt_net_n_classes (model->net), features, &e, &d);
  if (unknown_score != NULL)
    *unknown_score = score;
  if (energy != NULL)
    *energy = e;
  if (distance != NULL)
    *distance = d;
  return result;
}

float *
bt_predict_file (BtModel *model, const char *image_path, GError **error)
{
  return bt_predict_file_scored (model, image_path, NULL, error);
}

float *
bt_predict_file_scored (BtModel *model, const char *image_path, double *unknown_score, GError **error)
{
  return bt_predict_file_parts (model, image_path, unknown_score, NULL, NULL, error);
}

float *
bt_predict_file_parts (BtModel *model, const char *image_path, double *unknown_score, double *energy,
                       double *distance, GError **error)
{
  g_autoptr(BtImage) img = NULL;

  g_return_val_if_fail (model != NULL && model->net != NULL, NULL);
  g_return_val_if_fail (image_path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  img = bt_image_decode_file_sized (image_path, model->backbone_name != NULL ? 3 : model->prep.channels,
                                    BT_TENSOR_BOX (model->prep.width),
                                    BT_TENSOR_BOX (model->prep.height), NULL, NULL, NULL, error);
  if (img == NULL)
    return NULL;
  return bt_predict_image_parts (model, img, unknown_score, energy, distance, error);
}

/* ---- Evaluation of a saved model on a project split ---- */

typedef struct {
  const BtPreprocess *prep;
  GCancellable *cancellable;
  GMutex mutex;
  GCond cond;
  guint pending;
} DecodeBatch;

typedef struct {
  DecodeBatch *batch;
  const char *path;
  float *out;
  gboolean ok;
} DecodeTask;

static void
decode_task_run (gpointer data, gpointer user_data)
{
  DecodeTask *t = data;
  DecodeBatch *b = t->batch;

  t->ok = bt_prepare_image_file (b->prep, t->path, t->out, b->cancellable, NULL);
  g_mutex_lock (&b->mutex);
  if (--b->pending == 0)
    g_cond_signal (&b->cond);
  g_mutex_unlock (&b->mutex);
}

/* The split's images whose class the model has (matched by name: the project may have changed
 * since the model was trained), with the model's label and the project item of each. */
typedef struct {
  GPtrArray *paths;
  guint     *indices;
  int       *labels;
} EvalImages;

static void
eval_images_clear (EvalImages *set)
{
  g_clear_pointer (&set->paths, g_ptr_array_unref);
  g_clear_pointer (&set->indices, g_free);
  g_clear_pointer (&set->labels, g_free);
}

static gboolean
list_split (BtModel *model, BtProject *project, BtSplit split, BtEvaluation *ev, EvalImages *set, GError **error)
{
  GListModel *classes = bt_project_get_classes (project), *items = bt_project_get_items (project);
  guint n_project_classes = g_list_model_get_n_items (classes), n = 0;
  int n_classes = bt_net_n_classes (model->net);
  g_autofree int *model_class = g_new (int, MAX (n_project_classes, 1));
  BtSplitView *view;

  for (guint i = 0; i < n_project_classes; i++)
    {
      g_autoptr(BtClassInfo) info = g_list_model_get_item (classes, i);
      model_class[i] = -1;
      for (int k = 0; model->class_names != NULL && model->class_names[k] != NULL && k < n_classes; k++)
        if (g_strcmp0 (model->class_names[k], bt_class_info_get_name (info)) == 0)
          model_class[i] = k;
    }

  view = bt_project_split_view (project, split);
  if (view == NULL)
    {
      g_set_error_literal (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_NO_DATA,
                           _("The project’s images could not be listed"));
      return FALSE;
    }
  set->paths = g_ptr_array_new_with_free_func (g_free);
  set->indices = g_new (guint, MAX (view->n, 1));
  set->labels = g_new (int, MAX (view->n, 1));
  for (guint i = 0; i < view->n; i++)
    {
      g_autoptr(BtItem) item = g_list_model_get_item (items, view->items[i]);
      int label = view->labels[i];

      if (item == NULL || label < 0 || (guint) label >= n_project_classes || model_class[label] < 0)
        {
          ev->n_skipped++;
          continue;
        }
      g_ptr_array_add (set->paths, g_strdup (bt_item_get_path (item)));
      set->indices[n] = view->items[i];
      set->labels[n] = model_class[label];
      n++;
    }
  bt_split_view_free (view);

  if (set->paths->len == 0)
    {
      g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_NO_DATA,
                   _("The %s split has no images of the model’s classes"), bt_split_to_string (split));
      return FALSE;
    }
  return TRUE;
}

/* Transfer models and models with test-time augmentation: one prediction function per image (a
 * transfer model without augmentation decodes and runs the backbone on every core, the head in
 * batches). */
static gboolean
evaluate_per_image (BtModel *model, BtEvaluation *ev, const EvalImages *set, GCancellable *cancellable,
                    GError **error)
{
  const GPtrArray *paths = set->paths;

  if (model->tta == BT_TTA_NONE)
    {
      BtPrediction *res = bt_predict_files (model, (const char * const *) paths->pdata, paths->len, 0,
                                            NULL, NULL, cancellable);
      for (guint i = 0; i < paths->len; i++)
        if (res[i].logits != NULL)
          bt_evaluation_add_logits (ev, &model->calib, res[i].logits, res[i].unknown_score, set->labels[i],
                                    g_ptr_array_index (paths, i), set->indices[i]);
        else
          ev->n_skipped++;
      bt_predictions_free (res, paths->len);
      return !g_cancellable_set_error_if_cancelled (cancellable, error);
    }

  g_autofree float *logits = g_new (float, bt_net_n_classes (model->net));
  g_autofree float *features = g_new (float, bt_net_feature_dim (model->net));
  for (guint i = 0; i < paths->len; i++)
    {
      g_autoptr(BtImage) img = NULL;

      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        return FALSE;
      img = bt_image_decode_file_sized (g_ptr_array_index (paths, i), model->backbone_name != NULL ? 3 : model->prep.channels,
                                        BT_TENSOR_BOX (model->prep.width), BT_TENSOR_BOX (model->prep.height), NULL,
                                        cancellable, NULL, NULL);
      if (img != NULL && bt_model_image_outputs (model, img, logits, features, NULL))
        bt_evaluation_add_logits (ev, &model->calib, logits, bt_model_unknown_score (model, logits, features, NULL),
                                  set->labels[i], g_ptr_array_index (paths, i), set->indices[i]);
      else
        ev->n_skipped++;
    }
  return TRUE;
}

/* The engine's own networks: batches of EVAL_BATCH images decoded on a pool, one forward each. */
static gboolean
evaluate_batched (BtModel *model, BtEvaluation *ev, const EvalImages *set, GCancellable *cancellable,
                  GError **error)
{
  const GPtrArray *paths = set->paths;
  const int n_classes = bt_net_n_classes (model->net);
  const gsize image_floats = (gsize) model->prep.channels * model->prep.height * model->prep.width;
  g_autofree float *x = g_new (float, image_floats * EVAL_BATCH);
  g_autofree DecodeTask *tasks = g_new0 (DecodeTask, EVAL_BATCH);
  DecodeBatch batch = { .prep = &model->prep, .cancellable = cancellable };
  GThreadPool *pool;
  gboolean ok = TRUE;

  g_mutex_init (&batch.mutex);
  g_cond_init (&batch.cond);
  pool = g_thread_pool_new (decode_task_run, NULL, CLAMP ((int) g_get_num_processors (), 1, 8), FALSE, NULL);

  for (guint start = 0; start < paths->len && ok; start += EVAL_BATCH)
    {
      guint count = MIN (EVAL_BATCH, paths->len - start);
      g_autofree int *batch_index = g_new (int, count);
      int n_ok = 0;
      const float *probs;

      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        {
          ok = FALSE;
          break;
        }

      batch.pending = count;
      for (guint i = 0; i < count; i++)
        {
          tasks[i].batch = &batch;
          tasks[i].path = g_ptr_array_index (paths, start + i);
          tasks[i].out = x + image_floats * i;
          tasks[i].ok = FALSE;
          g_thread_pool_push (pool, &tasks[i], NULL);
        }
      g_mutex_lock (&batch.mutex);
      while (batch.pending > 0)
        g_cond_wait (&batch.cond, &batch.mutex);
      g_mutex_unlock (&batch.mutex);

      /* Compact the images that decoded to the front of the batch. */
      for (guint i = 0; i < count; i++)
        {
          if (!tasks[i].ok)
            {
              ev->n_skipped++;
              continue;
            }
          if ((guint) n_ok != i)
            memmove (x + image_floats * n_ok, x + image_floats * i, sizeof (float) * image_floats);
          batch_index[n_ok++] = start + i;
        }
      if (n_ok == 0)
        continue;

      /* one turn of the compute gate per batch, so a training run goes on in between */
      bt_compute_gate_enter ();
      probs = bt_net_forward (model->net, x, n_ok, FALSE, error);
      for (int i = 0; probs != NULL && i < n_ok; i++)
        {
          const float *logits = bt_net_logits (model->net) + (gsize) i * n_classes;
          const float *features = bt_net_features (model->net) + (gsize) i * bt_net_feature_dim (model->net);
          bt_evaluation_add_logits (ev, &model->calib, logits, bt_model_unknown_score (model, logits, features, NULL),
                                    set->labels[batch_index[i]], g_ptr_array_index (paths, batch_index[i]),
                                    set->indices[batch_index[i]]);
        }
      bt_compute_gate_leave ();
      ok = probs != NULL;
    }

  /* queued decodes finish before their tasks go away */
  g_thread_pool_free (pool, FALSE, TRUE);
  g_mutex_clear (&batch.mutex);
  g_cond_clear (&batch.cond);
  return ok;
}

BtEvaluation *
bt_evaluate_project (BtModel *model, BtProject *project, BtSplit split,
                     GCancellable *cancellable, GError **error)
{
  g_autoptr(BtEvaluation) ev = NULL;
  EvalImages set = { 0 };
  gboolean ok;

  g_return_val_if_fail (model != NULL && model->net != NULL, NULL);
  g_return_val_if_fail (BT_IS_PROJECT (project), NULL);
  g_return_val_if_fail (split < BT_N_SPLITS, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  ev = bt_evaluation_new (bt_net_n_classes (model->net), (const char * const *) model->class_names);
  ok = list_split (model, project, split, ev, &set, error);
  if (ok && (model->backbone_name != NULL || model->tta != BT_TTA_NONE))
    ok = evaluate_per_image (model, ev, &set, cancellable, error);
  else if (ok)
    ok = evaluate_batched (model, ev, &set, cancellable, error);
  if (ok && ev->n == 0)
    {
      g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_NO_DATA,
                   _("None of the %u images of the %s split could be read"),
                   set.paths->len, bt_split_to_string (split));
      ok = FALSE;
    }
  eval_images_clear (&set);
  if (!ok)
    return NULL;
  bt_evaluation_finish (ev);
  return g_steal_pointer (&ev);
}
