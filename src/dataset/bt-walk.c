/* bt-walk.c: the one folder walk of the data layer. The scan checks what it finds on a pool
 * (bt-scan.c); bt_scan_plan lists what a scan would take by names alone, without opening a file.
 * Symbolic links are followed with loops refused, FIFOs and devices are never opened, hidden
 * entries are left out as file managers do (and listed as skipped), class folders whose names
 * cannot be class names are skipped with that reason, and entries come sorted so walks are
 * reproducible. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <glib/gi18n-lib.h>

#include "dataset/bt-dataset-private.h"

typedef struct {
  const BtWalkFuncs *funcs;
  gpointer           user_data;
  GHashTable        *visited;     /* "dev:ino" of directories entered */
  GHashTable        *class_ids;   /* name → index+1 */
  guint              n_classes;
  gboolean           recursive;
  gboolean           stopped;     /* funcs->file said so */
  GCancellable      *cancellable;
  guint              n_seen;
} Walk;

static gboolean
walk_over (Walk *w)
{
  return w->stopped || g_cancellable_is_cancelled (w->cancellable);
}

static void
seen (Walk *w)
{
  w->n_seen++;
  if (w->funcs->seen != NULL)
    w->funcs->seen (w->user_data, w->n_seen);
}

static guint
class_id (Walk *w, const char *name)
{
  guint id = GPOINTER_TO_UINT (g_hash_table_lookup (w->class_ids, name));
  if (id)
    return id - 1;
  id = w->n_classes++;
  g_hash_table_insert (w->class_ids, g_strdup (name), GUINT_TO_POINTER (id + 1));
  if (w->funcs->class_added != NULL)
    w->funcs->class_added (w->user_data, id, name);
  return id;
}

static void
add_file (Walk *w, const char *path, guint cls)
{
  if (!w->funcs->file (w->user_data, path, cls))
    w->stopped = TRUE;
}

static void
walk_skip (Walk *w, const char *path, BtSkipReason reason)
{
  w->funcs->skip (w->user_data, path, reason);
}

/* stat following symlinks; classifies what cannot be followed. */
static gboolean
stat_entry (Walk *w, const char *path, struct stat *st)
{
  if (stat (path, st) == 0)
    return TRUE;
  /* ELOOP: a symlink loop; anything else (dangling link, no permission): unreadable. */
  int e = errno;
  walk_skip (w, path, (e == ELOOP) ? BT_SKIP_SPECIAL : BT_SKIP_UNREADABLE);
  return FALSE;
}

static gboolean
enter_dir (Walk *w, const struct stat *st)
{
  char key[64];
  g_snprintf (key, sizeof key, "%" G_GUINT64_FORMAT ":%" G_GUINT64_FORMAT,
              (guint64) st->st_dev, (guint64) st->st_ino);
  if (g_hash_table_contains (w->visited, key))
    return FALSE;
  g_hash_table_add (w->visited, g_strdup (key));
  return TRUE;
}

/* Natural order ("cat_2" before "cat_10"), as file managers show folders; the keys are made
 * once per name, not per comparison. */
typedef struct { char *key; char *name; } NameKey;

static int
compare_name_keys (gconstpointer a, gconstpointer b)
{
  const NameKey *x = a, *y = b;
  int c = strcmp (x->key, y->key);
  return c != 0 ? c : strcmp (x->name, y->name);
}

static void
sort_names (GPtrArray *names)
{
  g_autoptr(GArray) keys = g_array_sized_new (FALSE, FALSE, sizeof (NameKey), names->len);

  for (guint i = 0; i < names->len; i++)
    {
      NameKey k = { g_utf8_collate_key_for_filename (names->pdata[i], -1), names->pdata[i] };
      g_array_append_val (keys, k);
    }
  g_array_sort (keys, compare_name_keys);
  for (guint i = 0; i < keys->len; i++)
    {
      NameKey *k = &g_array_index (keys, NameKey, i);
      names->pdata[i] = k->name;
      g_free (k->key);
    }
}

