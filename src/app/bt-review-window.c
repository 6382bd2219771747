/* bt-review-window.c: the Review window (see bt-review-window.h). The list shows the open
 * findings of one kind; acting on one (relabel, exclude, keep) resolves it and the next one is
 * shown. A log of this window's own actions lets Ctrl+Z undo a Keep as well as a relabel.
 * Retrain starts a run through the Train page (its one trainer, its run lock) and compares the
 * validation accuracy in the metadata of the model before (the project's model when Retrain
 * was pressed) and of the new one; both files are read on a worker. */
#include "config.h"

#include <glib/gi18n.h>
#include <math.h>

#include "bt-review-window.h"
#include "bt-thumbnailer.h"
#include "bt-window.h"
#include "dataset/bt-undo.h"
#include "training/bt-run-files.h"

#define MAX_ROWS   400    /* rows listed per kind; the rest are counted */
#define ROW_THUMB  48
#define BIG_THUMB  480

typedef struct {
  guint    finding;
  gboolean stack_step;   /* undo one step of the project's undo stack */
  gboolean kept;         /* and/or take the finding out of the kept set */
} LogEntry;

struct _BtReviewWindow
{
  GtkWindow parent_instance;

  /* Template widgets */
  GtkButton      *run_button;
  GtkButton      *undo_button;
  GtkWidget      *progress_box;
  GtkProgressBar *progress_bar;
  GtkLabel       *summary_label;
  GtkBox         *kind_box;
  GtkListBox     *list;
  GtkWidget      *detail_box;
  GtkBox         *pictures_box;
  GtkLabel       *detail_label;
  GtkWidget      *actions_box;
  GtkButton      *accept_button;
  GtkMenuButton  *move_button;
  GtkButton      *exclude_button;
  GtkButton      *keep_button;
  GtkLabel       *keys_label;
  GtkButton      *retrain_button;
  GtkLabel       *retrain_label;

  /* Owned */
  BtProject      *project;
  BtDoctorState  *state;
  BtThumbnailer  *small_thumbs, *big_thumbs;
  GtkToggleButton *kind_buttons[BT_FINDING_N_KINDS];
  BtFindingKind   kind;
  GArray         *shown;          /* guint: finding indices listed */
  guint           current;        /* finding index shown large, or G_MAXUINT */
  guint           position;       /* its row: what to select when it goes */
  GArray         *log;            /* LogEntry */
  const BtDoctorReport *report;   /* the one the findings, log and current refer to (not owned) */
  gboolean        rebuilding;
  gboolean        retraining;     /* from Retrain until the comparison is shown */
  GCancellable   *retrain_cancellable;   /* the model look-ups */
  BtTrainer      *retrainer;      /* the run Retrain started, until it ends */
  char           *before_model;   /* the project's model when Retrain was pressed, or NULL */
  double          before_acc;     /* its validation accuracy (NAN: none) */
};

G_DEFINE_FINAL_TYPE (BtReviewWindow, bt_review_window, GTK_TYPE_WINDOW)

static const char *split_names[] = { N_("Training"), N_("Validation"), N_("Test") };

static const BtFinding *
finding_at (BtReviewWindow *self, guint index)
{
  GArray *all = bt_doctor_state_get_findings (self->state);
  return index < all->len ? &g_array_index (all, BtFinding, index) : NULL;
}

const BtFinding *
bt_review_window_get_current (BtReviewWindow *self)
{
  g_return_val_if_fail (BT_IS_REVIEW_WINDOW (self), NULL);
  return self->current == G_MAXUINT ? NULL : finding_at (self, self->current);
}

static const char *
kind_title (BtFindingKind kind)
{
  switch (kind)
    {
    case BT_FINDING_LABEL: return _("Labels");
    case BT_FINDING_DUPLICATE: return _("Duplicates");
    case BT_FINDING_OUTLIER: return _("Outliers");
    case BT_FINDING_QUALITY: return _("Quality");
    case BT_FINDING_N_KINDS: default: break;
    }
  return "";
}

/* ---- Thumbnails ---- */

static void
thumb_ready_cb (GdkTexture *texture, const GError *error, gpointer user_data)
{
  if (texture != NULL)
    gtk_picture_set_paintable (GTK_PICTURE (user_data), GDK_PAINTABLE (texture));
}

static GtkWidget *
picture_new (BtThumbnailer *thumbs, const char *path, int size)
{
  GtkWidget *picture = gtk_picture_new ();
  GdkTexture *cached = bt_thumbnailer_lookup (thumbs, path);
  g_autofree char *name = g_filename_display_basename (path);

  gtk_widget_set_size_request (picture, size, size);
  gtk_picture_set_can_shrink (GTK_PICTURE (picture), TRUE);
  gtk_accessible_update_property (GTK_ACCESSIBLE (picture), GTK_ACCESSIBLE_PROPERTY_LABEL, name, -1);
  if (cached != NULL)
    gtk_picture_set_paintable (GTK_PICTURE (picture), GDK_PAINTABLE (cached));
  else
    bt_thumbnailer_request (thumbs, path, thumb_ready_cb, g_object_ref (picture), g_object_unref);
  return picture;
}

/* ---- Texts ---- */

static const char *
report_path (BtReviewWindow *self, guint item)
{
  return bt_doctor_report_path (bt_doctor_state_get_report (self->state), item);
}

static char *
problems_text (guint problems)
{
  static const char *names[BT_DOCTOR_N_PROBLEMS] = {
    N_("dark"), N_("overexposed"), N_("low contrast"), N_("blurry"), N_("tiny"), N_("extreme aspect ratio"),
  };
  GString *s = g_string_new (NULL);
  for (int bit = 0; bit < BT_DOCTOR_N_PROBLEMS; bit++)
    if (problems & (1u << bit))
      {
        if (s->len > 0)
          g_string_append (s, ", ");
        g_string_append (s, _(names[bit]));
      }
  return g_string_free (s, FALSE);
}

