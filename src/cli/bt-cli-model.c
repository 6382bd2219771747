/* bt-cli-model.c: the commands that use a saved model: `predict MODEL IMAGE…`, `info MODEL` and
 * `evaluate DIR|MODEL`. */
#include "config.h"

#include <glib/gi18n.h>
#include <math.h>
#include <string.h>

#include "cli/bt-cli-private.h"
#include "dataset/bt-image-list.h"
#include "training/bt-predict-batch.h"

static BtModel *
load_model (const char *path, GError **error)
{
  if (g_file_test (path, G_FILE_TEST_IS_DIR))
    {
      g_set_error_literal (error, G_FILE_ERROR, G_FILE_ERROR_ISDIR, _("is a folder, not a model file"));
      return NULL;
    }
  return bt_model_load (path, error);
}

/* ---- predict ---- */

typedef struct {
  int index;
  float p;
} Ranked;

static int
compare_ranked (gconstpointer a, gconstpointer b)
{
  const Ranked *ra = a, *rb = b;

  if (ra->p != rb->p)
    return ra->p > rb->p ? -1 : 1;
  return ra->index - rb->index;
}

int
bt_cli_predict (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(BtModel) model = NULL;
  g_autoptr(GString) json = NULL;
  g_autoptr(GString) csv = NULL;
  g_autoptr(GPtrArray) images = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *csv_path = NULL;
  BtPrediction *results = NULL;
  gboolean as_json = FALSE;
  int top = 0, status = BT_CLI_EXIT_OK, n_classes, n_printed = 0;
  GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &as_json, N_("Print JSON for scripts"), NULL },
    { "top", 'k', 0, G_OPTION_ARG_INT, &top, N_("Print only the K most likely classes"), N_("K") },
    { "csv", 0, 0, G_OPTION_ARG_FILENAME, &csv_path, N_("Write the results to FILE as CSV (the Test page’s columns)"), N_("FILE") },
    { NULL }
  };

  /* TFLite models have their own reader and options (--labels) */
  for (int i = 1; i < argc; i++)
    if (argv[i][0] != '-')
      {
        if (g_str_has_suffix (argv[i], ".tflite"))
          return bt_cli_predict_tflite (argc, argv);
        break;
      }

  if (!bt_cli_parse_options ("predict", _("MODEL IMAGE|FOLDER… — class probabilities of images"), NULL, entries, NULL, &argc, &argv))
    return BT_CLI_EXIT_USAGE;
  if (argc < 2)
    return bt_cli_usage ("predict", _("missing model file"));
  if (argc < 3)
    return bt_cli_usage ("predict", _("missing image file"));
  if (top < 0)
    return bt_cli_usage ("predict", _("--top must be positive"));

  model = load_model (argv[1], &error);
  if (model == NULL)
    return bt_cli_fail ("%s: %s", argv[1], error->message);
  n_classes = bt_net_n_classes (model->net);
  if (top == 0 || top > n_classes)
    top = n_classes;

  /* a folder stands for every image under it, in natural order */
  for (int i = 2; i < argc; i++)
    {
      if (g_file_test (argv[i], G_FILE_TEST_IS_DIR))
        {
          g_autoptr(GPtrArray) found = bt_image_list_walk (argv[i], 0, NULL, &error);
          if (found == NULL)
            return bt_cli_fail ("%s: %s", argv[i], error->message);
          if (found->len == 0)
            {
              bt_cli_fail (_("%s: no images in this folder"), argv[i]);
              status = BT_CLI_EXIT_FAILURE;
            }
          for (guint k = 0; k < found->len; k++)
            g_ptr_array_add (images, g_steal_pointer (&found->pdata[k]));
        }
      else
        g_ptr_array_add (images, g_strdup (argv[i]));
    }

  if (as_json)
    json = g_string_new ("[");
  if (csv_path != NULL)
    {
      csv = g_string_new (NULL);
      bt_predictions_csv_header (csv, (const char * const *) model->class_names);
    }
  /* Every image at once: decoding and the backbone on all cores, the network in batches. */
  results = bt_predict_files (model, (const char * const *) images->pdata, images->len, 0, NULL, NULL, NULL);
  for (guint i = 0; i < images->len; i++)
    {
      const char *image = images->pdata[i];
      GError *local = results[i].error;
      double unknown_score = results[i].unknown_score;
      const float *probs = results[i].probs;
      g_autofree Ranked *ranked = NULL;

      if (csv != NULL)
        {
          g_autofree char *utf8 = g_filename_display_name (image);
          bt_predictions_csv_row_scored (csv, utf8, probs, n_classes, (const char * const *) model->class_names,
                                         unknown_score, bt_calibration_is_unknown (&model->calib, unknown_score),
                                         probs != NULL && bt_model_answer (model, probs, unknown_score, NULL) ==
                                                            BT_ANSWER_BELOW_THRESHOLD);
        }
      if (probs == NULL)
        {
          /* one bad image does not stop the others; the exit status says so */
          bt_cli_fail ("%s: %s", image, local->message);
          status = BT_CLI_EXIT_FAILURE;
          continue;
        }
      if (csv != NULL && !as_json)
        continue;
      if (as_json)
        {
          g_string_append (json, json->len > 1 ? ",\n  " : "\n  ");
          bt_cli_prediction_json (json, model, image, probs, unknown_score, results[i].energy,
                                  results[i].distance, top);
          continue;
        }
      ranked = g_new (Ranked, n_classes);
      for (int k = 0; k < n_classes; k++)
        {
          ranked[k].index = k;
          ranked[k].p = probs[k];
        }
      qsort (ranked, n_classes, sizeof (Ranked), (GCompareFunc) compare_ranked);
      if (images->len > 1)
        printf ("%s%s:\n", n_printed > 0 ? "\n" : "", image);
      n_printed++;
      for (int k = 0; k < top; k++)
        printf ("%s %.8f\n", model->class_names[ranked[k].index], ranked[k].p);
      if (bt_model_answer (model, probs, unknown_score, NULL) == BT_ANSWER_BELOW_THRESHOLD)
        /* Translators: predict's last line when the most likely class is under its saved threshold */
        printf (_("not accepted: below the saved threshold for %s (%.0f%%)\n"), model->class_names[ranked[0].index],
                100 * bt_model_get_threshold (model, ranked[0].index));
    }
  bt_predictions_free (results, images->len);
  if (as_json)
    {
      g_string_append (json, "\n]\n");
      fputs (json->str, stdout);
    }
  if (csv != NULL)
    {
      if (!bt_write_file_atomic (csv_path, csv->str, csv->len, &error))
        return bt_cli_fail ("%s: %s", csv_path, error->message);
      if (!as_json)
        printf (g_dngettext (GETTEXT_PACKAGE, "Wrote %u result to %s\n", "Wrote %u results to %s\n", images->len),
                images->len, csv_path);
    }
  return status;
}

