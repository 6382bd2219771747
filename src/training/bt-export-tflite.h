/* bt-export-tflite.h: exporting a saved .bottega-model to TensorFlow Lite from the app and the
 * CLI, and the note that tells a person how to run the file. The graph is written by
 * engine/bt-tflite-export.c. */
#pragma once

#include "training/bt-training.h"

G_BEGIN_DECLS

/* Loads model_path and writes out_path atomically (nothing is left on failure). A transfer
 * model's backbone: backbone_path (NULL: the one inside the model, or found on the backbone
 * search path), copied into the file as it is; a fine-tuned model's retrained top in float.
 * Blocking: call from a worker. */
gboolean bt_export_tflite (const char *model_path, const char *backbone_path, const char *out_path,
                           GError **error);

/* The full-integer int8 file (bt-tflite-export.h) of a model, its ranges measured on the images
 * calibration_paths (prepared with the model's recipe; unreadable ones left out), decoded here:
 * call from a worker or the CLI. A transfer model's backbone (backbone_path, as for
 * bt_export_tflite) stays as it is; its head is quantized on the sample's embeddings. */
gboolean bt_export_tflite_int8 (const char *model_path, const char *backbone_path,
                                const char * const *calibration_paths, const char *out_path,
                                GCancellable *cancellable, GError **error);
/* Up to max_images of the project's usable training images, evenly spread over the split (the
 * same every time): the calibration sample. Reads the item list: the project's own thread. */
char   **bt_export_tflite_calibration_paths (BtProject *project, guint max_images);
#define BT_EXPORT_TFLITE_CALIBRATION_IMAGES 200

/* Translated, multi-line text: input and output tensors, the classes, the preprocessing, and
 * how to run the file with the TFLite interpreter (Python, Android/Kotlin). */
char    *bt_export_tflite_describe (const BtModel *model);

G_END_DECLS
