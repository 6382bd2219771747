/* bt-doctor.c: the data doctor's analysis (see bt-doctor.h and docs/ARCHITECTURE.md).
 *
 * One pass decodes every image once (RGB, at most 128 px a side) into a grey working copy from
 * which come the quality measures, a 32×32 grey copy with its 8×8 signature, and a feature vector
 * (the backbone's embedding for transfer projects, else a fixed shape descriptor: the
 * rotation-invariant Fourier magnitudes of the gradient-orientation histogram, a 4×4 grid of
 * orientation histograms, the image's mean, contrast and edge density, a 12×12 grey copy).
 * Label issues: K-fold training of the project's preset (bt-doctor-folds.c: the network on the
 * pixels for a short schedule, or the transfer head on the embeddings; softmax regression on the
 * descriptor without a preset) gives out-of-fold probabilities;
 * confident learning (per-class thresholds = mean self-confidence, the confident joint's
 * off-diagonal) picks the issues, ranked by self-confidence.
 * Near-duplicates: an LSH index (random-hyperplane hashes of the signatures, 32 tables of 12
 * bits, each bucket ordered by one more projection) gives candidate pairs without an O(n²)
 * pass; each is checked by the best Pearson correlation of the grey copies (the image itself
 * up to 32×32, so its pixels shift whole; else 32×32) over shifts of up to 2 pixels (so
 * shifted, slightly cropped, brightened or re-encoded copies match); distance = 1 − that.
 * Outliers: distance to the nearest class centroid in the standardized features, over that
 * class's spread.
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
#include "doctor/bt-doctor-cache.h"
#include "doctor/bt-doctor-private.h"
#include "engine/bt-engine.h"
#include "training/bt-training.h"
#include "training/bt-transfer.h"

#define WORK_SIDE   128
#define DUP_SIDE    32    /* near-duplicates: a 32×32 grey copy of every image… */
#define SIG         8     /* …and its 8×8 signature (mean taken out, unit length) for the index */
#define LSH_TABLES  32    /* random-hyperplane hashes of the signature: tables × bits */
#define LSH_BITS    12
#define LSH_WINDOW  256   /* bucket mates compared at most (a bucket of flat images is one heap) */
#define SIG_MIN_COS 0.85  /* signatures of candidate pairs at least this similar */
#define MAX_DX      2     /* shifts tried (pixels of the 32×32 copy, either way) */
#define DUP_MAX_MAD 0.05  /* and the mean absolute difference at the best shift at most */
#define MAX_CHROMA  0.04  /* a channel's mean may move this much apart from the others' */
#define ORI_BINS    36
#define N_FOURIER   12
#define GRID        4
#define GRID_BINS   8
#define N_STATS     3     /* mean, contrast and edge density of the grey image */
#define PIX         12    /* a 12×12 grey copy: the layout of aligned images */
#define DESC_DIM    (N_FOURIER + GRID * GRID * GRID_BINS + N_STATS + PIX * PIX)
#define OUT_SD_FLOOR 0.1  /* (standardized units) so a feature constant in a class does not explode */
#define OUT_RATIO   1.25  /* outliers: this many times further from every class than its typical image */
#define MAX_SHIFT   0.2   /* near-duplicates: mean brightness differs by at most this (0…1) */

#define HEAD_EPOCHS   20    /* the out-of-fold models' short schedule: a head on features… */
#define PIXEL_EPOCHS  5     /* …or the preset on the pixels (fewer when the project has fewer) */
#define MIN_STEPS     300   /* steps of each fold model at least (small sets: more epochs)… */
#define PIXEL_FLOPS   1e12  /* …but the preset's k models together train at most this many FLOPs */
#define MAX_PIXEL_BYTES ((gsize) 512 << 20)   /* more pixels than this: the descriptor instead */

#define Q_DARK        40.0
#define Q_BRIGHT      225.0
#define Q_LOW_STD     12.0
#define Q_BLUR_VAR    25.0
#define Q_TINY        32
#define Q_ASPECT      4.0

typedef struct { char *path; int label; BtSplit split; int width, height; guint64 hash; } Entry;  /* 0: unknown */

struct _BtDoctorInput {
  GPtrArray *classes;          /* char* */
  GArray    *items;            /* Entry */
  BtProjectSettings settings;
  gboolean   have_settings;
  char      *project_dir;      /* holds the embedding cache; NULL without a project */
  char      *cache_dir;        /* the doctor's cache (bt-doctor-cache.h), or NULL for none */
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
      e->hash = bt_item_get_hash (item);
    }
  in->project_dir = g_strdup (bt_project_get_dir (project));
  in->cache_dir = g_build_filename (in->project_dir, "cache", "doctor", NULL);
  return in;
}

void
bt_doctor_input_set_cache_dir (BtDoctorInput *in, const char *dir)
{
  g_return_if_fail (in != NULL);
  g_free (in->cache_dir);
  in->cache_dir = g_strdup (dir);
}

void
bt_doctor_input_add (BtDoctorInput *in, const char *path, int label, BtSplit split)
{
  g_return_if_fail (in != NULL && path != NULL);
  Entry e = { g_strdup (path), label < (int) in->classes->len ? label : -1, split, 0, 0, 0 };
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
  g_free (in->project_dir);
  g_free (in->cache_dir);
  g_free (in);
}

void
bt_doctor_options_init (BtDoctorOptions *opts)
{
  memset (opts, 0, sizeof *opts);
  opts->folds = 5;
  opts->seed = 1;
  opts->max_distance = 0.012;
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
  g_free (r->model);
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
  guint8   pix[DUP_SIDE * DUP_SIDE];   /* grey 0…255, pw × ph: the image itself when it is no
                                        * larger (so its own pixels shift by whole pixels), else
                                        * a 32×32 copy */
  int      pw, ph;
  float    sig[SIG * SIG];             /* all 0 for a flat image */
  double   thumb_mean;                 /* 0…1 */
  float    rgb_mean[3];                /* 0…1: a recoloured look-alike is not a copy */
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

/* The 32×32 copy and the 8×8 signature the near-duplicate index uses. */
static void
duplicate_signature (const float *grey, int w, int h, ImageInfo *info)
{
  float t[DUP_SIDE * DUP_SIDE], g[SIG * SIG];
  double mean = 0, norm = 0;
  gboolean native = w <= DUP_SIDE && h <= DUP_SIDE;
  info->pw = native ? w : DUP_SIDE;
  info->ph = native ? h : DUP_SIDE;
  resample (grey, w, h, t, info->pw, info->ph);
  for (int i = 0; i < info->pw * info->ph; i++)
    {
      info->pix[i] = (guint8) CLAMP (t[i] + 0.5f, 0.f, 255.f);
      mean += info->pix[i];
    }
  info->thumb_mean = mean / (info->pw * info->ph) / 255.0;
  resample (t, info->pw, info->ph, g, SIG, SIG);
  mean = 0;
  for (int i = 0; i < SIG * SIG; i++)
    mean += g[i];
  mean /= SIG * SIG;
  for (int i = 0; i < SIG * SIG; i++)
    norm += (g[i] - mean) * (g[i] - mean);
  norm = sqrt (norm);
  for (int i = 0; i < SIG * SIG; i++)
    info->sig[i] = norm > 1.0 ? (float) ((g[i] - mean) / norm) : 0.f;
}

/* cached: the image's embedding when the embedding cache had it (then bb is not run). */
static gboolean
analyse_image (const Entry *e, BtBackbone *bb, const float *cached, BtDsResize resize, float *feature,
               ImageInfo *info, GCancellable *cancellable)
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
  double rgb[3] = { 0, 0, 0 };
  for (gsize i = 0; i < (gsize) w * h; i++)
    {
      const guint8 *p = img->pixels + 3 * i;
      grey[i] = 0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2];
      for (int ch = 0; ch < 3; ch++)
        rgb[ch] += p[ch];
    }
  for (int ch = 0; ch < 3; ch++)
    info->rgb_mean[ch] = (float) (rgb[ch] / ((double) w * h * 255.0));
  quality (grey, w, h, fw, fh, info);

  duplicate_signature (grey, w, h, info);

  if (cached != NULL)
    memcpy (feature, cached, sizeof (float) * bt_backbone_get_dim (bb));
  else if (bb != NULL)
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

