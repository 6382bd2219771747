/* bt-kfold.h: k-fold cross-validation of one setting on the train+validation images
 * (stratified folds from the content hash; the test split stays out). No GTK. */
#pragma once

#include "training/bt-tune.h"

G_BEGIN_DECLS

typedef struct {
  int      k;
  guint    n;                      /* train+val images of the data */
  int     *folds;                  /* n: the fold in which each image was validated */
  double  *fold_acc, *fold_loss;   /* k each: the best epoch of each fold */
  GPtrArray *fold_trials;          /* BtTuneTrial*, with per-fold curves */
  guint   *fold_sizes;             /* validation images of each fold */
  double   mean_acc, std_acc;      /* std: sample standard deviation over the folds */
  double   min_acc, max_acc;
} BtKFoldResult;
void bt_kfold_result_free (BtKFoldResult *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BtKFoldResult, bt_kfold_result_free)

typedef void (*BtKFoldFunc) (int fold, const BtTuneTrial *trial, gpointer user_data);
/* Trains `setting` (hyperparameters, seed and epochs of a trial) k times, each time validating
 * on one fold and training on the others. on_fold is called from this thread after each fold. */
BtKFoldResult *bt_kfold_run (BtTuneData *d, const BtTuneTrial *setting, int k, BtKFoldFunc on_fold,
                             gpointer user_data, GCancellable *cancellable, GError **error);
/* A trial holding the data's project settings (config 0), for cross-validating them. */
BtTuneTrial   *bt_kfold_setting_from_project (BtTuneData *d, int epochs);

G_END_DECLS
