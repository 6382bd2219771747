/* test-import.c: streaming import (bt_project_import_async): items reach the project's model in
 * several chunks while the scan runs, skip reasons and sizes are complete, the result matches a
 * synchronous scan + apply, cancelling keeps what was added; async CSV import matches sync. */
#include <string.h>
#include <glib/gstdio.h>

#include "dataset/bt-dataset-private.h"
#include "bt-test-images.h"
#include "bt-test-fs.h"

#define N_PER_CLASS 1100

static void
put_png (const char *dir, const char *name, guint seed, int w, int h)
{
  g_autofree guint8 *pat = bt_test_pattern (w, h, 3, seed);
  g_autoptr(GBytes) png = bt_test_encode_png (pat, w, h, 3);
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_assert_true (bt_test_write_file (path, png));
}

/* root/cats, root/dogs: N_PER_CLASS images each (sizes vary), plus a text file named .png, an
 * empty file, a duplicate inside dogs and a cat image copied into dogs (a label conflict). */
static char *
make_tree (void)
{
  char *root = g_dir_make_tmp ("bt-import-XXXXXX", NULL);
  g_autofree char *cats = g_build_filename (root, "cats", NULL);
  g_autofree char *dogs = g_build_filename (root, "dogs", NULL);
  g_mkdir (cats, 0755);
  g_mkdir (dogs, 0755);
  for (guint i = 0; i < N_PER_CLASS; i++)
    {
      g_autofree char *n = g_strdup_printf ("c%04u.png", i);
      put_png (cats, n, 10 + i, 6 + i % 5, 4 + i % 3);
      g_autofree char *m = g_strdup_printf ("d%04u.png", i);
      put_png (dogs, m, 100000 + i, 7, 5);
    }
  put_png (dogs, "zz-same-as-d0000.png", 100000, 7, 5);
  put_png (dogs, "zz-same-as-c0001.png", 11, 7, 5);
  g_autofree char *text = g_build_filename (cats, "notes.png", NULL);
  g_assert_true (g_file_set_contents (text, "not an image at all", -1, NULL));
  g_autofree char *empty = g_build_filename (dogs, "empty.png", NULL);
  g_assert_true (g_file_set_contents (empty, "", 0, NULL));
  return root;
}

typedef struct {
  GMainLoop     *loop;
  BtProject     *project;
  GCancellable  *cancellable;
  BtScanResult  *result;
  BtScanResult  *partial;       /* what a cancelled import had done */
  GError        *error;
  guint          n_splices, n_progress;
  guint          cancel_after;  /* splices; 0: never */
  gboolean       edit_during;   /* add a class once the first chunk is in */
  gboolean       edited;
  gboolean       rename_during; /* rename "cats" to "felines" once the first slice is in */
  gboolean       renamed;
  guint          rename_idle;   /* the rename, due right after a splice's signal */
  GThread       *main_thread;
} Import;

/* The class a test adds while the import runs, once the first slice is in. Called from both the
 * progress callback and the splices: progress is throttled (the last report may come before the
 * first splice), so waiting for progress alone made the edit depend on timing. */
static void
add_during_import (Import *im)
{
  if (im->edit_during && !im->edited && im->n_splices > 0)
    {
      g_autoptr(GError) error = NULL;
      im->edited = TRUE;
      g_assert_true (bt_project_add_class (im->project, "added-during-import", &error));
      g_assert_no_error (error);
    }
}

/* The rename is made from progress, or from an idle right after a splice: inside a splice's
 * items-changed the class counts of that splice are not in yet. */
static void
edit_during_import (Import *im)
{
  if (im->rename_during && !im->renamed && im->n_splices > 0)
    {
      g_autoptr(GError) error = NULL;
      im->renamed = TRUE;
      g_assert_true (bt_project_rename_class (im->project, "cats", "felines", &error));
      g_assert_no_error (error);
    }
  add_during_import (im);
}

static gboolean
rename_idle_cb (gpointer data)
{
  Import *im = data;
  im->rename_idle = 0;
  edit_during_import (im);
  return G_SOURCE_REMOVE;
}

static void
items_changed (GListModel *model, guint pos, guint removed, guint added, Import *im)
{
  g_assert_true (g_thread_self () == im->main_thread);
  if (added == 0)
    return;
  im->n_splices++;
  /* Each chunk is appended whole, and the sizes are already there. */
  g_assert_cmpuint (removed, ==, 0);
  g_autoptr(BtItem) it = g_list_model_get_item (model, pos);
  g_assert_cmpint (bt_item_get_width (it), >, 0);
  if (im->cancel_after && im->n_splices == im->cancel_after)
    g_cancellable_cancel (im->cancellable);
  add_during_import (im);
  /* progress is throttled and may have said its last before the first splice */
  if (im->rename_during && !im->renamed && im->rename_idle == 0)
    im->rename_idle = g_idle_add_full (G_PRIORITY_HIGH, rename_idle_cb, im, NULL);
}

