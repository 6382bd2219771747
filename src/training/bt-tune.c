/* bt-tune.c: hyperparameter search — the space, the grid/random/successive-halving plans, the
 * trial runner (a BtTrainer on validation data only) and trials.csv/search.ini persistence.
 * A search writes its runs/tune-* folder only under the project's run lock (bt-run-lock.c),
 * held for the whole of bt_tune_search_run: a second search or a training run in the same
 * project is refused, and the tidy-up leaves the folder alone. Its trials write no files and
 * take no lock. */
#include "config.h"

#include <glib/gi18n-lib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "training/bt-training.h"
#include "training/bt-tune.h"
#include "training/bt-train-source.h"

#define ETA 2   /* successive halving keeps the best 1/ETA and gives them ETA× the epochs */

static const char wrong_preset_message[] =
  N_("A search tries the transfer preset only in a transfer project, and no other preset there.");

static guint bt_tune_decoded[BT_N_SPLITS];

static gboolean
known_optimizer (const char *id)
{
  BtOptimizerKind k;
  return id != NULL && bt_optimizer_kind_from_id (id, &k);
}

static gboolean
known_preset (const char *id)
{
  BtPreset p;
  return id != NULL && bt_preset_from_id (id, &p);
}

static gboolean
is_transfer (const char *preset)
{
  return g_strcmp0 (preset, "transfer") == 0;
}

guint
bt_tune_get_decoded (BtSplit split)
{
  g_return_val_if_fail (split < BT_N_SPLITS, 0);
  return g_atomic_int_get (&bt_tune_decoded[split]);
}

static guint64
mix (guint64 x)
{
  x += G_GUINT64_CONSTANT (0x9e3779b97f4a7c15);
  x = (x ^ (x >> 30)) * G_GUINT64_CONSTANT (0xbf58476d1ce4e5b9);
  x = (x ^ (x >> 27)) * G_GUINT64_CONSTANT (0x94d049bb133111eb);
  return x ^ (x >> 31);
}

/* ---- Strategies ---- */

static const char *const strategy_ids[] = { "grid", "random", "adaptive" };

const char *
bt_tune_strategy_to_id (BtTuneStrategy s)
{
  g_return_val_if_fail ((guint) s < G_N_ELEMENTS (strategy_ids), "random");
  return strategy_ids[s];
}

gboolean
bt_tune_strategy_from_id (const char *id, BtTuneStrategy *out)
{
  for (guint i = 0; id != NULL && i < G_N_ELEMENTS (strategy_ids); i++)
    if (strcmp (id, strategy_ids[i]) == 0)
      {
        if (out)
          *out = (BtTuneStrategy) i;
        return TRUE;
      }
  return FALSE;
}

void
bt_tune_options_init (BtTuneOptions *opts, const BtProjectSettings *base)
{
  g_return_if_fail (opts != NULL && base != NULL);
  memset (opts, 0, sizeof *opts);
  opts->strategy = BT_TUNE_RANDOM;
  opts->max_trials = 8;
  opts->epochs = MAX (1, MIN (base->epochs, 10));
  opts->seed = base->seed;
  BtTuneSpace *sp = &opts->space;
  sp->lr_min = 1e-4;
  sp->lr_max = 1e-2;
  sp->batch_sizes[0] = 16;
  sp->batch_sizes[1] = 32;
  sp->batch_sizes[2] = 64;
  sp->n_batch_sizes = 3;
  const char *opt[] = { "adam", "sgd", NULL };
  sp->optimizers = g_strdupv ((char **) opt);
  sp->dropout_min = 0.0;
  sp->dropout_max = 0.5;
  sp->weight_decay_min = 0.0;
  sp->weight_decay_max = 1e-3;
  sp->vary_augment = TRUE;
  const char *pre[] = { base->preset != NULL ? base->preset : "small-cnn", NULL };
  sp->presets = g_strdupv ((char **) pre);
  sp->grid_points = 3;
  if (!is_transfer (base->preset))
    return;
  /* a head on cached embeddings: seconds per trial, so the project's epochs (up to the recipe's
   * 30); its batch size and augmentation as they are; the ranges the recipe's grid spans */
  opts->epochs = MAX (1, MIN (base->epochs, 30));
  sp->batch_sizes[0] = base->batch_size;
  sp->n_batch_sizes = 1;
  sp->vary_augment = FALSE;
  sp->weight_decay_max = 1e-2;
  sp->label_smoothing_min = 0.0;
  sp->label_smoothing_max = 0.1;
  sp->hidden_units[0] = 0;
  sp->hidden_units[1] = 256;
  sp->n_hidden_units = 2;
  const char *head_opt[] = { "adam", "adamw", NULL };
  g_strfreev (sp->optimizers);
  sp->optimizers = g_strdupv ((char **) head_opt);
}

void
bt_tune_options_clear (BtTuneOptions *opts)
{
  g_return_if_fail (opts != NULL);
  g_clear_pointer (&opts->space.optimizers, g_strfreev);
  g_clear_pointer (&opts->space.presets, g_strfreev);
}

static void
options_copy (BtTuneOptions *dest, const BtTuneOptions *src)
{
  *dest = *src;
  dest->space.optimizers = g_strdupv (src->space.optimizers);
  dest->space.presets = g_strdupv (src->space.presets);
}

static gboolean
options_check (const BtTuneOptions *o, GError **error)
{
  const BtTuneSpace *sp = &o->space;
  const char *bad = NULL;
  if ((guint) o->strategy > BT_TUNE_ADAPTIVE)
    bad = "strategy";
  else if (o->max_trials < 0 || o->max_trials > 10000 || !(o->max_minutes >= 0 && o->max_minutes <= 100000))
    bad = "budget";
  else if (o->max_trials == 0 && o->max_minutes <= 0)
    bad = "budget";
  else if (o->epochs < 1 || o->epochs > 1000)
    bad = "epochs";
  else if (!(sp->lr_min > 0 && sp->lr_max >= sp->lr_min && sp->lr_max <= 10))
    bad = "learning rate";
  else if (sp->n_batch_sizes < 1 || sp->n_batch_sizes > 4)
    bad = "batch size";
  else if (!(sp->dropout_min >= 0 && sp->dropout_max >= sp->dropout_min && sp->dropout_max < 1))
    bad = "dropout";
  else if (!(sp->weight_decay_min >= 0 && sp->weight_decay_max >= sp->weight_decay_min && sp->weight_decay_max <= 1))
    bad = "weight decay";
  else if (sp->grid_points < 2 || sp->grid_points > 5)
    bad = "grid points";
  else if (sp->optimizers == NULL || sp->optimizers[0] == NULL || sp->presets == NULL || sp->presets[0] == NULL)
    bad = "space";
  const BtSettingInfo *batch_row = bt_settings_find ("batch-size");
  for (int i = 0; bad == NULL && i < sp->n_batch_sizes; i++)
    if (sp->batch_sizes[i] < batch_row->min || sp->batch_sizes[i] > batch_row->max)
      bad = "batch size";
  for (guint i = 0; bad == NULL && sp->optimizers[i]; i++)
    if (!known_optimizer (sp->optimizers[i]))
      bad = "optimizer";
  /* the transfer preset trains on embeddings, the others on pixels: never both in one search */
  for (guint i = 0; bad == NULL && sp->presets[i]; i++)
    if (!known_preset (sp->presets[i]) || is_transfer (sp->presets[i]) != is_transfer (sp->presets[0]))
      bad = "preset";
  if (bad == NULL && !(sp->label_smoothing_min >= 0 && sp->label_smoothing_max >= sp->label_smoothing_min &&
                       sp->label_smoothing_max < 1))
    bad = "label smoothing";
  const BtSettingInfo *hidden_row = bt_settings_find ("transfer-hidden");
  if (bad == NULL && (sp->n_hidden_units < 0 || sp->n_hidden_units > 4))
    bad = "hidden units";
  for (int i = 0; bad == NULL && i < sp->n_hidden_units; i++)
    if (sp->hidden_units[i] < hidden_row->min || sp->hidden_units[i] > hidden_row->max)
      bad = "hidden units";
  if (bad != NULL)
    {
      g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID,
                   _("The search setting “%s” is out of range."), bad);
      return FALSE;
    }
  return TRUE;
}