/* ---- The analysis, in steps ---- */
typedef struct {
  BtDoctorInput   *input;
  BtDoctorOptions  opts;
  BtDoctorProgress progress;
  gpointer         user_data;
  GCancellable    *cancellable;
  BtDoctorReport  *r;
  guint            n;
  int              c, d;            /* classes, feature dimension */
  ImageInfo       *info;            /* n */
  float           *X;               /* n × d features, standardized after decode */
  guint8          *pix;             /* n images at the preset's input size (uint8 HWC), or NULL */
  BtPreset         preset;          /* of the pixels */
  double           fold_lo, fold_span;   /* the "folds" progress of the model in training */
  BtDoctorCache   *cache;           /* or NULL */
  guint8         (*keys)[BT_DOCTOR_KEY_LEN];   /* n: each file's cache key… */
  gboolean        *has_key;         /* …when it could be stat'ed */
  gint             n_cached;        /* atomic */
} Run;

static void
run_progress (Run *run, const char *stage, double f)
{
  progress_report (run->progress, run->user_data, stage, f);
}

/* ---- Tasks on every core ---- */
typedef void (*TaskFunc) (gpointer ctx, guint task);
typedef struct { TaskFunc fn; gpointer ctx; guint n_tasks; gint next, done; } Tasks;

static gpointer
tasks_worker (gpointer data)
{
  Tasks *t = data;
  for (guint i; (i = (guint) g_atomic_int_add (&t->next, 1)) < t->n_tasks;)
    {
      t->fn (t->ctx, i);
      g_atomic_int_inc (&t->done);
    }
  return NULL;
}

/* Runs fn (ctx, task) for every task in 0…n_tasks − 1 on the engine's number of threads (the
 * calling one among them), each thread taking the next task when it is free; a task must not
 * depend on which thread runs it, and checks the cancellable itself. Progress (when stage is
 * not NULL) is reported from the calling thread only. */
static void
run_tasks (Run *run, const char *stage, guint n_tasks, TaskFunc fn, gpointer ctx)
{
  Tasks t = { fn, ctx, n_tasks, 0, 0 };
  GThread *threads[16];
  guint n_threads = MIN ((guint) CLAMP (bt_engine_get_threads (), 1, 16), MAX (n_tasks, 1));
  for (guint k = 1; k < n_threads; k++)
    threads[k] = g_thread_new ("bt-doctor", tasks_worker, &t);
  for (guint i; (i = (guint) g_atomic_int_add (&t.next, 1)) < n_tasks;)
    {
      fn (ctx, i);
      g_atomic_int_inc (&t.done);
      if (stage != NULL)
        run_progress (run, stage, (double) g_atomic_int_get (&t.done) / n_tasks);
    }
  for (guint k = 1; k < n_threads; k++)
    g_thread_join (threads[k]);
  if (stage != NULL)
    run_progress (run, stage, 1.0);
}

/* The backbone, for transfer projects (NULL: the fixed descriptor). */
static BtBackbone *
load_backbone (const BtDoctorInput *input, const BtDoctorOptions *opts)
{
  if (!opts->use_backbone || !input->have_settings || g_strcmp0 (input->settings.preset, "transfer") != 0)
    return NULL;
  g_autoptr (GError) local = NULL;
  g_autofree char *file = bt_backbone_find_for_training (&local);
  BtBackbone *bb = file != NULL ? bt_backbone_load_path (file, &local) : NULL;
  if (bb == NULL)
    g_message ("doctor: no backbone (%s); using the image descriptor", local ? local->message : "?");
  return bb;
}

static void
embed_progress (guint done, guint total, gpointer user_data)
{
  run_progress (user_data, "embed", total > 0 ? (double) done / total : 1.0);
}

/* The backbone's embeddings through the project's embedding cache (keyed by content hash and
 * backbone, shared with training), so a second run embeds only new images. NULL when the
 * input has no project or unknown hashes (then each image is embedded in step_decode). */
static BtEmbeddings *
cached_embeddings (Run *run, BtBackbone *bb, BtDsResize resize, GError **error)
{
  const BtDoctorInput *in = run->input;
  if (bb == NULL || in->project_dir == NULL || run->n == 0)
    return NULL;
  g_autofree const char **paths = g_new (const char *, run->n);
  g_autofree guint64 *hashes = g_new (guint64, run->n);
  g_autofree gboolean *is_train = g_new0 (gboolean, run->n);
  for (guint i = 0; i < run->n; i++)
    {
      const Entry *e = &g_array_index (in->items, Entry, i);
      if (e->hash == 0)
        return NULL;
      paths[i] = e->path;
      hashes[i] = e->hash;
    }
  return bt_embeddings_build_paths (paths, hashes, is_train, run->n, in->project_dir, bb, resize, FALSE, FALSE,
                                    2, embed_progress, run, NULL, NULL, run->cancellable, error);
}

/* The pixels the preset trains on: the image as the trainer sees it (no-op without them). */
static gboolean
decode_pixels (Run *run, guint i, BtDsResize resize)
{
  if (run->pix == NULL)
    return TRUE;
  const BtProjectSettings *s = &run->input->settings;
  const Entry *e = &g_array_index (run->input->items, Entry, i);
  g_autoptr (BtImage) img = bt_image_preprocess_file (e->path, s->width, s->height, s->channels, resize,
                                                      run->cancellable, NULL, NULL);
  if (img == NULL)
    return FALSE;
  gsize bytes = (gsize) s->width * s->height * s->channels;
  memcpy (run->pix + bytes * i, img->pixels, bytes);
  return TRUE;
}

/* The preset's short schedule: PIXEL_EPOCHS, or enough for MIN_STEPS steps on a small set,
 * never more than the project's epochs nor (the k folds together) more than PIXEL_FLOPS;
 * 0 when one epoch is already more (then the preset is not trained; the descriptor is). */
static int
pixel_epochs (Run *run)
{
  const BtProjectSettings *s = &run->input->settings;
  if (run->opts.epochs > 0)
    return run->opts.epochs;
  double n_train = run->n * (run->opts.folds - 1.0) / run->opts.folds;
  int epochs = MAX (PIXEL_EPOCHS, (int) ceil (MIN_STEPS * CLAMP (s->batch_size, 1, 256) / MAX (n_train, 1)));
  g_autoptr (BtNet) probe = bt_net_new_preset (run->preset, s->width, s->height, s->channels, MAX (run->c, 2),
                                               (float) s->dropout, 1, NULL);
  if (probe == NULL)
    return 0;
  epochs = MIN (epochs, (int) (PIXEL_FLOPS / (bt_net_flops_per_image (probe) * MAX (n_train, 1) * run->opts.folds)));
  return MIN (epochs, s->epochs);
}

