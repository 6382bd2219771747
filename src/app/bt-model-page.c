/* bt-model-page.c: the Model page — preset cards with size and time estimates, input size and
 * colour with a live preview of what the network sees, and the advanced training settings. */
#include "config.h"

#include <glib/gi18n.h>
#include <math.h>
#include <string.h>

#include "bt-model-page.h"
#include "bt-setting-words.h"
#include "training/bt-estimate.h"
#include "bt-transfer-options.h"
#include "engine/bt-engine.h"
#include "training/bt-model-runner.h"
#include "training/bt-backbones.h"
#include "training/bt-transfer.h"

#define N_CARD_PRESETS 5
#define N_PREVIEW 8
#define PREVIEW_SIZE 72
#define N_AUG_PREVIEW 4       /* samples shown beside each augmentation toggle */
#define AUG_PREVIEW_SIZE 48
#define AUG_EPOCHS 8          /* epochs tried for a variant that shows the augmentation */

static const BtPreset card_presets[N_CARD_PRESETS] = {
  BT_PRESET_MLP, BT_PRESET_SMALL_CNN, BT_PRESET_DEEPER_CNN, BT_PRESET_MINI_RESNET, BT_PRESET_TRANSFER,
};

/* The transfer head's input with the default backbone: MobileNet V2's embedding, computed from
 * 224×224 RGB photos. A chosen backbone brings its own (bt_transfer_options_get_backbone). */
#define TRANSFER_DIM 1280
#define TRANSFER_SIZE 224

static const char *
preset_advice (BtPreset p)
{
  switch (p)
    {
    case BT_PRESET_MLP:
      return _("For tiny, centred images such as digits or icons; trains in seconds.");
    case BT_PRESET_SMALL_CNN:
      return _("The usual first choice for small images: quick, and it sees shapes wherever they are.");
    case BT_PRESET_DEEPER_CNN:
      return _("For photos and harder classes, when you have a few hundred images per class.");
    case BT_PRESET_MINI_RESNET:
      return _("The strongest of the four for varied photos; slower, and it wants more images.");
    case BT_PRESET_TRANSFER:
      return _("For a few dozen photos per class: a network pretrained on millions of photos looks at yours, and only a small head is trained.");
    case BT_N_PRESETS:
    default:
      return "";
    }
}

/* The engine's preset titles, marked here so that they get translated */
static const char * const preset_titles_i18n[] G_GNUC_UNUSED = {
  N_("MLP"), N_("Small CNN"), N_("Deeper CNN"), N_("Mini ResNet"), N_("Transfer head"),
};

static const char *
card_title (BtPreset p)
{
  return p == BT_PRESET_TRANSFER ? _("Transfer learning (MobileNet V2)") : _(bt_preset_title (p));
}


typedef struct {
  GtkWidget *button;
  GtkLabel  *title_label;
  GtkLabel  *size_label;
  GtkLabel  *time_label;
  GtkLabel  *badge_label;   /* "Recommended for your data" */
} Card;

struct _BtModelPage
{
  GtkWidget parent_instance;

  /* Template widgets */
  GtkLabel       *summary_label;
  GtkBox         *cards_box;
  GtkSpinButton  *width_spin, *height_spin;
  GtkDropDown    *colour_dropdown, *resize_dropdown;
  GtkBox         *preview_box;
  GtkSpinButton  *epochs_spin, *batch_spin, *lr_spin, *wd_spin, *dropout_spin, *patience_spin, *seed_spin;
  GtkDropDown    *optimizer_dropdown, *schedule_dropdown;
  GtkCheckButton *flip_check, *crop_check, *rotate_check, *color_check, *weights_check, *tta_check;
  GtkBox         *flip_preview_box, *crop_preview_box, *rotate_preview_box, *color_preview_box;
  GtkLabel       *imbalance_label;
  GtkLabel       *status_label;

  /* Owned */
  BtProject      *project;
  GCancellable   *estimate_cancellable;
  GCancellable   *head_estimate_cancellable;  /* the transfer card alone, when only its head changed */
  GCancellable   *preview_cancellable;
  guint           preview_timeout;
  gboolean        loading;    /* controls are being filled from the settings: do not write back */
  guint           n_jobs;     /* estimate and preview jobs in flight */
  gboolean        estimates_dirty;  /* measured only while the page is shown: it costs CPU */

  Card            cards[N_CARD_PRESETS];
  BtTransferOptions *transfer_options;
  int             estimated_hidden;   /* the transfer head's hidden layer the estimates are for */
  int             estimated_dim;      /* and the backbone's embedding length */
  GtkLabel       *transfer_advice;
  GtkLabel       *recommend_label;   /* why the recommended card is */
  GtkWidget      *recommend_download; /* the missing recommended backbone's Download, beside it */
  BtPreset        recommended;
  gboolean        recommending;      /* the page itself selects the recommended card */
  gboolean        user_chose;        /* a card was clicked: no more preselection */
  GtkPicture     *previews[N_PREVIEW];
  GtkPicture     *aug_previews[BT_MODEL_PAGE_N_AUGMENTS][N_AUG_PREVIEW];
  GPtrArray      *plain_textures;                         /* GdkTexture, one per sample */
  GPtrArray      *aug_textures[BT_MODEL_PAGE_N_AUGMENTS]; /* GdkTexture, the first samples augmented */
};

G_DEFINE_FINAL_TYPE (BtModelPage, bt_model_page, GTK_TYPE_WIDGET)

static void schedule_preview (BtModelPage *self);
static int transfer_dim (BtModelPage *self);
static void transfer_card_init (BtModelPage *self);
static void start_estimates (BtModelPage *self);

/* ---- Estimates: parameters, and images/s measured on this machine ---- */

typedef struct {
  int    width, height, channels, n_classes;
  int    transfer_hidden, transfer_dim;
  gboolean head_only;   /* the transfer card alone: the other cards do not depend on its head */
  gsize  n_params[N_CARD_PRESETS];
  double flops[N_CARD_PRESETS];
  double images_per_s[N_CARD_PRESETS];
  GWeakRef page;
} EstimateJob;

static void
estimate_job_free (EstimateJob *job)
{
  g_weak_ref_clear (&job->page);
  g_free (job);
}

static void
estimate_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  EstimateJob *job = task_data;

  /* the training layer builds each network and times one step (bt-estimate.c) */
  for (int i = 0; i < N_CARD_PRESETS && !g_cancellable_is_cancelled (cancellable); i++)
    {
      BtPresetEstimate e;
      if (job->head_only && card_presets[i] != BT_PRESET_TRANSFER)
        continue;
      bt_estimate_preset (card_presets[i], job->width, job->height, job->channels, job->n_classes,
                          job->transfer_dim, job->transfer_hidden, cancellable, &e);
      job->n_params[i] = e.n_params;
      job->flops[i] = e.flops;
      job->images_per_s[i] = e.images_per_s;
    }
  g_task_return_boolean (task, TRUE);
}

static char *
format_count (gsize n)
{
  if (n >= 1000000)
    return g_strdup_printf (_("%.1f million parameters"), n / 1e6);
  if (n >= 1000)
    return g_strdup_printf (_("%.0f thousand parameters"), n / 1e3);
  return g_strdup_printf (_("%zu parameters"), n);
}

