/* test-backbone-card.c: the transfer card on a fresh machine (no backbone installed), with a
 * SoupServer on 127.0.0.1 serving ../shared/models: the transfer preset is recommended for a
 * few dozen photos per class, a failed download says why and installs nothing, Cancel stops
 * one, and pressing Download makes the card usable and preselects the recommended preset. */
#include "config.h"

#include <glib/gstdio.h>
#include <gtk/gtk.h>
#include <string.h>

#include "bt-application.h"
#include "bt-backbone-offer.h"
#include "bt-window-private.h"
#include "training/bt-backbones.h"
#include "training/bt-transfer.h"
#include "bt-test-fs.h"
#include "bt-test-input.h"
#include "bt-test-photos.h"
#include "bt-test-screenshot.h"
#include "bt-test-server.h"
#include "bt-test-exit.h"
#include "bt-test-wait.h"

static BtApplication *app;
static BtWindow *window;
static BtProject *project;
static BtTestServer *server;
static char *tmp_dir;

typedef gboolean (*Condition) (gpointer data);

/* Runs the main loop until cond holds, failing loudly at bt-test-wait.h's deadline. */
#define wait_for(cond, data) BT_TEST_WAIT ((cond) (data))

static BtTransferOptions *
options (void)
{
  return bt_model_page_get_transfer_options (window->model_page);
}

static BtBackboneList *
list (void)
{
  return bt_transfer_options_get_list (bt_model_page_get_transfer_options (window->model_page));
}

static gboolean
list_idle (gpointer data)
{
  return !bt_backbone_list_is_busy (list ());
}

static gboolean
have_fixtures (void)
{
  g_autofree char *m = bt_test_shared_file ("models", BT_BACKBONE_DEFAULT);
  const char *shared = g_getenv ("BOTTEGA_SHARED_DIR");
  g_autofree char *flowers = shared ? g_build_filename (shared, "images", "flowers12", "train", NULL) : NULL;
  if (m == NULL || flowers == NULL || !g_file_test (flowers, G_FILE_TEST_IS_DIR))
    {
      g_test_skip ("../shared/models or ../shared/images/flowers12 not found: set BOTTEGA_SHARED_DIR");
      return FALSE;
    }
  return TRUE;
}

/* The visible button labelled `label` under root, or NULL. */
static GtkWidget *
find_button (GtkWidget *root, const char *label)
{
  for (GtkWidget *c = gtk_widget_get_first_child (root); c; c = gtk_widget_get_next_sibling (c))
    {
      GtkWidget *found;
      if (GTK_IS_BUTTON (c) && gtk_widget_get_visible (c) && g_strcmp0 (gtk_button_get_label (GTK_BUTTON (c)), label) == 0)
        return c;
      if ((found = find_button (c, label)))
        return found;
    }
  return NULL;
}

/* A click on the button through the X server (bt_test_click waits until it is sensitive). */
static void
press (GtkWidget *button)
{
  g_assert_nonnull (button);
  bt_test_click (button);
}

static void
test_recommended (void)
{
  BtPreset preset;
  const char *why;
  GtkWidget *card = bt_model_page_get_transfer_card (window->model_page);

  if (!have_fixtures ())
    return;
  bt_window_set_page (window, "model");
  wait_for (list_idle, NULL);
  why = bt_model_page_get_recommendation (window->model_page, &preset);
  g_test_message ("%s", why);
  g_assert_cmpint (preset, ==, BT_PRESET_TRANSFER);
  g_assert_nonnull (strstr (why, "24 photos in 2 classes: too few to train a network from scratch"));
  g_assert_nonnull (strstr (why, "download the pretrained network"));
  /* nothing installed: the card waits for the download, the default's Download is offered */
  g_assert_false (gtk_widget_get_sensitive (card));
  g_assert_nonnull (bt_backbone_list_get_download_button (list (), bt_backbones_default ()));
  /* and, first of all, beside the recommendation */
  g_assert_nonnull (bt_model_page_get_recommended_download (window->model_page));
  g_assert_cmpstr (gtk_button_get_label (GTK_BUTTON (bt_model_page_get_recommended_download (window->model_page))),
                   ==, "Download (3.6\u00a0MB)");
  g_assert_cmpstr (bt_project_get_settings (project)->preset, ==, "small-cnn");
  bt_test_screenshot (GTK_WIDGET (window), "backbone-card-missing");
}

