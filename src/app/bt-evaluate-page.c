/* bt-evaluate-page.c: the Evaluate page of the main window. */
#include "config.h"

#include <glib/gi18n.h>

#include "bt-evaluate-page.h"

struct _BtEvaluatePage
{
  GtkWidget parent_instance;

  /* Owned */
  BtProject *project;
};

G_DEFINE_FINAL_TYPE (BtEvaluatePage, bt_evaluate_page, GTK_TYPE_WIDGET)

static void
bt_evaluate_page_dispose (GObject *object)
{
  BtEvaluatePage *self = BT_EVALUATE_PAGE (object);

  GtkWidget *child;

  gtk_widget_dispose_template (GTK_WIDGET (self), BT_TYPE_EVALUATE_PAGE);
  /* The template's unnamed children are not unparented by dispose_template. */
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self))) != NULL)
    gtk_widget_unparent (child);
  g_clear_object (&self->project);

  G_OBJECT_CLASS (bt_evaluate_page_parent_class)->dispose (object);
}

static void
bt_evaluate_page_class_init (BtEvaluatePageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = bt_evaluate_page_dispose;

  gtk_widget_class_set_template_from_resource (widget_class, APP_ID_PATH "/ui/bt-evaluate-page.ui");
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
}

static void
bt_evaluate_page_init (BtEvaluatePage *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

void
bt_evaluate_page_set_project (BtEvaluatePage *self, BtProject *project)
{
  g_return_if_fail (BT_IS_EVALUATE_PAGE (self));

  g_set_object (&self->project, project);
}