static char *
format_epoch_time (double s)
{
  if (!isfinite (s))
    return g_strdup (_("time per epoch unknown"));
  if (s < 1)
    return g_strdup (_("under a second per epoch"));
  if (s < 90)
    return g_strdup_printf (_("about %.0f s per epoch"), s);
  if (s < 5400)
    return g_strdup_printf (_("about %.0f min per epoch"), s / 60);
  return g_strdup_printf (_("about %.1f h per epoch"), s / 3600);
}

static guint
n_train_images (BtModelPage *self)
{
  BtSplitView *v = bt_project_split_view (self->project, BT_SPLIT_TRAIN);
  guint n = v ? v->n : 0;

  if (v)
    bt_split_view_free (v);
  return n;
}

static void
estimate_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  EstimateJob *job = g_task_get_task_data (G_TASK (result));
  g_autoptr(BtModelPage) self = g_weak_ref_get (&job->page);
  guint n;

  if (self)
    self->n_jobs--;
  if (self == NULL || g_cancellable_is_cancelled (g_task_get_cancellable (G_TASK (result))) || self->project == NULL)
    return;
  n = n_train_images (self);
  for (int i = 0; i < N_CARD_PRESETS; i++)
    if (!job->head_only || card_presets[i] == BT_PRESET_TRANSFER)
    {
      g_autofree char *size = job->n_params[i] ? format_count (job->n_params[i]) : g_strdup (_("does not fit this input size"));
      g_autofree char *time = format_epoch_time (n / job->images_per_s[i]);
      gtk_label_set_text (self->cards[i].size_label, size);
      gtk_label_set_text (self->cards[i].time_label, time);
    }
}

/* Every card, or (head_only) the transfer card alone: its head's size and the backbone's
 * embedding length change no other card, and measuring the image presets again at a photo's
 * input size costs seconds of CPU (and the training run's turns at the compute gate). */
static void
start_estimates_of (BtModelPage *self, gboolean head_only)
{
  const BtProjectSettings *s;
  EstimateJob *job;
  g_autoptr(GTask) task = NULL;
  GCancellable **cancellable;

  /* cards not yet measured (or a hidden page) wait for a whole measurement */
  if (self->estimates_dirty || !gtk_widget_get_mapped (GTK_WIDGET (self)))
    head_only = FALSE;
  cancellable = head_only ? &self->head_estimate_cancellable : &self->estimate_cancellable;
  g_cancellable_cancel (self->head_estimate_cancellable);
  g_clear_object (&self->head_estimate_cancellable);
  g_cancellable_cancel (*cancellable);
  g_clear_object (cancellable);
  self->estimates_dirty = !head_only;
  if (self->project == NULL || !gtk_widget_get_mapped (GTK_WIDGET (self)))
    return;
  self->estimates_dirty = FALSE;
  s = bt_project_get_settings (self->project);
  *cancellable = g_cancellable_new ();
  job = g_new0 (EstimateJob, 1);
  job->head_only = head_only;
  job->width = CLAMP (s->width, 8, 512);
  job->height = CLAMP (s->height, 8, 512);
  job->channels = s->channels == 3 ? 3 : 1;
  job->n_classes = MAX (2, (int) g_list_model_get_n_items (bt_project_get_classes (self->project)));
  job->transfer_hidden = self->estimated_hidden = s->transfer_hidden;
  job->transfer_dim = self->estimated_dim = transfer_dim (self);
  g_weak_ref_init (&job->page, self);
  for (int i = 0; i < N_CARD_PRESETS; i++)
    if (!head_only || card_presets[i] == BT_PRESET_TRANSFER)
      gtk_label_set_text (self->cards[i].time_label, _("measuring…"));
  task = g_task_new (NULL, *cancellable, estimate_done_cb, NULL);
  g_task_set_task_data (task, job, (GDestroyNotify) estimate_job_free);
  self->n_jobs++;
  bt_model_runner_run_in_thread (bt_model_runner_get_default (), task, estimate_thread);
}

static void
start_estimates (BtModelPage *self)
{
  start_estimates_of (self, FALSE);
}

/* ---- Preview of preprocessed samples, plain and augmented ---- */

typedef struct {
  GWeakRef    page;
  GPtrArray  *paths;
  int         width, height, channels;
  BtDsResize  resize;
  guint64     seed;
  gboolean    transfer;   /* the transfer preset augments with its own fixed variants */
} PreviewJob;

typedef struct {
  GPtrArray *plain;                          /* GdkTexture per decoded sample */
  GPtrArray *aug[BT_MODEL_PAGE_N_AUGMENTS];  /* GdkTexture per sample, up to N_AUG_PREVIEW */
} PreviewResult;

static void
preview_job_free (PreviewJob *job)
{
  g_weak_ref_clear (&job->page);
  g_ptr_array_unref (job->paths);
  g_free (job);
}

static void
preview_result_free (PreviewResult *r)
{
  g_clear_pointer (&r->plain, g_ptr_array_unref);
  for (int k = 0; k < BT_MODEL_PAGE_N_AUGMENTS; k++)
    g_clear_pointer (&r->aug[k], g_ptr_array_unref);
  g_free (r);
}

static GdkTexture *
texture_from_hwc (const guint8 *pixels, int w, int h, int c)
{
  guint8 *rgb = g_malloc ((gsize) w * h * 3);
  g_autoptr(GBytes) bytes = NULL;

  for (gsize p = 0; p < (gsize) w * h; p++)
    for (int ch = 0; ch < 3; ch++)
      rgb[p * 3 + ch] = pixels[p * c + (c == 3 ? ch : 0)];
  bytes = g_bytes_new_take (rgb, (gsize) w * h * 3);
  return gdk_memory_texture_new (w, h, GDK_MEMORY_R8G8B8, bytes, (gsize) w * 3);
}

/* The batcher's float NCHW output (scale 1, no normalisation) back to uint8 HWC. */
static void
chw_to_hwc (const float *x, int w, int h, int c, guint8 *out)
{
  for (int ch = 0; ch < c; ch++)
    for (gsize p = 0; p < (gsize) w * h; p++)
      out[p * c + ch] = (guint8) CLAMP (lrintf (x[(gsize) ch * w * h + p]), 0, 255);
}

/* Each augmentation alone, made by the trainer's own batcher on a cache of the samples decoded
 * by the trainer's own cache builder. Of the first epochs, each sample shows the first variant
 * where the augmentation changed something (a flip happens only every other epoch). */
