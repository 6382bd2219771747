/* bt-engine.h: the public API of Bottega's learning core (GLib + OpenBLAS, no GTK, no images on disk).
 * Everything that trains, evaluates or predicts goes through these calls. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define BT_ENGINE_ERROR (bt_engine_error_quark ())
typedef enum {
  BT_ENGINE_ERROR_INVALID,     /* bad argument, shape or setting */
  BT_ENGINE_ERROR_CORRUPT,     /* a model / state / tflite file is broken */
  BT_ENGINE_ERROR_UNSUPPORTED, /* newer format version, unknown operator, ... */
  BT_ENGINE_ERROR_NUMERIC,     /* NaN or Inf in a loss or gradient */
  BT_ENGINE_ERROR_NO_MEMORY,   /* an allocation over the sanity caps */
  BT_ENGINE_ERROR_IO,
} BtEngineError;
GQuark bt_engine_error_quark (void);
/* The bytes of a regular file of at most max_len bytes. A FIFO, a device (/dev/zero), a
 * folder or a bigger file is refused before anything is read, without blocking. */
GBytes *bt_engine_read_file (const char *path, guint64 max_len, GError **error);

/* ---- Random numbers: every draw comes from an explicitly seeded generator ---- */
typedef struct { guint64 s[4]; } BtRng;      /* xoshiro256** ; plain data, copy to snapshot */
void     bt_rng_seed    (BtRng *rng, guint64 seed);
guint64  bt_rng_next    (BtRng *rng);
float    bt_rng_uniform (BtRng *rng);        /* [0, 1) */
float    bt_rng_normal  (BtRng *rng);        /* N(0, 1) */
guint32  bt_rng_below   (BtRng *rng, guint32 n); /* [0, n) without modulo bias */
void     bt_rng_shuffle (BtRng *rng, guint32 *v, gsize n);

/* ---- Preprocessing recipe, stored in model files: x = (pixel * scale - mean[c]) / std[c] ---- */
typedef enum { BT_RESIZE_SQUASH, BT_RESIZE_CENTER_CROP, BT_RESIZE_PAD } BtResizeMode;
typedef struct {
  int          width, height, channels; /* channels: 1 (grey) or 3 (RGB) */
  BtResizeMode resize;
  float        scale;                   /* usually 1/255 */
  float        mean[3], std[3];
} BtPreprocess;
/* The grey level transparent pixels were laid over, recorded in model files ("alpha-background");
 * the decoder's BT_ALPHA_BACKGROUND (tests/dataset/test-orient-classify.c checks they agree). */
#define BT_MODEL_ALPHA_BACKGROUND 255
const char *bt_resize_mode_to_string   (BtResizeMode mode);  /* "squash" | "center-crop" | "pad" */
gboolean    bt_resize_mode_from_string (const char *s, BtResizeMode *out);
void        bt_preprocess_init_default (BtPreprocess *p, int width, int height, int channels);

/* ---- Presets: functions of (input w, h, channels, classes) ---- */
typedef enum {
  BT_PRESET_MLP,
  BT_PRESET_SMALL_CNN,
  BT_PRESET_DEEPER_CNN,
  BT_PRESET_MINI_RESNET,
  BT_PRESET_TRANSFER,          /* head trained on backbone embeddings (#8) */
  BT_N_PRESETS
} BtPreset;
const char *bt_preset_to_id      (BtPreset preset);   /* "mlp", "small-cnn", "deeper-cnn", "mini-resnet", "transfer" */
gboolean    bt_preset_from_id    (const char *id, BtPreset *out);
const char *bt_preset_title      (BtPreset preset);   /* untranslated English; the app wraps in _() */
void        bt_preset_default_input (BtPreset preset, int *width, int *height, int *channels);

/* ---- Network ---- */
typedef struct _BtNet BtNet;

/* A preset network with freshly initialized weights (He/Glorot from the seed).
 * dropout < 0 means the preset's default. */
BtNet   *bt_net_new_preset   (BtPreset preset, int width, int height, int channels,
                              int n_classes, float dropout, guint64 seed, GError **error);
