/* bt-cli-private.h: shared helpers of bottega-cli's commands (messages, number formats). */
#pragma once

#include <stdio.h>

#include "training/bt-training.h"

G_BEGIN_DECLS

/* Exit statuses, as GNU tools use them. */
#define BT_CLI_EXIT_OK      0
#define BT_CLI_EXIT_FAILURE 1
#define BT_CLI_EXIT_USAGE   2
#define BT_CLI_EXIT_STOPPED 130

/* "bottega-cli: message" on stderr; returns BT_CLI_EXIT_FAILURE. */
int  bt_cli_fail  (const char *format, ...) G_GNUC_PRINTF (1, 2);
/* "bottega-cli: CMD: message" + "Try 'bottega-cli CMD --help'."; returns BT_CLI_EXIT_USAGE. */
int  bt_cli_usage (const char *command, const char *format, ...) G_GNUC_PRINTF (2, 3);

/* 59998 → "59,998" */
char *bt_cli_format_count (guint64 n);
/* 72 → "1:12", 3723 → "1:02:03" */
char *bt_cli_format_duration (double seconds);
/* TRUE when DIR holds a project.ini */
gboolean bt_cli_is_project_dir (const char *path);
/* The newest *.bottega-model in DIR/models, or NULL. */
char *bt_cli_newest_model (const char *project_dir);

int bt_cli_new      (int argc, char **argv);
int bt_cli_add      (int argc, char **argv);
int bt_cli_train    (int argc, char **argv);
int bt_cli_evaluate (int argc, char **argv);
int bt_cli_predict  (int argc, char **argv);
int bt_cli_info     (int argc, char **argv);
int bt_cli_backbones (int argc, char **argv);
int bt_cli_compare_backbones (int argc, char **argv);

#ifdef HAVE_CLI_TFLITE
#include "cli/bt-cli-tflite.h"
#endif

G_END_DECLS
