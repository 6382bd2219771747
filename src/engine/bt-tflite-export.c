/* bt-tflite-export.c: a BtNet as a TensorFlow Lite flatbuffer (bt-tflite-export.h).
 *
 * Field ids and enum values are those of TensorFlow Lite's schema.fbs (version 3), the same ones
 * the reader in bt-tflite.c reads. The engine is NCHW and TFLite NHWC: convolution filters go
 * from [oc, ic, kh, kw] to [oc, kh, kw, ic] (depthwise [1, kh, kw, oc]); a flattened activation
 * is in (y, x, c) order, so the dense layer after it gets its weight columns permuted. Batch norm
 * becomes a 1×1 depthwise convolution (its per-channel scale and shift), which every TFLite
 * runtime has. Padding the engine does not share with TFLite's SAME becomes an explicit PAD. */
#include "engine/bt-tflite-export.h"
#include "engine/bt-flatbuf.h"
#include "engine/bt-net-walk.h"
#include "engine/bt-onnx.h"
#include "engine/bt-tflite-private.h"
#include "engine/bt-tflite-grad.h"

#include <math.h>
#include <string.h>

/* schema.fbs: BuiltinOperator, BuiltinOptions, TensorType, Padding, ActivationFunctionType */
enum { OP_ADD = 0, OP_AVERAGE_POOL_2D = 1, OP_CONV_2D = 3, OP_DEPTHWISE_CONV_2D = 4,
       OP_DEQUANTIZE = 6, OP_FULLY_CONNECTED = 9, OP_MAX_POOL_2D = 17, OP_RELU = 19, OP_RELU6 = 21, OP_RESHAPE = 22,
       OP_SOFTMAX = 25, OP_PAD = 34, OP_MEAN = 40, OP_QUANTIZE = 114 };
enum { OPT_NONE = 0, OPT_CONV = 1, OPT_DEPTHWISE = 2, OPT_POOL = 5, OPT_FULLY_CONNECTED = 8,
       OPT_SOFTMAX = 9, OPT_ADD = 11, OPT_RESHAPE = 17, OPT_PAD = 22, OPT_REDUCER = 27 };
enum { TYPE_FLOAT32 = 0, TYPE_INT32 = 2, TYPE_INT8 = 9 };
enum { PAD_SAME = 0, PAD_VALID = 1 };
enum { ACT_NONE = 0, ACT_RELU = 1, ACT_RELU6 = 3 };

typedef struct {
  BtFb     *fb;
  BtFbNode *tensors, *buffers, *operators, *opcodes;
  guint     n_tensors, n_buffers;
  int       opcode_of[128];  /* builtin code → index in opcodes, -1 when not yet used */
  guint     n_opcodes;
} Writer;

/* An activation in the graph: its tensor and shape. A rank-2 tensor made by flattening a spatial
 * one keeps that shape (ph × pw × pc) so a dense layer can map its columns. */
typedef struct {
  int t, rank;
  int h, w, c;        /* rank 4: [1, h, w, c] */
  int n;              /* rank 2: [1, n] */
  int ph, pw, pc;     /* rank 2 from a flatten: (y, x, c) order of a ph × pw × pc map */
} Val;

static guint
add_buffer (Writer *wr, const void *data, gsize bytes)
{
  BtFbNode *b = bt_fb_table (wr->fb);
  if (bytes > 0)
    bt_fb_ref (b, 0, bt_fb_vector (wr->fb, data, bytes, 1, 16));
  bt_fb_push (wr->buffers, b);
  return wr->n_buffers++;
}

/* A tensor; quant: its QuantizationParameters table, or NULL. */
static int
add_tensor_q (Writer *wr, const char *name, const int *shape, int rank, int type, const void *data,
              gsize bytes, BtFbNode *quant)
{
  BtFbNode *t = bt_fb_table (wr->fb);
  gint32 dims[4];
  for (int i = 0; i < rank; i++)
    dims[i] = shape[i];
  bt_fb_ref (t, 0, bt_fb_int_vector (wr->fb, dims, rank));
  bt_fb_scalar (t, 1, 1, (guint64) type);
  bt_fb_scalar (t, 2, 4, data != NULL ? add_buffer (wr, data, bytes) : 0);
  bt_fb_ref (t, 3, bt_fb_string (wr->fb, name));
  if (quant != NULL)
    bt_fb_ref (t, 4, quant);
  bt_fb_push (wr->tensors, t);
  return (int) wr->n_tensors++;
}

static int
add_tensor (Writer *wr, const char *name, const int *shape, int rank, int type, const void *data,
            gsize bytes)
{
  return add_tensor_q (wr, name, shape, rank, type, data, bytes, NULL);
}

static int
add_floats (Writer *wr, const char *name, const int *shape, int rank, const float *v)
{
  gsize n = 1;
  for (int i = 0; i < rank; i++)
    n *= (gsize) shape[i];
  return add_tensor (wr, name, shape, rank, TYPE_FLOAT32, v, n * sizeof (float));
}

static int
add_activation (Writer *wr, const char *name, Val *v)
{
  if (v->rank == 4)
    v->t = add_tensor (wr, name, (const int[]) { 1, v->h, v->w, v->c }, 4, TYPE_FLOAT32, NULL, 0);
  else
    v->t = add_tensor (wr, name, (const int[]) { 1, v->n }, 2, TYPE_FLOAT32, NULL, 0);
  return v->t;
}

static void
add_op (Writer *wr, int code, const int *ins, int n_in, int out, int opt_type, BtFbNode *opts)
{
  g_assert (code >= 0 && code < (int) G_N_ELEMENTS (wr->opcode_of));
  if (wr->opcode_of[code] < 0)
    {
      BtFbNode *oc = bt_fb_table (wr->fb);
      bt_fb_scalar (oc, 0, 1, (guint64) code);   /* deprecated_builtin_code */
      bt_fb_scalar (oc, 2, 4, 1);                /* version */
      bt_fb_scalar (oc, 3, 4, (guint64) code);   /* builtin_code */
      bt_fb_push (wr->opcodes, oc);
      wr->opcode_of[code] = (int) wr->n_opcodes++;
    }
  BtFbNode *op = bt_fb_table (wr->fb);
  bt_fb_scalar (op, 0, 4, (guint64) wr->opcode_of[code]);
  gint32 in32[4];
  for (int i = 0; i < n_in; i++)
    in32[i] = ins[i];
  bt_fb_ref (op, 1, bt_fb_int_vector (wr->fb, in32, n_in));
  bt_fb_ref (op, 2, bt_fb_int_vector (wr->fb, (const gint32[]) { out }, 1));
  if (opts != NULL)
    {
      bt_fb_scalar (op, 3, 1, (guint64) opt_type);
      bt_fb_ref (op, 4, opts);
    }
  bt_fb_push (wr->operators, op);
}

static int
act_of (BtNetAct act)
{
  return act == BT_NET_ACT_RELU ? ACT_RELU : act == BT_NET_ACT_RELU6 ? ACT_RELU6 : ACT_NONE;
}

/* ---- Geometry ---- */

/* TFLite's SAME: out = ceil(in / s), the odd padding pixel at the end; VALID: no padding. */
static int
padding_mode (int in, int k, int s, int out, int before, int after)
{
  int o = (in + s - 1) / s;
  int total = MAX ((o - 1) * s + k - in, 0);
  if (out == o && before == total / 2 && after == total - total / 2)
    return PAD_SAME;
  if (before == 0 && after == 0 && out == (in - k) / s + 1)
    return PAD_VALID;
  return -1;
}

static gboolean
spatial_padding (const BtNetLayerInfo *l, int *mode)
{
  int my = padding_mode (l->in_h, l->kh, l->sh, l->h, l->pad_top, l->pad_bottom);
  int mx = padding_mode (l->in_w, l->kw, l->sw, l->w, l->pad_left, l->pad_right);
  if (my >= 0 && my == mx)
    {
      *mode = my;
      return TRUE;
    }
  return FALSE;
}

/* An explicit PAD of x (rank 4) by the layer's padding; x becomes the padded tensor. */
static void
emit_pad (Writer *wr, const BtNetLayerInfo *l, Val *x)
{
  gint32 pads[8] = { 0, 0, l->pad_top, l->pad_bottom, l->pad_left, l->pad_right, 0, 0 };
  g_autofree char *pn = g_strconcat (l->name, "/paddings", NULL);
  g_autofree char *on = g_strconcat (l->name, "/pad", NULL);
  int p = add_tensor (wr, pn, (const int[]) { 4, 2 }, 2, TYPE_INT32, pads, sizeof pads);
  Val out = *x;
  out.h += l->pad_top + l->pad_bottom;
  out.w += l->pad_left + l->pad_right;
  add_activation (wr, on, &out);
  add_op (wr, OP_PAD, (const int[]) { x->t, p }, 2, out.t, OPT_PAD, bt_fb_table (wr->fb));
  *x = out;
}

