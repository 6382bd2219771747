/* bt-winograd.c: inference 3×3 stride-1 convolutions as Winograd F(4×4, 3×3): 36 multiplies per
 * 4×4 output tile and channel pair instead of im2col's 144, weights transformed and packed once.
 *
 * Per slab of tiles (4×4 outputs each, numbered over the whole batch): the input transform
 * writes V[tile block][e][c][16 tiles] (e: the 36 points of the 6×6 transform); then, per block
 * of 6 output channels, per 16-tile block, 36 small products M[e] = U[e] · V[e] (a 6 × 16 register
 * tile, the micro-kernel) and the output transform with the conv's epilogue (scale, shift,
 * activation, 2×2 max pool: each 2×2 quarter of a tile is one pool window) straight into the
 * output. M stays in L1; U for one channel block stays in L2 across the slab. The AVX2/FMA kernel
 * is chosen at run time; the portable kernel computes the same sums and serves the tests on any
 * machine. F(2×2, 3×3) (16 multiplies per 2×2 tile) was the first version: F(4×4) gained 14 %
 * (Small CNN) and 22 % (Deeper CNN) more (docs/PERFORMANCE.md, #25). F(2×2) stays for planes
 * too small to fill a 16-tile register tile with F(4×4) tiles (the packed weights hold both). */
#include "engine/bt-engine-private.h"

#include <string.h>

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define WINO_X86 1
#else
#define WINO_X86 0
#endif

#define WINO_M         4               /* outputs per tile side: F(4×4, 3×3) (F(2×2) for tiny planes) */
#define WINO_A         6               /* input tile side, WINO_M + 2 (the larger variant's) */
#define WINO_E         36              /* points of the transform, WINO_A² */
#define WINO_E2        16              /* F(2×2, 3×3)'s points */
#define WINO_OB        6               /* output channels per register tile */
#define WINO_TB        16              /* tiles per register tile (two AVX vectors) */
#define WINO_V_FLOATS  (80 * 1024)     /* one slab's transformed input (320 KiB of the 512 KiB L2) */
#define WINO_M_FLOATS  (WINO_E * WINO_OB * WINO_TB)
#define WINO_MAX_WORKERS 8
#define WINO_MIN_C     8               /* below this the products are too thin to win */

typedef void (*WinoKernel) (float *restrict m, const float *restrict u, const float *restrict v, int c);
typedef struct WinoJob WinoJob;
typedef struct TilePos TilePos;
typedef void (*WinoInput) (float *restrict v, const WinoJob *j, int t0, int nt);
typedef void (*WinoOutput) (const WinoJob *j, const float *restrict m, const TilePos *pos, int nt, int o0, int no);

static int wino_mode = -1;   /* -1 automatic, 0 off, 1 portable kernel, 2 AVX2 kernel */

/* ---- the micro-kernels: m[6][16] = Σ_k u[k][6]ᵀ · v[k][16] ---- */

static void
kernel_portable (float *restrict m, const float *restrict u, const float *restrict v, int c)
{
  float acc[WINO_OB][WINO_TB] = { { 0 } };
  for (int k = 0; k < c; k++)
    for (int r = 0; r < WINO_OB; r++)
      for (int t = 0; t < WINO_TB; t++)
        acc[r][t] += u[k * WINO_OB + r] * v[k * WINO_TB + t];
  memcpy (m, acc, sizeof acc);
}

#if WINO_X86
__attribute__ ((target ("avx2,fma")))
static void
kernel_avx2 (float *restrict m, const float *restrict u, const float *restrict v, int c)
{
  __m256 a00 = _mm256_setzero_ps (), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00;
  __m256 a30 = a00, a31 = a00, a40 = a00, a41 = a00, a50 = a00, a51 = a00;
  for (int k = 0; k < c; k++, u += WINO_OB, v += WINO_TB)
    {
      const __m256 v0 = _mm256_loadu_ps (v), v1 = _mm256_loadu_ps (v + 8);
      __m256 b = _mm256_broadcast_ss (u);
      a00 = _mm256_fmadd_ps (b, v0, a00), a01 = _mm256_fmadd_ps (b, v1, a01);
      b = _mm256_broadcast_ss (u + 1);
      a10 = _mm256_fmadd_ps (b, v0, a10), a11 = _mm256_fmadd_ps (b, v1, a11);
      b = _mm256_broadcast_ss (u + 2);
      a20 = _mm256_fmadd_ps (b, v0, a20), a21 = _mm256_fmadd_ps (b, v1, a21);
      b = _mm256_broadcast_ss (u + 3);
      a30 = _mm256_fmadd_ps (b, v0, a30), a31 = _mm256_fmadd_ps (b, v1, a31);
      b = _mm256_broadcast_ss (u + 4);
      a40 = _mm256_fmadd_ps (b, v0, a40), a41 = _mm256_fmadd_ps (b, v1, a41);
      b = _mm256_broadcast_ss (u + 5);
      a50 = _mm256_fmadd_ps (b, v0, a50), a51 = _mm256_fmadd_ps (b, v1, a51);
    }
  _mm256_storeu_ps (m, a00), _mm256_storeu_ps (m + 8, a01);
  _mm256_storeu_ps (m + 16, a10), _mm256_storeu_ps (m + 24, a11);
  _mm256_storeu_ps (m + 32, a20), _mm256_storeu_ps (m + 40, a21);
  _mm256_storeu_ps (m + 48, a30), _mm256_storeu_ps (m + 56, a31);
  _mm256_storeu_ps (m + 64, a40), _mm256_storeu_ps (m + 72, a41);
  _mm256_storeu_ps (m + 80, a50), _mm256_storeu_ps (m + 88, a51);
}
#endif

