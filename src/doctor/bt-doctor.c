/* bt-doctor.c: the data doctor's analysis (see bt-doctor.h and docs/ARCHITECTURE.md).
 *
 * One pass decodes every image once (RGB, at most 128 px a side) into a grey working copy from
 * which come the quality measures, a 64-bit dHash, a 16×16 thumbnail and a feature vector
 * (the backbone's embedding for transfer projects, else a fixed shape descriptor: the
 * rotation-invariant Fourier magnitudes of the gradient-orientation histogram, a 4×4 grid of
 * orientation histograms, the image's mean, contrast and edge density, a 12×12 grey copy). Label issues: K-fold
 * softmax regression on the features gives out-of-fold probabilities; confident learning (per-class thresholds = mean self-confidence,
 * the confident joint's off-diagonal) picks the issues, ranked by self-confidence.
 * Near-duplicates: dHash split in 8 bands of 8 bits; two hashes within 7 bits share a band
 * (pigeonhole), so only bucket mates are compared, then checked on the 16×16 thumbnails
 * (mean absolute difference once each one's mean brightness is taken out: the distance).
 * Outliers: mean distance to the 5 nearest neighbours in the standardized features.
 *
 * Quality thresholds (grey 0…255 on the working copy, at most 128 px a side):
 *   dark: mean < 40 · overexposed: mean > 225 or over half the pixels ≥ 250
 *   low-contrast: standard deviation < 12 · blurry: variance of the 4-neighbour Laplacian < 25
 *   tiny: the shorter side of the file < 32 px · extreme-aspect: longer/shorter side > 4 */
#include "config.h"

#include <math.h>
#include <string.h>

#include <glib/gi18n-lib.h>

#include "doctor/bt-doctor.h"
#include "engine/bt-engine.h"
#include "training/bt-training.h"
#include "training/bt-transfer.h"

#define WORK_SIDE   128
#define THUMB       16
#define ORI_BINS    36
#define N_FOURIER   12
#define GRID        4
#define GRID_BINS   8
#define N_STATS     3     /* mean, contrast and edge density of the grey image */
#define PIX         12    /* a 12×12 grey copy: the layout of aligned images */
#define DESC_DIM    (N_FOURIER + GRID * GRID * GRID_BINS + N_STATS + PIX * PIX)
#define KNN         5
#define MAX_SHIFT   0.2   /* near-duplicates: mean brightness differs by at most this (0…1) */

#define Q_DARK        40.0
#define Q_BRIGHT      225.0
#define Q_LOW_STD     12.0
#define Q_BLUR_VAR    25.0
#define Q_TINY        32
#define Q_ASPECT      4.0

typedef struct { char *path; int label; BtSplit split; int width, height; } Entry;  /* 0: size unknown */

struct _BtDoctorInput {
  GPtrArray *classes;          /* char* */
  GArray    *items;            /* Entry */
  BtProjectSettings settings;
  gboolean   have_settings;
};

static void
entry_clear (gpointer p)
{
  g_free (((Entry *) p)->path);
}

BtDoctorInput *
bt_doctor_input_new_empty (const char *const *class_names, const BtProjectSettings *settings)
{
  BtDoctorInput *in = g_new0 (BtDoctorInput, 1);
  in->classes = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; class_names != NULL && class_names[i] != NULL; i++)
    g_ptr_array_add (in->classes, g_strdup (class_names[i]));
  in->items = g_array_new (FALSE, FALSE, sizeof (Entry));
  g_array_set_clear_func (in->items, entry_clear);
  if (settings != NULL)
    {
      bt_project_settings_copy (&in->settings, settings);
      in->have_settings = TRUE;
    }
  return in;
}

BtDoctorInput *
bt_doctor_input_new (BtProject *project)
{
  g_return_val_if_fail (BT_IS_PROJECT (project), NULL);
  GListModel *classes = bt_project_get_classes (project);
  guint nc = g_list_model_get_n_items (classes);
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  for (guint c = 0; c < nc; c++)
    {
      g_autoptr (BtClassInfo) info = g_list_model_get_item (classes, c);
      g_ptr_array_add (names, g_strdup (bt_class_info_get_name (info)));
    }
  g_ptr_array_add (names, NULL);
  BtDoctorInput *in = bt_doctor_input_new_empty ((const char *const *) names->pdata,
                                                 bt_project_get_settings (project));
  GListModel *items = bt_project_get_items (project);
  guint n = g_list_model_get_n_items (items);
  for (guint i = 0; i < n; i++)
    {
      g_autoptr (BtItem) item = g_list_model_get_item (items, i);
      if (bt_item_get_excluded (item) || bt_item_get_missing (item))
        continue;
      const char *cls = bt_item_get_class_name (item);
      int label = -1;
      for (guint c = 0; cls != NULL && c < nc; c++)
        if (g_strcmp0 (cls, g_ptr_array_index (in->classes, c)) == 0)
          label = (int) c;
      bt_doctor_input_add (in, bt_item_get_path (item), label, bt_item_get_split (item));
      Entry *e = &g_array_index (in->items, Entry, in->items->len - 1);
      e->width = bt_item_get_width (item);
      e->height = bt_item_get_height (item);
    }
  return in;
}

