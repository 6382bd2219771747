/* bt-export-onnx.c: .bottega-model → ONNX for the app and the CLI, and the summary shown to
 * the user (bt-export-onnx.h). The graph itself is written by engine/bt-onnx.c. */
#include "config.h"

#include "training/bt-export-onnx.h"
#include "training/bt-transfer.h"
#include "engine/bt-onnx.h"

#include <glib/gi18n-lib.h>
#include <string.h>

static char *
file_sha256 (const char *path, GError **error)
{
  g_autoptr(GMappedFile) f = g_mapped_file_new (path, FALSE, error);
  if (f == NULL)
    return NULL;
  return g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guchar *) g_mapped_file_get_contents (f),
                                      g_mapped_file_get_length (f));
}

/* The backbone a transfer model names: given, on the backbone search path (bt-transfer.h), or
 * beside the model file. */
static char *
find_backbone (const BtModel *model, const char *model_path, const char *given, GError **error)
{
  g_autoptr(GPtrArray) tried = g_ptr_array_new_with_free_func (g_free);
  if (given != NULL)
    g_ptr_array_add (tried, g_strdup (given));
  else if (model->backbone_name != NULL)
    {
      char *found = bt_backbone_find (model->backbone_name, NULL);
      if (found != NULL)
        g_ptr_array_add (tried, found);
      g_autofree char *base = g_path_get_basename (model->backbone_name);
      g_autofree char *dir = g_path_get_dirname (model_path);
      g_ptr_array_add (tried, g_build_filename (dir, base, NULL));
    }
  for (guint i = 0; i < tried->len; i++)
    {
      const char *path = g_ptr_array_index (tried, i);
      if (!g_file_test (path, G_FILE_TEST_IS_REGULAR))
        continue;
      if (model->backbone_sha256 != NULL)
        {
          g_autofree char *sum = file_sha256 (path, error);
          if (sum == NULL)
            return NULL;
          if (g_ascii_strcasecmp (sum, model->backbone_sha256) != 0)
            {
              g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID,
                           _("“%s” is not the backbone this model was trained on (its SHA-256 differs)"), path);
              return NULL;
            }
        }
      return g_strdup (path);
    }
  g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID,
               _("This transfer model needs its backbone “%s” to be exported; give its file"),
               model->backbone_name ? model->backbone_name : "?");
  return NULL;
}

