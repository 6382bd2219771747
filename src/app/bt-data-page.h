/* bt-data-page.h: the Data page of the main window: classes, thumbnails, drops, labelling. */
#pragma once

#include <gtk/gtk.h>

#include "dataset/bt-dataset.h"

G_BEGIN_DECLS

#define BT_TYPE_DATA_PAGE (bt_data_page_get_type ())
G_DECLARE_FINAL_TYPE (BtDataPage, bt_data_page, BT, DATA_PAGE, GtkWidget)

/* The project the page shows, or NULL for none. */
void        bt_data_page_set_project      (BtDataPage  *self,
                                           BtProject   *project);
BtProject  *bt_data_page_get_project      (BtDataPage  *self);

/* Imports dropped or chosen paths: into class_name when set, else folders become classes.
 * Runs on workers; "busy" is TRUE until it ends, then "import-finished" is emitted. */
void        bt_data_page_import_paths     (BtDataPage         *self,
                                           const char * const *paths,
                                           const char         *class_name);
/* The same for the files of a drop (GdkFileList's list). */
void        bt_data_page_import_files     (BtDataPage  *self,
                                           GSList      *files,
                                           const char  *class_name);
/* Imports a labels CSV (a header with path and class columns): rows reach the grid as they are
 * applied; progress and Cancel as for the other imports. */
void        bt_data_page_import_csv       (BtDataPage  *self,
                                           const char  *csv_path);
gboolean    bt_data_page_get_busy         (BtDataPage  *self);
/* TRUE while a folder-of-folders import waits for the person to confirm (data.confirm-import). */
gboolean    bt_data_page_get_confirming   (BtDataPage  *self);

/* NULL selects "All images". */
void        bt_data_page_select_class     (BtDataPage  *self,
                                           const char  *class_name);
/* What the grid shows (after class, search and filter), and its selection. */
GtkSelectionModel *bt_data_page_get_selection (BtDataPage *self);
/* Files skipped by the imports of this session: paths and translated reasons. */
guint       bt_data_page_get_n_skipped    (BtDataPage  *self);
const char *bt_data_page_get_skipped_path (BtDataPage  *self,
                                           guint        index);
/* The text of the in-page notification ("" when none is shown). */
const char *bt_data_page_get_notification (BtDataPage  *self);
/* The status line (totals, per-split counts). */
const char *bt_data_page_get_status_text  (BtDataPage  *self);

G_END_DECLS
