/* test-disk-full.c: a real full disk (a small tmpfs in a private mount namespace) under the
 * decoded-image cache, labels.csv, project.ini and an import: each fails with a clear message,
 * the old files stay intact and nothing kills the process. Root only (CI); skips otherwise. */
#include "bt-test-tmpfs.h"

#include <string.h>

#include "dataset/bt-dataset-private.h"
#include "bt-test-fs.h"

static const char *no_mounts;

static char *
read_all (const char *path)
{
  char *data = NULL;
  g_assert_true (g_file_get_contents (path, &data, NULL, NULL));
  return data;
}

/* Hole 1: a cache that spills to a file on a full disk used to die of SIGBUS (exit 135) on its
 * first write into the sparse mapping. Now the space is reserved before mapping. */
static void
test_cache_spill (void)
{
  if (no_mounts) { g_test_skip (no_mounts); return; }
  g_autofree char *tmp = g_dir_make_tmp ("bt-cache-full-XXXXXX", NULL);
  g_autofree char *pdir = g_build_filename (tmp, "shapes", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(BtProject) project = bt_sample_create_shapes (pdir, 8, 32, 3, NULL, &error);
  g_assert_no_error (error);
  GListModel *items = bt_project_get_items (project);
  guint n = g_list_model_get_n_items (items);
  g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(BtItem) it = g_list_model_get_item (items, i);
      g_ptr_array_add (paths, g_strdup (bt_item_get_path (it)));
    }
  /* 32 images × 96×96×3 = 884,736 bytes into a 256 KiB disk */
  g_autofree char *disk = bt_test_mount_tmpfs (256 * 1024);
  if (disk == NULL)
    {
      g_test_skip ("cannot mount a tmpfs here");
      bt_test_rm_rf (tmp);
      return;
    }
  bt_cache_set_memory_budget (1);
  g_autoptr(BtCache) cache = bt_cache_build_paths ((const char * const *) paths->pdata, n, 96, 96, 3,
                                                   BT_DS_RESIZE_SQUASH, disk, 2, NULL, NULL, NULL, &error);
  g_assert_null (cache);
  g_assert_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_IO);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "disk space"));
  g_clear_error (&error);

  /* with room, the same build spills and succeeds */
  bt_test_umount (disk);
  g_free (disk);
  disk = bt_test_mount_tmpfs (4 * 1024 * 1024);
  cache = bt_cache_build_paths ((const char * const *) paths->pdata, n, 96, 96, 3,
                                BT_DS_RESIZE_SQUASH, disk, 2, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (bt_cache_is_spilled (cache));
  g_assert_true (bt_cache_is_valid (cache, n - 1));
  bt_cache_set_memory_budget ((gsize) 1024 * 1024 * 1024);
  g_clear_pointer (&cache, bt_cache_free);
  bt_test_umount (disk);
  g_clear_object (&project);
  bt_test_rm_rf (tmp);
}

/* labels.csv, project.ini and an import's save on a full disk: a clear error, the old files
 * byte for byte, and the same change saved once there is room again. */
static void
test_project_files (void)
{
  if (no_mounts) { g_test_skip (no_mounts); return; }
  g_autofree char *src = g_dir_make_tmp ("bt-full-src-XXXXXX", NULL);
  g_autofree char *src_project = g_build_filename (src, "shapes", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(BtProject) sample = bt_sample_create_shapes (src_project, 6, 24, 5, NULL, &error);
  g_assert_no_error (error);
  g_clear_object (&sample);

  g_autofree char *disk = bt_test_mount_tmpfs (512 * 1024);
  if (disk == NULL)
    {
      g_test_skip ("cannot mount a tmpfs here");
      bt_test_rm_rf (src);
      return;
    }
  g_autofree char *pdir = g_build_filename (disk, "p", NULL);
  g_autoptr(BtProject) project = bt_project_create (pdir, "full", &error);
  g_assert_no_error (error);
  g_assert_true (bt_project_add_class (project, "cats", &error));
  g_assert_true (bt_project_flush (project, &error));
  g_assert_no_error (error);
  g_autofree char *labels = g_build_filename (pdir, "labels.csv", NULL);
  g_autofree char *ini = g_build_filename (pdir, "project.ini", NULL);
  g_autofree char *labels_before = read_all (labels);
  g_autofree char *ini_before = read_all (ini);

  g_autofree char *filler = bt_test_fill_disk (disk);

  /* project.ini */
  g_assert_true (bt_project_set_name (project, "renamed while full", &error));
  g_assert_false (bt_project_flush (project, &error));
  g_assert_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_IO);
  g_assert_nonnull (strstr (error->message, g_strerror (ENOSPC)));
  g_clear_error (&error);
  /* labels.csv: an import of a folder of class folders */
  const char *paths[] = { src_project, NULL };
  g_autoptr(BtScanResult) scan = bt_scan_paths (paths, BT_SCAN_FOLDER_OF_CLASSES, NULL, TRUE, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  guint added = bt_project_apply_scan (project, scan, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (added, >, 0);
  g_assert_false (bt_project_flush (project, &error));
  g_assert_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_IO);
  g_clear_error (&error);

  g_autofree char *labels_after = read_all (labels);
  g_autofree char *ini_after = read_all (ini);
  g_assert_cmpstr (labels_after, ==, labels_before);
  g_assert_cmpstr (ini_after, ==, ini_before);
  /* no temp file left behind in the project folder */
  g_autoptr(GDir) d = g_dir_open (pdir, 0, NULL);
  const char *name;
  while ((name = g_dir_read_name (d)) != NULL)
    g_assert_false (g_str_has_prefix (name, "."));  /* bt_write_file_temp's ".NAME.XXXXXX" */

  /* room again: the next flush writes everything */
  g_remove (filler);
  g_assert_true (bt_project_flush (project, &error));
  g_assert_no_error (error);
  g_clear_object (&project);
  project = bt_project_open (pdir, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (bt_project_get_name (project), ==, "renamed while full");
  g_assert_cmpuint (g_list_model_get_n_items (bt_project_get_items (project)), ==, added);
  g_clear_object (&project);
  bt_test_umount (disk);
  bt_test_rm_rf (src);
}

int
main (int argc, char **argv)
{
  if (!bt_test_private_mounts (&no_mounts))
    ;
  else
    no_mounts = NULL;
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/faults/disk-full/cache-spill", test_cache_spill);
  g_test_add_func ("/faults/disk-full/project-files", test_project_files);
  return g_test_run ();
}