static void
emit_reshape (Writer *wr, const char *name, const Val *in, Val *out)
{
  g_autofree char *sn = g_strconcat (name, "/shape", NULL);
  gint32 shape[4];
  int rank = out->rank;
  if (rank == 4)
    memcpy (shape, (const gint32[]) { 1, out->h, out->w, out->c }, sizeof shape);
  else
    memcpy (shape, (const gint32[]) { 1, out->n, 0, 0 }, sizeof shape);
  int st = add_tensor (wr, sn, (const int[]) { rank }, 1, TYPE_INT32, shape, sizeof (gint32) * rank);
  add_activation (wr, name, out);
  BtFbNode *o = bt_fb_table (wr->fb);
  bt_fb_ref (o, 0, bt_fb_int_vector (wr->fb, shape, rank));
  add_op (wr, OP_RESHAPE, (const int[]) { in->t, st }, 2, out->t, OPT_RESHAPE, o);
}

/* Index in the engine's (c, y, x) order of element j of a flattened (y, x, c) map. */
static gsize
engine_index (const Val *v, gsize j)
{
  if (v->ph * v->pw <= 1)
    return j;
  gsize c = j % (gsize) v->pc, yx = j / (gsize) v->pc;
  return c * (gsize) v->ph * v->pw + yx;
}

/* ---- Layers ---- */

static BtFbNode *
conv_options (Writer *wr, gboolean depthwise, int padding, int sw, int sh, int mult, int act)
{
  BtFbNode *o = bt_fb_table (wr->fb);
  bt_fb_scalar (o, 0, 1, (guint64) padding);
  bt_fb_scalar (o, 1, 4, (guint64) sw);
  bt_fb_scalar (o, 2, 4, (guint64) sh);
  if (depthwise)
    bt_fb_scalar (o, 3, 4, (guint64) mult);
  bt_fb_scalar (o, depthwise ? 4 : 3, 1, (guint64) act);
  return o;
}

/* An engine filter [oc, ic, kh, kw] in TFLite's layout: [oc, kh, kw, ic], depthwise [1, kh, kw, oc]. */
static float *
filter_to_tflite (const float *w, int oc, int ic, int kh, int kw, gboolean dw)
{
  float *f = g_new (float, (gsize) oc * ic * kh * kw);
  for (int k = 0; k < oc; k++)
    for (int ci = 0; ci < ic; ci++)
      for (int y = 0; y < kh; y++)
        for (int x = 0; x < kw; x++)
          {
            float v = w[(((gsize) k * ic + ci) * kh + y) * kw + x];
            if (dw)
              f[((gsize) y * kw + x) * oc + k] = v;
            else
              f[(((gsize) k * kh + y) * kw + x) * ic + ci] = v;
          }
  return f;
}

/* Pool2DOptions. */
static BtFbNode *
pool_options (Writer *wr, int padding, int sw, int sh, int kw, int kh, int act)
{
  BtFbNode *o = bt_fb_table (wr->fb);
  bt_fb_scalar (o, 0, 1, (guint64) padding);
  bt_fb_scalar (o, 1, 4, (guint64) sw);
  bt_fb_scalar (o, 2, 4, (guint64) sh);
  bt_fb_scalar (o, 3, 4, (guint64) kw);
  bt_fb_scalar (o, 4, 4, (guint64) kh);
  bt_fb_scalar (o, 5, 1, (guint64) act);
  return o;
}

/* A parsed operator's SAME or VALID (the reader accepts no other). */
static int
shape_padding (const BtConvShape *cs)
{
  BtNetLayerInfo geom = { .in_h = cs->h, .in_w = cs->w, .h = cs->oh, .w = cs->ow, .kh = cs->kh, .kw = cs->kw,
                          .sh = cs->stride_h, .sw = cs->stride_w, .pad_top = cs->pad_top,
                          .pad_left = cs->pad_left, .pad_bottom = cs->pad_bottom, .pad_right = cs->pad_right };
  int padding;
  if (!spatial_padding (&geom, &padding))
    g_assert_not_reached ();
  return padding;
}

static gboolean
emit_conv (Writer *wr, const BtNetLayerInfo *l, Val x, const char *out_name, Val *out, GError **error)
{
  gboolean dw = l->op == BT_NET_OP_DWCONV;
  if (!dw && l->groups != 1)
    {
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_UNSUPPORTED,
                   "Layer “%s”: a grouped convolution cannot be written to TensorFlow Lite", l->name);
      return FALSE;
    }
  int padding;
  if (!spatial_padding (l, &padding))
    {
      emit_pad (wr, l, &x);
      padding = PAD_VALID;
    }
  int oc = l->c, ic = dw ? 1 : l->in_c, kh = l->kh, kw = l->kw;
  g_autofree float *f = filter_to_tflite (l->weight, oc, ic, kh, kw, dw);
  g_autofree char *wn = g_strconcat (l->name, ".weight", NULL);
  g_autofree char *bn = g_strconcat (l->name, ".bias", NULL);
  int wt = dw ? add_floats (wr, wn, (const int[]) { 1, kh, kw, oc }, 4, f)
              : add_floats (wr, wn, (const int[]) { oc, kh, kw, ic }, 4, f);
  g_autofree float *zeros = l->bias ? NULL : g_new0 (float, oc);
  int bt = add_floats (wr, bn, (const int[]) { oc }, 1, l->bias ? l->bias : zeros);
  *out = (Val) { .rank = 4, .h = l->h, .w = l->w, .c = oc };
  add_activation (wr, out_name, out);
  add_op (wr, dw ? OP_DEPTHWISE_CONV_2D : OP_CONV_2D, (const int[]) { x.t, wt, bt }, 3, out->t,
          dw ? OPT_DEPTHWISE : OPT_CONV,
          conv_options (wr, dw, padding, l->sw, l->sh, dw ? oc / MAX (l->in_c, 1) : 1, act_of (l->act)));
  return TRUE;
}

/* y = x · scale[c] + shift[c] as a 1×1 depthwise convolution (rank 2: reshaped around it). */
static void
emit_channel_affine (Writer *wr, const char *name, const Val *x, const float *scale, const float *shift,
                     int act, const char *out_name, Val *out)
{
  Val in4 = *x;
  int c = x->rank == 4 ? x->c : x->n;
  g_autofree char *rn = g_strconcat (name, "/as-map", NULL);
  if (x->rank == 2)
    {
      in4 = (Val) { .rank = 4, .h = 1, .w = 1, .c = c };
      emit_reshape (wr, rn, x, &in4);
    }
  g_autofree char *wn = g_strconcat (name, ".scale", NULL);
  g_autofree char *bn = g_strconcat (name, ".shift", NULL);
  int wt = add_floats (wr, wn, (const int[]) { 1, 1, 1, c }, 4, scale);
  int bt = add_floats (wr, bn, (const int[]) { c }, 1, shift);
  Val y = { .rank = 4, .h = in4.h, .w = in4.w, .c = c };
  g_autofree char *yn = x->rank == 2 ? g_strconcat (name, "/map", NULL) : g_strdup (out_name);
  add_activation (wr, yn, &y);
  add_op (wr, OP_DEPTHWISE_CONV_2D, (const int[]) { in4.t, wt, bt }, 3, y.t, OPT_DEPTHWISE,
          conv_options (wr, TRUE, PAD_VALID, 1, 1, 1, act));
  if (x->rank == 2)
    {
      *out = *x;
      emit_reshape (wr, out_name, &y, out);
    }
  else
    *out = y;
}

static void
emit_batchnorm (Writer *wr, const BtNetLayerInfo *l, const Val *x, const char *out_name, Val *out)
{
  int c = l->c;
  g_autofree float *scale = g_new (float, c);
  g_autofree float *shift = g_new (float, c);
  for (int j = 0; j < c; j++)
    {
      /* a flattened input's feature j is the engine's feature engine_index (j) */
      gsize e = x->rank == 2 ? engine_index (x, (gsize) j) : (gsize) j;
      float s = l->weight[e] / sqrtf (l->running_var[e] + l->eps);
      scale[j] = s;
      shift[j] = l->bias[e] - l->running_mean[e] * s;
    }
  emit_channel_affine (wr, l->name, x, scale, shift, act_of (l->act), out_name, out);
}

static void
emit_dense (Writer *wr, const BtNetLayerInfo *l, Val x, const char *out_name, Val *out)
{
  if (x.rank == 4)
    {
      Val flat = { .rank = 2, .n = x.h * x.w * x.c, .ph = x.h, .pw = x.w, .pc = x.c };
      g_autofree char *fn = g_strconcat (l->name, "/flatten", NULL);
      emit_reshape (wr, fn, &x, &flat);
      x = flat;
    }
  int in_dim = x.n, oc = l->c;
  g_autofree float *wt = g_new (float, (gsize) oc * in_dim);
  for (int o = 0; o < oc; o++)
    for (int j = 0; j < in_dim; j++)
      wt[(gsize) o * in_dim + j] = l->weight[(gsize) o * in_dim + engine_index (&x, (gsize) j)];
  g_autofree char *wn = g_strconcat (l->name, ".weight", NULL);
  g_autofree char *bn = g_strconcat (l->name, ".bias", NULL);
  int w = add_floats (wr, wn, (const int[]) { oc, in_dim }, 2, wt);
  g_autofree float *zeros = l->bias ? NULL : g_new0 (float, oc);
  int b = add_floats (wr, bn, (const int[]) { oc }, 1, l->bias ? l->bias : zeros);
  *out = (Val) { .rank = 2, .n = oc };
  add_activation (wr, out_name, out);
  BtFbNode *o = bt_fb_table (wr->fb);
  bt_fb_scalar (o, 0, 1, (guint64) act_of (l->act));
  add_op (wr, OP_FULLY_CONNECTED, (const int[]) { x.t, w, b }, 3, out->t, OPT_FULLY_CONNECTED, o);
}

