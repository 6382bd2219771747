/* test-onnx-export.c: every preset, and a transfer model (TFLite backbone + head), exported to
 * ONNX in both forms and run on real photos by ONNX Runtime (both forms) and OpenCV (its form);
 * their probabilities must match bt_net_forward's within 1e-4 (tests/export/check-onnx.py). Weights are random, batch-norm statistics non-trivial. */
#include "engine/bt-net-walk.h"
#include "engine/bt-onnx.h"
#include "engine/bt-tflite.h"
#include "engine/bt-tflite-grad.h"
#include "dataset/bt-dataset.h"
#include "training/bt-training.h"
#include "training/bt-export-snippets.h"
#include "bt-export-test-util.h"

#include <math.h>
#include <string.h>

#define N_IMAGES BT_TEST_N_PHOTOS

static void
check_with_python (GBytes *model, BtOnnxForm form, const float *x, int n, int c, int h, int w, const float *probs, int k,
                   const char * const *names, const BtPreprocess *prep)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = bt_test_mkdtemp ();
  g_autofree char *path = g_build_filename (dir, "model.onnx", NULL);
  g_file_set_contents (path, g_bytes_get_data (model, NULL), (gssize) g_bytes_get_size (model), &error);
  g_assert_no_error (error);
  bt_test_write_floats (dir, "input.bin", x, (gsize) n * c * h * w);
  bt_test_write_floats (dir, "expected.bin", probs, (gsize) n * k);
  g_autofree char *labels = bt_onnx_labels_json (names);
  g_autofree char *pj = bt_onnx_preprocessing_json (prep);
  g_autofree char *spec = g_strdup_printf ("{\"input_shape\":[%d,%d,%d,%d],\"labels\":%s,\"preprocessing\":%s}",
                                           n, c, h, w, labels, pj);
  g_autofree char *spec_path = g_build_filename (dir, "spec.json", NULL);
  g_file_set_contents (spec_path, spec, -1, &error);
  g_assert_no_error (error);
  bt_test_run_python ("check-onnx.py", (const char *[]) { dir, "--form",
                                                        form == BT_ONNX_FORM_FAST ? "fast" : "opencv", NULL });
  bt_test_rm_rf (dir);
}

static const BtOnnxForm forms[] = { BT_ONNX_FORM_FAST, BT_ONNX_FORM_OPENCV };

typedef struct {
  BtPreset preset;
  int w, h, c;
} PresetCase;

static const char *class_names[] = { "circle", "square", "triangle", "star “5”", NULL };

static void
test_preset (gconstpointer data)
{
  const PresetCase *pc = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(BtNet) net = bt_net_new_preset (pc->preset, pc->w, pc->h, pc->c, 4, -1.0f, 11, &error);
  g_assert_no_error (error);
  bt_test_perturb_net (net, 3);

  BtPreprocess prep;
  bt_preprocess_init_default (&prep, pc->w, pc->h, pc->c);
  g_autofree guint8 *px = bt_test_load_pixels (pc->w, pc->h, pc->c);
  gsize plane = (gsize) pc->w * pc->h * pc->c;
  g_autofree float *x = g_new (float, plane * N_IMAGES);
  for (int i = 0; i < N_IMAGES; i++)
    bt_image_to_chw_float (px + plane * i, pc->w, pc->h, pc->c, prep.scale, prep.mean, prep.std, x + plane * i);

  const float *p = bt_net_forward (net, x, N_IMAGES, FALSE, &error);
  g_assert_no_error (error);
  g_autofree float *probs = g_memdup2 (p, sizeof (float) * 4 * N_IMAGES);

  for (guint f = 0; f < G_N_ELEMENTS (forms); f++)
    {
      g_autoptr(GBytes) model = bt_onnx_export_net (net, class_names, &prep, NULL, forms[f], &error);
      g_assert_no_error (error);
      check_with_python (model, forms[f], x, N_IMAGES, pc->c, pc->h, pc->w, probs, 4, class_names, &prep);
    }
}

