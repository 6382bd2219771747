/* bt-test-input.c: XTest key presses and clicks into a GTK window on Xvfb, and drops through a
 * widget's GtkDropTarget. Each injection runs under a server grab (raise, focus, pointer, keys,
 * release) so that another test's window on the same display cannot take it. */
#include "config.h"

#include "bt-test-input.h"

#include <string.h>

#include <gdk/x11/gdkx.h>
#include <X11/Xlib.h>
#include <X11/XKBlib.h>
#include <X11/keysym.h>
#include <X11/extensions/XTest.h>

#include "bt-test-wait.h"

typedef struct
{
  guint keys, buttons;
  guint keycode;        /* the key bt_test_press_key waits for: its presses are counted in keys */
} Seen;

static gboolean
seen_cb (GtkEventControllerLegacy *c, GdkEvent *event, Seen *seen)
{
  GdkEventType t = gdk_event_get_event_type (event);
  /* the key's press: a shortcut runs on it (modifier presses are not counted: GTK may take them for
   * itself, and a release may land elsewhere once the shortcut moved the focus) */
  if (t == GDK_KEY_PRESS && gdk_key_event_get_keycode (event) == seen->keycode)
    seen->keys++;
  else if (t == GDK_BUTTON_RELEASE)
    seen->buttons++;
  return GDK_EVENT_PROPAGATE;   /* only watches */
}

/* A capture-phase observer on the toplevel: tells when GTK has handled an injected key press or
 * button release. */
static Seen *
seen_for (GtkWidget *toplevel)
{
  Seen *seen = g_object_get_data (G_OBJECT (toplevel), "bt-test-input-seen");
  if (seen == NULL)
    {
      GtkEventController *c = gtk_event_controller_legacy_new ();
      seen = g_new0 (Seen, 1);
      g_object_set_data_full (G_OBJECT (toplevel), "bt-test-input-seen", seen, g_free);
      gtk_event_controller_set_propagation_phase (c, GTK_PHASE_CAPTURE);
      g_signal_connect (c, "event", G_CALLBACK (seen_cb), seen);
      gtk_widget_add_controller (toplevel, c);
    }
  return seen;
}

static Display *
xdisplay_for (GtkWidget *widget)
{
  GdkDisplay *display = gtk_widget_get_display (widget);
  int ev, er, maj, min;

  if (!GDK_IS_X11_DISPLAY (display))
    g_error ("bt-test-input drives X11 (Xvfb) displays only; this is %s", G_OBJECT_TYPE_NAME (display));
  Display *dpy = gdk_x11_display_get_xdisplay (display);
  if (!XTestQueryExtension (dpy, &ev, &er, &maj, &min))
    g_error ("the X display has no XTEST extension");
  return dpy;
}

static Window
xid_for (GtkWidget *widget)
{
  GtkNative *native = gtk_widget_get_native (widget);
  g_assert_nonnull (native);
  GdkSurface *surface = gtk_native_get_surface (native);
  g_assert_nonnull (surface);
  return gdk_x11_surface_get_xid (surface);
}

static void
grab_and_focus (Display *dpy, Window xid)
{
  XGrabServer (dpy);
  XRaiseWindow (dpy, xid);
  XSetInputFocus (dpy, xid, RevertToParent, CurrentTime);
}

static void
ungrab (Display *dpy)
{
  XUngrabServer (dpy);
  XSync (dpy, False);
}

void
bt_test_focus_window (GtkWindow *window)
{
  gtk_window_present (window);
  BT_TEST_WAIT (gtk_widget_get_mapped (GTK_WIDGET (window)));
  Display *dpy = xdisplay_for (GTK_WIDGET (window));
  Window xid = xid_for (GTK_WIDGET (window));
  seen_for (GTK_WIDGET (window));
  if (!gtk_window_is_active (window))
    {
      grab_and_focus (dpy, xid);
      ungrab (dpy);
    }
  BT_TEST_WAIT (gtk_window_is_active (window));
}

