/* test-photos.c: photos that do not arrive as files: Ctrl+V of image data and of copied files
 * into a class (Data page) and onto the Test page, an image's address dropped from a web
 * browser (fetched from a server on 127.0.0.1; a web page, a missing file and an oversized answer
 * refused with a clear message), the camera window recording frames of videotestsrc into a class
 * (each saved JPEG decoded back), and the Test page's live camera mode updating its bars. */
#include "config.h"

#include <gio/gunixfdlist.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <gtk/gtk.h>
#include <libsoup/soup.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bt-camera.h"
#include "bt-camera-window.h"
#include "dataset/bt-dataset.h"
#include "engine/bt-engine.h"
#include "bt-data-page.h"
#include "bt-live-test.h"
#include "bt-test-page.h"
#include "bt-test-exit.h"
#include "bt-test-fs.h"
#include "bt-test-input.h"
#include "bt-test-classes.h"
#include "bt-test-screenshot.h"
#include "bt-test-wait.h"

static char *root;
static int win_w = 1000, win_h = 700;   /* BT_PHOTOS_WINDOW_SIZE=800x600 for the small-screen shots */
static GBytes *png_bytes;   /* a 40×30 PNG, red in its top-left quadrant */
static SoupServer *server;
static guint port;

static GdkTexture *
make_texture_seeded (guint seed)
{
  const int w = 40, h = 30;
  guint8 *px = g_malloc ((gsize) w * h * 3);
  g_autoptr(GBytes) bytes = NULL;

  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        guint8 *p = px + ((gsize) y * w + x) * 3;
        gboolean red = x < w / 2 && y < h / 2;
        p[0] = red ? 240 : 30;
        p[1] = red ? 10 : (guint8) (x * 6);
        p[2] = red ? 10 : (guint8) (y * 8 + seed * 17);
      }
  bytes = g_bytes_new_take (px, (gsize) w * h * 3);
  return gdk_memory_texture_new (w, h, GDK_MEMORY_R8G8B8, bytes, w * 3);
}

static GdkTexture *
make_texture (void)
{
  return make_texture_seeded (0);
}

/* ---- A web server standing for the browser's source ---- */

static void
handler (SoupServer *srv, SoupServerMessage *msg, const char *path, GHashTable *query, gpointer data)
{
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);
  gsize len;
  const char *png = g_bytes_get_data (png_bytes, &len);

  if (g_str_equal (path, "/photo.png"))
    {
      soup_server_message_set_status (msg, 200, NULL);
      soup_server_message_set_response (msg, "image/png", SOUP_MEMORY_COPY, png, len);
    }
  else if (g_str_equal (path, "/broken.png"))
    {
      soup_server_message_set_status (msg, 200, NULL);
      soup_server_message_set_response (msg, "image/png", SOUP_MEMORY_COPY, png, len / 2);
    }
  else if (g_str_equal (path, "/page.html"))
    {
      const char *html = "<html><body><img src=photo.png></body></html>";
      soup_server_message_set_status (msg, 200, NULL);
      soup_server_message_set_response (msg, "text/html", SOUP_MEMORY_COPY, html, strlen (html));
    }
  else if (g_str_equal (path, "/huge.png"))
    {
      /* claims 100 MB: refused on the header, before any byte is read */
      soup_server_message_set_status (msg, 200, NULL);
      soup_message_headers_set_encoding (headers, SOUP_ENCODING_CONTENT_LENGTH);
      soup_message_headers_set_content_length (headers, 100 * 1000 * 1000);
      soup_message_headers_set_content_type (headers, "image/png", NULL);
      soup_server_message_get_response_body (msg);
      soup_message_body_append (soup_server_message_get_response_body (msg), SOUP_MEMORY_COPY, png, len);
    }
  else
    soup_server_message_set_status (msg, 404, NULL);
}

static char *
url (const char *path)
{
  return g_strdup_printf ("http://127.0.0.1:%u%s", port, path);
}

/* ---- The Data page in a window ---- */

