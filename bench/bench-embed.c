/* bench-embed.c: embedding throughput of the imported MobileNet V2 backbone (images/s, with and
 * without the decode) on N worker threads, beside torchvision's mobilenet_v2 in the same run.
 *   bench-embed [--threads 2] [--images 64] [--model M.tflite] [--image PHOTO]
 *               [--path auto|float|int8] [--machine]
 * --machine: no torchvision, one line "cpu_ms A wall_ms B decode_cpu_ms C decode_wall_ms D path P"
 * per image (2 workers; for bench-embed-ort.sh). */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dataset/bt-dataset.h"
#include "engine/bt-tflite.h"

typedef struct {
  BtTflite     *model;
  int           cut;
  const char   *image_path;
  const float  *input;      /* NULL: decode image_path each time */
  int           n_images;
  volatile gint next;
  float        *first;      /* the embedding of image 0, to compare threads */
  int           dim;
  gint          mismatches;
  BtTflitePath  path;
} Job;

static gpointer
worker (gpointer data)
{
  Job *job = data;
  g_autoptr(GError) error = NULL;
  g_autoptr(BtTfliteExec) exec = bt_tflite_exec_new_path (job->model, job->path, &error);
  int h, w, c;
  g_autofree float *x = NULL;

  g_assert_no_error (error);
  bt_tflite_input_shape (job->model, &h, &w, &c);
  x = g_new (float, (gsize) h * w * c);
  for (;;)
    {
      int i = g_atomic_int_add (&job->next, 1);
      const float *in = job->input, *y;
      gsize n;
      if (i >= job->n_images)
        break;
      if (in == NULL)
        {
          g_autoptr(BtImage) img = bt_image_decode_file (job->image_path, c, NULL, NULL, &error);
          g_autoptr(BtImage) small = NULL;
          g_assert_no_error (error);
          small = bt_image_resize (img, w, h, BT_DS_RESIZE_SQUASH);
          bt_tflite_pixels_to_input (job->model, small->pixels, x);
          in = x;
        }
      y = bt_tflite_exec_run (exec, in, job->cut, &n, &error);
      g_assert_no_error (error);
      /* Same image every time: threads must agree (up to BLAS summation order). */
      for (int k = 0; k < job->dim; k++)
        if (fabsf (y[k] - job->first[k]) > 1e-3f * (1.f + fabsf (job->first[k])))
          {
            g_atomic_int_inc (&job->mismatches);
            break;
          }
    }
  return NULL;
}

/* CPU seconds of the whole process: on a shared, overloaded machine this is steadier than
 * wall time, and cores / (CPU s per image) is the rate the same work reaches on idle cores. */
