/* bt-trust-panel.c: reliability diagram and class threshold on the Evaluate page (#23). Two
 * cards in a flow box, so at 800×600 they stack instead of widening the page. "Save Threshold
 * into Model" rewrites the model file on a GTask worker (load, set, atomic save). */
#include "config.h"

#include <glib/gi18n.h>
#include <math.h>

#include "bt-chart-style.h"
#include "bt-trust-panel.h"
#include "training/bt-calibration.h"

#define PLOT_W 240
#define PLOT_H 200
#define PAD 22
#define TOP 22   /* the legend's row above the plot */

struct _BtTrustPanel
{
  GtkWidget  parent_instance;
  GtkWidget *flow;
  GtkWidget *reliability, *calib_label;
  GtkWidget *classes, *threshold, *threshold_value, *pr_curve, *scores_label;
  GtkWidget *save_button, *saved_label;

  const BtEvaluation *ev;
  gboolean   setting;
  /* the evaluated model file and its saved thresholds (n_classes, NAN: none; NULL: none at all) */
  char      *model_path;
  double    *saved;
  GCancellable *save_cancellable;   /* the save in flight, or NULL */
  /* reliability bins (after = at the model's temperature, before = at T = 1) */
  guint      count[BT_ECE_BINS], count_raw[BT_ECE_BINS];
  double     conf[BT_ECE_BINS], acc[BT_ECE_BINS], conf_raw[BT_ECE_BINS], acc_raw[BT_ECE_BINS];
  /* the chosen class's precision–recall curve: (recall, precision) pairs, by falling threshold */
  GArray    *curve;
};

G_DEFINE_FINAL_TYPE (BtTrustPanel, bt_trust_panel, GTK_TYPE_WIDGET)

enum { THRESHOLD_SAVED, N_SIGNALS };
static guint signals[N_SIGNALS];

/* ---- Drawing ---- */

static void
plot_frame (cairo_t *cr, const BtChartStyle *st, double w, double h)
{
  bt_chart_style_set_color (cr, &st->fg, 0.35);
  cairo_set_line_width (cr, 1);
  cairo_move_to (cr, PAD + 0.5, TOP);
  cairo_line_to (cr, PAD + 0.5, h - PAD + 0.5);
  cairo_line_to (cr, w - 4, h - PAD + 0.5);
  cairo_stroke (cr);
  cairo_set_font_size (cr, 9);
  bt_chart_style_set_color (cr, &st->fg, 0.6);
  cairo_move_to (cr, 0, TOP + 8);
  cairo_show_text (cr, "100%");
  cairo_move_to (cr, 8, h - PAD + 3);
  cairo_show_text (cr, "0");
  cairo_move_to (cr, w - 28, h - 8);
  cairo_show_text (cr, "100%");
}

