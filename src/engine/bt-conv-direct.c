/* bt-conv-direct.c: inference 3×3 stride-1 convolutions with few input channels (a network's
 * first conv: 1 or 3) computed directly, two output rows × 16 columns per register tile, with
 * the conv's epilogue (scale, shift, activation, 2×2 max pool) on the rows just computed.
 * im2col + sgemm spends more on packing a K = 9 or 27 product and on zeroing and re-reading
 * the full-size result than on the multiply-adds themselves (docs/PERFORMANCE.md, #25). */
#include "engine/bt-engine-private.h"

#include <string.h>

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define DIRECT_X86 1
#else
#define DIRECT_X86 0
#endif

#define DIRECT_MAX_C       4
#define DIRECT_XB          16   /* output columns per register tile */
#define DIRECT_MAX_WORKERS 8

/* Two output rows (y and y + 1) of output channels [0, no), columns [0, xw) with xw a multiple
 * of DIRECT_XB, into rows[o][2][xw]: p points at the padded input's row y, column 0, channel 0;
 * channels are cplane floats apart, rows wp; w is [no][c][3][3]. */
typedef void (*RowsFunc) (float *restrict rows, const float *restrict p, int c, gsize cplane, int wp,
                          const float *restrict w, int no, int xw);

static void
rows_portable (float *restrict rows, const float *restrict p, int c, gsize cplane, int wp,
               const float *restrict w, int no, int xw)
{
  for (int o = 0; o < no; o++)
    for (int x = 0; x < xw; x++)
      {
        const float *wo = w + (gsize) o * c * 9;
        float a0 = 0.0f, a1 = 0.0f;
        for (int ci = 0; ci < c; ci++)
          for (int r = 0; r < 4; r++)
            for (int kx = 0; kx < 3; kx++)
              {
                const float v = p[ci * cplane + (gsize) r * wp + x + kx];
                if (r < 3)
                  a0 += wo[ci * 9 + r * 3 + kx] * v;
                if (r > 0)
                  a1 += wo[ci * 9 + (r - 1) * 3 + kx] * v;
              }
        rows[(gsize) o * 2 * xw + x] = a0;
        rows[(gsize) o * 2 * xw + xw + x] = a1;
      }
}

#if DIRECT_X86
/* nv vectors of 8 columns × 2 rows in registers (a0: row y, a1: row y + 1); every input vector
 * feeds both rows. */
__attribute__ ((target ("avx2,fma"), always_inline))
static inline void
tile_avx2 (__m256 *restrict a0, __m256 *restrict a1, const float *restrict p, int c, gsize cplane, int wp,
           const float *restrict w, const int nv)
{
  for (int v = 0; v < 4; v++)
    a0[v] = a1[v] = _mm256_setzero_ps ();
  for (int ci = 0; ci < c; ci++)
    {
      /* four row pointers, constant offsets from them: GCC otherwise keeps one pointer per
       * (row, tap, vector), 48 of them, and spills most to the stack */
      const float *rp[4] = { p + ci * cplane, p + ci * cplane + wp, p + ci * cplane + 2 * wp,
                             p + ci * cplane + 3 * wp };
      const float *wc = w + ci * 9;
#pragma GCC unroll 4
      for (int r = 0; r < 4; r++)
#pragma GCC unroll 3
        for (int kx = 0; kx < 3; kx++)
          {
            const __m256 b0 = _mm256_broadcast_ss (wc + MIN (r, 2) * 3 + kx);
            const __m256 b1 = _mm256_broadcast_ss (wc + MAX (r - 1, 0) * 3 + kx);
#pragma GCC unroll 4
            for (int v = 0; v < nv; v++)
              {
                const __m256 x = _mm256_loadu_ps (rp[r] + kx + 8 * v);
                if (r < 3)
                  a0[v] = _mm256_fmadd_ps (b0, x, a0[v]);
                if (r > 0)
                  a1[v] = _mm256_fmadd_ps (b1, x, a1[v]);
              }
          }
    }
}

__attribute__ ((target ("avx2,fma"), always_inline))
static inline void
tile_rows_avx2 (float *restrict r0, float *restrict r1, const float *restrict p, int c, gsize cplane, int wp,
                const float *restrict w, const int nv)
{
  __m256 a0[4], a1[4];
  tile_avx2 (a0, a1, p, c, cplane, wp, w, nv);
  for (int v = 0; v < nv; v++)
    {
      _mm256_storeu_ps (r0 + 8 * v, a0[v]);
      _mm256_storeu_ps (r1 + 8 * v, a1[v]);
    }
}

