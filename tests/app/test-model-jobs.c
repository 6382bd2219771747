/* test-model-jobs.c: the pages' model jobs — an older model listing never overrides a newer
 * one on the Test and Evaluate pages, whichever finishes first; and a job still queued on the
 * model runner when its page is closed is dropped without a crash. */
#include "config.h"

#include <glib/gstdio.h>
#include <gtk/gtk.h>
#include <string.h>
#include <utime.h>

#include "bt-evaluate-page.h"
#include "bt-model-files.h"
#include "bt-model-page.h"
#include "bt-test-page.h"
#include "training/bt-model-runner.h"
#include "bt-test-fs.h"
#include "bt-test-wait.h"
#include "bt-test-input.h"

/* ---- Holding listings back: the hook runs on the listing's worker after it read models/ ---- */

#define MAX_CALLS 16

static struct {
  GMutex   lock;
  GCond    cond;
  guint    calls;
  gboolean hold[MAX_CALLS + 1];      /* 1-based call numbers to hold */
  gboolean released[MAX_CALLS + 1];
  gboolean returned[MAX_CALLS + 1];  /* the listing went on past the hook */
  guint    n_paths[MAX_CALLS + 1];   /* what each listing found */
} hook;

static void
list_hook (GPtrArray *paths, gpointer user_data)
{
  guint call;

  g_mutex_lock (&hook.lock);
  call = ++hook.calls;
  if (call <= MAX_CALLS)
    {
      hook.n_paths[call] = paths->len;
      g_cond_broadcast (&hook.cond);
      while (hook.hold[call] && !hook.released[call])
        g_cond_wait (&hook.cond, &hook.lock);
      hook.returned[call] = TRUE;
      g_cond_broadcast (&hook.cond);
    }
  g_mutex_unlock (&hook.lock);
}

static void
hook_reset (void)
{
  g_mutex_lock (&hook.lock);
  hook.calls = 0;
  for (guint i = 0; i <= MAX_CALLS; i++)
    hook.hold[i] = hook.released[i] = hook.returned[i] = FALSE, hook.n_paths[i] = 0;
  g_mutex_unlock (&hook.lock);
}

static void
hook_hold (guint call)
{
  g_mutex_lock (&hook.lock);
  hook.hold[call] = TRUE;
  g_mutex_unlock (&hook.lock);
}

static void
hook_release (guint call)
{
  g_mutex_lock (&hook.lock);
  hook.released[call] = TRUE;
  g_cond_broadcast (&hook.cond);
  g_mutex_unlock (&hook.lock);
}

/* Releases listing number `call` and waits until its thread went on past the hook. */
static void
hook_release_and_wait (guint call)
{
  g_mutex_lock (&hook.lock);
  hook.released[call] = TRUE;
  g_cond_broadcast (&hook.cond);
  while (!hook.returned[call])
    g_cond_wait (&hook.cond, &hook.lock);
  g_mutex_unlock (&hook.lock);
}

/* Waits until listing number `call` has read the folder (it may be held in the hook now). */
static void
hook_wait_listed (guint call)
{
  g_mutex_lock (&hook.lock);
  while (hook.calls < call)
    g_cond_wait (&hook.cond, &hook.lock);
  g_mutex_unlock (&hook.lock);
}

/* ---- Fixture: a Shapes project with saved models ---- */

typedef struct {
  char      *dir;
  BtProject *project;
  GtkWidget *window;
} Fixture;

/* An untrained model of the project's input and classes, dated age_s seconds ago, with a
 * validation accuracy in its metadata when val_acc is not NULL. */
