/* bt-recipe.h: the Automatic recipe of transfer projects. Before a transfer run trains its
 * head, a short search on the cached embeddings of the training split (stratified k-fold, the
 * engine's own head, optimizer and weight average) chooses the head's learning rate, weight
 * decay, label smoothing, hidden units and epochs, whether the mirrored photos are training
 * samples too, and whether predictions average each photo with its mirror (test-time
 * augmentation, scored on the held-out folds' mirrored embeddings). Seconds, not minutes; the same data, settings
 * and seed give the same choice. No GTK.
 *
 * The person wins: a row the recipe may choose whose value differs from the settings table's
 * default was set by the person and is kept as it is; `recipe=manual` turns the search off.
 *
 * After the search the trainer runs the recipe's two last steps:
 * - fine-tuning (bt_recipe_finetune_rule): when the training split has at least
 *   BT_RECIPE_FINETUNE_MIN_PER_CLASS photos in every class, the "finetune-blocks" row is at its
 *   default and there are validation photos, the head is followed by fine-tuning the backbone's
 *   last BT_RECIPE_FINETUNE_BLOCKS blocks, kept only if its validation loss beats the head's;
 * - the final head: once the validation photos have judged (the head's best epoch, fine-tuning),
 *   the head is trained again with the chosen settings on the training and validation photos
 *   together, unless fine-tuning was kept (that model stays as validated: its blocks were chosen
 *   with their head). The final head saw the validation photos, so its held-out estimates are the
 *   cross-validation score and the validation score of the same recipe trained without them
 *   (holdout_val_acc; for a kept fine-tuning, its own validation score). */
#pragma once

#include "training/bt-training.h"
#include "training/bt-transfer.h"

G_BEGIN_DECLS

#define BT_RECIPE_FOLDS 3
#define BT_RECIPE_FINETUNE_MIN_PER_CLASS 30
/* MobileNet V2's last two blocks (1.2 M weights): +2.5 points on flowers12 at ≈ 60 CPU s */
#define BT_RECIPE_FINETUNE_BLOCKS 2

/* The rows a recipe may choose. */
typedef enum {
  BT_RECIPE_LEARNING_RATE   = 1 << 0,
  BT_RECIPE_WEIGHT_DECAY    = 1 << 1,
  BT_RECIPE_LABEL_SMOOTHING = 1 << 2,
  BT_RECIPE_HIDDEN          = 1 << 3,
  BT_RECIPE_EPOCHS          = 1 << 4,
  BT_RECIPE_FLIP            = 1 << 5,   /* mirrored photos as training samples too */
  BT_RECIPE_TTA             = 1 << 6,   /* test-time augmentation */
} BtRecipeField;
#define BT_RECIPE_ALL_FIELDS 0x7f

typedef struct {
  guint    chosen;                 /* BtRecipeField: what the recipe chose (the rest: the person's) */
  double   learning_rate, weight_decay, label_smoothing;
  int      hidden, epochs;
  gboolean flip, tta;
  double   cv_acc, cv_loss;        /* mean over the folds' validation, at the chosen epochs */
  double   base_acc;               /* the same score of the settings as they were */
  int      k, n_tried;             /* folds, settings tried */
  double   seconds;                /* wall time of the search */
  /* filled in by the trainer after the search */
  int      finetune_blocks;        /* > 0: the rule said yes and fine-tuning these blocks was planned */
  gboolean finished;               /* the run finished: the fields below are its outcome */
  gboolean finetune_kept;          /* fine-tuning beat the head alone on the validation photos */
  int      final_images;           /* > 0: the final head was trained on this many training and
                                    * validation images; 0: on the training split only */
  double   holdout_val_acc;        /* validation accuracy of the validated model (trained without
                                    * the validation photos); NAN when none */
} BtRecipeChoice;

/* TRUE for a transfer project whose recipe is "auto". */
gboolean bt_recipe_applies     (const BtProjectSettings *s);
/* The fields whose rows are still at the table's default (the ones the recipe may choose). */
guint    bt_recipe_free_fields (const BtProjectSettings *s);

/* The search: emb holds the items of `train` (variant 0, and the augmented variants when the
 * settings augment; flip and test-time augmentation are chosen only when every training image
 * has its mirrored variant 1, which the trainer computes when BT_RECIPE_FLIP is free); hashes are the content hashes by item index (for the folds). gate (may be
 * NULL) is called between epochs: it blocks while paused and returns FALSE to stop (then FALSE
 * with BT_TRAINING_ERROR_CANCELLED). Takes the compute gate per step, like the trainer. */
gboolean bt_recipe_search (BtEmbeddings *emb, const BtSplitView *train, const guint64 *hashes,
                           int n_classes, const BtProjectSettings *s, const float *class_weights,
                           gboolean (*gate) (gpointer data), gpointer gate_data,
                           BtRecipeChoice *out, GError **error);
/* Writes the chosen fields into s (the others stay). */
void     bt_recipe_apply    (const BtRecipeChoice *c, BtProjectSettings *s);
/* Translated text: what it chose and why, then (finetune_blocks, finished) what came of
 * fine-tuning and what the final model was trained on. */
char    *bt_recipe_describe (const BtRecipeChoice *c);

/* runs/<id>/recipe.ini */
gboolean bt_recipe_save (const BtRecipeChoice *c, const char *run_dir, GError **error);
gboolean bt_recipe_load (BtRecipeChoice *c, const char *run_dir, GError **error);
/* The newest run of the project with a recipe.ini (its line), or NULL. Reads small files. */
char    *bt_recipe_describe_latest (const char *project_dir);

/* The fine-tuning step's rule: TRUE when every class of the training split has at least
 * BT_RECIPE_FINETUNE_MIN_PER_CLASS images. The trainer (run_choose_recipe) then sets
 * finetune-blocks to BT_RECIPE_FINETUNE_BLOCKS when that row is the person's default. */
gboolean bt_recipe_finetune_rule (const BtSplitView *train, int n_classes);

G_END_DECLS
