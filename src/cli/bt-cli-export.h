/* bt-cli-export.h: `bottega-cli export MODEL --onnx OUT.onnx [--backbone FILE.tflite]`,
 * `bottega-cli export DIR --pytorch OUT_DIR` and `bottega-cli export DIR --dataset OUT_DIR`. */
#pragma once

/* argv[0] is the command name ("export"); returns the process exit status
 * (0 done, 1 the export failed, 2 usage error). */
int bt_cli_export (int argc, char **argv);
