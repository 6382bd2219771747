/* bt-model.c: .bottega-model files and training-state files. Both use one container:
 * fixed binary preamble, a GKeyFile text header, 64-byte-aligned little-endian float32
 * tensors, and a SHA-256 of everything before it (docs/model-format.md). */
#include "engine/bt-engine-private.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#define MODEL_MAGIC      "BTGMODEL"
#define STATE_MAGIC      "BTGSTATE"
#define FORMAT_VERSION   1      /* files with float32 tensors only */
#define FORMAT_VERSION_2 2      /* files that also hold a byte blob (an embedded backbone) */
#define FORMAT_VERSION_3 3      /* files that also hold fine-tuned backbone operators */
#define BACKBONE_OP_PREFIX "backbone.op."
#define MAX_BACKBONE_OP 100000
#define PREAMBLE_SIZE    32
#define ALIGN            64
#define HASH_SIZE        32
#define MAX_FILE_SIZE    (G_GUINT64_CONSTANT (1) << 30)
#define MAX_HEADER_SIZE  (1u << 20)
#define MAX_TENSORS      4096
#define MAX_RANK         4
#define MAX_DIM          (1u << 28)
#define MAX_CLASS_NAME   1024
#define MAX_BLOB_BYTES   (512u << 20)
#define BACKBONE_TENSOR  "backbone.tflite"

typedef struct {
  char        *name;
  int          rank;
  guint32      dims[MAX_RANK];
  gsize        count;       /* elements */
  gboolean     is_bytes;    /* dtype u8: a blob of count bytes */
  const guint8 *data;       /* inside the file's bytes */
} Tensor;

typedef struct {
  GKeyFile *kf;
  GArray   *tensors;        /* Tensor */
  gsize     data_len;
  guint32   version;
} Container;

static void
tensor_clear (gpointer p)
{
  g_free (((Tensor *) p)->name);
}

static void
container_clear (Container *c)
{
  g_clear_pointer (&c->kf, g_key_file_unref);
  g_clear_pointer (&c->tensors, g_array_unref);
}

static gboolean
corrupt (GError **error, const char *fmt, ...) G_GNUC_PRINTF (2, 3);

static gboolean
corrupt (GError **error, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_CORRUPT, "Damaged or invalid file: %s", msg);
  return FALSE;
}

static inline guint32 rd32 (const guint8 *p) { guint32 v; memcpy (&v, p, 4); return GUINT32_FROM_LE (v); }
static inline guint64 rd64 (const guint8 *p) { guint64 v; memcpy (&v, p, 8); return GUINT64_FROM_LE (v); }
static inline void wr32 (guint8 *p, guint32 v) { v = GUINT32_TO_LE (v); memcpy (p, &v, 4); }
static inline void wr64 (guint8 *p, guint64 v) { v = GUINT64_TO_LE (v); memcpy (p, &v, 8); }

/* Parses and checks a container: every size and offset is validated against the file
 * length with overflow-checked arithmetic before anything is read. */
static gboolean
container_parse (Container *c, const guint8 *buf, gsize len, const char *magic, GError **error)
{
  memset (c, 0, sizeof *c);
  if (len < PREAMBLE_SIZE + HASH_SIZE)
    return corrupt (error, "too short (%" G_GSIZE_FORMAT " bytes)", len);
  if (memcmp (buf, magic, 8) != 0)
    {
      if (memcmp (buf, MODEL_MAGIC, 8) == 0 || memcmp (buf, STATE_MAGIC, 8) == 0)
        return corrupt (error, "this is a %s file, not a %s file",
                        memcmp (buf, MODEL_MAGIC, 8) == 0 ? "model" : "training-state",
                        strcmp (magic, MODEL_MAGIC) == 0 ? "model" : "training-state");
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_CORRUPT, "Not a Bottega model file");
      return FALSE;
    }
  guint32 version = rd32 (buf + 8);
  if (version != FORMAT_VERSION && version != FORMAT_VERSION_2 && version != FORMAT_VERSION_3)
    {
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_UNSUPPORTED,
                   "File format version %u is not supported (this Bottega reads versions %d to %d)",
                   version, FORMAT_VERSION, FORMAT_VERSION_3);
      return FALSE;
    }
  /* checksum before trusting any field */
  guint8 digest[HASH_SIZE];
  gsize dlen = sizeof digest;
  g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  g_checksum_update (sum, buf, len - HASH_SIZE);
  g_checksum_get_digest (sum, digest, &dlen);
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
  /* (fuzz builds skip only this comparison, so mutated files reach the parser below) */
  if (memcmp (digest, buf + len - HASH_SIZE, HASH_SIZE) != 0)
    return corrupt (error, "checksum mismatch (the file was changed or cut short)");
#endif

  guint32 header_len = rd32 (buf + 12);
  guint64 data_off = rd64 (buf + 16), data_len = rd64 (buf + 24), end;
  if (header_len == 0 || header_len > MAX_HEADER_SIZE)
    return corrupt (error, "header size %u out of range", header_len);
  if (data_off < PREAMBLE_SIZE + (guint64) header_len || data_off % ALIGN != 0)
    return corrupt (error, "bad data offset");
  if (!g_uint64_checked_add (&end, data_off, data_len) ||
      !g_uint64_checked_add (&end, end, HASH_SIZE) || end != len)
    return corrupt (error, "sizes do not match the file length");

  const char *header = (const char *) buf + PREAMBLE_SIZE;
  if (!g_utf8_validate (header, header_len, NULL))
    return corrupt (error, "header is not valid UTF-8");
  c->kf = g_key_file_new ();
  g_autoptr (GError) kerr = NULL;
  if (!g_key_file_load_from_data (c->kf, header, header_len, G_KEY_FILE_NONE, &kerr))
    {
      container_clear (c);
      return corrupt (error, "header: %s", kerr->message);
    }

  c->tensors = g_array_new (FALSE, TRUE, sizeof (Tensor));
  g_array_set_clear_func (c->tensors, tensor_clear);
  int n = g_key_file_get_integer (c->kf, "tensors", "count", &kerr);
  if (kerr || n < 0 || n > MAX_TENSORS)
    {
      container_clear (c);
      return corrupt (error, "bad tensor count");
    }
  const guint8 *data = buf + data_off;
  c->data_len = (gsize) data_len;
  c->version = version;
  for (int i = 0; i < n; i++)
    {
      char group[32];
      g_snprintf (group, sizeof group, "tensor.%d", i);
      Tensor t = { 0 };
      t.name = g_key_file_get_string (c->kf, group, "name", NULL);
      gsize rank = 0;
      g_autofree gint *shape = g_key_file_get_integer_list (c->kf, group, "shape", &rank, NULL);
      g_autoptr (GError) oerr = NULL;
      gint64 offset = g_key_file_get_int64 (c->kf, group, "offset", &oerr);
      g_autofree char *dtype = g_key_file_get_string (c->kf, group, "dtype", NULL);
      /* byte blobs exist from version 2 on, always rank 1 */
      t.is_bytes = version >= FORMAT_VERSION_2 && g_strcmp0 (dtype, "u8") == 0;
      if (t.name == NULL || t.name[0] == '\0' || shape == NULL || rank < 1 || rank > MAX_RANK ||
          oerr != NULL || (g_strcmp0 (dtype, "f32le") != 0 && !t.is_bytes) || (t.is_bytes && rank != 1))
        {
          g_free (t.name);
          container_clear (c);
          return corrupt (error, "tensor %d has a missing or invalid name, shape, offset or type", i);
        }
      t.rank = (int) rank;
      guint64 count = 1, bytes, tend, esize = t.is_bytes ? 1 : 4;
      for (gsize d = 0; d < rank; d++)
        {
          if (shape[d] < 1 || (guint) shape[d] > MAX_DIM)
            {
              g_free (t.name);
              container_clear (c);
              return corrupt (error, "tensor %d has a bad dimension", i);
            }
          t.dims[d] = (guint32) shape[d];
          if (!g_uint64_checked_mul (&count, count, (guint64) shape[d]))
            count = G_MAXUINT64;
        }
      if (offset < 0 || offset % ALIGN != 0 || count > data_len / esize ||
          !g_uint64_checked_mul (&bytes, count, esize) ||
          !g_uint64_checked_add (&tend, (guint64) offset, bytes) || tend > data_len)
        {
          g_free (t.name);
          container_clear (c);
          return corrupt (error, "tensor %d lies outside the data block", i);
        }
      for (guint j = 0; j < c->tensors->len; j++)
        if (strcmp (g_array_index (c->tensors, Tensor, j).name, t.name) == 0)
          {
            g_free (t.name);
            container_clear (c);
            return corrupt (error, "tensor %d repeats a name", i);
          }
      t.count = (gsize) count;
      t.data = data + offset;
      g_array_append_val (c->tensors, t);
    }
  return TRUE;
}

static const Tensor *
find_tensor (const Container *c, const char *name)
{
  for (guint i = 0; i < c->tensors->len; i++)
    {
      const Tensor *t = &g_array_index (c->tensors, Tensor, i);
      if (strcmp (t->name, name) == 0)
        return t;
    }
  return NULL;
}

