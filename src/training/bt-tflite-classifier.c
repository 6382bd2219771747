/* bt-tflite-classifier.c: a TensorFlow Lite classifier run as it is (bt-tflite-classifier.h):
 * the graph from bt-tflite.c, the class names and recipe from its metadata (JSON, parsed here
 * with every length and value checked), the image through the same preparation as our models. */
#include "config.h"

#include <glib/gi18n-lib.h>
#include <math.h>
#include <string.h>

#include "training/bt-model-runner.h"
#include "training/bt-tflite-classifier.h"
#include "training/bt-training-private.h"

/* ---- A small JSON reader for the two shapes Bottega writes ---- */

typedef struct {
  const char *p, *end;
} Json;

static void
json_ws (Json *j)
{
  while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
    j->p++;
}

static gboolean
json_eat (Json *j, char c)
{
  json_ws (j);
  if (j->p < j->end && *j->p == c)
    {
      j->p++;
      return TRUE;
    }
  return FALSE;
}

/* A string (escapes decoded, valid UTF-8 without control characters), or NULL. */
static char *
json_string (Json *j)
{
  g_autoptr(GString) s = g_string_new (NULL);

  if (!json_eat (j, '"'))
    return NULL;
  while (j->p < j->end && *j->p != '"')
    {
      char c = *j->p++;
      if ((guchar) c < 0x20)
        return NULL;
      if (c != '\\')
        {
          g_string_append_c (s, c);
          continue;
        }
      if (j->p >= j->end)
        return NULL;
      c = *j->p++;
      switch (c)
        {
        case '"': case '\\': case '/': g_string_append_c (s, c); break;
        case 'b': case 'f': case 'n': case 'r': case 't': return NULL;   /* control characters */
        case 'u':
          {
            char hex[5] = { 0 };
            guint64 v;
            if (j->end - j->p < 4)
              return NULL;
            memcpy (hex, j->p, 4);
            j->p += 4;
            if (!g_ascii_string_to_unsigned (hex, 16, 0x20, 0xffff, &v, NULL) || (v >= 0xd800 && v <= 0xdfff))
              return NULL;
            g_string_append_unichar (s, (gunichar) v);
            break;
          }
        default:
          return NULL;
        }
    }
  if (!json_eat (j, '"') || !g_utf8_validate (s->str, (gssize) s->len, NULL))
    return NULL;
  return g_string_free (g_steal_pointer (&s), FALSE);
}

static gboolean
json_number (Json *j, double *out)
{
  char buf[64];
  gsize n = 0;
  char *end = NULL;

  json_ws (j);
  while (j->p + n < j->end && n < sizeof buf - 1 && strchr ("+-0123456789.eE", j->p[n]) != NULL)
    n++;
  if (n == 0 || n == sizeof buf - 1)
    return FALSE;
  memcpy (buf, j->p, n);
  buf[n] = '\0';
  *out = g_ascii_strtod (buf, &end);
  if (end != buf + n || !isfinite (*out))
    return FALSE;
  j->p += n;
  return TRUE;
}

static gboolean
json_end (Json *j)
{
  json_ws (j);
  return j->p == j->end || (j->end - j->p == 1 && *j->p == '\0');
}

static gboolean
invalid (GError **error, const char *what)
{
  g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID,
               /* Translators: %s is "class names", "preprocessing recipe" or "saved thresholds" */
               _("The file’s %s cannot be read"), what);
  return FALSE;
}

char **
bt_tflite_labels_from_json (const char *json, gsize len, GError **error)
{
  Json j = { json, json + len };
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);

  if (!json_eat (&j, '['))
    return invalid (error, _("class names")), NULL;
  if (!json_eat (&j, ']'))
    do
      {
        char *name = json_string (&j);
        if (name == NULL || name[0] == '\0' || names->len >= BT_TFLITE_CLASSIFIER_MAX_CLASSES)
          {
            g_free (name);
            return invalid (error, _("class names")), NULL;
          }
        g_ptr_array_add (names, name);
      }
    while (json_eat (&j, ','));
  else
    return invalid (error, _("class names")), NULL;
  if ((names->len > 0 && !json_eat (&j, ']')) || !json_end (&j))
    return invalid (error, _("class names")), NULL;
  g_ptr_array_add (names, NULL);
  return (char **) g_ptr_array_free (g_steal_pointer (&names), FALSE);
}

