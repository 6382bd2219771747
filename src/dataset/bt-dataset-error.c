/* bt-dataset-error.c: the dataset layer's error domain. */
#include "dataset/bt-dataset.h"

G_DEFINE_QUARK (bt-dataset-error-quark, bt_dataset_error)
