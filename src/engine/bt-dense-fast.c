/* bt-dense-fast.c: inference dense layers with the weights packed once into panels of 16 outputs
 * ([panel][in_dim][16], the last panel's missing outputs zero) and a 6-row × 16-output register
 * tile, the bias and the activation applied on the registers. OpenBLAS repacked the Small CNN's
 * 1.6 MB fc1 weights on every call and ran its kernel at about 60 % of the FMA rate, then the
 * activation took another pass (docs/PERFORMANCE.md, #25). Panels run outermost, so one panel
 * (at most in_dim · 64 bytes) stays in L2 while every row streams past it. */
#include "engine/bt-engine-private.h"

#include <string.h>

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define DENSE_X86 1
#else
#define DENSE_X86 0
#endif

#define DENSE_NB 16   /* outputs per panel and register tile */
#define DENSE_MR 6    /* rows per register tile */

static int
n_panels (int out_dim)
{
  return (out_dim + DENSE_NB - 1) / DENSE_NB;
}

gboolean
bt_dense_fast_fits (void)
{
  return bt_conv2d_fast_mode () > 0;
}

gsize
bt_dense_packed_size (int in_dim, int out_dim)
{
  return (gsize) n_panels (out_dim) * in_dim * DENSE_NB;
}

void
bt_dense_pack (float *packed, const float *w, int in_dim, int out_dim)
{
  g_return_if_fail (packed != NULL && w != NULL && in_dim > 0 && out_dim > 0);
  memset (packed, 0, sizeof (float) * bt_dense_packed_size (in_dim, out_dim));
  for (int o = 0; o < out_dim; o++)
    {
      float *p = packed + (gsize) (o / DENSE_NB) * in_dim * DENSE_NB + o % DENSE_NB;
      const float *wo = w + (gsize) o * in_dim;
      for (int k = 0; k < in_dim; k++)
        p[(gsize) k * DENSE_NB] = wo[k];
    }
}

/* Rows rows[0..DENSE_MR) (the ones past nr repeat the last), one panel; out: row r's outputs
 * start at out + r · ldo; nc of the panel's 16 outputs are real; bias: the panel's (nc floats). */
typedef void (*DenseTile) (float *restrict out, int ldo, const float *const *rows, int nr,
                           const float *restrict panel, int k_len, const float *bias, int nc, int act);

static void
tile_portable (float *restrict out, int ldo, const float *const *rows, int nr, const float *restrict panel,
               int k_len, const float *bias, int nc, int act)
{
  for (int r = 0; r < nr; r++)
    for (int o = 0; o < nc; o++)
      {
        float acc = 0.0f;
        for (int k = 0; k < k_len; k++)
          acc += rows[r][k] * panel[(gsize) k * DENSE_NB + o];
        out[(gsize) r * ldo + o] = bt_act_map (acc, 1.0f, bias ? bias[o] : 0.0f, act);
      }
}

