/* bt-protobuf.h: a minimal protocol-buffers wire-format writer (varints, fixed32,
 * length-delimited fields, packed repeated scalars), enough to write ONNX models. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* A message under construction is a GByteArray; a nested message is written into its own
 * array and appended with bt_pb_put_message. Field numbers must be ≥ 1. */
void bt_pb_put_varint_raw   (GByteArray *buf, guint64 v);
void bt_pb_put_varint       (GByteArray *buf, guint32 field, guint64 v);   /* int32/int64/enum/bool */
void bt_pb_put_sint64       (GByteArray *buf, guint32 field, gint64 v);    /* plain int64 (two's complement) */
void bt_pb_put_float        (GByteArray *buf, guint32 field, float v);     /* wire type 5 */
void bt_pb_put_bytes        (GByteArray *buf, guint32 field, const void *data, gsize len);
void bt_pb_put_string       (GByteArray *buf, guint32 field, const char *s);
void bt_pb_put_message      (GByteArray *buf, guint32 field, const GByteArray *msg);
/* Packed repeated fields: one length-delimited field holding the values. */
void bt_pb_put_packed_floats (GByteArray *buf, guint32 field, const float *v, gsize n);
void bt_pb_put_packed_int64s (GByteArray *buf, guint32 field, const gint64 *v, gsize n);
/* float32 values as little-endian bytes (TensorProto.raw_data), whatever the host order. */
void bt_pb_put_raw_floats   (GByteArray *buf, guint32 field, const float *v, gsize n);

G_END_DECLS
