/* bt-image-decode.c: the one decode entry point. Picks the format's decoder by content (JPEG,
 * WebP, HEIF/AVIF, TIFF in bt-decode-*.c; PNG, GIF, BMP, TGA with stb_image compiled here,
 * hardened: no JPEG/PIC/PSD/PNM/HDR, bounded dimensions, allocations through a per-thread
 * budget), then applies the ICC profile (lcms2), the EXIF orientation and the alpha background. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <glib/gi18n-lib.h>

#include <lcms2.h>

#include "dataset/bt-decode-private.h"
#include "dataset/bt-image-guard.h"
#include "dataset/bt-sandbox-private.h"

/* ---- Budgeted allocator. stb's STBI_MALLOC & co. are global macros, so the budget is
 * per thread: each decode sets its own limit before calling into stb. ---- */
static _Thread_local gsize bt_stb_budget;     /* bytes still allowed */
static _Thread_local gboolean bt_stb_over;    /* a request was refused */

typedef union { gsize size; max_align_t align; } BtAllocHeader;

static void *
bt_stb_malloc (size_t size)
{
  if (size > bt_stb_budget || size > G_MAXSIZE - sizeof (BtAllocHeader))
    {
      bt_stb_over = TRUE;
      return NULL;
    }
  BtAllocHeader *h = malloc (sizeof (BtAllocHeader) + size);
  if (h == NULL)
    return NULL;
  h->size = size;
  bt_stb_budget -= size;
  return h + 1;
}

static void
bt_stb_free (void *p)
{
  if (p == NULL)
    return;
  BtAllocHeader *h = (BtAllocHeader *) p - 1;
  bt_stb_budget += h->size;
  free (h);
}

static void *
bt_stb_realloc (void *p, size_t size)
{
  if (p == NULL)
    return bt_stb_malloc (size);
  BtAllocHeader *h = (BtAllocHeader *) p - 1;
  gsize old = h->size;
  if (size > old && (size - old > bt_stb_budget || size > G_MAXSIZE - sizeof (BtAllocHeader)))
    {
      bt_stb_over = TRUE;
      return NULL;
    }
  BtAllocHeader *n = realloc (h, sizeof (BtAllocHeader) + size);
  if (n == NULL)
    return NULL;
  bt_stb_budget = bt_stb_budget + old - size;
  n->size = size;
  return n + 1;
}

#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC           /* never link Debian's unhardened libstb.a copy */
#define STBI_NO_JPEG               /* libjpeg-turbo reads JPEG (bt-decode-jpeg.c) */
#define STBI_NO_PIC
#define STBI_NO_PSD
#define STBI_NO_PNM
#define STBI_NO_HDR
#define STBI_NO_STDIO
#define STBI_NO_LINEAR
#define STBI_MAX_DIMENSIONS 65535
#define STBI_MALLOC(sz)       bt_stb_malloc (sz)
#define STBI_REALLOC(p, sz)   bt_stb_realloc (p, sz)
#define STBI_FREE(p)          bt_stb_free (p)
/* stb declares helpers we never call; the warning is emitted at the end of the unit. */
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wmissing-prototypes"
#pragma GCC diagnostic ignored "-Wundef"
#include <stb_image.h>
#pragma GCC diagnostic pop


/* Whole-process cap on what one stb decode may allocate, on top of the per-image estimate. */
#define BT_DECODE_BUDGET_CAP ((gsize) 1536 * 1024 * 1024)

static guint64 bt_pixel_budget = BT_PIXEL_BUDGET_DEFAULT;

/* Untrusted bytes are decoded in the sandbox's helpers; in-process only in the helper itself,
 * in the fuzzers (which must see the decoders' bugs) and in benchmarks comparing the two. */
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
static gint in_process = 1;
#else
static gint in_process = 0;
#endif

void
bt_image_set_in_process (gboolean value)
{
  g_atomic_int_set (&in_process, value ? 1 : 0);
}

gboolean
bt_image_get_in_process (void)
{
  return g_atomic_int_get (&in_process) != 0;
}

void
bt_image_set_pixel_budget (guint64 pixels)
{
  __atomic_store_n (&bt_pixel_budget, pixels > 0 ? pixels : BT_PIXEL_BUDGET_DEFAULT, __ATOMIC_RELAXED);
}

guint64
bt_image_get_pixel_budget (void)
{
  return __atomic_load_n (&bt_pixel_budget, __ATOMIC_RELAXED);
}

