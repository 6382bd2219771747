/* test-model-page.c: the Model page on a real Shapes project: settings shown and written back,
 * preset cards with parameter counts and measured time, preprocessed preview samples. */
#include "config.h"

#include <glib/gstdio.h>
#include <gtk/gtk.h>
#include <math.h>
#include <string.h>

#include "bt-model-page.h"
#include "bt-transfer-options.h"
#include "training/bt-recipe.h"
#include "bt-test-screenshot.h"
#include "bt-test-fs.h"
#include "bt-test-input.h"
#include "bt-test-wait.h"

typedef struct {
  char        *dir;
  BtProject   *project;
  GtkWidget   *window;
  BtModelPage *page;
} Fixture;

static void
wait_idle (BtModelPage *page)
{
  /* the jobs run in workers; spin the main loop until they reported back */
  BT_TEST_WAIT (!bt_model_page_is_busy (page));
}

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;

  f->dir = g_dir_make_tmp ("bt-model-page-XXXXXX", &error);
  g_assert_no_error (error);
  f->project = bt_sample_create_shapes (f->dir, 6, 32, 7, NULL, &error);
  g_assert_no_error (error);
  f->window = gtk_window_new ();
  f->page = g_object_new (BT_TYPE_MODEL_PAGE, NULL);
  gtk_window_set_child (GTK_WINDOW (f->window), GTK_WIDGET (f->page));
  gtk_window_set_default_size (GTK_WINDOW (f->window), 1100, 760);
  gtk_window_present (GTK_WINDOW (f->window));
  bt_model_page_set_project (f->page, f->project);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  wait_idle (f->page);
  gtk_window_destroy (GTK_WINDOW (f->window));
  g_object_unref (f->project);
  bt_test_rm_rf (f->dir);
  g_free (f->dir);
}

static void
test_cards (Fixture *f, gconstpointer data)
{
  static const BtPreset presets[] = { BT_PRESET_MLP, BT_PRESET_SMALL_CNN, BT_PRESET_DEEPER_CNN, BT_PRESET_MINI_RESNET };
  const BtProjectSettings *s = bt_project_get_settings (f->project);
  int w, h, c;

  wait_idle (f->page);
  for (guint i = 0; i < G_N_ELEMENTS (presets); i++)
    {
      g_autofree char *text = bt_model_page_dup_card_text (f->page, presets[i]);
      g_autoptr(BtNet) net = bt_net_new_preset (presets[i], s->width, s->height, s->channels, 4, -1, 1, NULL);
      g_autofree char *want = NULL;

      g_assert_nonnull (net);
      /* the card's count is the network's, rounded as shown */
      if (bt_net_n_params (net) >= 1000000)
        want = g_strdup_printf ("%.1f million parameters", bt_net_n_params (net) / 1e6);
      else
        want = g_strdup_printf ("%.0f thousand parameters", bt_net_n_params (net) / 1e3);
      g_assert_nonnull (strstr (text, want));
      g_assert_nonnull (strstr (text, "per epoch"));
    }

  /* a click on the MLP card chooses it (a new project starts on another) */
  g_assert_cmpstr (bt_project_get_settings (f->project)->preset, !=, "mlp");
  {
    GtkWidget *title = bt_test_find_label (GTK_WIDGET (f->page), bt_preset_title (BT_PRESET_MLP));
    g_assert_nonnull (title);
    bt_test_click (gtk_widget_get_ancestor (title, GTK_TYPE_TOGGLE_BUTTON));
  }
  BT_TEST_WAIT (g_strcmp0 (bt_project_get_settings (f->project)->preset, "mlp") == 0);
  s = bt_project_get_settings (f->project);
  bt_preset_default_input (BT_PRESET_MLP, &w, &h, &c);
  g_assert_cmpint (s->width, ==, w);
  g_assert_cmpint (s->height, ==, h);
  g_assert_cmpint (s->channels, ==, c);

  /* written to disk: a reopened project has it */
  {
    g_autoptr(GError) error = NULL;
    g_assert_true (bt_project_flush (f->project, &error));  /* saves run on a writer thread */
    g_autoptr(BtProject) again = bt_project_open (f->dir, &error);
    g_assert_no_error (error);
    g_assert_cmpstr (bt_project_get_settings (again)->preset, ==, "mlp");
  }
}

