/* bt-export-snippets.c: the code of bt-export-snippets.h, written from the model's own recipe
 * (size, channels, resize mode, scale, mean, std) and class names. */
#include "config.h"

#include "training/bt-export-snippets.h"
#include "engine/bt-onnx.h"

#include <string.h>

typedef struct {
  int         w, h, c;
  char        scale[G_ASCII_DTOSTR_BUF_SIZE];
  GString    *mean, *std, *labels;
  BtResizeMode resize;
  const char *onnx, *tflite, *image, *url, *web_runtime;
} Recipe;

static void
append_floats (GString *s, const float *v, int n, const char *suffix)
{
  for (int i = 0; i < n; i++)
    {
      char buf[G_ASCII_DTOSTR_BUF_SIZE];
      g_ascii_formatd (buf, sizeof buf, "%.8g", (double) v[i]);
      g_string_append_printf (s, "%s%s%s", i ? ", " : "", buf, suffix);
    }
}

static void
recipe_init (Recipe *r, const BtModel *m, const BtSnippetPlaces *places, const char *float_suffix)
{
  const BtPreprocess *p = &m->prep;
  r->w = p->width;
  r->h = p->height;
  r->c = p->channels == 1 ? 1 : 3;
  r->resize = p->resize;
  g_ascii_formatd (r->scale, sizeof r->scale, "%.8g", (double) p->scale);
  r->mean = g_string_new (NULL);
  r->std = g_string_new (NULL);
  append_floats (r->mean, p->mean, r->c, float_suffix);
  append_floats (r->std, p->std, r->c, float_suffix);
  r->labels = g_string_new (NULL);
  for (guint i = 0; m->class_names[i]; i++)
    {
      if (i > 0)
        g_string_append (r->labels, ", ");
      bt_json_append_string (r->labels, m->class_names[i]);
    }
  r->onnx = places && places->onnx_file ? places->onnx_file : "model.onnx";
  r->tflite = places && places->tflite_file ? places->tflite_file : "model.tflite";
  r->image = places && places->image_file ? places->image_file : "photo.jpg";
  r->url = places && places->server_url ? places->server_url : "http://127.0.0.1:8080/";
  r->web_runtime = places && places->web_runtime ? places->web_runtime
                   : "https://cdn.jsdelivr.net/npm/onnxruntime-web@" BT_SNIPPET_ORT_WEB_VERSION "/dist/ort.min.js";
}

static void
recipe_clear (Recipe *r)
{
  g_string_free (r->mean, TRUE);
  g_string_free (r->std, TRUE);
  g_string_free (r->labels, TRUE);
}

static const char *
resize_words (BtResizeMode mode)
{
  return mode == BT_RESIZE_CENTER_CROP ? "scaled to cover, centre cropped"
         : mode == BT_RESIZE_PAD ? "scaled to fit, padded with black" : "stretched to the size";
}

/* The snippets' comment line that says the preprocessing, in the language's comment marks. */
static void
preprocessing_comment (GString *s, const Recipe *r, const char *open, const char *close)
{
  g_string_append_printf (s, "%s the model's preprocessing: %d × %d, %s, %s%s\n", open, r->w, r->h,
                          r->c == 1 ? "greyscale" : "RGB", resize_words (r->resize), close);
}

