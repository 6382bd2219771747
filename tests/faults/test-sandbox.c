/* test-sandbox.c: the decoder sandbox. Same pixels as the in-process decoder; a decoder that
 * crashes or never returns (test-only hooks in the helper) is reported as "could not be decoded
 * safely" and the pool goes on with a fresh helper; the helper cannot open a path; many
 * threads share the pool; the helpers run ten nice levels below the app; a large image comes
 * back in the memfd its decoder wrote into, never copied by the helper. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <glib/gstdio.h>
#include <tiffio.h>
#include <webp/encode.h>

#include "dataset/bt-dataset-private.h"
#include "dataset/bt-decode-private.h"
#include "dataset/bt-sandbox-private.h"
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

/* The pids of our bottega-decoder children, from /proc. */
static GArray *
helper_pids (void)
{
  GArray *pids = g_array_new (FALSE, FALSE, sizeof (int));
  g_autoptr(GDir) proc = g_dir_open ("/proc", 0, NULL);
  g_assert_nonnull (proc);
  const char *name;
  while ((name = g_dir_read_name (proc)) != NULL)
    {
      if (!g_ascii_isdigit (name[0]))
        continue;
      g_autofree char *path = g_build_filename ("/proc", name, "stat", NULL);
      g_autofree char *line = NULL;
      if (!g_file_get_contents (path, &line, NULL, NULL))
        continue;  /* gone meanwhile */
      /* "PID (COMM) STATE PPID ...": COMM may hold spaces, so from its ")" */
      const char *lp = strchr (line, '('), *rp = strrchr (line, ')');
      if (lp == NULL || rp == NULL || rp < lp || rp[1] == '\0')
        continue;
      g_autofree char *comm = g_strndup (lp + 1, rp - lp - 1);
      g_auto(GStrv) f = g_strsplit (rp + 2, " ", 3);
      if (g_str_equal (comm, "bottega-decoder") && g_strv_length (f) >= 2 &&
          g_ascii_strtoll (f[1], NULL, 10) == (gint64) getpid ())
        {
          int pid = atoi (name);
          g_array_append_val (pids, pid);
        }
    }
  return pids;
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
  g_autoptr(GArray) pids = helper_pids ();
  guint n_bg = 0, n_fg = 0;
  for (guint i = 0; i < pids->len; i++)
    {
      int pid = g_array_index (pids, int, i);
      g_autofree char *path = g_strdup_printf ("/proc/%d/stat", pid);
      g_autofree char *cmd_path = g_strdup_printf ("/proc/%d/cmdline", pid);
      g_autofree char *line = NULL, *cmdline = NULL;
      gsize cmd_len = 0;
      if (!g_file_get_contents (path, &line, NULL, NULL) ||
          !g_file_get_contents (cmd_path, &cmdline, &cmd_len, NULL))
        continue;  /* gone meanwhile */
      /* "PID (COMM) STATE PPID ... NICE (the 19th field)": from COMM's ")" (it may hold spaces) */
      g_auto(GStrv) f = g_strsplit (strrchr (line, ')') + 2, " ", 0);  /* f[0] is field 3 */
      g_assert_cmpuint (g_strv_length (f), >=, 17);
      /* argv[1] follows argv[0]'s NUL */
      gboolean fg = strlen (cmdline) + 1 < cmd_len && g_str_equal (cmdline + strlen (cmdline) + 1, "--foreground");
      g_test_message ("helper %d%s: nice %s", pid, fg ? " (foreground)" : "", f[16]);
      g_assert_cmpint (g_ascii_strtoll (f[16], NULL, 10), ==, fg ? ours : MIN (ours + 10, 19));
      if (fg)
        n_fg++;
      else
        n_bg++;
    }
  g_assert_cmpuint (n_bg, >=, 1);
  g_assert_cmpuint (n_fg, ==, 1);
}

