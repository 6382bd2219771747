/* bt-evaluate-page.c: the Evaluate page — accuracy and loss on held-out images, per-class
 * precision/recall/F1, a confusion matrix, and a gallery of a cell's images to fix labels, each
 * with its heat map (what the model looked at for its answer) when "Show Heat Maps" is on. */
#include "config.h"

#include <glib/gi18n.h>
#include <math.h>

#include "bt-evaluate-page.h"
#include "bt-dialogs.h"
#include "bt-explain-view.h"
#include "bt-glossary.h"
#include "bt-model-files.h"
#include "bt-model-list.h"
#include "bt-trust-panel.h"
#include "bt-doctor-state.h"
#include "bt-review-button.h"
#include "dataset/bt-undo.h"
#include "training/bt-model-runner.h"

#define THUMB 128
#define GALLERY_MAX 200
#define SMALL_TEST_SET 50   /* below this, the accuracy's 95% interval is wider than ±14 points */   /* thumbnails decoded per cell; the rest is counted, not shown */

struct _BtEvaluatePage
{
  GtkWidget parent_instance;

  /* Template widgets */
  GtkDropDown       *model_dropdown;
  GtkStringList     *model_names;
  GtkDropDown       *split_dropdown;
  GtkMenuButton     *models_button;
  GtkSpinner        *spinner;
  GtkLabel          *status_label;
  GtkButton         *undo_button;
  GtkLabel          *summary_label;
  GtkLabel          *caveat_label;
  BtConfusionMatrix *matrix;
  GtkGrid           *class_table;
  GtkLabel          *gallery_label;
  GtkFlowBox        *gallery;
  BtTrustPanel      *trust_panel;
  GtkCheckButton    *heat_toggle;

  /* Owned */
  BtProject         *project;
  GPtrArray         *model_paths;
  char              *keep_path;       /* the model to select after the next listing */
  GCancellable      *cancellable;     /* the evaluation */
  GCancellable      *list_cancellable;
  GCancellable      *thumbs_cancellable;
  BtEvaluation      *evaluation;
  GPtrArray         *shown;          /* BtMistake* (borrowed from evaluation) in the gallery */
  GHashTable        *thumbs;         /* path → GdkTexture */
  int                cell_row, cell_col;
  gboolean           busy;
  guint              n_listing;      /* model listings in flight */
  guint              list_generation;   /* bumped by every listing: only the newest one counts */
  /* heat maps of the gallery's images, for their predicted class */
  char              *evaluated_path;   /* the model file of evaluation */
  BtSharedModel     *heat_model;       /* that model, loaded when the maps are first asked for */
  gboolean           heat_loading;
  GCancellable      *heat_cancellable; /* the shown gallery's jobs: cancelled when it closes */
  GHashTable        *heats;            /* path → BtHeatmap, for evaluation's model */
  GPtrArray         *heat_overlays;    /* BtHeatOverlay* (borrowed), parallel to shown */
  guint              n_heat_jobs;      /* jobs and the model load in flight */
  guint              n_heat_computed;  /* maps that came back (tests) */
};

G_DEFINE_FINAL_TYPE (BtEvaluatePage, bt_evaluate_page, GTK_TYPE_WIDGET)

enum { EVALUATED, THRESHOLD_SAVED, N_SIGNALS };
static guint signals[N_SIGNALS];

static void
update_actions (BtEvaluatePage *self)
{
  guint sel = gtk_drop_down_get_selected (self->model_dropdown);

  BtUndoStack *stack = self->project ? bt_undo_stack_get (self->project) : NULL;

  gtk_widget_action_set_enabled (GTK_WIDGET (self), "eval.run",
                                 !self->busy && self->project && sel != GTK_INVALID_LIST_POSITION &&
                                 sel < self->model_paths->len);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "eval.undo", stack && bt_undo_stack_can_undo (stack));
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "eval.redo", stack && bt_undo_stack_can_redo (stack));
  gtk_widget_set_visible (GTK_WIDGET (self->undo_button), stack && bt_undo_stack_can_undo (stack));
  if (stack && bt_undo_stack_can_undo (stack))
    {
      /* TRANSLATORS: %s is what Undo would undo, e.g. "Move 1 image to “cat”" */
      g_autofree char *tip = g_strdup_printf (_("Undo: %s (Ctrl+Z)"), bt_undo_stack_get_undo_label (stack));
      gtk_widget_set_tooltip_text (GTK_WIDGET (self->undo_button), tip);
    }
}

/* ---- Results ---- */

static void
table_cell (BtEvaluatePage *self, const char *text, int col, int row, gboolean heading, float xalign)
{
  GtkWidget *l = gtk_label_new (text);

  gtk_label_set_xalign (GTK_LABEL (l), xalign);
  if (heading)
    gtk_widget_add_css_class (l, "heading");
  else
    gtk_widget_add_css_class (l, "numeric");
  gtk_grid_attach (self->class_table, l, col, row, 1, 1);
}

