/* bt-dataset.h: the public API of Bottega's data layer (GLib/GIO + stb_image; no GTK, no engine).
 * Projects on disk, folder import, hardened decoding, preprocessing, cache, splits, batches. */
#pragma once

#include <gio/gio.h>

#include "dataset/bt-image-formats.h"
#include "dataset/bt-throttle.h"

G_BEGIN_DECLS

#define BT_DATASET_ERROR (bt_dataset_error_quark ())
typedef enum {
  BT_DATASET_ERROR_INVALID,      /* bad argument or setting */
  BT_DATASET_ERROR_CORRUPT,      /* a project/labels file or an image is broken */
  BT_DATASET_ERROR_UNSUPPORTED,  /* not an image / unsupported format / newer project version */
  BT_DATASET_ERROR_TOO_LARGE,    /* over the pixel or byte budget */
  BT_DATASET_ERROR_IO,
  BT_DATASET_ERROR_CANCELLED,
  BT_DATASET_ERROR_BUSY,         /* another process holds the project's run lock */
} BtDatasetError;
GQuark bt_dataset_error_quark (void);

#include "dataset/bt-settings.h"  /* BtProjectSettings and its table */

/* ---- Splits ---- */
typedef enum { BT_SPLIT_TRAIN, BT_SPLIT_VAL, BT_SPLIT_TEST, BT_N_SPLITS } BtSplit;
const char *bt_split_to_string   (BtSplit split);  /* "train" | "val" | "test" */
gboolean    bt_split_from_string (const char *s, BtSplit *out);

/* ---- Why a file was skipped ---- */
typedef enum {
  BT_SKIP_NOT_IMAGE,
  BT_SKIP_UNSUPPORTED,
  BT_SKIP_CORRUPT,
  BT_SKIP_TOO_LARGE,
  BT_SKIP_UNREADABLE,
  BT_SKIP_DUPLICATE,
  BT_SKIP_SPECIAL,       /* FIFO, device, socket, symlink loop */
  BT_SKIP_NO_CLASS,      /* a file beside the class folders (folder-of-classes mode) */
  BT_SKIP_BAD_NAME,      /* a class folder whose name has control characters or "\" */
  BT_SKIP_HIDDEN,        /* a hidden file or folder (name starts with ".") */
} BtSkipReason;
const char *bt_skip_reason_to_string (BtSkipReason reason); /* untranslated English, short */
const char *bt_skip_reason_to_display (BtSkipReason reason); /* translated, for the UI */

/* ---- Decoding (thread-safe; never BLAS) ---- */
typedef struct {
  int     width, height, channels;  /* channels 1 or 3 after conversion */
  guint8 *pixels;                   /* HWC, row-major; freed by bt_image_free only */
  gsize   mapped_len;               /* private: pixels are the sandbox's memfd mapped (0: g_malloc) */
} BtImage;
BtImage *bt_image_new  (int width, int height, int channels);  /* zero-filled */
BtImage *bt_image_copy (const BtImage *img);                      /* pixels copied */
void     bt_image_free (BtImage *img);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BtImage, bt_image_free)

/* The pixel budget: a header claiming more pixels is refused before any allocation
 * ("too large (W×H)"). Process-wide; 0 restores the default. */
#define BT_PIXEL_BUDGET_DEFAULT ((guint64) 100 * 1000 * 1000)
void     bt_image_set_pixel_budget (guint64 pixels);
guint64  bt_image_get_pixel_budget (void);
#define BT_MAX_PIXELS (bt_image_get_pixel_budget ())
/* Transparent pixels are composited over this grey level (white) in training and prediction. */
#define BT_ALPHA_BACKGROUND 255

typedef enum {
  BT_DECODE_ROTATED   = 1 << 0,  /* an EXIF orientation other than 1 was applied */
  BT_DECODE_CONVERTED = 1 << 1,  /* colour converted: ICC profile to sRGB, CMYK, 16 bits */
} BtDecodeFlags;
typedef struct {
  const char *format;        /* "jpeg", "png", "webp", "heif", "avif", "tiff", "gif", "bmp", "tga" */
  int         width, height; /* full size, upright */
  int         orientation;   /* EXIF 1..8 as found */
  guint       flags;         /* BtDecodeFlags */
} BtDecodeInfo;

