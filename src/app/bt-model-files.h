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

G_END_DECLS
