/* bt-review-button.c: the Review button with the doctor's badge (see bt-review-button.h). */
#include "config.h"

#include <glib/gi18n.h>

#include "bt-review-button.h"
#include "bt-review-window.h"
#include "bt-window.h"
#include "dataset/bt-undo.h"

struct _BtReviewButton
{
  GtkButton parent_instance;

  BtWindow      *window;     /* the root while rooted (not a reference) */
  BtProject     *project;    /* the window's project, watched */
};

G_DEFINE_FINAL_TYPE (BtReviewButton, bt_review_button, GTK_TYPE_BUTTON)

static void
update (BtReviewButton *self)
{
  BtDoctorState *state = self->project ? bt_doctor_state_get (self->project) : NULL;
  g_autofree char *label = NULL;

  gtk_widget_set_sensitive (GTK_WIDGET (self), self->project != NULL);
  gtk_widget_remove_css_class (GTK_WIDGET (self), "suggested-action");
  if (state != NULL && bt_doctor_state_is_running (state))
    {
      double fraction = 0;
      bt_doctor_state_get_stage (state, &fraction);
      /* TRANSLATORS: the Review button while the doctor runs, with its progress */
      label = g_strdup_printf (_("Checking… %.0f%%"), 100.0 * fraction);
    }
  else if (state != NULL && bt_doctor_state_get_report (state) != NULL)
    {
      guint open = bt_doctor_state_count_open (state, BT_FINDING_N_KINDS);
      /* TRANSLATORS: the Review button's badge: how many findings are left to look at */
      label = g_strdup_printf (_("Review · %u"), open);
      if (open > 0)
        gtk_widget_add_css_class (GTK_WIDGET (self), "suggested-action");
    }
  else
    label = g_strdup (_("Review…"));
  gtk_button_set_label (GTK_BUTTON (self), label);
}

static void
watch_project (BtReviewButton *self, BtProject *project)
{
  if (project == self->project)
    return;
  if (self->project != NULL)
    {
      g_signal_handlers_disconnect_by_data (bt_doctor_state_get (self->project), self);
      g_signal_handlers_disconnect_by_data (bt_undo_stack_get (self->project), self);
    }
  g_set_object (&self->project, project);
  if (project != NULL)
    {
      BtDoctorState *state = bt_doctor_state_get (project);
      g_signal_connect_object (state, "changed", G_CALLBACK (update), self, G_CONNECT_SWAPPED);
      g_signal_connect_object (state, "progress", G_CALLBACK (update), self, G_CONNECT_SWAPPED);
      /* a relabel elsewhere may resolve a finding */
      g_signal_connect_object (bt_undo_stack_get (project), "changed", G_CALLBACK (update), self,
                               G_CONNECT_SWAPPED);
    }
  update (self);
}

static void
window_project_cb (BtReviewButton *self)
{
  watch_project (self, self->window ? bt_window_get_project (self->window) : NULL);
}

static void
bt_review_button_root (GtkWidget *widget)
{
  BtReviewButton *self = BT_REVIEW_BUTTON (widget);
  GtkRoot *root;

  GTK_WIDGET_CLASS (bt_review_button_parent_class)->root (widget);
  root = gtk_widget_get_root (widget);
  if (BT_IS_WINDOW (root))
    {
      self->window = BT_WINDOW (root);
      g_signal_connect_object (root, "notify::project", G_CALLBACK (window_project_cb), self, G_CONNECT_SWAPPED);
    }
  window_project_cb (self);
}

static void
bt_review_button_unroot (GtkWidget *widget)
{
  BtReviewButton *self = BT_REVIEW_BUTTON (widget);

  if (self->window != NULL)
    g_signal_handlers_disconnect_by_data (self->window, self);
  self->window = NULL;
  watch_project (self, NULL);
  GTK_WIDGET_CLASS (bt_review_button_parent_class)->unroot (widget);
}

static void
bt_review_button_clicked (GtkButton *button)
{
  BtReviewButton *self = BT_REVIEW_BUTTON (button);

  if (self->project != NULL)
    bt_review_window_present (GTK_WINDOW (self->window), self->project);
}

static void
bt_review_button_dispose (GObject *object)
{
  watch_project (BT_REVIEW_BUTTON (object), NULL);
  G_OBJECT_CLASS (bt_review_button_parent_class)->dispose (object);
}

static void
bt_review_button_class_init (BtReviewButtonClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = bt_review_button_dispose;
  GTK_WIDGET_CLASS (klass)->root = bt_review_button_root;
  GTK_WIDGET_CLASS (klass)->unroot = bt_review_button_unroot;
  GTK_BUTTON_CLASS (klass)->clicked = bt_review_button_clicked;
}

static void
bt_review_button_init (BtReviewButton *self)
{
  gtk_widget_set_tooltip_text (GTK_WIDGET (self),
                               _("Find images that are probably mislabelled, duplicated, unlike the others or "
                                 "of poor quality, and fix them one key at a time"));
  update (self);
}

GtkWidget *
bt_review_button_new (void)
{
  return g_object_new (BT_TYPE_REVIEW_BUTTON, NULL);
}