static char *
write_model_meta (Fixture *f, const char *name, int age_s, const char *val_acc, const char *verdict)
{
  const BtProjectSettings *s = bt_project_get_settings (f->project);
  const char *names[] = { "circle", "square", "triangle", "star", NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(BtNet) net = bt_net_new_preset (BT_PRESET_MLP, s->width, s->height, s->channels, 4, -1, 3, &error);
  g_autofree char *file = g_strconcat (name, ".bottega-model", NULL);
  char *path = g_build_filename (f->dir, "models", file, NULL);
  struct utimbuf times;

  g_autoptr(GHashTable) meta = g_hash_table_new (g_str_hash, g_str_equal);

  g_assert_no_error (error);
  if (val_acc != NULL)
    {
      g_hash_table_insert (meta, "val_acc", (gpointer) val_acc);
      g_hash_table_insert (meta, "preset", "mlp");
    }
  if (verdict != NULL)
    g_hash_table_insert (meta, "verdict", (gpointer) verdict);
  g_assert_true (bt_model_save (path, net, names, NULL, NULL, NULL, val_acc || verdict ? meta : NULL, &error));
  g_assert_no_error (error);
  times.actime = times.modtime = time (NULL) - age_s;
  g_assert_cmpint (utime (path, &times), ==, 0);
  return path;
}

static char *
write_model_acc (Fixture *f, const char *name, int age_s, const char *val_acc)
{
  return write_model_meta (f, name, age_s, val_acc, NULL);
}

static char *
write_model (Fixture *f, const char *name, int age_s)
{
  return write_model_meta (f, name, age_s, NULL, NULL);
}

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *models = NULL;

  hook_reset ();
  bt_model_files_set_list_hook (list_hook, NULL);
  f->dir = g_dir_make_tmp ("bt-model-jobs-XXXXXX", &error);
  g_assert_no_error (error);
  f->project = bt_sample_create_shapes (f->dir, 6, 32, 5, NULL, &error);
  g_assert_no_error (error);
  models = g_build_filename (f->dir, "models", NULL);
  g_mkdir_with_parents (models, 0755);
  f->window = gtk_window_new ();
  gtk_window_set_default_size (GTK_WINDOW (f->window), 900, 600);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  BtModelRunner *runner = bt_model_runner_get_default ();

  if (f->window)
    gtk_window_destroy (GTK_WINDOW (f->window));
  /* let queued jobs and their callbacks finish before the project goes */
  BT_TEST_WAIT (bt_model_runner_get_n_pending (runner) == 0);
  bt_test_drain ();
  bt_model_files_set_list_hook (NULL, NULL);
  g_object_unref (f->project);
  bt_test_rm_rf (f->dir);
  g_free (f->dir);
}

/* Dispatches what has already reached the main loop (the n of old fixed counts is ignored). */
static void
spin (guint n)
{
  bt_test_drain ();
}

/* ---- Test page: the newest listing wins ---- */

static gboolean
test_page_idle (BtTestPage *page)
{
  return !bt_test_page_is_busy (page);
}

static void
wait_test_page (BtTestPage *page)
{
  BT_TEST_WAIT (test_page_idle (page));
}

static void
wait_listings (BtTestPage *page, guint n)
{
  BT_TEST_WAIT (bt_test_page_get_n_listings (page) <= n);
}

static GtkDropDown *
find_dropdown (GtkWidget *root, const char *tooltip_prefix)
{
  for (GtkWidget *c = gtk_widget_get_first_child (root); c; c = gtk_widget_get_next_sibling (c))
    {
      GtkDropDown *found;
      const char *tip = gtk_widget_get_tooltip_text (c);
      if (GTK_IS_DROP_DOWN (c) && tip && g_str_has_prefix (tip, tooltip_prefix))
        return GTK_DROP_DOWN (c);
      if ((found = find_dropdown (c, tooltip_prefix)))
        return found;
    }
  return NULL;
}

static guint
n_listed (GtkWidget *page, const char *tooltip_prefix)
{
  GtkDropDown *dd = find_dropdown (page, tooltip_prefix);

  g_assert_nonnull (dd);
  return g_list_model_get_n_items (gtk_drop_down_get_model (dd));
}

/* Listing A reads models/ (one model), then B starts after a newer model was saved.
 * older_first: A's answer arrives while B is still on its way; else A's arrives last. */