static gboolean
emit_pool (Writer *wr, const BtNetLayerInfo *l, const Val *x, const char *out_name, Val *out,
           GError **error)
{
  int padding, kh = l->kh, kw = l->kw, sh = l->sh, sw = l->sw;
  if (l->op == BT_NET_OP_GAP)
    {
      kh = x->h; kw = x->w; sh = sw = 1;
      padding = PAD_VALID;
    }
  else if (!spatial_padding (l, &padding))
    {
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_UNSUPPORTED,
                   "Layer “%s”: this pooling's padding cannot be written to TensorFlow Lite", l->name);
      return FALSE;
    }
  *out = (Val) { .rank = 4, .h = l->op == BT_NET_OP_GAP ? 1 : l->h, .w = l->op == BT_NET_OP_GAP ? 1 : l->w,
                 .c = x->c };
  add_activation (wr, out_name, out);
  add_op (wr, l->op == BT_NET_OP_MAXPOOL ? OP_MAX_POOL_2D : OP_AVERAGE_POOL_2D, (const int[]) { x->t }, 1,
          out->t, OPT_POOL, pool_options (wr, padding, sw, sh, kw, kh, act_of (l->act)));
  return TRUE;
}

/* A standalone activation after a layer that cannot carry it (flatten, dropout). */
static void
emit_activation (Writer *wr, BtNetAct act, const char *out_name, Val *v)
{
  Val out = *v;
  add_activation (wr, out_name, &out);
  add_op (wr, act == BT_NET_ACT_RELU ? OP_RELU : OP_RELU6, (const int[]) { v->t }, 1, out.t, OPT_NONE, NULL);
  *v = out;
}

static gboolean
emit_layer (Writer *wr, const BtNetLayerInfo *l, const Val *x, const Val *x2, const char *out_name,
            Val *out, GError **error)
{
  gboolean spatial = l->op == BT_NET_OP_CONV || l->op == BT_NET_OP_DWCONV || l->op == BT_NET_OP_MAXPOOL
                     || l->op == BT_NET_OP_AVGPOOL || l->op == BT_NET_OP_GAP;
  if (spatial && x->rank != 4)
    {
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_UNSUPPORTED,
                   "Layer “%s” (%s) on a flat input cannot be written to TensorFlow Lite", l->name, l->op_id);
      return FALSE;
    }
  switch (l->op)
    {
    case BT_NET_OP_CONV:
    case BT_NET_OP_DWCONV:
      return emit_conv (wr, l, *x, out_name, out, error);
    case BT_NET_OP_DENSE:
      emit_dense (wr, l, *x, out_name, out);
      return TRUE;
    case BT_NET_OP_MAXPOOL:
    case BT_NET_OP_AVGPOOL:
    case BT_NET_OP_GAP:
      return emit_pool (wr, l, x, out_name, out, error);
    case BT_NET_OP_FLATTEN:
      {
        Val flat = { .rank = 2, .n = x->rank == 4 ? x->h * x->w * x->c : x->n };
        if (x->rank == 4)
          {
            flat.ph = x->h; flat.pw = x->w; flat.pc = x->c;
          }
        else
          {
            flat.ph = x->ph; flat.pw = x->pw; flat.pc = x->pc;
          }
        g_autofree char *rn = l->act != BT_NET_ACT_NONE ? g_strconcat (out_name, "/pre", NULL) : g_strdup (out_name);
        emit_reshape (wr, rn, x, &flat);
        *out = flat;
        if (l->act != BT_NET_ACT_NONE)
          emit_activation (wr, l->act, out_name, out);
        return TRUE;
      }
    case BT_NET_OP_DROPOUT:
      *out = *x;
      if (l->act != BT_NET_ACT_NONE)
        emit_activation (wr, l->act, out_name, out);
      return TRUE;
    case BT_NET_OP_BATCHNORM:
      emit_batchnorm (wr, l, x, out_name, out);
      return TRUE;
    case BT_NET_OP_ADD:
      {
        if (x->rank != x2->rank
            || (x->rank == 4 && (x->h != x2->h || x->w != x2->w || x->c != x2->c))
            || (x->rank == 2 && (x->n != x2->n || x->ph != x2->ph || x->pw != x2->pw)))
          {
            g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_UNSUPPORTED,
                         "Layer “%s”: its two inputs cannot be added in TensorFlow Lite", l->name);
            return FALSE;
          }
        *out = *x;
        add_activation (wr, out_name, out);
        BtFbNode *o = bt_fb_table (wr->fb);
        bt_fb_scalar (o, 0, 1, (guint64) act_of (l->act));
        add_op (wr, OP_ADD, (const int[]) { x->t, x2->t }, 2, out->t, OPT_ADD, o);
        return TRUE;
      }
    default:
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_UNSUPPORTED,
                   "Layer “%s” (%s) cannot be written to TensorFlow Lite", l->name, l->op_id);
      return FALSE;
    }
}

/* ---- A transfer model's backbone: its own graph up to the embedding, copied as it is ---- */

/* Backbone tensor i in the export (copied on first use): the same type, shape, quantization
 * and, for a constant, the same bytes from the backbone's file. */
static int
copy_tensor (Writer *wr, const BtTflite *m, GBytes *file, int i, int *map)
{
  if (i < 0)
    return -1;
  if (map[i] >= 0)
    return map[i];
  const BtTflTensor *t = &m->tensors[i];
  BtFbNode *tt = bt_fb_table (wr->fb);
  gint32 dims[BT_TFL_MAX_RANK];
  for (int d = 0; d < t->rank; d++)
    dims[d] = t->shape[d];
  bt_fb_ref (tt, 0, bt_fb_int_vector (wr->fb, dims, t->rank));
  bt_fb_scalar (tt, 1, 1, (guint64) t->type);
  if (t->raw_len > 0)
    {
      const guint8 *bytes = g_bytes_get_data (file, NULL);
      bt_fb_scalar (tt, 2, 4, add_buffer (wr, bytes + t->raw_off, t->raw_len));
    }
  g_autofree char *name = g_strconcat ("backbone/", t->name, NULL);
  bt_fb_ref (tt, 3, bt_fb_string (wr->fb, name));
  if (t->n_scale > 0)
    {
      BtFbNode *q = bt_fb_table (wr->fb);
      bt_fb_ref (q, 2, bt_fb_vector (wr->fb, t->scale, (gsize) t->n_scale, 4, 4));
      bt_fb_ref (q, 3, bt_fb_vector (wr->fb, t->zero_point, (gsize) t->n_scale, 8, 8));
      if (t->qdim != 0)
        bt_fb_scalar (q, 6, 4, (guint64) t->qdim);
      bt_fb_ref (tt, 4, q);
    }
  bt_fb_push (wr->tensors, tt);
  return map[i] = (int) wr->n_tensors++;
}

/* m's operator op on our tensors ins (n_in of them) → out, its options as in the file but for
 * the fused activation act. */
static gboolean
emit_op_as (Writer *wr, const BtTflite *m, const BtTflOp *op, const int *ins, int n_in, int out, int act,
            GError **error)
{
  const BtConvShape *cs = &op->cs;
  BtFbNode *o = NULL;
  int opt = OPT_NONE;
  switch (op->code)
    {
    case BT_TFL_OP_CONV_2D:
    case BT_TFL_OP_DEPTHWISE_CONV_2D:
      {
        gboolean dw = op->code == BT_TFL_OP_DEPTHWISE_CONV_2D;
        opt = dw ? OPT_DEPTHWISE : OPT_CONV;
        o = conv_options (wr, dw, shape_padding (cs), cs->stride_w, cs->stride_h, dw ? cs->oc / MAX (cs->c, 1) : 1,
                          act);
        break;
      }
    case BT_TFL_OP_AVERAGE_POOL_2D:
    case BT_TFL_OP_MAX_POOL_2D:
      opt = OPT_POOL;
      o = pool_options (wr, shape_padding (cs), cs->stride_w, cs->stride_h, cs->kw, cs->kh, act);
      break;
    case BT_TFL_OP_ADD:
      opt = OPT_ADD;
      o = bt_fb_table (wr->fb);
      bt_fb_scalar (o, 0, 1, (guint64) act);
      break;
    case BT_TFL_OP_MEAN:
      opt = OPT_REDUCER;
      o = bt_fb_table (wr->fb);
      bt_fb_scalar (o, 0, 1, m->tensors[op->output].rank == m->tensors[op->inputs[0]].rank);   /* keep_dims */
      break;
    case BT_TFL_OP_PAD:
      opt = OPT_PAD;
      o = bt_fb_table (wr->fb);
      break;
    case BT_TFL_OP_RESHAPE:
      {
        const BtTflTensor *t = &m->tensors[op->output];
        gint32 shape[BT_TFL_MAX_RANK];
        for (int d = 0; d < t->rank; d++)
          shape[d] = t->shape[d];
        opt = OPT_RESHAPE;
        o = bt_fb_table (wr->fb);
        bt_fb_ref (o, 0, bt_fb_int_vector (wr->fb, shape, t->rank));
        break;
      }
    case BT_TFL_OP_QUANTIZE:
    case BT_TFL_OP_DEQUANTIZE:
    case BT_TFL_OP_RELU:
    case BT_TFL_OP_RELU6:
      break;
    default:
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_UNSUPPORTED,
                   "The backbone's operator %s cannot be copied into a TensorFlow Lite file yet",
                   bt_tflite_op_name (op->code));
      return FALSE;
    }
  add_op (wr, op->code, ins, n_in, out, opt, o);
  return TRUE;
}

