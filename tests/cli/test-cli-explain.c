/* test-cli-explain.c: `bottega-cli explain` (#23) on a Small CNN trained here on the marker set
 * (only a 6×6 cross or ring decides the class): the JSON's shape and sums, the heat landing on
 * the marker with both methods, --class, the --out PNG, and refusals with their exit statuses. */
#include "config.h"

#include <cairo.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "training/bt-training.h"
#include "training/bt-test-markers.h"
#include "bt-test-cli.h"
#include "bt-test-fs.h"

#define SIZE 24

static char *cli_path;
static char *work_dir;
static char *model_file, *mlp_file, *image_file;
static int marker_x, marker_y, marker_class;

G_GNUC_NULL_TERMINATED static int
run_cli (char **out, char **err, ...)
{
  g_auto(GStrv) envp = g_environ_setenv (g_get_environ (), "LC_ALL", "C.UTF-8", TRUE);
  va_list ap;
  int status;

  va_start (ap, err);
  status = bt_test_run_cliv (cli_path, work_dir, envp, out, err, ap);
  va_end (ap);
  return status;
}

/* The "heat" array of explain's JSON, with its width, height, class and method checked. */
static GArray *
parse_heat (const char *json, const char *want_class, const char *want_method)
{
  g_autofree char *cls = g_strdup_printf ("\"class\": \"%s\"", want_class);
  g_autofree char *method = g_strdup_printf ("\"method\": \"%s\"", want_method);
  g_autofree char *size = g_strdup_printf ("\"width\": %d, \"height\": %d", SIZE, SIZE);
  GArray *heat = g_array_new (FALSE, FALSE, sizeof (double));
  const char *p = strstr (json, "\"heat\": [");

  g_assert_nonnull (strstr (json, cls));
  g_assert_nonnull (strstr (json, method));
  g_assert_nonnull (strstr (json, size));
  g_assert_nonnull (p);
  p += strlen ("\"heat\": [");
  while (*p != ']')
    {
      char *end;
      double v = g_ascii_strtod (p, &end);
      g_assert_true (end != p);
      g_array_append_val (heat, v);
      p = end;
      if (*p == ',')
        p++;
    }
  g_assert_cmpstr (p, ==, "]}\n");
  return heat;
}

static double
marker_share (GArray *heat)
{
  double sum = 0, inside = 0;

  g_assert_cmpuint (heat->len, ==, SIZE * SIZE);
  for (guint i = 0; i < heat->len; i++)
    {
      double v = g_array_index (heat, double, i);
      int x = i % SIZE, y = i / SIZE;
      g_assert_cmpfloat (v, >=, 0);
      sum += v;
      if (x >= marker_x - 2 && x < marker_x + MARKER + 2 && y >= marker_y - 2 && y < marker_y + MARKER + 2)
        inside += v;
    }
  g_assert_cmpfloat_with_epsilon (sum, 1.0, 1e-3);
  return inside;
}

static void
test_json (void)
{
  const char *names[] = { "cross", "ring" };
  g_autofree char *out = NULL, *out2 = NULL, *out3 = NULL;
  g_autoptr(GArray) grad = NULL, occ = NULL, other = NULL;

  if (cli_path == NULL)
    return;
  g_assert_cmpint (run_cli (&out, NULL, "explain", model_file, image_file, "--json", "--method", "gradcam", NULL), ==, 0);
  grad = parse_heat (out, names[marker_class], "gradcam");
  /* its quality over many images is test-explain's (one image says little for Grad-CAM) */
  g_test_message ("Grad-CAM share in the marker box: %.3f", marker_share (grad));

  /* occlusion is the default */
  g_assert_cmpint (run_cli (&out2, NULL, "explain", model_file, image_file, "--json", NULL), ==, 0);
  occ = parse_heat (out2, names[marker_class], "occlusion");
  g_test_message ("occlusion share in the marker box: %.3f", marker_share (occ));
  g_assert_cmpfloat (marker_share (occ), >=, 0.5);

  /* the other class, by name */
  g_assert_cmpint (run_cli (&out3, NULL, "explain", model_file, image_file, "--json", "--class", names[1 - marker_class],
                            "--method", "occlusion", NULL), ==, 0);
  other = parse_heat (out3, names[1 - marker_class], "occlusion");
  marker_share (other);
}

