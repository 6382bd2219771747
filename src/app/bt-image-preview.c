/* bt-image-preview.c: the large preview of one image (double-click or Space on a thumbnail).
 * The file is read and decoded by a GTask worker; Escape closes. */
#include "config.h"

#include <glib/gi18n.h>
#include <glib/gstdio.h>

#include "bt-image-preview.h"
#include "bt-thumbnailer.h"

#define PREVIEW_SIZE 1024

struct _BtImagePreview
{
  GtkWindow parent_instance;

  /* Widgets */
  GtkWidget    *picture;
  GtkWidget    *spinner;
  GtkWidget    *details;

  /* Owned */
  BtItem       *item;
  GCancellable *cancellable;
  char         *details_text;
  gboolean      loaded;
};

G_DEFINE_FINAL_TYPE (BtImagePreview, bt_image_preview, GTK_TYPE_WINDOW)

typedef struct {
  char    *path;
  GBytes  *pixels;
  int      width, height, orig_width, orig_height;
  goffset  size;
} PreviewJob;

static void
preview_job_free (PreviewJob *job)
{
  g_free (job->path);
  g_clear_pointer (&job->pixels, g_bytes_unref);
  g_free (job);
}

static void
preview_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  PreviewJob *job = task_data;
  GError *error = NULL;
  GStatBuf st;

  if (g_stat (job->path, &st) == 0)
    job->size = st.st_size;
  job->pixels = bt_thumbnail_decode (job->path, PREVIEW_SIZE, &job->width, &job->height,
                                     &job->orig_width, &job->orig_height, cancellable, &error);
  if (job->pixels == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

static void
update_details (BtImagePreview *self, PreviewJob *job, const GError *error)
{
  const char *split_names[] = { N_("Training"), N_("Validation"), N_("Test") };
  g_autofree char *name = g_filename_display_basename (bt_item_get_path (self->item));
  g_autofree char *size = job && job->size > 0 ? g_format_size (job->size) : g_strdup (_("unknown"));
  g_autofree char *dims = job && job->pixels ? g_strdup_printf ("%d × %d", job->orig_width, job->orig_height)
                                             : g_strdup (error ? error->message : _("loading…"));
  const char *state = bt_item_get_missing (self->item) ? _("The file is missing")
                    : bt_item_get_excluded (self->item) ? _("Excluded from training") : "";

  g_free (self->details_text);
  self->details_text = g_strdup_printf (_("%s\nSize: %s · Dimensions: %s\nClass: %s · Split: %s%s%s"),
                                        name, size, dims, bt_item_get_class_name (self->item),
                                        _(split_names[bt_item_get_split (self->item)]),
                                        state[0] ? "\n" : "", state);
  gtk_label_set_text (GTK_LABEL (self->details), self->details_text);
  gtk_window_set_title (GTK_WINDOW (self), name);
}

static void
preview_done_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(BtImagePreview) self = user_data;
  PreviewJob *job = g_task_get_task_data (G_TASK (res));
  g_autoptr(GError) error = NULL;

  if (!g_task_propagate_boolean (G_TASK (res), &error))
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return;
    }
  self->loaded = TRUE;
  gtk_spinner_stop (GTK_SPINNER (self->spinner));
  gtk_widget_set_visible (self->spinner, FALSE);
  if (job->pixels != NULL)
    {
      g_autoptr(GdkTexture) texture = bt_thumbnail_texture_new (job->pixels, job->width, job->height);
      gtk_picture_set_paintable (GTK_PICTURE (self->picture), GDK_PAINTABLE (texture));
    }
  update_details (self, job, error);
}

gboolean
bt_image_preview_get_loaded (BtImagePreview *self)
{
  g_return_val_if_fail (BT_IS_IMAGE_PREVIEW (self), FALSE);

  return self->loaded;
}

const char *
bt_image_preview_get_details (BtImagePreview *self)
{
  g_return_val_if_fail (BT_IS_IMAGE_PREVIEW (self), NULL);

  return self->details_text;
}

static void
bt_image_preview_dispose (GObject *object)
{
  BtImagePreview *self = BT_IMAGE_PREVIEW (object);

  if (self->cancellable)
    g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->item);

  G_OBJECT_CLASS (bt_image_preview_parent_class)->dispose (object);
}

static void
bt_image_preview_finalize (GObject *object)
{
  BtImagePreview *self = BT_IMAGE_PREVIEW (object);

  g_free (self->details_text);

  G_OBJECT_CLASS (bt_image_preview_parent_class)->finalize (object);
}

static void
bt_image_preview_class_init (BtImagePreviewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = bt_image_preview_dispose;
  object_class->finalize = bt_image_preview_finalize;

  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Escape, 0, "window.close", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_space, 0, "window.close", NULL);
}

static void
bt_image_preview_init (BtImagePreview *self)
{
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 12);
  GtkWidget *overlay = gtk_overlay_new ();

  gtk_window_set_default_size (GTK_WINDOW (self), 720, 640);
  gtk_window_set_titlebar (GTK_WINDOW (self), gtk_header_bar_new ());

  self->picture = gtk_picture_new ();
  gtk_widget_set_vexpand (self->picture, TRUE);
  gtk_picture_set_can_shrink (GTK_PICTURE (self->picture), TRUE);
  gtk_accessible_update_property (GTK_ACCESSIBLE (self->picture), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _("Image"), -1);
  gtk_overlay_set_child (GTK_OVERLAY (overlay), self->picture);
  self->spinner = gtk_spinner_new ();
  gtk_widget_set_size_request (self->spinner, 32, 32);
  gtk_widget_set_halign (self->spinner, GTK_ALIGN_CENTER);
  gtk_widget_set_valign (self->spinner, GTK_ALIGN_CENTER);
  gtk_spinner_start (GTK_SPINNER (self->spinner));
  gtk_overlay_add_overlay (GTK_OVERLAY (overlay), self->spinner);
  gtk_box_append (GTK_BOX (box), overlay);

  self->details = gtk_label_new (NULL);
  gtk_label_set_selectable (GTK_LABEL (self->details), TRUE);
  gtk_label_set_wrap (GTK_LABEL (self->details), TRUE);
  gtk_label_set_justify (GTK_LABEL (self->details), GTK_JUSTIFY_CENTER);
  gtk_widget_set_margin_bottom (self->details, 12);
  gtk_widget_set_margin_start (self->details, 12);
  gtk_widget_set_margin_end (self->details, 12);
  gtk_box_append (GTK_BOX (box), self->details);
  gtk_window_set_child (GTK_WINDOW (self), box);
}

BtImagePreview *
bt_image_preview_new (GtkWindow *parent,
                      BtItem    *item)
{
  BtImagePreview *self;
  g_autoptr(GTask) task = NULL;
  PreviewJob *job;

  g_return_val_if_fail (parent == NULL || GTK_IS_WINDOW (parent), NULL);
  g_return_val_if_fail (BT_IS_ITEM (item), NULL);

  self = g_object_new (BT_TYPE_IMAGE_PREVIEW, "transient-for", parent, "modal", TRUE, NULL);
  self->item = g_object_ref (item);
  self->cancellable = g_cancellable_new ();
  update_details (self, NULL, NULL);

  job = g_new0 (PreviewJob, 1);
  job->path = g_strdup (bt_item_get_path (item));
  task = g_task_new (NULL, self->cancellable, preview_done_cb, g_object_ref (self));
  g_task_set_task_data (task, job, (GDestroyNotify) preview_job_free);
  g_task_run_in_thread (task, preview_thread);
  return self;
}
