/* test-scan.c: importing folders: a hostile folder (every skip with the right reason, nothing
 * blocks), folder-of-classes layout, duplicates and label conflicts, cancellation, streaming;
 * the plan-only walk, the table of formats, and BtThrottle's coalescing. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <glib/gstdio.h>

#include "dataset/bt-dataset-private.h"
#include "bt-test-images.h"
#include "bt-test-fs.h"
#include "bt-test-wait.h"

static char *
put (const char *dir, const char *name, GBytes *bytes)
{
  char *p = g_build_filename (dir, name, NULL);
  g_assert_true (bt_test_write_file (p, bytes));
  return p;
}

static GBytes *
png_of (guint seed, int w)
{
  g_autofree guint8 *pat = bt_test_pattern (w, w, 3, seed);
  return bt_test_encode_png (pat, w, w, 3);
}

static int
find_skip (BtScanResult *r, const char *path)
{
  for (guint i = 0; i < r->skipped_paths->len; i++)
    if (g_str_equal (r->skipped_paths->pdata[i], path))
      return (int) g_array_index (r->skipped_reasons, BtSkipReason, i);
  return -1;
}

static gboolean
has_path (BtScanResult *r, const char *path)
{
  for (guint i = 0; i < r->paths->len; i++)
    if (g_str_equal (r->paths->pdata[i], path))
      return TRUE;
  return FALSE;
}

static void
test_hostile_folder (void)
{
  g_autofree char *dir = g_dir_make_tmp ("bt-hostile-XXXXXX", NULL);
  g_autoptr(GBytes) good = png_of (1, 12);
  g_autofree guint8 *pat = bt_test_pattern (32, 24, 3, 5);
  g_autoptr(GBytes) png = bt_test_encode_png (pat, 32, 24, 3);
  g_autoptr(GBytes) jpg = bt_test_encode_jpeg (pat, 32, 24, 3, 90);
  g_autoptr(GBytes) empty = g_bytes_new (NULL, 0);
  g_autoptr(GBytes) text = g_bytes_new_static ("just some text\n", 15);
  g_autoptr(GBytes) tpng = g_bytes_new_from_bytes (png, 0, g_bytes_get_size (png) / 2);
  g_autoptr(GBytes) tjpg = g_bytes_new_from_bytes (jpg, 0, g_bytes_get_size (jpg) / 2);
  g_autoptr(GBytes) huge = bt_test_png_header_only (100000, 100000);
  g_autoptr(GBytes) pnm16 = g_bytes_new_static ("P5\n2 2\n65535\n\0\1\0\2\0\3\0\4", 21);
  guint8 pic[128] = { 0x53, 0x80, 0xf6, 0x34 };
  memcpy (pic + 88, "PICT", 4);
  g_autoptr(GBytes) picb = g_bytes_new (pic, sizeof pic);
  guint8 psd[64] = { '8', 'B', 'P', 'S', 0, 1 };
  g_autoptr(GBytes) psdb = g_bytes_new (psd, sizeof psd);

  g_autofree char *p_good = put (dir, "good.png", good);
  g_autofree char *p_dup = put (dir, "zz-copy-of-good.png", good);
  g_autofree char *p_latin1 = put (dir, "caf\xe9-non-utf8.png", png);
  g_autofree char *p_empty = put (dir, "empty.png", empty);
  g_autofree char *p_text = put (dir, "text.png", text);
  g_autofree char *p_tpng = put (dir, "truncated.png", tpng);
  g_autofree char *p_tjpg = put (dir, "truncated.jpg", tjpg);
  g_autofree char *p_huge = put (dir, "huge.png", huge);
  g_autofree char *p_pnm = put (dir, "deep.pgm", pnm16);
  g_autofree char *p_pic = put (dir, "image.pic", picb);
  g_autofree char *p_psd = put (dir, "layers.psd", psdb);
  g_autofree char *p_loop = g_build_filename (dir, "loop.png", NULL);
  g_assert_cmpint (symlink ("loop.png", p_loop), ==, 0);
  g_autofree char *p_dangling = g_build_filename (dir, "dangling.png", NULL);
  g_assert_cmpint (symlink ("does-not-exist.png", p_dangling), ==, 0);
  g_autofree char *p_fifo = g_build_filename (dir, "fifo.png", NULL);
  g_assert_cmpint (mkfifo (p_fifo, 0644), ==, 0);
  g_autofree char *sub = g_build_filename (dir, "sub", NULL);
  g_mkdir (sub, 0755);
  g_autofree char *p_up = g_build_filename (sub, "up", NULL);
  g_assert_cmpint (symlink ("..", p_up), ==, 0);  /* directory loop */
  g_autofree char *p_inner = put (sub, "inner.png", empty);

  const char *roots[] = { dir, NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(BtScanResult) r = bt_scan_paths (roots, BT_SCAN_FOLDER_AS_CLASS, NULL, TRUE, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < r->skipped_paths->len; i++)
    {
      g_autofree char *d = g_filename_display_name (r->skipped_paths->pdata[i]);
      g_test_message ("skipped %s: %s", d, bt_skip_reason_to_string (g_array_index (r->skipped_reasons, BtSkipReason, i)));
    }
  g_assert_cmpuint (r->class_names->len, ==, 1);
  g_assert_cmpuint (r->paths->len, ==, 2);
  g_assert_true (has_path (r, p_good));
  g_assert_true (has_path (r, p_latin1));  /* a valid image under a non-UTF-8 name is kept */
  g_assert_cmpint (find_skip (r, p_dup), ==, BT_SKIP_DUPLICATE);
  g_assert_cmpint (find_skip (r, p_empty), ==, BT_SKIP_NOT_IMAGE);
  g_assert_cmpint (find_skip (r, p_text), ==, BT_SKIP_NOT_IMAGE);
  g_assert_cmpint (find_skip (r, p_tpng), ==, BT_SKIP_CORRUPT);
  g_assert_cmpint (find_skip (r, p_tjpg), ==, BT_SKIP_CORRUPT);
  g_assert_cmpint (find_skip (r, p_huge), ==, BT_SKIP_TOO_LARGE);
  g_assert_cmpint (find_skip (r, p_pnm), ==, BT_SKIP_UNSUPPORTED);
  g_assert_cmpint (find_skip (r, p_pic), ==, BT_SKIP_UNSUPPORTED);
  g_assert_cmpint (find_skip (r, p_psd), ==, BT_SKIP_UNSUPPORTED);
  g_assert_cmpint (find_skip (r, p_loop), ==, BT_SKIP_SPECIAL);
  g_assert_cmpint (find_skip (r, p_dangling), ==, BT_SKIP_UNREADABLE);
  g_assert_cmpint (find_skip (r, p_fifo), ==, BT_SKIP_SPECIAL);
  g_assert_cmpint (find_skip (r, p_up), ==, BT_SKIP_SPECIAL);
  g_assert_cmpint (find_skip (r, p_inner), ==, BT_SKIP_NOT_IMAGE);
  /* the duplicate names what it duplicates */
  for (guint i = 0; i < r->skipped_paths->len; i++)
    if (g_str_equal (r->skipped_paths->pdata[i], p_dup))
      g_assert_cmpstr (r->duplicate_of->pdata[i], ==, p_good);
  g_assert_cmpuint (r->n_label_conflicts, ==, 0);
  g_assert_cmpuint (r->paths->len + r->skipped_paths->len, ==, 16);

  /* Applying to a project: the non-UTF-8 path survives a save and reload byte for byte. */
  g_autofree char *pdir = g_build_filename (dir, "project", NULL);
  g_autoptr(BtProject) p = bt_project_create (pdir, "hostile", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (bt_project_apply_scan (p, r, &error), ==, 2);
  g_clear_object (&p);
  p = bt_project_open (pdir, &error);
  g_assert_no_error (error);
  BtItem *it = bt_project_find_item (p, p_latin1);
  g_assert_nonnull (it);
  g_assert_cmpstr (bt_item_get_path (it), ==, p_latin1);
  g_assert_false (bt_item_get_missing (it));
  g_assert_true (g_utf8_validate (bt_item_get_display_name (it), -1, NULL));
  g_assert_true (bt_project_flush (p, NULL));
  bt_test_rm_rf (dir);
}

static const char *self_exe;

/* Tests run as root, where permission bits do not stop reads: the check runs in a child
 * process (this program again, in BT_UNREADABLE_CHILD mode) that drops to "nobody" first. */
static int
unreadable_child (const char *dir)
{
  if (getuid () == 0 && (setgid (65534) != 0 || setuid (65534) != 0))
    return 77;
  const char *roots[] = { dir, NULL };
  g_autoptr(BtScanResult) r = bt_scan_paths (roots, BT_SCAN_FOLDER_AS_CLASS, NULL, FALSE, NULL, NULL, NULL, NULL);
  g_autofree char *locked = g_build_filename (dir, "locked.png", NULL);
  g_autofree char *fine = g_build_filename (dir, "fine.png", NULL);
  if (r == NULL || find_skip (r, locked) != BT_SKIP_UNREADABLE || !has_path (r, fine))
    return 1;
  return 0;
}

static void
test_unreadable (void)
{
  g_autofree char *dir = g_dir_make_tmp ("bt-unreadable-XXXXXX", NULL);
  g_chmod (dir, 0755);
  g_autoptr(GBytes) a = png_of (3, 10);
  g_autoptr(GBytes) b = png_of (4, 10);
  g_autofree char *locked = put (dir, "locked.png", a);
  g_autofree char *fine = put (dir, "fine.png", b);
  g_chmod (locked, 0000);
  g_chmod (fine, 0644);
  const char *argv[] = { self_exe, NULL };
  g_auto(GStrv) envp = g_environ_setenv (g_get_environ (), "BT_UNREADABLE_CHILD", dir, TRUE);
  /* the child, as "nobody", runs a copy of the decoder helper outside the build tree, which may
   * sit in a folder only root can enter (a checkout made in `mktemp -d`, mode 0700) */
  g_autofree char *helper_dir = g_dir_make_tmp ("bt-helper-XXXXXX", NULL);
  g_autofree char *helper = g_build_filename (helper_dir, "bottega-decoder", NULL);
  if (g_getenv ("BOTTEGA_DECODER") != NULL)
    {
      g_autofree char *bytes = NULL;
      gsize len;
      g_assert_true (g_file_get_contents (g_getenv ("BOTTEGA_DECODER"), &bytes, &len, NULL));
      g_assert_true (g_file_set_contents (helper, bytes, len, NULL));
      g_chmod (helper_dir, 0755);
      g_chmod (helper, 0755);
      envp = g_environ_setenv (envp, "BOTTEGA_DECODER", helper, TRUE);
    }
  int status = 0;
  g_autoptr(GError) error = NULL;
  g_assert_true (g_spawn_sync (NULL, (char **) argv, envp, G_SPAWN_DEFAULT, NULL, NULL, NULL, NULL, &status, &error));
  g_assert_no_error (error);
  if (WIFEXITED (status) && WEXITSTATUS (status) == 77)
    g_test_skip ("running as root without permission to switch to an unprivileged user, so no file can be made unreadable");
  else
    {
      g_assert_true (WIFEXITED (status));
      g_assert_cmpint (WEXITSTATUS (status), ==, 0);
    }
  bt_test_rm_rf (dir);
  bt_test_rm_rf (helper_dir);
}

static void
test_folder_of_classes (void)
{
  g_autofree char *dir = g_dir_make_tmp ("bt-classes-XXXXXX", NULL);
  g_autofree char *ca = g_build_filename (dir, "cats", NULL);
  g_autofree char *cb = g_build_filename (dir, "dogs", NULL);
  g_autofree char *deep = g_build_filename (cb, "deeper", NULL);
  g_mkdir (ca, 0755);
  g_mkdir_with_parents (deep, 0755);
  g_autoptr(GBytes) x = png_of (10, 9);
  g_autoptr(GBytes) y = png_of (11, 9);
  g_autoptr(GBytes) z = png_of (12, 9);
  g_autofree char *p1 = put (ca, "1.png", x);
  g_autofree char *p2 = put (ca, "2.png", y);
  g_autofree char *p3 = put (cb, "3.png", x);   /* same content as a cat: label conflict */
  g_autofree char *p4 = put (deep, "4.png", z);
  g_autofree char *stray = put (dir, "stray.png", z);
  const char *roots[] = { dir, NULL };
  g_autoptr(BtScanResult) flat = bt_scan_paths (roots, BT_SCAN_FOLDER_OF_CLASSES, NULL, FALSE, NULL, NULL, NULL, NULL);
  g_assert_cmpuint (flat->class_names->len, ==, 2);
  g_assert_cmpstr (flat->class_names->pdata[0], ==, "cats");
  g_assert_cmpuint (flat->paths->len, ==, 2);
  g_assert_false (has_path (flat, p4));
  g_assert_cmpint (find_skip (flat, p3), ==, BT_SKIP_DUPLICATE);
  g_assert_cmpint (find_skip (flat, stray), ==, BT_SKIP_NO_CLASS);
  g_assert_cmpuint (flat->n_label_conflicts, ==, 1);
  g_autoptr(BtScanResult) rec = bt_scan_paths (roots, BT_SCAN_FOLDER_OF_CLASSES, NULL, TRUE, NULL, NULL, NULL, NULL);
  g_assert_true (has_path (rec, p4));
  g_assert_cmpuint (g_array_index (rec->class_index, guint, rec->paths->len - 1), ==, 1);

  /* Conflicts against what the project already holds. */
  g_autofree char *pdir = g_build_filename (dir, "proj", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(BtProject) p = bt_project_create (pdir, "c", &error);
  g_assert_cmpuint (bt_project_apply_scan (p, rec, &error), ==, 3);
  g_assert_no_error (error);
  g_autofree char *again = g_build_filename (dir, "again", NULL);
  g_mkdir (again, 0755);
  g_autofree char *p5 = put (again, "5.png", y);  /* a cat's content, now offered as "again" */
  const char *roots2[] = { again, NULL };
  g_autoptr(BtScanResult) r2 = bt_scan_paths (roots2, BT_SCAN_FOLDER_AS_CLASS, NULL, FALSE, NULL, NULL, NULL, NULL);
  g_assert_cmpuint (r2->paths->len, ==, 1);
  g_assert_cmpuint (bt_project_apply_scan (p, r2, &error), ==, 0);
  g_assert_cmpint (find_skip (r2, p5), ==, BT_SKIP_DUPLICATE);
  g_assert_cmpuint (r2->n_label_conflicts, ==, 1);
  /* Re-importing the same folder adds nothing. */
  g_autoptr(BtScanResult) r3 = bt_scan_paths (roots, BT_SCAN_FOLDER_OF_CLASSES, NULL, TRUE, NULL, NULL, NULL, NULL);
  g_assert_cmpuint (bt_project_apply_scan (p, r3, &error), ==, 0);
  g_assert_cmpuint (g_list_model_get_n_items (bt_project_get_items (p)), ==, 3);
  g_assert_true (bt_project_flush (p, NULL));
  bt_test_rm_rf (dir);
}

static void
cancel_on_progress (guint seen, guint ok, guint skipped, gpointer data)
{
  g_cancellable_cancel (data);
}

static void
test_cancel (void)
{
  g_autofree char *dir = g_dir_make_tmp ("bt-cancel-XXXXXX", NULL);
  for (int i = 0; i < 300; i++)
    {
      g_autoptr(GBytes) b = png_of (i, 8);
      g_autofree char *n = g_strdup_printf ("%03d.png", i);
      g_free (put (dir, n, b));
    }
  const char *roots[] = { dir, NULL };
  g_autoptr(GCancellable) c = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(BtScanResult) r = bt_scan_paths (roots, BT_SCAN_FOLDER_AS_CLASS, NULL, FALSE,
                                             cancel_on_progress, c, c, &error);
  g_assert_null (r);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  bt_test_rm_rf (dir);
}

typedef struct {
  GMainLoop    *loop;
  BtScanResult *result;
  guint         n_progress, n_chunked;
  guint         last_ok;
  GThread      *main_thread;
  gboolean      done, freed;
} AsyncState;

static void
async_progress (guint seen, guint ok, guint skipped, gpointer data)
{
  AsyncState *s = data;
  g_assert_true (g_thread_self () == s->main_thread);
  g_assert_false (s->done);   /* nothing after the callback */
  g_assert_cmpuint (ok, >=, s->last_ok);
  s->n_progress++;
  s->last_ok = ok;
}

static void
async_chunk (BtScanResult *chunk, gpointer data)
{
  AsyncState *s = data;
  g_assert_true (g_thread_self () == s->main_thread);
  s->n_chunked += chunk->paths->len;
  bt_scan_result_free (chunk);
}

static void
async_freed (gpointer data)
{
  AsyncState *s = data;
  s->freed = TRUE;
}

static void
async_done (GObject *src, GAsyncResult *res, gpointer data)
{
  AsyncState *s = data;
  g_autoptr(GError) error = NULL;
  s->result = bt_scan_paths_finish (res, &error);
  g_assert_no_error (error);
  s->done = TRUE;
  g_main_loop_quit (s->loop);
}

/* The streaming scan the project's import runs: chunks and progress on the caller's thread. */
static void
test_async (void)
{
  g_autofree char *dir = g_dir_make_tmp ("bt-async-XXXXXX", NULL);
  for (int i = 0; i < 200; i++)
    {
      g_autoptr(GBytes) b = png_of (1000 + i, 8);
      g_autofree char *n = g_strdup_printf ("%03d.png", i);
      g_free (put (dir, n, b));
    }
  const char *roots[] = { dir, NULL };
  AsyncState s = { g_main_loop_new (NULL, FALSE), NULL, 0, 0, 0, g_thread_self (), FALSE, FALSE };
  bt_scan_paths_stream_async (roots, BT_SCAN_FOLDER_AS_CLASS, NULL, FALSE, async_progress, async_chunk, &s,
                              async_freed, NULL, async_done, &s);
  g_main_loop_run (s.loop);
  g_assert_nonnull (s.result);
  g_assert_cmpuint (s.result->paths->len, ==, 200);
  g_assert_cmpuint (s.n_chunked, ==, 200);
  /* progress idles still pending run now, and do nothing */
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_cmpuint (s.n_progress, >, 0);
  /* user_data is freed once the scan's thread has let go of the job too */
  BT_TEST_WAIT (s.freed);
  bt_scan_result_free (s.result);
  g_main_loop_unref (s.loop);
  bt_test_rm_rf (dir);
}

/* ---- BtThrottle: many posts, at most one idle, the last value wins ---- */

typedef struct {
  guint n_calls;
  guint last;
  gboolean freed;
} ThrottleSeen;

static void
throttle_func (gconstpointer value, gpointer data)
{
  ThrottleSeen *seen = data;
  seen->n_calls++;
  seen->last = *(const guint *) value;
}

static void
throttle_freed (gpointer data)
{
  ((ThrottleSeen *) data)->freed = TRUE;
}

typedef struct {
  BtThrottle *throttle;
  guint       from, to;
} Poster;

static gpointer
post_many (gpointer data)
{
  Poster *p = data;
  for (guint v = p->from; v <= p->to; v++)
    bt_throttle_post (p->throttle, &v);
  return NULL;
}

static guint
count_sources (GMainContext *context)
{
  guint n = 0;
  while (g_main_context_iteration (context, FALSE))
    n++;
  return n;
}

static void
test_throttle (void)
{
  g_autoptr(GMainContext) context = g_main_context_new ();
  ThrottleSeen seen = { 0 };

  g_main_context_push_thread_default (context);
  BtThrottle *t = bt_throttle_new (sizeof (guint), G_PRIORITY_LOW, throttle_func, &seen, throttle_freed);
  g_main_context_pop_thread_default (context);

  /* 10,000 posts from a worker while the owner's loop does not run: one idle, last value */
  g_assert_false (bt_throttle_is_pending (t));
  Poster p = { t, 1, 10000 };
  g_thread_join (g_thread_new ("poster", post_many, &p));
  g_assert_true (bt_throttle_is_pending (t));
  g_assert_cmpuint (seen.n_calls, ==, 0);
  g_assert_cmpuint (count_sources (context), ==, 1);
  g_assert_cmpuint (seen.n_calls, ==, 1);
  g_assert_cmpuint (seen.last, ==, 10000);
  g_assert_false (bt_throttle_is_pending (t));

  /* two posters at once: still at most one delivery per idle, and it is the newest value */
  Poster a = { t, 20001, 30000 }, b = { t, 40001, 50000 };
  GThread *ta = g_thread_new ("a", post_many, &a), *tb = g_thread_new ("b", post_many, &b);
  g_thread_join (ta);
  g_thread_join (tb);
  g_assert_cmpuint (count_sources (context), ==, 1);
  g_assert_cmpuint (seen.n_calls, ==, 2);
  g_assert_true (seen.last == 30000 || seen.last == 50000);

  /* a post after the delivery schedules a new one */
  guint v = 7;
  bt_throttle_post (t, &v);
  g_assert_cmpuint (count_sources (context), ==, 1);
  g_assert_cmpuint (seen.last, ==, 7);

  /* closed: a pending idle delivers nothing, later posts schedule nothing */
  v = 8;
  bt_throttle_post (t, &v);
  bt_throttle_close (t);
  v = 9;
  bt_throttle_post (t, &v);
  g_assert_cmpuint (count_sources (context), ==, 1);
  g_assert_cmpuint (seen.n_calls, ==, 3);
  g_assert_cmpuint (seen.last, ==, 7);

  /* the pending idle keeps the throttle (and its data) alive until it ran */
  BtThrottle *u = bt_throttle_new (sizeof (guint), G_PRIORITY_DEFAULT, throttle_func, &seen, NULL);
  bt_throttle_post (u, &v);   /* the default context: nothing iterates it yet */
  bt_throttle_unref (u);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_cmpuint (seen.last, ==, 9);

  g_assert_false (seen.freed);
  bt_throttle_unref (t);
  g_assert_true (seen.freed);
}

/* The plan-only walk: what a scan would take, by names, without opening a file. */
static void
test_plan (void)
{
  g_autofree char *dir = g_dir_make_tmp ("bt-plan-XXXXXX", NULL);
  g_autoptr(GBytes) good = png_of (21, 10);
  g_autoptr(GBytes) text = g_bytes_new_static ("just some text\n", 15);
  g_autofree char *p_good = put (dir, "a-good.png", good);
  g_autofree char *p_text = put (dir, "b-text.png", text);      /* a scan refuses it: not an image */
  g_autoptr(GBytes) other = png_of (22, 10);
  g_autofree char *p_notes = put (dir, "c-notes.txt", other);   /* a scan takes it: a PNG inside */
  g_autofree char *p_webp = put (dir, "d-photo.WEBP", text);
  g_autofree char *p_hidden = put (dir, ".hidden.png", good);
  g_autofree char *p_fifo = g_build_filename (dir, "e-fifo.png", NULL);
  g_assert_cmpint (mkfifo (p_fifo, 0644), ==, 0);
  g_autofree char *p_loop = g_build_filename (dir, "f-loop.png", NULL);
  g_assert_cmpint (symlink ("f-loop.png", p_loop), ==, 0);
  g_autofree char *p_dangling = g_build_filename (dir, "g-dangling.png", NULL);
  g_assert_cmpint (symlink ("does-not-exist.png", p_dangling), ==, 0);
  g_autofree char *sub = g_build_filename (dir, "sub", NULL);
  g_mkdir (sub, 0755);
  g_autofree char *p_up = g_build_filename (sub, "up", NULL);
  g_assert_cmpint (symlink ("..", p_up), ==, 0);
  g_autofree char *p_inner = put (sub, "inner.Jpeg", text);
  const char *roots[] = { dir, NULL };
  g_autoptr(GError) error = NULL;

  g_autoptr(BtScanResult) plan = bt_scan_plan (roots, BT_SCAN_FOLDER_AS_CLASS, NULL, TRUE, 0, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (plan->class_names->len, ==, 1);
  /* in walk order: sorted names, a sub-folder where its name sorts */
  g_assert_cmpuint (plan->paths->len, ==, 4);
  g_assert_cmpstr (plan->paths->pdata[0], ==, p_good);
  g_assert_cmpstr (plan->paths->pdata[1], ==, p_text);
  g_assert_cmpstr (plan->paths->pdata[2], ==, p_webp);
  g_assert_cmpstr (plan->paths->pdata[3], ==, p_inner);
  for (guint i = 0; i < plan->paths->len; i++)
    {
      g_assert_cmpuint (g_array_index (plan->class_index, guint, i), ==, 0);
      g_assert_cmpuint (g_array_index (plan->hashes, guint64, i), ==, 0);   /* nothing was read */
      g_assert_cmpint (g_array_index (plan->widths, int, i), ==, 0);
    }
  g_assert_cmpint (find_skip (plan, p_notes), ==, BT_SKIP_NOT_IMAGE);
  g_assert_cmpint (find_skip (plan, p_fifo), ==, BT_SKIP_SPECIAL);
  g_assert_cmpint (find_skip (plan, p_loop), ==, BT_SKIP_SPECIAL);
  g_assert_cmpint (find_skip (plan, p_dangling), ==, BT_SKIP_UNREADABLE);
  g_assert_cmpint (find_skip (plan, p_up), ==, BT_SKIP_SPECIAL);
  g_assert_cmpint (find_skip (plan, p_hidden), ==, BT_SKIP_HIDDEN);  /* left out, and said so (#26) */
  g_assert_cmpuint (plan->skipped_paths->len, ==, 6);

  /* The scan walks the same way and then looks inside: same walk skips, content decides. */
  g_autoptr(BtScanResult) scan = bt_scan_paths (roots, BT_SCAN_FOLDER_AS_CLASS, NULL, TRUE, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (has_path (scan, p_good));
  g_assert_true (has_path (scan, p_notes));
  g_assert_cmpint (find_skip (scan, p_text), ==, BT_SKIP_NOT_IMAGE);
  for (guint i = 0; i < plan->skipped_paths->len; i++)
    if (g_array_index (plan->skipped_reasons, BtSkipReason, i) != BT_SKIP_NOT_IMAGE)
      g_assert_cmpint (find_skip (scan, plan->skipped_paths->pdata[i]), ==,
                       g_array_index (plan->skipped_reasons, BtSkipReason, i));

  /* max_files ends the walk: the first files in walk order */
  g_autoptr(BtScanResult) two = bt_scan_plan (roots, BT_SCAN_FOLDER_AS_CLASS, NULL, TRUE, 2, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (two->paths->len, ==, 2);
  g_assert_cmpstr (two->paths->pdata[1], ==, p_text);
  g_assert_false (has_path (two, p_inner));

  /* a folder of classes: files beside the class folders have no class */
  g_autoptr(BtScanResult) classes = bt_scan_plan (roots, BT_SCAN_FOLDER_OF_CLASSES, NULL, TRUE, 0, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (classes->class_names->len, ==, 1);
  g_assert_cmpstr (classes->class_names->pdata[0], ==, "sub");
  g_assert_cmpuint (classes->paths->len, ==, 1);
  g_assert_cmpstr (classes->paths->pdata[0], ==, p_inner);
  g_assert_cmpint (find_skip (classes, p_good), ==, BT_SKIP_NO_CLASS);
  g_assert_cmpint (find_skip (classes, p_notes), ==, BT_SKIP_NO_CLASS);

  /* not recursive: sub-folders are left out without a reason */
  g_autoptr(BtScanResult) flat = bt_scan_plan (roots, BT_SCAN_FOLDER_AS_CLASS, NULL, FALSE, 0, NULL, &error);
  g_assert_no_error (error);
  g_assert_false (has_path (flat, p_inner));
  g_assert_cmpint (find_skip (flat, p_up), ==, -1);

  /* errors and cancellation as the scan has them */
  const char *file_root[] = { p_good, NULL };
  g_assert_null (bt_scan_plan (file_root, BT_SCAN_FOLDER_AS_CLASS, NULL, TRUE, 0, NULL, &error));
  g_assert_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_INVALID);
  g_clear_error (&error);
  g_autoptr(GCancellable) c = g_cancellable_new ();
  g_cancellable_cancel (c);
  g_assert_null (bt_scan_plan (roots, BT_SCAN_FOLDER_AS_CLASS, NULL, TRUE, 0, c, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  bt_test_rm_rf (dir);
}

/* The one list of formats: well-formed rows, one owner per suffix. */
static void
test_formats (void)
{
  guint n = 0;
  const BtImageFormat *f = bt_image_formats (&n);
  g_autoptr(GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  gboolean png = FALSE, jpeg = FALSE;

  g_assert_cmpuint (n, >=, 5);
  for (guint i = 0; i < n; i++)
    {
      g_assert_nonnull (f[i].name);
      g_assert_nonnull (f[i].suffixes[0]);
      g_assert_nonnull (f[i].mime_types[0]);
      for (guint k = 0; f[i].suffixes[k] != NULL; k++)
        {
          g_autofree char *lower = g_ascii_strdown (f[i].suffixes[k], -1);
          g_autofree char *name = g_strconcat ("/x/photo.", f[i].suffixes[k], NULL);
          g_autofree char *upper = g_ascii_strup (name, -1);
          g_assert_cmpstr (lower, ==, f[i].suffixes[k]);
          g_assert_null (strchr (f[i].suffixes[k], '.'));
          g_assert_false (g_hash_table_contains (seen, f[i].suffixes[k]));
          g_hash_table_add (seen, (gpointer) f[i].suffixes[k]);
          g_assert_true (bt_image_format_for_path (name) == &f[i]);
          g_assert_true (bt_image_format_for_path (upper) == &f[i]);
        }
      png |= g_str_equal (f[i].name, "png") && f[i].decoded;
      jpeg |= g_str_equal (f[i].name, "jpeg") && f[i].decoded;
    }
  g_assert_true (png && jpeg);
  g_assert_false (bt_image_path_has_image_suffix ("/a.png/readme"));
  g_assert_false (bt_image_path_has_image_suffix ("png"));
  g_assert_false (bt_image_path_has_image_suffix ("notes.txt"));
  g_assert_true (bt_image_path_has_image_suffix ("x.JPG"));
}

int
main (int argc, char **argv)
{
  if (g_getenv ("BT_UNREADABLE_CHILD"))
    return unreadable_child (g_getenv ("BT_UNREADABLE_CHILD"));
  self_exe = argv[0];
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/dataset/scan/hostile-folder", test_hostile_folder);
  g_test_add_func ("/dataset/scan/unreadable", test_unreadable);
  g_test_add_func ("/dataset/scan/folder-of-classes", test_folder_of_classes);
  g_test_add_func ("/dataset/scan/cancel", test_cancel);
  g_test_add_func ("/dataset/scan/async", test_async);
  g_test_add_func ("/dataset/scan/plan", test_plan);
  g_test_add_func ("/dataset/scan/formats", test_formats);
  g_test_add_func ("/dataset/throttle/coalesce", test_throttle);
  return g_test_run ();
}
