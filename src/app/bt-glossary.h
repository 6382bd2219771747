/* bt-glossary.h: one plain-words explanation per deep-learning term the window uses, for the
 * tooltips of every place that shows the term (one text, whichever page asks). */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

typedef enum {
  BT_TERM_EPOCH,
  BT_TERM_BATCH,
  BT_TERM_LEARNING_RATE,
  BT_TERM_DROPOUT,
  BT_TERM_AUGMENTATION,
  BT_TERM_VALIDATION,
  BT_TERM_WEIGHT_DECAY,
  BT_TERM_TEST,
  BT_N_TERMS
} BtTerm;

/* The term's explanation, translated. */
const char *bt_glossary_explain     (BtTerm term);
/* Sets it as widget's tooltip (after what the tooltip said already, if anything). */
void        bt_glossary_set_tooltip (GtkWidget *widget, BtTerm term);

G_END_DECLS
