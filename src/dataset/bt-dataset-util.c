/* bt-dataset-util.c: content hashing, RFC 4180 CSV, atomic durable writes and the stable
 * hash split. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>

#include "dataset/bt-dataset-private.h"

guint64
bt_mix64 (guint64 z)
{
  z = (z ^ (z >> 30)) * G_GUINT64_CONSTANT (0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * G_GUINT64_CONSTANT (0x94d049bb133111eb);
  return z ^ (z >> 31);
}

/* Four independent multiply-rotate lanes over 32-byte blocks, then a strong finaliser. */
guint64
bt_hash_bytes (const guint8 *data, gsize len)
{
  const guint64 k1 = G_GUINT64_CONSTANT (0x9e3779b185ebca87);
  const guint64 k2 = G_GUINT64_CONSTANT (0xc2b2ae3d27d4eb4f);
  guint64 h[4] = { k1 + k2, k2, 0, G_GUINT64_CONSTANT (0x61c8864680b583eb) };
  gsize i = 0;
  for (; i + 32 <= len; i += 32)
    for (int l = 0; l < 4; l++)
      {
        guint64 w;
        memcpy (&w, data + i + 8 * l, 8);
        w = GUINT64_FROM_LE (w);
        h[l] += w * k2;
        h[l] = (h[l] << 31) | (h[l] >> 33);
        h[l] *= k1;
      }
  guint64 acc = (guint64) len * k1;
  for (int l = 0; l < 4; l++)
    acc = bt_mix64 (acc ^ h[l]) + k2;
  for (; i + 8 <= len; i += 8)
    {
      guint64 w;
      memcpy (&w, data + i, 8);
      acc = bt_mix64 (acc ^ (GUINT64_FROM_LE (w) * k1)) * k2;
    }
  guint64 tail = 0;
  for (gsize j = 0; i < len; i++, j++)
    tail |= (guint64) data[i] << (8 * j);
  acc = bt_mix64 (acc ^ (tail * k2) ^ ((guint64) len << 56));
  return acc == 0 ? 1 : acc;
}

/* ---- Splits ---- */

const char *
bt_split_to_string (BtSplit split)
{
  switch (split)
    {
    case BT_SPLIT_VAL:  return "val";
    case BT_SPLIT_TEST: return "test";
    case BT_SPLIT_TRAIN:
    default:            return "train";
    }
}

gboolean
bt_split_from_string (const char *s, BtSplit *out)
{
  g_return_val_if_fail (out != NULL, FALSE);
  if (s == NULL)
    return FALSE;
  if (g_ascii_strcasecmp (s, "train") == 0 || g_ascii_strcasecmp (s, "training") == 0)
    *out = BT_SPLIT_TRAIN;
  else if (g_ascii_strcasecmp (s, "val") == 0 || g_ascii_strcasecmp (s, "valid") == 0 ||
           g_ascii_strcasecmp (s, "validation") == 0)
    *out = BT_SPLIT_VAL;
  else if (g_ascii_strcasecmp (s, "test") == 0)
    *out = BT_SPLIT_TEST;
  else
    return FALSE;
  return TRUE;
}

/* Position of a hash in [0, 1): the same hash lands at the same place forever. */
double
bt_split_position (guint64 hash)
{
  return (double) (bt_mix64 (hash ^ G_GUINT64_CONSTANT (0x5bd1e9955bd1e995)) >> 11) *
         (1.0 / 9007199254740992.0);
}

BtSplit
bt_split_for_hash (guint64 hash, int pct_train, int pct_val, int pct_test)
{
  int total = MAX (pct_train, 0) + MAX (pct_val, 0) + MAX (pct_test, 0);
  if (total <= 0)
    return BT_SPLIT_TRAIN;
  double u = bt_split_position (hash) * total;
  if (u < MAX (pct_train, 0))
    return BT_SPLIT_TRAIN;
  if (u < MAX (pct_train, 0) + MAX (pct_val, 0))
    return BT_SPLIT_VAL;
  return BT_SPLIT_TEST;
}

/* ---- CSV (RFC 4180; also accepts bare LF line ends and a UTF-8 BOM) ---- */

static void
row_free (gpointer p)
{
  g_strfreev (p);
}

