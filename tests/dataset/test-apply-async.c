/* test-apply-async.c: bt_project_apply_scan_async gives the same project, in memory and on
 * disk, as the synchronous apply, and a change made before it runs is not lost. */
#include <string.h>
#include <glib/gstdio.h>

#include "dataset/bt-dataset-private.h"
#include "bt-test-images.h"
#include "bt-test-fs.h"

static void
put_png (const char *dir, const char *cls, const char *name, guint seed)
{
  g_autofree char *sub = g_build_filename (dir, cls, NULL);
  g_autofree char *p = g_build_filename (sub, name, NULL);
  g_autofree guint8 *pat = bt_test_pattern (10, 10, 3, seed);
  g_autoptr(GBytes) png = bt_test_encode_png (pat, 10, 10, 3);
  g_mkdir_with_parents (sub, 0755);
  g_assert_true (bt_test_write_file (p, png));
}

static BtScanResult *
scan (const char *root)
{
  const char *roots[] = { root, NULL };
  g_autoptr(GError) error = NULL;
  BtScanResult *r = bt_scan_paths (roots, BT_SCAN_FOLDER_OF_CLASSES, NULL, TRUE, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  return r;
}

/* Two image trees: the first import, then a second with new images, a new class, an empty
 * class, and pictures already in the project (one under another class: a label conflict). */
static void
make_trees (const char *base, char **first, char **second)
{
  *first = g_build_filename (base, "first", NULL);
  *second = g_build_filename (base, "second", NULL);
  for (guint i = 0; i < 3; i++)
    {
      g_autofree char *n = g_strdup_printf ("c%u.png", i);
      put_png (*first, "cat", n, 100 + i);
    }
  for (guint i = 0; i < 2; i++)
    {
      g_autofree char *n = g_strdup_printf ("d%u.png", i);
      put_png (*first, "dog", n, 200 + i);
    }
  for (guint i = 0; i < 9; i++)
    {
      g_autofree char *n = g_strdup_printf ("c%u.png", i);
      put_png (*second, "cat", n, 300 + i);
    }
  for (guint i = 0; i < 6; i++)
    {
      g_autofree char *n = g_strdup_printf ("b%u.png", i);
      put_png (*second, "bird", n, 400 + i);
    }
  put_png (*second, "dog", "same-as-cat0.png", 100);  /* content already in "cat" */
  put_png (*second, "cat", "same-as-cat1.png", 101);  /* content already in "cat" */
  g_autofree char *fish = g_build_filename (*second, "fish", NULL);
  g_mkdir_with_parents (fish, 0755);
}

typedef struct {
  gboolean      done;
  guint         added;
  GError       *error;
} Wait;

static void
apply_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
  Wait *w = user_data;
  w->added = bt_project_apply_scan_finish (BT_PROJECT (source), res, &w->error);
  w->done = TRUE;
}

static guint
apply_async_and_wait (BtProject *p, BtScanResult *r, void (*meanwhile) (BtProject *))
{
  Wait w = { 0 };
  bt_project_apply_scan_async (p, r, apply_done, &w);
  if (meanwhile)
    meanwhile (p);
  while (!w.done)
    g_main_context_iteration (NULL, TRUE);
  g_assert_no_error (w.error);
  return w.added;
}

static char *
read_text (const char *dir, const char *name)
{
  g_autofree char *p = g_build_filename (dir, name, NULL);
  char *text = NULL;
  g_assert_true (g_file_get_contents (p, &text, NULL, NULL));
  return text;
}

