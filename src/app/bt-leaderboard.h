/* bt-leaderboard.h: the hyperparameter search panel — search space and budget, a sortable
 * leaderboard of finished trials, their validation curves, "Use these settings", k-fold. */
#pragma once

#include <gtk/gtk.h>

#include "training/bt-tune.h"

G_BEGIN_DECLS

#define BT_TYPE_LEADERBOARD (bt_leaderboard_get_type ())
G_DECLARE_FINAL_TYPE (BtLeaderboard, bt_leaderboard, BT, LEADERBOARD, GtkWidget)

/* Signals: "trial-added" (int index) after a finished trial became a row (main thread);
 * "search-finished" (const GError *) when a search ended, NULL when its plan was done;
 * "loaded" after the project's latest search was read back from runs/. */
GtkWidget  *bt_leaderboard_new          (void);
void        bt_leaderboard_set_project  (BtLeaderboard *self, BtProject *project);
/* Starts a new search with these options (what the Start button does with the panel's). */
gboolean    bt_leaderboard_start        (BtLeaderboard *self, const BtTuneOptions *opts, GError **error);
/* Continues the unfinished search shown, if any. */
gboolean    bt_leaderboard_resume       (BtLeaderboard *self, GError **error);
void        bt_leaderboard_stop         (BtLeaderboard *self);
gboolean    bt_leaderboard_is_busy      (BtLeaderboard *self);
/* Rows of BtTuneTrial, in run order (the view sorts a GtkSortListModel over it). */
guint       bt_leaderboard_get_n_trials (BtLeaderboard *self);
const BtTuneTrial *bt_leaderboard_get_trial (BtLeaderboard *self, guint index);
/* The trial at a position of the view, as sorted by its column headers, or NULL. */
const BtTuneTrial *bt_leaderboard_get_shown_trial (BtLeaderboard *self, guint position);
/* Selects a trial by run index and copies its settings into the project ("Use these settings"). */
void        bt_leaderboard_select       (BtLeaderboard *self, guint index);
gboolean    bt_leaderboard_use_selected (BtLeaderboard *self, GError **error);
/* A window holding a leaderboard for the project, transient for parent. */
GtkWindow  *bt_leaderboard_present_window (GtkWindow *parent, BtProject *project);

G_END_DECLS
