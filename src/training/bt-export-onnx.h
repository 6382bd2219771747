/* bt-export-onnx.h: exporting a saved .bottega-model to ONNX from the app and the CLI
 * (backbone lookup and check for transfer models, the user-facing summary of the file). */
#pragma once

#include "training/bt-training.h"
#include "engine/bt-onnx.h"

G_BEGIN_DECLS

/* Loads model_path and writes out_path (atomically). Transfer models need their TFLite
 * backbone: backbone_path, or NULL to look for the file the model names on the backbone search
 * path (bt_backbone_find) and then beside the model; its SHA-256 must match the one recorded in
 * the model. form: BT_ONNX_FORM_FAST for ONNX Runtime and most runtimes, BT_ONNX_FORM_OPENCV for
 * OpenCV 4.6's importer (bt-onnx.h). Blocking: call from a worker or use the async variant. */
gboolean bt_export_onnx (const char *model_path, const char *backbone_path, BtOnnxForm form,
                         const char *out_path, GError **error);
void     bt_export_onnx_async  (const char *model_path, const char *backbone_path, BtOnnxForm form,
                                const char *out_path, GCancellable *cancellable,
                                GAsyncReadyCallback callback, gpointer user_data);
gboolean bt_export_onnx_finish (GAsyncResult *result, GError **error);

/* Translated, multi-line text for people: the file's input and output, the classes, the
 * preprocessing spelled out, and how to run it from Python and C++ (OpenCV, ONNX Runtime). */
char    *bt_export_onnx_describe (const BtModel *model);

/* Appends the file's input and output lines, the class names in column order and the preprocessing
 * recipe in words (resize, colour, x = (pixel × scale − mean) / std) to s. channels_last: the TFLite
 * layout (1 × H × W × C) instead of ONNX's (N × C × H × W). Shared by the exports' notes. */
void     bt_export_append_io (GString *s, const BtModel *model, gboolean channels_last);

G_END_DECLS
