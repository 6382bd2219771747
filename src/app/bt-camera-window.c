/* bt-camera-window.c: taking photos into a class with the camera (bt-camera-window.h). */
#include "config.h"

#include <glib/gi18n.h>

#include "bt-camera-window.h"

#define MAX_SAVES_IN_FLIGHT 4

typedef struct {
  BtProject     *project;
  BtCamera      *camera;
  GtkWindow     *window;       /* borrowed: this struct is its data */
  GtkPicture    *picture;
  GtkLabel      *status;
  GtkDropDown   *classes;
  GtkToggleButton *record;
  GtkSpinButton *rate;
  GtkWidget     *take;
  GCancellable  *cancellable;
  gint64         last_shot;    /* monotonic µs of the last recorded frame */
  gboolean       space_held;   /* Space down: recording while held (a tap is one photo) */
  guint          in_flight, n_added, n_failed;
  gulong         frame_id, error_id;
} CameraWindow;

static void
camera_window_free (CameraWindow *cw)
{
  g_cancellable_cancel (cw->cancellable);
  g_clear_signal_handler (&cw->frame_id, cw->camera);
  g_clear_signal_handler (&cw->error_id, cw->camera);
  bt_camera_stop (cw->camera);
  g_clear_object (&cw->camera);
  g_clear_object (&cw->project);
  g_clear_object (&cw->cancellable);
  g_free (cw);
}

static CameraWindow *
camera_window_of (GtkWindow *window)
{
  return g_object_get_data (G_OBJECT (window), "bt-camera-window");
}

static char *
selected_class (CameraWindow *cw)
{
  GtkStringObject *item = gtk_drop_down_get_selected_item (cw->classes);

  return item ? g_strdup (gtk_string_object_get_string (item)) : NULL;
}

static void
update_status (CameraWindow *cw, const char *class_name)
{
  g_autofree char *text = NULL;

  if (cw->n_failed > 0)
    /* TRANSLATORS: camera window; photos saved, the class, photos that could not be saved */
    text = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%u photo added to “%s”; %u could not be saved",
                                         "%u photos added to “%s”; %u could not be saved", cw->n_added),
                            cw->n_added, class_name, cw->n_failed);
  else
    text = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%u photo added to “%s”", "%u photos added to “%s”",
                                         cw->n_added),
                            cw->n_added, class_name);
  gtk_label_set_text (cw->status, text);
}

/* ---- A shot: frame bytes → JPEG file (worker) → item (main) ---- */

typedef struct {
  GWeakRef   window;
  BtProject *project;
  char      *dir, *class_name, *stem;
  GBytes    *frame;
  int        width, height;
  guint64    hash;
} Shot;

static void
shot_free (Shot *shot)
{
  g_weak_ref_clear (&shot->window);
  g_clear_object (&shot->project);
  g_free (shot->dir);
  g_free (shot->class_name);
  g_free (shot->stem);
  g_bytes_unref (shot->frame);
  g_free (shot);
}

static void
shot_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  Shot *shot = task_data;
  GError *error = NULL;
  char *path = bt_photo_store_rgb (shot->dir, shot->class_name, shot->stem, g_bytes_get_data (shot->frame, NULL),
                                   shot->width, shot->height, shot->width * 3, &shot->hash, &error);

  if (path == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, path, g_free);
}

static void
shot_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Shot *shot = g_task_get_task_data (G_TASK (result));
  g_autoptr(GtkWindow) window = g_weak_ref_get (&shot->window);
  g_autoptr(GError) error = NULL;
  g_autofree char *path = g_task_propagate_pointer (G_TASK (result), &error);
  CameraWindow *cw = window ? camera_window_of (window) : NULL;
  const char *paths[2] = { path, NULL };

  if (cw != NULL)
    cw->in_flight--;
  /* the project keeps the shot even when the window has closed meanwhile */
  if (path != NULL && !bt_project_add_items (shot->project, shot->class_name, paths, &shot->hash, &error))
    g_clear_pointer (&path, g_free);
  if (cw == NULL)
    return;
  if (path != NULL)
    cw->n_added++;
  else
    {
      cw->n_failed++;
      g_warning ("camera shot not saved: %s", error ? error->message : "?");
    }
  update_status (cw, shot->class_name);
}

static void
take_shot (CameraWindow *cw)
{
  g_autoptr(GTask) task = NULL;
  g_autofree char *class_name = selected_class (cw);
  g_autoptr(GDateTime) now = g_date_time_new_now_local ();
  Shot *shot;

  if (class_name == NULL || cw->in_flight >= MAX_SAVES_IN_FLIGHT)
    return;   /* the disk is slower than the camera: this frame is skipped */
  shot = g_new0 (Shot, 1);
  shot->frame = bt_camera_dup_frame (cw->camera, &shot->width, &shot->height);
  if (shot->frame == NULL)
    {
      shot_free (shot);
      return;
    }
  g_weak_ref_init (&shot->window, cw->window);
  shot->project = g_object_ref (cw->project);
  shot->dir = g_strdup (bt_project_get_dir (cw->project));
  shot->class_name = g_steal_pointer (&class_name);
  /* TRANSLATORS: the start of a camera shot's file name; keep it one word */
  shot->stem = g_date_time_format (now, _("camera-%Y%m%d-%H%M%S"));
  cw->in_flight++;
  task = g_task_new (NULL, NULL, shot_done_cb, NULL);
  g_task_set_task_data (task, shot, (GDestroyNotify) shot_free);
  g_task_run_in_thread (task, shot_thread);
}

