/* test-doctor.c: the data doctor on a Shapes project built here with 5 flipped labels, 3
 * near-copies planted in another split and 2 blank images: the flips come out as label issues
 * (with their true class suggested, by out-of-fold models of the project's preset), the copies
 * as leakage, the blanks as poor quality, the blanks and 6 alike noise images as outliers; the
 * same seed gives the same report on any number of threads; `bottega-cli doctor --json` prints that report, which
 * parses and follows the schema; a cancelled run returns nothing; a run after relabels takes
 * every image and the pairs from the doctor's cache and reports what a cold run with those
 * labels reports; a file rewritten in place (same size, same modification time) is read again. */
#include "config.h"

#include <cairo.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <glib/gstdio.h>

#include "dataset/bt-dataset.h"
#include "dataset/bt-dataset-private.h"
#include "doctor/bt-doctor.h"
#include "bt-test-blank.h"

static const char *classes[] = { "circle", "square", "triangle", "star" };
#define N_NOISE 6   /* noise images that look alike: each other's nearest neighbours */

typedef struct {
  char      *dir;
  BtProject *project;
  char      *flipped[5];
  int        flipped_true[5];      /* class index before the flip */
  char      *copy_of[3], *copy[3];
  char      *blank[2];
  char      *noise[N_NOISE];
} Fixture;

static Fixture fx;

void test_doctor_out_of_fold (void);
int  test_doctor_set_threads (int n);   /* test-doctor-folds.c; returns the old count */

static guint64
file_hash (const char *path)
{
  g_autofree char *data = NULL;
  gsize len = 0;
  g_assert_true (g_file_get_contents (path, &data, &len, NULL));
  return bt_hash_bytes ((const guint8 *) data, len);
}

/* A copy of src with a few pixels of the top-left corner brightened by `variant`. */
static void
write_near_copy (const char *src, const char *dst, int variant)
{
  cairo_surface_t *s = cairo_image_surface_create_from_png (src);
  g_assert_cmpint (cairo_surface_status (s), ==, CAIRO_STATUS_SUCCESS);
  cairo_surface_flush (s);
  guint8 *px = cairo_image_surface_get_data (s);
  int stride = cairo_image_surface_get_stride (s);
  for (int y = 0; y < 2; y++)
    for (int x = 0; x < 3; x++)
      for (int c = 0; c < 3; c++)
        {
          guint8 *p = px + y * stride + 4 * x + c;
          *p = (guint8) MIN (255, *p + 3 + variant);
        }
  cairo_surface_mark_dirty (s);
  g_assert_cmpint (cairo_surface_write_to_png (s, dst), ==, CAIRO_STATUS_SUCCESS);
  cairo_surface_destroy (s);
}

/* 64×64 grey noise from a seed */
static void
write_noise_png (const char *dst, guint64 seed)
{
  BtRng rng = { seed };
  cairo_surface_t *s = cairo_image_surface_create (CAIRO_FORMAT_RGB24, 64, 64);
  cairo_surface_flush (s);
  guint8 *px = cairo_image_surface_get_data (s);
  for (int y = 0; y < 64; y++)
    for (int x = 0; x < 64; x++)
      {
        guint32 v = bt_rng_below (&rng, 256);
        *(guint32 *) (px + y * cairo_image_surface_get_stride (s) + 4 * x) = v << 16 | v << 8 | v;
      }
  cairo_surface_mark_dirty (s);
  g_assert_cmpint (cairo_surface_write_to_png (s, dst), ==, CAIRO_STATUS_SUCCESS);
  cairo_surface_destroy (s);
}

static BtItem *
item_at (guint i)
{
  BtItem *it = g_list_model_get_item (bt_project_get_items (fx.project), i);
  g_object_unref (it);   /* the model keeps it */
  return it;
}

