/* bt-evaluate-page.h: the Evaluate page — accuracy and loss on held-out images, per-class
 * precision/recall/F1, a confusion matrix, and a gallery of a cell's images to fix labels (with
 * their heat maps on request). */
#pragma once

#include <gtk/gtk.h>

#include "dataset/bt-dataset.h"
#include "training/bt-explain.h"
#include "training/bt-training.h"
#include "bt-confusion-matrix.h"

G_BEGIN_DECLS

#define BT_TYPE_EVALUATE_PAGE (bt_evaluate_page_get_type ())
G_DECLARE_FINAL_TYPE (BtEvaluatePage, bt_evaluate_page, BT, EVALUATE_PAGE, GtkWidget)

/* Signal "evaluated": an evaluation finished (or failed: get_evaluation returns NULL). */

void                bt_evaluate_page_set_project     (BtEvaluatePage *self, BtProject *project);
/* Re-reads models/ and evaluates the newest model. */
void                bt_evaluate_page_reload_models   (BtEvaluatePage *self);
/* Starts evaluating the chosen model on the chosen split in a worker. */
void                bt_evaluate_page_evaluate        (BtEvaluatePage *self);
const BtEvaluation *bt_evaluate_page_get_evaluation  (BtEvaluatePage *self);
/* TRUE while models are being listed or evaluated: the evaluation may still be replaced. */
gboolean            bt_evaluate_page_is_busy         (BtEvaluatePage *self);
BtConfusionMatrix  *bt_evaluate_page_get_matrix      (BtEvaluatePage *self);
/* Fills the gallery with the images of one cell (what clicking the matrix does). */
void                bt_evaluate_page_show_cell       (BtEvaluatePage *self, int true_class, int pred_class);
guint               bt_evaluate_page_get_gallery_size (BtEvaluatePage *self);
/* The evaluated image at a gallery position (borrowed), or NULL. */
const BtMistake    *bt_evaluate_page_get_gallery_item (BtEvaluatePage *self, guint i);
/* Moves one image to another class / excludes it (what the gallery's buttons do). */
gboolean            bt_evaluate_page_relabel         (BtEvaluatePage *self, const char *path,
                                                      const char *class_name, GError **error);
gboolean            bt_evaluate_page_exclude         (BtEvaluatePage *self, const char *path, GError **error);
/* "Show Heat Maps": the map of gallery image i for its predicted class (NULL while it is computed,
 * or when off), heat jobs in flight (model load included) and maps computed so far (tests). */
GtkCheckButton     *bt_evaluate_page_get_heat_toggle (BtEvaluatePage *self);
const BtHeatmap    *bt_evaluate_page_get_heat_map    (BtEvaluatePage *self, guint i);
guint               bt_evaluate_page_get_n_heat_jobs (BtEvaluatePage *self);
guint               bt_evaluate_page_get_n_heat_computed (BtEvaluatePage *self);

G_END_DECLS
