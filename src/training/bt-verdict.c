/* bt-verdict.c: the verdict of a run, read from its curves by fixed rules (see bt-verdict.h). */
#include "config.h"

#include <glib/gi18n-lib.h>
#include <math.h>
#include <string.h>

#include "training/bt-verdict.h"

static const char *const kind_ids[] = {
  [BT_VERDICT_NONE] = "none",
  [BT_VERDICT_LEARNED] = "learned",
  [BT_VERDICT_OVERFITTING] = "overfitting",
  [BT_VERDICT_DIVERGED] = "diverged",
  [BT_VERDICT_DID_NOT_LEARN] = "did-not-learn",
  [BT_VERDICT_STOPPED_EARLY] = "stopped-early",
  [BT_VERDICT_STOPPED] = "stopped",
};

static const char *const action_ids[] = {
  [BT_VERDICT_ACTION_NONE] = "none",
  [BT_VERDICT_ACTION_LEARNING_RATE] = "learning-rate",
  [BT_VERDICT_ACTION_AUGMENTATION] = "augmentation",
  [BT_VERDICT_ACTION_ADD_PHOTOS] = "add-photos",
};

/* The index of id in ids, or -1. */
static int
id_index (const char *const *ids, guint n, const char *id)
{
  for (guint i = 0; id != NULL && i < n; i++)
    if (strcmp (id, ids[i]) == 0)
      return (int) i;
  return -1;
}

const char *
bt_verdict_kind_to_id (BtVerdictKind kind)
{
  return (guint) kind < G_N_ELEMENTS (kind_ids) ? kind_ids[kind] : "none";
}

gboolean
bt_verdict_kind_from_id (const char *id, BtVerdictKind *kind)
{
  int i = id_index (kind_ids, G_N_ELEMENTS (kind_ids), id);
  if (i >= 0)
    *kind = (BtVerdictKind) i;
  return i >= 0;
}

const char *
bt_verdict_action_to_id (BtVerdictAction action)
{
  return (guint) action < G_N_ELEMENTS (action_ids) ? action_ids[action] : "none";
}

gboolean
bt_verdict_action_from_id (const char *id, BtVerdictAction *action)
{
  int i = id_index (action_ids, G_N_ELEMENTS (action_ids), id);
  if (i >= 0)
    *action = (BtVerdictAction) i;
  return i >= 0;
}

gboolean
bt_verdict_overfitting_at (const double *train_losses, const double *val_losses, guint len)
{
  if (len <= BT_TRAINER_OVERFIT_EPOCHS || !(val_losses[len - 1] > train_losses[len - 1]))
    return FALSE;
  /* …the gap matters: a net that learns nothing is not "memorising" */
  for (guint i = len - BT_TRAINER_OVERFIT_EPOCHS; i < len; i++)
    if (!(val_losses[i] > val_losses[i - 1] && train_losses[i] < train_losses[i - 1]))
      return FALSE;
  return TRUE;
}

/* The learning rate a person should try next: a tenth, at most the optimizer's usual one. */
static double
suggested_rate (const BtVerdictInput *in)
{
  double usual = g_strcmp0 (in->optimizer, "sgd") == 0 ? 0.01 : 0.001;
  return MIN (in->learning_rate / 10, usual);
}

static gboolean
rate_far_from_usual (const BtVerdictInput *in)
{
  double usual = g_strcmp0 (in->optimizer, "sgd") == 0 ? 0.01 : 0.001;
  return in->learning_rate >= usual * 10 || in->learning_rate <= usual / 10;
}

static void
suggest_photos (const BtVerdictInput *in, BtVerdict *v)
{
  int smallest = -1;

  if (in->class_names == NULL || in->train_counts == NULL)
    return;
  for (int k = 0; k < in->n_classes && in->class_names[k] != NULL; k++)
    if (smallest < 0 || in->train_counts[k] < in->train_counts[smallest])
      smallest = k;
  if (smallest < 0)
    return;
  v->action = BT_VERDICT_ACTION_ADD_PHOTOS;
  v->action_class = g_strdup (in->class_names[smallest]);
}

static gboolean
diverged (const BtVerdictInput *in)
{
  const BtEpochInfo *first = &in->epochs[0], *last = &in->epochs[in->n_epochs - 1];
  double start = log (MAX (in->n_classes, 2));   /* every run starts near ln(classes) */

  if (in->non_finite || !isfinite (last->train_loss))
    return TRUE;
  /* a first epoch's mean carries the start's transient: judge the level from the second on */
  if (in->n_epochs < 2)
    return FALSE;
  return last->train_loss > 3 * start || last->train_loss > 1.05 * MAX (first->train_loss, start);
}

static gboolean
did_not_learn (const BtVerdictInput *in)
{
  double chance = 1.0 / MAX (in->n_classes, 2), best = -1;
  /* the first epoch is the warm-up, unless it is the only one */
  guint from = in->n_epochs >= 2 ? 1 : 0;

  for (guint i = from; i < in->n_epochs; i++)
    {
      double a = isfinite (in->epochs[i].val_acc) ? in->epochs[i].val_acc : in->epochs[i].train_acc;
      if (isfinite (a))
        best = MAX (best, a);
    }
  return best >= 0 && best <= chance + BT_VERDICT_CHANCE_MARGIN;
}

/* The first epoch of the rise that made the overfitting flag go up, or 0. */
static int
overfitting_from (const BtVerdictInput *in)
{
  for (guint i = 0; i < in->n_epochs; i++)
    if (in->epochs[i].overfitting)
      return MAX (1, in->epochs[i].epoch - BT_TRAINER_OVERFIT_EPOCHS + 1);
  return 0;
}