/* THE decode function: every decode of an image file goes through it. Untrusted bytes, format
 * from content; EXIF orientation applied to the pixels, embedded ICC profiles converted to
 * sRGB, 16 bits rounded to 8, alpha composited over BT_ALPHA_BACKGROUND. want_channels 1 or 3.
 * min_w × min_h (upright; 0 = full size): the decoder may return a smaller image that still
 * covers this box (JPEG's DCT scaling, WebP's scaler); callers pass BT_TENSOR_BOX (target) for a
 * tensor and twice the target for what people look at (thumbnails, previews).
 * On failure returns NULL and sets error; *reason (may be NULL) says why. info may be NULL. */
BtImage *bt_image_decode (const guint8 *data, gsize len, int want_channels, int min_w, int min_h,
                          BtDecodeInfo *info, BtSkipReason *reason, GError **error);
/* The box to decode a photo in for a tensor of n pixels a side (training cache, embeddings,
 * prediction): the target itself. A 12 MP JPEG then decodes at 1/8 scale, where libjpeg needs
 * only the DC coefficients: 1.5× less CPU than 1/4, and the 224×224 tensor differs by 0.7 of 255
 * on average (docs/PERFORMANCE.md). Thumbnails and previews, which people look at, keep 2×. */
#define BT_TENSOR_BOX(n) (n)
BtImage *bt_image_decode_file_sized (const char *path, int want_channels, int min_w, int min_h,
                                     BtDecodeInfo *info, GCancellable *cancellable,
                                     BtSkipReason *reason, GError **error);
/* Full size. */
BtImage *bt_image_decode_bytes (const guint8 *data, gsize len, int want_channels,
                                BtSkipReason *reason, GError **error);
BtImage *bt_image_decode_file  (const char *path, int want_channels, GCancellable *cancellable,
                                BtSkipReason *reason, GError **error);
/* Decodes run in helper processes ten nice levels below the app: background work (imports,
 * training, thumbnails) must not hold the window's frames. A thread that decodes for someone
 * waiting at the window (the Test page's photo, the explanation of it) marks itself with TRUE
 * and its decodes go to a helper at the app's own priority, ahead of a training run's; FALSE
 * ends it. Per thread (worker threads of a pool are reused: set it back); returns the previous
 * setting. */
gboolean bt_image_set_thread_foreground (gboolean foreground);
gboolean bt_image_get_thread_foreground (void);
/* Decodes path (at most about 256 px a side) and tells whether it is a colour photo: more than
 * one sampled pixel in 50 has channels more than 12 apart (a grey scan with a coloured stamp is
 * still grey). FALSE with width/height 0 when it cannot be read. Decodes: never on the main thread. */
gboolean bt_image_file_looks_colour (const char *path, int *width, int *height);
/* Reads only the header: upright dimensions and format name ("png", "jpeg", ...). */
gboolean bt_image_probe_bytes  (const guint8 *data, gsize len, int *width, int *height,
                                const char **format, BtSkipReason *reason, GError **error);

/* ---- One writer of a project's runs/ at a time (bt-run-lock.c) ---- */
/* What the holder does: the file says it, and the refusal names it; a tidy-up's lock (held for
 * milliseconds) is waited for, a training run's or a search's is not. */
typedef enum {
  BT_RUN_LOCK_TRAIN,    /* a trainer writing runs/<time>/ */
  BT_RUN_LOCK_SEARCH,   /* a hyper-parameter search writing a runs/tune-… folder (its trials write nothing) */
  BT_RUN_LOCK_TIDY,     /* bt_project_tidy cleaning runs/ */
} BtRunLockKind;
/* Takes the lock on DIR/runs/.lock (making runs/) without waiting: the descriptor that holds
 * it, or -1 with BT_DATASET_ERROR_BUSY naming the holder (or an I/O error). Held until
 * bt_run_lock_release or the process ends (a killed holder's lock is free at once). */
int      bt_run_lock_try     (const char *project_dir, BtRunLockKind kind, GError **error);
void     bt_run_lock_release (int fd);

/* ---- Photos that arrive as bytes or pixels (bt-photo-store.c; worker threads only) ----
 * A camera frame, a pasted image or one dragged from a web browser becomes a file in
 * project_dir/images/<class folder>/<stem>.<suffix> (stem-2, stem-3... beside existing files;
 * never over one), written atomically. store_bytes first decodes the bytes with bt_image_decode
 * (a cut-short or unknown payload is refused with the decoder's reason) and keeps them unchanged
 * under the suffix of their format; store_rgb encodes RGB pixels as a JPEG (quality 92).
 * Return the new path (g_free) and *hash (may be NULL) the content hash, or NULL + error. */