static gboolean
copy_op (Writer *wr, const BtTflite *m, GBytes *file, const BtTflOp *op, int *map, GError **error)
{
  int ins[3], n_in = op->n_inputs;
  for (int k = 0; k < n_in; k++)
    ins[k] = copy_tensor (wr, m, file, op->inputs[k], map);
  int out = copy_tensor (wr, m, file, op->output, map);
  return emit_op_as (wr, m, op, ins, n_in, out, op->act, error);
}

/* ---- A fine-tuned backbone: its retrained top as float operators ---- */

typedef struct {
  const GArray *tuned;     /* BtBackboneWeights */
  int           first;     /* the first retrained operator: every needed one from it on is float */
  int          *fmap;      /* backbone tensor → our float tensor, -1 when none yet */
} FloatTop;

/* The clamp Bottega's float path applies to an operator's output: its fused activation ∩ its
 * quantized output's range, which for MobileNet's ReLU6 layers is [0, 6]. */
static int
float_act (const BtTflOp *op)
{
  if (op->lo >= 0.0f && op->hi <= 6.0f + 1e-3f)
    return ACT_RELU6;
  if (op->lo >= 0.0f)
    return op->act == ACT_RELU6 ? ACT_RELU6 : ACT_RELU;
  return op->act;
}

/* Backbone tensor i as a float tensor of ours: a constant (shape, axes, paddings) copied, an
 * activation of the quantized part dequantized once, a float part's own as its operator made it. */
static int
float_tensor (Writer *wr, const BtTflite *m, GBytes *file, int i, int *map, FloatTop *ft)
{
  const BtTflTensor *t = &m->tensors[i];
  if (ft->fmap[i] >= 0)
    return ft->fmap[i];
  if (t->is_const)
    return copy_tensor (wr, m, file, i, map);
  g_assert (map[i] >= 0);
  g_autofree char *name = g_strconcat ("backbone/", t->name, "/float", NULL);
  ft->fmap[i] = add_tensor (wr, name, t->shape, t->rank, TYPE_FLOAT32, NULL, 0);
  add_op (wr, OP_DEQUANTIZE, &map[i], 1, ft->fmap[i], OPT_NONE, NULL);
  return ft->fmap[i];
}

/* Operator op of the retrained top in float: a convolution with its float weights (the model's
 * retrained ones, else the file's dequantized), any other operator on float tensors. */
static gboolean
float_op (Writer *wr, const BtTflite *m, GBytes *file, int i, int *map, FloatTop *ft, GError **error)
{
  const BtTflOp *op = &m->ops[i];
  const BtTflTensor *o = &m->tensors[op->output];
  int ins[3] = { -1, -1, -1 }, n_in = op->n_inputs;
  if (op->code == BT_TFL_OP_QUANTIZE || op->code == BT_TFL_OP_DEQUANTIZE
      || (op->code == BT_TFL_OP_ADD && m->tensors[op->inputs[1]].is_const))
    {
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_UNSUPPORTED,
                   "The fine-tuned backbone's operator %s cannot be written in float yet", bt_tflite_op_name (op->code));
      return FALSE;
    }
  ins[0] = float_tensor (wr, m, file, op->inputs[0], map, ft);
  if (op->code == BT_TFL_OP_CONV_2D || op->code == BT_TFL_OP_DEPTHWISE_CONV_2D)
    {
      const BtConvShape *cs = &op->cs;
      gboolean dw = op->code == BT_TFL_OP_DEPTHWISE_CONV_2D;
      int oc = cs->oc, ic = dw ? 1 : cs->c;
      const float *w = op->w, *b = op->b;
      for (guint k = 0; ft->tuned != NULL && k < ft->tuned->len; k++)
        {
          const BtBackboneWeights *bw = &g_array_index (ft->tuned, BtBackboneWeights, k);
          if (bw->op == i)
            w = bw->w, b = bw->b;
        }
      g_autofree float *f = filter_to_tflite (w, oc, ic, cs->kh, cs->kw, dw);
      g_autofree char *wn = g_strconcat ("backbone/", o->name, ".weight", NULL);
      g_autofree char *bn = g_strconcat ("backbone/", o->name, ".bias", NULL);
      ins[1] = dw ? add_floats (wr, wn, (const int[]) { 1, cs->kh, cs->kw, oc }, 4, f)
                  : add_floats (wr, wn, (const int[]) { oc, cs->kh, cs->kw, ic }, 4, f);
      ins[2] = add_floats (wr, bn, (const int[]) { oc }, 1, b);
      n_in = 3;
    }
  else
    for (int k = 1; k < n_in; k++)
      ins[k] = op->inputs[k] < 0 ? -1 : float_tensor (wr, m, file, op->inputs[k], map, ft);
  g_autofree char *name = g_strconcat ("backbone/", o->name, NULL);
  ft->fmap[op->output] = add_tensor (wr, name, o->shape, o->rank, TYPE_FLOAT32, NULL, 0);
  gboolean clamped = op->code == BT_TFL_OP_CONV_2D || op->code == BT_TFL_OP_DEPTHWISE_CONV_2D
                     || op->code == BT_TFL_OP_ADD || op->code == BT_TFL_OP_AVERAGE_POOL_2D
                     || op->code == BT_TFL_OP_MAX_POOL_2D;
  return emit_op_as (wr, m, op, ins, n_in, ft->fmap[op->output], clamped ? float_act (op) : op->act, error);
}

/* The retrained operators checked against the backbone; ft->first the earliest of them. */
static gboolean
check_tuned (const BtTflite *m, const GArray *tuned, const gboolean *need, FloatTop *ft, GError **error)
{
  ft->tuned = tuned;
  ft->first = m->n_ops;
  for (guint k = 0; tuned != NULL && k < tuned->len; k++)
    {
      const BtBackboneWeights *bw = &g_array_index (tuned, BtBackboneWeights, k);
      int shape[4];
      gsize nb;
      if (bw->op < 0 || bw->op >= m->n_ops || !need[bw->op] || !bt_tflite_op_weight_shape (m, bw->op, shape, &nb)
          || memcmp (shape, bw->shape, sizeof shape) != 0 || bw->w == NULL || bw->b == NULL)
        {
          g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID,
                       "The model's fine-tuned weights do not fit its backbone's operator %d", bw->op);
          return FALSE;
        }
      ft->first = MIN (ft->first, bw->op);
    }
  return TRUE;
}

/* The backbone's operators that the embedding needs, in their order, behind the float input
 * "image" (quantized for the backbone when its input is); *emb: the embedding as float. With
 * tuned (a fine-tuned model's BtBackboneWeights, else NULL) every needed operator from the first
 * retrained one on is written in float, after a DEQUANTIZE of what it takes from below. */
