/* bt-window.c: the main window's widgets and state: the page stack, the welcome view,
 * the project it shows, in-window notifications and the size saved in GSettings. */
#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "bt-dialogs.h"
#include "bt-window-private.h"

/* One schema for release and development builds: the saved window state is shared. */
#define BT_SCHEMA_ID "io.github.bottega.Bottega"

enum {
  PROP_0,
  PROP_PROJECT,
  PROP_PAGE,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (BtWindow, bt_window, GTK_TYPE_APPLICATION_WINDOW)

static const char * const page_names[] = { "data", "model", "train", "evaluate", "test" };

static GSettings *
settings_new_if_installed (void)
{
  /* A missing schema would abort in g_settings_new; run without saved state instead. */
  GSettingsSchemaSource *source = g_settings_schema_source_get_default ();
  g_autoptr(GSettingsSchema) schema = NULL;

  if (source != NULL)
    schema = g_settings_schema_source_lookup (source, BT_SCHEMA_ID, TRUE);
  if (schema == NULL)
    {
      g_warning ("GSettings schema %s is not installed; "
                 "window size and recent projects will not be remembered", BT_SCHEMA_ID);
      return NULL;
    }
  return g_settings_new (BT_SCHEMA_ID);
}

static void
restore_window_state (BtWindow *self)
{
  int width, height;

  if (self->settings == NULL)
    return;

  width = g_settings_get_int (self->settings, "window-width");
  height = g_settings_get_int (self->settings, "window-height");
  gtk_window_set_default_size (GTK_WINDOW (self), width, height);
  if (g_settings_get_boolean (self->settings, "window-maximized"))
    gtk_window_maximize (GTK_WINDOW (self));
}

static void
save_window_state (BtWindow *self)
{
  int width, height;
  gboolean maximized;

  if (self->settings == NULL)
    return;

  maximized = gtk_window_is_maximized (GTK_WINDOW (self));
  g_settings_set_boolean (self->settings, "window-maximized", maximized);
  /* The maximized size says nothing about the size to come back to. */
  if (!maximized)
    {
      gtk_window_get_default_size (GTK_WINDOW (self), &width, &height);
      if (width > 0 && height > 0)
        {
          /* Stay inside the schema's ranges, or GSettings refuses the write. */
          g_settings_set_int (self->settings, "window-width", CLAMP (width, 360, 32767));
          g_settings_set_int (self->settings, "window-height", CLAMP (height, 294, 32767));
        }
    }
}

static void
close_confirmed_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(BtWindow) self = user_data;

  if (!bt_dialogs_confirm_finish (result, NULL))
    return;
  g_object_set_data (G_OBJECT (self), "bt-close-confirmed", GINT_TO_POINTER (TRUE));
  gtk_window_close (GTK_WINDOW (self));
}

static gboolean
bt_window_close_request (GtkWindow *window)
{
  BtWindow *self = BT_WINDOW (window);

  /* a running training is work in progress: ask before throwing it away */
  if (bt_train_page_is_busy (self->train_page) &&
      !g_object_get_data (G_OBJECT (self), "bt-close-confirmed"))
    {
      bt_dialogs_confirm_async (window, _("Stop Training and Close?"),
                                _("The run stops now; the best model saved so far is kept."),
                                _("_Stop and Close"), TRUE, NULL, close_confirmed_cb, g_object_ref (self));
      return TRUE;
    }

  save_window_state (self);
  g_cancellable_cancel (self->open_cancellable);

  return GTK_WINDOW_CLASS (bt_window_parent_class)->close_request (window);
}

static void
page_stack_notify_visible_child_cb (BtWindow *self)
{
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PAGE]);
}

static gboolean
notification_timeout_cb (gpointer user_data)
{
  BtWindow *self = user_data;

  self->notification_timeout = 0;
  gtk_revealer_set_reveal_child (self->notification_revealer, FALSE);
  return G_SOURCE_REMOVE;
}

static void
notification_close_clicked_cb (BtWindow *self)
{
  g_clear_handle_id (&self->notification_timeout, g_source_remove);
  gtk_revealer_set_reveal_child (self->notification_revealer, FALSE);
}

void
bt_window_notify (BtWindow *self, const char *message)
{
  g_return_if_fail (BT_IS_WINDOW (self));
  g_return_if_fail (message != NULL);

  gtk_label_set_label (self->notification_label, message);
  gtk_revealer_set_reveal_child (self->notification_revealer, TRUE);
  g_clear_handle_id (&self->notification_timeout, g_source_remove);
  self->notification_timeout = g_timeout_add_seconds (3, notification_timeout_cb, self);
}

