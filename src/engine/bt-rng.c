/* bt-rng.c: xoshiro256** seeded through splitmix64; the engine's only source of randomness,
 * so the same seed replays the same initialization, dropout masks and shuffles. */
#include "engine/bt-engine.h"

#include <math.h>

static guint64
splitmix64 (guint64 *x)
{
  guint64 z = (*x += G_GUINT64_CONSTANT (0x9e3779b97f4a7c15));
  z = (z ^ (z >> 30)) * G_GUINT64_CONSTANT (0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * G_GUINT64_CONSTANT (0x94d049bb133111eb);
  return z ^ (z >> 31);
}

static inline guint64
rotl (guint64 x, int k)
{
  return (x << k) | (x >> (64 - k));
}

void
bt_rng_seed (BtRng *rng, guint64 seed)
{
  g_return_if_fail (rng != NULL);
  guint64 x = seed;
  for (int i = 0; i < 4; i++)
    rng->s[i] = splitmix64 (&x);
}

guint64
bt_rng_next (BtRng *rng)
{
  guint64 *s = rng->s;
  guint64 result = rotl (s[1] * 5, 7) * 9;
  guint64 t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl (s[3], 45);
  return result;
}

float
bt_rng_uniform (BtRng *rng)
{
  /* 24 random mantissa bits: exactly representable, never 1.0 */
  return (float) (bt_rng_next (rng) >> 40) * (1.0f / 16777216.0f);
}

float
bt_rng_normal (BtRng *rng)
{
  /* Box–Muller on two fresh draws per call: stateless, so a copied BtRng replays exactly. */
  double u1 = ((bt_rng_next (rng) >> 11) + 1.0) * (1.0 / 9007199254740993.0); /* (0, 1] */
  double u2 = (bt_rng_next (rng) >> 11) * (1.0 / 9007199254740992.0);
  return (float) (sqrt (-2.0 * log (u1)) * cos (2.0 * G_PI * u2));
}

guint32
bt_rng_below (BtRng *rng, guint32 n)
{
  g_return_val_if_fail (n > 0, 0);
  /* Lemire's multiply-shift with rejection of the biased low range. */
  guint64 m = (bt_rng_next (rng) >> 32) * (guint64) n;
  guint32 l = (guint32) m;
  if (l < n)
    {
      guint32 threshold = (guint32) (-n) % n;
      while (l < threshold)
        {
          m = (bt_rng_next (rng) >> 32) * (guint64) n;
          l = (guint32) m;
        }
    }
  return (guint32) (m >> 32);
}

void
bt_rng_shuffle (BtRng *rng, guint32 *v, gsize n)
{
  g_return_if_fail (rng != NULL);
  g_return_if_fail (n == 0 || v != NULL);
  g_return_if_fail (n <= G_MAXUINT32);
  for (gsize i = n; i > 1; i--)
    {
      guint32 j = bt_rng_below (rng, (guint32) i);
      guint32 tmp = v[i - 1];
      v[i - 1] = v[j];
      v[j] = tmp;
    }
}
