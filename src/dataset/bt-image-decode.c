/* bt-image-decode.c: the one translation unit that compiles stb_image, hardened: no PIC/PSD/
 * PNM/HDR, bounded dimensions, allocations through a per-thread budget; plus colour conversion. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <glib/gi18n-lib.h>

#include "dataset/bt-dataset-private.h"
#include "dataset/bt-image-guard.h"

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

/* Whole-process cap on what one decode may allocate, on top of the per-image estimate. */
#define BT_DECODE_BUDGET_CAP ((gsize) 768 * 1024 * 1024)
/* Most pixels a byte of compressed data can plausibly stand for (1-bit PNG at deflate's
 * best ratio is ~8 * 1032); a 50 MP header on a 2 KB file is a decompression bomb. */
#define BT_MAX_PIXELS_PER_BYTE 8400u
#define BT_PLAUSIBILITY_SLACK  (1u << 20)

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
    default:                  return _("Skipped");
    }
}

void
bt_image_free (BtImage *img)
{
  if (img == NULL)
    return;
  g_free (img->pixels);
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

static gboolean
has_prefix (const guint8 *d, gsize len, const char *magic, gsize mlen)
{
  return len >= mlen && memcmp (d, magic, mlen) == 0;
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
  if (len >= 12 && memcmp (d, "RIFF", 4) == 0 && memcmp (d + 8, "WEBP", 4) == 0)
    return "WebP";
  if (has_prefix (d, len, "II*\0", 4) || has_prefix (d, len, "MM\0*", 4))
    return "TIFF";
  if (len >= 12 && memcmp (d + 4, "ftyp", 4) == 0)
    return "HEIF/AVIF";
  if (has_prefix (d, len, "\xff\x0a", 2) || has_prefix (d, len, "\0\0\0\x0cJXL ", 8))
    return "JPEG XL";
  if (has_prefix (d, len, "\0\0\1\0", 4))
    return "ICO";
  return NULL;
}

/* Formats stb decodes, by magic; TGA has none and is recognised by stb alone. */
static const char *
supported_format (const guint8 *d, gsize len)
{
  if (has_prefix (d, len, "\x89PNG\r\n\x1a\n", 8))
    return "png";
  if (has_prefix (d, len, "\xff\xd8\xff", 3))
    return "jpeg";
  if (has_prefix (d, len, "GIF87a", 6) || has_prefix (d, len, "GIF89a", 6))
    return "gif";
  if (has_prefix (d, len, "BM", 2) && len >= 26)
    return "bmp";
  return NULL;
}

gboolean
bt_jpeg_is_complete (const guint8 *d, gsize len)
{
  /* Walk the marker segments to the first SOS (skipping EXIF thumbnails, which carry their
   * own EOI), then look for EOI in the entropy-coded data, where 0xFF is always stuffed. */
  gsize i = 2;
  while (i + 4 <= len)
    {
      if (d[i] != 0xff)
        return FALSE;
      guint8 m = d[i + 1];
      if (m == 0xff) { i++; continue; }
      if (m == 0xd9)
        return FALSE;
      if (m == 0x01 || (m >= 0xd0 && m <= 0xd7)) { i += 2; continue; }
      gsize seg = ((gsize) d[i + 2] << 8) | d[i + 3];
      if (seg < 2)
        return FALSE;
      i += 2 + seg;
      if (m == 0xda)
        break;
    }
  for (; i + 1 < len; i++)
    if (d[i] == 0xff && d[i + 1] == 0xd9)
      return TRUE;
  return FALSE;
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
  if (g_str_equal (fmt, "jpeg"))
    return stbi__jpeg_info (&s, w, h, comp);
  if (g_str_equal (fmt, "gif"))
    return stbi__gif_info (&s, w, h, comp);
  if (g_str_equal (fmt, "bmp"))
    return stbi__bmp_info (&s, w, h, comp);
  return stbi_info_from_memory (data, (int) len, w, h, comp);
}

static void
set_fail (BtSkipReason *reason, BtSkipReason r, GError **error, int code, const char *msg)
{
  if (reason)
    *reason = r;
  g_set_error_literal (error, BT_DATASET_ERROR, code, msg);
}

static gboolean
probe (const guint8 *data, gsize len, int *w, int *h, int *comp, const char **format,
       BtSkipReason *reason, GError **error)
{
  if (len == 0)
    {
      set_fail (reason, BT_SKIP_NOT_IMAGE, error, BT_DATASET_ERROR_UNSUPPORTED, _("The file is empty"));
      return FALSE;
    }
  if (len > (gsize) G_MAXINT)
    {
      set_fail (reason, BT_SKIP_TOO_LARGE, error, BT_DATASET_ERROR_TOO_LARGE, _("The file is too large"));
      return FALSE;
    }
  const char *unsup = unsupported_format (data, len);
  if (unsup)
    {
      if (reason)
        *reason = BT_SKIP_UNSUPPORTED;
      g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_UNSUPPORTED,
                   _("%s images are not supported; use PNG, JPEG, BMP, GIF or TGA"), unsup);
      return FALSE;
    }
  const char *fmt = supported_format (data, len);
  if (!bt_image_guard_jpeg (data, len) || (fmt != NULL && g_str_equal (fmt, "png") && !bt_image_guard_png (data, len)))
    {
      set_fail (reason, BT_SKIP_CORRUPT, error, BT_DATASET_ERROR_CORRUPT, _("The image header is damaged"));
      return FALSE;
    }
  bt_stb_budget = 4 * 1024 * 1024;  /* headers only */
  bt_stb_over = FALSE;
  if (!info_for_format (fmt, data, len, w, h, comp))
    {
      /* stbi_info refuses dimensions over STBI_MAX_DIMENSIONS with this reason. */
      const char *why = stbi_failure_reason ();
      if (why != NULL && g_str_equal (why, "too large"))
        set_fail (reason, BT_SKIP_TOO_LARGE, error, BT_DATASET_ERROR_TOO_LARGE,
                  _("The image is larger than 65535 pixels on a side"));
      else if (fmt != NULL)
        set_fail (reason, BT_SKIP_CORRUPT, error, BT_DATASET_ERROR_CORRUPT,
                  _("The image header is damaged"));
      else
        set_fail (reason, BT_SKIP_NOT_IMAGE, error, BT_DATASET_ERROR_UNSUPPORTED,
                  _("The file is not an image"));
      return FALSE;
    }
  if (fmt == NULL)
    fmt = "tga";
  if (*w <= 0 || *h <= 0)
    {
      set_fail (reason, BT_SKIP_CORRUPT, error, BT_DATASET_ERROR_CORRUPT, _("The image has no pixels"));
      return FALSE;
    }
  guint64 pixels = (guint64) *w * (guint64) *h;
  if (pixels > BT_MAX_PIXELS)
    {
      if (reason)
        *reason = BT_SKIP_TOO_LARGE;
      g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_TOO_LARGE,
                   _("The image is %d × %d pixels, over the limit of 50 megapixels"), *w, *h);
      return FALSE;
    }
  if (pixels > (guint64) len * BT_MAX_PIXELS_PER_BYTE + BT_PLAUSIBILITY_SLACK)
    {
      if (reason)
        *reason = BT_SKIP_CORRUPT;
      g_autofree char *size = g_format_size (len);
      g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_CORRUPT,
                   _("The image claims %d × %d pixels, implausible for a file of %s"), *w, *h, size);
      return FALSE;
    }
  if (format)
    *format = fmt;
  return TRUE;
}

