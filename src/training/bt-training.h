/* bt-training.h: training jobs on a worker thread, their events, checkpoints, evaluation.
 * Built on the engine and dataset libraries; never touches GTK. */
#pragma once

#include "engine/bt-engine.h"
#include "dataset/bt-dataset.h"

G_BEGIN_DECLS

#define BT_TRAINING_ERROR (bt_training_error_quark ())
typedef enum {
  BT_TRAINING_ERROR_INVALID,
  BT_TRAINING_ERROR_DIVERGED,    /* NaN/Inf loss */
  BT_TRAINING_ERROR_NO_DATA,
  BT_TRAINING_ERROR_CANCELLED,
  BT_TRAINING_ERROR_IO,
} BtTrainingError;
GQuark bt_training_error_quark (void);

typedef struct _BtEvaluation BtEvaluation;   /* see Evaluation below */

/* Snapshot of per-step progress (latest values; the GUI reads it in the idle). */
typedef struct {
  int     epoch;          /* 1-based, current */
  int     epochs;
  int     step;           /* 1-based within epoch */
  int     steps_per_epoch;
  gint64  global_step;
  double  loss, acc;      /* this step */
  double  lr;
  double  images_per_s;
  double  elapsed_s, eta_s;
  double  epoch_loss, epoch_acc;   /* running means over this epoch so far */
  double  val_loss, val_acc;       /* the last finished epoch's, NaN before the first */
} BtStepInfo;

/* One training step, as queued for bt_trainer_take_steps(). */
typedef struct {
  gint64  global_step;    /* 1-based over the whole run */
  int     epoch;          /* 1-based */
  float   loss, acc;      /* this step's batch */
} BtStepSample;

typedef struct {
  int     epoch;
  double  train_loss, train_acc;
  double  val_loss, val_acc;   /* NaN when no validation data */
  double  lr;
  double  images_per_s;
  double  elapsed_s;
  int     best_epoch;
  gboolean overfitting;        /* val loss rose N epochs while train loss fell */
  int     epochs;              /* planned total */
  double  best_score;          /* the monitored value at best_epoch (NaN when none) */
  gboolean improved;           /* this epoch became the best one (best model saved) */
  double  eta_s;
} BtEpochInfo;

/* Epochs in a row of rising validation loss (with falling training loss) that raise
 * BtEpochInfo.overfitting. */
#define BT_TRAINER_OVERFIT_EPOCHS 3

typedef enum {
  BT_TRAINER_IDLE,
  BT_TRAINER_PREPARING,   /* scanning/decoding into the cache */
  BT_TRAINER_RUNNING,
  BT_TRAINER_PAUSED,
  BT_TRAINER_STOPPING,
  BT_TRAINER_FINISHED,
  BT_TRAINER_FAILED,
} BtTrainerState;

#define BT_TYPE_TRAINER (bt_trainer_get_type ())
G_DECLARE_FINAL_TYPE (BtTrainer, bt_trainer, BT, TRAINER, GObject)
/* Signals, all emitted on the main context that called bt_trainer_start, in the order the
 * worker produced them:
 *   "step"      (const BtStepInfo *)  throttled: latest values + at most one pending idle;
 *                                      every step's loss/acc is also queued and delivered
 *                                      in order via bt_trainer_take_steps()
 *   "epoch"     (const BtEpochInfo *) every epoch, in order, none dropped
 *   "message"   (const char *)        human-readable, translated
 *   "state-changed"                   (also notifies "state")
 *   "finished"  (const GError *)      NULL on success; the last signal of a run.
 *                                      Stopped runs finish with BT_TRAINING_ERROR_CANCELLED,
 *                                      NaN/Inf with BT_TRAINING_ERROR_DIVERGED.
 * Properties: state, run-dir, best-model-path (all read-only, notified on the main context)
 *
 * A run lives in <project>/runs/<timestamp>/ (bt-run-files.h): config.ini (the settings it ran
 * with), metrics.csv (one row per epoch), verdict.ini (what its curves say, bt-verdict.h),
 * checkpoint-NNNN.state (the newest complete epoch; the previous one is removed only once the
 * new one is on disk). The best model goes to
 * <project>/models/<timestamp>-<preset>.bottega-model. Reduce-on-plateau is the schedule
 * id "plateau" (constant learning rate halved after `early_stopping_patience` or 3 flat
 * epochs); the engine's "constant" | "step" | "cosine" are passed through. */
/* project may be NULL for a trainer that only runs trials (bt_trainer_start then fails). */
BtTrainer     *bt_trainer_new         (BtProject *project);
/* Starts a new run with the project's current settings, or resumes the run in resume_dir
 * (a runs/<timestamp> folder) from its last complete checkpoint, with that run's own
 * settings, so the result equals an uninterrupted run with the same seed and threads. */
gboolean       bt_trainer_start       (BtTrainer *self, const char *resume_dir, GError **error);

/* Where a run's samples come from (bt-train-source.h): made by the caller from a snapshot of
 * paths before the worker starts. */
typedef struct _BtTrainSource BtTrainSource;
/* Starts a trial of a hyperparameter search or a fold of a cross-validation: `settings`
 * trained on the items `train` of `source` (whose labels are `labels`, by item index) and
 * scored every epoch on the items `val`, through the same loop as a normal run (class weights
 * from `train`, augmentation, schedule or reduce-on-plateau, early stopping, NaN/Inf
 * detection, pause and stop, the same signals), but it writes nothing (no run folder,
 * checkpoint, metrics or model: run-dir and best-model-path stay NULL) and has no test split.
 * `source` and `labels` are borrowed and must stay alive until "finished". The transfer preset
 * is refused. */
