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
}

static void
test_page_menu (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("bt-export-actions-XXXXXX", &error);
  g_autoptr(BtProject) p = bt_sample_create_shapes (dir, 3, 24, 1, NULL, &error);
  GtkWidget *window = gtk_window_new ();
  BtTestPage *page = g_object_new (BT_TYPE_TEST_PAGE, NULL);
  GtkWidget *button = NULL;
  GMenuModel *menu;
  g_autofree char *a0 = NULL, *a1 = NULL;

  g_assert_no_error (error);
  gtk_window_set_child (GTK_WINDOW (window), GTK_WIDGET (page));
  gtk_window_set_default_size (GTK_WINDOW (window), 1100, 600);
  bt_test_page_set_project (page, p);
  gtk_window_present (GTK_WINDOW (window));

  /* find the Export Model button in the page */
  for (GtkWidget *w = gtk_widget_get_first_child (GTK_WIDGET (page)); w != NULL && button == NULL; )
    {
      if (GTK_IS_MENU_BUTTON (w))
        button = w;
      else if (gtk_widget_get_first_child (w) != NULL)
        w = gtk_widget_get_first_child (w);
      else
        {
          while (w != NULL && gtk_widget_get_next_sibling (w) == NULL)
            w = gtk_widget_get_parent (w) == GTK_WIDGET (page) ? NULL : gtk_widget_get_parent (w);
          if (w != NULL)
            w = gtk_widget_get_next_sibling (w);
        }
    }
  g_assert_nonnull (button);
  menu = gtk_menu_button_get_menu_model (GTK_MENU_BUTTON (button));
  g_assert_nonnull (menu);
  menu = g_menu_model_get_item_link (menu, 0, G_MENU_LINK_SECTION);
  g_assert_cmpint (g_menu_model_get_n_items (menu), ==, 2);
  g_assert_true (g_menu_model_get_item_attribute (menu, 0, G_MENU_ATTRIBUTE_ACTION, "s", &a0));
  g_assert_true (g_menu_model_get_item_attribute (menu, 1, G_MENU_ATTRIBUTE_ACTION, "s", &a1));
  g_assert_cmpstr (a0, ==, "test.export-onnx");
  g_assert_cmpstr (a1, ==, "test.export-pytorch");
  g_object_unref (menu);

  gtk_menu_button_popup (GTK_MENU_BUTTON (button));
  bt_test_screenshot (window, "export-menu");
  gtk_menu_button_popdown (GTK_MENU_BUTTON (button));
  gtk_window_destroy (GTK_WINDOW (window));
}

int
main (int argc, char **argv)
{
  gtk_test_init (&argc, &argv, NULL);
  g_test_add_func ("/export-actions/onnx", test_onnx);
  g_test_add_func ("/export-actions/pytorch", test_pytorch);
  g_test_add_func ("/export-actions/page-menu", test_page_menu);
  return g_test_run ();
}
