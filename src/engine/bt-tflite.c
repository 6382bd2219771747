/* bt-tflite.c: TensorFlow Lite flatbuffer reader (by hand, every offset bounds-checked, the file
 * is untrusted) and a float32 executor running the imported graph on the engine's kernels. */
#include "config.h"

#include <math.h>
#include <string.h>
#include <cblas.h>

#include "engine/bt-tflite-private.h"
#include "engine/bt-tflite-int8.h"
#include "engine/bt-engine-private.h"

/* ------------------------------------------------------------------------------------------ */
/* Flatbuffer access. Every read checks the position against the buffer length first.        */

typedef struct {
  const guint8 *p;
  gsize         len;
} Fb;

typedef struct {
  gsize   pos;     /* table start */
  gsize   vt;      /* vtable start */
  guint16 vtsize;
  guint16 tsize;
} FbTable;

#define CORRUPT(error, ...) \
  g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_CORRUPT, __VA_ARGS__)

static gboolean
fb_has (const Fb *fb, gsize off, gsize n)
{
  return off <= fb->len && fb->len - off >= n;
}

static guint32
fb_u32 (const Fb *fb, gsize off)
{
  guint32 v;
  g_assert (fb_has (fb, off, 4));
  memcpy (&v, fb->p + off, 4);
  return GUINT32_FROM_LE (v);
}

static guint16
fb_u16 (const Fb *fb, gsize off)
{
  guint16 v;
  g_assert (fb_has (fb, off, 2));
  memcpy (&v, fb->p + off, 2);
  return GUINT16_FROM_LE (v);
}

static gboolean
fb_table (const Fb *fb, gsize pos, FbTable *t, const char *what, GError **error)
{
  gint64 vt;

  if (!fb_has (fb, pos, 4))
    return CORRUPT (error, "Not a valid TensorFlow Lite file: %s lies outside the file", what), FALSE;
  vt = (gint64) pos - (gint64) (gint32) fb_u32 (fb, pos);
  if (vt < 0 || !fb_has (fb, (gsize) vt, 4))
    return CORRUPT (error, "Not a valid TensorFlow Lite file: the layout of %s is out of bounds", what), FALSE;
  t->pos = pos;
  t->vt = (gsize) vt;
  t->vtsize = fb_u16 (fb, t->vt);
  t->tsize = fb_u16 (fb, t->vt + 2);
  if (t->vtsize < 4 || (t->vtsize & 1) || !fb_has (fb, t->vt, t->vtsize) || t->tsize < 4
      || !fb_has (fb, pos, t->tsize))
    return CORRUPT (error, "Not a valid TensorFlow Lite file: the layout of %s is broken", what), FALSE;
  return TRUE;
}

/* Absolute position of field i (size bytes), 0 when absent, G_MAXSIZE when broken. */
static gsize
fb_field (const FbTable *t, const Fb *fb, int i, gsize size)
{
  gsize slot = 4 + 2 * (gsize) i;
  guint16 fo;

  if (slot + 2 > t->vtsize)
    return 0;
  fo = fb_u16 (fb, t->vt + slot);
  if (fo == 0)
    return 0;
  if (fo < 4 || (gsize) fo + size > t->tsize)
    return G_MAXSIZE;
  return t->pos + fo;
}

#define FIELD_OR_FAIL(pos, t, fb, i, size, what, error)                                           \
  G_STMT_START {                                                                                  \
    pos = fb_field (t, fb, i, size);                                                              \
    if (pos == G_MAXSIZE)                                                                         \
      return CORRUPT (error, "Not a valid TensorFlow Lite file: a field of %s is out of bounds", what), FALSE; \
  } G_STMT_END

static gboolean
fb_scalar (const Fb *fb, const FbTable *t, int i, gsize size, gint64 def, gboolean is_signed,
           gint64 *out, const char *what, GError **error)
{
  gsize pos;
  FIELD_OR_FAIL (pos, t, fb, i, size, what, error);
  if (pos == 0)
    {
      *out = def;
      return TRUE;
    }
  switch (size)
    {
    case 1: *out = is_signed ? (gint64) (gint8) fb->p[pos] : (gint64) fb->p[pos]; break;
    case 2: *out = is_signed ? (gint64) (gint16) fb_u16 (fb, pos) : (gint64) fb_u16 (fb, pos); break;
    case 4: *out = is_signed ? (gint64) (gint32) fb_u32 (fb, pos) : (gint64) fb_u32 (fb, pos); break;
    default: g_assert_not_reached ();
    }
  return TRUE;
}

static gboolean
fb_float (const Fb *fb, const FbTable *t, int i, float def, float *out, const char *what, GError **error)
{
  gsize pos;
  guint32 u;
  FIELD_OR_FAIL (pos, t, fb, i, 4, what, error);
  if (pos == 0)
    {
      *out = def;
      return TRUE;
    }
  u = fb_u32 (fb, pos);
  memcpy (out, &u, 4);
  return TRUE;
}

/* An offset field: *target = 0 when absent. */
static gboolean
fb_ref (const Fb *fb, const FbTable *t, int i, gsize *target, const char *what, GError **error)
{
  gsize pos, tg;
  FIELD_OR_FAIL (pos, t, fb, i, 4, what, error);
  if (pos == 0)
    {
      *target = 0;
      return TRUE;
    }
  tg = pos + fb_u32 (fb, pos);
  if (!fb_has (fb, tg, 4))
    return CORRUPT (error, "Not a valid TensorFlow Lite file: %s points outside the file", what), FALSE;
  *target = tg;
  return TRUE;
}

/* A vector field: start of its elements and their count (0 when absent). */
static gboolean
fb_vector (const Fb *fb, const FbTable *t, int i, gsize elem_size, gsize *start, gsize *count,
           const char *what, GError **error)
{
  gsize tg, n;
  if (!fb_ref (fb, t, i, &tg, what, error))
    return FALSE;
  if (tg == 0)
    {
      *start = 0;
      *count = 0;
      return TRUE;
    }
  n = fb_u32 (fb, tg);
  if (n > (fb->len - tg - 4) / elem_size)
    return CORRUPT (error, "Not a valid TensorFlow Lite file: the length of %s runs past the end of the file", what), FALSE;
  *start = tg + 4;
  *count = n;
  return TRUE;
}

/* Element k of a vector of tables. */
static gboolean
fb_vector_table (const Fb *fb, gsize start, gsize k, FbTable *t, const char *what, GError **error)
{
  gsize p = start + 4 * k;
  return fb_table (fb, p + fb_u32 (fb, p), t, what, error);
}

static char *
fb_string (const Fb *fb, const FbTable *t, int i, const char *what, GError **error, gboolean *ok)
{
  gsize start, n;
  *ok = fb_vector (fb, t, i, 1, &start, &n, what, error);
  if (!*ok || n == 0)
    return NULL;
  return g_utf8_make_valid ((const char *) fb->p + start, (gssize) MIN (n, 256));
}

/* ------------------------------------------------------------------------------------------ */
/* Names                                                                                      */

static const char * const op_names[] = {
  "ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D", "DEPTH_TO_SPACE",
  "DEQUANTIZE", "EMBEDDING_LOOKUP", "FLOOR", "FULLY_CONNECTED", "HASHTABLE_LOOKUP",
  "L2_NORMALIZATION", "L2_POOL_2D", "LOCAL_RESPONSE_NORMALIZATION", "LOGISTIC", "LSH_PROJECTION",
  "LSTM", "MAX_POOL_2D", "MUL", "RELU", "RELU_N1_TO_1", "RELU6", "RESHAPE", "RESIZE_BILINEAR",
  "RNN", "SOFTMAX", "SPACE_TO_DEPTH", "SVDF", "TANH", "CONCAT_EMBEDDINGS", "SKIP_GRAM", "CALL",
  "CUSTOM", "EMBEDDING_LOOKUP_SPARSE", "PAD", "UNIDIRECTIONAL_SEQUENCE_RNN", "GATHER",
  "BATCH_TO_SPACE_ND", "SPACE_TO_BATCH_ND", "TRANSPOSE", "MEAN", "SUB", "DIV", "SQUEEZE",
  "UNIDIRECTIONAL_SEQUENCE_LSTM", "STRIDED_SLICE", "BIDIRECTIONAL_SEQUENCE_RNN", "EXP", "TOPK_V2",
  "SPLIT", "LOG_SOFTMAX", "DELEGATE", "BIDIRECTIONAL_SEQUENCE_LSTM", "CAST", "PRELU", "MAXIMUM",
  "ARG_MAX", "MINIMUM", "LESS", "NEG", "PADV2", "GREATER", "GREATER_EQUAL", "LESS_EQUAL", "SELECT",
  "SLICE", "SIN", "TRANSPOSE_CONV", "SPARSE_TO_DENSE", "TILE", "EXPAND_DIMS", "EQUAL", "NOT_EQUAL",
  "LOG", "SUM", "SQRT", "RSQRT", "SHAPE", "POW", "ARG_MIN", "FAKE_QUANT", "REDUCE_PROD",
  "REDUCE_MAX", "PACK", "LOGICAL_OR", "ONE_HOT", "LOGICAL_AND", "LOGICAL_NOT", "UNPACK",
  "REDUCE_MIN", "FLOOR_DIV", "REDUCE_ANY", "SQUARE", "ZEROS_LIKE", "FILL", "FLOOR_MOD", "RANGE",
  "RESIZE_NEAREST_NEIGHBOR", "LEAKY_RELU", "SQUARED_DIFFERENCE", "MIRROR_PAD", "ABS", "SPLIT_V",
  "UNIQUE", "CEIL", "REVERSE_V2", "ADD_N", "GATHER_ND", "COS", "WHERE", "RANK", "ELU",
  "REVERSE_SEQUENCE", "MATRIX_DIAG", "QUANTIZE", "MATRIX_SET_DIAG", "ROUND", "HARD_SWISH", "IF",
  "WHILE", "NON_MAX_SUPPRESSION_V4", "NON_MAX_SUPPRESSION_V5", "SCATTER_ND", "SELECT_V2",
  "DENSIFY", "SEGMENT_SUM", "BATCH_MATMUL",
};

const char *
bt_tflite_op_name (int code)
{
  if (code >= 0 && code < (int) G_N_ELEMENTS (op_names))
    return op_names[code];
  return NULL;
}

static const char *
type_name (int type)
{
  static const char * const names[] = { "float32", "float16", "int32", "uint8", "int64", "string",
                                        "bool", "int16", "complex64", "int8", "float64" };
  if (type >= 0 && type < (int) G_N_ELEMENTS (names))
    return names[type];
  return "unknown";
}

/* ------------------------------------------------------------------------------------------ */
/* Layout helpers                                                                              */

void
bt_tflite_nhwc_to_nchw (float *out, const float *in, int n, int h, int w, int c)
{
  gsize hw = (gsize) h * w;
  for (int b = 0; b < n; b++)
    for (gsize p = 0; p < hw; p++)
      for (int k = 0; k < c; k++)
        out[((gsize) b * c + k) * hw + p] = in[((gsize) b * hw + p) * c + k];
}

void
bt_tflite_nchw_to_nhwc (float *out, const float *in, int n, int h, int w, int c)
{
  gsize hw = (gsize) h * w;
  for (int b = 0; b < n; b++)
    for (int k = 0; k < c; k++)
      for (gsize p = 0; p < hw; p++)
        out[((gsize) b * hw + p) * c + k] = in[((gsize) b * c + k) * hw + p];
}

/* A rank-4 tensor whose NCHW and NHWC element orders differ. */
static gboolean
needs_transpose (const BtTflTensor *t)
{
  return t->rank == 4 && (gsize) t->shape[1] * t->shape[2] > 1 && t->shape[3] > 1;
}