/* Lists a directory's entries, in natural order, so walks are reproducible. */
static GPtrArray *
list_dir (Walk *w, const char *dir)
{
  DIR *d = opendir (dir);
  if (d == NULL)
    {
      walk_skip (w, dir, BT_SKIP_UNREADABLE);
      return NULL;
    }
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);
  struct dirent *de;
  while ((de = readdir (d)) != NULL)
    {
      /* Hidden entries (.DS_Store, .thumbnails, .git) are not the user's images: left out as
       * file managers do, but listed, so nothing disappears without a word. */
      if (de->d_name[0] == '.')
        {
          if (strcmp (de->d_name, ".") != 0 && strcmp (de->d_name, "..") != 0)
            {
              g_autofree char *path = g_build_filename (dir, de->d_name, NULL);
              walk_skip (w, path, BT_SKIP_HIDDEN);
            }
          continue;
        }
      g_ptr_array_add (names, g_strdup (de->d_name));
    }
  closedir (d);
  sort_names (names);
  return names;
}

/* A folder whose name would be a class name the project refuses (a line break, a tab) or
 * holds a "\\" is listed as skipped with that reason, instead of failing the training run
 * later. name: the display name (bytes that are not UTF-8 are already replaced). */
static gboolean
class_folder_name_ok (Walk *w, const char *path, const char *name)
{
  if (bt_class_name_is_safe (name) && strchr (name, '\\') == NULL)
    return TRUE;
  walk_skip (w, path, BT_SKIP_BAD_NAME);
  return FALSE;
}

/* walk_dir's class for a folder of classes: each sub-folder is a class, files beside them
 * have none. */
#define FOLDER_OF_CLASSES G_MAXUINT

/* The entries of dir: files go to class cls, sub-folders are walked when descend is set. */
static void
walk_dir (Walk *w, const char *dir, guint cls, gboolean descend)
{
  g_autoptr(GPtrArray) names = list_dir (w, dir);
  for (guint i = 0; names && i < names->len; i++)
    {
      if (walk_over (w))
        return;
      g_autofree char *path = g_build_filename (dir, names->pdata[i], NULL);
      struct stat st;
      seen (w);
      if (!stat_entry (w, path, &st))
        continue;
      if (S_ISDIR (st.st_mode))
        {
          if (!descend)
            continue;  /* sub-folders are an option; not a skipped file */
          if (!enter_dir (w, &st))
            {
              walk_skip (w, path, BT_SKIP_SPECIAL);  /* loop */
              continue;
            }
          if (cls == FOLDER_OF_CLASSES)
            {
              g_autofree char *name = g_filename_display_name (names->pdata[i]);
              if (!class_folder_name_ok (w, path, name))
                continue;
              walk_dir (w, path, class_id (w, name), w->recursive);
            }
          else
            walk_dir (w, path, cls, TRUE);
        }
      else if (S_ISREG (st.st_mode) && cls == FOLDER_OF_CLASSES)
        walk_skip (w, path, BT_SKIP_NO_CLASS);
      else if (S_ISREG (st.st_mode))
        add_file (w, path, cls);
      else
        walk_skip (w, path, BT_SKIP_SPECIAL);
    }
}

static gboolean
walk_root (Walk *w, const char *root, BtScanMode mode, const char *class_name, GError **error)
{
  struct stat st;
  if (stat (root, &st) != 0)
    {
      int e = errno;
      g_autofree char *display = g_filename_display_name (root);
      if (mode == BT_SCAN_FILES_INTO_CLASS)
        {
          walk_skip (w, root, e == ELOOP ? BT_SKIP_SPECIAL : BT_SKIP_UNREADABLE);
          return TRUE;
        }
      g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_IO,
                   _("Cannot open “%s”: %s"), display, g_strerror (e));
      return FALSE;
    }
  if (mode == BT_SCAN_FILES_INTO_CLASS)
    {
      guint cls = class_id (w, class_name);
      seen (w);
      if (S_ISREG (st.st_mode))
        add_file (w, root, cls);
      else if (S_ISDIR (st.st_mode))
        {
          if (enter_dir (w, &st))
            walk_dir (w, root, cls, w->recursive);
        }
      else
        walk_skip (w, root, BT_SKIP_SPECIAL);
      return TRUE;
    }
  if (!S_ISDIR (st.st_mode))
    {
      g_autofree char *display = g_filename_display_name (root);
      g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_INVALID,
                   _("“%s” is not a folder"), display);
      return FALSE;
    }
  if (!enter_dir (w, &st))
    return TRUE;
  if (mode == BT_SCAN_FOLDER_AS_CLASS)
    {
      g_autofree char *name = g_filename_display_basename (root);
      if (class_name == NULL && !class_folder_name_ok (w, root, name))
        return TRUE;
      walk_dir (w, root, class_id (w, class_name ? class_name : name), w->recursive);
      return TRUE;
    }
  /* BT_SCAN_FOLDER_OF_CLASSES */
  walk_dir (w, root, FOLDER_OF_CLASSES, TRUE);
  return TRUE;
}