static GPtrArray *
augmented_samples (PreviewJob *job, BtCache *cache, const BtSplitView *view, int kind, GCancellable *cancellable)
{
  BtAugment augment = { 0 };
  gsize plane = (gsize) job->width * job->height * job->channels;
  guint n = MIN (view->n, N_AUG_PREVIEW);
  g_autofree float *x = g_new (float, plane * MAX (n, 1));
  g_autofree guint8 *out = g_malloc (plane * MAX (n, 1));
  g_autofree guint8 *tmp = g_malloc (plane);
  g_autofree gboolean *shows = g_new0 (gboolean, MAX (n, 1));
  g_autoptr(BtBatcher) batcher = NULL;
  BtSplitView first = { view->items, view->labels, n };
  GPtrArray *textures = g_ptr_array_new_with_free_func (g_object_unref);

  augment.flip = kind == BT_MODEL_PAGE_AUGMENT_FLIP;
  augment.crop = kind == BT_MODEL_PAGE_AUGMENT_CROP;
  augment.rotate = kind == BT_MODEL_PAGE_AUGMENT_ROTATE;
  augment.color = kind == BT_MODEL_PAGE_AUGMENT_COLOR;
  batcher = bt_batcher_new (cache, &first, MAX (n, 1), FALSE, &augment, 1.0f, NULL, NULL, job->seed);
  if (batcher == NULL || n == 0)
    return textures;
  for (int epoch = 1; epoch <= AUG_EPOCHS && !g_cancellable_is_cancelled (cancellable); epoch++)
    {
      gboolean all = TRUE;

      bt_batcher_start_epoch (batcher, epoch);
      if (bt_batcher_next (batcher, x, NULL, NULL) != (int) n)
        break;
      for (guint i = 0; i < n; i++)
        {
          if (shows[i])
            continue;
          chw_to_hwc (x + plane * i, job->width, job->height, job->channels, tmp);
          shows[i] = memcmp (tmp, bt_cache_get (cache, view->items[i]), plane) != 0;
          if (shows[i] || epoch == 1)
            memcpy (out + plane * i, tmp, plane);
          all = all && shows[i];
        }
      if (all)
        break;
    }
  for (guint i = 0; i < n; i++)
    g_ptr_array_add (textures, texture_from_hwc (out + plane * i, job->width, job->height, job->channels));
  return textures;
}

/* The transfer preset's augmentation: the fixed variants its embeddings are made from
 * (mirrored; crops of 80 %), made by bt-transfer's own function, then resized as the backbone's
 * input is. Rotation and colour changes are not used by it. */
static GPtrArray *
transfer_samples (PreviewJob *job, const BtSplitView *view, int kind, GCancellable *cancellable)
{
  static const int crops[] = { 2, 4, 5 };
  GPtrArray *textures = g_ptr_array_new_with_free_func (g_object_unref);

  if (kind != BT_MODEL_PAGE_AUGMENT_FLIP && kind != BT_MODEL_PAGE_AUGMENT_CROP)
    return textures;
  for (guint i = 0; i < MIN (view->n, N_AUG_PREVIEW) && !g_cancellable_is_cancelled (cancellable); i++)
    {
      const char *path = job->paths->pdata[view->items[i]];
      g_autoptr(BtImage) img = bt_image_decode_file_sized (path, 3, BT_TENSOR_BOX (job->width),
                                                           BT_TENSOR_BOX (job->height), NULL,
                                                           cancellable, NULL, NULL);
      g_autoptr(BtImage) variant = NULL;
      g_autoptr(BtImage) sized = NULL;

      if (img != NULL)
        variant = bt_transfer_make_variant (img, kind == BT_MODEL_PAGE_AUGMENT_FLIP ? 1 : crops[i % G_N_ELEMENTS (crops)]);
      if (variant != NULL)
        sized = bt_image_resize (variant, job->width, job->height, job->resize);
      if (sized == NULL)
        break;
      g_ptr_array_add (textures, texture_from_hwc (sized->pixels, sized->width, sized->height, sized->channels));
    }
  return textures;
}

static void
preview_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  PreviewJob *job = task_data;
  PreviewResult *r = g_new0 (PreviewResult, 1);
  g_autoptr(BtCache) cache = NULL;
  g_autofree guint *items = g_new0 (guint, MAX (job->paths->len, 1));
  g_autofree int *labels = g_new0 (int, MAX (job->paths->len, 1));
  BtSplitView view = { items, labels, 0 };
  GError *error = NULL;

  /* decoded and preprocessed exactly as the trainer's cache does it */
  cache = bt_cache_build_paths ((const char * const *) job->paths->pdata, job->paths->len, job->width,
                                job->height, job->channels, job->resize, NULL, 1, NULL, NULL,
                                cancellable, &error);
  if (cache == NULL)
    {
      preview_result_free (r);
      g_task_return_error (task, error);
      return;
    }
  r->plain = g_ptr_array_new_with_free_func (g_object_unref);
  for (guint i = 0; i < job->paths->len; i++)
    if (bt_cache_is_valid (cache, i))
      {
        items[view.n++] = i;
        g_ptr_array_add (r->plain, texture_from_hwc (bt_cache_get (cache, i), job->width, job->height,
                                                     job->channels));
      }
  for (int k = 0; k < BT_MODEL_PAGE_N_AUGMENTS; k++)
    r->aug[k] = job->transfer ? transfer_samples (job, &view, k, cancellable)
                              : augmented_samples (job, cache, &view, k, cancellable);
  g_task_return_pointer (task, r, (GDestroyNotify) preview_result_free);
}

static GtkCheckButton *
augment_check (BtModelPage *self, int kind)
{
  GtkCheckButton *checks[BT_MODEL_PAGE_N_AUGMENTS] = {
    self->flip_check, self->crop_check, self->rotate_check, self->color_check,
  };
  return checks[kind];
}

/* Beside each toggle: the samples with that augmentation when it is on, as they are when off. */
static gboolean
is_transfer (BtModelPage *self)
{
  return self->project != NULL &&
         g_strcmp0 (bt_project_get_settings (self->project)->preset, bt_preset_to_id (BT_PRESET_TRANSFER)) == 0;
}

static void
update_aug_previews (BtModelPage *self)
{
  gboolean transfer = is_transfer (self);

  for (int k = 0; k < BT_MODEL_PAGE_N_AUGMENTS; k++)
    {
      gboolean on = gtk_check_button_get_active (augment_check (self, k));
      /* transfer learning mirrors and crops, but never turns or recolours */
      gboolean used = !transfer || k == BT_MODEL_PAGE_AUGMENT_FLIP || k == BT_MODEL_PAGE_AUGMENT_CROP;
      GPtrArray *shown = !used ? NULL : on ? self->aug_textures[k] : self->plain_textures;

      gtk_widget_set_sensitive (GTK_WIDGET (augment_check (self, k)), used);

      for (guint i = 0; i < N_AUG_PREVIEW; i++)
        {
          gboolean have = shown != NULL && i < shown->len;
          gtk_picture_set_paintable (self->aug_previews[k][i], have ? shown->pdata[i] : NULL);
          gtk_widget_set_visible (GTK_WIDGET (self->aug_previews[k][i]), have);
          gtk_widget_set_opacity (GTK_WIDGET (self->aug_previews[k][i]), on ? 1.0 : 0.5);
        }
    }
}

