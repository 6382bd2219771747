/* bt-tflite-classifier.h: a TensorFlow Lite image classifier opened as it is (the Test page's
 * Open Model File…): a file Bottega exported, with its class names and preprocessing recipe in
 * its metadata, or any other one-image-in, one-score-per-class-out model (classes numbered). */
#pragma once

#include "dataset/bt-dataset.h"
#include "engine/bt-tflite.h"

G_BEGIN_DECLS

#define BT_TFLITE_CLASSIFIER_MAX_CLASSES 10000

/* Immutable once loaded; shareable between threads (each prediction makes its own executor). */
typedef struct {
  gatomicrefcount ref;
  BtTflite     *tflite;
  char        **class_names;   /* NULL-terminated: the file's "labels", or "Class 1" … */
  gboolean      has_names;     /* FALSE: the file has no labels; the names are numbers */
  gboolean      has_recipe;    /* FALSE: no "preprocessing" entry; from the input tensor */
  int           n_classes;
  BtPreprocess  prep;
  /* The file's "thresholds" entry (Bottega's exports): its temperature (already folded into the
   * network) and unknown threshold, each class's saved threshold (NAN: none; NULL without the
   * entry), decided by bt_answer_rule as the .bottega-model is. */
  gboolean      has_thresholds;
  BtCalibration calib;
  double       *class_thresholds;
  int           logits;        /* the tensor the final softmax takes (the unknown score's), or -1 */
} BtTfliteClassifier;

/* Reads and checks the file (untrusted: every field, the metadata's JSON, the shapes; one trial
 * run on a grey image). Worker threads only: it parses and computes. */
BtTfliteClassifier *bt_tflite_classifier_load  (const char *path, GError **error);
BtTfliteClassifier *bt_tflite_classifier_ref   (BtTfliteClassifier *c);
void                bt_tflite_classifier_unref (BtTfliteClassifier *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BtTfliteClassifier, bt_tflite_classifier_unref)

/* n_classes probabilities (newly allocated), or NULL and an error. Worker threads only.
 * unknown_score (may be NULL): −T·logsumexp of the file's logits when it has a "thresholds"
 * entry and a softmax output, else NAN (never unknown). */
float *bt_tflite_classifier_predict_image (BtTfliteClassifier *c, const BtImage *image, double *unknown_score,
                                           GError **error);
float *bt_tflite_classifier_predict_file  (BtTfliteClassifier *c, const char *path, double *unknown_score,
                                           GCancellable *cancellable, GError **error);
/* The verdict of a prediction: bt_answer_rule with the file's thresholds (a file without them:
 * always the top class). */
BtAnswer bt_tflite_classifier_answer (const BtTfliteClassifier *c, const float *probs, double unknown_score,
                                      int *top);

/* The parsers for the metadata Bottega writes (bt_onnx_labels_json, bt_onnx_preprocessing_json);
 * exposed for the tests. */
char   **bt_tflite_labels_from_json        (const char *json, gsize len, GError **error);
gboolean bt_tflite_preprocessing_from_json (const char *json, gsize len, BtPreprocess *prep, GError **error);
/* The "thresholds" entry for class_names (n of them): *calib, and *class_thresholds (one per
 * class, NAN: none; newly allocated). Every value checked: a temperature in range, a finite
 * unknown threshold or null, probabilities in [0, 1] of classes the file names, once each. */
gboolean bt_tflite_thresholds_from_json   (const char *json, gsize len, const char * const *class_names, int n,
                                           BtCalibration *calib, double **class_thresholds, GError **error);

G_END_DECLS
