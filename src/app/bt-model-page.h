/* bt-model-page.h: the Model page — preset cards, input size and colour with a preview, advanced settings. */
#pragma once

#include <gtk/gtk.h>

#include "dataset/bt-dataset.h"

G_BEGIN_DECLS

#define BT_TYPE_MODEL_PAGE (bt_model_page_get_type ())
G_DECLARE_FINAL_TYPE (BtModelPage, bt_model_page, BT, MODEL_PAGE, GtkWidget)

/* The project the page shows, or NULL for none. */
void bt_model_page_set_project (BtModelPage *self, BtProject *project);

G_END_DECLS
