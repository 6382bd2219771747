/* bt-finetune.c: the top blocks of a backbone trained with the head under it (see bt-finetune.h).
 * Blocks: bt-tflite-grad.c's forward/backward on the cut activations; head: the engine's net
 * with its input gradient on; both stepped by one Adam loop here. */
#include "config.h"

#include <glib/gi18n-lib.h>
#include <math.h>
#include <string.h>

#include "training/bt-finetune.h"
#include "training/bt-training.h"
#include "engine/bt-tflite-grad.h"

#define STATE_MAGIC "BTGFTS02"   /* 02: the head's dropout generator in the header */
#define ADAM_B1 0.9f
#define ADAM_B2 0.999f
#define ADAM_EPS 1e-8f

struct _BtFinetune {
  BtBackbone *bb;
  BtTflTrain *top;
  BtNet      *head;
  int         n_blocks, cut, max_batch;
  gsize       dim;            /* embedding length */
  float      *emb, *d_emb;    /* max_batch × dim */
  float      *m, *v;          /* Adam moments: blocks then head */
  gsize       n_top, n_head;
  gint64      t;
};

int
bt_finetune_max_blocks (BtBackbone *bb)
{
  int cuts[64];
  BtTflite *m;
  int dim;

  g_return_val_if_fail (bb != NULL, 0);
  m = bt_backbone_get_model (bb);
  return bt_tflite_block_cuts (m, bt_tflite_find_embedding_cut (m, &dim, NULL), cuts, G_N_ELEMENTS (cuts));
}

int
bt_finetune_cut_tensor (BtBackbone *bb, int n_blocks, GError **error)
{
  int cuts[64], n, dim;
  BtTflite *m;

  g_return_val_if_fail (bb != NULL, -1);
  m = bt_backbone_get_model (bb);
  n = bt_tflite_block_cuts (m, bt_tflite_find_embedding_cut (m, &dim, NULL), cuts, G_N_ELEMENTS (cuts));
  if (n_blocks < 1 || n_blocks > n)
    {
      g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID,
                   g_dngettext (GETTEXT_PACKAGE,
                                "The backbone %s has %d block that can be fine-tuned, not %d",
                                "The backbone %s has %d blocks that can be fine-tuned, not %d", n),
                   bt_backbone_get_name (bb), n, n_blocks);
      return -1;
    }
  return cuts[n_blocks - 1];
}

BtFinetune *
bt_finetune_new (BtBackbone *bb, int n_blocks, BtNet *head, int max_batch, GError **error)
{
  g_autoptr(BtFinetune) ft = NULL;
  BtTflite *m;
  int end, dim;

  g_return_val_if_fail (bb != NULL && head != NULL && max_batch >= 1, NULL);
  ft = g_new0 (BtFinetune, 1);
  ft->bb = bt_backbone_ref (bb);
  ft->head = head;
  ft->n_blocks = n_blocks;
  ft->max_batch = max_batch;
  m = bt_backbone_get_model (bb);
  end = bt_tflite_find_embedding_cut (m, &dim, error);
  if (end < 0)
    return NULL;
  ft->cut = bt_finetune_cut_tensor (bb, n_blocks, error);
  if (ft->cut < 0)
    return NULL;
  ft->top = bt_tfl_train_new (m, ft->cut, end, max_batch, error);
  if (ft->top == NULL)
    return NULL;
  ft->dim = bt_tfl_train_out_size (ft->top);
  bt_tfl_train_params (ft->top, &ft->n_top);
  bt_net_params (head, &ft->n_head);
  ft->emb = g_try_new (float, ft->dim * max_batch);
  ft->d_emb = g_try_new (float, ft->dim * max_batch);
  ft->m = g_try_new0 (float, ft->n_top + ft->n_head);
  ft->v = g_try_new0 (float, ft->n_top + ft->n_head);
  if (ft->emb == NULL || ft->d_emb == NULL || ft->m == NULL || ft->v == NULL)
    {
      g_set_error_literal (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID,
                           _("Not enough memory to fine-tune the backbone"));
      return NULL;
    }
  bt_net_set_input_grad (head, ft->d_emb);
  return g_steal_pointer (&ft);
}