static void
preview_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  PreviewJob *job = g_task_get_task_data (G_TASK (result));
  g_autoptr(BtModelPage) self = g_weak_ref_get (&job->page);
  PreviewResult *r = g_task_propagate_pointer (G_TASK (result), NULL);

  if (self)
    self->n_jobs--;
  if (self == NULL || r == NULL)
    {
      g_clear_pointer (&r, preview_result_free);
      return;
    }
  for (guint i = 0; i < N_PREVIEW; i++)
    {
      gtk_picture_set_paintable (self->previews[i], i < r->plain->len ? r->plain->pdata[i] : NULL);
      gtk_widget_set_visible (GTK_WIDGET (self->previews[i]), i < r->plain->len);
    }
  g_clear_pointer (&self->plain_textures, g_ptr_array_unref);
  self->plain_textures = g_steal_pointer (&r->plain);
  for (int k = 0; k < BT_MODEL_PAGE_N_AUGMENTS; k++)
    {
      g_clear_pointer (&self->aug_textures[k], g_ptr_array_unref);
      self->aug_textures[k] = g_steal_pointer (&r->aug[k]);
    }
  preview_result_free (r);
  update_aug_previews (self);
}

/* A few usable images, taken round-robin over the classes. */
static GPtrArray *
pick_samples (BtModelPage *self)
{
  GListModel *items = bt_project_get_items (self->project);
  GListModel *classes = bt_project_get_classes (self->project);
  guint n_items = g_list_model_get_n_items (items), n_classes = g_list_model_get_n_items (classes);
  GPtrArray *paths = g_ptr_array_new_with_free_func (g_free);

  for (guint round = 0; round < N_PREVIEW && paths->len < N_PREVIEW; round++)
    for (guint k = 0; k < n_classes && paths->len < N_PREVIEW; k++)
      {
        g_autoptr(BtClassInfo) info = g_list_model_get_item (classes, k);
        guint seen = 0;
        for (guint i = 0; i < n_items && i < 20000; i++)
          {
            g_autoptr(BtItem) item = g_list_model_get_item (items, i);
            if (bt_item_get_excluded (item) || bt_item_get_missing (item) ||
                g_strcmp0 (bt_item_get_class_name (item), bt_class_info_get_name (info)) != 0)
              continue;
            if (seen++ == round)
              {
                g_ptr_array_add (paths, g_strdup (bt_item_get_path (item)));
                break;
              }
          }
      }
  return paths;
}

static gboolean
preview_timeout_cb (gpointer data)
{
  BtModelPage *self = data;
  const BtProjectSettings *s;
  PreviewJob *job;
  g_autoptr(GTask) task = NULL;

  self->preview_timeout = 0;
  if (self->project == NULL)
    return G_SOURCE_REMOVE;
  s = bt_project_get_settings (self->project);
  g_cancellable_cancel (self->preview_cancellable);
  g_clear_object (&self->preview_cancellable);
  self->preview_cancellable = g_cancellable_new ();
  job = g_new0 (PreviewJob, 1);
  g_weak_ref_init (&job->page, self);
  job->paths = pick_samples (self);
  job->width = CLAMP (s->width, 8, 512);
  job->height = CLAMP (s->height, 8, 512);
  job->channels = s->channels == 3 ? 3 : 1;
  job->resize = s->resize;
  job->seed = s->seed;
  job->transfer = g_strcmp0 (s->preset, bt_preset_to_id (BT_PRESET_TRANSFER)) == 0;
  task = g_task_new (NULL, self->preview_cancellable, preview_done_cb, NULL);
  g_task_set_task_data (task, job, (GDestroyNotify) preview_job_free);
  self->n_jobs++;
  g_task_run_in_thread (task, preview_thread);
  return G_SOURCE_REMOVE;
}

static void
schedule_preview (BtModelPage *self)
{
  g_clear_handle_id (&self->preview_timeout, g_source_remove);
  self->preview_timeout = g_timeout_add (150, preview_timeout_cb, self);
}

/* ---- Settings ↔ controls ---- */

/* The spin buttons and the settings row each one edits: their limits and steps come from the
 * settings table (bt-settings.c), never from the .ui file. */
static const struct { gsize offset; const char *key; } spin_rows[] = {
  { G_STRUCT_OFFSET (BtModelPage, width_spin), "width" },
  { G_STRUCT_OFFSET (BtModelPage, height_spin), "height" },
  { G_STRUCT_OFFSET (BtModelPage, epochs_spin), "epochs" },
  { G_STRUCT_OFFSET (BtModelPage, batch_spin), "batch-size" },
  { G_STRUCT_OFFSET (BtModelPage, lr_spin), "learning-rate" },
  { G_STRUCT_OFFSET (BtModelPage, wd_spin), "weight-decay" },
  { G_STRUCT_OFFSET (BtModelPage, dropout_spin), "dropout" },
  { G_STRUCT_OFFSET (BtModelPage, patience_spin), "early-stopping-patience" },
  { G_STRUCT_OFFSET (BtModelPage, seed_spin), "seed" },
};
/* A spin button holds a double: seeds above this are kept as they are until the person types one. */
#define SEED_SPIN_MAX ((double) G_MAXINT32)

static GtkSpinButton *
spin_at (BtModelPage *self, guint i)
{
  return G_STRUCT_MEMBER (GtkSpinButton *, self, spin_rows[i].offset);
}

static void
configure_spins (BtModelPage *self)
{
  for (guint i = 0; i < G_N_ELEMENTS (spin_rows); i++)
    {
      const BtSettingInfo *row = bt_settings_find (spin_rows[i].key);
      GtkAdjustment *adj = gtk_spin_button_get_adjustment (spin_at (self, i));
      double upper = row->type == BT_SETTING_UINT64 ? MIN (row->max, SEED_SPIN_MAX) : row->max;
      gtk_adjustment_configure (adj, CLAMP (row->def, row->min, upper), row->min, upper, row->step, row->page, 0);
      bt_setting_words_attach (spin_at (self, i), spin_rows[i].key);   /* "Off", "Preset default", glossary */
    }
}

GtkSpinButton *
bt_model_page_get_setting_spin (BtModelPage *self, const char *key)
{
  g_return_val_if_fail (BT_IS_MODEL_PAGE (self) && key != NULL, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (spin_rows); i++)
    if (bt_settings_find (key) == bt_settings_find (spin_rows[i].key))
      return spin_at (self, i);
  return NULL;
}

static guint
id_index (const char *key, const char *id, guint fallback)
{
  const char * const *ids = bt_settings_find (key)->ids;
  for (guint i = 0; ids[i]; i++)
    if (g_strcmp0 (ids[i], id) == 0)
      return i;
  return fallback;
}

static const char *
id_at (const char *key, guint index)
{
  const char * const *ids = bt_settings_find (key)->ids;
  guint n = g_strv_length ((char **) ids);
  return ids[MIN (index, n - 1)];
}

static void
update_imbalance (BtModelPage *self)
{
  GListModel *classes = bt_project_get_classes (self->project);
  guint n = g_list_model_get_n_items (classes), lo = G_MAXUINT, hi = 0;

  for (guint k = 0; k < n; k++)
    {
      g_autoptr(BtClassInfo) info = g_list_model_get_item (classes, k);
      guint c = bt_class_info_get_n_items (info);
      lo = MIN (lo, c);
      hi = MAX (hi, c);
    }
  if (n >= 2 && lo > 0 && hi >= 2 * lo)
    {
      g_autofree char *text = g_strdup_printf (_("Your classes are unbalanced: the largest has %.1f× the images of "
                                                 "the smallest. Class weights help the small ones count."),
                                               (double) hi / lo);
      gtk_label_set_text (self->imbalance_label, text);
      gtk_widget_set_visible (GTK_WIDGET (self->imbalance_label), TRUE);
    }
  else
    gtk_widget_set_visible (GTK_WIDGET (self->imbalance_label), FALSE);
}