static void
test_page_listing_order (Fixture *f, gconstpointer data)
{
  gboolean older_first = GPOINTER_TO_INT (data);
  BtTestPage *page = g_object_new (BT_TYPE_TEST_PAGE, NULL);
  g_autofree char *old_model = write_model (f, "2026-01-01-old", 100);
  g_autofree char *new_model = NULL;

  gtk_window_set_child (GTK_WINDOW (f->window), GTK_WIDGET (page));
  gtk_window_present (GTK_WINDOW (f->window));

  hook_hold (1);
  if (older_first)
    hook_hold (2);
  bt_test_page_set_project (page, f->project);     /* listing A */
  hook_wait_listed (1);
  g_assert_cmpuint (hook.n_paths[1], ==, 1);
  new_model = write_model (f, "2026-01-02-new", 0);
  bt_test_page_reload_models (page);                /* listing B, after the newer model was saved */
  hook_wait_listed (2);
  g_assert_cmpuint (hook.n_paths[2], ==, 2);

  if (older_first)
    {
      hook_release (1);
      wait_listings (page, 1);   /* A's answer has arrived; B is still held */
      spin (50);
      hook_release (2);
    }
  else
    {
      /* B finishes and its newest model loads while A is still held */
      BT_TEST_WAIT (g_strcmp0 (bt_test_page_get_model_path (page), new_model) == 0);
      hook_release (1);
    }
  wait_test_page (page);
  spin (50);

  g_assert_cmpstr (bt_test_page_get_model_path (page), ==, new_model);
  g_assert_cmpuint (n_listed (GTK_WIDGET (page), "Which saved model to test"), ==, 2);
}

/* ---- Evaluate page: the same, judged by the models it lists and evaluates ---- */

static void
wait_evaluate_page (BtEvaluatePage *page)
{
  BT_TEST_WAIT (!bt_evaluate_page_is_busy (page));
}

static void
test_evaluate_listing_order (Fixture *f, gconstpointer data)
{
  BtEvaluatePage *page = g_object_new (BT_TYPE_EVALUATE_PAGE, NULL);
  g_autofree char *old_model = write_model (f, "2026-01-01-old", 100);
  g_autofree char *new_model = NULL;
  g_autofree char *want = NULL;
  GtkDropDown *dd;

  gtk_window_set_child (GTK_WINDOW (f->window), GTK_WIDGET (page));
  gtk_window_present (GTK_WINDOW (f->window));

  hook_hold (1);
  hook_hold (2);
  bt_evaluate_page_set_project (page, f->project);    /* listing A */
  hook_wait_listed (1);
  new_model = write_model (f, "2026-01-02-new", 0);
  bt_evaluate_page_reload_models (page);               /* listing B */
  hook_wait_listed (2);
  hook_release_and_wait (1);                           /* the older answer arrives first */
  spin (200);
  hook_release (2);
  wait_evaluate_page (page);
  spin (50);

  dd = find_dropdown (GTK_WIDGET (page), "Which saved model to evaluate");
  g_assert_nonnull (dd);
  g_assert_cmpuint (g_list_model_get_n_items (gtk_drop_down_get_model (dd)), ==, 2);
  want = bt_model_files_display_name (new_model);
  g_assert_cmpuint (gtk_drop_down_get_selected (dd), ==, 0);
  g_assert_cmpstr (gtk_string_list_get_string (GTK_STRING_LIST (gtk_drop_down_get_model (dd)), 0), ==, want);
  g_assert_nonnull (bt_evaluate_page_get_evaluation (page));
}

/* ---- A job queued for a page that is closed before its turn ---- */

typedef struct {
  GMutex   lock;
  GCond    cond;
  gboolean started, release;
} Blocker;

static void
blocker_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  Blocker *b = task_data;

  g_mutex_lock (&b->lock);
  b->started = TRUE;
  g_cond_broadcast (&b->cond);
  while (!b->release)
    g_cond_wait (&b->cond, &b->lock);
  g_mutex_unlock (&b->lock);
  g_task_return_boolean (task, TRUE);
}