static gboolean
emit_backbone (Writer *wr, const BtTflite *m, GBytes *file, const GArray *tuned, int *input, Val *emb,
               GError **error)
{
  int dim;
  int cut = bt_tflite_find_embedding_cut (m, &dim, error);
  if (cut < 0)
    return FALSE;
  g_autofree gboolean *need = g_new0 (gboolean, m->n_ops);
  g_autofree int *map = g_new (int, m->n_tensors);
  memset (map, -1, sizeof (int) * m->n_tensors);
  need[m->tensors[cut].producer] = TRUE;
  for (int i = m->tensors[cut].producer; i >= 0; i--)
    for (int k = 0; need[i] && k < m->ops[i].n_inputs; k++)
      {
        int t = m->ops[i].inputs[k];
        if (t >= 0 && m->tensors[t].producer >= 0)
          need[m->tensors[t].producer] = TRUE;
      }

  const BtTflTensor *bin = &m->tensors[m->input];
  int h = bin->shape[1], w = bin->shape[2], c = bin->shape[3];
  Val in = { .rank = 4, .h = h, .w = w, .c = c };
  *input = add_activation (wr, "image", &in);
  if (bin->type == BT_TFL_FLOAT32)
    map[m->input] = *input;
  else if (bin->n_scale == 1 && (bin->type == BT_TFL_UINT8 || bin->type == BT_TFL_INT8))
    add_op (wr, OP_QUANTIZE, input, 1, copy_tensor (wr, m, file, m->input, map), OPT_NONE, NULL);
  else
    {
      g_set_error_literal (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_UNSUPPORTED,
                           "The backbone's input type cannot be written to TensorFlow Lite");
      return FALSE;
    }

  g_autofree int *fmap = g_new (int, m->n_tensors);
  memset (fmap, -1, sizeof (int) * m->n_tensors);
  FloatTop ft = { .fmap = fmap };
  if (!check_tuned (m, tuned, need, &ft, error))
    return FALSE;
  for (int i = 0; i < m->n_ops; i++)
    if (need[i] && !(i < ft.first ? copy_op (wr, m, file, &m->ops[i], map, error)
                                  : float_op (wr, m, file, i, map, &ft, error)))
      return FALSE;

  const BtTflTensor *ct = &m->tensors[cut];
  *emb = ct->rank == 4 ? (Val) { .rank = 4, .h = ct->shape[1], .w = ct->shape[2], .c = ct->shape[3] }
                       : (Val) { .rank = 2, .n = dim };
  if (fmap[cut] >= 0)
    emb->t = fmap[cut];
  else if (ct->type == BT_TFL_FLOAT32)
    emb->t = map[cut];
  else
    {
      add_activation (wr, "embedding", emb);
      add_op (wr, OP_DEQUANTIZE, &map[cut], 1, emb->t, OPT_NONE, NULL);
    }
  return TRUE;
}

/* A Model.metadata entry: name and a buffer of JSON. */
static BtFbNode *
metadata_entry (Writer *wr, const char *name, const char *json)
{
  BtFbNode *m = bt_fb_table (wr->fb);
  bt_fb_ref (m, 0, bt_fb_string (wr->fb, name));
  bt_fb_scalar (m, 1, 4, add_buffer (wr, json, strlen (json)));
  return m;
}

/* ---- Full-integer int8: a float graph Bottega wrote, quantized with calibrated ranges ---- */

typedef struct {
  float scale;
  int   zp;
} QParam;

/* Asymmetric int8 for the real range [lo, hi] (widened to hold 0, as TFLite requires). */
static QParam
qparam_for (float lo, float hi)
{
  lo = MIN (lo, 0.0f);
  hi = MAX (hi, 0.0f);
  if (!(hi - lo > 1e-6f))
    hi = lo + 1e-6f;
  QParam q = { (hi - lo) / 255.0f, 0 };
  q.zp = (int) CLAMP (lrintf (-128.0f - lo / q.scale), -128, 127);
  return q;
}

static BtFbNode *
quantization (Writer *wr, const float *scale, const gint64 *zp, int n, int qdim)
{
  BtFbNode *q = bt_fb_table (wr->fb);
  bt_fb_ref (q, 2, bt_fb_vector (wr->fb, scale, (gsize) n, 4, 4));
  bt_fb_ref (q, 3, bt_fb_vector (wr->fb, zp, (gsize) n, 8, 8));
  if (qdim != 0)
    bt_fb_scalar (q, 6, 4, (guint64) qdim);
  return q;
}

/* An int8 activation tensor of m's tensor i, with its parameters. */
static int
add_qactivation (Writer *wr, const BtTflTensor *t, const char *name, QParam q)
{
  gint64 zp = q.zp;
  return add_tensor_q (wr, name ? name : t->name, t->shape, t->rank, TYPE_INT8, NULL, 0,
                       quantization (wr, &q.scale, &zp, 1, 0));
}

/* Weights w (n_out rows of `inner` values each, in the file's layout; for depthwise the channel
 * is the last axis instead) as int8, symmetric, one scale per output channel; bias as int32 at
 * input scale × weight scale. Returns the weight tensor; *bias_t the bias tensor. */
static int
add_qweights (Writer *wr, const char *name, const int *shape, int rank, const float *w, int n_out, gsize inner,
              gboolean channel_last, gboolean per_tensor, const float *bias, float in_scale, int *bias_t)
{
  gsize n = (gsize) n_out * inner;
  g_autofree float *scale = g_new (float, n_out);
  g_autofree gint64 *zp = g_new0 (gint64, n_out);
  g_autofree gint8 *q = g_new (gint8, n);
  float all = 0;
  for (int c = 0; c < n_out; c++)
    {
      float m = 0;
      for (gsize j = 0; j < inner; j++)
        m = MAX (m, fabsf (w[channel_last ? j * n_out + c : c * inner + j]));
      scale[c] = m > 0 ? m / 127.0f : 1.0f;
      all = MAX (all, m);
    }
  for (int c = 0; per_tensor && c < n_out; c++)
    scale[c] = all > 0 ? all / 127.0f : 1.0f;
  for (gsize i = 0; i < n; i++)
    {
      int c = channel_last ? (int) (i % n_out) : (int) (i / inner);
      q[i] = (gint8) CLAMP (lrintf (w[i] / scale[c]), -127, 127);
    }
  g_autofree char *wn = g_strconcat (name, ".weight", NULL);
  int wt = add_tensor_q (wr, wn, shape, rank, TYPE_INT8, q, n,
                         quantization (wr, scale, zp, per_tensor ? 1 : n_out, channel_last ? rank - 1 : 0));
  g_autofree gint32 *qb = g_new (gint32, n_out);
  g_autofree float *bscale = g_new (float, n_out);
  for (int c = 0; c < n_out; c++)
    {
      bscale[c] = in_scale * scale[c];
      double v = bias != NULL ? rint (bias[c] / (double) bscale[c]) : 0;
      qb[c] = (gint32) CLAMP (v, -2147483647.0, 2147483647.0);
    }
  g_autofree char *bn = g_strconcat (name, ".bias", NULL);
  *bias_t = add_tensor_q (wr, bn, (const int[]) { n_out }, 1, TYPE_INT32, qb, sizeof (gint32) * n_out,
                          quantization (wr, bscale, zp, per_tensor ? 1 : n_out, 0));
  return wt;
}