static void
draw_reliability (GtkDrawingArea *area, cairo_t *cr, int width, int height, gpointer data)
{
  BtTrustPanel *self = data;
  BtChartStyle st;
  double pw = width - PAD - 4, ph = height - PAD - TOP, bw = pw / BT_ECE_BINS;
  gboolean calibrated = self->ev != NULL && self->ev->temperature != 1.0;

  bt_chart_style_init (&st, GTK_WIDGET (area));
  plot_frame (cr, &st, width, height);
  if (self->ev == NULL)
    return;
  /* perfect calibration: the diagonal */
  bt_chart_style_set_color (cr, &st.fg, 0.4);
  cairo_set_dash (cr, (double[]) { 4, 3 }, 2, 0);
  cairo_move_to (cr, PAD, TOP + ph);
  cairo_line_to (cr, PAD + pw, TOP);
  cairo_stroke (cr);
  cairo_set_dash (cr, NULL, 0, 0);
  for (int b = 0; b < BT_ECE_BINS; b++)
    {
      double x = PAD + b * bw;
      if (self->count[b] > 0)
        {
          bt_chart_style_set_color (cr, &st.accent, 0.75);
          cairo_rectangle (cr, x + 1, TOP + ph * (1 - self->acc[b]), bw - 2, ph * self->acc[b]);
          cairo_fill (cr);
        }
      if (calibrated && self->count_raw[b] > 0)
        {
          /* before: a bar outline in the muted colour */
          bt_chart_style_set_color (cr, &st.bad, 0.9);
          cairo_set_line_width (cr, 1.5);
          cairo_rectangle (cr, x + 1.5, TOP + ph * (1 - self->acc_raw[b]), bw - 3, ph * self->acc_raw[b]);
          cairo_stroke (cr);
        }
    }
  /* axes */
  cairo_set_font_size (cr, 9);
  bt_chart_style_set_color (cr, &st.fg, 0.6);
  cairo_move_to (cr, PAD + pw / 2 - 30, height - 8);
  /* Translators: x axis of the reliability diagram: the confidence the model gave */
  cairo_show_text (cr, _("it said →"));
  cairo_save (cr);
  cairo_move_to (cr, 10, TOP + ph / 2 + 30);
  cairo_rotate (cr, -G_PI / 2);
  /* Translators: y axis of the reliability diagram: the share of right answers */
  cairo_show_text (cr, _("it was right →"));
  cairo_restore (cr);
  /* legend, one row above the plot */
  cairo_set_font_size (cr, 10);
  bt_chart_style_set_color (cr, &st.accent, 0.75);
  cairo_rectangle (cr, PAD + 4, 4, 10, 10);
  cairo_fill (cr);
  bt_chart_style_set_color (cr, &st.fg, 0.85);
  cairo_move_to (cr, PAD + 18, 13);
  cairo_show_text (cr, calibrated ? _("calibrated") : _("right answers"));
  if (calibrated)
    {
      double x = PAD + pw / 2 + 4;
      bt_chart_style_set_color (cr, &st.bad, 0.9);
      cairo_rectangle (cr, x + 0.5, 4.5, 9, 9);
      cairo_stroke (cr);
      bt_chart_style_set_color (cr, &st.fg, 0.85);
      cairo_move_to (cr, x + 14, 13);
      cairo_show_text (cr, _("uncalibrated"));
    }
}

static void
draw_pr_curve (GtkDrawingArea *area, cairo_t *cr, int width, int height, gpointer data)
{
  BtTrustPanel *self = data;
  BtChartStyle st;
  double pw = width - PAD - 4, ph = height - PAD - TOP;
  double t = gtk_range_get_value (GTK_RANGE (self->threshold));
  gboolean started = FALSE;
  double mx = NAN, my = NAN;

  bt_chart_style_init (&st, GTK_WIDGET (area));
  plot_frame (cr, &st, width, height);
  if (self->curve == NULL || self->curve->len == 0)
    return;
  bt_chart_style_set_color (cr, &st.accent, 1);
  cairo_set_line_width (cr, 2);
  for (guint i = 0; i < self->curve->len; i++)
    {
      const graphene_point3d_t *p = &g_array_index (self->curve, graphene_point3d_t, i);
      double x = PAD + pw * p->x, y = TOP + ph * (1 - p->y);   /* x recall, y precision, z threshold */
      if (!started)
        cairo_move_to (cr, x, y);
      else
        cairo_line_to (cr, x, y);
      started = TRUE;
      if (p->z >= t)
        {
          mx = x;
          my = y;
        }
    }
  cairo_stroke (cr);
  if (!isnan (mx))
    {
      bt_chart_style_set_color (cr, &st.bad, 1);
      cairo_arc (cr, mx, my, 5, 0, 2 * G_PI);
      cairo_fill (cr);
    }
  cairo_set_font_size (cr, 10);
  bt_chart_style_set_color (cr, &st.fg, 0.7);
  cairo_move_to (cr, PAD + 4, 13);
  /* Translators: axes of the precision–recall curve, very short */
  cairo_show_text (cr, _("↑ precision   → recall"));
}

/* ---- Calibration in words ---- */