static const char *
item_class (BtReviewWindow *self, guint report_item)
{
  BtItem *item = bt_doctor_state_get_item (self->state, report_item);
  return item != NULL ? bt_item_get_class_name (item) : "";
}

static const char *
item_split (BtReviewWindow *self, guint report_item)
{
  BtSplit split = bt_doctor_report_split (bt_doctor_state_get_report (self->state), report_item);
  return _(split_names[CLAMP ((int) split, 0, 2)]);
}

/* One line under a row's name. */
static char *
finding_subtitle (BtReviewWindow *self, const BtFinding *f)
{
  const BtDoctorReport *r = bt_doctor_state_get_report (self->state);
  switch (f->kind)
    {
    case BT_FINDING_LABEL:
      /* TRANSLATORS: a suspected label: "cat → dog?": given class, suggested class */
      return g_strdup_printf (_("%s → %s?"), bt_doctor_report_class (r, f->label),
                              bt_doctor_report_class (r, f->suggested));
    case BT_FINDING_DUPLICATE:
      {
        const BtDoctorDuplicate d = { f->a, f->b, f->score };
        if (bt_doctor_duplicate_is_leakage (r, &d))
          return g_strdup_printf (_("leakage: %s and %s"), item_split (self, f->a), item_split (self, f->b));
        if (bt_doctor_duplicate_is_conflict (r, &d))
          return g_strdup_printf (_("conflict: %s and %s"), item_class (self, f->a), item_class (self, f->b));
        return g_strdup (_("copies in the same split"));
      }
    case BT_FINDING_OUTLIER:
      return g_strdup_printf (_("%s · unlike the others (%.0f%%)"), item_class (self, f->a), 100.0 * f->score);
    case BT_FINDING_QUALITY:
      return problems_text (f->problems);
    case BT_FINDING_N_KINDS: default:
      break;
    }
  return g_strdup ("");
}

static char *
finding_detail (BtReviewWindow *self, const BtFinding *f)
{
  const BtDoctorReport *r = bt_doctor_state_get_report (self->state);
  g_autofree char *name = g_filename_display_basename (report_path (self, f->a));
  switch (f->kind)
    {
    case BT_FINDING_LABEL:
      {
        double p = 100.0 * (1.0 - f->score);
        g_autofree char *chance = p < 1.0 ? g_strdup (_("less than 1%")) : g_strdup_printf ("%.0f%%", p);
        /* TRANSLATORS: %1 file name, %2 its class, %3 suggested class, %4 a chance such as "12%" */
        return g_strdup_printf (_("“%s” is labelled “%s”, but a model that never saw it says “%s”: it gives "
                                  "that label %s."),
                                name, bt_doctor_report_class (r, f->label), bt_doctor_report_class (r, f->suggested),
                                chance);
      }
    case BT_FINDING_DUPLICATE:
      {
        const BtDoctorDuplicate d = { f->a, f->b, f->score };
        if (bt_doctor_duplicate_is_leakage (r, &d))
          return g_strdup (_("The same photo is in two splits: the copy in the held-out split makes the "
                             "accuracy look better than it is. Delete excludes the right-hand copy."));
        if (bt_doctor_duplicate_is_conflict (r, &d))
          return g_strdup (_("The same photo carries two different labels. Move the right-hand copy to the "
                             "right class (1–9), or exclude it (Delete)."));
        return g_strdup (_("Two copies of one photo count twice in training. Delete excludes the right-hand "
                           "copy."));
      }
    case BT_FINDING_OUTLIER:
      return g_strdup_printf (_("“%s” looks unlike every other image of the project: a photo that does not "
                                "belong to any class, or a class with too few examples like it."), name);
    case BT_FINDING_QUALITY:
      {
        g_autofree char *p = problems_text (f->problems);
        /* TRANSLATORS: %1 file name, %2 a list such as "dark, blurry" */
        return g_strdup_printf (_("“%s” is %s."), name, p);
      }
    case BT_FINDING_N_KINDS: default:
      break;
    }
  return g_strdup ("");
}

/* The image the keys act on: the right-hand copy of a pair, else the one image. */
static guint
target_item (const BtFinding *f)
{
  return f->kind == BT_FINDING_DUPLICATE ? f->b : f->a;
}

/* ---- The large view ---- */

static GtkWidget *
picture_with_caption (BtReviewWindow *self, guint item)
{
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 4);
  GtkWidget *picture = picture_new (self->big_thumbs, report_path (self, item), 160);
  /* TRANSLATORS: under a large image: its class and split, e.g. "cat · Training" */
  g_autofree char *text = g_strdup_printf (_("%s · %s"), item_class (self, item), item_split (self, item));
  GtkWidget *caption = gtk_label_new (text);

  gtk_widget_set_vexpand (picture, TRUE);
  gtk_label_set_ellipsize (GTK_LABEL (caption), PANGO_ELLIPSIZE_END);
  gtk_box_append (GTK_BOX (box), picture);
  gtk_box_append (GTK_BOX (box), caption);
  return box;
}