void
bt_finetune_free (BtFinetune *ft)
{
  if (ft == NULL)
    return;
  if (ft->head != NULL && ft->d_emb != NULL)
    bt_net_set_input_grad (ft->head, NULL);
  bt_tfl_train_free (ft->top);
  bt_backbone_unref (ft->bb);
  g_free (ft->emb);
  g_free (ft->d_emb);
  g_free (ft->m);
  g_free (ft->v);
  g_free (ft);
}

gsize
bt_finetune_in_size (BtFinetune *ft)
{
  return bt_tfl_train_in_size (ft->top);
}

static gboolean
all_finite (const float *x, gsize n)
{
  float acc = 0.f;
  for (gsize i = 0; i < n; i++)
    acc += x[i] * 0.f;   /* NaN or Inf anywhere makes it NaN */
  return acc == 0.f;
}

/* AdamW over one block of parameters and its moments. */
static void
adam (float *w, const float *g, float *m, float *v, gsize n, float lr, float wd, gint64 t)
{
  const float bc1 = 1.f - powf (ADAM_B1, (float) t), bc2 = 1.f - powf (ADAM_B2, (float) t);
  const float step = lr / bc1, decay = 1.f - lr * wd;
  const float rbc2 = 1.f / sqrtf (bc2);
  for (gsize i = 0; i < n; i++)
    {
      m[i] = ADAM_B1 * m[i] + (1.f - ADAM_B1) * g[i];
      v[i] = ADAM_B2 * v[i] + (1.f - ADAM_B2) * g[i] * g[i];
      w[i] = w[i] * decay - step * m[i] / (sqrtf (v[i]) * rbc2 + ADAM_EPS);
    }
}

static void
set_numeric (GError **error)
{
  g_set_error_literal (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_NUMERIC,
                       "A gradient is NaN or infinite; lower the learning rate");
}

gboolean
bt_finetune_step (BtFinetune *ft, const float *x, const int *labels, int n,
                  const BtFinetuneParams *p, double *loss, int *n_correct, GError **error)
{
  gsize dummy;

  g_return_val_if_fail (ft != NULL && x != NULL && labels != NULL && p != NULL, FALSE);
  g_return_val_if_fail (n >= 1 && n <= ft->max_batch, FALSE);
  bt_tfl_train_forward (ft->top, x, n, ft->emb);
  if (bt_net_forward (ft->head, ft->emb, n, TRUE, error) == NULL)
    return FALSE;
  bt_net_zero_grad (ft->head);
  if (!bt_net_backward (ft->head, labels, n, p->class_weights, p->label_smoothing, loss, n_correct, error))
    return FALSE;
  bt_tfl_train_zero_grads (ft->top);
  bt_tfl_train_backward (ft->top, ft->d_emb, NULL);
  if (!all_finite (bt_tfl_train_grads (ft->top, &dummy), ft->n_top))
    {
      set_numeric (error);
      return FALSE;
    }
  ft->t++;
  adam (bt_tfl_train_params (ft->top, &dummy), bt_tfl_train_grads (ft->top, &dummy), ft->m, ft->v,
        ft->n_top, p->lr, p->weight_decay, ft->t);
  adam (bt_net_params (ft->head, &dummy), bt_net_grads (ft->head, &dummy), ft->m + ft->n_top,
        ft->v + ft->n_top, ft->n_head, p->lr, p->weight_decay, ft->t);
  return TRUE;
}

const float *
bt_finetune_forward (BtFinetune *ft, const float *x, int n, GError **error)
{
  g_return_val_if_fail (ft != NULL && x != NULL && n >= 1 && n <= ft->max_batch, NULL);
  bt_tfl_train_forward (ft->top, x, n, ft->emb);
  return bt_net_forward (ft->head, ft->emb, n, FALSE, error);
}

gsize
bt_finetune_n_params (BtFinetune *ft)
{
  return ft->n_top;
}

gsize
bt_finetune_n_head_params (BtFinetune *ft)
{
  return ft->n_head;
}

