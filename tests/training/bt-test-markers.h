/* bt-test-markers.h: the explanation test set of #23 — textured noise with one small marker, a
 * 6×6 cross (class 0) or a 6×6 ring (class 1), at a random place; only the marker decides the
 * class. Used by tests/training/test-explain.c and bench/bench-explain.c. */
#pragma once

#include <glib.h>
#include "engine/bt-engine.h"
#include "dataset/bt-dataset.h"

#define MARKER 6

/* Fills a size × size grey image; returns the class, and in mx, my the marker's top-left corner. */
static inline int
bt_test_marker_image (BtRng *rng, int size, guint8 *pixels, int *mx, int *my)
{
  int cls = (int) bt_rng_below (rng, 2);

  for (int i = 0; i < size * size; i++)
    pixels[i] = (guint8) (70 + bt_rng_below (rng, 80));   /* texture: 70…149 */
  *mx = (int) bt_rng_below (rng, size - MARKER + 1);
  *my = (int) bt_rng_below (rng, size - MARKER + 1);
  for (int y = 0; y < MARKER; y++)
    for (int x = 0; x < MARKER; x++)
      {
        gboolean on = cls == 0 ? (x == 2 || x == 3 || y == 2 || y == 3)
                               : (x == 0 || x == MARKER - 1 || y == 0 || y == MARKER - 1);
        if (on)
          pixels[(*my + y) * size + *mx + x] = 255;
      }
  return cls;
}

/* A Small CNN trained on n generated images for epochs epochs (Adam, batch 32); returns the
 * model (its net, default recipe, classes "cross" and "ring"). */
static inline BtModel *
bt_test_marker_model (int size, int n, int epochs, guint64 seed)
{
  static const char *names[] = { "cross", "ring", NULL };
  BtModel *model = g_new0 (BtModel, 1);
  BtRng rng;
  BtOptimizerConfig cfg;
  gsize plane = (gsize) size * size;
  g_autofree float *x = g_new (float, plane * n);
  g_autofree int *labels = g_new (int, n);
  g_autofree guint8 *px = g_new (guint8, plane);
  g_autoptr(BtOptimizer) opt = NULL;

  model->net = bt_net_new_preset (BT_PRESET_SMALL_CNN, size, size, 1, 2, 0.0f, seed, NULL);
  g_assert_nonnull (model->net);
  model->class_names = g_strdupv ((char **) names);
  bt_preprocess_init_default (&model->prep, size, size, 1);
  bt_calibration_init (&model->calib);
  bt_rng_seed (&rng, seed);
  for (int i = 0; i < n; i++)
    {
      int mx, my;
      labels[i] = bt_test_marker_image (&rng, size, px, &mx, &my);
      bt_image_to_chw_float (px, size, size, 1, model->prep.scale, model->prep.mean, model->prep.std,
                             x + plane * i);
    }
  bt_optimizer_config_init (&cfg, BT_OPTIMIZER_ADAM);
  opt = bt_optimizer_new (model->net, &cfg);
  for (int e = 0; e < epochs; e++)
    for (int b = 0; b + 32 <= n; b += 32)
      {
        g_autoptr(GError) error = NULL;
        bt_net_zero_grad (model->net);
        g_assert_nonnull (bt_net_forward (model->net, x + plane * b, 32, TRUE, &error));
        g_assert_true (bt_net_backward (model->net, labels + b, 32, NULL, 0.0f, NULL, NULL, &error));
        bt_optimizer_step (opt, model->net, 1e-3f);
      }
  return model;
}
