/* bt-cli-train.c: `bottega-cli train DIR [OPTION…]`: every training setting as an option (the ones
 * given are saved to the project), progress in place on a terminal, plain lines otherwise. */
#include "config.h"

#include <glib/gi18n.h>
#include <glib-unix.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/bt-cli-private.h"
#include "training/bt-run-files.h"
#include "training/bt-backbones.h"
#include "training/bt-transfer.h"

typedef struct {
  BtTrainer *trainer;
  GMainLoop *loop;
  gboolean tty;
  gboolean quiet;
  gboolean line_open;        /* an in-place line is on screen */
  int last_bucket;           /* plain mode: last tenth of an epoch printed */
  int steps_per_epoch;
  gint64 last_draw_us;
  GError *error;
  gboolean finished;
  int epochs;
} TrainUi;

static char *
progress_line (int epoch, int epochs, int step, int steps, double loss, double acc,
               double val_loss, double val_acc, double img_s, double eta_s)
{
  GString *s = g_string_new (NULL);
  g_autofree char *rate = bt_cli_format_count ((guint64) (img_s + 0.5));
  g_autofree char *eta = bt_cli_format_duration (eta_s);

  g_string_append_printf (s, _("Epoch %d/%d  step %d/%d  loss %.3f  acc %.1f%%"),
                          epoch, epochs, step, steps, loss, 100 * acc);
  if (isfinite (val_loss))
    g_string_append_printf (s, _("  val_loss %.3f  val_acc %.1f%%"), val_loss, 100 * val_acc);
  g_string_append_printf (s, _("  %s img/s  ETA %s"), rate, eta);
  return g_string_free (s, FALSE);
}

static void
end_line (TrainUi *ui)
{
  if (ui->line_open)
    {
      fputs ("\r\033[K", stdout);
      ui->line_open = FALSE;
    }
}

static void
on_step (BtTrainer *trainer, const BtStepInfo *info, TrainUi *ui)
{
  g_autofree char *line = NULL;
  gint64 now = g_get_monotonic_time ();

  if (ui->quiet)
    return;
  if (info->epoch == 0)
    {
      /* preparation: images decoded so far */
      g_autofree char *done = NULL, *total = NULL;
      if (!ui->tty || now - ui->last_draw_us < 100000)
        return;
      ui->last_draw_us = now;
      done = bt_cli_format_count (info->step);
      total = bt_cli_format_count (info->steps_per_epoch);
      fputc ('\r', stdout);
      printf (_("Preparing images %s/%s"), done, total);
      fputs ("\033[K", stdout);
      fflush (stdout);
      ui->line_open = TRUE;
      return;
    }

  ui->steps_per_epoch = info->steps_per_epoch;
  line = progress_line (info->epoch, info->epochs, info->step, info->steps_per_epoch,
                        info->epoch_loss, info->epoch_acc, info->val_loss, info->val_acc,
                        info->images_per_s, info->eta_s);
  if (ui->tty)
    {
      /* a terminal redraws at most 10 times a second */
      if (now - ui->last_draw_us < 100000 && info->step != info->steps_per_epoch)
        return;
      ui->last_draw_us = now;
      printf ("\r%s\033[K", line);
      fflush (stdout);
      ui->line_open = TRUE;
    }
  else
    {
      int bucket = info->steps_per_epoch > 0 ? info->step * 10 / info->steps_per_epoch : 0;
      /* plain lines: about every tenth of an epoch; the full epoch line comes with "epoch" */
      if (bucket > ui->last_bucket && info->step < info->steps_per_epoch)
        {
          ui->last_bucket = bucket;
          printf ("%s\n", line);
          fflush (stdout);
        }
    }
}

static void
on_epoch (BtTrainer *trainer, const BtEpochInfo *info, TrainUi *ui)
{
  g_autofree char *line = NULL;
  /* the CLI draws from the throttled snapshots; drain the per-step queue */
  g_autoptr(GArray) steps = bt_trainer_take_steps (trainer);

  ui->last_bucket = 0;
  if (ui->quiet)
    return;
  line = progress_line (info->epoch, info->epochs, ui->steps_per_epoch, ui->steps_per_epoch,
                        info->train_loss, info->train_acc, info->val_loss, info->val_acc,
                        info->images_per_s, info->eta_s);
  end_line (ui);
  printf ("%s%s\n", line, info->improved ? _("  (best)") : "");
  fflush (stdout);
}

