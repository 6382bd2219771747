/* bt-optim.c: optimizers (SGD with momentum/Nesterov, Adam, AdamW) as flat loops over the
 * net's one parameter block, learning-rate schedules and reduce-on-plateau. */
#include "engine/bt-engine-private.h"

#include <math.h>
#include <string.h>

static const char *optimizer_ids[] = { "sgd", "adam", "adamw" };
static const char *schedule_ids[] = { "constant", "step", "cosine", "plateau" };

const char *
bt_optimizer_kind_to_id (BtOptimizerKind kind)
{
  g_return_val_if_fail ((guint) kind < G_N_ELEMENTS (optimizer_ids), NULL);
  return optimizer_ids[kind];
}

/* The position of id in ids, or -1 (also for NULL). */
static int
id_index (const char *id, const char *const *ids, guint n)
{
  for (guint i = 0; id != NULL && i < n; i++)
    if (strcmp (id, ids[i]) == 0)
      return (int) i;
  return -1;
}

gboolean
bt_optimizer_kind_from_id (const char *id, BtOptimizerKind *out)
{
  int i = id_index (id, optimizer_ids, G_N_ELEMENTS (optimizer_ids));

  g_return_val_if_fail (out != NULL, FALSE);
  if (i >= 0)
    *out = (BtOptimizerKind) i;
  return i >= 0;
}

const char *
bt_schedule_kind_to_id (BtScheduleKind kind)
{
  g_return_val_if_fail ((guint) kind < G_N_ELEMENTS (schedule_ids), NULL);
  return schedule_ids[kind];
}

gboolean
bt_schedule_kind_from_id (const char *id, BtScheduleKind *out)
{
  int i = id_index (id, schedule_ids, G_N_ELEMENTS (schedule_ids));

  g_return_val_if_fail (out != NULL, FALSE);
  if (i >= 0)
    *out = (BtScheduleKind) i;
  return i >= 0;
}

void
bt_optimizer_config_init (BtOptimizerConfig *cfg, BtOptimizerKind kind)
{
  g_return_if_fail (cfg != NULL);
  memset (cfg, 0, sizeof *cfg);
  cfg->kind = kind;
  cfg->momentum = 0.9f;
  cfg->nesterov = FALSE;
  cfg->beta1 = 0.9f;
  cfg->beta2 = 0.999f;
  cfg->eps = 1e-8f;
  cfg->weight_decay = kind == BT_OPTIMIZER_ADAMW ? 0.01f : 0.0f;
  cfg->clip_norm = 0.0f;
}

struct _BtOptimizer {
  BtOptimizerConfig cfg;
  gsize   n;
  float  *state;     /* SGD: velocity [n]; Adam(W): m [n], v [n] */
  gsize   n_state;
  guint8 *decay;     /* per parameter range: 1 = weights (decayed), 0 = biases / norm */
  GArray *ranges;    /* DecayRange */
  gint64  t;
  double *partials;  /* per BT_NORM_BLOCK of parameters, for a thread-independent norm */
  float  *average;   /* moving average of the weights [n], NULL when ema_decay is 0 */
  gboolean swapped;  /* the net holds the average and this the weights */
};


typedef struct { gsize off, len; gboolean decay; } DecayRange;

