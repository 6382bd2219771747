/* tflite-builder.h: a tiny TFLite flatbuffer writer for tests and the fuzzer's seed corpus:
 * builds one-subgraph models tensor by tensor and operator by operator. */
#pragma once

#include <glib.h>
#include <string.h>

typedef struct FbNode FbNode;
struct FbNode {
  enum { FB_TABLE, FB_VEC, FB_VEC_TABLES } kind;
  struct { int field, size; guint64 v; FbNode *child; } f[16];
  int n_f;
  GByteArray *data;      /* FB_VEC: elements */
  gsize elem_size, count;
  GPtrArray *children;   /* FB_VEC_TABLES */
};

static inline FbNode *
fbn_table (void)
{
  FbNode *n = g_new0 (FbNode, 1);
  n->kind = FB_TABLE;
  return n;
}

static inline void
fbn_scalar (FbNode *t, int field, int size, guint64 v)
{
  g_assert (t->n_f < 16);
  t->f[t->n_f].field = field;
  t->f[t->n_f].size = size;
  t->f[t->n_f].v = v;
  t->f[t->n_f].child = NULL;
  t->n_f++;
}

static inline void
fbn_child (FbNode *t, int field, FbNode *child)
{
  g_assert (t->n_f < 16);
  t->f[t->n_f].field = field;
  t->f[t->n_f].size = 4;
  t->f[t->n_f].child = child;
  t->n_f++;
}

static inline FbNode *
fbn_vec (const void *data, gsize elem_size, gsize count)
{
  FbNode *n = g_new0 (FbNode, 1);
  n->kind = FB_VEC;
  n->data = g_byte_array_new ();
  g_byte_array_append (n->data, data, elem_size * count);
  n->elem_size = elem_size;
  n->count = count;
  return n;
}

static inline FbNode *
fbn_string (const char *s)
{
  FbNode *n = fbn_vec (s, 1, strlen (s) + 1);
  n->count = strlen (s);
  return n;
}

static inline FbNode *
fbn_vec_tables (void)
{
  FbNode *n = g_new0 (FbNode, 1);
  n->kind = FB_VEC_TABLES;
  n->children = g_ptr_array_new ();
  return n;
}

static inline void
fbn_free (FbNode *n)
{
  if (n == NULL)
    return;
  for (int i = 0; i < n->n_f; i++)
    fbn_free (n->f[i].child);
  if (n->data)
    g_byte_array_unref (n->data);
  if (n->children)
    {
      for (guint i = 0; i < n->children->len; i++)
        fbn_free (n->children->pdata[i]);
      g_ptr_array_unref (n->children);
    }
  g_free (n);
}

static inline void
fbb_align (GByteArray *b, gsize a)
{
  static const guint8 zero[8] = { 0 };
  while (b->len % a)
    g_byte_array_append (b, zero, 1);
}

static inline void
fbb_put (GByteArray *b, gsize pos, guint32 v)
{
  v = GUINT32_TO_LE (v);
  memcpy (b->data + pos, &v, 4);
}

static inline void
fbb_u32 (GByteArray *b, guint32 v)
{
  v = GUINT32_TO_LE (v);
  g_byte_array_append (b, (const guint8 *) &v, 4);
}

