/* bt-photo-store.c: photos that arrive as bytes or pixels rather than as files (a camera frame,
 * a pasted image, an image dragged from a web browser) become files in the project's own
 * images/<class>/ folder. The bytes are checked by the one decode function first, so nothing
 * that the import would refuse is ever written. Worker threads only: it decodes and writes. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <jpeglib.h>

#include "dataset/bt-dataset.h"
#include "dataset/bt-dataset-private.h"

char *
bt_photo_class_folder (const char *class_name)
{
  char *folder;

  g_return_val_if_fail (class_name != NULL && class_name[0] != '\0', NULL);
  /* a class name is one path component already; keep it so even if that ever changes */
  folder = g_strdup (class_name);
  g_strdelimit (folder, "/\\", '_');
  if (folder[0] == '.')
    folder[0] = '_';
  return folder;
}

static const char *
suffix_for_format (const char *format)
{
  static const char *const map[][2] = {
    { "jpeg", "jpg" }, { "png", "png" }, { "webp", "webp" }, { "heif", "heic" }, { "avif", "avif" },
    { "tiff", "tif" }, { "gif", "gif" }, { "bmp", "bmp" }, { "tga", "tga" }, { "pnm", "pnm" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (map); i++)
    if (g_strcmp0 (format, map[i][0]) == 0)
      return map[i][1];
  return NULL;
}

/* Creates dir/stem.suffix, or dir/stem-2.suffix, ... (never over an existing file) and writes
 * data there atomically. Returns the path. */
static char *
write_new_file (const char *dir, const char *stem, const char *suffix, const guint8 *data, gsize len,
                GError **error)
{
  for (guint i = 1; i < 10000; i++)
    {
      g_autofree char *name = i == 1 ? g_strdup_printf ("%s.%s", stem, suffix)
                                     : g_strdup_printf ("%s-%u.%s", stem, i, suffix);
      g_autofree char *path = g_build_filename (dir, name, NULL);
      /* the empty file reserves the name (another thread may pick the same stem); the atomic
       * write then replaces it */
      int fd = g_open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

      if (fd < 0 && errno == EEXIST)
        continue;
      if (fd < 0)
        {
          int e = errno;
          g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_IO, _("Cannot create “%s”: %s"), path,
                       g_strerror (e));
          return NULL;
        }
      close (fd);
      if (!bt_write_file_atomic (path, data, len, error))
        {
          g_unlink (path);
          return NULL;
        }
      return g_steal_pointer (&path);
    }
  g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_IO, _("Too many files named “%s” already"), stem);
  return NULL;
}

static char *
class_dir (const char *project_dir, const char *class_name, GError **error)
{
  g_autofree char *folder = bt_photo_class_folder (class_name);
  char *dir = g_build_filename (project_dir, "images", folder, NULL);

  if (g_mkdir_with_parents (dir, 0755) != 0)
    {
      int e = errno;
      g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_IO, _("Cannot create “%s”: %s"), dir, g_strerror (e));
      g_free (dir);
      return NULL;
    }
  return dir;
}

char *
bt_photo_store_bytes (const char   *project_dir,
                      const char   *class_name,
                      const char   *stem,
                      const guint8 *data,
                      gsize         len,
                      guint64      *hash,
                      GError      **error)
{
  g_autoptr(BtImage) check = NULL;
  g_autofree char *dir = NULL;
  BtDecodeInfo info = { 0 };
  const char *suffix;

  g_return_val_if_fail (project_dir != NULL && class_name != NULL && stem != NULL, NULL);
  g_return_val_if_fail (data != NULL || len == 0, NULL);

  if (len > BT_MAX_FILE_BYTES)
    {
      g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_TOO_LARGE, _("The image is too large (%s)"),
                   g_format_size (len));
      return NULL;
    }
  /* the whole image is decoded (small, through the DCT scale where it can be): a cut-short or
   * unknown payload is refused here, with the decoder's own reason */
  check = bt_image_decode (data, len, 3, 64, 64, &info, NULL, error);
  if (check == NULL)
    return NULL;
  if ((suffix = suffix_for_format (info.format)) == NULL)
    {
      g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_UNSUPPORTED, _("Unsupported image format"));
      return NULL;
    }
  if ((dir = class_dir (project_dir, class_name, error)) == NULL)
    return NULL;
  if (hash != NULL)
    *hash = bt_hash_bytes (data, len);
  return write_new_file (dir, stem, suffix, data, len, error);
}

/* ---- JPEG encoding of camera frames (libjpeg-turbo) ---- */

typedef struct {
  struct jpeg_error_mgr pub;
  jmp_buf jump;
} EncErr;

static void
enc_error_exit (j_common_ptr cinfo)
{
  longjmp (((EncErr *) cinfo->err)->jump, 1);
}

static void
enc_output (j_common_ptr cinfo)
{
  (void) cinfo;
}

guint8 *
bt_photo_encode_jpeg (const guint8 *rgb, int width, int height, int stride, int quality, gsize *len)
{
  struct jpeg_compress_struct cinfo;
  EncErr err;
  unsigned char *volatile out = NULL;
  unsigned long volatile out_len = 0;
  guint8 *copy;

  g_return_val_if_fail (rgb != NULL && width > 0 && height > 0 && stride >= width * 3 && len != NULL, NULL);

  cinfo.err = jpeg_std_error (&err.pub);
  err.pub.error_exit = enc_error_exit;
  err.pub.output_message = enc_output;
  if (setjmp (err.jump))
    {
      jpeg_destroy_compress (&cinfo);
      free (out);
      return NULL;
    }
  jpeg_create_compress (&cinfo);
  jpeg_mem_dest (&cinfo, (unsigned char **) &out, (unsigned long *) &out_len);
  cinfo.image_width = (JDIMENSION) width;
  cinfo.image_height = (JDIMENSION) height;
  cinfo.input_components = 3;
  cinfo.in_color_space = JCS_RGB;
  jpeg_set_defaults (&cinfo);
  jpeg_set_quality (&cinfo, CLAMP (quality, 1, 100), TRUE);
  jpeg_start_compress (&cinfo, TRUE);
  while (cinfo.next_scanline < cinfo.image_height)
    {
      JSAMPROW row = (JSAMPROW) (rgb + (gsize) cinfo.next_scanline * (gsize) stride);
      jpeg_write_scanlines (&cinfo, &row, 1);
    }
  jpeg_finish_compress (&cinfo);
  jpeg_destroy_compress (&cinfo);
  copy = g_memdup2 (out, out_len);
  *len = out_len;
  free (out);
  return copy;
}

char *
bt_photo_store_rgb (const char   *project_dir,
                    const char   *class_name,
                    const char   *stem,
                    const guint8 *rgb,
                    int           width,
                    int           height,
                    int           stride,
                    guint64      *hash,
                    GError      **error)
{
  g_autofree guint8 *jpeg = NULL;
  g_autofree char *dir = NULL;
  gsize len = 0;

  g_return_val_if_fail (project_dir != NULL && class_name != NULL && stem != NULL && rgb != NULL, NULL);

  jpeg = bt_photo_encode_jpeg (rgb, width, height, stride, 92, &len);
  if (jpeg == NULL)
    {
      g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_INVALID, _("The photo could not be encoded as JPEG"));
      return NULL;
    }
  if ((dir = class_dir (project_dir, class_name, error)) == NULL)
    return NULL;
  if (hash != NULL)
    *hash = bt_hash_bytes (jpeg, len);
  return write_new_file (dir, stem, "jpg", jpeg, len, error);
}
