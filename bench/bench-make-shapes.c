/* bench-make-shapes: writes the Shapes sample project into DIR (for shapes-learnable.py). */
#include <stdio.h>
#include <stdlib.h>

#include "dataset/bt-dataset.h"

int
main (int argc, char **argv)
{
  if (argc < 2)
    {
      fprintf (stderr, "usage: %s DIR [N_PER_CLASS] [SIZE] [SEED]\n", argv[0]);
      return 2;
    }
  guint n = argc > 2 ? (guint) atoi (argv[2]) : 250;
  int size = argc > 3 ? atoi (argv[3]) : 64;
  guint64 seed = argc > 4 ? g_ascii_strtoull (argv[4], NULL, 10) : 1;
  g_autoptr(GError) error = NULL;
  g_autoptr(BtProject) p = bt_sample_create_shapes (argv[1], n, size, seed, NULL, &error);
  if (p == NULL)
    {
      fprintf (stderr, "%s\n", error->message);
      return 1;
    }
  printf ("%u images in %s\n", g_list_model_get_n_items (bt_project_get_items (p)), bt_project_get_dir (p));
  return 0;
}
