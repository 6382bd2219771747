/* bt-backbone-list.h: the catalogue's backbones on the transfer card: installed or not, size,
 * speed on this computer, published accuracy; Download with progress and Cancel for a missing
 * one; Use for an installed one; Compare Backbones. The work is in training/bt-backbones.c. */
#pragma once

#include <gtk/gtk.h>

#include "dataset/bt-dataset.h"
#include "training/bt-backbones.h"

G_BEGIN_DECLS

#define BT_TYPE_BACKBONE_LIST (bt_backbone_list_get_type ())
G_DECLARE_FINAL_TYPE (BtBackboneList, bt_backbone_list, BT, BACKBONE_LIST, GtkWidget)

/* Signals: "installed" (a check or a download found files installed: the card may change),
 * "download-done" (const BtBackboneInfo *info, gboolean ok): a download ended, either way,
 * "use" (const char *path, const BtBackboneInfo *info): the person picked an installed one. */
GtkWidget  *bt_backbone_list_new            (void);
void        bt_backbone_list_set_project    (BtBackboneList *self, BtProject *project);
/* Checks which files are installed (sha256, on a worker) and shows it. */
void        bt_backbone_list_refresh        (BtBackboneList *self);
/* The row of info shows it is the one in use. */
void        bt_backbone_list_set_current    (BtBackboneList *self, const BtBackboneInfo *info);
/* Starts the download of info, as its Download button does. */
void        bt_backbone_list_download       (BtBackboneList *self, const BtBackboneInfo *info);
/* For tests: TRUE while checking, measuring, downloading or comparing. */
gboolean    bt_backbone_list_is_busy        (BtBackboneList *self);
/* The row's Download button of info (NULL when none), and the last message shown. */
GtkWidget  *bt_backbone_list_get_download_button (BtBackboneList *self, const BtBackboneInfo *info);
const char *bt_backbone_list_get_message    (BtBackboneList *self, const BtBackboneInfo *info);
/* Whether info was found installed with the right sha256 at the last check. */
gboolean    bt_backbone_list_is_installed   (BtBackboneList *self, const BtBackboneInfo *info);
/* Opens the comparison window (as the Compare Backbones button does); returns it. */
GtkWidget  *bt_backbone_list_compare        (BtBackboneList *self);

G_END_DECLS