/* ---- Trials ---- */

BtTuneTrial *
bt_tune_trial_new (void)
{
  BtTuneTrial *t = g_new0 (BtTuneTrial, 1);
  t->curve_acc = g_array_new (FALSE, FALSE, sizeof (double));
  t->curve_loss = g_array_new (FALSE, FALSE, sizeof (double));
  t->curve_train_loss = g_array_new (FALSE, FALSE, sizeof (double));
  t->curve_train_acc = g_array_new (FALSE, FALSE, sizeof (double));
  t->val_loss = INFINITY;
  return t;
}

static GArray *
array_dup (GArray *a)
{
  GArray *b = g_array_sized_new (FALSE, FALSE, sizeof (double), a->len);
  g_array_append_vals (b, a->data, a->len);
  return b;
}

BtTuneTrial *
bt_tune_trial_copy (const BtTuneTrial *t)
{
  g_return_val_if_fail (t != NULL, NULL);
  BtTuneTrial *c = g_new (BtTuneTrial, 1);
  *c = *t;
  c->preset = g_strdup (t->preset);
  c->optimizer = g_strdup (t->optimizer);
  c->curve_acc = array_dup (t->curve_acc);
  c->curve_loss = array_dup (t->curve_loss);
  c->curve_train_loss = array_dup (t->curve_train_loss);
  c->curve_train_acc = array_dup (t->curve_train_acc);
  return c;
}

void
bt_tune_trial_free (BtTuneTrial *t)
{
  if (t == NULL)
    return;
  g_free (t->preset);
  g_free (t->optimizer);
  g_array_unref (t->curve_acc);
  g_array_unref (t->curve_loss);
  g_array_unref (t->curve_train_loss);
  g_array_unref (t->curve_train_acc);
  g_free (t);
}

void
bt_tune_trial_apply (const BtTuneTrial *t, BtProjectSettings *s)
{
  g_return_if_fail (t != NULL && s != NULL);
  g_free (s->preset);
  s->preset = g_strdup (t->preset);
  g_free (s->optimizer);
  s->optimizer = g_strdup (t->optimizer);
  s->learning_rate = t->learning_rate;
  s->batch_size = t->batch_size;
  s->dropout = t->dropout;
  s->weight_decay = t->weight_decay;
  if (is_transfer (t->preset))
    {
      s->label_smoothing = t->label_smoothing;
      s->transfer_hidden = t->hidden;
      if (t->best_epoch > 0 && !t->diverged)
        s->epochs = t->best_epoch;
      /* the search chose the head: the Automatic recipe would choose again the rows at a default */
      g_free (s->recipe);
      s->recipe = g_strdup ("manual");
    }
  if (!t->augment)
    s->augment_flip = s->augment_crop = s->augment_rotate = s->augment_color = FALSE;
  else if (!(s->augment_flip || s->augment_crop || s->augment_rotate || s->augment_color))
    s->augment_flip = s->augment_crop = TRUE;
}

char *
bt_tune_trial_describe (const BtTuneTrial *t)
{
  g_return_val_if_fail (t != NULL, NULL);
  char lr[32], dr[32], wd[32];
  g_ascii_formatd (lr, sizeof lr, "%.3g", t->learning_rate);
  if (t->dropout < 0)
    g_strlcpy (dr, "default", sizeof dr);
  else
    g_ascii_formatd (dr, sizeof dr, "%.2f", t->dropout);
  g_ascii_formatd (wd, sizeof wd, "%.3g", t->weight_decay);
  if (is_transfer (t->preset))
    {
      char ls[32];
      g_ascii_formatd (ls, sizeof ls, "%.2g", t->label_smoothing);
      return g_strdup_printf ("%s, %s, lr %s, hidden %d, dropout %s, wd %s, smoothing %s", t->preset, t->optimizer,
                              lr, t->hidden, dr, wd, ls);
    }
  return g_strdup_printf ("%s, %s, lr %s, batch %d, dropout %s, wd %s, aug %s", t->preset, t->optimizer,
                          lr, t->batch_size, dr, wd, t->augment ? "on" : "off");
}

static gboolean
base_augment (const BtProjectSettings *b)
{
  return b->augment_flip || b->augment_crop || b->augment_rotate || b->augment_color;
}

/* The grid's size along each dimension: learning rate, batch size, optimizer, dropout, weight
 * decay, augmentation, preset, label smoothing, hidden units; returns the number of points. */
#define GRID_DIMS 9
static guint
grid_dims (const BtTuneSpace *sp, guint dims[GRID_DIMS])
{
  guint total = 1;
  dims[0] = sp->grid_points;
  dims[1] = sp->n_batch_sizes;
  dims[2] = g_strv_length (sp->optimizers);
  dims[3] = sp->dropout_max > sp->dropout_min ? 2 : 1;
  dims[4] = sp->weight_decay_max > sp->weight_decay_min ? 2 : 1;
  dims[5] = sp->vary_augment ? 2 : 1;
  dims[6] = g_strv_length (sp->presets);
  dims[7] = sp->label_smoothing_max > sp->label_smoothing_min ? 2 : 1;
  dims[8] = MAX (sp->n_hidden_units, 1);
  for (guint i = 0; i < GRID_DIMS; i++)
    total *= dims[i];
  return total;
}

/* The hyperparameters of one config: 0 is the base settings; grid configs walk a seeded
 * permutation of the grid; random configs are drawn from a generator seeded by the config. */
static void
config_fill (const BtTuneOptions *o, const BtProjectSettings *base, int config, BtTuneTrial *t)
{
  const BtTuneSpace *sp = &o->space;
  t->config = config;
  t->seed = mix (o->seed ^ mix ((guint64) config + 1));
  /* the head's rows a space does not vary stay the base's */
  t->label_smoothing = base->label_smoothing;
  t->hidden = base->transfer_hidden;
  if (config == 0)
    {
      t->preset = g_strdup (base->preset);
      t->optimizer = g_strdup (base->optimizer);
      t->learning_rate = base->learning_rate;
      t->batch_size = base->batch_size;
      t->dropout = base->dropout;
      t->weight_decay = base->weight_decay;
      t->augment = base_augment (base);
      return;
    }
  guint n_opt = g_strv_length (sp->optimizers), n_pre = g_strv_length (sp->presets);
  gboolean wd_zero = sp->weight_decay_min <= 0;
  double wd_lo = wd_zero ? MAX (sp->weight_decay_max / 100.0, 1e-6) : sp->weight_decay_min;
  if (o->strategy == BT_TUNE_GRID)
    {
      int g = sp->grid_points;
      guint dims[GRID_DIMS];
      guint total = grid_dims (sp, dims);
      guint32 *perm = g_new (guint32, total);
      for (guint i = 0; i < total; i++)
        perm[i] = i;
      BtRng rng;
      bt_rng_seed (&rng, o->seed);
      bt_rng_shuffle (&rng, perm, total);
      guint v = perm[(guint) (config - 1) % total];
      g_free (perm);
      guint c[GRID_DIMS];
      for (guint i = 0; i < GRID_DIMS; i++)
        {
          c[i] = v % dims[i];
          v /= dims[i];
        }
      t->learning_rate = exp (log (sp->lr_min) + (log (sp->lr_max) - log (sp->lr_min)) * c[0] / (g - 1));
      t->batch_size = sp->batch_sizes[c[1]];
      t->optimizer = g_strdup (sp->optimizers[c[2]]);
      t->dropout = c[3] ? sp->dropout_max : sp->dropout_min;
      t->weight_decay = c[4] ? sp->weight_decay_max : sp->weight_decay_min;
      t->augment = sp->vary_augment ? c[5] == 1 : base_augment (base);
      t->preset = g_strdup (sp->presets[c[6]]);
      if (dims[7] > 1)
        t->label_smoothing = c[7] ? sp->label_smoothing_max : sp->label_smoothing_min;
      if (sp->n_hidden_units > 0)
        t->hidden = sp->hidden_units[c[8]];
      return;
    }
  BtRng rng;
  bt_rng_seed (&rng, mix (o->seed + G_GUINT64_CONSTANT (0x51ed27) * (guint64) config));
  double u = bt_rng_uniform (&rng);
  t->learning_rate = exp (log (sp->lr_min) + (log (sp->lr_max) - log (sp->lr_min)) * u);
  t->batch_size = sp->batch_sizes[bt_rng_below (&rng, sp->n_batch_sizes)];
  t->optimizer = g_strdup (sp->optimizers[bt_rng_below (&rng, n_opt)]);
  t->dropout = sp->dropout_min + (sp->dropout_max - sp->dropout_min) * bt_rng_uniform (&rng);
  t->dropout = round (t->dropout * 100.0) / 100.0;
  u = bt_rng_uniform (&rng);
  /* a quarter of the draws try no weight decay at all when the range starts at 0 */
  if (wd_zero && u < 0.25)
    t->weight_decay = 0.0;
  else
    t->weight_decay = exp (log (wd_lo) + (log (MAX (sp->weight_decay_max, wd_lo)) - log (wd_lo)) * bt_rng_uniform (&rng));
  guint32 aug = bt_rng_below (&rng, 2);
  t->augment = sp->vary_augment ? aug == 1 : base_augment (base);
  t->preset = g_strdup (sp->presets[bt_rng_below (&rng, n_pre)]);
  /* drawn last, and only when varied: the draws above stay those of searches saved before */
  if (sp->label_smoothing_max > sp->label_smoothing_min)
    t->label_smoothing = round ((sp->label_smoothing_min + (sp->label_smoothing_max - sp->label_smoothing_min) *
                                 bt_rng_uniform (&rng)) * 100.0) / 100.0;
  if (sp->n_hidden_units > 0)
    t->hidden = sp->hidden_units[bt_rng_below (&rng, sp->n_hidden_units)];
}