/* Whether the fold models are the project's preset on its pixels: a project whose preset is
 * not the transfer one, when the pixels fit in memory and an epoch in the time budget. */
static gboolean
wants_pixels (Run *run, BtBackbone *bb)
{
  const BtDoctorInput *in = run->input;
  if (bb != NULL || !in->have_settings || !bt_preset_from_id (in->settings.preset, &run->preset) ||
      run->preset == BT_PRESET_TRANSFER)
    return FALSE;
  gsize bytes = (gsize) in->settings.width * in->settings.height * in->settings.channels * run->n;
  if (bytes > MAX_PIXEL_BYTES)
    {
      g_message ("doctor: %" G_GSIZE_FORMAT " MiB of pixels; the descriptor instead of the preset", bytes >> 20);
      return FALSE;
    }
  if (run->c < 2 || pixel_epochs (run) < 1)
    {
      g_message ("doctor: one epoch of the preset on every fold is over the budget; the descriptor instead");
      return FALSE;
    }
  return TRUE;
}

typedef struct { Run *run; BtBackbone *bb; BtEmbeddings *emb; BtDsResize resize; } DecodeJob;

/* ---- The cache's records: ImageInfo, the descriptor (not with a backbone: its embeddings
 * have their own cache) and the preset's pixels (when the run trains on them) ---- */
static gsize
record_feature_floats (Run *run, const DecodeJob *job)
{
  return job->bb != NULL ? 0 : (gsize) run->d;
}

static gsize
record_pixel_bytes (Run *run)
{
  const BtProjectSettings *s = &run->input->settings;
  return run->pix != NULL ? (gsize) s->width * s->height * s->channels : 0;
}

static gsize
record_len (Run *run, const DecodeJob *job)
{
  return sizeof (ImageInfo) + sizeof (float) * record_feature_floats (run, job) + record_pixel_bytes (run);
}

/* What the records of this run hold, as a folder name: another layout, feature kind or pixel
 * size is another folder. */
static char *
cache_recipe (Run *run, const DecodeJob *job)
{
  const BtProjectSettings *s = &run->input->settings;
  g_autofree char *pixels = run->pix != NULL ? g_strdup_printf ("px%dx%dx%d-r%d", s->width, s->height, s->channels,
                                                                (int) job->resize)
                                             : g_strdup ("nopx");
  return g_strdup_printf ("v%d-i%zu-%s%d-%s", BT_DOCTOR_CACHE_VERSION, sizeof (ImageInfo),
                          job->bb != NULL ? "emb" : "desc", job->bb != NULL ? 0 : run->d, pixels);
}

/* A record's values are checked like any file's: the cache lies in the project folder. */
static gboolean
info_plausible (const ImageInfo *info, const float *feature, gsize n_feature)
{
  if (info->ok != TRUE || info->pw < 1 || info->pw > DUP_SIDE || info->ph < 1 || info->ph > DUP_SIDE ||
      !(info->thumb_mean >= 0 && info->thumb_mean <= 1) || info->problems >= (1u << BT_DOCTOR_N_PROBLEMS) ||
      !(info->severity >= 0 && info->severity < 1e6))
    return FALSE;
  for (int ch = 0; ch < 3; ch++)
    if (!(info->rgb_mean[ch] >= 0 && info->rgb_mean[ch] <= 1))
      return FALSE;
  for (int k = 0; k < SIG * SIG; k++)
    if (!(fabsf (info->sig[k]) <= 1.001f))
      return FALSE;
  for (gsize k = 0; k < n_feature; k++)
    if (!isfinite (feature[k]))
      return FALSE;
  return TRUE;
}

/* Image i from the cache: TRUE when its record was there and sound (then nothing is decoded). */
static gboolean
cache_load (DecodeJob *job, guint i, const float *embedding)
{
  Run *run = job->run;
  gsize len = record_len (run, job), nf = record_feature_floats (run, job), np = record_pixel_bytes (run);
  g_autofree guint8 *rec = g_malloc (len);
  ImageInfo info;
  if (!bt_doctor_cache_read (run->cache, run->keys[i], rec, len))
    return FALSE;
  memcpy (&info, rec, sizeof info);
  g_autofree float *feature = nf > 0 ? g_memdup2 (rec + sizeof info, sizeof (float) * nf) : NULL;
  if (!info_plausible (&info, feature, nf))
    return FALSE;
  run->info[i] = info;
  float *x = run->X + (gsize) i * run->d;
  if (nf > 0)
    memcpy (x, feature, sizeof (float) * nf);
  else
    memcpy (x, embedding, sizeof (float) * run->d);
  if (np > 0)
    memcpy (run->pix + np * i, rec + sizeof info + sizeof (float) * nf, np);
  g_atomic_int_inc (&run->n_cached);
  return TRUE;
}

static void
cache_store (DecodeJob *job, guint i)
{
  Run *run = job->run;
  gsize len = record_len (run, job), nf = record_feature_floats (run, job), np = record_pixel_bytes (run);
  g_autofree guint8 *rec = g_malloc0 (len);
  memcpy (rec, &run->info[i], sizeof (ImageInfo));
  if (nf > 0)
    memcpy (rec + sizeof (ImageInfo), run->X + (gsize) i * run->d, sizeof (float) * nf);
  if (np > 0)
    memcpy (rec + sizeof (ImageInfo) + sizeof (float) * nf, run->pix + np * i, np);
  bt_doctor_cache_write (run->cache, run->keys[i], rec, len);
}

/* One image (a task of step_decode): info, features and pixels; info.ok stays FALSE when it is
 * unreadable (or the embedding cache could not read it either). */
static void
decode_one (gpointer ctx, guint i)
{
  DecodeJob *job = ctx;
  Run *run = job->run;
  if (g_cancellable_is_cancelled (run->cancellable))
    return;
  const Entry *e = &g_array_index (run->input->items, Entry, i);
  const float *cached = NULL;
  /* keyed first: an image left out below still counts in the duplicate pairs' set */
  if (run->cache != NULL)
    run->has_key[i] = bt_doctor_cache_file_key (e->path, e->hash, run->keys[i]);
  if (job->emb != NULL)
    {
      if (!bt_embeddings_is_valid (job->emb, i))
        return;
      cached = bt_embeddings_get (job->emb, i, 0);
    }
  if (run->has_key[i] && cache_load (job, i, cached))
    return;
  if (!analyse_image (e, job->bb, cached, job->resize, run->X + (gsize) i * run->d, &run->info[i],
                      run->cancellable) ||
      !decode_pixels (run, i, job->resize))
    run->info[i].ok = FALSE;
  else if (run->cache != NULL && run->has_key[i] && !g_cancellable_is_cancelled (run->cancellable))
    cache_store (job, i);
}

