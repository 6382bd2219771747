/* bt-onnx.c: ONNX ModelProto building (field numbers from onnx.proto, IR version 7) and the
 * export of Bottega networks walked layer by layer (bt-net-walk.h) into one ONNX graph. */
#include "config.h"

#include "engine/bt-onnx.h"
#include "engine/bt-net-walk.h"
#include "engine/bt-protobuf.h"
#include "engine/bt-tflite-private.h"
#include "engine/bt-tflite-grad.h"

#include <gio/gio.h>
#include <math.h>
#include <string.h>

/* onnx.proto field numbers */
enum {
  MODEL_IR_VERSION = 1, MODEL_PRODUCER_NAME = 2, MODEL_PRODUCER_VERSION = 3, MODEL_DOC = 6,
  MODEL_GRAPH = 7, MODEL_OPSET_IMPORT = 8, MODEL_METADATA = 14,
  OPSET_DOMAIN = 1, OPSET_VERSION = 2,
  ENTRY_KEY = 1, ENTRY_VALUE = 2,
  GRAPH_NODE = 1, GRAPH_NAME = 2, GRAPH_INITIALIZER = 5, GRAPH_INPUT = 11, GRAPH_OUTPUT = 12,
  NODE_INPUT = 1, NODE_OUTPUT = 2, NODE_NAME = 3, NODE_OP_TYPE = 4, NODE_ATTRIBUTE = 5,
  ATTR_NAME = 1, ATTR_F = 2, ATTR_I = 3, ATTR_S = 4, ATTR_INTS = 8, ATTR_TYPE = 20,
  TENSOR_DIMS = 1, TENSOR_DATA_TYPE = 2, TENSOR_INT64_DATA = 7, TENSOR_NAME = 8, TENSOR_RAW_DATA = 9,
  VALUE_NAME = 1, VALUE_TYPE = 2,
  TYPE_TENSOR = 1, TYPE_TENSOR_ELEM = 1, TYPE_TENSOR_SHAPE = 2,
  SHAPE_DIM = 1, DIM_VALUE = 1, DIM_PARAM = 2,
};
enum { ATTR_TYPE_FLOAT = 1, ATTR_TYPE_INT = 2, ATTR_TYPE_STRING = 3, ATTR_TYPE_INTS = 7 };
enum { DTYPE_FLOAT = 1, DTYPE_INT64 = 7 };

#define PROTOBUF_LIMIT (((gsize) 2) << 30)

struct _BtOnnxNode {
  GByteArray *bytes;
};

struct _BtOnnxGraph {
  char       *name;
  GByteArray *body;        /* inputs, outputs, initializers, in the order added */
  GPtrArray  *nodes;       /* BtOnnxNode* */
  gboolean    has_six;     /* the constant of bt_onnx_graph_add_relu6 */
  BtOnnxForm  form;
  GHashTable *bounds;      /* names of the Clip bound initializers already added */
};

static void
node_free (BtOnnxNode *node)
{
  g_byte_array_unref (node->bytes);
  g_free (node);
}

BtOnnxGraph *
bt_onnx_graph_new (const char *name)
{
  g_return_val_if_fail (name != NULL, NULL);
  BtOnnxGraph *g = g_new0 (BtOnnxGraph, 1);
  g->name = g_strdup (name);
  g->body = g_byte_array_new ();
  g->nodes = g_ptr_array_new_with_free_func ((GDestroyNotify) node_free);
  g->bounds = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  return g;
}

void
bt_onnx_graph_set_form (BtOnnxGraph *graph, BtOnnxForm form)
{
  g_return_if_fail (graph != NULL && (form == BT_ONNX_FORM_FAST || form == BT_ONNX_FORM_OPENCV));
  graph->form = form;
}

void
bt_onnx_graph_free (BtOnnxGraph *graph)
{
  if (graph == NULL)
    return;
  g_free (graph->name);
  g_byte_array_unref (graph->body);
  g_ptr_array_unref (graph->nodes);
  g_hash_table_unref (graph->bounds);
  g_free (graph);
}

static void
add_value_info (BtOnnxGraph *graph, guint32 field, const char *name, const gint64 *dims, int rank)
{
  g_autoptr(GByteArray) shape = g_byte_array_new ();
  for (int i = 0; i < rank; i++)
    {
      g_autoptr(GByteArray) dim = g_byte_array_new ();
      if (dims[i] < 0)
        bt_pb_put_string (dim, DIM_PARAM, "N");
      else
        bt_pb_put_sint64 (dim, DIM_VALUE, dims[i]);
      bt_pb_put_message (shape, SHAPE_DIM, dim);
    }
  g_autoptr(GByteArray) tensor = g_byte_array_new ();
  bt_pb_put_varint (tensor, TYPE_TENSOR_ELEM, DTYPE_FLOAT);
  bt_pb_put_message (tensor, TYPE_TENSOR_SHAPE, shape);
  g_autoptr(GByteArray) type = g_byte_array_new ();
  bt_pb_put_message (type, TYPE_TENSOR, tensor);
  g_autoptr(GByteArray) vi = g_byte_array_new ();
  bt_pb_put_string (vi, VALUE_NAME, name);
  bt_pb_put_message (vi, VALUE_TYPE, type);
  bt_pb_put_message (graph->body, field, vi);
}

void
bt_onnx_graph_add_input (BtOnnxGraph *graph, const char *name, const gint64 *dims, int rank)
{
  g_return_if_fail (graph != NULL && name != NULL && (dims != NULL || rank == 0));
  add_value_info (graph, GRAPH_INPUT, name, dims, rank);
}

void
bt_onnx_graph_add_output (BtOnnxGraph *graph, const char *name, const gint64 *dims, int rank)
{
  g_return_if_fail (graph != NULL && name != NULL && (dims != NULL || rank == 0));
  add_value_info (graph, GRAPH_OUTPUT, name, dims, rank);
}

static gsize
n_elements (const gint64 *dims, int rank)
{
  gsize n = 1;
  for (int i = 0; i < rank; i++)
    n *= (gsize) dims[i];
  return n;
}

