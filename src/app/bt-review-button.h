/* bt-review-button.h: the "Review" button of the Data and Evaluate pages: opens the project's
 * Review window and carries the doctor's badge ("Review · 37"). It finds the project through the
 * BtWindow it is in, so a page only places it in its .ui file. */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define BT_TYPE_REVIEW_BUTTON (bt_review_button_get_type ())
G_DECLARE_FINAL_TYPE (BtReviewButton, bt_review_button, BT, REVIEW_BUTTON, GtkButton)

GtkWidget *bt_review_button_new (void);

G_END_DECLS