static void
on_message (BtTrainer *trainer, const char *message, TrainUi *ui)
{
  if (ui->quiet)
    return;
  end_line (ui);
  printf ("%s\n", message);
  fflush (stdout);
}

static void
on_finished (BtTrainer *trainer, const GError *error, TrainUi *ui)
{
  end_line (ui);
  if (error != NULL)
    ui->error = g_error_copy (error);
  ui->finished = TRUE;
  g_main_loop_quit (ui->loop);
}

/* The verdict once, after the run: what the curves say and what to try next. */
static void
print_verdict (BtTrainer *trainer, TrainUi *ui)
{
  const BtVerdict *v = bt_trainer_get_verdict (trainer);
  g_autofree char *text = NULL;
  g_autofree char *action = NULL;

  if (v == NULL || ui->quiet)
    return;
  text = bt_verdict_describe (v);
  action = bt_verdict_action_label (v);
  printf (_("Verdict: %s\n"), text);
  if (action != NULL)
    printf (_("Suggestion: %s\n"), action);
  fflush (stdout);
}

/* "Resume with" only for a run that has a checkpoint to resume from, and naming it. */
static void
print_resume_hint (const char *run_dir, const char *project_arg)
{
  g_autofree char *id = NULL;

  if (run_dir == NULL || bt_run_files_last_checkpoint (run_dir) == 0)
    {
      fprintf (stderr, _("Stopped before the first epoch ended: there is nothing to resume.\n"));
      return;
    }
  id = g_path_get_basename (run_dir);
  fprintf (stderr, _("Stopped. Resume with: bottega-cli train %s --resume %s\n"), project_arg, id);
}

/* After the run: the verdict, then the error, the resume hint or the model and its test
 * accuracy. Returns the exit status. */
static int
report_result (BtTrainer *trainer, TrainUi *ui, const char *project_arg)
{
  const BtEvaluation *ev = bt_trainer_get_test_evaluation (trainer);
  const char *model = bt_trainer_get_best_model_path (trainer);
  g_autoptr(GError) error = g_steal_pointer (&ui->error);

  print_verdict (trainer, ui);
  if (g_error_matches (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_CANCELLED))
    {
      print_resume_hint (bt_trainer_get_run_dir (trainer), project_arg);
      return BT_CLI_EXIT_STOPPED;
    }
  if (error != NULL)
    return bt_cli_fail ("%s", error->message);
  if (model != NULL)
    printf (_("Model saved to %s\n"), model);
  if (ev != NULL && ev->n > 0)
    {
      g_autofree char *n = bt_cli_format_count (ev->n);
      printf (_("Final test accuracy = %.1f%% (N=%s)\n"), 100 * ev->accuracy, n);
    }
  else
    printf (_("No test images: the test accuracy is unknown\n"));
  guint n_bad = bt_trainer_get_n_unreadable (trainer);
  if (n_bad > 0)
    {
      /* the model is kept, but a script must not take it for a run on all the images */
      const char *report = bt_trainer_get_unreadable_report (trainer);
      fflush (stdout);
      if (ui->quiet && report != NULL)
        fprintf (stderr, "%s\n", report);
      fprintf (stderr, g_dngettext (GETTEXT_PACKAGE,
                                    "bottega-cli: train: %u image could not be read and was left out (named "
                                    "above); replace or remove it and train again\n",
                                    "bottega-cli: train: %u images could not be read and were left out (named "
                                    "above); replace or remove them and train again\n", n_bad),
               n_bad);
      return BT_CLI_EXIT_UNREADABLE;
    }
  return BT_CLI_EXIT_OK;
}

