/* fuzz-state.c: libFuzzer target for the checkpoint files a resume reads
 * (runs/<run>/checkpoint-NNNN.state): weights, buffers, optimizer moments and the moving
 * average, counters and RNG. Loaded into the network of fuzz-state-seeds.c (a transfer head
 * 8 → 4 → 2 with AdamW and a moving average); a refused file must leave the network as it was. */
#include <stdint.h>
#include <string.h>

#include "engine/bt-engine.h"
#include "fuzz-files.h"
#include "fuzz-state-net.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static BtNet *net;
  static BtOptimizer *opt;
  static char *path;
  if (net == NULL)
    {
      bt_engine_set_threads (1);
      net = fuzz_state_net ();
      opt = fuzz_state_optimizer (net);
      path = g_build_filename (fuzz_scratch_dir (), "checkpoint-0001.state", NULL);
    }
  fuzz_write (fuzz_scratch_dir (), "checkpoint-0001.state", data, size);
  gsize n_buf = 0;
  float *buf = bt_net_buffers (net, &n_buf);
  g_autofree float *before = n_buf ? g_memdup2 (buf, n_buf * sizeof (float)) : NULL;
  BtTrainState st = { 0 };
  GError *error = NULL;
  if (!bt_train_state_load (path, net, opt, &st, &error))
    {
      g_assert (error != NULL);
      g_error_free (error);
      g_assert (n_buf == 0 || memcmp (before, buf, n_buf * sizeof (float)) == 0);
      return 0;
    }
  g_assert (st.epoch >= 0 && st.opt_t >= 0);
  if (st.extra != NULL)
    g_hash_table_unref (st.extra);
  /* a loaded state saves again */
  st.extra = NULL;
  if (!bt_train_state_save (path, net, opt, &st, &error))
    g_error ("a state that loaded does not save: %s", error->message);
  return 0;
}
