/* test-drop.c: the plain function behind the drop handlers (bt_import_plan_build): what a
 * dropped folder, folder of folders, loose files and hostile entries become. */
#include "config.h"

#include <glib/gstdio.h>
#include <gtk/gtk.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bt-import.h"

static char *tmp_root;

static void
write_png (const char *path, guint seed)
{
  guint8 pixels[8 * 8 * 3];
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GdkTexture) texture = NULL;

  for (guint i = 0; i < sizeof pixels; i++)
    pixels[i] = (guint8) (seed * 31 + i * 7);
  bytes = g_bytes_new (pixels, sizeof pixels);
  texture = gdk_memory_texture_new (8, 8, GDK_MEMORY_R8G8B8, bytes, 8 * 3);
  g_assert_true (gdk_texture_save_to_png (texture, path));
}

static char *
make_dir (const char *rel)
{
  char *dir = g_build_filename (tmp_root, rel, NULL);
  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  return dir;
}

static void
fill (const char *dir, guint n, guint seed)
{
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *name = g_strdup_printf ("img%03u.png", i);
      g_autofree char *path = g_build_filename (dir, name, NULL);
      write_png (path, seed + i);
    }
}

static BtImportJob *
job (BtImportPlan *plan, guint i)
{
  g_assert_cmpuint (i, <, plan->jobs->len);
  return g_ptr_array_index (plan->jobs, i);
}

