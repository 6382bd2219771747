/* bt-trust-panel.h: the Evaluate page's "can I trust its percentages?" row (#23): the
 * reliability diagram before and after temperature scaling with the calibration error in words,
 * and a threshold slider for one class with live precision and recall on its precision–recall
 * curve. Everything is computed from the evaluation's per-image probabilities (no I/O). */
#pragma once

#include <gtk/gtk.h>

#include "training/bt-training.h"

G_BEGIN_DECLS

#define BT_TYPE_TRUST_PANEL (bt_trust_panel_get_type ())
G_DECLARE_FINAL_TYPE (BtTrustPanel, bt_trust_panel, BT, TRUST_PANEL, GtkWidget)

/* Borrows ev until the next call (NULL clears); the page keeps it alive meanwhile. Forgets the
 * model file (call bt_trust_panel_set_model after it). */
void        bt_trust_panel_set_evaluation (BtTrustPanel *self, const BtEvaluation *ev);
/* The model file ev came from and its saved thresholds (ev's n_classes, NAN: none; NULL: none),
 * copied. "Save Threshold into Model" rewrites that file on a worker, then emits
 * "threshold-saved" (the path). */
void        bt_trust_panel_set_model      (BtTrustPanel *self, const char *path, const double *thresholds);
/* Tests and screenshots: the sentence under the diagram, the threshold scale, the class
 * drop-down, the precision/recall line. */
const char *bt_trust_panel_get_calibration_text (BtTrustPanel *self);
GtkRange   *bt_trust_panel_get_threshold  (BtTrustPanel *self);
GtkDropDown *bt_trust_panel_get_class_dropdown (BtTrustPanel *self);
const char *bt_trust_panel_get_scores_text (BtTrustPanel *self);
GtkButton  *bt_trust_panel_get_save_button (BtTrustPanel *self);
const char *bt_trust_panel_get_saved_text  (BtTrustPanel *self);   /* what is saved, or why not */
gboolean    bt_trust_panel_is_saving       (BtTrustPanel *self);

G_END_DECLS
