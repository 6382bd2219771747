/* test-review.c: the Review window driven by keyboard, as a person works through the data
 * doctor's findings on a Shapes project with 5 flipped labels and 2 blank images: the Data
 * page's Review button opens it and carries the badge; Enter moves a flipped image to the
 * suggested class (saved: a reopened project has it) and Ctrl+Z brings it back; 1–9 moves to a
 * class, Delete excludes, Space keeps (saved in the project folder, not shown again) and each is
 * undone by Ctrl+Z; arrows move on; a cancelled check leaves the project and the report as they
 * were; after a fix, Retrain (Ctrl+Enter, or its button) trains through the Train page — not
 * beside a run already going — and shows the validation accuracy of the model before and of
 * the new one as their own metadata records them (in words when there was no model before).
 * The window is also screenshotted at 800×600 when BT_SCREENSHOT_DIR is set. */
#include "config.h"

#include <cairo.h>
#include <glib/gstdio.h>
#include <glib/gi18n.h>
#include <gtk/gtk.h>
#include <string.h>

#include "bt-application.h"
#include "bt-review-button.h"
#include "bt-review-window.h"
#include "bt-window-private.h"
#include "dataset/bt-undo.h"
#include "bt-test-exit.h"
#include "bt-test-fs.h"
#include "bt-test-blank.h"
#include "bt-test-input.h"
#include "bt-test-screenshot.h"
#include "bt-test-wait.h"

static const char *classes[] = { "circle", "square", "triangle", "star" };

static BtApplication *app;
static BtWindow *window;
static BtProject *project;
static char *project_dir;
static char *flipped[5];
static int flipped_true[5];
static char *blank[2];

static BtItem *
item_at (guint i)
{
  BtItem *it = g_list_model_get_item (bt_project_get_items (project), i);
  g_object_unref (it);   /* the model keeps it */
  return it;
}

static void
build_project (void)
{
  g_autoptr(GError) error = NULL;
  const guint picks[5] = { 7, 60 + 7, 120 + 7, 180 + 7, 25 };

  project_dir = g_dir_make_tmp ("bt-review-XXXXXX", &error);
  g_assert_no_error (error);
  project = bt_sample_create_shapes (project_dir, 60, 64, 11, NULL, &error);
  g_assert_no_error (error);
  /* the doctor's fold models train the project's preset: a quick one (MLP, 32×32 grey, 4 epochs) */
  BtProjectSettings quick = { 0 };
  bt_project_settings_copy (&quick, bt_project_get_settings (project));
  g_free (quick.preset);
  quick.preset = g_strdup ("mlp");
  quick.width = quick.height = 32;
  quick.channels = 1;
  quick.epochs = 4;
  g_assert_true (bt_project_update_settings (project, &quick, &error));
  bt_project_settings_clear (&quick);
  for (int f = 0; f < 5; f++)
    {
      BtItem *it = item_at (picks[f]);
      flipped[f] = g_strdup (bt_item_get_path (it));
      flipped_true[f] = bt_project_find_class (project, bt_item_get_class_name (it));
    }
  for (int f = 0; f < 5; f++)
    {
      BtItem *items[1] = { bt_project_find_item (project, flipped[f]) };
      g_assert_true (bt_project_relabel (project, items, 1, classes[(flipped_true[f] + 1) % 4], &error));
    }
  for (int b = 0; b < 2; b++)
    {
      g_autofree char *name = g_strdup_printf ("blank-%d.png", b);
      const char *paths[2] = { NULL, NULL };
      blank[b] = g_build_filename (project_dir, "images", "square", name, NULL);
      bt_test_write_blank_png (blank[b], b == 0 ? 0.02 : 0.99);
      paths[0] = blank[b];
      g_assert_true (bt_project_add_items (project, "square", paths, NULL, &error));
      g_assert_no_error (error);
    }
  g_assert_true (bt_project_flush (project, &error));
}

static BtReviewWindow *
review_window (void)
{
  return g_object_get_data (G_OBJECT (project), "bt-review-window");
}

static int
flip_index (const char *path)
{
  for (int f = 0; f < 5; f++)
    if (g_str_equal (flipped[f], path))
      return f;
  return -1;
}