BtOptimizer *
bt_optimizer_new (BtNet *net, const BtOptimizerConfig *cfg)
{
  g_return_val_if_fail (net != NULL, NULL);
  g_return_val_if_fail (cfg != NULL, NULL);
  g_return_val_if_fail ((guint) cfg->kind <= BT_OPTIMIZER_ADAMW, NULL);
  BtOptimizer *opt = g_new0 (BtOptimizer, 1);
  opt->cfg = *cfg;
  opt->n = net->n_params;
  opt->n_state = cfg->kind == BT_OPTIMIZER_SGD ? opt->n : 2 * opt->n;
  opt->state = g_new0 (float, MAX (opt->n_state, 1));
  opt->partials = g_new0 (double, opt->n / BT_NORM_BLOCK + 1);
  if (cfg->ema_decay > 0.0f && cfg->ema_decay < 1.0f)
    opt->average = g_memdup2 (net->params, MAX (opt->n, 1) * sizeof (float));
  else
    opt->cfg.ema_decay = 0.0f;
  /* Weight decay applies to conv/dense kernels only, not to biases or batch-norm γ/β. */
  opt->ranges = g_array_new (FALSE, FALSE, sizeof (DecayRange));
  for (guint i = 0; i < net->layers->len; i++)
    {
      const BtLayer *l = bt_net_layer (net, i);
      if (l->w_len)
        {
          DecayRange r = { l->w_off, l->w_len, l->kind != BT_LAYER_BATCHNORM };
          g_array_append_val (opt->ranges, r);
        }
      if (l->b_len)
        {
          DecayRange r = { l->b_off, l->b_len, FALSE };
          g_array_append_val (opt->ranges, r);
        }
    }
  return opt;
}

void
bt_optimizer_free (BtOptimizer *opt)
{
  if (opt == NULL)
    return;
  g_free (opt->state);
  g_free (opt->partials);
  g_free (opt->average);
  g_array_unref (opt->ranges);
  g_free (opt);
}

float *
bt_optimizer_state (BtOptimizer *opt, gsize *n)
{
  g_return_val_if_fail (opt != NULL, NULL);
  if (n)
    *n = opt->n_state;
  return opt->state;
}

gint64 bt_optimizer_get_t (const BtOptimizer *opt) { g_return_val_if_fail (opt, 0); return opt->t; }
void bt_optimizer_set_t (BtOptimizer *opt, gint64 t) { g_return_if_fail (opt); opt->t = MAX (t, 0); }
const BtOptimizerConfig *bt_optimizer_get_config (const BtOptimizer *opt) { g_return_val_if_fail (opt, NULL); return &opt->cfg; }

float *
bt_optimizer_average (BtOptimizer *opt, gsize *n)
{
  g_return_val_if_fail (opt != NULL, NULL);
  if (n)
    *n = opt->average ? opt->n : 0;
  return opt->average;
}

gboolean
bt_optimizer_swap_average (BtOptimizer *opt, BtNet *net)
{
  g_return_val_if_fail (opt != NULL && net != NULL, FALSE);
  g_return_val_if_fail (net->n_params == opt->n, FALSE);
  if (opt->average == NULL)
    return FALSE;
  float *p = net->params, *a = opt->average;
  bt_net_params_changed (net);
  for (gsize i = 0; i < opt->n; i++)
    {
      float t = p[i];
      p[i] = a[i];
      a[i] = t;
    }
  opt->swapped = !opt->swapped;
  return TRUE;
}

gboolean
bt_optimizer_is_swapped (const BtOptimizer *opt)
{
  g_return_val_if_fail (opt != NULL, FALSE);
  return opt->swapped;
}

typedef struct {
  BtOptimizer *opt;
  const float *g;
  float       *p;
  float        gscale, lr, step, inv_sqrt_bc2;
  float        avg_keep;  /* the moving average's decay this step */
  gboolean     avx2;      /* Adam(W) eight floats at a time */
} StepCtx;

typedef struct { const float *g; gsize n; double *partials; } SquareCtx;

BT_HOT_LOOP
static void
square_blocks (gpointer ctx, gsize b0, gsize b1)
{
  SquareCtx *x = ctx;
  for (gsize b = b0; b < b1; b++)
    {
      const float *g = x->g + b * BT_NORM_BLOCK;
      gsize len = MIN (BT_NORM_BLOCK, x->n - b * BT_NORM_BLOCK);
      double acc[4] = { 0 };
      gsize i = 0;
      for (; i + 4 <= len; i += 4)
        for (int k = 0; k < 4; k++)
          acc[k] += (double) g[i + k] * g[i + k];
      for (; i < len; i++)
        acc[0] += (double) g[i] * g[i];
      x->partials[b] = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    }
}

