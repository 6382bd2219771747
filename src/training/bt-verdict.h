/* bt-verdict.h: what a finished run's curves say (learned, overfitting, diverged, did not learn,
 * stopped early), with a sentence and one suggested action the UI can turn into a button. */
#pragma once

#include "training/bt-training.h"

G_BEGIN_DECLS

typedef enum {
  BT_VERDICT_NONE,            /* no epoch finished */
  BT_VERDICT_LEARNED,
  BT_VERDICT_OVERFITTING,     /* epoch: the first epoch of the sustained rise of validation loss */
  BT_VERDICT_DIVERGED,        /* loss non-finite, or rising above where it started */
  BT_VERDICT_DID_NOT_LEARN,   /* accuracy within a few points of chance after the first epoch */
  BT_VERDICT_STOPPED_EARLY,   /* early stopping ended it; epoch: the last epoch */
  BT_VERDICT_STOPPED,         /* the person stopped it; epoch: the last epoch */
} BtVerdictKind;

typedef enum {
  BT_VERDICT_ACTION_NONE,
  BT_VERDICT_ACTION_LEARNING_RATE,   /* value: the learning rate to try */
  BT_VERDICT_ACTION_AUGMENTATION,    /* turn on flip and crop */
  BT_VERDICT_ACTION_ADD_PHOTOS,      /* class_name: the class with the fewest training images */
} BtVerdictAction;

struct _BtVerdict {
  BtVerdictKind   kind;
  int             epoch;         /* see BtVerdictKind; 0 when it does not apply */
  int             best_epoch;    /* the monitored metric's best epoch: the saved model's */
  double          best_acc;      /* validation (or, without it, training) accuracy there; NaN */
  BtVerdictAction action;
  double          action_value;
  char           *action_class;
};

/* What the judgement reads: the run's epochs (as the "epoch" signal and metrics.csv give them)
 * and how it ended. */
typedef struct {
  const BtEpochInfo  *epochs;
  guint               n_epochs;
  int                 n_classes;
  double              learning_rate;
  const char         *optimizer;       /* for the learning rate to suggest */
  gboolean            augmented;       /* flip or crop is on */
  gboolean            non_finite;      /* the loss became NaN/Inf */
  gboolean            stopped_early;
  gboolean            stopped_by_user;
  const char * const *class_names;     /* with train_counts: for "Add photos to class X"; may be NULL */
  const guint        *train_counts;
} BtVerdictInput;

/* Accuracy points above chance (1 / classes) under which a run "did not learn". */
#define BT_VERDICT_CHANCE_MARGIN 0.05

void        bt_verdict_judge          (const BtVerdictInput *in, BtVerdict *out);
void        bt_verdict_clear          (BtVerdict *v);
void        bt_verdict_copy           (BtVerdict *dest, const BtVerdict *src);
/* Diverged or did not learn: its model does not become the project's default. */
gboolean    bt_verdict_is_failure     (const BtVerdict *v);
/* A sentence for the person (translated, g_free). */
char       *bt_verdict_describe       (const BtVerdict *v);
/* The button's label ("Try learning rate 0.001"), or NULL when there is no action. */
char       *bt_verdict_action_label   (const BtVerdict *v);
/* Applies a settings action (learning rate, augmentation) to s; FALSE for the others. */
gboolean    bt_verdict_apply          (const BtVerdict *v, BtProjectSettings *s);
/* Stable ids, as stored with the run ("learned", "overfitting", …; "learning-rate", …). */
const char *bt_verdict_kind_to_id     (BtVerdictKind kind);
gboolean    bt_verdict_kind_from_id   (const char *id, BtVerdictKind *kind);
const char *bt_verdict_action_to_id   (BtVerdictAction action);
gboolean    bt_verdict_action_from_id (const char *id, BtVerdictAction *action);

/* The overfitting rule, shared by the live advice and the verdict: validation loss rose for
 * BT_TRAINER_OVERFIT_EPOCHS epochs in a row while training loss fell, and ended above it. */
gboolean    bt_verdict_overfitting_at (const double *train_losses, const double *val_losses, guint len);

G_END_DECLS