/* A project that chose another backbone (Compare Backbones, `backbones use`) is offered that
 * one's download beside the recommendation, not the default's. */
static void
test_recommended_follows_choice (void)
{
  const BtBackboneInfo *other = bt_backbones_lookup ("mobilenet_v1_0.5_160_quant");
  g_autoptr(GError) error = NULL;
  g_autofree char *size = NULL, *want = NULL;
  const char *status;
  GtkWidget *button;

  if (!have_fixtures ())
    return;
  g_assert_nonnull (other);
  g_assert_cmpuint (other->size, !=, bt_backbones_default ()->size);
  size = g_format_size (other->size);
  want = g_strdup_printf ("Download (%s)", size);
  g_assert_true (bt_backbones_set_choice (project, other->id, &error));
  g_assert_no_error (error);
  button = bt_model_page_get_recommended_download (window->model_page);
  g_assert_nonnull (button);
  g_assert_cmpstr (gtk_button_get_label (GTK_BUTTON (button)), ==, want);
  /* the options' status line under the cards follows the choice too, not the default's file */
  status = bt_transfer_options_get_status (options ());
  g_test_message ("%s", status);
  g_assert_nonnull (strstr (status, other->title));
  g_assert_nonnull (strstr (status, "not on this computer"));
  g_assert_null (strstr (status, BT_BACKBONE_DEFAULT));
  bt_test_screenshot (GTK_WIDGET (window), "backbone-card-chosen-missing");
  /* and back to the default when the choice is cleared */
  g_assert_true (bt_backbones_set_choice (project, NULL, &error));
  g_assert_no_error (error);
  button = bt_model_page_get_recommended_download (window->model_page);
  g_assert_nonnull (button);
  g_assert_cmpstr (gtk_button_get_label (GTK_BUTTON (button)), ==, "Download (3.6\u00a0MB)");
  status = bt_transfer_options_get_status (options ());
  g_assert_nonnull (strstr (status, "No pretrained backbone on this computer yet (" BT_BACKBONE_DEFAULT ")"));
}

static void
test_download_fails (void)
{
  const BtBackboneInfo *def = bt_backbones_default ();
  g_autofree char *listing = NULL;
  GtkWidget *button;

  if (!have_fixtures ())
    return;
  bt_test_server_use (server, "missing");
  button = bt_backbone_list_get_download_button (list (), def);
  press (button);
  g_assert_true (bt_backbone_list_is_busy (list ()));
  wait_for (list_idle, NULL);
  g_test_message ("%s", bt_backbone_list_get_message (list (), def));
  g_assert_nonnull (strstr (bt_backbone_list_get_message (list (), def), "404"));
  g_assert_nonnull (strstr (bt_backbone_list_get_message (list (), def), "choose a file you already have"));
  g_assert_false (bt_backbone_list_is_installed (list (), def));
  g_assert_false (gtk_widget_get_sensitive (bt_model_page_get_transfer_card (window->model_page)));
  listing = bt_test_backbones_listing ();
  g_assert_cmpstr (listing, ==, "");
  /* and the button is there to try again */
  g_assert_nonnull (bt_backbone_list_get_download_button (list (), def));
}

static gboolean
cancel_shown (gpointer data)
{
  return find_button (GTK_WIDGET (list ()), "Cancel") != NULL;
}

