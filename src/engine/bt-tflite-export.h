/* bt-tflite-export.h: Bottega networks written as TensorFlow Lite files (schema version 3), for
 * phones and for any TFLite interpreter. One float32 graph, batch 1, input "image" as NHWC
 * preprocessed floats (the model's own recipe, given in the metadata), output "probabilities". */
#pragma once

#include "engine/bt-engine.h"

G_BEGIN_DECLS

/* The net (any preset but a transfer head) as a .tflite file's bytes. Metadata entries "labels"
 * (JSON array), "preprocessing" (JSON object, as in the ONNX export), "bottega_preset" and
 * "thresholds" (temperature 1, none).
 * BT_ENGINE_ERROR_UNSUPPORTED for a layer TFLite cannot express (grouped convolution,
 * pooling with padding other than SAME/VALID), BT_ENGINE_ERROR_INVALID for mismatched names. */
GBytes  *bt_tflite_export_net   (BtNet *net, const char * const *class_names, const BtPreprocess *prep,
                                 GError **error);
/* The same for a loaded model: its calibration temperature folded into the last layer (the
 * output "probabilities" is softmax (logits / T), as the model predicts; a second output
 * "logits" gives logits / T) and a metadata entry "thresholds" (JSON: temperature,
 * unknown_threshold on −T·logsumexp of that output or null, classes: name → saved threshold). */
GBytes  *bt_tflite_export_model_bytes (const BtModel *model, GError **error);
/* The model written atomically to path; transfer models are not supported yet
 * (BT_ENGINE_ERROR_UNSUPPORTED, with a message pointing to ONNX). */
gboolean bt_tflite_export_model (const BtModel *model, const char *path, GError **error);

G_END_DECLS
