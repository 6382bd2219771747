/* bt-explain-view.c: the Test page's explanation overlay and its control row (#23). The map is
 * computed by bt_explain_image on the model runner (never on the main thread); a newer image,
 * class or model makes older jobs' results be dropped (a generation count + cancellable). */
#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "bt-explain-view.h"
#include "training/bt-model-runner.h"

#define MAP_MAX 256   /* the map's longer side; the overlay scales it to the picture */

/* ---- BtHeatOverlay ---- */

struct _BtHeatOverlay
{
  GtkWidget   parent_instance;
  GdkTexture *texture;
  int         map_w, map_h;
  double      opacity;
};

G_DEFINE_FINAL_TYPE (BtHeatOverlay, bt_heat_overlay, GTK_TYPE_WIDGET)

static void
bt_heat_overlay_snapshot (GtkWidget *widget, GtkSnapshot *snapshot)
{
  BtHeatOverlay *self = BT_HEAT_OVERLAY (widget);
  double w = gtk_widget_get_width (widget), h = gtk_widget_get_height (widget);
  double s, dw, dh;

  if (self->texture == NULL || w <= 0 || h <= 0 || self->opacity <= 0)
    return;
  /* the picture's fit: the whole image, centred, aspect kept */
  s = MIN (w / self->map_w, h / self->map_h);
  dw = self->map_w * s;
  dh = self->map_h * s;
  gtk_snapshot_push_opacity (snapshot, self->opacity);
  gtk_snapshot_append_texture (snapshot, self->texture,
                               &GRAPHENE_RECT_INIT ((float) ((w - dw) / 2), (float) ((h - dh) / 2),
                                                    (float) dw, (float) dh));
  gtk_snapshot_pop (snapshot);
}

static void
bt_heat_overlay_dispose (GObject *object)
{
  g_clear_object (&BT_HEAT_OVERLAY (object)->texture);
  G_OBJECT_CLASS (bt_heat_overlay_parent_class)->dispose (object);
}

static void
bt_heat_overlay_class_init (BtHeatOverlayClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = bt_heat_overlay_dispose;
  GTK_WIDGET_CLASS (klass)->snapshot = bt_heat_overlay_snapshot;
}

static void
bt_heat_overlay_init (BtHeatOverlay *self)
{
  self->opacity = 0.6;
  gtk_widget_set_can_target (GTK_WIDGET (self), FALSE);   /* clicks and drops reach the picture */
}

