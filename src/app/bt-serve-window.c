/* bt-serve-window.c: the "Serve This Model…" window (bt-serve-window.h). The server is the
 * CLI's own (`bottega-cli serve`, a separate process: a crash or a hostile request there cannot
 * touch the window); this file starts it, reads the address it prints, and stops it. */
#include "config.h"

#include <glib/gi18n.h>
#include <signal.h>
#include <string.h>

#include "bt-serve-window.h"
#include "bt-dialogs.h"

typedef struct {
  GtkWindow   *window;
  GSubprocess *proc;
  GCancellable *cancel;
  char        *model_path;
  char        *token;
  char        *address;      /* with ?token=, NULL until serving */
  char        *base;         /* http://127.0.0.1:PORT/ */
  GtkLabel    *status;
  GtkLabel    *url;
  GtkWidget   *copy, *open, *stop;
  GtkTextBuffer *usage;
  GString     *err_text;
} Serve;

#define SERVE_KEY "bt-serve"

static void
serve_free (Serve *s)
{
  g_cancellable_cancel (s->cancel);
  if (s->proc != NULL)
    g_subprocess_send_signal (s->proc, SIGTERM);   /* closing the window stops the server */
  g_clear_object (&s->proc);
  g_clear_object (&s->cancel);
  g_free (s->model_path);
  g_free (s->token);
  g_free (s->address);
  g_free (s->base);
  g_string_free (s->err_text, TRUE);
  g_free (s);
}

/* bottega-cli beside the app (installed), in the build tree's src/cli, or on the PATH. */
static char *
find_cli (void)
{
  const char *build = g_getenv ("BOTTEGA_BUILD_ROOT");
  if (build != NULL)
    {
      char *p = g_build_filename (build, "src", "cli", "bottega-cli", NULL);
      if (g_file_test (p, G_FILE_TEST_IS_EXECUTABLE))
        return p;
      g_free (p);
    }
  g_autofree char *exe = g_file_read_link ("/proc/self/exe", NULL);
  if (exe != NULL)
    {
      g_autofree char *dir = g_path_get_dirname (exe);
      const char *rel[] = { "bottega-cli", "../cli/bottega-cli" };
      for (guint i = 0; i < G_N_ELEMENTS (rel); i++)
        {
          char *p = g_build_filename (dir, rel[i], NULL);
          if (g_file_test (p, G_FILE_TEST_IS_EXECUTABLE))
            return p;
          g_free (p);
        }
    }
  return g_find_program_in_path ("bottega-cli");
}

static void
set_stopped (Serve *s, const char *why)
{
  g_clear_pointer (&s->address, g_free);
  gtk_label_set_text (s->status, why);
  gtk_widget_set_sensitive (s->copy, FALSE);
  gtk_widget_set_sensitive (s->open, FALSE);
  gtk_widget_set_sensitive (s->stop, FALSE);
}

static void
show_usage (Serve *s)
{
  g_autofree char *text = g_strdup_printf (
    _("From a terminal:\n"
      "  curl -H 'Authorization: Bearer %s' --data-binary @photo.jpg %spredict\n\n"
      "From Python (standard library only):\n"
      "  import json, urllib.request\n"
      "  req = urllib.request.Request(\"%spredict\", data=open(\"photo.jpg\", \"rb\").read(),\n"
      "                               headers={\"Authorization\": \"Bearer %s\"})\n"
      "  print(json.load(urllib.request.urlopen(req))[\"predictions\"][0])\n\n"
      "The answer lists every class, most likely first, with its probability.\n"
      "Only programs on this computer can reach the server, and only with its token."),
    s->token, s->base, s->base, s->token);
  gtk_text_buffer_set_text (s->usage, text, -1);
}

static void
line_read_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (source), result,
                                                                     NULL, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  Serve *s = data;
  const char *at = line ? strstr (line, "http://") : NULL;
  if (at == NULL)
    return;   /* the process ended first: wait_cb says why */
  const char *end = at + strcspn (at, " \t");
  s->base = g_strndup (at, end - at);
  s->address = g_strdup_printf ("%s?token=%s", s->base, s->token);
  gtk_label_set_text (s->url, s->address);
  gtk_label_set_text (s->status, _("Serving. Open the address in a browser to try it, or use the lines below."));
  gtk_widget_set_sensitive (s->copy, TRUE);
  gtk_widget_set_sensitive (s->open, TRUE);
  show_usage (s);
}