/* Logical rank-4 shape [n, h, w, c] → physical NCHW dims. */
static void
physical_dims (const BtTflTensor *t, int dims[BT_TFL_MAX_RANK], int *rank)
{
  *rank = t->rank;
  if (t->rank == 4)
    {
      dims[0] = t->shape[0];
      dims[1] = t->shape[3];
      dims[2] = t->shape[1];
      dims[3] = t->shape[2];
    }
  else
    for (int i = 0; i < t->rank; i++)
      dims[i] = t->shape[i];
}

static int
physical_axis (int rank, int logical)
{
  static const int map4[4] = { 0, 2, 3, 1 };
  return rank == 4 ? map4[logical] : logical;
}

/* ------------------------------------------------------------------------------------------ */
/* Loading                                                                                     */

static void
tensor_clear (BtTflTensor *t)
{
  g_free (t->name);
  g_free (t->scale);
  g_free (t->zero_point);
  g_free (t->data);
  g_free (t->ints);
}

static void
bt_tflite_free_internal (BtTflite *m)
{
  for (int i = 0; i < m->n_tensors; i++)
    tensor_clear (&m->tensors[i]);
  g_free (m->tensors);
  for (int i = 0; i < m->n_ops; i++)
    {
      g_free (m->ops[i].w);
      g_free (m->ops[i].b);
    }
  g_free (m->ops);
  g_free (m->description);
  g_clear_pointer (&m->metadata, g_hash_table_unref);
  bt_tfl_quant_free (m->quant);
  g_free (m);
}

BtTflite *
bt_tflite_ref (BtTflite *model)
{
  g_return_val_if_fail (model != NULL, NULL);
  g_atomic_ref_count_inc (&model->ref);
  return model;
}

void
bt_tflite_unref (BtTflite *model)
{
  if (model != NULL && g_atomic_ref_count_dec (&model->ref))
    bt_tflite_free_internal (model);
}

typedef struct {
  const guint8 *data;
  gsize         len;
} RawBuffer;

static gboolean
read_quantization (const Fb *fb, gsize qpos, BtTflTensor *t, GError **error)
{
  FbTable q;
  gsize s_start, s_n, z_start, z_n;
  gint64 qdim;
  const char *what = "a tensor's quantization";

  if (!fb_table (fb, qpos, &q, what, error)
      || !fb_vector (fb, &q, 2, 4, &s_start, &s_n, what, error)
      || !fb_vector (fb, &q, 3, 8, &z_start, &z_n, what, error)
      || !fb_scalar (fb, &q, 6, 4, 0, TRUE, &qdim, what, error))
    return FALSE;
  if (s_n == 0)
    return TRUE;
  if (s_n > 1 << 20 || (z_n != 0 && z_n != 1 && z_n != s_n))
    return CORRUPT (error, "Tensor “%s” has inconsistent quantization parameters", t->name), FALSE;
  t->n_scale = (int) s_n;
  t->scale = g_new (float, s_n);
  t->zero_point = g_new0 (gint64, s_n);
  for (gsize k = 0; k < s_n; k++)
    {
      guint32 u = fb_u32 (fb, s_start + 4 * k);
      memcpy (&t->scale[k], &u, 4);
      if (!isfinite (t->scale[k]))
        return CORRUPT (error, "Tensor “%s” has a non-finite quantization scale", t->name), FALSE;
      if (z_n > 0)
        {
          guint64 z = (guint64) fb_u32 (fb, z_start + 8 * (z_n == 1 ? 0 : k))
                      | ((guint64) fb_u32 (fb, z_start + 8 * (z_n == 1 ? 0 : k) + 4) << 32);
          t->zero_point[k] = (gint64) z;
          if (t->zero_point[k] < -65536 || t->zero_point[k] > 65536)
            return CORRUPT (error, "Tensor “%s” has an absurd zero point", t->name), FALSE;
        }
    }
  if (qdim < 0 || qdim >= BT_TFL_MAX_RANK)
    return CORRUPT (error, "Tensor “%s” has an invalid quantized dimension", t->name), FALSE;
  t->qdim = (int) qdim;
  return TRUE;
}

/* Real values of a constant tensor: real = scale × (q − zero_point). */
static gboolean
dequantize_constant (BtTflTensor *t, const RawBuffer *raw, GError **error)
{
  gsize esize;
  gsize n = t->n_elems;
  gsize inner = 1, dim = 1;

  switch (t->type)
    {
    case BT_TFL_FLOAT32: case BT_TFL_INT32: esize = 4; break;
    case BT_TFL_UINT8: case BT_TFL_INT8: esize = 1; break;
    case BT_TFL_INT64: esize = 8; break;
    case BT_TFL_INT16: esize = 2; break;
    default:
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_UNSUPPORTED,
                   "Tensor “%s” holds %s weights, which are not supported", t->name, type_name (t->type));
      return FALSE;
    }
  if (raw->len != n * esize)
    return CORRUPT (error, "Tensor “%s” has %" G_GSIZE_FORMAT " bytes of data, %" G_GSIZE_FORMAT " expected",
                    t->name, raw->len, n * esize), FALSE;
  if (t->n_scale > 1)
    {
      if (t->qdim >= t->rank || t->shape[t->qdim] != t->n_scale)
        return CORRUPT (error, "Tensor “%s” has per-channel scales that do not match its shape", t->name), FALSE;
      for (int i = t->qdim + 1; i < t->rank; i++)
        inner *= (gsize) t->shape[i];
      dim = (gsize) t->n_scale;
    }

  t->data = g_try_new (float, MAX (n, 1));
  if (t->data == NULL)
    return g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_NO_MEMORY, "Out of memory"), FALSE;
  if (t->type == BT_TFL_INT32 || t->type == BT_TFL_INT64)
    t->ints = g_new (gint64, MAX (n, 1));

  for (gsize i = 0; i < n; i++)
    {
      const guint8 *p = raw->data + i * esize;
      double q;
      switch (t->type)
        {
        case BT_TFL_FLOAT32: { guint32 u; float f; memcpy (&u, p, 4); u = GUINT32_FROM_LE (u); memcpy (&f, &u, 4); q = f; break; }
        case BT_TFL_INT32: { guint32 u; memcpy (&u, p, 4); q = (gint32) GUINT32_FROM_LE (u); t->ints[i] = (gint64) q; break; }
        case BT_TFL_INT64: { guint64 u; memcpy (&u, p, 8); t->ints[i] = (gint64) GUINT64_FROM_LE (u); q = (double) t->ints[i]; break; }
        case BT_TFL_INT16: { guint16 u; memcpy (&u, p, 2); q = (gint16) GUINT16_FROM_LE (u); break; }
        case BT_TFL_UINT8: q = p[0]; break;
        case BT_TFL_INT8: q = (gint8) p[0]; break;
        default: g_assert_not_reached ();
        }
      if (t->n_scale > 0)
        {
          gsize k = t->n_scale > 1 ? (i / inner) % dim : 0;
          t->data[i] = (float) (t->scale[k] * (q - (double) t->zero_point[k]));
        }
      else
        t->data[i] = (float) q;
      if (!isfinite (t->data[i]))
        return CORRUPT (error, "Tensor “%s” holds a value that is not a finite number", t->name), FALSE;
    }
  return TRUE;
}

static gboolean
read_tensor (const Fb *fb, const FbTable *tt, const RawBuffer *buffers, gsize n_buffers,
             BtTflTensor *t, gsize *weight_bytes, GError **error)
{
  gsize shape_start, rank, qpos;
  gint64 type, buffer;
  gboolean ok;
  const char *what = "a tensor";

  t->producer = -1;
  t->last_use = -1;
  t->name = fb_string (fb, tt, 3, what, error, &ok);
  if (!ok)
    return FALSE;
  if (t->name == NULL)
    t->name = g_strdup ("");
  if (!fb_vector (fb, tt, 0, 4, &shape_start, &rank, what, error)
      || !fb_scalar (fb, tt, 1, 1, 0, TRUE, &type, what, error)
      || !fb_scalar (fb, tt, 2, 4, 0, FALSE, &buffer, what, error)
      || !fb_ref (fb, tt, 4, &qpos, what, error))
    return FALSE;
  t->type = (int) type;
  if (rank > BT_TFL_MAX_RANK)
    {
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_UNSUPPORTED,
                   "Tensor “%s” has %" G_GSIZE_FORMAT " dimensions; at most %d are supported",
                   t->name, rank, BT_TFL_MAX_RANK);
      return FALSE;
    }
  t->rank = (int) rank;
  t->n_elems = 1;
  for (gsize i = 0; i < rank; i++)
    {
      gint32 d = (gint32) fb_u32 (fb, shape_start + 4 * i);
      if (d < 1 || d > (1 << 24))
        return CORRUPT (error, "Tensor “%s” has an invalid dimension %d", t->name, d), FALSE;
      t->shape[i] = d;
      if (t->n_elems > (G_MAXSIZE / 4) / (gsize) d || t->n_elems * (gsize) d > (1u << 28))
        return g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_NO_MEMORY,
                            "Tensor “%s” is too large", t->name), FALSE;
      t->n_elems *= (gsize) d;
    }
  if (qpos != 0 && !read_quantization (fb, qpos, t, error))
    return FALSE;

  if (buffer < 0 || (gsize) buffer >= MAX (n_buffers, 1) || (n_buffers == 0 && buffer != 0))
    return CORRUPT (error, "Tensor “%s” refers to a missing buffer", t->name), FALSE;
  if (n_buffers > 0 && buffers[buffer].len > 0)
    {
      t->is_const = TRUE;
      t->raw_off = (gsize) (buffers[buffer].data - fb->p);
      t->raw_len = buffers[buffer].len;
      *weight_bytes += t->n_elems * sizeof (float);
      if (*weight_bytes > BT_TFLITE_MAX_WEIGHT_BYTES)
        return g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_NO_MEMORY,
                            "The model's weights are larger than the allowed %u MiB",
                            BT_TFLITE_MAX_WEIGHT_BYTES >> 20), FALSE;
      if (!dequantize_constant (t, &buffers[buffer], error))
        return FALSE;
    }
  return TRUE;
}

static gboolean
read_buffers (const Fb *fb, const FbTable *model, RawBuffer **out, gsize *n_out, GError **error)
{
  gsize start, n;
  const char *what = "the buffer list";

  if (!fb_vector (fb, model, 4, 4, &start, &n, what, error))
    return FALSE;
  if (n > BT_TFLITE_MAX_TENSORS + 1)
    return g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_NO_MEMORY,
                        "The model has too many buffers (%" G_GSIZE_FORMAT ")", n), FALSE;
  *out = g_new0 (RawBuffer, MAX (n, 1));
  *n_out = n;
  for (gsize i = 0; i < n; i++)
    {
      FbTable b;
      gsize ds, dn, off_pos, size_pos;
      if (!fb_vector_table (fb, start, i, &b, "a buffer", error)
          || !fb_vector (fb, &b, 0, 1, &ds, &dn, "a buffer", error))
        return FALSE;
      if (dn > 0)
        {
          (*out)[i].data = fb->p + ds;
          (*out)[i].len = dn;
          continue;
        }
      /* Files over 2 GiB keep buffers after the flatbuffer: offset and size from the file start. */
      FIELD_OR_FAIL (off_pos, &b, fb, 1, 8, "a buffer", error);
      FIELD_OR_FAIL (size_pos, &b, fb, 2, 8, "a buffer", error);
      if (off_pos != 0 && size_pos != 0)
        {
          guint64 o = fb_u32 (fb, off_pos) | ((guint64) fb_u32 (fb, off_pos + 4) << 32);
          guint64 s = fb_u32 (fb, size_pos) | ((guint64) fb_u32 (fb, size_pos + 4) << 32);
          if (o > 1 && s > 0)
            {
              if (o > fb->len || s > fb->len - o)
                return CORRUPT (error, "Not a valid TensorFlow Lite file: a buffer lies outside the file"), FALSE;
              (*out)[i].data = fb->p + o;
              (*out)[i].len = s;
            }
        }
    }
  return TRUE;
}

