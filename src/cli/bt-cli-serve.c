/* bt-cli-serve.c: `bottega-cli serve MODEL [--port N] [--host ADDRESS]`: a small HTTP server
 * (libsoup 3) that classifies images with a saved model.
 *   POST /predict  image bytes (or multipart/form-data, the first part with content) → the
 *                  JSON object `bottega-cli predict --json` prints for one image; 400 + reason
 *                  for what cannot be decoded, 413 too large, 503 busy.
 *   GET /model     the labels and the preprocessing (the ONNX metadata's JSON).
 *   GET /          a one-page form to try it in a browser.
 * Loopback by default. Bounded: request body size, open requests, predictions in flight, and the
 * time a client may take to send its request (--idle-timeout: a connection that sends nothing, or
 * dribbles its headers or body, is closed). With --token (or BOTTEGA_SERVE_TOKEN) every page
 * needs "Authorization: Bearer TOKEN" or ?token=TOKEN, else 401.
 * Decoding and prediction run in worker threads; the model's forward pass is serialized.
 * A model file saved again while serving (a new threshold, a retrained model) is noticed at the
 * next prediction — its inode, size or time changed — and loaded on that worker; a file that does
 * not load leaves the previous model answering, with a message on stderr. */
#include "config.h"

#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <glib-unix.h>
#include <libsoup/soup.h>
#include <signal.h>
#include <stdio.h>
#include <math.h>
#include <string.h>

#include "cli/bt-cli-private.h"
#include "cli/bt-cli-serve.h"
#include "engine/bt-onnx.h"

typedef struct {
  BtModel      *model;          /* owned; replaced under predict_lock when its file changes */
  char         *model_path;
  GStatBuf      model_stat;     /* the file as it was when the model was loaded (or refused) */
  GMutex        predict_lock;   /* bt_predict_image uses the net's buffers */
  GMutex        info_lock;      /* model_json and class_names, which the main thread reads */
  char         *class_names;    /* "a, b, c" for the form */
  GThreadPool  *pool;
  GMainContext *context;
  gsize         max_bytes;
  guint         max_open;       /* requests being received or answered */
  guint         max_busy;       /* predictions queued or running */
  guint         open, busy;
  char         *model_json;
  char         *token;          /* NULL: no token asked */
  gint64        idle_us;        /* longest a request may take to arrive */
  GHashTable   *arriving;       /* SoupServerMessage * → start (µs, monotonic), body not yet read */
  gboolean      stopping;       /* the server is gone: replies go nowhere */
} Server;

typedef struct {
  Server            *server;
  SoupServerMessage *msg;
  GBytes            *body;
  char              *name;
  char              *content_type;
  /* the answer, filled by the worker */
  guint              status;
  char              *json;
} Job;

#define FINISHED_KEY "bottega-finished"

static void
job_free (Job *job)
{
  g_object_unref (job->msg);
  g_bytes_unref (job->body);
  g_free (job->name);
  g_free (job->content_type);
  g_free (job->json);
  g_free (job);
}

static void
respond_json (SoupServerMessage *msg, guint status, const char *json)
{
  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, "application/json; charset=utf-8", SOUP_MEMORY_COPY,
                                    json, strlen (json));
}

static void
respond_error (SoupServerMessage *msg, guint status, const char *reason)
{
  g_autoptr(GString) s = g_string_new ("{\"error\": ");
  bt_json_append_string (s, reason);
  g_string_append (s, "}\n");
  respond_json (msg, status, s->str);
}

/* The same object `predict --json` prints for one image (bt_cli_prediction_json). */
static char *
predictions_json (const BtModel *model, const char *name, const float *probs, double unknown_score,
                  double energy, double distance)
{
  GString *s = g_string_new (NULL);
  bt_cli_prediction_json (s, model, name, probs, unknown_score, energy, distance, 0);
  g_string_append_c (s, '\n');
  return g_string_free (s, FALSE);
}

