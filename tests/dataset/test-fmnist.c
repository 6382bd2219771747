/* test-fmnist.c: the Fashion-MNIST converter (tools/) on a subset, checked pixel for pixel
 * against the IDX files, then imported as a folder of classes and cached. Skips when Debian's
 * dataset-fashion-mnist package is not installed. */
#include <string.h>
#include <gio/gio.h>

#include "dataset/bt-dataset.h"

#define N_PER_SPLIT 300

static GBytes *
gunzip (const char *path)
{
  g_autoptr(GFile) file = g_file_new_for_path (path);
  g_autoptr(GFileInputStream) raw = g_file_read (file, NULL, NULL);
  g_assert_nonnull (raw);
  g_autoptr(GZlibDecompressor) dec = g_zlib_decompressor_new (G_ZLIB_COMPRESSOR_FORMAT_GZIP);
  g_autoptr(GInputStream) in = g_converter_input_stream_new (G_INPUT_STREAM (raw), G_CONVERTER (dec));
  g_autoptr(GOutputStream) out = g_memory_output_stream_new_resizable ();
  g_assert_cmpint (g_output_stream_splice (out, in, G_OUTPUT_STREAM_SPLICE_CLOSE_SOURCE |
                                           G_OUTPUT_STREAM_SPLICE_CLOSE_TARGET, NULL, NULL), >, 0);
  return g_memory_output_stream_steal_as_bytes (G_MEMORY_OUTPUT_STREAM (out));
}

static void
test_convert_and_import (void)
{
  const char *src = g_getenv ("BT_FMNIST_DIR") ? g_getenv ("BT_FMNIST_DIR") : "/usr/share/datasets/fashion-mnist";
  g_autofree char *idx = g_build_filename (src, "t10k-images-idx3-ubyte.gz", NULL);
  if (!g_file_test (idx, G_FILE_TEST_EXISTS))
    {
      g_test_skip ("Fashion-MNIST not found in /usr/share/datasets/fashion-mnist: install Debian's "
                   "dataset-fashion-mnist package (or set BT_FMNIST_DIR)");
      return;
    }
  const char *build = g_getenv ("BOTTEGA_BUILD_ROOT");
  g_assert_nonnull (build);
  g_autofree char *tool = g_build_filename (build, "tools", "bottega-fmnist-to-png", NULL);
  g_autofree char *tmp = g_dir_make_tmp ("bt-fmnist-XXXXXX", NULL);
  g_autofree char *out = g_build_filename (tmp, "tree", NULL);
  g_autofree char *limit = g_strdup_printf ("%d", N_PER_SPLIT);
  const char *argv[] = { tool, "--source", src, "--limit", limit, out, NULL };
  int status = 0;
  g_autoptr(GError) error = NULL;
  g_autofree char *tool_out = NULL;  /* captured: the test's own stdout is TAP */
  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &tool_out, NULL, &status, &error));
  g_assert_no_error (error);
  g_assert_true (g_spawn_check_wait_status (status, &error));

  /* Pixel for pixel: test image i is OUT/<class of label i>/test-0000i.png. */
  g_autoptr(GBytes) images = gunzip (idx);
  g_autofree char *lidx = g_build_filename (src, "t10k-labels-idx1-ubyte.gz", NULL);
  g_autoptr(GBytes) labels = gunzip (lidx);
  const guint8 *id = g_bytes_get_data (images, NULL), *ld = g_bytes_get_data (labels, NULL);
  static const char * const names[] = { "T-shirt_top", "Trouser", "Pullover", "Dress", "Coat",
                                        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle_boot" };
  for (int i = 0; i < 20; i++)
    {
      g_autofree char *name = g_strdup_printf ("test-%05d.png", i);
      g_autofree char *path = g_build_filename (out, names[ld[8 + i]], name, NULL);
      g_autoptr(BtImage) img = bt_image_decode_file (path, 1, NULL, NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpint (img->width, ==, 28);
      g_assert_cmpint (img->height, ==, 28);
      g_assert_true (memcmp (img->pixels, id + 16 + i * 784, 784) == 0);
    }

  /* Import as a folder of classes, then cache. */
  const char *roots[] = { out, NULL };
  g_autoptr(BtScanResult) r = bt_scan_paths (roots, BT_SCAN_FOLDER_OF_CLASSES, NULL, FALSE, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (r->class_names->len, ==, 10);
  /* + the converter's hidden ".bottega-fmnist-complete" marker, listed as hidden */
  g_assert_cmpuint (r->paths->len + r->skipped_paths->len, ==, 2 * N_PER_SPLIT + 1);
  for (guint i = 0; i < r->skipped_reasons->len; i++)
    {
      BtSkipReason why = g_array_index (r->skipped_reasons, BtSkipReason, i);
      g_assert_true (why == BT_SKIP_DUPLICATE ||
                     (why == BT_SKIP_HIDDEN && g_str_has_suffix (r->skipped_paths->pdata[i], "/.bottega-fmnist-complete")));
    }
  g_autofree char *pdir = g_build_filename (tmp, "project", NULL);
  g_autoptr(BtProject) p = bt_project_create (pdir, "Fashion-MNIST subset", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (bt_project_apply_scan (p, r, &error), ==, r->paths->len);
  g_autoptr(BtCache) c = bt_cache_build (p, 28, 28, 1, BT_DS_RESIZE_SQUASH, 2, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < r->paths->len; i++)
    g_assert_true (bt_cache_is_valid (c, i));
  g_assert_true (bt_project_flush (p, &error));
  g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", tmp);
  g_assert_cmpint (system (cmd), ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/dataset/fmnist/convert-and-import", test_convert_and_import);
  return g_test_run ();
}