/* Copies a tensor out with the expected shape; refuses non-finite values. */
static gboolean
read_tensor (const Container *c, const char *name, float *dst, const guint32 *dims, int rank,
             GError **error)
{
  const Tensor *t = find_tensor (c, name);
  if (t == NULL)
    return corrupt (error, "tensor “%s” is missing", name);
  if (t->is_bytes)
    return corrupt (error, "tensor “%s” has the wrong type", name);
  gboolean same = t->rank == rank;
  for (int d = 0; same && d < rank; d++)
    same = t->dims[d] == dims[d];
  if (!same)
    return corrupt (error, "tensor “%s” has the wrong shape", name);
  for (gsize i = 0; i < t->count; i++)
    {
      guint32 u = rd32 (t->data + 4 * i);
      if ((u & 0x7f800000u) == 0x7f800000u)
        return corrupt (error, "tensor “%s” holds NaN or infinite values", name);
      memcpy (dst + i, &u, 4);
    }
  return TRUE;
}

/* ---- Writing ---- */

typedef struct {
  char        *name;
  int          rank;
  guint32      dims[MAX_RANK];
  const float *data;
  const guint8 *bytes;      /* a u8 blob of dims[0] bytes instead of data */
} OutTensor;

static void
out_tensor_clear (gpointer p)
{
  g_free (((OutTensor *) p)->name);
}

static void
add_out (GArray *out, const char *name, const float *data, int rank, guint32 d0, guint32 d1,
         guint32 d2, guint32 d3)
{
  OutTensor t = { g_strdup (name), rank, { d0, d1, d2, d3 }, data, NULL };
  g_array_append_val (out, t);
}

static void
add_out_bytes (GArray *out, const char *name, GBytes *blob)
{
  gsize len;
  OutTensor t = { g_strdup (name), 1, { 0 }, NULL, g_bytes_get_data (blob, &len) };
  t.dims[0] = (guint32) len;
  g_array_append_val (out, t);
}

static gsize
out_count (const OutTensor *t)
{
  gsize n = 1;
  for (int d = 0; d < t->rank; d++)
    n *= t->dims[d];
  return n;
}

static gsize
out_bytes (const OutTensor *t)
{
  return out_count (t) * (t->bytes != NULL ? 1 : 4);
}

/* Lays out preamble, header (with the tensor table added), tensors and the SHA-256. */
static GBytes *
container_build (const char *magic, GKeyFile *kf, GArray *tensors)
{
  guint64 off = 0;
  guint32 version = FORMAT_VERSION;
  g_key_file_set_integer (kf, "tensors", "count", (int) tensors->len);
  for (guint i = 0; i < tensors->len; i++)
    {
      const OutTensor *t = &g_array_index (tensors, OutTensor, i);
      char group[32];
      g_snprintf (group, sizeof group, "tensor.%u", i);
      gint shape[MAX_RANK];
      for (int d = 0; d < t->rank; d++)
        shape[d] = (gint) t->dims[d];
      g_key_file_set_string (kf, group, "name", t->name);
      g_key_file_set_integer_list (kf, group, "shape", shape, t->rank);
      g_key_file_set_string (kf, group, "dtype", t->bytes != NULL ? "u8" : "f32le");
      g_key_file_set_int64 (kf, group, "offset", (gint64) off);
      off += (out_bytes (t) + ALIGN - 1) / ALIGN * ALIGN;
      if (t->bytes != NULL)
        version = MAX (version, FORMAT_VERSION_2);
      if (g_str_has_prefix (t->name, BACKBONE_OP_PREFIX))
        version = FORMAT_VERSION_3;
    }
  gsize header_len;
  g_autofree char *header = g_key_file_to_data (kf, &header_len, NULL);
  guint64 data_off = (PREAMBLE_SIZE + header_len + ALIGN - 1) / ALIGN * ALIGN;
  gsize total = data_off + off + HASH_SIZE;
  guint8 *buf = g_malloc0 (total);
  memcpy (buf, magic, 8);
  wr32 (buf + 8, version);
  wr32 (buf + 12, (guint32) header_len);
  wr64 (buf + 16, data_off);
  wr64 (buf + 24, off);
  memcpy (buf + PREAMBLE_SIZE, header, header_len);
  guint8 *p = buf + data_off;
  for (guint i = 0; i < tensors->len; i++)
    {
      const OutTensor *t = &g_array_index (tensors, OutTensor, i);
      gsize n = out_count (t);
      if (t->bytes != NULL)
        memcpy (p, t->bytes, n);
      else
        for (gsize k = 0; k < n; k++)
          {
            guint32 u;
            memcpy (&u, t->data + k, 4);
            wr32 (p + 4 * k, u);
          }
      p += (out_bytes (t) + ALIGN - 1) / ALIGN * ALIGN;
    }
  gsize dlen = HASH_SIZE;
  g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  g_checksum_update (sum, buf, total - HASH_SIZE);
  g_checksum_get_digest (sum, buf + total - HASH_SIZE, &dlen);
  return g_bytes_new_take (buf, total);
}

static gboolean
write_atomic (const char *path, GBytes *bytes, GError **error)
{
  gsize len;
  const char *data = g_bytes_get_data (bytes, &len);
  g_autoptr (GError) ferr = NULL;
  if (!g_file_set_contents_full (path, data, (gssize) len,
                                 G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE,
                                 0644, &ferr))
    {
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_IO, "Could not save “%s”: %s", path, ferr->message);
      return FALSE;
    }
  return TRUE;
}

/* The net's tensors in file order, named as PyTorch names them. */
static void
net_tensors (BtNet *net, GArray *out)
{
  for (guint i = 0; i < net->layers->len; i++)
    {
      const BtLayer *l = bt_net_layer (net, i);
      char name[64];
      if (l->w_len == 0)
        continue;
      g_snprintf (name, sizeof name, "%s.weight", l->name);
      switch (l->kind)
        {
        case BT_LAYER_CONV:
          add_out (out, name, net->params + l->w_off, 4, l->c, l->in_c, l->kh, l->kw);
          break;
        case BT_LAYER_DWCONV:
          add_out (out, name, net->params + l->w_off, 4, l->c, 1, l->kh, l->kw);
          break;
        case BT_LAYER_DENSE:
          add_out (out, name, net->params + l->w_off, 2, l->c, (guint32) (l->w_len / l->c), 0, 0);
          break;
        case BT_LAYER_BATCHNORM:
          add_out (out, name, net->params + l->w_off, 1, l->c, 0, 0, 0);
          break;
        default:
          g_assert_not_reached ();
        }
      if (l->b_len)
        {
          g_snprintf (name, sizeof name, "%s.bias", l->name);
          add_out (out, name, net->params + l->b_off, 1, (guint32) l->b_len, 0, 0, 0);
        }
      if (l->kind == BT_LAYER_BATCHNORM)
        {
          g_snprintf (name, sizeof name, "%s.running_mean", l->name);
          add_out (out, name, net->buffers + l->buf_off, 1, l->c, 0, 0, 0);
          g_snprintf (name, sizeof name, "%s.running_var", l->name);
          add_out (out, name, net->buffers + l->buf_off + l->c, 1, l->c, 0, 0, 0);
        }
    }
}

static void
write_net_spec (GKeyFile *kf, const BtNet *net)
{
  g_key_file_set_string (kf, "model", "preset", bt_preset_to_id (net->preset));
  g_key_file_set_integer (kf, "model", "input-width", net->in_w);
  g_key_file_set_integer (kf, "model", "input-height", net->in_h);
  g_key_file_set_integer (kf, "model", "input-channels", net->in_c);
  g_key_file_set_integer (kf, "model", "classes", net->n_classes);
  char d[G_ASCII_DTOSTR_BUF_SIZE];
  g_key_file_set_string (kf, "model", "dropout", g_ascii_dtostr (d, sizeof d, net->dropout));
  g_key_file_set_integer (kf, "model", "hidden", net->hidden);
  g_key_file_set_int64 (kf, "model", "parameters", (gint64) net->n_params);
  /* the layer list, for people and tools; the loader rebuilds from the preset and checks
   * every tensor's name and shape instead of trusting this */
  g_autofree char *desc = bt_net_describe (net);
  g_auto (GStrv) lines = g_strsplit (desc, "\n", -1);
  int k = 0;
  for (int i = 0; lines[i]; i++)
    if (lines[i][0] && !g_str_has_prefix (lines[i], "input ") && !g_str_has_prefix (lines[i], "total "))
      {
        char key[16];
        g_snprintf (key, sizeof key, "%d", k++);
        g_key_file_set_string (kf, "layers", key, lines[i]);
      }
}

static double
get_double (GKeyFile *kf, const char *group, const char *key, gboolean *ok)
{
  g_autofree char *s = g_key_file_get_string (kf, group, key, NULL);
  char *end = NULL;
  double v = s ? g_ascii_strtod (s, &end) : NAN;
  if (s == NULL || end == s || *end != '\0' || !isfinite (v) || fabs (v) > 1e30)
    *ok = FALSE;
  return v;
}

static float
get_float (GKeyFile *kf, const char *group, const char *key, gboolean *ok)
{
  return (float) get_double (kf, group, key, ok);
}

static int
get_int (GKeyFile *kf, const char *group, const char *key, gboolean *ok)
{
  g_autoptr (GError) e = NULL;
  int v = g_key_file_get_integer (kf, group, key, &e);
  if (e)
    *ok = FALSE;
  return v;
}