/* ---- Data snapshot and runner ---- */

struct _BtTuneData {
  BtProjectSettings settings;
  gboolean  transfer;    /* heads on the images' embeddings, not networks on their pixels */
  char     *project_dir; /* its cache/ holds the decoded images' spill and the embeddings */
  char     *spill_dir;
  GPtrArray *paths;      /* char* */
  GArray   *labels;      /* int */
  GArray   *hashes;      /* guint64 */
  GArray   *splits;      /* BtSplit */
  guint     n_classes;
  GMutex    lock;
  BtCache  *cache;
  BtEmbeddings *emb;
};

BtTuneData *
bt_tune_data_new (BtProject *project, GError **error)
{
  g_return_val_if_fail (BT_IS_PROJECT (project), NULL);
  g_autoptr (BtTuneData) d = g_new0 (BtTuneData, 1);
  g_mutex_init (&d->lock);
  bt_project_settings_copy (&d->settings, bt_project_get_settings (project));
  d->transfer = is_transfer (d->settings.preset);
  d->project_dir = g_strdup (bt_project_get_dir (project));
  d->spill_dir = g_build_filename (d->project_dir, "cache", NULL);
  d->paths = g_ptr_array_new_with_free_func (g_free);
  d->labels = g_array_new (FALSE, FALSE, sizeof (int));
  d->hashes = g_array_new (FALSE, FALSE, sizeof (guint64));
  d->splits = g_array_new (FALSE, FALSE, sizeof (BtSplit));
  d->n_classes = g_list_model_get_n_items (bt_project_get_classes (project));
  GListModel *items = bt_project_get_items (project);
  const BtSplit splits[] = { BT_SPLIT_TRAIN, BT_SPLIT_VAL };
  for (guint s = 0; s < G_N_ELEMENTS (splits); s++)
    {
      g_autoptr (BtSplitView) v = bt_project_split_view (project, splits[s]);
      for (guint i = 0; v != NULL && i < v->n; i++)
        {
          g_autoptr (BtItem) it = g_list_model_get_item (items, v->items[i]);
          g_ptr_array_add (d->paths, g_strdup (bt_item_get_path (it)));
          g_array_append_val (d->labels, v->labels[i]);
          guint64 h = bt_item_get_hash (it);
          g_array_append_val (d->hashes, h);
          g_array_append_val (d->splits, splits[s]);
        }
    }
  guint n_val = 0;
  for (guint i = 0; i < d->splits->len; i++)
    n_val += g_array_index (d->splits, BtSplit, i) == BT_SPLIT_VAL;
  if (d->n_classes < 2 || d->paths->len == 0 || n_val == 0)
    {
      g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_NO_DATA,
                   _("A search needs at least two classes with training and validation images."));
      return NULL;
    }
  return g_steal_pointer (&d);
}

void
bt_tune_data_free (BtTuneData *d)
{
  if (d == NULL)
    return;
  bt_project_settings_clear (&d->settings);
  g_free (d->project_dir);
  g_free (d->spill_dir);
  g_clear_pointer (&d->paths, g_ptr_array_unref);
  g_clear_pointer (&d->labels, g_array_unref);
  g_clear_pointer (&d->hashes, g_array_unref);
  g_clear_pointer (&d->splits, g_array_unref);
  g_clear_pointer (&d->cache, bt_cache_free);
  g_clear_pointer (&d->emb, bt_embeddings_free);
  g_mutex_clear (&d->lock);
  g_free (d);
}

const BtProjectSettings *bt_tune_data_get_settings (BtTuneData *d) { return &d->settings; }
guint bt_tune_data_get_n_classes (BtTuneData *d) { return d->n_classes; }
guint bt_tune_data_get_n_items (BtTuneData *d) { return d->paths->len; }
const guint64 *bt_tune_data_get_hashes (BtTuneData *d) { return (const guint64 *) d->hashes->data; }
const int *bt_tune_data_get_labels (BtTuneData *d) { return (const int *) d->labels->data; }
BtSplit bt_tune_data_get_split (BtTuneData *d, guint i) { return g_array_index (d->splits, BtSplit, i); }
gboolean bt_tune_data_is_transfer (BtTuneData *d) { return d->transfer; }

/* The backbone training uses, and every image's embedding through the project's embedding cache
 * (the training split's augmented variants too when the settings augment, as a run's). */
static BtEmbeddings *
embed_images (BtTuneData *d, BtCacheProgress progress, gpointer user_data, BtCacheGate gate,
              gpointer gate_data, GCancellable *cancellable, GError **error)
{
  const BtProjectSettings *s = &d->settings;
  g_autofree char *path = bt_backbone_find_for_training (error);
  g_autoptr (BtBackbone) bb = path != NULL ? bt_backbone_get (path, NULL, error) : NULL;
  if (bb == NULL)
    return NULL;
  g_autofree gboolean *is_train = g_new (gboolean, MAX (d->paths->len, 1));
  for (guint i = 0; i < d->paths->len; i++)
    is_train[i] = g_array_index (d->splits, BtSplit, i) == BT_SPLIT_TRAIN;
  return bt_embeddings_build_paths ((const char * const *) d->paths->pdata, (const guint64 *) d->hashes->data,
                                    is_train, d->paths->len, d->project_dir, bb, s->resize, s->augment_flip,
                                    s->augment_crop, CLAMP ((int) g_get_num_processors (), 1, 8), progress,
                                    user_data, gate, gate_data, cancellable, error);
}

gboolean
bt_tune_data_prepare (BtTuneData *d, GCancellable *cancellable, GError **error)
{
  return bt_tune_data_prepare_full (d, NULL, NULL, NULL, NULL, cancellable, error);
}

