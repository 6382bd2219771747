/* bt-cli-tune.h: `bottega-cli tune DIR [--strategy grid|random|adaptive] [--trials N]
 * [--minutes M] [--epochs N] [--seed N] [--resume]` and `bottega-cli cv DIR [--k N] [--epochs N]`. */
#pragma once

/* argv[0] is the command name; return the exit status (0 done, 1 failed, 2 usage error). */
int bt_cli_tune (int argc, char **argv);
int bt_cli_cv   (int argc, char **argv);
