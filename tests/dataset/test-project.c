/* test-project.c: project.ini / labels.csv round trips, atomic and durable saves under failure
 * (write error midway, file-size limit, SIGKILL), missing images and the stable split. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <glib/gstdio.h>

#include "dataset/bt-dataset-private.h"
#include "bt-test-images.h"
#include "bt-test-fs.h"

static char *
make_tmpdir (void)
{
  g_autoptr(GError) error = NULL;
  char *d = g_dir_make_tmp ("bt-project-XXXXXX", &error);
  g_assert_no_error (error);
  return d;
}

static char *
write_image (const char *dir, const char *name, guint seed)
{
  g_autofree guint8 *pat = bt_test_pattern (8, 8, 3, seed);
  g_autoptr(GBytes) png = bt_test_encode_png (pat, 8, 8, 3);
  char *path = g_build_filename (dir, name, NULL);
  g_assert_true (bt_test_write_file (path, png));
  return path;
}

static char *
read_all (const char *path)
{
  char *data = NULL;
  g_assert_true (g_file_get_contents (path, &data, NULL, NULL));
  return data;
}

static void
test_round_trip (void)
{
  g_autofree char *dir = make_tmpdir ();
  g_autofree char *imgdir = g_build_filename (dir, "images", NULL);
  g_mkdir (imgdir, 0755);
  /* Names with quotes, commas, newlines, spaces and invalid UTF-8 (Latin-1 "é"). */
  const char *names[] = { "plain.png", "with,comma.png", "with \"quotes\".png", "new\nline.png",
                          " lead and trail .png", "latin1-\xe9.png", "crlf\r\nname.png" };
  GPtrArray *paths = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    g_ptr_array_add (paths, write_image (imgdir, names[i], i + 1));
  /* And one outside the project folder (stored absolute). */
  g_autofree char *outside_dir = make_tmpdir ();
  g_ptr_array_add (paths, write_image (outside_dir, "out\"side,.png", 99));
  g_ptr_array_add (paths, NULL);

  g_autoptr(GError) error = NULL;
  g_autofree char *pdir = g_build_filename (dir, "proj", NULL);
  g_autoptr(BtProject) p = bt_project_create (pdir, "My \"project\", v1\nsecond line", &error);
  g_assert_no_error (error);
  /* images/ lies beside proj/, so these are stored absolute; move images inside too: */
  g_autofree char *inner = g_build_filename (pdir, "inside.png", NULL);
  g_autofree char *tmp = write_image (pdir, "inside.png", 7);
  const char *inner_paths[] = { inner, NULL };
  g_assert_true (bt_project_add_items (p, "odd, \"class\" name", (const char * const *) paths->pdata, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (bt_project_add_items (p, "ünïcödé; semi", inner_paths, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (bt_project_add_class (p, "empty class", &error));
  BtProjectSettings s;
  bt_project_settings_copy (&s, bt_project_get_settings (p));
  s.width = 28; s.height = 32; s.channels = 1; s.resize = BT_DS_RESIZE_PAD;
  s.learning_rate = 0.0125; s.seed = G_GUINT64_CONSTANT (18446744073709551557);
  s.augment_flip = TRUE; s.split_train = 70; s.split_val = 20; s.split_test = 10;
  g_assert_true (bt_project_update_settings (p, &s, &error));
  bt_project_settings_clear (&s);
  BtItem *first = g_list_model_get_item (bt_project_get_items (p), 2);
  g_assert_true (bt_project_set_excluded (p, &first, 1, TRUE, &error));
  g_object_unref (first);
  g_assert_true (bt_project_flush (p, &error));  /* the writer thread has written both files */
  g_assert_false (bt_project_is_saving (p));

  g_autofree char *labels = g_build_filename (pdir, "labels.csv", NULL);
  g_autofree char *csv = read_all (labels);
  g_assert_true (g_str_has_prefix (csv, "path,class,split"));
  g_assert_nonnull (strstr (csv, "inside.png,"));  /* relative inside the project */

  g_autoptr(BtProject) q = bt_project_open (pdir, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (bt_project_get_name (q), ==, bt_project_get_name (p));
  const BtProjectSettings *a = bt_project_get_settings (p), *b = bt_project_get_settings (q);
  g_assert_cmpint (b->width, ==, 28);
  g_assert_cmpint (b->height, ==, 32);
  g_assert_cmpint (b->channels, ==, 1);
  g_assert_cmpint (b->resize, ==, BT_DS_RESIZE_PAD);
  g_assert_cmpfloat (b->learning_rate, ==, a->learning_rate);
  g_assert_true (b->seed == a->seed);
  g_assert_true (b->augment_flip);
  g_assert_cmpint (b->split_val, ==, 20);
  GListModel *ca = bt_project_get_classes (p), *cb = bt_project_get_classes (q);
  g_assert_cmpuint (g_list_model_get_n_items (ca), ==, 3);
  g_assert_cmpuint (g_list_model_get_n_items (cb), ==, 3);
  for (guint i = 0; i < 3; i++)
    {
      g_autoptr(BtClassInfo) x = g_list_model_get_item (ca, i);
      g_autoptr(BtClassInfo) y = g_list_model_get_item (cb, i);
      g_assert_cmpstr (bt_class_info_get_name (x), ==, bt_class_info_get_name (y));
      g_assert_cmpuint (bt_class_info_get_n_items (x), ==, bt_class_info_get_n_items (y));
    }
  GListModel *ia = bt_project_get_items (p), *ib = bt_project_get_items (q);
  g_assert_cmpuint (g_list_model_get_n_items (ia), ==, paths->len);  /* len counts the NULL */
  for (guint i = 0; i < g_list_model_get_n_items (ia); i++)
    {
      g_autoptr(BtItem) x = g_list_model_get_item (ia, i);
      g_autoptr(BtItem) y = g_list_model_get_item (ib, i);
      g_assert_cmpstr (bt_item_get_path (x), ==, bt_item_get_path (y));
      g_assert_cmpstr (bt_item_get_class_name (x), ==, bt_item_get_class_name (y));
      g_assert_cmpint (bt_item_get_split (x), ==, bt_item_get_split (y));
      g_assert_cmpint (bt_item_get_excluded (x), ==, bt_item_get_excluded (y));
      g_assert_true (bt_item_get_hash (x) == bt_item_get_hash (y));
      g_assert_false (bt_item_get_missing (y));
      g_assert_true (g_file_test (bt_item_get_path (y), G_FILE_TEST_IS_REGULAR));
    }
  g_ptr_array_unref (paths);
  g_assert_true (bt_project_flush (p, NULL));
  g_assert_true (bt_project_flush (q, NULL));
  bt_test_rm_rf (dir);
  bt_test_rm_rf (outside_dir);
}

static void
test_missing_and_broken (void)
{
  g_autofree char *dir = make_tmpdir ();
  g_autoptr(GError) error = NULL;
  g_autoptr(BtProject) p = bt_project_create (dir, "m", &error);
  g_assert_no_error (error);
  g_autofree char *a = write_image (dir, "a.png", 1);
  g_autofree char *b = write_image (dir, "b.png", 2);
  const char *paths[] = { a, b, NULL };
  g_assert_true (bt_project_add_items (p, "c", paths, NULL, &error));
  g_clear_object (&p);
  g_assert_cmpint (g_unlink (b), ==, 0);
  p = bt_project_open (dir, &error);
  g_assert_no_error (error);
  BtItem *ib = bt_project_find_item (p, b);
  g_assert_nonnull (ib);
  g_assert_true (bt_item_get_missing (ib));
  g_assert_cmpstr (bt_item_get_class_name (ib), ==, "c");
  g_assert_false (bt_item_get_missing (bt_project_find_item (p, a)));
  g_clear_object (&p);

  /* Broken files → clear errors, no crash. */
  g_autofree char *ini = g_build_filename (dir, "project.ini", NULL);
  g_autofree char *csv = g_build_filename (dir, "labels.csv", NULL);
  g_autofree char *good_ini = read_all (ini);
  static const char *bad_inis[] = {
    "", "[project]\nformat-version=99\n", "garbage = = [\n\x01",
    "[project]\nformat-version=1\n[input]\nwidth=-5\n", "[project]\nformat-version=1\n[split]\ntrain=50\n",
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad_inis); i++)
    {
      g_assert_true (g_file_set_contents (ini, bad_inis[i], -1, NULL));
      g_autoptr(GError) e = NULL;
      g_autoptr(BtProject) bad = bt_project_open (dir, &e);
      g_assert_null (bad);
      int want = i == 1 ? BT_DATASET_ERROR_UNSUPPORTED : BT_DATASET_ERROR_CORRUPT;
      g_assert_error (e, BT_DATASET_ERROR, want);
      g_test_message ("bad ini %u: %s", i, e->message);
    }
  g_assert_true (g_file_set_contents (ini, good_ini, -1, NULL));
  g_assert_true (g_file_set_contents (csv, "path,class\n\"unterminated,x\n", -1, NULL));
  g_autoptr(GError) e2 = NULL;
  g_autoptr(BtProject) bad2 = bt_project_open (dir, &e2);
  g_assert_null (bad2);
  g_assert_error (e2, BT_DATASET_ERROR, BT_DATASET_ERROR_CORRUPT);
  bt_test_rm_rf (dir);
}

static void
on_changed (BtProject *p, guint *counter)
{
  (*counter)++;
}

static void
on_save_failed (BtProject *p, GError *error, guint *counter)
{
  g_assert_nonnull (error);
  (*counter)++;
}

static void
test_save_fails_midway (void)
{
  g_autofree char *dir = make_tmpdir ();
  g_autoptr(GError) error = NULL;
  g_autoptr(BtProject) p = bt_project_create (dir, "atomic", &error);
  g_autofree char *a = write_image (dir, "a.png", 1);
  const char *paths[] = { a, NULL };
  g_assert_true (bt_project_add_items (p, "one", paths, NULL, &error));
  g_assert_true (bt_project_flush (p, &error));
  g_autofree char *csv = g_build_filename (dir, "labels.csv", NULL);
  g_autofree char *before = read_all (csv);
  guint save_failed = 0, changed = 0;
  g_signal_connect (p, "save-failed", G_CALLBACK (on_save_failed), &save_failed);
  g_signal_connect (p, "changed", G_CALLBACK (on_changed), &changed);

  bt_atomic_write_fail_after = 10;  /* dies 10 bytes into the temp file */
  BtItem *it = bt_project_find_item (p, a);
  /* The edit itself succeeds: the write happens on the project's writer thread. */
  g_assert_true (bt_project_relabel (p, &it, 1, "two", &error));
  g_assert_no_error (error);
  g_assert_cmpuint (changed, ==, 1);
  g_assert_false (bt_project_flush (p, &error));
  bt_atomic_write_fail_after = -1;
  g_assert_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_IO);
  g_test_message ("%s", error->message);
  /* "save-failed" arrives on the main context: once for the edit's write, once for the
   * flush's retry. */
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_cmpuint (save_failed, ==, 2);
  g_autofree char *after = read_all (csv);
  g_assert_cmpstr (before, ==, after);
  /* The change stays in memory... */
  g_assert_cmpstr (bt_item_get_class_name (it), ==, "two");
  /* No temp file left behind. */
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;
  while ((name = g_dir_read_name (d)))
    g_assert_false (g_str_has_prefix (name, ".labels.csv."));
  /* ...and the next flush writes it once the disk takes it again. */
  g_clear_error (&error);
  g_assert_true (bt_project_flush (p, &error));
  g_assert_no_error (error);
  g_autofree char *fixed = read_all (csv);
  g_assert_nonnull (strstr (fixed, "a.png,two,"));
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_cmpuint (save_failed, ==, 2);
  bt_test_rm_rf (dir);
}

/* A real "disk full": the kernel refuses to let the file grow past RLIMIT_FSIZE (EFBIG). */
static void
test_disk_full (void)
{
  g_autofree char *dir = make_tmpdir ();
  g_autofree char *path = g_build_filename (dir, "labels.csv", NULL);
  g_assert_true (bt_write_file_atomic (path, "old,content\r\n", 13, NULL));
  if (g_test_subprocess ())
    {
      signal (SIGXFSZ, SIG_IGN);
      struct rlimit rl = { 4096, 4096 };
      g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &rl), ==, 0);
      gsize big = 64 * 1024;
      g_autofree char *data = g_malloc (big);
      memset (data, 'x', big);
      g_autoptr(GError) error = NULL;
      g_assert_false (bt_write_file_atomic (path, data, big, &error));
      g_assert_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_IO);
      g_printerr ("%s\n", error->message);
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stderr ("*Could not save*");
  g_autofree char *after = read_all (path);
  g_assert_cmpstr (after, ==, "old,content\r\n");
  /* /dev/full, too, where it exists: writes fail with ENOSPC. */
  bt_test_rm_rf (dir);
}