/* ---- info ---- */

static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(char * const *) a, *(char * const *) b);
}

int
bt_cli_info (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(BtModel) model = NULL;
  g_autofree char *layers = NULL;
  g_autofree char *params = NULL;
  int c, h, w;
  GOptionEntry entries[] = { { NULL } };

  if (!bt_cli_parse_options ("info", _("MODEL — what a model file holds"), NULL, entries, NULL, &argc, &argv))
    return BT_CLI_EXIT_USAGE;
  if (argc < 2)
    return bt_cli_usage ("info", _("missing model file"));
  if (argc > 2)
    return bt_cli_usage ("info", _("unexpected argument “%s”"), argv[2]);

  model = load_model (argv[1], &error);
  if (model == NULL)
    return bt_cli_fail ("%s: %s", argv[1], error->message);

  bt_net_input_shape (model->net, &c, &h, &w);
  params = bt_cli_format_count (bt_net_n_params (model->net));
  printf (_("Model:        %s\n"), argv[1]);
  printf (_("Preset:       %s\n"), bt_preset_to_id (bt_net_preset (model->net)));
  printf (_("Parameters:   %s\n"), params);
  printf (_("Input:        %d×%d, %s, %s\n"), model->prep.width, model->prep.height,
          model->prep.channels == 1 ? _("grey") : _("RGB"), bt_resize_mode_to_string (model->prep.resize));
  printf (_("Scaling:      x = (pixel × %g − mean) / std, mean %g %g %g, std %g %g %g\n"),
          model->prep.scale, model->prep.mean[0], model->prep.mean[1], model->prep.mean[2],
          model->prep.std[0], model->prep.std[1], model->prep.std[2]);
  printf (_("Classes (%d):"), bt_net_n_classes (model->net));
  for (int i = 0; model->class_names != NULL && model->class_names[i] != NULL; i++)
    printf ("%s%s", i > 0 ? ", " : " ", model->class_names[i]);
  printf ("\n");
  {
    /* the thresholds saved on the Evaluate page, e.g. "cat 80%, dog 65%" */
    g_autoptr(GString) held = g_string_new (NULL);
    for (int i = 0; i < bt_net_n_classes (model->net); i++)
      if (!isnan (bt_model_get_threshold (model, i)))
        g_string_append_printf (held, "%s%s %.0f%%", held->len > 0 ? ", " : "", model->class_names[i],
                                100 * bt_model_get_threshold (model, i));
    if (held->len > 0)
      printf (_("Thresholds:   %s (answers below are not accepted)\n"), held->str);
  }
  if (model->backbone_name != NULL)
    printf (_("Backbone:     %s (sha256 %s)\n"), model->backbone_name,
            model->backbone_sha256 != NULL ? model->backbone_sha256 : "?");
  if (model->backbone_data != NULL)
    {
      g_autofree char *size = g_format_size (g_bytes_get_size (model->backbone_data));
      printf (_("              stored inside this file (%s): the model needs no other file\n"), size);
    }
  if (model->backbone_weights != NULL)
    printf (g_dngettext (GETTEXT_PACKAGE, "              fine-tuned: %u of its operators has the weights stored here\n",
                         "              fine-tuned: %u of its operators have the weights stored here\n",
                         model->backbone_weights->len), model->backbone_weights->len);
  else if (model->backbone_name != NULL)
    printf (_("              not stored inside: the file must be on the backbone search path\n"));
  if (model->metadata != NULL && g_hash_table_size (model->metadata) > 0)
    {
      g_autoptr(GPtrArray) keys = g_ptr_array_new ();
      GHashTableIter iter;
      gpointer key;

      g_hash_table_iter_init (&iter, model->metadata);
      while (g_hash_table_iter_next (&iter, &key, NULL))
        g_ptr_array_add (keys, key);
      g_ptr_array_sort (keys, compare_strings);
      printf (_("Metadata:\n"));
      for (guint i = 0; i < keys->len; i++)
        printf ("  %s = %s\n", (char *) keys->pdata[i],
                (char *) g_hash_table_lookup (model->metadata, keys->pdata[i]));
    }
  layers = bt_net_describe (model->net);
  if (layers != NULL)
    printf (_("Layers:\n%s%s"), layers, g_str_has_suffix (layers, "\n") ? "" : "\n");
  return BT_CLI_EXIT_OK;
}

