/* bt-tflite-grad.c: forward with saved activations and backward over the top of a TFLite graph
 * (see bt-tflite-grad.h). Inside, every activation is stored channel-major over the batch,
 * [c][n][h][w], so that a 1×1 convolution of the whole batch is one sgemm (the weights times a
 * c × n·h·w matrix) in both directions, and a depthwise convolution or a pooling is independent
 * per channel (the workers split channels, each owns its weights' gradients: no reduction). */
#include "config.h"

#include <math.h>
#include <string.h>
#include <cblas.h>

#include "engine/bt-tflite-grad.h"
#include "engine/bt-tflite-private.h"
#include "engine/bt-engine-private.h"

#define CORRUPT(error, ...) \
  g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_CORRUPT, __VA_ARGS__)

/* Rank-4 tensors are NCHW in the executor unless one of the two orders is trivial. */
static gboolean
is_transposed (const BtTflTensor *t)
{
  return t->rank == 4 && (gsize) t->shape[1] * t->shape[2] > 1 && t->shape[3] > 1;
}

/* Channels and spatial size per image of a tensor as the executor lays it out physically. */
static void
tensor_chw (const BtTflTensor *t, int *c, gsize *hw)
{
  if (t->rank == 4)
    {
      *c = t->shape[3];
      *hw = (gsize) t->shape[1] * t->shape[2];
    }
  else
    {
      *c = (int) (t->n_elems / (gsize) MAX (t->shape[0], 1));
      *hw = 1;
    }
}

gsize
bt_tflite_tensor_size (const BtTflite *model, int tensor)
{
  g_return_val_if_fail (model != NULL && tensor >= 0 && tensor < model->n_tensors, 0);
  const BtTflTensor *t = &model->tensors[tensor];
  return t->n_elems / (gsize) MAX (t->rank > 0 ? t->shape[0] : 1, 1);
}

void
bt_tflite_to_physical (const BtTflite *model, int tensor, const float *logical, float *out)
{
  g_return_if_fail (model != NULL && tensor >= 0 && tensor < model->n_tensors);
  const BtTflTensor *t = &model->tensors[tensor];
  if (is_transposed (t))
    bt_tflite_nhwc_to_nchw (out, logical, t->shape[0], t->shape[1], t->shape[2], t->shape[3]);
  else
    memcpy (out, logical, t->n_elems * sizeof (float));
}

static gboolean
is_identity_code (int code)
{
  return code == BT_TFL_OP_RESHAPE || code == BT_TFL_OP_SQUEEZE || code == BT_TFL_OP_QUANTIZE
         || code == BT_TFL_OP_DEQUANTIZE || code == BT_TFL_OP_RELU || code == BT_TFL_OP_RELU6;
}

/* Whether op i has a backward pass here. */
static gboolean
has_backward (const BtTflite *m, const BtTflOp *op)
{
  const BtTflTensor *in = &m->tensors[op->inputs[0]], *out = &m->tensors[op->output];
  if (in->rank < 1 || in->shape[0] != 1)
    return FALSE;
  switch (op->code)
    {
    case BT_TFL_OP_CONV_2D:
    case BT_TFL_OP_DEPTHWISE_CONV_2D:
    case BT_TFL_OP_AVERAGE_POOL_2D:
      return TRUE;
    case BT_TFL_OP_ADD:
      {
        const BtTflTensor *b = &m->tensors[op->inputs[1]];
        return b->is_const ? b->n_elems == 1 : b->n_elems == out->n_elems && in->n_elems == out->n_elems;
      }
    case BT_TFL_OP_MEAN:
      return in->rank == 4 && op->mean_mask == 0x6u;
    default:
      if (!is_identity_code (op->code) || in->n_elems != out->n_elems)
        return FALSE;
      if (!is_transposed (in) && !is_transposed (out))
        return TRUE;
      return in->rank == 4 && out->rank == 4 && memcmp (in->shape, out->shape, sizeof in->shape) == 0;
    }
}

/* Tensors that are the only live activation once their producer has run. */
static gboolean
is_articulation (const BtTflite *m, int t)
{
  int p = m->tensors[t].producer;
  for (int u = 0; u < m->n_tensors; u++)
    {
      const BtTflTensor *x = &m->tensors[u];
      if (u == t || !x->is_activation)
        continue;
      if (x->producer <= p && x->last_use > p)
        return FALSE;
    }
  return TRUE;
}