typedef struct {
  char       *dir;
  BtProject  *project;
  GtkWindow  *window;
  BtDataPage *page;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  static guint n;
  g_autofree char *name = g_strdup_printf ("project-%u", n++);

  f->dir = g_build_filename (root, name, NULL);
  f->project = bt_project_create (f->dir, "Photos", &error);
  g_assert_no_error (error);
  g_assert_true (bt_project_add_class (f->project, "cats", &error));
  g_assert_true (bt_project_add_class (f->project, "dogs", &error));
  f->window = GTK_WINDOW (gtk_window_new ());
  gtk_window_set_default_size (f->window, win_w, win_h);
  f->page = g_object_new (BT_TYPE_DATA_PAGE, NULL);
  gtk_window_set_child (f->window, GTK_WIDGET (f->page));
  bt_data_page_set_project (f->page, f->project);
  gtk_window_present (f->window);
  bt_test_drain ();
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  gtk_window_destroy (f->window);
  bt_test_drain ();
  g_clear_object (&f->project);
  g_free (f->dir);
}

static guint
n_in_class (BtProject *project, const char *class_name)
{
  GListModel *items = bt_project_get_items (project);
  guint n = 0;

  for (guint i = 0; i < g_list_model_get_n_items (items); i++)
    {
      g_autoptr(BtItem) item = g_list_model_get_item (items, i);
      n += g_strcmp0 (bt_item_get_class_name (item), class_name) == 0;
    }
  return n;
}

/* Every item of the class decodes, and is w×h when w > 0. Returns how many. */
static guint
check_class_files (BtProject *project, const char *class_name, const char *suffix, int w, int h)
{
  GListModel *items = bt_project_get_items (project);
  g_autofree char *folder = g_build_filename (bt_project_get_dir (project), "images", class_name, NULL);
  guint n = 0;

  for (guint i = 0; i < g_list_model_get_n_items (items); i++)
    {
      g_autoptr(BtItem) item = g_list_model_get_item (items, i);
      g_autoptr(GError) error = NULL;
      g_autoptr(BtImage) img = NULL;

      if (g_strcmp0 (bt_item_get_class_name (item), class_name) != 0)
        continue;
      g_assert_true (g_str_has_prefix (bt_item_get_path (item), folder));
      g_assert_true (g_str_has_suffix (bt_item_get_path (item), suffix));
      img = bt_image_decode_file (bt_item_get_path (item), 3, NULL, NULL, &error);
      g_assert_no_error (error);
      if (w > 0)
        {
          g_assert_cmpint (img->width, ==, w);
          g_assert_cmpint (img->height, ==, h);
        }
      n++;
    }
  return n;
}

static void
press_paste (Fixture *f)
{
  /* the keys reach the page as they would from a person: focus in the class list, Ctrl+V */
  GtkWidget *list = gtk_widget_get_first_child (GTK_WIDGET (f->page));

  while (list != NULL && !GTK_IS_LIST_VIEW (list))
    {
      GtkWidget *next = gtk_widget_get_first_child (list);
      list = next ? next : gtk_widget_get_next_sibling (list);
    }
  if (list != NULL)
    gtk_widget_grab_focus (list);
  bt_test_press_key (f->window, GDK_KEY_v, GDK_CONTROL_MASK);
}

static void
test_paste_image_into_class (Fixture *f, gconstpointer data)
{
  g_autoptr(GdkTexture) texture = make_texture ();
  GdkClipboard *clipboard = gtk_widget_get_clipboard (GTK_WIDGET (f->page));

  /* no class selected ("All images"): the page says what to do, nothing is written */
  gdk_clipboard_set_texture (clipboard, texture);
  press_paste (f);
  BT_TEST_WAIT (bt_data_page_get_notification (f->page) != NULL
                && strstr (bt_data_page_get_notification (f->page), "Select a class") != NULL);
  g_assert_cmpuint (n_in_class (f->project, "cats"), ==, 0);

  bt_test_click_class (GTK_WIDGET (f->page), "cats");
  press_paste (f);
  BT_TEST_WAIT (n_in_class (f->project, "cats") == 1);
  g_assert_cmpuint (check_class_files (f->project, "cats", ".png", 40, 30), ==, 1);
  g_assert_nonnull (strstr (bt_data_page_get_notification (f->page), "Added 1 image to “cats”"));
  bt_test_screenshot (GTK_WIDGET (f->window), "data-page-pasted.png");
}