static void
update_move_menu (BtReviewWindow *self, const char *now)
{
  g_autoptr(GMenu) menu = g_menu_new ();
  GListModel *classes = bt_project_get_classes (self->project);

  for (guint k = 0; k < g_list_model_get_n_items (classes); k++)
    {
      g_autoptr(BtClassInfo) info = g_list_model_get_item (classes, k);
      const char *name = bt_class_info_get_name (info);
      g_autofree char *label = k < 9 ? g_strdup_printf ("%u  %s", k + 1, name) : g_strdup (name);
      g_autoptr(GMenuItem) item = NULL;

      if (g_strcmp0 (name, now) == 0)
        continue;
      item = g_menu_item_new (label, NULL);
      g_menu_item_set_action_and_target_value (item, "review.move", g_variant_new_string (name));
      g_menu_append_item (menu, item);
    }
  gtk_menu_button_set_menu_model (self->move_button, G_MENU_MODEL (menu));
}

static void
show_detail (BtReviewWindow *self)
{
  const BtFinding *f = bt_review_window_get_current (self);
  GtkWidget *child;

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->pictures_box))) != NULL)
    gtk_box_remove (self->pictures_box, child);
  gtk_widget_set_visible (self->actions_box, f != NULL);
  gtk_widget_set_visible (GTK_WIDGET (self->keys_label), f != NULL);
  if (f == NULL)
    {
      gboolean has_report = bt_doctor_state_get_report (self->state) != NULL;
      gtk_label_set_text (self->detail_label, !has_report ? ""
                          : _("Nothing left to review here. Pick another kind above, or check again after "
                              "adding images."));
      return;
    }
  gtk_box_append (self->pictures_box, picture_with_caption (self, f->a));
  if (f->kind == BT_FINDING_DUPLICATE)
    gtk_box_append (self->pictures_box, picture_with_caption (self, f->b));
  {
    g_autofree char *text = finding_detail (self, f);
    gtk_label_set_text (self->detail_label, text);
  }
  gtk_widget_set_visible (GTK_WIDGET (self->accept_button), f->kind == BT_FINDING_LABEL);
  if (f->kind == BT_FINDING_LABEL)
    {
      const BtDoctorReport *r = bt_doctor_state_get_report (self->state);
      /* TRANSLATORS: the button that accepts the suggested class; %s is that class */
      g_autofree char *label = g_strdup_printf (_("Move to “%s” (Enter)"), bt_doctor_report_class (r, f->suggested));
      gtk_button_set_label (self->accept_button, label);
    }
  gtk_button_set_label (self->exclude_button, f->kind == BT_FINDING_DUPLICATE ? _("_Exclude the Right Copy")
                                                                             : _("_Exclude"));
  update_move_menu (self, item_class (self, target_item (f)));
  gtk_label_set_text (self->keys_label,
                      _("Enter accepts the suggestion · 1–9 moves to a class · Delete excludes · Space keeps · "
                        "arrows move on · Ctrl+Z undoes"));
}

/* ---- The list ---- */

static GtkWidget *
row_new (BtReviewWindow *self, guint index)
{
  const BtFinding *f = finding_at (self, index);
  GtkWidget *row = gtk_list_box_row_new ();
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 8);
  GtkWidget *texts = gtk_box_new (GTK_ORIENTATION_VERTICAL, 2);
  g_autofree char *name = g_filename_display_basename (report_path (self, f->a));
  g_autofree char *sub = finding_subtitle (self, f);
  GtkWidget *title = gtk_label_new (name), *subtitle = gtk_label_new (sub);

  gtk_box_append (GTK_BOX (box), picture_new (self->small_thumbs, report_path (self, f->a), ROW_THUMB));
  gtk_label_set_xalign (GTK_LABEL (title), 0);
  gtk_label_set_ellipsize (GTK_LABEL (title), PANGO_ELLIPSIZE_MIDDLE);
  gtk_label_set_xalign (GTK_LABEL (subtitle), 0);
  gtk_label_set_ellipsize (GTK_LABEL (subtitle), PANGO_ELLIPSIZE_END);
  gtk_widget_add_css_class (subtitle, "dim-label");
  gtk_widget_add_css_class (subtitle, "caption");
  gtk_widget_set_valign (texts, GTK_ALIGN_CENTER);
  gtk_box_append (GTK_BOX (texts), title);
  gtk_box_append (GTK_BOX (texts), subtitle);
  gtk_box_append (GTK_BOX (box), texts);
  gtk_list_box_row_set_child (GTK_LIST_BOX_ROW (row), box);
  gtk_widget_set_focusable (row, FALSE);
  g_object_set_data (G_OBJECT (row), "bt-finding", GUINT_TO_POINTER (index));
  return row;
}

static void
update_retrain (BtReviewWindow *self)
{
  gtk_widget_set_sensitive (GTK_WIDGET (self->retrain_button),
                            !self->retraining && bt_doctor_state_get_n_fixes (self->state) > 0);
}

static void
update_summary (BtReviewWindow *self)
{
  const BtDoctorReport *r = bt_doctor_state_get_report (self->state);
  const char *error = bt_doctor_state_get_error (self->state);
  gboolean running = bt_doctor_state_is_running (self->state);
  g_autofree char *text = NULL;

  gtk_widget_set_visible (self->progress_box, running);
  gtk_widget_set_sensitive (GTK_WIDGET (self->run_button), !running);
  update_retrain (self);
  gtk_widget_set_sensitive (GTK_WIDGET (self->undo_button),
                            self->log->len > 0 || bt_undo_stack_can_undo (bt_undo_stack_get (self->project)));
  for (int k = 0; k < BT_FINDING_N_KINDS; k++)
    {
      g_autofree char *label = g_strdup_printf ("%s (%u)", kind_title (k), bt_doctor_state_count_open (self->state, k));
      gtk_button_set_label (GTK_BUTTON (self->kind_buttons[k]), label);
    }
  if (error != NULL)
    text = g_strdup_printf (_("The check failed: %s"), error);
  else if (r == NULL)
    text = g_strdup (running ? _("Looking at every image with a model trained on the others…") : "");
  else
    {
      guint open = bt_doctor_state_count_open (self->state, BT_FINDING_N_KINDS);
      g_autofree char *count = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%u finding to review",
                                                             "%u findings to review", open), open);
      /* TRANSLATORS: %1 "12 findings to review"; %2 accuracy of out-of-fold predictions in percent */
      text = g_strdup_printf (_("%s. A model trained on the other images predicted %.0f%% of the labels."),
                              count, 100.0 * r->oof_accuracy);
      if (r->n_unreadable > 0)
        {
          g_autofree char *more = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, " %u image could not be read.",
                                                                " %u images could not be read.", r->n_unreadable),
                                                   r->n_unreadable);
          g_autofree char *t = g_strconcat (text, more, NULL);
          g_free (text);
          text = g_steal_pointer (&t);
        }
    }
  gtk_label_set_text (self->summary_label, text);
}