char   *bt_photo_class_folder (const char *class_name);  /* the class's folder name under images/ */
char   *bt_photo_store_bytes  (const char *project_dir, const char *class_name, const char *stem,
                               const guint8 *data, gsize len, guint64 *hash, GError **error);
char   *bt_photo_store_rgb    (const char *project_dir, const char *class_name, const char *stem,
                               const guint8 *rgb, int width, int height, int stride, guint64 *hash,
                               GError **error);
/* RGB pixels (rows stride bytes apart) as JPEG bytes (g_free), NULL when libjpeg refuses. */
guint8 *bt_photo_encode_jpeg  (const guint8 *rgb, int width, int height, int stride, int quality, gsize *len);

/* ---- The decoder sandbox (bt-sandbox.c): the same decode, in a helper process ---- */
/* Decodes in a pool of long-lived bottega-decoder processes confined by seccomp and resource
 * limits: the file is opened here and its descriptor passed, the pixels come back in a memfd.
 * A helper that crashes, overruns or exceeds the timeout is replaced and the file reported as
 * "could not be decoded safely" (BT_SKIP_CORRUPT). Thread-safe; blocks while every helper of
 * the pool (one per core, at most 4) is busy. The helper is BOTTEGA_DECODER or the installed one. */
BtImage *bt_sandbox_decode_file  (const char *path, int want_channels, BtSkipReason *reason, GError **error);
BtImage *bt_sandbox_decode_fd    (int fd, const char *name, int want_channels, BtSkipReason *reason,
                                  GError **error);
BtImage *bt_sandbox_decode_bytes (const guint8 *data, gsize len, int want_channels,
                                  BtSkipReason *reason, GError **error);
void     bt_sandbox_set_helper_path (const char *path);
void     bt_sandbox_set_timeout  (guint milliseconds);  /* per image; default 20 s */
guint    bt_sandbox_get_n_restarts (void);              /* helpers replaced after a failure */
int      bt_sandbox_get_confined (void);   /* the last helper to answer ran under seccomp: 1, 0, or -1 (none yet) */
void     bt_sandbox_shutdown     (void);                /* stops the helpers (they restart on use) */

/* The one preprocessing function (training, evaluation, test pane, CLI, model files):
 * resize mode "squash" | "center-crop" | "pad" ; area averaging when shrinking, bilinear
 * when growing. Output: out_w × out_h × channels uint8 HWC. */
const char *bt_ds_resize_to_string   (BtDsResize mode);
gboolean    bt_ds_resize_from_string (const char *s, BtDsResize *out);
/* pad fills the borders with black (0). Never fails on a valid image. */
BtImage *bt_image_resize (const BtImage *img, int out_w, int out_h, BtDsResize mode);
/* decode_file + resize: what the cache, the test pane and the CLI call for one image. */
BtImage *bt_image_preprocess_file (const char *path, int width, int height, int channels,
                                   BtDsResize mode, GCancellable *cancellable,
                                   BtSkipReason *reason, GError **error);
/* uint8 HWC → float32 CHW: x = (p * scale - mean[c]) / std[c] */
void     bt_image_to_chw_float (const guint8 *hwc, int w, int h, int c, float scale,
                                const float *mean, const float *std, float *out);

/* ---- Items and classes: small final GObjects for list models ---- */
#define BT_TYPE_ITEM (bt_item_get_type ())
G_DECLARE_FINAL_TYPE (BtItem, bt_item, BT, ITEM, GObject)
/* Read-only properties (notify on change): path (absolute, filename encoding), display-name,
 * class-name, split, excluded, missing, duplicate, hash (guint64 content hash), width and
 * height (pixels of the image file; 0 while unknown). Sizes are read where the header is read
 * anyway (scan, CSV import, adding files) and kept in labels.csv. */
