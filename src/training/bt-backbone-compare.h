/* bt-backbone-compare.h: "Compare backbones": every installed catalogue backbone embeds the
 * same capped sample of each class (the embeddings go to the project's cache), a linear head is
 * cross-validated on them (the stratified folds of bt_folds_assign), and the rows say accuracy
 * ± spread, ms per image and size, with the best trade-off marked. No GTK. */
#pragma once

#include "training/bt-backbones.h"
#include "training/bt-transfer.h"

G_BEGIN_DECLS

typedef struct {
  const BtBackboneInfo *info;   /* the catalogue entry */
  char    *path;                /* the installed file */
  int      k;                   /* folds */
  guint    n_images;            /* images cross-validated */
  double   mean_acc, std_acc;   /* over the folds, in [0, 1] */
  double   ms_per_image;        /* embedding, on this machine */
  guint64  size;                /* file size, bytes */
  gboolean best;                /* the best trade-off */
} BtBackboneScore;
void bt_backbone_score_free (BtBackboneScore *s);

/* Default cap of images per class, and folds. */
#define BT_COMPARE_PER_CLASS 40
#define BT_COMPARE_FOLDS 5

typedef void (*BtCompareProgress) (const BtBackboneInfo *info, guint index, guint n_backbones,
                                   guint done, guint total, gpointer user_data);
/* Blocking (a worker thread, or the CLI). The train and validation images only (the test
 * split stays out); at most per_class of each class, chosen by content hash so the same data
 * give the same sample. Rows in catalogue order; error when no backbone is installed or a
 * class has fewer than 3 images. progress is called on this thread. */
GPtrArray *bt_backbones_compare (BtProject *project, guint per_class, int k, BtCompareProgress progress,
                                 gpointer user_data, GCancellable *cancellable, GError **error);
/* The best trade-off among rows: the fastest of those whose accuracy is within one spread
 * (at least 2 points) of the most accurate. Sets ->best on it; returns its index or -1. */
int        bt_backbones_compare_mark_best (GPtrArray *rows);

G_END_DECLS
