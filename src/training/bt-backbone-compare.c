/* bt-backbone-compare.c: embeds a capped, hash-chosen sample with each installed backbone and
 * cross-validates a linear head (softmax regression, Adam) on the embeddings. */
#include "config.h"

#include <glib/gi18n-lib.h>
#include <math.h>
#include <string.h>

#include "training/bt-backbone-compare.h"
#include "training/bt-training.h"

#define HEAD_EPOCHS 60
#define HEAD_BATCH 32
#define HEAD_LR 0.003f

void
bt_backbone_score_free (BtBackboneScore *s)
{
  if (s == NULL)
    return;
  g_free (s->path);
  g_free (s);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (BtBackboneScore, bt_backbone_score_free)

typedef struct { guint item; int label; guint64 hash; } Pick;

static int
pick_cmp (gconstpointer a, gconstpointer b)
{
  const Pick *x = a, *y = b;
  if (x->label != y->label)
    return x->label < y->label ? -1 : 1;
  return x->hash < y->hash ? -1 : x->hash > y->hash;
}

/* Accuracy of a linear head trained on the rows `train` and scored on `val`. */
static double
head_accuracy (const float *x, int dim, const int *labels, int n_classes, const guint *train, guint n_train,
               const guint *val, guint n_val, guint64 seed, GError **error)
{
  g_autoptr(BtNet) net = bt_net_new_transfer (dim, 0, n_classes, 0.0f, seed, error);
  g_autoptr(BtOptimizer) opt = NULL;
  g_autoptr(BtEmbBatcher) batches = NULL;
  BtOptimizerConfig cfg;
  g_autofree const float **rows = g_new (const float *, MAX (MAX (n_train, n_val), 1));
  g_autofree int *rl = g_new (int, MAX (MAX (n_train, n_val), 1));
  g_autofree float *bx = g_new (float, (gsize) HEAD_BATCH * dim);
  g_autofree int *bl = g_new (int, HEAD_BATCH);
  g_autofree float *vx = g_new (float, (gsize) MAX (n_val, 1) * dim);
  g_autofree int *vl = g_new (int, MAX (n_val, 1));
  const float *probs;
  guint correct = 0;
  int b;

  if (net == NULL)
    return -1;
  bt_optimizer_config_init (&cfg, BT_OPTIMIZER_ADAM);
  cfg.weight_decay = 1e-4f;
  opt = bt_optimizer_new (net, &cfg);
  for (guint r = 0; r < n_train; r++)
    {
      rows[r] = x + (gsize) train[r] * dim;
      rl[r] = labels[train[r]];
    }
  batches = bt_emb_batcher_new_rows (rows, rl, n_train, dim, HEAD_BATCH, TRUE, seed);
  for (int epoch = 0; epoch < HEAD_EPOCHS; epoch++)
    {
      bt_emb_batcher_start_epoch (batches, epoch);
      while ((b = bt_emb_batcher_next (batches, bx, bl, NULL)) > 0)
        {
          double loss;
          if (!bt_net_train_step (net, opt, bx, bl, b, NULL, 0.0f, HEAD_LR, &loss, NULL, error))
            return -1;
        }
    }
  /* the validation rows, all in one batch */
  for (guint r = 0; r < n_val; r++)
    {
      rows[r] = x + (gsize) val[r] * dim;
      rl[r] = labels[val[r]];
    }
  g_clear_pointer (&batches, bt_emb_batcher_free);
  batches = bt_emb_batcher_new_rows (rows, rl, n_val, dim, (int) MAX (n_val, 1), FALSE, 0);
  bt_emb_batcher_next (batches, vx, vl, NULL);
  probs = bt_net_forward (net, vx, (int) n_val, FALSE, error);
  if (probs == NULL)
    return -1;
  for (guint r = 0; r < n_val; r++)
    {
      int best = 0;
      for (int c = 1; c < n_classes; c++)
        if (probs[(gsize) r * n_classes + c] > probs[(gsize) r * n_classes + best])
          best = c;
      correct += best == vl[r];
    }
  return n_val > 0 ? (double) correct / n_val : 0;
}

typedef struct {
  BtCompareProgress progress;
  gpointer user_data;
  const BtBackboneInfo *info;
  guint index, n;
} EmbedProgress;

static void
embed_progress (guint done, guint total, gpointer data)
{
  EmbedProgress *p = data;
  if (p->progress)
    p->progress (p->info, p->index, p->n, done, total, p->user_data);
}

/* The sample: at most per_class images of each class from the training and validation splits,
 * the lowest content hashes (so the same photos every time); its class count and smallest class. */
static GArray *
choose_sample (BtProject *project, guint per_class, guint *n_classes, guint *min_count)
{
  g_autoptr(GArray) picks = g_array_new (FALSE, FALSE, sizeof (Pick));
  GArray *chosen = g_array_new (FALSE, FALSE, sizeof (Pick));
  GListModel *items = bt_project_get_items (project);

  for (BtSplit split = BT_SPLIT_TRAIN; split <= BT_SPLIT_VAL; split++)
    {
      g_autoptr(BtSplitView) view = bt_project_split_view (project, split);
      for (guint i = 0; i < view->n; i++)
        {
          g_autoptr(BtItem) it = g_list_model_get_item (items, view->items[i]);
          Pick p = { view->items[i], view->labels[i], bt_item_get_hash (it) };
          if (p.hash == 0)
            p.hash = g_str_hash (bt_item_get_path (it));
          g_array_append_val (picks, p);
        }
    }
  g_array_sort (picks, pick_cmp);
  for (guint i = 0, run = 0; i < picks->len; i++)
    {
      Pick *p = &g_array_index (picks, Pick, i);
      run = i > 0 && g_array_index (picks, Pick, i - 1).label == p->label ? run + 1 : 0;
      if (run < per_class)
        g_array_append_val (chosen, *p);
    }
  *n_classes = 0;
  *min_count = G_MAXUINT;
  for (guint i = 0, run = 0; i < chosen->len; i++)
    {
      Pick *p = &g_array_index (chosen, Pick, i);
      gboolean last = i + 1 == chosen->len || g_array_index (chosen, Pick, i + 1).label != p->label;
      run++;
      if (last)
        {
          *n_classes = MAX (*n_classes, (guint) p->label + 1);
          *min_count = MIN (*min_count, run);
          run = 0;
        }
    }
  return chosen;
}

/* The catalogue's backbones that are on this computer: their paths, and their entries in infos. */
static GPtrArray *
installed_backbones (GPtrArray *infos, GCancellable *cancellable)
{
  const BtBackboneInfo * const *all = bt_backbones_list (NULL);
  GPtrArray *installed = g_ptr_array_new_with_free_func (g_free);

  for (guint i = 0; all[i] != NULL; i++)
    {
      char *path = NULL;
      if (bt_backbones_check (all[i], &path, cancellable, NULL) == BT_BACKBONE_INSTALLED)
        {
          g_ptr_array_add (installed, path);
          g_ptr_array_add (infos, (gpointer) all[i]);
        }
      else
        g_free (path);
    }
  return installed;
}

typedef struct {
  BtProject     *project;
  GArray        *chosen;    /* Pick */
  const int     *labels, *folds;
  const gboolean *only;     /* per project item: in the sample */
  guint          n_classes;
  int            k;
} Sample;

/* One backbone's row: the sample embedded, then a k-fold cross-validated linear head. */
static BtBackboneScore *
score_backbone (const Sample *sm, const BtBackboneInfo *info, const char *path, EmbedProgress *ep,
                GCancellable *cancellable, GError **error)
{
  const BtProjectSettings *settings = bt_project_get_settings (sm->project);
  const guint n = sm->chosen->len;
  const int k = sm->k;
  g_autoptr(BtBackbone) bb = bt_backbone_load_path (path, error);
  g_autoptr(BtEmbeddings) emb = NULL;
  g_autofree float *x = NULL;
  g_autofree guint *train = g_new (guint, n), *val = g_new (guint, n);
  g_autofree guint *rowmap = g_new (guint, n);
  g_autofree int *rlabels = g_new (int, n);
  g_autoptr(BtBackboneScore) score = NULL;
  double sum = 0, sq = 0, ms;
  guint m = 0;
  int dim;

  if (bb == NULL)
    return NULL;
  emb = bt_embeddings_build_subset (sm->project, bb, settings->resize, sm->only, 0, embed_progress, ep,
                                    cancellable, error);
  if (emb == NULL)
    return NULL;
  dim = bt_embeddings_get_dim (emb);
  x = g_new (float, (gsize) n * dim);
  /* rows: the sample images whose embedding could be made */
  for (guint i = 0; i < n; i++)
    {
      const float *e = bt_embeddings_get (emb, g_array_index (sm->chosen, Pick, i).item, 0);
      if (e == NULL)
        continue;
      memcpy (x + (gsize) m * dim, e, sizeof (float) * dim);
      rlabels[m] = sm->labels[i];
      rowmap[m++] = i;
    }
  score = g_new0 (BtBackboneScore, 1);
  score->info = info;
  score->path = g_strdup (path);
  score->k = k;
  score->n_images = m;
  score->size = info->size;
  for (int f = 0; f < k; f++)
    {
      guint nt = 0, nv = 0;
      double acc;
      for (guint r = 0; r < m; r++)
        {
          if (sm->folds[rowmap[r]] == f)
            val[nv++] = r;
          else
            train[nt++] = r;
        }
      acc = head_accuracy (x, dim, rlabels, (int) sm->n_classes, train, nt, val, nv, settings->seed + f, error);
      if (acc < 0 || g_cancellable_set_error_if_cancelled (cancellable, error))
        return NULL;
      sum += acc;
      sq += acc * acc;
    }
  score->mean_acc = sum / k;
  score->std_acc = sqrt (MAX (0, (sq - k * score->mean_acc * score->mean_acc) / (k - 1)));
  ms = bt_backbones_get_speed (info->sha256);
  if (!(ms > 0))
    ms = bt_backbones_measure_speed (path, NULL);
  score->ms_per_image = ms;
  return g_steal_pointer (&score);
}

GPtrArray *
bt_backbones_compare (BtProject *project, guint per_class, int k, BtCompareProgress progress, gpointer user_data,
                      GCancellable *cancellable, GError **error)
{
  g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func ((GDestroyNotify) bt_backbone_score_free);
  g_autoptr(GArray) chosen = NULL;
  g_autoptr(GPtrArray) installed = NULL;
  g_autoptr(GPtrArray) infos = g_ptr_array_new ();
  guint n_items, n_classes, min_count, n;
  g_autofree gboolean *only = NULL;
  g_autofree guint64 *hashes = NULL;
  g_autofree int *labels = NULL, *folds = NULL;

  g_return_val_if_fail (BT_IS_PROJECT (project), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  per_class = per_class > 0 ? per_class : BT_COMPARE_PER_CLASS;
  k = k > 0 ? k : BT_COMPARE_FOLDS;

  chosen = choose_sample (project, per_class, &n_classes, &min_count);
  n = chosen->len;
  if (n == 0 || n_classes < 2)
    {
      g_set_error_literal (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID,
                           _("Backbones can be compared once there are at least two classes with photos in "
                             "the training and validation splits."));
      return NULL;
    }
  k = (int) MIN ((guint) k, min_count);
  if (k < BT_FOLDS_MIN)
    {
      g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID,
                   _("Every class needs at least %d photos in the training and validation splits to "
                     "compare backbones."), BT_FOLDS_MIN);
      return NULL;
    }

  installed = installed_backbones (infos, cancellable);
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return NULL;
  if (installed->len == 0)
    {
      g_set_error_literal (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID,
                           _("No backbone is installed: download one first (bottega-cli backbones fetch, or "
                             "Download in the Model page)."));
      return NULL;
    }

  n_items = g_list_model_get_n_items (bt_project_get_items (project));
  only = g_new0 (gboolean, MAX (n_items, 1));
  hashes = g_new (guint64, n);
  labels = g_new (int, n);
  folds = g_new (int, n);
  for (guint i = 0; i < n; i++)
    {
      Pick *p = &g_array_index (chosen, Pick, i);
      only[p->item] = TRUE;
      hashes[i] = p->hash;
      labels[i] = p->label;
    }
  if (!bt_folds_assign (hashes, labels, n, k, folds, error))
    return NULL;

  for (guint b = 0; b < installed->len; b++)
    {
      Sample sm = { project, chosen, labels, folds, only, n_classes, k };
      const BtBackboneInfo *info = g_ptr_array_index (infos, b);
      EmbedProgress ep = { progress, user_data, info, b, installed->len };
      BtBackboneScore *score = score_backbone (&sm, info, g_ptr_array_index (installed, b), &ep, cancellable,
                                               error);
      if (score == NULL)
        return NULL;
      g_ptr_array_add (rows, score);
    }
  bt_backbones_compare_mark_best (rows);
  return g_steal_pointer (&rows);
}

int
bt_backbones_compare_mark_best (GPtrArray *rows)
{
  double top = -1, spread = 0;
  int best = -1;

  g_return_val_if_fail (rows != NULL, -1);
  for (guint i = 0; i < rows->len; i++)
    {
      BtBackboneScore *s = g_ptr_array_index (rows, i);
      s->best = FALSE;
      if (s->mean_acc > top)
        {
          top = s->mean_acc;
          spread = s->std_acc;
        }
    }
  for (guint i = 0; i < rows->len; i++)
    {
      BtBackboneScore *s = g_ptr_array_index (rows, i);
      BtBackboneScore *b = best >= 0 ? g_ptr_array_index (rows, best) : NULL;
      if (s->mean_acc < top - MAX (spread, 0.02))
        continue;
      if (b == NULL || (s->ms_per_image > 0 && (b->ms_per_image <= 0 || s->ms_per_image < b->ms_per_image)))
        best = (int) i;
    }
  if (best >= 0)
    ((BtBackboneScore *) g_ptr_array_index (rows, best))->best = TRUE;
  return best;
}
