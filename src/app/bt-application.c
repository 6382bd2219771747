/* bt-application.c: BtApplication: command-line options (--version, --sample, project
 * folders to open), application actions and the accelerators of the primary menu. */
#include "config.h"

#include <glib/gi18n.h>
#include <stdio.h>

#include "bt-application.h"
#include "dataset/bt-dataset.h"

#define BT_SCHEMA_ID "io.github.bottega.Bottega"  /* as in bt-window.c */
#include "bt-window.h"

struct _BtApplication
{
  GtkApplication parent_instance;
};

G_DEFINE_FINAL_TYPE (BtApplication, bt_application, GTK_TYPE_APPLICATION)

static BtWindow *
get_or_create_window (BtApplication *self)
{
  GtkWindow *window = gtk_application_get_active_window (GTK_APPLICATION (self));

  if (window == NULL)
    window = GTK_WINDOW (bt_window_new (GTK_APPLICATION (self)));
  return BT_WINDOW (window);
}

static int
bt_application_handle_local_options (GApplication *app, GVariantDict *options)
{
  g_autoptr(GError) error = NULL;

  if (g_variant_dict_contains (options, "version"))
    {
      g_print ("bottega %s\n", PACKAGE_VERSION);
      return 0;
    }

  if (g_variant_dict_contains (options, "sample"))
    {
      /* Through an action, so it also reaches an instance that is already running. */
      if (!g_application_register (app, NULL, &error))
        {
          g_printerr ("%s\n", error->message);
          return 1;
        }
      g_action_group_activate_action (G_ACTION_GROUP (app), "open-sample", NULL);
    }

  return G_APPLICATION_CLASS (bt_application_parent_class)->handle_local_options (app, options);
}

static void
bt_application_activate (GApplication *app)
{
  gtk_window_present (GTK_WINDOW (get_or_create_window (BT_APPLICATION (app))));
}

static void
bt_application_open (GApplication *app, GFile **files, int n_files, const char *hint)
{
  BtWindow *window = get_or_create_window (BT_APPLICATION (app));

  /* One window shows one project; the last folder named wins. */
  if (n_files > 0)
    bt_window_open_folder (window, files[n_files - 1]);
  gtk_window_present (GTK_WINDOW (window));
}

static void
about_action (GSimpleAction *action, GVariant *parameter, gpointer user_data)
{
  static const char *developers[] = { "The Bottega authors", NULL };
  GtkApplication *app = GTK_APPLICATION (user_data);
  GtkWindow *parent = gtk_application_get_active_window (app);
  GtkWidget *about;

  about = g_object_new (GTK_TYPE_ABOUT_DIALOG,
                        "transient-for", parent,
                        "modal", TRUE,
                        "destroy-with-parent", TRUE,
                        "program-name", _("Bottega"),
                        "logo-icon-name", "io.github.bottega.Bottega",
                        "version", PACKAGE_VERSION,
                        "comments", _("Build an image classifier without writing code"),
                        "website", "https://github.com/bottega/bottega",
                        "license-type", GTK_LICENSE_GPL_3_0,
                        "authors", developers,
                        /* Translators: replace with your names, one per line. */
                        "translator-credits", _("translator-credits"),
                        NULL);
  gtk_window_present (GTK_WINDOW (about));
}

static void
quit_action (GSimpleAction *action, GVariant *parameter, gpointer user_data)
{
  GtkApplication *app = GTK_APPLICATION (user_data);
  GList *windows = g_list_copy (gtk_application_get_windows (app));

  /* Close rather than destroy, so each window saves its state on the way out. */
  for (GList *l = windows; l != NULL; l = l->next)
    gtk_window_close (GTK_WINDOW (l->data));
  g_list_free (windows);
}

static void
open_sample_action (GSimpleAction *action, GVariant *parameter, gpointer user_data)
{
  BtWindow *window = get_or_create_window (BT_APPLICATION (user_data));

  bt_window_open_sample (window);
  gtk_window_present (GTK_WINDOW (window));
}

static const GActionEntry app_actions[] = {
  { "about", about_action },
  { "quit", quit_action },
  { "open-sample", open_sample_action },
};