/* m's operator op with int8 tensors (map: m's tensor → ours, params: each tensor's). */
static gboolean
quantize_op (Writer *wr, const BtTflite *m, const BtTflOp *op, int *map, QParam *params, const float *ranges,
             GError **error)
{
  const BtTflTensor *in = &m->tensors[op->inputs[0]], *out = &m->tensors[op->output];
  QParam qi = params[op->inputs[0]], qo;
  const BtConvShape *cs = &op->cs;
  int x = map[op->inputs[0]];
  gboolean same = op->code == BT_TFL_OP_MAX_POOL_2D || op->code == BT_TFL_OP_AVERAGE_POOL_2D
                  || op->code == BT_TFL_OP_RESHAPE || op->code == BT_TFL_OP_PAD;
  if (same)
    qo = qi;
  else if (op->code == BT_TFL_OP_SOFTMAX)
    qo = (QParam) { 1.0f / 256.0f, -128 };
  else
    qo = qparam_for (ranges[2 * op->output], ranges[2 * op->output + 1]);
  params[op->output] = qo;
  int y = map[op->output] = add_qactivation (wr, out, NULL, qo);
  switch (op->code)
    {
    case BT_TFL_OP_CONV_2D:
    case BT_TFL_OP_DEPTHWISE_CONV_2D:
      {
        gboolean dw = op->code == BT_TFL_OP_DEPTHWISE_CONV_2D;
        int oc = cs->oc, kh = cs->kh, kw = cs->kw, ic = dw ? 1 : cs->c, b;
        g_autofree float *f = filter_to_tflite (op->w, oc, ic, kh, kw, dw);
        int w = dw ? add_qweights (wr, out->name, (const int[]) { 1, kh, kw, oc }, 4, f, oc, (gsize) kh * kw, TRUE,
                                   FALSE, op->b, qi.scale, &b)
                   : add_qweights (wr, out->name, (const int[]) { oc, kh, kw, ic }, 4, f, oc, (gsize) kh * kw * ic,
                                   FALSE, FALSE, op->b, qi.scale, &b);
        add_op (wr, op->code, (const int[]) { x, w, b }, 3, y, dw ? OPT_DEPTHWISE : OPT_CONV,
                conv_options (wr, dw, shape_padding (cs), cs->stride_w, cs->stride_h, dw ? oc / MAX (cs->c, 1) : 1,
                              op->act));
        return TRUE;
      }
    case BT_TFL_OP_FULLY_CONNECTED:
      {
        int b;
        int w = add_qweights (wr, out->name, (const int[]) { op->out_dim, op->in_dim }, 2, op->w, op->out_dim,
                              (gsize) op->in_dim, FALSE, TRUE, op->b, qi.scale, &b);
        BtFbNode *o = bt_fb_table (wr->fb);
        bt_fb_scalar (o, 0, 1, (guint64) op->act);
        add_op (wr, OP_FULLY_CONNECTED, (const int[]) { x, w, b }, 3, y, OPT_FULLY_CONNECTED, o);
        return TRUE;
      }
    case BT_TFL_OP_AVERAGE_POOL_2D:
    case BT_TFL_OP_MAX_POOL_2D:
      add_op (wr, op->code, &x, 1, y, OPT_POOL,
              pool_options (wr, shape_padding (cs), cs->stride_w, cs->stride_h, cs->kw, cs->kh, op->act));
      return TRUE;
    case BT_TFL_OP_ADD:
      {
        BtFbNode *o = bt_fb_table (wr->fb);
        bt_fb_scalar (o, 0, 1, (guint64) op->act);
        add_op (wr, OP_ADD, (const int[]) { x, map[op->inputs[1]] }, 2, y, OPT_ADD, o);
        return TRUE;
      }
    case BT_TFL_OP_RESHAPE:
      {
        gint32 shape[BT_TFL_MAX_RANK];
        for (int d = 0; d < out->rank; d++)
          shape[d] = out->shape[d];
        g_autofree char *sn = g_strconcat (out->name, "/shape", NULL);
        int st = add_tensor (wr, sn, (const int[]) { out->rank }, 1, TYPE_INT32, shape, sizeof (gint32) * out->rank);
        BtFbNode *o = bt_fb_table (wr->fb);
        bt_fb_ref (o, 0, bt_fb_int_vector (wr->fb, shape, out->rank));
        add_op (wr, OP_RESHAPE, (const int[]) { x, st }, 2, y, OPT_RESHAPE, o);
        return TRUE;
      }
    case BT_TFL_OP_PAD:
      {
        gint32 pads[2 * BT_TFL_MAX_RANK];
        for (int d = 0; d < in->rank; d++)
          pads[2 * d] = op->pads[d][0], pads[2 * d + 1] = op->pads[d][1];
        g_autofree char *pn = g_strconcat (out->name, "/paddings", NULL);
        int p = add_tensor (wr, pn, (const int[]) { in->rank, 2 }, 2, TYPE_INT32, pads, sizeof (gint32) * 2 * in->rank);
        add_op (wr, OP_PAD, (const int[]) { x, p }, 2, y, OPT_PAD, bt_fb_table (wr->fb));
        return TRUE;
      }
    case BT_TFL_OP_RELU:
    case BT_TFL_OP_RELU6:
      add_op (wr, op->code, &x, 1, y, OPT_NONE, NULL);
      return TRUE;
    case BT_TFL_OP_SOFTMAX:
      {
        BtFbNode *o = bt_fb_table (wr->fb);
        bt_fb_float (o, 0, op->beta);
        add_op (wr, OP_SOFTMAX, &x, 1, y, OPT_SOFTMAX, o);
        return TRUE;
      }
    default:
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_UNSUPPORTED,
                   "The operator %s cannot be written as int8 yet", bt_tflite_op_name (op->code));
      return FALSE;
    }
}

/* A convolution without activation whose only reader is a per-channel affine (batch norm, written
 * as a 1×1 depthwise convolution): one convolution with the two folded together (*fused, its
 * weights in *w, *b), so the int8 file has no extra layer and no extra per-channel parameters. */
static gboolean
fuse_channel_affine (const BtTflite *m, int i, BtTflOp *fused, float **w, float **b)
{
  const BtTflOp *op = &m->ops[i], *bn = &m->ops[i + 1];
  if ((op->code != BT_TFL_OP_CONV_2D && op->code != BT_TFL_OP_DEPTHWISE_CONV_2D) || op->act != 0
      || bn->code != BT_TFL_OP_DEPTHWISE_CONV_2D || bn->inputs[0] != op->output || bn->cs.kh != 1 || bn->cs.kw != 1
      || bn->cs.stride_h != 1 || bn->cs.stride_w != 1 || bn->cs.oc != bn->cs.c || bn->cs.c != op->cs.oc
      || op->output == m->output)
    return FALSE;
  for (int j = 0; j < m->n_ops; j++)
    for (int k = 0; j != i + 1 && k < m->ops[j].n_inputs; k++)
      if (m->ops[j].inputs[k] == op->output)
        return FALSE;
  int oc = op->cs.oc;
  gsize per = (gsize) (op->code == BT_TFL_OP_DEPTHWISE_CONV_2D ? 1 : op->cs.c) * op->cs.kh * op->cs.kw;
  *fused = *op;
  *w = g_new (float, (gsize) oc * per);
  *b = g_new (float, oc);
  for (int k = 0; k < oc; k++)
    {
      for (gsize j = 0; j < per; j++)
        (*w)[k * per + j] = op->w[k * per + j] * bn->w[k];
      (*b)[k] = op->b[k] * bn->w[k] + bn->b[k];
    }
  fused->w = *w;
  fused->b = *b;
  fused->act = bn->act;
  fused->output = bn->output;
  return TRUE;
}

gboolean
bt_tflite_recipe_input_range (const BtPreprocess *prep, float range[2])
{
  g_return_val_if_fail (prep != NULL && range != NULL, FALSE);
  for (int c = 1; c < prep->channels && c < 3; c++)
    if (prep->mean[c] != prep->mean[0] || prep->std[c] != prep->std[0])
      return FALSE;
  range[0] = (0.0f * prep->scale - prep->mean[0]) / prep->std[0];
  range[1] = (255.0f * prep->scale - prep->mean[0]) / prep->std[0];
  if (range[0] > range[1])
    return FALSE;
  return TRUE;
}

struct _BtTfliteCalibration {
  BtTflite     *model;
  GBytes       *file;         /* the float file's bytes (the backbone's tensors are copied from them) */
  int           boundary;     /* a transfer file's DEQUANTIZE before its float head, else -1 */
  BtTfliteExec *exec;
  float        *ranges;
  guint         n_images;
};

static gboolean
is_quantized (const BtTflTensor *t)
{
  return t->n_scale > 0 || (t->type != TYPE_FLOAT32 && t->is_activation);
}

/* A transfer model's float file (emit_backbone): a QUANTIZE of the input (or none), the
 * backbone's quantized operators, then one DEQUANTIZE and only float operators after it. Its
 * index, -1 when every tensor is float, -2 for any other mix. */
static int
quantized_boundary (const BtTflite *m)
{
  int boundary = -1;
  for (int i = 0; i < m->n_ops; i++)
    if (m->ops[i].code == BT_TFL_OP_DEQUANTIZE)
      {
        if (boundary >= 0)
          return -2;
        boundary = i;
      }
  for (int i = 0; i < m->n_ops; i++)
    {
      const BtTflOp *op = &m->ops[i];
      gboolean any = is_quantized (&m->tensors[op->output]);
      for (int k = 0; k < op->n_inputs; k++)
        any |= op->inputs[k] >= 0 && is_quantized (&m->tensors[op->inputs[k]]);
      if (any && (boundary < 0 || i > boundary))
        return -2;
      if (boundary >= 0 && i < boundary && !is_quantized (&m->tensors[op->output]))
        return -2;
    }
  return boundary;
}

BtTfliteCalibration *
bt_tflite_calibration_new (GBytes *float_file, GError **error)
{
  g_return_val_if_fail (float_file != NULL, NULL);
  g_autoptr(BtTflite) m = bt_tflite_load_bytes (float_file, error);
  if (m == NULL)
    return NULL;
  int boundary = quantized_boundary (m);
  if (boundary == -2)
    {
      g_set_error_literal (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_UNSUPPORTED,
                           "Only a float model, or a quantized backbone followed by a float head, can be "
                           "quantized to int8");
      return NULL;
    }
  g_autoptr(BtTfliteExec) exec = bt_tflite_exec_new_path (m, BT_TFLITE_PATH_FLOAT, error);
  if (exec == NULL)
    return NULL;
  BtTfliteCalibration *c = g_new0 (BtTfliteCalibration, 1);
  c->ranges = g_new (float, 2 * (gsize) m->n_tensors);
  for (int i = 0; i < m->n_tensors; i++)
    {
      c->ranges[2 * i] = INFINITY;
      c->ranges[2 * i + 1] = -INFINITY;
    }
  bt_tflite_exec_observe (exec, c->ranges);
  c->model = g_steal_pointer (&m);
  c->file = g_bytes_ref (float_file);
  c->boundary = boundary;
  c->exec = g_steal_pointer (&exec);
  return c;
}

void
bt_tflite_calibration_free (BtTfliteCalibration *c)
{
  if (c == NULL)
    return;
  g_clear_pointer (&c->exec, bt_tflite_exec_free);
  g_clear_pointer (&c->model, bt_tflite_unref);
  g_clear_pointer (&c->file, g_bytes_unref);
  g_free (c->ranges);
  g_free (c);
}

gboolean
bt_tflite_calibration_add (BtTfliteCalibration *c, const float *x, GError **error)
{
  g_return_val_if_fail (c != NULL && x != NULL, FALSE);
  if (bt_tflite_exec_run (c->exec, x, -1, NULL, error) == NULL)
    return FALSE;
  c->n_images++;
  return TRUE;
}