void
bt_doctor_input_add (BtDoctorInput *in, const char *path, int label, BtSplit split)
{
  g_return_if_fail (in != NULL && path != NULL);
  Entry e = { g_strdup (path), label < (int) in->classes->len ? label : -1, split, 0, 0 };
  g_array_append_val (in->items, e);
}

guint
bt_doctor_input_get_n_items (BtDoctorInput *in)
{
  return in->items->len;
}

void
bt_doctor_input_free (BtDoctorInput *in)
{
  if (in == NULL)
    return;
  g_ptr_array_unref (in->classes);
  g_array_unref (in->items);
  if (in->have_settings)
    bt_project_settings_clear (&in->settings);
  g_free (in);
}

void
bt_doctor_options_init (BtDoctorOptions *opts)
{
  memset (opts, 0, sizeof *opts);
  opts->folds = 5;
  opts->seed = 1;
  opts->max_hamming = 6;
  opts->max_pixel_diff = 0.02;
  opts->use_backbone = TRUE;
}

static const char *problem_ids[BT_DOCTOR_N_PROBLEMS] = {
  "dark", "overexposed", "low-contrast", "blurry", "tiny", "extreme-aspect",
};

const char *
bt_doctor_problem_to_id (int bit)
{
  return bit >= 0 && bit < BT_DOCTOR_N_PROBLEMS ? problem_ids[bit] : NULL;
}

void
bt_doctor_report_free (BtDoctorReport *r)
{
  if (r == NULL)
    return;
  g_array_unref (r->label_issues);
  g_array_unref (r->duplicates);
  g_array_unref (r->outliers);
  g_array_unref (r->quality);
  g_free (r);
}

static const Entry *
entry (const BtDoctorReport *r, guint item)
{
  return &g_array_index (r->input->items, Entry, item);
}

const char *bt_doctor_report_path  (const BtDoctorReport *r, guint item) { return entry (r, item)->path; }
BtSplit     bt_doctor_report_split (const BtDoctorReport *r, guint item) { return entry (r, item)->split; }
int         bt_doctor_report_label (const BtDoctorReport *r, guint item) { return entry (r, item)->label; }

const char *
bt_doctor_report_class (const BtDoctorReport *r, int label)
{
  return label >= 0 && label < (int) r->input->classes->len ? g_ptr_array_index (r->input->classes, label) : "";
}

gboolean
bt_doctor_duplicate_is_leakage (const BtDoctorReport *r, const BtDoctorDuplicate *d)
{
  return entry (r, d->a)->split != entry (r, d->b)->split;
}

gboolean
bt_doctor_duplicate_is_conflict (const BtDoctorReport *r, const BtDoctorDuplicate *d)
{
  return entry (r, d->a)->label != entry (r, d->b)->label;
}

/* ---- Per image ---- */
typedef struct {
  gboolean ok;
  guint64  dhash;
  float    thumb[THUMB * THUMB];   /* grey 0…1 */
  double   thumb_mean;
  guint    problems;
  double   severity;
} ImageInfo;

/* Box-average resample of a grey float image. */
static void
resample (const float *src, int sw, int sh, float *dst, int dw, int dh)
{
  for (int y = 0; y < dh; y++)
    for (int x = 0; x < dw; x++)
      {
        int x0 = x * sw / dw, x1 = MAX (x0 + 1, (x + 1) * sw / dw);
        int y0 = y * sh / dh, y1 = MAX (y0 + 1, (y + 1) * sh / dh);
        double s = 0;
        for (int yy = y0; yy < y1; yy++)
          for (int xx = x0; xx < x1; xx++)
            s += src[yy * sw + xx];
        dst[y * dw + x] = (float) (s / ((x1 - x0) * (y1 - y0)));
      }
}

