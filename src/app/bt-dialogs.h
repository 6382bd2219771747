/* bt-dialogs.h: the one place that shows file choosers and message dialogs, so the
 * GTK 4.8 calls (GtkFileChooserNative, GtkMessageDialog) and the newer ones stay together. */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

/* All choosers finish with a G_IO_ERROR_CANCELLED error when the person dismisses them. */
void    bt_dialogs_choose_folder_async  (GtkWindow           *parent,
                                         const char          *title,
                                         const char          *accept_label,
                                         GCancellable        *cancellable,
                                         GAsyncReadyCallback  callback,
                                         gpointer             user_data);
GFile  *bt_dialogs_choose_folder_finish (GAsyncResult        *result,
                                         GError             **error);

/* filter may be NULL (any file). With select_multiple the result holds one or more
 * files; otherwise exactly one. */
void        bt_dialogs_open_files_async  (GtkWindow           *parent,
                                          const char          *title,
                                          GtkFileFilter       *filter,
                                          gboolean             select_multiple,
                                          GCancellable        *cancellable,
                                          GAsyncReadyCallback  callback,
                                          gpointer             user_data);
GListModel *bt_dialogs_open_files_finish (GAsyncResult        *result,
                                          GError             **error);

void    bt_dialogs_save_file_async  (GtkWindow           *parent,
                                     const char          *title,
                                     const char          *initial_name,
                                     GCancellable        *cancellable,
                                     GAsyncReadyCallback  callback,
                                     gpointer             user_data);
GFile  *bt_dialogs_save_file_finish (GAsyncResult        *result,
                                     GError             **error);

/* A file filter that accepts the image formats the data layer decodes. */
GtkFileFilter *bt_dialogs_image_filter_new (void);

/* Modal error: heading plus error->message. Does nothing for G_IO_ERROR_CANCELLED. */
void    bt_dialogs_show_error   (GtkWindow    *parent,
                                 const char   *heading,
                                 const GError *error);
/* Modal information with an OK button. body may be NULL. */
void    bt_dialogs_show_message (GtkWindow  *parent,
                                 const char *heading,
                                 const char *body);

/* Escape closes window, as it closes every dialog (a plain GtkWindow has no such key). */
void     bt_dialogs_close_on_escape (GtkWindow *window);

/* Asks a yes/no question; finishes TRUE when the person accepted. */
void     bt_dialogs_confirm_async  (GtkWindow           *parent,
                                    const char          *heading,
                                    const char          *body,
                                    const char          *accept_label,
                                    gboolean             destructive,
                                    GCancellable        *cancellable,
                                    GAsyncReadyCallback  callback,
                                    gpointer             user_data);
gboolean bt_dialogs_confirm_finish (GAsyncResult        *result,
                                    GError             **error);

G_END_DECLS
