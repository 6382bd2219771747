/* bt-cli-export.c: the `export` command of bottega-cli: a trained model to ONNX, a project to
 * a PyTorch/torchrun training folder, or a project's images to a folder-per-class tree. */
#include "config.h"

#include <glib/gi18n.h>
#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include "cli/bt-cli-private.h"
#include "training/bt-export-dataset.h"
#include "training/bt-export-onnx.h"
#include "training/bt-export-pytorch.h"
#include "training/bt-export-tflite.h"

/* The PyTorch export runs in a worker (a transfer project's embeddings can take minutes):
 * progress on a terminal, Ctrl+C stops it. */
typedef struct {
  GMainLoop    *loop;
  GCancellable *cancel;
  GError       *error;
  gboolean      ok, shown;
} PytorchRun;

static void
pytorch_progress (guint done, guint total, gpointer data)
{
  PytorchRun *run = data;
  if (!isatty (STDERR_FILENO))
    return;
  /* TRANSLATORS: progress of the embeddings, e.g. "Embeddings: 120 of 480" */
  fprintf (stderr, _("\rEmbeddings: %u of %u"), done, total);
  run->shown = TRUE;
}

static void
pytorch_done (GObject *source, GAsyncResult *result, gpointer data)
{
  PytorchRun *run = data;
  run->ok = bt_export_pytorch_finish (result, &run->error);
  g_main_loop_quit (run->loop);
}

static gboolean
pytorch_sigint (gpointer data)
{
  PytorchRun *run = data;
  g_cancellable_cancel (run->cancel);
  return G_SOURCE_CONTINUE;
}