#if DENSE_X86
__attribute__ ((target ("avx2,fma")))
static void
tile_avx2 (float *restrict out, int ldo, const float *const *rows, int nr, const float *restrict panel,
           int k_len, const float *bias, int nc, int act)
{
  const float *r0 = rows[0], *r1 = rows[1], *r2 = rows[2], *r3 = rows[3], *r4 = rows[4], *r5 = rows[5];
  __m256 a00 = _mm256_setzero_ps (), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00;
  __m256 a30 = a00, a31 = a00, a40 = a00, a41 = a00, a50 = a00, a51 = a00;
  for (int k = 0; k < k_len; k++, panel += DENSE_NB)
    {
      const __m256 v0 = _mm256_loadu_ps (panel), v1 = _mm256_loadu_ps (panel + 8);
      __m256 b = _mm256_broadcast_ss (r0 + k);
      a00 = _mm256_fmadd_ps (b, v0, a00), a01 = _mm256_fmadd_ps (b, v1, a01);
      b = _mm256_broadcast_ss (r1 + k);
      a10 = _mm256_fmadd_ps (b, v0, a10), a11 = _mm256_fmadd_ps (b, v1, a11);
      b = _mm256_broadcast_ss (r2 + k);
      a20 = _mm256_fmadd_ps (b, v0, a20), a21 = _mm256_fmadd_ps (b, v1, a21);
      b = _mm256_broadcast_ss (r3 + k);
      a30 = _mm256_fmadd_ps (b, v0, a30), a31 = _mm256_fmadd_ps (b, v1, a31);
      b = _mm256_broadcast_ss (r4 + k);
      a40 = _mm256_fmadd_ps (b, v0, a40), a41 = _mm256_fmadd_ps (b, v1, a41);
      b = _mm256_broadcast_ss (r5 + k);
      a50 = _mm256_fmadd_ps (b, v0, a50), a51 = _mm256_fmadd_ps (b, v1, a51);
    }
  float bs[DENSE_NB] = { 0 };
  if (bias != NULL)
    memcpy (bs, bias, sizeof (float) * nc);
  const __m256 b0 = _mm256_loadu_ps (bs), b1 = _mm256_loadu_ps (bs + 8), one = _mm256_set1_ps (1.0f);
  const __m256 acc[DENSE_MR][2] = { { a00, a01 }, { a10, a11 }, { a20, a21 }, { a30, a31 }, { a40, a41 }, { a50, a51 } };
  for (int r = 0; r < nr; r++)
    {
      const __m256 y0 = bt_act8_avx2 (acc[r][0], one, b0, act), y1 = bt_act8_avx2 (acc[r][1], one, b1, act);
      float *d = out + (gsize) r * ldo;
      if (nc == DENSE_NB)
        {
          _mm256_storeu_ps (d, y0);
          _mm256_storeu_ps (d + 8, y1);
          continue;
        }
      float tmp[DENSE_NB];
      _mm256_storeu_ps (tmp, y0);
      _mm256_storeu_ps (tmp + 8, y1);
      memcpy (d, tmp, sizeof (float) * nc);
    }
}
#endif

typedef struct {
  float *out;
  const float *in, *packed, *b;
  int n, in_dim, out_dim, act, n_rb;
  DenseTile tile;
} DenseFastJob;

/* items: panel-major (panel · n_rb + row block), so a worker keeps its panel in L2 */
static void
dense_fast_part (gpointer p, gsize i0, gsize i1)
{
  const DenseFastJob *j = p;
  for (gsize i = i0; i < i1; i++)
    {
      const int ob = (int) (i / j->n_rb), r0 = (int) (i % j->n_rb) * DENSE_MR;
      const int nr = MIN (DENSE_MR, j->n - r0), nc = MIN (DENSE_NB, j->out_dim - ob * DENSE_NB);
      const float *rows[DENSE_MR];
      for (int r = 0; r < DENSE_MR; r++)
        rows[r] = j->in + (gsize) (r0 + MIN (r, nr - 1)) * j->in_dim;
      j->tile (j->out + (gsize) r0 * j->out_dim + ob * DENSE_NB, j->out_dim, rows, nr,
               j->packed + (gsize) ob * j->in_dim * DENSE_NB, j->in_dim, j->b ? j->b + ob * DENSE_NB : NULL, nc,
               j->act);
    }
}

void
bt_dense_forward_packed (float *out, const float *in, const float *packed, const float *b, int n, int in_dim,
                         int out_dim, int act)
{
  g_assert (out && in && packed && n > 0 && in_dim > 0 && out_dim > 0 && bt_dense_fast_fits ());
  DenseFastJob j = { out, in, packed, b, n, in_dim, out_dim, act, (n + DENSE_MR - 1) / DENSE_MR, tile_portable };
#if DENSE_X86
  if (bt_conv2d_fast_mode () == 2)
    j.tile = tile_avx2;
#endif
  bt_parallel_for ((gsize) n_panels (out_dim) * j.n_rb, 1, dense_fast_part, &j);
}
