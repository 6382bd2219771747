/* test-settings.c: every row of the settings table (src/dataset/bt-settings.c), walked: the
 * defaults load; a value out of range (nan and inf for every float) is refused with the same
 * message by bottega-cli's options, by a project.ini and by a run's config.ini; a value saved
 * by the CLI is read back from project.ini, a run's config.ini and the PyTorch export's
 * config.json. The Model page's side is in tests/app/test-model-page.c. */
#include "config.h"

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "engine/bt-onnx.h"
#include "training/bt-export-pytorch.h"
#include "training/bt-training-private.h"
#include "bt-test-cli.h"
#include "bt-test-fs.h"

static char *cli_path;
static char *work_dir;

/* Runs bottega-cli with args (NULL-terminated); returns its exit status, stderr in *err. */
static int
run_cli (const char * const *args, char **err)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) envp = g_environ_setenv (g_get_environ (), "LC_ALL", "C.UTF-8", TRUE);
  g_autofree char *out = NULL;
  int wait_status = 0;

  g_ptr_array_add (argv, cli_path);
  for (guint i = 0; args[i]; i++)
    g_ptr_array_add (argv, (char *) args[i]);
  g_ptr_array_add (argv, NULL);
  g_assert_true (g_spawn_sync (work_dir, (char **) argv->pdata, envp, G_SPAWN_DEFAULT, NULL, NULL,
                               &out, err, &wait_status, &error));
  g_assert_no_error (error);
  g_autofree char *line = g_strjoinv (" ", (char **) argv->pdata + 1);
  g_test_message ("$ bottega-cli %s\n%s", line, *err);
  g_assert_true (WIFEXITED (wait_status));
  return WEXITSTATUS (wait_status);
}

static char *
new_project (const char *name)
{
  g_autoptr(GError) error = NULL;
  char *dir = g_build_filename (work_dir, name, NULL);
  g_autoptr(BtProject) p = bt_project_create (dir, name, &error);
  g_assert_no_error (error);
  return dir;
}

