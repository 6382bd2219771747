/* bt-transfer.h: the transfer-learning preset's pieces: finding and loading a pretrained backbone,
 * computing (and caching) every image's embedding once, batches of embeddings for the head, and
 * prediction with backbone + head. */
#pragma once

#include "engine/bt-engine.h"
#include "engine/bt-tflite.h"
#include "dataset/bt-dataset.h"

G_BEGIN_DECLS

/* The backbone the "Transfer learning (MobileNet V2)" preset uses. */
#define BT_BACKBONE_DEFAULT "mobilenet_v2_1.0_224_quant.tflite"

/* Folders searched for a backbone file, in order: $BOTTEGA_BACKBONE_DIR, the user data dir
 * (~/.local/share/bottega/backbones), each $XDG_DATA_DIRS/bottega/backbones, then
 * <prefix>/share/bottega/backbones. NULL-terminated, g_strfreev. */
char      **bt_backbone_search_path (void);
/* Replaces $BOTTEGA_BACKBONE_DIR for this process ("" = no such folder, NULL = read the variable
 * again): lets a caller with threads running choose the folder without setenv(). */
void        bt_backbone_set_search_dir (const char *dir);
/* The user's chosen backbone file (the app's "backbone-file" preference, the CLI's --backbone),
 * process-wide; NULL or "" clears it. */
void        bt_backbone_set_preferred_file (const char *path);
char       *bt_backbone_dup_preferred_file (void);
/* Full path of the backbone file called name (a file name such as BT_BACKBONE_DEFAULT, or an
 * absolute path), or NULL with an error that says where it was looked for. Resolution order:
 * the preferred file when its file name is name, then name in each folder of
 * bt_backbone_search_path(). */
char       *bt_backbone_find        (const char *name, GError **error);
/* The file the transfer preset trains with: the preferred file when one is set (an error when
 * it has gone), else BT_BACKBONE_DEFAULT found as above. */
char       *bt_backbone_find_for_training (GError **error);

typedef struct _BtBackbone BtBackbone;
/* Loads (once per process; later calls share it) the backbone called name. When sha256 is
 * not NULL the file must have exactly that content: the first candidate in resolution order
 * that has it is used. */
BtBackbone *bt_backbone_get         (const char *name, const char *sha256, GError **error);
BtBackbone *bt_backbone_load_path   (const char *path, GError **error);
/* From a file's content (name: its file name, for messages and the model's reference). */
BtBackbone *bt_backbone_load_bytes  (GBytes *bytes, const char *name, GError **error);
/* A transfer model's backbone: the one stored inside it (self-contained models), else the
 * referenced file found as bt_backbone_get (name, sha256) does. Cached per process. */
BtBackbone *bt_backbone_get_for_model (const BtModel *model, GError **error);
/* Loads and checks a backbone file on a worker thread (for a file the user picks). */
void        bt_backbone_load_async  (const char *path, GCancellable *cancellable,
                                     GAsyncReadyCallback callback, gpointer user_data);
BtBackbone *bt_backbone_load_finish (GAsyncResult *result, GError **error);
BtBackbone *bt_backbone_ref         (BtBackbone *bb);
void        bt_backbone_unref       (BtBackbone *bb);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BtBackbone, bt_backbone_unref)
const char *bt_backbone_get_name    (BtBackbone *bb);   /* file name */
const char *bt_backbone_get_sha256  (BtBackbone *bb);   /* hex */
int         bt_backbone_get_dim     (BtBackbone *bb);   /* embedding length */
BtTflite   *bt_backbone_get_model   (BtBackbone *bb);
GBytes     *bt_backbone_get_bytes   (BtBackbone *bb);   /* the file's content */
/* The preprocessing it expects: its input size, RGB, and the scaling to its input range. */
void        bt_backbone_get_preprocess (BtBackbone *bb, BtDsResize resize, BtPreprocess *prep);
/* One image (any size) → embedding (dim floats). Thread-safe: callers on several threads run
 * at the same time, each on an executor of its own (kept for the next call). */
gboolean    bt_backbone_embed_file  (BtBackbone *bb, const char *path, BtDsResize resize,
                                     float *out, GCancellable *cancellable, GError **error);
gboolean    bt_backbone_embed_image (BtBackbone *bb, const BtImage *image, BtDsResize resize,
                                     float *out, GError **error);

