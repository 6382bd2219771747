/* test-onnx-graph.c: the protobuf writer's encodings, and hand-built ONNX graphs covering every
 * operator the exporter uses, checked by onnx.checker and run by OpenCV against the engine's
 * own kernels (max abs difference ≤ 1e-4). */
#include "engine/bt-layers.h"
#include "engine/bt-onnx.h"
#include "engine/bt-protobuf.h"
#include "bt-export-test-util.h"

#include <math.h>
#include <string.h>

static void
assert_bytes (GByteArray *buf, const guint8 *want, gsize n)
{
  g_assert_cmpuint (buf->len, ==, n);
  g_assert_cmpmem (buf->data, buf->len, want, n);
  g_byte_array_set_size (buf, 0);
}

static void
test_protobuf_encodings (void)
{
  g_autoptr(GByteArray) b = g_byte_array_new ();

  bt_pb_put_varint (b, 1, 150);                     /* the protobuf documentation's example */
  assert_bytes (b, (const guint8[]) { 0x08, 0x96, 0x01 }, 3);
  bt_pb_put_varint_raw (b, 0);
  assert_bytes (b, (const guint8[]) { 0x00 }, 1);
  bt_pb_put_varint_raw (b, 300);
  assert_bytes (b, (const guint8[]) { 0xac, 0x02 }, 2);
  bt_pb_put_varint_raw (b, G_MAXUINT64);
  assert_bytes (b, (const guint8[]) { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 }, 10);
  bt_pb_put_sint64 (b, 2, -1);                      /* int64 −1: ten bytes, sign-extended */
  assert_bytes (b, (const guint8[]) { 0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 }, 11);
  bt_pb_put_string (b, 2, "testing");
  assert_bytes (b, (const guint8[]) { 0x12, 0x07, 't', 'e', 's', 't', 'i', 'n', 'g' }, 9);
  bt_pb_put_float (b, 2, 1.0f);                     /* fixed32, little-endian 0x3f800000 */
  assert_bytes (b, (const guint8[]) { 0x15, 0x00, 0x00, 0x80, 0x3f }, 5);
  bt_pb_put_packed_int64s (b, 4, (const gint64[]) { 3, 270, 86942 }, 3);
  assert_bytes (b, (const guint8[]) { 0x22, 0x06, 0x03, 0x8e, 0x02, 0x9e, 0xa7, 0x05 }, 8);
  bt_pb_put_packed_floats (b, 1, (const float[]) { 1.0f, -2.0f }, 2);
  assert_bytes (b, (const guint8[]) { 0x0a, 0x08, 0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0 }, 10);
  bt_pb_put_raw_floats (b, 9, (const float[]) { -2.0f }, 1);
  assert_bytes (b, (const guint8[]) { 0x4a, 0x04, 0, 0, 0, 0xc0 }, 6);

  /* a nested message of 200 bytes needs a two-byte length */
  g_autoptr(GByteArray) inner = g_byte_array_new ();
  for (int i = 0; i < 100; i++)
    bt_pb_put_varint (inner, 1, 1);
  bt_pb_put_message (b, 7, inner);
  g_assert_cmpuint (b->len, ==, 3 + 200);
  g_assert_cmpuint (b->data[0], ==, 0x3a);
  g_assert_cmpuint (b->data[1], ==, 0xc8);
  g_assert_cmpuint (b->data[2], ==, 0x01);
}

static void
test_json (void)
{
  const char *names[] = { "cat", "say \"hi\"", "back\\slash", "tab\tnew\nline", "città", NULL };
  g_autofree char *labels = bt_onnx_labels_json (names);
  g_assert_cmpstr (labels, ==, "[\"cat\",\"say \\\"hi\\\"\",\"back\\\\slash\",\"tab\\tnew\\nline\",\"città\"]");

  BtPreprocess p = { .width = 64, .height = 48, .channels = 3, .resize = BT_RESIZE_CENTER_CROP,
                     .scale = 1.0f / 255.0f, .mean = { 0.5f, 0.25f, 0.125f }, .std = { 0.5f, 1.0f, 2.0f } };
  g_autofree char *prep = bt_onnx_preprocessing_json (&p);
  g_assert_cmpstr (prep, ==, "{\"width\":64,\"height\":48,\"channels\":3,\"resize\":\"center-crop\","
                             "\"scale\":0.00392156886,\"mean\":[0.5,0.25,0.125],\"std\":[0.5,1,2]}");
  p.channels = 1;
  p.resize = BT_RESIZE_PAD;
  g_free (prep);
  prep = bt_onnx_preprocessing_json (&p);
  g_assert_cmpstr (prep, ==, "{\"width\":64,\"height\":48,\"channels\":1,\"resize\":\"pad\","
                             "\"scale\":0.00392156886,\"mean\":[0.5],\"std\":[0.5]}");
}

