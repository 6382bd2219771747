/* bt-cli-serve.h: `bottega-cli serve`, a local HTTP prediction server (bt-cli-serve.c). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

int bt_cli_serve (int argc, char **argv);

G_END_DECLS
