/* bt-cli-util.c: what bottega-cli's commands share: error and usage messages with their exit
 * statuses, number formats, and finding a project's newest model. */
#include "config.h"

#include <glib/gi18n.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli/bt-cli-private.h"
#include "engine/bt-onnx.h"
#include "training/bt-backbones.h"
#include "training/bt-run-files.h"
#include "training/bt-transfer.h"

int
bt_cli_fail (const char *format, ...)
{
  g_autofree char *msg = NULL;
  va_list args;

  va_start (args, format);
  msg = g_strdup_vprintf (format, args);
  va_end (args);
  fflush (stdout);
  /* one line: newlines inside a message would break scripts that read stderr */
  g_strdelimit (msg, "\n", ' ');
  fprintf (stderr, "bottega-cli: %s\n", msg);
  return BT_CLI_EXIT_FAILURE;
}

int
bt_cli_usage (const char *command, const char *format, ...)
{
  g_autofree char *msg = NULL;
  va_list args;

  va_start (args, format);
  msg = g_strdup_vprintf (format, args);
  va_end (args);
  g_strdelimit (msg, "\n", ' ');
  fflush (stdout);
  if (command != NULL)
    {
      fprintf (stderr, "bottega-cli: %s: %s\n", command, msg);
      fprintf (stderr, _("Try “bottega-cli %s --help” for more information.\n"), command);
    }
  else
    {
      fprintf (stderr, "bottega-cli: %s\n", msg);
      fprintf (stderr, _("Try “bottega-cli --help” for more information.\n"));
    }
  return BT_CLI_EXIT_USAGE;
}

char *
bt_cli_format_count (guint64 n)
{
  g_autofree char *digits = g_strdup_printf ("%" G_GUINT64_FORMAT, n);
  GString *out = g_string_new (NULL);
  gsize len = strlen (digits);

  for (gsize i = 0; i < len; i++)
    {
      if (i > 0 && (len - i) % 3 == 0)
        g_string_append_c (out, ',');
      g_string_append_c (out, digits[i]);
    }
  return g_string_free (out, FALSE);
}

char *
bt_cli_format_duration (double seconds)
{
  guint64 s;

  if (!(seconds >= 0) || seconds > 1e9)
    return g_strdup ("--:--");
  s = (guint64) (seconds + 0.5);
  if (s >= 3600)
    return g_strdup_printf ("%" G_GUINT64_FORMAT ":%02u:%02u", s / 3600, (guint) (s / 60 % 60), (guint) (s % 60));
  return g_strdup_printf ("%u:%02u", (guint) (s / 60), (guint) (s % 60));
}

gboolean
bt_cli_is_project_dir (const char *path)
{
  g_autofree char *ini = g_build_filename (path, "project.ini", NULL);
  return g_file_test (path, G_FILE_TEST_IS_DIR) && g_file_test (ini, G_FILE_TEST_IS_REGULAR);
}

char *
bt_cli_newest_model (const char *project_dir)
{
  /* the project's default model: the newest, unless its run failed (bt-run-files.c) */
  return bt_run_files_default_model (project_dir);
}

gboolean
bt_cli_parse_options (const char *command, const char *parameter_string, const char *summary,
                      const GOptionEntry *entries, gpointer user_data, int *argc, char ***argv)
{
  g_autoptr(GOptionContext) context = g_option_context_new (parameter_string);
  g_autoptr(GError) error = NULL;
  /* the main group carries user_data to the entries' callbacks */
  GOptionGroup *group = g_option_group_new (NULL, NULL, NULL, user_data, NULL);

  g_option_group_add_entries (group, entries);
  g_option_group_set_translation_domain (group, GETTEXT_PACKAGE);
  g_option_context_set_main_group (context, group);
  g_option_context_set_translation_domain (context, GETTEXT_PACKAGE);
  if (summary != NULL)
    g_option_context_set_summary (context, summary);
  if (!g_option_context_parse (context, argc, argv, &error))
    {
      bt_cli_usage (command, "%s", error->message);
      return FALSE;
    }
  return TRUE;
}

/* The one-prediction JSON object of predict --json and serve: the top classes, the verdict
 * (answer, the top class best), the unknown score's two parts when the model has centroids
 * (energy, distance; NAN: none) and the top class's saved threshold (NAN: none). */