const char *
bt_skip_reason_to_string (BtSkipReason reason)
{
  switch (reason)
    {
    case BT_SKIP_NOT_IMAGE:   return "not an image";
    case BT_SKIP_UNSUPPORTED: return "unsupported format";
    case BT_SKIP_CORRUPT:     return "corrupt";
    case BT_SKIP_TOO_LARGE:   return "too large";
    case BT_SKIP_UNREADABLE:  return "unreadable";
    case BT_SKIP_DUPLICATE:   return "duplicate";
    case BT_SKIP_SPECIAL:     return "not a regular file";
    case BT_SKIP_NO_CLASS:    return "not in a class folder";
    case BT_SKIP_BAD_NAME:    return "class folder name has control characters or a path separator";
    case BT_SKIP_HIDDEN:      return "hidden";
    default:                  return "unknown";
    }
}

const char *
bt_skip_reason_to_display (BtSkipReason reason)
{
  switch (reason)
    {
    case BT_SKIP_NOT_IMAGE:   return _("Not an image");
    case BT_SKIP_UNSUPPORTED: return _("Unsupported format");
    case BT_SKIP_CORRUPT:     return _("Corrupt image");
    case BT_SKIP_TOO_LARGE:   return _("Too large");
    case BT_SKIP_UNREADABLE:  return _("Unreadable");
    case BT_SKIP_DUPLICATE:   return _("Duplicate");
    case BT_SKIP_SPECIAL:     return _("Not a regular file");
    case BT_SKIP_NO_CLASS:    return _("Not in a class folder");
    case BT_SKIP_BAD_NAME:    return _("Class folder name has control characters or a path separator");
    case BT_SKIP_HIDDEN:      return _("Hidden");
    default:                  return _("Skipped");
    }
}

void
bt_image_free (BtImage *img)
{
  if (img == NULL)
    return;
  if (img->mapped_len > 0)
    munmap (img->pixels, img->mapped_len);
  else
    bt_pixels_free (img->pixels);
  g_free (img);
}

BtImage *
bt_image_new (int width, int height, int channels)
{
  g_return_val_if_fail (width > 0 && height > 0 && (channels == 1 || channels == 3), NULL);
  BtImage *img = g_new0 (BtImage, 1);
  img->width = width;
  img->height = height;
  img->channels = channels;
  img->pixels = g_malloc0 ((gsize) width * height * channels);
  return img;
}

void
bt_raw_clear (BtRaw *raw)
{
  g_clear_pointer (&raw->pixels, bt_pixels_free);
  g_clear_pointer (&raw->icc, g_free);
  raw->icc_len = 0;
}

void
bt_decode_fail (BtSkipReason *reason, BtSkipReason r, GError **error, const char *format, ...)
{
  if (reason)
    *reason = r;
  if (error == NULL || *error != NULL)
    return;
  va_list ap;
  va_start (ap, format);
  g_autofree char *msg = g_strdup_vprintf (format, ap);
  va_end (ap);
  int code = r == BT_SKIP_TOO_LARGE ? BT_DATASET_ERROR_TOO_LARGE
           : r == BT_SKIP_CORRUPT ? BT_DATASET_ERROR_CORRUPT : BT_DATASET_ERROR_UNSUPPORTED;
  g_set_error_literal (error, BT_DATASET_ERROR, code, msg);
}

gboolean
bt_decode_check_size (BtRaw *out, int w, int h, const BtDecodeRequest *req, BtSkipReason *reason,
                      GError **error)
{
  out->full_width = w;
  out->full_height = h;
  if (w <= 0 || h <= 0)
    {
      bt_decode_fail (reason, BT_SKIP_CORRUPT, error, _("The image has no pixels"));
      return FALSE;
    }
  guint64 pixels = (guint64) w * (guint64) h;
  if (w > 65535 || h > 65535 || pixels > req->pixel_budget)
    {
      bt_decode_fail (reason, BT_SKIP_TOO_LARGE, error,
                      _("Too large (%d × %d): over the limit of %.0f megapixels"), w, h,
                      req->pixel_budget / 1e6);
      return FALSE;
    }
  if (req->max_pixels_per_byte > 0 &&
      pixels > (guint64) req->len * req->max_pixels_per_byte + BT_PLAUSIBILITY_SLACK)
    {
      g_autofree char *size = g_format_size (req->len);
      bt_decode_fail (reason, BT_SKIP_CORRUPT, error,
                      _("The image claims %d × %d pixels, implausible for a file of %s"), w, h, size);
      return FALSE;
    }
  return TRUE;
}

static gboolean
has_prefix (const guint8 *d, gsize len, const char *magic, gsize mlen)
{
  return len >= mlen && memcmp (d, magic, mlen) == 0;
}

static guint32
be32 (const guint8 *p)
{
  return ((guint32) p[0] << 24) | ((guint32) p[1] << 16) | ((guint32) p[2] << 8) | p[3];
}