static void
update_reliability (BtTrustPanel *self)
{
  const BtEvaluation *ev = self->ev;
  guint n = ev ? ev->all->len : 0;
  g_autofree float *conf = g_new (float, MAX (n, 1)), *raw = g_new (float, MAX (n, 1));
  g_autofree gboolean *hit = g_new (gboolean, MAX (n, 1));
  g_autofree char *text = NULL;
  int best = -1;

  for (guint i = 0; i < n; i++)
    {
      const BtMistake *m = g_ptr_array_index (ev->all, i);
      conf[i] = m->confidence;
      raw[i] = m->raw_confidence;
      hit[i] = m->pred_class == m->true_class;
    }
  bt_calibration_reliability (conf, hit, n, BT_ECE_BINS, self->count, self->conf, self->acc);
  bt_calibration_reliability (raw, hit, n, BT_ECE_BINS, self->count_raw, self->conf_raw, self->acc_raw);
  /* the sentence speaks of the busiest bin of confident answers */
  for (int b = BT_ECE_BINS / 2; b < BT_ECE_BINS; b++)
    if (self->count[b] > 0 && (best < 0 || self->count[b] >= self->count[best]))
      best = b;
  if (n == 0)
    text = g_strdup ("");
  else if (best < 0)
    text = g_strdup (_("The model is rarely sure of its answers here (all below 50%)."));
  else
    {
      /* Translators: the reliability diagram in words, e.g. "When it says 90%, it is right 88% of the time (41 images)." */
      g_autofree char *said = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE,
                                                            "When it says %.0f%%, it is right %.0f%% of the time (%u image).",
                                                            "When it says %.0f%%, it is right %.0f%% of the time (%u images).",
                                                            self->count[best]),
                                               100 * self->conf[best], 100 * self->acc[best], self->count[best]);
      if (ev->temperature != 1.0)
        /* Translators: after the sentence above; calibration error in percentage points, and the fitted temperature */
        text = g_strdup_printf (_("%s Calibration error %.1f%% before temperature scaling, %.1f%% after (temperature %.2f)."),
                                said, 100 * ev->ece_before, 100 * ev->ece_after, ev->temperature);
      else
        text = g_strdup_printf (_("%s Calibration error %.1f%% (this model was saved without temperature scaling)."),
                                said, 100 * ev->ece_after);
    }
  gtk_label_set_text (GTK_LABEL (self->calib_label), text);
  gtk_widget_queue_draw (self->reliability);
}

/* ---- One class's threshold ---- */

static int
compare_desc (gconstpointer a, gconstpointer b)
{
  const float *x = a, *y = b;
  return (*x < *y) - (*x > *y);
}

static int
chosen_class (BtTrustPanel *self)
{
  guint sel = gtk_drop_down_get_selected (GTK_DROP_DOWN (self->classes));
  return self->ev == NULL || sel == GTK_INVALID_LIST_POSITION || (int) sel >= self->ev->n_classes ? -1 : (int) sel;
}

/* scores of the class and which images are of it */
static guint
class_scores (BtTrustPanel *self, int cls, float **scores, gboolean **positive)
{
  guint n = self->ev->all->len;

  *scores = g_new (float, MAX (n, 1));
  *positive = g_new (gboolean, MAX (n, 1));
  for (guint i = 0; i < n; i++)
    {
      const BtMistake *m = g_ptr_array_index (self->ev->all, i);
      (*scores)[i] = m->probs[cls];
      (*positive)[i] = m->true_class == cls;
    }
  return n;
}

static void
update_scores (BtTrustPanel *self)
{
  int cls = chosen_class (self);
  double t = gtk_range_get_value (GTK_RANGE (self->threshold)), p, r;
  g_autofree float *scores = NULL;
  g_autofree gboolean *positive = NULL;
  g_autofree char *pt = NULL, *rt = NULL, *text = NULL, *value = g_strdup_printf ("%.0f%%", 100 * t);
  guint n, n_pos = 0;

  gtk_label_set_text (GTK_LABEL (self->threshold_value), value);
  gtk_widget_queue_draw (self->pr_curve);
  if (cls < 0)
    {
      gtk_label_set_text (GTK_LABEL (self->scores_label), "");
      return;
    }
  n = class_scores (self, cls, &scores, &positive);
  for (guint i = 0; i < n; i++)
    n_pos += positive[i];
  bt_threshold_scores (scores, positive, n, t, &p, &r);
  pt = isnan (p) ? g_strdup ("—") : g_strdup_printf ("%.0f%%", 100 * p);
  rt = isnan (r) ? g_strdup ("—") : g_strdup_printf ("%.0f%%", 100 * r);
  /* Translators: under the threshold slider: "Called “cat” when at least 50%: precision 93%, recall 80% (25 images of “cat”)" */
  text = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE,
                                       "Called “%s” when at least %.0f%%: precision %s, recall %s (%u image of “%s”)",
                                       "Called “%s” when at least %.0f%%: precision %s, recall %s (%u images of “%s”)", n_pos),
                          self->ev->class_names[cls], 100 * t, pt, rt, n_pos, self->ev->class_names[cls]);
  gtk_label_set_text (GTK_LABEL (self->scores_label), text);
}