static const struct
{
  GdkModifierType mask;
  KeySym sym;
} modifier_keys[] = {
  { GDK_SHIFT_MASK, XK_Shift_L },
  { GDK_CONTROL_MASK, XK_Control_L },
  { GDK_ALT_MASK, XK_Alt_L },
};

void
bt_test_press_key (GtkWindow *window, guint keyval, GdkModifierType mods)
{
  bt_test_focus_window (window);
  Display *dpy = xdisplay_for (GTK_WIDGET (window));
  Window xid = xid_for (GTK_WIDGET (window));
  Seen *seen = seen_for (GTK_WIDGET (window));
  KeyCode code = XKeysymToKeycode (dpy, (KeySym) keyval);
  guint want = seen->keys + 1;

  seen->keycode = code;

  if (code == 0)
    g_error ("no key on this X keyboard makes %s", gdk_keyval_name (keyval));
  /* a keysym on the shifted level of its key (e.g. '?' or 'A') needs Shift */
  if (XkbKeycodeToKeysym (dpy, code, 0, 0) != (KeySym) keyval &&
      XkbKeycodeToKeysym (dpy, code, 0, 1) == (KeySym) keyval)
    mods |= GDK_SHIFT_MASK;

  grab_and_focus (dpy, xid);
  for (guint i = 0; i < G_N_ELEMENTS (modifier_keys); i++)
    if (mods & modifier_keys[i].mask)
      XTestFakeKeyEvent (dpy, XKeysymToKeycode (dpy, modifier_keys[i].sym), True, CurrentTime);
  XTestFakeKeyEvent (dpy, code, True, CurrentTime);
  XTestFakeKeyEvent (dpy, code, False, CurrentTime);
  for (guint i = G_N_ELEMENTS (modifier_keys); i-- > 0;)
    if (mods & modifier_keys[i].mask)
      XTestFakeKeyEvent (dpy, XKeysymToKeycode (dpy, modifier_keys[i].sym), False, CurrentTime);
  ungrab (dpy);
  {
    BtTestDeadline d = bt_test_deadline_start (BT_TEST_WAIT_SECONDS);
    g_autofree char *what = g_strdup_printf ("the press of %s to reach %s", gdk_keyval_name (keyval),
                                             G_OBJECT_TYPE_NAME (window));
    while (seen->keys < want)
      bt_test_deadline_iterate (&d, what, __FILE__, __LINE__);
    bt_test_deadline_end (&d);
  }
  bt_test_drain ();
}

static gboolean
label_is (const char *text, const char *name, gboolean mnemonic)
{
  if (text == NULL)
    return FALSE;
  if (!mnemonic || strchr (text, '_') == NULL)
    return g_str_equal (text, name);
  g_autoptr(GString) s = g_string_new (NULL);
  for (const char *p = text; *p; p++)
    {
      if (*p == '_' && p[1] != '\0')
        p++;
      g_string_append_c (s, *p);
    }
  return g_str_equal (s->str, name);
}

static gboolean
names (GtkWidget *w, const char *name)
{
  if (label_is (gtk_widget_get_tooltip_text (w), name, FALSE))
    return TRUE;
  if (GTK_IS_BUTTON (w) && label_is (gtk_button_get_label (GTK_BUTTON (w)), name, gtk_button_get_use_underline (GTK_BUTTON (w))))
    return TRUE;
  if (g_str_equal (G_OBJECT_TYPE_NAME (w), "GtkModelButton"))   /* an item of a menu popover */
    {
      g_autofree char *text = NULL;
      g_object_get (w, "text", &text, NULL);
      if (label_is (text, name, TRUE))
        return TRUE;
    }
  if (GTK_IS_MENU_BUTTON (w) && label_is (gtk_menu_button_get_label (GTK_MENU_BUTTON (w)), name, TRUE))
    return TRUE;
  /* a button whose content is a box with an icon and a label */
  for (GtkWidget *c = gtk_widget_get_first_child (w); c; c = gtk_widget_get_next_sibling (c))
    {
      if (GTK_IS_LABEL (c) && label_is (gtk_label_get_text (GTK_LABEL (c)), name, FALSE))
        return TRUE;
      if (GTK_IS_BOX (c))
        for (GtkWidget *d = gtk_widget_get_first_child (c); d; d = gtk_widget_get_next_sibling (d))
          if (GTK_IS_LABEL (d) && label_is (gtk_label_get_text (GTK_LABEL (d)), name, FALSE))
            return TRUE;
    }
  return FALSE;
}

