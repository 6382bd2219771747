/* test-resources.c: every .ui file in the app's GResource parses. Plain builder files load
 * with GtkBuilder; a template is instantiated from its class. Each file is checked in a
 * subprocess, so a broken one fails its own case with GTK's message and the others still run. */
#include "config.h"

#include <gtk/gtk.h>
#include <string.h>

#include "bt-window.h"

static void
collect_ui (const char *path, GPtrArray *out)
{
  g_auto(GStrv) children = g_resources_enumerate_children (path, G_RESOURCE_LOOKUP_FLAGS_NONE, NULL);

  for (guint i = 0; children != NULL && children[i] != NULL; i++)
    {
      g_autofree char *child = g_strconcat (path, children[i], NULL);

      if (g_str_has_suffix (children[i], "/"))
        collect_ui (child, out);
      else if (g_str_has_suffix (children[i], ".ui"))
        g_ptr_array_add (out, g_steal_pointer (&child));
    }
}

typedef struct {
  char *template_class;
  char *parent_class;
} UiInfo;

static void
start_element (GMarkupParseContext  *context,
               const char           *element_name,
               const char          **attribute_names,
               const char          **attribute_values,
               gpointer              user_data,
               GError              **error)
{
  UiInfo *info = user_data;

  if (g_str_equal (element_name, "template") && info->template_class == NULL)
    {
      const char *klass = NULL, *parent = NULL;

      if (!g_markup_collect_attributes (element_name, attribute_names, attribute_values, error,
                                        G_MARKUP_COLLECT_STRING, "class", &klass,
                                        G_MARKUP_COLLECT_STRING, "parent", &parent,
                                        G_MARKUP_COLLECT_INVALID))
        return;
      info->template_class = g_strdup (klass);
      info->parent_class = g_strdup (parent);
    }
}

/* Well-formed XML, and the template's class if the file holds one. */
static void
read_ui (const char *path, UiInfo *info)
{
  static const GMarkupParser parser = { start_element, NULL, NULL, NULL, NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) bytes = g_resources_lookup_data (path, G_RESOURCE_LOOKUP_FLAGS_NONE, &error);
  g_autoptr(GMarkupParseContext) context = NULL;
  gsize len;
  const char *data;

  g_assert_no_error (error);
  data = g_bytes_get_data (bytes, &len);
  context = g_markup_parse_context_new (&parser, G_MARKUP_PREFIX_ERROR_POSITION, info, NULL);
  g_markup_parse_context_parse (context, data, len, &error);
  g_assert_no_error (error);
  g_markup_parse_context_end_parse (context, &error);
  g_assert_no_error (error);
}

static void
destroy_toplevels (GSList *objects)
{
  for (GSList *l = objects; l != NULL; l = l->next)
    if (GTK_IS_WINDOW (l->data))
      gtk_window_destroy (l->data);
}

static void
test_ui_file (gconstpointer data)
{
  const char *path = data;
  UiInfo info = { NULL, NULL };

  if (!g_test_subprocess ())
    {
      /* GTK reports some builder problems as warnings, which are fatal here. */
      g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
      g_test_trap_assert_passed ();
      return;
    }

  read_ui (path, &info);

  if (info.template_class == NULL)
    {
      g_autoptr(GtkBuilder) builder = gtk_builder_new ();
      g_autoptr(GError) error = NULL;
      g_autoptr(GSList) objects = NULL;

      gtk_builder_add_from_resource (builder, path, &error);
      g_assert_no_error (error);
      objects = gtk_builder_get_objects (builder);
      g_assert_nonnull (objects);
      destroy_toplevels (objects);
    }
  else
    {
      g_autoptr(GtkBuilder) builder = gtk_builder_new ();
      GType type = gtk_builder_get_type_from_name (builder, info.template_class);
      GType parent = gtk_builder_get_type_from_name (builder, info.parent_class);
      GObject *object;

      if (type == G_TYPE_INVALID)
        g_error ("%s: template class %s is not a known type", path, info.template_class);
      g_assert_true (g_type_is_a (type, GTK_TYPE_WIDGET));
      g_assert_true (g_type_is_a (type, parent));

      /* Any error in the template is a critical, which gtk_test_init makes fatal. */
      object = g_object_ref_sink (g_object_new (type, NULL));
      /* A template that parsed built its content. */
      if (GTK_IS_WINDOW (object))
        g_assert_nonnull (gtk_window_get_child (GTK_WINDOW (object)));
      else
        g_assert_nonnull (gtk_widget_get_first_child (GTK_WIDGET (object)));
      if (GTK_IS_WINDOW (object))
        gtk_window_destroy (GTK_WINDOW (object));
      g_object_unref (object);
    }

  g_free (info.template_class);
  g_free (info.parent_class);
}

int
main (int argc, char **argv)
{
  g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func (g_free);
  static const char * const expected[] = {
    APP_ID_PATH "/ui/bt-window.ui",
    APP_ID_PATH "/gtk/help-overlay.ui",
    APP_ID_PATH "/ui/bt-data-page.ui",
    APP_ID_PATH "/ui/bt-model-page.ui",
    APP_ID_PATH "/ui/bt-train-page.ui",
    APP_ID_PATH "/ui/bt-evaluate-page.ui",
    APP_ID_PATH "/ui/bt-test-page.ui",
  };

  gtk_test_init (&argc, &argv, NULL);
  /* Register the app's types the way the application does before any template loads. */
  g_type_ensure (BT_TYPE_WINDOW);

  collect_ui (APP_ID_PATH "/", files);
  /* The walk must find at least the files the window needs, or the test proves nothing. */
  for (guint i = 0; i < G_N_ELEMENTS (expected); i++)
    {
      gboolean found = FALSE;
      for (guint j = 0; j < files->len && !found; j++)
        found = g_str_equal (files->pdata[j], expected[i]);
      if (!found)
        g_error ("%s is not in the GResource", expected[i]);
    }

  for (guint i = 0; i < files->len; i++)
    {
      g_autofree char *test_path = g_strconcat ("/resources", (char *) files->pdata[i] + strlen (APP_ID_PATH), NULL);
      g_test_add_data_func (test_path, files->pdata[i], test_ui_file);
    }

  return g_test_run ();
}
