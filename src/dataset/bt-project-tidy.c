/* bt-project-tidy.c: what a killed process leaves in a project (temp files of interrupted
 * atomic writes, run folders that never got past their config.ini) is removed when the project
 * opens, on a worker (in runs/ only while no trainer or search holds the run lock); the check that every class has images before a run starts; and the one
 * rule for class names. */
#include "config.h"

#include <string.h>
#include <sys/stat.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>

#include "dataset/bt-dataset-private.h"

/* The files Bottega writes atomically, whose temp files (NAME.XXXXXX from GLib's
 * g_file_set_contents_full, .NAME.XXXXXX from bt_write_file_temp) a kill can leave: these exact
 * names, or these suffixes. Anything else (a user's "notes.csv.backup") is never touched. */
static const char * const atomic_names[] = {
  "project.ini", "labels.csv", "config.ini", "metrics.csv", "finished", "search.ini", "trials.csv",
};
static const char * const atomic_suffixes[] = { ".state", ".bottega-model", ".onnx" };

gboolean
bt_tidy_is_temp_name (const char *name)
{
  g_return_val_if_fail (name != NULL, FALSE);
  gsize len = strlen (name);
  if (len < 8 || name[len - 7] != '.')
    return FALSE;
  for (gsize i = len - 6; i < len; i++)
    if (!g_ascii_isalnum (name[i]))
      return FALSE;
  gboolean hidden = name[0] == '.';
  g_autofree char *target = g_strndup (name + hidden, len - 7 - hidden);
  for (guint i = 0; i < G_N_ELEMENTS (atomic_names); i++)
    if (g_str_equal (target, atomic_names[i]))
      return TRUE;
  for (guint i = 0; i < G_N_ELEMENTS (atomic_suffixes); i++)
    if (g_str_has_suffix (target, atomic_suffixes[i]) && strlen (target) > strlen (atomic_suffixes[i]))
      return TRUE;
  return FALSE;
}

static gboolean
older_than (const struct stat *st, gint64 now_s, gint64 age_s)
{
  return (gint64) st->st_mtime <= now_s - age_s;
}

/* Removes the old temp files of one folder; counts them. */
static guint
tidy_temp_files (const char *dir, gint64 now_s, gint64 age_s)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;
  guint n = 0;
  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    {
      if (!bt_tidy_is_temp_name (name))
        continue;
      g_autofree char *path = g_build_filename (dir, name, NULL);
      struct stat st;
      if (lstat (path, &st) == 0 && S_ISREG (st.st_mode) && older_than (&st, now_s, age_s) &&
          g_unlink (path) == 0)
        n++;
    }
  return n;
}

/* A run folder that holds nothing but its config.ini (and temp files): a run killed before its
 * first epoch ended, or a search killed before its search.ini was written. Called only under
 * the run lock, so nothing is writing there. */