void
bt_onnx_graph_add_initializer (BtOnnxGraph *graph, const char *name, const float *data,
                               const gint64 *dims, int rank)
{
  g_return_if_fail (graph != NULL && name != NULL && data != NULL && (dims != NULL || rank == 0));
  g_autoptr(GByteArray) t = g_byte_array_new ();
  bt_pb_put_packed_int64s (t, TENSOR_DIMS, dims, rank);
  bt_pb_put_varint (t, TENSOR_DATA_TYPE, DTYPE_FLOAT);
  bt_pb_put_string (t, TENSOR_NAME, name);
  bt_pb_put_raw_floats (t, TENSOR_RAW_DATA, data, n_elements (dims, rank));
  bt_pb_put_message (graph->body, GRAPH_INITIALIZER, t);
}

void
bt_onnx_graph_add_initializer_int64 (BtOnnxGraph *graph, const char *name, const gint64 *data,
                                     const gint64 *dims, int rank)
{
  g_return_if_fail (graph != NULL && name != NULL && data != NULL && (dims != NULL || rank == 0));
  g_autoptr(GByteArray) t = g_byte_array_new ();
  bt_pb_put_packed_int64s (t, TENSOR_DIMS, dims, rank);
  bt_pb_put_varint (t, TENSOR_DATA_TYPE, DTYPE_INT64);
  bt_pb_put_string (t, TENSOR_NAME, name);
  bt_pb_put_packed_int64s (t, TENSOR_INT64_DATA, data, n_elements (dims, rank));
  bt_pb_put_message (graph->body, GRAPH_INITIALIZER, t);
}

BtOnnxNode *
bt_onnx_graph_add_node (BtOnnxGraph *graph, const char *op_type, const char *name,
                        const char * const *inputs, const char * const *outputs)
{
  g_return_val_if_fail (graph != NULL && op_type != NULL && name != NULL, NULL);
  g_return_val_if_fail (inputs != NULL && outputs != NULL, NULL);
  BtOnnxNode *node = g_new0 (BtOnnxNode, 1);
  node->bytes = g_byte_array_new ();
  for (guint i = 0; inputs[i]; i++)
    bt_pb_put_string (node->bytes, NODE_INPUT, inputs[i]);
  for (guint i = 0; outputs[i]; i++)
    bt_pb_put_string (node->bytes, NODE_OUTPUT, outputs[i]);
  bt_pb_put_string (node->bytes, NODE_NAME, name);
  bt_pb_put_string (node->bytes, NODE_OP_TYPE, op_type);
  g_ptr_array_add (graph->nodes, node);
  return node;
}

static void
put_attribute (BtOnnxNode *node, GByteArray *attr)
{
  bt_pb_put_message (node->bytes, NODE_ATTRIBUTE, attr);
}

void
bt_onnx_node_set_int (BtOnnxNode *node, const char *name, gint64 v)
{
  g_return_if_fail (node != NULL && name != NULL);
  g_autoptr(GByteArray) a = g_byte_array_new ();
  bt_pb_put_string (a, ATTR_NAME, name);
  bt_pb_put_varint (a, ATTR_TYPE, ATTR_TYPE_INT);
  bt_pb_put_sint64 (a, ATTR_I, v);
  put_attribute (node, a);
}

void
bt_onnx_node_set_ints (BtOnnxNode *node, const char *name, const gint64 *v, gsize n)
{
  g_return_if_fail (node != NULL && name != NULL && (v != NULL || n == 0));
  g_autoptr(GByteArray) a = g_byte_array_new ();
  bt_pb_put_string (a, ATTR_NAME, name);
  bt_pb_put_varint (a, ATTR_TYPE, ATTR_TYPE_INTS);
  bt_pb_put_packed_int64s (a, ATTR_INTS, v, n);
  put_attribute (node, a);
}

void
bt_onnx_node_set_float (BtOnnxNode *node, const char *name, float v)
{
  g_return_if_fail (node != NULL && name != NULL);
  g_autoptr(GByteArray) a = g_byte_array_new ();
  bt_pb_put_string (a, ATTR_NAME, name);
  bt_pb_put_varint (a, ATTR_TYPE, ATTR_TYPE_FLOAT);
  bt_pb_put_float (a, ATTR_F, v);
  put_attribute (node, a);
}

void
bt_onnx_node_set_string (BtOnnxNode *node, const char *name, const char *v)
{
  g_return_if_fail (node != NULL && name != NULL && v != NULL);
  g_autoptr(GByteArray) a = g_byte_array_new ();
  bt_pb_put_string (a, ATTR_NAME, name);
  bt_pb_put_varint (a, ATTR_TYPE, ATTR_TYPE_STRING);
  bt_pb_put_string (a, ATTR_S, v);
  put_attribute (node, a);
}

/* The name of a scalar float initializer holding v, added on first use. */
static char *
bound_initializer (BtOnnxGraph *graph, float v)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE];
  g_ascii_formatd (buf, sizeof buf, "%.9g", (double) v);
  char *name = g_strconcat ("bottega_clip_", buf, NULL);
  if (!g_hash_table_contains (graph->bounds, name))
    {
      bt_onnx_graph_add_initializer (graph, name, &v, NULL, 0);
      g_hash_table_add (graph->bounds, g_strdup (name));
    }
  return name;
}

