/* bt-settings.c: the table of a project's training settings, and everything generated from it:
 * defaults, copy/clear, limits, key-file reading and writing. */
#include "config.h"

#include <math.h>
#include <stddef.h>
#include <string.h>
#include <glib/gi18n-lib.h>

#include "dataset/bt-dataset.h"

static const char * const colour_ids[] = { "grayscale", "rgb", NULL };
static const int colour_values[] = { 1, 3 };
static const char * const resize_ids[] = { "squash", "center-crop", "pad", NULL };
static const int resize_values[] = { BT_DS_RESIZE_SQUASH, BT_DS_RESIZE_CENTER_CROP, BT_DS_RESIZE_PAD };
static const char * const optimizer_ids[] = { "sgd", "adam", "adamw", NULL };
static const char * const schedule_ids[] = { "constant", "step", "cosine", "plateau", NULL };
static const char * const monitor_ids[] = { "val_loss", "val_acc", NULL };
static const char * const recipe_ids[] = { "auto", "manual", NULL };

#define F(field) offsetof (BtProjectSettings, field)
#define INT(g, k, rk, label, field, def, lo, hi, step, page, fl) \
  { g, k, rk, NULL, label, BT_SETTING_INT, F (field), def, lo, hi, step, page, NULL, NULL, NULL, fl }
#define DBL(g, k, rk, label, field, def, lo, hi, step, page, fl) \
  { g, k, rk, NULL, label, BT_SETTING_DOUBLE, F (field), def, lo, hi, step, page, NULL, NULL, NULL, fl }
#define BOOL(g, k, rk, label, field, def, fl) \
  { g, k, rk, NULL, label, BT_SETTING_BOOL, F (field), def, 0, 1, 1, 1, NULL, NULL, NULL, fl }
#define CHOICE(g, k, rk, label, field, def, ids, fl) \
  { g, k, rk, NULL, label, BT_SETTING_CHOICE, F (field), 0, 0, 0, 0, 0, def, ids, NULL, fl }