static void
load_settings (BtModelPage *self)
{
  const BtProjectSettings *s;
  BtPreset preset = BT_PRESET_SMALL_CNN;
  g_autofree char *summary = NULL;
  guint n_classes;

  gtk_widget_set_sensitive (GTK_WIDGET (self), self->project != NULL);
  if (self->project == NULL)
    return;
  s = bt_project_get_settings (self->project);
  self->loading = TRUE;
  if (s->preset)
    bt_preset_from_id (s->preset, &preset);
  for (int i = 0; i < N_CARD_PRESETS; i++)
    gtk_toggle_button_set_active (GTK_TOGGLE_BUTTON (self->cards[i].button), card_presets[i] == preset);
  for (guint i = 0; i < G_N_ELEMENTS (spin_rows); i++)
    gtk_spin_button_set_value (spin_at (self, i), bt_setting_get_number (bt_settings_find (spin_rows[i].key), s));
  gtk_drop_down_set_selected (self->colour_dropdown, s->channels == 3 ? 1 : 0);
  gtk_drop_down_set_selected (self->resize_dropdown, s->resize);
  gtk_drop_down_set_selected (self->optimizer_dropdown, id_index ("optimizer", s->optimizer, 1));
  gtk_drop_down_set_selected (self->schedule_dropdown, id_index ("schedule", s->schedule, 0));
  gtk_check_button_set_active (self->flip_check, s->augment_flip);
  gtk_check_button_set_active (self->crop_check, s->augment_crop);
  gtk_check_button_set_active (self->rotate_check, s->augment_rotate);
  gtk_check_button_set_active (self->color_check, s->augment_color);
  gtk_check_button_set_active (self->weights_check, s->class_weights);
  gtk_check_button_set_active (self->tta_check, s->tta);
  self->loading = FALSE;

  n_classes = g_list_model_get_n_items (bt_project_get_classes (self->project));
  summary = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE,
                                          "%u class, %u training images. Each card says how big the network is and how long one pass over the training images takes on this computer.",
                                          "%u classes, %u training images. Each card says how big the network is and how long one pass over the training images takes on this computer.",
                                          n_classes), n_classes, n_train_images (self));
  gtk_label_set_text (self->summary_label, summary);
  update_imbalance (self);
  update_aug_previews (self);
}

static void
save_settings (BtModelPage *self)
{
  BtProjectSettings s = { 0 };
  g_autoptr(GError) error = NULL;
  const BtProjectSettings *old;
  gboolean input_changed, variants_changed;

  update_aug_previews (self);
  if (self->loading || self->project == NULL)
    return;
  old = bt_project_get_settings (self->project);
  bt_project_settings_copy (&s, old);
  for (int i = 0; i < N_CARD_PRESETS; i++)
    if (gtk_toggle_button_get_active (GTK_TOGGLE_BUTTON (self->cards[i].button)))
      {
        g_free (s.preset);
        s.preset = g_strdup (bt_preset_to_id (card_presets[i]));
      }
  for (guint i = 0; i < G_N_ELEMENTS (spin_rows); i++)
    {
      const BtSettingInfo *row = bt_settings_find (spin_rows[i].key);
      double shown = gtk_spin_button_get_value (spin_at (self, i));
      /* a seed beyond what the spin button holds stays unless the person changed it */
      if (row->type == BT_SETTING_UINT64 && shown == MIN (bt_setting_get_number (row, old), SEED_SPIN_MAX))
        continue;
      bt_setting_set_number (row, &s, row->type == BT_SETTING_DOUBLE ? shown : round (shown));
    }
  s.channels = gtk_drop_down_get_selected (self->colour_dropdown) == 1 ? 3 : 1;
  s.resize = MIN (gtk_drop_down_get_selected (self->resize_dropdown), (guint) BT_DS_RESIZE_PAD);
  g_free (s.optimizer);
  s.optimizer = g_strdup (id_at ("optimizer", gtk_drop_down_get_selected (self->optimizer_dropdown)));
  g_free (s.schedule);
  s.schedule = g_strdup (id_at ("schedule", gtk_drop_down_get_selected (self->schedule_dropdown)));
  s.augment_flip = gtk_check_button_get_active (self->flip_check);
  s.augment_crop = gtk_check_button_get_active (self->crop_check);
  s.augment_rotate = gtk_check_button_get_active (self->rotate_check);
  s.augment_color = gtk_check_button_get_active (self->color_check);
  s.class_weights = gtk_check_button_get_active (self->weights_check);
  s.tta = gtk_check_button_get_active (self->tta_check);

  input_changed = s.width != old->width || s.height != old->height || s.channels != old->channels ||
                  s.resize != old->resize;
  /* the augmented variants come from the seed, and the transfer preset has its own */
  variants_changed = s.seed != old->seed || g_strcmp0 (s.preset, old->preset) != 0;
  if (!bt_project_update_settings (self->project, &s, &error))
    {
      g_autofree char *text = g_strdup_printf (_("The settings could not be saved: %s"), error->message);
      gtk_label_set_text (self->status_label, text);
    }
  else
    gtk_label_set_text (self->status_label, "");
  bt_project_settings_clear (&s);
  if (input_changed || variants_changed)
    schedule_preview (self);
  if (input_changed)
    start_estimates (self);
}

static void
control_changed_cb (BtModelPage *self)
{
  save_settings (self);
}

static void
card_toggled_cb (GtkToggleButton *button, BtModelPage *self)
{
  int w, h, c;

  if (self->loading || !gtk_toggle_button_get_active (button) || self->project == NULL)
    return;
  if (!self->recommending)
    self->user_chose = TRUE;
  /* a new preset brings its own input size and colour mode */
  for (int i = 0; i < N_CARD_PRESETS; i++)
    if (self->cards[i].button == GTK_WIDGET (button))
      {
        bt_preset_default_input (card_presets[i], &w, &h, &c);
        if (card_presets[i] == BT_PRESET_TRANSFER)
          {
            /* the backbone's input; the head's is its embedding */
            int size = 0;
            bt_transfer_options_get_backbone (self->transfer_options, NULL, NULL, &size);
            w = h = size > 0 ? size : TRANSFER_SIZE;
            c = 3;
          }
        self->loading = TRUE;
        gtk_spin_button_set_value (self->width_spin, w);
        gtk_spin_button_set_value (self->height_spin, h);
        gtk_drop_down_set_selected (self->colour_dropdown, c == 3 ? 1 : 0);
        self->loading = FALSE;
      }
  save_settings (self);
}

/* The backbone the project trains with: its own choice (Compare Backbones' pick, `backbones
 * use`) or the default; *path its file when on this computer (the file chosen by hand wins). */