static const char *
current_path (BtReviewWindow *rw, guint *target)
{
  BtDoctorState *state = bt_doctor_state_get (project);
  const BtFinding *f = bt_review_window_get_current (rw);
  g_assert_nonnull (f);
  if (target)
    *target = f->kind == BT_FINDING_DUPLICATE ? f->b : f->a;
  return bt_doctor_report_path (bt_doctor_state_get_report (state), f->kind == BT_FINDING_DUPLICATE ? f->b : f->a);
}

static const char *
class_of (const char *path)
{
  return bt_item_get_class_name (bt_project_find_item (project, path));
}

static gboolean
file_contains (const char *file, const char *text)
{
  g_autofree char *contents = NULL;
  return g_file_get_contents (file, &contents, NULL, NULL) && strstr (contents, text) != NULL;
}

static gboolean
report_ready (gpointer data)
{
  BtDoctorState *state = bt_doctor_state_get (project);
  return !bt_doctor_state_is_running (state) && bt_doctor_state_get_report (state) != NULL;
}

static GtkWidget *
review_button (void)
{
  GtkWidget *button;

  bt_window_set_page (window, "data");
  /* "Review…", or "Review · N" once a report has findings */
  button = bt_test_find_type (GTK_WIDGET (window->data_page), BT_TYPE_REVIEW_BUTTON);
  g_assert_nonnull (button);
  g_assert_true (g_str_has_prefix (gtk_button_get_label (GTK_BUTTON (button)), _("Review")));
  return button;
}

/* The Review window with a report, opened from the Data page's button unless it is open
 * (each case starts from whatever the cases before it left, in any order). */
static BtReviewWindow *
open_review (void)
{
  if (review_window () == NULL)
    {
      bt_test_click (review_button ());
      BT_TEST_WAIT (review_window () != NULL);
      gtk_window_set_default_size (GTK_WINDOW (review_window ()), 1000, 700);
    }
  BT_TEST_WAIT (report_ready (NULL));
  bt_review_window_set_kind (review_window (), BT_FINDING_LABEL);
  return review_window ();
}

/* Opens Review from the Data page's button; the doctor runs on a worker while the window stays
 * responsive (a window opened again shows the last report without checking again); the flips
 * come first, the badge counts what is open. */
static void
test_open (void)
{
  BtDoctorState *state = bt_doctor_state_get (project);
  GtkWidget *button;
  const BtDoctorReport *before;
  guint n_flips = 0;

  if (review_window () != NULL)   /* closed, as a person closes it */
    {
      gtk_window_close (GTK_WINDOW (review_window ()));
      BT_TEST_WAIT (review_window () == NULL);
    }
  before = bt_doctor_state_get_report (state);
  button = review_button ();
  bt_test_click (button);
  BT_TEST_WAIT (review_window () != NULL);
  if (before == NULL)
    /* the check runs on a worker: the main loop turns while it does */
    g_assert_true (bt_doctor_state_is_running (state));
  else
    {
      g_assert_false (bt_doctor_state_is_running (state));
      g_assert_true (bt_doctor_state_get_report (state) == before);
    }
  BT_TEST_WAIT (report_ready (NULL));
  g_assert_null (bt_doctor_state_get_error (state));

  BtReviewWindow *rw = review_window ();
  g_assert_cmpint (bt_review_window_get_kind (rw), ==, BT_FINDING_LABEL);
  g_assert_cmpuint (bt_review_window_get_n_shown (rw), >=, 5);
  g_assert_cmpuint (bt_review_window_get_n_shown (rw), ==, bt_doctor_state_count_open (state, BT_FINDING_LABEL));
  for (guint i = 0; i < 5; i++)
    n_flips += bt_doctor_state_suspect (state, flipped[i], NULL) != NULL;
  g_assert_cmpuint (n_flips, >=, 4);
  {
    g_autofree char *badge = g_strdup_printf ("Review · %u", bt_doctor_state_count_open (state, BT_FINDING_N_KINDS));
    BT_TEST_WAIT (g_str_equal (gtk_button_get_label (GTK_BUTTON (button)), badge));
  }
  gtk_window_set_default_size (GTK_WINDOW (rw), 1000, 700);
  bt_test_focus_window (GTK_WINDOW (rw));
  bt_test_screenshot (GTK_WIDGET (rw), "review-window.png");
}

