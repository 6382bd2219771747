/* bt-transfer.c: backbone search and loading, embeddings computed once per image in a worker
 * pool and cached by content hash + backbone hash, embedding batches, transfer prediction. */
#include "config.h"

#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "training/bt-training.h"
#include "training/bt-transfer.h"
#include "training/bt-training-private.h"
#include "training/bt-model-runner.h"
#include "engine/bt-tflite-grad.h"
#include "engine/bt-net-cam.h"

/* ------------------------------------------------------------------------------------------ */
/* Backbones                                                                                   */

struct _BtBackbone {
  gatomicrefcount ref;
  BtTflite     *model;
  GBytes       *bytes;       /* the file's content, for self-contained models */
  int           cut, dim;
  char         *name, *path, *sha256;
  GMutex        lock;        /* guards execs */
  GPtrArray    *execs;       /* idle executors: one per thread embedding at the same time */
};

static GMutex backbones_lock;
static GHashTable *backbones;   /* path, or "embedded:<sha256>" → BtBackbone */
static char *preferred_file;    /* under backbones_lock */
static char *search_dir;        /* under backbones_lock: replaces $BOTTEGA_BACKBONE_DIR when set */
static gboolean search_dir_set;

void
bt_backbone_set_search_dir (const char *dir)
{
  g_mutex_lock (&backbones_lock);
  g_free (search_dir);
  search_dir = g_strdup (dir);
  search_dir_set = dir != NULL;
  g_mutex_unlock (&backbones_lock);
}

char **
bt_backbone_search_path (void)
{
  GPtrArray *dirs = g_ptr_array_new ();
  g_autofree char *env = NULL;
  const char * const *sys = g_get_system_data_dirs ();
  char *pkg;

  g_mutex_lock (&backbones_lock);
  env = search_dir_set ? g_strdup (search_dir) : g_strdup (g_getenv ("BOTTEGA_BACKBONE_DIR"));
  g_mutex_unlock (&backbones_lock);
  if (env != NULL && env[0] != '\0')
    g_ptr_array_add (dirs, g_strdup (env));
  g_ptr_array_add (dirs, g_build_filename (g_get_user_data_dir (), "bottega", "backbones", NULL));
  for (guint i = 0; sys[i] != NULL; i++)
    g_ptr_array_add (dirs, g_build_filename (sys[i], "bottega", "backbones", NULL));
  pkg = g_build_filename (PKGDATADIR, "backbones", NULL);
  if (!g_ptr_array_find_with_equal_func (dirs, pkg, g_str_equal, NULL))
    g_ptr_array_add (dirs, pkg);
  else
    g_free (pkg);
  g_ptr_array_add (dirs, NULL);
  return (char **) g_ptr_array_free (dirs, FALSE);
}

void
bt_backbone_set_preferred_file (const char *path)
{
  g_mutex_lock (&backbones_lock);
  g_free (preferred_file);
  preferred_file = path != NULL && path[0] != '\0' ? g_strdup (path) : NULL;
  g_mutex_unlock (&backbones_lock);
}

char *
bt_backbone_dup_preferred_file (void)
{
  char *p;
  g_mutex_lock (&backbones_lock);
  p = g_strdup (preferred_file);
  g_mutex_unlock (&backbones_lock);
  return p;
}

static gboolean
valid_file_name (const char *name, GError **error)
{
  if (name[0] == '\0' || strchr (name, '/') != NULL || strcmp (name, "..") == 0 || strcmp (name, ".") == 0)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL, _("“%s” is not a backbone file name"), name);
      return FALSE;
    }
  return TRUE;
}

/* Every existing file that may be the backbone called name, in the order of bt_backbone_find. */
static GPtrArray *
candidates (const char *name, GString *tried)
{
  GPtrArray *out = g_ptr_array_new_with_free_func (g_free);
  g_auto(GStrv) dirs = bt_backbone_search_path ();
  g_autofree char *pref = bt_backbone_dup_preferred_file ();

  if (pref != NULL)
    {
      g_autofree char *base = g_path_get_basename (pref);
      if (strcmp (base, name) == 0 && g_file_test (pref, G_FILE_TEST_IS_REGULAR))
        g_ptr_array_add (out, g_strdup (pref));
    }
  for (guint i = 0; dirs[i] != NULL; i++)
    {
      char *p = g_build_filename (dirs[i], name, NULL);
      if (g_file_test (p, G_FILE_TEST_IS_REGULAR))
        g_ptr_array_add (out, p);
      else
        g_free (p);
      if (tried != NULL)
        g_string_append_printf (tried, "\n  %s", dirs[i]);
    }
  return out;
}

static void
set_not_found (GError **error, const char *name, const char *tried)
{
  g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT,
               _("The pretrained backbone %s was not found. Put it in one of these folders, or "
                 "choose the file in the Model page:%s"), name, tried);
}

char *
bt_backbone_find (const char *name, GError **error)
{
  g_autoptr(GPtrArray) found = NULL;
  g_autoptr(GString) tried = NULL;

  g_return_val_if_fail (name != NULL, NULL);
  if (g_path_is_absolute (name))
    {
      if (g_file_test (name, G_FILE_TEST_IS_REGULAR))
        return g_strdup (name);
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT, _("The backbone file %s does not exist"), name);
      return NULL;
    }
  if (!valid_file_name (name, error))
    return NULL;
  tried = g_string_new (NULL);
  found = candidates (name, tried);
  if (found->len > 0)
    return g_strdup (g_ptr_array_index (found, 0));
  set_not_found (error, name, tried->str);
  return NULL;
}

char *
bt_backbone_find_for_training (GError **error)
{
  g_autofree char *pref = bt_backbone_dup_preferred_file ();

  if (pref != NULL)
    {
      if (g_file_test (pref, G_FILE_TEST_IS_REGULAR))
        return g_steal_pointer (&pref);
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT,
                   _("The backbone file you chose, %s, is no longer there. Choose it again in the "
                     "Model page, or clear the choice to use %s."), pref, BT_BACKBONE_DEFAULT);
      return NULL;
    }
  return bt_backbone_find (BT_BACKBONE_DEFAULT, error);
}

