/* bt-model-files.c: the saved models of a project (the .bottega-model files in models/), listed and loaded
 * off the main thread, and shared safely between the page and its worker jobs. */
#include "config.h"

#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "bt-model-files.h"
#include "training/bt-run-files.h"
#include "training/bt-backbones.h"

struct _BtSharedModel
{
  gatomicrefcount ref;
  GMutex          lock;
  char           *path;
  BtModel        *model;
  gboolean        needs_backbone;           /* its backbone is not on this computer */
  const BtBackboneInfo *backbone_info;      /* that backbone in the catalogue, or NULL */
};

BtSharedModel *
bt_shared_model_ref (BtSharedModel *m)
{
  g_return_val_if_fail (m != NULL, NULL);
  g_atomic_ref_count_inc (&m->ref);
  return m;
}

void
bt_shared_model_unref (BtSharedModel *m)
{
  g_return_if_fail (m != NULL);
  if (!g_atomic_ref_count_dec (&m->ref))
    return;
  g_mutex_clear (&m->lock);
  bt_model_free (m->model);
  g_free (m->path);
  g_free (m);
}

BtModel *
bt_shared_model_lock (BtSharedModel *m)
{
  g_return_val_if_fail (m != NULL, NULL);
  g_mutex_lock (&m->lock);
  return m->model;
}

void
bt_shared_model_unlock (BtSharedModel *m)
{
  g_return_if_fail (m != NULL);
  g_mutex_unlock (&m->lock);
}

const char *
bt_shared_model_get_path (BtSharedModel *m)
{
  g_return_val_if_fail (m != NULL, NULL);
  return m->path;
}

const char * const *
bt_shared_model_get_class_names (BtSharedModel *m)
{
  g_return_val_if_fail (m != NULL, NULL);
  return (const char * const *) m->model->class_names;
}

void
bt_model_info_free (BtModelInfo *info)
{
  if (info == NULL)
    return;
  g_free (info->path);
  g_free (info->name);
  g_free (info->custom_name);
  g_free (info->preset);
  g_free (info->verdict);
  g_free (info);
}

static int
cmp_newest_first (gconstpointer a, gconstpointer b)
{
  const BtModelInfo *ea = *(BtModelInfo * const *) a, *eb = *(BtModelInfo * const *) b;

  if (ea->created != eb->created)
    return ea->created > eb->created ? -1 : 1;
  return -g_strcmp0 (ea->path, eb->path);
}

static BtModelFilesListHook list_hook;
static gpointer list_hook_data;

void
bt_model_files_set_list_hook (BtModelFilesListHook hook, gpointer user_data)
{
  list_hook = hook;
  list_hook_data = user_data;
}

/* What a model's metadata says, kept per path while its size and time stay the same:
 * reading it means loading the whole file, once per process. */
typedef struct {
  gint64  mtime;
  goffset size;
  char   *preset;
  char   *verdict;
  double  accuracy;
  gint64  created;
} MetaCache;

static GMutex meta_lock;
static GHashTable *meta_cache;   /* path → MetaCache* */

static void
meta_cache_free (gpointer data)
{
  MetaCache *m = data;

  g_free (m->preset);
  g_free (m->verdict);
  g_free (m);
}

static void
read_meta (BtModelInfo *info, gint64 mtime, goffset size)
{
  MetaCache *m;

  g_mutex_lock (&meta_lock);
  if (meta_cache == NULL)
    meta_cache = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, meta_cache_free);
  m = g_hash_table_lookup (meta_cache, info->path);
  if (m == NULL || m->mtime != mtime || m->size != size)
    {
      g_autoptr(BtModel) model = NULL;

      g_mutex_unlock (&meta_lock);
      model = bt_model_load (info->path, NULL);
      m = g_new0 (MetaCache, 1);
      m->mtime = mtime;
      m->size = size;
      m->accuracy = NAN;
      m->created = mtime;
      if (model != NULL && model->metadata != NULL)
        {
          const char *acc = g_hash_table_lookup (model->metadata, "val_acc");
          const char *preset = g_hash_table_lookup (model->metadata, "preset");
          const char *created = g_hash_table_lookup (model->metadata, "created");
          const char *verdict = g_hash_table_lookup (model->metadata, "verdict");
          BtPreset p;

          if (acc != NULL)
            {
              char *end = NULL;
              double v = g_ascii_strtod (acc, &end);
              if (end != acc && isfinite (v) && v >= 0 && v <= 1)
                m->accuracy = v;
            }
          if (verdict != NULL && g_utf8_validate (verdict, -1, NULL) && strlen (verdict) < 64)
            m->verdict = g_strdup (verdict);
          if (preset != NULL && bt_preset_from_id (preset, &p))
            m->preset = g_strdup (bt_preset_title (p));
          if (created != NULL)
            {
              g_autoptr(GDateTime) dt = g_date_time_new_from_iso8601 (created, NULL);
              if (dt != NULL)
                m->created = g_date_time_to_unix (dt);
            }
        }
      g_mutex_lock (&meta_lock);
      g_hash_table_replace (meta_cache, g_strdup (info->path), m);
    }
  info->preset = g_strdup (m->preset);
  info->verdict = g_strdup (m->verdict);
  info->accuracy = m->accuracy;
  info->created = m->created;
  g_mutex_unlock (&meta_lock);
}