/* The 2×2 pool and the epilogue of 16 columns × 2 rows in registers (a0: row y, a1: row y + 1):
 * 8 pooled values (max of the raw sums, min for a negative scale, then mapped), stored at d (at
 * most n of them: the rest lie past the pooled row). */
__attribute__ ((target ("avx2,fma"), always_inline))
static inline void
pool_store_avx2 (float *restrict d, int n, const __m256 *a0, const __m256 *a1, float scale, float shift, int act)
{
  if (n <= 0)
    return;
  const gboolean up = scale >= 0.0f;
  const __m256 m0 = up ? _mm256_max_ps (a0[0], a1[0]) : _mm256_min_ps (a0[0], a1[0]);
  const __m256 m1 = up ? _mm256_max_ps (a0[1], a1[1]) : _mm256_min_ps (a0[1], a1[1]);
  /* even and odd columns, pooled: pairs 0 1 4 5 | 2 3 6 7, then in order */
  const __m256 ev = _mm256_shuffle_ps (m0, m1, 0x88), od = _mm256_shuffle_ps (m0, m1, 0xdd);
  __m256 q = up ? _mm256_max_ps (ev, od) : _mm256_min_ps (ev, od);
  q = _mm256_castpd_ps (_mm256_permute4x64_pd (_mm256_castps_pd (q), 0xd8));
  q = bt_act8_avx2 (q, _mm256_set1_ps (scale), _mm256_set1_ps (shift), act);
  if (n >= 8)
    {
      _mm256_storeu_ps (d, q);
      return;
    }
  float tmp[8];
  _mm256_storeu_ps (tmp, q);
  memcpy (d, tmp, sizeof (float) * n);
}

/* Two output channels (weights w0, w1) × two rows × 16 columns in registers (acc[o][row][v]):
 * every input vector feeds up to four accumulators, so a multiply-add needs half the loads of
 * tile_avx2's. */
__attribute__ ((target ("avx2,fma"), always_inline))
static inline void
tile2_avx2 (__m256 acc[2][2][2], const float *restrict p, int c, gsize cplane, int wp,
            const float *restrict w0, const float *restrict w1)
{
  for (int o = 0; o < 2; o++)
    for (int r = 0; r < 2; r++)
      acc[o][r][0] = acc[o][r][1] = _mm256_setzero_ps ();
  for (int ci = 0; ci < c; ci++)
    {
      const float *rp[4] = { p + ci * cplane, p + ci * cplane + wp, p + ci * cplane + 2 * wp,
                             p + ci * cplane + 3 * wp };
      const float *wc[2] = { w0 + ci * 9, w1 + ci * 9 };
#pragma GCC unroll 4
      for (int r = 0; r < 4; r++)
#pragma GCC unroll 3
        for (int kx = 0; kx < 3; kx++)
          {
            const __m256 x0 = _mm256_loadu_ps (rp[r] + kx), x1 = _mm256_loadu_ps (rp[r] + kx + 8);
#pragma GCC unroll 2
            for (int o = 0; o < 2; o++)
              {
                if (r < 3)
                  {
                    const __m256 b = _mm256_broadcast_ss (wc[o] + r * 3 + kx);
                    acc[o][0][0] = _mm256_fmadd_ps (b, x0, acc[o][0][0]);
                    acc[o][0][1] = _mm256_fmadd_ps (b, x1, acc[o][0][1]);
                  }
                if (r > 0)
                  {
                    const __m256 b = _mm256_broadcast_ss (wc[o] + (r - 1) * 3 + kx);
                    acc[o][1][0] = _mm256_fmadd_ps (b, x0, acc[o][1][0]);
                    acc[o][1][1] = _mm256_fmadd_ps (b, x1, acc[o][1][1]);
                  }
              }
          }
    }
}

__attribute__ ((target ("avx2,fma")))
static void
rows_avx2 (float *restrict rows, const float *restrict p, int c, gsize cplane, int wp,
           const float *restrict w, int no, int xw)
{
  for (int o = 0; o < no; o++)
    {
      float *r0 = rows + (gsize) o * 2 * xw, *r1 = r0 + xw;
      const float *wo = w + (gsize) o * c * 9;
      int x = 0;
      for (; x + 32 <= xw; x += 32)
        tile_rows_avx2 (r0 + x, r1 + x, p + x, c, cplane, wp, wo, 4);
      if (x < xw)
        tile_rows_avx2 (r0 + x, r1 + x, p + x, c, cplane, wp, wo, 2);
    }
}

/* rows_avx2 with the conv's pool and epilogue: pooled row y / 2 of channels [o0, o0 + no) into
 * out (channel o0's pooled plane, out_plane floats apart, pw per row); channels in pairs. */
