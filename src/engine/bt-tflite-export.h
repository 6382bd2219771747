/* bt-tflite-export.h: Bottega networks written as TensorFlow Lite files (schema version 3), for
 * phones and for any TFLite interpreter. One float32 graph, batch 1, input "image" as NHWC
 * preprocessed floats (the model's own recipe, given in the metadata), output "probabilities". */
#pragma once

#include "engine/bt-engine.h"
#include "engine/bt-tflite.h"

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
 * unknown_threshold on −T·logsumexp of that output or null, classes: name → saved threshold).
 * A transfer model needs its backbone (loaded, and the bytes it was loaded from): its graph up
 * to the embedding is copied as it is (quantized tensors, their quantization, operators), a
 * QUANTIZE in front when its input is quantized and a DEQUANTIZE before the float head. A
 * model whose backbone was fine-tuned (format 3) keeps the quantized operators below the first
 * retrained one; from there on, after a DEQUANTIZE, every operator is float: the retrained
 * convolutions with their float weights, the others with the file's dequantized ones, each
 * clamped as Bottega's float path clamps (ReLU6 where the quantized range was [0, 6]). Backbone
 * operators this writer does not copy: BT_ENGINE_ERROR_UNSUPPORTED. */
GBytes  *bt_tflite_export_model_bytes (const BtModel *model, const BtTflite *backbone, GBytes *backbone_file,
                                       GError **error);
/* The same written atomically to path. */
gboolean bt_tflite_export_model (const BtModel *model, const BtTflite *backbone, GBytes *backbone_file,
                                 const char *path, GError **error);

/* Full-integer int8: the float file Bottega wrote (bt_tflite_export_*), run on calibration
 * images (its input: float NCHW, the preprocessed image) to measure every tensor's range, then
 * written again with int8 activations (asymmetric, per tensor), int8 weights (symmetric, per
 * output channel), int32 biases; input "image" and the outputs int8 (probabilities at scale
 * 1/256, zero point −128). input_range (NULL: measured): the real values of the input's lowest
 * and highest level, so a [0, 1] recipe gives pixel − 128. A transfer model's file keeps its
 * backbone's quantized operators and tensors as they are (input "image" int8 at the backbone's
 * input scale, an exact QUANTIZE to a uint8 backbone and from its uint8 embedding) and only its
 * float head is quantized, on the ranges its embeddings gave (input_range is not used). Any
 * other mix of quantized and float tensors: BT_ENGINE_ERROR_UNSUPPORTED. Metadata: the float
 * file's and "quantization" ({"type":"int8","calibration_images":N}). */
typedef struct _BtTfliteCalibration BtTfliteCalibration;
BtTfliteCalibration *bt_tflite_calibration_new        (GBytes *float_file, GError **error);
gboolean             bt_tflite_calibration_add        (BtTfliteCalibration *c, const float *x, GError **error);
guint                bt_tflite_calibration_n_images   (const BtTfliteCalibration *c);
GBytes              *bt_tflite_calibration_finish_int8 (BtTfliteCalibration *c, const float input_range[2],
                                                        GError **error);
/* The real range of pixels 0 … 255 under prep, when every channel shares mean and std (FALSE
 * otherwise: the input range is then measured). */
gboolean             bt_tflite_recipe_input_range     (const BtPreprocess *prep, float range[2]);
void                 bt_tflite_calibration_free       (BtTfliteCalibration *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BtTfliteCalibration, bt_tflite_calibration_free)

G_END_DECLS