/* How many bytes our helpers have passed to write() and its kin so far (/proc/PID/io wchar). */
static guint64
helpers_wchar (void)
{
  g_autoptr(GArray) pids = helper_pids ();
  guint64 sum = 0;
  for (guint i = 0; i < pids->len; i++)
    {
      g_autofree char *path = g_strdup_printf ("/proc/%d/io", g_array_index (pids, int, i));
      g_autofree char *text = NULL;
      if (!g_file_get_contents (path, &text, NULL, NULL))
        continue;
      const char *w = strstr (text, "wchar: ");
      g_assert_nonnull (w);
      sum += g_ascii_strtoull (w + 7, NULL, 10);
    }
  return sum;
}

/* jpeg with an EXIF block saying "turn by orientation" spliced in after its SOI */
static GBytes *
with_exif_orientation (GBytes *jpeg, guint8 orientation)
{
  static const guint8 exif[] = {
    0xff, 0xe1, 0x00, 0x22, 'E', 'x', 'i', 'f', 0, 0,
    'I', 'I', 42, 0, 8, 0, 0, 0,           /* TIFF header, IFD0 at 8 */
    1, 0,                                  /* one entry: */
    0x12, 0x01, 3, 0, 1, 0, 0, 0, 0, 0, 0, 0,  /* Orientation, SHORT, 1, value (below) */
    0, 0, 0, 0,                            /* no next IFD */
  };
  gsize len;
  const guint8 *d = g_bytes_get_data (jpeg, &len);
  GByteArray *a = g_byte_array_new ();
  g_byte_array_append (a, d, 2);
  g_byte_array_append (a, exif, sizeof exif);
  a->data[2 + 28] = orientation;
  g_byte_array_append (a, d + 2, (guint) len - 2);
  return g_byte_array_free_to_bytes (a);
}

static GBytes *
encode_tiff (const guint8 *px, int w, int h, const char *dir)
{
  g_autofree char *path = g_build_filename (dir, "big.tif", NULL);
  TIFF *t = TIFFOpen (path, "w");
  g_assert_nonnull (t);
  TIFFSetField (t, TIFFTAG_IMAGEWIDTH, (guint32) w);
  TIFFSetField (t, TIFFTAG_IMAGELENGTH, (guint32) h);
  TIFFSetField (t, TIFFTAG_SAMPLESPERPIXEL, 3);
  TIFFSetField (t, TIFFTAG_BITSPERSAMPLE, 8);
  TIFFSetField (t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_RGB);
  TIFFSetField (t, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
  TIFFSetField (t, TIFFTAG_ROWSPERSTRIP, 64);
  for (int y = 0; y < h; y++)
    g_assert_cmpint (TIFFWriteScanline (t, (void *) (px + (gsize) y * w * 3), (guint32) y, 0), ==, 1);
  TIFFClose (t);
  char *data = NULL;
  gsize len = 0;
  g_assert_true (g_file_get_contents (path, &data, &len, NULL));
  return g_bytes_new_take (data, len);
}

static GBytes *
encode_webp (const guint8 *px, int w, int h)
{
  uint8_t *out = NULL;
  size_t len = WebPEncodeRGB (px, w, h, w * 3, 80, &out);
  g_assert_cmpuint (len, >, 0);
  GBytes *b = g_bytes_new (out, len);
  WebPFree (out);
  return b;
}

/* RGB gradients: quick to encode and decode at a size where noise would take seconds */
static guint8 *
smooth_pattern (int w, int h)
{
  guint8 *px = g_malloc ((gsize) w * h * 3);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        guint8 *p = px + ((gsize) y * w + x) * 3;
        p[0] = (guint8) (x * 255 / w);
        p[1] = (guint8) (y * 255 / h);
        p[2] = (guint8) ((x + 2 * y) / 8);
      }
  return px;
}

/* Decodes bytes in-process (into *in_process) and through decode (the app's entry point or the
 * sandbox's own), and returns the second with the bytes the helpers wrote meanwhile in *wrote. */
