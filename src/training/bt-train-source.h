/* bt-train-source.h: where a training run's samples come from — decoded pixels, backbone
 * embeddings, or a search's shared cache or embeddings — made from a snapshot of the project's
 * paths on the project's thread, so the worker that prepares and reads it never touches the
 * project. */
#pragma once

#include "training/bt-training.h"
#include "training/bt-transfer.h"

G_BEGIN_DECLS

/* typedef struct _BtTrainSource BtTrainSource; is in bt-training.h */

/* Main thread: snapshots of the project's usable items (paths, hashes, train membership). The
 * transfer preset gets embeddings, every other preset pixels at the settings' size. */
BtTrainSource *bt_train_source_new_for_project (BtProject *project, const BtProjectSettings *settings);
/* A search's cache, already built (borrowed: it must outlive the source). */
BtTrainSource *bt_train_source_new_for_cache   (BtCache *cache);
/* A transfer search's embeddings of n_items items, already built (borrowed, as the cache). */
BtTrainSource *bt_train_source_new_for_embeddings (BtEmbeddings *emb, guint n_items);
void           bt_train_source_free            (BtTrainSource *src);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BtTrainSource, bt_train_source_free)
guint          bt_train_source_get_n_items     (BtTrainSource *src);

/* What the worker's preparation reports: progress (images done / total), a gate called before
 * each image (blocks while paused, FALSE stops), and messages for the person. */
typedef struct {
  BtCacheProgress progress;
  BtCacheGate     gate;
  void          (*message) (const char *text, gpointer data);
  gpointer        data;
} BtTrainSourceHooks;

/* Worker: decodes (or embeds) every usable item once; for embeddings it first loads the
 * backbone. Nothing to do for a search's cache. */
gboolean       bt_train_source_prepare         (BtTrainSource *src, const BtTrainSourceHooks *hooks,
                                                GCancellable *cancellable, GError **error);
/* After prepare: the usable items that could not be read, one line each with the reason
 * (bt_unreadable_report), and how many (NULL and 0 when none). */
char          *bt_train_source_dup_unreadable_report (BtTrainSource *src, guint *n_unreadable);
gboolean       bt_train_source_is_valid        (BtTrainSource *src, guint item_index);
/* Fine-tuning's second stage (worker): the activations at the backbone's tensor (the cut below
 * the fine-tuned blocks) for every usable item and variant, cached like the embeddings; from then
 * on batches, sample_floats and is_valid are the cut's. */
gboolean       bt_train_source_prepare_cut     (BtTrainSource *src, int tensor, const BtTrainSourceHooks *hooks,
                                                GCancellable *cancellable, GError **error);
/* Floats per sample (C×H×W, or the embedding length). */
gsize          bt_train_source_sample_floats   (BtTrainSource *src);
/* The backbone of an embeddings source (after prepare), else NULL. */
BtBackbone    *bt_train_source_get_backbone    (BtTrainSource *src);
/* The embeddings of an embeddings source (after prepare), else NULL; content hashes by item
 * index (NULL for a search's cache). */
BtEmbeddings  *bt_train_source_get_embeddings  (BtTrainSource *src);
const guint64 *bt_train_source_get_hashes      (BtTrainSource *src);

/* Batches over a split view, in the same contract as BtBatcher (x is batch × sample floats). */
typedef struct _BtTrainBatches BtTrainBatches;
BtTrainBatches *bt_train_batches_new         (BtTrainSource *src, const BtSplitView *view,
                                              const BtProjectSettings *settings, gboolean training);
void            bt_train_batches_free        (BtTrainBatches *b);
void            bt_train_batches_start_epoch (BtTrainBatches *b, int epoch);
int             bt_train_batches_next        (BtTrainBatches *b, float *x, int *labels, guint *item_indices);
guint           bt_train_batches_n_batches   (BtTrainBatches *b);

G_END_DECLS
