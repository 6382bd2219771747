/* test-export-actions.c: the window's Export Model actions on real files — an ONNX file from a
 * saved small CNN (checked by python3-onnx when present), its usage note, the PyTorch folder. */
#include "config.h"

#include <glib/gstdio.h>
#include <gtk/gtk.h>
#include <string.h>

#include "bt-export-actions.h"
#include "bt-serve-window.h"
#include "bt-test-page.h"
#include "engine/bt-engine.h"
#include "training/bt-export-snippets.h"
#include "training/bt-export-tflite.h"
#include "bt-test-screenshot.h"
#include "bt-test-fs.h"
#include "bt-test-input.h"
#include "bt-test-wait.h"

typedef struct {
  gboolean  done;
  char     *text;
  GStrv     snippets;
  GError   *error;
} Wait;

static void
onnx_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  Wait *w = data;
  w->text = bt_export_actions_onnx_finish_full (result, &w->snippets, &w->error);
  w->done = TRUE;
}

static void
pytorch_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  Wait *w = data;
  w->text = bt_export_actions_pytorch_finish (result, &w->error);
  w->done = TRUE;
}

static void
wait_done (Wait *w)
{
  BT_TEST_WAIT (w->done);
}

static char *
save_model (const char *dir)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(BtNet) net = bt_net_new_preset (BT_PRESET_SMALL_CNN, 24, 24, 3, 3, -1.0f, 5, &error);
  const char *names[] = { "circle", "square", "triangle", NULL };
  char *path = g_build_filename (dir, "shapes.bottega-model", NULL);

  g_assert_no_error (error);
  g_assert_true (bt_model_save (path, net, names, NULL, NULL, NULL, NULL, &error));
  g_assert_no_error (error);
  return path;
}

static gboolean
have_python_onnx (void)
{
  int status = -1;

  if (!g_file_test ("/usr/bin/python3", G_FILE_TEST_IS_EXECUTABLE))
    return FALSE;
  g_spawn_sync (NULL, (char *[]) { "/usr/bin/python3", "-c", "import onnx", NULL }, NULL,
                G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, NULL, NULL, &status, NULL);
  return status == 0;
}

static void
collect_text_views (GtkWidget *root, GPtrArray *views)
{
  for (GtkWidget *c = gtk_widget_get_first_child (root); c; c = gtk_widget_get_next_sibling (c))
    {
      if (GTK_IS_TEXT_VIEW (c))
        g_ptr_array_add (views, c);
      collect_text_views (c, views);
    }
}

static char *
text_of (GtkTextView *view)
{
  GtkTextIter a, b;

  g_assert_false (gtk_text_view_get_editable (view));
  gtk_text_buffer_get_bounds (gtk_text_view_get_buffer (view), &a, &b);
  return gtk_text_buffer_get_text (gtk_text_view_get_buffer (view), &a, &b, FALSE);
}

static GtkWidget *find_button (GtkWidget *root, const char *label);

static void
clipboard_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  Wait *w = data;
  w->text = gdk_clipboard_read_text_finish (GDK_CLIPBOARD (source), result, &w->error);
  w->done = TRUE;
}

/* The export window: the note on "The File", and on "Use It in Your App" each snippet
 * bt_export_snippet writes for this model and file name, in order, and Copy copies it. */