#define MAX_RECENT 8

static char *
display_path (const char *dir)
{
  g_autofree char *display = g_filename_display_name (dir);
  g_autofree char *home = g_filename_display_name (g_get_home_dir ());
  gsize n = strlen (home);

  if (n > 1 && g_str_has_prefix (display, home) && display[n] == G_DIR_SEPARATOR)
    return g_strconcat ("~", display + n, NULL);
  return g_steal_pointer (&display);
}

static GtkWidget *
recent_row_new (const char *dir)
{
  g_autofree char *name = g_filename_display_basename (dir);
  g_autofree char *where = display_path (dir);
  GtkWidget *row = gtk_list_box_row_new ();
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 2);
  GtkWidget *title = gtk_label_new (name);
  GtkWidget *subtitle = gtk_label_new (where);

  gtk_label_set_xalign (GTK_LABEL (title), 0);
  gtk_label_set_ellipsize (GTK_LABEL (title), PANGO_ELLIPSIZE_END);
  gtk_widget_add_css_class (title, "heading");
  gtk_label_set_xalign (GTK_LABEL (subtitle), 0);
  gtk_label_set_ellipsize (GTK_LABEL (subtitle), PANGO_ELLIPSIZE_MIDDLE);
  gtk_widget_add_css_class (subtitle, "dim-label");
  gtk_widget_add_css_class (subtitle, "caption");
  gtk_box_append (GTK_BOX (box), title);
  gtk_box_append (GTK_BOX (box), subtitle);
  gtk_list_box_row_set_child (GTK_LIST_BOX_ROW (row), box);
  gtk_widget_set_tooltip_text (row, where);
  g_object_set_data_full (G_OBJECT (row), "bt-dir", g_strdup (dir), g_free);
  return row;
}

static void
update_recent (BtWindow *self)
{
  g_auto(GStrv) dirs = NULL;
  GtkWidget *child;
  guint shown = 0;

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->recent_list))) != NULL)
    gtk_list_box_remove (self->recent_list, child);

  if (self->settings != NULL)
    dirs = g_settings_get_strv (self->settings, "recent-projects");
  for (guint i = 0; dirs != NULL && dirs[i] != NULL && shown < MAX_RECENT; i++)
    {
      /* Only absolute paths are ours; anything else in the key is ignored. */
      if (!g_path_is_absolute (dirs[i]))
        continue;
      gtk_list_box_append (self->recent_list, recent_row_new (dirs[i]));
      shown++;
    }
  gtk_widget_set_visible (self->recent_box, shown > 0);
}

void
_bt_window_add_recent (BtWindow *self, const char *dir)
{
  g_auto(GStrv) old = NULL;
  g_autoptr(GStrvBuilder) builder = NULL;
  g_auto(GStrv) dirs = NULL;
  guint n = 1;

  g_assert (BT_IS_WINDOW (self));
  g_assert (dir != NULL);

  if (self->settings == NULL)
    return;

  old = g_settings_get_strv (self->settings, "recent-projects");
  builder = g_strv_builder_new ();
  g_strv_builder_add (builder, dir);
  for (guint i = 0; old[i] != NULL && n < MAX_RECENT; i++)
    {
      if (g_str_equal (old[i], dir))
        continue;
      g_strv_builder_add (builder, old[i]);
      n++;
    }
  dirs = g_strv_builder_end (builder);
  g_settings_set_strv (self->settings, "recent-projects", (const char * const *) dirs);
}

void
_bt_window_remove_recent (BtWindow *self, const char *dir)
{
  g_auto(GStrv) old = NULL;
  g_autoptr(GStrvBuilder) builder = NULL;
  g_auto(GStrv) dirs = NULL;

  g_assert (BT_IS_WINDOW (self));
  g_assert (dir != NULL);

  if (self->settings == NULL)
    return;

  old = g_settings_get_strv (self->settings, "recent-projects");
  builder = g_strv_builder_new ();
  for (guint i = 0; old[i] != NULL; i++)
    if (!g_str_equal (old[i], dir))
      g_strv_builder_add (builder, old[i]);
  dirs = g_strv_builder_end (builder);
  if (g_strv_length (dirs) != g_strv_length (old))
    g_settings_set_strv (self->settings, "recent-projects", (const char * const *) dirs);
}

static void
recent_row_activated_cb (BtWindow *self, GtkListBoxRow *row)
{
  const char *dir = g_object_get_data (G_OBJECT (row), "bt-dir");
  g_autoptr(GFile) folder = NULL;

  g_return_if_fail (dir != NULL);
  folder = g_file_new_for_path (dir);
  bt_window_open_folder (self, folder);
}