static char *
sha256_of (GBytes *bytes)
{
  gsize len;
  const guint8 *data = g_bytes_get_data (bytes, &len);
  return g_compute_checksum_for_data (G_CHECKSUM_SHA256, data, len);
}

BtBackbone *
bt_backbone_load_bytes (GBytes *bytes, const char *name, GError **error)
{
  g_autoptr(BtTflite) model = NULL;
  BtBackbone *bb;
  int cut, dim = 0, h, w, c;

  g_return_val_if_fail (bytes != NULL && name != NULL, NULL);
  model = bt_tflite_load_bytes (bytes, error);
  if (model == NULL)
    return NULL;
  bt_tflite_input_shape (model, &h, &w, &c);
  if (c != 3)
    {
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_UNSUPPORTED,
                   _("The backbone takes %d colour channels; only RGB backbones are supported"), c);
      return NULL;
    }
  cut = bt_tflite_find_embedding_cut (model, &dim, error);
  if (cut < 0)
    return NULL;
  bb = g_new0 (BtBackbone, 1);
  g_atomic_ref_count_init (&bb->ref);
  bb->model = g_steal_pointer (&model);
  bb->bytes = g_bytes_ref (bytes);
  bb->cut = cut;
  bb->dim = dim;
  bb->name = g_path_get_basename (name);
  bb->sha256 = sha256_of (bytes);
  g_mutex_init (&bb->lock);
  bb->execs = g_ptr_array_new_with_free_func ((GDestroyNotify) bt_tflite_exec_free);
  return bb;
}

BtBackbone *
bt_backbone_load_path (const char *path, GError **error)
{
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GError) local = NULL;
  BtBackbone *bb;

  g_return_val_if_fail (path != NULL, NULL);
  /* Read into memory, not mapped (a file truncated while mapped would crash us), and only
   * a regular file under the cap, checked before reading (a FIFO or /dev/zero is refused) */
  bytes = bt_engine_read_file (path, BT_TFLITE_MAX_FILE_BYTES, error);
  if (bytes == NULL)
    return NULL;
  bb = bt_backbone_load_bytes (bytes, path, &local);
  if (bb == NULL)
    {
      g_autofree char *base = g_filename_display_basename (path);
      if (g_str_has_prefix (local->message, base))
        g_propagate_error (error, g_steal_pointer (&local));
      else
        g_set_error (error, local->domain, local->code, "%s: %s", base, local->message);
      return NULL;
    }
  bb->path = g_strdup (path);
  return bb;
}

BtBackbone *
bt_backbone_ref (BtBackbone *bb)
{
  g_return_val_if_fail (bb != NULL, NULL);
  g_atomic_ref_count_inc (&bb->ref);
  return bb;
}

void
bt_backbone_unref (BtBackbone *bb)
{
  if (bb == NULL || !g_atomic_ref_count_dec (&bb->ref))
    return;
  g_clear_pointer (&bb->execs, g_ptr_array_unref);
  bt_tflite_unref (bb->model);
  g_bytes_unref (bb->bytes);
  g_mutex_clear (&bb->lock);
  g_free (bb->name);
  g_free (bb->path);
  g_free (bb->sha256);
  g_free (bb);
}

/* The loaded backbone of a cache key, loading it once per process. */
static BtBackbone *
cached (const char *key, BtBackbone *(*load) (gconstpointer, GError **), gconstpointer arg, GError **error)
{
  BtBackbone *bb;

  g_mutex_lock (&backbones_lock);
  if (backbones == NULL)
    backbones = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) bt_backbone_unref);
  bb = g_hash_table_lookup (backbones, key);
  if (bb != NULL)
    bt_backbone_ref (bb);
  g_mutex_unlock (&backbones_lock);
  if (bb != NULL)
    return bb;

  bb = load (arg, error);
  if (bb == NULL)
    return NULL;
  g_mutex_lock (&backbones_lock);
  g_hash_table_replace (backbones, g_strdup (key), bt_backbone_ref (bb));
  g_mutex_unlock (&backbones_lock);
  return bb;
}

static BtBackbone *
load_path_cb (gconstpointer path, GError **error)
{
  return bt_backbone_load_path (path, error);
}

static BtBackbone *
get_path (const char *path, GError **error)
{
  /* a file changed on disk since it was loaded is loaded again */
  BtBackbone *bb = cached (path, load_path_cb, path, error);
  GStatBuf st;
  if (bb != NULL && g_stat (path, &st) == 0 && (gsize) st.st_size != g_bytes_get_size (bb->bytes))
    {
      g_mutex_lock (&backbones_lock);
      g_hash_table_remove (backbones, path);
      g_mutex_unlock (&backbones_lock);
      bt_backbone_unref (bb);
      bb = cached (path, load_path_cb, path, error);
    }
  return bb;
}

BtBackbone *
bt_backbone_get (const char *name, const char *sha256, GError **error)
{
  g_autoptr(GPtrArray) found = NULL;
  g_autoptr(GString) tried = NULL;
  g_autoptr(GError) first_error = NULL;
  g_autofree char *mismatch = NULL;

  g_return_val_if_fail (name != NULL, NULL);
  if (g_path_is_absolute (name))
    {
      found = g_ptr_array_new_with_free_func (g_free);
      if (g_file_test (name, G_FILE_TEST_IS_REGULAR))
        g_ptr_array_add (found, g_strdup (name));
    }
  else
    {
      if (!valid_file_name (name, error))
        return NULL;
      tried = g_string_new (NULL);
      found = candidates (name, tried);
    }
  /* The first candidate with the right content wins: a same-named file of another version
   * earlier on the path does not hide the right one. */
  for (guint i = 0; i < found->len; i++)
    {
      const char *path = g_ptr_array_index (found, i);
      g_autoptr(GError) local = NULL;
      BtBackbone *bb = get_path (path, &local);
      if (bb == NULL)
        {
          if (first_error == NULL)
            first_error = g_steal_pointer (&local);
          continue;
        }
      if (sha256 == NULL || g_ascii_strcasecmp (sha256, bb->sha256) == 0)
        return bb;
      if (mismatch == NULL)
        mismatch = g_strdup (path);
      bt_backbone_unref (bb);
    }
  if (mismatch != NULL)
    g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID,
                 _("The backbone %s is not the one this model was trained with (its content differs)"),
                 mismatch);
  else if (first_error != NULL)
    g_propagate_error (error, g_steal_pointer (&first_error));
  else if (tried != NULL)
    set_not_found (error, name, tried->str);
  else
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT, _("The backbone file %s does not exist"), name);
  return NULL;
}

