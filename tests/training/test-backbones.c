/* test-backbones.c: the backbone catalogue, its checked download from a SoupServer on 127.0.0.1
 * serving ../shared/models (success, wrong checksum, closed half-way, 404, cancel, no server:
 * after each failure nothing is installed and the message says what happened), adopting a file,
 * each catalogue backbone on cat.bmp, and the preset recommendation's table of cases. */
#include "config.h"

#include <glib/gstdio.h>
#include <string.h>

#include "training/bt-backbones.h"
#include "training/bt-transfer.h"
#include "bt-test-fs.h"
#include "bt-test-photos.h"
#include "bt-test-server.h"

static char *tmp_root;      /* XDG_DATA_HOME and friends live here */
static BtTestServer *server;

/* ---- Helpers ---- */

static gboolean
have_models (void)
{
  g_autofree char *m = bt_test_shared_file ("models", "mobilenet_v1_0.5_160_quant.tflite");
  if (m == NULL)
    {
      g_test_skip ("../shared/models not found: set BOTTEGA_SHARED_DIR to the folder holding models/");
      return FALSE;
    }
  return TRUE;
}

static void
clear_user_dir (void)
{
  g_autofree char *dir = bt_backbones_user_dir ();
  bt_test_rm_rf (dir);
}

typedef struct {
  GMainLoop *loop;
  char *path;
  GError *error;
  guint n_progress;
  guint64 last_received, total;
  GCancellable *cancel_on_progress;
} Wait;

static void
on_progress (guint64 received, guint64 total, gpointer data)
{
  Wait *w = data;
  g_assert_cmpuint (received, >=, w->last_received);
  w->last_received = received;
  w->total = total;
  w->n_progress++;
  if (w->cancel_on_progress != NULL && received > 0)
    g_cancellable_cancel (w->cancel_on_progress);
}

static void
on_done (GObject *source, GAsyncResult *result, gpointer data)
{
  Wait *w = data;
  w->path = bt_backbones_download_finish (result, &w->error);
  g_main_loop_quit (w->loop);
}

/* Downloads info through the current route; the server answers on this thread's loop. */
static char *
download (const BtBackboneInfo *info, GCancellable *cancellable, gboolean cancel_on_progress, GError **error,
          guint *n_progress)
{
  Wait w = { 0 };

  w.loop = g_main_loop_new (NULL, FALSE);
  w.cancel_on_progress = cancel_on_progress ? cancellable : NULL;
  bt_backbones_download_async (info, cancellable, on_progress, &w, NULL, on_done, &w);
  g_main_loop_run (w.loop);
  g_main_loop_unref (w.loop);
  if (n_progress)
    *n_progress = w.n_progress;
  if (w.error)
    g_propagate_error (error, w.error);
  return w.path;
}

/* ---- Tests ---- */

static void
test_catalogue (void)
{
  guint n;
  const BtBackboneInfo * const *all = bt_backbones_list (&n);
  const char *expected[] = { "mobilenet_v2_1.0_224_quant", "mobilenet_v1_1.0_224_quant_embedding_extractor",
                             "mobilenet_v1_0.5_160_quant", "tf2_mobilenet_v2_1.0_224_ptq" };

  g_assert_cmpuint (n, ==, G_N_ELEMENTS (expected));
  g_assert_true (bt_backbones_default () == all[0]);
  g_assert_true (all[0]->is_default);
  g_assert_cmpstr (all[0]->file, ==, BT_BACKBONE_DEFAULT);
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *file = g_strconcat (expected[i], ".tflite", NULL);
      g_assert_cmpstr (all[i]->id, ==, expected[i]);
      g_assert_cmpstr (all[i]->file, ==, file);
      g_assert_cmpuint (strlen (all[i]->sha256), ==, 64);
      g_assert_true (g_str_has_prefix (all[i]->url, "https://"));
      g_assert_true (g_str_has_suffix (all[i]->url, file));
      g_assert_cmpuint (all[i]->size, >, 100000);
      g_assert_cmpint (all[i]->input_size, >=, 128);
      g_assert_cmpint (all[i]->embedding, >, 0);
      g_assert_nonnull (all[i]->licence);
      g_assert_true (bt_backbones_lookup (all[i]->id) == all[i]);
      g_assert_true (bt_backbones_lookup (all[i]->file) == all[i]);
      g_assert_true (bt_backbones_lookup_sha256 (all[i]->sha256) == all[i]);
      g_assert_cmpstr (bt_backbones_role_text (all[i]), !=, "");
    }
  g_assert_null (bt_backbones_lookup ("resnet"));
  g_assert_cmpfloat (bt_backbones_lookup ("mobilenet_v2_1.0_224_quant")->top1, >, 60);
  g_assert_cmpfloat (bt_backbones_lookup ("tf2_mobilenet_v2_1.0_224_ptq")->top1, <, 0);   /* none published */

  /* the address: the catalogue's, or the test override with the file name appended */
  g_unsetenv ("BOTTEGA_BACKBONE_URL");
  {
    g_autofree char *url = bt_backbones_get_url (all[0]);
    g_assert_cmpstr (url, ==, all[0]->url);
  }
  g_setenv ("BOTTEGA_BACKBONE_URL", "http://127.0.0.1:9/x", TRUE);
  {
    g_autofree char *url = bt_backbones_get_url (all[0]);
    g_assert_cmpstr (url, ==, "http://127.0.0.1:9/x/mobilenet_v2_1.0_224_quant.tflite");
  }
}