static void
fill_table (BtEvaluatePage *self)
{
  GtkWidget *child;
  const BtEvaluation *ev = self->evaluation;
  g_autoptr(GString) notes = g_string_new (NULL);

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->class_table))) != NULL)
    gtk_grid_remove (self->class_table, child);
  if (ev == NULL)
    return;

  table_cell (self, _("Class"), 0, 0, TRUE, 0);
  table_cell (self, _("Precision"), 1, 0, TRUE, 1);
  table_cell (self, _("Recall"), 2, 0, TRUE, 1);
  table_cell (self, _("F1"), 3, 0, TRUE, 1);
  table_cell (self, _("Images"), 4, 0, TRUE, 1);
  for (int k = 0; k < ev->n_classes; k++)
    {
      char p[32], r[32], f[32], n[32];
      guint support = 0, predicted = 0;
      gboolean has_p, has_r;

      for (int c = 0; c < ev->n_classes; c++)
        {
          support += ev->confusion[k * ev->n_classes + c];
          predicted += ev->confusion[c * ev->n_classes + k];
        }
      /* No images of the class: recall is 0/0, not 0%. Never predicted: precision is 0/0. */
      has_r = support > 0 && isfinite (ev->recall[k]);
      has_p = predicted > 0 && isfinite (ev->precision[k]);
      g_snprintf (p, sizeof p, "%.1f%%", 100 * ev->precision[k]);
      g_snprintf (r, sizeof r, "%.1f%%", 100 * ev->recall[k]);
      g_snprintf (f, sizeof f, "%.3f", ev->f1[k]);
      g_snprintf (n, sizeof n, "%u", support);
      table_cell (self, ev->class_names[k], 0, k + 1, FALSE, 0);
      table_cell (self, has_p ? p : "—", 1, k + 1, FALSE, 1);
      table_cell (self, has_r ? r : "—", 2, k + 1, FALSE, 1);
      table_cell (self, has_p && has_r && isfinite (ev->f1[k]) ? f : "—", 3, k + 1, FALSE, 1);
      table_cell (self, n, 4, k + 1, FALSE, 1);
      if (support == 0)
        g_string_append_printf (notes, _("“%s” has no images here, so its recall and F1 cannot be measured: "
                                         "add a few of its images."), ev->class_names[k]);
      else if (predicted == 0)
        g_string_append_printf (notes, _("The model never answered “%s”, so its precision and F1 cannot be "
                                         "measured."), ev->class_names[k]);
      else
        continue;
      g_string_append_c (notes, '\n');
    }
  if (notes->len > 0)
    {
      GtkWidget *l = gtk_label_new (NULL);

      g_string_truncate (notes, notes->len - 1);
      /* TRANSLATORS: under the per-class table; the lines after it say why a cell shows — */
      g_string_prepend (notes, _("— means there is nothing to measure:\n"));
      gtk_label_set_text (GTK_LABEL (l), notes->str);
      gtk_label_set_xalign (GTK_LABEL (l), 0);
      gtk_label_set_wrap (GTK_LABEL (l), TRUE);
      gtk_widget_add_css_class (l, "dim-label");
      gtk_widget_set_margin_top (l, 6);
      gtk_grid_attach (self->class_table, l, 0, ev->n_classes + 1, 5, 1);
    }
}

/* The Wilson score interval of a proportion k/n at 95% (z = 1.96): honest for small n and
 * for accuracies near 0 or 1, where the normal approximation is not. */
static void
wilson_interval (guint k, guint n, double *lo, double *hi)
{
  const double z = 1.959964;
  double p, denom, centre, half;

  if (n == 0)
    {
      *lo = 0;
      *hi = 1;
      return;
    }
  p = (double) k / n;
  denom = 1 + z * z / n;
  centre = (p + z * z / (2.0 * n)) / denom;
  half = z * sqrt (p * (1 - p) / n + z * z / (4.0 * n * n)) / denom;
  *lo = MAX (0.0, centre - half);
  *hi = MIN (1.0, centre + half);
}

/* The matrix's corner flags: per cell, the evaluated images whose label the doctor doubts. */
static void
update_doctor_marks (BtEvaluatePage *self)
{
  const BtEvaluation *ev = self->evaluation;
  BtDoctorState *state = self->project ? bt_doctor_state_get (self->project) : NULL;
  g_autofree guint *marks = NULL;
  guint n_marked = 0;

  if (ev == NULL || ev->all == NULL || state == NULL || bt_doctor_state_get_report (state) == NULL)
    {
      bt_confusion_matrix_set_marks (self->matrix, NULL);
      return;
    }
  marks = g_new0 (guint, (gsize) ev->n_classes * ev->n_classes);
  for (guint i = 0; i < ev->all->len; i++)
    {
      const BtMistake *m = ev->all->pdata[i];
      if (bt_doctor_state_suspect (state, m->path, NULL) != NULL)
        {
          marks[m->true_class * ev->n_classes + m->pred_class]++;
          n_marked++;
        }
    }
  bt_confusion_matrix_set_marks (self->matrix, n_marked > 0 ? marks : NULL);
}

static void
show_evaluation (BtEvaluatePage *self)
{
  const BtEvaluation *ev = self->evaluation;
  g_autofree char *summary = NULL;

  fill_table (self);
  bt_trust_panel_set_evaluation (self->trust_panel, ev);
  g_ptr_array_set_size (self->shown, 0);
  bt_evaluate_page_show_cell (self, -1, -1);
  if (ev == NULL)
    {
      bt_confusion_matrix_set_data (self->matrix, 0, NULL, NULL);
      gtk_label_set_text (self->summary_label, "");
      gtk_widget_set_visible (GTK_WIDGET (self->caveat_label), FALSE);
      return;
    }
  bt_confusion_matrix_set_data (self->matrix, ev->n_classes, (const char * const *) ev->class_names, ev->confusion);
  update_doctor_marks (self);
  /* Translators: summary of an evaluation: accuracy, loss, number of images */
  summary = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE,
                                          "Accuracy %.1f%% · loss %.3f · %u image",
                                          "Accuracy %.1f%% · loss %.3f · %u images", ev->n),
                             100 * ev->accuracy, ev->loss, ev->n);
  if (ev->n_skipped > 0)
    {
      g_autofree char *more = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, " (%u skipped)", " (%u skipped)",
                                                            ev->n_skipped), ev->n_skipped);
      char *t = g_strconcat (summary, more, NULL);
      g_free (summary);
      summary = t;
    }
  {
    guint correct = 0;
    double lo, hi;
    char *t;

    for (int k = 0; k < ev->n_classes; k++)
      correct += ev->confusion[k * ev->n_classes + k];
    wilson_interval (correct, ev->n, &lo, &hi);
    /* TRANSLATORS: after the accuracy: its 95% Wilson interval */
    t = g_strdup_printf (_("%s · 95%% interval %.0f%%–%.0f%%"), summary, 100 * lo, 100 * hi);
    g_free (summary);
    summary = t;
    if (ev->n < SMALL_TEST_SET)
      {
        g_autofree char *caveat = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE,
            "⚠ Only %u image: the true accuracy could be anywhere from %.0f%% to %.0f%%. "
            "Add images to this split for a firmer number.",
            "⚠ Only %u images: the true accuracy could be anywhere from %.0f%% to %.0f%%. "
            "Add images to this split for a firmer number.", ev->n), ev->n, 100 * lo, 100 * hi);
        gtk_label_set_text (self->caveat_label, caveat);
      }
    gtk_widget_set_visible (GTK_WIDGET (self->caveat_label), ev->n < SMALL_TEST_SET);
  }
  gtk_label_set_text (self->summary_label, summary);
}