static const BtBackboneInfo *
project_backbone (BtModelPage *self, char **path)
{
  g_autofree char *choice = self->project != NULL ? bt_backbones_project_choice (self->project) : NULL;
  const BtBackboneInfo *info = choice != NULL ? bt_backbones_lookup (choice) : NULL;

  g_autofree char *pref = bt_backbone_dup_preferred_file ();

  /* a file the person chose is what training reads (bt_backbone_find_for_training) */
  *path = choice != NULL && pref == NULL ? bt_backbones_resolve (choice, NULL) : bt_backbone_find_for_training (NULL);
  if (choice != NULL && info == NULL)
    return NULL;   /* a file of the person's own: nothing to download (the options say it is missing) */
  return info != NULL ? info : bt_backbones_default ();
}

/* The recommended card, its badge and the line that says why (bt_recommend_preset). A project
 * nobody has chosen for yet (bt_project_takes_recommendation) gets the recommendation
 * preselected once the backbone it needs is installed; a card the person clicked stays theirs. */
static void
update_recommendation (BtModelPage *self)
{
  BtDataSummary d;
  g_autofree char *why = NULL, *installed = NULL;
  const BtBackboneInfo *needed;

  if (self->project == NULL || self->recommend_label == NULL)
    return;
  bt_data_summary_from_project (self->project, 0, &d);
  self->recommended = bt_recommend_preset (&d, bt_backbones_any_available (), &why);
  needed = project_backbone (self, &installed);
  for (int i = 0; i < N_CARD_PRESETS; i++)
    gtk_widget_set_visible (GTK_WIDGET (self->cards[i].badge_label), card_presets[i] == self->recommended);
  if (self->recommended == BT_PRESET_TRANSFER && installed == NULL && needed != NULL)
    {
      const BtBackboneInfo *def = needed;
      g_autofree char *size = def != NULL ? g_format_size (def->size) : g_strdup ("");
      g_autofree char *label = g_strdup_printf (_("Download (%s)"), size);
      if (gtk_widget_get_sensitive (self->recommend_download))
        gtk_button_set_label (GTK_BUTTON (self->recommend_download), label);
      /* Translators: the reason for the recommendation, then the size of the download */
      g_autofree char *text = g_strdup_printf (_("%s To use it, download the pretrained network (%s)."), why, size);
      gtk_label_set_text (self->recommend_label, text);
    }
  else
    gtk_label_set_text (self->recommend_label, why);
  gtk_widget_set_visible (self->recommend_download,
                          self->recommended == BT_PRESET_TRANSFER && installed == NULL && needed != NULL);
  if (!self->user_chose && installed != NULL && self->recommended == BT_PRESET_TRANSFER &&
      bt_project_takes_recommendation (self->project))
    {
      self->recommending = TRUE;
      bt_model_page_select_preset (self, BT_PRESET_TRANSFER);
      self->recommending = FALSE;
    }
}

const char *
bt_model_page_get_recommendation (BtModelPage *self, BtPreset *preset)
{
  g_return_val_if_fail (BT_IS_MODEL_PAGE (self), NULL);
  if (preset)
    *preset = self->recommended;
  return gtk_label_get_text (self->recommend_label);
}

static void update_transfer_card (BtModelPage *self);

static void
project_changed_cb (BtModelPage *self)
{
  load_settings (self);
  /* the card and the recommendation (which it updates) follow the project's backbone choice */
  update_transfer_card (self);
  /* the transfer card's size follows its hidden layer */
  if (bt_project_get_settings (self->project)->transfer_hidden != self->estimated_hidden)
    start_estimates_of (self, TRUE);
}

/* ---- The transfer card and its options ---- */

static int
transfer_dim (BtModelPage *self)
{
  int dim = 0;
  if (self->transfer_options != NULL)
    bt_transfer_options_get_backbone (self->transfer_options, NULL, &dim, NULL);
  return dim > 0 ? dim : TRANSFER_DIM;
}

/* Without a usable backbone file the card is insensitive and says why and how to get one
 * (file tests only: the file is parsed on a worker when chosen, or when a run starts). */
static void
update_transfer_card (BtModelPage *self)
{
  GtkWidget *button = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *path = bt_backbone_find_for_training (&error);
  g_autofree char *installed = NULL;
  /* without a checked file: the one the project would train with names the card and its size */
  const BtBackboneInfo *needed = project_backbone (self, &installed);

  const char *chosen = NULL;
  g_autofree char *title = NULL;
  Card *card = NULL;

  for (int i = 0; i < N_CARD_PRESETS; i++)
    if (card_presets[i] == BT_PRESET_TRANSFER)
      card = &self->cards[i];
  button = card->button;
  /* the card names the backbone it would train with */
  bt_transfer_options_get_backbone (self->transfer_options, &chosen, NULL, NULL);
  if (chosen != NULL && path != NULL)
    title = g_strdup_printf (_("Transfer learning (%s)"), chosen);
  else
    title = needed != NULL && needed != bt_backbones_default ()
              ? g_strdup_printf (_("Transfer learning (%s)"), needed->title)
              : g_strdup (card_title (BT_PRESET_TRANSFER));
  gtk_label_set_text (card->title_label, title);
  gtk_accessible_update_property (GTK_ACCESSIBLE (button), GTK_ACCESSIBLE_PROPERTY_LABEL, title, -1);
  if (transfer_dim (self) != self->estimated_dim && self->estimated_dim != 0)
    start_estimates_of (self, TRUE);
  gtk_widget_set_sensitive (button, path != NULL);
  if (path != NULL)
    {
      gtk_label_set_text (self->transfer_advice, preset_advice (BT_PRESET_TRANSFER));
      gtk_widget_set_tooltip_text (button, NULL);
    }
  else
    {
      g_autofree char *pref = bt_backbone_dup_preferred_file ();
      if (pref != NULL)
        gtk_label_set_text (self->transfer_advice,
                            _("The backbone file you chose cannot be found any more. "
                              "Choose it again below, or use the default."));
      else
        {
          const BtBackboneInfo *def = needed;
          g_autofree char *size = def != NULL ? g_format_size (def->size) : g_strdup ("");
          g_autofree char *text = g_strdup_printf (_("Needs a pretrained network that is not on this computer "
                                                     "yet: Download it below (%s), one click."), size);
          gtk_label_set_text (self->transfer_advice, text);
        }
      gtk_widget_set_tooltip_text (button, error->message);
    }
  update_recommendation (self);
}

static void
recommend_download_cb (BtModelPage *self)
{
  g_autofree char *installed = NULL;
  const BtBackboneInfo *needed = project_backbone (self, &installed);

  if (needed == NULL)
    return;
  gtk_widget_set_sensitive (self->recommend_download, FALSE);
  gtk_button_set_label (GTK_BUTTON (self->recommend_download), _("Downloading…"));
  bt_backbone_list_download (bt_transfer_options_get_list (self->transfer_options), needed);
}

