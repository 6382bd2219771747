/* fuzz-decode: libFuzzer target for the untrusted-image path: probe, decode (grey and RGB) and
 * the preprocessing resize in all three modes. */
#include <stddef.h>
#include <stdint.h>

#include "dataset/bt-dataset.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  int w = 0, h = 0;
  const char *fmt = NULL;
  bt_image_probe_bytes (data, size, &w, &h, &fmt, NULL, NULL);
  for (int c = 1; c <= 3; c += 2)
    {
      BtSkipReason reason;
      GError *error = NULL;
      BtImage *img = bt_image_decode_bytes (data, size, c, &reason, &error);
      if (img == NULL)
        {
          g_assert (error != NULL);
          g_error_free (error);
          continue;
        }
      g_assert (img->width == w && img->height == h && img->channels == c);
      for (int mode = BT_DS_RESIZE_SQUASH; mode <= BT_DS_RESIZE_PAD; mode++)
        bt_image_free (bt_image_resize (img, 17, 9, (BtDsResize) mode));
      bt_image_free (img);
    }
  return 0;
}
