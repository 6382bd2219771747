/* bt-folds.c: stratified k-fold assignment from the stable content hash (cross-validation).
 * The same hashes and labels give the same folds forever, whatever the item order. */
#include "config.h"

#include <stdlib.h>
#include <glib/gi18n-lib.h>

#include "dataset/bt-dataset.h"
#include "dataset/bt-dataset-private.h"

typedef struct { guint64 key; guint index; int label; } FoldEntry;

static int
entry_cmp (const void *a, const void *b)
{
  const FoldEntry *x = a, *y = b;
  if (x->label != y->label)
    return x->label < y->label ? -1 : 1;
  if (x->key != y->key)
    return x->key < y->key ? -1 : 1;
  return x->index < y->index ? -1 : (x->index > y->index);
}

gboolean
bt_folds_assign (const guint64 *hashes, const int *labels, guint n, int k, int *folds_out, GError **error)
{
  g_return_val_if_fail (n == 0 || (hashes != NULL && labels != NULL && folds_out != NULL), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (k < BT_FOLDS_MIN || k > BT_FOLDS_MAX)
    {
      g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_INVALID,
                   _("The number of folds must be between %d and %d, not %d."), BT_FOLDS_MIN, BT_FOLDS_MAX, k);
      return FALSE;
    }
  if (n < (guint) k)
    {
      g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_INVALID,
                   _("%d folds need at least %d images; there are %u."), k, k, n);
      return FALSE;
    }
  g_autofree FoldEntry *e = g_new (FoldEntry, n);
  for (guint i = 0; i < n; i++)
    {
      /* A different mix from the split's, so fold order does not follow split position. */
      e[i].key = bt_mix64 (hashes[i] ^ G_GUINT64_CONSTANT (0x9e3779b97f4a7c15));
      e[i].index = i;
      e[i].label = labels[i];
    }
  qsort (e, n, sizeof *e, entry_cmp);
  /* Round-robin within each class, continuing the rotation across classes so fold sizes
   * differ by at most one overall and per class. */
  guint next = 0;
  for (guint i = 0; i < n; i++)
    {
      folds_out[e[i].index] = (int) (next % (guint) k);
      next++;
    }
  return TRUE;
}