void
bt_onnx_graph_add_clamp (BtOnnxGraph *graph, const char *name, const char *input, const char *output,
                         float lo, float hi)
{
  g_return_if_fail (graph != NULL && name != NULL && input != NULL && output != NULL);
  g_return_if_fail (!isnan (lo) && !isnan (hi) && lo <= hi);
  if (lo == 0.0f && hi == 6.0f && graph->form == BT_ONNX_FORM_OPENCV)
    {
      bt_onnx_graph_add_relu6 (graph, name, input, output);
      return;
    }
  if (lo == 0.0f && isinf (hi) && hi > 0)
    {
      bt_onnx_graph_add_node (graph, "Relu", name, (const char *[]) { input, NULL }, (const char *[]) { output, NULL });
      return;
    }
  if (isinf (lo) && isinf (hi))
    {
      bt_onnx_graph_add_node (graph, "Identity", name, (const char *[]) { input, NULL }, (const char *[]) { output, NULL });
      return;
    }
  if (graph->form == BT_ONNX_FORM_FAST)
    {
      /* Clip-13 with constant min/max initializers: ONNX Runtime folds it into the Conv/Gemm
       * before it. One initializer per distinct bound, shared by every Clip. */
      g_autofree char *lo_name = isinf (lo) ? g_strdup ("") : bound_initializer (graph, lo);
      g_autofree char *hi_name = isinf (hi) ? g_strdup ("") : bound_initializer (graph, hi);
      bt_onnx_graph_add_node (graph, "Clip", name, (const char *[]) { input, lo_name, hi_name, NULL },
                              (const char *[]) { output, NULL });
      return;
    }
  /* lo + Relu(x − lo) − Relu(x − hi), dropping the terms of an infinite bound */
  g_autofree char *lo_name = g_strconcat (output, "/lo", NULL);
  g_autofree char *hi_name = g_strconcat (output, "/hi", NULL);
  g_autofree char *a = g_strconcat (output, "/above_lo", NULL);
  g_autofree char *ar = g_strconcat (output, "/above_lo_relu", NULL);
  g_autofree char *b = g_strconcat (output, "/above_hi", NULL);
  g_autofree char *br = g_strconcat (output, "/above_hi_relu", NULL);
  g_autofree char *t = g_strconcat (output, "/low_part", NULL);
  g_autofree char *n1 = g_strconcat (name, "/above_lo", NULL);
  g_autofree char *n2 = g_strconcat (name, "/above_lo_relu", NULL);
  g_autofree char *n3 = g_strconcat (name, "/add_lo", NULL);
  g_autofree char *n4 = g_strconcat (name, "/above_hi", NULL);
  g_autofree char *n5 = g_strconcat (name, "/above_hi_relu", NULL);
  g_autofree char *n6 = g_strconcat (name, "/sub_hi", NULL);
  const char *low = input;
  if (!isinf (lo))
    {
      bt_onnx_graph_add_initializer (graph, lo_name, &lo, NULL, 0);
      bt_onnx_graph_add_node (graph, "Sub", n1, (const char *[]) { input, lo_name, NULL }, (const char *[]) { a, NULL });
      bt_onnx_graph_add_node (graph, "Relu", n2, (const char *[]) { a, NULL }, (const char *[]) { ar, NULL });
      bt_onnx_graph_add_node (graph, "Add", n3, (const char *[]) { ar, lo_name, NULL },
                              (const char *[]) { isinf (hi) ? output : t, NULL });
      low = t;
    }
  if (!isinf (hi))
    {
      bt_onnx_graph_add_initializer (graph, hi_name, &hi, NULL, 0);
      bt_onnx_graph_add_node (graph, "Sub", n4, (const char *[]) { input, hi_name, NULL }, (const char *[]) { b, NULL });
      bt_onnx_graph_add_node (graph, "Relu", n5, (const char *[]) { b, NULL }, (const char *[]) { br, NULL });
      bt_onnx_graph_add_node (graph, "Sub", n6, (const char *[]) { low, br, NULL }, (const char *[]) { output, NULL });
    }
}

void
bt_onnx_graph_add_relu6 (BtOnnxGraph *graph, const char *name, const char *input, const char *output)
{
  g_return_if_fail (graph != NULL && name != NULL && input != NULL && output != NULL);
  if (graph->form == BT_ONNX_FORM_FAST)
    {
      bt_onnx_graph_add_clamp (graph, name, input, output, 0.0f, 6.0f);
      return;
    }
  if (!graph->has_six)
    {
      bt_onnx_graph_add_initializer (graph, "bottega_six", (const float[]) { 6.0f }, NULL, 0);
      graph->has_six = TRUE;
    }
  g_autofree char *r = g_strconcat (output, "/relu", NULL);
  g_autofree char *shifted = g_strconcat (output, "/minus6", NULL);
  g_autofree char *excess = g_strconcat (output, "/excess", NULL);
  g_autofree char *n1 = g_strconcat (name, "/relu", NULL);
  g_autofree char *n2 = g_strconcat (name, "/minus6", NULL);
  g_autofree char *n3 = g_strconcat (name, "/excess", NULL);
  g_autofree char *n4 = g_strconcat (name, "/cap", NULL);
  bt_onnx_graph_add_node (graph, "Relu", n1, (const char *[]) { input, NULL }, (const char *[]) { r, NULL });
  bt_onnx_graph_add_node (graph, "Sub", n2, (const char *[]) { r, "bottega_six", NULL }, (const char *[]) { shifted, NULL });
  bt_onnx_graph_add_node (graph, "Relu", n3, (const char *[]) { shifted, NULL }, (const char *[]) { excess, NULL });
  bt_onnx_graph_add_node (graph, "Sub", n4, (const char *[]) { r, excess, NULL }, (const char *[]) { output, NULL });
}