void
bt_verdict_judge (const BtVerdictInput *in, BtVerdict *v)
{
  const BtEpochInfo *last;

  g_return_if_fail (in != NULL && v != NULL);

  memset (v, 0, sizeof *v);
  v->best_acc = NAN;
  if (in->n_epochs == 0)
    {
      v->kind = in->non_finite ? BT_VERDICT_DIVERGED : in->stopped_by_user ? BT_VERDICT_STOPPED : BT_VERDICT_NONE;
      if (in->non_finite)
        {
          v->action = BT_VERDICT_ACTION_LEARNING_RATE;
          v->action_value = suggested_rate (in);
        }
      return;
    }
  last = &in->epochs[in->n_epochs - 1];
  v->best_epoch = last->best_epoch;
  for (guint i = 0; i < in->n_epochs; i++)
    if (in->epochs[i].epoch == v->best_epoch)
      v->best_acc = isfinite (in->epochs[i].val_acc) ? in->epochs[i].val_acc : in->epochs[i].train_acc;

  if (diverged (in))
    {
      v->kind = BT_VERDICT_DIVERGED;
      v->epoch = last->epoch;
      v->action = BT_VERDICT_ACTION_LEARNING_RATE;
      v->action_value = suggested_rate (in);
    }
  else if (did_not_learn (in))
    {
      v->kind = BT_VERDICT_DID_NOT_LEARN;
      if (rate_far_from_usual (in))
        {
          v->action = BT_VERDICT_ACTION_LEARNING_RATE;
          v->action_value = g_strcmp0 (in->optimizer, "sgd") == 0 ? 0.01 : 0.001;
        }
      else
        suggest_photos (in, v);
    }
  else if ((v->epoch = overfitting_from (in)) > 0)
    {
      v->kind = BT_VERDICT_OVERFITTING;
      if (!in->augmented)
        v->action = BT_VERDICT_ACTION_AUGMENTATION;
      else
        suggest_photos (in, v);
    }
  else if (in->stopped_by_user)
    {
      v->kind = BT_VERDICT_STOPPED;
      v->epoch = last->epoch;
    }
  else if (in->stopped_early)
    {
      v->kind = BT_VERDICT_STOPPED_EARLY;
      v->epoch = last->epoch;
    }
  else
    v->kind = BT_VERDICT_LEARNED;
}

void
bt_verdict_clear (BtVerdict *v)
{
  g_clear_pointer (&v->action_class, g_free);
}

void
bt_verdict_copy (BtVerdict *dest, const BtVerdict *src)
{
  *dest = *src;
  dest->action_class = g_strdup (src->action_class);
}

gboolean
bt_verdict_is_failure (const BtVerdict *v)
{
  return v->kind == BT_VERDICT_DIVERGED || v->kind == BT_VERDICT_DID_NOT_LEARN;
}

static char *
best_sentence (const BtVerdict *v)
{
  if (v->best_epoch <= 0 || !isfinite (v->best_acc))
    return g_strdup ("");
  /* Translators: appended to a verdict, e.g. " The saved model is epoch 4's (92.0% accuracy)." */
  return g_strdup_printf (_(" The saved model is epoch %d’s (%.1f%% accuracy)."), v->best_epoch, 100 * v->best_acc);
}

char *
bt_verdict_describe (const BtVerdict *v)
{
  g_autofree char *best = best_sentence (v);

  switch (v->kind)
    {
    case BT_VERDICT_LEARNED:
      return g_strdup_printf (_("The model learned.%s"), best);
    case BT_VERDICT_OVERFITTING:
      return g_strdup_printf (_("Overfitting from epoch %d: validation loss rose while training loss kept "
                                "falling, so the model memorises its training photos.%s"), v->epoch, best);
    case BT_VERDICT_DIVERGED:
      return g_strdup (_("Training diverged: the loss rose above where it started (or stopped being a "
                         "number) because the steps were too big. This model is not made the default."));
    case BT_VERDICT_DID_NOT_LEARN:
      return g_strdup (_("The model did not learn: its accuracy stayed within a few points of guessing. "
                         "This model is not made the default."));
    case BT_VERDICT_STOPPED_EARLY:
      return g_strdup_printf (_("Stopped early at epoch %d: the watched score had stopped improving.%s"),
                              v->epoch, best);
    case BT_VERDICT_STOPPED:
      return g_strdup_printf (_("Stopped at epoch %d.%s"), v->epoch, best);
    case BT_VERDICT_NONE:
    default:
      return g_strdup (_("No epoch finished."));
    }
}

char *
bt_verdict_action_label (const BtVerdict *v)
{
  switch (v->action)
    {
    case BT_VERDICT_ACTION_LEARNING_RATE:
      return g_strdup_printf (_("Try learning rate %g"), v->action_value);
    case BT_VERDICT_ACTION_AUGMENTATION:
      return g_strdup (_("Turn on augmentation"));
    case BT_VERDICT_ACTION_ADD_PHOTOS:
      return g_strdup_printf (_("Add photos to class %s"), v->action_class ? v->action_class : "");
    case BT_VERDICT_ACTION_NONE:
    default:
      return NULL;
    }
}

gboolean
bt_verdict_apply (const BtVerdict *v, BtProjectSettings *s)
{
  switch (v->action)
    {
    case BT_VERDICT_ACTION_LEARNING_RATE:
      if (!(v->action_value > 0) || !isfinite (v->action_value))
        return FALSE;
      s->learning_rate = v->action_value;
      return TRUE;
    case BT_VERDICT_ACTION_AUGMENTATION:
      s->augment_flip = TRUE;
      s->augment_crop = TRUE;
      return TRUE;
    case BT_VERDICT_ACTION_ADD_PHOTOS:
    case BT_VERDICT_ACTION_NONE:
    default:
      return FALSE;
    }
}
