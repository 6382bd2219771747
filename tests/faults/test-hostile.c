/* test-hostile.c: what a clumsy user or an attacker hands Bottega (issue #26 holes 5 and 6):
 * class folders named with a line break or a backslash, hidden files, an empty class, /dev/zero
 * or a FIFO as a model, leftovers of killed writes, and a `new --from` that failed or was killed. */
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <utime.h>
#include <glib/gstdio.h>

#include "dataset/bt-dataset.h"
#include "engine/bt-engine.h"
#include "training/bt-transfer.h"
#include "bt-test-fs.h"
#include "bt-test-images.h"
#include "bt-test-wait.h"

static char *cli_path;

static void
write_png (const char *dir, const char *name, guint seed)
{
  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  g_autofree guint8 *px = bt_test_pattern (8, 8, 3, seed);
  g_autoptr(GBytes) png = bt_test_encode_png (px, 8, 8, 3);
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_assert_true (bt_test_write_file (path, png));
}

static guint
count_reason (BtScanResult *r, BtSkipReason reason)
{
  guint n = 0;
  for (guint i = 0; i < r->skipped_reasons->len; i++)
    if (g_array_index (r->skipped_reasons, BtSkipReason, i) == reason)
      n++;
  return n;
}

static void
test_names_and_hidden (void)
{
  g_autofree char *root = g_dir_make_tmp ("bt-hostile-XXXXXX", NULL);
  g_autofree char *ok = g_build_filename (root, "ok", NULL);
  g_autofree char *nl = g_build_filename (root, "line\nbreak", NULL);
  g_autofree char *bs = g_build_filename (root, "back\\slash", NULL);
  g_autofree char *tab = g_build_filename (root, "tab\there", NULL);
  g_autofree char *hidden = g_build_filename (root, ".hidden", NULL);
  write_png (ok, "a.png", 1);
  write_png (ok, "b.png", 2);
  write_png (ok, ".c.png", 3);
  write_png (nl, "d.png", 4);
  write_png (bs, "e.png", 5);
  write_png (tab, "f.png", 6);
  write_png (hidden, "g.png", 7);

  const char *paths[] = { root, NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(BtScanResult) r = bt_scan_paths (paths, BT_SCAN_FOLDER_OF_CLASSES, NULL, TRUE, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (r->class_names->len, ==, 1);
  g_assert_cmpstr (r->class_names->pdata[0], ==, "ok");
  g_assert_cmpuint (r->paths->len, ==, 2);
  g_assert_cmpuint (count_reason (r, BT_SKIP_BAD_NAME), ==, 3);
  g_assert_cmpuint (count_reason (r, BT_SKIP_HIDDEN), ==, 2);
  for (guint i = 0; i < r->skipped_paths->len; i++)
    if (g_array_index (r->skipped_reasons, BtSkipReason, i) == BT_SKIP_HIDDEN)
      {
        g_autofree char *base = g_path_get_basename (r->skipped_paths->pdata[i]);
        g_assert_true (g_str_equal (base, ".hidden") || g_str_equal (base, ".c.png"));
      }
  g_assert_nonnull (strstr (bt_skip_reason_to_string (BT_SKIP_BAD_NAME), "control characters"));

  /* a single folder dropped as one class is checked the same way */
  const char *one[] = { nl, NULL };
  g_autoptr(BtScanResult) r1 = bt_scan_paths (one, BT_SCAN_FOLDER_AS_CLASS, NULL, TRUE, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (r1->paths->len, ==, 0);
  g_assert_cmpuint (count_reason (r1, BT_SKIP_BAD_NAME), ==, 1);

  /* and the project refuses control characters from every other door (rename, add, CSV) */
  g_autofree char *pdir = g_build_filename (root, "project", NULL);
  g_autoptr(BtProject) p = bt_project_create (pdir, "p", &error);
  g_assert_no_error (error);
  g_assert_false (bt_project_add_class (p, "a\nb", &error));
  g_assert_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_true (bt_project_add_class (p, "A/B tests", &error));  /* exports escape "/" */
  g_assert_true (bt_project_add_class (p, "dogs", &error));
  g_assert_false (bt_project_rename_class (p, "dogs", "do\x1bgs", &error));
  g_clear_error (&error);
  g_clear_object (&p);
  bt_test_rm_rf (root);
}

/* An empty class used to train and report "100.0 %"; now it is named and refused. */
static void
test_empty_class (void)
{
  g_autofree char *root = g_dir_make_tmp ("bt-empty-XXXXXX", NULL);
  g_autofree char *pdir = g_build_filename (root, "project", NULL);
  g_autofree char *imgs = g_build_filename (root, "imgs", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(BtProject) p = bt_project_create (pdir, "p", &error);
  g_assert_no_error (error);
  write_png (imgs, "a.png", 1);
  write_png (imgs, "b.png", 2);
  g_autofree char *a = g_build_filename (imgs, "a.png", NULL);
  g_autofree char *b = g_build_filename (imgs, "b.png", NULL);
  const char *pa[] = { a, NULL }, *pb[] = { b, NULL };
  g_assert_true (bt_project_add_items (p, "cats", pa, NULL, &error));
  g_assert_true (bt_project_add_class (p, "dogs", &error));
  g_assert_false (bt_project_check_trainable (p, &error));
  g_assert_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "“dogs”"));
  g_assert_null (strstr (error->message, "“cats”"));
  g_clear_error (&error);
  g_assert_true (bt_project_add_items (p, "dogs", pb, NULL, &error));
  g_assert_true (bt_project_check_trainable (p, &error));
  g_assert_no_error (error);
  /* excluded images do not count */
  BtItem *it = bt_project_find_item (p, b);
  g_assert_nonnull (it);
  g_assert_true (bt_project_set_excluded (p, &it, 1, TRUE, &error));
  g_assert_false (bt_project_check_trainable (p, &error));
  g_clear_error (&error);
  g_assert_true (bt_project_flush (p, &error));
  g_clear_object (&p);

  /* the CLI says so before any run folder is made */
  g_autofree char *out = NULL, *err = NULL;
  int status = 0;
  const char *argv[] = { cli_path, "train", pdir, "--epochs", "1", NULL };
  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &status, &error));
  g_test_message ("%s%s", out, err);
  g_assert_true (WIFEXITED (status));
  g_assert_cmpint (WEXITSTATUS (status), ==, 1);
  g_assert_nonnull (strstr (err, "dogs"));
  g_assert_null (strstr (out, "100.0"));
  bt_test_rm_rf (root);
}

