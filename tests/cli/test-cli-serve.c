/* test-cli-serve.c: `bottega-cli serve` on 127.0.0.1 (any free port) with a Small CNN model,
 * driven by tests/cli/check-serve.py: the same answers as `bottega-cli predict --json`, 1,000
 * requests from 4 clients, 20 hostile requests refused with the server still serving; thresholds
 * saved into the model file meanwhile are used by the next answer; then SIGTERM ends it cleanly. Usage errors of the command itself are checked here. */
#include "config.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include "training/bt-training.h"
#include "export/bt-export-test-util.h"

static char *
cli_path (void)
{
  const char *build = g_getenv ("BOTTEGA_BUILD_ROOT");
  g_assert_nonnull (build);
  return g_build_filename (build, "src", "cli", "bottega-cli", NULL);
}

/* Starts argv (a `serve` command line) and returns the port its first line names. */
static int
spawn_server (const char * const *argv, GPid *pid)
{
  g_autoptr(GError) error = NULL;
  int out_fd;
  g_auto(GStrv) env = g_environ_setenv (g_get_environ (), "LANGUAGE", "C", TRUE);
  g_assert_true (g_spawn_async_with_pipes (NULL, (char **) argv, env, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
                                           pid, NULL, &out_fd, NULL, &error));
  g_assert_no_error (error);
  g_autoptr(GIOChannel) ch = g_io_channel_unix_new (out_fd);
  g_io_channel_set_close_on_unref (ch, TRUE);
  g_autofree char *line = NULL;
  g_assert_cmpint (g_io_channel_read_line (ch, &line, NULL, NULL, &error), ==, G_IO_STATUS_NORMAL);
  g_assert_no_error (error);
  g_test_message ("%s", g_strstrip (line));
  const char *at = strstr (line, "http://127.0.0.1:");
  g_assert_nonnull (at);
  int port = atoi (at + strlen ("http://127.0.0.1:"));
  g_assert_cmpint (port, >, 0);
  return port;
}

/* SIGTERM ends a server that is still running, with status 0. */
static void
stop_server (GPid pid)
{
  int wstatus = 0;
  g_assert_cmpint (waitpid (pid, &wstatus, WNOHANG), ==, 0);
  kill (pid, SIGTERM);
  g_assert_cmpint (waitpid (pid, &wstatus, 0), ==, pid);
  g_spawn_close_pid (pid);
  g_assert_true (WIFEXITED (wstatus) && WEXITSTATUS (wstatus) == 0);
}

static void
test_serve (void)
{
  if (!g_file_test ("/usr/bin/python3", G_FILE_TEST_IS_EXECUTABLE))
    {
      g_test_skip ("/usr/bin/python3 is not installed");
      return;
    }
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = bt_test_mkdtemp ();
  g_autofree char *proj = g_build_filename (dir, "project", NULL);
  g_autoptr(BtProject) p = bt_sample_create_shapes (proj, 2, 40, 1, NULL, &error);
  g_assert_no_error (error);

  g_autofree char *model = bt_test_save_shapes_model (dir);
  const char *names[] = { "circle", "square", "triangle", "star", NULL };

  /* the sample's PNGs and, when the shared folder is there, real photos */
  g_autoptr(GPtrArray) args = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (args, g_strdup ("predict"));
  g_ptr_array_add (args, g_strdup (model));
  g_ptr_array_add (args, g_strdup ("--json"));
  for (guint c = 0; names[c]; c++)
    {
      g_autofree char *cdir = g_build_filename (proj, "images", names[c], NULL);
      g_autoptr(GDir) d = g_dir_open (cdir, 0, &error);
      g_assert_no_error (error);
      const char *f = g_dir_read_name (d);
      g_assert_nonnull (f);
      g_ptr_array_add (args, g_build_filename (cdir, f, NULL));
    }
  const char *photos[] = { "owl.jpg", "hot_dog.jpg", "cat.bmp" };
  for (guint i = 0; i < G_N_ELEMENTS (photos); i++)
    {
      g_autofree char *path = bt_test_shared_file ("images", photos[i]);
      if (path != NULL && g_file_test (path, G_FILE_TEST_EXISTS))
        g_ptr_array_add (args, g_steal_pointer (&path));
    }
  g_ptr_array_add (args, NULL);
  g_autofree char *expected = NULL, *err = NULL;
  g_assert_cmpint (bt_test_run_cli ((const char * const *) args->pdata, &expected, &err), ==, 0);
  g_autofree char *expected_path = g_build_filename (dir, "expected.json", NULL);
  g_file_set_contents (expected_path, expected, -1, &error);
  g_assert_no_error (error);

  /* the server, on any free loopback port */
  g_autofree char *cli = cli_path ();
  GPid pid;
  int port = spawn_server ((const char *[]) { cli, "serve", model, "--port", "0", "--max-requests", "4", NULL },
                           &pid);

  g_autoptr(GPtrArray) py = g_ptr_array_new_with_free_func (g_free);
  const char *root = g_getenv ("BOTTEGA_SOURCE_ROOT");
  g_ptr_array_add (py, g_strdup ("/usr/bin/python3"));
  g_ptr_array_add (py, g_build_filename (root, "tests", "cli", "check-serve.py", NULL));
  g_ptr_array_add (py, g_strdup ("127.0.0.1"));
  g_ptr_array_add (py, g_strdup_printf ("%d", port));
  g_ptr_array_add (py, g_strdup (expected_path));
  for (guint i = 3; i + 1 < args->len; i++)
    g_ptr_array_add (py, g_strdup (g_ptr_array_index (args, i)));
  g_ptr_array_add (py, NULL);
  g_autofree char *pout = NULL, *perr = NULL;
  int status = 0;
  g_spawn_sync (NULL, (char **) py->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, &pout, &perr, &status, &error);
  g_assert_no_error (error);
  if (!g_spawn_check_wait_status (status, NULL))
    g_test_message ("check-serve.py failed:\n%s\n%s", pout, perr);
  else
    g_test_message ("%s", g_strstrip (pout));

  /* thresholds saved into the model file while it serves: the next answer uses them (a server
   * that kept its first model would answer without "threshold") */
  g_autofree char *reloaded = NULL;
  {
    g_autoptr(BtModel) m = bt_model_load (model, &error);
    g_assert_no_error (error);
    for (int k = 0; k < 4; k++)
      g_assert_true (bt_model_set_threshold (m, k, 0.99999, &error));
    g_assert_true (bt_model_save_model (model, m, &error));
    g_autofree char *port_text = g_strdup_printf ("%d", port);
    const char *post[] = { "/usr/bin/python3", "-c",
                           "import http.client, sys\n"
                           "c = http.client.HTTPConnection('127.0.0.1', int(sys.argv[1]), timeout=60)\n"
                           "c.request('POST', '/predict', open(sys.argv[2], 'rb').read())\n"
                           "r = c.getresponse()\n"
                           "print(r.status, r.read().decode())\n",
                           port_text, g_ptr_array_index (args, 3), NULL };
    g_spawn_sync (NULL, (char **) post, NULL, G_SPAWN_DEFAULT, NULL, NULL, &reloaded, NULL, NULL, &error);
    g_assert_no_error (error);
    g_test_message ("after the save: %s", reloaded);
  }

  /* the server is still there, and SIGTERM ends it with status 0 (ended before any assertion:
   * a server left running would hold the test's output open until meson's timeout) */
  stop_server (pid);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  g_assert_true (g_str_has_prefix (reloaded, "200 "));
  g_assert_nonnull (strstr (reloaded, "\"threshold\": 0.999990"));
  bt_test_rm_rf (dir);
}