static void
fixture_build (void)
{
  g_autoptr (GError) error = NULL;
  fx.dir = g_dir_make_tmp ("bt-doctor-XXXXXX", &error);
  g_assert_no_error (error);
  fx.project = bt_sample_create_shapes (fx.dir, 60, 64, 11, NULL, &error);
  g_assert_no_error (error);
  /* the preset the fold models train: an MLP on 32×32 grey, 4 epochs (quick) */
  BtProjectSettings mlp = { 0 };
  bt_project_settings_copy (&mlp, bt_project_get_settings (fx.project));
  g_free (mlp.preset);
  mlp.preset = g_strdup ("mlp");
  mlp.width = mlp.height = 32;
  mlp.channels = 1;
  mlp.epochs = 4;
  g_assert_true (bt_project_update_settings (fx.project, &mlp, &error));
  bt_project_settings_clear (&mlp);
  const BtProjectSettings *s = bt_project_get_settings (fx.project);

  /* 5 flips: the 7th image of class c goes to class c+1 (and a second one of circle) */
  const guint picks[5] = { 7, 60 + 7, 120 + 7, 180 + 7, 25 };
  for (int f = 0; f < 5; f++)
    {
      BtItem *it = item_at (picks[f]);
      fx.flipped[f] = g_strdup (bt_item_get_path (it));
      int c = bt_project_find_class (fx.project, bt_item_get_class_name (it));
      fx.flipped_true[f] = c;
    }
  for (int f = 0; f < 5; f++)
    {
      BtItem *it = bt_project_find_item (fx.project, fx.flipped[f]);
      BtItem *items[1] = { it };
      g_assert_true (bt_project_relabel (fx.project, items, 1, classes[(fx.flipped_true[f] + 1) % 4], &error));
      g_assert_no_error (error);
    }

  /* 3 near-copies of images (of different classes), each in a split other than its original's */
  const guint originals[3] = { 3, 60 + 30, 180 + 40 };
  for (int d = 0; d < 3; d++)
    {
      BtItem *it = item_at (originals[d]);
      fx.copy_of[d] = g_strdup (bt_item_get_path (it));
      BtSplit split = bt_item_get_split (it);
      g_autofree char *name = g_strdup_printf ("copy-%d.png", d);
      fx.copy[d] = g_build_filename (fx.dir, "images", bt_item_get_class_name (it), name, NULL);
      guint64 h = 0;
      for (int variant = 0; variant < 60; variant++)
        {
          write_near_copy (fx.copy_of[d], fx.copy[d], variant);
          h = file_hash (fx.copy[d]);
          if (bt_split_for_hash (h, s->split_train, s->split_val, s->split_test) != split)
            break;
        }
      g_assert_cmpint (bt_split_for_hash (h, s->split_train, s->split_val, s->split_test), !=, split);
      const char *paths[2] = { fx.copy[d], NULL };
      g_assert_true (bt_project_add_items (fx.project, bt_item_get_class_name (it), paths, &h, &error));
      g_assert_no_error (error);
    }

  /* 2 blanks: a black and a white one */
  for (int b = 0; b < 2; b++)
    {
      g_autofree char *name = g_strdup_printf ("blank-%d.png", b);
      fx.blank[b] = g_build_filename (fx.dir, "images", "square", name, NULL);
      bt_test_write_blank_png (fx.blank[b], b == 0 ? 0.02 : 0.99);
      guint64 h = file_hash (fx.blank[b]);
      const char *paths[2] = { fx.blank[b], NULL };
      g_assert_true (bt_project_add_items (fx.project, "square", paths, &h, &error));
      g_assert_no_error (error);
    }
  /* noise, in two classes */
  for (int k = 0; k < N_NOISE; k++)
    {
      g_autofree char *name = g_strdup_printf ("noise-%d.png", k);
      const char *cls = classes[k % 2 ? 3 : 0];
      fx.noise[k] = g_build_filename (fx.dir, "images", cls, name, NULL);
      write_noise_png (fx.noise[k], 100 + k);
      guint64 h = file_hash (fx.noise[k]);
      const char *paths[2] = { fx.noise[k], NULL };
      g_assert_true (bt_project_add_items (fx.project, cls, paths, &h, &error));
      g_assert_no_error (error);
    }
  g_assert_true (bt_project_flush (fx.project, &error));
  g_assert_no_error (error);
}