static void
update_curve (BtTrustPanel *self)
{
  int cls = chosen_class (self);
  g_autofree float *scores = NULL;
  g_autofree gboolean *positive = NULL;
  g_autofree float *sorted = NULL;
  guint n;

  g_array_set_size (self->curve, 0);
  if (cls >= 0)
    {
      n = class_scores (self, cls, &scores, &positive);
      sorted = g_memdup2 (scores, sizeof (float) * MAX (n, 1));
      qsort (sorted, n, sizeof (float), compare_desc);
      /* one point per distinct score, at most ~200 */
      for (guint i = 0; i < n; i += MAX (1, n / 200))
        {
          double p, r;
          if (i > 0 && sorted[i] == sorted[i - 1])
            continue;
          bt_threshold_scores (scores, positive, n, sorted[i], &p, &r);
          if (!isnan (p) && !isnan (r))
            {
              graphene_point3d_t pt = { (float) r, (float) p, sorted[i] };
              g_array_append_val (self->curve, pt);
            }
        }
    }
  update_scores (self);
}

/* ---- The saved threshold ---- */

static double
saved_threshold (BtTrustPanel *self, int cls)
{
  return self->saved != NULL && cls >= 0 ? self->saved[cls] : NAN;
}

static void
update_saved (BtTrustPanel *self)
{
  int cls = chosen_class (self);
  double t = saved_threshold (self, cls);
  g_autofree char *text = NULL;

  gtk_widget_set_sensitive (self->save_button, cls >= 0 && self->model_path != NULL && self->save_cancellable == NULL);
  if (self->save_cancellable != NULL)
    return;
  if (cls < 0 || self->model_path == NULL)
    text = g_strdup ("");
  else if (isnan (t))
    /* Translators: under the Save Threshold button */
    text = g_strdup_printf (_("No threshold saved for “%s”: its answers are always accepted."), self->ev->class_names[cls]);
  else
    /* Translators: under the Save Threshold button; predict and serve are bottega-cli commands */
    text = g_strdup_printf (_("Saved in the model: “%s” is accepted at %.0f%% or more (the Test page, predict and serve hold back lower answers)."),
                            self->ev->class_names[cls], 100 * t);
  gtk_label_set_text (GTK_LABEL (self->saved_label), text);
}

static void
class_chosen_cb (BtTrustPanel *self)
{
  double t;

  if (self->setting)
    return;
  /* a class with a saved threshold starts there */
  t = saved_threshold (self, chosen_class (self));
  if (!isnan (t))
    gtk_range_set_value (GTK_RANGE (self->threshold), t);
  update_curve (self);
  update_saved (self);
}

typedef struct {
  GWeakRef  panel;
  char     *path;
  char     *class_name;   /* the class as evaluated: the file must still have it at that index */
  int       cls;
  double    value;        /* 0: remove */
  double   *saved;        /* out: the file's thresholds after the save */
  int       n_classes;
} SaveJob;

static void
save_job_free (SaveJob *job)
{
  g_weak_ref_clear (&job->panel);
  g_free (job->path);
  g_free (job->class_name);
  g_free (job->saved);
  g_free (job);
}

static void
save_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  SaveJob *job = task_data;
  g_autoptr(BtModel) model = NULL;
  GError *error = NULL;

  model = bt_model_load (job->path, &error);
  if (model != NULL && (job->cls >= bt_net_n_classes (model->net) ||
                        g_strcmp0 (model->class_names[job->cls], job->class_name) != 0))
    g_set_error_literal (&error, G_IO_ERROR, G_IO_ERROR_FAILED,
                         _("The model file changed since it was evaluated: evaluate it again"));
  if (error == NULL && !g_cancellable_set_error_if_cancelled (cancellable, &error) &&
      bt_model_set_threshold (model, job->cls, job->value, &error) &&
      bt_model_save_model (job->path, model, &error))
    {
      job->n_classes = bt_net_n_classes (model->net);
      job->saved = g_new (double, job->n_classes);
      for (int k = 0; k < job->n_classes; k++)
        job->saved[k] = bt_model_get_threshold (model, k);
      g_task_return_boolean (task, TRUE);
      return;
    }
  g_task_return_error (task, error);
}