__attribute__ ((target ("avx2,fma")))
static void
rows_pool_avx2 (float *restrict out, gsize out_plane, int pw, const float *restrict p, int c, gsize cplane,
                int wp, const float *restrict w, int o0, int no, int xw, const BtConvEpilogue *e)
{
  for (int r = 0; r < no; r += 2)
    {
      /* an odd last channel runs as a pair with itself, storing once */
      const int o[2] = { o0 + r, o0 + MIN (r + 1, no - 1) };
      float scale[2], shift[2];
      for (int k = 0; k < 2; k++)
        {
          scale[k] = e->scale ? e->scale[o[k]] : 1.0f;
          shift[k] = e->shift ? e->shift[o[k]] : 0.0f;
        }
      float *d = out + (gsize) r * out_plane;
      for (int x = 0; x < xw; x += 16)
        {
          __m256 acc[2][2][2];
          tile2_avx2 (acc, p + x, c, cplane, wp, w + (gsize) o[0] * c * 9, w + (gsize) o[1] * c * 9);
          pool_store_avx2 (d + x / 2, pw - x / 2, acc[0][0], acc[0][1], scale[0], shift[0], e->act);
          if (o[1] != o[0])
            pool_store_avx2 (d + out_plane + x / 2, pw - x / 2, acc[1][0], acc[1][1], scale[1], shift[1], e->act);
        }
    }
}
#endif

gboolean
bt_conv2d_direct_fits (const BtConvShape *s)
{
  g_return_val_if_fail (s != NULL, FALSE);
  return bt_conv2d_fast_mode () > 0 && s->groups == 1 && s->kh == 3 && s->kw == 3 &&
         s->stride_h == 1 && s->stride_w == 1 && s->c <= DIRECT_MAX_C && s->oh >= 1 && s->ow >= 1;
}

/* The padded copy of one image: rows oh + 3 (two output rows at a time, the last pair maybe
 * past oh), columns wp = xw + 2 (+ 8 so the last vector load stays inside). */
static int
padded_width (const BtConvShape *s)
{
  return (s->ow + DIRECT_XB - 1) / DIRECT_XB * DIRECT_XB + 2 + 8;
}

static gsize
padded_floats (const BtConvShape *s)
{
  return (gsize) s->c * (s->oh + 3) * padded_width (s);
}

static gsize
scratch_floats (const BtConvShape *s)
{
  const gsize xw = (gsize) (s->ow + DIRECT_XB - 1) / DIRECT_XB * DIRECT_XB;
  return (padded_floats (s) + (gsize) s->oc * 2 * xw + 15) / 16 * 16;
}

gsize
bt_conv2d_direct_workspace_size (const BtConvShape *s)
{
  g_return_val_if_fail (s != NULL, 0);
  const gboolean geometry = s->groups == 1 && s->kh == 3 && s->kw == 3 && s->stride_h == 1 &&
                            s->stride_w == 1 && s->c <= DIRECT_MAX_C && s->oh >= 1 && s->ow >= 1;
  return geometry ? DIRECT_MAX_WORKERS * scratch_floats (s) : 0;
}

typedef struct {
  const BtConvShape *s;
  const BtConvEpilogue *e;
  const float *in, *w;
  float *out, *scratch;
  gsize scratch_len;
  int split;
  RowsFunc rows;
  gboolean pool_avx2;   /* rows_pool_avx2 does the pool and the epilogue */
  gint next;
} DirectJob;

/* Image img's channels into the zeroed padded buffer (top-left padding pad_top/pad_left). */
static void
pad_image (float *restrict pad, const DirectJob *j, int img)
{
  const BtConvShape *s = j->s;
  const int wp = padded_width (s), hp = s->oh + 3;
  memset (pad, 0, sizeof (float) * padded_floats (s));
  for (int ci = 0; ci < s->c; ci++)
    for (int y = 0; y < s->h; y++)
      {
        const int py = y + s->pad_top;
        if (py >= hp)
          break;
        const int x0 = MAX (0, -s->pad_left), x1 = MIN (s->w, wp - s->pad_left);
        if (x1 > x0)
          memcpy (pad + ((gsize) ci * hp + py) * wp + x0 + s->pad_left,
                  j->in + (((gsize) img * s->c + ci) * s->h + y) * s->w + x0, sizeof (float) * (x1 - x0));
      }
}

/* Rows y, y + 1 of channels [o0, o1) of image img (rows: [o1 - o0][2][xw]) through the epilogue
 * into the output; one call per row pair, since a call per channel cost more than its work. */
