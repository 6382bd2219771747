/* test-cli-tune.c: `bottega-cli tune` prints one line per finished trial and then the
 * leaderboard, saves runs/tune-*, resumes an unfinished search; `bottega-cli cv` prints each
 * fold and mean ± std; bad options are usage errors (exit 2); both say how far reading the photos
 * is before the first trial or fold. On a transfer project both train heads on the cached
 * embeddings of the project's backbone (a later cv computes none). */
#include "config.h"

#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset/bt-dataset.h"
#include "training/bt-tune.h"
#include "bt-test-photos.h"
#include "../training/bt-test-tune-util.h"

static char *cli_path, *project_dir;

G_GNUC_NULL_TERMINATED static int
run_cli (char **out, ...)
{
  g_autoptr (GPtrArray) args = g_ptr_array_new ();
  g_ptr_array_add (args, cli_path);
  va_list ap;
  va_start (ap, out);
  const char *a;
  while ((a = va_arg (ap, const char *)) != NULL)
    g_ptr_array_add (args, (char *) a);
  va_end (ap);
  g_ptr_array_add (args, NULL);
  g_auto (GStrv) envp = g_environ_setenv (g_get_environ (), "LANGUAGE", "C", TRUE);
  envp = g_environ_setenv (envp, "LC_ALL", "C.UTF-8", TRUE);
  g_autofree char *err = NULL;
  int status = 0;
  g_autoptr (GError) error = NULL;
  g_assert_true (g_spawn_sync (NULL, (char **) args->pdata, envp, G_SPAWN_DEFAULT, NULL, NULL, out, &err,
                               &status, &error));
  g_assert_no_error (error);
  if (err && *err)
    g_test_message ("stderr: %s", err);
  return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

static guint
count_lines_with (const char *text, const char *prefix)
{
  guint n = 0;
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i]; i++)
    n += g_str_has_prefix (lines[i], prefix);
  return n;
}

/* The lines saying how far reading the photos is ("Preparing: reading photos 12 of 40…"): how
 * many came before the first line starting with `first`, the last of them ending at all of them
 * read, and none after it. */
static guint
prepare_lines_before (const char *text, const char *first)
{
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  guint n = 0, at = 0;
  gboolean seen_first = FALSE;
  const char *last = NULL;
  for (guint i = 0; lines[i]; i++)
    {
      seen_first |= g_str_has_prefix (lines[i], first);
      if (!g_str_has_prefix (lines[i], "Preparing: reading photos"))
        continue;
      g_assert_false (seen_first);
      n++;
      last = lines[i];
      at = i;
    }
  if (last != NULL)
    {
      guint done = 0, total = 0;
      const char *nums = last + strcspn (last, "0123456789");
      g_assert_cmpint (sscanf (nums, "%u of %u", &done, &total), ==, 2);
      g_test_message ("line %u: %s", at, last);
      g_assert_cmpuint (total, >, 0);
      g_assert_cmpuint (done, ==, total);
    }
  return n;
}

/* The "trial N" lines of a tune's output. */
static GPtrArray *
trial_lines (const char *text)
{
  GPtrArray *out = g_ptr_array_new_with_free_func (g_free);
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i]; i++)
    if (g_str_has_prefix (lines[i], "trial "))
      g_ptr_array_add (out, g_strdup (lines[i]));
  return out;
}

static void
test_tune (void)
{
  g_autofree char *out = NULL;
  int rc = run_cli (&out, "tune", project_dir, "--strategy", "random", "--trials", "3", "--epochs", "1",
                    "--seed", "4", NULL);
  g_assert_cmpint (rc, ==, 0);
  g_test_message ("%s", out);
  g_assert_cmpuint (count_lines_with (out, "trial "), ==, 3);
  g_assert_nonnull (strstr (out, "validation accuracy"));
  g_assert_nonnull (strstr (out, "Leaderboard"));
  g_assert_nonnull (strstr (out, " 3. "));
  g_assert_null (strstr (out, " 4. "));
  /* trial 1 is the project's own settings */
  g_assert_nonnull (strstr (out, "trial 1 (rung 0, 1 epochs): small-cnn, adam, lr 0.001, batch 32"));
  /* before it, the photos read once, as the Search window says it */
  g_assert_cmpuint (prepare_lines_before (out, "trial "), >, 0);

  /* the same seed again: the same lines */
  g_autofree char *again = NULL;
  g_assert_cmpint (run_cli (&again, "tune", project_dir, "--strategy", "random", "--trials", "3", "--epochs", "1",
                            "--seed", "4", NULL), ==, 0);
  g_autoptr (GPtrArray) a = trial_lines (out), b = trial_lines (again);
  g_assert_cmpuint (a->len, ==, 3);
  g_assert_cmpuint (b->len, ==, 3);
  for (guint i = 0; i < 3; i++)
    {
      /* drop the time at the end of the line */
      char *ta = strrchr (a->pdata[i], ','), *tb = strrchr (b->pdata[i], ',');
      g_assert_nonnull (ta);
      g_assert_nonnull (tb);
      *ta = *tb = '\0';
      g_assert_cmpstr (a->pdata[i], ==, b->pdata[i]);
    }

  g_autofree char *none = NULL;
  g_assert_cmpint (run_cli (&none, "tune", project_dir, "--resume", NULL), ==, 1);   /* all finished */
  g_autofree char *bad = NULL;
  g_assert_cmpint (run_cli (&bad, "tune", project_dir, "--strategy", "magic", NULL), ==, 2);
  g_clear_pointer (&bad, g_free);
  g_assert_cmpint (run_cli (&bad, "tune", NULL), ==, 2);
  g_clear_pointer (&bad, g_free);
  g_assert_cmpint (run_cli (&bad, "tune", "/nonexistent/project", NULL), ==, 1);
}