static void
err_read_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (source), result,
                                                                     NULL, &error);
  if (line == NULL)
    return;   /* end of stream, or cancelled */
  Serve *s = data;
  if (s->err_text->len < 4096)
    g_string_append_printf (s->err_text, "%s%s", s->err_text->len ? "\n" : "", line);
  g_data_input_stream_read_line_async (G_DATA_INPUT_STREAM (source), G_PRIORITY_DEFAULT, s->cancel,
                                       err_read_cb, s);
}

static void
wait_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr(GError) error = NULL;
  if (!g_subprocess_wait_finish (G_SUBPROCESS (source), result, &error)
      && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  Serve *s = data;
  gboolean asked = g_object_get_data (G_OBJECT (source), "bt-stopped") != NULL;
  g_clear_object (&s->proc);
  if (asked)
    set_stopped (s, _("Stopped."));
  else
    {
      g_autofree char *why = g_strdup_printf (_("The server stopped: %s"),
                                              s->err_text->len ? s->err_text->str : _("no reason given"));
      set_stopped (s, why);
    }
}

static void
stop_clicked (GtkButton *button, Serve *s)
{
  if (s->proc == NULL)
    return;
  g_object_set_data (G_OBJECT (s->proc), "bt-stopped", GINT_TO_POINTER (1));
  g_subprocess_send_signal (s->proc, SIGTERM);
}

static void
copy_clicked (GtkButton *button, Serve *s)
{
  if (s->address != NULL)
    gdk_clipboard_set_text (gtk_widget_get_clipboard (GTK_WIDGET (button)), s->address);
}

static void
open_clicked (GtkButton *button, Serve *s)
{
  if (s->address != NULL)
    gtk_show_uri (s->window, s->address, GDK_CURRENT_TIME);
}

static gboolean
start (Serve *s, GError **error)
{
  g_autofree char *cli = find_cli ();
  if (cli == NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                           _("bottega-cli, which runs the server, is not installed beside the app."));
      return FALSE;
    }
  g_autoptr(GSubprocessLauncher) launcher =
    g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  /* the token through the environment: not on a command line others can read */
  g_subprocess_launcher_setenv (launcher, "BOTTEGA_SERVE_TOKEN", s->token, TRUE);
  s->proc = g_subprocess_launcher_spawn (launcher, error, cli, "serve", s->model_path, "--port", "0",
                                         "--host", "127.0.0.1", NULL);
  if (s->proc == NULL)
    return FALSE;
  g_autoptr(GDataInputStream) out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (s->proc));
  g_autoptr(GDataInputStream) err = g_data_input_stream_new (g_subprocess_get_stderr_pipe (s->proc));
  g_data_input_stream_read_line_async (out, G_PRIORITY_DEFAULT, s->cancel, line_read_cb, s);
  g_data_input_stream_read_line_async (err, G_PRIORITY_DEFAULT, s->cancel, err_read_cb, s);
  g_subprocess_wait_async (s->proc, s->cancel, wait_cb, s);
  return TRUE;
}

static char *
random_token (void)
{
  GString *t = g_string_new (NULL);
  for (int i = 0; i < 4; i++)
    g_string_append_printf (t, "%08x", g_random_int ());
  return g_string_free (t, FALSE);
}

static GtkWidget *
button_new (const char *mnemonic, GCallback cb, Serve *s)
{
  GtkWidget *b = gtk_button_new_with_mnemonic (mnemonic);
  g_signal_connect (b, "clicked", cb, s);
  return b;
}