static void
quality (const float *g, int w, int h, int file_w, int file_h, ImageInfo *info)
{
  double sum = 0, sum2 = 0;
  guint bright = 0, n = (guint) w * (guint) h;
  for (guint i = 0; i < n; i++)
    {
      sum += g[i];
      sum2 += (double) g[i] * g[i];
      bright += g[i] >= 250.f;
    }
  double mean = sum / n, sd = sqrt (MAX (0.0, sum2 / n - mean * mean));
  double ls = 0, ls2 = 0;
  guint nl = 0;
  for (int y = 1; y + 1 < h; y++)
    for (int x = 1; x + 1 < w; x++)
      {
        double l = g[(y - 1) * w + x] + g[(y + 1) * w + x] + g[y * w + x - 1] + g[y * w + x + 1]
                   - 4.0 * g[y * w + x];
        ls += l;
        ls2 += l * l;
        nl++;
      }
  double lap_var = nl > 0 ? ls2 / nl - (ls / nl) * (ls / nl) : 0;
  guint p = 0;
  double sev = 0;
  if (mean < Q_DARK) { p |= BT_DOCTOR_DARK; sev += (Q_DARK - mean) / Q_DARK; }
  if (mean > Q_BRIGHT || bright * 2 > n) { p |= BT_DOCTOR_OVEREXPOSED; sev += MAX (mean - Q_BRIGHT, 0) / (255 - Q_BRIGHT) + (double) bright / n; }
  if (sd < Q_LOW_STD) { p |= BT_DOCTOR_LOW_CONTRAST; sev += (Q_LOW_STD - sd) / Q_LOW_STD; }
  if (lap_var < Q_BLUR_VAR) { p |= BT_DOCTOR_BLURRY; sev += (Q_BLUR_VAR - lap_var) / Q_BLUR_VAR; }
  int lo = MIN (file_w, file_h), hi = MAX (file_w, file_h);
  if (lo < Q_TINY) { p |= BT_DOCTOR_TINY; sev += (double) (Q_TINY - lo) / Q_TINY; }
  if (lo > 0 && (double) hi / lo > Q_ASPECT) { p |= BT_DOCTOR_EXTREME_ASPECT; sev += 1.0 - Q_ASPECT * lo / hi; }
  info->problems = p;
  info->severity = sev;
}

/* The shape descriptor of a 64×64 grey image (0…255). */
static void
describe (const float *g, float *out)
{
  const int S = 64;
  double ori[ORI_BINS] = { 0 };
  double grid[GRID * GRID * GRID_BINS] = { 0 };
  for (int y = 1; y + 1 < S; y++)
    for (int x = 1; x + 1 < S; x++)
      {
        double gx = g[y * S + x + 1] - g[y * S + x - 1];
        double gy = g[(y + 1) * S + x] - g[(y - 1) * S + x];
        double m = sqrt (gx * gx + gy * gy);
        if (m < 1e-6)
          continue;
        double a = atan2 (gy, gx);                       /* −π…π */
        double u = (a + G_PI) / (2 * G_PI);
        ori[MIN ((int) (u * ORI_BINS), ORI_BINS - 1)] += m;
        int cell = (y * GRID / S) * GRID + x * GRID / S;
        grid[cell * GRID_BINS + MIN ((int) (u * GRID_BINS), GRID_BINS - 1)] += m;
      }
  double total = 0;
  for (int b = 0; b < ORI_BINS; b++)
    total += ori[b];
  for (int k = 1; k <= N_FOURIER; k++)
    {
      double re = 0, im = 0;
      for (int b = 0; b < ORI_BINS; b++)
        {
          re += ori[b] * cos (2 * G_PI * k * b / ORI_BINS);
          im -= ori[b] * sin (2 * G_PI * k * b / ORI_BINS);
        }
      out[k - 1] = total > 0 ? (float) (sqrt (re * re + im * im) / total) : 0.f;
    }
  double norm = 0;
  for (int i = 0; i < GRID * GRID * GRID_BINS; i++)
    norm += grid[i] * grid[i];
  norm = sqrt (norm);
  for (int i = 0; i < GRID * GRID * GRID_BINS; i++)
    out[N_FOURIER + i] = norm > 0 ? (float) (grid[i] / norm) : 0.f;
  double sum = 0, sum2 = 0;
  for (int i = 0; i < S * S; i++)
    {
      sum += g[i];
      sum2 += (double) g[i] * g[i];
    }
  double mean = sum / (S * S);
  float *stats = out + N_FOURIER + GRID * GRID * GRID_BINS;
  stats[0] = (float) (mean / 255.0);
  stats[1] = (float) (sqrt (MAX (0.0, sum2 / (S * S) - mean * mean)) / 128.0);
  stats[2] = (float) (total / ((S - 2) * (S - 2) * 255.0));
  resample (g, S, S, stats + N_STATS, PIX, PIX);
  for (int i = 0; i < PIX * PIX; i++)
    stats[N_STATS + i] /= 255.f;
}