static gboolean
read_int_list (const Fb *fb, const FbTable *t, int field, int *dst, int max, int *n_out,
               int n_tensors, const char *what, GError **error)
{
  gsize start, n;
  if (!fb_vector (fb, t, field, 4, &start, &n, what, error))
    return FALSE;
  if (n > (gsize) max)
    {
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_UNSUPPORTED,
                   "An operator has %" G_GSIZE_FORMAT " %s; at most %d are supported", n, what, max);
      return FALSE;
    }
  for (gsize i = 0; i < n; i++)
    {
      gint32 v = (gint32) fb_u32 (fb, start + 4 * i);
      if (v < -1 || v >= n_tensors)
        return CORRUPT (error, "An operator refers to a tensor that does not exist"), FALSE;
      dst[i] = v;
    }
  *n_out = (int) n;
  return TRUE;
}

/* ---- Operator preparation: options, shape checks, weights in engine layout ---- */

static gboolean
unsupported (GError **error, const char *fmt, ...) G_GNUC_PRINTF (2, 3);

static gboolean
unsupported (GError **error, const char *fmt, ...)
{
  va_list ap;
  char *msg;
  va_start (ap, fmt);
  msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error_literal (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_UNSUPPORTED, msg);
  g_free (msg);
  return FALSE;
}

static gboolean
set_activation (BtTflOp *op, gint64 act, const char *opname, GError **error)
{
  op->act = (int) act;
  switch (act)
    {
    case 0: op->lo = -INFINITY; op->hi = INFINITY; return TRUE;
    case 1: op->lo = 0.f; op->hi = INFINITY; return TRUE;
    case 2: op->lo = -1.f; op->hi = 1.f; return TRUE;
    case 3: op->lo = 0.f; op->hi = 6.f; return TRUE;
    default:
      return unsupported (error, "Operator %s uses fused activation %d, which is not supported",
                          opname, (int) act);
    }
}

static gboolean
same_shape (const BtTflTensor *a, const BtTflTensor *b)
{
  if (a->rank != b->rank)
    return FALSE;
  for (int i = 0; i < a->rank; i++)
    if (a->shape[i] != b->shape[i])
      return FALSE;
  return TRUE;
}

static gboolean
check_out_shape (const BtTflTensor *o, int n, int h, int w, int c, const char *opname, GError **error)
{
  if (o->rank != 4 || o->shape[0] != n || o->shape[1] != h || o->shape[2] != w || o->shape[3] != c)
    return CORRUPT (error, "Operator %s: output tensor “%s” does not have the shape [%d, %d, %d, %d] "
                    "its inputs give", opname, o->name, n, h, w, c), FALSE;
  return TRUE;
}

/* TFLite padding: SAME → out = ceil(in / stride), extra padding at the bottom/right. */
static gboolean
spatial_geometry (gint64 padding, int in, int k, int stride, int *out, int *pad_before,
                  int *pad_after, const char *opname, GError **error)
{
  if (stride < 1 || stride > 1024 || k < 1)
    return CORRUPT (error, "Operator %s has an invalid stride or window", opname), FALSE;
  if (padding == 0)
    {
      int o = (in + stride - 1) / stride;
      gint64 total = (gint64) (o - 1) * stride + k - in;
      if (total < 0)
        total = 0;
      *out = o;
      *pad_before = (int) (total / 2);
      *pad_after = (int) (total - total / 2);
    }
  else if (padding == 1)
    {
      if (in < k)
        return CORRUPT (error, "Operator %s: window larger than its input", opname), FALSE;
      *out = (in - k) / stride + 1;
      *pad_before = *pad_after = 0;
    }
  else
    return CORRUPT (error, "Operator %s has an unknown padding mode", opname), FALSE;
  return TRUE;
}

static gboolean
options_table (const Fb *fb, const FbTable *opt_t, gboolean has_opts, gint64 opt_type,
               gint64 want_type, FbTable *out, const char *opname, GError **error)
{
  if (!has_opts)
    {
      /* Absent options: an empty vtable, so every field takes its schema default. */
      out->pos = 0;
      out->vt = 0;
      out->vtsize = 0;
      out->tsize = 0;
      return TRUE;
    }
  if (opt_type != want_type)
    return CORRUPT (error, "Operator %s carries options of the wrong kind", opname), FALSE;
  *out = *opt_t;
  return TRUE;
}

static gboolean
need_input (BtTflite *m, BtTflOp *op, int k, gboolean want_const, const char *opname, GError **error)
{
  int ti = k < op->n_inputs ? op->inputs[k] : -1;
  if (ti < 0)
    return CORRUPT (error, "Operator %s is missing input %d", opname, k), FALSE;
  if (want_const && !m->tensors[ti].is_const)
    return unsupported (error, "Operator %s with a computed (non-constant) input %d is not supported",
                        opname, k);
  if (!want_const && m->tensors[ti].is_const)
    return unsupported (error, "Operator %s with a constant data input is not supported", opname);
  return TRUE;
}

static gboolean
prepare_conv (BtTflite *m, BtTflOp *op, const Fb *fb, const FbTable *o, gboolean depthwise,
              const char *opname, GError **error)
{
  gint64 padding, sw, sh, act, dw, dh, mult = 1;
  const BtTflTensor *in, *f, *bias = NULL, *out;
  int n, h, w, c, oc, kh, kw, oh, ow, pt, pb, pl, pr;
  int fi = depthwise ? 4 : 3;

  if (!need_input (m, op, 0, FALSE, opname, error) || !need_input (m, op, 1, TRUE, opname, error))
    return FALSE;
  if (!fb_scalar (fb, o, 0, 1, 0, TRUE, &padding, opname, error)
      || !fb_scalar (fb, o, 1, 4, 0, TRUE, &sw, opname, error)
      || !fb_scalar (fb, o, 2, 4, 0, TRUE, &sh, opname, error)
      || (depthwise && !fb_scalar (fb, o, 3, 4, 0, TRUE, &mult, opname, error))
      || !fb_scalar (fb, o, fi, 1, 0, TRUE, &act, opname, error)
      || !fb_scalar (fb, o, fi + 1, 4, 1, TRUE, &dw, opname, error)
      || !fb_scalar (fb, o, fi + 2, 4, 1, TRUE, &dh, opname, error))
    return FALSE;
  if (dw != 1 || dh != 1)
    return unsupported (error, "Operator %s with dilation is not supported", opname);
  if (!set_activation (op, act, opname, error))
    return FALSE;

  in = &m->tensors[op->inputs[0]];
  f = &m->tensors[op->inputs[1]];
  if (op->n_inputs > 2 && op->inputs[2] >= 0)
    {
      if (!need_input (m, op, 2, TRUE, opname, error))
        return FALSE;
      bias = &m->tensors[op->inputs[2]];
    }
  out = &m->tensors[op->output];
  if (in->rank != 4 || f->rank != 4)
    return CORRUPT (error, "Operator %s needs 4-dimensional input and filter", opname), FALSE;
  n = in->shape[0]; h = in->shape[1]; w = in->shape[2]; c = in->shape[3];
  kh = f->shape[1]; kw = f->shape[2];
  if (depthwise)
    {
      oc = f->shape[3];
      if (f->shape[0] != 1 || oc % c != 0)
        return CORRUPT (error, "Operator %s: filter shape does not match the input channels", opname), FALSE;
    }
  else
    {
      oc = f->shape[0];
      if (f->shape[3] != c)
        return CORRUPT (error, "Operator %s: filter shape does not match the input channels", opname), FALSE;
    }
  if (bias != NULL && (bias->n_elems != (gsize) oc))
    return CORRUPT (error, "Operator %s: bias length does not match the output channels", opname), FALSE;
  if (!spatial_geometry (padding, h, kh, (int) MIN (sh, 4096), &oh, &pt, &pb, opname, error)
      || !spatial_geometry (padding, w, kw, (int) MIN (sw, 4096), &ow, &pl, &pr, opname, error)
      || !check_out_shape (out, n, oh, ow, oc, opname, error))
    return FALSE;
  if (!bt_conv_shape_init (&op->cs, n, c, h, w, oc, kh, kw, (int) sh, (int) sw, pt, pl, pb, pr,
                           depthwise ? c : 1, error))
    return FALSE;

  /* Weights: TFLite [oc, kh, kw, ic] (depthwise [1, kh, kw, oc]) → engine [oc, ic, kh, kw]. */
  op->w = g_new (float, f->n_elems);
  if (depthwise)
    {
      for (int k = 0; k < oc; k++)
        for (int y = 0; y < kh; y++)
          for (int x = 0; x < kw; x++)
            op->w[((gsize) k * kh + y) * kw + x] = f->data[((gsize) y * kw + x) * oc + k];
    }
  else
    {
      for (int k = 0; k < oc; k++)
        for (int ci = 0; ci < c; ci++)
          for (int y = 0; y < kh; y++)
            for (int x = 0; x < kw; x++)
              op->w[(((gsize) k * c + ci) * kh + y) * kw + x] =
                f->data[(((gsize) k * kh + y) * kw + x) * c + ci];
    }
  op->b = bias != NULL ? g_memdup2 (bias->data, sizeof (float) * oc) : g_new0 (float, oc);
  op->pointwise = !depthwise && kh == 1 && kw == 1 && sh == 1 && sw == 1;
  /* The padded copy covers every window position; SAME/VALID geometry guarantees it. */
  op->dw3x3 = depthwise && kh == 3 && kw == 3
              && (gint64) (oh - 1) * sh + 3 <= (gint64) h + pt + pb
              && (gint64) (ow - 1) * sw + 3 <= (gint64) w + pl + pr;
  return TRUE;
}

static gboolean
prepare_pool (BtTflite *m, BtTflOp *op, const Fb *fb, const FbTable *o, const char *opname,
              GError **error)
{
  gint64 padding, sw, sh, fw, fh, act;
  const BtTflTensor *in, *out;
  int oh, ow, pt, pb, pl, pr;

  if (!need_input (m, op, 0, FALSE, opname, error))
    return FALSE;
  if (!fb_scalar (fb, o, 0, 1, 0, TRUE, &padding, opname, error)
      || !fb_scalar (fb, o, 1, 4, 0, TRUE, &sw, opname, error)
      || !fb_scalar (fb, o, 2, 4, 0, TRUE, &sh, opname, error)
      || !fb_scalar (fb, o, 3, 4, 0, TRUE, &fw, opname, error)
      || !fb_scalar (fb, o, 4, 4, 0, TRUE, &fh, opname, error)
      || !fb_scalar (fb, o, 5, 1, 0, TRUE, &act, opname, error)
      || !set_activation (op, act, opname, error))
    return FALSE;
  in = &m->tensors[op->inputs[0]];
  out = &m->tensors[op->output];
  if (in->rank != 4)
    return CORRUPT (error, "Operator %s needs a 4-dimensional input", opname), FALSE;
  if (fw < 1 || fh < 1 || fw > 65536 || fh > 65536)
    return CORRUPT (error, "Operator %s has an invalid window", opname), FALSE;
  if (!spatial_geometry (padding, in->shape[1], (int) fh, (int) MIN (sh, 4096), &oh, &pt, &pb, opname, error)
      || !spatial_geometry (padding, in->shape[2], (int) fw, (int) MIN (sw, 4096), &ow, &pl, &pr, opname, error)
      || !check_out_shape (out, in->shape[0], oh, ow, in->shape[3], opname, error))
    return FALSE;
  return bt_conv_shape_init (&op->cs, in->shape[0], in->shape[3], in->shape[1], in->shape[2],
                             in->shape[3], (int) fh, (int) fw, (int) sh, (int) sw, pt, pl, pb, pr,
                             1, error);
}

