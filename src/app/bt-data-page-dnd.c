/* bt-data-page-dnd.c: drops on the page and on class rows, thumbnails dragged onto a class,
 * and the import they start: plan (worker) → confirmation → streaming import (worker scan,
 * chunks added as they are found). */
#include "config.h"

#include <glib/gi18n.h>

#include "bt-class-row.h"
#include "bt-data-page-private.h"
#include "bt-dialogs.h"
#include "bt-thumb-cell.h"
#include "dataset/bt-undo.h"

/* ---- Import progress (already on the main context) ---- */

static void
progress_state_clear (gpointer data)
{
  BtScanProgressState *state = data;

  g_weak_ref_clear (&state->page);
}

static void
progress_state_unref (gpointer data)
{
  g_atomic_rc_box_release_full (data, progress_state_clear);
}

/* On the main context, at most once per low-priority idle (the scan's throttle). */
static void
scan_progress_cb (guint n_seen, guint n_ok, guint n_skipped, gpointer user_data)
{
  BtScanProgressState *state = user_data;
  g_autoptr(BtDataPage) self = g_weak_ref_get (&state->page);
  g_autofree char *text = NULL;

  if (self == NULL || self->progress != state)
    return;
  text = g_strdup_printf (_("Checked %u files: %u images, %u skipped"), n_seen, n_ok, n_skipped);
  gtk_label_set_text (self->progress_label, text);
  gtk_progress_bar_pulse (self->progress_bar);
}

/* ---- Import: plan, confirm, then a streaming import per job of the plan ----
 * The project adds what the scan finds chunk by chunk (bt_project_import_async), so the grid
 * shows images while a big import runs; the skipped list, duplicates and label conflicts are
 * complete when the last job ends. Cancel stops the scan; what was added stays. */

typedef struct {
  BtDataPage          *page;        /* strong; results are dropped once cancellable fires */
  BtProject           *project;
  GCancellable        *cancellable;
  BtImportPlan        *plan;
  BtScanProgressState *progress;
  GHashTable          *classes;     /* class names (owned) that got images */
  guint                index, added, n_skipped, n_ignored;
  guint                n_rotated, n_converted;  /* photos the decoder turned upright / converted */
  guint                n_items_before;
} ImportJob;

static void
import_job_free (ImportJob *job)
{
  g_clear_object (&job->page);
  g_clear_object (&job->project);
  g_clear_object (&job->cancellable);
  g_clear_pointer (&job->plan, bt_import_plan_free);
  g_clear_pointer (&job->progress, progress_state_unref);
  g_clear_pointer (&job->classes, g_hash_table_unref);
  g_free (job);
}

static void
record_skipped (BtDataPage *self, const char *path, const char *reason)
{
  g_ptr_array_add (self->skipped_paths, g_strdup (path));
  g_ptr_array_add (self->skipped_reasons, g_strdup (reason));
}

static void
finish_import (BtDataPage *self)
{
  g_clear_object (&self->import_cancellable);
  g_clear_pointer (&self->progress, progress_state_unref);
  g_clear_pointer (&self->pending_plan, bt_import_plan_free);
  gtk_revealer_set_reveal_child (self->confirm_revealer, FALSE);
  _bt_data_page_queue_status (self);
  _bt_data_page_set_busy (self, FALSE);
}

/* Items appended by an import chunk are filtered by the filter model itself as they arrive;
 * the "changed" that follows the splice needs no refilter of the items already shown. */
static void
import_items_changed_cb (GListModel *items, guint position, guint removed, guint added, BtDataPage *self)
{
  if (removed == 0 && added > 0 && position + added == g_list_model_get_n_items (items) &&
      self->import_cancellable != NULL && self->change_hint == -1)
    _bt_data_page_hint_change (self, BT_DATA_PAGE_CHANGE_APPENDED);
}

static void
import_stop_watching (ImportJob *job)
{
  g_signal_handlers_disconnect_by_func (bt_project_get_items (job->project), import_items_changed_cb, job->page);
}

static void import_next (ImportJob *job);

