/* bt-protobuf.c: the protocol-buffers wire-format writer of bt-protobuf.h.
 * Wire types: 0 varint, 2 length-delimited, 5 fixed32. */
#include "engine/bt-protobuf.h"

#include <string.h>

enum { WIRE_VARINT = 0, WIRE_LEN = 2, WIRE_FIXED32 = 5 };

void
bt_pb_put_varint_raw (GByteArray *buf, guint64 v)
{
  guint8 tmp[10];
  guint n = 0;
  g_return_if_fail (buf != NULL);
  while (v >= 0x80)
    {
      tmp[n++] = (guint8) (v | 0x80);
      v >>= 7;
    }
  tmp[n++] = (guint8) v;
  g_byte_array_append (buf, tmp, n);
}

static void
put_tag (GByteArray *buf, guint32 field, guint wire)
{
  g_assert (field >= 1 && field < (1u << 29));
  bt_pb_put_varint_raw (buf, ((guint64) field << 3) | wire);
}

void
bt_pb_put_varint (GByteArray *buf, guint32 field, guint64 v)
{
  g_return_if_fail (buf != NULL);
  put_tag (buf, field, WIRE_VARINT);
  bt_pb_put_varint_raw (buf, v);
}

void
bt_pb_put_sint64 (GByteArray *buf, guint32 field, gint64 v)
{
  /* protobuf int64: negative values are sign-extended to 64 bits (10-byte varint) */
  bt_pb_put_varint (buf, field, (guint64) v);
}

static void
put_le32 (GByteArray *buf, float v)
{
  guint32 u;
  memcpy (&u, &v, 4);
  u = GUINT32_TO_LE (u);
  g_byte_array_append (buf, (const guint8 *) &u, 4);
}

void
bt_pb_put_float (GByteArray *buf, guint32 field, float v)
{
  g_return_if_fail (buf != NULL);
  put_tag (buf, field, WIRE_FIXED32);
  put_le32 (buf, v);
}

void
bt_pb_put_bytes (GByteArray *buf, guint32 field, const void *data, gsize len)
{
  g_return_if_fail (buf != NULL);
  g_return_if_fail (data != NULL || len == 0);
  g_return_if_fail (len <= G_MAXUINT);   /* GByteArray's limit; ONNX files stop at 2 GiB anyway */
  put_tag (buf, field, WIRE_LEN);
  bt_pb_put_varint_raw (buf, len);
  if (len > 0)
    g_byte_array_append (buf, data, (guint) len);
}

void
bt_pb_put_string (GByteArray *buf, guint32 field, const char *s)
{
  g_return_if_fail (s != NULL);
  bt_pb_put_bytes (buf, field, s, strlen (s));
}

void
bt_pb_put_message (GByteArray *buf, guint32 field, const GByteArray *msg)
{
  g_return_if_fail (msg != NULL);
  bt_pb_put_bytes (buf, field, msg->data, msg->len);
}

void
bt_pb_put_packed_floats (GByteArray *buf, guint32 field, const float *v, gsize n)
{
  g_return_if_fail (buf != NULL);
  g_return_if_fail (v != NULL || n == 0);
  put_tag (buf, field, WIRE_LEN);
  bt_pb_put_varint_raw (buf, (guint64) n * 4);
  for (gsize i = 0; i < n; i++)
    put_le32 (buf, v[i]);
}

void
bt_pb_put_raw_floats (GByteArray *buf, guint32 field, const float *v, gsize n)
{
  g_return_if_fail (buf != NULL);
  g_return_if_fail (v != NULL || n == 0);
#if G_BYTE_ORDER == G_LITTLE_ENDIAN
  bt_pb_put_bytes (buf, field, v, n * sizeof (float));
#else
  put_tag (buf, field, WIRE_LEN);
  bt_pb_put_varint_raw (buf, (guint64) n * 4);
  for (gsize i = 0; i < n; i++)
    put_le32 (buf, v[i]);
#endif
}

void
bt_pb_put_packed_int64s (GByteArray *buf, guint32 field, const gint64 *v, gsize n)
{
  g_return_if_fail (buf != NULL);
  g_return_if_fail (v != NULL || n == 0);
  g_autoptr(GByteArray) body = g_byte_array_new ();
  for (gsize i = 0; i < n; i++)
    bt_pb_put_varint_raw (body, (guint64) v[i]);
  bt_pb_put_message (buf, field, body);
}
