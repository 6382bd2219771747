/* test-save.c: the project's writer thread: coalesced quick edits end in the right files, a
 * full disk reaches the caller and keeps the old file, a kill mid-save leaves a loadable
 * project, and dropping the project writes what was pending. */
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
#include "bt-test-wait.h"

/* A project in a fresh folder with n small distinct images in class "a". */
static BtProject *
make_project (guint n, char **dir_out)
{
  g_autoptr(GError) error = NULL;
  char *dir = g_dir_make_tmp ("bt-save-XXXXXX", &error);
  g_assert_no_error (error);
  g_autofree char *img = g_build_filename (dir, "img", NULL);
  g_assert_cmpint (g_mkdir (img, 0755), ==, 0);
  g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < n; i++)
    {
      g_autofree guint8 *pat = bt_test_pattern (5 + i % 7, 4 + i % 5, 3, i + 1);
      g_autoptr(GBytes) png = bt_test_encode_png (pat, 5 + i % 7, 4 + i % 5, 3);
      char *path = g_strdup_printf ("%s/im%04u.png", img, i);
      g_assert_true (bt_test_write_file (path, png));
      g_ptr_array_add (paths, path);
    }
  g_ptr_array_add (paths, NULL);
  g_autofree char *pdir = g_build_filename (dir, "proj", NULL);
  BtProject *p = bt_project_create (pdir, "save", &error);
  g_assert_no_error (error);
  g_assert_true (bt_project_add_items (p, "a", (const char * const *) paths->pdata, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (bt_project_flush (p, &error));
  *dir_out = dir;
  return p;
}

static void
assert_same (BtProject *a, BtProject *b)
{
  GListModel *ia = bt_project_get_items (a), *ib = bt_project_get_items (b);
  g_assert_cmpuint (g_list_model_get_n_items (ia), ==, g_list_model_get_n_items (ib));
  for (guint i = 0; i < g_list_model_get_n_items (ia); i++)
    {
      g_autoptr(BtItem) x = g_list_model_get_item (ia, i);
      g_autoptr(BtItem) y = g_list_model_get_item (ib, i);
      g_assert_cmpstr (bt_item_get_path (x), ==, bt_item_get_path (y));
      g_assert_cmpstr (bt_item_get_class_name (x), ==, bt_item_get_class_name (y));
      g_assert_cmpint (bt_item_get_split (x), ==, bt_item_get_split (y));
      g_assert_cmpint (bt_item_get_excluded (x), ==, bt_item_get_excluded (y));
      g_assert_cmpint (bt_item_get_width (x), ==, bt_item_get_width (y));
      g_assert_cmpint (bt_item_get_height (x), ==, bt_item_get_height (y));
    }
  GListModel *ca = bt_project_get_classes (a), *cb = bt_project_get_classes (b);
  g_assert_cmpuint (g_list_model_get_n_items (ca), ==, g_list_model_get_n_items (cb));
  for (guint i = 0; i < g_list_model_get_n_items (ca); i++)
    {
      g_autoptr(BtClassInfo) x = g_list_model_get_item (ca, i);
      g_autoptr(BtClassInfo) y = g_list_model_get_item (cb, i);
      g_assert_cmpstr (bt_class_info_get_name (x), ==, bt_class_info_get_name (y));
      g_assert_cmpuint (bt_class_info_get_n_items (x), ==, bt_class_info_get_n_items (y));
    }
}

/* Many edits in a row, each handed to the writer while the previous write may still run. */
static void
do_random_edits (BtProject *p, guint n_edits, guint32 seed)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (seed);
  GListModel *items = bt_project_get_items (p);
  static const char * const names[] = { "a", "b", "c, with comma", "d \"q\"" };
  for (guint e = 0; e < n_edits; e++)
    {
      guint n = g_list_model_get_n_items (items);
      g_autoptr(BtItem) it = g_list_model_get_item (items, g_rand_int_range (rand, 0, (gint32) n));
      g_autoptr(GError) error = NULL;
      switch (g_rand_int_range (rand, 0, 6))
        {
        case 0: case 1: case 2:
          g_assert_true (bt_project_relabel (p, &it, 1, names[g_rand_int_range (rand, 0, 4)], &error));
          break;
        case 3:
          g_assert_true (bt_project_set_excluded (p, &it, 1, g_rand_boolean (rand), &error));
          break;
        case 4:
          if (bt_project_find_class (p, "renamed") < 0 && bt_project_find_class (p, "b") >= 0)
            g_assert_true (bt_project_rename_class (p, "b", "renamed", &error));
          else if (bt_project_find_class (p, "renamed") >= 0 && bt_project_find_class (p, "b") < 0)
            g_assert_true (bt_project_rename_class (p, "renamed", "b", &error));
          break;
        default:
          g_assert_true (bt_project_move_class (p, bt_item_get_class_name (it), 0, &error));
          break;
        }
      g_assert_no_error (error);
    }
}

