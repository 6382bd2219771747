/* bt-train-page.c: the Train page of the main window. */
#include "config.h"

#include <glib/gi18n.h>

#include "bt-leaderboard.h"
#include "bt-train-page.h"

struct _BtTrainPage
{
  GtkWidget parent_instance;

  /* Owned */
  BtProject *project;
};

G_DEFINE_FINAL_TYPE (BtTrainPage, bt_train_page, GTK_TYPE_WIDGET)

static void
bt_train_page_dispose (GObject *object)
{
  BtTrainPage *self = BT_TRAIN_PAGE (object);

  GtkWidget *child;

  gtk_widget_dispose_template (GTK_WIDGET (self), BT_TYPE_TRAIN_PAGE);
  /* The template's unnamed children are not unparented by dispose_template. */
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self))) != NULL)
    gtk_widget_unparent (child);
  g_clear_object (&self->project);

  G_OBJECT_CLASS (bt_train_page_parent_class)->dispose (object);
}

/* Opens the hyperparameter search (bt-leaderboard.c) in its own window. */
static void
bt_train_page_on_search_clicked (BtTrainPage *self)
{
  if (self->project != NULL)
    bt_leaderboard_present_window (GTK_WINDOW (gtk_widget_get_root (GTK_WIDGET (self))), self->project);
}

static void
bt_train_page_class_init (BtTrainPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = bt_train_page_dispose;

  gtk_widget_class_set_template_from_resource (widget_class, APP_ID_PATH "/ui/bt-train-page.ui");
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
  gtk_widget_class_bind_template_callback (widget_class, bt_train_page_on_search_clicked);
}

static void
bt_train_page_init (BtTrainPage *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

void
bt_train_page_set_project (BtTrainPage *self, BtProject *project)
{
  g_return_if_fail (BT_IS_TRAIN_PAGE (self));

  g_set_object (&self->project, project);
}