static void
project_save_failed_cb (BtWindow *self, const GError *error, BtProject *project)
{
  bt_dialogs_show_error (GTK_WINDOW (self), _("Could not save the project"), error);
}

static void
update_title (BtWindow *self)
{
  if (self->project != NULL)
    {
      const char *name = bt_project_get_name (self->project);
      g_autofree char *title = NULL;

      /* Translators: the window title: project name, then the application name. */
      title = g_strdup_printf (_("%s — Bottega"), name);
      gtk_window_set_title (GTK_WINDOW (self), title);
      gtk_label_set_label (self->project_label, name);
      gtk_widget_set_tooltip_text (GTK_WIDGET (self->project_label),
                                   bt_project_get_dir (self->project));
    }
  else
    {
      gtk_window_set_title (GTK_WINDOW (self), _("Bottega"));
      gtk_label_set_label (self->project_label, "");
      gtk_widget_set_tooltip_text (GTK_WIDGET (self->project_label), NULL);
    }
}

static void
bt_window_dispose (GObject *object)
{
  BtWindow *self = BT_WINDOW (object);

  if (self->open_cancellable != NULL)
    g_cancellable_cancel (self->open_cancellable);
  g_clear_object (&self->open_cancellable);
  g_clear_handle_id (&self->notification_timeout, g_source_remove);
  if (self->project != NULL)
    g_signal_handlers_disconnect_by_data (self->project, self);

  gtk_widget_dispose_template (GTK_WIDGET (self), BT_TYPE_WINDOW);

  g_clear_object (&self->project);
  g_clear_object (&self->settings);

  G_OBJECT_CLASS (bt_window_parent_class)->dispose (object);
}