static void
import_done_message (BtDataPage *self, ImportJob *job)
{
  g_autofree char *message = NULL;
  guint n_skipped = job->n_skipped, n_ignored = job->n_ignored, added = job->added;

  if (added == 0 && n_skipped + n_ignored > 0)
    message = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "No images added: %u file was skipped",
                                            "No images added: %u files were skipped", n_skipped + n_ignored),
                               n_skipped + n_ignored);
  else if (n_skipped + n_ignored > 0)
    message = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "Added %u images to %u classes; %u file was skipped",
                                            "Added %u images to %u classes; %u files were skipped",
                                            n_skipped + n_ignored),
                               added, g_hash_table_size (job->classes), n_skipped + n_ignored);
  else
    message = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "Added %u image to %u classes",
                                            "Added %u images to %u classes", added),
                               added, g_hash_table_size (job->classes));
  if (added > 0 && (job->n_rotated > 0 || job->n_converted > 0))
    {
      /* what the decoder did, so that nobody wonders why a photo looks different elsewhere */
      g_autofree char *rotated = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%u photo turned upright",
                                                               "%u photos turned upright", job->n_rotated),
                                                  job->n_rotated);
      g_autofree char *converted = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%u converted to sRGB colours",
                                                                 "%u converted to sRGB colours", job->n_converted),
                                                    job->n_converted);
      char *both = job->n_rotated > 0 && job->n_converted > 0
                   ? g_strdup_printf (_("%s (%s, %s)"), message, rotated, converted)
                   : g_strdup_printf (_("%s (%s)"), message, job->n_rotated > 0 ? rotated : converted);
      g_free (message);
      message = both;
    }
  _bt_data_page_show_toast (self, message, n_skipped + n_ignored > 0 ? _("_Details") : NULL,
                            "data.show-skipped");
}

static void
import_cancelled_message (BtDataPage *self, ImportJob *job)
{
  guint now = g_list_model_get_n_items (bt_project_get_items (job->project));
  /* Added by the jobs that finished, plus what the cancelled one had added so far. */
  guint kept = now > job->n_items_before ? now - job->n_items_before : 0;
  guint n_skipped = job->n_skipped + job->n_ignored;
  g_autofree char *message = NULL;
  g_autofree char *added = NULL;

  if (kept == 0)
    added = g_strdup (_("Import cancelled; nothing was added"));
  else
    added = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE,
                                          "Import cancelled; the %u image added so far stays in the project",
                                          "Import cancelled; the %u images added so far stay in the project",
                                          kept),
                             kept);
  if (n_skipped == 0)
    {
      _bt_data_page_show_toast (self, added, NULL, NULL);
      return;
    }
  /* TRANSLATORS: the first %s is "Import cancelled; …" from above. */
  message = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%s; %u file was skipped", "%s; %u files were skipped",
                                          n_skipped),
                             added, n_skipped);
  _bt_data_page_show_toast (self, message, _("_Details"), "data.show-skipped");
}

/* The skips of one finished (or cancelled) import job, into the page's list and counts. */
static void
record_result_skips (BtDataPage *self, ImportJob *job, BtScanResult *r)
{
  for (guint k = 0; k < r->skipped_paths->len; k++)
    {
      BtSkipReason reason = g_array_index (r->skipped_reasons, BtSkipReason, k);

      record_skipped (self, g_ptr_array_index (r->skipped_paths, k), bt_skip_reason_to_display (reason));
      if (reason == BT_SKIP_DUPLICATE)
        self->n_duplicates++;
    }
  job->n_skipped += r->skipped_paths->len;
  self->n_conflicts += r->n_label_conflicts;
}

static gpointer
free_result_thread (gpointer data)
{
  bt_scan_result_free (data);
  return NULL;
}

