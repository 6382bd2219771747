/* bt-project.c: BtProject, a folder with project.ini (GKeyFile) and labels.csv (RFC 4180).
 * Every mutation is saved atomically and durably before it returns. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <unistd.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>

#include "dataset/bt-dataset-private.h"

#define BT_PROJECT_FORMAT_VERSION 1
#define BT_N_COLORS 12
#define BT_MAX_INI_BYTES ((gsize) 4 * 1024 * 1024)
#define BT_MAX_LABELS_BYTES ((gsize) 1024 * 1024 * 1024)

struct _BtProject {
  GObject            parent_instance;
  char              *dir;
  char              *name;
  BtProjectSettings  settings;
  GListStore        *classes;        /* BtClassInfo */
  GListStore        *items;          /* BtItem */
  GHashTable        *by_path;        /* path → BtItem (borrowed) */
  GHashTable        *class_by_name;  /* name → BtClassInfo (borrowed) */
  guint              next_color;
  gint               generation;     /* bumped by every change; async applies compare it */
  BtSaver           *saver;          /* the writer thread of labels.csv and project.ini */
  gboolean           dirty_labels, dirty_ini;  /* changed since the last hand-over */
  GThread           *commit_thread;  /* the thread that made the last change */
  /* Saves of an import's chunks are rate-limited (BULK_SAVE_INTERVAL); a user's edit is not. */
  gboolean           dirty_edit;     /* an edit (not an import chunk) waits for its hand-over */
  gint64             last_hand_over; /* monotonic µs */
  GSource           *bulk_timer;     /* hands bulk changes over once the interval has passed */
  /* Renames made while streaming imports run (old → new name, owned): their items still to
   * come, decided or not, go to the renamed class. Emptied when the last import ends. */
  guint              n_imports;
  GHashTable        *renamed;
};

/* An import in progress is saved at most once a second (and at its end, and on flush): each
 * save snapshots every item on the main thread, O(n), which would otherwise run after every
 * chunk and stall a GUI by tens of ms on a big project. Every other change is saved at once. */
#define BULK_SAVE_INTERVAL (G_USEC_PER_SEC)

G_DEFINE_FINAL_TYPE (BtProject, bt_project, G_TYPE_OBJECT)

enum { SIGNAL_CHANGED, SIGNAL_SAVE_FAILED, N_SIGNALS };
static guint signals[N_SIGNALS];

static void hand_over (BtProject *self, gboolean retry);

/* ---- Settings ---- */

static void
settings_defaults (BtProjectSettings *s)
{
  memset (s, 0, sizeof *s);
  s->preset = g_strdup ("small-cnn");
  s->width = s->height = 64;
  s->channels = 3;
  s->resize = BT_DS_RESIZE_SQUASH;
  s->epochs = 20;
  s->batch_size = 32;
  s->optimizer = g_strdup ("adam");
  s->learning_rate = 0.001;
  s->schedule = g_strdup ("constant");
  s->weight_decay = 0.0;
  s->dropout = -1.0;
  s->label_smoothing = 0.0;
  s->early_stopping_patience = 0;
  s->early_stopping_monitor = g_strdup ("val_loss");
  s->early_stopping_min_delta = 0.0;
  s->restore_best = TRUE;
  s->split_train = 80;
  s->split_val = 10;
  s->split_test = 10;
  s->seed = 42;
}

void
bt_project_settings_clear (BtProjectSettings *s)
{
  g_return_if_fail (s != NULL);
  g_clear_pointer (&s->preset, g_free);
  g_clear_pointer (&s->optimizer, g_free);
  g_clear_pointer (&s->schedule, g_free);
  g_clear_pointer (&s->early_stopping_monitor, g_free);
}

void
bt_project_settings_copy (BtProjectSettings *dest, const BtProjectSettings *src)
{
  g_return_if_fail (dest != NULL && src != NULL);
  BtProjectSettings tmp = *src;
  tmp.preset = g_strdup (src->preset);
  tmp.optimizer = g_strdup (src->optimizer);
  tmp.schedule = g_strdup (src->schedule);
  tmp.early_stopping_monitor = g_strdup (src->early_stopping_monitor);
  *dest = tmp;
}

static gboolean
one_of (const char *s, const char * const *allowed)
{
  for (; s && *allowed; allowed++)
    if (g_str_equal (s, *allowed))
      return TRUE;
  return FALSE;
}

static gboolean
settings_validate (const BtProjectSettings *s, GError **error)
{
  static const char * const optimizers[] = { "sgd", "adam", "adamw", NULL };
  static const char * const schedules[] = { "constant", "step", "cosine", "plateau", NULL };
  static const char * const monitors[] = { "val_loss", "val_acc", NULL };
  const char *bad = NULL;
  if (s->preset == NULL || s->preset[0] == '\0' || !g_utf8_validate (s->preset, -1, NULL))
    bad = "preset";
  else if (s->width < 4 || s->width > 1024 || s->height < 4 || s->height > 1024)
    bad = _("input size (4 to 1024 pixels)");
  else if (s->channels != 1 && s->channels != 3)
    bad = _("colour mode");
  else if (s->resize > BT_DS_RESIZE_PAD)
    bad = _("resize mode");
  else if (s->epochs < 1 || s->epochs > 100000)
    bad = _("epochs");
  else if (s->batch_size < 1 || s->batch_size > 65536)
    bad = _("batch size");
  else if (!one_of (s->optimizer, optimizers))
    bad = _("optimizer");
  else if (!(s->learning_rate > 0.0 && s->learning_rate <= 10.0))
    bad = _("learning rate");
  else if (!one_of (s->schedule, schedules))
    bad = _("learning-rate schedule");
  else if (!(s->weight_decay >= 0.0 && s->weight_decay <= 1.0))
    bad = _("weight decay");
  else if (!(s->dropout < 1.0) || s->dropout != s->dropout)
    bad = _("dropout");
  else if (!(s->label_smoothing >= 0.0 && s->label_smoothing < 1.0))
    bad = _("label smoothing");
  else if (s->early_stopping_patience < 0 || s->early_stopping_patience > 100000)
    bad = _("early-stopping patience");
  else if (!one_of (s->early_stopping_monitor, monitors))
    bad = _("early-stopping measure");
  else if (!(s->early_stopping_min_delta >= 0.0 && s->early_stopping_min_delta < 1e6))
    bad = _("early-stopping minimum change");
  else if (s->transfer_hidden < 0 || s->transfer_hidden > 4096)
    bad = _("hidden layer of the transfer head (0 to 4096 units)");
  else if (s->split_train < 0 || s->split_val < 0 || s->split_test < 0 ||
           s->split_train + s->split_val + s->split_test != 100 || s->split_train == 0)
    bad = _("split percentages (must add up to 100, with some training)");
  if (bad)
    {
      g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_INVALID, _("Invalid setting: %s"), bad);
      return FALSE;
    }
  return TRUE;
}

/* ---- Object ---- */

static void
bt_project_finalize (GObject *object)
{
  BtProject *self = BT_PROJECT (object);
  if (self->bulk_timer)
    {
      g_source_destroy (self->bulk_timer);
      g_clear_pointer (&self->bulk_timer, g_source_unref);
    }
  /* Nothing changed is lost when the project goes away (the app quitting). */
  if (self->saver)
    {
      bt_saver_wait (self->saver, NULL);
      if (self->dirty_labels || self->dirty_ini)
        {
          hand_over (self, TRUE);
          bt_saver_wait (self->saver, NULL);
        }
      g_clear_pointer (&self->saver, bt_saver_unref);
    }
  g_free (self->dir);
  g_free (self->name);
  bt_project_settings_clear (&self->settings);
  g_clear_pointer (&self->by_path, g_hash_table_unref);
  g_clear_pointer (&self->class_by_name, g_hash_table_unref);
  g_clear_pointer (&self->renamed, g_hash_table_unref);
  g_clear_object (&self->classes);
  g_clear_object (&self->items);
  G_OBJECT_CLASS (bt_project_parent_class)->finalize (object);
}

static void
bt_project_class_init (BtProjectClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  object_class->finalize = bt_project_finalize;
  signals[SIGNAL_CHANGED] = g_signal_new ("changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                          0, NULL, NULL, NULL, G_TYPE_NONE, 0);
  signals[SIGNAL_SAVE_FAILED] = g_signal_new ("save-failed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                              0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_ERROR);
}

static void
bt_project_init (BtProject *self)
{
  settings_defaults (&self->settings);
  self->classes = g_list_store_new (BT_TYPE_CLASS_INFO);
  self->items = g_list_store_new (BT_TYPE_ITEM);
  self->by_path = g_hash_table_new (g_str_hash, g_str_equal);
  self->class_by_name = g_hash_table_new (g_str_hash, g_str_equal);
}

static void
saver_failed (GObject *owner, const GError *error)
{
  g_signal_emit (owner, signals[SIGNAL_SAVE_FAILED], 0, error);
}

static void request_save (BtProject *self, gboolean ini, gboolean labels, gboolean bulk);

static void
saver_drained (GObject *owner)
{
  BtProject *self = BT_PROJECT (owner);
  /* Only what changed meanwhile: a failed write is retried by the next change or a flush,
   * never in a loop against a full disk. */
  /* The idle runs on the main context; a project filled on a worker (the sample, an open in a
   * GTask) is that worker's until handed over: its next change or flush writes instead. */
  if ((self->dirty_labels || self->dirty_ini) && g_atomic_pointer_get (&self->commit_thread) == g_thread_self ())
    request_save (self, FALSE, FALSE, FALSE);
}

static void
start_saver (BtProject *self)
{
  self->saver = bt_saver_new (self->dir, G_OBJECT (self), saver_failed, saver_drained);
}

/* ---- Paths ---- */

static char *
to_absolute (BtProject *self, const char *path)
{
  return g_canonicalize_filename (path, self->dir);
}

/* ---- Saving ---- */

static GKeyFile *
to_keyfile (BtProject *self)
{
  GKeyFile *kf = g_key_file_new ();
  const BtProjectSettings *s = &self->settings;
  g_key_file_set_integer (kf, "project", "format-version", BT_PROJECT_FORMAT_VERSION);
  g_key_file_set_string (kf, "project", "name", self->name ? self->name : "");
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->classes));
  g_autofree const char **names = g_new0 (const char *, n + 1);
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(BtClassInfo) c = g_list_model_get_item (G_LIST_MODEL (self->classes), i);
      names[i] = bt_class_info_get_name (c);
    }
  g_key_file_set_string_list (kf, "project", "classes", names, n);

  g_key_file_set_string (kf, "input", "preset", s->preset);
  g_key_file_set_integer (kf, "input", "width", s->width);
  g_key_file_set_integer (kf, "input", "height", s->height);
  g_key_file_set_string (kf, "input", "color-mode", s->channels == 1 ? "grayscale" : "rgb");
  g_key_file_set_string (kf, "input", "resize", bt_ds_resize_to_string (s->resize));

  g_key_file_set_integer (kf, "training", "epochs", s->epochs);
  g_key_file_set_integer (kf, "training", "batch-size", s->batch_size);
  g_key_file_set_string (kf, "training", "optimizer", s->optimizer);
  g_key_file_set_double (kf, "training", "learning-rate", s->learning_rate);
  g_key_file_set_string (kf, "training", "schedule", s->schedule);
  g_key_file_set_double (kf, "training", "weight-decay", s->weight_decay);
  g_key_file_set_double (kf, "training", "dropout", s->dropout);
  g_key_file_set_boolean (kf, "training", "class-weights", s->class_weights);
  g_key_file_set_double (kf, "training", "label-smoothing", s->label_smoothing);
  g_key_file_set_integer (kf, "training", "early-stopping-patience", s->early_stopping_patience);
  g_key_file_set_string (kf, "training", "early-stopping-monitor", s->early_stopping_monitor);
  g_key_file_set_double (kf, "training", "early-stopping-min-delta", s->early_stopping_min_delta);
  g_key_file_set_boolean (kf, "training", "restore-best", s->restore_best);

  g_key_file_set_integer (kf, "transfer", "hidden", s->transfer_hidden);
  g_key_file_set_boolean (kf, "transfer", "whole-network", s->transfer_whole_network);

  g_key_file_set_boolean (kf, "augment", "flip", s->augment_flip);
  g_key_file_set_boolean (kf, "augment", "crop", s->augment_crop);
  g_key_file_set_boolean (kf, "augment", "rotate", s->augment_rotate);
  g_key_file_set_boolean (kf, "augment", "color", s->augment_color);

  g_key_file_set_integer (kf, "split", "train", s->split_train);
  g_key_file_set_integer (kf, "split", "val", s->split_val);
  g_key_file_set_integer (kf, "split", "test", s->split_test);
  g_autofree char *seed = g_strdup_printf ("%" G_GUINT64_FORMAT, s->seed);
  g_key_file_set_string (kf, "split", "seed", seed);
  return kf;
}