static float *
random_floats (BtRng *rng, gsize n, float scale, float offset)
{
  float *v = g_new (float, n);
  for (gsize i = 0; i < n; i++)
    v[i] = offset + scale * (bt_rng_uniform (rng) * 2.0f - 1.0f);
  return v;
}

static void
conv_shape (BtConvShape *s, int n, int c, int h, int w, int oc, int k, int stride,
            int pt, int pl, int pb, int pr, int groups)
{
  g_autoptr(GError) error = NULL;
  bt_conv_shape_init (s, n, c, h, w, oc, k, k, stride, stride, pt, pl, pb, pr, groups, &error);
  g_assert_no_error (error);
}

static void
set_conv_attrs (BtOnnxNode *node, const BtConvShape *s)
{
  bt_onnx_node_set_ints (node, "kernel_shape", (const gint64[]) { s->kh, s->kw }, 2);
  bt_onnx_node_set_ints (node, "strides", (const gint64[]) { s->stride_h, s->stride_w }, 2);
  bt_onnx_node_set_ints (node, "pads", (const gint64[]) { s->pad_top, s->pad_left, s->pad_bottom, s->pad_right }, 4);
}

/* conv(bias, pad 1)+ReLU → maxpool → depthwise conv + ReLU6 → batch norm → residual add +
 * ReLU → conv(stride 2, asymmetric pads, no bias) → avgpool (padded, count_include_pad=0) →
 * GAP → Flatten → Gemm → Softmax */