static void
import_done_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  ImportJob *job = user_data;
  BtDataPage *self = job->page;
  g_autoptr(GError) error = NULL;
  g_autoptr(BtScanResult) partial = NULL;
  g_autoptr(BtScanResult) r = bt_project_import_finish_full (BT_PROJECT (source), res, &partial, &error);

  if (self->import_cancellable != job->cancellable || g_cancellable_is_cancelled (job->cancellable))
    {
      /* Cancelled (what was added stays: it is saved) or another project was opened. */
      import_stop_watching (job);
      if (self->project == job->project && self->import_cancellable == NULL)
        {
          /* The files skipped before the cancel are listed like those of a finished import. */
          if (partial != NULL)
            record_result_skips (self, job, partial);
          else if (r != NULL)
            record_result_skips (self, job, r);
          if (partial != NULL)
            g_thread_unref (g_thread_new ("bt-import-free", free_result_thread, g_steal_pointer (&partial)));
          import_cancelled_message (self, job);
          _bt_data_page_queue_status (self);
          _bt_data_page_update_actions (self);
        }
      else if (self->import_cancellable == job->cancellable)
        finish_import (self);
      import_job_free (job);
      return;
    }
  if (r == NULL)
    {
      import_stop_watching (job);
      _bt_data_page_show_error (self, _("Could not import the images"), error);
      finish_import (self);
      import_job_free (job);
      return;
    }
  record_result_skips (self, job, r);
  job->added += r->paths->len;
  job->n_rotated += r->n_rotated;
  job->n_converted += r->n_converted;
  {
    g_autofree gboolean *seen = g_new0 (gboolean, r->class_names->len);

    for (guint k = 0; k < r->class_index->len; k++)
      {
        guint ci = g_array_index (r->class_index, guint, k);

        if (ci < r->class_names->len && !seen[ci])
          {
            seen[ci] = TRUE;
            g_hash_table_add (job->classes, g_strdup (g_ptr_array_index (r->class_names, ci)));
          }
      }
  }
  /* Tens of thousands of paths: freed off the main thread. */
  g_thread_unref (g_thread_new ("bt-import-free", free_result_thread, g_steal_pointer (&r)));
  job->index++;
  import_next (job);
}

static void
import_next (ImportJob *job)
{
  BtDataPage *self = job->page;
  BtImportJob *ij;
  g_autoptr(GPtrArray) paths = NULL;

  if (job->index >= job->plan->jobs->len)
    {
      import_stop_watching (job);
      import_done_message (self, job);
      finish_import (self);
      import_job_free (job);
      return;
    }
  ij = g_ptr_array_index (job->plan->jobs, job->index);
  /* Borrowed strings: the plan keeps them alive, and the import copies them. */
  paths = g_ptr_array_sized_new (ij->paths->len + 1);
  for (guint k = 0; k < ij->paths->len; k++)
    g_ptr_array_add (paths, g_ptr_array_index (ij->paths, k));
  g_ptr_array_add (paths, NULL);
  bt_project_import_async (job->project, (const char * const *) paths->pdata, ij->mode, ij->class_name, TRUE,
                           scan_progress_cb, g_atomic_rc_box_acquire (job->progress), progress_state_unref,
                           job->cancellable, import_done_cb, job);
}

static void
start_scan (BtDataPage *self, BtImportPlan *plan, guint n_remote)
{
  ImportJob *job = g_new0 (ImportJob, 1);

  job->page = g_object_ref (self);
  job->project = g_object_ref (self->project);
  job->cancellable = g_object_ref (self->import_cancellable);
  job->plan = plan;
  job->classes = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  job->n_ignored = plan->ignored->len + n_remote;
  job->n_items_before = g_list_model_get_n_items (bt_project_get_items (self->project));
  for (guint i = 0; i < plan->ignored->len; i++)
    record_skipped (self, g_ptr_array_index (plan->ignored, i), _("Not a file or folder"));

  g_clear_pointer (&self->progress, progress_state_unref);
  self->progress = g_atomic_rc_box_new0 (BtScanProgressState);
  g_weak_ref_init (&self->progress->page, self);
  job->progress = g_atomic_rc_box_acquire (self->progress);

  gtk_label_set_text (self->progress_label, _("Checking images…"));
  g_signal_connect (bt_project_get_items (job->project), "items-changed", G_CALLBACK (import_items_changed_cb), self);
  import_next (job);
}

typedef struct {
  BtDataPage   *page;
  GCancellable *cancellable;
  guint         n_remote;
} PlanJob;

static void
plan_done_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  PlanJob *pj = user_data;
  g_autoptr(BtDataPage) self = pj->page;
  g_autoptr(GCancellable) cancellable = pj->cancellable;
  g_autoptr(GError) error = NULL;
  BtImportPlan *plan;
  guint n_remote = pj->n_remote;

  g_free (pj);
  plan = bt_import_plan_finish (res, &error);
  if (self->import_cancellable != cancellable || g_cancellable_is_cancelled (cancellable))
    {
      g_clear_pointer (&plan, bt_import_plan_free);
      if (self->import_cancellable == cancellable)
        finish_import (self);
      return;
    }
  if (plan == NULL)
    {
      _bt_data_page_show_error (self, _("Nothing was imported"), error);
      finish_import (self);
      return;
    }
  if (plan->needs_confirmation)
    {
      g_autofree char *images = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%u image", "%u images",
                                                              plan->n_images), plan->n_images);
      g_autofree char *text = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE,
                                                            "Create %u class, one per sub-folder, from about %s?",
                                                            "Create %u classes, one per sub-folder, from about %s?",
                                                            plan->n_classes),
                                               plan->n_classes, images);
      self->pending_plan = plan;
      g_object_set_data (G_OBJECT (self), "pending-remote", GUINT_TO_POINTER (n_remote));
      gtk_label_set_text (self->confirm_label, text);
      gtk_revealer_set_reveal_child (self->confirm_revealer, TRUE);
      gtk_label_set_text (self->progress_label, _("Waiting for your answer"));
      _bt_data_page_update_actions (self);
      return;
    }
  start_scan (self, plan, n_remote);
}

