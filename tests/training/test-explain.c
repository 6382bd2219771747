/* test-explain.c: explanation maps (#23). The gradient Grad-CAM uses against finite differences
 * on tiny nets of every CNN preset; occlusion and Grad-CAM finding the one marker that decides
 * the class on a Small CNN trained here; the heat's invariants; the crop mapping. */
#include "config.h"

#include <math.h>
#include <string.h>

#include "engine/bt-net-cam.h"
#include "training/bt-explain.h"
#include "training/bt-training.h"
#include "training/bt-transfer.h"
#include "bt-test-markers.h"
#include "bt-test-photos.h"

static void
check_gradient (BtPreset preset, int size, int channels)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(BtNet) net = bt_net_new_preset (preset, size, size, channels, 3, 0.3f, 11, &error);
  g_autofree float *x = g_new (float, (gsize) channels * size * size);
  g_autofree float *features = NULL, *grad = NULL;
  BtRng rng;
  int c, h, w, checked = 0;

  g_assert_no_error (error);
  g_assert_true (bt_net_has_feature_map (net));
  bt_rng_seed (&rng, 5);
  for (int i = 0; i < channels * size * size; i++)
    x[i] = bt_rng_normal (&rng);
  for (int cls = 0; cls < 3; cls++)
    {
      g_clear_pointer (&features, g_free);
      g_clear_pointer (&grad, g_free);
      g_assert_true (bt_net_class_gradient (net, x, cls, &features, &grad, &c, &h, &w, &error));
      g_assert_no_error (error);
      g_assert_cmpint (h * w, >, 1);
      /* the classifier walked from the map gives the net's own logit */
      double logit = bt_net_logits (net)[cls];
      g_assert_cmpfloat_with_epsilon (bt_net_logit_from_features (net, features, cls), logit,
                                      1e-4 * MAX (1.0, fabs (logit)));
      for (int k = 0; k < 60; k++)
        {
          gsize i = bt_rng_below (&rng, (guint32) ((gsize) c * h * w));
          float saved = features[i];
          const float eps = 2e-3f;
          if (saved < 0.05f)
            continue;   /* at or near a ReLU kink, or tied at 0 in a max-pool window */
          features[i] = saved + eps;
          double up = bt_net_logit_from_features (net, features, cls);
          features[i] = saved - eps;
          double down = bt_net_logit_from_features (net, features, cls);
          features[i] = saved;
          double fd = (up - down) / (2 * eps);
          g_assert_cmpfloat (fabs (fd - grad[i]), <=, 5e-3 + 5e-2 * fabs (fd));
          checked++;
        }
    }
  g_assert_cmpint (checked, >, 30);
}

static void
test_gradient_small_cnn (void)
{
  check_gradient (BT_PRESET_SMALL_CNN, 12, 1);
}

static void
test_gradient_deeper_cnn (void)
{
  check_gradient (BT_PRESET_DEEPER_CNN, 32, 3);
}

static void
test_gradient_mini_resnet (void)
{
  check_gradient (BT_PRESET_MINI_RESNET, 16, 3);
}

static void
test_no_feature_map (void)
{
  g_autoptr(BtNet) mlp = bt_net_new_preset (BT_PRESET_MLP, 8, 8, 1, 2, 0.0f, 1, NULL);
  g_autoptr(GError) error = NULL;
  float x[64] = { 0 };
  float *f = NULL, *g = NULL;
  int c, h, w;

  g_assert_false (bt_net_has_feature_map (mlp));
  g_assert_false (bt_net_class_gradient (mlp, x, 0, &f, &g, &c, &h, &w, &error));
  g_assert_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_UNSUPPORTED);
  g_assert_true (isnan (bt_net_logit_from_features (mlp, x, 0)));
}

#define SIZE 24

static BtModel *trained;

static BtModel *
marker_model (void)
{
  if (trained == NULL)
    trained = bt_test_marker_model (SIZE, 1600, 6, 3);
  return trained;
}

