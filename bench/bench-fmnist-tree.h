/* bench-fmnist-tree.h: the Fashion-MNIST PNG tree the benchmarks read: the one given, or the
 * default one under $TMPDIR made once with bottega-fmnist-to-png (header only). */
#pragma once

#include <stdio.h>
#include <glib.h>

/* The tree's path (g_free), or NULL with *status 0 (printed SKIP: no dataset or converter) or
 * 1 (the converter failed). */
static inline char *
bench_fmnist_tree (const char *tree_arg, const char *converter, int *status)
{
  *status = 0;
  if (tree_arg != NULL)
    return g_strdup (tree_arg);
  char *tree = g_build_filename (g_get_tmp_dir (), "bottega-bench-import-tree", NULL);
  g_autofree char *marker = g_build_filename (tree, ".bottega-fmnist-complete", NULL);
  if (g_file_test (marker, G_FILE_TEST_EXISTS))
    return tree;
  if (converter == NULL || !g_file_test ("/usr/share/datasets/fashion-mnist", G_FILE_TEST_IS_DIR))
    {
      printf ("SKIP: needs Debian's dataset-fashion-mnist and --converter\n");
      g_free (tree);
      return NULL;
    }
  const char *cargv[] = { converter, tree, NULL };
  int wait_status = 0;
  g_autoptr(GError) error = NULL;
  printf ("converting Fashion-MNIST into %s (not timed)...\n", tree);
  if (!g_spawn_sync (NULL, (char **) cargv, NULL, G_SPAWN_DEFAULT, NULL, NULL, NULL, NULL, &wait_status, &error) ||
      !g_spawn_check_wait_status (wait_status, &error))
    {
      fprintf (stderr, "converter failed: %s\n", error->message);
      g_free (tree);
      *status = 1;
      return NULL;
    }
  return tree;
}