/* The image of a multipart/form-data body: the first part with content. */
static GBytes *
multipart_image (const char *content_type, GBytes *body, char **filename, GError **error)
{
  g_autoptr(SoupMessageHeaders) headers = soup_message_headers_new (SOUP_MESSAGE_HEADERS_MULTIPART);
  soup_message_headers_replace (headers, "Content-Type", content_type);
  g_autoptr(SoupMultipart) mp = soup_multipart_new_from_message (headers, body);
  if (mp == NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, _("the multipart body cannot be read"));
      return NULL;
    }
  for (int i = 0; i < soup_multipart_get_length (mp); i++)
    {
      SoupMessageHeaders *ph;
      GBytes *pb;
      if (!soup_multipart_get_part (mp, i, &ph, &pb) || g_bytes_get_size (pb) == 0)
        continue;
      GHashTable *params = NULL;
      if (soup_message_headers_get_content_disposition (ph, NULL, &params))
        {
          const char *fn = g_hash_table_lookup (params, "filename");
          if (fn != NULL && *fn != '\0')
            {
              g_free (*filename);
              *filename = g_strdup (fn);
            }
          g_hash_table_destroy (params);
        }
      return g_bytes_ref (pb);
    }
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, _("the multipart body holds no file"));
  return NULL;
}

static void
set_model_info (Server *srv, const BtModel *model)
{
  g_autofree char *labels = bt_onnx_labels_json ((const char * const *) model->class_names);
  g_autofree char *prep = bt_onnx_preprocessing_json (&model->prep);
  g_mutex_lock (&srv->info_lock);
  g_free (srv->model_json);
  g_free (srv->class_names);
  srv->model_json = g_strdup_printf ("{\"labels\": %s, \"preprocessing\": %s}\n", labels, prep);
  srv->class_names = g_strjoinv (", ", model->class_names);
  g_mutex_unlock (&srv->info_lock);
}

static char *
get_model_info (Server *srv, gboolean names)
{
  char *s;
  g_mutex_lock (&srv->info_lock);
  s = g_strdup (names ? srv->class_names : srv->model_json);
  g_mutex_unlock (&srv->info_lock);
  return s;
}

/* Under predict_lock: the model file saved again since it was loaded (atomic saves give it a new
 * inode) is loaded now; one that does not load is reported once and the old model stays. */
static void
reload_if_changed (Server *srv)
{
  GStatBuf st;
  g_autoptr(GError) error = NULL;
  BtModel *fresh;

  if (g_stat (srv->model_path, &st) != 0 ||
      (st.st_ino == srv->model_stat.st_ino && st.st_dev == srv->model_stat.st_dev &&
       st.st_size == srv->model_stat.st_size && st.st_mtime == srv->model_stat.st_mtime))
    return;
  srv->model_stat = st;
  fresh = bt_model_load (srv->model_path, &error);
  if (fresh == NULL)
    {
      g_printerr (_("%s changed but cannot be used (%s); still serving the model loaded before\n"),
                  srv->model_path, error->message);
      return;
    }
  bt_model_free (srv->model);
  srv->model = fresh;
  set_model_info (srv, fresh);
  g_printerr (_("%s changed: serving the model saved now\n"), srv->model_path);
}

static gboolean
reply_in_main (gpointer data)
{
  Job *job = data;
  job->server->busy--;
  if (!job->server->stopping && g_object_get_data (G_OBJECT (job->msg), FINISHED_KEY) == NULL)
    {
      respond_json (job->msg, job->status, job->json);
      soup_server_message_unpause (job->msg);
    }
  job_free (job);
  return G_SOURCE_REMOVE;
}

static void
predict_worker (gpointer data, gpointer user_data)
{
  Job *job = data;
  Server *srv = job->server;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) image_bytes = NULL;
  g_autoptr(GString) reason = NULL;

  if (job->content_type != NULL && g_str_has_prefix (job->content_type, "multipart/"))
    image_bytes = multipart_image (job->content_type, job->body, &job->name, &error);
  else
    image_bytes = g_bytes_ref (job->body);

  g_autoptr(BtImage) img = NULL;
  if (image_bytes != NULL)
    {
      gsize len;
      const guint8 *data_ptr = g_bytes_get_data (image_bytes, &len);
      BtPreprocess p;
      int channels;
      /* the recipe of the model as it is now (bt_prepare_image fits the image to the one that predicts) */
      g_mutex_lock (&srv->predict_lock);
      reload_if_changed (srv);
      p = srv->model->prep;
      channels = srv->model->backbone_name != NULL ? 3 : p.channels;
      g_mutex_unlock (&srv->predict_lock);
      if (len == 0)
        g_set_error_literal (&error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, _("the request holds no image"));
      else
        img = bt_image_decode (data_ptr, len, channels, 2 * p.width, 2 * p.height, NULL, NULL, &error);
    }
  if (img != NULL)
    {
      g_autofree float *probs = NULL;
      double unknown_score = NAN, energy = NAN, distance = NAN;
      g_mutex_lock (&srv->predict_lock);
      probs = bt_predict_image_parts (srv->model, img, &unknown_score, &energy, &distance, &error);
      if (probs != NULL)
        {
          job->status = SOUP_STATUS_OK;
          job->json = predictions_json (srv->model, job->name, probs, unknown_score, energy, distance);
        }
      g_mutex_unlock (&srv->predict_lock);
    }
  if (job->json == NULL)
    {
      job->status = SOUP_STATUS_BAD_REQUEST;
      reason = g_string_new ("{\"error\": ");
      bt_json_append_string (reason, error ? error->message : _("the image cannot be read"));
      g_string_append (reason, "}\n");
      job->json = g_strdup (reason->str);
    }
  g_main_context_invoke (srv->context, reply_in_main, job);
}