/* ---- Frames and buttons ---- */

static void
frame_cb (BtCamera *camera, GdkTexture *texture, CameraWindow *cw)
{
  gint64 now = g_get_monotonic_time ();

  gtk_picture_set_paintable (cw->picture, GDK_PAINTABLE (texture));
  gtk_widget_set_sensitive (cw->take, TRUE);
  if ((gtk_toggle_button_get_active (cw->record) || cw->space_held)
      && now - cw->last_shot >= (gint64) (G_USEC_PER_SEC / gtk_spin_button_get_value (cw->rate)))
    {
      cw->last_shot = now;
      take_shot (cw);
    }
}

static void
camera_error_cb (BtCamera *camera, const char *message, CameraWindow *cw)
{
  g_autofree char *text = g_strdup_printf (_("The camera stopped: %s"), message);

  gtk_label_set_text (cw->status, text);
  gtk_toggle_button_set_active (cw->record, FALSE);
  gtk_widget_set_sensitive (cw->take, FALSE);
  gtk_widget_set_sensitive (GTK_WIDGET (cw->record), FALSE);
}

static void
take_clicked_cb (GtkButton *button, CameraWindow *cw)
{
  take_shot (cw);
}

/* Space: a tap takes one photo; held, it records at the chosen rate until released (the key's
 * auto-repeat only keeps it held). */
static gboolean
key_pressed_cb (GtkEventControllerKey *keys, guint keyval, guint keycode, GdkModifierType state, CameraWindow *cw)
{
  if (keyval != GDK_KEY_space || (state & (GDK_CONTROL_MASK | GDK_ALT_MASK)) != 0)
    return FALSE;
  if (!cw->space_held && gtk_widget_get_sensitive (cw->take))
    {
      cw->space_held = TRUE;
      cw->last_shot = g_get_monotonic_time ();
      take_shot (cw);
    }
  return TRUE;
}

static void
key_released_cb (GtkEventControllerKey *keys, guint keyval, guint keycode, GdkModifierType state, CameraWindow *cw)
{
  if (keyval == GDK_KEY_space)
    cw->space_held = FALSE;
}

static void
record_toggled_cb (GtkToggleButton *button, CameraWindow *cw)
{
  /* TRANSLATORS: the camera window's Record button while it records */
  gtk_button_set_label (GTK_BUTTON (button), gtk_toggle_button_get_active (button) ? _("_Stop") : _("_Record"));
  cw->last_shot = 0;
}

static GtkWidget *
controls_row (CameraWindow *cw, GtkStringList *names, guint selected)
{
  GtkWidget *row = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 8);
  GtkWidget *label = gtk_label_new_with_mnemonic (_("C_lass"));
  GtkWidget *per_second = gtk_label_new (_("photos a second"));

  cw->classes = GTK_DROP_DOWN (gtk_drop_down_new (G_LIST_MODEL (g_object_ref (names)), NULL));  /* takes one */
  gtk_drop_down_set_selected (cw->classes, selected);
  gtk_label_set_mnemonic_widget (GTK_LABEL (label), GTK_WIDGET (cw->classes));
  cw->take = gtk_button_new_with_mnemonic (_("_Take Photo"));
  gtk_widget_set_tooltip_text (cw->take, _("Save this frame into the class (Space; hold Space to record)"));
  gtk_widget_add_css_class (cw->take, "suggested-action");
  gtk_widget_set_sensitive (cw->take, FALSE);   /* until the first frame */
  cw->record = GTK_TOGGLE_BUTTON (gtk_toggle_button_new_with_mnemonic (_("_Record")));
  gtk_widget_set_tooltip_text (GTK_WIDGET (cw->record), _("Save frames into the class at the rate beside, until pressed again"));
  cw->rate = GTK_SPIN_BUTTON (gtk_spin_button_new_with_range (1, 15, 1));
  gtk_spin_button_set_value (cw->rate, 2);
  gtk_widget_set_name (GTK_WIDGET (cw->rate), "camera-rate");
  gtk_accessible_update_property (GTK_ACCESSIBLE (cw->rate), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _("Photos a second while recording"), -1);
  g_signal_connect (cw->take, "clicked", G_CALLBACK (take_clicked_cb), cw);
  g_signal_connect (cw->record, "toggled", G_CALLBACK (record_toggled_cb), cw);
  gtk_box_append (GTK_BOX (row), label);
  gtk_box_append (GTK_BOX (row), GTK_WIDGET (cw->classes));
  gtk_box_append (GTK_BOX (row), cw->take);
  gtk_box_append (GTK_BOX (row), GTK_WIDGET (cw->record));
  gtk_box_append (GTK_BOX (row), GTK_WIDGET (cw->rate));
  gtk_box_append (GTK_BOX (row), per_second);
  return row;
}