gboolean
bt_image_probe_bytes (const guint8 *data, gsize len, int *width, int *height,
                      const char **format, BtSkipReason *reason, GError **error)
{
  g_return_val_if_fail (data != NULL || len == 0, FALSE);
  int w = 0, h = 0, comp = 0;
  static const guint8 empty[1];
  if (!probe (data ? data : empty, len, &w, &h, &comp, format, reason, error))
    return FALSE;
  if (width)
    *width = w;
  if (height)
    *height = h;
  return TRUE;
}

BtImage *
bt_image_decode_bytes (const guint8 *data, gsize len, int want_channels,
                       BtSkipReason *reason, GError **error)
{
  g_return_val_if_fail (data != NULL || len == 0, NULL);
  g_return_val_if_fail (want_channels == 1 || want_channels == 3, NULL);
  static const guint8 empty[1];
  if (data == NULL)
    data = empty;

  int w = 0, h = 0, comp = 0;
  const char *fmt = NULL;
  if (!probe (data, len, &w, &h, &comp, &fmt, reason, error))
    return NULL;

  if (g_str_equal (fmt, "jpeg") && !bt_jpeg_is_complete (data, len))
    {
      set_fail (reason, BT_SKIP_CORRUPT, error, BT_DATASET_ERROR_CORRUPT,
                _("The JPEG file is truncated"));
      return NULL;
    }

  gboolean alpha = (comp == 2 || comp == 4);
  int req = want_channels == 1 ? (alpha ? 2 : 1) : (alpha ? 4 : 3);
  gsize pixels = (gsize) w * h;
  /* Output + a decoder's working copies (PNG keeps the filtered rows, progressive JPEG
   * keeps 16-bit coefficients per component) + fixed tables. */
  gsize budget = pixels * 4 * 4 + 8 * 1024 * 1024;
  bt_stb_budget = MIN (budget, BT_DECODE_BUDGET_CAP);
  bt_stb_over = FALSE;
  int x = 0, y = 0, n = 0;
  stbi_uc *raw = stbi_load_from_memory (data, (int) len, &x, &y, &n, req);
  if (raw == NULL)
    {
      if (bt_stb_over)
        set_fail (reason, BT_SKIP_TOO_LARGE, error, BT_DATASET_ERROR_TOO_LARGE,
                  _("Decoding the image needs more memory than allowed"));
      else
        {
          if (reason)
            *reason = BT_SKIP_CORRUPT;
          g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_CORRUPT,
                       _("The %s image is damaged and cannot be decoded"), fmt);
        }
      return NULL;
    }
  if (x != w || y != h)
    {
      bt_stb_free (raw);
      set_fail (reason, BT_SKIP_CORRUPT, error, BT_DATASET_ERROR_CORRUPT, _("The image is inconsistent"));
      return NULL;
    }

  BtImage *img = g_new0 (BtImage, 1);
  img->width = w;
  img->height = h;
  img->channels = want_channels;
  img->pixels = g_malloc (pixels * want_channels);
  guint8 *out = img->pixels;
  if (!alpha)
    memcpy (out, raw, pixels * want_channels);
  else
    {
      /* Composite over white: out = a*c + (255-a)*255, rounded. */
      for (gsize i = 0; i < pixels; i++)
        {
          const stbi_uc *p = raw + i * req;
          guint a = p[req - 1];
          for (int c = 0; c < want_channels; c++)
            out[i * want_channels + c] = (guint8) ((p[c] * a + 255 * (255 - a) + 127) / 255);
        }
    }
  bt_stb_free (raw);
  return img;
}

