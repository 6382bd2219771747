/* fuzz-tflite.c: libFuzzer target for the TFLite reader and the metadata parsers of the Test
 * page's .tflite classifier: any bytes must load cleanly or fail with an error, and a model that
 * loads must run without touching memory it does not own. Input that starts with '[' or '{' is
 * metadata JSON and goes to the class-name, preprocessing and thresholds parsers directly; a
 * model's own "labels", "preprocessing" and "thresholds" entries go there too. */
#include "config.h"

#include <math.h>
#include <string.h>
#include "engine/bt-tflite.h"
#include "training/bt-tflite-classifier.h"

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

/* Both parsers on one JSON text: a result or an error, never both or neither. */
static void
parse_metadata (const char *json, gsize len)
{
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) names = bt_tflite_labels_from_json (json, len, &error);
  BtPreprocess prep;

  g_assert ((names == NULL) == (error != NULL));
  for (guint k = 0; names != NULL && names[k] != NULL; k++)
    g_assert (g_utf8_validate (names[k], -1, NULL) && names[k][0] != '\0');
  g_clear_error (&error);
  if (bt_tflite_preprocessing_from_json (json, len, &prep, &error))
    g_assert (error == NULL && prep.width > 0 && prep.height > 0 && (prep.channels == 1 || prep.channels == 3));
  else
    g_assert (error != NULL);
  g_clear_error (&error);
  {
    /* the thresholds entry, for three classes named as in the seed */
    static const char *const classes[] = { "a", "b", "c", NULL };
    BtCalibration calib;
    g_autofree double *t = NULL;
    if (bt_tflite_thresholds_from_json (json, len, classes, 3, &calib, &t, &error))
      {
        g_assert (error == NULL && t != NULL);
        g_assert (calib.temperature >= BT_TEMPERATURE_MIN && calib.temperature <= BT_TEMPERATURE_MAX);
        g_assert (isnan (calib.unknown_threshold) || isfinite (calib.unknown_threshold));
        for (int k = 0; k < 3; k++)
          g_assert (isnan (t[k]) || (t[k] > 0 && t[k] <= 1));
      }
    else
      g_assert (error != NULL && t == NULL);
  }
}

static void
parse_entry (const BtTflite *model, const char *name)
{
  g_autoptr(GBytes) entry = bt_tflite_get_metadata (model, name);
  gsize len;
  const char *json;

  if (entry == NULL)
    return;
  json = g_bytes_get_data (entry, &len);
  parse_metadata (json, len);
}

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(BtTflite) model = NULL;
  g_autoptr(BtTfliteExec) exec = NULL;
  g_autofree float *x = NULL;
  int h, w, c, dim;
  gsize n;

  if (size > 0 && (data[0] == '[' || data[0] == '{'))
    {
      /* a copy of its own: the parsers must not read past len, and ASan sees it if they do */
      g_autofree char *json = g_memdup2 (data, size);
      parse_metadata (json, size);
      return 0;
    }
  bytes = g_bytes_new_static (data, size);
  model = bt_tflite_load_bytes (bytes, &error);
  if (model == NULL)
    {
      g_assert (error != NULL);
      return 0;
    }
  parse_entry (model, "labels");
  parse_entry (model, "preprocessing");
  parse_entry (model, "thresholds");
  bt_tflite_input_shape (model, &h, &w, &c);
  /* Keep each run fast: big inputs only exercise the parser. */
  if ((gsize) h * w * c > (1u << 16) || bt_tflite_n_operators (model) > 64)
    return 0;
  exec = bt_tflite_exec_new (model, NULL);
  if (exec == NULL)
    return 0;
  x = g_new0 (float, (gsize) h * w * c);
  bt_tflite_exec_run (exec, x, -1, &n, NULL);
  if (bt_tflite_find_embedding_cut (model, &dim, NULL) >= 0)
    bt_tflite_exec_run (exec, x, bt_tflite_find_embedding_cut (model, &dim, NULL), &n, NULL);
  return 0;
}
