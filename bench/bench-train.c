/* bench-train.c: trains a preset on Fashion-MNIST (gzip IDX files read directly) and prints
 * training images/s (median over epochs after the first), inference images/s at batch 256,
 * test accuracy after epochs 1, 3 and 5, and peak RSS. bench/run-all.sh compares with PyTorch. */
#include "engine/bt-engine.h"

#include <cblas.h>

#include <gio/gio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <sys/resource.h>
#include <time.h>

typedef struct {
  guint8 *pixels;  /* n × 784 */
  guint8 *labels;
  int     n;
} Set;

static guint32
be32 (const guint8 *p)
{
  return ((guint32) p[0] << 24) | ((guint32) p[1] << 16) | ((guint32) p[2] << 8) | p[3];
}

/* Streams a gzip IDX file through GZlibDecompressor straight into its final buffer. */
static guint8 *
read_idx (const char *path, int rank, guint32 *dims, GError **error)
{
  g_autoptr (GFile) file = g_file_new_for_path (path);
  g_autoptr (GFileInputStream) raw = g_file_read (file, NULL, error);
  if (raw == NULL)
    return NULL;
  g_autoptr (GZlibDecompressor) z = g_zlib_decompressor_new (G_ZLIB_COMPRESSOR_FORMAT_GZIP);
  g_autoptr (GInputStream) in = g_converter_input_stream_new (G_INPUT_STREAM (raw), G_CONVERTER (z));
  guint8 head[16];
  gsize got;
  if (!g_input_stream_read_all (in, head, 4 + 4 * rank, &got, NULL, error))
    return NULL;
  if (got != (gsize) (4 + 4 * rank) || head[2] != 0x08 || head[3] != rank)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: not an IDX uint8 file of rank %d", path, rank);
      return NULL;
    }
  gsize total = 1;
  for (int i = 0; i < rank; i++)
    {
      dims[i] = be32 (head + 4 + 4 * i);
      total *= dims[i];
    }
  if (total > (gsize) 1 << 30)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: too large", path);
      return NULL;
    }
  guint8 *buf = g_malloc (total);
  if (!g_input_stream_read_all (in, buf, total, &got, NULL, error) || got != total)
    {
      g_free (buf);
      if (error && !*error)
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: truncated", path);
      return NULL;
    }
  return buf;
}

static gboolean
load_set (const char *dir, const char *prefix, Set *set, GError **error)
{
  g_autofree char *ip = g_strdup_printf ("%s/%s-images-idx3-ubyte.gz", dir, prefix);
  g_autofree char *lp = g_strdup_printf ("%s/%s-labels-idx1-ubyte.gz", dir, prefix);
  guint32 idims[3], ldims[1];
  set->pixels = read_idx (ip, 3, idims, error);
  if (set->pixels == NULL)
    return FALSE;
  set->labels = read_idx (lp, 1, ldims, error);
  if (set->labels == NULL)
    return FALSE;
  if (idims[0] != ldims[0] || idims[1] != 28 || idims[2] != 28)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: unexpected shapes", prefix);
      return FALSE;
    }
  set->n = (int) idims[0];
  return TRUE;
}

/* x = (pixel / 255 - mean) / std; mean 0, std 1 unless --standardize */
static float prep_mean = 0.0f, prep_std = 1.0f;

static void
to_float (float *x, const guint8 *px, gsize n)
{
  const float a = 1.0f / (255.0f * prep_std), b = -prep_mean / prep_std;
  for (gsize i = 0; i < n; i++)
    x[i] = px[i] * a + b;
}