static GBytes *
ini_bytes (BtProject *self)
{
  g_autoptr(GKeyFile) kf = to_keyfile (self);
  gsize len = 0;
  char *data = g_key_file_to_data (kf, &len, NULL);
  return g_bytes_new_take (data, len);
}

/* Synchronous saves, for a project nobody else sees yet (bt_project_create). */
static gboolean
save_ini (BtProject *self, GError **error)
{
  g_autoptr(GBytes) data = ini_bytes (self);
  g_autofree char *path = g_build_filename (self->dir, "project.ini", NULL);
  return bt_write_file_atomic (path, g_bytes_get_data (data, NULL), g_bytes_get_size (data), error);
}

static gboolean
save_labels (BtProject *self, GError **error)
{
  g_autoptr(GArray) rows = bt_saver_snapshot (G_LIST_MODEL (self->items));
  g_autoptr(GString) out = bt_saver_serialize (self->dir, rows);
  g_autofree char *path = g_build_filename (self->dir, "labels.csv", NULL);
  return bt_write_file_atomic (path, out->str, out->len, error);
}

static void
recount (BtProject *self)
{
  g_autoptr(GHashTable) counts = g_hash_table_new (g_str_hash, g_str_equal);
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->items));
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(BtItem) it = g_list_model_get_item (G_LIST_MODEL (self->items), i);
      const char *c = bt_item_get_class_name (it);
      g_hash_table_insert (counts, (gpointer) c,
                           GUINT_TO_POINTER (GPOINTER_TO_UINT (g_hash_table_lookup (counts, c)) + 1));
    }
  guint nc = g_list_model_get_n_items (G_LIST_MODEL (self->classes));
  for (guint i = 0; i < nc; i++)
    {
      g_autoptr(BtClassInfo) c = g_list_model_get_item (G_LIST_MODEL (self->classes), i);
      bt_class_info_set_n_items (c, GPOINTER_TO_UINT (g_hash_table_lookup (counts, bt_class_info_get_name (c))));
    }
}

/* Hands what changed to the writer thread: a snapshot (item refs and shared strings, O(n)
 * pointer copies). A file whose last write failed goes along again. */
static void
hand_over (BtProject *self, gboolean retry)
{
  gboolean retry_labels = FALSE, retry_ini = FALSE;
  if (retry)
    bt_saver_needs (self->saver, &retry_labels, &retry_ini);
  gboolean labels = self->dirty_labels || retry_labels, ini = self->dirty_ini || retry_ini;
  self->dirty_labels = self->dirty_ini = self->dirty_edit = FALSE;
  self->last_hand_over = g_get_monotonic_time ();
  if (self->bulk_timer)
    {
      g_source_destroy (self->bulk_timer);
      g_clear_pointer (&self->bulk_timer, g_source_unref);
    }
  bt_saver_submit (self->saver, labels ? bt_saver_snapshot (G_LIST_MODEL (self->items)) : NULL,
                   ini ? ini_bytes (self) : NULL);
}

/* While the writer is busy, changes are only marked: when it goes idle it asks for one snapshot
 * of them all (saver_drained), so a burst of edits or an import's chunks cost one O(n) snapshot
 * per write, not one per change. */
static gboolean
bulk_timer_cb (gpointer data)
{
  BtProject *self = data;
  g_clear_pointer (&self->bulk_timer, g_source_unref);
  /* A busy writer asks again when it is done (saver_drained). */
  if ((self->dirty_labels || self->dirty_ini) && !bt_saver_is_busy (self->saver))
    hand_over (self, TRUE);
  return G_SOURCE_REMOVE;
}

/* bulk: an import's chunk, which may wait up to BULK_SAVE_INTERVAL after the last hand-over. */
static void
request_save (BtProject *self, gboolean ini, gboolean labels, gboolean bulk)
{
  self->dirty_labels |= labels;
  self->dirty_ini |= ini;
  if (!bulk && (labels || ini))
    self->dirty_edit = TRUE;
  if (!(self->dirty_labels || self->dirty_ini) || bt_saver_is_busy (self->saver))
    return;
  gint64 due = self->last_hand_over + BULK_SAVE_INTERVAL;
  gint64 now = g_get_monotonic_time ();
  if (self->dirty_edit || now >= due)
    {
      hand_over (self, TRUE);
      return;
    }
  if (self->bulk_timer == NULL)
    {
      /* The timer runs where the changes are made (the thread-default context then). */
      self->bulk_timer = g_timeout_source_new ((guint) ((due - now + 999) / 1000));
      g_source_set_callback (self->bulk_timer, bulk_timer_cb, self, NULL);
      g_source_attach (self->bulk_timer, g_main_context_get_thread_default ());
    }
}

/* Records a change: counts, save hand-over, "changed". The write happens on the writer thread;
 * if it fails, the files on disk keep their previous content, "save-failed" is emitted on the
 * project's main context and the next change (or bt_project_flush) writes again. */
static gboolean
commit_ex (BtProject *self, gboolean ini, gboolean labels, gboolean counts, gboolean bulk)
{
  g_atomic_int_inc (&self->generation);
  g_atomic_pointer_set (&self->commit_thread, g_thread_self ());
  if (counts)
    recount (self);
  request_save (self, ini, labels, bulk);
  g_signal_emit (self, signals[SIGNAL_CHANGED], 0);
  return TRUE;
}

static gboolean
commit_full (BtProject *self, gboolean ini, gboolean labels, gboolean counts)
{
  return commit_ex (self, ini, labels, counts, FALSE);
}

static gboolean
commit (BtProject *self, gboolean ini, gboolean labels, GError **error)
{
  return commit_full (self, ini, labels, TRUE);
}

gboolean
bt_project_flush (BtProject *self, GError **error)
{
  g_return_val_if_fail (BT_IS_PROJECT (self), FALSE);
  gboolean retry_labels = FALSE, retry_ini = FALSE;
  /* Let the running write end first, so its outcome decides whether to write again. */
  bt_saver_wait (self->saver, NULL);
  bt_saver_needs (self->saver, &retry_labels, &retry_ini);
  if (retry_labels || retry_ini || self->dirty_labels || self->dirty_ini)
    hand_over (self, TRUE);
  return bt_saver_wait (self->saver, error);
}

gboolean
bt_project_is_saving (BtProject *self)
{
  g_return_val_if_fail (BT_IS_PROJECT (self), FALSE);
  return self->dirty_labels || self->dirty_ini || bt_saver_is_busy (self->saver);
}

static void
flush_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  GError *error = NULL;
  if (bt_saver_wait (data, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

void
bt_project_flush_async (BtProject *self, GCancellable *cancellable, GAsyncReadyCallback callback,
                        gpointer user_data)
{
  g_return_if_fail (BT_IS_PROJECT (self));
  gboolean retry_labels = FALSE, retry_ini = FALSE;
  bt_saver_needs (self->saver, &retry_labels, &retry_ini);
  if (retry_labels || retry_ini || self->dirty_labels || self->dirty_ini)
    hand_over (self, TRUE);
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, bt_project_flush_async);
  /* The task keeps the project, and so its saver, alive. */
  g_task_set_task_data (task, self->saver, NULL);
  g_task_run_in_thread (task, flush_thread);
}

gboolean
bt_project_flush_finish (BtProject *self, GAsyncResult *res, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (res, self), FALSE);
  return g_task_propagate_boolean (G_TASK (res), error);
}

/* ---- Classes ---- */

static gboolean
check_class_name (const char *name, GError **error)
{
  if (name == NULL || !g_utf8_validate (name, -1, NULL))
    {
      g_set_error_literal (error, BT_DATASET_ERROR, BT_DATASET_ERROR_INVALID,
                           _("A class name must be valid text"));
      return FALSE;
    }
  g_autofree char *stripped = g_strstrip (g_strdup (name));
  if (stripped[0] == '\0')
    {
      g_set_error_literal (error, BT_DATASET_ERROR, BT_DATASET_ERROR_INVALID,
                           _("A class name cannot be empty"));
      return FALSE;
    }
  if (strlen (name) > 255)
    {
      g_set_error_literal (error, BT_DATASET_ERROR, BT_DATASET_ERROR_INVALID,
                           _("A class name can be at most 255 bytes long"));
      return FALSE;
    }
  return TRUE;
}

static BtClassInfo *
ensure_class (BtProject *self, const char *name)
{
  BtClassInfo *c = g_hash_table_lookup (self->class_by_name, name);
  if (c)
    return c;
  g_autoptr(BtClassInfo) nc = bt_class_info_new (name, self->next_color++ % BT_N_COLORS);
  g_list_store_append (self->classes, nc);
  g_hash_table_insert (self->class_by_name, (gpointer) bt_class_info_get_name (nc), nc);
  return nc;
}

int
bt_project_find_class (BtProject *self, const char *name)
{
  g_return_val_if_fail (BT_IS_PROJECT (self), -1);
  g_return_val_if_fail (name != NULL, -1);
  BtClassInfo *c = g_hash_table_lookup (self->class_by_name, name);
  guint pos = 0;
  if (c == NULL || !g_list_store_find (self->classes, c, &pos))
    return -1;
  return (int) pos;
}

