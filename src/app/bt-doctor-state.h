/* bt-doctor-state.h: the data doctor for one open project, shared by the Review window, the
 * Review buttons of the Data and Evaluate pages and the Evaluate page's marks. It runs the
 * doctor (src/doctor/) on a worker with throttled progress, keeps the latest report and the
 * images a person said are right ("kept"; saved in the project folder as doctor-kept.txt). */
#pragma once

#include <gtk/gtk.h>

#include "dataset/bt-dataset.h"
#include "doctor/bt-doctor.h"

G_BEGIN_DECLS

#define BT_TYPE_DOCTOR_STATE (bt_doctor_state_get_type ())
G_DECLARE_FINAL_TYPE (BtDoctorState, bt_doctor_state, BT, DOCTOR_STATE, GObject)

/* Signals: "changed": a run started, finished, failed or was cancelled, or the kept set
 * changed; "progress" (const char *stage, double fraction) while running. */

/* The project's one state (made on first use, freed with the project; borrowed). */
BtDoctorState        *bt_doctor_state_get        (BtProject *project);
/* Starts a run (a running one is cancelled first). */
void                  bt_doctor_state_run        (BtDoctorState *self);
void                  bt_doctor_state_cancel     (BtDoctorState *self);
gboolean              bt_doctor_state_is_running (BtDoctorState *self);
/* The stage ("decode", "folds", "duplicates", "outliers") and fraction of the running step. */
const char           *bt_doctor_state_get_stage  (BtDoctorState *self, double *fraction);
/* The latest finished report (NULL before the first); the last failure's message or NULL. */
const BtDoctorReport *bt_doctor_state_get_report (BtDoctorState *self);
const char           *bt_doctor_state_get_error  (BtDoctorState *self);

/* One thing for a person to look at, in the order the Review window lists them: label issues,
 * then near-duplicate pairs, outliers and poor-quality images, each most-suspect first. */
typedef enum {
  BT_FINDING_LABEL,
  BT_FINDING_DUPLICATE,
  BT_FINDING_OUTLIER,
  BT_FINDING_QUALITY,
  BT_FINDING_N_KINDS
} BtFindingKind;

typedef struct {
  BtFindingKind kind;
  guint  a, b;              /* report item indices; b only for duplicates */
  int    label, suggested;  /* label issues: the doubted class and the suggested one */
  double score;             /* label issues: 1 − P(label); outliers, quality: the report's score */
  guint  problems;          /* quality: BtDoctorProblem bits */
} BtFinding;

/* Every finding of the latest report (empty before the first): BtFinding. Borrowed. */
GArray               *bt_doctor_state_get_findings (BtDoctorState *self);
/* Still to review: its images are in the project, not excluded, not kept, and for a label
 * issue the image still carries the doubted label. */
gboolean              bt_doctor_state_is_open    (BtDoctorState *self, const BtFinding *f);
/* "Looked at, it is fine": not shown again (saved at once in the project folder). */
void                  bt_doctor_state_set_kept   (BtDoctorState *self, const BtFinding *f, gboolean kept);

/* The project's item behind a report index (NULL when it left the project). */
BtItem               *bt_doctor_state_get_item   (BtDoctorState *self, guint report_item);
/* The class the doctor suggests for path when it suspects its current label (not kept, and
 * the label is still the one the doctor doubted); NULL otherwise. score: 1 − P(label). */
const char           *bt_doctor_state_suspect    (BtDoctorState *self, const char *path, double *score);
/* Open findings of one kind (BT_FINDING_N_KINDS: of every kind). */
guint                 bt_doctor_state_count_open (BtDoctorState *self, BtFindingKind kind);

/* Fixes (relabels, exclusions) made in Review since its last retrain: Retrain is offered when
 * there are some. add: a fix made (+1), undone (−1) or trained on (−all); never below 0. */
guint                 bt_doctor_state_get_n_fixes (BtDoctorState *self);
void                  bt_doctor_state_add_fixes  (BtDoctorState *self, int delta);

G_END_DECLS