static gboolean
analyse_image (const Entry *e, BtBackbone *bb, BtDsResize resize, float *feature, ImageInfo *info,
               GCancellable *cancellable)
{
  /* the file's size: the project's record, else the header */
  int fw = e->width, fh = e->height;
  if (fw <= 0 || fh <= 0)
    {
      g_autofree char *data = NULL;
      gsize len = 0;
      if (!g_file_get_contents (e->path, &data, &len, NULL) ||
          !bt_image_probe_bytes ((const guint8 *) data, len, &fw, &fh, NULL, NULL, NULL))
        return FALSE;
    }
  /* the working copy, through the dataset's decode path: at most WORK_SIDE a side, aspect
   * kept, never enlarged (an enlarged copy would look blurry) */
  int w = MAX (fw, 1), h = MAX (fh, 1);
  if (MAX (w, h) > WORK_SIDE)
    {
      int m = MAX (w, h);
      w = MAX (1, w * WORK_SIDE / m);
      h = MAX (1, h * WORK_SIDE / m);
    }
  g_autoptr (BtImage) img = bt_image_preprocess_file (e->path, w, h, 3, BT_DS_RESIZE_SQUASH, cancellable,
                                                      NULL, NULL);
  if (img == NULL)
    return FALSE;
  w = img->width;
  h = img->height;
  g_autofree float *grey = g_new (float, (gsize) w * h);
  for (gsize i = 0; i < (gsize) w * h; i++)
    {
      const guint8 *p = img->pixels + 3 * i;
      grey[i] = 0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2];
    }
  quality (grey, w, h, fw, fh, info);

  float d[9 * 8];
  resample (grey, w, h, d, 9, 8);
  guint64 hash = 0;
  for (int y = 0; y < 8; y++)
    for (int x = 0; x < 8; x++)
      hash = (hash << 1) | (d[y * 9 + x] > d[y * 9 + x + 1]);
  info->dhash = hash;
  resample (grey, w, h, info->thumb, THUMB, THUMB);
  info->thumb_mean = 0;
  for (int i = 0; i < THUMB * THUMB; i++)
    info->thumb_mean += (info->thumb[i] /= 255.f);
  info->thumb_mean /= THUMB * THUMB;

  if (bb != NULL)
    {
      if (!bt_backbone_embed_image (bb, img, resize, feature, NULL))
        return FALSE;
    }
  else
    {
      float g64[64 * 64];
      resample (grey, w, h, g64, 64, 64);
      describe (g64, feature);
    }
  info->ok = TRUE;
  return TRUE;
}

/* ---- Softmax regression, for the out-of-fold probabilities ---- */
static void
softmax_row (const float *x, const float *W, const float *b, int d, int c, double *p)
{
  double mx = -INFINITY;
  for (int j = 0; j < c; j++)
    {
      double z = b[j];
      const float *wj = W + (gsize) j * d;
      for (int k = 0; k < d; k++)
        z += (double) wj[k] * x[k];
      p[j] = z;
      mx = MAX (mx, z);
    }
  double s = 0;
  for (int j = 0; j < c; j++)
    s += (p[j] = exp (p[j] - mx));
  for (int j = 0; j < c; j++)
    p[j] /= s;
}

/* Full-batch gradient descent with momentum on the rows `rows` of X (n × d, standardized). */
static void
fit_softmax (const float *X, const int *y, const guint *rows, guint nr, int d, int c, float *W, float *b,
             GCancellable *cancellable)
{
  const int iters = 300;
  const double lr = 0.5, l2 = 1e-3, mom = 0.9;
  g_autofree double *gW = g_new (double, (gsize) c * d);
  g_autofree double *gb = g_new (double, c);
  g_autofree double *vW = g_new0 (double, (gsize) c * d);
  g_autofree double *vb = g_new0 (double, c);
  g_autofree double *p = g_new (double, c);
  memset (W, 0, sizeof (float) * c * d);
  memset (b, 0, sizeof (float) * c);
  for (int it = 0; it < iters && !g_cancellable_is_cancelled (cancellable); it++)
    {
      memset (gW, 0, sizeof (double) * c * d);
      memset (gb, 0, sizeof (double) * c);
      for (guint r = 0; r < nr; r++)
        {
          const float *x = X + (gsize) rows[r] * d;
          softmax_row (x, W, b, d, c, p);
          for (int j = 0; j < c; j++)
            {
              double e = p[j] - (j == y[rows[r]]);
              gb[j] += e;
              double *gj = gW + (gsize) j * d;
              for (int k = 0; k < d; k++)
                gj[k] += e * x[k];
            }
        }
      for (int j = 0; j < c; j++)
        {
          vb[j] = mom * vb[j] - lr * gb[j] / nr;
          b[j] += (float) vb[j];
          for (int k = 0; k < d; k++)
            {
              gsize i = (gsize) j * d + k;
              vW[i] = mom * vW[i] - lr * (gW[i] / nr + l2 * W[i]);
              W[i] += (float) vW[i];
            }
        }
    }
}