gboolean
bt_tflite_preprocessing_from_json (const char *json, gsize len, BtPreprocess *prep, GError **error)
{
  Json j = { json, json + len };
  BtPreprocess p;
  guint seen = 0;

  memset (&p, 0, sizeof p);
  for (int c = 0; c < 3; c++)
    p.std[c] = 1.0f;
  if (!json_eat (&j, '{'))
    return invalid (error, _("preprocessing recipe"));
  do
    {
      g_autofree char *key = json_string (&j);
      double v;
      if (key == NULL || !json_eat (&j, ':'))
        return invalid (error, _("preprocessing recipe"));
      if (g_str_equal (key, "resize"))
        {
          g_autofree char *mode = json_string (&j);
          if (mode == NULL || !bt_resize_mode_from_string (mode, &p.resize))
            return invalid (error, _("preprocessing recipe"));
          seen |= 1;
        }
      else if (g_str_equal (key, "mean") || g_str_equal (key, "std"))
        {
          float *dst = key[0] == 'm' ? p.mean : p.std;
          int n = 0;
          if (!json_eat (&j, '['))
            return invalid (error, _("preprocessing recipe"));
          do
            {
              if (n >= 3 || !json_number (&j, &v) || fabs (v) > 1e6 || (key[0] == 's' && fabs (v) < 1e-6))
                return invalid (error, _("preprocessing recipe"));
              dst[n++] = (float) v;
            }
          while (json_eat (&j, ','));
          if (!json_eat (&j, ']'))
            return invalid (error, _("preprocessing recipe"));
          seen |= key[0] == 'm' ? 2 : 4;
        }
      else if (json_number (&j, &v))
        {
          if (g_str_equal (key, "scale") && fabs (v) > 1e-9 && fabs (v) < 1e6)
            p.scale = (float) v, seen |= 8;
          else if (v != floor (v) || v < 1 || v > 4096)
            return invalid (error, _("preprocessing recipe"));
          else if (g_str_equal (key, "width"))
            p.width = (int) v, seen |= 16;
          else if (g_str_equal (key, "height"))
            p.height = (int) v, seen |= 32;
          else if (g_str_equal (key, "channels") && (v == 1 || v == 3))
            p.channels = (int) v, seen |= 64;
          else
            return invalid (error, _("preprocessing recipe"));
        }
      else
        return invalid (error, _("preprocessing recipe"));
    }
  while (json_eat (&j, ','));
  if (!json_eat (&j, '}') || !json_end (&j) || seen != 127)
    return invalid (error, _("preprocessing recipe"));
  if (p.channels == 1)
    for (int c = 1; c < 3; c++)
      p.mean[c] = p.mean[0], p.std[c] = p.std[0];
  *prep = p;
  return TRUE;
}

static gboolean
json_literal (Json *j, const char *word)
{
  gsize n = strlen (word);

  json_ws (j);
  if ((gsize) (j->end - j->p) < n || memcmp (j->p, word, n) != 0)
    return FALSE;
  j->p += n;
  return TRUE;
}

/* The unknown score the exporter's "thresholds" entry is defined on (bt-tflite-export.c). */
#define UNKNOWN_SCORE_RULE "-temperature*logsumexp(logits)"

static gboolean
read_class_thresholds (Json *j, const char * const *names, int n, double *t, GError **error)
{
  if (!json_eat (j, '{'))
    return invalid (error, _("saved thresholds"));
  if (json_eat (j, '}'))
    return TRUE;
  do
    {
      g_autofree char *name = json_string (j);
      double v;
      int k = 0;

      if (name == NULL || !json_eat (j, ':'))
        return invalid (error, _("saved thresholds"));
      while (k < n && strcmp (names[k], name) != 0)
        k++;
      if (k == n)
        {
          g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID,
                       _("The file’s saved thresholds name a class it does not have (“%s”)"), name);
          return FALSE;
        }
      if (!json_number (j, &v) || !(v >= 0 && v <= 1) || !isnan (t[k]))
        {
          g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID,
                       _("The file’s saved threshold for “%s” is not one probability between 0 and 1"), name);
          return FALSE;
        }
      /* 0 means none, as in the model file */
      t[k] = v == 0 ? NAN : v;
    }
  while (json_eat (j, ','));
  return json_eat (j, '}') || invalid (error, _("saved thresholds"));
}