/* The catalogue agrees with the files: sha256, size, embedding length and input size. */
static void
test_catalogue_matches_files (void)
{
  guint n;
  const BtBackboneInfo * const *all = bt_backbones_list (&n);

  if (!have_models ())
    return;
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *path = bt_test_shared_file ("models", all[i]->file);
      g_autofree char *sha = NULL;
      g_autoptr(BtBackbone) bb = NULL;
      int h, w, c;

      g_assert_nonnull (path);
      sha = bt_file_sha256 (path, NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpstr (sha, ==, all[i]->sha256);
      bb = bt_backbone_load_path (path, &error);
      g_assert_no_error (error);
      g_assert_cmpint (bt_backbone_get_dim (bb), ==, all[i]->embedding);
      bt_tflite_input_shape (bt_backbone_get_model (bb), &h, &w, &c);
      g_assert_cmpint (h, ==, all[i]->input_size);
      g_assert_cmpint (w, ==, all[i]->input_size);
      g_assert_cmpuint (g_bytes_get_size (bt_backbone_get_bytes (bb)), ==, all[i]->size);
    }
}

static void
test_download_ok (void)
{
  g_autoptr(GError) error = NULL;
  const BtBackboneInfo *info = bt_backbones_lookup ("mobilenet_v1_0.5_160_quant");
  g_autofree char *path = NULL, *found = NULL, *listing = NULL, *checked = NULL;
  guint n_progress = 0;

  if (!have_models ())
    return;
  clear_user_dir ();
  g_assert_cmpint (bt_backbones_check (info, NULL, NULL, NULL), ==, BT_BACKBONE_MISSING);
  bt_test_server_use (server, "ok");
  path = download (info, NULL, FALSE, &error, &n_progress);
  g_assert_no_error (error);
  g_assert_nonnull (path);
  g_assert_cmpuint (n_progress, >=, 1);
  listing = bt_test_backbones_listing ();
  g_assert_cmpstr (listing, ==, "mobilenet_v1_0.5_160_quant.tflite");
  found = bt_backbones_find_installed (info);
  g_assert_cmpstr (found, ==, path);
  g_assert_cmpint (bt_backbones_check (info, &checked, NULL, NULL), ==, BT_BACKBONE_INSTALLED);
  g_assert_cmpstr (checked, ==, path);
  /* and it is a usable backbone */
  {
    g_autoptr(BtBackbone) bb = bt_backbone_load_path (path, &error);
    g_assert_no_error (error);
    g_assert_cmpint (bt_backbone_get_dim (bb), ==, info->embedding);
  }
}

typedef struct {
  const char *route;
  int         code;
  const char *says;   /* part of the message */
} Failure;

static void
test_download_failures (void)
{
  const Failure cases[] = {
    { "bad", G_IO_ERROR_INVALID_DATA, "not the expected one" },
    { "half", G_IO_ERROR_PARTIAL_INPUT, "closed" },
    { "missing", G_IO_ERROR_NOT_FOUND, "404" },
  };
  const BtBackboneInfo *info = bt_backbones_lookup ("mobilenet_v1_0.5_160_quant");

  if (!have_models ())
    return;
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *path = NULL, *listing = NULL;

      clear_user_dir ();
      bt_test_server_use (server, cases[i].route);
      path = download (info, NULL, FALSE, &error, NULL);
      g_test_message ("%s: %s", cases[i].route, error ? error->message : "(no error)");
      g_assert_null (path);
      g_assert_error (error, G_IO_ERROR, cases[i].code);
      g_assert_nonnull (strstr (error->message, cases[i].says));
      g_assert_nonnull (strstr (error->message, info->title));
      listing = bt_test_backbones_listing ();
      g_assert_cmpstr (listing, ==, "");
      g_assert_cmpint (bt_backbones_check (info, NULL, NULL, NULL), ==, BT_BACKBONE_MISSING);
    }
}

