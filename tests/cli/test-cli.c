/* test-cli.c: bottega-cli end to end on a folder tree made here (with corrupt files among the
 * images): printed output and exit statuses of new, train, predict, info, evaluate and bad usage. */
#include "config.h"

#include <glib/gstdio.h>
#include <math.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "training/bt-training.h"
#include "bt-test-cli.h"
#include "bt-test-fs.h"
#include "bt-test-wait.h"

static char *cli_path;
static char *work_dir;

/* Runs bottega-cli with the arguments (NULL-terminated); returns its exit status. */
G_GNUC_NULL_TERMINATED static int
run_cli (char **out, char **err, ...)
{
  g_autoptr(GPtrArray) args = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *o = NULL, *e = NULL;
  g_auto(GStrv) envp = g_environ_setenv (g_get_environ (), "LC_ALL", "C.UTF-8", TRUE);
  int wait_status = 0;
  const char *arg;
  va_list ap;

  g_ptr_array_add (args, cli_path);
  va_start (ap, err);
  while ((arg = va_arg (ap, const char *)) != NULL)
    g_ptr_array_add (args, (char *) arg);
  va_end (ap);
  g_ptr_array_add (args, NULL);

  g_assert_true (g_spawn_sync (work_dir, (char **) args->pdata, envp, G_SPAWN_DEFAULT, NULL, NULL,
                               &o, &e, &wait_status, &error));
  g_assert_no_error (error);
  g_autofree char *line = g_strjoinv (" ", (char **) args->pdata + 1);
  g_test_message ("$ bottega-cli %s", line);
  g_test_message ("stdout:\n%s", o);
  g_test_message ("stderr:\n%s", e);
  /* never a crash: a signal death is a failure of its own */
  g_assert_true (WIFEXITED (wait_status));
  /* TAP messages do not reach meson's error log; a failing command's own words do */
  if (WEXITSTATUS (wait_status) != 0)
    g_printerr ("$ bottega-cli %s: exit %d\n%s\n", line, WEXITSTATUS (wait_status), e);
  if (out != NULL)
    *out = g_steal_pointer (&o);
  if (err != NULL)
    *err = g_steal_pointer (&e);
  return WEXITSTATUS (wait_status);
}

static guint
count_lines (const char *s)
{
  guint n = 0;
  for (const char *p = s; *p != '\0'; p++)
    if (*p == '\n')
      n++;
  return n;
}

static void
assert_one_line_error (const char *err)
{
  /* a GNU one-line reason, maybe followed by a "Try …" hint */
  g_assert_true (g_str_has_prefix (err, "bottega-cli: "));
  g_assert_cmpuint (count_lines (err), >=, 1);
  g_assert_cmpuint (count_lines (err), <=, 2);
}

static void
test_usage_errors (void)
{
  g_autofree char *out = NULL, *err = NULL;

  g_assert_cmpint (run_cli (&out, &err, "--version", NULL), ==, 0);
  g_assert_cmpstr (out, ==, "bottega-cli " PACKAGE_VERSION "\n");
  g_free (out); g_free (err);

  g_assert_cmpint (run_cli (&out, &err, "--help", NULL), ==, 0);
  g_assert_nonnull (strstr (out, "predict MODEL IMAGE"));
  g_assert_nonnull (strstr (out, "add DIR FOLDER|IMAGE"));
  g_free (out); g_free (err);

  g_assert_cmpint (run_cli (&out, &err, NULL), ==, 2);
  assert_one_line_error (err);
  g_free (out); g_free (err);

  g_assert_cmpint (run_cli (&out, &err, "frobnicate", NULL), ==, 2);
  assert_one_line_error (err);
  g_assert_nonnull (strstr (err, "frobnicate"));
  g_free (out); g_free (err);

  g_assert_cmpint (run_cli (&out, &err, "train", NULL), ==, 2);
  assert_one_line_error (err);
  g_free (out); g_free (err);

  g_assert_cmpint (run_cli (&out, &err, "train", "nowhere", "--epochs", "many", NULL), ==, 2);
  assert_one_line_error (err);
  g_free (out); g_free (err);

  g_assert_cmpint (run_cli (&out, &err, "train", "nowhere", NULL), ==, 1);
  assert_one_line_error (err);
  g_free (out); g_free (err);

  g_assert_cmpint (run_cli (&out, &err, "predict", "no-such.bottega-model", "x.png", NULL), ==, 1);
  assert_one_line_error (err);
  g_free (out); g_free (err);

  g_assert_cmpint (run_cli (&out, &err, "info", NULL), ==, 2);
  assert_one_line_error (err);
  g_free (out); g_free (err);

  g_assert_cmpint (run_cli (&out, &err, "evaluate", "/", "--split", "sideways", NULL), ==, 2);
  assert_one_line_error (err);
}

