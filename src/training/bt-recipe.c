/* bt-recipe.c: the Automatic recipe (see bt-recipe.h). A two-stage search on the cached
 * embeddings: first the learning rate and the hidden layer (the choices that move accuracy most),
 * then weight decay and label smoothing around the best of those. Every setting trains the head
 * on k − 1 folds of the training split and is scored on the held-out fold after every epoch, so
 * one curve gives the epochs too. */
#include "config.h"

#include <glib/gi18n-lib.h>
#include <math.h>
#include <string.h>

#include "training/bt-recipe.h"
#include "training/bt-model-runner.h"

/* The grid. Learning rates for Adam-like optimizers around the default 0.001; 256 hidden units
 * is the head the transfer tutorials add; the epochs of the search's curves when the epochs are
 * the recipe's to choose. */
static const double grid_lr[] = { 0.0003, 0.001, 0.003 };
static const int grid_hidden[] = { 0, 256 };
static const double grid_wd[] = { 0, 0.001, 0.01 };
static const double grid_ls[] = { 0, 0.1 };
#define SEARCH_EPOCHS 30
#define MIN_EPOCHS 5

typedef struct {
  double lr, wd, ls;
  int hidden;
  gboolean flip;        /* the mirrored embeddings are training samples too */
} Config;

typedef struct {
  Config cfg;
  int    best_epoch;     /* 1-based, of the mean curve */
  gboolean tta;          /* scored with test-time augmentation */
  double acc, loss;      /* mean over folds at best_epoch */
  double *curve_acc[2], *curve_loss[2];  /* per epoch, mean over folds; [1]: with test-time augmentation */
} Scored;

typedef struct {
  BtEmbeddings *emb;
  const BtProjectSettings *s;
  const float *class_weights;
  int dim, n_classes, k, epochs, batch;
  guint free_fields;
  gboolean mirrors;      /* every training image has its mirrored embedding (variant 1) */
  BtSplitView *train[BT_FOLDS_MAX], *val[BT_FOLDS_MAX];
  guint n_val_total;
  gboolean (*gate) (gpointer data);
  gpointer gate_data;
  float *x, *logits;
  int *labels;
  GArray *scored;        /* Scored */
} Search;

gboolean
bt_recipe_applies (const BtProjectSettings *s)
{
  g_return_val_if_fail (s != NULL, FALSE);
  return g_strcmp0 (s->preset, "transfer") == 0 && g_strcmp0 (s->recipe, "auto") == 0;
}

static gboolean
at_default (const char *key, const BtProjectSettings *s)
{
  const BtSettingInfo *row = bt_settings_find (key);
  return row != NULL && bt_setting_get_number (row, s) == row->def;
}

guint
bt_recipe_free_fields (const BtProjectSettings *s)
{
  guint f = 0;

  g_return_val_if_fail (s != NULL, 0);
  f |= at_default ("learning-rate", s) ? BT_RECIPE_LEARNING_RATE : 0;
  f |= at_default ("weight-decay", s) ? BT_RECIPE_WEIGHT_DECAY : 0;
  f |= at_default ("label-smoothing", s) ? BT_RECIPE_LABEL_SMOOTHING : 0;
  f |= at_default ("transfer-hidden", s) ? BT_RECIPE_HIDDEN : 0;
  f |= at_default ("epochs", s) ? BT_RECIPE_EPOCHS : 0;
  /* mirrored training photos only when no augmentation was asked for (the crops would come along) */
  f |= at_default ("augment-flip", s) && at_default ("augment-crop", s) ? BT_RECIPE_FLIP : 0;
  f |= at_default ("test-time-augmentation", s) ? BT_RECIPE_TTA : 0;
  return f;
}

/* ---- One setting, k folds ---- */

static gboolean
stopped (Search *S, GError **error)
{
  if (S->gate == NULL || S->gate (S->gate_data))
    return FALSE;
  g_set_error_literal (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_CANCELLED, _("Training was stopped"));
  return TRUE;
}