gboolean
bt_tune_data_prepare_full (BtTuneData *d, BtCacheProgress progress, gpointer user_data, BtCacheGate gate,
                           gpointer gate_data, GCancellable *cancellable, GError **error)
{
  g_return_val_if_fail (d != NULL, FALSE);
  g_autoptr (GMutexLocker) locker = g_mutex_locker_new (&d->lock);
  if (d->cache != NULL || d->emb != NULL)
    return TRUE;
  const BtProjectSettings *s = &d->settings;
  BtCache *cache = NULL;
  BtEmbeddings *emb = NULL;
  if (d->transfer)
    emb = embed_images (d, progress, user_data, gate, gate_data, cancellable, error);
  else
    cache = bt_cache_build_paths_gated ((const char * const *) d->paths->pdata, d->paths->len, s->width,
                                        s->height, s->channels, s->resize, d->spill_dir, 2, progress, user_data,
                                        gate, gate_data, cancellable, error);
  if (cache == NULL && emb == NULL)
    return FALSE;
  for (guint i = 0; i < d->splits->len; i++)
    g_atomic_int_inc (&bt_tune_decoded[g_array_index (d->splits, BtSplit, i)]);
  guint n_bad = 0;
  for (guint i = 0; i < d->paths->len; i++)
    n_bad += emb != NULL ? !bt_embeddings_is_valid (emb, i) : !bt_cache_is_valid (cache, i);
  if (n_bad > 0)
    {
      g_clear_pointer (&cache, bt_cache_free);
      g_clear_pointer (&emb, bt_embeddings_free);
      g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_NO_DATA,
                   ngettext ("%u training or validation image could not be read; check the Data page.",
                             "%u training or validation images could not be read; check the Data page.", n_bad),
                   n_bad);
      return FALSE;
    }
  d->cache = cache;
  d->emb = emb;
  return TRUE;
}

char *
bt_tune_data_describe_prepare (BtTuneData *d, guint done, guint total)
{
  g_return_val_if_fail (d != NULL, NULL);
  if (total > d->paths->len)
    /* Translators: a search's first phase on a transfer project that augments its photos */
    return g_strdup_printf (_("Preparing: reading photos and their flipped and cropped copies, %u of %u…"),
                            done, total);
  /* Translators: a search's first phase, before its first try: images read of those to read */
  return g_strdup_printf (_("Preparing: reading photos %u of %u…"), done, total);
}

BtCache *
bt_tune_data_get_cache (BtTuneData *d)
{
  g_return_val_if_fail (d != NULL, NULL);
  g_autoptr (GMutexLocker) locker = g_mutex_locker_new (&d->lock);
  return d->cache;
}

BtEmbeddings *
bt_tune_data_get_embeddings (BtTuneData *d)
{
  g_return_val_if_fail (d != NULL, NULL);
  g_autoptr (GMutexLocker) locker = g_mutex_locker_new (&d->lock);
  return d->emb;
}

typedef struct {
  BtTuneTrial *t;
  gboolean     done;
  GError      *error;
} TrialRun;

static void
trial_epoch_cb (BtTrainer *trainer, const BtEpochInfo *info, TrialRun *r)
{
  g_array_append_val (r->t->curve_acc, info->val_acc);
  g_array_append_val (r->t->curve_loss, info->val_loss);
  g_array_append_val (r->t->curve_train_loss, info->train_loss);
  g_array_append_val (r->t->curve_train_acc, info->train_acc);
}

static void
trial_finished_cb (BtTrainer *trainer, const GError *error, TrialRun *r)
{
  const BtVerdict *v = bt_trainer_get_verdict (trainer);

  r->t->verdict = v != NULL ? v->kind : BT_VERDICT_NONE;
  r->done = TRUE;
  r->error = error != NULL ? g_error_copy (error) : NULL;
}

static gboolean
trial_cancelled_cb (GCancellable *cancellable, gpointer trainer)
{
  bt_trainer_stop (trainer);
  return G_SOURCE_REMOVE;
}

gboolean
bt_tune_train (BtTuneData *d, BtTuneTrial *t, const guint *train, guint n_train,
               const guint *val, guint n_val, GCancellable *cancellable, GError **error)
{
  return bt_tune_train_full (d, t, train, n_train, val, n_val, NULL, NULL, cancellable, error);
}

gboolean
bt_tune_train_full (BtTuneData *d, BtTuneTrial *t, const guint *train, guint n_train,
                    const guint *val, guint n_val, BtTuneTrainerFunc trainer_cb, gpointer user_data,
                    GCancellable *cancellable, GError **error)
{
  g_return_val_if_fail (d != NULL && t != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  if (!known_preset (t->preset) || !known_optimizer (t->optimizer) || t->epochs < 1)
    {
      g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID,
                   _("A trial’s settings cannot be trained (preset “%s”, optimizer “%s”)."), t->preset, t->optimizer);
      return FALSE;
    }
  if (is_transfer (t->preset) != d->transfer)
    {
      g_set_error_literal (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID, _(wrong_preset_message));
      return FALSE;
    }
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return FALSE;

  BtProjectSettings s;
  bt_project_settings_copy (&s, &d->settings);
  bt_tune_trial_apply (t, &s);
  s.epochs = t->epochs;
  s.seed = t->seed;
  s.transfer_finetune_blocks = 0;   /* a trial trains the head alone, on the embeddings */
  g_array_set_size (t->curve_acc, 0);
  g_array_set_size (t->curve_loss, 0);
  g_array_set_size (t->curve_train_loss, 0);
  g_array_set_size (t->curve_train_acc, 0);

  /* The trainer's events arrive on this thread's default context: a private one, so that this
   * works from the main thread, a GTask worker or a plain thread alike. */
  gint64 t0 = g_get_monotonic_time ();
  GMainContext *context = g_main_context_new ();
  g_main_context_push_thread_default (context);
  BtTrainer *trainer = bt_trainer_new (NULL);
  TrialRun r = { t, FALSE, NULL };
  g_signal_connect (trainer, "epoch", G_CALLBACK (trial_epoch_cb), &r);
  g_signal_connect (trainer, "finished", G_CALLBACK (trial_finished_cb), &r);
  /* the search decodes its train+val images once, for all its trials, here on its thread */
  g_autoptr(BtTrainSource) source = NULL;
  g_autoptr(GError) prepare_error = NULL;
  gboolean started = bt_tune_data_prepare (d, cancellable, &prepare_error);
  if (!started && g_error_matches (prepare_error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    g_set_error_literal (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_CANCELLED, _("Training was stopped"));
  else if (!started)
    g_propagate_error (error, g_steal_pointer (&prepare_error));
  if (started)
    {
      source = d->transfer ? bt_train_source_new_for_embeddings (bt_tune_data_get_embeddings (d), d->paths->len)
                           : bt_train_source_new_for_cache (bt_tune_data_get_cache (d));
      started = bt_trainer_start_trial (trainer, &s, source, bt_tune_data_get_labels (d), (int) d->n_classes,
                                        train, n_train, val, n_val, error);
    }
  bt_project_settings_clear (&s);
  GSource *cancel_source = NULL;
  if (started)
    {
      if (trainer_cb != NULL)
        trainer_cb (trainer, user_data);
      if (cancellable != NULL)
        {
          cancel_source = g_cancellable_source_new (cancellable);
          g_source_set_callback (cancel_source, G_SOURCE_FUNC (trial_cancelled_cb), trainer, NULL);
          g_source_attach (cancel_source, context);
        }
      while (!r.done)
        g_main_context_iteration (context, TRUE);
      if (trainer_cb != NULL)
        trainer_cb (NULL, user_data);
    }
  if (cancel_source != NULL)
    {
      g_source_destroy (cancel_source);
      g_source_unref (cancel_source);
    }
  g_signal_handlers_disconnect_by_data (trainer, &r);
  g_object_unref (trainer);
  /* whatever the worker queued after "finished" holds the last references: let it go here */
  while (g_main_context_iteration (context, FALSE))
    ;
  g_main_context_pop_thread_default (context);
  g_main_context_unref (context);
  if (!started)
    return FALSE;

  t->val_acc = 0;
  t->val_loss = INFINITY;
  t->best_epoch = 0;
  t->diverged = FALSE;
  if (r.error != NULL && g_error_matches (r.error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_DIVERGED))
    {
      t->diverged = TRUE;
      g_clear_error (&r.error);
    }
  if (r.error != NULL)
    {
      g_propagate_error (error, r.error);
      return FALSE;
    }
  /* the trial's score: its best epoch by accuracy, then loss */
  for (guint e = 0; e < t->curve_acc->len && !t->diverged; e++)
    {
      double acc = g_array_index (t->curve_acc, double, e), l = g_array_index (t->curve_loss, double, e);
      if (t->best_epoch == 0 || acc > t->val_acc || (acc == t->val_acc && l < t->val_loss))
        {
          t->val_acc = acc;
          t->val_loss = l;
          t->best_epoch = (int) e + 1;
        }
    }
  if (t->diverged)
    {
      t->val_acc = 0;
      t->val_loss = INFINITY;
    }
  t->seconds = (g_get_monotonic_time () - t0) / 1e6;
  return TRUE;
}

/* ---- Search: plan, persistence, loop ---- */

struct _BtTuneSearch {
  char         *dir;
  char         *project_dir;  /* dir's grandparent (dir is PROJECT/runs/tune-…) */
  int           run_lock;     /* the project's run lock while held, else -1 */
  BtTuneOptions opts;
  BtProjectSettings base;
  GPtrArray    *trials;     /* BtTuneTrial* */
  gboolean      finished;
  /* pause from another thread: the trial in progress's trainer, under lock */
  GMutex        lock;
  gboolean      paused;
  BtTrainer    *trainer;
  /* live progress of the trial in progress (running thread only) */
  BtTuneProgressFunc progress;
  gpointer      progress_data;
  int           running_index;
};

const char *bt_tune_search_get_dir (BtTuneSearch *s) { return s->dir; }
const BtTuneOptions *bt_tune_search_get_options (BtTuneSearch *s) { return &s->opts; }
GPtrArray *bt_tune_search_get_trials (BtTuneSearch *s) { return s->trials; }

void
bt_tune_search_free (BtTuneSearch *s)
{
  if (s == NULL)
    return;
  bt_run_lock_release (s->run_lock);
  g_free (s->dir);
  g_free (s->project_dir);
  bt_tune_options_clear (&s->opts);
  bt_project_settings_clear (&s->base);
  g_ptr_array_unref (s->trials);
  g_mutex_clear (&s->lock);
  g_free (s);
}

static char *
fmt_double (double v)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE];
  if (isinf (v))
    return g_strdup (v > 0 ? "inf" : "-inf");
  if (isnan (v))
    return g_strdup ("nan");
  return g_strdup (g_ascii_dtostr (buf, sizeof buf, v));
}

