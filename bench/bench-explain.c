/* bench-explain.c: #23's explanation quality bar — on the marker set (a 6×6 cross or ring at a
 * random place on textured noise decides the class), the share of heat inside the marker's box
 * padded by 2 px, averaged over 200 test images, for Grad-CAM and occlusion on a Small CNN
 * trained here; and the CPU time per map. Prints numbers, asserts nothing.
 * Usage: bench-explain [--size N] [--train N] [--epochs N] [--images N] */
#include "config.h"

#include <locale.h>
#include <math.h>
#include <time.h>

#include "training/bt-explain.h"
#include "training/bt-training.h"
#include "../tests/training/bt-test-markers.h"

static double
cpu_seconds (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int
main (int argc, char **argv)
{
  int size = 32, train = 3000, epochs = 8, images = 200;
  GOptionEntry entries[] = {
    { "size", 0, 0, G_OPTION_ARG_INT, &size, "Image side in pixels (default 32)", "N" },
    { "train", 0, 0, G_OPTION_ARG_INT, &train, "Training images (default 3000)", "N" },
    { "epochs", 0, 0, G_OPTION_ARG_INT, &epochs, "Epochs (default 8)", "N" },
    { "images", 0, 0, G_OPTION_ARG_INT, &images, "Test images (default 200)", "N" },
    { NULL }
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new ("— explanation quality on the marker set");
  g_autoptr(GError) error = NULL;
  BtExplainMethod methods[] = { BT_EXPLAIN_GRADCAM, BT_EXPLAIN_OCCLUSION };
  double t0;
  BtModel *model;

  setlocale (LC_ALL, "");
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || size < MARKER + 4)
    {
      g_printerr ("%s\n", error ? error->message : "size too small");
      return 2;
    }
  t0 = cpu_seconds ();
  model = bt_test_marker_model (size, train, epochs, 3);
  g_print ("Small CNN on %d×%d markers: %d training images × %d epochs, %.1f s CPU\n", size, size, train, epochs,
           cpu_seconds () - t0);
  g_print ("box (6×6 + 2 px each side) covers %.3f of the image\n",
           (double) (MARKER + 4) * (MARKER + 4) / (size * size));
  for (guint m = 0; m < G_N_ELEMENTS (methods); m++)
    {
      BtRng rng;
      double share = 0, t = 0;
      int correct = 0;

      bt_rng_seed (&rng, 999);
      for (int i = 0; i < images; i++)
        {
          g_autoptr(BtImage) img = bt_image_new (size, size, 1);
          g_autofree float *probs = NULL;
          int mx, my, cls = bt_test_marker_image (&rng, size, img->pixels, &mx, &my);
          double start = cpu_seconds ();
          g_autoptr(BtHeatmap) map = bt_explain_image (model, img, cls, methods[m], 0, 0, NULL, &error);

          t += cpu_seconds () - start;
          if (map == NULL)
            {
              g_printerr ("%s\n", error->message);
              return 1;
            }
          share += bt_heatmap_share_in (map, mx - 2, my - 2, MARKER + 4, MARKER + 4);
          probs = bt_predict_image (model, img, NULL);
          correct += probs != NULL && (probs[1] > probs[0]) == (cls == 1);
        }
      g_print ("%-10s heat in the marker box %.3f (mean of %d images; #23 asks >= 0.5), accuracy %.3f, %.2f ms CPU per map\n",
               bt_explain_method_to_string (methods[m]), share / images, images, (double) correct / images,
               1000 * t / images);
    }
  bt_model_free (model);
  return 0;
}
