/* test-evaluation.c: evaluation metrics against hand-computed values, the order of mistakes,
 * run settings round trips and refusals, and prediction on bad input. */
#include "config.h"

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "training/bt-training-private.h"
#include "training/bt-transfer.h"

static void
test_metrics (void)
{
  const char *names[] = { "cat", "dog", "owl", NULL };
  g_autoptr(BtEvaluation) ev = bt_evaluation_new (3, names);
  /* true, probs (pred = argmax) */
  struct { int truth; float p[3]; } rows[] = {
    { 0, { 0.8f, 0.1f, 0.1f } },   /* right */
    { 0, { 0.2f, 0.7f, 0.1f } },   /* cat → dog, 0.7 */
    { 0, { 0.1f, 0.1f, 0.8f } },   /* cat → owl, 0.8 */
    { 1, { 0.1f, 0.6f, 0.3f } },   /* right */
    { 1, { 0.05f, 0.9f, 0.05f } }, /* right */
    { 2, { 0.6f, 0.2f, 0.2f } },   /* owl → cat, 0.6 */
    { 2, { 0.1f, 0.2f, 0.7f } },   /* right */
  };
  double loss = 0;

  for (guint i = 0; i < G_N_ELEMENTS (rows); i++)
    {
      g_autofree char *path = g_strdup_printf ("/img/%u.png", i);
      bt_evaluation_add (ev, rows[i].p, rows[i].truth, path, 100 + i);
      loss += -log (rows[i].p[rows[i].truth]);
    }
  bt_evaluation_finish (ev);

  g_assert_cmpuint (ev->n, ==, 7);
  g_assert_cmpfloat_with_epsilon (ev->accuracy, 4.0 / 7.0, 1e-12);
  g_assert_cmpfloat_with_epsilon (ev->loss, loss / 7, 1e-6);
  /* rows = true, columns = predicted */
  {
    const guint expected[9] = { 1, 1, 1,
                                0, 2, 0,
                                1, 0, 1 };
    g_assert_cmpmem (ev->confusion, sizeof expected, expected, sizeof expected);
  }
  /* cat: P = 1/2, R = 1/3; dog: P = 2/3, R = 1; owl: P = 1/2, R = 1/2 */
  g_assert_cmpfloat_with_epsilon (ev->precision[0], 0.5, 1e-12);
  g_assert_cmpfloat_with_epsilon (ev->recall[0], 1.0 / 3, 1e-12);
  g_assert_cmpfloat_with_epsilon (ev->f1[0], 2 * 0.5 * (1.0 / 3) / (0.5 + 1.0 / 3), 1e-12);
  g_assert_cmpfloat_with_epsilon (ev->precision[1], 2.0 / 3, 1e-12);
  g_assert_cmpfloat_with_epsilon (ev->recall[1], 1.0, 1e-12);
  g_assert_cmpfloat_with_epsilon (ev->f1[1], 0.8, 1e-12);
  g_assert_cmpfloat_with_epsilon (ev->f1[2], 0.5, 1e-12);

  /* mistakes: most confident wrong first */
  g_assert_cmpuint (ev->mistakes->len, ==, 3);
  g_assert_cmpuint (((BtMistake *) ev->mistakes->pdata[0])->item_index, ==, 102);
  g_assert_cmpuint (((BtMistake *) ev->mistakes->pdata[1])->item_index, ==, 101);
  g_assert_cmpuint (((BtMistake *) ev->mistakes->pdata[2])->item_index, ==, 105);
  g_assert_cmpint (((BtMistake *) ev->mistakes->pdata[0])->pred_class, ==, 2);
  g_assert_cmpfloat (((BtMistake *) ev->mistakes->pdata[0])->confidence, ==, 0.8f);
  g_assert_cmpstr (((BtMistake *) ev->mistakes->pdata[2])->path, ==, "/img/5.png");
  /* every image is kept for the gallery, in the order given */
  g_assert_cmpuint (ev->all->len, ==, 7);
  g_assert_cmpuint (((BtMistake *) ev->all->pdata[6])->item_index, ==, 106);
  g_assert_cmpstr (ev->class_names[2], ==, "owl");
}