static void
select_row_at (BtReviewWindow *self, guint position)
{
  GtkListBoxRow *row = gtk_list_box_get_row_at_index (self->list, (int) position);

  self->rebuilding = TRUE;
  gtk_list_box_select_row (self->list, row);
  self->rebuilding = FALSE;
  self->current = row ? GPOINTER_TO_UINT (g_object_get_data (G_OBJECT (row), "bt-finding")) : G_MAXUINT;
  self->position = row ? position : 0;
  show_detail (self);
}

/* Lists the open findings of the current kind; keeps the current one shown when it is still
 * open, else shows the one that took its place. */
static void
rebuild (BtReviewWindow *self)
{
  GArray *all = bt_doctor_state_get_findings (self->state);
  GtkWidget *child;
  guint keep = G_MAXUINT, hidden = 0;

  self->rebuilding = TRUE;
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->list))) != NULL)
    gtk_list_box_remove (self->list, child);
  self->rebuilding = FALSE;
  g_array_set_size (self->shown, 0);
  for (guint i = 0; i < all->len; i++)
    {
      const BtFinding *f = &g_array_index (all, BtFinding, i);
      if (f->kind != self->kind || !bt_doctor_state_is_open (self->state, f))
        continue;
      if (self->shown->len >= MAX_ROWS)
        {
          hidden++;
          continue;
        }
      if (i == self->current)
        keep = self->shown->len;
      g_array_append_val (self->shown, i);
      gtk_list_box_append (self->list, row_new (self, i));
    }
  if (hidden > 0)
    {
      g_autofree char *text = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "and %u more", "and %u more", hidden),
                                               hidden);
      GtkWidget *more = gtk_label_new (text);
      gtk_widget_add_css_class (more, "dim-label");
      gtk_list_box_append (self->list, more);
      gtk_list_box_row_set_selectable (gtk_list_box_get_row_at_index (self->list, (int) self->shown->len), FALSE);
    }
  update_summary (self);
  if (self->shown->len == 0)
    select_row_at (self, G_MAXINT);
  else
    select_row_at (self, keep != G_MAXUINT ? keep : MIN (self->position, self->shown->len - 1));
}

static void
row_selected_cb (BtReviewWindow *self, GtkListBoxRow *row)
{
  if (self->rebuilding || row == NULL)
    return;
  select_row_at (self, (guint) gtk_list_box_row_get_index (row));
}

void
bt_review_window_set_kind (BtReviewWindow *self, BtFindingKind kind)
{
  g_return_if_fail (BT_IS_REVIEW_WINDOW (self) && kind < BT_FINDING_N_KINDS);
  self->kind = kind;
  self->current = G_MAXUINT;
  self->position = 0;
  if (!gtk_toggle_button_get_active (self->kind_buttons[kind]))
    gtk_toggle_button_set_active (self->kind_buttons[kind], TRUE);   /* calls back here */
  rebuild (self);
}

BtFindingKind
bt_review_window_get_kind (BtReviewWindow *self)
{
  g_return_val_if_fail (BT_IS_REVIEW_WINDOW (self), BT_FINDING_LABEL);
  return self->kind;
}

guint
bt_review_window_get_n_shown (BtReviewWindow *self)
{
  g_return_val_if_fail (BT_IS_REVIEW_WINDOW (self), 0);
  return self->shown->len;
}

static void
kind_toggled_cb (GtkToggleButton *button, BtReviewWindow *self)
{
  BtFindingKind kind = GPOINTER_TO_INT (g_object_get_data (G_OBJECT (button), "bt-kind"));

  if (gtk_toggle_button_get_active (button) && kind != self->kind)
    bt_review_window_set_kind (self, kind);
}

/* ---- Actions ---- */

static void
show_error (BtReviewWindow *self, const GError *error)
{
  gtk_label_set_text (self->summary_label, error->message);
}

/* finding: its index taken before the action (the action's own "changed" moves on) */
static void
log_push (BtReviewWindow *self, guint finding, gboolean stack_step, gboolean kept)
{
  LogEntry e = { finding, stack_step, kept };
  g_array_append_val (self->log, e);
}

/* The project's item the keys act on for the current finding (NULL: none or gone). */
static BtItem *
current_target (BtReviewWindow *self)
{
  const BtFinding *f = bt_review_window_get_current (self);
  return f != NULL ? bt_doctor_state_get_item (self->state, target_item (f)) : NULL;
}

