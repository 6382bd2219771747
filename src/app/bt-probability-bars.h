/* bt-probability-bars.h: horizontal bars with the probability of every class, sorted from the
 * most likely down, with percentages; the top class highlighted. Drawn with Cairo. */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define BT_TYPE_PROBABILITY_BARS (bt_probability_bars_get_type ())
G_DECLARE_FINAL_TYPE (BtProbabilityBars, bt_probability_bars, BT, PROBABILITY_BARS, GtkWidget)

GtkWidget *bt_probability_bars_new       (void);
/* Copies names and probabilities; non-finite or negative values count as 0. n = 0 clears. */
void       bt_probability_bars_set_data  (BtProbabilityBars *self, guint n_classes,
                                          const char * const *class_names, const float *probs);
guint      bt_probability_bars_get_n     (BtProbabilityBars *self);
/* The class index drawn in row i (row 0 = most likely), or -1. */
int        bt_probability_bars_get_class_at_row (BtProbabilityBars *self, guint row);
float      bt_probability_bars_get_probability  (BtProbabilityBars *self, guint class_index);
/* Where the bar of a row is, and the x where a full (100 %) bar would end. */
gboolean   bt_probability_bars_get_bar_area (BtProbabilityBars *self, int width, int height, guint row,
                                             graphene_rect_t *bar, double *full_x);
void       bt_probability_bars_render    (BtProbabilityBars *self, cairo_t *cr, int width, int height);

G_END_DECLS