static const BtSettingInfo table[] = {
  { "input", "preset", "preset", NULL, N_("Preset"), BT_SETTING_STRING, F (preset),
    0, 0, 0, 0, 0, "small-cnn", NULL, NULL, 0 },
  INT ("input", "width", "width", N_("Input width"), width, 64, 4, 1024, 4, 32, 0),
  INT ("input", "height", "height", N_("Input height"), height, 64, 4, 1024, 4, 32, 0),
  { "input", "color-mode", "color-mode", "channels", N_("Colour mode"), BT_SETTING_ENUM, F (channels),
    3, 1, 3, 0, 0, "rgb", colour_ids, colour_values, 0 },
  { "input", "resize", "resize", NULL, N_("Resize mode"), BT_SETTING_ENUM, F (resize),
    BT_DS_RESIZE_SQUASH, BT_DS_RESIZE_SQUASH, BT_DS_RESIZE_PAD, 0, 0, "squash", resize_ids, resize_values, 0 },
  INT ("training", "epochs", "epochs", N_("Epochs"), epochs, 20, 1, 100000, 1, 10, BT_SETTING_IN_JSON),
  INT ("training", "batch-size", "batch-size", N_("Batch size"), batch_size, 32, 1, 4096, 1, 10, BT_SETTING_IN_JSON),
  CHOICE ("training", "optimizer", "optimizer", N_("Optimizer"), optimizer, "adam", optimizer_ids, BT_SETTING_IN_JSON),
  DBL ("training", "learning-rate", "learning-rate", N_("Learning rate"), learning_rate,
       0.001, 1e-6, 10, 0.0001, 0.001, BT_SETTING_IN_JSON),
  CHOICE ("training", "schedule", "schedule", N_("Learning-rate schedule"), schedule, "constant", schedule_ids,
          BT_SETTING_IN_JSON),
  DBL ("training", "weight-decay", "weight-decay", N_("Weight decay"), weight_decay, 0, 0, 1, 0.0001, 0.001,
       BT_SETTING_IN_JSON),
  /* negative: the preset's own dropout */
  DBL ("training", "dropout", "dropout", N_("Dropout"), dropout, -1, -1, 0.99, 0.05, 0.5, 0),
  BOOL ("training", "class-weights", "class-weights", N_("Class weights"), class_weights, FALSE, BT_SETTING_IN_JSON),
  DBL ("training", "label-smoothing", "label-smoothing", N_("Label smoothing"), label_smoothing, 0, 0, 0.99,
       0.01, 0.1, BT_SETTING_IN_JSON),
  INT ("training", "early-stopping-patience", "early-stopping-patience", N_("Early-stopping patience"),
       early_stopping_patience, 0, 0, 100000, 1, 10, BT_SETTING_IN_JSON),
  CHOICE ("training", "early-stopping-monitor", "early-stopping-monitor", N_("Early-stopping measure"),
          early_stopping_monitor, "val_loss", monitor_ids, BT_SETTING_IN_JSON),
  DBL ("training", "early-stopping-min-delta", "early-stopping-min-delta", N_("Early-stopping minimum change"),
       early_stopping_min_delta, 0, 0, 1e6, 0.001, 0.01, BT_SETTING_IN_JSON),
  BOOL ("training", "restore-best", "restore-best", N_("Restore the best epoch"), restore_best, TRUE,
        BT_SETTING_IN_JSON),
  INT ("transfer", "hidden", "transfer-hidden", N_("Hidden units of the transfer head"), transfer_hidden,
       0, 0, 4096, 16, 64, BT_SETTING_RUN_OPTIONAL),
  BOOL ("transfer", "whole-network", "transfer-whole-network", N_("Whole network in the model file"),
        transfer_whole_network, FALSE, BT_SETTING_RUN_OPTIONAL),
  /* 0 = the frozen backbone (the head alone on cached embeddings); N > 0 trains the top N blocks
   * after the head (bt-finetune.c). 17 = every block of MobileNet V2. */
  INT ("transfer", "finetune-blocks", "finetune-blocks", N_("Fine-tune the last N blocks"),
       transfer_finetune_blocks, 0, 0, 17, 1, 1, BT_SETTING_RUN_OPTIONAL),
  /* auto: a transfer run first searches the rows it may choose (bt-recipe.h) on the training split */
  CHOICE ("training", "recipe", "recipe", N_("Recipe"), recipe, "auto", recipe_ids, BT_SETTING_RUN_OPTIONAL),
  BOOL ("training", "test-time-augmentation", "test-time-augmentation", N_("Test-time augmentation"), tta, FALSE,
        BT_SETTING_RUN_OPTIONAL),
  BOOL ("augment", "flip", "augment-flip", N_("Flip augmentation"), augment_flip, FALSE, BT_SETTING_IN_JSON),
  BOOL ("augment", "crop", "augment-crop", N_("Crop augmentation"), augment_crop, FALSE, BT_SETTING_IN_JSON),
  BOOL ("augment", "rotate", "augment-rotate", N_("Rotate augmentation"), augment_rotate, FALSE, BT_SETTING_IN_JSON),
  BOOL ("augment", "color", "augment-color", N_("Colour augmentation"), augment_color, FALSE, BT_SETTING_IN_JSON),
  INT ("split", "train", "split-train", N_("Training split"), split_train, 80, 1, 100, 5, 10, 0),
  INT ("split", "val", "split-val", N_("Validation split"), split_val, 10, 0, 100, 5, 10, 0),
  INT ("split", "test", "split-test", N_("Test split"), split_test, 10, 0, 100, 5, 10, 0),
  { "split", "seed", "seed", NULL, N_("Seed"), BT_SETTING_UINT64, F (seed),
    42, 0, (double) G_MAXUINT64, 1, 10, NULL, NULL, NULL, BT_SETTING_IN_JSON },
  /* "default": the catalogue's default (or the app's preferred file); older projects kept the
   * choice in <project>/backbone.ini, still read when this is "default" */
  { "transfer", "backbone", "transfer-backbone", NULL, N_("Backbone"), BT_SETTING_STRING, F (transfer_backbone),
    0, 0, 0, 0, 0, "default", NULL, NULL, BT_SETTING_RUN_OPTIONAL },
};

#undef F
#undef INT
#undef DBL
#undef BOOL
#undef CHOICE

const BtSettingInfo *
bt_settings_table (guint *n_rows)
{
  if (n_rows)
    *n_rows = G_N_ELEMENTS (table);
  return table;
}

const BtSettingInfo *
bt_settings_find (const char *key)
{
  g_return_val_if_fail (key != NULL, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (table); i++)
    if (g_str_equal (table[i].key, key) || g_str_equal (table[i].run_key, key))
      return &table[i];
  return NULL;
}

/* ---- Fields ---- */

#define FIELD(type, row, s) ((type *) ((char *) (s) + (row)->offset))

static gboolean
is_string (const BtSettingInfo *row)
{
  return row->type == BT_SETTING_STRING || row->type == BT_SETTING_CHOICE;
}

