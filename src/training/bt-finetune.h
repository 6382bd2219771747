/* bt-finetune.h: fine-tuning the top blocks of a transfer model's backbone together with its
 * head (#27). The backbone below the cut stays frozen: its activations at the cut are computed
 * once per image and variant (bt_embeddings_build_cut) and an epoch runs only the top blocks and
 * the head. The trainer's second stage uses it; so can a recipe that wants to know whether
 * fine-tuning beats the frozen head (bt_finetune_fit returns the validation loss). */
#pragma once

#include "engine/bt-engine.h"
#include "training/bt-transfer.h"

G_BEGIN_DECLS

/* The tensor below the backbone's last n_blocks blocks (what bt_embeddings_build_cut caches),
 * or -1 with an error when the backbone has fewer blocks that can be fine-tuned. */
int  bt_finetune_cut_tensor (BtBackbone *bb, int n_blocks, GError **error);
/* How many blocks of bb can be fine-tuned (17 for MobileNet V2). */
int  bt_finetune_max_blocks (BtBackbone *bb);

typedef struct _BtFinetune BtFinetune;
/* bb's last n_blocks blocks (a private copy of their weights) under head (borrowed: trained in
 * place; its input gradient is switched on), for batches of at most max_batch. */
BtFinetune *bt_finetune_new  (BtBackbone *bb, int n_blocks, BtNet *head, int max_batch, GError **error);
void        bt_finetune_free (BtFinetune *ft);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BtFinetune, bt_finetune_free)
/* Floats per image at the cut (the batches' sample size). */
gsize       bt_finetune_in_size (BtFinetune *ft);

typedef struct {
  float        lr;               /* the blocks' and the head's rate in stage 2 */
  float        weight_decay;     /* decoupled (AdamW), on weights with more than one dimension */
  float        label_smoothing;
  const float *class_weights;    /* NULL = 1 */
} BtFinetuneParams;
/* The learning rate of the second stage: a tenth of the head's (discriminative rates). */
#define BT_FINETUNE_LR_FACTOR 0.1

/* One Adam step of blocks and head on n images' cut activations x (n × in_size). Stores the
 * mean loss and the correct count; NaN/Inf → FALSE and BT_ENGINE_ERROR_NUMERIC. */
gboolean     bt_finetune_step    (BtFinetune *ft, const float *x, const int *labels, int n,
                                  const BtFinetuneParams *p, double *loss, int *n_correct,
                                  GError **error);
/* Inference through blocks and head: the head's probabilities (bt_net_forward's), its logits
 * after it in bt_net_logits (head). */
const float *bt_finetune_forward (BtFinetune *ft, const float *x, int n, GError **error);
/* The weights of the blocks: snapshots for the best epoch. */
gsize        bt_finetune_n_params  (BtFinetune *ft);
void         bt_finetune_get_params (BtFinetune *ft, float *dst);
void         bt_finetune_set_params (BtFinetune *ft, const float *src);
/* The fine-tuned operators for the model file (BtBackboneWeights; g_array_unref). */
GArray      *bt_finetune_backbone_weights (BtFinetune *ft);

/* Resume: the blocks' weights, Adam moments and step, the head's weights and moments, the
 * caller's counters and n_extra floats of its own (the best epoch's weights), in one file
 * (written atomically, SHA-256 checked on reading, sizes checked against ft). */
gboolean     bt_finetune_save_state (BtFinetune *ft, const char *path, const double *counters,
                                     int n_counters, const float *extra, gsize n_extra,
                                     GError **error);
gboolean     bt_finetune_load_state (BtFinetune *ft, const char *path, double *counters,
                                     int n_counters, float *extra, gsize n_extra, GError **error);
/* Head parameters (what extra must also hold for a full snapshot). */
gsize        bt_finetune_n_head_params (BtFinetune *ft);

/* For a recipe: up to epochs epochs of steps over train (batches of cut activations), the
 * validation loss after each, stopping after patience epochs without a lower one (0 = never);
 * leaves the best epoch's blocks and head in place and stores its validation loss (NAN
 * without val). cancellable may be NULL. */
gboolean     bt_finetune_fit (BtFinetune *ft, BtEmbBatcher *train, BtEmbBatcher *val, int epochs,
                              int patience, const BtFinetuneParams *p, double *best_val_loss,
                              GCancellable *cancellable, GError **error);

G_END_DECLS