static guint
le16 (const guint8 *p)
{
  return (guint) p[0] | ((guint) p[1] << 8);
}

/* Formats we recognise but deliberately do not decode. */
static const char *
unsupported_format (const guint8 *d, gsize len)
{
  if (has_prefix (d, len, "8BPS", 4))
    return "PSD";
  if (len >= 92 && memcmp (d, "\x53\x80\xf6\x34", 4) == 0 && memcmp (d + 88, "PICT", 4) == 0)
    return "PIC";
  if (len >= 3 && d[0] == 'P' && d[1] >= '1' && d[1] <= '7' &&
      (d[2] == ' ' || d[2] == '\n' || d[2] == '\r' || d[2] == '\t' || d[2] == '#'))
    return "PNM";
  if (has_prefix (d, len, "#?RADIANCE", 10) || has_prefix (d, len, "#?RGBE", 6))
    return "HDR";
  if (has_prefix (d, len, "\xff\x0a", 2) || has_prefix (d, len, "\0\0\0\x0cJXL ", 8))
    return "JPEG XL";
  if (has_prefix (d, len, "\0\0\1\0", 4))
    return "ICO";
  return NULL;
}

/* ---- stb_image formats: PNG, GIF, BMP, TGA. stb reads past the end of a short file as
 * zeros (a black or grey tail), so each format's structure is walked first. ---- */

typedef struct {
  gboolean complete;
  const guint8 *exif; gsize exif_len;
  const guint8 *iccp; gsize iccp_len;  /* name, 0, method, zlib data */
} PngChunks;

static void
png_walk (const guint8 *d, gsize len, PngChunks *pc)
{
  memset (pc, 0, sizeof *pc);
  gsize i = 8;
  while (i + 12 <= len)
    {
      guint32 n = be32 (d + i);
      const guint8 *type = d + i + 4;
      if (n > len - i - 12)
        return;
      if (memcmp (type, "IEND", 4) == 0)
        {
          pc->complete = TRUE;
          return;
        }
      if (memcmp (type, "eXIf", 4) == 0 && pc->exif == NULL)
        {
          pc->exif = d + i + 8;
          pc->exif_len = n;
        }
      else if (memcmp (type, "iCCP", 4) == 0 && pc->iccp == NULL)
        {
          pc->iccp = d + i + 8;
          pc->iccp_len = n;
        }
      i += 12 + (gsize) n;
    }
}

static gboolean
gif_skip_blocks (const guint8 *d, gsize len, gsize *i)
{
  while (*i < len)
    {
      guint n = d[(*i)++];
      if (n == 0)
        return TRUE;
      if (n > len - *i)
        return FALSE;
      *i += n;
    }
  return FALSE;
}

/* Is the first image of this GIF (the one decoded) complete? */
static gboolean
gif_is_complete (const guint8 *d, gsize len)
{
  if (len < 13)
    return FALSE;
  gsize i = 13;
  if (d[10] & 0x80)
    i += 3u * (2u << (d[10] & 7));
  while (i < len)
    {
      guint8 b = d[i++];
      if (b == 0x21)  /* extension: label, then sub-blocks */
        {
          if (i >= len)
            return FALSE;
          i++;
          if (!gif_skip_blocks (d, len, &i))
            return FALSE;
        }
      else if (b == 0x2c)  /* image descriptor, local table, LZW minimum size, data */
        {
          if (i + 9 > len)
            return FALSE;
          guint8 flags = d[i + 8];
          i += 9;
          if (flags & 0x80)
            i += 3u * (2u << (flags & 7));
          if (i >= len)
            return FALSE;
          i++;
          return gif_skip_blocks (d, len, &i);
        }
      else
        return FALSE;  /* trailer before any image, or garbage */
    }
  return FALSE;
}

static gboolean
bmp_is_complete (const guint8 *d, gsize len)
{
  if (len < 34)
    return FALSE;
  guint32 off = (guint32) d[10] | ((guint32) d[11] << 8) | ((guint32) d[12] << 16) | ((guint32) d[13] << 24);
  guint32 hsz = (guint32) d[14] | ((guint32) d[15] << 8) | ((guint32) d[16] << 16) | ((guint32) d[17] << 24);
  gint64 w, h;
  guint bpp, comp = 0;
  if (hsz == 12)
    {
      w = le16 (d + 18);
      h = (gint16) le16 (d + 20);
      bpp = le16 (d + 24);
    }
  else
    {
      w = (gint32) ((guint32) d[18] | ((guint32) d[19] << 8) | ((guint32) d[20] << 16) | ((guint32) d[21] << 24));
      h = (gint32) ((guint32) d[22] | ((guint32) d[23] << 8) | ((guint32) d[24] << 16) | ((guint32) d[25] << 24));
      bpp = le16 (d + 28);
      comp = le16 (d + 30);
    }
  if (comp != 0 && comp != 3 && comp != 6)
    return TRUE;  /* RLE & co: stb refuses them itself */
  if (w <= 0 || h == 0 || bpp == 0)
    return FALSE;
  guint64 stride = (((guint64) w * bpp + 31) / 32) * 4;
  guint64 need = (guint64) off + stride * (guint64) ABS (h);
  /* stb does not need the last row's padding */
  return need - (stride - ((guint64) w * bpp + 7) / 8) <= len;
}

