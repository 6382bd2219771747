/* bt-settings.h: a project's training settings and the one table that describes them. Defaults,
 * copy/clear, limits, the ini files (project.ini, a run's config.ini, a search's [base]), the
 * PyTorch export's JSON, the CLI's options and the Model page's adjustments all walk this table:
 * a new setting is one row (bt-settings.c) plus its use. Included by bt-dataset.h. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum { BT_DS_RESIZE_SQUASH, BT_DS_RESIZE_CENTER_CROP, BT_DS_RESIZE_PAD } BtDsResize;

typedef struct {
  char       *preset;          /* engine preset id, e.g. "small-cnn" */
  int         width, height, channels;
  BtDsResize  resize;
  int         epochs, batch_size;
  char       *optimizer;       /* "sgd" | "adam" | "adamw" */
  double      learning_rate;
  char       *schedule;        /* "constant" | "step" | "cosine" | "plateau" */
  double      weight_decay;
  double      dropout;         /* < 0: preset default */
  gboolean    augment_flip, augment_crop, augment_rotate, augment_color;
  gboolean    class_weights;
  double      label_smoothing;
  int         early_stopping_patience;  /* 0 = off */
  char       *early_stopping_monitor;   /* "val_loss" | "val_acc" */
  double      early_stopping_min_delta;
  gboolean    restore_best;
  int         split_train, split_val, split_test;  /* percentages, sum 100 */
  guint64     seed;
  int         transfer_hidden;         /* transfer preset: hidden units in the head, 0 = none */
  gboolean    transfer_whole_network;  /* transfer preset: the model file holds the backbone too */
  int         transfer_finetune_blocks; /* transfer preset: fine-tune the backbone's last N blocks, 0 = frozen */
  char       *transfer_backbone;  /* transfer preset: catalogue name or file; "default" = the default */
  char       *recipe;                  /* "auto": transfer runs search their head's settings (bt-recipe.c) | "manual" */
  gboolean    tta;                     /* test-time augmentation: predictions average the image and its mirror */
} BtProjectSettings;

typedef enum {
  BT_SETTING_INT,      /* int field, min..max */
  BT_SETTING_UINT64,   /* guint64 field, the whole range */
  BT_SETTING_DOUBLE,   /* double field, min..max, never nan or inf */
  BT_SETTING_BOOL,     /* gboolean field */
  BT_SETTING_STRING,   /* char * field, any non-empty UTF-8 id (the training layer knows which exist) */
  BT_SETTING_CHOICE,   /* char * field, one of ids */
  BT_SETTING_ENUM,     /* int field holding values[i] for ids[i] */
} BtSettingType;

typedef enum {
  BT_SETTING_IN_JSON      = 1 << 0,  /* in the "settings" object of the PyTorch export's config.json */
  BT_SETTING_RUN_OPTIONAL = 1 << 1,  /* older config.ini files lack it: missing means the default */
} BtSettingFlags;

typedef struct {
  const char         *group, *key;   /* project.ini: [group] key */
  const char         *run_key;       /* flat files (a run's config.ini, a search's [base]) */
  const char         *old_run_key;   /* what older config.ini files called it, or NULL */
  const char         *label;         /* N_(): "Batch size", for messages */
  BtSettingType       type;
  gsize               offset;        /* in BtProjectSettings */
  double              def, min, max; /* numbers and booleans (0/1) */
  double              step, page;    /* the Model page's spin buttons */
  const char         *def_id;        /* STRING, CHOICE, ENUM */
  const char * const *ids;           /* CHOICE, ENUM; NULL-terminated */
  const int          *values;        /* ENUM: the field's value for each id */
  guint               flags;         /* BtSettingFlags */
} BtSettingInfo;

/* The table, in file order. */
const BtSettingInfo *bt_settings_table (guint *n_rows);
/* The row of a project.ini key or a flat key ("batch-size", "color-mode", "augment-flip"), or NULL. */
const BtSettingInfo *bt_settings_find  (const char *key);

/* Defaults, deep copy, free of the strings (a BtProjectSettings you filled yourself needs no clear).
 * Copy overwrites dest without freeing it: copy into a fresh or cleared one. */
void     bt_project_settings_init     (BtProjectSettings *s);
void     bt_project_settings_copy     (BtProjectSettings *dest, const BtProjectSettings *src);
void     bt_project_settings_clear    (BtProjectSettings *s);
gboolean bt_project_settings_equal    (const BtProjectSettings *a, const BtProjectSettings *b);

/* Every row's limits and the split's sum. One message format: "Batch size must be between 1 and
 * 4096 (got 8000)". BT_DATASET_ERROR_INVALID. */
gboolean bt_project_settings_validate (const BtProjectSettings *s, GError **error);
gboolean bt_setting_check             (const BtSettingInfo *row, const BtProjectSettings *s, GError **error);
/* Parses text as the row's type ("0.001", "true", "rgb"; an ENUM also takes its value, "3") and
 * checks the row's limits; s is unchanged on failure. */
gboolean bt_setting_parse             (const BtSettingInfo *row, BtProjectSettings *s, const char *text,
                                       GError **error);
/* The value as text, as the files hold it (doubles in full precision). */
char    *bt_setting_to_string         (const BtSettingInfo *row, const BtProjectSettings *s);
/* Numbers, booleans (0/1) and ENUM values as a double (the UI's adjustments). */
double   bt_setting_get_number        (const BtSettingInfo *row, const BtProjectSettings *s);
void     bt_setting_set_number        (const BtSettingInfo *row, BtProjectSettings *s, double value);
const char *bt_setting_get_string     (const BtSettingInfo *row, const BtProjectSettings *s);

/* Key files. flat_group NULL: project.ini's groups and keys; otherwise every row's run_key in that
 * one group. Reading starts from what s holds (defaults, say), replaces what the file has and
 * validates the result; require_all: every row but the RUN_OPTIONAL ones must be there. On failure
 * s is unchanged. */
void     bt_project_settings_to_key_file   (const BtProjectSettings *s, GKeyFile *kf, const char *flat_group);
gboolean bt_project_settings_from_key_file (BtProjectSettings *s, GKeyFile *kf, const char *flat_group,
                                            gboolean require_all, GError **error);

G_END_DECLS