/* The transfer head with an optional hidden ReLU layer (hidden = 0: none):
 * [dim,1,1] embedding → dropout → [dense hidden ReLU → dropout] → dense n_classes.
 * bt_net_new_preset (BT_PRESET_TRANSFER, 1, 1, dim, ...) is the same with hidden = 0. */
BtNet   *bt_net_new_transfer (int dim, int hidden, int n_classes, float dropout, guint64 seed,
                              GError **error);
void     bt_net_free         (BtNet *net);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BtNet, bt_net_free)

gsize    bt_net_n_params     (const BtNet *net);
int      bt_net_n_classes    (const BtNet *net);
void     bt_net_input_shape  (const BtNet *net, int *channels, int *height, int *width);
BtPreset bt_net_preset       (const BtNet *net);
float    bt_net_dropout      (const BtNet *net);   /* the dropout actually used */
int      bt_net_hidden       (const BtNet *net);   /* transfer head hidden units, else 0 */
/* The generator behind dropout masks (seeded from the net's seed). A trainer may draw its
 * shuffles from it too, so one seed drives everything; it is saved in the train state. */
BtRng   *bt_net_rng          (BtNet *net);
char    *bt_net_describe     (const BtNet *net);  /* one line per layer with shapes */
/* Floats a training step keeps per image (activations, their gradients, pooling and dropout
 * masks), and the most activation floats one batch may use: for memory checks before a run. */
gsize    bt_net_train_floats_per_image (const BtNet *net);
gsize    bt_net_max_activation_floats  (void);
/* Estimated forward+backward FLOPs per image, for "time per epoch" estimates. */
double   bt_net_flops_per_image (const BtNet *net);

/* Forward pass on x (batch × C×H×W, NCHW float32). training=TRUE turns dropout and
 * batch-norm batch statistics on (and keeps a copy of x for backward). Returns the class
 * probabilities (batch × classes), owned by the net, valid until the next call; NULL with
 * BT_ENGINE_ERROR_NUMERIC when an output is NaN/Inf. Activations are allocated once per
 * batch size; inference runs big batches in slices of 64 so memory stays flat. */
const float *bt_net_forward  (BtNet *net, const float *x, int batch, gboolean training, GError **error);
/* The logits (before softmax) of the last successful bt_net_forward, batch × classes, owned by
 * the net and valid until the next call; NULL before any. */
const float *bt_net_logits   (const BtNet *net);
/* The features the dense head reads — the input of the first dense layer: the convolutions'
 * flattened output (Small CNN), their global average pool (Deeper CNN, Mini ResNet), a transfer
 * head's embedding, the MLP's pixels — of the last successful inference bt_net_forward, batch ×
 * bt_net_feature_dim; owned by the net, valid until the next call; NULL before any or after a
 * training forward. (The Small CNN's 128 dense activations told far-out images from Fashion-MNIST
 * far worse: docs/PERFORMANCE.md, "Unknown images".) */
const float *bt_net_features (const BtNet *net);
int          bt_net_feature_dim (const BtNet *net);

/* After bt_net_forward (training=TRUE, same batch): softmax cross-entropy against labels,
 * backward into the gradient block (which it adds to; call bt_net_zero_grad first).
 * class_weights may be NULL; label_smoothing in [0, 1). Stores the mean loss
 * (Σ weight·loss / batch, summed in double) and the number of correct top-1 predictions.
 * NaN/Inf in the loss or any gradient → FALSE with BT_ENGINE_ERROR_NUMERIC; bad labels or
 * settings → BT_ENGINE_ERROR_INVALID. */
gboolean bt_net_backward     (BtNet *net, const int *labels, int batch, const float *class_weights,
                              float label_smoothing, double *loss, int *n_correct, GError **error);
/* Loss and correct count without backward (evaluation, after any forward; labels must be
 * in range — NaN otherwise). */
double   bt_net_loss         (BtNet *net, const int *labels, int batch, int *n_correct);
void     bt_net_zero_grad    (BtNet *net);
/* From now on bt_net_backward also writes the gradient of the loss with respect to the batch's
 * input into d_input (batch × input floats, caller-owned; NULL: no longer). Fine-tuning a
 * backbone under a transfer head uses it. */
void     bt_net_set_input_grad (BtNet *net, float *d_input);