/* /dev/zero grew the process to gigabytes; a FIFO hung it. Both are refused at once. */
static void
test_model_not_regular (void)
{
  g_autofree char *root = g_dir_make_tmp ("bt-fifo-XXXXXX", NULL);
  g_autofree char *fifo = g_build_filename (root, "model.bottega-model", NULL);
  g_assert_cmpint (mkfifo (fifo, 0600), ==, 0);
  const char *bad[] = { "/dev/zero", fifo, root };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;
      gint64 t0 = g_get_monotonic_time ();
      g_autoptr(BtModel) m = bt_model_load (bad[i], &error);
      g_assert_null (m);
      g_assert_nonnull (error);
      g_test_message ("%s", error->message);
      g_assert_nonnull (strstr (error->message, "not a regular file"));
      g_clear_error (&error);
      g_assert_null (bt_backbone_load_path (bad[i], &error));
      g_assert_nonnull (strstr (error->message, "not a regular file"));
      g_clear_error (&error);
      g_assert_cmpint (g_get_monotonic_time () - t0, <, 5 * G_USEC_PER_SEC);
    }
  /* and the CLI: `info FIFO` exits 1 with the reason instead of hanging (killed after 20 s) */
  g_autofree char *out = NULL, *err = NULL;
  int status = 0;
  g_autoptr(GError) error = NULL;
  const char *argv[] = { "timeout", "-s", "KILL", "20", cli_path, "info", fifo, NULL };
  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err, &status, &error));
  g_assert_true (WIFEXITED (status));
  g_assert_cmpint (WEXITSTATUS (status), ==, 1);
  g_assert_nonnull (strstr (err, "not a regular file"));
  bt_test_rm_rf (root);
}

static void
touch_file (const char *path, gint64 age_s)
{
  g_autofree char *dir = g_path_get_dirname (path);
  g_mkdir_with_parents (dir, 0755);
  g_assert_true (g_file_set_contents (path, "x", 1, NULL));
  struct utimbuf t;
  t.actime = t.modtime = (time_t) (g_get_real_time () / G_USEC_PER_SEC - age_s);
  g_assert_cmpint (utime (path, &t), ==, 0);
}