void
bt_heat_overlay_set_map (BtHeatOverlay *self, const BtHeatmap *map)
{
  g_return_if_fail (BT_IS_HEAT_OVERLAY (self));
  g_clear_object (&self->texture);
  if (map != NULL && map->width > 0 && map->height > 0)
    {
      g_autofree guint8 *rgba = bt_heatmap_to_rgba (map, 1.0);
      g_autoptr(GBytes) bytes = g_bytes_new_take (g_steal_pointer (&rgba), (gsize) map->width * map->height * 4);
      self->texture = gdk_memory_texture_new (map->width, map->height, GDK_MEMORY_R8G8B8A8, bytes,
                                              (gsize) map->width * 4);
      self->map_w = map->width;
      self->map_h = map->height;
    }
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

void
bt_heat_overlay_set_opacity (BtHeatOverlay *self, double opacity)
{
  g_return_if_fail (BT_IS_HEAT_OVERLAY (self));
  self->opacity = CLAMP (opacity, 0.0, 1.0);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

gboolean
bt_heat_overlay_has_map (BtHeatOverlay *self)
{
  g_return_val_if_fail (BT_IS_HEAT_OVERLAY (self), FALSE);
  return self->texture != NULL;
}

double
bt_heat_overlay_get_opacity (BtHeatOverlay *self)
{
  g_return_val_if_fail (BT_IS_HEAT_OVERLAY (self), 0);
  return self->opacity;
}

/* ---- BtExplainBar ---- */

struct _BtExplainBar
{
  GtkWidget      parent_instance;
  GtkWidget     *box;
  GtkWidget     *toggle;
  GtkWidget     *classes;     /* GtkDropDown */
  GtkWidget     *method;      /* GtkDropDown: occlusion, Grad-CAM */
  GtkWidget     *opacity;     /* GtkScale */
  GtkWidget     *status;
  BtHeatOverlay *overlay;     /* borrowed (a sibling in the page) */
  BtProbabilityBars *bars;    /* borrowed */

  BtSharedModel *model;
  char          *path;
  BtImage       *image;
  GCancellable  *cancellable;
  guint          generation;
  gboolean       busy, setting;
  BtHeatmap     *map;
};

G_DEFINE_FINAL_TYPE (BtExplainBar, bt_explain_bar, GTK_TYPE_WIDGET)

typedef struct {
  GWeakRef       bar;
  guint          generation;
  BtSharedModel *model;
  char          *path;
  BtImage       *image;
  int            class_index;
  BtExplainMethod method;
} ExplainJob;

static void
explain_job_free (ExplainJob *job)
{
  g_weak_ref_clear (&job->bar);
  g_clear_pointer (&job->model, bt_shared_model_unref);
  g_free (job->path);
  g_clear_pointer (&job->image, bt_image_free);
  g_free (job);
}

static void
explain_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  ExplainJob *job = task_data;
  GError *error = NULL;
  BtHeatmap *map;
  BtModel *model;
  gboolean was = bt_image_set_thread_foreground (TRUE);   /* asked for at the window */

  model = bt_shared_model_lock (job->model);
  if (job->image != NULL)
    {
      /* a pasted image: the map at most MAP_MAX a side (the overlay scales it) */
      double s = MIN (1.0, (double) MAP_MAX / MAX (job->image->width, job->image->height));
      map = bt_explain_image (model, job->image, job->class_index, job->method,
                              MAX (1, (int) (job->image->width * s + 0.5)),
                              MAX (1, (int) (job->image->height * s + 0.5)), cancellable, &error);
    }
  else
    map = bt_explain_file (model, job->path, job->class_index, job->method, MAP_MAX, NULL, cancellable, &error);
  bt_shared_model_unlock (job->model);
  bt_image_set_thread_foreground (was);
  if (map == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, map, (GDestroyNotify) bt_heatmap_free);
}

static void
set_status (BtExplainBar *self, const char *text)
{
  gtk_label_set_text (GTK_LABEL (self->status), text);
  gtk_widget_set_tooltip_text (self->status, text);
}

static void
describe_map (BtExplainBar *self)
{
  const char * const *names = bt_shared_model_get_class_names (self->model);
  g_autofree char *text = NULL;

  if (self->map->method == BT_EXPLAIN_GRADCAM)
    /* Translators: under the Test page's image; Grad-CAM is a method's name */
    text = g_strdup_printf (_("Red and yellow: what made it say “%s” (Grad-CAM)"), names[self->map->class_index]);
  else
    /* Translators: under the Test page's image; covering these parts lowered the class's probability most */
    text = g_strdup_printf (_("Red and yellow: covering these parts lowers “%s” most"), names[self->map->class_index]);
  set_status (self, text);
}

static void
explain_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  ExplainJob *job = g_task_get_task_data (G_TASK (result));
  g_autoptr(BtExplainBar) self = g_weak_ref_get (&job->bar);
  g_autoptr(GError) error = NULL;
  BtHeatmap *map = g_task_propagate_pointer (G_TASK (result), &error);

  if (self == NULL || job->generation != self->generation)
    {
      g_clear_pointer (&map, bt_heatmap_free);
      return;
    }
  self->busy = FALSE;
  g_clear_pointer (&self->map, bt_heatmap_free);
  self->map = map;
  if (self->overlay)
    bt_heat_overlay_set_map (self->overlay, map);
  if (map != NULL)
    describe_map (self);
  else if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      g_autofree char *text = g_strdup_printf (_("No explanation: %s"), error->message);
      set_status (self, text);
    }
}

static void
clear_map (BtExplainBar *self)
{
  self->generation++;
  self->busy = FALSE;
  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  g_clear_pointer (&self->map, bt_heatmap_free);
  if (self->overlay)
    bt_heat_overlay_set_map (self->overlay, NULL);
}

