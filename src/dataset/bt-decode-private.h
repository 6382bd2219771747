/* bt-decode-private.h: what the per-format decoders (bt-decode-*.c) share with the one decode
 * entry point in bt-image-decode.c. Not for use outside src/dataset/ and its tests. */
#pragma once

#include "dataset/bt-dataset-private.h"

G_BEGIN_DECLS

/* A decoder's output before orientation, colour management and channel conversion. */
typedef struct {
  int      width, height;   /* as stored (before orientation), possibly scaled down */
  int      full_width, full_height;  /* the header's, as stored */
  int      channels;        /* 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA; 8 bits each */
  guint8  *pixels;          /* bt_pixels_alloc */
  guint8  *icc;             /* embedded ICC profile (g_malloc) or NULL */
  gsize    icc_len;
  int      orientation;     /* EXIF 1..8 still to apply (1: none) */
  gboolean converted;       /* the decoder changed the colour model or depth (CMYK, 16-bit) */
  gboolean icc_is_cmyk;     /* icc describes CMYK data that was already converted: ignore it */
} BtRaw;

void bt_raw_clear (BtRaw *raw);

/* bt-pixels.c: every buffer of decoded pixels (a BtRaw's, a decoded BtImage's) comes from here
 * and goes back through bt_pixels_free (bt_image_free does). In the decoder helper, once
 * bt_pixels_use_memfd (TRUE), one of at least BT_PIXELS_MEMFD_MIN bytes is a shared mapping of
 * a memfd, which bt_pixels_steal_memfd hands over whole; elsewhere they are g_malloc's. */
#define BT_PIXELS_MEMFD_MIN ((gsize) 1024 * 1024)
void     bt_pixels_use_memfd   (gboolean value);
guint8  *bt_pixels_alloc       (gsize n);   /* aborts when out of memory, as g_malloc */
guint8  *bt_pixels_try_alloc   (gsize n);   /* NULL when out of memory */
void     bt_pixels_free        (guint8 *p);
guint8  *bt_pixels_shrink      (guint8 *p, gsize n);  /* keeps the first n bytes; as g_realloc */
/* FALSE: p is not a memfd's mapping (left as it is). TRUE: p is gone (unmapped), and *fd is its
 * memfd holding p's first n bytes and nothing more, or -1 (errno set) when that failed. */
gboolean bt_pixels_steal_memfd (guint8 *p, gsize n, int *fd);

typedef struct {
  int     min_w, min_h;    /* smallest acceptable output, upright (a decoder swaps them for
                            * orientations 5..8); 0: full size */
  guint64 pixel_budget;    /* most pixels a header may claim */
  gsize   len;             /* of the file: bounds the pixels a header may plausibly claim */
  guint   max_pixels_per_byte; /* that bound (0: none; a flat lossless WebP or HEIC compresses
                                * far better than PNG, and libwebp/libheif/libtiff allocate
                                * within the pixel budget anyway) */
  gboolean header_only;    /* fill width, height, orientation only */
} BtDecodeRequest;

/* Every decoder: header → bt_decode_check_size → (header_only? stop) → pixels.
 * On failure *reason and error are set. */
typedef gboolean (*BtDecodeFunc) (const guint8 *data, gsize len, const BtDecodeRequest *req,
                                  BtRaw *out, BtSkipReason *reason, GError **error);
gboolean bt_decode_jpeg (const guint8 *data, gsize len, const BtDecodeRequest *req,
                         BtRaw *out, BtSkipReason *reason, GError **error);
gboolean bt_decode_webp (const guint8 *data, gsize len, const BtDecodeRequest *req,
                         BtRaw *out, BtSkipReason *reason, GError **error);
gboolean bt_decode_heif (const guint8 *data, gsize len, const BtDecodeRequest *req,
                         BtRaw *out, BtSkipReason *reason, GError **error);
gboolean bt_decode_tiff (const guint8 *data, gsize len, const BtDecodeRequest *req,
                         BtRaw *out, BtSkipReason *reason, GError **error);

/* Records w×h (stored) as out's full size; refuses it over the budget ("too large (W×H)"),
 * implausible for the file's length, or empty. */
gboolean bt_decode_check_size (BtRaw *out, int w, int h, const BtDecodeRequest *req,
                               BtSkipReason *reason, GError **error);
void     bt_decode_fail (BtSkipReason *reason, BtSkipReason r, GError **error, const char *format, ...)
                         G_GNUC_PRINTF (4, 5);

/* EXIF: the Orientation tag (1..8) of a TIFF-structured block ("II*\0"/"MM\0*" first, an
 * "Exif\0\0" prefix is skipped); 1 when absent or malformed. Bounds-checked. */
int      bt_exif_orientation (const guint8 *data, gsize len);
/* Applies EXIF orientation o to raw's pixels in place (new buffer; dimensions swap for 5..8). */
void     bt_raw_orient (BtRaw *raw);

/* Most pixels a byte of compressed data can plausibly stand for. */
#define BT_MAX_PIXELS_PER_BYTE 8400u
#define BT_PLAUSIBILITY_SLACK  (1u << 20)

G_END_DECLS
