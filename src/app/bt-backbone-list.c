/* bt-backbone-list.c: BtBackboneList, one row per catalogue backbone (status checked and speed
 * measured on workers, downloads with progress and Cancel) and the Compare Backbones window. */
#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "bt-backbone-list.h"
#include "training/bt-backbone-compare.h"

typedef struct {
  BtBackboneList *self;   /* borrowed */
  const BtBackboneInfo *info;
  GtkWidget *box, *download, *use, *progress_box, *cancel;
  GtkLabel  *title, *details, *message, *in_use;
  GtkProgressBar *progress;
  GCancellable *cancellable;   /* of the running download */
  gboolean installed;
  char *path, *message_text;
} Row;

struct _BtBackboneList
{
  GtkWidget parent_instance;

  GtkWidget    *box;
  GtkWidget    *compare_button;
  GPtrArray    *rows;          /* Row*, catalogue order */
  BtProject    *project;
  GCancellable *cancellable;   /* checks and measurements */
  const BtBackboneInfo *current;
  int           n_jobs;
};

G_DEFINE_FINAL_TYPE (BtBackboneList, bt_backbone_list, GTK_TYPE_WIDGET)

enum { INSTALLED, USE, DOWNLOAD_DONE, N_SIGNALS };
static guint signals[N_SIGNALS];

static void
row_free (Row *r)
{
  if (r->cancellable)
    g_cancellable_cancel (r->cancellable);
  g_clear_object (&r->cancellable);
  g_free (r->path);
  g_free (r->message_text);
  g_free (r);
}

static Row *
find_row (BtBackboneList *self, const BtBackboneInfo *info)
{
  for (guint i = 0; i < self->rows->len; i++)
    {
      Row *r = g_ptr_array_index (self->rows, i);
      if (r->info == info)
        return r;
    }
  return NULL;
}

static void
row_set_message (Row *r, const char *text)
{
  g_free (r->message_text);
  r->message_text = g_strdup (text);
  gtk_label_set_text (r->message, text ? text : "");
  gtk_widget_set_visible (GTK_WIDGET (r->message), text != NULL && text[0] != '\0');
}

static void
row_update (Row *r)
{
  const BtBackboneInfo *b = r->info;
  g_autofree char *size = g_format_size (b->size);
  g_autoptr(GString) d = g_string_new (NULL);
  double ms = r->installed ? bt_backbones_get_speed (b->sha256) : -1;
  gboolean downloading = r->cancellable != NULL;

  /* Translators: size of the file, then the network's input size in pixels */
  g_string_append_printf (d, _("%s · %d px photos"), size, b->input_size);
  if (b->top1 >= 0)
    /* Translators: the published accuracy on ImageNet, 1000 kinds of objects */
    g_string_append_printf (d, _(" · %.0f%% right on ImageNet"), b->top1);
  if (ms > 0)
    g_string_append_printf (d, _(" · %.0f ms per photo here"), ms);
  else if (r->installed)
    g_string_append (d, _(" · speed: measuring…"));
  g_string_append_printf (d, "\n%s", bt_backbones_role_text (b));
  gtk_label_set_text (r->details, d->str);

  gtk_widget_set_visible (r->download, !r->installed && !downloading);
  gtk_widget_set_visible (r->progress_box, downloading);
  gtk_widget_set_visible (r->use, r->installed && r->self->current != b);
  gtk_widget_set_visible (GTK_WIDGET (r->in_use), r->installed && r->self->current == b);
  if (!r->installed && !downloading)
    {
      /* Translators: a button; the size of the download */
      g_autofree char *label = g_strdup_printf (_("Download (%s)"), size);
      gtk_button_set_label (GTK_BUTTON (r->download), label);
    }
}

static void
update_all (BtBackboneList *self)
{
  guint installed = 0;
  for (guint i = 0; i < self->rows->len; i++)
    {
      Row *r = g_ptr_array_index (self->rows, i);
      row_update (r);
      installed += r->installed;
    }
  gtk_widget_set_sensitive (self->compare_button, installed > 0 && self->project != NULL);
}

/* ---- Status and speed, on workers ---- */

typedef struct {
  BtBackboneStatus status;
  char *path;
} Found;

static void
found_free (gpointer data)
{
  Found *f = data;
  g_free (f->path);
}