static gboolean
on_sigint (gpointer data)
{
  TrainUi *ui = data;

  end_line (ui);
  fprintf (stderr, _("Stopping after the current batch…\n"));
  bt_trainer_stop (ui->trainer);
  return G_SOURCE_CONTINUE;
}

/* Options. Values stay at their sentinels unless given, so only given ones change the project. */
typedef struct {
  char *preset, *augment, *size, *color, *split;
  int threads;
  gboolean class_weights, no_class_weights, restore_best, no_restore_best;
  gboolean resume, quiet;
  char *resume_id;           /* --resume=RUN or --resume RUN */
  gboolean whole_network, no_whole_network;
  gboolean tta, no_tta;
  char *resume_run, *backbone;
  /* the options that are one settings row each, in the order given: parsed and checked by the
   * settings table while the command line is read */
  GPtrArray *given_rows;    /* const BtSettingInfo * */
  GPtrArray *given_values;  /* char * */
  BtProjectSettings scratch;
} TrainOptions;

typedef struct {
  const char *option;
  char        short_name;
  const char *key;    /* the settings row */
  const char *help, *arg;
} SettingOption;

static const SettingOption setting_options[] = {
  { "resize", 0, "resize", N_("Resize mode: squash, center-crop or pad"), N_("MODE") },
  { "epochs", 'e', "epochs", N_("Number of epochs"), N_("N") },
  { "batch-size", 'b', "batch-size", N_("Images per batch"), N_("N") },
  { "optimizer", 0, "optimizer", N_("sgd, adam or adamw"), N_("NAME") },
  { "lr", 0, "learning-rate", N_("Learning rate"), N_("X") },
  { "schedule", 0, "schedule", N_("Learning-rate schedule: constant, step, cosine or plateau"), N_("NAME") },
  { "weight-decay", 0, "weight-decay", N_("Weight decay"), N_("X") },
  { "dropout", 0, "dropout", N_("Dropout probability (negative: the preset’s default)"), N_("P") },
  { "label-smoothing", 0, "label-smoothing", N_("Label smoothing, 0 to 0.99"), N_("X") },
  { "early-stopping", 0, "early-stopping-patience", N_("Stop after N epochs without improvement (0: off)"), N_("N") },
  { "monitor", 0, "early-stopping-monitor", N_("What early stopping watches: val_loss or val_acc"), N_("NAME") },
  { "min-delta", 0, "early-stopping-min-delta", N_("Smallest change that counts as improvement"), N_("X") },
  { "seed", 's', "seed", N_("Random seed"), N_("N") },
  { "hidden", 0, "transfer-hidden", N_("Transfer preset: hidden units in the head (0: none)"), N_("N") },
  { "finetune-blocks", 0, "finetune-blocks",
    N_("Transfer preset: after the head, fine-tune the backbone’s last N blocks too (0: frozen)"), N_("N") },
  { "recipe", 0, "recipe", N_("Transfer preset: auto (search the head’s settings first; the default) or manual"), N_("MODE") },
};

static gboolean
setting_option_cb (const char *name, const char *value, gpointer data, GError **error)
{
  TrainOptions *o = data;
  for (guint i = 0; i < G_N_ELEMENTS (setting_options); i++)
    {
      const SettingOption *so = &setting_options[i];
      if (name[1] == '-' ? strcmp (name + 2, so->option) != 0 : name[1] != so->short_name || so->short_name == 0)
        continue;
      const BtSettingInfo *row = bt_settings_find (so->key);
      g_assert (row != NULL);
      if (!bt_setting_parse (row, &o->scratch, value, error))
        return FALSE;
      g_ptr_array_add (o->given_rows, (gpointer) row);
      g_ptr_array_add (o->given_values, g_strdup (value));
      return TRUE;
    }
  g_return_val_if_reached (FALSE);
}

static gboolean
parse_size (const char *s, int *w, int *h)
{
  char *end = NULL;
  long a = strtol (s, &end, 10), b;

  if (end == s)
    return FALSE;
  if (*end == '\0')
    b = a;
  else if (*end == 'x' || *end == 'X')
    {
      const char *p = end + 1;
      b = strtol (p, &end, 10);
      if (end == p || *end != '\0')
        return FALSE;
    }
  else
    return FALSE;
  if (a < 1 || b < 1 || a > 100000 || b > 100000)
    return FALSE;
  *w = (int) a;
  *h = (int) b;
  return TRUE;
}