static double
cpu_seconds (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double
run_pool (Job *job, int threads, double *cpu_ms)
{
  GThread *th[64];
  double c0 = cpu_seconds ();
  gint64 t0 = g_get_monotonic_time ();
  job->next = 0;
  for (int t = 0; t < threads; t++)
    th[t] = g_thread_new ("embed", worker, job);
  for (int t = 0; t < threads; t++)
    g_thread_join (th[t]);
  *cpu_ms = (cpu_seconds () - c0) * 1000.0 / job->n_images;
  return job->n_images / ((g_get_monotonic_time () - t0) / 1e6);
}

/* Throughput: one image per worker, BLAS single-threaded inside each (how the preset runs),
 * on the prepared input and then decoding image_path each time. */
static void
run_pools (Job *job, int threads, int n_images, const float *x, const char *image_path,
           double *raw, double *raw_cpu, double *with_decode, double *dec_cpu)
{
  bt_engine_set_threads (1);
  job->n_images = n_images;
  job->input = x;
  *raw = run_pool (job, threads, raw_cpu);
  job->input = NULL;
  job->image_path = image_path;
  *with_decode = run_pool (job, threads, dec_cpu);
}

static const char *
loadavg (void)
{
  static char buf[64];
  g_autofree char *s = NULL;
  if (!g_file_get_contents ("/proc/loadavg", &s, NULL, NULL))
    return "?\n";
  g_strlcpy (buf, s, sizeof buf);
  return buf;
}

static double
torch_rate (int threads, int n, double *cpu_ms)
{
  g_autofree char *script = g_build_filename (g_getenv ("BOTTEGA_SOURCE_ROOT") ? g_getenv ("BOTTEGA_SOURCE_ROOT") : SOURCE_ROOT,
                                              "bench", "torch_mobilenet.py", NULL);
  g_autofree char *t = g_strdup_printf ("%d", threads), *nn = g_strdup_printf ("%d", n);
  char *argv[] = { "/usr/bin/python3", script, t, nn, NULL };
  g_autofree char *out = NULL;
  int status;
  if (!g_spawn_sync (NULL, argv, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out, NULL, &status, NULL)
      || !g_spawn_check_wait_status (status, NULL) || out == NULL)
    return -1;
  if (g_str_has_prefix (out, "images/s "))
    {
      char *end;
      double r = g_ascii_strtod (out + 9, &end);
      const char *cpu = strstr (end, "cpu_ms ");
      *cpu_ms = cpu ? g_ascii_strtod (cpu + 7, NULL) : -1;
      return r;
    }
  printf ("torchvision: %s", out);
  return -1;
}

int
main (int argc, char **argv)
{
  int threads = 2, n_images = 64;
  const char *shared = g_getenv ("BOTTEGA_SHARED_DIR");
  g_autofree char *model_path = NULL, *image_path = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(BtTflite) model = NULL;
  g_autoptr(BtImage) img = NULL, small = NULL;
  g_autoptr(BtTfliteExec) exec = NULL;
  g_autofree float *x = NULL;
  Job job = { 0 };
  BtTflitePath path = BT_TFLITE_PATH_AUTO;
  gboolean machine = FALSE;
  int h, w, c;
  double raw, with_decode, single, torch, raw_cpu, dec_cpu, torch_cpu = -1;
  gsize n;

  for (int i = 1; i < argc; i++)
    if (strcmp (argv[i], "--machine") == 0)
      machine = TRUE;
  for (int i = 1; i + 1 < argc; i += 2)
    {
      if (strcmp (argv[i], "--machine") == 0)
        i--;
      else if (strcmp (argv[i], "--path") == 0)
        path = strcmp (argv[i + 1], "float") == 0 ? BT_TFLITE_PATH_FLOAT
             : strcmp (argv[i + 1], "int8") == 0 ? BT_TFLITE_PATH_INT8 : BT_TFLITE_PATH_AUTO;
      else if (strcmp (argv[i], "--threads") == 0)
        threads = CLAMP (atoi (argv[i + 1]), 1, 64);
      else if (strcmp (argv[i], "--images") == 0)
        n_images = MAX (atoi (argv[i + 1]), 1);
      else if (strcmp (argv[i], "--model") == 0)
        model_path = g_strdup (argv[i + 1]);
      else if (strcmp (argv[i], "--image") == 0)
        image_path = g_strdup (argv[i + 1]);
    }
  if (shared == NULL)
    shared = SOURCE_ROOT "/../shared";
  if (model_path == NULL)
    model_path = g_build_filename (shared, "models", "mobilenet_v2_1.0_224_quant.tflite", NULL);
  if (image_path == NULL)
    image_path = g_build_filename (shared, "images", "cat_720p.jpg", NULL);
  if (!g_file_test (model_path, G_FILE_TEST_EXISTS) || !g_file_test (image_path, G_FILE_TEST_EXISTS))
    {
      printf ("SKIP: %s or %s not found (set BOTTEGA_SHARED_DIR)\n", model_path, image_path);
      return 0;
    }

  model = bt_tflite_load (model_path, &error);
  g_assert_no_error (error);
  job.model = model;
  job.cut = bt_tflite_find_embedding_cut (model, &job.dim, &error);
  g_assert_no_error (error);
  bt_tflite_input_shape (model, &h, &w, &c);
  img = bt_image_decode_file (image_path, c, NULL, NULL, &error);
  g_assert_no_error (error);
  small = bt_image_resize (img, w, h, BT_DS_RESIZE_SQUASH);
  x = g_new (float, (gsize) h * w * c);
  bt_tflite_pixels_to_input (model, small->pixels, x);

  /* One image at a time with BLAS on every thread: the latency a single prediction sees. */
  bt_engine_set_threads (threads);
  job.path = path;
  exec = bt_tflite_exec_new_path (model, path, &error);
  g_assert_no_error (error);
  job.first = g_memdup2 (bt_tflite_exec_run (exec, x, job.cut, &n, &error), sizeof (float) * job.dim);
  g_assert_no_error (error);
  if (machine)
    {
      /* The pool alone: no-decode and decode runs. */
      run_pools (&job, threads, n_images, x, image_path, &raw, &raw_cpu, &with_decode, &dec_cpu);
      printf ("cpu_ms %.2f wall_ms %.2f decode_cpu_ms %.2f decode_wall_ms %.2f path %s\n", raw_cpu,
              1000.0 / raw, dec_cpu, 1000.0 / with_decode,
              bt_tflite_exec_path (exec, job.cut) == BT_TFLITE_PATH_INT8 ? "int8" : "float");
      g_free (job.first);
      return job.mismatches > 0;
    }
  {
    gint64 t0 = g_get_monotonic_time ();
    int reps = MAX (n_images / 4, 4);
    for (int r = 0; r < reps; r++)
      bt_tflite_exec_run (exec, x, job.cut, &n, &error);
    single = reps / ((g_get_monotonic_time () - t0) / 1e6);
  }

  run_pools (&job, threads, n_images, x, image_path, &raw, &raw_cpu, &with_decode, &dec_cpu);
  torch = torch_rate (threads, MAX (n_images / 4, 8), &torch_cpu);

  printf ("MobileNet V2 1.0/224 embedding (%d-d), %d threads, %d images; load average now %s", job.dim,
          threads, n_images, loadavg ());
  printf ("  bottega, one image, BLAS on %d threads:   %7.2f images/s wall (%.1f ms/image)\n", threads, single, 1000.0 / single);
  printf ("  bottega, %d workers, no decode:           %7.2f images/s wall, %6.1f CPU ms/image → %6.1f images/s on %d idle cores\n",
          threads, raw, raw_cpu, threads * 1000.0 / raw_cpu, threads);
  printf ("  bottega, %d workers, with JPEG decode:    %7.2f images/s wall, %6.1f CPU ms/image → %6.1f images/s on %d idle cores (%s, %dx%d)\n",
          threads, with_decode, dec_cpu, threads * 1000.0 / dec_cpu, threads,
          strrchr (image_path, '/') ? strrchr (image_path, '/') + 1 : image_path, img->width, img->height);
  if (torch > 0)
    {
      printf ("  torchvision mobilenet_v2 features, torch.set_num_threads(%d): %7.2f images/s wall, %6.1f CPU ms/image\n",
              threads, torch, torch_cpu);
      printf ("  ratio bottega / torchvision (no decode): %.2fx wall", raw / torch);
      if (torch_cpu > 0)
        printf (", %.2fx CPU time", torch_cpu / raw_cpu);
      printf ("\n");
    }
  else
    printf ("  torchvision: not available\n");
  if (job.mismatches > 0)
    printf ("  WARNING: %d embeddings differed between threads\n", job.mismatches);
  g_free (job.first);
  return job.mismatches > 0;
}