/* One flat parameter block and one gradient block (the optimizer is one loop). */
float   *bt_net_params       (BtNet *net, gsize *n);
float   *bt_net_grads        (BtNet *net, gsize *n);
/* Non-trainable state (batch-norm running mean/var), saved with the weights. */
float   *bt_net_buffers      (BtNet *net, gsize *n);

/* ---- Optimizers and schedules ---- */
typedef enum { BT_OPTIMIZER_SGD, BT_OPTIMIZER_ADAM, BT_OPTIMIZER_ADAMW } BtOptimizerKind;
const char *bt_optimizer_kind_to_id   (BtOptimizerKind kind);  /* "sgd" | "adam" | "adamw" */
gboolean    bt_optimizer_kind_from_id (const char *id, BtOptimizerKind *out);

typedef struct {
  BtOptimizerKind kind;
  float    momentum;       /* SGD, default 0.9 */
  gboolean nesterov;
  float    beta1, beta2, eps;
  float    weight_decay;   /* L2 for SGD/Adam, decoupled for AdamW */
  float    clip_norm;      /* 0 = off */
  float    ema_decay;      /* 0 = off; else keep a moving average of the weights (see below) */
} BtOptimizerConfig;
void bt_optimizer_config_init (BtOptimizerConfig *cfg, BtOptimizerKind kind);

typedef struct _BtOptimizer BtOptimizer;
BtOptimizer *bt_optimizer_new  (BtNet *net, const BtOptimizerConfig *cfg);
void         bt_optimizer_free (BtOptimizer *opt);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BtOptimizer, bt_optimizer_free)
/* Applies one update with learning rate lr. Returns the gradient norm before clipping; when
 * that norm is NaN/Inf nothing is changed and the norm is returned as is. Weight decay
 * applies to conv/dense kernels, not to biases or batch-norm parameters. */
double       bt_optimizer_step (BtOptimizer *opt, BtNet *net, float lr);
/* One training step on a batch of n inputs: the forward pass in training mode, gradients
 * (zeroed first) of the cross-entropy against labels (class_weights may be NULL), and the
 * optimizer's update at lr. Stores the batch's mean loss and its correct count (n_correct may
 * be NULL). FALSE when any part fails: BT_ENGINE_ERROR_NUMERIC when an output, the loss, a
 * gradient or the update's norm is not finite (the run diverged; the weights are unchanged),
 * BT_ENGINE_ERROR_INVALID for bad labels or settings. */
gboolean     bt_net_train_step (BtNet *net, BtOptimizer *opt, const float *x, const int *labels, int n,
                                const float *class_weights, float label_smoothing, float lr,
                                double *loss, int *n_correct, GError **error);
/* Moments and step count, for checkpoints. */
float       *bt_optimizer_state (BtOptimizer *opt, gsize *n);
gint64       bt_optimizer_get_t (const BtOptimizer *opt);
void         bt_optimizer_set_t (BtOptimizer *opt, gint64 t);
const BtOptimizerConfig *bt_optimizer_get_config (const BtOptimizer *opt);
/* With cfg.ema_decay > 0 the optimizer keeps an exponential moving average of the weights,
 * updated after every step with decay min(ema_decay, (1 + t) / (10 + t)) (t = steps so far,
 * so that it follows the weights closely at first); it starts as the weights at creation.
 * The average generalizes better than the last weights of a noisy run (Polyak averaging).
 * bt_optimizer_average: the average (n = the net's parameter count), NULL when off.
 * bt_optimizer_swap_average: exchanges the net's weights with the average, to evaluate or save
 * the averaged model; call it again to swap back before the next step. FALSE when off. */
/* The decay Bottega's trainer uses. */
#define BT_WEIGHT_AVERAGE_DECAY 0.999f
float       *bt_optimizer_average      (BtOptimizer *opt, gsize *n);
gboolean     bt_optimizer_swap_average (BtOptimizer *opt, BtNet *net);
gboolean     bt_optimizer_is_swapped   (const BtOptimizer *opt);

/* PLATEAU: the base rate, multiplied by a BtPlateau's multiplier that the trainer updates after
 * every epoch (reduce-on-plateau). */