static void
check_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  guint n;
  const BtBackboneInfo * const *all = bt_backbones_list (&n);
  GArray *out = g_array_sized_new (FALSE, TRUE, sizeof (Found), n);

  g_array_set_clear_func (out, found_free);
  for (guint i = 0; i < n; i++)
    {
      Found f = { 0 };
      f.status = bt_backbones_check (all[i], &f.path, cancellable, NULL);
      g_array_append_val (out, f);
    }
  g_task_return_pointer (task, out, (GDestroyNotify) g_array_unref);
}

static void
measure_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  GPtrArray *paths = data;
  for (guint i = 0; i < paths->len && !g_cancellable_is_cancelled (cancellable); i++)
    bt_backbones_measure_speed (g_ptr_array_index (paths, i), NULL);
  g_task_return_boolean (task, TRUE);
}

static void
measure_done (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr(BtBackboneList) self = data;
  g_autoptr(GError) error = NULL;

  self->n_jobs--;
  if (!g_task_propagate_boolean (G_TASK (result), &error))
    return;
  if (self->rows != NULL)
    update_all (self);
}

/* Measures, once, every installed backbone whose speed is not known yet. */
static void
measure_missing (BtBackboneList *self)
{
  g_autoptr(GTask) task = NULL;
  GPtrArray *paths = g_ptr_array_new_with_free_func (g_free);

  for (guint i = 0; i < self->rows->len; i++)
    {
      Row *r = g_ptr_array_index (self->rows, i);
      if (r->installed && r->path != NULL && !(bt_backbones_get_speed (r->info->sha256) > 0))
        g_ptr_array_add (paths, g_strdup (r->path));
    }
  if (paths->len == 0)
    {
      g_ptr_array_unref (paths);
      return;
    }
  self->n_jobs++;
  task = g_task_new (NULL, self->cancellable, measure_done, g_object_ref (self));
  g_task_set_task_data (task, paths, (GDestroyNotify) g_ptr_array_unref);
  g_task_run_in_thread (task, measure_thread);
}

static void
check_done (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr(BtBackboneList) self = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) found = g_task_propagate_pointer (G_TASK (result), &error);

  self->n_jobs--;
  if (found == NULL || self->rows == NULL)
    return;
  for (guint i = 0; i < found->len && i < self->rows->len; i++)
    {
      Row *r = g_ptr_array_index (self->rows, i);
      Found *f = &g_array_index (found, Found, i);
      if (r->cancellable != NULL)
        continue;   /* downloading: its own result decides */
      r->installed = f->status == BT_BACKBONE_INSTALLED;
      g_free (r->path);
      r->path = g_steal_pointer (&f->path);
      if (f->status == BT_BACKBONE_WRONG_CHECKSUM)
        row_set_message (r, _("A file of this name is installed, but it is not the expected one "
                              "(its SHA-256 differs). Download it again."));
    }
  update_all (self);
  measure_missing (self);
  g_signal_emit (self, signals[INSTALLED], 0);
}

void
bt_backbone_list_refresh (BtBackboneList *self)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (BT_IS_BACKBONE_LIST (self));
  self->n_jobs++;
  task = g_task_new (NULL, self->cancellable, check_done, g_object_ref (self));
  g_task_run_in_thread (task, check_thread);
}

/* ---- Download ---- */

typedef struct {
  BtBackboneList *self;   /* strong */
  const BtBackboneInfo *info;
} DownloadJob;

static DownloadJob *
download_job_new (BtBackboneList *self, const BtBackboneInfo *info)
{
  DownloadJob *job = g_new0 (DownloadJob, 1);
  job->self = g_object_ref (self);
  job->info = info;
  return job;
}

static void
download_job_free (DownloadJob *job)
{
  g_object_unref (job->self);
  g_free (job);
}

static void
download_progress (guint64 received, guint64 total, gpointer data)
{
  DownloadJob *job = data;
  Row *r = job->self->rows != NULL ? find_row (job->self, job->info) : NULL;
  g_autofree char *got = g_format_size (received), *all = g_format_size (total);
  /* Translators: download progress, bytes received of bytes expected */
  g_autofree char *text = g_strdup_printf (_("%s of %s"), got, all);

  if (r == NULL || r->cancellable == NULL)
    return;
  gtk_progress_bar_set_fraction (r->progress, total > 0 ? (double) received / total : 0);
  gtk_progress_bar_set_text (r->progress, text);
}