/* ADD: two inputs of one shape (or a scalar second input). */
static gboolean
prepare_add (BtTflite *m, BtTflOp *op, const Fb *fb, const FbTable *o, const char *opname, GError **error)
{
  const BtTflTensor *in, *out = &m->tensors[op->output];
  gint64 act = 0;

  if (!fb_scalar (fb, o, 0, 1, 0, TRUE, &act, opname, error)
      || !set_activation (op, act, opname, error)
      || !need_input (m, op, 0, FALSE, opname, error))
    return FALSE;
  if (op->n_inputs < 2 || op->inputs[1] < 0)
    return CORRUPT (error, "Operator ADD needs two inputs"), FALSE;
  in = &m->tensors[op->inputs[0]];
  if (!same_shape (in, out))
    return CORRUPT (error, "Operator ADD: output shape differs from the input shape"), FALSE;
  if (!same_shape (&m->tensors[op->inputs[1]], in) && m->tensors[op->inputs[1]].n_elems != 1)
    return unsupported (error, "Operator ADD with broadcasting is not supported");
  return TRUE;
}

/* RESHAPE, SQUEEZE, (DE)QUANTIZE, RELU, RELU6, LOGISTIC: one input, as many elements out. */
static gboolean
prepare_unary (BtTflite *m, BtTflOp *op, const char *opname, GError **error)
{
  const BtTflTensor *in, *out = &m->tensors[op->output];

  if (!need_input (m, op, 0, FALSE, opname, error))
    return FALSE;
  in = &m->tensors[op->inputs[0]];
  if (in->n_elems != out->n_elems)
    return CORRUPT (error, "Operator %s changes the number of elements", opname), FALSE;
  if (op->code == BT_TFL_OP_RELU)
    op->lo = 0.f;
  else if (op->code == BT_TFL_OP_RELU6)
    {
      op->lo = 0.f;
      op->hi = 6.f;
    }
  else if (op->code != BT_TFL_OP_RESHAPE && op->code != BT_TFL_OP_SQUEEZE && !same_shape (in, out))
    return CORRUPT (error, "Operator %s changes the shape", opname), FALSE;
  return TRUE;
}

/* SOFTMAX: beta > 0, the shape kept. */
static gboolean
prepare_softmax (BtTflite *m, BtTflOp *op, const Fb *fb, const FbTable *o, const char *opname, GError **error)
{
  const BtTflTensor *in, *out = &m->tensors[op->output];

  if (!fb_float (fb, o, 0, 1.f, &op->beta, opname, error)
      || !need_input (m, op, 0, FALSE, opname, error))
    return FALSE;
  if (!isfinite (op->beta) || op->beta <= 0.f)
    return CORRUPT (error, "Operator SOFTMAX has an invalid beta"), FALSE;
  in = &m->tensors[op->inputs[0]];
  if (!same_shape (in, out) || in->rank < 1)
    return CORRUPT (error, "Operator SOFTMAX changes the shape"), FALSE;
  return TRUE;
}

/* FULLY_CONNECTED: constant [out, in] weights and an optional bias, copied into op->w, op->b. */
static gboolean
prepare_fully_connected (BtTflite *m, BtTflOp *op, const Fb *fb, const FbTable *o, const char *opname, GError **error)
{
  const BtTflTensor *in, *out = &m->tensors[op->output];
  gint64 act = 0;
  const BtTflTensor *wt, *bias = NULL;
  gint64 fmt;
  gsize rows;

  if (!fb_scalar (fb, o, 0, 1, 0, TRUE, &act, opname, error)
      || !fb_scalar (fb, o, 1, 1, 0, TRUE, &fmt, opname, error)
      || !set_activation (op, act, opname, error)
      || !need_input (m, op, 0, FALSE, opname, error)
      || !need_input (m, op, 1, TRUE, opname, error))
    return FALSE;
  if (fmt != 0)
    return unsupported (error, "Operator FULLY_CONNECTED with shuffled weights is not supported");
  in = &m->tensors[op->inputs[0]];
  wt = &m->tensors[op->inputs[1]];
  if (wt->rank != 2)
    return CORRUPT (error, "Operator FULLY_CONNECTED needs 2-dimensional weights"), FALSE;
  op->out_dim = wt->shape[0];
  op->in_dim = wt->shape[1];
  if (op->n_inputs > 2 && op->inputs[2] >= 0)
    {
      if (!need_input (m, op, 2, TRUE, opname, error))
        return FALSE;
      bias = &m->tensors[op->inputs[2]];
      if (bias->n_elems != (gsize) op->out_dim)
        return CORRUPT (error, "Operator FULLY_CONNECTED: bias length does not match"), FALSE;
    }
  if (in->n_elems % (gsize) op->in_dim != 0)
    return CORRUPT (error, "Operator FULLY_CONNECTED: input size does not match the weights"), FALSE;
  rows = in->n_elems / (gsize) op->in_dim;
  if (out->n_elems != rows * (gsize) op->out_dim || out->shape[out->rank - 1] != op->out_dim)
    return CORRUPT (error, "Operator FULLY_CONNECTED: output shape does not match"), FALSE;
  op->w = g_memdup2 (wt->data, sizeof (float) * wt->n_elems);
  op->b = bias != NULL ? g_memdup2 (bias->data, sizeof (float) * op->out_dim)
                       : g_new0 (float, op->out_dim);
  return TRUE;
}

/* CONCATENATION: inputs that agree on every axis but the one they are joined along. */
static gboolean
prepare_concat (BtTflite *m, BtTflOp *op, const Fb *fb, const FbTable *o, const char *opname, GError **error)
{
  const BtTflTensor *in, *out = &m->tensors[op->output];
  gint64 act = 0;
  gint64 axis;
  gsize along = 0;

  if (!fb_scalar (fb, o, 0, 4, 0, TRUE, &axis, opname, error)
      || !fb_scalar (fb, o, 1, 1, 0, TRUE, &act, opname, error)
      || !set_activation (op, act, opname, error))
    return FALSE;
  if (axis < 0)
    axis += out->rank;
  if (axis < 0 || axis >= out->rank)
    return CORRUPT (error, "Operator CONCATENATION has an invalid axis"), FALSE;
  op->axis = (int) axis;
  if (op->n_inputs < 1)
    return CORRUPT (error, "Operator CONCATENATION has no inputs"), FALSE;
  for (int k = 0; k < op->n_inputs; k++)
    {
      if (!need_input (m, op, k, FALSE, opname, error))
        return FALSE;
      in = &m->tensors[op->inputs[k]];
      if (in->rank != out->rank)
        return CORRUPT (error, "Operator CONCATENATION: inputs of different ranks"), FALSE;
      for (int d = 0; d < out->rank; d++)
        if (d != op->axis && in->shape[d] != out->shape[d])
          return CORRUPT (error, "Operator CONCATENATION: input shapes do not match"), FALSE;
      along += (gsize) in->shape[op->axis];
    }
  if (along != (gsize) out->shape[op->axis])
    return CORRUPT (error, "Operator CONCATENATION: output shape does not match"), FALSE;
  return TRUE;
}

/* MEAN over constant axes, the output the input with them set to 1 (keep_dims) or dropped. */
static gboolean
prepare_mean (BtTflite *m, BtTflOp *op, const Fb *fb, const FbTable *o, const char *opname, GError **error)
{
  const BtTflTensor *in, *out = &m->tensors[op->output];
  const BtTflTensor *axes;
  gint64 keep;
  int d_out = 0;

  if (!fb_scalar (fb, o, 0, 1, 0, TRUE, &keep, opname, error)
      || !need_input (m, op, 0, FALSE, opname, error)
      || !need_input (m, op, 1, TRUE, opname, error))
    return FALSE;
  in = &m->tensors[op->inputs[0]];
  axes = &m->tensors[op->inputs[1]];
  if (axes->ints == NULL || axes->n_elems > BT_TFL_MAX_RANK)
    return CORRUPT (error, "Operator MEAN needs integer axes"), FALSE;
  op->mean_mask = 0;
  for (gsize k = 0; k < axes->n_elems; k++)
    {
      gint64 a = axes->ints[k];
      if (a < 0)
        a += in->rank;
      if (a < 0 || a >= in->rank)
        return CORRUPT (error, "Operator MEAN has an invalid axis"), FALSE;
      op->mean_mask |= 1u << a;
    }
  /* The output must be the input with the reduced axes set to 1 (keep_dims) or dropped. */
  for (int d = 0; d < in->rank; d++)
    {
      gboolean red = (op->mean_mask >> d) & 1;
      if (red && !keep)
        continue;
      if (d_out >= out->rank || out->shape[d_out] != (red ? 1 : in->shape[d]))
        return CORRUPT (error, "Operator MEAN: output shape does not match"), FALSE;
      d_out++;
    }
  if (d_out != out->rank && !(d_out == 0 && out->n_elems == 1))
    return CORRUPT (error, "Operator MEAN: output shape does not match"), FALSE;
  return TRUE;
}

/* PAD: a constant integer [rank, 2] padding that gives the output shape. */
static gboolean
prepare_pad (BtTflite *m, BtTflOp *op, const char *opname, GError **error)
{
  const BtTflTensor *in, *out = &m->tensors[op->output];
  const BtTflTensor *pads;

  if (!need_input (m, op, 0, FALSE, opname, error) || !need_input (m, op, 1, TRUE, opname, error))
    return FALSE;
  in = &m->tensors[op->inputs[0]];
  pads = &m->tensors[op->inputs[1]];
  if (pads->ints == NULL || pads->n_elems != (gsize) in->rank * 2 || in->rank != out->rank)
    return CORRUPT (error, "Operator PAD needs an integer [rank, 2] padding tensor"), FALSE;
  for (int d = 0; d < in->rank; d++)
    {
      gint64 a = pads->ints[2 * d], b = pads->ints[2 * d + 1];
      if (a < 0 || b < 0 || a > 65536 || b > 65536 || in->shape[d] + a + b != out->shape[d])
        return CORRUPT (error, "Operator PAD: padding does not match the output shape"), FALSE;
      op->pads[d][0] = (int) a;
      op->pads[d][1] = (int) b;
    }
  return TRUE;
}

