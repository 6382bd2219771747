/* bt-item.c: BtItem (one image of a project) and BtClassInfo (one class), the small final
 * objects held by the project's list models. Setters are private to the project. */
#include "config.h"

#include "dataset/bt-dataset-private.h"

struct _BtItem {
  GObject  parent_instance;
  char    *path;
  char    *display_name;
  char    *class_name;  /* GRefString (class_name_intern): save snapshots share it */
  BtSplit  split;
  guint64  hash;
  int      width, height;
  guint    excluded : 1;
  guint    missing : 1;
  guint    duplicate : 1;
};

G_DEFINE_FINAL_TYPE (BtItem, bt_item, G_TYPE_OBJECT)

/* Class names are interned here, not with g_ref_string_new_intern: in GLib 2.74 a release that
 * drops an interned string to zero on the save writer's thread races with a new_intern of the
 * same name on the main thread (which then acquires a dead string). The table keeps one
 * reference to each name for the life of the process; there are only ever a few names. */
static GMutex intern_lock;
static GHashTable *intern_table;

static char *
class_name_intern (const char *name)
{
  char *ref;
  g_mutex_lock (&intern_lock);
  if (intern_table == NULL)
    intern_table = g_hash_table_new (g_str_hash, g_str_equal);
  ref = g_hash_table_lookup (intern_table, name);
  if (ref == NULL)
    {
      ref = g_ref_string_new (name);
      g_hash_table_add (intern_table, ref);
    }
  ref = g_ref_string_acquire (ref);
  g_mutex_unlock (&intern_lock);
  return ref;
}

enum {
  ITEM_PROP_0,
  ITEM_PROP_PATH,
  ITEM_PROP_DISPLAY_NAME,
  ITEM_PROP_CLASS_NAME,
  ITEM_PROP_SPLIT,
  ITEM_PROP_EXCLUDED,
  ITEM_PROP_MISSING,
  ITEM_PROP_DUPLICATE,
  ITEM_PROP_HASH,
  ITEM_PROP_WIDTH,
  ITEM_PROP_HEIGHT,
  ITEM_N_PROPS
};
static GParamSpec *item_props[ITEM_N_PROPS];

static void
bt_item_finalize (GObject *object)
{
  BtItem *self = BT_ITEM (object);
  g_free (self->path);
  g_free (self->display_name);
  g_clear_pointer (&self->class_name, g_ref_string_release);
  G_OBJECT_CLASS (bt_item_parent_class)->finalize (object);
}

