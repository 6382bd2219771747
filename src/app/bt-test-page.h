/* bt-test-page.h: the Test page of the main window. */
#pragma once

#include <gtk/gtk.h>

#include "dataset/bt-dataset.h"

G_BEGIN_DECLS

#define BT_TYPE_TEST_PAGE (bt_test_page_get_type ())
G_DECLARE_FINAL_TYPE (BtTestPage, bt_test_page, BT, TEST_PAGE, GtkWidget)

/* The project the page shows, or NULL for none. */
void bt_test_page_set_project (BtTestPage *self, BtProject *project);

G_END_DECLS