GtkWidget *
bt_test_find_button (GtkWidget *root, const char *name)
{
  g_return_val_if_fail (GTK_IS_WIDGET (root), NULL);
  if (!gtk_widget_get_mapped (root))
    return NULL;
  if ((GTK_IS_BUTTON (root) || GTK_IS_MENU_BUTTON (root) ||
       g_str_equal (G_OBJECT_TYPE_NAME (root), "GtkModelButton")) && names (root, name))
    return root;
  for (GtkWidget *c = gtk_widget_get_first_child (root); c; c = gtk_widget_get_next_sibling (c))
    {
      GtkWidget *found = bt_test_find_button (c, name);
      if (found)
        return found;
    }
  return NULL;
}

GtkWidget *
bt_test_find_type (GtkWidget *root, GType type)
{
  for (GtkWidget *c = gtk_widget_get_first_child (root); c; c = gtk_widget_get_next_sibling (c))
    {
      GtkWidget *found;
      if (G_TYPE_CHECK_INSTANCE_TYPE (c, type))
        return c;
      if ((found = bt_test_find_type (c, type)))
        return found;
    }
  return NULL;
}

GtkWidget *
bt_test_find_action_button (GtkWidget *root, const char *action, gboolean mapped)
{
  for (GtkWidget *c = gtk_widget_get_first_child (root); c; c = gtk_widget_get_next_sibling (c))
    {
      GtkWidget *found;
      /* a revealer hiding its child keeps it mapped until its slide ends: not on show any more */
      if (mapped && GTK_IS_REVEALER (c) && !gtk_revealer_get_reveal_child (GTK_REVEALER (c)))
        continue;
      if (GTK_IS_BUTTON (c) && (!mapped || gtk_widget_get_mapped (c)) &&
          g_strcmp0 (gtk_actionable_get_action_name (GTK_ACTIONABLE (c)), action) == 0)
        return c;
      if ((found = bt_test_find_action_button (c, action, mapped)))
        return found;
    }
  return NULL;
}

GtkWidget *
bt_test_find_label (GtkWidget *root, const char *text)
{
  for (GtkWidget *c = gtk_widget_get_first_child (root); c; c = gtk_widget_get_next_sibling (c))
    {
      GtkWidget *found;
      if (GTK_IS_LABEL (c) && g_strcmp0 (gtk_label_get_text (GTK_LABEL (c)), text) == 0)
        return c;
      if ((found = bt_test_find_label (c, text)))
        return found;
    }
  return NULL;
}

static void click (GtkWidget *widget, double x, double y, gboolean wait_sensitive);

void
bt_test_click_at (GtkWidget *widget, double x, double y)
{
  click (widget, x, y, TRUE);
}

void
bt_test_click_insensitive (GtkWidget *widget)
{
  g_assert_false (gtk_widget_is_sensitive (widget));
  click (widget, -1, -1, FALSE);
}

/* Whether a click at (x, y) of widget would reach widget (or a child of it) in native. */
static gboolean
drawn_at (GtkWidget *widget, GtkWidget *native, double x, double y)
{
  graphene_point_t p;
  GtkWidget *hit;

  if (!gtk_widget_compute_point (widget, native, &GRAPHENE_POINT_INIT (x, y), &p))
    return FALSE;
  hit = gtk_widget_pick (native, p.x, p.y, GTK_PICK_DEFAULT);
  return hit != NULL && (hit == widget || gtk_widget_is_ancestor (hit, widget));
}