static void
bt_window_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  BtWindow *self = BT_WINDOW (object);

  switch (prop_id)
    {
    case PROP_PROJECT:
      g_value_set_object (value, self->project);
      break;
    case PROP_PAGE:
      g_value_set_string (value, bt_window_get_page (self));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
bt_window_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  BtWindow *self = BT_WINDOW (object);

  switch (prop_id)
    {
    case PROP_PROJECT:
      bt_window_set_project (self, g_value_get_object (value));
      break;
    case PROP_PAGE:
      bt_window_set_page (self, g_value_get_string (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
bt_window_class_init (BtWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  GtkWindowClass *window_class = GTK_WINDOW_CLASS (klass);

  object_class->dispose = bt_window_dispose;
  object_class->get_property = bt_window_get_property;
  object_class->set_property = bt_window_set_property;
  window_class->close_request = bt_window_close_request;

  properties[PROP_PROJECT] =
    g_param_spec_object ("project", NULL, NULL, BT_TYPE_PROJECT,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_PAGE] =
    g_param_spec_string ("page", NULL, NULL, "data",
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  g_type_ensure (BT_TYPE_DATA_PAGE);
  g_type_ensure (BT_TYPE_MODEL_PAGE);
  g_type_ensure (BT_TYPE_TRAIN_PAGE);
  g_type_ensure (BT_TYPE_EVALUATE_PAGE);
  g_type_ensure (BT_TYPE_TEST_PAGE);

  gtk_widget_class_set_template_from_resource (widget_class, APP_ID_PATH "/ui/bt-window.ui");
  gtk_widget_class_bind_template_child (widget_class, BtWindow, main_stack);
  gtk_widget_class_bind_template_child (widget_class, BtWindow, page_stack);
  gtk_widget_class_bind_template_child (widget_class, BtWindow, page_switcher);
  gtk_widget_class_bind_template_child (widget_class, BtWindow, project_label);
  gtk_widget_class_bind_template_child (widget_class, BtWindow, recent_box);
  gtk_widget_class_bind_template_child (widget_class, BtWindow, recent_list);
  gtk_widget_class_bind_template_child (widget_class, BtWindow, notification_revealer);
  gtk_widget_class_bind_template_child (widget_class, BtWindow, notification_label);
  gtk_widget_class_bind_template_child (widget_class, BtWindow, data_page);
  gtk_widget_class_bind_template_child (widget_class, BtWindow, model_page);
  gtk_widget_class_bind_template_child (widget_class, BtWindow, train_page);
  gtk_widget_class_bind_template_child (widget_class, BtWindow, evaluate_page);
  gtk_widget_class_bind_template_child (widget_class, BtWindow, test_page);
  gtk_widget_class_bind_template_callback (widget_class, page_stack_notify_visible_child_cb);
  gtk_widget_class_bind_template_callback (widget_class, notification_close_clicked_cb);
  gtk_widget_class_bind_template_callback (widget_class, recent_row_activated_cb);

  _bt_window_class_actions_init (widget_class);
}

/* A finished run saved a model: the pages that use models pick it up. */
static void
train_model_saved_cb (BtWindow *self, const char *path)
{
  bt_evaluate_page_reload_models (self->evaluate_page);
  bt_test_page_reload_models (self->test_page);
}

static void
threshold_saved_cb (BtWindow *self, const char *path)
{
  bt_test_page_reload_models (self->test_page);
}

static void
bt_window_init (BtWindow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  g_signal_connect_object (self->train_page, "model-saved", G_CALLBACK (train_model_saved_cb), self,
                           G_CONNECT_SWAPPED);
  /* the Test page holds the model in memory: a threshold saved into its file needs a reload */
  g_signal_connect_object (self->evaluate_page, "threshold-saved", G_CALLBACK (threshold_saved_cb), self,
                           G_CONNECT_SWAPPED);

  if (DEVELOPMENT)
    gtk_widget_add_css_class (GTK_WIDGET (self), "devel");

  self->open_cancellable = g_cancellable_new ();
  self->settings = settings_new_if_installed ();
  restore_window_state (self);
  if (self->settings != NULL)
    g_signal_connect_object (self->settings, "changed::recent-projects",
                             G_CALLBACK (update_recent), self, G_CONNECT_SWAPPED);
  update_recent (self);
  _bt_window_dnd_init (self);

  bt_window_set_project (self, NULL);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PAGE]);
}

BtWindow *
bt_window_new (GtkApplication *application)
{
  g_return_val_if_fail (GTK_IS_APPLICATION (application), NULL);

  return g_object_new (BT_TYPE_WINDOW, "application", application, NULL);
}

void
bt_window_set_project (BtWindow *self, BtProject *project)
{
  g_return_if_fail (BT_IS_WINDOW (self));
  g_return_if_fail (project == NULL || BT_IS_PROJECT (project));

  if (self->project != NULL && self->project == project)
    return;

  if (self->project != NULL)
    g_signal_handlers_disconnect_by_data (self->project, self);
  g_set_object (&self->project, project);
  if (project != NULL)
    {
      g_signal_connect_object (project, "save-failed", G_CALLBACK (project_save_failed_cb), self,
                               G_CONNECT_SWAPPED);
      /* The name may change on any saved change. */
      g_signal_connect_object (project, "changed", G_CALLBACK (update_title), self,
                               G_CONNECT_SWAPPED);
    }

  bt_data_page_set_project (self->data_page, project);
  bt_model_page_set_project (self->model_page, project);
  bt_train_page_set_project (self->train_page, project);
  bt_evaluate_page_set_project (self->evaluate_page, project);
  bt_test_page_set_project (self->test_page, project);

  update_title (self);
  gtk_stack_set_visible_child_name (self->main_stack, project != NULL ? "pages" : "welcome");
  if (project != NULL)
    bt_window_set_page (self, "data");
  gtk_widget_set_visible (self->page_switcher, project != NULL);
  gtk_widget_set_visible (GTK_WIDGET (self->project_label), project != NULL);

  _bt_window_update_actions (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PROJECT]);
}

BtProject *
bt_window_get_project (BtWindow *self)
{
  g_return_val_if_fail (BT_IS_WINDOW (self), NULL);

  return self->project;
}

BtTrainPage *
bt_window_get_train_page (BtWindow *self)
{
  g_return_val_if_fail (BT_IS_WINDOW (self), NULL);
  return self->train_page;
}

const char *
bt_window_get_page (BtWindow *self)
{
  const char *name = NULL;

  g_return_val_if_fail (BT_IS_WINDOW (self), NULL);

  /* The page buttons ask before the template has bound the stack. */
  if (self->page_stack != NULL)
    name = gtk_stack_get_visible_child_name (self->page_stack);
  return name != NULL ? name : "data";
}

void
bt_window_set_page (BtWindow *self, const char *page)
{
  g_return_if_fail (BT_IS_WINDOW (self));
  g_return_if_fail (page != NULL);

  for (guint i = 0; i < G_N_ELEMENTS (page_names); i++)
    {
      if (g_str_equal (page, page_names[i]))
        {
          gtk_stack_set_visible_child_name (self->page_stack, page);
          return;
        }
    }
  g_critical ("%s: no page called “%s”", G_STRFUNC, page);
}
