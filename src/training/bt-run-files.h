/* bt-run-files.h: the one reader and writer of a project's training files — runs/<id>/
 * (config.ini, metrics.csv, verdict.ini, checkpoints, the "finished" mark) and models/. */
#pragma once

#include "training/bt-training.h"
#include "training/bt-verdict.h"

G_BEGIN_DECLS

/* ---- A run folder ---- */
/* A new runs/<YYYYMMDD-HHMMSS>[-N] folder. */
char      *bt_run_files_new_run_dir        (const char *project_dir, GError **error);
char      *bt_run_files_checkpoint_path    (const char *run_dir, int epoch);
/* frozen-head.bottega-model: when the Automatic recipe kept fine-tuning, the frozen head it would
 * have saved otherwise (for comparison; not in models/, never the project's model). */
char      *bt_run_files_frozen_head_path   (const char *run_dir);
/* The epoch of the newest checkpoint-NNNN.state, or 0. */
int        bt_run_files_last_checkpoint    (const char *run_dir);
/* A finished run is no longer offered for resume. */
gboolean   bt_run_files_mark_finished      (const char *run_dir, GError **error);
gboolean   bt_run_files_is_finished        (const char *run_dir);
/* models/<run id>-<preset>.bottega-model (models/ is created). */
char      *bt_run_files_model_path         (const char *project_dir, const char *run_dir,
                                            const char *preset, GError **error);

/* config.ini: the settings (bt-run-config.c's keys), the class names and the split sizes the
 * run started with. classes may be NULL on read. */
gboolean   bt_run_files_write_config       (const char *run_dir, const BtProjectSettings *s,
                                            const char * const *classes, const int n_split[BT_N_SPLITS],
                                            GError **error);
gboolean   bt_run_files_read_config        (const char *run_dir, BtProjectSettings *s, char ***classes,
                                            int n_split[BT_N_SPLITS], GError **error);

/* metrics.csv: one BtEpochInfo per row (epoch, losses, accuracies, lr, images/s, elapsed,
 * best epoch, overfitting). Read returns the rows in file order (NULL when unreadable). */
char      *bt_run_files_metrics_to_csv     (GArray *epochs);
gboolean   bt_run_files_write_metrics      (const char *run_dir, GArray *epochs, GError **error);
GArray    *bt_run_files_read_metrics       (const char *run_dir);

/* verdict.ini: the run's verdict and its model's file name. */
gboolean   bt_run_files_write_verdict      (const char *run_dir, const BtVerdict *v, const char *model_path,
                                            GError **error);
gboolean   bt_run_files_read_verdict       (const char *run_dir, BtVerdict *v, char **model_name);

/* ---- The runs of a project ---- */
typedef struct {
  char      *dir;
  char      *id;               /* the folder's name */
  char      *preset;           /* from config.ini, or NULL */
  GArray    *epochs;           /* BtEpochInfo from metrics.csv */
  gboolean   has_verdict;
  BtVerdict  verdict;
  int        last_checkpoint;  /* 0: none */
  gboolean   finished;
} BtRunInfo;
void       bt_run_info_free                (BtRunInfo *run);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BtRunInfo, bt_run_info_free)
/* NULL when the folder has no readable metrics.csv. */
BtRunInfo *bt_run_info_load                (const char *run_dir);
/* Every run with metrics, oldest first (the ids are timestamps). Blocking: call from a worker. */
GPtrArray *bt_run_files_list_runs          (const char *project_dir, GCancellable *cancellable);
/* Resolves --resume [RUN]: `run` is a run id, a runs/ folder or NULL for the newest run; the
 * run must have a checkpoint and not be finished, else a message that names it. */
char      *bt_run_files_find_resumable     (const char *project_dir, const char *run, GError **error);
/* A run that a crash or kill interrupted: newest run, not finished, with a checkpoint; NULL. */
char      *bt_run_files_find_interrupted   (const char *project_dir);

/* ---- models/ ---- */
/* The *.bottega-model paths, newest first, but models of failed runs (diverged, did not learn)
 * after every other one: the first is the project's default model. */
GPtrArray *bt_run_files_list_models        (const char *project_dir);
char      *bt_run_files_default_model      (const char *project_dir);
/* "20261125-183000-small-cnn" for models/20261125-183000-small-cnn.bottega-model (g_free). */
char      *bt_run_files_model_display_name (const char *path);

G_END_DECLS