static gboolean
parse_double (const char *s, double *out)
{
  if (strcmp (s, "inf") == 0) { *out = INFINITY; return TRUE; }
  if (strcmp (s, "-inf") == 0) { *out = -INFINITY; return TRUE; }
  if (strcmp (s, "nan") == 0) { *out = NAN; return TRUE; }
  char *end = NULL;
  *out = g_ascii_strtod (s, &end);
  return end != s && *end == '\0';
}

static void
key_set_double (GKeyFile *kf, const char *group, const char *key, double v)
{
  g_autofree char *s = fmt_double (v);
  g_key_file_set_string (kf, group, key, s);
}

static gboolean
key_get_double (GKeyFile *kf, const char *group, const char *key, double *out, GError **error)
{
  g_autofree char *s = g_key_file_get_string (kf, group, key, error);
  if (s == NULL)
    return FALSE;
  if (!parse_double (s, out))
    {
      g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_IO, _("“%s” is not a number."), key);
      return FALSE;
    }
  return TRUE;
}

static gboolean
save_ini (BtTuneSearch *s, GError **error)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  const BtTuneOptions *o = &s->opts;
  g_key_file_set_string (kf, "search", "strategy", bt_tune_strategy_to_id (o->strategy));
  g_key_file_set_integer (kf, "search", "max-trials", o->max_trials);
  key_set_double (kf, "search", "max-minutes", o->max_minutes);
  g_key_file_set_integer (kf, "search", "epochs", o->epochs);
  g_key_file_set_uint64 (kf, "search", "seed", o->seed);
  g_key_file_set_boolean (kf, "search", "finished", s->finished);
  key_set_double (kf, "space", "lr-min", o->space.lr_min);
  key_set_double (kf, "space", "lr-max", o->space.lr_max);
  g_key_file_set_integer_list (kf, "space", "batch-sizes", (int *) o->space.batch_sizes, o->space.n_batch_sizes);
  g_key_file_set_string_list (kf, "space", "optimizers", (const char * const *) o->space.optimizers,
                              g_strv_length (o->space.optimizers));
  key_set_double (kf, "space", "dropout-min", o->space.dropout_min);
  key_set_double (kf, "space", "dropout-max", o->space.dropout_max);
  key_set_double (kf, "space", "weight-decay-min", o->space.weight_decay_min);
  key_set_double (kf, "space", "weight-decay-max", o->space.weight_decay_max);
  g_key_file_set_boolean (kf, "space", "vary-augment", o->space.vary_augment);
  g_key_file_set_string_list (kf, "space", "presets", (const char * const *) o->space.presets,
                              g_strv_length (o->space.presets));
  g_key_file_set_integer (kf, "space", "grid-points", o->space.grid_points);
  key_set_double (kf, "space", "label-smoothing-min", o->space.label_smoothing_min);
  key_set_double (kf, "space", "label-smoothing-max", o->space.label_smoothing_max);
  if (o->space.n_hidden_units > 0)
    g_key_file_set_integer_list (kf, "space", "hidden-units", (int *) o->space.hidden_units, o->space.n_hidden_units);
  bt_project_settings_to_key_file (&s->base, kf, "base");
  gsize len;
  g_autofree char *data = g_key_file_to_data (kf, &len, NULL);
  g_autofree char *path = g_build_filename (s->dir, "search.ini", NULL);
  return bt_write_file_atomic (path, data, len, error);
}

static const char csv_header[] =
  "index,config,rung,epochs,preset,optimizer,learning_rate,batch_size,dropout,weight_decay,augment,seed,"
  "val_acc,val_loss,best_epoch,seconds,diverged,curve_acc,curve_loss,curve_train_loss,curve_train_acc,"
  "label_smoothing,hidden\n";

static void
append_curve (GString *out, GArray *a)
{
  for (guint i = 0; i < a->len; i++)
    {
      g_autofree char *v = fmt_double (g_array_index (a, double, i));
      g_string_append_printf (out, "%s%s", i ? ";" : "", v);
    }
}

static gboolean
save_csv (BtTuneSearch *s, GError **error)
{
  g_autoptr (GString) out = g_string_new (csv_header);
  for (guint i = 0; i < s->trials->len; i++)
    {
      const BtTuneTrial *t = g_ptr_array_index (s->trials, i);
      g_autofree char *lr = fmt_double (t->learning_rate), *dr = fmt_double (t->dropout),
                      *wd = fmt_double (t->weight_decay), *acc = fmt_double (t->val_acc),
                      *loss = fmt_double (t->val_loss), *sec = fmt_double (t->seconds);
      g_string_append_printf (out, "%d,%d,%d,%d,%s,%s,%s,%d,%s,%s,%d,%" G_GUINT64_FORMAT ",%s,%s,%d,%s,%d,",
                              t->index, t->config, t->rung, t->epochs, t->preset, t->optimizer, lr,
                              t->batch_size, dr, wd, t->augment ? 1 : 0, t->seed, acc, loss,
                              t->best_epoch, sec, t->diverged ? 1 : 0);
      append_curve (out, t->curve_acc);
      g_string_append_c (out, ',');
      append_curve (out, t->curve_loss);
      g_string_append_c (out, ',');
      append_curve (out, t->curve_train_loss);
      g_string_append_c (out, ',');
      append_curve (out, t->curve_train_acc);
      g_autofree char *ls = fmt_double (t->label_smoothing);
      g_string_append_printf (out, ",%s,%d\n", ls, t->hidden);
    }
  g_autofree char *path = g_build_filename (s->dir, "trials.csv", NULL);
  return bt_write_file_atomic (path, out->str, out->len, error);
}

static gboolean
parse_int (const char *s, gint64 lo, gint64 hi, int *out)
{
  gint64 v;
  if (!g_ascii_string_to_signed (s, 10, lo, hi, &v, NULL))
    return FALSE;
  *out = (int) v;
  return TRUE;
}