static void
check_export_window (const char *model_path, Wait *w)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(BtModel) model = bt_model_load (model_path, &error);
  GtkWindow *win = bt_export_actions_show_export (NULL, "ONNX", w->text, (const char * const *) w->snippets);
  GtkStack *stack = NULL;
  g_autoptr(GPtrArray) views = g_ptr_array_new ();

  g_assert_no_error (error);
  for (GtkWidget *c = gtk_widget_get_first_child (gtk_window_get_child (win)); c; c = gtk_widget_get_next_sibling (c))
    for (GtkWidget *d = gtk_widget_get_first_child (c); d; d = gtk_widget_get_next_sibling (d))
      if (GTK_IS_STACK (d))
        stack = GTK_STACK (d);
  g_assert_nonnull (stack);
  g_assert_cmpstr (gtk_stack_get_visible_child_name (stack), ==, "file");
  collect_text_views (gtk_stack_get_child_by_name (stack, "file"), views);
  g_assert_cmpuint (views->len, ==, 1);
  g_autofree char *shown = text_of (views->pdata[0]);
  g_assert_cmpstr (shown, ==, w->text);
  bt_test_screenshot (GTK_WIDGET (win), "export-onnx-note");

  gtk_stack_set_visible_child_name (stack, "app");
  g_ptr_array_set_size (views, 0);
  collect_text_views (gtk_stack_get_child_by_name (stack, "app"), views);
  g_assert_cmpuint (views->len, ==, BT_N_SNIPPETS);
  BtSnippetPlaces places = { .onnx_file = "shapes.onnx", .tflite_file = "shapes.tflite" };
  for (int k = 0; k < BT_N_SNIPPETS; k++)
    {
      g_autofree char *want = bt_export_snippet (model, k, &places);
      g_autofree char *got = text_of (views->pdata[k]);
      g_assert_cmpstr (got, ==, want);
    }
  g_assert_nonnull (strstr (w->snippets[BT_SNIPPET_PYTHON], "InferenceSession(\"shapes.onnx\")"));
  bt_test_screenshot (GTK_WIDGET (win), "export-use-it-in-your-app");
  gtk_window_set_default_size (win, 800, 600);
  bt_test_screenshot (GTK_WIDGET (win), "export-use-it-in-your-app-800");

  /* the first Copy button copies the Python snippet */
  GtkWidget *copy = find_button (gtk_stack_get_child_by_name (stack, "app"), "Copy");
  g_assert_nonnull (copy);
  bt_test_click (copy);
  /* the button says Copied */
  BT_TEST_WAIT (g_strcmp0 (gtk_button_get_label (GTK_BUTTON (copy)), "Copied") == 0);
  Wait cw = { 0 };
  gdk_clipboard_read_text_async (gtk_widget_get_clipboard (copy), NULL, clipboard_cb, &cw);
  wait_done (&cw);
  g_assert_no_error (cw.error);
  g_assert_cmpstr (cw.text, ==, w->snippets[BT_SNIPPET_PYTHON]);
  g_free (cw.text);
  gtk_window_destroy (win);
}

static void
test_onnx (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("bt-export-actions-XXXXXX", &error);
  g_autofree char *model = save_model (dir);
  g_autofree char *out = g_build_filename (dir, "shapes.onnx", NULL);
  g_autofree char *contents = NULL;
  gsize len = 0;
  Wait w = { 0 };

  bt_export_actions_onnx_async (model, out, NULL, onnx_cb, &w);
  wait_done (&w);
  g_assert_no_error (w.error);
  g_assert_nonnull (w.text);

  /* ModelProto starts with field 1 (ir_version, varint): tag byte 0x08 */
  g_assert_true (g_file_get_contents (out, &contents, &len, &error));
  g_assert_cmpuint (len, >, 1000);
  g_assert_cmpint ((guchar) contents[0], ==, 0x08);

  if (have_python_onnx ())
    {
      g_autofree char *code = g_strdup_printf ("import onnx, sys\nm = onnx.load(sys.argv[1])\n"
                                               "onnx.checker.check_model(m)\n"
                                               "print(m.graph.input[0].name, m.graph.output[0].name)");
      g_autofree char *std_out = NULL;
      int status = -1;

      g_assert_true (g_spawn_sync (NULL, (char *[]) { "/usr/bin/python3", "-c", code, out, NULL }, NULL,
                                   G_SPAWN_DEFAULT, NULL, NULL, &std_out, NULL, &status, &error));
      g_assert_no_error (error);
      g_assert_cmpint (status, ==, 0);
      g_assert_cmpstr (g_strstrip (std_out), ==, "image probabilities");
    }
  else
    g_test_message ("python3-onnx not installed: only the file's start is checked");

  /* the note names the input size and the class names */
  g_assert_nonnull (strstr (w.text, "24"));
  g_assert_nonnull (strstr (w.text, "3 × 24 × 24"));
  g_assert_nonnull (strstr (w.text, "triangle"));

  check_export_window (model, &w);

  /* a broken model is an error, not a crash */
  {
    Wait w2 = { 0 };
    g_autofree char *bad = g_build_filename (dir, "bad.bottega-model", NULL);
    g_autofree char *bad_out = g_build_filename (dir, "bad.onnx", NULL);

    g_assert_true (g_file_set_contents (bad, "not a model", -1, &error));
    bt_export_actions_onnx_async (bad, bad_out, NULL, onnx_cb, &w2);
    wait_done (&w2);
    g_assert_null (w2.text);
    g_assert_nonnull (w2.error);
    g_assert_false (g_file_test (bad_out, G_FILE_TEST_EXISTS));
    g_clear_error (&w2.error);
  }
  g_free (w.text);
  g_strfreev (w.snippets);
  bt_test_rm_rf (dir);
}