static gboolean
prepare_op (BtTflite *m, BtTflOp *op, const Fb *fb, const FbTable *opts, gboolean has_opts,
            gint64 opt_type, GError **error)
{
  const char *opname = bt_tflite_op_name (op->code);
  FbTable o;

  op->lo = -INFINITY;
  op->hi = INFINITY;
  /* the operator's options table, of the BuiltinOptions type its code has */
  switch (op->code)
    {
    case BT_TFL_OP_CONV_2D:
      return options_table (fb, opts, has_opts, opt_type, 1, &o, opname, error)
             && prepare_conv (m, op, fb, &o, FALSE, opname, error);
    case BT_TFL_OP_DEPTHWISE_CONV_2D:
      return options_table (fb, opts, has_opts, opt_type, 2, &o, opname, error)
             && prepare_conv (m, op, fb, &o, TRUE, opname, error);
    case BT_TFL_OP_AVERAGE_POOL_2D:
    case BT_TFL_OP_MAX_POOL_2D:
      return options_table (fb, opts, has_opts, opt_type, 5, &o, opname, error)
             && prepare_pool (m, op, fb, &o, opname, error);
    case BT_TFL_OP_ADD:
      return options_table (fb, opts, has_opts, opt_type, 11, &o, opname, error)
             && prepare_add (m, op, fb, &o, opname, error);
    case BT_TFL_OP_SOFTMAX:
      return options_table (fb, opts, has_opts, opt_type, 9, &o, opname, error)
             && prepare_softmax (m, op, fb, &o, opname, error);
    case BT_TFL_OP_FULLY_CONNECTED:
      return options_table (fb, opts, has_opts, opt_type, 8, &o, opname, error)
             && prepare_fully_connected (m, op, fb, &o, opname, error);
    case BT_TFL_OP_CONCATENATION:
      return options_table (fb, opts, has_opts, opt_type, 10, &o, opname, error)
             && prepare_concat (m, op, fb, &o, opname, error);
    case BT_TFL_OP_MEAN:
      return options_table (fb, opts, has_opts, opt_type, 27, &o, opname, error)
             && prepare_mean (m, op, fb, &o, opname, error);
    case BT_TFL_OP_RESHAPE:
    case BT_TFL_OP_SQUEEZE:
    case BT_TFL_OP_DEQUANTIZE:
    case BT_TFL_OP_QUANTIZE:
    case BT_TFL_OP_RELU:
    case BT_TFL_OP_RELU6:
    case BT_TFL_OP_LOGISTIC:
      return prepare_unary (m, op, opname, error);
    case BT_TFL_OP_PAD:
      return prepare_pad (m, op, opname, error);
    default:
      break;
    }
  g_assert_not_reached ();
  return FALSE;
}

static gboolean
is_supported_code (int code)
{
  switch (code)
    {
    case BT_TFL_OP_ADD: case BT_TFL_OP_AVERAGE_POOL_2D: case BT_TFL_OP_CONCATENATION:
    case BT_TFL_OP_CONV_2D: case BT_TFL_OP_DEPTHWISE_CONV_2D: case BT_TFL_OP_DEQUANTIZE:
    case BT_TFL_OP_FULLY_CONNECTED: case BT_TFL_OP_LOGISTIC: case BT_TFL_OP_MAX_POOL_2D:
    case BT_TFL_OP_RELU: case BT_TFL_OP_RELU6: case BT_TFL_OP_RESHAPE: case BT_TFL_OP_SOFTMAX:
    case BT_TFL_OP_PAD: case BT_TFL_OP_MEAN: case BT_TFL_OP_SQUEEZE: case BT_TFL_OP_QUANTIZE:
      return TRUE;
    default:
      return FALSE;
    }
}

/* Quantized activation tensors saturate: their representable range is part of the model. */
static void
clamp_to_output_range (BtTflOp *op, const BtTflTensor *out)
{
  float lo, hi;
  if (out->n_scale != 1 || out->is_const)
    return;
  if (out->type == BT_TFL_UINT8)
    {
      lo = out->scale[0] * (0 - (float) out->zero_point[0]);
      hi = out->scale[0] * (255 - (float) out->zero_point[0]);
    }
  else if (out->type == BT_TFL_INT8)
    {
      lo = out->scale[0] * (-128 - (float) out->zero_point[0]);
      hi = out->scale[0] * (127 - (float) out->zero_point[0]);
    }
  else
    return;
  if (lo > hi)
    return;
  op->lo = MAX (op->lo, lo);
  op->hi = MIN (op->hi, hi);
}

static gboolean
read_operators (BtTflite *m, const Fb *fb, const FbTable *sg, const int *codes, gsize n_codes,
                char **custom_names, GError **error)
{
  gsize start, n;
  const char *what = "an operator";

  if (!fb_vector (fb, sg, 3, 4, &start, &n, "the operator list", error))
    return FALSE;
  if (n == 0)
    return CORRUPT (error, "The model has no operators"), FALSE;
  if (n > BT_TFLITE_MAX_OPERATORS)
    return g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_NO_MEMORY,
                        "The model has too many operators (%" G_GSIZE_FORMAT ")", n), FALSE;
  m->ops = g_new0 (BtTflOp, n);
  m->n_ops = (int) n;

  /* First pass: every operator must be one we run, so the error names the first unknown one. */
  for (gsize i = 0; i < n; i++)
    {
      FbTable ot;
      gint64 idx;
      int code;
      if (!fb_vector_table (fb, start, i, &ot, what, error)
          || !fb_scalar (fb, &ot, 0, 4, 0, FALSE, &idx, what, error))
        return FALSE;
      if (idx < 0 || (gsize) idx >= n_codes)
        return CORRUPT (error, "An operator refers to an operator code that does not exist"), FALSE;
      code = codes[idx];
      m->ops[i].code = code;
      if (!is_supported_code (code))
        {
          const char *name = bt_tflite_op_name (code);
          if (code == 32)
            return unsupported (error, "The model uses the custom operator “%s”, which is not supported",
                                custom_names[idx] ? custom_names[idx] : "?");
          if (name != NULL)
            return unsupported (error, "The model uses the operator %s, which is not supported", name);
          return unsupported (error, "The model uses the operator number %d, which is not supported", code);
        }
    }

  for (gsize i = 0; i < n; i++)
    {
      BtTflOp *op = &m->ops[i];
      FbTable ot, opts;
      gint64 opt_type;
      gsize opt_pos;
      int outs[4], n_outs = 0;
      int ins[16];

      if (!fb_vector_table (fb, start, i, &ot, what, error)
          || !read_int_list (fb, &ot, 1, ins, G_N_ELEMENTS (ins), &op->n_inputs, m->n_tensors, "inputs", error)
          || !read_int_list (fb, &ot, 2, outs, G_N_ELEMENTS (outs), &n_outs, m->n_tensors, "outputs", error)
          || !fb_scalar (fb, &ot, 3, 1, 0, FALSE, &opt_type, what, error)
          || !fb_ref (fb, &ot, 4, &opt_pos, what, error))
        return FALSE;
      if (op->n_inputs > 3 && op->code != BT_TFL_OP_CONCATENATION)
        return CORRUPT (error, "Operator %s has too many inputs", bt_tflite_op_name (op->code)), FALSE;
      if (op->code == BT_TFL_OP_CONCATENATION && op->n_inputs > 3)
        return unsupported (error, "CONCATENATION of more than 3 tensors is not supported");
      memcpy (op->inputs, ins, sizeof (int) * op->n_inputs);
      for (int k = op->n_inputs; k < 3; k++)
        op->inputs[k] = -1;
      if (n_outs != 1 || outs[0] < 0)
        return CORRUPT (error, "Operator %s must have exactly one output", bt_tflite_op_name (op->code)), FALSE;
      op->output = outs[0];

      /* Topological order: inputs exist before use; each output is written once. */
      for (int k = 0; k < op->n_inputs; k++)
        {
          BtTflTensor *t;
          if (op->inputs[k] < 0)
            continue;
          t = &m->tensors[op->inputs[k]];
          if (!t->is_const && !t->is_activation)
            return CORRUPT (error, "Operator %s reads tensor “%s” before it is computed",
                            bt_tflite_op_name (op->code), t->name), FALSE;
          if (t->is_activation)
            t->last_use = (int) i;
        }
      {
        BtTflTensor *t = &m->tensors[op->output];
        if (t->is_const || t->is_activation)
          return CORRUPT (error, "Operator %s writes tensor “%s”, which already has a value",
                          bt_tflite_op_name (op->code), t->name), FALSE;
        if (t->rank == 0)
          return unsupported (error, "Scalar activations are not supported");
        t->is_activation = TRUE;
        t->producer = (int) i;
      }

      if (opt_pos != 0 && !fb_table (fb, opt_pos, &opts, "operator options", error))
        return FALSE;
      if (!prepare_op (m, op, fb, &opts, opt_pos != 0, opt_type, error))
        return FALSE;
      clamp_to_output_range (op, &m->tensors[op->output]);
      if (op->code == BT_TFL_OP_QUANTIZE && m->tensors[op->output].n_scale > 1)
        return unsupported (error, "QUANTIZE to per-channel scales is not supported");
    }
  return TRUE;
}

static char *
describe (const BtTflite *m)
{
  GString *s = g_string_new (NULL);
  for (int i = 0; i < m->n_ops; i++)
    {
      const BtTflOp *op = &m->ops[i];
      const BtTflTensor *o = &m->tensors[op->output];
      g_string_append_printf (s, "%3d %-18s →", i, bt_tflite_op_name (op->code));
      for (int d = 0; d < o->rank; d++)
        g_string_append_printf (s, "%s%d", d ? "×" : " ", o->shape[d]);
      g_string_append_c (s, '\n');
    }
  return g_string_free (s, FALSE);
}

/* The operator codes: the builtin code of each (the larger of the deprecated byte and the
 * int32), and the name of custom ones (sparse: only custom operators have one). */
static gboolean
read_op_codes (const Fb *fb, gsize start, gsize n, int **codes_out, char ***names_out, GError **error)
{
  g_autofree int *codes = NULL;
  char **names;
  gboolean ok = TRUE;

  if (n > 4096)
    return CORRUPT (error, "The model has too many operator codes"), FALSE;
  codes = g_new0 (int, MAX (n, 1));
  names = g_new0 (char *, n + 1);
  for (gsize i = 0; i < n && ok; i++)
    {
      FbTable ct;
      gint64 dep, code;
      ok = fb_vector_table (fb, start, i, &ct, "an operator code", error)
           && fb_scalar (fb, &ct, 0, 1, 0, TRUE, &dep, "an operator code", error)
           && fb_scalar (fb, &ct, 3, 4, 0, TRUE, &code, "an operator code", error);
      if (!ok)
        break;
      /* Old files only have the deprecated byte; new ones keep it at 127 beyond that range. */
      codes[i] = (int) MAX (dep, code);
      if (codes[i] == 32)
        names[i] = fb_string (fb, &ct, 1, "an operator code", error, &ok);
    }
  if (!ok)
    {
      for (gsize i = 0; i < n; i++)
        g_free (names[i]);
      g_free (names);
      return FALSE;
    }
  *codes_out = g_steal_pointer (&codes);
  *names_out = names;
  return TRUE;
}

/* The subgraph's tensors, and its one input: an image, 1 × height × width × channels. */
static gboolean
read_tensors (BtTflite *m, const Fb *fb, const FbTable *sg, const RawBuffer *buffers, gsize n_buffers,
              GError **error)
{
  gsize t_start, n_t, weight_bytes = 0;
  int io[2], n_io;
  BtTflTensor *in;

  if (!fb_vector (fb, sg, 0, 4, &t_start, &n_t, "the tensor list", error))
    return FALSE;
  if (n_t == 0 || n_t > BT_TFLITE_MAX_TENSORS)
    {
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_CORRUPT,
                   "The model has an unusable number of tensors (%" G_GSIZE_FORMAT ")", n_t);
      return FALSE;
    }
  m->tensors = g_new0 (BtTflTensor, n_t);
  m->n_tensors = (int) n_t;
  for (gsize i = 0; i < n_t; i++)
    {
      FbTable tt;
      if (!fb_vector_table (fb, t_start, i, &tt, "a tensor", error)
          || !read_tensor (fb, &tt, buffers, n_buffers, &m->tensors[i], &weight_bytes, error))
        return FALSE;
    }

  if (!read_int_list (fb, sg, 1, io, 2, &n_io, m->n_tensors, "graph inputs", error))
    return FALSE;
  if (n_io != 1 || io[0] < 0)
    return unsupported (error, "Only models with exactly one input are supported");
  m->input = io[0];
  in = &m->tensors[m->input];
  if (in->is_const || in->rank != 4 || in->shape[0] != 1)
    return unsupported (error, "The model's input is not one image (1 × height × width × channels)");
  if (in->type != BT_TFL_FLOAT32 && in->type != BT_TFL_UINT8 && in->type != BT_TFL_INT8)
    return unsupported (error, "The model's input has type %s, which is not supported", type_name (in->type));
  in->is_activation = TRUE;
  return TRUE;
}

