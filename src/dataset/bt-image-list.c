/* bt-image-list.c: walking a folder for image files (natural order, no link loops) and the
 * prediction CSV's layout, shared by the Test page and `bottega-cli predict`. */
#include "config.h"

#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "dataset/bt-image-list.h"

gboolean
bt_image_list_looks_like_image (const char *name)
{
  static const char * const ext[] = { ".png", ".jpg", ".jpeg", ".jpe", ".bmp", ".gif", ".tga", ".webp",
                                      ".heic", ".heif", ".tif", ".tiff", ".avif" };
  g_autofree char *lower = NULL;

  g_return_val_if_fail (name != NULL, FALSE);
  lower = g_ascii_strdown (name, -1);
  for (guint i = 0; i < G_N_ELEMENTS (ext); i++)
    if (g_str_has_suffix (lower, ext[i]))
      return TRUE;
  return FALSE;
}

int
bt_image_list_natural_compare (const char *a, const char *b)
{
  g_autofree char *ka = g_utf8_collate_key_for_filename (a ? a : "", -1);
  g_autofree char *kb = g_utf8_collate_key_for_filename (b ? b : "", -1);
  int c = strcmp (ka, kb);

  return c != 0 ? c : g_strcmp0 (a, b);
}

static int
cmp_natural (gconstpointer a, gconstpointer b)
{
  return bt_image_list_natural_compare (*(char * const *) a, *(char * const *) b);
}

static void
walk (const char *dir_path, int depth, guint max, GPtrArray *out, GCancellable *cancellable)
{
  g_autoptr(GDir) dir = g_dir_open (dir_path, 0, NULL);
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  if (dir == NULL || depth > 16)
    return;
  while ((name = g_dir_read_name (dir)) != NULL)
    if (name[0] != '.')
      g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, cmp_natural);
  for (guint i = 0; i < names->len && (max == 0 || out->len < max); i++)
    {
      g_autofree char *path = g_build_filename (dir_path, names->pdata[i], NULL);
      GStatBuf st;

      if (g_cancellable_is_cancelled (cancellable))
        return;
      /* lstat: a symbolic link to a folder is not followed, so a link loop cannot hang the walk */
      if (g_lstat (path, &st) != 0)
        continue;
      if (S_ISDIR (st.st_mode))
        walk (path, depth + 1, max, out, cancellable);
      else if ((S_ISREG (st.st_mode) || (S_ISLNK (st.st_mode) && g_file_test (path, G_FILE_TEST_IS_REGULAR)))
               && bt_image_list_looks_like_image (names->pdata[i]))
        g_ptr_array_add (out, g_steal_pointer (&path));
    }
}

GPtrArray *
bt_image_list_walk (const char *folder, guint max, GCancellable *cancellable, GError **error)
{
  GPtrArray *out;

  g_return_val_if_fail (folder != NULL, NULL);

  if (!g_file_test (folder, G_FILE_TEST_IS_DIR))
    {
      g_autofree char *display = g_filename_display_name (folder);
      g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_IO, _("“%s” is not a folder"), display);
      return NULL;
    }
  out = g_ptr_array_new_with_free_func (g_free);
  walk (folder, 0, max, out, cancellable);
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    {
      g_ptr_array_unref (out);
      return NULL;
    }
  return out;
}

void
bt_predictions_csv_header (GString *out, const char * const *class_names)
{
  g_return_if_fail (out != NULL);

  g_string_append (out, "path,top_class,confidence");
  for (guint k = 0; class_names && class_names[k]; k++)
    {
      g_string_append_c (out, ',');
      bt_csv_append_value (out, class_names[k]);
    }
  g_string_append (out, "\r\n");
}

void
bt_predictions_csv_row (GString *out, const char *path_utf8, const float *probs, guint n_classes,
                        const char * const *class_names)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE];
  guint top = 0;

  g_return_if_fail (out != NULL && path_utf8 != NULL);

  bt_csv_append_value (out, path_utf8);
  g_string_append_c (out, ',');
  if (probs != NULL && class_names != NULL && n_classes > 0)
    {
      for (guint k = 1; k < n_classes; k++)
        if (probs[k] > probs[top])
          top = k;
      bt_csv_append_value (out, class_names[top]);
      g_string_append_printf (out, ",%s", g_ascii_formatd (buf, sizeof buf, "%.6f", probs[top]));
      for (guint k = 0; k < n_classes; k++)
        g_string_append_printf (out, ",%s", g_ascii_formatd (buf, sizeof buf, "%.6f", probs[k]));
    }
  else
    g_string_append_c (out, ',');
  g_string_append (out, "\r\n");
}