/* ---- Sorting helpers ---- */
/* higher score first, then the snapshot's order */
static int
by_score (double sa, guint ia, double sb, guint ib)
{
  if (sa != sb)
    return sa > sb ? -1 : 1;
  return ia < ib ? -1 : ia > ib;
}

static int
cmp_issue (gconstpointer a, gconstpointer b)
{
  const BtDoctorLabelIssue *x = a, *y = b;
  return by_score (x->score, x->item, y->score, y->item);
}

static int
cmp_dup (gconstpointer a, gconstpointer b)
{
  const BtDoctorDuplicate *x = a, *y = b;
  if (x->distance != y->distance)
    return x->distance < y->distance ? -1 : 1;
  if (x->a != y->a)
    return x->a < y->a ? -1 : 1;
  return x->b < y->b ? -1 : x->b > y->b;
}

static int
cmp_outlier (gconstpointer a, gconstpointer b)
{
  const BtDoctorOutlier *x = a, *y = b;
  return by_score (x->score, x->item, y->score, y->item);
}

static int
cmp_quality (gconstpointer a, gconstpointer b)
{
  const BtDoctorQuality *x = a, *y = b;
  return by_score (x->score, x->item, y->score, y->item);
}

static int
cmp_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

static void
progress_report (BtDoctorProgress progress, gpointer user_data, const char *stage, double f)
{
  if (progress != NULL)
    progress (stage, CLAMP (f, 0.0, 1.0), user_data);
}