static void
bt_item_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  BtItem *self = BT_ITEM (object);
  switch (prop_id)
    {
    case ITEM_PROP_PATH:         g_value_set_string (value, self->path); break;
    case ITEM_PROP_DISPLAY_NAME: g_value_set_string (value, self->display_name); break;
    case ITEM_PROP_CLASS_NAME:   g_value_set_string (value, self->class_name); break;
    case ITEM_PROP_SPLIT:        g_value_set_int (value, self->split); break;
    case ITEM_PROP_EXCLUDED:     g_value_set_boolean (value, self->excluded); break;
    case ITEM_PROP_MISSING:      g_value_set_boolean (value, self->missing); break;
    case ITEM_PROP_DUPLICATE:    g_value_set_boolean (value, self->duplicate); break;
    case ITEM_PROP_HASH:         g_value_set_uint64 (value, self->hash); break;
    case ITEM_PROP_WIDTH:        g_value_set_int (value, self->width); break;
    case ITEM_PROP_HEIGHT:       g_value_set_int (value, self->height); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
bt_item_class_init (BtItemClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  object_class->finalize = bt_item_finalize;
  object_class->get_property = bt_item_get_property;
  GParamFlags f = G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY;
  item_props[ITEM_PROP_PATH] = g_param_spec_string ("path", NULL, NULL, NULL, f);
  item_props[ITEM_PROP_DISPLAY_NAME] = g_param_spec_string ("display-name", NULL, NULL, NULL, f);
  item_props[ITEM_PROP_CLASS_NAME] = g_param_spec_string ("class-name", NULL, NULL, NULL, f);
  item_props[ITEM_PROP_SPLIT] = g_param_spec_int ("split", NULL, NULL, 0, BT_N_SPLITS - 1, 0, f);
  item_props[ITEM_PROP_EXCLUDED] = g_param_spec_boolean ("excluded", NULL, NULL, FALSE, f);
  item_props[ITEM_PROP_MISSING] = g_param_spec_boolean ("missing", NULL, NULL, FALSE, f);
  item_props[ITEM_PROP_DUPLICATE] = g_param_spec_boolean ("duplicate", NULL, NULL, FALSE, f);
  item_props[ITEM_PROP_HASH] = g_param_spec_uint64 ("hash", NULL, NULL, 0, G_MAXUINT64, 0, f);
  item_props[ITEM_PROP_WIDTH] = g_param_spec_int ("width", NULL, NULL, 0, G_MAXINT, 0, f);
  item_props[ITEM_PROP_HEIGHT] = g_param_spec_int ("height", NULL, NULL, 0, G_MAXINT, 0, f);
  g_object_class_install_properties (object_class, ITEM_N_PROPS, item_props);
}

static void
bt_item_init (BtItem *self)
{
}

BtItem *
bt_item_new (const char *path, const char *class_name, BtSplit split, guint64 hash)
{
  BtItem *self = g_object_new (BT_TYPE_ITEM, NULL);
  self->path = g_strdup (path);
  self->display_name = g_filename_display_basename (path);
  self->class_name = class_name_intern (class_name);
  self->split = split;
  self->hash = hash;
  return self;
}

const char *bt_item_get_path         (BtItem *item) { g_return_val_if_fail (BT_IS_ITEM (item), NULL); return item->path; }
const char *bt_item_get_display_name (BtItem *item) { g_return_val_if_fail (BT_IS_ITEM (item), NULL); return item->display_name; }
const char *bt_item_get_class_name   (BtItem *item) { g_return_val_if_fail (BT_IS_ITEM (item), NULL); return item->class_name; }
BtSplit     bt_item_get_split        (BtItem *item) { g_return_val_if_fail (BT_IS_ITEM (item), BT_SPLIT_TRAIN); return item->split; }
gboolean    bt_item_get_excluded     (BtItem *item) { g_return_val_if_fail (BT_IS_ITEM (item), FALSE); return item->excluded; }
gboolean    bt_item_get_missing      (BtItem *item) { g_return_val_if_fail (BT_IS_ITEM (item), FALSE); return item->missing; }
gboolean    bt_item_get_duplicate    (BtItem *item) { g_return_val_if_fail (BT_IS_ITEM (item), FALSE); return item->duplicate; }
guint64     bt_item_get_hash         (BtItem *item) { g_return_val_if_fail (BT_IS_ITEM (item), 0); return item->hash; }
int         bt_item_get_width        (BtItem *item) { g_return_val_if_fail (BT_IS_ITEM (item), 0); return item->width; }
int         bt_item_get_height       (BtItem *item) { g_return_val_if_fail (BT_IS_ITEM (item), 0); return item->height; }

void
bt_item_snapshot (BtItem *item, char **class_ref, guint64 *hash, int *width, int *height, BtSplit *split,
                  gboolean *excluded)
{
  *class_ref = g_ref_string_acquire (item->class_name);
  *hash = item->hash;
  *width = item->width;
  *height = item->height;
  *split = item->split;
  *excluded = item->excluded;
}

char *
bt_item_dup_class_ref (BtItem *item)
{
  return g_ref_string_acquire (item->class_name);
}

void
bt_item_set_size (BtItem *item, int width, int height)
{
  width = MAX (width, 0);
  height = MAX (height, 0);
  if (item->width != width)
    {
      item->width = width;
      g_object_notify_by_pspec (G_OBJECT (item), item_props[ITEM_PROP_WIDTH]);
    }
  if (item->height != height)
    {
      item->height = height;
      g_object_notify_by_pspec (G_OBJECT (item), item_props[ITEM_PROP_HEIGHT]);
    }
}

void
bt_item_set_class_name (BtItem *item, const char *class_name)
{
  if (g_strcmp0 (item->class_name, class_name) == 0)
    return;
  g_ref_string_release (item->class_name);
  item->class_name = class_name_intern (class_name);
  g_object_notify_by_pspec (G_OBJECT (item), item_props[ITEM_PROP_CLASS_NAME]);
}

#define BOOL_SETTER(field, prop)                                              \
  void bt_item_set_##field (BtItem *item, gboolean v)                         \
  {                                                                           \
    if (item->field == !!v)                                                   \
      return;                                                                 \
    item->field = !!v;                                                        \
    g_object_notify_by_pspec (G_OBJECT (item), item_props[prop]);             \
  }
BOOL_SETTER (excluded, ITEM_PROP_EXCLUDED)
BOOL_SETTER (missing, ITEM_PROP_MISSING)
BOOL_SETTER (duplicate, ITEM_PROP_DUPLICATE)

void
bt_item_set_split (BtItem *item, BtSplit split)
{
  if (item->split == split)
    return;
  item->split = split;
  g_object_notify_by_pspec (G_OBJECT (item), item_props[ITEM_PROP_SPLIT]);
}

void
bt_item_set_hash (BtItem *item, guint64 hash)
{
  if (item->hash == hash)
    return;
  item->hash = hash;
  g_object_notify_by_pspec (G_OBJECT (item), item_props[ITEM_PROP_HASH]);
}

/* ---- BtClassInfo ---- */

struct _BtClassInfo {
  GObject  parent_instance;
  char    *name;
  guint    n_items;
  guint    color;
};

G_DEFINE_FINAL_TYPE (BtClassInfo, bt_class_info, G_TYPE_OBJECT)

enum { CLASS_PROP_0, CLASS_PROP_NAME, CLASS_PROP_N_ITEMS, CLASS_PROP_COLOR, CLASS_N_PROPS };
static GParamSpec *class_props[CLASS_N_PROPS];

static void
bt_class_info_finalize (GObject *object)
{
  g_free (BT_CLASS_INFO (object)->name);
  G_OBJECT_CLASS (bt_class_info_parent_class)->finalize (object);
}

static void
bt_class_info_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  BtClassInfo *self = BT_CLASS_INFO (object);
  switch (prop_id)
    {
    case CLASS_PROP_NAME:    g_value_set_string (value, self->name); break;
    case CLASS_PROP_N_ITEMS: g_value_set_uint (value, self->n_items); break;
    case CLASS_PROP_COLOR:   g_value_set_uint (value, self->color); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
bt_class_info_class_init (BtClassInfoClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  object_class->finalize = bt_class_info_finalize;
  object_class->get_property = bt_class_info_get_property;
  GParamFlags f = G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY;
  class_props[CLASS_PROP_NAME] = g_param_spec_string ("name", NULL, NULL, NULL, f);
  class_props[CLASS_PROP_N_ITEMS] = g_param_spec_uint ("n-items", NULL, NULL, 0, G_MAXUINT, 0, f);
  class_props[CLASS_PROP_COLOR] = g_param_spec_uint ("color", NULL, NULL, 0, G_MAXUINT, 0, f);
  g_object_class_install_properties (object_class, CLASS_N_PROPS, class_props);
}

static void
bt_class_info_init (BtClassInfo *self)
{
}

BtClassInfo *
bt_class_info_new (const char *name, guint color)
{
  BtClassInfo *self = g_object_new (BT_TYPE_CLASS_INFO, NULL);
  self->name = g_strdup (name);
  self->color = color;
  return self;
}

const char *bt_class_info_get_name    (BtClassInfo *info) { g_return_val_if_fail (BT_IS_CLASS_INFO (info), NULL); return info->name; }
guint       bt_class_info_get_n_items (BtClassInfo *info) { g_return_val_if_fail (BT_IS_CLASS_INFO (info), 0); return info->n_items; }
guint       bt_class_info_get_color   (BtClassInfo *info) { g_return_val_if_fail (BT_IS_CLASS_INFO (info), 0); return info->color; }

void
bt_class_info_set_name (BtClassInfo *info, const char *name)
{
  if (g_strcmp0 (info->name, name) == 0)
    return;
  g_free (info->name);
  info->name = g_strdup (name);
  g_object_notify_by_pspec (G_OBJECT (info), class_props[CLASS_PROP_NAME]);
}

void
bt_class_info_set_n_items (BtClassInfo *info, guint n)
{
  if (info->n_items == n)
    return;
  info->n_items = n;
  g_object_notify_by_pspec (G_OBJECT (info), class_props[CLASS_PROP_N_ITEMS]);
}
