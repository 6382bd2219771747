/* bt-fault-check.c: `bt-fault-check PROJECT` opens a project the way the app does and reads
 * every file Bottega wrote into it (project.ini, labels.csv, each model, each run's config.ini
 * and metrics.csv); prints "classes N items M models K runs R" and exits 0, or names the first
 * file that does not parse and exits 1. Used by the fault-injection scripts after each kill. */
#include <stdio.h>
#include <string.h>
#include <glib/gstdio.h>

#include "training/bt-training.h"
#include "training/bt-training-private.h"

static int
fail (const char *what, const char *why)
{
  fprintf (stderr, "bt-fault-check: %s: %s\n", what, why);
  return 1;
}

static gboolean
metrics_ok (const char *path)
{
  g_autofree char *data = NULL;
  if (!g_file_get_contents (path, &data, NULL, NULL))
    return FALSE;
  g_auto(GStrv) lines = g_strsplit (data, "\n", -1);
  guint cols = 0;
  for (guint i = 0; lines[i] != NULL; i++)
    {
      if (lines[i][0] == '\0')
        continue;
      guint n = 1;
      for (const char *p = lines[i]; *p; p++)
        n += *p == ',';
      if (i == 0)
        cols = n;
      else if (n != cols || atoi (lines[i]) != (int) i)
        return FALSE;  /* every row complete, epochs 1, 2, 3… in order */
    }
  return cols > 1;
}

int
main (int argc, char **argv)
{
  if (argc != 2)
    return fail ("usage", "bt-fault-check PROJECT");
  g_autoptr(GError) error = NULL;
  g_autoptr(BtProject) p = bt_project_open (argv[1], &error);
  if (p == NULL)
    return fail ("project", error->message);
  guint n_models = 0, n_runs = 0;
  g_autofree char *models = g_build_filename (argv[1], "models", NULL);
  g_autoptr(GDir) md = g_dir_open (models, 0, NULL);
  const char *name;
  while (md != NULL && (name = g_dir_read_name (md)) != NULL)
    {
      if (!g_str_has_suffix (name, ".bottega-model"))
        continue;
      g_autofree char *path = g_build_filename (models, name, NULL);
      g_autoptr(BtModel) m = bt_model_load (path, &error);
      if (m == NULL)
        return fail (path, error->message);
      n_models++;
    }
  g_autofree char *runs = g_build_filename (argv[1], "runs", NULL);
  g_autoptr(GDir) rd = g_dir_open (runs, 0, NULL);
  while (rd != NULL && (name = g_dir_read_name (rd)) != NULL)
    {
      g_autofree char *config = g_build_filename (runs, name, "config.ini", NULL);
      g_autofree char *metrics = g_build_filename (runs, name, "metrics.csv", NULL);
      if (!g_file_test (config, G_FILE_TEST_EXISTS))
        continue;  /* a search folder */
      g_autoptr(GKeyFile) kf = g_key_file_new ();
      BtProjectSettings s = { 0 };
      if (!g_key_file_load_from_file (kf, config, G_KEY_FILE_NONE, &error) ||
          !bt_settings_from_key_file (&s, kf, &error))
        return fail (config, error->message);
      bt_project_settings_clear (&s);
      if (g_file_test (metrics, G_FILE_TEST_EXISTS) && !metrics_ok (metrics))
        return fail (metrics, "incomplete or out of order rows");
      n_runs++;
    }
  printf ("classes %u items %u models %u runs %u\n",
          g_list_model_get_n_items (bt_project_get_classes (p)),
          g_list_model_get_n_items (bt_project_get_items (p)), n_models, n_runs);
  return 0;
}