typedef BtImage *(*DecodeFn) (const guint8 *, gsize, int, BtSkipReason *, GError **);

static BtImage *
decode_beside_in_process (GBytes *bytes, int channels, DecodeFn decode, BtImage **in_process, guint64 *wrote)
{
  gsize len;
  const guint8 *data = g_bytes_get_data (bytes, &len);
  g_autoptr(GError) error = NULL;
  bt_image_set_in_process (TRUE);
  *in_process = bt_image_decode_bytes (data, len, channels, NULL, &error);
  bt_image_set_in_process (FALSE);
  g_assert_no_error (error);
  guint64 before = helpers_wchar ();
  BtImage *b = decode (data, len, channels, NULL, &error);
  *wrote = helpers_wchar () - before;
  g_assert_no_error (error);
  return b;
}

/* A large image goes back in the very memfd it was decoded into, whichever step made its last
 * buffer (the decoder, the EXIF orientation, the channel conversion, libtiff's RGBA cut to RGB):
 * the helper write()s none of its bytes (its /proc/PID/io wchar; it used to write them all), and
 * the app maps it: the same pixels as in-process. */
static void
test_large_no_copy (void)
{
  const int w = 1280, h = 832;  /* grey is 1 MiB and a bit: mapped, not copied */
  g_autofree guint8 *px = smooth_pattern (w, h);
  g_autofree char *dir = g_dir_make_tmp ("bt-sandbox-XXXXXX", NULL);
  g_autoptr(GBytes) jpeg = bt_test_encode_jpeg (px, w, h, 3, 90);
  struct { const char *what; GBytes *bytes; int channels; } cases[] = {
    { "JPEG", g_bytes_ref (jpeg), 3 },
    { "JPEG to grey", g_bytes_ref (jpeg), 1 },
    { "JPEG turned by EXIF", with_exif_orientation (jpeg, 6), 3 },
    { "PNG", bt_test_encode_png (px, w, h, 3), 3 },
    { "TIFF", encode_tiff (px, w, h, dir), 3 },
    { "WebP", encode_webp (px, w, h), 3 },
  };
  g_autoptr(GBytes) small = good_png (6);
  g_autoptr(BtImage) warm = bt_sandbox_decode_bytes (g_bytes_get_data (small, NULL), g_bytes_get_size (small), 3,
                                                     NULL, NULL);
  g_assert_nonnull (warm);  /* the helper this thread's decodes go to is running */
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(BtImage) a = NULL;
      guint64 wrote;
      g_autoptr(BtImage) b = decode_beside_in_process (cases[i].bytes, cases[i].channels, bt_image_decode_bytes, &a,
                                                       &wrote);
      gsize n = (gsize) b->width * b->height * b->channels;
      g_test_message ("%s: %d x %d x %d, the helper wrote %" G_GUINT64_FORMAT " bytes", cases[i].what, b->width,
                      b->height, b->channels, wrote);
      g_assert_cmpint (b->width, ==, i == 2 ? h : w);
      g_assert_cmpuint (b->mapped_len, ==, n);
      g_assert_cmpmem (a->pixels, (gsize) a->width * a->height * a->channels, b->pixels, n);
      g_assert_cmpuint (wrote, <, 4096);
      g_bytes_unref (cases[i].bytes);
    }
  bt_test_rm_rf (dir);
}

/* Small pixels come back in the reply's own message: the helper writes none of them to a memfd
 * (wchar; it used to write them all), up to BT_SANDBOX_INLINE_MAX bytes exactly; one byte
 * over, they go through a memfd as before. Either way the pixels are the in-process ones. */
