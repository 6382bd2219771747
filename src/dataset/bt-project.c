/* bt-project.c: BtProject, a folder with project.ini (GKeyFile) and labels.csv (RFC 4180).
 * Every mutation is saved atomically and durably before it returns. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <unistd.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>

#include "dataset/bt-project-private.h"

#define BT_PROJECT_FORMAT_VERSION 1
#define BT_N_COLORS 12
#define BT_MAX_INI_BYTES ((gsize) 4 * 1024 * 1024)

/* An import in progress is saved at most once a second (and at its end, and on flush): each
 * save snapshots every item on the main thread, O(n), which would otherwise run after every
 * chunk and stall a GUI by tens of ms on a big project. Every other change is saved at once. */
#define BULK_SAVE_INTERVAL (G_USEC_PER_SEC)

G_DEFINE_FINAL_TYPE (BtProject, bt_project, G_TYPE_OBJECT)

enum { SIGNAL_CHANGED, SIGNAL_SAVE_FAILED, N_SIGNALS };
static guint signals[N_SIGNALS];

static void hand_over (BtProject *self, gboolean retry);

/* ---- Object ---- */

static void
bt_project_finalize (GObject *object)
{
  BtProject *self = BT_PROJECT (object);
  if (self->bulk_timer)
    {
      g_source_destroy (self->bulk_timer);
      g_clear_pointer (&self->bulk_timer, g_source_unref);
    }
  /* Nothing changed is lost when the project goes away (the app quitting). */
  if (self->saver)
    {
      bt_saver_wait (self->saver, NULL);
      if (self->dirty_labels || self->dirty_ini)
        {
          hand_over (self, TRUE);
          bt_saver_wait (self->saver, NULL);
        }
      g_clear_pointer (&self->saver, bt_saver_unref);
    }
  g_free (self->dir);
  g_free (self->name);
  bt_project_settings_clear (&self->settings);
  g_clear_pointer (&self->by_path, g_hash_table_unref);
  g_clear_pointer (&self->class_by_name, g_hash_table_unref);
  g_clear_pointer (&self->renamed, g_hash_table_unref);
  g_clear_object (&self->classes);
  g_clear_object (&self->items);
  G_OBJECT_CLASS (bt_project_parent_class)->finalize (object);
}

static void
bt_project_class_init (BtProjectClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  object_class->finalize = bt_project_finalize;
  signals[SIGNAL_CHANGED] = g_signal_new ("changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                          0, NULL, NULL, NULL, G_TYPE_NONE, 0);
  signals[SIGNAL_SAVE_FAILED] = g_signal_new ("save-failed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                              0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_ERROR);
}

static void
bt_project_init (BtProject *self)
{
  bt_project_settings_init (&self->settings);
  self->classes = g_list_store_new (BT_TYPE_CLASS_INFO);
  self->items = g_list_store_new (BT_TYPE_ITEM);
  self->by_path = g_hash_table_new (g_str_hash, g_str_equal);
  self->class_by_name = g_hash_table_new (g_str_hash, g_str_equal);
}

static void
saver_failed (GObject *owner, const GError *error)
{
  g_signal_emit (owner, signals[SIGNAL_SAVE_FAILED], 0, error);
}

static void
saver_drained (GObject *owner)
{
  BtProject *self = BT_PROJECT (owner);
  /* Only what changed meanwhile: a failed write is retried by the next change or a flush,
   * never in a loop against a full disk. */
  /* The idle runs on the main context; a project filled on a worker (the sample, an open in a
   * GTask) is that worker's until handed over: its next change or flush writes instead. */
  if ((self->dirty_labels || self->dirty_ini) && g_atomic_pointer_get (&self->commit_thread) == g_thread_self ())
    _bt_project_request_save (self, FALSE, FALSE, FALSE);
}

static void
start_saver (BtProject *self)
{
  self->saver = bt_saver_new (self->dir, G_OBJECT (self), saver_failed, saver_drained);
}

/* ---- Paths ---- */

char *
_bt_project_to_absolute (BtProject *self, const char *path)
{
  return g_canonicalize_filename (path, self->dir);
}

/* ---- Saving ---- */

static GKeyFile *
to_keyfile (BtProject *self)
{
  GKeyFile *kf = g_key_file_new ();
  g_key_file_set_integer (kf, "project", "format-version", BT_PROJECT_FORMAT_VERSION);
  g_key_file_set_string (kf, "project", "name", self->name ? self->name : "");
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->classes));
  g_autofree const char **names = g_new0 (const char *, n + 1);
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(BtClassInfo) c = g_list_model_get_item (G_LIST_MODEL (self->classes), i);
      names[i] = bt_class_info_get_name (c);
    }
  g_key_file_set_string_list (kf, "project", "classes", names, n);

  bt_project_settings_to_key_file (&self->settings, kf, NULL);
  return kf;
}

static GBytes *
ini_bytes (BtProject *self)
{
  g_autoptr(GKeyFile) kf = to_keyfile (self);
  gsize len = 0;
  char *data = g_key_file_to_data (kf, &len, NULL);
  return g_bytes_new_take (data, len);
}

/* Synchronous saves, for a project nobody else sees yet (bt_project_create). */
static gboolean
save_ini (BtProject *self, GError **error)
{
  g_autoptr(GBytes) data = ini_bytes (self);
  g_autofree char *path = g_build_filename (self->dir, "project.ini", NULL);
  return bt_write_file_atomic (path, g_bytes_get_data (data, NULL), g_bytes_get_size (data), error);
}

static gboolean
save_labels (BtProject *self, GError **error)
{
  g_autoptr(GArray) rows = bt_saver_snapshot (G_LIST_MODEL (self->items));
  g_autoptr(GString) out = bt_saver_serialize (self->dir, rows);
  g_autofree char *path = g_build_filename (self->dir, "labels.csv", NULL);
  return bt_write_file_atomic (path, out->str, out->len, error);
}