/* Decodes every image once, on every core: quality, hashes, thumbnails and features. */
static gboolean
step_decode (Run *run, BtBackbone *bb, GError **error)
{
  DecodeJob job = { run, bb, NULL, run->input->have_settings ? run->input->settings.resize : BT_DS_RESIZE_SQUASH };
  g_autoptr (GError) local = NULL;
  g_autoptr (BtEmbeddings) emb = job.emb = cached_embeddings (run, bb, job.resize, &local);
  if (g_cancellable_set_error_if_cancelled (run->cancellable, error))
    return FALSE;
  if (local != NULL)
    g_message ("doctor: the embedding cache failed (%s); embedding each image", local->message);
  run->r->n_embedded = emb != NULL ? bt_embeddings_n_computed (emb) : 0;
  /* with a backbone, the records leave the features to the embedding cache: none, no records */
  if (run->input->cache_dir != NULL && (bb == NULL || emb != NULL))
    {
      g_autofree char *recipe = cache_recipe (run, &job);
      run->cache = bt_doctor_cache_new (run->input->cache_dir, recipe);   /* bt_doctor_run frees it */
    }
  run_tasks (run, "decode", run->n, decode_one, &job);
  run->r->n_cached = (guint) g_atomic_int_get (&run->n_cached);
  if (g_cancellable_set_error_if_cancelled (run->cancellable, error))
    return FALSE;
  for (guint i = 0; i < run->n; i++)
    if (!run->info[i].ok)
      run->r->n_unreadable++;
    else if (emb == NULL && bb != NULL)
      run->r->n_embedded++;
  return TRUE;
}

static void
step_quality (Run *run)
{
  for (guint i = 0; i < run->n; i++)
    if (run->info[i].ok && run->info[i].problems != 0)
      {
        BtDoctorQuality q = { i, run->info[i].problems, run->info[i].severity };
        g_array_append_val (run->r->quality, q);
      }
  g_array_sort (run->r->quality, cmp_quality);
}

/* Standardizes the features of the readable images (the others become 0). */
static void
step_standardize (Run *run)
{
  guint n = run->n;
  int d = run->d;
  float *X = run->X;
  g_autofree double *mu = g_new0 (double, d), *sd = g_new0 (double, d);
  guint nok = 0;
  for (guint i = 0; i < n; i++)
    if (run->info[i].ok)
      {
        nok++;
        for (int k = 0; k < d; k++)
          mu[k] += X[(gsize) i * d + k];
      }
  for (int k = 0; k < d; k++)
    mu[k] /= MAX (nok, 1);
  for (guint i = 0; i < n; i++)
    if (run->info[i].ok)
      for (int k = 0; k < d; k++)
        {
          double v = X[(gsize) i * d + k] - mu[k];
          sd[k] += v * v;
        }
  for (int k = 0; k < d; k++)
    sd[k] = sqrt (sd[k] / MAX (nok, 1)) + 1e-6;
  for (guint i = 0; i < n; i++)
    for (int k = 0; k < d; k++)
      X[(gsize) i * d + k] = run->info[i].ok ? (float) ((X[(gsize) i * d + k] - mu[k]) / sd[k]) : 0.f;
}

/* Stratified folds by seed: fold[i] for every labelled image. */
static void
assign_folds (const int *labels, guint n, int c, int K, guint64 seed, int *fold)
{
  BtRng rng;
  bt_rng_seed (&rng, seed);
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
}

/* A fold model: the project's preset on the pixels (on_pixels), else a dense head on the
 * features (the transfer head on the embeddings; softmax regression on the descriptor).
 * Returns what it is, for the report. */
static char *
fold_model (Run *run, gboolean on_pixels, BtDoctorFoldModel *m)
{
  const BtProjectSettings *s = run->input->have_settings ? &run->input->settings : NULL;
  memset (m, 0, sizeof *m);
  m->seed = run->opts.seed;
  m->optimizer = BT_OPTIMIZER_ADAM;
  m->learning_rate = 1e-3f;
  m->batch_size = 32;
  m->dropout = -1;
  if (s != NULL)
    {
      if (!bt_optimizer_kind_from_id (s->optimizer, &m->optimizer))
        m->optimizer = BT_OPTIMIZER_ADAM;
      m->learning_rate = (float) s->learning_rate;
      m->weight_decay = (float) s->weight_decay;
      m->batch_size = s->batch_size;
      m->dropout = (float) s->dropout;
    }
  /* images each fold model trains on, and so its steps per epoch */
  double n_train = run->n * (run->opts.folds - 1.0) / run->opts.folds;
  if (on_pixels)
    {
      m->pixels = run->pix;
      m->width = s->width;
      m->height = s->height;
      m->channels = s->channels;
      m->preset = run->preset;
      m->epochs = pixel_epochs (run);
      return g_strdup_printf ("%s %d×%d×%d, %d epochs", bt_preset_to_id (m->preset), m->width, m->height,
                              m->channels, m->epochs);
    }
  m->features = run->X;
  m->dim = run->d;
  m->hidden = run->r->used_backbone ? s->transfer_hidden : 0;
  m->preset = BT_PRESET_TRANSFER;
  if (!run->r->used_backbone)
    {
      /* the descriptor is no project's model: softmax regression with its own settings */
      m->optimizer = BT_OPTIMIZER_ADAM;
      m->learning_rate = 0.01f;
      m->weight_decay = 1e-4f;
      m->batch_size = 64;
      m->dropout = 0;
    }
  int epochs = (int) ceil (MIN_STEPS * CLAMP (m->batch_size, 1, 256) / MAX (n_train, 1));
  m->epochs = run->opts.epochs > 0 ? run->opts.epochs : CLAMP (epochs, HEAD_EPOCHS, 10 * HEAD_EPOCHS);
  return g_strdup_printf ("%s head on %d %s, %d epochs", m->hidden > 0 ? "hidden" : "linear", m->dim,
                          run->r->used_backbone ? "embeddings" : "descriptors", m->epochs);
}

static void
fold_progress (double fraction, gpointer user_data)
{
  Run *run = user_data;
  run_progress (run, "folds", run->fold_lo + run->fold_span * fraction);
}

/* The accuracy of the argmax of P on the labelled images. */
static double
argmax_accuracy (const int *labels, const double *P, guint n, int c)
{
  guint labelled = 0, right = 0;
  for (guint i = 0; i < n; i++)
    if (labels[i] >= 0)
      {
        const double *p = P + (gsize) i * c;
        int am = 0;
        for (int j = 1; j < c; j++)
          if (p[j] > p[am])
            am = j;
        right += am == labels[i];
        labelled++;
      }
  return labelled > 0 ? (double) right / labelled : 0;
}

/* Out-of-fold probabilities P (n × c) of the labelled images. A project trained on pixels gets
 * two sets, its preset's and the descriptor head's (cheap): a short schedule of a network on
 * a few hundred images can lose to the descriptor, and their mean often beats both. Of the
 * preset, the descriptor and the mean, the most accurate out of fold is kept (all three only
 * ever score images their models did not see). */