gboolean
bt_walk_paths (const char * const *paths, BtScanMode mode, const char *class_name, gboolean recursive,
               const BtWalkFuncs *funcs, gpointer user_data, GCancellable *cancellable, GError **error)
{
  g_return_val_if_fail (paths != NULL, FALSE);
  g_return_val_if_fail (mode <= BT_SCAN_FILES_INTO_CLASS, FALSE);
  g_return_val_if_fail (mode != BT_SCAN_FILES_INTO_CLASS || class_name != NULL, FALSE);
  g_return_val_if_fail (funcs != NULL && funcs->file != NULL && funcs->skip != NULL, FALSE);

  g_autoptr(GHashTable) visited = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr(GHashTable) class_ids = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  Walk w = { .funcs = funcs, .user_data = user_data, .visited = visited, .class_ids = class_ids,
             .recursive = recursive, .cancellable = cancellable };

  for (guint i = 0; paths[i] != NULL && !w.stopped; i++)
    if (!walk_root (&w, paths[i], mode, class_name, error))
      return FALSE;
  return TRUE;
}

/* ---- Plan only: names, no content ---- */

typedef struct {
  BtScanResult *r;
  guint         max_files;
} Plan;

static void
plan_class (gpointer data, guint index, const char *name)
{
  Plan *p = data;
  g_assert (index == p->r->class_names->len);
  g_ptr_array_add (p->r->class_names, g_strdup (name));
}

static gboolean
plan_file (gpointer data, const char *path, guint class_index)
{
  Plan *p = data;
  static const int zero = 0;
  static const guint64 no_hash = 0;

  if (!bt_image_path_has_image_suffix (path))
    {
      bt_scan_result_add_skip (p->r, path, BT_SKIP_NOT_IMAGE, NULL);
      return TRUE;
    }
  g_ptr_array_add (p->r->paths, g_strdup (path));
  g_array_append_val (p->r->class_index, class_index);
  g_array_append_val (p->r->hashes, no_hash);
  g_array_append_val (p->r->widths, zero);
  g_array_append_val (p->r->heights, zero);
  return p->max_files == 0 || p->r->paths->len < p->max_files;
}

static void
plan_skip (gpointer data, const char *path, BtSkipReason reason)
{
  Plan *p = data;
  bt_scan_result_add_skip (p->r, path, reason, NULL);
}

BtScanResult *
bt_scan_plan (const char * const *paths, BtScanMode mode, const char *class_name, gboolean recursive,
              guint max_files, GCancellable *cancellable, GError **error)
{
  static const BtWalkFuncs funcs = { plan_class, plan_file, plan_skip, NULL };
  g_autoptr(BtScanResult) r = NULL;
  Plan p;

  g_return_val_if_fail (paths != NULL, NULL);
  g_return_val_if_fail (mode != BT_SCAN_FILES_INTO_CLASS || class_name != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  r = bt_scan_result_new ();
  p.r = r;
  p.max_files = max_files;
  if (!bt_walk_paths (paths, mode, class_name, recursive, &funcs, &p, cancellable, error) ||
      g_cancellable_set_error_if_cancelled (cancellable, error))
    return NULL;
  return g_steal_pointer (&r);
}