GBytes *
bt_onnx_graph_to_model (BtOnnxGraph *graph, const char * const *meta_keys,
                        const char * const *meta_values, GError **error)
{
  g_return_val_if_fail (graph != NULL, NULL);
  g_return_val_if_fail ((meta_keys == NULL) == (meta_values == NULL), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  gsize total = graph->body->len + 64;
  for (guint i = 0; i < graph->nodes->len; i++)
    total += ((BtOnnxNode *) g_ptr_array_index (graph->nodes, i))->bytes->len + 8;
  if (total >= PROTOBUF_LIMIT)
    {
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_UNSUPPORTED,
                   "The model is too large for an ONNX file (%" G_GSIZE_FORMAT " MiB; the limit is 2 GiB)",
                   total >> 20);
      return NULL;
    }

  g_autoptr(GByteArray) g = g_byte_array_sized_new ((guint) total);
  bt_pb_put_string (g, GRAPH_NAME, graph->name);
  for (guint i = 0; i < graph->nodes->len; i++)
    bt_pb_put_message (g, GRAPH_NODE, ((BtOnnxNode *) g_ptr_array_index (graph->nodes, i))->bytes);
  g_byte_array_append (g, graph->body->data, graph->body->len);

  GByteArray *m = g_byte_array_sized_new (g->len + 4096);
  bt_pb_put_varint (m, MODEL_IR_VERSION, BT_ONNX_IR_VERSION);
  bt_pb_put_string (m, MODEL_PRODUCER_NAME, "Bottega");
  bt_pb_put_string (m, MODEL_PRODUCER_VERSION, PACKAGE_VERSION);
  g_autoptr(GByteArray) opset = g_byte_array_new ();
  bt_pb_put_string (opset, OPSET_DOMAIN, "");
  bt_pb_put_varint (opset, OPSET_VERSION, BT_ONNX_OPSET);
  bt_pb_put_message (m, MODEL_OPSET_IMPORT, opset);
  bt_pb_put_message (m, MODEL_GRAPH, g);
  for (guint i = 0; meta_keys && meta_keys[i]; i++)
    {
      g_return_val_if_fail (meta_values[i] != NULL, NULL);
      g_autoptr(GByteArray) e = g_byte_array_new ();
      bt_pb_put_string (e, ENTRY_KEY, meta_keys[i]);
      bt_pb_put_string (e, ENTRY_VALUE, meta_values[i]);
      bt_pb_put_message (m, MODEL_METADATA, e);
    }
  return g_byte_array_free_to_bytes (m);
}

/* ---- JSON for metadata_props ---- */

void
bt_json_append_string (GString *out, const char *s)
{
  g_return_if_fail (out != NULL && s != NULL);
  g_string_append_c (out, '"');
  for (const guchar *p = (const guchar *) s; *p; p++)
    {
      switch (*p)
        {
        case '"': g_string_append (out, "\\\""); break;
        case '\\': g_string_append (out, "\\\\"); break;
        case '\n': g_string_append (out, "\\n"); break;
        case '\r': g_string_append (out, "\\r"); break;
        case '\t': g_string_append (out, "\\t"); break;
        default:
          if (*p < 0x20)
            g_string_append_printf (out, "\\u%04x", *p);
          else
            g_string_append_c (out, (char) *p);
        }
    }
  g_string_append_c (out, '"');
}

void
bt_json_append_float (GString *out, float v)
{
  g_return_if_fail (out != NULL);
  char buf[G_ASCII_DTOSTR_BUF_SIZE];
  /* %.9g round-trips a float; g_ascii_ keeps the decimal point a point in every locale */
  g_ascii_formatd (buf, sizeof buf, "%.9g", (double) v);
  g_string_append (out, buf);
}

char *
bt_onnx_labels_json (const char * const *class_names)
{
  g_return_val_if_fail (class_names != NULL, NULL);
  GString *out = g_string_new ("[");
  for (guint i = 0; class_names[i]; i++)
    {
      if (i > 0)
        g_string_append_c (out, ',');
      bt_json_append_string (out, class_names[i]);
    }
  g_string_append_c (out, ']');
  return g_string_free (out, FALSE);
}

char *
bt_onnx_preprocessing_json (const BtPreprocess *prep)
{
  g_return_val_if_fail (prep != NULL, NULL);
  GString *out = g_string_new (NULL);
  g_string_append_printf (out, "{\"width\":%d,\"height\":%d,\"channels\":%d,\"resize\":",
                          prep->width, prep->height, prep->channels);
  bt_json_append_string (out, prep->resize == BT_RESIZE_CENTER_CROP ? "center-crop"
                   : prep->resize == BT_RESIZE_PAD ? "pad" : "squash");
  g_string_append (out, ",\"scale\":");
  bt_json_append_float (out, prep->scale);
  const float *arrays[2] = { prep->mean, prep->std };
  const char *keys[2] = { ",\"mean\":[", ",\"std\":[" };
  for (int a = 0; a < 2; a++)
    {
      g_string_append (out, keys[a]);
      for (int c = 0; c < prep->channels && c < 3; c++)
        {
          if (c > 0)
            g_string_append_c (out, ',');
          bt_json_append_float (out, arrays[a][c]);
        }
      g_string_append_c (out, ']');
    }
  g_string_append_c (out, '}');
  return g_string_free (out, FALSE);
}

/* A double in %.9g: a saved 0.45 stays 0.45 (as a float it would print 0.449999988) */
static void
append_double (GString *out, double v)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE];
  g_string_append (out, g_ascii_formatd (buf, sizeof buf, "%.9g", v));
}

char *
bt_onnx_class_thresholds_json (const BtModel *model)
{
  g_return_val_if_fail (model != NULL && model->net != NULL, NULL);
  GString *out = g_string_new ("{");
  for (int k = 0; k < bt_net_n_classes (model->net); k++)
    {
      double t = bt_model_get_threshold (model, k);
      if (isnan (t))
        continue;
      if (out->len > 1)
        g_string_append_c (out, ',');
      bt_json_append_string (out, model->class_names[k]);
      g_string_append_c (out, ':');
      append_double (out, t);
    }
  g_string_append_c (out, '}');
  return g_string_free (out, FALSE);
}

char *
bt_onnx_decision_json (const BtModel *model)
{
  g_return_val_if_fail (model != NULL && model->net != NULL, NULL);
  GString *out = g_string_new ("{\"temperature\":");
  append_double (out, model->calib.temperature);
  g_string_append (out, ",\"unknown_threshold\":");
  if (isnan (bt_calibration_energy_threshold (&model->calib)))
    g_string_append (out, "null");
  else
    append_double (out, bt_calibration_energy_threshold (&model->calib));
  g_autofree char *ct = bt_onnx_class_thresholds_json (model);
  g_string_append_printf (out, ",\"class_thresholds\":%s}", ct);
  return g_string_free (out, FALSE);
}