BtItem *
bt_project_find_item (BtProject *self, const char *path)
{
  g_return_val_if_fail (BT_IS_PROJECT (self), NULL);
  g_return_val_if_fail (path != NULL, NULL);
  g_autofree char *abs = to_absolute (self, path);
  return g_hash_table_lookup (self->by_path, abs);
}

/* Small classes keep a validation image: when a class with >= 2 usable items has none in val,
 * move one candidate there, the one whose hash lies closest to the val band. Candidates are the
 * items just added, so adding images never moves the ones already there. */
static void
ensure_val (BtProject *self, const char *class_name, GPtrArray *candidates)
{
  const BtProjectSettings *s = &self->settings;
  if (s->split_val <= 0)
    return;
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->items));
  guint usable = 0;
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(BtItem) it = g_list_model_get_item (G_LIST_MODEL (self->items), i);
      if (g_strcmp0 (bt_item_get_class_name (it), class_name) != 0 || bt_item_get_excluded (it))
        continue;
      if (bt_item_get_split (it) == BT_SPLIT_VAL)
        return;
      usable++;
    }
  if (usable < 2)
    return;
  double centre = (s->split_train + s->split_val / 2.0) / 100.0;
  BtItem *best = NULL;
  double best_d = G_MAXDOUBLE;
  for (guint i = 0; candidates && i < candidates->len; i++)
    {
      BtItem *it = candidates->pdata[i];
      if (g_strcmp0 (bt_item_get_class_name (it), class_name) != 0 || bt_item_get_excluded (it))
        continue;
      double d = fabs (bt_split_position (bt_item_get_hash (it)) - centre);
      /* Prefer taking from train over emptying test. */
      if (bt_item_get_split (it) == BT_SPLIT_TEST)
        d += 2.0;
      if (d < best_d)
        {
          best_d = d;
          best = it;
        }
    }
  if (best)
    bt_item_set_split (best, BT_SPLIT_VAL);
}

static void
resplit_all (BtProject *self)
{
  const BtProjectSettings *s = &self->settings;
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->items));
  g_autoptr(GPtrArray) all = g_ptr_array_new_with_free_func (g_object_unref);
  for (guint i = 0; i < n; i++)
    {
      BtItem *it = g_list_model_get_item (G_LIST_MODEL (self->items), i);
      bt_item_set_split (it, bt_split_for_hash (bt_item_get_hash (it), s->split_train, s->split_val, s->split_test));
      g_ptr_array_add (all, it);
    }
  guint nc = g_list_model_get_n_items (G_LIST_MODEL (self->classes));
  for (guint i = 0; i < nc; i++)
    {
      g_autoptr(BtClassInfo) c = g_list_model_get_item (G_LIST_MODEL (self->classes), i);
      ensure_val (self, bt_class_info_get_name (c), all);
    }
}

gboolean
bt_project_add_class (BtProject *self, const char *name, GError **error)
{
  g_return_val_if_fail (BT_IS_PROJECT (self), FALSE);
  if (!check_class_name (name, error))
    return FALSE;
  if (g_hash_table_contains (self->class_by_name, name))
    {
      g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_INVALID,
                   _("A class named “%s” already exists"), name);
      return FALSE;
    }
  ensure_class (self, name);
  return commit (self, TRUE, FALSE, error);
}

/* The class an import's item named `name` belongs to now: the renamed class when the user
 * renamed it during the import (and it still exists), else name itself. */
static const char *
import_class_name (BtProject *self, const char *name)
{
  const char *to = self->renamed ? g_hash_table_lookup (self->renamed, name) : NULL;
  return to != NULL && g_hash_table_contains (self->class_by_name, to) ? to : name;
}

static void
note_rename (BtProject *self, const char *old_name, const char *new_name)
{
  if (self->n_imports == 0)
    return;
  if (self->renamed == NULL)
    self->renamed = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  /* chains collapse: A → B then B → C makes A → C */
  GHashTableIter iter;
  gpointer key, value;
  g_hash_table_iter_init (&iter, self->renamed);
  while (g_hash_table_iter_next (&iter, &key, &value))
    if (g_str_equal (value, old_name))
      {
        if (g_str_equal (key, new_name))
          g_hash_table_iter_remove (&iter);   /* renamed back */
        else
          g_hash_table_iter_replace (&iter, g_strdup (new_name));
      }
  g_hash_table_replace (self->renamed, g_strdup (old_name), g_strdup (new_name));
}

gboolean
bt_project_rename_class (BtProject *self, const char *old_name, const char *new_name, GError **error)
{
  g_return_val_if_fail (BT_IS_PROJECT (self), FALSE);
  g_return_val_if_fail (old_name != NULL, FALSE);
  BtClassInfo *c = g_hash_table_lookup (self->class_by_name, old_name);
  if (c == NULL)
    {
      g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_INVALID, _("There is no class named “%s”"), old_name);
      return FALSE;
    }
  if (!check_class_name (new_name, error))
    return FALSE;
  if (g_str_equal (old_name, new_name))
    return TRUE;
  if (g_hash_table_contains (self->class_by_name, new_name))
    {
      g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_INVALID,
                   _("A class named “%s” already exists"), new_name);
      return FALSE;
    }
  g_autofree char *old = g_strdup (old_name);  /* old_name may be the class's own string */
  note_rename (self, old, new_name);
  g_hash_table_remove (self->class_by_name, old);
  bt_class_info_set_name (c, new_name);
  g_hash_table_insert (self->class_by_name, (gpointer) bt_class_info_get_name (c), c);
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->items));
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(BtItem) it = g_list_model_get_item (G_LIST_MODEL (self->items), i);
      if (g_str_equal (bt_item_get_class_name (it), old))
        bt_item_set_class_name (it, new_name);
    }
  return commit (self, TRUE, TRUE, error);
}

gboolean
bt_project_remove_class (BtProject *self, const char *name, GError **error)
{
  g_return_val_if_fail (BT_IS_PROJECT (self), FALSE);
  g_return_val_if_fail (name != NULL, FALSE);
  BtClassInfo *c = g_hash_table_lookup (self->class_by_name, name);
  guint pos = 0;
  if (c == NULL || !g_list_store_find (self->classes, c, &pos))
    {
      g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_INVALID, _("There is no class named “%s”"), name);
      return FALSE;
    }
  g_autofree char *gone = g_strdup (name);
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->items));
  g_autoptr(GPtrArray) keep = g_ptr_array_new_with_free_func (g_object_unref);
  for (guint i = 0; i < n; i++)
    {
      BtItem *it = g_list_model_get_item (G_LIST_MODEL (self->items), i);
      if (g_str_equal (bt_item_get_class_name (it), gone))
        {
          g_hash_table_remove (self->by_path, bt_item_get_path (it));
          g_object_unref (it);
        }
      else
        g_ptr_array_add (keep, it);
    }
  if (keep->len != n)
    g_list_store_splice (self->items, 0, n, keep->pdata, keep->len);
  g_hash_table_remove (self->class_by_name, gone);
  g_list_store_remove (self->classes, pos);
  return commit (self, TRUE, TRUE, error);
}

gboolean
bt_project_move_class (BtProject *self, const char *name, guint new_position, GError **error)
{
  g_return_val_if_fail (BT_IS_PROJECT (self), FALSE);
  g_return_val_if_fail (name != NULL, FALSE);
  BtClassInfo *c = g_hash_table_lookup (self->class_by_name, name);
  guint pos = 0;
  if (c == NULL || !g_list_store_find (self->classes, c, &pos))
    {
      g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_INVALID, _("There is no class named “%s”"), name);
      return FALSE;
    }
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->classes));
  new_position = MIN (new_position, n - 1);
  if (new_position == pos)
    return TRUE;
  g_object_ref (c);
  g_list_store_remove (self->classes, pos);
  g_list_store_insert (self->classes, new_position, c);
  g_object_unref (c);
  return commit (self, TRUE, FALSE, error);
}

/* ---- Items ---- */

/* Content hash and, from the header, the image size (0 × 0 when not an image). */
static guint64
hash_file (const char *path, int *width, int *height)
{
  g_autofree guint8 *data = NULL;
  gsize len = 0;
  *width = *height = 0;
  if (!bt_read_regular_file (path, BT_MAX_FILE_BYTES, &data, &len, NULL, NULL))
    return 0;
  if (!bt_image_probe_bytes (data, len, width, height, NULL, NULL, NULL))
    *width = *height = 0;
  return bt_hash_bytes (data, len);
}

/* Adds without saving; returns the new item (borrowed) or NULL if the path is already there. */
static BtItem *
add_item_nosave (BtProject *self, const char *abs, const char *class_name, guint64 hash,
                 int split, gboolean excluded)
{
  if (g_hash_table_contains (self->by_path, abs))
    return NULL;
  ensure_class (self, class_name);
  const BtProjectSettings *s = &self->settings;
  BtSplit sp = split >= 0 ? (BtSplit) split
                          : bt_split_for_hash (hash, s->split_train, s->split_val, s->split_test);
  g_autoptr(BtItem) it = bt_item_new (abs, class_name, sp, hash);
  bt_item_set_excluded (it, excluded);
  g_hash_table_insert (self->by_path, (gpointer) bt_item_get_path (it), it);
  g_list_store_append (self->items, it);
  return it;
}

gboolean
bt_project_add_items (BtProject *self, const char *class_name, const char * const *paths,
                      const guint64 *hashes, GError **error)
{
  g_return_val_if_fail (BT_IS_PROJECT (self), FALSE);
  g_return_val_if_fail (paths != NULL, FALSE);
  if (!check_class_name (class_name, error))
    return FALSE;
  gboolean new_class = !g_hash_table_contains (self->class_by_name, class_name);
  ensure_class (self, class_name);
  g_autoptr(GPtrArray) added = g_ptr_array_new ();
  for (guint i = 0; paths[i]; i++)
    {
      g_autofree char *abs = to_absolute (self, paths[i]);
      int w = 0, hgt = 0;
      guint64 h = hashes && hashes[i] ? hashes[i] : hash_file (abs, &w, &hgt);
      if (h == 0)
        h = bt_hash_bytes ((const guint8 *) abs, strlen (abs));  /* unreadable now: still stable */
      BtItem *it = add_item_nosave (self, abs, class_name, h, -1, FALSE);
      if (it)
        {
          bt_item_set_size (it, w, hgt);
          g_ptr_array_add (added, it);
        }
    }
  ensure_val (self, class_name, added);
  if (added->len == 0 && !new_class)
    return TRUE;
  return commit (self, new_class, TRUE, error);
}