/* Moves the target image of the current finding to class_name. */
static void
move_to (BtReviewWindow *self, const char *class_name)
{
  const BtFinding *f = bt_review_window_get_current (self);
  guint index = self->current;
  g_autoptr(GError) error = NULL;
  BtItem *item = current_target (self);

  if (item == NULL)
    return;
  if (g_strcmp0 (bt_item_get_class_name (item), class_name) == 0)
    return;
  /* a moved label issue is resolved by its new label; the others are marked as looked at */
  if (!bt_undo_stack_relabel (bt_undo_stack_get (self->project), &item, 1, class_name, &error))
    {
      show_error (self, error);
      return;
    }
  log_push (self, index, TRUE, f->kind != BT_FINDING_LABEL);
  bt_doctor_state_add_fixes (self->state, 1);
  if (f->kind != BT_FINDING_LABEL)
    bt_doctor_state_set_kept (self->state, f, TRUE);
  rebuild (self);
}

static void
accept (BtReviewWindow *self)
{
  const BtFinding *f = bt_review_window_get_current (self);

  if (f != NULL && f->kind == BT_FINDING_LABEL)
    move_to (self, bt_doctor_report_class (bt_doctor_state_get_report (self->state), f->suggested));
}

static void
move_to_number (BtReviewWindow *self, guint k)
{
  GListModel *classes = bt_project_get_classes (self->project);

  if (k < g_list_model_get_n_items (classes))
    {
      g_autoptr(BtClassInfo) info = g_list_model_get_item (classes, k);
      move_to (self, bt_class_info_get_name (info));
    }
}

static void
exclude (BtReviewWindow *self)
{
  guint index = self->current;
  g_autoptr(GError) error = NULL;
  BtItem *item = current_target (self);

  if (item == NULL)
    return;
  if (!bt_undo_stack_set_excluded (bt_undo_stack_get (self->project), &item, 1, TRUE, &error))
    {
      show_error (self, error);
      return;
    }
  log_push (self, index, TRUE, FALSE);
  bt_doctor_state_add_fixes (self->state, 1);
  rebuild (self);
}

static void
keep (BtReviewWindow *self)
{
  const BtFinding *f = bt_review_window_get_current (self);

  if (f == NULL)
    return;
  log_push (self, self->current, FALSE, TRUE);
  bt_doctor_state_set_kept (self->state, f, TRUE);
  rebuild (self);
}

static void
undo (BtReviewWindow *self)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *message = NULL;
  LogEntry e = { G_MAXUINT, TRUE, FALSE };

  if (self->log->len > 0)
    {
      e = g_array_index (self->log, LogEntry, self->log->len - 1);
      g_array_set_size (self->log, self->log->len - 1);
    }
  if (e.stack_step)
    {
      message = bt_undo_stack_step (bt_undo_stack_get (self->project), TRUE, &error);
      if (error != NULL)
        show_error (self, error);
      else if (message != NULL)
        bt_doctor_state_add_fixes (self->state, -1);
    }
  if (e.kept && finding_at (self, e.finding) != NULL)
    bt_doctor_state_set_kept (self->state, finding_at (self, e.finding), FALSE);
  if (e.finding != G_MAXUINT && finding_at (self, e.finding) != NULL)
    {
      self->current = e.finding;
      if (finding_at (self, e.finding)->kind != self->kind)
        {
          self->kind = finding_at (self, e.finding)->kind;
          gtk_toggle_button_set_active (self->kind_buttons[self->kind], TRUE);
        }
    }
  rebuild (self);
  if (message != NULL && error == NULL)
    gtk_label_set_text (self->summary_label, message);
}

static void
step (BtReviewWindow *self, int delta)
{
  if (self->shown->len == 0)
    return;
  int pos = CLAMP ((int) self->position + delta, 0, (int) self->shown->len - 1);
  select_row_at (self, (guint) pos);
  GtkListBoxRow *row = gtk_list_box_get_row_at_index (self->list, pos);
  if (row != NULL)
    gtk_widget_grab_focus (GTK_WIDGET (row));
}

/* ---- Retrain ---- */

/* A model file and its validation accuracy (NAN when its metadata has none). */
typedef struct { char *project_dir, *path; double acc; } ModelAcc;

static void
model_acc_free (ModelAcc *m)
{
  g_free (m->project_dir);
  g_free (m->path);
  g_free (m);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ModelAcc, model_acc_free)

/* Worker: the path's model (none: the project's default model, maybe none) and its accuracy
 * as its own metadata records it. */
static void
model_acc_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  ModelAcc *q = task_data;
  ModelAcc *m = g_new0 (ModelAcc, 1);
  m->path = q->path != NULL ? g_strdup (q->path) : bt_run_files_default_model (q->project_dir);
  m->acc = NAN;
  if (m->path != NULL)
    {
      g_autoptr(BtModel) model = bt_model_load (m->path, NULL);
      const char *v = model != NULL && model->metadata != NULL ? g_hash_table_lookup (model->metadata, "val_acc")
                                                               : NULL;
      if (v != NULL)
        m->acc = g_ascii_strtod (v, NULL);
    }
  g_task_return_pointer (task, m, (GDestroyNotify) model_acc_free);
}

static void
look_up_model (BtReviewWindow *self, const char *path, GAsyncReadyCallback done)
{
  g_autoptr(GTask) task = g_task_new (self, self->retrain_cancellable, done, NULL);
  ModelAcc *q = g_new0 (ModelAcc, 1);

  q->project_dir = g_strdup (bt_project_get_dir (self->project));
  q->path = g_strdup (path);
  g_task_set_task_data (task, q, (GDestroyNotify) model_acc_free);
  g_task_run_in_thread (task, model_acc_thread);
}

