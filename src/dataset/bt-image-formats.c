/* bt-image-formats.c: the table of image formats (bt-image-formats.h). A new format is one
 * row here plus its decoder in bt-image-decode.c. */
#include "config.h"

#include <string.h>

#include "dataset/bt-image-formats.h"

static const BtImageFormat formats[] = {
  { "png",  { "png", NULL },         { "image/png", NULL },                 TRUE },
  { "jpeg", { "jpg", "jpeg", NULL }, { "image/jpeg", NULL },                TRUE },
  { "bmp",  { "bmp", NULL },         { "image/bmp", "image/x-bmp", NULL },  TRUE },
  { "gif",  { "gif", NULL },         { "image/gif", NULL },                 TRUE },
  { "tga",  { "tga", NULL },         { "image/x-tga", NULL },               TRUE },
  { "webp", { "webp", NULL },        { "image/webp", NULL },                TRUE },
  { "heif", { "heic", "heif", NULL }, { "image/heic", "image/heif", NULL }, TRUE },
  { "avif", { "avif", NULL },        { "image/avif", NULL },                TRUE },
  { "tiff", { "tif", "tiff", NULL }, { "image/tiff", NULL },                TRUE },
};

const BtImageFormat *
bt_image_formats (guint *n_formats)
{
  g_return_val_if_fail (n_formats != NULL, NULL);
  *n_formats = G_N_ELEMENTS (formats);
  return formats;
}

const BtImageFormat *
bt_image_format_for_path (const char *path)
{
  const char *dot;

  g_return_val_if_fail (path != NULL, NULL);
  dot = strrchr (path, '.');
  /* "a.png/readme" and "png" have no suffix */
  if (dot == NULL || strchr (dot, '/') != NULL)
    return NULL;
  for (guint i = 0; i < G_N_ELEMENTS (formats); i++)
    for (guint k = 0; formats[i].suffixes[k] != NULL; k++)
      if (g_ascii_strcasecmp (dot + 1, formats[i].suffixes[k]) == 0)
        return &formats[i];
  return NULL;
}

gboolean
bt_image_path_has_image_suffix (const char *path)
{
  return bt_image_format_for_path (path) != NULL;
}