static void
python (GString *s, const Recipe *r)
{
  g_string_append (s,
    "import numpy as np\n"
    "import onnxruntime as ort\n"
    "from PIL import Image\n\n");
  preprocessing_comment (s, r, "#", "");
  g_string_append_printf (s,
    "W, H = %d, %d\n"
    "SCALE = %s\n"
    "MEAN = np.array([%s], dtype=np.float32)\n"
    "STD = np.array([%s], dtype=np.float32)\n"
    "LABELS = [%s]\n\n"
    "def load(path):\n"
    "    img = Image.open(path).convert(\"%s\")\n",
    r->w, r->h, r->scale, r->mean->str, r->std->str, r->labels->str, r->c == 1 ? "L" : "RGB");
  if (r->resize == BT_RESIZE_SQUASH)
    g_string_append (s, "    img = img.resize((W, H), Image.BILINEAR)\n");
  else
    {
      g_string_append_printf (s,
        "    s = %s(W / img.width, H / img.height)\n"
        "    img = img.resize((round(img.width * s), round(img.height * s)), Image.BILINEAR)\n",
        r->resize == BT_RESIZE_CENTER_CROP ? "max" : "min");
      if (r->resize == BT_RESIZE_CENTER_CROP)
        g_string_append (s, "    left, top = (img.width - W) // 2, (img.height - H) // 2\n"
                            "    img = img.crop((left, top, left + W, top + H))\n");
      else
        g_string_append (s, "    canvas = Image.new(img.mode, (W, H))\n"
                            "    canvas.paste(img, ((W - img.width) // 2, (H - img.height) // 2))\n"
                            "    img = canvas\n");
    }
  g_string_append_printf (s,
    "    x = (np.asarray(img, dtype=np.float32)%s * SCALE - MEAN) / STD\n"
    "    return x.transpose(2, 0, 1)[None]  # 1 × C × H × W\n\n"
    "session = ort.InferenceSession(\"%s\")\n"
    "probabilities, unknown_score = session.run(None, {\"image\": load(\"%s\")})\n"
    "best = int(probabilities[0].argmax())\n"
    "print(LABELS[best], float(probabilities[0][best]), float(unknown_score[0]))\n",
    r->c == 1 ? "[:, :, None]" : "", r->onnx, r->image);
}

static void
web (GString *s, const Recipe *r)
{
  g_string_append_printf (s,
    "<script src=\"%s\"></script>\n"
    "<script>\n", r->web_runtime);
  preprocessing_comment (s, r, "//", "");
  g_string_append_printf (s,
    "const W = %d, H = %d, C = %d, SCALE = %s;\n"
    "const MEAN = [%s], STD = [%s];\n"
    "const LABELS = [%s];\n"
    "const session = ort.InferenceSession.create(\"%s\");\n\n"
    "async function classify(img) {  // a loaded <img>\n"
    "  const canvas = document.createElement(\"canvas\");\n"
    "  canvas.width = W; canvas.height = H;\n"
    "  const ctx = canvas.getContext(\"2d\");\n",
    r->w, r->h, r->c, r->scale, r->mean->str, r->std->str, r->labels->str, r->onnx);
  if (r->resize == BT_RESIZE_SQUASH)
    g_string_append (s, "  ctx.drawImage(img, 0, 0, W, H);\n");
  else
    g_string_append_printf (s,
      "%s"
      "  const s = Math.%s(W / img.naturalWidth, H / img.naturalHeight);\n"
      "  const w = img.naturalWidth * s, h = img.naturalHeight * s;\n"
      "  ctx.drawImage(img, (W - w) / 2, (H - h) / 2, w, h);\n",
      r->resize == BT_RESIZE_PAD ? "  ctx.fillStyle = \"black\"; ctx.fillRect(0, 0, W, H);\n" : "",
      r->resize == BT_RESIZE_CENTER_CROP ? "max" : "min");
  g_string_append_printf (s,
    "  const px = ctx.getImageData(0, 0, W, H).data;\n"
    "  const x = new Float32Array(C * H * W);\n"
    "  for (let i = 0; i < H * W; i++)\n"
    "    for (let c = 0; c < C; c++) {\n"
    "      const v = %s;\n"
    "      x[c * H * W + i] = (v * SCALE - MEAN[c]) / STD[c];\n"
    "    }\n"
    "  const out = await (await session).run({ image: new ort.Tensor(\"float32\", x, [1, C, H, W]) });\n"
    "  const p = Array.from(out.probabilities.data);\n"
    "  const best = p.indexOf(Math.max(...p));\n"
    "  // unknownScore above the file's unknown_threshold (in its metadata): not one of the classes\n"
    "  return { label: LABELS[best], probability: p[best], probabilities: p,\n"
    "           unknownScore: out.unknown_score.data[0] };\n"
    "}\n"
    "</script>\n",
    r->c == 1 ? "0.299 * px[i * 4] + 0.587 * px[i * 4 + 1] + 0.114 * px[i * 4 + 2]" : "px[i * 4 + c]");
}

