/* bt-leaderboard.h: the hyperparameter search panel — search space and budget, a sortable
 * leaderboard of finished trials, their validation curves, "Use these settings", k-fold. */
#pragma once

#include <gtk/gtk.h>

#include "bt-chart.h"
#include "training/bt-tune.h"

G_BEGIN_DECLS

#define BT_TYPE_LEADERBOARD (bt_leaderboard_get_type ())
G_DECLARE_FINAL_TYPE (BtLeaderboard, bt_leaderboard, BT, LEADERBOARD, GtkWidget)

/* Signals: "trial-added" (int index) after a finished trial became a row (main thread);
 * "search-finished" (const GError *) when a search ended, NULL when its plan was done;
 * "loaded" after the project's latest search was read back from runs/;
 * "trials-selected" when the selection (the trials compared) or the rows changed;
 * "trial-progress" (int index) after the trial in progress's live curve and the status line
 * were updated (at most ten times a second). */
GtkWidget  *bt_leaderboard_new          (void);
void        bt_leaderboard_set_project  (BtLeaderboard *self, BtProject *project);
/* Starts a new search with these options (what the Start button does with the panel's). */
gboolean    bt_leaderboard_start        (BtLeaderboard *self, const BtTuneOptions *opts, GError **error);
/* Continues the unfinished search shown, if any. */
gboolean    bt_leaderboard_resume       (BtLeaderboard *self, GError **error);
void        bt_leaderboard_stop         (BtLeaderboard *self);
/* Pauses or continues the running search (its Pause toggle); a stop ends a paused one too. */
void        bt_leaderboard_set_paused   (BtLeaderboard *self, gboolean paused);
gboolean    bt_leaderboard_is_busy      (BtLeaderboard *self);
/* Rows of BtTuneTrial, in run order (the view sorts a GtkSortListModel over it). */
guint       bt_leaderboard_get_n_trials (BtLeaderboard *self);
const BtTuneTrial *bt_leaderboard_get_trial (BtLeaderboard *self, guint index);
/* The trial at a position of the view, as sorted by its column headers, or NULL. */
const BtTuneTrial *bt_leaderboard_get_shown_trial (BtLeaderboard *self, guint position);
/* Selects only the trial with this run index; "Use these settings" copies the settings of
 * the one selected trial into the project. Several rows can be selected (Ctrl+click) to
 * compare their curves; then "Use these settings" and cross-validation wait for one. */
void        bt_leaderboard_select       (BtLeaderboard *self, guint index);
void        bt_leaderboard_set_selected (BtLeaderboard *self, guint index, gboolean selected,
                                         gboolean exclusive);
/* The selected trials in view order (free the array; the trials are borrowed from the rows). */
GPtrArray  *bt_leaderboard_get_selected_trials (BtLeaderboard *self);
gboolean    bt_leaderboard_use_selected (BtLeaderboard *self, GError **error);
/* The chart of validation curves: the compared trials', and the trial in progress's live
 * per-step training accuracy and per-epoch validation accuracy. */
BtChart    *bt_leaderboard_get_chart    (BtLeaderboard *self);
/* The status line's text. */
const char *bt_leaderboard_get_status   (BtLeaderboard *self);
/* A window holding a leaderboard for the project, transient for parent. */
GtkWindow  *bt_leaderboard_present_window (GtkWindow *parent, BtProject *project);

G_END_DECLS