/* Children always come after their parent, so every uoffset is positive. */
static inline gsize
fbn_write (GByteArray *b, FbNode *n)
{
  gsize pos;
  if (n->kind == FB_VEC)
    {
      fbb_align (b, 4);
      if (n->elem_size == 8 && (b->len + 4) % 8)
        fbb_u32 (b, 0);
      pos = b->len;
      fbb_u32 (b, (guint32) n->count);
      g_byte_array_append (b, n->data->data, n->data->len);
      return pos;
    }
  if (n->kind == FB_VEC_TABLES)
    {
      gsize slots;
      fbb_align (b, 4);
      pos = b->len;
      fbb_u32 (b, n->children->len);
      slots = b->len;
      for (guint i = 0; i < n->children->len; i++)
        fbb_u32 (b, 0);
      for (guint i = 0; i < n->children->len; i++)
        {
          gsize c = fbn_write (b, n->children->pdata[i]);
          fbb_put (b, slots + 4 * i, (guint32) (c - (slots + 4 * i)));
        }
      return pos;
    }

  /* Table: vtable, then the table (soffset + inline fields), then children. */
  {
    int max_field = -1;
    guint16 offs[32] = { 0 };
    gsize field_pos[16];
    guint16 tsize = 4;
    gsize vt, t;
    for (int i = 0; i < n->n_f; i++)
      {
        max_field = MAX (max_field, n->f[i].field);
        offs[n->f[i].field] = tsize;
        tsize += n->f[i].size;
      }
    fbb_align (b, 4);
    vt = b->len;
    {
      guint16 h[2] = { GUINT16_TO_LE (4 + 2 * (max_field + 1)), GUINT16_TO_LE (tsize) };
      g_byte_array_append (b, (const guint8 *) h, 4);
      for (int i = 0; i <= max_field; i++)
        {
          guint16 o = GUINT16_TO_LE (offs[i]);
          g_byte_array_append (b, (const guint8 *) &o, 2);
        }
    }
    fbb_align (b, 4);
    t = b->len;
    fbb_u32 (b, (guint32) (gint32) (t - vt));
    for (int i = 0; i < n->n_f; i++)
      {
        guint64 v = GUINT64_TO_LE (n->f[i].v);
        field_pos[i] = b->len;
        g_byte_array_append (b, (const guint8 *) &v, n->f[i].size);
      }
    for (int i = 0; i < n->n_f; i++)
      if (n->f[i].child != NULL)
        {
          gsize c = fbn_write (b, n->f[i].child);
          fbb_put (b, field_pos[i], (guint32) (c - field_pos[i]));
        }
    return t;
  }
}

static inline GBytes *
fbn_finish (FbNode *root)
{
  GByteArray *b = g_byte_array_new ();
  gsize r;
  fbb_u32 (b, 0);
  g_byte_array_append (b, (const guint8 *) "TFL3", 4);
  r = fbn_write (b, root);
  fbb_put (b, 0, (guint32) r);
  fbn_free (root);
  return g_byte_array_free_to_bytes (b);
}

/* ---- Model builder on top ---- */

typedef struct {
  FbNode *tensors, *buffers, *ops, *codes;
  int     code_of[256];   /* builtin code → operator-code index + 1 */
  int     n_codes, n_tensors;
} TflBuilder;

static inline void
tflb_init (TflBuilder *mb)
{
  memset (mb, 0, sizeof *mb);
  mb->tensors = fbn_vec_tables ();
  mb->buffers = fbn_vec_tables ();
  mb->ops = fbn_vec_tables ();
  mb->codes = fbn_vec_tables ();
  g_ptr_array_add (mb->buffers->children, fbn_table ());   /* buffer 0: empty */
}

/* scales/zps: n_q entries (0 = no quantization); data: raw little-endian bytes or NULL. */
static inline int
tflb_tensor (TflBuilder *mb, int type, int rank, const int *shape, const void *data, gsize data_len,
             int n_q, const float *scales, const gint64 *zps, int qdim)
{
  FbNode *t = fbn_table ();
  char name[32];
  fbn_child (t, 0, fbn_vec (shape, 4, rank));
  fbn_scalar (t, 1, 1, (guint64) type);
  if (data != NULL)
    {
      FbNode *buf = fbn_table ();
      fbn_child (buf, 0, fbn_vec (data, 1, data_len));
      fbn_scalar (t, 2, 4, mb->buffers->children->len);
      g_ptr_array_add (mb->buffers->children, buf);
    }
  g_snprintf (name, sizeof name, "t%d", mb->n_tensors);
  fbn_child (t, 3, fbn_string (name));
  if (n_q > 0)
    {
      FbNode *q = fbn_table ();
      fbn_child (q, 2, fbn_vec (scales, 4, n_q));
      fbn_child (q, 3, fbn_vec (zps, 8, n_q));
      fbn_scalar (q, 6, 4, (guint64) qdim);
      fbn_child (t, 4, q);
    }
  g_ptr_array_add (mb->tensors->children, t);
  return mb->n_tensors++;
}

