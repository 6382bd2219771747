/* bench-unknown-features.c: MODEL < LIST > OUT.bin — for each image path on stdin, one row of
 * float32: decoded (1 or 0), the logits, the features the unknown score reads (bt_net_features:
 * the first dense layer's input) and the last dense layer's input (the penultimate activations),
 * after an int32 header of the three lengths. bench-unknown.sh (BENCH_LAYERS=1) compares the two
 * layers' centroid distances with it. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "engine/bt-engine-private.h"
#include "training/bt-training-private.h"

int
main (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(BtModel) model = NULL;
  const BtLayer *last;
  char line[8192];
  gint32 dims[3];
  g_autofree float *x = NULL;
  gsize in;

  if (argc != 2)
    {
      g_printerr ("usage: %s MODEL < LIST > OUT.bin\n", argv[0]);
      return 2;
    }
  model = bt_model_load (argv[1], &error);
  if (model == NULL || model->backbone_name != NULL)
    {
      g_printerr ("%s: %s\n", argv[1], model == NULL ? error->message : "transfer models are not handled here");
      return 1;
    }
  last = bt_net_layer (model->net, model->net->layers->len - 1);
  g_assert (last->kind == BT_LAYER_DENSE && last->src >= 0);
  dims[0] = bt_net_n_classes (model->net);
  dims[1] = bt_net_feature_dim (model->net);
  dims[2] = (gint32) (last->w_len / last->c);
  fwrite (dims, sizeof dims, 1, stdout);
  in = (gsize) model->prep.channels * model->prep.height * model->prep.width;
  x = g_new (float, in);
  while (fgets (line, sizeof line, stdin) != NULL)
    {
      float ok;
      g_strchomp (line);
      ok = bt_prepare_image_file (&model->prep, line, x, NULL, NULL) ? 1.0f : 0.0f;
      if (ok == 0.0f)
        memset (x, 0, sizeof (float) * in);
      if (bt_net_forward (model->net, x, 1, FALSE, &error) == NULL)
        {
          g_printerr ("%s: %s\n", line, error->message);
          return 1;
        }
      fwrite (&ok, sizeof ok, 1, stdout);
      fwrite (bt_net_logits (model->net), sizeof (float), dims[0], stdout);
      fwrite (bt_net_features (model->net), sizeof (float), dims[1], stdout);
      fwrite (bt_net_layer (model->net, last->src)->out, sizeof (float), dims[2], stdout);
    }
  return 0;
}
