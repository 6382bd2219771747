/* bt-train-source.c: a training run's samples — pixels, embeddings or a search's cache — from a
 * snapshot of paths taken on the project's thread (see bt-train-source.h). */
#include "config.h"

#include <glib/gi18n-lib.h>

#include "training/bt-finetune.h"
#include "training/bt-train-source.h"
#include "training/bt-training-private.h"

typedef enum { SOURCE_PIXELS, SOURCE_EMBEDDINGS, SOURCE_SEARCH } SourceKind;

struct _BtTrainSource
{
  SourceKind    kind;
  BtItemSnapshot snap;       /* empty for a search's cache */
  guint         n;
  char         *spill_dir;    /* NULL: no cache folder */
  int           width, height, channels;
  BtDsResize    resize;
  gboolean      augment_flip, augment_crop;
  int           finetune_blocks;   /* the backbone must have this many (checked before embedding) */
  /* prepared on the worker */
  BtCache      *own_cache;
  BtCache      *cache;        /* own_cache, or the search's (borrowed) */
  BtEmbeddings *emb;
  gboolean      emb_borrowed; /* a search's embeddings */
  BtBackbone   *backbone;
  BtEmbeddings *frozen;       /* after bt_train_source_prepare_cut: the embeddings (emb is the cut's) */
};

void
bt_item_snapshot_init (BtItemSnapshot *snap, BtProject *project)
{
  GListModel *items = bt_project_get_items (project);
  g_autoptr(BtSplitView) train = bt_project_split_view (project, BT_SPLIT_TRAIN);

  snap->n = g_list_model_get_n_items (items);
  snap->paths = g_new0 (char *, snap->n + 1);
  snap->hashes = g_new0 (guint64, MAX (snap->n, 1));
  snap->is_train = g_new0 (gboolean, MAX (snap->n, 1));
  snap->project_dir = g_strdup (bt_project_get_dir (project));
  for (guint i = 0; i < snap->n; i++)
    {
      g_autoptr(BtItem) it = g_list_model_get_item (items, i);
      snap->hashes[i] = bt_item_get_hash (it);
      if (!bt_item_get_excluded (it) && !bt_item_get_missing (it))
        snap->paths[i] = g_strdup (bt_item_get_path (it));
    }
  for (guint i = 0; train != NULL && i < train->n; i++)
    if (train->items[i] < snap->n)
      snap->is_train[train->items[i]] = TRUE;
}

void
bt_item_snapshot_clear (BtItemSnapshot *snap)
{
  /* paths has holes (items left out): free by index */
  for (guint i = 0; snap->paths != NULL && i < snap->n; i++)
    g_free (snap->paths[i]);
  g_clear_pointer (&snap->paths, g_free);
  g_clear_pointer (&snap->hashes, g_free);
  g_clear_pointer (&snap->is_train, g_free);
  g_clear_pointer (&snap->project_dir, g_free);
}

BtTrainSource *
bt_train_source_new_for_project (BtProject *project, const BtProjectSettings *s)
{
  BtTrainSource *src;
  BtPreset preset;

  g_return_val_if_fail (BT_IS_PROJECT (project), NULL);

  src = g_new0 (BtTrainSource, 1);
  src->kind = bt_preset_from_id (s->preset, &preset) && preset == BT_PRESET_TRANSFER
            ? SOURCE_EMBEDDINGS : SOURCE_PIXELS;
  bt_item_snapshot_init (&src->snap, project);
  src->n = src->snap.n;
  src->spill_dir = g_build_filename (src->snap.project_dir, "cache", NULL);
  if (!g_file_test (src->spill_dir, G_FILE_TEST_IS_DIR))
    g_clear_pointer (&src->spill_dir, g_free);
  src->width = s->width;
  src->height = s->height;
  src->channels = s->channels;
  src->resize = s->resize;
  src->augment_flip = s->augment_flip;
  src->augment_crop = s->augment_crop;
  src->finetune_blocks = s->transfer_finetune_blocks;
  return src;
}

BtTrainSource *
bt_train_source_new_for_cache (BtCache *cache)
{
  BtTrainSource *src;

  g_return_val_if_fail (cache != NULL, NULL);
  src = g_new0 (BtTrainSource, 1);
  src->kind = SOURCE_SEARCH;
  src->cache = cache;
  bt_cache_get_shape (cache, &src->width, &src->height, &src->channels, &src->n);
  return src;
}