gboolean
bt_project_relabel (BtProject *self, BtItem * const *items, guint n, const char *class_name, GError **error)
{
  g_return_val_if_fail (BT_IS_PROJECT (self), FALSE);
  g_return_val_if_fail (items != NULL || n == 0, FALSE);
  if (!check_class_name (class_name, error))
    return FALSE;
  gboolean new_class = !g_hash_table_contains (self->class_by_name, class_name);
  ensure_class (self, class_name);
  g_autoptr(GPtrArray) moved = g_ptr_array_new ();
  for (guint i = 0; i < n; i++)
    {
      g_return_val_if_fail (BT_IS_ITEM (items[i]), FALSE);
      if (g_hash_table_lookup (self->by_path, bt_item_get_path (items[i])) != items[i])
        continue;  /* not ours */
      bt_item_set_class_name (items[i], class_name);
      g_ptr_array_add (moved, items[i]);
    }
  ensure_val (self, class_name, moved);
  return commit (self, new_class, TRUE, error);
}

gboolean
bt_project_set_excluded (BtProject *self, BtItem * const *items, guint n, gboolean excluded, GError **error)
{
  g_return_val_if_fail (BT_IS_PROJECT (self), FALSE);
  g_return_val_if_fail (items != NULL || n == 0, FALSE);
  for (guint i = 0; i < n; i++)
    {
      g_return_val_if_fail (BT_IS_ITEM (items[i]), FALSE);
      if (g_hash_table_lookup (self->by_path, bt_item_get_path (items[i])) == items[i])
        bt_item_set_excluded (items[i], excluded);
    }
  return commit (self, FALSE, TRUE, error);
}

/* ---- Loading ---- */

typedef struct {
  int col_path, col_class, col_split, col_excluded, col_hash, col_width, col_height;
} Columns;

static gboolean
parse_header (char **row, Columns *c)
{
  c->col_path = c->col_class = c->col_split = c->col_excluded = c->col_hash = -1;
  c->col_width = c->col_height = -1;
  for (int i = 0; row[i]; i++)
    {
      g_autofree char *k = g_ascii_strdown (row[i], -1);
      g_strstrip (k);
      if (g_str_equal (k, "path") || g_str_equal (k, "file") || g_str_equal (k, "filename"))
        c->col_path = i;
      else if (g_str_equal (k, "class") || g_str_equal (k, "label"))
        c->col_class = i;
      else if (g_str_equal (k, "split"))
        c->col_split = i;
      else if (g_str_equal (k, "excluded"))
        c->col_excluded = i;
      else if (g_str_equal (k, "hash"))
        c->col_hash = i;
      else if (g_str_equal (k, "width"))
        c->col_width = i;
      else if (g_str_equal (k, "height"))
        c->col_height = i;
    }
  return c->col_path >= 0 && c->col_class >= 0;
}

static const char *
field (char **row, int col)
{
  if (col < 0)
    return NULL;
  for (int i = 0; i < col; i++)
    if (row[i] == NULL)
      return NULL;
  return row[col];
}

static gboolean
load_labels (BtProject *self, const char *path, GError **error)
{
  g_autofree guint8 *data = NULL;
  gsize len = 0;
  g_autoptr(GError) local = NULL;
  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    return TRUE;  /* a project without images yet */
  if (!bt_read_regular_file (path, BT_MAX_LABELS_BYTES, &data, &len, NULL, error))
    return FALSE;
  g_autoptr(GPtrArray) rows = bt_csv_parse ((const char *) data, len, &local);
  if (rows == NULL)
    {
      g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_CORRUPT,
                   _("labels.csv is damaged: %s"), local->message);
      return FALSE;
    }
  if (rows->len == 0)
    return TRUE;
  Columns c;
  if (!parse_header (rows->pdata[0], &c))
    {
      g_set_error_literal (error, BT_DATASET_ERROR, BT_DATASET_ERROR_CORRUPT,
                           _("labels.csv has no “path” and “class” columns"));
      return FALSE;
    }
  for (guint r = 1; r < rows->len; r++)
    {
      char **row = rows->pdata[r];
      const char *p = field (row, c.col_path), *cls = field (row, c.col_class);
      if (p == NULL || p[0] == '\0' || cls == NULL || !check_class_name (cls, NULL))
        {
          g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_CORRUPT,
                       _("labels.csv row %u has no usable path or class"), r + 1);
          return FALSE;
        }
      BtSplit sp;
      int split = bt_split_from_string (field (row, c.col_split), &sp) ? (int) sp : -1;
      const char *ex = field (row, c.col_excluded);
      gboolean excluded = ex && (g_str_equal (ex, "1") || g_ascii_strcasecmp (ex, "true") == 0);
      const char *hs = field (row, c.col_hash);
      guint64 hash = 0;
      g_autofree char *abs = to_absolute (self, p);
      if (hs == NULL || !g_ascii_string_to_unsigned (hs, 16, 1, G_MAXUINT64, &hash, NULL))
        hash = bt_hash_bytes ((const guint8 *) abs, strlen (abs));
      BtItem *it = add_item_nosave (self, abs, cls, hash, split, excluded);
      guint64 w = 0, h = 0;
      const char *ws = field (row, c.col_width), *hs2 = field (row, c.col_height);
      if (it && ws && hs2 && g_ascii_string_to_unsigned (ws, 10, 0, G_MAXINT, &w, NULL) &&
          g_ascii_string_to_unsigned (hs2, 10, 0, G_MAXINT, &h, NULL))
        bt_item_set_size (it, (int) w, (int) h);
    }
  return TRUE;
}

static gboolean
get_int (GKeyFile *kf, const char *group, const char *key, int *out, GError **error)
{
  if (!g_key_file_has_key (kf, group, key, NULL))
    return TRUE;
  g_autoptr(GError) local = NULL;
  int v = g_key_file_get_integer (kf, group, key, &local);
  if (local)
    {
      g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_CORRUPT,
                   _("project.ini: [%s] %s is not a whole number"), group, key);
      return FALSE;
    }
  *out = v;
  return TRUE;
}

static gboolean
get_double (GKeyFile *kf, const char *group, const char *key, double *out, GError **error)
{
  if (!g_key_file_has_key (kf, group, key, NULL))
    return TRUE;
  g_autoptr(GError) local = NULL;
  double v = g_key_file_get_double (kf, group, key, &local);
  if (local)
    {
      g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_CORRUPT,
                   _("project.ini: [%s] %s is not a number"), group, key);
      return FALSE;
    }
  *out = v;
  return TRUE;
}

static gboolean
get_bool (GKeyFile *kf, const char *group, const char *key, gboolean *out, GError **error)
{
  if (!g_key_file_has_key (kf, group, key, NULL))
    return TRUE;
  g_autoptr(GError) local = NULL;
  gboolean v = g_key_file_get_boolean (kf, group, key, &local);
  if (local)
    {
      g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_CORRUPT,
                   _("project.ini: [%s] %s is not true or false"), group, key);
      return FALSE;
    }
  *out = v;
  return TRUE;
}

static void
get_str (GKeyFile *kf, const char *group, const char *key, char **out)
{
  char *v = g_key_file_get_string (kf, group, key, NULL);
  if (v)
    {
      g_free (*out);
      *out = v;
    }
}

static gboolean
load_ini (BtProject *self, const char *path, GError **error)
{
  g_autofree guint8 *data = NULL;
  gsize len = 0;
  if (!bt_read_regular_file (path, BT_MAX_INI_BYTES, &data, &len, NULL, error))
    return FALSE;
  g_autoptr(GKeyFile) kf = g_key_file_new ();
  g_autoptr(GError) local = NULL;
  if (!g_key_file_load_from_data (kf, (const char *) data, len, G_KEY_FILE_NONE, &local))
    {
      g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_CORRUPT,
                   _("project.ini is damaged: %s"), local->message);
      return FALSE;
    }
  int version = 0;
  if (!get_int (kf, "project", "format-version", &version, error))
    return FALSE;
  if (version < 1)
    {
      g_set_error_literal (error, BT_DATASET_ERROR, BT_DATASET_ERROR_CORRUPT,
                           _("project.ini has no format version; it is not a Bottega project"));
      return FALSE;
    }
  if (version > BT_PROJECT_FORMAT_VERSION)
    {
      g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_UNSUPPORTED,
                   _("This project was saved by a newer Bottega (format %d); please update"), version);
      return FALSE;
    }
  g_free (self->name);
  self->name = g_key_file_get_string (kf, "project", "name", NULL);
  if (self->name == NULL)
    self->name = g_filename_display_basename (self->dir);

  BtProjectSettings *s = &self->settings;
  get_str (kf, "input", "preset", &s->preset);
  g_autofree char *mode = g_key_file_get_string (kf, "input", "color-mode", NULL);
  g_autofree char *resize = g_key_file_get_string (kf, "input", "resize", NULL);
  g_autofree char *seed = g_key_file_get_string (kf, "split", "seed", NULL);
  if (mode)
    s->channels = g_str_equal (mode, "grayscale") ? 1 : g_str_equal (mode, "rgb") ? 3 : 0;
  if (resize && !bt_ds_resize_from_string (resize, &s->resize))
    s->resize = 99;
  if (seed && !g_ascii_string_to_unsigned (seed, 10, 0, G_MAXUINT64, &s->seed, NULL))
    {
      g_set_error_literal (error, BT_DATASET_ERROR, BT_DATASET_ERROR_CORRUPT,
                           _("project.ini: [split] seed is not a whole number"));
      return FALSE;
    }
  get_str (kf, "training", "optimizer", &s->optimizer);
  get_str (kf, "training", "schedule", &s->schedule);
  get_str (kf, "training", "early-stopping-monitor", &s->early_stopping_monitor);
  if (!get_int (kf, "input", "width", &s->width, error) ||
      !get_int (kf, "input", "height", &s->height, error) ||
      !get_int (kf, "training", "epochs", &s->epochs, error) ||
      !get_int (kf, "training", "batch-size", &s->batch_size, error) ||
      !get_double (kf, "training", "learning-rate", &s->learning_rate, error) ||
      !get_double (kf, "training", "weight-decay", &s->weight_decay, error) ||
      !get_double (kf, "training", "dropout", &s->dropout, error) ||
      !get_bool (kf, "training", "class-weights", &s->class_weights, error) ||
      !get_double (kf, "training", "label-smoothing", &s->label_smoothing, error) ||
      !get_int (kf, "training", "early-stopping-patience", &s->early_stopping_patience, error) ||
      !get_double (kf, "training", "early-stopping-min-delta", &s->early_stopping_min_delta, error) ||
      !get_bool (kf, "training", "restore-best", &s->restore_best, error) ||
      !get_int (kf, "transfer", "hidden", &s->transfer_hidden, error) ||
      !get_bool (kf, "transfer", "whole-network", &s->transfer_whole_network, error) ||
      !get_bool (kf, "augment", "flip", &s->augment_flip, error) ||
      !get_bool (kf, "augment", "crop", &s->augment_crop, error) ||
      !get_bool (kf, "augment", "rotate", &s->augment_rotate, error) ||
      !get_bool (kf, "augment", "color", &s->augment_color, error) ||
      !get_int (kf, "split", "train", &s->split_train, error) ||
      !get_int (kf, "split", "val", &s->split_val, error) ||
      !get_int (kf, "split", "test", &s->split_test, error))
    return FALSE;
  if (!settings_validate (s, &local))
    {
      g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_CORRUPT, "project.ini: %s", local->message);
      return FALSE;
    }
  g_auto(GStrv) classes = g_key_file_get_string_list (kf, "project", "classes", NULL, NULL);
  for (guint i = 0; classes && classes[i]; i++)
    if (check_class_name (classes[i], NULL))
      ensure_class (self, classes[i]);
  return TRUE;
}

