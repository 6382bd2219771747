/* bt-undo.c: BtUndoStack, entries of steps that each know how to do and undo themselves
 * through the project's own mutators (so every step is saved like any other edit). Items
 * are remembered by path, never by pointer: a step stays valid after the project reloads
 * its items (a class deleted and brought back gets new BtItem objects). */
#include "config.h"

#include <glib/gi18n-lib.h>

#include "dataset/bt-undo.h"

#define MAX_ENTRIES 200

typedef enum {
  STEP_LABELS,     /* paths: before[i] → after */
  STEP_EXCLUDED,   /* paths: excluded_before[i] → after_excluded */
  STEP_RENAME,     /* name → other */
  STEP_MOVE,       /* name: position → new_position */
  STEP_REMOVE,     /* class name (at position) with paths, hashes, excluded ones */
  STEP_ADD_CLASS,  /* an empty class name appears (a relabel into a new class) */
} StepKind;

typedef struct {
  StepKind   kind;
  char      *name;
  char      *other;
  guint      position, new_position;
  gboolean   after_excluded;
  GPtrArray *paths;      /* char* */
  GPtrArray *before;     /* char* class names (STEP_LABELS) */
  GArray    *flags;      /* gboolean excluded before (STEP_EXCLUDED), or in STEP_REMOVE */
  GArray    *hashes;     /* guint64 (STEP_REMOVE) */
} Step;

typedef struct {
  char      *label;
  GPtrArray *steps;      /* Step*, done in order, undone in reverse */
} Entry;

struct _BtUndoStack
{
  GObject    parent_instance;

  BtProject *project;    /* borrowed: the stack lives as long as the project (qdata) */
  GPtrArray *undo;       /* Entry*, last = next to undo */
  GPtrArray *redo;
};

G_DEFINE_FINAL_TYPE (BtUndoStack, bt_undo_stack, G_TYPE_OBJECT)

enum { SIGNAL_CHANGED, N_SIGNALS };
static guint signals[N_SIGNALS];

static void
step_free (gpointer data)
{
  Step *s = data;

  g_free (s->name);
  g_free (s->other);
  g_clear_pointer (&s->paths, g_ptr_array_unref);
  g_clear_pointer (&s->before, g_ptr_array_unref);
  g_clear_pointer (&s->flags, g_array_unref);
  g_clear_pointer (&s->hashes, g_array_unref);
  g_free (s);
}

static void
entry_free (gpointer data)
{
  Entry *e = data;

  g_free (e->label);
  g_ptr_array_unref (e->steps);
  g_free (e);
}

static Step *
step_new (StepKind kind, const char *name)
{
  Step *s = g_new0 (Step, 1);

  s->kind = kind;
  s->name = g_strdup (name);
  return s;
}

static void
bt_undo_stack_finalize (GObject *object)
{
  BtUndoStack *self = BT_UNDO_STACK (object);

  g_ptr_array_unref (self->undo);
  g_ptr_array_unref (self->redo);
  G_OBJECT_CLASS (bt_undo_stack_parent_class)->finalize (object);
}