/* Rebuilds the network the header describes and fills it from the tensors. */
static BtNet *
net_from_container (const Container *c, gsize data_len, GError **error)
{
  GKeyFile *kf = c->kf;
  gboolean ok = TRUE;
  g_autofree char *preset_id = g_key_file_get_string (kf, "model", "preset", NULL);
  int w = get_int (kf, "model", "input-width", &ok);
  int h = get_int (kf, "model", "input-height", &ok);
  int ch = get_int (kf, "model", "input-channels", &ok);
  int classes = get_int (kf, "model", "classes", &ok);
  int hidden = get_int (kf, "model", "hidden", &ok);
  float dropout = get_float (kf, "model", "dropout", &ok);
  BtPreset preset;
  if (!ok || preset_id == NULL)
    {
      corrupt (error, "the [model] section is incomplete");
      return NULL;
    }
  if (!bt_preset_from_id (preset_id, &preset))
    {
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_UNSUPPORTED,
                   "Unknown architecture “%s” (made by a newer Bottega?)", preset_id);
      return NULL;
    }
  g_autoptr (GError) nerr = NULL;
  g_autoptr (BtNet) net = bt_net_new_spec (preset, w, h, ch, classes, MAX (dropout, 0.0f), hidden, 0,
                                           data_len / 4, &nerr);
  if (net == NULL)
    {
      corrupt (error, "%s", nerr->message);
      return NULL;
    }
  g_autoptr (GArray) expect = g_array_new (FALSE, TRUE, sizeof (OutTensor));
  g_array_set_clear_func (expect, out_tensor_clear);
  net_tensors (net, expect);
  for (guint i = 0; i < expect->len; i++)
    {
      const OutTensor *t = &g_array_index (expect, OutTensor, i);
      if (!read_tensor (c, t->name, (float *) t->data, t->dims, t->rank, error))
        return NULL;
    }
  bt_net_params_changed (net);
  return g_steal_pointer (&net);
}

static gboolean
valid_key (const char *k)
{
  if (k == NULL || *k == '\0' || strlen (k) > 64)
    return FALSE;
  for (const char *p = k; *p; p++)
    if (!g_ascii_isalnum (*p) && *p != '-' && *p != '_' && *p != '.')
      return FALSE;
  return TRUE;
}

/* A backbone's SHA-256 as the saver writes it and the loader accepts it: 64 hex digits (either
 * case; written and loaded in lower case, so what loads saves again to the same text). */
static gboolean
valid_sha256 (const char *s)
{
  if (s == NULL || strlen (s) != 64)
    return FALSE;
  for (const char *p = s; *p; p++)
    if (!g_ascii_isxdigit (*p))
      return FALSE;
  return TRUE;
}

static gboolean
valid_class_name (const char *s)
{
  if (s == NULL || *s == '\0' || strlen (s) > MAX_CLASS_NAME || !g_utf8_validate (s, -1, NULL))
    return FALSE;
  for (const char *p = s; *p; p = g_utf8_next_char (p))
    if (g_unichar_iscntrl (g_utf8_get_char (p)))
      return FALSE;
  return TRUE;
}

static gboolean
check_preprocess (const BtPreprocess *p, const BtNet *net, GError **error)
{
  /* a transfer head's recipe describes the backbone's input image, not the embedding */
  gboolean same = net->preset == BT_PRESET_TRANSFER
                    ? p->width >= 1 && p->width <= 4096 && p->height >= 1 && p->height <= 4096
                    : p->width == net->in_w && p->height == net->in_h && p->channels == net->in_c;
  gboolean ok = same && (p->channels == 1 || p->channels == 3) && (guint) p->resize <= BT_RESIZE_PAD &&
                isfinite (p->scale) && p->scale > 0.0f;
  for (int c = 0; c < 3; c++)
    ok = ok && isfinite (p->mean[c]) && isfinite (p->std[c]) && p->std[c] > 0.0f;
  if (!ok)
    g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID,
                 "The preprocessing recipe does not match the network's input");
  return ok;
}

/* ---- Models ---- */

void
bt_calibration_init (BtCalibration *calib)
{
  g_return_if_fail (calib != NULL);
  calib->temperature = 1.0;
  calib->unknown_threshold = NAN;
  calib->energy_center = calib->energy_scale = NAN;
  calib->distance_center = calib->distance_scale = NAN;
  calib->energy_threshold = NAN;
}

gboolean
bt_calibration_uses_centroids (const BtCalibration *calib)
{
  g_return_val_if_fail (calib != NULL, FALSE);
  return isfinite (calib->energy_center) && isfinite (calib->energy_scale) && calib->energy_scale > 0 &&
         isfinite (calib->distance_center) && isfinite (calib->distance_scale) && calib->distance_scale > 0;
}

double
bt_calibration_energy_threshold (const BtCalibration *calib)
{
  g_return_val_if_fail (calib != NULL, NAN);
  return bt_calibration_uses_centroids (calib) ? calib->energy_threshold : calib->unknown_threshold;
}

static gboolean
finite_or_nan (double v)
{
  return isnan (v) || isfinite (v);
}

static gboolean
valid_calibration (const BtCalibration *calib)
{
  return isfinite (calib->temperature) && calib->temperature >= BT_TEMPERATURE_MIN &&
         calib->temperature <= BT_TEMPERATURE_MAX && finite_or_nan (calib->unknown_threshold) &&
         (!bt_calibration_uses_centroids (calib) || finite_or_nan (calib->energy_threshold));
}

#define UNKNOWN_COMBINED "energy+centroid-distance"

/* Absent group or keys: temperature 1, no threshold (files from before calibration). A score
 * kind this Bottega does not know leaves the model without a threshold rather than refused; the
 * combined kind's scales must be sensible (has_centroids: the file holds centroids). */
static gboolean
read_calibration (GKeyFile *kf, BtCalibration *calib, gboolean has_centroids)
{
  gboolean ok = TRUE;
  bt_calibration_init (calib);
  if (g_key_file_has_key (kf, "calibration", "temperature", NULL))
    calib->temperature = get_double (kf, "calibration", "temperature", &ok);
  if (g_key_file_has_key (kf, "calibration", "unknown-threshold", NULL))
    {
      g_autofree char *kind = g_key_file_get_string (kf, "calibration", "unknown-score", NULL);
      double t = get_double (kf, "calibration", "unknown-threshold", &ok);
      if (g_strcmp0 (kind, "energy") == 0)
        calib->unknown_threshold = t;
      else if (g_strcmp0 (kind, UNKNOWN_COMBINED) == 0)
        {
          calib->unknown_threshold = t;
          calib->energy_center = get_double (kf, "calibration", "energy-center", &ok);
          calib->energy_scale = get_double (kf, "calibration", "energy-scale", &ok);
          calib->distance_center = get_double (kf, "calibration", "distance-center", &ok);
          calib->distance_scale = get_double (kf, "calibration", "distance-scale", &ok);
          calib->energy_threshold = get_double (kf, "calibration", "energy-threshold", &ok);
          ok = ok && has_centroids && bt_calibration_uses_centroids (calib) && isfinite (calib->energy_threshold);
        }
    }
  return ok && valid_calibration (calib);
}

/* [inference] test-time-augmentation: absent or "none": none; "mirror"; another well-formed name
 * (a later Bottega's kind) predicts without it rather than being refused; anything else
 * ([a-z0-9-], 1 … 32 characters) is damage. */
static gboolean
read_inference (GKeyFile *kf, BtTta *tta)
{
  g_autofree char *v = g_key_file_get_string (kf, "inference", "test-time-augmentation", NULL);
  gsize len = v != NULL ? strlen (v) : 0;

  *tta = BT_TTA_NONE;
  if (v == NULL)
    return !g_key_file_has_key (kf, "inference", "test-time-augmentation", NULL);
  if (len < 1 || len > 32)
    return FALSE;
  for (gsize i = 0; i < len; i++)
    if (!(g_ascii_islower (v[i]) || g_ascii_isdigit (v[i]) || v[i] == '-'))
      return FALSE;
  if (strcmp (v, "mirror") == 0)
    *tta = BT_TTA_MIRROR;
  return TRUE;
}

double
bt_calibration_apply (const BtCalibration *calib, const float *logits, int k, float *probs)
{
  double t, mx = -INFINITY, sum = 0;

  g_return_val_if_fail (calib != NULL && logits != NULL && k > 0, NAN);
  t = calib->temperature > 0 && isfinite (calib->temperature) ? calib->temperature : 1.0;
  for (int j = 0; j < k; j++)
    mx = MAX (mx, logits[j] / t);
  for (int j = 0; j < k; j++)
    sum += exp (logits[j] / t - mx);
  for (int j = 0; probs != NULL && j < k; j++)
    probs[j] = (float) (exp (logits[j] / t - mx) / sum);
  return -t * (mx + log (sum));
}

gboolean
bt_calibration_is_unknown (const BtCalibration *calib, double unknown_score)
{
  g_return_val_if_fail (calib != NULL, FALSE);
  return !isnan (calib->unknown_threshold) && unknown_score > calib->unknown_threshold;
}

/* ---- Class centroids ([centroids] + tensors centroids.mean, centroids.spread) ---- */

#define MAX_CENTROID_FLOATS (64u << 20)