static void
recount (BtProject *self)
{
  g_autoptr(GHashTable) counts = g_hash_table_new (g_str_hash, g_str_equal);
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->items));
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(BtItem) it = g_list_model_get_item (G_LIST_MODEL (self->items), i);
      const char *c = bt_item_get_class_name (it);
      g_hash_table_insert (counts, (gpointer) c,
                           GUINT_TO_POINTER (GPOINTER_TO_UINT (g_hash_table_lookup (counts, c)) + 1));
    }
  guint nc = g_list_model_get_n_items (G_LIST_MODEL (self->classes));
  for (guint i = 0; i < nc; i++)
    {
      g_autoptr(BtClassInfo) c = g_list_model_get_item (G_LIST_MODEL (self->classes), i);
      bt_class_info_set_n_items (c, GPOINTER_TO_UINT (g_hash_table_lookup (counts, bt_class_info_get_name (c))));
    }
}

/* Hands what changed to the writer thread: a snapshot (item refs and shared strings, O(n)
 * pointer copies). A file whose last write failed goes along again. */
static void
hand_over (BtProject *self, gboolean retry)
{
  gboolean retry_labels = FALSE, retry_ini = FALSE;
  if (retry)
    bt_saver_needs (self->saver, &retry_labels, &retry_ini);
  gboolean labels = self->dirty_labels || retry_labels, ini = self->dirty_ini || retry_ini;
  self->dirty_labels = self->dirty_ini = self->dirty_edit = FALSE;
  self->last_hand_over = g_get_monotonic_time ();
  if (self->bulk_timer)
    {
      g_source_destroy (self->bulk_timer);
      g_clear_pointer (&self->bulk_timer, g_source_unref);
    }
  bt_saver_submit (self->saver, labels ? bt_saver_snapshot (G_LIST_MODEL (self->items)) : NULL,
                   ini ? ini_bytes (self) : NULL);
}

/* While the writer is busy, changes are only marked: when it goes idle it asks for one snapshot
 * of them all (saver_drained), so a burst of edits or an import's chunks cost one O(n) snapshot
 * per write, not one per change. */
static gboolean
bulk_timer_cb (gpointer data)
{
  BtProject *self = data;
  g_clear_pointer (&self->bulk_timer, g_source_unref);
  /* A busy writer asks again when it is done (saver_drained). */
  if ((self->dirty_labels || self->dirty_ini) && !bt_saver_is_busy (self->saver))
    hand_over (self, TRUE);
  return G_SOURCE_REMOVE;
}

/* bulk: an import's chunk, which may wait up to BULK_SAVE_INTERVAL after the last hand-over. */
void
_bt_project_request_save (BtProject *self, gboolean ini, gboolean labels, gboolean bulk)
{
  self->dirty_labels |= labels;
  self->dirty_ini |= ini;
  if (!bulk && (labels || ini))
    self->dirty_edit = TRUE;
  if (!(self->dirty_labels || self->dirty_ini) || bt_saver_is_busy (self->saver))
    return;
  gint64 due = self->last_hand_over + BULK_SAVE_INTERVAL;
  gint64 now = g_get_monotonic_time ();
  if (self->dirty_edit || now >= due)
    {
      hand_over (self, TRUE);
      return;
    }
  if (self->bulk_timer == NULL)
    {
      /* The timer runs where the changes are made (the thread-default context then). */
      self->bulk_timer = g_timeout_source_new ((guint) ((due - now + 999) / 1000));
      g_source_set_callback (self->bulk_timer, bulk_timer_cb, self, NULL);
      g_source_attach (self->bulk_timer, g_main_context_get_thread_default ());
    }
}

/* Records a change: counts, save hand-over, "changed". The write happens on the writer thread;
 * if it fails, the files on disk keep their previous content, "save-failed" is emitted on the
 * project's main context and the next change (or bt_project_flush) writes again. */
gboolean
_bt_project_commit_ex (BtProject *self, gboolean ini, gboolean labels, gboolean counts, gboolean bulk)
{
  g_atomic_int_inc (&self->generation);
  g_atomic_pointer_set (&self->commit_thread, g_thread_self ());
  if (counts)
    recount (self);
  _bt_project_request_save (self, ini, labels, bulk);
  g_signal_emit (self, signals[SIGNAL_CHANGED], 0);
  return TRUE;
}

gboolean
_bt_project_commit_full (BtProject *self, gboolean ini, gboolean labels, gboolean counts)
{
  return _bt_project_commit_ex (self, ini, labels, counts, FALSE);
}

gboolean
_bt_project_commit (BtProject *self, gboolean ini, gboolean labels, GError **error)
{
  return _bt_project_commit_full (self, ini, labels, TRUE);
}

gboolean
bt_project_flush (BtProject *self, GError **error)
{
  g_return_val_if_fail (BT_IS_PROJECT (self), FALSE);
  gboolean retry_labels = FALSE, retry_ini = FALSE;
  /* Let the running write end first, so its outcome decides whether to write again. */
  bt_saver_wait (self->saver, NULL);
  bt_saver_needs (self->saver, &retry_labels, &retry_ini);
  if (retry_labels || retry_ini || self->dirty_labels || self->dirty_ini)
    hand_over (self, TRUE);
  return bt_saver_wait (self->saver, error);
}

gboolean
bt_project_is_saving (BtProject *self)
{
  g_return_val_if_fail (BT_IS_PROJECT (self), FALSE);
  return self->dirty_labels || self->dirty_ini || bt_saver_is_busy (self->saver);
}

