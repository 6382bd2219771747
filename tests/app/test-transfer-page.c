/* test-transfer-page.c: the transfer preset in the window. With no backbone anywhere the card
 * is insensitive and says why and how to get one; a bad chosen file gets a clear message; a
 * good one (the shared MobileNet V2) enables the card, and a short transfer run with a hidden
 * layer and the whole network goes through the Train page, pausing while it embeds. */
#include "config.h"

#include <glib/gstdio.h>
#include <gtk/gtk.h>
#include <string.h>
#include <unistd.h>

#include "bt-application.h"
#include "bt-window-private.h"
#include "training/bt-transfer.h"
#include "bt-test-input.h"
#include "bt-test-wait.h"
#include "bt-test-photos.h"
#include "bt-test-fs.h"
#include "bt-test-exit.h"
#include "bt-test-screenshot.h"

static BtApplication *app;
static BtWindow *window;
static BtProject *project;
static char *tmp_dir;
static char *model_path;

typedef gboolean (*Condition) (gpointer data);

#define wait_for(cond, data) BT_TEST_WAIT ((cond) (data))

static const char *sources[4][2] = {
  { "cat", "cat_720p.jpg" }, { "owl", "owl.jpg" }, { "sunflower", "sunflower.bmp" }, { "hot dog", "hot_dog.jpg" },
};

static gboolean
have_fixtures (void)
{
  g_autofree char *m = bt_test_shared_file ("models", BT_BACKBONE_DEFAULT);
  if (m == NULL)
    return FALSE;
  for (int i = 0; i < 4; i++)
    {
      g_autofree char *p = bt_test_shared_file ("images", sources[i][1]);
      if (p == NULL)
        return FALSE;
    }
  return TRUE;
}

