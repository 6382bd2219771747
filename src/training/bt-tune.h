/* bt-tune.h: hyperparameter search (grid, random, successive halving), its trial runner and the
 * leaderboard saved in <project>/runs/tune-<timestamp>/ (search.ini + trials.csv). No GTK. */
#pragma once

#include "engine/bt-engine.h"
#include "dataset/bt-dataset.h"
#include "training/bt-training.h"
#include "training/bt-transfer.h"
#include "training/bt-verdict.h"

G_BEGIN_DECLS

typedef enum { BT_TUNE_GRID, BT_TUNE_RANDOM, BT_TUNE_ADAPTIVE } BtTuneStrategy;
const char *bt_tune_strategy_to_id   (BtTuneStrategy s);   /* "grid" | "random" | "adaptive" */
gboolean    bt_tune_strategy_from_id (const char *id, BtTuneStrategy *out);

/* What a search may vary. Learning rate and weight decay are sampled on a log scale (a weight
 * decay minimum of 0 means "also try none"); grid search takes grid_points values of each range. */
typedef struct {
  double   lr_min, lr_max;
  int      batch_sizes[4];
  int      n_batch_sizes;
  char   **optimizers;      /* NULL-terminated ids: "sgd" | "adam" | "adamw" */
  double   dropout_min, dropout_max;
  double   weight_decay_min, weight_decay_max;
  gboolean vary_augment;    /* try augmentation on and off */
  char   **presets;         /* NULL-terminated preset ids; "transfer" only alone */
  int      grid_points;     /* 2…5 */
  /* a transfer project's head (0 / 0 / 0: not varied, the base settings' values) */
  double   label_smoothing_min, label_smoothing_max;
  int      hidden_units[4]; /* transfer-hidden values to try (0: no hidden layer) */
  int      n_hidden_units;
} BtTuneSpace;

typedef struct {
  BtTuneStrategy strategy;
  int      max_trials;      /* 0: no limit (then max_minutes must be set) */
  double   max_minutes;     /* 0: no limit */
  int      epochs;          /* epochs of a full trial (adaptive: of its last rung) */
  guint64  seed;
  BtTuneSpace space;
} BtTuneOptions;
/* Fills sensible defaults around the project's settings (owned strings: bt_tune_options_clear).
 * A transfer project's space is its head's: learning rate, weight decay, label smoothing, hidden
 * units, dropout and optimizer at the project's batch size and augmentation, trained on the cached
 * embeddings of the project's backbone (fine-tuning stays off in trials). */
void bt_tune_options_init  (BtTuneOptions *opts, const BtProjectSettings *base);
void bt_tune_options_clear (BtTuneOptions *opts);

/* One finished trial. config: which point of the space (0 = the project's settings as they
 * were when the search began); adaptive searches train the same config again in later rungs. */
typedef struct {
  int      index;           /* 0-based, in the order trials ran */
  int      config, rung, epochs;
  char    *preset, *optimizer;
  double   learning_rate, dropout, weight_decay;
  int      batch_size;
  gboolean augment;
  double   label_smoothing;
  int      hidden;            /* transfer-hidden (transfer trials) */
  guint64  seed;
  /* results, validation split only */
  double   val_acc, val_loss;         /* of the best epoch (highest accuracy, then lowest loss) */
  int      best_epoch;
  double   seconds;
  gboolean diverged;
  BtVerdictKind verdict;              /* what its curves say (not saved: NONE when read back) */
  /* double, one per epoch trained: fewer than `epochs` when early stopping ended the trial */
  GArray  *curve_acc, *curve_loss;    /* validation accuracy/loss */
  GArray  *curve_train_loss;          /* training loss */
  GArray  *curve_train_acc;           /* training accuracy (empty in searches saved before it) */
} BtTuneTrial;
/* An empty trial (no settings, empty curves). */
BtTuneTrial *bt_tune_trial_new  (void);
BtTuneTrial *bt_tune_trial_copy (const BtTuneTrial *t);
void         bt_tune_trial_free (BtTuneTrial *t);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BtTuneTrial, bt_tune_trial_free)
/* Writes the trial's hyperparameters over a copy of the project settings. The epochs stay: a
 * trial's epochs are the search's budget, not a setting to keep; except for a transfer trial,
 * whose head's label smoothing and hidden units are written too, whose epochs become its best
 * epoch (as the Automatic recipe chooses a head's epochs from its curve) and which turns the
 * recipe to "manual" (the search chose the head). */