static void
progress (guint seen, guint ok, guint skipped, gpointer data)
{
  Import *im = data;
  g_assert_true (g_thread_self () == im->main_thread);
  im->n_progress++;
  edit_during_import (im);
}

static void
import_done (GObject *source, GAsyncResult *res, gpointer data)
{
  Import *im = data;
  im->result = bt_project_import_finish_full (BT_PROJECT (source), res, &im->partial, &im->error);
  g_main_loop_quit (im->loop);
}

static void
run_import (Import *im, const char *root)
{
  const char *roots[] = { root, NULL };
  im->loop = g_main_loop_new (NULL, FALSE);
  im->main_thread = g_thread_self ();
  gulong id = g_signal_connect (bt_project_get_items (im->project), "items-changed", G_CALLBACK (items_changed), im);
  bt_project_import_async (im->project, roots, BT_SCAN_FOLDER_OF_CLASSES, NULL, TRUE, progress, im, NULL,
                           im->cancellable, import_done, im);
  g_main_loop_run (im->loop);
  if (im->rename_idle != 0)
    g_source_remove (im->rename_idle);
  im->rename_idle = 0;
  g_signal_handler_disconnect (bt_project_get_items (im->project), id);
  g_main_loop_unref (im->loop);
}

static guint
count_reason (BtScanResult *r, BtSkipReason reason)
{
  guint n = 0;
  for (guint i = 0; i < r->skipped_reasons->len; i++)
    n += g_array_index (r->skipped_reasons, BtSkipReason, i) == reason;
  return n;
}

