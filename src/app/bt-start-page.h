/* bt-start-page.h: what the window shows with no project open: drop folders to start,
 * New, Open, the sample, and the recent projects (GtkRecentManager). */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define BT_TYPE_START_PAGE (bt_start_page_get_type ())
G_DECLARE_FINAL_TYPE (BtStartPage, bt_start_page, BT, START_PAGE, GtkWidget)

/* Recent project folders, newest first, at most max (transfer full, GFile). */
GList *bt_start_page_list_recent     (guint max);
/* Remembers folder as a recent Bottega project. */
void   bt_start_page_add_recent      (GFile *folder);
guint  bt_start_page_get_n_recent    (BtStartPage *self);

G_END_DECLS