static void
test_download_cancel (void)
{
  const BtBackboneInfo *def = bt_backbones_default ();
  g_autofree char *listing = NULL;

  if (!have_fixtures ())
    return;
  bt_test_server_use (server, "stall");
  press (bt_backbone_list_get_download_button (list (), def));
  wait_for (cancel_shown, NULL);
  g_assert_null (bt_backbone_list_get_download_button (list (), def));   /* progress instead */
  press (find_button (GTK_WIDGET (list ()), "Cancel"));
  wait_for (list_idle, NULL);
  g_assert_nonnull (strstr (bt_backbone_list_get_message (list (), def), "cancelled"));
  g_assert_false (bt_backbone_list_is_installed (list (), def));
  listing = bt_test_backbones_listing ();
  g_assert_cmpstr (listing, ==, "");
}

static void
test_download_ok (void)
{
  const BtBackboneInfo *def = bt_backbones_default ();
  GtkWidget *card = bt_model_page_get_transfer_card (window->model_page);
  g_autofree char *listing = NULL;

  if (!have_fixtures ())
    return;
  bt_test_server_use (server, "ok");
  press (bt_model_page_get_recommended_download (window->model_page));
  wait_for (list_idle, NULL);
  g_assert_true (bt_backbone_list_is_installed (list (), def));
  g_assert_null (bt_model_page_get_recommended_download (window->model_page));
  g_assert_null (bt_backbone_list_get_download_button (list (), def));
  listing = bt_test_backbones_listing ();
  g_assert_cmpstr (listing, ==, "mobilenet_v2_1.0_224_quant.tflite");
  /* the card is usable, and the recommended preset is now selected for this new project */
  g_assert_true (gtk_widget_get_sensitive (card));
  g_assert_null (strstr (bt_model_page_get_transfer_advice (window->model_page), "not on this computer"));
  g_assert_cmpstr (bt_project_get_settings (project)->preset, ==, "transfer");
  g_assert_true (gtk_toggle_button_get_active (GTK_TOGGLE_BUTTON (card)));
  /* its speed here was measured once and remembered */
  g_assert_cmpfloat (bt_backbones_get_speed (def->sha256), >, 0);
  bt_test_screenshot (GTK_WIDGET (window), "backbone-card-installed");
}

static gboolean
offer_shown (gpointer data)
{
  return bt_test_page_get_backbone_offer (window->test_page) != NULL;
}

static gboolean
offer_idle (gpointer data)
{
  return !bt_backbone_offer_is_busy (BT_BACKBONE_OFFER (bt_test_page_get_backbone_offer (window->test_page)));
}

/* Opening a model whose backbone is missing offers exactly that backbone (from the model file). */
static void
test_model_offer (void)
{
  const BtBackboneInfo *v1 = bt_backbones_lookup ("mobilenet_v1_0.5_160_quant");
  g_autoptr(GError) error = NULL;
  g_autoptr(BtNet) net = NULL;
  g_autofree char *models = NULL, *path = NULL, *listing = NULL;
  const char *names[] = { "daisy", "sunflower", NULL };
  BtBackboneOffer *offer;

  if (!have_fixtures ())
    return;
  models = g_build_filename (bt_project_get_dir (project), "models", NULL);
  path = g_build_filename (models, "20990101-000000-transfer.bottega-model", NULL);
  g_assert_cmpint (g_mkdir_with_parents (models, 0755), ==, 0);
  net = bt_net_new_transfer (v1->embedding, 0, 2, 0.0f, 1, &error);
  g_assert_no_error (error);
  g_assert_true (bt_model_save (path, net, names, NULL, v1->file, v1->sha256, NULL, &error));
  g_assert_no_error (error);

  bt_window_set_page (window, "test");
  bt_test_page_reload_models (window->test_page);
  wait_for (offer_shown, NULL);
  offer = BT_BACKBONE_OFFER (bt_test_page_get_backbone_offer (window->test_page));
  g_test_message ("%s", bt_backbone_offer_get_text (offer));
  g_assert_nonnull (strstr (bt_backbone_offer_get_text (offer), "MobileNet V1 0.5/160"));
  g_assert_nonnull (strstr (bt_backbone_offer_get_text (offer), "not on this computer"));
  bt_test_screenshot (GTK_WIDGET (window), "backbone-offer");
  bt_test_server_use (server, "ok");
  press (bt_backbone_offer_get_button (offer));
  wait_for (offer_idle, NULL);
  g_assert_nonnull (strstr (bt_backbone_offer_get_text (offer), "is installed"));
  listing = bt_test_backbones_listing ();
  g_assert_nonnull (strstr (listing, v1->file));
}