/* One epoch over a fold's training samples; FALSE on a non-finite loss (diverged). */
static gboolean
train_epoch (Search *S, BtNet *net, BtOptimizer *opt, BtEmbBatcher *tb, int epoch, const Config *cfg)
{
  int n;

  bt_emb_batcher_start_epoch (tb, epoch);
  while ((n = bt_emb_batcher_next (tb, S->x, S->labels, NULL)) > 0)
    {
      double loss = 0;
      gboolean ok;

      bt_compute_gate_enter ();
      ok = bt_net_train_step (net, opt, S->x, S->labels, n, S->class_weights, (float) cfg->ls, (float) cfg->lr,
                              &loss, NULL, NULL);
      bt_compute_gate_leave ();
      if (!ok)
        return FALSE;
    }
  return TRUE;
}

/* Cross-entropy and top-1 of one image's logits (the same numbers as bt_net_loss). */
static void
score_logits (const float *l, int k, int label, double *loss, double *correct)
{
  int top = 0;
  double mx, sum = 0;

  for (int j = 1; j < k; j++)
    if (l[j] > l[top])
      top = j;
  mx = l[top];
  for (int j = 0; j < k; j++)
    sum += exp (l[j] - mx);
  *loss += mx + log (sum) - l[label];
  *correct += top == label;
}

/* The weights' average on a fold's held-out images: adds correct and summed loss, [0] from the
 * image's logits, [1] (with mirrors) from the mean of the image's and its mirror's. */
static gboolean
eval_fold (Search *S, BtNet *net, BtOptimizer *opt, const BtSplitView *val, double correct[2], double loss_sum[2])
{
  int k = S->n_classes, n_views = S->mirrors ? 2 : 1;
  gboolean ok = TRUE;

  bt_optimizer_swap_average (opt, net);
  for (guint start = 0; ok && start < val->n; start += S->batch)
    {
      int n = (int) MIN ((guint) S->batch, val->n - start);

      for (int v = 0; ok && v < n_views; v++)
        {
          for (int i = 0; i < n; i++)
            memcpy (S->x + (gsize) i * S->dim, bt_embeddings_get (S->emb, val->items[start + i], v),
                    sizeof (float) * S->dim);
          bt_compute_gate_enter ();
          ok = bt_net_forward (net, S->x, n, FALSE, NULL) != NULL;
          if (ok)
            memcpy (S->logits + (gsize) v * S->batch * k, bt_net_logits (net), sizeof (float) * n * k);
          bt_compute_gate_leave ();
        }
      for (int i = 0; ok && i < n; i++)
        {
          float *l0 = S->logits + (gsize) i * k, *l1 = S->logits + ((gsize) S->batch + i) * k;
          score_logits (l0, k, val->labels[start + i], &loss_sum[0], &correct[0]);
          if (n_views == 2)
            {
              for (int j = 0; j < k; j++)
                l1[j] = 0.5f * (l0[j] + l1[j]);
              score_logits (l1, k, val->labels[start + i], &loss_sum[1], &correct[1]);
            }
        }
    }
  bt_optimizer_swap_average (opt, net);
  return ok && isfinite (loss_sum[0]) && isfinite (loss_sum[1]);
}

/* Trains cfg on every fold; sc's curves get, after epoch e + 1, the mean over all held-out
 * images. A diverged fold scores 0 and an infinite loss from there on. */
