/* fuzz-tflite.c: libFuzzer target for the TFLite reader: any bytes must load cleanly or fail
 * with an error, and a model that loads must run without touching memory it does not own. */
#include "config.h"

#include "engine/bt-tflite.h"

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
  g_autoptr(GBytes) bytes = g_bytes_new_static (data, size);
  g_autoptr(GError) error = NULL;
  g_autoptr(BtTflite) model = bt_tflite_load_bytes (bytes, &error);
  g_autoptr(BtTfliteExec) exec = NULL;
  g_autofree float *x = NULL;
  int h, w, c, dim;
  gsize n;

  if (model == NULL)
    {
      g_assert (error != NULL);
      return 0;
    }
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