/* The mode once: BOTTEGA_CONV=im2col turns Winograd and the direct conv off (for benchmarks
 * against the old path). */
int
bt_conv2d_fast_mode (void)
{
  int m = g_atomic_int_get (&wino_mode);
  if (m >= 0)
    return m;
  const char *env = g_getenv ("BOTTEGA_CONV");
  m = env != NULL && g_str_equal (env, "im2col") ? 0 : bt_cpu_has_avx2_fma () ? 2 : 0;
  g_atomic_int_set (&wino_mode, m);
  return m;
}

void
bt_conv2d_winograd_set_mode (int m)
{
  g_return_if_fail (m >= -1 && m <= 2);
  g_atomic_int_set (&wino_mode, m == 2 && !bt_cpu_has_avx2_fma () ? 1 : m);
}

static gboolean
geometry_fits (const BtConvShape *s)
{
  return s->groups == 1 && s->kh == 3 && s->kw == 3 && s->stride_h == 1 && s->stride_w == 1 &&
         s->c >= WINO_MIN_C && s->oh >= 1 && s->ow >= 1;
}

gboolean
bt_conv2d_winograd_fits (const BtConvShape *s)
{
  g_return_val_if_fail (s != NULL, FALSE);
  return bt_conv2d_fast_mode () > 0 && geometry_fits (s);
}

static int
n_oblocks (int oc)
{
  return (oc + WINO_OB - 1) / WINO_OB;
}

gsize
bt_conv2d_winograd_packed_size (int oc, int c)
{
  return (gsize) (WINO_E + WINO_E2) * n_oblocks (oc) * WINO_OB * c;
}

/* U = G g Gᵀ per (o, c), G = [¼ 0 0; -⅙ -⅙ -⅙; -⅙ ⅙ -⅙; 1/24 1/12 ⅙; 1/24 -1/12 ⅙; 0 0 1]
 * (Lavin and Gray's F(4×4, 3×3) at the points 0, ±1, ±2), stored as U[e][o block][c][6] (rows
 * past oc zero). w: [oc, c, 3, 3]. */
BT_INLINE void
g_times (float *restrict u, const float *restrict g, int step)
{
  const float g0 = g[0], g1 = g[step], g2 = g[2 * step];
  u[0] = g0 / 4.0f;
  u[1] = -(g0 + g1 + g2) / 6.0f;
  u[2] = -(g0 - g1 + g2) / 6.0f;
  u[3] = g0 / 24.0f + g1 / 12.0f + g2 / 6.0f;
  u[4] = g0 / 24.0f - g1 / 12.0f + g2 / 6.0f;
  u[5] = g2;
}

BT_INLINE void
g2_times (float *restrict u, const float *restrict g, int step)
{
  const float g0 = g[0], g1 = g[step], g2 = g[2 * step];
  u[0] = g0;
  u[1] = 0.5f * (g0 + g1 + g2);
  u[2] = 0.5f * (g0 - g1 + g2);
  u[3] = g2;
}

void
bt_conv2d_winograd_pack (float *packed, const float *w, int oc, int c)
{
  g_return_if_fail (packed != NULL && w != NULL && oc > 0 && c > 0);
  const int nob = n_oblocks (oc);
  memset (packed, 0, sizeof (float) * bt_conv2d_winograd_packed_size (oc, c));
  for (int o = 0; o < oc; o++)
    for (int ci = 0; ci < c; ci++)
      {
        const float *g = w + ((gsize) o * c + ci) * 9;
        float t[3][WINO_A], u[WINO_A][WINO_A];   /* t = (G g)ᵀ: column k of G g is row k of t */
        for (int k = 0; k < 3; k++)
          g_times (t[k], g + k, 3);
        for (int r = 0; r < WINO_A; r++)
          {
            const float row[3] = { t[0][r], t[1][r], t[2][r] };
            g_times (u[r], row, 1);
          }
        const int ob = o / WINO_OB, r = o % WINO_OB;
        for (int e = 0; e < WINO_E; e++)
          packed[(((gsize) e * nob + ob) * c + ci) * WINO_OB + r] = u[e / WINO_A][e % WINO_A];
        /* F(2×2, 3×3) after it: G = [1 0 0; ½ ½ ½; ½ -½ ½; 0 0 1] */
        float t2[3][4], u2[4][4];
        for (int k = 0; k < 3; k++)
          g2_times (t2[k], g + k, 3);
        for (int q = 0; q < 4; q++)
          {
            const float row[3] = { t2[0][q], t2[1][q], t2[2][q] };
            g2_times (u2[q], row, 1);
          }
        float *p2 = packed + (gsize) WINO_E * nob * WINO_OB * c;
        for (int e = 0; e < WINO_E2; e++)
          p2[(((gsize) e * nob + ob) * c + ci) * WINO_OB + r] = u2[e / 4][e % 4];
      }
}