static void
test_kill_during_save (void)
{
  g_autofree char *dir = make_tmpdir ();
  g_autofree char *path = g_build_filename (dir, "labels.csv", NULL);
  gsize big = 4 * 1024 * 1024;
  g_autofree char *a = g_malloc (big), *b = g_malloc (big);
  memset (a, 'a', big);
  memset (b, 'b', big);
  g_assert_true (bt_write_file_atomic (path, a, big, NULL));
  for (int round = 0; round < 5; round++)
    {
      int ack[2];
      g_assert_cmpint (pipe (ack), ==, 0);
      pid_t pid = fork ();
      g_assert_cmpint (pid, >=, 0);
      if (pid == 0)
        {
          /* writes without end, telling the parent after each whole one */
          close (ack[0]);
          for (int i = 0;; i++)
            if (bt_write_file_atomic (path, (i & 1) ? a : b, big, NULL) && write (ack[1], "w", 1) != 1)
              _exit (4);
          _exit (0);
        }
      close (ack[1]);
      /* after round + 1 whole writes, while the next one is under way */
      for (int n = 0; n <= round; n++)
        {
          char c;
          g_assert_cmpint (read (ack[0], &c, 1), ==, 1);
        }
      kill (pid, SIGKILL);
      close (ack[0]);
      int st;
      waitpid (pid, &st, 0);
      g_autofree char *data = NULL;
      gsize len = 0;
      g_assert_true (g_file_get_contents (path, &data, &len, NULL));
      g_assert_cmpuint (len, ==, big);
      g_assert_true (memcmp (data, a, big) == 0 || memcmp (data, b, big) == 0);
    }
  bt_test_rm_rf (dir);
}