static void
bt_undo_stack_class_init (BtUndoStackClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = bt_undo_stack_finalize;
  signals[SIGNAL_CHANGED] = g_signal_new ("changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                          0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
bt_undo_stack_init (BtUndoStack *self)
{
  self->undo = g_ptr_array_new_with_free_func (entry_free);
  self->redo = g_ptr_array_new_with_free_func (entry_free);
}

BtUndoStack *
bt_undo_stack_get (BtProject *project)
{
  static GQuark quark;
  BtUndoStack *self;

  g_return_val_if_fail (BT_IS_PROJECT (project), NULL);
  if (quark == 0)
    quark = g_quark_from_static_string ("bt-undo-stack");
  self = g_object_get_qdata (G_OBJECT (project), quark);
  if (self == NULL)
    {
      self = g_object_new (BT_TYPE_UNDO_STACK, NULL);
      self->project = project;
      g_object_set_qdata_full (G_OBJECT (project), quark, self, g_object_unref);
    }
  return self;
}

/* ---- Steps ---- */

/* The project's current items for paths (those still in it), in order. */
static GPtrArray *
find_items (BtProject *project, GPtrArray *paths)
{
  GPtrArray *items = g_ptr_array_new ();

  for (guint i = 0; i < paths->len; i++)
    {
      BtItem *item = bt_project_find_item (project, g_ptr_array_index (paths, i));
      if (item != NULL)
        g_ptr_array_add (items, item);
    }
  return items;
}

static gboolean
set_excluded_paths (BtProject *project, GPtrArray *paths, GArray *flags, gboolean wanted, GError **error)
{
  g_autoptr(GPtrArray) items = g_ptr_array_new ();

  for (guint i = 0; i < paths->len; i++)
    {
      BtItem *item;
      if (flags != NULL && g_array_index (flags, gboolean, i) != wanted)
        continue;
      item = bt_project_find_item (project, g_ptr_array_index (paths, i));
      if (item != NULL)
        g_ptr_array_add (items, item);
    }
  if (items->len == 0)
    return TRUE;
  return bt_project_set_excluded (project, (BtItem * const *) items->pdata, items->len, wanted, error);
}

static gboolean
step_apply (BtProject *project, Step *s, gboolean undo, GError **error)
{
  switch (s->kind)
    {
    case STEP_LABELS:
      if (!undo)
        {
          g_autoptr(GPtrArray) items = find_items (project, s->paths);
          return bt_project_relabel (project, (BtItem * const *) items->pdata, items->len, s->name, error);
        }
      else
        {
          /* Back to each image's own class: one relabel per class it came from. */
          g_autoptr(GHashTable) by_class = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                                                  (GDestroyNotify) g_ptr_array_unref);
          GHashTableIter iter;
          gpointer key, value;

          for (guint i = 0; i < s->paths->len; i++)
            {
              BtItem *item = bt_project_find_item (project, g_ptr_array_index (s->paths, i));
              const char *before = g_ptr_array_index (s->before, i);
              GPtrArray *list;

              if (item == NULL)
                continue;
              list = g_hash_table_lookup (by_class, before);
              if (list == NULL)
                g_hash_table_insert (by_class, (gpointer) before, list = g_ptr_array_new ());
              g_ptr_array_add (list, item);
            }
          g_hash_table_iter_init (&iter, by_class);
          while (g_hash_table_iter_next (&iter, &key, &value))
            {
              GPtrArray *list = value;
              if (!bt_project_relabel (project, (BtItem * const *) list->pdata, list->len, key, error))
                return FALSE;
            }
          return TRUE;
        }

    case STEP_EXCLUDED:
      if (!undo)
        return set_excluded_paths (project, s->paths, NULL, s->after_excluded, error);
      return set_excluded_paths (project, s->paths, s->flags, TRUE, error)
             && set_excluded_paths (project, s->paths, s->flags, FALSE, error);

    case STEP_RENAME:
      return undo ? bt_project_rename_class (project, s->other, s->name, error)
                  : bt_project_rename_class (project, s->name, s->other, error);

    case STEP_MOVE:
      return bt_project_move_class (project, s->name, undo ? s->position : s->new_position, error);

    case STEP_ADD_CLASS:
      if (undo)
        return bt_project_find_class (project, s->name) < 0 || bt_project_remove_class (project, s->name, error);
      return bt_project_find_class (project, s->name) >= 0 || bt_project_add_class (project, s->name, error);

    case STEP_REMOVE:
      if (!undo)
        return bt_project_remove_class (project, s->name, error);
      if (bt_project_find_class (project, s->name) < 0 && !bt_project_add_class (project, s->name, error))
        return FALSE;
      if (s->paths->len > 0)
        {
          g_autoptr(GPtrArray) paths = g_ptr_array_new ();

          for (guint i = 0; i < s->paths->len; i++)
            g_ptr_array_add (paths, g_ptr_array_index (s->paths, i));
          g_ptr_array_add (paths, NULL);
          if (!bt_project_add_items (project, s->name, (const char * const *) paths->pdata,
                                     (const guint64 *) (gpointer) s->hashes->data, error))
            return FALSE;
        }
      return bt_project_move_class (project, s->name, s->position, error)
             && set_excluded_paths (project, s->paths, s->flags, TRUE, error);
    }
  g_assert_not_reached ();
}

/* A class's place, images, hashes and excluded flags: what bringing it back needs. */
static Step *
remove_step_new (BtProject *project, const char *name)
{
  GListModel *items = bt_project_get_items (project);
  guint n = g_list_model_get_n_items (items);
  Step *s = step_new (STEP_REMOVE, name);

  s->position = MAX (bt_project_find_class (project, name), 0);
  s->paths = g_ptr_array_new_with_free_func (g_free);
  s->hashes = g_array_new (FALSE, FALSE, sizeof (guint64));
  s->flags = g_array_new (FALSE, FALSE, sizeof (gboolean));
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(BtItem) item = g_list_model_get_item (items, i);
      guint64 hash;
      gboolean excluded;

      if (g_strcmp0 (bt_item_get_class_name (item), name) != 0)
        continue;
      hash = bt_item_get_hash (item);
      excluded = bt_item_get_excluded (item);
      g_ptr_array_add (s->paths, g_strdup (bt_item_get_path (item)));
      g_array_append_val (s->hashes, hash);
      g_array_append_val (s->flags, excluded);
    }
  return s;
}