static gboolean
parse_curve (const char *s, GArray *a)
{
  if (*s == '\0')
    return TRUE;
  g_auto (GStrv) parts = g_strsplit (s, ";", -1);
  for (guint i = 0; parts[i]; i++)
    {
      double v;
      if (!parse_double (parts[i], &v))
        return FALSE;
      g_array_append_val (a, v);
    }
  return TRUE;
}

static gboolean
load_csv (BtTuneSearch *s, GError **error)
{
  g_autofree char *path = g_build_filename (s->dir, "trials.csv", NULL);
  g_autofree char *data = NULL;
  g_autoptr (GError) local = NULL;
  if (!g_file_get_contents (path, &data, NULL, &local))
    {
      if (g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        return TRUE;
      g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }
  g_auto (GStrv) lines = g_strsplit (data, "\n", -1);
  for (guint li = 1; lines[0] != NULL && lines[li] != NULL; li++)
    {
      if (lines[li][0] == '\0')
        continue;
      g_auto (GStrv) f = g_strsplit (lines[li], ",", -1);
      g_autoptr (BtTuneTrial) t = bt_tune_trial_new ();
      /* searches saved before the training accuracy curve have 20 columns, before the head's
       * rows 21 (label smoothing and hidden units then stay the base's) */
      guint n_fields = g_strv_length (f);
      gboolean ok = n_fields == 20 || n_fields == 21 || n_fields == 23;
      t->label_smoothing = s->base.label_smoothing;
      t->hidden = s->base.transfer_hidden;
      int aug = 0, div = 0;
      ok = ok && parse_int (f[0], 0, G_MAXINT, &t->index) && parse_int (f[1], 0, G_MAXINT, &t->config) &&
           parse_int (f[2], 0, 64, &t->rung) && parse_int (f[3], 1, 100000, &t->epochs) &&
           known_preset (f[4]) && known_optimizer (f[5]) &&
           parse_double (f[6], &t->learning_rate) && parse_int (f[7], 1, 100000, &t->batch_size) &&
           parse_double (f[8], &t->dropout) && parse_double (f[9], &t->weight_decay) &&
           parse_int (f[10], 0, 1, &aug) && g_ascii_string_to_unsigned (f[11], 10, 0, G_MAXUINT64, &t->seed, NULL) &&
           parse_double (f[12], &t->val_acc) && parse_double (f[13], &t->val_loss) &&
           parse_int (f[14], 0, 100000, &t->best_epoch) && parse_double (f[15], &t->seconds) &&
           parse_int (f[16], 0, 1, &div) && parse_curve (f[17], t->curve_acc) &&
           parse_curve (f[18], t->curve_loss) && parse_curve (f[19], t->curve_train_loss) &&
           (n_fields == 20 || parse_curve (f[20], t->curve_train_acc)) &&
           (n_fields < 23 || (parse_double (f[21], &t->label_smoothing) && parse_int (f[22], 0, G_MAXINT, &t->hidden))) &&
           t->index == (int) s->trials->len;
      ok = ok && isfinite (t->learning_rate) && t->learning_rate > 0 && t->dropout < 1 &&
           isfinite (t->weight_decay) && t->weight_decay >= 0 && !isnan (t->val_acc) &&
           t->label_smoothing >= 0 && t->label_smoothing < 1;
      if (!ok)
        {
          g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_IO,
                       _("Line %u of the search results “%s” is damaged."), li + 1, path);
          return FALSE;
        }
      t->preset = g_strdup (f[4]);
      t->optimizer = g_strdup (f[5]);
      t->augment = aug;
      t->diverged = div;
      g_ptr_array_add (s->trials, g_steal_pointer (&t));
    }
  return TRUE;
}

static BtTuneSearch *
search_alloc (void)
{
  BtTuneSearch *s = g_new0 (BtTuneSearch, 1);
  g_mutex_init (&s->lock);
  s->run_lock = -1;
  s->trials = g_ptr_array_new_with_free_func ((GDestroyNotify) bt_tune_trial_free);
  return s;
}

static void
search_set_dir (BtTuneSearch *s, const char *dir)
{
  g_autofree char *runs = g_path_get_dirname (dir);
  s->dir = g_strdup (dir);
  s->project_dir = g_path_get_dirname (runs);
}

/* Takes the run lock unless this search holds it already (then *taken is FALSE). */
static gboolean
search_lock (BtTuneSearch *s, gboolean *taken, GError **error)
{
  *taken = s->run_lock < 0;
  if (*taken)
    s->run_lock = bt_run_lock_try (s->project_dir, BT_RUN_LOCK_SEARCH, error);
  return s->run_lock >= 0;
}

static void
search_unlock (BtTuneSearch *s, gboolean taken)
{
  if (!taken)
    return;
  bt_run_lock_release (s->run_lock);
  s->run_lock = -1;
}

BtTuneSearch *
bt_tune_search_new (const char *project_dir, const BtProjectSettings *base, const BtTuneOptions *opts,
                    GError **error)
{
  g_return_val_if_fail (project_dir != NULL && base != NULL && opts != NULL, NULL);
  if (!options_check (opts, error))
    return NULL;
  if (is_transfer (base->preset) != is_transfer (opts->space.presets[0]))
    {
      g_set_error_literal (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID, _(wrong_preset_message));
      return NULL;
    }
  g_autoptr (BtTuneSearch) s = search_alloc ();
  options_copy (&s->opts, opts);
  bt_project_settings_copy (&s->base, base);
  /* the folder is made and its files written under the lock: a tidy-up would take an empty
   * folder for a search killed as it started */
  gboolean taken;
  g_autofree char *runs = g_build_filename (project_dir, "runs", NULL);
  s->project_dir = g_strdup (project_dir);
  if (!search_lock (s, &taken, error))
    return NULL;
  g_autoptr (GDateTime) now = g_date_time_new_now_utc ();
  g_autofree char *stamp = g_date_time_format (now, "%Y%m%d-%H%M%S");
  for (int i = 0; i < 100 && s->dir == NULL; i++)
    {
      g_autofree char *name = i ? g_strdup_printf ("tune-%s-%d", stamp, i) : g_strdup_printf ("tune-%s", stamp);
      g_autofree char *dir = g_build_filename (runs, name, NULL);
      if (!g_file_test (dir, G_FILE_TEST_EXISTS))
        s->dir = g_steal_pointer (&dir);
    }
  gboolean ok = s->dir != NULL && g_mkdir_with_parents (s->dir, 0755) == 0;
  if (!ok)
    g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_IO,
                 _("Could not create a folder for the search in “%s”."), project_dir);
  ok = ok && save_ini (s, error) && save_csv (s, error);
  search_unlock (s, taken);
  return ok ? g_steal_pointer (&s) : NULL;
}

