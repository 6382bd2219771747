/* bt-cli-private.h: bottega-cli's commands and the helpers they share (bt-cli-util.c: messages,
 * exit statuses, number formats). Every command prints errors with bt_cli_fail/bt_cli_usage. */
#pragma once

#include <stdio.h>

#include "engine/bt-onnx.h"   /* bt_json_append_string: JSON strings */
#include "training/bt-training.h"
#include "training/bt-tflite-classifier.h"

G_BEGIN_DECLS

/* Exit statuses, as GNU tools use them. */
#define BT_CLI_EXIT_OK      0
#define BT_CLI_EXIT_FAILURE 1
#define BT_CLI_EXIT_USAGE   2
#define BT_CLI_EXIT_UNREADABLE 3  /* train finished without some images that could not be read */
#define BT_CLI_EXIT_STOPPED 130

/* "bottega-cli: message" on stderr; returns BT_CLI_EXIT_FAILURE. */
int  bt_cli_fail  (const char *format, ...) G_GNUC_PRINTF (1, 2);
/* "bottega-cli: CMD: message" + "Try 'bottega-cli CMD --help'."; returns BT_CLI_EXIT_USAGE. */
int  bt_cli_usage (const char *command, const char *format, ...) G_GNUC_PRINTF (2, 3);

/* Parses a command's options (the entries' callbacks get user_data), with parameter_string and
 * summary for --help; FALSE after the usage message, and the command returns BT_CLI_EXIT_USAGE. */
gboolean bt_cli_parse_options (const char *command, const char *parameter_string, const char *summary,
                               const GOptionEntry *entries, gpointer user_data, int *argc, char ***argv);

/* 59998 → "59,998" */
char *bt_cli_format_count (guint64 n);
/* 72 → "1:12", 3723 → "1:02:03" */
char *bt_cli_format_duration (double seconds);
/* TRUE when DIR holds a project.ini */
gboolean bt_cli_is_project_dir (const char *path);
/* --backbone (given), else the project's choice, becomes the backbone file training uses; a new
 * transfer run (or search) needs one on this computer: -1 when the work can go on, else the exit
 * status after saying why and the way out. */
int   bt_cli_choose_backbone (BtProject *project, const char *given, gboolean resuming);
/* The newest *.bottega-model in DIR/models, or NULL. */
char *bt_cli_newest_model (const char *project_dir);
/* One image's answer as `predict --json` and `serve` give it: {"image", "predictions" (the TOP
 * most likely classes, most likely first; TOP <= 0: all), "unknown", "unknown_score",
 * "unknown_parts" ({"energy", "distance"}: only for a model whose score combines them, when both
 * are given, not NAN), "threshold" (only when the most likely class has one saved),
 * "below_threshold"}. */
void  bt_cli_prediction_json (GString *out, const BtModel *model, const char *name, const float *probs,
                              double unknown_score, double energy, double distance, int top);
/* The same for a .tflite classifier (its "thresholds" entry decides; class_names: the names
 * shown, e.g. --labels'), so a file exported from a model answers with the same keys. */
void  bt_cli_tflite_prediction_json (GString *out, const BtTfliteClassifier *c, const char * const *class_names,
                                     const char *name, const float *probs, double unknown_score, int top);

int bt_cli_new      (int argc, char **argv);
int bt_cli_add      (int argc, char **argv);
int bt_cli_train    (int argc, char **argv);
int bt_cli_evaluate (int argc, char **argv);
int bt_cli_predict  (int argc, char **argv);
int bt_cli_info     (int argc, char **argv);
/* export MODEL --onnx OUT.onnx [--backbone FILE.tflite] | DIR --pytorch OUT_DIR | DIR --dataset OUT_DIR */
int bt_cli_export   (int argc, char **argv);
/* tune DIR [--strategy grid|random|adaptive] [--trials N] [--minutes M] [--epochs N] [--seed N] [--resume]
 *      [--backbone NAME|FILE] (a transfer project: heads on the cached embeddings) */
int bt_cli_tune     (int argc, char **argv);
/* cv DIR [--k N] [--epochs N] [--backbone NAME|FILE] */
int bt_cli_cv       (int argc, char **argv);
int bt_cli_backbones (int argc, char **argv);
int bt_cli_compare_backbones (int argc, char **argv);
int bt_cli_doctor   (int argc, char **argv);
/* explain MODEL IMAGE [--class NAME] [--method auto|gradcam|occlusion] [--out PNG] [--json] */
int bt_cli_explain  (int argc, char **argv);

#include "cli/bt-cli-tflite.h"

G_END_DECLS