/* ---- evaluate ---- */

static void
json_number (GString *out, const char *key, double v)
{
  g_string_append_printf (out, ", \"%s\": ", key);
  if (isfinite (v))
    g_string_append_printf (out, "%.8g", v);
  else
    g_string_append (out, "null");
}

static void
print_evaluation_json (const BtEvaluation *ev, const char *model_path, BtSplit split)
{
  g_autoptr(GString) json = g_string_new ("{\"model\": ");

  bt_json_append_string (json, model_path);
  g_string_append (json, ", \"split\": ");
  bt_json_append_string (json, bt_split_to_string (split));
  g_string_append_printf (json, ", \"n\": %u, \"skipped\": %u", ev->n, ev->n_skipped);
  json_number (json, "accuracy", ev->accuracy);
  json_number (json, "loss", ev->loss);
  json_number (json, "temperature", ev->temperature);
  json_number (json, "ece_before", ev->ece_before);
  json_number (json, "ece_after", ev->ece_after);
  g_string_append (json, ", \"classes\": [");
  for (int i = 0; i < ev->n_classes; i++)
    {
      g_string_append (json, i > 0 ? ", {\"name\": " : "{\"name\": ");
      bt_json_append_string (json, ev->class_names[i]);
      json_number (json, "precision", ev->precision[i]);
      json_number (json, "recall", ev->recall[i]);
      json_number (json, "f1", ev->f1[i]);
      g_string_append (json, "}");
    }
  g_string_append (json, "], \"confusion\": [");
  for (int i = 0; i < ev->n_classes; i++)
    {
      g_string_append (json, i > 0 ? ", [" : "[");
      for (int j = 0; j < ev->n_classes; j++)
        g_string_append_printf (json, j > 0 ? ", %u" : "%u", ev->confusion[(gsize) i * ev->n_classes + j]);
      g_string_append (json, "]");
    }
  g_string_append (json, "]}\n");
  fputs (json->str, stdout);
}