/* --token and --idle-timeout, driven by tests/cli/check-serve-auth.py */
static void
test_token_idle (void)
{
  if (!g_file_test ("/usr/bin/python3", G_FILE_TEST_IS_EXECUTABLE))
    {
      g_test_skip ("/usr/bin/python3 is not installed");
      return;
    }
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = bt_test_mkdtemp ();
  g_autofree char *proj = g_build_filename (dir, "project", NULL);
  g_autoptr(BtProject) p = bt_sample_create_shapes (proj, 1, 40, 1, NULL, &error);
  g_assert_no_error (error);
  g_autofree char *model = bt_test_save_shapes_model (dir);
  g_autofree char *cdir = g_build_filename (proj, "images", "circle", NULL);
  g_autoptr(GDir) d = g_dir_open (cdir, 0, &error);
  g_assert_no_error (error);
  g_autofree char *image = g_build_filename (cdir, g_dir_read_name (d), NULL);

  g_autofree char *cli = cli_path ();
  GPid pid;
  int port = spawn_server ((const char *[]) { cli, "serve", model, "--port", "0", "--token", "s3cret-Tok",
                                              "--idle-timeout", "2", NULL }, &pid);
  g_autofree char *port_s = g_strdup_printf ("%d", port);
  const char *root = g_getenv ("BOTTEGA_SOURCE_ROOT");
  g_autofree char *script = g_build_filename (root, "tests", "cli", "check-serve-auth.py", NULL);
  const char *py[] = { "/usr/bin/python3", script, "127.0.0.1", port_s, "s3cret-Tok", "2", image, NULL };
  g_autofree char *pout = NULL, *perr = NULL;
  int status = 0;
  g_spawn_sync (NULL, (char **) py, NULL, G_SPAWN_DEFAULT, NULL, NULL, &pout, &perr, &status, &error);
  g_assert_no_error (error);
  g_test_message ("check-serve-auth.py:\n%s\n%s", pout, perr);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  stop_server (pid);

  /* an empty or spaced token is a usage error */
  g_autofree char *out = NULL, *err = NULL;
  g_assert_cmpint (bt_test_run_cli ((const char *[]) { "serve", model, "--token", "a b", NULL }, &out, &err), ==, 2);
  g_assert_nonnull (strstr (err, "--token"));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (bt_test_run_cli ((const char *[]) { "serve", model, "--idle-timeout", "0", NULL }, &out, &err), ==, 2);
  g_assert_nonnull (strstr (err, "--idle-timeout"));
  bt_test_rm_rf (dir);
}

static void
test_usage (void)
{
  g_autofree char *out = NULL, *err = NULL;
  g_assert_cmpint (bt_test_run_cli ((const char *[]) { "serve", NULL }, &out, &err), ==, 2);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (bt_test_run_cli ((const char *[]) { "serve", "x.bottega-model", "--port", "70000", NULL }, &out, &err), ==, 2);
  g_assert_nonnull (strstr (err, "--port"));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (bt_test_run_cli ((const char *[]) { "serve", "x.bottega-model", "--host", "localhost.invalid", NULL },
                            &out, &err), ==, 2);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (bt_test_run_cli ((const char *[]) { "serve", "/nonexistent/x.bottega-model", NULL }, &out, &err), ==, 1);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/cli-serve/usage", test_usage);
  g_test_add_func ("/cli-serve/loopback", test_serve);
  g_test_add_func ("/cli-serve/token-and-idle-timeout", test_token_idle);
  return g_test_run ();
}