static int
slab_tiles (const BtConvShape *s, int ne)
{
  int t = WINO_V_FLOATS / (ne * s->c) / WINO_TB * WINO_TB;
  return MAX (t, WINO_TB);
}

/* V for either variant (at most WINO_V_FLOATS, or one 16-tile block), then M. */
static gsize
scratch_floats (const BtConvShape *s)
{
  const gsize v = MAX ((gsize) WINO_V_FLOATS, (gsize) WINO_E * s->c * WINO_TB);
  return (v + WINO_M_FLOATS + 15) / 16 * 16;
}

gsize
bt_conv2d_winograd_workspace_size (const BtConvShape *s)
{
  g_return_val_if_fail (s != NULL, 0);
  /* by geometry alone, so a workspace stays big enough when the mode changes */
  return geometry_fits (s) ? WINO_MAX_WORKERS * scratch_floats (s) : 0;
}

struct WinoJob {
  const BtConvShape *s;
  const BtConvEpilogue *e;
  const float *in, *u;
  float *out, *scratch;
  gsize scratch_len;
  int m, a, ne;   /* the variant: outputs and inputs per tile side, points (4, 6, 36 or 2, 4, 16) */
  int th, tw, tiles, slab, n_slabs, nob, ob_split, OH, OW;
  WinoKernel kernel;
  WinoInput input;
  WinoOutput output;
  gint next;
};

/* Bᵀ x for 16 lanes of six values x[0..5] (a 6-float stride apart, each WINO_TB lanes), into
 * y[0..5] (same layout): Bᵀ = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0;
 * 0 2 -1 -2 1 0; 0 4 0 -5 0 1]. */
BT_INLINE void
bt_times (float (*restrict y)[WINO_TB], const float (*restrict x)[WINO_TB], int xs, int ys)
{
  for (int l = 0; l < WINO_TB; l++)
    {
      const float x0 = x[0][l], x1 = x[xs][l], x2 = x[2 * xs][l], x3 = x[3 * xs][l];
      const float x4 = x[4 * xs][l], x5 = x[5 * xs][l];
      y[0][l] = 4.0f * x0 - 5.0f * x2 + x4;
      y[ys][l] = -4.0f * (x1 + x2) + x3 + x4;
      y[2 * ys][l] = 4.0f * (x1 - x2) - x3 + x4;
      y[3 * ys][l] = 2.0f * (x3 - x1) - x2 + x4;
      y[4 * ys][l] = 2.0f * (x1 - x3) - x2 + x4;
      y[5 * ys][l] = 4.0f * x1 - 5.0f * x3 + x5;
    }
}

/* F(2×2)'s Bᵀ = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], as bt_times. */
BT_INLINE void
bt2_times (float (*restrict y)[WINO_TB], const float (*restrict x)[WINO_TB], int xs, int ys)
{
  for (int l = 0; l < WINO_TB; l++)
    {
      const float x0 = x[0][l], x1 = x[xs][l], x2 = x[2 * xs][l], x3 = x[3 * xs][l];
      y[0][l] = x0 - x2;
      y[ys][l] = x1 + x2;
      y[2 * ys][l] = x2 - x1;
      y[3 * ys][l] = x1 - x3;
    }
}

