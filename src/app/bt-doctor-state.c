/* bt-doctor-state.c: the data doctor of one open project (see bt-doctor-state.h). The run is a
 * GTask on a worker over a snapshot taken here; progress comes back through a BtThrottle. The
 * kept set is read and written asynchronously (doctor-kept.txt: one escaped key a line). */
#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "bt-doctor-state.h"
#include "dataset/bt-throttle.h"

#define KEPT_FILE "doctor-kept.txt"

struct _BtDoctorState
{
  GObject parent_instance;

  GWeakRef        project;
  GCancellable   *cancellable;     /* the running analysis, or NULL */
  BtThrottle     *throttle;
  char            stage[16];
  double          fraction;
  BtDoctorInput  *input;           /* of report */
  BtDoctorReport *report;
  GArray         *findings;        /* BtFinding */
  GHashTable     *label_issue_of;  /* path (the report's) → label-issue finding index + 1 */
  char           *error;
  GHashTable     *kept;            /* key → NULL */
  gboolean        kept_loaded;
  gboolean        saving, save_again;   /* one write at a time; the newest set is written last */
  guint           n_fixes;
};

G_DEFINE_FINAL_TYPE (BtDoctorState, bt_doctor_state, G_TYPE_OBJECT)

enum { CHANGED, PROGRESS, N_SIGNALS };
static guint signals[N_SIGNALS];

typedef struct { char stage[16]; double fraction; } Progress;

/* ---- Kept findings ---- */

static const char *kind_ids[BT_FINDING_N_KINDS] = { "label", "duplicate", "outlier", "quality" };

/* "label:/path/a.png"; duplicates "duplicate:/path/a.png\t/path/b.png" (escaped when saved). */
static char *
finding_key (BtDoctorState *self, const BtFinding *f)
{
  const char *a = bt_doctor_report_path (self->report, f->a);
  if (f->kind == BT_FINDING_DUPLICATE)
    return g_strdup_printf ("%s:%s\t%s", kind_ids[f->kind], a, bt_doctor_report_path (self->report, f->b));
  return g_strdup_printf ("%s:%s", kind_ids[f->kind], a);
}

static char *
kept_path (BtProject *project)
{
  return g_build_filename (bt_project_get_dir (project), KEPT_FILE, NULL);
}

static void save_kept (BtDoctorState *self);

static void
kept_loaded_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(BtDoctorState) self = user_data;
  g_autofree char *data = NULL;
  gsize len = 0;

  self->kept_loaded = TRUE;
  if (g_file_load_contents_finish (G_FILE (source), res, &data, &len, NULL, NULL))
    {
      g_auto(GStrv) lines = g_strsplit (data, "\n", -1);
      for (guint i = 0; lines[i] != NULL; i++)
        if (lines[i][0] != '\0')
          g_hash_table_add (self->kept, g_strcompress (lines[i]));
    }
  if (self->save_again)
    save_kept (self);
  g_signal_emit (self, signals[CHANGED], 0);
}

static void
kept_saved_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(BtDoctorState) self = user_data;
  g_autoptr(GError) error = NULL;

  if (!g_file_replace_contents_finish (G_FILE (source), res, NULL, &error))
    g_warning ("Could not save the doctor's kept images: %s", error->message);
  self->saving = FALSE;
  if (self->save_again)
    save_kept (self);
}

static void
save_kept (BtDoctorState *self)
{
  g_autoptr(BtProject) project = g_weak_ref_get (&self->project);
  GHashTableIter iter;
  gpointer key;
  GString *s = g_string_new (NULL);
  g_autofree char *path = NULL;
  g_autoptr(GFile) file = NULL;
  g_autoptr(GBytes) bytes = NULL;

  /* before the saved set is read, a write would lose it: write once it is merged */
  if (project == NULL || self->saving || !self->kept_loaded)
    {
      self->save_again = project != NULL;
      g_string_free (s, TRUE);
      return;
    }
  self->saving = TRUE;
  self->save_again = FALSE;
  g_hash_table_iter_init (&iter, self->kept);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    {
      g_autofree char *line = g_strescape (key, NULL);
      g_string_append (s, line);
      g_string_append_c (s, '\n');
    }
  bytes = g_string_free_to_bytes (s);
  path = kept_path (project);
  file = g_file_new_for_path (path);
  g_file_replace_contents_bytes_async (file, bytes, NULL, FALSE, G_FILE_CREATE_NONE, NULL, kept_saved_cb,
                                       g_object_ref (self));
}

