/* bench-onnx-write.c: writes the ONNX files bench-onnx-ort.sh times: a MobileNet V2 transfer model
 * (the TFLite backbone up to its embedding + a 1280 → 4 dense head, random weights) in both
 * forms, as Bottega's export writes them.
 *   bench-onnx-write BACKBONE.tflite OUT_DIR  →  OUT_DIR/bottega-fast.onnx, bottega-opencv.onnx */
#include "config.h"

#include <stdio.h>

#include "engine/bt-onnx.h"
#include "engine/bt-tflite.h"

int
main (int argc, char **argv)
{
  if (argc != 3)
    {
      fprintf (stderr, "usage: %s BACKBONE.tflite OUT_DIR\n", argv[0]);
      return 2;
    }
  g_autoptr(GError) error = NULL;
  g_autoptr(BtTflite) bb = bt_tflite_load (argv[1], &error);
  if (bb == NULL)
    {
      fprintf (stderr, "%s\n", error->message);
      return 1;
    }
  int h, w, c, dim;
  bt_tflite_input_shape (bb, &h, &w, &c);
  if (bt_tflite_find_embedding_cut (bb, &dim, &error) < 0)
    {
      fprintf (stderr, "%s\n", error->message);
      return 1;
    }
  g_autoptr(BtNet) head = bt_net_new_transfer (dim, 0, 4, 0.0f, 1, &error);
  if (head == NULL)
    {
      fprintf (stderr, "%s\n", error->message);
      return 1;
    }
  BtPreprocess prep;
  bt_preprocess_init_default (&prep, w, h, c);
  const char *names[] = { "a", "b", "c", "d", NULL };
  const struct { BtOnnxForm form; const char *file; } out[] = {
    { BT_ONNX_FORM_FAST, "bottega-fast.onnx" }, { BT_ONNX_FORM_OPENCV, "bottega-opencv.onnx" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (out); i++)
    {
      g_autoptr(GBytes) model = bt_onnx_export_net (head, names, &prep, argv[1], out[i].form, &error);
      g_autofree char *path = g_build_filename (argv[2], out[i].file, NULL);
      if (model == NULL ||
          !g_file_set_contents (path, g_bytes_get_data (model, NULL), (gssize) g_bytes_get_size (model), &error))
        {
          fprintf (stderr, "%s\n", error->message);
          return 1;
        }
      printf ("wrote %s (%zu bytes)\n", path, g_bytes_get_size (model));
    }
  return 0;
}