/* text's first line in bold */
static void
set_retrain_text (BtReviewWindow *self, const char *text)
{
  g_auto(GStrv) lines = g_strsplit (text != NULL ? text : "", "\n", 2);
  g_autofree char *markup = g_markup_printf_escaped ("<b>%s</b>%s%s", lines[0] != NULL ? lines[0] : "",
                                                     lines[0] != NULL && lines[1] != NULL ? "\n" : "",
                                                     lines[0] != NULL && lines[1] != NULL ? lines[1] : "");

  gtk_label_set_markup (self->retrain_label, markup);
  gtk_widget_set_visible (GTK_WIDGET (self->retrain_label), text != NULL && *text != '\0');
}

static void
retrain_end (BtReviewWindow *self, const char *text)
{
  self->retraining = FALSE;
  set_retrain_text (self, text);
  update_retrain (self);
}

static BtTrainPage *
train_page (BtReviewWindow *self)
{
  GtkWindow *parent = gtk_window_get_transient_for (GTK_WINDOW (self));
  return BT_IS_WINDOW (parent) ? bt_window_get_train_page (BT_WINDOW (parent)) : NULL;
}

/* What the two models' validation accuracies say, in words when one is missing. */
static char *
comparison_text (const char *before_path, double before, const char *after_path, double after)
{
  g_autofree char *after_name = bt_run_files_model_display_name (after_path);

  if (!isfinite (after))
    return g_strdup (_("The new model has no validation accuracy: the project has no validation images, so "
                       "the two models cannot be compared."));
  if (before_path == NULL)
    /* TRANSLATORS: %.1f is a percentage, e.g. "87.5"; “%s” the new model's name */
    return g_strdup_printf (_("There was no earlier model to compare with. The new model “%s” reaches a "
                              "validation accuracy of %.1f %%."), after_name, 100.0 * after);
  if (!isfinite (before))
    return g_strdup_printf (_("The earlier model was trained without validation images, so it has no validation "
                              "accuracy. The new model “%s” reaches %.1f %%."), after_name, 100.0 * after);
  {
    g_autofree char *before_name = bt_run_files_model_display_name (before_path);
    /* TRANSLATORS: %1 and %2 percentages ("81.2"); then the earlier and the new model's names */
    return g_strdup_printf (_("Validation accuracy before: %.1f %% → after: %.1f %%\n(the model “%s”, which the "
                              "fixes were made against, and the new model “%s”, trained with them)"),
                            100.0 * before, 100.0 * after, before_name, after_name);
  }
}

static void
after_found_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  BtReviewWindow *self = BT_REVIEW_WINDOW (source);
  g_autoptr(ModelAcc) after = g_task_propagate_pointer (G_TASK (result), NULL);
  g_autofree char *text = NULL;

  if (after == NULL)   /* cancelled: the window is going */
    return;
  text = comparison_text (self->before_model, self->before_acc, after->path, after->acc);
  retrain_end (self, text);
}

static void
retrain_finished_cb (BtReviewWindow *self, const GError *error)
{
  g_autofree char *model = g_strdup (bt_trainer_get_best_model_path (self->retrainer));
  g_autofree char *text = NULL;

  g_signal_handlers_disconnect_by_data (self->retrainer, self);
  g_clear_object (&self->retrainer);
  if (error != NULL && !g_error_matches (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_CANCELLED))
    {
      text = g_strdup_printf (_("The new training run failed: %s"), error->message);
      retrain_end (self, text);
    }
  else if (model == NULL)
    retrain_end (self, _("The new training run stopped before it saved a model."));
  else
    look_up_model (self, model, after_found_cb);
}

static void
before_found_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  BtReviewWindow *self = BT_REVIEW_WINDOW (source);
  g_autoptr(ModelAcc) before = g_task_propagate_pointer (G_TASK (result), NULL);
  BtTrainPage *page;

  if (before == NULL)
    return;
  page = train_page (self);
  if (page == NULL || bt_train_page_is_busy (page))
    {
      retrain_end (self, _("A training run is going on: Retrain can start when it has ended."));
      return;
    }
  g_free (self->before_model);
  self->before_model = g_steal_pointer (&before->path);
  self->before_acc = before->acc;
  /* the Train page's own start: one trainer, the run lock, its curves on show */
  bt_window_set_page (BT_WINDOW (gtk_window_get_transient_for (GTK_WINDOW (self))), "train");
  gtk_widget_activate_action (GTK_WIDGET (page), "train.start", NULL);
  if (!bt_train_page_is_busy (page) || bt_train_page_get_trainer (page) == NULL)
    {
      retrain_end (self, _("Training could not start: the Train page says why."));
      return;
    }
  self->retrainer = g_object_ref (bt_train_page_get_trainer (page));
  g_signal_connect_object (self->retrainer, "finished", G_CALLBACK (retrain_finished_cb), self, G_CONNECT_SWAPPED);
  bt_doctor_state_add_fixes (self->state, -(int) bt_doctor_state_get_n_fixes (self->state));
  set_retrain_text (self, _("Training again with your fixes… The Train page shows its curves."));
}

static void
retrain (BtReviewWindow *self)
{
  BtTrainPage *page = train_page (self);

  if (self->retraining || page == NULL || bt_doctor_state_get_n_fixes (self->state) == 0)
    return;
  if (bt_train_page_is_busy (page))
    {
      set_retrain_text (self, _("A training run is going on: Retrain can start when it has ended."));
      return;
    }
  self->retraining = TRUE;
  update_retrain (self);
  set_retrain_text (self, _("Looking for the model the fixes were made against…"));
  look_up_model (self, NULL, before_found_cb);
}

const char *
bt_review_window_get_retrain_text (BtReviewWindow *self)
{
  g_return_val_if_fail (BT_IS_REVIEW_WINDOW (self), NULL);
  return gtk_label_get_text (self->retrain_label);
}