static gboolean
tga_is_complete (const guint8 *d, gsize len)
{
  if (len < 18)
    return FALSE;
  guint idlen = d[0], type = d[2] & ~8u, rle = d[2] & 8;
  guint64 cmap = d[1] ? (guint64) le16 (d + 5) * ((d[7] + 7u) / 8) : 0;
  guint64 w = le16 (d + 12), h = le16 (d + 14);
  guint bpp = type == 1 ? (d[16] + 7u) / 8 : (d[16] + 7u) / 8;
  guint64 i = 18 + idlen + cmap, n = w * h;
  if (bpp == 0)
    return FALSE;
  if (!rle)
    return i + n * bpp <= len;
  while (n > 0)
    {
      if (i >= len)
        return FALSE;
      guint8 hdr = d[i++];
      guint64 count = (hdr & 0x7f) + 1u;
      i += (hdr & 0x80) ? bpp : count * bpp;
      n -= MIN (n, count);
    }
  return i <= len;
}

static const char *
stb_format (const guint8 *d, gsize len)
{
  if (has_prefix (d, len, "\x89PNG\r\n\x1a\n", 8))
    return "png";
  if (has_prefix (d, len, "GIF87a", 6) || has_prefix (d, len, "GIF89a", 6))
    return "gif";
  if (has_prefix (d, len, "BM", 2) && len >= 26)
    return "bmp";
  return NULL;
}

/* The header parser of the format the magic names, so that its failure reason is the one we
 * see (stbi_info_from_memory tries every format and keeps the last reason). */
static int
info_for_format (const char *fmt, const guint8 *data, gsize len, int *w, int *h, int *comp)
{
  stbi__context s;
  stbi__start_mem (&s, data, (int) len);
  if (fmt == NULL)
    return stbi_info_from_memory (data, (int) len, w, h, comp);
  if (g_str_equal (fmt, "png"))
    return stbi__png_info (&s, w, h, comp);
  if (g_str_equal (fmt, "gif"))
    return stbi__gif_info (&s, w, h, comp);
  if (g_str_equal (fmt, "bmp"))
    return stbi__bmp_info (&s, w, h, comp);
  return stbi_info_from_memory (data, (int) len, w, h, comp);
}

