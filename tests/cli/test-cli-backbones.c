/* test-cli-backbones.c: `bottega-cli backbones`, `compare-backbones` and the backbone a training
 * uses, on a small set of flower photos from ../shared/images: files you already have are added,
 * the comparison gives one row per installed backbone, picking one makes the next training use
 * it, and a new project trains with the recommended preset. */
#include "config.h"

#include <glib/gstdio.h>
#include <string.h>

#include "bt-test-cli.h"
#include "bt-test-fs.h"
#include "bt-test-photos.h"

static char *cli_path;
static char *work_dir;
static char **envp;

/* stdout and stderr together in *out */
G_GNUC_NULL_TERMINATED static int
run_cli (char **out, ...)
{
  g_autofree char *o = NULL, *e = NULL;
  va_list ap;
  int status;

  va_start (ap, out);
  status = bt_test_run_cliv (cli_path, work_dir, envp, &o, &e, ap);
  va_end (ap);
  if (out != NULL)
    *out = g_strconcat (o, e, NULL);
  return status;
}

static const char *classes[] = { "daisy", "sunflower", "iris" };

/* n photos of each of three flower classes, copied from ../shared/images/flowers12/train. */
static gboolean
make_photos (const char *dest, int n)
{
  for (guint c = 0; c < G_N_ELEMENTS (classes); c++)
    {
      const char *shared = g_getenv ("BOTTEGA_SHARED_DIR");
      g_autofree char *src_dir = shared != NULL ? g_build_filename (shared, "images", "flowers12", "train",
                                                                    classes[c], NULL) : NULL;
      g_autofree char *dst_dir = g_build_filename (dest, classes[c], NULL);
      g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
      g_autoptr(GDir) d = NULL;
      const char *name;

      if (src_dir == NULL || (d = g_dir_open (src_dir, 0, NULL)) == NULL)
        return FALSE;
      while ((name = g_dir_read_name (d)) != NULL)
        g_ptr_array_add (names, g_strdup (name));
      g_ptr_array_sort (names, (GCompareFunc) g_strcmp0);
      g_assert_cmpint (g_mkdir_with_parents (dst_dir, 0755), ==, 0);
      for (int i = 0; i < n && (guint) i < names->len; i++)
        {
          g_autofree char *from = g_build_filename (src_dir, g_ptr_array_index (names, i), NULL);
          g_autofree char *to = g_build_filename (dst_dir, g_ptr_array_index (names, i), NULL);
          g_autofree char *data = NULL;
          gsize len;
          g_assert_true (g_file_get_contents (from, &data, &len, NULL));
          g_assert_true (g_file_set_contents (to, data, len, NULL));
        }
    }
  return TRUE;
}

/* The model a `train` run saved, from its "Model saved to PATH" line. */
static char *
saved_model (const char *out)
{
  const char *p = strstr (out, "Model saved to ");
  const char *end;

  if (p == NULL)
    return NULL;
  p += strlen ("Model saved to ");
  end = strchr (p, '\n');
  return g_strndup (p, end != NULL ? (gsize) (end - p) : strlen (p));
}

static guint
count (const char *hay, const char *needle)
{
  guint n = 0;
  for (const char *p = strstr (hay, needle); p != NULL; p = strstr (p + 1, needle))
    n++;
  return n;
}