static void
save_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  SaveJob *job = g_task_get_task_data (G_TASK (result));
  g_autoptr(BtTrustPanel) self = g_weak_ref_get (&job->panel);
  g_autoptr(GError) error = NULL;
  gboolean ok = g_task_propagate_boolean (G_TASK (result), &error);

  if (self == NULL || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  g_clear_object (&self->save_cancellable);
  if (ok && self->ev != NULL && job->n_classes == self->ev->n_classes && g_strcmp0 (job->path, self->model_path) == 0)
    {
      g_free (self->saved);
      self->saved = g_steal_pointer (&job->saved);
    }
  update_saved (self);
  if (!ok)
    {
      /* Translators: under the Save Threshold button */
      g_autofree char *text = g_strdup_printf (_("The threshold could not be saved: %s"), error->message);
      gtk_label_set_text (GTK_LABEL (self->saved_label), text);
      return;
    }
  g_signal_emit (self, signals[THRESHOLD_SAVED], 0, job->path);
}

static void
save_clicked_cb (BtTrustPanel *self)
{
  int cls = chosen_class (self);
  g_autoptr(GTask) task = NULL;
  SaveJob *job;

  if (cls < 0 || self->model_path == NULL || self->save_cancellable != NULL)
    return;
  job = g_new0 (SaveJob, 1);
  g_weak_ref_init (&job->panel, self);
  job->path = g_strdup (self->model_path);
  job->class_name = g_strdup (self->ev->class_names[cls]);
  job->cls = cls;
  job->value = gtk_range_get_value (GTK_RANGE (self->threshold));
  self->save_cancellable = g_cancellable_new ();
  update_saved (self);
  gtk_label_set_text (GTK_LABEL (self->saved_label), _("Saving the threshold into the model…"));
  task = g_task_new (NULL, self->save_cancellable, save_done_cb, NULL);
  g_task_set_task_data (task, job, (GDestroyNotify) save_job_free);
  g_task_run_in_thread (task, save_thread);
}

void
bt_trust_panel_set_model (BtTrustPanel *self, const char *path, const double *thresholds)
{
  double t;

  g_return_if_fail (BT_IS_TRUST_PANEL (self));
  /* a save in flight finishes, but its answer no longer belongs here */
  if (self->save_cancellable != NULL)
    g_cancellable_cancel (self->save_cancellable);
  g_clear_object (&self->save_cancellable);
  g_free (self->model_path);
  self->model_path = g_strdup (path);
  g_clear_pointer (&self->saved, g_free);
  if (thresholds != NULL && self->ev != NULL)
    self->saved = g_memdup2 (thresholds, sizeof (double) * self->ev->n_classes);
  t = saved_threshold (self, chosen_class (self));
  if (!isnan (t))
    gtk_range_set_value (GTK_RANGE (self->threshold), t);
  update_saved (self);
}

void
bt_trust_panel_set_evaluation (BtTrustPanel *self, const BtEvaluation *ev)
{
  g_autoptr(GtkStringList) names = NULL;

  g_return_if_fail (BT_IS_TRUST_PANEL (self));
  self->ev = ev;
  names = gtk_string_list_new (ev ? (const char * const *) ev->class_names : NULL);
  self->setting = TRUE;
  gtk_drop_down_set_model (GTK_DROP_DOWN (self->classes), G_LIST_MODEL (names));
  gtk_drop_down_set_selected (GTK_DROP_DOWN (self->classes), ev && ev->n_classes > 0 ? 0 : GTK_INVALID_LIST_POSITION);
  self->setting = FALSE;
  gtk_widget_set_visible (GTK_WIDGET (self), ev != NULL && ev->all->len > 0);
  bt_trust_panel_set_model (self, NULL, NULL);
  update_reliability (self);
  update_curve (self);
}