/* The TensorFlow Lite action: a file with the TFL3 identifier (Arm NN runs every preset's file
 * in tests/export/test-tflite-export.c) and a note in TFLite's NHWC terms. */
static void
test_tflite (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("bt-export-actions-XXXXXX", &error);
  g_autofree char *model = save_model (dir);
  g_autofree char *out = g_build_filename (dir, "shapes.tflite", NULL);
  g_autofree char *contents = NULL;
  gsize len = 0;
  Wait w = { 0 };

  bt_export_actions_tflite_async (model, out, NULL, onnx_cb, &w);
  wait_done (&w);
  g_assert_no_error (w.error);
  g_assert_nonnull (w.text);
  g_assert_true (g_file_get_contents (out, &contents, &len, &error));
  g_assert_cmpuint (len, >, 1000);
  g_assert_cmpmem (contents + 4, 4, "TFL3", 4);
  g_assert_nonnull (strstr (w.text, "1 × 24 × 24 × 3"));
  g_assert_nonnull (strstr (w.text, "triangle"));
  g_assert_nonnull (strstr (w.text, "Interpreter"));
  g_assert_nonnull (strstr (w.snippets[BT_SNIPPET_KOTLIN], "openFd(\"shapes.tflite\")"));
  g_free (w.text);
  g_strfreev (w.snippets);

  /* int8: its calibration sample is a project's training images, taken as paths here and
   * decoded in the worker; the file is a fraction of the float one and the note says int8 */
  g_autofree char *proj = g_build_filename (dir, "project", NULL);
  g_autoptr(BtProject) p = bt_sample_create_shapes (proj, 3, 24, 1, NULL, &error);
  g_assert_no_error (error);
  g_auto(GStrv) paths = bt_export_tflite_calibration_paths (p, 200);
  g_autoptr(BtSplitView) train = bt_project_split_view (p, BT_SPLIT_TRAIN);
  g_assert_cmpuint (g_strv_length (paths), ==, MIN (train->n, 200));
  g_assert_cmpuint (g_strv_length (paths), >, 0);
  g_autofree char *out8 = g_build_filename (dir, "shapes-int8.tflite", NULL);
  Wait w8 = { 0 };
  bt_export_actions_tflite_int8_async (model, (const char * const *) paths, out8, NULL, onnx_cb, &w8);
  wait_done (&w8);
  g_assert_no_error (w8.error);
  g_assert_nonnull (w8.text);
  g_assert_nonnull (strstr (w8.text, "int8"));
  g_autofree char *contents8 = NULL;
  gsize len8 = 0;
  g_assert_true (g_file_get_contents (out8, &contents8, &len8, &error));
  g_assert_cmpmem (contents8 + 4, 4, "TFL3", 4);
  g_assert_cmpuint (len8 * 100, <=, len * 30);
  g_assert_null (w8.snippets);   /* the snippets feed floats: not offered for an int8 file */
  g_free (w8.text);
  bt_test_rm_rf (dir);
}

/* One HTTP/1.0 GET on 127.0.0.1:port; the whole answer (status line, headers, body). */
static char *
http_get (int port, const char *path)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GSocketConnection) conn = g_socket_client_connect_to_host (client, "127.0.0.1", (guint16) port,
                                                                       NULL, &error);
  if (conn == NULL)
    return NULL;
  g_autofree char *req = g_strdup_printf ("GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
  GOutputStream *out = g_io_stream_get_output_stream (G_IO_STREAM (conn));
  g_assert_true (g_output_stream_write_all (out, req, strlen (req), NULL, NULL, &error));
  g_autoptr(GString) answer = g_string_new (NULL);
  char buf[4096];
  gssize n;
  while ((n = g_input_stream_read (g_io_stream_get_input_stream (G_IO_STREAM (conn)), buf, sizeof buf,
                                   NULL, &error)) > 0)
    g_string_append_len (answer, buf, n);
  return g_string_free (g_steal_pointer (&answer), FALSE);
}

