/* bt-net.c: the network: presets built as a small layer graph (sequential, with residual adds),
 * one parameter block and one gradient block, per-batch activation arenas, forward and backward. */
#include "engine/bt-engine-private.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#define MAX_PARAMS       (((gsize) 64) << 20)   /* 256 MiB of float32 weights */
#define MAX_ACT_FLOATS   (((gsize) 384) << 20)  /* 1.5 GiB of activations */
#define WORKSPACE_CAP    (((gsize) 6) << 20)    /* im2col floats per conv call */
#define INFER_CHUNK      64                              /* inference runs in sub-batches */
#define MAX_BATCH        65536
#define BN_MOMENTUM      0.1f
#define BN_EPS           1e-5f

/* ---- Small enums and the preprocessing recipe ---- */

static const char *preset_ids[BT_N_PRESETS] = { "mlp", "small-cnn", "deeper-cnn", "mini-resnet", "transfer" };
static const char *preset_titles[BT_N_PRESETS] = { "MLP", "Small CNN", "Deeper CNN", "Mini ResNet", "Transfer head" };

const char *
bt_preset_to_id (BtPreset preset)
{
  g_return_val_if_fail (preset < BT_N_PRESETS, NULL);
  return preset_ids[preset];
}

gboolean
bt_preset_from_id (const char *id, BtPreset *out)
{
  g_return_val_if_fail (out != NULL, FALSE);
  for (int i = 0; id != NULL && i < BT_N_PRESETS; i++)
    if (strcmp (id, preset_ids[i]) == 0)
      {
        *out = (BtPreset) i;
        return TRUE;
      }
  return FALSE;
}

const char *
bt_preset_title (BtPreset preset)
{
  g_return_val_if_fail (preset < BT_N_PRESETS, NULL);
  return preset_titles[preset];
}

void
bt_preset_default_input (BtPreset preset, int *width, int *height, int *channels)
{
  /* MLP / Small CNN: 28×28 grey (MNIST-like); Deeper CNN: 64×64 RGB; Mini ResNet: 32×32 RGB
   * (CIFAR-like); transfer: a 1×1×1024 embedding (the backbone decides the real width). */
  static const int def[BT_N_PRESETS][3] = {
    { 28, 28, 1 }, { 28, 28, 1 }, { 64, 64, 3 }, { 32, 32, 3 }, { 1, 1, 1024 },
  };
  g_return_if_fail (preset < BT_N_PRESETS);
  if (width) *width = def[preset][0];
  if (height) *height = def[preset][1];
  if (channels) *channels = def[preset][2];
}

static const char *resize_ids[] = { "squash", "center-crop", "pad" };

const char *
bt_resize_mode_to_string (BtResizeMode mode)
{
  g_return_val_if_fail ((guint) mode < G_N_ELEMENTS (resize_ids), NULL);
  return resize_ids[mode];
}

gboolean
bt_resize_mode_from_string (const char *s, BtResizeMode *out)
{
  g_return_val_if_fail (out != NULL, FALSE);
  for (guint i = 0; s != NULL && i < G_N_ELEMENTS (resize_ids); i++)
    if (strcmp (s, resize_ids[i]) == 0)
      {
        *out = (BtResizeMode) i;
        return TRUE;
      }
  return FALSE;
}

void
bt_preprocess_init_default (BtPreprocess *p, int width, int height, int channels)
{
  g_return_if_fail (p != NULL);
  memset (p, 0, sizeof *p);
  p->width = width;
  p->height = height;
  p->channels = channels;
  p->resize = BT_RESIZE_SQUASH;
  p->scale = 1.0f / 255.0f;
  for (int c = 0; c < 3; c++)
    {
      p->mean[c] = 0.0f;
      p->std[c] = 1.0f;
    }
}

/* ---- Threads ---- */

/* The engine's pool does all the threading; OpenBLAS stays single-threaded (bt-parallel.c). */
void
bt_engine_set_threads (int n)
{
  if (n <= 0)
    n = (int) g_get_num_processors ();
  bt_parallel_set_threads (CLAMP (n, 1, 256));
}

int
bt_engine_get_threads (void)
{
  return bt_parallel_get_threads ();
}

/* ---- Building ---- */

static gsize
layer_out_size (const BtLayer *l)
{
  return (gsize) l->c * l->h * l->w;
}

static gsize
layer_in_size (const BtLayer *l)
{
  return (gsize) l->in_c * l->in_h * l->in_w;
}

typedef struct {
  BtNet  *net;
  gsize   n_params, n_buffers;
  GError *error;
} Builder;

static int
last_index (Builder *b)
{
  return (int) b->net->layers->len - 1;
}

static BtLayer *
push (Builder *b, BtLayerKind kind, const char *name, int src)
{
  BtNet *net = b->net;
  BtLayer l = { .kind = kind, .src = src, .src2 = -1 };
  g_strlcpy (l.name, name, sizeof l.name);
  if (src < 0)
    {
      l.in_c = net->in_c; l.in_h = net->in_h; l.in_w = net->in_w;
    }
  else
    {
      BtLayer *s = bt_net_layer (net, src);
      l.in_c = s->c; l.in_h = s->h; l.in_w = s->w;
      s->n_consumers++;
    }
  l.c = l.in_c; l.h = l.in_h; l.w = l.in_w;
  g_array_append_val (net->layers, l);
  return bt_net_layer (net, net->layers->len - 1);
}

static void
add_params (Builder *b, BtLayer *l, gsize w_len, gsize b_len)
{
  l->w_off = b->n_params;
  l->w_len = w_len;
  b->n_params += w_len;
  l->b_off = b->n_params;
  l->b_len = b_len;
  b->n_params += b_len;
}

/* Square kernel, same padding on every side. Returns the layer index or -1 on error. */
static int
add_conv (Builder *b, const char *name, int src, int oc, int k, int stride, int pad,
          gboolean bias, BtActivation act)
{
  if (b->error)
    return -1;
  BtLayer *l = push (b, BT_LAYER_CONV, name, src);
  BtConvShape s;
  if (!bt_conv_shape_init (&s, 1, l->in_c, l->in_h, l->in_w, oc, k, k, stride, stride,
                           pad, pad, pad, pad, 1, &b->error))
    return -1;
  l->kh = l->kw = k;
  l->sh = l->sw = stride;
  l->pt = l->pl = l->pb = l->pr = pad;
  l->groups = 1;
  l->c = oc; l->h = s.oh; l->w = s.ow;
  l->act = act;
  add_params (b, l, (gsize) oc * l->in_c * k * k, bias ? (gsize) oc : 0);
  return last_index (b);
}

static int
add_pool (Builder *b, BtLayerKind kind, const char *name, int src, int k, int stride)
{
  if (b->error)
    return -1;
  BtLayer *l = push (b, kind, name, src);
  BtConvShape s;
  if (!bt_conv_shape_init (&s, 1, l->in_c, l->in_h, l->in_w, l->in_c, k, k, stride, stride,
                           0, 0, 0, 0, 1, &b->error))
    return -1;
  l->kh = l->kw = k;
  l->sh = l->sw = stride;
  l->groups = 1;
  l->h = s.oh; l->w = s.ow;
  return last_index (b);
}