void
bt_doctor_state_set_kept (BtDoctorState *self, const BtFinding *f, gboolean kept)
{
  g_return_if_fail (BT_IS_DOCTOR_STATE (self) && f != NULL && self->report != NULL);
  g_autofree char *key = finding_key (self, f);
  gboolean changed = kept ? g_hash_table_add (self->kept, g_steal_pointer (&key))
                          : g_hash_table_remove (self->kept, key);
  if (!changed)
    return;
  save_kept (self);
  g_signal_emit (self, signals[CHANGED], 0);
}

/* ---- Findings ---- */

BtItem *
bt_doctor_state_get_item (BtDoctorState *self, guint report_item)
{
  g_return_val_if_fail (BT_IS_DOCTOR_STATE (self), NULL);
  g_autoptr(BtProject) project = g_weak_ref_get (&self->project);
  if (project == NULL || self->report == NULL)
    return NULL;
  return bt_project_find_item (project, bt_doctor_report_path (self->report, report_item));
}

static gboolean
item_in_play (BtDoctorState *self, guint report_item)
{
  BtItem *item = bt_doctor_state_get_item (self, report_item);
  return item != NULL && !bt_item_get_excluded (item) && !bt_item_get_missing (item);
}

gboolean
bt_doctor_state_is_open (BtDoctorState *self, const BtFinding *f)
{
  g_return_val_if_fail (BT_IS_DOCTOR_STATE (self) && f != NULL, FALSE);
  if (self->report == NULL || !item_in_play (self, f->a))
    return FALSE;
  if (f->kind == BT_FINDING_DUPLICATE && !item_in_play (self, f->b))
    return FALSE;
  if (f->kind == BT_FINDING_LABEL)
    {
      BtItem *item = bt_doctor_state_get_item (self, f->a);
      if (g_strcmp0 (bt_item_get_class_name (item), bt_doctor_report_class (self->report, f->label)) != 0)
        return FALSE;
    }
  g_autofree char *key = finding_key (self, f);
  return !g_hash_table_contains (self->kept, key);
}

GArray *
bt_doctor_state_get_findings (BtDoctorState *self)
{
  g_return_val_if_fail (BT_IS_DOCTOR_STATE (self), NULL);
  return self->findings;
}

guint
bt_doctor_state_count_open (BtDoctorState *self, BtFindingKind kind)
{
  g_return_val_if_fail (BT_IS_DOCTOR_STATE (self), 0);
  guint n = 0;
  for (guint i = 0; i < self->findings->len; i++)
    {
      const BtFinding *f = &g_array_index (self->findings, BtFinding, i);
      if ((kind == BT_FINDING_N_KINDS || f->kind == kind) && bt_doctor_state_is_open (self, f))
        n++;
    }
  return n;
}

const char *
bt_doctor_state_suspect (BtDoctorState *self, const char *path, double *score)
{
  g_return_val_if_fail (BT_IS_DOCTOR_STATE (self) && path != NULL, NULL);
  guint index = GPOINTER_TO_UINT (g_hash_table_lookup (self->label_issue_of, path));
  if (index == 0)
    return NULL;
  const BtFinding *f = &g_array_index (self->findings, BtFinding, index - 1);
  if (!bt_doctor_state_is_open (self, f))
    return NULL;
  if (score != NULL)
    *score = f->score;
  return bt_doctor_report_class (self->report, f->suggested);
}