static gboolean
decode_stb (const char *fmt, const guint8 *data, gsize len, const BtDecodeRequest *req,
            BtRaw *out, BtSkipReason *reason, GError **error)
{
  int w = 0, h = 0, comp = 0;
  if (fmt != NULL && g_str_equal (fmt, "png") && !bt_image_guard_png (data, len))
    {
      bt_decode_fail (reason, BT_SKIP_CORRUPT, error, _("The image header is damaged"));
      return FALSE;
    }
  bt_stb_budget = 4 * 1024 * 1024;  /* headers only */
  bt_stb_over = FALSE;
  if (!info_for_format (fmt, data, len, &w, &h, &comp))
    {
      /* stbi_info refuses dimensions over STBI_MAX_DIMENSIONS with this reason. */
      const char *why = stbi_failure_reason ();
      if (why != NULL && g_str_equal (why, "too large"))
        bt_decode_fail (reason, BT_SKIP_TOO_LARGE, error, _("The image is larger than 65535 pixels on a side"));
      else if (fmt != NULL)
        bt_decode_fail (reason, BT_SKIP_CORRUPT, error, _("The image header is damaged"));
      else
        bt_decode_fail (reason, BT_SKIP_NOT_IMAGE, error, _("The file is not an image"));
      return FALSE;
    }
  PngChunks pc = { 0 };
  if (fmt != NULL && g_str_equal (fmt, "png"))
    {
      png_walk (data, len, &pc);
      out->orientation = bt_exif_orientation (pc.exif, pc.exif_len);
    }
  out->width = w;
  out->height = h;
  if (!bt_decode_check_size (out, w, h, req, reason, error))
    return FALSE;
  if (req->header_only)
    return TRUE;

  gboolean complete = fmt == NULL ? tga_is_complete (data, len)
                    : g_str_equal (fmt, "png") ? pc.complete
                    : g_str_equal (fmt, "gif") ? gif_is_complete (data, len)
                    : bmp_is_complete (data, len);
  if (!complete)
    {
      bt_decode_fail (reason, BT_SKIP_CORRUPT, error, _("The file is truncated"));
      return FALSE;
    }

  gsize pixels = (gsize) w * h;
  /* Output + a decoder's working copies (PNG keeps the filtered rows) + fixed tables. */
  gsize budget = pixels * 4 * 4 * 2 + 8 * 1024 * 1024;
  bt_stb_budget = MIN (budget, BT_DECODE_BUDGET_CAP);
  bt_stb_over = FALSE;
  gboolean is16 = fmt != NULL && g_str_equal (fmt, "png") && stbi_is_16_bit_from_memory (data, (int) len);
  int x = 0, y = 0, n = 0;
  void *raw = is16 ? (void *) stbi_load_16_from_memory (data, (int) len, &x, &y, &n, 0)
                   : (void *) stbi_load_from_memory (data, (int) len, &x, &y, &n, 0);
  if (raw == NULL)
    {
      if (bt_stb_over)
        bt_decode_fail (reason, BT_SKIP_TOO_LARGE, error, _("Decoding the image needs more memory than allowed"));
      else
        bt_decode_fail (reason, BT_SKIP_CORRUPT, error, _("The %s image is damaged and cannot be decoded"),
                        fmt ? fmt : "tga");
      return FALSE;
    }
  if (x != w || y != h || n < 1 || n > 4)
    {
      bt_stb_free (raw);
      bt_decode_fail (reason, BT_SKIP_CORRUPT, error, _("The image is inconsistent"));
      return FALSE;
    }
  out->pixels = bt_pixels_alloc (pixels * n);
  if (is16)
    {
      const guint16 *s = raw;
      for (gsize i = 0; i < pixels * n; i++)
        out->pixels[i] = (guint8) (((guint32) s[i] * 255 + 32767) / 65535);
      out->converted = TRUE;
    }
  else
    memcpy (out->pixels, raw, pixels * n);
  bt_stb_free (raw);
  out->channels = n;

  /* iCCP: keyword, NUL, method 0, zlib stream */
  if (pc.iccp != NULL)
    {
      const guint8 *nul = memchr (pc.iccp, 0, MIN (pc.iccp_len, 80));
      gsize skip = nul ? (gsize) (nul - pc.iccp) + 2 : pc.iccp_len;
      if (skip < pc.iccp_len)
        {
          bt_stb_budget = 16u << 20;
          int icc_len = 0;
          char *icc = stbi_zlib_decode_malloc ((const char *) pc.iccp + skip, (int) (pc.iccp_len - skip), &icc_len);
          if (icc != NULL && icc_len > 0)
            {
              out->icc = g_memdup2 (icc, (gsize) icc_len);
              out->icc_len = (gsize) icc_len;
            }
          bt_stb_free (icc);
        }
    }
  return TRUE;
}

/* ---- Format dispatch ---- */

static gboolean
is_heif (const guint8 *d, gsize len)
{
  if (len < 16 || memcmp (d + 4, "ftyp", 4) != 0)
    return FALSE;
  static const char *const brands[] = { "heic", "heix", "hevc", "hevx", "heim", "heis", "mif1", "msf1",
                                        "avif", "avis" };
  for (guint i = 0; i < G_N_ELEMENTS (brands); i++)
    if (memcmp (d + 8, brands[i], 4) == 0)
      return TRUE;
  return FALSE;
}

static const char *
detect (const guint8 *d, gsize len, BtDecodeFunc *func)
{
  *func = NULL;
  if (has_prefix (d, len, "\xff\xd8\xff", 3))
    {
      *func = bt_decode_jpeg;
      return "jpeg";
    }
  if (len >= 12 && memcmp (d, "RIFF", 4) == 0 && memcmp (d + 8, "WEBP", 4) == 0)
    {
      *func = bt_decode_webp;
      return "webp";
    }
  if (has_prefix (d, len, "II*\0", 4) || has_prefix (d, len, "MM\0*", 4) ||
      has_prefix (d, len, "II+\0", 4) || has_prefix (d, len, "MM\0+", 4))
    {
      *func = bt_decode_tiff;
      return "tiff";
    }
  if (is_heif (d, len))
    {
      *func = bt_decode_heif;
      return len >= 12 && (memcmp (d + 8, "avif", 4) == 0 || memcmp (d + 8, "avis", 4) == 0) ? "avif" : "heif";
    }
  return stb_format (d, len);  /* NULL: maybe TGA, which has no magic */
}