static void
recompute (BtExplainBar *self)
{
  gboolean on = gtk_check_button_get_active (GTK_CHECK_BUTTON (self->toggle));
  gboolean have = self->model != NULL && (self->path != NULL || self->image != NULL);
  guint cls = gtk_drop_down_get_selected (GTK_DROP_DOWN (self->classes));
  g_autoptr(GTask) task = NULL;
  ExplainJob *job;

  clear_map (self);
  /* heat maps are made from a Bottega model's layers: nothing to switch on without one (nothing
   * open, or a .tflite file opened as it is) */
  gtk_widget_set_sensitive (self->toggle, self->model != NULL);
  gtk_widget_set_tooltip_text (self->toggle, self->model != NULL
                               ? _("Colour the parts of the image the answer came from (a heat map: yellow is hottest)")
                               : _("Heat maps are made for Bottega models: open one of this project’s models (a .tflite file is only run)"));
  gtk_widget_set_sensitive (self->opacity, on && have);
  gtk_widget_set_sensitive (self->classes, on && have);
  gtk_widget_set_sensitive (self->method, on && have);
  if (!have || !on || cls == GTK_INVALID_LIST_POSITION)
    {
      set_status (self, have ? _("See which parts of the image the answer came from") : "");
      return;
    }
  self->busy = TRUE;
  self->cancellable = g_cancellable_new ();
  set_status (self, _("Looking at what the model saw…"));
  job = g_new0 (ExplainJob, 1);
  g_weak_ref_init (&job->bar, self);
  job->generation = self->generation;
  job->model = bt_shared_model_ref (self->model);
  job->path = g_strdup (self->path);
  job->image = self->image ? bt_image_copy (self->image) : NULL;
  job->class_index = (int) cls;
  job->method = gtk_drop_down_get_selected (GTK_DROP_DOWN (self->method)) == 1 ? BT_EXPLAIN_GRADCAM
                                                                               : BT_EXPLAIN_OCCLUSION;
  task = g_task_new (NULL, self->cancellable, explain_done_cb, NULL);
  g_task_set_task_data (task, job, (GDestroyNotify) explain_job_free);
  bt_model_runner_run_in_thread (bt_model_runner_get_default (), task, explain_thread);
}

static void
toggled_cb (BtExplainBar *self)
{
  recompute (self);
}

static void
class_chosen_cb (BtExplainBar *self)
{
  if (!self->setting)
    recompute (self);
}

static void
opacity_changed_cb (BtExplainBar *self)
{
  if (self->overlay)
    bt_heat_overlay_set_opacity (self->overlay, gtk_range_get_value (GTK_RANGE (self->opacity)));
}

/* A click on a probability bar explains that class (and turns the map on). */
static void
bars_pressed_cb (GtkGestureClick *gesture, int n_press, double x, double y, BtExplainBar *self)
{
  int width = gtk_widget_get_width (GTK_WIDGET (self->bars)), height = gtk_widget_get_height (GTK_WIDGET (self->bars));

  for (guint row = 0; row < bt_probability_bars_get_n (self->bars); row++)
    {
      graphene_rect_t area;
      double full_x;
      if (bt_probability_bars_get_bar_area (self->bars, width, height, row, &area, &full_x) &&
          y >= area.origin.y - 2 && y <= area.origin.y + area.size.height + 2)
        {
          int cls = bt_probability_bars_get_class_at_row (self->bars, row);
          if (cls < 0 || self->model == NULL)
            return;
          self->setting = TRUE;
          gtk_drop_down_set_selected (GTK_DROP_DOWN (self->classes), (guint) cls);
          self->setting = FALSE;
          if (gtk_check_button_get_active (GTK_CHECK_BUTTON (self->toggle)))
            recompute (self);
          else
            gtk_check_button_set_active (GTK_CHECK_BUTTON (self->toggle), TRUE);
          return;
        }
    }
}