static int
add_simple (Builder *b, BtLayerKind kind, const char *name, int src)
{
  if (b->error)
    return -1;
  BtLayer *l = push (b, kind, name, src);
  if (kind == BT_LAYER_GAP)
    l->h = l->w = 1;
  else if (kind == BT_LAYER_FLATTEN)
    {
      l->c = l->in_c * l->in_h * l->in_w;
      l->h = l->w = 1;
    }
  return last_index (b);
}

static int
add_dense (Builder *b, const char *name, int src, int units, BtActivation act)
{
  if (b->error)
    return -1;
  BtLayer *l = push (b, BT_LAYER_DENSE, name, src);
  gsize in = layer_in_size (l);
  l->c = units; l->h = l->w = 1;
  l->act = act;
  if (in * units > MAX_PARAMS)
    {
      g_set_error (&b->error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_NO_MEMORY,
                   "Layer “%s” would need %" G_GSIZE_FORMAT " weights; use a smaller input size",
                   name, in * units);
      return -1;
    }
  add_params (b, l, in * units, units);
  return last_index (b);
}

static int
add_dropout (Builder *b, const char *name, int src, float p)
{
  if (b->error)
    return -1;
  BtLayer *l = push (b, BT_LAYER_DROPOUT, name, src);
  l->p = p;
  return last_index (b);
}

static int
add_bn (Builder *b, const char *name, int src, BtActivation act)
{
  if (b->error)
    return -1;
  BtLayer *l = push (b, BT_LAYER_BATCHNORM, name, src);
  l->act = act;
  add_params (b, l, l->c, l->c);
  l->buf_off = b->n_buffers;
  b->n_buffers += 2 * (gsize) l->c;
  return last_index (b);
}

static int
add_add (Builder *b, const char *name, int src, int src2, BtActivation act)
{
  if (b->error)
    return -1;
  BtLayer *l = push (b, BT_LAYER_ADD, name, src);
  BtLayer *o = bt_net_layer (b->net, src2);
  if (o->c != l->in_c || o->h != l->in_h || o->w != l->in_w)
    {
      g_set_error (&b->error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID,
                   "Residual add “%s” joins different shapes", name);
      return -1;
    }
  o->n_consumers++;
  l = bt_net_layer (b->net, b->net->layers->len - 1);
  l->src2 = src2;
  l->act = act;
  return last_index (b);
}

static gboolean
can_pool (Builder *b)
{
  BtLayer *l = bt_net_layer (b->net, b->net->layers->len - 1);
  return l->h >= 2 && l->w >= 2;
}

/* A basic residual block: 3×3 conv-BN-ReLU, 3×3 conv-BN, shortcut (1×1 conv-BN when the
 * shape changes), add, ReLU. */
static int
add_res_block (Builder *b, const char *name, int x, int ch, int stride)
{
  char n[32];
  if (b->error)
    return -1;
  BtLayer *in = bt_net_layer (b->net, x);
  int in_c = in->c;
  g_snprintf (n, sizeof n, "%s.conv1", name);
  int y = add_conv (b, n, x, ch, 3, stride, 1, FALSE, BT_ACT_NONE);
  g_snprintf (n, sizeof n, "%s.bn1", name);
  y = add_bn (b, n, y, BT_ACT_RELU);
  g_snprintf (n, sizeof n, "%s.conv2", name);
  y = add_conv (b, n, y, ch, 3, 1, 1, FALSE, BT_ACT_NONE);
  g_snprintf (n, sizeof n, "%s.bn2", name);
  y = add_bn (b, n, y, BT_ACT_NONE);
  int sc = x;
  if (stride != 1 || in_c != ch)
    {
      g_snprintf (n, sizeof n, "%s.down", name);
      sc = add_conv (b, n, x, ch, 1, stride, 0, FALSE, BT_ACT_NONE);
      g_snprintf (n, sizeof n, "%s.down_bn", name);
      sc = add_bn (b, n, sc, BT_ACT_NONE);
    }
  g_snprintf (n, sizeof n, "%s.add", name);
  return add_add (b, n, y, sc, BT_ACT_RELU);
}

static void
build_preset (Builder *b, BtPreset preset, float dropout, int hidden, int n_classes)
{
  int x = -1;
  switch (preset)
    {
    case BT_PRESET_MLP:
      /* flatten → 256 ReLU → 128 ReLU → classes (dropout before the classifier when asked) */
      x = add_simple (b, BT_LAYER_FLATTEN, "flatten", x);
      x = add_dense (b, "fc1", x, 256, BT_ACT_RELU);
      x = add_dense (b, "fc2", x, 128, BT_ACT_RELU);
      if (dropout > 0.0f)
        x = add_dropout (b, "dropout", x, dropout);
      add_dense (b, "fc3", x, n_classes, BT_ACT_NONE);
      break;
    case BT_PRESET_SMALL_CNN:
      x = add_conv (b, "conv1", x, 32, 3, 1, 1, TRUE, BT_ACT_RELU);
      x = add_pool (b, BT_LAYER_MAXPOOL, "pool1", x, 2, 2);
      x = add_conv (b, "conv2", x, 64, 3, 1, 1, TRUE, BT_ACT_RELU);
      x = add_pool (b, BT_LAYER_MAXPOOL, "pool2", x, 2, 2);
      x = add_simple (b, BT_LAYER_FLATTEN, "flatten", x);
      x = add_dense (b, "fc1", x, 128, BT_ACT_RELU);
      if (dropout > 0.0f)
        x = add_dropout (b, "dropout", x, dropout);
      add_dense (b, "fc2", x, n_classes, BT_ACT_NONE);
      break;
    case BT_PRESET_DEEPER_CNN:
      {
        static const int widths[] = { 32, 64, 128, 256 };
        for (int i = 0; i < 4 && !b->error; i++)
          {
            char n[32];
            g_snprintf (n, sizeof n, "conv%d", i + 1);
            x = add_conv (b, n, x, widths[i], 3, 1, 1, FALSE, BT_ACT_NONE);
            g_snprintf (n, sizeof n, "bn%d", i + 1);
            x = add_bn (b, n, x, BT_ACT_RELU);
            if (!b->error && can_pool (b))
              {
                g_snprintf (n, sizeof n, "pool%d", i + 1);
                x = add_pool (b, BT_LAYER_MAXPOOL, n, x, 2, 2);
              }
          }
        x = add_simple (b, BT_LAYER_GAP, "gap", x);
        if (dropout > 0.0f)
          x = add_dropout (b, "dropout", x, dropout);
        add_dense (b, "fc", x, n_classes, BT_ACT_NONE);
      }
      break;
    case BT_PRESET_MINI_RESNET:
      /* ResNet-8: stem, three stages of one basic block (16, 32, 64 channels), GAP, classifier */
      x = add_conv (b, "stem", x, 16, 3, 1, 1, FALSE, BT_ACT_NONE);
      x = add_bn (b, "stem_bn", x, BT_ACT_RELU);
      x = add_res_block (b, "block1", x, 16, 1);
      x = add_res_block (b, "block2", x, 32, can_pool (b) ? 2 : 1);
      x = add_res_block (b, "block3", x, 64, can_pool (b) ? 2 : 1);
      x = add_simple (b, BT_LAYER_GAP, "gap", x);
      if (dropout > 0.0f)
        x = add_dropout (b, "dropout", x, dropout);
      add_dense (b, "fc", x, n_classes, BT_ACT_NONE);
      break;
    case BT_PRESET_TRANSFER:
      /* a head on a backbone embedding: [flatten] → dropout → [hidden ReLU → dropout] → classes */
      x = add_simple (b, BT_LAYER_FLATTEN, "flatten", x);
      if (dropout > 0.0f)
        x = add_dropout (b, "dropout", x, dropout);
      if (hidden > 0)
        {
          x = add_dense (b, "hidden", x, hidden, BT_ACT_RELU);
          if (dropout > 0.0f)
            x = add_dropout (b, "dropout2", x, dropout);
        }
      add_dense (b, "fc", x, n_classes, BT_ACT_NONE);
      break;
    default:
      g_assert_not_reached ();
    }
}