static void
prediction_json (GString *out, const char * const *class_names, int n, const char *name, const float *probs,
                 double unknown_score, double energy, double distance, int top, BtAnswer answer, double threshold)
{
  g_autofree int *order = g_new (int, n);

  if (top <= 0 || top > n)
    top = n;
  for (int i = 0; i < n; i++)
    order[i] = i;
  /* insertion sort, most probable first, ties in class order: n is small */
  for (int i = 1; i < n; i++)
    for (int j = i; j > 0 && probs[order[j]] > probs[order[j - 1]]; j--)
      {
        int t = order[j];
        order[j] = order[j - 1];
        order[j - 1] = t;
      }
  g_string_append (out, "{\"image\": ");
  bt_json_append_string (out, name);
  g_string_append (out, ", \"predictions\": [");
  for (int k = 0; k < top; k++)
    {
      g_string_append (out, k > 0 ? ", {\"class\": " : "{\"class\": ");
      bt_json_append_string (out, class_names[order[k]]);
      g_string_append_printf (out, ", \"probability\": %.8f}", probs[order[k]]);
    }
  g_string_append_printf (out, "], \"unknown\": %s, \"unknown_score\": ",
                          answer == BT_ANSWER_UNKNOWN ? "true" : "false");
  if (isnan (unknown_score))
    g_string_append (out, "null");   /* a .tflite file without Bottega's thresholds */
  else
    g_string_append_printf (out, "%.6f", unknown_score);
  if (isfinite (energy) && isfinite (distance))
    g_string_append_printf (out, ", \"unknown_parts\": {\"energy\": %.6f, \"distance\": %.6f}", energy, distance);
  /* the most likely class's saved threshold, when it has one, and whether it held the answer back */
  if (!isnan (threshold))
    g_string_append_printf (out, ", \"threshold\": %.6f", threshold);
  g_string_append_printf (out, ", \"below_threshold\": %s}", answer == BT_ANSWER_BELOW_THRESHOLD ? "true" : "false");
}

void
bt_cli_prediction_json (GString *out, const BtModel *model, const char *name, const float *probs,
                        double unknown_score, double energy, double distance, int top)
{
  int best = 0;
  BtAnswer answer = bt_model_answer (model, probs, unknown_score, &best);
  gboolean parts = bt_calibration_uses_centroids (&model->calib);

  prediction_json (out, (const char * const *) model->class_names, bt_net_n_classes (model->net), name, probs,
                   unknown_score, parts ? energy : NAN, parts ? distance : NAN, top, answer,
                   bt_model_get_threshold (model, best));
}

void
bt_cli_tflite_prediction_json (GString *out, const BtTfliteClassifier *c, const char * const *class_names,
                               const char *name, const float *probs, double unknown_score, int top)
{
  int best = 0;
  BtAnswer answer = bt_tflite_classifier_answer (c, probs, unknown_score, &best);

  prediction_json (out, class_names, c->n_classes, name, probs, unknown_score, NAN, NAN, top, answer,
                   c->class_thresholds != NULL ? c->class_thresholds[best] : NAN);
}

/* --backbone, else the project's choice (Compare backbones), resolved to a file here; and for a
 * new transfer run, a backbone on this computer — said before a run folder is made, with the
 * command line's own way out. -1 when the run can go on, else the exit status. */
int
bt_cli_choose_backbone (BtProject *project, const char *given, gboolean resuming)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *choice = given == NULL ? bt_backbones_project_choice (project) : NULL;
  const char *name = given != NULL ? given : choice;
  gboolean transfer = g_strcmp0 (bt_project_get_settings (project)->preset, "transfer") == 0;

  if (name != NULL)
    {
      g_autofree char *abs = bt_backbones_resolve (name, &error);
      if (abs == NULL && (given != NULL || transfer))
        return bt_cli_fail ("%s", error->message);
      g_clear_error (&error);
      bt_backbone_set_preferred_file (abs);
    }
  if (!resuming && transfer)
    {
      g_autofree char *bb = bt_backbone_find_for_training (&error);
      if (bb == NULL)
        return bt_cli_fail ("%s\n%s", error->message,
                            _("Download it with “bottega-cli backbones fetch”, or give one with --backbone NAME|FILE."));
    }
  return -1;
}