/* ---- The analysis ---- */
BtDoctorReport *
bt_doctor_run (BtDoctorInput *input, const BtDoctorOptions *opts_in, BtDoctorProgress progress,
               gpointer user_data, GCancellable *cancellable, GError **error)
{
  g_return_val_if_fail (input != NULL, NULL);
  BtDoctorOptions opts;
  if (opts_in != NULL)
    opts = *opts_in;
  else
    bt_doctor_options_init (&opts);
  if (opts.folds < 2)
    {
      g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID,
                   _("The doctor needs at least 2 folds (asked for %d)."), opts.folds);
      return NULL;
    }
  guint n = input->items->len;
  int c = (int) input->classes->len;

  /* the backbone, for transfer projects */
  g_autoptr (BtBackbone) bb = NULL;
  BtDsResize resize = input->have_settings ? input->settings.resize : BT_DS_RESIZE_SQUASH;
  if (opts.use_backbone && input->have_settings && g_strcmp0 (input->settings.preset, "transfer") == 0)
    {
      g_autoptr (GError) local = NULL;
      g_autofree char *file = bt_backbone_find_for_training (&local);
      if (file != NULL)
        bb = bt_backbone_load_path (file, &local);
      if (bb == NULL)
        g_message ("doctor: no backbone (%s); using the image descriptor", local ? local->message : "?");
    }
  int d = bb != NULL ? bt_backbone_get_dim (bb) : DESC_DIM;

  BtDoctorReport *r = g_new0 (BtDoctorReport, 1);
  r->input = input;
  r->used_backbone = bb != NULL;
  r->label_issues = g_array_new (FALSE, FALSE, sizeof (BtDoctorLabelIssue));
  r->duplicates = g_array_new (FALSE, FALSE, sizeof (BtDoctorDuplicate));
  r->outliers = g_array_new (FALSE, FALSE, sizeof (BtDoctorOutlier));
  r->quality = g_array_new (FALSE, FALSE, sizeof (BtDoctorQuality));

  g_autofree ImageInfo *info = g_new0 (ImageInfo, MAX (n, 1));
  g_autofree float *X = g_new0 (float, (gsize) MAX (n, 1) * d);
  g_autofree int *labels = g_new (int, MAX (n, 1));
  for (guint i = 0; i < n; i++)
    {
      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        goto cancelled;
      const Entry *e = &g_array_index (input->items, Entry, i);
      if (!analyse_image (e, bb, resize, X + (gsize) i * d, &info[i], cancellable))
        r->n_unreadable++;
      progress_report (progress, user_data, "decode", (i + 1.0) / n);
    }
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    goto cancelled;

  /* quality */
  for (guint i = 0; i < n; i++)
    if (info[i].ok && info[i].problems != 0)
      {
        BtDoctorQuality q = { i, info[i].problems, info[i].severity };
        g_array_append_val (r->quality, q);
      }
  g_array_sort (r->quality, cmp_quality);

  /* standardize the features of the readable images */
  {
    g_autofree double *mu = g_new0 (double, d), *sd = g_new0 (double, d);
    guint nok = 0;
    for (guint i = 0; i < n; i++)
      if (info[i].ok)
        {
          nok++;
          for (int k = 0; k < d; k++)
            mu[k] += X[(gsize) i * d + k];
        }
    for (int k = 0; k < d; k++)
      mu[k] /= MAX (nok, 1);
    for (guint i = 0; i < n; i++)
      if (info[i].ok)
        for (int k = 0; k < d; k++)
          {
            double v = X[(gsize) i * d + k] - mu[k];
            sd[k] += v * v;
          }
    for (int k = 0; k < d; k++)
      sd[k] = sqrt (sd[k] / MAX (nok, 1)) + 1e-6;
    for (guint i = 0; i < n; i++)
      for (int k = 0; k < d; k++)
        X[(gsize) i * d + k] = info[i].ok ? (float) ((X[(gsize) i * d + k] - mu[k]) / sd[k]) : 0.f;
  }

  /* label issues: stratified folds by seed, out-of-fold softmax regression, confident learning */
  for (guint i = 0; i < n; i++)
    labels[i] = info[i].ok ? g_array_index (input->items, Entry, i).label : -1;
  if (c >= 2)
    {
      int K = opts.folds;
      g_autofree int *fold = g_new (int, MAX (n, 1));
      BtRng rng;
      bt_rng_seed (&rng, opts.seed);
      for (int j = 0; j < c; j++)
        {
          g_autoptr (GArray) members = g_array_new (FALSE, FALSE, sizeof (guint32));
          for (guint i = 0; i < n; i++)
            if (labels[i] == j)
              {
                guint32 v = i;
                g_array_append_val (members, v);
              }
          bt_rng_shuffle (&rng, (guint32 *) members->data, members->len);
          for (guint m = 0; m < members->len; m++)
            fold[g_array_index (members, guint32, m)] = (int) (m % K);
        }
      g_autofree double *P = g_new0 (double, (gsize) MAX (n, 1) * c);
      g_autofree float *W = g_new (float, (gsize) c * d);
      g_autofree float *b = g_new (float, c);
      g_autofree guint *rows = g_new (guint, MAX (n, 1));
      for (int f = 0; f < K; f++)
        {
          guint nr = 0;
          for (guint i = 0; i < n; i++)
            if (labels[i] >= 0 && fold[i] != f)
              rows[nr++] = i;
          if (nr == 0)
            continue;
          fit_softmax (X, labels, rows, nr, d, c, W, b, cancellable);
          if (g_cancellable_set_error_if_cancelled (cancellable, error))
            goto cancelled;
          for (guint i = 0; i < n; i++)
            if (labels[i] >= 0 && fold[i] == f)
              softmax_row (X + (gsize) i * d, W, b, d, c, P + (gsize) i * c);
          progress_report (progress, user_data, "folds", (f + 1.0) / K);
        }
      /* per-class thresholds: the mean self-confidence of each given class */
      g_autofree double *thr = g_new0 (double, c);
      g_autofree guint *cnt = g_new0 (guint, c);
      guint labelled = 0, right = 0;
      for (guint i = 0; i < n; i++)
        if (labels[i] >= 0)
          {
            thr[labels[i]] += P[(gsize) i * c + labels[i]];
            cnt[labels[i]]++;
            labelled++;
            int am = 0;
            for (int j = 1; j < c; j++)
              if (P[(gsize) i * c + j] > P[(gsize) i * c + am])
                am = j;
            right += am == labels[i];
          }
      r->oof_accuracy = labelled > 0 ? (double) right / labelled : 0;
      for (int j = 0; j < c; j++)
        thr[j] = cnt[j] > 0 ? thr[j] / cnt[j] : 1.0;
      /* the confident joint: each image counts for the most probable class whose probability
       * reaches that class's threshold; off the diagonal = a label issue */
      for (guint i = 0; i < n; i++)
        {
          if (labels[i] < 0)
            continue;
          const double *p = P + (gsize) i * c;
          int best = -1;
          for (int j = 0; j < c; j++)
            if (p[j] >= thr[j] && (best < 0 || p[j] > p[best]))
              best = j;
          if (best >= 0 && best != labels[i])
            {
              BtDoctorLabelIssue is = { i, labels[i], best, 1.0 - p[labels[i]] };
              g_array_append_val (r->label_issues, is);
            }
        }
      g_array_sort (r->label_issues, cmp_issue);
    }

  /* near-duplicates: 8 bands of 8 bits of the dHash */
  {
    g_autoptr (GHashTable) seen = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);
    g_autofree guint *order = g_new (guint, MAX (n, 1));
    g_autofree guint *start = g_new (guint, 257);
    for (int band = 0; band < 8; band++)
      {
        /* counting sort of the images by this band's byte */
        memset (start, 0, sizeof (guint) * 257);
        for (guint i = 0; i < n; i++)
          if (info[i].ok)
            start[((info[i].dhash >> (8 * band)) & 0xff) + 1]++;
        for (int v = 0; v < 256; v++)
          start[v + 1] += start[v];
        g_autofree guint *fill = g_memdup2 (start, sizeof (guint) * 257);
        for (guint i = 0; i < n; i++)
          if (info[i].ok)
            order[fill[(info[i].dhash >> (8 * band)) & 0xff]++] = i;
        for (int v = 0; v < 256; v++)
          for (guint x = start[v]; x < start[v + 1]; x++)
            {
              if (g_cancellable_set_error_if_cancelled (cancellable, error))
                goto cancelled;
              for (guint y = x + 1; y < start[v + 1]; y++)
                {
                  guint a = order[x], bi = order[y];
                  int ham = __builtin_popcountll (info[a].dhash ^ info[bi].dhash);
                  if (ham > opts.max_hamming)
                    continue;
                  /* brightness-invariant: the thumbnails' means are taken out first */
                  double diff = 0, shift = info[a].thumb_mean - info[bi].thumb_mean;
                  for (int k = 0; k < THUMB * THUMB; k++)
                    diff += fabs (info[a].thumb[k] - info[bi].thumb[k] - shift);
                  diff /= THUMB * THUMB;
                  /* a black and a white image are not copies: brightness may differ a little only */
                  if (fabs (shift) > MAX_SHIFT)
                    continue;
                  if (diff > opts.max_pixel_diff)
                    {
                      /* a small shift moves the 16×16 copies apart but not their 8×8 halves */
                      double coarse = 0;
                      for (int ty = 0; ty < THUMB; ty += 2)
                        for (int tx = 0; tx < THUMB; tx += 2)
                          {
                            const float *ta = info[a].thumb + ty * THUMB + tx, *tb = info[bi].thumb + ty * THUMB + tx;
                            coarse += fabs ((ta[0] + ta[1] + ta[THUMB] + ta[THUMB + 1]
                                             - tb[0] - tb[1] - tb[THUMB] - tb[THUMB + 1]) / 4 - shift);
                          }
                      coarse /= (THUMB / 2) * (THUMB / 2);
                      if (diff > 3 * opts.max_pixel_diff || coarse > opts.max_pixel_diff)
                        continue;
                    }
                  diff = round (diff * 1e4) / 1e4;
                  gint64 key = ((gint64) MIN (a, bi) << 32) | MAX (a, bi);
                  if (g_hash_table_contains (seen, &key))
                    continue;
                  g_hash_table_add (seen, g_memdup2 (&key, sizeof key));
                  BtDoctorDuplicate dup = { MIN (a, bi), MAX (a, bi), diff };
                  g_array_append_val (r->duplicates, dup);
                }
            }
        progress_report (progress, user_data, "duplicates", (band + 1) / 8.0);
      }
    g_array_sort (r->duplicates, cmp_dup);
  }

  /* outliers: mean distance to the KNN nearest other images in the standardized features */
  {
    g_autofree double *score = g_new0 (double, MAX (n, 1));
    g_autofree guint *ok = g_new (guint, MAX (n, 1));
    guint nok = 0;
    for (guint i = 0; i < n; i++)
      if (info[i].ok)
        ok[nok++] = i;
    if (nok > KNN + 1)
      {
        for (guint a = 0; a < nok; a++)
          {
            if (a % 64 == 0 && g_cancellable_set_error_if_cancelled (cancellable, error))
              goto cancelled;
            double near[KNN];
            for (int k = 0; k < KNN; k++)
              near[k] = INFINITY;
            const float *xa = X + (gsize) ok[a] * d;
            for (guint bi = 0; bi < nok; bi++)
              {
                if (bi == a)
                  continue;
                const float *xb = X + (gsize) ok[bi] * d;
                double s = 0;
                for (int k = 0; k < d && s < near[KNN - 1]; k++)
                  {
                    double v = (double) xa[k] - xb[k];
                    s += v * v;
                  }
                if (s < near[KNN - 1])
                  {
                    int k = KNN - 1;
                    while (k > 0 && near[k - 1] > s)
                      {
                        near[k] = near[k - 1];
                        k--;
                      }
                    near[k] = s;
                  }
              }
            double m = 0;
            for (int k = 0; k < KNN; k++)
              m += sqrt (near[k]);
            score[a] = m / KNN;
            if (a % 256 == 0)
              progress_report (progress, user_data, "outliers", (a + 1.0) / nok);
          }
        g_autofree double *sorted = g_memdup2 (score, sizeof (double) * nok);
        qsort (sorted, nok, sizeof (double), cmp_double);
        double median = sorted[nok / 2];
        /* far: over 1.5 times the median neighbour distance; score = dist / (dist + median) */
        for (guint a = 0; a < nok; a++)
          if (median > 0 && score[a] > 1.5 * median)
            {
              BtDoctorOutlier o = { ok[a], score[a] / (score[a] + median) };
              g_array_append_val (r->outliers, o);
            }
        g_array_sort (r->outliers, cmp_outlier);
      }
    progress_report (progress, user_data, "outliers", 1.0);
  }
  return r;

