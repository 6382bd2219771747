/* bt-model-files.h: the saved models of a project (the .bottega-model files in models/), listed and loaded
 * off the main thread, and shared safely between the page and its worker jobs. */
#pragma once

#include <gio/gio.h>

#include "engine/bt-engine.h"
#include "dataset/bt-dataset.h"
#include "training/bt-backbones.h"

G_BEGIN_DECLS

/* Lists the project's model files, newest first (GPtrArray of char* paths). */
void       bt_model_files_list_async  (BtProject *project, GCancellable *cancellable,
                                       GAsyncReadyCallback callback, gpointer user_data);
GPtrArray *bt_model_files_list_finish (GAsyncResult *result, GError **error);
/* Tests: called on the listing's worker with the paths it found, before it returns them
 * (to hold a listing back and finish listings in a chosen order). NULL removes it. */
typedef void (*BtModelFilesListHook) (GPtrArray *paths, gpointer user_data);
void       bt_model_files_set_list_hook (BtModelFilesListHook hook, gpointer user_data);

/* A loaded model with a lock: a net runs one forward pass at a time (its jobs run on the
 * model runner, one after another, so the lock is only a guard). */
typedef struct _BtSharedModel BtSharedModel;
BtSharedModel *bt_shared_model_ref    (BtSharedModel *m);
void           bt_shared_model_unref  (BtSharedModel *m);
BtModel       *bt_shared_model_lock   (BtSharedModel *m);   /* returns the model, locked */
void           bt_shared_model_unlock (BtSharedModel *m);
const char    *bt_shared_model_get_path (BtSharedModel *m);
/* class names (NULL-terminated, owned by the model; immutable, no lock needed) */
const char * const *bt_shared_model_get_class_names (BtSharedModel *m);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BtSharedModel, bt_shared_model_unref)
/* TRUE when the model refers to a backbone that is not on this computer (checked by name and
 * sha256 when it was loaded); *info: that backbone in the catalogue, NULL when unknown. */
gboolean       bt_shared_model_needs_backbone (BtSharedModel *m, const BtBackboneInfo **info);

void           bt_model_files_load_async  (const char *path, GCancellable *cancellable,
                                           GAsyncReadyCallback callback, gpointer user_data);
BtSharedModel *bt_model_files_load_finish (GAsyncResult *result, GError **error);

/* "2026-11-25 18:30 · small-cnn" style label for a model file path (g_free). */
char          *bt_model_files_display_name (const char *path);

/* What the model list shows of one saved model. Read on the listing's worker from the
 * model's own metadata (cached per path, size and time) and its sidecar models/<file>.ini
 * (the name the person gave it, pinned). */
typedef struct {
  char     *path;
  char     *name;          /* the given name, or "<preset> · <accuracy> · <date>" */
  char     *custom_name;   /* NULL unless renamed */
  char     *preset;        /* preset title, untranslated; NULL when unknown */
  double    accuracy;      /* validation accuracy (0–1) of the saved epoch; NAN when unknown */
  gint64    created;       /* Unix time the model was saved */
  char     *verdict;       /* the run's verdict from the metadata ("learned", "diverged", …), or NULL */
  gboolean  pinned;        /* the person chose it as the project's default */
  gboolean  data_changed;  /* labels.csv was written after the model was saved */
} BtModelInfo;
void       bt_model_info_free          (BtModelInfo *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BtModelInfo, bt_model_info_free)

/* The listing with each model's info (GPtrArray of BtModelInfo*, newest first). */
GPtrArray *bt_model_files_list_info_finish (GAsyncResult *result, GError **error);
/* The model Evaluate and Test open first: the pinned one, else the most accurate of the runs
 * that did not fail (verdict "diverged" or "did-not-learn"), else the newest; -1 for an empty
 * list. */
int        bt_model_files_pick_default (GPtrArray *infos);
/* The list's one-line label: "name · data changed since" when it is (g_free). */
char      *bt_model_info_label         (const BtModelInfo *info);

/* The sidecar's edits; small writes, atomic. name NULL or "" goes back to the default name.
 * Pinning one model unpins the others of its folder. */
gboolean   bt_model_files_rename       (const char *path, const char *name, GError **error);
gboolean   bt_model_files_set_pinned   (const char *path, gboolean pinned, GError **error);
/* Moves the model file and its sidecar to the trash (the file stays recoverable). */
gboolean   bt_model_files_delete       (const char *path, GError **error);

G_END_DECLS