double
bt_grads_square_sum (const float *g, gsize n, double *partials)
{
  /* fixed blocks summed in a fixed order: the same sum for any thread count */
  SquareCtx x = { g, n, partials };
  const gsize n_blocks = (n + BT_NORM_BLOCK - 1) / BT_NORM_BLOCK;
  bt_parallel_for (n_blocks, 2, square_blocks, &x);
  double sq = 0.0;
  for (gsize b = 0; b < n_blocks; b++)
    sq += partials[b];
  return sq;
}

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define OPTIM_X86 1
#else
#define OPTIM_X86 0
#endif

#if OPTIM_X86
/* Adam(W) and the weights' moving average (a, or NULL) over [i0, i1) in one pass, eight floats
 * at a time; returns where it stopped (the rest is the scalar loop's). The same operations in
 * the same order as that loop, without FMA (the build does not contract it either), so the same
 * bits. The scalar loop stayed scalar (sqrtf's errno check) and took 26 % of an MLP step. */
__attribute__ ((target ("avx2")))
static gsize
adam_avx2 (float *restrict pp, const float *restrict gg, float *restrict m, float *restrict v,
           float *restrict a, gsize i0, gsize i1, float gscale, float l2, float decay, float b1, float b2,
           float eps, float step, float isb, float take)
{
  const __m256 vgs = _mm256_set1_ps (gscale), vl2 = _mm256_set1_ps (l2), vdecay = _mm256_set1_ps (decay);
  const __m256 vb1 = _mm256_set1_ps (b1), vb2 = _mm256_set1_ps (b2);
  const __m256 vc1 = _mm256_set1_ps (1.0f - b1), vc2 = _mm256_set1_ps (1.0f - b2);
  const __m256 veps = _mm256_set1_ps (eps), vstep = _mm256_set1_ps (step), visb = _mm256_set1_ps (isb);
  const __m256 vtake = _mm256_set1_ps (take);
  gsize i = i0;
  for (; i + 8 <= i1; i += 8)
    {
      const __m256 p = _mm256_loadu_ps (pp + i);
      const __m256 g = _mm256_add_ps (_mm256_mul_ps (_mm256_loadu_ps (gg + i), vgs), _mm256_mul_ps (vl2, p));
      const __m256 mi = _mm256_add_ps (_mm256_mul_ps (vb1, _mm256_loadu_ps (m + i)), _mm256_mul_ps (vc1, g));
      const __m256 vi = _mm256_add_ps (_mm256_mul_ps (vb2, _mm256_loadu_ps (v + i)),
                                       _mm256_mul_ps (_mm256_mul_ps (vc2, g), g));
      _mm256_storeu_ps (m + i, mi);
      _mm256_storeu_ps (v + i, vi);
      const __m256 den = _mm256_add_ps (_mm256_mul_ps (_mm256_sqrt_ps (vi), visb), veps);
      const __m256 np = _mm256_sub_ps (_mm256_mul_ps (p, vdecay), _mm256_div_ps (_mm256_mul_ps (vstep, mi), den));
      _mm256_storeu_ps (pp + i, np);
      if (a != NULL)
        {
          const __m256 av = _mm256_loadu_ps (a + i);
          _mm256_storeu_ps (a + i, _mm256_add_ps (av, _mm256_mul_ps (vtake, _mm256_sub_ps (np, av))));
        }
    }
  return i;
}
#endif