int
bt_tflite_block_cuts (const BtTflite *model, int end_tensor, int *cuts, int max_cuts)
{
  const BtTflite *m = model;
  int n = 0, end_op;

  g_return_val_if_fail (model != NULL && cuts != NULL, 0);
  if (end_tensor < 0 || end_tensor >= m->n_tensors || !m->tensors[end_tensor].is_activation
      || end_tensor == m->input)
    return 0;
  end_op = m->tensors[end_tensor].producer;
  for (int i = end_op; i >= 0 && n < max_cuts; i--)
    {
      const BtTflOp *op = &m->ops[i];
      int x, cut = -1;
      if (!has_backward (m, op))
        break;
      if (op->code != BT_TFL_OP_DEPTHWISE_CONV_2D)
        continue;
      /* the 1×1 expansion before it belongs to the block */
      x = op->inputs[0];
      if (m->tensors[x].producer >= 0)
        {
          const BtTflOp *px = &m->ops[m->tensors[x].producer];
          if (px->code == BT_TFL_OP_CONV_2D && px->cs.kh == 1 && px->cs.kw == 1)
            x = px->inputs[0];
        }
      /* the latest single live activation at or before x (the graph input is one) */
      if (m->tensors[x].producer < 0)
        cut = x;
      for (int p = m->tensors[x].producer; p >= 0; p--)
        {
          int t = m->ops[p].output;
          if (is_articulation (m, t))
            {
              cut = t;
              break;
            }
          if (!has_backward (m, &m->ops[p]))
            break;
        }
      if (cut < 0)
        break;
      /* every operator between the cut and x must have a backward pass as well */
      gboolean ok = TRUE;
      for (int p = m->tensors[cut].producer + 1; p < i && ok; p++)
        ok = has_backward (m, &m->ops[p]);
      if (!ok)
        break;
      if (n == 0 || cuts[n - 1] != cut)
        cuts[n++] = cut;
      i = m->tensors[cut].producer + 1;
    }
  return n;
}

int
bt_tflite_feature_map (const BtTflite *model, int end_tensor, int *c, int *h, int *w)
{
  const BtTflite *m = model;

  g_return_val_if_fail (model != NULL, -1);
  if (end_tensor < 0 || end_tensor >= m->n_tensors || m->tensors[end_tensor].producer < 0)
    return -1;
  const BtTflOp *pool = &m->ops[m->tensors[end_tensor].producer];
  if (pool->n_inputs < 1 || !has_backward (m, pool))
    return -1;
  int t = pool->inputs[0];
  const BtTflTensor *a = &m->tensors[t];
  if (!a->is_activation || a->producer < 0 || a->rank != 4 || a->shape[0] != 1 ||
      (gsize) a->shape[1] * a->shape[2] <= 1)
    return -1;
  *c = a->shape[3];
  *h = a->shape[1];
  *w = a->shape[2];
  return t;
}

/* ------------------------------------------------------------------------------------------ */

typedef struct {
  const BtTflOp *op;
  int            code;
  int            in0, in1, out;   /* local activation indices; in1 -1 when absent or constant */
  float          add_const;
  BtConvShape    cs;              /* geometry for one image (n = 1) */
  gsize          w_off, n_w, b_off, n_b;
  int            index;           /* operator index in the model */
} GradOp;

typedef struct {
  int   c;
  gsize hw;      /* per image */
} Act;

struct _BtTflTrain {
  BtTflite *model;
  int       max_batch, n;
  int       n_ops;
  GradOp   *ops;
  int       n_acts;
  Act      *acts;
  float   **act, **grad;    /* [c][n][hw] each, max_batch images */
  gboolean *grad_set;
  float    *scratch;        /* max activation, for accumulation and layout changes */
  float    *scratch2;
  float    *workspace;      /* a general convolution's im2col columns */
  float    *ones;           /* ones_len ones: the 1×1 bias gradient's sgemv */
  gsize     ones_len;
  float    *params, *grads;
  gsize     n_params;
  gsize     in_size, out_size;
};

void
bt_tfl_train_free (BtTflTrain *t)
{
  if (t == NULL)
    return;
  for (int i = 0; t->act != NULL && i < t->n_acts; i++)
    {
      g_free (t->act[i]);
      g_free (t->grad[i]);
    }
  g_free (t->act);
  g_free (t->grad);
  g_free (t->grad_set);
  g_free (t->acts);
  g_free (t->ops);
  g_free (t->scratch);
  g_free (t->scratch2);
  g_free (t->workspace);
  g_free (t->ones);
  g_free (t->params);
  g_free (t->grads);
  bt_tflite_unref (t->model);
  g_free (t);
}

static int
local_of (const int *map, int tensor)
{
  return tensor >= 0 ? map[tensor] : -1;
}