static void
test_split_for_hash (void)
{
  guint counts[BT_N_SPLITS] = { 0 };
  for (guint64 h = 1; h <= 20000; h++)
    {
      BtSplit s = bt_split_for_hash (bt_mix64 (h), 80, 10, 10);
      g_assert_cmpint (s, ==, bt_split_for_hash (bt_mix64 (h), 80, 10, 10));
      counts[s]++;
      /* Growing val at the expense of train only moves train items. */
      BtSplit s2 = bt_split_for_hash (bt_mix64 (h), 70, 20, 10);
      if (s == BT_SPLIT_VAL)
        g_assert_cmpint (s2, ==, BT_SPLIT_VAL);
      if (s == BT_SPLIT_TEST)
        g_assert_cmpint (s2, ==, BT_SPLIT_TEST);
    }
  g_assert_cmpuint (counts[BT_SPLIT_TRAIN], >, 15600);
  g_assert_cmpuint (counts[BT_SPLIT_TRAIN], <, 16400);
  g_assert_cmpuint (counts[BT_SPLIT_VAL], >, 1800);
  g_assert_cmpuint (counts[BT_SPLIT_VAL], <, 2200);
  g_assert_cmpint (bt_split_for_hash (5, 100, 0, 0), ==, BT_SPLIT_TRAIN);
}

