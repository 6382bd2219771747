/* bt-evaluate-page.h: the Evaluate page of the main window. */
#pragma once

#include <gtk/gtk.h>

#include "dataset/bt-dataset.h"

G_BEGIN_DECLS

#define BT_TYPE_EVALUATE_PAGE (bt_evaluate_page_get_type ())
G_DECLARE_FINAL_TYPE (BtEvaluatePage, bt_evaluate_page, BT, EVALUATE_PAGE, GtkWidget)

/* The project the page shows, or NULL for none. */
void bt_evaluate_page_set_project (BtEvaluatePage *self, BtProject *project);

G_END_DECLS
