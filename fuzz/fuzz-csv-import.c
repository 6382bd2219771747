/* fuzz-csv-import.c: libFuzzer target for importing a labels CSV (path,class[,split]) into a
 * fresh project. Two small images lie beside the CSV (a.png, sub/b.bmp) so that rows can name
 * files that exist. The project after the import must save and open again. */
#include <stdint.h>
#include <string.h>

#include "dataset/bt-dataset.h"
#include "fuzz-files.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* 2×1 RGB images, written once */
static const uint8_t png_2x1[] = {
  0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
  0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0x08, 0x02, 0x00, 0x00, 0x00, 0x7b, 0x40, 0xe8,
  0xdd, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0x00, 0x04,
  0xff, 0x01, 0x07, 0x00, 0x01, 0xff, 0xe2, 0x23, 0x9e, 0x59, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
  0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
};
static const uint8_t bmp_1x1[] = {
  'B', 'M', 58, 0, 0, 0, 0, 0, 0, 0, 54, 0, 0, 0, 40, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 24, 0,
  0, 0, 0, 0, 4, 0, 0, 0, 0x13, 0x0b, 0, 0, 0x13, 0x0b, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10, 200, 30, 0,
};

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static char *csv_dir, *project_dir;
  if (csv_dir == NULL)
    {
      csv_dir = g_build_filename (fuzz_scratch_dir (), "images", NULL);
      g_autofree char *sub = g_build_filename (csv_dir, "sub", NULL);
      g_mkdir_with_parents (sub, 0755);
      fuzz_write (csv_dir, "a.png", png_2x1, sizeof png_2x1);
      fuzz_write (sub, "b.bmp", bmp_1x1, sizeof bmp_1x1);
      project_dir = g_build_filename (fuzz_scratch_dir (), "project", NULL);
    }
  fuzz_write (csv_dir, "labels-in.csv", data, size);
  /* a fresh project each time (the import adds to whatever is there) */
  g_autofree char *ini = g_build_filename (project_dir, "project.ini", NULL);
  g_autofree char *labels = g_build_filename (project_dir, "labels.csv", NULL);
  g_unlink (ini);
  g_unlink (labels);
  GError *error = NULL;
  BtProject *p = bt_project_create (project_dir, "fuzz", &error);
  if (p == NULL)
    g_error ("%s", error->message);
  g_autofree char *csv = g_build_filename (csv_dir, "labels-in.csv", NULL);
  gboolean ok = bt_project_import_csv (p, csv, &error);
  g_assert (ok == (error == NULL));
  g_clear_error (&error);
  guint n_classes = g_list_model_get_n_items (bt_project_get_classes (p));
  guint n_items = g_list_model_get_n_items (bt_project_get_items (p));
  g_assert (n_items <= 2);
  if (!bt_project_flush (p, &error))
    g_error ("an imported project does not save: %s", error->message);
  g_object_unref (p);
  p = bt_project_open (project_dir, &error);
  if (p == NULL)
    g_error ("an imported project does not open: %s", error->message);
  g_assert (g_list_model_get_n_items (bt_project_get_classes (p)) == n_classes);
  g_assert (g_list_model_get_n_items (bt_project_get_items (p)) == n_items);
  g_object_unref (p);
  return 0;
}