/* Crops of the shared photos, four classes: what a person with a few photos per class has. */
static void
add_photos (BtProject *p, int per_class)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *images = g_build_filename (tmp_dir, "photos", NULL);
  g_autoptr(BtScanResult) scan = NULL;
  const char *paths[] = { images, NULL };
  BtRng rng;

  bt_rng_seed (&rng, 5);
  for (int c = 0; c < 4; c++)
    {
      g_autofree char *src_path = bt_test_shared_file ("images", sources[c][1]);
      g_autofree char *dir = g_build_filename (images, sources[c][0], NULL);
      g_autoptr(BtImage) src = bt_image_decode_file (src_path, 3, NULL, NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
      bt_test_write_scaled_crops (src, dir, (guint) per_class, 70, 120, "%02u.bmp", &rng);
    }
  scan = bt_scan_paths (paths, BT_SCAN_FOLDER_OF_CLASSES, NULL, TRUE, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (bt_project_apply_scan (p, scan, &error), ==, (guint) (4 * per_class));
  g_assert_no_error (error);
}

static gboolean
options_idle (gpointer data)
{
  return !bt_transfer_options_is_busy (bt_model_page_get_transfer_options (window->model_page));
}

static gboolean
model_page_idle (gpointer data)
{
  return !bt_model_page_is_busy (window->model_page);
}

static gboolean
transfer_card_says (const char *words)
{
  g_autofree char *text = bt_model_page_dup_card_text (window->model_page, BT_PRESET_TRANSFER);
  return strstr (text, words) != NULL;
}

static GSettings *
app_settings (void)
{
  return g_settings_new ("io.github.bottega.Bottega");
}

static void
test_no_backbone (void)
{
  GtkWidget *card = bt_model_page_get_transfer_card (window->model_page);
  BtTransferOptions *options = bt_model_page_get_transfer_options (window->model_page);
  const char *tooltip;
  g_autofree char *installed = bt_backbone_find (BT_BACKBONE_DEFAULT, NULL);

  if (installed != NULL)
    {
      g_test_skip_printf ("a backbone is installed system-wide (%s)", installed);
      return;
    }
  /* as on a machine where nobody chose a file nor the transfer preset (whichever test ran before) */
  bt_transfer_options_clear_file (options);
  wait_for (options_idle, NULL);
  if (g_strcmp0 (bt_project_get_settings (project)->preset, "transfer") == 0)
    {
      g_autoptr(GError) error = NULL;
      BtProjectSettings s;
      bt_project_settings_copy (&s, bt_project_get_settings (project));
      g_free (s.preset);
      s.preset = g_strdup ("small-cnn");
      g_assert_true (bt_project_update_settings (project, &s, &error));
      g_assert_no_error (error);
      bt_project_settings_clear (&s);
    }
  bt_window_set_page (window, "model");
  wait_for (model_page_idle, NULL);
  g_assert_false (gtk_widget_get_sensitive (card));
  /* why, and how to get one */
  g_assert_nonnull (strstr (bt_model_page_get_transfer_advice (window->model_page), "not on this computer"));
  g_assert_nonnull (strstr (bt_model_page_get_transfer_advice (window->model_page), "Download it below"));
  tooltip = gtk_widget_get_tooltip_text (card);
  g_assert_nonnull (tooltip);
  g_assert_nonnull (strstr (tooltip, g_getenv ("BOTTEGA_BACKBONE_DIR")));   /* where it looked */
  g_assert_nonnull (strstr (bt_transfer_options_get_status (options), BT_BACKBONE_DEFAULT));
  /* a click on the greyed-out card changes nothing */
  {
    g_autofree char *preset = g_strdup (bt_project_get_settings (project)->preset);
    bt_test_click_insensitive (card);
    g_assert_cmpstr (bt_project_get_settings (project)->preset, ==, preset);
    g_assert_cmpstr (preset, !=, "transfer");
  }
}

static void
test_bad_file (void)
{
  BtTransferOptions *options = bt_model_page_get_transfer_options (window->model_page);
  g_autofree char *bogus = g_build_filename (tmp_dir, "downloaded.tflite", NULL);
  g_autoptr(GFile) file = g_file_new_for_path (bogus);
  g_autoptr(GSettings) settings = app_settings ();
  g_autofree char *saved = NULL;

  g_assert_true (g_file_set_contents (bogus, "<html>404 Not Found</html>", -1, NULL));
  bt_transfer_options_choose_file (options, file);
  g_assert_true (bt_transfer_options_is_busy (options));      /* checked on a worker */
  wait_for (options_idle, NULL);
  g_test_message ("%s", bt_transfer_options_get_status (options));
  g_assert_nonnull (strstr (bt_transfer_options_get_status (options), "cannot be used as a backbone"));
  g_assert_nonnull (strstr (bt_transfer_options_get_status (options), "TensorFlow Lite"));
  saved = g_settings_get_string (settings, "backbone-file");
  g_assert_cmpstr (saved, ==, "");
  g_assert_null (bt_backbone_dup_preferred_file ());
  if (!gtk_widget_get_sensitive (bt_model_page_get_transfer_card (window->model_page)))
    g_assert_nonnull (strstr (bt_model_page_get_transfer_advice (window->model_page), "not on this computer"));
}

/* A backbone file deep in folders with long names: the status says its whole path, and the
 * window still fits 800 pixels (the path breaks anywhere, not only at spaces). */
static void
test_long_path (void)
{
  BtTransferOptions *options = bt_model_page_get_transfer_options (window->model_page);
  g_autofree char *backbone = NULL, *deep = NULL, *link = NULL;
  g_autoptr(GFile) file = NULL;
  int min_width = 0;

  if (!have_fixtures ())
    {
      g_test_skip ("MobileNet V2 backbone not found: set BOTTEGA_SHARED_DIR to the folder holding models/");
      return;
    }
  backbone = bt_test_shared_file ("models", BT_BACKBONE_DEFAULT);
  deep = g_build_filename (tmp_dir, "a_folder_with_a_rather_long_name_that_someone_made_for_their_pretrained_networks",
                           "and_another_one_inside_it_named_after_the_project_and_the_date_2026-12-07", NULL);
  g_assert_cmpint (g_mkdir_with_parents (deep, 0700), ==, 0);
  link = g_build_filename (deep, "mobilenet_v2_1.0_224_quant_copy_kept_for_the_flowers_project.tflite", NULL);
  g_assert_cmpint (symlink (backbone, link), ==, 0);
  file = g_file_new_for_path (link);
  bt_transfer_options_choose_file (options, file);
  wait_for (options_idle, NULL);
  g_test_message ("%s", bt_transfer_options_get_status (options));
  g_assert_nonnull (strstr (bt_transfer_options_get_status (options), link));
  gtk_widget_measure (GTK_WIDGET (window), GTK_ORIENTATION_HORIZONTAL, -1, &min_width, NULL, NULL, NULL);
  g_test_message ("window minimum width with a %d-character path: %d", (int) strlen (link), min_width);
  g_assert_cmpint (min_width, <=, 800);
  if (g_getenv ("BT_SCREENSHOT_DIR") != NULL)
    {
      int w = 0, h = 0;
      bt_window_set_page (window, "model");
      gtk_window_get_default_size (GTK_WINDOW (window), &w, &h);
      gtk_window_set_default_size (GTK_WINDOW (window), 800, 600);
      bt_test_screenshot (GTK_WIDGET (window), "transfer-long-path-800x600");
      gtk_window_set_default_size (GTK_WINDOW (window), w, h);
    }
  bt_transfer_options_clear_file (options);
  wait_for (options_idle, NULL);
}

static gboolean
is_state (gpointer data)
{
  BtTrainer *trainer = bt_train_page_get_trainer (window->train_page);
  return trainer && (int) bt_trainer_get_state (trainer) == GPOINTER_TO_INT (data);
}

static gboolean
not_busy (gpointer data)
{
  return !bt_train_page_is_busy (window->train_page);
}

static void
model_saved_cb (BtTrainPage *page, const char *path, gpointer data)
{
  g_free (model_path);
  model_path = g_strdup (path);
}

static gboolean
button_enabled (const char *action)
{
  GtkWidget *b = bt_test_find_action_button (GTK_WIDGET (window->train_page), action, FALSE);
  g_assert_nonnull (b);
  return gtk_widget_is_sensitive (b);
}

static void
test_choose_and_train (void)
{
  BtTransferOptions *options = bt_model_page_get_transfer_options (window->model_page);
  g_autofree char *backbone = NULL;
  g_autoptr(GFile) file = NULL;
  g_autoptr(GSettings) settings = app_settings ();
  g_autofree char *saved = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(BtModel) model = NULL;
  const BtProjectSettings *s;
  GtkDropDown *hidden = NULL;

  if (!have_fixtures ())
    {
      g_test_skip ("MobileNet V2 backbone or photos not found: set BOTTEGA_SHARED_DIR to the folder holding models/ and images/");
      return;
    }
  /* on the Model page, where the card's estimates are made (whichever test showed it before) */
  bt_window_set_page (window, "model");
  backbone = bt_test_shared_file ("models", BT_BACKBONE_DEFAULT);
  file = g_file_new_for_path (backbone);
  bt_transfer_options_choose_file (options, file);
  wait_for (options_idle, NULL);
  g_test_message ("%s", bt_transfer_options_get_status (options));
  g_assert_nonnull (strstr (bt_transfer_options_get_status (options), "1280 values per image"));
  /* the card names the chosen file and its estimates use the file's own sizes */
  {
    const char *title = NULL;
    int dim = 0, size = 0;
    GtkWidget *label = gtk_widget_get_first_child (gtk_widget_get_first_child (
      bt_model_page_get_transfer_card (window->model_page)));
    bt_transfer_options_get_backbone (options, &title, &dim, &size);
    g_assert_cmpstr (title, ==, "mobilenet_v2_1.0_224_quant");
    g_assert_cmpint (dim, ==, 1280);
    g_assert_cmpint (size, ==, 224);
    g_assert_true (GTK_IS_LABEL (label));
    g_assert_cmpstr (gtk_label_get_text (GTK_LABEL (label)), ==, "Transfer learning (mobilenet_v2_1.0_224_quant)");
  }
  saved = g_settings_get_string (settings, "backbone-file");
  {
    g_autofree char *chosen = g_file_get_path (file);
    g_autofree char *pref = bt_backbone_dup_preferred_file ();
    g_assert_cmpstr (saved, ==, chosen);
    g_assert_cmpstr (pref, ==, chosen);
  }
  g_assert_true (gtk_widget_get_sensitive (bt_model_page_get_transfer_card (window->model_page)));
  g_assert_cmpstr (bt_model_page_get_transfer_advice (window->model_page), !=, "");
  g_assert_null (strstr (bt_model_page_get_transfer_advice (window->model_page), "not on this computer"));

  /* the preset and its options, as a click on the card and on the options would set them */
  bt_model_page_select_preset (window->model_page, BT_PRESET_TRANSFER);
  {
    GtkWidget *w = GTK_WIDGET (options);
    GtkCheckButton *whole = NULL;
    /* the widgets are found by type: the dropdown and the whole-network check button */
    for (GtkWidget *c = w; c != NULL;)
      {
        if (GTK_IS_DROP_DOWN (c) && hidden == NULL)
          hidden = GTK_DROP_DOWN (c);
        /* (the automatic recipe's check button comes first) */
        if (GTK_IS_CHECK_BUTTON (c) && whole == NULL &&
            strstr (gtk_check_button_get_label (GTK_CHECK_BUTTON (c)), "whole network") != NULL)
          whole = GTK_CHECK_BUTTON (c);
        if (gtk_widget_get_first_child (c) != NULL)
          c = gtk_widget_get_first_child (c);
        else
          {
            while (c != w && gtk_widget_get_next_sibling (c) == NULL)
              c = gtk_widget_get_parent (c);
            c = c == w ? NULL : gtk_widget_get_next_sibling (c);
          }
      }
    g_assert_nonnull (hidden);
    g_assert_nonnull (whole);
    g_assert_true (gtk_widget_is_sensitive (GTK_WIDGET (hidden)));
    g_assert_true (gtk_widget_is_visible (GTK_WIDGET (hidden)));   /* shown for this preset */
    gtk_drop_down_set_selected (hidden, 1);
    gtk_check_button_set_active (whole, TRUE);
  }
  /* the card's size follows the head: 1280·128 + 128 + 128·4 + 4 parameters. The page measures
   * the transfer card alone again (its head changed), on the model runner after the whole
   * measurement the preset's 224-pixel input started: four image networks trained a step each,
   * over a minute of a loaded 2-core machine, hence the longer guard. */
  BT_TEST_WAIT_UP_TO (180, transfer_card_says ("164 thousand parameters"));
  {
    g_autofree char *text = bt_model_page_dup_card_text (window->model_page, BT_PRESET_TRANSFER);
    g_autofree char *mlp = NULL;
    g_test_message ("transfer card: %s", text);
    /* another head: the transfer card alone is measured again, the image networks' cards keep
     * their numbers (measuring those at 224 pixels costs seconds of CPU) */
    gtk_drop_down_set_selected (hidden, 2);
    mlp = bt_model_page_dup_card_text (window->model_page, BT_PRESET_MLP);
    g_assert_null (strstr (mlp, "measuring"));
    g_assert_true (transfer_card_says ("measuring"));
    BT_TEST_WAIT (transfer_card_says ("329 thousand parameters"));   /* 1280·256 + 256 + 256·4 + 4 */
    gtk_drop_down_set_selected (hidden, 1);
    BT_TEST_WAIT (transfer_card_says ("164 thousand parameters"));
  }
  s = bt_project_get_settings (project);
  g_assert_cmpstr (s->preset, ==, "transfer");
  g_assert_cmpint (s->transfer_hidden, ==, 128);
  g_assert_true (s->transfer_whole_network);
  {
    BtProjectSettings copy = { 0 };
    bt_project_settings_copy (&copy, s);
    copy.epochs = 4;
    copy.batch_size = 8;
    g_assert_true (bt_project_update_settings (project, &copy, &error));
    bt_project_settings_clear (&copy);
  }

  /* Train page: pause while the embeddings are computed, resume, run to the end */
  bt_window_set_page (window, "train");
  g_signal_connect (window->train_page, "model-saved", G_CALLBACK (model_saved_cb), NULL);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window->train_page), "train.start", NULL));
  g_assert_true (is_state (GINT_TO_POINTER (BT_TRAINER_PREPARING)));
  g_assert_true (button_enabled ("train.pause"));
  gtk_widget_activate_action (GTK_WIDGET (window->train_page), "train.pause", NULL);
  wait_for (is_state, GINT_TO_POINTER (BT_TRAINER_PAUSED));
  g_assert_true (button_enabled ("train.resume"));
  g_assert_true (button_enabled ("train.stop"));
  g_assert_false (button_enabled ("train.pause"));
  gtk_widget_activate_action (GTK_WIDGET (window->train_page), "train.resume", NULL);
  wait_for (not_busy, NULL);
  g_assert_nonnull (model_path);

  model = bt_model_load (model_path, &error);
  g_assert_no_error (error);
  g_assert_cmpint (bt_net_preset (model->net), ==, BT_PRESET_TRANSFER);
  g_assert_cmpint (bt_net_hidden (model->net), ==, 128);
  g_assert_nonnull (model->backbone_data);
  g_assert_cmpstr (model->backbone_name, ==, BT_BACKBONE_DEFAULT);

  /* forgetting the choice: back to the (empty) search path, and the card says so again */
  bt_transfer_options_clear_file (options);
  g_clear_pointer (&saved, g_free);
  saved = g_settings_get_string (settings, "backbone-file");
  g_assert_cmpstr (saved, ==, "");
  g_assert_null (bt_backbone_dup_preferred_file ());
  {
    g_autofree char *installed = bt_backbone_find (BT_BACKBONE_DEFAULT, NULL);
    g_assert_cmpint (gtk_widget_get_sensitive (bt_model_page_get_transfer_card (window->model_page)), ==,
                     installed != NULL);
  }
}

