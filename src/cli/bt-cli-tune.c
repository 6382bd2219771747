/* bt-cli-tune.c: the `tune` (hyperparameter search) and `cv` (k-fold cross-validation)
 * commands of bottega-cli. Trials print as they finish, then the leaderboard. */
#include "config.h"

#include <glib/gi18n.h>
#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include "cli/bt-cli-private.h"
#include "training/bt-kfold.h"
#include "training/bt-transfer.h"
#include "training/bt-tune.h"

static void
print_trial (const BtTuneTrial *t, gpointer user_data)
{
  g_autofree char *desc = bt_tune_trial_describe (t);
  g_autofree char *early = NULL;
  if (!t->diverged && t->curve_acc->len > 0 && t->curve_acc->len < (guint) t->epochs)
    /* Translators: appended to a trial's line when the project's early stopping ended it */
    early = g_strdup_printf (_(" (early stopping after epoch %u)"), t->curve_acc->len);
  /* Translators: trial number, rung, epochs, its settings, validation accuracy in %, loss, seconds */
  printf (_("trial %d (rung %d, %d epochs): %s — validation accuracy %.1f%%, loss %.4f, %.1f s%s\n"),
          t->index + 1, t->rung, t->epochs, desc, 100.0 * t->val_acc, t->val_loss, t->seconds,
          t->diverged ? _(" (diverged)") : early != NULL ? early : "");
  fflush (stdout);
}

/* The project's train+val snapshot; for a transfer project the backbone (--backbone, else the
 * project's choice) is chosen first and what the trials train is said. NULL after the message. */
static BtTuneData *
open_data (const char *dir, const char *backbone, BtProject **project_out)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (BtProject) project = bt_project_open (dir, &error);
  if (project == NULL)
    {
      bt_cli_fail ("%s: %s", dir, error->message);
      return NULL;
    }
  if (bt_cli_choose_backbone (project, backbone, FALSE) >= 0)
    return NULL;
  BtTuneData *d = bt_tune_data_new (project, &error);
  if (d == NULL)
    {
      bt_cli_fail ("%s: %s", dir, error->message);
      return NULL;
    }
  if (bt_tune_data_is_transfer (d))
    {
      g_autofree char *path = bt_backbone_find_for_training (NULL);
      g_autofree char *name = path != NULL ? g_path_get_basename (path) : NULL;
      printf (_("Transfer project: every trial trains only the head, on the embeddings of %s (computed once "
                "and cached); fine-tuning stays off.\n"), name != NULL ? name : "?");
      fflush (stdout);
    }
  *project_out = g_steal_pointer (&project);
  return d;
}

/* The first phase, reading the photos once (a transfer project's: through the backbone), as the
 * Search window says it: redrawn in place on a terminal, else a line per tenth. */
typedef struct {
  BtTuneData *data;
  gboolean    tty, open, ended;
  gint64      last_us;
  int         last_tenth;
} PrepareLine;

static void
print_prepare (guint done, guint total, gpointer user_data)
{
  PrepareLine *pl = user_data;
  gint64 now = g_get_monotonic_time ();
  int tenth = total > 0 ? (int) ((guint64) done * 10 / total) : 10;
  if (pl->ended || (pl->tty ? done < total && now - pl->last_us < 100000 : tenth == pl->last_tenth))
    return;
  pl->last_us = now;
  pl->last_tenth = tenth;
  pl->ended = done >= total;
  g_autofree char *line = bt_tune_data_describe_prepare (pl->data, done, total);
  if (pl->tty)
    printf ("\r%s\033[K%s", line, pl->ended ? "\n" : "");
  else
    printf ("%s\n", line);
  pl->open = pl->tty && !pl->ended;
  fflush (stdout);
}

/* Reads the photos once before the first trial or fold, saying how far it is. */
static gboolean
prepare_data (BtTuneData *d, GCancellable *cancel, GError **error)
{
  PrepareLine pl = { d, isatty (STDOUT_FILENO), FALSE, FALSE, 0, -1 };
  gboolean ok = bt_tune_data_prepare_full (d, print_prepare, &pl, NULL, NULL, cancel, error);
  if (pl.open)
    putchar ('\n');
  return ok;
}

typedef struct {
  BtTuneSearch *search;
  BtTuneData   *data;
  GCancellable *cancel;
  GMainLoop    *loop;
  GError       *error;
  gboolean      ok;
} RunState;

static gboolean
quit_loop (gpointer data)
{
  g_main_loop_quit (data);
  return G_SOURCE_REMOVE;
}