static void
test_paste_copied_files (Fixture *f, gconstpointer data)
{
  g_autofree char *src = g_build_filename (root, "copied", NULL);
  GdkClipboard *clipboard = gtk_widget_get_clipboard (GTK_WIDGET (f->page));
  GSList *files = NULL;
  GdkFileList *list;

  g_assert_cmpint (g_mkdir_with_parents (src, 0755), ==, 0);
  for (guint i = 0; i < 3; i++)
    {
      g_autofree char *name = g_strdup_printf ("copied-%u.png", i);
      g_autofree char *path = g_build_filename (src, name, NULL);
      g_autoptr(GdkTexture) each = make_texture_seeded (i + 1);   /* three different images */
      g_assert_true (gdk_texture_save_to_png (each, path));
      files = g_slist_append (files, g_file_new_for_path (path));
    }
  /* a file manager's Copy: a file list on the clipboard */
  list = gdk_file_list_new_from_list (files);
  gdk_clipboard_set (clipboard, GDK_TYPE_FILE_LIST, list);
  g_boxed_free (GDK_TYPE_FILE_LIST, list);
  g_slist_free_full (files, g_object_unref);
  bt_test_click_class (GTK_WIDGET (f->page), "dogs");
  press_paste (f);
  BT_TEST_WAIT (n_in_class (f->project, "dogs") == 3 && !bt_data_page_get_busy (f->page));
  g_assert_cmpuint (n_in_class (f->project, "cats"), ==, 0);
}

static gboolean
drop_uris (BtDataPage *page, const char *uris)
{
  g_autoptr(GBytes) bytes = g_bytes_new (uris, strlen (uris));
  g_autoptr(GdkContentProvider) content = gdk_content_provider_new_for_bytes ("text/uri-list", bytes);

  return bt_test_drop (GTK_WIDGET (page), content, 20, 20);
}

static void
wait_notification (Fixture *f, const char *part)
{
  BT_TEST_WAIT (bt_data_page_get_notification (f->page) != NULL
                && strstr (bt_data_page_get_notification (f->page), part) != NULL);
}

static void
test_drop_from_browser (Fixture *f, gconstpointer data)
{
  static const char *const refused[][2] = {
    { "/page.html", "is not an image (the server sent text/html)" },
    { "/missing.png", "404" },
    { "/huge.png", "is larger than" },
    { "/broken.png", "An image was not added" },
  };
  g_autofree char *photo = url ("/photo.png");
  g_autofree char *list = NULL;

  bt_test_click_class (GTK_WIDGET (f->page), "cats");
  /* a browser's drag of an image: its address as text/uri-list */
  list = g_strdup_printf ("%s\r\n", photo);
  g_assert_true (drop_uris (f->page, list));
  BT_TEST_WAIT (n_in_class (f->project, "cats") == 1);
  g_assert_cmpuint (check_class_files (f->project, "cats", ".png", 40, 30), ==, 1);

  /* what is not an image is refused with the reason, and nothing is added */
  for (guint i = 0; i < G_N_ELEMENTS (refused); i++)
    {
      g_autofree char *address = url (refused[i][0]);
      g_free (list);
      list = g_strdup_printf ("%s\r\n", address);
      g_assert_true (drop_uris (f->page, list));
      wait_notification (f, refused[i][1]);
    }
  g_assert_cmpuint (n_in_class (f->project, "cats"), ==, 1);

  /* an image sent as pixels (a texture), dropped onto the page with "dogs" selected */
  {
    g_autoptr(GdkTexture) texture = make_texture ();
    g_autoptr(GdkContentProvider) content = gdk_content_provider_new_typed (GDK_TYPE_TEXTURE, texture);

    bt_test_click_class (GTK_WIDGET (f->page), "dogs");
    g_assert_true (bt_test_drop (GTK_WIDGET (f->page), content, 20, 20));
    BT_TEST_WAIT (n_in_class (f->project, "dogs") == 1);
    g_assert_cmpuint (check_class_files (f->project, "dogs", ".png", 40, 30), ==, 1);
  }
}

