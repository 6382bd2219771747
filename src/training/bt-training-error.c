/* bt-training-error.c: the training layer's error domain. */
#include "training/bt-training.h"

G_DEFINE_QUARK (bt-training-error-quark, bt_training_error)