static void
test_stream (void)
{
  g_autofree char *root = make_tree ();
  g_autofree char *tmp = g_dir_make_tmp ("bt-import-proj-XXXXXX", NULL);
  g_autofree char *dir_a = g_build_filename (tmp, "a", NULL), *dir_b = g_build_filename (tmp, "b", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(BtProject) a = bt_project_create (dir_a, "stream", &error);
  g_assert_no_error (error);
  /* One image already in the project, under another path: its copy in the tree is a duplicate. */
  g_autofree char *outside = g_build_filename (tmp, "already.png", NULL);
  {
    g_autofree char *dogs0 = g_build_filename (root, "dogs", "d0005.png", NULL);
    g_autofree char *data = NULL;
    gsize len = 0;
    g_assert_true (g_file_get_contents (dogs0, &data, &len, NULL));
    g_assert_true (g_file_set_contents (outside, data, (gssize) len, NULL));
    const char *one[] = { outside, NULL };
    g_assert_true (bt_project_add_items (a, "dogs", one, NULL, &error));
  }

  Import im = { 0 };
  im.project = a;
  run_import (&im, root);
  g_assert_no_error (im.error);
  g_assert_nonnull (im.result);
  /* Streamed: 2200 images arrive in more than one piece (a chunk holds ~1000). */
  g_test_message ("%u splices, %u progress calls", im.n_splices, im.n_progress);
  g_assert_cmpuint (im.n_splices, >=, 2);
  g_assert_cmpuint (im.n_progress, >, 0);
  g_assert_cmpuint (im.result->paths->len, ==, 2 * N_PER_CLASS - 1);
  g_assert_cmpuint (g_list_model_get_n_items (bt_project_get_items (a)), ==, 2 * N_PER_CLASS);
  /* Every skip has its reason: 1 not an image, 1 empty (corrupt), 3 duplicates. */
  g_assert_cmpuint (im.result->skipped_paths->len, ==, 5);
  g_assert_cmpuint (count_reason (im.result, BT_SKIP_DUPLICATE), ==, 3);
  g_assert_cmpuint (im.result->n_label_conflicts, ==, 1);
  GListModel *classes = bt_project_get_classes (a);
  for (guint i = 0; i < g_list_model_get_n_items (classes); i++)
    {
      g_autoptr(BtClassInfo) c = g_list_model_get_item (classes, i);
      g_assert_cmpuint (bt_class_info_get_n_items (c), ==, N_PER_CLASS);
    }
  g_autofree char *c3 = g_build_filename (root, "cats", "c0003.png", NULL);
  BtItem *it = bt_project_find_item (a, c3);
  g_assert_nonnull (it);
  g_assert_cmpint (bt_item_get_width (it), ==, 6 + 3);
  g_assert_cmpint (bt_item_get_height (it), ==, 4);

  /* The same project as a synchronous scan + apply gives, in memory and on disk. */
  g_autoptr(BtProject) b = bt_project_create (dir_b, "stream", &error);
  const char *one[] = { outside, NULL };
  g_assert_true (bt_project_add_items (b, "dogs", one, NULL, &error));
  const char *roots[] = { root, NULL };
  g_autoptr(BtScanResult) r = bt_scan_paths (roots, BT_SCAN_FOLDER_OF_CLASSES, NULL, TRUE, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (bt_project_apply_scan (b, r, &error), ==, 2 * N_PER_CLASS - 1);
  GListModel *ia = bt_project_get_items (a), *ib = bt_project_get_items (b);
  g_assert_cmpuint (g_list_model_get_n_items (ia), ==, g_list_model_get_n_items (ib));
  for (guint i = 0; i < g_list_model_get_n_items (ia); i++)
    {
      g_autoptr(BtItem) x = g_list_model_get_item (ia, i);
      g_autoptr(BtItem) y = g_list_model_get_item (ib, i);
      g_assert_cmpstr (bt_item_get_path (x), ==, bt_item_get_path (y));
      g_assert_cmpstr (bt_item_get_class_name (x), ==, bt_item_get_class_name (y));
      g_assert_cmpint (bt_item_get_split (x), ==, bt_item_get_split (y));
      g_assert_cmpint (bt_item_get_width (x), ==, bt_item_get_width (y));
    }
  g_assert_true (bt_project_flush (a, &error));
  g_autoptr(BtProject) reopened = bt_project_open (dir_a, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_list_model_get_n_items (bt_project_get_items (reopened)), ==, 2 * N_PER_CLASS);
  BtItem *again = bt_project_find_item (reopened, c3);
  g_assert_cmpint (bt_item_get_width (again), ==, 9);

  g_assert_true (bt_project_flush (b, &error));
  g_clear_object (&a);
  g_clear_object (&b);
  g_clear_object (&reopened);
  bt_scan_result_free (im.result);
  bt_test_rm_rf (root);
  bt_test_rm_rf (tmp);
}

static void
test_cancel_after (gconstpointer data)
{
  g_autofree char *root = make_tree ();
  g_autofree char *tmp = g_dir_make_tmp ("bt-import-proj-XXXXXX", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(BtProject) p = bt_project_create (tmp, "cancel", &error);
  /* First in walk order: any chunk that adds images has decided this file already. */
  g_autofree char *broken = g_build_filename (root, "cats", "a-broken.png", NULL);
  g_assert_true (g_file_set_contents (broken, "\x89PNG\r\n\x1a\n but not really", -1, NULL));
  Import im = { 0 };
  im.project = p;
  im.cancellable = g_cancellable_new ();
  im.cancel_after = GPOINTER_TO_UINT (data);
  run_import (&im, root);
  g_assert_error (im.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_null (im.result);
  /* No chunk or slice after the cancel; what was added stays and is saved. */
  g_assert_cmpuint (im.n_splices, ==, im.cancel_after);
  guint n = g_list_model_get_n_items (bt_project_get_items (p));
  g_assert_cmpuint (n, >, 0);
  g_assert_cmpuint (n, <, 2 * N_PER_CLASS);
  /* The partial result lists exactly what stayed, and the files skipped before the cancel. */
  g_assert_nonnull (im.partial);
  g_assert_cmpuint (im.partial->paths->len, ==, n);
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(BtItem) it = g_list_model_get_item (bt_project_get_items (p), i);
      g_assert_cmpstr (bt_item_get_path (it), ==, im.partial->paths->pdata[i]);
    }
  g_assert_cmpuint (im.partial->skipped_paths->len, >=, 1);
  g_assert_cmpstr (im.partial->skipped_paths->pdata[0], ==, broken);
  g_assert_cmpint (g_array_index (im.partial->skipped_reasons, BtSkipReason, 0), !=, BT_SKIP_DUPLICATE);
  g_clear_pointer (&im.partial, bt_scan_result_free);
  g_assert_true (bt_project_flush (p, &error));
  g_autoptr(BtProject) q = bt_project_open (tmp, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_list_model_get_n_items (bt_project_get_items (q)), ==, n);
  g_clear_error (&im.error);
  g_clear_object (&im.cancellable);
  g_clear_object (&p);
  g_clear_object (&q);
  bt_test_rm_rf (root);
  bt_test_rm_rf (tmp);
}

/* A class renamed while its images are still coming in (decided and waiting for their slice,
 * or not yet scanned): every one of them lands in the renamed class, none is dropped and the
 * old name does not come back. */
static void
test_rename_during (void)
{
  g_autofree char *root = make_tree ();
  g_autofree char *tmp = g_dir_make_tmp ("bt-import-proj-XXXXXX", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(BtProject) p = bt_project_create (tmp, "rename", &error);
  Import im = { 0 };
  im.project = p;
  im.rename_during = TRUE;
  run_import (&im, root);
  g_assert_no_error (im.error);
  g_assert_true (im.renamed);
  GListModel *items = bt_project_get_items (p);
  g_assert_cmpuint (g_list_model_get_n_items (items), ==, 2 * N_PER_CLASS);
  guint felines = 0;
  for (guint i = 0; i < g_list_model_get_n_items (items); i++)
    {
      g_autoptr(BtItem) it = g_list_model_get_item (items, i);
      const char *c = bt_item_get_class_name (it);
      g_assert_true (g_str_equal (c, "felines") || g_str_equal (c, "dogs"));
      felines += g_str_equal (c, "felines");
    }
  g_assert_cmpuint (felines, ==, N_PER_CLASS);
  GListModel *classes = bt_project_get_classes (p);
  g_assert_cmpuint (g_list_model_get_n_items (classes), ==, 2);
  for (guint i = 0; i < 2; i++)
    {
      g_autoptr(BtClassInfo) c = g_list_model_get_item (classes, i);
      g_assert_cmpstr (bt_class_info_get_name (c), !=, "cats");
      if (g_str_equal (bt_class_info_get_name (c), "felines"))
        g_assert_cmpuint (bt_class_info_get_n_items (c), ==, N_PER_CLASS);
    }
  /* a later import of a folder named "cats" makes a class "cats" again: the rename applied
   * only to the import it happened during */
  g_autofree char *later = g_build_filename (tmp, "later", "cats", NULL);
  g_assert_cmpint (g_mkdir_with_parents (later, 0755), ==, 0);
  put_png (later, "new.png", 777777, 5, 5);
  g_autofree char *later_root = g_path_get_dirname (later);
  Import im2 = { 0 };
  im2.project = p;
  run_import (&im2, later_root);
  g_assert_no_error (im2.error);
  g_autofree char *new_png = g_build_filename (later, "new.png", NULL);
  BtItem *it = bt_project_find_item (p, new_png);
  g_assert_nonnull (it);
  g_assert_cmpstr (bt_item_get_class_name (it), ==, "cats");
  bt_scan_result_free (im.result);
  bt_scan_result_free (im2.result);
  g_assert_true (bt_project_flush (p, &error));
  g_clear_object (&p);
  bt_test_rm_rf (root);
  bt_test_rm_rf (tmp);
}

/* Without a flush: an import's chunks are saved at most once a second while it runs, but its
 * end and an edit made during it reach the disk by themselves. */
static void
test_saved_without_flush (void)
{
  g_autofree char *root = make_tree ();
  g_autofree char *tmp = g_dir_make_tmp ("bt-import-proj-XXXXXX", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(BtProject) p = bt_project_create (tmp, "no-flush", &error);
  Import im = { 0 };
  gint64 end = g_get_monotonic_time () + 30 * G_USEC_PER_SEC;

  im.project = p;
  im.edit_during = TRUE;
  run_import (&im, root);
  g_assert_no_error (im.error);
  while (bt_project_is_saving (p) && g_get_monotonic_time () < end)
    g_main_context_iteration (NULL, TRUE);
  g_assert_false (bt_project_is_saving (p));
  g_autoptr(BtProject) q = bt_project_open (tmp, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_list_model_get_n_items (bt_project_get_items (p)), ==, 2 * N_PER_CLASS);
  g_assert_cmpuint (g_list_model_get_n_items (bt_project_get_items (q)), ==, 2 * N_PER_CLASS);
  g_assert_cmpint (bt_project_find_class (q, "added-during-import"), >=, 0);
  g_assert_true (im.edited);
  bt_scan_result_free (im.result);
  g_clear_object (&p);
  g_clear_object (&q);
  bt_test_rm_rf (root);
  bt_test_rm_rf (tmp);
}

typedef struct {
  GMainLoop *loop;
  gssize     added;
  GError    *error;
  guint      n_splices;
} CsvImport;

static void
csv_items_changed (GListModel *model, guint pos, guint removed, guint added, CsvImport *ci)
{
  ci->n_splices += added > 0;
}

static void
csv_done (GObject *source, GAsyncResult *res, gpointer data)
{
  CsvImport *ci = data;
  ci->added = bt_project_import_csv_finish (BT_PROJECT (source), res, &ci->error);
  g_main_loop_quit (ci->loop);
}

/* bt_project_import_csv_async: the same project as the synchronous import, built in chunks. */
static void
test_csv_async (void)
{
  g_autofree char *root = make_tree ();
  g_autoptr(GString) csv = g_string_new ("path,class,split\r\n");
  for (guint i = 0; i < N_PER_CLASS; i++)
    g_string_append_printf (csv, "cats/c%04u.png,%s,\r\ndogs/d%04u.png,dog,%s\r\n", i, i % 3 ? "cat" : "kitten",
                            i, i % 10 ? "" : "test");
  g_string_append (csv, "cats/notes.png,cat,\r\nnowhere.png,cat,\r\n");
  g_autofree char *csv_path = g_build_filename (root, "labels.csv", NULL);
  g_assert_true (g_file_set_contents (csv_path, csv->str, (gssize) csv->len, NULL));
  g_autofree char *tmp = g_dir_make_tmp ("bt-import-csv-XXXXXX", NULL);
  g_autofree char *da = g_build_filename (tmp, "a", NULL), *db = g_build_filename (tmp, "b", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(BtProject) a = bt_project_create (da, "csv", &error);
  g_autoptr(BtProject) b = bt_project_create (db, "csv", &error);
  g_assert_no_error (error);

  CsvImport ci = { g_main_loop_new (NULL, FALSE), 0, NULL, 0 };
  gulong id = g_signal_connect (bt_project_get_items (a), "items-changed", G_CALLBACK (csv_items_changed), &ci);
  bt_project_import_csv_async (a, csv_path, NULL, csv_done, &ci);
  g_main_loop_run (ci.loop);
  g_signal_handler_disconnect (bt_project_get_items (a), id);
  g_main_loop_unref (ci.loop);
  g_assert_no_error (ci.error);
  g_assert_cmpint (ci.added, ==, 2 * N_PER_CLASS);
  g_assert_cmpuint (ci.n_splices, >=, 2);

  g_assert_true (bt_project_import_csv (b, csv_path, &error));
  GListModel *ia = bt_project_get_items (a), *ib = bt_project_get_items (b);
  g_assert_cmpuint (g_list_model_get_n_items (ia), ==, g_list_model_get_n_items (ib));
  for (guint i = 0; i < g_list_model_get_n_items (ia); i++)
    {
      g_autoptr(BtItem) x = g_list_model_get_item (ia, i);
      g_autoptr(BtItem) y = g_list_model_get_item (ib, i);
      g_assert_cmpstr (bt_item_get_path (x), ==, bt_item_get_path (y));
      g_assert_cmpstr (bt_item_get_class_name (x), ==, bt_item_get_class_name (y));
      g_assert_cmpint (bt_item_get_split (x), ==, bt_item_get_split (y));
      g_assert_cmpint (bt_item_get_width (x), ==, bt_item_get_width (y));
      g_assert_cmpint (bt_item_get_width (x), >, 0);
    }
  g_assert_cmpint (bt_project_find_class (a, "kitten"), >=, 0);

  /* Not a CSV: a clear error, nothing added. */
  g_autofree char *bad = g_build_filename (root, "cats", "c0000.png", NULL);
  ci.loop = g_main_loop_new (NULL, FALSE);
  bt_project_import_csv_async (a, bad, NULL, csv_done, &ci);
  g_main_loop_run (ci.loop);
  g_main_loop_unref (ci.loop);
  g_assert_nonnull (ci.error);
  g_assert_cmpint (ci.added, ==, -1);
  g_clear_error (&ci.error);
  g_assert_cmpuint (g_list_model_get_n_items (ia), ==, 2 * N_PER_CLASS);

  g_assert_true (bt_project_flush (a, &error));
  g_assert_true (bt_project_flush (b, &error));
  g_clear_object (&a);
  g_clear_object (&b);
  bt_test_rm_rf (root);
  bt_test_rm_rf (tmp);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/dataset/import/stream", test_stream);
  /* At the first slice, and at a later one (the scan may have ended while slices waited). */
  g_test_add_data_func ("/dataset/import/cancel", GUINT_TO_POINTER (1), test_cancel_after);
  g_test_add_data_func ("/dataset/import/cancel-later", GUINT_TO_POINTER (3), test_cancel_after);
  g_test_add_func ("/dataset/import/saved-without-flush", test_saved_without_flush);
  g_test_add_func ("/dataset/import/rename-during", test_rename_during);
  g_test_add_func ("/dataset/import/csv-async", test_csv_async);
  return g_test_run ();
}
