/* bt-run-config.c: the settings a training run uses, copied from the project and written to
 * runs/<timestamp>/config.ini so that a resumed run continues with exactly the same ones. */
#include "config.h"

#include <glib/gi18n-lib.h>
#include <math.h>
#include <string.h>

#include "training/bt-training-private.h"

#define GROUP "training"

void
bt_settings_copy (BtProjectSettings *dest, const BtProjectSettings *src)
{
  *dest = *src;
  dest->preset = g_strdup (src->preset);
  dest->optimizer = g_strdup (src->optimizer);
  dest->schedule = g_strdup (src->schedule);
  dest->early_stopping_monitor = g_strdup (src->early_stopping_monitor);
}

void
bt_settings_clear (BtProjectSettings *s)
{
  g_clear_pointer (&s->preset, g_free);
  g_clear_pointer (&s->optimizer, g_free);
  g_clear_pointer (&s->schedule, g_free);
  g_clear_pointer (&s->early_stopping_monitor, g_free);
}

static void
set_double (GKeyFile *kf, const char *key, double v)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE];

  /* full precision, locale-independent: a resumed run must read back the same bits */
  g_key_file_set_string (kf, GROUP, key, g_ascii_dtostr (buf, sizeof buf, v));
}

GKeyFile *
bt_settings_to_key_file (const BtProjectSettings *s)
{
  GKeyFile *kf = g_key_file_new ();
  char seed[32];

  g_key_file_set_string (kf, GROUP, "preset", s->preset ? s->preset : "");
  g_key_file_set_integer (kf, GROUP, "width", s->width);
  g_key_file_set_integer (kf, GROUP, "height", s->height);
  g_key_file_set_integer (kf, GROUP, "channels", s->channels);
  g_key_file_set_string (kf, GROUP, "resize",
                         bt_resize_mode_to_string (bt_resize_mode_from_ds (s->resize)));
  g_key_file_set_integer (kf, GROUP, "epochs", s->epochs);
  g_key_file_set_integer (kf, GROUP, "batch-size", s->batch_size);
  g_key_file_set_string (kf, GROUP, "optimizer", s->optimizer ? s->optimizer : "");
  set_double (kf, "learning-rate", s->learning_rate);
  g_key_file_set_string (kf, GROUP, "schedule", s->schedule ? s->schedule : "constant");
  set_double (kf, "weight-decay", s->weight_decay);
  set_double (kf, "dropout", s->dropout);
  g_key_file_set_boolean (kf, GROUP, "augment-flip", s->augment_flip);
  g_key_file_set_boolean (kf, GROUP, "augment-crop", s->augment_crop);
  g_key_file_set_boolean (kf, GROUP, "augment-rotate", s->augment_rotate);
  g_key_file_set_boolean (kf, GROUP, "augment-color", s->augment_color);
  g_key_file_set_boolean (kf, GROUP, "class-weights", s->class_weights);
  set_double (kf, "label-smoothing", s->label_smoothing);
  g_key_file_set_integer (kf, GROUP, "early-stopping-patience", s->early_stopping_patience);
  g_key_file_set_string (kf, GROUP, "early-stopping-monitor",
                         s->early_stopping_monitor ? s->early_stopping_monitor : "val_loss");
  set_double (kf, "early-stopping-min-delta", s->early_stopping_min_delta);
  g_key_file_set_boolean (kf, GROUP, "restore-best", s->restore_best);
  g_key_file_set_integer (kf, GROUP, "split-train", s->split_train);
  g_key_file_set_integer (kf, GROUP, "split-val", s->split_val);
  g_key_file_set_integer (kf, GROUP, "split-test", s->split_test);
  g_snprintf (seed, sizeof seed, "%" G_GUINT64_FORMAT, s->seed);
  g_key_file_set_string (kf, GROUP, "seed", seed);
  g_key_file_set_integer (kf, GROUP, "transfer-hidden", s->transfer_hidden);
  g_key_file_set_boolean (kf, GROUP, "transfer-whole-network", s->transfer_whole_network);
  return kf;
}