BtCentroids *
bt_centroids_new (int n_classes, int dim)
{
  BtCentroids *c;
  g_return_val_if_fail (n_classes > 0 && dim > 0, NULL);
  if ((guint64) n_classes * (guint64) dim > MAX_CENTROID_FLOATS)
    return NULL;
  c = g_new0 (BtCentroids, 1);
  c->n_classes = n_classes;
  c->dim = dim;
  c->mean = g_try_new0 (float, (gsize) n_classes * dim);
  c->spread = g_try_new0 (float, (gsize) n_classes * dim);
  if (c->mean == NULL || c->spread == NULL)
    {
      bt_centroids_free (c);
      return NULL;
    }
  return c;
}

BtCentroids *
bt_centroids_copy (const BtCentroids *c)
{
  BtCentroids *copy;
  g_return_val_if_fail (c != NULL, NULL);
  copy = bt_centroids_new (c->n_classes, c->dim);
  if (copy == NULL)
    return NULL;
  memcpy (copy->mean, c->mean, sizeof (float) * c->n_classes * c->dim);
  memcpy (copy->spread, c->spread, sizeof (float) * c->n_classes * c->dim);
  return copy;
}

void
bt_centroids_free (BtCentroids *c)
{
  if (c == NULL)
    return;
  g_free (c->mean);
  g_free (c->spread);
  g_free (c);
}

double
bt_centroids_distance (const BtCentroids *c, const float *features)
{
  double best = INFINITY;
  g_return_val_if_fail (c != NULL && features != NULL, NAN);
  for (int k = 0; k < c->n_classes; k++)
    {
      const float *mu = c->mean + (gsize) k * c->dim, *sd = c->spread + (gsize) k * c->dim;
      double sum = 0;
      for (int j = 0; j < c->dim; j++)
        {
          double z = (features[j] - mu[j]) / sd[j];
          sum += z * z;
        }
      best = MIN (best, sum / c->dim);
    }
  return sqrt (best);
}

void
bt_unknown_parts (const BtCalibration *calib, const BtCentroids *centroids, const float *logits, int k,
                  const float *features, double *energy, double *distance)
{
  g_return_if_fail (calib != NULL && logits != NULL && energy != NULL && distance != NULL);
  *energy = bt_calibration_apply (calib, logits, k, NULL);
  *distance = centroids != NULL && features != NULL ? bt_centroids_distance (centroids, features) : NAN;
}

double
bt_unknown_score (const BtCalibration *calib, const BtCentroids *centroids, const float *logits, int k,
                  const float *features, float *probs)
{
  double energy, distance;
  g_return_val_if_fail (calib != NULL, NAN);
  energy = bt_calibration_apply (calib, logits, k, probs);
  if (!bt_calibration_uses_centroids (calib))
    return energy;
  if (centroids == NULL || features == NULL)
    return NAN;
  distance = bt_centroids_distance (centroids, features);
  return MAX ((energy - calib->energy_center) / calib->energy_scale,
              (distance - calib->distance_center) / calib->distance_scale);
}

double
bt_model_unknown_score (const BtModel *m, const float *logits, const float *features, float *probs)
{
  g_return_val_if_fail (m != NULL && m->net != NULL && logits != NULL, NAN);
  return bt_unknown_score (&m->calib, m->centroids, logits, bt_net_n_classes (m->net), features, probs);
}

/* The centroids fit the net: one row per class, the net's feature length, finite, spread > 0. */
static gboolean
check_centroids (const BtCentroids *c, const BtNet *net, GError **error)
{
  gsize n;
  if (c->n_classes != bt_net_n_classes (net) || c->dim != bt_net_feature_dim (net))
    {
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID,
                   "the class centroids are %d × %d values, the network needs %d × %d", c->n_classes, c->dim,
                   bt_net_n_classes (net), bt_net_feature_dim (net));
      return FALSE;
    }
  n = (gsize) c->n_classes * c->dim;
  for (gsize i = 0; i < n; i++)
    if (!isfinite (c->mean[i]) || !isfinite (c->spread[i]) || !(c->spread[i] > 0))
      {
        g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID,
                     "class %d's centroid has a value that is not finite or a spread that is not above 0",
                     (int) (i / c->dim) + 1);
        return FALSE;
      }
  return TRUE;
}

static void
add_centroids (GKeyFile *kf, GArray *tensors, const BtCentroids *c)
{
  g_key_file_set_integer (kf, "centroids", "classes", c->n_classes);
  g_key_file_set_integer (kf, "centroids", "dim", c->dim);
  add_out (tensors, "centroids.mean", c->mean, 2, (guint32) c->n_classes, (guint32) c->dim, 0, 0);
  add_out (tensors, "centroids.spread", c->spread, 2, (guint32) c->n_classes, (guint32) c->dim, 0, 0);
}

/* [centroids] absent (and no centroid tensors): none. Present: both tensors of the stated shape,
 * which must be the net's, every value finite and every spread above 0. */
static gboolean
read_centroids (const Container *c, BtModel *m, GError **error)
{
  gboolean ok = TRUE;
  guint32 dims[2];
  int classes, dim;
  g_autoptr(BtCentroids) cen = NULL;

  if (!g_key_file_has_group (c->kf, "centroids"))
    {
      if (find_tensor (c, "centroids.mean") != NULL || find_tensor (c, "centroids.spread") != NULL)
        return corrupt (error, "class centroid tensors without their [centroids] section");
      return TRUE;
    }
  classes = get_int (c->kf, "centroids", "classes", &ok);
  dim = get_int (c->kf, "centroids", "dim", &ok);
  if (!ok || classes != bt_net_n_classes (m->net) || dim != bt_net_feature_dim (m->net))
    return corrupt (error, "the class centroids' count or length does not match the network");
  cen = bt_centroids_new (classes, dim);
  if (cen == NULL)
    return corrupt (error, "not enough memory for the class centroids");
  dims[0] = (guint32) classes;
  dims[1] = (guint32) dim;
  if (!read_tensor (c, "centroids.mean", cen->mean, dims, 2, error) ||
      !read_tensor (c, "centroids.spread", cen->spread, dims, 2, error))
    return FALSE;
  if (!check_centroids (cen, m->net, NULL))
    return corrupt (error, "a class centroid's spread is not above 0");
  m->centroids = g_steal_pointer (&cen);
  return TRUE;
}

/* Format 3: the fine-tuned backbone operators, which need the backbone inside the file. */
static gboolean
add_backbone_ops (GArray *tensors, const GArray *weights, gboolean has_backbone, GError **error)
{
  if (weights != NULL && weights->len > 0 && !has_backbone)
    {
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID,
                   "A fine-tuned backbone is saved inside the model (whole network) only");
      return FALSE;
    }
  for (guint i = 0; weights != NULL && i < weights->len; i++)
    {
      const BtBackboneWeights *bw = &g_array_index (weights, BtBackboneWeights, i);
      char name[64];
      if (bw->op < 0 || bw->op > MAX_BACKBONE_OP || bw->w == NULL || bw->b == NULL)
        {
          g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID, "Invalid fine-tuned backbone operator");
          return FALSE;
        }
      g_snprintf (name, sizeof name, BACKBONE_OP_PREFIX "%d.weight", bw->op);
      add_out (tensors, name, bw->w, 4, bw->shape[0], bw->shape[1], bw->shape[2], bw->shape[3]);
      g_snprintf (name, sizeof name, BACKBONE_OP_PREFIX "%d.bias", bw->op);
      add_out (tensors, name, bw->b, 1, bw->shape[0], 0, 0, 0);
    }
  return TRUE;
}

/* [inference], written only when on: a model without it is byte for byte what older Bottegas
 * wrote (it needs no format version of its own: older readers ignore the group) */
static gboolean
write_inference (GKeyFile *kf, BtTta tta, GError **error)
{
  if (tta == BT_TTA_MIRROR)
    g_key_file_set_string (kf, "inference", "test-time-augmentation", "mirror");
  else if (tta != BT_TTA_NONE)
    {
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID, "Invalid test-time augmentation %d", (int) tta);
      return FALSE;
    }
  return TRUE;
}

/* ---- Per-class thresholds ([thresholds]: class index = probability) ---- */

static gboolean
valid_threshold (double t)
{
  return isfinite (t) && t >= 0.0 && t <= 1.0;
}

/* Written only when a class has one: a model without them is byte for byte what older Bottegas
 * wrote, and older readers ignore the group (they predict without the thresholds). */
static gboolean
write_thresholds (GKeyFile *kf, const double *thresholds, int n_classes, GError **error)
{
  char d[G_ASCII_DTOSTR_BUF_SIZE];

  for (int k = 0; thresholds != NULL && k < n_classes; k++)
    {
      char key[16];
      if (isnan (thresholds[k]) || thresholds[k] == 0.0)
        continue;
      if (!valid_threshold (thresholds[k]))
        {
          g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID,
                       "The threshold of class %d is not a probability between 0 and 1 (%g)", k + 1, thresholds[k]);
          return FALSE;
        }
      g_snprintf (key, sizeof key, "%d", k);
      /* six digits when they say it exactly (the slider's whole percents stay readable), else all:
       * whatever loads saves again to the same value */
      g_ascii_formatd (d, sizeof d, "%.6g", thresholds[k]);
      if (g_ascii_strtod (d, NULL) != thresholds[k])
        g_ascii_dtostr (d, sizeof d, thresholds[k]);
      g_key_file_set_string (kf, "thresholds", key, d);
    }
  return TRUE;
}