BtTrainSource *
bt_train_source_new_for_embeddings (BtEmbeddings *emb, guint n_items)
{
  BtTrainSource *src;

  g_return_val_if_fail (emb != NULL, NULL);
  src = g_new0 (BtTrainSource, 1);
  src->kind = SOURCE_SEARCH;
  src->emb = emb;
  src->emb_borrowed = TRUE;
  src->n = n_items;
  return src;
}

void
bt_train_source_free (BtTrainSource *src)
{
  if (src == NULL)
    return;
  bt_item_snapshot_clear (&src->snap);
  g_free (src->spill_dir);
  g_clear_pointer (&src->own_cache, bt_cache_free);
  if (!src->emb_borrowed)
    g_clear_pointer (&src->emb, bt_embeddings_free);
  g_clear_pointer (&src->frozen, bt_embeddings_free);
  g_clear_pointer (&src->backbone, bt_backbone_unref);
  g_free (src);
}

guint
bt_train_source_get_n_items (BtTrainSource *src)
{
  return src->n;
}

static gboolean
prepare_embeddings (BtTrainSource *src, const BtTrainSourceHooks *hooks, GCancellable *cancellable,
                    GError **error)
{
  g_autofree char *bb_path = bt_backbone_find_for_training (error);
  g_autofree char *text = NULL;

  if (bb_path == NULL)
    return FALSE;
  src->backbone = bt_backbone_get (bb_path, NULL, error);
  if (src->backbone == NULL)
    return FALSE;
  /* a block count this backbone does not have is said now, not after minutes of embeddings */
  if (src->finetune_blocks > 0 && bt_finetune_cut_tensor (src->backbone, src->finetune_blocks, error) < 0)
    return FALSE;
  text = g_strdup_printf (_("Computing image embeddings with %s…"), bt_backbone_get_name (src->backbone));
  hooks->message (text, hooks->data);
  src->emb = bt_embeddings_build_paths ((const char * const *) src->snap.paths, src->snap.hashes,
                                        src->snap.is_train, src->n, src->snap.project_dir, src->backbone, src->resize, src->augment_flip,
                                        src->augment_crop, CLAMP ((int) g_get_num_processors (), 1, 8),
                                        hooks->progress, hooks->data, hooks->gate, hooks->data,
                                        cancellable, error);
  return src->emb != NULL;
}

gboolean
bt_train_source_prepare (BtTrainSource *src, const BtTrainSourceHooks *hooks, GCancellable *cancellable,
                         GError **error)
{
  g_autofree char *text = NULL;

  g_return_val_if_fail (src != NULL && hooks != NULL, FALSE);

  switch (src->kind)
    {
    case SOURCE_SEARCH:
      return TRUE;
    case SOURCE_EMBEDDINGS:
      return prepare_embeddings (src, hooks, cancellable, error);
    case SOURCE_PIXELS:
    default:
      text = g_strdup_printf (_("Preparing images at %d×%d…"), src->width, src->height);
      hooks->message (text, hooks->data);
      /* the decode workers wait at the same gate as the embedding ones while paused */
      src->own_cache = bt_cache_build_paths_gated ((const char * const *) src->snap.paths, src->n, src->width,
                                                   src->height, src->channels, src->resize, src->spill_dir,
                                                   CLAMP ((int) g_get_num_processors (), 1, 8),
                                                   hooks->progress, hooks->data, hooks->gate, hooks->data,
                                                   cancellable, error);
      src->cache = src->own_cache;
      return src->cache != NULL;
    }
}

char *
bt_train_source_dup_unreadable_report (BtTrainSource *src, guint *n_unreadable)
{
  g_return_val_if_fail (src != NULL, NULL);
  *n_unreadable = 0;
  if (src->kind == SOURCE_SEARCH)   /* a search checked its images before its first trial */
    return NULL;
  if (src->emb == NULL)
    {
      if (src->kind != SOURCE_PIXELS || src->cache == NULL)
        return NULL;
      *n_unreadable = bt_cache_get_n_failed (src->cache);
      return bt_cache_dup_failure_report (src->cache);
    }
  /* embeddings: the usable items the backbone never saw */
  g_autoptr(GPtrArray) paths = g_ptr_array_new ();
  g_autoptr(GArray) reasons = g_array_new (FALSE, FALSE, sizeof (BtSkipReason));
  for (guint i = 0; i < src->n; i++)
    if (src->snap.paths[i] != NULL && !bt_embeddings_is_valid (src->emb, i))
      {
        BtSkipReason why = BT_SKIP_UNREADABLE;
        g_ptr_array_add (paths, src->snap.paths[i]);
        g_array_append_val (reasons, why);
      }
  *n_unreadable = paths->len;
  return bt_unreadable_report ((const char * const *) paths->pdata, (const BtSkipReason *) reasons->data, paths->len);
}

