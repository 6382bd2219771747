/* bt-run-files.c: runs/<id>/ and models/ of a project, read and written in one place
 * (the trainer, the Train and Evaluate pages and the CLI all go through here). */
#include "config.h"

#include <errno.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "training/bt-run-files.h"
#include "training/bt-training-private.h"

#define METRICS_HEADER "epoch,train_loss,train_acc,val_loss,val_acc,lr,images_per_s,elapsed_s,best_epoch,overfitting"
#define MODEL_SUFFIX ".bottega-model"
#define MAX_RUN_FILE (16 * 1024 * 1024)
#define LAST_RUN_FILE "last-run"

/* ---- A run folder ---- */

static gboolean
mkdir_or_fail (const char *dir, GError **error)
{
  if (g_mkdir_with_parents (dir, 0755) == 0)
    return TRUE;
  int saved = errno;
  g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_IO, _("Cannot create “%s”: %s"), dir, g_strerror (saved));
  return FALSE;
}

char *
bt_run_files_new_run_dir (const char *project_dir, GError **error)
{
  g_autoptr(GDateTime) now = g_date_time_new_now_local ();
  g_autofree char *stamp = g_date_time_format (now, "%Y%m%d-%H%M%S");
  g_autofree char *runs = g_build_filename (project_dir, "runs", NULL);

  if (!mkdir_or_fail (runs, error))
    return NULL;
  for (int i = 0; i < 1000; i++)
    {
      g_autofree char *name = i == 0 ? g_strdup (stamp) : g_strdup_printf ("%s-%d", stamp, i);
      g_autofree char *dir = g_build_filename (runs, name, NULL);

      if (g_mkdir (dir, 0755) == 0)
        {
          /* which run is the newest, even after an empty one is cleaned away (--resume) */
          g_autofree char *last = g_build_filename (runs, LAST_RUN_FILE, NULL);
          bt_write_file_atomic (last, name, strlen (name), NULL);
          return g_steal_pointer (&dir);
        }
      if (errno != EEXIST)
        {
          int saved = errno;
          g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_IO,
                       _("Cannot create “%s”: %s"), dir, g_strerror (saved));
          return NULL;
        }
    }
  g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_IO, _("Cannot create a run folder in “%s”"), runs);
  return NULL;
}

char *
bt_run_files_checkpoint_path (const char *run_dir, int epoch)
{
  g_autofree char *name = g_strdup_printf ("checkpoint-%04d.state", epoch);
  return g_build_filename (run_dir, name, NULL);
}

char *
bt_run_files_frozen_head_path (const char *run_dir)
{
  g_return_val_if_fail (run_dir != NULL, NULL);
  return g_build_filename (run_dir, "frozen-head.bottega-model", NULL);
}

int
bt_run_files_last_checkpoint (const char *run_dir)
{
  g_autoptr(GDir) dir = g_dir_open (run_dir, 0, NULL);
  const char *name;
  int best = 0;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      int epoch;
      char tail[8];
      if (sscanf (name, "checkpoint-%d.stat%1s", &epoch, tail) == 2 &&
          g_str_has_suffix (name, ".state") && epoch > best)
        best = epoch;
    }
  return best;
}

gboolean
bt_run_files_mark_finished (const char *run_dir, GError **error)
{
  g_autofree char *done = g_build_filename (run_dir, "finished", NULL);
  return bt_write_file_atomic (done, "", 0, error);
}

gboolean
bt_run_files_is_finished (const char *run_dir)
{
  g_autofree char *done = g_build_filename (run_dir, "finished", NULL);
  return g_file_test (done, G_FILE_TEST_EXISTS);
}

char *
bt_run_files_model_path (const char *project_dir, const char *run_dir, const char *preset, GError **error)
{
  g_autofree char *run_name = g_path_get_basename (run_dir);
  g_autofree char *model_name = g_strdup_printf ("%s-%s" MODEL_SUFFIX, run_name, preset);
  g_autofree char *models_dir = g_build_filename (project_dir, "models", NULL);

  if (!mkdir_or_fail (models_dir, error))
    return NULL;
  return g_build_filename (models_dir, model_name, NULL);
}

/* ---- config.ini ---- */