/* ---- Gallery ---- */

typedef struct {
  GWeakRef  page;
  char     *path;
} ThumbJob;

static void
thumb_job_free (ThumbJob *job)
{
  g_weak_ref_clear (&job->page);
  g_free (job->path);
  g_free (job);
}

static void
thumb_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  ThumbJob *job = task_data;
  g_autoptr(BtImage) img = NULL;
  GBytes *bytes;
  GError *error = NULL;

  if (g_cancellable_set_error_if_cancelled (cancellable, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  img = bt_image_preprocess_file (job->path, THUMB, THUMB, 3, BT_DS_RESIZE_PAD, cancellable, NULL, &error);
  if (img == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  bytes = g_bytes_new (img->pixels, (gsize) THUMB * THUMB * 3);
  g_task_return_pointer (task, gdk_memory_texture_new (THUMB, THUMB, GDK_MEMORY_R8G8B8, bytes, THUMB * 3),
                         g_object_unref);
  g_bytes_unref (bytes);
}

static void
thumb_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  ThumbJob *job = g_task_get_task_data (G_TASK (result));
  g_autoptr(BtEvaluatePage) self = g_weak_ref_get (&job->page);
  GdkTexture *texture = g_task_propagate_pointer (G_TASK (result), NULL);
  GtkPicture *picture = user_data;

  if (self == NULL || texture == NULL)
    {
      g_clear_object (&texture);
      g_object_unref (picture);
      return;
    }
  g_hash_table_replace (self->thumbs, g_strdup (job->path), texture);
  gtk_picture_set_paintable (picture, GDK_PAINTABLE (texture));
  g_object_unref (picture);
}

static const char *
current_class_of (BtEvaluatePage *self, const char *path)
{
  BtItem *item = self->project ? bt_project_find_item (self->project, path) : NULL;
  return item ? bt_item_get_class_name (item) : NULL;
}

/* "Suspected label" under an image the data doctor also doubts (empty when it does not). */
static GtkWidget *
doctor_mark_new (BtEvaluatePage *self, const char *path)
{
  double score = 0;
  const char *suggested = bt_doctor_state_suspect (bt_doctor_state_get (self->project), path, &score);
  GtkWidget *mark = gtk_label_new (suggested ? _("⚑ Suspected label") : "");
  g_autofree char *why = NULL;

  gtk_widget_set_visible (mark, suggested != NULL);
  if (suggested == NULL)
    return mark;
  /* TRANSLATORS: tooltip of the mark; %s is the class the data doctor suggests */
  why = g_strdup_printf (_("The data doctor also doubts this label and suggests “%s” (Review)"), suggested);
  gtk_widget_set_tooltip_text (mark, why);
  gtk_widget_add_css_class (mark, "accent");
  gtk_widget_add_css_class (mark, "caption");
  return mark;
}

static GtkWidget *
make_gallery_child (BtEvaluatePage *self, const BtMistake *m)
{
  const BtEvaluation *ev = self->evaluation;
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 4);
  GtkWidget *picture = gtk_picture_new ();
  GtkWidget *caption, *buttons, *move, *exclude;
  g_autoptr(GMenu) menu = g_menu_new ();
  g_autofree char *text = NULL, *base = g_path_get_basename (m->path), *display = g_filename_display_name (base);
  const char *now = current_class_of (self, m->path);
  GdkTexture *cached = g_hash_table_lookup (self->thumbs, m->path);
  GListModel *classes;

  GtkWidget *stack = gtk_overlay_new ();
  GtkWidget *heat = g_object_new (BT_TYPE_HEAT_OVERLAY, NULL);

  /* exactly THUMB × THUMB: the padded thumbnail and the map are fitted into the same square */
  gtk_widget_set_size_request (stack, THUMB, THUMB);
  gtk_widget_set_halign (stack, GTK_ALIGN_CENTER);
  gtk_overlay_set_child (GTK_OVERLAY (stack), picture);
  gtk_overlay_add_overlay (GTK_OVERLAY (stack), heat);
  g_ptr_array_add (self->heat_overlays, heat);
  gtk_picture_set_can_shrink (GTK_PICTURE (picture), TRUE);
  gtk_accessible_update_property (GTK_ACCESSIBLE (picture), GTK_ACCESSIBLE_PROPERTY_LABEL, display, -1);
  if (cached)
    gtk_picture_set_paintable (GTK_PICTURE (picture), GDK_PAINTABLE (cached));
  else
    {
      ThumbJob *job = g_new0 (ThumbJob, 1);
      g_autoptr(GTask) task = g_task_new (NULL, self->thumbs_cancellable, thumb_done_cb, g_object_ref (picture));
      g_weak_ref_init (&job->page, self);
      job->path = g_strdup (m->path);
      g_task_set_task_data (task, job, (GDestroyNotify) thumb_job_free);
      g_task_run_in_thread (task, thumb_thread);
    }
  gtk_box_append (GTK_BOX (box), stack);

  /* Translators: under a gallery image: predicted class and confidence */
  text = g_strdup_printf (_("%s · %.0f%%"), ev->class_names[m->pred_class], 100.0 * m->confidence);
  caption = gtk_label_new (text);
  gtk_label_set_ellipsize (GTK_LABEL (caption), PANGO_ELLIPSIZE_END);
  gtk_widget_set_tooltip_text (caption, display);
  gtk_box_append (GTK_BOX (box), caption);
  if (now == NULL || g_strcmp0 (now, ev->class_names[m->true_class]) != 0)
    {
      GtkWidget *changed = gtk_label_new (now ? _("changed since this model was trained")
                                              : _("no longer in the project"));
      gtk_label_set_wrap (GTK_LABEL (changed), TRUE);
      gtk_widget_add_css_class (changed, "warning");
      gtk_widget_add_css_class (changed, "caption");
      gtk_box_append (GTK_BOX (box), changed);
    }
  gtk_box_append (GTK_BOX (box), doctor_mark_new (self, m->path));

  classes = bt_project_get_classes (self->project);
  for (guint k = 0; k < g_list_model_get_n_items (classes); k++)
    {
      g_autoptr(BtClassInfo) info = g_list_model_get_item (classes, k);
      const char *name = bt_class_info_get_name (info);
      g_autoptr(GMenuItem) item = NULL;

      if (g_strcmp0 (name, now) == 0)
        continue;
      item = g_menu_item_new (name, NULL);
      g_menu_item_set_action_and_target_value (item, "eval.relabel", g_variant_new ("(ss)", m->path, name));
      g_menu_append_item (menu, item);
    }
  buttons = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 4);
  gtk_widget_set_halign (buttons, GTK_ALIGN_CENTER);
  move = gtk_menu_button_new ();
  gtk_menu_button_set_label (GTK_MENU_BUTTON (move), _("Move to"));
  gtk_menu_button_set_menu_model (GTK_MENU_BUTTON (move), G_MENU_MODEL (menu));
  gtk_widget_set_tooltip_text (move, _("Move this image to another class"));
  exclude = gtk_button_new_from_icon_name ("list-remove-symbolic");
  gtk_widget_set_tooltip_text (exclude, _("Exclude this image from training and evaluation"));
  gtk_accessible_update_property (GTK_ACCESSIBLE (exclude), GTK_ACCESSIBLE_PROPERTY_LABEL, _("Exclude"), -1);
  gtk_actionable_set_action_name (GTK_ACTIONABLE (exclude), "eval.exclude");
  gtk_actionable_set_action_target_value (GTK_ACTIONABLE (exclude), g_variant_new_string (m->path));
  gtk_box_append (GTK_BOX (buttons), move);
  gtk_box_append (GTK_BOX (buttons), exclude);
  gtk_box_append (GTK_BOX (box), buttons);
  return box;
}

