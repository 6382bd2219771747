/* bt-onnx.c: ONNX ModelProto building (field numbers from onnx.proto, IR version 7) and the
 * export of Bottega networks walked layer by layer (bt-net-walk.h) into one ONNX graph. */
#include "config.h"

#include "engine/bt-onnx.h"
#include "engine/bt-protobuf.h"

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
  return g;
}

void
bt_onnx_graph_free (BtOnnxGraph *graph)
{
  if (graph == NULL)
    return;
  g_free (graph->name);
  g_byte_array_unref (graph->body);
  g_ptr_array_unref (graph->nodes);
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

void
bt_onnx_graph_add_relu6 (BtOnnxGraph *graph, const char *name, const char *input, const char *output)
{
  g_return_if_fail (graph != NULL && name != NULL && input != NULL && output != NULL);
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

static void
json_string (GString *out, const char *s)
{
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

static void
json_float (GString *out, float v)
{
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
      json_string (out, class_names[i]);
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
  json_string (out, prep->resize == BT_RESIZE_CENTER_CROP ? "center-crop"
                   : prep->resize == BT_RESIZE_PAD ? "pad" : "squash");
  g_string_append (out, ",\"scale\":");
  json_float (out, prep->scale);
  const float *arrays[2] = { prep->mean, prep->std };
  const char *keys[2] = { ",\"mean\":[", ",\"std\":[" };
  for (int a = 0; a < 2; a++)
    {
      g_string_append (out, keys[a]);
      for (int c = 0; c < prep->channels && c < 3; c++)
        {
          if (c > 0)
            g_string_append_c (out, ',');
          json_float (out, arrays[a][c]);
        }
      g_string_append_c (out, ']');
    }
  g_string_append_c (out, '}');
  return g_string_free (out, FALSE);
}