static void
bt_application_startup (GApplication *app)
{
  static const struct { const char *action; const char *accels[3]; } accels[] = {
    { "win.new-project", { "<Primary>n", NULL } },
    { "win.open-project", { "<Primary>o", NULL } },
    { "win.save", { "<Primary>s", NULL } },
    { "win.show-help-overlay", { "<Primary>question", NULL } },
    { "app.quit", { "<Primary>q", NULL } },
    { "win.page::data", { "<Alt>1", NULL } },
    { "win.page::model", { "<Alt>2", NULL } },
    { "win.page::train", { "<Alt>3", NULL } },
    { "win.page::evaluate", { "<Alt>4", NULL } },
    { "win.page::test", { "<Alt>5", NULL } },
  };
  GdkDisplay *display;

  G_APPLICATION_CLASS (bt_application_parent_class)->startup (app);

  /* The decoders' pixel budget (GSettings "max-megapixels"), when the schema is installed. */
  {
    GSettingsSchemaSource *source = g_settings_schema_source_get_default ();
    g_autoptr(GSettingsSchema) schema = source ? g_settings_schema_source_lookup (source, BT_SCHEMA_ID, TRUE) : NULL;

    if (schema != NULL && g_settings_schema_has_key (schema, "max-megapixels"))
      {
        g_autoptr(GSettings) settings = g_settings_new (BT_SCHEMA_ID);

        bt_image_set_pixel_budget ((guint64) g_settings_get_uint (settings, "max-megapixels") * 1000000u);
      }
  }

  g_action_map_add_action_entries (G_ACTION_MAP (app), app_actions, G_N_ELEMENTS (app_actions),
                                   app);
  for (guint i = 0; i < G_N_ELEMENTS (accels); i++)
    gtk_application_set_accels_for_action (GTK_APPLICATION (app), accels[i].action,
                                           accels[i].accels);

  /* The installed icon carries the app id; an uninstalled build (./run) has only the
   * release icon from the GResource. */
  display = gdk_display_get_default ();
  if (display != NULL &&
      gtk_icon_theme_has_icon (gtk_icon_theme_get_for_display (display), APP_ID))
    gtk_window_set_default_icon_name (APP_ID);
  else
    gtk_window_set_default_icon_name ("io.github.bottega.Bottega");

  /* the few looks the theme does not give (data/style.css) */
  if (display != NULL)
    {
      g_autoptr(GtkCssProvider) css = gtk_css_provider_new ();
      gtk_css_provider_load_from_resource (css, APP_ID_PATH "/style.css");
      gtk_style_context_add_provider_for_display (display, GTK_STYLE_PROVIDER (css),
                                                  GTK_STYLE_PROVIDER_PRIORITY_APPLICATION);
    }
}

static void
bt_application_class_init (BtApplicationClass *klass)
{
  GApplicationClass *app_class = G_APPLICATION_CLASS (klass);

  app_class->handle_local_options = bt_application_handle_local_options;
  app_class->startup = bt_application_startup;
  app_class->activate = bt_application_activate;
  app_class->open = bt_application_open;
}

static void
bt_application_init (BtApplication *self)
{
  g_application_add_main_option (G_APPLICATION (self), "version", 'v', G_OPTION_FLAG_NONE,
                                  G_OPTION_ARG_NONE, _("Print the version and exit"), NULL);
  g_application_add_main_option (G_APPLICATION (self), "sample", 0, G_OPTION_FLAG_NONE,
                                  G_OPTION_ARG_NONE, _("Open the sample project"), NULL);
  g_application_set_option_context_parameter_string (G_APPLICATION (self), _("[PROJECT-FOLDER]"));
  g_application_set_option_context_summary (G_APPLICATION (self),
                                            _("Build an image classifier without writing code."));
}

BtApplication *
bt_application_new (void)
{
  return g_object_new (BT_TYPE_APPLICATION,
                       "application-id", APP_ID,
                       "flags", G_APPLICATION_HANDLES_OPEN,
                       /* Release and development ids share one set of resources. */
                       "resource-base-path", APP_ID_PATH,
                       NULL);
}