const char *bt_item_get_path       (BtItem *item);  /* absolute, filename encoding */
const char *bt_item_get_display_name (BtItem *item); /* UTF-8 base name */
const char *bt_item_get_class_name (BtItem *item);
BtSplit     bt_item_get_split      (BtItem *item);
gboolean    bt_item_get_excluded   (BtItem *item);
gboolean    bt_item_get_missing    (BtItem *item);
gboolean    bt_item_get_duplicate  (BtItem *item);
guint64     bt_item_get_hash       (BtItem *item);  /* content hash; 0 until known */
int         bt_item_get_width      (BtItem *item);  /* pixels; 0 while unknown */
int         bt_item_get_height     (BtItem *item);

#define BT_TYPE_CLASS_INFO (bt_class_info_get_type ())
G_DECLARE_FINAL_TYPE (BtClassInfo, bt_class_info, BT, CLASS_INFO, GObject)
/* Properties: name, n-items (notify on change), color (index into a palette) */
const char *bt_class_info_get_name    (BtClassInfo *info);
guint       bt_class_info_get_n_items (BtClassInfo *info);
guint       bt_class_info_get_color   (BtClassInfo *info);

/* ---- Project: a folder with project.ini, labels.csv, models/, runs/, cache/ ---- */
/* BtProjectSettings: see bt-settings.h. */

#define BT_TYPE_PROJECT (bt_project_get_type ())
G_DECLARE_FINAL_TYPE (BtProject, bt_project, BT, PROJECT, GObject)
/* Signals: "changed" (any change to classes, items or settings), "save-failed" (GError*).
 * Every mutation below is handed to the project's writer thread before it returns: the main
 * thread takes a cheap snapshot (item references, shared strings); the writer serializes it
 * and replaces labels.csv / project.ini atomically and durably (temp + fsync + rename).
 * Changes made while a write runs are coalesced into the next one. A failed write (disk full,
 * read-only folder) leaves the old files and the in-memory state intact, emits "save-failed"
 * on the main context that was current when the project was created or opened, and is retried
 * by the next change or bt_project_flush(). The mutators' GError is only for invalid requests.
 * Finalizing the project waits for the pending write. */
BtProject  *bt_project_create         (const char *dir, const char *name, GError **error);
BtProject  *bt_project_open           (const char *dir, GError **error);
const char *bt_project_get_dir        (BtProject *self);
const char *bt_project_get_name       (BtProject *self);
gboolean    bt_project_set_name       (BtProject *self, const char *name, GError **error);
GListModel *bt_project_get_classes    (BtProject *self);   /* of BtClassInfo, in order */
GListModel *bt_project_get_items      (BtProject *self);   /* of BtItem */
int         bt_project_find_class     (BtProject *self, const char *name);  /* position or -1 */
BtItem     *bt_project_find_item      (BtProject *self, const char *path);  /* borrowed or NULL */
const BtProjectSettings *bt_project_get_settings (BtProject *self);
gboolean    bt_project_update_settings (BtProject *self, const BtProjectSettings *settings, GError **error);
/* Waits until everything handed to the writer is on disk (retrying a failed write first);
 * FALSE + the write's error when the files could not be saved. For the CLI, tests, quitting. */
gboolean    bt_project_flush          (BtProject *self, GError **error);
/* FALSE + a message naming them when a class has no usable image (training would report a
 * meaningless accuracy for it). Call before a training run starts. */
gboolean    bt_project_check_trainable (BtProject *self, GError **error);
/* Removes what a failed or killed `new --from` made in dir (never the user's images): the
 * project files and their temp files, empty sub-folders, the file mark_name, then dir if empty. */
void        bt_project_remove_partial (const char *dir, const char *mark_name);
void        bt_project_flush_async    (BtProject *self, GCancellable *cancellable,
                                       GAsyncReadyCallback callback, gpointer user_data);
gboolean    bt_project_flush_finish   (BtProject *self, GAsyncResult *res, GError **error);
gboolean    bt_project_is_saving      (BtProject *self);  /* a write is pending or running */

gboolean    bt_project_add_class      (BtProject *self, const char *name, GError **error);
gboolean    bt_project_rename_class   (BtProject *self, const char *old_name, const char *new_name, GError **error);
gboolean    bt_project_remove_class   (BtProject *self, const char *name, GError **error); /* items go too */
gboolean    bt_project_move_class     (BtProject *self, const char *name, guint new_position, GError **error);
/* Adds paths (already checked images) to a class, creating it when needed. */
gboolean    bt_project_add_items      (BtProject *self, const char *class_name, const char * const *paths,
                                       const guint64 *hashes, GError **error);