static GtkWidget *
find_button (GtkWidget *root, const char *label)
{
  for (GtkWidget *c = gtk_widget_get_first_child (root); c; c = gtk_widget_get_next_sibling (c))
    {
      GtkWidget *found;
      if (GTK_IS_BUTTON (c) && g_strcmp0 (gtk_button_get_label (GTK_BUTTON (c)), label) == 0)
        return c;
      if ((found = find_button (c, label)))
        return found;
    }
  return NULL;
}

/* "Serve on This Computer…": the CLI's server started for a saved model, the address shown
 * with its token, the token asked, Stop ends it. */
static void
test_serve (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("bt-export-actions-XXXXXX", &error);
  g_autofree char *model = save_model (dir);
  GtkWindow *win = bt_serve_window_open (NULL, model);
  gint64 deadline = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;
  while (bt_serve_window_get_address (win) == NULL && bt_serve_window_is_serving (win)
         && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, TRUE);
  const char *address = bt_serve_window_get_address (win);
  g_assert_nonnull (address);
  g_assert_true (g_str_has_prefix (address, "http://127.0.0.1:"));
  const char *token = bt_serve_window_get_token (win);
  g_assert_nonnull (strstr (address, token));
  g_assert_cmpuint (strlen (token), >=, 32);
  int port = atoi (address + strlen ("http://127.0.0.1:"));
  g_assert_cmpint (port, >, 0);
  bt_test_screenshot (GTK_WIDGET (win), "serve-window");

  /* the labels with the token; 401 without (the GET runs while this loop waits) */
  g_autofree char *path = g_strdup_printf ("/model?token=%s", token);
  g_autofree char *ok = http_get (port, path);
  g_assert_nonnull (ok);
  g_assert_true (g_str_has_prefix (ok, "HTTP/1.0 200") || g_str_has_prefix (ok, "HTTP/1.1 200"));
  g_assert_nonnull (strstr (ok, "triangle"));
  g_autofree char *refused = http_get (port, "/model");
  g_assert_nonnull (refused);
  g_assert_nonnull (strstr (refused, " 401 "));

  /* the snippets the window shows run as shown, on a real image (photo.jpg → one) */
  g_autofree char *usage = bt_serve_window_get_usage (win);
  g_autofree char *image = g_build_filename (dir, "photo.png", NULL);
  {
    g_autoptr(GdkTexture) tex = NULL;
    g_autoptr(GBytes) px = g_bytes_new_take (g_malloc0 (24 * 24 * 4), 24 * 24 * 4);
    tex = gdk_memory_texture_new (24, 24, GDK_MEMORY_R8G8B8A8, px, 24 * 4);
    g_assert_true (gdk_texture_save_to_png (tex, image));
  }
  const char *py_start = strstr (usage, "  import json");
  const char *py_end = py_start ? strstr (py_start, "\n\n") : NULL;
  g_assert_nonnull (py_end);
  g_autofree char *py_raw = g_strndup (py_start, py_end - py_start);
  g_auto(GStrv) py_lines = g_strsplit (py_raw, "\n", -1);
  g_autoptr(GString) py = g_string_new (NULL);
  for (guint i = 0; py_lines[i]; i++)
    g_string_append_printf (py, "%s\n", py_lines[i] + 2);   /* the shown indent */
  g_auto(GStrv) py_parts = g_strsplit (py->str, "photo.jpg", -1);
  g_autofree char *py_code = g_strjoinv (image, py_parts);
  if (g_file_test ("/usr/bin/python3", G_FILE_TEST_IS_EXECUTABLE))
    {
      g_autofree char *py_out = NULL, *py_err = NULL;
      int status = -1;
      g_assert_true (g_spawn_sync (NULL, (char *[]) { "/usr/bin/python3", "-c", py_code, NULL }, NULL,
                                   G_SPAWN_DEFAULT, NULL, NULL, &py_out, &py_err, &status, &error));
      g_test_message ("python snippet: %s %s", py_out, py_err);
      g_assert_true (g_spawn_check_wait_status (status, NULL));
      g_assert_nonnull (strstr (py_out, "'class'"));
    }
  const char *curl_line = strstr (usage, "curl ");
  g_autofree char *curl_cmd = g_strndup (curl_line, strcspn (curl_line, "\n"));
  g_auto(GStrv) curl_parts = g_strsplit (curl_cmd, "photo.jpg", -1);
  g_autofree char *curl_run = g_strjoinv (image, curl_parts);
  g_autofree char *curl = g_find_program_in_path ("curl");
  if (curl != NULL)
    {
      g_autofree char *c_out = NULL;
      int status = -1;
      g_assert_true (g_spawn_sync (NULL, (char *[]) { "/bin/sh", "-c", curl_run, NULL }, NULL,
                                   G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &c_out, NULL, &status, &error));
      g_assert_true (g_spawn_check_wait_status (status, NULL));
      g_assert_nonnull (strstr (c_out, "\"predictions\""));
    }

  /* Stop: the process ends and the address goes */
  GtkWidget *stop = find_button (GTK_WIDGET (win), "_Stop");
  g_assert_nonnull (stop);
  bt_test_click (stop);
  deadline = g_get_monotonic_time () + 30 * G_USEC_PER_SEC;
  while (bt_serve_window_is_serving (win) && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, TRUE);
  g_assert_false (bt_serve_window_is_serving (win));
  g_assert_null (bt_serve_window_get_address (win));
  g_assert_null (http_get (port, path));
  gtk_window_destroy (win);
  bt_test_rm_rf (dir);
}

