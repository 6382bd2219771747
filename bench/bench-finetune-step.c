/* bench-finetune-step.c: one fine-tuning training step of MobileNet V2's top N blocks (+ the 1×1
 * convolution to 1280, the pooling and a 12-class head), batch B, on random activations at the
 * cut: forward, backward, Adam — what an epoch of bottega's second stage repeats. Prints ms per
 * step, images per second and CPU seconds per step. Its PyTorch twin is bench/torch_finetune_step.py;
 * bench/bench-finetune.sh runs both alternately.
 *   bench-finetune-step MODEL.tflite N [BATCH] [STEPS] [THREADS] */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "engine/bt-engine.h"
#include "engine/bt-tflite-grad.h"

static double
cpu_s (void)
{
  struct rusage ru;
  getrusage (RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void
adam (float *w, const float *g, float *m, float *v, gsize n, float lr, gint64 t)
{
  const float bc1 = 1.f - powf (0.9f, (float) t), bc2 = 1.f - powf (0.999f, (float) t);
  for (gsize i = 0; i < n; i++)
    {
      m[i] = 0.9f * m[i] + 0.1f * g[i];
      v[i] = 0.999f * v[i] + 0.001f * g[i] * g[i];
      w[i] -= lr / bc1 * m[i] / (sqrtf (v[i] / bc2) + 1e-8f);
    }
}

int
main (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  int n_blocks = argc > 2 ? atoi (argv[2]) : 2, batch = argc > 3 ? atoi (argv[3]) : 32;
  int steps = argc > 4 ? atoi (argv[4]) : 10, threads = argc > 5 ? atoi (argv[5]) : 2;
  int cuts[32], dim, labels[4096];
  BtRng rng;

  if (argc < 2 || batch < 1 || batch > 4096 || steps < 1)
    {
      fprintf (stderr, "usage: %s MODEL.tflite N [BATCH] [STEPS] [THREADS]\n", argv[0]);
      return 2;
    }
  bt_engine_set_threads (threads);
  g_autoptr(BtTflite) m = bt_tflite_load (argv[1], &error);
  if (m == NULL)
    {
      fprintf (stderr, "%s\n", error->message);
      return 1;
    }
  int end = bt_tflite_find_embedding_cut (m, &dim, &error);
  int n = bt_tflite_block_cuts (m, end, cuts, 32);
  if (n_blocks < 1 || n_blocks > n)
    {
      fprintf (stderr, "N must be 1 … %d\n", n);
      return 2;
    }
  g_autoptr(BtTflTrain) top = bt_tfl_train_new (m, cuts[n_blocks - 1], end, batch, &error);
  g_autoptr(BtNet) head = bt_net_new_transfer (dim, 0, 12, 0.f, 1, &error);
  if (top == NULL || head == NULL)
    {
      fprintf (stderr, "%s\n", error->message);
      return 1;
    }
  gsize in = bt_tfl_train_in_size (top), np, nh;
  g_autofree float *x = g_new (float, in * batch), *emb = g_new (float, (gsize) dim * batch);
  g_autofree float *d_emb = g_new (float, (gsize) dim * batch);
  float *p = bt_tfl_train_params (top, &np), *g = bt_tfl_train_grads (top, &np);
  float *hp = bt_net_params (head, &nh), *hg = bt_net_grads (head, &nh);
  g_autofree float *mo = g_new0 (float, np + nh), *ve = g_new0 (float, np + nh);
  bt_rng_seed (&rng, 1);
  for (gsize i = 0; i < in * batch; i++)
    x[i] = 6.f * bt_rng_uniform (&rng);
  for (int i = 0; i < batch; i++)
    labels[i] = (int) bt_rng_below (&rng, 12);
  bt_net_set_input_grad (head, d_emb);

  double t_wall = 0, t_cpu = 0;
  for (int s = 0; s <= steps; s++)
    {
      gint64 t0 = g_get_monotonic_time ();
      double c0 = cpu_s (), loss;
      bt_tfl_train_forward (top, x, batch, emb);
      bt_net_forward (head, emb, batch, TRUE, NULL);
      bt_net_zero_grad (head);
      bt_net_backward (head, labels, batch, NULL, 0.f, &loss, NULL, NULL);
      bt_tfl_train_zero_grads (top);
      bt_tfl_train_backward (top, d_emb, NULL);
      adam (p, g, mo, ve, np, 1e-4f, s + 1);
      adam (hp, hg, mo + np, ve + np, nh, 1e-4f, s + 1);
      if (s > 0)   /* the first step warms up */
        {
          t_wall += (g_get_monotonic_time () - t0) / 1e6;
          t_cpu += cpu_s () - c0;
        }
    }
  printf ("bottega  blocks=%d batch=%d threads=%d params=%" G_GSIZE_FORMAT "  %.1f ms/step  %.1f img/s  cpu %.3f s/step\n",
          n_blocks, batch, threads, np, 1e3 * t_wall / steps, batch * steps / t_wall, t_cpu / steps);
  return 0;
}