static gboolean
get_int (GKeyFile *kf, const char *key, int *out, GError **error)
{
  g_autoptr(GError) local = NULL;
  int v = g_key_file_get_integer (kf, GROUP, key, &local);

  if (local != NULL)
    {
      g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID,
                   _("The run’s config.ini has no valid “%s”"), key);
      return FALSE;
    }
  *out = v;
  return TRUE;
}

static gboolean
get_double (GKeyFile *kf, const char *key, double *out, GError **error)
{
  g_autofree char *s = g_key_file_get_string (kf, GROUP, key, NULL);
  char *end = NULL;

  if (s != NULL)
    *out = g_ascii_strtod (s, &end);
  if (s == NULL || end == s || *end != '\0')
    {
      g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID,
                   _("The run’s config.ini has no valid “%s”"), key);
      return FALSE;
    }
  return TRUE;
}

static gboolean
get_bool (GKeyFile *kf, const char *key, gboolean *out, GError **error)
{
  g_autoptr(GError) local = NULL;
  gboolean v = g_key_file_get_boolean (kf, GROUP, key, &local);

  if (local != NULL)
    {
      g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID,
                   _("The run’s config.ini has no valid “%s”"), key);
      return FALSE;
    }
  *out = v;
  return TRUE;
}

gboolean
bt_settings_from_key_file (BtProjectSettings *s, GKeyFile *kf, GError **error)
{
  g_autofree char *resize = NULL;
  g_autofree char *seed = NULL;
  BtResizeMode mode;
  char *end = NULL;

  memset (s, 0, sizeof *s);
  s->preset = g_key_file_get_string (kf, GROUP, "preset", NULL);
  s->optimizer = g_key_file_get_string (kf, GROUP, "optimizer", NULL);
  s->schedule = g_key_file_get_string (kf, GROUP, "schedule", NULL);
  s->early_stopping_monitor = g_key_file_get_string (kf, GROUP, "early-stopping-monitor", NULL);
  resize = g_key_file_get_string (kf, GROUP, "resize", NULL);
  seed = g_key_file_get_string (kf, GROUP, "seed", NULL);

  if (s->preset == NULL || s->optimizer == NULL || s->schedule == NULL ||
      s->early_stopping_monitor == NULL || resize == NULL || seed == NULL ||
      !bt_resize_mode_from_string (resize, &mode))
    {
      g_set_error_literal (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID,
                           _("The run’s config.ini is incomplete"));
      bt_settings_clear (s);
      return FALSE;
    }
  s->resize = bt_resize_mode_to_ds (mode);
  s->seed = g_ascii_strtoull (seed, &end, 10);
  if (end == seed || *end != '\0')
    {
      g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID,
                   _("The run’s config.ini has no valid “%s”"), "seed");
      bt_settings_clear (s);
      return FALSE;
    }

  if (!get_int (kf, "width", &s->width, error) ||
      !get_int (kf, "height", &s->height, error) ||
      !get_int (kf, "channels", &s->channels, error) ||
      !get_int (kf, "epochs", &s->epochs, error) ||
      !get_int (kf, "batch-size", &s->batch_size, error) ||
      !get_double (kf, "learning-rate", &s->learning_rate, error) ||
      !get_double (kf, "weight-decay", &s->weight_decay, error) ||
      !get_double (kf, "dropout", &s->dropout, error) ||
      !get_bool (kf, "augment-flip", &s->augment_flip, error) ||
      !get_bool (kf, "augment-crop", &s->augment_crop, error) ||
      !get_bool (kf, "augment-rotate", &s->augment_rotate, error) ||
      !get_bool (kf, "augment-color", &s->augment_color, error) ||
      !get_bool (kf, "class-weights", &s->class_weights, error) ||
      !get_double (kf, "label-smoothing", &s->label_smoothing, error) ||
      !get_int (kf, "early-stopping-patience", &s->early_stopping_patience, error) ||
      !get_double (kf, "early-stopping-min-delta", &s->early_stopping_min_delta, error) ||
      !get_bool (kf, "restore-best", &s->restore_best, error) ||
      !get_int (kf, "split-train", &s->split_train, error) ||
      !get_int (kf, "split-val", &s->split_val, error) ||
      !get_int (kf, "split-test", &s->split_test, error) ||
      /* runs from before the transfer options have neither key */
      (g_key_file_has_key (kf, GROUP, "transfer-hidden", NULL) &&
       !get_int (kf, "transfer-hidden", &s->transfer_hidden, error)) ||
      (g_key_file_has_key (kf, GROUP, "transfer-whole-network", NULL) &&
       !get_bool (kf, "transfer-whole-network", &s->transfer_whole_network, error)) ||
      !bt_settings_validate (s, error))
    {
      bt_settings_clear (s);
      return FALSE;
    }
  return TRUE;
}

