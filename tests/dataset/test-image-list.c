/* test-image-list.c: natural order (cat_2 before cat_10) in a scan and in a folder walk, the
 * walk's limits (hidden files, link loops, non-images), and the prediction CSV's layout. */
#include "config.h"

#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "dataset/bt-image-list.h"
#include "bt-test-images.h"
#include "bt-test-fs.h"

static void
write_png (const char *path, guint seed)
{
  g_autofree guint8 *pixels = bt_test_pattern (8, 8, 3, seed);
  g_autoptr(GBytes) png = bt_test_encode_png (pixels, 8, 8, 3);

  g_assert_true (bt_test_write_file (path, png));
}

static char *
make_tree (void)
{
  char *root = g_dir_make_tmp ("bt-test-image-list-XXXXXX", NULL);
  g_autofree char *cat = g_build_filename (root, "cat", NULL);
  static const char * const names[] = { "cat_10.png", "cat_2.png", "cat_1.png", ".hidden.png", "notes.txt" };

  g_assert_cmpint (g_mkdir (cat, 0755), ==, 0);
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autofree char *path = g_build_filename (cat, names[i], NULL);
      if (g_str_has_suffix (names[i], ".txt"))
        g_assert_true (g_file_set_contents (path, "not an image\n", -1, NULL));
      else
        write_png (path, i + 1);
    }
  {
    /* a link back up: a loop the walk must not follow */
    g_autofree char *loop = g_build_filename (cat, "loop", NULL);
    g_assert_cmpint (symlink (root, loop), ==, 0);
  }
  return root;
}

static void
test_natural_order (void)
{
  g_autofree char *root = make_tree ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) walked = bt_image_list_walk (root, 0, NULL, &error);
  const char *paths[] = { root, NULL };
  g_autoptr(BtScanResult) scanned = NULL;
  static const char * const want[] = { "cat_1.png", "cat_2.png", "cat_10.png" };

  g_assert_no_error (error);
  g_assert_cmpuint (walked->len, ==, 3);
  for (guint i = 0; i < 3; i++)
    {
      g_autofree char *base = g_path_get_basename (walked->pdata[i]);
      g_assert_cmpstr (base, ==, want[i]);
    }
  scanned = bt_scan_paths (paths, BT_SCAN_FOLDER_OF_CLASSES, NULL, TRUE, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (scanned->paths->len, ==, 3);
  for (guint i = 0; i < 3; i++)
    {
      g_autofree char *base = g_path_get_basename (scanned->paths->pdata[i]);
      g_assert_cmpstr (base, ==, want[i]);
    }
  g_assert_cmpint (bt_image_list_natural_compare ("cat_2", "cat_10"), <, 0);
  g_assert_cmpint (bt_image_list_natural_compare ("b", "a"), >, 0);
  {
    g_autoptr(GPtrArray) none = bt_image_list_walk ("/nonexistent/folder", 0, NULL, &error);
    g_assert_null (none);
    g_assert_nonnull (error);
  }
  bt_test_rm_rf (root);
}

static void
test_csv (void)
{
  g_autoptr(GString) s = g_string_new (NULL);
  const char *names[] = { "a", "b, with comma", NULL };
  const float probs[] = { 0.25f, 0.75f };

  bt_predictions_csv_header (s, names);
  bt_predictions_csv_row (s, "x \"1\".png", probs, 2, names);
  bt_predictions_csv_row (s, "bad.png", NULL, 2, names);
  bt_predictions_csv_row_scored (s, "far.png", probs, 2, names, -1.5, TRUE, FALSE);
  bt_predictions_csv_row_scored (s, "near.png", probs, 2, names, -9.25, FALSE, FALSE);
  bt_predictions_csv_row_scored (s, "shy.png", probs, 2, names, -9.25, FALSE, TRUE);
  g_assert_cmpstr (s->str, ==,
                   "path,top_class,confidence,unknown,unknown_score,below_threshold,a,\"b, with comma\"\r\n"
                   "\"x \"\"1\"\".png\",\"b, with comma\",0.750000,,,no,0.250000,0.750000\r\n"
                   "bad.png,,\r\n"
                   "far.png,\"b, with comma\",0.750000,yes,-1.500000,no,0.250000,0.750000\r\n"
                   "near.png,\"b, with comma\",0.750000,no,-9.250000,no,0.250000,0.750000\r\n"
                   "shy.png,\"b, with comma\",0.750000,no,-9.250000,yes,0.250000,0.750000\r\n");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/image-list/natural-order", test_natural_order);
  g_test_add_func ("/image-list/csv", test_csv);
  return g_test_run ();
}
