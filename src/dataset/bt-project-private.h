/* bt-project-private.h: BtProject's fields and the helpers shared by the files it is split
 * over, as GNOME Text Editor splits a window: bt-project.c (the object, classes, items, saving
 * and loading), bt-project-csv.c (importing a labels CSV), bt-project-import.c (applying scans
 * and the streaming import). Settings are in bt-settings.c. */
#pragma once

#include "dataset/bt-dataset-private.h"

G_BEGIN_DECLS

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

/* Paths relative to the project folder made absolute (canonical). */
char        *_bt_project_to_absolute       (BtProject *self, const char *path);

/* Saving: every change is committed; the writer thread writes it (bt-saver.c). bulk: an
 * import's chunk, handed over at most once a second. counts: recount the classes' items. */
void         _bt_project_request_save      (BtProject *self, gboolean ini, gboolean labels, gboolean bulk);
gboolean     _bt_project_commit_ex         (BtProject *self, gboolean ini, gboolean labels, gboolean counts,
                                            gboolean bulk);
gboolean     _bt_project_commit_full       (BtProject *self, gboolean ini, gboolean labels, gboolean counts);
gboolean     _bt_project_commit            (BtProject *self, gboolean ini, gboolean labels, GError **error);

/* Classes */
gboolean     _bt_project_check_class_name  (const char *name, GError **error);
BtClassInfo *_bt_project_ensure_class      (BtProject *self, const char *name);
/* The class an import's item named `name` belongs to now (renames during imports followed). */
const char  *_bt_project_import_class_name (BtProject *self, const char *name);
/* Every class that got one of `added` and has no validation image gets one. */
gboolean     _bt_project_ensure_val_added  (BtProject *self, GPtrArray *added);

/* labels.csv and imported CSVs: which column holds what (-1: none). */
typedef struct {
  int col_path, col_class, col_split, col_excluded, col_hash, col_width, col_height;
} BtLabelsColumns;
gboolean     _bt_project_labels_header     (char **row, BtLabelsColumns *c);
const char  *_bt_project_labels_field      (char **row, int col);

G_END_DECLS