/* The graph's output (computed by an operator), and the activations' memory within the limit. */
static gboolean
read_output (BtTflite *m, const Fb *fb, const FbTable *sg, GError **error)
{
  int io[2], n_io;
  gsize act_bytes = 0;

  if (!read_int_list (fb, sg, 2, io, 2, &n_io, m->n_tensors, "graph outputs", error))
    return FALSE;
  if (n_io < 1 || io[0] < 0 || !m->tensors[io[0]].is_activation || io[0] == m->input)
    return CORRUPT (error, "The model's output is not computed by any operator"), FALSE;
  m->output = io[0];
  m->tensors[m->output].last_use = m->n_ops;

  for (int i = 0; i < m->n_tensors; i++)
    if (m->tensors[i].is_activation)
      {
        act_bytes += m->tensors[i].n_elems * sizeof (float);
        if (act_bytes > BT_TFLITE_MAX_ACT_BYTES)
          {
            g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_NO_MEMORY,
                         "The model's activations are larger than the allowed %u MiB",
                         BT_TFLITE_MAX_ACT_BYTES >> 20);
            return FALSE;
          }
      }
  return TRUE;
}

/* Model.metadata (field 6): tables of name (0) and buffer index (1); copies of small buffers. */
static gboolean
read_metadata (BtTflite *m, const Fb *fb, const FbTable *root, const RawBuffer *buffers, gsize n_buffers,
               GError **error)
{
  gsize start, n;

  if (!fb_vector (fb, root, 6, 4, &start, &n, "the metadata", error))
    return FALSE;
  if (n > 256)
    return CORRUPT (error, "The model has too many metadata entries"), FALSE;
  m->metadata = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_bytes_unref);
  for (gsize i = 0; i < n; i++)
    {
      FbTable t;
      gint64 buffer;
      gboolean ok;
      g_autofree char *name = NULL;
      if (!fb_vector_table (fb, start, i, &t, "a metadata entry", error)
          || !fb_scalar (fb, &t, 1, 4, 0, FALSE, &buffer, "a metadata entry", error))
        return FALSE;
      name = fb_string (fb, &t, 0, "a metadata entry", error, &ok);
      if (!ok)
        return FALSE;
      if (buffer < 0 || (guint64) buffer >= n_buffers)
        return CORRUPT (error, "Not a valid TensorFlow Lite file: a metadata entry names a missing buffer"), FALSE;
      if (name == NULL || buffers[buffer].len > BT_TFLITE_MAX_METADATA_BYTES)
        continue;
      g_hash_table_replace (m->metadata, g_steal_pointer (&name),
                            g_bytes_new (buffers[buffer].data, buffers[buffer].len));
    }
  return TRUE;
}

BtTflite *
bt_tflite_load_bytes (GBytes *bytes, GError **error)
{
  Fb fb;
  FbTable root, sg;
  gsize codes_start, n_codes, sg_start, n_sg;
  gint64 version;
  g_autofree RawBuffer *buffers = NULL;
  gsize n_buffers = 0;
  g_autofree int *codes = NULL;
  char **custom_names = NULL;
  BtTflite *m;
  gboolean ok = FALSE;

  g_return_val_if_fail (bytes != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  fb.p = g_bytes_get_data (bytes, &fb.len);
  if (fb.len > BT_TFLITE_MAX_FILE_BYTES)
    {
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_NO_MEMORY,
                   "The model file is larger than the allowed %u MiB", BT_TFLITE_MAX_FILE_BYTES >> 20);
      return NULL;
    }
  if (fb.len < 16 || memcmp (fb.p + 4, "TFL3", 4) != 0)
    {
      CORRUPT (error, "Not a TensorFlow Lite model (the file identifier “TFL3” is missing)");
      return NULL;
    }

  m = g_new0 (BtTflite, 1);
  g_atomic_ref_count_init (&m->ref);
  m->input = m->output = -1;

  if (!fb_table (&fb, fb_u32 (&fb, 0), &root, "the model", error)
      || !fb_scalar (&fb, &root, 0, 4, 0, FALSE, &version, "the model", error))
    goto out;
  if (version > 3)
    {
      unsupported (error, "TensorFlow Lite schema version %d is newer than this reader (3)", (int) version);
      goto out;
    }
  if (!fb_vector (&fb, &root, 1, 4, &codes_start, &n_codes, "the operator codes", error)
      || !fb_vector (&fb, &root, 2, 4, &sg_start, &n_sg, "the subgraphs", error)
      || !read_buffers (&fb, &root, &buffers, &n_buffers, error)
      || !read_metadata (m, &fb, &root, buffers, n_buffers, error)
      || !read_op_codes (&fb, codes_start, n_codes, &codes, &custom_names, error))
    goto out;
  if (n_sg < 1)
    {
      CORRUPT (error, "The model has no subgraph");
      goto out;
    }
  if (n_sg > 1)
    {
      unsupported (error, "Models with %" G_GSIZE_FORMAT " subgraphs are not supported", n_sg);
      goto out;
    }
  if (!fb_vector_table (&fb, sg_start, 0, &sg, "the subgraph", error)
      || !read_tensors (m, &fb, &sg, buffers, n_buffers, error)
      || !read_operators (m, &fb, &sg, codes, n_codes, custom_names, error)
      || !read_output (m, &fb, &sg, error))
    goto out;

  /* Constants are only needed through the operators' own copies from here on. */
  for (int i = 0; i < m->n_tensors; i++)
    {
      BtTflTensor *t = &m->tensors[i];
      if (t->is_const && t->n_elems > 64)
        g_clear_pointer (&t->data, g_free);
    }
  m->description = describe (m);
  ok = TRUE;

out:
  /* sparse (only custom operators have a name): g_strfreev would stop at the first hole */
  for (gsize i = 0; custom_names != NULL && i < n_codes; i++)
    g_free (custom_names[i]);
  g_free (custom_names);
  if (!ok)
    {
      bt_tflite_free_internal (m);
      return NULL;
    }
  return m;
}

BtTflite *
bt_tflite_load (const char *path, GError **error)
{
  g_autoptr(GBytes) bytes = NULL;
  GError *local = NULL;
  BtTflite *m;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  /* read, not mapped: a file truncated while mapped is SIGBUS; a FIFO or device is refused */
  bytes = bt_engine_read_file (path, BT_TFLITE_MAX_FILE_BYTES, error);
  if (bytes == NULL)
    return NULL;
  m = bt_tflite_load_bytes (bytes, &local);
  if (m == NULL)
    {
      g_autofree char *base = g_filename_display_basename (path);
      g_set_error (error, BT_ENGINE_ERROR, local->code, "%s: %s", base, local->message);
      g_error_free (local);
    }
  return m;
}

/* ------------------------------------------------------------------------------------------ */
/* Queries                                                                                     */

void
bt_tflite_input_shape (const BtTflite *model, int *height, int *width, int *channels)
{
  const BtTflTensor *in;
  g_return_if_fail (model != NULL);
  in = &model->tensors[model->input];
  if (height) *height = in->shape[1];
  if (width) *width = in->shape[2];
  if (channels) *channels = in->shape[3];
}

void
bt_tflite_input_range (const BtTflite *model, float *lo, float *hi)
{
  const BtTflTensor *in;
  float l = -1.f, h = 1.f;
  g_return_if_fail (model != NULL);
  in = &model->tensors[model->input];
  if (in->n_scale == 1 && in->type == BT_TFL_UINT8)
    {
      l = in->scale[0] * (0.f - in->zero_point[0]);
      h = in->scale[0] * (255.f - in->zero_point[0]);
    }
  else if (in->n_scale == 1 && in->type == BT_TFL_INT8)
    {
      l = in->scale[0] * (-128.f - in->zero_point[0]);
      h = in->scale[0] * (127.f - in->zero_point[0]);
    }
  if (lo) *lo = l;
  if (hi) *hi = h;
}

void
bt_tflite_pixels_to_input (const BtTflite *model, const guint8 *hwc, float *out_chw)
{
  int h, w, c;
  float lo, hi, table[256];
  gsize hw;
  g_return_if_fail (model != NULL && hwc != NULL && out_chw != NULL);
  bt_tflite_input_shape (model, &h, &w, &c);
  bt_tflite_input_range (model, &lo, &hi);
  for (int p = 0; p < 256; p++)
    table[p] = lo + (hi - lo) * (float) p / 255.f;
  hw = (gsize) h * w;
  for (int k = 0; k < c; k++)
    for (gsize p = 0; p < hw; p++)
      out_chw[k * hw + p] = table[hwc[p * c + k]];
}

gsize
bt_tflite_output_size (const BtTflite *model)
{
  g_return_val_if_fail (model != NULL, 0);
  return model->tensors[model->output].n_elems;
}

int
bt_tflite_softmax_input (const BtTflite *model)
{
  int producer;

  g_return_val_if_fail (model != NULL, -1);
  producer = model->tensors[model->output].producer;
  if (producer < 0 || model->ops[producer].code != BT_TFL_OP_SOFTMAX || model->ops[producer].beta != 1.f)
    return -1;
  return model->ops[producer].inputs[0];
}

GBytes *
bt_tflite_get_metadata (const BtTflite *model, const char *name)
{
  GBytes *b;

  g_return_val_if_fail (model != NULL && name != NULL, NULL);
  b = model->metadata != NULL ? g_hash_table_lookup (model->metadata, name) : NULL;
  return b != NULL ? g_bytes_ref (b) : NULL;
}

int
bt_tflite_n_operators (const BtTflite *model)
{
  g_return_val_if_fail (model != NULL, 0);
  return model->n_ops;
}

char *
bt_tflite_describe (const BtTflite *model)
{
  g_return_val_if_fail (model != NULL, NULL);
  return g_strdup (model->description);
}

static gboolean
is_global_pool (const BtTflite *m, const BtTflOp *op)
{
  const BtTflTensor *in = &m->tensors[op->inputs[0]];
  if (in->rank != 4)
    return FALSE;
  if (op->code == BT_TFL_OP_AVERAGE_POOL_2D)
    return op->cs.oh == 1 && op->cs.ow == 1 && op->cs.kh >= in->shape[1] && op->cs.kw >= in->shape[2];
  if (op->code == BT_TFL_OP_MEAN)
    return (op->mean_mask & 0x6) == 0x6 && !(op->mean_mask & 0x8);
  return FALSE;
}

int
bt_tflite_find_embedding_cut (const BtTflite *model, int *dim, GError **error)
{
  g_return_val_if_fail (model != NULL, -1);
  for (int i = model->n_ops - 1; i >= 0; i--)
    if (is_global_pool (model, &model->ops[i]))
      {
        const BtTflTensor *o = &model->tensors[model->ops[i].output];
        if (dim)
          *dim = (int) o->n_elems;
        return model->ops[i].output;
      }
  g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_UNSUPPORTED,
               "The model has no global average pooling to cut its classifier off at");
  return -1;
}

/* ------------------------------------------------------------------------------------------ */
/* Execution                                                                                   */