/* Tiles [t0, t0 + nt) → v[block][e][c][16]; lanes past nt are zero. */
BT_HOT_LOOP
static void
input_transform (float *restrict v, const WinoJob *j, int t0, int nt)
{
  const BtConvShape *s = j->s;
  const int c = s->c, h = s->h, w = s->w, per_img = j->th * j->tw;
  const int A = j->a, NE = j->ne;
  const gsize plane = (gsize) h * w;
  for (int b0 = 0; b0 < nt; b0 += WINO_TB)
    {
      const int nb = MIN (WINO_TB, nt - b0);
      /* each lane's A² source offsets (clamped inside its image) and which are inside the
       * padded input: the loads below are then the same branch-free select for every tile */
      gsize off[WINO_E][WINO_TB];
      gboolean in_img[WINO_E][WINO_TB];
      for (int l = 0; l < WINO_TB; l++)
        {
          const int t = t0 + b0 + MIN (l, nb - 1);
          const int img = t / per_img, r = t % per_img;
          const int y0 = j->m * (r / j->tw) - s->pad_top, x0 = j->m * (r % j->tw) - s->pad_left;
          for (int y = 0; y < A; y++)
            for (int x = 0; x < A; x++)
              {
                const int yy = y0 + y, xx = x0 + x;
                off[y * A + x][l] = (gsize) img * c * plane + (gsize) CLAMP (yy, 0, h - 1) * w + CLAMP (xx, 0, w - 1);
                in_img[y * A + x][l] = l < nb && yy >= 0 && yy < h && xx >= 0 && xx < w;
              }
        }
      float *restrict vb = v + (gsize) (b0 / WINO_TB) * NE * c * WINO_TB;
      for (int ci = 0; ci < c; ci++)
        {
          const float *restrict p = j->in + (gsize) ci * plane;
          float d[WINO_E][WINO_TB], r[WINO_E][WINO_TB], o[WINO_E][WINO_TB];
          for (int q = 0; q < NE; q++)
            for (int l = 0; l < WINO_TB; l++)
              {
                const float x = p[off[q][l]];
                d[q][l] = in_img[q][l] ? x : 0.0f;
              }
          /* V = Bᵀ d B: Bᵀ down each column, then along each row */
          if (A == WINO_A)
            {
              for (int x = 0; x < WINO_A; x++)
                bt_times (r + x, (const float (*)[WINO_TB]) d + x, WINO_A, WINO_A);
              for (int y = 0; y < WINO_A; y++)
                bt_times (o + y * WINO_A, (const float (*)[WINO_TB]) r + y * WINO_A, 1, 1);
            }
          else
            {
              for (int x = 0; x < 4; x++)
                bt2_times (r + x, (const float (*)[WINO_TB]) d + x, 4, 4);
              for (int y = 0; y < 4; y++)
                bt2_times (o + y * 4, (const float (*)[WINO_TB]) r + y * 4, 1, 1);
            }
          for (int e = 0; e < NE; e++)
            memcpy (vb + ((gsize) e * c + ci) * WINO_TB, o[e], sizeof o[e]);
        }
    }
}

/* Where tile t's outputs go: offset of its first output in channel 0's plane of its image, and
 * which of its outputs lie inside the output (bit dy·4 + dx; with the pool, bit py·2 + px of its
 * 2×2 pooled outputs). */
struct TilePos {
  gsize at;
  int   inside;
};

static void
tile_positions (TilePos *pos, const WinoJob *j, int t0, int nt)
{
  const int per_img = j->th * j->tw;
  const int k = j->e->pool ? j->m / 2 : j->m;   /* outputs per tile side */
  for (int l = 0; l < nt; l++)
    {
      const int t = t0 + l, img = t / per_img, rem = t % per_img, ty = rem / j->tw, tx = rem % j->tw;
      pos[l].at = (gsize) img * j->s->oc * j->OH * j->OW + (gsize) k * ty * j->OW + k * tx;
      pos[l].inside = 0;
      for (int dy = 0; dy < k; dy++)
        for (int dx = 0; dx < k; dx++)
          if (k * ty + dy < j->OH && k * tx + dx < j->OW)
            pos[l].inside |= 1 << (dy * k + dx);
    }
}

/* Aᵀ x for 16 lanes of six values (a stride xs apart) into four (ys apart):
 * Aᵀ = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]. */
BT_INLINE void
at_times (float (*restrict y)[WINO_TB], const float (*restrict x)[WINO_TB], int xs, int ys)
{
  for (int l = 0; l < WINO_TB; l++)
    {
      const float x0 = x[0][l], x1 = x[xs][l], x2 = x[2 * xs][l], x3 = x[3 * xs][l];
      const float x4 = x[4 * xs][l], x5 = x[5 * xs][l];
      const float a = x1 + x2, b = x1 - x2, c = x3 + x4, d = x3 - x4;
      y[0][l] = x0 + a + c;
      y[ys][l] = b + 2.0f * d;
      y[2 * ys][l] = a + 4.0f * c;
      y[3 * ys][l] = b + 8.0f * d + x5;
    }
}

/* F(2×2)'s Aᵀ = [1 1 1 0; 0 1 -1 -1], as at_times (two values out). */
BT_INLINE void
at2_times (float (*restrict y)[WINO_TB], const float (*restrict x)[WINO_TB], int xs, int ys)
{
  for (int l = 0; l < WINO_TB; l++)
    {
      const float x0 = x[0][l], x1 = x[xs][l], x2 = x[2 * xs][l], x3 = x[3 * xs][l];
      y[0][l] = x0 + x1 + x2;
      y[ys][l] = x1 - x2 - x3;
    }
}

/* m[e][6][16] of a 16-tile block (positions pos, nt of them), channels [o0, o0 + no) → Y = Aᵀ M A,
 * then the epilogue, into the output. */
