/* bt-tflite.h: a TensorFlow Lite model reader (flatbuffers parsed by hand, every offset checked)
 * and a float executor on the engine's kernels, used to import pretrained backbones. */
#pragma once

#include "engine/bt-engine.h"

G_BEGIN_DECLS

/* A loaded model: graph + weights dequantized to float32 (real = scale × (q − zero_point)).
 * Immutable after loading, reference counted, shareable between threads. */
typedef struct _BtTflite BtTflite;

/* Caps for untrusted files. */
#define BT_TFLITE_MAX_FILE_BYTES   (512u * 1024u * 1024u)
#define BT_TFLITE_MAX_TENSORS      20000
#define BT_TFLITE_MAX_OPERATORS    10000
#define BT_TFLITE_MAX_WEIGHT_BYTES (1024u * 1024u * 1024u)  /* float32 after dequantizing */
#define BT_TFLITE_MAX_ACT_BYTES    (1024u * 1024u * 1024u)  /* all activations of one run */

BtTflite   *bt_tflite_load        (const char *path, GError **error);
BtTflite   *bt_tflite_load_bytes  (GBytes *bytes, GError **error);
BtTflite   *bt_tflite_ref         (BtTflite *model);
void        bt_tflite_unref       (BtTflite *model);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BtTflite, bt_tflite_unref)

/* The single image input: height, width, channels (batch is 1). */
void        bt_tflite_input_shape (const BtTflite *model, int *height, int *width, int *channels);
/* The real values that pixel 0 and pixel 255 map to: from the input tensor's quantization
 * (uint8: scale × (p − zp); int8: scale × (p − 128 − zp)); float inputs without
 * quantization are assumed to take [-1, 1] (the MobileNet convention). */
void        bt_tflite_input_range (const BtTflite *model, float *lo, float *hi);
/* uint8 HWC pixels (the input's h × w × c) → the float NCHW input the executor takes. */
void        bt_tflite_pixels_to_input (const BtTflite *model, const guint8 *hwc, float *out_chw);
/* Number of floats of the graph output (e.g. 1001 class scores). */
gsize       bt_tflite_output_size (const BtTflite *model);
int         bt_tflite_n_operators (const BtTflite *model);
/* When the graph output is a SOFTMAX (beta 1), the tensor it takes (the logits; a tensor to run
 * bt_tflite_exec_run until, of bt_tflite_output_size values), else -1. */
int         bt_tflite_softmax_input (const BtTflite *model);
/* The bytes of the model's metadata entry `name` (Model.metadata: e.g. "labels" and
 * "preprocessing" in a classifier Bottega exported), or NULL when the file has none. Entries
 * over BT_TFLITE_MAX_METADATA_BYTES are not kept. */
#define BT_TFLITE_MAX_METADATA_BYTES (1024u * 1024u)
GBytes     *bt_tflite_get_metadata (const BtTflite *model, const char *name);
/* Human-readable summary: one line per operator with shapes. */
char       *bt_tflite_describe    (const BtTflite *model);

/* The embedding cut: the output of the last global average pooling (AVERAGE_POOL_2D over the
 * whole feature map, or MEAN over height and width), found from the graph. Returns the tensor
 * index and stores its length (1280 for MobileNet V2, 1024 for V1) in dim; -1 and an error
 * when the graph has none. */
int         bt_tflite_find_embedding_cut (const BtTflite *model, int *dim, GError **error);

/* Activations for one thread: a model can have many executors, one per thread. */
typedef struct _BtTfliteExec BtTfliteExec;
BtTfliteExec *bt_tflite_exec_new  (BtTflite *model, GError **error);
/* Which arithmetic an executor uses. AUTO: the integer path (quantized activations, AVX2) for
 * every target whose operators it covers, unless BOTTEGA_TFLITE_PATH=float is set; FLOAT: the
 * dequantized float path always; INT8: like AUTO, but an error when this CPU or this graph
 * has no integer path at all (tests). A model whose weights bt_tflite_set_op_weights changed
 * (fine-tuned) always takes the float path (INT8: an error). */
typedef enum { BT_TFLITE_PATH_AUTO, BT_TFLITE_PATH_FLOAT, BT_TFLITE_PATH_INT8 } BtTflitePath;
BtTfliteExec *bt_tflite_exec_new_path (BtTflite *model, BtTflitePath path, GError **error);
/* The path a run to until_tensor (< 0: the graph output) takes: FLOAT or INT8. */
BtTflitePath  bt_tflite_exec_path     (BtTfliteExec *exec, int until_tensor);
void          bt_tflite_exec_free (BtTfliteExec *exec);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BtTfliteExec, bt_tflite_exec_free)

/* Runs the graph on one image. input: float32 NCHW [1, c, h, w] in the input's real range
 * (see bt_tflite_pixels_to_input). until_tensor < 0 runs the whole graph and returns the
 * graph output; otherwise it stops once that tensor is computed (the embedding cut).
 * The result (n_out floats, in TFLite's own NHWC element order) is owned by exec and valid
 * until the next run. NaN/Inf in the output → NULL and BT_ENGINE_ERROR_NUMERIC. */
const float  *bt_tflite_exec_run  (BtTfliteExec *exec, const float *input, int until_tensor,
                                   gsize *n_out, GError **error);

G_END_DECLS