void
bt_explain_bar_attach (BtExplainBar *self, BtHeatOverlay *overlay, BtProbabilityBars *bars)
{
  g_return_if_fail (BT_IS_EXPLAIN_BAR (self));
  /* siblings in the page: weak, since the page's template may dispose them before this bar */
  self->overlay = overlay;
  self->bars = bars;
  if (overlay)
    g_object_add_weak_pointer (G_OBJECT (overlay), (gpointer *) &self->overlay);
  if (bars)
    g_object_add_weak_pointer (G_OBJECT (bars), (gpointer *) &self->bars);
  if (overlay)
    bt_heat_overlay_set_opacity (overlay, gtk_range_get_value (GTK_RANGE (self->opacity)));
  if (bars)
    {
      GtkGesture *click = gtk_gesture_click_new ();
      g_signal_connect (click, "pressed", G_CALLBACK (bars_pressed_cb), self);
      gtk_widget_add_controller (GTK_WIDGET (bars), GTK_EVENT_CONTROLLER (click));
      gtk_widget_set_tooltip_text (GTK_WIDGET (bars), _("Click a class to see what in the image speaks for it"));
    }
}

void
bt_explain_bar_set_subject (BtExplainBar *self, BtSharedModel *model, const char *path,
                            const BtImage *image, int predicted_class)
{
  g_return_if_fail (BT_IS_EXPLAIN_BAR (self));

  if (model != self->model)
    {
      g_autoptr(GtkStringList) names = gtk_string_list_new (model ? bt_shared_model_get_class_names (model) : NULL);
      g_clear_pointer (&self->model, bt_shared_model_unref);
      self->model = model ? bt_shared_model_ref (model) : NULL;
      self->setting = TRUE;
      gtk_drop_down_set_model (GTK_DROP_DOWN (self->classes), G_LIST_MODEL (names));
      self->setting = FALSE;
    }
  g_clear_pointer (&self->path, g_free);
  g_clear_pointer (&self->image, bt_image_free);
  self->path = g_strdup (path);
  self->image = image ? bt_image_copy (image) : NULL;
  self->setting = TRUE;
  gtk_drop_down_set_selected (GTK_DROP_DOWN (self->classes),
                              predicted_class >= 0 ? (guint) predicted_class : GTK_INVALID_LIST_POSITION);
  self->setting = FALSE;
  recompute (self);
}

static void
bt_explain_bar_dispose (GObject *object)
{
  BtExplainBar *self = BT_EXPLAIN_BAR (object);

  if (self->overlay)
    g_object_remove_weak_pointer (G_OBJECT (self->overlay), (gpointer *) &self->overlay);
  if (self->bars)
    g_object_remove_weak_pointer (G_OBJECT (self->bars), (gpointer *) &self->bars);
  self->overlay = NULL;
  self->bars = NULL;
  clear_map (self);
  g_clear_pointer (&self->model, bt_shared_model_unref);
  g_clear_pointer (&self->path, g_free);
  g_clear_pointer (&self->image, bt_image_free);
  g_clear_pointer (&self->box, gtk_widget_unparent);
  G_OBJECT_CLASS (bt_explain_bar_parent_class)->dispose (object);
}

static void
bt_explain_bar_class_init (BtExplainBarClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = bt_explain_bar_dispose;
  gtk_widget_class_set_layout_manager_type (GTK_WIDGET_CLASS (klass), GTK_TYPE_BIN_LAYOUT);
}