static void
flush_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  GError *error = NULL;
  if (bt_saver_wait (data, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

void
bt_project_flush_async (BtProject *self, GCancellable *cancellable, GAsyncReadyCallback callback,
                        gpointer user_data)
{
  g_return_if_fail (BT_IS_PROJECT (self));
  gboolean retry_labels = FALSE, retry_ini = FALSE;
  bt_saver_needs (self->saver, &retry_labels, &retry_ini);
  if (retry_labels || retry_ini || self->dirty_labels || self->dirty_ini)
    hand_over (self, TRUE);
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, bt_project_flush_async);
  /* The task keeps the project, and so its saver, alive. */
  g_task_set_task_data (task, self->saver, NULL);
  g_task_run_in_thread (task, flush_thread);
}

gboolean
bt_project_flush_finish (BtProject *self, GAsyncResult *res, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (res, self), FALSE);
  return g_task_propagate_boolean (G_TASK (res), error);
}

/* ---- Classes ---- */

gboolean
_bt_project_check_class_name (const char *name, GError **error)
{
  if (name == NULL || !g_utf8_validate (name, -1, NULL))
    {
      g_set_error_literal (error, BT_DATASET_ERROR, BT_DATASET_ERROR_INVALID,
                           _("A class name must be valid text"));
      return FALSE;
    }
  g_autofree char *stripped = g_strstrip (g_strdup (name));
  if (stripped[0] == '\0')
    {
      g_set_error_literal (error, BT_DATASET_ERROR, BT_DATASET_ERROR_INVALID,
                           _("A class name cannot be empty"));
      return FALSE;
    }
  if (strlen (name) > 255)
    {
      g_set_error_literal (error, BT_DATASET_ERROR, BT_DATASET_ERROR_INVALID,
                           _("A class name can be at most 255 bytes long"));
      return FALSE;
    }
  if (!bt_class_name_is_safe (name))
    {
      g_set_error_literal (error, BT_DATASET_ERROR, BT_DATASET_ERROR_INVALID,
                           _("A class name cannot hold control characters such as a line break or a tab"));
      return FALSE;
    }
  return TRUE;
}

BtClassInfo *
_bt_project_ensure_class (BtProject *self, const char *name)
{
  BtClassInfo *c = g_hash_table_lookup (self->class_by_name, name);
  if (c)
    return c;
  g_autoptr(BtClassInfo) nc = bt_class_info_new (name, self->next_color++ % BT_N_COLORS);
  g_list_store_append (self->classes, nc);
  g_hash_table_insert (self->class_by_name, (gpointer) bt_class_info_get_name (nc), nc);
  return nc;
}

int
bt_project_find_class (BtProject *self, const char *name)
{
  g_return_val_if_fail (BT_IS_PROJECT (self), -1);
  g_return_val_if_fail (name != NULL, -1);
  BtClassInfo *c = g_hash_table_lookup (self->class_by_name, name);
  guint pos = 0;
  if (c == NULL || !g_list_store_find (self->classes, c, &pos))
    return -1;
  return (int) pos;
}

BtItem *
bt_project_find_item (BtProject *self, const char *path)
{
  g_return_val_if_fail (BT_IS_PROJECT (self), NULL);
  g_return_val_if_fail (path != NULL, NULL);
  g_autofree char *abs = _bt_project_to_absolute (self, path);
  return g_hash_table_lookup (self->by_path, abs);
}

/* Small classes keep a validation image: when a class with >= 2 usable items has none in val,
 * move one candidate there, the one whose hash lies closest to the val band. Candidates are the
 * items just added, so adding images never moves the ones already there. */
static void
ensure_val (BtProject *self, const char *class_name, GPtrArray *candidates)
{
  const BtProjectSettings *s = &self->settings;
  if (s->split_val <= 0)
    return;
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->items));
  guint usable = 0;
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(BtItem) it = g_list_model_get_item (G_LIST_MODEL (self->items), i);
      if (g_strcmp0 (bt_item_get_class_name (it), class_name) != 0 || bt_item_get_excluded (it))
        continue;
      if (bt_item_get_split (it) == BT_SPLIT_VAL)
        return;
      usable++;
    }
  if (usable < 2)
    return;
  double centre = (s->split_train + s->split_val / 2.0) / 100.0;
  BtItem *best = NULL;
  double best_d = G_MAXDOUBLE;
  for (guint i = 0; candidates && i < candidates->len; i++)
    {
      BtItem *it = candidates->pdata[i];
      if (g_strcmp0 (bt_item_get_class_name (it), class_name) != 0 || bt_item_get_excluded (it))
        continue;
      double d = fabs (bt_split_position (bt_item_get_hash (it)) - centre);
      /* Prefer taking from train over emptying test. */
      if (bt_item_get_split (it) == BT_SPLIT_TEST)
        d += 2.0;
      if (d < best_d)
        {
          best_d = d;
          best = it;
        }
    }
  if (best)
    bt_item_set_split (best, BT_SPLIT_VAL);
}

static void
resplit_all (BtProject *self)
{
  const BtProjectSettings *s = &self->settings;
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->items));
  g_autoptr(GPtrArray) all = g_ptr_array_new_with_free_func (g_object_unref);
  for (guint i = 0; i < n; i++)
    {
      BtItem *it = g_list_model_get_item (G_LIST_MODEL (self->items), i);
      bt_item_set_split (it, bt_split_for_hash (bt_item_get_hash (it), s->split_train, s->split_val, s->split_test));
      g_ptr_array_add (all, it);
    }
  guint nc = g_list_model_get_n_items (G_LIST_MODEL (self->classes));
  for (guint i = 0; i < nc; i++)
    {
      g_autoptr(BtClassInfo) c = g_list_model_get_item (G_LIST_MODEL (self->classes), i);
      ensure_val (self, bt_class_info_get_name (c), all);
    }
}