/* Enter: the suggested class; saved at once, so a reopened project has it; Ctrl+Z: back. */
static void
test_accept_undo (void)
{
  BtReviewWindow *rw = open_review ();
  BtDoctorState *state = bt_doctor_state_get (project);
  g_autoptr(GError) error = NULL;
  const BtFinding *f;
  guint n = bt_review_window_get_n_shown (rw);
  g_autofree char *path = NULL, *given = NULL, *suggested = NULL;

  /* move to a planted flip with the arrows */
  for (guint i = 0; flip_index (current_path (rw, NULL)) < 0; i++)
    {
      g_assert_cmpuint (i, <, n);
      bt_test_press_key (GTK_WINDOW (rw), GDK_KEY_Down, 0);
    }
  f = bt_review_window_get_current (rw);
  path = g_strdup (current_path (rw, NULL));
  given = g_strdup (class_of (path));
  suggested = g_strdup (bt_doctor_report_class (bt_doctor_state_get_report (state), f->suggested));
  g_assert_cmpstr (suggested, ==, classes[flipped_true[flip_index (path)]]);

  bt_test_press_key (GTK_WINDOW (rw), GDK_KEY_Return, 0);
  g_assert_cmpstr (class_of (path), ==, suggested);
  g_assert_cmpuint (bt_review_window_get_n_shown (rw), ==, n - 1);
  g_assert_null (bt_doctor_state_suspect (state, path, NULL));
  g_assert_true (bt_project_flush (project, &error));
  {
    g_autoptr(BtProject) again = bt_project_open (project_dir, &error);
    g_assert_no_error (error);
    g_assert_cmpstr (bt_item_get_class_name (bt_project_find_item (again, path)), ==, suggested);
  }

  bt_test_press_key (GTK_WINDOW (rw), GDK_KEY_z, GDK_CONTROL_MASK);
  g_assert_cmpstr (class_of (path), ==, given);
  g_assert_cmpuint (bt_review_window_get_n_shown (rw), ==, n);
  g_assert_cmpstr (current_path (rw, NULL), ==, path);
  g_assert_nonnull (bt_doctor_state_suspect (state, path, NULL));
}

/* 1–9 moves to that class; Delete excludes; Space keeps (saved, not shown again); each undone. */
static void
test_keys (void)
{
  BtReviewWindow *rw = open_review ();
  BtDoctorState *state = bt_doctor_state_get (project);
  guint n = bt_review_window_get_n_shown (rw);
  g_autofree char *path = g_strdup (current_path (rw, NULL));
  g_autofree char *given = g_strdup (class_of (path));
  int other = (bt_project_find_class (project, given) + 2) % 4;
  g_autofree char *kept_file = g_build_filename (project_dir, "doctor-kept.txt", NULL);

  bt_test_press_key (GTK_WINDOW (rw), GDK_KEY_1 + other, 0);
  g_assert_cmpstr (class_of (path), ==, classes[other]);
  bt_test_press_key (GTK_WINDOW (rw), GDK_KEY_z, GDK_CONTROL_MASK);
  g_assert_cmpstr (class_of (path), ==, given);
  g_assert_cmpstr (current_path (rw, NULL), ==, path);

  bt_test_press_key (GTK_WINDOW (rw), GDK_KEY_Delete, 0);
  g_assert_true (bt_item_get_excluded (bt_project_find_item (project, path)));
  g_assert_cmpuint (bt_review_window_get_n_shown (rw), ==, n - 1);
  bt_test_press_key (GTK_WINDOW (rw), GDK_KEY_z, GDK_CONTROL_MASK);
  g_assert_false (bt_item_get_excluded (bt_project_find_item (project, path)));
  g_assert_cmpuint (bt_review_window_get_n_shown (rw), ==, n);

  bt_test_press_key (GTK_WINDOW (rw), GDK_KEY_space, 0);
  g_assert_cmpstr (class_of (path), ==, given);
  g_assert_cmpuint (bt_review_window_get_n_shown (rw), ==, n - 1);
  g_assert_null (bt_doctor_state_suspect (state, path, NULL));
  g_assert_cmpstr (current_path (rw, NULL), !=, path);
  /* saved in the project folder (asynchronously) */
  BT_TEST_WAIT (file_contains (kept_file, path));
  bt_test_press_key (GTK_WINDOW (rw), GDK_KEY_z, GDK_CONTROL_MASK);
  g_assert_cmpuint (bt_review_window_get_n_shown (rw), ==, n);
  g_assert_nonnull (bt_doctor_state_suspect (state, path, NULL));

  /* arrows: Down then Up comes back */
  bt_test_press_key (GTK_WINDOW (rw), GDK_KEY_Down, 0);
  g_assert_cmpstr (current_path (rw, NULL), !=, path);
  bt_test_press_key (GTK_WINDOW (rw), GDK_KEY_Up, 0);
  g_assert_cmpstr (current_path (rw, NULL), ==, path);
}