BtTflTrain *
bt_tfl_train_new (BtTflite *model, int cut_tensor, int end_tensor, int max_batch, GError **error)
{
  const BtTflite *m = model;
  g_autofree int *map = NULL;
  BtTflTrain *t;
  int first, last;
  gsize max_act = 1;

  g_return_val_if_fail (model != NULL && max_batch >= 1, NULL);
  if (cut_tensor < 0 || cut_tensor >= m->n_tensors || end_tensor < 0 || end_tensor >= m->n_tensors
      || !m->tensors[cut_tensor].is_activation || !m->tensors[end_tensor].is_activation
      || m->tensors[end_tensor].producer <= m->tensors[cut_tensor].producer)
    {
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID,
                   "The backbone cannot be cut there for fine-tuning");
      return NULL;
    }
  first = m->tensors[cut_tensor].producer + 1;
  last = m->tensors[end_tensor].producer;
  map = g_new (int, m->n_tensors);
  for (int i = 0; i < m->n_tensors; i++)
    map[i] = -1;

  t = g_new0 (BtTflTrain, 1);
  t->model = bt_tflite_ref (model);
  t->max_batch = max_batch;
  t->ops = g_new0 (GradOp, last - first + 1);
  t->acts = g_new0 (Act, last - first + 2);
  map[cut_tensor] = t->n_acts++;
  tensor_chw (&m->tensors[cut_tensor], &t->acts[0].c, &t->acts[0].hw);
  for (int i = first; i <= last; i++)
    {
      const BtTflOp *op = &m->ops[i];
      GradOp *g = &t->ops[t->n_ops++];
      if (!has_backward (m, op))
        {
          g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_UNSUPPORTED,
                       "The backbone's operator %s cannot be fine-tuned", bt_tflite_op_name (op->code));
          goto fail;
        }
      g->op = op;
      g->index = i;
      g->code = op->code;
      g->in0 = local_of (map, op->inputs[0]);
      g->in1 = op->n_inputs > 1 && op->code == BT_TFL_OP_ADD ? local_of (map, op->inputs[1]) : -1;
      if (op->code == BT_TFL_OP_ADD && m->tensors[op->inputs[1]].is_const)
        g->add_const = m->tensors[op->inputs[1]].data[0];
      if (g->in0 < 0 || (op->code == BT_TFL_OP_ADD && !m->tensors[op->inputs[1]].is_const && g->in1 < 0))
        {
          g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID,
                       "The backbone's top reads an activation from below the cut");
          goto fail;
        }
      g->cs = op->cs;
      g->out = map[op->output] = t->n_acts++;
      tensor_chw (&m->tensors[op->output], &t->acts[g->out].c, &t->acts[g->out].hw);
      if (op->code == BT_TFL_OP_CONV_2D || op->code == BT_TFL_OP_DEPTHWISE_CONV_2D)
        {
          g->w_off = t->n_params;
          g->n_w = (gsize) op->cs.oc * (op->cs.c / op->cs.groups) * op->cs.kh * op->cs.kw;
          g->b_off = g->w_off + g->n_w;
          g->n_b = (gsize) op->cs.oc;
          t->n_params += g->n_w + g->n_b;
        }
    }

  t->act = g_new0 (float *, t->n_acts);
  t->grad = g_new0 (float *, t->n_acts);
  t->grad_set = g_new0 (gboolean, t->n_acts);
  for (int a = 0; a < t->n_acts; a++)
    {
      gsize len = (gsize) t->acts[a].c * t->acts[a].hw * max_batch;
      max_act = MAX (max_act, len);
      t->act[a] = g_try_new (float, len);
      t->grad[a] = g_try_new (float, len);
      if (t->act[a] == NULL || t->grad[a] == NULL)
        goto oom;
    }
  gsize ws = 1;
  for (int k = 0; k < t->n_ops; k++)
    if (t->ops[k].code == BT_TFL_OP_CONV_2D && !t->ops[k].op->pointwise)
      {
        BtConvShape s = t->ops[k].cs;
        s.n = max_batch;
        ws = MAX (ws, bt_conv2d_workspace_size (&s));
      }
  t->workspace = g_try_new (float, ws);
  t->scratch = g_try_new (float, max_act);
  t->scratch2 = g_try_new (float, max_act);
  t->params = g_try_new (float, MAX (t->n_params, 1));
  t->grads = g_try_new0 (float, MAX (t->n_params, 1));
  if (t->scratch == NULL || t->scratch2 == NULL || t->workspace == NULL || t->params == NULL || t->grads == NULL)
    goto oom;
  for (int k = 0; k < t->n_ops; k++)
    if (t->ops[k].n_w > 0)
      {
        memcpy (t->params + t->ops[k].w_off, t->ops[k].op->w, t->ops[k].n_w * sizeof (float));
        memcpy (t->params + t->ops[k].b_off, t->ops[k].op->b, t->ops[k].n_b * sizeof (float));
      }
  t->in_size = (gsize) t->acts[0].c * t->acts[0].hw;
  t->out_size = (gsize) t->acts[t->n_acts - 1].c * t->acts[t->n_acts - 1].hw;
  if (map[end_tensor] != t->n_acts - 1)
    {
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID,
                   "The backbone cannot be cut there for fine-tuning");
      goto fail;
    }
  return t;