static void
check_missing_sync (BtProject *self)
{
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->items));
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(BtItem) it = g_list_model_get_item (G_LIST_MODEL (self->items), i);
      bt_item_set_missing (it, access (bt_item_get_path (it), F_OK) != 0);
    }
}

static gboolean
make_subdirs (const char *dir, GError **error)
{
  static const char * const subs[] = { "models", "runs", "cache" };
  for (guint i = 0; i < G_N_ELEMENTS (subs); i++)
    {
      g_autofree char *p = g_build_filename (dir, subs[i], NULL);
      if (g_mkdir_with_parents (p, 0755) != 0)
        {
          int e = errno;
          g_autofree char *display = g_filename_display_name (p);
          g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_IO,
                       _("Could not create the folder “%s”: %s"), display, g_strerror (e));
          return FALSE;
        }
    }
  return TRUE;
}

BtProject *
bt_project_create (const char *dir, const char *name, GError **error)
{
  g_return_val_if_fail (dir != NULL, NULL);
  if (name != NULL && !g_utf8_validate (name, -1, NULL))
    {
      g_set_error_literal (error, BT_DATASET_ERROR, BT_DATASET_ERROR_INVALID,
                           _("The project name must be valid text"));
      return NULL;
    }
  g_autoptr(BtProject) self = g_object_new (BT_TYPE_PROJECT, NULL);
  self->dir = g_canonicalize_filename (dir, NULL);
  g_autofree char *ini = g_build_filename (self->dir, "project.ini", NULL);
  if (g_file_test (ini, G_FILE_TEST_EXISTS))
    {
      g_autofree char *display = g_filename_display_name (self->dir);
      g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_INVALID,
                   _("“%s” already holds a project"), display);
      return NULL;
    }
  if (g_mkdir_with_parents (self->dir, 0755) != 0 || !make_subdirs (self->dir, error))
    {
      if (error && *error == NULL)
        {
          int e = errno;
          g_autofree char *display = g_filename_display_name (self->dir);
          g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_IO,
                       _("Could not create the folder “%s”: %s"), display, g_strerror (e));
        }
      return NULL;
    }
  self->name = name ? g_strdup (name) : g_filename_display_basename (self->dir);
  if (!save_labels (self, error) || !save_ini (self, error))
    return NULL;
  start_saver (self);
  return g_steal_pointer (&self);
}

BtProject *
bt_project_open (const char *dir, GError **error)
{
  g_return_val_if_fail (dir != NULL, NULL);
  g_autoptr(BtProject) self = g_object_new (BT_TYPE_PROJECT, NULL);
  self->dir = g_canonicalize_filename (dir, NULL);
  g_autofree char *ini = g_build_filename (self->dir, "project.ini", NULL);
  g_autofree char *labels = g_build_filename (self->dir, "labels.csv", NULL);
  if (!load_ini (self, ini, error) || !load_labels (self, labels, error))
    return NULL;
  make_subdirs (self->dir, NULL);  /* disposable folders may have been deleted */
  check_missing_sync (self);
  recount (self);
  start_saver (self);
  return g_steal_pointer (&self);
}

const char *
bt_project_get_dir (BtProject *self)
{
  g_return_val_if_fail (BT_IS_PROJECT (self), NULL);
  return self->dir;
}

const char *
bt_project_get_name (BtProject *self)
{
  g_return_val_if_fail (BT_IS_PROJECT (self), NULL);
  return self->name;
}

gboolean
bt_project_set_name (BtProject *self, const char *name, GError **error)
{
  g_return_val_if_fail (BT_IS_PROJECT (self), FALSE);
  g_return_val_if_fail (name != NULL, FALSE);
  if (!g_utf8_validate (name, -1, NULL))
    {
      g_set_error_literal (error, BT_DATASET_ERROR, BT_DATASET_ERROR_INVALID,
                           _("The project name must be valid text"));
      return FALSE;
    }
  g_free (self->name);
  self->name = g_strdup (name);
  return commit (self, TRUE, FALSE, error);
}

GListModel *
bt_project_get_classes (BtProject *self)
{
  g_return_val_if_fail (BT_IS_PROJECT (self), NULL);
  return G_LIST_MODEL (self->classes);
}

GListModel *
bt_project_get_items (BtProject *self)
{
  g_return_val_if_fail (BT_IS_PROJECT (self), NULL);
  return G_LIST_MODEL (self->items);
}

const BtProjectSettings *
bt_project_get_settings (BtProject *self)
{
  g_return_val_if_fail (BT_IS_PROJECT (self), NULL);
  return &self->settings;
}

gboolean
bt_project_update_settings (BtProject *self, const BtProjectSettings *settings, GError **error)
{
  g_return_val_if_fail (BT_IS_PROJECT (self), FALSE);
  g_return_val_if_fail (settings != NULL, FALSE);
  if (!settings_validate (settings, error))
    return FALSE;
  gboolean resplit = settings->split_train != self->settings.split_train ||
                     settings->split_val != self->settings.split_val ||
                     settings->split_test != self->settings.split_test;
  BtProjectSettings copy;
  bt_project_settings_copy (&copy, settings);  /* settings may alias ours */
  bt_project_settings_clear (&self->settings);
  self->settings = copy;
  if (resplit)
    resplit_all (self);
  return commit (self, TRUE, resplit, error);
}

/* ---- Views for training ---- */

BtSplitView *
bt_project_split_view (BtProject *self, BtSplit split)
{
  g_return_val_if_fail (BT_IS_PROJECT (self), NULL);
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->items));
  BtSplitView *v = g_new0 (BtSplitView, 1);
  v->items = g_new (guint, MAX (n, 1));
  v->labels = g_new (int, MAX (n, 1));
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(BtItem) it = g_list_model_get_item (G_LIST_MODEL (self->items), i);
      if (bt_item_get_split (it) != split || bt_item_get_excluded (it) || bt_item_get_missing (it))
        continue;
      int label = bt_project_find_class (self, bt_item_get_class_name (it));
      if (label < 0)
        continue;
      v->items[v->n] = i;
      v->labels[v->n] = label;
      v->n++;
    }
  return v;
}

void
bt_split_view_free (BtSplitView *v)
{
  if (v == NULL)
    return;
  g_free (v->items);
  g_free (v->labels);
  g_free (v);
}

void
bt_project_class_weights (BtProject *self, float *weights_out, guint n_classes)
{
  g_return_if_fail (BT_IS_PROJECT (self));
  g_return_if_fail (weights_out != NULL || n_classes == 0);
  g_autofree guint *counts = g_new0 (guint, MAX (n_classes, 1));
  g_autoptr(BtSplitView) v = bt_project_split_view (self, BT_SPLIT_TRAIN);
  guint total = 0, present = 0;
  for (guint i = 0; i < v->n; i++)
    if ((guint) v->labels[i] < n_classes)
      {
        counts[v->labels[i]]++;
        total++;
      }
  for (guint k = 0; k < n_classes; k++)
    present += counts[k] > 0;
  for (guint k = 0; k < n_classes; k++)
    weights_out[k] = counts[k] ? (float) total / ((float) present * counts[k]) : 1.0f;
}

/* ---- Missing images ---- */

typedef struct {
  GPtrArray *paths;   /* char* */
  GArray    *missing; /* gboolean */
} MissingJob;

static void
missing_job_free (gpointer p)
{
  MissingJob *j = p;
  g_ptr_array_unref (j->paths);
  if (j->missing)
    g_array_unref (j->missing);
  g_free (j);
}

static void
missing_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  MissingJob *j = data;
  j->missing = g_array_sized_new (FALSE, FALSE, sizeof (gboolean), j->paths->len);
  for (guint i = 0; i < j->paths->len; i++)
    {
      gboolean m = access (j->paths->pdata[i], F_OK) != 0;
      g_array_append_val (j->missing, m);
    }
  g_task_return_boolean (task, TRUE);
}

static void
missing_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
  BtProject *self = BT_PROJECT (source);
  MissingJob *j = g_task_get_task_data (G_TASK (res));
  if (!g_task_propagate_boolean (G_TASK (res), NULL) || j->missing == NULL)
    return;
  for (guint i = 0; i < j->paths->len; i++)
    {
      BtItem *it = g_hash_table_lookup (self->by_path, j->paths->pdata[i]);
      if (it)
        bt_item_set_missing (it, g_array_index (j->missing, gboolean, i));
    }
}

void
bt_project_refresh_missing (BtProject *self)
{
  g_return_if_fail (BT_IS_PROJECT (self));
  MissingJob *j = g_new0 (MissingJob, 1);
  j->paths = g_ptr_array_new_with_free_func (g_free);
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->items));
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(BtItem) it = g_list_model_get_item (G_LIST_MODEL (self->items), i);
      g_ptr_array_add (j->paths, g_strdup (bt_item_get_path (it)));
    }
  g_autoptr(GTask) task = g_task_new (self, NULL, missing_done, NULL);
  g_task_set_source_tag (task, bt_project_refresh_missing);
  g_task_set_task_data (task, j, missing_job_free);
  g_task_run_in_thread (task, missing_thread);
}

static gboolean ensure_val_added (BtProject *self, GPtrArray *added);

/* ---- Importing a labels CSV (path,class[,split]; paths relative to the CSV's folder) ---- */

typedef struct {
  char     *abs;
  char     *cls;
  int       split;     /* -1: by hash */
  guint64   hash;
  int       width, height;
  gboolean  probed, ok;
} CsvRow;

static void
csv_row_clear (gpointer p)
{
  CsvRow *r = p;
  g_free (r->abs);
  g_free (r->cls);
}

/* Reads and parses the CSV (any thread): rows with a usable path and class, paths made
 * absolute against the CSV's folder. */
