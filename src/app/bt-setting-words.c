/* bt-setting-words.c: words for the special values of settings spin buttons (#21). A spin button
 * shows "-1.00" for "the preset chooses" and "0" for "off" otherwise; the output/input signals
 * turn those into words and back. */
#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "bt-glossary.h"
#include "bt-setting-words.h"

typedef struct {
  const char *key;
  int         term;        /* BtTerm, or -1 */
  double      special;     /* the value with words; NAN for none */
  gboolean    below;       /* any value below `special + 0.5 step` counts (dropout: every negative) */
  const char *words;       /* N_() */
} Row;

static const Row rows[] = {
  { "epochs", BT_TERM_EPOCH, NAN, FALSE, NULL },
  { "batch-size", BT_TERM_BATCH, NAN, FALSE, NULL },
  { "learning-rate", BT_TERM_LEARNING_RATE, NAN, FALSE, NULL },
  { "weight-decay", BT_TERM_WEIGHT_DECAY, NAN, FALSE, NULL },
  /* Translators: a dropout setting of −1: each network keeps its own usual dropout */
  { "dropout", BT_TERM_DROPOUT, 0.0, TRUE, N_("Preset default") },
  /* Translators: early-stopping patience 0: training never stops early */
  { "early-stopping-patience", -1, 0.0, FALSE, N_("Off") },
};

static const Row *
find_row (const char *key)
{
  for (guint i = 0; i < G_N_ELEMENTS (rows); i++)
    if (g_strcmp0 (rows[i].key, key) == 0)
      return &rows[i];
  return NULL;
}

const char *
bt_setting_words_for (const char *key, double value)
{
  const Row *row = find_row (key);

  if (row == NULL || row->words == NULL)
    return NULL;
  if (row->below ? value < row->special : value == row->special)
    return _(row->words);
  return NULL;
}

static gboolean
output_cb (GtkSpinButton *spin, const Row *row)
{
  const char *words = bt_setting_words_for (row->key, gtk_spin_button_get_value (spin));

  if (words == NULL)
    return FALSE;   /* the number, as GTK writes it */
  if (g_strcmp0 (gtk_editable_get_text (GTK_EDITABLE (spin)), words) != 0)
    gtk_editable_set_text (GTK_EDITABLE (spin), words);
  return TRUE;
}

static int
input_cb (GtkSpinButton *spin, double *new_value, const Row *row)
{
  const char *text = gtk_editable_get_text (GTK_EDITABLE (spin));

  if (g_ascii_strcasecmp (text, _(row->words)) == 0 || g_ascii_strcasecmp (text, row->words) == 0)
    {
      GtkAdjustment *adj = gtk_spin_button_get_adjustment (spin);
      *new_value = row->below ? gtk_adjustment_get_lower (adj) : row->special;
      return TRUE;
    }
  return FALSE;   /* a number: GTK parses it */
}

void
bt_setting_words_attach (GtkSpinButton *spin, const char *key)
{
  const Row *row = find_row (key);

  g_return_if_fail (GTK_IS_SPIN_BUTTON (spin));
  if (row == NULL)
    return;
  if (row->term >= 0)
    bt_glossary_set_tooltip (GTK_WIDGET (spin), (BtTerm) row->term);
  if (row->words != NULL)
    {
      /* a numeric spin button refuses letters, the words included; its input handler parses */
      gtk_spin_button_set_numeric (spin, FALSE);
      g_signal_connect (spin, "output", G_CALLBACK (output_cb), (gpointer) row);
      g_signal_connect (spin, "input", G_CALLBACK (input_cb), (gpointer) row);
      gtk_editable_set_width_chars (GTK_EDITABLE (spin),
                                    MAX (gtk_editable_get_width_chars (GTK_EDITABLE (spin)),
                                         (int) g_utf8_strlen (_(row->words), -1)));
      gtk_spin_button_update (spin);
    }
}
