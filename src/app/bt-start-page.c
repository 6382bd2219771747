/* bt-start-page.c: the start page. Recent projects come from GtkRecentManager entries that
 * Bottega itself registered (folder URIs with our application name); a row opens the project
 * through the window's win.open-recent action. */
#include "config.h"

#include <glib/gi18n.h>

#include "bt-start-page.h"

#define MAX_RECENT 8
#define RECENT_APP_NAME "bottega"

struct _BtStartPage
{
  GtkWidget parent_instance;

  /* Template widgets */
  GtkWidget  *scrolled;
  GtkListBox *recent_list;
  GtkWidget  *recent_box;

  /* Borrowed */
  GtkRecentManager *manager;
  gulong            changed_id;
};

G_DEFINE_FINAL_TYPE (BtStartPage, bt_start_page, GTK_TYPE_WIDGET)

void
bt_start_page_add_recent (GFile *folder)
{
  g_autofree char *uri = NULL;
  GtkRecentData data = { 0, };
  char *groups[] = { (char *) RECENT_APP_NAME, NULL };

  g_return_if_fail (G_IS_FILE (folder));

  uri = g_file_get_uri (folder);
  data.display_name = NULL;
  data.mime_type = (char *) "inode/directory";
  data.app_name = (char *) RECENT_APP_NAME;
  data.app_exec = (char *) "bottega %u";
  data.groups = groups;
  gtk_recent_manager_add_full (gtk_recent_manager_get_default (), uri, &data);
}

static gint
newest_first (gconstpointer a, gconstpointer b)
{
  GDateTime *ta = gtk_recent_info_get_modified ((GtkRecentInfo *) a);
  GDateTime *tb = gtk_recent_info_get_modified ((GtkRecentInfo *) b);

  return -g_date_time_compare (ta, tb);
}

GList *
bt_start_page_list_recent (guint max)
{
  GList *infos = gtk_recent_manager_get_items (gtk_recent_manager_get_default ());
  GList *out = NULL;
  guint n = 0;

  infos = g_list_sort (infos, newest_first);
  for (GList *l = infos; l != NULL && n < max; l = l->next)
    {
      GtkRecentInfo *info = l->data;

      if (!gtk_recent_info_has_group (info, RECENT_APP_NAME) || !gtk_recent_info_is_local (info))
        continue;
      out = g_list_prepend (out, g_file_new_for_uri (gtk_recent_info_get_uri (info)));
      n++;
    }
  g_list_free_full (infos, (GDestroyNotify) gtk_recent_info_unref);
  return g_list_reverse (out);
}

static void
reload_recent (BtStartPage *self)
{
  GList *recent = bt_start_page_list_recent (MAX_RECENT);
  GtkWidget *child;

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->recent_list))) != NULL)
    gtk_list_box_remove (self->recent_list, child);

  for (GList *l = recent; l != NULL; l = l->next)
    {
      GFile *folder = l->data;
      g_autofree char *name = g_file_get_basename (folder);
      g_autofree char *path = g_file_get_path (folder);
      g_autofree char *display = g_filename_display_name (name);
      g_autofree char *where = g_filename_display_name (path);
      GtkWidget *row = gtk_list_box_row_new ();
      GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 2);
      GtkWidget *title = gtk_label_new (display);
      GtkWidget *subtitle = gtk_label_new (where);

      gtk_label_set_xalign (GTK_LABEL (title), 0);
      gtk_label_set_xalign (GTK_LABEL (subtitle), 0);
      gtk_label_set_ellipsize (GTK_LABEL (subtitle), PANGO_ELLIPSIZE_MIDDLE);
      gtk_widget_add_css_class (subtitle, "dim-label");
      gtk_widget_add_css_class (subtitle, "caption");
      gtk_widget_set_margin_start (box, 12);
      gtk_widget_set_margin_end (box, 12);
      gtk_widget_set_margin_top (box, 8);
      gtk_widget_set_margin_bottom (box, 8);
      gtk_box_append (GTK_BOX (box), title);
      gtk_box_append (GTK_BOX (box), subtitle);
      gtk_list_box_row_set_child (GTK_LIST_BOX_ROW (row), box);
      gtk_actionable_set_action_name (GTK_ACTIONABLE (row), "win.open-recent");
      gtk_actionable_set_action_target (GTK_ACTIONABLE (row), "s", path);
      gtk_accessible_update_property (GTK_ACCESSIBLE (row), GTK_ACCESSIBLE_PROPERTY_LABEL, display, -1);
      gtk_widget_set_tooltip_text (row, where);
      gtk_list_box_append (self->recent_list, row);
    }
  gtk_widget_set_visible (self->recent_box, recent != NULL);
  g_list_free_full (recent, g_object_unref);
}

guint
bt_start_page_get_n_recent (BtStartPage *self)
{
  guint n = 0;

  g_return_val_if_fail (BT_IS_START_PAGE (self), 0);

  for (GtkWidget *c = gtk_widget_get_first_child (GTK_WIDGET (self->recent_list)); c; c = gtk_widget_get_next_sibling (c))
    n++;
  return n;
}

static void
bt_start_page_dispose (GObject *object)
{
  BtStartPage *self = BT_START_PAGE (object);

  if (self->manager != NULL)
    g_clear_signal_handler (&self->changed_id, self->manager);
  gtk_widget_dispose_template (GTK_WIDGET (self), BT_TYPE_START_PAGE);

  G_OBJECT_CLASS (bt_start_page_parent_class)->dispose (object);
}

static void
bt_start_page_class_init (BtStartPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = bt_start_page_dispose;

  gtk_widget_class_set_template_from_resource (widget_class, APP_ID_PATH "/ui/bt-start-page.ui");
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
  gtk_widget_class_bind_template_child (widget_class, BtStartPage, scrolled);
  gtk_widget_class_bind_template_child (widget_class, BtStartPage, recent_list);
  gtk_widget_class_bind_template_child (widget_class, BtStartPage, recent_box);
}

static void
bt_start_page_init (BtStartPage *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));

  self->manager = gtk_recent_manager_get_default ();
  self->changed_id = g_signal_connect_object (self->manager, "changed", G_CALLBACK (reload_recent), self,
                                              G_CONNECT_SWAPPED);
  reload_recent (self);
}
