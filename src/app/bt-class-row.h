/* bt-class-row.h: one row of the Data page's class sidebar: colour chip, name (renamed in
 * place), image count, and a warning icon when the class is too small or out of balance. */
#pragma once

#include <gtk/gtk.h>

#include "dataset/bt-dataset.h"

G_BEGIN_DECLS

#define BT_TYPE_CLASS_ROW (bt_class_row_get_type ())
G_DECLARE_FINAL_TYPE (BtClassRow, bt_class_row, BT, CLASS_ROW, GtkWidget)

/* Fewer images than this and a class gets a warning. */
#define BT_CLASS_MIN_IMAGES 10
/* A class with fewer than 1/BT_CLASS_IMBALANCE_RATIO of the largest class's images is
 * out of balance. */
#define BT_CLASS_IMBALANCE_RATIO 5

/* Where a class row being dragged would land, drawn as a line on the row under it. */
typedef enum {
  BT_CLASS_ROW_DROP_NONE,
  BT_CLASS_ROW_DROP_BEFORE,
  BT_CLASS_ROW_DROP_AFTER,
} BtClassRowDrop;

GtkWidget   *bt_class_row_new          (void);
/* info NULL: the "All images" row, with total as its count. */
void         bt_class_row_set_info     (BtClassRow  *self,
                                        BtClassInfo *info);
BtClassInfo *bt_class_row_get_info     (BtClassRow  *self);
void         bt_class_row_set_all      (BtClassRow  *self,
                                        guint        total);
/* Recomputes the warning from the largest class's count. */
void         bt_class_row_update       (BtClassRow  *self,
                                        guint        largest);
void         bt_class_row_start_rename (BtClassRow  *self);
gboolean     bt_class_row_is_renaming  (BtClassRow  *self);
void         bt_class_row_set_drop     (BtClassRow    *self,
                                        BtClassRowDrop where);
BtClassRowDrop bt_class_row_get_drop   (BtClassRow    *self);

/* The new position of the class at from when it is dropped before (or after) the class
 * at onto, positions counted before the move. */
guint        bt_class_drop_position    (guint        from,
                                        guint        onto,
                                        gboolean     after);

/* The warning text for a class of n images when the largest has largest, or NULL. */
char        *bt_class_warning_text     (guint        n,
                                        guint        largest);
/* Colour index → a colour of the palette the app uses for classes. */
void         bt_class_color            (guint        index,
                                        GdkRGBA     *rgba);

G_END_DECLS