static GtkWindow *
camera_window (void)
{
  GListModel *toplevels = gtk_window_get_toplevels ();   /* GTK's own */

  for (guint i = 0; i < g_list_model_get_n_items (toplevels); i++)
    {
      GtkWindow *w = g_list_model_get_item (toplevels, i);
      const char *title = gtk_window_get_title (w);

      g_object_unref (w);   /* GTK holds its windows */
      if (title != NULL && g_str_has_prefix (title, "Camera — "))
        return w;
    }
  return NULL;
}

static GtkWidget *
find_named (GtkWidget *root_widget, const char *name)
{
  for (GtkWidget *c = gtk_widget_get_first_child (root_widget); c; c = gtk_widget_get_next_sibling (c))
    {
      GtkWidget *found;
      if (g_strcmp0 (gtk_widget_get_name (c), name) == 0)
        return c;
      if ((found = find_named (c, name)) != NULL)
        return found;
    }
  return NULL;
}

static void
test_camera_records_into_class (Fixture *f, gconstpointer data)
{
  GtkWindow *window;
  GtkWidget *rate, *picture;
  guint before, frames;
  gulong frame_id;

  bt_test_click_class (GTK_WIDGET (f->page), "dogs");
  bt_test_click (bt_test_find_action_button (GTK_WIDGET (f->page), "data.camera", TRUE));
  BT_TEST_WAIT ((window = camera_window ()) != NULL);
  /* the first frame enables Take Photo */
  BT_TEST_WAIT (gtk_widget_get_sensitive (bt_test_find_button (GTK_WIDGET (window), "Take Photo")));
  bt_test_screenshot (GTK_WIDGET (window), "camera-window.png");

  /* one shot, with the button */
  bt_test_click_button (GTK_WIDGET (window), "Take Photo");
  BT_TEST_WAIT (n_in_class (f->project, "dogs") == 1);
  /* and one with a tap of Space (the key goes through the X server to the focused window) */
  bt_test_press_key (window, GDK_KEY_space, 0);
  BT_TEST_WAIT (n_in_class (f->project, "dogs") == 2);

  /* a series at the fastest rate: 10 more frames, then Stop */
  rate = find_named (GTK_WIDGET (window), "camera-rate");
  g_assert_nonnull (rate);
  gtk_spin_button_set_value (GTK_SPIN_BUTTON (rate), 15);
  bt_test_click_button (GTK_WIDGET (window), "Record");
  BT_TEST_WAIT (n_in_class (f->project, "dogs") >= 12);
  bt_test_click_button (GTK_WIDGET (window), "Stop");
  /* shots on their way when Stop was pressed still arrive; then nothing more, though frames keep
   * coming (10 of the live 30 fps source: longer than the 1/15 s between two recorded shots) */
  before = bt_camera_window_get_n_added (window) + bt_camera_window_get_n_saving (window);
  g_assert_cmpuint (bt_camera_window_get_n_saving (window), <=, 4);
  picture = bt_test_find_type (GTK_WIDGET (window), GTK_TYPE_PICTURE);
  frames = 0;
  frame_id = g_signal_connect_swapped (picture, "notify::paintable", G_CALLBACK (bt_test_count_cb), &frames);
  BT_TEST_WAIT (bt_camera_window_get_n_saving (window) == 0 && frames >= 10);
  g_signal_handler_disconnect (picture, frame_id);
  g_assert_cmpuint (bt_camera_window_get_n_added (window), ==, before);
  g_assert_cmpuint (n_in_class (f->project, "dogs"), ==, before);
  /* videotestsrc's default 320×240, each a JPEG that decodes; in the class's own folder */
  g_assert_cmpuint (check_class_files (f->project, "dogs", ".jpg", 320, 240), ==, before);
  g_assert_cmpuint (n_in_class (f->project, "cats"), ==, 0);
  bt_test_screenshot (GTK_WIDGET (f->window), "data-page-camera-shots.png");
  gtk_window_destroy (window);
  bt_test_drain ();
}