void
_bt_data_page_confirm_import (BtDataPage *self, gboolean accept)
{
  BtImportPlan *plan = g_steal_pointer (&self->pending_plan);

  gtk_revealer_set_reveal_child (self->confirm_revealer, FALSE);
  if (plan == NULL)
    return;
  if (!accept)
    {
      bt_import_plan_free (plan);
      finish_import (self);
      return;
    }
  start_scan (self, plan, GPOINTER_TO_UINT (g_object_get_data (G_OBJECT (self), "pending-remote")));
  _bt_data_page_update_actions (self);
}

void
_bt_data_page_cancel_import (BtDataPage *self)
{
  if (self->import_cancellable == NULL)
    return;
  g_cancellable_cancel (self->import_cancellable);
  /* The worker's callback finds the cancellable replaced and drops its results. */
  finish_import (self);
}

/* TRUE when an import may start now; otherwise the page says why. */
static gboolean
can_import (BtDataPage *self)
{
  if (self->project == NULL)
    {
      _bt_data_page_show_toast (self, _("Open or create a project first"), NULL, NULL);
      return FALSE;
    }
  if (self->busy)
    {
      _bt_data_page_show_toast (self, _("Wait for the current import to finish, or cancel it"), NULL, NULL);
      return FALSE;
    }
  return TRUE;
}

static void
import_paths_internal (BtDataPage *self, const char * const *paths, const char *class_name, guint n_remote)
{
  PlanJob *pj;

  if (!can_import (self))
    return;
  if (paths == NULL || paths[0] == NULL)
    {
      _bt_data_page_show_toast (self, n_remote > 0 ? _("Only files on this computer can be added")
                                                   : _("Nothing to add"), NULL, NULL);
      return;
    }

  self->import_cancellable = g_cancellable_new ();
  _bt_data_page_set_busy (self, TRUE);
  gtk_label_set_text (self->progress_label, _("Looking at the folders…"));
  gtk_progress_bar_set_fraction (self->progress_bar, 0);

  pj = g_new0 (PlanJob, 1);
  pj->page = g_object_ref (self);
  pj->cancellable = g_object_ref (self->import_cancellable);
  pj->n_remote = n_remote;
  bt_import_plan_async (paths, class_name, self->import_cancellable, plan_done_cb, pj);
}

void
bt_data_page_import_paths (BtDataPage         *self,
                           const char * const *paths,
                           const char         *class_name)
{
  g_return_if_fail (BT_IS_DATA_PAGE (self));
  g_return_if_fail (paths != NULL);

  import_paths_internal (self, paths, class_name, 0);
}

void
bt_data_page_import_files (BtDataPage *self,
                           GSList     *files,
                           const char *class_name)
{
  g_auto(GStrv) paths = NULL;
  guint n_remote = 0;

  g_return_if_fail (BT_IS_DATA_PAGE (self));

  if (_bt_data_page_take_web_files (self, files, class_name))
    return;   /* addresses a web browser dropped (bt-data-page-photos.c) */
  paths = bt_import_paths_from_files (files, &n_remote);
  import_paths_internal (self, (const char * const *) paths, class_name, n_remote);
}

/* ---- A labels CSV, applied chunk by chunk as well ---- */