/* Mean share of heat inside the marker's box padded by 2 px over n fresh images, and accuracy. */
static double
marker_share (BtExplainMethod method, int n, double *accuracy)
{
  BtModel *model = marker_model ();
  BtRng rng;
  double share = 0;
  int correct = 0;

  bt_rng_seed (&rng, 999);
  for (int i = 0; i < n; i++)
    {
      g_autoptr(BtImage) img = bt_image_new (SIZE, SIZE, 1);
      g_autoptr(GError) error = NULL;
      g_autofree float *probs = NULL;
      int mx, my, cls = bt_test_marker_image (&rng, SIZE, img->pixels, &mx, &my);
      g_autoptr(BtHeatmap) map = bt_explain_image (model, img, cls, method, 0, 0, NULL, &error);

      g_assert_no_error (error);
      g_assert_nonnull (map);
      g_assert_cmpint (map->width, ==, SIZE);
      g_assert_cmpint (map->class_index, ==, cls);
      share += bt_heatmap_share_in (map, mx - 2, my - 2, MARKER + 4, MARKER + 4);
      probs = bt_predict_image (model, img, &error);
      g_assert_no_error (error);
      correct += (probs[1] > probs[0]) == (cls == 1);
    }
  *accuracy = (double) correct / n;
  return share / n;
}

static void
test_occlusion_finds_marker (void)
{
  double acc, share = marker_share (BT_EXPLAIN_OCCLUSION, 40, &acc);

  g_test_message ("occlusion: accuracy %.3f, heat in the marker box %.3f (box area %.3f)", acc, share,
                  (double) (MARKER + 4) * (MARKER + 4) / (SIZE * SIZE));
  g_assert_cmpfloat (acc, >=, 0.9);
  g_assert_cmpfloat (share, >=, 0.5);
}

static void
test_gradcam_finds_marker (void)
{
  double acc, share = marker_share (BT_EXPLAIN_GRADCAM, 40, &acc);

  g_test_message ("Grad-CAM: accuracy %.3f, heat in the marker box %.3f", acc, share);
  g_assert_cmpfloat (acc, >=, 0.9);
  /* #23's bar. Measured 0.63 on conv2 before pooling with each activation taken above its
   * channel's mean; 0.41 on the pooled map and 0.46 without the mean (the textured background
   * excites every channel everywhere). A map that ignored the marker would sit near the box's
   * share of the image, 0.17. */
  g_assert_cmpfloat (share, >=, 0.5);
}

/* The map's invariants: image size (or the size asked), ≥ 0, sums to 1; AUTO picks Grad-CAM for a
 * CNN; a class out of range is refused; a centre crop leaves the cut-off sides cold. */
static void
test_heat_invariants (void)
{
  BtModel *model = marker_model ();
  BtRng rng;
  int mx, my;
  g_autoptr(BtImage) img = bt_image_new (SIZE, SIZE, 1);
  g_autoptr(BtImage) wide = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(BtHeatmap) map = NULL;
  double sum = 0;

  bt_rng_seed (&rng, 4);
  bt_test_marker_image (&rng, SIZE, img->pixels, &mx, &my);
  map = bt_explain_image (model, img, -1, BT_EXPLAIN_AUTO, 50, 30, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (map->method, ==, BT_EXPLAIN_GRADCAM);
  g_assert_cmpint (map->width, ==, 50);
  g_assert_cmpint (map->height, ==, 30);
  for (int i = 0; i < 50 * 30; i++)
    {
      g_assert_cmpfloat (map->heat[i], >=, 0);
      sum += map->heat[i];
    }
  g_assert_cmpfloat_with_epsilon (sum, 1.0, 1e-4);
  g_clear_pointer (&map, bt_heatmap_free);

  map = bt_explain_image (model, img, 2, BT_EXPLAIN_OCCLUSION, 0, 0, NULL, &error);
  g_assert_null (map);
  g_assert_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID);
  g_clear_error (&error);

  /* a 3:1 image under a centre crop: the outer thirds are never seen */
  wide = bt_image_new (3 * SIZE, SIZE, 1);
  for (int y = 0; y < SIZE; y++)
    memcpy (wide->pixels + y * 3 * SIZE + SIZE, img->pixels + y * SIZE, SIZE);
  model->prep.resize = BT_RESIZE_CENTER_CROP;
  map = bt_explain_image (model, wide, -1, BT_EXPLAIN_OCCLUSION, 0, 0, NULL, &error);
  model->prep.resize = BT_RESIZE_SQUASH;
  g_assert_no_error (error);
  g_assert_cmpfloat (bt_heatmap_share_in (map, 0, 0, SIZE, SIZE), ==, 0);
  g_assert_cmpfloat (bt_heatmap_share_in (map, 2 * SIZE, 0, SIZE, SIZE), ==, 0);
  g_assert_cmpfloat_with_epsilon (bt_heatmap_share_in (map, SIZE, 0, SIZE, SIZE), 1.0, 1e-4);
}

/* A transfer head's input gradient (Grad-CAM's way back into the backbone) against finite
 * differences of its logit. */
