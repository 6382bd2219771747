/* bt-flatbuf.h: a small FlatBuffers writer for the TensorFlow Lite export.
 *
 * The caller builds a tree of tables, vectors and strings in a BtFb (which owns every node), then
 * bt_fb_finish () lays it out front to back: each table's vtable just before it, each child after
 * its parent (FlatBuffers offsets point forward, so that is always valid), every scalar at its
 * natural alignment and byte vectors at the alignment asked for (TFLite asks 16 for buffers).
 * Nothing here knows TFLite's schema: field ids and sizes come from the caller. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _BtFb     BtFb;
typedef struct _BtFbNode BtFbNode;

BtFb     *bt_fb_new  (void);
void      bt_fb_free (BtFb *fb);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BtFb, bt_fb_free)

BtFbNode *bt_fb_table (BtFb *fb);
/* A scalar field of size 1, 2, 4 or 8 bytes (little-endian bits of the value). */
void      bt_fb_scalar (BtFbNode *table, guint id, guint size, guint64 bits);
void      bt_fb_float  (BtFbNode *table, guint id, float v);
/* A field holding an offset to a table, vector or string. */
void      bt_fb_ref    (BtFbNode *table, guint id, BtFbNode *child);

/* A vector of n scalars of elem_size bytes each (copied), its elements aligned to align. */
BtFbNode *bt_fb_vector (BtFb *fb, const void *data, gsize n, guint elem_size, guint align);
BtFbNode *bt_fb_int_vector (BtFb *fb, const gint32 *v, gsize n);
/* A vector of offsets; bt_fb_push appends a child. */
BtFbNode *bt_fb_refs   (BtFb *fb);
void      bt_fb_push   (BtFbNode *refs, BtFbNode *child);
BtFbNode *bt_fb_string (BtFb *fb, const char *s);

/* The finished buffer with root as its root table and a 4-character file identifier (or NULL). */
GBytes   *bt_fb_finish (BtFb *fb, BtFbNode *root, const char *identifier);

G_END_DECLS
