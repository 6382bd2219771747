/* bt-live-test.h: the Test page's live mode: camera frames classified one after another on the
 * model runner (the newest frame each time the previous answer came back), the page's picture
 * and probability bars updated on the main thread. */
#pragma once

#include <gtk/gtk.h>

#include "bt-model-files.h"
#include "bt-probability-bars.h"

G_BEGIN_DECLS

#define BT_TYPE_LIVE_TEST (bt_live_test_get_type ())
G_DECLARE_FINAL_TYPE (BtLiveTest, bt_live_test, BT, LIVE_TEST, GObject)

/* The widgets it updates (borrowed; they belong to the Test page, which owns this object). */
BtLiveTest *bt_live_test_new        (GtkPicture *picture, BtProbabilityBars *bars, GtkLabel *verdict,
                                     GtkLabel *status, GtkButton *button);
/* Starts (looking for the camera first) with model, or stops when running. */
void        bt_live_test_toggle     (BtLiveTest *self, BtSharedModel *model);
void        bt_live_test_stop       (BtLiveTest *self);
gboolean    bt_live_test_is_running (BtLiveTest *self);
guint       bt_live_test_get_n_updates (BtLiveTest *self);  /* answers shown since the start */

G_END_DECLS