GPtrArray *
bt_csv_parse (const char *data, gsize len, GError **error)
{
  g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func (row_free);
  g_autoptr(GPtrArray) row = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GString) field = g_string_new (NULL);
  gsize i = 0;
  guint line = 1;
  gboolean field_started = FALSE;

  if (len >= 3 && memcmp (data, "\xef\xbb\xbf", 3) == 0)
    i = 3;
  while (i < len)
    {
      char ch = data[i];
      if (ch == '\0')
        {
          g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_CORRUPT,
                       _("Line %u contains a NUL byte"), line);
          return NULL;
        }
      if (ch == '"' && field->len == 0 && !field_started)
        {
          guint start_line = line;
          i++;
          for (;;)
            {
              if (i >= len)
                {
                  g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_CORRUPT,
                               _("A quoted field starting on line %u never ends"), start_line);
                  return NULL;
                }
              if (data[i] == '\0')
                {
                  g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_CORRUPT,
                               _("Line %u contains a NUL byte"), line);
                  return NULL;
                }
              if (data[i] == '"')
                {
                  if (i + 1 < len && data[i + 1] == '"')
                    {
                      g_string_append_c (field, '"');
                      i += 2;
                      continue;
                    }
                  i++;
                  break;
                }
              if (data[i] == '\n')
                line++;
              g_string_append_c (field, data[i]);
              i++;
            }
          field_started = TRUE;
          continue;
        }
      if (ch == ',')
        {
          g_ptr_array_add (row, g_strndup (field->str, field->len));
          g_string_truncate (field, 0);
          field_started = FALSE;
          i++;
          continue;
        }
      if (ch == '\r' || ch == '\n')
        {
          g_ptr_array_add (row, g_strndup (field->str, field->len));
          g_string_truncate (field, 0);
          field_started = FALSE;
          /* Skip blank lines (a row of one empty field). */
          if (!(row->len == 1 && ((char *) row->pdata[0])[0] == '\0'))
            {
              g_ptr_array_add (row, NULL);
              g_ptr_array_add (rows, g_ptr_array_steal (row, NULL));
            }
          else
            g_ptr_array_set_size (row, 0);
          if (ch == '\r' && i + 1 < len && data[i + 1] == '\n')
            i++;
          i++;
          line++;
          continue;
        }
      g_string_append_c (field, ch);
      field_started = TRUE;
      i++;
    }
  if (field->len > 0 || field_started || row->len > 0)
    {
      g_ptr_array_add (row, g_strndup (field->str, field->len));
      g_ptr_array_add (row, NULL);
      g_ptr_array_add (rows, g_ptr_array_steal (row, NULL));
    }
  return g_steal_pointer (&rows);
}

void
bt_csv_append_value (GString *out, const char *field)
{
  gboolean quote = field[0] == ' ' || (field[0] != '\0' && field[strlen (field) - 1] == ' ') ||
                   strpbrk (field, ",\"\r\n") != NULL;
  if (quote)
    {
      g_string_append_c (out, '"');
      for (const char *p = field; *p; p++)
        {
          if (*p == '"')
            g_string_append_c (out, '"');
          g_string_append_c (out, *p);
        }
      g_string_append_c (out, '"');
    }
  else
    g_string_append (out, field);
}

void
bt_csv_append_field (GString *out, const char *field, gboolean last)
{
  bt_csv_append_value (out, field);
  g_string_append (out, last ? "\r\n" : ",");
}

/* ---- Atomic, durable writes ---- */

gssize bt_atomic_write_fail_after = -1;

gboolean
bt_write_file_temp (const char *path, const void *data, gsize len, char **tmp_out, GError **error)
{
  g_return_val_if_fail (path != NULL && tmp_out != NULL, FALSE);
  g_return_val_if_fail (data != NULL || len == 0, FALSE);

  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *base = g_path_get_basename (path);
  g_autofree char *display = g_filename_display_name (path);
  g_autofree char *tmp = g_strdup_printf ("%s/.%s.XXXXXX", dir, base);
  int fd = g_mkstemp_full (tmp, O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0)
    {
      int e = errno;
      g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_IO,
                   _("Could not save “%s”: %s"), display, g_strerror (e));
      return FALSE;
    }
  const guint8 *p = data;
  gsize done = 0;
  int e = 0;
  while (done < len)
    {
      gsize chunk = MIN (len - done, (gsize) 1 << 20);
      if (bt_atomic_write_fail_after >= 0)
        {
          if (done >= (gsize) bt_atomic_write_fail_after)
            {
              e = ENOSPC;
              break;
            }
          chunk = MIN (chunk, (gsize) bt_atomic_write_fail_after - done);
        }
      ssize_t w = write (fd, p + done, chunk);
      if (w < 0)
        {
          if (errno == EINTR)
            continue;
          e = errno;
          break;
        }
      done += (gsize) w;
    }
  if (e == 0 && fsync (fd) != 0)
    e = errno;
  if (close (fd) != 0 && e == 0)
    e = errno;
  if (e != 0)
    {
      g_unlink (tmp);
      g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_IO,
                   _("Could not save “%s”: %s"), display, g_strerror (e));
      return FALSE;
    }
  *tmp_out = g_steal_pointer (&tmp);
  return TRUE;
}

gboolean
bt_write_file_commit (const char *tmp, const char *path, GError **error)
{
  g_return_val_if_fail (tmp != NULL && path != NULL, FALSE);
  if (rename (tmp, path) != 0)
    {
      int e = errno;
      g_autofree char *display = g_filename_display_name (path);
      g_unlink (tmp);
      g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_IO,
                   _("Could not save “%s”: %s"), display, g_strerror (e));
      return FALSE;
    }
  /* Make the rename itself durable. */
  g_autofree char *dir = g_path_get_dirname (path);
  int dfd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0)
    {
      fsync (dfd);
      close (dfd);
    }
  return TRUE;
}

gboolean
bt_write_file_atomic (const char *path, const void *data, gsize len, GError **error)
{
  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (data != NULL || len == 0, FALSE);
  g_autofree char *tmp = NULL;
  return bt_write_file_temp (path, data, len, &tmp, error) && bt_write_file_commit (tmp, path, error);
}