static void
test_small_inline (void)
{
  g_assert_cmpuint (256 * 256, ==, BT_SANDBOX_INLINE_MAX);
  g_autofree guint8 *px = smooth_pattern (256, 257);
  struct { const char *what; GBytes *bytes; int channels; gboolean inline_; } cases[] = {
    { "37 x 23 RGB", good_png (7), 3, TRUE },
    { "37 x 23 grey", good_png (8), 1, TRUE },
    { "256 x 256 grey, the limit", bt_test_encode_png (px, 256, 256, 3), 1, TRUE },
    { "256 x 257 grey, one row over", bt_test_encode_png (px, 256, 257, 3), 1, FALSE },
    { "256 x 256 RGB", bt_test_encode_png (px, 256, 256, 3), 3, FALSE },
  };
  g_autoptr(GBytes) warm_png = good_png (6);
  g_autoptr(BtImage) warm = bt_sandbox_decode_bytes (g_bytes_get_data (warm_png, NULL),
                                                     g_bytes_get_size (warm_png), 3, NULL, NULL);
  g_assert_nonnull (warm);  /* the helper this thread's decodes go to is running */
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(BtImage) a = NULL;
      guint64 wrote;
      g_autoptr(BtImage) b = decode_beside_in_process (cases[i].bytes, cases[i].channels, bt_sandbox_decode_bytes, &a,
                                                       &wrote);
      gsize n = (gsize) b->width * b->height * b->channels;
      g_test_message ("%s: %" G_GSIZE_FORMAT " bytes, the helper wrote %" G_GUINT64_FORMAT, cases[i].what, n, wrote);
      g_assert_cmpint (b->width, ==, a->width);
      g_assert_cmpint (b->height, ==, a->height);
      g_assert_cmpint (b->channels, ==, a->channels);
      g_assert_cmpmem (a->pixels, (gsize) a->width * a->height * a->channels, b->pixels, n);
      g_assert_cmpuint (b->mapped_len, ==, 0);
      if (cases[i].inline_)
        g_assert_cmpuint (wrote, <, MIN (n, 1024));
      else
        g_assert_cmpuint (wrote, >=, n);
      g_bytes_unref (cases[i].bytes);
    }
}

/* A helper that lies about its inline pixels (fewer bytes than the size it claims, or more
 * than the app takes inline) gets its file called "could not be decoded safely", and the pool
 * goes on. */
static void
test_inline_lies (void)
{
  const char * const lies[] = { "BTLIE1! short", "BTLIE2! long" };
  for (guint i = 0; i < G_N_ELEMENTS (lies); i++)
    {
      BtSkipReason why = BT_SKIP_DUPLICATE;
      g_autoptr(GError) error = NULL;
      g_autoptr(BtImage) img = bt_sandbox_decode_bytes ((const guint8 *) lies[i], strlen (lies[i]), 1, &why,
                                                        &error);
      g_assert_null (img);
      g_assert_nonnull (error);
      g_test_message ("%s: %s", lies[i], error->message);
      g_assert_nonnull (strstr (error->message, "could not be decoded safely"));
      g_assert_cmpint (why, ==, BT_SKIP_CORRUPT);
      g_clear_error (&error);
      g_autoptr(GBytes) png = good_png (3);
      g_autoptr(BtImage) ok = bt_sandbox_decode_bytes (g_bytes_get_data (png, NULL), g_bytes_get_size (png), 1,
                                                       NULL, &error);
      g_assert_no_error (error);
      g_assert_nonnull (ok);
    }
}

static guint
count_open_fds (void)
{
  g_autoptr(GDir) d = g_dir_open ("/proc/self/fd", 0, NULL);
  g_assert_nonnull (d);
  guint n = 0;
  while (g_dir_read_name (d) != NULL)
    n++;
  return n;
}

/* bt-pixels.c on its own, in the helper's mode: a large buffer is a memfd that can be cut and
 * handed over sealed; a small one comes from the heap; more than the table holds still work;
 * nothing stays open after frees and failed decodes (truncated JPEG and TIFF). */
