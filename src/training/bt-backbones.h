/* bt-backbones.h: the catalogue of known pretrained backbones (data/backbones.ini, compiled in),
 * where they are installed, their download (libsoup, sha256 checked while streaming, renamed
 * into place only when it matches), their remembered speed, and the preset recommendation.
 * No GTK: the app's transfer card and bottega-cli share all of it. */
#pragma once

#include <gio/gio.h>

#include "engine/bt-engine.h"
#include "dataset/bt-dataset.h"

G_BEGIN_DECLS

typedef struct {
  char   *id;          /* catalogue name: the file name without .tflite */
  char   *title;       /* shown to people, e.g. "MobileNet V2 1.0/224" */
  char   *file;        /* file name, e.g. "mobilenet_v2_1.0_224_quant.tflite" */
  char   *url;         /* public address of exactly this file */
  char   *sha256;      /* lower-case hex */
  guint64 size;        /* bytes */
  int     input_size;  /* square input, pixels */
  int     embedding;   /* embedding length */
  char   *licence;
  double  top1;        /* published ImageNet top-1 in %, < 0 when none is published */
  char   *role;        /* "default", "fastest", "extractor", "quantized" */
  gboolean is_default;
} BtBackboneInfo;

/* Every catalogue entry, in catalogue order (the default first). Parsed once; never freed. */
const BtBackboneInfo * const *bt_backbones_list (guint *n);
const BtBackboneInfo *bt_backbones_default (void);
/* By catalogue name, file name, or sha256; NULL when unknown. */
const BtBackboneInfo *bt_backbones_lookup (const char *name);
const BtBackboneInfo *bt_backbones_lookup_sha256 (const char *sha256);
/* One sentence on what the entry is for ("The default: …"), translated. */
const char *bt_backbones_role_text (const BtBackboneInfo *info);

/* ~/.local/share/bottega/backbones (g_get_user_data_dir), where downloads go. */
char       *bt_backbones_user_dir (void);
/* Where the entry's file is on the backbone search path (bt_backbone_search_path), or NULL.
 * A file test only; the sha256 is not checked (bt_backbones_check_file does that). */
char       *bt_backbones_find_installed (const BtBackboneInfo *info);
/* The address a download uses: $BOTTEGA_BACKBONE_URL + file name when that variable is set
 * (tests only), else the catalogue's url. */
char       *bt_backbones_get_url (const BtBackboneInfo *info);

/* sha256 of a file, read in blocks (worker threads). */
char       *bt_file_sha256 (const char *path, GCancellable *cancellable, GError **error);

/* Progress of a download: bytes received and expected (0 when the size is unknown). Called on
 * the thread-default main context of the caller of bt_backbones_download_async, at most one
 * call pending at a time. */
typedef void (*BtDownloadProgress) (guint64 received, guint64 total, gpointer user_data);
/* Downloads info's file into bt_backbones_user_dir() on a worker thread: streamed into a
 * temporary file there while its sha256 is computed, then renamed to info->file only when
 * the sha256 matches. Every failure (offline, refused, HTTP error, closed half-way, wrong
 * checksum, cancelled, disk full) removes the temporary file and says what happened. */
void        bt_backbones_download_async  (const BtBackboneInfo *info, GCancellable *cancellable,
                                          BtDownloadProgress progress, gpointer progress_data,
                                          GDestroyNotify progress_destroy,
                                          GAsyncReadyCallback callback, gpointer user_data);
/* The installed file's path, or NULL. */
char       *bt_backbones_download_finish (GAsyncResult *result, GError **error);
/* The same, blocking the calling thread (for bottega-cli); progress is called on this thread. */
char       *bt_backbones_download_sync   (const BtBackboneInfo *info, GCancellable *cancellable,
                                          BtDownloadProgress progress, gpointer progress_data,
                                          GError **error);

/* "Choose a file you already have": on a worker, its sha256 is computed. A catalogue file is
 * copied into the user folder under its catalogue name (then *info_out is set); any other file
 * is accepted where it is when its graph can be cut into a backbone, with *warning_out saying
 * that it is not one Bottega knows. Returns the path to use, or NULL + error. */
void        bt_backbones_adopt_file_async  (const char *path, GCancellable *cancellable,
                                            GAsyncReadyCallback callback, gpointer user_data);