static void
test_no_camera (Fixture *f, gconstpointer data)
{
  g_autofree char *saved = g_strdup (g_getenv (BT_CAMERA_SOURCE_ENV));
  GtkWidget *button;

  /* no device and no test source: the button says so (this machine has no camera) */
  if (g_file_test ("/dev/video0", G_FILE_TEST_EXISTS))
    {
      g_test_skip ("this machine has a camera");
      return;
    }
  g_unsetenv (BT_CAMERA_SOURCE_ENV);
  bt_test_click (bt_test_find_action_button (GTK_WIDGET (f->page), "data.camera", TRUE));
  BT_TEST_WAIT ((button = bt_test_find_button (GTK_WIDGET (f->page), "No Camera")) != NULL);
  g_assert_nonnull (strstr (gtk_widget_get_tooltip_text (button), "No camera found"));
  g_assert_null (camera_window ());
  bt_test_screenshot (GTK_WIDGET (f->window), "data-page-no-camera.png");
  g_setenv (BT_CAMERA_SOURCE_ENV, saved, TRUE);
}

/* A camera that sends only JPEG frames (most USB webcams above 640×480 do: MJPEG) gives the same
 * picture as a raw one. The conversion takes raw frames only, so without a JPEG decoder in front
 * such a camera "gives no picture". */
static void
store_result (GObject *source, GAsyncResult *result, gpointer user_data)
{
  *(GAsyncResult **) user_data = g_object_ref (result);
}

static BtCamera *
find_camera (GError **error)
{
  GAsyncResult *result = NULL;
  BtCamera *camera;

  bt_camera_find_async (NULL, store_result, &result);
  BT_TEST_WAIT (result != NULL);
  camera = bt_camera_find_finish (result, error);
  g_object_unref (result);
  return camera;
}

static void
test_mjpeg_camera (void)
{
  g_autofree char *saved = g_strdup (g_getenv (BT_CAMERA_SOURCE_ENV));
  g_autoptr(BtCamera) camera = NULL;
  g_autoptr(GBytes) frame = NULL;
  g_autoptr(GError) error = NULL;
  const guint8 *px;
  int w = 0, h = 0;

  /* a solid colour (ARGB ff2080c0), JPEG-encoded by the source */
  g_setenv (BT_CAMERA_SOURCE_ENV, "videotestsrc is-live=true pattern=solid-color foreground-color=0xff2080c0 "
            "! video/x-raw,width=320,height=240 ! jpegenc", TRUE);
  camera = find_camera (&error);
  g_assert_no_error (error);
  g_setenv (BT_CAMERA_SOURCE_ENV, saved, TRUE);
  g_assert_true (bt_camera_start (camera, &error));
  g_assert_no_error (error);
  BT_TEST_WAIT (bt_camera_get_n_frames (camera) >= 3);
  frame = bt_camera_dup_frame (camera, &w, &h);
  g_assert_nonnull (frame);
  g_assert_cmpint (w, ==, 320);
  g_assert_cmpint (h, ==, 240);
  g_assert_cmpuint (g_bytes_get_size (frame), ==, (gsize) w * h * 3);
  px = (const guint8 *) g_bytes_get_data (frame, NULL) + ((gsize) 120 * w + 160) * 3;
  g_assert_cmpint (ABS (px[0] - 0x20), <=, 24);
  g_assert_cmpint (ABS (px[1] - 0x80), <=, 24);
  g_assert_cmpint (ABS (px[2] - 0xc0), <=, 24);
  bt_camera_stop (camera);
}

/* ---- The camera portal (what a Flatpak uses) ---- */