static void
click (GtkWidget *widget, double x, double y, gboolean wait_sensitive)
{
  g_return_if_fail (GTK_IS_WIDGET (widget));
  g_assert_true (gtk_widget_get_mapped (widget));
  GtkWidget *native = GTK_WIDGET (gtk_widget_get_native (widget));
  Display *dpy = xdisplay_for (widget);
  Window xid = xid_for (widget), child;
  Seen *seen = seen_for (native);
  graphene_point_t p;
  double sx = 0, sy = 0;
  int rx = 0, ry = 0;
  guint want = seen->buttons + 1;

  if (GTK_IS_WINDOW (native))
    bt_test_focus_window (GTK_WINDOW (native));
  /* as a person waits for a greyed-out button to come alive before clicking it */
  if (wait_sensitive)
    BT_TEST_WAIT (gtk_widget_is_sensitive (widget));
  if (x < 0)
    {
      BT_TEST_WAIT (gtk_widget_get_width (widget) > 0 && gtk_widget_get_height (widget) > 0);
      x = gtk_widget_get_width (widget) / 2.0;
      y = gtk_widget_get_height (widget) / 2.0;
    }
  /* and for it to be where the pointer goes, not under the page that a transition still shows;
   * a widget that goes away meanwhile (a bar sliding shut) never will: fail now, saying so */
  if (wait_sensitive)
    {
      BT_TEST_WAIT (drawn_at (widget, native, x, y) || !gtk_widget_get_mapped (widget));
      if (!gtk_widget_get_mapped (widget))
        g_error ("the %s to click (%s) was hidden before it could be clicked", G_OBJECT_TYPE_NAME (widget),
                 GTK_IS_ACTIONABLE (widget) ? gtk_actionable_get_action_name (GTK_ACTIONABLE (widget)) : "no action");
    }
  g_assert_true (gtk_widget_compute_point (widget, native, &GRAPHENE_POINT_INIT (x, y), &p));
  gtk_native_get_surface_transform (GTK_NATIVE (native), &sx, &sy);
  grab_and_focus (dpy, xid);
  XTranslateCoordinates (dpy, xid, DefaultRootWindow (dpy), (int) (sx + p.x), (int) (sy + p.y), &rx, &ry, &child);
  XTestFakeMotionEvent (dpy, -1, rx, ry, CurrentTime);
  XTestFakeButtonEvent (dpy, 1, True, CurrentTime);
  XTestFakeButtonEvent (dpy, 1, False, CurrentTime);
  ungrab (dpy);
  BT_TEST_WAIT (seen->buttons >= want);
}

void
bt_test_click (GtkWidget *widget)
{
  bt_test_click_at (widget, -1, -1);
}

void
bt_test_click_button (GtkWidget *root, const char *name)
{
  GtkWidget *b = bt_test_find_button (root, name);
  if (b == NULL)
    g_error ("no mapped button called '%s' in %s", name, G_OBJECT_TYPE_NAME (root));
  bt_test_click (b);
}

static GtkDropTarget *
drop_target_for (GtkWidget *widget, GdkContentFormats *offered, GType *type)
{
  for (GtkWidget *w = widget; w; w = gtk_widget_get_parent (w))
    {
      g_autoptr(GListModel) controllers = gtk_widget_observe_controllers (w);
      for (guint i = 0; i < g_list_model_get_n_items (controllers); i++)
        {
          g_autoptr(GtkEventController) c = g_list_model_get_item (controllers, i);
          gsize n = 0;
          if (!GTK_IS_DROP_TARGET (c))
            continue;
          const GType *types = gtk_drop_target_get_gtypes (GTK_DROP_TARGET (c), &n);
          for (gsize k = 0; k < n; k++)
            {
              g_autoptr(GdkContentFormats) want = gdk_content_formats_new_for_gtype (types[k]);
              g_autoptr(GdkContentFormats) can = gdk_content_formats_union_deserialize_gtypes (gdk_content_formats_ref (offered));
              if (gdk_content_formats_match (want, can))
                {
                  *type = types[k];
                  return GTK_DROP_TARGET (c);
                }
            }
        }
    }
  return NULL;
}

typedef struct
{
  GValue value;
  GError *error;
  gboolean done;
} Read;

static void
written_cb (GObject *source, GAsyncResult *res, gpointer data)
{
  Read *r = data;
  gdk_content_provider_write_mime_type_finish (GDK_CONTENT_PROVIDER (source), res, &r->error);
  r->done = TRUE;
}