/* A value of a key this version does not use: text, a number, true, false or null. */
static gboolean
json_skip_scalar (Json *j)
{
  g_autofree char *text = NULL;
  double v;

  json_ws (j);
  if (j->p < j->end && *j->p == '"')
    return (text = json_string (j)) != NULL;
  return json_number (j, &v) || json_literal (j, "null") || json_literal (j, "true") || json_literal (j, "false");
}

gboolean
bt_tflite_thresholds_from_json (const char *json, gsize len, const char * const *class_names, int n,
                                BtCalibration *calib, double **class_thresholds, GError **error)
{
  Json j = { json, json + len };
  g_autofree double *t = NULL;
  BtCalibration cal;
  gboolean has_temperature = FALSE;

  g_return_val_if_fail (json != NULL && class_names != NULL && n > 0, FALSE);
  g_return_val_if_fail (calib != NULL && class_thresholds != NULL, FALSE);
  t = g_new (double, n);
  for (int k = 0; k < n; k++)
    t[k] = NAN;
  bt_calibration_init (&cal);
  if (!json_eat (&j, '{'))
    return invalid (error, _("saved thresholds"));
  do
    {
      g_autofree char *key = json_string (&j);
      double v;

      if (key == NULL || !json_eat (&j, ':'))
        return invalid (error, _("saved thresholds"));
      if (g_str_equal (key, "temperature"))
        {
          if (!json_number (&j, &v) || !(v >= BT_TEMPERATURE_MIN && v <= BT_TEMPERATURE_MAX))
            {
              g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID,
                           _("The file’s temperature is not a number between %g and %g"), BT_TEMPERATURE_MIN,
                           BT_TEMPERATURE_MAX);
              return FALSE;
            }
          cal.temperature = v;
          has_temperature = TRUE;
        }
      else if (g_str_equal (key, "unknown_threshold"))
        {
          if (json_literal (&j, "null"))
            cal.unknown_threshold = NAN;
          else if (json_number (&j, &v) && fabs (v) < 1e30)
            cal.unknown_threshold = v;
          else
            return invalid (error, _("saved thresholds"));
        }
      else if (g_str_equal (key, "unknown_score"))
        {
          g_autofree char *rule = json_string (&j);
          if (rule == NULL)
            return invalid (error, _("saved thresholds"));
          if (strcmp (rule, UNKNOWN_SCORE_RULE) != 0)
            {
              g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID,
                           _("The file’s unknown score is not one this version of Bottega computes (“%s”)"), rule);
              return FALSE;
            }
        }
      else if (g_str_equal (key, "classes"))
        {
          if (!read_class_thresholds (&j, class_names, n, t, error))
            return FALSE;
        }
      else if (!json_skip_scalar (&j))
        return invalid (error, _("saved thresholds"));
    }
  while (json_eat (&j, ','));
  if (!json_eat (&j, '}') || !json_end (&j) || !has_temperature)
    return invalid (error, _("saved thresholds"));
  *calib = cal;
  *class_thresholds = g_steal_pointer (&t);
  return TRUE;
}

/* ---- The classifier ---- */

BtTfliteClassifier *
bt_tflite_classifier_ref (BtTfliteClassifier *c)
{
  g_return_val_if_fail (c != NULL, NULL);
  g_atomic_ref_count_inc (&c->ref);
  return c;
}

void
bt_tflite_classifier_unref (BtTfliteClassifier *c)
{
  if (c == NULL || !g_atomic_ref_count_dec (&c->ref))
    return;
  g_clear_pointer (&c->tflite, bt_tflite_unref);
  g_strfreev (c->class_names);
  g_free (c->class_thresholds);
  g_free (c);
}

/* The graph on prepared input x; n_classes probabilities (a softmax of scores that are not).
 * A file with thresholds runs to its logits: the probabilities and the unknown score are then
 * computed from them as bt_calibration_apply does for the model (T is already folded in). */