static void
test_split_stability (void)
{
  g_autofree char *dir = make_tmpdir ();
  g_autoptr(GError) error = NULL;
  g_autoptr(BtProject) p = bt_project_create (dir, "split", &error);
  g_assert_no_error (error);
  /* Two images in a class: one must be in val. */
  g_autofree char *x1 = write_image (dir, "x1.png", 1000);
  g_autofree char *x2 = write_image (dir, "x2.png", 1001);
  const char *two[] = { x1, NULL };
  g_assert_true (bt_project_add_items (p, "small", two, NULL, &error));
  BtSplit first_split = bt_item_get_split (bt_project_find_item (p, x1));
  two[0] = x2;
  g_assert_true (bt_project_add_items (p, "small", two, NULL, &error));
  g_assert_cmpint (bt_item_get_split (bt_project_find_item (p, x1)), ==, first_split);
  g_autoptr(BtSplitView) v = bt_project_split_view (p, BT_SPLIT_VAL);
  g_assert_cmpuint (v->n, ==, 1);

  /* Add 60 images in batches; nothing already there ever moves. */
  g_autoptr(GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  for (int batch = 0; batch < 6; batch++)
    {
      GPtrArray *ps = g_ptr_array_new_with_free_func (g_free);
      for (int i = 0; i < 10; i++)
        {
          g_autofree char *n = g_strdup_printf ("img-%d-%d.png", batch, i);
          g_ptr_array_add (ps, write_image (dir, n, batch * 100 + i));
        }
      g_ptr_array_add (ps, NULL);
      g_assert_true (bt_project_add_items (p, batch % 2 ? "odd" : "even", (const char * const *) ps->pdata, NULL, &error));
      GHashTableIter iter;
      gpointer k, val;
      g_hash_table_iter_init (&iter, seen);
      while (g_hash_table_iter_next (&iter, &k, &val))
        g_assert_cmpint (bt_item_get_split (bt_project_find_item (p, k)), ==, GPOINTER_TO_INT (val) - 1);
      for (guint i = 0; i + 1 < ps->len; i++)
        g_hash_table_insert (seen, g_strdup (ps->pdata[i]),
                             GINT_TO_POINTER (bt_item_get_split (bt_project_find_item (p, ps->pdata[i])) + 1));
      g_ptr_array_unref (ps);
    }
  /* Every class with >= 2 images has a val image. */
  for (guint c = 0; c < 3; c++)
    {
      g_autoptr(BtClassInfo) ci = g_list_model_get_item (bt_project_get_classes (p), c);
      gboolean has_val = FALSE;
      g_autoptr(BtSplitView) vv = bt_project_split_view (p, BT_SPLIT_VAL);
      for (guint i = 0; i < vv->n; i++)
        has_val |= vv->labels[i] == (int) c;
      g_assert_true (has_val);
    }
  float w[3];
  bt_project_class_weights (p, w, 3);
  for (int c = 0; c < 3; c++)
    g_assert_cmpfloat (w[c], >, 0.f);
  g_assert_cmpfloat (w[0], >, w[1]);  /* "small" has far fewer training images */
  g_assert_true (bt_project_flush (p, NULL));
  bt_test_rm_rf (dir);
}

static void
test_csv_parse (void)
{
  const char *csv = "\xef\xbb\xbfpath,class\r\n\"a,b\",\"x \"\"y\"\"\"\n\nc,\"multi\r\nline\"\nlast,row";
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) rows = bt_csv_parse (csv, strlen (csv), &error);
  g_assert_no_error (error);
  g_assert_cmpuint (rows->len, ==, 4);
  char **r1 = rows->pdata[1], **r2 = rows->pdata[2], **r3 = rows->pdata[3];
  g_assert_cmpstr (r1[0], ==, "a,b");
  g_assert_cmpstr (r1[1], ==, "x \"y\"");
  g_assert_cmpstr (r2[1], ==, "multi\r\nline");
  g_assert_cmpstr (r3[1], ==, "row");
  g_assert_null (bt_csv_parse ("\"open", 5, NULL));
}