static gboolean
run_config (Search *S, const Config *cfg, Scored *sc, GError **error)
{
  BtOptimizerKind kind = BT_OPTIMIZER_ADAM;
  BtOptimizerConfig oc;

  bt_optimizer_kind_from_id (S->s->optimizer, &kind);
  bt_optimizer_config_init (&oc, kind);
  oc.weight_decay = (float) cfg->wd;
  oc.ema_decay = BT_WEIGHT_AVERAGE_DECAY;
  for (int f = 0; f < S->k; f++)
    {
      guint64 seed = S->s->seed + (guint64) f;
      g_autoptr(BtNet) net = bt_net_new_transfer (S->dim, cfg->hidden, S->n_classes, (float) S->s->dropout, seed, error);
      g_autoptr(BtOptimizer) opt = NULL;
      g_autoptr(BtEmbBatcher) tb = NULL;
      gboolean alive = TRUE;

      if (net == NULL)
        return FALSE;
      opt = bt_optimizer_new (net, &oc);
      tb = bt_emb_batcher_new (S->emb, S->train[f], S->batch, TRUE, cfg->flip || S->s->augment_crop, seed);
      for (int e = 0; e < S->epochs; e++)
        {
          double correct[2] = { 0, 0 }, lsum[2] = { 0, 0 };

          if (stopped (S, error))
            return FALSE;
          alive = alive && train_epoch (S, net, opt, tb, e + 1, cfg) && eval_fold (S, net, opt, S->val[f], correct, lsum);
          for (int t = 0; t < 2; t++)
            {
              sc->curve_acc[t][e] += alive ? correct[t] : 0;
              sc->curve_loss[t][e] += alive ? lsum[t] : INFINITY;
            }
        }
    }
  for (int t = 0; t < 2; t++)
    for (int e = 0; e < S->epochs; e++)
      {
        sc->curve_acc[t][e] /= S->n_val_total;
        sc->curve_loss[t][e] /= S->n_val_total;
      }
  return TRUE;
}

/* Better: higher accuracy, then lower loss (exact ties keep the earlier one). */
static gboolean
better (double acc, double loss, double best_acc, double best_loss)
{
  return acc > best_acc || (acc == best_acc && loss < best_loss);
}

static gboolean
same_config (const Config *a, const Config *b)
{
  return a->lr == b->lr && a->wd == b->wd && a->ls == b->ls && a->hidden == b->hidden && a->flip == b->flip;
}

/* Which predictions a setting may be scored with: without test-time augmentation, with it, or
 * the better of the two when the recipe chooses it (without first: a tie keeps the cheaper). */
static void
tta_range (Search *S, int *first, int *last)
{
  gboolean can = S->mirrors, fixed_on = !(S->free_fields & BT_RECIPE_TTA) && S->s->tta;
  *first = can && fixed_on ? 1 : 0;
  *last = can && (fixed_on || (S->free_fields & BT_RECIPE_TTA)) ? 1 : 0;
}

/* Scores cfg (once: a setting tried before is looked up). */
static const Scored *
score (Search *S, const Config *cfg, GError **error)
{
  Scored sc = { *cfg, 0, FALSE, -1, INFINITY, { NULL, NULL }, { NULL, NULL } };
  int first, last;

  for (guint i = 0; i < S->scored->len; i++)
    if (same_config (&g_array_index (S->scored, Scored, i).cfg, cfg))
      return &g_array_index (S->scored, Scored, i);
  for (int t = 0; t < 2; t++)
    {
      sc.curve_acc[t] = g_new0 (double, S->epochs);
      sc.curve_loss[t] = g_new0 (double, S->epochs);
    }
  g_array_append_val (S->scored, sc);   /* the array frees the curves from here on */
  Scored *p = &g_array_index (S->scored, Scored, S->scored->len - 1);
  if (!run_config (S, cfg, p, error))
    {
      g_array_set_size (S->scored, S->scored->len - 1);
      return NULL;
    }
  /* the epochs are free only from MIN_EPOCHS on: fewer would be a coin toss on small folds */
  tta_range (S, &first, &last);
  for (int t = first; t <= last; t++)
    for (int e = MIN (MIN_EPOCHS, S->epochs) - 1; e < S->epochs; e++)
      if (better (p->curve_acc[t][e], p->curve_loss[t][e], p->acc, p->loss))
        {
          p->acc = p->curve_acc[t][e];
          p->loss = p->curve_loss[t][e];
          p->best_epoch = e + 1;
          p->tta = t == 1;
        }
  return p;
}

static void
scored_clear (gpointer p)
{
  Scored *sc = p;
  for (int t = 0; t < 2; t++)
    {
      g_free (sc->curve_acc[t]);
      g_free (sc->curve_loss[t]);
    }
}

/* ---- The search ---- */