/* ---- Heat maps in the gallery ---- */

typedef struct {
  GWeakRef       page;
  BtSharedModel *model;
  char          *path;
  int            class_index;
  BtHeatOverlay *overlay;
} HeatJob;

static void
heat_job_free (HeatJob *job)
{
  g_weak_ref_clear (&job->page);
  g_clear_pointer (&job->model, bt_shared_model_unref);
  g_free (job->path);
  g_clear_object (&job->overlay);
  g_free (job);
}

/* on the model runner, one image per job, so other pages' predictions take turns with it */
static void
heat_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  HeatJob *job = task_data;
  GError *error = NULL;
  BtModel *model = bt_shared_model_lock (job->model);
  BtHeatmap *map = bt_explain_file (model, job->path, job->class_index, BT_EXPLAIN_OCCLUSION, THUMB, NULL,
                                    cancellable, &error);

  bt_shared_model_unlock (job->model);
  if (map == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, map, (GDestroyNotify) bt_heatmap_free);
}

static gboolean
heat_on (BtEvaluatePage *self)
{
  return gtk_check_button_get_active (self->heat_toggle) && self->evaluation != NULL;
}

static void
heat_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  HeatJob *job = g_task_get_task_data (G_TASK (result));
  g_autoptr(BtEvaluatePage) self = g_weak_ref_get (&job->page);
  BtHeatmap *map = g_task_propagate_pointer (G_TASK (result), NULL);

  if (self == NULL)
    {
      g_clear_pointer (&map, bt_heatmap_free);
      return;
    }
  self->n_heat_jobs--;
  /* an unreadable image keeps its thumbnail without a map; a cancelled job (the gallery
   * closed, or another model was evaluated) has nothing to show */
  if (map == NULL || job->model != self->heat_model)
    {
      g_clear_pointer (&map, bt_heatmap_free);
      return;
    }
  self->n_heat_computed++;
  g_hash_table_replace (self->heats, g_strdup (job->path), map);
  if (heat_on (self) && g_ptr_array_find (self->heat_overlays, job->overlay, NULL))
    bt_heat_overlay_set_map (job->overlay, map);
}

static void heat_request (BtEvaluatePage *self);

static void
heat_model_loaded_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GWeakRef *ref = user_data;
  g_autoptr(BtEvaluatePage) self = g_weak_ref_get (ref);
  g_autoptr(GError) error = NULL;
  g_autoptr(BtSharedModel) model = bt_model_files_load_finish (result, &error);

  g_weak_ref_clear (ref);
  g_free (ref);
  if (self == NULL)
    return;
  self->n_heat_jobs--;
  self->heat_loading = FALSE;
  if (model == NULL)
    {
      g_autofree char *text = g_strdup_printf (_("No heat maps: %s"), error->message);
      gtk_label_set_text (self->status_label, text);
      return;
    }
  /* the evaluation shown is still of that file */
  if (g_strcmp0 (bt_shared_model_get_path (model), self->evaluated_path) != 0)
    return;
  self->heat_model = g_steal_pointer (&model);
  heat_request (self);
}

/* The shown images' maps: cached ones at once, the others queued (the model loaded first). */
static void
heat_request (BtEvaluatePage *self)
{
  if (!heat_on (self) || self->evaluated_path == NULL)
    return;
  if (self->heat_model == NULL)
    {
      GWeakRef *ref;
      if (self->heat_loading)
        return;
      ref = g_new0 (GWeakRef, 1);
      g_weak_ref_init (ref, self);
      self->heat_loading = TRUE;
      self->n_heat_jobs++;
      bt_model_files_load_async (self->evaluated_path, NULL, heat_model_loaded_cb, ref);
      return;
    }
  for (guint i = 0; i < self->shown->len && i < self->heat_overlays->len; i++)
    {
      const BtMistake *m = self->shown->pdata[i];
      BtHeatOverlay *overlay = self->heat_overlays->pdata[i];
      const BtHeatmap *cached = g_hash_table_lookup (self->heats, m->path);
      g_autoptr(GTask) task = NULL;
      HeatJob *job;

      if (cached != NULL)
        {
          bt_heat_overlay_set_map (overlay, cached);
          continue;
        }
      job = g_new0 (HeatJob, 1);
      g_weak_ref_init (&job->page, self);
      job->model = bt_shared_model_ref (self->heat_model);
      job->path = g_strdup (m->path);
      job->class_index = m->pred_class;
      job->overlay = g_object_ref (overlay);
      self->n_heat_jobs++;
      task = g_task_new (NULL, self->heat_cancellable, heat_done_cb, NULL);
      g_task_set_task_data (task, job, (GDestroyNotify) heat_job_free);
      bt_model_runner_run_in_thread (bt_model_runner_get_default (), task, heat_thread);
    }
}

/* The gallery closes (another cell, another evaluation, the page goes): its jobs are cancelled;
 * those not yet started never run. */
