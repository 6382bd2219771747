/* bt-kfold.c: k-fold cross-validation on top of the tune runner: folds from bt_folds_assign,
 * one BtTrainer trial per fold, mean ± standard deviation of the validation accuracy. */
#include "config.h"

#include <glib/gi18n-lib.h>
#include <math.h>

#include "training/bt-kfold.h"
#include "training/bt-training.h"

void
bt_kfold_result_free (BtKFoldResult *r)
{
  if (r == NULL)
    return;
  g_free (r->folds);
  g_free (r->fold_acc);
  g_free (r->fold_loss);
  g_free (r->fold_sizes);
  g_clear_pointer (&r->fold_trials, g_ptr_array_unref);
  g_free (r);
}

BtTuneTrial *
bt_kfold_setting_from_project (BtTuneData *d, int epochs)
{
  g_return_val_if_fail (d != NULL, NULL);
  const BtProjectSettings *s = bt_tune_data_get_settings (d);
  BtTuneTrial *t = bt_tune_trial_new ();
  t->preset = g_strdup (s->preset);
  t->optimizer = g_strdup (s->optimizer);
  t->learning_rate = s->learning_rate;
  t->batch_size = s->batch_size;
  t->dropout = s->dropout;
  t->weight_decay = s->weight_decay;
  t->augment = s->augment_flip || s->augment_crop || s->augment_rotate || s->augment_color;
  t->label_smoothing = s->label_smoothing;
  t->hidden = s->transfer_hidden;
  t->epochs = epochs > 0 ? epochs : s->epochs;
  t->seed = s->seed;
  return t;
}

BtKFoldResult *
bt_kfold_run (BtTuneData *d, const BtTuneTrial *setting, int k, BtKFoldFunc on_fold, gpointer user_data,
              GCancellable *cancellable, GError **error)
{
  g_return_val_if_fail (d != NULL && setting != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  guint n = bt_tune_data_get_n_items (d);
  g_autofree int *folds = g_new (int, MAX (n, 1));
  if (!bt_folds_assign (bt_tune_data_get_hashes (d), bt_tune_data_get_labels (d), n, k, folds, error))
    return NULL;
  g_autoptr (BtKFoldResult) r = g_new0 (BtKFoldResult, 1);
  r->k = k;
  r->n = n;
  r->folds = g_memdup2 (folds, sizeof (int) * MAX (n, 1));
  r->fold_acc = g_new0 (double, k);
  r->fold_loss = g_new0 (double, k);
  r->fold_sizes = g_new0 (guint, k);
  r->fold_trials = g_ptr_array_new_with_free_func ((GDestroyNotify) bt_tune_trial_free);
  g_autoptr (GArray) train = g_array_new (FALSE, FALSE, sizeof (guint));
  g_autoptr (GArray) val = g_array_new (FALSE, FALSE, sizeof (guint));
  for (int f = 0; f < k; f++)
    {
      g_array_set_size (train, 0);
      g_array_set_size (val, 0);
      for (guint i = 0; i < n; i++)
        g_array_append_val (folds[i] == f ? val : train, i);
      g_autoptr (BtTuneTrial) t = bt_tune_trial_copy (setting);
      t->index = f;
      if (!bt_tune_train (d, t, (guint *) train->data, train->len, (guint *) val->data, val->len,
                          cancellable, error))
        return NULL;
      r->fold_acc[f] = t->val_acc;
      r->fold_loss[f] = t->val_loss;
      r->fold_sizes[f] = val->len;
      g_ptr_array_add (r->fold_trials, bt_tune_trial_copy (t));
      if (on_fold)
        on_fold (f, t, user_data);
    }
  double sum = 0, sq = 0;
  r->min_acc = INFINITY;
  r->max_acc = -INFINITY;
  for (int f = 0; f < k; f++)
    {
      sum += r->fold_acc[f];
      r->min_acc = MIN (r->min_acc, r->fold_acc[f]);
      r->max_acc = MAX (r->max_acc, r->fold_acc[f]);
    }
  r->mean_acc = sum / k;
  for (int f = 0; f < k; f++)
    sq += (r->fold_acc[f] - r->mean_acc) * (r->fold_acc[f] - r->mean_acc);
  r->std_acc = sqrt (sq / (k - 1));
  return g_steal_pointer (&r);
}