static gboolean
out_of_fold (Run *run, const int *labels, double *P, GError **error)
{
  guint n = run->n;
  int c = run->c;
  g_autofree int *fold = g_new (int, MAX (n, 1));
  for (guint i = 0; i < n; i++)
    fold[i] = -1;
  assign_folds (labels, n, c, run->opts.folds, run->opts.seed, fold);
  BtDoctorFoldModel m;
  g_autofree char *feat_name = fold_model (run, FALSE, &m);
  run->fold_lo = 0;
  run->fold_span = run->pix != NULL ? 0.1 : 1.0;
  if (!bt_doctor_out_of_fold (&m, labels, fold, n, c, run->opts.folds, P, fold_progress, run, run->cancellable,
                              error))
    return FALSE;
  run->r->model = g_steal_pointer (&feat_name);
  if (run->pix == NULL)
    return TRUE;
  g_autofree double *Q = g_new0 (double, (gsize) MAX (n, 1) * c);
  g_autofree char *pix_name = fold_model (run, TRUE, &m);
  run->fold_lo = 0.1;
  run->fold_span = 0.9;
  if (!bt_doctor_out_of_fold (&m, labels, fold, n, c, run->opts.folds, Q, fold_progress, run, run->cancellable,
                              error))
    return FALSE;
  g_autofree double *M = g_new0 (double, (gsize) MAX (n, 1) * c);
  for (gsize i = 0; i < (gsize) n * c; i++)
    M[i] = 0.5 * (P[i] + Q[i]);
  double acc_feat = argmax_accuracy (labels, P, n, c), acc_pix = argmax_accuracy (labels, Q, n, c);
  double acc_mean = argmax_accuracy (labels, M, n, c);
  g_autofree char *old = g_steal_pointer (&run->r->model);
  if (acc_mean > acc_pix && acc_mean > acc_feat)
    {
      memcpy (P, M, sizeof (double) * n * c);
      run->r->model = g_strdup_printf ("mean of %s (%.3f) and %s (%.3f): %.3f", pix_name, acc_pix, old, acc_feat,
                                       acc_mean);
    }
  else if (acc_pix >= acc_feat)
    {
      memcpy (P, Q, sizeof (double) * n * c);
      run->r->model = g_strdup_printf ("%s (%.3f; %s %.3f)", pix_name, acc_pix, old, acc_feat);
    }
  else
    run->r->model = g_strdup_printf ("%s (%.3f; %s %.3f)", old, acc_feat, pix_name, acc_pix);
  return TRUE;
}

/* Confident learning on P: per-class thresholds (the mean self-confidence of each given class);
 * each image counts for the most probable class whose probability reaches that class's
 * threshold; off the diagonal = a label issue, ranked by 1 − P(given label). */
static void
confident_learning (Run *run, const int *labels, const double *P)
{
  guint n = run->n;
  int c = run->c;
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
  run->r->oof_accuracy = labelled > 0 ? (double) right / labelled : 0;
  for (int j = 0; j < c; j++)
    thr[j] = cnt[j] > 0 ? thr[j] / cnt[j] : 1.0;
  for (guint i = 0; i < n; i++)
    {
      if (labels[i] < 0)
        continue;
      const double *p = P + (gsize) i * c;
      int best = -1, am = 0;
      for (int j = 0; j < c; j++)
        {
          if (p[j] >= thr[j] && (best < 0 || p[j] > p[best]))
            best = j;
          if (p[j] > p[am])
            am = j;
        }
      /* no class confident (not even the given one): the model's most probable, when it is
       * another class (else an unsure image would hide from the ranking altogether) */
      if (best < 0 && p[labels[i]] < thr[labels[i]])
        best = am;
      if (best >= 0 && best != labels[i])
        {
          BtDoctorLabelIssue is = { i, labels[i], best, 1.0 - p[labels[i]] };
          g_array_append_val (run->r->label_issues, is);
        }
    }
  g_array_sort (run->r->label_issues, cmp_issue);
}

static gboolean
step_label_issues (Run *run, GError **error)
{
  if (run->c < 2)
    return TRUE;
  g_autofree int *labels = g_new (int, MAX (run->n, 1));
  for (guint i = 0; i < run->n; i++)
    labels[i] = run->info[i].ok ? g_array_index (run->input->items, Entry, i).label : -1;
  g_autofree double *P = g_new0 (double, (gsize) MAX (run->n, 1) * run->c);
  if (!out_of_fold (run, labels, P, error))
    return FALSE;
  confident_learning (run, labels, P);
  return TRUE;
}

/* Every overlap of two W×H images shifted by at most MAX_DX pixels is a rectangle between the
 * cuts 0…MAX_DX and W − MAX_DX…W of either side (2 × (MAX_DX + 1) cuts). */
#define N_CUTS (2 * (MAX_DX + 1))

/* Cut c (0…N_CUTS − 1) of a side of length L, and the cut at position v (one of them). */
static inline int cut_pos (int c, int L) { return CLAMP (c <= MAX_DX ? c : L - (N_CUTS - 1 - c), 0, L); }
static inline int cut_index (int v, int L) { return v <= MAX_DX ? v : N_CUTS - 1 - (L - v); }

/* s[i][j], s2[i][j]: the sums of v and v² over rows [0, cut i) and columns [0, cut j) of a W×H
 * image; from each row's total and its first and last MAX_DX pixels (a full integral image per
 * pair cost as much as the correlations). */
static void
cut_sums (const guint8 *p, int W, int H, guint32 s[N_CUTS][N_CUTS], guint32 s2[N_CUTS][N_CUTS])
{
  guint32 r[DUP_SIDE][N_CUTS], r2[DUP_SIDE][N_CUTS];   /* each row's sums over [0, cut j) */
  for (int y = 0; y < H; y++)
    {
      const guint8 *row = p + y * W;
      guint32 t = 0, t2 = 0;
      for (int x = 0; x < W; x++)
        {
          t += row[x];
          t2 += (guint32) row[x] * row[x];
        }
      for (int j = 0; j < N_CUTS; j++)
        {
          int c = cut_pos (j, W);
          guint32 u = 0, u2 = 0;
          /* the first c pixels, or all but the last W − c */
          for (int x = j <= MAX_DX ? 0 : c; x < (j <= MAX_DX ? c : W); x++)
            {
              u += row[x];
              u2 += (guint32) row[x] * row[x];
            }
          r[y][j] = j <= MAX_DX ? u : t - u;
          r2[y][j] = j <= MAX_DX ? u2 : t2 - u2;
        }
    }
  for (int j = 0; j < N_CUTS; j++)
    {
      guint32 t = 0, t2 = 0;
      for (int y = 0; y < H; y++)
        {
          t += r[y][j];
          t2 += r2[y][j];
        }
      for (int i = 0; i < N_CUTS; i++)
        {
          int c = cut_pos (i, H);
          guint32 u = 0, u2 = 0;
          for (int y = i <= MAX_DX ? 0 : c; y < (i <= MAX_DX ? c : H); y++)
            {
              u += r[y][j];
              u2 += r2[y][j];
            }
          s[i][j] = i <= MAX_DX ? u : t - u;
          s2[i][j] = i <= MAX_DX ? u2 : t2 - u2;
        }
    }
}

/* The sum over [x0, x1) × [y0, y1) (each a cut) of a W×H image from its cut sums. */
static inline double
cut_rect (guint32 s[N_CUTS][N_CUTS], int W, int H, int x0, int y0, int x1, int y1)
{
  int i0 = cut_index (y0, H), i1 = cut_index (y1, H), j0 = cut_index (x0, W), j1 = cut_index (x1, W);
  return (double) (s[i1][j1] - s[i0][j1] - s[i1][j0] + s[i0][j0]);
}

/* A row of DUP_SIDE pixels with at least MAX_DX zeros on either side; a multiple of 16 */
#define PAD_STRIDE  48

/* img (W×H) into pad at column MAX_DX of each PAD_STRIDE-wide row, zeros around it (and one
 * spare row: a shifted read may run past the last row's end). */
static void
pad_rows (const guint8 *img, int W, int H, guint8 *pad)
{
  memset (pad, 0, (gsize) (H + 1) * PAD_STRIDE);
  for (int y = 0; y < H; y++)
    memcpy (pad + y * PAD_STRIDE + MAX_DX, img + y * W, W);
}

/* The sum of a[i]·b[i]; called with a constant length, so it vectorizes without a scalar tail. */
static inline guint32
dot_u8 (const guint8 *a, const guint8 *b, int len)
{
  guint32 s = 0;
  for (int i = 0; i < len; i++)
    s += (guint32) a[i] * b[i];
  return s;
}