typedef enum { BT_SCHEDULE_CONSTANT, BT_SCHEDULE_STEP, BT_SCHEDULE_COSINE, BT_SCHEDULE_PLATEAU } BtScheduleKind;
const char *bt_schedule_kind_to_id   (BtScheduleKind kind);  /* "constant" | "step" | "cosine" | "plateau" */
gboolean    bt_schedule_kind_from_id (const char *id, BtScheduleKind *out);
typedef struct {
  BtScheduleKind kind;
  float base_lr;
  int   warmup_steps;   /* linear warm-up, cosine only */
  int   step_every;     /* step schedule: multiply by gamma every step_every steps */
  float gamma;
  int   total_steps;    /* cosine */
  float min_lr;
} BtSchedule;
float bt_schedule_lr (const BtSchedule *s, gint64 step);

/* Reduce-on-plateau: the trainer feeds it each epoch's monitored value. */
typedef struct {
  float  factor;        /* e.g. 0.5 */
  int    patience;
  double min_delta;
  gboolean mode_max;    /* TRUE when monitoring accuracy */
  double best;
  int    bad_epochs;
  float  multiplier;    /* current lr multiplier, starts at 1 */
} BtPlateau;
void  bt_plateau_init   (BtPlateau *p, float factor, int patience, double min_delta, gboolean mode_max);
float bt_plateau_update (BtPlateau *p, double value);   /* returns the new multiplier */

/* ---- Model files (.bottega-model): self-contained, data-only, checksummed ---- */
/* Fitted on the validation split after training. Probabilities are softmax(logits / temperature).
 * The unknown score (higher = more unknown; above unknown_threshold the image is "not one of
 * the classes", NAN = never) is either the energy E = −T·logsumexp(logits / T) alone, or, when
 * the model has class centroids and the calibration their scales (bt_calibration_uses_centroids),
 *   max ((E − energy_center) / energy_scale, (D − distance_center) / distance_scale)
 * with D the distance of the image's features to the nearest class centroid (bt_centroids_distance):
 * each part measured in how far it lies beyond the validation images' typical value (center:
 * their median, scale: their 95th percentile minus it), so either part can call an image unknown.
 * energy_threshold is then the energy's own threshold (95 % of validation accepted) for the
 * exports, whose graphs compute the energy only. */
typedef struct {
  double temperature;              /* > 0; BT_TEMPERATURE_MIN … BT_TEMPERATURE_MAX */
  double unknown_threshold;        /* finite, or NAN when the model has none */
  double energy_center, energy_scale;      /* the combined score: finite, scale > 0; else NAN */
  double distance_center, distance_scale;
  double energy_threshold;         /* the combined score: the energy's own threshold; else NAN */
} BtCalibration;
#define BT_TEMPERATURE_MIN 0.01
#define BT_TEMPERATURE_MAX 100.0
void     bt_calibration_init    (BtCalibration *calib);   /* temperature 1, no threshold, energy only */
/* probs (NULL = skip): softmax(logits / T) over k classes; returns the energy. */
double   bt_calibration_apply   (const BtCalibration *calib, const float *logits, int k, float *probs);
gboolean bt_calibration_is_unknown (const BtCalibration *calib, double unknown_score);
/* TRUE when the unknown score combines the energy with the centroid distance. */
gboolean bt_calibration_uses_centroids (const BtCalibration *calib);
/* The threshold on the energy alone (what an exported graph's unknown_score is): unknown_threshold
 * for an energy-only calibration, energy_threshold for a combined one; NAN when none. */
double   bt_calibration_energy_threshold (const BtCalibration *calib);

/* Per-class centroids of the features (bt_net_features) of the training split, and per class and
 * feature their spread (standard deviation, floored so that no feature divides by ~0). */
