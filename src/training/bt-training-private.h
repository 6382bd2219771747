/* bt-training-private.h: internals shared by the training layer's own files
 * (evaluation accumulator, image → input tensor, run configuration files). */
#pragma once

#include "training/bt-training.h"

G_BEGIN_DECLS

/* Evaluation built one image at a time, then finished (metrics, sorted mistakes). */
BtEvaluation *bt_evaluation_new    (int n_classes, const char * const *class_names);
void          bt_evaluation_add    (BtEvaluation *ev, const float *probs, int true_class,
                                    const char *path, guint item_index);
/* The same from the net's logits: probabilities at the calibration's temperature, the
 * uncalibrated confidence kept for ece_before, and the image's unknown score (bt_unknown_score). */
void          bt_evaluation_add_logits (BtEvaluation *ev, const BtCalibration *calib, const float *logits,
                                        double unknown_score, int true_class, const char *path,
                                        guint item_index);
void          bt_evaluation_finish (BtEvaluation *ev);

/* Decodes, converts and resizes one image file with a model's recipe into CHW floats
 * (prep->channels × prep->height × prep->width). */
gboolean bt_prepare_image_file (const BtPreprocess *prep, const char *path, float *out,
                                GCancellable *cancellable, GError **error);
gboolean bt_prepare_image      (const BtPreprocess *prep, const BtImage *image, float *out,
                                GError **error);
/* A copy of img with 1 (ITU-R 601 luma) or 3 channels. */
BtImage *bt_image_convert_channels (const BtImage *img, int channels);

/* Settings of a run, as written to runs/<timestamp>/config.ini (the table's flat keys in
 * [training]). Reading fills s from defaults and the file, or clears it and fails. */
GKeyFile *bt_settings_to_key_file (const BtProjectSettings *s);
gboolean bt_settings_from_key_file (BtProjectSettings *s, GKeyFile *kf, GError **error);
/* Checks a project's settings before a run: the table's limits (bt_project_settings_validate)
 * plus what only the engine knows; the message says which setting and why. */
gboolean bt_settings_validate (const BtProjectSettings *s, GError **error);

/* What a worker may read of a project's items, taken on the project's thread: by item index,
 * paths (NULL: excluded or missing), content hashes and train-split membership. */
typedef struct {
  char    **paths;
  guint64  *hashes;
  gboolean *is_train;
  guint     n;
  char     *project_dir;
} BtItemSnapshot;
void     bt_item_snapshot_init  (BtItemSnapshot *snap, BtProject *project);
void     bt_item_snapshot_clear (BtItemSnapshot *snap);

/* Test seam: called on the worker right after each epoch's checkpoint is on disk, before
 * anything else (a test can kill the process there: a hard kill at a known point). */
typedef void (*BtTrainerCheckpointHook) (int epoch, gpointer user_data);
void     bt_trainer_set_checkpoint_hook (BtTrainer *self, BtTrainerCheckpointHook hook, gpointer user_data);

G_END_DECLS