static void
touch_dir (const char *base, const char *rel, gint64 age_s)
{
  g_autofree char *path = g_build_filename (base, rel, NULL);
  struct utimbuf t;
  t.actime = t.modtime = (time_t) (g_get_real_time () / G_USEC_PER_SEC - age_s);
  g_assert_cmpint (utime (path, &t), ==, 0);
}

/* Hole 6: temp files and config-only run folders of killed processes go when a project opens;
 * what may belong to a live writer (recent) and every other file stay. */
/* Whether another process holds the project's run lock. */
static gboolean
run_lock_held (const char *pdir)
{
  int fd = bt_run_lock_try (pdir, BT_RUN_LOCK_TRAIN, NULL);
  if (fd >= 0)
    bt_run_lock_release (fd);
  return fd < 0;
}

/* Whether a thread of this process is named name (GLib names its threads; Linux shows them). */
static gboolean
thread_alive (const char *name)
{
  g_autoptr(GDir) d = g_dir_open ("/proc/self/task", 0, NULL);
  g_assert_nonnull (d);
  const char *tid;
  while ((tid = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = g_build_filename ("/proc/self/task", tid, "comm", NULL);
      g_autofree char *comm = NULL;
      if (g_file_get_contents (path, &comm, NULL, NULL) && g_str_equal (g_strchomp (comm), name))
        return TRUE;
    }
  return FALSE;
}

static void
test_tidy_on_open (void)
{
  g_autofree char *root = g_dir_make_tmp ("bt-tidy-XXXXXX", NULL);
  g_autofree char *pdir = g_build_filename (root, "project", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(BtProject) p = bt_project_create (pdir, "p", &error);
  g_assert_no_error (error);
  g_assert_true (bt_project_flush (p, &error));
  g_clear_object (&p);

  /* gone: removed while another process trains (holds the run lock); gone_free: removed once
   * no trainer holds it (then nothing in runs/ is being written and no age is waited for) */
  struct { const char *rel; gint64 age; gboolean gone, gone_free; } files[] = {
    { "runs/20260101-1/checkpoint-0016.state.Ab3dEf", 3600, FALSE, TRUE },
    { "runs/20260101-1/checkpoint-0015.state", 3600, FALSE, FALSE },
    { "runs/20260101-1/metrics.csv", 3600, FALSE, FALSE },
    { "runs/20260101-1/config.ini", 3600, FALSE, FALSE },
    { "runs/20260101-2/config.ini", 48 * 3600, FALSE, TRUE },     /* killed before epoch 1 ended */
    { "runs/20260101-3/config.ini", 60, FALSE, TRUE },            /* the same, a minute ago */
    { "runs/20260101-3/checkpoint-0001.state.x1Y2z3", 10, FALSE, TRUE },
    { ".labels.csv.Q1w2E3", 3600, TRUE, TRUE },
    { "project.ini.Zz9Yy8", 3600, TRUE, TRUE },
    { "models/20260101-1.bottega-model.aB1cD2", 3600, TRUE, TRUE },
    { "models/20260101-1.bottega-model", 3600, FALSE, FALSE },
    { "models/holiday.jpg.ABCDEF", 3600, FALSE, FALSE },             /* not ours */
    { "notes.txt", 3600, FALSE, FALSE },
    { "notes.csv.backup", 3600, FALSE, FALSE },                      /* a user's, though it looks like one */
    { "runs/20260101-1/.metrics.csv.Zx81Qp", 3600, FALSE, TRUE },
    /* a search writes its tune-* folder under the run lock too: a killed one's fresh temp file
     * goes at once, and so does a folder it made before its search.ini */
    { "runs/tune-20260101-1/search.ini", 10, FALSE, FALSE },
    { "runs/tune-20260101-1/trials.csv.Ab12Cd", 10, FALSE, TRUE },
    { "runs/tune-20260101-2/.search.ini.Xy12Zw", 10, FALSE, TRUE },
  };
  for (guint i = 0; i < G_N_ELEMENTS (files); i++)
    {
      g_autofree char *path = g_build_filename (pdir, files[i].rel, NULL);
      touch_file (path, files[i].age);
    }
  /* the run folders' own times (a folder's time changes when a file is added) */
  touch_dir (pdir, "runs/20260101-1", 3600);
  touch_dir (pdir, "runs/20260101-2", 48 * 3600);
  touch_dir (pdir, "runs/20260101-3", 60);
  touch_dir (pdir, "runs/tune-20260101-2", 10);
  /* a run starting right now: its folder made, its config.ini not yet written */
  g_autofree char *starting = g_build_filename (pdir, "runs/20260101-4", NULL);
  g_assert_cmpint (g_mkdir (starting, 0755), ==, 0);

  /* another process holds the run lock (flock(2) and its line, as a trainer holds it): runs/ is
   * left alone, however old its leftovers look */
  g_autofree char *lock = g_build_filename (pdir, "runs", ".lock", NULL);
  const char *holder_argv[] = { "/usr/bin/python3", "-c",
                                "import fcntl, os, sys, time\n"
                                "f = open(sys.argv[1], 'a')\n"
                                "fcntl.flock(f, fcntl.LOCK_EX)\n"
                                "f.truncate(0)\n"
                                "f.write('%d train python3\\n' % os.getpid())\n"
                                "f.flush()\n"
                                "time.sleep(60)\n", lock, NULL };
  GPid holder = 0;
  g_assert_true (g_spawn_async (NULL, (char **) holder_argv, NULL,
                                G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL,
                                NULL, NULL, &holder, &error));
  g_assert_no_error (error);
  BT_TEST_WAIT (run_lock_held (pdir));
  for (int pass = 0; pass < 2; pass++)
    {
      /* opening cleans on a thread of its own: once one removal shows it has started, until it
       * has ended */
      p = bt_project_open (pdir, &error);
      g_assert_no_error (error);
      g_autofree char *one = g_build_filename (pdir, pass == 0 ? "project.ini.Zz9Yy8" : "runs/20260101-2", NULL);
      BT_TEST_WAIT (!g_file_test (one, G_FILE_TEST_EXISTS));
      BT_TEST_WAIT (!thread_alive ("bt-tidy"));
      for (guint i = 0; i < G_N_ELEMENTS (files); i++)
        {
          g_autofree char *path = g_build_filename (pdir, files[i].rel, NULL);
          gboolean gone = pass == 0 ? files[i].gone : files[i].gone_free;
          if (g_file_test (path, G_FILE_TEST_EXISTS) == gone)
            g_error ("%s, %s: expected %s", files[i].rel, pass == 0 ? "locked" : "free", gone ? "removed" : "kept");
        }
      g_assert_true (g_file_test (starting, G_FILE_TEST_IS_DIR) == (pass == 0));
      g_clear_object (&p);
      if (pass == 0)
        {
          /* the trainer is killed: its lock is free at once */
          kill (holder, SIGKILL);
          g_assert_cmpint (waitpid (holder, NULL, 0), ==, holder);
          g_spawn_close_pid (holder);
        }
    }
  bt_test_rm_rf (root);
}

static int
run_cli (char **out, char **err, const char *a1, const char *a2, const char *a3, const char *a4)
{
  const char *argv[] = { cli_path, a1, a2, a3, a4, NULL };
  int status = 0;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) envp = g_environ_setenv (g_get_environ (), "LC_ALL", "C.UTF-8", TRUE);
  g_assert_true (g_spawn_sync (NULL, (char **) argv, envp, G_SPAWN_DEFAULT, NULL, NULL, out, err, &status, &error));
  g_assert_no_error (error);
  g_assert_true (WIFEXITED (status));
  return WEXITSTATUS (status);
}

/* A failed `new --from` leaves nothing; one killed half-way can be redone with the same command. */
static void
test_new_from_redo (void)
{
  g_autofree char *root = g_dir_make_tmp ("bt-newfrom-XXXXXX", NULL);
  g_autofree char *src = g_build_filename (root, "src", NULL);
  g_autofree char *empty = g_build_filename (root, "empty", NULL);
  g_autofree char *pdir = g_build_filename (root, "project", NULL);
  g_autofree char *cats = g_build_filename (src, "cats", NULL);
  g_autofree char *dogs = g_build_filename (src, "dogs", NULL);
  write_png (cats, "1.png", 1);
  write_png (dogs, "2.png", 2);
  g_mkdir_with_parents (empty, 0755);

  g_autofree char *out = NULL, *err = NULL;
  g_assert_cmpint (run_cli (&out, &err, "new", pdir, "--from", empty), ==, 1);
  g_assert_false (g_file_test (pdir, G_FILE_TEST_EXISTS));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  /* what a kill -9 in the middle leaves: the mark, project.ini, a temp file of labels.csv */
  g_autofree char *ini = g_build_filename (pdir, "project.ini", NULL);
  g_autofree char *mark = g_build_filename (pdir, ".bottega-new-incomplete", NULL);
  g_autofree char *tmp = g_build_filename (pdir, ".labels.csv.AbCdEf", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(BtProject) p = bt_project_create (pdir, "p", &error);
  g_assert_no_error (error);
  g_assert_true (bt_project_flush (p, &error));
  g_clear_object (&p);
  touch_file (mark, 0);
  touch_file (tmp, 0);
  g_assert_cmpint (run_cli (&out, &err, "new", pdir, "--from", src), ==, 0);
  g_test_message ("%s%s", out, err);
  g_assert_false (g_file_test (mark, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (tmp, G_FILE_TEST_EXISTS));
  p = bt_project_open (pdir, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_list_model_get_n_items (bt_project_get_items (p)), ==, 2);
  g_clear_object (&p);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  /* a complete project is never overwritten */
  g_assert_cmpint (run_cli (&out, &err, "new", pdir, "--from", src), ==, 1);
  g_assert_nonnull (strstr (err, "already a project"));
  g_assert_true (g_file_test (ini, G_FILE_TEST_EXISTS));
  bt_test_rm_rf (root);
}

/* "23 images could not be read" named none of them: the cache now lists each one, and its
 * report names every path with its reason (the trainer posts it; see the hook in the report). */
static void
test_unreadable_named (void)
{
  g_autofree char *root = g_dir_make_tmp ("bt-unreadable-XXXXXX", NULL);
  write_png (root, "good-1.png", 1);
  write_png (root, "good-2.png", 2);
  g_autofree char *bad1 = g_build_filename (root, "swapped bytes.png", NULL);
  g_autofree char *bad2 = g_build_filename (root, "not-an-image.jpg", NULL);
  g_autofree char *good1 = g_build_filename (root, "good-1.png", NULL);
  g_autofree char *good2 = g_build_filename (root, "good-2.png", NULL);
  g_autofree char *png = NULL;
  gsize len = 0;
  g_assert_true (g_file_get_contents (good1, &png, &len, NULL));
  for (gsize i = 40; i + 1 < len; i += 2)
    {
      char t = png[i];
      png[i] = png[i + 1];
      png[i + 1] = t;
    }
  g_assert_true (g_file_set_contents (bad1, png, (gssize) len, NULL));
  g_assert_true (g_file_set_contents (bad2, "hello", 5, NULL));
  const char *paths[] = { good1, bad1, NULL, good2, bad2 };
  g_autoptr(GError) error = NULL;
  g_autoptr(BtCache) c = bt_cache_build_paths (paths, 5, 8, 8, 3, BT_DS_RESIZE_SQUASH, NULL, 1,
                                               NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (bt_cache_get_n_failed (c), ==, 2);
  guint idx;
  BtSkipReason why;
  g_assert_cmpstr (bt_cache_get_failed (c, 0, &idx, &why), ==, bad1);
  g_assert_cmpuint (idx, ==, 1);
  g_assert_cmpstr (bt_cache_get_failed (c, 1, &idx, &why), ==, bad2);
  g_assert_cmpuint (idx, ==, 4);
  g_autofree char *report = bt_cache_dup_failure_report (c);
  g_test_message ("%s", report);
  g_assert_nonnull (strstr (report, "2 images"));
  g_assert_nonnull (strstr (report, "swapped bytes.png"));
  g_assert_nonnull (strstr (report, "not-an-image.jpg"));
  g_assert_null (strstr (report, "good-"));
  bt_test_rm_rf (root);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  cli_path = g_build_filename (g_getenv ("BOTTEGA_BUILD_ROOT"), "src", "cli", "bottega-cli", NULL);
  g_test_add_func ("/faults/hostile/names-and-hidden", test_names_and_hidden);
  g_test_add_func ("/faults/hostile/empty-class", test_empty_class);
  g_test_add_func ("/faults/hostile/model-not-regular", test_model_not_regular);
  g_test_add_func ("/faults/hostile/tidy-on-open", test_tidy_on_open);
  g_test_add_func ("/faults/hostile/new-from-redo", test_new_from_redo);
  g_test_add_func ("/faults/hostile/unreadable-named", test_unreadable_named);
  return g_test_run ();
}
