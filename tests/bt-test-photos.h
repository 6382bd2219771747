/* bt-test-photos.h: the shared photos and backbones beside the checkout ($BOTTEGA_SHARED_DIR),
 * and a BMP writer for the crops the transfer tests make of them. */
#pragma once

#include <glib.h>

#include "dataset/bt-dataset.h"
#include "engine/bt-engine.h"

G_BEGIN_DECLS

/* $BOTTEGA_SHARED_DIR/SUB/FILE when that file exists, else NULL. */
char *bt_test_shared_file (const char *sub, const char *file);
/* Writes an RGB image as a 24-bit BMP (rows bottom-up, BGR); asserts on failure. */
void  bt_test_write_bmp   (const char *path, const BtImage *img);
/* n random crops (percent of each side, positions from rng) of src, squashed to width px wide, as
 * BMPs dir/printf(name_format, i) for i = 0 … n − 1 (name_format takes one unsigned). */
void  bt_test_write_scaled_crops (const BtImage *src, const char *dir, guint n, int percent, int width,
                                  const char *name_format, BtRng *rng);
/* A folder of classes: for each class k, dir/classes[k][0]/0.bmp … (per_class − 1).bmp, random
 * crops (¾ of each side, seeded) of the shared photo images/classes[k][1] at 100 px wide. FALSE,
 * with the test skipped, when a shared photo is missing. */
gboolean bt_test_make_class_crops (const char *dir, const char *const (*classes)[2], guint n_classes,
                                   guint per_class, guint64 seed);

G_END_DECLS