double
bt_setting_get_number (const BtSettingInfo *row, const BtProjectSettings *s)
{
  switch (row->type)
    {
    case BT_SETTING_INT:
    case BT_SETTING_ENUM:
      return *FIELD (const int, row, s);
    case BT_SETTING_UINT64:
      return (double) *FIELD (const guint64, row, s);
    case BT_SETTING_DOUBLE:
      return *FIELD (const double, row, s);
    case BT_SETTING_BOOL:
      return *FIELD (const gboolean, row, s) ? 1 : 0;
    case BT_SETTING_STRING:
    case BT_SETTING_CHOICE:
    default:
      g_return_val_if_reached (0);
    }
}

void
bt_setting_set_number (const BtSettingInfo *row, BtProjectSettings *s, double value)
{
  switch (row->type)
    {
    case BT_SETTING_INT:
    case BT_SETTING_ENUM:
      *FIELD (int, row, s) = (int) value;
      break;
    case BT_SETTING_UINT64:
      *FIELD (guint64, row, s) = value <= 0 ? 0 : (guint64) value;
      break;
    case BT_SETTING_DOUBLE:
      *FIELD (double, row, s) = value;
      break;
    case BT_SETTING_BOOL:
      *FIELD (gboolean, row, s) = value != 0;
      break;
    case BT_SETTING_STRING:
    case BT_SETTING_CHOICE:
    default:
      g_return_if_reached ();
    }
}

const char *
bt_setting_get_string (const BtSettingInfo *row, const BtProjectSettings *s)
{
  g_return_val_if_fail (is_string (row), NULL);
  return *FIELD (char * const, row, s);
}

static void
set_string (const BtSettingInfo *row, BtProjectSettings *s, const char *value)
{
  char **field = FIELD (char *, row, s);
  char *old = *field;
  *field = g_strdup (value);
  g_free (old);
}

/* ---- Defaults, copy, clear ---- */

void
bt_project_settings_init (BtProjectSettings *s)
{
  g_return_if_fail (s != NULL);
  memset (s, 0, sizeof *s);
  for (guint i = 0; i < G_N_ELEMENTS (table); i++)
    if (is_string (&table[i]))
      set_string (&table[i], s, table[i].def_id);
    else
      bt_setting_set_number (&table[i], s, table[i].def);
}

void
bt_project_settings_clear (BtProjectSettings *s)
{
  g_return_if_fail (s != NULL);
  for (guint i = 0; i < G_N_ELEMENTS (table); i++)
    if (is_string (&table[i]))
      g_clear_pointer (FIELD (char *, &table[i], s), g_free);
}

void
bt_project_settings_copy (BtProjectSettings *dest, const BtProjectSettings *src)
{
  g_return_if_fail (dest != NULL && src != NULL);
  BtProjectSettings tmp = *src;  /* src may be dest */
  for (guint i = 0; i < G_N_ELEMENTS (table); i++)
    if (is_string (&table[i]))
      *FIELD (char *, &table[i], &tmp) = g_strdup (bt_setting_get_string (&table[i], src));
  *dest = tmp;
}

gboolean
bt_project_settings_equal (const BtProjectSettings *a, const BtProjectSettings *b)
{
  g_return_val_if_fail (a != NULL && b != NULL, FALSE);
  for (guint i = 0; i < G_N_ELEMENTS (table); i++)
    {
      g_autofree char *x = bt_setting_to_string (&table[i], a);
      g_autofree char *y = bt_setting_to_string (&table[i], b);
      if (g_strcmp0 (x, y) != 0)
        return FALSE;
    }
  return TRUE;
}

/* ---- Limits ---- */

static char *
format_limit (const BtSettingInfo *row, double v)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE];
  if (row->type == BT_SETTING_DOUBLE)
    return g_strdup (g_ascii_formatd (buf, sizeof buf, "%g", v));
  return g_strdup_printf ("%.0f", v);
}

static gboolean
out_of_range (const BtSettingInfo *row, const char *got, GError **error)
{
  g_autofree char *lo = format_limit (row, row->min), *hi = format_limit (row, row->max);
  /* TRANSLATORS: "Batch size must be between 1 and 4096 (got 8000)" */
  g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_INVALID, _("%s must be between %s and %s (got %s)"),
               _(row->label), lo, hi, got);
  return FALSE;
}