static const char portal_xml[] =
  "<node><interface name='org.freedesktop.portal.Camera'>"
  "<method name='AccessCamera'><arg type='a{sv}' direction='in'/><arg type='o' direction='out'/></method>"
  "<method name='OpenPipeWireRemote'><arg type='a{sv}' direction='in'/><arg type='h' direction='out'/></method>"
  "<property name='IsCameraPresent' type='b' access='read'/>"
  "</interface></node>";

typedef struct {
  gboolean present;
  guint32  response;   /* what the person "answers": 0 allowed, 1 cancelled */
  GString *calls;
  int      remote_end; /* the test's end of the pipe handed out as the PipeWire remote */
} FakePortal;

static void
portal_call_cb (GDBusConnection *bus, const char *sender, const char *path, const char *iface, const char *method,
                GVariant *params, GDBusMethodInvocation *invocation, gpointer user_data)
{
  FakePortal *fp = user_data;

  g_string_append_printf (fp->calls, "%s;", method);
  if (strcmp (method, "AccessCamera") == 0)
    {
      g_autoptr(GVariant) options = g_variant_get_child_value (params, 0);
      const char *token = "t";
      g_autofree char *who = g_strdup (sender + 1);
      g_autofree char *request = NULL;

      g_variant_lookup (options, "handle_token", "&s", &token);
      g_strdelimit (who, ".", '_');
      request = g_strdup_printf ("/org/freedesktop/portal/desktop/request/%s/%s", who, token);
      g_dbus_method_invocation_return_value (invocation, g_variant_new ("(o)", request));
      g_dbus_connection_emit_signal (bus, sender, request, "org.freedesktop.portal.Request", "Response",
                                     g_variant_new ("(u@a{sv})", fp->response,
                                                    g_variant_new_array (G_VARIANT_TYPE ("{sv}"), NULL, 0)),
                                     NULL);
    }
  else
    {
      g_autoptr(GUnixFDList) fds = g_unix_fd_list_new ();
      int ends[2];

      g_assert_cmpint (pipe (ends), ==, 0);
      g_assert_cmpint (g_unix_fd_list_append (fds, ends[1], NULL), ==, 0);
      close (ends[1]);
      fp->remote_end = ends[0];
      g_dbus_method_invocation_return_value_with_unix_fd_list (invocation, g_variant_new ("(h)", 0), fds);
    }
}

static GVariant *
portal_get_cb (GDBusConnection *bus, const char *sender, const char *path, const char *iface, const char *name,
               GError **error, gpointer user_data)
{
  return g_variant_new_boolean (((FakePortal *) user_data)->present);
}

/* In a Flatpak the camera is reached through the desktop's portal: asked for (the person may say
 * no), then opened as a PipeWire remote the camera keeps while it lives. */
