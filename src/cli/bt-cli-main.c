/* bt-cli-main.c: bottega-cli, Bottega's work without a display. */
#include "config.h"

#include <glib/gi18n.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>

#include "cli/bt-cli-export.h"
#include "cli/bt-cli-tune.h"
#include "training/bt-training.h"

int
main (int argc, char **argv)
{
  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  if (argc > 1 && (strcmp (argv[1], "--version") == 0))
    {
      printf ("bottega-cli %s\n", PACKAGE_VERSION);
      return 0;
    }
  if (argc > 1 && strcmp (argv[1], "export") == 0)
    return bt_cli_export (argc - 1, argv + 1);
  if (argc > 1 && strcmp (argv[1], "tune") == 0)
    return bt_cli_tune (argc - 1, argv + 1);
  if (argc > 1 && strcmp (argv[1], "cv") == 0)
    return bt_cli_cv (argc - 1, argv + 1);
  fprintf (stderr, _("Usage: %s COMMAND [ARGS…]\n"), g_get_prgname () ? g_get_prgname () : "bottega-cli");
  return 2;
}
