/* bt-main.c: entry point of the Bottega GTK application. */
#include "config.h"

#include <glib/gi18n.h>

#include "bt-application.h"
#include "bt-i18n.h"

int
main (int argc, char **argv)
{
  g_autoptr(BtApplication) app = NULL;

  bt_i18n_init ();

  g_set_application_name (_("Bottega"));
  app = bt_application_new ();
  return g_application_run (G_APPLICATION (app), argc, argv);
}
