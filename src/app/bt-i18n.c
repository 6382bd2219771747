/* bt-i18n.c: the locale and Bottega's gettext domain, from the installed catalogs or, in a
 * development build run from the build tree, from the catalogs just compiled there. */
#include "config.h"

#include <glib/gi18n.h>
#include <locale.h>

#include "bt-i18n.h"

const char *
bt_i18n_get_locale_dir (void)
{
#if DEVELOPMENT
  static const char *dir;

  if (dir == NULL)
    {
      g_autofree char *probe = g_build_filename (BUILD_LOCALEDIR, "it", "LC_MESSAGES", GETTEXT_PACKAGE ".mo", NULL);
      /* the build tree may be gone (an installed development build): then the installed ones */
      dir = g_file_test (probe, G_FILE_TEST_IS_REGULAR) ? BUILD_LOCALEDIR : LOCALEDIR;
    }
  return dir;
#else
  return LOCALEDIR;
#endif
}

void
bt_i18n_init (void)
{
  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, bt_i18n_get_locale_dir ());
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);
}