/* What tells a fine-tuned backbone apart: the file's SHA-256 and the replaced weights'. */
static char *
finetuned_id (const BtModel *m)
{
  g_autoptr(GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  g_checksum_update (sum, (const guchar *) m->backbone_sha256, -1);
  for (guint i = 0; i < m->backbone_weights->len; i++)
    {
      const BtBackboneWeights *bw = &g_array_index (m->backbone_weights, BtBackboneWeights, i);
      gsize nw = (gsize) bw->shape[0] * bw->shape[1] * bw->shape[2] * bw->shape[3];
      g_checksum_update (sum, (const guchar *) &bw->op, sizeof bw->op);
      g_checksum_update (sum, (const guchar *) bw->w, nw * sizeof (float));
      g_checksum_update (sum, (const guchar *) bw->b, (gsize) bw->shape[0] * sizeof (float));
    }
  return g_strdup (g_checksum_get_string (sum));
}

static BtBackbone *
load_embedded_cb (gconstpointer model, GError **error)
{
  const BtModel *m = model;
  BtBackbone *bb = bt_backbone_load_bytes (m->backbone_data, m->backbone_name, error);
  if (bb == NULL || m->backbone_weights == NULL)
    return bb;
  /* a fine-tuned model: its operators replace the file's (nobody else holds bb->model yet) */
  if (!bt_tflite_apply_weights (bb->model, m->backbone_weights, NULL))
    {
      g_set_error_literal (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_CORRUPT,
                           _("The model’s fine-tuned weights do not fit its backbone"));
      bt_backbone_unref (bb);
      return NULL;
    }
  /* its embeddings differ from the file's: it must not share their cache */
  g_free (bb->sha256);
  bb->sha256 = finetuned_id (m);
  return bb;
}

BtBackbone *
bt_backbone_get_for_model (const BtModel *model, GError **error)
{
  g_return_val_if_fail (model != NULL, NULL);
  if (model->backbone_data != NULL)
    {
      /* the loader checked the bytes against the SHA-256, so that names them */
      g_autofree char *id = model->backbone_weights != NULL ? finetuned_id (model) : NULL;
      g_autofree char *key = id != NULL ? g_strdup_printf ("finetuned:%s", id)
                                        : g_strdup_printf ("embedded:%s", model->backbone_sha256);
      return cached (key, load_embedded_cb, model, error);
    }
  if (model->backbone_name == NULL)
    {
      g_set_error_literal (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID,
                           _("This model has no backbone"));
      return NULL;
    }
  return bt_backbone_get (model->backbone_name, model->backbone_sha256, error);
}

static void
load_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  GError *error = NULL;
  BtBackbone *bb = get_path (data, &error);
  if (bb != NULL)
    g_task_return_pointer (task, bb, (GDestroyNotify) bt_backbone_unref);
  else
    g_task_return_error (task, error);
}

void
bt_backbone_load_async (const char *path, GCancellable *cancellable, GAsyncReadyCallback callback,
                        gpointer user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (path != NULL);
  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, bt_backbone_load_async);
  g_task_set_task_data (task, g_strdup (path), g_free);
  g_task_run_in_thread (task, load_thread);
}

