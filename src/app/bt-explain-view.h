/* bt-explain-view.h: "what the model looked at" on the Test page (#23).
 * BtHeatOverlay draws a heat map over the image (a GtkOverlay child above the GtkPicture, fitted
 * the way the picture fits its image); BtExplainBar is the row that controls it (show/hide,
 * opacity, which class) and computes the map on the model runner. */
#pragma once

#include <gtk/gtk.h>

#include "bt-model-files.h"
#include "bt-probability-bars.h"
#include "dataset/bt-dataset.h"
#include "training/bt-explain.h"

G_BEGIN_DECLS

#define BT_TYPE_HEAT_OVERLAY (bt_heat_overlay_get_type ())
G_DECLARE_FINAL_TYPE (BtHeatOverlay, bt_heat_overlay, BT, HEAT_OVERLAY, GtkWidget)

/* Takes a copy; NULL clears. */
void        bt_heat_overlay_set_map     (BtHeatOverlay *self, const BtHeatmap *map);
void        bt_heat_overlay_set_opacity (BtHeatOverlay *self, double opacity);
gboolean    bt_heat_overlay_has_map     (BtHeatOverlay *self);
double      bt_heat_overlay_get_opacity (BtHeatOverlay *self);

#define BT_TYPE_EXPLAIN_BAR (bt_explain_bar_get_type ())
G_DECLARE_FINAL_TYPE (BtExplainBar, bt_explain_bar, BT, EXPLAIN_BAR, GtkWidget)

/* The overlay it drives, and the probability bars whose rows choose the class when clicked. */
void        bt_explain_bar_attach       (BtExplainBar *self, BtHeatOverlay *overlay, BtProbabilityBars *bars);
/* The image on show: a file (path) or a decoded image (copied; a pasted or camera image), the
 * model that classified it and its answer. model NULL (or neither path nor image) clears. A map
 * is computed when the toggle is on. */
void        bt_explain_bar_set_subject  (BtExplainBar *self, BtSharedModel *model, const char *path,
                                         const BtImage *image, int predicted_class);
/* Tests: the switch, the opacity scale, the class chosen, the line that says what is shown, and
 * whether a map is being computed. */
GtkWidget  *bt_explain_bar_get_toggle   (BtExplainBar *self);
GtkRange   *bt_explain_bar_get_opacity  (BtExplainBar *self);
GtkDropDown *bt_explain_bar_get_method  (BtExplainBar *self);   /* 0 occlusion, 1 Grad-CAM */
int         bt_explain_bar_get_class    (BtExplainBar *self);
const char *bt_explain_bar_get_status   (BtExplainBar *self);
gboolean    bt_explain_bar_is_busy      (BtExplainBar *self);
/* The last map shown (NULL before any or while hidden). */
const BtHeatmap *bt_explain_bar_get_map (BtExplainBar *self);

G_END_DECLS
