/* test-cli-export.c: `bottega-cli export` end to end (ONNX with the preprocessing spelled out,
 * PyTorch folder, dataset tree, usage errors) and the backbone lookup and check of
 * bt_export_onnx for transfer models. */
#include "training/bt-export-onnx.h"
#include "training/bt-export-snippets.h"
#include "training/bt-transfer.h"
#include "engine/bt-net-walk.h"
#include "engine/bt-tflite.h"
#include "bt-export-test-util.h"

#include <sys/wait.h>

#include <glib/gstdio.h>
#include <string.h>


static void
test_cli (void)
{
  g_autofree char *dir = bt_test_mkdtemp ();
  g_autofree char *proj = g_build_filename (dir, "project", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(BtProject) p = bt_sample_create_shapes (proj, 3, 24, 1, NULL, &error);
  g_assert_no_error (error);

  /* a trained-looking model with a non-default recipe */
  g_autofree char *model_path = bt_test_save_shapes_model (dir);

  g_autofree char *onnx = g_build_filename (dir, "m.onnx", NULL);
  g_autofree char *out = NULL, *err = NULL;
  g_assert_cmpint (bt_test_run_cli ((const char *[]) { "export", model_path, "--onnx", onnx, NULL }, &out, &err), ==, 0);
  g_assert_true (g_file_test (onnx, G_FILE_TEST_IS_REGULAR));
  g_assert_nonnull (strstr (out, "N × 3 × 24 × 24"));
  g_assert_nonnull (strstr (out, "circle, square, triangle, star"));
  g_assert_nonnull (strstr (out, "crop the centre"));
  g_assert_nonnull (strstr (out, "[0.485, 0.456, 0.406]"));
  g_assert_nonnull (strstr (out, "[0.229, 0.224, 0.225]"));
  g_assert_nonnull (strstr (out, "readNetFromONNX"));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  /* the OpenCV form on request; --opencv without --onnx is a usage error */
  g_autofree char *onnx_cv = g_build_filename (dir, "m-opencv.onnx", NULL);
  g_assert_cmpint (bt_test_run_cli ((const char *[]) { "export", model_path, "--onnx", onnx_cv, "--opencv", NULL },
                            &out, &err), ==, 0);
  g_assert_nonnull (strstr (out, "OpenCV 4.6 reads"));
  g_assert_true (g_file_test (onnx_cv, G_FILE_TEST_IS_REGULAR));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (bt_test_run_cli ((const char *[]) { "export", proj, "--pytorch", onnx_cv, "--opencv", NULL },
                            &out, &err), ==, 2);
  g_assert_nonnull (strstr (err, "--opencv"));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  /* TensorFlow Lite: the file (with its identifier) and the note for people; a model that
   * is not one is a failure with nothing written */
  g_autofree char *tfl = g_build_filename (dir, "m.tflite", NULL);
  g_assert_cmpint (bt_test_run_cli ((const char *[]) { "export", model_path, "--tflite", tfl, NULL }, &out, &err), ==, 0);
  g_autofree char *tfl_bytes = NULL;
  gsize tfl_len = 0;
  g_assert_true (g_file_get_contents (tfl, &tfl_bytes, &tfl_len, NULL));
  g_assert_cmpuint (tfl_len, >, 1000);
  g_assert_cmpmem (tfl_bytes + 4, 4, "TFL3", 4);
  g_assert_nonnull (strstr (out, "TensorFlow Lite"));
  g_assert_nonnull (strstr (out, "1 × 24 × 24 × 3"));
  g_assert_nonnull (strstr (out, "channels last"));
  g_assert_nonnull (strstr (out, "[0.229, 0.224, 0.225]"));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  /* `predict` on that file answers as the model does: the file's own class names and its
   * preprocessing (centre crop, ImageNet mean and std here); it assumed MobileNet's [-1, 1] on a
   * squashed image and answered otherwise */
  {
    g_autofree char *cdir = g_build_filename (proj, "images", "triangle", NULL);
    g_autoptr(GDir) d = g_dir_open (cdir, 0, &error);
    g_assert_no_error (error);
    g_autofree char *image = g_build_filename (cdir, g_dir_read_name (d), NULL);
    g_autofree char *want = NULL, *got = NULL;
    double p_model = -1, p_tflite = -1;
    const char *at;

    g_assert_cmpint (bt_test_run_cli ((const char *[]) { "predict", model_path, image, "--json", NULL }, &out, &err), ==, 0);
    at = strstr (out, "\"predictions\": [{\"class\": \"");
    g_assert_nonnull (at);
    at += strlen ("\"predictions\": [{\"class\": \"");
    want = g_strndup (at, strchr (at, '"') - at);
    g_assert_nonnull (strstr (at, "\"probability\": "));
    p_model = g_ascii_strtod (strstr (at, "\"probability\": ") + strlen ("\"probability\": "), NULL);
    g_clear_pointer (&out, g_free);
    g_clear_pointer (&err, g_free);
    g_assert_cmpint (bt_test_run_cli ((const char *[]) { "predict", tfl, image, "--top", "1", NULL }, &out, &err), ==, 0);
    g_test_message ("model: %s %.4f; its .tflite: %s", want, p_model, out);
    at = strstr (out, "1. ");
    g_assert_nonnull (at);
    at += 3;
    got = g_strndup (at, strcspn (at, " "));
    g_assert_cmpstr (got, ==, want);
    p_tflite = g_ascii_strtod (at + strlen (got) + strspn (at + strlen (got), " "), NULL) / 100;
    g_assert_cmpfloat_with_epsilon (p_tflite, p_model, 1e-3);
    g_clear_pointer (&out, g_free);
    g_clear_pointer (&err, g_free);
  }
  /* full-integer int8, its ranges from the project's training images (test-tflite-export runs
   * such files); --quantize without --calibration, or another type, is a usage error */
  g_autofree char *tfl8 = g_build_filename (dir, "m8.tflite", NULL);
  g_assert_cmpint (bt_test_run_cli ((const char *[]) { "export", model_path, "--tflite", tfl8, "--quantize", "int8",
                                                       "--calibration", proj, NULL }, &out, &err), ==, 0);
  g_assert_nonnull (strstr (out, "int8"));
  {
    g_autoptr(BtTflite) t8 = bt_tflite_load (tfl8, &error);
    g_assert_no_error (error);
    g_autoptr(GBytes) qm = bt_tflite_get_metadata (t8, "quantization");
    g_assert_nonnull (qm);
    g_autofree char *qj = g_strndup (g_bytes_get_data (qm, NULL), g_bytes_get_size (qm));
    g_autoptr(BtSplitView) train = bt_project_split_view (p, BT_SPLIT_TRAIN);
    g_autofree char *want = g_strdup_printf ("\"calibration_images\":%u}", MIN (train->n, 200));
    g_test_message ("int8 metadata %s (%u training images)", qj, train->n);
    g_assert_nonnull (strstr (qj, want));
    g_assert_cmpuint (train->n, >, 0);
    gsize len8 = 0;
    g_autofree char *b8 = NULL;
    g_assert_true (g_file_get_contents (tfl8, &b8, &len8, NULL));
    g_assert_cmpuint (len8 * 100, <=, tfl_len * 30);
  }
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (bt_test_run_cli ((const char *[]) { "export", model_path, "--tflite", tfl8, "--quantize", "int8",
                                                       NULL }, &out, &err), ==, 2);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (bt_test_run_cli ((const char *[]) { "export", model_path, "--tflite", tfl8, "--quantize", "fp16",
                                                       "--calibration", proj, NULL }, &out, &err), ==, 2);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_autofree char *tfl_bad = g_build_filename (dir, "bad.tflite", NULL);
  g_assert_cmpint (bt_test_run_cli ((const char *[]) { "export", proj, "--tflite", tfl_bad, NULL }, &out, &err), ==, 1);
  g_assert_nonnull (strstr (err, "Export failed"));
  g_assert_false (g_file_test (tfl_bad, G_FILE_TEST_EXISTS));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (bt_test_run_cli ((const char *[]) { "export", model_path, "--tflite", tfl, "--onnx", onnx, NULL },
                                    &out, &err), ==, 2);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  g_autofree char *py = g_build_filename (dir, "py", NULL);
  g_assert_cmpint (bt_test_run_cli ((const char *[]) { "export", proj, "--pytorch", py, NULL }, &out, &err), ==, 0);
  g_autofree char *train = g_build_filename (py, "train.py", NULL);
  g_assert_true (g_file_test (train, G_FILE_TEST_IS_EXECUTABLE));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  g_autofree char *tree = g_build_filename (dir, "tree", NULL);
  g_assert_cmpint (bt_test_run_cli ((const char *[]) { "export", proj, "--dataset", tree, NULL }, &out, &err), ==, 0);
  g_assert_nonnull (strstr (out, "Copied 12 images"));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  /* usage errors: two targets, no target, a model that is not one */
  g_assert_cmpint (bt_test_run_cli ((const char *[]) { "export", proj, "--dataset", tree, "--pytorch", py, NULL }, &out, &err), ==, 2);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (bt_test_run_cli ((const char *[]) { "export", proj, NULL }, &out, &err), ==, 2);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (bt_test_run_cli ((const char *[]) { "export", train, "--onnx", onnx, NULL }, &out, &err), ==, 1);
  g_assert_nonnull (strstr (err, "Export failed"));
  bt_test_rm_rf (dir);
}

static void
test_transfer_backbone_lookup (void)
{
  const char *shared = g_getenv ("BOTTEGA_SHARED_DIR");
  g_autofree char *bb = shared ? g_build_filename (shared, "models", "mobilenet_v1_0.25_128_quant.tflite", NULL) : NULL;
  if (bb == NULL || !g_file_test (bb, G_FILE_TEST_EXISTS))
    {
      g_test_skip ("BOTTEGA_SHARED_DIR/models/mobilenet_v1_0.25_128_quant.tflite is absent");
      return;
    }
  g_autoptr(GError) error = NULL;
  g_autoptr(BtTflite) model = bt_tflite_load (bb, &error);
  g_assert_no_error (error);
  int dim;
  g_assert_cmpint (bt_tflite_find_embedding_cut (model, &dim, &error), >=, 0);
  g_autoptr(BtNet) head = bt_net_new_transfer (dim, 0, 2, 0.2f, 1, &error);
  g_assert_no_error (error);
  /* a head whose outputs differ visibly between photos */
  float *params = bt_net_params (head, NULL);
  for (guint i = 0; i < bt_net_n_layers (head); i++)
    {
      BtNetLayerInfo l;
      bt_net_get_layer (head, i, &l);
      for (gsize k = 0; k < l.weight_len; k++)
        params[l.weight_offset + k] *= 4.0f;
    }
  BtPreprocess prep;
  bt_preprocess_init_default (&prep, 128, 128, 3);
  const char *names[] = { "yes", "no", NULL };
  g_autofree char *dir = bt_test_mkdtemp ();
  g_autofree char *mpath = g_build_filename (dir, "t.bottega-model", NULL);
  g_autofree char *out = g_build_filename (dir, "t.onnx", NULL);

  /* a wrong checksum is refused */
  g_assert_true (bt_model_save (mpath, head, names, &prep, "mobilenet_v1_0.25_128_quant.tflite",
                                "0000000000000000000000000000000000000000000000000000000000000000", NULL, &error));
  g_assert_no_error (error);
  g_assert_false (bt_export_onnx (mpath, bb, BT_ONNX_FORM_FAST, out, &error));
  g_assert_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID);
  g_clear_error (&error);

  /* the right one, found in the backbone search folder (bt_backbone_set_search_dir, in place of
   * $BOTTEGA_BACKBONE_DIR, which a test with threads running must not setenv) */
  g_autofree char *sum = NULL;
  {
    g_autoptr(GMappedFile) f = g_mapped_file_new (bb, FALSE, &error);
    g_assert_no_error (error);
    sum = g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guchar *) g_mapped_file_get_contents (f),
                                       g_mapped_file_get_length (f));
  }
  g_assert_true (bt_model_save (mpath, head, names, &prep, "mobilenet_v1_0.25_128_quant.tflite", sum, NULL, &error));
  g_assert_no_error (error);
  bt_backbone_set_search_dir ("");   /* no backbone folder: not found */
  g_assert_false (bt_export_onnx (mpath, NULL, BT_ONNX_FORM_FAST, out, &error));
  g_assert_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID);
  g_clear_error (&error);
  g_autofree char *models = g_path_get_dirname (bb);
  bt_backbone_set_search_dir (models);
  g_assert_true (bt_export_onnx (mpath, NULL, BT_ONNX_FORM_FAST, out, &error));
  g_assert_no_error (error);
  g_assert_true (g_file_test (out, G_FILE_TEST_IS_REGULAR));

  /* TensorFlow Lite from the command line with --backbone (test-tflite-export runs such a
   * file), and a --backbone that is not the one the model was trained on refused */
  g_autofree char *tfl = g_build_filename (dir, "t.tflite", NULL);
  g_autofree char *tfl_out = NULL, *tfl_err = NULL;
  g_assert_cmpint (bt_test_run_cli ((const char *[]) { "export", mpath, "--tflite", tfl, "--backbone", bb, NULL },
                                    &tfl_out, &tfl_err), ==, 0);
  {
    g_autoptr(BtTflite) t = bt_tflite_load (tfl, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (bt_tflite_output_size (t), ==, 2);
    g_assert_cmpint (bt_tflite_n_operators (t), >, bt_tflite_n_operators (model) - 5);
  }
  /* full-integer int8 of the transfer model from the command line: the backbone kept, the head
   * quantized on a project's images (it was refused: "cannot be written as int8 yet");
   * test-tflite-export checks such a file with Arm NN */
  {
    g_autofree char *proj = g_build_filename (dir, "project", NULL);
    g_autoptr(BtProject) p = bt_sample_create_shapes (proj, 1, 24, 1, NULL, &error);
    g_assert_no_error (error);
    g_autofree char *tfl8 = g_build_filename (dir, "t8.tflite", NULL);
    g_autofree char *out8 = NULL;
    g_assert_cmpint (bt_test_run_cli ((const char *[]) { "export", mpath, "--tflite", tfl8, "--quantize", "int8",
                                                         "--calibration", proj, "--backbone", bb, NULL }, &out8, NULL),
                     ==, 0);
    g_autoptr(BtTflite) t8 = bt_tflite_load (tfl8, &error);
    g_assert_no_error (error);
    g_assert_cmpint (bt_tflite_n_operators (t8), >, bt_tflite_n_operators (model) - 5);
    g_autoptr(GBytes) qm = bt_tflite_get_metadata (t8, "quantization");
    g_assert_nonnull (qm);
    g_autofree char *qj = g_strndup (g_bytes_get_data (qm, NULL), g_bytes_get_size (qm));
    g_test_message ("transfer int8: %s", qj);
    g_assert_nonnull (strstr (qj, "\"calibration_images\":"));
  }
  g_autofree char *other = bt_test_shared_file ("models", "mobilenet_v1_0.5_160_quant.tflite");
  if (other != NULL)
    {
      g_clear_pointer (&tfl_err, g_free);
      g_assert_cmpint (bt_test_run_cli ((const char *[]) { "export", mpath, "--tflite", tfl, "--backbone", other, NULL },
                                        NULL, &tfl_err), ==, 1);
      g_assert_nonnull (strstr (tfl_err, "SHA-256"));
    }

  /* the file predicts what Bottega's own transfer prediction (bt_transfer_predict_image:
   * preprocessing, backbone, head) says on real photos */
  g_autoptr(BtModel) loaded = bt_model_load (mpath, &error);
  g_assert_no_error (error);
  g_autoptr(BtBackbone) backbone = bt_backbone_load_path (bb, &error);
  g_assert_no_error (error);
  BtPreprocess bprep;
  bt_backbone_get_preprocess (backbone, BT_DS_RESIZE_SQUASH, &bprep);
  const char *photos[] = { "cat.bmp", "owl.jpg", "sunflower.bmp" };
  gsize plane = (gsize) bprep.width * bprep.height * 3;
  g_autofree float *x = g_new (float, plane * 3);
  float probs[3 * 2];
  for (int i = 0; i < 3; i++)
    {
      g_autofree char *path = g_build_filename (shared, "images", photos[i], NULL);
      g_autoptr(BtImage) img = bt_image_decode_file (path, 3, NULL, NULL, &error);
      g_assert_no_error (error);
      g_autofree float *pr = bt_transfer_predict_image (loaded, img, &error);
      g_assert_no_error (error);
      memcpy (probs + 2 * i, pr, sizeof (float) * 2);
      g_autoptr(BtImage) small = bt_image_resize (img, bprep.width, bprep.height, BT_DS_RESIZE_SQUASH);
      bt_image_to_chw_float (small->pixels, bprep.width, bprep.height, 3, bprep.scale, bprep.mean, bprep.std,
                             x + plane * i);
    }
  g_autofree char *check = g_build_filename (dir, "check", NULL);
  g_assert_cmpint (g_mkdir (check, 0755), ==, 0);
  g_autofree char *model_copy = g_build_filename (check, "model.onnx", NULL);
  g_assert_cmpint (g_rename (out, model_copy), ==, 0);
  bt_test_write_floats (check, "input.bin", x, plane * 3);
  bt_test_write_floats (check, "expected.bin", probs, 6);
  g_autofree char *spec = g_strdup_printf ("{\"input_shape\":[3,3,%d,%d],\"labels\":[\"yes\",\"no\"]}",
                                           bprep.height, bprep.width);
  g_autofree char *spec_path = g_build_filename (check, "spec.json", NULL);
  g_file_set_contents (spec_path, spec, -1, &error);
  g_assert_no_error (error);
  bt_test_run_python ("check-onnx.py", (const char *[]) { check, NULL });
  bt_test_rm_rf (dir);
}

