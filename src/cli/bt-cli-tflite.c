/* bt-cli-tflite.c: runs a TensorFlow Lite image classifier whole on image files and prints
 * its top classes; a quick check of a downloaded model and of the reader. */
#include "config.h"

#include <glib/gi18n.h>
#include <stdio.h>

#include "cli/bt-cli-private.h"
#include "dataset/bt-dataset.h"
#include "engine/bt-tflite.h"

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

static gboolean
looks_like_probabilities (const float *y, gsize n)
{
  double sum = 0;
  for (gsize i = 0; i < n; i++)
    {
      if (y[i] < 0.f || y[i] > 1.f)
        return FALSE;
      sum += y[i];
    }
  return sum > 0.98 && sum < 1.02;
}

static gboolean
predict_one (BtTflite *model, BtTfliteExec *exec, const char *path, char **labels, guint n_labels,
             int top, GError **error)
{
  g_autoptr(BtImage) img = NULL, small = NULL;
  g_autofree float *x = NULL;
  g_autofree gsize *order = NULL;
  g_autofree char *display = g_filename_display_name (path);
  const float *y;
  int h, w, c;
  gsize n;
  gboolean probs;

  bt_tflite_input_shape (model, &h, &w, &c);
  if (c != 1 && c != 3)
    {
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_UNSUPPORTED,
                   _("The model takes %d channels; only grey or RGB images are supported"), c);
      return FALSE;
    }
  img = bt_image_decode_file_sized (path, c, BT_TENSOR_BOX (w), BT_TENSOR_BOX (h), NULL, NULL, NULL, error);
  if (img == NULL)
    return FALSE;
  small = bt_image_resize (img, w, h, BT_DS_RESIZE_SQUASH);
  x = g_new (float, (gsize) h * w * c);
  bt_tflite_pixels_to_input (model, small->pixels, x);
  y = bt_tflite_exec_run (exec, x, -1, &n, error);
  if (y == NULL)
    return FALSE;

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
  probs = looks_like_probabilities (y, n);
  printf ("%s\n", display);
  for (int k = 0; k < top; k++)
    {
      gsize i = order[k];
      g_autofree char *name = i < n_labels && labels[i][0] != '\0'
                              ? g_strdup (labels[i])
                              : g_strdup_printf (_("class %lu"), (unsigned long) i);
      if (probs)
        printf ("  %2d. %-32s %6.2f %%  (%" G_GSIZE_FORMAT ")\n", k + 1, name, 100.0 * y[i], i);
      else
        printf ("  %2d. %-32s %10.4f  (%" G_GSIZE_FORMAT ")\n", k + 1, name, y[i], i);
    }
  return TRUE;
}

int
bt_cli_predict_tflite (int argc, char **argv)
{
  g_autofree char *labels_path = NULL;
  int top = 5;
  g_auto(GStrv) rest = NULL;
  GOptionEntry entries[] = {
    { "labels", 'l', 0, G_OPTION_ARG_FILENAME, &labels_path, N_("Class names, one per line"), N_("FILE") },
    { "top", 'k', 0, G_OPTION_ARG_INT, &top, N_("How many classes to print (default 5)"), N_("K") },
    { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &rest, NULL, N_("MODEL.tflite IMAGE…") },
    { NULL }
  };
  g_autoptr(GError) error = NULL;
  g_autoptr(BtTflite) model = NULL;
  g_autoptr(BtTfliteExec) exec = NULL;
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
  model = bt_tflite_load (rest[0], &error);
  if (model == NULL)
    return bt_cli_fail ("%s: %s", rest[0], error->message);
  if (labels_path != NULL)
    {
      labels = read_labels (labels_path, &n_labels, &error);
      if (labels == NULL)
        return bt_cli_fail ("%s: %s", labels_path, error->message);
      if (n_labels != bt_tflite_output_size (model))
        fprintf (stderr, _("Warning: %u labels for %lu model outputs\n"),
                 n_labels, (unsigned long) bt_tflite_output_size (model));
    }
  exec = bt_tflite_exec_new (model, &error);
  if (exec == NULL)
    return bt_cli_fail ("%s: %s", rest[0], error->message);
  for (guint i = 1; i < n_rest; i++)
    if (!predict_one (model, exec, rest[i], labels, n_labels, top, &error))
      {
        g_autofree char *display = g_filename_display_name (rest[i]);
        status = bt_cli_fail ("%s: %s", display, error->message);
        g_clear_error (&error);
      }
  return status;
}
