/* bt-flatbuf.c: the FlatBuffers writer of bt-flatbuf.h. */
#include "engine/bt-flatbuf.h"

#include <string.h>

typedef enum { NODE_TABLE, NODE_VECTOR, NODE_REFS } NodeKind;

typedef struct {
  guint     id;
  guint     size;     /* bytes in the table: 1, 2, 4, 8; 4 for a reference */
  guint64   bits;
  BtFbNode *child;    /* non-NULL: an offset to this node */
} Field;

struct _BtFbNode {
  NodeKind   kind;
  GArray    *fields;  /* NODE_TABLE: Field */
  GPtrArray *refs;    /* NODE_REFS: BtFbNode * */
  GBytes    *data;    /* NODE_VECTOR: the elements (strings carry their NUL after n elements) */
  gsize      n;
  guint      align;
};

struct _BtFb {
  GPtrArray *nodes;   /* owns every node */
};

static void
node_free (gpointer p)
{
  BtFbNode *n = p;
  if (n->fields)
    g_array_unref (n->fields);
  if (n->refs)
    g_ptr_array_unref (n->refs);
  if (n->data)
    g_bytes_unref (n->data);
  g_free (n);
}

BtFb *
bt_fb_new (void)
{
  BtFb *fb = g_new0 (BtFb, 1);
  fb->nodes = g_ptr_array_new_with_free_func (node_free);
  return fb;
}

void
bt_fb_free (BtFb *fb)
{
  if (fb == NULL)
    return;
  g_ptr_array_unref (fb->nodes);
  g_free (fb);
}

static BtFbNode *
node_new (BtFb *fb, NodeKind kind)
{
  BtFbNode *n = g_new0 (BtFbNode, 1);
  n->kind = kind;
  g_ptr_array_add (fb->nodes, n);
  return n;
}

BtFbNode *
bt_fb_table (BtFb *fb)
{
  BtFbNode *n = node_new (fb, NODE_TABLE);
  n->fields = g_array_new (FALSE, FALSE, sizeof (Field));
  return n;
}

void
bt_fb_scalar (BtFbNode *table, guint id, guint size, guint64 bits)
{
  g_return_if_fail (table->kind == NODE_TABLE && (size == 1 || size == 2 || size == 4 || size == 8));
  Field f = { .id = id, .size = size, .bits = bits };
  g_array_append_val (table->fields, f);
}

void
bt_fb_float (BtFbNode *table, guint id, float v)
{
  guint32 bits;
  memcpy (&bits, &v, 4);
  bt_fb_scalar (table, id, 4, bits);
}

void
bt_fb_ref (BtFbNode *table, guint id, BtFbNode *child)
{
  g_return_if_fail (table->kind == NODE_TABLE && child != NULL);
  Field f = { .id = id, .size = 4, .child = child };
  g_array_append_val (table->fields, f);
}

BtFbNode *
bt_fb_vector (BtFb *fb, const void *data, gsize n, guint elem_size, guint align)
{
  BtFbNode *v = node_new (fb, NODE_VECTOR);
  v->data = g_bytes_new (data, n * elem_size);
  v->n = n;
  v->align = MAX (MAX (align, elem_size), 4);
  return v;
}

BtFbNode *
bt_fb_int_vector (BtFb *fb, const gint32 *v, gsize n)
{
  return bt_fb_vector (fb, v, n, 4, 4);
}

BtFbNode *
bt_fb_refs (BtFb *fb)
{
  BtFbNode *v = node_new (fb, NODE_REFS);
  v->refs = g_ptr_array_new ();
  return v;
}

void
bt_fb_push (BtFbNode *refs, BtFbNode *child)
{
  g_return_if_fail (refs->kind == NODE_REFS && child != NULL);
  g_ptr_array_add (refs->refs, child);
}

BtFbNode *
bt_fb_string (BtFb *fb, const char *s)
{
  gsize len = strlen (s);
  BtFbNode *v = node_new (fb, NODE_VECTOR);
  v->data = g_bytes_new (s, len + 1);   /* the NUL FlatBuffers puts after a string */
  v->n = len;
  v->align = 4;
  return v;
}

/* ---- Layout ---- */

static void
pad_to (GByteArray *out, gsize align)
{
  static const guint8 zeros[16];
  while (out->len % align != 0)
    g_byte_array_append (out, zeros, MIN (align - out->len % align, sizeof zeros));
}

static void
put_le (GByteArray *out, gsize pos, guint64 bits, guint size)
{
  for (guint i = 0; i < size; i++)
    out->data[pos + i] = (guint8) (bits >> (8 * i));
}