/* Every snippet of the "Use It in Your App" page is written from the model's own values: its
 * size, colour, resize mode, mean, std and class names (the Python and curl ones also run, in
 * test-onnx-export's /onnx-export/snippets). */
static void
test_snippet_values (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(BtNet) net = bt_net_new_preset (BT_PRESET_MLP, 28, 21, 1, 3, -1.0f, 1, &error);
  g_assert_no_error (error);
  const char *names[] = { "shoe", "bag $1", "coat \"long\"", NULL };
  BtModel m = { .net = net, .class_names = (char **) names };
  bt_preprocess_init_default (&m.prep, 28, 21, 1);
  m.prep.resize = BT_RESIZE_PAD;
  m.prep.mean[0] = 0.28125f;
  m.prep.std[0] = 0.3515625f;
  BtSnippetPlaces places = { .tflite_file = "fashion.tflite" };
  /* what each must hold: the size, the colour, the recipe's numbers, the labels */
  const char *want[BT_N_SNIPPETS][5] = {
    [BT_SNIPPET_PYTHON] = { "W, H = 28, 21", "convert(\"L\")", "MEAN = np.array([0.28125]", "Image.new(img.mode, (W, H))",
                            "LABELS = [\"shoe\", \"bag $1\", \"coat \\\"long\\\"\"]" },
    [BT_SNIPPET_WEB] = { "const W = 28, H = 21, C = 1", "0.299 * px[i * 4]", "const MEAN = [0.28125], STD = [0.3515625]",
                         "Math.min(", "fillRect(0, 0, W, H)" },
    [BT_SNIPPET_KOTLIN] = { "const val W = 28", "const val H = 21", "floatArrayOf(0.28125f)", "drawColor(Color.BLACK)",
                            "\"bag \\$1\"" },
    [BT_SNIPPET_C] = { "enum { W = 28, H = 21, C = 1 }", "MEAN[C] = { 0.28125f }", "STD[C] = { 0.3515625f }",
                       "\"model.onnx\"", "\"shoe\", \"bag $1\"" },
    [BT_SNIPPET_CURL] = { "curl ", "@photo.jpg", "http://127.0.0.1:8080/predict", "bottega-cli serve", "--data-binary" },
  };
  for (int k = 0; k < BT_N_SNIPPETS; k++)
    {
      g_autofree char *code = bt_export_snippet (&m, k, &places);
      g_test_message ("snippet %d:\n%s", k, code);
      for (int i = 0; i < 5; i++)
        if (strstr (code, want[k][i]) == NULL)
          g_error ("snippet %d lacks “%s”:\n%s", k, want[k][i], code);
    }
  g_autofree char *kt = bt_export_snippet (&m, BT_SNIPPET_KOTLIN, &places);
  g_assert_nonnull (strstr (kt, "openFd(\"fashion.tflite\")"));
}

