/* bt-cli-new.c: `bottega-cli new DIR [--from FOLDER]`: an empty project, or one imported from a
 * folder of class folders, listing every skipped file with its reason. */
#include "config.h"

#include <errno.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/bt-cli-private.h"

static const char *
skip_reason_text (BtSkipReason reason)
{
  switch (reason)
    {
    case BT_SKIP_NOT_IMAGE:   return _("not an image");
    case BT_SKIP_UNSUPPORTED: return _("unsupported format");
    case BT_SKIP_CORRUPT:     return _("corrupt");
    case BT_SKIP_TOO_LARGE:   return _("too large");
    case BT_SKIP_UNREADABLE:  return _("unreadable");
    case BT_SKIP_DUPLICATE:   return _("duplicate");
    case BT_SKIP_SPECIAL:     return _("not a regular file");
    case BT_SKIP_NO_CLASS:    return _("not in a class folder");
    case BT_SKIP_BAD_NAME:    return _("class folder name has control characters or a path separator");
    case BT_SKIP_HIDDEN:      return _("hidden");
    default:                  return _("skipped");
    }
}

#define N_REASONS (BT_SKIP_HIDDEN + 1)

typedef struct {
  gboolean tty;
  gint64 last_us;
} ScanProgress;

static void
scan_progress (guint n_seen, guint n_ok, guint n_skipped, gpointer user_data)
{
  ScanProgress *p = user_data;
  gint64 now = g_get_monotonic_time ();
  g_autofree char *seen = NULL;

  if (!p->tty || now - p->last_us < 100000)
    return;
  p->last_us = now;
  seen = bt_cli_format_count (n_seen);
  fputc ('\r', stderr);
  fprintf (stderr, _("Scanning… %s files"), seen);
  fputs ("\033[K", stderr);
  fflush (stderr);
}

/* While `new --from` runs, this file sits in the project folder: a project that still has it
 * was left by a killed or failed import, and `new` removes it and starts again. */
#define INCOMPLETE_MARK ".bottega-new-incomplete"


static int
new_failed (const char *dir, int status)
{
  bt_project_remove_partial (dir, INCOMPLETE_MARK);
  return status;
}

/* Prints every skipped file with its reason, then one line: added ("Imported 12 images"), in
 * how many classes, the skips by reason and the label conflicts. */
static void
report_scan (BtScanResult *result, const char *added, guint n_classes)
{
  guint n_skipped, counts[N_REASONS] = { 0 };
  guint dup_cursor = 0, n_dup = 0;

  /* duplicate_of lists the originals of duplicate skips, in order */
  for (guint i = 0; i < result->skipped_reasons->len; i++)
    if (g_array_index (result->skipped_reasons, BtSkipReason, i) == BT_SKIP_DUPLICATE)
      n_dup++;
  n_skipped = result->skipped_paths->len;
  for (guint i = 0; i < n_skipped; i++)
    {
      BtSkipReason reason = g_array_index (result->skipped_reasons, BtSkipReason, i);
      const char *path = g_ptr_array_index (result->skipped_paths, i);
      g_autofree char *display = g_filename_display_name (path);

      if ((guint) reason < N_REASONS)
        counts[reason]++;
      if (reason == BT_SKIP_DUPLICATE && result->duplicate_of != NULL)
        {
          const char *orig = NULL;
          if (result->duplicate_of->len == n_skipped)
            orig = g_ptr_array_index (result->duplicate_of, i);
          else if (result->duplicate_of->len == n_dup && dup_cursor < n_dup)
            orig = g_ptr_array_index (result->duplicate_of, dup_cursor++);
          if (orig != NULL)
            {
              g_autofree char *orig_display = g_filename_display_name (orig);
              printf (_("Skipped %s: duplicate of %s\n"), display, orig_display);
              continue;
            }
        }
      printf (_("Skipped %s: %s\n"), display, skip_reason_text (reason));
    }

  {
    GString *line = g_string_new (added);

    g_string_append_printf (line, g_dngettext (GETTEXT_PACKAGE, " in %u class", " in %u classes", n_classes), n_classes);
    if (n_skipped > 0)
      {
        g_autofree char *skipped = bt_cli_format_count (n_skipped);
        gboolean first = TRUE;

        g_string_append_printf (line, g_dngettext (GETTEXT_PACKAGE, "; skipped %s file (", "; skipped %s files (", n_skipped), skipped);
        /* the order of the example: the worst first */
        static const BtSkipReason order[] = { BT_SKIP_CORRUPT, BT_SKIP_NOT_IMAGE, BT_SKIP_UNSUPPORTED,
                                              BT_SKIP_TOO_LARGE, BT_SKIP_UNREADABLE, BT_SKIP_DUPLICATE,
                                              BT_SKIP_SPECIAL, BT_SKIP_NO_CLASS, BT_SKIP_BAD_NAME,
                                              BT_SKIP_HIDDEN };
        G_STATIC_ASSERT (G_N_ELEMENTS (order) == N_REASONS);
        for (guint o = 0; o < G_N_ELEMENTS (order); o++)
          {
            BtSkipReason r = order[o];
            if (counts[r] == 0)
              continue;
            g_string_append_printf (line, "%s%u %s", first ? "" : ", ", counts[r], skip_reason_text (r));
            first = FALSE;
          }
        g_string_append_c (line, ')');
      }
    if (result->n_label_conflicts > 0)
      g_string_append_printf (line, g_dngettext (GETTEXT_PACKAGE, "; %u label conflict", "; %u label conflicts",
                                                 result->n_label_conflicts), result->n_label_conflicts);
    printf ("%s\n", line->str);
    g_string_free (line, TRUE);
  }
}