static void
test_camera_portal (void)
{
  g_autofree char *daemon = g_find_program_in_path ("dbus-daemon");
  g_autofree char *saved = g_strdup (g_getenv (BT_CAMERA_SOURCE_ENV));
  g_autoptr(GTestDBus) testbus = NULL;
  g_autoptr(GDBusConnection) bus = NULL;
  g_autoptr(GDBusNodeInfo) info = NULL;
  g_autoptr(GError) error = NULL;
  GDBusInterfaceVTable vtable = { portal_call_cb, portal_get_cb, NULL, { 0 } };
  FakePortal fp = { TRUE, 0, g_string_new (NULL), -1 };
  BtCamera *camera;
  guint object_id, owner_id;
  char byte;

  if (daemon == NULL)
    {
      g_test_skip ("dbus-daemon is not installed (Debian package dbus-daemon)");
      return;
    }
  testbus = g_test_dbus_new (G_TEST_DBUS_NONE);
  g_test_dbus_up (testbus);
  bus = g_dbus_connection_new_for_address_sync (g_test_dbus_get_bus_address (testbus),
                                                G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT
                                                | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION, NULL, NULL, &error);
  g_assert_no_error (error);
  info = g_dbus_node_info_new_for_xml (portal_xml, &error);
  g_assert_no_error (error);
  object_id = g_dbus_connection_register_object (bus, "/org/freedesktop/portal/desktop", info->interfaces[0],
                                                 &vtable, &fp, NULL, &error);
  g_assert_no_error (error);
  owner_id = g_bus_own_name_on_connection (bus, "org.freedesktop.portal.Desktop", G_BUS_NAME_OWNER_FLAGS_NONE,
                                           NULL, NULL, NULL, NULL);
  g_setenv (BT_CAMERA_PORTAL_ENV, "1", TRUE);
  g_setenv (BT_CAMERA_SOURCE_ENV, "videotestsrc is-live=true", TRUE);   /* no PipeWire here */

  /* allowed: asked, then the remote; the camera holds it until it goes */
  camera = find_camera (&error);
  g_assert_no_error (error);
  g_assert_nonnull (camera);
  g_assert_cmpstr (fp.calls->str, ==, "AccessCamera;OpenPipeWireRemote;");
  g_assert_cmpint (fp.remote_end, >=, 0);
  g_assert_true (g_unix_set_fd_nonblocking (fp.remote_end, TRUE, NULL));
  g_assert_cmpint (read (fp.remote_end, &byte, 1), ==, -1);   /* open: nothing to read, no end of file */
  g_assert_true (bt_camera_start (camera, &error));
  BT_TEST_WAIT (bt_camera_get_n_frames (camera) >= 2);
  g_object_unref (camera);
  g_assert_cmpint (read (fp.remote_end, &byte, 1), ==, 0);    /* the camera closed its end */
  close (fp.remote_end);

  /* the person says no: a clear message, and no remote is asked for */
  g_string_truncate (fp.calls, 0);
  fp.response = 1;
  camera = find_camera (&error);
  g_assert_null (camera);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED);
  g_assert_cmpstr (fp.calls->str, ==, "AccessCamera;");
  g_clear_error (&error);

  /* no camera on the desktop */
  fp.present = FALSE;
  camera = find_camera (&error);
  g_assert_null (camera);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_clear_error (&error);

  /* no portal at all: said so, not a hang */
  g_bus_unown_name (owner_id);
  g_dbus_connection_unregister_object (bus, object_id);
  camera = find_camera (&error);
  g_assert_null (camera);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, "portal"));

  g_unsetenv (BT_CAMERA_PORTAL_ENV);
  g_setenv (BT_CAMERA_SOURCE_ENV, saved, TRUE);
  g_dbus_connection_close_sync (bus, NULL, NULL);
  g_clear_object (&bus);
  g_test_dbus_down (testbus);
  g_string_free (fp.calls, TRUE);
}

/* ---- The Test page ---- */

static void
model_ready_cb (BtTestPage *page, gboolean *ready)
{
  *ready = TRUE;
}

