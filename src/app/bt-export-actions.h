/* bt-export-actions.h: the window's "Export Model" menu — ONNX file with a usage note, and the
 * PyTorch/torchrun training folder — with the choosers kept thin over path-taking async calls. */
#pragma once

#include <gtk/gtk.h>

#include "dataset/bt-dataset.h"

G_BEGIN_DECLS

/* Asks where to save (through bt-dialogs), exports model_path there and shows the usage note;
 * errors in a dialog. widget: anything inside the window. */
void       bt_export_actions_choose_onnx    (GtkWidget *widget, const char *model_path);
/* The same for TensorFlow Lite (.tflite, float32). */
void       bt_export_actions_choose_tflite  (GtkWidget *widget, const char *model_path);
/* The same, full-integer int8, its ranges from up to 200 of project's training images. */
void       bt_export_actions_choose_tflite_int8 (GtkWidget *widget, const char *model_path, BtProject *project);
/* Asks for a folder, writes the PyTorch training script folder for project there and says how
 * to run it. */
void       bt_export_actions_choose_pytorch (GtkWidget *widget, BtProject *project);

/* Writes out_path from model_path in a worker; finishes with the translated usage note of the
 * file (bt_export_onnx_describe), or NULL and an error. */
void       bt_export_actions_onnx_async     (const char *model_path, const char *out_path,
                                             GCancellable *cancellable, GAsyncReadyCallback callback,
                                             gpointer user_data);
/* The same for TensorFlow Lite; finish with bt_export_actions_onnx_finish. */
void       bt_export_actions_tflite_async   (const char *model_path, const char *out_path,
                                             GCancellable *cancellable, GAsyncReadyCallback callback,
                                             gpointer user_data);
/* The same, int8 with the images calibration (decoded in the worker). */
void       bt_export_actions_tflite_int8_async (const char *model_path, const char * const *calibration,
                                                const char *out_path, GCancellable *cancellable,
                                                GAsyncReadyCallback callback, gpointer user_data);
char      *bt_export_actions_onnx_finish    (GAsyncResult *result, GError **error);
/* The same, and the "Use It in Your App" snippets for this file (bt_export_snippet with the
 * exported file's name, BT_N_SNIPPETS strings, g_strfreev) in *snippets (may be NULL). */
char      *bt_export_actions_onnx_finish_full (GAsyncResult *result, GStrv *snippets, GError **error);

/* Writes the training folder out_dir (files written in a worker); finishes with the translated
 * message saying what was written and how to run it, or NULL and an error. */
void       bt_export_actions_pytorch_async  (BtProject *project, const char *out_dir,
                                             GCancellable *cancellable, GAsyncReadyCallback callback,
                                             gpointer user_data);
char      *bt_export_actions_pytorch_finish (GAsyncResult *result, GError **error);
/* The same, for the window: while a transfer project's embeddings are computed a modal window
 * over parent shows the progress and can cancel (then the export finishes with
 * G_IO_ERROR_CANCELLED). Finish with bt_export_actions_pytorch_finish. */
void       bt_export_actions_pytorch_in_window_async (GtkWindow *parent, BtProject *project,
                                                      const char *out_dir, GCancellable *cancellable,
                                                      GAsyncReadyCallback callback, gpointer user_data);

/* A modal window with a heading and selectable, copyable text; returned for tests. */
GtkWindow *bt_export_actions_show_note      (GtkWindow *parent, const char *heading, const char *text);
/* The export window: the note about the file on one page ("file"), and on "app" ("Use It in
 * Your App") each of the BT_N_SNIPPETS snippets under its title with a Copy button. */
GtkWindow *bt_export_actions_show_export    (GtkWindow *parent, const char *heading, const char *note,
                                             const char * const *snippets);

G_END_DECLS