static gpointer
run_thread (gpointer data)
{
  RunState *st = data;
  st->ok = prepare_data (st->data, st->cancel, &st->error) &&
           bt_tune_search_run (st->search, st->data, print_trial, NULL, st->cancel, &st->error);
  if (!st->ok && g_error_matches (st->error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      g_clear_error (&st->error);   /* Ctrl+C while the photos were read */
      g_set_error_literal (&st->error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_CANCELLED, _("The search was stopped."));
    }
  g_idle_add (quit_loop, st->loop);
  return NULL;
}

static gboolean
on_sigint (gpointer data)
{
  RunState *st = data;
  fprintf (stderr, "%s\n", _("Stopping after the current step; “--resume” continues the search."));
  g_cancellable_cancel (st->cancel);
  return G_SOURCE_CONTINUE;
}

int
bt_cli_tune (int argc, char **argv)
{
  g_autofree char *strategy = NULL;
  int trials = -1, epochs = 0;
  double minutes = 0;
  gboolean resume = FALSE;
  g_auto (GStrv) rest = NULL;
  g_autofree char *seed_s = NULL, *backbone = NULL;
  GOptionEntry entries[] = {
    { "strategy", 0, 0, G_OPTION_ARG_STRING, &strategy, N_("grid, random or adaptive (default random)"), N_("NAME") },
    { "trials", 0, 0, G_OPTION_ARG_INT, &trials, N_("Stop after N trials"), N_("N") },
    { "minutes", 0, 0, G_OPTION_ARG_DOUBLE, &minutes, N_("Stop starting trials after M minutes"), N_("M") },
    { "epochs", 0, 0, G_OPTION_ARG_INT, &epochs, N_("Epochs of a full trial"), N_("N") },
    { "seed", 0, 0, G_OPTION_ARG_STRING, &seed_s, N_("Search seed (default: the project's seed)"), N_("N") },
    { "resume", 0, 0, G_OPTION_ARG_NONE, &resume, N_("Continue the newest unfinished search"), NULL },
    { "backbone", 0, 0, G_OPTION_ARG_FILENAME, &backbone, N_("Transfer preset: the backbone, a catalogue name (bottega-cli backbones) or a TFLite file (not saved)"), N_("NAME|FILE") },
    { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &rest, NULL, NULL },
    { NULL }
  };
  g_autoptr (GError) error = NULL;
  guint64 useed = 0;
  if (!bt_cli_parse_options ("tune", _("PROJECT_DIR"), NULL, entries, NULL, &argc, &argv))
    return BT_CLI_EXIT_USAGE;
  if (seed_s != NULL && !g_ascii_string_to_unsigned (seed_s, 10, 0, G_MAXUINT64, &useed, &error))
    return bt_cli_usage ("tune", "%s", error->message);
  if (rest == NULL)
    return bt_cli_usage ("tune", _("missing project folder"));
  if (g_strv_length (rest) > 1)
    return bt_cli_usage ("tune", _("unexpected argument “%s”"), rest[1]);
  g_autoptr (BtProject) project = NULL;
  g_autoptr (BtTuneData) d = open_data (rest[0], backbone, &project);
  if (d == NULL)
    return 1;
  g_autoptr (BtTuneSearch) search = NULL;
  if (resume)
    {
      g_autofree char *dir = bt_tune_find_resumable (rest[0]);
      if (dir == NULL)
        {
          return bt_cli_fail (_("%s: there is no unfinished search to resume"), rest[0]);
        }
      search = bt_tune_search_open (dir, &error);
      for (guint i = 0; search && i < bt_tune_search_get_trials (search)->len; i++)
        print_trial (g_ptr_array_index (bt_tune_search_get_trials (search), i), NULL);
    }
  else
    {
      BtTuneOptions opts;
      bt_tune_options_init (&opts, bt_project_get_settings (project));
      if (strategy != NULL && !bt_tune_strategy_from_id (strategy, &opts.strategy))
        {
          bt_tune_options_clear (&opts);
          return bt_cli_usage ("tune", _("unknown strategy “%s” (use grid, random or adaptive)"), strategy);
        }
      if (trials >= 0)
        opts.max_trials = trials;
      opts.max_minutes = minutes;
      if (epochs > 0)
        opts.epochs = epochs;
      if (seed_s != NULL)
        opts.seed = useed;
      search = bt_tune_search_new (rest[0], bt_project_get_settings (project), &opts, &error);
      bt_tune_options_clear (&opts);
    }
  if (search == NULL)
    return bt_cli_fail ("%s: %s", rest[0], error->message);
  /* the search runs on a worker so Ctrl+C can stop it cleanly (the finished trials are saved) */
  g_autoptr (GCancellable) cancel = g_cancellable_new ();
  g_autoptr (GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  RunState st = { search, d, cancel, loop, NULL, FALSE };
  guint sigint_id = g_unix_signal_add (SIGINT, on_sigint, &st);
  guint sigterm_id = g_unix_signal_add (SIGTERM, on_sigint, &st);
  GThread *thread = g_thread_new ("bt-tune", run_thread, &st);
  g_main_loop_run (loop);
  g_thread_join (thread);
  g_source_remove (sigint_id);
  g_source_remove (sigterm_id);
  if (!st.ok)
    {
      gboolean stopped = g_error_matches (st.error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_CANCELLED);
      int status = stopped ? BT_CLI_EXIT_STOPPED : BT_CLI_EXIT_FAILURE;
      bt_cli_fail (_("The search failed: %s"), st.error->message);
      g_clear_error (&st.error);
      return status;
    }
  g_autoptr (GPtrArray) board = bt_tune_search_leaderboard (search);
  printf ("%s\n", _("Leaderboard (validation accuracy):"));
  for (guint i = 0; i < board->len; i++)
    {
      const BtTuneTrial *t = g_ptr_array_index (board, i);
      g_autofree char *desc = bt_tune_trial_describe (t);
      printf ("%2u. %5.1f%%  %.4f  %s (%d epochs, trial %d)\n", i + 1, 100.0 * t->val_acc, t->val_loss, desc,
              t->epochs, t->index + 1);
    }
  g_autofree char *shown = g_filename_display_name (bt_tune_search_get_dir (search));
  printf (_("Results saved in %s\n"), shown);
  return BT_CLI_EXIT_OK;
}

static void
print_fold (int fold, const BtTuneTrial *t, gpointer user_data)
{
  printf (_("fold %d: validation accuracy %.1f%%, loss %.4f (best of %d epochs at %d)\n"), fold + 1,
          100.0 * t->val_acc, t->val_loss, t->epochs, t->best_epoch);
  fflush (stdout);
}

int
bt_cli_cv (int argc, char **argv)
{
  int k = 5, epochs = 0;
  g_auto (GStrv) rest = NULL;
  g_autofree char *backbone = NULL;
  GOptionEntry entries[] = {
    { "k", 0, 0, G_OPTION_ARG_INT, &k, N_("Number of folds, 3 to 10 (default 5)"), N_("N") },
    { "epochs", 0, 0, G_OPTION_ARG_INT, &epochs, N_("Epochs per fold (default: the project's)"), N_("N") },
    { "backbone", 0, 0, G_OPTION_ARG_FILENAME, &backbone, N_("Transfer preset: the backbone, a catalogue name (bottega-cli backbones) or a TFLite file (not saved)"), N_("NAME|FILE") },
    { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &rest, NULL, NULL },
    { NULL }
  };
  g_autoptr (GError) error = NULL;
  if (!bt_cli_parse_options ("cv", _("PROJECT_DIR"), NULL, entries, NULL, &argc, &argv))
    return BT_CLI_EXIT_USAGE;
  if (rest == NULL)
    return bt_cli_usage ("cv", _("missing project folder"));
  if (g_strv_length (rest) > 1)
    return bt_cli_usage ("cv", _("unexpected argument “%s”"), rest[1]);
  if (epochs < 0)
    return bt_cli_usage ("cv", _("--epochs cannot be negative"));
  g_autoptr (BtProject) project = NULL;
  g_autoptr (BtTuneData) d = open_data (rest[0], backbone, &project);
  if (d == NULL)
    return 1;
  g_autoptr (BtTuneTrial) setting = bt_kfold_setting_from_project (d, epochs);
  /* a k out of range is refused by bt_kfold_run before any photo is read */
  gboolean k_ok = k >= BT_FOLDS_MIN && k <= BT_FOLDS_MAX;
  g_autoptr (BtKFoldResult) r = !k_ok || prepare_data (d, NULL, &error)
                                ? bt_kfold_run (d, setting, k, print_fold, NULL, NULL, &error) : NULL;
  if (r == NULL)
    return bt_cli_fail (_("Cross-validation failed: %s"), error->message);
  /* Translators: k, mean accuracy ± standard deviation, lowest and highest fold */
  printf (_("%d-fold validation accuracy: %.1f%% ± %.1f%% (folds from %.1f%% to %.1f%%)\n"), r->k,
          100.0 * r->mean_acc, 100.0 * r->std_acc, 100.0 * r->min_acc, 100.0 * r->max_acc);
  return BT_CLI_EXIT_OK;
}