BT_HOT_LOOP
static void
output_transform (const WinoJob *j, const float *restrict m, const TilePos *pos, int nt, int o0, int no)
{
  const BtConvEpilogue *e = j->e;
  const int OW = j->OW, M = j->m;
  const gsize plane = (gsize) j->OH * OW;
  for (int r = 0; r < no; r++)
    {
      const int o = o0 + r;
      const float scale = e->scale ? e->scale[o] : 1.0f, shift = e->shift ? e->shift[o] : 0.0f;
      float q[WINO_E][WINO_TB], t[WINO_M * WINO_A][WINO_TB], y[WINO_M * WINO_M][WINO_TB];
      for (int k = 0; k < j->ne; k++)
        memcpy (q[k], m + ((gsize) k * WINO_OB + r) * WINO_TB, sizeof q[k]);
      if (M == WINO_M)
        {
          for (int x = 0; x < WINO_A; x++)   /* t[4][6] = Aᵀ q */
            at_times (t + x, (const float (*)[WINO_TB]) q + x, WINO_A, WINO_A);
          for (int i = 0; i < WINO_M; i++)   /* y[4][4] = t A */
            at_times (y + i * WINO_M, (const float (*)[WINO_TB]) t + i * WINO_A, 1, 1);
        }
      else
        {
          for (int x = 0; x < 4; x++)   /* t[2][4] = Aᵀ q */
            at2_times (t + x, (const float (*)[WINO_TB]) q + x, 4, 4);
          for (int i = 0; i < 2; i++)   /* y[2][2] = t A */
            at2_times (y + i * 2, (const float (*)[WINO_TB]) t + i * 4, 1, 1);
        }
      float *restrict out = j->out + (gsize) o * plane;
      if (e->pool)
        {
          /* each 2×2 block of the tile is one pool window: the pool of the raw sums (max, or
           * min for a negative scale), mapped once */
          const int nw = (M / 2) * (M / 2), side = M / 2;
          float p[4][WINO_TB];
          for (int w = 0; w < nw; w++)
            {
              const float *a = y[(w / side) * 2 * M + (w % side) * 2], *b = a + WINO_TB;
              const float *c = y[(w / side) * 2 * M + (w % side) * 2 + M], *d = c + WINO_TB;
              if (scale >= 0.0f)
                for (int l = 0; l < WINO_TB; l++)
                  p[w][l] = MAX (MAX (a[l], b[l]), MAX (c[l], d[l]));
              else
                for (int l = 0; l < WINO_TB; l++)
                  p[w][l] = MIN (MIN (a[l], b[l]), MIN (c[l], d[l]));
            }
          bt_act_block (&p[0][0], nw * WINO_TB, scale, shift, e->act);
          for (int l = 0; l < nt; l++)
            for (int w = 0; w < nw; w++)
              if (pos[l].inside & (1 << w))
                out[pos[l].at + (gsize) (w / side) * OW + w % side] = p[w][l];
          continue;
        }
      bt_act_block (&y[0][0], M * M * WINO_TB, scale, shift, e->act);
      for (int l = 0; l < nt; l++)
        {
          float *d = out + pos[l].at;
          if (pos[l].inside == (1 << (M * M)) - 1)
            {
              for (int dy = 0; dy < M; dy++)
                for (int dx = 0; dx < M; dx++)
                  d[(gsize) dy * OW + dx] = y[dy * M + dx][l];
              continue;
            }
          for (int k = 0; k < M * M; k++)
            if (pos[l].inside & (1 << k))
              d[(gsize) (k / M) * OW + k % M] = y[k][l];
        }
    }
}

#if WINO_X86
/* The AVX2 transforms of F(4×4): eight tiles (lanes) at a time, the same sums as the portable
 * ones in another order (FMA rounding), so results agree to rounding, not to the bit. */

/* Bᵀ x of six vectors (see bt_times) into y[0..5]. */
__attribute__ ((target ("avx2,fma"), always_inline))
static inline void
bt6_avx2 (__m256 *y, __m256 x0, __m256 x1, __m256 x2, __m256 x3, __m256 x4, __m256 x5)
{
  const __m256 two = _mm256_set1_ps (2.0f), four = _mm256_set1_ps (4.0f), five = _mm256_set1_ps (5.0f);
  const __m256 x42 = _mm256_sub_ps (x4, x2);
  y[0] = _mm256_fmadd_ps (four, x0, _mm256_fnmadd_ps (five, x2, x4));
  y[1] = _mm256_fnmadd_ps (four, _mm256_add_ps (x1, x2), _mm256_add_ps (x3, x4));
  y[2] = _mm256_fmadd_ps (four, _mm256_sub_ps (x1, x2), _mm256_sub_ps (x4, x3));
  y[3] = _mm256_fmadd_ps (two, _mm256_sub_ps (x3, x1), x42);
  y[4] = _mm256_fmadd_ps (two, _mm256_sub_ps (x1, x3), x42);
  y[5] = _mm256_fmadd_ps (four, x1, _mm256_fnmadd_ps (five, x3, x5));
}

/* Aᵀ x of six vectors (see at_times) into y[0..3]. */
__attribute__ ((target ("avx2,fma"), always_inline))
static inline void
at6_avx2 (__m256 *y, __m256 x0, __m256 x1, __m256 x2, __m256 x3, __m256 x4, __m256 x5)
{
  const __m256 a = _mm256_add_ps (x1, x2), b = _mm256_sub_ps (x1, x2);
  const __m256 c = _mm256_add_ps (x3, x4), d = _mm256_sub_ps (x3, x4);
  y[0] = _mm256_add_ps (_mm256_add_ps (x0, a), c);
  y[1] = _mm256_fmadd_ps (_mm256_set1_ps (2.0f), d, b);
  y[2] = _mm256_fmadd_ps (_mm256_set1_ps (4.0f), c, a);
  y[3] = _mm256_add_ps (_mm256_fmadd_ps (_mm256_set1_ps (8.0f), d, b), x5);
}