/* The top-level keys of a JSON object printed by predict --json (one object per image), in order. */
static char *
json_keys (const char *obj)
{
  GString *keys = g_string_new (NULL);
  int depth = 0;
  gboolean in_string = FALSE, key_next = FALSE;

  for (const char *p = obj; *p != '\0'; p++)
    {
      if (in_string)
        {
          if (*p == '\\')
            p++;
          else if (*p == '"')
            in_string = FALSE;
          continue;
        }
      if (*p == '"')
        {
          if (key_next && depth == 2)
            {
              const char *end = strchr (p + 1, '"');
              g_string_append_printf (keys, "%.*s ", (int) (end - p - 1), p + 1);
            }
          in_string = TRUE;
          key_next = FALSE;
        }
      else if (*p == '{' || *p == '[')
        key_next = *p == '{', depth++;
      else if (*p == '}' || *p == ']')
        depth--;
      else if (*p == ',')
        key_next = TRUE;
    }
  return g_string_free (keys, FALSE);
}

static double
json_number_after (const char *json, const char *key)
{
  const char *at = strstr (json, key);
  g_assert_nonnull (at);
  return g_ascii_strtod (at + strlen (key), NULL);
}

/* A model with saved thresholds, exported to TensorFlow Lite: `predict` on the .tflite says what
 * `predict` on the model says (the file's "thresholds" entry through the model's rule): the
 * same "not accepted" line, the same JSON keys and verdicts, for a class threshold and then for
 * the unknown threshold. The old reader ignored the entry (and had no --json). */
