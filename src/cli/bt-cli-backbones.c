/* bt-cli-backbones.c: `backbones` (list, fetch, add, use) and `compare-backbones` of
 * bottega-cli, over the catalogue and download of training/bt-backbones.c. */
#include "config.h"

#include <glib/gi18n.h>
#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/bt-cli-private.h"
#include "training/bt-backbone-compare.h"
#include "training/bt-backbones.h"

static const char *
status_text (BtBackboneStatus status)
{
  switch (status)
    {
    case BT_BACKBONE_INSTALLED:
      return _("installed, SHA-256 matches");
    case BT_BACKBONE_WRONG_CHECKSUM:
      return _("a file of that name is there, but its SHA-256 does not match");
    case BT_BACKBONE_MISSING:
    default:
      return _("not installed");
    }
}

static int
list_backbones (gboolean json)
{
  guint n;
  const BtBackboneInfo * const *all = bt_backbones_list (&n);
  g_autoptr(GString) out = g_string_new (json ? "[\n" : "");

  for (guint i = 0; i < n; i++)
    {
      const BtBackboneInfo *b = all[i];
      g_autofree char *path = NULL, *size = g_format_size (b->size);
      BtBackboneStatus st = bt_backbones_check (b, &path, NULL, NULL);
      double ms = st == BT_BACKBONE_INSTALLED ? bt_backbones_get_speed (b->sha256) : -1;

      if (json)
        {
          g_autofree char *p = path != NULL ? g_strescape (path, NULL) : NULL;
          g_string_append_printf (out,
                                  "  {\"name\": \"%s\", \"title\": \"%s\", \"file\": \"%s\", \"default\": %s, "
                                  "\"installed\": %s, \"sha256_ok\": %s, \"path\": %s%s%s, \"size\": %" G_GUINT64_FORMAT
                                  ", \"sha256\": \"%s\", \"input\": %d, \"embedding\": %d, \"top1\": ",
                                  b->id, b->title, b->file, b->is_default ? "true" : "false",
                                  path != NULL ? "true" : "false", st == BT_BACKBONE_INSTALLED ? "true" : "false",
                                  p ? "\"" : "", p ? p : "null", p ? "\"" : "", b->size, b->sha256, b->input_size,
                                  b->embedding);
          if (b->top1 >= 0)
            g_string_append_printf (out, "%.1f", b->top1);
          else
            g_string_append (out, "null");
          if (ms > 0)
            g_string_append_printf (out, ", \"ms_per_image\": %.2f", ms);
          g_string_append_printf (out, ", \"licence\": \"%s\"}%s\n", b->licence ? b->licence : "",
                                  i + 1 < n ? "," : "");
          continue;
        }
      g_string_append_printf (out, "%s%s — %s\n", b->id, b->is_default ? _(" (default)") : "", b->title);
      g_string_append_printf (out, _("  %s; %s, %d×%d input, %d values per image"), status_text (st), size,
                              b->input_size, b->input_size, b->embedding);
      if (b->top1 >= 0)
        g_string_append_printf (out, _(", ImageNet top-1 %.1f%%"), b->top1);
      if (ms > 0)
        g_string_append_printf (out, _(", %.1f ms per image here"), ms);
      g_string_append_c (out, '\n');
      if (path != NULL)
        g_string_append_printf (out, "  %s\n", path);
      g_string_append_printf (out, "  sha256 %s, %s\n", b->sha256, b->licence ? b->licence : "");
    }
  if (json)
    g_string_append (out, "]\n");
  else
    {
      g_autofree char *dir = bt_backbones_user_dir ();
      g_string_append_printf (out, _("Downloads go to %s (bottega-cli backbones fetch NAME).\n"), dir);
    }
  fputs (out->str, stdout);
  return BT_CLI_EXIT_OK;
}

typedef struct {
  GMainLoop *loop;
  GCancellable *cancel;
  char *path;
  GError *error;
  gboolean tty;
  int last_quarter;
} Fetch;

static void
fetch_progress (guint64 received, guint64 total, gpointer data)
{
  Fetch *f = data;
  g_autofree char *got = g_format_size (received), *all = g_format_size (total);
  int pct = total > 0 ? (int) (100 * received / total) : 0;

  if (f->tty)
    {
      /* Translators: download progress: bytes received, bytes expected, percent */
      printf ("\r");
      printf (_("  %s of %s (%d%%)"), got, all, pct);
      printf ("\033[K");
      fflush (stdout);
    }
  else if (pct / 25 > f->last_quarter)
    {
      f->last_quarter = pct / 25;
      printf (_("  %s of %s (%d%%)"), got, all, pct);
      printf ("\n");
      fflush (stdout);
    }
}

