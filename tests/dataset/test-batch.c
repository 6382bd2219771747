/* test-batch.c: the Shapes sample, the decoded cache (pool, failures, spilling past the memory
 * budget), and the batcher (determinism, one pass per epoch, augmentation geometry). */
#include <string.h>
#include <glib/gstdio.h>

#include "dataset/bt-dataset-private.h"
#include "bt-test-fs.h"

typedef struct {
  char      *dir;
  BtProject *project;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  g_autofree char *tmp = g_dir_make_tmp ("bt-batch-XXXXXX", NULL);
  f->dir = g_build_filename (tmp, "shapes", NULL);
  g_autoptr(GError) error = NULL;
  f->project = bt_sample_create_shapes (f->dir, 12, 32, 7, NULL, &error);
  g_assert_no_error (error);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  g_clear_object (&f->project);
  g_autofree char *parent = g_path_get_dirname (f->dir);
  bt_test_rm_rf (parent);
  g_free (f->dir);
}

static void
test_sample (Fixture *f, gconstpointer data)
{
  GListModel *classes = bt_project_get_classes (f->project);
  g_assert_cmpuint (g_list_model_get_n_items (classes), ==, 4);
  const char *names[] = { "circle", "square", "triangle", "star" };
  for (guint i = 0; i < 4; i++)
    {
      g_autoptr(BtClassInfo) c = g_list_model_get_item (classes, i);
      g_assert_cmpstr (bt_class_info_get_name (c), ==, names[i]);
      g_assert_cmpuint (bt_class_info_get_n_items (c), ==, 12);
    }
  g_assert_cmpint (bt_project_get_settings (f->project)->width, ==, 32);
  /* Reproducible from the seed: same seed → same bytes. */
  g_autofree char *tmp = g_dir_make_tmp ("bt-sample2-XXXXXX", NULL);
  g_autofree char *d2 = g_build_filename (tmp, "again", NULL);
  g_autoptr(BtProject) p2 = bt_sample_create_shapes (d2, 12, 32, 7, NULL, NULL);
  g_assert_nonnull (p2);
  GListModel *i1 = bt_project_get_items (f->project), *i2 = bt_project_get_items (p2);
  g_autoptr(GHashTable) hashes = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);
  for (guint i = 0; i < g_list_model_get_n_items (i1); i++)
    {
      g_autoptr(BtItem) a = g_list_model_get_item (i1, i);
      g_autoptr(BtItem) b = g_list_model_get_item (i2, i);
      g_assert_true (bt_item_get_hash (a) == bt_item_get_hash (b));
      guint64 *h = g_new (guint64, 1);
      *h = bt_item_get_hash (a);
      g_hash_table_add (hashes, h);
      g_autoptr(BtImage) img = bt_image_decode_file (bt_item_get_path (a), 3, NULL, NULL, NULL);
      g_assert_nonnull (img);
      g_assert_cmpint (img->width, ==, 32);
    }
  g_assert_cmpuint (g_hash_table_size (hashes), ==, 48);  /* all different images */
  bt_test_rm_rf (tmp);
}