gboolean       bt_trainer_start_trial (BtTrainer *self, const BtProjectSettings *settings,
                                       BtTrainSource *source, const int *labels, int n_classes,
                                       const guint *train, guint n_train,
                                       const guint *val, guint n_val, GError **error);
void           bt_trainer_pause       (BtTrainer *self);
void           bt_trainer_resume      (BtTrainer *self);
void           bt_trainer_stop        (BtTrainer *self);
BtTrainerState bt_trainer_get_state   (BtTrainer *self);
const char    *bt_trainer_get_run_dir (BtTrainer *self);
const char    *bt_trainer_get_best_model_path (BtTrainer *self);
/* BtStepSample of every step since the last call, in order (at most the newest 65536). */
GArray        *bt_trainer_take_steps  (BtTrainer *self);
/* After "finished": the best (or restored) model evaluated on the test split, or NULL when
 * the project has no usable test images or the run failed. Owned by the trainer. */
const BtEvaluation *bt_trainer_get_test_evaluation (BtTrainer *self);
/* Seconds between the last bt_trainer_stop() and the worker leaving its loop; -1 before. */
/* After "finished": how many of the run's images could not be read and were left out (each
 * was named in a "message"). */
guint          bt_trainer_get_n_unreadable (BtTrainer *self);
const char    *bt_trainer_get_unreadable_report (BtTrainer *self);  /* their list, or NULL */
double         bt_trainer_get_stop_latency (BtTrainer *self);
/* The project's newest run when a stop, kill or failure interrupted it after a checkpoint
 * (bt_run_files_find_interrupted), or NULL. An older run is never offered. */
char          *bt_trainer_find_resumable_run (BtProject *project);
/* After "finished": what the curves say (bt-verdict.h), or NULL when no epoch finished. */
typedef struct _BtVerdict BtVerdict;
const BtVerdict *bt_trainer_get_verdict (BtTrainer *self);

/* ---- Evaluation ---- */
typedef struct {
  char   *path;
  guint   item_index;        /* position in bt_project_get_items(), for relabel/exclude */
  int     true_class, pred_class;
  float   confidence;        /* probability of pred_class */
  float   raw_confidence;    /* the same before temperature scaling */
  float   unknown_score;     /* energy at the model's temperature, higher = more unknown (NAN: none) */
  float  *probs;             /* n_classes */
} BtMistake;

struct _BtEvaluation {
  int      n_classes;
  char   **class_names;
  guint    n;                 /* images evaluated */
  double   accuracy, loss;
  guint   *confusion;         /* n_classes × n_classes, row = true, col = predicted */
  double  *precision, *recall, *f1;
  GPtrArray *mistakes;        /* BtMistake*, most confident wrong first */
  GPtrArray *all;             /* BtMistake* for every image (right ones too), for the gallery */
  guint    n_skipped;         /* images that could not be read or whose class the model lacks */
  double   temperature;       /* the model's, 1 without calibration */
  double   ece_before, ece_after;   /* expected calibration error, BT_ECE_BINS bins, T = 1 and T */
};
void          bt_evaluation_free (BtEvaluation *ev);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BtEvaluation, bt_evaluation_free)
/* Evaluates a model on a project's split (synchronous; call from a worker). */
BtEvaluation *bt_evaluate_project (BtModel *model, BtProject *project, BtSplit split,
                                   GCancellable *cancellable, GError **error);

/* ---- Prediction from an image file, with the model's own preprocessing ---- */
/* Returns n_classes probabilities (g_free). Works for transfer models too. */
float *bt_predict_file (BtModel *model, const char *image_path, GError **error);
/* The same from a decoded image (the Test page's clipboard / dropped texture). */
float *bt_predict_image (BtModel *model, const BtImage *image, GError **error);
/* The same with the unknown score (higher = more unknown; bt_calibration_is_unknown with the
 * model's calib says whether it is "not one of the classes"). unknown_score may be NULL. */
float *bt_predict_image_scored (BtModel *model, const BtImage *image, double *unknown_score, GError **error);
float *bt_predict_file_scored  (BtModel *model, const char *image_path, double *unknown_score, GError **error);
/* The same with the unknown score's two parts (bt_unknown_parts; each may be NULL). */
float *bt_predict_image_parts  (BtModel *model, const BtImage *image, double *unknown_score, double *energy,
                                double *distance, GError **error);
float *bt_predict_file_parts   (BtModel *model, const char *image_path, double *unknown_score, double *energy,
                                double *distance, GError **error);
/* The one forward pass of every prediction and evaluation: the model's logits (n_classes floats
 * into logits) for one image, the mean of the image's and its mirror's when the model has test-
 * time augmentation (model->tta). Takes the compute gate; any thread but the GTK main thread. */
gboolean bt_model_image_logits (BtModel *model, const BtImage *image, float *logits, GError **error);
/* The same with the features the unknown score reads (bt_net_features; bt_net_feature_dim floats,
 * the mean of both images' under test-time augmentation) into features (NULL: not wanted). */
gboolean bt_model_image_outputs (BtModel *model, const BtImage *image, float *logits, float *features,
                                 GError **error);

/* Mapping between the engine's and the dataset's resize modes (same three modes). */
BtResizeMode bt_resize_mode_from_ds (BtDsResize mode);
BtDsResize   bt_resize_mode_to_ds   (BtResizeMode mode);

G_END_DECLS