static void retrain_clicked_cb (BtReviewWindow *self) { retrain (self); }
static void accept_clicked_cb (BtReviewWindow *self)  { accept (self); }
static void exclude_clicked_cb (BtReviewWindow *self) { exclude (self); }
static void keep_clicked_cb (BtReviewWindow *self)    { keep (self); }
static void undo_clicked_cb (BtReviewWindow *self)    { undo (self); }
static void run_clicked_cb (BtReviewWindow *self)     { bt_doctor_state_run (self->state); }
static void cancel_clicked_cb (BtReviewWindow *self)  { bt_doctor_state_cancel (self->state); }

static void
move_action (GtkWidget *widget, const char *name, GVariant *param)
{
  move_to (BT_REVIEW_WINDOW (widget), g_variant_get_string (param, NULL));
}

/* The review keys, before any focused widget sees them (a focused button would take Enter and
 * Space, the list the arrows); left alone while a menu is open. */
static gboolean
key_pressed_cb (GtkEventControllerKey *controller, guint keyval, guint keycode, GdkModifierType state,
                BtReviewWindow *self)
{
  GtkPopover *popover = gtk_menu_button_get_popover (self->move_button);
  GdkModifierType mods = state & (GDK_CONTROL_MASK | GDK_ALT_MASK | GDK_SHIFT_MASK);

  if (popover != NULL && gtk_widget_get_visible (GTK_WIDGET (popover)))
    return FALSE;
  if (mods == GDK_CONTROL_MASK && (keyval == GDK_KEY_z || keyval == GDK_KEY_Z))
    return undo (self), TRUE;
  if (mods == GDK_CONTROL_MASK && (keyval == GDK_KEY_Return || keyval == GDK_KEY_KP_Enter))
    return retrain (self), TRUE;
  if (mods != 0 && mods != GDK_SHIFT_MASK)
    return FALSE;
  switch (keyval)
    {
    case GDK_KEY_Return: case GDK_KEY_KP_Enter:
      return accept (self), TRUE;
    case GDK_KEY_Delete: case GDK_KEY_KP_Delete:
      return exclude (self), TRUE;
    case GDK_KEY_space:
      return keep (self), TRUE;
    case GDK_KEY_Up: case GDK_KEY_Left:
      return step (self, -1), TRUE;
    case GDK_KEY_Down: case GDK_KEY_Right:
      return step (self, 1), TRUE;
    case GDK_KEY_F5:
      return bt_doctor_state_run (self->state), TRUE;
    case GDK_KEY_Escape:
      return gtk_window_close (GTK_WINDOW (self)), TRUE;
    default:
      break;
    }
  if (keyval >= GDK_KEY_1 && keyval <= GDK_KEY_9)
    return move_to_number (self, keyval - GDK_KEY_1), TRUE;
  if (keyval >= GDK_KEY_KP_1 && keyval <= GDK_KEY_KP_9)
    return move_to_number (self, keyval - GDK_KEY_KP_1), TRUE;
  return FALSE;
}

/* ---- State ---- */

static void
state_changed_cb (BtReviewWindow *self)
{
  /* a new report renumbers the findings: the log and the current one refer to the old ones */
  if (bt_doctor_state_get_report (self->state) != self->report)
    {
      self->report = bt_doctor_state_get_report (self->state);
      g_array_set_size (self->log, 0);
      self->current = G_MAXUINT;
      self->position = 0;
    }
  rebuild (self);
}

static void
state_progress_cb (BtReviewWindow *self, const char *stage, double fraction)
{
  const char *what = g_str_equal (stage, "decode") || g_str_equal (stage, "embed") ? _("Reading the images")
                   : g_str_equal (stage, "folds") ? _("Training on the others, fold by fold")
                   : g_str_equal (stage, "duplicates") ? _("Looking for duplicates")
                   : _("Looking for outliers");
  g_autofree char *text = g_strdup_printf ("%s · %.0f%%", what, 100.0 * fraction);

  gtk_progress_bar_set_fraction (self->progress_bar, fraction);
  gtk_progress_bar_set_text (self->progress_bar, text);
}

static void
bt_review_window_dispose (GObject *object)
{
  BtReviewWindow *self = BT_REVIEW_WINDOW (object);

  if (self->state != NULL)
    g_signal_handlers_disconnect_by_data (self->state, self);
  g_cancellable_cancel (self->retrain_cancellable);
  g_clear_object (&self->retrain_cancellable);
  if (self->retrainer != NULL)
    g_signal_handlers_disconnect_by_data (self->retrainer, self);
  g_clear_object (&self->retrainer);
  g_clear_pointer (&self->before_model, g_free);
  if (self->project != NULL)
    g_signal_handlers_disconnect_by_data (bt_undo_stack_get (self->project), self);
  /* the project forgets its window here: "destroy" comes from the parent's dispose, after
   * self->project is gone, and a Review button would then present a freed window */
  if (self->project != NULL && g_object_get_data (G_OBJECT (self->project), "bt-review-window") == self)
    g_object_set_data (G_OBJECT (self->project), "bt-review-window", NULL);
  g_clear_object (&self->state);
  g_clear_object (&self->project);
  g_clear_object (&self->small_thumbs);
  g_clear_object (&self->big_thumbs);
  g_clear_pointer (&self->shown, g_array_unref);
  g_clear_pointer (&self->log, g_array_unref);
  gtk_widget_dispose_template (GTK_WIDGET (self), BT_TYPE_REVIEW_WINDOW);
  G_OBJECT_CLASS (bt_review_window_parent_class)->dispose (object);
}