static void
block_runner (Blocker *b)
{
  g_autoptr(GTask) task = g_task_new (NULL, NULL, NULL, NULL);

  g_mutex_init (&b->lock);
  g_cond_init (&b->cond);
  b->started = b->release = FALSE;
  g_task_set_task_data (task, b, NULL);
  bt_model_runner_run_in_thread (bt_model_runner_get_default (), task, blocker_thread);
  g_mutex_lock (&b->lock);
  while (!b->started)
    g_cond_wait (&b->cond, &b->lock);
  g_mutex_unlock (&b->lock);
}

static void
unblock_runner (Blocker *b)
{
  BtModelRunner *runner = bt_model_runner_get_default ();

  g_mutex_lock (&b->lock);
  b->release = TRUE;
  g_cond_broadcast (&b->cond);
  g_mutex_unlock (&b->lock);
  BT_TEST_WAIT (bt_model_runner_get_n_pending (runner) == 0);
  spin (200);
  g_mutex_clear (&b->lock);
  g_cond_clear (&b->cond);
}

static void
test_closed_page_with_queued_jobs (Fixture *f, gconstpointer data)
{
  BtModelRunner *runner = bt_model_runner_get_default ();
  g_autofree char *model = write_model (f, "2026-01-01-only", 10);
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 0);
  BtTestPage *test_page = g_object_new (BT_TYPE_TEST_PAGE, NULL);
  BtEvaluatePage *eval_page = g_object_new (BT_TYPE_EVALUATE_PAGE, NULL);
  BtModelPage *model_page = g_object_new (BT_TYPE_MODEL_PAGE, NULL);
  g_autofree char *image_dir = g_build_filename (f->dir, "images", "star", NULL);
  g_autoptr(GDir) dir = g_dir_open (image_dir, 0, NULL);
  g_autofree char *image = g_build_filename (image_dir, g_dir_read_name (dir), NULL);
  g_autoptr(GFile) file = g_file_new_for_path (image);
  gpointer test_ptr = test_page, eval_ptr = eval_page, model_ptr = model_page;
  Blocker blocker;
  guint before;

  gtk_box_append (GTK_BOX (box), GTK_WIDGET (test_page));
  gtk_box_append (GTK_BOX (box), GTK_WIDGET (eval_page));
  gtk_box_append (GTK_BOX (box), GTK_WIDGET (model_page));
  gtk_window_set_child (GTK_WINDOW (f->window), box);
  gtk_window_present (GTK_WINDOW (f->window));
  bt_test_page_set_project (test_page, f->project);
  wait_test_page (test_page);
  g_assert_cmpstr (bt_test_page_get_model_path (test_page), ==, model);

  /* everything the pages queue from now on waits behind the blocker */
  block_runner (&blocker);
  before = bt_model_runner_get_n_pending (runner);
  {
    g_autofree char *path = g_file_get_path (file);
    const char *paths[] = { path, NULL };
    g_assert_true (bt_test_drop_files (GTK_WIDGET (test_page), paths));   /* an image dropped on Test */
  }
  bt_evaluate_page_set_project (eval_page, f->project);   /* lists, then queues an evaluation */
  BT_TEST_WAIT (bt_model_runner_get_n_pending (runner) >= before + 2);
  bt_model_page_set_project (model_page, f->project);     /* queues the time estimates */
  g_assert_cmpuint (bt_model_runner_get_n_pending (runner), ==, before + 3);

  /* close the pages: the jobs hold them only weakly, so they go at once */
  g_object_add_weak_pointer (G_OBJECT (test_page), &test_ptr);
  g_object_add_weak_pointer (G_OBJECT (eval_page), &eval_ptr);
  g_object_add_weak_pointer (G_OBJECT (model_page), &model_ptr);
  gtk_window_destroy (GTK_WINDOW (f->window));
  f->window = NULL;
  spin (50);
  g_assert_null (test_ptr);
  g_assert_null (eval_ptr);
  BT_TEST_WAIT (model_ptr == NULL);   /* the model page's preview decode (a GTask thread) holds it till done */

  /* the runner drains: the orphaned jobs are skipped and their callbacks find no page */
  unblock_runner (&blocker);
  g_assert_cmpuint (bt_model_runner_get_n_pending (runner), ==, 0);
}