static void
assert_same_project (BtProject *a, BtProject *b)
{
  GListModel *ia = bt_project_get_items (a), *ib = bt_project_get_items (b);
  GListModel *ca = bt_project_get_classes (a), *cb = bt_project_get_classes (b);
  g_assert_cmpuint (g_list_model_get_n_items (ia), ==, g_list_model_get_n_items (ib));
  for (guint i = 0; i < g_list_model_get_n_items (ia); i++)
    {
      g_autoptr(BtItem) x = g_list_model_get_item (ia, i);
      g_autoptr(BtItem) y = g_list_model_get_item (ib, i);
      g_assert_cmpstr (bt_item_get_path (x), ==, bt_item_get_path (y));
      g_assert_cmpstr (bt_item_get_class_name (x), ==, bt_item_get_class_name (y));
      g_assert_cmpint (bt_item_get_split (x), ==, bt_item_get_split (y));
      g_assert_cmpint (bt_item_get_excluded (x), ==, bt_item_get_excluded (y));
      g_assert_cmpuint (bt_item_get_hash (x), ==, bt_item_get_hash (y));
      g_assert_true (bt_project_find_item (b, bt_item_get_path (y)) == y);
    }
  g_assert_cmpuint (g_list_model_get_n_items (ca), ==, g_list_model_get_n_items (cb));
  for (guint i = 0; i < g_list_model_get_n_items (ca); i++)
    {
      g_autoptr(BtClassInfo) x = g_list_model_get_item (ca, i);
      g_autoptr(BtClassInfo) y = g_list_model_get_item (cb, i);
      g_assert_cmpstr (bt_class_info_get_name (x), ==, bt_class_info_get_name (y));
      g_assert_cmpuint (bt_class_info_get_n_items (x), ==, bt_class_info_get_n_items (y));
      g_assert_cmpuint (bt_class_info_get_color (x), ==, bt_class_info_get_color (y));
    }
}

static void
count_changed (gpointer instance, gpointer user_data)
{
  (*(guint *) user_data)++;
}

static void
test_same_as_sync (void)
{
  g_autofree char *base = g_dir_make_tmp ("bt-apply-async-XXXXXX", NULL);
  g_autofree char *first = NULL, *second = NULL;
  g_autoptr(GError) error = NULL;
  make_trees (base, &first, &second);
  g_autofree char *da = g_build_filename (base, "sync", NULL);
  g_autofree char *db = g_build_filename (base, "async", NULL);
  g_autoptr(BtProject) a = bt_project_create (da, "same", &error);
  g_assert_no_error (error);
  g_autoptr(BtProject) b = bt_project_create (db, "same", &error);
  g_assert_no_error (error);

  g_autoptr(BtScanResult) a1 = scan (first), b1 = scan (first), a2 = scan (second), b2 = scan (second);
  g_assert_cmpuint (bt_project_apply_scan (a, a1, &error), ==, 5);
  g_assert_no_error (error);
  g_assert_cmpuint (apply_async_and_wait (b, b1, NULL), ==, 5);
  assert_same_project (a, b);

  guint changed = 0;
  g_signal_connect (b, "changed", G_CALLBACK (count_changed), &changed);
  guint added = bt_project_apply_scan (a, a2, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (added, ==, 15);
  g_assert_cmpuint (apply_async_and_wait (b, b2, NULL), ==, added);
  g_assert_cmpuint (changed, ==, 1);
  assert_same_project (a, b);
  g_assert_cmpuint (b2->skipped_paths->len, ==, a2->skipped_paths->len);
  g_assert_cmpuint (b2->n_label_conflicts, ==, 1);
  g_assert_cmpuint (b2->n_label_conflicts, ==, a2->n_label_conflicts);
  for (guint i = 0; i < a2->skipped_paths->len; i++)
    {
      g_assert_cmpstr (a2->skipped_paths->pdata[i], ==, b2->skipped_paths->pdata[i]);
      g_assert_cmpstr (a2->duplicate_of->pdata[i], ==, b2->duplicate_of->pdata[i]);
    }
  g_assert_cmpint (bt_project_find_class (b, "fish"), >=, 0);

  /* The same files on disk (paths are outside both projects, so stored alike). */
  g_assert_true (bt_project_flush (a, &error));
  g_assert_true (bt_project_flush (b, &error));
  g_autofree char *la = read_text (da, "labels.csv"), *lb = read_text (db, "labels.csv");
  g_autofree char *pa = read_text (da, "project.ini"), *pb = read_text (db, "project.ini");
  g_assert_cmpstr (la, ==, lb);
  g_assert_cmpstr (pa, ==, pb);
  g_autoptr(BtProject) reopened = bt_project_open (db, &error);
  g_assert_no_error (error);
  assert_same_project (a, reopened);

  /* Applying the same scan again adds nothing and changes nothing. */
  g_autoptr(BtScanResult) b3 = scan (second);
  g_assert_cmpuint (apply_async_and_wait (b, b3, NULL), ==, 0);
  g_assert_cmpuint (changed, ==, 1);
  g_assert_true (bt_project_flush (b, NULL));
  bt_test_rm_rf (base);
}

static void
change_meanwhile (BtProject *p)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(BtItem) first = g_list_model_get_item (bt_project_get_items (p), 0);
  BtItem *items[] = { first };
  g_assert_true (bt_project_add_class (p, "user", &error));
  g_assert_no_error (error);
  g_assert_true (bt_project_relabel (p, items, 1, "user", &error));
  g_assert_no_error (error);
  g_assert_true (bt_project_set_excluded (p, items, 1, TRUE, &error));
  g_assert_no_error (error);
}