static void
download_done (GObject *source, GAsyncResult *result, gpointer data)
{
  DownloadJob *job = data;
  BtBackboneList *self = job->self;
  g_autoptr(GError) error = NULL;
  g_autofree char *path = bt_backbones_download_finish (result, &error);
  Row *r = self->rows != NULL ? find_row (self, job->info) : NULL;

  self->n_jobs--;
  if (r == NULL)
    {
      download_job_free (job);
      return;
    }
  g_clear_object (&r->cancellable);
  if (path == NULL)
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        row_set_message (r, _("Download cancelled; nothing was installed."));
      else
        {
          g_autofree char *text = g_strdup_printf (_("%s Or choose a file you already have, below."), error->message);
          row_set_message (r, text);
        }
      row_update (r);
      g_signal_emit (self, signals[DOWNLOAD_DONE], 0, job->info, FALSE);
      download_job_free (job);
      return;
    }
  r->installed = TRUE;
  g_free (r->path);
  r->path = g_steal_pointer (&path);
  row_set_message (r, NULL);
  update_all (self);
  measure_missing (self);
  g_signal_emit (self, signals[INSTALLED], 0);
  g_signal_emit (self, signals[DOWNLOAD_DONE], 0, job->info, TRUE);
  download_job_free (job);
}

void
bt_backbone_list_download (BtBackboneList *self, const BtBackboneInfo *info)
{
  Row *r;

  g_return_if_fail (BT_IS_BACKBONE_LIST (self));
  r = find_row (self, info);
  g_return_if_fail (r != NULL);
  if (r->cancellable != NULL)
    return;
  r->cancellable = g_cancellable_new ();
  row_set_message (r, NULL);
  gtk_progress_bar_set_fraction (r->progress, 0);
  gtk_progress_bar_set_text (r->progress, _("Connecting…"));
  row_update (r);
  self->n_jobs++;
  bt_backbones_download_async (info, r->cancellable, download_progress, download_job_new (self, info),
                               (GDestroyNotify) download_job_free, download_done, download_job_new (self, info));
}

static void
download_clicked_cb (GtkButton *button, Row *r)
{
  bt_backbone_list_download (r->self, r->info);
}

static void
cancel_clicked_cb (GtkButton *button, Row *r)
{
  g_cancellable_cancel (r->cancellable);
}

static void
use_clicked_cb (GtkButton *button, Row *r)
{
  if (r->path != NULL)
    g_signal_emit (r->self, signals[USE], 0, r->path, r->info);
}

/* ---- Compare backbones ---- */

typedef struct {
  BtBackboneList *list;   /* strong */
  GtkWidget *window, *grid, *status, *spinner;
  GCancellable *cancellable;
  GMutex lock;
  char *progress_text;    /* under lock */
  guint poll;
  gboolean done;          /* the worker has finished */
  GPtrArray *rows;
} Compare;

static void
compare_free (Compare *c)
{
  g_clear_handle_id (&c->poll, g_source_remove);
  g_clear_object (&c->cancellable);
  g_clear_object (&c->list);
  g_clear_pointer (&c->rows, g_ptr_array_unref);
  g_free (c->progress_text);
  g_mutex_clear (&c->lock);
  g_free (c);
}

static void
compare_progress (const BtBackboneInfo *info, guint index, guint n, guint done, guint total, gpointer data)
{
  Compare *c = data;
  g_mutex_lock (&c->lock);
  g_free (c->progress_text);
  /* Translators: backbone name, which of how many, photos done of total */
  c->progress_text = g_strdup_printf (_("%s (%u of %u): %u of %u photos…"), info->title, index + 1, n, done, total);
  g_mutex_unlock (&c->lock);
}

static gboolean
compare_poll (gpointer data)
{
  Compare *c = data;
  g_mutex_lock (&c->lock);
  if (c->progress_text != NULL)
    gtk_label_set_text (GTK_LABEL (c->status), c->progress_text);
  g_mutex_unlock (&c->lock);
  return G_SOURCE_CONTINUE;
}

static void
compare_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  Compare *c = data;
  GError *error = NULL;
  GPtrArray *rows = bt_backbones_compare (c->list->project, 0, 0, compare_progress, c, cancellable, &error);
  if (rows != NULL)
    g_task_return_pointer (task, rows, (GDestroyNotify) g_ptr_array_unref);
  else
    g_task_return_error (task, error);
}

static void
compare_use_cb (GtkButton *button, Compare *c)
{
  BtBackboneScore *s = g_object_get_data (G_OBJECT (button), "score");
  g_signal_emit (c->list, signals[USE], 0, s->path, s->info);
  gtk_window_destroy (GTK_WINDOW (c->window));
}