static void
test_quick_edits (void)
{
  g_autofree char *dir = NULL;
  g_autoptr(BtProject) p = make_project (300, &dir);
  guint changed = 0, failed = 0;
  g_signal_connect_swapped (p, "changed", G_CALLBACK (g_atomic_int_inc), &changed);
  g_signal_connect_swapped (p, "save-failed", G_CALLBACK (g_atomic_int_inc), &failed);
  do_random_edits (p, 400, 7);
  g_assert_cmpuint (changed, >, 0);
  g_autoptr(GError) error = NULL;
  g_assert_true (bt_project_flush (p, &error));
  g_assert_no_error (error);
  g_assert_false (bt_project_is_saving (p));
  g_autoptr(BtProject) q = bt_project_open (bt_project_get_dir (p), &error);
  g_assert_no_error (error);
  assert_same (p, q);
  /* The sizes scanned at add time survived too. */
  g_autoptr(BtItem) first = g_list_model_get_item (bt_project_get_items (q), 0);
  g_assert_cmpint (bt_item_get_width (first), ==, 5);
  g_assert_cmpint (bt_item_get_height (first), ==, 4);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_cmpuint (failed, ==, 0);
  g_clear_object (&q);
  g_clear_object (&p);
  bt_test_rm_rf (dir);
}

/* Dropping the last reference waits for the pending write: nothing is lost on quit. */
static void
test_finalize_writes (void)
{
  g_autofree char *dir = NULL;
  BtProject *p = make_project (120, &dir);
  g_autofree char *pdir = g_strdup (bt_project_get_dir (p));
  do_random_edits (p, 150, 3);
  g_assert_true (bt_project_add_class (p, "last one", NULL));
  /* What the files must hold: a copy of the state, made from memory. */
  GListModel *items = bt_project_get_items (p);
  g_autoptr(GPtrArray) want = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < g_list_model_get_n_items (items); i++)
    {
      g_autoptr(BtItem) it = g_list_model_get_item (items, i);
      g_ptr_array_add (want, g_strdup_printf ("%s|%s|%d", bt_item_get_path (it), bt_item_get_class_name (it),
                                              bt_item_get_excluded (it)));
    }
  g_object_unref (p);
  g_autoptr(GError) error = NULL;
  g_autoptr(BtProject) q = bt_project_open (pdir, &error);
  g_assert_no_error (error);
  items = bt_project_get_items (q);
  g_assert_cmpuint (g_list_model_get_n_items (items), ==, want->len);
  for (guint i = 0; i < want->len; i++)
    {
      g_autoptr(BtItem) it = g_list_model_get_item (items, i);
      g_autofree char *got = g_strdup_printf ("%s|%s|%d", bt_item_get_path (it), bt_item_get_class_name (it),
                                              bt_item_get_excluded (it));
      g_assert_cmpstr (got, ==, want->pdata[i]);
    }
  g_assert_cmpint (bt_project_find_class (q, "last one"), >=, 0);
  g_clear_object (&q);
  bt_test_rm_rf (dir);
}

static void
count_failed (BtProject *p, GError *error, guint *counter)
{
  g_assert_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_IO);
  (*counter)++;
}

