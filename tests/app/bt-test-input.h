/* bt-test-input.h: drive a window as a person does. Keys and clicks go through the X server
 * (XTest under Xvfb), so they reach GTK through GDK exactly as real ones do: a key lands in the
 * focused widget and runs its shortcuts, a click lands on whatever is drawn at that point (an
 * insensitive, hidden or covered button does not fire). Drops go through the widget's real
 * GtkDropTarget with data read from a GdkContentProvider. Each call returns once GTK has handled
 * the events; it fails the test (never skips) when the display cannot do this. */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

/* Presents window and gives it the keyboard focus. */
void       bt_test_focus_window (GtkWindow *window);
/* Presses and releases keyval with mods held, in window (focused first). */
void       bt_test_press_key    (GtkWindow *window, guint keyval, GdkModifierType mods);
/* The first mapped button under root whose label (mnemonic underline removed), tooltip or
 * child label equals name; NULL when there is none. */
GtkWidget *bt_test_find_button  (GtkWidget *root, const char *name);
/* The first button under root (depth first, root excluded) whose action is action; only one on
 * show when mapped: mapped, and not in a revealer that is hiding it (a page can hold two buttons
 * for one action, one of them hidden or sliding away). */
GtkWidget *bt_test_find_action_button (GtkWidget *root, const char *action, gboolean mapped);
/* The first label under root (depth first, root excluded) that shows text; NULL if none. */
GtkWidget *bt_test_find_label   (GtkWidget *root, const char *text);
/* The first widget of type under root (depth first, root excluded), mapped or not; NULL if none. */
GtkWidget *bt_test_find_type    (GtkWidget *root, GType type);
/* Moves the pointer to the middle of widget and clicks button 1 there, once it is sensitive. */
void       bt_test_click        (GtkWidget *widget);
/* Clicks button 1 at (x, y) in widget coordinates. */
void       bt_test_click_at     (GtkWidget *widget, double x, double y);
/* Clicks the middle of a widget that must be insensitive (to check that the click does nothing). */
void       bt_test_click_insensitive (GtkWidget *widget);
/* bt_test_click on bt_test_find_button (root, name), failing when it is absent. */
void       bt_test_click_button (GtkWidget *root, const char *name);
/* Drops content on widget at (x, y) in widget coordinates through the first GtkDropTarget of
 * widget or an ancestor that takes one of the content's types (the value converted the way GDK
 * converts a real drop when the provider only offers bytes), emitting its "drop"; returns what
 * the target's handler returned. */
gboolean   bt_test_drop         (GtkWidget *widget, GdkContentProvider *content, double x, double y);
/* The same with a GdkFileList of paths (NULL-terminated). */
gboolean   bt_test_drop_files   (GtkWidget *widget, const char * const *paths);

G_END_DECLS