/* The recipe that makes (pixel × scale − mean) / std the backbone's input range. */
static void
backbone_prep (BtTflite *bb, BtPreprocess *prep)
{
  int h, w, c;
  float lo, hi;
  bt_tflite_input_shape (bb, &h, &w, &c);
  bt_tflite_input_range (bb, &lo, &hi);
  bt_preprocess_init_default (prep, w, h, c);
  prep->scale = 1.0f / 255.0f;
  for (int k = 0; k < 3; k++)
    {
      prep->mean[k] = -lo / (hi - lo);
      prep->std[k] = 1.0f / (hi - lo);
    }
}

static void
test_transfer (gconstpointer data)
{
  const char *file = data;
  const char *shared = g_getenv ("BOTTEGA_SHARED_DIR");
  g_autofree char *bb_path = shared ? g_build_filename (shared, "models", file, NULL) : NULL;
  if (bb_path == NULL || !g_file_test (bb_path, G_FILE_TEST_EXISTS))
    {
      g_autofree char *msg = g_strdup_printf ("BOTTEGA_SHARED_DIR/models/%s is absent", file);
      g_test_skip (msg);
      return;
    }
  g_autoptr(GError) error = NULL;
  g_autoptr(BtTflite) bb = bt_tflite_load (bb_path, &error);
  g_assert_no_error (error);
  int h, w, c, dim;
  bt_tflite_input_shape (bb, &h, &w, &c);
  int cut = bt_tflite_find_embedding_cut (bb, &dim, &error);
  g_assert_no_error (error);
  g_assert_cmpint (cut, >=, 0);

  g_autoptr(BtNet) head = bt_net_new_transfer (dim, 16, 4, 0.2f, 5, &error);
  g_assert_no_error (error);
  bt_test_perturb_net (head, 9);

  g_autofree guint8 *px = bt_test_load_pixels (w, h, c);
  gsize plane = (gsize) w * h * c;
  g_autofree float *x = g_new (float, plane * N_IMAGES);
  g_autofree float *emb = g_new (float, (gsize) dim * N_IMAGES);
  /* the ONNX file holds the backbone's dequantized float graph: compare with Bottega's float
   * path (its integer path, the default where the CPU has it, differs by up to half an output step) */
  g_autoptr(BtTfliteExec) exec = bt_tflite_exec_new_path (bb, BT_TFLITE_PATH_FLOAT, &error);
  g_assert_no_error (error);
  for (int i = 0; i < N_IMAGES; i++)
    {
      bt_tflite_pixels_to_input (bb, px + plane * i, x + plane * i);
      gsize n_out = 0;
      const float *e = bt_tflite_exec_run (exec, x + plane * i, cut, &n_out, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (n_out, ==, dim);
      memcpy (emb + (gsize) dim * i, e, sizeof (float) * dim);
    }
  const float *p = bt_net_forward (head, emb, N_IMAGES, FALSE, &error);
  g_assert_no_error (error);
  g_autofree float *probs = g_memdup2 (p, sizeof (float) * 4 * N_IMAGES);

  BtPreprocess prep;
  backbone_prep (bb, &prep);

  /* without its backbone a transfer model cannot be exported */
  BtModel m = { .net = head, .class_names = (char **) class_names, .prep = prep, .backbone_name = "mobilenet" };
  g_autofree char *dir = bt_test_mkdtemp ();
  g_autofree char *out = g_build_filename (dir, "x.onnx", NULL);
  g_assert_false (bt_onnx_export_model (&m, NULL, BT_ONNX_FORM_FAST, out, &error));
  g_assert_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_false (g_file_test (out, G_FILE_TEST_EXISTS));
  for (guint f = 0; f < G_N_ELEMENTS (forms); f++)
    {
      g_assert_true (bt_onnx_export_model (&m, bb_path, forms[f], out, &error));
      g_assert_no_error (error);
      g_autoptr(GMappedFile) mapped = g_mapped_file_new (out, FALSE, &error);
      g_assert_no_error (error);
      g_autoptr(GBytes) model = g_mapped_file_get_bytes (mapped);
      g_assert_cmpuint (g_bytes_get_size (model), >, dim * 16 * 4);
      check_with_python (model, forms[f], x, N_IMAGES, c, h, w, probs, 4, class_names, &prep);
    }
  bt_test_rm_rf (dir);
}

/* A fine-tuned whole-network model (#27): the last two blocks of MobileNet V2 changed, exported
 * with the weights it carries; ONNX Runtime and OpenCV must agree with our executor running the
 * changed backbone, which must differ from the file's own. */
static void
test_finetuned (void)
{
  g_autofree char *bb_path = bt_test_shared_file ("models", "mobilenet_v2_1.0_224_quant.tflite");
  g_autoptr(GError) error = NULL;
  if (bb_path == NULL)
    {
      g_test_skip ("BOTTEGA_SHARED_DIR/models/mobilenet_v2_1.0_224_quant.tflite is absent");
      return;
    }
  g_autoptr(GMappedFile) bbf = g_mapped_file_new (bb_path, FALSE, &error);
  g_assert_no_error (error);
  g_autoptr(GBytes) bb_bytes = g_mapped_file_get_bytes (bbf);
  g_autoptr(BtTflite) orig = bt_tflite_load_bytes (bb_bytes, &error);
  g_autoptr(BtTflite) tuned = bt_tflite_load_bytes (bb_bytes, &error);
  g_assert_no_error (error);
  int h, w, c, dim;
  bt_tflite_input_shape (orig, &h, &w, &c);
  int end = bt_tflite_find_embedding_cut (orig, &dim, &error);

  /* "fine-tuned" weights: the file's, nudged */
  g_autoptr(GArray) weights = bt_test_nudged_top_blocks (orig, 27);
  g_assert_true (bt_tflite_apply_weights (tuned, weights, &error));

  g_autoptr(BtNet) head = bt_net_new_transfer (dim, 0, 4, 0.0f, 5, &error);
  bt_test_perturb_net (head, 3);
  g_autofree guint8 *px = bt_test_load_pixels (w, h, c);
  gsize plane = (gsize) w * h * c;
  g_autofree float *x = g_new (float, plane * N_IMAGES);
  g_autofree float *emb = g_new (float, (gsize) dim * N_IMAGES);
  g_autoptr(BtTfliteExec) ex_t = bt_tflite_exec_new (tuned, &error);   /* changed weights: float path */
  g_autoptr(BtTfliteExec) ex_o = bt_tflite_exec_new_path (orig, BT_TFLITE_PATH_FLOAT, &error);
  double moved = 0;
  for (int i = 0; i < N_IMAGES; i++)
    {
      gsize n_out;
      bt_tflite_pixels_to_input (orig, px + plane * i, x + plane * i);
      const float *eo = bt_tflite_exec_run (ex_o, x + plane * i, end, &n_out, &error);
      for (int k = 0; k < dim; k++)
        emb[(gsize) dim * i + k] = eo[k];
      const float *et = bt_tflite_exec_run (ex_t, x + plane * i, end, &n_out, &error);
      g_assert_no_error (error);
      for (int k = 0; k < dim; k++)
        moved += fabsf (et[k] - emb[(gsize) dim * i + k]);
      memcpy (emb + (gsize) dim * i, et, sizeof (float) * dim);
    }
  g_assert_cmpfloat (moved / (N_IMAGES * dim), >, 1e-3);
  const float *pr = bt_net_forward (head, emb, N_IMAGES, FALSE, &error);
  g_assert_no_error (error);
  g_autofree float *probs = g_memdup2 (pr, sizeof (float) * 4 * N_IMAGES);

  BtPreprocess prep;
  backbone_prep (orig, &prep);
  BtModel m = { .net = head, .class_names = (char **) class_names, .prep = prep,
                .backbone_name = "mobilenet_v2_1.0_224_quant.tflite", .backbone_data = bb_bytes,
                .backbone_weights = weights };
  g_autofree char *dir = bt_test_mkdtemp ();
  g_autofree char *out = g_build_filename (dir, "x.onnx", NULL);
  /* a given backbone file does not replace the model's own fine-tuned one */
  g_assert_true (bt_onnx_export_model (&m, bb_path, BT_ONNX_FORM_FAST, out, &error));
  g_assert_no_error (error);
  g_autoptr(GMappedFile) mapped = g_mapped_file_new (out, FALSE, &error);
  g_assert_no_error (error);
  g_autoptr(GBytes) model = g_mapped_file_get_bytes (mapped);
  check_with_python (model, BT_ONNX_FORM_FAST, x, N_IMAGES, c, h, w, probs, 4, class_names, &prep);
  bt_test_rm_rf (dir);
}

/* A saved model whose temperature is not 1, with an unknown threshold and a saved class
 * threshold, exported by `bottega-cli export --onnx`: ONNX Runtime's probabilities and
 * unknown_score on photo crops must be `bottega-cli predict --json`'s within 1e-4, and the
 * decision rule must be in metadata_props (read by python3-onnx). */
static void
check_calibrated (BtNet *net, const BtPreprocess *prep, GBytes *backbone, double temperature)
{
  g_autofree char *photo = bt_test_shared_file ("images", "grace_hopper.bmp");
  if (photo == NULL)
    {
      g_test_skip ("BOTTEGA_SHARED_DIR/images is absent");
      return;
    }
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = bt_test_mkdtemp ();
  g_autofree char *crops = g_build_filename (dir, "crops", NULL);
  bt_test_write_crops (photo, crops, "c", N_IMAGES, 24);

  BtModel m = { .net = net, .class_names = (char **) class_names, .prep = *prep,
                .backbone_name = backbone ? "mobilenet_v1_0.25_128_quant.tflite" : NULL,
                .backbone_data = backbone };
  m.calib.temperature = temperature;
  m.calib.unknown_threshold = -1.5;
  g_assert_true (bt_model_set_threshold (&m, 1, 0.8, &error));
  g_assert_no_error (error);
  g_autofree char *model_path = g_build_filename (dir, "m.bottega-model", NULL);
  g_assert_true (bt_model_save_model (model_path, &m, &error));
  g_assert_no_error (error);
  g_clear_pointer (&m.class_thresholds, g_free);

  g_autofree char *onnx = g_build_filename (dir, "model.onnx", NULL);
  g_assert_cmpint (bt_test_run_cli ((const char *[]) { "export", model_path, "--onnx", onnx, NULL }, NULL, NULL), ==, 0);

  int c = prep->channels, h = prep->height, w = prep->width;
  gsize plane = (gsize) c * h * w;
  g_autofree float *x = g_new (float, plane * N_IMAGES);
  g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func (g_free);
  for (int i = 0; i < N_IMAGES; i++)
    {
      g_autofree char *name = g_strdup_printf ("c-%02d.bmp", i);
      char *path = g_build_filename (crops, name, NULL);
      g_autoptr(BtImage) img = bt_image_preprocess_file (path, w, h, c, bt_resize_mode_to_ds (prep->resize),
                                                         NULL, NULL, &error);
      g_assert_no_error (error);
      bt_image_to_chw_float (img->pixels, w, h, c, prep->scale, prep->mean, prep->std, x + plane * i);
      g_ptr_array_add (paths, path);
    }
  g_free (bt_test_predict_json (dir, model_path, (const char * const *) paths->pdata, paths->len));
  bt_test_write_floats (dir, "input.bin", x, plane * N_IMAGES);

  g_autofree char *labels = bt_onnx_labels_json (class_names);
  g_autofree char *pj = bt_onnx_preprocessing_json (prep);
  char t[G_ASCII_DTOSTR_BUF_SIZE];
  g_ascii_formatd (t, sizeof t, "%.9g", temperature);
  g_autofree char *spec = g_strdup_printf ("{\"input_shape\":[%d,%d,%d,%d],\"labels\":%s,\"preprocessing\":%s,"
                                           "\"predict_json\":\"predict.json\",\"metadata\":{"
                                           "\"calibration_temperature\":%s,\"unknown_threshold\":-1.5,"
                                           "\"class_thresholds\":{\"%s\":0.8}}}",
                                           N_IMAGES, c, h, w, labels, pj, t, class_names[1]);
  g_autofree char *spec_path = g_build_filename (dir, "spec.json", NULL);
  g_assert_true (g_file_set_contents (spec_path, spec, -1, &error));
  bt_test_run_python ("check-onnx.py", (const char *[]) { dir, "--form", "fast", NULL });
  bt_test_rm_rf (dir);
}

static void
test_calibrated_preset (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(BtNet) net = bt_net_new_preset (BT_PRESET_SMALL_CNN, 24, 24, 3, 4, -1.0f, 11, &error);
  g_assert_no_error (error);
  bt_test_perturb_net (net, 5);
  BtPreprocess prep;
  bt_preprocess_init_default (&prep, 24, 24, 3);
  prep.resize = BT_RESIZE_CENTER_CROP;
  check_calibrated (net, &prep, NULL, 0.4);
}

static void
test_calibrated_transfer (void)
{
  g_autofree char *bb_path = bt_test_shared_file ("models", "mobilenet_v1_0.25_128_quant.tflite");
  if (bb_path == NULL)
    {
      g_test_skip ("BOTTEGA_SHARED_DIR/models/mobilenet_v1_0.25_128_quant.tflite is absent");
      return;
    }
  g_autoptr(GError) error = NULL;
  g_autoptr(GMappedFile) f = g_mapped_file_new (bb_path, FALSE, &error);
  g_assert_no_error (error);
  g_autoptr(GBytes) bytes = g_mapped_file_get_bytes (f);
  g_autoptr(BtTflite) bb = bt_tflite_load_bytes (bytes, &error);
  g_assert_no_error (error);
  int dim;
  bt_tflite_find_embedding_cut (bb, &dim, &error);
  g_assert_no_error (error);
  g_autoptr(BtNet) head = bt_net_new_transfer (dim, 16, 4, 0.2f, 5, &error);
  g_assert_no_error (error);
  bt_test_perturb_net (head, 9);
  BtPreprocess prep;
  backbone_prep (bb, &prep);
  check_calibrated (head, &prep, bytes, 1.7);
}

static int
free_port (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) sock = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  g_autoptr(GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new (lo, 0);
  g_assert_true (g_socket_bind (sock, any, TRUE, &error));
  g_autoptr(GSocketAddress) bound = g_socket_get_local_address (sock, &error);
  g_assert_no_error (error);
  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
}

/* A snippet test's model — a Small CNN 24 × 20, centre crop, mean and std (NULL: the defaults),
 * temperature; m->net is the caller's — saved as DIR/m.bottega-model and exported to
 * DIR/model.onnx, and a shared photo at the model's size as DIR/photo.bmp (so a snippet's resize
 * is the identity). Returns DIR, or NULL (the test skipped) without the shared photos. */
static char *
write_snippet_files (BtModel *m, const float *mean, const float *std, double temperature, char **model_path,
                     char **image)
{
  g_autofree char *photo = bt_test_shared_file ("images", "grace_hopper.bmp");
  if (photo == NULL)
    {
      g_test_skip ("BOTTEGA_SHARED_DIR/images is absent");
      return NULL;
    }
  g_autoptr(GError) error = NULL;
  *m = (BtModel) { .class_names = (char **) class_names };
  m->net = bt_net_new_preset (BT_PRESET_SMALL_CNN, 24, 20, 3, 4, -1.0f, 11, &error);
  g_assert_no_error (error);
  bt_test_perturb_net (m->net, 6);
  bt_preprocess_init_default (&m->prep, 24, 20, 3);
  m->prep.resize = BT_RESIZE_CENTER_CROP;
  if (mean != NULL)
    memcpy (m->prep.mean, mean, sizeof m->prep.mean);
  if (std != NULL)
    memcpy (m->prep.std, std, sizeof m->prep.std);
  m->calib.temperature = temperature;
  m->calib.unknown_threshold = NAN;

  char *dir = bt_test_mkdtemp ();
  *model_path = g_build_filename (dir, "m.bottega-model", NULL);
  g_assert_true (bt_model_save_model (*model_path, m, &error));
  g_assert_no_error (error);
  g_autofree char *onnx = g_build_filename (dir, "model.onnx", NULL);
  g_assert_cmpint (bt_test_run_cli ((const char *[]) { "export", *model_path, "--onnx", onnx, NULL }, NULL, NULL), ==, 0);
  g_autoptr(BtImage) img = bt_image_preprocess_file (photo, m->prep.width, m->prep.height, m->prep.channels,
                                                     BT_DS_RESIZE_SQUASH, NULL, NULL, &error);
  g_assert_no_error (error);
  *image = g_build_filename (dir, "photo.bmp", NULL);
  bt_test_write_bmp (*image, img);
  return dir;
}

static void
write_text (const char *dir, const char *name, const char *text)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_assert_true (g_file_set_contents (path, text, -1, &error));
  g_assert_no_error (error);
}