static void
test_cv (void)
{
  g_autofree char *out = NULL;
  g_assert_cmpint (run_cli (&out, "cv", project_dir, "--k", "3", "--epochs", "1", NULL), ==, 0);
  g_test_message ("%s", out);
  g_assert_cmpuint (count_lines_with (out, "fold "), ==, 3);
  g_assert_nonnull (strstr (out, "3-fold validation accuracy: "));
  g_assert_nonnull (strstr (out, "±"));
  g_assert_cmpuint (prepare_lines_before (out, "fold "), >, 0);
  g_autofree char *bad = NULL;
  g_assert_cmpint (run_cli (&bad, "cv", project_dir, "--k", "11", NULL), ==, 1);
}

static const char *const photos[3][2] = { { "cat", "cat_720p.jpg" }, { "owl", "owl.jpg" }, { "sunflower", "sunflower.bmp" } };

/* The validation accuracies (in %) of the "trial N" lines of a tune's output. */
static GArray *
trial_accuracies (const char *out)
{
  GArray *acc = g_array_new (FALSE, FALSE, sizeof (double));
  g_auto (GStrv) lines = g_strsplit (out, "\n", -1);
  for (guint i = 0; lines[i]; i++)
    {
      const char *a = strstr (lines[i], "validation accuracy ");
      if (g_str_has_prefix (lines[i], "trial ") && a != NULL)
        {
          double v = g_ascii_strtod (a + strlen ("validation accuracy "), NULL);
          g_array_append_val (acc, v);
        }
    }
  return acc;
}

/* A transfer project (3 classes × 8 crops of the shared photos, half of them validation) whose
 * chosen backbone is MobileNet V1 0.25/128: tune tries heads on its cached embeddings, and a
 * try's settings applied keep the preset; cv gives k folds of its own settings. */