static GArray *
csv_read_rows (const char *csv_path, GError **error)
{
  g_autofree guint8 *data = NULL;
  gsize len = 0;
  g_autoptr(GError) local = NULL;
  g_autofree char *display = g_filename_display_name (csv_path);
  if (!bt_read_regular_file (csv_path, BT_MAX_LABELS_BYTES, &data, &len, NULL, error))
    return NULL;
  g_autoptr(GPtrArray) rows = bt_csv_parse ((const char *) data, len, &local);
  if (rows == NULL)
    {
      g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_CORRUPT,
                   _("“%s” is not a valid CSV file: %s"), display, local->message);
      return NULL;
    }
  Columns c = { 0, 1, 2, -1, -1, -1, -1 };
  guint first = 0;
  if (rows->len > 0 && parse_header (rows->pdata[0], &c))
    first = 1;
  else
    c = (Columns) { 0, 1, 2, -1, -1, -1, -1 };
  g_autofree char *base = g_path_get_dirname (csv_path);
  g_autofree char *abs_base = g_canonicalize_filename (base, NULL);
  GArray *out = g_array_new (FALSE, TRUE, sizeof (CsvRow));
  g_array_set_clear_func (out, csv_row_clear);
  for (guint r = first; r < rows->len; r++)
    {
      char **row = rows->pdata[r];
      const char *p = field (row, c.col_path), *cls = field (row, c.col_class);
      if (p == NULL || p[0] == '\0' || cls == NULL || !check_class_name (cls, NULL))
        continue;
      CsvRow cr = { 0 };
      BtSplit sp;
      cr.abs = g_canonicalize_filename (p, abs_base);
      cr.cls = g_strdup (cls);
      cr.split = bt_split_from_string (field (row, c.col_split), &sp) ? (int) sp : -1;
      g_array_append_val (out, cr);
    }
  return out;
}

/* Reads one row's image: content hash and size; not an image → ok FALSE. */
static void
csv_probe_row (CsvRow *r)
{
  g_autofree guint8 *img = NULL;
  gsize img_len = 0;
  r->probed = TRUE;
  r->ok = bt_read_regular_file (r->abs, BT_MAX_FILE_BYTES, &img, &img_len, NULL, NULL) &&
          bt_image_probe_bytes (img, img_len, &r->width, &r->height, NULL, NULL, NULL);
  if (r->ok)
    r->hash = bt_hash_bytes (img, img_len);
}

/* Applies rows [from, to) (main thread): known paths are relabelled (and re-split when the CSV
 * says), new images added in one splice. Returns whether a class was created. */
static gboolean
csv_apply_rows (BtProject *self, GArray *rows, guint from, guint to, GPtrArray *added)
{
  guint n_classes_before = g_list_model_get_n_items (G_LIST_MODEL (self->classes));
  g_autoptr(GPtrArray) fresh = g_ptr_array_new_with_free_func (g_object_unref);
  const BtProjectSettings *s = &self->settings;
  for (guint i = from; i < to; i++)
    {
      CsvRow *r = &g_array_index (rows, CsvRow, i);
      BtItem *existing = g_hash_table_lookup (self->by_path, r->abs);
      if (existing)
        {
          ensure_class (self, r->cls);
          bt_item_set_class_name (existing, r->cls);
          if (r->split >= 0)
            bt_item_set_split (existing, (BtSplit) r->split);
          continue;
        }
      if (!r->probed)
        csv_probe_row (r);
      if (!r->ok)
        continue;
      ensure_class (self, r->cls);
      BtSplit sp = r->split >= 0 ? (BtSplit) r->split
                                 : bt_split_for_hash (r->hash, s->split_train, s->split_val, s->split_test);
      BtItem *it = bt_item_new (r->abs, r->cls, sp, r->hash);
      bt_item_set_size (it, r->width, r->height);
      g_hash_table_insert (self->by_path, (gpointer) bt_item_get_path (it), it);
      g_ptr_array_add (fresh, it);
      g_ptr_array_add (added, g_object_ref (it));
    }
  if (fresh->len > 0)
    g_list_store_splice (self->items, g_list_model_get_n_items (G_LIST_MODEL (self->items)), 0,
                         fresh->pdata, fresh->len);
  return g_list_model_get_n_items (G_LIST_MODEL (self->classes)) != n_classes_before;
}

gboolean
bt_project_import_csv (BtProject *self, const char *csv_path, GError **error)
{
  g_return_val_if_fail (BT_IS_PROJECT (self), FALSE);
  g_return_val_if_fail (csv_path != NULL, FALSE);
  g_autoptr(GArray) rows = csv_read_rows (csv_path, error);
  if (rows == NULL)
    return FALSE;
  g_autoptr(GPtrArray) added = g_ptr_array_new_with_free_func (g_object_unref);
  gboolean new_classes = csv_apply_rows (self, rows, 0, rows->len, added);
  ensure_val_added (self, added);
  return commit (self, new_classes, TRUE, error);
}

/* ---- The same off the main thread: a worker reads, parses and probes every image; the main
 * thread applies CSV_CHUNK rows per idle dispatch, each chunk one splice and one save hand-over. */

#define CSV_CHUNK 1000

typedef struct {
  char      *csv_path;
  GArray    *rows;
  GPtrArray *added;
  guint      next;
} CsvJob;

static void
csv_job_free (gpointer p)
{
  CsvJob *j = p;
  g_free (j->csv_path);
  g_clear_pointer (&j->rows, g_array_unref);
  g_clear_pointer (&j->added, g_ptr_array_unref);
  g_free (j);
}

static void
csv_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  CsvJob *j = data;
  GError *error = NULL;
  j->rows = csv_read_rows (j->csv_path, &error);
  if (j->rows == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  for (guint i = 0; i < j->rows->len; i++)
    {
      if (g_task_return_error_if_cancelled (task))
        return;
      csv_probe_row (&g_array_index (j->rows, CsvRow, i));
    }
  g_task_return_boolean (task, TRUE);
}

static gboolean
csv_apply_idle (gpointer data)
{
  GTask *task = data;
  BtProject *self = g_task_get_source_object (task);
  CsvJob *j = g_task_get_task_data (task);
  if (g_cancellable_is_cancelled (g_task_get_cancellable (task)))
    {
      g_task_return_error_if_cancelled (task);
      return G_SOURCE_REMOVE;
    }
  guint to = MIN (j->next + CSV_CHUNK, j->rows->len);
  gboolean new_classes = csv_apply_rows (self, j->rows, j->next, to, j->added);
  j->next = to;
  gboolean last = to >= j->rows->len;
  if (last)
    ensure_val_added (self, j->added);
  commit_ex (self, new_classes || last, TRUE, TRUE, !last);
  if (!last)
    return G_SOURCE_CONTINUE;
  g_task_return_int (task, j->added->len);
  return G_SOURCE_REMOVE;
}

static void
csv_read_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  g_autoptr(GError) error = NULL;
  if (!g_task_propagate_boolean (G_TASK (res), &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      g_object_unref (task);
      return;
    }
  CsvJob *inner = g_task_get_task_data (G_TASK (res));
  CsvJob *j = g_task_get_task_data (task);
  j->rows = g_steal_pointer (&inner->rows);
  GSource *src = g_idle_source_new ();
  g_source_set_priority (src, G_PRIORITY_DEFAULT_IDLE);
  g_source_set_callback (src, csv_apply_idle, task, g_object_unref);
  g_source_attach (src, g_task_get_context (task));
  g_source_unref (src);
}

void
bt_project_import_csv_async (BtProject *self, const char *csv_path, GCancellable *cancellable,
                             GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (BT_IS_PROJECT (self));
  g_return_if_fail (csv_path != NULL);
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, bt_project_import_csv_async);
  CsvJob *j = g_new0 (CsvJob, 1);
  j->added = g_ptr_array_new_with_free_func (g_object_unref);
  g_task_set_task_data (task, j, csv_job_free);
  g_autoptr(GTask) inner = g_task_new (NULL, cancellable, csv_read_done, task);
  CsvJob *ij = g_new0 (CsvJob, 1);
  ij->csv_path = g_strdup (csv_path);
  g_task_set_task_data (inner, ij, csv_job_free);
  g_task_run_in_thread (inner, csv_thread);
}

gssize
bt_project_import_csv_finish (BtProject *self, GAsyncResult *res, GError **error)
{
  g_return_val_if_fail (BT_IS_PROJECT (self), -1);
  g_return_val_if_fail (g_task_is_valid (res, self), -1);
  return g_task_propagate_int (G_TASK (res), error);
}

/* ---- Applying a scan ---- */

/* One loop turns scan results into items, for the one-shot apply below (one chunk) and for the
 * streaming import: decide_chunk() picks what is new (in walk order; duplicates by path and by
 * content) and creates the classes, splice_items() then puts the new items into the model. */

/* Content hashes as keys: the value itself where a pointer holds 64 bits. One small block
 * per image was 70,000 of them freed at an import's end, and glibc then consolidated them
 * on the main thread's next large allocation (~10 ms inside a frame). */
#if GLIB_SIZEOF_VOID_P >= 8
static guint
hkey_hash (gconstpointer k)
{
  guint64 v = (guintptr) k;
  return (guint) (v ^ (v >> 32));
}
static inline gpointer      hkey_new  (guint64 h)        { return (gpointer) (guintptr) h; }
static inline gconstpointer hkey_find (const guint64 *h) { return (gconstpointer) (guintptr) *h; }
#define HKEY_EQUAL g_direct_equal
#define HKEY_FREE  NULL
#else
#define hkey_hash  g_int64_hash
static inline gpointer      hkey_new  (guint64 h)        { return g_memdup2 (&h, sizeof h); }
static inline gconstpointer hkey_find (const guint64 *h) { return h; }
#define HKEY_EQUAL g_int64_equal
#define HKEY_FREE  g_free
#endif

/* Content hash → item (ref) for everything in the project: the duplicate index. */
static GHashTable *
hash_index (BtProject *self)
{
  GHashTable *by_hash = g_hash_table_new_full (hkey_hash, HKEY_EQUAL, HKEY_FREE, g_object_unref);
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->items));
  for (guint i = 0; i < n; i++)
    {
      BtItem *it = g_list_model_get_item (G_LIST_MODEL (self->items), i);
      g_hash_table_insert (by_hash, hkey_new (bt_item_get_hash (it)), it);
    }
  return by_hash;
}

/* Appends to fresh (refs) the items made for r's new files, already in by_path and by_hash but
 * not yet in the item model; creates every class r names. A file whose content is already there
 * is a duplicate: skipped into skips (a label conflict when under another class). */
static void
decide_chunk (BtProject *self, GHashTable *by_hash, BtScanResult *r, BtScanResult *skips, GPtrArray *fresh)
{
  const BtProjectSettings *s = &self->settings;
  gboolean sizes = r->widths != NULL && r->heights != NULL && r->widths->len >= r->paths->len &&
                   r->heights->len >= r->paths->len;
  for (guint i = 0; i < r->paths->len; i++)
    {
      const char *path = r->paths->pdata[i];
      guint ci = g_array_index (r->class_index, guint, i);
      guint64 hash = g_array_index (r->hashes, guint64, i);
      if (ci >= r->class_names->len || !check_class_name (r->class_names->pdata[ci], NULL))
        continue;
      const char *cls = import_class_name (self, r->class_names->pdata[ci]);
      g_autofree char *abs = to_absolute (self, path);
      if (g_hash_table_contains (self->by_path, abs))
        continue;  /* already imported: nothing to do */
      BtItem *dup = g_hash_table_lookup (by_hash, hkey_find (&hash));
      if (dup && g_hash_table_lookup (self->by_path, bt_item_get_path (dup)) == dup)
        {
          bt_scan_result_add_skip (skips, path, BT_SKIP_DUPLICATE, bt_item_get_path (dup));
          if (g_strcmp0 (bt_item_get_class_name (dup), cls) != 0)
            skips->n_label_conflicts++;
          continue;
        }
      ensure_class (self, cls);
      BtItem *it = bt_item_new (abs, cls, bt_split_for_hash (hash, s->split_train, s->split_val, s->split_test), hash);
      if (sizes)
        bt_item_set_size (it, g_array_index (r->widths, int, i), g_array_index (r->heights, int, i));
      g_ptr_array_add (fresh, it);
      g_hash_table_insert (self->by_path, (gpointer) bt_item_get_path (it), it);
      g_hash_table_insert (by_hash, hkey_new (hash), g_object_ref (it));
    }
  /* Classes found empty are still classes the user asked for. */
  for (guint c = 0; c < r->class_names->len; c++)
    if (check_class_name (r->class_names->pdata[c], NULL))
      ensure_class (self, import_class_name (self, r->class_names->pdata[c]));
}