gboolean
bt_run_files_write_config (const char *run_dir, const BtProjectSettings *s, const char * const *classes,
                           const int n_split[BT_N_SPLITS], GError **error)
{
  g_autoptr(GKeyFile) kf = bt_settings_to_key_file (s);
  g_autofree char *path = g_build_filename (run_dir, "config.ini", NULL);
  g_autofree char *data = NULL;
  gsize len;

  g_key_file_set_string_list (kf, "training", "classes", classes, g_strv_length ((char **) classes));
  g_key_file_set_integer (kf, "training", "n-train", n_split[BT_SPLIT_TRAIN]);
  g_key_file_set_integer (kf, "training", "n-val", n_split[BT_SPLIT_VAL]);
  g_key_file_set_integer (kf, "training", "n-test", n_split[BT_SPLIT_TEST]);
  g_key_file_set_integer (kf, "training", "threads", bt_engine_get_threads ());
  g_key_file_set_string (kf, "training", "bottega-version", PACKAGE_VERSION);
  data = g_key_file_to_data (kf, &len, NULL);
  return bt_write_file_atomic (path, data, len, error);
}

gboolean
bt_run_files_read_config (const char *run_dir, BtProjectSettings *s, char ***classes,
                          int n_split[BT_N_SPLITS], GError **error)
{
  g_autoptr(GKeyFile) kf = g_key_file_new ();
  g_autofree char *path = g_build_filename (run_dir, "config.ini", NULL);
  g_autoptr(GError) local = NULL;
  static const char *const keys[BT_N_SPLITS] = { "n-train", "n-val", "n-test" };

  if (!g_key_file_load_from_file (kf, path, G_KEY_FILE_NONE, &local))
    {
      g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID,
                   _("“%s” is not a readable run (%s)"), run_dir, local->message);
      return FALSE;
    }
  if (!bt_settings_from_key_file (s, kf, error))
    return FALSE;
  if (classes != NULL)
    *classes = g_key_file_get_string_list (kf, "training", "classes", NULL, NULL);
  for (int i = 0; n_split != NULL && i < BT_N_SPLITS; i++)
    n_split[i] = g_key_file_get_integer (kf, "training", keys[i], NULL);
  return TRUE;
}

/* ---- metrics.csv ---- */

static void
append_double (GString *csv, double v)
{
  if (isfinite (v))
    g_string_append_printf (csv, ",%.6f", v);
  else
    g_string_append (csv, ",");
}

char *
bt_run_files_metrics_to_csv (GArray *epochs)
{
  GString *csv = g_string_new (METRICS_HEADER "\n");

  for (guint i = 0; epochs != NULL && i < epochs->len; i++)
    {
      const BtEpochInfo *e = &g_array_index (epochs, BtEpochInfo, i);
      g_string_append_printf (csv, "%d", e->epoch);
      append_double (csv, e->train_loss);
      append_double (csv, e->train_acc);
      append_double (csv, e->val_loss);
      append_double (csv, e->val_acc);
      g_string_append_printf (csv, ",%g", e->lr);
      append_double (csv, e->images_per_s);
      append_double (csv, e->elapsed_s);
      g_string_append_printf (csv, ",%d,%d\n", e->best_epoch, e->overfitting ? 1 : 0);
    }
  return g_string_free (csv, FALSE);
}

gboolean
bt_run_files_write_metrics (const char *run_dir, GArray *epochs, GError **error)
{
  g_autofree char *path = g_build_filename (run_dir, "metrics.csv", NULL);
  g_autofree char *csv = bt_run_files_metrics_to_csv (epochs);
  return bt_write_file_atomic (path, csv, strlen (csv), error);
}

static double
field_double (char **f, guint n, int col)
{
  if (col < 0 || (guint) col >= n || *f[col] == '\0')
    return NAN;
  return g_ascii_strtod (f[col], NULL);
}

