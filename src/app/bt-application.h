/* bt-application.h: BtApplication, Bottega's GtkApplication: command line, app actions
 * (about, quit, open-sample), accelerators. */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define BT_TYPE_APPLICATION (bt_application_get_type ())
G_DECLARE_FINAL_TYPE (BtApplication, bt_application, BT, APPLICATION, GtkApplication)

BtApplication *bt_application_new (void);

G_END_DECLS