static void
fetch_done (GObject *source, GAsyncResult *result, gpointer data)
{
  Fetch *f = data;
  f->path = bt_backbones_download_finish (result, &f->error);
  g_main_loop_quit (f->loop);
}

static gboolean
fetch_sigint (gpointer data)
{
  Fetch *f = data;
  g_cancellable_cancel (f->cancel);
  return G_SOURCE_CONTINUE;
}

static int
fetch_backbone (const char *name, gboolean quiet)
{
  const BtBackboneInfo *info = name != NULL ? bt_backbones_lookup (name) : bt_backbones_default ();
  g_autofree char *path = NULL, *size = NULL;
  Fetch f = { 0 };
  guint sigint_id, sigterm_id;

  if (info == NULL)
    return bt_cli_usage ("backbones", _("unknown backbone “%s” (bottega-cli backbones lists them)"), name);
  if (bt_backbones_check (info, &path, NULL, NULL) == BT_BACKBONE_INSTALLED)
    {
      if (!quiet)
        printf (_("%s is already installed: %s\n"), info->title, path);
      return BT_CLI_EXIT_OK;
    }
  size = g_format_size (info->size);
  if (!quiet)
    {
      printf (_("Downloading %s (%s)…\n"), info->title, size);
      fflush (stdout);
    }
  f.loop = g_main_loop_new (NULL, FALSE);
  f.cancel = g_cancellable_new ();
  f.tty = isatty (STDOUT_FILENO);
  f.last_quarter = 0;
  sigint_id = g_unix_signal_add (SIGINT, fetch_sigint, &f);
  sigterm_id = g_unix_signal_add (SIGTERM, fetch_sigint, &f);
  bt_backbones_download_async (info, f.cancel, quiet ? NULL : fetch_progress, &f, NULL, fetch_done, &f);
  g_main_loop_run (f.loop);
  g_source_remove (sigint_id);
  g_source_remove (sigterm_id);
  if (f.tty && !quiet)
    printf ("\n");
  g_main_loop_unref (f.loop);
  g_object_unref (f.cancel);
  if (f.path == NULL)
    {
      int status = g_error_matches (f.error, G_IO_ERROR, G_IO_ERROR_CANCELLED) ? BT_CLI_EXIT_STOPPED : BT_CLI_EXIT_FAILURE;
      bt_cli_fail ("%s", f.error->message);
      g_error_free (f.error);
      return status;
    }
  printf (_("Installed %s: %s (SHA-256 checked)\n"), info->title, f.path);
  g_free (f.path);
  return BT_CLI_EXIT_OK;
}

static int
add_backbone (const char *file)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *warning = NULL;
  const BtBackboneInfo *info = NULL;
  g_autofree char *path = bt_backbones_adopt_file_sync (file, &info, &warning, NULL, &error);

  if (path == NULL)
    return bt_cli_fail (_("%s cannot be used as a backbone: %s"), file, error->message);
  if (info != NULL)
    printf (_("%s is %s (SHA-256 matches); installed as %s\n"), file, info->title, path);
  else
    {
      fprintf (stderr, _("Warning: %s\n"), warning);
      printf (_("Use it with: bottega-cli train DIR --backbone %s\n"), path);
    }
  return BT_CLI_EXIT_OK;
}

static int
use_backbone (const char *dir, const char *name)
{
  g_autoptr(GError) error = NULL;
  const BtBackboneInfo *info = bt_backbones_lookup (name);
  g_autofree char *stored = NULL;

  if (!bt_cli_is_project_dir (dir))
    return bt_cli_fail (_("%s: not a Bottega project (no project.ini)"), dir);
  stored = info != NULL ? g_strdup (info->id) : g_canonicalize_filename (name, NULL);
  if (info == NULL && !g_file_test (stored, G_FILE_TEST_IS_REGULAR))
    return bt_cli_fail (_("“%s” is neither a backbone Bottega knows (see bottega-cli backbones) nor a file"), name);
  if (!bt_backbones_set_project_choice (dir, stored, &error))
    return bt_cli_fail ("%s: %s", dir, error->message);
  printf (_("The project’s backbone is now %s\n"), info != NULL ? info->title : stored);
  return BT_CLI_EXIT_OK;
}