static inline int
tflb_float (TflBuilder *mb, int rank, const int *shape, const float *data)
{
  gsize n = 1;
  for (int i = 0; i < rank; i++)
    n *= shape[i];
  return tflb_tensor (mb, 0, rank, shape, data, data ? n * 4 : 0, 0, NULL, NULL, 0);
}

static inline int
tflb_int32 (TflBuilder *mb, int rank, const int *shape, const gint32 *data)
{
  gsize n = 1;
  for (int i = 0; i < rank; i++)
    n *= shape[i];
  return tflb_tensor (mb, 2, rank, shape, data, n * 4, 0, NULL, NULL, 0);
}

static inline void
tflb_op (TflBuilder *mb, int code, const char *custom, int n_in, const int *ins, int out,
         int opt_type, FbNode *options)
{
  FbNode *op = fbn_table ();
  int idx;
  if (code >= 256 || mb->code_of[code] == 0 || custom != NULL)
    {
      FbNode *c = fbn_table ();
      fbn_scalar (c, 0, 1, (guint64) MIN (code, 127));
      if (custom != NULL)
        fbn_child (c, 1, fbn_string (custom));
      fbn_scalar (c, 3, 4, (guint64) code);
      g_ptr_array_add (mb->codes->children, c);
      if (code < 256 && custom == NULL)
        mb->code_of[code] = mb->n_codes + 1;
      idx = mb->n_codes++;
    }
  else
    idx = mb->code_of[code] - 1;
  fbn_scalar (op, 0, 4, (guint64) idx);
  fbn_child (op, 1, fbn_vec (ins, 4, n_in));
  fbn_child (op, 2, fbn_vec (&out, 4, 1));
  if (options != NULL)
    {
      fbn_scalar (op, 3, 1, (guint64) opt_type);
      fbn_child (op, 4, options);
    }
  g_ptr_array_add (mb->ops->children, op);
}

static inline GBytes *
tflb_finish (TflBuilder *mb, int input, int output)
{
  FbNode *model = fbn_table (), *sg = fbn_table (), *sgs = fbn_vec_tables ();
  fbn_child (sg, 0, mb->tensors);
  fbn_child (sg, 1, fbn_vec (&input, 4, 1));
  fbn_child (sg, 2, fbn_vec (&output, 4, 1));
  fbn_child (sg, 3, mb->ops);
  g_ptr_array_add (sgs->children, sg);
  fbn_scalar (model, 0, 4, 3);
  fbn_child (model, 1, mb->codes);
  fbn_child (model, 2, sgs);
  fbn_child (model, 4, mb->buffers);
  return fbn_finish (model);
}

/* ---- Builtin options (padding: 0 SAME, 1 VALID; act: 0 none, 1 ReLU, 3 ReLU6) ---- */

static inline FbNode *
tflb_conv_options (int padding, int sw, int sh, int act)
{
  FbNode *o = fbn_table ();
  fbn_scalar (o, 0, 1, padding);
  fbn_scalar (o, 1, 4, sw);
  fbn_scalar (o, 2, 4, sh);
  fbn_scalar (o, 3, 1, act);
  return o;
}

static inline FbNode *
tflb_dw_options (int padding, int sw, int sh, int mult, int act)
{
  FbNode *o = fbn_table ();
  fbn_scalar (o, 0, 1, padding);
  fbn_scalar (o, 1, 4, sw);
  fbn_scalar (o, 2, 4, sh);
  fbn_scalar (o, 3, 4, mult);
  fbn_scalar (o, 4, 1, act);
  return o;
}

static inline FbNode *
tflb_pool_options (int padding, int sw, int sh, int fw, int fh, int act)
{
  FbNode *o = fbn_table ();
  fbn_scalar (o, 0, 1, padding);
  fbn_scalar (o, 1, 4, sw);
  fbn_scalar (o, 2, 4, sh);
  fbn_scalar (o, 3, 4, fw);
  fbn_scalar (o, 4, 4, fh);
  fbn_scalar (o, 5, 1, act);
  return o;
}

static inline FbNode *
tflb_act_options (int act)
{
  FbNode *o = fbn_table ();
  fbn_scalar (o, 0, 1, act);
  return o;
}