/* The "Use It in Your App" page's Python and curl snippets (bt_export_snippet, the text the
 * page shows with this test's file names and server address) run on a photo of the model's
 * size: they must print `bottega-cli predict`'s class, probability and unknown score. The web
 * page's script must at least be JavaScript node can parse (/onnx-export/web-snippet runs it). */
static void
test_snippets (void)
{
  BtModel m;
  g_autofree char *model_path = NULL, *image = NULL;
  g_autofree char *dir = write_snippet_files (&m, NULL, NULL, 0.5, &model_path, &image);
  if (dir == NULL)
    return;
  g_autoptr(BtNet) net = m.net;
  g_autofree char *onnx = g_build_filename (dir, "model.onnx", NULL);

  int port = free_port ();
  g_autofree char *url = g_strdup_printf ("http://127.0.0.1:%d/", port);
  BtSnippetPlaces places = { .onnx_file = onnx, .image_file = image, .server_url = url };
  g_autofree char *py = bt_export_snippet (&m, BT_SNIPPET_PYTHON, &places);
  g_autofree char *sh = bt_export_snippet (&m, BT_SNIPPET_CURL, &places);
  g_autofree char *web = bt_export_snippet (&m, BT_SNIPPET_WEB, &places);
  write_text (dir, "web.html", web);
  write_text (dir, "snippet.py", py);
  write_text (dir, "curl.sh", sh);

  g_free (bt_test_predict_json (dir, model_path, (const char *[]) { image }, 1));
  GString *spec = g_string_new ("{\"model\":");
  bt_json_append_string (spec, model_path);
  g_string_append_printf (spec, ",\"port\":%d}", port);
  g_autofree char *spec_text = g_string_free (spec, FALSE);
  write_text (dir, "spec.json", spec_text);
  bt_test_run_python ("check-snippet.py", (const char *[]) { dir, NULL });
  bt_test_rm_rf (dir);
}