/* The best Pearson correlation of two W×H comparison copies over the shifts of b by at most MAX_DX
 * pixels (on their overlap): a shifted, cropped, re-encoded or brightened copy stays near 1.
 * Each shift's sums of a, a², b and b² over the overlap come from cut sums; only the
 * products are summed pixel by pixel (the near-duplicate step's hot loop, a few million pairs
 * at 10,000 images). mad: at the best shift, the mean absolute difference (0…1) once the mean
 * difference is taken out; it tells a brightened copy (small) from a recoloured look-alike. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
__attribute__ ((optimize ("tree-vectorize"), target_clones ("arch=x86-64-v3", "default")))  /* -O2 does not vectorize */
#endif
static double
shifted_correlation (const guint8 *a, const guint8 *b, int W, int H, double *mad)
{
  guint32 ca[N_CUTS][N_CUTS], ca2[N_CUTS][N_CUTS], cb[N_CUTS][N_CUTS], cb2[N_CUTS][N_CUTS];
  cut_sums (a, W, H, ca, ca2);
  cut_sums (b, W, H, cb, cb2);
  guint8 pa[(DUP_SIDE + 1) * PAD_STRIDE], pb[(DUP_SIDE + 1) * PAD_STRIDE];
  pad_rows (a, W, H, pa);
  pad_rows (b, W, H, pb);
  double best = -1, best_shift = 0;
  int best_dx = 0, best_dy = 0;
  for (int dy = -MAX_DX; dy <= MAX_DX; dy++)
    for (int dx = -MAX_DX; dx <= MAX_DX; dx++)
      {
        /* the overlap: a's [x0, x1) × [y0, y1), b's the same moved by (−dx, −dy) */
        int x0 = MAX (0, dx), x1 = MIN (W, W + dx), y0 = MAX (0, dy), y1 = MIN (H, H + dy);
        double r = 0, sa = 0, sb = 0;
        if (x1 > x0 && y1 > y0)
          {
            /* whole padded rows of DUP_SIDE: a is 0 off the image, so b's pixels off the
             * overlap meet a zero, and the loop has a fixed length */
            guint32 sab = 0;
            for (int y = y0; y < y1; y++)
              sab += dot_u8 (pa + y * PAD_STRIDE + MAX_DX, pb + (y - dy) * PAD_STRIDE + MAX_DX - dx, DUP_SIDE);
            double n = (double) (x1 - x0) * (y1 - y0);
            sa = cut_rect (ca, W, H, x0, y0, x1, y1);
            sb = cut_rect (cb, W, H, x0 - dx, y0 - dy, x1 - dx, y1 - dy);
            double saa = cut_rect (ca2, W, H, x0, y0, x1, y1), sbb = cut_rect (cb2, W, H, x0 - dx, y0 - dy, x1 - dx, y1 - dy);
            double va = saa * n - sa * sa, vb = sbb * n - sb * sb, cov = sab * n - sa * sb;
            /* two flat patches: alike when their levels are (the caller checks the means) */
            r = va < 1e-9 * n * n && vb < 1e-9 * n * n ? 1.0 : va <= 0 || vb <= 0 ? 0.0 : cov / sqrt (va * vb);
          }
        if (r > best)
          {
            best = r;
            best_dx = dx;
            best_dy = dy;
            best_shift = sa - sb;
          }
      }
  /* the residual at the best shift: Σ |d − S/n| = Σ |n·d − S| / n, in integers (d = a − b) */
  int x0 = MAX (0, best_dx), x1 = MIN (W, W + best_dx), y0 = MAX (0, best_dy), y1 = MIN (H, H + best_dy);
  int n = MAX (x1 - x0, 0) * MAX (y1 - y0, 0), S = (int) best_shift;
  guint32 sum = 0;
  for (int y = y0; n > 0 && y < y1; y++)
    {
      const guint8 *ra = a + y * W, *rb = b + (y - best_dy) * W - best_dx;
      for (int x = x0; x < x1; x++)
        sum += (guint32) ABS (n * ((int) ra[x] - (int) rb[x]) - S);
    }
  *mad = n > 0 ? (double) sum / n / n / 255.0 : 1.0;
  return best;
}

/* The image's comparison copy as DUP_SIDE × DUP_SIDE (a native one resampled into buf). */
static const guint8 *
as_square (const ImageInfo *info, guint8 *buf)
{
  if (info->pw == DUP_SIDE && info->ph == DUP_SIDE)
    return info->pix;
  float src[DUP_SIDE * DUP_SIDE], dst[DUP_SIDE * DUP_SIDE];
  for (int i = 0; i < info->pw * info->ph; i++)
    src[i] = info->pix[i];
  resample (src, info->pw, info->ph, dst, DUP_SIDE, DUP_SIDE);
  for (int i = 0; i < DUP_SIDE * DUP_SIDE; i++)
    buf[i] = (guint8) CLAMP (dst[i] + 0.5f, 0.f, 255.f);
  return buf;
}

/* The cheap checks of a candidate pair: their brightness, colour and signatures allow a copy. */
static gboolean
pair_plausible (const ImageInfo *a, const ImageInfo *b, double max_distance)
{
  /* a black and a white image are not copies: brightness may differ a little only */
  if (fabs (a->thumb_mean - b->thumb_mean) > MAX_SHIFT)
    return FALSE;
  /* the colour may shift with the brightness, not on its own */
  double d[3], dm = 0;
  for (int ch = 0; ch < 3; ch++)
    dm += (d[ch] = a->rgb_mean[ch] - b->rgb_mean[ch]) / 3;
  for (int ch = 0; ch < 3; ch++)
    if (fabs (d[ch] - dm) > MAX_CHROMA)
      return FALSE;
  double cos = 0;
  for (int k = 0; k < SIG * SIG; k++)
    cos += a->sig[k] * b->sig[k];
  gboolean flat_a = a->sig[0] == 0 && a->sig[1] == 0, flat_b = b->sig[0] == 0 && b->sig[1] == 0;
  if (flat_a != flat_b || (!flat_a && cos < SIG_MIN_COS))
    return FALSE;
  if (flat_a && fabs (a->thumb_mean - b->thumb_mean) > max_distance)
    return FALSE;
  return TRUE;
}

/* The distance (1 − the best shifted correlation) of two plausible images, or a negative number
 * when they are not near-duplicates. */
static double
pair_distance (const ImageInfo *a, const ImageInfo *b, double max_distance)
{
  double mad = 1;
  guint8 ta[DUP_SIDE * DUP_SIDE], tb[DUP_SIDE * DUP_SIDE];
  const guint8 *pa = a->pix, *pb = b->pix;
  int W = a->pw, H = a->ph;
  if (a->pw != b->pw || a->ph != b->ph)
    {
      /* sizes differ: both as 32×32 copies */
      pa = as_square (a, ta);
      pb = as_square (b, tb);
      W = H = DUP_SIDE;
    }
  double dist = 1.0 - shifted_correlation (pa, pb, W, H, &mad);
  if (dist > max_distance || mad > DUP_MAX_MAD)
    return -1;
  return round (MAX (dist, 0.0) * 1e4) / 1e4;
}

/* An image in one table: its key (the signs of LSH_BITS random projections of its signature)
 * and one more projection, which orders a bucket so that look-alikes sit side by side. */
typedef struct { guint key; float proj; guint item; } Slot;