static GtkWidget *
find_by_tooltip (GtkWidget *root, GType type, const char *prefix)
{
  for (GtkWidget *c = gtk_widget_get_first_child (root); c; c = gtk_widget_get_next_sibling (c))
    {
      const char *tip = gtk_widget_get_tooltip_text (c);
      GtkWidget *found;
      if (G_TYPE_CHECK_INSTANCE_TYPE (c, type) && tip && g_str_has_prefix (tip, prefix))
        return c;
      if ((found = find_by_tooltip (c, type, prefix)))
        return found;
    }
  return NULL;
}

static void
test_advanced_and_preview (Fixture *f, gconstpointer data)
{
  GtkWidget *expander = bt_test_find_type (GTK_WIDGET (f->page), GTK_TYPE_EXPANDER);
  GtkWidget *epochs, *width, *height;
  GdkPaintable *p;

  /* the Advanced section is folded away until opened */
  g_assert_nonnull (expander);
  g_assert_null (find_by_tooltip (GTK_WIDGET (f->page), GTK_TYPE_SPIN_BUTTON, "How many times"));
  gtk_expander_set_expanded (GTK_EXPANDER (expander), TRUE);
  epochs = find_by_tooltip (GTK_WIDGET (f->page), GTK_TYPE_SPIN_BUTTON, "How many times");
  width = find_by_tooltip (GTK_WIDGET (f->page), GTK_TYPE_SPIN_BUTTON, "Width in pixels");
  height = find_by_tooltip (GTK_WIDGET (f->page), GTK_TYPE_SPIN_BUTTON, "Height in pixels");

  g_assert_nonnull (epochs);
  g_assert_nonnull (width);
  g_assert_nonnull (height);
  g_assert_cmpint (gtk_spin_button_get_value_as_int (GTK_SPIN_BUTTON (epochs)), ==,
                   bt_project_get_settings (f->project)->epochs);

  gtk_spin_button_set_value (GTK_SPIN_BUTTON (epochs), 3);
  g_assert_cmpint (bt_project_get_settings (f->project)->epochs, ==, 3);

  gtk_spin_button_set_value (GTK_SPIN_BUTTON (width), 20);
  gtk_spin_button_set_value (GTK_SPIN_BUTTON (height), 16);
  g_assert_cmpint (bt_project_get_settings (f->project)->width, ==, 20);
  wait_idle (f->page);

  /* the preview shows samples at exactly the input size: what the network sees */
  g_assert_cmpuint (bt_model_page_get_n_previews (f->page), >=, 4);
  p = bt_model_page_get_preview (f->page, 0);
  g_assert_cmpint (gdk_paintable_get_intrinsic_width (p), ==, 20);
  g_assert_cmpint (gdk_paintable_get_intrinsic_height (p), ==, 16);

  bt_test_screenshot (f->window, "model-page.png");
}

/* Pixels of a texture as GDK downloads them (the same format for both sides of a comparison). */
static guint8 *
download (GdkPaintable *p, gsize *len)
{
  GdkTexture *t = GDK_TEXTURE (p);
  int w = gdk_texture_get_width (t), h = gdk_texture_get_height (t);
  guint8 *data = g_malloc ((gsize) w * h * 4);

  gdk_texture_download (t, data, (gsize) w * 4);
  *len = (gsize) w * h * 4;
  return data;
}

static gboolean
same_pixels (GdkPaintable *a, GdkPaintable *b)
{
  gsize la, lb;
  g_autofree guint8 *da = download (a, &la);
  g_autofree guint8 *db = download (b, &lb);

  return la == lb && memcmp (da, db, la) == 0;
}

