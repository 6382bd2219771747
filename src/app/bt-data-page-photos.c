/* bt-data-page-photos.c: photos that reach the Data page without being files here: Ctrl+V
 * (copied files, image data, an image's web address), images and addresses dragged from a web
 * browser, and camera shots (bt-camera-window.c). They are kept as files in the project's own
 * images/<class>/ folder by a worker (bt-photo-intake.c), then added to the class. */
#include "config.h"

#include <glib/gi18n.h>

#include "bt-camera-window.h"
#include "bt-data-page-private.h"
#include "bt-photo-intake.h"

typedef struct {
  GWeakRef  page;
  BtProject *project;
  char      *class_name;
} StoreRequest;

static void
store_request_free (StoreRequest *req)
{
  g_weak_ref_clear (&req->page);
  g_clear_object (&req->project);
  g_free (req->class_name);
  g_free (req);
}

/* The class for photos without a folder name: the given one, else the class selected on the left. */
static const char *
target_class (BtDataPage *self, const char *class_name)
{
  if (class_name != NULL)
    return class_name;
  if (self->selected_class != NULL && self->project != NULL
      && bt_project_find_class (self->project, self->selected_class) >= 0)
    return self->selected_class;
  return NULL;
}

static void
stored_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  StoreRequest *req = user_data;
  g_autoptr(BtDataPage) self = g_weak_ref_get (&req->page);
  g_autoptr(BtIntakeStored) stored = bt_intake_store_finish (result);
  g_autoptr(GError) error = NULL;
  g_autofree char *message = NULL;

  if (self == NULL || stored == NULL || self->project != req->project)
    {
      store_request_free (req);
      return;
    }
  g_ptr_array_add (stored->paths, NULL);
  if (stored->paths->len > 1
      && !bt_project_add_items (self->project, req->class_name, (const char * const *) stored->paths->pdata,
                                (const guint64 *) stored->hashes->data, &error))
    _bt_data_page_show_error (self, _("The images could not be added"), error);
  else if (stored->errors->len > 0)
    {
      /* the first reason in full; the page's toast is one line */
      if (stored->paths->len > 1)
        message = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "Added %u image to “%s”; %s",
                                                "Added %u images to “%s”; %s", stored->paths->len - 1),
                                   stored->paths->len - 1, req->class_name, (char *) stored->errors->pdata[0]);
      else
        message = g_strdup (stored->errors->pdata[0]);
      _bt_data_page_show_toast (self, message, NULL, NULL);
    }
  else if (stored->paths->len > 1)
    {
      message = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "Added %u image to “%s”",
                                              "Added %u images to “%s”", stored->paths->len - 1),
                                 stored->paths->len - 1, req->class_name);
      _bt_data_page_show_toast (self, message, NULL, NULL);
    }
  store_request_free (req);
}

/* Takes intake: local paths go through the ordinary import, web addresses and image data are
 * kept in the class's folder first. */
static void
_bt_data_page_take_intake (BtDataPage *self, BtIntake *intake, const char *class_name)
{
  const char *target;
  StoreRequest *req;

  if (self->project == NULL)
    {
      _bt_data_page_show_toast (self, _("Open or create a project first"), NULL, NULL);
      bt_intake_free (intake);
      return;
    }
  if (intake->paths->len > 0)
    {
      /* into the class selected on the left; with none selected, as a drop (folders are classes) */
      g_ptr_array_add (intake->paths, NULL);
      bt_data_page_import_paths (self, (const char * const *) intake->paths->pdata, target_class (self, class_name));
      g_ptr_array_remove_index (intake->paths, intake->paths->len - 1);
    }
  if (intake->urls->len == 0 && intake->images->len == 0)
    {
      bt_intake_free (intake);
      return;
    }
  if ((target = target_class (self, class_name)) == NULL)
    {
      _bt_data_page_show_toast (self, _("Select a class on the left first, then paste or drop the image again"),
                                NULL, NULL);
      bt_intake_free (intake);
      return;
    }
  req = g_new0 (StoreRequest, 1);
  g_weak_ref_init (&req->page, self);
  req->project = g_object_ref (self->project);
  req->class_name = g_strdup (target);
  gtk_label_set_text (self->status_label, intake->urls->len > 0 ? _("Downloading the image…")
                                                                 : _("Adding the pasted image…"));
  /* TRANSLATORS: the start of the file name of a pasted or downloaded image */
  bt_intake_store_async (intake, bt_project_get_dir (self->project), target, _("pasted"), NULL, stored_cb, req);
}