/* Same length and no early exit: the time taken says nothing about the token. */
static gboolean
same_secret (const char *a, const char *b)
{
  gsize la = strlen (a), lb = strlen (b);
  guint8 diff = la != lb;
  for (gsize i = 0; i < la; i++)
    diff |= (guint8) a[i] ^ (guint8) b[i % MAX (lb, 1)];
  return diff == 0;
}

/* FALSE (and a 401 sent) when a token is asked and the request does not carry it. */
static gboolean
authorized (Server *srv, SoupServerMessage *msg, GHashTable *query)
{
  if (srv->token == NULL)
    return TRUE;
  const char *auth = soup_message_headers_get_one (soup_server_message_get_request_headers (msg), "Authorization");
  const char *q = query ? g_hash_table_lookup (query, "token") : NULL;
  if ((auth != NULL && g_str_has_prefix (auth, "Bearer ") && same_secret (auth + 7, srv->token))
      || (q != NULL && same_secret (q, srv->token)))
    return TRUE;
  soup_message_headers_replace (soup_server_message_get_response_headers (msg), "WWW-Authenticate",
                                "Bearer realm=\"bottega\"");
  respond_error (msg, SOUP_STATUS_UNAUTHORIZED,
                 _("this server asks for a token: send “Authorization: Bearer TOKEN” or add ?token=TOKEN"));
  return FALSE;
}

static void
handle_predict (SoupServer *soup, SoupServerMessage *msg, const char *path, GHashTable *query, gpointer data)
{
  Server *srv = data;
  if (soup_server_message_get_status (msg) != 0)
    return;   /* refused when its headers came (too large, chunked, too many) */
  if (!authorized (srv, msg, query))
    return;
  if (strcmp (soup_server_message_get_method (msg), SOUP_METHOD_POST) != 0)
    {
      soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Allow", "POST");
      respond_error (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, _("send the image with POST"));
      return;
    }
  if (srv->busy >= srv->max_busy)
    {
      soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Retry-After", "1");
      respond_error (msg, SOUP_STATUS_SERVICE_UNAVAILABLE, _("too many images at once; try again"));
      return;
    }
  SoupMessageBody *body = soup_server_message_get_request_body (msg);
  Job *job = g_new0 (Job, 1);
  job->server = srv;
  job->msg = g_object_ref (msg);
  job->body = soup_message_body_flatten (body);
  const char *name = query ? g_hash_table_lookup (query, "name") : NULL;
  job->name = g_strdup (name != NULL && g_utf8_validate (name, -1, NULL) ? name : "image");
  const char *ct = soup_message_headers_get_one (soup_server_message_get_request_headers (msg), "Content-Type");
  job->content_type = g_strdup (ct);
  srv->busy++;
  soup_server_message_pause (msg);
  g_thread_pool_push (srv->pool, job, NULL);
}

static void
handle_model (SoupServer *soup, SoupServerMessage *msg, const char *path, GHashTable *query, gpointer data)
{
  Server *srv = data;
  if (soup_server_message_get_status (msg) != 0 || !authorized (srv, msg, query))
    return;
  if (strcmp (soup_server_message_get_method (msg), SOUP_METHOD_GET) != 0 &&
      strcmp (soup_server_message_get_method (msg), SOUP_METHOD_HEAD) != 0)
    {
      respond_error (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, _("only GET is allowed here"));
      return;
    }
  g_autofree char *json = get_model_info (srv, FALSE);
  respond_json (msg, SOUP_STATUS_OK, json);
}