BtTuneSearch *
bt_tune_search_open (const char *search_dir, GError **error)
{
  g_return_val_if_fail (search_dir != NULL, NULL);
  g_autoptr (BtTuneSearch) s = search_alloc ();
  search_set_dir (s, search_dir);
  g_autofree char *path = g_build_filename (search_dir, "search.ini", NULL);
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autoptr (GError) local = NULL;
  BtTuneOptions *o = &s->opts;
  BtProjectSettings *b = &s->base;
  g_autofree char *strategy = NULL;
  bt_project_settings_init (b);
  g_autofree int *bs = NULL;
  gsize n_bs = 0;
  gboolean ok = g_key_file_load_from_file (kf, path, G_KEY_FILE_NONE, &local) &&
    (strategy = g_key_file_get_string (kf, "search", "strategy", &local)) != NULL &&
    bt_tune_strategy_from_id (strategy, &o->strategy) &&
    key_get_double (kf, "search", "max-minutes", &o->max_minutes, &local) &&
    key_get_double (kf, "space", "lr-min", &o->space.lr_min, &local) &&
    key_get_double (kf, "space", "lr-max", &o->space.lr_max, &local) &&
    key_get_double (kf, "space", "dropout-min", &o->space.dropout_min, &local) &&
    key_get_double (kf, "space", "dropout-max", &o->space.dropout_max, &local) &&
    key_get_double (kf, "space", "weight-decay-min", &o->space.weight_decay_min, &local) &&
    key_get_double (kf, "space", "weight-decay-max", &o->space.weight_decay_max, &local) &&
    (bs = g_key_file_get_integer_list (kf, "space", "batch-sizes", &n_bs, &local)) != NULL &&
    (o->space.optimizers = g_key_file_get_string_list (kf, "space", "optimizers", NULL, &local)) != NULL &&
    (o->space.presets = g_key_file_get_string_list (kf, "space", "presets", NULL, &local)) != NULL &&
    g_key_file_has_group (kf, "base") &&
    bt_project_settings_from_key_file (b, kf, "base", FALSE, &local);
  if (ok)
    {
      o->max_trials = g_key_file_get_integer (kf, "search", "max-trials", NULL);
      o->epochs = g_key_file_get_integer (kf, "search", "epochs", NULL);
      o->seed = g_key_file_get_uint64 (kf, "search", "seed", NULL);
      s->finished = g_key_file_get_boolean (kf, "search", "finished", NULL);
      o->space.vary_augment = g_key_file_get_boolean (kf, "space", "vary-augment", NULL);
      o->space.grid_points = g_key_file_get_integer (kf, "space", "grid-points", NULL);
      o->space.n_batch_sizes = (int) MIN (n_bs, 4);
      if (n_bs > 4)
        o->space.n_batch_sizes = 0;
      for (int i = 0; i < o->space.n_batch_sizes; i++)
        o->space.batch_sizes[i] = bs[i];
      /* searches from before transfer projects could be searched have no head rows: not varied */
      if (g_key_file_has_key (kf, "space", "label-smoothing-min", NULL))
        ok = key_get_double (kf, "space", "label-smoothing-min", &o->space.label_smoothing_min, &local) &&
             key_get_double (kf, "space", "label-smoothing-max", &o->space.label_smoothing_max, &local);
      gsize n_hu = 0;
      g_autofree int *hu = g_key_file_get_integer_list (kf, "space", "hidden-units", &n_hu, NULL);
      o->space.n_hidden_units = n_hu <= 4 ? (int) n_hu : -1;
      for (int i = 0; hu != NULL && i < o->space.n_hidden_units; i++)
        o->space.hidden_units[i] = hu[i];
      /* searches from before the settings table kept one "augment" for flip and crop */
      if (g_key_file_has_key (kf, "base", "augment", NULL))
        b->augment_flip = b->augment_crop = g_key_file_get_boolean (kf, "base", "augment", NULL);
      ok = ok && options_check (o, NULL) && known_preset (b->preset) &&
           is_transfer (b->preset) == is_transfer (o->space.presets[0]);
    }
  if (!ok)
    {
      g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_IO, _("The search in “%s” cannot be read: %s"),
                   search_dir, local ? local->message : _("a setting is out of range"));
      return NULL;
    }
  if (!load_csv (s, error))
    return NULL;
  return g_steal_pointer (&s);
}

gboolean
bt_tune_search_is_finished (BtTuneSearch *s)
{
  g_return_val_if_fail (s != NULL, TRUE);
  return s->finished;
}

static char *
find_search (const char *project_dir, gboolean unfinished_only)
{
  g_autofree char *runs = g_build_filename (project_dir, "runs", NULL);
  g_autoptr (GDir) dir = g_dir_open (runs, 0, NULL);
  if (dir == NULL)
    return NULL;
  g_autofree char *best = NULL;
  const char *name;
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      if (!g_str_has_prefix (name, "tune-") || (best != NULL && strcmp (name, best) <= 0))
        continue;
      g_autofree char *path = g_build_filename (runs, name, NULL);
      g_autoptr (BtTuneSearch) s = bt_tune_search_open (path, NULL);
      if (s != NULL && !(unfinished_only && s->finished))
        {
          g_free (best);
          best = g_strdup (name);
        }
    }
  return best ? g_build_filename (runs, best, NULL) : NULL;
}

char *
bt_tune_find_resumable (const char *project_dir)
{
  g_return_val_if_fail (project_dir != NULL, NULL);
  return find_search (project_dir, TRUE);
}

char *
bt_tune_find_latest (const char *project_dir)
{
  g_return_val_if_fail (project_dir != NULL, NULL);
  return find_search (project_dir, FALSE);
}

static int
trial_rank_cmp (gconstpointer a, gconstpointer b)
{
  const BtTuneTrial *x = *(const BtTuneTrial * const *) a, *y = *(const BtTuneTrial * const *) b;
  if (x->val_acc != y->val_acc)
    return x->val_acc > y->val_acc ? -1 : 1;
  if (x->val_loss != y->val_loss)
    return x->val_loss < y->val_loss ? -1 : 1;
  return x->index - y->index;
}

GPtrArray *
bt_tune_search_leaderboard (BtTuneSearch *s)
{
  g_return_val_if_fail (s != NULL, NULL);
  GPtrArray *out = g_ptr_array_new ();
  for (guint i = 0; i < s->trials->len; i++)
    g_ptr_array_add (out, g_ptr_array_index (s->trials, i));
  g_ptr_array_sort (out, trial_rank_cmp);
  return out;
}

/* Successive halving: rung r trains n_r = max(1, n0 / ETA^r) configs for min(epochs,
 * e0·ETA^r) epochs, n0 the largest that fits the trial budget. */
static void
halving_plan (const BtTuneOptions *o, int *n0_out, int *rungs_out, int *e0_out)
{
  int e0 = MAX (1, o->epochs / 4);
  int rungs = 1;
  for (int e = e0; e < o->epochs; e *= ETA)
    rungs++;
  int budget = o->max_trials > 0 ? o->max_trials : 27;
  int n0 = 1;
  for (int cand = 1; cand <= budget; cand++)
    {
      int total = 0, n = cand;
      for (int r = 0; r < rungs; r++, n = MAX (1, n / ETA))
        total += n;
      if (total <= budget)
        n0 = cand;
    }
  *n0_out = n0;
  *rungs_out = rungs;
  *e0_out = e0;
}

static int
rung_epochs (const BtTuneOptions *o, int e0, int r)
{
  gint64 e = e0;
  for (int i = 0; i < r; i++)
    e *= ETA;
  return (int) MIN (e, (gint64) o->epochs);
}

static double
spent_minutes (BtTuneSearch *s)
{
  double sec = 0;
  for (guint i = 0; i < s->trials->len; i++)
    sec += ((BtTuneTrial *) g_ptr_array_index (s->trials, i))->seconds;
  return sec / 60.0;
}

BtTuneTrial *
bt_tune_search_plan_next (BtTuneSearch *s)
{
  g_return_val_if_fail (s != NULL, NULL);
  const BtTuneOptions *o = &s->opts;
  int done = (int) s->trials->len;
  if ((o->max_trials > 0 && done >= o->max_trials) || (o->max_minutes > 0 && spent_minutes (s) >= o->max_minutes))
    return NULL;
  g_autoptr (BtTuneTrial) t = bt_tune_trial_new ();
  t->index = done;
  if (o->strategy != BT_TUNE_ADAPTIVE)
    {
      if (o->strategy == BT_TUNE_GRID)
        {
          /* stop once every grid point (and the base config) ran */
          guint dims[GRID_DIMS];
          if ((guint) done > grid_dims (&o->space, dims))
            return NULL;
        }
      config_fill (o, &s->base, done, t);
      t->epochs = o->epochs;
      return g_steal_pointer (&t);
    }
  int n0, rungs, e0;
  halving_plan (o, &n0, &rungs, &e0);
  int n = n0;
  for (int r = 0; r < rungs; r++, n = MAX (1, n / ETA))
    {
      g_autoptr (GPtrArray) in_rung = g_ptr_array_new ();
      for (guint i = 0; i < s->trials->len; i++)
        if (((BtTuneTrial *) g_ptr_array_index (s->trials, i))->rung == r)
          g_ptr_array_add (in_rung, g_ptr_array_index (s->trials, i));
      if ((int) in_rung->len >= n)
        continue;
      t->rung = r;
      t->epochs = rung_epochs (o, e0, r);
      if (r == 0)
        {
          config_fill (o, &s->base, (int) in_rung->len, t);
          t->epochs = rung_epochs (o, e0, 0);
          return g_steal_pointer (&t);
        }
      /* promote the next-best config of the previous rung */
      g_autoptr (GPtrArray) prev = g_ptr_array_new ();
      for (guint i = 0; i < s->trials->len; i++)
        if (((BtTuneTrial *) g_ptr_array_index (s->trials, i))->rung == r - 1)
          g_ptr_array_add (prev, g_ptr_array_index (s->trials, i));
      g_ptr_array_sort (prev, trial_rank_cmp);
      if (in_rung->len >= prev->len)
        return NULL;
      const BtTuneTrial *p = g_ptr_array_index (prev, in_rung->len);
      int epochs = t->epochs;
      config_fill (o, &s->base, p->config, t);
      t->epochs = epochs;
      return g_steal_pointer (&t);
    }
  return NULL;
}