static void
deserialized_cb (GObject *source, GAsyncResult *res, gpointer data)
{
  Read *r = data;
  gdk_content_deserialize_finish (res, &r->value, &r->error);
  r->done = TRUE;
}

/* The value of type that content gives: directly when it holds one, else through the bytes of a
 * MIME type both sides know, deserialized by GDK as a real drop is. */
static void
content_value (GdkContentProvider *content, GType type, GValue *out)
{
  g_value_init (out, type);
  if (gdk_content_provider_get_value (content, out, NULL))
    return;

  g_autoptr(GdkContentFormats) offered = gdk_content_provider_ref_formats (content);
  g_autoptr(GdkContentFormats) want =
    gdk_content_formats_union_deserialize_mime_types (gdk_content_formats_new_for_gtype (type));
  const char *mime = gdk_content_formats_match_mime_type (offered, want);
  g_assert_nonnull (mime);

  g_autoptr(GOutputStream) os = g_memory_output_stream_new_resizable ();
  Read w = { G_VALUE_INIT, NULL, FALSE };
  gdk_content_provider_write_mime_type_async (content, mime, os, G_PRIORITY_DEFAULT, NULL, written_cb, &w);
  BT_TEST_WAIT (w.done);
  g_assert_no_error (w.error);
  g_assert_true (g_output_stream_close (os, NULL, NULL));
  g_autoptr(GBytes) bytes = g_memory_output_stream_steal_as_bytes (G_MEMORY_OUTPUT_STREAM (os));
  g_autoptr(GInputStream) is = g_memory_input_stream_new_from_bytes (bytes);

  Read r = { G_VALUE_INIT, NULL, FALSE };
  g_value_init (&r.value, type);
  gdk_content_deserialize_async (is, mime, type, G_PRIORITY_DEFAULT, NULL, deserialized_cb, &r);
  BT_TEST_WAIT (r.done);
  g_assert_no_error (r.error);
  g_value_unset (out);
  *out = r.value;
}

gboolean
bt_test_drop (GtkWidget *widget, GdkContentProvider *content, double x, double y)
{
  g_autoptr(GdkContentFormats) offered = gdk_content_provider_ref_formats (content);
  GType type = G_TYPE_INVALID;
  GtkDropTarget *target = drop_target_for (widget, offered, &type);
  GtkWidget *owner;
  GdkDragAction action = 0;
  gboolean ret = FALSE;
  graphene_point_t p;
  GValue value = G_VALUE_INIT;

  if (target == NULL)
    g_error ("no drop target on %s or above it takes %s", G_OBJECT_TYPE_NAME (widget),
             gdk_content_formats_to_string (offered));
  g_assert_true (gtk_widget_get_mapped (widget));
  owner = gtk_event_controller_get_widget (GTK_EVENT_CONTROLLER (target));
  g_assert_true (gtk_widget_compute_point (widget, owner, &GRAPHENE_POINT_INIT (x, y), &p));
  /* the target's own action choice must allow a drop at all ("enter"/"motion" need a GdkDrop,
   * which only a real drag between surfaces creates, so the value goes straight to "drop") */
  action = gtk_drop_target_get_actions (target);
  g_assert_cmpint (action, !=, 0);
  content_value (content, type, &value);
  g_signal_emit_by_name (target, "drop", &value, (double) p.x, (double) p.y, &ret);
  g_value_unset (&value);
  bt_test_drain ();
  return ret;
}

gboolean
bt_test_drop_files (GtkWidget *widget, const char * const *paths)
{
  GSList *files = NULL;
  for (guint i = 0; paths[i]; i++)
    files = g_slist_prepend (files, g_file_new_for_path (paths[i]));
  files = g_slist_reverse (files);
  GdkFileList *list = gdk_file_list_new_from_list (files);
  g_slist_free_full (files, g_object_unref);
  g_autoptr(GdkContentProvider) content = gdk_content_provider_new_typed (GDK_TYPE_FILE_LIST, list);
  g_boxed_free (GDK_TYPE_FILE_LIST, list);
  return bt_test_drop (widget, content, 10, 10);
}