/* The web page snippet run for real (check-snippet.py --web): the page as bt_export_snippet
 * writes it (onnxruntime-web's script from this server, not the CDN), the exported file and a
 * photo of the model's size served on 127.0.0.1 and opened in headless Chromium: every class's
 * probability and the unknown score must be predict's within 1e-4. The mean and std differ by
 * channel, so a page that drops, swaps or misapplies them fails. */
static void
test_web_snippet (void)
{
  const float mean[3] = { 0.485f, 0.456f, 0.406f }, std[3] = { 0.229f, 0.224f, 0.225f };
  BtModel m;
  g_autofree char *model_path = NULL, *image = NULL;
  g_autofree char *dir = write_snippet_files (&m, mean, std, 2.0, &model_path, &image);
  if (dir == NULL)
    return;
  g_autoptr(BtNet) net = m.net;

  /* the page's own folder is the server's: names relative to it */
  BtSnippetPlaces places = { .onnx_file = "model.onnx", .web_runtime = "ort/ort.min.js" };
  g_autofree char *web = bt_export_snippet (&m, BT_SNIPPET_WEB, &places);
  write_text (dir, "web.html", web);
  g_free (bt_test_predict_json (dir, model_path, (const char *[]) { image }, 1));
  g_autofree char *labels = bt_onnx_labels_json ((const char * const *) class_names);
  g_autofree char *spec = g_strdup_printf ("{\"image\":\"photo.bmp\",\"labels\":%s}", labels);
  write_text (dir, "spec.json", spec);
  bt_test_run_python ("check-snippet.py", (const char *[]) { dir, "--web", NULL });
  bt_test_rm_rf (dir);
}

