/* bt-doctor-cache.c: the doctor's disposable cache of what does not depend on labels (see
 * bt-doctor-private.h): one record per image file, named by the file's identity as it is now,
 * and the near-duplicate pairs of one exact set of such files. No GTK. */
#include "config.h"

#include <string.h>
#include <sys/stat.h>

#include <glib/gstdio.h>

#include "doctor/bt-doctor-cache.h"

#define RECORD_MAGIC "BTDOCR1"   /* 8 bytes with the NUL */
#define PAIRS_MAGIC  "BTDOCP1"
#define HEAD         16          /* magic, payload length (LE u32), 4 spare bytes */
#define SUM          32          /* the SHA-256 of everything before it */
#define PAIR_BYTES   16          /* a, b (LE u32), distance (LE IEEE double) */

struct _BtDoctorCache {
  char *root;   /* <project>/cache/doctor: the pairs */
  char *dir;    /* root/<recipe>: the records */
};

BtDoctorCache *
bt_doctor_cache_new (const char *root, const char *recipe)
{
  g_return_val_if_fail (root != NULL && recipe != NULL, NULL);
  BtDoctorCache *c = g_new0 (BtDoctorCache, 1);
  c->root = g_strdup (root);
  c->dir = g_build_filename (root, recipe, NULL);
  return c;
}

void
bt_doctor_cache_free (BtDoctorCache *c)
{
  if (c == NULL)
    return;
  g_free (c->root);
  g_free (c->dir);
  g_free (c);
}

/* The identity of the file as it is now: its path, the project's content hash, and what stat
 * says (device, inode, size, modification and change times to the nanosecond). A file
 * rewritten in place gets a new change time even when its size and modification time are set
 * back; a file replaced by a rename gets a new inode. */
gboolean
bt_doctor_cache_file_key (const char *path, guint64 content_hash, guint8 key[BT_DOCTOR_KEY_LEN])
{
  struct stat st;
  if (path == NULL || g_stat (path, &st) != 0 || !S_ISREG (st.st_mode))
    return FALSE;
  guint64 id[9] = {
    content_hash, (guint64) st.st_dev, (guint64) st.st_ino, (guint64) st.st_size,
    (guint64) st.st_mtim.tv_sec, (guint64) st.st_mtim.tv_nsec,
    (guint64) st.st_ctim.tv_sec, (guint64) st.st_ctim.tv_nsec, BT_DOCTOR_CACHE_VERSION,
  };
  g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  for (int k = 0; k < 9; k++)
    {
      guint64 le = GUINT64_TO_LE (id[k]);
      g_checksum_update (sum, (const guchar *) &le, sizeof le);
    }
  g_checksum_update (sum, (const guchar *) path, (gssize) strlen (path) + 1);
  gsize len = BT_DOCTOR_KEY_LEN;
  g_checksum_get_digest (sum, key, &len);
  return TRUE;
}

/* magic + length + payload + its SHA-256, as one buffer */
static guint8 *
seal (const char *magic, const void *payload, gsize len, gsize *total)
{
  *total = HEAD + len + SUM;
  guint8 *buf = g_malloc0 (*total);
  memcpy (buf, magic, 8);
  guint32 le = GUINT32_TO_LE ((guint32) len);
  memcpy (buf + 8, &le, 4);
  memcpy (buf + HEAD, payload, len);
  gsize sum_len = SUM;
  g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  g_checksum_update (sum, buf, (gssize) (HEAD + len));
  g_checksum_get_digest (sum, buf + HEAD + len, &sum_len);
  return buf;
}

/* The payload of a sealed file (borrowed from data), when it is exactly that: its magic, a
 * length that fits the file and a matching SHA-256 (a cut or altered file is no record). */
static const guint8 *
unseal (const char *magic, const guint8 *data, gsize total, gsize *len)
{
  guint32 le;
  if (total < HEAD + SUM || memcmp (data, magic, 8) != 0)
    return NULL;
  memcpy (&le, data + 8, 4);
  *len = GUINT32_FROM_LE (le);
  if (*len != total - HEAD - SUM)
    return NULL;
  guint8 digest[SUM];
  gsize sum_len = SUM;
  g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  g_checksum_update (sum, data, (gssize) (HEAD + *len));
  g_checksum_get_digest (sum, digest, &sum_len);
  return memcmp (digest, data + HEAD + *len, SUM) == 0 ? data + HEAD : NULL;
}

/* The cache is disposable: files are replaced atomically (temp + rename) but not fsynced, and
 * a failure to write only costs time next run. */
static void
write_sealed (const char *dir, const char *file, const char *magic, const void *payload, gsize len)
{
  gsize total;
  g_autofree guint8 *buf = seal (magic, payload, len, &total);
  if (g_mkdir_with_parents (dir, 0755) == 0)
    g_file_set_contents (file, (const char *) buf, (gssize) total, NULL);
}