static const char decision_rule[] =
  "probabilities = softmax(logits / calibration_temperature), already computed by this file. "
  "If unknown_score > unknown_threshold the image is not one of the classes; otherwise the most "
  "likely class is the answer unless its probability is below class_thresholds[class], when it is "
  "not accepted. A missing key means no such check. unknown_threshold is for this file's "
  "unknown_score, the energy −T·logsumexp(logits / T), alone (95 % of the validation images below "
  "it); where the model has class centroids Bottega also measures how far the image's features lie "
  "from them, which this file does not compute, so Bottega may call more images unknown.";

void
bt_onnx_decision_metadata (const BtModel *model, GPtrArray *keys, GPtrArray *values)
{
  g_return_if_fail (model != NULL && keys != NULL && values != NULL);
  char buf[G_ASCII_DTOSTR_BUF_SIZE];
  g_ptr_array_add (keys, "calibration_temperature");
  g_ascii_formatd (buf, sizeof buf, "%.9g", model->calib.temperature);
  g_ptr_array_add (values, g_strdup (buf));
  if (!isnan (bt_calibration_energy_threshold (&model->calib)))
    {
      g_ptr_array_add (keys, "unknown_threshold");
      g_ascii_formatd (buf, sizeof buf, "%.9g", bt_calibration_energy_threshold (&model->calib));
      g_ptr_array_add (values, g_strdup (buf));
    }
  g_autofree char *ct = bt_onnx_class_thresholds_json (model);
  if (strcmp (ct, "{}") != 0)
    {
      g_ptr_array_add (keys, "class_thresholds");
      g_ptr_array_add (values, g_steal_pointer (&ct));
    }
  g_ptr_array_add (keys, "decision_rule");
  g_ptr_array_add (values, g_strdup (decision_rule));
}

/* ---- Export of a BtNet (and a TFLite backbone) ---- */

static void
add_conv_node (BtOnnxGraph *g, const char *op, const char *name, const char *in, const char *w,
               const char *b, const char *out, int kh, int kw, int sh, int sw,
               int pt, int pl, int pb, int pr, int groups)
{
  BtOnnxNode *n;
  if (w != NULL)
    n = bt_onnx_graph_add_node (g, op, name, (const char *[]) { in, w, b, NULL }, (const char *[]) { out, NULL });
  else
    n = bt_onnx_graph_add_node (g, op, name, (const char *[]) { in, NULL }, (const char *[]) { out, NULL });
  bt_onnx_node_set_ints (n, "kernel_shape", (const gint64[]) { kh, kw }, 2);
  bt_onnx_node_set_ints (n, "strides", (const gint64[]) { sh, sw }, 2);
  bt_onnx_node_set_ints (n, "pads", (const gint64[]) { pt, pl, pb, pr }, 4);
  if (groups > 1)
    bt_onnx_node_set_int (n, "group", groups);
  if (g_str_equal (op, "AveragePool"))
    bt_onnx_node_set_int (n, "count_include_pad", 0);
}

/* The backbone up to its embedding cut: "image" → returns the name of an [N, dim, 1, 1] or
 * [N, dim] tensor, NULL and an error on an operator the export does not know. */
static char *
export_backbone (BtOnnxGraph *g, BtTflite *m, int *dim, GError **error)
{
  int cut = bt_tflite_find_embedding_cut (m, dim, error);
  if (cut < 0)
    return NULL;
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  for (int i = 0; i < m->n_tensors; i++)
    g_ptr_array_add (names, i == m->input ? g_strdup ("image") : g_strdup_printf ("backbone/t%d", i));
#define TNAME(i) ((const char *) g_ptr_array_index (names, (i)))

  for (int k = 0; k < m->n_ops; k++)
    {
      const BtTflOp *op = &m->ops[k];
      const BtTflTensor *ot = &m->tensors[op->output];
      g_autofree char *name = g_strdup_printf ("backbone/op%d_%s", k, bt_tflite_op_name (op->code));
      g_autofree char *pre = g_strconcat (TNAME (op->output), "/pre", NULL);
      g_autofree char *wn = g_strdup_printf ("backbone/op%d.weight", k);
      g_autofree char *bn = g_strdup_printf ("backbone/op%d.bias", k);
      const char *in = TNAME (op->inputs[0]);
      const BtConvShape *cs = &op->cs;
      switch (op->code)
        {
        case BT_TFL_OP_CONV_2D:
        case BT_TFL_OP_DEPTHWISE_CONV_2D:
          {
            bt_onnx_graph_add_initializer (g, wn, op->w, (const gint64[]) { cs->oc, cs->c / cs->groups, cs->kh, cs->kw }, 4);
            g_autofree float *zeros = op->b ? NULL : g_new0 (float, cs->oc);
            bt_onnx_graph_add_initializer (g, bn, op->b ? op->b : zeros, (const gint64[]) { cs->oc }, 1);
            add_conv_node (g, "Conv", name, in, wn, bn, pre, cs->kh, cs->kw, cs->stride_h, cs->stride_w,
                           cs->pad_top, cs->pad_left, cs->pad_bottom, cs->pad_right, cs->groups);
          }
          break;
        case BT_TFL_OP_AVERAGE_POOL_2D:
        case BT_TFL_OP_MAX_POOL_2D:
          add_conv_node (g, op->code == BT_TFL_OP_MAX_POOL_2D ? "MaxPool" : "AveragePool", name, in, NULL, NULL, pre,
                         cs->kh, cs->kw, cs->stride_h, cs->stride_w,
                         cs->pad_top, cs->pad_left, cs->pad_bottom, cs->pad_right, 1);
          break;
        case BT_TFL_OP_ADD:
          {
            const BtTflTensor *b = &m->tensors[op->inputs[1]];
            const char *second = TNAME (op->inputs[1]);
            if (b->is_const)
              {
                if (b->n_elems != 1)
                  goto unsupported;
                g_autofree char *cn = g_strdup_printf ("backbone/op%d.constant", k);
                bt_onnx_graph_add_initializer (g, cn, b->data, NULL, 0);
                bt_onnx_graph_add_node (g, "Add", name, (const char *[]) { in, cn, NULL }, (const char *[]) { pre, NULL });
              }
            else
              bt_onnx_graph_add_node (g, "Add", name, (const char *[]) { in, second, NULL }, (const char *[]) { pre, NULL });
          }
          break;
        case BT_TFL_OP_DEQUANTIZE:
        case BT_TFL_OP_QUANTIZE:
        case BT_TFL_OP_RELU:
        case BT_TFL_OP_RELU6:
          if (m->tensors[op->inputs[0]].rank != ot->rank)
            goto unsupported;
          bt_onnx_graph_add_node (g, "Identity", name, (const char *[]) { in, NULL }, (const char *[]) { pre, NULL });
          break;
        case BT_TFL_OP_MEAN:
          /* only the global average pool over height and width of an NHWC tensor */
          if (m->tensors[op->inputs[0]].rank != 4 || op->mean_mask != 0x6)
            goto unsupported;
          if (ot->rank == 4)
            bt_onnx_graph_add_node (g, "GlobalAveragePool", name, (const char *[]) { in, NULL }, (const char *[]) { pre, NULL });
          else
            {
              g_autofree char *gap = g_strconcat (pre, "/gap", NULL);
              g_autofree char *gname = g_strconcat (name, "/gap", NULL);
              bt_onnx_graph_add_node (g, "GlobalAveragePool", gname, (const char *[]) { in, NULL }, (const char *[]) { gap, NULL });
              BtOnnxNode *fl = bt_onnx_graph_add_node (g, "Flatten", name, (const char *[]) { gap, NULL }, (const char *[]) { pre, NULL });
              bt_onnx_node_set_int (fl, "axis", 1);
            }
          break;
        default:
        unsupported:
          g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_UNSUPPORTED,
                       "The backbone's operator %s (number %d) cannot be exported to ONNX yet",
                       bt_tflite_op_name (op->code), k);
          return NULL;
        }
      /* node names are unique in a graph (ONNX Runtime refuses a file otherwise) */
      g_autofree char *act = g_strconcat (name, "/act", NULL);
      bt_onnx_graph_add_clamp (g, act, pre, TNAME (op->output), op->lo, op->hi);
      if (op->output == cut)
        return g_strdup (TNAME (cut));
    }