/* Puts fresh[from, to) into the item model in one splice and adds them to their classes'
 * counts: O(to - from). An item whose class went meanwhile (deleted or renamed while it
 * waited for its slice) or whose path was taken by another item is left out. Returns the
 * items spliced (borrowed from fresh). */
static GPtrArray *
splice_items (BtProject *self, GPtrArray *fresh, guint from, guint to)
{
  GPtrArray *in = g_ptr_array_sized_new (to - from);
  g_autoptr(GHashTable) per_class = g_hash_table_new (NULL, NULL);
  for (guint i = from; i < to; i++)
    {
      BtItem *it = fresh->pdata[i];
      BtClassInfo *c = g_hash_table_lookup (self->class_by_name, bt_item_get_class_name (it));
      if (g_hash_table_lookup (self->by_path, bt_item_get_path (it)) != it)
        continue;
      if (c == NULL)
        {
          /* renamed while the item waited: it follows its class */
          const char *now = import_class_name (self, bt_item_get_class_name (it));
          c = g_hash_table_lookup (self->class_by_name, now);
          if (c != NULL)
            bt_item_set_class_name (it, now);
        }
      if (c == NULL)
        {
          g_hash_table_remove (self->by_path, bt_item_get_path (it));
          continue;
        }
      g_ptr_array_add (in, it);
      g_hash_table_insert (per_class, c, GUINT_TO_POINTER (GPOINTER_TO_UINT (g_hash_table_lookup (per_class, c)) + 1));
    }
  if (in->len == 0)
    return in;
  g_list_store_splice (self->items, g_list_model_get_n_items (G_LIST_MODEL (self->items)), 0, in->pdata, in->len);
  GHashTableIter iter;
  gpointer key, value;
  g_hash_table_iter_init (&iter, per_class);
  while (g_hash_table_iter_next (&iter, &key, &value))
    bt_class_info_set_n_items (key, bt_class_info_get_n_items (key) + GPOINTER_TO_UINT (value));
  return in;
}

guint
bt_project_apply_scan (BtProject *self, BtScanResult *result, GError **error)
{
  g_return_val_if_fail (BT_IS_PROJECT (self), 0);
  g_return_val_if_fail (result != NULL, 0);
  g_autoptr(GHashTable) by_hash = hash_index (self);
  g_autoptr(GPtrArray) fresh = g_ptr_array_new_with_free_func (g_object_unref);
  guint n_classes_before = g_list_model_get_n_items (G_LIST_MODEL (self->classes));
  decide_chunk (self, by_hash, result, result, fresh);
  g_autoptr(GPtrArray) in = splice_items (self, fresh, 0, fresh->len);
  guint n_added = in->len;
  ensure_val_added (self, in);
  gboolean new_classes = g_list_model_get_n_items (G_LIST_MODEL (self->classes)) != n_classes_before;
  if (n_added == 0 && !new_classes)
    return 0;
  if (!commit (self, new_classes, n_added > 0, error))
    return 0;
  return n_added;
}

/* ---- The one-shot apply, from an idle ----
 * The same single chunk as bt_project_apply_scan, run from an idle of the caller's main
 * context (a change made before it runs is simply there first). It used to decide in a worker
 * and retry on conflicts: a third copy of the loop, used by no GUI path since the streaming
 * import (which spreads the work over many main-loop turns) replaced it. */

typedef struct {
  gboolean has_val;
  guint    usable;
  BtItem  *best;
  double   best_d;
} ValState;

static gboolean
apply_idle (gpointer data)
{
  GTask *task = data;
  BtScanResult *result = g_task_get_task_data (task);
  GError *error = NULL;
  guint n = bt_project_apply_scan (g_task_get_source_object (task), result, &error);
  if (error)
    g_task_return_error (task, error);
  else
    g_task_return_int (task, n);
  return G_SOURCE_REMOVE;
}

void
bt_project_apply_scan_async (BtProject *self, BtScanResult *result, GAsyncReadyCallback callback,
                             gpointer user_data)
{
  g_return_if_fail (BT_IS_PROJECT (self));
  g_return_if_fail (result != NULL);
  GTask *task = g_task_new (self, NULL, callback, user_data);
  g_task_set_source_tag (task, bt_project_apply_scan_async);
  g_task_set_task_data (task, result, NULL);
  GSource *src = g_idle_source_new ();
  g_source_set_callback (src, apply_idle, task, g_object_unref);
  g_source_attach (src, g_main_context_get_thread_default ());
  g_source_unref (src);
}

guint
bt_project_apply_scan_finish (BtProject *self, GAsyncResult *res, GError **error)
{
  g_return_val_if_fail (BT_IS_PROJECT (self), 0);
  g_return_val_if_fail (g_task_is_valid (res, self), 0);
  gssize n = g_task_propagate_int (G_TASK (res), error);
  return n < 0 ? 0 : (guint) n;
}

/* ---- Streaming import: scan + apply chunk by chunk on the main thread ----
 * The scan streams chunks to this thread. Each is decided at once (decide_chunk: O(chunk)) and
 * its items spliced into the item model in slices, one per main-loop turn, in order: a view
 * builds widgets for the first items it is given, so the first slices are small and grow
 * (SLICE_FIRST, doubling up to SLICE_MAX), and a chunk that creates classes is spliced from
 * the next turn on (the classes' rows and the grid's first cells are not built in one turn).
 * Class counts follow each slice; the save goes to the writer thread. Content already in the
 * project is a duplicate, against a hash index built once at the start. Small classes get
 * their validation image once, at the end. */

#define SLICE_FIRST 64
#define SLICE_MAX   4096

typedef struct {
  BtProject      *project;
  GHashTable     *by_hash;    /* guint64* → BtItem (ref) */
  GPtrArray      *added;      /* BtItem (ref) */
  BtScanResult   *total;      /* class names, added items, every skip */
  BtScanProgress  progress;
  gpointer        progress_data;
  GDestroyNotify  progress_notify;
  GHashTable     *class_pos;  /* class name (total's) → its index in total->class_names */
  GHashTable     *val_seen;   /* class name → non-NULL once an added item of it is in val */
  GPtrArray      *pending;    /* BtItem (ref): decided, waiting for their slice */
  guint           pending_from;
  guint           slice;
  GSource        *splice_source;
  GTask          *done_task;  /* the scan ended while items were pending */
  BtScanResult   *whole;
  GError         *error;
} ImportJob;

static void
import_job_free (gpointer p)
{
  ImportJob *j = p;
  if (j->splice_source)
    {
      g_source_destroy (j->splice_source);
      g_clear_pointer (&j->splice_source, g_source_unref);
    }
  if (j->project != NULL && --j->project->n_imports == 0)
    g_clear_pointer (&j->project->renamed, g_hash_table_unref);
  g_clear_object (&j->project);
  g_clear_pointer (&j->by_hash, g_hash_table_unref);
  g_clear_pointer (&j->added, g_ptr_array_unref);
  g_clear_pointer (&j->total, bt_scan_result_free);
  g_clear_pointer (&j->pending, g_ptr_array_unref);
  g_clear_pointer (&j->class_pos, g_hash_table_unref);
  g_clear_pointer (&j->val_seen, g_hash_table_unref);
  g_clear_pointer (&j->whole, bt_scan_result_free);
  g_clear_error (&j->error);
  if (j->progress_notify)
    j->progress_notify (j->progress_data);
  g_free (j);
}

static void
import_progress (guint n_seen, guint n_ok, guint n_skipped, gpointer p)
{
  ImportJob *j = g_task_get_task_data (p);
  if (j->progress)
    j->progress (n_seen, n_ok, n_skipped, j->progress_data);
}

static void import_complete (GTask *task);

/* Once cancelled, the items still waiting are not added: Cancel stops at once. */
static void
import_drop_pending (ImportJob *j)
{
  for (guint i = j->pending_from; i < j->pending->len; i++)
    {
      BtItem *it = j->pending->pdata[i];
      if (g_hash_table_lookup (j->project->by_path, bt_item_get_path (it)) == it)
        g_hash_table_remove (j->project->by_path, bt_item_get_path (it));
    }
  g_ptr_array_set_size (j->pending, 0);
  j->pending_from = 0;
}

/* One slice of the pending items into the model, recorded in the result; TRUE while more
 * are pending. */
static gboolean
import_splice_slice (GTask *task)
{
  ImportJob *j = g_task_get_task_data (task);
  if (g_cancellable_is_cancelled (g_task_get_cancellable (task)))
    {
      import_drop_pending (j);
      return FALSE;
    }
  guint to = MIN (j->pending->len, j->pending_from + j->slice);
  g_autoptr(GPtrArray) in = splice_items (j->project, j->pending, j->pending_from, to);
  BtScanResult *t = j->total;
  for (guint i = 0; i < in->len; i++)
    {
      BtItem *it = in->pdata[i];
      guint ci = GPOINTER_TO_UINT (g_hash_table_lookup (j->class_pos, bt_item_get_class_name (it)));
      guint64 hash = bt_item_get_hash (it);
      int w = bt_item_get_width (it), h = bt_item_get_height (it);
      g_ptr_array_add (j->added, g_object_ref (it));
      /* Noted as they come, so the end needs no pass over all added items. */
      const char *cls = bt_item_get_class_name (it);
      gboolean val = bt_item_get_split (it) == BT_SPLIT_VAL;
      gpointer seen_key, seen_val;
      if (!g_hash_table_lookup_extended (j->val_seen, cls, &seen_key, &seen_val))
        g_hash_table_insert (j->val_seen, g_strdup (cls), GINT_TO_POINTER (val));
      else if (val && seen_val == NULL)
        g_hash_table_insert (j->val_seen, g_strdup (cls), GINT_TO_POINTER (TRUE));
      g_ptr_array_add (t->paths, g_strdup (bt_item_get_path (it)));
      g_array_append_val (t->class_index, ci);
      g_array_append_val (t->hashes, hash);
      g_array_append_val (t->widths, w);
      g_array_append_val (t->heights, h);
    }
  j->pending_from = to;
  j->slice = MIN (j->slice * 2, SLICE_MAX);
  if (j->pending_from == j->pending->len)
    {
      g_ptr_array_set_size (j->pending, 0);
      j->pending_from = 0;
    }
  if (in->len > 0)
    commit_ex (j->project, FALSE, TRUE, FALSE, TRUE);
  return j->pending->len > 0;
}