static Step *
labels_step_new (BtItem * const *items, guint n, const char *class_name)
{
  Step *s = step_new (STEP_LABELS, class_name);

  s->paths = g_ptr_array_new_full (n, g_free);
  s->before = g_ptr_array_new_full (n, g_free);
  for (guint i = 0; i < n; i++)
    {
      g_ptr_array_add (s->paths, g_strdup (bt_item_get_path (items[i])));
      g_ptr_array_add (s->before, g_strdup (bt_item_get_class_name (items[i])));
    }
  return s;
}

/* ---- Entries ---- */

static void
push (BtUndoStack *self, char *label, GPtrArray *steps)
{
  Entry *e = g_new0 (Entry, 1);

  e->label = label;
  e->steps = steps;
  g_ptr_array_add (self->undo, e);
  if (self->undo->len > MAX_ENTRIES)
    g_ptr_array_remove_index (self->undo, 0);
  g_ptr_array_set_size (self->redo, 0);
  g_signal_emit (self, signals[SIGNAL_CHANGED], 0);
}

/* Does the steps; on success pushes them as one entry. A failed step leaves the ones before
 * it done: they are pushed too, so the person can still undo them. */
static gboolean
run_and_push (BtUndoStack *self, char *label, GPtrArray *steps, GError **error)
{
  g_autoptr(GPtrArray) done = g_ptr_array_new_with_free_func (step_free);
  gboolean ok = TRUE;

  while (steps->len > 0 && ok)
    {
      ok = step_apply (self->project, g_ptr_array_index (steps, 0), FALSE, error);
      if (ok)
        g_ptr_array_add (done, g_ptr_array_steal_index (steps, 0));
    }
  g_ptr_array_unref (steps);
  if (done->len > 0)
    push (self, label, g_steal_pointer (&done));
  else
    g_free (label);
  return ok;
}

static GPtrArray *
steps_new (void)
{
  return g_ptr_array_new_with_free_func (step_free);
}

gboolean
bt_undo_stack_relabel (BtUndoStack *self, BtItem * const *items, guint n, const char *class_name, GError **error)
{
  GPtrArray *steps;

  g_return_val_if_fail (BT_IS_UNDO_STACK (self), FALSE);
  g_return_val_if_fail (class_name != NULL, FALSE);
  g_return_val_if_fail (items != NULL || n == 0, FALSE);

  if (n == 0)
    return TRUE;
  steps = steps_new ();
  if (bt_project_find_class (self->project, class_name) < 0)
    g_ptr_array_add (steps, step_new (STEP_ADD_CLASS, class_name));
  g_ptr_array_add (steps, labels_step_new (items, n, class_name));
  return run_and_push (self,
                       g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "Move %u image to “%s”",
                                                     "Move %u images to “%s”", n), n, class_name),
                       steps, error);
}