GArray *
bt_run_files_read_metrics (const char *run_dir)
{
  enum { C_EPOCH, C_TL, C_TA, C_VL, C_VA, C_LR, C_IPS, C_EL, C_BEST, C_OVER, N_COLS };
  static const char *const names[N_COLS] = { "epoch", "train_loss", "train_acc", "val_loss", "val_acc",
                                             "lr", "images_per_s", "elapsed_s", "best_epoch", "overfitting" };
  g_autofree char *path = g_build_filename (run_dir, "metrics.csv", NULL);
  g_autofree char *text = NULL;
  g_auto(GStrv) lines = NULL;
  g_auto(GStrv) header = NULL;
  int col[N_COLS];
  GArray *epochs;
  gsize len;

  if (!g_file_get_contents (path, &text, &len, NULL) || len > MAX_RUN_FILE || !g_utf8_validate (text, len, NULL))
    return NULL;
  lines = g_strsplit (text, "\n", -1);
  if (lines[0] == NULL)
    return NULL;
  header = g_strsplit (g_strstrip (lines[0]), ",", -1);
  for (int k = 0; k < N_COLS; k++)
    {
      col[k] = -1;
      for (int i = 0; header[i] != NULL; i++)
        if (g_str_equal (header[i], names[k]))
          col[k] = i;
    }
  if (col[C_EPOCH] < 0)
    return NULL;

  epochs = g_array_new (FALSE, TRUE, sizeof (BtEpochInfo));
  for (guint l = 1; lines[l] != NULL; l++)
    {
      g_auto(GStrv) f = g_strsplit (g_strstrip (lines[l]), ",", -1);
      guint n = g_strv_length (f);
      BtEpochInfo e = { 0 };
      double epoch = field_double (f, n, col[C_EPOCH]);

      if (!isfinite (epoch) || epoch < 1 || epoch > G_MAXINT)
        continue;
      e.epoch = (int) epoch;
      e.train_loss = field_double (f, n, col[C_TL]);
      e.train_acc = field_double (f, n, col[C_TA]);
      e.val_loss = field_double (f, n, col[C_VL]);
      e.val_acc = field_double (f, n, col[C_VA]);
      e.lr = field_double (f, n, col[C_LR]);
      e.images_per_s = field_double (f, n, col[C_IPS]);
      e.elapsed_s = field_double (f, n, col[C_EL]);
      e.best_epoch = isfinite (field_double (f, n, col[C_BEST])) ? (int) field_double (f, n, col[C_BEST]) : 0;
      e.overfitting = field_double (f, n, col[C_OVER]) == 1;
      e.best_score = NAN;
      e.eta_s = 0;
      g_array_append_val (epochs, e);
    }
  for (guint i = 0; i < epochs->len; i++)
    g_array_index (epochs, BtEpochInfo, i).epochs = (int) epochs->len;
  return epochs;
}

/* ---- verdict.ini ---- */

gboolean
bt_run_files_write_verdict (const char *run_dir, const BtVerdict *v, const char *model_path, GError **error)
{
  g_autoptr(GKeyFile) kf = g_key_file_new ();
  g_autofree char *path = g_build_filename (run_dir, "verdict.ini", NULL);
  g_autofree char *data = NULL;
  char buf[G_ASCII_DTOSTR_BUF_SIZE];
  gsize len;

  g_key_file_set_string (kf, "verdict", "kind", bt_verdict_kind_to_id (v->kind));
  g_key_file_set_integer (kf, "verdict", "epoch", v->epoch);
  g_key_file_set_integer (kf, "verdict", "best-epoch", v->best_epoch);
  if (isfinite (v->best_acc))
    g_key_file_set_string (kf, "verdict", "best-accuracy", g_ascii_dtostr (buf, sizeof buf, v->best_acc));
  g_key_file_set_string (kf, "verdict", "action", bt_verdict_action_to_id (v->action));
  g_key_file_set_string (kf, "verdict", "action-value", g_ascii_dtostr (buf, sizeof buf, v->action_value));
  if (v->action_class != NULL)
    g_key_file_set_string (kf, "verdict", "action-class", v->action_class);
  if (model_path != NULL)
    {
      g_autofree char *base = g_path_get_basename (model_path);
      g_key_file_set_string (kf, "verdict", "model", base);
    }
  data = g_key_file_to_data (kf, &len, NULL);
  return bt_write_file_atomic (path, data, len, error);
}

static double
key_double (GKeyFile *kf, const char *key)
{
  g_autofree char *s = g_key_file_get_string (kf, "verdict", key, NULL);
  return s != NULL ? g_ascii_strtod (s, NULL) : NAN;
}

gboolean
bt_run_files_read_verdict (const char *run_dir, BtVerdict *v, char **model_name)
{
  g_autoptr(GKeyFile) kf = g_key_file_new ();
  g_autofree char *path = g_build_filename (run_dir, "verdict.ini", NULL);
  g_autofree char *kind = NULL;
  g_autofree char *action = NULL;

  memset (v, 0, sizeof *v);
  v->best_acc = NAN;
  if (!g_key_file_load_from_file (kf, path, G_KEY_FILE_NONE, NULL))
    return FALSE;
  kind = g_key_file_get_string (kf, "verdict", "kind", NULL);
  if (!bt_verdict_kind_from_id (kind, &v->kind))
    return FALSE;
  action = g_key_file_get_string (kf, "verdict", "action", NULL);
  if (!bt_verdict_action_from_id (action, &v->action))
    v->action = BT_VERDICT_ACTION_NONE;
  v->epoch = g_key_file_get_integer (kf, "verdict", "epoch", NULL);
  v->best_epoch = g_key_file_get_integer (kf, "verdict", "best-epoch", NULL);
  v->best_acc = key_double (kf, "best-accuracy");
  v->action_value = key_double (kf, "action-value");
  v->action_class = g_key_file_get_string (kf, "verdict", "action-class", NULL);
  if (model_name != NULL)
    *model_name = g_key_file_get_string (kf, "verdict", "model", NULL);
  return TRUE;
}