static void
grid_label (GtkWidget *grid, const char *text, int col, int row, gboolean heading)
{
  GtkWidget *l = gtk_label_new (text);
  gtk_label_set_xalign (GTK_LABEL (l), col == 0 ? 0 : 1);
  if (heading)
    gtk_widget_add_css_class (l, "heading");
  gtk_grid_attach (GTK_GRID (grid), l, col, row, 1, 1);
}

static void
compare_done (GObject *source, GAsyncResult *result, gpointer data)
{
  Compare *c = data;
  g_autoptr(GError) error = NULL;
  GPtrArray *rows = g_task_propagate_pointer (G_TASK (result), &error);

  c->list->n_jobs--;
  c->done = TRUE;
  g_clear_handle_id (&c->poll, g_source_remove);
  if (c->window == NULL)
    {
      g_clear_pointer (&rows, g_ptr_array_unref);
      compare_free (c);
      return;
    }
  gtk_spinner_stop (GTK_SPINNER (c->spinner));
  gtk_widget_set_visible (c->spinner, FALSE);
  if (rows == NULL)
    {
      gtk_label_set_text (GTK_LABEL (c->status), error->message);
      return;
    }
  c->rows = rows;
  {
    BtBackboneScore *first = rows->len > 0 ? g_ptr_array_index (rows, 0) : NULL;
    g_autofree char *text = first != NULL
      ? g_strdup_printf (_("%d-fold cross-validation on %u of your photos: how often a head trained on the "
                           "others is right. ★ marks the best trade-off of accuracy and speed."), first->k,
                         first->n_images)
      : g_strdup ("");
    gtk_label_set_text (GTK_LABEL (c->status), text);
  }
  grid_label (c->grid, _("Backbone"), 0, 0, TRUE);
  grid_label (c->grid, _("Accuracy"), 1, 0, TRUE);
  grid_label (c->grid, _("Per photo"), 2, 0, TRUE);
  grid_label (c->grid, _("Size"), 3, 0, TRUE);
  for (guint i = 0; i < rows->len; i++)
    {
      BtBackboneScore *s = g_ptr_array_index (rows, i);
      g_autofree char *name = s->best ? g_strdup_printf ("★ %s", s->info->title) : g_strdup (s->info->title);
      g_autofree char *acc = g_strdup_printf (_("%.0f%% ± %.0f"), 100 * s->mean_acc, 100 * s->std_acc);
      g_autofree char *ms = g_strdup_printf (_("%.0f ms"), s->ms_per_image);
      g_autofree char *size = g_format_size (s->size);
      GtkWidget *use = gtk_button_new_with_label (_("Use"));
      grid_label (c->grid, name, 0, (int) i + 1, s->best);
      grid_label (c->grid, acc, 1, (int) i + 1, FALSE);
      grid_label (c->grid, ms, 2, (int) i + 1, FALSE);
      grid_label (c->grid, size, 3, (int) i + 1, FALSE);
      g_object_set_data (G_OBJECT (use), "score", s);
      if (s->best)
        gtk_widget_add_css_class (use, "suggested-action");
      g_signal_connect (use, "clicked", G_CALLBACK (compare_use_cb), c);
      gtk_grid_attach (GTK_GRID (c->grid), use, 4, (int) i + 1, 1, 1);
    }
}

static void
compare_window_destroyed (GtkWidget *window, Compare *c)
{
  c->window = NULL;
  g_cancellable_cancel (c->cancellable);
  /* while the worker runs, its callback frees the comparison */
  if (c->done)
    compare_free (c);
}