void  bt_tune_trial_apply    (const BtTuneTrial *t, BtProjectSettings *settings);
/* "small-cnn, adam, lr 0.001, batch 32, dropout 0.25, wd 0, aug on", untranslated ids; a transfer
 * trial's: "transfer, adam, lr 0.001, hidden 256, dropout 0.25, wd 0, smoothing 0.1". */
char *bt_tune_trial_describe (const BtTuneTrial *t);

/* ---- The data a search trains on: a snapshot of the train and validation items ---- */
typedef struct _BtTuneData BtTuneData;
/* Takes the snapshot on the thread that owns the project (the test split is left out:
 * its paths never enter the snapshot). For a transfer project the search trains heads on the
 * backbone embeddings of these images (bt_tune_data_is_transfer). */
BtTuneData *bt_tune_data_new  (BtProject *project, GError **error);
void        bt_tune_data_free (BtTuneData *d);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BtTuneData, bt_tune_data_free)
const BtProjectSettings *bt_tune_data_get_settings (BtTuneData *d);
guint       bt_tune_data_get_n_classes (BtTuneData *d);
gboolean    bt_tune_data_is_transfer (BtTuneData *d);
/* Decodes the images at the settings' input size once (worker thread). Idempotent. A transfer
 * project's: loads the backbone it trains with (bt_backbone_find_for_training) and embeds the
 * images through the embedding cache training uses (<project>/cache/embeddings/), so a second
 * search or run computes nothing. */
gboolean    bt_tune_data_prepare (BtTuneData *d, GCancellable *cancellable, GError **error);
/* The same, saying how far it is: progress(done, total) on this thread, `total` the images still
 * to read (a transfer project's: those not in the embedding cache, each photo and, when the
 * settings augment, its flipped and cropped copies; nothing is reported when all are cached).
 * gate, when given, is called before each image from the reading threads: it may block (a
 * paused search) and returns FALSE once `cancellable` is cancelled (the call then fails with
 * G_IO_ERROR_CANCELLED). */
gboolean    bt_tune_data_prepare_full (BtTuneData *d, BtCacheProgress progress, gpointer user_data,
                                       BtCacheGate gate, gpointer gate_data, GCancellable *cancellable,
                                       GError **error);
/* What that progress says to a person: "Preparing: reading photos 120 of 720…" (translated). */
char       *bt_tune_data_describe_prepare (BtTuneData *d, guint done, guint total);
/* The decoded images (item i of the snapshot = cache item i), NULL before a prepare or for a
 * transfer project; its embeddings (item i = embedding item i), NULL otherwise. */
BtCache    *bt_tune_data_get_cache (BtTuneData *d);
BtEmbeddings *bt_tune_data_get_embeddings (BtTuneData *d);
/* Train/val items of the snapshot, as index lists (for k-fold). */
guint        bt_tune_data_get_n_items (BtTuneData *d);
const guint64 *bt_tune_data_get_hashes (BtTuneData *d);
const int   *bt_tune_data_get_labels (BtTuneData *d);
BtSplit      bt_tune_data_get_split  (BtTuneData *d, guint i);

/* Images handed to the decoder by the tune/k-fold code since the process started, per split.
 * Instrumentation: a search must leave the test count at 0. */
guint bt_tune_get_decoded (BtSplit split);

/* Trains one configuration (synchronous, any thread) on the items `train` and scores it on
 * `val` every epoch: the data's project settings with the trial's hyperparameters, epochs and
 * seed, run by a BtTrainer (bt_trainer_start_trial) whose events this thread dispatches on a
 * private main context. Fills the result fields of *trial. A NaN/Inf loss is not an error:
 * the trial is marked diverged with accuracy 0. `trainer_cb`, when given, is called with the
 * trainer just after it started and with NULL once it finished (to pause it from elsewhere:
 * bt_trainer_pause/resume are thread-safe). */