static int
cmp_slot (gconstpointer a, gconstpointer b)
{
  const Slot *x = a, *y = b;
  if (x->key != y->key)
    return x->key < y->key ? -1 : 1;
  if (x->proj != y->proj)
    return x->proj < y->proj ? -1 : 1;
  return x->item < y->item ? -1 : x->item > y->item;
}

/* The near-duplicate index: for each table, every readable image's key and its place in the
 * table's order (by key, then by the extra projection). Tables are built and searched in
 * parallel, one table a task; each task writes only its own rows. */
typedef struct {
  const ImageInfo *info;
  guint         n, m;                     /* images, readable ones */
  double        max_distance;
  GCancellable *cancellable;
  float         planes[LSH_TABLES][LSH_BITS + 1][SIG * SIG];
  guint16      *key;                      /* LSH_TABLES × n */
  guint32      *pos;                      /* LSH_TABLES × n: the image's place in the table */
  guint32      *order;                    /* LSH_TABLES × m: the readable images in that order */
  GArray       *found[LSH_TABLES];        /* BtDoctorDuplicate, the pairs each table found first */
} Lsh;

static void
lsh_table (gpointer ctx, guint t)
{
  Lsh *l = ctx;
  g_autofree Slot *slot = g_new (Slot, MAX (l->m, 1));
  guint m = 0;
  for (guint i = 0; i < l->n; i++)
    {
      if (!l->info[i].ok)
        continue;
      guint h = 0;
      double z = 0;
      for (int b = 0; b <= LSH_BITS; b++)
        {
          z = 0;
          for (int k = 0; k < SIG * SIG; k++)
            z += l->planes[t][b][k] * l->info[i].sig[k];
          if (b < LSH_BITS)
            h = (h << 1) | (z >= 0);
        }
      slot[m++] = (Slot) { h, (float) z, i };
    }
  qsort (slot, m, sizeof (Slot), cmp_slot);
  for (guint x = 0; x < m; x++)
    {
      l->order[(gsize) t * l->m + x] = slot[x].item;
      l->key[(gsize) t * l->n + slot[x].item] = (guint16) slot[x].key;
      l->pos[(gsize) t * l->n + slot[x].item] = x;
    }
}

/* Whether a table before t compared a and b already (same bucket, at most LSH_WINDOW apart):
 * each pair is checked once, in the first table that brings it up, with no set of pairs to
 * remember (a set grew with n: 265 MiB at 10,000 images). */
static gboolean
met_before (const Lsh *l, guint t, guint a, guint b)
{
  for (guint u = 0; u < t; u++)
    {
      gsize o = (gsize) u * l->n;
      if (l->key[o + a] == l->key[o + b] && ABS ((gint64) l->pos[o + a] - (gint64) l->pos[o + b]) <= LSH_WINDOW)
        return TRUE;
    }
  return FALSE;
}

/* The pairs of table t: bucket mates at most LSH_WINDOW apart, plausible, not met before,
 * near enough. */
static void
lsh_pairs (gpointer ctx, guint t)
{
  Lsh *l = ctx;
  const guint32 *order = l->order + (gsize) t * l->m;
  const guint16 *key = l->key + (gsize) t * l->n;
  GArray *found = l->found[t] = g_array_new (FALSE, FALSE, sizeof (BtDoctorDuplicate));
  for (guint x = 0; x < l->m; x++)
    {
      if (x % 64 == 0 && g_cancellable_is_cancelled (l->cancellable))
        return;
      for (guint y = x + 1; y < MIN (l->m, x + 1 + LSH_WINDOW) && key[order[y]] == key[order[x]]; y++)
        {
          guint a = MIN (order[x], order[y]), b = MAX (order[x], order[y]);
          if (!pair_plausible (&l->info[a], &l->info[b], l->max_distance) || met_before (l, t, a, b))
            continue;
          double dist = pair_distance (&l->info[a], &l->info[b], l->max_distance);
          if (dist < 0)
            continue;
          BtDoctorDuplicate dup = { a, b, dist };
          g_array_append_val (found, dup);
        }
    }
}

/* Computes the near-duplicates: an index of random-hyperplane hashes of the signatures
 * (LSH_TABLES tables): only images that share a bucket in some table, and there lie at most
 * LSH_WINDOW apart in the order of one more projection, are compared, so the work grows with n, not n²; candidates
 * are checked by their shifted correlation. Memory: 10 bytes per image and table. */
static gboolean
step_duplicates_compute (Run *run, GError **error)
{
  g_autofree Lsh *l = g_new0 (Lsh, 1);
  l->info = run->info;
  l->n = run->n;
  for (guint i = 0; i < run->n; i++)
    l->m += run->info[i].ok;
  l->max_distance = run->opts.max_distance;
  l->cancellable = run->cancellable;
  BtRng rng;
  bt_rng_seed (&rng, run->opts.seed ^ 0xd0c7);
  for (int t = 0; t < LSH_TABLES; t++)
    for (int b = 0; b <= LSH_BITS; b++)
      for (int k = 0; k < SIG * SIG; k++)
        l->planes[t][b][k] = bt_rng_normal (&rng);
  g_autofree guint16 *key = l->key = g_new0 (guint16, (gsize) LSH_TABLES * MAX (l->n, 1));
  g_autofree guint32 *pos = l->pos = g_new0 (guint32, (gsize) LSH_TABLES * MAX (l->n, 1));
  g_autofree guint32 *order = l->order = g_new0 (guint32, (gsize) LSH_TABLES * MAX (l->m, 1));
  run_tasks (run, NULL, LSH_TABLES, lsh_table, l);
  run_tasks (run, "duplicates", LSH_TABLES, lsh_pairs, l);
  for (int t = 0; t < LSH_TABLES; t++)
    if (l->found[t] != NULL)
      {
        g_array_append_vals (run->r->duplicates, l->found[t]->data, l->found[t]->len);
        g_array_unref (l->found[t]);
      }
  if (g_cancellable_set_error_if_cancelled (run->cancellable, error))
    return FALSE;
  g_array_sort (run->r->duplicates, cmp_dup);
  return TRUE;
}

/* The key of the whole set the pairs come from: every image's cache key and readability, in
 * order, and the options the pairs depend on; FALSE when an image has no key. */
static gboolean
pairs_set_key (Run *run, guint8 key[BT_DOCTOR_KEY_LEN])
{
  g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  guint64 head[4] = { BT_DOCTOR_CACHE_VERSION, run->n, run->opts.seed, 0 };
  memcpy (&head[3], &run->opts.max_distance, 8);
  for (int k = 0; k < 4; k++)
    head[k] = GUINT64_TO_LE (head[k]);
  g_checksum_update (sum, (const guchar *) head, sizeof head);
  for (guint i = 0; i < run->n; i++)
    {
      guint8 ok = run->info[i].ok ? 1 : 0;
      if (!run->has_key[i])
        return FALSE;
      g_checksum_update (sum, run->keys[i], BT_DOCTOR_KEY_LEN);
      g_checksum_update (sum, &ok, 1);
    }
  gsize len = BT_DOCTOR_KEY_LEN;
  g_checksum_get_digest (sum, key, &len);
  return TRUE;
}

/* Near-duplicates from the cache when it has this exact set of files, else computed (and
 * cached). They depend on the images only, never on labels or splits. */
