/* bt-data-page-private.h: BtDataPage's instance struct, shared by bt-data-page.c (models,
 * classes, status), bt-data-page-dnd.c (drops and imports) and bt-data-page-actions.c. */
#pragma once

#include "bt-data-page.h"
#include "bt-import.h"
#include "bt-thumbnailer.h"

G_BEGIN_DECLS

typedef enum {
  BT_DATA_FILTER_ALL,
  BT_DATA_FILTER_TRAIN,
  BT_DATA_FILTER_VAL,
  BT_DATA_FILTER_TEST,
  BT_DATA_FILTER_EXCLUDED,
  BT_DATA_FILTER_MISSING,
  BT_DATA_FILTER_DUPLICATE,
} BtDataFilter;

/* The progress of the running import, identified by this box: the data layer delivers it on the
 * main context already throttled (BtThrottle), so the page only shows it. */
typedef struct {
  GWeakRef page;
} BtScanProgressState;

/* change_hint: the next "changed" only appended items (an import chunk): nothing to refilter. */
#define BT_DATA_PAGE_CHANGE_APPENDED (-2)

typedef void (*BtLaunchUriFunc) (BtDataPage *page, const char *uri, gpointer data);

struct _BtDataPage
{
  GtkWidget parent_instance;

  /* Template widgets */
  GtkWidget          *overlay;
  GtkRevealer        *toast_revealer;
  GtkLabel           *toast_label;
  GtkButton          *toast_button;
  GtkRevealer        *confirm_revealer;
  GtkLabel           *confirm_label;
  GtkListView        *class_list;
  GtkMenuButton      *class_menu_button;
  GtkSearchEntry     *search_entry;
  GtkDropDown        *filter_dropdown;
  GtkStack           *grid_stack;
  GtkLabel           *empty_title;
  GtkLabel           *empty_label;
  GtkGridView        *grid_view;
  GtkLabel           *status_label;
  GtkMenuButton      *split_button;
  GtkSpinButton      *split_train_spin;
  GtkSpinButton      *split_val_spin;
  GtkSpinButton      *split_test_spin;
  GtkButton          *skipped_button;
  GtkButton          *issues_button;
  GtkLabel           *issues_label;
  GtkWidget          *progress_box;
  GtkLabel           *progress_label;
  GtkProgressBar     *progress_bar;
  GtkButton          *camera_button;

  /* Owned */
  BtProject          *project;
  gulong              project_changed_id;
  GListStore         *all_store;        /* the one "All images" sentinel */
  GListStore         *class_sources;    /* [all_store, project classes] */
  GtkSingleSelection *class_selection;
  GtkCustomFilter    *item_filter;
  GtkFilterListModel *item_filter_model;
  GtkMultiSelection  *item_selection;
  BtThumbnailer      *thumbnailer;
  GHashTable         *class_rows;       /* BtClassRow* set, the bound rows */
  GtkWidget          *item_menu;        /* GtkPopoverMenu */
  GMenu              *move_to_menu;
  char               *selected_class;   /* NULL: all images */
  char               *search_casefold;
  BtDataFilter        filter;
  guint               status_idle;
  guint               columns_idle;
  /* The status counts run in slices (a big project would stall one frame otherwise). */
  guint               status_pos, status_n;
  gboolean            status_appends_only;
  guint               status_counts[BT_N_SPLITS + 3]; /* splits, excluded, missing, duplicate */
  char               *status_text;
  int                 change_hint;      /* GtkFilterChange, -1, or BT_DATA_PAGE_CHANGE_APPENDED */
  guint               toast_timeout;
  char               *toast_action;     /* detailed action of the toast's button */
  /* Imports */
  GCancellable       *import_cancellable;
  BtImportPlan       *pending_plan;     /* waits for confirmation */
  gboolean            busy;
  BtScanProgressState *progress;
  GPtrArray          *skipped_paths;    /* char* */
  /* How Open and the Show in Files fallback open a URI (NULL: the desktop's default app). */
  BtLaunchUriFunc     launch_uri_func;
  gpointer            launch_uri_data;
  GPtrArray          *skipped_reasons;  /* char*, translated */
  guint               n_duplicates;
  guint               n_conflicts;
  GCancellable       *camera_search;    /* looking for a camera (Camera button) */
};