/* The Quality tab lists both blanks; Delete there excludes the blank shown. */
static void
test_quality (void)
{
  BtReviewWindow *rw = open_review ();
  GtkWidget *tab;
  g_autofree char *prefix = NULL;
  gboolean seen[2] = { FALSE, FALSE };

  /* the tabs say how many are open: "Quality (N)" */
  prefix = g_strdup_printf ("%s (%u)", _("Quality"), bt_doctor_state_count_open (bt_doctor_state_get (project),
                                                                                BT_FINDING_QUALITY));
  tab = bt_test_find_button (GTK_WIDGET (rw), prefix);
  g_assert_nonnull (tab);
  bt_test_click (tab);
  g_assert_cmpint (bt_review_window_get_kind (rw), ==, BT_FINDING_QUALITY);
  g_assert_cmpuint (bt_review_window_get_n_shown (rw), >=, 2);
  for (guint i = 0; i < 2; i++)
    {
      const char *p = current_path (rw, NULL);
      for (int b = 0; b < 2; b++)
        seen[b] |= g_str_equal (p, blank[b]);
      bt_test_press_key (GTK_WINDOW (rw), GDK_KEY_Down, 0);
    }
  g_assert_true (seen[0] && seen[1]);   /* the two blanks are the worst two */
  bt_test_press_key (GTK_WINDOW (rw), GDK_KEY_Up, 0);
  {
    g_autofree char *p = g_strdup (current_path (rw, NULL));
    bt_test_press_key (GTK_WINDOW (rw), GDK_KEY_Delete, 0);
    g_assert_true (bt_item_get_excluded (bt_project_find_item (project, p)));
    bt_test_press_key (GTK_WINDOW (rw), GDK_KEY_z, GDK_CONTROL_MASK);
    g_assert_false (bt_item_get_excluded (bt_project_find_item (project, p)));
  }
  bt_review_window_set_kind (rw, BT_FINDING_LABEL);
}

/* F5 checks again; Cancel stops it: the project and the last report stay as they were. */
static void
test_cancel (void)
{
  BtReviewWindow *rw = open_review ();
  BtDoctorState *state = bt_doctor_state_get (project);
  /* the worker's task holds the state until its result has come back to the main loop */
  int refs = g_atomic_int_get (&G_OBJECT (state)->ref_count);
  const BtDoctorReport *before = bt_doctor_state_get_report (state);
  guint n_items = g_list_model_get_n_items (bt_project_get_items (project));
  guint open = bt_doctor_state_count_open (state, BT_FINDING_N_KINDS);

  GtkWidget *cancel;

  /* started and cancelled with no main-loop turn between: the worker cannot have finished */
  bt_doctor_state_run (state);
  g_assert_true (bt_doctor_state_is_running (state));
  cancel = bt_test_find_button (GTK_WIDGET (rw), _("Cancel"));
  g_assert_nonnull (cancel);
  g_signal_emit_by_name (cancel, "clicked");
  g_assert_false (bt_doctor_state_is_running (state));
  /* the cancelled worker's result arrives and is dropped: its task held one more reference (a
   * save of the kept list still running from an earlier case may end first, never later) */
  BT_TEST_WAIT (g_atomic_int_get (&G_OBJECT (state)->ref_count) <= refs);
  g_assert_true (bt_doctor_state_get_report (state) == before);
  g_assert_cmpuint (g_list_model_get_n_items (bt_project_get_items (project)), ==, n_items);
  g_assert_cmpuint (bt_doctor_state_count_open (state, BT_FINDING_N_KINDS), ==, open);
  g_assert_cmpstr (class_of (flipped[0]), ==, classes[(flipped_true[0] + 1) % 4]);
  g_assert_false (gtk_widget_is_visible (cancel));

  /* F5 checks again: a new report with the same findings (the same seed) */
  bt_test_press_key (GTK_WINDOW (rw), GDK_KEY_F5, 0);
  BT_TEST_WAIT (report_ready (NULL) && bt_doctor_state_get_report (state) != before);
  g_assert_cmpuint (bt_doctor_state_count_open (state, BT_FINDING_N_KINDS), ==, open);

  /* at 800×600 for the docs */
  if (g_getenv ("BT_SCREENSHOT_DIR") != NULL)
    {
      gtk_window_set_default_size (GTK_WINDOW (rw), 800, 600);
      BT_TEST_WAIT (gtk_widget_get_width (GTK_WIDGET (rw)) <= 800);
      bt_test_screenshot (GTK_WIDGET (rw), "review-window-800x600.png");
    }
}