static char *
record_file (BtDoctorCache *c, const guint8 key[BT_DOCTOR_KEY_LEN])
{
  char hex[2 * BT_DOCTOR_KEY_LEN + 5];
  for (int k = 0; k < BT_DOCTOR_KEY_LEN; k++)
    g_snprintf (hex + 2 * k, 3, "%02x", key[k]);
  memcpy (hex + 2 * BT_DOCTOR_KEY_LEN, ".rec", 5);
  return g_build_filename (c->dir, hex, NULL);
}

gboolean
bt_doctor_cache_read (BtDoctorCache *c, const guint8 key[BT_DOCTOR_KEY_LEN], void *record, gsize len)
{
  g_autofree char *file = record_file (c, key);
  g_autofree char *data = NULL;
  gsize total = 0, got = 0;
  if (!g_file_get_contents (file, &data, &total, NULL))
    return FALSE;
  const guint8 *payload = unseal (RECORD_MAGIC, (const guint8 *) data, total, &got);
  if (payload == NULL || got != len)
    return FALSE;
  memcpy (record, payload, len);
  return TRUE;
}

void
bt_doctor_cache_write (BtDoctorCache *c, const guint8 key[BT_DOCTOR_KEY_LEN], const void *record, gsize len)
{
  g_autofree char *file = record_file (c, key);
  write_sealed (c->dir, file, RECORD_MAGIC, record, len);
}

/* pairs.bin: the set's key, then the pairs */
gboolean
bt_doctor_cache_read_pairs (BtDoctorCache *c, const guint8 set_key[BT_DOCTOR_KEY_LEN], guint n, double max_distance,
                            GArray *pairs)
{
  g_autofree char *file = g_build_filename (c->root, "pairs.bin", NULL);
  g_autofree char *data = NULL;
  gsize total = 0, len = 0;
  if (!g_file_get_contents (file, &data, &total, NULL))
    return FALSE;
  const guint8 *p = unseal (PAIRS_MAGIC, (const guint8 *) data, total, &len);
  if (p == NULL || len < BT_DOCTOR_KEY_LEN || (len - BT_DOCTOR_KEY_LEN) % PAIR_BYTES != 0 ||
      memcmp (p, set_key, BT_DOCTOR_KEY_LEN) != 0)
    return FALSE;
  gsize count = (len - BT_DOCTOR_KEY_LEN) / PAIR_BYTES;
  g_autoptr (GArray) out = g_array_sized_new (FALSE, FALSE, sizeof (BtDoctorDuplicate), (guint) count);
  for (gsize k = 0; k < count; k++)
    {
      const guint8 *e = p + BT_DOCTOR_KEY_LEN + k * PAIR_BYTES;
      guint32 a, b;
      guint64 bits;
      memcpy (&a, e, 4);
      memcpy (&b, e + 4, 4);
      memcpy (&bits, e + 8, 8);
      bits = GUINT64_FROM_LE (bits);
      BtDoctorDuplicate d = { GUINT32_FROM_LE (a), GUINT32_FROM_LE (b), 0 };
      memcpy (&d.distance, &bits, 8);
      /* NaN fails both comparisons */
      if (d.a >= n || d.b >= n || d.a == d.b || !(d.distance >= 0 && d.distance <= max_distance))
        return FALSE;
      g_array_append_val (out, d);
    }
  g_array_append_vals (pairs, out->data, out->len);
  return TRUE;
}

void
bt_doctor_cache_write_pairs (BtDoctorCache *c, const guint8 set_key[BT_DOCTOR_KEY_LEN], GArray *pairs)
{
  gsize len = BT_DOCTOR_KEY_LEN + (gsize) pairs->len * PAIR_BYTES;
  g_autofree guint8 *payload = g_malloc (len);
  memcpy (payload, set_key, BT_DOCTOR_KEY_LEN);
  for (guint k = 0; k < pairs->len; k++)
    {
      const BtDoctorDuplicate *d = &g_array_index (pairs, BtDoctorDuplicate, k);
      guint8 *e = payload + BT_DOCTOR_KEY_LEN + (gsize) k * PAIR_BYTES;
      guint32 a = GUINT32_TO_LE (d->a), b = GUINT32_TO_LE (d->b);
      guint64 bits;
      memcpy (&bits, &d->distance, 8);
      bits = GUINT64_TO_LE (bits);
      memcpy (e, &a, 4);
      memcpy (e + 4, &b, 4);
      memcpy (e + 8, &bits, 8);
    }
  g_autofree char *file = g_build_filename (c->root, "pairs.bin", NULL);
  write_sealed (c->root, file, PAIRS_MAGIC, payload, len);
}