GtkWindow *
bt_serve_window_open (GtkWindow *parent, const char *model_path)
{
  g_return_val_if_fail (parent == NULL || GTK_IS_WINDOW (parent), NULL);
  g_return_val_if_fail (model_path != NULL, NULL);

  Serve *s = g_new0 (Serve, 1);
  s->model_path = g_strdup (model_path);
  s->token = random_token ();
  s->cancel = g_cancellable_new ();
  s->err_text = g_string_new (NULL);
  s->window = GTK_WINDOW (gtk_window_new ());
  g_object_set_data_full (G_OBJECT (s->window), SERVE_KEY, s, (GDestroyNotify) serve_free);
  gtk_window_set_title (s->window, _("Serve This Model"));
  bt_dialogs_close_on_escape (s->window);
  gtk_window_set_destroy_with_parent (s->window, TRUE);
  if (parent != NULL)
    gtk_window_set_transient_for (s->window, parent);
  gtk_window_set_default_size (s->window, 680, 460);

  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 12);
  gtk_widget_set_margin_start (box, 18);
  gtk_widget_set_margin_end (box, 18);
  gtk_widget_set_margin_top (box, 18);
  gtk_widget_set_margin_bottom (box, 18);
  gtk_window_set_child (s->window, box);

  g_autofree char *base = g_path_get_basename (model_path);
  g_autofree char *heading = g_strdup_printf (_("Serving “%s” on this computer"), base);
  GtkWidget *title = gtk_label_new (heading);
  gtk_label_set_xalign (GTK_LABEL (title), 0);
  gtk_label_set_wrap (GTK_LABEL (title), TRUE);
  gtk_widget_add_css_class (title, "title-2");
  gtk_box_append (GTK_BOX (box), title);

  s->status = GTK_LABEL (gtk_label_new (_("Starting the server…")));
  gtk_label_set_xalign (s->status, 0);
  gtk_label_set_wrap (s->status, TRUE);
  gtk_box_append (GTK_BOX (box), GTK_WIDGET (s->status));

  s->url = GTK_LABEL (gtk_label_new (""));
  gtk_label_set_xalign (s->url, 0);
  gtk_label_set_selectable (s->url, TRUE);
  gtk_label_set_wrap (s->url, TRUE);
  gtk_label_set_wrap_mode (s->url, PANGO_WRAP_CHAR);
  gtk_widget_add_css_class (GTK_WIDGET (s->url), "monospace");
  gtk_box_append (GTK_BOX (box), GTK_WIDGET (s->url));

  GtkWidget *row = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 6);
  s->copy = button_new (_("_Copy Address"), G_CALLBACK (copy_clicked), s);
  s->open = button_new (_("_Open in Browser"), G_CALLBACK (open_clicked), s);
  s->stop = button_new (_("_Stop"), G_CALLBACK (stop_clicked), s);
  gtk_widget_set_sensitive (s->copy, FALSE);
  gtk_widget_set_sensitive (s->open, FALSE);
  gtk_box_append (GTK_BOX (row), s->copy);
  gtk_box_append (GTK_BOX (row), s->open);
  gtk_box_append (GTK_BOX (row), s->stop);
  gtk_box_append (GTK_BOX (box), row);

  GtkWidget *view = gtk_text_view_new ();
  gtk_text_view_set_editable (GTK_TEXT_VIEW (view), FALSE);
  gtk_text_view_set_monospace (GTK_TEXT_VIEW (view), TRUE);
  gtk_text_view_set_wrap_mode (GTK_TEXT_VIEW (view), GTK_WRAP_NONE);   /* code: scroll, never wrap */
  gtk_text_view_set_left_margin (GTK_TEXT_VIEW (view), 6);
  gtk_text_view_set_top_margin (GTK_TEXT_VIEW (view), 6);
  gtk_accessible_update_property (GTK_ACCESSIBLE (view), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _("How to use the server"), -1);
  s->usage = gtk_text_view_get_buffer (GTK_TEXT_VIEW (view));
  GtkWidget *scrolled = gtk_scrolled_window_new ();
  gtk_widget_set_vexpand (scrolled, TRUE);
  gtk_scrolled_window_set_child (GTK_SCROLLED_WINDOW (scrolled), view);
  gtk_box_append (GTK_BOX (box), scrolled);

  g_autoptr(GError) error = NULL;
  if (!start (s, &error))
    {
      g_autofree char *why = g_strdup_printf (_("The server could not start: %s"), error->message);
      set_stopped (s, why);
    }
  gtk_window_present (s->window);
  return s->window;
}

const char *
bt_serve_window_get_address (GtkWindow *window)
{
  Serve *s = g_object_get_data (G_OBJECT (window), SERVE_KEY);
  return s ? s->address : NULL;
}

char *
bt_serve_window_get_usage (GtkWindow *window)
{
  Serve *s = g_object_get_data (G_OBJECT (window), SERVE_KEY);
  GtkTextIter a, b;
  if (s == NULL)
    return NULL;
  gtk_text_buffer_get_bounds (s->usage, &a, &b);
  return gtk_text_buffer_get_text (s->usage, &a, &b, FALSE);
}

const char *
bt_serve_window_get_token (GtkWindow *window)
{
  Serve *s = g_object_get_data (G_OBJECT (window), SERVE_KEY);
  return s ? s->token : NULL;
}

gboolean
bt_serve_window_is_serving (GtkWindow *window)
{
  Serve *s = g_object_get_data (G_OBJECT (window), SERVE_KEY);
  return s != NULL && s->proc != NULL;
}