/* The CLI option that sets a row directly, or NULL (composite options: --size, --split, …). */
static const char *
cli_option (const BtSettingInfo *row)
{
  static const char *map[][2] = {
    { "resize", "--resize" }, { "epochs", "--epochs" }, { "batch-size", "--batch-size" },
    { "optimizer", "--optimizer" }, { "learning-rate", "--lr" }, { "schedule", "--schedule" },
    { "weight-decay", "--weight-decay" }, { "dropout", "--dropout" }, { "label-smoothing", "--label-smoothing" },
    { "early-stopping-patience", "--early-stopping" }, { "early-stopping-monitor", "--monitor" },
    { "early-stopping-min-delta", "--min-delta" }, { "seed", "--seed" }, { "transfer-hidden", "--hidden" },
    { "finetune-blocks", "--finetune-blocks" },
    { "recipe", "--recipe" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (map); i++)
    if (bt_settings_find (map[i][0]) == row)
      return map[i][1];
  return NULL;
}

static void
test_defaults (void)
{
  guint n;
  const BtSettingInfo *rows = bt_settings_table (&n);
  BtProjectSettings s;
  g_autoptr(GError) error = NULL;

  g_assert_cmpuint (n, >=, 28);
  bt_project_settings_init (&s);
  g_assert_true (bt_project_settings_validate (&s, &error));
  g_assert_no_error (error);

  g_autofree char *dir = new_project ("defaults");
  g_autoptr(BtProject) p = bt_project_open (dir, &error);
  g_assert_no_error (error);
  g_autofree char *ini_path = g_build_filename (dir, "project.ini", NULL);
  g_autoptr(GKeyFile) ini = g_key_file_new ();
  g_assert_true (g_key_file_load_from_file (ini, ini_path, G_KEY_FILE_NONE, NULL));

  for (guint i = 0; i < n; i++)
    {
      const BtSettingInfo *row = &rows[i];
      g_autofree char *v = bt_setting_to_string (row, &s);
      g_autofree char *opened = bt_setting_to_string (row, bt_project_get_settings (p));
      g_autofree char *on_disk = g_key_file_get_string (ini, row->group, row->key, NULL);
      g_test_message ("%s = %s", row->key, v);
      g_assert_true (bt_settings_find (row->key) == row && bt_settings_find (row->run_key) == row);
      if (row->def_id != NULL)
        g_assert_cmpstr (v, ==, row->def_id);
      else
        g_assert_cmpfloat (bt_setting_get_number (row, &s), ==, row->def);
      g_assert_cmpstr (opened, ==, v);
      g_assert_cmpstr (on_disk, ==, v);
      if (row->type != BT_SETTING_STRING && row->type != BT_SETTING_CHOICE && row->type != BT_SETTING_ENUM &&
          row->type != BT_SETTING_BOOL)
        g_assert_true (row->def >= row->min && row->def <= row->max && row->step > 0 && row->page >= row->step);
    }

  /* the engine knows every optimizer and schedule id the table allows, in the same order */
  const BtSettingInfo *opt = bt_settings_find ("optimizer"), *sched = bt_settings_find ("schedule");
  for (guint i = 0; opt->ids[i]; i++)
    {
      BtOptimizerKind k;
      g_assert_true (bt_optimizer_kind_from_id (opt->ids[i], &k));
      g_assert_cmpuint (k, ==, i);
    }
  for (guint i = 0; sched->ids[i]; i++)
    {
      BtScheduleKind k;
      g_assert_true (bt_schedule_kind_from_id (sched->ids[i], &k));
      g_assert_cmpuint (k, ==, i);
    }
  bt_project_settings_clear (&s);
}

/* Texts a row must refuse. */
static GPtrArray *
bad_values (const BtSettingInfo *row)
{
  GPtrArray *bad = g_ptr_array_new_with_free_func (g_free);
  char buf[G_ASCII_DTOSTR_BUF_SIZE];
  switch (row->type)
    {
    case BT_SETTING_INT:
      g_ptr_array_add (bad, g_strdup_printf ("%.0f", row->min - 1));
      g_ptr_array_add (bad, g_strdup_printf ("%.0f", row->max + 1));
      g_ptr_array_add (bad, g_strdup ("many"));
      break;
    case BT_SETTING_DOUBLE:
      g_ptr_array_add (bad, g_strdup ("nan"));
      g_ptr_array_add (bad, g_strdup ("inf"));
      g_ptr_array_add (bad, g_strdup ("-inf"));
      g_ptr_array_add (bad, g_strdup (g_ascii_dtostr (buf, sizeof buf, row->min - fabs (row->min) - 1)));
      g_ptr_array_add (bad, g_strdup (g_ascii_dtostr (buf, sizeof buf, row->max + 1)));
      break;
    case BT_SETTING_UINT64:
      g_ptr_array_add (bad, g_strdup ("-1"));
      break;
    case BT_SETTING_BOOL:
      g_ptr_array_add (bad, g_strdup ("maybe"));
      break;
    case BT_SETTING_CHOICE:
    case BT_SETTING_ENUM:
      g_ptr_array_add (bad, g_strdup ("bogus"));
      break;
    case BT_SETTING_STRING:
    default:
      g_ptr_array_add (bad, g_strdup (""));
      break;
    }
  return bad;
}

static void
test_refused (void)
{
  guint n;
  const BtSettingInfo *rows = bt_settings_table (&n);
  g_autofree char *dir = new_project ("refused");
  g_autofree char *ini_path = g_build_filename (dir, "project.ini", NULL);
  g_autofree char *good_ini = NULL;
  guint n_cli = 0;

  g_assert_true (g_file_get_contents (ini_path, &good_ini, NULL, NULL));
  for (guint i = 0; i < n; i++)
    {
      const BtSettingInfo *row = &rows[i];
      g_autoptr(GPtrArray) bad = bad_values (row);
      for (guint b = 0; b < bad->len; b++)
        {
          const char *text = bad->pdata[b];
          g_autoptr(GError) expected = NULL, from_ini = NULL, from_run = NULL;
          BtProjectSettings s;

          /* the table's own word */
          bt_project_settings_init (&s);
          g_assert_false (bt_setting_parse (row, &s, text, &expected));
          g_assert_error (expected, BT_DATASET_ERROR, BT_DATASET_ERROR_INVALID);
          g_test_message ("%s = “%s”: %s", row->key, text, expected->message);

          /* a project.ini that holds it */
          {
            g_autoptr(GKeyFile) kf = g_key_file_new ();
            g_assert_true (g_key_file_load_from_data (kf, good_ini, -1, G_KEY_FILE_NONE, NULL));
            g_key_file_set_string (kf, row->group, row->key, text);
            g_autofree char *data = g_key_file_to_data (kf, NULL, NULL);
            g_assert_true (g_file_set_contents (ini_path, data, -1, NULL));
            g_autoptr(BtProject) p = bt_project_open (dir, &from_ini);
            g_assert_null (p);
            g_assert_nonnull (from_ini);
            g_assert_nonnull (strstr (from_ini->message, expected->message));
            g_assert_true (g_file_set_contents (ini_path, good_ini, -1, NULL));
          }

          /* a run's config.ini that holds it */
          {
            g_autoptr(GKeyFile) kf = bt_settings_to_key_file (&s);
            g_key_file_set_string (kf, "training", row->run_key, text);
            BtProjectSettings r;
            g_assert_false (bt_settings_from_key_file (&r, kf, &from_run));
            g_assert_nonnull (strstr (from_run->message, expected->message));
          }

          /* the command line, before anything runs; nothing is saved */
          const char *option = cli_option (row);
          g_autofree char *arg = NULL;
          if (option != NULL)
            arg = g_strdup_printf ("%s=%s", option, text);
          else if (row == bt_settings_find ("width") && g_ascii_isdigit (text[0]))
            arg = g_strdup_printf ("--size=%sx64", text);
          else if (row == bt_settings_find ("height") && g_ascii_isdigit (text[0]))
            arg = g_strdup_printf ("--size=64x%s", text);
          if (arg != NULL)
            {
              g_autofree char *err = NULL, *after = NULL;
              g_assert_cmpint (run_cli ((const char *[]) { "train", dir, arg, NULL }, &err), ==, 2);
              g_assert_true (g_str_has_prefix (err, "bottega-cli: train: "));
              g_assert_nonnull (strstr (err, expected->message));
              g_assert_true (g_file_get_contents (ini_path, &after, NULL, NULL));
              g_assert_cmpstr (after, ==, good_ini);
              n_cli++;
            }
          bt_project_settings_clear (&s);
        }
    }
  g_assert_cmpuint (n_cli, >=, 30);

  /* the limit that was two: 8000 images a batch is refused at once, 4096 is kept and trains */
  {
    g_autofree char *err = NULL;
    g_assert_cmpint (run_cli ((const char *[]) { "train", dir, "--batch-size", "8000", NULL }, &err), ==, 2);
    g_assert_nonnull (strstr (err, "Batch size must be between 1 and 4096 (got 8000)"));
    g_clear_pointer (&err, g_free);
    /* an empty project: saved, then "needs at least two classes" */
    g_assert_cmpint (run_cli ((const char *[]) { "train", dir, "--batch-size", "4096", NULL }, &err), ==, 1);
    g_autoptr(GError) error = NULL;
    g_autoptr(BtProject) p = bt_project_open (dir, &error);
    g_assert_no_error (error);
    g_assert_cmpint (bt_project_get_settings (p)->batch_size, ==, 4096);
    g_assert_true (bt_settings_validate (bt_project_get_settings (p), &error));
    g_assert_no_error (error);
  }
}

/* A valid value other than the default, as text. */
static char *
other_value (const BtSettingInfo *row)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE];
  if (g_str_equal (row->group, "split") && row->type == BT_SETTING_INT)
    return g_strdup (g_str_equal (row->key, "train") ? "70" : g_str_equal (row->key, "val") ? "20" : "10");
  switch (row->type)
    {
    case BT_SETTING_INT:
      return g_strdup_printf ("%.0f", row->min + floor ((row->max - row->min) / 3) + (row->def == row->min));
    case BT_SETTING_DOUBLE:
      return g_strdup (g_ascii_dtostr (buf, sizeof buf, row->min + (row->max - row->min) * 0.37));
    case BT_SETTING_UINT64:
      return g_strdup ("1099511627783");
    case BT_SETTING_BOOL:
      return g_strdup (row->def != 0 ? "false" : "true");
    case BT_SETTING_CHOICE:
    case BT_SETTING_ENUM:
      for (guint i = 0; row->ids[i]; i++)
        if (!g_str_equal (row->ids[i], row->def_id))
          return g_strdup (row->ids[i]);
      g_assert_not_reached ();
    case BT_SETTING_STRING:
    default:
      return g_strdup ("mlp");
    }
}