static void
test_folder_as_class (void)
{
  g_autofree char *dir = make_dir ("one/cats");
  const char *paths[] = { dir, NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(BtImportPlan) plan = NULL;

  fill (dir, 3, 1);
  plan = bt_import_plan_build (paths, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (plan->jobs->len, ==, 1);
  g_assert_cmpint (job (plan, 0)->mode, ==, BT_SCAN_FOLDER_AS_CLASS);
  g_assert_cmpuint (plan->n_classes, ==, 1);
  g_assert_cmpuint (plan->n_images, ==, 3);
  g_assert_false (plan->needs_confirmation);
}

static void
test_folder_of_folders (void)
{
  g_autofree char *a = make_dir ("two/animals/cat");
  g_autofree char *b = make_dir ("two/animals/dog");
  g_autofree char *c = make_dir ("two/animals/empty");
  g_autofree char *root = g_build_filename (tmp_root, "two", "animals", NULL);
  g_autofree char *notes = g_build_filename (root, "notes.txt", NULL);
  const char *paths[] = { root, NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(BtImportPlan) plan = NULL;

  fill (a, 2, 10);
  fill (b, 4, 20);
  g_assert_true (g_file_set_contents (notes, "hello", -1, NULL));
  plan = bt_import_plan_build (paths, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (plan->needs_confirmation);
  g_assert_cmpuint (plan->jobs->len, ==, 1);
  g_assert_cmpint (job (plan, 0)->mode, ==, BT_SCAN_FOLDER_OF_CLASSES);
  /* The empty sub-folder makes no class. */
  g_assert_cmpuint (plan->n_classes, ==, 2);
  g_assert_cmpuint (plan->n_images, ==, 6);
  g_assert_cmpuint (plan->n_other, ==, 1);
}

static void
test_mixed_folder_is_one_class (void)
{
  g_autofree char *dir = make_dir ("three/birds");
  g_autofree char *sub = make_dir ("three/birds/more");
  const char *paths[] = { dir, NULL };
  g_autoptr(BtImportPlan) plan = NULL;

  fill (dir, 1, 40);
  fill (sub, 2, 50);
  plan = bt_import_plan_build (paths, NULL, NULL, NULL);
  g_assert_nonnull (plan);
  g_assert_false (plan->needs_confirmation);
  g_assert_cmpint (job (plan, 0)->mode, ==, BT_SCAN_FOLDER_AS_CLASS);
  g_assert_cmpuint (plan->n_images, ==, 3);
}

static void
test_into_class (void)
{
  g_autofree char *dir = make_dir ("four/x");
  g_autofree char *file = g_build_filename (tmp_root, "four", "loose.png", NULL);
  const char *paths[] = { dir, file, NULL };
  g_autoptr(BtImportPlan) plan = NULL;

  fill (dir, 2, 60);
  write_png (file, 70);
  plan = bt_import_plan_build (paths, "target", NULL, NULL);
  g_assert_nonnull (plan);
  g_assert_cmpuint (plan->jobs->len, ==, 1);
  g_assert_cmpint (job (plan, 0)->mode, ==, BT_SCAN_FILES_INTO_CLASS);
  g_assert_cmpstr (job (plan, 0)->class_name, ==, "target");
  g_assert_cmpuint (job (plan, 0)->paths->len, ==, 2);
  g_assert_cmpuint (plan->n_classes, ==, 1);
}

static void
test_loose_files_take_folder_name (void)
{
  g_autofree char *dir = make_dir ("five/roses");
  g_autofree char *f1 = g_build_filename (dir, "a.png", NULL);
  g_autofree char *f2 = g_build_filename (dir, "b.PNG", NULL);
  const char *paths[] = { f1, f2, NULL };
  g_autoptr(BtImportPlan) plan = NULL;

  write_png (f1, 80);
  write_png (f2, 81);
  plan = bt_import_plan_build (paths, NULL, NULL, NULL);
  g_assert_nonnull (plan);
  g_assert_cmpuint (plan->jobs->len, ==, 1);
  g_assert_cmpstr (job (plan, 0)->class_name, ==, "roses");
  g_assert_cmpuint (plan->n_images, ==, 2);
}

static void
test_hostile (void)
{
  g_autofree char *dir = make_dir ("six/hostile");
  g_autofree char *fifo = g_build_filename (tmp_root, "six", "pipe", NULL);
  g_autofree char *loop = g_build_filename (dir, "loop", NULL);
  g_autofree char *gone = g_build_filename (tmp_root, "six", "does-not-exist", NULL);
  const char *only_bad[] = { fifo, gone, NULL };
  const char *paths[] = { dir, fifo, gone, NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(BtImportPlan) bad = NULL;
  g_autoptr(BtImportPlan) plan = NULL;

  fill (dir, 1, 90);
  g_assert_cmpint (mkfifo (fifo, 0600), ==, 0);
  g_assert_cmpint (symlink (dir, loop), ==, 0);   /* a loop: hostile/loop → hostile */

  bad = bt_import_plan_build (only_bad, NULL, NULL, &error);
  g_assert_null (bad);
  g_assert_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_UNSUPPORTED);

  plan = bt_import_plan_build (paths, NULL, NULL, NULL);
  g_assert_nonnull (plan);
  g_assert_cmpuint (plan->ignored->len, ==, 2);
  g_assert_cmpuint (plan->n_images, ==, 1);   /* the link is not followed */
}

static void
test_cancelled (void)
{
  g_autofree char *dir = make_dir ("seven/c");
  const char *paths[] = { dir, NULL };
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(BtImportPlan) plan = NULL;

  g_cancellable_cancel (cancellable);
  plan = bt_import_plan_build (paths, NULL, cancellable, &error);
  g_assert_null (plan);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

static void
test_extensions (void)
{
  g_assert_true (bt_image_path_has_image_suffix ("/a/b.JPG"));
  g_assert_true (bt_image_path_has_image_suffix ("x.jpeg"));
  g_assert_false (bt_image_path_has_image_suffix ("/a.png/readme"));
  g_assert_false (bt_image_path_has_image_suffix ("notes.txt"));
  g_assert_false (bt_image_path_has_image_suffix ("png"));
}

static void
test_paths_from_files (void)
{
  g_autoptr(GFile) local = g_file_new_for_path ("/tmp/x");
  g_autoptr(GFile) remote = g_file_new_for_uri ("http://example.com/a.png");
  g_autoptr(GSList) list = g_slist_append (g_slist_append (NULL, local), remote);
  guint n_remote = 0;
  g_auto(GStrv) paths = bt_import_paths_from_files (list, &n_remote);

  g_assert_cmpuint (g_strv_length (paths), ==, 1);
  g_assert_cmpstr (paths[0], ==, "/tmp/x");
  g_assert_cmpuint (n_remote, ==, 1);
}

int
main (int argc, char **argv)
{
  int ret;

  g_test_init (&argc, &argv, NULL);
  tmp_root = g_dir_make_tmp ("bt-test-drop-XXXXXX", NULL);
  g_assert_nonnull (tmp_root);

  g_test_add_func ("/drop/plan/folder-as-class", test_folder_as_class);
  g_test_add_func ("/drop/plan/folder-of-folders", test_folder_of_folders);
  g_test_add_func ("/drop/plan/mixed-folder", test_mixed_folder_is_one_class);
  g_test_add_func ("/drop/plan/into-class", test_into_class);
  g_test_add_func ("/drop/plan/loose-files", test_loose_files_take_folder_name);
  g_test_add_func ("/drop/plan/hostile", test_hostile);
  g_test_add_func ("/drop/plan/cancelled", test_cancelled);
  g_test_add_func ("/drop/extensions", test_extensions);
  g_test_add_func ("/drop/paths-from-files", test_paths_from_files);
  ret = g_test_run ();

  {
    g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", tmp_root);
    if (system (cmd) != 0)
      g_printerr ("could not remove %s\n", tmp_root);
  }
  g_free (tmp_root);
  return ret;
}
