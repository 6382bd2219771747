/* bt-export-test-util.h: helpers shared by the export tests: temp dirs, raw float files and
 * running the Python checks (the Python scripts in tests/export) with /usr/bin/python3, skipping cleanly. */
#pragma once

#include <glib.h>

#include "engine/bt-engine.h"
#include "engine/bt-tflite.h"

#include "bt-test-photos.h"  /* bt_test_shared_file */
#include "bt-test-fs.h"       /* bt_test_rm_rf */

G_BEGIN_DECLS

char    *bt_test_mkdtemp (void);
void     bt_test_write_floats (const char *dir, const char *name, const float *v, gsize n);
/* Runs /usr/bin/python3 tests/export/SCRIPT args...; TRUE when it passed. When it exits 77 or
 * python3 is absent the test is marked skipped (with the script's message) and FALSE returned;
 * any other failure fails the test with the script's output. */
gboolean bt_test_run_python (const char *script, const char * const *args);
/* Runs the built bottega-cli ARGS… in the C locale (LANGUAGE=C); its exit status (-1 when it
 * did not exit). out and err (may be NULL) get its standard output and error. */
int      bt_test_run_cli (const char * const *args, char **out, char **err);
/* `bottega-cli predict MODEL IMAGES… --json` (n images), its output written to DIR/predict.json;
 * returns that path. */
char    *bt_test_predict_json (const char *dir, const char *model, const char * const *images, guint n);
/* Saves a Small CNN (random weights) for 24 × 24 RGB, classes circle, square, triangle, star,
 * centre-crop with ImageNet's mean and std, as DIR/m.bottega-model; returns that path. */
char    *bt_test_save_shapes_model (const char *dir);
/* Writes n random crops (55–90 % of each side, some mirrored, at most 160 px) of the RGB photo
 * src as 24-bit BMP files dir/PREFIX-NN.bmp; the same seed gives the same crops. */
void     bt_test_write_crops (const char *src, const char *dir, const char *prefix, int n, guint64 seed);

/* BT_TEST_N_PHOTOS preprocessed photos of the shared folder (w × h × c, squash) as HWC uint8,
 * one after the other; random pixels when the folder is absent (said once in the test log). */
#define BT_TEST_N_PHOTOS 5
guint8  *bt_test_load_pixels (int w, int h, int c);
/* Biases, batch-norm γ, β and running statistics moved away from their start (seeded), so an
 * export that drops any of them is caught. */
void     bt_test_perturb_net (BtNet *net, guint64 seed);
/* "Fine-tuned" weights for a backbone (a BtTflite): the weighted operators of its last two blocks
 * with their weights scaled by 1 ± 0.3 (seeded), as BtBackboneWeights (g_array_unref). */
GArray  *bt_test_nudged_top_blocks (BtTflite *orig, guint64 seed);

G_END_DECLS