static void
csv_done_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  ImportJob *job = user_data;
  BtDataPage *self = job->page;
  g_autoptr(GError) error = NULL;
  gssize n = bt_project_import_csv_finish (BT_PROJECT (source), res, &error);
  g_autofree char *message = NULL;

  import_stop_watching (job);
  if (self->import_cancellable != job->cancellable || g_cancellable_is_cancelled (job->cancellable))
    {
      if (self->project == job->project && self->import_cancellable == NULL)
        import_cancelled_message (self, job);
      else if (self->import_cancellable == job->cancellable)
        finish_import (self);
      import_job_free (job);
      return;
    }
  if (n < 0)
    _bt_data_page_show_error (self, _("Could not import the CSV file"), error);
  else
    {
      message = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "Added %u image from the CSV file",
                                              "Added %u images from the CSV file", (gulong) n),
                                 (guint) n);
      _bt_data_page_show_toast (self, message, NULL, NULL);
    }
  finish_import (self);
  import_job_free (job);
}

void
bt_data_page_import_csv (BtDataPage *self, const char *csv_path)
{
  ImportJob *job;

  g_return_if_fail (BT_IS_DATA_PAGE (self));
  g_return_if_fail (csv_path != NULL);

  if (!can_import (self))
    return;
  self->import_cancellable = g_cancellable_new ();
  _bt_data_page_set_busy (self, TRUE);
  gtk_label_set_text (self->progress_label, _("Reading the CSV file…"));
  gtk_progress_bar_pulse (self->progress_bar);

  job = g_new0 (ImportJob, 1);
  job->page = g_object_ref (self);
  job->project = g_object_ref (self->project);
  job->cancellable = g_object_ref (self->import_cancellable);
  job->n_items_before = g_list_model_get_n_items (bt_project_get_items (self->project));
  g_signal_connect (bt_project_get_items (job->project), "items-changed", G_CALLBACK (import_items_changed_cb), self);
  bt_project_import_csv_async (self->project, csv_path, job->cancellable, csv_done_cb, job);
}

/* ---- Drop targets (thin: they only unpack the value) ---- */

static gboolean
page_drop_cb (GtkDropTarget *target, const GValue *value, double x, double y, BtDataPage *self)
{
  GdkFileList *list;

  if (G_VALUE_HOLDS (value, GDK_TYPE_TEXTURE))
    {
      _bt_data_page_take_texture (self, g_value_get_object (value), NULL);
      return TRUE;
    }
  if (!G_VALUE_HOLDS (value, GDK_TYPE_FILE_LIST))
    return FALSE;
  list = g_value_get_boxed (value);
  {
    g_autoptr(GSList) files = gdk_file_list_get_files (list);
    bt_data_page_import_files (self, files, NULL);
  }
  return TRUE;
}

static gboolean
row_drop_cb (GtkDropTarget *target, const GValue *value, double x, double y, BtDataPage *self)
{
  GtkWidget *row = gtk_event_controller_get_widget (GTK_EVENT_CONTROLLER (target));
  BtClassInfo *info = bt_class_row_get_info (BT_CLASS_ROW (row));
  const char *class_name = info ? bt_class_info_get_name (info) : NULL;

  if (G_VALUE_HOLDS (value, BT_TYPE_ITEM))
    {
      g_autoptr(GPtrArray) items = NULL;
      g_autoptr(GError) error = NULL;
      g_autofree char *message = NULL;

      if (class_name == NULL || self->project == NULL)
        return FALSE;
      items = _bt_data_page_get_selected_items (self, g_value_get_object (value));
      _bt_data_page_hint_change (self, GTK_FILTER_CHANGE_MORE_STRICT);
      if (!bt_undo_stack_relabel (bt_undo_stack_get (self->project), (BtItem * const *) items->pdata, items->len,
                                  class_name, &error))
        {
          _bt_data_page_hint_change (self, -1);
          _bt_data_page_show_error (self, _("Could not move the images"), error);
          return FALSE;
        }
      message = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "Moved %u image to “%s”",
                                              "Moved %u images to “%s”", items->len),
                                 items->len, class_name);
      _bt_data_page_show_toast (self, message, _("_Undo"), "data.undo");
      return TRUE;
    }
  if (G_VALUE_HOLDS (value, GDK_TYPE_FILE_LIST))
    {
      g_autoptr(GSList) files = gdk_file_list_get_files (g_value_get_boxed (value));

      bt_data_page_import_files (self, files, class_name);
      return TRUE;
    }
  if (G_VALUE_HOLDS (value, GDK_TYPE_TEXTURE) && class_name != NULL)
    {
      _bt_data_page_take_texture (self, g_value_get_object (value), class_name);
      return TRUE;
    }
  return FALSE;
}