int
bt_cli_evaluate (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(BtModel) model = NULL;
  g_autoptr(BtProject) project = NULL;
  g_autoptr(BtEvaluation) ev = NULL;
  g_autofree char *model_path = NULL;
  g_autofree char *project_dir = NULL;
  g_autofree char *split_name = NULL;
  g_autofree char *n_text = NULL;
  int n_mistakes = 10, width = 5;
  gboolean as_json = FALSE;
  BtSplit split = BT_SPLIT_TEST;
  GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model_path, N_("Model to evaluate (default: the project’s newest)"), N_("MODEL") },
    { "project", 0, 0, G_OPTION_ARG_FILENAME, &project_dir, N_("Project whose images to use (default: the model’s)"), N_("DIR") },
    { "split", 0, 0, G_OPTION_ARG_STRING, &split_name, N_("train, val or test (default)"), N_("SPLIT") },
    { "mistakes", 0, 0, G_OPTION_ARG_INT, &n_mistakes, N_("List the N most confident mistakes (default 10)"), N_("N") },
    { "json", 0, 0, G_OPTION_ARG_NONE, &as_json, N_("Print JSON for scripts"), NULL },
    { NULL }
  };

  if (!bt_cli_parse_options ("evaluate", _("DIR|MODEL — accuracy, confusion matrix and per-class scores"), NULL, entries, NULL, &argc, &argv))
    return BT_CLI_EXIT_USAGE;
  if (argc < 2)
    return bt_cli_usage ("evaluate", _("missing project folder or model file"));
  if (argc > 2)
    return bt_cli_usage ("evaluate", _("unexpected argument “%s”"), argv[2]);
  if (split_name != NULL && !bt_split_from_string (split_name, &split))
    return bt_cli_usage ("evaluate", _("invalid split “%s” (use train, val or test)"), split_name);
  if (n_mistakes < 0)
    return bt_cli_usage ("evaluate", _("--mistakes cannot be negative"));

  if (g_file_test (argv[1], G_FILE_TEST_IS_DIR))
    {
      if (!bt_cli_is_project_dir (argv[1]))
        return bt_cli_fail (_("%s: not a Bottega project (no project.ini)"), argv[1]);
      if (project_dir == NULL)
        project_dir = g_strdup (argv[1]);
      if (model_path == NULL)
        model_path = bt_cli_newest_model (argv[1]);
      if (model_path == NULL)
        return bt_cli_fail (_("%s: the project has no trained model yet"), argv[1]);
    }
  else
    {
      if (model_path != NULL)
        return bt_cli_usage ("evaluate", _("give either a model file or --model, not both"));
      model_path = g_strdup (argv[1]);
    }

  model = load_model (model_path, &error);
  if (model == NULL)
    return bt_cli_fail ("%s: %s", model_path, error->message);
  if (project_dir == NULL && model->metadata != NULL)
    project_dir = g_strdup (g_hash_table_lookup (model->metadata, "project"));
  if (project_dir == NULL)
    return bt_cli_fail (_("%s: the model does not say which project it came from; give --project DIR"), model_path);
  project = bt_project_open (project_dir, &error);
  if (project == NULL)
    return bt_cli_fail ("%s: %s", project_dir, error->message);

  ev = bt_evaluate_project (model, project, split, NULL, &error);
  if (ev == NULL)
    return bt_cli_fail ("%s: %s", project_dir, error->message);

  if (as_json)
    {
      print_evaluation_json (ev, model_path, split);
      return BT_CLI_EXIT_OK;
    }
  n_text = bt_cli_format_count (ev->n);
  printf (_("Model: %s\n"), model_path);
  printf (_("%s accuracy = %.1f%% (N=%s), loss %.4f\n"),
          split == BT_SPLIT_TEST ? _("Test") : split == BT_SPLIT_VAL ? _("Validation") : _("Training"),
          100 * ev->accuracy, n_text, ev->loss);
  if (ev->n_skipped > 0)
    printf (g_dngettext (GETTEXT_PACKAGE, "%u image could not be used\n", "%u images could not be used\n",
                         ev->n_skipped), ev->n_skipped);

  /* "when it says 90%, it is right 89% of the time": the gap, averaged over 15 bins */
  printf (_("Calibration: temperature %.3f, expected calibration error %.1f%% before, %.1f%% after\n"),
          ev->temperature, 100 * ev->ece_before, 100 * ev->ece_after);

  for (int i = 0; i < ev->n_classes; i++)
    width = MAX (width, (int) g_utf8_strlen (ev->class_names[i], -1));
  width = MIN (width, 24);

  printf (_("\nConfusion matrix (rows: true class, columns: predicted):\n"));
  printf ("%*s", width, "");
  for (int j = 0; j < ev->n_classes; j++)
    printf (" %6d", j);
  printf ("\n");
  for (int i = 0; i < ev->n_classes; i++)
    {
      printf ("%-*.*s", width, width, ev->class_names[i]);
      for (int j = 0; j < ev->n_classes; j++)
        printf (" %6u", ev->confusion[(gsize) i * ev->n_classes + j]);
      printf ("   %d\n", i);
    }

  printf ("\n%-*s %9s %7s %7s %8s\n", width, _("class"), _("precision"), _("recall"), _("F1"), _("support"));
  for (int i = 0; i < ev->n_classes; i++)
    {
      guint support = 0;
      for (int j = 0; j < ev->n_classes; j++)
        support += ev->confusion[(gsize) i * ev->n_classes + j];
      printf ("%-*.*s %9.3f %7.3f %7.3f %8u\n", width, width, ev->class_names[i],
              ev->precision[i], ev->recall[i], ev->f1[i], support);
    }

  if (n_mistakes > 0 && ev->mistakes->len > 0)
    {
      printf (_("\nMost confident mistakes:\n"));
      for (guint i = 0; i < ev->mistakes->len && i < (guint) n_mistakes; i++)
        {
          const BtMistake *m = g_ptr_array_index (ev->mistakes, i);
          g_autofree char *display = g_filename_display_name (m->path);
          printf (_("  %s: %s predicted as %s (%.1f%%)\n"), display, ev->class_names[m->true_class],
                  ev->class_names[m->pred_class], 100 * m->confidence);
        }
    }
  return BT_CLI_EXIT_OK;
}