guint
bt_tflite_calibration_n_images (const BtTfliteCalibration *c)
{
  g_return_val_if_fail (c != NULL, 0);
  return c->n_images;
}

/* An int8 tensor holding uint8 tensor t's values (the same scale, zero point − 128), or t itself
 * when it is int8 already: map[to] = it, params[to] its parameters; a QUANTIZE (an exact
 * requantization) from map[from] when the types differ. */
static void
as_int8 (Writer *wr, const BtTflTensor *t, const char *name, int from, int to, int *map, QParam *params)
{
  QParam q = { t->scale[0], (int) t->zero_point[0] };
  if (t->type == BT_TFL_INT8 && from >= 0)
    {
      map[to] = map[from];
      params[to] = q;
      return;
    }
  if (t->type != BT_TFL_INT8)
    q.zp -= 128;
  params[to] = q;
  map[to] = add_qactivation (wr, t, name, q);
  if (from >= 0)
    add_op (wr, OP_QUANTIZE, &map[from], 1, map[to], OPT_NONE, NULL);
}

/* A transfer model's file: its int8 input "image" (the backbone's own input scale, so no value
 * is rounded twice), the backbone's operators copied as they are, its embedding as int8 for the
 * head. Returns the index of the first head operator, or -1 and an error. */
static int
copy_quantized_backbone (Writer *wr, const BtTflite *m, GBytes *file, int boundary, int *map, QParam *params,
                         GError **error)
{
  const BtTflOp *q0 = &m->ops[0], *dq = &m->ops[boundary];
  if (boundary < 1 || q0->code != BT_TFL_OP_QUANTIZE || q0->inputs[0] != m->input
      || m->tensors[q0->output].n_scale != 1 || m->tensors[dq->inputs[0]].n_scale != 1)
    {
      g_set_error_literal (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_UNSUPPORTED,
                           "The backbone's input or embedding is not quantized per tensor: no int8 file");
      return -1;
    }
  /* image (int8) → the backbone's input (uint8: one exact QUANTIZE; int8: the same tensor) */
  as_int8 (wr, &m->tensors[q0->output], "image", -1, m->input, map, params);
  if (m->tensors[q0->output].type == BT_TFL_UINT8)
    add_op (wr, OP_QUANTIZE, &map[m->input], 1, copy_tensor (wr, m, file, q0->output, map), OPT_NONE, NULL);
  else
    map[q0->output] = map[m->input];
  for (int i = 1; i < boundary; i++)
    if (!copy_op (wr, m, file, &m->ops[i], map, error))
      return -1;
  as_int8 (wr, &m->tensors[dq->inputs[0]], "embedding", dq->inputs[0], dq->output, map, params);
  return boundary + 1;
}

static int
find_tensor (const BtTflite *m, const char *name)
{
  for (int i = 0; i < m->n_tensors; i++)
    if (g_strcmp0 (m->tensors[i].name, name) == 0)
      return i;
  return -1;
}

GBytes *
bt_tflite_calibration_finish_int8 (BtTfliteCalibration *c, const float input_range[2], GError **error)
{
  g_return_val_if_fail (c != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  const BtTflite *m = c->model;
  if (c->n_images == 0)
    {
      g_set_error_literal (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID,
                           "No calibration image: the int8 ranges cannot be measured");
      return NULL;
    }
  int logits = find_tensor (m, "logits");

  g_autoptr(BtFb) fb = bt_fb_new ();
  Writer wr = { .fb = fb };
  memset (wr.opcode_of, -1, sizeof wr.opcode_of);
  wr.tensors = bt_fb_refs (fb);
  wr.buffers = bt_fb_refs (fb);
  wr.operators = bt_fb_refs (fb);
  wr.opcodes = bt_fb_refs (fb);
  add_buffer (&wr, NULL, 0);

  g_autofree int *map = g_new (int, m->n_tensors);
  g_autofree QParam *params = g_new0 (QParam, m->n_tensors);
  memset (map, -1, sizeof (int) * m->n_tensors);
  int first = 0;
  if (c->boundary >= 0)
    {
      first = copy_quantized_backbone (&wr, m, c->file, c->boundary, map, params, error);
      if (first < 0)
        return NULL;
    }
  else
    {
      /* the input: the recipe's exact range when given (pixel p → p − 128 for [0, 1]), else measured */
      params[m->input] = input_range != NULL ? qparam_for (input_range[0], input_range[1])
                                              : qparam_for (c->ranges[2 * m->input], c->ranges[2 * m->input + 1]);
      map[m->input] = add_qactivation (&wr, &m->tensors[m->input], NULL, params[m->input]);
    }
  for (int i = first; i < m->n_ops; i++)
    {
      BtTflOp fused;
      g_autofree float *fused_w = NULL, *fused_b = NULL;
      if (i + 1 < m->n_ops && fuse_channel_affine (m, i, &fused, &fused_w, &fused_b))
        {
          if (!quantize_op (&wr, m, &fused, map, params, c->ranges, error))
            return NULL;
          i++;
          continue;
        }
      if (!quantize_op (&wr, m, &m->ops[i], map, params, c->ranges, error))
        return NULL;
    }

  BtFbNode *sg = bt_fb_table (fb);
  bt_fb_ref (sg, 0, wr.tensors);
  bt_fb_ref (sg, 1, bt_fb_int_vector (fb, (const gint32[]) { map[m->input] }, 1));
  if (logits >= 0 && map[logits] >= 0)
    bt_fb_ref (sg, 2, bt_fb_int_vector (fb, (const gint32[]) { map[m->output], map[logits] }, 2));
  else
    bt_fb_ref (sg, 2, bt_fb_int_vector (fb, (const gint32[]) { map[m->output] }, 1));
  bt_fb_ref (sg, 3, wr.operators);
  bt_fb_ref (sg, 4, bt_fb_string (fb, "main"));
  BtFbNode *subgraphs = bt_fb_refs (fb);
  bt_fb_push (subgraphs, sg);

  /* the float file's metadata, in its order, and how many images set the ranges */
  BtFbNode *meta = bt_fb_refs (fb);
  static const char *const names[] = { "labels", "preprocessing", "bottega_preset", "thresholds" };
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      GBytes *b = g_hash_table_lookup (m->metadata, names[i]);
      if (b == NULL)
        continue;
      g_autofree char *json = g_strndup (g_bytes_get_data (b, NULL), g_bytes_get_size (b));
      bt_fb_push (meta, metadata_entry (&wr, names[i], json));
    }
  g_autofree char *qj = g_strdup_printf ("{\"type\":\"int8\",\"calibration_images\":%u}", c->n_images);
  bt_fb_push (meta, metadata_entry (&wr, "quantization", qj));

  BtFbNode *model = bt_fb_table (fb);
  bt_fb_scalar (model, 0, 4, 3);
  bt_fb_ref (model, 1, wr.opcodes);
  bt_fb_ref (model, 2, subgraphs);
  bt_fb_ref (model, 3, bt_fb_string (fb, "Bottega int8"));
  bt_fb_ref (model, 4, wr.buffers);
  bt_fb_ref (model, 6, meta);
  return bt_fb_finish (fb, model, "TFL3");
}

/* ---- The model ---- */

/* The net from input `in` on. The last layer (a dense classifier) has its weights and bias
 * divided by temperature, so its output "logits" is logits / T and the softmax after it the
 * model's calibrated probabilities. */
static gboolean
emit_net (Writer *wr, BtNet *net, int k, Val in, double temperature, int *logits, int *output,
          GError **error)
{
  guint n_layers = bt_net_n_layers (net);
  g_autofree Val *vals = g_new0 (Val, MAX (n_layers, 1));
  g_autofree float *scaled_w = NULL, *scaled_b = NULL;
  for (guint i = 0; i < n_layers; i++)
    {
      BtNetLayerInfo l;
      bt_net_get_layer (net, i, &l);
      const Val *x = l.src < 0 ? &in : &vals[l.src];
      const Val *x2 = l.src2 >= 0 ? &vals[l.src2] : NULL;
      if (i + 1 == n_layers && l.op == BT_NET_OP_DENSE && temperature != 1.0)
        {
          /* relu (z) / T = relu (z / T) for T > 0, so an activation there stays right too */
          scaled_w = g_new (float, l.weight_len);
          for (gsize j = 0; j < l.weight_len; j++)
            scaled_w[j] = (float) (l.weight[j] / temperature);
          scaled_b = g_new0 (float, l.c);
          for (int j = 0; l.bias != NULL && j < l.c; j++)
            scaled_b[j] = (float) (l.bias[j] / temperature);
          l.weight = scaled_w;
          l.bias = scaled_b;
        }
      if (!emit_layer (wr, &l, x, x2, i + 1 == n_layers ? "logits" : l.name, &vals[i], error))
        return FALSE;
      if (i + 1 == n_layers && l.op != BT_NET_OP_DENSE && temperature != 1.0)
        {
          g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_UNSUPPORTED,
                       "The network does not end in a dense classifier");
          return FALSE;
        }
    }
  if (n_layers == 0 || vals[n_layers - 1].rank != 2 || vals[n_layers - 1].n != k)
    {
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_UNSUPPORTED,
                   "The network does not end in a dense classifier");
      return FALSE;
    }
  *logits = vals[n_layers - 1].t;
  Val probs = { .rank = 2, .n = k };
  *output = add_activation (wr, "probabilities", &probs);
  BtFbNode *o = bt_fb_table (wr->fb);
  bt_fb_float (o, 0, 1.0f);
  add_op (wr, OP_SOFTMAX, (const int[]) { *logits }, 1, *output, OPT_SOFTMAX, o);
  return TRUE;
}

