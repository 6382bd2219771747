/* test-sandbox.c: the decoder sandbox. Same pixels as the in-process decoder; a decoder that
 * crashes or never returns (test-only hooks in the helper) is reported as "could not be decoded
 * safely" and the pool goes on with a fresh helper; the helper cannot open a path; many
 * threads share the pool; the helpers run ten nice levels below the app. */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <glib/gstdio.h>

#include "dataset/bt-dataset-private.h"
#include "bt-test-fs.h"
#include "bt-test-images.h"

static GBytes *
good_png (guint seed)
{
  g_autofree guint8 *px = bt_test_pattern (37, 23, 3, seed);
  return bt_test_encode_png (px, 37, 23, 3);
}

static void
test_same_pixels (void)
{
  g_autoptr(GBytes) png = good_png (1);
  gsize len;
  const guint8 *data = g_bytes_get_data (png, &len);
  for (int c = 1; c <= 3; c += 2)
    {
      g_autoptr(GError) error = NULL;
      bt_image_set_in_process (TRUE);
      g_autoptr(BtImage) a = bt_image_decode_bytes (data, len, c, NULL, &error);
      bt_image_set_in_process (FALSE);
      g_assert_no_error (error);
      g_autoptr(BtImage) b = bt_sandbox_decode_bytes (data, len, c, NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpint (a->width, ==, b->width);
      g_assert_cmpint (a->height, ==, b->height);
      g_assert_cmpint (a->channels, ==, b->channels);
      g_assert_true (memcmp (a->pixels, b->pixels, (gsize) a->width * a->height * a->channels) == 0);
    }
  /* and from a path */
  g_autofree char *dir = g_dir_make_tmp ("bt-sandbox-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "a.png", NULL);
  g_assert_true (bt_test_write_file (path, png));
  g_autoptr(GError) error = NULL;
  g_autoptr(BtImage) f = bt_sandbox_decode_file (path, 3, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (f->width, ==, 37);
  bt_test_rm_rf (dir);
}

/* Every photo format's fuzz seeds: the same pixels in the helper, under its seccomp filter
 * (libheif and dav1d start threads, libtiff asks sysinfo: the filter must allow what they need). */
static void
test_every_format (void)
{
  const char *root = g_getenv ("BOTTEGA_SOURCE_ROOT");
  const char *dirs[] = { "decode", "jpeg", "webp", "heif", "tiff" };
  guint n = 0;
  for (guint d = 0; root != NULL && d < G_N_ELEMENTS (dirs); d++)
    {
      g_autofree char *dir = g_build_filename (root, "fuzz", "seeds", dirs[d], NULL);
      g_autoptr(GDir) gd = g_dir_open (dir, 0, NULL);
      const char *name;
      while (gd != NULL && (name = g_dir_read_name (gd)) != NULL)
        {
          g_autofree char *path = g_build_filename (dir, name, NULL);
          g_autoptr(GError) error = NULL;
          bt_image_set_in_process (TRUE);
          g_autoptr(BtImage) a = bt_image_decode_file (path, 3, NULL, NULL, NULL);
          bt_image_set_in_process (FALSE);
          if (a == NULL)
            continue;
          g_autoptr(BtImage) b = bt_sandbox_decode_file (path, 3, NULL, &error);
          if (b == NULL)
            g_error ("%s: %s", name, error->message);
          g_assert_cmpint (a->width, ==, b->width);
          g_assert_cmpint (a->height, ==, b->height);
          g_assert_true (memcmp (a->pixels, b->pixels, (gsize) a->width * a->height * 3) == 0);
          n++;
        }
    }
  if (n == 0)
    g_test_skip ("no fuzz seeds found (BOTTEGA_SOURCE_ROOT)");
  g_test_message ("%u images decoded the same in the sandbox", n);
}

static void
test_refusals_keep_their_reason (void)
{
  BtSkipReason why = BT_SKIP_DUPLICATE;
  g_autoptr(GError) error = NULL;
  g_autoptr(BtImage) img = bt_sandbox_decode_bytes ((const guint8 *) "hello world", 11, 3, &why, &error);
  g_assert_null (img);
  g_assert_nonnull (error);
  g_assert_cmpint (why, ==, BT_SKIP_NOT_IMAGE);
  g_assert_null (strstr (error->message, "safely"));
}

static void
expect_unsafe (const char *bytes, guint restarts_before)
{
  BtSkipReason why = BT_SKIP_DUPLICATE;
  g_autoptr(GError) error = NULL;
  g_autoptr(BtImage) img = bt_sandbox_decode_bytes ((const guint8 *) bytes, strlen (bytes), 3, &why, &error);
  g_assert_null (img);
  g_assert_nonnull (error);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "could not be decoded safely"));
  g_assert_cmpint (why, ==, BT_SKIP_CORRUPT);
  g_assert_cmpuint (bt_sandbox_get_n_restarts (), >, restarts_before);
  g_clear_error (&error);
  /* the pool goes on */
  g_autoptr(GBytes) png = good_png (2);
  gsize len;
  const guint8 *data = g_bytes_get_data (png, &len);
  g_autoptr(BtImage) ok = bt_sandbox_decode_bytes (data, len, 3, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (ok);
}

static void
test_crash (void)
{
  expect_unsafe ("BTCRASH and then some", bt_sandbox_get_n_restarts ());
}

static void
test_loop (void)
{
  bt_sandbox_set_timeout (1500);
  gint64 t0 = g_get_monotonic_time ();
  expect_unsafe ("BTLOOP! forever", bt_sandbox_get_n_restarts ());
  g_assert_cmpint (g_get_monotonic_time () - t0, <, 10 * G_USEC_PER_SEC);
  bt_sandbox_set_timeout (20000);
}

static void
test_no_open (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(BtImage) img = bt_sandbox_decode_bytes ((const guint8 *) "BTOPEN! please", 14, 3, NULL, &error);
  g_assert_null (img);
  if (bt_sandbox_get_confined () != 1)
    {
      g_test_skip ("built without libseccomp: the helper runs under resource limits only");
      return;
    }
  g_assert_cmpstr (error->message, ==, "the helper could not open a path");
}

/* The decode entry points everyone calls go through the sandbox: a file that makes the decoder
 * crash (in-process it would read as "not an image") comes back as "could not be decoded
 * safely", from the path, the bytes and the header probe alike, and the pool restarts. */
static void
test_entry_points_are_sandboxed (void)
{
  g_assert_false (bt_image_get_in_process ());
  g_autofree char *dir = g_dir_make_tmp ("bt-sandbox-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "crash.png", NULL);
  const char bomb[] = "BTCRASH: the decoder dies here";
  g_assert_true (g_file_set_contents (path, bomb, sizeof bomb - 1, NULL));
  for (int way = 0; way < 4; way++)
    {
      guint before = bt_sandbox_get_n_restarts ();
      BtSkipReason why = BT_SKIP_DUPLICATE;
      g_autoptr(GError) error = NULL;
      g_autoptr(BtImage) img = NULL;
      gboolean ok = FALSE;
      if (way == 0)
        img = bt_image_decode_file_sized (path, 3, 64, 64, NULL, NULL, &why, &error);
      else if (way == 1)
        img = bt_image_decode ((const guint8 *) bomb, sizeof bomb - 1, 1, 0, 0, NULL, &why, &error);
      else if (way == 2)
        img = bt_image_preprocess_file (path, 16, 16, 3, BT_DS_RESIZE_SQUASH, NULL, &why, &error);
      else
        ok = bt_image_probe_bytes ((const guint8 *) bomb, sizeof bomb - 1, NULL, NULL, NULL, &why, &error);
      g_assert_null (img);
      g_assert_false (ok);
      g_assert_nonnull (error);
      g_test_message ("way %d: %s", way, error->message);
      g_assert_nonnull (strstr (error->message, "could not be decoded safely"));
      g_assert_cmpint (why, ==, BT_SKIP_CORRUPT);
      g_assert_cmpuint (bt_sandbox_get_n_restarts (), >, before);
    }
  bt_test_rm_rf (dir);
}

/* What comes back through the sandbox is what the in-process decoder gives: pixels at a scaled
 * size, the decode info, the probe's header. */
static void
test_same_as_in_process (void)
{
  g_autofree guint8 *px = bt_test_pattern (90, 70, 3, 5);
  g_autoptr(GBytes) png = bt_test_encode_png (px, 90, 70, 3);
  g_autofree char *dir = g_dir_make_tmp ("bt-sandbox-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "a.png", NULL);
  g_assert_true (bt_test_write_file (path, png));
  BtImage *img[2];
  BtDecodeInfo info[2];
  int pw[2], ph[2];
  const char *fmt[2];
  for (int k = 0; k < 2; k++)
    {
      bt_image_set_in_process (k == 0);
      img[k] = bt_image_decode_file_sized (path, 1, 30, 30, &info[k], NULL, NULL, NULL);
      g_assert_nonnull (img[k]);
      gsize len;
      const guint8 *data = g_bytes_get_data (png, &len);
      g_assert_true (bt_image_probe_bytes (data, len, &pw[k], &ph[k], &fmt[k], NULL, NULL));
    }
  bt_image_set_in_process (FALSE);
  g_assert_cmpint (img[0]->width, ==, img[1]->width);
  g_assert_cmpint (img[0]->height, ==, img[1]->height);
  g_assert_cmpmem (img[0]->pixels, (gsize) img[0]->width * img[0]->height, img[1]->pixels,
                   (gsize) img[1]->width * img[1]->height);
  g_assert_cmpstr (info[1].format, ==, "png");
  g_assert_cmpstr (info[0].format, ==, info[1].format);  /* a static string either way */
  g_assert_cmpint (info[0].width, ==, info[1].width);
  g_assert_cmpint (info[0].height, ==, info[1].height);
  g_assert_cmpint (info[0].orientation, ==, info[1].orientation);
  g_assert_cmpuint (info[0].flags, ==, info[1].flags);
  g_assert_cmpint (pw[1], ==, 90);
  g_assert_cmpint (ph[1], ==, 70);
  g_assert_cmpstr (fmt[0], ==, fmt[1]);
  bt_image_free (img[0]);
  bt_image_free (img[1]);
  /* the pixel budget travels with the request */
  bt_image_set_pixel_budget (90 * 70 - 1);
  BtSkipReason why = BT_SKIP_DUPLICATE;
  g_autoptr(BtImage) none = bt_image_decode_file_sized (path, 1, 0, 0, NULL, NULL, &why, NULL);
  bt_image_set_pixel_budget (0);
  g_assert_null (none);
  g_assert_cmpint (why, ==, BT_SKIP_TOO_LARGE);
  bt_test_rm_rf (dir);
}

/* An import goes on past a photo that crashes the decoder and one that never finishes: both
 * are listed as corrupt (in-process they would read as "not an image"), the rest imported. */
static void
test_import_goes_on (void)
{
  g_autofree char *root = g_dir_make_tmp ("bt-sandbox-import-XXXXXX", NULL);
  for (int c = 0; c < 2; c++)
    {
      g_autofree char *cls = g_strdup_printf ("%s/class%d", root, c);
      g_assert_cmpint (g_mkdir_with_parents (cls, 0755), ==, 0);
      for (int i = 0; i < 3; i++)
        {
          g_autofree guint8 *px = bt_test_pattern (20, 20, 3, (guint) (c * 10 + i));
          g_autoptr(GBytes) png = bt_test_encode_png (px, 20, 20, 3);
          g_autofree char *p = g_strdup_printf ("%s/%d.png", cls, i);
          g_assert_true (bt_test_write_file (p, png));
        }
    }
  g_autofree char *crash = g_build_filename (root, "class0", "crash.png", NULL);
  g_autofree char *loop = g_build_filename (root, "class1", "loop.png", NULL);
  g_assert_true (g_file_set_contents (crash, "BTCRASH now", -1, NULL));
  g_assert_true (g_file_set_contents (loop, "BTLOOP! forever", -1, NULL));
  bt_sandbox_set_timeout (1500);
  const char *paths[] = { root, NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(BtScanResult) r = bt_scan_paths (paths, BT_SCAN_FOLDER_OF_CLASSES, NULL, TRUE, NULL, NULL, NULL, &error);
  bt_sandbox_set_timeout (20000);
  g_assert_no_error (error);
  g_assert_cmpuint (r->paths->len, ==, 6);
  g_assert_cmpuint (r->skipped_paths->len, ==, 2);
  for (guint i = 0; i < r->skipped_paths->len; i++)
    {
      g_test_message ("skipped %s", (const char *) r->skipped_paths->pdata[i]);
      g_assert_cmpint (g_array_index (r->skipped_reasons, BtSkipReason, i), ==, BT_SKIP_CORRUPT);
    }
  /* and the training cache: the crash named, the others decoded */
  g_autofree char *good = g_build_filename (root, "class0", "0.png", NULL);
  const char *files[] = { good, crash };
  g_autoptr(BtCache) cache = bt_cache_build_paths (files, 2, 8, 8, 3, BT_DS_RESIZE_SQUASH, NULL, 1, NULL, NULL,
                                                   NULL, &error);
  g_assert_no_error (error);
  g_assert_true (bt_cache_is_valid (cache, 0));
  g_assert_false (bt_cache_is_valid (cache, 1));
  g_autofree char *report = bt_cache_dup_failure_report (cache);
  g_assert_nonnull (strstr (report, "crash.png"));
  bt_test_rm_rf (root);
}

/* A large result is mapped from the helper's sealed memfd instead of copied: same pixels,
 * writable (privately), freed by bt_image_free. */
static void
test_large_mapped (void)
{
  g_autofree guint8 *px = bt_test_pattern (640, 600, 3, 9);
  g_autoptr(GBytes) png = bt_test_encode_png (px, 640, 600, 3);
  gsize len;
  const guint8 *data = g_bytes_get_data (png, &len);
  bt_image_set_in_process (TRUE);
  g_autoptr(BtImage) a = bt_image_decode_bytes (data, len, 3, NULL, NULL);
  bt_image_set_in_process (FALSE);
  g_autoptr(BtImage) b = bt_image_decode_bytes (data, len, 3, NULL, NULL);
  g_assert_nonnull (a);
  g_assert_nonnull (b);
  g_assert_cmpuint (a->mapped_len, ==, 0);
  g_assert_cmpuint (b->mapped_len, ==, (gsize) 640 * 600 * 3);
  g_assert_cmpmem (a->pixels, (gsize) 640 * 600 * 3, b->pixels, b->mapped_len);
  b->pixels[0] ^= 0xff;  /* a caller may change its pixels */
  g_assert_cmpint (b->pixels[0], ==, a->pixels[0] ^ 0xff);
}

/* The helpers decode at ten nice levels below this process (the import's checks ran so when
 * they decoded in-process), read from /proc/PID/stat: every bottega-decoder child of ours; but
 * a decode made on a thread marked foreground (the Test page's photo) goes to a helper started
 * with --foreground, at this process's own priority. */
static gpointer
decode_in_foreground (gpointer data)
{
  GBytes *png = data;
  gsize len;
  const guint8 *bytes = g_bytes_get_data (png, &len);
  g_autoptr(GError) error = NULL;

  g_assert_false (bt_image_set_thread_foreground (TRUE));
  g_assert_true (bt_image_get_thread_foreground ());
  g_autoptr(BtImage) img = bt_sandbox_decode_bytes (bytes, len, 3, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (bt_image_set_thread_foreground (FALSE));
  return NULL;
}

static void
test_helpers_niced (void)
{
  g_autoptr(GBytes) png = good_png (4);
  gsize len;
  const guint8 *data = g_bytes_get_data (png, &len);
  g_autoptr(GError) error = NULL;
  g_autoptr(BtImage) img = bt_sandbox_decode_bytes (data, len, 3, NULL, &error);
  g_assert_no_error (error);
  g_assert_false (bt_image_get_thread_foreground ());   /* per thread: this one was never marked */
  g_thread_join (g_thread_new ("foreground", decode_in_foreground, png));
  errno = 0;
  int ours = getpriority (PRIO_PROCESS, 0);
  g_assert_cmpint (errno, ==, 0);
  g_autoptr(GDir) proc = g_dir_open ("/proc", 0, &error);
  g_assert_no_error (error);
  const char *name;
  guint n_bg = 0, n_fg = 0;
  while ((name = g_dir_read_name (proc)) != NULL)
    {
      if (!g_ascii_isdigit (name[0]))
        continue;
      g_autofree char *path = g_build_filename ("/proc", name, "stat", NULL);
      g_autofree char *cmd_path = g_build_filename ("/proc", name, "cmdline", NULL);
      g_autofree char *line = NULL, *cmdline = NULL;
      gsize cmd_len = 0;
      if (!g_file_get_contents (path, &line, NULL, NULL) ||
          !g_file_get_contents (cmd_path, &cmdline, &cmd_len, NULL))
        continue;  /* gone meanwhile */
      /* "PID (COMM) STATE PPID ... NICE (the 19th field)": COMM may hold spaces, so from its ")" */
      const char *lp = strchr (line, '('), *rp = strrchr (line, ')');
      if (lp == NULL || rp == NULL || rp < lp)
        continue;
      g_autofree char *comm = g_strndup (lp + 1, rp - lp - 1);
      g_auto(GStrv) f = g_strsplit (rp + 2, " ", 0);  /* f[0] is field 3 */
      if (!g_str_equal (comm, "bottega-decoder") || g_strv_length (f) < 17 ||
          g_ascii_strtoll (f[1], NULL, 10) != (gint64) getpid ())
        continue;
      /* argv[1] follows argv[0]'s NUL */
      gboolean fg = strlen (cmdline) + 1 < cmd_len && g_str_equal (cmdline + strlen (cmdline) + 1, "--foreground");
      g_test_message ("helper %s%s: nice %s", name, fg ? " (foreground)" : "", f[16]);
      g_assert_cmpint (g_ascii_strtoll (f[16], NULL, 10), ==, fg ? ours : MIN (ours + 10, 19));
      if (fg)
        n_fg++;
      else
        n_bg++;
    }
  g_assert_cmpuint (n_bg, >=, 1);
  g_assert_cmpuint (n_fg, ==, 1);
}

static gpointer
decode_many (gpointer data)
{
  GBytes *png = data;
  gsize len;
  const guint8 *bytes = g_bytes_get_data (png, &len);
  for (int i = 0; i < 25; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(BtImage) img = bt_sandbox_decode_bytes (bytes, len, 1 + 2 * (i % 2), NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpint (img->width, ==, 37);
    }
  return NULL;
}

static void
test_threads (void)
{
  g_autoptr(GBytes) png = good_png (3);
  GThread *t[8];
  for (int i = 0; i < 8; i++)
    t[i] = g_thread_new ("decode", decode_many, png);
  for (int i = 0; i < 8; i++)
    g_thread_join (t[i]);
}

int
main (int argc, char **argv)
{
  /* the helpers inherit this: their test-only hooks answer to magic first bytes */
  g_setenv ("BT_DECODER_TEST_HOOK", "crash,loop,open", TRUE);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/faults/sandbox/same-pixels", test_same_pixels);
  g_test_add_func ("/faults/sandbox/every-format", test_every_format);
  g_test_add_func ("/faults/sandbox/refusals", test_refusals_keep_their_reason);
#if DEVELOPMENT
  /* the helper's test hooks exist only in development builds */
  g_test_add_func ("/faults/sandbox/crash", test_crash);
  g_test_add_func ("/faults/sandbox/loop", test_loop);
  g_test_add_func ("/faults/sandbox/no-open", test_no_open);
  g_test_add_func ("/faults/sandbox/entry-points", test_entry_points_are_sandboxed);
  g_test_add_func ("/faults/sandbox/import-goes-on", test_import_goes_on);
#endif
  g_test_add_func ("/faults/sandbox/threads", test_threads);
  g_test_add_func ("/faults/sandbox/same-as-in-process", test_same_as_in_process);
  g_test_add_func ("/faults/sandbox/large-mapped", test_large_mapped);
  g_test_add_func ("/faults/sandbox/helpers-niced", test_helpers_niced);
  int r = g_test_run ();
  bt_sandbox_shutdown ();
  return r;
}