static BtDoctorReport *
run_doctor (BtDoctorInput *in, guint64 seed)
{
  BtDoctorOptions opts;
  bt_doctor_options_init (&opts);
  opts.seed = seed;
  g_autoptr (GError) error = NULL;
  BtDoctorReport *r = bt_doctor_run (in, &opts, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (r);
  return r;
}

static void
test_findings (void)
{
  g_autoptr (BtDoctorInput) in = bt_doctor_input_new (fx.project);
  g_assert_cmpuint (bt_doctor_input_get_n_items (in), ==, 240 + 3 + 2 + N_NOISE);
  g_autoptr (BtDoctorReport) r = run_doctor (in, 3);
  g_assert_cmpuint (r->n_unreadable, ==, 0);
  g_test_message ("out-of-fold accuracy %.3f, %u label issues, %u duplicate pairs, %u outliers, %u quality",
                  r->oof_accuracy, r->label_issues->len, r->duplicates->len, r->outliers->len, r->quality->len);
  /* the fold models were the project's preset, on its input */
  g_test_message ("fold models: %s", r->model);
  g_assert_nonnull (strstr (r->model, "mlp 32×32×1, "));
  for (guint i = 0; i < MIN (r->duplicates->len, 12); i++)
    {
      const BtDoctorDuplicate *x = &g_array_index (r->duplicates, BtDoctorDuplicate, i);
      g_autofree char *a = g_path_get_basename (bt_doctor_report_path (r, x->a));
      g_autofree char *b = g_path_get_basename (bt_doctor_report_path (r, x->b));
      g_test_message ("duplicate %s %s distance %.4f", a, b, x->distance);
    }

  /* every flip is a label issue; the true class is suggested for at least 4 of the 5 */
  int suggested_right = 0;
  for (int f = 0; f < 5; f++)
    {
      gboolean found = FALSE;
      for (guint i = 0; i < r->label_issues->len; i++)
        {
          const BtDoctorLabelIssue *x = &g_array_index (r->label_issues, BtDoctorLabelIssue, i);
          g_assert_cmpfloat (x->score, >=, 0.0);
          g_assert_cmpfloat (x->score, <=, 1.0);
          g_assert_cmpint (x->suggested, !=, x->label);
          if (i > 0)
            g_assert_cmpfloat (x->score, <=, g_array_index (r->label_issues, BtDoctorLabelIssue, i - 1).score);
          if (g_str_equal (bt_doctor_report_path (r, x->item), fx.flipped[f]))
            {
              found = TRUE;
              g_assert_cmpstr (bt_doctor_report_class (r, x->label), ==, classes[(fx.flipped_true[f] + 1) % 4]);
              suggested_right += x->suggested == fx.flipped_true[f];
              g_test_message ("flip %d found at rank %u (score %.3f)", f, i + 1, x->score);
            }
        }
      g_assert_true (found);
    }
  g_assert_cmpint (suggested_right, >=, 4);
  /* the flips are few of the issues: the doctor does not flag half the project */
  g_assert_cmpuint (r->label_issues->len, <=, (245 + N_NOISE) / 4);

  /* the planted copies and nothing else: look-alike shapes are not copies */
  g_assert_cmpuint (r->duplicates->len, ==, 3);
  /* every planted copy is found as leakage with its original */
  for (int d = 0; d < 3; d++)
    {
      gboolean found = FALSE;
      for (guint i = 0; i < r->duplicates->len; i++)
        {
          const BtDoctorDuplicate *x = &g_array_index (r->duplicates, BtDoctorDuplicate, i);
          const char *a = bt_doctor_report_path (r, x->a), *b = bt_doctor_report_path (r, x->b);
          if ((g_str_equal (a, fx.copy[d]) && g_str_equal (b, fx.copy_of[d])) ||
              (g_str_equal (b, fx.copy[d]) && g_str_equal (a, fx.copy_of[d])))
            {
              found = TRUE;
              g_assert_true (bt_doctor_duplicate_is_leakage (r, x));
              g_assert_false (bt_doctor_duplicate_is_conflict (r, x));
            }
        }
      g_assert_true (found);
    }

  /* the blanks: low contrast and blurry, one dark and one overexposed */
  for (int b = 0; b < 2; b++)
    {
      gboolean found = FALSE;
      for (guint i = 0; i < r->quality->len; i++)
        {
          const BtDoctorQuality *q = &g_array_index (r->quality, BtDoctorQuality, i);
          if (!g_str_equal (bt_doctor_report_path (r, q->item), fx.blank[b]))
            continue;
          found = TRUE;
          g_assert_true (q->problems & BT_DOCTOR_LOW_CONTRAST);
          g_assert_true (q->problems & BT_DOCTOR_BLURRY);
          g_assert_true (q->problems & (b == 0 ? BT_DOCTOR_DARK : BT_DOCTOR_OVEREXPOSED));
          g_assert_cmpuint (i, <, 2);   /* the worst two */
        }
      g_assert_true (found);
    }
  /* the drawn shapes are not poor-quality images */
  g_assert_cmpuint (r->quality->len, <=, 2 + 5);

  /* the blanks and the noise images stand apart from every shape, although the noise images
   * are each other's nearest neighbours */
  const char *odd[2 + N_NOISE] = { fx.blank[0], fx.blank[1] };
  for (int k = 0; k < N_NOISE; k++)
    odd[2 + k] = fx.noise[k];
  for (int b = 0; b < 2 + N_NOISE; b++)
    {
      gboolean found = FALSE;
      for (guint i = 0; i < MIN (r->outliers->len, 2 + N_NOISE + 4); i++)
        found |= g_str_equal (bt_doctor_report_path (r, g_array_index (r->outliers, BtDoctorOutlier, i).item), odd[b]);
      if (!found)
        g_test_message ("%s is not among the first outliers", odd[b]);
      g_assert_true (found);
    }
}

/* The same seed, the same report, whether decoding and the near-duplicate tables run on three
 * threads or on one. */
static void
test_deterministic (void)
{
  g_autoptr (BtDoctorInput) in = bt_doctor_input_new (fx.project);
  int threads = test_doctor_set_threads (3);
  g_autoptr (BtDoctorReport) r1 = run_doctor (in, 5);
  test_doctor_set_threads (1);
  g_autoptr (BtDoctorReport) r2 = run_doctor (in, 5);
  test_doctor_set_threads (threads);
  g_autofree char *j1 = bt_doctor_report_to_json (r1);
  g_autofree char *j2 = bt_doctor_report_to_json (r2);
  g_assert_cmpstr (j1, ==, j2);
}

static void
test_cancel (void)
{
  g_autoptr (BtDoctorInput) in = bt_doctor_input_new (fx.project);
  g_autoptr (GCancellable) cancel = g_cancellable_new ();
  g_cancellable_cancel (cancel);
  g_autoptr (GError) error = NULL;
  BtDoctorReport *r = bt_doctor_run (in, NULL, NULL, NULL, cancel, &error);
  g_assert_null (r);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

/* A strict schema check, in Python's json (the CLI's output must be one JSON object). */
static const char *schema_check =
  "import json, sys\n"
  "r = json.loads(sys.stdin.read())\n"
  "assert sorted(r) == ['label_issues', 'near_duplicates', 'outliers', 'quality'], sorted(r)\n"
  "splits = {'train', 'val', 'test'}\n"
  "for x in r['label_issues']:\n"
  "    assert sorted(x) == ['image', 'label', 'score', 'suggested'], x\n"
  "    assert isinstance(x['image'], str) and isinstance(x['label'], str) and isinstance(x['suggested'], str)\n"
  "    assert 0 <= x['score'] <= 1 and x['label'] != x['suggested']\n"
  "s = [x['score'] for x in r['label_issues']]; assert s == sorted(s, reverse=True)\n"
  "for x in r['near_duplicates']:\n"
  "    assert sorted(x) == ['distance', 'images', 'labels', 'splits'], x\n"
  "    assert len(x['images']) == 2 and len(x['splits']) == 2 and len(x['labels']) == 2\n"
  "    assert set(x['splits']) <= splits and 0 <= x['distance'] <= 1\n"
  "d = [x['distance'] for x in r['near_duplicates']]; assert d == sorted(d)\n"
  "for x in r['outliers']:\n"
  "    assert sorted(x) == ['image', 'score'] and 0 <= x['score'] <= 1, x\n"
  "o = [x['score'] for x in r['outliers']]; assert o == sorted(o, reverse=True)\n"
  "ok = {'dark', 'overexposed', 'low-contrast', 'blurry', 'tiny', 'extreme-aspect'}\n"
  "for x in r['quality']:\n"
  "    assert sorted(x) == ['image', 'problems'] and x['problems'] and set(x['problems']) <= ok, x\n"
  "print(len(r['label_issues']), len(r['near_duplicates']), len(r['outliers']), len(r['quality']))\n";

static void
test_cli_json (void)
{
  const char *build = g_getenv ("BOTTEGA_BUILD_ROOT");
  if (build == NULL)
    {
      g_test_skip ("BOTTEGA_BUILD_ROOT is not set; run through meson test");
      return;
    }
  if (!g_file_test ("/usr/bin/python3", G_FILE_TEST_IS_EXECUTABLE))
    {
      g_test_skip ("/usr/bin/python3 is not installed; the JSON check needs it");
      return;
    }
  g_autofree char *cli = g_build_filename (build, "src", "cli", "bottega-cli", NULL);
  const char *argv[] = { cli, "doctor", fx.dir, "--json", "--seed", "5", NULL };
  g_autofree char *out = NULL, *err = NULL;
  int status = 0;
  g_autoptr (GError) error = NULL;
  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &status, &error));
  g_assert_no_error (error);
  g_test_message ("stderr: %s", err);
  g_assert_true (g_spawn_check_wait_status (status, &error));   /* exit 0 although it found things */
  g_assert_no_error (error);

  /* the CLI prints exactly the library's report for that seed */
  g_autoptr (BtDoctorInput) in = bt_doctor_input_new (fx.project);
  g_autoptr (BtDoctorReport) r = run_doctor (in, 5);
  g_autofree char *json = bt_doctor_report_to_json (r);
  g_assert_cmpstr (out, ==, json);

  const char *py[] = { "/usr/bin/python3", "-c", schema_check, NULL };
  g_autoptr (GSubprocess) p = g_subprocess_newv (py, G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE
                                                 | G_SUBPROCESS_FLAGS_STDERR_MERGE, &error);
  g_assert_no_error (error);
  g_autofree char *py_out = NULL;
  g_assert_true (g_subprocess_communicate_utf8 (p, out, NULL, &py_out, NULL, &error));
  g_assert_no_error (error);
  g_test_message ("schema check: %s", py_out);
  g_assert_true (g_subprocess_get_successful (p));

  /* a flipped image appears with its path as the project records it */
  g_autofree char *needle = g_strdup_printf ("\"image\":\"%s\"", fx.flipped[0]);
  g_assert_nonnull (strstr (out, needle));

  /* the readable report names the counts; bad usage is exit 2 */
  const char *argv2[] = { cli, "doctor", fx.dir, NULL };
  g_autofree char *text = NULL;
  g_assert_true (g_spawn_sync (NULL, (char **) argv2, NULL, G_SPAWN_DEFAULT, NULL, NULL, &text, NULL, &status, &error));
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  g_assert_nonnull (strstr (text, fx.flipped[0]));
  const char *argv3[] = { cli, "doctor", fx.dir, "--folds", "1", NULL };
  g_assert_true (g_spawn_sync (NULL, (char **) argv3, NULL, G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL,
                               NULL, NULL, NULL, NULL, &status, &error));
  g_assert_cmpint (WEXITSTATUS (status), ==, 2);
}