/* ---- Class rows dragged to another place in the sidebar ---- */

gboolean
_bt_data_page_drop_class (BtDataPage *self,
                          const char *class_name,
                          const char *onto,
                          gboolean    after)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *selected = g_strdup (self->selected_class);
  int from, target;
  guint position;

  if (self->project == NULL || (from = bt_project_find_class (self->project, class_name)) < 0)
    return FALSE;
  if (onto == NULL)
    {
      /* On "All images", which stays first: the class becomes the first. */
      target = 0;
      after = FALSE;
    }
  else if ((target = bt_project_find_class (self->project, onto)) < 0)
    return FALSE;
  position = bt_class_drop_position ((guint) from, (guint) target, after);
  if (position == (guint) from)
    return TRUE;
  if (!bt_undo_stack_move_class (bt_undo_stack_get (self->project), class_name, position, &error))
    {
      _bt_data_page_show_error (self, _("Could not move the class"), error);
      return FALSE;
    }
  /* The sidebar's selection follows positions; keep it on the class it was on. */
  bt_data_page_select_class (self, selected);
  _bt_data_page_update_actions (self);
  return TRUE;
}

static BtClassRowDrop
row_drop_place (GtkWidget *row, double y)
{
  if (bt_class_row_get_info (BT_CLASS_ROW (row)) == NULL)
    return BT_CLASS_ROW_DROP_AFTER;
  return y < gtk_widget_get_height (row) / 2.0 ? BT_CLASS_ROW_DROP_BEFORE : BT_CLASS_ROW_DROP_AFTER;
}

static GdkDragAction
class_drop_motion_cb (GtkDropTarget *target, double x, double y, BtDataPage *self)
{
  GtkWidget *row = gtk_event_controller_get_widget (GTK_EVENT_CONTROLLER (target));

  bt_class_row_set_drop (BT_CLASS_ROW (row), row_drop_place (row, y));
  return GDK_ACTION_MOVE;
}

static void
class_drop_leave_cb (GtkDropTarget *target, BtDataPage *self)
{
  GtkWidget *row = gtk_event_controller_get_widget (GTK_EVENT_CONTROLLER (target));

  bt_class_row_set_drop (BT_CLASS_ROW (row), BT_CLASS_ROW_DROP_NONE);
}

static gboolean
class_drop_cb (GtkDropTarget *target, const GValue *value, double x, double y, BtDataPage *self)
{
  GtkWidget *row = gtk_event_controller_get_widget (GTK_EVENT_CONTROLLER (target));
  BtClassInfo *onto = bt_class_row_get_info (BT_CLASS_ROW (row));
  BtClassInfo *dragged;

  bt_class_row_set_drop (BT_CLASS_ROW (row), BT_CLASS_ROW_DROP_NONE);
  if (!G_VALUE_HOLDS (value, BT_TYPE_CLASS_INFO) || (dragged = g_value_get_object (value)) == NULL)
    return FALSE;
  return _bt_data_page_drop_class (self, bt_class_info_get_name (dragged),
                                   onto ? bt_class_info_get_name (onto) : NULL,
                                   row_drop_place (row, y) == BT_CLASS_ROW_DROP_AFTER);
}

static GdkContentProvider *
row_drag_prepare_cb (GtkDragSource *source, double x, double y, BtDataPage *self)
{
  BtClassRow *row = BT_CLASS_ROW (gtk_event_controller_get_widget (GTK_EVENT_CONTROLLER (source)));
  BtClassInfo *info = bt_class_row_get_info (row);

  /* "All images" stays first; a row being renamed keeps the pointer for its text. */
  if (info == NULL || bt_class_row_is_renaming (row) || self->project == NULL)
    return NULL;
  return gdk_content_provider_new_typed (BT_TYPE_CLASS_INFO, info);
}

static void
row_drag_begin_cb (GtkDragSource *source, GdkDrag *drag, BtDataPage *self)
{
  GtkWidget *row = gtk_event_controller_get_widget (GTK_EVENT_CONTROLLER (source));
  g_autoptr(GdkPaintable) paintable = gtk_widget_paintable_new (row);

  gtk_drag_source_set_icon (source, paintable, 12, gtk_widget_get_height (row) / 2);
}