static char *
html_escape (const char *s)
{
  return g_markup_escape_text (s, -1);
}

static void
handle_root (SoupServer *soup, SoupServerMessage *msg, const char *path, GHashTable *query, gpointer data)
{
  Server *srv = data;
  if (soup_server_message_get_status (msg) != 0)
    return;
  if (strcmp (path, "/") != 0)
    {
      respond_error (msg, SOUP_STATUS_NOT_FOUND, _("no such page; try / , /model or POST /predict"));
      return;
    }
  if (!authorized (srv, msg, query))
    return;
  if (strcmp (soup_server_message_get_method (msg), SOUP_METHOD_GET) != 0 &&
      strcmp (soup_server_message_get_method (msg), SOUP_METHOD_HEAD) != 0)
    {
      respond_error (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, _("only GET is allowed here"));
      return;
    }
  g_autofree char *title = html_escape (_("Bottega model"));
  g_autofree char *pick = html_escape (_("Choose an image; the model’s answer appears below."));
  g_autofree char *names = get_model_info (srv, TRUE);
  g_autofree char *classes = html_escape (names);
  g_autofree char *classes_label = html_escape (_("Classes:"));
  g_autofree char *api = html_escape (_("From a program: POST the image bytes to /predict; GET /model for "
                                        "the labels and the preprocessing."));
  g_autofree char *page = g_strdup_printf (
    "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>%s</title>"
    "<meta name=\"viewport\" content=\"width=device-width\">"
    "<style>body{font-family:sans-serif;max-width:40em;margin:2em auto;padding:0 1em}"
    "img{max-width:100%%;max-height:16em}td{padding:0 1em 0 0}</style></head><body>"
    "<h1>%s</h1><p>%s</p><p>%s %s</p>"
    "<input type=\"file\" id=\"f\" accept=\"image/*\"><p><img id=\"i\" alt=\"\"></p>"
    "<table id=\"t\"></table><pre id=\"e\"></pre><p><small>%s</small></p>"
    "<script>\n"
    "document.getElementById('f').onchange = async (ev) => {\n"
    "  const file = ev.target.files[0]; if (!file) return;\n"
    "  document.getElementById('i').src = URL.createObjectURL(file);\n"
    "  const t = document.getElementById('t'), e = document.getElementById('e');\n"
    "  t.textContent = ''; e.textContent = '';\n"
    "  try {\n"
    "    const token = new URLSearchParams(location.search).get('token');\n"
    "    const r = await fetch('/predict?name=' + encodeURIComponent(file.name) +\n"
    "                          (token ? '&token=' + encodeURIComponent(token) : ''), {method: 'POST', body: file});\n"
    "    const j = await r.json();\n"
    "    if (!r.ok) { e.textContent = j.error || r.statusText; return; }\n"
    "    for (const p of j.predictions) {\n"
    "      const row = t.insertRow(); row.insertCell().textContent = p['class'];\n"
    "      row.insertCell().textContent = (100 * p.probability).toFixed(1) + ' %%';\n"
    "    }\n"
    "  } catch (x) { e.textContent = String(x); }\n"
    "};\n"
    "</script></body></html>\n",
    title, title, pick, classes_label, classes, api);
  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_server_message_set_response (msg, "text/html; charset=utf-8", SOUP_MEMORY_COPY, page, strlen (page));
}

/* Refuses a request from its headers alone. libsoup still reads the body of a refused request
 * (unless the client asked "Expect: 100-continue": then the refusal goes out at once), but no
 * longer keeps it: memory stays bounded whatever the client sends. */
static void
got_headers (SoupServerMessage *msg, gpointer data)
{
  Server *srv = data;
  SoupMessageHeaders *h = soup_server_message_get_request_headers (msg);
  if (srv->open > srv->max_open)
    {
      soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Retry-After", "1");
      respond_error (msg, SOUP_STATUS_SERVICE_UNAVAILABLE, _("too many requests at once; try again"));
    }
  else if (soup_message_headers_get_encoding (h) == SOUP_ENCODING_CHUNKED)
    respond_error (msg, SOUP_STATUS_LENGTH_REQUIRED, _("send the image with a Content-Length"));
  else if (soup_message_headers_get_encoding (h) == SOUP_ENCODING_CONTENT_LENGTH &&
           (guint64) soup_message_headers_get_content_length (h) > srv->max_bytes)
    {
      g_autofree char *limit = g_format_size (srv->max_bytes);
      g_autofree char *reason = g_strdup_printf (_("the request is larger than %s"), limit);
      respond_error (msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, reason);
    }
  else
    return;
  soup_message_body_set_accumulate (soup_server_message_get_request_body (msg), FALSE);
  soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Connection", "close");
}