static gboolean
options_idle (gpointer data)
{
  return !bt_transfer_options_is_busy (bt_model_page_get_transfer_options (window->model_page));
}

/* Compare Backbones on the card: one row per installed backbone, and Use makes it the project's. */
static void
test_compare (void)
{
  GtkWidget *compare, *use[2] = { NULL, NULL };
  g_autofree char *choice = NULL;
  guint n = 0;

  if (!have_fixtures ())
    return;
  bt_window_set_page (window, "model");
  bt_backbone_list_refresh (list ());
  wait_for (list_idle, NULL);
  g_assert_true (bt_backbone_list_is_installed (list (), bt_backbones_lookup ("mobilenet_v1_0.5_160_quant")));
  compare = bt_backbone_list_compare (list ());
  wait_for (list_idle, NULL);
  /* the rows' Use buttons, in catalogue order: MobileNet V2 1.0/224, then MobileNet V1 0.5/160 */
  for (GtkWidget *c = gtk_widget_get_first_child (compare); c != NULL;)
    {
      if (GTK_IS_BUTTON (c) && g_strcmp0 (gtk_button_get_label (GTK_BUTTON (c)), "Use") == 0 && n < 2)
        use[n++] = c;
      if (gtk_widget_get_first_child (c) != NULL)
        c = gtk_widget_get_first_child (c);
      else
        {
          while (c != compare && gtk_widget_get_next_sibling (c) == NULL)
            c = gtk_widget_get_parent (c);
          c = c == compare ? NULL : gtk_widget_get_next_sibling (c);
        }
    }
  g_assert_cmpuint (n, ==, 2);
  bt_test_screenshot (compare, "compare-backbones");
  press (use[1]);
  wait_for (options_idle, NULL);
  choice = bt_backbones_project_choice (project);
  g_assert_cmpstr (choice, ==, "mobilenet_v1_0.5_160_quant");
  {
    g_autofree char *pref = bt_backbone_dup_preferred_file ();
    g_assert_true (g_str_has_suffix (pref, "mobilenet_v1_0.5_160_quant.tflite"));
  }
}

/* Both backbones installed: a choice made elsewhere while the page is open (`bottega-cli backbones
 * use`, another window) becomes the file the options name, and the one training reads. */
static void
test_options_follow_choice (void)
{
  const char *ids[] = { "mobilenet_v2_1.0_224_quant", "mobilenet_v1_0.5_160_quant" };
  g_autoptr(GError) error = NULL;

  if (!have_fixtures ())
    return;
  for (guint i = 0; i < G_N_ELEMENTS (ids); i++)
    {
      g_autofree char *file = g_strconcat (ids[i], ".tflite", NULL);
      g_autofree char *pref = NULL;
      const char *status;
      g_assert_true (bt_backbones_set_choice (project, ids[i], &error));
      g_assert_no_error (error);
      wait_for (options_idle, NULL);
      status = bt_transfer_options_get_status (options ());
      g_test_message ("%s", status);
      g_assert_nonnull (strstr (status, file));
      g_assert_null (strstr (status, "No pretrained backbone"));
      pref = bt_backbone_dup_preferred_file ();
      g_assert_true (g_str_has_suffix (pref, file));
    }
  bt_test_screenshot (GTK_WIDGET (window), "backbone-card-follows-choice");
}