/* ---- The runs of a project ---- */

void
bt_run_info_free (BtRunInfo *run)
{
  if (run == NULL)
    return;
  g_free (run->dir);
  g_free (run->id);
  g_free (run->preset);
  g_clear_pointer (&run->epochs, g_array_unref);
  bt_verdict_clear (&run->verdict);
  g_free (run);
}

BtRunInfo *
bt_run_info_load (const char *run_dir)
{
  g_autoptr(GKeyFile) kf = g_key_file_new ();
  g_autofree char *config = g_build_filename (run_dir, "config.ini", NULL);
  GArray *epochs = bt_run_files_read_metrics (run_dir);
  BtRunInfo *run;

  if (epochs == NULL)
    return NULL;
  run = g_new0 (BtRunInfo, 1);
  run->dir = g_strdup (run_dir);
  run->id = g_path_get_basename (run_dir);
  run->epochs = epochs;
  if (g_key_file_load_from_file (kf, config, G_KEY_FILE_NONE, NULL))
    run->preset = g_key_file_get_string (kf, "training", "preset", NULL);
  run->has_verdict = bt_run_files_read_verdict (run_dir, &run->verdict, NULL);
  run->last_checkpoint = bt_run_files_last_checkpoint (run_dir);
  run->finished = bt_run_files_is_finished (run_dir);
  return run;
}

static int
cmp_names (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(char * const *) a, *(char * const *) b);
}

/* The run folders' names, sorted (timestamps: oldest first). */
static GPtrArray *
run_names (const char *runs_dir)
{
  g_autoptr(GDir) dir = g_dir_open (runs_dir, 0, NULL);
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  /* training runs only: runs/ also holds the searches' tune-* folders */
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL && names->len < 10000)
    {
      g_autofree char *path = g_build_filename (runs_dir, name, NULL);
      if (g_ascii_isdigit (name[0]) && g_file_test (path, G_FILE_TEST_IS_DIR))
        g_ptr_array_add (names, g_strdup (name));
    }
  g_ptr_array_sort (names, cmp_names);
  return names;
}

GPtrArray *
bt_run_files_list_runs (const char *project_dir, GCancellable *cancellable)
{
  g_autofree char *runs_dir = g_build_filename (project_dir, "runs", NULL);
  g_autoptr(GPtrArray) names = run_names (runs_dir);
  GPtrArray *runs = g_ptr_array_new_with_free_func ((GDestroyNotify) bt_run_info_free);

  for (guint i = 0; i < names->len && !g_cancellable_is_cancelled (cancellable); i++)
    {
      g_autofree char *path = g_build_filename (runs_dir, names->pdata[i], NULL);
      BtRunInfo *run = bt_run_info_load (path);
      if (run != NULL)
        g_ptr_array_add (runs, run);
    }
  return runs;
}

static gboolean
is_resumable (const char *run_dir)
{
  g_autofree char *config = g_build_filename (run_dir, "config.ini", NULL);
  return bt_run_files_last_checkpoint (run_dir) > 0 && g_file_test (config, G_FILE_TEST_IS_REGULAR) &&
         !bt_run_files_is_finished (run_dir);
}

char *
bt_run_files_find_resumable (const char *project_dir, const char *run, GError **error)
{
  g_autofree char *runs_dir = g_build_filename (project_dir, "runs", NULL);
  g_autofree char *dir = NULL;
  g_autofree char *id = NULL;
  gboolean newest = run == NULL;

  if (run == NULL)
    {
      /* the newest run, and only it: an older one has other settings the person forgot */
      g_autofree char *last_file = g_build_filename (runs_dir, LAST_RUN_FILE, NULL);
      g_autofree char *last = NULL;
      g_autoptr(GPtrArray) names = run_names (runs_dir);

      if (g_file_get_contents (last_file, &last, NULL, NULL) && *g_strstrip (last) != '\0' &&
          strchr (last, G_DIR_SEPARATOR) == NULL && last[0] != '.')
        dir = g_build_filename (runs_dir, last, NULL);
      else if (names->len > 0)
        dir = g_build_filename (runs_dir, names->pdata[names->len - 1], NULL);
      else
        {
          g_set_error_literal (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID, _("The project has no run to resume"));
          return NULL;
        }
    }
  else if (strchr (run, G_DIR_SEPARATOR) == NULL && *run != '.')
    dir = g_build_filename (runs_dir, run, NULL);
  else
    dir = g_canonicalize_filename (run, NULL);
  id = g_path_get_basename (dir);
  if (!g_file_test (dir, G_FILE_TEST_IS_DIR) && newest)
    /* the newest run's folder is gone: the tidy-up (bt_project_tidy, on the worker that opening
     * the project starts) removes a run that stopped before writing anything past its
     * config.ini, which can happen between two commands or during this one */
    g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID,
                 _("The last run “%s” left no checkpoint to resume from"), id);
  else if (!g_file_test (dir, G_FILE_TEST_IS_DIR))
    g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID, _("There is no run “%s”"), id);
  else if (bt_run_files_is_finished (dir))
    g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID,
                 _("The run “%s” finished: there is nothing to resume"), id);
  else if (!is_resumable (dir))
    g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID,
                 _("The run “%s” has no checkpoint to resume from (it stopped before its first epoch ended)"), id);
  else
    return g_steal_pointer (&dir);
  return NULL;
}

