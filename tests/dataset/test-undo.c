/* test-undo.c: BtUndoStack — every edit undone and redone, merges, deletions with excluded
 * images, a step that no longer applies, and undo after the project was saved. */
#include "config.h"

#include <glib/gstdio.h>

#include "dataset/bt-undo.h"
#include "bt-test-fs.h"

typedef struct {
  char      *dir;
  BtProject *project;
  BtUndoStack *stack;
} Fixture;

static void
add (Fixture *f, const char *class_name, guint n)
{
  g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GError) error = NULL;

  for (guint i = 0; i < n; i++)
    g_ptr_array_add (paths, g_strdup_printf ("%s/%s-%u.png", f->dir, class_name, i));
  g_ptr_array_add (paths, NULL);
  g_assert_true (bt_project_add_items (f->project, class_name, (const char * const *) paths->pdata, NULL, &error));
  g_assert_no_error (error);
}

static void
setup (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  f->dir = g_dir_make_tmp ("bt-test-undo-XXXXXX", NULL);
  f->project = bt_project_create (f->dir, "Undo", &error);
  g_assert_no_error (error);
  add (f, "cat", 4);
  add (f, "dog", 2);
  f->stack = bt_undo_stack_get (f->project);
  g_assert_true (f->stack == bt_undo_stack_get (f->project));
  g_assert_false (bt_undo_stack_can_undo (f->stack));
}

static void
teardown (Fixture *f, gconstpointer data)
{
  g_clear_object (&f->project);
  bt_test_rm_rf (f->dir);
  g_free (f->dir);
}

static BtItem *
item (Fixture *f, const char *class_name, guint i)
{
  g_autofree char *path = g_strdup_printf ("%s/%s-%u.png", f->dir, class_name, i);
  BtItem *it = bt_project_find_item (f->project, path);

  g_assert_nonnull (it);
  return it;
}

static int
count (BtProject *project, const char *class_name)
{
  int position = bt_project_find_class (project, class_name);
  g_autoptr(BtClassInfo) info = NULL;

  if (position < 0)
    return -1;
  info = g_list_model_get_item (bt_project_get_classes (project), position);
  return (int) bt_class_info_get_n_items (info);
}

static void
test_relabel_exclude (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  BtItem *moved[] = { item (f, "cat", 0), item (f, "dog", 1) };
  BtItem *out[] = { item (f, "cat", 1), item (f, "cat", 2) };

  /* One image is excluded already: undoing "exclude both" keeps it excluded. */
  g_assert_true (bt_project_set_excluded (f->project, &out[0], 1, TRUE, &error));
  g_assert_true (bt_undo_stack_set_excluded (f->stack, out, 2, TRUE, &error));
  g_assert_true (bt_item_get_excluded (out[1]));
  g_assert_true (bt_undo_stack_undo (f->stack, &error));
  g_assert_true (bt_item_get_excluded (out[0]));
  g_assert_false (bt_item_get_excluded (out[1]));

  /* Relabel into a new class, across a save; undo puts each image back in its own class
   * and takes the new class away. */
  g_assert_true (bt_undo_stack_relabel (f->stack, moved, 2, "fox", &error));
  g_assert_no_error (error);
  g_assert_cmpstr (bt_undo_stack_get_undo_label (f->stack), ==, "Move 2 images to “fox”");
  g_assert_true (bt_project_flush (f->project, &error));
  g_assert_true (bt_undo_stack_undo (f->stack, &error));
  g_assert_cmpstr (bt_item_get_class_name (moved[0]), ==, "cat");
  g_assert_cmpstr (bt_item_get_class_name (moved[1]), ==, "dog");
  g_assert_cmpint (count (f->project, "fox"), ==, -1);
  g_assert_true (bt_undo_stack_can_redo (f->stack));
  g_assert_true (bt_undo_stack_redo (f->stack, &error));
  g_assert_cmpint (count (f->project, "fox"), ==, 2);
  g_assert_true (bt_undo_stack_undo (f->stack, &error));

  /* What is on disk is the undone state. */
  g_assert_true (bt_project_flush (f->project, &error));
  {
    g_autoptr(BtProject) reopened = bt_project_open (f->dir, &error);
    g_assert_no_error (error);
    g_assert_cmpint (count (reopened, "cat"), ==, 4);
    g_assert_cmpint (count (reopened, "dog"), ==, 2);
    g_assert_cmpint (count (reopened, "fox"), ==, -1);
  }
  /* A new edit forgets what could be redone. */
  g_assert_true (bt_undo_stack_relabel (f->stack, moved, 1, "dog", &error));
  g_assert_false (bt_undo_stack_can_redo (f->stack));
}