gboolean    bt_project_relabel        (BtProject *self, BtItem * const *items, guint n, const char *class_name, GError **error);
gboolean    bt_project_set_excluded   (BtProject *self, BtItem * const *items, guint n, gboolean excluded, GError **error);
gboolean    bt_project_import_csv     (BtProject *self, const char *csv_path, GError **error);
/* The same without blocking: a worker reads and parses the CSV and reads each listed image
 * (hash, size); this thread applies the rows ~1000 per low-priority idle dispatch (one splice
 * and one save hand-over each). finish: the number of images added, or -1 + error (a file that
 * is not a CSV, cancelled: rows applied before the cancel stay). */
void        bt_project_import_csv_async  (BtProject *self, const char *csv_path, GCancellable *cancellable,
                                          GAsyncReadyCallback callback, gpointer user_data);
gssize      bt_project_import_csv_finish (BtProject *self, GAsyncResult *res, GError **error);
/* Re-checks which referenced images still exist (worker-safe read, main-thread apply). */
void        bt_project_refresh_missing (BtProject *self);

/* Indices of the usable items (not excluded, not missing) of one split, with their class index. */
typedef struct { guint *items; int *labels; guint n; } BtSplitView;
BtSplitView *bt_project_split_view    (BtProject *self, BtSplit split);
void         bt_split_view_free       (BtSplitView *v);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BtSplitView, bt_split_view_free)
/* The stable split of one content hash, given percentages: same hash → same split forever. */
BtSplit      bt_split_for_hash        (guint64 hash, int pct_train, int pct_val, int pct_test);

/* Stratified k-fold (cross-validation): folds_out[i] in [0, k) for item i of the given content
 * hashes and class labels. Within a class, items are ordered by a mix of their hash and dealt
 * round-robin, so every fold has each class's count ±1 and the same hashes give the same folds.
 * Pass only train+val items: the test split stays out of cross-validation. */
#define BT_FOLDS_MIN 3
#define BT_FOLDS_MAX 10
gboolean     bt_folds_assign          (const guint64 *hashes, const int *labels, guint n, int k,
                                       int *folds_out, GError **error);

/* ---- Scanning (worker thread; streams results, cancellable) ---- */
typedef enum {
  BT_SCAN_FOLDER_AS_CLASS,      /* folder name = class */
  BT_SCAN_FOLDER_OF_CLASSES,    /* one class per sub-folder */
  BT_SCAN_FILES_INTO_CLASS,     /* files/folders into a given class */
} BtScanMode;
typedef struct _BtScanResult BtScanResult;
struct _BtScanResult {
  GPtrArray *class_names;   /* char* */
  GPtrArray *paths;         /* char*, parallel with class_index/hashes */
  GArray    *class_index;   /* guint */
  GArray    *hashes;        /* guint64 */
  GPtrArray *skipped_paths; /* char* */
  GArray    *skipped_reasons; /* BtSkipReason */
  GPtrArray *duplicate_of;  /* char*: for each duplicate skip, the path it duplicates */
  guint      n_label_conflicts;
  GArray    *widths, *heights; /* int, parallel with paths: the image's size in pixels */
  guint      n_rotated;       /* items the decoder turned upright (EXIF orientation) */
  guint      n_converted;     /* items whose colours it converted (ICC profile, CMYK, 16 bits) */
};
void bt_scan_result_free (BtScanResult *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BtScanResult, bt_scan_result_free)
typedef void (*BtScanProgress) (guint n_seen, guint n_ok, guint n_skipped, gpointer user_data);
/* Synchronous; call from a worker (GTask). progress is called from that worker. Files are
 * checked (read, hashed, fully decoded) on a pool while the folders are still being walked. */
BtScanResult *bt_scan_paths (const char * const *paths, BtScanMode mode, const char *class_name,
                             gboolean recursive, BtScanProgress progress, gpointer user_data,
                             GCancellable *cancellable, GError **error);
/* What bt_scan_paths would take, by names alone: nothing is opened or decoded, so it is quick
 * enough to show before an import. paths/class_index hold, in walk order, the files whose name
 * has an image suffix (bt-image-formats.h); other files are skipped as BT_SKIP_NOT_IMAGE, and
 * what the walk itself leaves out gets the scan's reason (special, unreadable, no class).
 * hashes, widths and heights are 0 and duplicates are not looked for. max_files > 0 ends the
 * walk at that many files. Synchronous: call from a worker. */