static gboolean
not_one_of (const BtSettingInfo *row, const char *got, GError **error)
{
  g_autofree char *ids = g_strjoinv (", ", (char **) row->ids);
  /* TRANSLATORS: "Optimizer must be one of sgd, adam, adamw (got “rmsprop”)" */
  g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_INVALID, _("%s must be one of %s (got “%s”)"),
               _(row->label), ids, got ? got : "");
  return FALSE;
}

static int
id_index (const BtSettingInfo *row, const char *id)
{
  for (int i = 0; id && row->ids[i]; i++)
    if (g_str_equal (row->ids[i], id))
      return i;
  return -1;
}

gboolean
bt_setting_check (const BtSettingInfo *row, const BtProjectSettings *s, GError **error)
{
  g_return_val_if_fail (row != NULL && s != NULL, FALSE);
  switch (row->type)
    {
    case BT_SETTING_INT:
      {
        int v = *FIELD (const int, row, s);
        if (v < row->min || v > row->max)
          {
            g_autofree char *got = g_strdup_printf ("%d", v);
            return out_of_range (row, got, error);
          }
        return TRUE;
      }
    case BT_SETTING_DOUBLE:
      {
        double v = *FIELD (const double, row, s);
        if (!isfinite (v) || v < row->min || v > row->max)
          {
            char buf[G_ASCII_DTOSTR_BUF_SIZE];
            const char *got = isnan (v) ? "nan" : isinf (v) ? (v > 0 ? "inf" : "-inf")
                                                            : g_ascii_formatd (buf, sizeof buf, "%g", v);
            return out_of_range (row, got, error);
          }
        return TRUE;
      }
    case BT_SETTING_ENUM:
      {
        int v = *FIELD (const int, row, s);
        for (int i = 0; row->ids[i]; i++)
          if (row->values[i] == v)
            return TRUE;
        g_autofree char *got = g_strdup_printf ("%d", v);
        return not_one_of (row, got, error);
      }
    case BT_SETTING_CHOICE:
      {
        const char *v = bt_setting_get_string (row, s);
        return id_index (row, v) >= 0 || not_one_of (row, v, error);
      }
    case BT_SETTING_STRING:
      {
        const char *v = bt_setting_get_string (row, s);
        if (v == NULL || *v == '\0' || !g_utf8_validate (v, -1, NULL))
          {
            g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_INVALID, _("%s must not be empty"),
                         _(row->label));
            return FALSE;
          }
        return TRUE;
      }
    case BT_SETTING_UINT64:
    case BT_SETTING_BOOL:
    default:
      return TRUE;
    }
}

gboolean
bt_project_settings_validate (const BtProjectSettings *s, GError **error)
{
  g_return_val_if_fail (s != NULL, FALSE);
  for (guint i = 0; i < G_N_ELEMENTS (table); i++)
    if (!bt_setting_check (&table[i], s, error))
      return FALSE;
  if (s->split_train + s->split_val + s->split_test != 100)
    {
      g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_INVALID,
                   _("The split percentages must add up to 100 (got %d + %d + %d)"),
                   s->split_train, s->split_val, s->split_test);
      return FALSE;
    }
  return TRUE;
}

/* ---- Text ---- */

char *
bt_setting_to_string (const BtSettingInfo *row, const BtProjectSettings *s)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE];
  g_return_val_if_fail (row != NULL && s != NULL, NULL);
  switch (row->type)
    {
    case BT_SETTING_INT:
      return g_strdup_printf ("%d", *FIELD (const int, row, s));
    case BT_SETTING_UINT64:
      return g_strdup_printf ("%" G_GUINT64_FORMAT, *FIELD (const guint64, row, s));
    case BT_SETTING_DOUBLE:
      /* full precision, locale-independent: a resumed run must read back the same bits */
      return g_strdup (g_ascii_dtostr (buf, sizeof buf, *FIELD (const double, row, s)));
    case BT_SETTING_BOOL:
      return g_strdup (*FIELD (const gboolean, row, s) ? "true" : "false");
    case BT_SETTING_ENUM:
      {
        int v = *FIELD (const int, row, s);
        for (int i = 0; row->ids[i]; i++)
          if (row->values[i] == v)
            return g_strdup (row->ids[i]);
        return g_strdup_printf ("%d", v);
      }
    case BT_SETTING_STRING:
    case BT_SETTING_CHOICE:
    default:
      return g_strdup (bt_setting_get_string (row, s) ? bt_setting_get_string (row, s) : "");
    }
}

static gboolean
not_a (const BtSettingInfo *row, const char *what, const char *text, GError **error)
{
  /* TRANSLATORS: "Batch size must be a whole number (got “many”)"; the second %s is "a whole
   * number", "a number" or "true or false" */
  g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_INVALID, _("%s must be %s (got “%s”)"),
               _(row->label), what, text);
  return FALSE;
}