static gboolean
make_folds (Search *S, const BtSplitView *train, const guint64 *hashes, GError **error)
{
  g_autofree guint64 *h = g_new (guint64, MAX (train->n, 1));
  g_autofree int *labels = g_new (int, MAX (train->n, 1));
  g_autofree guint *usable = g_new (guint, MAX (train->n, 1));
  g_autofree int *folds = NULL;
  guint n = 0;

  for (guint i = 0; i < train->n; i++)
    if (bt_embeddings_is_valid (S->emb, train->items[i]))
      {
        usable[n] = i;
        h[n] = hashes[train->items[i]];
        labels[n++] = train->labels[i];
      }
  folds = g_new (int, MAX (n, 1));
  if (n < (guint) S->k * 2 || !bt_folds_assign (h, labels, n, S->k, folds, error))
    {
      g_clear_error (error);
      g_set_error_literal (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_NO_DATA,
                           _("Too few training images for the automatic recipe"));
      return FALSE;
    }
  for (int f = 0; f < S->k; f++)
    {
      S->train[f] = g_new0 (BtSplitView, 1);
      S->val[f] = g_new0 (BtSplitView, 1);
      S->train[f]->items = g_new (guint, n);
      S->train[f]->labels = g_new (int, n);
      S->val[f]->items = g_new (guint, n);
      S->val[f]->labels = g_new (int, n);
      for (guint j = 0; j < n; j++)
        {
          BtSplitView *v = folds[j] == f ? S->val[f] : S->train[f];
          v->items[v->n] = train->items[usable[j]];
          v->labels[v->n++] = labels[j];
        }
    }
  S->n_val_total = n;
  return TRUE;
}

static void
search_clear (Search *S)
{
  for (int f = 0; f < BT_FOLDS_MAX; f++)
    {
      g_clear_pointer (&S->train[f], bt_split_view_free);
      g_clear_pointer (&S->val[f], bt_split_view_free);
    }
  g_free (S->x);
  g_free (S->logits);
  g_free (S->labels);
  g_clear_pointer (&S->scored, g_array_unref);
}

/* Stage 1: learning rate × hidden units at the settings' decay and smoothing; stage 2: decay ×
 * smoothing at stage 1's best; stage 3: the mirrored photos as training samples too. Returns the
 * best, or NULL with error. */
static const Scored *
search_grid (Search *S, GError **error)
{
  const BtProjectSettings *s = S->s;
  guint fr = S->free_fields;
  Config top;
  gboolean have = FALSE;
  const Scored *best;
  int n_lr = fr & BT_RECIPE_LEARNING_RATE ? G_N_ELEMENTS (grid_lr) : 1;
  int n_h = fr & BT_RECIPE_HIDDEN ? G_N_ELEMENTS (grid_hidden) : 1;
  int n_wd = fr & BT_RECIPE_WEIGHT_DECAY ? G_N_ELEMENTS (grid_wd) : 1;
  int n_ls = fr & BT_RECIPE_LABEL_SMOOTHING ? G_N_ELEMENTS (grid_ls) : 1;

  for (int i = 0; i < n_lr; i++)
    for (int j = 0; j < n_h; j++)
      {
        Config c = { n_lr > 1 ? grid_lr[i] : s->learning_rate, s->weight_decay, s->label_smoothing,
                     n_h > 1 ? grid_hidden[j] : s->transfer_hidden, s->augment_flip };
        const Scored *sc = score (S, &c, error);
        /* score() may grow the array: the best is kept by its setting and looked up again */
        if (sc == NULL || (have && (best = score (S, &top, error)) == NULL))
          return NULL;
        if (!have || better (sc->acc, sc->loss, best->acc, best->loss))
          top = sc->cfg;
        have = TRUE;
      }
  for (int i = 0; i < n_wd; i++)
    for (int j = 0; j < n_ls; j++)
      {
        Config c = top;
        c.wd = n_wd > 1 ? grid_wd[i] : s->weight_decay;
        c.ls = n_ls > 1 ? grid_ls[j] : s->label_smoothing;
        const Scored *sc = score (S, &c, error);
        if (sc == NULL || (best = score (S, &top, error)) == NULL)
          return NULL;
        if (better (sc->acc, sc->loss, best->acc, best->loss))
          top = sc->cfg;
      }
  if ((fr & BT_RECIPE_FLIP) && S->mirrors)
    {
      Config c = top;
      c.flip = TRUE;
      const Scored *sc = score (S, &c, error);
      if (sc == NULL || (best = score (S, &top, error)) == NULL)
        return NULL;
      if (better (sc->acc, sc->loss, best->acc, best->loss))
        top = sc->cfg;
    }
  return score (S, &top, error);
}