typedef struct {
  int    n_classes, dim;
  float *mean;                     /* [n_classes, dim] */
  float *spread;                   /* [n_classes, dim], each > 0 */
} BtCentroids;
BtCentroids *bt_centroids_new      (int n_classes, int dim);   /* zeroed; NULL when too big */
BtCentroids *bt_centroids_copy     (const BtCentroids *c);
void         bt_centroids_free     (BtCentroids *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BtCentroids, bt_centroids_free)
/* min over classes k of sqrt (mean over features j of ((f_j − mean_kj) / spread_kj)²). */
double       bt_centroids_distance (const BtCentroids *c, const float *features);
/* The one unknown score: the energy, or the combined score when calib uses centroids (then
 * centroids and features — centroids->dim floats — are needed: without them NAN, never unknown).
 * probs as bt_calibration_apply. */
double       bt_unknown_score      (const BtCalibration *calib, const BtCentroids *centroids,
                                    const float *logits, int k, const float *features, float *probs);
/* Its two parts before scaling: the energy, and the centroid distance (NAN without centroids or
 * features). */
void         bt_unknown_parts      (const BtCalibration *calib, const BtCentroids *centroids,
                                    const float *logits, int k, const float *features,
                                    double *energy, double *distance);
/* A fine-tuned backbone operator (CONV_2D or DEPTHWISE_CONV_2D) of a whole-network model. */
typedef struct {
  int    op;                       /* the operator's index in the backbone */
  int    shape[4];                 /* engine layout: out channels, in channels per group, kh, kw */
  float *w, *b;                    /* the product of shape weights, shape[0] biases (owned) */
} BtBackboneWeights;
void     bt_backbone_weights_clear (gpointer weights);   /* GArray clear func */

/* Test-time augmentation ([inference] in the model file): with MIRROR a prediction's logits are
 * the mean of the logits of the image and of its left-right mirror. */
typedef enum { BT_TTA_NONE, BT_TTA_MIRROR } BtTta;
typedef struct {
  BtNet        *net;
  char        **class_names;       /* NULL-terminated, UTF-8 */
  BtPreprocess  prep;
  char         *backbone_name;     /* transfer models: backbone reference, else NULL */
  char         *backbone_sha256;
  GHashTable   *metadata;          /* string → string: created, project, epochs, val_acc ... */
  GBytes       *backbone_data;     /* self-contained transfer models: the backbone file, else NULL */
  BtCalibration calib;             /* [calibration]; files without it: temperature 1, no threshold */
  GArray       *backbone_weights;  /* BtBackboneWeights replacing the backbone's (format 3), or NULL */
  BtTta         tta;               /* [inference]; files without it: BT_TTA_NONE */
  double       *class_thresholds;  /* [thresholds]: per class, the probability below which the
                                    * class is not accepted (NAN: none); NULL when none is saved */
  BtCentroids  *centroids;         /* [centroids]: the training split's class centroids, or NULL */
} BtModel;
/* class_names: exactly bt_net_n_classes, unique, non-empty UTF-8 without control
 * characters; prep NULL = bt_preprocess_init_default for the net's input; metadata keys
 * [A-Za-z0-9._-]. The bytes are validated by loading them back before the atomic write. */
gboolean bt_model_save       (const char *path, BtNet *net, const char * const *class_names,
                              const BtPreprocess *prep, const char *backbone_name,
                              const char *backbone_sha256, GHashTable *metadata, GError **error);
/* The same file as bytes (no validation round trip, nothing written). */
GBytes  *bt_model_save_to_bytes (BtNet *net, const char * const *class_names,
                                 const BtPreprocess *prep, const char *backbone_name,
                                 const char *backbone_sha256, GHashTable *metadata, GError **error);
/* The same, optionally with the whole network: backbone_data (a transfer model's backbone file,
 * whose SHA-256 must equal backbone_sha256 when that is given) is stored inside the file, so
 * the model predicts without the backbone on the search path (format version 2). */
gboolean bt_model_save_full  (const char *path, BtNet *net, const char * const *class_names,
                              const BtPreprocess *prep, const char *backbone_name,
                              const char *backbone_sha256, GBytes *backbone_data,
                              GHashTable *metadata, GError **error);
GBytes  *bt_model_save_to_bytes_full (BtNet *net, const char * const *class_names,
                                      const BtPreprocess *prep, const char *backbone_name,
                                      const char *backbone_sha256, GBytes *backbone_data,
                                      GHashTable *metadata, GError **error);
