/* bt-saver.c: the project's single writer thread. The main thread hands over cheap snapshots
 * (item refs + shared class-name strings); the writer serializes labels.csv, writes it and
 * project.ini atomically and durably, coalescing snapshots that arrive while it writes. */
#include "config.h"

#include <string.h>
#ifdef __linux__
#include <errno.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "dataset/bt-dataset-private.h"

typedef struct {
  BtItem  *item;       /* ref; the writer reads only its path, which never changes */
  char    *class_ref;  /* GRefString */
  guint64  hash;
  int      width, height;
  BtSplit  split;
  gboolean excluded;
} SaveRow;

struct _BtSaver {
  gint           refs;
  char          *dir;
  GMutex         lock;
  GCond          cond;
  GArray        *pending_rows;   /* SaveRow, or NULL: labels.csv unchanged since the last hand-over */
  GBytes        *pending_ini;    /* or NULL */
  gboolean       running;        /* a writer thread is alive */
  guint64        submitted, completed;  /* hand-over sequence numbers */
  GError        *error;          /* of the last completed write; NULL when it succeeded */
  gboolean       labels_failed, ini_failed;  /* unsaved: the next hand-over must carry them */
  GMainContext  *context;
  GWeakRef       owner;
  BtSaverFailed  failed;
  BtSaverDrained drained;
};

static void
save_row_clear (gpointer p)
{
  SaveRow *r = p;
  g_clear_object (&r->item);
  g_clear_pointer (&r->class_ref, g_ref_string_release);
}

BtSaver *
bt_saver_new (const char *dir, GObject *owner, BtSaverFailed failed, BtSaverDrained drained)
{
  BtSaver *s = g_new0 (BtSaver, 1);
  s->refs = 1;
  s->dir = g_strdup (dir);
  g_mutex_init (&s->lock);
  g_cond_init (&s->cond);
  s->context = g_main_context_ref_thread_default ();
  g_weak_ref_init (&s->owner, owner);
  s->failed = failed;
  s->drained = drained;
  return s;
}

static BtSaver *
saver_ref (BtSaver *s)
{
  g_atomic_int_inc (&s->refs);
  return s;
}

void
bt_saver_unref (BtSaver *s)
{
  if (s == NULL || !g_atomic_int_dec_and_test (&s->refs))
    return;
  g_free (s->dir);
  g_clear_pointer (&s->pending_rows, g_array_unref);
  g_clear_pointer (&s->pending_ini, g_bytes_unref);
  g_clear_error (&s->error);
  g_main_context_unref (s->context);
  g_weak_ref_clear (&s->owner);
  g_mutex_clear (&s->lock);
  g_cond_clear (&s->cond);
  g_free (s);
}

GArray *
bt_saver_snapshot (GListModel *items)
{
  guint n = g_list_model_get_n_items (items);
  GArray *rows = g_array_sized_new (FALSE, FALSE, sizeof (SaveRow), n);
  g_array_set_clear_func (rows, save_row_clear);
  g_array_set_size (rows, n);
  for (guint i = 0; i < n; i++)
    {
      SaveRow *r = &g_array_index (rows, SaveRow, i);
      r->item = g_list_model_get_item (items, i);
      bt_item_snapshot (r->item, &r->class_ref, &r->hash, &r->width, &r->height, &r->split, &r->excluded);
    }
  return rows;
}

GString *
bt_saver_serialize (const char *dir, GArray *rows)
{
  gsize dlen = strlen (dir);
  GString *out = g_string_sized_new (64 + (gsize) rows->len * 72);
  g_string_append (out, "path,class,split,excluded,hash,width,height\r\n");
  for (guint i = 0; i < rows->len; i++)
    {
      SaveRow *r = &g_array_index (rows, SaveRow, i);
      const char *abs = bt_item_get_path (r->item);
      /* Relative to the project folder when inside it. */
      const char *stored = abs;
      if (strncmp (abs, dir, dlen) == 0 && abs[dlen] == G_DIR_SEPARATOR && abs[dlen + 1] != '\0')
        stored = abs + dlen + 1;
      char num[24];
      bt_csv_append_field (out, stored, FALSE);
      bt_csv_append_field (out, r->class_ref, FALSE);
      bt_csv_append_field (out, bt_split_to_string (r->split), FALSE);
      bt_csv_append_field (out, r->excluded ? "1" : "0", FALSE);
      g_snprintf (num, sizeof num, "%016" G_GINT64_MODIFIER "x", r->hash);
      bt_csv_append_field (out, num, FALSE);
      g_snprintf (num, sizeof num, "%d", r->width);
      bt_csv_append_field (out, num, FALSE);
      g_snprintf (num, sizeof num, "%d", r->height);
      bt_csv_append_field (out, num, TRUE);
    }
  return out;
}

typedef struct {
  BtSaver *saver;
  GError  *error;
} FailedIdle;

static gboolean
failed_idle (gpointer p)
{
  FailedIdle *f = p;
  g_autoptr(GObject) owner = g_weak_ref_get (&f->saver->owner);
  if (owner && f->saver->failed)
    f->saver->failed (owner, f->error);
  return G_SOURCE_REMOVE;
}

static void
failed_idle_free (gpointer p)
{
  FailedIdle *f = p;
  g_error_free (f->error);
  bt_saver_unref (f->saver);
  g_free (f);
}