static void
test_pixel_buffers (void)
{
  guint fds = count_open_fds ();
  bt_pixels_use_memfd (TRUE);
  gsize big = 2 * BT_PIXELS_MEMFD_MIN + 123, cut = BT_PIXELS_MEMFD_MIN + 77;
  guint8 *p = bt_pixels_alloc (big);
  for (gsize i = 0; i < big; i++)
    p[i] = (guint8) (i * 7 + i / 4099);
  p = bt_pixels_shrink (p, big - 5000);
  int fd = -1;
  g_assert_true (bt_pixels_steal_memfd (p, cut, &fd));
  g_assert_cmpint (fd, >=, 0);
  struct stat st;
  g_assert_cmpint (fstat (fd, &st), ==, 0);
  g_assert_cmpint (st.st_size, ==, (goffset) cut);
  /* nothing maps it any more, or this seal would be refused */
  g_assert_cmpint (fcntl (fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE), ==, 0);
  g_autofree guint8 *back = g_malloc (cut);
  g_assert_cmpint (pread (fd, back, cut, 0), ==, (gssize) cut);
  for (gsize i = 0; i < cut; i += 997)
    g_assert_cmpuint (back[i], ==, (guint8) (i * 7 + i / 4099));
  close (fd);

  guint8 *q = bt_pixels_alloc (100);
  g_assert_false (bt_pixels_steal_memfd (q, 100, &fd));
  g_assert_cmpint (fd, ==, -1);
  q = bt_pixels_shrink (q, 50);
  bt_pixels_free (q);

  guint8 *many[12];
  for (guint i = 0; i < G_N_ELEMENTS (many); i++)
    {
      many[i] = bt_pixels_alloc (BT_PIXELS_MEMFD_MIN);
      many[i][BT_PIXELS_MEMFD_MIN - 1] = (guint8) i;
    }
  for (guint i = 0; i < G_N_ELEMENTS (many); i++)
    {
      g_assert_cmpuint (many[i][BT_PIXELS_MEMFD_MIN - 1], ==, i);
      bt_pixels_free (many[i]);
    }

  const int w = 1024, h = 768;
  g_autofree guint8 *px = smooth_pattern (w, h);
  g_autofree char *dir = g_dir_make_tmp ("bt-sandbox-XXXXXX", NULL);
  g_autoptr(GBytes) upright = bt_test_encode_jpeg (px, w, h, 3, 90);
  g_autoptr(GBytes) jpeg = with_exif_orientation (upright, 8);
  g_autoptr(GBytes) tiff = encode_tiff (px, w, h, dir);
  GBytes *files[] = { jpeg, tiff };
  bt_image_set_in_process (TRUE);
  for (guint i = 0; i < G_N_ELEMENTS (files); i++)
    {
      gsize len;
      const guint8 *data = g_bytes_get_data (files[i], &len);
      g_autoptr(BtImage) whole = bt_image_decode_bytes (data, len, 1, NULL, NULL);
      g_assert_nonnull (whole);
      g_autoptr(BtImage) cut_short = bt_image_decode_bytes (data, len * 2 / 3, 3, NULL, NULL);
      g_assert_null (cut_short);
    }
  bt_image_set_in_process (FALSE);
  bt_pixels_use_memfd (FALSE);
  bt_test_rm_rf (dir);
  g_assert_cmpuint (count_open_fds (), ==, fds);
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
  g_setenv ("BT_DECODER_TEST_HOOK", "crash,loop,open,lie", TRUE);
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
  g_test_add_func ("/faults/sandbox/large-no-copy", test_large_no_copy);
  g_test_add_func ("/faults/sandbox/small-inline", test_small_inline);
  g_test_add_func ("/faults/sandbox/inline-lies", test_inline_lies);
  g_test_add_func ("/faults/sandbox/pixel-buffers", test_pixel_buffers);
  int r = g_test_run ();
  bt_sandbox_shutdown ();
  return r;
}