/* ---- Construction ---- */

static GtkWidget *
card (BtTrustPanel *self, const char *title, GtkWidget **box)
{
  GtkWidget *heading = gtk_label_new (title);

  *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 6);
  gtk_widget_add_css_class (heading, "heading");
  gtk_label_set_xalign (GTK_LABEL (heading), 0);
  gtk_box_append (GTK_BOX (*box), heading);
  gtk_flow_box_append (GTK_FLOW_BOX (self->flow), *box);
  return *box;
}

static GtkWidget *
plot (GtkDrawingAreaDrawFunc draw, BtTrustPanel *self, const char *a11y)
{
  GtkWidget *area = gtk_drawing_area_new ();

  gtk_drawing_area_set_content_width (GTK_DRAWING_AREA (area), PLOT_W);
  gtk_drawing_area_set_content_height (GTK_DRAWING_AREA (area), PLOT_H);
  gtk_drawing_area_set_draw_func (GTK_DRAWING_AREA (area), draw, self, NULL);
  gtk_widget_set_halign (area, GTK_ALIGN_START);
  gtk_accessible_update_property (GTK_ACCESSIBLE (area), GTK_ACCESSIBLE_PROPERTY_LABEL, a11y, -1);
  return area;
}

static GtkWidget *
wrapped_label (void)
{
  GtkWidget *label = gtk_label_new (NULL);

  gtk_label_set_wrap (GTK_LABEL (label), TRUE);
  gtk_label_set_xalign (GTK_LABEL (label), 0);
  gtk_label_set_max_width_chars (GTK_LABEL (label), 44);
  gtk_label_set_width_chars (GTK_LABEL (label), 30);
  return label;
}

static void
bt_trust_panel_init (BtTrustPanel *self)
{
  GtkWidget *box, *row;

  self->curve = g_array_new (FALSE, FALSE, sizeof (graphene_point3d_t));
  self->flow = gtk_flow_box_new ();
  gtk_flow_box_set_selection_mode (GTK_FLOW_BOX (self->flow), GTK_SELECTION_NONE);
  gtk_flow_box_set_max_children_per_line (GTK_FLOW_BOX (self->flow), 2);
  gtk_flow_box_set_column_spacing (GTK_FLOW_BOX (self->flow), 24);
  gtk_flow_box_set_row_spacing (GTK_FLOW_BOX (self->flow), 12);
  gtk_widget_set_parent (self->flow, GTK_WIDGET (self));

  card (self, _("Are its percentages honest?"), &box);
  self->reliability = plot (draw_reliability, self,
                            _("Reliability diagram: how often the model is right at each confidence"));
  gtk_widget_set_tooltip_text (self->reliability,
                               _("Each bar: the answers given with that confidence, and how many of them were right. "
                                 "On the dashed line the percentages mean what they say."));
  gtk_box_append (GTK_BOX (box), self->reliability);
  self->calib_label = wrapped_label ();
  gtk_box_append (GTK_BOX (box), self->calib_label);

  card (self, _("Threshold for one class"), &box);
  row = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 6);
  self->classes = gtk_drop_down_new (NULL, NULL);
  gtk_widget_set_tooltip_text (self->classes, _("The class whose threshold you try"));
  g_signal_connect_swapped (self->classes, "notify::selected", G_CALLBACK (class_chosen_cb), self);
  gtk_box_append (GTK_BOX (row), self->classes);
  self->threshold = gtk_scale_new_with_range (GTK_ORIENTATION_HORIZONTAL, 0.0, 1.0, 0.01);
  gtk_range_set_value (GTK_RANGE (self->threshold), 0.5);
  gtk_scale_set_draw_value (GTK_SCALE (self->threshold), FALSE);
  gtk_widget_set_hexpand (self->threshold, TRUE);
  gtk_widget_set_size_request (self->threshold, 100, -1);
  gtk_widget_set_tooltip_text (self->threshold,
                               _("Say this class only when the model is at least this sure: higher means fewer "
                                 "false alarms (precision) but more images missed (recall)"));
  gtk_accessible_update_property (GTK_ACCESSIBLE (self->threshold), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _("Threshold"), -1);
  g_signal_connect_swapped (self->threshold, "value-changed", G_CALLBACK (update_scores), self);
  gtk_box_append (GTK_BOX (row), self->threshold);
  self->threshold_value = gtk_label_new ("50%");
  gtk_label_set_width_chars (GTK_LABEL (self->threshold_value), 4);
  gtk_box_append (GTK_BOX (row), self->threshold_value);
  gtk_box_append (GTK_BOX (box), row);
  self->pr_curve = plot (draw_pr_curve, self, _("Precision–recall curve of the chosen class"));
  gtk_box_append (GTK_BOX (box), self->pr_curve);
  self->scores_label = wrapped_label ();
  gtk_box_append (GTK_BOX (box), self->scores_label);
  self->save_button = gtk_button_new_with_mnemonic (_("_Save Threshold into Model"));
  gtk_widget_set_halign (self->save_button, GTK_ALIGN_START);
  gtk_widget_set_tooltip_text (self->save_button,
                               _("Store this threshold in the model file: below it, the Test page, predict and serve "
                                 "do not accept this class’s answer. 0% removes it."));
  g_signal_connect_swapped (self->save_button, "clicked", G_CALLBACK (save_clicked_cb), self);
  gtk_box_append (GTK_BOX (box), self->save_button);
  self->saved_label = wrapped_label ();
  gtk_widget_add_css_class (self->saved_label, "dim-label");
  gtk_box_append (GTK_BOX (box), self->saved_label);
  gtk_widget_set_visible (GTK_WIDGET (self), FALSE);
}