static void
test_transfer (void)
{
  g_autofree char *backbone = bt_test_shared_file ("models", "mobilenet_v1_0.25_128_quant.tflite");
  g_autofree char *tmp = g_path_get_dirname (project_dir);
  g_autofree char *from = g_build_filename (tmp, "photos", NULL);
  g_autofree char *dir = g_build_filename (tmp, "transfer", NULL);
  g_autofree char *out = NULL;
  g_autoptr (GError) error = NULL;

  if (backbone == NULL)
    {
      g_test_skip ("MobileNet V1 0.25/128 not found: set BOTTEGA_SHARED_DIR to the folder holding models/");
      return;
    }
  if (!bt_test_make_class_crops (from, photos, G_N_ELEMENTS (photos), 8, 5))
    return;
  g_assert_cmpint (run_cli (&out, "new", dir, "--from", from, NULL), ==, 0);
  {
    g_autoptr (BtProject) p = bt_project_open (dir, &error);
    g_assert_no_error (error);
    bt_test_tune_make_transfer (p);
    g_assert_true (bt_project_flush (p, &error));
    g_assert_no_error (error);
  }
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (run_cli (&out, "backbones", "use", dir, backbone, NULL), ==, 0);

  g_clear_pointer (&out, g_free);
  g_assert_cmpint (run_cli (&out, "tune", dir, "--trials", "4", "--epochs", "6", "--seed", "2", NULL), ==, 0);
  g_test_message ("%s", out);
  g_assert_nonnull (strstr (out, "only the head, on the embeddings of mobilenet_v1_0.25_128_quant.tflite"));
  g_assert_nonnull (strstr (out, "fine-tuning stays off"));
  g_assert_null (strstr (out, "cannot"));
  /* a cold search: the embeddings computed, and said so, before the first trial */
  g_assert_cmpuint (prepare_lines_before (out, "trial "), >, 0);
  g_assert_cmpuint (count_lines_with (out, "trial "), ==, 4);
  g_assert_cmpuint (count_lines_with (out, "trial 2 (rung 0, 6 epochs): transfer, adam"), ==, 1);
  g_assert_nonnull (strstr (out, "hidden "));
  g_assert_nonnull (strstr (out, "smoothing "));
  /* the settings tried make a difference */
  g_autoptr (GArray) acc = trial_accuracies (out);
  g_assert_cmpuint (acc->len, ==, 4);
  gboolean differ = FALSE;
  for (guint i = 1; i < acc->len; i++)
    differ |= g_array_index (acc, double, i) != g_array_index (acc, double, 0);
  g_assert_true (differ);
  /* the embeddings went to the cache training reads */
  g_autofree char *emb_cache = g_build_filename (dir, "cache", "embeddings", NULL);
  g_assert_true (g_file_test (emb_cache, G_FILE_TEST_IS_DIR));

  /* trials.csv has every try, with the head's rows; the best one applied keeps the preset */
  g_autoptr (BtTuneSearch) search = NULL;
  {
    g_autofree char *found = bt_tune_find_latest (dir);
    g_assert_nonnull (found);
    g_autofree char *csv_path = g_build_filename (found, "trials.csv", NULL);
    g_autofree char *csv = NULL;
    g_assert_true (g_file_get_contents (csv_path, &csv, NULL, NULL));
    g_auto (GStrv) rows = g_strsplit (csv, "\n", -1);
    g_assert_true (g_str_has_suffix (rows[0], ",label_smoothing,hidden"));
    g_assert_cmpuint (count_lines_with (csv, "3,3,0,6,transfer,"), ==, 1);
    search = bt_tune_search_open (found, &error);
    g_assert_no_error (error);
  }
  g_autoptr (GPtrArray) board = bt_tune_search_leaderboard (search);
  g_assert_cmpuint (board->len, ==, 4);
  const BtTuneTrial *best = g_ptr_array_index (board, 0);
  BtProjectSettings s;
  bt_project_settings_init (&s);
  bt_tune_trial_apply (best, &s);
  g_assert_cmpstr (s.preset, ==, "transfer");
  g_assert_cmpint (s.transfer_hidden, ==, best->hidden);
  g_assert_cmpfloat (s.label_smoothing, ==, best->label_smoothing);
  g_assert_cmpfloat (s.learning_rate, ==, best->learning_rate);
  g_assert_cmpint (s.epochs, ==, best->best_epoch);
  g_assert_cmpstr (s.recipe, ==, "manual");
  bt_project_settings_clear (&s);

  g_clear_pointer (&out, g_free);
  g_assert_cmpint (run_cli (&out, "cv", dir, "--k", "3", "--epochs", "6", NULL), ==, 0);
  g_test_message ("%s", out);
  g_assert_nonnull (strstr (out, "fine-tuning stays off"));
  g_assert_cmpuint (prepare_lines_before (out, "fold "), ==, 0);   /* warm: the search's embeddings */
  g_assert_cmpuint (count_lines_with (out, "fold "), ==, 3);
  g_assert_nonnull (strstr (out, "3-fold validation accuracy: "));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  const char *build = g_getenv ("BOTTEGA_BUILD_ROOT");
  if (build == NULL)
    {
      g_test_skip ("BOTTEGA_BUILD_ROOT is not set; run through meson test");
      return g_test_run ();
    }
  cli_path = g_build_filename (build, "src", "cli", "bottega-cli", NULL);
  g_autoptr (GError) error = NULL;
  g_autofree char *tmp = g_dir_make_tmp ("bt-cli-tune-XXXXXX", &error);
  g_assert_no_error (error);
  project_dir = g_build_filename (tmp, "shapes", NULL);
  {
    g_autoptr (BtProject) p = bt_sample_create_shapes (project_dir, 10, 32, 2, NULL, &error);
    g_assert_no_error (error);
    BtProjectSettings s;
    bt_project_settings_copy (&s, bt_project_get_settings (p));
    s.width = s.height = 32;
    s.channels = 1;
    s.split_train = 60;
    s.split_val = 25;
    s.split_test = 15;
    g_assert_true (bt_project_update_settings (p, &s, &error));
    bt_project_settings_clear (&s);
  }
  g_test_add_func ("/cli/tune", test_tune);
  g_test_add_func ("/cli/cv", test_cv);
  g_test_add_func ("/cli/tune-cv-transfer", test_transfer);
  int rc = g_test_run ();
  g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", tmp);
  (void) !system (cmd);
  g_free (cli_path);
  g_free (project_dir);
  return rc;
}