int
bt_cli_backbones (int argc, char **argv)
{
  gboolean json = FALSE, quiet = FALSE;
  GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, N_("List as JSON"), NULL },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, N_("fetch: print only the result"), NULL },
    { NULL }
  };
  g_autoptr(GOptionContext) context = g_option_context_new (_("[fetch [NAME] | add FILE | use DIR NAME|FILE] — the pretrained backbones"));
  g_autoptr(GError) error = NULL;

  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  g_option_context_set_translation_domain (context, GETTEXT_PACKAGE);
  g_option_context_set_description (context,
                                    _("Without a command: every backbone Bottega knows, whether it is installed, "
                                      "where, and whether its SHA-256 matches.\n"
                                      "fetch [NAME]: download NAME (the catalogue name, e.g. mobilenet_v2_1.0_224_quant; "
                                      "default: the default backbone), checked against its SHA-256.\n"
                                      "add FILE: a backbone file you already have.\n"
                                      "use DIR NAME|FILE: the backbone project DIR trains with."));
  if (!g_option_context_parse (context, &argc, &argv, &error))
    return bt_cli_usage ("backbones", "%s", error->message);
  if (argc < 2)
    return list_backbones (json);
  if (strcmp (argv[1], "fetch") == 0)
    {
      if (argc > 3)
        return bt_cli_usage ("backbones", _("unexpected argument “%s”"), argv[3]);
      return fetch_backbone (argc > 2 ? argv[2] : NULL, quiet);
    }
  if (strcmp (argv[1], "add") == 0)
    {
      if (argc != 3)
        return bt_cli_usage ("backbones", _("add takes one file"));
      return add_backbone (argv[2]);
    }
  if (strcmp (argv[1], "use") == 0)
    {
      if (argc != 4)
        return bt_cli_usage ("backbones", _("use takes a project folder and a backbone"));
      return use_backbone (argv[2], argv[3]);
    }
  return bt_cli_usage ("backbones", _("unknown backbones command “%s”"), argv[1]);
}

/* ---- compare-backbones ---- */

typedef struct {
  gboolean tty, quiet;
  guint last_index;
} CompareUi;

static void
compare_progress (const BtBackboneInfo *info, guint index, guint n, guint done, guint total, gpointer data)
{
  CompareUi *ui = data;
  if (ui->quiet)
    return;
  if (ui->tty)
    {
      printf ("\r");
      printf (_("%s (%u of %u): embedding %u of %u photos"), info->title, index + 1, n, done, total);
      printf ("\033[K");
      fflush (stdout);
    }
  else if (done == total && (index != ui->last_index || index == 0))
    {
      printf (_("%s (%u of %u): %u photos embedded\n"), info->title, index + 1, n, total);
      ui->last_index = index;
    }
}

static gboolean
compare_sigint (gpointer data)
{
  g_cancellable_cancel (data);
  return G_SOURCE_CONTINUE;
}

typedef struct {
  BtProject *project;
  guint per_class;
  int k;
  CompareUi *ui;
  GCancellable *cancel;
  GPtrArray *rows;
  GError *error;
  GMainLoop *loop;
} CompareRun;

static gboolean
quit_idle (gpointer loop)
{
  g_main_loop_quit (loop);
  return G_SOURCE_REMOVE;
}

static gpointer
compare_thread (gpointer data)
{
  CompareRun *r = data;
  r->rows = bt_backbones_compare (r->project, r->per_class, r->k, compare_progress, r->ui, r->cancel, &r->error);
  g_idle_add (quit_idle, r->loop);
  return NULL;
}