typedef struct {
  gboolean has_val;
  guint    usable;
  BtItem  *best;
  double   best_d;
} ValState;

/* ensure_val for every class that got items, in one pass over the project's items. */
gboolean
_bt_project_ensure_val_added (BtProject *self, GPtrArray *added)
{
  const BtProjectSettings *s = &self->settings;
  if (s->split_val <= 0 || added->len == 0)
    return FALSE;
  g_autoptr(GHashTable) val = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_free);
  for (guint i = 0; i < added->len; i++)
    {
      const char *c = bt_item_get_class_name (added->pdata[i]);
      if (!g_hash_table_contains (val, c))
        {
          ValState *v = g_new0 (ValState, 1);
          v->best_d = G_MAXDOUBLE;
          g_hash_table_insert (val, (gpointer) c, v);
        }
    }
  /* A class whose added items already hold a validation image needs nothing: after a big
   * import that is every class, and the pass over the whole project below is skipped. */
  guint n_open = g_hash_table_size (val);
  for (guint i = 0; i < added->len && n_open > 0; i++)
    {
      BtItem *it = added->pdata[i];
      if (bt_item_get_split (it) != BT_SPLIT_VAL || bt_item_get_excluded (it) ||
          g_hash_table_lookup (self->by_path, bt_item_get_path (it)) != it)
        continue;
      ValState *v = g_hash_table_lookup (val, bt_item_get_class_name (it));
      if (v != NULL && !v->has_val)
        {
          v->has_val = TRUE;
          n_open--;
        }
    }
  if (n_open == 0)
    return FALSE;
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->items));
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(BtItem) it = g_list_model_get_item (G_LIST_MODEL (self->items), i);
      ValState *v = g_hash_table_lookup (val, bt_item_get_class_name (it));
      if (v == NULL || v->has_val || bt_item_get_excluded (it))
        continue;
      v->has_val |= bt_item_get_split (it) == BT_SPLIT_VAL;
      v->usable++;
    }
  double centre = (s->split_train + s->split_val / 2.0) / 100.0;
  for (guint i = 0; i < added->len; i++)
    {
      BtItem *it = added->pdata[i];
      ValState *v = g_hash_table_lookup (val, bt_item_get_class_name (it));
      /* Still ours (not removed or relabelled meanwhile)? */
      if (v == NULL || v->has_val || g_hash_table_lookup (self->by_path, bt_item_get_path (it)) != it ||
          bt_item_get_excluded (it))
        continue;
      double d = fabs (bt_split_position (bt_item_get_hash (it)) - centre);
      if (bt_item_get_split (it) == BT_SPLIT_TEST)
        d += 2.0;
      if (d < v->best_d)
        {
          v->best_d = d;
          v->best = it;
        }
    }
  gboolean moved = FALSE;
  GHashTableIter iter;
  ValState *v;
  g_hash_table_iter_init (&iter, val);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &v))
    if (!v->has_val && v->usable >= 2 && v->best)
      {
        bt_item_set_split (v->best, BT_SPLIT_VAL);
        moved = TRUE;
      }
  return moved;
}

gboolean
bt_project_add_class (BtProject *self, const char *name, GError **error)
{
  g_return_val_if_fail (BT_IS_PROJECT (self), FALSE);
  if (!_bt_project_check_class_name (name, error))
    return FALSE;
  if (g_hash_table_contains (self->class_by_name, name))
    {
      g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_INVALID,
                   _("A class named “%s” already exists"), name);
      return FALSE;
    }
  _bt_project_ensure_class (self, name);
  return _bt_project_commit (self, TRUE, FALSE, error);
}

/* The class an import's item named `name` belongs to now: the renamed class when the user
 * renamed it during the import (and it still exists), else name itself. */
const char *
_bt_project_import_class_name (BtProject *self, const char *name)
{
  const char *to = self->renamed ? g_hash_table_lookup (self->renamed, name) : NULL;
  return to != NULL && g_hash_table_contains (self->class_by_name, to) ? to : name;
}

static void
note_rename (BtProject *self, const char *old_name, const char *new_name)
{
  if (self->n_imports == 0)
    return;
  if (self->renamed == NULL)
    self->renamed = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  /* chains collapse: A → B then B → C makes A → C */
  GHashTableIter iter;
  gpointer key, value;
  g_hash_table_iter_init (&iter, self->renamed);
  while (g_hash_table_iter_next (&iter, &key, &value))
    if (g_str_equal (value, old_name))
      {
        if (g_str_equal (key, new_name))
          g_hash_table_iter_remove (&iter);   /* renamed back */
        else
          g_hash_table_iter_replace (&iter, g_strdup (new_name));
      }
  g_hash_table_replace (self->renamed, g_strdup (old_name), g_strdup (new_name));
}

gboolean
bt_project_rename_class (BtProject *self, const char *old_name, const char *new_name, GError **error)
{
  g_return_val_if_fail (BT_IS_PROJECT (self), FALSE);
  g_return_val_if_fail (old_name != NULL, FALSE);
  BtClassInfo *c = g_hash_table_lookup (self->class_by_name, old_name);
  if (c == NULL)
    {
      g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_INVALID, _("There is no class named “%s”"), old_name);
      return FALSE;
    }
  if (!_bt_project_check_class_name (new_name, error))
    return FALSE;
  if (g_str_equal (old_name, new_name))
    return TRUE;
  if (g_hash_table_contains (self->class_by_name, new_name))
    {
      g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_INVALID,
                   _("A class named “%s” already exists"), new_name);
      return FALSE;
    }
  g_autofree char *old = g_strdup (old_name);  /* old_name may be the class's own string */
  note_rename (self, old, new_name);
  g_hash_table_remove (self->class_by_name, old);
  bt_class_info_set_name (c, new_name);
  g_hash_table_insert (self->class_by_name, (gpointer) bt_class_info_get_name (c), c);
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->items));
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(BtItem) it = g_list_model_get_item (G_LIST_MODEL (self->items), i);
      if (g_str_equal (bt_item_get_class_name (it), old))
        bt_item_set_class_name (it, new_name);
    }
  return _bt_project_commit (self, TRUE, TRUE, error);
}

