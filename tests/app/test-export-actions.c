/* test-export-actions.c: the window's Export Model actions on real files — an ONNX file from a
 * saved small CNN (checked by python3-onnx when present), its usage note, the PyTorch folder. */
#include "config.h"

#include <glib/gstdio.h>
#include <gtk/gtk.h>
#include <string.h>

#include "bt-export-actions.h"
#include "bt-test-page.h"
#include "engine/bt-engine.h"
#include "bt-test-screenshot.h"
#include "bt-test-fs.h"

typedef struct {
  gboolean  done;
  char     *text;
  GError   *error;
} Wait;

static void
onnx_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  Wait *w = data;
  w->text = bt_export_actions_onnx_finish (result, &w->error);
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
  while (!w->done)
    g_main_context_iteration (NULL, TRUE);
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

  {
    GtkWindow *note = bt_export_actions_show_note (NULL, "ONNX", w.text);
    GtkWidget *child = gtk_widget_get_first_child (gtk_window_get_child (note));
    GtkTextView *view = NULL;
    GtkTextIter a, b;
    g_autofree char *shown = NULL;

    for (; child != NULL; child = gtk_widget_get_next_sibling (child))
      if (GTK_IS_SCROLLED_WINDOW (child))
        view = GTK_TEXT_VIEW (gtk_scrolled_window_get_child (GTK_SCROLLED_WINDOW (child)));
    g_assert_nonnull (view);
    g_assert_false (gtk_text_view_get_editable (view));
    gtk_text_buffer_get_bounds (gtk_text_view_get_buffer (view), &a, &b);
    shown = gtk_text_buffer_get_text (gtk_text_view_get_buffer (view), &a, &b, FALSE);
    g_assert_cmpstr (shown, ==, w.text);
    bt_test_screenshot (GTK_WIDGET (note), "export-onnx-note");
    gtk_window_destroy (note);
  }

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
  g_free (w.text);
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
  while (!ready)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpstr (bt_test_page_get_model_path (page), ==, model);
  g_assert_true (item_enabled (GTK_WIDGET (popover), "ONNX Model…"));
  g_assert_true (item_enabled (GTK_WIDGET (popover), "TensorFlow Lite Model…"));
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
  g_test_add_func ("/export-actions/pytorch", test_pytorch);
  g_test_add_func ("/export-actions/page-menu", test_page_menu);
  return g_test_run ();
}
