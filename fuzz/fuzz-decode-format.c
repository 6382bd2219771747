/* fuzz-decode-format: libFuzzer target for one photo decoder (BT_FUZZ_FORMAT: jpeg, webp, heif
 * or tiff), called directly so that mutations that break the magic still reach it; then what
 * the one entry point does with its output (orientation, ICC, channels) via bt_image_decode. */
#include <stddef.h>
#include <stdint.h>

#include "dataset/bt-decode-private.h"

#define CAT2(a, b) a##b
#define CAT(a, b) CAT2 (a, b)
#define DECODER CAT (bt_decode_, BT_FUZZ_FORMAT)

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  /* a small budget keeps each run fast; the budget check itself is what is exercised */
  const guint64 budget = 4u * 1000 * 1000;
  for (int pass = 0; pass < 3; pass++)
    {
      BtDecodeRequest req = { pass == 2 ? 16 : 0, pass == 2 ? 16 : 0, budget, size, 0, pass == 0 };
      BtRaw raw = { 0 };
      raw.orientation = 1;
      BtSkipReason reason;
      GError *error = NULL;
      if (!DECODER (data, size, &req, &raw, &reason, &error))
        {
          g_assert (error != NULL);
          g_error_free (error);
          bt_raw_clear (&raw);
          continue;
        }
      g_assert (error == NULL);
      if (pass > 0)
        {
          g_assert (raw.pixels != NULL && raw.channels >= 1 && raw.channels <= 4);
          g_assert (raw.width > 0 && raw.height > 0 && (guint64) raw.width * raw.height <= budget);
          volatile guint8 sink = raw.pixels[(gsize) raw.width * raw.height * raw.channels - 1];
          (void) sink;
          bt_raw_orient (&raw);
        }
      bt_raw_clear (&raw);
    }
  bt_image_set_pixel_budget (budget);
  BtImage *img = bt_image_decode (data, size, 3, 0, 0, NULL, NULL, NULL);
  bt_image_free (img);
  return 0;
}