static void
kotlin (GString *s, const Recipe *r)
{
  /* "$" starts a template in a Kotlin string */
  g_autoptr(GString) labels = g_string_new (r->labels->str);
  g_string_replace (labels, "$", "\\$", 0);
  g_string_append_printf (s,
    "// build.gradle: implementation(\"org.tensorflow:tensorflow-lite:2.14.0\")\n"
    "// and \"%s\" in src/main/assets (the float TensorFlow Lite file)\n"
    "import android.content.Context\n"
    "import android.graphics.Bitmap\n"
    "import android.graphics.Color\n"
    "import java.io.FileInputStream\n"
    "import java.nio.ByteBuffer\n"
    "import java.nio.ByteOrder\n"
    "import java.nio.channels.FileChannel\n"
    "import org.tensorflow.lite.Interpreter\n\n", r->tflite);
  preprocessing_comment (s, r, "//", "");
  g_string_append_printf (s,
    "const val W = %d\n"
    "const val H = %d\n"
    "const val SCALE = %sf\n"
    "val MEAN = floatArrayOf(%s)\n"
    "val STD = floatArrayOf(%s)\n"
    "val LABELS = arrayOf(%s)\n\n"
    "fun classify(context: Context, bitmap: Bitmap): Pair<String, Float> {\n"
    "    val fd = context.assets.openFd(\"%s\")\n"
    "    val file = FileInputStream(fd.fileDescriptor).channel\n"
    "        .map(FileChannel.MapMode.READ_ONLY, fd.startOffset, fd.declaredLength)\n"
    "    val interpreter = Interpreter(file)\n",
    r->w, r->h, r->scale, r->mean->str, r->std->str, labels->str, r->tflite);
  if (r->resize == BT_RESIZE_SQUASH)
    g_string_append (s, "    val img = Bitmap.createScaledBitmap(bitmap, W, H, true)\n");
  else if (r->resize == BT_RESIZE_CENTER_CROP)
    g_string_append (s,
      "    val side = minOf(bitmap.width * H / W, bitmap.height)\n"
      "    val crop = Bitmap.createBitmap(bitmap, (bitmap.width - side * W / H) / 2, (bitmap.height - side) / 2,\n"
      "                                   side * W / H, side)\n"
      "    val img = Bitmap.createScaledBitmap(crop, W, H, true)\n");
  else
    g_string_append (s,
      "    val s = minOf(W.toFloat() / bitmap.width, H.toFloat() / bitmap.height)\n"
      "    val fit = Bitmap.createScaledBitmap(bitmap, (bitmap.width * s).toInt(), (bitmap.height * s).toInt(), true)\n"
      "    val img = Bitmap.createBitmap(W, H, Bitmap.Config.ARGB_8888)\n"
      "    android.graphics.Canvas(img).apply { drawColor(Color.BLACK)\n"
      "        drawBitmap(fit, ((W - fit.width) / 2).toFloat(), ((H - fit.height) / 2).toFloat(), null) }\n");
  g_string_append_printf (s,
    "    // TensorFlow Lite takes channels last: 1 × H × W × %d floats\n"
    "    val input = ByteBuffer.allocateDirect(4 * W * H * %d).order(ByteOrder.nativeOrder())\n"
    "    for (y in 0 until H) for (x in 0 until W) {\n"
    "        val p = img.getPixel(x, y)\n"
    "        val rgb = %s\n"
    "        for (c in rgb.indices) input.putFloat((rgb[c] * SCALE - MEAN[c]) / STD[c])\n"
    "    }\n"
    "    val output = Array(1) { FloatArray(LABELS.size) }\n"
    "    interpreter.run(input, output)\n"
    "    val best = output[0].indices.maxByOrNull { output[0][it] }!!\n"
    "    return LABELS[best] to output[0][best]\n"
    "}\n",
    r->c, r->c,
    r->c == 1 ? "floatArrayOf(0.299f * Color.red(p) + 0.587f * Color.green(p) + 0.114f * Color.blue(p))"
              : "floatArrayOf(Color.red(p).toFloat(), Color.green(p).toFloat(), Color.blue(p).toFloat())");
}