static void
test_graph_vs_kernels (void)
{
  const int N = 3, C = 3, H = 9, W = 9, K = 5;
  BtRng rng;
  bt_rng_seed (&rng, 42);
  g_autoptr(BtOnnxGraph) g = bt_onnx_graph_new ("kernels");
  /* the OpenCV form: OpenCV and ONNX Runtime both check it (test-onnx-export covers the fast form) */
  bt_onnx_graph_set_form (g, BT_ONNX_FORM_OPENCV);
  bt_onnx_graph_add_input (g, "image", (const gint64[]) { -1, C, H, W }, 4);

  g_autofree float *x = random_floats (&rng, (gsize) N * C * H * W, 1.0f, 0.0f);

  BtConvShape s1, sp, sd, s2, sa;
  conv_shape (&s1, N, C, H, W, 4, 3, 1, 1, 1, 1, 1, 1);
  conv_shape (&sp, N, 4, s1.oh, s1.ow, 4, 2, 2, 0, 0, 0, 0, 1);
  conv_shape (&sd, N, 4, sp.oh, sp.ow, 4, 3, 1, 1, 1, 1, 1, 4);
  conv_shape (&s2, N, 4, sd.oh, sd.ow, 6, 3, 2, 0, 0, 1, 1, 1);
  conv_shape (&sa, N, 6, s2.oh, s2.ow, 6, 2, 1, 1, 1, 0, 0, 1);
  g_assert_cmpint (sp.oh, ==, 4);   /* 9 → floor pooling */
  g_assert_cmpint (s2.oh, ==, 2);

  g_autofree float *w1 = random_floats (&rng, 4 * C * 9, 0.5f, 0.0f);
  g_autofree float *b1 = random_floats (&rng, 4, 0.5f, 0.0f);
  g_autofree float *wd = random_floats (&rng, 4 * 9, 1.5f, 0.0f);
  g_autofree float *bd = random_floats (&rng, 4, 0.5f, 0.5f);
  g_autofree float *gamma = random_floats (&rng, 4, 0.5f, 1.0f);
  g_autofree float *beta = random_floats (&rng, 4, 0.5f, 0.0f);
  g_autofree float *mean = random_floats (&rng, 4, 0.5f, 1.0f);
  g_autofree float *var = random_floats (&rng, 4, 0.4f, 1.0f);
  g_autofree float *w2 = random_floats (&rng, 6 * 4 * 9, 0.5f, 0.0f);
  g_autofree float *wf = random_floats (&rng, K * 6, 1.0f, 0.0f);
  g_autofree float *bf = random_floats (&rng, K, 0.5f, 0.0f);

  /* the engine's kernels */
  g_autofree float *ws = g_new (float, MAX (bt_conv2d_workspace_size (&s1), bt_conv2d_workspace_size (&s2)));
  g_autofree float *a1 = g_new (float, (gsize) N * 4 * s1.oh * s1.ow);
  bt_conv2d_forward (a1, x, w1, b1, &s1, ws);
  bt_relu_forward (a1, a1, (gsize) N * 4 * s1.oh * s1.ow);
  gsize np = (gsize) N * 4 * sp.oh * sp.ow;
  g_autofree float *ap = g_new (float, np);
  g_autofree gint32 *argmax = g_new (gint32, np);
  bt_maxpool2d_forward (ap, argmax, a1, &sp);
  g_autofree float *ad = g_new (float, np);
  bt_dwconv2d_forward (ad, ap, wd, bd, &sd);
  bt_relu6_forward (ad, ad, np);
  g_autofree float *abn = g_new (float, np);
  bt_batchnorm_forward_infer (abn, ad, gamma, beta, mean, var, N, 4, sd.oh * sd.ow, 1e-5f);
  g_autofree float *aadd = g_new (float, np);
  bt_add_forward (aadd, abn, ap, np);
  bt_relu_forward (aadd, aadd, np);
  gsize n2 = (gsize) N * 6 * s2.oh * s2.ow;
  g_autofree float *a2 = g_new (float, n2);
  bt_conv2d_forward (a2, aadd, w2, NULL, &s2, ws);
  g_autofree float *aa = g_new (float, (gsize) N * 6 * sa.oh * sa.ow);
  bt_avgpool2d_forward (aa, a2, &sa);
  g_autofree float *gap = g_new (float, N * 6);
  bt_gap_forward (gap, aa, N, 6, sa.oh, sa.ow);
  g_autofree float *logits = g_new (float, N * K);
  bt_dense_forward (logits, gap, wf, bf, N, 6, K);
  g_autofree float *probs = g_new (float, N * K);
  bt_softmax_forward (probs, logits, N, K);

  /* the same as ONNX */
  bt_onnx_graph_add_initializer (g, "w1", w1, (const gint64[]) { 4, C, 3, 3 }, 4);
  bt_onnx_graph_add_initializer (g, "b1", b1, (const gint64[]) { 4 }, 1);
  BtOnnxNode *n = bt_onnx_graph_add_node (g, "Conv", "conv1", (const char *[]) { "image", "w1", "b1", NULL },
                                          (const char *[]) { "c1", NULL });
  set_conv_attrs (n, &s1);
  bt_onnx_graph_add_node (g, "Relu", "relu1", (const char *[]) { "c1", NULL }, (const char *[]) { "r1", NULL });
  n = bt_onnx_graph_add_node (g, "MaxPool", "pool", (const char *[]) { "r1", NULL }, (const char *[]) { "p", NULL });
  set_conv_attrs (n, &sp);
  bt_onnx_graph_add_initializer (g, "wd", wd, (const gint64[]) { 4, 1, 3, 3 }, 4);
  bt_onnx_graph_add_initializer (g, "bd", bd, (const gint64[]) { 4 }, 1);
  n = bt_onnx_graph_add_node (g, "Conv", "dw", (const char *[]) { "p", "wd", "bd", NULL }, (const char *[]) { "d", NULL });
  set_conv_attrs (n, &sd);
  bt_onnx_node_set_int (n, "group", 4);
  bt_onnx_graph_add_relu6 (g, "relu6", "d", "d6");
  bt_onnx_graph_add_initializer (g, "gamma", gamma, (const gint64[]) { 4 }, 1);
  bt_onnx_graph_add_initializer (g, "beta", beta, (const gint64[]) { 4 }, 1);
  bt_onnx_graph_add_initializer (g, "mean", mean, (const gint64[]) { 4 }, 1);
  bt_onnx_graph_add_initializer (g, "var", var, (const gint64[]) { 4 }, 1);
  n = bt_onnx_graph_add_node (g, "BatchNormalization", "bn", (const char *[]) { "d6", "gamma", "beta", "mean", "var", NULL },
                              (const char *[]) { "bn", NULL });
  bt_onnx_node_set_float (n, "epsilon", 1e-5f);
  bt_onnx_graph_add_node (g, "Add", "add", (const char *[]) { "bn", "p", NULL }, (const char *[]) { "s", NULL });
  bt_onnx_graph_add_node (g, "Relu", "relu2", (const char *[]) { "s", NULL }, (const char *[]) { "sr", NULL });
  bt_onnx_graph_add_initializer (g, "w2", w2, (const gint64[]) { 6, 4, 3, 3 }, 4);
  n = bt_onnx_graph_add_node (g, "Conv", "conv2", (const char *[]) { "sr", "w2", NULL }, (const char *[]) { "c2", NULL });
  set_conv_attrs (n, &s2);
  n = bt_onnx_graph_add_node (g, "AveragePool", "avg", (const char *[]) { "c2", NULL }, (const char *[]) { "a", NULL });
  set_conv_attrs (n, &sa);
  bt_onnx_node_set_int (n, "count_include_pad", 0);
  bt_onnx_graph_add_node (g, "GlobalAveragePool", "gap", (const char *[]) { "a", NULL }, (const char *[]) { "g", NULL });
  n = bt_onnx_graph_add_node (g, "Flatten", "flatten", (const char *[]) { "g", NULL }, (const char *[]) { "f", NULL });
  bt_onnx_node_set_int (n, "axis", 1);
  bt_onnx_graph_add_initializer (g, "wf", wf, (const gint64[]) { K, 6 }, 2);
  bt_onnx_graph_add_initializer (g, "bf", bf, (const gint64[]) { K }, 1);
  n = bt_onnx_graph_add_node (g, "Gemm", "fc", (const char *[]) { "f", "wf", "bf", NULL }, (const char *[]) { "logits", NULL });
  bt_onnx_node_set_int (n, "transB", 1);
  n = bt_onnx_graph_add_node (g, "Softmax", "softmax", (const char *[]) { "logits", NULL },
                              (const char *[]) { "probabilities", NULL });
  bt_onnx_node_set_int (n, "axis", 1);
  bt_onnx_graph_add_output (g, "probabilities", (const gint64[]) { -1, K }, 2);

  const char *names[] = { "a", "b", "c", "d", "e", NULL };
  BtPreprocess prep = { .width = W, .height = H, .channels = C, .resize = BT_RESIZE_SQUASH,
                        .scale = 1.0f / 255.0f, .mean = { 0, 0, 0 }, .std = { 1, 1, 1 } };
  g_autofree char *labels = bt_onnx_labels_json (names);
  g_autofree char *pj = bt_onnx_preprocessing_json (&prep);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) model = bt_onnx_graph_to_model (g, (const char *[]) { "labels", "preprocessing", NULL },
                                                    (const char *[]) { labels, pj, NULL }, &error);
  g_assert_no_error (error);

  g_autofree char *dir = bt_test_mkdtemp ();
  g_autofree char *path = g_build_filename (dir, "model.onnx", NULL);
  g_file_set_contents (path, g_bytes_get_data (model, NULL), (gssize) g_bytes_get_size (model), &error);
  g_assert_no_error (error);
  bt_test_write_floats (dir, "input.bin", x, (gsize) N * C * H * W);
  bt_test_write_floats (dir, "expected.bin", probs, (gsize) N * K);
  g_autofree char *spec = g_strdup_printf ("{\"input_shape\":[%d,%d,%d,%d],\"labels\":%s,\"preprocessing\":%s}",
                                           N, C, H, W, labels, pj);
  g_autofree char *spec_path = g_build_filename (dir, "spec.json", NULL);
  g_file_set_contents (spec_path, spec, -1, &error);
  g_assert_no_error (error);

  bt_test_run_python ("check-onnx.py", (const char *[]) { dir, "--form", "opencv", NULL });
  bt_test_rm_rf (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/onnx/protobuf-encodings", test_protobuf_encodings);
  g_test_add_func ("/onnx/json", test_json);
  g_test_add_func ("/onnx/graph-vs-kernels", test_graph_vs_kernels);
  return g_test_run ();
}