BtScanResult *bt_scan_plan  (const char * const *paths, BtScanMode mode, const char *class_name,
                             gboolean recursive, guint max_files, GCancellable *cancellable,
                             GError **error);
/* Applies a scan result to a project (main thread), returns how many items were added.
 * Files whose content is already in the project are appended to result's skipped list
 * (BT_SKIP_DUPLICATE, n_label_conflicts counts those under another class). 0 + error when
 * saving failed. */
guint         bt_project_apply_scan (BtProject *self, BtScanResult *result, GError **error);
/* Scan + apply, streaming: what the scan finds is added to the project chunk by chunk as it is
 * found (each chunk one splice into the item model on this thread's main context, a few ms
 * of main-thread work per ~1000 files; class counts follow; the save goes to the writer
 * thread), so a GUI shows images during a long import. Duplicates of content already in the
 * project are skipped as in bt_project_apply_scan. progress runs on this thread's main context
 * (throttled: at most one pending low-priority idle, the newest counts win).
 * Cancelling stops the scan; what was added stays. finish returns the added items (paths,
 * class_index, hashes, widths, heights), every class named, and every skip with its reason;
 * paths->len is the number added. */
void          bt_project_import_async  (BtProject *self, const char * const *paths, BtScanMode mode,
                                        const char *class_name, gboolean recursive,
                                        BtScanProgress progress, gpointer progress_data,
                                        GDestroyNotify progress_notify, GCancellable *cancellable,
                                        GAsyncReadyCallback callback, gpointer user_data);
BtScanResult *bt_project_import_finish (BtProject *self, GAsyncResult *res, GError **error);
/* The same; when the import was cancelled or failed (NULL + error), *partial (if not NULL) gets
 * what it had done until then, as finish would return it: the items added (they stay in the
 * project) and every file skipped so far, with its reason. */
BtScanResult *bt_project_import_finish_full (BtProject *self, GAsyncResult *res, BtScanResult **partial,
                                             GError **error);

/* ---- Decoded cache: every usable item at the input size, uint8, decoded by a pool ---- */
typedef struct _BtCache BtCache;
typedef void (*BtCacheProgress) (guint done, guint total, gpointer user_data);
/* Decodes (in a GThreadPool of n_threads; <= 0: one per core) every item of the project at
 * w×h×c. Items that fail to decode are recorded (bt_cache_is_valid FALSE) and skipped by
 * batches. Snapshots the item list first: call it on the thread that owns the project (or use
 * bt_cache_build_paths from a worker). Progress is called from the calling thread. */
BtCache    *bt_cache_build        (BtProject *project, int width, int height, int channels, BtDsResize resize,
                                   int n_threads, BtCacheProgress progress, gpointer user_data,
                                   GCancellable *cancellable, GError **error);
/* The same with a gate the decode workers call before each image: it may block (a paused
 * training run) and returns FALSE to stop, which fails the build with G_IO_ERROR_CANCELLED. */
typedef gboolean (*BtCacheGate) (gpointer gate_data);
BtCache    *bt_cache_build_gated  (BtProject *project, int width, int height, int channels, BtDsResize resize,
                                   int n_threads, BtCacheProgress progress, gpointer user_data,
                                   BtCacheGate gate, gpointer gate_data,
                                   GCancellable *cancellable, GError **error);
void        bt_cache_free         (BtCache *cache);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BtCache, bt_cache_free)
const guint8 *bt_cache_get        (BtCache *cache, guint item_index);  /* HWC uint8, or NULL */
gboolean    bt_cache_is_valid     (BtCache *cache, guint item_index);
/* Why an item is not valid (meaningful only when it was usable but failed to decode). */
BtSkipReason bt_cache_get_failure (BtCache *cache, guint item_index);
void        bt_cache_get_shape    (BtCache *cache, int *width, int *height, int *channels, guint *n_items);
gboolean    bt_cache_is_spilled   (BtCache *cache);  /* over budget: backed by a file mapping */
/* The usable items that could not be decoded, in item order: the i-th one's path (borrowed),
 * its item index and why. And all of them as one message: "N images could not be read and
 * are left out:" then one "  path (reason)" line each (translated; NULL when none failed),
 * for a training run to name every unreadable image instead of counting them. */
