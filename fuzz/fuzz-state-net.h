/* fuzz-state-net.h: the one network and optimizer fuzz-state loads checkpoints into, shared
 * with its seed generator so the seeds match it. */
#pragma once

#include "engine/bt-engine.h"

static inline BtNet *
fuzz_state_net (void)
{
  BtNet *net = bt_net_new_transfer (8, 4, 2, -1, 7, NULL);
  g_assert (net != NULL);
  return net;
}

static inline BtOptimizer *
fuzz_state_optimizer (BtNet *net)
{
  BtOptimizerConfig cfg;
  bt_optimizer_config_init (&cfg, BT_OPTIMIZER_ADAMW);
  cfg.ema_decay = 0.9f;
  return bt_optimizer_new (net, &cfg);
}