static gboolean
parse_resume (const char *name, const char *value, gpointer data, GError **error)
{
  TrainOptions *o = data;  /* the main group's data (bt_cli_parse_options) */
  o->resume = TRUE;
  g_free (o->resume_id);
  o->resume_id = g_strdup (value);
  return TRUE;
}

/* Applies the options that were given; returns FALSE with a usage message. */
static gboolean
apply_options (const TrainOptions *o, BtProjectSettings *s, gboolean *changed, char **message)
{
  BtPreset preset;

#define SET(field, value) G_STMT_START { s->field = (value); *changed = TRUE; } G_STMT_END
#define SET_STR(field, value) G_STMT_START { g_free (s->field); s->field = g_strdup (value); *changed = TRUE; } G_STMT_END

  if (o->preset != NULL)
    {
      if (!bt_preset_from_id (o->preset, &preset))
        {
          *message = g_strdup_printf (_("unknown preset “%s” (use mlp, small-cnn, deeper-cnn, mini-resnet or transfer)"), o->preset);
          return FALSE;
        }
      SET_STR (preset, o->preset);
      if (o->size == NULL && o->color == NULL)
        {
          /* a new preset brings its own input size unless one is given */
          int w, h, c;
          bt_preset_default_input (preset, &w, &h, &c);
          if (preset == BT_PRESET_TRANSFER)
            {
              /* the backbone's photo input; the head's own input is the embedding */
              w = h = 224;
              SET (channels, 3);
            }
          if (w > 0 && h > 0)
            {
              SET (width, w);
              SET (height, h);
            }
        }
    }
  if (o->size != NULL)
    {
      int w, h;
      if (!parse_size (o->size, &w, &h))
        {
          *message = g_strdup_printf (_("invalid input size “%s” (use e.g. 28 or 64x48)"), o->size);
          return FALSE;
        }
      SET (width, w);
      SET (height, h);
    }
  if (o->color != NULL)
    {
      if (g_ascii_strcasecmp (o->color, "grey") == 0 || g_ascii_strcasecmp (o->color, "gray") == 0 ||
          g_strcmp0 (o->color, "1") == 0)
        SET (channels, 1);
      else if (g_ascii_strcasecmp (o->color, "rgb") == 0 || g_strcmp0 (o->color, "3") == 0)
        SET (channels, 3);
      else
        {
          *message = g_strdup_printf (_("invalid colour mode “%s” (use grey or rgb)"), o->color);
          return FALSE;
        }
    }
  for (guint i = 0; i < o->given_rows->len; i++)
    {
      /* already checked against the row's limits while parsing */
      if (!bt_setting_parse (o->given_rows->pdata[i], s, o->given_values->pdata[i], NULL))
        g_assert_not_reached ();
      *changed = TRUE;
    }
  if (o->augment != NULL)
    {
      g_auto(GStrv) parts = g_strsplit (o->augment, ",", -1);
      gboolean flip = FALSE, crop = FALSE, rotate = FALSE, color = FALSE;

      for (guint i = 0; parts[i] != NULL; i++)
        {
          const char *p = g_strstrip (parts[i]);
          if (strcmp (p, "flip") == 0) flip = TRUE;
          else if (strcmp (p, "crop") == 0) crop = TRUE;
          else if (strcmp (p, "rotate") == 0) rotate = TRUE;
          else if (strcmp (p, "color") == 0 || strcmp (p, "colour") == 0) color = TRUE;
          else if (strcmp (p, "none") == 0 || *p == '\0') ;
          else
            {
              *message = g_strdup_printf (_("unknown augmentation “%s” (use flip, crop, rotate, color or none)"), p);
              return FALSE;
            }
        }
      SET (augment_flip, flip);
      SET (augment_crop, crop);
      SET (augment_rotate, rotate);
      SET (augment_color, color);
    }
  if (o->class_weights)
    SET (class_weights, TRUE);
  if (o->no_class_weights)
    SET (class_weights, FALSE);
  if (o->restore_best)
    SET (restore_best, TRUE);
  if (o->no_restore_best)
    SET (restore_best, FALSE);
  if (o->split != NULL)
    {
      int a, b, c;
      char tail;
      if (sscanf (o->split, "%d/%d/%d%c", &a, &b, &c, &tail) != 3 || a < 0 || b < 0 || c < 0 || a + b + c != 100)
        {
          *message = g_strdup_printf (_("invalid split “%s” (use TRAIN/VAL/TEST percentages adding up to 100, e.g. 80/10/10)"), o->split);
          return FALSE;
        }
      SET (split_train, a);
      SET (split_val, b);
      SET (split_test, c);
    }
  if (o->whole_network)
    SET (transfer_whole_network, TRUE);
  if (o->no_whole_network)
    SET (transfer_whole_network, FALSE);
  if (o->tta)
    SET (tta, TRUE);
  if (o->no_tta)
    SET (tta, FALSE);
#undef SET
#undef SET_STR
  /* what no single option can break: a size over the limit, a split that does not add up */
  g_autoptr(GError) error = NULL;
  if (!bt_project_settings_validate (s, &error))
    {
      *message = g_strdup (error->message);
      return FALSE;
    }
  return TRUE;
}

