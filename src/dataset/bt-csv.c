/* bt-csv.c: RFC 4180 CSV reading and writing (also accepts bare LF line ends and a UTF-8
 * BOM), for labels.csv and imported label files. */
#include "config.h"

#include <string.h>
#include <glib/gi18n-lib.h>

#include "dataset/bt-dataset-private.h"

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
