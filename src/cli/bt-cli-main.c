/* bt-cli-main.c: bottega-cli, Bottega's work without a display: the top-level help and the
 * command dispatch. The helpers the commands share are in bt-cli-util.c. */
#include "config.h"

#include <glib/gi18n.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>

#ifdef HAVE_CLI_SERVE
#include "cli/bt-cli-serve.h"
#endif
#include "cli/bt-cli-private.h"

static void
print_help (void)
{
  printf (_("Usage: bottega-cli COMMAND [OPTION…] [ARG…]\n"
            "Build, train and use image classifiers without a display.\n"
            "\n"
            "Commands:\n"
            "  new DIR [--from FOLDER]     create a project (from a folder of class folders)\n"
            "  train DIR [OPTION…]         train the project’s model (settings given are saved)\n"
            "  evaluate DIR|MODEL          test accuracy, confusion matrix, per-class scores\n"
            "  predict MODEL IMAGE…        class probabilities of images\n"
            "  info MODEL                  what a model file holds\n"
            "  export MODEL|DIR …          ONNX model, PyTorch script or dataset copy\n"
            "  serve MODEL [--port N]      classify images sent over HTTP (this computer only)\n"
            "  tune DIR …, cv DIR …        hyperparameter search, k-fold cross-validation\n"
            "  backbones [fetch [NAME]]    the pretrained backbones: list, download\n"
            "  compare-backbones DIR       which installed backbone suits the project\n"
            "  doctor DIR [--json]         probable label errors, duplicates, outliers, poor images\n"
            "\n"
            "  -h, --help                  show this help (also after a command)\n"
            "  -V, --version               show the version\n"
            "\n"
            "Exit status: 0 on success, 1 on failure, 2 on bad usage, 130 when stopped.\n"));
  printf (_("\n"
            "Adding and testing many images:\n"
            "  add DIR FOLDER|IMAGE… [--class NAME]   add images to a project\n"
            "  predict MODEL FOLDER… [--csv FILE]     every image under the folders, as CSV\n"));
  printf (_("\n"
            "Trusting a prediction:\n"
            "  explain MODEL IMAGE [--out PNG] [--json]   where the model looked (heat map)\n"));
}

static GLogWriterOutput
log_writer_quiet (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
  /* GLib's own debug/info chatter stays out of a tool's output; real warnings still show */
  if (level & (G_LOG_LEVEL_DEBUG | G_LOG_LEVEL_INFO | G_LOG_LEVEL_MESSAGE))
    return G_LOG_WRITER_HANDLED;
  return g_log_writer_default (level, fields, n_fields, user_data);
}

int
main (int argc, char **argv)
{
  const char *command;

  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);
  g_set_prgname ("bottega-cli");
  g_log_set_writer_func (log_writer_quiet, NULL, NULL);

  if (argc < 2)
    return bt_cli_usage (NULL, _("missing command"));

  command = argv[1];
  if (strcmp (command, "--version") == 0 || strcmp (command, "-V") == 0)
    {
      printf ("bottega-cli %s\n", PACKAGE_VERSION);
      return BT_CLI_EXIT_OK;
    }
  if (strcmp (command, "--help") == 0 || strcmp (command, "-h") == 0 || strcmp (command, "help") == 0)
    {
      print_help ();
      return BT_CLI_EXIT_OK;
    }

  /* each command sees argv[0] = its own name */
  if (strcmp (command, "new") == 0)
    return bt_cli_new (argc - 1, argv + 1);
  if (strcmp (command, "add") == 0)
    return bt_cli_add (argc - 1, argv + 1);
  if (strcmp (command, "train") == 0)
    return bt_cli_train (argc - 1, argv + 1);
  if (strcmp (command, "evaluate") == 0)
    return bt_cli_evaluate (argc - 1, argv + 1);
  if (strcmp (command, "predict") == 0)
    return bt_cli_predict (argc - 1, argv + 1);
  if (strcmp (command, "info") == 0)
    return bt_cli_info (argc - 1, argv + 1);
  if (strcmp (command, "export") == 0)
    return bt_cli_export (argc - 1, argv + 1);
#ifdef HAVE_CLI_SERVE
  if (strcmp (command, "serve") == 0)
    return bt_cli_serve (argc - 1, argv + 1);
#endif
  if (strcmp (command, "tune") == 0)
    return bt_cli_tune (argc - 1, argv + 1);
  if (strcmp (command, "cv") == 0)
    return bt_cli_cv (argc - 1, argv + 1);
  if (strcmp (command, "backbones") == 0)
    return bt_cli_backbones (argc - 1, argv + 1);
  if (strcmp (command, "compare-backbones") == 0)
    return bt_cli_compare_backbones (argc - 1, argv + 1);
  if (strcmp (command, "doctor") == 0)
    return bt_cli_doctor (argc - 1, argv + 1);
  if (strcmp (command, "explain") == 0)
    return bt_cli_explain (argc - 1, argv + 1);

  if (command[0] == '-')
    return bt_cli_usage (NULL, _("unknown option “%s”"), command);
  return bt_cli_usage (NULL, _("unknown command “%s”"), command);
}