static float
default_dropout (BtPreset preset)
{
  switch (preset)
    {
    case BT_PRESET_MLP: return 0.0f;
    case BT_PRESET_SMALL_CNN: return 0.25f;
    case BT_PRESET_DEEPER_CNN: return 0.3f;
    case BT_PRESET_MINI_RESNET: return 0.0f;
    case BT_PRESET_TRANSFER: return 0.2f;
    default: return 0.0f;
    }
}

BtNet *
bt_net_new_spec (BtPreset preset, int width, int height, int channels, int n_classes,
                 float dropout, int hidden, guint64 seed, gsize max_params, GError **error)
{
  if ((guint) preset >= BT_N_PRESETS)
    {
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID, "Unknown architecture preset %d", preset);
      return NULL;
    }
  if (width < 1 || height < 1 || width > 4096 || height > 4096)
    {
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID,
                   "Input size %d×%d is out of range (1 to 4096 pixels)", width, height);
      return NULL;
    }
  if (channels < 1 || channels > (preset == BT_PRESET_TRANSFER ? 65536 : 4))
    {
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID,
                   "Unsupported number of input channels: %d", channels);
      return NULL;
    }
  if (n_classes < 1 || n_classes > 100000)
    {
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID,
                   "A classifier needs between 1 and 100000 classes, not %d", n_classes);
      return NULL;
    }
  if (dropout < 0.0f)
    dropout = default_dropout (preset);
  if (!(dropout <= 0.95f))
    {
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID,
                   "Dropout %g is out of range (0 to 0.95)", dropout);
      return NULL;
    }
  if (hidden < 0 || hidden > 65536 || (hidden > 0 && preset != BT_PRESET_TRANSFER))
    {
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID, "Invalid hidden layer size %d", hidden);
      return NULL;
    }

  BtNet *net = g_new0 (BtNet, 1);
  net->preset = preset;
  net->in_c = channels; net->in_h = height; net->in_w = width;
  net->n_classes = n_classes;
  net->dropout = dropout;
  net->hidden = hidden;
  net->seed = seed;
  net->layers = g_array_new (FALSE, TRUE, sizeof (BtLayer));
  bt_rng_seed (&net->rng, seed ^ G_GUINT64_CONSTANT (0x5bd1e9955bd1e995));
  net->ws_layer = -1;

  Builder b = { .net = net };
  build_preset (&b, preset, dropout, hidden, n_classes);
  if (b.error == NULL && b.n_params + b.n_buffers > max_params)
    g_set_error (&b.error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_CORRUPT,
                 "The network needs %" G_GSIZE_FORMAT " weights, more than the file holds", b.n_params);
  if (b.error == NULL && b.n_params > MAX_PARAMS)
    g_set_error (&b.error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_NO_MEMORY,
                 "The network would have %" G_GSIZE_FORMAT " parameters; use a smaller input size",
                 b.n_params);
  if (b.error != NULL)
    {
      g_propagate_prefixed_error (error, b.error, "%s: ", preset_titles[preset]);
      bt_net_free (net);
      return NULL;
    }
  net->n_params = b.n_params;
  net->n_buffers = b.n_buffers;
  net->params = g_try_new0 (float, MAX (net->n_params, 1));
  net->grads = g_try_new0 (float, MAX (net->n_params, 1));
  net->square_partials = g_try_new0 (double, net->n_params / BT_NORM_BLOCK + 1);
  net->buffers = g_try_new0 (float, MAX (net->n_buffers, 1));
  net->bn_stats = g_try_new0 (float, MAX (net->n_buffers, 1));
  if (!net->params || !net->grads || !net->square_partials || !net->buffers || !net->bn_stats)
    {
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_NO_MEMORY, "Out of memory for the network's weights");
      bt_net_free (net);
      return NULL;
    }
  for (guint i = 0; i < net->layers->len; i++)
    {
      BtLayer *l = bt_net_layer (net, i);
      if (l->kind == BT_LAYER_BATCHNORM)
        {
          l->save_mean = net->bn_stats + l->buf_off;
          l->save_invstd = net->bn_stats + l->buf_off + l->c;
        }
    }
  return net;
}

/* He-normal for layers followed by ReLU, Glorot-uniform for the classifier; zero biases;
 * batch norm γ = 1, β = 0, running mean 0, running variance 1. Drawn in layer order. */
static void
init_weights (BtNet *net, guint64 seed)
{
  BtRng rng;
  bt_rng_seed (&rng, seed);
  for (guint i = 0; i < net->layers->len; i++)
    {
      BtLayer *l = bt_net_layer (net, i);
      float *w = net->params + l->w_off;
      if (l->kind == BT_LAYER_BATCHNORM)
        {
          for (int c = 0; c < l->c; c++)
            {
              w[c] = 1.0f;
              net->buffers[l->buf_off + l->c + c] = 1.0f;
            }
          continue;
        }
      if (l->w_len == 0)
        continue;
      gsize fan_in = l->w_len / l->c;
      gsize fan_out = l->kind == BT_LAYER_CONV ? (gsize) l->c * l->kh * l->kw : (gsize) l->c;
      if (i == net->layers->len - 1)
        {
          float limit = sqrtf (6.0f / (float) (fan_in + fan_out));
          for (gsize k = 0; k < l->w_len; k++)
            w[k] = (bt_rng_uniform (&rng) * 2.0f - 1.0f) * limit;
        }
      else
        {
          float std = sqrtf (2.0f / (float) fan_in);
          for (gsize k = 0; k < l->w_len; k++)
            w[k] = bt_rng_normal (&rng) * std;
        }
    }
}

BtNet *
bt_net_new_preset (BtPreset preset, int width, int height, int channels,
                   int n_classes, float dropout, guint64 seed, GError **error)
{
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  BtNet *net = bt_net_new_spec (preset, width, height, channels, n_classes, dropout, 0, seed, G_MAXSIZE, error);
  if (net)
    init_weights (net, seed);
  return net;
}

BtNet *
bt_net_new_transfer (int dim, int hidden, int n_classes, float dropout, guint64 seed, GError **error)
{
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  BtNet *net = bt_net_new_spec (BT_PRESET_TRANSFER, 1, 1, dim, n_classes, dropout, hidden, seed, G_MAXSIZE, error);
  if (net)
    init_weights (net, seed);
  return net;
}

