/* bt-export-actions.c: the "Export Model" menu's work — choosers, async export, the note that
 * tells a person how to use the ONNX file or run the PyTorch script. */
#include "config.h"

#include <string.h>
#include <glib/gi18n.h>

#include "bt-export-actions.h"
#include "bt-dialogs.h"
#include "engine/bt-engine.h"
#include "training/bt-export-onnx.h"
#include "training/bt-export-pytorch.h"
#include "training/bt-export-tflite.h"
#include "training/bt-export-snippets.h"

/* ---- ONNX ---- */

typedef struct
{
  char    *model_path;
  char    *out_path;
  gboolean tflite;    /* TensorFlow Lite instead of ONNX */
  char   **calibration; /* TensorFlow Lite int8: the calibration images, else NULL */
} OnnxJob;

static void
onnx_job_free (OnnxJob *job)
{
  g_free (job->model_path);
  g_free (job->out_path);
  g_strfreev (job->calibration);
  g_free (job);
}

/* What an export finishes with: the note about the file and the page's snippets. */
typedef struct
{
  char  *note;
  GStrv  snippets;    /* BT_N_SNIPPETS */
} ExportResult;

static void
export_result_free (ExportResult *r)
{
  g_free (r->note);
  g_strfreev (r->snippets);
  g_free (r);
}

/* The snippets with the file names of this export: name.onnx and name.tflite beside each other. */
static GStrv
model_snippets (const BtModel *model, const char *out_path)
{
  g_autofree char *base = g_path_get_basename (out_path);
  char *dot = strrchr (base, '.');
  if (dot != NULL && dot != base)
    *dot = '\0';
  g_autofree char *onnx = g_strconcat (base, ".onnx", NULL);
  g_autofree char *tflite = g_strconcat (base, ".tflite", NULL);
  BtSnippetPlaces places = { .onnx_file = onnx, .tflite_file = tflite };
  GStrv snippets = g_new0 (char *, BT_N_SNIPPETS + 1);
  for (int k = 0; k < BT_N_SNIPPETS; k++)
    snippets[k] = bt_export_snippet (model, k, &places);
  return snippets;
}

