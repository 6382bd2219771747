/* bt-run-config.c: the settings a training run uses, copied from the project and written to
 * runs/<timestamp>/config.ini so that a resumed run continues with exactly the same ones. The
 * file format and the limits come from the dataset layer's settings table; this file adds what
 * only the engine knows (which presets, optimizers and schedules exist). */
#include "config.h"

#include <glib/gi18n-lib.h>

#include "training/bt-training-private.h"

#define GROUP "training"

GKeyFile *
bt_settings_to_key_file (const BtProjectSettings *s)
{
  GKeyFile *kf = g_key_file_new ();
  bt_project_settings_to_key_file (s, kf, GROUP);
  return kf;
}

gboolean
bt_settings_from_key_file (BtProjectSettings *s, GKeyFile *kf, GError **error)
{
  g_autoptr(GError) local = NULL;

  bt_project_settings_init (s);
  if (!bt_project_settings_from_key_file (s, kf, GROUP, TRUE, &local))
    {
      g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID, _("The run’s config.ini: %s"),
                   local->message);
      bt_project_settings_clear (s);
      return FALSE;
    }
  if (!bt_settings_validate (s, error))
    {
      bt_project_settings_clear (s);
      return FALSE;
    }
  return TRUE;
}

gboolean
bt_settings_validate (const BtProjectSettings *s, GError **error)
{
  g_autoptr(GError) local = NULL;
  BtPreset preset;

  if (!bt_project_settings_validate (s, &local))
    {
      g_set_error_literal (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID, local->message);
      return FALSE;
    }
  if (!bt_preset_from_id (s->preset, &preset))
    {
      g_set_error_literal (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID,
                           _("Unknown preset; use mlp, small-cnn, deeper-cnn, mini-resnet or transfer"));
      return FALSE;
    }
  return TRUE;
}