static gboolean
line_matches (const char *pattern, const char *line)
{
  return g_regex_match_simple (pattern, line, 0, 0);
}

static void
test_end_to_end (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *sample = g_build_filename (work_dir, "made", NULL);
  g_autofree char *images = g_build_filename (sample, "images", NULL);
  g_autofree char *broken = g_build_filename (images, "circle", "broken.png", NULL);
  g_autofree char *text = g_build_filename (images, "square", "notes.png", NULL);
  g_autofree char *project = g_build_filename (work_dir, "proj", NULL);
  g_autofree char *out = NULL, *err = NULL;
  g_autofree char *model = NULL;
  g_autofree char *an_image = g_build_filename (images, "star", NULL);
  g_auto(GStrv) lines = NULL;
  g_autoptr(BtProject) p = NULL;
  guint n;

  /* the folder tree: Shapes images in class folders, plus two files that are not images */
  {
    g_autoptr(BtProject) made = bt_sample_create_shapes (sample, 60, 32, 3, NULL, &error);
    g_assert_no_error (error);
  }
  {
    /* a real PNG cut in half: corrupt; a text file named .png: not an image */
    g_autofree char *circles = g_build_filename (images, "circle", NULL);
    g_autoptr(GDir) d = g_dir_open (circles, 0, NULL);
    g_autofree char *first = g_build_filename (circles, g_dir_read_name (d), NULL);
    g_autofree char *data = NULL;
    gsize len = 0;

    g_assert_true (g_file_get_contents (first, &data, &len, NULL));
    g_assert_true (g_file_set_contents (broken, data, len / 2, NULL));
    g_assert_true (g_file_set_contents (text, "shopping list: eggs, milk\n", -1, NULL));
  }
  {
    g_autoptr(GDir) d = g_dir_open (an_image, 0, NULL);
    const char *name = g_dir_read_name (d);
    g_autofree char *first = g_build_filename (an_image, name, NULL);
    g_free (an_image);
    an_image = g_steal_pointer (&first);
  }

  /* new --from: every skipped file is listed with its reason, then the summary */
  g_assert_cmpint (run_cli (&out, &err, "new", project, "--from", images, NULL), ==, 0);
  lines = g_strsplit (g_strchomp (out), "\n", -1);
  n = g_strv_length (lines);
  g_assert_cmpuint (n, ==, 3);
  g_assert_true (line_matches ("^Skipped .*broken\\.png: corrupt$", lines[0]) ||
                 line_matches ("^Skipped .*broken\\.png: corrupt$", lines[1]));
  g_assert_true (line_matches ("^Skipped .*notes\\.png: not an image$", lines[0]) ||
                 line_matches ("^Skipped .*notes\\.png: not an image$", lines[1]));
  g_assert_cmpstr (lines[2], ==, "Imported 240 images in 4 classes; skipped 2 files (1 corrupt, 1 not an image)");
  g_clear_pointer (&lines, g_strfreev);
  g_free (out); g_free (err);

  g_assert_cmpint (run_cli (&out, &err, "new", project, NULL), ==, 1);
  assert_one_line_error (err);
  g_free (out); g_free (err);

  /* bad settings are refused before anything runs, and not saved */
  g_assert_cmpint (run_cli (&out, &err, "train", project, "--optimizer", "rmsprop", NULL), ==, 2);
  assert_one_line_error (err);
  g_free (out); g_free (err);
  g_assert_cmpint (run_cli (&out, &err, "train", project, "--split", "50/50/50", NULL), ==, 2);
  assert_one_line_error (err);
  g_free (out); g_free (err);

  /* train: plain lines (not a terminal), every epoch reported, the final test accuracy last */
  g_assert_cmpint (run_cli (&out, &err, "train", project, "--preset", "small-cnn", "--size", "32",
                            "--color", "rgb", "--epochs", "4", "--batch-size", "16", "--lr", "0.002",
                            "--seed", "5", "--threads", "2", NULL), ==, 0);
  lines = g_strsplit (g_strchomp (out), "\n", -1);
  n = g_strv_length (lines);
  {
    gboolean epoch_seen[5] = { FALSE };
    for (guint i = 0; i < n; i++)
      {
        int e = 0;
        g_assert_false (strchr (lines[i], '\r') != NULL);
        if (sscanf (lines[i], "Epoch %d/4", &e) == 1)
          {
            g_assert_true (line_matches ("^Epoch [1-4]/4  step [0-9]+/[0-9]+  loss [0-9]+\\.[0-9]{3}  "
                                         "acc [0-9]+\\.[0-9]%(  val_loss [0-9]+\\.[0-9]{3}  val_acc [0-9]+\\.[0-9]%)?"
                                         "  [0-9,]+ img/s  ETA [0-9]+:[0-9]{2}(  \\(best\\))?$", lines[i]));
            g_assert_true (e >= 1 && e <= 4);
            if (strstr (lines[i], "val_loss") != NULL)
              epoch_seen[e] = TRUE;
          }
      }
    for (int e = 1; e <= 4; e++)
      g_assert_true (epoch_seen[e]);
  }
  g_assert_true (line_matches ("^Model saved to .*/models/.*\\.bottega-model$", lines[n - 2]));
  g_assert_true (line_matches ("^Final test accuracy = [0-9]+\\.[0-9]% \\(N=[0-9,]+\\)$", lines[n - 1]));
  model = g_strdup (lines[n - 2] + strlen ("Model saved to "));
  g_clear_pointer (&lines, g_strfreev);
  g_free (out); g_free (err);

  /* the options given were saved to the project */
  p = bt_project_open (project, &error);
  g_assert_no_error (error);
  g_assert_cmpint (bt_project_get_settings (p)->epochs, ==, 4);
  g_assert_cmpint (bt_project_get_settings (p)->batch_size, ==, 16);
  g_assert_cmpint (bt_project_get_settings (p)->width, ==, 32);
  g_assert_cmpstr (bt_project_get_settings (p)->preset, ==, "small-cnn");
  g_assert_true (bt_project_get_settings (p)->seed == 5);
  g_clear_object (&p);

  /* predict: one line per class, most likely first */
  g_assert_cmpint (run_cli (&out, &err, "predict", model, an_image, NULL), ==, 0);
  lines = g_strsplit (g_strchomp (out), "\n", -1);
  g_assert_cmpuint (g_strv_length (lines), ==, 4);
  {
    double prev = 2, sum = 0;
    for (guint i = 0; i < 4; i++)
      {
        char name[64];
        double prob;
        g_assert_true (line_matches ("^(circle|square|triangle|star) [01]\\.[0-9]{8}$", lines[i]));
        g_assert_cmpint (sscanf (lines[i], "%63s %lf", name, &prob), ==, 2);
        g_assert_cmpfloat (prob, <=, prev);
        prev = prob;
        sum += prob;
      }
    g_assert_cmpfloat (fabs (sum - 1), <, 1e-4);
  }
  g_clear_pointer (&lines, g_strfreev);
  g_free (out); g_free (err);

  g_assert_cmpint (run_cli (&out, &err, "predict", "--json", model, an_image, NULL), ==, 0);
  g_assert_true (g_str_has_prefix (out, "["));
  g_assert_nonnull (strstr (out, "\"probability\": "));
  g_assert_nonnull (strstr (out, "\"class\": \"star\""));
  g_assert_true (line_matches ("\"unknown\": (true|false), \"unknown_score\": -?[0-9]+\\.[0-9]{6}(, \"unknown_parts\": "
                               "\\{\"energy\": -?[0-9]+\\.[0-9]{6}, \"distance\": [0-9]+\\.[0-9]{6}\\})?, "
                               "\"below_threshold\": false\\}", out));
  {
    /* a model trained with validation images has class centroids: the score's two parts are shown */
    g_autoptr(BtModel) trained = bt_model_load (model, &error);
    g_assert_no_error (error);
    g_assert_true ((strstr (out, "\"unknown_parts\"") != NULL) == bt_calibration_uses_centroids (&trained->calib));
    g_assert_true ((trained->centroids != NULL) == bt_calibration_uses_centroids (&trained->calib));
  }
  g_free (out); g_free (err);

  /* a threshold saved into the model (the Evaluate page's Save Threshold into Model): predict
   * holds back an answer under it, in text, JSON and CSV alike, and accepts it at or above */
  {
    g_autoptr(BtModel) m = bt_model_load (model, &error);
    g_autofree char *held = g_build_filename (work_dir, "held.bottega-model", NULL);
    g_autofree char *csv_path = g_build_filename (work_dir, "held.csv", NULL);
    g_autofree char *csv = NULL;
    g_autofree float *probs = NULL;
    g_autofree char *expect = NULL;
    int top = 0;

    g_assert_no_error (error);
    probs = bt_predict_file (m, an_image, &error);
    g_assert_no_error (error);
    for (int k = 1; k < 4; k++)
      if (probs[k] > probs[top])
        top = k;
    g_assert_cmpfloat (probs[top], <, 0.995);
    g_assert_true (bt_model_set_threshold (m, top, 0.995, &error));
    g_assert_true (bt_model_save_model (held, m, &error));

    g_assert_cmpint (run_cli (&out, &err, "predict", held, an_image, NULL), ==, 0);
    expect = g_strdup_printf ("\nnot accepted: below the saved threshold for %s (%.0f%%)\n", m->class_names[top],
                              100 * 0.995);
    g_assert_nonnull (strstr (out, expect));
    g_free (out); g_free (err);
    g_assert_cmpint (run_cli (&out, &err, "predict", "--json", held, an_image, NULL), ==, 0);
    g_assert_nonnull (strstr (out, "\"threshold\": 0.995000, \"below_threshold\": true}"));
    g_free (out); g_free (err);
    g_assert_cmpint (run_cli (&out, &err, "info", held, NULL), ==, 0);
    g_free (expect);
    expect = g_strdup_printf ("Thresholds:   %s %.0f%% (answers below", m->class_names[top], 100 * 0.995);
    g_assert_nonnull (strstr (out, expect));
    g_free (out); g_free (err);
    g_assert_cmpint (run_cli (&out, &err, "predict", held, an_image, "--csv", csv_path, NULL), ==, 0);
    g_assert_true (g_file_get_contents (csv_path, &csv, NULL, NULL));
    {
      g_auto(GStrv) rows = g_strsplit (csv, "\r\n", -1);
      g_auto(GStrv) f = g_strsplit (rows[1], ",", -1);
      g_assert_true (g_str_has_prefix (rows[0], "path,top_class,confidence,unknown,unknown_score,below_threshold,"));
      g_assert_cmpstr (f[5], ==, "yes");
    }
    g_free (out); g_free (err);

    /* at or under the answer's probability: accepted, and said so */
    g_assert_true (bt_model_set_threshold (m, top, probs[top] / 2, &error));
    g_assert_true (bt_model_save_model (held, m, &error));
    g_assert_cmpint (run_cli (&out, &err, "predict", "--json", held, an_image, NULL), ==, 0);
    g_assert_nonnull (strstr (out, "\"below_threshold\": false}"));
    g_assert_nonnull (strstr (out, "\"threshold\": "));
    g_free (out); g_free (err);
    g_assert_cmpint (run_cli (&out, &err, "predict", held, an_image, NULL), ==, 0);
    g_assert_null (strstr (out, "not accepted"));
    g_free (out); g_free (err);
  }
  /* without a saved threshold: no "threshold" key, never below one */
  g_assert_cmpint (run_cli (&out, &err, "predict", "--json", model, an_image, NULL), ==, 0);
  g_assert_null (strstr (out, "\"threshold\""));
  g_assert_nonnull (strstr (out, "\"below_threshold\": false}"));
  g_free (out); g_free (err);

  /* the model was calibrated on the validation split: a temperature and an unknown threshold */
  {
    g_autoptr(BtModel) m = bt_model_load (model, &error);
    g_assert_no_error (error);
    g_assert_true (m->calib.temperature >= BT_TEMPERATURE_MIN && m->calib.temperature <= BT_TEMPERATURE_MAX);
    g_assert_true (m->calib.temperature != 1.0);
    g_assert_true (isfinite (m->calib.unknown_threshold));
  }

  /* a corrupt image among good ones: reported, the others still predicted, exit 1 */
  g_assert_cmpint (run_cli (&out, &err, "predict", model, broken, an_image, NULL), ==, 1);
  assert_one_line_error (err);
  g_assert_nonnull (strstr (err, "broken.png"));
  g_assert_cmpuint (count_lines (out), ==, 5);
  g_free (out); g_free (err);

  /* a model file that is not one */
  g_assert_cmpint (run_cli (&out, &err, "info", text, NULL), ==, 1);
  assert_one_line_error (err);
  g_free (out); g_free (err);
  g_assert_cmpint (run_cli (&out, &err, "predict", text, an_image, NULL), ==, 1);
  assert_one_line_error (err);
  g_free (out); g_free (err);

  g_assert_cmpint (run_cli (&out, &err, "info", model, NULL), ==, 0);
  g_assert_nonnull (strstr (out, "Classes (4): "));
  g_assert_nonnull (strstr (out, "triangle"));
  g_assert_nonnull (strstr (out, "Preset:       small-cnn"));
  g_free (out); g_free (err);

  /* evaluate, from the project folder and from the model file */
  g_assert_cmpint (run_cli (&out, &err, "evaluate", project, NULL), ==, 0);
  g_assert_true (line_matches ("Test accuracy = [0-9]+\\.[0-9]% \\(N=[0-9]+\\), loss [0-9.]+", out));
  g_assert_nonnull (strstr (out, "precision"));
  g_free (out); g_free (err);
  g_assert_cmpint (run_cli (&out, &err, "evaluate", model, "--split", "val", NULL), ==, 0);
  g_assert_nonnull (strstr (out, "Validation accuracy = "));
  g_assert_nonnull (strstr (out, "Calibration: temperature "));
  g_free (out); g_free (err);

  /* evaluate --json: the calibration's temperature and the error before and after it */
  g_assert_cmpint (run_cli (&out, &err, "evaluate", model, "--split", "val", "--json", NULL), ==, 0);
  g_assert_true (g_str_has_prefix (out, "{\"model\": "));
  g_assert_true (line_matches ("\"temperature\": [0-9.e+-]+, \"ece_before\": [0-9.e+-]+, \"ece_after\": [0-9.e+-]+", out));
  {
    const char *t = strstr (out, "\"temperature\": ");
    const char *b = strstr (out, "\"ece_before\": ");
    const char *a = strstr (out, "\"ece_after\": ");
    double ece_before = g_ascii_strtod (b + strlen ("\"ece_before\": "), NULL);
    double ece_after = g_ascii_strtod (a + strlen ("\"ece_after\": "), NULL);
    g_assert_cmpfloat (g_ascii_strtod (t + strlen ("\"temperature\": "), NULL), >, 0);
    g_assert_true (ece_before >= 0 && ece_before <= 1 && ece_after >= 0 && ece_after <= 1);
  }
  g_free (out); g_free (err);

  /* add: a folder of class folders, then one image into a named class; an image needs --class */
  {
    g_autofree char *extra = g_build_filename (work_dir, "extra", NULL);
    g_autofree char *extra_images = g_build_filename (extra, "images", NULL);
    g_autofree char *more = g_build_filename (work_dir, "more", NULL);
    g_autofree char *one = NULL;
    guint before;

    {
      g_autoptr(BtProject) made = bt_sample_create_shapes (extra, 5, 32, 9, NULL, &error);
      g_assert_no_error (error);
      g_autoptr(BtProject) made2 = bt_sample_create_shapes (more, 1, 32, 21, NULL, &error);
      g_assert_no_error (error);
      g_autoptr(GListModel) items = g_object_ref (bt_project_get_items (made2));
      g_autoptr(BtItem) item = g_list_model_get_item (items, 0);
      one = g_strdup (bt_item_get_path (item));
    }
    p = bt_project_open (project, &error);
    g_assert_no_error (error);
    before = g_list_model_get_n_items (bt_project_get_items (p));
    g_clear_object (&p);

    g_assert_cmpint (run_cli (&out, &err, "add", project, one, NULL), ==, 2);
    assert_one_line_error (err);
    g_free (out); g_free (err);
    g_assert_cmpint (run_cli (&out, &err, "add", project, extra_images, NULL), ==, 0);
    g_assert_nonnull (strstr (out, "Added 20 images from "));
    g_assert_nonnull (strstr (out, "in 4 classes"));
    g_free (out); g_free (err);
    g_assert_cmpint (run_cli (&out, &err, "add", project, one, "--class", "odd one", NULL), ==, 0);
    g_assert_nonnull (strstr (out, "Added 1 image from "));
    g_free (out); g_free (err);
    /* again: nothing new, and it says why */
    g_assert_cmpint (run_cli (&out, &err, "add", project, extra_images, NULL), ==, 1);
    g_assert_nonnull (strstr (out, "20 were already in the project"));
    g_free (out); g_free (err);

    p = bt_project_open (project, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (g_list_model_get_n_items (bt_project_get_items (p)), ==, before + 21);
    g_assert_cmpstr (bt_item_get_class_name (bt_project_find_item (p, one)), ==, "odd one");
    g_clear_object (&p);

    /* predict FOLDER --csv: every image under it, the Test page's columns */
    {
      g_autofree char *csv_path = g_build_filename (work_dir, "results.csv", NULL);
      g_autofree char *csv = NULL;
      g_auto(GStrv) rows = NULL;

      g_assert_cmpint (run_cli (&out, &err, "predict", model, extra_images, "--csv", csv_path, NULL), ==, 0);
      g_assert_nonnull (strstr (out, "Wrote 20 results to "));
      g_assert_true (g_file_get_contents (csv_path, &csv, NULL, NULL));
      rows = g_strsplit (csv, "\r\n", -1);
      g_assert_cmpuint (g_strv_length (rows), ==, 22);   /* header, 20 rows, the empty tail */
      g_assert_true (g_str_has_prefix (rows[0], "path,top_class,confidence,"));
      g_assert_true (g_str_has_prefix (rows[0], "path,top_class,confidence,unknown,unknown_score,below_threshold,"));
      g_assert_cmpuint (strlen (rows[0]), ==, strlen ("path,top_class,confidence,unknown,unknown_score,below_threshold,circle,square,triangle,star"));
      for (guint i = 1; i <= 20; i++)
        {
          g_auto(GStrv) f = g_strsplit (rows[i], ",", -1);
          g_assert_cmpuint (g_strv_length (f), ==, 10);
          g_assert_true (g_str_has_prefix (f[0], extra_images));
          g_assert_nonnull (strstr ("circle square triangle star", f[1]));
          /* the unknown column: "yes" or "no" with a finite score */
          g_assert_true (g_str_equal (f[3], "yes") || g_str_equal (f[3], "no"));
          g_assert_true (isfinite (g_ascii_strtod (f[4], NULL)) && f[4][0] != '\0');
          g_assert_cmpstr (f[5], ==, "no");   /* this model has no saved threshold */
          g_assert_cmpfloat (fabs (g_ascii_strtod (f[2], NULL) - MAX (MAX (g_ascii_strtod (f[6], NULL), g_ascii_strtod (f[7], NULL)),
                                                                      MAX (g_ascii_strtod (f[8], NULL), g_ascii_strtod (f[9], NULL)))), <, 1e-6);
        }
      g_assert_cmpstr (rows[21], ==, "");
    }
  }
}


static guint
count_substr (const char *s, const char *needle)
{
  guint n = 0;
  for (const char *p = s; (p = strstr (p, needle)) != NULL; p += strlen (needle))
    n++;
  return n;
}

/* The newest runs/ folder that holds a config.ini, or NULL. */
static char *
newest_run (const char *project)
{
  g_autofree char *runs = g_build_filename (project, "runs", NULL);
  g_autoptr(GDir) d = g_dir_open (runs, 0, NULL);
  g_autofree char *best = NULL;
  const char *name;

  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *config = g_build_filename (runs, name, "config.ini", NULL);
      if (g_file_test (config, G_FILE_TEST_IS_REGULAR) && (best == NULL || strcmp (name, best) > 0))
        {
          g_free (best);
          best = g_strdup (name);
        }
    }
  return g_steal_pointer (&best);
}