/* Every usable training image has its mirrored embedding. */
static gboolean
have_mirrors (BtEmbeddings *emb, const BtSplitView *train)
{
  for (guint i = 0; i < train->n; i++)
    if (bt_embeddings_is_valid (emb, train->items[i]) && bt_embeddings_get (emb, train->items[i], 1) == NULL)
      return FALSE;
  return train->n > 0;
}

static void
fill_choice (Search *S, const Scored *best, const Scored *base, BtRecipeChoice *out)
{
  const BtProjectSettings *s = S->s;
  int t = best->tta ? 1 : 0, bt = S->mirrors && s->tta ? 1 : 0;

  out->chosen = S->free_fields;
  out->learning_rate = best->cfg.lr;
  out->weight_decay = best->cfg.wd;
  out->label_smoothing = best->cfg.ls;
  out->hidden = best->cfg.hidden;
  out->flip = best->cfg.flip;
  out->tta = S->free_fields & BT_RECIPE_TTA ? best->tta : s->tta;
  out->epochs = S->free_fields & BT_RECIPE_EPOCHS ? best->best_epoch : s->epochs;
  out->cv_acc = best->curve_acc[t][out->epochs - 1];
  out->cv_loss = best->curve_loss[t][out->epochs - 1];
  out->base_acc = base->curve_acc[bt][MIN (s->epochs, S->epochs) - 1];
  out->k = S->k;
  out->n_tried = (int) S->scored->len;
}

gboolean
bt_recipe_search (BtEmbeddings *emb, const BtSplitView *train, const guint64 *hashes, int n_classes,
                  const BtProjectSettings *s, const float *class_weights,
                  gboolean (*gate) (gpointer data), gpointer gate_data, BtRecipeChoice *out, GError **error)
{
  Search S = { 0 };
  gint64 t0 = g_get_monotonic_time ();
  const Scored *best;
  gboolean ok = FALSE;

  g_return_val_if_fail (emb != NULL && train != NULL && hashes != NULL && s != NULL && out != NULL, FALSE);
  memset (out, 0, sizeof *out);
  out->holdout_val_acc = NAN;
  S.free_fields = bt_recipe_free_fields (s);
  S.emb = emb;
  S.s = s;
  S.class_weights = class_weights;
  S.dim = bt_embeddings_get_dim (emb);
  S.n_classes = n_classes;
  S.k = BT_RECIPE_FOLDS;
  S.epochs = S.free_fields & BT_RECIPE_EPOCHS ? SEARCH_EPOCHS : s->epochs;
  S.batch = s->batch_size;
  S.mirrors = have_mirrors (emb, train);
  S.gate = gate;
  S.gate_data = gate_data;
  S.x = g_new (float, (gsize) S.dim * S.batch);
  S.logits = g_new (float, (gsize) 2 * S.batch * n_classes);
  S.labels = g_new (int, S.batch);
  S.scored = g_array_new (FALSE, FALSE, sizeof (Scored));
  g_array_set_clear_func (S.scored, scored_clear);

  if (make_folds (&S, train, hashes, error) && (best = search_grid (&S, error)) != NULL)
    {
      Config base = { s->learning_rate, s->weight_decay, s->label_smoothing, s->transfer_hidden, s->augment_flip };
      Config chosen = best->cfg;
      const Scored *b = score (&S, &base, error);   /* tried in stage 1: a look-up */
      best = b != NULL ? score (&S, &chosen, error) : NULL;
      if (best != NULL)
        {
          fill_choice (&S, best, b, out);
          ok = TRUE;
        }
    }
  out->seconds = (g_get_monotonic_time () - t0) / 1e6;
  search_clear (&S);
  return ok;
}

