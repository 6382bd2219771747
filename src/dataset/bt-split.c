/* bt-split.c: train / validation / test: split names and the stable split of a content
 * hash (the same image lands in the same split forever). */
#include "config.h"

#include "dataset/bt-dataset-private.h"

const char *
bt_split_to_string (BtSplit split)
{
  switch (split)
    {
    case BT_SPLIT_VAL:  return "val";
    case BT_SPLIT_TEST: return "test";
    case BT_SPLIT_TRAIN:
    default:            return "train";
    }
}

gboolean
bt_split_from_string (const char *s, BtSplit *out)
{
  g_return_val_if_fail (out != NULL, FALSE);
  if (s == NULL)
    return FALSE;
  if (g_ascii_strcasecmp (s, "train") == 0 || g_ascii_strcasecmp (s, "training") == 0)
    *out = BT_SPLIT_TRAIN;
  else if (g_ascii_strcasecmp (s, "val") == 0 || g_ascii_strcasecmp (s, "valid") == 0 ||
           g_ascii_strcasecmp (s, "validation") == 0)
    *out = BT_SPLIT_VAL;
  else if (g_ascii_strcasecmp (s, "test") == 0)
    *out = BT_SPLIT_TEST;
  else
    return FALSE;
  return TRUE;
}

/* Position of a hash in [0, 1): the same hash lands at the same place forever. */
double
bt_split_position (guint64 hash)
{
  return (double) (bt_mix64 (hash ^ G_GUINT64_CONSTANT (0x5bd1e9955bd1e995)) >> 11) *
         (1.0 / 9007199254740992.0);
}

BtSplit
bt_split_for_hash (guint64 hash, int pct_train, int pct_val, int pct_test)
{
  int total = MAX (pct_train, 0) + MAX (pct_val, 0) + MAX (pct_test, 0);
  if (total <= 0)
    return BT_SPLIT_TRAIN;
  double u = bt_split_position (hash) * total;
  if (u < MAX (pct_train, 0))
    return BT_SPLIT_TRAIN;
  if (u < MAX (pct_train, 0) + MAX (pct_val, 0))
    return BT_SPLIT_VAL;
  return BT_SPLIT_TEST;
}