static void
test_empty_class_metrics (void)
{
  const char *names[] = { "a", "b", NULL };
  g_autoptr(BtEvaluation) ev = bt_evaluation_new (2, names);
  float p[2] = { 0.9f, 0.1f };

  /* class b never appears and is never predicted: 0, not NaN */
  bt_evaluation_add (ev, p, 0, "x", 0);
  bt_evaluation_finish (ev);
  g_assert_cmpfloat (ev->precision[1], ==, 0);
  g_assert_cmpfloat (ev->recall[1], ==, 0);
  g_assert_cmpfloat (ev->f1[1], ==, 0);
  g_assert_cmpfloat (ev->accuracy, ==, 1);
  g_assert_cmpuint (ev->mistakes->len, ==, 0);
}

static void
fill_settings (BtProjectSettings *s)
{
  memset (s, 0, sizeof *s);
  s->preset = g_strdup ("small-cnn");
  s->width = 28;
  s->height = 30;
  s->channels = 1;
  s->resize = BT_DS_RESIZE_CENTER_CROP;
  s->epochs = 5;
  s->batch_size = 64;
  s->optimizer = g_strdup ("adamw");
  s->learning_rate = 0.1 + 0.2;    /* not exactly representable in short decimal */
  s->schedule = g_strdup ("plateau");
  s->weight_decay = 1e-4;
  s->dropout = -1;
  s->augment_flip = TRUE;
  s->augment_color = TRUE;
  s->class_weights = TRUE;
  s->label_smoothing = 0.1;
  s->early_stopping_patience = 3;
  s->early_stopping_monitor = g_strdup ("val_acc");
  s->early_stopping_min_delta = 0.001;
  s->restore_best = TRUE;
  s->split_train = 70;
  s->split_val = 15;
  s->split_test = 15;
  s->seed = G_GUINT64_CONSTANT (18446744073709551615);
  s->transfer_backbone = g_strdup ("mobilenet_v1_0.5_160_quant");
  s->recipe = g_strdup ("manual");
  s->tta = TRUE;
}

static void
test_settings_round_trip (void)
{
  BtProjectSettings a, b;
  g_autoptr(GKeyFile) kf = NULL;
  g_autoptr(GKeyFile) kf2 = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *data = NULL;

  fill_settings (&a);
  g_assert_true (bt_settings_validate (&a, &error));
  g_assert_no_error (error);
  kf = bt_settings_to_key_file (&a);
  data = g_key_file_to_data (kf, NULL, NULL);
  kf2 = g_key_file_new ();
  g_assert_true (g_key_file_load_from_data (kf2, data, -1, G_KEY_FILE_NONE, NULL));
  g_assert_true (bt_settings_from_key_file (&b, kf2, &error));
  g_assert_no_error (error);

  g_assert_cmpstr (b.preset, ==, a.preset);
  g_assert_cmpint (b.width, ==, 28);
  g_assert_cmpint (b.height, ==, 30);
  g_assert_cmpint (b.channels, ==, 1);
  g_assert_cmpint (b.resize, ==, BT_DS_RESIZE_CENTER_CROP);
  g_assert_cmpstr (b.optimizer, ==, "adamw");
  g_assert_true (b.learning_rate == a.learning_rate);   /* bit-exact */
  g_assert_cmpstr (b.schedule, ==, "plateau");
  g_assert_true (b.weight_decay == a.weight_decay);
  g_assert_cmpfloat (b.dropout, ==, -1);
  g_assert_true (b.augment_flip && !b.augment_crop && !b.augment_rotate && b.augment_color);
  g_assert_true (b.class_weights);
  g_assert_true (b.label_smoothing == a.label_smoothing);
  g_assert_cmpint (b.early_stopping_patience, ==, 3);
  g_assert_cmpstr (b.early_stopping_monitor, ==, "val_acc");
  g_assert_true (b.restore_best);
  g_assert_cmpint (b.split_val, ==, 15);
  g_assert_true (b.seed == a.seed);
  g_assert_cmpstr (b.recipe, ==, "manual");
  g_assert_true (b.tta);
  bt_project_settings_clear (&a);
  bt_project_settings_clear (&b);
}