gboolean
bt_train_source_prepare_cut (BtTrainSource *src, int tensor, const BtTrainSourceHooks *hooks,
                             GCancellable *cancellable, GError **error)
{
  BtEmbeddings *cut;
  g_autofree char *text = NULL;

  g_return_val_if_fail (src != NULL && hooks != NULL && src->kind == SOURCE_EMBEDDINGS, FALSE);
  g_return_val_if_fail (src->backbone != NULL && src->frozen == NULL, FALSE);
  text = g_strdup_printf (_("Computing the activations below the fine-tuned blocks of %s…"),
                          bt_backbone_get_name (src->backbone));
  hooks->message (text, hooks->data);
  cut = bt_embeddings_build_cut ((const char * const *) src->snap.paths, src->snap.hashes, src->snap.is_train,
                                 src->n, src->snap.project_dir, src->backbone, tensor, src->resize,
                                 src->augment_flip, src->augment_crop, CLAMP ((int) g_get_num_processors (), 1, 8),
                                 hooks->progress, hooks->data, hooks->gate, hooks->data, cancellable, error);
  if (cut == NULL)
    return FALSE;
  src->frozen = src->emb;
  src->emb = cut;
  return TRUE;
}

gboolean
bt_train_source_is_valid (BtTrainSource *src, guint item_index)
{
  return src->emb != NULL ? bt_embeddings_is_valid (src->emb, item_index) : bt_cache_is_valid (src->cache, item_index);
}

gsize
bt_train_source_sample_floats (BtTrainSource *src)
{
  if (src->emb != NULL)
    return (gsize) bt_embeddings_get_dim (src->emb);
  if (src->kind == SOURCE_EMBEDDINGS)
    return 0;
  return (gsize) src->channels * src->height * src->width;
}

BtBackbone *
bt_train_source_get_backbone (BtTrainSource *src)
{
  return src->backbone;
}

BtEmbeddings *
bt_train_source_get_embeddings (BtTrainSource *src)
{
  return src->emb;
}

const guint64 *
bt_train_source_get_hashes (BtTrainSource *src)
{
  return src->snap.hashes;
}

/* ---- Batches ---- */

struct _BtTrainBatches
{
  BtBatcher    *pixels;
  BtEmbBatcher *emb;
};

BtTrainBatches *
bt_train_batches_new (BtTrainSource *src, const BtSplitView *view, const BtProjectSettings *s,
                      gboolean training)
{
  BtTrainBatches *b = g_new0 (BtTrainBatches, 1);

  if (src->emb != NULL)
    b->emb = bt_emb_batcher_new (src->emb, view, s->batch_size, training,
                                 training && (s->augment_flip || s->augment_crop), s->seed);
  else
    {
      BtPreprocess prep;
      BtAugment augment = { s->augment_flip, s->augment_crop, s->augment_rotate, s->augment_color };

      bt_preprocess_init_default (&prep, s->width, s->height, s->channels);
      b->pixels = bt_batcher_new (src->cache, view, s->batch_size, training, training ? &augment : NULL,
                                  prep.scale, prep.mean, prep.std, s->seed);
    }
  return b;
}

void
bt_train_batches_free (BtTrainBatches *b)
{
  if (b == NULL)
    return;
  g_clear_pointer (&b->emb, bt_emb_batcher_free);
  g_clear_pointer (&b->pixels, bt_batcher_free);
  g_free (b);
}

void
bt_train_batches_start_epoch (BtTrainBatches *b, int epoch)
{
  if (b->emb != NULL)
    bt_emb_batcher_start_epoch (b->emb, epoch);
  else
    bt_batcher_start_epoch (b->pixels, epoch);
}

int
bt_train_batches_next (BtTrainBatches *b, float *x, int *labels, guint *item_indices)
{
  if (b->emb != NULL)
    return bt_emb_batcher_next (b->emb, x, labels, item_indices);
  return bt_batcher_next (b->pixels, x, labels, item_indices);
}

guint
bt_train_batches_n_batches (BtTrainBatches *b)
{
  return b->emb != NULL ? bt_emb_batcher_n_batches (b->emb) : bt_batcher_n_batches (b->pixels);
}