int
bt_cli_new (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(BtProject) project = NULL;
  g_autoptr(BtScanResult) result = NULL;
  g_autofree char *from = NULL;
  g_autofree char *name = NULL;
  g_autofree char *dir = NULL;
  gboolean no_recursive = FALSE;
  GOptionEntry entries[] = {
    { "from", 'f', 0, G_OPTION_ARG_FILENAME, &from, N_("Import FOLDER: one class per sub-folder"), N_("FOLDER") },
    { "name", 'n', 0, G_OPTION_ARG_STRING, &name, N_("The project’s name (default: the folder’s)"), N_("NAME") },
    { "no-recursive", 0, 0, G_OPTION_ARG_NONE, &no_recursive, N_("Do not look into sub-folders of class folders"), NULL },
    { NULL }
  };
  ScanProgress progress = { 0 };
  guint n_added;

  if (!bt_cli_parse_options ("new", _("DIR — create a project"), NULL, entries, NULL, &argc, &argv))
    return BT_CLI_EXIT_USAGE;
  if (argc < 2)
    return bt_cli_usage ("new", _("missing project folder"));
  if (argc > 2)
    return bt_cli_usage ("new", _("unexpected argument “%s”"), argv[2]);

  dir = g_canonicalize_filename (argv[1], NULL);
  {
    g_autofree char *mark = g_build_filename (dir, INCOMPLETE_MARK, NULL);
    if (g_file_test (mark, G_FILE_TEST_EXISTS))
      {
        printf (_("Removing an unfinished project left by an interrupted import in %s\n"), argv[1]);
        bt_project_remove_partial (dir, INCOMPLETE_MARK);
      }
  }
  if (bt_cli_is_project_dir (dir))
    return bt_cli_fail (_("%s: already a project"), argv[1]);
  if (from != NULL && !g_file_test (from, G_FILE_TEST_IS_DIR))
    return bt_cli_fail (_("%s: not a folder"), from);
  if (name == NULL)
    name = g_path_get_basename (dir);

  if (from != NULL)
    {
      g_autofree char *mark = g_build_filename (dir, INCOMPLETE_MARK, NULL);
      if (g_mkdir_with_parents (dir, 0755) != 0 || !g_file_set_contents (mark, "", 0, &error))
        {
          if (error == NULL)
            {
              int e = errno;
              return bt_cli_fail ("%s: %s", argv[1], g_strerror (e));
            }
          return bt_cli_fail ("%s: %s", argv[1], error->message);
        }
    }

  project = bt_project_create (dir, name, &error);
  if (project == NULL)
    {
      if (from != NULL)
        bt_project_remove_partial (dir, INCOMPLETE_MARK);
      return bt_cli_fail ("%s: %s", argv[1], error->message);
    }

  if (from == NULL)
    {
      printf (_("Created an empty project in %s\n"), argv[1]);
      return BT_CLI_EXIT_OK;
    }

  {
    g_autofree char *abs_from = g_canonicalize_filename (from, NULL);
    const char *paths[] = { abs_from, NULL };

    progress.tty = isatty (STDERR_FILENO);
    result = bt_scan_paths (paths, BT_SCAN_FOLDER_OF_CLASSES, NULL, !no_recursive,
                            scan_progress, &progress, NULL, &error);
    if (progress.tty)
      fputs ("\r\033[K", stderr);
    if (result == NULL)
      {
        g_clear_object (&project);
        return new_failed (dir, bt_cli_fail ("%s: %s", from, error->message));
      }
  }

  n_added = bt_project_apply_scan (project, result, &error);
  if (error == NULL)
    bt_project_flush (project, &error);  /* saves run on a writer thread */
  if (error != NULL)
    {
      g_clear_object (&project);
      return new_failed (dir, bt_cli_fail ("%s: %s", argv[1], error->message));
    }

  {
    g_autofree char *images = bt_cli_format_count (n_added);
    g_autofree char *added = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "Imported %s image", "Imported %s images",
                                                           n_added), images);
    report_scan (result, added, g_list_model_get_n_items (bt_project_get_classes (project)));
  }
  if (n_added == 0)
    {
      g_clear_object (&project);
      return new_failed (dir, bt_cli_fail (_("%s: no images found (expected one sub-folder of images per class)"), from));
    }
  {
    /* everything is on disk (flushed above): the project is complete */
    g_autofree char *mark = g_build_filename (dir, INCOMPLETE_MARK, NULL);
    g_unlink (mark);
  }
  return BT_CLI_EXIT_OK;
}

