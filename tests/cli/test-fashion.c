/* test-fashion.c: bottega-cli trains the Small CNN on Fashion-MNIST (Debian's dataset-fashion-mnist,
 * as a PNG tree made by tools/bottega-fmnist-to-png) for one epoch and reaches ≥ 88% test accuracy. */
#include "config.h"

#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>
#include "bt-test-fs.h"

#define FMNIST_DIR "/usr/share/datasets/fashion-mnist"

static int
run (const char * const *argv, char **out)
{
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) envp = g_environ_setenv (g_get_environ (), "LC_ALL", "C.UTF-8", TRUE);
  g_autofree char *o = NULL, *e = NULL;
  g_autofree char *cmd = g_strjoinv (" ", (char **) argv);
  gint64 t0 = g_get_monotonic_time ();
  int status = 0;

  g_assert_true (g_spawn_sync (NULL, (char **) argv, envp, G_SPAWN_DEFAULT, NULL, NULL, &o, &e, &status, &error));
  g_assert_no_error (error);
  g_test_message ("$ %s  (%.1f s)", cmd, (g_get_monotonic_time () - t0) / 1e6);
  g_test_message ("%s%s", o, e);
  g_assert_true (WIFEXITED (status));
  if (out != NULL)
    *out = g_steal_pointer (&o);
  return WEXITSTATUS (status);
}

static void
test_fashion_one_epoch (void)
{
  const char *build_root = g_getenv ("BOTTEGA_BUILD_ROOT");
  g_autofree char *cli = NULL, *converter = NULL, *work = NULL, *tree = NULL, *project = NULL;
  g_autofree char *out = NULL;
  g_auto(GStrv) lines = NULL;
  double accuracy = 0;
  guint n;

  if (!g_file_test (FMNIST_DIR "/train-images-idx3-ubyte.gz", G_FILE_TEST_IS_REGULAR))
    {
      g_test_skip ("Fashion-MNIST is not installed (" FMNIST_DIR "; Debian package dataset-fashion-mnist)");
      return;
    }
  if (build_root == NULL)
    {
      g_test_skip ("BOTTEGA_BUILD_ROOT is not set: run through meson test");
      return;
    }
  cli = g_build_filename (build_root, "src", "cli", "bottega-cli", NULL);
  converter = g_build_filename (build_root, "tools", "bottega-fmnist-to-png", NULL);
  work = g_dir_make_tmp ("bottega-fashion-XXXXXX", NULL);
  tree = g_build_filename (work, "png", NULL);
  project = g_build_filename (work, "fashion", NULL);

  {
    const char *argv[] = { converter, tree, NULL };
    g_assert_cmpint (run (argv, NULL), ==, 0);
  }
  {
    const char *argv[] = { cli, "new", project, "--from", tree, NULL };
    g_assert_cmpint (run (argv, &out), ==, 0);
    g_assert_nonnull (strstr (out, "Imported 70,000 images in 10 classes"));
    g_clear_pointer (&out, g_free);
  }
  {
    const char *argv[] = { cli, "train", project, "--preset", "small-cnn", "--size", "28", "--color", "grey",
                           "--epochs", "1", "--batch-size", "32", "--optimizer", "adam", "--lr", "0.001",
                           "--augment", "none", "--threads", "2", "--seed", "1", NULL };
    g_assert_cmpint (run (argv, &out), ==, 0);
  }
  lines = g_strsplit (g_strchomp (out), "\n", -1);
  n = g_strv_length (lines);
  g_assert_cmpuint (n, >=, 2);
  g_assert_cmpint (sscanf (lines[n - 1], "Final test accuracy = %lf%%", &accuracy), ==, 1);
  g_test_message ("Fashion-MNIST, Small CNN, 1 epoch: %s", lines[n - 1]);
  g_print ("# %s\n", lines[n - 1]);
  g_assert_cmpfloat (accuracy, >=, 88.0);
  bt_test_rm_rf (work);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/cli/fashion-mnist-one-epoch", test_fashion_one_epoch);
  return g_test_run ();
}