/* newest_run when it is not older, or NULL. */
static char *
run_newer_than (const char *project, const char *older)
{
  g_autofree char *r = newest_run (project);
  return g_strcmp0 (r, older) != 0 ? g_steal_pointer (&r) : NULL;
}

/* #21 and #26 hole 4: the verdict is printed once; "Resume with" names the run and appears only
 * when it has a checkpoint; --resume takes the newest run or a named one, never an older run. */
static void
test_verdict_and_resume (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *sample = g_build_filename (work_dir, "vr-sample", NULL);
  g_autofree char *images = g_build_filename (sample, "images", NULL);
  g_autofree char *project = g_build_filename (work_dir, "vr", NULL);
  g_autofree char *out = NULL, *err = NULL, *both = NULL;
  g_autofree char *first_run = NULL;
  g_autofree char *stopped_run = NULL;
  int status;

  {
    g_autoptr(BtProject) made = bt_sample_create_shapes (sample, 30, 32, 3, NULL, &error);
    g_assert_no_error (error);
  }
  g_assert_cmpint (run_cli (&out, &err, "new", project, "--from", images, NULL), ==, 0);
  g_free (out); g_free (err);

  /* learning rate 10: the diverged verdict, once, with the rate to try */
  status = run_cli (&out, &err, "train", project, "--preset", "small-cnn", "--size", "32", "--epochs", "3",
                    "--batch-size", "16", "--lr", "10", "--threads", "2", NULL);
  g_assert_true (status == 0 || status == 1);
  both = g_strconcat (out, err, NULL);
  g_assert_cmpuint (count_substr (both, "Verdict: Training diverged"), ==, 1);
  g_assert_cmpuint (count_substr (both, "Suggestion: Try learning rate 0.001"), ==, 1);
  g_assert_cmpuint (count_substr (both, "Training diverged at epoch"), <=, 1);
  g_free (out); g_free (err); g_clear_pointer (&both, g_free);
  first_run = newest_run (project);
  g_assert_nonnull (first_run);

  /* a finished run is not resumed, and says so by name */
  g_assert_cmpint (run_cli (&out, &err, "train", project, "--resume", first_run, NULL), ==, 1);
  assert_one_line_error (err);
  g_assert_nonnull (strstr (err, first_run));
  g_free (out); g_free (err);

  /* a run interrupted in its first epoch: no hint, and no older run resumed in its place */
  {
    g_autofree char *deadline_run = NULL;
    const char *argv[] = { cli_path, "train", project, "--preset", "deeper-cnn", "--size", "96",
                           "--epochs", "50", "--lr", "0.001", "--threads", "1", NULL };
    g_auto(GStrv) envp = g_environ_setenv (g_get_environ (), "LC_ALL", "C.UTF-8", TRUE);
    GPid pid;
    int out_fd, err_fd, wait_status = 0;

    g_assert_true (g_spawn_async_with_pipes (work_dir, (char **) argv, envp, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
                                             &pid, NULL, &out_fd, &err_fd, &error));
    g_assert_no_error (error);
    /* stop it as soon as its run folder is there: long before its first epoch ends */
    BT_TEST_WAIT ((stopped_run = run_newer_than (project, first_run)) != NULL);
    kill (pid, SIGINT);
    waitpid (pid, &wait_status, 0);
    g_spawn_close_pid (pid);
    {
      g_autoptr(GIOChannel) ch = g_io_channel_unix_new (err_fd);
      g_io_channel_read_to_end (ch, &err, NULL, NULL);
      g_io_channel_set_close_on_unref (ch, TRUE);
    }
    close (out_fd);
    g_test_message ("stopped run stderr:\n%s", err);
    g_assert_true (WIFEXITED (wait_status));
    g_assert_cmpint (WEXITSTATUS (wait_status), ==, 130);
    g_assert_null (strstr (err, "Resume with"));
    g_assert_nonnull (strstr (err, "nothing to resume"));
    g_free (err);
  }
  g_assert_cmpint (run_cli (&out, &err, "train", project, "--resume", NULL), ==, 1);
  assert_one_line_error (err);
  g_assert_nonnull (strstr (err, stopped_run));
  g_assert_nonnull (strstr (err, "checkpoint"));
}

int
main (int argc, char **argv)
{
  int status;

  g_test_init (&argc, &argv, NULL);
  if (!bt_test_cli_init ("bottega-cli-XXXXXX", &cli_path, &work_dir))
    return 0;

  g_test_add_func ("/cli/usage-errors", test_usage_errors);
  g_test_add_func ("/cli/end-to-end", test_end_to_end);
  g_test_add_func ("/cli/verdict-and-resume", test_verdict_and_resume);
  status = g_test_run ();
  bt_test_rm_rf (work_dir);
  return status;
}