int
bt_cli_export (int argc, char **argv)
{
  g_autofree char *onnx = NULL, *tflite = NULL, *pytorch = NULL, *dataset = NULL, *backbone = NULL;
  g_autofree char *quantize = NULL, *calibration = NULL;
  g_auto(GStrv) rest = NULL;
  gboolean opencv = FALSE;
  GOptionEntry entries[] = {
    { "onnx", 0, 0, G_OPTION_ARG_FILENAME, &onnx, N_("Write the model as ONNX"), N_("FILE") },
    { "tflite", 0, 0, G_OPTION_ARG_FILENAME, &tflite, N_("Write the model as TensorFlow Lite (float32)"), N_("FILE") },
    { "opencv", 0, 0, G_OPTION_ARG_NONE, &opencv,
      N_("Write the ONNX form OpenCV 4.6 reads (slower in other runtimes)"), NULL },
    { "backbone", 0, 0, G_OPTION_ARG_FILENAME, &backbone, N_("The TFLite backbone of a transfer model"), N_("FILE") },
    { "quantize", 0, 0, G_OPTION_ARG_STRING, &quantize, N_("With --tflite: write a full-integer file (int8)"), N_("int8") },
    { "calibration", 0, 0, G_OPTION_ARG_FILENAME, &calibration,
      N_("With --quantize: the project whose training images set the int8 ranges"), N_("PROJECT_DIR") },
    { "pytorch", 0, 0, G_OPTION_ARG_FILENAME, &pytorch, N_("Write a PyTorch training folder for the project"), N_("DIR") },
    { "dataset", 0, 0, G_OPTION_ARG_FILENAME, &dataset, N_("Copy the project's images into a folder per class"), N_("DIR") },
    { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &rest, NULL, NULL },
    { NULL }
  };
  g_autoptr(GError) error = NULL;
  if (!bt_cli_parse_options ("export", _("MODEL|PROJECT_DIR"),
                             _("  bottega-cli export MODEL.bottega-model --onnx OUT.onnx [--opencv] [--backbone BACKBONE.tflite]\n"
                               "  bottega-cli export MODEL.bottega-model --tflite OUT.tflite [--backbone BACKBONE.tflite]\n"
                               "  bottega-cli export MODEL.bottega-model --tflite OUT.tflite --quantize int8 --calibration PROJECT_DIR [--backbone BACKBONE.tflite]\n"
                               "  bottega-cli export PROJECT_DIR --pytorch OUT_DIR\n"
                               "  bottega-cli export PROJECT_DIR --dataset OUT_DIR"),
                             entries, NULL, &argc, &argv))
    return BT_CLI_EXIT_USAGE;
  int n_targets = (onnx != NULL) + (tflite != NULL) + (pytorch != NULL) + (dataset != NULL);
  if (rest == NULL)
    return bt_cli_usage ("export", _("missing model file or project folder"));
  if (g_strv_length (rest) > 1)
    return bt_cli_usage ("export", _("unexpected argument “%s”"), rest[1]);
  if (n_targets != 1)
    return bt_cli_usage ("export", _("give exactly one of --onnx, --tflite, --pytorch or --dataset"));
  const char *src = rest[0];
  if (opencv && onnx == NULL)
    return bt_cli_usage ("export", "%s", _("--opencv only applies to --onnx"));

  if (onnx != NULL)
    {
      if (!bt_export_onnx (src, backbone, opencv ? BT_ONNX_FORM_OPENCV : BT_ONNX_FORM_FAST, onnx, &error))
        return bt_cli_fail (_("Export failed: %s"), error->message);
      g_autoptr(BtModel) model = bt_model_load (src, NULL);
      g_autofree char *summary = model ? bt_export_onnx_describe (model) : NULL;
      g_autofree char *display = g_filename_display_name (onnx);
      if (opencv)
        printf (_("Wrote %s (ONNX, opset 13, the form OpenCV 4.6 reads).\n"), display);
      else
        printf (_("Wrote %s (ONNX, opset 13).\n"), display);
      if (summary)
        printf ("%s", summary);
      return BT_CLI_EXIT_OK;
    }

  if ((quantize != NULL || calibration != NULL) && tflite == NULL)
    return bt_cli_usage ("export", "%s", _("--quantize and --calibration only apply to --tflite"));
  if (quantize != NULL && g_strcmp0 (quantize, "int8") != 0)
    return bt_cli_usage ("export", _("unknown --quantize “%s” (only int8)"), quantize);
  if ((quantize != NULL) != (calibration != NULL))
    return bt_cli_usage ("export", "%s", _("--quantize int8 needs --calibration PROJECT_DIR, and the other way round"));

  if (tflite != NULL && quantize != NULL)
    {
      g_autoptr(BtProject) cal_project = bt_project_open (calibration, &error);
      if (cal_project == NULL)
        return bt_cli_fail ("%s: %s", calibration, error->message);
      g_auto(GStrv) paths = bt_export_tflite_calibration_paths (cal_project, BT_EXPORT_TFLITE_CALIBRATION_IMAGES);
      if (!bt_export_tflite_int8 (src, backbone, (const char * const *) paths, tflite, NULL, &error))
        return bt_cli_fail (_("Export failed: %s"), error->message);
      g_autofree char *display = g_filename_display_name (tflite);
      printf (_("Wrote %s (TensorFlow Lite, full-integer int8: input and outputs int8, their scale and zero "
                "point in the file).\n"), display);
      return BT_CLI_EXIT_OK;
    }

  if (tflite != NULL)
    {
      if (!bt_export_tflite (src, backbone, tflite, &error))
        return bt_cli_fail (_("Export failed: %s"), error->message);
      g_autoptr(BtModel) model = bt_model_load (src, NULL);
      g_autofree char *summary = model ? bt_export_tflite_describe (model) : NULL;
      g_autofree char *display = g_filename_display_name (tflite);
      printf (_("Wrote %s (TensorFlow Lite, float32).\n"), display);
      if (summary)
        printf ("%s", summary);
      return BT_CLI_EXIT_OK;
    }

  g_autoptr(BtProject) project = bt_project_open (src, &error);
  if (project == NULL)
    return bt_cli_fail ("%s: %s", src, error->message);
  if (pytorch != NULL)
    {
      if (g_strcmp0 (bt_project_get_settings (project)->preset, "transfer") == 0)
        {
          printf ("%s\n", _("Computing the backbone’s embeddings of every image (a transfer model’s head "
                             "trains on them)…"));
          fflush (stdout);
        }
      PytorchRun run = { g_main_loop_new (NULL, FALSE), g_cancellable_new (), NULL, FALSE, FALSE };
      guint sigint_id = g_unix_signal_add (SIGINT, pytorch_sigint, &run);
      guint sigterm_id = g_unix_signal_add (SIGTERM, pytorch_sigint, &run);
      bt_export_pytorch_async_full (project, pytorch, pytorch_progress, &run, run.cancel, pytorch_done, &run);
      g_main_loop_run (run.loop);
      g_source_remove (sigint_id);
      g_source_remove (sigterm_id);
      g_main_loop_unref (run.loop);
      g_object_unref (run.cancel);
      if (run.shown)
        fprintf (stderr, "\n");
      if (!run.ok)
        {
          gboolean stopped = g_error_matches (run.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
          int status = stopped ? BT_CLI_EXIT_STOPPED : bt_cli_fail (_("Export failed: %s"), run.error->message);
          if (stopped)
            fprintf (stderr, "%s\n", _("Stopped."));
          g_error_free (run.error);
          return status;
        }
      g_autofree char *display = g_filename_display_name (pytorch);
      printf (_("Wrote the PyTorch training folder %s. Run: python3 train.py, or torchrun --nproc_per_node=N train.py "
                "(see README.md there).\n"), display);
      return BT_CLI_EXIT_OK;
    }
  guint copied = 0, skipped = 0;
  if (!bt_export_dataset (project, dataset, &copied, &skipped, NULL, &error))
    return bt_cli_fail (_("Export failed: %s"), error->message);
  g_autofree char *display = g_filename_display_name (dataset);
  printf (g_dngettext (GETTEXT_PACKAGE, "Copied %u image into %s", "Copied %u images into %s", copied), copied, display);
  printf ("\n");
  if (skipped > 0)
    printf (g_dngettext (GETTEXT_PACKAGE, "%u image was missing or unreadable and was skipped.\n",
                         "%u images were missing or unreadable and were skipped.\n", skipped), skipped);
  return BT_CLI_EXIT_OK;
}
