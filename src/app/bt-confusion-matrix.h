/* bt-confusion-matrix.h: a Cairo-drawn confusion matrix — rows are true classes, columns
 * predictions; colour by row-normalized value, counts in cells, hover details, activatable cells. */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define BT_TYPE_CONFUSION_MATRIX (bt_confusion_matrix_get_type ())
G_DECLARE_FINAL_TYPE (BtConfusionMatrix, bt_confusion_matrix, BT, CONFUSION_MATRIX, GtkWidget)

/* Signal "cell-activated" (int true_class, int predicted_class): clicked, or Enter/Space on
 * the keyboard-selected cell. */
GtkWidget *bt_confusion_matrix_new        (void);
/* counts: n_classes × n_classes, row = true class, column = predicted (copied). */
void       bt_confusion_matrix_set_data   (BtConfusionMatrix *self, guint n_classes,
                                           const char * const *class_names, const guint *counts);
/* marks: n_classes × n_classes counts of images the data doctor suspects (copied; NULL: none),
 * drawn as a corner flag and told in the tooltip. Cleared by set_data. */
void       bt_confusion_matrix_set_marks  (BtConfusionMatrix *self, const guint *marks);
guint      bt_confusion_matrix_get_mark   (BtConfusionMatrix *self, guint row, guint col);
guint      bt_confusion_matrix_get_n_classes (BtConfusionMatrix *self);
guint      bt_confusion_matrix_get_count  (BtConfusionMatrix *self, guint row, guint col);
/* The row-normalized value of a cell (count / row total; 0 for an empty row). */
double     bt_confusion_matrix_get_fraction (BtConfusionMatrix *self, guint row, guint col);
/* Which cell lies under (x, y) for a widget of width × height; FALSE outside the grid. */
gboolean   bt_confusion_matrix_cell_at    (BtConfusionMatrix *self, int width, int height,
                                           double x, double y, guint *row, guint *col);
/* The rectangle of a cell, for tests and for drawing a selection. */
gboolean   bt_confusion_matrix_get_cell_area (BtConfusionMatrix *self, int width, int height,
                                              guint row, guint col, graphene_rect_t *area);
/* The keyboard-selected cell (starts at 0,0). */
void       bt_confusion_matrix_select_cell (BtConfusionMatrix *self, guint row, guint col);
gboolean   bt_confusion_matrix_get_selected (BtConfusionMatrix *self, guint *row, guint *col);
/* Details for one cell as shown in the tooltip (g_free). */
char      *bt_confusion_matrix_describe_cell (BtConfusionMatrix *self, guint row, guint col);
void       bt_confusion_matrix_render     (BtConfusionMatrix *self, cairo_t *cr, int width, int height);

G_END_DECLS