BT_HOT_LOOP
static void
epilogue_rows (const DirectJob *j, const float *restrict rows, int xw, int img, int o0, int o1, int y)
{
  const BtConvShape *s = j->s;
  const BtConvEpilogue *e = j->e;
  const int act = e->act;
  if (e->pool && y / 2 >= s->oh / 2)
    return;
  const int pw = s->ow / 2, ow = s->ow;
  const gsize out_plane = e->pool ? (gsize) (s->oh / 2) * pw : (gsize) s->oh * ow;
  for (int o = o0; o < o1; o++)
    {
      const float *restrict r0 = rows + (gsize) (o - o0) * 2 * xw, *restrict r1 = r0 + xw;
      float *restrict plane = j->out + ((gsize) img * s->oc + o) * out_plane;
      const float scale = e->scale ? e->scale[o] : 1.0f, shift = e->shift ? e->shift[o] : 0.0f;
      if (e->pool)
        {
          /* as bt_pool_map, a row at a time (one pass: mapping the stored row again would stall
           * on loads of just-stored floats) */
          float *restrict d = plane + (gsize) (y / 2) * pw;
          if (scale >= 0.0f)
            for (int px = 0; px < pw; px++)
              d[px] = bt_act_map (MAX (MAX (r0[2 * px], r0[2 * px + 1]), MAX (r1[2 * px], r1[2 * px + 1])),
                                  scale, shift, act);
          else
            for (int px = 0; px < pw; px++)
              d[px] = bt_act_map (MIN (MIN (r0[2 * px], r0[2 * px + 1]), MIN (r1[2 * px], r1[2 * px + 1])),
                                  scale, shift, act);
          continue;
        }
      float *restrict d = plane + (gsize) y * ow;
      for (int x = 0; x < ow; x++)
        d[x] = bt_act_map (r0[x], scale, shift, act);
      if (y + 1 < s->oh)
        for (int x = 0; x < ow; x++)
          d[ow + x] = bt_act_map (r1[x], scale, shift, act);
    }
}

static void
direct_worker (gpointer p, gsize w0, gsize w1)
{
  DirectJob *j = p;
  const BtConvShape *s = j->s;
  const int wp = padded_width (s), hp = s->oh + 3;
  const int xw = (s->ow + DIRECT_XB - 1) / DIRECT_XB * DIRECT_XB;
  for (gsize wi = w0; wi < w1; wi++)
    {
      float *pad = j->scratch + wi * j->scratch_len;
      float *rows = pad + padded_floats (s);
      int item;
      while ((item = g_atomic_int_add (&j->next, 1)) < s->n * j->split)
        {
          const int img = item / j->split, part = item % j->split;
          pad_image (pad, j, img);
          const int o0 = s->oc * part / j->split, o1 = s->oc * (part + 1) / j->split;
#if DIRECT_X86
          if (j->pool_avx2)
            {
              const int pw = s->ow / 2;
              const gsize out_plane = (gsize) (s->oh / 2) * pw;
              for (int y = 0; y + 1 < s->oh; y += 2)
                rows_pool_avx2 (j->out + ((gsize) img * s->oc + o0) * out_plane + (gsize) (y / 2) * pw, out_plane,
                                pw, pad + (gsize) y * wp, s->c, (gsize) hp * wp, wp, j->w, o0, o1 - o0, xw, j->e);
              continue;
            }
#endif
          for (int y = 0; y < s->oh; y += 2)
            {
              j->rows (rows, pad + (gsize) y * wp, s->c, (gsize) hp * wp, wp, j->w + (gsize) o0 * s->c * 9,
                       o1 - o0, xw);
              epilogue_rows (j, rows, xw, img, o0, o1, y);
            }
        }
    }
}

void
bt_conv2d_forward_direct (float *out, const float *in, const float *w, const BtConvEpilogue *e,
                          const BtConvShape *s, float *workspace)
{
  g_assert (out && in && w && e && s && workspace && bt_conv2d_direct_fits (s));
  DirectJob j = { .s = s, .e = e, .in = in, .w = w, .out = out, .scratch = workspace };
  j.scratch_len = scratch_floats (s);
  const int workers = CLAMP (bt_parallel_get_threads (), 1, DIRECT_MAX_WORKERS);
  j.split = s->n >= 2 * workers ? 1 : MIN (workers, s->oc);
#if DIRECT_X86
  j.rows = bt_conv2d_fast_mode () == 2 ? rows_avx2 : rows_portable;
  j.pool_avx2 = bt_conv2d_fast_mode () == 2 && e->pool;
#else
  j.rows = rows_portable;
#endif
  bt_parallel_for ((gsize) MIN (workers, s->n * j.split), 1, direct_worker, &j);
}
