/* bt-review-window.h: the Review window: the data doctor's findings (likely mislabelled images,
 * near-duplicates, outliers, poor-quality photos) as a list a person works through by keyboard:
 * Enter accepts the suggested class, 1–9 moves to a class, Delete excludes, Space keeps ("it is
 * fine"), arrows move on, Ctrl+Z undoes. Every fix goes through the project's undo stack. After
 * fixes, Retrain (Ctrl+Enter) trains again through the Train page and shows the validation
 * accuracy before → after. */
#pragma once

#include <gtk/gtk.h>

#include "dataset/bt-dataset.h"
#include "bt-doctor-state.h"

G_BEGIN_DECLS

#define BT_TYPE_REVIEW_WINDOW (bt_review_window_get_type ())
G_DECLARE_FINAL_TYPE (BtReviewWindow, bt_review_window, BT, REVIEW_WINDOW, GtkWindow)

/* The project's Review window over parent, made (and the doctor started when it has no report
 * yet) the first time, presented again afterwards. */
BtReviewWindow *bt_review_window_present    (GtkWindow *parent, BtProject *project);
/* What the window shows, for tests. */
BtFindingKind   bt_review_window_get_kind   (BtReviewWindow *self);
void            bt_review_window_set_kind   (BtReviewWindow *self, BtFindingKind kind);
guint           bt_review_window_get_n_shown (BtReviewWindow *self);
/* The finding shown large (borrowed), or NULL. */
const BtFinding *bt_review_window_get_current (BtReviewWindow *self);
/* What Retrain says (borrowed): its progress, or the validation accuracy before → after. */
const char      *bt_review_window_get_retrain_text (BtReviewWindow *self);

G_END_DECLS