/* input_transform for F(4×4): per lane its tile's first row and column, and per row of the
 * 6×6 patch two 4-float masks (the patch's columns 0–3 and 4–5) that are zero outside the image
 * and for lanes past nt; masked loads read nothing there, so no padded copy is needed. Each row
 * of eight tiles is then sixteen 4-float loads and a 4×4 transpose in each 128-bit half. */
__attribute__ ((target ("avx2,fma")))
static void
input_transform_avx2 (float *restrict v, const WinoJob *j, int t0, int nt)
{
  const BtConvShape *s = j->s;
  const int c = s->c, h = s->h, w = s->w, per_img = j->th * j->tw;
  const gsize plane = (gsize) h * w;
  for (int b0 = 0; b0 < nt; b0 += WINO_TB)
    {
      const int nb = MIN (WINO_TB, nt - b0);
      gssize off[WINO_TB];
      __m128i mask[WINO_TB][WINO_A][2];
      for (int l = 0; l < WINO_TB; l++)
        {
          const int t = t0 + b0 + MIN (l, nb - 1);
          const int img = t / per_img, r = t % per_img;
          const int y0 = WINO_M * (r / j->tw) - s->pad_top, x0 = WINO_M * (r % j->tw) - s->pad_left;
          off[l] = (gssize) img * c * (gssize) plane + (gssize) y0 * w + x0;
          int col[8];
          for (int x = 0; x < 8; x++)
            col[x] = x < WINO_A && x0 + x >= 0 && x0 + x < w ? -1 : 0;
          for (int y = 0; y < WINO_A; y++)
            {
              const int row = l < nb && y0 + y >= 0 && y0 + y < h ? -1 : 0;
              mask[l][y][0] = _mm_setr_epi32 (row & col[0], row & col[1], row & col[2], row & col[3]);
              mask[l][y][1] = _mm_setr_epi32 (row & col[4], row & col[5], 0, 0);
            }
        }
      float *restrict vb = v + (gsize) (b0 / WINO_TB) * WINO_E * c * WINO_TB;
      for (int ci = 0; ci < c; ci++)
        {
          /* byte offsets from the channel's plane: a lane's first row and column may lie before
           * it (padding), where its masks are zero */
          const char *p = (const char *) (j->in + (gsize) ci * plane);
          for (int hh = 0; hh < WINO_TB; hh += 8)
            {
              __m256 rr[WINO_A][WINO_A];
              for (int y = 0; y < WINO_A; y++)
                {
                  __m256 a[4], b[4];
                  for (int k = 0; k < 4; k++)
                    {
                      const int l0 = hh + k, l1 = hh + k + 4;
                      const float *p0 = (const float *) (p + (off[l0] + (gssize) y * w) * (gssize) sizeof (float));
                      const float *p1 = (const float *) (p + (off[l1] + (gssize) y * w) * (gssize) sizeof (float));
                      a[k] = _mm256_set_m128 (_mm_maskload_ps (p1, mask[l1][y][0]), _mm_maskload_ps (p0, mask[l0][y][0]));
                      b[k] = _mm256_set_m128 (_mm_maskload_ps (p1 + 4, mask[l1][y][1]),
                                              _mm_maskload_ps (p0 + 4, mask[l0][y][1]));
                    }
                  /* 4×4 transposes: column x of the patch row for the eight lanes */
                  const __m256 s0 = _mm256_unpacklo_ps (a[0], a[1]), s1 = _mm256_unpackhi_ps (a[0], a[1]);
                  const __m256 s2 = _mm256_unpacklo_ps (a[2], a[3]), s3 = _mm256_unpackhi_ps (a[2], a[3]);
                  const __m256 u0 = _mm256_unpacklo_ps (b[0], b[1]), u2 = _mm256_unpacklo_ps (b[2], b[3]);
                  bt6_avx2 (rr[y], _mm256_shuffle_ps (s0, s2, 0x44), _mm256_shuffle_ps (s0, s2, 0xee),
                            _mm256_shuffle_ps (s1, s3, 0x44), _mm256_shuffle_ps (s1, s3, 0xee),
                            _mm256_shuffle_ps (u0, u2, 0x44), _mm256_shuffle_ps (u0, u2, 0xee));
                }
              for (int x = 0; x < WINO_A; x++)
                {
                  __m256 o[WINO_A];
                  bt6_avx2 (o, rr[0][x], rr[1][x], rr[2][x], rr[3][x], rr[4][x], rr[5][x]);
                  for (int y = 0; y < WINO_A; y++)
                    _mm256_storeu_ps (vb + ((gsize) (y * WINO_A + x) * c + ci) * WINO_TB + hh, o[y]);
                }
            }
        }
    }
}

