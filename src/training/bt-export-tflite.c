/* bt-export-tflite.c: .bottega-model → TensorFlow Lite for the app and the CLI
 * (bt-export-tflite.h). */
#include "config.h"

#include "training/bt-export-tflite.h"
#include "training/bt-export-onnx.h"
#include "engine/bt-tflite-export.h"

#include <glib/gi18n-lib.h>

gboolean
bt_export_tflite (const char *model_path, const char *out_path, GError **error)
{
  g_return_val_if_fail (model_path != NULL && out_path != NULL, FALSE);
  g_autoptr(BtModel) model = bt_model_load (model_path, error);
  if (model == NULL)
    return FALSE;
  return bt_tflite_export_model (model, out_path, error);
}

char *
bt_export_tflite_describe (const BtModel *model)
{
  g_return_val_if_fail (model != NULL && model->net != NULL, NULL);
  const BtPreprocess *p = &model->prep;
  int k = bt_net_n_classes (model->net);
  GString *s = g_string_new (NULL);
  g_string_append_printf (s, _("Input “image”: float32, 1 × %d × %d × %d (batch, height, width, channels)\n"),
                          p->height, p->width, p->channels);
  g_string_append_printf (s, _("Output “probabilities”: float32, 1 × %d, one column per class in this order:\n"), k);
  g_autofree char *names = g_strjoinv (", ", model->class_names);
  g_string_append_printf (s, "  %s\n", names);
  bt_export_append_preprocessing (s, p, TRUE);
  g_string_append (s, _("The class names and this recipe are also stored in the file's metadata "
                        "(entries “labels” and “preprocessing”, JSON).\n\n"));
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