static void
build_findings (BtDoctorState *self)
{
  const BtDoctorReport *r = self->report;

  g_array_set_size (self->findings, 0);
  g_hash_table_remove_all (self->label_issue_of);
  for (guint i = 0; i < r->label_issues->len; i++)
    {
      const BtDoctorLabelIssue *x = &g_array_index (r->label_issues, BtDoctorLabelIssue, i);
      BtFinding f = { BT_FINDING_LABEL, x->item, 0, x->label, x->suggested, x->score, 0 };
      g_array_append_val (self->findings, f);
      g_hash_table_insert (self->label_issue_of, (gpointer) bt_doctor_report_path (r, x->item),
                           GUINT_TO_POINTER (self->findings->len));
    }
  for (guint i = 0; i < r->duplicates->len; i++)
    {
      const BtDoctorDuplicate *x = &g_array_index (r->duplicates, BtDoctorDuplicate, i);
      BtFinding f = { BT_FINDING_DUPLICATE, x->a, x->b, -1, -1, x->distance, 0 };
      g_array_append_val (self->findings, f);
    }
  for (guint i = 0; i < r->outliers->len; i++)
    {
      const BtDoctorOutlier *x = &g_array_index (r->outliers, BtDoctorOutlier, i);
      BtFinding f = { BT_FINDING_OUTLIER, x->item, 0, -1, -1, x->score, 0 };
      g_array_append_val (self->findings, f);
    }
  for (guint i = 0; i < r->quality->len; i++)
    {
      const BtDoctorQuality *x = &g_array_index (r->quality, BtDoctorQuality, i);
      BtFinding f = { BT_FINDING_QUALITY, x->item, 0, -1, -1, x->score, x->problems };
      g_array_append_val (self->findings, f);
    }
}

/* ---- The run ---- */

typedef struct {
  BtDoctorInput *input;
  BtThrottle    *throttle;
} RunData;

static void
run_data_free (RunData *d)
{
  bt_doctor_input_free (d->input);
  if (d->throttle)
    bt_throttle_unref (d->throttle);
  g_free (d);
}

static void
progress_cb (const char *stage, double fraction, gpointer user_data)
{
  RunData *d = user_data;
  Progress p = { { 0 }, fraction };
  g_strlcpy (p.stage, stage, sizeof p.stage);
  bt_throttle_post (d->throttle, &p);
}

static void
run_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  RunData *d = task_data;
  GError *error = NULL;
  BtDoctorReport *r = bt_doctor_run (d->input, NULL, progress_cb, d, cancellable, &error);

  if (r == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, r, (GDestroyNotify) bt_doctor_report_free);
}

static void
throttled_progress_cb (gconstpointer value, gpointer user_data)
{
  g_autoptr(BtDoctorState) self = g_weak_ref_get (user_data);
  const Progress *p = value;

  if (self == NULL || self->cancellable == NULL)
    return;
  g_strlcpy (self->stage, p->stage, sizeof self->stage);
  self->fraction = p->fraction;
  g_signal_emit (self, signals[PROGRESS], 0, self->stage, self->fraction);
}

static void
weak_ref_free (gpointer p)
{
  g_weak_ref_clear (p);
  g_free (p);
}

static void
run_done_cb (GObject *source, GAsyncResult *res, gpointer user_data)
{
  BtDoctorState *self = BT_DOCTOR_STATE (source);
  GCancellable *cancellable = g_task_get_cancellable (G_TASK (res));
  RunData *d = g_task_get_task_data (G_TASK (res));
  g_autoptr(GError) error = NULL;
  BtDoctorReport *r = g_task_propagate_pointer (G_TASK (res), &error);

  bt_throttle_close (d->throttle);
  if (cancellable != self->cancellable)   /* replaced by a newer run */
    {
      bt_doctor_report_free (r);
      return;
    }
  g_clear_object (&self->cancellable);
  g_clear_pointer (&self->error, g_free);
  if (r == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        self->error = g_strdup (error->message);
    }
  else
    {
      g_hash_table_remove_all (self->label_issue_of);   /* its keys belong to the old input */
      g_clear_pointer (&self->report, bt_doctor_report_free);
      g_clear_pointer (&self->input, bt_doctor_input_free);
      self->input = g_steal_pointer (&d->input);   /* the report borrows it */
      self->report = r;
      build_findings (self);
    }
  g_signal_emit (self, signals[CHANGED], 0);
}

void
bt_doctor_state_run (BtDoctorState *self)
{
  g_return_if_fail (BT_IS_DOCTOR_STATE (self));
  g_autoptr(BtProject) project = g_weak_ref_get (&self->project);
  if (project == NULL)
    return;
  bt_doctor_state_cancel (self);
  self->cancellable = g_cancellable_new ();
  g_strlcpy (self->stage, "decode", sizeof self->stage);
  self->fraction = 0;

  GWeakRef *ref = g_new0 (GWeakRef, 1);
  g_weak_ref_init (ref, self);
  RunData *d = g_new0 (RunData, 1);
  d->input = bt_doctor_input_new (project);
  d->throttle = bt_throttle_new (sizeof (Progress), G_PRIORITY_DEFAULT_IDLE, throttled_progress_cb, ref,
                                 weak_ref_free);
  g_autoptr(GTask) task = g_task_new (self, self->cancellable, run_done_cb, NULL);
  g_task_set_task_data (task, d, (GDestroyNotify) run_data_free);
  g_task_run_in_thread (task, run_thread);
  g_signal_emit (self, signals[CHANGED], 0);
}