oom:
  g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_NO_MEMORY,
               "Not enough memory to fine-tune the backbone");
fail:
  bt_tfl_train_free (t);
  return NULL;
}

gsize bt_tfl_train_in_size (const BtTflTrain *t) { return t->in_size; }
gsize bt_tfl_train_out_size (const BtTflTrain *t) { return t->out_size; }

float *
bt_tfl_train_params (BtTflTrain *t, gsize *n)
{
  if (n)
    *n = t->n_params;
  return t->params;
}

float *
bt_tfl_train_grads (BtTflTrain *t, gsize *n)
{
  if (n)
    *n = t->n_params;
  return t->grads;
}

void
bt_tfl_train_zero_grads (BtTflTrain *t)
{
  memset (t->grads, 0, MAX (t->n_params, 1) * sizeof (float));
}

int
bt_tfl_train_n_weighted (const BtTflTrain *t)
{
  int n = 0;
  for (int k = 0; k < t->n_ops; k++)
    n += t->ops[k].n_w > 0;
  return n;
}

int
bt_tfl_train_weighted (const BtTflTrain *t, int i, const float **w, gsize *n_w, const float **b,
                       gsize *n_b)
{
  for (int k = 0; k < t->n_ops; k++)
    if (t->ops[k].n_w > 0 && i-- == 0)
      {
        *w = t->params + t->ops[k].w_off;
        *n_w = t->ops[k].n_w;
        *b = t->params + t->ops[k].b_off;
        *n_b = t->ops[k].n_b;
        return t->ops[k].index;
      }
  g_return_val_if_reached (-1);
}

gboolean
bt_tflite_op_weight_shape (const BtTflite *model, int op, int shape[4], gsize *n_b)
{
  g_return_val_if_fail (model != NULL, FALSE);
  if (op < 0 || op >= model->n_ops || model->ops[op].w == NULL
      || (model->ops[op].code != BT_TFL_OP_CONV_2D && model->ops[op].code != BT_TFL_OP_DEPTHWISE_CONV_2D))
    return FALSE;
  const BtConvShape *s = &model->ops[op].cs;
  shape[0] = s->oc;
  shape[1] = s->c / s->groups;
  shape[2] = s->kh;
  shape[3] = s->kw;
  *n_b = (gsize) s->oc;
  return TRUE;
}

gboolean
bt_tflite_set_op_weights (BtTflite *model, int op, const float *w, gsize n_w, const float *b,
                          gsize n_b, GError **error)
{
  int shape[4];
  gsize nb;
  g_return_val_if_fail (model != NULL && w != NULL && b != NULL, FALSE);
  if (!bt_tflite_op_weight_shape (model, op, shape, &nb)
      || n_w != (gsize) shape[0] * shape[1] * shape[2] * shape[3] || n_b != nb)
    return CORRUPT (error, "The fine-tuned weights do not fit the backbone's operator %d", op), FALSE;
  for (gsize i = 0; i < n_w; i++)
    if (!isfinite (w[i]))
      return CORRUPT (error, "The fine-tuned weights hold a value that is not a finite number"), FALSE;
  for (gsize i = 0; i < n_b; i++)
    if (!isfinite (b[i]))
      return CORRUPT (error, "The fine-tuned weights hold a value that is not a finite number"), FALSE;
  memcpy (model->ops[op].w, w, n_w * sizeof (float));
  memcpy (model->ops[op].b, b, n_b * sizeof (float));
  model->weights_changed = TRUE;   /* no more integer path: its weights are the file's */
  return TRUE;
}