static gboolean
import_splice_idle (gpointer data)
{
  GTask *task = data;
  ImportJob *j = g_task_get_task_data (task);
  if (import_splice_slice (task))
    return G_SOURCE_CONTINUE;
  g_clear_pointer (&j->splice_source, g_source_unref);
  if (j->done_task)
    import_complete (g_steal_pointer (&j->done_task));
  return G_SOURCE_REMOVE;
}

/* Same priority as the scan's chunk deliveries: slices and chunks keep their order. */
static void
import_schedule_splice (GTask *task)
{
  ImportJob *j = g_task_get_task_data (task);
  if (j->splice_source)
    return;
  j->splice_source = g_idle_source_new ();
  g_source_set_priority (j->splice_source, G_PRIORITY_DEFAULT_IDLE);
  g_source_set_callback (j->splice_source, import_splice_idle, g_object_ref (task), g_object_unref);
  g_source_attach (j->splice_source, g_main_context_get_thread_default ());
}

static void
import_chunk (BtScanResult *chunk, gpointer p)
{
  g_autoptr(BtScanResult) r = chunk;
  GTask *task = p;
  ImportJob *j = g_task_get_task_data (task);
  BtProject *self = j->project;
  BtScanResult *t = j->total;
  guint n_classes_before = g_list_model_get_n_items (G_LIST_MODEL (self->classes));

  for (guint i = 0; i < r->skipped_paths->len; i++)
    bt_scan_result_add_skip (t, r->skipped_paths->pdata[i], g_array_index (r->skipped_reasons, BtSkipReason, i),
                             r->duplicate_of->pdata[i]);
  t->n_label_conflicts += r->n_label_conflicts;
  t->n_rotated += r->n_rotated;
  t->n_converted += r->n_converted;
  for (guint c = t->class_names->len; c < r->class_names->len; c++)
    {
      g_ptr_array_add (t->class_names, g_strdup (r->class_names->pdata[c]));
      if (!g_hash_table_contains (j->class_pos, r->class_names->pdata[c]))
        g_hash_table_insert (j->class_pos, t->class_names->pdata[c], GUINT_TO_POINTER (c));
    }

  decide_chunk (self, j->by_hash, r, t, j->pending);
  if (g_list_model_get_n_items (G_LIST_MODEL (self->classes)) != n_classes_before)
    {
      commit_ex (self, TRUE, FALSE, FALSE, TRUE);
      if (j->pending->len > 0)
        import_schedule_splice (task);
      return;
    }
  if (j->pending->len == 0 || j->splice_source != NULL)
    return;
  if (import_splice_slice (task))
    import_schedule_splice (task);
}

/* ensure_val for every class that got items, in one pass over the project's items. */
static gboolean
ensure_val_added (BtProject *self, GPtrArray *added)
{
  const BtProjectSettings *s = &self->settings;
  if (s->split_val <= 0 || added->len == 0)
    return FALSE;
  g_autoptr(GHashTable) val = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_free);
  for (guint i = 0; i < added->len; i++)
    {
      const char *c = bt_item_get_class_name (added->pdata[i]);
      if (!g_hash_table_contains (val, c))
        {
          ValState *v = g_new0 (ValState, 1);
          v->best_d = G_MAXDOUBLE;
          g_hash_table_insert (val, (gpointer) c, v);
        }
    }
  /* A class whose added items already hold a validation image needs nothing: after a big
   * import that is every class, and the pass over the whole project below is skipped. */
  guint n_open = g_hash_table_size (val);
  for (guint i = 0; i < added->len && n_open > 0; i++)
    {
      BtItem *it = added->pdata[i];
      if (bt_item_get_split (it) != BT_SPLIT_VAL || bt_item_get_excluded (it) ||
          g_hash_table_lookup (self->by_path, bt_item_get_path (it)) != it)
        continue;
      ValState *v = g_hash_table_lookup (val, bt_item_get_class_name (it));
      if (v != NULL && !v->has_val)
        {
          v->has_val = TRUE;
          n_open--;
        }
    }
  if (n_open == 0)
    return FALSE;
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->items));
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(BtItem) it = g_list_model_get_item (G_LIST_MODEL (self->items), i);
      ValState *v = g_hash_table_lookup (val, bt_item_get_class_name (it));
      if (v == NULL || v->has_val || bt_item_get_excluded (it))
        continue;
      v->has_val |= bt_item_get_split (it) == BT_SPLIT_VAL;
      v->usable++;
    }
  double centre = (s->split_train + s->split_val / 2.0) / 100.0;
  for (guint i = 0; i < added->len; i++)
    {
      BtItem *it = added->pdata[i];
      ValState *v = g_hash_table_lookup (val, bt_item_get_class_name (it));
      /* Still ours (not removed or relabelled meanwhile)? */
      if (v == NULL || v->has_val || g_hash_table_lookup (self->by_path, bt_item_get_path (it)) != it ||
          bt_item_get_excluded (it))
        continue;
      double d = fabs (bt_split_position (bt_item_get_hash (it)) - centre);
      if (bt_item_get_split (it) == BT_SPLIT_TEST)
        d += 2.0;
      if (d < v->best_d)
        {
          v->best_d = d;
          v->best = it;
        }
    }
  gboolean moved = FALSE;
  GHashTableIter iter;
  ValState *v;
  g_hash_table_iter_init (&iter, val);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &v))
    if (!v->has_val && v->usable >= 2 && v->best)
      {
        bt_item_set_split (v->best, BT_SPLIT_VAL);
        moved = TRUE;
      }
  return moved;
}

/* Frees a finished import's big tables (tens of thousands of paths and refs) off the caller's
 * thread: on the main thread that alone stalled a GUI by tens of ms. */
typedef struct { BtScanResult *whole; GHashTable *by_hash; GPtrArray *added; } ImportLeftovers;

static gpointer
free_leftovers_thread (gpointer data)
{
  ImportLeftovers *l = data;
  g_clear_pointer (&l->whole, bt_scan_result_free);
  g_clear_pointer (&l->by_hash, g_hash_table_unref);
  g_clear_pointer (&l->added, g_ptr_array_unref);
  g_free (l);
  return NULL;
}

/* The scan ended and every decided item is in the model. What was added stays (it is saved)
 * also when the scan was cancelled or failed; the task then keeps the partial result for
 * bt_project_import_finish_full(). */
static void
import_complete (GTask *task)
{
  ImportJob *j = g_task_get_task_data (task);
  /* Every class that got images got a validation image among them (always, for a big import)? */
  gboolean all_val = TRUE;
  GHashTableIter vi;
  gpointer has_val;
  g_hash_table_iter_init (&vi, j->val_seen);
  while (all_val && g_hash_table_iter_next (&vi, NULL, &has_val))
    all_val = has_val != NULL;
  if (!all_val && ensure_val_added (j->project, j->added))
    commit_full (j->project, FALSE, TRUE, FALSE);
  else if (j->project->dirty_labels || j->project->dirty_ini)
    {
      /* The import's end is saved at once, like an edit (or as soon as the writer is free). */
      j->project->dirty_edit = TRUE;
      request_save (j->project, FALSE, FALSE, FALSE);
    }
  ImportLeftovers *l = g_new0 (ImportLeftovers, 1);
  l->whole = g_steal_pointer (&j->whole);
  l->by_hash = g_steal_pointer (&j->by_hash);
  l->added = g_steal_pointer (&j->added);
  GThread *t = g_thread_try_new ("bt-import-free", free_leftovers_thread, l, NULL);
  if (t)
    g_thread_unref (t);
  else
    free_leftovers_thread (l);
  /* Cancelled after the scan's end, while slices were pending: an error like any cancel, so
   * the partial result stays with the task for bt_project_import_finish_full(). */
  if (j->error == NULL)
    g_cancellable_set_error_if_cancelled (g_task_get_cancellable (task), &j->error);
  if (j->error)
    g_task_return_error (task, g_steal_pointer (&j->error));
  else
    g_task_return_pointer (task, g_steal_pointer (&j->total), (GDestroyNotify) bt_scan_result_free);
  g_object_unref (task);
}

static void
import_scan_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  ImportJob *j = g_task_get_task_data (task);
  j->whole = bt_scan_paths_finish (res, &j->error);
  if (j->splice_source != NULL)
    j->done_task = task;  /* completed by the last slice */
  else
    import_complete (task);
}

void
bt_project_import_async (BtProject *self, const char * const *paths, BtScanMode mode, const char *class_name,
                         gboolean recursive, BtScanProgress progress, gpointer progress_data,
                         GDestroyNotify progress_notify, GCancellable *cancellable,
                         GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (BT_IS_PROJECT (self));
  g_return_if_fail (paths != NULL);
  g_return_if_fail (mode != BT_SCAN_FILES_INTO_CLASS || class_name != NULL);
  ImportJob *j = g_new0 (ImportJob, 1);
  j->project = g_object_ref (self);
  self->n_imports++;
  j->by_hash = hash_index (self);
  j->added = g_ptr_array_new_with_free_func (g_object_unref);
  j->total = bt_scan_result_new ();
  j->progress = progress;
  j->progress_data = progress_data;
  j->progress_notify = progress_notify;
  j->pending = g_ptr_array_new_with_free_func (g_object_unref);
  j->class_pos = g_hash_table_new (g_str_hash, g_str_equal);
  j->val_seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  j->slice = SLICE_FIRST;
  /* Relative paths are the project folder's, as everywhere in the project. */
  g_autoptr(GPtrArray) abs = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; paths[i]; i++)
    g_ptr_array_add (abs, to_absolute (self, paths[i]));
  g_ptr_array_add (abs, NULL);
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, bt_project_import_async);
  g_task_set_task_data (task, j, import_job_free);
  /* The chunks borrow the task: the scan's callback holds it until the last one was delivered. */
  bt_scan_paths_stream_async ((const char * const *) abs->pdata, mode, class_name, recursive,
                              import_progress, import_chunk, task, NULL, cancellable, import_scan_done, task);
}

BtScanResult *
bt_project_import_finish (BtProject *self, GAsyncResult *res, GError **error)
{
  return bt_project_import_finish_full (self, res, NULL, error);
}

BtScanResult *
bt_project_import_finish_full (BtProject *self, GAsyncResult *res, BtScanResult **partial, GError **error)
{
  g_return_val_if_fail (BT_IS_PROJECT (self), NULL);
  g_return_val_if_fail (g_task_is_valid (res, self), NULL);
  g_return_val_if_fail (partial == NULL || *partial == NULL, NULL);
  BtScanResult *r = g_task_propagate_pointer (G_TASK (res), error);
  if (r == NULL && partial != NULL)
    {
      ImportJob *j = g_task_get_task_data (G_TASK (res));
      *partial = g_steal_pointer (&j->total);
    }
  return r;
}