static float *
run (BtTfliteClassifier *c, const float *x, double *unknown_score, GError **error)
{
  g_autoptr(BtTfliteExec) exec = bt_tflite_exec_new (c->tflite, error);
  gboolean scored = c->has_thresholds && c->logits >= 0;
  const float *y;
  float *p;
  gsize n = 0;
  double sum = 0, max;
  gboolean probabilities = TRUE;

  if (unknown_score != NULL)
    *unknown_score = NAN;
  if (exec == NULL)
    return NULL;
  bt_compute_gate_enter ();
  y = bt_tflite_exec_run (exec, x, scored ? c->logits : -1, &n, error);
  bt_compute_gate_leave ();
  if (y == NULL)
    return NULL;
  if (n != (gsize) c->n_classes)
    {
      g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID,
                   _("This is not a classifier: its network gives %u values, not one per class"),
                   (guint) MIN (n, G_MAXUINT));
      return NULL;
    }
  if (scored)
    {
      BtCalibration plain;
      double score;
      bt_calibration_init (&plain);
      p = g_new (float, n);
      score = bt_calibration_apply (&plain, y, (int) n, p);
      if (unknown_score != NULL)
        *unknown_score = c->calib.temperature * score;
      return p;
    }
  p = g_memdup2 (y, n * sizeof (float));
  for (gsize k = 0; k < n; k++)
    {
      probabilities &= p[k] >= 0 && p[k] <= 1;
      sum += p[k];
    }
  if (probabilities && fabs (sum - 1) < 0.02)
    return p;
  max = p[0];
  for (gsize k = 1; k < n; k++)
    max = MAX (max, p[k]);
  sum = 0;
  for (gsize k = 0; k < n; k++)
    sum += (p[k] = (float) exp (p[k] - max));
  for (gsize k = 0; k < n; k++)
    p[k] = (float) (p[k] / sum);
  return p;
}

float *
bt_tflite_classifier_predict_image (BtTfliteClassifier *c, const BtImage *image, double *unknown_score,
                                    GError **error)
{
  g_autofree float *x = NULL;

  g_return_val_if_fail (c != NULL && image != NULL, NULL);
  if (unknown_score != NULL)
    *unknown_score = NAN;
  x = g_new (float, (gsize) c->prep.channels * c->prep.height * c->prep.width);
  if (!bt_prepare_image (&c->prep, image, x, error))
    return NULL;
  return run (c, x, unknown_score, error);
}

float *
bt_tflite_classifier_predict_file (BtTfliteClassifier *c, const char *path, double *unknown_score,
                                   GCancellable *cancellable, GError **error)
{
  g_autofree float *x = NULL;

  g_return_val_if_fail (c != NULL && path != NULL, NULL);
  if (unknown_score != NULL)
    *unknown_score = NAN;
  x = g_new (float, (gsize) c->prep.channels * c->prep.height * c->prep.width);
  if (!bt_prepare_image_file (&c->prep, path, x, cancellable, error))
    return NULL;
  return run (c, x, unknown_score, error);
}

BtAnswer
bt_tflite_classifier_answer (const BtTfliteClassifier *c, const float *probs, double unknown_score, int *top)
{
  g_return_val_if_fail (c != NULL && probs != NULL, BT_ANSWER_UNKNOWN);
  return bt_answer_rule (&c->calib, c->class_thresholds, c->n_classes, probs, unknown_score, top);
}

/* The "thresholds" entry, when the file has one (and names: its classes are named). */
static gboolean
read_thresholds (BtTfliteClassifier *c, GError **error)
{
  g_autoptr(GBytes) entry = bt_tflite_get_metadata (c->tflite, "thresholds");
  gsize len;
  const char *json;

  bt_calibration_init (&c->calib);
  c->logits = bt_tflite_softmax_input (c->tflite);
  if (entry == NULL)
    return TRUE;
  json = g_bytes_get_data (entry, &len);
  if (!c->has_names)
    return invalid (error, _("saved thresholds"));
  if (!bt_tflite_thresholds_from_json (json, len, (const char * const *) c->class_names, c->n_classes, &c->calib,
                                       &c->class_thresholds, error))
    return FALSE;
  if (c->logits < 0 && !isnan (c->calib.unknown_threshold))
    {
      g_set_error_literal (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID,
                           _("The file has an unknown threshold but no scores before its softmax to compute "
                             "the unknown score from"));
      return FALSE;
    }
  c->has_thresholds = TRUE;
  return TRUE;
}