gboolean
bt_tflite_apply_weights (BtTflite *model, const GArray *weights, GError **error)
{
  g_return_val_if_fail (model != NULL, FALSE);
  for (guint i = 0; weights != NULL && i < weights->len; i++)
    {
      const BtBackboneWeights *bw = &g_array_index (weights, BtBackboneWeights, i);
      int shape[4];
      gsize nb;
      if (!bt_tflite_op_weight_shape (model, bw->op, shape, &nb) || memcmp (shape, bw->shape, sizeof shape) != 0)
        return CORRUPT (error, "The fine-tuned weights do not fit the backbone's operator %d", bw->op), FALSE;
      if (!bt_tflite_set_op_weights (model, bw->op, bw->w, (gsize) shape[0] * shape[1] * shape[2] * shape[3],
                                     bw->b, nb, error))
        return FALSE;
    }
  return TRUE;
}

/* ------------------------------------------------------------------------------------------ */
/* Kernels on the channel-major layout [c][n][hw]                                              */

typedef struct {
  BtTflTrain   *t;
  const GradOp *g;
  const float  *in, *d_out, *w;
  float        *out, *d_in, *d_w, *d_b;
} Job;

/* ---- Depthwise 3×3 on zero-padded planes: no bounds tests inside the loops. The forward pass
 * is the executor's plane kernel (bt_tfl_dw3x3_plane); the backward is here. The padded copy
 * covers every window (dw3x3). */

/* Adds this plane's weight and bias gradients into dk[9], db, and k × g into dpad. */
static void
dw3x3_backward_plane (float *restrict dpad, float *dk, float *db, const float *restrict g,
                      const float *restrict pad, const BtConvShape *s, const float *k)
{
  const int pw = s->w + s->pad_left + s->pad_right, sw = s->stride_w;
  float acc[9] = { 0 }, sb = 0;
  for (int oy = 0; oy < s->oh; oy++)
    {
      const gsize base = (gsize) oy * s->stride_h * pw;
      const float *restrict r0 = pad + base, *restrict r1 = r0 + pw, *restrict r2 = r1 + pw;
      const float *restrict gr = g + (gsize) oy * s->ow;
      for (int ox = 0; ox < s->ow; ox++)
        {
          const int x = ox * sw;
          const float gv = gr[ox];
          sb += gv;
          acc[0] += gv * r0[x]; acc[1] += gv * r0[x + 1]; acc[2] += gv * r0[x + 2];
          acc[3] += gv * r1[x]; acc[4] += gv * r1[x + 1]; acc[5] += gv * r1[x + 2];
          acc[6] += gv * r2[x]; acc[7] += gv * r2[x + 1]; acc[8] += gv * r2[x + 2];
        }
      if (dpad != NULL)
        for (int ky = 0; ky < 3; ky++)
          {
            float *restrict dr = dpad + base + (gsize) ky * pw;
            const float k0 = k[ky * 3], k1 = k[ky * 3 + 1], k2 = k[ky * 3 + 2];
            for (int ox = 0; ox < s->ow; ox++)
              {
                const int x = ox * sw;
                const float gv = gr[ox];
                dr[x] += k0 * gv;
                dr[x + 1] += k1 * gv;
                dr[x + 2] += k2 * gv;
              }
          }
    }
  for (int i = 0; i < 9; i++)
    dk[i] += acc[i];
  *db += sb;
}

static gsize
padded_size (const BtConvShape *s)
{
  return (gsize) (s->h + s->pad_top + s->pad_bottom) * (s->w + s->pad_left + s->pad_right);
}

/* Depthwise: output channel o reads input channel o / mult; each channel is a batch of n
 * one-channel images (3×3 on padded planes, other windows through the engine's kernels). */
static void
dw_forward_range (gpointer ctx, gsize o0, gsize o1)
{
  Job *j = ctx;
  const BtConvShape *s = &j->g->cs;
  const int mult = s->oc / s->c, n = j->t->n;
  const gsize HW = (gsize) s->h * s->w, P = (gsize) s->oh * s->ow;
  BtConvShape one = *s;
  one.n = n;
  one.c = one.oc = one.groups = 1;
  if (j->g->op->dw3x3)
    {
      g_autofree float *pad = g_new (float, padded_size (s));
      for (gsize o = o0; o < o1; o++)
        for (int i = 0; i < n; i++)
          {
            bt_tfl_pad_plane (pad, j->in + ((o / mult) * n + i) * HW, s);
            bt_tfl_dw3x3_plane (j->out + (o * n + i) * P, pad, s, j->w + o * 9, j->w[j->g->n_w + o]);
          }
      return;
    }
  for (gsize o = o0; o < o1; o++)
    bt_dwconv2d_forward (j->out + o * n * P, j->in + (o / mult) * n * HW,
                         j->w + o * s->kh * s->kw, j->w + j->g->n_w + o, &one);
}

