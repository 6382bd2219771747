/* bt-image-list.h: the image files under a folder (for testing a folder, in the app and the
 * CLI), and the one CSV layout of prediction results both write. */
#pragma once

#include "dataset/bt-dataset.h"

G_BEGIN_DECLS

/* Every file under folder (sub-folders too) whose name says it is an image, as the import's
 * walk finds them (natural order: "cat_2" before "cat_10"; hidden entries and link loops left
 * out), at most max (0: no limit). Call from a worker: it walks the disk. NULL + error when
 * folder cannot be read. */
GPtrArray *bt_image_list_walk (const char *folder, guint max, GCancellable *cancellable, GError **error);
/* Natural order of two UTF-8 names: digit runs compare as numbers. */
int        bt_image_list_natural_compare (const char *a, const char *b);

/* Prediction CSV (RFC 4180, CRLF):
 * "path,top_class,confidence,unknown,unknown_score,below_threshold,<class 1>,…" then one row per
 * image; probs NULL writes an empty result (an image that could not be classified). unknown is
 * "yes" for "not one of the classes", else "no"; both unknown columns are empty when
 * unknown_score is NAN (a model without a score). below_threshold is "yes" when top_class's
 * probability is under the threshold saved for it in the model (the answer is not accepted). */
void       bt_predictions_csv_header (GString *out, const char * const *class_names);
void       bt_predictions_csv_row    (GString *out, const char *path_utf8, const float *probs,
                                      guint n_classes, const char * const *class_names);
void       bt_predictions_csv_row_scored (GString *out, const char *path_utf8, const float *probs,
                                          guint n_classes, const char * const *class_names,
                                          double unknown_score, gboolean unknown,
                                          gboolean below_threshold);

G_END_DECLS