static void
bt_explain_bar_init (BtExplainBar *self)
{
  GtkWidget *row = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 6);
  GtkWidget *label;

  self->box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 4);
  gtk_widget_set_parent (self->box, GTK_WIDGET (self));
  gtk_box_append (GTK_BOX (self->box), row);

  self->toggle = gtk_check_button_new_with_mnemonic (_("Show _what it looked at"));
  gtk_widget_set_tooltip_text (self->toggle, _("Colour the parts of the image the answer came from (a heat map: yellow is hottest)"));
  g_signal_connect_swapped (self->toggle, "toggled", G_CALLBACK (toggled_cb), self);
  gtk_box_append (GTK_BOX (row), self->toggle);

  self->opacity = gtk_scale_new_with_range (GTK_ORIENTATION_HORIZONTAL, 0.1, 1.0, 0.05);
  gtk_range_set_value (GTK_RANGE (self->opacity), 0.6);
  gtk_scale_set_draw_value (GTK_SCALE (self->opacity), FALSE);
  gtk_widget_set_hexpand (self->opacity, TRUE);
  gtk_widget_set_size_request (self->opacity, 80, -1);
  gtk_widget_set_tooltip_text (self->opacity, _("How strongly the heat map covers the image"));
  gtk_accessible_update_property (GTK_ACCESSIBLE (self->opacity), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _("Heat map opacity"), -1);
  g_signal_connect_swapped (self->opacity, "value-changed", G_CALLBACK (opacity_changed_cb), self);
  gtk_box_append (GTK_BOX (row), self->opacity);

  /* a second row, so the page still fits 800 px: which class, which method */
  row = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 6);
  gtk_widget_set_margin_start (row, 24);
  gtk_box_append (GTK_BOX (self->box), row);
  /* Translators: "heat map for class [cat ▾]" */
  label = gtk_label_new (_("for"));
  gtk_widget_add_css_class (label, "dim-label");
  gtk_box_append (GTK_BOX (row), label);
  self->classes = gtk_drop_down_new (NULL, NULL);
  gtk_widget_set_tooltip_text (self->classes, _("Which class to explain; the answer is chosen first"));
  g_signal_connect_swapped (self->classes, "notify::selected", G_CALLBACK (class_chosen_cb), self);
  gtk_box_append (GTK_BOX (row), self->classes);
  {
    const char *methods[] = { _("Occlusion"), "Grad-CAM", NULL };
    self->method = gtk_drop_down_new_from_strings (methods);
    gtk_widget_set_tooltip_text (self->method,
                                 _("Occlusion: covers the image part by part and watches the answer change; precise, "
                                   "takes a moment. Grad-CAM: reads the network's last feature map; instant, coarser, "
                                   "for the Small CNN, Deeper CNN, Mini ResNet and transfer models."));
    g_signal_connect_swapped (self->method, "notify::selected", G_CALLBACK (class_chosen_cb), self);
    gtk_box_append (GTK_BOX (row), self->method);
  }

  self->status = gtk_label_new (NULL);
  gtk_label_set_wrap (GTK_LABEL (self->status), TRUE);
  gtk_label_set_xalign (GTK_LABEL (self->status), 0);
  gtk_widget_add_css_class (self->status, "dim-label");
  gtk_box_append (GTK_BOX (self->box), self->status);
  gtk_widget_set_sensitive (self->opacity, FALSE);
  gtk_widget_set_sensitive (self->classes, FALSE);
  gtk_widget_set_sensitive (self->method, FALSE);
}

GtkWidget *
bt_explain_bar_get_toggle (BtExplainBar *self)
{
  g_return_val_if_fail (BT_IS_EXPLAIN_BAR (self), NULL);
  return self->toggle;
}

GtkRange *
bt_explain_bar_get_opacity (BtExplainBar *self)
{
  g_return_val_if_fail (BT_IS_EXPLAIN_BAR (self), NULL);
  return GTK_RANGE (self->opacity);
}

GtkDropDown *
bt_explain_bar_get_method (BtExplainBar *self)
{
  g_return_val_if_fail (BT_IS_EXPLAIN_BAR (self), NULL);
  return GTK_DROP_DOWN (self->method);
}

int
bt_explain_bar_get_class (BtExplainBar *self)
{
  guint sel;

  g_return_val_if_fail (BT_IS_EXPLAIN_BAR (self), -1);
  sel = gtk_drop_down_get_selected (GTK_DROP_DOWN (self->classes));
  return sel == GTK_INVALID_LIST_POSITION ? -1 : (int) sel;
}

const char *
bt_explain_bar_get_status (BtExplainBar *self)
{
  g_return_val_if_fail (BT_IS_EXPLAIN_BAR (self), NULL);
  return gtk_label_get_text (GTK_LABEL (self->status));
}

gboolean
bt_explain_bar_is_busy (BtExplainBar *self)
{
  g_return_val_if_fail (BT_IS_EXPLAIN_BAR (self), FALSE);
  return self->busy;
}

const BtHeatmap *
bt_explain_bar_get_map (BtExplainBar *self)
{
  g_return_val_if_fail (BT_IS_EXPLAIN_BAR (self), NULL);
  return self->map;
}