void
bt_net_free (BtNet *net)
{
  if (net == NULL)
    return;
  g_free (net->params);
  g_free (net->grads);
  g_free (net->square_partials);
  g_free (net->buffers);
  g_free (net->bn_stats);
  g_free (net->act_arena);
  g_free (net->workspace);
  g_free (net->grad_arena);
  g_free (net->probs);
  g_free (net->logits);
  g_free (net->features);
  g_free (net->input);
  g_free (net->fuse);
  g_free (net->dense_t);
  if (net->layers)
    {
      for (guint i = 0; i < net->layers->len; i++)
        g_free (bt_net_layer (net, i)->packed);
      g_array_unref (net->layers);
    }
  g_free (net);
}

void
bt_net_set_input_grad (BtNet *net, float *d_input)
{
  g_return_if_fail (net != NULL);
  net->input_grad = d_input;
}

const float *
bt_net_logits (const BtNet *net)
{
  g_return_val_if_fail (net != NULL, NULL);
  return net->last_batch > 0 ? net->logits : NULL;
}

/* The layer whose output the features are: the input of the first dense layer — the flattened
 * output of the convolutions (Small CNN), their global average pool (Deeper CNN, Mini ResNet), a
 * transfer head's embedding, the MLP's pixels (at inference dropout copies, so a dropout layer's
 * output is its input). Every preset has a dense layer fed by another layer. */
static const BtLayer *
feature_layer (const BtNet *net)
{
  for (guint i = 0; i < net->layers->len; i++)
    {
      const BtLayer *l = bt_net_layer (net, i);
      if (l->kind == BT_LAYER_DENSE && l->src >= 0)
        return bt_net_layer (net, l->src);
    }
  return bt_net_layer (net, net->layers->len - 1);
}

int
bt_net_feature_dim (const BtNet *net)
{
  const BtLayer *l;
  g_return_val_if_fail (net != NULL, 0);
  l = feature_layer (net);
  return l->c * l->h * l->w;
}

const float *
bt_net_features (const BtNet *net)
{
  g_return_val_if_fail (net != NULL, NULL);
  return net->last_batch > 0 && !net->last_training && net->features_capacity >= net->last_batch
         ? net->features : NULL;
}

gsize bt_net_n_params (const BtNet *net) { g_return_val_if_fail (net, 0); return net->n_params; }
int bt_net_n_classes (const BtNet *net) { g_return_val_if_fail (net, 0); return net->n_classes; }
BtPreset bt_net_preset (const BtNet *net) { g_return_val_if_fail (net, 0); return net->preset; }
float bt_net_dropout (const BtNet *net) { g_return_val_if_fail (net, 0); return net->dropout; }
int bt_net_hidden (const BtNet *net) { g_return_val_if_fail (net, 0); return net->hidden; }
BtRng *bt_net_rng (BtNet *net) { g_return_val_if_fail (net, NULL); return &net->rng; }

void
bt_net_input_shape (const BtNet *net, int *channels, int *height, int *width)
{
  g_return_if_fail (net != NULL);
  if (channels) *channels = net->in_c;
  if (height) *height = net->in_h;
  if (width) *width = net->in_w;
}

float *
bt_net_params (BtNet *net, gsize *n)
{
  g_return_val_if_fail (net != NULL, NULL);
  if (n) *n = net->n_params;
  bt_net_params_changed (net);   /* the caller may write through the pointer */
  return net->params;
}

float *
bt_net_grads (BtNet *net, gsize *n)
{
  g_return_val_if_fail (net != NULL, NULL);
  if (n) *n = net->n_params;
  bt_net_grads_ready (net);
  net->grads_square_valid = FALSE;   /* the caller may write them */
  return net->grads;
}

void
bt_net_grads_ready (BtNet *net)
{
  if (net->grads_zero_pending)
    memset (net->grads, 0, sizeof (float) * net->n_params);
  net->grads_zero_pending = FALSE;
}

float *
bt_net_buffers (BtNet *net, gsize *n)
{
  g_return_val_if_fail (net != NULL, NULL);
  if (n) *n = net->n_buffers;
  return net->buffers;
}

void
bt_net_zero_grad (BtNet *net)
{
  g_return_if_fail (net != NULL);
  /* the next backward writes the dense layers' weight gradients instead of adding to zeros; the
   * rest it clears itself (backward_layers) */
  net->grads_zero_pending = TRUE;
  net->grads_square_valid = FALSE;
}

static const char *
kind_name (BtLayerKind k)
{
  static const char *names[] = { "conv", "dwconv", "dense", "maxpool", "avgpool", "gap",
                                 "flatten", "dropout", "batchnorm", "add" };
  return names[k];
}

char *
bt_net_describe (const BtNet *net)
{
  g_return_val_if_fail (net != NULL, NULL);
  GString *s = g_string_new (NULL);
  g_string_append_printf (s, "input %d×%d×%d\n", net->in_c, net->in_h, net->in_w);
  for (guint i = 0; i < net->layers->len; i++)
    {
      const BtLayer *l = bt_net_layer (net, i);
      g_string_append_printf (s, "%s %s", l->name, kind_name (l->kind));
      if (l->kind == BT_LAYER_CONV || l->kind == BT_LAYER_DWCONV || l->kind == BT_LAYER_MAXPOOL ||
          l->kind == BT_LAYER_AVGPOOL)
        g_string_append_printf (s, " %d×%d/%d", l->kh, l->kw, l->sh);
      if (l->kind == BT_LAYER_DROPOUT)
        g_string_append_printf (s, " p=%.2f", l->p);
      if (l->act == BT_ACT_RELU)
        g_string_append (s, " +relu");
      else if (l->act == BT_ACT_RELU6)
        g_string_append (s, " +relu6");
      g_string_append_printf (s, " → %d×%d×%d", l->c, l->h, l->w);
      if (l->w_len + l->b_len > 0)
        g_string_append_printf (s, " (%" G_GSIZE_FORMAT " params)", l->w_len + l->b_len);
      g_string_append_c (s, '\n');
    }
  g_string_append_printf (s, "total %" G_GSIZE_FORMAT " params\n", net->n_params);
  return g_string_free (s, FALSE);
}

gsize
bt_net_train_floats_per_image (const BtNet *net)
{
  g_return_val_if_fail (net != NULL, 0);
  gsize f = 0;
  for (guint i = 0; i < net->layers->len; i++)
    {
      const BtLayer *l = bt_net_layer (net, i);
      gsize out = layer_out_size (l);
      if (l->kind == BT_LAYER_FLATTEN)
        continue;
      /* the activation and its gradient; max-pool and dropout keep one more of the same size */
      f += 2 * out;
      if (l->kind == BT_LAYER_MAXPOOL || l->kind == BT_LAYER_DROPOUT)
        f += out;
    }
  return f;
}

gsize
bt_net_max_activation_floats (void)
{
  return MAX_ACT_FLOATS;
}