static void
heat_cancel (BtEvaluatePage *self)
{
  g_cancellable_cancel (self->heat_cancellable);
  g_clear_object (&self->heat_cancellable);
  self->heat_cancellable = g_cancellable_new ();
}

static void
heat_toggled_cb (BtEvaluatePage *self)
{
  if (heat_on (self))
    {
      heat_request (self);
      return;
    }
  heat_cancel (self);
  for (guint i = 0; i < self->heat_overlays->len; i++)
    bt_heat_overlay_set_map (self->heat_overlays->pdata[i], NULL);
}

static void
rebuild_gallery (BtEvaluatePage *self)
{
  GtkWidget *child;

  heat_cancel (self);
  g_ptr_array_set_size (self->heat_overlays, 0);
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->gallery))) != NULL)
    gtk_flow_box_remove (self->gallery, child);
  for (guint i = 0; i < self->shown->len; i++)
    gtk_flow_box_append (self->gallery, make_gallery_child (self, self->shown->pdata[i]));
  heat_request (self);
}

static int
cmp_confidence (gconstpointer a, gconstpointer b)
{
  const BtMistake *ma = *(BtMistake * const *) a, *mb = *(BtMistake * const *) b;
  return (ma->confidence < mb->confidence) - (ma->confidence > mb->confidence);
}

void
bt_evaluate_page_show_cell (BtEvaluatePage *self, int true_class, int pred_class)
{
  const BtEvaluation *ev;

  g_return_if_fail (BT_IS_EVALUATE_PAGE (self));

  ev = self->evaluation;
  g_ptr_array_set_size (self->shown, 0);
  g_cancellable_cancel (self->thumbs_cancellable);
  g_clear_object (&self->thumbs_cancellable);
  self->thumbs_cancellable = g_cancellable_new ();
  self->cell_row = true_class;
  self->cell_col = pred_class;

  if (ev == NULL || true_class < 0 || pred_class < 0 || true_class >= ev->n_classes || pred_class >= ev->n_classes)
    {
      gtk_label_set_text (self->gallery_label,
                          _("Click a cell of the matrix to see its images, the most confident mistakes first."));
      rebuild_gallery (self);
      return;
    }
  for (guint i = 0; ev->all && i < ev->all->len; i++)
    {
      BtMistake *m = ev->all->pdata[i];
      BtItem *item;
      if (m->true_class != true_class || m->pred_class != pred_class)
        continue;
      item = self->project ? bt_project_find_item (self->project, m->path) : NULL;
      if (item && bt_item_get_excluded (item))
        continue;
      g_ptr_array_add (self->shown, m);
    }
  /* the most confident first: for mistakes, the most confidently wrong */
  g_ptr_array_sort (self->shown, cmp_confidence);
  {
    g_autofree char *text = NULL;
    guint total = self->shown->len;
    if (true_class == pred_class)
      text = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%u %s image recognised correctly",
                                           "%u %s images recognised correctly", self->shown->len),
                              self->shown->len, ev->class_names[true_class]);
    else
      text = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%u %s image taken for %s, most confident first",
                                           "%u %s images taken for %s, most confident first", self->shown->len),
                              self->shown->len, ev->class_names[true_class], ev->class_names[pred_class]);
    if (total > GALLERY_MAX)
      {
        g_autofree char *more = g_strdup_printf (_("%s (the first %u shown)"), text, GALLERY_MAX);
        g_ptr_array_set_size (self->shown, GALLERY_MAX);
        gtk_label_set_text (self->gallery_label, more);
      }
    else
      gtk_label_set_text (self->gallery_label, text);
  }
  rebuild_gallery (self);
}

static void
cell_activated_cb (BtEvaluatePage *self, int row, int col)
{
  bt_evaluate_page_show_cell (self, row, col);
}

gboolean
bt_evaluate_page_relabel (BtEvaluatePage *self, const char *path, const char *class_name, GError **error)
{
  BtItem *item;

  g_return_val_if_fail (BT_IS_EVALUATE_PAGE (self), FALSE);
  g_return_val_if_fail (path != NULL && class_name != NULL, FALSE);

  item = self->project ? bt_project_find_item (self->project, path) : NULL;
  if (item == NULL)
    {
      g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_INVALID, _("The image is no longer in the project"));
      return FALSE;
    }
  if (!bt_undo_stack_relabel (bt_undo_stack_get (self->project), &item, 1, class_name, error))
    return FALSE;
  {
    g_autofree char *text = g_strdup_printf (_("Moved %s to “%s”"), bt_item_get_display_name (item), class_name);
    gtk_label_set_text (self->status_label, text);
  }
  rebuild_gallery (self);
  return TRUE;
}

gboolean
bt_evaluate_page_exclude (BtEvaluatePage *self, const char *path, GError **error)
{
  BtItem *item;

  g_return_val_if_fail (BT_IS_EVALUATE_PAGE (self), FALSE);
  g_return_val_if_fail (path != NULL, FALSE);

  item = self->project ? bt_project_find_item (self->project, path) : NULL;
  if (item == NULL)
    {
      g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_INVALID, _("The image is no longer in the project"));
      return FALSE;
    }
  if (!bt_undo_stack_set_excluded (bt_undo_stack_get (self->project), &item, 1, TRUE, error))
    return FALSE;
  {
    g_autofree char *text = g_strdup_printf (_("%s excluded from training"), bt_item_get_display_name (item));
    gtk_label_set_text (self->status_label, text);
  }
  bt_evaluate_page_show_cell (self, self->cell_row, self->cell_col);
  return TRUE;
}

static void
relabel_action (GtkWidget *widget, const char *action_name, GVariant *param)
{
  BtEvaluatePage *self = BT_EVALUATE_PAGE (widget);
  g_autoptr(GError) error = NULL;
  const char *path, *class_name;

  g_variant_get (param, "(&s&s)", &path, &class_name);
  if (!bt_evaluate_page_relabel (self, path, class_name, &error))
    bt_dialogs_show_error (GTK_WINDOW (gtk_widget_get_root (widget)), _("The image could not be moved"), error);
}