/* Another backbone (MobileNet V1 0.25, 128 px input): the card is titled after it, its
 * estimates and the input size it sets are the file's own, and "Use the Default" puts the
 * MobileNet V2 title back. */
static void
test_other_backbone (void)
{
  BtTransferOptions *options = bt_model_page_get_transfer_options (window->model_page);
  g_autofree char *path = bt_test_shared_file ("models", "mobilenet_v1_0.25_128_quant.tflite");
  const char *title = NULL;
  int dim = 0, size = 0;

  if (path == NULL)
    {
      g_test_skip ("$BOTTEGA_SHARED_DIR/models/mobilenet_v1_0.25_128_quant.tflite is absent");
      return;
    }
  g_autoptr(GFile) file = g_file_new_for_path (path);
  GtkWidget *card = bt_model_page_get_transfer_card (window->model_page);
  GtkWidget *label = gtk_widget_get_first_child (gtk_widget_get_first_child (card));
  bt_window_set_page (window, "model");
  bt_transfer_options_choose_file (options, file);
  wait_for (options_idle, NULL);
  g_test_message ("%s", bt_transfer_options_get_status (options));
  bt_transfer_options_get_backbone (options, &title, &dim, &size);
  g_assert_cmpstr (title, ==, "mobilenet_v1_0.25_128_quant");
  g_assert_cmpint (size, ==, 128);
  g_assert_cmpint (dim, >, 0);
  g_assert_cmpint (dim, !=, 1280);
  g_assert_cmpstr (gtk_label_get_text (GTK_LABEL (label)), ==, "Transfer learning (mobilenet_v1_0.25_128_quant)");
  g_assert_true (gtk_widget_get_sensitive (card));
  /* choosing the card sets the backbone's input size */
  bt_model_page_select_preset (window->model_page, BT_PRESET_SMALL_CNN);
  bt_model_page_select_preset (window->model_page, BT_PRESET_TRANSFER);
  g_assert_cmpint (bt_project_get_settings (project)->width, ==, 128);
  g_assert_cmpint (bt_project_get_settings (project)->height, ==, 128);

  bt_transfer_options_clear_file (options);
  bt_transfer_options_get_backbone (options, &title, &dim, &size);
  g_assert_null (title);
  g_assert_cmpstr (gtk_label_get_text (GTK_LABEL (label)), ==, "Transfer learning (MobileNet V2)");
}