static void
test_round_trip (void)
{
  guint n;
  const BtSettingInfo *rows = bt_settings_table (&n);
  g_autofree char *dir = new_project ("round-trip");
  g_autoptr(GPtrArray) args = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GString) augment = g_string_new ("none");
  BtProjectSettings want;
  guint n_set = 0;

  /* every row through the command line: its own option or a composite one */
  bt_project_settings_init (&want);
  g_ptr_array_add (args, g_strdup ("train"));
  g_ptr_array_add (args, g_strdup (dir));
  for (guint i = 0; i < n; i++)
    {
      const BtSettingInfo *row = &rows[i];
      g_autofree char *v = NULL;
      if (row == bt_settings_find ("transfer-backbone"))
        continue;  /* `bottega-cli backbones use DIR NAME` sets it (test-backbones checks it); train's
                    * --backbone is for one run only */
      v = other_value (row);
      g_assert_true (bt_setting_parse (row, &want, v, NULL));
      if (cli_option (row))
        g_ptr_array_add (args, g_strdup_printf ("%s=%s", cli_option (row), v));
      else if (g_str_equal (row->key, "preset"))
        g_ptr_array_add (args, g_strdup_printf ("--preset=%s", v));
      else if (g_str_equal (row->key, "color-mode"))
        g_ptr_array_add (args, g_strdup_printf ("--color=%s", g_str_equal (v, "grayscale") ? "grey" : v));
      else if (g_str_equal (row->group, "augment"))
        g_string_append_printf (augment, ",%s", row->key);
      else if (row->type == BT_SETTING_BOOL)
        g_ptr_array_add (args, g_strdup_printf ("--%s%s", g_str_equal (v, "true") ? "" : "no-",
                                                g_str_equal (row->group, "transfer") ? row->key : row->run_key));
      else if (g_str_equal (row->key, "width") || g_str_equal (row->group, "split"))
        continue;  /* below, with their partners */
      else if (!g_str_equal (row->key, "height"))
        g_assert_not_reached ();  /* a new row: give it a way in from the command line */
      n_set++;
    }
  g_ptr_array_add (args, g_strdup_printf ("--size=%dx%d", want.width, want.height));
  g_ptr_array_add (args, g_strdup_printf ("--split=%d/%d/%d", want.split_train, want.split_val, want.split_test));
  g_ptr_array_add (args, g_strdup_printf ("--augment=%s", augment->str));
  g_ptr_array_add (args, NULL);
  g_assert_cmpuint (n_set, ==, n - 5);
  g_assert_true (bt_project_settings_validate (&want, NULL));

  /* an empty project: the settings are saved, then training says it needs classes */
  g_autofree char *err = NULL;
  g_assert_cmpint (run_cli ((const char * const *) args->pdata, &err), ==, 1);
  g_assert_nonnull (strstr (err, "class"));

  /* project.ini */
  g_autoptr(GError) error = NULL;
  g_autoptr(BtProject) p = bt_project_open (dir, &error);
  g_assert_no_error (error);
  const BtProjectSettings *got = bt_project_get_settings (p);
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *a = bt_setting_to_string (&rows[i], &want), *b = bt_setting_to_string (&rows[i], got);
      g_test_message ("%s: %s", rows[i].key, b);
      g_assert_cmpstr (b, ==, a);
    }
  g_assert_true (bt_project_settings_equal (got, &want));

  /* a run's config.ini, through its text */
  {
    g_autoptr(GKeyFile) kf = bt_settings_to_key_file (got);
    g_autoptr(GKeyFile) back = g_key_file_new ();
    g_autofree char *data = g_key_file_to_data (kf, NULL, NULL);
    BtProjectSettings r;
    g_assert_true (g_key_file_load_from_data (back, data, -1, G_KEY_FILE_NONE, NULL));
    g_assert_true (bt_settings_from_key_file (&r, back, &error));
    g_assert_no_error (error);
    g_assert_true (bt_project_settings_equal (&r, &want));
    bt_project_settings_clear (&r);

    /* a config.ini from before the table: "channels" for the colour mode, no transfer keys */
    g_assert_true (g_key_file_remove_key (back, "training", "color-mode", NULL));
    g_key_file_set_integer (back, "training", "channels", 3);
    g_assert_true (g_key_file_remove_key (back, "training", "transfer-hidden", NULL));
    g_assert_true (g_key_file_remove_key (back, "training", "transfer-whole-network", NULL));
    g_assert_true (bt_settings_from_key_file (&r, back, &error));
    g_assert_no_error (error);
    g_assert_cmpint (r.channels, ==, 3);
    g_assert_cmpint (r.transfer_hidden, ==, 0);
    g_assert_false (r.transfer_whole_network);
    g_assert_cmpint (r.batch_size, ==, want.batch_size);
    bt_project_settings_clear (&r);
    /* but any other key missing is a broken file */
    g_assert_true (g_key_file_remove_key (back, "training", "batch-size", NULL));
    g_assert_false (bt_settings_from_key_file (&r, back, &error));
    g_assert_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID);
    g_assert_nonnull (strstr (error->message, "batch-size"));
    g_clear_error (&error);
  }
  bt_project_settings_clear (&want);
}