typedef void (*BtTuneTrainerFunc) (BtTrainer *trainer, gpointer user_data);
gboolean bt_tune_train (BtTuneData *d, BtTuneTrial *trial, const guint *train, guint n_train,
                        const guint *val, guint n_val, GCancellable *cancellable, GError **error);
gboolean bt_tune_train_full (BtTuneData *d, BtTuneTrial *trial, const guint *train, guint n_train,
                             const guint *val, guint n_val, BtTuneTrainerFunc trainer_cb,
                             gpointer user_data, GCancellable *cancellable, GError **error);

/* ---- A search ---- */
typedef struct _BtTuneSearch BtTuneSearch;
/* A new search saved under <project_dir>/runs/tune-<timestamp>/ (created now). */
BtTuneSearch *bt_tune_search_new  (const char *project_dir, const BtProjectSettings *base,
                                   const BtTuneOptions *opts, GError **error);
/* Reopens a search folder: its options, base settings and finished trials. */
BtTuneSearch *bt_tune_search_open (const char *search_dir, GError **error);
void          bt_tune_search_free (BtTuneSearch *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BtTuneSearch, bt_tune_search_free)
/* The newest runs/tune-* folder of a project that is not finished, or NULL. */
char         *bt_tune_find_resumable (const char *project_dir);
/* The newest runs/tune-* folder that can be read, finished or not, or NULL. */
char         *bt_tune_find_latest    (const char *project_dir);
const char   *bt_tune_search_get_dir     (BtTuneSearch *s);
const BtTuneOptions *bt_tune_search_get_options (BtTuneSearch *s);
GPtrArray    *bt_tune_search_get_trials  (BtTuneSearch *s);  /* BtTuneTrial*, in run order */
gboolean      bt_tune_search_is_finished (BtTuneSearch *s);
/* How many trials the search's plan holds when no time limit ends it first (finished ones
 * included), or 0 when only its minutes bound it. */
int           bt_tune_search_get_n_planned (BtTuneSearch *s);
/* The next trial to run (hyperparameters and seed set, no results), or NULL when the plan or
 * the budget is spent. Deterministic: the same options and results give the same next trial. */
BtTuneTrial  *bt_tune_search_plan_next   (BtTuneSearch *s);
/* Appends a finished trial and rewrites trials.csv atomically. */
gboolean      bt_tune_search_record      (BtTuneSearch *s, const BtTuneTrial *t, GError **error);
/* Finished trials sorted best first (accuracy, then loss, then run order); borrowed pointers. */
GPtrArray    *bt_tune_search_leaderboard (BtTuneSearch *s);

typedef void (*BtTuneTrialFunc) (const BtTuneTrial *trial, gpointer user_data);
/* Runs trials until the plan or budget is spent or `cancellable` fires (then the trial in
 * progress is dropped and FALSE is returned with BT_TRAINING_ERROR_CANCELLED; open + run again
 * continues). on_trial is called from the running thread after each recorded trial. */
gboolean      bt_tune_search_run (BtTuneSearch *s, BtTuneData *d, BtTuneTrialFunc on_trial,
                                  gpointer user_data, GCancellable *cancellable, GError **error);
/* What the trial in progress is doing, reported on the thread that runs the search: after
 * training steps (info: the latest step's snapshot; steps: the steps since the last report;
 * epoch NULL) and after each epoch (epoch set; info and steps NULL). trial_index is 0-based, as
 * BtTuneTrial.index. Set it before bt_tune_search_run; NULL turns it off. */
typedef void (*BtTuneProgressFunc) (int trial_index, const BtStepInfo *info, const BtStepSample *steps,
                                    guint n_steps, const BtEpochInfo *epoch, gpointer user_data);
void          bt_tune_search_set_progress (BtTuneSearch *s, BtTuneProgressFunc func, gpointer user_data);
/* Pauses or resumes the trial in progress and the ones after it (any thread, while
 * bt_tune_search_run runs elsewhere; the trial's own BtTrainer waits between batches). */
void          bt_tune_search_set_paused (BtTuneSearch *s, gboolean paused);
gboolean      bt_tune_search_get_paused (BtTuneSearch *s);

G_END_DECLS