static void
got_body (SoupServerMessage *msg, gpointer data)
{
  Server *srv = data;
  g_hash_table_remove (srv->arriving, msg);
}

/* Every second: a request still arriving after the idle timeout has its connection shut. */
static gboolean
close_idle (gpointer data)
{
  Server *srv = data;
  gint64 now = g_get_monotonic_time ();
  GHashTableIter it;
  gpointer msg, start;
  g_hash_table_iter_init (&it, srv->arriving);
  while (g_hash_table_iter_next (&it, &msg, &start))
    if (now - (gint64) GPOINTER_TO_SIZE (start) > srv->idle_us)
      {
        GSocket *sock = soup_server_message_get_socket (msg);
        if (sock != NULL)
          g_socket_shutdown (sock, TRUE, TRUE, NULL);
        g_hash_table_iter_remove (&it);
      }
  return G_SOURCE_CONTINUE;
}

static void
message_finished (SoupServerMessage *msg, gpointer data)
{
  Server *srv = data;
  g_hash_table_remove (srv->arriving, msg);
  g_object_set_data (G_OBJECT (msg), FINISHED_KEY, GINT_TO_POINTER (1));
  srv->open--;
}

static void
request_started (SoupServer *soup, SoupServerMessage *msg, gpointer data)
{
  Server *srv = data;
  srv->open++;
  g_hash_table_insert (srv->arriving, msg, GSIZE_TO_POINTER ((gsize) g_get_monotonic_time ()));
  g_signal_connect (msg, "got-headers", G_CALLBACK (got_headers), srv);
  g_signal_connect (msg, "got-body", G_CALLBACK (got_body), srv);
  g_signal_connect (msg, "finished", G_CALLBACK (message_finished), srv);
}

static gboolean
on_signal (gpointer data)
{
  g_main_loop_quit (data);
  return G_SOURCE_CONTINUE;
}

