/* bt-doctor-private.h: what bt-doctor.c shares with bt-doctor-folds.c (the out-of-fold
 * training of the project's preset). No GTK. */
#pragma once

#include <gio/gio.h>

#include "engine/bt-engine.h"

G_BEGIN_DECLS

/* What one fold model is and how it is trained. Exactly one of `features` and `pixels` is set:
 * features (n × dim, standardized) train a dense head (the transfer preset's head, `hidden`
 * units, 0 = none); pixels (n × width×height×channels, uint8 HWC) train `preset` at that size. */
typedef struct {
  const float  *features;
  int           dim, hidden;
  const guint8 *pixels;
  int           width, height, channels;
  BtPreset      preset;
  float         dropout;          /* < 0: the preset's default */
  BtOptimizerKind optimizer;
  float         learning_rate, weight_decay;
  int           batch_size, epochs;
  guint64       seed;
} BtDoctorFoldModel;

typedef void (*BtDoctorFoldProgress) (double fraction, gpointer user_data);

/* Out-of-fold probabilities: for each fold f of `folds` (fold[i] in 0…k−1, or −1 for an image
 * left out), a fresh model is trained on the labelled images of the other folds and predicts
 * P (n × classes) for the images of fold f, so no image is scored by a model that saw it.
 * Rows of images left out stay as they were. Deterministic for the model's seed. */
gboolean bt_doctor_out_of_fold (const BtDoctorFoldModel *m, const int *labels, const int *fold, guint n,
                                int classes, int k, double *P, BtDoctorFoldProgress progress,
                                gpointer user_data, GCancellable *cancellable, GError **error);

G_END_DECLS
