/* bt-test-server.c: the model server of the backbone download tests (bt-test-server.h). */
#include "config.h"

#include <libsoup/soup.h>
#include <string.h>

#include "bt-test-photos.h"
#include "bt-test-server.h"
#include "training/bt-backbones.h"

struct _BtTestServer {
  SoupServer *server;
  guint port;
  GPtrArray *held;     /* connections kept open by the "stall" route */
};

static GBytes *
model_bytes (const char *file)
{
  g_autofree char *path = bt_test_shared_file ("models", file);
  char *data;
  gsize len;

  if (path == NULL || !g_file_get_contents (path, &data, &len, NULL))
    return NULL;
  return g_bytes_new_take (data, len);
}

/* Writes a raw response on a stolen connection: the full Content-Length, then `send` bytes. */
static void
raw_reply (BtTestServer *ts, SoupServerMessage *msg, GBytes *body, gsize send, gboolean close)
{
  GIOStream *io = soup_server_message_steal_connection (msg);
  GOutputStream *out = g_io_stream_get_output_stream (io);
  g_autofree char *head = g_strdup_printf ("HTTP/1.1 200 OK\r\nContent-Length: %" G_GSIZE_FORMAT "\r\n"
                                           "Content-Type: application/octet-stream\r\n\r\n",
                                           g_bytes_get_size (body));
  gsize len;
  const guint8 *data = g_bytes_get_data (body, &len);

  g_output_stream_write_all (out, head, strlen (head), NULL, NULL, NULL);
  g_output_stream_write_all (out, data, MIN (send, len), NULL, NULL, NULL);
  g_output_stream_flush (out, NULL, NULL);
  if (close)
    {
      g_io_stream_close (io, NULL, NULL);
      g_object_unref (io);
    }
  else
    g_ptr_array_add (ts->held, io);
}

static void
handler (SoupServer *srv, SoupServerMessage *msg, const char *path, GHashTable *query, gpointer data)
{
  g_auto(GStrv) parts = g_strsplit (path + 1, "/", 2);
  g_autoptr(GBytes) body = NULL;

  if (g_strv_length (parts) != 2 || strcmp (parts[0], "missing") == 0 ||
      (body = model_bytes (parts[1])) == NULL)
    {
      soup_server_message_set_status (msg, SOUP_STATUS_NOT_FOUND, NULL);
      return;
    }
  if (strcmp (parts[0], "ok") == 0)
    {
      soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
      soup_message_body_append_bytes (soup_server_message_get_response_body (msg), body);
    }
  else if (strcmp (parts[0], "bad") == 0)
    {
      /* the same size with one byte changed */
      gsize len;
      guint8 *copy = g_memdup2 (g_bytes_get_data (body, &len), g_bytes_get_size (body));
      copy[len / 2] ^= 0x5a;
      soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
      soup_message_body_append (soup_server_message_get_response_body (msg), SOUP_MEMORY_TAKE, copy, len);
    }
  else if (strcmp (parts[0], "half") == 0)
    raw_reply (data, msg, body, g_bytes_get_size (body) / 2, TRUE);
  else if (strcmp (parts[0], "stall") == 0)
    raw_reply (data, msg, body, 200 * 1024, FALSE);
  else
    soup_server_message_set_status (msg, SOUP_STATUS_NOT_FOUND, NULL);
}

BtTestServer *
bt_test_server_new (void)
{
  g_autoptr(GError) error = NULL;
  BtTestServer *ts = g_new0 (BtTestServer, 1);
  GSList *uris;

  ts->held = g_ptr_array_new_with_free_func (g_object_unref);
  ts->server = soup_server_new (NULL, NULL);
  soup_server_add_handler (ts->server, NULL, handler, ts, NULL);
  if (!soup_server_listen_local (ts->server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &error))
    g_error ("cannot listen on 127.0.0.1: %s", error->message);
  uris = soup_server_get_uris (ts->server);
  ts->port = (guint) g_uri_get_port (uris->data);
  g_slist_free_full (uris, (GDestroyNotify) g_uri_unref);
  return ts;
}

void
bt_test_server_free (BtTestServer *ts)
{
  g_ptr_array_unref (ts->held);
  soup_server_disconnect (ts->server);
  g_object_unref (ts->server);
  g_free (ts);
}

void
bt_test_server_use (BtTestServer *ts, const char *route)
{
  g_autofree char *url = g_strdup_printf ("http://127.0.0.1:%u/%s/", ts->port, route);
  g_setenv ("BOTTEGA_BACKBONE_URL", url, TRUE);
}

char *
bt_test_backbones_listing (void)
{
  g_autofree char *dir = bt_backbones_user_dir ();
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    if (strcmp (name, "speed.ini") != 0)
      g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, (GCompareFunc) g_strcmp0);
  g_ptr_array_add (names, NULL);
  return g_strjoinv (" ", (char **) names->pdata);
}

char *
bt_test_backbones_fresh_home (const char *tmpl)
{
  char *root = g_dir_make_tmp (tmpl, NULL);
  g_autofree char *data = g_build_filename (root, "data", NULL);
  g_autofree char *empty = g_build_filename (root, "no-backbones", NULL);

  g_assert_nonnull (root);
  g_assert_cmpint (g_mkdir_with_parents (empty, 0755), ==, 0);
  g_setenv ("XDG_DATA_HOME", data, TRUE);
  g_setenv ("BOTTEGA_BACKBONE_DIR", empty, TRUE);
  return root;
}
