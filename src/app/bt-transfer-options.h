/* bt-transfer-options.h: the transfer-learning options under the Model page's preset cards:
 * which backbone file (the "backbone-file" preference, checked on a worker), the head's hidden
 * layer and whether the saved model holds the whole network. */
#pragma once

#include <gtk/gtk.h>

#include "bt-backbone-list.h"
#include "dataset/bt-dataset.h"

G_BEGIN_DECLS

#define BT_TYPE_TRANSFER_OPTIONS (bt_transfer_options_get_type ())
G_DECLARE_FINAL_TYPE (BtTransferOptions, bt_transfer_options, BT, TRANSFER_OPTIONS, GtkWidget)

/* Signal "backbone-changed": the backbone the preset would use changed (chosen or cleared). */
GtkWidget  *bt_transfer_options_new          (void);
void        bt_transfer_options_set_project  (BtTransferOptions *self, BtProject *project);
/* What picking a file in the chooser does: checks it on a worker, then keeps it as the
 * preference, or says why it cannot be used. */
void        bt_transfer_options_choose_file  (BtTransferOptions *self, GFile *file);
/* Forgets the chosen file: the preset goes back to the search path. */
void        bt_transfer_options_clear_file   (BtTransferOptions *self);
/* TRUE while a chosen file is being checked. */
gboolean    bt_transfer_options_is_busy      (BtTransferOptions *self);
/* The chosen backbone once checked: its title (file name without extension), embedding length
 * and input size; NULL and 0 while the default MobileNet V2 is used or before the check. */
void        bt_transfer_options_get_backbone (BtTransferOptions *self, const char **title, int *dim,
                                              int *input_size);
/* The catalogue's rows (download, use, compare). */
BtBackboneList *bt_transfer_options_get_list (BtTransferOptions *self);
/* The line that says what the automatic recipe chose and why (or what it will do). */
const char *bt_transfer_options_get_recipe_text (BtTransferOptions *self);
/* The line that says which backbone is used, or why none is. */
const char *bt_transfer_options_get_status   (BtTransferOptions *self);

G_END_DECLS