static void
test_bad_input (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(BtNet) net = bt_net_new_preset (BT_PRESET_MLP, 8, 8, 1, 4, -1.0f, 1, &error);
  g_assert_no_error (error);
  BtPreprocess prep;
  bt_preprocess_init_default (&prep, 8, 8, 1);
  BtPreprocess wrong = prep;
  wrong.width = 9;
  g_assert_null (bt_onnx_export_net (net, class_names, &wrong, NULL, BT_ONNX_FORM_FAST, &error));
  g_assert_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID);
  g_clear_error (&error);
  const char *too_few[] = { "a", "b", NULL };
  g_assert_null (bt_onnx_export_net (net, too_few, &prep, NULL, BT_ONNX_FORM_FAST, &error));
  g_assert_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID);
  g_clear_error (&error);

  /* an unwritable destination is an error, not a crash */
  BtModel m = { .net = net, .class_names = (char **) class_names, .prep = prep };
  g_assert_false (bt_onnx_export_model (&m, NULL, BT_ONNX_FORM_FAST, "/nonexistent-dir/model.onnx", &error));
  g_assert_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_IO);
  g_clear_error (&error);

  /* a backbone that is not a TFLite file */
  g_autoptr(BtNet) head = bt_net_new_transfer (32, 0, 4, 0.0f, 1, &error);
  g_assert_no_error (error);
  g_autofree char *dir = bt_test_mkdtemp ();
  g_autofree char *bogus = g_build_filename (dir, "bogus.tflite", NULL);
  g_file_set_contents (bogus, "not a flatbuffer at all", -1, &error);
  g_assert_no_error (error);
  g_assert_null (bt_onnx_export_net (head, class_names, &prep, bogus, BT_ONNX_FORM_OPENCV, &error));
  g_assert_nonnull (error);
  bt_test_rm_rf (dir);
}