static void
exclude_action (GtkWidget *widget, const char *action_name, GVariant *param)
{
  BtEvaluatePage *self = BT_EVALUATE_PAGE (widget);
  g_autoptr(GError) error = NULL;

  if (!bt_evaluate_page_exclude (self, g_variant_get_string (param, NULL), &error))
    bt_dialogs_show_error (GTK_WINDOW (gtk_widget_get_root (widget)), _("The image could not be excluded"), error);
}

static void
undo_redo_action (GtkWidget *widget, const char *action_name, GVariant *param)
{
  BtEvaluatePage *self = BT_EVALUATE_PAGE (widget);
  gboolean undo = g_str_equal (action_name, "eval.undo");
  g_autofree char *text = NULL;
  g_autoptr(GError) error = NULL;

  if (self->project == NULL)
    return;
  text = bt_undo_stack_step (bt_undo_stack_get (self->project), undo, &error);
  if (error != NULL)
    bt_dialogs_show_error (GTK_WINDOW (gtk_widget_get_root (widget)),
                           undo ? _("Could not undo") : _("Could not redo"), error);
  if (text == NULL)
    return;
  gtk_label_set_text (self->status_label, text);
  bt_evaluate_page_show_cell (self, self->cell_row, self->cell_col);
}

/* ---- Evaluation job ---- */

typedef struct {
  GWeakRef   page;
  char      *model_path;
  BtProject *project;
  BtSplit    split;
  double    *thresholds;   /* out: the model's saved thresholds (NULL: none) */
} EvalJob;

static void
eval_job_free (EvalJob *job)
{
  g_weak_ref_clear (&job->page);
  g_free (job->model_path);
  g_free (job->thresholds);
  g_clear_object (&job->project);
  g_free (job);
}

static void
eval_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  EvalJob *job = task_data;
  g_autoptr(BtModel) model = NULL;
  BtEvaluation *ev;
  GError *error = NULL;

  model = bt_model_load (job->model_path, &error);
  if (model == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  if (model->class_thresholds != NULL)
    job->thresholds = g_memdup2 (model->class_thresholds, sizeof (double) * bt_net_n_classes (model->net));
  ev = bt_evaluate_project (model, job->project, job->split, cancellable, &error);
  if (ev == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, ev, (GDestroyNotify) bt_evaluation_free);
}

static void
eval_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  EvalJob *job = g_task_get_task_data (G_TASK (result));
  g_autoptr(BtEvaluatePage) self = g_weak_ref_get (&job->page);
  g_autoptr(GError) error = NULL;
  BtEvaluation *ev = g_task_propagate_pointer (G_TASK (result), &error);

  if (self == NULL || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) ||
      job->project != self->project)
    {
      g_clear_pointer (&ev, bt_evaluation_free);
      return;
    }
  self->busy = FALSE;
  gtk_spinner_stop (self->spinner);
  g_clear_pointer (&self->evaluation, bt_evaluation_free);
  self->evaluation = ev;
  /* the heat maps were of the previous evaluation's model (the file may have changed too) */
  g_free (self->evaluated_path);
  self->evaluated_path = ev != NULL ? g_strdup (job->model_path) : NULL;
  g_clear_pointer (&self->heat_model, bt_shared_model_unref);
  g_hash_table_remove_all (self->heats);
  if (ev == NULL)
    {
      g_autofree char *text = g_strdup_printf (_("The evaluation failed: %s"), error ? error->message : "");
      gtk_label_set_text (self->status_label, text);
    }
  else
    gtk_label_set_text (self->status_label, "");
  show_evaluation (self);
  if (ev != NULL)
    bt_trust_panel_set_model (self->trust_panel, job->model_path, job->thresholds);
  update_actions (self);
  g_signal_emit (self, signals[EVALUATED], 0);
}

void
bt_evaluate_page_evaluate (BtEvaluatePage *self)
{
  guint sel;
  EvalJob *job;
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (BT_IS_EVALUATE_PAGE (self));

  sel = gtk_drop_down_get_selected (self->model_dropdown);
  if (self->project == NULL || sel == GTK_INVALID_LIST_POSITION || sel >= self->model_paths->len)
    return;
  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  self->cancellable = g_cancellable_new ();

  job = g_new0 (EvalJob, 1);
  g_weak_ref_init (&job->page, self);
  job->model_path = g_strdup (self->model_paths->pdata[sel]);
  job->project = g_object_ref (self->project);
  job->split = gtk_drop_down_get_selected (self->split_dropdown) == 1 ? BT_SPLIT_VAL : BT_SPLIT_TEST;

  self->busy = TRUE;
  gtk_spinner_start (self->spinner);
  gtk_label_set_text (self->status_label, _("Evaluating…"));
  update_actions (self);
  task = g_task_new (NULL, self->cancellable, eval_done_cb, NULL);
  g_task_set_task_data (task, job, (GDestroyNotify) eval_job_free);
  bt_model_runner_run_in_thread (bt_model_runner_get_default (), task, eval_thread);
}

static void
run_action (GtkWidget *widget, const char *action_name, GVariant *param)
{
  bt_evaluate_page_evaluate (BT_EVALUATE_PAGE (widget));
}

static void
model_selected_cb (BtEvaluatePage *self)
{
  update_actions (self);
}

typedef struct {
  BtEvaluatePage *page;
  guint           generation;
} Listing;

static void
models_listed_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Listing *listing = user_data;
  g_autoptr(BtEvaluatePage) self = listing->page;
  guint generation = listing->generation;
  g_autoptr(GPtrArray) paths = bt_model_files_list_info_finish (result, NULL);
  g_autofree char *keep = NULL;
  int selected;

  g_free (listing);
  if (self->n_listing > 0)
    self->n_listing--;
  /* a newer listing was started: it has (or will have) the newer answer */
  if (generation != self->list_generation || paths == NULL || self->project == NULL)
    return;
  keep = g_steal_pointer (&self->keep_path);
  g_ptr_array_set_size (self->model_paths, 0);
  gtk_string_list_splice (self->model_names, 0, g_list_model_get_n_items (G_LIST_MODEL (self->model_names)), NULL);
  /* the best model first, unless the person was looking at another one */
  selected = bt_model_files_pick_default (paths);
  for (guint i = 0; i < paths->len; i++)
    {
      BtModelInfo *info = paths->pdata[i];
      g_autofree char *name = bt_model_info_label (info);
      g_ptr_array_add (self->model_paths, g_strdup (info->path));
      gtk_string_list_append (self->model_names, name);
      if (keep != NULL && g_str_equal (keep, info->path))
        selected = (int) i;
    }
  bt_model_list_set_infos (BT_MODEL_LIST (gtk_menu_button_get_popover (self->models_button)), paths);
  gtk_drop_down_set_selected (self->model_dropdown, selected >= 0 ? (guint) selected : GTK_INVALID_LIST_POSITION);
  update_actions (self);
  if (paths->len == 0)
    gtk_label_set_text (self->status_label, _("No saved model yet: train one on the Train page."));
  else
    bt_evaluate_page_evaluate (self);
}