BtBackbone *
bt_backbone_load_finish (GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

GBytes *
bt_backbone_get_bytes (BtBackbone *bb)
{
  g_return_val_if_fail (bb != NULL, NULL);
  return bb->bytes;
}

const char *
bt_backbone_get_name (BtBackbone *bb)
{
  g_return_val_if_fail (bb != NULL, NULL);
  return bb->name;
}

const char *
bt_backbone_get_sha256 (BtBackbone *bb)
{
  g_return_val_if_fail (bb != NULL, NULL);
  return bb->sha256;
}

int
bt_backbone_get_dim (BtBackbone *bb)
{
  g_return_val_if_fail (bb != NULL, 0);
  return bb->dim;
}

BtTflite *
bt_backbone_get_model (BtBackbone *bb)
{
  g_return_val_if_fail (bb != NULL, NULL);
  return bb->model;
}

static BtResizeMode
resize_to_engine (BtDsResize r)
{
  switch (r)
    {
    case BT_DS_RESIZE_CENTER_CROP: return BT_RESIZE_CENTER_CROP;
    case BT_DS_RESIZE_PAD: return BT_RESIZE_PAD;
    default: return BT_RESIZE_SQUASH;
    }
}

static BtDsResize
resize_to_ds (BtResizeMode r)
{
  switch (r)
    {
    case BT_RESIZE_CENTER_CROP: return BT_DS_RESIZE_CENTER_CROP;
    case BT_RESIZE_PAD: return BT_DS_RESIZE_PAD;
    default: return BT_DS_RESIZE_SQUASH;
    }
}

void
bt_backbone_get_preprocess (BtBackbone *bb, BtDsResize resize, BtPreprocess *prep)
{
  int h, w, c;
  float lo, hi;

  g_return_if_fail (bb != NULL && prep != NULL);
  bt_tflite_input_shape (bb->model, &h, &w, &c);
  bt_tflite_input_range (bb->model, &lo, &hi);
  bt_preprocess_init_default (prep, w, h, c);
  prep->resize = resize_to_engine (resize);
  /* (p / 255 − mean) / std = lo + p (hi − lo) / 255 */
  prep->scale = 1.f / 255.f;
  for (int k = 0; k < 3; k++)
    {
      prep->mean[k] = -lo / (hi - lo);
      prep->std[k] = 1.f / (hi - lo);
    }
}

/* image → backbone input (NCHW floats) through the one preprocessing function. */
static gboolean
prepare (BtBackbone *bb, const BtImage *image, BtDsResize resize, float *x, GError **error)
{
  BtPreprocess prep;
  g_autoptr(BtImage) small = NULL;

  if (image->channels != 3)
    {
      g_set_error_literal (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID,
                           _("The backbone needs a colour (RGB) image"));
      return FALSE;
    }
  bt_backbone_get_preprocess (bb, resize, &prep);
  small = bt_image_resize (image, prep.width, prep.height, resize);
  if (small == NULL)
    {
      g_set_error_literal (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID,
                           _("The image could not be resized"));
      return FALSE;
    }
  bt_image_to_chw_float (small->pixels, prep.width, prep.height, 3, prep.scale, prep.mean, prep.std, x);
  return TRUE;
}

gboolean
bt_backbone_embed_image (BtBackbone *bb, const BtImage *image, BtDsResize resize, float *out,
                         GError **error)
{
  g_autofree float *x = NULL;
  BtTfliteExec *exec;
  int h, w, c;
  const float *y;
  gsize n;
  gboolean ok = FALSE;

  g_return_val_if_fail (bb != NULL && image != NULL && out != NULL, FALSE);
  bt_tflite_input_shape (bb->model, &h, &w, &c);
  x = g_new (float, (gsize) h * w * c);
  if (!prepare (bb, image, resize, x, error))
    return FALSE;
  /* An idle executor (or a new one): callers on several threads run at the same time. */
  g_mutex_lock (&bb->lock);
  exec = bb->execs->len > 0 ? g_ptr_array_steal_index_fast (bb->execs, bb->execs->len - 1) : NULL;
  g_mutex_unlock (&bb->lock);
  if (exec == NULL)
    exec = bt_tflite_exec_new (bb->model, error);
  if (exec == NULL)
    return FALSE;
  y = bt_tflite_exec_run (exec, x, bb->cut, &n, error);
  if (y != NULL)
    {
      memcpy (out, y, sizeof (float) * bb->dim);
      ok = TRUE;
    }
  g_mutex_lock (&bb->lock);
  g_ptr_array_add (bb->execs, exec);
  g_mutex_unlock (&bb->lock);
  return ok;
}

gboolean
bt_backbone_embed_file (BtBackbone *bb, const char *path, BtDsResize resize, float *out,
                        GCancellable *cancellable, GError **error)
{
  g_autoptr(BtImage) img = NULL;
  int h, w, c;

  g_return_val_if_fail (bb != NULL && path != NULL && out != NULL, FALSE);
  bt_tflite_input_shape (bb->model, &h, &w, &c);
  img = bt_image_decode_file_sized (path, 3, BT_TENSOR_BOX (w), BT_TENSOR_BOX (h), NULL, cancellable, NULL, error);
  return img != NULL && bt_backbone_embed_image (bb, img, resize, out, error);
}

/* ------------------------------------------------------------------------------------------ */
/* Embeddings                                                                                  */

#define EMB_MAGIC "BTEMB001"

struct _BtEmbeddings {
  int     dim;
  guint   n_items;
  float  *data;       /* n_items × BT_EMBED_N_VARIANTS × dim */
  guint8 *have;       /* n_items × BT_EMBED_N_VARIANTS */
  guint   n_computed, n_failed;
};

typedef struct {
  guint  item;
  int    variant;
} Work;

typedef struct {
  BtEmbeddings *e;
  BtBackbone   *bb;
  BtDsResize    resize;
  char        **paths;      /* per item */
  char        **cache_files;/* per item × variant, NULL = not cacheable */
  GArray       *work;
  gint          next;
  gint          done;
  gint          failed;
  GCancellable *cancellable;
  BtEmbedGate   gate;
  gpointer      gate_data;
  gboolean      shared;     /* take the compute gate per image (beside a training run) */
  int           tensor;     /* what is computed: the embedding (bb->cut) or another tensor */
  GMutex        lock;
  GError       *error;      /* first fatal error (out of memory) */
} Build;

/* Variant k of an image: 0 itself, 1 mirrored, 2 centre crop, 3 mirrored centre crop,
 * 4 top-left crop, 5 bottom-right crop (crops keep 80% of each side). */
static BtImage *
make_variant (const BtImage *img, int variant)
{
  BtImage *out;
  int x0 = 0, y0 = 0, w = img->width, h = img->height, c = img->channels;
  gboolean flip = variant == 1 || variant == 3;

  if (variant >= 2)
    {
      w = MAX (1, img->width * 4 / 5);
      h = MAX (1, img->height * 4 / 5);
      if (variant == 2 || variant == 3)
        {
          x0 = (img->width - w) / 2;
          y0 = (img->height - h) / 2;
        }
      else if (variant == 5)
        {
          x0 = img->width - w;
          y0 = img->height - h;
        }
    }
  out = g_new0 (BtImage, 1);
  out->width = w;
  out->height = h;
  out->channels = c;
  out->pixels = g_malloc ((gsize) w * h * c);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      {
        int sx = x0 + (flip ? w - 1 - x : x);
        memcpy (out->pixels + ((gsize) y * w + x) * c, img->pixels + ((gsize) (y0 + y) * img->width + sx) * c, c);
      }
  return out;
}

BtImage *
bt_transfer_make_variant (const BtImage *image, int variant)
{
  g_return_val_if_fail (image != NULL && image->pixels != NULL, NULL);
  g_return_val_if_fail (image->width > 0 && image->height > 0, NULL);
  g_return_val_if_fail (variant >= 0 && variant < BT_EMBED_N_VARIANTS, NULL);
  return make_variant (image, variant);
}

static gboolean
read_cached (const char *file, float *out, int dim)
{
  g_autofree char *data = NULL;
  gsize len;
  guint32 d;

  if (file == NULL || !g_file_get_contents (file, &data, &len, NULL))
    return FALSE;
  if (len != 16 + sizeof (float) * (gsize) dim || memcmp (data, EMB_MAGIC, 8) != 0)
    return FALSE;
  memcpy (&d, data + 8, 4);
  if (GUINT32_FROM_LE (d) != (guint32) dim)
    return FALSE;
  memcpy (out, data + 16, sizeof (float) * dim);
  for (int k = 0; k < dim; k++)
    if (!isfinite (out[k]))
      return FALSE;
  return TRUE;
}

static void
write_cached (const char *file, const float *v, int dim)
{
  g_autofree char *data = g_malloc (16 + sizeof (float) * dim);
  guint32 d = GUINT32_TO_LE ((guint32) dim);
  g_autofree char *dir = g_path_get_dirname (file);

  memcpy (data, EMB_MAGIC, 8);
  memcpy (data + 8, &d, 4);
  memset (data + 12, 0, 4);
  memcpy (data + 16, v, sizeof (float) * dim);
  /* The cache is disposable: atomic (temp + rename) but not fsynced; failures only cost time. */
  if (g_mkdir_with_parents (dir, 0755) == 0)
    g_file_set_contents (file, data, 16 + sizeof (float) * dim, NULL);
}

static gpointer
build_worker (gpointer data)
{
  Build *b = data;
  GError *error = NULL;
  /* fine-tuning's cut: the float path, the arithmetic the fine-tuned model predicts with (a
   * model with changed weights never takes the integer path) */
  BtTfliteExec *exec = b->tensor == b->bb->cut ? bt_tflite_exec_new (b->bb->model, &error)
                       : bt_tflite_exec_new_path (b->bb->model, BT_TFLITE_PATH_FLOAT, &error);
  int h, w, c;
  g_autofree float *x = NULL;
  BtImage *decoded = NULL;
  guint decoded_item = G_MAXUINT;

  if (exec == NULL)
    {
      g_mutex_lock (&b->lock);
      if (b->error == NULL)
        b->error = g_steal_pointer (&error);
      g_mutex_unlock (&b->lock);
      g_clear_error (&error);
      return NULL;
    }
  bt_tflite_input_shape (b->bb->model, &h, &w, &c);
  x = g_new (float, (gsize) h * w * c);
  for (;;)
    {
      int i = g_atomic_int_add (&b->next, 1);
      const Work *wk;
      float *dst;
      const float *y;
      gsize n;
      gboolean ok = FALSE;

      /* the gate blocks while the run is paused */
      if ((guint) i >= b->work->len || g_cancellable_is_cancelled (b->cancellable) ||
          (b->gate != NULL && !b->gate (b->gate_data)))
        break;
      wk = &g_array_index (b->work, Work, i);
      dst = b->e->data + ((gsize) wk->item * BT_EMBED_N_VARIANTS + wk->variant) * b->e->dim;
      /* Work is ordered by item, so the variants of one image share one decode. */
      if (decoded_item != wk->item)
        {
          g_clear_pointer (&decoded, bt_image_free);
          decoded = bt_image_decode_file_sized (b->paths[wk->item], 3, BT_TENSOR_BOX (w), BT_TENSOR_BOX (h), NULL,
                                                b->cancellable, NULL, NULL);
          decoded_item = wk->item;
        }
      if (decoded != NULL)
        {
          g_autoptr(BtImage) v = wk->variant == 0 ? NULL : make_variant (decoded, wk->variant);
          y = NULL;
          if (prepare (b->bb, v ? v : decoded, b->resize, x, NULL))
            {
              if (b->shared)
                bt_compute_gate_enter ();
              y = bt_tflite_exec_run (exec, x, b->tensor, &n, NULL);
              if (b->shared)
                bt_compute_gate_leave ();
            }
          if (y != NULL)
            {
              if (b->tensor == b->bb->cut)
                memcpy (dst, y, sizeof (float) * b->e->dim);
              else
                bt_tflite_to_physical (b->bb->model, b->tensor, y, dst);
              b->e->have[(gsize) wk->item * BT_EMBED_N_VARIANTS + wk->variant] = 1;
              ok = TRUE;
              const char *file = b->cache_files[(gsize) wk->item * BT_EMBED_N_VARIANTS + wk->variant];
              if (file != NULL)
                write_cached (file, dst, b->e->dim);
            }
        }
      if (!ok)
        g_atomic_int_inc (&b->failed);
      g_atomic_int_inc (&b->done);
    }
  g_clear_pointer (&decoded, bt_image_free);
  bt_tflite_exec_free (exec);
  return NULL;
}

static const char *
resize_id (BtDsResize r)
{
  return r == BT_DS_RESIZE_CENTER_CROP ? "center-crop" : r == BT_DS_RESIZE_PAD ? "pad" : "squash";
}

BtEmbeddings *
bt_embeddings_build (BtProject *project, BtBackbone *bb, BtDsResize resize,
                     gboolean augment_flip, gboolean augment_crop, int n_threads,
                     BtCacheProgress progress, gpointer user_data,
                     GCancellable *cancellable, GError **error)
{
  return bt_embeddings_build_full (project, bb, resize, augment_flip, augment_crop, n_threads, progress,
                                   user_data, NULL, NULL, cancellable, error);
}

static BtEmbeddings *
build_embeddings (const BtItemSnapshot *snap, BtBackbone *bb, BtDsResize resize,
                  gboolean augment_flip, gboolean augment_crop, int n_threads,
                  BtCacheProgress progress, gpointer user_data,
                  BtEmbedGate gate, gpointer gate_data, gboolean shared, const gboolean *only,
                  int tensor, GCancellable *cancellable, GError **error)
{
  g_autofree char *cache_dir = NULL;
  BtEmbeddings *e;
  Build b = { 0 };
  guint n = snap->n;
  int old_threads;
  gsize slots;

  g_return_val_if_fail (bb != NULL, NULL);

  slots = (gsize) n * BT_EMBED_N_VARIANTS;
  e = g_new0 (BtEmbeddings, 1);
  /* tensor ≥ 0: the activations at that tensor instead (fine-tuning's cut), physical order */
  e->dim = tensor < 0 ? bb->dim : (int) bt_tflite_tensor_size (bb->model, tensor);
  e->n_items = n;
  e->have = g_malloc0 (MAX (slots, 1));
  e->data = g_try_new (float, MAX (slots * e->dim, 1));
  if (e->data == NULL)
    {
      bt_embeddings_free (e);
      g_set_error_literal (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID,
                           _("Not enough memory for the image embeddings"));
      return NULL;
    }

  {
    g_autofree char *at = tensor < 0 ? NULL : g_strdup_printf ("cut-%d", tensor);
    cache_dir = g_build_filename (snap->project_dir, "cache", "embeddings", bb->sha256,
                                  resize_id (resize), at, NULL);
  }
  b.e = e;
  b.bb = bb;
  b.resize = resize;
  b.cancellable = cancellable;
  b.gate = gate;
  b.gate_data = gate_data;
  b.shared = shared;
  b.tensor = tensor < 0 ? bb->cut : tensor;
  b.paths = g_new0 (char *, n + 1);
  b.cache_files = g_new0 (char *, slots + 1);
  b.work = g_array_new (FALSE, FALSE, sizeof (Work));
  g_mutex_init (&b.lock);

  for (guint i = 0; i < n; i++)
    {
      guint64 hash = snap->hashes[i];
      if (snap->paths[i] == NULL || (only != NULL && !only[i]))
        continue;
      b.paths[i] = g_strdup (snap->paths[i]);
      for (int v = 0; v < BT_EMBED_N_VARIANTS; v++)
        {
          gsize slot = (gsize) i * BT_EMBED_N_VARIANTS + v;
          gboolean is_train = snap->is_train[i];
          gboolean wanted = v == 0 || (is_train && ((augment_flip && v == 1) || (augment_crop && v >= 2 && v != 3)
                                                    || (augment_flip && augment_crop && v == 3)));
          if (!wanted)
            continue;
          if (hash != 0)
            {
              g_autofree char *base = g_strdup_printf ("%016" G_GINT64_MODIFIER "x-%d.emb", hash, v);
              b.cache_files[slot] = g_build_filename (cache_dir, base, NULL);
              if (read_cached (b.cache_files[slot], e->data + slot * e->dim, e->dim))
                {
                  e->have[slot] = 1;
                  continue;
                }
            }
          g_array_append_val (b.work, ((Work) { i, v }));
        }
    }

  /* Each worker runs BLAS on its own thread: more images at once beats one image on many cores.
   * Beside a training run the thread count is the trainer's and one worker takes turns with it. */
  old_threads = bt_engine_get_threads ();
  if (shared)
    n_threads = 1;
  else
    bt_engine_set_threads (1);
  if (b.work->len > 0)
    {
      GThread *threads[16];
      guint total = b.work->len;
      if (n_threads <= 0)
        n_threads = (int) g_get_num_processors ();
      n_threads = (int) MIN ((guint) CLAMP (n_threads, 1, 16), total);
      for (int t = 0; t < n_threads; t++)
        threads[t] = g_thread_new ("bt-embed", build_worker, &b);
      if (progress)
        while (g_atomic_int_get (&b.done) < (gint) total && !g_cancellable_is_cancelled (cancellable)
               && b.error == NULL)
          {
            progress ((guint) g_atomic_int_get (&b.done), total, user_data);
            g_usleep (50000);
          }
      for (int t = 0; t < n_threads; t++)
        g_thread_join (threads[t]);
      if (progress)
        progress ((guint) g_atomic_int_get (&b.done), total, user_data);
    }
  if (!shared)
    bt_engine_set_threads (old_threads);

  e->n_computed = b.work->len - (guint) b.failed;
  e->n_failed = (guint) b.failed;
  /* paths has holes (items left out): free by index */
  for (guint i = 0; i < n; i++)
    g_free (b.paths[i]);
  g_free (b.paths);
  for (gsize s = 0; s < slots; s++)
    g_free (b.cache_files[s]);
  g_free (b.cache_files);
  g_array_unref (b.work);
  g_mutex_clear (&b.lock);

  if (b.error != NULL)
    {
      g_propagate_error (error, b.error);
      bt_embeddings_free (e);
      return NULL;
    }
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    {
      bt_embeddings_free (e);
      return NULL;
    }
  return e;
}

BtEmbeddings *
bt_embeddings_build_full (BtProject *project, BtBackbone *bb, BtDsResize resize,
                          gboolean augment_flip, gboolean augment_crop, int n_threads,
                          BtCacheProgress progress, gpointer user_data,
                          BtEmbedGate gate, gpointer gate_data,
                          GCancellable *cancellable, GError **error)
{
  BtItemSnapshot snap = { 0 };
  BtEmbeddings *e;

  g_return_val_if_fail (BT_IS_PROJECT (project), NULL);
  bt_item_snapshot_init (&snap, project);
  e = build_embeddings (&snap, bb, resize, augment_flip, augment_crop, n_threads, progress, user_data,
                        gate, gate_data, FALSE, NULL, -1, cancellable, error);
  bt_item_snapshot_clear (&snap);
  return e;
}

BtEmbeddings *
bt_embeddings_build_paths (const char * const *paths, const guint64 *hashes, const gboolean *is_train,
                           guint n, const char *project_dir, BtBackbone *bb, BtDsResize resize,
                           gboolean augment_flip, gboolean augment_crop, int n_threads,
                           BtCacheProgress progress, gpointer user_data,
                           BtEmbedGate gate, gpointer gate_data,
                           GCancellable *cancellable, GError **error)
{
  BtItemSnapshot snap = { (char **) paths, (guint64 *) hashes, (gboolean *) is_train, n, (char *) project_dir };

  g_return_val_if_fail ((paths != NULL && hashes != NULL && is_train != NULL) || n == 0, NULL);
  g_return_val_if_fail (project_dir != NULL, NULL);
  return build_embeddings (&snap, bb, resize, augment_flip, augment_crop, n_threads, progress, user_data,
                           gate, gate_data, FALSE, NULL, -1, cancellable, error);
}

BtEmbeddings *
bt_embeddings_build_cut (const char * const *paths, const guint64 *hashes, const gboolean *is_train,
                         guint n, const char *project_dir, BtBackbone *bb, int tensor,
                         BtDsResize resize, gboolean augment_flip, gboolean augment_crop, int n_threads,
                         BtCacheProgress progress, gpointer user_data,
                         BtEmbedGate gate, gpointer gate_data,
                         GCancellable *cancellable, GError **error)
{
  BtItemSnapshot snap = { (char **) paths, (guint64 *) hashes, (gboolean *) is_train, n, (char *) project_dir };

  g_return_val_if_fail ((paths != NULL && hashes != NULL && is_train != NULL) || n == 0, NULL);
  g_return_val_if_fail (project_dir != NULL && tensor >= 0, NULL);
  return build_embeddings (&snap, bb, resize, augment_flip, augment_crop, n_threads, progress, user_data,
                           gate, gate_data, FALSE, NULL, tensor, cancellable, error);
}

BtEmbeddings *
bt_embeddings_build_subset (BtProject *project, BtBackbone *bb, BtDsResize resize, const gboolean *only,
                            int n_threads, BtCacheProgress progress, gpointer user_data,
                            GCancellable *cancellable, GError **error)
{
  BtItemSnapshot snap = { 0 };
  BtEmbeddings *e;

  g_return_val_if_fail (BT_IS_PROJECT (project), NULL);
  g_return_val_if_fail (only != NULL, NULL);
  bt_item_snapshot_init (&snap, project);
  e = build_embeddings (&snap, bb, resize, FALSE, FALSE, n_threads, progress, user_data,
                        NULL, NULL, FALSE, only, -1, cancellable, error);
  bt_item_snapshot_clear (&snap);
  return e;
}

BtEmbeddings *
bt_embeddings_build_shared (BtProject *project, BtBackbone *bb, BtDsResize resize,
                            gboolean augment_flip, gboolean augment_crop,
                            BtCacheProgress progress, gpointer user_data,
                            GCancellable *cancellable, GError **error)
{
  BtItemSnapshot snap = { 0 };
  BtEmbeddings *e;

  g_return_val_if_fail (BT_IS_PROJECT (project), NULL);
  bt_item_snapshot_init (&snap, project);
  e = build_embeddings (&snap, bb, resize, augment_flip, augment_crop, 1, progress, user_data,
                        NULL, NULL, TRUE, NULL, -1, cancellable, error);
  bt_item_snapshot_clear (&snap);
  return e;
}

void
bt_embeddings_free (BtEmbeddings *e)
{
  if (e == NULL)
    return;
  g_free (e->data);
  g_free (e->have);
  g_free (e);
}

int
bt_embeddings_get_dim (BtEmbeddings *e)
{
  g_return_val_if_fail (e != NULL, 0);
  return e->dim;
}

gboolean
bt_embeddings_is_valid (BtEmbeddings *e, guint item_index)
{
  g_return_val_if_fail (e != NULL, FALSE);
  return item_index < e->n_items && e->have[(gsize) item_index * BT_EMBED_N_VARIANTS];
}

const float *
bt_embeddings_get (BtEmbeddings *e, guint item_index, int variant)
{
  gsize slot;
  g_return_val_if_fail (e != NULL, NULL);
  if (item_index >= e->n_items || variant < 0 || variant >= BT_EMBED_N_VARIANTS)
    return NULL;
  slot = (gsize) item_index * BT_EMBED_N_VARIANTS + variant;
  return e->have[slot] ? e->data + slot * e->dim : NULL;
}

guint
bt_embeddings_n_computed (BtEmbeddings *e)
{
  g_return_val_if_fail (e != NULL, 0);
  return e->n_computed;
}

guint
bt_embeddings_n_failed (BtEmbeddings *e)
{
  g_return_val_if_fail (e != NULL, 0);
  return e->n_failed;
}

/* ------------------------------------------------------------------------------------------ */
/* Batches                                                                                     */

typedef struct {
  const float *row;
  guint        item;
  int          label;
} Sample;

struct _BtEmbBatcher {
  GArray  *samples;
  guint32 *order;
  guint    pos;
  int      dim;
  int      batch_size;
  gboolean shuffle;
  guint64  seed;
};

static BtEmbBatcher *
batcher_new (int dim, int batch_size, gboolean shuffle, guint64 seed)
{
  BtEmbBatcher *b = g_new0 (BtEmbBatcher, 1);

  b->dim = dim;
  b->batch_size = batch_size;
  b->shuffle = shuffle;
  b->seed = seed;
  b->samples = g_array_new (FALSE, FALSE, sizeof (Sample));
  return b;
}

static BtEmbBatcher *
batcher_ready (BtEmbBatcher *b)
{
  b->order = g_new (guint32, MAX (b->samples->len, 1));
  bt_emb_batcher_start_epoch (b, 0);
  return b;
}

BtEmbBatcher *
bt_emb_batcher_new (BtEmbeddings *e, const BtSplitView *view, int batch_size, gboolean shuffle,
                    gboolean augment, guint64 seed)
{
  BtEmbBatcher *b;

  g_return_val_if_fail (e != NULL && view != NULL && batch_size > 0, NULL);
  b = batcher_new (e->dim, batch_size, shuffle, seed);
  for (guint i = 0; i < view->n; i++)
    for (int v = 0; v < (augment ? BT_EMBED_N_VARIANTS : 1); v++)
      {
        const float *row = bt_embeddings_get (e, view->items[i], v);
        if (row != NULL)
          g_array_append_val (b->samples, ((Sample) { row, view->items[i], view->labels[i] }));
      }
  return batcher_ready (b);
}

BtEmbBatcher *
bt_emb_batcher_new_rows (const float *const *rows, const int *labels, guint n, int dim, int batch_size,
                         gboolean shuffle, guint64 seed)
{
  BtEmbBatcher *b;

  g_return_val_if_fail ((rows != NULL || n == 0) && dim > 0 && batch_size > 0, NULL);
  b = batcher_new (dim, batch_size, shuffle, seed);
  for (guint i = 0; i < n; i++)
    g_array_append_val (b->samples, ((Sample) { rows[i], i, labels[i] }));
  return batcher_ready (b);
}

void
bt_emb_batcher_free (BtEmbBatcher *b)
{
  if (b == NULL)
    return;
  g_array_unref (b->samples);
  g_free (b->order);
  g_free (b);
}

void
bt_emb_batcher_start_epoch (BtEmbBatcher *b, int epoch)
{
  g_return_if_fail (b != NULL);
  for (guint i = 0; i < b->samples->len; i++)
    b->order[i] = i;
  if (b->shuffle)
    {
      BtRng rng;
      bt_rng_seed (&rng, b->seed * 1000003u + (guint64) epoch);
      bt_rng_shuffle (&rng, b->order, b->samples->len);
    }
  b->pos = 0;
}

int
bt_emb_batcher_next (BtEmbBatcher *b, float *x, int *labels, guint *item_indices)
{
  int k = 0;
  g_return_val_if_fail (b != NULL && x != NULL, 0);
  for (; k < b->batch_size && b->pos < b->samples->len; k++, b->pos++)
    {
      const Sample *s = &g_array_index (b->samples, Sample, b->order[b->pos]);
      memcpy (x + (gsize) k * b->dim, s->row, sizeof (float) * b->dim);
      if (labels)
        labels[k] = s->label;
      if (item_indices)
        item_indices[k] = s->item;
    }
  return k;
}

guint
bt_emb_batcher_n_batches (BtEmbBatcher *b)
{
  g_return_val_if_fail (b != NULL, 0);
  return (b->samples->len + b->batch_size - 1) / b->batch_size;
}

guint
bt_emb_batcher_n_samples (BtEmbBatcher *b)
{
  g_return_val_if_fail (b != NULL, 0);
  return b->samples->len;
}

/* ------------------------------------------------------------------------------------------ */
/* Prediction                                                                                  */

float *
bt_transfer_predict_image (BtModel *model, const BtImage *image, GError **error)
{
  g_autoptr(BtBackbone) bb = NULL;
  g_autofree float *emb = NULL;
  g_autoptr(BtImage) rgb = NULL;
  const float *probs;
  int c, h, w;

  g_return_val_if_fail (model != NULL && model->net != NULL && image != NULL, NULL);
  g_return_val_if_fail (model->backbone_name != NULL || model->backbone_data != NULL, NULL);

  bb = bt_backbone_get_for_model (model, error);
  if (bb == NULL)
    return NULL;
  bt_net_input_shape (model->net, &c, &h, &w);
  if ((gsize) c * h * w != (gsize) bb->dim)
    {
      g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID,
                   _("The model’s head takes %d values but the backbone gives %d"), c * h * w, bb->dim);
      return NULL;
    }
  if (image->channels != 3)
    {
      /* Grey photos: repeat the channel. */
      rgb = g_new0 (BtImage, 1);
      rgb->width = image->width;
      rgb->height = image->height;
      rgb->channels = 3;
      rgb->pixels = g_malloc ((gsize) image->width * image->height * 3);
      for (gsize p = 0; p < (gsize) image->width * image->height; p++)
        memset (rgb->pixels + 3 * p, image->pixels[p * image->channels], 3);
    }
  emb = g_new (float, bb->dim);
  if (!bt_backbone_embed_image (bb, rgb ? rgb : image, resize_to_ds (model->prep.resize), emb, error))
    return NULL;
  probs = bt_net_forward (model->net, emb, 1, FALSE, error);
  if (probs == NULL)
    return NULL;
  return g_memdup2 (probs, sizeof (float) * bt_net_n_classes (model->net));
}

