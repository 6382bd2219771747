/* bt-model-list.h: the "Models" popover of the Evaluate and Test pages: every saved model with
 * its accuracy, date and whether the data changed since, to pin, rename or delete. */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define BT_TYPE_MODEL_LIST (bt_model_list_get_type ())
G_DECLARE_FINAL_TYPE (BtModelList, bt_model_list, BT, MODEL_LIST, GtkPopover)

/* Signal "changed": a model was pinned, renamed or deleted (the page lists the models again).
 * Signal "error" (const char *message): an edit failed. */
GtkWidget *bt_model_list_new      (void);
/* infos: GPtrArray of BtModelInfo* (borrowed; copied). */
void       bt_model_list_set_infos (BtModelList *self, GPtrArray *infos);

/* Gives a model drop-down labels that shorten with "…" (the list shows the whole names), so
 * a long model name never widens the page. */
void       bt_model_list_setup_dropdown (GtkDropDown *dropdown);

G_END_DECLS
