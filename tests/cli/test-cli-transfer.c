/* test-cli-transfer.c: the transfer preset through bottega-cli: train with a chosen backbone
 * file, a hidden layer and the whole network saved; then predict, info and ONNX export of
 * that model with no backbone anywhere on the search path. */
#include "config.h"

#include <glib/gstdio.h>
#include <string.h>

#include "training/bt-training.h"
#include "training/bt-transfer.h"
#include "bt-test-photos.h"
#include "bt-test-cli.h"
#include "bt-test-fs.h"

static char *cli_path;
static char *work_dir;
static char **envp;
static char *last_err;

G_GNUC_NULL_TERMINATED static int
run_cli (char **out, ...)
{
  va_list ap;
  int status;

  g_clear_pointer (&last_err, g_free);
  va_start (ap, out);
  status = bt_test_run_cliv (cli_path, work_dir, envp, out, &last_err, ap);
  va_end (ap);
  return status;
}

static const char *const sources[3][2] = { { "cat", "cat_720p.jpg" }, { "owl", "owl.jpg" }, { "sunflower", "sunflower.bmp" } };

static void
test_transfer_cli (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *backbone = bt_test_shared_file ("models", BT_BACKBONE_DEFAULT);
  g_autofree char *project_dir = g_build_filename (work_dir, "project", NULL);
  g_autofree char *photos = g_build_filename (work_dir, "photos", NULL);
  g_autofree char *probe = NULL, *out = NULL, *onnx = g_build_filename (work_dir, "model.onnx", NULL);
  g_autofree char *models_dir = g_build_filename (project_dir, "models", NULL);
  g_autofree char *model = NULL;
  g_autoptr(BtProject) project = NULL;
  g_autoptr(BtScanResult) scan = NULL;
  g_autoptr(GDir) dir = NULL;
  const char *paths[] = { photos, NULL };
  const char *name;

  if (backbone == NULL)
    {
      g_test_skip ("MobileNet V2 backbone not found: set BOTTEGA_SHARED_DIR to the folder holding models/ and images/");
      return;
    }
  if (!bt_test_make_class_crops (photos, sources, G_N_ELEMENTS (sources), 5, 3))
    return;
  probe = g_build_filename (photos, "cat", "0.bmp", NULL);
  project = bt_project_create (project_dir, "CLI transfer", &error);
  g_assert_no_error (error);
  scan = bt_scan_paths (paths, BT_SCAN_FOLDER_OF_CLASSES, NULL, TRUE, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (bt_project_apply_scan (project, scan, &error), ==, 15);
  g_clear_object (&project);

  /* the backbone comes only from --backbone: the search path is empty */
  g_assert_cmpint (run_cli (NULL, "train", project_dir, "--preset", "transfer", "--epochs", "3",
                            "--hidden", "99999", "-q", NULL), ==, 2);
  /* no backbone anywhere and none given: said before anything runs, with the way out */
  g_assert_cmpint (run_cli (&out, "train", project_dir, "--preset", "transfer", "--epochs", "3", "-q", NULL), ==, 1);
  g_clear_pointer (&out, g_free);
  g_assert_nonnull (last_err);
  g_assert_nonnull (strstr (last_err, "--backbone NAME|FILE"));
  g_assert_nonnull (strstr (last_err, "bottega-cli backbones fetch"));
  {
    g_autofree char *runs = g_build_filename (project_dir, "runs", NULL);
    g_autoptr(GDir) d = g_dir_open (runs, 0, NULL);
    const char *entry;
    while (d != NULL && (entry = g_dir_read_name (d)) != NULL)   /* no run folder was made */
      {
        g_autofree char *path = g_build_filename (runs, entry, NULL);
        g_assert_false (g_file_test (path, G_FILE_TEST_IS_DIR));  /* (the run lock is a file) */
      }
  }
  g_assert_cmpint (run_cli (&out, "train", project_dir, "--preset", "transfer", "--epochs", "3",
                            "--hidden", "128", "--whole-network", "--backbone", backbone, "-q", NULL), ==, 0);
  g_assert_nonnull (strstr (out, "Model saved to"));
  g_clear_pointer (&out, g_free);
  dir = g_dir_open (models_dir, 0, &error);
  g_assert_no_error (error);
  while ((name = g_dir_read_name (dir)) != NULL)
    if (g_str_has_suffix (name, ".bottega-model"))
      model = g_build_filename (models_dir, name, NULL);
  g_assert_nonnull (model);

  /* no backbone anywhere now: the model alone predicts, describes itself and exports */
  g_assert_cmpint (run_cli (&out, "predict", model, probe, NULL), ==, 0);
  g_assert_nonnull (strstr (out, "cat"));
  g_clear_pointer (&out, g_free);
  /* Grad-CAM through the stored backbone (#23): the map of the probe at its own size */
  g_assert_cmpint (run_cli (&out, "explain", model, probe, "--method", "gradcam", "--json", NULL), ==, 0);
  g_assert_nonnull (strstr (out, "\"method\": \"gradcam\", \"width\": 100,"));
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (run_cli (&out, "info", model, NULL), ==, 0);
  g_assert_nonnull (strstr (out, "stored inside this file"));
  g_assert_nonnull (strstr (out, BT_BACKBONE_DEFAULT));
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (run_cli (NULL, "export", model, "--onnx", onnx, NULL), ==, 0);
  g_assert_true (g_file_test (onnx, G_FILE_TEST_IS_REGULAR));
  {
    g_autoptr(BtModel) m = bt_model_load (model, &error);
    g_assert_no_error (error);
    g_assert_cmpint (bt_net_hidden (m->net), ==, 128);
    g_assert_nonnull (m->backbone_data);
  }
}

int
main (int argc, char **argv)
{
  g_autofree char *empty = NULL, *data_home = NULL;
  int status;

  g_test_init (&argc, &argv, NULL);
  if (!bt_test_cli_init ("bottega-cli-transfer-XXXXXX", &cli_path, &work_dir))
    return 0;
  empty = g_build_filename (work_dir, "no-backbones", NULL);
  data_home = g_build_filename (work_dir, "data-home", NULL);
  g_mkdir_with_parents (empty, 0755);
  g_mkdir_with_parents (data_home, 0755);
  envp = g_get_environ ();
  envp = g_environ_setenv (envp, "LC_ALL", "C.UTF-8", TRUE);
  envp = g_environ_setenv (envp, "BOTTEGA_BACKBONE_DIR", empty, TRUE);
  envp = g_environ_setenv (envp, "XDG_DATA_HOME", data_home, TRUE);

  g_test_add_func ("/cli/transfer/whole-network", test_transfer_cli);
  status = g_test_run ();
  bt_test_rm_rf (work_dir);
  g_strfreev (envp);
  return status;
}