void
_bt_data_page_setup_row_dnd (BtDataPage *self, GtkWidget *row)
{
  GtkDropTarget *target = gtk_drop_target_new (G_TYPE_INVALID, GDK_ACTION_COPY | GDK_ACTION_MOVE);
  GType types[] = { BT_TYPE_ITEM, GDK_TYPE_FILE_LIST, GDK_TYPE_TEXTURE };
  GtkDropTarget *class_target = gtk_drop_target_new (BT_TYPE_CLASS_INFO, GDK_ACTION_MOVE);
  GtkDragSource *source = gtk_drag_source_new ();

  /* Images and files go into the class under the pointer. */
  gtk_drop_target_set_gtypes (target, types, G_N_ELEMENTS (types));
  g_signal_connect_object (target, "drop", G_CALLBACK (row_drop_cb), self, 0);
  gtk_widget_add_controller (row, GTK_EVENT_CONTROLLER (target));

  /* A class row (its own content type) goes between rows: above or below this one. */
  g_signal_connect_object (class_target, "motion", G_CALLBACK (class_drop_motion_cb), self, 0);
  g_signal_connect_object (class_target, "leave", G_CALLBACK (class_drop_leave_cb), self, 0);
  g_signal_connect_object (class_target, "drop", G_CALLBACK (class_drop_cb), self, 0);
  gtk_widget_add_controller (row, GTK_EVENT_CONTROLLER (class_target));

  gtk_drag_source_set_actions (source, GDK_ACTION_MOVE);
  g_signal_connect_object (source, "prepare", G_CALLBACK (row_drag_prepare_cb), self, 0);
  g_signal_connect_object (source, "drag-begin", G_CALLBACK (row_drag_begin_cb), self, 0);
  gtk_widget_add_controller (row, GTK_EVENT_CONTROLLER (source));
}

static GdkContentProvider *
cell_drag_prepare_cb (GtkDragSource *source, double x, double y, GtkListItem *list_item)
{
  BtItem *item = gtk_list_item_get_item (list_item);
  GtkWidget *cell = gtk_event_controller_get_widget (GTK_EVENT_CONTROLLER (source));
  GdkTexture *texture = bt_thumb_cell_get_texture (BT_THUMB_CELL (cell));

  if (item == NULL)
    return NULL;
  if (texture != NULL)
    gtk_drag_source_set_icon (source, GDK_PAINTABLE (texture), 16, 16);
  return gdk_content_provider_new_typed (BT_TYPE_ITEM, item);
}

void
_bt_data_page_setup_cell_drag (BtDataPage *self, GtkWidget *cell, GtkListItem *list_item)
{
  GtkDragSource *source = gtk_drag_source_new ();

  gtk_drag_source_set_actions (source, GDK_ACTION_MOVE);
  g_signal_connect_object (source, "prepare", G_CALLBACK (cell_drag_prepare_cb), list_item, 0);
  gtk_widget_add_controller (cell, GTK_EVENT_CONTROLLER (source));
}

void
_bt_data_page_dnd_init (BtDataPage *self)
{
  GtkDropTarget *target = gtk_drop_target_new (G_TYPE_INVALID, GDK_ACTION_COPY);
  /* files (and a browser's addresses, as text/uri-list) first; an image a browser sends as data */
  GType types[] = { GDK_TYPE_FILE_LIST, GDK_TYPE_TEXTURE };

  gtk_drop_target_set_gtypes (target, types, G_N_ELEMENTS (types));
  g_signal_connect_object (target, "drop", G_CALLBACK (page_drop_cb), self, 0);
  gtk_widget_add_controller (GTK_WIDGET (self), GTK_EVENT_CONTROLLER (target));
}

/* ---- The list of skipped files ---- */

static void
skipped_setup_cb (GtkSignalListItemFactory *factory, GtkListItem *list_item)
{
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 12);
  GtkWidget *path = gtk_label_new (NULL);
  GtkWidget *reason = gtk_label_new (NULL);

  gtk_label_set_xalign (GTK_LABEL (path), 0);
  gtk_label_set_ellipsize (GTK_LABEL (path), PANGO_ELLIPSIZE_START);
  gtk_widget_set_hexpand (path, TRUE);
  gtk_label_set_xalign (GTK_LABEL (reason), 1);
  gtk_widget_add_css_class (reason, "dim-label");
  gtk_box_append (GTK_BOX (box), path);
  gtk_box_append (GTK_BOX (box), reason);
  gtk_list_item_set_child (list_item, box);
}