struct _BtTfliteExec {
  BtTflite *model;
  float   **act;          /* per tensor: its buffer (NULL for constants / unused) */
  float   **slots;        /* owned buffers, shared by tensors whose lifetimes do not overlap */
  int       n_slots;
  float    *workspace;    /* im2col */
  float    *scratch_a, *scratch_b;  /* logical-order copies */
  gint32   *argmax;
  float    *out;          /* logical-order result */
  BtTflQuantExec *qexec;  /* the integer path, NULL when not taken */
  float    *ranges;       /* bt_tflite_exec_observe: per tensor min, max (borrowed), or NULL */
};

void
bt_tflite_exec_free (BtTfliteExec *exec)
{
  if (exec == NULL)
    return;
  for (int i = 0; i < exec->n_slots; i++)
    g_free (exec->slots[i]);
  g_free (exec->slots);
  g_free (exec->act);
  g_free (exec->workspace);
  g_free (exec->scratch_a);
  g_free (exec->scratch_b);
  g_free (exec->argmax);
  g_free (exec->out);
  bt_tfl_quant_exec_free (exec->qexec);
  bt_tflite_unref (exec->model);
  g_free (exec);
}

BtTfliteExec *
bt_tflite_exec_new (BtTflite *model, GError **error)
{
  return bt_tflite_exec_new_path (model, BT_TFLITE_PATH_AUTO, error);
}

static BtTfliteExec *exec_new_float (BtTflite *model, GError **error);

BtTfliteExec *
bt_tflite_exec_new_path (BtTflite *model, BtTflitePath path, GError **error)
{
  BtTfliteExec *e;

  g_return_val_if_fail (model != NULL, NULL);
  if (path == BT_TFLITE_PATH_AUTO && g_strcmp0 (g_getenv ("BOTTEGA_TFLITE_PATH"), "float") == 0)
    path = BT_TFLITE_PATH_FLOAT;
  /* fine-tuned operators live in op->w only: the integer path would run the file's weights */
  if (model->weights_changed)
    {
      if (path == BT_TFLITE_PATH_INT8)
        {
          g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_UNSUPPORTED,
                       "A model with fine-tuned weights runs on the float path only");
          return NULL;
        }
      path = BT_TFLITE_PATH_FLOAT;
    }
  if (path != BT_TFLITE_PATH_FLOAT && g_once_init_enter (&model->quant_once))
    {
      model->quant = bt_tfl_quant_new (model);
      g_once_init_leave (&model->quant_once, 1);
    }
  if (path == BT_TFLITE_PATH_INT8 && model->quant == NULL)
    {
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_UNSUPPORTED,
                   "The integer path needs a quantized model and a CPU with AVX2");
      return NULL;
    }
  if ((e = exec_new_float (model, error)) == NULL)
    return NULL;
  if (path != BT_TFLITE_PATH_FLOAT && model->quant != NULL
      && (e->qexec = bt_tfl_quant_exec_new (model, model->quant)) == NULL)
    {
      bt_tflite_exec_free (e);
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_NO_MEMORY,
                   "Not enough memory to run the model");
      return NULL;
    }
  return e;
}

BtTflitePath
bt_tflite_exec_path (BtTfliteExec *exec, int until_tensor)
{
  int target = until_tensor < 0 ? exec->model->output : until_tensor;
  return exec->qexec != NULL && bt_tfl_quant_covers (exec->model->quant, exec->model, target)
         ? BT_TFLITE_PATH_INT8 : BT_TFLITE_PATH_FLOAT;
}

static BtTfliteExec *
exec_new_float (BtTflite *model, GError **error)
{
  BtTfliteExec *e;
  int n_t;
  g_autofree int *slot_of = NULL;
  g_autofree gsize *slot_cap = NULL;
  g_autofree gboolean *slot_busy = NULL;
  gsize ws = 1, max_elems = 1, max_pool_out = 1;
  int n_slots = 0;

  g_return_val_if_fail (model != NULL, NULL);
  n_t = model->n_tensors;
  slot_of = g_new (int, n_t);
  slot_cap = g_new0 (gsize, n_t);
  slot_busy = g_new0 (gboolean, n_t);
  for (int i = 0; i < n_t; i++)
    slot_of[i] = -1;

  /* Lifetime-based reuse: a tensor takes the smallest free slot that fits (else grows the
   * largest free one, else a new slot) and frees it after its last reader has run. */
  for (int i = -1; i < model->n_ops; i++)
    {
      int t = i < 0 ? model->input : model->ops[i].output;
      gsize need = model->tensors[t].n_elems;
      int best = -1;
      max_elems = MAX (max_elems, need);
      for (int s = 0; s < n_slots; s++)
        if (!slot_busy[s] && slot_cap[s] >= need && (best < 0 || slot_cap[s] < slot_cap[best]))
          best = s;
      if (best < 0)
        for (int s = 0; s < n_slots; s++)
          if (!slot_busy[s] && (best < 0 || slot_cap[s] > slot_cap[best]))
            best = s;
      if (best < 0)
        best = n_slots++;
      slot_cap[best] = MAX (slot_cap[best], need);
      slot_busy[best] = TRUE;
      slot_of[t] = best;
      if (i >= 0)
        {
          const BtTflOp *op = &model->ops[i];
          if (op->code == BT_TFL_OP_CONV_2D && !op->pointwise)
            ws = MAX (ws, bt_conv2d_workspace_size (&op->cs));
          if (op->dw3x3)
            ws = MAX (ws, (gsize) (op->cs.h + op->cs.pad_top + op->cs.pad_bottom)
                          * (op->cs.w + op->cs.pad_left + op->cs.pad_right));
          if (op->code == BT_TFL_OP_MAX_POOL_2D)
            max_pool_out = MAX (max_pool_out, model->tensors[op->output].n_elems);
          for (int k = 0; k < op->n_inputs; k++)
            {
              int in = op->inputs[k];
              if (in >= 0 && model->tensors[in].is_activation && model->tensors[in].last_use == i)
                slot_busy[slot_of[in]] = FALSE;
            }
        }
    }

  e = g_new0 (BtTfliteExec, 1);
  e->model = bt_tflite_ref (model);
  e->act = g_new0 (float *, n_t);
  e->slots = g_new0 (float *, n_slots);
  e->n_slots = n_slots;
  for (int s = 0; s < n_slots; s++)
    {
      e->slots[s] = g_try_new (float, slot_cap[s]);
      if (e->slots[s] == NULL)
        goto oom;
    }
  for (int t = 0; t < n_t; t++)
    if (slot_of[t] >= 0)
      e->act[t] = e->slots[slot_of[t]];
  e->workspace = g_try_new (float, ws);
  e->scratch_a = g_try_new (float, max_elems);
  e->scratch_b = g_try_new (float, max_elems);
  e->out = g_try_new (float, max_elems);
  e->argmax = g_try_new (gint32, max_pool_out);
  if (e->workspace == NULL || e->scratch_a == NULL || e->scratch_b == NULL || e->out == NULL
      || e->argmax == NULL)
    goto oom;
  return e;

oom:
  bt_tflite_exec_free (e);
  g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_NO_MEMORY,
               "Not enough memory to run the model");
  return NULL;
}

/* Written as a > b ? a : b so that it compiles to vector max/min. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
__attribute__ ((optimize ("tree-vectorize"), target_clones ("arch=x86-64-v3", "default")))
#endif
static void
clamp_range (float *restrict x, gsize n, float lo, float hi)
{
  if (lo == -INFINITY && hi == INFINITY)
    return;
  for (gsize i = 0; i < n; i++)
    {
      float v = x[i];
      v = v > lo ? v : lo;
      x[i] = v < hi ? v : hi;
    }
}

/* Physical → logical order (the buffer itself when they agree). */
static const float *
as_logical (const BtTflTensor *t, const float *data, float *scratch)
{
  if (!needs_transpose (t))
    return data;
  bt_tflite_nchw_to_nhwc (scratch, data, t->shape[0], t->shape[1], t->shape[2], t->shape[3]);
  return scratch;
}

static void
store_logical (const BtTflTensor *t, const float *logical, float *dst)
{
  if (needs_transpose (t))
    bt_tflite_nhwc_to_nchw (dst, logical, t->shape[0], t->shape[1], t->shape[2], t->shape[3]);
  else if (dst != logical)
    memcpy (dst, logical, t->n_elems * sizeof (float));
}

static void
run_pointwise (const BtTflOp *op, float *out, const float *in)
{
  const BtConvShape *s = &op->cs;
  int hw = s->h * s->w;
  for (int b = 0; b < s->n; b++)
    {
      float *o = out + (gsize) b * s->oc * hw;
      for (int k = 0; k < s->oc; k++)
        {
          float bias = op->b[k];
          for (int p = 0; p < hw; p++)
            o[(gsize) k * hw + p] = bias;
        }
      bt_sgemm (CblasNoTrans, CblasNoTrans, s->oc, hw, s->c, 1.f,
                op->w, s->c, in + (gsize) b * s->c * hw, hw, 1.f, o, hw);
    }
}

/* Depthwise 3×3 on a zero-padded copy of each plane: no bounds tests in the inner loop, which
 * the compiler vectorizes. The engine's general kernel handles every other window. The two plane
 * functions serve fine-tuning's forward pass too (bt-tflite-grad.c). */
void
bt_tfl_pad_plane (float *restrict pad, const float *restrict plane, const BtConvShape *s)
{
  const int pw = s->w + s->pad_left + s->pad_right, ph = s->h + s->pad_top + s->pad_bottom;
  memset (pad, 0, sizeof (float) * ph * pw);
  for (int y = 0; y < s->h; y++)
    memcpy (pad + (gsize) (y + s->pad_top) * pw + s->pad_left, plane + (gsize) y * s->w, sizeof (float) * s->w);
}

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
__attribute__ ((optimize ("tree-vectorize"), target_clones ("arch=x86-64-v3", "default")))
#endif
void
bt_tfl_dw3x3_plane (float *restrict dst, const float *restrict pad, const BtConvShape *s, const float *k, float bias)
{
  const int pw = s->w + s->pad_left + s->pad_right, sw = s->stride_w;
  for (int oy = 0; oy < s->oh; oy++)
    {
      const float *restrict r0 = pad + (gsize) oy * s->stride_h * pw, *restrict r1 = r0 + pw, *restrict r2 = r1 + pw;
      float *restrict d = dst + (gsize) oy * s->ow;
      if (sw == 1)   /* its own loop: contiguous loads, which the compiler vectorizes */
        for (int ox = 0; ox < s->ow; ox++)
          d[ox] = bias + k[0] * r0[ox] + k[1] * r0[ox + 1] + k[2] * r0[ox + 2]
                       + k[3] * r1[ox] + k[4] * r1[ox + 1] + k[5] * r1[ox + 2]
                       + k[6] * r2[ox] + k[7] * r2[ox + 1] + k[8] * r2[ox + 2];
      else
        for (int ox = 0; ox < s->ow; ox++)
          {
            const int x = ox * sw;
            d[ox] = bias + k[0] * r0[x] + k[1] * r0[x + 1] + k[2] * r0[x + 2]
                         + k[3] * r1[x] + k[4] * r1[x + 1] + k[5] * r1[x + 2]
                         + k[6] * r2[x] + k[7] * r2[x + 1] + k[8] * r2[x + 2];
          }
    }
}

static void
run_dw3x3 (const BtTflOp *op, float *out, const float *in, float *padded)
{
  const BtConvShape *s = &op->cs;
  const int mult = s->oc / s->c;
  const gsize HW = (gsize) s->h * s->w, P = (gsize) s->oh * s->ow;

  for (int img = 0; img < s->n; img++)
    for (int ci = 0; ci < s->c; ci++)
      {
        bt_tfl_pad_plane (padded, in + ((gsize) img * s->c + ci) * HW, s);
        for (int mi = 0; mi < mult; mi++)
          {
            const int o = ci * mult + mi;
            bt_tfl_dw3x3_plane (out + ((gsize) img * s->oc + o) * P, padded, s, op->w + (gsize) o * 9, op->b[o]);
          }
      }
}