static char *
sidecar_path (const char *model_path)
{
  g_autofree char *stem = g_strdup (model_path);
  char *dot = g_str_has_suffix (stem, ".bottega-model") ? strrchr (stem, '.') : NULL;

  if (dot != NULL)
    *dot = '\0';
  return g_strconcat (stem, ".ini", NULL);
}

static char *
default_name (const BtModelInfo *info)
{
  g_autoptr(GDateTime) dt = g_date_time_new_from_unix_local (info->created);
  g_autofree char *date = dt ? g_date_time_format (dt, "%Y-%m-%d %H:%M") : g_strdup ("");
  g_autofree char *acc = NULL;

  if (info->preset == NULL && isnan (info->accuracy))
    return bt_model_files_display_name (info->path);
  /* TRANSLATORS: a model's validation accuracy in its name, e.g. "91%" */
  acc = isnan (info->accuracy) ? g_strdup (_("accuracy unknown"))
                               : g_strdup_printf (_("%.0f%%"), 100.0 * info->accuracy);
  /* TRANSLATORS: a saved model's default name: preset · accuracy · date */
  return g_strdup_printf (_("%s · %s · %s"), info->preset ? _(info->preset) : _("Model"), acc, date);
}

static BtModelInfo *
info_new (const char *path, GStatBuf *st, gint64 labels_mtime)
{
  BtModelInfo *info = g_new0 (BtModelInfo, 1);
  g_autoptr(GKeyFile) kf = g_key_file_new ();
  g_autofree char *ini = sidecar_path (path);

  info->path = g_strdup (path);
  read_meta (info, st->st_mtime, st->st_size);
  if (g_key_file_load_from_file (kf, ini, G_KEY_FILE_NONE, NULL))
    {
      g_autofree char *name = g_key_file_get_string (kf, "model", "name", NULL);
      if (name != NULL && *g_strstrip (name) != '\0' && g_utf8_validate (name, -1, NULL))
        info->custom_name = g_utf8_substring (name, 0, MIN (g_utf8_strlen (name, -1), 200));
      info->pinned = g_key_file_get_boolean (kf, "model", "pinned", NULL);
    }
  info->name = info->custom_name ? g_strdup (info->custom_name) : default_name (info);
  /* Saves land a little after the model in the same second: only a later second counts. */
  info->data_changed = labels_mtime > (gint64) st->st_mtime;
  return info;
}