static void
test_download_cancel (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GCancellable) cancel = g_cancellable_new ();
  const BtBackboneInfo *info = bt_backbones_lookup ("mobilenet_v2_1.0_224_quant");
  g_autofree char *path = NULL, *listing = NULL;

  if (!have_models ())
    return;
  clear_user_dir ();
  bt_test_server_use (server, "stall");   /* sends a part, then waits: only the cancel ends the download */
  path = download (info, cancel, TRUE, &error, NULL);
  g_assert_null (path);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_nonnull (strstr (error->message, "cancelled"));
  listing = bt_test_backbones_listing ();
  g_assert_cmpstr (listing, ==, "");
}

static void
test_download_no_server (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) sock = NULL;
  g_autoptr(GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) addr = g_inet_socket_address_new (lo, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  const BtBackboneInfo *info = bt_backbones_default ();
  g_autofree char *url = NULL, *path = NULL, *listing = NULL;

  /* a port that was just free: bound and closed again, so nothing listens there */
  sock = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  g_assert_true (g_socket_bind (sock, addr, TRUE, &error));
  bound = g_socket_get_local_address (sock, &error);
  url = g_strdup_printf ("http://127.0.0.1:%u/", g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound)));
  g_socket_close (sock, NULL);
  g_setenv ("BOTTEGA_BACKBONE_URL", url, TRUE);
  clear_user_dir ();
  path = download (info, NULL, FALSE, &error, NULL);
  g_assert_null (path);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
  g_assert_nonnull (strstr (error->message, "refused"));
  listing = bt_test_backbones_listing ();
  g_assert_cmpstr (listing, ==, "");
}

/* "Choose a file you already have": a catalogue file is copied in under its name; a file that
 * is not one is accepted where it is, with a warning; a file that is no model is refused. */