static void
onnx_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  OnnxJob *job = task_data;
  GError *error = NULL;
  g_autoptr(BtModel) model = NULL;
  ExportResult *r;

  if (job->calibration != NULL
      ? !bt_export_tflite_int8 (job->model_path, NULL, (const char * const *) job->calibration, job->out_path,
                                cancellable, &error)
      : job->tflite ? !bt_export_tflite (job->model_path, NULL, job->out_path, &error)
                    : !bt_export_onnx (job->model_path, NULL, BT_ONNX_FORM_FAST, job->out_path, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  /* The note describes the model that was exported: read it back here, not on the GTK thread. */
  model = bt_model_load (job->model_path, &error);
  if (model == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  r = g_new0 (ExportResult, 1);
  if (job->calibration != NULL)
    {
      /* the snippets feed and read floats: an int8 file gets the note alone */
      g_autofree char *desc = bt_export_tflite_describe (model);
      r->note = g_strconcat (_("Full-integer (int8) file: the input “image” and the outputs are "
                               "int8. Quantize the preprocessed input as q = x / scale + zero "
                               "point and read a probability as (q − zero point) × scale, with "
                               "the scale and zero point of each tensor in the file. Otherwise "
                               "as the float file:\n\n"), desc, NULL);
    }
  else
    {
      r->note = job->tflite ? bt_export_tflite_describe (model) : bt_export_onnx_describe (model);
      r->snippets = model_snippets (model, job->out_path);
    }
  g_task_return_pointer (task, r, (GDestroyNotify) export_result_free);
}

static void
model_export_async (const char *model_path, const char *out_path, gboolean tflite, const char * const *calibration,
                    GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = NULL;
  OnnxJob *job;

  g_return_if_fail (model_path != NULL);
  g_return_if_fail (out_path != NULL);

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, model_export_async);
  job = g_new0 (OnnxJob, 1);
  job->model_path = g_strdup (model_path);
  job->out_path = g_strdup (out_path);
  job->tflite = tflite;
  job->calibration = g_strdupv ((char **) calibration);
  g_task_set_task_data (task, job, (GDestroyNotify) onnx_job_free);
  g_task_run_in_thread (task, onnx_thread);
}

void
bt_export_actions_onnx_async (const char *model_path, const char *out_path, GCancellable *cancellable,
                              GAsyncReadyCallback callback, gpointer user_data)
{
  model_export_async (model_path, out_path, FALSE, NULL, cancellable, callback, user_data);
}

void
bt_export_actions_tflite_async (const char *model_path, const char *out_path, GCancellable *cancellable,
                                GAsyncReadyCallback callback, gpointer user_data)
{
  model_export_async (model_path, out_path, TRUE, NULL, cancellable, callback, user_data);
}

void
bt_export_actions_tflite_int8_async (const char *model_path, const char * const *calibration, const char *out_path,
                                     GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (calibration != NULL);
  model_export_async (model_path, out_path, TRUE, calibration, cancellable, callback, user_data);
}

char *
bt_export_actions_onnx_finish_full (GAsyncResult *result, GStrv *snippets, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  ExportResult *r = g_task_propagate_pointer (G_TASK (result), error);
  if (r == NULL)
    return NULL;
  char *note = g_steal_pointer (&r->note);
  if (snippets != NULL)
    *snippets = g_steal_pointer (&r->snippets);
  export_result_free (r);
  return note;
}

char *
bt_export_actions_onnx_finish (GAsyncResult *result, GError **error)
{
  return bt_export_actions_onnx_finish_full (result, NULL, error);
}

static GtkWindow *
window_of (GtkWidget *widget)
{
  GtkRoot *root = gtk_widget_get_root (widget);

  return GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL;
}

static void
onnx_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GtkWidget) widget = user_data;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) snippets = NULL;
  g_autofree char *note = bt_export_actions_onnx_finish_full (result, &snippets, &error);

  if (note == NULL)
    {
      bt_dialogs_show_error (window_of (widget), _("The model could not be exported"), error);
      return;
    }
  gboolean tflite = GPOINTER_TO_INT (g_object_get_data (G_OBJECT (widget), "bt-export-tflite"));
  bt_export_actions_show_export (window_of (widget),
                                 tflite ? _("TensorFlow Lite Model Exported") : _("ONNX Model Exported"), note,
                                 (const char * const *) snippets);
}

typedef struct
{
  GtkWidget *widget;
  char      *model_path;
  gboolean   tflite;
  char     **calibration;
} OnnxChoice;

static void
onnx_choice_free (OnnxChoice *c)
{
  g_object_unref (c->widget);
  g_free (c->model_path);
  g_strfreev (c->calibration);
  g_free (c);
}

static void
onnx_chosen_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  OnnxChoice *c = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GFile) file = bt_dialogs_save_file_finish (result, &error);
  g_autofree char *path = file ? g_file_get_path (file) : NULL;

  if (file != NULL && path == NULL)
    g_set_error_literal (&error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                         _("Choose a file on this computer."));
  if (path == NULL)
    bt_dialogs_show_error (window_of (c->widget), _("The model could not be exported"), error);
  else
    {
      g_object_set_data (G_OBJECT (c->widget), "bt-export-tflite", GINT_TO_POINTER (c->tflite));
      model_export_async (c->model_path, path, c->tflite, (const char * const *) c->calibration, NULL, onnx_done_cb,
                          g_object_ref (c->widget));
    }
  onnx_choice_free (c);
}

static void
choose_model_export (GtkWidget *widget, const char *model_path, gboolean tflite, char **calibration)
{
  OnnxChoice *c;
  g_autofree char *base = NULL;
  g_autofree char *name = NULL;
  char *dot;

  g_return_if_fail (GTK_IS_WIDGET (widget));
  g_return_if_fail (model_path != NULL);

  base = g_path_get_basename (model_path);
  dot = strrchr (base, '.');
  if (dot != NULL && dot != base)
    *dot = '\0';
  name = g_strconcat (base, calibration != NULL ? "-int8.tflite" : tflite ? ".tflite" : ".onnx", NULL);
  c = g_new0 (OnnxChoice, 1);
  c->widget = g_object_ref (widget);
  c->model_path = g_strdup (model_path);
  c->tflite = tflite;
  c->calibration = calibration;
  bt_dialogs_save_file_async (window_of (widget), tflite ? _("Export TensorFlow Lite Model") : _("Export ONNX Model"),
                              name, NULL, onnx_chosen_cb, c);
}