static void
list_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  const char *project_dir = task_data;
  g_autofree char *labels = g_build_filename (project_dir, "labels.csv", NULL);
  /* the run files list models/ (the one place that walks it) */
  g_autoptr(GPtrArray) files = bt_run_files_list_models (project_dir);
  GPtrArray *infos = g_ptr_array_new_with_free_func ((GDestroyNotify) bt_model_info_free);
  g_autoptr(GPtrArray) paths = g_ptr_array_new ();
  GStatBuf lst;
  gint64 labels_mtime = g_stat (labels, &lst) == 0 ? (gint64) lst.st_mtime : 0;

  for (guint i = 0; files != NULL && i < files->len && infos->len < 10000; i++)
    {
      GStatBuf st;

      if (g_cancellable_is_cancelled (cancellable))
        break;
      if (g_stat (files->pdata[i], &st) != 0 || !S_ISREG (st.st_mode))
        continue;
      g_ptr_array_add (infos, info_new (files->pdata[i], &st, labels_mtime));
    }
  /* the runs' verdicts (runs/<id>/verdict.ini names its model) */
  {
    g_autoptr(GPtrArray) runs = bt_run_files_list_runs (project_dir, cancellable);
    g_autoptr(GHashTable) verdicts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

    for (guint i = 0; runs != NULL && i < runs->len; i++)
      {
        BtRunInfo *run = runs->pdata[i];
        BtVerdict v;
        char *model_name = NULL;

        if (bt_run_files_read_verdict (run->dir, &v, &model_name) && model_name != NULL)
          g_hash_table_replace (verdicts, model_name, (gpointer) bt_verdict_kind_to_id (v.kind));
        else
          g_free (model_name);
        bt_verdict_clear (&v);
      }
    for (guint i = 0; i < infos->len; i++)
      {
        BtModelInfo *info = infos->pdata[i];
        g_autofree char *base = g_path_get_basename (info->path);
        const char *kind = g_hash_table_lookup (verdicts, base);

        if (info->verdict == NULL && kind != NULL)
          info->verdict = g_strdup (kind);
      }
  }
  g_ptr_array_sort (infos, cmp_newest_first);
  for (guint i = 0; i < infos->len; i++)
    g_ptr_array_add (paths, ((BtModelInfo *) infos->pdata[i])->path);
  if (list_hook != NULL)
    list_hook (paths, list_hook_data);
  g_task_return_pointer (task, infos, (GDestroyNotify) g_ptr_array_unref);
}

void
bt_model_files_list_async (BtProject *project, GCancellable *cancellable,
                           GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (BT_IS_PROJECT (project));

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_task_data (task, g_strdup (bt_project_get_dir (project)), g_free);
  g_task_run_in_thread (task, list_thread);
}

GPtrArray *
bt_model_files_list_info_finish (GAsyncResult *result, GError **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

GPtrArray *
bt_model_files_list_finish (GAsyncResult *result, GError **error)
{
  g_autoptr(GPtrArray) infos = g_task_propagate_pointer (G_TASK (result), error);
  GPtrArray *paths;

  if (infos == NULL)
    return NULL;
  paths = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < infos->len; i++)
    g_ptr_array_add (paths, g_strdup (((BtModelInfo *) infos->pdata[i])->path));
  return paths;
}

int
bt_model_files_pick_default (GPtrArray *infos)
{
  int best = -1;

  g_return_val_if_fail (infos != NULL, -1);
  for (guint i = 0; i < infos->len; i++)
    if (((BtModelInfo *) infos->pdata[i])->pinned)
      return (int) i;
  for (guint i = 0; i < infos->len; i++)
    {
      const BtModelInfo *info = infos->pdata[i];
      /* a run that failed keeps its curves and its file, but is not what opens first */
      if (g_strcmp0 (info->verdict, "diverged") == 0 || g_strcmp0 (info->verdict, "did-not-learn") == 0)
        continue;
      /* newest first: a later model wins only by being strictly better */
      if (!isnan (info->accuracy)
          && (best < 0 || info->accuracy > ((BtModelInfo *) infos->pdata[best])->accuracy))
        best = (int) i;
    }
  return best >= 0 ? best : (infos->len > 0 ? 0 : -1);
}

char *
bt_model_info_label (const BtModelInfo *info)
{
  g_autofree char *name = NULL;

  g_return_val_if_fail (info != NULL, NULL);
  if (info->custom_name != NULL && !isnan (info->accuracy))
    name = g_strdup_printf (_("%s · %.0f%%"), info->custom_name, 100.0 * info->accuracy);
  else
    name = g_strdup (info->name);
  if (info->pinned)
    {
      /* TRANSLATORS: a pinned model in the list */
      char *pinned = g_strdup_printf (_("%s (pinned)"), name);
      g_free (name);
      name = pinned;
    }
  if (info->data_changed)
    {
      /* TRANSLATORS: a model whose project's images or labels changed after it was trained */
      char *changed = g_strdup_printf (_("%s · data changed since"), name);
      g_free (name);
      name = changed;
    }
  return g_steal_pointer (&name);
}

static gboolean
write_sidecar (const char *path, GKeyFile *kf, GError **error)
{
  g_autofree char *ini = sidecar_path (path);
  g_autofree char *data = g_key_file_to_data (kf, NULL, NULL);

  return g_file_set_contents_full (ini, data, -1, G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE,
                                   0644, error);
}