static void
test_png_and_words (void)
{
  g_autofree char *png = NULL, *out = NULL;
  cairo_surface_t *surface;

  if (cli_path == NULL)
    return;
  png = g_build_filename (work_dir, "heat.png", NULL);
  g_assert_cmpint (run_cli (&out, NULL, "explain", model_file, image_file, "--out", png, NULL), ==, 0);
  g_assert_nonnull (strstr (out, "it looked most at"));
  surface = cairo_image_surface_create_from_png (png);
  g_assert_cmpint (cairo_surface_status (surface), ==, CAIRO_STATUS_SUCCESS);
  g_assert_cmpint (cairo_image_surface_get_width (surface), ==, SIZE);
  g_assert_cmpint (cairo_image_surface_get_height (surface), ==, SIZE);
  cairo_surface_destroy (surface);
}

static void
test_refusals (void)
{
  g_autofree char *e1 = NULL, *e2 = NULL, *e3 = NULL, *e4 = NULL, *o4 = NULL;
  g_autofree char *missing = NULL;

  if (cli_path == NULL)
    return;
  g_assert_cmpint (run_cli (NULL, &e1, "explain", model_file, image_file, "--method", "magic", NULL), ==, 2);
  g_assert_nonnull (strstr (e1, "unknown method"));
  g_assert_cmpint (run_cli (NULL, &e2, "explain", model_file, image_file, "--class", "dog", NULL), ==, 2);
  g_assert_nonnull (strstr (e2, "no class"));
  missing = g_build_filename (work_dir, "nowhere.png", NULL);
  g_assert_cmpint (run_cli (NULL, &e3, "explain", model_file, missing, NULL), ==, 1);
  /* an MLP has no feature map: Grad-CAM is refused, occlusion (and auto) work */
  g_assert_cmpint (run_cli (NULL, &e4, "explain", mlp_file, image_file, "--method", "gradcam", NULL), ==, 1);
  g_assert_nonnull (strstr (e4, "Grad-CAM needs a convolutional network"));
  g_assert_cmpint (run_cli (&o4, NULL, "explain", mlp_file, image_file, "--json", "--method", "auto", NULL), ==, 0);
  g_assert_nonnull (strstr (o4, "\"method\": \"occlusion\""));
}

static void
write_image (const guint8 *grey)
{
  cairo_surface_t *s = cairo_image_surface_create (CAIRO_FORMAT_RGB24, SIZE, SIZE);
  guint8 *data = cairo_image_surface_get_data (s);
  int stride = cairo_image_surface_get_stride (s);

  for (int y = 0; y < SIZE; y++)
    for (int x = 0; x < SIZE; x++)
      {
        guint32 v = grey[y * SIZE + x];
        *(guint32 *) (data + y * stride + 4 * x) = (0xffu << 24) | (v << 16) | (v << 8) | v;
      }
  cairo_surface_mark_dirty (s);
  image_file = g_build_filename (work_dir, "marker.png", NULL);
  g_assert_cmpint (cairo_surface_write_to_png (s, image_file), ==, CAIRO_STATUS_SUCCESS);
  cairo_surface_destroy (s);
}

int
main (int argc, char **argv)
{
  int status;

  g_test_init (&argc, &argv, NULL);
  if (bt_test_cli_init ("bt-cli-explain-XXXXXX", &cli_path, &work_dir))
    {
      g_autoptr(BtModel) model = bt_test_marker_model (SIZE, 1600, 6, 3);
      g_autoptr(BtNet) mlp = bt_net_new_preset (BT_PRESET_MLP, SIZE, SIZE, 1, 2, 0.0f, 1, NULL);
      g_autoptr(GError) error = NULL;
      g_autofree guint8 *px = g_new (guint8, SIZE * SIZE);
      BtRng rng;

      model_file = g_build_filename (work_dir, "markers.bottega-model", NULL);
      g_assert_true (bt_model_save (model_file, model->net, (const char * const *) model->class_names, &model->prep,
                                    NULL, NULL, NULL, &error));
      g_assert_no_error (error);
      mlp_file = g_build_filename (work_dir, "mlp.bottega-model", NULL);
      g_assert_true (bt_model_save (mlp_file, mlp, (const char * const *) model->class_names, &model->prep,
                                    NULL, NULL, NULL, &error));
      g_assert_no_error (error);
      bt_rng_seed (&rng, 77);
      marker_class = bt_test_marker_image (&rng, SIZE, px, &marker_x, &marker_y);
      write_image (px);
    }
  else
    g_clear_pointer (&cli_path, g_free);

  g_test_add_func ("/cli/explain/json", test_json);
  g_test_add_func ("/cli/explain/png-words", test_png_and_words);
  g_test_add_func ("/cli/explain/refusals", test_refusals);
  status = g_test_run ();
  if (work_dir != NULL)
    bt_test_rm_rf (work_dir);
  return status;
}