void
bt_recipe_apply (const BtRecipeChoice *c, BtProjectSettings *s)
{
  g_return_if_fail (c != NULL && s != NULL);
  if (c->chosen & BT_RECIPE_LEARNING_RATE)
    s->learning_rate = c->learning_rate;
  if (c->chosen & BT_RECIPE_WEIGHT_DECAY)
    s->weight_decay = c->weight_decay;
  if (c->chosen & BT_RECIPE_LABEL_SMOOTHING)
    s->label_smoothing = c->label_smoothing;
  if (c->chosen & BT_RECIPE_HIDDEN)
    s->transfer_hidden = c->hidden;
  if (c->chosen & BT_RECIPE_EPOCHS)
    s->epochs = c->epochs;
  if (c->chosen & BT_RECIPE_FLIP)
    s->augment_flip = c->flip;
  if (c->chosen & BT_RECIPE_TTA)
    s->tta = c->tta;
}

/* The trainer's part: fine-tuning (planned, kept or left out) and the final head. */
static void
describe_outcome (const BtRecipeChoice *c, GString *text)
{
  int n = c->finetune_blocks;

  /* each g_dngettext a literal format of its own (the fuzz build's clang checks formats) */
  if (n > 0)
    g_string_append_c (text, ' ');
  if (n > 0 && !c->finished)
    g_string_append_printf (text, g_dngettext (GETTEXT_PACKAGE,
                       "Then the backbone’s last %d block is fine-tuned with the head, kept only if that beats the head alone on the validation photos.",
                       "Then the backbone’s last %d blocks are fine-tuned with the head, kept only if that beats the head alone on the validation photos.", n), n);
  else if (n > 0 && c->finetune_kept)
    g_string_append_printf (text, g_dngettext (GETTEXT_PACKAGE,
                       "The backbone’s last %d block was fine-tuned: better than the head alone on the validation photos.",
                       "The backbone’s last %d blocks were fine-tuned: better than the head alone on the validation photos.", n), n);
  else if (n > 0)
    g_string_append_printf (text, g_dngettext (GETTEXT_PACKAGE,
                       "Fine-tuning the backbone’s last %d block was tried and left out: it did not beat the head alone on the validation photos.",
                       "Fine-tuning the backbone’s last %d blocks was tried and left out: it did not beat the head alone on the validation photos.", n), n);
  if (c->finished && c->final_images == 0)
    {
      g_string_append_c (text, ' ');
      g_string_append (text, _("The final model is the one validated: it was trained on the training photos only."));
    }
  else if (c->finished)
    {
      g_string_append_c (text, ' ');
      g_string_append_printf (text, g_dngettext (GETTEXT_PACKAGE,
                                                 "The final head was trained on the training and validation photos together (%d image), so it has no validation score of its own.",
                                                 "The final head was trained on the training and validation photos together (%d images), so it has no validation score of its own.",
                                                 c->final_images), c->final_images);
      if (isfinite (c->holdout_val_acc))
        {
          g_string_append_c (text, ' ');
          g_string_append_printf (text, _("Trained without them, the same recipe scored %.1f%% on the validation photos."),
                                  100 * c->holdout_val_acc);
        }
    }
}

