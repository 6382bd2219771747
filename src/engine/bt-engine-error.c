/* bt-engine-error.c: the engine's error domain. */
#include "engine/bt-engine.h"

G_DEFINE_QUARK (bt-engine-error-quark, bt_engine_error)