static const PresetCase cases[] = {
  { BT_PRESET_MLP, 28, 28, 1 },
  { BT_PRESET_SMALL_CNN, 32, 24, 3 },
  { BT_PRESET_DEEPER_CNN, 32, 32, 3 },
  { BT_PRESET_MINI_RESNET, 30, 30, 3 },
  { BT_PRESET_TRANSFER, 4, 4, 3 },    /* a head on its own: flatten → dense */
};

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  bt_engine_set_threads (1);
  /* the ONNX file holds the backbone's float graph: predict must run the same (not int8) */
  g_setenv ("BOTTEGA_TFLITE_PATH", "float", TRUE);
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/onnx-export/preset/%s", bt_preset_to_id (cases[i].preset));
      g_test_add_data_func (path, &cases[i], test_preset);
    }
  /* MobileNet V1 (plain chain) and V2 (residual adds, the preset's default backbone) */
  g_test_add_data_func ("/onnx-export/transfer-with-backbone/mobilenet-v1",
                        "mobilenet_v1_0.25_128_quant.tflite", test_transfer);
  g_test_add_data_func ("/onnx-export/transfer-with-backbone/mobilenet-v2",
                        "mobilenet_v2_1.0_224_quant.tflite", test_transfer);
  g_test_add_func ("/onnx-export/bad-input", test_bad_input);
  g_test_add_func ("/onnx-export/calibrated/small-cnn", test_calibrated_preset);
  g_test_add_func ("/onnx-export/calibrated/transfer", test_calibrated_transfer);
  g_test_add_func ("/onnx-export/snippets", test_snippets);
  g_test_add_func ("/onnx-export/web-snippet", test_web_snippet);
  g_test_add_func ("/onnx-export/transfer-finetuned/mobilenet-v2", test_finetuned);
  return g_test_run ();
}
