/* bt-backbone-offer.c: BtBackboneOffer, the download of one named backbone (a model's). */
#include "config.h"

#include <glib/gi18n.h>

#include "bt-backbone-offer.h"

struct _BtBackboneOffer
{
  GtkWidget parent_instance;

  GtkWidget      *box, *button, *cancel;
  GtkLabel       *label;
  GtkProgressBar *progress;
  const BtBackboneInfo *info;
  GCancellable   *cancellable;
};

G_DEFINE_FINAL_TYPE (BtBackboneOffer, bt_backbone_offer, GTK_TYPE_WIDGET)

enum { INSTALLED, N_SIGNALS };
static guint signals[N_SIGNALS];

static void
set_busy (BtBackboneOffer *self, gboolean busy)
{
  gtk_widget_set_visible (self->button, !busy && self->info != NULL);
  gtk_widget_set_visible (GTK_WIDGET (self->progress), busy);
  gtk_widget_set_visible (self->cancel, busy);
}

static void
progress_cb (guint64 received, guint64 total, gpointer data)
{
  BtBackboneOffer *self = data;
  g_autofree char *got = g_format_size (received), *all = g_format_size (total);
  g_autofree char *text = g_strdup_printf (_("%s of %s"), got, all);

  if (self->cancellable == NULL)
    return;
  gtk_progress_bar_set_fraction (self->progress, total > 0 ? (double) received / total : 0);
  gtk_progress_bar_set_text (self->progress, text);
}

static void
done_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr(BtBackboneOffer) self = data;
  g_autoptr(GError) error = NULL;
  g_autofree char *path = bt_backbones_download_finish (result, &error);

  g_clear_object (&self->cancellable);
  if (self->box == NULL)
    return;   /* disposed meanwhile */
  set_busy (self, FALSE);
  if (path == NULL)
    {
      gtk_label_set_text (self->label, error->message);
      return;
    }
  {
    g_autofree char *text = g_strdup_printf (_("%s is installed."), self->info->title);
    gtk_label_set_text (self->label, text);
  }
  gtk_widget_set_visible (self->button, FALSE);
  g_signal_emit (self, signals[INSTALLED], 0);
}

static void
download_clicked_cb (BtBackboneOffer *self)
{
  if (self->cancellable != NULL || self->info == NULL)
    return;
  self->cancellable = g_cancellable_new ();
  gtk_progress_bar_set_fraction (self->progress, 0);
  gtk_progress_bar_set_text (self->progress, _("Connecting…"));
  set_busy (self, TRUE);
  bt_backbones_download_async (self->info, self->cancellable, progress_cb, g_object_ref (self), g_object_unref,
                               done_cb, g_object_ref (self));
}

static void
cancel_clicked_cb (BtBackboneOffer *self)
{
  g_cancellable_cancel (self->cancellable);
}

GtkWidget *
bt_backbone_offer_get_button (BtBackboneOffer *self)
{
  g_return_val_if_fail (BT_IS_BACKBONE_OFFER (self), NULL);
  return self->button;
}

const char *
bt_backbone_offer_get_text (BtBackboneOffer *self)
{
  g_return_val_if_fail (BT_IS_BACKBONE_OFFER (self), NULL);
  return gtk_label_get_text (self->label);
}

gboolean
bt_backbone_offer_is_busy (BtBackboneOffer *self)
{
  g_return_val_if_fail (BT_IS_BACKBONE_OFFER (self), FALSE);
  return self->cancellable != NULL;
}

static void
bt_backbone_offer_dispose (GObject *object)
{
  BtBackboneOffer *self = BT_BACKBONE_OFFER (object);

  g_cancellable_cancel (self->cancellable);
  g_clear_pointer (&self->box, gtk_widget_unparent);
  G_OBJECT_CLASS (bt_backbone_offer_parent_class)->dispose (object);
}

static void
bt_backbone_offer_class_init (BtBackboneOfferClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = bt_backbone_offer_dispose;
  signals[INSTALLED] = g_signal_new ("installed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                                     NULL, G_TYPE_NONE, 0);
  gtk_widget_class_set_layout_manager_type (GTK_WIDGET_CLASS (klass), GTK_TYPE_BIN_LAYOUT);
}

static void
bt_backbone_offer_init (BtBackboneOffer *self)
{
  self->box = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 8);
  gtk_widget_set_parent (self->box, GTK_WIDGET (self));
  self->label = GTK_LABEL (gtk_label_new (""));
  gtk_label_set_wrap (self->label, TRUE);
  gtk_label_set_xalign (self->label, 0);
  gtk_label_set_selectable (self->label, TRUE);
  gtk_widget_set_hexpand (GTK_WIDGET (self->label), TRUE);
  self->button = gtk_button_new_with_label ("");
  gtk_widget_add_css_class (self->button, "suggested-action");
  gtk_widget_set_valign (self->button, GTK_ALIGN_CENTER);
  g_signal_connect_swapped (self->button, "clicked", G_CALLBACK (download_clicked_cb), self);
  self->progress = GTK_PROGRESS_BAR (gtk_progress_bar_new ());
  gtk_progress_bar_set_show_text (self->progress, TRUE);
  gtk_widget_set_valign (GTK_WIDGET (self->progress), GTK_ALIGN_CENTER);
  gtk_widget_set_size_request (GTK_WIDGET (self->progress), 160, -1);
  self->cancel = gtk_button_new_with_label (_("Cancel"));
  gtk_widget_set_valign (self->cancel, GTK_ALIGN_CENTER);
  g_signal_connect_swapped (self->cancel, "clicked", G_CALLBACK (cancel_clicked_cb), self);
  gtk_box_append (GTK_BOX (self->box), GTK_WIDGET (self->label));
  gtk_box_append (GTK_BOX (self->box), self->button);
  gtk_box_append (GTK_BOX (self->box), GTK_WIDGET (self->progress));
  gtk_box_append (GTK_BOX (self->box), self->cancel);
}

GtkWidget *
bt_backbone_offer_new (const BtBackboneInfo *info, const char *name, const char *sha256)
{
  BtBackboneOffer *self = g_object_new (BT_TYPE_BACKBONE_OFFER, NULL);
  g_autofree char *text = NULL;

  self->info = info;
  if (info != NULL)
    {
      g_autofree char *size = g_format_size (info->size);
      g_autofree char *label = g_strdup_printf (_("Download (%s)"), size);
      text = g_strdup_printf (_("This model needs the pretrained backbone %s (SHA-256 %.12s…), which is not on "
                                "this computer."), info->title, info->sha256);
      gtk_button_set_label (GTK_BUTTON (self->button), label);
    }
  else
    text = g_strdup_printf (_("This model was trained with the backbone %s (SHA-256 %s), which is not on this "
                              "computer and is not one Bottega can download. Choose that file on the Model page."),
                            name ? name : "?", sha256 ? sha256 : "?");
  gtk_label_set_text (self->label, text);
  set_busy (self, FALSE);
  return GTK_WIDGET (self);
}