static void
test_settings_refused (void)
{
  BtProjectSettings s;
  GError *error = NULL;

#define REFUSE(stmt) G_STMT_START {                                   \
    fill_settings (&s);                                               \
    stmt;                                                             \
    g_assert_false (bt_settings_validate (&s, &error));               \
    g_assert_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID); \
    g_test_message ("%s → %s", #stmt, error->message);                \
    g_clear_error (&error);                                           \
    bt_project_settings_clear (&s);                                           \
  } G_STMT_END

  REFUSE (g_free (s.preset); s.preset = g_strdup ("giant"));
  REFUSE (s.width = 0);
  REFUSE (s.height = 100000);
  REFUSE (s.channels = 2);
  REFUSE (s.epochs = 0);
  REFUSE (s.batch_size = -5);
  REFUSE (g_free (s.optimizer); s.optimizer = g_strdup ("rmsprop"));
  REFUSE (s.learning_rate = NAN);
  REFUSE (s.learning_rate = -1);
  REFUSE (g_free (s.schedule); s.schedule = g_strdup ("zigzag"));
  REFUSE (s.dropout = 1.5);
  REFUSE (s.label_smoothing = 1);
  REFUSE (s.early_stopping_patience = -1);
  REFUSE (g_free (s.early_stopping_monitor); s.early_stopping_monitor = g_strdup ("acc"));
  REFUSE (s.weight_decay = INFINITY);
#undef REFUSE
}

static void
test_settings_broken_file (void)
{
  const char *broken[] = {
    "",
    "[training]\npreset=small-cnn\n",
    "[training]\npreset=small-cnn\nwidth=abc\n",
  };

  for (guint i = 0; i < G_N_ELEMENTS (broken); i++)
    {
      g_autoptr(GKeyFile) kf = g_key_file_new ();
      g_autoptr(GError) error = NULL;
      BtProjectSettings s;

      g_key_file_load_from_data (kf, broken[i], -1, G_KEY_FILE_NONE, NULL);
      g_assert_false (bt_settings_from_key_file (&s, kf, &error));
      g_assert_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID);
    }
}

static void
test_resize_mapping (void)
{
  for (int m = BT_RESIZE_SQUASH; m <= BT_RESIZE_PAD; m++)
    g_assert_cmpint (bt_resize_mode_from_ds (bt_resize_mode_to_ds (m)), ==, m);
  g_assert_cmpstr (bt_resize_mode_to_string (bt_resize_mode_from_ds (BT_DS_RESIZE_PAD)), ==, "pad");
}

static void
test_predict_bad_input (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(BtNet) net = bt_net_new_preset (BT_PRESET_MLP, 8, 8, 1, 3, -1, 1, &error);
  g_autofree char *dir = g_dir_make_tmp ("bottega-eval-XXXXXX", NULL);
  g_autofree char *model_path = g_build_filename (dir, "m.bottega-model", NULL);
  g_autofree char *bad = g_build_filename (dir, "bad.png", NULL);
  g_autofree char *text = g_build_filename (dir, "text.png", NULL);
  g_autofree char *missing = g_build_filename (dir, "missing.png", NULL);
  const char *names[] = { "a", "b", "c", NULL };
  const guint8 png_start[] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R' };
  g_autoptr(BtModel) model = NULL;
  BtPreprocess prep;
  const char *files[] = { bad, text, missing };

  g_assert_no_error (error);
  bt_preprocess_init_default (&prep, 8, 8, 1);
  g_assert_true (bt_model_save (model_path, net, names, &prep, NULL, NULL, NULL, &error));
  g_assert_no_error (error);
  model = bt_model_load (model_path, &error);
  g_assert_no_error (error);

  g_assert_true (g_file_set_contents (bad, (const char *) png_start, sizeof png_start, NULL));
  g_assert_true (g_file_set_contents (text, "hello, not an image\n", -1, NULL));
  for (guint i = 0; i < G_N_ELEMENTS (files); i++)
    {
      float *p = bt_predict_file (model, files[i], &error);
      g_assert_null (p);
      g_assert_nonnull (error);
      g_test_message ("%s → %s", files[i], error->message);
      g_clear_error (&error);
    }

  /* a decoded RGB image through a grey model: converted, resized, 3 probabilities summing to 1 */
  {
    BtImage img = { 5, 3, 3, NULL };
    g_autofree float *probs = NULL;
    img.pixels = g_malloc (5 * 3 * 3);
    for (int i = 0; i < 45; i++)
      img.pixels[i] = (guint8) (i * 5);
    probs = bt_predict_image (model, &img, &error);
    g_free (img.pixels);
    g_assert_no_error (error);
    g_assert_cmpfloat (fabsf (probs[0] + probs[1] + probs[2] - 1), <, 1e-5);
  }

  g_unlink (bad);
  g_unlink (text);
  g_unlink (model_path);
  g_rmdir (dir);
}