static void
test_cache (Fixture *f, gconstpointer data)
{
  GListModel *items = bt_project_get_items (f->project);
  g_autoptr(BtItem) victim = g_list_model_get_item (items, 5);
  g_assert_true (g_file_set_contents (bt_item_get_path (victim), "broken", 6, NULL));
  g_autoptr(GError) error = NULL;
  g_autoptr(BtCache) c = bt_cache_build (f->project, 16, 16, 1, BT_DS_RESIZE_SQUASH, 2, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_false (bt_cache_is_spilled (c));
  for (guint i = 0; i < g_list_model_get_n_items (items); i++)
    {
      g_autoptr(BtItem) it = g_list_model_get_item (items, i);
      if (i == 5)
        {
          g_assert_false (bt_cache_is_valid (c, i));
          g_assert_null (bt_cache_get (c, i));
          g_assert_cmpint (bt_cache_get_failure (c, i), ==, BT_SKIP_NOT_IMAGE);
          continue;
        }
      g_assert_true (bt_cache_is_valid (c, i));
      g_autoptr(BtImage) ref = bt_image_preprocess_file (bt_item_get_path (it), 16, 16, 1, BT_DS_RESIZE_SQUASH,
                                                         NULL, NULL, NULL);
      g_assert_true (memcmp (ref->pixels, bt_cache_get (c, i), 16 * 16) == 0);
    }
  /* Past the budget: the same bytes, from a file mapping. */
  bt_cache_set_memory_budget (1024);
  g_autoptr(BtCache) s = bt_cache_build (f->project, 16, 16, 1, BT_DS_RESIZE_SQUASH, 2, NULL, NULL, NULL, &error);
  bt_cache_set_memory_budget ((gsize) 1024 * 1024 * 1024);
  g_assert_no_error (error);
  g_assert_true (bt_cache_is_spilled (s));
  for (guint i = 0; i < g_list_model_get_n_items (items); i++)
    if (i != 5)
      g_assert_true (memcmp (bt_cache_get (s, i), bt_cache_get (c, i), 16 * 16) == 0);

  g_autoptr(GCancellable) cancel = g_cancellable_new ();
  g_cancellable_cancel (cancel);
  g_autoptr(BtCache) none = bt_cache_build (f->project, 16, 16, 1, BT_DS_RESIZE_SQUASH, 2, NULL, NULL, cancel, &error);
  g_assert_null (none);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

static GArray *
run_epoch (BtBatcher *b, int epoch, gsize plane, GArray **order)
{
  GArray *all = g_array_new (FALSE, FALSE, sizeof (float));
  *order = g_array_new (FALSE, FALSE, sizeof (guint));
  float *x = g_new (float, plane * 5);
  int labels[5];
  guint idx[5];
  bt_batcher_start_epoch (b, epoch);
  int n;
  while ((n = bt_batcher_next (b, x, labels, idx)) > 0)
    {
      g_array_append_vals (all, x, plane * n);
      g_array_append_vals (*order, idx, n);
    }
  g_free (x);
  return all;
}

static void
test_batcher (Fixture *f, gconstpointer data)
{
  g_autoptr(BtCache) c = bt_cache_build (f->project, 16, 16, 3, BT_DS_RESIZE_SQUASH, 2, NULL, NULL, NULL, NULL);
  g_autoptr(BtSplitView) v = bt_project_split_view (f->project, BT_SPLIT_TRAIN);
  g_assert_cmpuint (v->n, >, 10);
  gsize plane = 16 * 16 * 3;
  BtAugment aug = { TRUE, TRUE, TRUE, TRUE };
  g_autoptr(BtBatcher) a = bt_batcher_new (c, v, 5, TRUE, &aug, 1.f / 255.f, NULL, NULL, 99);
  g_autoptr(BtBatcher) b = bt_batcher_new (c, v, 5, TRUE, &aug, 1.f / 255.f, NULL, NULL, 99);
  g_assert_cmpuint (bt_batcher_n_batches (a), ==, (v->n + 4) / 5);
  GArray *oa, *ob, *oc;
  g_autoptr(GArray) xa = run_epoch (a, 3, plane, &oa);
  g_autoptr(GArray) xb = run_epoch (b, 3, plane, &ob);
  g_autoptr(GArray) xc = run_epoch (a, 4, plane, &oc);
  /* Same seed and epoch → identical batches; the order is a permutation of the split. */
  g_assert_cmpuint (xa->len, ==, xb->len);
  g_assert_true (memcmp (xa->data, xb->data, xa->len * sizeof (float)) == 0);
  g_assert_cmpuint (oa->len, ==, v->n);
  g_autoptr(GHashTable) seen = g_hash_table_new (NULL, NULL);
  for (guint i = 0; i < oa->len; i++)
    g_hash_table_add (seen, GUINT_TO_POINTER (g_array_index (oa, guint, i) + 1));
  g_assert_cmpuint (g_hash_table_size (seen), ==, v->n);
  g_assert_false (memcmp (oa->data, oc->data, oa->len * sizeof (guint)) == 0);
  for (guint i = 0; i < xa->len; i++)
    g_assert_true (g_array_index (xa, float, i) >= 0.f && g_array_index (xa, float, i) <= 1.f);
  g_array_unref (oa);
  g_array_unref (ob);
  g_array_unref (oc);

  /* No augmentation, no shuffle: exactly the cache, scaled, in CHW. */
  g_autoptr(BtBatcher) plain = bt_batcher_new (c, v, 5, FALSE, NULL, 1.f / 255.f, NULL, NULL, 1);
  float *x = g_new (float, plane * 5);
  guint idx[5];
  int n = bt_batcher_next (plain, x, NULL, idx);
  g_assert_cmpint (n, ==, 5);
  g_assert_cmpuint (idx[0], ==, v->items[0]);
  const guint8 *px = bt_cache_get (c, idx[1]);
  for (int ch = 0; ch < 3; ch++)
    for (int i = 0; i < 256; i++)
      g_assert_cmpfloat_with_epsilon (x[plane + ch * 256 + i], px[i * 3 + ch] / 255.f, 1e-6);

  /* Flip only: each image is the cached one or its mirror. */
  BtAugment flip = { TRUE, FALSE, FALSE, FALSE };
  g_autoptr(BtBatcher) fb = bt_batcher_new (c, v, 5, FALSE, &flip, 1.f, NULL, NULL, 5);
  guint mirrored = 0, total = 0;
  int k;
  while ((k = bt_batcher_next (fb, x, NULL, idx)) > 0)
    for (int j = 0; j < k; j++)
      {
        const guint8 *p = bt_cache_get (c, idx[j]);
        gboolean same = TRUE, mirror = TRUE;
        for (int y = 0; y < 16; y++)
          for (int xx = 0; xx < 16; xx++)
            {
              float got = x[plane * j + y * 16 + xx];
              same &= got == p[(y * 16 + xx) * 3];
              mirror &= got == p[(y * 16 + 15 - xx) * 3];
            }
        g_assert_true (same || mirror);
        mirrored += mirror && !same;
        total++;
      }
  g_assert_cmpuint (mirrored, >, 0);
  g_assert_cmpuint (mirrored, <, total);
  g_free (x);

  float w[4];
  bt_project_class_weights (f->project, w, 4);
  for (int i = 0; i < 4; i++)
    g_assert_cmpfloat (w[i], >, 0.5f);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/dataset/sample/shapes", Fixture, NULL, fixture_set_up, test_sample, fixture_tear_down);
  g_test_add ("/dataset/cache/build", Fixture, NULL, fixture_set_up, test_cache, fixture_tear_down);
  g_test_add ("/dataset/batcher/determinism", Fixture, NULL, fixture_set_up, test_batcher, fixture_tear_down);
  return g_test_run ();
}