static gboolean
drained_idle (gpointer p)
{
  BtSaver *s = p;
  g_autoptr(GObject) owner = g_weak_ref_get (&s->owner);
  if (owner && s->drained)
    s->drained (owner);
  return G_SOURCE_REMOVE;
}

static gpointer
writer_thread (gpointer data)
{
  BtSaver *s = data;
#ifdef __linux__
  /* This thread is the save's alone (it ends when drained): it yields to the GUI thread, whose
   * frames would otherwise wait behind serializing a big labels.csv on a busy machine. */
  {
    id_t tid = (id_t) syscall (SYS_gettid);
    errno = 0;
    int nice_now = getpriority (PRIO_PROCESS, tid);
    if (errno == 0)
      (void) setpriority (PRIO_PROCESS, tid, MIN (nice_now + 5, 19));
  }
#endif
  g_mutex_lock (&s->lock);
  while (s->pending_rows || s->pending_ini)
    {
      g_autoptr(GArray) rows = g_steal_pointer (&s->pending_rows);
      g_autoptr(GBytes) ini = g_steal_pointer (&s->pending_ini);
      guint64 seq = s->submitted;
      g_mutex_unlock (&s->lock);

      g_autoptr(GError) error = NULL;
      gboolean labels_ok = TRUE, ini_ok = TRUE, had_rows = rows != NULL;
      if (rows)
        {
          g_autoptr(GString) csv = bt_saver_serialize (s->dir, rows);
          g_autofree char *path = g_build_filename (s->dir, "labels.csv", NULL);
          labels_ok = bt_write_file_atomic (path, csv->str, csv->len, &error);
        }
      /* project.ini after labels.csv: its class list then never names a class whose items
       * are not yet on disk in a newer form than it. */
      if (ini && labels_ok)
        {
          gsize len = 0;
          const char *data_ini = g_bytes_get_data (ini, &len);
          g_autofree char *path = g_build_filename (s->dir, "project.ini", NULL);
          ini_ok = bt_write_file_atomic (path, data_ini, len, &error);
        }
      else if (ini)
        ini_ok = FALSE;
      g_clear_pointer (&rows, g_array_unref);  /* item unrefs outside the lock */

      g_mutex_lock (&s->lock);
      s->completed = seq;
      if (had_rows)
        s->labels_failed = !labels_ok;
      if (ini)
        s->ini_failed = !ini_ok;
      /* The error stays until every file that failed has been written since. */
      if (!s->labels_failed && !s->ini_failed)
        g_clear_error (&s->error);
      if (error)
        {
          g_clear_error (&s->error);
          s->error = g_error_copy (error);
          FailedIdle *f = g_new0 (FailedIdle, 1);
          f->saver = saver_ref (s);
          f->error = g_steal_pointer (&error);
          GSource *src = g_idle_source_new ();
          g_source_set_priority (src, G_PRIORITY_DEFAULT);
          g_source_set_callback (src, failed_idle, f, failed_idle_free);
          g_source_attach (src, s->context);
          g_source_unref (src);
        }
      g_cond_broadcast (&s->cond);
    }
  s->running = FALSE;
  g_cond_broadcast (&s->cond);
  g_mutex_unlock (&s->lock);
  /* Changes that arrived while we wrote were only marked; the owner snapshots them now. */
  GSource *src = g_idle_source_new ();
  g_source_set_priority (src, G_PRIORITY_DEFAULT_IDLE);
  g_source_set_callback (src, drained_idle, saver_ref (s), (GDestroyNotify) bt_saver_unref);
  g_source_attach (src, s->context);
  g_source_unref (src);
  bt_saver_unref (s);
  return NULL;
}

void
bt_saver_submit (BtSaver *s, GArray *rows, GBytes *ini)
{
  if (rows == NULL && ini == NULL)
    return;
  g_autoptr(GArray) old_rows = NULL;
  g_autoptr(GBytes) old_ini = NULL;
  g_mutex_lock (&s->lock);
  /* Coalesce: the newest snapshot of each file replaces one not yet taken by the writer. */
  if (rows)
    {
      old_rows = g_steal_pointer (&s->pending_rows);
      s->pending_rows = rows;
    }
  if (ini)
    {
      old_ini = g_steal_pointer (&s->pending_ini);
      s->pending_ini = ini;
    }
  s->submitted++;
  if (!s->running)
    {
      s->running = TRUE;
      GThread *t = g_thread_new ("bt-project-save", writer_thread, saver_ref (s));
      g_thread_unref (t);
    }
  g_mutex_unlock (&s->lock);
}

void
bt_saver_needs (BtSaver *s, gboolean *labels, gboolean *ini)
{
  g_mutex_lock (&s->lock);
  *labels = s->labels_failed;
  *ini = s->ini_failed;
  g_mutex_unlock (&s->lock);
}

gboolean
bt_saver_wait (BtSaver *s, GError **error)
{
  g_mutex_lock (&s->lock);
  while (s->running || s->completed != s->submitted)
    g_cond_wait (&s->cond, &s->lock);
  gboolean ok = s->error == NULL;
  if (!ok)
    g_propagate_error (error, g_error_copy (s->error));
  g_mutex_unlock (&s->lock);
  return ok;
}

gboolean
bt_saver_is_busy (BtSaver *s)
{
  g_mutex_lock (&s->lock);
  gboolean busy = s->running || s->completed != s->submitted;
  g_mutex_unlock (&s->lock);
  return busy;
}
