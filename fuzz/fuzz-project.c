/* fuzz-project.c: libFuzzer target for opening a project: the input is project.ini, then
 * (after a line "==") labels.csv; no "==" line: the input is labels.csv beside a valid
 * project.ini. A project that opens is checked, changed and saved, and must open again. */
#include <stdint.h>
#include <string.h>

#include "dataset/bt-dataset.h"
#include "fuzz-files.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static const char valid_ini[] =
  "[project]\nformat-version=1\nname=fuzz\nclasses=cats;dogs;\n[input]\npreset=mlp\nwidth=8\nheight=8\n";

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const char *dir = fuzz_scratch_dir ();
  const uint8_t *rest;
  size_t rest_size;
  size_t head = fuzz_split (data, size, &rest, &rest_size);
  if (rest != NULL)
    {
      fuzz_write (dir, "project.ini", data, head);
      fuzz_write (dir, "labels.csv", rest, rest_size);
    }
  else
    {
      fuzz_write (dir, "project.ini", (const uint8_t *) valid_ini, strlen (valid_ini));
      fuzz_write (dir, "labels.csv", data, size);
    }
  GError *error = NULL;
  BtProject *p = bt_project_open (dir, &error);
  if (p == NULL)
    {
      g_assert (error != NULL);
      g_error_free (error);
      return 0;
    }
  g_assert (error == NULL);
  GListModel *classes = bt_project_get_classes (p);
  guint n_classes = g_list_model_get_n_items (classes);
  guint n_items = g_list_model_get_n_items (bt_project_get_items (p));
  (void) bt_project_check_trainable (p, NULL);
  for (int s = 0; s < BT_N_SPLITS; s++)
    {
      BtSplitView *v = bt_project_split_view (p, (BtSplit) s);
      if (v != NULL)
        bt_split_view_free (v);
    }
  /* what opened must save and open again, with the same classes and items */
  gboolean saved = bt_project_set_name (p, "fuzz again", NULL) && bt_project_flush (p, NULL);
  g_object_unref (p);
  if (saved)
    {
      p = bt_project_open (dir, &error);
      if (p == NULL)
        g_error ("a project Bottega saved does not open: %s", error->message);
      g_assert (g_list_model_get_n_items (bt_project_get_classes (p)) == n_classes);
      g_assert (g_list_model_get_n_items (bt_project_get_items (p)) == n_items);
      g_object_unref (p);
    }
  return 0;
}
