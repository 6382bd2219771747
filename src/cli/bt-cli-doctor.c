/* bt-cli-doctor.c: `bottega-cli doctor PROJECT [--json] [--folds K] [--seed N]`, the data
 * doctor's report (label issues, near-duplicates, outliers, quality) on stdout. */
#include "config.h"

#include <glib/gi18n.h>
#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include "cli/bt-cli-private.h"
#include "doctor/bt-doctor.h"

#define TOP 10

typedef struct {
  BtDoctorInput  *input;
  BtDoctorOptions opts;
  GCancellable   *cancel;
  GMainLoop      *loop;
  BtDoctorReport *report;
  GError         *error;
  gboolean        tty;
} DoctorRun;

static void
on_progress (const char *stage, double fraction, gpointer user_data)
{
  DoctorRun *st = user_data;
  if (!st->tty)
    return;
  const char *what = g_str_equal (stage, "decode") || g_str_equal (stage, "embed") ? _("Reading images")
                   : g_str_equal (stage, "folds") ? _("Out-of-fold predictions")
                   : g_str_equal (stage, "duplicates") ? _("Looking for duplicates")
                   : _("Looking for outliers");
  fprintf (stderr, "\r\033[K%s… %3.0f%%", what, 100.0 * fraction);
  fflush (stderr);
}

static gboolean
quit_loop (gpointer data)
{
  g_main_loop_quit (data);
  return G_SOURCE_REMOVE;
}

static gpointer
doctor_thread (gpointer data)
{
  DoctorRun *st = data;
  st->report = bt_doctor_run (st->input, &st->opts, on_progress, st, st->cancel, &st->error);
  g_idle_add (quit_loop, st->loop);
  return NULL;
}

static gboolean
on_sigint (gpointer data)
{
  g_cancellable_cancel (data);
  return G_SOURCE_CONTINUE;
}

static void
print_report (const BtDoctorReport *r)
{
  guint leak = 0, conflict = 0;
  for (guint i = 0; i < r->duplicates->len; i++)
    {
      const BtDoctorDuplicate *d = &g_array_index (r->duplicates, BtDoctorDuplicate, i);
      leak += bt_doctor_duplicate_is_leakage (r, d);
      conflict += bt_doctor_duplicate_is_conflict (r, d);
    }
  printf (_("Label issues: %u (out-of-fold accuracy %.1f%%)\n"), r->label_issues->len, 100.0 * r->oof_accuracy);
  for (guint i = 0; i < MIN (r->label_issues->len, TOP); i++)
    {
      const BtDoctorLabelIssue *x = &g_array_index (r->label_issues, BtDoctorLabelIssue, i);
      g_autofree char *p = g_filename_display_name (bt_doctor_report_path (r, x->item));
      /* Translators: score, path, given class, suggested class */
      printf (_("  %.2f  %s: labelled “%s”, probably “%s”\n"), x->score, p,
              bt_doctor_report_class (r, x->label), bt_doctor_report_class (r, x->suggested));
    }
  printf (_("Near-duplicate pairs: %u (%u across splits, %u with different labels)\n"),
          r->duplicates->len, leak, conflict);
  for (guint i = 0; i < MIN (r->duplicates->len, TOP); i++)
    {
      const BtDoctorDuplicate *d = &g_array_index (r->duplicates, BtDoctorDuplicate, i);
      g_autofree char *a = g_filename_display_name (bt_doctor_report_path (r, d->a));
      g_autofree char *b = g_filename_display_name (bt_doctor_report_path (r, d->b));
      printf ("  %.3f  %s (%s) ≈ %s (%s)%s%s\n", d->distance,
              a, bt_split_to_string (bt_doctor_report_split (r, d->a)),
              b, bt_split_to_string (bt_doctor_report_split (r, d->b)),
              bt_doctor_duplicate_is_leakage (r, d) ? _(" — leakage") : "",
              bt_doctor_duplicate_is_conflict (r, d) ? _(" — conflicting labels") : "");
    }
  printf (_("Outliers: %u\n"), r->outliers->len);
  for (guint i = 0; i < MIN (r->outliers->len, TOP); i++)
    {
      const BtDoctorOutlier *o = &g_array_index (r->outliers, BtDoctorOutlier, i);
      g_autofree char *p = g_filename_display_name (bt_doctor_report_path (r, o->item));
      printf ("  %.2f  %s\n", o->score, p);
    }
  printf (_("Quality problems: %u images\n"), r->quality->len);
  for (guint i = 0; i < MIN (r->quality->len, TOP); i++)
    {
      const BtDoctorQuality *q = &g_array_index (r->quality, BtDoctorQuality, i);
      g_autofree char *p = g_filename_display_name (bt_doctor_report_path (r, q->item));
      g_autoptr (GString) probs = g_string_new (NULL);
      for (int bit = 0; bit < BT_DOCTOR_N_PROBLEMS; bit++)
        if (q->problems & (1u << bit))
          g_string_append_printf (probs, "%s%s", probs->len ? ", " : "", bt_doctor_problem_to_id (bit));
      printf ("  %s: %s\n", p, probs->str);
    }
  if (r->n_unreadable > 0)
    printf (_("Unreadable images (left out): %u\n"), r->n_unreadable);
}

