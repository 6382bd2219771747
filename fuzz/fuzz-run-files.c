/* fuzz-run-files.c: libFuzzer target for the files of a run folder that Bottega reads back: a
 * run's config.ini (the settings a resume continues with), then, after a line "==", a search's
 * search.ini and, after another "==", its trials.csv (a resumed hyperparameter search). */
#include <stdint.h>
#include <string.h>

#include "training/bt-training-private.h"
#include "training/bt-tune.h"
#include "fuzz-files.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
run_config (const uint8_t *data, size_t size)
{
  g_autoptr(GKeyFile) kf = g_key_file_new ();
  if (!g_key_file_load_from_data (kf, (const char *) data, size, G_KEY_FILE_NONE, NULL))
    return;
  BtProjectSettings s = { 0 };
  GError *error = NULL;
  if (!bt_settings_from_key_file (&s, kf, &error))
    {
      g_assert (error != NULL);
      g_error_free (error);
      bt_project_settings_clear (&s);
      return;
    }
  gboolean valid = bt_settings_validate (&s, NULL);
  /* what was read writes back and reads again the same way */
  g_autoptr(GKeyFile) again = bt_settings_to_key_file (&s);
  BtProjectSettings t = { 0 };
  if (!bt_settings_from_key_file (&t, again, &error))
    g_error ("settings Bottega wrote do not read back: %s", error->message);
  g_assert (bt_settings_validate (&t, NULL) == valid);
  g_assert (g_strcmp0 (s.preset, t.preset) == 0 && s.epochs == t.epochs && s.batch_size == t.batch_size);
  bt_project_settings_clear (&t);
  bt_project_settings_clear (&s);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const uint8_t *search, *trials;
  size_t search_size, trials_size;
  size_t config_size = fuzz_split (data, size, &search, &search_size);
  run_config (data, config_size);
  if (search == NULL)
    return 0;
  size_t ini_size = fuzz_split (search, search_size, &trials, &trials_size);
  static char *dir;
  if (dir == NULL)
    dir = g_build_filename (fuzz_scratch_dir (), "search", NULL);
  g_mkdir_with_parents (dir, 0755);
  fuzz_write (dir, "search.ini", search, ini_size);
  g_autofree char *trials_path = g_build_filename (dir, "trials.csv", NULL);
  if (trials != NULL)
    fuzz_write (dir, "trials.csv", trials, trials_size);
  else
    g_unlink (trials_path);
  GError *error = NULL;
  BtTuneSearch *s = bt_tune_search_open (dir, &error);
  g_assert ((s != NULL) == (error == NULL));
  g_clear_error (&error);
  if (s != NULL)
    {
      (void) bt_tune_search_is_finished (s);
      bt_tune_search_free (s);
    }
  return 0;
}
