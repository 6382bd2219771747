/* bt-onnx.h: an ONNX model builder (ModelProto, opset 13, IR version 7) on Bottega's own
 * protobuf writer, and the export of trained Bottega models to ONNX. */
#pragma once

#include "engine/bt-engine.h"

G_BEGIN_DECLS

#define BT_ONNX_OPSET      13
#define BT_ONNX_IR_VERSION 7

/* Two spellings of the same graph. FAST (the default): clamps and ReLU6 as opset-13 Clip with
 * min/max initializer inputs, the pattern ONNX Runtime's optimizer fuses into the Conv or Gemm
 * before it. OPENCV: Clip spelled with Relu/Sub/Add, which OpenCV 4.6 (Debian 12) reads — its
 * importer refuses Clip with min/max inputs — but which no runtime fuses (slower). */
typedef enum {
  BT_ONNX_FORM_FAST = 0,
  BT_ONNX_FORM_OPENCV,
} BtOnnxForm;

/* ---- Graph builder ---- */
typedef struct _BtOnnxGraph BtOnnxGraph;
typedef struct _BtOnnxNode  BtOnnxNode;

BtOnnxGraph *bt_onnx_graph_new  (const char *name);
void         bt_onnx_graph_free (BtOnnxGraph *graph);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BtOnnxGraph, bt_onnx_graph_free)
/* How add_relu6 and add_clamp spell their operator (BT_ONNX_FORM_FAST unless set). */
void         bt_onnx_graph_set_form (BtOnnxGraph *graph, BtOnnxForm form);

/* Float32 graph inputs and outputs; a dimension of -1 is the symbolic batch size "N". */
void bt_onnx_graph_add_input  (BtOnnxGraph *graph, const char *name, const gint64 *dims, int rank);
void bt_onnx_graph_add_output (BtOnnxGraph *graph, const char *name, const gint64 *dims, int rank);
/* Constant tensors (weights). The data is copied. */
void bt_onnx_graph_add_initializer       (BtOnnxGraph *graph, const char *name, const float *data,
                                          const gint64 *dims, int rank);
void bt_onnx_graph_add_initializer_int64 (BtOnnxGraph *graph, const char *name, const gint64 *data,
                                          const gint64 *dims, int rank);
/* inputs and outputs are NULL-terminated; an empty string "" is an omitted optional input.
 * The node belongs to the graph; set its attributes before the next add_node. */
BtOnnxNode *bt_onnx_graph_add_node (BtOnnxGraph *graph, const char *op_type, const char *name,
                                    const char * const *inputs, const char * const *outputs);
void bt_onnx_node_set_int    (BtOnnxNode *node, const char *name, gint64 v);
void bt_onnx_node_set_ints   (BtOnnxNode *node, const char *name, const gint64 *v, gsize n);
void bt_onnx_node_set_float  (BtOnnxNode *node, const char *name, float v);
void bt_onnx_node_set_string (BtOnnxNode *node, const char *name, const char *v);
/* ReLU6: Clip(x, 0, 6) in the fast form; Relu(x) − Relu(Relu(x) − 6) in the OpenCV form. */
void bt_onnx_graph_add_relu6 (BtOnnxGraph *graph, const char *name, const char *input, const char *output);

/* clamp(x, lo, hi): Relu when it is one, else Clip (an infinite bound an omitted input) in the
 * fast form, lo + Relu(x − lo) − Relu(x − hi) (infinite bounds drop their term) in the OpenCV form. */
void bt_onnx_graph_add_clamp (BtOnnxGraph *graph, const char *name, const char *input, const char *output,
                              float lo, float hi);

/* Serializes a ModelProto (opset BT_ONNX_OPSET, default domain) holding the graph;
 * meta_keys/meta_values (NULL-terminated, same length, may be NULL) go to metadata_props.
 * Fails when the model would pass protobuf's 2 GiB limit. */
GBytes *bt_onnx_graph_to_model (BtOnnxGraph *graph, const char * const *meta_keys,
                                const char * const *meta_values, GError **error);

/* ---- Export ---- */
/* JSON helpers: a quoted, escaped UTF-8 string; a float that round-trips ("%.9g", "." decimal). */
void  bt_json_append_string (GString *out, const char *s);
void  bt_json_append_float  (GString *out, float v);

/* The JSON strings stored under metadata_props "labels" and "preprocessing". */
char *bt_onnx_labels_json        (const char * const *class_names);
/* FALSE (BT_ENGINE_ERROR_INVALID) unless there is one class name per output of net; every export
 * checks this first. */
gboolean bt_export_check_class_names (BtNet *net, const char * const *class_names, GError **error);
char *bt_onnx_preprocessing_json (const BtPreprocess *prep);

/* The model's decision rule for an app: {"temperature":T,"unknown_threshold":U or null,
 * "class_thresholds":{"name":p,…}} (only the classes with a saved threshold). */
char *bt_onnx_class_thresholds_json (const BtModel *model);
char *bt_onnx_decision_json         (const BtModel *model);
/* Appends to keys (static strings) and values (owned strings) the metadata_props that carry the
 * model's decision rule: calibration_temperature, unknown_threshold (when set), class_thresholds
 * (JSON, when any) and decision_rule (the rule in words). */
void  bt_onnx_decision_metadata     (const BtModel *model, GPtrArray *keys, GPtrArray *values);

/* A whole classifier as ONNX: input "image" [N, C, H, W] float32 (already preprocessed:
 * x = (pixel × scale − mean) / std, RGB order), output "probabilities" [N, classes] (the
 * plain softmax: no model, no calibration) and, in the fast form, "unknown_score" [N]
 * (−logsumexp(logits)). backbone_path: the TFLite backbone of a transfer model (NULL otherwise); its graph up to
 * the embedding is prepended to the head so the file is one self-contained graph. */
GBytes  *bt_onnx_export_net   (BtNet *net, const char * const *class_names, const BtPreprocess *prep,
                               const char *backbone_path, BtOnnxForm form, GError **error);
/* bt_onnx_export_net of a loaded model, written atomically to path; its calibration temperature
 * is folded into the classifier (probabilities = the model's own, softmax(logits / T)), the fast
 * form has a second output "unknown_score" [N] (−T·logsumexp(logits / T)), and the decision rule
 * goes to metadata_props (bt_onnx_decision_metadata). */
gboolean bt_onnx_export_model (const BtModel *model, const char *backbone_path, BtOnnxForm form,
                               const char *path, GError **error);

G_END_DECLS