static void
test_pytorch (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("bt-export-actions-XXXXXX", &error);
  g_autofree char *proj = g_build_filename (dir, "project", NULL);
  g_autofree char *out = g_build_filename (dir, "script", NULL);
  g_autoptr(BtProject) p = bt_sample_create_shapes (proj, 3, 24, 1, NULL, &error);
  const char *files[] = { "train.py", "config.json", "labels.csv", "initial.bottega-model", "README.md" };
  Wait w = { 0 };

  g_assert_no_error (error);
  bt_export_actions_pytorch_async (p, out, NULL, pytorch_cb, &w);
  wait_done (&w);
  g_assert_no_error (w.error);
  for (guint i = 0; i < G_N_ELEMENTS (files); i++)
    {
      g_autofree char *f = g_build_filename (out, files[i], NULL);
      g_assert_true (g_file_test (f, G_FILE_TEST_IS_REGULAR));
    }
  g_assert_nonnull (strstr (w.text, out));
  g_assert_nonnull (strstr (w.text, "python3 train.py"));
  g_assert_nonnull (strstr (w.text, "torchrun --nproc_per_node=N train.py"));
  g_free (w.text);
  g_clear_object (&p);   /* its last save lands first */
  bt_test_rm_rf (dir);
}

static GtkWidget *
find_widget (GtkWidget *root, GType type, const char *action)
{
  for (GtkWidget *c = gtk_widget_get_first_child (root); c; c = gtk_widget_get_next_sibling (c))
    {
      GtkWidget *found;

      if (G_TYPE_CHECK_INSTANCE_TYPE (c, type) &&
          (action == NULL || (GTK_IS_ACTIONABLE (c) &&
                              g_strcmp0 (gtk_actionable_get_action_name (GTK_ACTIONABLE (c)), action) == 0)))
        return c;
      if ((found = find_widget (c, type, action)))
        return found;
    }
  return NULL;
}

/* GtkPopoverMenu's items are private GtkModelButtons that follow their action's enabled state;
 * they are found by their text (untranslated; mnemonics stripped). */
static GtkWidget *
find_menu_item (GtkWidget *root, const char *text)
{
  for (GtkWidget *c = gtk_widget_get_first_child (root); c; c = gtk_widget_get_next_sibling (c))
    {
      GtkWidget *found;

      if (g_strcmp0 (G_OBJECT_TYPE_NAME (c), "GtkModelButton") == 0)
        {
          g_autofree char *t = NULL;
          g_object_get (c, "text", &t, NULL);
          if (g_strcmp0 (t, text) == 0)
            return c;
        }
      if ((found = find_menu_item (c, text)))
        return found;
    }
  return NULL;
}

static gboolean
item_enabled (GtkWidget *root, const char *text)
{
  GtkWidget *item = find_menu_item (root, text);

  g_assert_nonnull (item);
  /* the tracker updates the item from an idle */
  while (g_main_context_iteration (NULL, FALSE))
    ;
  return gtk_widget_get_sensitive (item);
}

