/* bt-test-screenshot.h: saves what a shown window looks like as PNG, for the screenshots in
 * docs/ (only when BT_SCREENSHOT_DIR is set; tests never depend on it). */
#pragma once

#include <gtk/gtk.h>

#include "bt-test-wait.h"

static inline void
bt_test_count_cb (guint *count)
{
  (*count)++;
}

/* Waits for one frame of window laid out and painted after everything queued so far (the frame
 * clock lays out before it paints). */
static inline void
bt_test_painted_frame (GtkWidget *window)
{
  GdkFrameClock *clock = gtk_widget_get_frame_clock (window);
  guint painted = 0;
  gulong id = g_signal_connect_swapped (clock, "after-paint", G_CALLBACK (bt_test_count_cb), &painted);

  bt_test_drain ();
  gtk_widget_queue_draw (window);
  BT_TEST_WAIT (painted >= 1);
  g_signal_handler_disconnect (clock, id);
}

static inline void
bt_test_screenshot (GtkWidget *window, const char *name)
{
  const char *dir = g_getenv ("BT_SCREENSHOT_DIR");
  g_autoptr(GdkPaintable) paintable = NULL;
  g_autoptr(GtkSnapshot) snapshot = NULL;
  g_autoptr(GskRenderNode) node = NULL;
  g_autoptr(GdkTexture) texture = NULL;
  g_autofree char *path = NULL;
  GskRenderer *renderer;
  int w, h;

  if (dir == NULL || !gtk_widget_get_realized (window))
    return;
  /* no page transition half-way, then one frame laid out and painted after everything queued */
  g_object_set (gtk_settings_get_default (), "gtk-enable-animations", FALSE, NULL);
  bt_test_painted_frame (window);
  w = gtk_widget_get_width (window);
  h = gtk_widget_get_height (window);
  paintable = gtk_widget_paintable_new (window);
  snapshot = gtk_snapshot_new ();
  gdk_paintable_snapshot (paintable, GDK_SNAPSHOT (snapshot), w, h);
  node = gtk_snapshot_free_to_node (g_steal_pointer (&snapshot));
  if (node == NULL)
    return;
  renderer = gtk_native_get_renderer (GTK_NATIVE (window));
  texture = gsk_renderer_render_texture (renderer, node, &GRAPHENE_RECT_INIT (0, 0, w, h));
  path = g_build_filename (dir, name, NULL);
  gdk_texture_save_to_png (texture, path);
}