static void
test_augment_previews (Fixture *f, gconstpointer data)
{
  static const char * const tips[BT_MODEL_PAGE_N_AUGMENTS] = {
    "Mirror images", "Shift and crop", "Turn images", "Vary brightness",
  };
  GtkWidget *expander = bt_test_find_type (GTK_WIDGET (f->page), GTK_TYPE_EXPANDER);
  GtkCheckButton *checks[BT_MODEL_PAGE_N_AUGMENTS];
  guint n;

  gtk_expander_set_expanded (GTK_EXPANDER (expander), TRUE);
  for (int k = 0; k < BT_MODEL_PAGE_N_AUGMENTS; k++)
    {
      checks[k] = GTK_CHECK_BUTTON (find_by_tooltip (GTK_WIDGET (f->page), GTK_TYPE_CHECK_BUTTON, tips[k]));
      g_assert_nonnull (checks[k]);
      gtk_check_button_set_active (checks[k], FALSE);
    }
  wait_idle (f->page);
  n = MIN (bt_model_page_get_n_previews (f->page), 4);
  g_assert_cmpuint (n, >=, 4);

  /* off: beside each toggle, the samples exactly as the network sees them without it */
  for (int k = 0; k < BT_MODEL_PAGE_N_AUGMENTS; k++)
    for (guint i = 0; i < n; i++)
      {
        GdkPaintable *aug = bt_model_page_get_augment_preview (f->page, k, i);
        g_assert_nonnull (aug);
        g_assert_true (same_pixels (aug, bt_model_page_get_preview (f->page, i)));
      }

  /* on, one at a time: the batcher's augmented variants, which differ */
  for (int k = 0; k < BT_MODEL_PAGE_N_AUGMENTS; k++)
    {
      guint differ = 0;

      gtk_check_button_set_active (checks[k], TRUE);
      g_assert_true (bt_project_get_settings (f->project)->augment_flip == (k == BT_MODEL_PAGE_AUGMENT_FLIP));
      wait_idle (f->page);
      for (guint i = 0; i < n; i++)
        {
          GdkPaintable *aug = bt_model_page_get_augment_preview (f->page, k, i);
          GdkPaintable *plain = bt_model_page_get_preview (f->page, i);
          g_assert_nonnull (aug);
          g_assert_cmpint (gdk_paintable_get_intrinsic_width (aug), ==, gdk_paintable_get_intrinsic_width (plain));
          g_assert_cmpint (gdk_paintable_get_intrinsic_height (aug), ==, gdk_paintable_get_intrinsic_height (plain));
          differ += !same_pixels (aug, plain);
        }
      g_test_message ("augmentation %d: %u of %u previews differ from the plain samples", k, differ, n);
      /* a flip can leave a symmetric shape as it was; the others change every sample */
      if (k == BT_MODEL_PAGE_AUGMENT_FLIP)
        g_assert_cmpuint (differ, >=, 1);
      else
        g_assert_cmpuint (differ, ==, n);
      /* the other toggles' previews stay plain */
      for (int j = 0; j < BT_MODEL_PAGE_N_AUGMENTS; j++)
        if (j != k)
          g_assert_true (same_pixels (bt_model_page_get_augment_preview (f->page, j, 0),
                                      bt_model_page_get_preview (f->page, 0)));
      if (k == BT_MODEL_PAGE_AUGMENT_ROTATE && g_getenv ("BT_SCREENSHOT_DIR"))
        {
          /* scrolled down to the toggles, with colour on too (a picture, not an assertion) */
          GtkScrolledWindow *sw = GTK_SCROLLED_WINDOW (bt_test_find_type (GTK_WIDGET (f->page), GTK_TYPE_SCROLLED_WINDOW));
          GtkAdjustment *adj = gtk_scrolled_window_get_vadjustment (sw);
          gtk_check_button_set_active (checks[BT_MODEL_PAGE_AUGMENT_FLIP], TRUE);
          wait_idle (f->page);
          gtk_adjustment_set_value (adj, gtk_adjustment_get_upper (adj));
          bt_test_screenshot (f->window, "model-page-augment.png");
          gtk_check_button_set_active (checks[BT_MODEL_PAGE_AUGMENT_FLIP], FALSE);
        }
      gtk_check_button_set_active (checks[k], FALSE);
      for (guint i = 0; i < n; i++)
        g_assert_true (same_pixels (bt_model_page_get_augment_preview (f->page, k, i),
                                    bt_model_page_get_preview (f->page, i)));
    }
}