static void
test_classes (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  BtItem *out = item (f, "dog", 0);

  g_assert_true (bt_project_set_excluded (f->project, &out, 1, TRUE, &error));
  g_assert_true (bt_undo_stack_rename_class (f->stack, "dog", "wolf", &error));
  g_assert_true (bt_undo_stack_move_class (f->stack, "wolf", 0, &error));
  g_assert_cmpint (bt_project_find_class (f->project, "wolf"), ==, 0);

  /* Delete with an excluded image, undo: same place, same images, same flag. */
  g_assert_true (bt_undo_stack_remove_class (f->stack, "wolf", &error));
  g_assert_cmpuint (g_list_model_get_n_items (bt_project_get_items (f->project)), ==, 4);
  g_assert_true (bt_undo_stack_undo (f->stack, &error));
  g_assert_no_error (error);
  g_assert_cmpint (bt_project_find_class (f->project, "wolf"), ==, 0);
  g_assert_cmpint (count (f->project, "wolf"), ==, 2);
  g_assert_true (bt_item_get_excluded (item (f, "dog", 0)));

  /* Merge and its undo. */
  g_assert_true (bt_undo_stack_merge_class (f->stack, "wolf", "cat", &error));
  g_assert_cmpint (count (f->project, "cat"), ==, 6);
  g_assert_cmpint (count (f->project, "wolf"), ==, -1);
  g_assert_true (bt_undo_stack_undo (f->stack, &error));
  g_assert_cmpint (count (f->project, "cat"), ==, 4);
  g_assert_cmpint (count (f->project, "wolf"), ==, 2);
  g_assert_cmpint (bt_project_find_class (f->project, "wolf"), ==, 0);

  /* Undo the move and the rename, in that order. */
  g_assert_true (bt_undo_stack_undo (f->stack, &error));
  g_assert_cmpint (bt_project_find_class (f->project, "wolf"), ==, 1);
  g_assert_true (bt_undo_stack_undo (f->stack, &error));
  g_assert_cmpint (count (f->project, "dog"), ==, 2);
  g_assert_false (bt_undo_stack_can_undo (f->stack));
  g_assert_false (bt_undo_stack_undo (f->stack, &error));
  g_assert_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_INVALID);
}

/* A step that no longer applies (its class renamed behind the stack's back) fails with a
 * message and empties the stack, never a crash. */
static void
test_stale (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (bt_undo_stack_rename_class (f->stack, "dog", "wolf", &error));
  g_assert_true (bt_project_rename_class (f->project, "wolf", "fox", &error));
  g_assert_false (bt_undo_stack_undo (f->stack, &error));
  g_assert_nonnull (error);
  g_assert_false (bt_undo_stack_can_undo (f->stack));
  g_assert_false (bt_undo_stack_can_redo (f->stack));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/undo/relabel-exclude", Fixture, NULL, setup, test_relabel_exclude, teardown);
  g_test_add ("/undo/classes", Fixture, NULL, setup, test_classes, teardown);
  g_test_add ("/undo/stale-step", Fixture, NULL, setup, test_stale, teardown);
  return g_test_run ();
}
