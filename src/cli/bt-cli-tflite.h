/* bt-cli-tflite.h: `bottega-cli predict FILE.tflite IMAGE… --labels LABELS.txt [--top K]`. */
#pragma once

/* argv[0] is the command name ("predict"); returns the process exit status
 * (0 all images classified, 1 the model, labels or some image failed, 2 usage error). */
int bt_cli_predict_tflite (int argc, char **argv);