int
bt_cli_doctor (int argc, char **argv)
{
  int folds = 5;
  gint64 seed = 1;
  gboolean json = FALSE;
  g_auto (GStrv) rest = NULL;
  GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, N_("Print one JSON object"), NULL },
    { "folds", 0, 0, G_OPTION_ARG_INT, &folds, N_("Folds of the out-of-fold predictions, 2 to 20 (default 5)"), N_("K") },
    { "seed", 0, 0, G_OPTION_ARG_INT64, &seed, N_("Seed of the folds and the training (default 1)"), N_("N") },
    { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &rest, NULL, NULL },
    { NULL }
  };
  if (!bt_cli_parse_options ("doctor", _("PROJECT"),
                             _("Finds probable label errors, near-duplicates (and the ones that leak "
                               "between splits), outliers and poor-quality images."),
                             entries, NULL, &argc, &argv))
    return BT_CLI_EXIT_USAGE;
  g_autoptr (GError) error = NULL;
  if (rest == NULL || g_strv_length (rest) != 1)
    return bt_cli_usage ("doctor", _("give one project folder"));
  if (folds < 2 || folds > 20)
    return bt_cli_usage ("doctor", _("--folds must be between 2 and 20"));
  if (seed < 0)
    return bt_cli_usage ("doctor", _("--seed must not be negative"));
  if (!bt_cli_is_project_dir (rest[0]))
    return bt_cli_fail (_("“%s” is not a Bottega project (no project.ini)"), rest[0]);

  g_autoptr (BtProject) project = bt_project_open (rest[0], &error);
  if (project == NULL)
    return bt_cli_fail (_("cannot open the project: %s"), error->message);

  DoctorRun st = { 0 };
  st.input = bt_doctor_input_new (project);
  bt_doctor_options_init (&st.opts);
  st.opts.folds = folds;
  st.opts.seed = (guint64) seed;
  st.cancel = g_cancellable_new ();
  st.loop = g_main_loop_new (NULL, FALSE);
  st.tty = isatty (STDERR_FILENO);
  guint sig = g_unix_signal_add (SIGINT, on_sigint, st.cancel);
  GThread *thread = g_thread_new ("doctor", doctor_thread, &st);
  g_main_loop_run (st.loop);
  g_thread_join (thread);
  g_source_remove (sig);
  if (st.tty)
    fprintf (stderr, "\r\033[K");

  int status = BT_CLI_EXIT_OK;
  if (st.report == NULL)
    {
      if (g_error_matches (st.error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          fprintf (stderr, "%s\n", _("Stopped."));
          status = BT_CLI_EXIT_STOPPED;
        }
      else
        status = bt_cli_fail (_("the doctor failed: %s"), st.error->message);
    }
  else if (json)
    {
      g_autofree char *text = bt_doctor_report_to_json (st.report);
      fputs (text, stdout);
    }
  else
    print_report (st.report);
  g_clear_pointer (&st.report, bt_doctor_report_free);
  g_clear_error (&st.error);
  bt_doctor_input_free (st.input);
  g_object_unref (st.cancel);
  g_main_loop_unref (st.loop);
  return status;
}
