/* bt-train-page.h: the Train page of the main window. */
#pragma once

#include <gtk/gtk.h>

#include "dataset/bt-dataset.h"

G_BEGIN_DECLS

#define BT_TYPE_TRAIN_PAGE (bt_train_page_get_type ())
G_DECLARE_FINAL_TYPE (BtTrainPage, bt_train_page, BT, TRAIN_PAGE, GtkWidget)

/* The project the page shows, or NULL for none. */
void bt_train_page_set_project (BtTrainPage *self, BtProject *project);

G_END_DECLS