static gboolean
invalid (GError **error, const char *message)
{
  g_set_error_literal (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID, message);
  return FALSE;
}

gboolean
bt_settings_validate (const BtProjectSettings *s, GError **error)
{
  BtPreset preset;
  BtOptimizerKind opt;
  BtScheduleKind sched;

  if (s->preset == NULL || !bt_preset_from_id (s->preset, &preset))
    return invalid (error, _("Unknown preset; use mlp, small-cnn, deeper-cnn, mini-resnet or transfer"));
  if (s->width < 4 || s->height < 4 || s->width > 1024 || s->height > 1024)
    return invalid (error, _("The input size must be between 4 and 1024 pixels"));
  if (s->channels != 1 && s->channels != 3)
    return invalid (error, _("The colour mode must be grey (1 channel) or RGB (3 channels)"));
  if (s->epochs < 1 || s->epochs > 100000)
    return invalid (error, _("The number of epochs must be between 1 and 100000"));
  if (s->batch_size < 1 || s->batch_size > 4096)
    return invalid (error, _("The batch size must be between 1 and 4096"));
  if (s->optimizer == NULL || !bt_optimizer_kind_from_id (s->optimizer, &opt))
    return invalid (error, _("Unknown optimizer; use sgd, adam or adamw"));
  /* a huge but finite rate is allowed: it diverges, and divergence has its own clear message */
  if (!isfinite (s->learning_rate) || s->learning_rate <= 0)
    return invalid (error, _("The learning rate must be a positive number"));
  if (s->schedule == NULL ||
      (g_strcmp0 (s->schedule, "plateau") != 0 && !bt_schedule_kind_from_id (s->schedule, &sched)))
    return invalid (error, _("Unknown learning-rate schedule; use constant, step, cosine or plateau"));
  if (!isfinite (s->weight_decay) || s->weight_decay < 0 || s->weight_decay > 1)
    return invalid (error, _("The weight decay must be between 0 and 1"));
  if (!isfinite (s->dropout) || s->dropout >= 1)
    return invalid (error, _("The dropout must be below 1 (or negative for the preset’s default)"));
  if (!isfinite (s->label_smoothing) || s->label_smoothing < 0 || s->label_smoothing >= 1)
    return invalid (error, _("The label smoothing must be at least 0 and below 1"));
  if (s->early_stopping_patience < 0)
    return invalid (error, _("The early-stopping patience cannot be negative"));
  if (g_strcmp0 (s->early_stopping_monitor, "val_loss") != 0 &&
      g_strcmp0 (s->early_stopping_monitor, "val_acc") != 0)
    return invalid (error, _("Early stopping can monitor val_loss or val_acc"));
  if (!isfinite (s->early_stopping_min_delta) || s->early_stopping_min_delta < 0)
    return invalid (error, _("The early-stopping minimum change cannot be negative"));
  if (s->transfer_hidden < 0 || s->transfer_hidden > 4096)
    return invalid (error, _("The transfer head’s hidden layer must have 0 to 4096 units"));
  return TRUE;
}