static void
model_list_changed_cb (BtEvaluatePage *self)
{
  guint sel = gtk_drop_down_get_selected (self->model_dropdown);

  g_free (self->keep_path);
  self->keep_path = sel < self->model_paths->len ? g_strdup (self->model_paths->pdata[sel]) : NULL;
  bt_evaluate_page_reload_models (self);
}

static void
model_list_error_cb (BtEvaluatePage *self, const char *message)
{
  gtk_label_set_text (self->status_label, message);
}

static void
cancel_listing (BtEvaluatePage *self)
{
  g_cancellable_cancel (self->list_cancellable);
  g_clear_object (&self->list_cancellable);
  self->list_cancellable = g_cancellable_new ();
  self->list_generation++;
}

void
bt_evaluate_page_reload_models (BtEvaluatePage *self)
{
  g_return_if_fail (BT_IS_EVALUATE_PAGE (self));

  Listing *listing;

  if (self->project == NULL)
    return;
  cancel_listing (self);
  listing = g_new (Listing, 1);
  listing->page = g_object_ref (self);
  listing->generation = self->list_generation;
  self->n_listing++;
  bt_model_files_list_async (self->project, self->list_cancellable, models_listed_cb, listing);
}

gboolean
bt_evaluate_page_is_busy (BtEvaluatePage *self)
{
  g_return_val_if_fail (BT_IS_EVALUATE_PAGE (self), FALSE);

  return self->busy || self->n_listing > 0;
}

/* ---- GObject ---- */

static void
bt_evaluate_page_dispose (GObject *object)
{
  BtEvaluatePage *self = BT_EVALUATE_PAGE (object);
  GtkWidget *child;

  g_cancellable_cancel (self->cancellable);
  g_cancellable_cancel (self->list_cancellable);
  g_cancellable_cancel (self->thumbs_cancellable);
  g_cancellable_cancel (self->heat_cancellable);
  self->list_generation++;
  gtk_widget_dispose_template (GTK_WIDGET (self), BT_TYPE_EVALUATE_PAGE);
  /* GTK 4.8 unparents only bound template children */
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self))) != NULL)
    gtk_widget_unparent (child);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->list_cancellable);
  g_clear_object (&self->thumbs_cancellable);
  if (self->project != NULL)
    g_signal_handlers_disconnect_by_data (bt_undo_stack_get (self->project), self);
  g_clear_object (&self->project);
  g_clear_pointer (&self->shown, g_ptr_array_unref);
  g_clear_pointer (&self->evaluation, bt_evaluation_free);
  g_clear_pointer (&self->model_paths, g_ptr_array_unref);
  g_clear_pointer (&self->keep_path, g_free);
  g_clear_pointer (&self->thumbs, g_hash_table_unref);
  g_clear_object (&self->heat_cancellable);
  g_clear_pointer (&self->heat_model, bt_shared_model_unref);
  g_clear_pointer (&self->evaluated_path, g_free);
  g_clear_pointer (&self->heats, g_hash_table_unref);
  g_clear_pointer (&self->heat_overlays, g_ptr_array_unref);

  G_OBJECT_CLASS (bt_evaluate_page_parent_class)->dispose (object);
}

static void
bt_evaluate_page_class_init (BtEvaluatePageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = bt_evaluate_page_dispose;

  signals[EVALUATED] = g_signal_new ("evaluated", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                     0, NULL, NULL, NULL, G_TYPE_NONE, 0);
  /* a threshold was saved into this model file: pages holding the model load it again */
  signals[THRESHOLD_SAVED] = g_signal_new ("threshold-saved", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                           0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);

  g_type_ensure (BT_TYPE_CONFUSION_MATRIX);
  g_type_ensure (BT_TYPE_TRUST_PANEL);
  g_type_ensure (BT_TYPE_REVIEW_BUTTON);
  gtk_widget_class_set_template_from_resource (widget_class, APP_ID_PATH "/ui/bt-evaluate-page.ui");
  gtk_widget_class_bind_template_child (widget_class, BtEvaluatePage, model_dropdown);
  gtk_widget_class_bind_template_child (widget_class, BtEvaluatePage, model_names);
  gtk_widget_class_bind_template_child (widget_class, BtEvaluatePage, split_dropdown);
  gtk_widget_class_bind_template_child (widget_class, BtEvaluatePage, undo_button);
  gtk_widget_class_bind_template_child (widget_class, BtEvaluatePage, models_button);
  gtk_widget_class_bind_template_child (widget_class, BtEvaluatePage, caveat_label);
  gtk_widget_class_bind_template_child (widget_class, BtEvaluatePage, spinner);
  gtk_widget_class_bind_template_child (widget_class, BtEvaluatePage, status_label);
  gtk_widget_class_bind_template_child (widget_class, BtEvaluatePage, summary_label);
  gtk_widget_class_bind_template_child (widget_class, BtEvaluatePage, matrix);
  gtk_widget_class_bind_template_child (widget_class, BtEvaluatePage, class_table);
  gtk_widget_class_bind_template_child (widget_class, BtEvaluatePage, gallery_label);
  gtk_widget_class_bind_template_child (widget_class, BtEvaluatePage, gallery);
  gtk_widget_class_bind_template_child (widget_class, BtEvaluatePage, trust_panel);
  gtk_widget_class_bind_template_child (widget_class, BtEvaluatePage, heat_toggle);
  gtk_widget_class_bind_template_callback (widget_class, cell_activated_cb);
  gtk_widget_class_bind_template_callback (widget_class, heat_toggled_cb);
  gtk_widget_class_bind_template_callback (widget_class, model_selected_cb);
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);

  gtk_widget_class_install_action (widget_class, "eval.run", NULL, run_action);
  gtk_widget_class_install_action (widget_class, "eval.relabel", "(ss)", relabel_action);
  gtk_widget_class_install_action (widget_class, "eval.exclude", "s", exclude_action);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_F5, 0, "eval.run", NULL);
  gtk_widget_class_install_action (widget_class, "eval.undo", NULL, undo_redo_action);
  gtk_widget_class_install_action (widget_class, "eval.redo", NULL, undo_redo_action);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_z, GDK_CONTROL_MASK, "eval.undo", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_z, GDK_CONTROL_MASK | GDK_SHIFT_MASK, "eval.redo", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Z, GDK_CONTROL_MASK | GDK_SHIFT_MASK, "eval.redo", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_y, GDK_CONTROL_MASK, "eval.redo", NULL);
}