/* output_transform for F(4×4), eight lanes at a time: a lane whose outputs all lie inside the
 * output gets its rows as 8- or 16-byte stores of a transposed block, others one float per
 * output inside. */
__attribute__ ((target ("avx2,fma")))
static void
output_transform_avx2 (const WinoJob *j, const float *restrict m, const TilePos *pos, int nt, int o0, int no)
{
  const BtConvEpilogue *e = j->e;
  const int OW = j->OW;
  const gsize plane = (gsize) j->OH * OW;
  for (int r = 0; r < no; r++)
    {
      const int o = o0 + r;
      const float scale = e->scale ? e->scale[o] : 1.0f, shift = e->shift ? e->shift[o] : 0.0f;
      const __m256 vs = _mm256_set1_ps (scale), vh = _mm256_set1_ps (shift);
      float *restrict out = j->out + (gsize) o * plane;
      for (int hh = 0; hh < nt; hh += 8)
        {
          const float *q = m + (gsize) r * WINO_TB + hh;
#define Q(k) _mm256_loadu_ps (q + (gsize) (k) * WINO_OB * WINO_TB)
          __m256 t[WINO_M][WINO_A], y[WINO_M][WINO_M];
          for (int x = 0; x < WINO_A; x++)
            {
              __m256 c4[WINO_M];
              at6_avx2 (c4, Q (x), Q (6 + x), Q (12 + x), Q (18 + x), Q (24 + x), Q (30 + x));
              for (int i = 0; i < WINO_M; i++)
                t[i][x] = c4[i];
            }
#undef Q
          for (int i = 0; i < WINO_M; i++)
            at6_avx2 (y[i], t[i][0], t[i][1], t[i][2], t[i][3], t[i][4], t[i][5]);
          const int nl = MIN (8, nt - hh);
          if (e->pool)
            {
              /* the 2×2 windows (max of the raw sums, min for a negative scale, then mapped);
               * pairs[py] holds each lane's two outputs of pooled row py side by side */
              __m256 p[4];
              for (int wdw = 0; wdw < 4; wdw++)
                {
                  const int dy = 2 * (wdw / 2), dx = 2 * (wdw % 2);
                  const __m256 a = y[dy][dx], b = y[dy][dx + 1], c = y[dy + 1][dx], d = y[dy + 1][dx + 1];
                  p[wdw] = scale >= 0.0f ? _mm256_max_ps (_mm256_max_ps (a, b), _mm256_max_ps (c, d))
                                         : _mm256_min_ps (_mm256_min_ps (a, b), _mm256_min_ps (c, d));
                  p[wdw] = bt_act8_avx2 (p[wdw], vs, vh, e->act);
                }
              float pairs[2][16];
              for (int py = 0; py < 2; py++)
                {
                  const __m256 lo = _mm256_unpacklo_ps (p[2 * py], p[2 * py + 1]);
                  const __m256 hi = _mm256_unpackhi_ps (p[2 * py], p[2 * py + 1]);
                  _mm256_storeu_ps (pairs[py], _mm256_permute2f128_ps (lo, hi, 0x20));
                  _mm256_storeu_ps (pairs[py] + 8, _mm256_permute2f128_ps (lo, hi, 0x31));
                }
              for (int k = 0; k < nl; k++)
                {
                  const TilePos *tp = pos + hh + k;
                  if (tp->inside == 0xf)
                    {
                      memcpy (out + tp->at, pairs[0] + 2 * k, 2 * sizeof (float));
                      memcpy (out + tp->at + OW, pairs[1] + 2 * k, 2 * sizeof (float));
                      continue;
                    }
                  for (int wdw = 0; wdw < 4; wdw++)
                    if (tp->inside & (1 << wdw))
                      out[tp->at + (gsize) (wdw / 2) * OW + wdw % 2] = pairs[wdw / 2][2 * k + wdw % 2];
                }
              continue;
            }
          /* rows[i][k][0..3]: lane k's output row i */
          float rows[WINO_M][8][WINO_M];
          for (int i = 0; i < WINO_M; i++)
            {
              __m256 a[WINO_M];
              for (int x = 0; x < WINO_M; x++)
                a[x] = bt_act8_avx2 (y[i][x], vs, vh, e->act);
              const __m256 t0 = _mm256_unpacklo_ps (a[0], a[1]), t1 = _mm256_unpackhi_ps (a[0], a[1]);
              const __m256 t2 = _mm256_unpacklo_ps (a[2], a[3]), t3 = _mm256_unpackhi_ps (a[2], a[3]);
              const __m256 l0 = _mm256_shuffle_ps (t0, t2, 0x44), l1 = _mm256_shuffle_ps (t0, t2, 0xee);
              const __m256 l2 = _mm256_shuffle_ps (t1, t3, 0x44), l3 = _mm256_shuffle_ps (t1, t3, 0xee);
              /* lK holds lane K in its low half and lane K + 4 in its high half */
              _mm256_storeu_ps (rows[i][0], _mm256_permute2f128_ps (l0, l1, 0x20));
              _mm256_storeu_ps (rows[i][2], _mm256_permute2f128_ps (l2, l3, 0x20));
              _mm256_storeu_ps (rows[i][4], _mm256_permute2f128_ps (l0, l1, 0x31));
              _mm256_storeu_ps (rows[i][6], _mm256_permute2f128_ps (l2, l3, 0x31));
            }
          for (int k = 0; k < nl; k++)
            {
              const TilePos *tp = pos + hh + k;
              float *d = out + tp->at;
              if (tp->inside == 0xffff)
                {
                  for (int i = 0; i < WINO_M; i++)
                    memcpy (d + (gsize) i * OW, rows[i][k], sizeof rows[i][k]);
                  continue;
                }
              for (int b = 0; b < WINO_M * WINO_M; b++)
                if (tp->inside & (1 << b))
                  d[(gsize) (b / WINO_M) * OW + b % WINO_M] = rows[b / WINO_M][k][b % WINO_M];
            }
        }
    }
}
#endif

