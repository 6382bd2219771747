/* bt-doctor-cache.h: the doctor's cache (bt-doctor-cache.c), private to src/doctor/. What an
 * image gives the doctor without its label (quality, near-duplicate copy and signature,
 * descriptor, the preset's pixels) is kept per file, keyed by the file's identity as it is now
 * (path, content hash, device, inode, size, modification and change times), so a relabel
 * never misses it and a changed or replaced file never hits it; the near-duplicate pairs are
 * kept for one exact set of such files. Labels are never cached. In <project>/cache/doctor/.
 * No GTK. */
#pragma once

#include <gio/gio.h>

#include "doctor/bt-doctor.h"

G_BEGIN_DECLS

/* Bump when what a record holds or how it is computed changes (its layout, a threshold). */
#define BT_DOCTOR_CACHE_VERSION 1
#define BT_DOCTOR_KEY_LEN       32   /* a SHA-256 */

typedef struct _BtDoctorCache BtDoctorCache;

/* root: <project>/cache/doctor; recipe: a folder name saying what records hold (their layout,
 * the feature and pixel kinds), so records of other settings are never read as these. */
BtDoctorCache *bt_doctor_cache_new   (const char *root, const char *recipe);
void           bt_doctor_cache_free  (BtDoctorCache *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BtDoctorCache, bt_doctor_cache_free)

/* FALSE when the file cannot be stat'ed (or is not a regular file). */
gboolean bt_doctor_cache_file_key   (const char *path, guint64 content_hash, guint8 key[BT_DOCTOR_KEY_LEN]);
/* A record of exactly len bytes, checksummed; FALSE when missing, cut, altered or of another
 * length (the caller still checks the values it reads). Any thread. */
gboolean bt_doctor_cache_read       (BtDoctorCache *c, const guint8 key[BT_DOCTOR_KEY_LEN], void *record, gsize len);
void     bt_doctor_cache_write      (BtDoctorCache *c, const guint8 key[BT_DOCTOR_KEY_LEN], const void *record,
                                     gsize len);
/* The pairs (BtDoctorDuplicate, appended to pairs) of the set whose key is set_key, when
 * pairs.bin holds that set and every pair is of two of the n items within max_distance. */
gboolean bt_doctor_cache_read_pairs  (BtDoctorCache *c, const guint8 set_key[BT_DOCTOR_KEY_LEN], guint n,
                                      double max_distance, GArray *pairs);
void     bt_doctor_cache_write_pairs (BtDoctorCache *c, const guint8 set_key[BT_DOCTOR_KEY_LEN], GArray *pairs);

G_END_DECLS