/* The "thresholds" metadata: the temperature already folded in, the unknown threshold on the
 * energy −T·logsumexp(logits) of the second output, and each class's saved threshold. */
static char *
thresholds_json (const char * const *class_names, const BtCalibration *calib, const double *class_thresholds)
{
  GString *s = g_string_new ("{\"temperature\":");
  bt_json_append_float (s, (float) calib->temperature);
  g_string_append (s, ",\"unknown_threshold\":");
  if (isfinite (bt_calibration_energy_threshold (calib)))
    bt_json_append_float (s, (float) bt_calibration_energy_threshold (calib));
  else
    g_string_append (s, "null");
  g_string_append (s, ",\"unknown_score\":\"-temperature*logsumexp(logits)\"");
  if (bt_calibration_uses_centroids (calib))
    /* the app's own score also reads the class centroids, which this file does not carry */
    g_string_append (s, ",\"unknown_note\":\"threshold for the energy alone; Bottega also uses the "
                        "distance to the class centroids and may call more images unknown\"");
  g_string_append (s, ",\"classes\":{");
  gboolean first = TRUE;
  for (int i = 0; class_thresholds != NULL && class_names[i] != NULL; i++)
    if (isfinite (class_thresholds[i]))
      {
        if (!first)
          g_string_append_c (s, ',');
        first = FALSE;
        bt_json_append_string (s, class_names[i]);
        g_string_append_c (s, ':');
        bt_json_append_float (s, (float) class_thresholds[i]);
      }
  g_string_append (s, "}}");
  return g_string_free (s, FALSE);
}

/* What a model file adds to its net: the calibration, the saved thresholds. */
typedef struct {
  BtCalibration  calib;
  const double  *class_thresholds;   /* one per class (NAN: none), or NULL */
  const BtTflite *backbone;          /* a transfer model's, and its file's bytes */
  GBytes        *backbone_file;
  const GArray  *tuned;              /* retrained backbone operators (model format 3), or NULL */
} Extras;

static GBytes *
export_graph (BtNet *net, const char * const *class_names, const BtPreprocess *prep, const Extras *ex,
              GError **error)
{
  int k = bt_net_n_classes (net);
  if (!bt_export_check_class_names (net, class_names, error))
    return NULL;
  int c, h, w;
  gboolean transfer = bt_net_preset (net) == BT_PRESET_TRANSFER;
  if (transfer && (ex->backbone == NULL || ex->backbone_file == NULL))
    {
      g_set_error_literal (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID,
                           "A transfer model needs its backbone to be written to TensorFlow Lite");
      return NULL;
    }
  if (transfer)
    {
      int dim = 0;
      bt_tflite_input_shape (ex->backbone, &h, &w, &c);
      if (bt_tflite_find_embedding_cut (ex->backbone, &dim, error) < 0)
        return NULL;
      int hc, hh, hw;
      bt_net_input_shape (net, &hc, &hh, &hw);
      if (hc * hh * hw != dim)
        {
          g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID,
                       "The model's head takes %d values but its backbone gives %d", hc * hh * hw, dim);
          return NULL;
        }
    }
  else
    bt_net_input_shape (net, &c, &h, &w);
  if (prep->width != w || prep->height != h || prep->channels != c)
    {
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID,
                   "The preprocessing recipe (%d×%d×%d) does not match the network's input (%d×%d×%d)",
                   prep->width, prep->height, prep->channels, w, h, c);
      return NULL;
    }
  if (!(ex->calib.temperature >= BT_TEMPERATURE_MIN && ex->calib.temperature <= BT_TEMPERATURE_MAX))
    {
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID, "The model's temperature %g is out of range",
                   ex->calib.temperature);
      return NULL;
    }

  g_autoptr(BtFb) fb = bt_fb_new ();
  Writer wr = { .fb = fb };
  memset (wr.opcode_of, -1, sizeof wr.opcode_of);
  wr.tensors = bt_fb_refs (fb);
  wr.buffers = bt_fb_refs (fb);
  wr.operators = bt_fb_refs (fb);
  wr.opcodes = bt_fb_refs (fb);
  add_buffer (&wr, NULL, 0);   /* buffer 0: the empty one every computed tensor refers to */

  Val in = { .rank = 4, .h = h, .w = w, .c = c };
  int input, logits, output;
  if (transfer)
    {
      if (!emit_backbone (&wr, ex->backbone, ex->backbone_file, ex->tuned, &input, &in, error))
        return NULL;
    }
  else
    input = add_activation (&wr, "image", &in);
  if (!emit_net (&wr, net, k, in, ex->calib.temperature, &logits, &output, error))
    return NULL;

  BtFbNode *sg = bt_fb_table (fb);
  bt_fb_ref (sg, 0, wr.tensors);
  bt_fb_ref (sg, 1, bt_fb_int_vector (fb, (const gint32[]) { input }, 1));
  /* probabilities first (what an interpreter's run (input, output) fills), then the logits
   * the unknown score needs */
  bt_fb_ref (sg, 2, bt_fb_int_vector (fb, (const gint32[]) { output, logits }, 2));
  bt_fb_ref (sg, 3, wr.operators);
  bt_fb_ref (sg, 4, bt_fb_string (fb, "main"));
  BtFbNode *subgraphs = bt_fb_refs (fb);
  bt_fb_push (subgraphs, sg);

  g_autofree char *labels = bt_onnx_labels_json (class_names);
  g_autofree char *pj = bt_onnx_preprocessing_json (prep);
  g_autofree char *preset = g_strdup_printf ("\"%s\"", bt_preset_to_id (bt_net_preset (net)));
  g_autofree char *thresholds = thresholds_json (class_names, &ex->calib, ex->class_thresholds);
  BtFbNode *meta = bt_fb_refs (fb);
  bt_fb_push (meta, metadata_entry (&wr, "labels", labels));
  bt_fb_push (meta, metadata_entry (&wr, "preprocessing", pj));
  bt_fb_push (meta, metadata_entry (&wr, "bottega_preset", preset));
  bt_fb_push (meta, metadata_entry (&wr, "thresholds", thresholds));

  BtFbNode *model = bt_fb_table (fb);
  bt_fb_scalar (model, 0, 4, 3);                  /* schema version */
  bt_fb_ref (model, 1, wr.opcodes);
  bt_fb_ref (model, 2, subgraphs);
  bt_fb_ref (model, 3, bt_fb_string (fb, "Bottega"));
  bt_fb_ref (model, 4, wr.buffers);
  bt_fb_ref (model, 6, meta);
  return bt_fb_finish (fb, model, "TFL3");
}

GBytes *
bt_tflite_export_net (BtNet *net, const char * const *class_names, const BtPreprocess *prep, GError **error)
{
  g_return_val_if_fail (net != NULL && class_names != NULL && prep != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  Extras ex = { .class_thresholds = NULL };
  bt_calibration_init (&ex.calib);
  return export_graph (net, class_names, prep, &ex, error);
}

GBytes *
bt_tflite_export_model_bytes (const BtModel *model, const BtTflite *backbone, GBytes *backbone_file,
                              GError **error)
{
  g_return_val_if_fail (model != NULL && model->net != NULL && model->class_names != NULL, NULL);
  g_return_val_if_fail ((backbone == NULL) == (backbone_file == NULL), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  Extras ex = { .calib = model->calib, .class_thresholds = model->class_thresholds, .backbone = backbone,
                .backbone_file = backbone_file,
                .tuned = model->backbone_weights };
  return export_graph (model->net, (const char * const *) model->class_names, &model->prep, &ex, error);
}

gboolean
bt_tflite_export_model (const BtModel *model, const BtTflite *backbone, GBytes *backbone_file, const char *path,
                        GError **error)
{
  g_return_val_if_fail (model != NULL && model->net != NULL && path != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  g_autoptr(GBytes) bytes = bt_tflite_export_model_bytes (model, backbone, backbone_file, error);
  if (bytes == NULL)
    return FALSE;
  gsize len;
  const char *data = g_bytes_get_data (bytes, &len);
  g_autoptr(GError) local = NULL;
  if (!g_file_set_contents_full (path, data, (gssize) len,
                                 G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE, 0644, &local))
    {
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_IO, "Could not write the TensorFlow Lite file: %s",
                   local->message);
      return FALSE;
    }
  return TRUE;
}
