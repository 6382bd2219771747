/* bt-estimate.h: what a preset will cost on this machine — parameters, FLOPs, images/s
 * measured with one real step — and whether a run's settings fit in memory before it allocates. */
#pragma once

#include "training/bt-training.h"

G_BEGIN_DECLS

typedef struct {
  gsize  n_params;       /* 0: the preset does not fit this input size */
  double flops;          /* per image, forward + backward */
  double images_per_s;   /* NaN when not measured */
} BtPresetEstimate;

/* Builds the preset's network (the transfer head for BT_PRESET_TRANSFER, on transfer_dim inputs)
 * and times one training step of a small batch after a warm-up one, holding the compute gate.
 * Blocking: call from a worker (the Model page uses the model runner). */
void     bt_estimate_preset (BtPreset preset, int width, int height, int channels, int n_classes,
                             int transfer_dim, int transfer_hidden, GCancellable *cancellable,
                             BtPresetEstimate *out);

/* Memory a training step needs at min(batch size, training images) images per batch, checked
 * against the engine's activation limit and this machine's available memory before any
 * allocation. The message names the settings to lower. Cheap: builds the network's
 * parameters only (the transfer preset, whose head is small, always passes). */
gboolean bt_estimate_check_memory (const BtProjectSettings *settings, int n_classes, guint n_train,
                                   GError **error);

G_END_DECLS
