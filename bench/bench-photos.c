/* bench-photos: photo decoding at phone size, the work bench/bench-photos.sh sets beside PIL.
 *   bench-photos tensor FILE SECONDS   decode + area resize to 224×224 (what training and
 *                                      prediction do): images/s, one thread
 *   bench-photos thumbs FILE SECONDS   the Data page's thumbnail work (bt_thumbnail_decode,
 *                                      longest side 256): thumbnails/s, one thread
 *   bench-photos import DIR            scan + apply a folder of class folders into a new
 *                                      project: wall time, images/s and peak RSS */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <glib/gstdio.h>

#include "dataset/bt-dataset.h"
#include "dataset/bt-dataset-private.h"
#include "app/bt-thumbnailer.h"
#include "bt-test-fs.h"

static double
now_s (void)
{
  return g_get_monotonic_time () / 1e6;
}

static double
cpu_s (void)  /* this process's CPU time, all threads */
{
  struct timespec ts;
  clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
run_loop (const char *mode, const char *file, double seconds)
{
  /* BT_BENCH_IN_PROCESS=1: decode here instead of in the sandbox helpers (whose CPU time this
   * process's clock does not see), to time the decoder itself */
  gboolean in_process = g_strcmp0 (g_getenv ("BT_BENCH_IN_PROCESS"), "1") == 0;
  if (in_process)
    bt_image_set_in_process (TRUE);
  guint n = 0;
  double t0 = now_s (), t, c0 = cpu_s ();
  int w = 0, h = 0;
  do
    {
      g_autoptr(GError) error = NULL;
      if (g_str_equal (mode, "tensor") || g_str_equal (mode, "tensor2x"))
        {
          /* tensor: what training and prediction do (a box of BT_TENSOR_BOX (224): 1/8 scale for
           * 12 MP); tensor2x: the box of twice the target they used before (1/4 scale) */
          int box = g_str_equal (mode, "tensor") ? BT_TENSOR_BOX (224) : 448;
          g_autoptr(BtImage) img = bt_image_decode_file_sized (file, 3, box, box, NULL, NULL, NULL, &error);
          g_autoptr(BtImage) small = img ? bt_image_resize (img, 224, 224, BT_DS_RESIZE_SQUASH) : NULL;
          if (small == NULL)
            g_error ("%s", error ? error->message : "resize failed");
          w = img->width;
          h = img->height;
        }
      else
        {
          int tw, th, ow, oh;
          g_autoptr(GBytes) px = bt_thumbnail_decode (file, 256, &tw, &th, &ow, &oh, NULL, &error);
          if (px == NULL)
            g_error ("%s", error->message);
          w = tw;
          h = th;
        }
      n++;
      t = now_s () - t0;
    }
  while (t < seconds || n < 3);
  /* CPU time per image as well: on a shared machine it moves less than the wall clock */
  printf ("bottega%s %-6s %.1f images/s, %.1f ms CPU/image (%u in %.2f s; decoded at %d×%d)\n",
          in_process ? "-in-process" : "", mode, n / t, (cpu_s () - c0) * 1000 / n, n, t, w, h);
  return 0;
}

static int
run_import (const char *dir)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *pdir = g_dir_make_tmp ("bt-bench-photos-XXXXXX", NULL);
  const char *roots[] = { dir, NULL };
  double t0 = now_s ();
  g_autoptr(BtScanResult) r = bt_scan_paths (roots, BT_SCAN_FOLDER_OF_CLASSES, NULL, FALSE, NULL, NULL, NULL, &error);
  if (r == NULL)
    g_error ("%s", error->message);
  g_autoptr(BtProject) p = bt_project_create (pdir, "Photos", &error);
  guint added = p ? bt_project_apply_scan (p, r, &error) : 0;
  if (error)
    g_error ("%s", error->message);
  double t = now_s () - t0;
  struct rusage ru;
  getrusage (RUSAGE_SELF, &ru);
  printf ("bottega import %u photos (%u skipped, %u turned upright) in %.1f s = %.1f images/s; peak RSS %.1f MiB\n",
          added, r->skipped_paths->len, r->n_rotated, t, added / t, ru.ru_maxrss / 1024.0);
  g_clear_object (&p);
  bt_test_rm_rf (pdir);
  return 0;
}

/* How far the 224×224 tensor of a decode covering 224 (1/8 scale for 12 MP) is from one covering
 * 448 (1/4): mean and largest absolute difference per channel value, for each file. */
static int
run_compare (char **files, int n)
{
  for (int i = 0; i < n; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(BtImage) a = bt_image_decode_file_sized (files[i], 3, 448, 448, NULL, NULL, NULL, &error);
      g_autoptr(BtImage) b = a ? bt_image_decode_file_sized (files[i], 3, 224, 224, NULL, NULL, NULL, &error) : NULL;
      g_autoptr(BtImage) ta = NULL;
      g_autoptr(BtImage) tb = NULL;
      guint64 sum = 0;
      int worst = 0;
      gsize len = 224 * 224 * 3;

      if (b == NULL)
        g_error ("%s: %s", files[i], error->message);
      ta = bt_image_resize (a, 224, 224, BT_DS_RESIZE_SQUASH);
      tb = bt_image_resize (b, 224, 224, BT_DS_RESIZE_SQUASH);
      for (gsize k = 0; k < len; k++)
        {
          int d = ABS ((int) ta->pixels[k] - (int) tb->pixels[k]);
          sum += (guint64) d;
          worst = MAX (worst, d);
        }
      printf ("compare %s: decoded %d×%d vs %d×%d; 224×224 tensors differ by mean %.2f, max %d (of 255)\n",
              files[i], a->width, a->height, b->width, b->height, (double) sum / len, worst);
    }
  return 0;
}

int
main (int argc, char **argv)
{
  if (argc >= 3 && g_str_equal (argv[1], "compare"))
    return run_compare (argv + 2, argc - 2);
  if (argc == 4 && (g_str_equal (argv[1], "tensor") || g_str_equal (argv[1], "tensor2x") ||
                    g_str_equal (argv[1], "thumbs")))
    return run_loop (argv[1], argv[2], g_ascii_strtod (argv[3], NULL));
  if (argc == 3 && g_str_equal (argv[1], "import"))
    return run_import (argv[2]);
  fprintf (stderr, "usage: bench-photos tensor|tensor2x|thumbs FILE SECONDS | import DIR | compare FILE...\n");
  return 2;
}