static void
c_api (GString *s, const Recipe *r)
{
  g_string_append (s,
    "/* cc app.c -lonnxruntime (ONNX Runtime's C API); each Ort call returns an OrtStatus *,\n"
    " * NULL on success: check it in real code. */\n"
    "#include <onnxruntime_c_api.h>\n"
    "#include <stdint.h>\n"
    "#include <stdio.h>\n\n");
  preprocessing_comment (s, r, "/*", " */");
  g_string_append_printf (s,
    "enum { W = %d, H = %d, C = %d };\n"
    "static const float SCALE = %sf;\n"
    "static const float MEAN[C] = { %s }, STD[C] = { %s };\n"
    "static const char *LABELS[] = { %s };\n\n"
    "/* pixels: the image already resized to W × H, C bytes per pixel, row by row */\n"
    "int classify (const unsigned char *pixels)\n"
    "{\n"
    "  static float x[C * H * W];\n"
    "  for (int c = 0; c < C; c++)\n"
    "    for (int i = 0; i < H * W; i++)\n"
    "      x[c * H * W + i] = (pixels[i * C + c] * SCALE - MEAN[c]) / STD[c];\n\n"
    "  const OrtApi *ort = OrtGetApiBase ()->GetApi (ORT_API_VERSION);\n"
    "  OrtEnv *env;\n"
    "  OrtSessionOptions *options;\n"
    "  OrtSession *session;\n"
    "  OrtMemoryInfo *memory;\n"
    "  OrtValue *input = NULL, *output = NULL;\n"
    "  ort->CreateEnv (ORT_LOGGING_LEVEL_WARNING, \"app\", &env);\n"
    "  ort->CreateSessionOptions (&options);\n"
    "  ort->CreateSession (env, \"%s\", options, &session);\n"
    "  ort->CreateCpuMemoryInfo (OrtArenaAllocator, OrtMemTypeDefault, &memory);\n"
    "  const int64_t shape[] = { 1, C, H, W };\n"
    "  ort->CreateTensorWithDataAsOrtValue (memory, x, sizeof x, shape, 4,\n"
    "                                       ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT, &input);\n"
    "  const char *in_names[] = { \"image\" }, *out_names[] = { \"probabilities\" };\n"
    "  ort->Run (session, NULL, in_names, (const OrtValue *const *) &input, 1, out_names, 1, &output);\n"
    "  float *p;\n"
    "  ort->GetTensorMutableData (output, (void **) &p);\n"
    "  int best = 0;\n"
    "  for (int k = 1; k < (int) (sizeof LABELS / sizeof *LABELS); k++)\n"
    "    if (p[k] > p[best])\n"
    "      best = k;\n"
    "  printf (\"%%s %%.4f\\n\", LABELS[best], p[best]);\n"
    "  ort->ReleaseValue (output);\n"
    "  ort->ReleaseValue (input);\n"
    "  ort->ReleaseMemoryInfo (memory);\n"
    "  ort->ReleaseSession (session);\n"
    "  ort->ReleaseSessionOptions (options);\n"
    "  ort->ReleaseEnv (env);\n"
    "  return best;\n"
    "}\n",
    r->w, r->h, r->c, r->scale, r->mean->str, r->std->str, r->labels->str, r->onnx);
}

static void
curl (GString *s, const Recipe *r)
{
  /* the server does the preprocessing itself */
  g_string_append_printf (s,
    "# first, in another terminal: bottega-cli serve MODEL.bottega-model\n"
    "curl -s --data-binary @%s %spredict\n", r->image, r->url);
}

char *
bt_export_snippet (const BtModel *model, BtSnippetKind kind, const BtSnippetPlaces *places)
{
  g_return_val_if_fail (model != NULL && model->class_names != NULL, NULL);
  g_return_val_if_fail (kind < BT_N_SNIPPETS, NULL);
  static void (*const writers[BT_N_SNIPPETS]) (GString *, const Recipe *) = { python, web, kotlin, c_api, curl };
  Recipe r;
  /* Kotlin and C want a float literal suffix */
  recipe_init (&r, model, places, kind == BT_SNIPPET_KOTLIN || kind == BT_SNIPPET_C ? "f" : "");
  GString *s = g_string_new (NULL);
  writers[kind] (s, &r);
  recipe_clear (&r);
  return g_string_free (s, FALSE);
}
