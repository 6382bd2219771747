/* bt-cli-tflite.c: runs a TensorFlow Lite image classifier whole on image files and prints
 * its top classes (probabilities: a softmax of the outputs when they are scores); a quick check
 * of a downloaded model, of a file Bottega exported (its own class names and preprocessing, read
 * by the Test page's reader, bt-tflite-classifier.c) and of the reader. */
#include "config.h"

#include <glib/gi18n.h>
#include <stdio.h>

#include "cli/bt-cli-private.h"
#include "dataset/bt-dataset.h"
#include "engine/bt-tflite.h"
#include "training/bt-tflite-classifier.h"

static char **
read_labels (const char *path, guint *n_out, GError **error)
{
  g_autoptr(GBytes) bytes = NULL;
  g_autofree char *text = NULL;
  char **lines;
  guint n;

  /* a regular file of at most 16 MiB: a FIFO or /dev/zero given as labels is refused */
  bytes = bt_engine_read_file (path, 16u << 20, error);
  if (bytes == NULL)
    return NULL;
  text = g_strndup (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
  if (!g_utf8_validate (text, -1, NULL))
    {
      g_autofree char *display = g_filename_display_name (path);
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL, _("%s is not UTF-8 text"), display);
      return NULL;
    }
  lines = g_strsplit (text, "\n", -1);
  n = g_strv_length (lines);
  if (n > 0 && lines[n - 1][0] == '\0')
    {
      g_free (lines[n - 1]);
      lines[--n] = NULL;
    }
  for (guint i = 0; i < n; i++)
    g_strstrip (lines[i]);
  *n_out = n;
  return lines;
}

/* One image through the classifier (its own preprocessing: the recipe a Bottega export carries
 * in its metadata, else the input tensor's range) and its top classes: names from --labels, else
 * the file's own, else numbers counted from 0 (ImageNet files: the index people look up). */
static gboolean
predict_one (BtTfliteClassifier *c, const char *path, char **labels, guint n_labels, int top, GString *json,
             GError **error)
{
  double score;
  g_autofree float *y = bt_tflite_classifier_predict_file (c, path, &score, NULL, error);
  g_autofree gsize *order = NULL;
  g_autofree char *display = g_filename_display_name (path);
  gsize n = (gsize) c->n_classes;
  int verdict_top = 0;

  if (y == NULL)
    return FALSE;
  if (json != NULL)
    {
      /* the same object as a .bottega-model's predict --json, its names as printed below */
      g_auto(GStrv) names = g_new0 (char *, n + 1);
      for (gsize i = 0; i < n; i++)
        names[i] = labels != NULL && i < n_labels && labels[i][0] != '\0' ? g_strdup (labels[i])
                   : labels == NULL ? g_strdup (c->class_names[i])
                   : g_strdup_printf (_("class %lu"), (unsigned long) i);
      g_string_append (json, json->len > 1 ? ",\n  " : "\n  ");
      bt_cli_tflite_prediction_json (json, c, (const char * const *) names, path, y, score, top);
      return TRUE;
    }
  /* Partial selection of the top K indices. */
  top = (int) MIN ((gsize) top, n);
  order = g_new (gsize, top);
  for (int k = 0; k < top; k++)
    {
      gsize best = G_MAXSIZE;
      for (gsize i = 0; i < n; i++)
        {
          gboolean taken = FALSE;
          for (int j = 0; j < k && !taken; j++)
            taken = order[j] == i;
          if (!taken && (best == G_MAXSIZE || y[i] > y[best]))
            best = i;
        }
      order[k] = best;
    }
  printf ("%s\n", display);
  for (int k = 0; k < top; k++)
    {
      gsize i = order[k];
      g_autofree char *name = labels != NULL && i < n_labels && labels[i][0] != '\0'
                              ? g_strdup (labels[i])
                              : labels == NULL && c->has_names
                              ? g_strdup (c->class_names[i])
                              : g_strdup_printf (_("class %lu"), (unsigned long) i);
      printf ("  %2d. %-32s %6.2f %%  (%" G_GSIZE_FORMAT ")\n", k + 1, name, 100.0 * y[i], i);
    }
  /* the file's saved thresholds decide as the model's do (bt_answer_rule), in predict's words */
  if (bt_tflite_classifier_answer (c, y, score, &verdict_top) == BT_ANSWER_BELOW_THRESHOLD)
    /* Translators: predict's last line when the most likely class is under its saved threshold */
    printf (_("not accepted: below the saved threshold for %s (%.0f%%)\n"), c->class_names[verdict_top],
            100 * c->class_thresholds[verdict_top]);
  return TRUE;
}

int
bt_cli_predict_tflite (int argc, char **argv)
{
  g_autofree char *labels_path = NULL;
  int top = 5;
  gboolean as_json = FALSE;
  g_autoptr(GString) json = NULL;
  g_auto(GStrv) rest = NULL;
  GOptionEntry entries[] = {
    { "labels", 'l', 0, G_OPTION_ARG_FILENAME, &labels_path, N_("Class names, one per line"), N_("FILE") },
    { "json", 0, 0, G_OPTION_ARG_NONE, &as_json, N_("Print JSON for scripts"), NULL },
    { "top", 'k', 0, G_OPTION_ARG_INT, &top, N_("How many classes to print (default 5)"), N_("K") },
    { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &rest, NULL, N_("MODEL.tflite IMAGE…") },
    { NULL }
  };
  g_autoptr(GError) error = NULL;
  g_autoptr(BtTfliteClassifier) classifier = NULL;
  g_auto(GStrv) labels = NULL;
  guint n_labels = 0, n_rest;
  int status = 0;

  if (!bt_cli_parse_options ("predict", NULL,
                             _("Runs a TensorFlow Lite image classifier on images and prints its top classes."),
                             entries, NULL, &argc, &argv))
    return BT_CLI_EXIT_USAGE;
  n_rest = rest ? g_strv_length (rest) : 0;
  if (n_rest < 2)
    return bt_cli_usage ("predict", _("missing image file"));
  if (top < 1 || top > 100000)
    return bt_cli_usage ("predict", _("--top must be between 1 and 100000"));
  /* the Test page's reader: class names and the preprocessing recipe from the file's metadata
   * (a Bottega export), checked, with one trial run */
  classifier = bt_tflite_classifier_load (rest[0], &error);
  if (classifier == NULL)
    return bt_cli_fail ("%s: %s", rest[0], error->message);
  if (labels_path != NULL)
    {
      labels = read_labels (labels_path, &n_labels, &error);
      if (labels == NULL)
        return bt_cli_fail ("%s: %s", labels_path, error->message);
      if (n_labels != (guint) classifier->n_classes)
        fprintf (stderr, _("Warning: %u labels for %lu model outputs\n"),
                 n_labels, (unsigned long) classifier->n_classes);
    }
  if (as_json)
    json = g_string_new ("[");
  for (guint i = 1; i < n_rest; i++)
    if (!predict_one (classifier, rest[i], labels, n_labels, top, json, &error))
      {
        g_autofree char *display = g_filename_display_name (rest[i]);
        status = bt_cli_fail ("%s: %s", display, error->message);
        g_clear_error (&error);
      }
  if (json != NULL)
    {
      g_string_append (json, "\n]\n");
      fputs (json->str, stdout);
    }
  return status;
}