/* A real full disk: the kernel refuses to let a file grow past RLIMIT_FSIZE (EFBIG). */
static void
test_disk_full (void)
{
  if (g_test_subprocess ())
    {
      g_autofree char *dir = NULL;
      g_autoptr(BtProject) p = make_project (200, &dir);
      g_autofree char *csv = g_build_filename (bt_project_get_dir (p), "labels.csv", NULL);
      g_autofree char *before = NULL;
      g_assert_true (g_file_get_contents (csv, &before, NULL, NULL));
      guint failed = 0;
      g_signal_connect (p, "save-failed", G_CALLBACK (count_failed), &failed);
      signal (SIGXFSZ, SIG_IGN);
      struct rlimit rl;
      g_assert_cmpint (getrlimit (RLIMIT_FSIZE, &rl), ==, 0);
      rlim_t hard = rl.rlim_max;
      rl.rlim_cur = 2048;
      g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &rl), ==, 0);

      BtItem *it = g_list_model_get_item (bt_project_get_items (p), 10);
      g_assert_true (bt_project_relabel (p, &it, 1, "moved", NULL));
      g_autoptr(GError) error = NULL;
      g_assert_false (bt_project_flush (p, &error));
      g_assert_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_IO);
      g_printerr ("%s\n", error->message);
      BT_TEST_WAIT (failed != 0);
      /* Old file intact, new state still in memory, no temp file left. */
      g_autofree char *after = NULL;
      g_assert_true (g_file_get_contents (csv, &after, NULL, NULL));
      g_assert_cmpstr (before, ==, after);
      g_assert_cmpstr (bt_item_get_class_name (it), ==, "moved");
      g_autoptr(GDir) d = g_dir_open (bt_project_get_dir (p), 0, NULL);
      const char *name;
      while ((name = g_dir_read_name (d)))
        g_assert_false (g_str_has_prefix (name, ".labels.csv."));
      /* Space again: the next flush writes the change. */
      struct rlimit big = { hard, hard };
      g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &big), ==, 0);
      g_clear_error (&error);
      g_assert_true (bt_project_flush (p, &error));
      g_clear_pointer (&after, g_free);
      g_assert_true (g_file_get_contents (csv, &after, NULL, NULL));
      g_assert_nonnull (strstr (after, ",moved,"));
      g_object_unref (it);
      g_clear_object (&p);
      bt_test_rm_rf (dir);
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stderr ("*Could not save*");
}

/* SIGKILL while the writer thread saves a stream of edits: the project always loads, with every
 * item in the class of one whole edit (all "x" or all "y"), never a torn file. */
static void
test_kill_during_save (void)
{
  g_autofree char *dir = NULL;
  g_autoptr(BtProject) p = make_project (400, &dir);
  g_autofree char *pdir = g_strdup (bt_project_get_dir (p));
  g_clear_object (&p);
  for (int round = 0; round < 4; round++)
    {
      int ack[2];
      g_assert_cmpint (pipe (ack), ==, 0);
      pid_t pid = fork ();
      g_assert_cmpint (pid, >=, 0);
      if (pid == 0)
        {
          close (ack[0]);
          BtProject *c = bt_project_open (pdir, NULL);
          if (c == NULL)
            _exit (3);
          GListModel *items = bt_project_get_items (c);
          guint n = g_list_model_get_n_items (items);
          BtItem **all = g_new (BtItem *, n);
          for (guint i = 0; i < n; i++)
            all[i] = g_list_model_get_item (items, i);
          /* edits without end; after every few, one is known to be on disk (flush) and the parent
           * hears of it, while the writer thread goes on saving the next ones */
          for (int i = 0;; i++)
            {
              bt_project_relabel (c, all, n, (i & 1) ? "x" : "y", NULL);
              if (i % 8 == 7 && bt_project_flush (c, NULL) && write (ack[1], "s", 1) != 1)
                _exit (4);
            }
          _exit (0);
        }
      close (ack[1]);
      /* a later round waits for more saves, so the kill lands at different points */
      for (int saves = 0; saves < 1 + 2 * round; saves++)
        {
          char b;
          g_assert_cmpint (read (ack[0], &b, 1), ==, 1);
        }
      kill (pid, SIGKILL);
      close (ack[0]);
      int st;
      waitpid (pid, &st, 0);
      g_assert_true (WIFSIGNALED (st));
      g_autoptr(GError) error = NULL;
      g_autoptr(BtProject) q = bt_project_open (pdir, &error);
      g_assert_no_error (error);
      GListModel *items = bt_project_get_items (q);
      g_assert_cmpuint (g_list_model_get_n_items (items), ==, 400);
      g_autoptr(BtItem) first = g_list_model_get_item (items, 0);
      const char *cls = bt_item_get_class_name (first);
      g_test_message ("round %d: all in “%s”", round, cls);
      /* at least one whole edit reached the disk before the kill */
      g_assert_true (g_str_equal (cls, "x") || g_str_equal (cls, "y"));
      for (guint i = 0; i < 400; i++)
        {
          g_autoptr(BtItem) it = g_list_model_get_item (items, i);
          g_assert_cmpstr (bt_item_get_class_name (it), ==, cls);
        }
    }
  bt_test_rm_rf (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  /* Forks first, while this process has no other threads. */
  g_test_add_func ("/dataset/save/kill-during-save", test_kill_during_save);
  g_test_add_func ("/dataset/save/quick-edits", test_quick_edits);
  g_test_add_func ("/dataset/save/finalize-writes", test_finalize_writes);
  g_test_add_func ("/dataset/save/disk-full", test_disk_full);
  return g_test_run ();
}