#undef TNAME
  g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_CORRUPT, "The backbone's embedding is never computed");
  return NULL;
}

gboolean
bt_export_check_class_names (BtNet *net, const char * const *class_names, GError **error)
{
  int k = bt_net_n_classes (net);
  guint n = g_strv_length ((char **) class_names);
  if (n == (guint) k)
    return TRUE;
  g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID, "The model has %d outputs but %u class names", k, n);
  return FALSE;
}

static char *
suffixed (const char *name, const char *suffix)
{
  return g_strconcat (name, suffix, NULL);
}

static GBytes *export_net (BtNet *net, const char * const *class_names, const BtPreprocess *prep,
                           BtTflite *bb, BtOnnxForm form, const BtModel *model, GError **error);

GBytes *
bt_onnx_export_net (BtNet *net, const char * const *class_names, const BtPreprocess *prep,
                    const char *backbone_path, BtOnnxForm form, GError **error)
{
  g_return_val_if_fail (net != NULL && class_names != NULL && prep != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  g_autoptr(BtTflite) bb = NULL;
  if (bt_net_preset (net) == BT_PRESET_TRANSFER && backbone_path != NULL)
    {
      bb = bt_tflite_load (backbone_path, error);
      if (bb == NULL)
        return NULL;
    }
  return export_net (net, class_names, prep, bb, form, NULL, error);
}

/* bt_onnx_export_net with the model's calibration and thresholds */
static GBytes *
export_model_with_backbone (const BtModel *model, const char *backbone_path, BtOnnxForm form, GError **error)
{
  g_autoptr(BtTflite) bb = NULL;
  if (bt_net_preset (model->net) == BT_PRESET_TRANSFER && backbone_path != NULL)
    {
      bb = bt_tflite_load (backbone_path, error);
      if (bb == NULL)
        return NULL;
    }
  return export_net (model->net, (const char * const *) model->class_names, &model->prep, bb, form, model, error);
}

/* The graph's input "image": for a transfer model the backbone's graph, checked against the
 * preprocessing and the head; the name of the tensor the head reads and its rank. */
static char *
export_input (BtOnnxGraph *g, BtNet *net, const BtPreprocess *prep, BtTflite *bb, int *input_rank, GError **error)
{
  int c, h, w;
  char *input;

  bt_net_input_shape (net, &c, &h, &w);
  *input_rank = 4;
  if (bt_net_preset (net) == BT_PRESET_TRANSFER && bb != NULL)
    {
      int bh, bw, bc, dim = 0;
      bt_tflite_input_shape (bb, &bh, &bw, &bc);
      if (prep->width != bw || prep->height != bh || prep->channels != bc)
        {
          g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID,
                       "The preprocessing recipe (%d×%d×%d) does not match the backbone's input (%d×%d×%d)",
                       prep->width, prep->height, prep->channels, bw, bh, bc);
          return NULL;
        }
      bt_onnx_graph_add_input (g, "image", (const gint64[]) { -1, bc, bh, bw }, 4);
      input = export_backbone (g, bb, &dim, error);
      if (input == NULL)
        return NULL;
      if (dim != c * h * w)
        {
          g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID,
                       "The backbone's embedding has %d values but the head takes %d", dim, c * h * w);
          g_free (input);
          return NULL;
        }
      *input_rank = bb->tensors[bt_tflite_find_embedding_cut (bb, &dim, NULL)].rank == 4 ? 4 : 2;
      return input;
    }
  if (prep->width != w || prep->height != h || prep->channels != c)
    {
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID,
                   "The preprocessing recipe (%d×%d×%d) does not match the network's input (%d×%d×%d)",
                   prep->width, prep->height, prep->channels, w, h, c);
      return NULL;
    }
  bt_onnx_graph_add_input (g, "image", (const gint64[]) { -1, c, h, w }, 4);
  return g_strdup ("image");
}

/* One layer's nodes and initializers, reading in (of rank in_rank) and writing out (the layer's
 * activation after "/pre" when it has one); its output rank in *rank. */