static GKeyFile *
load_sidecar (const char *path)
{
  GKeyFile *kf = g_key_file_new ();
  g_autofree char *ini = sidecar_path (path);

  g_key_file_load_from_file (kf, ini, G_KEY_FILE_KEEP_COMMENTS, NULL);
  return kf;
}

gboolean
bt_model_files_rename (const char *path, const char *name, GError **error)
{
  g_autoptr(GKeyFile) kf = NULL;
  g_autofree char *clean = NULL;

  g_return_val_if_fail (path != NULL, FALSE);

  if (name != NULL && !g_utf8_validate (name, -1, NULL))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, _("The name is not valid text"));
      return FALSE;
    }
  clean = g_strstrip (g_strdup (name ? name : ""));
  for (char *c = clean; *c; c++)
    if ((guchar) *c < 0x20)
      *c = ' ';
  kf = load_sidecar (path);
  if (*clean == '\0')
    g_key_file_remove_key (kf, "model", "name", NULL);
  else
    g_key_file_set_string (kf, "model", "name", clean);
  return write_sidecar (path, kf, error);
}

gboolean
bt_model_files_set_pinned (const char *path, gboolean pinned, GError **error)
{
  g_autoptr(GKeyFile) kf = NULL;

  g_return_val_if_fail (path != NULL, FALSE);

  if (pinned)
    {
      /* one pinned model per project (models/ is in the project folder) */
      g_autofree char *models_dir = g_path_get_dirname (path);
      g_autofree char *project_dir = g_path_get_dirname (models_dir);
      g_autoptr(GPtrArray) others = bt_run_files_list_models (project_dir);

      for (guint i = 0; others != NULL && i < others->len; i++)
        {
          g_autoptr(GKeyFile) okf = NULL;

          if (g_str_equal (others->pdata[i], path))
            continue;
          okf = load_sidecar (others->pdata[i]);
          if (g_key_file_get_boolean (okf, "model", "pinned", NULL))
            {
              g_key_file_set_boolean (okf, "model", "pinned", FALSE);
              if (!write_sidecar (others->pdata[i], okf, error))
                return FALSE;
            }
        }
    }
  kf = load_sidecar (path);
  g_key_file_set_boolean (kf, "model", "pinned", pinned);
  return write_sidecar (path, kf, error);
}

gboolean
bt_model_files_delete (const char *path, GError **error)
{
  g_autoptr(GFile) file = NULL;
  g_autoptr(GFile) sidecar = NULL;
  g_autofree char *ini = NULL;
  g_autoptr(GError) local = NULL;

  g_return_val_if_fail (path != NULL, FALSE);

  file = g_file_new_for_path (path);
  if (!g_file_trash (file, NULL, &local))
    {
      if (!g_error_matches (local, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED))
        {
          g_propagate_error (error, g_steal_pointer (&local));
          return FALSE;
        }
      /* no trash on this file system: the person asked for the deletion */
      g_clear_error (&local);
      if (!g_file_delete (file, NULL, error))
        return FALSE;
    }
  ini = sidecar_path (path);
  sidecar = g_file_new_for_path (ini);
  if (!g_file_delete (sidecar, NULL, &local) && !g_error_matches (local, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
    g_debug ("could not remove %s: %s", ini, local->message);
  return TRUE;
}

static void
load_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  const char *path = task_data;
  GError *error = NULL;
  BtModel *model = bt_model_load (path, &error);
  BtSharedModel *m;

  if (model == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  m = g_new0 (BtSharedModel, 1);
  g_atomic_ref_count_init (&m->ref);
  g_mutex_init (&m->lock);
  m->path = g_strdup (path);
  m->model = model;
  m->needs_backbone = bt_backbones_model_needs (model, &m->backbone_info);
  g_task_return_pointer (task, m, (GDestroyNotify) bt_shared_model_unref);
}

void
bt_model_files_load_async (const char *path, GCancellable *cancellable,
                           GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (path != NULL);

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_task_data (task, g_strdup (path), g_free);
  g_task_run_in_thread (task, load_thread);
}

BtSharedModel *
bt_model_files_load_finish (GAsyncResult *result, GError **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

gboolean
bt_shared_model_needs_backbone (BtSharedModel *m, const BtBackboneInfo **info)
{
  g_return_val_if_fail (m != NULL, FALSE);
  if (info)
    *info = m->backbone_info;
  return m->needs_backbone;
}

char *
bt_model_files_display_name (const char *path)
{
  return bt_run_files_model_display_name (path);
}