static void
bt_review_window_class_init (BtReviewWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = bt_review_window_dispose;
  gtk_widget_class_set_template_from_resource (widget_class, APP_ID_PATH "/ui/bt-review-window.ui");
  gtk_widget_class_bind_template_child (widget_class, BtReviewWindow, run_button);
  gtk_widget_class_bind_template_child (widget_class, BtReviewWindow, undo_button);
  gtk_widget_class_bind_template_child (widget_class, BtReviewWindow, progress_box);
  gtk_widget_class_bind_template_child (widget_class, BtReviewWindow, progress_bar);
  gtk_widget_class_bind_template_child (widget_class, BtReviewWindow, summary_label);
  gtk_widget_class_bind_template_child (widget_class, BtReviewWindow, kind_box);
  gtk_widget_class_bind_template_child (widget_class, BtReviewWindow, list);
  gtk_widget_class_bind_template_child (widget_class, BtReviewWindow, detail_box);
  gtk_widget_class_bind_template_child (widget_class, BtReviewWindow, pictures_box);
  gtk_widget_class_bind_template_child (widget_class, BtReviewWindow, detail_label);
  gtk_widget_class_bind_template_child (widget_class, BtReviewWindow, actions_box);
  gtk_widget_class_bind_template_child (widget_class, BtReviewWindow, accept_button);
  gtk_widget_class_bind_template_child (widget_class, BtReviewWindow, move_button);
  gtk_widget_class_bind_template_child (widget_class, BtReviewWindow, exclude_button);
  gtk_widget_class_bind_template_child (widget_class, BtReviewWindow, keep_button);
  gtk_widget_class_bind_template_child (widget_class, BtReviewWindow, keys_label);
  gtk_widget_class_bind_template_child (widget_class, BtReviewWindow, retrain_button);
  gtk_widget_class_bind_template_child (widget_class, BtReviewWindow, retrain_label);
  gtk_widget_class_bind_template_callback (widget_class, retrain_clicked_cb);
  gtk_widget_class_bind_template_callback (widget_class, run_clicked_cb);
  gtk_widget_class_bind_template_callback (widget_class, cancel_clicked_cb);
  gtk_widget_class_bind_template_callback (widget_class, undo_clicked_cb);
  gtk_widget_class_bind_template_callback (widget_class, row_selected_cb);
  gtk_widget_class_bind_template_callback (widget_class, accept_clicked_cb);
  gtk_widget_class_bind_template_callback (widget_class, exclude_clicked_cb);
  gtk_widget_class_bind_template_callback (widget_class, keep_clicked_cb);
  gtk_widget_class_install_action (widget_class, "review.move", "s", move_action);
}

static void
bt_review_window_init (BtReviewWindow *self)
{
  GtkEventController *keys = gtk_event_controller_key_new ();
  GtkToggleButton *first = NULL;

  gtk_widget_init_template (GTK_WIDGET (self));
  self->shown = g_array_new (FALSE, FALSE, sizeof (guint));
  self->log = g_array_new (FALSE, FALSE, sizeof (LogEntry));
  self->small_thumbs = bt_thumbnailer_new (ROW_THUMB * 2, 512);
  self->big_thumbs = bt_thumbnailer_new (BIG_THUMB, 32);
  self->current = G_MAXUINT;
  self->retrain_cancellable = g_cancellable_new ();
  self->before_acc = NAN;
  for (int k = 0; k < BT_FINDING_N_KINDS; k++)
    {
      GtkWidget *b = gtk_toggle_button_new_with_label (kind_title (k));
      self->kind_buttons[k] = GTK_TOGGLE_BUTTON (b);
      g_object_set_data (G_OBJECT (b), "bt-kind", GINT_TO_POINTER (k));
      if (first != NULL)
        gtk_toggle_button_set_group (GTK_TOGGLE_BUTTON (b), first);
      else
        first = GTK_TOGGLE_BUTTON (b);
      gtk_widget_set_focusable (b, FALSE);
      g_signal_connect (b, "toggled", G_CALLBACK (kind_toggled_cb), self);
      gtk_box_append (self->kind_box, b);
    }
  gtk_toggle_button_set_active (first, TRUE);
  gtk_event_controller_set_propagation_phase (keys, GTK_PHASE_CAPTURE);
  g_signal_connect (keys, "key-pressed", G_CALLBACK (key_pressed_cb), self);
  gtk_widget_add_controller (GTK_WIDGET (self), keys);
}

BtReviewWindow *
bt_review_window_present (GtkWindow *parent, BtProject *project)
{
  g_return_val_if_fail (BT_IS_PROJECT (project), NULL);
  BtReviewWindow *self = g_object_get_data (G_OBJECT (project), "bt-review-window");

  if (self == NULL)
    {
      self = g_object_new (BT_TYPE_REVIEW_WINDOW, "transient-for", parent, "destroy-with-parent", TRUE, NULL);
      self->project = g_object_ref (project);
      self->state = g_object_ref (bt_doctor_state_get (project));
      g_signal_connect_object (self->state, "changed", G_CALLBACK (state_changed_cb), self, G_CONNECT_SWAPPED);
      g_signal_connect_object (self->state, "progress", G_CALLBACK (state_progress_cb), self, G_CONNECT_SWAPPED);
      g_signal_connect_object (bt_undo_stack_get (project), "changed", G_CALLBACK (rebuild), self, G_CONNECT_SWAPPED);
      /* the project forgets its window when the window goes (the window holds the project) */
      g_object_set_data (G_OBJECT (project), "bt-review-window", self);
      if (bt_doctor_state_get_report (self->state) == NULL && !bt_doctor_state_is_running (self->state))
        bt_doctor_state_run (self->state);
      state_changed_cb (self);
    }
  gtk_window_present (GTK_WINDOW (self));
  return self;
}