gboolean
bt_export_onnx (const char *model_path, const char *backbone_path, BtOnnxForm form, const char *out_path,
                GError **error)
{
  g_return_val_if_fail (model_path != NULL && out_path != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  g_autoptr(BtModel) model = bt_model_load (model_path, error);
  if (model == NULL)
    return FALSE;
  g_autofree char *bb = NULL;
  /* a self-contained model carries its backbone unless another file is given */
  if (bt_net_preset (model->net) == BT_PRESET_TRANSFER && (model->backbone_data == NULL || backbone_path != NULL))
    {
      bb = find_backbone (model, model_path, backbone_path, error);
      if (bb == NULL)
        return FALSE;
    }
  return bt_onnx_export_model (model, bb, form, out_path, error);
}

typedef struct { char *model, *backbone, *out; BtOnnxForm form; } Job;

static void
job_free (Job *j)
{
  g_free (j->model);
  g_free (j->backbone);
  g_free (j->out);
  g_free (j);
}

static void
export_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  Job *j = data;
  GError *error = NULL;
  if (bt_export_onnx (j->model, j->backbone, j->form, j->out, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

void
bt_export_onnx_async (const char *model_path, const char *backbone_path, BtOnnxForm form,
                      const char *out_path, GCancellable *cancellable, GAsyncReadyCallback callback,
                      gpointer user_data)
{
  g_return_if_fail (model_path != NULL && out_path != NULL);
  Job *j = g_new0 (Job, 1);
  j->model = g_strdup (model_path);
  j->backbone = g_strdup (backbone_path);
  j->out = g_strdup (out_path);
  j->form = form;
  g_autoptr(GTask) task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, bt_export_onnx_async);
  g_task_set_task_data (task, j, (GDestroyNotify) job_free);
  g_task_run_in_thread (task, export_thread);
}

gboolean
bt_export_onnx_finish (GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
append_floats (GString *s, const float *v, int n)
{
  g_string_append_c (s, '[');
  for (int i = 0; i < n; i++)
    {
      char buf[G_ASCII_DTOSTR_BUF_SIZE];
      g_ascii_formatd (buf, sizeof buf, "%.6g", (double) v[i]);
      g_string_append_printf (s, "%s%s", i ? ", " : "", buf);
    }
  g_string_append_c (s, ']');
}

/* The input and output, the classes and the preprocessing recipe in words, for the notes of every
 * export. */
void
bt_export_append_io (GString *s, const BtModel *model, gboolean channels_last)
{
  const BtPreprocess *p = &model->prep;
  int k = bt_net_n_classes (model->net);
  if (channels_last)
    {
      g_string_append_printf (s, _("Input “image”: float32, 1 × %d × %d × %d (batch, height, width, channels)\n"),
                              p->height, p->width, p->channels);
      g_string_append_printf (s, _("Output “probabilities”: float32, 1 × %d, one column per class in this order:\n"), k);
    }
  else
    {
      g_string_append_printf (s, _("Input “image”: float32, N × %d × %d × %d (batch, channels, height, width)\n"),
                              p->channels, p->height, p->width);
      g_string_append_printf (s, _("Output “probabilities”: float32, N × %d, one column per class in this order:\n"), k);
    }
  g_autofree char *names = g_strjoinv (", ", model->class_names);
  g_string_append_printf (s, "  %s\n", names);
  const char *resize = p->resize == BT_RESIZE_CENTER_CROP ? _("scale to cover, then crop the centre")
                       : p->resize == BT_RESIZE_PAD ? _("scale to fit, then pad with black")
                       : _("stretch to the size, ignoring the aspect ratio");
  g_string_append_printf (s, _("Preprocessing: resize every image to %d × %d (%s), %s,\n"), p->width, p->height,
                          resize, p->channels == 1 ? _("greyscale") : _("RGB channel order"));
  char scale[G_ASCII_DTOSTR_BUF_SIZE];
  g_ascii_formatd (scale, sizeof scale, "%.8g", (double) p->scale);
  g_string_append_printf (s, _("  then per channel x = (pixel × %s − mean) / std with mean "), scale);
  append_floats (s, p->mean, MIN (p->channels, 3));
  g_string_append (s, _(" and std "));
  append_floats (s, p->std, MIN (p->channels, 3));
  g_string_append (s, channels_last ? _(", channels last.\n") : _(", channels first.\n"));
}

char *
bt_export_onnx_describe (const BtModel *model)
{
  g_return_val_if_fail (model != NULL && model->net != NULL, NULL);
  GString *s = g_string_new (NULL);
  bt_export_append_io (s, model, FALSE);
  g_string_append (s, _("The class names and this recipe are also stored in the file's metadata "
                        "(keys “labels” and “preprocessing”, JSON).\n"));
  char t[G_ASCII_DTOSTR_BUF_SIZE];
  g_ascii_formatd (t, sizeof t, "%.4g", model->calib.temperature);
  g_string_append_printf (s, _("The probabilities are the model’s own, as Bottega shows them: its calibration "
                               "temperature (%s) is built into the file.\n"
                               "Output “unknown_score”: float32, N; the higher, the less the image looks like "
                               "any class (not in the file made with --opencv).\n"
                               "The metadata also holds the model’s decision rule: “calibration_temperature”, "
                               "“unknown_threshold” and “class_thresholds” when they are set, and "
                               "“decision_rule”, which says in words how to use them.\n\n"), t);
  g_string_append (s, _("Python (ONNX Runtime):\n"
                        "  import onnxruntime as ort\n"
                        "  session = ort.InferenceSession(\"model.onnx\")\n"
                        "  probabilities = session.run(None, {\"image\": x})[0]\n"
                        "Python or C++ (OpenCV 4.6 needs the file from “bottega-cli export MODEL --onnx OUT --opencv”;\n"
                        "OpenCV 4.7 and later read this one):\n"
                        "  net = cv2.dnn.readNetFromONNX(\"model.onnx\")\n"
                        "  net.setInput(x); probabilities = net.forward()\n"
                        "  cv::dnn::Net net = cv::dnn::readNetFromONNX(\"model.onnx\");\n"));
  return g_string_free (s, FALSE);
}