gboolean
bt_undo_stack_set_excluded (BtUndoStack *self, BtItem * const *items, guint n, gboolean excluded, GError **error)
{
  GPtrArray *steps;
  Step *s;

  g_return_val_if_fail (BT_IS_UNDO_STACK (self), FALSE);
  g_return_val_if_fail (items != NULL || n == 0, FALSE);

  if (n == 0)
    return TRUE;
  s = step_new (STEP_EXCLUDED, NULL);
  s->after_excluded = excluded;
  s->paths = g_ptr_array_new_full (n, g_free);
  s->flags = g_array_sized_new (FALSE, FALSE, sizeof (gboolean), n);
  for (guint i = 0; i < n; i++)
    {
      gboolean before = bt_item_get_excluded (items[i]);
      g_ptr_array_add (s->paths, g_strdup (bt_item_get_path (items[i])));
      g_array_append_val (s->flags, before);
    }
  steps = steps_new ();
  g_ptr_array_add (steps, s);
  return run_and_push (self,
                       excluded ? g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "Exclude %u image",
                                                                "Exclude %u images", n), n)
                                : g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "Restore %u image",
                                                                "Restore %u images", n), n),
                       steps, error);
}

gboolean
bt_undo_stack_rename_class (BtUndoStack *self, const char *old_name, const char *new_name, GError **error)
{
  GPtrArray *steps;
  Step *s;

  g_return_val_if_fail (BT_IS_UNDO_STACK (self), FALSE);
  g_return_val_if_fail (old_name != NULL && new_name != NULL, FALSE);

  if (g_str_equal (old_name, new_name))
    return TRUE;
  s = step_new (STEP_RENAME, old_name);
  s->other = g_strdup (new_name);
  steps = steps_new ();
  g_ptr_array_add (steps, s);
  return run_and_push (self, g_strdup_printf (_("Rename “%s” to “%s”"), old_name, new_name), steps, error);
}

gboolean
bt_undo_stack_remove_class (BtUndoStack *self, const char *name, GError **error)
{
  GPtrArray *steps;

  g_return_val_if_fail (BT_IS_UNDO_STACK (self), FALSE);
  g_return_val_if_fail (name != NULL, FALSE);

  if (bt_project_find_class (self->project, name) < 0)
    {
      g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_INVALID, _("There is no class named “%s”"), name);
      return FALSE;
    }
  steps = steps_new ();
  g_ptr_array_add (steps, remove_step_new (self->project, name));
  return run_and_push (self, g_strdup_printf (_("Delete class “%s”"), name), steps, error);
}

gboolean
bt_undo_stack_merge_class (BtUndoStack *self, const char *from, const char *into, GError **error)
{
  g_autoptr(GPtrArray) items = g_ptr_array_new_with_free_func (g_object_unref);
  GListModel *model;
  GPtrArray *steps;
  guint n;

  g_return_val_if_fail (BT_IS_UNDO_STACK (self), FALSE);
  g_return_val_if_fail (from != NULL && into != NULL, FALSE);

  if (bt_project_find_class (self->project, from) < 0 || bt_project_find_class (self->project, into) < 0)
    {
      g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_INVALID, _("There is no class named “%s”"),
                   bt_project_find_class (self->project, from) < 0 ? from : into);
      return FALSE;
    }
  if (g_str_equal (from, into))
    return TRUE;
  model = bt_project_get_items (self->project);
  n = g_list_model_get_n_items (model);
  for (guint i = 0; i < n; i++)
    {
      BtItem *item = g_list_model_get_item (model, i);
      if (g_str_equal (bt_item_get_class_name (item), from))
        g_ptr_array_add (items, item);
      else
        g_object_unref (item);
    }
  steps = steps_new ();
  if (items->len > 0)
    g_ptr_array_add (steps, labels_step_new ((BtItem * const *) items->pdata, items->len, into));
  /* By now the class is empty: its step only remembers its place. */
  {
    Step *s = step_new (STEP_REMOVE, from);
    s->position = bt_project_find_class (self->project, from);
    s->paths = g_ptr_array_new_with_free_func (g_free);
    s->hashes = g_array_new (FALSE, FALSE, sizeof (guint64));
    s->flags = g_array_new (FALSE, FALSE, sizeof (gboolean));
    g_ptr_array_add (steps, s);
  }
  return run_and_push (self, g_strdup_printf (_("Merge “%s” into “%s”"), from, into), steps, error);
}