/* ---- The model list: the best model first, pin, rename, delete ---- */

static const char *
selected_label (GtkDropDown *dd)
{
  return gtk_string_list_get_string (GTK_STRING_LIST (gtk_drop_down_get_model (dd)), gtk_drop_down_get_selected (dd));
}

/* The button of the list row whose title starts with title, by its tooltip. */
static GtkWidget *
find_row_button (GtkWidget *root, const char *title, const char *tooltip)
{
  for (GtkWidget *c = gtk_widget_get_first_child (root); c; c = gtk_widget_get_next_sibling (c))
    {
      GtkWidget *found;

      if (GTK_IS_BUTTON (c) && g_strcmp0 (gtk_widget_get_tooltip_text (c), tooltip) == 0)
        {
          GtkWidget *row = gtk_widget_get_ancestor (c, GTK_TYPE_LIST_BOX_ROW);
          GtkWidget *box = row ? gtk_list_box_row_get_child (GTK_LIST_BOX_ROW (row)) : NULL;
          GtkWidget *texts = box ? gtk_widget_get_first_child (box) : NULL;
          GtkWidget *label = texts ? gtk_widget_get_first_child (texts) : NULL;

          if (label && GTK_IS_LABEL (label) && g_str_has_prefix (gtk_label_get_text (GTK_LABEL (label)), title))
            return c;
        }
      if ((found = find_row_button (c, title, tooltip)))
        return found;
    }
  return NULL;
}

/* The names (heading labels) in the model list that are shortened with "…". */
static guint
count_cut_names (GtkWidget *w)
{
  guint n = 0;
  if (GTK_IS_LABEL (w) && gtk_widget_has_css_class (w, "heading") && gtk_widget_get_mapped (w)
      && pango_layout_is_ellipsized (gtk_label_get_layout (GTK_LABEL (w))))
    {
      g_test_message ("cut: %s (%d px)", gtk_label_get_text (GTK_LABEL (w)), gtk_widget_get_width (w));
      n++;
    }
  for (GtkWidget *c = gtk_widget_get_first_child (w); c; c = gtk_widget_get_next_sibling (c))
    n += count_cut_names (c);
  return n;
}