double
bt_net_flops_per_image (const BtNet *net)
{
  g_return_val_if_fail (net != NULL, 0.0);
  double f = 0.0;
  for (guint i = 0; i < net->layers->len; i++)
    {
      const BtLayer *l = bt_net_layer (net, i);
      double out = (double) layer_out_size (l);
      switch (l->kind)
        {
        case BT_LAYER_CONV:
        case BT_LAYER_DWCONV:
        case BT_LAYER_DENSE:
          /* forward 2·MACs; backward twice that (weights and input) */
          f += 3.0 * 2.0 * (double) l->w_len / l->c * out;
          break;
        default:
          f += 3.0 * out;
          break;
        }
    }
  return f;
}

/* ---- Arenas ---- */

static void
conv_shape_for (const BtLayer *l, int n, BtConvShape *s)
{
  gboolean ok = bt_conv_shape_init (s, n, l->in_c, l->in_h, l->in_w,
                                    l->kind == BT_LAYER_CONV || l->kind == BT_LAYER_DWCONV ? l->c : l->in_c,
                                    l->kh, l->kw, l->sh, l->sw, l->pt, l->pl, l->pb, l->pr,
                                    l->kind == BT_LAYER_DWCONV ? l->in_c : 1, NULL);
  g_assert (ok);
}

/* Images per im2col call so that the workspace stays under WORKSPACE_CAP. */
static int
conv_chunk (const BtLayer *l, int n)
{
  gsize per_image = ((gsize) l->in_c * l->kh * l->kw + l->c) * l->h * l->w;
  gsize chunk = MAX (WORKSPACE_CAP / MAX (per_image, 1), 1);
  return (int) MIN ((gsize) n, chunk);
}

static gboolean
ensure_activations (BtNet *net, int n, GError **error)
{
  if (n == net->act_batch)
    return TRUE;
  gsize total = 0, ws = 0;
  for (guint i = 0; i < net->layers->len; i++)
    {
      const BtLayer *l = bt_net_layer (net, i);
      gsize size = layer_out_size (l) * n;
      if (l->kind != BT_LAYER_FLATTEN)
        total += size;
      if (l->kind == BT_LAYER_MAXPOOL || l->kind == BT_LAYER_DROPOUT)
        total += size;
      if (l->kind == BT_LAYER_CONV)
        {
          BtConvShape s;
          conv_shape_for (l, conv_chunk (l, n), &s);
          ws = MAX (ws, bt_conv2d_workspace_size (&s));
        }
    }
  if (total > MAX_ACT_FLOATS)
    {
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_NO_MEMORY,
                   "A batch of %d images needs %" G_GSIZE_FORMAT " MiB of activations; use a smaller batch",
                   n, total * 4 >> 20);
      return FALSE;
    }
  if (n > net->act_capacity || total > net->act_arena_len)
    {
      g_clear_pointer (&net->act_arena, g_free);
      net->act_arena_len = 0;
      net->act_capacity = 0;
      net->act_batch = 0;
      net->act_arena = g_try_new (float, MAX (total, 1));
      if (net->act_arena == NULL)
        {
          g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_NO_MEMORY,
                       "Out of memory for a batch of %d images", n);
          return FALSE;
        }
      net->act_arena_len = total;
      net->act_capacity = n;
    }
  if (ws > net->workspace_len)
    {
      g_free (net->workspace);
      net->workspace = g_try_new (float, ws);
      net->workspace_len = net->workspace ? ws : 0;
      if (net->workspace == NULL)
        {
          g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_NO_MEMORY, "Out of memory for convolution");
          return FALSE;
        }
    }
  float *p = net->act_arena;
  for (guint i = 0; i < net->layers->len; i++)
    {
      BtLayer *l = bt_net_layer (net, i);
      gsize size = layer_out_size (l) * n;
      if (l->kind == BT_LAYER_FLATTEN)
        l->out = l->src < 0 ? NULL : bt_net_layer (net, l->src)->out;
      else
        {
          l->out = p;
          p += size;
        }
      l->argmax = NULL;
      l->mask = NULL;
      if (l->kind == BT_LAYER_MAXPOOL)
        {
          l->argmax = (gint32 *) p;
          p += size;
        }
      else if (l->kind == BT_LAYER_DROPOUT)
        {
          l->mask = p;
          p += size;
        }
    }
  net->act_batch = n;
  return TRUE;
}

static gboolean
ensure_grads (BtNet *net, int n, GError **error)
{
  if (n == net->grad_batch)
    return TRUE;
  gsize total = 0, biggest = 0;
  gboolean need_scratch = FALSE;
  for (guint i = 0; i < net->layers->len; i++)
    {
      const BtLayer *l = bt_net_layer (net, i);
      gsize size = layer_out_size (l) * n;
      if (l->kind != BT_LAYER_FLATTEN)
        total += size;
      if (l->n_consumers > 1)
        need_scratch = TRUE;
      biggest = MAX (biggest, layer_in_size (l) * n);
    }
  if (need_scratch)
    total += biggest;
  if (total > net->grad_arena_len)
    {
      g_clear_pointer (&net->grad_arena, g_free);
      net->grad_arena_len = 0;
      net->grad_batch = 0;
      net->grad_arena = g_try_new (float, MAX (total, 1));
      if (net->grad_arena == NULL)
        {
          g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_NO_MEMORY,
                       "Out of memory for the gradients of a batch of %d images", n);
          return FALSE;
        }
      net->grad_arena_len = total;
    }
  float *p = net->grad_arena;
  for (guint i = 0; i < net->layers->len; i++)
    {
      BtLayer *l = bt_net_layer (net, i);
      if (l->kind == BT_LAYER_FLATTEN)
        l->grad = l->src < 0 ? NULL : bt_net_layer (net, l->src)->grad;
      else
        {
          l->grad = p;
          p += layer_out_size (l) * n;
        }
    }
  net->scratch = need_scratch ? p : NULL;
  net->grad_batch = n;
  return TRUE;
}

/* ---- Forward ---- */

static void
apply_activation (BtLayer *l, gsize len)
{
  if (l->act == BT_ACT_RELU)
    bt_relu_forward (l->out, l->out, len);
  else if (l->act == BT_ACT_RELU6)
    bt_relu6_forward (l->out, l->out, len);
}

/* The layer after i when it reads only layer i's output and is the only one that does. */
static BtLayer *
sole_consumer (BtNet *net, guint i, BtLayerKind kind)
{
  if (i + 1 >= net->layers->len || bt_net_layer (net, i)->n_consumers != 1)
    return NULL;
  BtLayer *next = bt_net_layer (net, i + 1);
  return next->kind == kind && next->src == (int) i ? next : NULL;
}

/* A layer's weights packed for an inference kernel (Winograd for a conv, panels for a dense
 * layer; size floats): packed on the first forward after the weights last changed, kept until
 * they change again. NULL when out of memory (the plain path needs nothing more). */
static const float *
packed_weights (BtNet *net, BtLayer *l, gsize size)
{
  if (l->packed == NULL)
    {
      l->packed = g_try_new (float, size);
      if (l->packed == NULL)
        return NULL;
      l->packed_version = net->params_version - 1;
    }
  if (l->packed_version != net->params_version)
    {
      if (l->kind == BT_LAYER_CONV)
        bt_conv2d_winograd_pack (l->packed, net->params + l->w_off, l->c, l->in_c);
      else
        bt_dense_pack (l->packed, net->params + l->w_off, (int) layer_in_size (l), l->c);
      l->packed_version = net->params_version;
    }
  return l->packed;
}