static void
append_le (GByteArray *out, guint64 bits, guint size)
{
  guint8 b[8];
  for (guint i = 0; i < size; i++)
    b[i] = (guint8) (bits >> (8 * i));
  g_byte_array_append (out, b, size);
}

static guint32 write_node (GByteArray *out, BtFbNode *n);

/* Writes child and points the 4-byte slot at `at` to it. */
static void
write_child (GByteArray *out, gsize at, BtFbNode *child)
{
  guint32 pos = write_node (out, child);
  put_le (out, at, pos - at, 4);
}

static int
by_size_desc (gconstpointer a, gconstpointer b)
{
  const Field *fa = a, *fb = b;
  if (fa->size != fb->size)
    return fa->size > fb->size ? -1 : 1;
  return fa->id < fb->id ? -1 : fa->id > fb->id;
}

static guint32
write_table (GByteArray *out, BtFbNode *t)
{
  g_array_sort (t->fields, by_size_desc);
  guint n_slots = 0, max_align = 4;
  for (guint i = 0; i < t->fields->len; i++)
    {
      Field *f = &g_array_index (t->fields, Field, i);
      n_slots = MAX (n_slots, f->id + 1);
      max_align = MAX (max_align, f->size);
    }
  /* inline layout: the vtable offset, then the fields, largest first (so each is aligned) */
  g_autofree guint16 *slot = g_new0 (guint16, MAX (n_slots, 1));
  g_autofree guint *offset = g_new0 (guint, MAX (t->fields->len, 1));
  gsize size = 4;
  for (guint i = 0; i < t->fields->len; i++)
    {
      Field *f = &g_array_index (t->fields, Field, i);
      size = (size + f->size - 1) / f->size * f->size;
      offset[i] = (guint) size;
      slot[f->id] = (guint16) size;
      size += f->size;
    }
  /* the vtable, then the table at its alignment */
  pad_to (out, 2);
  gsize vt = out->len;
  append_le (out, 4 + 2 * n_slots, 2);
  append_le (out, size, 2);
  for (guint i = 0; i < n_slots; i++)
    append_le (out, slot[i], 2);
  pad_to (out, max_align);
  gsize tpos = out->len;
  g_byte_array_set_size (out, tpos + size);
  memset (out->data + tpos, 0, size);
  put_le (out, tpos, (guint32) (gint32) (tpos - vt), 4);
  for (guint i = 0; i < t->fields->len; i++)
    {
      Field *f = &g_array_index (t->fields, Field, i);
      if (f->child == NULL)
        put_le (out, tpos + offset[i], f->bits, f->size);
    }
  for (guint i = 0; i < t->fields->len; i++)
    {
      Field *f = &g_array_index (t->fields, Field, i);
      if (f->child != NULL)
        write_child (out, tpos + offset[i], f->child);
    }
  return (guint32) tpos;
}

static guint32
write_node (GByteArray *out, BtFbNode *n)
{
  switch (n->kind)
    {
    case NODE_TABLE:
      return write_table (out, n);
    case NODE_VECTOR:
      {
        /* the length just before the elements, which start at the alignment asked */
        while ((out->len + 4) % n->align != 0)
          g_byte_array_append (out, (const guint8[]) { 0 }, 1);
        guint32 pos = out->len;
        append_le (out, n->n, 4);
        gsize len;
        const guint8 *d = g_bytes_get_data (n->data, &len);
        if (len > 0)
          g_byte_array_append (out, d, (guint) len);
        return pos;
      }
    case NODE_REFS:
    default:
      {
        pad_to (out, 4);
        guint32 pos = out->len;
        append_le (out, n->refs->len, 4);
        gsize first = out->len;
        g_byte_array_set_size (out, first + 4 * n->refs->len);
        for (guint i = 0; i < n->refs->len; i++)
          write_child (out, first + 4 * i, g_ptr_array_index (n->refs, i));
        return pos;
      }
    }
}

GBytes *
bt_fb_finish (BtFb *fb, BtFbNode *root, const char *identifier)
{
  g_return_val_if_fail (fb != NULL && root != NULL && root->kind == NODE_TABLE, NULL);
  GByteArray *out = g_byte_array_new ();
  g_byte_array_set_size (out, 8);
  memset (out->data, 0, 8);
  if (identifier != NULL)
    memcpy (out->data + 4, identifier, MIN (strlen (identifier), 4));
  write_child (out, 0, root);
  pad_to (out, 16);
  return g_byte_array_free_to_bytes (out);
}
