/* bt-cli-explain.c: `explain MODEL IMAGE` (#23) — where the model looked: a heat map by Grad-CAM
 * or occlusion (bt-explain.c), as an overlay PNG (--out), as JSON (--json: the heat at the
 * image's own resolution, row-major, summing to 1), or in words (the hottest area). */
#include "config.h"

#include <cairo.h>
#include <glib/gi18n.h>
#include <math.h>

#include "cli/bt-cli-private.h"
#include "training/bt-explain.h"

#define OVERLAY_OPACITY 0.55

/* The image with the heat laid over it, written as PNG. */
static gboolean
write_overlay (const char *path, const BtImage *img, const BtHeatmap *map, GError **error)
{
  g_autofree guint8 *rgba = bt_heatmap_to_rgba (map, OVERLAY_OPACITY);
  cairo_surface_t *surface = cairo_image_surface_create (CAIRO_FORMAT_RGB24, img->width, img->height);
  int stride = cairo_image_surface_get_stride (surface);
  guint8 *data = cairo_image_surface_get_data (surface);
  cairo_status_t status;

  for (int y = 0; y < img->height; y++)
    for (int x = 0; x < img->width; x++)
      {
        gsize i = (gsize) y * img->width + x;
        const guint8 *h = rgba + 4 * i;
        double a = h[3] / 255.0;
        guint8 rgb[3];
        for (int c = 0; c < 3; c++)
          {
            guint8 v = img->pixels[i * img->channels + (img->channels == 3 ? c : 0)];
            rgb[c] = (guint8) lround (h[c] * a + v * (1 - a));
          }
        *(guint32 *) (data + (gsize) y * stride + 4 * x) = (0xffu << 24) | (rgb[0] << 16) | (rgb[1] << 8) | rgb[2];
      }
  cairo_surface_mark_dirty (surface);
  status = cairo_surface_write_to_png (surface, path);
  cairo_surface_destroy (surface);
  if (status != CAIRO_STATUS_SUCCESS)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_FAILED, _("could not write the PNG: %s"),
                   cairo_status_to_string (status));
      return FALSE;
    }
  return TRUE;
}

static void
print_json (const BtHeatmap *map, BtModel *model)
{
  g_autoptr(GString) json = g_string_new ("{\"class\": ");

  bt_json_append_string (json, model->class_names[map->class_index]);
  g_string_append_printf (json, ", \"method\": \"%s\", \"width\": %d, \"height\": %d, \"heat\": [",
                          bt_explain_method_to_string (map->method), map->width, map->height);
  for (gsize i = 0; i < (gsize) map->width * map->height; i++)
    g_string_append_printf (json, i ? ",%.6g" : "%.6g", map->heat[i]);
  g_string_append (json, "]}\n");
  fputs (json->str, stdout);
}

/* In words: the box around the pixels at least half as hot as the hottest. */
static void
print_words (const BtHeatmap *map, BtModel *model)
{
  float top = 0;
  int x0 = map->width, y0 = map->height, x1 = -1, y1 = -1;

  for (gsize i = 0; i < (gsize) map->width * map->height; i++)
    top = MAX (top, map->heat[i]);
  for (int y = 0; y < map->height; y++)
    for (int x = 0; x < map->width; x++)
      if (top > 0 && map->heat[(gsize) y * map->width + x] >= top / 2)
        {
          x0 = MIN (x0, x);
          y0 = MIN (y0, y);
          x1 = MAX (x1, x);
          y1 = MAX (y1, y);
        }
  /* Translators: explain's summary, e.g. "“cat” (Grad-CAM): it looked most at x 10–52, y 4–40 of 64×64" */
  printf (_("“%s” (%s): it looked most at x %d–%d, y %d–%d of %d×%d\n"), model->class_names[map->class_index],
          map->method == BT_EXPLAIN_GRADCAM ? "Grad-CAM" : _("occlusion"), x0, x1, y0, y1, map->width, map->height);
}

int
bt_cli_explain (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(BtModel) model = NULL;
  g_autoptr(BtImage) img = NULL;
  g_autoptr(BtHeatmap) map = NULL;
  g_autofree char *class_name = NULL, *method_name = NULL, *out_path = NULL;
  BtExplainMethod method = BT_EXPLAIN_OCCLUSION;   /* the precise one (docs/PERFORMANCE.md) */
  gboolean as_json = FALSE;
  int class_index = -1;
  GOptionEntry entries[] = {
    { "class", 0, 0, G_OPTION_ARG_STRING, &class_name, N_("Explain this class (default: the predicted one)"), N_("NAME") },
    { "method", 0, 0, G_OPTION_ARG_STRING, &method_name, N_("occlusion (default: precise), gradcam (instant; CNNs and transfer models) or auto (Grad-CAM for the CNNs)"), N_("METHOD") },
    { "out", 'o', 0, G_OPTION_ARG_FILENAME, &out_path, N_("Write the image with the heat map over it to FILE (PNG)"), N_("FILE") },
    { "json", 0, 0, G_OPTION_ARG_NONE, &as_json, N_("Print JSON for scripts (the heat of every pixel)"), NULL },
    { NULL }
  };

  if (!bt_cli_parse_options ("explain", _("MODEL IMAGE — where the model looked to decide"), NULL, entries, NULL, &argc, &argv))
    return BT_CLI_EXIT_USAGE;
  if (argc < 2)
    return bt_cli_usage ("explain", _("missing model file"));
  if (argc < 3)
    return bt_cli_usage ("explain", _("missing image file"));
  if (argc > 3)
    return bt_cli_usage ("explain", _("one image at a time"));
  if (method_name != NULL && !bt_explain_method_from_string (method_name, &method))
    return bt_cli_usage ("explain", _("unknown method “%s” (gradcam, occlusion or auto)"), method_name);

  model = bt_model_load (argv[1], &error);
  if (model == NULL)
    return bt_cli_fail ("%s: %s", argv[1], error->message);
  if (class_name != NULL)
    {
      for (int i = 0; model->class_names[i] != NULL; i++)
        if (g_str_equal (model->class_names[i], class_name))
          class_index = i;
      if (class_index < 0)
        return bt_cli_usage ("explain", _("the model has no class “%s”"), class_name);
    }
  map = bt_explain_file (model, argv[2], class_index, method, 0, &img, NULL, &error);
  if (map == NULL)
    return bt_cli_fail ("%s: %s", argv[2], error->message);
  if (out_path != NULL && !write_overlay (out_path, img, map, &error))
    return bt_cli_fail ("%s: %s", out_path, error->message);
  if (as_json)
    print_json (map, model);
  else
    print_words (map, model);
  return BT_CLI_EXIT_OK;
}