gboolean
bt_project_remove_class (BtProject *self, const char *name, GError **error)
{
  g_return_val_if_fail (BT_IS_PROJECT (self), FALSE);
  g_return_val_if_fail (name != NULL, FALSE);
  BtClassInfo *c = g_hash_table_lookup (self->class_by_name, name);
  guint pos = 0;
  if (c == NULL || !g_list_store_find (self->classes, c, &pos))
    {
      g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_INVALID, _("There is no class named “%s”"), name);
      return FALSE;
    }
  g_autofree char *gone = g_strdup (name);
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->items));
  g_autoptr(GPtrArray) keep = g_ptr_array_new_with_free_func (g_object_unref);
  for (guint i = 0; i < n; i++)
    {
      BtItem *it = g_list_model_get_item (G_LIST_MODEL (self->items), i);
      if (g_str_equal (bt_item_get_class_name (it), gone))
        {
          g_hash_table_remove (self->by_path, bt_item_get_path (it));
          g_object_unref (it);
        }
      else
        g_ptr_array_add (keep, it);
    }
  if (keep->len != n)
    g_list_store_splice (self->items, 0, n, keep->pdata, keep->len);
  g_hash_table_remove (self->class_by_name, gone);
  g_list_store_remove (self->classes, pos);
  return _bt_project_commit (self, TRUE, TRUE, error);
}

gboolean
bt_project_move_class (BtProject *self, const char *name, guint new_position, GError **error)
{
  g_return_val_if_fail (BT_IS_PROJECT (self), FALSE);
  g_return_val_if_fail (name != NULL, FALSE);
  BtClassInfo *c = g_hash_table_lookup (self->class_by_name, name);
  guint pos = 0;
  if (c == NULL || !g_list_store_find (self->classes, c, &pos))
    {
      g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_INVALID, _("There is no class named “%s”"), name);
      return FALSE;
    }
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->classes));
  new_position = MIN (new_position, n - 1);
  if (new_position == pos)
    return TRUE;
  g_object_ref (c);
  g_list_store_remove (self->classes, pos);
  g_list_store_insert (self->classes, new_position, c);
  g_object_unref (c);
  return _bt_project_commit (self, TRUE, FALSE, error);
}

/* ---- Items ---- */

/* Content hash and, from the header, the image size (0 × 0 when not an image). */
static guint64
hash_file (const char *path, int *width, int *height)
{
  g_autofree guint8 *data = NULL;
  gsize len = 0;
  *width = *height = 0;
  if (!bt_read_regular_file (path, BT_MAX_FILE_BYTES, &data, &len, NULL, NULL))
    return 0;
  if (!bt_image_probe_bytes (data, len, width, height, NULL, NULL, NULL))
    *width = *height = 0;
  return bt_hash_bytes (data, len);
}

/* Adds without saving; returns the new item (borrowed) or NULL if the path is already there. */
static BtItem *
add_item_nosave (BtProject *self, const char *abs, const char *class_name, guint64 hash,
                 int split, gboolean excluded)
{
  if (g_hash_table_contains (self->by_path, abs))
    return NULL;
  _bt_project_ensure_class (self, class_name);
  const BtProjectSettings *s = &self->settings;
  BtSplit sp = split >= 0 ? (BtSplit) split
                          : bt_split_for_hash (hash, s->split_train, s->split_val, s->split_test);
  g_autoptr(BtItem) it = bt_item_new (abs, class_name, sp, hash);
  bt_item_set_excluded (it, excluded);
  g_hash_table_insert (self->by_path, (gpointer) bt_item_get_path (it), it);
  g_list_store_append (self->items, it);
  return it;
}

gboolean
bt_project_add_items (BtProject *self, const char *class_name, const char * const *paths,
                      const guint64 *hashes, GError **error)
{
  g_return_val_if_fail (BT_IS_PROJECT (self), FALSE);
  g_return_val_if_fail (paths != NULL, FALSE);
  if (!_bt_project_check_class_name (class_name, error))
    return FALSE;
  gboolean new_class = !g_hash_table_contains (self->class_by_name, class_name);
  _bt_project_ensure_class (self, class_name);
  g_autoptr(GPtrArray) added = g_ptr_array_new ();
  for (guint i = 0; paths[i]; i++)
    {
      g_autofree char *abs = _bt_project_to_absolute (self, paths[i]);
      int w = 0, hgt = 0;
      guint64 h = hashes && hashes[i] ? hashes[i] : hash_file (abs, &w, &hgt);
      if (h == 0)
        h = bt_hash_bytes ((const guint8 *) abs, strlen (abs));  /* unreadable now: still stable */
      BtItem *it = add_item_nosave (self, abs, class_name, h, -1, FALSE);
      if (it)
        {
          bt_item_set_size (it, w, hgt);
          g_ptr_array_add (added, it);
        }
    }
  ensure_val (self, class_name, added);
  if (added->len == 0 && !new_class)
    return TRUE;
  return _bt_project_commit (self, new_class, TRUE, error);
}

