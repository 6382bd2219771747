/* bt-i18n.h: the locale and the translation catalogs, set up once at start. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Where the catalogs are read from: in a development build run from its build tree, the
 * catalogs compiled there (so ./run speaks the user's language), else the installed ones. */
const char *bt_i18n_get_locale_dir (void);
/* setlocale from the environment, then binds and selects Bottega's text domain (UTF-8). */
void        bt_i18n_init           (void);

G_END_DECLS