/* bt-data-page.c */
void     _bt_data_page_show_toast       (BtDataPage *self,
                                         const char *message,
                                         const char *button_label,
                                         const char *detailed_action);
void     _bt_data_page_queue_status     (BtDataPage *self);
void     _bt_data_page_queue_status_appended (BtDataPage *self);
/* A seam for tests: func gets every URI the page would open, and nothing is launched. */
void     _bt_data_page_set_launch_uri   (BtDataPage *self, BtLaunchUriFunc func, gpointer data);
/* What the Import CSV file chooser answered (files NULL or empty: nothing chosen, error says why). */
void     _bt_data_page_import_chosen_csv (BtDataPage *self, GListModel *files, const GError *error);
void     _bt_data_page_refilter         (BtDataPage     *self,
                                         GtkFilterChange change);
/* Says how the next project change affects what the grid shows (our own edits only hide
 * items, so the filter re-checks just the shown ones instead of starting over). */
void     _bt_data_page_hint_change      (BtDataPage     *self,
                                         int             change);
/* Takes the project's items out of the grid for a bulk change, and puts them back. */
void     _bt_data_page_detach_items     (BtDataPage *self);
void     _bt_data_page_attach_items     (BtDataPage *self);
void     _bt_data_page_set_busy         (BtDataPage *self,
                                         gboolean    busy);
void     _bt_data_page_show_error       (BtDataPage *self,
                                         const char *what,
                                         const GError *error);
/* The selected items of the grid; with extra (may be NULL) when it is not selected:
 * just extra. */
GPtrArray *_bt_data_page_get_selected_items (BtDataPage *self,
                                             BtItem     *extra);
void     _bt_data_page_update_actions   (BtDataPage *self);

/* bt-data-page-dnd.c */
void     _bt_data_page_dnd_init         (BtDataPage *self);
/* Drops of images and files on a class row, and class rows dragged to another place. */
void     _bt_data_page_setup_row_dnd    (BtDataPage *self,
                                         GtkWidget  *row);
/* Moves class_name before or after the class onto (NULL: the "All images" row, so first). */
gboolean _bt_data_page_drop_class       (BtDataPage *self,
                                         const char *class_name,
                                         const char *onto,
                                         gboolean    after);
void     _bt_data_page_setup_cell_drag  (BtDataPage *self,
                                         GtkWidget  *cell,
                                         GtkListItem *list_item);
void     _bt_data_page_confirm_import   (BtDataPage *self,
                                         gboolean    accept);
void     _bt_data_page_cancel_import    (BtDataPage *self);
void     _bt_data_page_show_skipped     (BtDataPage *self);

/* bt-data-page-photos.c: paste, a web browser's drops, camera shots */
void     _bt_data_page_photos_class_init (GtkWidgetClass *widget_class);
gboolean _bt_data_page_take_web_files   (BtDataPage *self,
                                         GSList     *files,
                                         const char *class_name);
void     _bt_data_page_take_texture     (BtDataPage *self,
                                         GdkTexture *texture,
                                         const char *class_name);

/* bt-data-page-actions.c */
void     _bt_data_page_class_actions_init (GtkWidgetClass *widget_class);
void     _bt_data_page_popup_item_menu  (BtDataPage *self,
                                         GtkWidget  *widget,
                                         double      x,
                                         double      y);
void     _bt_data_page_rebuild_move_menu (BtDataPage *self);
void     _bt_data_page_preview_item     (BtDataPage *self,
                                         BtItem     *item);

G_END_DECLS