void
bt_export_actions_choose_onnx (GtkWidget *widget, const char *model_path)
{
  choose_model_export (widget, model_path, FALSE, NULL);
}

void
bt_export_actions_choose_tflite (GtkWidget *widget, const char *model_path)
{
  choose_model_export (widget, model_path, TRUE, NULL);
}

void
bt_export_actions_choose_tflite_int8 (GtkWidget *widget, const char *model_path, BtProject *project)
{
  g_return_if_fail (BT_IS_PROJECT (project));
  /* the sample is a list of paths taken here; the images are decoded in the export's worker */
  choose_model_export (widget, model_path, TRUE,
                       bt_export_tflite_calibration_paths (project, BT_EXPORT_TFLITE_CALIBRATION_IMAGES));
}

/* ---- PyTorch ---- */

/* A transfer project's export first runs the backbone over the images the embedding cache lacks;
 * that can take minutes, so a small window shows how far it is and can cancel it. */
typedef struct
{
  char         *out_dir;
  GtkWindow    *parent;          /* owned; NULL: no progress window */
  GtkWindow    *progress_window; /* owned while shown */
  GtkProgressBar *bar;
  GtkLabel     *label;
  GCancellable *cancellable;
} PytorchJob;

static void
pytorch_job_free (PytorchJob *job)
{
  if (job->progress_window != NULL)
    gtk_window_destroy (job->progress_window);
  g_clear_object (&job->progress_window);
  g_clear_object (&job->parent);
  g_clear_object (&job->cancellable);
  g_free (job->out_dir);
  g_free (job);
}

static void
pytorch_progress_window (PytorchJob *job)
{
  GtkWidget *window, *box, *title, *bar, *label, *button;

  window = gtk_window_new ();
  gtk_window_set_title (GTK_WINDOW (window), _("Exporting the Training Script"));
  gtk_window_set_modal (GTK_WINDOW (window), TRUE);
  gtk_window_set_deletable (GTK_WINDOW (window), FALSE);
  gtk_window_set_transient_for (GTK_WINDOW (window), job->parent);
  gtk_window_set_default_size (GTK_WINDOW (window), 420, -1);

  box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 12);
  gtk_widget_set_margin_start (box, 18);
  gtk_widget_set_margin_end (box, 18);
  gtk_widget_set_margin_top (box, 18);
  gtk_widget_set_margin_bottom (box, 18);
  gtk_window_set_child (GTK_WINDOW (window), box);

  title = gtk_label_new (_("Computing the backbone’s embeddings of the images"));
  gtk_label_set_xalign (GTK_LABEL (title), 0);
  gtk_label_set_wrap (GTK_LABEL (title), TRUE);
  gtk_widget_add_css_class (title, "heading");
  gtk_box_append (GTK_BOX (box), title);

  bar = gtk_progress_bar_new ();
  gtk_accessible_update_property (GTK_ACCESSIBLE (bar), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _("Embeddings computed"), -1);
  gtk_box_append (GTK_BOX (box), bar);
  label = gtk_label_new (NULL);
  gtk_label_set_xalign (GTK_LABEL (label), 0);
  gtk_widget_add_css_class (label, "dim-label");
  gtk_box_append (GTK_BOX (box), label);

  button = gtk_button_new_with_mnemonic (_("_Cancel"));
  gtk_widget_set_halign (button, GTK_ALIGN_END);
  g_signal_connect_swapped (button, "clicked", G_CALLBACK (g_cancellable_cancel), job->cancellable);
  gtk_box_append (GTK_BOX (box), button);

  job->progress_window = g_object_ref (GTK_WINDOW (window));
  job->bar = GTK_PROGRESS_BAR (bar);
  job->label = GTK_LABEL (label);
  gtk_window_present (GTK_WINDOW (window));
}

static void
pytorch_progress_cb (guint done, guint total, gpointer user_data)
{
  PytorchJob *job = user_data;
  g_autofree char *text = NULL;

  if (job->parent == NULL || total == 0)
    return;
  if (job->progress_window == NULL)
    pytorch_progress_window (job);
  gtk_progress_bar_set_fraction (job->bar, (double) done / total);
  /* TRANSLATORS: images (and their mirrored or cropped variants) run through the backbone so far */
  text = g_strdup_printf (_("%u of %u"), done, total);
  gtk_label_set_text (job->label, text);
}

