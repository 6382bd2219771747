/* bt-glossary.c: the explanations behind bt_glossary_explain(), written for someone who has
 * never trained a model. */
#include "config.h"

#include <glib/gi18n.h>

#include "bt-glossary.h"

const char *
bt_glossary_explain (BtTerm term)
{
  switch (term)
    {
    case BT_TERM_EPOCH:
      return _("Epoch: one pass over all the training images. More epochs let the model learn more, "
               "and past a point make it memorise instead.");
    case BT_TERM_BATCH:
      return _("Batch: how many images the model looks at before it adjusts itself once. Bigger batches "
               "are steadier and use more memory.");
    case BT_TERM_LEARNING_RATE:
      return _("Learning rate: how big each adjustment is. Too high and training jumps around or "
               "falls apart; too low and it learns very slowly.");
    case BT_TERM_DROPOUT:
      return _("Dropout: while training, a share of the network is switched off at random, so it cannot "
               "lean on a few details. Helps when it memorises the training images.");
    case BT_TERM_AUGMENTATION:
      return _("Augmentation: training images are shown flipped, cropped, turned or recoloured a little, "
               "so the model learns the object, not one exact picture.");
    case BT_TERM_VALIDATION:
      return _("Validation images: kept out of training and checked after every epoch, to see whether "
               "the model works on pictures it has not learned from.");
    case BT_TERM_WEIGHT_DECAY:
      return _("Weight decay: a gentle pull of the network's numbers towards zero, so it stays simple. "
               "Helps against memorising.");
    case BT_TERM_TEST:
      return _("Test images: never used while training or choosing settings; they give the honest "
               "final score.");
    case BT_N_TERMS:
    default:
      break;
    }
  g_return_val_if_reached ("");
}

void
bt_glossary_set_tooltip (GtkWidget *widget, BtTerm term)
{
  const char *old;
  g_autofree char *text = NULL;

  g_return_if_fail (GTK_IS_WIDGET (widget));
  g_return_if_fail (term < BT_N_TERMS);

  old = gtk_widget_get_tooltip_text (widget);
  text = old != NULL && *old != '\0' ? g_strdup_printf ("%s\n\n%s", old, bt_glossary_explain (term))
                                     : g_strdup (bt_glossary_explain (term));
  gtk_widget_set_tooltip_text (widget, text);
}