/* Decodes to a BtRaw; stored orientation, no colour management yet. */
static gboolean
decode_raw (const guint8 *data, gsize len, const BtDecodeRequest *request, BtRaw *out,
            const char **format, BtSkipReason *reason, GError **error)
{
  BtDecodeRequest r = *request, *req = &r;
  memset (out, 0, sizeof *out);
  out->orientation = 1;
  if (len == 0)
    {
      bt_decode_fail (reason, BT_SKIP_NOT_IMAGE, error, _("The file is empty"));
      return FALSE;
    }
  if (len > (gsize) G_MAXINT)
    {
      bt_decode_fail (reason, BT_SKIP_TOO_LARGE, error, _("The file is too large"));
      return FALSE;
    }
  const char *unsup = unsupported_format (data, len);
  if (unsup)
    {
      bt_decode_fail (reason, BT_SKIP_UNSUPPORTED, error,
                      _("%s images are not supported; use JPEG, PNG, WebP, HEIC, TIFF, BMP, GIF or TGA"), unsup);
      return FALSE;
    }
  BtDecodeFunc func;
  const char *fmt = detect (data, len, &func);
  /* stb's formats and JPEG: a header claiming far more pixels than the bytes can hold is a
   * decompression bomb aimed at stb's allocator or libjpeg's coefficient buffers */
  req->max_pixels_per_byte = (func == NULL || func == bt_decode_jpeg) ? BT_MAX_PIXELS_PER_BYTE : 0;
  gboolean ok = func != NULL ? func (data, len, req, out, reason, error)
                             : decode_stb (fmt, data, len, req, out, reason, error);
  if (!ok)
    {
      bt_raw_clear (out);
      return FALSE;
    }
  if (format)
    *format = fmt ? fmt : "tga";
  return TRUE;
}

/* ---- Colour: embedded ICC profile → sRGB ---- */

static gboolean
profile_is_srgb (cmsHPROFILE p)
{
  char desc[128] = "";
  cmsGetProfileInfoASCII (p, cmsInfoDescription, "en", "US", desc, sizeof desc);
  return strstr (desc, "sRGB") != NULL;
}

/* TRUE when the pixels were converted. Unusable or non-RGB profiles are ignored. */
static gboolean
apply_icc (BtRaw *raw)
{
  if (raw->icc == NULL || raw->icc_is_cmyk || raw->channels < 3 || raw->icc_len < 132)
    return FALSE;
  cmsContext ctx = cmsCreateContext (NULL, NULL);
  cmsHPROFILE in = cmsOpenProfileFromMemTHR (ctx, raw->icc, (cmsUInt32Number) raw->icc_len);
  gboolean done = FALSE;
  if (in != NULL && cmsGetColorSpace (in) == cmsSigRgbData && !profile_is_srgb (in))
    {
      cmsHPROFILE srgb = cmsCreate_sRGBProfileTHR (ctx);
      cmsUInt32Number fmt = raw->channels == 4 ? TYPE_RGBA_8 : TYPE_RGB_8;
      cmsHTRANSFORM t = cmsCreateTransformTHR (ctx, in, fmt, srgb, fmt, INTENT_PERCEPTUAL,
                                               cmsFLAGS_COPY_ALPHA);
      if (t != NULL)
        {
          cmsDoTransform (t, raw->pixels, raw->pixels, (cmsUInt32Number) ((gsize) raw->width * raw->height));
          cmsDeleteTransform (t);
          done = TRUE;
        }
      cmsCloseProfile (srgb);
    }
  if (in != NULL)
    cmsCloseProfile (in);
  cmsDeleteContext (ctx);
  return done;
}

/* raw (1–4 channels) → want channels, alpha composited over BT_ALPHA_BACKGROUND. */
static BtImage *
finish (BtRaw *raw, int want)
{
  int n = raw->channels;
  gsize pixels = (gsize) raw->width * raw->height;
  if (n == want)
    {
      BtImage *img = g_new0 (BtImage, 1);
      img->width = raw->width;
      img->height = raw->height;
      img->channels = want;
      img->pixels = g_steal_pointer (&raw->pixels);
      return img;
    }
  BtImage *img = g_new0 (BtImage, 1);
  img->width = raw->width;
  img->height = raw->height;
  img->channels = want;
  img->pixels = bt_pixels_alloc (pixels * want);
  const guint bg = BT_ALPHA_BACKGROUND;
  const guint8 *s = raw->pixels;
  guint8 *o = img->pixels;
  for (gsize i = 0; i < pixels; i++, s += n, o += want)
    {
      guint r, g, b, a = (n == 2 || n == 4) ? s[n - 1] : 255;
      if (n <= 2)
        r = g = b = s[0];
      else
        {
          r = s[0]; g = s[1]; b = s[2];
        }
      if (a != 255)
        {
          r = (r * a + bg * (255 - a) + 127) / 255;
          g = (g * a + bg * (255 - a) + 127) / 255;
          b = (b * a + bg * (255 - a) + 127) / 255;
        }
      if (want == 3)
        {
          o[0] = (guint8) r; o[1] = (guint8) g; o[2] = (guint8) b;
        }
      else if (n <= 2)
        o[0] = (guint8) r;
      else
        {
          /* stb's luma, then the background (so alpha on grey matches the RGB path) */
          guint yv = (s[0] * 77u + s[1] * 150u + s[2] * 29u) >> 8;
          o[0] = (guint8) (a == 255 ? yv : (yv * a + bg * (255 - a) + 127) / 255);
        }
    }
  return img;
}