static void
pytorch_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GTask *task = user_data;
  GError *error = NULL;
  PytorchJob *job = g_task_get_task_data (task);
  const char *out_dir = job->out_dir;

  if (job->progress_window != NULL)
    {
      gtk_window_destroy (job->progress_window);
      g_clear_object (&job->progress_window);
    }
  if (!bt_export_pytorch_finish (result, &error))
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task,
                           g_strdup_printf (_("Bottega wrote train.py, config.json, labels.csv, "
                                              "initial.bottega-model and README.md (and, for a transfer "
                                              "model, the images’ embeddings in embeddings/) into\n%s\n\n"
                                              "To train on one computer (on its GPU when it has one):\n"
                                              "  cd \"%s\"\n"
                                              "  python3 train.py\n\n"
                                              "To train with N processes or GPUs, or across machines:\n"
                                              "  torchrun --nproc_per_node=N train.py\n\n"
                                              "PyTorch must be installed. When training ends the script "
                                              "writes trained.bottega-model: open it in the Test page."),
                                            out_dir, out_dir),
                           g_free);
  g_object_unref (task);
}

/* parent: where the progress window goes, or NULL for none. */
static void
pytorch_export_start (GtkWindow *parent, BtProject *project, const char *out_dir, GCancellable *cancellable,
                      GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task;
  PytorchJob *job;

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, bt_export_actions_pytorch_async);
  job = g_new0 (PytorchJob, 1);
  job->out_dir = g_strdup (out_dir);
  job->parent = parent ? g_object_ref (parent) : NULL;
  job->cancellable = cancellable ? g_object_ref (cancellable) : g_cancellable_new ();
  g_task_set_task_data (task, job, (GDestroyNotify) pytorch_job_free);
  bt_export_pytorch_async_full (project, out_dir, pytorch_progress_cb, job, job->cancellable, pytorch_done_cb, task);
}

void
bt_export_actions_pytorch_async (BtProject *project, const char *out_dir, GCancellable *cancellable,
                                 GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (BT_IS_PROJECT (project));
  g_return_if_fail (out_dir != NULL);

  pytorch_export_start (NULL, project, out_dir, cancellable, callback, user_data);
}

void
bt_export_actions_pytorch_in_window_async (GtkWindow *parent, BtProject *project, const char *out_dir,
                                           GCancellable *cancellable, GAsyncReadyCallback callback,
                                           gpointer user_data)
{
  g_return_if_fail (GTK_IS_WINDOW (parent));
  g_return_if_fail (BT_IS_PROJECT (project));
  g_return_if_fail (out_dir != NULL);

  pytorch_export_start (parent, project, out_dir, cancellable, callback, user_data);
}

char *
bt_export_actions_pytorch_finish (GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
pytorch_written_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GtkWidget) widget = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *message = bt_export_actions_pytorch_finish (result, &error);

  if (message == NULL)
    {
      /* the person pressed Cancel: nothing to tell */
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        bt_dialogs_show_error (window_of (widget), _("The training script could not be exported"), error);
      return;
    }
  bt_export_actions_show_note (window_of (widget), _("PyTorch Training Script Exported"), message);
}

typedef struct
{
  GtkWidget *widget;
  BtProject *project;
} PytorchChoice;

static void
pytorch_chosen_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  PytorchChoice *c = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GFile) dir = bt_dialogs_choose_folder_finish (result, &error);
  g_autofree char *path = dir ? g_file_get_path (dir) : NULL;

  if (dir != NULL && path == NULL)
    g_set_error_literal (&error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                         _("Choose a folder on this computer."));
  if (path == NULL)
    bt_dialogs_show_error (window_of (c->widget), _("The training script could not be exported"), error);
  else
    pytorch_export_start (window_of (c->widget), c->project, path, NULL, pytorch_written_cb,
                          g_object_ref (c->widget));
  g_object_unref (c->widget);
  g_object_unref (c->project);
  g_free (c);
}