static void
test_tflite_thresholds (void)
{
  g_autofree char *dir = bt_test_mkdtemp ();
  g_autofree char *proj = g_build_filename (dir, "project", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(BtProject) p = bt_sample_create_shapes (proj, 1, 24, 1, NULL, &error);
  g_assert_no_error (error);
  g_autofree char *plain_path = bt_test_save_shapes_model (dir);
  g_autofree char *model_path = g_build_filename (dir, "warm.bottega-model", NULL);
  {
    /* a temperature that spreads the probabilities (the file must fold it in) */
    g_autoptr(BtModel) m = bt_model_load (plain_path, &error);
    g_assert_no_error (error);
    m->calib.temperature = 2.5;
    g_assert_true (bt_model_save_model (model_path, m, &error));
    g_assert_no_error (error);
  }
  g_autofree char *cdir = g_build_filename (proj, "images", "square", NULL);
  g_autoptr(GDir) d = g_dir_open (cdir, 0, &error);
  g_assert_no_error (error);
  g_autofree char *image = g_build_filename (cdir, g_dir_read_name (d), NULL);
  g_autofree char *out = NULL, *err = NULL, *top = NULL;

  g_assert_cmpint (bt_test_run_cli ((const char *[]) { "predict", model_path, image, "--json", NULL }, &out, &err), ==, 0);
  const char *at = strstr (out, "{\"class\": \"") + strlen ("{\"class\": \"");
  top = g_strndup (at, strchr (at, '"') - at);
  double p_top = json_number_after (out, "\"probability\": ");
  double score = json_number_after (out, "\"unknown_score\": ");
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  for (int pass = 0; pass < 2; pass++)
    {
      /* pass 0: the top class's threshold above its probability; pass 1: the image unknown */
      g_autoptr(BtModel) m = bt_model_load (model_path, &error);
      g_assert_no_error (error);
      int k = 0;
      while (strcmp (m->class_names[k], top) != 0)
        k++;
      g_assert_true (bt_model_set_threshold (m, k, (p_top + 1) / 2, &error));
      m->calib.unknown_threshold = pass == 0 ? score + 5 : score - 5;
      g_autofree char *mp = g_build_filename (dir, pass == 0 ? "t0.bottega-model" : "t1.bottega-model", NULL);
      g_autofree char *tp = g_build_filename (dir, pass == 0 ? "t0.tflite" : "t1.tflite", NULL);
      g_assert_true (bt_model_save_model (mp, m, &error));
      g_assert_no_error (error);
      g_assert_cmpint (bt_test_run_cli ((const char *[]) { "export", mp, "--tflite", tp, NULL }, &out, &err), ==, 0);
      g_clear_pointer (&out, g_free);
      g_clear_pointer (&err, g_free);

      g_autofree char *mj = NULL, *tj = NULL, *mt = NULL, *tt = NULL;
      g_assert_cmpint (bt_test_run_cli ((const char *[]) { "predict", mp, image, "--json", NULL }, &mj, &err), ==, 0);
      g_clear_pointer (&err, g_free);
      g_assert_cmpint (bt_test_run_cli ((const char *[]) { "predict", tp, image, "--json", "--top", "4", NULL }, &tj,
                                        &err), ==, 0);
      g_clear_pointer (&err, g_free);
      g_test_message ("model: %s\n.tflite: %s", mj, tj);
      g_autofree char *mk = json_keys (mj), *tk = json_keys (tj);
      g_assert_cmpstr (mk, ==, "image predictions unknown unknown_score threshold below_threshold ");
      g_assert_cmpstr (tk, ==, mk);
      g_assert_nonnull (strstr (mj, pass == 0 ? "\"unknown\": false" : "\"unknown\": true"));
      g_assert_nonnull (strstr (tj, pass == 0 ? "\"unknown\": false" : "\"unknown\": true"));
      g_assert_nonnull (strstr (mj, pass == 0 ? "\"below_threshold\": true" : "\"below_threshold\": false"));
      g_assert_nonnull (strstr (tj, pass == 0 ? "\"below_threshold\": true" : "\"below_threshold\": false"));
      g_assert_cmpfloat_with_epsilon (json_number_after (tj, "\"unknown_score\": "),
                                      json_number_after (mj, "\"unknown_score\": "), 1e-4);
      g_assert_cmpfloat_with_epsilon (json_number_after (tj, "\"probability\": "),
                                      json_number_after (mj, "\"probability\": "), 1e-4);
      g_assert_cmpfloat (json_number_after (tj, "\"threshold\": "), ==, json_number_after (mj, "\"threshold\": "));

      /* the text: the model's "not accepted" line, word for word */
      g_assert_cmpint (bt_test_run_cli ((const char *[]) { "predict", mp, image, NULL }, &mt, &err), ==, 0);
      g_clear_pointer (&err, g_free);
      g_assert_cmpint (bt_test_run_cli ((const char *[]) { "predict", tp, image, NULL }, &tt, &err), ==, 0);
      g_clear_pointer (&err, g_free);
      const char *line = strstr (mt, "not accepted: ");
      g_assert_true ((line != NULL) == (pass == 0));
      if (line != NULL)
        {
          g_autofree char *want = g_strndup (line, strcspn (line, "\n"));
          g_assert_nonnull (strstr (want, top));
          g_assert_nonnull (strstr (tt, want));
        }
      else
        g_assert_null (strstr (tt, "not accepted"));
    }
  bt_test_rm_rf (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  /* before any thread: Bottega's transfer prediction on its float path, which is what the ONNX
   * file holds (the integer path, the default on AVX2, differs by more than the check's 1e-4) */
  g_setenv ("BOTTEGA_TFLITE_PATH", "float", TRUE);
  g_test_add_func ("/cli-export/commands", test_cli);
  g_test_add_func ("/cli-export/tflite-thresholds", test_tflite_thresholds);
  g_test_add_func ("/cli-export/transfer-backbone-lookup", test_transfer_backbone_lookup);
  g_test_add_func ("/cli-export/snippet-values", test_snippet_values);
  return g_test_run ();
}