int
main (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *empty = NULL, *data_home = NULL, *project_dir = NULL;
  int ret;

  /* No backbone anywhere: an empty backbone folder and user data dir, set before GLib reads
   * them (the system data dirs stay: GTK needs them; a backbone installed there is noticed). */
  tmp_dir = g_dir_make_tmp ("bt-transfer-page-XXXXXX", &error);
  g_assert_no_error (error);
  empty = g_build_filename (tmp_dir, "backbones", NULL);
  data_home = g_build_filename (tmp_dir, "data", NULL);
  g_mkdir_with_parents (empty, 0755);
  g_mkdir_with_parents (data_home, 0755);
  g_setenv ("BOTTEGA_BACKBONE_DIR", empty, TRUE);
  g_setenv ("XDG_DATA_HOME", data_home, TRUE);

  gtk_test_init (&argc, &argv, NULL);
  app = bt_application_new ();
  g_application_set_flags (G_APPLICATION (app),
                           g_application_get_flags (G_APPLICATION (app)) | G_APPLICATION_NON_UNIQUE);
  if (!g_application_register (G_APPLICATION (app), NULL, &error))
    g_error ("register: %s", error->message);

  project_dir = g_build_filename (tmp_dir, "project", NULL);
  project = bt_project_create (project_dir, "Few photos", &error);
  g_assert_no_error (error);
  if (have_fixtures ())
    add_photos (project, 6);

  window = bt_window_new (GTK_APPLICATION (app));
  gtk_window_set_default_size (GTK_WINDOW (window), 1200, 820);
  gtk_window_present (GTK_WINDOW (window));
  bt_window_set_project (window, project);

  g_test_add_func ("/transfer-page/no-backbone", test_no_backbone);
  g_test_add_func ("/transfer-page/bad-file", test_bad_file);
  g_test_add_func ("/transfer-page/long-path", test_long_path);
  g_test_add_func ("/transfer-page/choose-and-train", test_choose_and_train);
  g_test_add_func ("/transfer-page/other-backbone", test_other_backbone);
  ret = g_test_run ();

  gtk_window_destroy (GTK_WINDOW (window));
  g_object_unref (project);
  bt_test_rm_rf (tmp_dir);
  g_free (tmp_dir);
  g_free (model_path);
  g_object_unref (app);
  bt_test_exit (ret);
}