void
bt_export_actions_choose_pytorch (GtkWidget *widget, BtProject *project)
{
  PytorchChoice *c;

  g_return_if_fail (GTK_IS_WIDGET (widget));
  g_return_if_fail (BT_IS_PROJECT (project));

  c = g_new0 (PytorchChoice, 1);
  c->widget = g_object_ref (widget);
  c->project = g_object_ref (project);
  bt_dialogs_choose_folder_async (window_of (widget), _("Export PyTorch Training Script"), _("_Export"),
                                  NULL, pytorch_chosen_cb, c);
}

/* ---- The note ---- */

/* A read-only monospace text view: the person can select and copy the text. */
static GtkWidget *
code_view_new (const char *text, const char *label)
{
  GtkWidget *view = gtk_text_view_new ();

  gtk_text_view_set_editable (GTK_TEXT_VIEW (view), FALSE);
  gtk_text_view_set_monospace (GTK_TEXT_VIEW (view), TRUE);
  gtk_text_view_set_wrap_mode (GTK_TEXT_VIEW (view), GTK_WRAP_WORD_CHAR);
  gtk_text_view_set_left_margin (GTK_TEXT_VIEW (view), 6);
  gtk_text_view_set_top_margin (GTK_TEXT_VIEW (view), 6);
  gtk_text_view_set_bottom_margin (GTK_TEXT_VIEW (view), 6);
  gtk_text_buffer_set_text (gtk_text_view_get_buffer (GTK_TEXT_VIEW (view)), text, -1);
  gtk_accessible_update_property (GTK_ACCESSIBLE (view), GTK_ACCESSIBLE_PROPERTY_LABEL, label, -1);
  return view;
}

static GtkWidget *
scrolled_new (GtkWidget *child)
{
  GtkWidget *scrolled = gtk_scrolled_window_new ();

  gtk_widget_set_vexpand (scrolled, TRUE);
  gtk_scrolled_window_set_child (GTK_SCROLLED_WINDOW (scrolled), child);
  return scrolled;
}

/* A modal window: the heading, content, then Close. */
static GtkWindow *
note_window_new (GtkWindow *parent, const char *heading, GtkWidget *content)
{
  GtkWidget *window, *box, *title, *button;

  window = gtk_window_new ();
  gtk_window_set_title (GTK_WINDOW (window), heading);
  bt_dialogs_close_on_escape (GTK_WINDOW (window));
  gtk_window_set_modal (GTK_WINDOW (window), TRUE);
  gtk_window_set_destroy_with_parent (GTK_WINDOW (window), TRUE);
  if (parent != NULL)
    gtk_window_set_transient_for (GTK_WINDOW (window), parent);
  gtk_window_set_default_size (GTK_WINDOW (window), 680, 520);

  box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 12);
  gtk_widget_set_margin_start (box, 18);
  gtk_widget_set_margin_end (box, 18);
  gtk_widget_set_margin_top (box, 18);
  gtk_widget_set_margin_bottom (box, 18);
  gtk_window_set_child (GTK_WINDOW (window), box);

  title = gtk_label_new (heading);
  gtk_label_set_xalign (GTK_LABEL (title), 0);
  gtk_widget_add_css_class (title, "title-2");
  gtk_box_append (GTK_BOX (box), title);
  gtk_box_append (GTK_BOX (box), content);

  button = gtk_button_new_with_mnemonic (_("_Close"));
  gtk_widget_set_halign (button, GTK_ALIGN_END);
  gtk_widget_add_css_class (button, "suggested-action");
  g_signal_connect_swapped (button, "clicked", G_CALLBACK (gtk_window_destroy), window);
  gtk_box_append (GTK_BOX (box), button);
  gtk_window_set_default_widget (GTK_WINDOW (window), button);

  gtk_window_present (GTK_WINDOW (window));
  return GTK_WINDOW (window);
}

GtkWindow *
bt_export_actions_show_note (GtkWindow *parent, const char *heading, const char *text)
{
  g_return_val_if_fail (parent == NULL || GTK_IS_WINDOW (parent), NULL);
  g_return_val_if_fail (heading != NULL && text != NULL, NULL);

  return note_window_new (parent, heading, scrolled_new (code_view_new (text, heading)));
}