/* `bottega-cli add PROJECT FOLDER|IMAGE… [--class NAME]`: more images into an existing project.
 * With --class everything goes into that class; without, a folder of class folders adds one
 * class per sub-folder and a folder of images adds one class named like the folder. */
int
bt_cli_add (int argc, char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(BtProject) project = NULL;
  g_autofree char *class_name = NULL;
  gboolean no_recursive = FALSE;
  GOptionEntry entries[] = {
    { "class", 'c', 0, G_OPTION_ARG_STRING, &class_name, N_("Add everything to class NAME (made if needed)"), N_("NAME") },
    { "no-recursive", 0, 0, G_OPTION_ARG_NONE, &no_recursive, N_("Do not look into sub-folders"), NULL },
    { NULL }
  };
  ScanProgress progress = { 0 };
  guint total_added = 0;

  context = g_option_context_new (_("PROJECT FOLDER|IMAGE… — add images to a project"));
  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  g_option_context_set_translation_domain (context, GETTEXT_PACKAGE);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    return bt_cli_usage ("add", "%s", error->message);
  if (argc < 2)
    return bt_cli_usage ("add", _("missing project folder"));
  if (argc < 3)
    return bt_cli_usage ("add", _("missing folder or image to add"));
  if (!bt_cli_is_project_dir (argv[1]))
    return bt_cli_fail (_("%s: not a project (no project.ini)"), argv[1]);
  if (class_name != NULL && (*g_strstrip (class_name) == '\0' || strchr (class_name, '/') != NULL))
    return bt_cli_usage ("add", _("--class needs a name without “/”"));
  for (int i = 2; i < argc; i++)
    {
      if (!g_file_test (argv[i], G_FILE_TEST_EXISTS))
        return bt_cli_fail (_("%s: no such file or folder"), argv[i]);
      if (class_name == NULL && !g_file_test (argv[i], G_FILE_TEST_IS_DIR))
        return bt_cli_usage ("add", _("%s: an image needs --class NAME (which class it shows)"), argv[i]);
    }

  project = bt_project_open (argv[1], &error);
  if (project == NULL)
    return bt_cli_fail ("%s: %s", argv[1], error->message);
  progress.tty = isatty (STDERR_FILENO);

  for (int i = 2; i < argc; i++)
    {
      g_autofree char *abs = g_canonicalize_filename (argv[i], NULL);
      const char *paths[] = { abs, NULL };
      g_autoptr(BtScanResult) result = NULL;
      g_autofree char *images = NULL;
      g_autofree char *added = NULL;
      BtScanMode mode = BT_SCAN_FILES_INTO_CLASS;
      guint n_added;

      if (class_name == NULL)
        {
          /* sub-folders: one class each; none: the folder is one class (the walk's plan says) */
          g_autoptr(BtScanResult) plan = bt_scan_plan (paths, BT_SCAN_FOLDER_OF_CLASSES, NULL, FALSE, 1, NULL, NULL);

          mode = plan != NULL && plan->class_names->len > 0 ? BT_SCAN_FOLDER_OF_CLASSES : BT_SCAN_FOLDER_AS_CLASS;
        }
      result = bt_scan_paths (paths, mode, class_name, !no_recursive, scan_progress, &progress, NULL, &error);
      if (progress.tty)
        fputs ("\r\033[K", stderr);
      if (result == NULL)
        return bt_cli_fail ("%s: %s", argv[i], error->message);
      n_added = bt_project_apply_scan (project, result, &error);
      if (error != NULL)
        return bt_cli_fail ("%s: %s", argv[1], error->message);
      total_added += n_added;
      images = bt_cli_format_count (n_added);
      added = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "Added %s image from %s", "Added %s images from %s",
                                            n_added), images, argv[i]);
      if (result->paths->len > n_added)
        {
          guint already = result->paths->len - n_added;
          char *t = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%s (%u was already in the project)",
                                                  "%s (%u were already in the project)", already), added, already);
          g_free (added);
          added = t;
        }
      report_scan (result, added, result->class_names->len);
    }
  if (!bt_project_flush (project, &error))
    return bt_cli_fail ("%s: %s", argv[1], error->message);
  if (total_added == 0)
    return bt_cli_fail (_("no new images were added"));
  return BT_CLI_EXIT_OK;
}