/* ---- Embeddings of a project's images ---- */
/* Variants computed per training image when augmentation is on: the image itself, then
 * flipped and cropped versions. */
#define BT_EMBED_N_VARIANTS 6
/* Variant k of a decoded image as the embeddings are made from it: 0 itself, 1 mirrored,
 * 2 centre crop, 3 mirrored centre crop, 4 top-left crop, 5 bottom-right crop (crops keep 80 %
 * of each side); with augment_flip the train split gets 1, with augment_crop 2, 4 and 5, with
 * both also 3. For the Model page's previews. */
BtImage      *bt_transfer_make_variant (const BtImage *image, int variant);
typedef struct _BtEmbeddings BtEmbeddings;
/* Embeds every usable item of the project (variant 0) and, for the train split when
 * augment_flip / augment_crop are set, the augmented variants. Results are cached in
 * <project>/cache/embeddings/<backbone sha256>/ keyed by each image's content hash, so a later
 * call computes only new images. Runs n_threads workers; progress is called on the calling
 * thread. Images that cannot be read are left out (bt_embeddings_is_valid FALSE). */
BtEmbeddings *bt_embeddings_build   (BtProject *project, BtBackbone *bb, BtDsResize resize,
                                     gboolean augment_flip, gboolean augment_crop, int n_threads,
                                     BtCacheProgress progress, gpointer user_data,
                                     GCancellable *cancellable, GError **error);
/* The same with a gate the workers call before each image: it blocks while the run is
 * paused and returns FALSE to stop (thread-safe; called from several threads at once). */
typedef gboolean (*BtEmbedGate) (gpointer gate_data);
BtEmbeddings *bt_embeddings_build_full (BtProject *project, BtBackbone *bb, BtDsResize resize,
                                        gboolean augment_flip, gboolean augment_crop, int n_threads,
                                        BtCacheProgress progress, gpointer user_data,
                                        BtEmbedGate gate, gpointer gate_data,
                                        GCancellable *cancellable, GError **error);
/* The same from a snapshot taken on the project's thread, for a worker that must not touch the
 * project: by item index, paths (NULL: left out), content hashes and train-split membership;
 * project_dir holds the embedding cache. */
BtEmbeddings *bt_embeddings_build_paths (const char * const *paths, const guint64 *hashes,
                                         const gboolean *is_train, guint n, const char *project_dir,
                                         BtBackbone *bb, BtDsResize resize,
                                         gboolean augment_flip, gboolean augment_crop, int n_threads,
                                         BtCacheProgress progress, gpointer user_data,
                                         BtEmbedGate gate, gpointer gate_data,
                                         GCancellable *cancellable, GError **error);

/* The same at another tensor of the backbone (fine-tuning's cut below its top blocks) instead
 * of the embedding: bt_embeddings_get_dim is then that tensor's size per image, each in the
 * order bt_tfl_train_forward takes; cached under <…>/cut-<tensor>/. */
BtEmbeddings *bt_embeddings_build_cut (const char * const *paths, const guint64 *hashes,
                                       const gboolean *is_train, guint n, const char *project_dir,
                                       BtBackbone *bb, int tensor, BtDsResize resize,
                                       gboolean augment_flip, gboolean augment_crop, int n_threads,
                                       BtCacheProgress progress, gpointer user_data,
                                       BtEmbedGate gate, gpointer gate_data,
                                       GCancellable *cancellable, GError **error);

/* Only the items whose only[i] is TRUE (item i of the project), variant 0, cached as above:
 * the backbone comparison's capped sample. */
BtEmbeddings *bt_embeddings_build_subset (BtProject *project, BtBackbone *bb, BtDsResize resize,
                                          const gboolean *only, int n_threads,
                                          BtCacheProgress progress, gpointer user_data,
                                          GCancellable *cancellable, GError **error);
/* For work outside a training run (export): one worker that takes the compute gate for each
 * image and leaves the engine's thread count alone, so it can run beside training. */
BtEmbeddings *bt_embeddings_build_shared (BtProject *project, BtBackbone *bb, BtDsResize resize,
                                          gboolean augment_flip, gboolean augment_crop,
                                          BtCacheProgress progress, gpointer user_data,
                                          GCancellable *cancellable, GError **error);
