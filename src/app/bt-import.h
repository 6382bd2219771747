/* bt-import.h: turns what was dropped (files and folders) into import jobs for the data
 * layer's scanner; the thin drop handlers of the Data page call this off the main thread. */
#pragma once

#include <gio/gio.h>

#include "dataset/bt-dataset.h"

G_BEGIN_DECLS

typedef struct {
  BtScanMode  mode;
  char       *class_name;  /* only for BT_SCAN_FILES_INTO_CLASS */
  GPtrArray  *paths;       /* char*, absolute */
} BtImportJob;

typedef struct {
  GPtrArray *jobs;          /* BtImportJob* */
  guint      n_classes;     /* classes the jobs will create or fill */
  guint      n_images;      /* files with an image suffix found (a guess before scanning) */
  guint      n_other;       /* other regular files found */
  gboolean   needs_confirmation;  /* a folder of sub-folders was dropped */
  GPtrArray *ignored;       /* char*: dropped entries that are not folders or regular files */
} BtImportPlan;

void          bt_import_plan_free (BtImportPlan *plan);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BtImportPlan, bt_import_plan_free)

/* Looks at the dropped paths (walks folders: call from a worker). With target_class set,
 * everything goes into that class. Otherwise a folder of images becomes one class named
 * after the folder, a folder holding only sub-folders becomes one class per sub-folder
 * (needs_confirmation), and loose image files go into a class named after their parent
 * folder. Returns NULL with an error when nothing usable was dropped. */
BtImportPlan *bt_import_plan_build  (const char * const *paths,
                                     const char         *target_class,
                                     GCancellable       *cancellable,
                                     GError            **error);

void          bt_import_plan_async  (const char * const *paths,
                                     const char         *target_class,
                                     GCancellable       *cancellable,
                                     GAsyncReadyCallback callback,
                                     gpointer            user_data);
BtImportPlan *bt_import_plan_finish (GAsyncResult       *result,
                                     GError            **error);

/* Local paths of the files in a list of GFile (non-local ones are counted in *n_remote). */
GStrv         bt_import_paths_from_files (GSList *files, guint *n_remote);

G_END_DECLS