static void
recommend_download_done_cb (BtModelPage *self, const BtBackboneInfo *info, gboolean ok)
{
  g_autofree char *installed = NULL;
  const BtBackboneInfo *def = project_backbone (self, &installed);
  g_autofree char *size = def != NULL ? g_format_size (def->size) : g_strdup ("");
  g_autofree char *label = g_strdup_printf (_("Download (%s)"), size);

  /* failed or cancelled: the row below says why; this one can be tried again */
  gtk_widget_set_sensitive (self->recommend_download, TRUE);
  gtk_button_set_label (GTK_BUTTON (self->recommend_download), label);
  update_recommendation (self);
}

GtkWidget *
bt_model_page_get_recommended_download (BtModelPage *self)
{
  g_return_val_if_fail (BT_IS_MODEL_PAGE (self), NULL);
  return gtk_widget_get_visible (self->recommend_download) ? self->recommend_download : NULL;
}

static void
transfer_card_init (BtModelPage *self)
{
  GtkWidget *options = bt_transfer_options_new ();

  self->transfer_options = BT_TRANSFER_OPTIONS (options);
  gtk_widget_set_margin_top (options, 6);
  gtk_widget_insert_after (options, gtk_widget_get_parent (GTK_WIDGET (self->cards_box)),
                           GTK_WIDGET (self->cards_box));
  /* the recommendation's reason, between the cards and the transfer options, with the missing
   * backbone's Download beside it: the first thing seen, even in a small window */
  {
    const BtBackboneInfo *def = bt_backbones_default ();
    g_autofree char *size = def != NULL ? g_format_size (def->size) : g_strdup ("");
    g_autofree char *label = g_strdup_printf (_("Download (%s)"), size);
    GtkWidget *row = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 12);

    self->recommend_label = GTK_LABEL (gtk_label_new (""));
    gtk_label_set_wrap (self->recommend_label, TRUE);
    gtk_label_set_xalign (self->recommend_label, 0);
    gtk_widget_set_hexpand (GTK_WIDGET (self->recommend_label), TRUE);
    self->recommend_download = gtk_button_new_with_label (label);
    gtk_widget_add_css_class (self->recommend_download, "suggested-action");
    gtk_widget_set_valign (self->recommend_download, GTK_ALIGN_CENTER);
    gtk_widget_set_visible (self->recommend_download, FALSE);
    g_signal_connect_swapped (self->recommend_download, "clicked", G_CALLBACK (recommend_download_cb), self);
    g_signal_connect_object (bt_transfer_options_get_list (self->transfer_options), "download-done",
                             G_CALLBACK (recommend_download_done_cb), self, G_CONNECT_SWAPPED);
    gtk_box_append (GTK_BOX (row), GTK_WIDGET (self->recommend_label));
    gtk_box_append (GTK_BOX (row), self->recommend_download);
    gtk_widget_set_margin_top (row, 6);
    gtk_widget_insert_after (row, gtk_widget_get_parent (GTK_WIDGET (self->cards_box)), GTK_WIDGET (self->cards_box));
  }
  g_signal_connect_object (options, "backbone-changed", G_CALLBACK (update_transfer_card), self,
                           G_CONNECT_SWAPPED);
  update_transfer_card (self);
}

GtkWidget *
bt_model_page_get_transfer_card (BtModelPage *self)
{
  g_return_val_if_fail (BT_IS_MODEL_PAGE (self), NULL);
  for (int i = 0; i < N_CARD_PRESETS; i++)
    if (card_presets[i] == BT_PRESET_TRANSFER)
      return self->cards[i].button;
  return NULL;
}

const char *
bt_model_page_get_transfer_advice (BtModelPage *self)
{
  g_return_val_if_fail (BT_IS_MODEL_PAGE (self), NULL);
  return gtk_label_get_text (self->transfer_advice);
}

BtTransferOptions *
bt_model_page_get_transfer_options (BtModelPage *self)
{
  g_return_val_if_fail (BT_IS_MODEL_PAGE (self), NULL);
  return self->transfer_options;
}

/* ---- GObject ---- */

static void
bt_model_page_dispose (GObject *object)
{
  BtModelPage *self = BT_MODEL_PAGE (object);
  GtkWidget *child;

  g_cancellable_cancel (self->estimate_cancellable);
  g_cancellable_cancel (self->head_estimate_cancellable);
  g_cancellable_cancel (self->preview_cancellable);
  g_clear_handle_id (&self->preview_timeout, g_source_remove);
  gtk_widget_dispose_template (GTK_WIDGET (self), BT_TYPE_MODEL_PAGE);
  /* GTK 4.8 unparents only bound template children */
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self))) != NULL)
    gtk_widget_unparent (child);
  g_clear_object (&self->estimate_cancellable);
  g_clear_object (&self->head_estimate_cancellable);
  g_clear_object (&self->preview_cancellable);
  g_clear_object (&self->project);
  g_clear_pointer (&self->plain_textures, g_ptr_array_unref);
  for (int k = 0; k < BT_MODEL_PAGE_N_AUGMENTS; k++)
    g_clear_pointer (&self->aug_textures[k], g_ptr_array_unref);

  G_OBJECT_CLASS (bt_model_page_parent_class)->dispose (object);
}

static void
bt_model_page_map (GtkWidget *widget)
{
  BtModelPage *self = BT_MODEL_PAGE (widget);

  GTK_WIDGET_CLASS (bt_model_page_parent_class)->map (widget);
  if (self->estimates_dirty)
    start_estimates (self);
}

static void
bt_model_page_class_init (BtModelPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = bt_model_page_dispose;
  widget_class->map = bt_model_page_map;

  gtk_widget_class_set_template_from_resource (widget_class, APP_ID_PATH "/ui/bt-model-page.ui");
#define BIND(name) gtk_widget_class_bind_template_child (widget_class, BtModelPage, name)
  BIND (summary_label); BIND (cards_box); BIND (width_spin); BIND (height_spin);
  BIND (colour_dropdown); BIND (resize_dropdown); BIND (preview_box);
  BIND (epochs_spin); BIND (batch_spin); BIND (lr_spin); BIND (wd_spin); BIND (dropout_spin);
  BIND (patience_spin); BIND (seed_spin); BIND (optimizer_dropdown); BIND (schedule_dropdown);
  BIND (flip_check); BIND (crop_check); BIND (rotate_check); BIND (color_check); BIND (weights_check);
  BIND (tta_check);
  BIND (flip_preview_box); BIND (crop_preview_box); BIND (rotate_preview_box); BIND (color_preview_box);
  BIND (imbalance_label); BIND (status_label);
#undef BIND
  gtk_widget_class_bind_template_callback (widget_class, control_changed_cb);
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
}