/* The transfer preset augments with its own fixed variants (mirror, 80 % crops) and never turns
 * or recolours: its previews follow that. */
static void
test_augment_previews_transfer (Fixture *f, gconstpointer data)
{
  static const char * const tips[BT_MODEL_PAGE_N_AUGMENTS] = {
    "Mirror images", "Shift and crop", "Turn images", "Vary brightness",
  };
  GtkWidget *expander = bt_test_find_type (GTK_WIDGET (f->page), GTK_TYPE_EXPANDER);
  BtProjectSettings s = { 0 };
  g_autoptr(GError) error = NULL;
  GtkCheckButton *checks[BT_MODEL_PAGE_N_AUGMENTS];

  gtk_expander_set_expanded (GTK_EXPANDER (expander), TRUE);
  bt_project_settings_copy (&s, bt_project_get_settings (f->project));
  g_free (s.preset);
  s.preset = g_strdup ("transfer");
  s.width = s.height = 48;
  s.channels = 3;
  s.augment_flip = s.augment_crop = s.augment_rotate = s.augment_color = TRUE;
  g_assert_true (bt_project_update_settings (f->project, &s, &error));
  g_assert_no_error (error);
  bt_project_settings_clear (&s);
  /* the page follows the project's settings; the preset change remakes the previews */
  bt_test_drain ();
  wait_idle (f->page);
  for (int k = 0; k < BT_MODEL_PAGE_N_AUGMENTS; k++)
    {
      checks[k] = GTK_CHECK_BUTTON (find_by_tooltip (GTK_WIDGET (f->page), GTK_TYPE_CHECK_BUTTON, tips[k]));
      g_assert_nonnull (checks[k]);
      g_assert_true (gtk_check_button_get_active (checks[k]));
    }
  g_assert_cmpuint (bt_model_page_get_n_previews (f->page), >=, 4);

  for (guint i = 0; i < 4; i++)
    {
      GdkPaintable *plain = bt_model_page_get_preview (f->page, i);
      GdkPaintable *crop = bt_model_page_get_augment_preview (f->page, BT_MODEL_PAGE_AUGMENT_CROP, i);
      GdkPaintable *flip = bt_model_page_get_augment_preview (f->page, BT_MODEL_PAGE_AUGMENT_FLIP, i);

      g_assert_nonnull (crop);
      g_assert_nonnull (flip);
      g_assert_cmpint (gdk_paintable_get_intrinsic_width (crop), ==, 48);
      g_assert_false (same_pixels (crop, plain));   /* an 80 % crop, grown back to 48 px */
    }
  /* rotation and colour changes do nothing for transfer learning: no previews, not offered */
  for (int k = BT_MODEL_PAGE_AUGMENT_ROTATE; k <= BT_MODEL_PAGE_AUGMENT_COLOR; k++)
    {
      g_assert_null (bt_model_page_get_augment_preview (f->page, k, 0));
      g_assert_false (gtk_widget_get_sensitive (GTK_WIDGET (checks[k])));
    }
  g_assert_true (gtk_widget_get_sensitive (GTK_WIDGET (checks[BT_MODEL_PAGE_AUGMENT_FLIP])));

  /* the backbone's fine-tuned blocks (#27): bounds from the table, 0 by default, saved */
  GtkSpinButton *ft = GTK_SPIN_BUTTON (find_by_tooltip (GTK_WIDGET (f->page), GTK_TYPE_SPIN_BUTTON,
                                                        "0 keeps the backbone frozen"));
  g_assert_nonnull (ft);
  g_assert_cmpfloat (gtk_adjustment_get_upper (gtk_spin_button_get_adjustment (ft)), ==,
                     bt_settings_find ("finetune-blocks")->max);
  g_assert_cmpint (gtk_spin_button_get_value_as_int (ft), ==, 0);
  gtk_spin_button_set_value (ft, 2);
  g_assert_cmpint (bt_project_get_settings (f->project)->transfer_finetune_blocks, ==, 2);
  {
    GtkWidget *sw = bt_test_find_type (GTK_WIDGET (f->page), GTK_TYPE_SCROLLED_WINDOW);
    GtkAdjustment *adj = sw ? gtk_scrolled_window_get_vadjustment (GTK_SCROLLED_WINDOW (sw)) : NULL;
    double x, y;
    /* scrolled to the transfer options */
    if (adj != NULL && gtk_widget_translate_coordinates (GTK_WIDGET (ft), gtk_scrolled_window_get_child (GTK_SCROLLED_WINDOW (sw)),
                                                         0, 0, &x, &y))
      gtk_adjustment_set_value (adj, y - 400);
    bt_test_screenshot (f->window, "model-page-transfer.png");
  }

  /* off: the plain samples */
  gtk_check_button_set_active (checks[BT_MODEL_PAGE_AUGMENT_CROP], FALSE);
  for (guint i = 0; i < 4; i++)
    g_assert_true (same_pixels (bt_model_page_get_augment_preview (f->page, BT_MODEL_PAGE_AUGMENT_CROP, i),
                                bt_model_page_get_preview (f->page, i)));
}

