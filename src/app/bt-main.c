/* bt-main.c: entry point of the Bottega GTK application. */
#include "config.h"

#include <gtk/gtk.h>

int
main (int argc, char **argv)
{
  g_autoptr(GtkApplication) app = gtk_application_new (APP_ID, G_APPLICATION_DEFAULT_FLAGS);
  return g_application_run (G_APPLICATION (app), argc, argv);
}