static gboolean
read_names (BtTfliteClassifier *c, GError **error)
{
  g_autoptr(GBytes) labels = bt_tflite_get_metadata (c->tflite, "labels");
  gsize len;
  const char *json;

  if (labels == NULL)
    {
      c->class_names = g_new0 (char *, c->n_classes + 1);
      for (int k = 0; k < c->n_classes; k++)
        /* Translators: a class of a model file that has no class names */
        c->class_names[k] = g_strdup_printf (_("Class %d"), k + 1);
      return TRUE;
    }
  json = g_bytes_get_data (labels, &len);
  c->class_names = bt_tflite_labels_from_json (json, len, error);
  if (c->class_names == NULL)
    return FALSE;
  if (g_strv_length (c->class_names) != (guint) c->n_classes)
    {
      g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID,
                   _("The file names %u classes but its network answers for %d"),
                   g_strv_length (c->class_names), c->n_classes);
      return FALSE;
    }
  c->has_names = TRUE;
  return TRUE;
}

static gboolean
read_recipe (BtTfliteClassifier *c, GError **error)
{
  g_autoptr(GBytes) recipe = bt_tflite_get_metadata (c->tflite, "preprocessing");
  int h = 0, w = 0, ch = 0;
  float lo, hi;

  bt_tflite_input_shape (c->tflite, &h, &w, &ch);
  if (ch != 1 && ch != 3)
    {
      g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID,
                   _("The network takes images with %d channels; only grey (1) and colour (3) images can be given"), ch);
      return FALSE;
    }
  if (recipe != NULL)
    {
      gsize len;
      const char *json = g_bytes_get_data (recipe, &len);
      if (!bt_tflite_preprocessing_from_json (json, len, &c->prep, error))
        return FALSE;
      if (c->prep.width != w || c->prep.height != h || c->prep.channels != ch)
        {
          g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID,
                       _("The file’s preprocessing recipe (%d×%d×%d) does not match its network’s input (%d×%d×%d)"),
                       c->prep.width, c->prep.height, c->prep.channels, w, h, ch);
          return FALSE;
        }
      c->has_recipe = TRUE;
      return TRUE;
    }
  /* pixel p → lo + p (hi − lo) / 255, as the input tensor's quantization (or MobileNet's [-1, 1]) says */
  bt_tflite_input_range (c->tflite, &lo, &hi);
  bt_preprocess_init_default (&c->prep, w, h, ch);
  c->prep.resize = BT_RESIZE_SQUASH;
  c->prep.scale = (hi - lo) / 255.0f;
  for (int k = 0; k < 3; k++)
    {
      c->prep.mean[k] = -lo;
      c->prep.std[k] = 1.0f;
    }
  return TRUE;
}

BtTfliteClassifier *
bt_tflite_classifier_load (const char *path, GError **error)
{
  g_autoptr(BtTfliteClassifier) c = g_new0 (BtTfliteClassifier, 1);
  g_autoptr(BtImage) grey = NULL;
  g_autofree float *probe = NULL;
  gsize n;

  g_return_val_if_fail (path != NULL, NULL);
  g_atomic_ref_count_init (&c->ref);
  c->tflite = bt_tflite_load (path, error);
  if (c->tflite == NULL)
    return NULL;
  n = bt_tflite_output_size (c->tflite);
  if (n < 2 || n > BT_TFLITE_CLASSIFIER_MAX_CLASSES)
    {
      g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID,
                   _("This is not a classifier: its network gives %u values, not one per class"),
                   (guint) MIN (n, G_MAXUINT));
      return NULL;
    }
  c->n_classes = (int) n;
  if (!read_names (c, error) || !read_recipe (c, error) || !read_thresholds (c, error))
    return NULL;
  /* one trial run, so that a file that cannot run says so now and not on the first photo */
  grey = bt_image_new (c->prep.width, c->prep.height, c->prep.channels);
  memset (grey->pixels, 128, (gsize) grey->width * grey->height * grey->channels);
  probe = bt_tflite_classifier_predict_image (c, grey, NULL, error);
  if (probe == NULL)
    return NULL;
  return g_steal_pointer (&c);
}