static void
test_backbones_cli (void)
{
  g_autofree char *photos = g_build_filename (work_dir, "photos", NULL);
  g_autofree char *project = g_build_filename (work_dir, "project", NULL);
  g_autofree char *fresh = g_build_filename (work_dir, "fresh", NULL);
  g_autofree char *v2 = bt_test_shared_file ("models", "mobilenet_v2_1.0_224_quant.tflite");
  g_autofree char *v1 = bt_test_shared_file ("models", "mobilenet_v1_0.5_160_quant.tflite");
  g_autofree char *out = NULL, *model = NULL;
  const char *p;

  if (v2 == NULL || v1 == NULL || !make_photos (photos, 8))
    {
      g_test_skip ("../shared/models or ../shared/images/flowers12 not found: set BOTTEGA_SHARED_DIR");
      return;
    }

  /* nothing installed yet: four known, none there */
  g_assert_cmpint (run_cli (&out, "backbones", NULL), ==, 0);
  g_assert_cmpuint (count (out, "not installed"), ==, 4);
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (run_cli (&out, "backbones", "fetch", "no-such-backbone", NULL), ==, 2);
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (run_cli (&out, "compare-backbones", project, NULL), ==, 1);   /* no project yet */
  g_clear_pointer (&out, g_free);

  /* files you already have: checked against the catalogue, copied into the user folder */
  g_assert_cmpint (run_cli (&out, "backbones", "add", v2, NULL), ==, 0);
  g_assert_nonnull (strstr (out, "MobileNet V2 1.0/224"));
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (run_cli (&out, "backbones", "add", v1, NULL), ==, 0);
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (run_cli (&out, "backbones", NULL), ==, 0);
  g_assert_cmpuint (count (out, "installed, SHA-256 matches"), ==, 2);
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (run_cli (&out, "backbones", "fetch", "mobilenet_v1_0.5_160_quant", NULL), ==, 0);
  g_assert_nonnull (strstr (out, "already installed"));
  g_clear_pointer (&out, g_free);

  g_assert_cmpint (run_cli (NULL, "new", project, "--from", photos, NULL), ==, 0);
  g_assert_cmpint (run_cli (&out, "compare-backbones", project, "--json", "--per-class", "8", "--folds", "3", NULL), ==, 0);
  /* one row per installed backbone, accuracy in [0, 1], positive speed, one best */
  g_assert_cmpuint (count (out, "\"name\""), ==, 2);
  g_assert_cmpuint (count (out, "\"best\": true"), ==, 1);
  for (p = strstr (out, "\"accuracy\": "); p != NULL; p = strstr (p + 1, "\"accuracy\": "))
    {
      double acc = g_ascii_strtod (p + strlen ("\"accuracy\": "), NULL);
      g_assert_cmpfloat (acc, >=, 0);
      g_assert_cmpfloat (acc, <=, 1);
    }
  for (p = strstr (out, "\"ms_per_image\": "); p != NULL; p = strstr (p + 1, "\"ms_per_image\": "))
    g_assert_cmpfloat (g_ascii_strtod (p + strlen ("\"ms_per_image\": "), NULL), >, 0);
  g_clear_pointer (&out, g_free);
  /* the table for people marks the best trade-off and says how to pick it */
  g_assert_cmpint (run_cli (&out, "compare-backbones", project, "--per-class", "8", "--folds", "3", "-q", NULL), ==, 0);
  g_assert_nonnull (strstr (out, "bottega-cli backbones use"));
  g_clear_pointer (&out, g_free);

  /* picking one: the next training uses it (the model file names it) */
  g_assert_cmpint (run_cli (&out, "backbones", "use", project, "mobilenet_v1_0.5_160_quant", NULL), ==, 0);
  g_clear_pointer (&out, g_free);
  /* more blocks to fine-tune than it has: said before any image is embedded */
  g_assert_cmpint (run_cli (&out, "train", project, "--preset", "transfer", "--finetune-blocks", "17", "--epochs", "1",
                            NULL), ==, 1);
  g_test_message ("%s", out);
  g_assert_nonnull (strstr (out, "that can be fine-tuned, not 17"));
  g_assert_null (strstr (out, "Computing image embeddings"));
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (run_cli (&out, "train", project, "--finetune-blocks", "0", "--epochs", "1", "-q", NULL), ==, 0);
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (run_cli (&out, "train", project, "--preset", "transfer", "--epochs", "2", "-q", NULL), ==, 0);
  model = saved_model (out);
  g_clear_pointer (&out, g_free);
  g_assert_nonnull (model);
  g_assert_cmpint (run_cli (&out, "info", model, NULL), ==, 0);
  g_assert_nonnull (strstr (out, "mobilenet_v1_0.5_160_quant.tflite"));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&model, g_free);
  /* --backbone NAME wins over the project's choice, for this run */
  g_assert_cmpint (run_cli (&out, "train", project, "--backbone", "mobilenet_v2_1.0_224_quant", "--epochs", "1", "-q", NULL), ==, 0);
  model = saved_model (out);
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (run_cli (&out, "info", model, NULL), ==, 0);
  g_assert_nonnull (strstr (out, "mobilenet_v2_1.0_224_quant.tflite"));
  g_clear_pointer (&out, g_free);
  /* a catalogue name that is not installed says how to get it */
  g_assert_cmpint (run_cli (&out, "train", project, "--backbone", "tf2_mobilenet_v2_1.0_224_ptq", "--epochs", "1", NULL), ==, 1);
  g_assert_nonnull (strstr (out, "backbones fetch tf2_mobilenet_v2_1.0_224_ptq"));
  g_clear_pointer (&out, g_free);

  /* a new project without --preset: the recommendation, and why */
  g_assert_cmpint (run_cli (NULL, "new", fresh, "--from", photos, NULL), ==, 0);
  g_assert_cmpint (run_cli (&out, "train", fresh, "--epochs", "1", NULL), ==, 0);
  g_assert_nonnull (strstr (out, "Preset: Transfer learning. 24 photos in 3 classes: too few"));
  g_clear_pointer (&out, g_free);
}

int
main (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  const char *build_root = g_getenv ("BOTTEGA_BUILD_ROOT");
  g_autofree char *empty = NULL, *data_home = NULL;
  int status;

  g_test_init (&argc, &argv, NULL);
  g_assert_nonnull (build_root);
  cli_path = g_build_filename (build_root, "src", "cli", "bottega-cli", NULL);
  work_dir = g_dir_make_tmp ("bottega-cli-backbones-XXXXXX", &error);
  g_assert_no_error (error);
  empty = g_build_filename (work_dir, "no-backbones", NULL);
  data_home = g_build_filename (work_dir, "data-home", NULL);
  g_mkdir_with_parents (empty, 0755);
  envp = g_get_environ ();
  envp = g_environ_setenv (envp, "LC_ALL", "C.UTF-8", TRUE);
  envp = g_environ_setenv (envp, "BOTTEGA_BACKBONE_DIR", empty, TRUE);
  envp = g_environ_setenv (envp, "XDG_DATA_HOME", data_home, TRUE);
  envp = g_environ_unsetenv (envp, "BOTTEGA_BACKBONE_URL");
  g_test_add_func ("/cli/backbones", test_backbones_cli);
  status = g_test_run ();
  bt_test_rm_rf (work_dir);
  g_strfreev (envp);
  return status;
}