char *
bt_recipe_describe (const BtRecipeChoice *c)
{
  GString *parts = g_string_new (NULL);
  char buf[G_ASCII_DTOSTR_BUF_SIZE];

  g_return_val_if_fail (c != NULL, NULL);
#define SEP() (parts->len > 0 ? g_string_append (parts, ", ") : parts)
  if (c->chosen & BT_RECIPE_LEARNING_RATE)
    g_string_append_printf (SEP (), _("learning rate %s"), g_ascii_formatd (buf, sizeof buf, "%g", c->learning_rate));
  if (c->chosen & BT_RECIPE_WEIGHT_DECAY)
    g_string_append_printf (SEP (), _("weight decay %s"), g_ascii_formatd (buf, sizeof buf, "%g", c->weight_decay));
  if (c->chosen & BT_RECIPE_LABEL_SMOOTHING)
    g_string_append_printf (SEP (), _("label smoothing %s"), g_ascii_formatd (buf, sizeof buf, "%g", c->label_smoothing));
  if (c->chosen & BT_RECIPE_HIDDEN)
    {
      if (c->hidden > 0)
        g_string_append_printf (SEP (), _("a hidden layer of %d units"), c->hidden);
      else
        g_string_append (SEP (), _("no hidden layer"));
    }
  if ((c->chosen & BT_RECIPE_FLIP) && c->flip)
    g_string_append (SEP (), _("mirrored photos in training"));
  if ((c->chosen & BT_RECIPE_TTA) && c->tta)
    g_string_append (SEP (), _("each photo and its mirror when predicting"));
  if (c->chosen & BT_RECIPE_EPOCHS)
    g_string_append_printf (SEP (), g_dngettext (GETTEXT_PACKAGE, "%d epoch", "%d epochs", c->epochs), c->epochs);
#undef SEP
  GString *text = g_string_new (NULL);
  if (c->chosen == 0)
    g_string_append (text, _("Automatic recipe: your own settings are used as they are."));
  else
    /* Translators: "Automatic recipe: learning rate 0.003, no hidden layer, 24 epochs. The best of 11
     * settings tried on 3 parts of the training photos: 97.9% right, 96.5% with the defaults." */
    g_string_append_printf (text, _("Automatic recipe: %s. The best of %d settings tried on %d parts of the "
                                    "training photos: %.1f%% right, %.1f%% with the defaults."),
                            parts->str, c->n_tried, c->k, 100 * c->cv_acc, 100 * c->base_acc);
  g_string_free (parts, TRUE);
  describe_outcome (c, text);
  return g_string_free (text, FALSE);
}

/* ---- recipe.ini ---- */

#define GROUP "recipe"

gboolean
bt_recipe_save (const BtRecipeChoice *c, const char *run_dir, GError **error)
{
  g_autoptr(GKeyFile) kf = g_key_file_new ();
  g_autofree char *path = g_build_filename (run_dir, "recipe.ini", NULL);
  g_autofree char *data = NULL;
  gsize len;

  g_key_file_set_integer (kf, GROUP, "chosen", (int) c->chosen);
  g_key_file_set_double (kf, GROUP, "learning-rate", c->learning_rate);
  g_key_file_set_double (kf, GROUP, "weight-decay", c->weight_decay);
  g_key_file_set_double (kf, GROUP, "label-smoothing", c->label_smoothing);
  g_key_file_set_integer (kf, GROUP, "hidden", c->hidden);
  g_key_file_set_integer (kf, GROUP, "epochs", c->epochs);
  g_key_file_set_double (kf, GROUP, "cv-accuracy", c->cv_acc);
  g_key_file_set_double (kf, GROUP, "cv-loss", c->cv_loss);
  g_key_file_set_double (kf, GROUP, "base-accuracy", c->base_acc);
  g_key_file_set_integer (kf, GROUP, "folds", c->k);
  g_key_file_set_integer (kf, GROUP, "tried", c->n_tried);
  g_key_file_set_double (kf, GROUP, "seconds", c->seconds);
  g_key_file_set_boolean (kf, GROUP, "flip", c->flip);
  g_key_file_set_boolean (kf, GROUP, "test-time-augmentation", c->tta);
  g_key_file_set_integer (kf, GROUP, "fine-tune-blocks", c->finetune_blocks);
  g_key_file_set_boolean (kf, GROUP, "finished", c->finished);
  g_key_file_set_boolean (kf, GROUP, "fine-tune-kept", c->finetune_kept);
  /* what the final model was trained on: "train" or "train+val" (final-images of them) */
  g_key_file_set_string (kf, GROUP, "final-trained-on", c->final_images > 0 ? "train+val" : "train");
  g_key_file_set_integer (kf, GROUP, "final-images", c->final_images);
  if (isfinite (c->holdout_val_acc))
    g_key_file_set_double (kf, GROUP, "holdout-val-accuracy", c->holdout_val_acc);
  data = g_key_file_to_data (kf, &len, NULL);
  return bt_write_file_atomic (path, data, len, error);
}