/* a file's text for a message: valid UTF-8, at most 32 characters */
static char *
shown_text (const char *raw)
{
  g_autofree char *valid = g_utf8_make_valid (raw != NULL ? raw : "", -1);
  return g_utf8_substring (valid, 0, MIN (g_utf8_strlen (valid, -1), 32));
}

/* m's thresholds, made (all NAN) on first use */
static double *
thresholds_of (BtModel *m)
{
  int n = bt_net_n_classes (m->net);

  if (m->class_thresholds == NULL)
    {
      m->class_thresholds = g_new (double, n);
      for (int j = 0; j < n; j++)
        m->class_thresholds[j] = NAN;
    }
  return m->class_thresholds;
}

/* Every key must name a class by its index and every value be a probability: a damaged or
 * hand-edited threshold refuses the file rather than silently accepting or rejecting answers. */
static gboolean
read_thresholds (GKeyFile *kf, BtModel *m, GError **error)
{
  int n = bt_net_n_classes (m->net);
  g_auto (GStrv) keys = g_key_file_get_keys (kf, "thresholds", NULL, NULL);

  for (int i = 0; keys != NULL && keys[i] != NULL; i++)
    {
      guint64 k = 0;
      gboolean ok = TRUE;
      double t;

      if (!g_ascii_string_to_unsigned (keys[i], 10, 0, (guint64) n - 1, &k, NULL))
        {
          g_autofree char *shown = shown_text (keys[i]);
          return corrupt (error, "a saved threshold names no class (“%s”)", shown);
        }
      t = get_double (kf, "thresholds", keys[i], &ok);
      if (!ok || !valid_threshold (t))
        {
          g_autofree char *raw = g_key_file_get_value (kf, "thresholds", keys[i], NULL);
          g_autofree char *shown = shown_text (raw);
          return corrupt (error, "the saved threshold of class “%s” is not a probability between 0 and 1 (“%s”)",
                          m->class_names[k], shown);
        }
      thresholds_of (m)[k] = t;
    }
  return TRUE;
}

double
bt_model_get_threshold (const BtModel *m, int k)
{
  g_return_val_if_fail (m != NULL && m->net != NULL, NAN);
  g_return_val_if_fail (k >= 0 && k < bt_net_n_classes (m->net), NAN);
  return m->class_thresholds != NULL ? m->class_thresholds[k] : NAN;
}

gboolean
bt_model_set_threshold (BtModel *m, int k, double t, GError **error)
{
  g_return_val_if_fail (m != NULL && m->net != NULL, FALSE);
  g_return_val_if_fail (k >= 0 && k < bt_net_n_classes (m->net), FALSE);
  if (!isnan (t) && !valid_threshold (t))
    {
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID,
                   "A threshold is a probability between 0 and 1 (got %g)", t);
      return FALSE;
    }
  thresholds_of (m)[k] = t == 0.0 ? NAN : t;
  return TRUE;
}

BtAnswer
bt_answer_rule (const BtCalibration *calib, const double *class_thresholds, int n, const float *probs,
                double unknown_score, int *top)
{
  int best = 0;
  double t;

  g_return_val_if_fail (calib != NULL && probs != NULL && n > 0, BT_ANSWER_UNKNOWN);
  for (int k = 1; k < n; k++)
    if (probs[k] > probs[best])
      best = k;
  if (top != NULL)
    *top = best;
  if (bt_calibration_is_unknown (calib, unknown_score))
    return BT_ANSWER_UNKNOWN;
  t = class_thresholds != NULL ? class_thresholds[best] : NAN;
  return !isnan (t) && probs[best] < t ? BT_ANSWER_BELOW_THRESHOLD : BT_ANSWER_CLASS;
}

BtAnswer
bt_model_answer (const BtModel *m, const float *probs, double unknown_score, int *top)
{
  g_return_val_if_fail (m != NULL && m->net != NULL && probs != NULL, BT_ANSWER_UNKNOWN);
  return bt_answer_rule (&m->calib, m->class_thresholds, bt_net_n_classes (m->net), probs, unknown_score, top);
}

/* Class names: one per class, each valid, none twice. */
static gboolean
check_class_names (const BtNet *net, const char * const *class_names, int n_names, GError **error)
{
  if (n_names != net->n_classes)
    {
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID,
                   "%d class names for a network with %d classes", n_names, net->n_classes);
      return FALSE;
    }
  for (int i = 0; i < n_names; i++)
    {
      if (!valid_class_name (class_names[i]))
        {
          g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID,
                       "Class name %d is empty, too long, not UTF-8 or has control characters", i + 1);
          return FALSE;
        }
      for (int j = 0; j < i; j++)
        if (strcmp (class_names[i], class_names[j]) == 0)
          {
            g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID,
                         "Class name “%s” appears twice", class_names[i]);
            return FALSE;
          }
    }
  return TRUE;
}

/* A backbone stored inside the model: only a transfer model's, within the size limit, and
 * matching the SHA-256 it is named by (sha256, may be NULL). Its own SHA-256 in *blob_sha256. */
static gboolean
check_backbone_blob (const BtNet *net, const char *backbone_name, const char *sha256, GBytes *data,
                     char **blob_sha256, GError **error)
{
  gsize blen;
  const guint8 *bdata = g_bytes_get_data (data, &blen);

  if (net->preset != BT_PRESET_TRANSFER || backbone_name == NULL)
    {
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID,
                   "Only a transfer model with a named backbone can hold its backbone");
      return FALSE;
    }
  if (blen == 0 || blen > MAX_BLOB_BYTES)
    {
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID,
                   "The backbone is too large to be stored inside the model");
      return FALSE;
    }
  *blob_sha256 = g_compute_checksum_for_data (G_CHECKSUM_SHA256, bdata, blen);
  if (sha256 != NULL && g_ascii_strcasecmp (sha256, *blob_sha256) != 0)
    {
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID,
                   "The backbone's content does not match its SHA-256");
      return FALSE;
    }
  return TRUE;
}

/* [preprocess]: the recipe, or the default one for the network's input when prep is NULL. */
static void
write_preprocess (GKeyFile *kf, const BtNet *net, const BtPreprocess *prep)
{
  BtPreprocess def;
  char d[G_ASCII_DTOSTR_BUF_SIZE];

  if (prep == NULL)
    {
      if (net->preset == BT_PRESET_TRANSFER)
        bt_preprocess_init_default (&def, 224, 224, 3);
      else
        bt_preprocess_init_default (&def, net->in_w, net->in_h, net->in_c);
      prep = &def;
    }
  g_key_file_set_integer (kf, "preprocess", "width", prep->width);
  g_key_file_set_integer (kf, "preprocess", "height", prep->height);
  g_key_file_set_integer (kf, "preprocess", "channels", prep->channels);
  g_key_file_set_string (kf, "preprocess", "resize", bt_resize_mode_to_string (prep->resize));
  /* The grey level transparent pixels are laid over (the decoder's BT_ALPHA_BACKGROUND, white):
   * recorded so a model never meets images composited differently from its training ones. */
  g_key_file_set_integer (kf, "preprocess", "alpha-background", BT_MODEL_ALPHA_BACKGROUND);
  g_key_file_set_string (kf, "preprocess", "scale", g_ascii_dtostr (d, sizeof d, prep->scale));
  for (int c = 0; c < 3; c++)
    {
      char key[16];
      g_snprintf (key, sizeof key, "mean%d", c);
      g_key_file_set_string (kf, "preprocess", key, g_ascii_dtostr (d, sizeof d, prep->mean[c]));
      g_snprintf (key, sizeof key, "std%d", c);
      g_key_file_set_string (kf, "preprocess", key, g_ascii_dtostr (d, sizeof d, prep->std[c]));
    }
}

/* [calibration]: the temperature, and the unknown score's threshold when there is one. */
static gboolean
write_calibration (GKeyFile *kf, const BtCalibration *calib, gboolean has_centroids, GError **error)
{
  char d[G_ASCII_DTOSTR_BUF_SIZE];

  if (!valid_calibration (calib))
    {
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID,
                   "Invalid calibration (temperature %g, threshold %g)", calib->temperature,
                   calib->unknown_threshold);
      return FALSE;
    }
  g_key_file_set_string (kf, "calibration", "temperature", g_ascii_dtostr (d, sizeof d, calib->temperature));
  if (isnan (calib->unknown_threshold))
    return TRUE;
  if (!bt_calibration_uses_centroids (calib))
    g_key_file_set_string (kf, "calibration", "unknown-score", "energy");
  else
    {
      static const char *keys[] = { "energy-center", "energy-scale", "distance-center", "distance-scale",
                                    "energy-threshold" };
      const double values[] = { calib->energy_center, calib->energy_scale, calib->distance_center,
                                calib->distance_scale, calib->energy_threshold };
      if (!has_centroids || !isfinite (calib->energy_threshold))
        {
          g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID,
                       "The unknown score needs the class centroids and the energy's own threshold");
          return FALSE;
        }
      /* an older Bottega does not know this kind: it predicts without an unknown threshold */
      g_key_file_set_string (kf, "calibration", "unknown-score", UNKNOWN_COMBINED);
      for (guint i = 0; i < G_N_ELEMENTS (keys); i++)
        g_key_file_set_string (kf, "calibration", keys[i], g_ascii_dtostr (d, sizeof d, values[i]));
    }
  g_key_file_set_string (kf, "calibration", "unknown-threshold", g_ascii_dtostr (d, sizeof d, calib->unknown_threshold));
  return TRUE;
}