static gboolean
export_layer (BtOnnxGraph *g, const BtNetLayerInfo *li, const char *in, int in_rank, const char *out,
              GPtrArray *out_names, int *rank, GError **error)
{
  const BtNetLayerInfo l = *li;
  g_autofree char *pre = l.act != BT_NET_ACT_NONE ? suffixed (out, "/pre") : g_strdup (out);
  g_autofree char *wn = suffixed (l.name, ".weight");
  g_autofree char *bn = suffixed (l.name, ".bias");
  BtOnnxNode *n;

  *rank = in_rank;
  switch (l.op)
    {
    case BT_NET_OP_CONV:
    case BT_NET_OP_DWCONV:
      bt_onnx_graph_add_initializer (g, wn, l.weight, (const gint64[]) { l.c, l.in_c / l.groups, l.kh, l.kw }, 4);
      if (l.bias)
        bt_onnx_graph_add_initializer (g, bn, l.bias, (const gint64[]) { l.c }, 1);
      add_conv_node (g, "Conv", l.name, in, wn, l.bias ? bn : NULL, pre, l.kh, l.kw, l.sh, l.sw,
                     l.pad_top, l.pad_left, l.pad_bottom, l.pad_right,
                     l.op == BT_NET_OP_DWCONV ? l.in_c : l.groups);
      break;
    case BT_NET_OP_DENSE:
      {
        const char *x = in;
        g_autofree char *flat = NULL;
        if (in_rank != 2)
          {
            flat = suffixed (l.name, "/flatten");
            n = bt_onnx_graph_add_node (g, "Flatten", flat, (const char *[]) { in, NULL }, (const char *[]) { flat, NULL });
            bt_onnx_node_set_int (n, "axis", 1);
            x = flat;
          }
        gint64 in_dim = (gint64) l.in_c * l.in_h * l.in_w;
        bt_onnx_graph_add_initializer (g, wn, l.weight, (const gint64[]) { l.c, in_dim }, 2);
        if (l.bias)
          bt_onnx_graph_add_initializer (g, bn, l.bias, (const gint64[]) { l.c }, 1);
        n = bt_onnx_graph_add_node (g, "Gemm", l.name, (const char *[]) { x, wn, l.bias ? bn : NULL, NULL },
                                    (const char *[]) { pre, NULL });
        bt_onnx_node_set_int (n, "transB", 1);
        *rank = 2;
      }
      break;
    case BT_NET_OP_MAXPOOL:
    case BT_NET_OP_AVGPOOL:
      add_conv_node (g, l.op == BT_NET_OP_MAXPOOL ? "MaxPool" : "AveragePool", l.name, in, NULL, NULL, pre,
                     l.kh, l.kw, l.sh, l.sw, l.pad_top, l.pad_left, l.pad_bottom, l.pad_right, 1);
      break;
    case BT_NET_OP_GAP:
      bt_onnx_graph_add_node (g, "GlobalAveragePool", l.name, (const char *[]) { in, NULL }, (const char *[]) { pre, NULL });
      *rank = 4;
      break;
    case BT_NET_OP_FLATTEN:
      n = bt_onnx_graph_add_node (g, "Flatten", l.name, (const char *[]) { in, NULL }, (const char *[]) { pre, NULL });
      bt_onnx_node_set_int (n, "axis", 1);
      *rank = 2;
      break;
    case BT_NET_OP_DROPOUT:
      bt_onnx_graph_add_node (g, "Identity", l.name, (const char *[]) { in, NULL }, (const char *[]) { pre, NULL });
      break;
    case BT_NET_OP_BATCHNORM:
      {
        g_autofree char *mn = suffixed (l.name, ".running_mean");
        g_autofree char *vn = suffixed (l.name, ".running_var");
        bt_onnx_graph_add_initializer (g, wn, l.weight, (const gint64[]) { l.c }, 1);
        bt_onnx_graph_add_initializer (g, bn, l.bias, (const gint64[]) { l.c }, 1);
        bt_onnx_graph_add_initializer (g, mn, l.running_mean, (const gint64[]) { l.c }, 1);
        bt_onnx_graph_add_initializer (g, vn, l.running_var, (const gint64[]) { l.c }, 1);
        n = bt_onnx_graph_add_node (g, "BatchNormalization", l.name, (const char *[]) { in, wn, bn, mn, vn, NULL },
                                    (const char *[]) { pre, NULL });
        bt_onnx_node_set_float (n, "epsilon", l.eps);
      }
      break;
    case BT_NET_OP_ADD:
      bt_onnx_graph_add_node (g, "Add", l.name, (const char *[]) { in, g_ptr_array_index (out_names, l.src2), NULL },
                              (const char *[]) { pre, NULL });
      break;
    default:
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_UNSUPPORTED,
                   "Layer “%s” (%s) cannot be exported to ONNX", l.name, l.op_id);
      return FALSE;
    }
  if (l.act == BT_NET_ACT_RELU)
    {
      g_autofree char *an = suffixed (l.name, "/relu");
      bt_onnx_graph_add_node (g, "Relu", an, (const char *[]) { pre, NULL }, (const char *[]) { out, NULL });
    }
  else if (l.act == BT_NET_ACT_RELU6)
    {
      g_autofree char *an = suffixed (l.name, "/relu6");
      bt_onnx_graph_add_relu6 (g, an, pre, out);
    }
  return TRUE;
}

