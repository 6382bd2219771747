/* bt-export-pytorch.h: writes a self-contained PyTorch/torchrun training folder for a project
 * (train.py, config.json, labels.csv, initial.bottega-model, README.md). */
#pragma once

#include "training/bt-training.h"

G_BEGIN_DECLS

/* Writes into out_dir (created when missing; files of an earlier export are replaced):
 *  train.py                the training script (PyTorch, DDP under torchrun, GPU when present)
 *  config.json             architecture (Bottega's layer list), settings, preprocessing, classes
 *  labels.csv              path,class,split for every usable image (absolute paths; excluded
 *                          and missing images left out)
 *  initial.bottega-model   Bottega's initial weights and the header the trained model reuses
 *  README.md               how to run it and bring the model home
 *  embeddings/             transfer projects only: {train,val,test}_{x,y,row}.npy, the frozen
 *                          backbone's embeddings (augmented variants in train when the project
 *                          augments), their class indices and labels.csv rows; the script trains
 *                          the head on them and the trained model keeps the backbone reference
 * Reads the project on the calling thread (its owner). For a transfer project this runs the
 * backbone over every image not in the project's embedding cache (slow: call it from a
 * worker, or use the async variant). */
gboolean bt_export_pytorch (BtProject *project, const char *out_dir, GError **error);

/* The same with the project snapshotted on the calling thread and the files written in a
 * GTask thread; for a transfer project the thread opens its own copy of the project folder
 * to compute the embeddings (cancellable). */
void     bt_export_pytorch_async  (BtProject *project, const char *out_dir, GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer user_data);
gboolean bt_export_pytorch_finish (GAsyncResult *result, GError **error);

/* The same with progress while a transfer project's embeddings are computed: progress (done,
 * total images and variants to embed) runs on the caller's thread-default main context, at
 * most one call pending at a time, never after callback has run (so progress_data need only
 * live until then), and not at all for other presets or when the cache has every embedding. */
void     bt_export_pytorch_async_full (BtProject *project, const char *out_dir, BtCacheProgress progress,
                                       gpointer progress_data, GCancellable *cancellable,
                                       GAsyncReadyCallback callback, gpointer user_data);

G_END_DECLS