static void
test_adopt (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *src = NULL, *path = NULL, *warning = NULL, *junk = NULL, *listing = NULL;
  const BtBackboneInfo *info = NULL;

  if (!have_models ())
    return;
  clear_user_dir ();
  src = bt_test_shared_file ("models", "mobilenet_v1_0.5_160_quant.tflite");
  path = bt_backbones_adopt_file_sync (src, &info, &warning, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (info);
  g_assert_cmpstr (info->id, ==, "mobilenet_v1_0.5_160_quant");
  g_assert_null (warning);
  listing = bt_test_backbones_listing ();
  g_assert_cmpstr (listing, ==, "mobilenet_v1_0.5_160_quant.tflite");
  g_clear_pointer (&path, g_free);

  /* not in the catalogue, but a network whose graph can be cut */
  g_clear_pointer (&src, g_free);
  src = bt_test_shared_file ("models", "mobilenet_v1_0.25_128_quant.tflite");
  if (src != NULL)
    {
      path = bt_backbones_adopt_file_sync (src, &info, &warning, NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpstr (path, ==, src);
      g_assert_null (info);
      g_assert_nonnull (warning);
      g_assert_nonnull (strstr (warning, "mobilenet_v1_0.25_128_quant.tflite"));
    }

  /* not a model at all */
  junk = g_build_filename (tmp_root, "junk.tflite", NULL);
  g_assert_true (g_file_set_contents (junk, "not a model", -1, NULL));
  g_clear_pointer (&path, g_free);
  path = bt_backbones_adopt_file_sync (junk, &info, NULL, NULL, &error);
  g_assert_null (path);
  g_assert_nonnull (error);
}

/* Every catalogue classifier finds "Egyptian cat" (index 286) on cat.bmp through the file the
 * download installed; the embedding extractor has no classifier layer to ask. */
static void
test_cat (void)
{
  guint n;
  const BtBackboneInfo * const *all = bt_backbones_list (&n);
  g_autofree char *cat = bt_test_shared_file ("images", "cat.bmp");

  if (!have_models ())
    return;
  if (cat == NULL)
    {
      g_test_skip ("../shared/images/cat.bmp not found: set BOTTEGA_SHARED_DIR to the folder holding images/");
      return;
    }
  clear_user_dir ();
  bt_test_server_use (server, "ok");
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *path = download (all[i], NULL, FALSE, &error, NULL);
      g_autoptr(BtTflite) m = NULL;
      g_autoptr(BtTfliteExec) e = NULL;
      g_autoptr(BtImage) img = NULL, small = NULL;
      g_autofree float *x = NULL;
      const float *y;
      gsize len;
      int h, w, c, best = 1;

      g_assert_no_error (error);
      m = bt_tflite_load (path, &error);
      g_assert_no_error (error);
      bt_tflite_input_shape (m, &h, &w, &c);
      img = bt_image_decode_file (cat, c, NULL, NULL, &error);
      g_assert_no_error (error);
      small = bt_image_resize (img, w, h, BT_DS_RESIZE_SQUASH);
      x = g_new (float, (gsize) h * w * c);
      bt_tflite_pixels_to_input (m, small->pixels, x);
      e = bt_tflite_exec_new (m, &error);
      g_assert_no_error (error);
      y = bt_tflite_exec_run (e, x, -1, &len, &error);
      g_assert_no_error (error);
      if (len != 1001)
        {
          g_assert_cmpstr (all[i]->role, ==, "extractor");
          g_assert_cmpuint (len, ==, (gsize) all[i]->embedding);
          continue;
        }
      for (gsize k = 1; k < len; k++)
        if (y[k] > y[best])
          best = (int) k;
      g_test_message ("%s: top-1 %d (%.3f)", all[i]->id, best, y[best]);
      g_assert_cmpint (best, ==, 286);   /* "Egyptian cat" */
    }
}

typedef struct {
  const char *what;
  BtDataSummary d;
  gboolean available;
  BtPreset expect;
  const char *says;
} Case;

static void
test_recommend (void)
{
  const Case cases[] = {
    /* the issue's own example: 77 photos in 5 classes */
    { "77 photos, 5 classes", { 77, 5, 77, 10, 10 }, TRUE, BT_PRESET_TRANSFER, "77 photos in 5 classes" },
    { "no backbone at all", { 77, 5, 77, 10, 10 }, FALSE, BT_PRESET_SMALL_CNN, "from scratch" },
    { "empty new project", { 0, 0, 0, 0, 0 }, TRUE, BT_PRESET_TRANSFER, "No photos yet" },
    /* many photos per class: still photos, still transfer */
    { "6000 colour photos per class", { 60000, 10, 60000, 12, 12 }, TRUE, BT_PRESET_TRANSFER, "pretrained" },
    /* Fashion-MNIST-like: small grey, many per class */
    { "28 px grey, 6000 per class", { 60000, 10, 0, 12, 0 }, TRUE, BT_PRESET_SMALL_CNN, "small network" },
    /* small grey, but few per class: a pretrained network still wins */
    { "28 px grey, 40 per class", { 400, 10, 0, 12, 0 }, TRUE, BT_PRESET_TRANSFER, "400 images" },
    /* large but grey scans, many per class */
    { "large grey, 800 per class", { 1600, 2, 1600, 12, 0 }, TRUE, BT_PRESET_SMALL_CNN, "small network" },
    /* colour unknown (not checked): large images count as photos */
    { "large, colour unknown", { 5000, 2, 5000, 0, 0 }, TRUE, BT_PRESET_TRANSFER, "pretrained" },
    /* just under and at the per-class threshold, small images */
    { "499 per class", { 998, 2, 0, 0, 0 }, TRUE, BT_PRESET_TRANSFER, "too few" },
    { "500 per class", { 1000, 2, 0, 0, 0 }, TRUE, BT_PRESET_SMALL_CNN, "small network" },
    /* mostly small with a few large: not photos */
    { "few large of many", { 3000, 3, 100, 0, 0 }, TRUE, BT_PRESET_SMALL_CNN, "small network" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *why = NULL;
      BtPreset p = bt_recommend_preset (&cases[i].d, cases[i].available, &why);
      g_test_message ("%s → %s: %s", cases[i].what, bt_preset_to_id (p), why);
      g_assert_cmpint (p, ==, cases[i].expect);
      g_assert_nonnull (why);
      g_assert_nonnull (strstr (why, cases[i].says));
    }
}

static void
test_speed_and_choice (void)
{
  g_autofree char *proj = g_build_filename (tmp_root, "project", NULL);
  g_autoptr(GError) error = NULL;
  g_autofree char *choice = NULL, *src = NULL;
  double ms;

  g_assert_cmpfloat (bt_backbones_get_speed ("00ff"), <, 0);
  bt_backbones_set_speed ("00ff", 12.5);
  g_assert_cmpfloat_with_epsilon (bt_backbones_get_speed ("00ff"), 12.5, 1e-9);

  {
    g_autoptr(BtProject) p = bt_project_create (proj, "choice", &error);
    g_assert_no_error (error);
  }
  g_assert_null (bt_backbones_get_project_choice (proj));
  /* A project from before the setting: its backbone.ini is still read... */
  {
    g_autofree char *legacy = g_build_filename (proj, "backbone.ini", NULL);
    g_autofree char *ini = g_build_filename (proj, "project.ini", NULL);
    g_autofree char *text = NULL;
    g_assert_true (g_file_set_contents (legacy, "[backbone]\nname=tf2_mobilenet_v2_1.0_224_ptq\n", -1, NULL));
    choice = bt_backbones_get_project_choice (proj);
    g_assert_cmpstr (choice, ==, "tf2_mobilenet_v2_1.0_224_ptq");
    g_clear_pointer (&choice, g_free);
    {
      g_autoptr(BtProject) p = bt_project_open (proj, &error);
      g_assert_no_error (error);
      choice = bt_backbones_project_choice (p);
      g_assert_cmpstr (choice, ==, "tf2_mobilenet_v2_1.0_224_ptq");
      g_clear_pointer (&choice, g_free);
    }
    /* ...and a new choice becomes the settings row and retires the file. */
    g_assert_true (bt_backbones_set_project_choice (proj, "mobilenet_v1_0.5_160_quant", &error));
    g_assert_no_error (error);
    g_assert_false (g_file_test (legacy, G_FILE_TEST_EXISTS));
    g_assert_true (g_file_get_contents (ini, &text, NULL, NULL));
    g_assert_nonnull (strstr (text, "backbone=mobilenet_v1_0.5_160_quant"));
  }
  choice = bt_backbones_get_project_choice (proj);
  g_assert_cmpstr (choice, ==, "mobilenet_v1_0.5_160_quant");
  {
    g_autoptr(BtProject) p = bt_project_open (proj, &error);
    g_autofree char *again = bt_backbones_project_choice (p);
    g_assert_cmpstr (again, ==, "mobilenet_v1_0.5_160_quant");
    g_assert_cmpstr (bt_project_get_settings (p)->transfer_backbone, ==, "mobilenet_v1_0.5_160_quant");
  }
  g_assert_true (bt_backbones_set_project_choice (proj, NULL, &error));
  g_assert_null (bt_backbones_get_project_choice (proj));

  if (!have_models ())
    return;
  src = bt_test_shared_file ("models", "mobilenet_v1_0.5_160_quant.tflite");
  ms = bt_backbones_measure_speed (src, &error);
  g_assert_no_error (error);
  g_assert_cmpfloat (ms, >, 0);
  g_assert_cmpfloat_with_epsilon (bt_backbones_get_speed (bt_backbones_lookup ("mobilenet_v1_0.5_160_quant")->sha256),
                                  ms, 1e-6);
}

int
main (int argc, char **argv)
{
  int status;

  /* never the real ~/.local/share */
  tmp_root = bt_test_backbones_fresh_home ("bottega-backbones-XXXXXX");
  g_test_init (&argc, &argv, NULL);

  server = bt_test_server_new ();

  g_test_add_func ("/backbones/catalogue", test_catalogue);
  g_test_add_func ("/backbones/catalogue-matches-files", test_catalogue_matches_files);
  g_test_add_func ("/backbones/download/ok", test_download_ok);
  g_test_add_func ("/backbones/download/failures", test_download_failures);
  g_test_add_func ("/backbones/download/cancel", test_download_cancel);
  g_test_add_func ("/backbones/download/no-server", test_download_no_server);
  g_test_add_func ("/backbones/adopt", test_adopt);
  g_test_add_func ("/backbones/cat", test_cat);
  g_test_add_func ("/backbones/recommend", test_recommend);
  g_test_add_func ("/backbones/speed-and-choice", test_speed_and_choice);
  status = g_test_run ();

  bt_test_server_free (server);
  bt_test_rm_rf (tmp_root);
  g_free (tmp_root);
  return status;
}