static void
dw3x3_backward_range (Job *j, gsize c0, gsize c1)
{
  const BtConvShape *s = &j->g->cs;
  const int mult = s->oc / s->c, n = j->t->n;
  const gsize HW = (gsize) s->h * s->w, P = (gsize) s->oh * s->ow, PP = padded_size (s);
  const int pw = s->w + s->pad_left + s->pad_right;
  g_autofree float *pad = g_new (float, PP), *dpad = g_new (float, PP);
  for (gsize c = c0; c < c1; c++)
    for (int i = 0; i < n; i++)
      {
        bt_tfl_pad_plane (pad, j->in + (c * n + i) * HW, s);
        memset (dpad, 0, sizeof (float) * PP);
        for (int mi = 0; mi < mult; mi++)
          {
            gsize o = c * mult + mi;
            dw3x3_backward_plane (j->d_in ? dpad : NULL, j->d_w + o * 9, j->d_b + o, j->d_out + (o * n + i) * P,
                                  pad, s, j->w + o * 9);
          }
        if (j->d_in != NULL)
          for (int y = 0; y < s->h; y++)
            memcpy (j->d_in + (c * n + i) * HW + (gsize) y * s->w,
                    dpad + (gsize) (y + s->pad_top) * pw + s->pad_left, sizeof (float) * s->w);
      }
}

static void
dw_backward_range (gpointer ctx, gsize c0, gsize c1)
{
  Job *j = ctx;
  const BtConvShape *s = &j->g->cs;
  const int mult = s->oc / s->c, n = j->t->n;
  const gsize HW = (gsize) s->h * s->w, P = (gsize) s->oh * s->ow, K = (gsize) s->kh * s->kw;
  BtConvShape one = *s;
  one.n = n;
  one.c = one.oc = one.groups = 1;
  if (j->g->op->dw3x3)
    {
      dw3x3_backward_range (j, c0, c1);
      return;
    }
  /* per input channel, so that its multiplier's outputs add into one d_in plane */
  for (gsize c = c0; c < c1; c++)
    for (int mi = 0; mi < mult; mi++)
      {
        gsize o = c * mult + mi;
        float *din = j->d_in ? j->d_in + c * n * HW : NULL;
        float *tmp = din && mi > 0 ? j->t->scratch2 + c * n * HW : din;
        bt_dwconv2d_backward (tmp, j->d_w + o * K, j->d_b + o, j->d_out + o * n * P,
                              j->in + c * n * HW, j->w + o * K, &one);
        if (tmp != din)
          for (gsize i = 0; i < n * HW; i++)
            din[i] += tmp[i];
      }
}

/* [c][n][hw] ↔ [n][c][hw] */
static void
to_nchw (float *dst, const float *src, int c, int n, gsize hw)
{
  for (int ci = 0; ci < c; ci++)
    for (int i = 0; i < n; i++)
      memcpy (dst + ((gsize) i * c + ci) * hw, src + ((gsize) ci * n + i) * hw, hw * sizeof (float));
}

static void
to_cnhw (float *dst, const float *src, int c, int n, gsize hw)
{
  for (int i = 0; i < n; i++)
    for (int ci = 0; ci < c; ci++)
      memcpy (dst + ((gsize) ci * n + i) * hw, src + ((gsize) i * c + ci) * hw, hw * sizeof (float));
}

static void
conv_forward (BtTflTrain *t, const GradOp *g, const float *in, float *out)
{
  const BtConvShape *s = &g->cs;
  const float *w = t->params + g->w_off, *b = t->params + g->b_off;
  const int n = t->n;
  const gsize N = (gsize) n * s->oh * s->ow;

  if (g->op->pointwise)
    {
      for (int k = 0; k < s->oc; k++)
        for (gsize p = 0; p < N; p++)
          out[k * N + p] = b[k];
      /* bt_sgemm: OpenBLAS is single-threaded, big products go over the engine's threads */
      bt_sgemm (CblasNoTrans, CblasNoTrans, s->oc, (int) N, s->c, 1.f,
                w, s->c, in, (int) N, 1.f, out, (int) N);
      return;
    }
  /* the general convolution (the stem, strided 1×1): through NCHW and the engine's kernel */
  BtConvShape bs = *s;
  bs.n = n;
  g_autofree float *x = g_new (float, (gsize) n * s->c * s->h * s->w);
  g_autofree float *y = g_new (float, (gsize) n * s->oc * s->oh * s->ow);
  to_nchw (x, in, s->c, n, (gsize) s->h * s->w);
  bt_conv2d_forward (y, x, w, b, &bs, t->workspace);
  to_cnhw (out, y, s->oc, n, (gsize) s->oh * s->ow);
}

