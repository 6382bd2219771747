/* bt-train-page.h: the Train page — runs the trainer, draws live loss and accuracy charts,
 * explains overfitting and divergence, lists completed runs for comparison, exports. */
#pragma once

#include <gtk/gtk.h>

#include "dataset/bt-dataset.h"
#include "training/bt-training.h"
#include "bt-chart.h"
#include "bt-leaderboard.h"

G_BEGIN_DECLS

#define BT_TYPE_TRAIN_PAGE (bt_train_page_get_type ())
G_DECLARE_FINAL_TYPE (BtTrainPage, bt_train_page, BT, TRAIN_PAGE, GtkWidget)

/* Signal "model-saved" (const char *path): a run finished and left a model in models/. */

/* The project the page shows, or NULL for none. A run of another project is stopped. */
void       bt_train_page_set_project       (BtTrainPage *self, BtProject *project);
/* TRUE while a run is preparing, running, paused or stopping (the window asks before closing). */
gboolean   bt_train_page_is_busy           (BtTrainPage *self);
/* The current run's trainer, or NULL. */
BtTrainer *bt_train_page_get_trainer       (BtTrainPage *self);
BtChart   *bt_train_page_get_loss_chart    (BtTrainPage *self);
BtChart   *bt_train_page_get_accuracy_chart (BtTrainPage *self);
/* The text shown under the progress bar when something needs explaining ("" when none). */
const char *bt_train_page_get_advice       (BtTrainPage *self);
/* Completed runs listed (this session's and those found in runs/). */
guint      bt_train_page_get_n_runs        (BtTrainPage *self);
/* Metrics of the current (or last) run as CSV text (g_free). */
char      *bt_train_page_dup_metrics_csv   (BtTrainPage *self);
/* Shows or hides the training and validation curves of the completed run at index (in the
 * order found, oldest first; the runs list shows the newest on top), as its check does. */
void       bt_train_page_set_run_shown     (BtTrainPage *self, guint index, gboolean shown);
/* Draws these search trials' curves (BtTuneTrial*, copied) over the charts, each trial in a
 * colour of its own and named in the legend, replacing the trials drawn before; NULL or an
 * empty array removes them. */
void       bt_train_page_show_trials       (BtTrainPage *self, GPtrArray *trials);
/* Follows a leaderboard's selection: its selected trials are drawn over the charts. */
void       bt_train_page_attach_leaderboard (BtTrainPage *self, BtLeaderboard *leaderboard);

G_END_DECLS