static void
skipped_bind_cb (GtkSignalListItemFactory *factory, GtkListItem *list_item, GStrv reasons)
{
  GtkWidget *box = gtk_list_item_get_child (list_item);
  GtkWidget *path = gtk_widget_get_first_child (box);
  GtkWidget *reason = gtk_widget_get_last_child (box);
  GtkStringObject *obj = gtk_list_item_get_item (list_item);
  guint pos = gtk_list_item_get_position (list_item);
  g_autofree char *display = g_filename_display_name (gtk_string_object_get_string (obj));
  g_autofree char *a11y = NULL;

  gtk_label_set_text (GTK_LABEL (path), display);
  gtk_widget_set_tooltip_text (path, display);
  gtk_label_set_text (GTK_LABEL (reason), reasons[pos]);
  a11y = g_strdup_printf ("%s: %s", display, reasons[pos]);
  gtk_accessible_update_property (GTK_ACCESSIBLE (box), GTK_ACCESSIBLE_PROPERTY_LABEL, a11y, -1);
}

void
_bt_data_page_show_skipped (BtDataPage *self)
{
  GtkWidget *window, *box, *scrolled, *list, *label, *header;
  GtkStringList *paths = gtk_string_list_new (NULL);
  GtkListItemFactory *factory;
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (self));
  g_autofree char *summary = NULL;
  GStrv reasons;

  for (guint i = 0; i < self->skipped_paths->len; i++)
    {
      gtk_string_list_append (paths, g_ptr_array_index (self->skipped_paths, i));
      g_strv_builder_add (builder, g_ptr_array_index (self->skipped_reasons, i));
    }
  reasons = g_strv_builder_end (builder);

  window = gtk_window_new ();
  gtk_window_set_title (GTK_WINDOW (window), _("Skipped Files"));
  gtk_window_set_default_size (GTK_WINDOW (window), 640, 420);
  gtk_window_set_modal (GTK_WINDOW (window), TRUE);
  if (GTK_IS_WINDOW (root))
    gtk_window_set_transient_for (GTK_WINDOW (window), GTK_WINDOW (root));
  gtk_window_set_hide_on_close (GTK_WINDOW (window), FALSE);
  bt_dialogs_close_on_escape (GTK_WINDOW (window));
  g_object_set_data_full (G_OBJECT (window), "reasons", reasons, (GDestroyNotify) g_strfreev);
  header = gtk_header_bar_new ();
  gtk_window_set_titlebar (GTK_WINDOW (window), header);

  box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 6);
  summary = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE,
                                          "%u file was not added. Your files were not changed.",
                                          "%u files were not added. Your files were not changed.",
                                          self->skipped_paths->len),
                             self->skipped_paths->len);
  label = gtk_label_new (summary);
  gtk_label_set_wrap (GTK_LABEL (label), TRUE);
  gtk_label_set_xalign (GTK_LABEL (label), 0);
  gtk_widget_set_margin_start (label, 12);
  gtk_widget_set_margin_top (label, 12);
  gtk_box_append (GTK_BOX (box), label);

  factory = gtk_signal_list_item_factory_new ();
  g_signal_connect (factory, "setup", G_CALLBACK (skipped_setup_cb), NULL);
  g_signal_connect (factory, "bind", G_CALLBACK (skipped_bind_cb), reasons);
  list = gtk_list_view_new (GTK_SELECTION_MODEL (gtk_no_selection_new (G_LIST_MODEL (paths))), factory);
  gtk_accessible_update_property (GTK_ACCESSIBLE (list), GTK_ACCESSIBLE_PROPERTY_LABEL, _("Skipped files"), -1);
  scrolled = gtk_scrolled_window_new ();
  gtk_widget_set_vexpand (scrolled, TRUE);
  gtk_scrolled_window_set_child (GTK_SCROLLED_WINDOW (scrolled), list);
  gtk_box_append (GTK_BOX (box), scrolled);
  gtk_window_set_child (GTK_WINDOW (window), box);
  {
    GtkEventController *shortcuts = gtk_shortcut_controller_new ();
    gtk_shortcut_controller_add_shortcut (GTK_SHORTCUT_CONTROLLER (shortcuts),
                                          gtk_shortcut_new (gtk_keyval_trigger_new (GDK_KEY_Escape, 0),
                                                            gtk_named_action_new ("window.close")));
    gtk_widget_add_controller (window, shortcuts);
  }
  gtk_window_present (GTK_WINDOW (window));
}