/* A project never trained and no --preset: the Model page's recommendation, said with its
 * reason. Only an installed backbone counts here (the CLI does not download on its own). */
static char *
recommend_preset (BtProject *project, gboolean quiet)
{
  BtDataSummary d;
  g_autofree char *why = NULL, *path = bt_backbone_find_for_training (NULL);
  BtPreset p;

  bt_data_summary_from_project (project, 12, &d);
  p = bt_recommend_preset (&d, path != NULL, &why);
  if (!quiet)
    {
      printf (_("Preset: %s. %s\n"), p == BT_PRESET_TRANSFER ? _("Transfer learning") : _(bt_preset_title (p)), why);
      if (path == NULL && bt_recommend_preset (&d, TRUE, NULL) == BT_PRESET_TRANSFER)
        printf (_("Transfer learning would suit these photos better: download a backbone with “bottega-cli "
                  "backbones fetch”, then train again with --preset transfer.\n"));
    }
  return g_strdup (bt_preset_to_id (p));
}

/* The command's options: the fixed ones, then one per settings option (a callback that gets o);
 * NULL-terminated, freed with g_free. */
static GOptionEntry *
train_option_entries (TrainOptions *o)
{
  GOptionEntry entries[] = {
    { "preset", 'p', 0, G_OPTION_ARG_STRING, &o->preset, N_("Network: mlp, small-cnn, deeper-cnn, mini-resnet, transfer"), N_("ID") },
    { "size", 0, 0, G_OPTION_ARG_STRING, &o->size, N_("Input size in pixels, e.g. 28 or 64x48"), N_("WxH") },
    { "color", 0, 0, G_OPTION_ARG_STRING, &o->color, N_("Colour mode: grey or rgb"), N_("MODE") },
    { "augment", 0, 0, G_OPTION_ARG_STRING, &o->augment, N_("Augmentation: a comma list of flip, crop, rotate, color, or none"), N_("LIST") },
    { "class-weights", 0, 0, G_OPTION_ARG_NONE, &o->class_weights, N_("Weight the loss against class imbalance"), NULL },
    { "no-class-weights", 0, 0, G_OPTION_ARG_NONE, &o->no_class_weights, N_("Do not weight classes"), NULL },
    { "restore-best", 0, 0, G_OPTION_ARG_NONE, &o->restore_best, N_("Keep the best epoch’s weights (default)"), NULL },
    { "no-restore-best", 0, 0, G_OPTION_ARG_NONE, &o->no_restore_best, N_("Keep the last epoch’s weights"), NULL },
    { "split", 0, 0, G_OPTION_ARG_STRING, &o->split, N_("Train/validation/test percentages, e.g. 80/10/10"), N_("T/V/T") },
    { "whole-network", 0, 0, G_OPTION_ARG_NONE, &o->whole_network, N_("Transfer preset: store the backbone inside the model file"), NULL },
    { "no-whole-network", 0, 0, G_OPTION_ARG_NONE, &o->no_whole_network, N_("Transfer preset: the model file refers to the backbone by name and SHA-256 (default)"), NULL },
    { "test-time-augmentation", 0, 0, G_OPTION_ARG_NONE, &o->tta, N_("Test-time augmentation: the model averages each image with its mirror"), NULL },
    { "no-test-time-augmentation", 0, 0, G_OPTION_ARG_NONE, &o->no_tta, N_("No test-time augmentation (default)"), NULL },
    { "tta", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_NONE, &o->tta, NULL, NULL },
    { "no-tta", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_NONE, &o->no_tta, NULL, NULL },
    { "backbone", 0, 0, G_OPTION_ARG_FILENAME, &o->backbone, N_("Transfer preset: the backbone, a catalogue name (bottega-cli backbones) or a TFLite file (not saved)"), N_("NAME|FILE") },
    { "threads", 'j', 0, G_OPTION_ARG_INT, &o->threads, N_("Threads for the maths (default: all cores; not saved)"), N_("N") },
    { "resume", 'r', G_OPTION_FLAG_OPTIONAL_ARG, G_OPTION_ARG_CALLBACK, parse_resume,
      N_("Resume run RUN (an id from runs/), or the newest run when it was interrupted"), N_("[RUN]") },
    { "resume-run", 0, 0, G_OPTION_ARG_FILENAME, &o->resume_run, N_("Resume the run in folder RUN"), N_("RUN") },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &o->quiet, N_("Print only the result"), NULL },
    { NULL }
  };
  guint n_fixed = G_N_ELEMENTS (entries) - 1;
  GOptionEntry *all = g_new0 (GOptionEntry, n_fixed + G_N_ELEMENTS (setting_options) + 1);

  memcpy (all, entries, n_fixed * sizeof entries[0]);
  for (guint i = 0; i < G_N_ELEMENTS (setting_options); i++)
    all[n_fixed + i] = (GOptionEntry) { setting_options[i].option, setting_options[i].short_name, 0,
                                        G_OPTION_ARG_CALLBACK, (gpointer) setting_option_cb,
                                        setting_options[i].help, setting_options[i].arg };
  return all;
}

