/* bt-serve-window.h: "Serve This Model…": runs `bottega-cli serve` for a saved model on this
 * computer (127.0.0.1, any free port, a random token) and shows the address to copy or open,
 * with the lines to paste into a terminal or a Python script. Closing the window stops it. */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

/* The window (already shown) serving model_path; parent may be NULL. */
GtkWindow  *bt_serve_window_open        (GtkWindow *parent, const char *model_path);
/* The address with its token once the server answers ("http://127.0.0.1:PORT/?token=…"),
 * NULL before and after it stops. */
const char *bt_serve_window_get_address (GtkWindow *window);
/* The server's token (Authorization: Bearer …). */
const char *bt_serve_window_get_token   (GtkWindow *window);
/* The usage text shown (the curl and Python lines), newly allocated. */
char       *bt_serve_window_get_usage   (GtkWindow *window);
/* TRUE while the server process runs. */
gboolean    bt_serve_window_is_serving  (GtkWindow *window);

G_END_DECLS