/* A transfer project: the features are the backbone's embeddings, kept in the project's
 * embedding cache, so a second run embeds nothing and reports the same label issues. */
static void
test_embedding_cache (void)
{
  g_autoptr (GError) error = NULL;
  const char *shared = g_getenv ("BOTTEGA_SHARED_DIR");
  g_autofree char *models = shared ? g_build_filename (shared, "models", NULL) : NULL;
  if (models == NULL || !g_file_test (models, G_FILE_TEST_IS_DIR))
    {
      g_test_skip ("no ../shared/models (BOTTEGA_SHARED_DIR) with the backbones");
      return;
    }
  g_autofree char *dir = g_dir_make_tmp ("bt-doctor-embed-XXXXXX", &error);
  g_assert_no_error (error);
  g_autoptr (BtProject) project = bt_sample_create_shapes (dir, 8, 64, 5, NULL, &error);
  g_assert_no_error (error);
  BtProjectSettings s = { 0 };
  bt_project_settings_copy (&s, bt_project_get_settings (project));
  g_free (s.preset);
  s.preset = g_strdup ("transfer");
  g_assert_true (bt_project_update_settings (project, &s, &error));
  bt_project_settings_clear (&s);

  guint n = g_list_model_get_n_items (bt_project_get_items (project));
  g_autoptr (BtDoctorInput) in1 = bt_doctor_input_new (project);
  g_autoptr (BtDoctorReport) r1 = run_doctor (in1, 1);
  g_assert_true (r1->used_backbone);
  g_assert_cmpuint (r1->n_embedded, ==, n);
  g_autoptr (BtDoctorInput) in2 = bt_doctor_input_new (project);
  g_autoptr (BtDoctorReport) r2 = run_doctor (in2, 1);
  g_assert_cmpuint (r2->n_embedded, ==, 0);
  g_autofree char *j1 = bt_doctor_report_to_json (r1);
  g_autofree char *j2 = bt_doctor_report_to_json (r2);
  g_assert_cmpstr (j1, ==, j2);
  g_clear_object (&project);
  const char *rm[] = { "rm", "-rf", dir, NULL };
  g_spawn_sync (NULL, (char **) rm, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, NULL, NULL);
}

