/* test-sandbox.c: the decoder sandbox. Same pixels as the in-process decoder; a decoder that
 * crashes or never returns (test-only hooks in the helper) is reported as "could not be decoded
 * safely" and the pool goes on with a fresh helper; the helper cannot open a path; many
 * threads share the pool. */
#include "config.h"

#include <string.h>
#include <glib/gstdio.h>

#include "dataset/bt-dataset.h"
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
      g_autoptr(BtImage) a = bt_image_decode_bytes (data, len, c, NULL, &error);
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
          g_autoptr(BtImage) a = bt_image_decode_file (path, 3, NULL, NULL, NULL);
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
#endif
  g_test_add_func ("/faults/sandbox/threads", test_threads);
  int r = g_test_run ();
  bt_sandbox_shutdown ();
  return r;
}