static void
wino_worker (gpointer p, gsize w0, gsize w1)
{
  WinoJob *j = p;
  const int c = j->s->c, oc = j->s->oc;
  for (gsize wi = w0; wi < w1; wi++)
    {
      float *v = j->scratch + wi * j->scratch_len;
      float *m = v + (j->scratch_len - WINO_M_FLOATS);
      TilePos pos[WINO_V_FLOATS / (WINO_E2 * WINO_MIN_C) + WINO_TB];
      int item;
      while ((item = g_atomic_int_add (&j->next, 1)) < j->n_slabs * j->ob_split)
        {
          const int slab = item / j->ob_split, part = item % j->ob_split;
          const int t0 = slab * j->slab, nt = MIN (j->slab, j->tiles - t0);
          j->input (v, j, t0, nt);
          tile_positions (pos, j, t0, nt);
          const int ob0 = j->nob * part / j->ob_split, ob1 = j->nob * (part + 1) / j->ob_split;
          for (int ob = ob0; ob < ob1; ob++)
            for (int b0 = 0; b0 < nt; b0 += WINO_TB)
              {
                const float *vb = v + (gsize) (b0 / WINO_TB) * j->ne * c * WINO_TB;
                for (int e = 0; e < j->ne; e++)
                  j->kernel (m + e * WINO_OB * WINO_TB, j->u + (((gsize) e * j->nob + ob) * c) * WINO_OB,
                             vb + (gsize) e * c * WINO_TB, c);
                j->output (j, m, pos + b0, MIN (WINO_TB, nt - b0), ob * WINO_OB,
                                  MIN (WINO_OB, oc - ob * WINO_OB));
              }
        }
    }
}

void
bt_conv2d_forward_winograd (float *out, const float *in, const float *packed, const BtConvEpilogue *e,
                            const BtConvShape *s, float *workspace)
{
  g_assert (out && in && packed && e && s && workspace && bt_conv2d_winograd_fits (s));
  g_assert (!e->pool || (s->oh >= 2 && s->ow >= 2));
  WinoJob j = { .s = s, .e = e, .in = in, .u = packed, .out = out, .scratch = workspace };
  j.scratch_len = scratch_floats (s);
  /* F(4×4) unless it would not fill one 16-tile register tile (a small plane at batch 1, e.g.
   * the Deeper CNN's 8×8 last conv: 4 tiles): F(2×2) fills it and reads 16 instead of 36 weight
   * points per channel pair, which is what a one-image pass waits for */
  const int t4 = s->n * ((s->oh + 3) / 4) * ((s->ow + 3) / 4);
  j.m = t4 >= WINO_TB ? WINO_M : 2;
  j.a = j.m + 2;
  j.ne = j.a * j.a;
  if (j.m == 2)
    j.u = packed + (gsize) WINO_E * n_oblocks (s->oc) * WINO_OB * s->c;
  j.th = (s->oh + j.m - 1) / j.m;
  j.tw = (s->ow + j.m - 1) / j.m;
  j.tiles = s->n * j.th * j.tw;
  j.slab = slab_tiles (s, j.ne);
  j.n_slabs = (j.tiles + j.slab - 1) / j.slab;
  j.nob = n_oblocks (s->oc);
  j.OH = e->pool ? s->oh / 2 : s->oh;
  j.OW = e->pool ? s->ow / 2 : s->ow;
  const int workers = CLAMP (bt_parallel_get_threads (), 1, WINO_MAX_WORKERS);
  /* few slabs (one image): also split the output channels, so every thread has work */
  j.ob_split = j.n_slabs >= 2 * workers ? 1 : MIN (workers, j.nob);
  j.kernel = kernel_portable;
  j.input = input_transform;
  j.output = output_transform;
#if WINO_X86
  if (bt_conv2d_fast_mode () == 2)
    {
      j.kernel = kernel_avx2;
      if (j.m == WINO_M)
        j.input = input_transform_avx2, j.output = output_transform_avx2;
    }
#endif
  bt_parallel_for ((gsize) MIN (workers, j.n_slabs * j.ob_split), 1, wino_worker, &j);
}
