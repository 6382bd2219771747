/* bt-engine-private.h: engine internals shared between the engine's own source files. */
#pragma once

#include "engine/bt-engine.h"

G_BEGIN_DECLS

G_END_DECLS