/* The validation accuracy a model file's own metadata records. */
static double
model_val_acc (const char *path)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(BtModel) model = bt_model_load (path, &error);
  g_assert_no_error (error);
  const char *v = g_hash_table_lookup (model->metadata, "val_acc");
  g_assert_nonnull (v);
  return g_ascii_strtod (v, NULL);
}

/* Enter on the first planted flip listed: one fix. */
static void
fix_one (BtReviewWindow *rw)
{
  guint n = bt_review_window_get_n_shown (rw);
  for (guint i = 0; flip_index (current_path (rw, NULL)) < 0; i++)
    {
      g_assert_cmpuint (i, <, n);
      bt_test_press_key (GTK_WINDOW (rw), GDK_KEY_Down, 0);
    }
  bt_test_press_key (GTK_WINDOW (rw), GDK_KEY_Return, 0);
  g_assert_cmpuint (bt_review_window_get_n_shown (rw), ==, n - 1);
}

static gboolean
retrain_says (BtReviewWindow *rw, const char *prefix)
{
  return g_str_has_prefix (bt_review_window_get_retrain_text (rw), prefix);
}

/* What the X server shows (the window manager's view, not a widget render) in the top-left
 * w×h, through ImageMagick's import, when BT_SCREENSHOT_DIR is set. */
static void
x_screenshot (GtkWidget *shown, const char *name, int w, int h)
{
  const char *dir = g_getenv ("BT_SCREENSHOT_DIR");
  g_autofree char *path = NULL, *crop = NULL;
  if (dir == NULL || !g_file_test ("/usr/bin/import", G_FILE_TEST_IS_EXECUTABLE))
    return;
  bt_test_painted_frame (shown);
  path = g_build_filename (dir, name, NULL);
  crop = g_strdup_printf ("%dx%d+0+0", w, h);
  const char *argv[] = { "/usr/bin/import", "-window", "root", "-crop", crop, path, NULL };
  g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, NULL, NULL, NULL, NULL);
}

