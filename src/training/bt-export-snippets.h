/* bt-export-snippets.h: short code that runs an exported model in an app — Python (ONNX
 * Runtime), a web page (onnxruntime-web), Android/Kotlin (TFLite Interpreter), C (ONNX Runtime's
 * C API), curl against `bottega-cli serve` — each applying the model's own preprocessing. The
 * export window's "Use It in Your App" page shows them and the tests run the same text. */
#pragma once

#include "training/bt-training.h"

G_BEGIN_DECLS

typedef enum {
  BT_SNIPPET_PYTHON,
  BT_SNIPPET_WEB,
  BT_SNIPPET_KOTLIN,
  BT_SNIPPET_C,
  BT_SNIPPET_CURL,
  BT_N_SNIPPETS
} BtSnippetKind;

/* Where the snippet's files are: NULL members take the page's defaults ("model.onnx",
 * "model.tflite", "photo.jpg", "http://127.0.0.1:8080/", and for the web page onnxruntime-web
 * BT_SNIPPET_ORT_WEB_VERSION's ort.min.js from a CDN). */
typedef struct {
  const char *onnx_file;
  const char *tflite_file;
  const char *image_file;
  const char *server_url;    /* ends with '/' */
  const char *web_runtime;   /* the address of onnxruntime-web's ort.min.js */
} BtSnippetPlaces;

/* The onnxruntime-web the web page snippet names: the version its test runs in a browser. */
#define BT_SNIPPET_ORT_WEB_VERSION "1.30.0"

/* The snippet's code (not translated; g_free). places may be NULL. */
char *bt_export_snippet (const BtModel *model, BtSnippetKind kind, const BtSnippetPlaces *places);

G_END_DECLS