BtImage *
bt_image_decode (const guint8 *data, gsize len, int want_channels, int min_w, int min_h,
                 BtDecodeInfo *info, BtSkipReason *reason, GError **error)
{
  g_return_val_if_fail (data != NULL || len == 0, NULL);
  g_return_val_if_fail (want_channels == 1 || want_channels == 3, NULL);
  static const guint8 empty[1];
  if (data == NULL)
    data = empty;
  if (!bt_image_get_in_process ())
    {
      int fd = bt_sandbox_memfd_from_bytes (data, len, reason, error);
      BtImage *img = NULL;
      if (fd >= 0)
        {
          bt_sandbox_decode_full (fd, NULL, want_channels, min_w, min_h, 0, &img, info, NULL, reason, error);
          close (fd);
        }
      return img;
    }
  BtDecodeRequest req = { MAX (min_w, 0), MAX (min_h, 0), bt_image_get_pixel_budget (), len, 0, FALSE };
  BtRaw raw;
  const char *fmt = NULL;
  if (!decode_raw (data, len, &req, &raw, &fmt, reason, error))
    return NULL;
  guint flags = raw.converted ? BT_DECODE_CONVERTED : 0;
  if (apply_icc (&raw))
    flags |= BT_DECODE_CONVERTED;
  int orientation = raw.orientation;
  if (orientation > 1)
    {
      bt_raw_orient (&raw);
      flags |= BT_DECODE_ROTATED;
    }
  if (info)
    {
      info->format = fmt;
      info->orientation = orientation;
      info->flags = flags;
      /* full size, upright (a scaled decode is smaller) */
      info->width = orientation >= 5 ? raw.full_height : raw.full_width;
      info->height = orientation >= 5 ? raw.full_width : raw.full_height;
    }
  BtImage *img = finish (&raw, want_channels);
  bt_raw_clear (&raw);
  return img;
}

BtImage *
bt_image_decode_bytes (const guint8 *data, gsize len, int want_channels,
                       BtSkipReason *reason, GError **error)
{
  return bt_image_decode (data, len, want_channels, 0, 0, NULL, reason, error);
}

gboolean
bt_image_probe_bytes (const guint8 *data, gsize len, int *width, int *height,
                      const char **format, BtSkipReason *reason, GError **error)
{
  g_return_val_if_fail (data != NULL || len == 0, FALSE);
  static const guint8 empty[1];
  if (!bt_image_get_in_process ())
    {
      int fd = bt_sandbox_memfd_from_bytes (data ? data : empty, len, reason, error);
      BtDecodeInfo info = { 0 };
      gboolean ok = fd >= 0 && bt_sandbox_decode_full (fd, NULL, 1, 0, 0, BT_SANDBOX_PROBE, NULL, &info, NULL,
                                                       reason, error);
      if (fd >= 0)
        close (fd);
      if (ok && width)
        *width = info.width;
      if (ok && height)
        *height = info.height;
      if (ok && format)
        *format = info.format;
      return ok;
    }
  BtDecodeRequest req = { 0, 0, bt_image_get_pixel_budget (), len, 0, TRUE };
  BtRaw raw;
  if (!decode_raw (data ? data : empty, len, &req, &raw, format, reason, error))
    return FALSE;
  gboolean swap = raw.orientation >= 5;
  if (width)
    *width = swap ? raw.full_height : raw.full_width;
  if (height)
    *height = swap ? raw.full_width : raw.full_height;
  bt_raw_clear (&raw);
  return TRUE;
}