static const float *
winograd_weights (BtNet *net, BtLayer *l)
{
  BtConvShape s;
  conv_shape_for (l, 1, &s);
  if (!bt_conv2d_winograd_fits (&s))
    return NULL;
  return packed_weights (net, l, bt_conv2d_winograd_packed_size (l->c, l->in_c));
}

/* Inference: conv layer i, a batch norm right after it (when the conv has no activation of its
 * own) and a 2×2 stride-2 max pool after those, each the sole consumer of the one before, run as
 * one kernel: the bias, the batch norm's running statistics, the activation and the pool are
 * applied in the conv's output pass, and only the last layer's output is written. Returns the
 * index of the last layer it computed. */
static guint
forward_conv_fused (BtNet *net, guint i, const float *in, int n)
{
  BtLayer *l = bt_net_layer (net, i), *last = l;
  const float *b = l->b_len ? net->params + l->b_off : NULL;
  BtConvEpilogue e = { NULL, b, l->act, FALSE, NULL };
  BtLayer *bn = l->act == BT_ACT_NONE ? sole_consumer (net, i, BT_LAYER_BATCHNORM) : NULL;
  if (bn != NULL)
    {
      if (net->fuse_len < (gsize) 2 * l->c)
        {
          net->fuse = g_renew (float, net->fuse, (gsize) 2 * l->c);
          net->fuse_len = (gsize) 2 * l->c;
        }
      const float *gamma = net->params + bn->w_off, *beta = net->params + bn->b_off;
      const float *mean = net->buffers + bn->buf_off, *var = mean + bn->c;
      for (int o = 0; o < l->c; o++)
        {
          float scale = gamma[o] / sqrtf (var[o] + BN_EPS);
          net->fuse[o] = scale;
          net->fuse[l->c + o] = beta[o] - mean[o] * scale + (b ? b[o] * scale : 0.0f);
        }
      e = (BtConvEpilogue) { net->fuse, net->fuse + l->c, bn->act, FALSE };
      last = bn;
    }
  BtLayer *pool = sole_consumer (net, (guint) (last - bt_net_layer (net, 0)), BT_LAYER_MAXPOOL);
  if (pool != NULL && pool->kh == 2 && pool->kw == 2 && pool->sh == 2 && pool->sw == 2 &&
      pool->pt == 0 && pool->pl == 0 && pool->pb == 0 && pool->pr == 0 && pool->act == BT_ACT_NONE &&
      pool->h == l->h / 2 && pool->w == l->w / 2 && l->h >= 2 && l->w >= 2)
    {
      e.pool = TRUE;
      last = pool;
    }
  const int chunk = conv_chunk (l, n);
  const gsize in_sz = layer_in_size (l), out_sz = layer_out_size (last);
  e.winograd = winograd_weights (net, l);
  for (int off = 0; off < n; off += chunk)
    {
      BtConvShape s;
      conv_shape_for (l, MIN (chunk, n - off), &s);
      bt_conv2d_forward_fused (last->out + off * out_sz, in + off * in_sz, net->params + l->w_off, &e, &s,
                               net->workspace);
    }
  net->ws_layer = -1;
  return (guint) (last - bt_net_layer (net, 0));
}

static void
forward_layers (BtNet *net, const float *x, int n, gboolean training)
{
  for (guint i = 0; i < net->layers->len; i++)
    {
      BtLayer *l = bt_net_layer (net, i);
      const float *in = l->src < 0 ? x : bt_net_layer (net, l->src)->out;
      const float *w = net->params + l->w_off;
      const float *b = l->b_len ? net->params + l->b_off : NULL;
      gsize len = layer_out_size (l) * n;
      BtConvShape s;
      switch (l->kind)
        {
        case BT_LAYER_CONV:
          if (!training && !net->unfused)
            {
              i = forward_conv_fused (net, i, in, n);
              continue;
            }
          {
            int chunk = conv_chunk (l, n);
            gsize in_sz = layer_in_size (l), out_sz = layer_out_size (l);
            for (int off = 0; off < n; off += chunk)
              {
                int m = MIN (chunk, n - off);
                conv_shape_for (l, m, &s);
                bt_conv2d_forward_ex (l->out + off * out_sz, in + off * in_sz, w, b, &s, net->workspace,
                                      l->act);
              }
            net->ws_layer = training && chunk == n ? (int) i : -1;
          }
          continue;   /* activation already applied */
        case BT_LAYER_DWCONV:
          conv_shape_for (l, n, &s);
          bt_dwconv2d_forward (l->out, in, w, b, &s);
          break;
        case BT_LAYER_DENSE:
          if (!training && bt_dense_fast_fits ())
            {
              const int in_dim = (int) layer_in_size (l);
              const float *packed = packed_weights (net, l, bt_dense_packed_size (in_dim, l->c));
              if (packed != NULL)
                {
                  bt_dense_forward_packed (l->out, in, packed, b, n, in_dim, l->c, l->act);
                  continue;   /* activation applied */
                }
            }
          if (training && bt_dense_train_fast ())
            {
              const int in_dim = (int) layer_in_size (l);
              const gsize need = bt_dense_train_scratch_size (n, in_dim);
              if (need > net->dense_t_len)
                {
                  g_free (net->dense_t);
                  net->dense_t = g_try_new (float, need);
                  net->dense_t_len = net->dense_t != NULL ? need : 0;
                }
              if (net->dense_t != NULL)
                {
                  bt_dense_forward_train (l->out, in, w, b, n, in_dim, l->c, l->act, net->dense_t);
                  continue;   /* activation applied */
                }
            }
          bt_dense_forward (l->out, in, w, b, n, (int) layer_in_size (l), l->c);
          break;
        case BT_LAYER_MAXPOOL:
          conv_shape_for (l, n, &s);
          bt_maxpool2d_forward (l->out, l->argmax, in, &s);
          break;
        case BT_LAYER_AVGPOOL:
          conv_shape_for (l, n, &s);
          bt_avgpool2d_forward (l->out, in, &s);
          break;
        case BT_LAYER_GAP:
          bt_gap_forward (l->out, in, n, l->in_c, l->in_h, l->in_w);
          break;
        case BT_LAYER_FLATTEN:
          l->out = (float *) in;
          break;
        case BT_LAYER_DROPOUT:
          if (training && l->p > 0.0f)
            bt_dropout_forward (l->out, l->mask, in, len, l->p, &net->rng);
          else
            memcpy (l->out, in, len * sizeof (float));
          break;
        case BT_LAYER_BATCHNORM:
          if (training)
            bt_batchnorm_forward_train (l->out, l->save_mean, l->save_invstd,
                                        net->buffers + l->buf_off, net->buffers + l->buf_off + l->c,
                                        in, w, b, n, l->c, l->h * l->w, BN_MOMENTUM, BN_EPS);
          else
            bt_batchnorm_forward_infer (l->out, in, w, b, net->buffers + l->buf_off,
                                        net->buffers + l->buf_off + l->c, n, l->c, l->h * l->w, BN_EPS);
          break;
        case BT_LAYER_ADD:
          bt_add_forward (l->out, in, bt_net_layer (net, l->src2)->out, len);
          break;
        default:
          g_assert_not_reached ();
        }
      apply_activation (l, len);
    }
}

