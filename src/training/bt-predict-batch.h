/* bt-predict-batch.h: predictions for many image files at once (`bottega-cli predict FOLDER`,
 * Test a Folder): decoding and a transfer model's backbone run on every core, one image per
 * worker, and the network or head runs in batches on the calling thread. */
#pragma once

#include "training/bt-training.h"

G_BEGIN_DECLS

typedef struct {
  float  *probs;          /* n_classes calibrated probabilities, NULL when the image failed */
  float  *logits;         /* n_classes raw logits (for evaluation), NULL when it failed */
  double  unknown_score;
  double  energy, distance; /* the unknown score's parts (bt_unknown_parts), NAN when not computed */
  GError *error;          /* why it failed */
} BtPrediction;

/* Called on the calling thread after each batch. */
typedef void (*BtPredictProgress) (guint done, guint total, gpointer user_data);

/* One result per path, in order (free with bt_predictions_free). n_threads ≤ 0: every core.
 * Cancelled → the images not reached fail with G_IO_ERROR_CANCELLED. */
BtPrediction *bt_predict_files      (BtModel *model, const char * const *paths, guint n,
                                     int n_threads, BtPredictProgress progress, gpointer user_data,
                                     GCancellable *cancellable);
void          bt_predictions_free   (BtPrediction *results, guint n);

G_END_DECLS