/* Parses the command line into o and checks its arguments: -1 when the run can go on, else the
 * exit status (the message printed). argv[1] is the project folder after it. */
static int
parse_arguments (TrainOptions *o, int *argc, char ***argv)
{
  g_autofree GOptionEntry *all = train_option_entries (o);

  if (!bt_cli_parse_options ("train", _("DIR — train the project’s model"), NULL, all, o, argc, argv))
    return BT_CLI_EXIT_USAGE;
  if (*argc < 2)
    return bt_cli_usage ("train", _("missing project folder"));
  if (*argc == 3 && o->resume && o->resume_id == NULL)
    {
      /* --resume RUN: the run is the argument that is not the project folder */
      gboolean first_is_run = !bt_cli_is_project_dir ((*argv)[1]) && bt_cli_is_project_dir ((*argv)[2]);
      o->resume_id = g_strdup ((*argv)[first_is_run ? 1 : 2]);
      if (first_is_run)
        (*argv)[1] = (*argv)[2];
      (*argc)--;
    }
  if (*argc > 2)
    return bt_cli_usage ("train", _("unexpected argument “%s”"), (*argv)[2]);
  if (o->threads != G_MININT && (o->threads < 0 || o->threads > 1024))
    return bt_cli_usage ("train", _("invalid thread count %d"), o->threads);
  if (!bt_cli_is_project_dir ((*argv)[1]))
    return bt_cli_fail (_("%s: not a Bottega project (no project.ini)"), (*argv)[1]);
  return -1;
}