static double
evaluate (BtNet *net, const Set *test, float *xb, int *yb, double *seconds)
{
  const int B = 256;
  int correct = 0;
  gint64 t0 = g_get_monotonic_time ();
  for (int s = 0; s < test->n; s += B)
    {
      int m = MIN (B, test->n - s);
      to_float (xb, test->pixels + (gsize) s * 784, (gsize) m * 784);
      for (int i = 0; i < m; i++)
        yb[i] = test->labels[s + i];
      g_autoptr (GError) error = NULL;
      if (!bt_net_forward (net, xb, m, FALSE, &error))
        g_error ("%s", error->message);
      int c;
      bt_net_loss (net, yb, m, &c);
      correct += c;
    }
  *seconds = (g_get_monotonic_time () - t0) / 1e6;
  return (double) correct / test->n;
}

static double
cpu_seconds (void)
{
  struct rusage ru;
  getrusage (RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* CPU time of the whole process (every thread), in nanosecond resolution */
static double
process_cpu (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
cmp_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

/* Seconds per call of one single-threaded sgemm of this shape (best of a few timed loops). */
static double
sgemm_seconds (CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k)
{
  g_autofree float *a = g_new0 (float, (gsize) m * k), *b = g_new0 (float, (gsize) k * n);
  g_autofree float *c = g_new0 (float, (gsize) m * n);
  for (gsize i = 0; i < (gsize) m * k; i++)
    a[i] = (float) (i % 7) * 0.1f;
  for (gsize i = 0; i < (gsize) k * n; i++)
    b[i] = (float) (i % 5) * 0.1f;
  const int lda = ta == CblasNoTrans ? k : m, ldb = tb == CblasNoTrans ? n : k;
  const int reps = (int) CLAMP (2e8 / (2.0 * m * n * k), 3, 2000);
  double best = G_MAXDOUBLE;
  for (int round = 0; round < 3; round++)
    {
      double c0 = cpu_seconds ();
      for (int r = 0; r < reps; r++)
        cblas_sgemm (CblasRowMajor, ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, n);
      best = MIN (best, (cpu_seconds () - c0) / reps);
    }
  return best;
}

/* The GEMM-shape limit: the Small CNN's training step is ~25 MFLOP of GEMMs per image; this
 * times each of them, at the shapes the engine runs (one slab of 5 images for conv1 and 2 for
 * conv2, the batch of 64 for the dense layers), on one thread, and prints the images per second
 * that `threads` cores would reach doing nothing but those GEMMs. */
static void
print_gemm_limit (int threads)
{
  struct { CBLAS_TRANSPOSE ta, tb; int m, n, k, images; } g[] = {
    { CblasNoTrans, CblasNoTrans, 32, 784 * 5, 9, 5 },      /* conv1 forward */
    { CblasNoTrans, CblasTrans, 32, 9, 784 * 5, 5 },        /* conv1 d_w */
    { CblasNoTrans, CblasNoTrans, 64, 196 * 2, 288, 2 },    /* conv2 forward */
    { CblasNoTrans, CblasTrans, 64, 288, 196 * 2, 2 },      /* conv2 d_w */
    { CblasTrans, CblasNoTrans, 288, 196 * 2, 64, 2 },      /* conv2 d_in */
    { CblasNoTrans, CblasTrans, 64, 128, 3136, 64 },        /* fc1 forward */
    { CblasTrans, CblasNoTrans, 128, 3136, 64, 64 },        /* fc1 d_w */
    { CblasNoTrans, CblasNoTrans, 64, 3136, 128, 64 },      /* fc1 d_in */
    { CblasNoTrans, CblasTrans, 64, 10, 128, 64 },          /* fc2 forward */
    { CblasTrans, CblasNoTrans, 10, 128, 64, 64 },          /* fc2 d_w */
    { CblasNoTrans, CblasNoTrans, 64, 128, 10, 64 },        /* fc2 d_in */
  };
  double per_image = 0.0, flops = 0.0;
  for (guint i = 0; i < G_N_ELEMENTS (g); i++)
    {
      per_image += sgemm_seconds (g[i].ta, g[i].tb, g[i].m, g[i].n, g[i].k) / g[i].images;
      flops += 2.0 * g[i].m * g[i].n * g[i].k / g[i].images;
    }
  double square = sgemm_seconds (CblasNoTrans, CblasNoTrans, 512, 512, 512);
  g_print ("RESULT impl=limit preset=small-cnn limit_ips=%.0f threads=%d mflop_per_image=%.1f "
           "shapes_gflops=%.1f sgemm512_gflops=%.1f\n",
           threads / per_image, threads, flops / 1e6, flops / per_image / 1e9, 2.0 * 512 * 512 * 512 / square / 1e9);
}

int
main (int argc, char **argv)
{
  g_autofree char *preset_id = g_strdup ("small-cnn");
  g_autofree char *dir = g_strdup ("/usr/share/datasets/fashion-mnist");
  int epochs = 5, batch = 64, threads = 2, limit = 0, trace = 0, test_limit = 0;
  double lr = 1e-3, dropout = -1.0;
  gboolean no_shuffle = FALSE, standardize = FALSE, gemm_limit = FALSE, phases = FALSE;
  double ema = BT_WEIGHT_AVERAGE_DECAY;
  g_autofree char *save_init = NULL;
  gint64 seed = 1;
  GOptionEntry entries[] = {
    { "preset", 'p', 0, G_OPTION_ARG_STRING, &preset_id, "Preset: mlp or small-cnn", "ID" },
    { "epochs", 'e', 0, G_OPTION_ARG_INT, &epochs, "Epochs (5)", "N" },
    { "batch", 'b', 0, G_OPTION_ARG_INT, &batch, "Batch size (64)", "N" },
    { "threads", 't', 0, G_OPTION_ARG_INT, &threads, "Threads (2)", "N" },
    { "lr", 0, 0, G_OPTION_ARG_DOUBLE, &lr, "Adam learning rate (1e-3)", "LR" },
    { "seed", 0, 0, G_OPTION_ARG_INT64, &seed, "Seed (1)", "N" },
    { "limit", 'l', 0, G_OPTION_ARG_INT, &limit, "Train on only this many images per epoch (0 = all)", "N" },
    { "data", 'd', 0, G_OPTION_ARG_FILENAME, &dir, "Fashion-MNIST folder", "DIR" },
    /* lock-step comparison with bench/torch_fmnist.py --load-init: same weights, same batches */
    { "dropout", 0, 0, G_OPTION_ARG_DOUBLE, &dropout, "Dropout (preset default)", "P" },
    { "no-shuffle", 0, 0, G_OPTION_ARG_NONE, &no_shuffle, "Train in file order", NULL },
    { "save-init", 0, 0, G_OPTION_ARG_FILENAME, &save_init, "Write the initial weights (raw float32, PyTorch's parameter order)", "FILE" },
    { "standardize", 0, 0, G_OPTION_ARG_NONE, &standardize, "Scale inputs to the training set's mean 0 / std 1", NULL },
    { "ema", 0, 0, G_OPTION_ARG_DOUBLE, &ema, "Decay of the weights' moving average that is evaluated, as the trainer does (0.999; 0 = off: the last weights)", "D" },
    { "trace", 0, 0, G_OPTION_ARG_INT, &trace, "Print the batch loss every N steps", "N" },
    { "test-limit", 0, 0, G_OPTION_ARG_INT, &test_limit, "Score only the first N test images (0 = all 10,000)", "N" },
    { "phases", 0, 0, G_OPTION_ARG_NONE, &phases, "Also print the process CPU time of each phase of a training step (forward, zeroing, backward, optimizer)", NULL },
    { "gemm-limit", 0, 0, G_OPTION_ARG_NONE, &gemm_limit, "Only print the Small CNN's GEMM-shape limit (images/s on --threads cores)", NULL },
    { NULL }
  };
  setvbuf (stdout, NULL, _IOLBF, 0);   /* progress shows up when piped into tee */
  g_autoptr (GOptionContext) ctx = g_option_context_new ("— Bottega training benchmark");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      g_printerr ("%s\n", error->message);
      return 2;
    }
  BtPreset preset;
  if (!bt_preset_from_id (preset_id, &preset) || epochs < 1 || batch < 1 || batch > 4096)
    {
      g_printerr ("bad --preset, --epochs or --batch\n");
      return 2;
    }
  bt_engine_set_threads (threads);
  if (gemm_limit)
    {
      print_gemm_limit (threads);
      return 0;
    }

  Set train = { 0 }, test = { 0 };
  if (!load_set (dir, "train", &train, &error) || !load_set (dir, "t10k", &test, &error))
    {
      g_printerr ("Fashion-MNIST not readable (%s); install dataset-fashion-mnist\n", error->message);
      return 77;
    }

  if (standardize)
    {
      double sum = 0.0, sq = 0.0;
      const gsize total = (gsize) train.n * 784;
      for (gsize i = 0; i < total; i++)
        {
          double v = train.pixels[i] / 255.0;
          sum += v;
          sq += v * v;
        }
      prep_mean = (float) (sum / total);
      prep_std = (float) sqrt (MAX (sq / total - (sum / total) * (sum / total), 1e-12));
      g_print ("inputs standardized: mean %.4f, std %.4f\n", prep_mean, prep_std);
    }
  if (test_limit > 0)
    test.n = MIN (test.n, test_limit);
  g_autoptr (BtNet) net = bt_net_new_preset (preset, 28, 28, 1, 10, (float) dropout, (guint64) seed, &error);
  if (net == NULL)
    g_error ("%s", error->message);
  if (save_init)
    {
      gsize n;
      const float *p = bt_net_params (net, &n);
      if (!g_file_set_contents (save_init, (const char *) p, (gssize) (n * sizeof (float)), &error))
        g_error ("%s", error->message);
    }
  BtOptimizerConfig cfg;
  bt_optimizer_config_init (&cfg, BT_OPTIMIZER_ADAM);
  cfg.ema_decay = (float) ema;
  g_autoptr (BtOptimizer) opt = bt_optimizer_new (net, &cfg);

  const int per_epoch = limit > 0 ? MIN (limit, train.n) : train.n;
  g_autofree guint32 *order = g_new (guint32, train.n);
  for (int i = 0; i < train.n; i++)
    order[i] = (guint32) i;
  g_autofree float *xb = g_new (float, (gsize) MAX (batch, 256) * 784);
  g_autofree int *yb = g_new (int, MAX (batch, 256));
  g_autofree double *ips = g_new (double, epochs);
  g_autofree double *cpu_all = g_new (double, epochs);
  double acc[16] = { 0 }, acc_raw[16] = { 0 }, infer_ips = 0.0;

  g_print ("%s: %" G_GSIZE_FORMAT " parameters, batch %d, %d threads, Adam %g\n",
           bt_preset_title (preset), bt_net_n_params (net), batch, threads, lr);
  for (int e = 0; e < epochs; e++)
    {
      if (!no_shuffle)
        bt_rng_shuffle (bt_net_rng (net), order, train.n);
      double loss_sum = 0.0, phase[4] = { 0 };
      int steps = 0;
      gint64 t0 = g_get_monotonic_time ();
      double c0 = cpu_seconds ();
      for (int s = 0; s < per_epoch; s += batch)
        {
          int m = MIN (batch, per_epoch - s);
          for (int i = 0; i < m; i++)
            {
              to_float (xb + (gsize) i * 784, train.pixels + (gsize) order[s + i] * 784, 784);
              yb[i] = train.labels[order[s + i]];
            }
          double p0 = phases ? process_cpu () : 0.0;
          if (!bt_net_forward (net, xb, m, TRUE, &error))
            g_error ("%s", error->message);
          double p1 = phases ? process_cpu () : 0.0;
          bt_net_zero_grad (net);
          double p2 = phases ? process_cpu () : 0.0;
          double loss;
          if (!bt_net_backward (net, yb, m, NULL, 0.0f, &loss, NULL, &error))
            g_error ("%s", error->message);
          double p3 = phases ? process_cpu () : 0.0;
          bt_optimizer_step (opt, net, (float) lr);
          if (phases)
            {
              double p4 = process_cpu ();
              phase[0] += p1 - p0, phase[1] += p2 - p1, phase[2] += p3 - p2, phase[3] += p4 - p3;
            }
          if (trace > 0 && steps % trace == 0)
            g_print ("step %d loss %.6f\n", steps, loss);
          loss_sum += loss;
          steps++;
        }
      double secs = (g_get_monotonic_time () - t0) / 1e6;
      double cpu = cpu_seconds () - c0;
      if (phases)
        g_print ("epoch %d phases, CPU µs per step: forward %.0f, zero grad %.0f, backward %.0f, optimizer %.0f; "
                 "rest of the step (batch copy) %.0f\n", e + 1, phase[0] / steps * 1e6, phase[1] / steps * 1e6,
                 phase[2] / steps * 1e6, phase[3] / steps * 1e6,
                 (cpu - phase[0] - phase[1] - phase[2] - phase[3]) / steps * 1e6);
      ips[e] = per_epoch / secs;
      cpu_all[e] = per_epoch / cpu;
      double eval_secs, raw_secs;
      /* the model the trainer delivers: the weights' moving average when it keeps one */
      double raw = evaluate (net, &test, xb, yb, &raw_secs);
      gboolean averaged = bt_optimizer_swap_average (opt, net);
      double a = averaged ? evaluate (net, &test, xb, yb, &eval_secs) : raw;
      if (averaged)
        bt_optimizer_swap_average (opt, net);
      else
        eval_secs = raw_secs;
      if (e < 16)
        acc_raw[e] = raw;
      if (e < 16)
        acc[e] = a;
      infer_ips = MAX (infer_ips, test.n / eval_secs);
      /* images per CPU-second too: on a shared machine wall time alone says little */
      g_print ("epoch %d: loss %.4f, %.0f img/s training (%.0f img per CPU-s), test accuracy %.4f "
               "(last weights %.4f), %.0f img/s inference\n", e + 1, loss_sum / steps, ips[e], per_epoch / cpu, a,
               raw, test.n / eval_secs);
    }
  /* median over epochs after the first (warm-up) */
  int k = epochs > 1 ? epochs - 1 : 1;
  double *tail = epochs > 1 ? ips + 1 : ips;
  qsort (tail, k, sizeof (double), cmp_double);
  double *cpu_ips = epochs > 1 ? cpu_all + 1 : cpu_all;
  double median = k % 2 ? tail[k / 2] : 0.5 * (tail[k / 2 - 1] + tail[k / 2]);
  struct rusage ru;
  getrusage (RUSAGE_SELF, &ru);
  qsort (cpu_ips, k, sizeof (double), cmp_double);
  double cpu_median = k % 2 ? cpu_ips[k / 2] : 0.5 * (cpu_ips[k / 2 - 1] + cpu_ips[k / 2]);
  g_print ("RESULT impl=bottega preset=%s train_ips=%.0f cpu_ips=%.0f infer_ips=%.0f acc1=%.4f acc3=%.4f acc5=%.4f rss_mib=%.1f"
           " acc5_last_weights=%.4f\n",
           preset_id, median, cpu_median, infer_ips, acc[0], epochs >= 3 ? acc[2] : 0.0, epochs >= 5 ? acc[4] : 0.0,
           ru.ru_maxrss / 1024.0, epochs >= 5 ? acc_raw[4] : 0.0);
  g_free (train.pixels);
  g_free (train.labels);
  g_free (test.pixels);
  g_free (test.labels);
  return 0;
}