static void
model_ready_cb (BtTestPage *page, gboolean *ready)
{
  *ready = TRUE;
}

static void
test_page_menu (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("bt-export-actions-XXXXXX", &error);
  g_autofree char *dir_p = g_build_filename (dir, "p", NULL);
  g_autofree char *dir_q = g_build_filename (dir, "q", NULL);
  g_autoptr(BtProject) p = bt_sample_create_shapes (dir_p, 3, 24, 1, NULL, NULL);
  g_autoptr(BtProject) q = bt_sample_create_shapes (dir_q, 3, 24, 2, NULL, NULL);
  g_autofree char *models = NULL;
  g_autofree char *model = NULL;
  GtkWidget *window = gtk_window_new ();
  BtTestPage *page = g_object_new (BT_TYPE_TEST_PAGE, NULL);
  GtkWidget *button;
  GtkPopover *popover;
  gboolean ready = FALSE;

  g_assert_no_error (error);
  g_assert_nonnull (p);
  g_assert_nonnull (q);
  gtk_window_set_child (GTK_WINDOW (window), GTK_WIDGET (page));
  gtk_window_set_default_size (GTK_WINDOW (window), 1100, 600);
  gtk_window_present (GTK_WINDOW (window));

  button = find_widget (GTK_WIDGET (page), GTK_TYPE_MENU_BUTTON, NULL);
  g_assert_nonnull (button);
  popover = gtk_menu_button_get_popover (GTK_MENU_BUTTON (button));
  g_assert_nonnull (popover);

  /* no project: nothing to export */
  g_assert_false (item_enabled (GTK_WIDGET (popover), "ONNX Model…"));
  g_assert_false (item_enabled (GTK_WIDGET (popover), "TensorFlow Lite Model…"));
  g_assert_false (item_enabled (GTK_WIDGET (popover), "Serve on This Computer…"));
  g_assert_false (item_enabled (GTK_WIDGET (popover), "PyTorch Training Script…"));

  /* a project without a saved model: only the training script */
  bt_test_page_set_project (page, p);
  g_assert_false (item_enabled (GTK_WIDGET (popover), "ONNX Model…"));
  g_assert_true (item_enabled (GTK_WIDGET (popover), "PyTorch Training Script…"));

  /* a project with a saved model: once it is loaded, ONNX too. (A second project, so that the
   * first one's model listing, cancelled by the switch, cannot race the loading.) */
  models = g_build_filename (bt_project_get_dir (q), "models", NULL);
  g_assert_cmpint (g_mkdir_with_parents (models, 0755), ==, 0);
  model = save_model (models);
  g_signal_connect (page, "model-ready", G_CALLBACK (model_ready_cb), &ready);
  bt_test_page_set_project (page, q);
  BT_TEST_WAIT (ready);
  g_assert_cmpstr (bt_test_page_get_model_path (page), ==, model);
  g_assert_true (item_enabled (GTK_WIDGET (popover), "ONNX Model…"));
  g_assert_true (item_enabled (GTK_WIDGET (popover), "TensorFlow Lite Model…"));
  g_assert_true (item_enabled (GTK_WIDGET (popover), "Serve on This Computer…"));
  g_assert_true (item_enabled (GTK_WIDGET (popover), "PyTorch Training Script…"));

  gtk_menu_button_popup (GTK_MENU_BUTTON (button));
  bt_test_screenshot (window, "export-menu");
  bt_test_screenshot (GTK_WIDGET (popover), "export-menu-popover");
  gtk_menu_button_popdown (GTK_MENU_BUTTON (button));
  gtk_window_destroy (GTK_WINDOW (window));
  g_clear_object (&p);
  g_clear_object (&q);
  bt_test_rm_rf (dir);
}

int
main (int argc, char **argv)
{
  gtk_test_init (&argc, &argv, NULL);
  g_test_add_func ("/export-actions/onnx", test_onnx);
  g_test_add_func ("/export-actions/tflite", test_tflite);
  g_test_add_func ("/export-actions/serve", test_serve);
  g_test_add_func ("/export-actions/pytorch", test_pytorch);
  g_test_add_func ("/export-actions/page-menu", test_page_menu);
  return g_test_run ();
}