gboolean
bt_transfer_class_gradient (BtModel *model, const BtImage *image, int *class_index,
                            float **features, float **gradient, int *c, int *h, int *w, GError **error)
{
  g_autoptr(BtBackbone) bb = NULL;
  g_autoptr(BtTfliteExec) exec = NULL;
  g_autoptr(BtTflTrain) top = NULL;
  g_autofree float *x = NULL, *a = NULL, *emb = NULL, *d_emb = NULL, *d_a = NULL;
  const float *y;
  int ih, iw, ic, t;
  gsize n, len;

  g_return_val_if_fail (model != NULL && model->net != NULL && image != NULL && class_index != NULL, FALSE);
  g_return_val_if_fail (features != NULL && gradient != NULL, FALSE);
  bb = bt_backbone_get_for_model (model, error);
  if (bb == NULL)
    return FALSE;
  bt_net_input_shape (model->net, &ic, &ih, &iw);
  if ((gsize) ic * ih * iw != (gsize) bb->dim)
    {
      g_set_error (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID,
                   _("The model’s head takes %d values but the backbone gives %d"), ic * ih * iw, bb->dim);
      return FALSE;
    }
  t = bt_tflite_feature_map (bb->model, bb->cut, c, h, w);
  if (t < 0)
    {
      g_set_error_literal (error, BT_TRAINING_ERROR, BT_TRAINING_ERROR_INVALID,
                           _("Grad-CAM needs a backbone whose last layer is a convolution; use occlusion for this model"));
      return FALSE;
    }
  bt_tflite_input_shape (bb->model, &ih, &iw, &ic);
  x = g_new (float, (gsize) ih * iw * ic);
  if (!prepare (bb, image, resize_to_ds (model->prep.resize), x, error))
    return FALSE;
  /* the float path: the arithmetic the backward pass differentiates */
  exec = bt_tflite_exec_new_path (bb->model, BT_TFLITE_PATH_FLOAT, error);
  if (exec == NULL)
    return FALSE;
  y = bt_tflite_exec_run (exec, x, t, &n, error);
  if (y == NULL)
    return FALSE;
  len = (gsize) *c * *h * *w;
  g_assert (n == len);
  a = g_new (float, len);
  bt_tflite_to_physical (bb->model, t, y, a);
  top = bt_tfl_train_new (bb->model, t, bb->cut, 1, error);
  if (top == NULL)
    return FALSE;
  emb = g_new (float, bb->dim);
  bt_tfl_train_forward (top, a, 1, emb);
  if (*class_index < 0)
    {
      const float *p = bt_net_forward (model->net, emb, 1, FALSE, error);
      if (p == NULL)
        return FALSE;
      *class_index = 0;
      for (int k = 1; k < bt_net_n_classes (model->net); k++)
        if (p[k] > p[*class_index])
          *class_index = k;
    }
  d_emb = g_new (float, bb->dim);
  if (!bt_net_class_input_gradient (model->net, emb, *class_index, d_emb, error))
    return FALSE;
  d_a = g_new0 (float, len);
  bt_tfl_train_backward (top, d_emb, d_a);
  *features = g_steal_pointer (&a);
  *gradient = g_steal_pointer (&d_a);
  return TRUE;
}