int
bt_open_regular_file (const char *path, gsize max_len, gsize *size, BtSkipReason *reason, GError **error)
{
  g_autofree char *display = g_filename_display_name (path);
  /* O_NONBLOCK: opening a FIFO that replaced a file since the scan must not block. */
  int fd = open (path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    {
      int e = errno;
      if (reason)
        *reason = (e == ELOOP) ? BT_SKIP_SPECIAL : BT_SKIP_UNREADABLE;
      g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_IO,
                   _("Cannot open “%s”: %s"), display, g_strerror (e));
      return -1;
    }
  struct stat st;
  if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode))
    {
      close (fd);
      if (reason)
        *reason = BT_SKIP_SPECIAL;
      g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_UNSUPPORTED,
                   _("“%s” is not a regular file"), display);
      return -1;
    }
  if ((guint64) st.st_size > max_len)
    {
      close (fd);
      if (reason)
        *reason = BT_SKIP_TOO_LARGE;
      g_autofree char *limit = g_format_size (max_len);
      g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_TOO_LARGE,
                   _("“%s” is larger than %s"), display, limit);
      return -1;
    }
  if (size)
    *size = (gsize) st.st_size;
  return fd;
}

gboolean
bt_read_regular_file (const char *path, gsize max_len, guint8 **data, gsize *len,
                      BtSkipReason *reason, GError **error)
{
  gsize size = 0;
  int fd = bt_open_regular_file (path, max_len, &size, reason, error);
  if (fd < 0)
    return FALSE;
  g_autofree char *display = g_filename_display_name (path);
  gsize cap = size + 1, got = 0;
  guint8 *buf = g_malloc (cap);
  for (;;)
    {
      if (got == cap)
        {
          if (cap > max_len)
            {
              g_free (buf);
              close (fd);
              if (reason)
                *reason = BT_SKIP_TOO_LARGE;
              g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_TOO_LARGE,
                           _("“%s” is too large"), display);
              return FALSE;
            }
          cap *= 2;
          buf = g_realloc (buf, cap);
        }
      ssize_t r = read (fd, buf + got, cap - got);
      if (r == 0)
        break;
      if (r < 0)
        {
          int e = errno;
          if (e == EINTR)
            continue;
          g_free (buf);
          close (fd);
          if (reason)
            *reason = BT_SKIP_UNREADABLE;
          g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_IO,
                       _("Cannot read “%s”: %s"), display, g_strerror (e));
          return FALSE;
        }
      got += (gsize) r;
    }
  close (fd);
  *data = buf;
  *len = got;
  return TRUE;
}

BtImage *
bt_image_decode_file_sized (const char *path, int want_channels, int min_w, int min_h, BtDecodeInfo *info,
                            GCancellable *cancellable, BtSkipReason *reason, GError **error)
{
  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (want_channels == 1 || want_channels == 3, NULL);
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return NULL;
  if (!bt_image_get_in_process ())
    {
      /* the file opened here, read and decoded by a helper */
      int fd = bt_open_regular_file (path, BT_MAX_FILE_BYTES, NULL, reason, error);
      BtImage *img = NULL;
      if (fd >= 0)
        {
          bt_sandbox_decode_full (fd, path, want_channels, min_w, min_h, 0, &img, info, NULL, reason, error);
          close (fd);
        }
      return img;
    }
  g_autofree guint8 *data = NULL;
  gsize len = 0;
  if (!bt_read_regular_file (path, BT_MAX_FILE_BYTES, &data, &len, reason, error))
    return NULL;
  g_autoptr(GError) local = NULL;
  BtImage *img = bt_image_decode (data, len, want_channels, min_w, min_h, info, reason, &local);
  if (img == NULL)
    {
      g_autofree char *display = g_filename_display_name (path);
      g_propagate_prefixed_error (error, g_steal_pointer (&local), "%s: ", display);
    }
  return img;
}

BtImage *
bt_image_decode_file (const char *path, int want_channels, GCancellable *cancellable,
                      BtSkipReason *reason, GError **error)
{
  return bt_image_decode_file_sized (path, want_channels, 0, 0, NULL, cancellable, reason, error);
}

gboolean
bt_image_file_looks_colour (const char *path, int *width, int *height)
{
  g_autoptr(BtImage) img = NULL;
  gsize n, step, coloured = 0, seen = 0;

  g_return_val_if_fail (path != NULL && width != NULL && height != NULL, FALSE);
  *width = *height = 0;
  img = bt_image_decode_file_sized (path, 3, 256, 256, NULL, NULL, NULL, NULL);
  if (img == NULL)
    return FALSE;
  *width = img->width;
  *height = img->height;
  if (img->channels < 3)
    return FALSE;
  n = (gsize) img->width * img->height;
  step = MAX (n / 4096, 1);
  for (gsize i = 0; i < n; i += step, seen++)
    {
      const guint8 *p = img->pixels + i * 3;
      if (ABS (p[0] - p[1]) > 12 || ABS (p[1] - p[2]) > 12)
        coloured++;
    }
  return coloured * 50 > seen;
}