int
bt_cli_serve (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *host = NULL, *token = NULL;
  int port = 8080, max_mb = 16, max_busy = 8, idle_s = 30;
  GOptionEntry entries[] = {
    { "port", 'p', 0, G_OPTION_ARG_INT, &port, N_("Port to listen on (0: any free port; default 8080)"), N_("N") },
    { "host", 0, 0, G_OPTION_ARG_STRING, &host,
      N_("Address to listen on (default 127.0.0.1, this computer only)"), N_("ADDRESS") },
    { "max-size", 0, 0, G_OPTION_ARG_INT, &max_mb, N_("Largest image accepted, in MB (default 16)"), N_("MB") },
    { "max-requests", 0, 0, G_OPTION_ARG_INT, &max_busy,
      N_("Images classified or waiting at once; more get “busy” (default 8)"), N_("N") },
    { "token", 0, 0, G_OPTION_ARG_STRING, &token,
      N_("Answer only requests that carry this token (also read from BOTTEGA_SERVE_TOKEN)"), N_("TOKEN") },
    { "idle-timeout", 0, 0, G_OPTION_ARG_INT, &idle_s,
      N_("Close a connection whose request takes longer than this to arrive, in seconds (default 30)"), N_("S") },
    { NULL }
  };
  g_autoptr(GOptionContext) context = g_option_context_new (_("MODEL — classify images sent over HTTP"));
  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  g_option_context_set_translation_domain (context, GETTEXT_PACKAGE);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    return bt_cli_usage ("serve", "%s", error->message);
  if (argc != 2)
    return bt_cli_usage ("serve", _("give one model file"));
  if (port < 0 || port > 65535)
    return bt_cli_usage ("serve", _("--port must be between 0 and 65535"));
  if (max_mb < 1 || max_mb > 1024)
    return bt_cli_usage ("serve", _("--max-size must be between 1 and 1024"));
  if (max_busy < 1 || max_busy > 1024)
    return bt_cli_usage ("serve", _("--max-requests must be between 1 and 1024"));
  if (idle_s < 1 || idle_s > 3600)
    return bt_cli_usage ("serve", _("--idle-timeout must be between 1 and 3600"));
  if (token == NULL && g_getenv ("BOTTEGA_SERVE_TOKEN") != NULL && *g_getenv ("BOTTEGA_SERVE_TOKEN") != '\0')
    token = g_strdup (g_getenv ("BOTTEGA_SERVE_TOKEN"));
  if (token != NULL && (*token == '\0' || strpbrk (token, " \t\r\n") != NULL))
    return bt_cli_usage ("serve", _("--token must be one word"));
  g_autoptr(GInetAddress) address = g_inet_address_new_from_string (host ? host : "127.0.0.1");
  if (address == NULL)
    return bt_cli_usage ("serve", _("--host must be an IP address, such as 127.0.0.1 or ::1"));

  Server srv = { 0 };
  if (g_stat (argv[1], &srv.model_stat) != 0)
    memset (&srv.model_stat, 0, sizeof srv.model_stat);
  BtModel *model = bt_model_load (argv[1], &error);
  if (model == NULL)
    return bt_cli_fail ("%s: %s", argv[1], error->message);

  srv.model = model;
  srv.model_path = argv[1];
  g_mutex_init (&srv.predict_lock);
  g_mutex_init (&srv.info_lock);
  srv.context = g_main_context_default ();
  srv.max_bytes = (gsize) max_mb * 1000 * 1000;   /* MB as g_format_size prints them */
  srv.max_busy = (guint) max_busy;
  srv.max_open = 4 * (guint) max_busy + 16;
  srv.token = token;
  srv.idle_us = (gint64) idle_s * G_USEC_PER_SEC;
  srv.arriving = g_hash_table_new (NULL, NULL);
  set_model_info (&srv, model);
  srv.pool = g_thread_pool_new (predict_worker, NULL, MIN (max_busy, (int) g_get_num_processors ()), FALSE, &error);
  g_assert_no_error (error);

  g_autofree char *server_header = g_strdup_printf ("bottega-cli/%s ", PACKAGE_VERSION);
  g_autoptr(SoupServer) soup = soup_server_new ("server-header", server_header, NULL);
  g_signal_connect (soup, "request-started", G_CALLBACK (request_started), &srv);
  soup_server_add_handler (soup, "/predict", handle_predict, &srv, NULL);
  soup_server_add_handler (soup, "/model", handle_model, &srv, NULL);
  soup_server_add_handler (soup, NULL, handle_root, &srv, NULL);

  g_autoptr(GSocketAddress) sa = g_inet_socket_address_new (address, (guint16) port);
  if (!soup_server_listen (soup, sa, 0, &error))
    {
      g_thread_pool_free (srv.pool, TRUE, FALSE);
      g_free (srv.model_json);
      g_free (srv.class_names);
      bt_model_free (srv.model);
      g_hash_table_unref (srv.arriving);
      return bt_cli_fail (_("cannot listen on %s port %d: %s"), host ? host : "127.0.0.1", port, error->message);
    }
  GSList *uris = soup_server_get_uris (soup);
  for (GSList *l = uris; l != NULL; l = l->next)
    {
      g_autofree char *uri = g_uri_to_string (l->data);
      /* TRANSLATORS: %s is the server's address, e.g. http://127.0.0.1:8080/ */
      printf (_("Serving %s at %s (Ctrl+C stops)\n"), argv[1], uri);
    }
  g_slist_free_full (uris, (GDestroyNotify) g_uri_unref);
  fflush (stdout);

  g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  guint sigint = g_unix_signal_add (SIGINT, on_signal, loop);
  guint sigterm = g_unix_signal_add (SIGTERM, on_signal, loop);
  guint idle_check = g_timeout_add_seconds (1, close_idle, &srv);
  g_main_loop_run (loop);
  g_source_remove (sigint);
  g_source_remove (sigterm);
  g_source_remove (idle_check);
  srv.stopping = TRUE;
  soup_server_disconnect (soup);
  /* finish the predictions under way; their replies go nowhere now */
  g_thread_pool_free (srv.pool, FALSE, TRUE);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_mutex_clear (&srv.predict_lock);
  g_mutex_clear (&srv.info_lock);
  g_free (srv.model_json);
  g_free (srv.class_names);
  bt_model_free (srv.model);
  g_hash_table_unref (srv.arriving);
  return BT_CLI_EXIT_OK;
}