gboolean
bt_undo_stack_move_class (BtUndoStack *self, const char *name, guint new_position, GError **error)
{
  GPtrArray *steps;
  Step *s;
  int position;

  g_return_val_if_fail (BT_IS_UNDO_STACK (self), FALSE);
  g_return_val_if_fail (name != NULL, FALSE);

  position = bt_project_find_class (self->project, name);
  if (position < 0)
    {
      g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_INVALID, _("There is no class named “%s”"), name);
      return FALSE;
    }
  new_position = MIN (new_position, g_list_model_get_n_items (bt_project_get_classes (self->project)) - 1);
  if ((guint) position == new_position)
    return TRUE;
  s = step_new (STEP_MOVE, name);
  s->position = position;
  s->new_position = new_position;
  steps = steps_new ();
  g_ptr_array_add (steps, s);
  return run_and_push (self, g_strdup_printf (_("Move class “%s”"), name), steps, error);
}

/* ---- Undo, redo ---- */

gboolean
bt_undo_stack_can_undo (BtUndoStack *self)
{
  g_return_val_if_fail (BT_IS_UNDO_STACK (self), FALSE);
  return self->undo->len > 0;
}

gboolean
bt_undo_stack_can_redo (BtUndoStack *self)
{
  g_return_val_if_fail (BT_IS_UNDO_STACK (self), FALSE);
  return self->redo->len > 0;
}

const char *
bt_undo_stack_get_undo_label (BtUndoStack *self)
{
  g_return_val_if_fail (BT_IS_UNDO_STACK (self), NULL);
  return self->undo->len ? ((Entry *) g_ptr_array_index (self->undo, self->undo->len - 1))->label : NULL;
}

const char *
bt_undo_stack_get_redo_label (BtUndoStack *self)
{
  g_return_val_if_fail (BT_IS_UNDO_STACK (self), NULL);
  return self->redo->len ? ((Entry *) g_ptr_array_index (self->redo, self->redo->len - 1))->label : NULL;
}

void
bt_undo_stack_clear (BtUndoStack *self)
{
  g_return_if_fail (BT_IS_UNDO_STACK (self));
  g_ptr_array_set_size (self->undo, 0);
  g_ptr_array_set_size (self->redo, 0);
  g_signal_emit (self, signals[SIGNAL_CHANGED], 0);
}

static gboolean
replay (BtUndoStack *self, GPtrArray *from, GPtrArray *to, gboolean undo, GError **error)
{
  Entry *e;
  gboolean ok = TRUE;

  if (from->len == 0)
    {
      g_set_error_literal (error, BT_DATASET_ERROR, BT_DATASET_ERROR_INVALID,
                           undo ? _("There is nothing to undo") : _("There is nothing to redo"));
      return FALSE;
    }
  e = g_ptr_array_steal_index (from, from->len - 1);
  for (guint k = 0; k < e->steps->len && ok; k++)
    {
      guint i = undo ? e->steps->len - 1 - k : k;
      ok = step_apply (self->project, g_ptr_array_index (e->steps, i), undo, error);
    }
  if (ok)
    g_ptr_array_add (to, e);
  else
    {
      entry_free (e);
      g_ptr_array_set_size (self->undo, 0);
      g_ptr_array_set_size (self->redo, 0);
    }
  g_signal_emit (self, signals[SIGNAL_CHANGED], 0);
  return ok;
}

gboolean
bt_undo_stack_undo (BtUndoStack *self, GError **error)
{
  g_return_val_if_fail (BT_IS_UNDO_STACK (self), FALSE);
  return replay (self, self->undo, self->redo, TRUE, error);
}

gboolean
bt_undo_stack_redo (BtUndoStack *self, GError **error)
{
  g_return_val_if_fail (BT_IS_UNDO_STACK (self), FALSE);
  return replay (self, self->redo, self->undo, FALSE, error);
}

char *
bt_undo_stack_step (BtUndoStack *self, gboolean undo, GError **error)
{
  g_autofree char *label = NULL;

  g_return_val_if_fail (BT_IS_UNDO_STACK (self), NULL);

  label = g_strdup (undo ? bt_undo_stack_get_undo_label (self) : bt_undo_stack_get_redo_label (self));
  if (label == NULL)
    return NULL;
  if (!(undo ? bt_undo_stack_undo (self, error) : bt_undo_stack_redo (self, error)))
    return NULL;
  /* TRANSLATORS: %s is what was undone or redone, e.g. "Move 3 images to “dogs”" */
  return g_strdup_printf (undo ? _("Undone: %s") : _("Redone: %s"), label);
}