/* Trains, printing progress, until the run ends or Ctrl+C stops it; the exit status. */
static int
run_training (BtProject *project, const char *resume_dir, gboolean quiet, const char *project_arg)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  g_autoptr(BtTrainer) trainer = bt_trainer_new (project);
  TrainUi ui = { .trainer = trainer, .loop = loop, .tty = isatty (STDOUT_FILENO), .quiet = quiet };
  guint sigint_id, sigterm_id;
  gboolean started;

  g_signal_connect (trainer, "step", G_CALLBACK (on_step), &ui);
  g_signal_connect (trainer, "epoch", G_CALLBACK (on_epoch), &ui);
  g_signal_connect (trainer, "message", G_CALLBACK (on_message), &ui);
  g_signal_connect (trainer, "finished", G_CALLBACK (on_finished), &ui);

  /* Ctrl+C from the moment the run folder exists stops the run cleanly */
  sigint_id = g_unix_signal_add (SIGINT, on_sigint, &ui);
  sigterm_id = g_unix_signal_add (SIGTERM, on_sigint, &ui);
  started = bt_trainer_start (trainer, resume_dir, &error);
  if (started)
    g_main_loop_run (loop);
  g_source_remove (sigint_id);
  g_source_remove (sigterm_id);
  if (!started)
    return bt_cli_fail ("%s: %s", project_arg, error->message);
  return report_result (trainer, &ui, project_arg);
}

int
bt_cli_train (int argc, char **argv)
{
  TrainOptions o = {
    .threads = G_MININT,
    .given_rows = g_ptr_array_new (),
    .given_values = g_ptr_array_new_with_free_func (g_free),
  };
  g_autoptr(GError) error = NULL;
  g_autoptr(BtProject) project = NULL;
  g_autofree char *resume_dir = NULL;
  g_autofree char *message = NULL;
  BtProjectSettings settings;
  gboolean changed = FALSE;
  int status;

  bt_project_settings_init (&o.scratch);
  bt_project_settings_init (&settings);
  if ((status = parse_arguments (&o, &argc, &argv)) >= 0)
    goto cleanup;

  project = bt_project_open (argv[1], &error);
  if (project == NULL || !bt_project_check_trainable (project, &error))
    {
      status = bt_cli_fail ("%s: %s", argv[1], error->message);
      goto cleanup;
    }

  if (o.resume || o.resume_run != NULL)
    {
      resume_dir = bt_run_files_find_resumable (argv[1], o.resume_run != NULL ? o.resume_run : o.resume_id, &error);
      if (resume_dir == NULL)
        {
          status = bt_cli_fail ("%s: %s", argv[1], error->message);
          goto cleanup;
        }
    }

  if (o.preset == NULL && o.size == NULL && o.color == NULL && resume_dir == NULL &&
      bt_project_takes_recommendation (project))
    o.preset = recommend_preset (project, o.quiet);

  bt_project_settings_clear (&settings);
  bt_project_settings_copy (&settings, bt_project_get_settings (project));
  if (!apply_options (&o, &settings, &changed, &message))
    status = bt_cli_usage ("train", "%s", message);
  else if (changed && resume_dir != NULL)
    status = bt_cli_usage ("train", _("settings cannot change while resuming a run"));
  else if (changed && (!bt_project_update_settings (project, &settings, &error) ||
                       !bt_project_flush (project, &error)))
    status = bt_cli_fail ("%s: %s", argv[1], error->message);
  else
    {
      if (o.threads != G_MININT)
        bt_engine_set_threads (o.threads);
      if ((status = bt_cli_choose_backbone (project, o.backbone, resume_dir != NULL)) < 0)
        status = run_training (project, resume_dir, o.quiet, argv[1]);
    }

cleanup:
  bt_project_settings_clear (&settings);
  bt_project_settings_clear (&o.scratch);
  g_ptr_array_unref (o.given_rows);
  g_ptr_array_unref (o.given_values);
  g_free (o.preset);
  g_free (o.augment);
  g_free (o.size);
  g_free (o.color);
  g_free (o.split);
  g_free (o.resume_run);
  g_free (o.resume_id);
  g_free (o.backbone);
  return status;
}