gboolean
bt_read_regular_file (const char *path, gsize max_len, guint8 **data, gsize *len,
                      BtSkipReason *reason, GError **error)
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
      return FALSE;
    }
  struct stat st;
  if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode))
    {
      close (fd);
      if (reason)
        *reason = BT_SKIP_SPECIAL;
      g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_UNSUPPORTED,
                   _("“%s” is not a regular file"), display);
      return FALSE;
    }
  if ((guint64) st.st_size > max_len)
    {
      close (fd);
      if (reason)
        *reason = BT_SKIP_TOO_LARGE;
      g_autofree char *limit = g_format_size (max_len);
      g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_TOO_LARGE,
                   _("“%s” is larger than %s"), display, limit);
      return FALSE;
    }
  gsize cap = (gsize) st.st_size + 1, got = 0;
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
bt_image_decode_file (const char *path, int want_channels, GCancellable *cancellable,
                      BtSkipReason *reason, GError **error)
{
  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (want_channels == 1 || want_channels == 3, NULL);
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return NULL;
  g_autofree guint8 *data = NULL;
  gsize len = 0;
  if (!bt_read_regular_file (path, BT_MAX_FILE_BYTES, &data, &len, reason, error))
    return NULL;
  g_autoptr(GError) local = NULL;
  BtImage *img = bt_image_decode_bytes (data, len, want_channels, reason, &local);
  if (img == NULL)
    {
      g_autofree char *display = g_filename_display_name (path);
      g_propagate_prefixed_error (error, g_steal_pointer (&local), "%s: ", display);
    }
  return img;
}