gboolean
bt_project_relabel (BtProject *self, BtItem * const *items, guint n, const char *class_name, GError **error)
{
  g_return_val_if_fail (BT_IS_PROJECT (self), FALSE);
  g_return_val_if_fail (items != NULL || n == 0, FALSE);
  if (!_bt_project_check_class_name (class_name, error))
    return FALSE;
  gboolean new_class = !g_hash_table_contains (self->class_by_name, class_name);
  _bt_project_ensure_class (self, class_name);
  g_autoptr(GPtrArray) moved = g_ptr_array_new ();
  for (guint i = 0; i < n; i++)
    {
      g_return_val_if_fail (BT_IS_ITEM (items[i]), FALSE);
      if (g_hash_table_lookup (self->by_path, bt_item_get_path (items[i])) != items[i])
        continue;  /* not ours */
      bt_item_set_class_name (items[i], class_name);
      g_ptr_array_add (moved, items[i]);
    }
  ensure_val (self, class_name, moved);
  return _bt_project_commit (self, new_class, TRUE, error);
}

gboolean
bt_project_set_excluded (BtProject *self, BtItem * const *items, guint n, gboolean excluded, GError **error)
{
  g_return_val_if_fail (BT_IS_PROJECT (self), FALSE);
  g_return_val_if_fail (items != NULL || n == 0, FALSE);
  for (guint i = 0; i < n; i++)
    {
      g_return_val_if_fail (BT_IS_ITEM (items[i]), FALSE);
      if (g_hash_table_lookup (self->by_path, bt_item_get_path (items[i])) == items[i])
        bt_item_set_excluded (items[i], excluded);
    }
  return _bt_project_commit (self, FALSE, TRUE, error);
}

/* ---- Loading ---- */

gboolean
_bt_project_labels_header (char **row, BtLabelsColumns *c)
{
  c->col_path = c->col_class = c->col_split = c->col_excluded = c->col_hash = -1;
  c->col_width = c->col_height = -1;
  for (int i = 0; row[i]; i++)
    {
      g_autofree char *k = g_ascii_strdown (row[i], -1);
      g_strstrip (k);
      if (g_str_equal (k, "path") || g_str_equal (k, "file") || g_str_equal (k, "filename"))
        c->col_path = i;
      else if (g_str_equal (k, "class") || g_str_equal (k, "label"))
        c->col_class = i;
      else if (g_str_equal (k, "split"))
        c->col_split = i;
      else if (g_str_equal (k, "excluded"))
        c->col_excluded = i;
      else if (g_str_equal (k, "hash"))
        c->col_hash = i;
      else if (g_str_equal (k, "width"))
        c->col_width = i;
      else if (g_str_equal (k, "height"))
        c->col_height = i;
    }
  return c->col_path >= 0 && c->col_class >= 0;
}

const char *
_bt_project_labels_field (char **row, int col)
{
  if (col < 0)
    return NULL;
  for (int i = 0; i < col; i++)
    if (row[i] == NULL)
      return NULL;
  return row[col];
}

static gboolean
load_labels (BtProject *self, const char *path, GError **error)
{
  g_autofree guint8 *data = NULL;
  gsize len = 0;
  g_autoptr(GError) local = NULL;
  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    return TRUE;  /* a project without images yet */
  if (!bt_read_regular_file (path, BT_MAX_LABELS_BYTES, &data, &len, NULL, error))
    return FALSE;
  g_autoptr(GPtrArray) rows = bt_csv_parse ((const char *) data, len, &local);
  if (rows == NULL)
    {
      g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_CORRUPT,
                   _("labels.csv is damaged: %s"), local->message);
      return FALSE;
    }
  if (rows->len == 0)
    return TRUE;
  BtLabelsColumns c;
  if (!_bt_project_labels_header (rows->pdata[0], &c))
    {
      g_set_error_literal (error, BT_DATASET_ERROR, BT_DATASET_ERROR_CORRUPT,
                           _("labels.csv has no “path” and “class” columns"));
      return FALSE;
    }
  for (guint r = 1; r < rows->len; r++)
    {
      char **row = rows->pdata[r];
      const char *p = _bt_project_labels_field (row, c.col_path), *cls = _bt_project_labels_field (row, c.col_class);
      if (p == NULL || p[0] == '\0' || cls == NULL || !_bt_project_check_class_name (cls, NULL))
        {
          g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_CORRUPT,
                       _("labels.csv row %u has no usable path or class"), r + 1);
          return FALSE;
        }
      BtSplit sp;
      int split = bt_split_from_string (_bt_project_labels_field (row, c.col_split), &sp) ? (int) sp : -1;
      const char *ex = _bt_project_labels_field (row, c.col_excluded);
      gboolean excluded = ex && (g_str_equal (ex, "1") || g_ascii_strcasecmp (ex, "true") == 0);
      const char *hs = _bt_project_labels_field (row, c.col_hash);
      guint64 hash = 0;
      g_autofree char *abs = _bt_project_to_absolute (self, p);
      if (hs == NULL || !g_ascii_string_to_unsigned (hs, 16, 1, G_MAXUINT64, &hash, NULL))
        hash = bt_hash_bytes ((const guint8 *) abs, strlen (abs));
      BtItem *it = add_item_nosave (self, abs, cls, hash, split, excluded);
      guint64 w = 0, h = 0;
      const char *ws = _bt_project_labels_field (row, c.col_width), *hs2 = _bt_project_labels_field (row, c.col_height);
      if (it && ws && hs2 && g_ascii_string_to_unsigned (ws, 10, 0, G_MAXINT, &w, NULL) &&
          g_ascii_string_to_unsigned (hs2, 10, 0, G_MAXINT, &h, NULL))
        bt_item_set_size (it, (int) w, (int) h);
    }
  return TRUE;
}

