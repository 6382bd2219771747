/* bt-model-page.h: the Model page — preset cards, input size and colour with a preview, advanced settings. */
#pragma once

#include <gtk/gtk.h>

#include "dataset/bt-dataset.h"
#include "engine/bt-engine.h"
#include "bt-transfer-options.h"

G_BEGIN_DECLS

/* The augmentation toggles, each with its own row of previews. */
typedef enum {
  BT_MODEL_PAGE_AUGMENT_FLIP,
  BT_MODEL_PAGE_AUGMENT_CROP,
  BT_MODEL_PAGE_AUGMENT_ROTATE,
  BT_MODEL_PAGE_AUGMENT_COLOR,
  BT_MODEL_PAGE_N_AUGMENTS
} BtModelPageAugment;

#define BT_TYPE_MODEL_PAGE (bt_model_page_get_type ())
G_DECLARE_FINAL_TYPE (BtModelPage, bt_model_page, BT, MODEL_PAGE, GtkWidget)

/* The project the page shows, or NULL for none. */
void bt_model_page_set_project (BtModelPage *self, BtProject *project);

/* What clicking a preset card does: the preset with its default input size and colour. */
void          bt_model_page_select_preset      (BtModelPage *self, BtPreset preset);
/* A card's size and time text ("… parameters · about … per epoch"), g_free. */
char         *bt_model_page_dup_card_text      (BtModelPage *self, BtPreset preset);
/* TRUE while the estimates or the preview are being computed in a worker. */
gboolean      bt_model_page_is_busy            (BtModelPage *self);
/* The preprocessed samples on show (what the network sees), borrowed. */
guint         bt_model_page_get_n_previews     (BtModelPage *self);
GdkPaintable *bt_model_page_get_preview        (BtModelPage *self, guint i);
/* Beside an augmentation toggle: sample i (the same sample as preview i) with that augmentation
 * applied by the trainer's batcher when the toggle is on, as it is when off; borrowed. */
GdkPaintable *bt_model_page_get_augment_preview (BtModelPage *self, BtModelPageAugment kind, guint i);

/* The spin button that edits a settings row (key as in bt_settings_find), or NULL: its
 * adjustment's bounds and steps are the row's. */
GtkSpinButton     *bt_model_page_get_setting_spin (BtModelPage *self, const char *key);

/* The transfer preset's card (insensitive without a backbone), the text on it, and its options. */
GtkWidget         *bt_model_page_get_transfer_card    (BtModelPage *self);
const char        *bt_model_page_get_transfer_advice  (BtModelPage *self);
BtTransferOptions *bt_model_page_get_transfer_options (BtModelPage *self);

/* The recommended preset and the line that says why (empty without a project). */
const char *bt_model_page_get_recommendation (BtModelPage *self, BtPreset *preset);
/* The Download beside the recommendation when its backbone is missing, else NULL. */
GtkWidget  *bt_model_page_get_recommended_download (BtModelPage *self);

G_END_DECLS