/* The export's config.json holds every IN_JSON row as the project has it. */
static void
test_json (void)
{
  guint n;
  const BtSettingInfo *rows = bt_settings_table (&n);
  g_autofree char *dir = g_build_filename (work_dir, "json", NULL);
  g_autofree char *out = g_build_filename (work_dir, "json-export", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(BtProject) p = bt_sample_create_shapes (dir, 3, 16, 5, NULL, &error);
  g_assert_no_error (error);
  BtProjectSettings s;
  bt_project_settings_copy (&s, bt_project_get_settings (p));
  for (guint i = 0; i < n; i++)
    if (rows[i].flags & BT_SETTING_IN_JSON)
      {
        g_autofree char *v = other_value (&rows[i]);
        g_assert_true (bt_setting_parse (&rows[i], &s, v, NULL));
      }
  g_assert_true (bt_project_update_settings (p, &s, &error));
  g_assert_no_error (error);
  g_assert_true (bt_export_pytorch (p, out, &error));
  g_assert_no_error (error);

  g_autofree char *path = g_build_filename (out, "config.json", NULL), *json = NULL;
  g_assert_true (g_file_get_contents (path, &json, NULL, NULL));
  const char *settings = strstr (json, "\"settings\":{");
  g_assert_nonnull (settings);
  for (guint i = 0; i < n; i++)
    {
      const BtSettingInfo *row = &rows[i];
      if (!(row->flags & BT_SETTING_IN_JSON))
        continue;
      g_autofree char *key = g_strdelimit (g_strdup (row->run_key), "-", '_');
      g_autoptr(GString) want = g_string_new (NULL);
      g_string_append_printf (want, "\"%s\":", key);
      if (row->type == BT_SETTING_DOUBLE)
        bt_json_append_float (want, (float) bt_setting_get_number (row, &s));
      else if (row->type == BT_SETTING_UINT64)
        g_string_append_printf (want, "%" G_GUINT64_FORMAT, s.seed % G_GUINT64_CONSTANT (4294967296));
      else if (row->type == BT_SETTING_CHOICE)
        g_string_append_printf (want, "\"%s\"", bt_setting_get_string (row, &s));
      else
        {
          g_autofree char *v = bt_setting_to_string (row, &s);
          g_string_append (want, v);
        }
      g_test_message ("config.json: %s", want->str);
      g_assert_nonnull (strstr (settings, want->str));
    }
  bt_project_settings_clear (&s);
}

int
main (int argc, char **argv)
{
  int status;

  g_test_init (&argc, &argv, NULL);
  if (!bt_test_cli_init ("bottega-settings-XXXXXX", &cli_path, &work_dir))
    return 0;

  g_test_add_func ("/settings/defaults", test_defaults);
  g_test_add_func ("/settings/refused", test_refused);
  g_test_add_func ("/settings/round-trip", test_round_trip);
  g_test_add_func ("/settings/json", test_json);
  status = g_test_run ();
  bt_test_rm_rf (work_dir);
  g_free (cli_path);
  g_free (work_dir);
  return status;
}
