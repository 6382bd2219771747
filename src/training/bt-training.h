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
} BtStepInfo;

typedef struct {
  int     epoch;
  double  train_loss, train_acc;
  double  val_loss, val_acc;   /* NaN when no validation data */
  double  lr;
  double  images_per_s;
  double  elapsed_s;
  int     best_epoch;
  gboolean overfitting;        /* val loss rose N epochs while train loss fell */
} BtEpochInfo;

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
/* Signals, all emitted on the main context that called bt_trainer_start:
 *   "step"      (const BtStepInfo *)  throttled: latest values + at most one pending idle;
 *                                      every step's loss/acc is also queued and delivered
 *                                      in order via bt_trainer_take_steps()
 *   "epoch"     (const BtEpochInfo *) every epoch, in order, none dropped
 *   "message"   (const char *)        human-readable, untranslated
 *   "state-changed"
 *   "finished"  (const GError *)      NULL on success
 * Properties: state, run-dir, best-model-path */
BtTrainer     *bt_trainer_new         (BtProject *project);
/* Starts (or resumes from the run's last checkpoint when resume_dir != NULL). */
gboolean       bt_trainer_start       (BtTrainer *self, const char *resume_dir, GError **error);
void           bt_trainer_pause       (BtTrainer *self);
void           bt_trainer_resume      (BtTrainer *self);
void           bt_trainer_stop        (BtTrainer *self);
BtTrainerState bt_trainer_get_state   (BtTrainer *self);
const char    *bt_trainer_get_run_dir (BtTrainer *self);
const char    *bt_trainer_get_best_model_path (BtTrainer *self);
/* Per-step (loss, acc) pairs queued since the last call, in order. */
GArray        *bt_trainer_take_steps  (BtTrainer *self);

/* ---- Evaluation ---- */
typedef struct {
  char   *path;
  int     true_class, pred_class;
  float   confidence;        /* probability of pred_class */
  float  *probs;             /* n_classes */
} BtMistake;

typedef struct {
  int      n_classes;
  char   **class_names;
  guint    n;                 /* images evaluated */
  double   accuracy, loss;
  guint   *confusion;         /* n_classes × n_classes, row = true, col = predicted */
  double  *precision, *recall, *f1;
  GPtrArray *mistakes;        /* BtMistake*, most confident wrong first */
  GPtrArray *all;             /* BtMistake* for every image (right ones too), for the gallery */
} BtEvaluation;
void          bt_evaluation_free (BtEvaluation *ev);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BtEvaluation, bt_evaluation_free)
/* Evaluates a model on a project's split (synchronous; call from a worker). */
BtEvaluation *bt_evaluate_project (BtModel *model, BtProject *project, BtSplit split,
                                   GCancellable *cancellable, GError **error);

/* ---- Prediction from an image file, with the model's own preprocessing ---- */
/* Returns n_classes probabilities (g_free). Works for transfer models too. */
float *bt_predict_file (BtModel *model, const char *image_path, GError **error);

G_END_DECLS
