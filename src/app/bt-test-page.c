/* bt-test-page.c: the Test page of the main window. */
#include "config.h"

#include <glib/gi18n.h>

#include "bt-test-page.h"

struct _BtTestPage
{
  GtkWidget parent_instance;

  /* Owned */
  BtProject *project;
};

G_DEFINE_FINAL_TYPE (BtTestPage, bt_test_page, GTK_TYPE_WIDGET)

static void
bt_test_page_dispose (GObject *object)
{
  BtTestPage *self = BT_TEST_PAGE (object);

  GtkWidget *child;

  gtk_widget_dispose_template (GTK_WIDGET (self), BT_TYPE_TEST_PAGE);
  /* The template's unnamed children are not unparented by dispose_template. */
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self))) != NULL)
    gtk_widget_unparent (child);
  g_clear_object (&self->project);

  G_OBJECT_CLASS (bt_test_page_parent_class)->dispose (object);
}

static void
bt_test_page_class_init (BtTestPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = bt_test_page_dispose;

  gtk_widget_class_set_template_from_resource (widget_class, APP_ID_PATH "/ui/bt-test-page.ui");
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
}

static void
bt_test_page_init (BtTestPage *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

void
bt_test_page_set_project (BtTestPage *self, BtProject *project)
{
  g_return_if_fail (BT_IS_TEST_PAGE (self));

  g_set_object (&self->project, project);
}