static void
threshold_saved_cb (BtEvaluatePage *self, const char *path)
{
  g_signal_emit (self, signals[THRESHOLD_SAVED], 0, path);
}

static void
bt_evaluate_page_init (BtEvaluatePage *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  self->model_paths = g_ptr_array_new_with_free_func (g_free);
  self->shown = g_ptr_array_new ();
  self->thumbs = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
  self->cancellable = g_cancellable_new ();
  self->list_cancellable = g_cancellable_new ();
  self->thumbs_cancellable = g_cancellable_new ();
  self->heat_cancellable = g_cancellable_new ();
  self->heats = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) bt_heatmap_free);
  self->heat_overlays = g_ptr_array_new ();
  self->cell_row = self->cell_col = -1;
  bt_model_list_setup_dropdown (self->model_dropdown);
  g_signal_connect_object (self->trust_panel, "threshold-saved", G_CALLBACK (threshold_saved_cb), self,
                           G_CONNECT_SWAPPED);
  bt_glossary_set_tooltip (GTK_WIDGET (self->split_dropdown), BT_TERM_TEST);
  bt_glossary_set_tooltip (GTK_WIDGET (self->split_dropdown), BT_TERM_VALIDATION);
  {
    GtkWidget *list = bt_model_list_new ();
    g_signal_connect_object (list, "changed", G_CALLBACK (model_list_changed_cb), self, G_CONNECT_SWAPPED);
    g_signal_connect_object (list, "error", G_CALLBACK (model_list_error_cb), self, G_CONNECT_SWAPPED);
    gtk_menu_button_set_popover (self->models_button, list);
  }
  update_actions (self);
}

/* the doctor's marks follow its latest report */
static void
doctor_changed_cb (BtEvaluatePage *self)
{
  update_doctor_marks (self);
  if (self->evaluation != NULL)
    rebuild_gallery (self);
}

void
bt_evaluate_page_set_project (BtEvaluatePage *self, BtProject *project)
{
  g_return_if_fail (BT_IS_EVALUATE_PAGE (self));
  g_return_if_fail (project == NULL || BT_IS_PROJECT (project));

  if (project == self->project)
    return;
  if (self->project != NULL)
    g_signal_handlers_disconnect_by_data (bt_undo_stack_get (self->project), self);
  if (self->project != NULL)
    g_signal_handlers_disconnect_by_data (bt_doctor_state_get (self->project), self);
  if (project != NULL)
    g_signal_connect_object (bt_undo_stack_get (project), "changed", G_CALLBACK (update_actions), self,
                             G_CONNECT_SWAPPED);
  if (project != NULL)
    g_signal_connect_object (bt_doctor_state_get (project), "changed", G_CALLBACK (doctor_changed_cb), self,
                             G_CONNECT_SWAPPED);
  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  self->cancellable = g_cancellable_new ();
  cancel_listing (self);
  self->busy = FALSE;
  gtk_spinner_stop (self->spinner);
  g_set_object (&self->project, project);
  g_clear_pointer (&self->evaluation, bt_evaluation_free);
  g_hash_table_remove_all (self->thumbs);
  g_ptr_array_set_size (self->model_paths, 0);
  gtk_string_list_splice (self->model_names, 0, g_list_model_get_n_items (G_LIST_MODEL (self->model_names)), NULL);
  gtk_label_set_text (self->status_label, "");
  show_evaluation (self);
  update_actions (self);
  bt_evaluate_page_reload_models (self);
}

const BtEvaluation *
bt_evaluate_page_get_evaluation (BtEvaluatePage *self)
{
  g_return_val_if_fail (BT_IS_EVALUATE_PAGE (self), NULL);
  return self->evaluation;
}

BtConfusionMatrix *
bt_evaluate_page_get_matrix (BtEvaluatePage *self)
{
  g_return_val_if_fail (BT_IS_EVALUATE_PAGE (self), NULL);
  return self->matrix;
}

guint
bt_evaluate_page_get_gallery_size (BtEvaluatePage *self)
{
  g_return_val_if_fail (BT_IS_EVALUATE_PAGE (self), 0);
  return self->shown->len;
}

const BtMistake *
bt_evaluate_page_get_gallery_item (BtEvaluatePage *self, guint i)
{
  g_return_val_if_fail (BT_IS_EVALUATE_PAGE (self), NULL);
  return i < self->shown->len ? self->shown->pdata[i] : NULL;
}

GtkCheckButton *
bt_evaluate_page_get_heat_toggle (BtEvaluatePage *self)
{
  g_return_val_if_fail (BT_IS_EVALUATE_PAGE (self), NULL);
  return self->heat_toggle;
}

const BtHeatmap *
bt_evaluate_page_get_heat_map (BtEvaluatePage *self, guint i)
{
  g_return_val_if_fail (BT_IS_EVALUATE_PAGE (self), NULL);
  if (i >= self->shown->len || i >= self->heat_overlays->len ||
      !bt_heat_overlay_has_map (self->heat_overlays->pdata[i]))
    return NULL;
  return g_hash_table_lookup (self->heats, ((const BtMistake *) self->shown->pdata[i])->path);
}

guint
bt_evaluate_page_get_n_heat_jobs (BtEvaluatePage *self)
{
  g_return_val_if_fail (BT_IS_EVALUATE_PAGE (self), 0);
  return self->n_heat_jobs;
}

guint
bt_evaluate_page_get_n_heat_computed (BtEvaluatePage *self)
{
  g_return_val_if_fail (BT_IS_EVALUATE_PAGE (self), 0);
  return self->n_heat_computed;
}