static void
relabel (const char *path, const char *cls)
{
  g_autoptr (GError) error = NULL;
  BtItem *items[1] = { bt_project_find_item (fx.project, path) };
  g_assert_nonnull (items[0]);
  g_assert_true (bt_project_relabel (fx.project, items, 1, cls, &error));
  g_assert_no_error (error);
}

/* Five relabels (two flips put back, a planted copy given another class than its original, two
 * shapes moved), then a run from the cache: every image and the pairs come from the cache, the
 * labels do not: its report is a cold run's with the new labels (and not the first run's). */
static void
test_cache_relabels (void)
{
  g_autofree char *cache = g_build_filename (fx.dir, "cache-relabels", NULL);
  g_autoptr (BtDoctorInput) in1 = bt_doctor_input_new (fx.project);
  bt_doctor_input_set_cache_dir (in1, cache);
  g_autoptr (BtDoctorReport) r1 = run_doctor (in1, 7);
  g_assert_cmpuint (r1->n_cached, ==, 0);
  g_assert_false (r1->duplicates_cached);

  const char *moved[5] = { fx.flipped[0], fx.flipped[1], fx.copy[0], fx.noise[0], fx.blank[1] };
  g_autofree char **was = g_new0 (char *, 5);
  for (int k = 0; k < 5; k++)
    was[k] = g_strdup (bt_item_get_class_name (bt_project_find_item (fx.project, moved[k])));
  relabel (fx.flipped[0], classes[fx.flipped_true[0]]);
  relabel (fx.flipped[1], classes[fx.flipped_true[1]]);
  relabel (fx.copy[0], g_strcmp0 (was[2], "star") == 0 ? "circle" : "star");
  relabel (fx.noise[0], "triangle");
  relabel (fx.blank[1], "circle");

  g_autoptr (BtDoctorInput) in2 = bt_doctor_input_new (fx.project);
  guint n = bt_doctor_input_get_n_items (in2);
  bt_doctor_input_set_cache_dir (in2, cache);
  g_autoptr (BtDoctorReport) r2 = run_doctor (in2, 7);
  g_assert_cmpuint (r2->n_cached, ==, n);
  g_assert_true (r2->duplicates_cached);
  g_autoptr (BtDoctorInput) in3 = bt_doctor_input_new (fx.project);
  bt_doctor_input_set_cache_dir (in3, NULL);
  g_autoptr (BtDoctorReport) r3 = run_doctor (in3, 7);
  g_assert_cmpuint (r3->n_cached, ==, 0);
  g_autofree char *j1 = bt_doctor_report_to_json (r1);
  g_autofree char *j2 = bt_doctor_report_to_json (r2);
  g_autofree char *j3 = bt_doctor_report_to_json (r3);
  g_assert_cmpstr (j2, ==, j3);
  g_assert_cmpstr (j2, !=, j1);
  /* the copy now carries another label than its original: a conflict, from the new labels */
  gboolean conflict = FALSE;
  for (guint i = 0; i < r2->duplicates->len; i++)
    {
      const BtDoctorDuplicate *d = &g_array_index (r2->duplicates, BtDoctorDuplicate, i);
      if (g_str_equal (bt_doctor_report_path (r2, d->a), fx.copy[0]) ||
          g_str_equal (bt_doctor_report_path (r2, d->b), fx.copy[0]))
        conflict = bt_doctor_duplicate_is_conflict (r2, d);
    }
  g_assert_true (conflict);

  for (int k = 0; k < 5; k++)
    {
      relabel (moved[k], was[k]);
      g_free (was[k]);
    }
}