int
bt_tune_search_get_n_planned (BtTuneSearch *s)
{
  g_return_val_if_fail (s != NULL, 0);
  const BtTuneOptions *o = &s->opts;
  if (o->strategy == BT_TUNE_GRID)
    {
      /* every grid point and the base config, as plan_next runs them */
      guint dims[GRID_DIMS];
      int points = (int) MIN (grid_dims (&o->space, dims) + 1, (guint) G_MAXINT);
      return o->max_trials > 0 ? MIN (points, o->max_trials) : points;
    }
  if (o->strategy == BT_TUNE_RANDOM)
    return o->max_trials;
  int n0, rungs, e0, total = 0;
  halving_plan (o, &n0, &rungs, &e0);
  for (int r = 0, n = n0; r < rungs; r++, n = MAX (1, n / ETA))
    total += n;
  return total;
}

gboolean
bt_tune_search_record (BtTuneSearch *s, const BtTuneTrial *t, GError **error)
{
  g_return_val_if_fail (s != NULL && t != NULL, FALSE);
  BtTuneTrial *c = bt_tune_trial_copy (t);
  c->index = (int) s->trials->len;
  g_ptr_array_add (s->trials, c);
  gboolean taken;
  gboolean ok = search_lock (s, &taken, error) && save_csv (s, error);
  search_unlock (s, taken);
  if (!ok)
    g_ptr_array_remove_index (s->trials, s->trials->len - 1);
  return ok;
}

static void
search_step_cb (BtTrainer *trainer, const BtStepInfo *info, BtTuneSearch *s)
{
  if (info->epoch < 1)   /* still preparing */
    return;
  g_autoptr (GArray) steps = bt_trainer_take_steps (trainer);
  s->progress (s->running_index, info, (const BtStepSample *) steps->data, steps->len, NULL, s->progress_data);
}

static void
search_epoch_cb (BtTrainer *trainer, const BtEpochInfo *info, BtTuneSearch *s)
{
  g_autoptr (GArray) steps = bt_trainer_take_steps (trainer);
  if (steps->len > 0)
    s->progress (s->running_index, NULL, (const BtStepSample *) steps->data, steps->len, NULL, s->progress_data);
  s->progress (s->running_index, NULL, NULL, 0, info, s->progress_data);
}

void
bt_tune_search_set_progress (BtTuneSearch *s, BtTuneProgressFunc func, gpointer user_data)
{
  g_return_if_fail (s != NULL);
  s->progress = func;
  s->progress_data = user_data;
}

static void
search_trainer_cb (BtTrainer *trainer, gpointer user_data)
{
  BtTuneSearch *s = user_data;
  /* the trainer's signals arrive on this (the running) thread */
  if (trainer != NULL && s->progress != NULL)
    {
      g_signal_connect (trainer, "step", G_CALLBACK (search_step_cb), s);
      g_signal_connect (trainer, "epoch", G_CALLBACK (search_epoch_cb), s);
    }
  else if (trainer == NULL && s->trainer != NULL)
    g_signal_handlers_disconnect_by_data (s->trainer, s);
  g_autoptr (GMutexLocker) locker = g_mutex_locker_new (&s->lock);
  s->trainer = trainer;
  if (trainer != NULL && s->paused)
    bt_trainer_pause (trainer);
}

void
bt_tune_search_set_paused (BtTuneSearch *s, gboolean paused)
{
  g_return_if_fail (s != NULL);
  g_autoptr (GMutexLocker) locker = g_mutex_locker_new (&s->lock);
  s->paused = paused;
  if (s->trainer != NULL && paused)
    bt_trainer_pause (s->trainer);
  else if (s->trainer != NULL)
    bt_trainer_resume (s->trainer);
}

gboolean
bt_tune_search_get_paused (BtTuneSearch *s)
{
  g_return_val_if_fail (s != NULL, FALSE);
  g_autoptr (GMutexLocker) locker = g_mutex_locker_new (&s->lock);
  return s->paused;
}

static gboolean
search_run_locked (BtTuneSearch *s, BtTuneData *d, BtTuneTrialFunc on_trial, gpointer user_data,
                   GCancellable *cancellable, GError **error)
{
  guint n = bt_tune_data_get_n_items (d);
  g_autoptr (GArray) train = g_array_new (FALSE, FALSE, sizeof (guint));
  g_autoptr (GArray) val = g_array_new (FALSE, FALSE, sizeof (guint));
  for (guint i = 0; i < n; i++)
    g_array_append_val (bt_tune_data_get_split (d, i) == BT_SPLIT_VAL ? val : train, i);
  for (;;)
    {
      g_autoptr (BtTuneTrial) t = bt_tune_search_plan_next (s);
      if (t == NULL)
        break;
      if (g_cancellable_is_cancelled (cancellable))
        {
          g_set_error_literal (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_CANCELLED, _("The search was stopped."));
          return FALSE;
        }
      g_autoptr (GError) local = NULL;
      s->running_index = t->index;
      if (!bt_tune_train_full (d, t, (guint *) train->data, train->len, (guint *) val->data, val->len,
                               search_trainer_cb, s, cancellable, &local))
        {
          if (g_error_matches (local, BT_TRAINING_ERROR, BT_TRAINING_ERROR_CANCELLED) ||
              g_error_matches (local, G_IO_ERROR, G_IO_ERROR_CANCELLED) ||
              g_error_matches (local, BT_DATASET_ERROR, BT_DATASET_ERROR_CANCELLED))
            g_set_error_literal (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_CANCELLED, _("The search was stopped."));
          else
            g_propagate_error (error, g_steal_pointer (&local));
          return FALSE;
        }
      if (!bt_tune_search_record (s, t, error))
        return FALSE;
      if (on_trial)
        on_trial (g_ptr_array_index (s->trials, s->trials->len - 1), user_data);
    }
  s->finished = TRUE;
  return save_ini (s, error);
}

/* Another process (a `tune --resume` beside the app) may have continued this search since this
 * copy was read: under the lock, the trials on disk are the truth when there are more of them
 * (running on, this copy would write its older list over the other's trials). */
static void
search_reload (BtTuneSearch *s)
{
  GPtrArray *mine = s->trials;
  s->trials = g_ptr_array_new_with_free_func ((GDestroyNotify) bt_tune_trial_free);
  if (load_csv (s, NULL) && s->trials->len > mine->len)
    g_ptr_array_unref (mine);
  else
    {
      g_ptr_array_unref (s->trials);
      s->trials = mine;
    }
}

gboolean
bt_tune_search_run (BtTuneSearch *s, BtTuneData *d, BtTuneTrialFunc on_trial, gpointer user_data,
                    GCancellable *cancellable, GError **error)
{
  g_return_val_if_fail (s != NULL && d != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  gboolean taken;
  if (!search_lock (s, &taken, error))
    return FALSE;
  search_reload (s);
  gboolean ok = search_run_locked (s, d, on_trial, user_data, cancellable, error);
  search_unlock (s, taken);
  return ok;
}