static void
test_test_page (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_build_filename (root, "shapes", NULL);
  g_autoptr(BtProject) p = bt_sample_create_shapes (dir, 3, 24, 1, NULL, NULL);
  g_autofree char *models = g_build_filename (dir, "models", NULL);
  g_autofree char *model = g_build_filename (models, "shapes.bottega-model", NULL);
  g_autoptr(BtNet) net = bt_net_new_preset (BT_PRESET_SMALL_CNN, 24, 24, 3, 3, -1.0f, 5, &error);
  const char *names[] = { "circle", "square", "triangle", NULL };
  g_autoptr(GdkTexture) texture = make_texture ();
  g_autofree char *photo = url ("/photo.png");
  GtkWindow *window = GTK_WINDOW (gtk_window_new ());
  BtTestPage *page = g_object_new (BT_TYPE_TEST_PAGE, NULL);
  GdkClipboard *clipboard = gtk_widget_get_clipboard (GTK_WIDGET (page));
  BtLiveTest *live = bt_test_page_get_live (page);
  gboolean ready = FALSE;

  g_assert_nonnull (p);
  g_assert_cmpint (g_mkdir_with_parents (models, 0755), ==, 0);
  g_assert_true (bt_model_save (model, net, names, NULL, NULL, NULL, NULL, &error));
  gtk_window_set_child (window, GTK_WIDGET (page));
  gtk_window_set_default_size (window, win_w, win_h);
  gtk_window_present (window);
  g_signal_connect (page, "model-ready", G_CALLBACK (model_ready_cb), &ready);
  bt_test_page_set_project (page, p);
  BT_TEST_WAIT (ready);

  /* image data on the clipboard: decoded by our decoder on a worker, classified */
  gdk_clipboard_set_texture (clipboard, texture);
  bt_test_press_key (window, GDK_KEY_v, GDK_CONTROL_MASK);
  BT_TEST_WAIT (bt_test_page_get_n_results (page) == 1);
  g_assert_cmpuint (bt_probability_bars_get_n (bt_test_page_get_bars (page)), ==, 3);
  g_assert_null (bt_test_page_get_result_path (page, 0));

  /* an image's address copied in a browser */
  gdk_clipboard_set_text (clipboard, photo);
  bt_test_press_key (window, GDK_KEY_v, GDK_CONTROL_MASK);
  BT_TEST_WAIT (bt_test_page_get_n_results (page) == 2);

  /* live: the bars follow the camera, answer after answer */
  bt_probability_bars_set_data (bt_test_page_get_bars (page), 0, NULL, NULL);
  bt_test_click_button (GTK_WIDGET (page), "Live Camera");
  BT_TEST_WAIT (bt_live_test_get_n_updates (live) >= 5);
  g_assert_true (bt_live_test_is_running (live));
  g_assert_cmpuint (bt_probability_bars_get_n (bt_test_page_get_bars (page)), ==, 3);
  bt_test_screenshot (GTK_WIDGET (window), "test-page-live.png");
  bt_test_click_button (GTK_WIDGET (page), "Stop Camera");
  g_assert_false (bt_live_test_is_running (live));
  gtk_window_destroy (window);
  bt_test_drain ();
}

int
main (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GdkTexture) texture = NULL;
  GSList *uris;
  int ret;

  /* the camera is GStreamer's test source, live at its own frame rate */
  g_setenv (BT_CAMERA_SOURCE_ENV, "videotestsrc is-live=true pattern=ball", TRUE);
  gtk_test_init (&argc, &argv, NULL);
  if (g_getenv ("BT_PHOTOS_WINDOW_SIZE") != NULL)
    sscanf (g_getenv ("BT_PHOTOS_WINDOW_SIZE"), "%dx%d", &win_w, &win_h);
  root = g_dir_make_tmp ("bt-test-photos-XXXXXX", NULL);
  texture = make_texture ();
  png_bytes = gdk_texture_save_to_png_bytes (texture);
  server = soup_server_new (NULL, NULL);
  soup_server_add_handler (server, NULL, handler, NULL, NULL);
  if (!soup_server_listen_local (server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &error))
    g_error ("server: %s", error->message);
  uris = soup_server_get_uris (server);
  port = g_uri_get_port (uris->data);
  g_slist_free_full (uris, (GDestroyNotify) g_uri_unref);

  g_test_add ("/photos/paste-image", Fixture, NULL, fixture_setup, test_paste_image_into_class, fixture_teardown);
  g_test_add ("/photos/paste-files", Fixture, NULL, fixture_setup, test_paste_copied_files, fixture_teardown);
  g_test_add ("/photos/drop-from-browser", Fixture, NULL, fixture_setup, test_drop_from_browser, fixture_teardown);
  g_test_add ("/photos/camera-records", Fixture, NULL, fixture_setup, test_camera_records_into_class,
              fixture_teardown);
  g_test_add ("/photos/no-camera", Fixture, NULL, fixture_setup, test_no_camera, fixture_teardown);
  g_test_add_func ("/photos/test-page", test_test_page);
  g_test_add_func ("/photos/mjpeg-camera", test_mjpeg_camera);
  g_test_add_func ("/photos/camera-portal", test_camera_portal);
  ret = g_test_run ();
  g_clear_object (&server);
  g_bytes_unref (png_bytes);
  bt_test_rm_rf (root);
  g_free (root);
  bt_test_exit (ret);
}