GtkWidget *
bt_backbone_list_compare (BtBackboneList *self)
{
  Compare *c;
  g_autoptr(GTask) task = NULL;
  GtkWidget *box;
  GtkRoot *root;

  g_return_val_if_fail (BT_IS_BACKBONE_LIST (self), NULL);
  g_return_val_if_fail (self->project != NULL, NULL);
  c = g_new0 (Compare, 1);
  g_mutex_init (&c->lock);
  c->list = g_object_ref (self);
  c->cancellable = g_cancellable_new ();
  c->window = gtk_window_new ();
  root = gtk_widget_get_root (GTK_WIDGET (self));
  if (GTK_IS_WINDOW (root))
    gtk_window_set_transient_for (GTK_WINDOW (c->window), GTK_WINDOW (root));
  gtk_window_set_modal (GTK_WINDOW (c->window), TRUE);
  gtk_window_set_title (GTK_WINDOW (c->window), _("Compare Backbones"));
  gtk_window_set_default_size (GTK_WINDOW (c->window), 560, -1);
  box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 12);
  gtk_widget_set_margin_start (box, 18);
  gtk_widget_set_margin_end (box, 18);
  gtk_widget_set_margin_top (box, 18);
  gtk_widget_set_margin_bottom (box, 18);
  c->spinner = gtk_spinner_new ();
  gtk_spinner_start (GTK_SPINNER (c->spinner));
  c->status = gtk_label_new (_("Looking at a sample of your photos with every installed backbone…"));
  gtk_label_set_wrap (GTK_LABEL (c->status), TRUE);
  gtk_label_set_max_width_chars (GTK_LABEL (c->status), 60);
  gtk_label_set_xalign (GTK_LABEL (c->status), 0);
  c->grid = gtk_grid_new ();
  gtk_grid_set_column_spacing (GTK_GRID (c->grid), 18);
  gtk_grid_set_row_spacing (GTK_GRID (c->grid), 6);
  gtk_box_append (GTK_BOX (box), c->spinner);
  gtk_box_append (GTK_BOX (box), c->status);
  gtk_box_append (GTK_BOX (box), c->grid);
  gtk_window_set_child (GTK_WINDOW (c->window), box);
  g_signal_connect (c->window, "destroy", G_CALLBACK (compare_window_destroyed), c);
  c->poll = g_timeout_add (200, compare_poll, c);
  self->n_jobs++;
  task = g_task_new (NULL, c->cancellable, compare_done, c);
  g_task_set_task_data (task, c, NULL);
  g_task_run_in_thread (task, compare_thread);
  gtk_window_present (GTK_WINDOW (c->window));
  return c->window;
}

static void
compare_clicked_cb (BtBackboneList *self)
{
  bt_backbone_list_compare (self);
}

/* ---- Public ---- */

void
bt_backbone_list_set_project (BtBackboneList *self, BtProject *project)
{
  g_return_if_fail (BT_IS_BACKBONE_LIST (self));
  g_set_object (&self->project, project);
  update_all (self);
}

void
bt_backbone_list_set_current (BtBackboneList *self, const BtBackboneInfo *info)
{
  g_return_if_fail (BT_IS_BACKBONE_LIST (self));
  self->current = info;
  update_all (self);
}

gboolean
bt_backbone_list_is_busy (BtBackboneList *self)
{
  g_return_val_if_fail (BT_IS_BACKBONE_LIST (self), FALSE);
  return self->n_jobs > 0;
}

GtkWidget *
bt_backbone_list_get_download_button (BtBackboneList *self, const BtBackboneInfo *info)
{
  Row *r;
  g_return_val_if_fail (BT_IS_BACKBONE_LIST (self), NULL);
  r = find_row (self, info);
  return r != NULL && gtk_widget_get_visible (r->download) ? r->download : NULL;
}

const char *
bt_backbone_list_get_message (BtBackboneList *self, const BtBackboneInfo *info)
{
  Row *r;
  g_return_val_if_fail (BT_IS_BACKBONE_LIST (self), NULL);
  r = find_row (self, info);
  return r != NULL ? r->message_text : NULL;
}

gboolean
bt_backbone_list_is_installed (BtBackboneList *self, const BtBackboneInfo *info)
{
  Row *r;
  g_return_val_if_fail (BT_IS_BACKBONE_LIST (self), FALSE);
  r = find_row (self, info);
  return r != NULL && r->installed;
}

/* ---- GObject ---- */

static void
bt_backbone_list_dispose (GObject *object)
{
  BtBackboneList *self = BT_BACKBONE_LIST (object);

  g_cancellable_cancel (self->cancellable);
  g_clear_pointer (&self->rows, g_ptr_array_unref);
  g_clear_pointer (&self->box, gtk_widget_unparent);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->project);
  G_OBJECT_CLASS (bt_backbone_list_parent_class)->dispose (object);
}