/* [metadata]: the caller's entries, sorted, each a valid key and a short UTF-8 value. */
static gboolean
write_metadata (GKeyFile *kf, GHashTable *metadata, GError **error)
{
  g_autoptr (GList) keys = g_hash_table_get_keys (metadata);

  keys = g_list_sort (keys, (GCompareFunc) strcmp);
  for (GList *k = keys; k; k = k->next)
    {
      const char *v = g_hash_table_lookup (metadata, k->data);
      if (!valid_key (k->data) || v == NULL || !g_utf8_validate (v, -1, NULL) || strlen (v) > 4096)
        {
          g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID,
                       "Invalid metadata entry “%s”", (const char *) k->data);
          return FALSE;
        }
      g_key_file_set_string (kf, "metadata", k->data, v);
    }
  return TRUE;
}

static GBytes *
model_build (BtNet *net, const char * const *class_names, const BtPreprocess *prep,
             const char *backbone_name, const char *backbone_sha256, GBytes *backbone_data,
             const GArray *backbone_weights, const BtCalibration *calib, BtTta tta,
             const double *thresholds, const BtCentroids *centroids, GHashTable *metadata, GError **error)
{
  g_autofree char *blob_sha256 = NULL;
  int n_names = class_names ? (int) g_strv_length ((char **) class_names) : 0;

  if (!check_class_names (net, class_names, n_names, error))
    return NULL;
  if (prep && !check_preprocess (prep, net, error))
    return NULL;
  if ((backbone_name && !valid_class_name (backbone_name)) ||
      (backbone_sha256 && !valid_sha256 (backbone_sha256)))
    {
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID,
                   "Invalid backbone reference (a name, and a SHA-256 of 64 hex digits)");
      return NULL;
    }
  g_autofree char *sha_lower = backbone_sha256 ? g_ascii_strdown (backbone_sha256, -1) : NULL;
  backbone_sha256 = sha_lower;
  if (backbone_data != NULL)
    {
      if (!check_backbone_blob (net, backbone_name, backbone_sha256, backbone_data, &blob_sha256, error))
        return NULL;
      backbone_sha256 = blob_sha256;
    }

  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_key_file_set_string (kf, "model", "format", "bottega-model");
  write_net_spec (kf, net);
  write_preprocess (kf, net, prep);
  g_key_file_set_integer (kf, "classes", "count", n_names);
  for (int i = 0; i < n_names; i++)
    {
      char key[16];
      g_snprintf (key, sizeof key, "%d", i);
      g_key_file_set_string (kf, "classes", key, class_names[i]);
    }
  if (backbone_name)
    g_key_file_set_string (kf, "backbone", "name", backbone_name);
  if (backbone_sha256)
    g_key_file_set_string (kf, "backbone", "sha256", backbone_sha256);
  if (centroids != NULL && !check_centroids (centroids, net, error))
    return NULL;
  if ((calib != NULL && !write_calibration (kf, calib, centroids != NULL, error))
      || !write_inference (kf, tta, error)
      || !write_thresholds (kf, thresholds, n_names, error)
      || (metadata != NULL && !write_metadata (kf, metadata, error)))
    return NULL;

  g_autoptr (GArray) tensors = g_array_new (FALSE, TRUE, sizeof (OutTensor));
  g_array_set_clear_func (tensors, out_tensor_clear);
  net_tensors (net, tensors);
  if (backbone_data != NULL)
    add_out_bytes (tensors, BACKBONE_TENSOR, backbone_data);
  if (!add_backbone_ops (tensors, backbone_weights, backbone_data != NULL, error))
    return NULL;
  if (centroids != NULL)
    add_centroids (kf, tensors, centroids);
  return container_build (MODEL_MAGIC, kf, tensors);
}

GBytes *
bt_model_save_to_bytes (BtNet *net, const char * const *class_names, const BtPreprocess *prep,
                        const char *backbone_name, const char *backbone_sha256,
                        GHashTable *metadata, GError **error)
{
  return bt_model_save_to_bytes_full (net, class_names, prep, backbone_name, backbone_sha256, NULL,
                                      metadata, error);
}