guint       bt_cache_get_n_failed (BtCache *cache);
const char *bt_cache_get_failed   (BtCache *cache, guint i, guint *item_index, BtSkipReason *reason);
char       *bt_cache_dup_failure_report (BtCache *cache);
/* "N images could not be read and are left out:" and one line per file with its reason
 * (NULL when n is 0): the one wording of that list, for the cache and the embeddings. */
char       *bt_unreadable_report (const char * const *paths, const BtSkipReason *reasons, guint n);
/* The same from a snapshot of paths (index i = item i; NULL entries are skipped), for workers
 * that must not touch the project. spill_dir: where to map the block beyond the budget. */
BtCache    *bt_cache_build_paths  (const char * const *paths, guint n, int width, int height, int channels,
                                   BtDsResize resize, const char *spill_dir, int n_threads,
                                   BtCacheProgress progress, gpointer user_data,
                                   GCancellable *cancellable, GError **error);
/* The same with bt_cache_build_gated's gate (a training run's worker). */
BtCache    *bt_cache_build_paths_gated (const char * const *paths, guint n, int width, int height,
                                        int channels, BtDsResize resize, const char *spill_dir,
                                        int n_threads, BtCacheProgress progress, gpointer user_data,
                                        BtCacheGate gate, gpointer gate_data,
                                        GCancellable *cancellable, GError **error);
/* Bytes a cache may hold in memory before it spills (default 1 GiB; process-wide). */
void        bt_cache_set_memory_budget (gsize bytes);

/* ---- Batches ---- */
typedef struct {
  gboolean flip, crop, rotate, color;
} BtAugment;
typedef struct _BtBatcher BtBatcher;
/* Iterates a split view's items from the cache, shuffling per epoch from the seed
 * when shuffle is TRUE. Output float32 NCHW = (p*scale - mean)/std. */
BtBatcher *bt_batcher_new      (BtCache *cache, const BtSplitView *view, int batch_size, gboolean shuffle,
                                const BtAugment *augment, float scale, const float *mean, const float *std,
                                guint64 seed);
void       bt_batcher_free     (BtBatcher *b);
void       bt_batcher_start_epoch (BtBatcher *b, int epoch);  /* order depends only on (seed, epoch) */
/* Fills x (batch × C×H×W) and labels; returns the number of images (0 at epoch end). */
int        bt_batcher_next     (BtBatcher *b, float *x, int *labels, guint *item_indices);
guint      bt_batcher_n_batches (BtBatcher *b);
guint      bt_batcher_n_items   (BtBatcher *b);  /* usable (decoded) items of the view */
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BtBatcher, bt_batcher_free)

/* Class balance: counts per class in the train split and suggested weights (n / (k·count)). */
void       bt_project_class_weights (BtProject *self, float *weights_out, guint n_classes);

/* ---- Sample data ---- */
/* Writes the "Shapes" sample (circle, square, triangle, star; n_per_class each, size×size PNGs)
 * into dir/images/<class>/ and creates a project in dir. */
BtProject *bt_sample_create_shapes (const char *dir, guint n_per_class, int size, guint64 seed,
                                    GCancellable *cancellable, GError **error);
/* What "Try the sample" / `bottega --sample` opens: 4 × BT_SAMPLE_PER_CLASS images of
 * BT_SAMPLE_SIZE px (seed BT_SAMPLE_SEED), set up to train to >= 90 % validation accuracy with the
 * default Small CNN in well under a minute on 2 cores: 32 × 32 greyscale input (the shapes differ
 * by outline, not colour), 20 epochs. Measured in docs/PERFORMANCE.md. */
#define BT_SAMPLE_PER_CLASS 250
#define BT_SAMPLE_SIZE      64
#define BT_SAMPLE_SEED      42
BtProject *bt_sample_create_default (const char *dir, GCancellable *cancellable, GError **error);

/* ---- CSV (RFC 4180) ---- */
/* Appends one field, quoted when it holds a comma, quote, line break or edge space. */
void bt_csv_append_value (GString *out, const char *field);

/* ---- Atomic, durable writes (temp + fsync + rename next to the target) ---- */
gboolean bt_write_file_atomic (const char *path, const void *data, gsize len, GError **error);

G_END_DECLS