gboolean
bt_setting_parse (const BtSettingInfo *row, BtProjectSettings *s, const char *text, GError **error)
{
  g_return_val_if_fail (row != NULL && s != NULL && text != NULL, FALSE);
  g_autofree char *t = g_strstrip (g_strdup (text));
  BtProjectSettings probe = *s;  /* shallow: only this row's field changes */
  switch (row->type)
    {
    case BT_SETTING_INT:
      {
        gint64 v;
        if (!g_ascii_string_to_signed (t, 10, G_MININT, G_MAXINT, &v, NULL))
          return not_a (row, _("a whole number"), t, error);
        *FIELD (int, row, &probe) = (int) v;
        break;
      }
    case BT_SETTING_UINT64:
      {
        guint64 v;
        if (!g_ascii_string_to_unsigned (t, 10, 0, G_MAXUINT64, &v, NULL))
          return not_a (row, _("a whole number"), t, error);
        *FIELD (guint64, row, &probe) = v;
        break;
      }
    case BT_SETTING_DOUBLE:
      {
        char *end = NULL;
        double v = g_ascii_strtod (t, &end);
        if (end == t || *end != '\0')
          return not_a (row, _("a number"), t, error);
        *FIELD (double, row, &probe) = v;
        break;
      }
    case BT_SETTING_BOOL:
      {
        gboolean v;
        if (g_str_equal (t, "true") || g_str_equal (t, "1"))
          v = TRUE;
        else if (g_str_equal (t, "false") || g_str_equal (t, "0"))
          v = FALSE;
        else
          return not_a (row, _("true or false"), t, error);
        *FIELD (gboolean, row, &probe) = v;
        break;
      }
    case BT_SETTING_ENUM:
      {
        int i = id_index (row, t);
        gint64 v;
        if (i >= 0)
          v = row->values[i];
        else if (!g_ascii_string_to_signed (t, 10, G_MININT, G_MAXINT, &v, NULL))
          return not_one_of (row, t, error);
        *FIELD (int, row, &probe) = (int) v;
        break;
      }
    case BT_SETTING_STRING:
    case BT_SETTING_CHOICE:
    default:
      *FIELD (const char *, row, &probe) = t;
      break;
    }
  if (!bt_setting_check (row, &probe, error))
    return FALSE;
  if (is_string (row))
    set_string (row, s, t);
  else
    *s = probe;
  return TRUE;
}

/* ---- Key files ---- */

void
bt_project_settings_to_key_file (const BtProjectSettings *s, GKeyFile *kf, const char *flat_group)
{
  g_return_if_fail (s != NULL && kf != NULL);
  for (guint i = 0; i < G_N_ELEMENTS (table); i++)
    {
      const BtSettingInfo *row = &table[i];
      g_autofree char *v = bt_setting_to_string (row, s);
      g_key_file_set_string (kf, flat_group ? flat_group : row->group, flat_group ? row->run_key : row->key, v);
    }
}

gboolean
bt_project_settings_from_key_file (BtProjectSettings *s, GKeyFile *kf, const char *flat_group,
                                   gboolean require_all, GError **error)
{
  g_return_val_if_fail (s != NULL && kf != NULL, FALSE);
  BtProjectSettings out;
  bt_project_settings_copy (&out, s);
  for (guint i = 0; i < G_N_ELEMENTS (table); i++)
    {
      const BtSettingInfo *row = &table[i];
      const char *group = flat_group ? flat_group : row->group;
      const char *key = flat_group ? row->run_key : row->key;
      g_autofree char *text = g_key_file_get_string (kf, group, key, NULL);
      if (text == NULL && flat_group && row->old_run_key)
        text = g_key_file_get_string (kf, group, key = row->old_run_key, NULL);
      if (text == NULL && require_all && !(row->flags & BT_SETTING_RUN_OPTIONAL))
        {
          g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_CORRUPT, _("[%s] %s is missing"), group, key);
          bt_project_settings_clear (&out);
          return FALSE;
        }
      if (text != NULL && !bt_setting_parse (row, &out, text, error))
        {
          bt_project_settings_clear (&out);
          return FALSE;
        }
    }
  if (!bt_project_settings_validate (&out, error))
    {
      bt_project_settings_clear (&out);
      return FALSE;
    }
  bt_project_settings_clear (s);
  *s = out;
  return TRUE;
}