GBytes *
bt_model_save_to_bytes_full (BtNet *net, const char * const *class_names, const BtPreprocess *prep,
                             const char *backbone_name, const char *backbone_sha256,
                             GBytes *backbone_data, GHashTable *metadata, GError **error)
{
  g_return_val_if_fail (net != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  return model_build (net, class_names, prep, backbone_name, backbone_sha256, backbone_data, NULL, NULL,
                      BT_TTA_NONE, NULL, NULL, metadata, error);
}

gboolean
bt_model_save (const char *path, BtNet *net, const char * const *class_names,
               const BtPreprocess *prep, const char *backbone_name,
               const char *backbone_sha256, GHashTable *metadata, GError **error)
{
  return bt_model_save_full (path, net, class_names, prep, backbone_name, backbone_sha256, NULL,
                             metadata, error);
}

gboolean
bt_model_save_full (const char *path, BtNet *net, const char * const *class_names,
                    const BtPreprocess *prep, const char *backbone_name,
                    const char *backbone_sha256, GBytes *backbone_data, GHashTable *metadata,
                    GError **error)
{
  return bt_model_save_calibrated (path, net, class_names, prep, backbone_name, backbone_sha256,
                                   backbone_data, NULL, metadata, error);
}

static gboolean save_checked (const char *path, GBytes *bytes, GError **error);

gboolean
bt_model_save_calibrated (const char *path, BtNet *net, const char * const *class_names,
                          const BtPreprocess *prep, const char *backbone_name,
                          const char *backbone_sha256, GBytes *backbone_data,
                          const BtCalibration *calib, GHashTable *metadata, GError **error)
{
  return bt_model_save_finetuned (path, net, class_names, prep, backbone_name, backbone_sha256,
                                  backbone_data, NULL, calib, metadata, error);
}

GBytes *
bt_model_save_to_bytes_finetuned (BtNet *net, const char * const *class_names, const BtPreprocess *prep,
                                  const char *backbone_name, const char *backbone_sha256,
                                  GBytes *backbone_data, const GArray *backbone_weights,
                                  const BtCalibration *calib, GHashTable *metadata, GError **error)
{
  g_return_val_if_fail (net != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  return model_build (net, class_names, prep, backbone_name, backbone_sha256, backbone_data,
                      backbone_weights, calib, BT_TTA_NONE, NULL, NULL, metadata, error);
}

gboolean
bt_model_save_finetuned (const char *path, BtNet *net, const char * const *class_names,
                         const BtPreprocess *prep, const char *backbone_name,
                         const char *backbone_sha256, GBytes *backbone_data,
                         const GArray *backbone_weights, const BtCalibration *calib,
                         GHashTable *metadata, GError **error)
{
  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (net != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  g_autoptr (GBytes) bytes = model_build (net, class_names, prep, backbone_name, backbone_sha256,
                                          backbone_data, backbone_weights, calib, BT_TTA_NONE, NULL, NULL, metadata, error);
  return bytes != NULL && save_checked (path, bytes, error);
}

GBytes *
bt_model_to_bytes (const BtModel *m, GError **error)
{
  g_return_val_if_fail (m != NULL && m->net != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  return model_build (m->net, (const char * const *) m->class_names, &m->prep, m->backbone_name,
                      m->backbone_sha256, m->backbone_data, m->backbone_weights, &m->calib, m->tta,
                      m->class_thresholds, m->centroids, m->metadata, error);
}

gboolean
bt_model_save_model (const char *path, const BtModel *m, GError **error)
{
  g_return_val_if_fail (path != NULL, FALSE);
  g_autoptr (GBytes) bytes = bt_model_to_bytes (m, error);
  return bytes != NULL && save_checked (path, bytes, error);
}

static gboolean
save_checked (const char *path, GBytes *bytes, GError **error)
{
  /* a new file never replaces a good one unless it reads back */
  g_autoptr (GError) verr = NULL;
  g_autoptr (BtModel) check = bt_model_load_bytes (bytes, &verr);
  if (check == NULL)
    {
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID,
                   "The model could not be saved: %s", verr->message);
      return FALSE;
    }
  return write_atomic (path, bytes, error);
}

void
bt_backbone_weights_clear (gpointer weights)
{
  BtBackboneWeights *bw = weights;
  g_clear_pointer (&bw->w, g_free);
  g_clear_pointer (&bw->b, g_free);
}

/* "backbone.op.<k>.weight" / ".bias" → k and which (0 weight, 1 bias); FALSE for other names. */
static gboolean
parse_backbone_op (const char *name, int *op, int *which)
{
  const char *p = name + strlen (BACKBONE_OP_PREFIX);
  char *end = NULL;
  guint64 k;
  if (!g_str_has_prefix (name, BACKBONE_OP_PREFIX) || !g_ascii_isdigit (*p))
    return FALSE;
  k = g_ascii_strtoull (p, &end, 10);
  if (k > MAX_BACKBONE_OP || (end - p > 1 && *p == '0'))
    return FALSE;
  *op = (int) k;
  *which = g_strcmp0 (end, ".weight") == 0 ? 0 : g_strcmp0 (end, ".bias") == 0 ? 1 : -1;
  return *which >= 0;
}

/* Format 3: fine-tuned backbone operators, each a rank-4 weight and its bias, in a whole-network
 * transfer model. Whether they fit the backbone is checked when it is loaded. */
static gboolean
read_backbone_weights (const Container *c, BtModel *m, GError **error)
{
  gboolean any = FALSE;
  for (guint i = 0; i < c->tensors->len; i++)
    {
      const Tensor *t = &g_array_index (c->tensors, Tensor, i);
      int op, which;
      if (!g_str_has_prefix (t->name, BACKBONE_OP_PREFIX))
        continue;
      any = TRUE;
      if (c->version < FORMAT_VERSION_3 || m->backbone_data == NULL || !parse_backbone_op (t->name, &op, &which))
        return corrupt (error, "the fine-tuned backbone operator “%s” is invalid", t->name);
      if (which != 0)
        continue;
      char bias_name[64];
      g_snprintf (bias_name, sizeof bias_name, BACKBONE_OP_PREFIX "%d.bias", op);
      const Tensor *bt = find_tensor (c, bias_name);
      if (t->rank != 4 || bt == NULL || bt->rank != 1 || bt->dims[0] != t->dims[0])
        return corrupt (error, "the fine-tuned backbone operator %d has a missing or misshapen tensor", op);
      BtBackboneWeights bw = { op, { (int) t->dims[0], (int) t->dims[1], (int) t->dims[2], (int) t->dims[3] },
                               g_try_new (float, t->count), g_try_new (float, bt->count) };
      if (m->backbone_weights == NULL)
        {
          m->backbone_weights = g_array_new (FALSE, TRUE, sizeof (BtBackboneWeights));
          g_array_set_clear_func (m->backbone_weights, bt_backbone_weights_clear);
        }
      g_array_append_val (m->backbone_weights, bw);
      if (bw.w == NULL || bw.b == NULL)
        return corrupt (error, "not enough memory for the fine-tuned backbone");
      if (!read_tensor (c, t->name, bw.w, t->dims, 4, error) || !read_tensor (c, bias_name, bw.b, bt->dims, 1, error))
        return FALSE;
    }
  for (guint i = 0; any && i < c->tensors->len; i++)
    {
      /* every bias has its weight, and no operator twice */
      const Tensor *t = &g_array_index (c->tensors, Tensor, i);
      int op, which, seen = 0;
      if (!parse_backbone_op (t->name, &op, &which))
        continue;
      /* a file of biases only has no weights at all */
      for (guint j = 0; m->backbone_weights != NULL && j < m->backbone_weights->len; j++)
        seen += g_array_index (m->backbone_weights, BtBackboneWeights, j).op == op;
      if (seen != 1)
        return corrupt (error, "the fine-tuned backbone operator %d is missing a tensor or repeated", op);
    }
  if (c->version >= FORMAT_VERSION_3 && !any)
    return corrupt (error, "a version 3 file without fine-tuned backbone operators");
  return TRUE;
}

BtModel *
bt_model_load_bytes (GBytes *bytes, GError **error)
{
  g_return_val_if_fail (bytes != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  gsize len;
  const guint8 *buf = g_bytes_get_data (bytes, &len);
  Container c;
  if (!container_parse (&c, buf, len, MODEL_MAGIC, error))
    return NULL;
  g_autoptr (BtModel) m = g_new0 (BtModel, 1);
  m->metadata = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  m->net = net_from_container (&c, c.data_len, error);
  if (m->net == NULL)
    {
      container_clear (&c);
      return NULL;
    }
  gboolean ok = TRUE;
  int n = get_int (c.kf, "classes", "count", &ok);
  if (!ok || n != m->net->n_classes)
    {
      container_clear (&c);
      corrupt (error, "the class list does not match the network");
      return NULL;
    }
  m->class_names = g_new0 (char *, n + 1);
  for (int i = 0; i < n; i++)
    {
      char key[16];
      g_snprintf (key, sizeof key, "%d", i);
      m->class_names[i] = g_key_file_get_string (c.kf, "classes", key, NULL);
      gboolean dup = FALSE;
      for (int j = 0; m->class_names[i] && j < i; j++)
        dup |= strcmp (m->class_names[i], m->class_names[j]) == 0;
      if (!valid_class_name (m->class_names[i]) || dup)
        {
          container_clear (&c);
          corrupt (error, "class name %d is missing, invalid or repeated", i + 1);
          return NULL;
        }
    }
  BtPreprocess *p = &m->prep;
  p->width = get_int (c.kf, "preprocess", "width", &ok);
  p->height = get_int (c.kf, "preprocess", "height", &ok);
  p->channels = get_int (c.kf, "preprocess", "channels", &ok);
  p->scale = get_float (c.kf, "preprocess", "scale", &ok);
  for (int ch = 0; ch < 3; ch++)
    {
      char key[16];
      g_snprintf (key, sizeof key, "mean%d", ch);
      p->mean[ch] = get_float (c.kf, "preprocess", key, &ok);
      g_snprintf (key, sizeof key, "std%d", ch);
      p->std[ch] = get_float (c.kf, "preprocess", key, &ok);
    }
  g_autofree char *resize = g_key_file_get_string (c.kf, "preprocess", "resize", NULL);
  /* absent in models from before it was recorded: those were composited over white too */
  gboolean other_background = g_key_file_has_key (c.kf, "preprocess", "alpha-background", NULL) &&
                              g_key_file_get_integer (c.kf, "preprocess", "alpha-background", NULL) !=
                              BT_MODEL_ALPHA_BACKGROUND;
  if (!ok || other_background || !bt_resize_mode_from_string (resize, &p->resize) ||
      !check_preprocess (p, m->net, NULL))
    {
      container_clear (&c);
      corrupt (error, "the preprocessing recipe is missing or does not match the network");
      return NULL;
    }
  m->backbone_name = g_key_file_get_string (c.kf, "backbone", "name", NULL);
  m->backbone_sha256 = g_key_file_get_string (c.kf, "backbone", "sha256", NULL);
  /* refused here as the saver refuses it, and in the saver's case, so whatever loads saves
   * again to the same text */
  if ((m->backbone_name != NULL && !valid_class_name (m->backbone_name)) ||
      (m->backbone_sha256 != NULL && !valid_sha256 (m->backbone_sha256)))
    {
      container_clear (&c);
      corrupt (error, "the backbone reference is invalid");
      return NULL;
    }
  if (m->backbone_sha256 != NULL)
    {
      char *lower = g_ascii_strdown (m->backbone_sha256, -1);
      g_free (m->backbone_sha256);
      m->backbone_sha256 = lower;
    }
  const Tensor *blob = find_tensor (&c, BACKBONE_TENSOR);
  if (blob != NULL)
    {
      /* a self-contained transfer model: the backbone file itself, checked against its SHA-256 */
      g_autofree char *sum = NULL;
      if (!blob->is_bytes || blob->count == 0 || blob->count > MAX_BLOB_BYTES ||
          bt_net_preset (m->net) != BT_PRESET_TRANSFER || !valid_class_name (m->backbone_name) ||
          m->backbone_sha256 == NULL)
        {
          container_clear (&c);
          corrupt (error, "the embedded backbone is invalid");
          return NULL;
        }
      sum = g_compute_checksum_for_data (G_CHECKSUM_SHA256, blob->data, blob->count);
      if (g_ascii_strcasecmp (sum, m->backbone_sha256) != 0)
        {
          container_clear (&c);
          corrupt (error, "the embedded backbone does not match its SHA-256");
          return NULL;
        }
      m->backbone_data = g_bytes_new_from_bytes (bytes, (gsize) (blob->data - buf), blob->count);
    }
  if (!read_backbone_weights (&c, m, error))
    {
      container_clear (&c);
      return NULL;
    }
  if (!read_centroids (&c, m, error))
    {
      container_clear (&c);
      return NULL;
    }
  if (!read_calibration (c.kf, &m->calib, m->centroids != NULL))
    {
      container_clear (&c);
      corrupt (error, "the calibration (temperature or unknown threshold) is not a sensible number");
      return NULL;
    }
  if (!read_inference (c.kf, &m->tta))
    {
      container_clear (&c);
      corrupt (error, "the test-time augmentation is not a valid name");
      return NULL;
    }
  if (!read_thresholds (c.kf, m, error))
    {
      container_clear (&c);
      return NULL;
    }
  g_auto (GStrv) keys = g_key_file_get_keys (c.kf, "metadata", NULL, NULL);
  for (int i = 0; keys && keys[i]; i++)
    {
      char *v = g_key_file_get_string (c.kf, "metadata", keys[i], NULL);
      /* informational only: an entry the saver would refuse is dropped, so that what loads can
       * always be saved again (found by fuzz-model) */
      if (v != NULL && valid_key (keys[i]) && g_utf8_validate (v, -1, NULL) && strlen (v) <= 4096)
        g_hash_table_replace (m->metadata, g_strdup (keys[i]), v);
      else
        g_free (v);
    }
  container_clear (&c);
  return g_steal_pointer (&m);
}

static GBytes *
read_file_capped (const char *path, GError **error)
{
  return bt_engine_read_file (path, MAX_FILE_SIZE, error);
}

BtModel *
bt_model_load (const char *path, GError **error)
{
  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  g_autoptr (GBytes) bytes = read_file_capped (path, error);
  if (bytes == NULL)
    return NULL;
  g_autoptr (GError) lerr = NULL;
  BtModel *m = bt_model_load_bytes (bytes, &lerr);
  if (m == NULL)
    {
      g_autofree char *base = g_path_get_basename (path);
      g_set_error (error, lerr->domain, lerr->code, "%s: %s", base, lerr->message);
    }
  return m;
}

void
bt_model_free (BtModel *model)
{
  if (model == NULL)
    return;
  bt_net_free (model->net);
  g_strfreev (model->class_names);
  g_free (model->backbone_name);
  g_free (model->backbone_sha256);
  g_clear_pointer (&model->backbone_data, g_bytes_unref);
  g_clear_pointer (&model->backbone_weights, g_array_unref);
  g_clear_pointer (&model->metadata, g_hash_table_unref);
  g_free (model->class_thresholds);
  bt_centroids_free (model->centroids);
  g_free (model);
}

/* ---- Training state ---- */

static void
set_rng (GKeyFile *kf, const char *key, const BtRng *rng)
{
  g_autofree char *s = g_strdup_printf ("%016" G_GINT64_MODIFIER "x%016" G_GINT64_MODIFIER "x%016"
                                        G_GINT64_MODIFIER "x%016" G_GINT64_MODIFIER "x",
                                        rng->s[0], rng->s[1], rng->s[2], rng->s[3]);
  g_key_file_set_string (kf, "state", key, s);
}

static gboolean
get_rng (GKeyFile *kf, const char *key, BtRng *rng)
{
  g_autofree char *s = g_key_file_get_string (kf, "state", key, NULL);
  if (s == NULL || strlen (s) != 64)
    return FALSE;
  for (int i = 0; i < 4; i++)
    {
      char part[17];
      memcpy (part, s + 16 * i, 16);
      part[16] = '\0';
      char *end;
      for (int k = 0; k < 16; k++)
        if (!g_ascii_isxdigit (part[k]))
          return FALSE;
      rng->s[i] = g_ascii_strtoull (part, &end, 16);
    }
  return rng->s[0] | rng->s[1] | rng->s[2] | rng->s[3];
}

gboolean
bt_train_state_save (const char *path, BtNet *net, BtOptimizer *opt,
                     const BtTrainState *state, GError **error)
{
  g_return_val_if_fail (path != NULL && net != NULL && opt != NULL && state != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  g_return_val_if_fail (!bt_optimizer_is_swapped (opt), FALSE);
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  write_net_spec (kf, net);
  const BtOptimizerConfig *cfg = bt_optimizer_get_config (opt);
  char d[G_ASCII_DTOSTR_BUF_SIZE];
  g_key_file_set_string (kf, "state", "optimizer", bt_optimizer_kind_to_id (cfg->kind));
  g_key_file_set_integer (kf, "state", "epoch", state->epoch);
  g_key_file_set_string (kf, "state", "best-score", g_ascii_dtostr (d, sizeof d, state->best_score));
  g_key_file_set_integer (kf, "state", "best-epoch", state->best_epoch);
  g_key_file_set_int64 (kf, "state", "optimizer-step", bt_optimizer_get_t (opt));
  set_rng (kf, "rng", &state->rng);
  set_rng (kf, "net-rng", &net->rng);
  if (state->extra)
    {
      g_autoptr (GList) keys = g_hash_table_get_keys (state->extra);
      keys = g_list_sort (keys, (GCompareFunc) strcmp);
      for (GList *k = keys; k; k = k->next)
        {
          const char *v = g_hash_table_lookup (state->extra, k->data);
          if (!valid_key (k->data) || v == NULL || !g_utf8_validate (v, -1, NULL))
            {
              g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID,
                           "Invalid training-state entry “%s”", (const char *) k->data);
              return FALSE;
            }
          g_key_file_set_string (kf, "extra", k->data, v);
        }
    }
  g_autoptr (GArray) tensors = g_array_new (FALSE, TRUE, sizeof (OutTensor));
  g_array_set_clear_func (tensors, out_tensor_clear);
  net_tensors (net, tensors);
  gsize n_state;
  float *moments = bt_optimizer_state (opt, &n_state);
  if (n_state)
    add_out (tensors, "optimizer.moments", moments, 1, (guint32) n_state, 0, 0, 0);
  gsize n_avg;
  float *average = bt_optimizer_average (opt, &n_avg);
  if (average != NULL && n_avg)
    add_out (tensors, "optimizer.average", average, 1, (guint32) n_avg, 0, 0, 0);
  g_autoptr (GBytes) bytes = container_build (STATE_MAGIC, kf, tensors);
  return write_atomic (path, bytes, error);
}

gboolean
bt_train_state_load (const char *path, BtNet *net, BtOptimizer *opt,
                     BtTrainState *state, GError **error)
{
  g_return_val_if_fail (path != NULL && net != NULL && opt != NULL && state != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  g_return_val_if_fail (!bt_optimizer_is_swapped (opt), FALSE);
  g_autoptr (GBytes) bytes = read_file_capped (path, error);
  if (bytes == NULL)
    return FALSE;
  gsize len;
  const guint8 *buf = g_bytes_get_data (bytes, &len);
  Container c;
  if (!container_parse (&c, buf, len, STATE_MAGIC, error))
    return FALSE;
  /* parse everything into a fresh net first, so a bad file leaves the caller's net intact */
  g_autoptr (BtNet) tmp = net_from_container (&c, c.data_len, error);
  gboolean ok = tmp != NULL;
  if (ok && (tmp->preset != net->preset || tmp->n_params != net->n_params ||
             tmp->n_buffers != net->n_buffers || tmp->n_classes != net->n_classes ||
             tmp->in_c != net->in_c || tmp->in_h != net->in_h || tmp->in_w != net->in_w))
    {
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID,
                   "The saved training state belongs to a different network");
      ok = FALSE;
    }
  g_autofree char *kind = ok ? g_key_file_get_string (c.kf, "state", "optimizer", NULL) : NULL;
  if (ok && g_strcmp0 (kind, bt_optimizer_kind_to_id (bt_optimizer_get_config (opt)->kind)) != 0)
    {
      g_set_error (error, BT_ENGINE_ERROR, BT_ENGINE_ERROR_INVALID,
                   "The saved training state used a different optimizer");
      ok = FALSE;
    }
  gsize n_state;
  float *moments = bt_optimizer_state (opt, &n_state);
  g_autofree float *mtmp = g_new (float, MAX (n_state, 1));
  guint32 dims[1] = { (guint32) n_state };
  if (ok && n_state)
    ok = read_tensor (&c, "optimizer.moments", mtmp, dims, 1, error);
  /* the weights' moving average; a state saved without one restarts it from the weights */
  gsize n_avg;
  float *average = bt_optimizer_average (opt, &n_avg);
  g_autofree float *atmp = NULL;
  if (ok && average != NULL && find_tensor (&c, "optimizer.average") != NULL)
    {
      guint32 adims[1] = { (guint32) n_avg };
      atmp = g_new (float, MAX (n_avg, 1));
      ok = read_tensor (&c, "optimizer.average", atmp, adims, 1, error);
    }
  BtTrainState st = { 0 };
  BtRng net_rng;
  gboolean fields = TRUE;
  if (ok)
    {
      st.epoch = get_int (c.kf, "state", "epoch", &fields);
      st.best_epoch = get_int (c.kf, "state", "best-epoch", &fields);
      g_autofree char *bs = g_key_file_get_string (c.kf, "state", "best-score", NULL);
      st.best_score = bs ? g_ascii_strtod (bs, NULL) : 0.0;
      g_autoptr (GError) e = NULL;
      st.opt_t = g_key_file_get_int64 (c.kf, "state", "optimizer-step", &e);
      if (e || st.opt_t < 0 || st.epoch < 0 || bs == NULL ||
          !get_rng (c.kf, "rng", &st.rng) || !get_rng (c.kf, "net-rng", &net_rng))
        fields = FALSE;
      if (!fields)
        ok = corrupt (error, "the [state] section is incomplete");
    }
  if (ok)
    {
      memcpy (net->params, tmp->params, net->n_params * sizeof (float));
      bt_net_params_changed (net);
      memcpy (net->buffers, tmp->buffers, net->n_buffers * sizeof (float));
      memcpy (moments, mtmp, n_state * sizeof (float));
      if (average != NULL)
        memcpy (average, atmp != NULL ? atmp : net->params, n_avg * sizeof (float));
      net->rng = net_rng;
      bt_optimizer_set_t (opt, st.opt_t);
      st.extra = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
      g_auto (GStrv) keys = g_key_file_get_keys (c.kf, "extra", NULL, NULL);
      for (int i = 0; keys && keys[i]; i++)
        {
          char *v = g_key_file_get_string (c.kf, "extra", keys[i], NULL);
          if (v)
            g_hash_table_replace (st.extra, g_strdup (keys[i]), v);
        }
      if (state->extra)
        g_hash_table_unref (state->extra);
      *state = st;
    }
  container_clear (&c);
  return ok;
}