static void
bt_trust_panel_dispose (GObject *object)
{
  BtTrustPanel *self = BT_TRUST_PANEL (object);

  if (self->save_cancellable != NULL)
    g_cancellable_cancel (self->save_cancellable);
  g_clear_object (&self->save_cancellable);
  g_clear_pointer (&self->model_path, g_free);
  g_clear_pointer (&self->saved, g_free);
  g_clear_pointer (&self->flow, gtk_widget_unparent);
  g_clear_pointer (&self->curve, g_array_unref);
  G_OBJECT_CLASS (bt_trust_panel_parent_class)->dispose (object);
}

static void
bt_trust_panel_class_init (BtTrustPanelClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = bt_trust_panel_dispose;
  signals[THRESHOLD_SAVED] = g_signal_new ("threshold-saved", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                           NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
  gtk_widget_class_set_layout_manager_type (GTK_WIDGET_CLASS (klass), GTK_TYPE_BIN_LAYOUT);
}

const char *
bt_trust_panel_get_calibration_text (BtTrustPanel *self)
{
  g_return_val_if_fail (BT_IS_TRUST_PANEL (self), NULL);
  return gtk_label_get_text (GTK_LABEL (self->calib_label));
}

GtkRange *
bt_trust_panel_get_threshold (BtTrustPanel *self)
{
  g_return_val_if_fail (BT_IS_TRUST_PANEL (self), NULL);
  return GTK_RANGE (self->threshold);
}

GtkDropDown *
bt_trust_panel_get_class_dropdown (BtTrustPanel *self)
{
  g_return_val_if_fail (BT_IS_TRUST_PANEL (self), NULL);
  return GTK_DROP_DOWN (self->classes);
}

const char *
bt_trust_panel_get_scores_text (BtTrustPanel *self)
{
  g_return_val_if_fail (BT_IS_TRUST_PANEL (self), NULL);
  return gtk_label_get_text (GTK_LABEL (self->scores_label));
}

GtkButton *
bt_trust_panel_get_save_button (BtTrustPanel *self)
{
  g_return_val_if_fail (BT_IS_TRUST_PANEL (self), NULL);
  return GTK_BUTTON (self->save_button);
}

const char *
bt_trust_panel_get_saved_text (BtTrustPanel *self)
{
  g_return_val_if_fail (BT_IS_TRUST_PANEL (self), NULL);
  return gtk_label_get_text (GTK_LABEL (self->saved_label));
}

gboolean
bt_trust_panel_is_saving (BtTrustPanel *self)
{
  g_return_val_if_fail (BT_IS_TRUST_PANEL (self), FALSE);
  return self->save_cancellable != NULL;
}