/* 32×32 24-bit BMP, grey `level` with a diagonal ramp: the same byte size whatever the level */
static GBytes *
bmp_bytes (int level)
{
  const int W = 32, H = 32, size = 54 + W * H * 3;
  guint8 *b = g_malloc0 (size);
  const guint32 le[] = { GUINT32_TO_LE (size), 0, GUINT32_TO_LE (54), GUINT32_TO_LE (40), GUINT32_TO_LE (W),
                         GUINT32_TO_LE (H) };
  b[0] = 'B';
  b[1] = 'M';
  memcpy (b + 2, &le[0], 4);
  memcpy (b + 10, &le[2], 4);
  memcpy (b + 14, &le[3], 4);
  memcpy (b + 18, &le[4], 4);
  memcpy (b + 22, &le[5], 4);
  b[26] = 1;    /* planes */
  b[28] = 24;   /* bits per pixel */
  for (int i = 0; i < W * H; i++)
    memset (b + 54 + 3 * i, CLAMP (level + (i % W + i / W) / 2, 0, 255), 3);
  return g_bytes_new_take (b, size);
}

/* An image rewritten in place with other pixels but the same size, and its modification time
 * set back, is decoded again (it is dark now), not taken from the cache; the others are. */
static void
test_cache_replaced (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *cache = g_build_filename (fx.dir, "cache-replaced", NULL);
  g_autofree char *file = g_build_filename (fx.dir, "replaced.png", NULL);   /* a BMP; found by content */
  g_autoptr (GBytes) light = bmp_bytes (120), dark = bmp_bytes (0);
  g_assert_true (g_file_set_contents (file, g_bytes_get_data (light, NULL), (gssize) g_bytes_get_size (light), &error));
  BtDoctorOptions opts;
  bt_doctor_options_init (&opts);
  opts.folds = 2;
  opts.epochs = 1;   /* the labels do not matter here */

  BtDoctorReport *r[2] = { NULL, NULL };
  struct stat before;
  for (int run = 0; run < 2; run++)
    {
      g_autoptr (BtDoctorInput) in = bt_doctor_input_new (fx.project);
      bt_doctor_input_add (in, file, 0, BT_SPLIT_TRAIN);
      bt_doctor_input_set_cache_dir (in, cache);
      r[run] = bt_doctor_run (in, &opts, NULL, NULL, NULL, &error);
      g_assert_no_error (error);
      guint n = bt_doctor_input_get_n_items (in), last = n - 1;
      gboolean dark_found = FALSE;
      for (guint i = 0; i < r[run]->quality->len; i++)
        {
          const BtDoctorQuality *q = &g_array_index (r[run]->quality, BtDoctorQuality, i);
          dark_found |= q->item == last && (q->problems & BT_DOCTOR_DARK);
        }
      if (run == 0)
        {
          g_assert_cmpuint (r[run]->n_cached, ==, 0);
          g_assert_false (dark_found);
          /* rewritten in place: same inode, same size, the old modification time */
          g_assert_cmpint (stat (file, &before), ==, 0);
          g_usleep (20000);   /* past the file system's time granularity */
          int fd = open (file, O_WRONLY);
          g_assert_cmpint (fd, >=, 0);
          g_assert_cmpint (write (fd, g_bytes_get_data (dark, NULL), g_bytes_get_size (dark)), ==,
                           (gssize) g_bytes_get_size (dark));
          close (fd);
          const struct timespec times[2] = { before.st_atim, before.st_mtim };
          g_assert_cmpint (utimensat (AT_FDCWD, file, times, 0), ==, 0);
          struct stat after;
          g_assert_cmpint (stat (file, &after), ==, 0);
          g_assert_cmpint (after.st_size, ==, before.st_size);
          g_assert_cmpint (after.st_ino, ==, before.st_ino);
          g_assert_cmpint (after.st_mtim.tv_nsec, ==, before.st_mtim.tv_nsec);
        }
      else
        {
          g_assert_cmpuint (r[run]->n_cached, ==, n - 1);
          g_assert_true (dark_found);
          g_assert_false (r[run]->duplicates_cached);   /* the set of files changed */
        }
    }
  bt_doctor_report_free (r[0]);
  bt_doctor_report_free (r[1]);
  g_unlink (file);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  /* the backbones beside the checkout, for /doctor/embedding-cache (before any thread starts) */
  if (g_getenv ("BOTTEGA_SHARED_DIR") != NULL)
    {
      g_autofree char *models = g_build_filename (g_getenv ("BOTTEGA_SHARED_DIR"), "models", NULL);
      g_setenv ("BOTTEGA_BACKBONE_DIR", models, TRUE);
    }
  fixture_build ();
  g_test_add_func ("/doctor/out-of-fold", test_doctor_out_of_fold);   /* test-doctor-folds.c */
  g_test_add_func ("/doctor/findings", test_findings);
  g_test_add_func ("/doctor/deterministic", test_deterministic);
  g_test_add_func ("/doctor/cancel", test_cancel);
  g_test_add_func ("/doctor/cli-json", test_cli_json);
  g_test_add_func ("/doctor/embedding-cache", test_embedding_cache);
  g_test_add_func ("/doctor/cache-relabels", test_cache_relabels);
  g_test_add_func ("/doctor/cache-replaced", test_cache_replaced);
  int status = g_test_run ();
  g_clear_object (&fx.project);
  if (fx.dir != NULL)
    {
      /* remove the folder tree */
      const char *rm[] = { "rm", "-rf", fx.dir, NULL };
      g_spawn_sync (NULL, (char **) rm, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, NULL, NULL);
    }
  return status;
}