static void
bt_backbone_list_class_init (BtBackboneListClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = bt_backbone_list_dispose;
  signals[INSTALLED] = g_signal_new ("installed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                                     NULL, G_TYPE_NONE, 0);
  signals[USE] = g_signal_new ("use", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                               G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_POINTER);
  signals[DOWNLOAD_DONE] = g_signal_new ("download-done", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
                                         NULL, NULL, G_TYPE_NONE, 2, G_TYPE_POINTER, G_TYPE_BOOLEAN);
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
}

static void
bt_backbone_list_init (BtBackboneList *self)
{
  guint n;
  const BtBackboneInfo * const *all = bt_backbones_list (&n);
  GtkWidget *footer = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 6);

  self->cancellable = g_cancellable_new ();
  self->rows = g_ptr_array_new_with_free_func ((GDestroyNotify) row_free);
  self->box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 10);
  gtk_widget_set_parent (self->box, GTK_WIDGET (self));
  for (guint i = 0; i < n; i++)
    {
      Row *r = g_new0 (Row, 1);
      GtkWidget *text = gtk_box_new (GTK_ORIENTATION_VERTICAL, 2);
      GtkWidget *actions = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 6);

      r->self = self;
      r->info = all[i];
      r->box = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 12);
      r->title = GTK_LABEL (gtk_label_new (all[i]->title));
      gtk_widget_add_css_class (GTK_WIDGET (r->title), "heading");
      gtk_label_set_xalign (r->title, 0);
      r->details = GTK_LABEL (gtk_label_new (""));
      gtk_label_set_xalign (r->details, 0);
      gtk_label_set_wrap (r->details, TRUE);
      gtk_widget_add_css_class (GTK_WIDGET (r->details), "dim-label");
      r->message = GTK_LABEL (gtk_label_new (""));
      gtk_label_set_xalign (r->message, 0);
      gtk_label_set_wrap (r->message, TRUE);
      gtk_label_set_selectable (r->message, TRUE);
      gtk_widget_add_css_class (GTK_WIDGET (r->message), "error");
      gtk_widget_set_visible (GTK_WIDGET (r->message), FALSE);
      gtk_box_append (GTK_BOX (text), GTK_WIDGET (r->title));
      gtk_box_append (GTK_BOX (text), GTK_WIDGET (r->details));
      gtk_box_append (GTK_BOX (text), GTK_WIDGET (r->message));
      gtk_widget_set_hexpand (text, TRUE);

      r->download = gtk_button_new_with_label ("");
      if (all[i]->is_default)
        gtk_widget_add_css_class (r->download, "suggested-action");
      g_signal_connect (r->download, "clicked", G_CALLBACK (download_clicked_cb), r);
      r->use = gtk_button_new_with_label (_("Use"));
      g_signal_connect (r->use, "clicked", G_CALLBACK (use_clicked_cb), r);
      r->in_use = GTK_LABEL (gtk_label_new (_("In use")));
      gtk_widget_add_css_class (GTK_WIDGET (r->in_use), "dim-label");
      r->progress_box = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 6);
      r->progress = GTK_PROGRESS_BAR (gtk_progress_bar_new ());
      gtk_progress_bar_set_show_text (r->progress, TRUE);
      gtk_widget_set_size_request (GTK_WIDGET (r->progress), 160, -1);
      gtk_widget_set_valign (GTK_WIDGET (r->progress), GTK_ALIGN_CENTER);
      r->cancel = gtk_button_new_with_label (_("Cancel"));
      g_signal_connect (r->cancel, "clicked", G_CALLBACK (cancel_clicked_cb), r);
      gtk_box_append (GTK_BOX (r->progress_box), GTK_WIDGET (r->progress));
      gtk_box_append (GTK_BOX (r->progress_box), r->cancel);
      gtk_box_append (GTK_BOX (actions), r->download);
      gtk_box_append (GTK_BOX (actions), r->use);
      gtk_box_append (GTK_BOX (actions), GTK_WIDGET (r->in_use));
      gtk_box_append (GTK_BOX (actions), r->progress_box);
      gtk_widget_set_valign (actions, GTK_ALIGN_START);

      gtk_box_append (GTK_BOX (r->box), text);
      gtk_box_append (GTK_BOX (r->box), actions);
      gtk_box_append (GTK_BOX (self->box), r->box);
      g_ptr_array_add (self->rows, r);
    }
  self->compare_button = gtk_button_new_with_mnemonic (_("Co_mpare Backbones…"));
  gtk_widget_set_tooltip_text (self->compare_button,
                               _("Tries every installed backbone on a sample of your photos: accuracy, speed and size"));
  g_signal_connect_swapped (self->compare_button, "clicked", G_CALLBACK (compare_clicked_cb), self);
  gtk_box_append (GTK_BOX (footer), self->compare_button);
  gtk_box_append (GTK_BOX (self->box), footer);
  update_all (self);
  bt_backbone_list_refresh (self);
}

GtkWidget *
bt_backbone_list_new (void)
{
  return g_object_new (BT_TYPE_BACKBONE_LIST, NULL);
}
