/* fuzz-state-seeds.c: writes valid checkpoint files for fuzz-state's network into argv[1]
 * (run by fuzz/run-fuzzer.sh before fuzz-state): a fresh one and one with counters. */
#include <glib/gstdio.h>

#include "engine/bt-engine.h"
#include "fuzz-state-net.h"

int
main (int argc, char **argv)
{
  if (argc != 2)
    {
      g_printerr ("usage: %s DIR\n", argv[0]);
      return 2;
    }
  g_mkdir_with_parents (argv[1], 0755);
  g_autoptr(BtNet) net = fuzz_state_net ();
  g_autoptr(BtOptimizer) opt = fuzz_state_optimizer (net);
  g_autoptr(GError) error = NULL;
  BtTrainState st = { 0 };
  bt_rng_seed (&st.rng, 3);
  g_autofree char *fresh = g_build_filename (argv[1], "fresh.state", NULL);
  if (!bt_train_state_save (fresh, net, opt, &st, &error))
    g_error ("%s", error->message);
  st.epoch = 4;
  st.best_epoch = 3;
  st.best_score = 0.8125;
  st.opt_t = 40;
  st.extra = g_hash_table_new (g_str_hash, g_str_equal);
  g_hash_table_insert (st.extra, "plateau-bad-epochs", "2");
  g_hash_table_insert (st.extra, "lr-scale", "0.5");
  g_autofree char *later = g_build_filename (argv[1], "epoch-4.state", NULL);
  if (!bt_train_state_save (later, net, opt, &st, &error))
    g_error ("%s", error->message);
  g_hash_table_unref (st.extra);
  return 0;
}