static void
copy_clicked_cb (GtkButton *button, gpointer user_data)
{
  gdk_clipboard_set_text (gtk_widget_get_clipboard (GTK_WIDGET (button)),
                          g_object_get_data (G_OBJECT (button), "bt-snippet"));
  gtk_button_set_label (button, _("Copied"));
}

static const char *
snippet_title (int kind)
{
  switch (kind)
    {
    case BT_SNIPPET_PYTHON: return _("Python (ONNX Runtime)");
    case BT_SNIPPET_WEB:    return _("JavaScript in a web page (onnxruntime-web)");
    case BT_SNIPPET_KOTLIN: return _("Android, Kotlin (TensorFlow Lite Interpreter, the float .tflite file)");
    case BT_SNIPPET_C:      return _("C (ONNX Runtime’s C API)");
    case BT_SNIPPET_CURL:   return _("Any language, through the local server (curl)");
    default:                g_return_val_if_reached (NULL);
    }
}

/* "Use It in Your App": each snippet under its title, with a Copy button. */
static GtkWidget *
snippets_page_new (const char * const *snippets)
{
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 6);
  GtkWidget *intro = gtk_label_new (_("Each snippet applies this model’s own preprocessing (size, colours, "
                                      "mean and standard deviation) and gives the most likely class. Python, "
                                      "the web page and C read the ONNX file, Android the TensorFlow Lite file; "
                                      "curl sends the photo to “bottega-cli serve”, which does everything."));

  gtk_label_set_wrap (GTK_LABEL (intro), TRUE);
  gtk_label_set_xalign (GTK_LABEL (intro), 0);
  gtk_box_append (GTK_BOX (box), intro);
  for (int k = 0; k < BT_N_SNIPPETS; k++)
    {
      GtkWidget *row = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 12);
      GtkWidget *title = gtk_label_new (snippet_title (k));
      GtkWidget *copy = gtk_button_new_with_label (_("Copy"));
      GtkWidget *frame = gtk_frame_new (NULL);

      gtk_widget_set_margin_top (row, 12);
      gtk_label_set_xalign (GTK_LABEL (title), 0);
      gtk_label_set_wrap (GTK_LABEL (title), TRUE);
      gtk_widget_set_hexpand (title, TRUE);
      gtk_widget_add_css_class (title, "heading");
      gtk_box_append (GTK_BOX (row), title);
      g_object_set_data_full (G_OBJECT (copy), "bt-snippet", g_strdup (snippets[k]), g_free);
      gtk_accessible_update_property (GTK_ACCESSIBLE (copy), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                      snippet_title (k), -1);
      g_signal_connect (copy, "clicked", G_CALLBACK (copy_clicked_cb), NULL);
      gtk_box_append (GTK_BOX (row), copy);
      gtk_box_append (GTK_BOX (box), row);
      gtk_frame_set_child (GTK_FRAME (frame), code_view_new (snippets[k], snippet_title (k)));
      gtk_box_append (GTK_BOX (box), frame);
    }
  return scrolled_new (box);
}

GtkWindow *
bt_export_actions_show_export (GtkWindow *parent, const char *heading, const char *note,
                               const char * const *snippets)
{
  GtkWidget *content, *stack, *switcher;

  g_return_val_if_fail (parent == NULL || GTK_IS_WINDOW (parent), NULL);
  g_return_val_if_fail (heading != NULL && note != NULL, NULL);
  if (snippets == NULL || g_strv_length ((char **) snippets) != BT_N_SNIPPETS)
    return bt_export_actions_show_note (parent, heading, note);

  content = gtk_box_new (GTK_ORIENTATION_VERTICAL, 12);
  stack = gtk_stack_new ();
  gtk_widget_set_vexpand (stack, TRUE);
  gtk_stack_add_titled (GTK_STACK (stack), scrolled_new (code_view_new (note, heading)), "file", _("The File"));
  gtk_stack_add_titled (GTK_STACK (stack), snippets_page_new (snippets), "app", _("Use It in Your App"));
  switcher = gtk_stack_switcher_new ();
  gtk_stack_switcher_set_stack (GTK_STACK_SWITCHER (switcher), GTK_STACK (stack));
  gtk_widget_set_halign (switcher, GTK_ALIGN_CENTER);
  gtk_box_append (GTK_BOX (content), switcher);
  gtk_box_append (GTK_BOX (content), stack);
  return note_window_new (parent, heading, content);
}