static void
test_import_csv (void)
{
  g_autofree char *dir = make_tmpdir ();
  g_autofree char *data = g_build_filename (dir, "data", NULL);
  g_mkdir (data, 0755);
  g_autofree char *a = write_image (data, "a, \"quoted\".png", 1);
  g_autofree char *b = write_image (data, "b.png", 2);
  g_autofree char *csv = g_build_filename (data, "labels.csv", NULL);
  const char *text = "path,label,split\r\n\"a, \"\"quoted\"\".png\",cat,test\r\nb.png,\"dog, big\",\r\n"
                     "missing.png,cat,train\r\nlabels.csv,cat,train\r\n";
  g_assert_true (g_file_set_contents (csv, text, -1, NULL));
  g_autofree char *pdir = g_build_filename (dir, "proj", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(BtProject) p = bt_project_create (pdir, "csv", &error);
  g_assert_true (bt_project_import_csv (p, csv, &error));
  g_assert_no_error (error);
  /* The missing file and the CSV itself (not an image) are left out. */
  g_assert_cmpuint (g_list_model_get_n_items (bt_project_get_items (p)), ==, 2);
  BtItem *ia = bt_project_find_item (p, a), *ib = bt_project_find_item (p, b);
  g_assert_nonnull (ia);
  g_assert_nonnull (ib);
  g_assert_cmpstr (bt_item_get_class_name (ia), ==, "cat");
  g_assert_cmpint (bt_item_get_split (ia), ==, BT_SPLIT_TEST);  /* the CSV's split is kept */
  g_assert_cmpstr (bt_item_get_class_name (ib), ==, "dog, big");
  g_assert_cmpint (bt_project_find_class (p, "dog, big"), ==, 1);
  g_autoptr(GError) e2 = NULL;
  g_autofree char *nowhere = g_build_filename (dir, "nope.csv", NULL);
  g_assert_false (bt_project_import_csv (p, nowhere, &e2));
  g_assert_error (e2, BT_DATASET_ERROR, BT_DATASET_ERROR_IO);
  g_assert_true (bt_project_flush (p, NULL));
  bt_test_rm_rf (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/dataset/project/round-trip", test_round_trip);
  g_test_add_func ("/dataset/project/missing-and-broken", test_missing_and_broken);
  g_test_add_func ("/dataset/project/save-fails-midway", test_save_fails_midway);
  g_test_add_func ("/dataset/project/disk-full", test_disk_full);
  g_test_add_func ("/dataset/project/kill-during-save", test_kill_during_save);
  g_test_add_func ("/dataset/split/for-hash", test_split_for_hash);
  g_test_add_func ("/dataset/split/stability", test_split_stability);
  g_test_add_func ("/dataset/csv/parse", test_csv_parse);
  g_test_add_func ("/dataset/csv/import", test_import_csv);
  return g_test_run ();
}