/* One machine's story, step by step (each step starts where the one before left the machine:
 * nothing installed, a download failed, one cancelled, the default installed, another offered by
 * a model and installed, both compared): one test case, so that no order of cases can break it. */
static void
test_story (void)
{
  static const struct { const char *name; void (*step) (void); } steps[] = {
    { "recommended", test_recommended },
    { "recommended-follows-choice", test_recommended_follows_choice },
    { "download-fails", test_download_fails },
    { "download-cancel", test_download_cancel },
    { "download-ok", test_download_ok },
    { "model-offer", test_model_offer },
    { "compare", test_compare },
    { "options-follow-choice", test_options_follow_choice },
  };

  for (guint i = 0; i < G_N_ELEMENTS (steps); i++)
    {
      g_test_message ("step %u: %s", i + 1, steps[i].name);
      steps[i].step ();
    }
}

int
main (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *project_dir = NULL;
  int ret;

  /* never the real ~/.local/share, and no backbone found anywhere else */
  tmp_dir = bt_test_backbones_fresh_home ("bottega-backbone-card-XXXXXX");

  gtk_test_init (&argc, &argv, NULL);
  server = bt_test_server_new ();
  app = bt_application_new ();
  g_application_set_flags (G_APPLICATION (app),
                           g_application_get_flags (G_APPLICATION (app)) | G_APPLICATION_NON_UNIQUE);
  if (!g_application_register (G_APPLICATION (app), NULL, &error))
    g_error ("register: %s", error->message);

  project_dir = g_build_filename (tmp_dir, "project", NULL);
  project = bt_project_create (project_dir, "Flowers", &error);
  g_assert_no_error (error);
  if (have_fixtures ())
    {
      /* 12 photos of two flowers, in two class folders */
      const char *shared = g_getenv ("BOTTEGA_SHARED_DIR");
      const char *classes[] = { "daisy", "sunflower" };
      g_autofree char *photos = g_build_filename (tmp_dir, "photos", NULL);
      const char *paths[] = { photos, NULL };
      g_autoptr(BtScanResult) scan = NULL;
      for (int c = 0; c < 2; c++)
        {
          g_autofree char *src = g_build_filename (shared, "images", "flowers12", "train", classes[c], NULL);
          g_autofree char *dst = g_build_filename (photos, classes[c], NULL);
          g_autoptr(GDir) d = g_dir_open (src, 0, NULL);
          const char *name;
          int n = 0;
          g_assert_cmpint (g_mkdir_with_parents (dst, 0755), ==, 0);
          while (d != NULL && n < 12 && (name = g_dir_read_name (d)) != NULL)
            {
              g_autofree char *from = g_build_filename (src, name, NULL);
              g_autofree char *to = g_build_filename (dst, name, NULL);
              g_autofree char *data = NULL;
              gsize len;
              g_assert_true (g_file_get_contents (from, &data, &len, NULL));
              g_assert_true (g_file_set_contents (to, data, len, NULL));
              n++;
            }
        }
      scan = bt_scan_paths (paths, BT_SCAN_FOLDER_OF_CLASSES, NULL, TRUE, NULL, NULL, NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (bt_project_apply_scan (project, scan, &error), ==, 24);
    }

  window = bt_window_new (GTK_APPLICATION (app));
  gtk_window_set_default_size (GTK_WINDOW (window), 1200, 820);
  gtk_window_present (GTK_WINDOW (window));
  bt_window_set_project (window, project);

  g_test_add_func ("/backbone-card/fresh-machine-story", test_story);
  ret = g_test_run ();

  gtk_window_destroy (GTK_WINDOW (window));
  g_object_unref (project);
  bt_test_server_free (server);
  bt_test_rm_rf (tmp_dir);
  g_free (tmp_dir);
  g_object_unref (app);
  bt_test_exit (ret);
}