static void
test_head_input_gradient (void)
{
  const int dim = 40;
  g_autoptr(GError) error = NULL;
  g_autoptr(BtNet) head = bt_net_new_transfer (dim, 16, 3, 0.2f, 9, &error);
  float x[40], d[40];
  BtRng rng;

  g_assert_no_error (error);
  bt_rng_seed (&rng, 3);
  for (int i = 0; i < dim; i++)
    x[i] = fabsf (bt_rng_normal (&rng));
  for (int cls = 0; cls < 3; cls++)
    {
      g_assert_true (bt_net_class_input_gradient (head, x, cls, d, &error));
      g_assert_no_error (error);
      for (int i = 0; i < dim; i++)
        {
          const float eps = 1e-2f, saved = x[i];
          x[i] = saved + eps;
          double up = bt_net_forward (head, x, 1, FALSE, NULL) ? bt_net_logits (head)[cls] : NAN;
          x[i] = saved - eps;
          double down = bt_net_forward (head, x, 1, FALSE, NULL) ? bt_net_logits (head)[cls] : NAN;
          x[i] = saved;
          g_assert_cmpfloat (fabs ((up - down) / (2 * eps) - d[i]), <=, 2e-3 + 2e-2 * fabs (d[i]));
        }
    }
  g_assert_false (bt_net_class_input_gradient (head, x, 3, d, &error));
  g_assert_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID);
}

#define V1_SMALL "mobilenet_v1_0.25_128_quant.tflite"

/* side × side RGB: the photo squashed into it */
static BtImage *
photo_square (const char *name, int side)
{
  g_autofree char *path = bt_test_shared_file ("images", name);
  g_autoptr(GError) error = NULL;
  g_autoptr(BtImage) img = bt_image_decode_file (path, 3, NULL, NULL, &error);

  g_assert_no_error (error);
  return bt_image_resize (img, side, side, BT_DS_RESIZE_SQUASH);
}

/* left and right side by side (same height) */
static BtImage *
side_by_side (const BtImage *left, const BtImage *right)
{
  BtImage *out = bt_image_new (left->width + right->width, left->height, 3);

  for (int y = 0; y < left->height; y++)
    {
      memcpy (out->pixels + (gsize) y * out->width * 3, left->pixels + (gsize) y * left->width * 3,
              (gsize) left->width * 3);
      memcpy (out->pixels + ((gsize) y * out->width + left->width) * 3,
              right->pixels + (gsize) y * right->width * 3, (gsize) right->width * 3);
    }
  return out;
}

/* Grad-CAM through a backbone (MobileNet V1 0.25/128, the smallest): a head trained on crops of
 * the cat and the sunflower photos; on one image holding both side by side, each class's heat
 * lies on its own photo's half, whichever side it is on. */