static gboolean
all_finite (const float *v, gsize len)
{
  /* integer test of the exponent bits: vectorizes, unlike isfinite () in a loop */
  const guint32 *u = (const guint32 *) v;
  guint32 bad = 0;
  for (gsize i = 0; i < len; i++)
    bad |= (u[i] & 0x7f800000u) == 0x7f800000u;
  return bad == 0;
}

const float *
bt_net_forward (BtNet *net, const float *x, int batch, gboolean training, GError **error)
{
  g_return_val_if_fail (net != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  if (x == NULL || batch < 1 || batch > MAX_BATCH)
    {
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID,
                   "Invalid batch of %d images (1 to %d)", batch, MAX_BATCH);
      return NULL;
    }
  if (batch > net->probs_capacity)
    {
      g_free (net->probs);
      g_free (net->logits);
      net->probs = g_try_new (float, (gsize) batch * net->n_classes);
      net->logits = g_try_new (float, (gsize) batch * net->n_classes);
      net->probs_capacity = net->probs && net->logits ? batch : 0;
      if (net->probs_capacity == 0)
        {
          g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_NO_MEMORY, "Out of memory for %d outputs", batch);
          return NULL;
        }
    }
  net->last_batch = 0;
  const gsize feat_dim = (gsize) bt_net_feature_dim (net);
  if (!training && batch > net->features_capacity)
    {
      /* inference only: training batches never need them */
      g_free (net->features);
      net->features = g_try_new (float, (gsize) batch * feat_dim);
      net->features_capacity = net->features != NULL ? batch : 0;
      if (net->features == NULL)
        {
          g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_NO_MEMORY, "Out of memory for %d outputs", batch);
          return NULL;
        }
    }
  const BtLayer *last = bt_net_layer (net, net->layers->len - 1);
  const gsize in_sz = (gsize) net->in_c * net->in_h * net->in_w;
  /* Inference needs no batch statistics, so big batches run in slices and memory stays flat. */
  int chunk = training ? batch : MIN (batch, MAX (INFER_CHUNK, net->act_capacity));
  for (int off = 0; off < batch; off += chunk)
    {
      int m = MIN (chunk, batch - off);
      if (!ensure_activations (net, m, error))
        return NULL;
      const float *xin = x + off * in_sz;
      if (training)
        {
          /* backward needs the input; keep a copy so the caller may reuse its buffer */
          if ((gsize) m * in_sz > net->input_len)
            {
              g_free (net->input);
              net->input = g_try_new (float, (gsize) m * in_sz);
              net->input_len = net->input ? (gsize) m * in_sz : 0;
              if (net->input == NULL)
                {
                  g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_NO_MEMORY, "Out of memory for a batch");
                  return NULL;
                }
            }
          memcpy (net->input, xin, sizeof (float) * m * in_sz);
          xin = net->input;
        }
      forward_layers (net, xin, m, training);
      if (!training)
        memcpy (net->features + (gsize) off * feat_dim, feature_layer (net)->out, sizeof (float) * m * feat_dim);
      bt_softmax_forward (net->probs + (gsize) off * net->n_classes, last->out, m, net->n_classes);
      memcpy (net->logits + (gsize) off * net->n_classes, last->out, sizeof (float) * m * net->n_classes);
    }
  if (!all_finite (net->probs, (gsize) batch * net->n_classes))
    {
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_NUMERIC,
                   "The network produced NaN or infinite outputs (the weights or the input are not finite)");
      return NULL;
    }
  net->last_batch = batch;
  net->last_training = training && chunk == batch;
  return net->probs;
}

/* ---- Loss and backward ---- */

static int
count_correct (const BtNet *net, const int *labels, int batch)
{
  int correct = 0;
  for (int i = 0; i < batch; i++)
    {
      const float *p = net->probs + (gsize) i * net->n_classes;
      int best = 0;
      for (int j = 1; j < net->n_classes; j++)
        if (p[j] > p[best])
          best = j;
      correct += best == labels[i];
    }
  return correct;
}

static gboolean
check_labels (const BtNet *net, const int *labels, int batch, GError **error)
{
  if (labels == NULL || batch != net->last_batch || batch < 1)
    {
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID,
                   "Labels for %d images do not match the last forward pass (%d images)",
                   batch, net->last_batch);
      return FALSE;
    }
  for (int i = 0; i < batch; i++)
    if (labels[i] < 0 || labels[i] >= net->n_classes)
      {
        g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID,
                     "Label %d is out of range (the network has %d classes)", labels[i], net->n_classes);
        return FALSE;
      }
  return TRUE;
}

double
bt_net_loss (BtNet *net, const int *labels, int batch, int *n_correct)
{
  g_return_val_if_fail (net != NULL, NAN);
  if (!check_labels (net, labels, batch, NULL))
    g_return_val_if_reached (NAN);
  if (n_correct)
    *n_correct = count_correct (net, labels, batch);
  return bt_softmax_xent (NULL, net->probs, labels, batch, net->n_classes, NULL, 0.0f) / batch;
}

/* Where layer src's input gradient goes: straight into its gradient buffer the first time,
 * into scratch (added afterwards) when another consumer has already written it. */
/* A flatten of the net's input shares the input: its gradient is the input's. */
static int
grad_source (BtNet *net, int src)
{
  if (src >= 0 && bt_net_layer (net, src)->kind == BT_LAYER_FLATTEN && bt_net_layer (net, src)->src < 0)
    return -1;
  return src;
}

static float *
grad_target (BtNet *net, int src, gboolean *accumulate)
{
  *accumulate = FALSE;
  src = grad_source (net, src);
  if (src < 0 && net->input_grad != NULL && net->input_grad_written)
    {
      *accumulate = TRUE;
      return net->scratch;
    }
  if (src < 0)
    {
      net->input_grad_written = net->input_grad != NULL;
      return net->input_grad;
    }
  BtLayer *s = bt_net_layer (net, src);
  if (s->grad_written)
    {
      *accumulate = TRUE;
      return net->scratch;
    }
  return s->grad;
}

static void
grad_done (BtNet *net, int src, float *target, gboolean accumulate, gsize len)
{
  src = grad_source (net, src);
  if (src < 0 && target != NULL && accumulate)
    for (gsize k = 0; k < len; k++)
      net->input_grad[k] += target[k];
  if (src < 0 || target == NULL)
    return;
  BtLayer *s = bt_net_layer (net, src);
  if (accumulate)
    {
      g_assert (target == net->scratch);
      for (gsize k = 0; k < len; k++)
        s->grad[k] += target[k];
    }
  s->grad_written = TRUE;
}

/* The parameter gradients of layer l: zeroed (zero TRUE), or left for its kernel to write
 * (dense layers on the fast path). */
static void
zero_layer_grads (BtNet *net, const BtLayer *l)
{
  memset (net->grads + l->w_off, 0, sizeof (float) * l->w_len);
  memset (net->grads + l->b_off, 0, sizeof (float) * l->b_len);
}