/* Updates parameters [i0, i1) of one decay range (weight decay wd). */
BT_HOT_LOOP
static void
update_span (StepCtx *x, gsize i0, gsize i1, float wd)
{
  const BtOptimizerConfig *c = &x->opt->cfg;
  float *restrict pp = x->p;
  const float *restrict gg = x->g;
  const float gscale = x->gscale, lr = x->lr;
  gsize avg_from = i0;   /* the moving average is still to do from here */
  switch (c->kind)
    {
    case BT_OPTIMIZER_SGD:
      {
        float *restrict v = x->opt->state;
        const float mu = c->momentum;
        if (c->nesterov)
          for (gsize i = i0; i < i1; i++)
            {
              float gi = gg[i] * gscale + wd * pp[i];
              v[i] = mu * v[i] + gi;
              pp[i] -= lr * (gi + mu * v[i]);
            }
        else
          for (gsize i = i0; i < i1; i++)
            {
              float gi = gg[i] * gscale + wd * pp[i];
              v[i] = mu * v[i] + gi;
              pp[i] -= lr * v[i];
            }
      }
      break;
    case BT_OPTIMIZER_ADAM:
    case BT_OPTIMIZER_ADAMW:
      {
        float *restrict m = x->opt->state;
        float *restrict v = x->opt->state + x->opt->n;
        const float b1 = c->beta1, b2 = c->beta2, eps = c->eps;
        const float step = x->step, isb = x->inv_sqrt_bc2;
        const float l2 = c->kind == BT_OPTIMIZER_ADAM ? wd : 0.0f;
        const float decay = c->kind == BT_OPTIMIZER_ADAMW ? 1.0f - lr * wd : 1.0f;
        gsize i = i0;
#if OPTIM_X86
        if (x->avx2)
          i = avg_from = adam_avx2 (pp, gg, m, v, x->opt->average, i0, i1, gscale, l2, decay, b1, b2, eps,
                                    step, isb, 1.0f - x->avg_keep);
#endif
        for (; i < i1; i++)
          {
            float gi = gg[i] * gscale + l2 * pp[i];
            float mi = b1 * m[i] + (1.0f - b1) * gi;
            float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
            m[i] = mi;
            v[i] = vi;
            pp[i] = pp[i] * decay - step * mi / (sqrtf (vi) * isb + eps);
          }
      }
      break;
    default:
      g_assert_not_reached ();
    }
  if (x->opt->average != NULL)
    {
      float *restrict a = x->opt->average;
      const float take = 1.0f - x->avg_keep;
      for (gsize i = avg_from; i < i1; i++)
        a[i] += take * (pp[i] - a[i]);
    }
}

/* Parameters [i0, i1) of the whole block, range by range: one parallel pass for the whole net
 * (a pass per range cost a hand-off to the pool per layer, and small ranges ran on one thread). */
static void
update_blocks (gpointer ctx, gsize i0, gsize i1)
{
  StepCtx *x = ctx;
  const BtOptimizerConfig *c = &x->opt->cfg;
  for (guint r = 0; r < x->opt->ranges->len; r++)
    {
      const DecayRange *rg = &g_array_index (x->opt->ranges, DecayRange, r);
      gsize lo = MAX (i0, rg->off), hi = MIN (i1, rg->off + rg->len);
      if (lo < hi)
        update_span (x, lo, hi, rg->decay ? c->weight_decay : 0.0f);
    }
}