static void
assert_change_and_import (BtProject *p, const char *first_path)
{
  BtItem *it = bt_project_find_item (p, first_path);
  g_assert_nonnull (it);
  g_assert_cmpstr (bt_item_get_class_name (it), ==, "user");
  g_assert_true (bt_item_get_excluded (it));
  g_assert_cmpuint (g_list_model_get_n_items (bt_project_get_items (p)), ==, 5 + 15);
  g_assert_cmpint (bt_project_find_class (p, "bird"), >=, 0);
  g_assert_cmpint (bt_project_find_class (p, "fish"), >=, 0);
  int user = bt_project_find_class (p, "user");
  g_assert_cmpint (user, >=, 0);
  g_autoptr(BtClassInfo) ui = g_list_model_get_item (bt_project_get_classes (p), (guint) user);
  g_assert_cmpuint (bt_class_info_get_n_items (ui), ==, 1);
  int bird = bt_project_find_class (p, "bird");
  g_autoptr(BtClassInfo) bi = g_list_model_get_item (bt_project_get_classes (p), (guint) bird);
  g_assert_cmpuint (bt_class_info_get_n_items (bi), ==, 6);
}

static void
test_change_meanwhile_kept (void)
{
  g_autofree char *base = g_dir_make_tmp ("bt-apply-async-XXXXXX", NULL);
  g_autofree char *first = NULL, *second = NULL;
  g_autoptr(GError) error = NULL;
  make_trees (base, &first, &second);
  g_autofree char *dir = g_build_filename (base, "project", NULL);
  g_autoptr(BtProject) p = bt_project_create (dir, "meanwhile", &error);
  g_assert_no_error (error);
  g_autoptr(BtScanResult) r1 = scan (first), r2 = scan (second);
  g_assert_cmpuint (bt_project_apply_scan (p, r1, &error), ==, 5);
  g_autoptr(BtItem) item0 = g_list_model_get_item (bt_project_get_items (p), 0);
  g_autofree char *first_path = g_strdup (bt_item_get_path (item0));

  g_assert_cmpuint (apply_async_and_wait (p, r2, change_meanwhile), ==, 15);
  assert_change_and_import (p, first_path);
  g_assert_true (bt_project_flush (p, &error));
  g_autoptr(BtProject) reopened = bt_project_open (dir, &error);
  g_assert_no_error (error);
  assert_change_and_import (reopened, first_path);
  assert_same_project (p, reopened);
  g_assert_true (bt_project_flush (p, NULL));
  bt_test_rm_rf (base);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/dataset/apply-async/same-as-sync", test_same_as_sync);
  g_test_add_func ("/dataset/apply-async/change-meanwhile-kept", test_change_meanwhile_kept);
  return g_test_run ();
}