int
bt_cli_compare_backbones (int argc, char **argv)
{
  gboolean json = FALSE, quiet = FALSE;
  int per_class = BT_COMPARE_PER_CLASS, folds = BT_COMPARE_FOLDS;
  GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, N_("Print the rows as JSON"), NULL },
    { "per-class", 0, 0, G_OPTION_ARG_INT, &per_class, N_("Photos of each class to use (default 40)"), N_("N") },
    { "folds", 'k', 0, G_OPTION_ARG_INT, &folds, N_("Cross-validation folds (default 5)"), N_("K") },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, N_("Print only the result"), NULL },
    { NULL }
  };
  g_autoptr(GOptionContext) context = g_option_context_new (_("DIR — which installed backbone suits the project’s photos"));
  g_autoptr(GError) error = NULL;
  g_autoptr(BtProject) project = NULL;
  g_autoptr(GThread) thread = NULL;
  g_autoptr(GPtrArray) rows = NULL;
  CompareUi ui = { 0 };
  CompareRun run = { 0 };
  guint sigint_id;

  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  g_option_context_set_translation_domain (context, GETTEXT_PACKAGE);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    return bt_cli_usage ("compare-backbones", "%s", error->message);
  if (argc != 2)
    return bt_cli_usage ("compare-backbones", argc < 2 ? _("missing project folder") : _("unexpected argument “%s”"),
                         argc < 2 ? "" : argv[2]);
  if (per_class < 3 || folds < BT_FOLDS_MIN || folds > BT_FOLDS_MAX)
    return bt_cli_usage ("compare-backbones", _("--per-class must be at least 3 and --folds between %d and %d"),
                         BT_FOLDS_MIN, BT_FOLDS_MAX);
  if (!bt_cli_is_project_dir (argv[1]))
    return bt_cli_fail (_("%s: not a Bottega project (no project.ini)"), argv[1]);
  project = bt_project_open (argv[1], &error);
  if (project == NULL)
    return bt_cli_fail ("%s: %s", argv[1], error->message);

  ui.tty = isatty (STDOUT_FILENO) && !json;
  ui.quiet = quiet || json;
  ui.last_index = G_MAXUINT;
  run.project = project;
  run.per_class = (guint) per_class;
  run.k = folds;
  run.ui = &ui;
  run.cancel = g_cancellable_new ();
  run.loop = g_main_loop_new (NULL, FALSE);
  sigint_id = g_unix_signal_add (SIGINT, compare_sigint, run.cancel);
  thread = g_thread_new ("bt-compare", compare_thread, &run);
  g_main_loop_run (run.loop);
  g_thread_join (g_steal_pointer (&thread));
  g_source_remove (sigint_id);
  g_main_loop_unref (run.loop);
  g_object_unref (run.cancel);
  if (ui.tty)
    printf ("\n");
  rows = run.rows;
  if (rows == NULL)
    {
      int status = g_error_matches (run.error, G_IO_ERROR, G_IO_ERROR_CANCELLED) ? BT_CLI_EXIT_STOPPED : BT_CLI_EXIT_FAILURE;
      bt_cli_fail ("%s", run.error->message);
      g_error_free (run.error);
      return status;
    }

  if (json)
    {
      printf ("[\n");
      for (guint i = 0; i < rows->len; i++)
        {
          BtBackboneScore *s = g_ptr_array_index (rows, i);
          printf ("  {\"name\": \"%s\", \"title\": \"%s\", \"accuracy\": %.4f, \"spread\": %.4f, \"folds\": %d, "
                  "\"images\": %u, \"ms_per_image\": %.3f, \"size\": %" G_GUINT64_FORMAT ", \"best\": %s}%s\n",
                  s->info->id, s->info->title, s->mean_acc, s->std_acc, s->k, s->n_images, s->ms_per_image, s->size,
                  s->best ? "true" : "false", i + 1 < rows->len ? "," : "");
        }
      printf ("]\n");
      return BT_CLI_EXIT_OK;
    }
  {
    const char *best_id = NULL;
    BtBackboneScore *first = rows->len > 0 ? g_ptr_array_index (rows, 0) : NULL;
    if (first != NULL)
      printf (_("%d-fold cross-validation of a linear head on %u photos:\n"), first->k, first->n_images);
    for (guint i = 0; i < rows->len; i++)
      {
        BtBackboneScore *s = g_ptr_array_index (rows, i);
        g_autofree char *size = g_format_size (s->size);
        /* Translators: backbone, accuracy %, spread %, ms per image, file size */
        printf (_("%s %-52s %5.1f%% ± %4.1f  %6.1f ms/image  %s\n"), s->best ? "*" : " ", s->info->title,
                100 * s->mean_acc, 100 * s->std_acc, s->ms_per_image, size);
        if (s->best)
          best_id = s->info->id;
      }
    if (best_id != NULL)
      printf (_("* the best trade-off. Make it the project’s backbone: bottega-cli backbones use %s %s\n"), argv[1],
              best_id);
  }
  return BT_CLI_EXIT_OK;
}