double
bt_optimizer_step (BtOptimizer *opt, BtNet *net, float lr)
{
  g_return_val_if_fail (opt != NULL, NAN);
  g_return_val_if_fail (net != NULL && net->n_params == opt->n, NAN);
  g_return_val_if_fail (!opt->swapped, NAN);
  const BtOptimizerConfig *c = &opt->cfg;
  bt_net_grads_ready (net);
  StepCtx x = { .opt = opt, .g = net->grads, .p = net->params, .lr = lr };
  bt_net_params_changed (net);

  /* the backward pass that wrote the gradients summed their squares already */
  double sq = net->grads_square_valid ? net->grads_square : bt_grads_square_sum (net->grads, opt->n, opt->partials);
  double norm = sqrt (sq);
  if (!isfinite (norm))
    return norm;  /* never apply a NaN step; the caller sees the norm */
  x.gscale = (c->clip_norm > 0.0f && norm > c->clip_norm) ? (float) (c->clip_norm / norm) : 1.0f;

  opt->t++;
  const float bc1 = 1.0f - (float) pow (c->beta1, (double) opt->t);
  const float bc2 = 1.0f - (float) pow (c->beta2, (double) opt->t);
  x.step = lr / bc1;
  x.inv_sqrt_bc2 = 1.0f / sqrtf (bc2);
  x.avg_keep = (float) MIN ((double) c->ema_decay, (1.0 + opt->t) / (10.0 + opt->t));

#if OPTIM_X86
  x.avx2 = bt_cpu_has_avx2_fma ();
#endif
  bt_parallel_for (opt->n, 1 << 14, update_blocks, &x);
  return norm;
}

float
bt_schedule_lr (const BtSchedule *s, gint64 step)
{
  g_return_val_if_fail (s != NULL, 0.0f);
  if (step < 0)
    step = 0;
  switch (s->kind)
    {
    case BT_SCHEDULE_CONSTANT:
    case BT_SCHEDULE_PLATEAU:
      return s->base_lr;
    case BT_SCHEDULE_STEP:
      if (s->step_every <= 0)
        return s->base_lr;
      return s->base_lr * (float) pow (s->gamma, (double) (step / s->step_every));
    case BT_SCHEDULE_COSINE:
      {
        if (s->warmup_steps > 0 && step < s->warmup_steps)
          return s->base_lr * (float) (step + 1) / (float) s->warmup_steps;
        gint64 span = MAX ((gint64) s->total_steps - MAX (s->warmup_steps, 0), 1);
        double progress = CLAMP ((double) (step - MAX (s->warmup_steps, 0)) / (double) span, 0.0, 1.0);
        return s->min_lr + (s->base_lr - s->min_lr) * (float) (0.5 * (1.0 + cos (G_PI * progress)));
      }
    default:
      g_return_val_if_reached (s->base_lr);
    }
}

gboolean
bt_net_train_step (BtNet *net, BtOptimizer *opt, const float *x, const int *labels, int n,
                   const float *class_weights, float label_smoothing, float lr,
                   double *loss, int *n_correct, GError **error)
{
  double norm;

  g_return_val_if_fail (net != NULL && opt != NULL && loss != NULL, FALSE);
  if (bt_net_forward (net, x, n, TRUE, error) == NULL)
    return FALSE;
  bt_net_zero_grad (net);
  if (!bt_net_backward (net, labels, n, class_weights, label_smoothing, loss, n_correct, error))
    return FALSE;
  norm = bt_optimizer_step (opt, net, lr);
  if (!isfinite (norm))
    {
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_NUMERIC, "The gradient norm is not finite (%g)", norm);
      return FALSE;
    }
  return TRUE;
}

void
bt_plateau_init (BtPlateau *p, float factor, int patience, double min_delta, gboolean mode_max)
{
  g_return_if_fail (p != NULL);
  p->factor = factor;
  p->patience = MAX (patience, 0);
  p->min_delta = min_delta;
  p->mode_max = mode_max;
  p->best = mode_max ? -INFINITY : INFINITY;
  p->bad_epochs = 0;
  p->multiplier = 1.0f;
}

float
bt_plateau_update (BtPlateau *p, double value)
{
  g_return_val_if_fail (p != NULL, 1.0f);
  gboolean better = isfinite (value) &&
                    (p->mode_max ? value > p->best + p->min_delta : value < p->best - p->min_delta);
  if (better)
    {
      p->best = value;
      p->bad_epochs = 0;
    }
  else if (++p->bad_epochs > p->patience)
    {
      p->multiplier *= p->factor;
      p->bad_epochs = 0;
    }
  return p->multiplier;
}