static void
test_retrain (void)
{
  BtReviewWindow *rw = open_review ();
  BtTrainPage *page = window->train_page;
  GtkWidget *button = bt_test_find_button (GTK_WIDGET (rw), _("Retrain"));
  g_autofree char *first = NULL, *second = NULL;

  g_assert_nonnull (button);
  /* nothing fixed yet (the cases before undid theirs): nothing to retrain */
  g_assert_false (gtk_widget_get_sensitive (button));
  bt_test_press_key (GTK_WINDOW (rw), GDK_KEY_Return, GDK_CONTROL_MASK);
  g_assert_null (bt_train_page_get_trainer (page));

  fix_one (rw);
  g_assert_true (gtk_widget_get_sensitive (button));

  /* Ctrl+Enter: no earlier model, said in words, with the new model's own number */
  bt_test_press_key (GTK_WINDOW (rw), GDK_KEY_Return, GDK_CONTROL_MASK);
  g_assert_false (gtk_widget_get_sensitive (button));
  BT_TEST_WAIT_UP_TO (120, retrain_says (rw, _("There was no earlier model")));
  g_assert_cmpstr (bt_window_get_page (window), ==, "train");
  first = g_strdup (bt_trainer_get_best_model_path (bt_train_page_get_trainer (page)));
  g_assert_nonnull (first);
  g_assert_true (g_str_has_prefix (first, project_dir));
  {
    g_autofree char *number = g_strdup_printf ("%.1f %%", 100.0 * model_val_acc (first));
    g_test_message ("%s", bt_review_window_get_retrain_text (rw));
    g_assert_nonnull (strstr (bt_review_window_get_retrain_text (rw), number));
  }
  g_assert_false (gtk_widget_get_sensitive (button));   /* trained on: nothing new to retrain */

  /* one more fix, then the button: before (the first model) → after (the new one) */
  fix_one (rw);
  bt_test_click (button);
  BT_TEST_WAIT_UP_TO (120, retrain_says (rw, _("Validation accuracy before:")));
  second = g_strdup (bt_trainer_get_best_model_path (bt_train_page_get_trainer (page)));
  g_assert_cmpstr (second, !=, first);
  {
    g_autofree char *line = g_strdup_printf ("Validation accuracy before: %.1f %% → after: %.1f %%",
                                             100.0 * model_val_acc (first), 100.0 * model_val_acc (second));
    g_test_message ("%s", bt_review_window_get_retrain_text (rw));
    g_assert_true (retrain_says (rw, line));
  }
  if (g_getenv ("BT_SCREENSHOT_DIR") != NULL)
    {
      /* the whole 1280×900 screen: the window over the Train page */
      x_screenshot (GTK_WIDGET (rw), "review-retrain.png", 1280, 900);
      gtk_window_set_default_size (GTK_WINDOW (rw), 800, 600);
      BT_TEST_WAIT (gtk_widget_get_width (GTK_WIDGET (rw)) <= 800);
      x_screenshot (GTK_WIDGET (rw), "review-retrain-800x600.png", 800, 600);
    }

  /* a run the Train page started is going: Retrain waits for it, no second trainer */
  fix_one (rw);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (page), "train.start", NULL));
  g_assert_true (bt_train_page_is_busy (page));
  BtTrainer *running = bt_train_page_get_trainer (page);
  bt_test_press_key (GTK_WINDOW (rw), GDK_KEY_Return, GDK_CONTROL_MASK);
  g_assert_true (retrain_says (rw, _("A training run is going on")));
  g_assert_true (bt_train_page_get_trainer (page) == running);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (page), "train.stop", NULL));
  BT_TEST_WAIT_UP_TO (120, !bt_train_page_is_busy (page));

  /* the three fixes undone, as every case leaves the project (the cases run in any order, and
   * /review/open counts the flips the doctor still suspects) */
  for (int k = 0; k < 3; k++)
    bt_test_press_key (GTK_WINDOW (rw), GDK_KEY_z, GDK_CONTROL_MASK);
  for (int f = 0; f < 5; f++)
    g_assert_cmpstr (class_of (flipped[f]), ==, classes[(flipped_true[f] + 1) % 4]);
}

int
main (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  int ret;

  gtk_test_init (&argc, &argv, NULL);
  app = bt_application_new ();
  g_application_set_flags (G_APPLICATION (app),
                           g_application_get_flags (G_APPLICATION (app)) | G_APPLICATION_NON_UNIQUE);
  if (!g_application_register (G_APPLICATION (app), NULL, &error))
    g_error ("register: %s", error->message);
  build_project ();
  window = bt_window_new (GTK_APPLICATION (app));
  gtk_window_set_default_size (GTK_WINDOW (window), 1200, 820);
  gtk_window_present (GTK_WINDOW (window));
  bt_window_set_project (window, project);

  g_test_add_func ("/review/open", test_open);
  g_test_add_func ("/review/accept-undo", test_accept_undo);
  g_test_add_func ("/review/keys", test_keys);
  g_test_add_func ("/review/quality", test_quality);
  g_test_add_func ("/review/cancel", test_cancel);
  g_test_add_func ("/review/retrain", test_retrain);
  ret = g_test_run ();

  if (review_window () != NULL)
    gtk_window_destroy (GTK_WINDOW (review_window ()));
  gtk_window_destroy (GTK_WINDOW (window));
  g_object_unref (project);
  bt_test_rm_rf (project_dir);
  bt_test_exit (ret);
}