static GtkStringList *
class_names (BtProject *project, const char *class_name, guint *selected)
{
  GListModel *classes = bt_project_get_classes (project);
  GtkStringList *names = gtk_string_list_new (NULL);

  *selected = 0;
  for (guint i = 0; i < g_list_model_get_n_items (classes); i++)
    {
      g_autoptr(BtClassInfo) info = g_list_model_get_item (classes, i);
      gtk_string_list_append (names, bt_class_info_get_name (info));
      if (g_strcmp0 (class_name, bt_class_info_get_name (info)) == 0)
        *selected = i;
    }
  return names;
}

GtkWindow *
bt_camera_window_new (GtkWindow *parent, BtProject *project, BtCamera *camera, const char *class_name)
{
  CameraWindow *cw = g_new0 (CameraWindow, 1);
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 8);
  g_autoptr(GtkStringList) names = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *title = NULL;
  GtkEventController *keys;
  guint selected;

  g_return_val_if_fail (BT_IS_PROJECT (project) && BT_IS_CAMERA (camera), NULL);
  cw->project = g_object_ref (project);
  cw->camera = camera;
  cw->cancellable = g_cancellable_new ();
  cw->window = GTK_WINDOW (gtk_window_new ());
  /* TRANSLATORS: the camera window's title; %s is the camera's name */
  title = g_strdup_printf (_("Camera — %s"), bt_camera_get_name (camera));
  gtk_window_set_title (cw->window, title);
  gtk_window_set_transient_for (cw->window, parent);
  gtk_window_set_default_size (cw->window, 640, 560);
  g_object_set_data_full (G_OBJECT (cw->window), "bt-camera-window", cw, (GDestroyNotify) camera_window_free);

  cw->picture = GTK_PICTURE (gtk_picture_new ());
  gtk_picture_set_can_shrink (cw->picture, TRUE);
  gtk_widget_set_vexpand (GTK_WIDGET (cw->picture), TRUE);
  gtk_widget_set_size_request (GTK_WIDGET (cw->picture), 320, 240);
  cw->status = GTK_LABEL (gtk_label_new (_("Starting the camera…")));
  gtk_label_set_wrap (cw->status, TRUE);
  gtk_label_set_xalign (cw->status, 0);
  names = class_names (project, class_name, &selected);
  gtk_widget_set_margin_start (box, 12);
  gtk_widget_set_margin_end (box, 12);
  gtk_widget_set_margin_top (box, 12);
  gtk_widget_set_margin_bottom (box, 12);
  gtk_box_append (GTK_BOX (box), GTK_WIDGET (cw->picture));
  gtk_box_append (GTK_BOX (box), controls_row (cw, names, selected));
  gtk_box_append (GTK_BOX (box), GTK_WIDGET (cw->status));
  gtk_window_set_child (cw->window, box);

  /* before the focused widget: Space is the camera's shutter in this window */
  keys = gtk_event_controller_key_new ();
  gtk_event_controller_set_propagation_phase (keys, GTK_PHASE_CAPTURE);
  g_signal_connect (keys, "key-pressed", G_CALLBACK (key_pressed_cb), cw);
  g_signal_connect (keys, "key-released", G_CALLBACK (key_released_cb), cw);
  gtk_widget_add_controller (GTK_WIDGET (cw->window), keys);

  if (g_list_model_get_n_items (G_LIST_MODEL (names)) == 0)
    {
      gtk_label_set_text (cw->status, _("Add a class first: photos go into a class."));
      gtk_widget_set_sensitive (GTK_WIDGET (cw->record), FALSE);
    }
  cw->frame_id = g_signal_connect (camera, "frame", G_CALLBACK (frame_cb), cw);
  cw->error_id = g_signal_connect (camera, "error", G_CALLBACK (camera_error_cb), cw);
  if (!bt_camera_start (camera, &error))
    {
      gtk_label_set_text (cw->status, error->message);
      gtk_widget_set_sensitive (GTK_WIDGET (cw->record), FALSE);
    }
  else if (g_list_model_get_n_items (G_LIST_MODEL (names)) > 0)
    gtk_label_set_text (cw->status, _("Take Photo or Space for one photo; hold Space, or press Record, for a series."));
  return cw->window;
}

guint
bt_camera_window_get_n_added (GtkWindow *window)
{
  CameraWindow *cw = camera_window_of (window);

  return cw ? cw->n_added : 0;
}

guint
bt_camera_window_get_n_saving (GtkWindow *window)
{
  CameraWindow *cw = camera_window_of (window);

  return cw ? cw->in_flight : 0;
}