void
bt_finetune_get_params (BtFinetune *ft, float *dst)
{
  memcpy (dst, bt_tfl_train_params (ft->top, NULL), ft->n_top * sizeof (float));
}

void
bt_finetune_set_params (BtFinetune *ft, const float *src)
{
  memcpy (bt_tfl_train_params (ft->top, NULL), src, ft->n_top * sizeof (float));
}

GArray *
bt_finetune_backbone_weights (BtFinetune *ft)
{
  GArray *a = g_array_new (FALSE, TRUE, sizeof (BtBackboneWeights));
  BtTflite *m = bt_backbone_get_model (ft->bb);

  g_array_set_clear_func (a, bt_backbone_weights_clear);
  for (int i = 0; i < bt_tfl_train_n_weighted (ft->top); i++)
    {
      const float *w, *b;
      gsize nw, nb;
      BtBackboneWeights bw = { 0 };
      bw.op = bt_tfl_train_weighted (ft->top, i, &w, &nw, &b, &nb);
      if (!bt_tflite_op_weight_shape (m, bw.op, bw.shape, &nb))
        g_return_val_if_reached (a);
      bw.w = g_memdup2 (w, nw * sizeof (float));
      bw.b = g_memdup2 (b, nb * sizeof (float));
      g_array_append_val (a, bw);
    }
  return a;
}

/* ---- Resume state ---- */

/* rng: the head's dropout generator, so a resumed second stage draws the masks it would have */
typedef struct { guint64 n_counters, n_top, n_head; gint64 t; guint64 n_extra; BtRng rng; } StateHeader;

gboolean
bt_finetune_save_state (BtFinetune *ft, const char *path, const double *counters, int n_counters,
                        const float *extra, gsize n_extra, GError **error)
{
  StateHeader h = { (guint64) n_counters, ft->n_top, ft->n_head, ft->t, n_extra, *bt_net_rng (ft->head) };
  g_autoptr(GByteArray) b = g_byte_array_new ();
  gsize dummy, len;
  guint8 digest[32];
  g_autoptr(GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);

  g_byte_array_append (b, (const guint8 *) STATE_MAGIC, 8);
  g_byte_array_append (b, (const guint8 *) &h, sizeof h);
  g_byte_array_append (b, (const guint8 *) counters, sizeof (double) * n_counters);
  g_byte_array_append (b, (const guint8 *) bt_tfl_train_params (ft->top, &dummy), sizeof (float) * ft->n_top);
  g_byte_array_append (b, (const guint8 *) bt_net_params (ft->head, &dummy), sizeof (float) * ft->n_head);
  g_byte_array_append (b, (const guint8 *) ft->m, sizeof (float) * (ft->n_top + ft->n_head));
  g_byte_array_append (b, (const guint8 *) ft->v, sizeof (float) * (ft->n_top + ft->n_head));
  if (n_extra > 0)
    g_byte_array_append (b, (const guint8 *) extra, sizeof (float) * n_extra);
  g_checksum_update (sum, b->data, b->len);
  len = sizeof digest;
  g_checksum_get_digest (sum, digest, &len);
  g_byte_array_append (b, digest, sizeof digest);
  return g_file_set_contents_full (path, (const char *) b->data, b->len,
                                   G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE, 0644, error);
}

