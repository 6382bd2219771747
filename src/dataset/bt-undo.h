/* bt-undo.h: an undo stack of inverse operations over a BtProject's labels and classes
 * (relabel, exclude/restore, rename, delete, merge, reorder). The pages edit the project
 * through it, so every edit can be undone and redone; each step is saved like any edit. */
#pragma once

#include "dataset/bt-dataset.h"

G_BEGIN_DECLS

#define BT_TYPE_UNDO_STACK (bt_undo_stack_get_type ())
G_DECLARE_FINAL_TYPE (BtUndoStack, bt_undo_stack, BT, UNDO_STACK, GObject)

/* The project's one stack (made on first use, freed with the project): the Data and the
 * Evaluate page share it, so Ctrl+Z undoes the last edit whichever page made it.
 * Signal "changed": the stack (what undo/redo would do) changed. */
BtUndoStack *bt_undo_stack_get              (BtProject *project);  /* borrowed */

gboolean     bt_undo_stack_relabel          (BtUndoStack *self, BtItem * const *items, guint n,
                                             const char *class_name, GError **error);
gboolean     bt_undo_stack_set_excluded     (BtUndoStack *self, BtItem * const *items, guint n,
                                             gboolean excluded, GError **error);
gboolean     bt_undo_stack_rename_class     (BtUndoStack *self, const char *old_name,
                                             const char *new_name, GError **error);
/* Deletes the class with its images (the files stay where they are). */
gboolean     bt_undo_stack_remove_class     (BtUndoStack *self, const char *name, GError **error);
/* Moves every image of from into into, then deletes from. */
gboolean     bt_undo_stack_merge_class      (BtUndoStack *self, const char *from, const char *into,
                                             GError **error);
gboolean     bt_undo_stack_move_class       (BtUndoStack *self, const char *name, guint new_position,
                                             GError **error);

gboolean     bt_undo_stack_can_undo         (BtUndoStack *self);
gboolean     bt_undo_stack_can_redo         (BtUndoStack *self);
/* What the next undo/redo would undo or redo, translated ("Move 3 images to “dogs”"); NULL when none. */
const char  *bt_undo_stack_get_undo_label   (BtUndoStack *self);
const char  *bt_undo_stack_get_redo_label   (BtUndoStack *self);
/* FALSE with error when there was nothing to undo/redo or the project refused a step
 * (then the stack is emptied: what it remembers no longer matches the project). */
gboolean     bt_undo_stack_undo             (BtUndoStack *self, GError **error);
gboolean     bt_undo_stack_redo             (BtUndoStack *self, GError **error);
void         bt_undo_stack_clear            (BtUndoStack *self);
/* What the pages call: undoes (undo TRUE) or redoes the last entry and returns the sentence to
 * show ("Undone: Move 3 images to “dogs”", translated); NULL with error unset when there was
 * nothing to do, NULL with error set when a step failed. */
char        *bt_undo_stack_step             (BtUndoStack *self, gboolean undo, GError **error);

G_END_DECLS
