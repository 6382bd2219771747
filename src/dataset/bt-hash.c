/* bt-hash.c: the 64-bit content hash of an image file (duplicates, the stable split, caches)
 * and the mixer it is built on. */
#include "config.h"

#include <string.h>

#include "dataset/bt-dataset-private.h"

guint64
bt_mix64 (guint64 z)
{
  z = (z ^ (z >> 30)) * G_GUINT64_CONSTANT (0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * G_GUINT64_CONSTANT (0x94d049bb133111eb);
  return z ^ (z >> 31);
}

/* Four independent multiply-rotate lanes over 32-byte blocks, then a strong finaliser. */
guint64
bt_hash_bytes (const guint8 *data, gsize len)
{
  const guint64 k1 = G_GUINT64_CONSTANT (0x9e3779b185ebca87);
  const guint64 k2 = G_GUINT64_CONSTANT (0xc2b2ae3d27d4eb4f);
  guint64 h[4] = { k1 + k2, k2, 0, G_GUINT64_CONSTANT (0x61c8864680b583eb) };
  gsize i = 0;
  for (; i + 32 <= len; i += 32)
    for (int l = 0; l < 4; l++)
      {
        guint64 w;
        memcpy (&w, data + i + 8 * l, 8);
        w = GUINT64_FROM_LE (w);
        h[l] += w * k2;
        h[l] = (h[l] << 31) | (h[l] >> 33);
        h[l] *= k1;
      }
  guint64 acc = (guint64) len * k1;
  for (int l = 0; l < 4; l++)
    acc = bt_mix64 (acc ^ h[l]) + k2;
  for (; i + 8 <= len; i += 8)
    {
      guint64 w;
      memcpy (&w, data + i, 8);
      acc = bt_mix64 (acc ^ (GUINT64_FROM_LE (w) * k1)) * k2;
    }
  guint64 tail = 0;
  for (gsize j = 0; i < len; i++, j++)
    tail |= (guint64) data[i] << (8 * j);
  acc = bt_mix64 (acc ^ (tail * k2) ^ ((guint64) len << 56));
  return acc == 0 ? 1 : acc;
}
