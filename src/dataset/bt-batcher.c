/* bt-batcher.c: batches for the trainer from the decoded cache: seeded per-epoch shuffle,
 * augmentation (flip, crop with padding, small rotation, brightness/contrast), float NCHW. */
#include "config.h"

#include <math.h>
#include <string.h>

#include "dataset/bt-dataset-private.h"

struct _BtBatcher {
  BtCache  *cache;
  guint    *items;
  int      *labels;
  guint     n;
  guint    *order;
  guint     pos;
  int       epoch;
  int       batch_size;
  gboolean  shuffle;
  BtAugment augment;
  float     scale;
  float     mean[4], std[4];
  guint64   seed;
  int       w, h, c;
  guint8   *tmp;
};

BtBatcher *
bt_batcher_new (BtCache *cache, const BtSplitView *view, int batch_size, gboolean shuffle,
                const BtAugment *augment, float scale, const float *mean, const float *std,
                guint64 seed)
{
  g_return_val_if_fail (cache != NULL && view != NULL, NULL);
  g_return_val_if_fail (batch_size > 0, NULL);
  BtBatcher *b = g_new0 (BtBatcher, 1);
  b->cache = cache;
  bt_cache_get_shape (cache, &b->w, &b->h, &b->c, NULL);
  b->items = g_new (guint, MAX (view->n, 1));
  b->labels = g_new (int, MAX (view->n, 1));
  for (guint i = 0; i < view->n; i++)
    if (bt_cache_is_valid (cache, view->items[i]))
      {
        b->items[b->n] = view->items[i];
        b->labels[b->n] = view->labels[i];
        b->n++;
      }
  b->order = g_new (guint, MAX (b->n, 1));
  b->batch_size = batch_size;
  b->shuffle = shuffle;
  if (augment)
    b->augment = *augment;
  b->scale = scale;
  for (int ch = 0; ch < b->c; ch++)
    {
      b->mean[ch] = mean ? mean[ch] : 0.f;
      b->std[ch] = std ? std[ch] : 1.f;
    }
  b->seed = seed;
  b->tmp = g_malloc ((gsize) b->w * b->h * b->c);
  bt_batcher_start_epoch (b, 0);
  return b;
}

void
bt_batcher_free (BtBatcher *b)
{
  if (b == NULL)
    return;
  g_free (b->items);
  g_free (b->labels);
  g_free (b->order);
  g_free (b->tmp);
  g_free (b);
}

void
bt_batcher_start_epoch (BtBatcher *b, int epoch)
{
  g_return_if_fail (b != NULL);
  b->epoch = epoch;
  b->pos = 0;
  for (guint i = 0; i < b->n; i++)
    b->order[i] = i;
  if (!b->shuffle)
    return;
  BtRng rng = { bt_mix64 (b->seed ^ bt_mix64 ((guint64) epoch + 1)) };
  for (guint i = b->n; i > 1; i--)
    {
      guint j = bt_rng_below (&rng, i);
      guint t = b->order[i - 1];
      b->order[i - 1] = b->order[j];
      b->order[j] = t;
    }
}

guint
bt_batcher_n_batches (BtBatcher *b)
{
  g_return_val_if_fail (b != NULL, 0);
  return (b->n + b->batch_size - 1) / b->batch_size;
}

guint
bt_batcher_n_items (BtBatcher *b)
{
  g_return_val_if_fail (b != NULL, 0);
  return b->n;
}

static inline float
sample_bilinear (const guint8 *src, int w, int h, int c, int ch, float x, float y)
{
  if (x <= -1.f || y <= -1.f || x >= w || y >= h)
    return 0.f;
  int x0 = (int) floorf (x), y0 = (int) floorf (y);
  float fx = x - x0, fy = y - y0;
  float v = 0.f;
  for (int dy = 0; dy < 2; dy++)
    for (int dx = 0; dx < 2; dx++)
      {
        int xx = x0 + dx, yy = y0 + dy;
        if (xx < 0 || yy < 0 || xx >= w || yy >= h)
          continue;
        float wgt = (dx ? fx : 1.f - fx) * (dy ? fy : 1.f - fy);
        v += wgt * src[((gsize) yy * w + xx) * c + ch];
      }
  return v;
}

/* Writes one augmented image as uint8 HWC into dst. Randomness depends only on the seed, the
 * epoch and the item, so a run is reproducible whatever the batch size or thread timing. */
static void
augment_one (BtBatcher *b, const guint8 *src, guint item, guint8 *dst)
{
  int w = b->w, h = b->h, c = b->c;
  BtRng rng = { bt_mix64 (b->seed ^ bt_mix64 (((guint64) b->epoch << 32) ^ item ^ 0xa5a5a5a5u)) };
  gboolean flip = b->augment.flip && (bt_rng_next (&rng) & 1);
  int pad = MAX (1, MIN (w, h) / 8);
  float sx = 0.f, sy = 0.f, angle = 0.f;
  if (b->augment.crop)
    {
      sx = (float) ((int) bt_rng_below (&rng, 2 * pad + 1) - pad);
      sy = (float) ((int) bt_rng_below (&rng, 2 * pad + 1) - pad);
    }
  if (b->augment.rotate)
    angle = (float) ((bt_rng_uniform (&rng) * 2.0 - 1.0) * G_PI / 12.0);  /* ±15° */
  float contrast = 1.f, brightness = 0.f;
  if (b->augment.color)
    {
      contrast = (float) (0.8 + 0.4 * bt_rng_uniform (&rng));
      brightness = (float) ((bt_rng_uniform (&rng) * 2.0 - 1.0) * 0.2 * 255.0);
    }
  float cs = cosf (angle), sn = sinf (angle);
  float cx = (w - 1) * 0.5f, cy = (h - 1) * 0.5f;
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        /* inverse map: output → shifted → rotated → (mirrored) source */
        float ox = x - cx - sx, oy = y - cy - sy;
        float px = cs * ox + sn * oy + cx, py = -sn * ox + cs * oy + cy;
        if (flip)
          px = (w - 1) - px;
        for (int ch = 0; ch < c; ch++)
          {
            float v;
            if (angle == 0.f)
              {
                int ix = (int) lrintf (px), iy = (int) lrintf (py);
                v = (ix < 0 || iy < 0 || ix >= w || iy >= h) ? 0.f : src[((gsize) iy * w + ix) * c + ch];
              }
            else
              v = sample_bilinear (src, w, h, c, ch, px, py);
            v = (v - 127.5f) * contrast + 127.5f + brightness;
            v = v < 0.f ? 0.f : v > 255.f ? 255.f : v;
            dst[((gsize) y * w + x) * c + ch] = (guint8) (v + 0.5f);
          }
      }
}

int
bt_batcher_next (BtBatcher *b, float *x, int *labels, guint *item_indices)
{
  g_return_val_if_fail (b != NULL && x != NULL, 0);
  gboolean any_aug = b->augment.flip || b->augment.crop || b->augment.rotate || b->augment.color;
  gsize plane = (gsize) b->w * b->h * b->c;
  int k = 0;
  while (k < b->batch_size && b->pos < b->n)
    {
      guint i = b->order[b->pos++];
      const guint8 *src = bt_cache_get (b->cache, b->items[i]);
      if (any_aug)
        {
          augment_one (b, src, b->items[i], b->tmp);
          src = b->tmp;
        }
      bt_image_to_chw_float (src, b->w, b->h, b->c, b->scale, b->mean, b->std, x + plane * k);
      if (labels)
        labels[k] = b->labels[i];
      if (item_indices)
        item_indices[k] = b->items[i];
      k++;
    }
  return k;
}
