/* bt-export-tflite.c: .bottega-model → TensorFlow Lite for the app and the CLI
 * (bt-export-tflite.h). */
#include "config.h"

#include "training/bt-export-tflite.h"
#include "training/bt-export-onnx.h"
#include "training/bt-transfer.h"
#include "training/bt-training-private.h"
#include "engine/bt-tflite-export.h"

#include <glib/gi18n-lib.h>

/* A transfer model's backbone: the given file (which must be the one it was trained on), else
 * the one inside the model or on the backbone search path (bt_backbone_get_for_model). */
static BtBackbone *
model_backbone (const BtModel *model, const char *backbone_path, GError **error)
{
  if (backbone_path == NULL)
    return bt_backbone_get_for_model (model, error);
  g_autoptr(BtBackbone) bb = bt_backbone_load_path (backbone_path, error);
  if (bb == NULL)
    return NULL;
  if (model->backbone_sha256 != NULL
      && g_ascii_strcasecmp (bt_backbone_get_sha256 (bb), model->backbone_sha256) != 0)
    {
      g_autofree char *display = g_filename_display_name (backbone_path);
      g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID,
                   _("“%s” is not the backbone this model was trained on (its SHA-256 differs)"), display);
      return NULL;
    }
  return g_steal_pointer (&bb);
}

/* The model file and, for a transfer model, its backbone (*bb; NULL otherwise). */
static BtModel *
load_with_backbone (const char *model_path, const char *backbone_path, BtBackbone **bb, GError **error)
{
  g_autoptr(BtModel) model = bt_model_load (model_path, error);
  if (model == NULL)
    return NULL;
  if (bt_net_preset (model->net) == BT_PRESET_TRANSFER && (*bb = model_backbone (model, backbone_path, error)) == NULL)
    return NULL;
  return g_steal_pointer (&model);
}

gboolean
bt_export_tflite (const char *model_path, const char *backbone_path, const char *out_path, GError **error)
{
  g_return_val_if_fail (model_path != NULL && out_path != NULL, FALSE);
  g_autoptr(BtBackbone) bb = NULL;
  g_autoptr(BtModel) model = load_with_backbone (model_path, backbone_path, &bb, error);
  if (model == NULL)
    return FALSE;
  return bt_tflite_export_model (model, bb ? bt_backbone_get_model (bb) : NULL,
                                 bb ? bt_backbone_get_bytes (bb) : NULL, out_path, error);
}

char **
bt_export_tflite_calibration_paths (BtProject *project, guint max_images)
{
  g_return_val_if_fail (BT_IS_PROJECT (project), NULL);
  g_autoptr(BtSplitView) view = bt_project_split_view (project, BT_SPLIT_TRAIN);
  GListModel *items = bt_project_get_items (project);
  guint n = MIN (view->n, MAX (max_images, 1));
  char **paths = g_new0 (char *, n + 1);
  /* evenly spread over the split, the same sample every time */
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(BtItem) item = g_list_model_get_item (items, view->items[(guint) ((guint64) i * view->n / n)]);
      paths[i] = g_strdup (bt_item_get_path (item));
    }
  return paths;
}

gboolean
bt_export_tflite_int8 (const char *model_path, const char *backbone_path, const char * const *calibration_paths,
                       const char *out_path, GCancellable *cancellable, GError **error)
{
  g_return_val_if_fail (model_path != NULL && calibration_paths != NULL && out_path != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  /* a transfer model: its float file (the backbone's quantized graph + the float head), whose
   * head the calibration quantizes on the embeddings of the sample */
  g_autoptr(BtBackbone) bb = NULL;
  g_autoptr(BtModel) model = load_with_backbone (model_path, backbone_path, &bb, error);
  if (model == NULL)
    return FALSE;
  g_autoptr(GBytes) fl = bt_tflite_export_model_bytes (model, bb ? bt_backbone_get_model (bb) : NULL,
                                                       bb ? bt_backbone_get_bytes (bb) : NULL, error);
  if (fl == NULL)
    return FALSE;
  g_autoptr(BtTfliteCalibration) calib = bt_tflite_calibration_new (fl, error);
  if (calib == NULL)
    return FALSE;
  const BtPreprocess *prep = &model->prep;
  g_autofree float *x = g_new (float, (gsize) prep->channels * prep->height * prep->width);
  for (guint i = 0; calibration_paths[i] != NULL; i++)
    {
      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        return FALSE;
      /* an image that cannot be read now is left out, as training leaves it out */
      if (bt_prepare_image_file (prep, calibration_paths[i], x, cancellable, NULL)
          && !bt_tflite_calibration_add (calib, x, error))
        return FALSE;
    }
  if (bt_tflite_calibration_n_images (calib) == 0)
    {
      g_set_error_literal (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID,
                           _("The project has no readable training image to calibrate the int8 file with"));
      return FALSE;
    }
  float range[2];
  g_autoptr(GBytes) q = bt_tflite_calibration_finish_int8 (calib, bt_tflite_recipe_input_range (prep, range) ? range
                                                                                                        : NULL,
                                                           error);
  if (q == NULL)
    return FALSE;
  gsize len;
  const char *data = g_bytes_get_data (q, &len);
  return bt_write_file_atomic (out_path, data, len, error);
}

char *
bt_export_tflite_describe (const BtModel *model)
{
  g_return_val_if_fail (model != NULL && model->net != NULL, NULL);
  int k = bt_net_n_classes (model->net);
  GString *s = g_string_new (NULL);
  bt_export_append_io (s, model, TRUE);
  g_string_append_printf (s, _("Second output “logits”: float32, 1 × %d, the scores before the softmax, "
                                "already divided by the model’s temperature.\n"), k);
  g_string_append (s, _("The class names and this recipe are also stored in the file's metadata "
                        "(entries “labels” and “preprocessing”, JSON).\n\n"));
  g_string_append (s, _("The metadata entry “thresholds” (JSON) holds the model’s temperature, its unknown "
                        "threshold (an image whose score −temperature × logsumexp(logits) is above it is "
                        "not one of the classes) and each class’s saved threshold.\n\n"));
  g_string_append (s, _("Python (TensorFlow Lite interpreter):\n"
                        "  interpreter = tflite.Interpreter(model_path=\"model.tflite\")\n"
                        "  interpreter.allocate_tensors()\n"
                        "  interpreter.set_tensor(interpreter.get_input_details()[0][\"index\"], x)\n"
                        "  interpreter.invoke()\n"
                        "  probabilities = interpreter.get_tensor(interpreter.get_output_details()[0][\"index\"])\n"
                        "Android (Kotlin):\n"
                        "  val interpreter = Interpreter(FileUtil.loadMappedFile(context, \"model.tflite\"))\n"
                        "  interpreter.run(input, output)\n"));
  return g_string_free (s, FALSE);
}
