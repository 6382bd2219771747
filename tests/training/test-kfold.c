/* test-kfold.c: stratified k-fold from the content hash — folds are disjoint and stratified,
 * every image is validated exactly once, the same hashes give the same folds in any order,
 * cross-validation results are reproducible and never read the test split. */
#include "config.h"

#include <math.h>

#include "training/bt-kfold.h"
#include "training/bt-training.h"
#include "bt-test-tune-util.h"

static void
test_assign (void)
{
  const guint n = 103;
  const int n_classes = 4;
  guint64 hashes[103];
  int labels[103], folds[103], folds2[103];
  BtRng rng;
  bt_rng_seed (&rng, 5);
  for (guint i = 0; i < n; i++)
    {
      hashes[i] = bt_rng_next (&rng);
      labels[i] = i < 10 ? 3 : (int) bt_rng_below (&rng, 3);   /* an uneven, small class too */
    }
  for (int k = BT_FOLDS_MIN; k <= BT_FOLDS_MAX; k++)
    {
      g_autoptr (GError) error = NULL;
      g_assert_true (bt_folds_assign (hashes, labels, n, k, folds, &error));
      g_assert_no_error (error);
      int count[BT_FOLDS_MAX][4] = { { 0 } }, size[BT_FOLDS_MAX] = { 0 };
      for (guint i = 0; i < n; i++)
        {
          g_assert_cmpint (folds[i], >=, 0);
          g_assert_cmpint (folds[i], <, k);
          count[folds[i]][labels[i]]++;
          size[folds[i]]++;
        }
      for (int c = 0; c < n_classes; c++)
        {
          int lo = G_MAXINT, hi = 0;
          for (int f = 0; f < k; f++)
            lo = MIN (lo, count[f][c]), hi = MAX (hi, count[f][c]);
          g_assert_cmpint (hi - lo, <=, 1);   /* stratified */
        }
      int lo = G_MAXINT, hi = 0;
      for (int f = 0; f < k; f++)
        lo = MIN (lo, size[f]), hi = MAX (hi, size[f]);
      g_assert_cmpint (hi - lo, <=, 1);
      g_assert_cmpint (lo, >, 0);

      /* reversed input order: every hash keeps its fold */
      guint64 rh[103];
      int rl[103];
      for (guint i = 0; i < n; i++)
        rh[i] = hashes[n - 1 - i], rl[i] = labels[n - 1 - i];
      g_assert_true (bt_folds_assign (rh, rl, n, k, folds2, &error));
      for (guint i = 0; i < n; i++)
        g_assert_cmpint (folds2[n - 1 - i], ==, folds[i]);
    }
  /* the fold order does not just follow input order */
  gboolean all_round_robin = TRUE;
  g_assert_true (bt_folds_assign (hashes, labels, n, 5, folds, NULL));
  for (guint i = 10; i < 40; i++)
    all_round_robin &= folds[i] == (int) (i % 5);
  g_assert_false (all_round_robin);

  g_autoptr (GError) error = NULL;
  g_assert_false (bt_folds_assign (hashes, labels, n, 2, folds, &error));
  g_assert_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_false (bt_folds_assign (hashes, labels, n, 11, folds, &error));
  g_assert_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_false (bt_folds_assign (hashes, labels, 2, 3, folds, &error));
  g_assert_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_INVALID);
}

static void
on_fold (int fold, const BtTuneTrial *t, gpointer user_data)
{
  int *seen = user_data;
  g_assert_cmpint (fold, ==, *seen);
  g_assert_cmpuint (t->curve_acc->len, ==, 1);
  (*seen)++;
}

static void
test_cross_validate (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *tmp = g_dir_make_tmp ("bt-kfold-XXXXXX", &error);
  g_autofree char *dir = g_build_filename (tmp, "shapes", NULL);
  g_autoptr (BtProject) project = bt_test_shapes_project (dir, 15);
  g_autoptr (BtSplitView) test_view = bt_project_split_view (project, BT_SPLIT_TEST);
  g_autoptr (BtTuneData) d = bt_tune_data_new (project, &error);
  g_assert_no_error (error);
  guint n = bt_tune_data_get_n_items (d);
  g_assert_cmpuint (n + test_view->n, ==, 60);
  g_autoptr (BtTuneTrial) setting = bt_kfold_setting_from_project (d, 1);
  int seen = 0;
  g_autoptr (BtKFoldResult) r = bt_kfold_run (d, setting, 3, on_fold, &seen, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (seen, ==, 3);
  g_assert_cmpuint (r->n, ==, n);
  /* every train+val image validated exactly once */
  guint total = 0;
  for (int f = 0; f < 3; f++)
    {
      guint in_fold = 0;
      for (guint i = 0; i < n; i++)
        in_fold += r->folds[i] == f;
      g_assert_cmpuint (r->fold_sizes[f], ==, in_fold);
      total += r->fold_sizes[f];
      g_assert_true (r->fold_acc[f] >= r->min_acc && r->fold_acc[f] <= r->max_acc);
    }
  g_assert_cmpuint (total, ==, n);
  g_assert_true (r->mean_acc >= r->min_acc && r->mean_acc <= r->max_acc);
  g_assert_true (isfinite (r->std_acc) && r->std_acc >= 0);

  /* reproducible */
  g_autoptr (BtKFoldResult) again = bt_kfold_run (d, setting, 3, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (again->fold_acc, 3 * sizeof (double), r->fold_acc, 3 * sizeof (double));
  g_assert_cmpmem (again->fold_loss, 3 * sizeof (double), r->fold_loss, 3 * sizeof (double));
  g_assert_cmpmem (again->folds, n * sizeof (int), r->folds, n * sizeof (int));
  g_assert_cmpuint (bt_tune_get_decoded (BT_SPLIT_TEST), ==, 0);
  g_assert_cmpuint (bt_tune_get_decoded (BT_SPLIT_VAL), >, 0);

  g_assert_null (bt_kfold_run (d, setting, 12, NULL, NULL, NULL, &error));
  g_assert_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_INVALID);
  g_clear_object (&project);
  bt_test_rm_rf (tmp);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  bt_engine_set_threads (2);
  g_test_add_func ("/kfold/assign", test_assign);
  g_test_add_func ("/kfold/cross-validate", test_cross_validate);
  return g_test_run ();
}