static void
test_gradcam_transfer (void)
{
  static const char *photos[2] = { "cat.bmp", "sunflower.bmp" };
  static const char *names[] = { "cat", "sunflower", NULL };
  g_autofree char *backbone = bt_test_shared_file ("models", V1_SMALL);
  g_autofree char *cat_path = bt_test_shared_file ("images", photos[0]);
  g_autofree char *flower_path = bt_test_shared_file ("images", photos[1]);
  g_autoptr(GError) error = NULL;
  g_autoptr(BtBackbone) bb = NULL;
  g_autoptr(BtOptimizer) opt = NULL;
  g_autoptr(BtImage) cat = NULL, flower = NULL;
  BtOptimizerConfig cfg;
  BtModel *model;
  BtRng rng;
  enum { PER_CLASS = 8 };
  float *x;
  int labels[2 * PER_CLASS], dim;

  if (backbone == NULL || cat_path == NULL || flower_path == NULL)
    {
      g_test_skip ("MobileNet V1 0.25/128 or the cat and sunflower photos not found: set BOTTEGA_SHARED_DIR "
                   "to the folder holding models/ and images/");
      return;
    }
  {
    g_autofree char *dir = g_path_get_dirname (backbone);
    bt_backbone_set_search_dir (dir);
  }
  bb = bt_backbone_load_path (backbone, &error);
  g_assert_no_error (error);
  dim = bt_backbone_get_dim (bb);
  cat = photo_square (photos[0], 128);
  flower = photo_square (photos[1], 128);

  /* the head: crops (60–100 % of each side) of each photo, mirrored or not */
  x = g_new (float, (gsize) 2 * PER_CLASS * dim);
  bt_rng_seed (&rng, 8);
  for (int i = 0; i < 2 * PER_CLASS; i++)
    {
      const BtImage *src = i % 2 ? flower : cat;
      int w = (int) (128 * (0.6f + 0.4f * bt_rng_uniform (&rng)));
      int h = (int) (128 * (0.6f + 0.4f * bt_rng_uniform (&rng)));
      int x0 = (int) bt_rng_below (&rng, 128 - w + 1), y0 = (int) bt_rng_below (&rng, 128 - h + 1);
      gboolean flip = bt_rng_below (&rng, 2);
      g_autoptr(BtImage) crop = bt_image_new (w, h, 3);
      for (int y = 0; y < h; y++)
        for (int xx = 0; xx < w; xx++)
          memcpy (crop->pixels + ((gsize) y * w + xx) * 3,
                  src->pixels + ((gsize) (y0 + y) * 128 + x0 + (flip ? w - 1 - xx : xx)) * 3, 3);
      labels[i] = i % 2;
      g_assert_true (bt_backbone_embed_image (bb, crop, BT_DS_RESIZE_SQUASH, x + (gsize) i * dim, &error));
      g_assert_no_error (error);
    }
  model = g_new0 (BtModel, 1);
  model->net = bt_net_new_transfer (dim, 0, 2, 0.0f, 5, &error);
  g_assert_no_error (error);
  bt_optimizer_config_init (&cfg, BT_OPTIMIZER_ADAM);
  opt = bt_optimizer_new (model->net, &cfg);
  for (int step = 0; step < 60; step++)
    {
      bt_net_zero_grad (model->net);
      g_assert_nonnull (bt_net_forward (model->net, x, 2 * PER_CLASS, TRUE, &error));
      g_assert_true (bt_net_backward (model->net, labels, 2 * PER_CLASS, NULL, 0.0f, NULL, NULL, &error));
      bt_optimizer_step (opt, model->net, 3e-3f);
    }
  g_free (x);
  model->class_names = g_strdupv ((char **) names);
  model->backbone_name = g_strdup (V1_SMALL);
  model->backbone_sha256 = g_strdup (bt_backbone_get_sha256 (bb));
  bt_backbone_get_preprocess (bb, BT_DS_RESIZE_SQUASH, &model->prep);
  bt_calibration_init (&model->calib);

  for (int order = 0; order < 2; order++)
    {
      g_autoptr(BtImage) both = order == 0 ? side_by_side (cat, flower) : side_by_side (flower, cat);
      for (int cls = 0; cls < 2; cls++)
        {
          g_autoptr(BtHeatmap) map = bt_explain_image (model, both, cls, BT_EXPLAIN_GRADCAM, 0, 0, NULL, &error);
          gboolean on_left = (cls == 0) == (order == 0);
          double own;

          g_assert_no_error (error);
          g_assert_cmpint (map->method, ==, BT_EXPLAIN_GRADCAM);
          g_assert_cmpint (map->width, ==, 256);
          own = bt_heatmap_share_in (map, on_left ? 0 : 128, 0, 128, 128);
          g_test_message ("%s on the %s: %.3f of the Grad-CAM heat on it", names[cls], on_left ? "left" : "right", own);
          /* measured 0.63–0.89 (occlusion, its 64 grey squares on a 128-px input: 0.37–0.62) */
          g_assert_cmpfloat (own, >=, 0.6);
        }
    }
  /* auto keeps occlusion for a transfer model (its backbone's map is 4×4 here) */
  {
    g_autoptr(BtHeatmap) map = bt_explain_image (model, cat, 0, BT_EXPLAIN_AUTO, 0, 0, NULL, &error);
    g_assert_no_error (error);
    g_assert_cmpint (map->method, ==, BT_EXPLAIN_OCCLUSION);
  }
  bt_model_free (model);
}

int
main (int argc, char **argv)
{
  int status;

  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/explain/gradient/small-cnn", test_gradient_small_cnn);
  g_test_add_func ("/explain/gradient/deeper-cnn", test_gradient_deeper_cnn);
  g_test_add_func ("/explain/gradient/mini-resnet", test_gradient_mini_resnet);
  g_test_add_func ("/explain/gradient/no-feature-map", test_no_feature_map);
  g_test_add_func ("/explain/occlusion/marker", test_occlusion_finds_marker);
  g_test_add_func ("/explain/gradcam/marker", test_gradcam_finds_marker);
  g_test_add_func ("/explain/invariants", test_heat_invariants);
  g_test_add_func ("/explain/gradient/transfer-head", test_head_input_gradient);
  g_test_add_func ("/explain/gradcam/transfer", test_gradcam_transfer);
  status = g_test_run ();
  g_clear_pointer (&trained, bt_model_free);
  return status;
}