/* Test-time augmentation: a prediction's logits are the mean of the two passes (the image, its
 * mirror) and its probabilities their softmax; the same through evaluation of a project split. */
static void
test_predict_tta (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(BtNet) net = bt_net_new_preset (BT_PRESET_SMALL_CNN, 8, 8, 3, 3, -1, 5, &error);
  const char *names[] = { "a", "b", "c", NULL };
  BtModel m = { .net = net, .class_names = (char **) names };
  BtImage img = { 9, 7, 3, NULL };
  g_autoptr(BtImage) mirror = NULL;
  float one[3], other[3], tta[3], want[3];
  g_autofree float *probs = NULL;
  double score, want_score;

  g_assert_no_error (error);
  bt_preprocess_init_default (&m.prep, 8, 8, 3);
  bt_calibration_init (&m.calib);
  m.calib.temperature = 1.5;
  img.pixels = g_malloc (9 * 7 * 3);
  for (int i = 0; i < 9 * 7 * 3; i++)
    img.pixels[i] = (guint8) ((i * 37) ^ (i >> 2));
  mirror = bt_transfer_make_variant (&img, 1);
  g_assert_cmpint (mirror->pixels[0], ==, img.pixels[8 * 3]);   /* really the mirror */

  m.tta = BT_TTA_NONE;
  g_assert_true (bt_model_image_logits (&m, &img, one, &error));
  g_assert_true (bt_model_image_logits (&m, mirror, other, &error));
  g_assert_no_error (error);
  g_assert_true (memcmp (one, other, sizeof one) != 0);   /* the two passes differ */
  m.tta = BT_TTA_MIRROR;
  g_assert_true (bt_model_image_logits (&m, &img, tta, &error));
  for (int k = 0; k < 3; k++)
    {
      want[k] = 0.5f * (one[k] + other[k]);
      g_assert_cmpfloat (tta[k], ==, want[k]);
    }
  probs = bt_predict_image_scored (&m, &img, &score, &error);
  g_assert_no_error (error);
  {
    float want_probs[3];
    want_score = bt_calibration_apply (&m.calib, want, 3, want_probs);
    for (int k = 0; k < 3; k++)
      g_assert_cmpfloat (probs[k], ==, want_probs[k]);
    g_assert_cmpfloat (score, ==, want_score);
  }
  g_free (img.pixels);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/evaluation/predict-tta", test_predict_tta);
  g_test_add_func ("/evaluation/metrics", test_metrics);
  g_test_add_func ("/evaluation/empty-class", test_empty_class_metrics);
  g_test_add_func ("/evaluation/settings-round-trip", test_settings_round_trip);
  g_test_add_func ("/evaluation/settings-refused", test_settings_refused);
  g_test_add_func ("/evaluation/settings-broken-file", test_settings_broken_file);
  g_test_add_func ("/evaluation/resize-mapping", test_resize_mapping);
  g_test_add_func ("/evaluation/predict-bad-input", test_predict_bad_input);
  return g_test_run ();
}