gboolean
bt_recipe_load (BtRecipeChoice *c, const char *run_dir, GError **error)
{
  g_autoptr(GKeyFile) kf = g_key_file_new ();
  g_autofree char *path = g_build_filename (run_dir, "recipe.ini", NULL);
  GError *e = NULL;
  BtRecipeChoice r = { 0 };

  if (!g_key_file_load_from_file (kf, path, G_KEY_FILE_NONE, error))
    return FALSE;
  r.chosen = (guint) g_key_file_get_integer (kf, GROUP, "chosen", &e) & BT_RECIPE_ALL_FIELDS;
#define D(field, key) if (e == NULL) r.field = g_key_file_get_double (kf, GROUP, key, &e)
#define I(field, key) if (e == NULL) r.field = g_key_file_get_integer (kf, GROUP, key, &e)
  D (learning_rate, "learning-rate");
  D (weight_decay, "weight-decay");
  D (label_smoothing, "label-smoothing");
  I (hidden, "hidden");
  I (epochs, "epochs");
  D (cv_acc, "cv-accuracy");
  D (cv_loss, "cv-loss");
  D (base_acc, "base-accuracy");
  I (k, "folds");
  I (n_tried, "tried");
  D (seconds, "seconds");
#undef D
#undef I
  if (e == NULL)
    {
      r.flip = g_key_file_get_boolean (kf, GROUP, "flip", NULL);
      r.tta = g_key_file_get_boolean (kf, GROUP, "test-time-augmentation", NULL);
      g_autoptr(GError) absent = NULL;
      /* written by the trainer (absent from older runs' files: no fine-tuning, the training split) */
      r.finetune_blocks = g_key_file_get_integer (kf, GROUP, "fine-tune-blocks", NULL);
      r.finished = g_key_file_get_boolean (kf, GROUP, "finished", NULL);
      r.finetune_kept = g_key_file_get_boolean (kf, GROUP, "fine-tune-kept", NULL);
      r.final_images = g_key_file_get_integer (kf, GROUP, "final-images", NULL);
      r.holdout_val_acc = g_key_file_get_double (kf, GROUP, "holdout-val-accuracy", &absent);
      if (absent != NULL)
        r.holdout_val_acc = NAN;
    }
  if (e != NULL || !isfinite (r.cv_acc) || !isfinite (r.base_acc) || r.epochs < 1 || r.hidden < 0 || r.k < 1 ||
      r.finetune_blocks < 0 || r.finetune_blocks > 64 || r.final_images < 0 ||
      !(isnan (r.holdout_val_acc) || (r.holdout_val_acc >= 0 && r.holdout_val_acc <= 1)))
    {
      g_clear_error (&e);
      g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_IO, _("%s is damaged"), path);
      return FALSE;
    }
  *c = r;
  return TRUE;
}

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char * const *) a, *(char * const *) b);
}

char *
bt_recipe_describe_latest (const char *project_dir)
{
  g_autofree char *runs = g_build_filename (project_dir, "runs", NULL);
  g_autoptr(GDir) dir = g_dir_open (runs, 0, NULL);
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    g_ptr_array_add (names, g_strdup (name));
  /* run ids are timestamps: the newest sorts last */
  g_ptr_array_sort (names, compare_names);
  for (guint i = names->len; i-- > 0;)
    {
      g_autofree char *run_dir = g_build_filename (runs, names->pdata[i], NULL);
      BtRecipeChoice c;
      if (bt_recipe_load (&c, run_dir, NULL))
        return bt_recipe_describe (&c);
    }
  return NULL;
}

gboolean
bt_recipe_finetune_rule (const BtSplitView *train, int n_classes)
{
  g_autofree guint *count = g_new0 (guint, MAX (n_classes, 1));

  g_return_val_if_fail (train != NULL && n_classes > 0, FALSE);
  for (guint i = 0; i < train->n; i++)
    if (train->labels[i] >= 0 && train->labels[i] < n_classes)
      count[train->labels[i]]++;
  for (int k = 0; k < n_classes; k++)
    if (count[k] < BT_RECIPE_FINETUNE_MIN_PER_CLASS)
      return FALSE;
  return TRUE;
}
