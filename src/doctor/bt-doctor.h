/* bt-doctor.h: the data doctor (#22). From a snapshot of a project's items (paths, labels,
 * splits; taken on the thread that owns the project) it finds, on any thread: label issues by
 * confident learning on out-of-fold probabilities, near-duplicates (leakage across splits,
 * conflicts between labels), outliers and poor-quality images. Uses engine, dataset and
 * training; nothing above. No GTK. */
#pragma once

#include <gio/gio.h>

#include "dataset/bt-dataset.h"

G_BEGIN_DECLS

/* ---- The snapshot ---- */
typedef struct _BtDoctorInput BtDoctorInput;
/* Copies the project's items that are neither excluded nor missing, its class names and its
 * settings. Call it on the thread that owns the project; the result is plain data. */
BtDoctorInput *bt_doctor_input_new      (BtProject *project);
/* For callers without a project (tests, benchmarks): settings may be NULL (then no transfer). */
BtDoctorInput *bt_doctor_input_new_empty (const char *const *class_names,
                                          const BtProjectSettings *settings);
/* label: index into the class names, or -1 for an unlabelled image. */
void           bt_doctor_input_add      (BtDoctorInput *in, const char *path, int label, BtSplit split);
guint          bt_doctor_input_get_n_items (BtDoctorInput *in);
/* Where the doctor keeps what it computed without the labels (each image's measures, copies,
 * descriptor and pixels, keyed by the file's identity; the near-duplicate pairs of one exact
 * set of files), so a run after relabels decodes nothing and finds the same pairs again:
 * <project>/cache/doctor for bt_doctor_input_new, none for bt_doctor_input_new_empty; NULL:
 * none (a cold run). */
void           bt_doctor_input_set_cache_dir (BtDoctorInput *in, const char *dir);
void           bt_doctor_input_free     (BtDoctorInput *in);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BtDoctorInput, bt_doctor_input_free)

typedef struct {
  int      folds;          /* K of the out-of-fold predictions; default 5, at least 2 */
  guint64  seed;           /* folds and training; the same seed gives the same report */
  double   max_distance;   /* near-duplicates: distance (see BtDoctorDuplicate) at most; default
                            * 0.012 (shifted, brightened copies: ≤ 0.010; Fashion-MNIST's own
                            * look-alikes: from 0.014) */
  gboolean use_backbone;   /* transfer projects: features from the backbone; default TRUE */
  int      epochs;         /* of each fold model; 0 (default): a short schedule (see bt-doctor.c) */
} BtDoctorOptions;
void bt_doctor_options_init (BtDoctorOptions *opts);

/* ---- The report (each list most-suspect first) ---- */
typedef enum {
  BT_DOCTOR_DARK          = 1 << 0,
  BT_DOCTOR_OVEREXPOSED   = 1 << 1,
  BT_DOCTOR_LOW_CONTRAST  = 1 << 2,
  BT_DOCTOR_BLURRY        = 1 << 3,
  BT_DOCTOR_TINY          = 1 << 4,
  BT_DOCTOR_EXTREME_ASPECT = 1 << 5,
} BtDoctorProblem;
#define BT_DOCTOR_N_PROBLEMS 6
/* "dark", "overexposed", "low-contrast", "blurry", "tiny", "extreme-aspect" (bit index 0…5) */
const char *bt_doctor_problem_to_id (int bit);

typedef struct { guint item; int label, suggested; double score; } BtDoctorLabelIssue;
typedef struct { guint a, b; double distance; } BtDoctorDuplicate;
typedef struct { guint item; double score; } BtDoctorOutlier;
typedef struct { guint item; guint problems; double score; } BtDoctorQuality;

typedef struct {
  BtDoctorInput *input;          /* borrowed from the caller, who keeps it alive */
  GArray *label_issues;          /* BtDoctorLabelIssue; score = 1 − P(given label), out of fold */
  GArray *duplicates;            /* BtDoctorDuplicate; distance = 1 − the Pearson correlation of the
                                  * grey copies (the image itself when at most 32×32, else 32×32
                                  * copies) at the best shift of up to 2 pixels (0…1) */
  GArray *outliers;              /* BtDoctorOutlier; score in [0, 1] */
  GArray *quality;               /* BtDoctorQuality */
  guint   n_unreadable;          /* images that could not be decoded (left out of everything) */
  gboolean used_backbone;        /* the features were the backbone's embeddings */
  guint   n_embedded;            /* embeddings computed by this run (the others came from the
                                  * project's embedding cache, cache/embeddings/) */
  guint   n_cached;              /* images not decoded: the doctor's cache had them */
  gboolean duplicates_cached;    /* the near-duplicate pairs came from the doctor's cache */
  double  oof_accuracy;          /* of the out-of-fold predictions on the labelled images */
  char   *model;                 /* what the out-of-fold models were, with their accuracies
                                  * ("mlp 28×28×1, 5 epochs (0.85; …)"; untranslated), or NULL */
} BtDoctorReport;
void bt_doctor_report_free (BtDoctorReport *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BtDoctorReport, bt_doctor_report_free)

/* Accessors for printing. */
const char *bt_doctor_report_path  (const BtDoctorReport *r, guint item);
const char *bt_doctor_report_class (const BtDoctorReport *r, int label);   /* "" for -1 */
BtSplit     bt_doctor_report_split (const BtDoctorReport *r, guint item);
int         bt_doctor_report_label (const BtDoctorReport *r, guint item);
gboolean    bt_doctor_duplicate_is_leakage  (const BtDoctorReport *r, const BtDoctorDuplicate *d);
gboolean    bt_doctor_duplicate_is_conflict (const BtDoctorReport *r, const BtDoctorDuplicate *d);

/* fraction in [0, 1]; stage: untranslated id ("embed", "decode", "folds", "duplicates", "outliers") */
typedef void (*BtDoctorProgress) (const char *stage, double fraction, gpointer user_data);

/* The analysis; synchronous, for a worker thread. */
BtDoctorReport *bt_doctor_run (BtDoctorInput *input, const BtDoctorOptions *opts,
                               BtDoctorProgress progress, gpointer user_data,
                               GCancellable *cancellable, GError **error);

/* The report as the JSON object of `bottega-cli doctor --json` (UTF-8, ends with a newline). */
char *bt_doctor_report_to_json (const BtDoctorReport *r);

G_END_DECLS
