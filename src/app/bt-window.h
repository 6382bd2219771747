/* bt-window.h: Bottega's main window: header bar with the page switcher and the primary
 * menu, and the five pages Data, Model, Train, Evaluate, Test. */
#pragma once

#include <gtk/gtk.h>

#include "dataset/bt-dataset.h"
#include "bt-train-page.h"

G_BEGIN_DECLS

#define BT_TYPE_WINDOW (bt_window_get_type ())
G_DECLARE_FINAL_TYPE (BtWindow, bt_window, BT, WINDOW, GtkApplicationWindow)

BtWindow  *bt_window_new         (GtkApplication *application);
/* Shows project (or the welcome view for NULL) in every page and in the title. */
void       bt_window_set_project (BtWindow       *self,
                                  BtProject      *project);
BtProject *bt_window_get_project (BtWindow       *self);
/* "data", "model", "train", "evaluate" or "test". */
const char *bt_window_get_page   (BtWindow       *self);
void        bt_window_set_page   (BtWindow       *self,
                                  const char     *page);
/* Opens the project folder on a worker; errors go to a dialog. */
void       bt_window_open_folder (BtWindow       *self,
                                  GFile          *folder);
/* Opens the built-in Shapes sample, creating it in the user's data folder the first time. */
void       bt_window_open_sample (BtWindow       *self);
/* The Train page (borrowed): other windows start runs through it (Review's Retrain). */
BtTrainPage *bt_window_get_train_page (BtWindow *self);
/* A short message at the top of the window that goes away by itself. */
void       bt_window_notify      (BtWindow       *self,
                                  const char     *message);

G_END_DECLS