/* Every settings row the page edits with a spin button: its bounds and steps are the table's, a
 * value beyond them cannot be entered (the table refuses it everywhere else), a value saved in
 * project.ini (by the CLI, say) is shown, and what the page sets is saved. */
static void
test_settings_table (Fixture *f, gconstpointer data)
{
  guint n, n_spins = 0;
  const BtSettingInfo *rows = bt_settings_table (&n);
  g_autoptr(GError) error = NULL;
  BtProjectSettings s;

  wait_idle (f->page);
  /* saved in project.ini by another writer, then opened: the page shows it */
  bt_project_settings_copy (&s, bt_project_get_settings (f->project));
  for (guint i = 0; i < n; i++)
    if (bt_model_page_get_setting_spin (f->page, rows[i].key) != NULL && rows[i].type != BT_SETTING_UINT64)
      bt_setting_set_number (&rows[i], &s, rows[i].type == BT_SETTING_INT ? floor ((rows[i].min + rows[i].max) / 7)
                                                                         : rows[i].min + (rows[i].max - rows[i].min) / 7);
  s.seed = G_GUINT64_CONSTANT (1099511627783);  /* more than a spin button holds */
  s.width = s.height = 28;                       /* keep the preview jobs small */
  g_assert_true (bt_project_update_settings (f->project, &s, &error));
  g_assert_no_error (error);
  g_assert_true (bt_project_flush (f->project, &error));
  g_autoptr(BtProject) reopened = bt_project_open (f->dir, &error);
  g_assert_no_error (error);
  bt_model_page_set_project (f->page, reopened);
  wait_idle (f->page);

  for (guint i = 0; i < n; i++)
    {
      const BtSettingInfo *row = &rows[i];
      GtkSpinButton *spin = bt_model_page_get_setting_spin (f->page, row->key);
      if (spin == NULL)
        continue;
      GtkAdjustment *adj = gtk_spin_button_get_adjustment (spin);
      double upper = row->type == BT_SETTING_UINT64 ? MIN (row->max, (double) G_MAXINT32) : row->max;
      g_test_message ("%s: %g to %g by %g", row->key, gtk_adjustment_get_lower (adj), gtk_adjustment_get_upper (adj),
                      gtk_adjustment_get_step_increment (adj));
      g_assert_cmpfloat (gtk_adjustment_get_lower (adj), ==, row->min);
      g_assert_cmpfloat (gtk_adjustment_get_upper (adj), ==, upper);
      g_assert_cmpfloat (gtk_adjustment_get_step_increment (adj), ==, row->step);
      g_assert_cmpfloat (gtk_adjustment_get_page_increment (adj), ==, row->page);
      g_assert_cmpfloat (gtk_spin_button_get_value (spin), ==, MIN (bt_setting_get_number (row, &s), upper));
      n_spins++;
    }
  g_assert_cmpuint (n_spins, >=, 9);
  /* the seed the spin button cannot hold survives an edit of another setting */
  gtk_spin_button_set_value (bt_model_page_get_setting_spin (f->page, "epochs"), 7);
  g_assert_cmpint (bt_project_get_settings (reopened)->epochs, ==, 7);
  g_assert_true (bt_project_get_settings (reopened)->seed == s.seed);

  /* beyond the table's limits: the page holds the limit, and the table refuses the value */
  for (guint i = 0; i < n; i++)
    {
      const BtSettingInfo *row = &rows[i];
      GtkSpinButton *spin = bt_model_page_get_setting_spin (f->page, row->key);
      if (spin == NULL || row->type == BT_SETTING_UINT64 || g_str_equal (row->group, "input"))
        continue;
      char text[G_ASCII_DTOSTR_BUF_SIZE];
      g_ascii_dtostr (text, sizeof text, row->max + 1);
      g_assert_false (bt_setting_parse (row, &s, text, NULL));
      gtk_spin_button_set_value (spin, row->max + 1);
      g_assert_cmpfloat (gtk_spin_button_get_value (spin), ==, row->max);
      g_assert_cmpfloat (bt_setting_get_number (row, bt_project_get_settings (reopened)), ==, row->max);
      gtk_spin_button_set_value (spin, row->min - 1);
      g_assert_cmpfloat (bt_setting_get_number (row, bt_project_get_settings (reopened)), ==, row->min);
    }
  /* and what the page set is in project.ini */
  g_assert_true (bt_project_flush (reopened, &error));
  {
    g_autoptr(BtProject) again = bt_project_open (f->dir, &error);
    g_assert_no_error (error);
    g_assert_true (bt_project_settings_equal (bt_project_get_settings (again), bt_project_get_settings (reopened)));
    g_assert_cmpint (bt_project_get_settings (again)->batch_size, ==, (int) bt_settings_find ("batch-size")->min);
  }
  bt_model_page_set_project (f->page, f->project);
  wait_idle (f->page);
  bt_project_settings_clear (&s);
}

