/* bt-setting-words.h: settings spin buttons that speak in words (#21): the special values read
 * as what they mean ("Preset default" for a negative dropout, "Off" for early-stopping patience
 * 0), typing those words back works, and each term's glossary entry is its tooltip. */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

/* For the settings row key (bt-settings.c's names): words for its special value, when it has
 * one, and the glossary tooltip of its term, when there is one. */
void        bt_setting_words_attach (GtkSpinButton *spin, const char *key);
/* The words shown for value in the row key, or NULL when value is an ordinary number. */
const char *bt_setting_words_for    (const char *key, double value);

G_END_DECLS
