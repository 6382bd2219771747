/* bt-calibration.h: fitting a model's calibration on the validation split — the temperature
 * that makes its percentages honest, the unknown-score threshold — and the expected
 * calibration error that measures both. Pure numerics, no I/O. */
#pragma once

#include <glib.h>

#include "engine/bt-engine.h"

G_BEGIN_DECLS

#define BT_ECE_BINS 15
#define BT_UNKNOWN_ACCEPT 0.95   /* share of validation images the threshold accepts */

/* Mean negative log-likelihood of softmax(logits / t), summed in double. logits: [n, k] */
double   bt_calibration_nll             (const float *logits, const int *labels, gsize n, int k, double t);
/* The t in [BT_TEMPERATURE_MIN, BT_TEMPERATURE_MAX] minimizing bt_calibration_nll
 * (golden-section search on log t; the NLL is convex in 1/t). 1 when n = 0. */
double   bt_calibration_fit_temperature (const float *logits, const int *labels, gsize n, int k);
/* The smallest score at or below which at least `accept` of the scores lie. NAN when n = 0. */
double   bt_calibration_fit_threshold   (const double *scores, gsize n, double accept);
/* All at once into *calib: the temperature first, then the energy threshold at that temperature;
 * with distances (n values: bt_centroids_distance of the same images' features) also the combined
 * score's centers and scales and its threshold (see BtCalibration). */
void     bt_calibration_fit             (const float *logits, const int *labels, gsize n, int k,
                                         const double *distances, BtCalibration *calib);
/* The class centroids and spreads of n feature rows ([n, dim]) with their labels (0 … k−1); NULL
 * when a class has no row. The same in steps (rows added batch by batch, nothing kept but sums):
 * new, add …, finish (which may be called again after more adds), free. */
BtCentroids *bt_centroids_fit           (const float *features, const int *labels, gsize n, int k, int dim);
typedef struct _BtCentroidsFit BtCentroidsFit;
BtCentroidsFit *bt_centroids_fit_new    (int k, int dim);   /* NULL when too big for memory */
void         bt_centroids_fit_add       (BtCentroidsFit *fit, const float *features, const int *labels, gsize n);
BtCentroids *bt_centroids_fit_finish    (const BtCentroidsFit *fit);
void         bt_centroids_fit_free      (BtCentroidsFit *fit);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BtCentroidsFit, bt_centroids_fit_free)
/* Expected calibration error of top-1 predictions: equal-width bins over (0, 1], Σ |bin| / n ·
 * |accuracy(bin) − mean confidence(bin)|. 0 when n = 0. */
double   bt_calibration_ece             (const float *confidence, const gboolean *correct, gsize n,
                                         int n_bins);

/* The reliability diagram behind it: per bin, the images, their mean confidence and the share
 * right (both NAN for an empty bin). count/mean_confidence/accuracy hold n_bins values. */
void     bt_calibration_reliability     (const float *confidence, const gboolean *correct, gsize n,
                                         int n_bins, guint *count, double *mean_confidence,
                                         double *accuracy);
/* One class against the rest at a threshold on its probability: precision (NAN when nothing is
 * at or above it) and recall (NAN without positives). */
void     bt_threshold_scores            (const float *scores, const gboolean *positive, gsize n,
                                         double threshold, double *precision, double *recall);

G_END_DECLS