static void
test_model_list (Fixture *f, gconstpointer data)
{
  BtEvaluatePage *page = g_object_new (BT_TYPE_EVALUATE_PAGE, NULL);
  g_autofree char *good = write_model_acc (f, "20260101-000000-mlp", 300, "0.900000");
  g_autofree char *plain = write_model (f, "20260102-000000-mlp", 200);
  g_autofree char *failed = write_model_acc (f, "20260103-000000-mlp", 100, "0.250000");
  /* a failed run's model: a high accuracy (from an early epoch) but the verdict "diverged" */
  g_autofree char *diverged = write_model_meta (f, "20260104-000000-mlp", 50, "0.950000", "diverged");
  GtkDropDown *dd;
  GtkMenuButton *button = NULL;
  GtkWidget *popover, *pin, *rename, *entry, *del;

  gtk_window_set_child (GTK_WINDOW (f->window), GTK_WIDGET (page));
  gtk_window_present (GTK_WINDOW (f->window));
  bt_evaluate_page_set_project (page, f->project);
  wait_evaluate_page (page);
  spin (50);

  /* Opens on the most accurate model, not on the newest (a poor run), nor on a run that
   * diverged after a lucky early epoch. */
  dd = find_dropdown (GTK_WIDGET (page), "Which saved model to evaluate");
  g_assert_cmpuint (g_list_model_get_n_items (gtk_drop_down_get_model (dd)), ==, 4);
  g_assert_nonnull (strstr (selected_label (dd), "90%"));
  g_assert_nonnull (strstr (selected_label (dd), "MLP"));

  /* The Models button opens the list: pin the failed one; reopening the project opens it. */
  for (GtkWidget *w = gtk_widget_get_first_child (gtk_widget_get_parent (GTK_WIDGET (dd))); w;
       w = gtk_widget_get_next_sibling (w))
    if (GTK_IS_MENU_BUTTON (w))
      button = GTK_MENU_BUTTON (w);
  g_assert_nonnull (button);
  gtk_menu_button_popup (button);
  spin (20);
  popover = GTK_WIDGET (gtk_menu_button_get_popover (button));
  g_assert_true (gtk_widget_get_visible (popover));
  /* every model's name reads whole (the list was as narrow as its rows' minimum: "MLP…") */
  g_assert_cmpuint (count_cut_names (popover), ==, 0);
  pin = find_row_button (popover, "MLP · 25%", "Pin: Evaluate and Test open this model first");
  g_assert_nonnull (pin);
  gtk_toggle_button_set_active (GTK_TOGGLE_BUTTON (pin), TRUE);   /* what a click does */
  wait_evaluate_page (page);
  spin (20);
  bt_evaluate_page_set_project (page, NULL);
  bt_evaluate_page_set_project (page, f->project);
  wait_evaluate_page (page);
  spin (20);
  g_assert_nonnull (strstr (selected_label (dd), "25%"));
  g_assert_nonnull (strstr (selected_label (dd), "(pinned)"));

  /* Rename the good one in its row. */
  gtk_menu_button_popup (button);
  spin (20);
  rename = find_row_button (popover, "MLP · 90%", "Rename");
  g_assert_nonnull (rename);
  g_signal_emit_by_name (rename, "clicked");
  entry = gtk_widget_get_next_sibling (gtk_widget_get_first_child (
            gtk_widget_get_first_child (gtk_widget_get_parent (rename))));
  g_assert_true (GTK_IS_ENTRY (entry));
  g_assert_true (gtk_widget_get_visible (entry));
  gtk_editable_set_text (GTK_EDITABLE (entry), "Shapes, first try");
  g_signal_emit_by_name (entry, "activate");
  wait_evaluate_page (page);
  spin (20);
  {
    gboolean found = FALSE;
    GListModel *names = gtk_drop_down_get_model (dd);
    for (guint i = 0; i < g_list_model_get_n_items (names); i++)
      found |= g_str_has_prefix (gtk_string_list_get_string (GTK_STRING_LIST (names), i), "Shapes, first try · 90%");
    g_assert_true (found);
  }

  /* Delete the one without metadata: its file leaves models/. */
  del = find_row_button (popover, "20260102-000000-mlp", "Move the model file to the trash");
  g_assert_nonnull (del);
  g_signal_emit_by_name (del, "clicked");
  wait_evaluate_page (page);
  spin (20);
  g_assert_false (g_file_test (plain, G_FILE_TEST_EXISTS));
  g_assert_cmpuint (g_list_model_get_n_items (gtk_drop_down_get_model (dd)), ==, 3);
  gtk_popover_popdown (GTK_POPOVER (popover));
  g_assert_true (g_file_test (diverged, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (good, G_FILE_TEST_EXISTS) && g_file_test (failed, G_FILE_TEST_EXISTS));
}

int
main (int argc, char **argv)
{
  gtk_test_init (&argc, &argv, NULL);
  g_mutex_init (&hook.lock);
  g_cond_init (&hook.cond);

  g_test_add ("/model-jobs/test-page/older-listing-finishes-late", Fixture, GINT_TO_POINTER (FALSE),
              fixture_setup, test_page_listing_order, fixture_teardown);
  g_test_add ("/model-jobs/test-page/older-listing-finishes-first", Fixture, GINT_TO_POINTER (TRUE),
              fixture_setup, test_page_listing_order, fixture_teardown);
  g_test_add ("/model-jobs/evaluate-page/older-listing-finishes-first", Fixture, NULL,
              fixture_setup, test_evaluate_listing_order, fixture_teardown);
  g_test_add ("/model-jobs/model-list/best-pin-rename-delete", Fixture, NULL, fixture_setup, test_model_list,
              fixture_teardown);
  g_test_add ("/model-jobs/closed-pages-with-queued-jobs", Fixture, NULL,
              fixture_setup, test_closed_page_with_queued_jobs, fixture_teardown);

  return g_test_run ();
}