static void
bt_model_page_init (BtModelPage *self)
{
  GtkWidget *group = NULL;

  gtk_widget_init_template (GTK_WIDGET (self));

  for (int i = 0; i < N_CARD_PRESETS; i++)
    {
      GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 6);
      GtkWidget *title = gtk_label_new (card_title (card_presets[i]));
      GtkWidget *advice = gtk_label_new (preset_advice (card_presets[i]));
      GtkWidget *size = gtk_label_new ("");
      GtkWidget *time = gtk_label_new ("");
      GtkWidget *button = gtk_toggle_button_new ();

      GtkWidget *badge = gtk_label_new (_("Recommended for your data"));
      gtk_widget_add_css_class (badge, "accent");
      gtk_widget_add_css_class (badge, "caption-heading");
      gtk_label_set_wrap (GTK_LABEL (badge), TRUE);
      gtk_widget_set_visible (badge, FALSE);
      self->cards[i].badge_label = GTK_LABEL (badge);
      gtk_widget_add_css_class (button, "preset-card");   /* data/style.css marks the chosen one */
      gtk_widget_add_css_class (title, "heading");
      gtk_label_set_wrap (GTK_LABEL (title), TRUE);
      /* a chosen file's name (no spaces) breaks anywhere rather than widen all five cards */
      gtk_label_set_wrap_mode (GTK_LABEL (title), PANGO_WRAP_WORD_CHAR);
      gtk_label_set_max_width_chars (GTK_LABEL (title), 18);
      gtk_label_set_justify (GTK_LABEL (title), GTK_JUSTIFY_CENTER);
      gtk_label_set_wrap (GTK_LABEL (advice), TRUE);
      gtk_label_set_max_width_chars (GTK_LABEL (advice), 24);
      gtk_label_set_width_chars (GTK_LABEL (advice), 14);
      gtk_widget_set_vexpand (advice, TRUE);
      gtk_widget_set_valign (advice, GTK_ALIGN_START);
      gtk_label_set_wrap (GTK_LABEL (size), TRUE);
      gtk_label_set_wrap (GTK_LABEL (time), TRUE);
      gtk_widget_add_css_class (size, "dim-label");
      gtk_widget_add_css_class (time, "dim-label");
      gtk_box_append (GTK_BOX (box), title);
      gtk_box_append (GTK_BOX (box), badge);
      gtk_box_append (GTK_BOX (box), advice);
      gtk_box_append (GTK_BOX (box), size);
      gtk_box_append (GTK_BOX (box), time);
      gtk_widget_set_margin_top (box, 8);
      gtk_widget_set_margin_bottom (box, 8);
      gtk_button_set_child (GTK_BUTTON (button), box);
      gtk_accessible_update_property (GTK_ACCESSIBLE (button), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                      card_title (card_presets[i]),
                                      GTK_ACCESSIBLE_PROPERTY_DESCRIPTION, preset_advice (card_presets[i]), -1);
      if (group)
        gtk_toggle_button_set_group (GTK_TOGGLE_BUTTON (button), GTK_TOGGLE_BUTTON (group));
      else
        group = button;
      g_signal_connect (button, "toggled", G_CALLBACK (card_toggled_cb), self);
      gtk_box_append (self->cards_box, button);
      self->cards[i].button = button;
      self->cards[i].title_label = GTK_LABEL (title);
      self->cards[i].size_label = GTK_LABEL (size);
      self->cards[i].time_label = GTK_LABEL (time);
      if (card_presets[i] == BT_PRESET_TRANSFER)
        self->transfer_advice = GTK_LABEL (advice);
    }
  transfer_card_init (self);
  for (int i = 0; i < N_PREVIEW; i++)
    {
      self->previews[i] = GTK_PICTURE (gtk_picture_new ());
      gtk_widget_set_size_request (GTK_WIDGET (self->previews[i]), PREVIEW_SIZE, PREVIEW_SIZE);
      gtk_widget_set_visible (GTK_WIDGET (self->previews[i]), FALSE);
      gtk_box_append (self->preview_box, GTK_WIDGET (self->previews[i]));
    }
  {
    GtkBox *boxes[BT_MODEL_PAGE_N_AUGMENTS] = {
      self->flip_preview_box, self->crop_preview_box, self->rotate_preview_box, self->color_preview_box,
    };
    for (int k = 0; k < BT_MODEL_PAGE_N_AUGMENTS; k++)
      for (int i = 0; i < N_AUG_PREVIEW; i++)
        {
          GtkPicture *picture = GTK_PICTURE (gtk_picture_new ());
          gtk_widget_set_size_request (GTK_WIDGET (picture), AUG_PREVIEW_SIZE, AUG_PREVIEW_SIZE);
          gtk_widget_set_visible (GTK_WIDGET (picture), FALSE);
          gtk_box_append (boxes[k], GTK_WIDGET (picture));
          self->aug_previews[k][i] = picture;
        }
  }
  configure_spins (self);
  gtk_widget_set_sensitive (GTK_WIDGET (self), FALSE);
}

void
bt_model_page_set_project (BtModelPage *self, BtProject *project)
{
  g_return_if_fail (BT_IS_MODEL_PAGE (self));
  g_return_if_fail (project == NULL || BT_IS_PROJECT (project));

  if (project == self->project)
    return;
  if (self->project)
    g_signal_handlers_disconnect_by_func (self->project, project_changed_cb, self);
  g_set_object (&self->project, project);
  if (project)
    g_signal_connect_object (project, "changed", G_CALLBACK (project_changed_cb), self, G_CONNECT_SWAPPED);
  self->user_chose = FALSE;
  load_settings (self);
  bt_transfer_options_set_project (self->transfer_options, project);
  update_recommendation (self);
  schedule_preview (self);
  start_estimates (self);
}

void
bt_model_page_select_preset (BtModelPage *self, BtPreset preset)
{
  g_return_if_fail (BT_IS_MODEL_PAGE (self));

  for (int i = 0; i < N_CARD_PRESETS; i++)
    if (card_presets[i] == preset)
      gtk_toggle_button_set_active (GTK_TOGGLE_BUTTON (self->cards[i].button), TRUE);
}

char *
bt_model_page_dup_card_text (BtModelPage *self, BtPreset preset)
{
  g_return_val_if_fail (BT_IS_MODEL_PAGE (self), NULL);

  for (int i = 0; i < N_CARD_PRESETS; i++)
    if (card_presets[i] == preset)
      return g_strdup_printf ("%s · %s", gtk_label_get_text (self->cards[i].size_label),
                              gtk_label_get_text (self->cards[i].time_label));
  return NULL;
}

gboolean
bt_model_page_is_busy (BtModelPage *self)
{
  g_return_val_if_fail (BT_IS_MODEL_PAGE (self), FALSE);
  return self->n_jobs > 0 || self->preview_timeout != 0;
}

guint
bt_model_page_get_n_previews (BtModelPage *self)
{
  guint n = 0;

  g_return_val_if_fail (BT_IS_MODEL_PAGE (self), 0);
  for (int i = 0; i < N_PREVIEW; i++)
    n += gtk_picture_get_paintable (self->previews[i]) != NULL;
  return n;
}

GdkPaintable *
bt_model_page_get_preview (BtModelPage *self, guint i)
{
  g_return_val_if_fail (BT_IS_MODEL_PAGE (self), NULL);
  return i < N_PREVIEW ? gtk_picture_get_paintable (self->previews[i]) : NULL;
}

GdkPaintable *
bt_model_page_get_augment_preview (BtModelPage *self, BtModelPageAugment kind, guint i)
{
  g_return_val_if_fail (BT_IS_MODEL_PAGE (self), NULL);
  g_return_val_if_fail (kind < BT_MODEL_PAGE_N_AUGMENTS, NULL);
  return i < N_AUG_PREVIEW ? gtk_picture_get_paintable (self->aug_previews[kind][i]) : NULL;
}
