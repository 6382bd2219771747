/* bt-image-list.c: the image files under a folder (the import's walk, plan-only) and the
 * prediction CSV's layout, shared by the Test page and `bottega-cli predict`. */
#include "config.h"

#include <math.h>

#include <glib/gi18n-lib.h>
#include <string.h>

#include "dataset/bt-image-list.h"

int
bt_image_list_natural_compare (const char *a, const char *b)
{
  g_autofree char *ka = g_utf8_collate_key_for_filename (a ? a : "", -1);
  g_autofree char *kb = g_utf8_collate_key_for_filename (b ? b : "", -1);
  int c = strcmp (ka, kb);

  return c != 0 ? c : g_strcmp0 (a, b);
}

GPtrArray *
bt_image_list_walk (const char *folder, guint max, GCancellable *cancellable, GError **error)
{
  const char *roots[] = { folder, NULL };
  g_autoptr(BtScanResult) plan = NULL;
  GPtrArray *out;

  g_return_val_if_fail (folder != NULL, NULL);

  if (!g_file_test (folder, G_FILE_TEST_IS_DIR))
    {
      g_autofree char *display = g_filename_display_name (folder);
      g_set_error (error, BT_DATASET_ERROR, BT_DATASET_ERROR_IO, _("“%s” is not a folder"), display);
      return NULL;
    }
  /* the import's own walk, without reading the files: same order, same rules */
  plan = bt_scan_plan (roots, BT_SCAN_FOLDER_AS_CLASS, NULL, TRUE, max, cancellable, error);
  if (plan == NULL)
    return NULL;
  out = g_ptr_array_new_full (plan->paths->len, g_free);
  for (guint i = 0; i < plan->paths->len; i++)
    g_ptr_array_add (out, g_steal_pointer (&plan->paths->pdata[i]));
  return out;
}

void
bt_predictions_csv_header (GString *out, const char * const *class_names)
{
  g_return_if_fail (out != NULL);

  g_string_append (out, "path,top_class,confidence,unknown,unknown_score,below_threshold");
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
  bt_predictions_csv_row_scored (out, path_utf8, probs, n_classes, class_names, NAN, FALSE, FALSE);
}

void
bt_predictions_csv_row_scored (GString *out, const char *path_utf8, const float *probs, guint n_classes,
                               const char * const *class_names, double unknown_score, gboolean unknown,
                               gboolean below_threshold)
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
      if (isnan (unknown_score))
        g_string_append (out, ",,");
      else
        g_string_append_printf (out, ",%s,%s", unknown ? "yes" : "no",
                                g_ascii_formatd (buf, sizeof buf, "%.6f", unknown_score));
      g_string_append (out, below_threshold ? ",yes" : ",no");
      for (guint k = 0; k < n_classes; k++)
        g_string_append_printf (out, ",%s", g_ascii_formatd (buf, sizeof buf, "%.6f", probs[k]));
    }
  else
    g_string_append_c (out, ',');
  g_string_append (out, "\r\n");
}