char       *bt_backbones_adopt_file_finish (GAsyncResult *result, const BtBackboneInfo **info_out,
                                            char **warning_out, GError **error);
char       *bt_backbones_adopt_file_sync   (const char *path, const BtBackboneInfo **info_out,
                                            char **warning_out, GCancellable *cancellable, GError **error);

/* Status of a catalogue entry on this machine, for listings. */
typedef enum {
  BT_BACKBONE_MISSING,
  BT_BACKBONE_INSTALLED,      /* found and its sha256 matches */
  BT_BACKBONE_WRONG_CHECKSUM, /* a file of that name is there, with other content */
} BtBackboneStatus;
BtBackboneStatus bt_backbones_check (const BtBackboneInfo *info, char **path_out,
                                     GCancellable *cancellable, GError **error);

/* Speed on this machine, CPU ms per image (embedding one image already decoded at the input
 * size; CPU time, so that other programs running at the same time do not inflate it),
 * remembered per sha256 in <user data>/bottega/backbones/speed.ini. < 0 when not measured. */
double      bt_backbones_get_speed (const char *sha256);
void        bt_backbones_set_speed (const char *sha256, double ms);
/* Loads the file and measures it (a few embeddings of a synthetic image; the fastest), remembers
 * and returns it; < 0 + error when it cannot be loaded. Worker threads. */
double      bt_backbones_measure_speed (const char *path, GError **error);

/* The project's chosen backbone (Compare backbones' pick, the card's choice), kept in the
 * project's settings ([transfer] backbone in project.ini; projects from before kept it in
 * <project>/backbone.ini, still read): a catalogue name or an absolute path. NULL when none
 * was chosen. The _dir forms read and write project.ini of a project nobody has open. */
char       *bt_backbones_project_choice     (BtProject *project);
gboolean    bt_backbones_set_choice         (BtProject *project, const char *name_or_path,
                                             GError **error);
char       *bt_backbones_get_project_choice (const char *project_dir);
gboolean    bt_backbones_set_project_choice (const char *project_dir, const char *name_or_path,
                                             GError **error);
/* A catalogue name, catalogue file name or path → the file to train with, or NULL + an error
 * that says how to get it (bottega-cli backbones fetch NAME). */
char       *bt_backbones_resolve (const char *name_or_path, GError **error);

/* A transfer model that refers to a backbone (not stored inside) which is not on this computer
 * with the sha256 the model names: TRUE, with the catalogue entry of that sha256 (NULL when
 * Bottega does not know it). Reads and hashes the candidate files: worker threads. */
gboolean    bt_backbones_model_needs (const BtModel *model, const BtBackboneInfo **info_out);

/* ---- The preset recommendation ---- */
typedef struct {
  guint n_images;    /* usable images */
  guint n_classes;   /* classes with at least one image */
  guint n_large;     /* images whose shorter side is larger than 64 px */
  guint n_checked;   /* images whose colour was looked at (0: unknown) */
  guint n_colour;    /* of those, the colour ones */
} BtDataSummary;
#define BT_RECOMMEND_FEW_PER_CLASS 500
#define BT_RECOMMEND_PHOTO_SIDE 64
/* The rule (docs/USER-GUIDE.md, tests/training/test-backbones.c): transfer learning when a
 * backbone is installed or downloadable and the data are photos (most images colour — when
 * known — and larger than 64 px) or fewer than 500 images per class; otherwise the small CNN
 * (small grey images, or no backbone). *why: one translated line saying why. */
BtPreset    bt_recommend_preset (const BtDataSummary *d, gboolean backbone_available, char **why);
/* The summary of a project's usable images from the sizes the scan recorded; with
 * colour_sample > 0, that many images (spread over the project) are also decoded to learn
 * whether they are in colour (worker threads and the CLI only; 0 on the main thread). */
void        bt_data_summary_from_project (BtProject *project, guint colour_sample, BtDataSummary *out);
/* TRUE when a backbone is installed (its file found) or the catalogue can download one. */
gboolean    bt_backbones_any_available (void);
/* TRUE when the recommendation may choose the project's preset: it has never been trained (no
 * models/, no runs/ entries) and its preset, input size and colour are still those of a new
 * project (Small CNN, 64×64, RGB), so nobody has chosen yet (the Shapes sample, set to 32×32
 * grey, keeps its Small CNN). */
gboolean    bt_project_takes_recommendation (BtProject *project);

G_END_DECLS
