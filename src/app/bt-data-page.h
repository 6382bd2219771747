/* bt-data-page.h: the Data page of the main window. */
#pragma once

#include <gtk/gtk.h>

#include "dataset/bt-dataset.h"

G_BEGIN_DECLS

#define BT_TYPE_DATA_PAGE (bt_data_page_get_type ())
G_DECLARE_FINAL_TYPE (BtDataPage, bt_data_page, BT, DATA_PAGE, GtkWidget)

/* The project the page shows, or NULL for none. */
void bt_data_page_set_project (BtDataPage *self, BtProject *project);

G_END_DECLS