/* For the screenshots in docs/: the page scrolled so that widget is near the top. */
static void
shoot_scrolled_to (Fixture *f, GtkWidget *widget, const char *name)
{
  GtkWidget *sw = gtk_widget_get_ancestor (widget, GTK_TYPE_SCROLLED_WINDOW);
  graphene_rect_t r;

  if (g_getenv ("BT_SCREENSHOT_DIR") == NULL || sw == NULL)
    return;
  /* twice: the first scroll can land before a resize's layout settled */
  for (int i = 0; i < 2; i++)
    {
      bt_test_drain ();
      if (gtk_widget_compute_bounds (widget, gtk_scrolled_window_get_child (GTK_SCROLLED_WINDOW (sw)), &r))
        gtk_adjustment_set_value (gtk_scrolled_window_get_vadjustment (GTK_SCROLLED_WINDOW (sw)), r.origin.y - 120);
    }
  bt_test_drain ();
  bt_test_screenshot (f->window, name);
}

/* The Automatic recipe on the page: on by default for a transfer project, the line says what it
 * will do before a run and what the newest run's recipe chose after one (read when the page is
 * shown again); unticked, the project's recipe is "manual". Test-time augmentation is a tick. */
static void
test_recipe_line (Fixture *f, gconstpointer data)
{
  BtTransferOptions *opts = bt_model_page_get_transfer_options (f->page);
  GtkWidget *expander = bt_test_find_type (GTK_WIDGET (f->page), GTK_TYPE_EXPANDER);
  GtkCheckButton *recipe_check, *tta_check;
  BtProjectSettings s = { 0 };
  g_autoptr(GError) error = NULL;
  g_autofree char *run_dir = g_build_filename (f->dir, "runs", "20260101-000000", NULL);
  g_autofree char *want = NULL;
  BtRecipeChoice c = {
    .chosen = BT_RECIPE_ALL_FIELDS, .learning_rate = 0.003, .weight_decay = 0.0001, .label_smoothing = 0.1,
    .hidden = 0, .epochs = 17, .cv_acc = 0.979, .base_acc = 0.965, .k = 3, .n_tried = 11, .seconds = 4.2,
  };

  gtk_expander_set_expanded (GTK_EXPANDER (expander), TRUE);
  bt_project_settings_copy (&s, bt_project_get_settings (f->project));
  g_assert_cmpstr (s.recipe, ==, "auto");   /* the default */
  g_free (s.preset);
  s.preset = g_strdup ("transfer");
  s.width = s.height = 48;
  s.channels = 3;
  g_assert_true (bt_project_update_settings (f->project, &s, &error));
  g_assert_no_error (error);
  bt_project_settings_clear (&s);
  bt_test_drain ();
  wait_idle (f->page);
  recipe_check = GTK_CHECK_BUTTON (find_by_tooltip (GTK_WIDGET (opts), GTK_TYPE_CHECK_BUTTON, "Before training, try"));
  g_assert_nonnull (recipe_check);
  g_assert_true (gtk_widget_is_visible (GTK_WIDGET (recipe_check)));
  g_assert_true (gtk_check_button_get_active (recipe_check));
  BT_TEST_WAIT (g_str_has_prefix (bt_transfer_options_get_recipe_text (opts), "When you train"));

  /* a run's choice, then the page shown again */
  g_assert_cmpint (g_mkdir_with_parents (run_dir, 0755), ==, 0);
  g_assert_true (bt_recipe_save (&c, run_dir, &error));
  g_assert_no_error (error);
  want = bt_recipe_describe (&c);
  g_assert_nonnull (strstr (want, "learning rate 0.003"));
  g_assert_nonnull (strstr (want, "17 epochs"));
  g_assert_nonnull (strstr (want, "97.9%"));
  gtk_widget_set_visible (GTK_WIDGET (f->page), FALSE);
  gtk_widget_set_visible (GTK_WIDGET (f->page), TRUE);
  BT_TEST_WAIT (g_strcmp0 (bt_transfer_options_get_recipe_text (opts), want) == 0);
  shoot_scrolled_to (f, GTK_WIDGET (recipe_check), "model-page-recipe.png");
  gtk_window_set_default_size (GTK_WINDOW (f->window), 800, 600);
  if (g_getenv ("BT_SCREENSHOT_DIR") != NULL)
    BT_TEST_WAIT (gtk_widget_get_width (f->window) <= 800);
  shoot_scrolled_to (f, GTK_WIDGET (recipe_check), "model-page-recipe-800x600.png");

  gtk_check_button_set_active (recipe_check, FALSE);
  g_assert_cmpstr (bt_project_get_settings (f->project)->recipe, ==, "manual");
  BT_TEST_WAIT (g_str_has_prefix (bt_transfer_options_get_recipe_text (opts), "The head is trained with the settings"));
  gtk_check_button_set_active (recipe_check, TRUE);
  g_assert_cmpstr (bt_project_get_settings (f->project)->recipe, ==, "auto");

  tta_check = GTK_CHECK_BUTTON (find_by_tooltip (GTK_WIDGET (f->page), GTK_TYPE_CHECK_BUTTON, "Every prediction looks"));
  g_assert_nonnull (tta_check);
  g_assert_false (gtk_check_button_get_active (tta_check));
  gtk_check_button_set_active (tta_check, TRUE);
  g_assert_true (bt_project_get_settings (f->project)->tta);
}

int
main (int argc, char **argv)
{
  gtk_test_init (&argc, &argv, NULL);
  g_test_add ("/model-page/recipe", Fixture, NULL, fixture_setup, test_recipe_line, fixture_teardown);

  g_test_add ("/model-page/cards", Fixture, NULL, fixture_setup, test_cards, fixture_teardown);
  g_test_add ("/model-page/advanced-preview", Fixture, NULL, fixture_setup, test_advanced_and_preview, fixture_teardown);
  g_test_add ("/model-page/augment-previews", Fixture, NULL, fixture_setup, test_augment_previews, fixture_teardown);
  g_test_add ("/model-page/augment-previews-transfer", Fixture, NULL, fixture_setup, test_augment_previews_transfer,
              fixture_teardown);
  g_test_add ("/model-page/settings-table", Fixture, NULL, fixture_setup, test_settings_table, fixture_teardown);

  return g_test_run ();
}