gboolean
bt_finetune_load_state (BtFinetune *ft, const char *path, double *counters, int n_counters,
                        float *extra, gsize n_extra, GError **error)
{
  g_autofree char *data = NULL;
  gsize len, dummy, np = ft->n_top + ft->n_head;
  StateHeader h;
  guint8 digest[32];
  gsize dlen = sizeof digest;
  g_autoptr(GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  gsize want = 8 + sizeof h + sizeof (double) * n_counters + sizeof (float) * (np * 3 + n_extra) + 32;
  const char *p;

  if (!g_file_get_contents (path, &data, &len, error))
    return FALSE;
  if (len >= 8 + sizeof h)
    memcpy (&h, data + 8, sizeof h);
  if (len != want || memcmp (data, STATE_MAGIC, 8) != 0 || h.n_counters != (guint64) n_counters
      || h.n_top != ft->n_top || h.n_head != ft->n_head || h.t < 0 || h.n_extra != n_extra)
    goto damaged;
  g_checksum_update (sum, (const guint8 *) data, len - 32);
  g_checksum_get_digest (sum, digest, &dlen);
  if (memcmp (digest, data + len - 32, 32) != 0)
    goto damaged;
  p = data + 8 + sizeof h;
  if (!all_finite ((const float *) (p + sizeof (double) * n_counters), np * 3 + n_extra))
    goto damaged;
  memcpy (counters, p, sizeof (double) * n_counters);
  p += sizeof (double) * n_counters;
  memcpy (bt_tfl_train_params (ft->top, &dummy), p, sizeof (float) * ft->n_top);
  p += sizeof (float) * ft->n_top;
  memcpy (bt_net_params (ft->head, &dummy), p, sizeof (float) * ft->n_head);
  p += sizeof (float) * ft->n_head;
  memcpy (ft->m, p, sizeof (float) * np);
  memcpy (ft->v, p + sizeof (float) * np, sizeof (float) * np);
  if (n_extra > 0)
    memcpy (extra, p + 2 * sizeof (float) * np, sizeof (float) * n_extra);
  ft->t = h.t;
  *bt_net_rng (ft->head) = h.rng;
  return TRUE;

damaged:
  g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID,
               _("The fine-tuning checkpoint “%s” is damaged or belongs to another run"), path);
  return FALSE;
}

/* ---- For a recipe ---- */

static gboolean
eval_loss (BtFinetune *ft, BtEmbBatcher *b, float *x, int *labels, double *loss, GError **error)
{
  double sum = 0;
  guint seen = 0;
  int n;

  bt_emb_batcher_start_epoch (b, 0);
  while ((n = bt_emb_batcher_next (b, x, labels, NULL)) > 0)
    {
      if (bt_finetune_forward (ft, x, n, error) == NULL)
        return FALSE;
      sum += bt_net_loss (ft->head, labels, n, NULL) * n;
      seen += n;
    }
  *loss = seen > 0 ? sum / seen : NAN;
  return TRUE;
}

gboolean
bt_finetune_fit (BtFinetune *ft, BtEmbBatcher *train, BtEmbBatcher *val, int epochs, int patience,
                 const BtFinetuneParams *p, double *best_val_loss, GCancellable *cancellable,
                 GError **error)
{
  g_autofree float *x = g_new (float, bt_finetune_in_size (ft) * ft->max_batch);
  g_autofree int *labels = g_new (int, ft->max_batch);
  g_autofree float *best_top = g_new (float, MAX (ft->n_top, 1));
  g_autofree float *best_head = g_new (float, MAX (ft->n_head, 1));
  double best = NAN;
  int bad = 0;
  gsize dummy;

  g_return_val_if_fail (ft != NULL && train != NULL && p != NULL, FALSE);
  bt_finetune_get_params (ft, best_top);
  memcpy (best_head, bt_net_params (ft->head, &dummy), ft->n_head * sizeof (float));
  for (int epoch = 1; epoch <= epochs; epoch++)
    {
      double loss, vl = NAN;
      int n;
      bt_emb_batcher_start_epoch (train, epoch);
      while ((n = bt_emb_batcher_next (train, x, labels, NULL)) > 0)
        {
          if (g_cancellable_set_error_if_cancelled (cancellable, error))
            return FALSE;
          if (!bt_finetune_step (ft, x, labels, n, p, &loss, NULL, error))
            return FALSE;
        }
      if (val != NULL && !eval_loss (ft, val, x, labels, &vl, error))
        return FALSE;
      if (val == NULL || isnan (best) || vl < best)
        {
          best = vl;
          bad = 0;
          bt_finetune_get_params (ft, best_top);
          memcpy (best_head, bt_net_params (ft->head, &dummy), ft->n_head * sizeof (float));
        }
      else if (patience > 0 && ++bad >= patience)
        break;
    }
  bt_finetune_set_params (ft, best_top);
  memcpy (bt_net_params (ft->head, &dummy), best_head, ft->n_head * sizeof (float));
  if (best_val_loss)
    *best_val_loss = best;
  return TRUE;
}