void
bt_doctor_state_cancel (BtDoctorState *self)
{
  g_return_if_fail (BT_IS_DOCTOR_STATE (self));
  if (self->cancellable == NULL)
    return;
  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  g_signal_emit (self, signals[CHANGED], 0);
}

gboolean
bt_doctor_state_is_running (BtDoctorState *self)
{
  g_return_val_if_fail (BT_IS_DOCTOR_STATE (self), FALSE);
  return self->cancellable != NULL;
}

const char *
bt_doctor_state_get_stage (BtDoctorState *self, double *fraction)
{
  g_return_val_if_fail (BT_IS_DOCTOR_STATE (self), NULL);
  if (fraction != NULL)
    *fraction = self->fraction;
  return self->stage;
}

const BtDoctorReport *
bt_doctor_state_get_report (BtDoctorState *self)
{
  g_return_val_if_fail (BT_IS_DOCTOR_STATE (self), NULL);
  return self->report;
}

const char *
bt_doctor_state_get_error (BtDoctorState *self)
{
  g_return_val_if_fail (BT_IS_DOCTOR_STATE (self), NULL);
  return self->error;
}

/* ---- The object ---- */

guint
bt_doctor_state_get_n_fixes (BtDoctorState *self)
{
  g_return_val_if_fail (BT_IS_DOCTOR_STATE (self), 0);
  return self->n_fixes;
}

void
bt_doctor_state_add_fixes (BtDoctorState *self, int delta)
{
  g_return_if_fail (BT_IS_DOCTOR_STATE (self));
  self->n_fixes = (guint) MAX ((gint64) self->n_fixes + delta, 0);
}

static void
bt_doctor_state_dispose (GObject *object)
{
  BtDoctorState *self = BT_DOCTOR_STATE (object);

  if (self->cancellable != NULL)
    g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  G_OBJECT_CLASS (bt_doctor_state_parent_class)->dispose (object);
}

static void
bt_doctor_state_finalize (GObject *object)
{
  BtDoctorState *self = BT_DOCTOR_STATE (object);

  g_weak_ref_clear (&self->project);
  g_hash_table_unref (self->label_issue_of);   /* its keys belong to the input */
  g_clear_pointer (&self->report, bt_doctor_report_free);
  g_clear_pointer (&self->input, bt_doctor_input_free);
  g_array_unref (self->findings);
  g_hash_table_unref (self->kept);
  g_free (self->error);
  G_OBJECT_CLASS (bt_doctor_state_parent_class)->finalize (object);
}

static void
bt_doctor_state_class_init (BtDoctorStateClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = bt_doctor_state_dispose;
  object_class->finalize = bt_doctor_state_finalize;
  signals[CHANGED] = g_signal_new ("changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                                   NULL, G_TYPE_NONE, 0);
  signals[PROGRESS] = g_signal_new ("progress", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                                    NULL, G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_DOUBLE);
}

static void
bt_doctor_state_init (BtDoctorState *self)
{
  self->findings = g_array_new (FALSE, FALSE, sizeof (BtFinding));
  self->label_issue_of = g_hash_table_new (g_str_hash, g_str_equal);
  self->kept = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
}

BtDoctorState *
bt_doctor_state_get (BtProject *project)
{
  static GQuark quark;
  BtDoctorState *self;

  g_return_val_if_fail (BT_IS_PROJECT (project), NULL);
  if (quark == 0)
    quark = g_quark_from_static_string ("bt-doctor-state");
  self = g_object_get_qdata (G_OBJECT (project), quark);
  if (self == NULL)
    {
      g_autofree char *path = kept_path (project);
      g_autoptr(GFile) file = g_file_new_for_path (path);

      self = g_object_new (BT_TYPE_DOCTOR_STATE, NULL);
      g_weak_ref_init (&self->project, project);
      g_object_set_qdata_full (G_OBJECT (project), quark, self, g_object_unref);
      g_file_load_contents_async (file, NULL, kept_loaded_cb, g_object_ref (self));
    }
  return self;
}