void          bt_embeddings_free    (BtEmbeddings *e);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BtEmbeddings, bt_embeddings_free)
int           bt_embeddings_get_dim (BtEmbeddings *e);
gboolean      bt_embeddings_is_valid (BtEmbeddings *e, guint item_index);
/* Embedding of an item's variant, or NULL when not computed. */
const float  *bt_embeddings_get     (BtEmbeddings *e, guint item_index, int variant);
/* How many embeddings this build computed (the rest came from the cache) and how many failed. */
guint         bt_embeddings_n_computed (BtEmbeddings *e);
guint         bt_embeddings_n_failed   (BtEmbeddings *e);

/* Batches of embeddings over a split view, the same contract as BtBatcher: x is
 * batch × dim floats. With augment, every computed variant of an item is one sample.
 * Shuffled per epoch by (seed, epoch), so an epoch's order does not depend on the ones before.
 * The one way every head-training loop (trainer, recipe, fine-tuning, final head, Compare
 * Backbones) gathers its batches. */
typedef struct _BtEmbBatcher BtEmbBatcher;
BtEmbBatcher *bt_emb_batcher_new    (BtEmbeddings *e, const BtSplitView *view, int batch_size,
                                     gboolean shuffle, gboolean augment, guint64 seed);
/* The same over rows the caller keeps alive (n pointers to dim floats); item_indices are 0…n-1. */
BtEmbBatcher *bt_emb_batcher_new_rows (const float *const *rows, const int *labels, guint n, int dim,
                                       int batch_size, gboolean shuffle, guint64 seed);
void          bt_emb_batcher_free   (BtEmbBatcher *b);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BtEmbBatcher, bt_emb_batcher_free)
void          bt_emb_batcher_start_epoch (BtEmbBatcher *b, int epoch);
int           bt_emb_batcher_next   (BtEmbBatcher *b, float *x, int *labels, guint *item_indices);
guint         bt_emb_batcher_n_batches (BtEmbBatcher *b);
guint         bt_emb_batcher_n_samples (BtEmbBatcher *b);

/* ---- For the trainer: batches of images or, for the transfer preset, of embeddings ---- */
typedef struct {
  BtBatcher    *images;
  BtEmbBatcher *embeddings;
} BtBatches;

static inline void
bt_batches_start_epoch (BtBatches *b, int epoch)
{
  if (b->embeddings)
    bt_emb_batcher_start_epoch (b->embeddings, epoch);
  else
    bt_batcher_start_epoch (b->images, epoch);
}

static inline int
bt_batches_next (BtBatches *b, float *x, int *labels, guint *item_indices)
{
  return b->embeddings ? bt_emb_batcher_next (b->embeddings, x, labels, item_indices)
                       : bt_batcher_next (b->images, x, labels, item_indices);
}

static inline guint
bt_batches_n_batches (BtBatches *b)
{
  return b->embeddings ? bt_emb_batcher_n_batches (b->embeddings) : bt_batcher_n_batches (b->images);
}

static inline gboolean
bt_batches_is_set (const BtBatches *b)
{
  return b->images != NULL || b->embeddings != NULL;
}

static inline void
bt_batches_clear (BtBatches *b)
{
  g_clear_pointer (&b->embeddings, bt_emb_batcher_free);
  g_clear_pointer (&b->images, bt_batcher_free);
}

/* ---- Prediction with a transfer model (model->backbone_name or backbone_data set) ---- */
/* Runs the model's backbone (stored inside it, or found on the search path and checked against
 * the sha256 in the model) and the head. Returns n_classes probabilities (g_free). */
float        *bt_transfer_predict_image (BtModel *model, const BtImage *image, GError **error);
/* Grad-CAM for a transfer model: the backbone's last convolutional map A for an RGB image (c ×
 * h × w, the executor's float path) in *features and d logit[class_index] / dA in *gradient
 * (both g_free), back through the head and the backbone's pooling (bt-tflite-grad.c). *class_index
 * < 0: the predicted class, stored there. FALSE with an error when the backbone has no such map. */
gboolean      bt_transfer_class_gradient (BtModel *model, const BtImage *image, int *class_index,
                                          float **features, float **gradient, int *c, int *h, int *w,
                                          GError **error);

G_END_DECLS