cancelled:
  bt_doctor_report_free (r);
  return NULL;
}

/* ---- JSON ---- */
static void
json_string (GString *s, const char *v)
{
  g_string_append_c (s, '"');
  for (const guchar *p = (const guchar *) v; *p; p++)
    {
      if (*p == '"' || *p == '\\')
        g_string_append_printf (s, "\\%c", *p);
      else if (*p < 0x20)
        g_string_append_printf (s, "\\u%04x", *p);
      else
        g_string_append_c (s, (char) *p);
    }
  g_string_append_c (s, '"');
}

/* a path that is not UTF-8 is written in its displayable form */
static void
json_path (GString *s, const char *path)
{
  g_autofree char *u = g_filename_display_name (path);
  json_string (s, u);
}

static void
json_number (GString *s, double v)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE];
  g_string_append (s, g_ascii_formatd (buf, sizeof buf, "%.6g", isfinite (v) ? v : 0.0));
}

char *
bt_doctor_report_to_json (const BtDoctorReport *r)
{
  GString *s = g_string_new ("{\"label_issues\":[");
  for (guint i = 0; i < r->label_issues->len; i++)
    {
      const BtDoctorLabelIssue *x = &g_array_index (r->label_issues, BtDoctorLabelIssue, i);
      g_string_append (s, i ? ",\n{\"image\":" : "\n{\"image\":");
      json_path (s, bt_doctor_report_path (r, x->item));
      g_string_append (s, ",\"label\":");
      json_string (s, bt_doctor_report_class (r, x->label));
      g_string_append (s, ",\"suggested\":");
      json_string (s, bt_doctor_report_class (r, x->suggested));
      g_string_append (s, ",\"score\":");
      json_number (s, x->score);
      g_string_append_c (s, '}');
    }
  g_string_append (s, "],\n\"near_duplicates\":[");
  for (guint i = 0; i < r->duplicates->len; i++)
    {
      const BtDoctorDuplicate *x = &g_array_index (r->duplicates, BtDoctorDuplicate, i);
      g_string_append (s, i ? ",\n{\"images\":[" : "\n{\"images\":[");
      json_path (s, bt_doctor_report_path (r, x->a));
      g_string_append_c (s, ',');
      json_path (s, bt_doctor_report_path (r, x->b));
      g_string_append (s, "],\"distance\":");
      json_number (s, x->distance);
      g_string_append (s, ",\"splits\":[");
      json_string (s, bt_split_to_string (bt_doctor_report_split (r, x->a)));
      g_string_append_c (s, ',');
      json_string (s, bt_split_to_string (bt_doctor_report_split (r, x->b)));
      g_string_append (s, "],\"labels\":[");
      json_string (s, bt_doctor_report_class (r, bt_doctor_report_label (r, x->a)));
      g_string_append_c (s, ',');
      json_string (s, bt_doctor_report_class (r, bt_doctor_report_label (r, x->b)));
      g_string_append (s, "]}");
    }
  g_string_append (s, "],\n\"outliers\":[");
  for (guint i = 0; i < r->outliers->len; i++)
    {
      const BtDoctorOutlier *x = &g_array_index (r->outliers, BtDoctorOutlier, i);
      g_string_append (s, i ? ",\n{\"image\":" : "\n{\"image\":");
      json_path (s, bt_doctor_report_path (r, x->item));
      g_string_append (s, ",\"score\":");
      json_number (s, x->score);
      g_string_append_c (s, '}');
    }
  g_string_append (s, "],\n\"quality\":[");
  for (guint i = 0; i < r->quality->len; i++)
    {
      const BtDoctorQuality *x = &g_array_index (r->quality, BtDoctorQuality, i);
      g_string_append (s, i ? ",\n{\"image\":" : "\n{\"image\":");
      json_path (s, bt_doctor_report_path (r, x->item));
      g_string_append (s, ",\"problems\":[");
      gboolean first = TRUE;
      for (int bit = 0; bit < BT_DOCTOR_N_PROBLEMS; bit++)
        if (x->problems & (1u << bit))
          {
            if (!first)
              g_string_append_c (s, ',');
            json_string (s, bt_doctor_problem_to_id (bit));
            first = FALSE;
          }
      g_string_append (s, "]}");
    }
  g_string_append (s, "]}\n");
  return g_string_free (s, FALSE);
}