/* bb: the transfer model's backbone, or NULL */
static GBytes *
export_net (BtNet *net, const char * const *class_names, const BtPreprocess *prep, BtTflite *bb,
            BtOnnxForm form, const BtModel *model, GError **error)
{
  int k = bt_net_n_classes (net);
  double t = model != NULL && model->calib.temperature > 0 ? model->calib.temperature : 1.0;
  if (!bt_export_check_class_names (net, class_names, error))
    return NULL;

  g_autoptr(BtOnnxGraph) g = bt_onnx_graph_new ("bottega");
  bt_onnx_graph_set_form (g, form);
  g_autoptr(GPtrArray) out_names = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GArray) ranks = g_array_new (FALSE, FALSE, sizeof (int));
  int input_rank;
  g_autofree char *input = export_input (g, net, prep, bb, &input_rank, error);
  if (input == NULL)
    return NULL;

  guint n_layers = bt_net_n_layers (net);
  for (guint i = 0; i < n_layers; i++)
    {
      BtNetLayerInfo l;
      bt_net_get_layer (net, i, &l);
      const char *in = l.src < 0 ? input : g_ptr_array_index (out_names, l.src);
      int in_rank = l.src < 0 ? input_rank : g_array_index (ranks, int, l.src);
      g_autofree char *out = i + 1 == n_layers ? g_strdup ("logits") : g_strdup (l.name);
      int rank;

      /* the calibration temperature folded into the classifier: softmax(W x / T + b / T) */
      g_autofree float *w_t = NULL, *b_t = NULL;
      if (i + 1 == n_layers && t != 1.0)
        {
          if (l.op != BT_NET_OP_DENSE || l.act != BT_NET_ACT_NONE)
            {
              g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_UNSUPPORTED,
                           "The network does not end in a dense classifier");
              return NULL;
            }
          gsize nw = (gsize) l.c * l.in_c * l.in_h * l.in_w;
          w_t = g_new (float, nw);
          for (gsize j = 0; j < nw; j++)
            w_t[j] = (float) (l.weight[j] / t);
          l.weight = w_t;
          if (l.bias != NULL)
            {
              b_t = g_new (float, l.c);
              for (int j = 0; j < l.c; j++)
                b_t[j] = (float) (l.bias[j] / t);
              l.bias = b_t;
            }
        }
      if (!export_layer (g, &l, in, in_rank, out, out_names, &rank, error))
        return NULL;
      g_ptr_array_add (out_names, g_steal_pointer (&out));
      g_array_append_val (ranks, rank);
    }
  if (n_layers == 0 || g_array_index (ranks, int, n_layers - 1) != 2)
    {
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_UNSUPPORTED,
                   "The network does not end in a dense classifier");
      return NULL;
    }
  BtOnnxNode *sm = bt_onnx_graph_add_node (g, "Softmax", "softmax", (const char *[]) { "logits", NULL },
                                           (const char *[]) { "probabilities", NULL });
  bt_onnx_node_set_int (sm, "axis", 1);
  bt_onnx_graph_add_output (g, "probabilities", (const gint64[]) { -1, k }, 2);
  if (form == BT_ONNX_FORM_FAST)
    {
      /* the model's unknown score, −T·logsumexp(logits / T) (bt_calibration_apply); "logits" are
       * already divided by T. OpenCV 4.6 has no ReduceLogSumExp: its form leaves it out. */
      BtOnnxNode *lse = bt_onnx_graph_add_node (g, "ReduceLogSumExp", "unknown/logsumexp",
                                                (const char *[]) { "logits", NULL },
                                                (const char *[]) { "unknown/lse", NULL });
      bt_onnx_node_set_ints (lse, "axes", (const gint64[]) { 1 }, 1);
      bt_onnx_node_set_int (lse, "keepdims", 0);
      const float minus_t = (float) -t;
      bt_onnx_graph_add_initializer (g, "unknown/minus_temperature", &minus_t, NULL, 0);
      bt_onnx_graph_add_node (g, "Mul", "unknown/scale", (const char *[]) { "unknown/lse", "unknown/minus_temperature", NULL },
                              (const char *[]) { "unknown_score", NULL });
      bt_onnx_graph_add_output (g, "unknown_score", (const gint64[]) { -1 }, 1);
    }

  g_autoptr(GPtrArray) keys = g_ptr_array_new ();
  g_autoptr(GPtrArray) values = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (keys, "labels");
  g_ptr_array_add (values, bt_onnx_labels_json (class_names));
  g_ptr_array_add (keys, "preprocessing");
  g_ptr_array_add (values, bt_onnx_preprocessing_json (prep));
  g_ptr_array_add (keys, "bottega_preset");
  g_ptr_array_add (values, g_strdup (bt_preset_to_id (bt_net_preset (net))));
  if (model != NULL)
    bt_onnx_decision_metadata (model, keys, values);
  g_ptr_array_add (keys, NULL);
  g_ptr_array_add (values, NULL);
  return bt_onnx_graph_to_model (g, (const char * const *) keys->pdata, (const char * const *) values->pdata, error);
}

gboolean
bt_onnx_export_model (const BtModel *model, const char *backbone_path, BtOnnxForm form, const char *path,
                      GError **error)
{
  g_return_val_if_fail (model != NULL && model->net != NULL && path != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  /* a self-contained model carries its backbone; a given file is used instead when named */
  g_autoptr(BtTflite) embedded = NULL;
  /* a fine-tuned backbone is the model's own: always the embedded one, with its weights */
  if (model->backbone_weights != NULL)
    backbone_path = NULL;
  if (bt_net_preset (model->net) == BT_PRESET_TRANSFER && backbone_path == NULL &&
      model->backbone_data != NULL)
    {
      embedded = bt_tflite_load_bytes (model->backbone_data, error);
      if (embedded == NULL || !bt_tflite_apply_weights (embedded, model->backbone_weights, error))
        return FALSE;
    }
  if (bt_net_preset (model->net) == BT_PRESET_TRANSFER && backbone_path == NULL && embedded == NULL)
    {
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID,
                   "A transfer model needs its backbone (%s) to be exported",
                   model->backbone_name ? model->backbone_name : "unknown");
      return FALSE;
    }
  g_autoptr(GBytes) bytes = embedded != NULL
    ? export_net (model->net, (const char * const *) model->class_names, &model->prep, embedded, form, model, error)
    : export_model_with_backbone (model, backbone_path, form, error);
  if (bytes == NULL)
    return FALSE;
  gsize len;
  const char *data = g_bytes_get_data (bytes, &len);
  g_autoptr(GError) local = NULL;
  if (!g_file_set_contents_full (path, data, (gssize) len,
                                 G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE, 0644, &local))
    {
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_IO, "Could not write the ONNX file: %s", local->message);
      return FALSE;
    }
  return TRUE;
}