static void
conv_backward (BtTflTrain *t, const GradOp *g, const float *in, const float *d_out, float *d_in)
{
  const BtConvShape *s = &g->cs;
  const float *w = t->params + g->w_off;
  float *d_w = t->grads + g->w_off, *d_b = t->grads + g->b_off;
  const int n = t->n;
  const gsize N = (gsize) n * s->oh * s->ow;

  if (g->op->pointwise)
    {
      /* the bias gradient: row sums of d_out, as a matrix-vector product with ones */
      if (t->ones_len < N)
        {
          g_free (t->ones);
          t->ones = g_new (float, N);
          for (gsize p = 0; p < N; p++)
            t->ones[p] = 1.f;
          t->ones_len = N;
        }
      cblas_sgemv (CblasRowMajor, CblasNoTrans, s->oc, (int) N, 1.f, d_out, (int) N, t->ones, 1, 1.f, d_b, 1);
      bt_sgemm (CblasNoTrans, CblasTrans, s->oc, s->c, (int) N, 1.f,
                d_out, (int) N, in, (int) N, 1.f, d_w, s->c);
      if (d_in != NULL)
        bt_sgemm (CblasTrans, CblasNoTrans, s->c, (int) N, s->oc, 1.f,
                  w, s->c, d_out, (int) N, 0.f, d_in, (int) N);
      return;
    }
  BtConvShape bs = *s;
  bs.n = n;
  g_autofree float *x = g_new (float, (gsize) n * s->c * s->h * s->w);
  g_autofree float *dy = g_new (float, (gsize) n * s->oc * s->oh * s->ow);
  g_autofree float *dx = d_in ? g_new (float, (gsize) n * s->c * s->h * s->w) : NULL;
  to_nchw (x, in, s->c, n, (gsize) s->h * s->w);
  to_nchw (dy, d_out, s->oc, n, (gsize) s->oh * s->ow);
  bt_conv2d_backward (dx, d_w, d_b, dy, x, w, &bs, t->workspace);
  if (d_in != NULL)
    to_cnhw (d_in, dx, s->c, n, (gsize) s->h * s->w);
}

static void
clamp_forward (float *x, gsize len, float lo, float hi)
{
  if (lo == -INFINITY && hi == INFINITY)
    return;
  for (gsize i = 0; i < len; i++)
    {
      float v = x[i];
      v = v > lo ? v : lo;
      x[i] = v < hi ? v : hi;
    }
}

/* The clamp's derivative from its output: 1 strictly inside the range, 0 where it saturated. */
static void
clamp_backward (float *g, const float *y, gsize len, float lo, float hi)
{
  if (lo == -INFINITY && hi == INFINITY)
    return;
  for (gsize i = 0; i < len; i++)
    if (!(y[i] > lo && y[i] < hi))
      g[i] = 0.f;
}

static void
op_forward (BtTflTrain *t, const GradOp *g)
{
  const float *x = t->act[g->in0];
  float *y = t->act[g->out];
  const Act *ao = &t->acts[g->out];
  const gsize len = (gsize) ao->c * ao->hw * t->n;

  switch (g->code)
    {
    case BT_TFL_OP_CONV_2D:
      conv_forward (t, g, x, y);
      break;
    case BT_TFL_OP_DEPTHWISE_CONV_2D:
      {
        Job j = { .t = t, .g = g, .in = x, .out = y, .w = t->params + g->w_off };
        bt_parallel_for ((gsize) g->cs.oc, 8, dw_forward_range, &j);
        break;
      }
    case BT_TFL_OP_AVERAGE_POOL_2D:
      {
        BtConvShape s = g->cs;   /* every plane alone: n·c planes of one channel */
        s.c = s.oc = g->cs.c * t->n;
        s.n = 1;
        bt_avgpool2d_forward (y, x, &s);
        break;
      }
    case BT_TFL_OP_MEAN:
      bt_gap_forward (y, x, 1, t->acts[g->in0].c * t->n, 1, (int) t->acts[g->in0].hw);
      break;
    case BT_TFL_OP_ADD:
      if (g->in1 >= 0)
        bt_add_forward (y, x, t->act[g->in1], len);
      else
        for (gsize i = 0; i < len; i++)
          y[i] = x[i] + g->add_const;
      break;
    default:   /* layout-free: a copy */
      memcpy (y, x, len * sizeof (float));
      break;
    }
  clamp_forward (y, len, g->op->lo, g->op->hi);
}

