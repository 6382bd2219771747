/* bt-dataset-private.h: helpers shared inside src/dataset/ and with its tests:
 * content hashing, CSV, seeded random numbers, file reading and test hooks. */
#pragma once

#include "dataset/bt-dataset.h"

G_BEGIN_DECLS

/* 64-bit content hash (never 0, so 0 can mean "unknown"). */
guint64  bt_hash_bytes (const guint8 *data, gsize len);

/* Small, explicitly seeded generator (splitmix64 stream). */
typedef struct { guint64 s; } BtRng;
static inline guint64
bt_rng_next (BtRng *r)
{
  guint64 z = (r->s += G_GUINT64_CONSTANT (0x9e3779b97f4a7c15));
  z = (z ^ (z >> 30)) * G_GUINT64_CONSTANT (0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * G_GUINT64_CONSTANT (0x94d049bb133111eb);
  return z ^ (z >> 31);
}
static inline double
bt_rng_uniform (BtRng *r)  /* [0, 1) */
{
  return (double) (bt_rng_next (r) >> 11) * (1.0 / 9007199254740992.0);
}
static inline guint32
bt_rng_below (BtRng *r, guint32 n)
{
  return (guint32) (((bt_rng_next (r) >> 32) * (guint64) n) >> 32);
}
guint64  bt_mix64 (guint64 x);
/* Where a content hash falls in [0, 1) for splitting. */
double   bt_split_position (guint64 hash);

/* Where decoding happens. By default every bt_image_decode*() and bt_image_probe_bytes() call
 * runs in the sandbox's helper processes (bt-sandbox.c); in-process only in the helper itself,
 * the fuzzers (FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION) and benchmarks that compare the two. */
void     bt_image_set_in_process (gboolean in_process);
gboolean bt_image_get_in_process (void);

/* Reads a regular file without ever blocking on FIFOs/devices (O_NONBLOCK + fstat).
 * max_len: refuse bigger files (BT_SKIP_TOO_LARGE). */
/* Its first half: the open descriptor (O_NONBLOCK, close-on-exec) of a regular file of at most
 * max_len bytes (*size), or -1 with reason and error set. */
int      bt_open_regular_file (const char *path, gsize max_len, gsize *size, BtSkipReason *reason,
                               GError **error);
gboolean bt_read_regular_file (const char *path, gsize max_len, guint8 **data, gsize *len,
                               BtSkipReason *reason, GError **error);
#define BT_MAX_FILE_BYTES ((gsize) 512 * 1024 * 1024)

/* RFC 4180 CSV. Parses bytes (fields may hold any byte but NUL); rows of GStrv. */
GPtrArray *bt_csv_parse (const char *data, gsize len, GError **error);  /* of GStrv */
void       bt_csv_append_field (GString *out, const char *field, gboolean last);

/* Test hook: when >= 0, bt_write_file_atomic fails with ENOSPC after writing this many
 * bytes of the temp file (simulates a crash or a full disk in the middle of a save). */
extern gssize bt_atomic_write_fail_after;
/* bt_write_file_atomic in two halves: the temp file written and fsynced (tmp_out: its path),
 * then renamed over path and the folder fsynced. On failure the temp file is removed. */
gboolean bt_write_file_temp   (const char *path, const void *data, gsize len, char **tmp_out, GError **error);
gboolean bt_write_file_commit (const char *tmp, const char *path, GError **error);

/* Leftovers of killed writes (bt-project-tidy.c): temp files older than temp_age_s in the
 * project and models/; in runs/, when no trainer or search holds the run lock, every temp file
 * and the folders holding only config.ini (runs killed in epoch 1, searches killed as they
 * started). Returns how many were removed. */
#define BT_TIDY_TEMP_AGE_S (15 * 60)
gboolean bt_tidy_is_temp_name (const char *name);
guint    bt_project_tidy (const char *project_dir, gint64 temp_age_s);
/* bt_project_tidy with the default age on a detached thread (called by bt_project_open). */
void     bt_project_tidy_in_background (const char *project_dir);
/* A class name the data layer accepts: valid UTF-8 without control characters. (A "/" is
 * allowed: exports escape it; a class folder whose name has a "\\" is skipped by the scan.) */
gboolean bt_class_name_is_safe (const char *name);

/* Items and classes (constructors used by the project). */
BtItem      *bt_item_new (const char *path, const char *class_name, BtSplit split, guint64 hash);
void         bt_item_set_class_name (BtItem *item, const char *class_name);
void         bt_item_set_split      (BtItem *item, BtSplit split);
void         bt_item_set_excluded   (BtItem *item, gboolean excluded);
void         bt_item_set_missing    (BtItem *item, gboolean missing);
void         bt_item_set_duplicate  (BtItem *item, gboolean duplicate);
void         bt_item_set_hash       (BtItem *item, guint64 hash);
void         bt_item_set_size       (BtItem *item, int width, int height);
/* The class name as a GRefString reference (g_ref_string_release it); cheap, for snapshots. */
char        *bt_item_dup_class_ref  (BtItem *item);
/* The saved fields at once (no type checks: the saver's hot loop). */
void         bt_item_snapshot       (BtItem *item, char **class_ref, guint64 *hash, int *width, int *height,
                                     BtSplit *split, gboolean *excluded);
BtClassInfo *bt_class_info_new (const char *name, guint color);
void         bt_class_info_set_name    (BtClassInfo *info, const char *name);
void         bt_class_info_set_n_items (BtClassInfo *info, guint n);

/* The project's writer thread (bt-saver.c). Snapshots are taken on the thread owning the
 * project; serialization and atomic durable writes happen on the writer; hand-overs that
 * arrive while it writes are coalesced. Failures are reported to failed() on the context
 * that was thread-default when the saver was made, while the owner lives. */
typedef struct _BtSaver BtSaver;
typedef void (*BtSaverFailed) (GObject *owner, const GError *error);
typedef void (*BtSaverDrained) (GObject *owner);  /* the writer went idle (owner's context) */
BtSaver  *bt_saver_new      (const char *dir, GObject *owner, BtSaverFailed failed, BtSaverDrained drained);
void      bt_saver_unref    (BtSaver *s);
GArray   *bt_saver_snapshot (GListModel *items);  /* of rows, for submit/serialize */
GString  *bt_saver_serialize (const char *dir, GArray *rows);  /* labels.csv bytes */
void      bt_saver_submit   (BtSaver *s, GArray *rows, GBytes *ini);  /* transfer full, nullable */
void      bt_saver_needs    (BtSaver *s, gboolean *labels, gboolean *ini);  /* failed, unsaved */
gboolean  bt_saver_wait     (BtSaver *s, GError **error);  /* until all handed over is written */
gboolean  bt_saver_is_busy  (BtSaver *s);

/* The one folder walk (bt-walk.c), for the scan and the plan. Calls, on the calling thread and
 * in walk order: class_added for each class as the walk names it (index = creation order),
 * file for each regular file to take (FALSE stops the walk), skip for what the walk itself
 * leaves out (BT_SKIP_SPECIAL, _UNREADABLE, _NO_CLASS), seen (may be NULL) for each entry
 * looked at. FALSE + error when a root folder cannot be opened (not in files-into-class mode). */
typedef struct {
  void     (*class_added) (gpointer user_data, guint index, const char *name);
  gboolean (*file)        (gpointer user_data, const char *path, guint class_index);
  void     (*skip)        (gpointer user_data, const char *path, BtSkipReason reason);
  void     (*seen)        (gpointer user_data, guint n_seen);
} BtWalkFuncs;
gboolean bt_walk_paths (const char * const *paths, BtScanMode mode, const char *class_name, gboolean recursive,
                        const BtWalkFuncs *funcs, gpointer user_data, GCancellable *cancellable, GError **error);

/* A chunk of a streaming scan: the items and skips found since the previous chunk, in walk
 * order (class_names: every class seen so far, so class_index is valid; n_label_conflicts:
 * those of this chunk). The receiver owns it (bt_scan_result_free). */
typedef void (*BtScanChunkFunc) (BtScanResult *chunk, gpointer user_data);
/* bt_scan_paths, streaming: chunk (may be NULL) is called from the scanning threads, in walk
 * order, one call at a time, whenever ~1000 files were decided or ~100 ms passed, and once at
 * the end (possibly empty). Returns the whole result as bt_scan_paths does. */
BtScanResult *bt_scan_paths_stream (const char * const *paths, BtScanMode mode, const char *class_name,
                                    gboolean recursive, BtScanProgress progress, gpointer progress_data,
                                    BtScanChunkFunc chunk, gpointer chunk_data,
                                    GCancellable *cancellable, GError **error);
/* Streaming on the calling thread's main context (the project's import): chunk gets each chunk
 * (owning it) in walk order, one per idle dispatch; progress the newest counts through a
 * BtThrottle (at most one pending low-priority idle, none after the callback); both get
 * user_data, which notify frees at the end. callback runs after the last chunk was delivered;
 * finish with bt_scan_paths_finish (the whole result). Once cancellable fires, no more chunks. */
void          bt_scan_paths_stream_async (const char * const *paths, BtScanMode mode, const char *class_name,
                                          gboolean recursive, BtScanProgress progress, BtScanChunkFunc chunk,
                                          gpointer user_data, GDestroyNotify notify, GCancellable *cancellable,
                                          GAsyncReadyCallback callback, gpointer callback_data);
BtScanResult *bt_scan_paths_finish       (GAsyncResult *result, GError **error);
BtScanResult *bt_scan_result_new (void);
void bt_scan_result_add_skip (BtScanResult *r, const char *path, BtSkipReason reason, const char *dup_of);

G_END_DECLS
