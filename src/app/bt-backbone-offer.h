/* bt-backbone-offer.h: "This model needs backbone X, which is not on this computer" with a
 * Download button for exactly that backbone (progress, Cancel), where a model is opened. */
#pragma once

#include <gtk/gtk.h>

#include "training/bt-backbones.h"

G_BEGIN_DECLS

#define BT_TYPE_BACKBONE_OFFER (bt_backbone_offer_get_type ())
G_DECLARE_FINAL_TYPE (BtBackboneOffer, bt_backbone_offer, BT, BACKBONE_OFFER, GtkWidget)

/* Signal "installed": the download finished and the file is in place. info NULL: a backbone
 * the catalogue does not know (name and sha256 from the model): no download, only what to do. */
GtkWidget  *bt_backbone_offer_new         (const BtBackboneInfo *info, const char *name, const char *sha256);
GtkWidget  *bt_backbone_offer_get_button  (BtBackboneOffer *self);
const char *bt_backbone_offer_get_text    (BtBackboneOffer *self);
gboolean    bt_backbone_offer_is_busy     (BtBackboneOffer *self);

G_END_DECLS