static gboolean
step_duplicates (Run *run, GError **error)
{
  guint8 set_key[BT_DOCTOR_KEY_LEN];
  gboolean keyed = run->cache != NULL && pairs_set_key (run, set_key);
  if (keyed && bt_doctor_cache_read_pairs (run->cache, set_key, run->n, run->opts.max_distance, run->r->duplicates))
    {
      g_array_sort (run->r->duplicates, cmp_dup);
      run->r->duplicates_cached = TRUE;
      run_progress (run, "duplicates", 1.0);
      return TRUE;
    }
  if (!step_duplicates_compute (run, error))
    return FALSE;
  if (keyed)
    bt_doctor_cache_write_pairs (run->cache, set_key, run->r->duplicates);
  return TRUE;
}

/* The distance of row a to a class: Euclidean after dividing each feature by the class's own
 * deviation of it (plus OUT_SD_FLOOR), so features that are steady within the class weigh more. */
static double
row_distance (const float *a, const double *mu, const double *sd, int d)
{
  double s = 0;
  for (int k = 0; k < d; k++)
    {
      double z = ((double) a[k] - mu[k]) / (sd[k] + OUT_SD_FLOOR);
      s += z * z;
    }
  return sqrt (s);
}

/* Each class's centroid in the standardized features (the labelled readable images) and its
 * spread: the median distance of its images to it. */
static void
class_centroids (Run *run, double *mu, double *sd, double *spread)
{
  int c = run->c, d = run->d;
  g_autofree guint *cnt = g_new0 (guint, MAX (c, 1));
  for (guint i = 0; i < run->n; i++)
    {
      int l = g_array_index (run->input->items, Entry, i).label;
      if (!run->info[i].ok || l < 0)
        continue;
      cnt[l]++;
      for (int k = 0; k < d; k++)
        mu[(gsize) l * d + k] += run->X[(gsize) i * d + k];
    }
  for (int j = 0; j < c; j++)
    for (int k = 0; k < d; k++)
      mu[(gsize) j * d + k] /= MAX (cnt[j], 1);
  for (guint i = 0; i < run->n; i++)
    {
      int l = g_array_index (run->input->items, Entry, i).label;
      if (run->info[i].ok && l >= 0)
        for (int k = 0; k < d; k++)
          {
            double v = run->X[(gsize) i * d + k] - mu[(gsize) l * d + k];
            sd[(gsize) l * d + k] += v * v;
          }
    }
  for (int j = 0; j < c; j++)
    {
      for (int k = 0; k < d; k++)
        sd[(gsize) j * d + k] = sqrt (sd[(gsize) j * d + k] / MAX (cnt[j], 1));
      g_autoptr (GArray) dist = g_array_new (FALSE, FALSE, sizeof (double));
      for (guint i = 0; i < run->n; i++)
        if (run->info[i].ok && g_array_index (run->input->items, Entry, i).label == j)
          {
            double v = row_distance (run->X + (gsize) i * d, mu + (gsize) j * d, sd + (gsize) j * d, d);
            g_array_append_val (dist, v);
          }
      g_array_sort (dist, cmp_double);
      spread[j] = dist->len > 0 ? g_array_index (dist, double, dist->len / 2) : 0;
    }
}

/* Outliers: far from every class. An image's distance to a class is its distance to the class's
 * centroid over the class's spread; its ratio r is the least of them, and it is an outlier when
 * r > OUT_RATIO (score r / (r + 1)). Centroids, unlike nearest neighbours, are not fooled by a
 * handful of outliers that look alike (ten blank images are each other's neighbours), and the
 * work is n × classes, not n². */
static gboolean
step_outliers (Run *run, GError **error)
{
  int c = run->c, d = run->d;
  g_autofree double *mu = g_new0 (double, (gsize) MAX (c, 1) * d);
  g_autofree double *sd = g_new0 (double, (gsize) MAX (c, 1) * d);
  g_autofree double *spread = g_new0 (double, MAX (c, 1));
  class_centroids (run, mu, sd, spread);
  for (guint i = 0; i < run->n; i++)
    {
      if (i % 256 == 0)
        {
          if (g_cancellable_set_error_if_cancelled (run->cancellable, error))
            return FALSE;
          run_progress (run, "outliers", (i + 1.0) / run->n);
        }
      if (!run->info[i].ok)
        continue;
      double r = INFINITY;
      for (int j = 0; j < c; j++)
        if (spread[j] > 0)
          r = MIN (r, row_distance (run->X + (gsize) i * d, mu + (gsize) j * d, sd + (gsize) j * d, d) / spread[j]);
      if (isfinite (r) && r > OUT_RATIO)
        {
          BtDoctorOutlier o = { i, r / (r + 1) };
          g_array_append_val (run->r->outliers, o);
        }
    }
  g_array_sort (run->r->outliers, cmp_outlier);
  run_progress (run, "outliers", 1.0);
  return TRUE;
}

static BtDoctorReport *
report_new (BtDoctorInput *input)
{
  BtDoctorReport *r = g_new0 (BtDoctorReport, 1);
  r->input = input;
  r->label_issues = g_array_new (FALSE, FALSE, sizeof (BtDoctorLabelIssue));
  r->duplicates = g_array_new (FALSE, FALSE, sizeof (BtDoctorDuplicate));
  r->outliers = g_array_new (FALSE, FALSE, sizeof (BtDoctorOutlier));
  r->quality = g_array_new (FALSE, FALSE, sizeof (BtDoctorQuality));
  return r;
}

BtDoctorReport *
bt_doctor_run (BtDoctorInput *input, const BtDoctorOptions *opts_in, BtDoctorProgress progress,
               gpointer user_data, GCancellable *cancellable, GError **error)
{
  g_return_val_if_fail (input != NULL, NULL);
  Run run = { input, { 0 }, progress, user_data, cancellable, NULL, input->items->len,
              (int) input->classes->len, 0, NULL, NULL, NULL, BT_PRESET_MLP, 0, 1 };
  if (opts_in != NULL)
    run.opts = *opts_in;
  else
    bt_doctor_options_init (&run.opts);
  if (run.opts.folds < 2)
    {
      g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID,
                   _("The doctor needs at least 2 folds (asked for %d)."), run.opts.folds);
      return NULL;
    }
  g_autoptr (BtBackbone) bb = load_backbone (input, &run.opts);
  run.d = bb != NULL ? bt_backbone_get_dim (bb) : DESC_DIM;
  g_autoptr (BtDoctorReport) r = run.r = report_new (input);
  r->used_backbone = bb != NULL;
  g_autofree ImageInfo *info = run.info = g_new0 (ImageInfo, MAX (run.n, 1));
  g_autofree float *X = run.X = g_new0 (float, (gsize) MAX (run.n, 1) * run.d);
  g_autofree guint8 *pix = NULL;
  if (wants_pixels (&run, bb))
    pix = run.pix = g_malloc0 ((gsize) input->settings.width * input->settings.height * input->settings.channels
                               * MAX (run.n, 1));

  g_autofree guint8 (*keys)[BT_DOCTOR_KEY_LEN] = run.keys = g_malloc0 ((gsize) BT_DOCTOR_KEY_LEN * MAX (run.n, 1));
  g_autofree gboolean *has_key = run.has_key = g_new0 (gboolean, MAX (run.n, 1));
  gboolean decoded = step_decode (&run, bb, error);
  g_autoptr (BtDoctorCache) cache = run.cache;
  if (!decoded)
    return NULL;
  step_quality (&run);
  step_standardize (&run);
  if (!step_label_issues (&run, error) || !step_duplicates (&run, error) || !step_outliers (&run, error))
    return NULL;
  return g_steal_pointer (&r);
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