static void
backward_layers (BtNet *net, const float *x, int n)
{
  /* after bt_net_zero_grad, the fast dense kernels write their weight gradients; every other
   * layer's are cleared here, and a dense layer the pass never reaches is cleared at the end */
  const gboolean zero = net->grads_zero_pending, fast_dense = bt_dense_train_fast ();
  if (zero && !fast_dense)
    bt_net_grads_ready (net);
  else if (zero)
    for (guint i = 0; i < net->layers->len; i++)
      if (bt_net_layer (net, i)->kind != BT_LAYER_DENSE)
        zero_layer_grads (net, bt_net_layer (net, i));
  net->grads_zero_pending = FALSE;
  for (guint i = 0; i < net->layers->len; i++)
    bt_net_layer (net, i)->grad_written = FALSE;
  net->input_grad_written = FALSE;
  bt_net_layer (net, net->layers->len - 1)->grad_written = TRUE;

  for (int i = (int) net->layers->len - 1; i >= 0; i--)
    {
      BtLayer *l = bt_net_layer (net, i);
      if (!l->grad_written)
        continue;
      const gsize len = layer_out_size (l) * n, in_len = layer_in_size (l) * n;
      float *d = l->grad;
      if (l->kind != BT_LAYER_CONV)   /* conv masks inside its transposition pass */
        {
          if (l->act == BT_ACT_RELU)
            bt_relu_backward (d, d, l->out, len);
          else if (l->act == BT_ACT_RELU6)
            bt_relu6_backward (d, d, l->out, len);
        }

      const float *in = l->src < 0 ? x : bt_net_layer (net, l->src)->out;
      const float *w = net->params + l->w_off;
      float *dw = net->grads + l->w_off;
      float *db = l->b_len ? net->grads + l->b_off : NULL;
      gboolean acc;
      float *din = grad_target (net, l->src, &acc);
      BtConvShape s;
      switch (l->kind)
        {
        case BT_LAYER_CONV:
          {
            int chunk = conv_chunk (l, n);
            gsize in_sz = layer_in_size (l), out_sz = layer_out_size (l);
            for (int off = 0; off < n; off += chunk)
              {
                int m = MIN (chunk, n - off);
                conv_shape_for (l, m, &s);
                bt_conv2d_backward_ex (din ? din + off * in_sz : NULL, dw, db, d + off * out_sz,
                                       in + off * in_sz, w, &s, net->workspace,
                                       l->out + off * out_sz, l->act,
                                       net->ws_layer == i && chunk == n);
              }
            net->ws_layer = -1;
          }
          break;
        case BT_LAYER_DWCONV:
          conv_shape_for (l, n, &s);
          bt_dwconv2d_backward (din, dw, db, d, in, w, &s);
          break;
        case BT_LAYER_DENSE:
          if (fast_dense)
            {
              if (zero && db != NULL)
                memset (db, 0, sizeof (float) * l->b_len);
              bt_dense_backward_train (din, dw, zero, db, d, in, w, n, (int) layer_in_size (l), l->c);
            }
          else
            bt_dense_backward (din, dw, db, d, in, w, n, (int) layer_in_size (l), l->c);
          break;
        case BT_LAYER_MAXPOOL:
          conv_shape_for (l, n, &s);
          if (din)
            bt_maxpool2d_backward (din, d, l->argmax, &s);
          break;
        case BT_LAYER_AVGPOOL:
          conv_shape_for (l, n, &s);
          if (din)
            bt_avgpool2d_backward (din, d, &s);
          break;
        case BT_LAYER_GAP:
          if (din)
            bt_gap_backward (din, d, n, l->in_c, l->in_h, l->in_w);
          break;
        case BT_LAYER_FLATTEN:
          /* shares its producer's buffers: the gradient is already in place */
          din = NULL;
          if (l->src >= 0)
            bt_net_layer (net, l->src)->grad_written = TRUE;
          break;
        case BT_LAYER_DROPOUT:
          if (din && l->p > 0.0f && net->last_training)
            bt_dropout_backward (din, d, l->mask, len);
          else if (din)
            memcpy (din, d, len * sizeof (float));
          break;
        case BT_LAYER_BATCHNORM:
          bt_batchnorm_backward (din, dw, db, d, in, w, l->save_mean, l->save_invstd, n, l->c, l->h * l->w);
          break;
        case BT_LAYER_ADD:
          if (din)
            memcpy (din, d, len * sizeof (float));
          grad_done (net, l->src, din, acc, in_len);
          din = grad_target (net, l->src2, &acc);
          if (din)
            memcpy (din, d, len * sizeof (float));
          grad_done (net, l->src2, din, acc, in_len);
          din = NULL;
          break;
        default:
          g_assert_not_reached ();
        }
      if (din)
        grad_done (net, l->src, din, acc, in_len);
    }
  for (guint i = 0; zero && fast_dense && i < net->layers->len; i++)
    if (bt_net_layer (net, i)->kind == BT_LAYER_DENSE && !bt_net_layer (net, i)->grad_written)
      zero_layer_grads (net, bt_net_layer (net, i));
}

gboolean
bt_net_backward (BtNet *net, const int *labels, int batch, const float *class_weights,
                 float label_smoothing, double *loss, int *n_correct, GError **error)
{
  g_return_val_if_fail (net != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  if (!check_labels (net, labels, batch, error))
    return FALSE;
  if (!net->last_training)
    {
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID,
                   "Backward needs a preceding forward pass in training mode");
      return FALSE;
    }
  if (!(label_smoothing >= 0.0f && label_smoothing < 1.0f))
    {
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID,
                   "Label smoothing %g is out of range [0, 1)", label_smoothing);
      return FALSE;
    }
  if (class_weights != NULL)
    for (int j = 0; j < net->n_classes; j++)
      if (!(class_weights[j] >= 0.0f && isfinite (class_weights[j])))
        {
          g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID,
                       "Class weight %d is negative or not finite", j);
          return FALSE;
        }
  if (!ensure_grads (net, batch, error))
    return FALSE;
  BtLayer *last = bt_net_layer (net, net->layers->len - 1);
  double sum = bt_softmax_xent (last->grad, net->probs, labels, batch, net->n_classes,
                                class_weights, label_smoothing);
  double mean = sum / batch;
  if (loss)
    *loss = mean;
  if (n_correct)
    *n_correct = count_correct (net, labels, batch);
  if (!isfinite (mean))
    {
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_NUMERIC, "The loss is not finite (%g)", mean);
      return FALSE;
    }
  net->grads_square_valid = FALSE;
  backward_layers (net, net->input, batch);
  /* Σ g² is finite exactly when every gradient is (a float's square cannot overflow a double);
   * the optimizer's norm reuses it instead of reading the gradients once more */
  net->grads_square = bt_grads_square_sum (net->grads, net->n_params, net->square_partials);
  net->grads_square_valid = isfinite (net->grads_square);
  if (!net->grads_square_valid)
    {
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_NUMERIC,
                   "A gradient is NaN or infinite; lower the learning rate");
      return FALSE;
    }
  return TRUE;
}