static gboolean
load_ini (BtProject *self, const char *path, GError **error)
{
  g_autofree guint8 *data = NULL;
  gsize len = 0;
  if (!bt_read_regular_file (path, BT_MAX_INI_BYTES, &data, &len, NULL, error))
    return FALSE;
  g_autoptr(GKeyFile) kf = g_key_file_new ();
  g_autoptr(GError) local = NULL;
  if (!g_key_file_load_from_data (kf, (const char *) data, len, G_KEY_FILE_NONE, &local))
    {
      g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_CORRUPT,
                   _("project.ini is damaged: %s"), local->message);
      return FALSE;
    }
  g_autofree char *version_text = g_key_file_get_string (kf, "project", "format-version", NULL);
  gint64 version = 0;
  if (version_text && !g_ascii_string_to_signed (version_text, 10, G_MININT, G_MAXINT, &version, NULL))
    {
      g_set_error_literal (error, BT_DATASET_ERROR, BT_DATASET_ERROR_CORRUPT,
                           _("project.ini: [project] format-version is not a whole number"));
      return FALSE;
    }
  if (version < 1)
    {
      g_set_error_literal (error, BT_DATASET_ERROR, BT_DATASET_ERROR_CORRUPT,
                           _("project.ini has no format version; it is not a Bottega project"));
      return FALSE;
    }
  if (version > BT_PROJECT_FORMAT_VERSION)
    {
      g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_UNSUPPORTED,
                   _("This project was saved by a newer Bottega (format %d); please update"), (int) version);
      return FALSE;
    }
  g_free (self->name);
  self->name = g_key_file_get_string (kf, "project", "name", NULL);
  if (self->name == NULL)
    self->name = g_filename_display_basename (self->dir);

  if (!bt_project_settings_from_key_file (&self->settings, kf, NULL, FALSE, &local))
    {
      g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_CORRUPT, "project.ini: %s", local->message);
      return FALSE;
    }
  g_auto(GStrv) classes = g_key_file_get_string_list (kf, "project", "classes", NULL, NULL);
  for (guint i = 0; classes && classes[i]; i++)
    if (_bt_project_check_class_name (classes[i], NULL))
      _bt_project_ensure_class (self, classes[i]);
  return TRUE;
}

static void
check_missing_sync (BtProject *self)
{
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->items));
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(BtItem) it = g_list_model_get_item (G_LIST_MODEL (self->items), i);
      bt_item_set_missing (it, access (bt_item_get_path (it), F_OK) != 0);
    }
}

static gboolean
make_subdirs (const char *dir, GError **error)
{
  static const char * const subs[] = { "models", "runs", "cache" };
  for (guint i = 0; i < G_N_ELEMENTS (subs); i++)
    {
      g_autofree char *p = g_build_filename (dir, subs[i], NULL);
      if (g_mkdir_with_parents (p, 0755) != 0)
        {
          int e = errno;
          g_autofree char *display = g_filename_display_name (p);
          g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_IO,
                       _("Could not create the folder “%s”: %s"), display, g_strerror (e));
          return FALSE;
        }
    }
  return TRUE;
}

BtProject *
bt_project_create (const char *dir, const char *name, GError **error)
{
  g_return_val_if_fail (dir != NULL, NULL);
  if (name != NULL && !g_utf8_validate (name, -1, NULL))
    {
      g_set_error_literal (error, BT_DATASET_ERROR, BT_DATASET_ERROR_INVALID,
                           _("The project name must be valid text"));
      return NULL;
    }
  g_autoptr(BtProject) self = g_object_new (BT_TYPE_PROJECT, NULL);
  self->dir = g_canonicalize_filename (dir, NULL);
  g_autofree char *ini = g_build_filename (self->dir, "project.ini", NULL);
  if (g_file_test (ini, G_FILE_TEST_EXISTS))
    {
      g_autofree char *display = g_filename_display_name (self->dir);
      g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_INVALID,
                   _("“%s” already holds a project"), display);
      return NULL;
    }
  if (g_mkdir_with_parents (self->dir, 0755) != 0 || !make_subdirs (self->dir, error))
    {
      if (error && *error == NULL)
        {
          int e = errno;
          g_autofree char *display = g_filename_display_name (self->dir);
          g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_IO,
                       _("Could not create the folder “%s”: %s"), display, g_strerror (e));
        }
      return NULL;
    }
  self->name = name ? g_strdup (name) : g_filename_display_basename (self->dir);
  if (!save_labels (self, error) || !save_ini (self, error))
    return NULL;
  start_saver (self);
  return g_steal_pointer (&self);
}

BtProject *
bt_project_open (const char *dir, GError **error)
{
  g_return_val_if_fail (dir != NULL, NULL);
  g_autoptr(BtProject) self = g_object_new (BT_TYPE_PROJECT, NULL);
  self->dir = g_canonicalize_filename (dir, NULL);
  g_autofree char *ini = g_build_filename (self->dir, "project.ini", NULL);
  g_autofree char *labels = g_build_filename (self->dir, "labels.csv", NULL);
  if (!load_ini (self, ini, error) || !load_labels (self, labels, error))
    return NULL;
  make_subdirs (self->dir, NULL);  /* disposable folders may have been deleted */
  check_missing_sync (self);
  recount (self);
  start_saver (self);
  bt_project_tidy_in_background (self->dir);  /* leftovers of killed writes (bt-project-tidy.c) */
  return g_steal_pointer (&self);
}

const char *
bt_project_get_dir (BtProject *self)
{
  g_return_val_if_fail (BT_IS_PROJECT (self), NULL);
  return self->dir;
}

const char *
bt_project_get_name (BtProject *self)
{
  g_return_val_if_fail (BT_IS_PROJECT (self), NULL);
  return self->name;
}