static gboolean
tidy_run_dir (const char *run)
{
  g_autoptr(GDir) d = g_dir_open (run, 0, NULL);
  if (d == NULL)
    return FALSE;
  const char *name;
  while ((name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = g_build_filename (run, name, NULL);
      struct stat st;
      if (lstat (path, &st) != 0 || !S_ISREG (st.st_mode))
        return FALSE;
      if (!g_str_equal (name, "config.ini") && !bt_tidy_is_temp_name (name))
        return FALSE;
    }
  g_dir_rewind (d);
  while ((name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = g_build_filename (run, name, NULL);
      g_unlink (path);
    }
  return g_rmdir (run) == 0;
}

guint
bt_project_tidy (const char *project_dir, gint64 temp_age_s)
{
  g_return_val_if_fail (project_dir != NULL, 0);
  gint64 now_s = g_get_real_time () / G_USEC_PER_SEC;
  guint n = tidy_temp_files (project_dir, now_s, temp_age_s);
  g_autofree char *models = g_build_filename (project_dir, "models", NULL);
  n += tidy_temp_files (models, now_s, temp_age_s);
  g_autofree char *runs = g_build_filename (project_dir, "runs", NULL);
  if (!g_file_test (runs, G_FILE_TEST_IS_DIR))
    return n;
  /* a trainer or a search holding the run lock is writing there: its folders are left alone.
   * Without one, nothing in runs/ is being written (training runs and tune-* searches write
   * only under it) and no age needs waiting for. */
  int lock = bt_run_lock_try (project_dir, BT_RUN_LOCK_TIDY, NULL);
  if (lock < 0)
    return n;
  g_autoptr(GDir) d = g_dir_open (runs, 0, NULL);
  const char *name;
  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *run = g_build_filename (runs, name, NULL);
      struct stat st;
      if (lstat (run, &st) != 0 || !S_ISDIR (st.st_mode))
        continue;
      n += tidy_temp_files (run, now_s, 0);
      if (tidy_run_dir (run))
        n++;
    }
  bt_run_lock_release (lock);
  return n;
}

static gpointer
tidy_thread (gpointer data)
{
  char *dir = data;
  guint n = bt_project_tidy (dir, BT_TIDY_TEMP_AGE_S);
  if (n > 0)
    g_debug ("removed %u leftovers of interrupted writes in %s", n, dir);
  g_free (dir);
  return NULL;
}

void
bt_project_tidy_in_background (const char *project_dir)
{
  g_return_if_fail (project_dir != NULL);
  /* best effort, never waited for: a process that exits first leaves the rest to the next open */
  g_autoptr(GError) error = NULL;
  GThread *t = g_thread_try_new ("bt-tidy", tidy_thread, g_strdup (project_dir), &error);
  if (t != NULL)
    g_thread_unref (t);
}

gboolean
bt_project_check_trainable (BtProject *project, GError **error)
{
  g_return_val_if_fail (BT_IS_PROJECT (project), FALSE);
  GListModel *classes = bt_project_get_classes (project);
  GListModel *items = bt_project_get_items (project);
  guint n_classes = g_list_model_get_n_items (classes);
  g_autoptr(GHashTable) usable = g_hash_table_new (g_str_hash, g_str_equal);
  guint n = g_list_model_get_n_items (items);
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(BtItem) it = g_list_model_get_item (items, i);
      if (!bt_item_get_excluded (it) && !bt_item_get_missing (it))
        g_hash_table_add (usable, (gpointer) bt_item_get_class_name (it));
    }
  g_autoptr(GString) empty = g_string_new (NULL);
  guint n_empty = 0;
  for (guint c = 0; c < n_classes; c++)
    {
      g_autoptr(BtClassInfo) info = g_list_model_get_item (classes, c);
      const char *name = bt_class_info_get_name (info);
      if (g_hash_table_contains (usable, name))
        continue;
      g_string_append_printf (empty, "%s“%s”", n_empty > 0 ? ", " : "", name);
      n_empty++;
    }
  if (n_empty == 0)
    return TRUE;
  g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_INVALID,
               g_dngettext (GETTEXT_PACKAGE,
                            "The class %s has no usable images. Add images to it or remove it before training.",
                            "The classes %s have no usable images. Add images to them or remove them before training.",
                            n_empty), empty->str);
  return FALSE;
}

/* ---- Class names ---- */

gboolean
bt_class_name_is_safe (const char *name)
{
  g_return_val_if_fail (name != NULL, FALSE);
  if (!g_utf8_validate (name, -1, NULL))
    return FALSE;
  /* a line break or an escape breaks the model header (which refuses them, after a whole
   * epoch of training) and the CLI's output */
  for (const char *p = name; *p; p = g_utf8_next_char (p))
    if (g_unichar_iscntrl (g_utf8_get_char (p)))
      return FALSE;
  return TRUE;
}

/* Removes what `bottega-cli new` made in dir (never the user's images, which are elsewhere or untouched):
 * the project files, temp files of their writes, the empty sub-folders, the file mark_name,
 * then dir when empty. */
void
bt_project_remove_partial (const char *dir, const char *mark_name)
{
  static const char * const files[] = { "project.ini", "labels.csv" };
  static const char * const subs[] = { "models", "runs", "cache" };
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;

  for (guint i = 0; i < G_N_ELEMENTS (files); i++)
    {
      g_autofree char *path = g_build_filename (dir, files[i], NULL);
      g_unlink (path);
    }
  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    if (g_str_has_prefix (name, ".labels.csv.") || g_str_has_prefix (name, ".project.ini."))
      {
        g_autofree char *path = g_build_filename (dir, name, NULL);
        g_unlink (path);
      }
  for (guint i = 0; i < G_N_ELEMENTS (subs); i++)
    {
      g_autofree char *path = g_build_filename (dir, subs[i], NULL);
      g_rmdir (path);
    }
  {
    g_autofree char *mark = g_build_filename (dir, mark_name, NULL);
    g_unlink (mark);
  }
  g_rmdir (dir);  /* only when now empty: a folder the user made and filled stays */
}