static void
run_mean (const BtTflite *m, const BtTflOp *op, BtTfliteExec *e, float *out)
{
  const BtTflTensor *in = &m->tensors[op->inputs[0]];
  const BtTflTensor *ot = &m->tensors[op->output];
  const float *x = e->act[op->inputs[0]];
  int dims[BT_TFL_MAX_RANK] = { 1, 1, 1, 1 }, rank;
  int odims[BT_TFL_MAX_RANK];
  gsize count = 1, n_out = 1;
  gboolean red[BT_TFL_MAX_RANK] = { FALSE };

  physical_dims (in, dims, &rank);
  for (int d = 0; d < in->rank; d++)
    if ((op->mean_mask >> d) & 1)
      {
        red[physical_axis (rank, d)] = TRUE;
        count *= (gsize) in->shape[d];
      }
  for (int d = 0; d < rank; d++)
    {
      odims[d] = red[d] ? 1 : dims[d];
      n_out *= (gsize) odims[d];
    }
  for (int d = rank; d < BT_TFL_MAX_RANK; d++)
    {
      dims[d] = odims[d] = 1;
      red[d] = TRUE;
    }

  /* Global average pooling in NCHW: contiguous rows. */
  if (rank == 4 && red[2] && red[3] && !red[0] && !red[1])
    bt_gap_forward (e->scratch_a, x, dims[0], dims[1], dims[2], dims[3]);
  else
    {
      g_autofree double *acc = g_new0 (double, n_out);
      for (int a = 0; a < dims[0]; a++)
        for (int b = 0; b < dims[1]; b++)
          for (int c = 0; c < dims[2]; c++)
            for (int d = 0; d < dims[3]; d++)
              {
                gsize src = (((gsize) a * dims[1] + b) * dims[2] + c) * dims[3] + d;
                gsize dst = (((gsize) (red[0] ? 0 : a) * odims[1] + (red[1] ? 0 : b)) * odims[2]
                             + (red[2] ? 0 : c)) * odims[3] + (red[3] ? 0 : d);
                acc[dst] += x[src];
              }
      for (gsize i = 0; i < n_out; i++)
        e->scratch_a[i] = (float) (acc[i] / (double) count);
    }

  /* scratch_a is in the physical order of the kept-dims shape; bring it to the output's. */
  if (rank == 4)
    {
      BtTflTensor kept = *in;
      for (int d = 0; d < 4; d++)
        if ((op->mean_mask >> d) & 1)
          kept.shape[d] = 1;
      const float *logical = as_logical (&kept, e->scratch_a, e->scratch_b);
      store_logical (ot, logical, out);
    }
  else
    memcpy (out, e->scratch_a, n_out * sizeof (float));
}

static void
run_pad (const BtTflite *m, const BtTflOp *op, BtTfliteExec *e, float *out)
{
  const BtTflTensor *in = &m->tensors[op->inputs[0]];
  const BtTflTensor *ot = &m->tensors[op->output];
  const float *x = e->act[op->inputs[0]];
  int dims[BT_TFL_MAX_RANK] = { 1, 1, 1, 1 }, odims[BT_TFL_MAX_RANK] = { 1, 1, 1, 1 };
  int before[BT_TFL_MAX_RANK] = { 0 }, rank;

  physical_dims (in, dims, &rank);
  physical_dims (ot, odims, &rank);
  for (int d = 0; d < in->rank; d++)
    before[physical_axis (rank, d)] = op->pads[d][0];
  memset (out, 0, ot->n_elems * sizeof (float));
  /* Left-align to 4 dims so the loops below are fixed. */
  int shift = BT_TFL_MAX_RANK - rank;
  int D[4] = { 1, 1, 1, 1 }, OD[4] = { 1, 1, 1, 1 }, B[4] = { 0 };
  for (int d = 0; d < rank; d++)
    {
      D[d + shift] = dims[d];
      OD[d + shift] = odims[d];
      B[d + shift] = before[d];
    }
  for (int a = 0; a < D[0]; a++)
    for (int b = 0; b < D[1]; b++)
      for (int c = 0; c < D[2]; c++)
        {
          const float *src = x + (((gsize) a * D[1] + b) * D[2] + c) * D[3];
          float *dst = out + ((((gsize) (a + B[0]) * OD[1] + b + B[1]) * OD[2] + c + B[2]) * OD[3] + B[3]);
          memcpy (dst, src, (gsize) D[3] * sizeof (float));
        }
}

static void
run_concat (const BtTflite *m, const BtTflOp *op, BtTfliteExec *e, float *out)
{
  const BtTflTensor *ot = &m->tensors[op->output];
  int dims[BT_TFL_MAX_RANK], rank, pa;
  gsize outer = 1, out_chunk, off = 0;

  physical_dims (ot, dims, &rank);
  pa = physical_axis (rank, op->axis);
  for (int d = 0; d < pa; d++)
    outer *= (gsize) dims[d];
  out_chunk = ot->n_elems / outer;
  for (int k = 0; k < op->n_inputs; k++)
    {
      const BtTflTensor *it = &m->tensors[op->inputs[k]];
      gsize chunk = it->n_elems / outer;
      const float *x = e->act[op->inputs[k]];
      for (gsize o = 0; o < outer; o++)
        memcpy (out + o * out_chunk + off, x + o * chunk, chunk * sizeof (float));
      off += chunk;
    }
}

static gboolean
run_op (BtTfliteExec *e, const BtTflOp *op, GError **error)
{
  const BtTflite *m = e->model;
  const BtTflTensor *ot = &m->tensors[op->output];
  const BtTflTensor *it = &m->tensors[op->inputs[0]];
  float *out = e->act[op->output];
  const float *x = e->act[op->inputs[0]];

  switch (op->code)
    {
    case BT_TFL_OP_CONV_2D:
      if (op->pointwise)
        run_pointwise (op, out, x);
      else
        bt_conv2d_forward (out, x, op->w, op->b, &op->cs, e->workspace);
      break;
    case BT_TFL_OP_DEPTHWISE_CONV_2D:
      if (op->dw3x3)
        run_dw3x3 (op, out, x, e->workspace);
      else
        bt_dwconv2d_forward (out, x, op->w, op->b, &op->cs);
      break;
    case BT_TFL_OP_AVERAGE_POOL_2D:
      bt_avgpool2d_forward (out, x, &op->cs);
      break;
    case BT_TFL_OP_MAX_POOL_2D:
      bt_maxpool2d_forward (out, e->argmax, x, &op->cs);
      break;
    case BT_TFL_OP_ADD:
      {
        const BtTflTensor *bt = &m->tensors[op->inputs[1]];
        if (bt->is_const)
          {
            float v = bt->data[0];
            for (gsize i = 0; i < ot->n_elems; i++)
              out[i] = x[i] + v;
          }
        else
          bt_add_forward (out, x, e->act[op->inputs[1]], ot->n_elems);
        break;
      }
    case BT_TFL_OP_RESHAPE:
    case BT_TFL_OP_SQUEEZE:
    case BT_TFL_OP_DEQUANTIZE:
    case BT_TFL_OP_QUANTIZE:
    case BT_TFL_OP_RELU:
    case BT_TFL_OP_RELU6:
      store_logical (ot, as_logical (it, x, e->scratch_a), out);
      break;
    case BT_TFL_OP_LOGISTIC:
      for (gsize i = 0; i < ot->n_elems; i++)
        out[i] = 1.f / (1.f + expf (-x[i]));
      break;
    case BT_TFL_OP_SOFTMAX:
      {
        const float *l = as_logical (it, x, e->scratch_a);
        int k = it->shape[it->rank - 1];
        int rows = (int) (it->n_elems / (gsize) k);
        if (op->beta != 1.f)
          {
            for (gsize i = 0; i < it->n_elems; i++)
              e->scratch_b[i] = l[i] * op->beta;
            l = e->scratch_b;
          }
        bt_softmax_forward (e->out, l, rows, k);
        store_logical (ot, e->out, out);
        break;
      }
    case BT_TFL_OP_FULLY_CONNECTED:
      {
        const float *l = as_logical (it, x, e->scratch_a);
        int rows = (int) (it->n_elems / (gsize) op->in_dim);
        bt_dense_forward (e->out, l, op->w, op->b, rows, op->in_dim, op->out_dim);
        store_logical (ot, e->out, out);
        break;
      }
    case BT_TFL_OP_MEAN:
      run_mean (m, op, e, out);
      break;
    case BT_TFL_OP_PAD:
      run_pad (m, op, e, out);
      break;
    case BT_TFL_OP_CONCATENATION:
      run_concat (m, op, e, out);
      break;
    default:
      return unsupported (error, "The model uses the operator %s, which is not supported",
                          bt_tflite_op_name (op->code));
    }
  clamp_range (out, ot->n_elems, op->lo, op->hi);
  return TRUE;
}

static gboolean
check_finite (const float *y, gsize n, GError **error)
{
  for (gsize i = 0; i < n; i++)
    if (!isfinite (y[i]))
      {
        g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_NUMERIC,
                     "The model produced a value that is not a finite number");
        return FALSE;
      }
  return TRUE;
}

void
bt_tflite_exec_observe (BtTfliteExec *exec, float *ranges)
{
  g_return_if_fail (exec != NULL);
  g_return_if_fail (ranges == NULL || exec->qexec == NULL);
  exec->ranges = ranges;
}

/* Widens tensor t's observed range by its values now (order does not matter for a range). */
static void
observe (BtTfliteExec *e, int t)
{
  const float *v = e->act[t];
  float lo = e->ranges[2 * t], hi = e->ranges[2 * t + 1];
  for (gsize i = 0; v != NULL && i < e->model->tensors[t].n_elems; i++)
    {
      lo = MIN (lo, v[i]);
      hi = MAX (hi, v[i]);
    }
  e->ranges[2 * t] = lo;
  e->ranges[2 * t + 1] = hi;
}

const float *
bt_tflite_exec_run (BtTfliteExec *exec, const float *input, int until_tensor, gsize *n_out,
                    GError **error)
{
  const BtTflite *m;
  const BtTflTensor *in, *res;
  int target;

  g_return_val_if_fail (exec != NULL, NULL);
  g_return_val_if_fail (input != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  m = exec->model;
  target = until_tensor < 0 ? m->output : until_tensor;
  if (target >= m->n_tensors || !m->tensors[target].is_activation || target == m->input)
    {
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID,
                   "Tensor %d is not computed by the model", until_tensor);
      return NULL;
    }
  if (exec->qexec != NULL && bt_tfl_quant_covers (m->quant, m, target))
    {
      const float *y = bt_tfl_quant_run (exec->qexec, input, target, n_out);
      return check_finite (y, m->tensors[target].n_elems, error) ? y : NULL;
    }
  in = &m->tensors[m->input];
  memcpy (exec->act[m->input], input, in->n_elems * sizeof (float));

  if (exec->ranges != NULL)
    observe (exec, m->input);
  for (int i = 0; i <= m->tensors[target].producer; i++)
    {
      if (!run_op (exec, &m->ops[i], error))
        return NULL;
      if (exec->ranges != NULL)
        observe (exec, m->ops[i].output);
    }

  res = &m->tensors[target];
  {
    const float *l = as_logical (res, exec->act[target], exec->out);
    if (l != exec->out)
      memcpy (exec->out, l, res->n_elems * sizeof (float));
  }
  if (!check_finite (exec->out, res->n_elems, error))
    return NULL;
  if (n_out)
    *n_out = res->n_elems;
  return exec->out;
}