/* Gradient into activation a: the first writer stores, later ones add. */
static float *
grad_target (BtTflTrain *t, int a, gboolean *accumulate)
{
  *accumulate = t->grad_set[a];
  t->grad_set[a] = TRUE;
  return *accumulate ? t->scratch : t->grad[a];
}

static void
grad_finish (BtTflTrain *t, int a, gboolean accumulate)
{
  if (!accumulate)
    return;
  const gsize len = (gsize) t->acts[a].c * t->acts[a].hw * t->n;
  float *dst = t->grad[a];
  for (gsize i = 0; i < len; i++)
    dst[i] += t->scratch[i];
}

static void
op_backward (BtTflTrain *t, const GradOp *g, gboolean need_d_in)
{
  float *dy = t->grad[g->out];
  const float *x = t->act[g->in0];
  const Act *ao = &t->acts[g->out];
  const gsize len = (gsize) ao->c * ao->hw * t->n;
  gboolean acc = FALSE;
  float *dx;

  clamp_backward (dy, t->act[g->out], len, g->op->lo, g->op->hi);
  if (g->code == BT_TFL_OP_ADD && g->in1 >= 0)
    {
      dx = grad_target (t, g->in1, &acc);
      memcpy (dx, dy, len * sizeof (float));
      grad_finish (t, g->in1, acc);
    }
  if (!need_d_in && g->n_w == 0)
    return;
  dx = need_d_in ? grad_target (t, g->in0, &acc) : NULL;
  switch (g->code)
    {
    case BT_TFL_OP_CONV_2D:
      conv_backward (t, g, x, dy, dx);
      break;
    case BT_TFL_OP_DEPTHWISE_CONV_2D:
      {
        Job j = { .t = t, .g = g, .in = x, .d_out = dy, .d_in = dx, .w = t->params + g->w_off,
                  .d_w = t->grads + g->w_off, .d_b = t->grads + g->b_off };
        /* d_in accumulates through scratch2 for multipliers > 1, so dx must not be it */
        bt_parallel_for ((gsize) g->cs.c, 8, dw_backward_range, &j);
        break;
      }
    case BT_TFL_OP_AVERAGE_POOL_2D:
      {
        BtConvShape s = g->cs;
        s.c = s.oc = g->cs.c * t->n;
        s.n = 1;
        bt_avgpool2d_backward (dx, dy, &s);
        break;
      }
    case BT_TFL_OP_MEAN:
      bt_gap_backward (dx, dy, 1, t->acts[g->in0].c * t->n, 1, (int) t->acts[g->in0].hw);
      break;
    default:   /* ADD's first input and the copies */
      memcpy (dx, dy, len * sizeof (float));
      break;
    }
  if (dx != NULL)
    grad_finish (t, g->in0, acc);
}

void
bt_tfl_train_forward (BtTflTrain *t, const float *in, int n, float *out)
{
  g_return_if_fail (t != NULL && in != NULL && out != NULL && n >= 1 && n <= t->max_batch);
  const Act *a0 = &t->acts[0], *ae = &t->acts[t->n_acts - 1];
  t->n = n;
  to_cnhw (t->act[0], in, a0->c, n, a0->hw);
  for (int k = 0; k < t->n_ops; k++)
    op_forward (t, &t->ops[k]);
  to_nchw (out, t->act[t->n_acts - 1], ae->c, n, ae->hw);
}

void
bt_tfl_train_backward (BtTflTrain *t, const float *d_out, float *d_in)
{
  g_return_if_fail (t != NULL && d_out != NULL && t->n >= 1);
  const Act *a0 = &t->acts[0], *ae = &t->acts[t->n_acts - 1];
  memset (t->grad_set, 0, sizeof (gboolean) * t->n_acts);
  to_cnhw (t->grad[t->n_acts - 1], d_out, ae->c, t->n, ae->hw);
  t->grad_set[t->n_acts - 1] = TRUE;
  for (int k = t->n_ops - 1; k >= 0; k--)
    {
      const GradOp *g = &t->ops[k];
      /* below the first weighted operator no gradient is needed unless the caller wants d_in */
      gboolean need = d_in != NULL || g->in0 != 0;
      if (!t->grad_set[g->out])
        continue;   /* nothing above reads it */
      op_backward (t, g, need);
    }
  if (d_in != NULL)
    {
      if (t->grad_set[0])
        to_nchw (d_in, t->grad[0], a0->c, t->n, a0->hw);
      else
        memset (d_in, 0, sizeof (float) * t->n * t->in_size);
    }
}