char *
bt_run_files_find_interrupted (const char *project_dir)
{
  return bt_run_files_find_resumable (project_dir, NULL, NULL);
}

/* ---- models/ ---- */

typedef struct {
  char    *path;
  gint64   mtime;
  gboolean failed;
} ModelEntry;

static int
cmp_models (gconstpointer a, gconstpointer b)
{
  const ModelEntry *ea = *(ModelEntry * const *) a, *eb = *(ModelEntry * const *) b;

  if (ea->failed != eb->failed)
    return ea->failed ? 1 : -1;
  if (ea->mtime != eb->mtime)
    return ea->mtime > eb->mtime ? -1 : 1;
  /* names start with the run's timestamp: they break ties of equal times */
  return -g_strcmp0 (ea->path, eb->path);
}

static void
model_entry_free (ModelEntry *e)
{
  g_free (e->path);
  g_free (e);
}

/* File names of the models whose run failed. */
static GHashTable *
failed_models (const char *project_dir)
{
  g_autofree char *runs_dir = g_build_filename (project_dir, "runs", NULL);
  g_autoptr(GPtrArray) names = run_names (runs_dir);
  GHashTable *failed = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  for (guint i = 0; i < names->len; i++)
    {
      g_autofree char *dir = g_build_filename (runs_dir, names->pdata[i], NULL);
      g_autofree char *model = NULL;
      BtVerdict v;

      if (bt_run_files_read_verdict (dir, &v, &model) && model != NULL && bt_verdict_is_failure (&v))
        g_hash_table_add (failed, g_steal_pointer (&model));
      bt_verdict_clear (&v);
    }
  return failed;
}

GPtrArray *
bt_run_files_list_models (const char *project_dir)
{
  g_autofree char *models_dir = g_build_filename (project_dir, "models", NULL);
  g_autoptr(GDir) dir = g_dir_open (models_dir, 0, NULL);
  g_autoptr(GPtrArray) entries = g_ptr_array_new_with_free_func ((GDestroyNotify) model_entry_free);
  g_autoptr(GHashTable) failed = NULL;
  GPtrArray *paths = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  if (dir == NULL)
    return paths;
  failed = failed_models (project_dir);
  while ((name = g_dir_read_name (dir)) != NULL && entries->len < 10000)
    {
      g_autofree char *path = NULL;
      GStatBuf st;
      ModelEntry *e;

      if (!g_str_has_suffix (name, MODEL_SUFFIX))
        continue;
      path = g_build_filename (models_dir, name, NULL);
      if (g_stat (path, &st) != 0 || !S_ISREG (st.st_mode))
        continue;
      e = g_new0 (ModelEntry, 1);
      e->path = g_steal_pointer (&path);
      e->mtime = st.st_mtime;
      e->failed = g_hash_table_contains (failed, name);
      g_ptr_array_add (entries, e);
    }
  g_ptr_array_sort (entries, cmp_models);
  for (guint i = 0; i < entries->len; i++)
    g_ptr_array_add (paths, g_strdup (((ModelEntry *) entries->pdata[i])->path));
  return paths;
}

char *
bt_run_files_default_model (const char *project_dir)
{
  g_autoptr(GPtrArray) paths = bt_run_files_list_models (project_dir);
  return paths->len > 0 ? g_strdup (paths->pdata[0]) : NULL;
}

char *
bt_run_files_model_display_name (const char *path)
{
  g_autofree char *base = g_path_get_basename (path);
  g_autofree char *display = g_filename_display_name (base);
  char *dot = strstr (display, MODEL_SUFFIX);

  if (dot != NULL)
    *dot = '\0';
  return g_steal_pointer (&display);
}