/* The same, with the calibration in the header (NULL = none: temperature 1, no threshold). */
gboolean bt_model_save_calibrated (const char *path, BtNet *net, const char * const *class_names,
                                   const BtPreprocess *prep, const char *backbone_name,
                                   const char *backbone_sha256, GBytes *backbone_data,
                                   const BtCalibration *calib, GHashTable *metadata, GError **error);
/* The same with fine-tuned backbone operators (BtBackboneWeights, NULL or empty = none): they
 * need backbone_data (a whole-network model) and make the file format version 3. */
gboolean bt_model_save_finetuned (const char *path, BtNet *net, const char * const *class_names,
                                  const BtPreprocess *prep, const char *backbone_name,
                                  const char *backbone_sha256, GBytes *backbone_data,
                                  const GArray *backbone_weights, const BtCalibration *calib,
                                  GHashTable *metadata, GError **error);
GBytes  *bt_model_save_to_bytes_finetuned (BtNet *net, const char * const *class_names,
                                           const BtPreprocess *prep, const char *backbone_name,
                                           const char *backbone_sha256, GBytes *backbone_data,
                                           const GArray *backbone_weights, const BtCalibration *calib,
                                           GHashTable *metadata, GError **error);
/* Per-class thresholds (chosen on the Evaluate page, saved in [thresholds]): class k's saved
 * threshold, NAN when it has none. */
double   bt_model_get_threshold (const BtModel *m, int k);
/* Sets class k's threshold; 0 or NAN removes it. FALSE + error when t is not in [0, 1]. */
gboolean bt_model_set_threshold (BtModel *m, int k, double t, GError **error);
/* What a prediction answers: the most likely class (*top, may be NULL), unless the calibration
 * calls the image unknown, or that class's probability is below its saved threshold. */
typedef enum { BT_ANSWER_CLASS, BT_ANSWER_UNKNOWN, BT_ANSWER_BELOW_THRESHOLD } BtAnswer;
BtAnswer bt_model_answer        (const BtModel *m, const float *probs, double unknown_score, int *top);
/* The same rule on its parts (a .tflite file's "thresholds" metadata uses it too): n classes,
 * class_thresholds one per class (NAN: none) or NULL. bt_model_answer calls it. */
BtAnswer bt_answer_rule         (const BtCalibration *calib, const double *class_thresholds, int n,
                                 const float *probs, double unknown_score, int *top);
/* bt_unknown_score with the model's calibration and centroids; features: bt_net_features of
 * the forward pass that gave logits (may be NULL for a model without centroids). */
double   bt_model_unknown_score (const BtModel *m, const float *logits, const float *features, float *probs);
/* Everything a BtModel holds (net, names, prep, backbone, calibration, thresholds, test-time
 * augmentation, metadata), as the functions above; m is not taken over. */
GBytes  *bt_model_to_bytes   (const BtModel *m, GError **error);
gboolean bt_model_save_model (const char *path, const BtModel *m, GError **error);
BtModel *bt_model_load       (const char *path, GError **error);
BtModel *bt_model_load_bytes (GBytes *bytes, GError **error);
void     bt_model_free       (BtModel *model);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BtModel, bt_model_free)

/* Training state for resume: weights + buffers + optimizer moments + step + RNG + epoch + best. */
typedef struct {
  int     epoch;          /* epochs completed */
  double  best_score;
  int     best_epoch;
  BtRng   rng;
  gint64  opt_t;
  GHashTable *extra;      /* string → string, for the trainer's own counters */
} BtTrainState;
gboolean bt_train_state_save (const char *path, BtNet *net, BtOptimizer *opt,
                              const BtTrainState *state, GError **error);
/* Restores into an existing net/optimizer of the same shape (and optimizer kind); on
 * failure nothing is changed. On success *state is overwritten and state->extra is a new
 * table (string → string) that the caller unrefs; a previous state->extra is not freed. */
gboolean bt_train_state_load (const char *path, BtNet *net, BtOptimizer *opt,
                              BtTrainState *state, GError **error);

/* ---- Threads ---- */
/* Sets the number of threads used by OpenBLAS and the engine's own loops (0 = cores). */
void bt_engine_set_threads (int n);
int  bt_engine_get_threads (void);

G_END_DECLS