/* Files dropped or pasted: TRUE when some are web addresses (then all of them are taken here). */
gboolean
_bt_data_page_take_web_files (BtDataPage *self, GSList *files, const char *class_name)
{
  g_autoptr(BtIntake) intake = bt_intake_new ();

  bt_intake_add_files (intake, files, NULL);
  if (intake->urls->len == 0)
    return FALSE;
  _bt_data_page_take_intake (self, g_steal_pointer (&intake), class_name);
  return TRUE;
}

typedef struct {
  GWeakRef  page;
  char     *class_name;
} TextureJob;

static void
texture_png_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  TextureJob *job = user_data;
  g_autoptr(BtDataPage) self = g_weak_ref_get (&job->page);
  g_autoptr(GBytes) png = bt_intake_texture_png_finish (result);

  if (self != NULL && png != NULL)
    {
      BtIntake *intake = bt_intake_new ();
      g_ptr_array_add (intake->images, g_steal_pointer (&png));
      _bt_data_page_take_intake (self, intake, job->class_name);
    }
  g_weak_ref_clear (&job->page);
  g_free (job->class_name);
  g_free (job);
}

/* An image dragged from a web browser as pixels (no address, no file). */
void
_bt_data_page_take_texture (BtDataPage *self, GdkTexture *texture, const char *class_name)
{
  g_autoptr(GTask) task = NULL;
  TextureJob *job;

  if (target_class (self, class_name) == NULL)
    {
      _bt_data_page_show_toast (self, _("Drop the image onto a class on the left"), NULL, NULL);
      return;
    }
  job = g_new0 (TextureJob, 1);
  g_weak_ref_init (&job->page, self);
  job->class_name = g_strdup (class_name);
  bt_intake_texture_png_async (texture, NULL, texture_png_cb, job);
}

static void
paste_read_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(BtDataPage) self = user_data;
  g_autoptr(GError) error = NULL;
  BtIntake *intake = bt_intake_read_clipboard_finish (result, &error);

  if (intake == NULL)
    {
      _bt_data_page_show_toast (self, error->message, NULL, NULL);
      return;
    }
  _bt_data_page_take_intake (self, intake, NULL);
}

static void
paste_action (GtkWidget *widget, const char *action_name, GVariant *param)
{
  bt_intake_read_clipboard_async (gtk_widget_get_clipboard (widget), NULL, paste_read_cb, g_object_ref (widget));
}

/* ---- The camera ---- */

static void
camera_found_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(BtDataPage) self = user_data;
  g_autoptr(GError) error = NULL;
  BtCamera *camera = bt_camera_find_finish (result, &error);
  GtkWindow *window;

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  g_clear_object (&self->camera_search);
  gtk_widget_set_sensitive (GTK_WIDGET (self->camera_button), TRUE);
  if (camera == NULL)
    {
      /* the button itself says so, with the reason in its tooltip, until a camera appears */
      gtk_button_set_label (self->camera_button, _("No Camera"));
      gtk_widget_set_tooltip_text (GTK_WIDGET (self->camera_button), error->message);
      _bt_data_page_show_toast (self, error->message, NULL, NULL);
      return;
    }
  gtk_button_set_icon_name (self->camera_button, "camera-photo-symbolic");
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->camera_button), _("Take Photos with the Camera…"));
  if (self->project == NULL)
    {
      g_object_unref (camera);
      return;
    }
  window = bt_camera_window_new (GTK_WINDOW (gtk_widget_get_root (GTK_WIDGET (self))), self->project, camera,
                                 target_class (self, NULL));
  gtk_window_present (window);
}

static void
camera_action (GtkWidget *widget, const char *action_name, GVariant *param)
{
  BtDataPage *self = BT_DATA_PAGE (widget);

  if (self->project == NULL)
    {
      _bt_data_page_show_toast (self, _("Open or create a project first"), NULL, NULL);
      return;
    }
  if (self->camera_search != NULL)
    return;
  self->camera_search = g_cancellable_new ();
  gtk_widget_set_sensitive (GTK_WIDGET (self->camera_button), FALSE);
  bt_camera_find_async (self->camera_search, camera_found_cb, g_object_ref (self));
}

void
_bt_data_page_photos_class_init (GtkWidgetClass *widget_class)
{
  gtk_widget_class_install_action (widget_class, "data.camera", NULL, camera_action);
  gtk_widget_class_install_action (widget_class, "data.paste", NULL, paste_action);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_v, GDK_CONTROL_MASK, "data.paste", NULL);
}