gboolean
bt_project_set_name (BtProject *self, const char *name, GError **error)
{
  g_return_val_if_fail (BT_IS_PROJECT (self), FALSE);
  g_return_val_if_fail (name != NULL, FALSE);
  if (!g_utf8_validate (name, -1, NULL))
    {
      g_set_error_literal (error, BT_DATASET_ERROR, BT_DATASET_ERROR_INVALID,
                           _("The project name must be valid text"));
      return FALSE;
    }
  g_free (self->name);
  self->name = g_strdup (name);
  return _bt_project_commit (self, TRUE, FALSE, error);
}

GListModel *
bt_project_get_classes (BtProject *self)
{
  g_return_val_if_fail (BT_IS_PROJECT (self), NULL);
  return G_LIST_MODEL (self->classes);
}

GListModel *
bt_project_get_items (BtProject *self)
{
  g_return_val_if_fail (BT_IS_PROJECT (self), NULL);
  return G_LIST_MODEL (self->items);
}

const BtProjectSettings *
bt_project_get_settings (BtProject *self)
{
  g_return_val_if_fail (BT_IS_PROJECT (self), NULL);
  return &self->settings;
}

gboolean
bt_project_update_settings (BtProject *self, const BtProjectSettings *settings, GError **error)
{
  g_return_val_if_fail (BT_IS_PROJECT (self), FALSE);
  g_return_val_if_fail (settings != NULL, FALSE);
  if (!bt_project_settings_validate (settings, error))
    return FALSE;
  gboolean resplit = settings->split_train != self->settings.split_train ||
                     settings->split_val != self->settings.split_val ||
                     settings->split_test != self->settings.split_test;
  BtProjectSettings copy;
  bt_project_settings_copy (&copy, settings);  /* settings may alias ours */
  bt_project_settings_clear (&self->settings);
  self->settings = copy;
  if (resplit)
    resplit_all (self);
  return _bt_project_commit (self, TRUE, resplit, error);
}

/* ---- Views for training ---- */

BtSplitView *
bt_project_split_view (BtProject *self, BtSplit split)
{
  g_return_val_if_fail (BT_IS_PROJECT (self), NULL);
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->items));
  BtSplitView *v = g_new0 (BtSplitView, 1);
  v->items = g_new (guint, MAX (n, 1));
  v->labels = g_new (int, MAX (n, 1));
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(BtItem) it = g_list_model_get_item (G_LIST_MODEL (self->items), i);
      if (bt_item_get_split (it) != split || bt_item_get_excluded (it) || bt_item_get_missing (it))
        continue;
      int label = bt_project_find_class (self, bt_item_get_class_name (it));
      if (label < 0)
        continue;
      v->items[v->n] = i;
      v->labels[v->n] = label;
      v->n++;
    }
  return v;
}

void
bt_split_view_free (BtSplitView *v)
{
  if (v == NULL)
    return;
  g_free (v->items);
  g_free (v->labels);
  g_free (v);
}

void
bt_project_class_weights (BtProject *self, float *weights_out, guint n_classes)
{
  g_return_if_fail (BT_IS_PROJECT (self));
  g_return_if_fail (weights_out != NULL || n_classes == 0);
  g_autofree guint *counts = g_new0 (guint, MAX (n_classes, 1));
  g_autoptr(BtSplitView) v = bt_project_split_view (self, BT_SPLIT_TRAIN);
  guint total = 0, present = 0;
  for (guint i = 0; i < v->n; i++)
    if ((guint) v->labels[i] < n_classes)
      {
        counts[v->labels[i]]++;
        total++;
      }
  for (guint k = 0; k < n_classes; k++)
    present += counts[k] > 0;
  for (guint k = 0; k < n_classes; k++)
    weights_out[k] = counts[k] ? (float) total / ((float) present * counts[k]) : 1.0f;
}

/* ---- Missing images ---- */

typedef struct {
  GPtrArray *paths;   /* char* */
  GArray    *missing; /* gboolean */
} MissingJob;

static void
missing_job_free (gpointer p)
{
  MissingJob *j = p;
  g_ptr_array_unref (j->paths);
  if (j->missing)
    g_array_unref (j->missing);
  g_free (j);
}

static void
missing_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  MissingJob *j = data;
  j->missing = g_array_sized_new (FALSE, FALSE, sizeof (gboolean), j->paths->len);
  for (guint i = 0; i < j->paths->len; i++)
    {
      gboolean m = access (j->paths->pdata[i], F_OK) != 0;
      g_array_append_val (j->missing, m);
    }
  g_task_return_boolean (task, TRUE);
}

static void
missing_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
  BtProject *self = BT_PROJECT (source);
  MissingJob *j = g_task_get_task_data (G_TASK (res));
  if (!g_task_propagate_boolean (G_TASK (res), NULL) || j->missing == NULL)
    return;
  for (guint i = 0; i < j->paths->len; i++)
    {
      BtItem *it = g_hash_table_lookup (self->by_path, j->paths->pdata[i]);
      if (it)
        bt_item_set_missing (it, g_array_index (j->missing, gboolean, i));
    }
}

void
bt_project_refresh_missing (BtProject *self)
{
  g_return_if_fail (BT_IS_PROJECT (self));
  MissingJob *j = g_new0 (MissingJob, 1);
  j->paths = g_ptr_array_new_with_free_func (g_free);
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->items));
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(BtItem) it = g_list_model_get_item (G_LIST_MODEL (self->items), i);
      g_ptr_array_add (j->paths, g_strdup (bt_item_get_path (it)));
    }
  g_autoptr(GTask) task = g_task_new (self, NULL, missing_done, NULL);
  g_task_set_source_tag (task, bt_project_refresh_missing);
  g_task_set_task_data (task, j, missing_job_free);
  g_task_run_in_thread (task, missing_thread);
}
