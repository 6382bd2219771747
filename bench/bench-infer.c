/* bench-infer.c: Bottega's inference speed on a preset net (random weights: the speed does not
 * depend on them) at a given batch, and the same net as ONNX for ONNX Runtime (bench/ort-infer.js).
 *
 *   bench-infer --preset small-cnn --batch 256 --threads 2 [--onnx OUT.onnx] [--seconds 3]
 *
 * Prints "RESULT impl=bottega preset=… batch=… threads=… ips=… cpu_ms=…": images per wall second
 * and CPU milliseconds per image (the whole process's CPU time, as ort-infer.js measures it). */
#include "engine/bt-engine.h"
#include "engine/bt-onnx.h"

#include <gio/gio.h>
#include <stdio.h>
#include <sys/resource.h>

static double
cpu_seconds (void)
{
  struct rusage ru;
  getrusage (RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

int
main (int argc, char **argv)
{
  g_autofree char *preset_id = g_strdup ("small-cnn");
  g_autofree char *onnx = NULL;
  int batch = 256, threads = 2;
  double seconds = 3.0;
  GOptionEntry entries[] = {
    { "preset", 'p', 0, G_OPTION_ARG_STRING, &preset_id, "Preset: mlp, small-cnn, deeper-cnn, mini-resnet", "ID" },
    { "batch", 'b', 0, G_OPTION_ARG_INT, &batch, "Images per forward pass (256)", "N" },
    { "threads", 't', 0, G_OPTION_ARG_INT, &threads, "Engine threads (2)", "N" },
    { "seconds", 's', 0, G_OPTION_ARG_DOUBLE, &seconds, "Time to run, after one warm-up pass (3)", "S" },
    { "onnx", 0, 0, G_OPTION_ARG_FILENAME, &onnx, "Also write the net as ONNX here", "FILE" },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("— Bottega inference benchmark");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_autoptr (GError) error = NULL;
  BtPreset preset;
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || !bt_preset_from_id (preset_id, &preset) ||
      preset == BT_PRESET_TRANSFER || batch < 1 || batch > 4096)
    {
      g_printerr ("bad options%s%s\n", error ? ": " : "", error ? error->message : "");
      return 2;
    }
  int w, h, c;
  bt_preset_default_input (preset, &w, &h, &c);
  g_autoptr (BtNet) net = bt_net_new_preset (preset, w, h, c, 10, -1.0f, 1, &error);
  if (net == NULL)
    {
      g_printerr ("%s\n", error->message);
      return 1;
    }
  if (onnx != NULL)
    {
      const char *names[] = { "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", NULL };
      BtPreprocess prep;
      bt_preprocess_init_default (&prep, w, h, c);
      g_autoptr (GBytes) bytes = bt_onnx_export_net (net, names, &prep, NULL, BT_ONNX_FORM_FAST, &error);
      if (bytes == NULL || !g_file_set_contents (onnx, g_bytes_get_data (bytes, NULL),
                                                 (gssize) g_bytes_get_size (bytes), &error))
        {
          g_printerr ("ONNX export: %s\n", error->message);
          return 1;
        }
    }
  bt_engine_set_threads (threads);
  const gsize per = (gsize) w * h * c;
  g_autofree float *x = g_new (float, per * batch);
  guint32 seed = 1;
  for (gsize i = 0; i < per * batch; i++)
    {
      seed = seed * 1103515245u + 12345u;
      x[i] = (float) (seed >> 8) / (float) (1 << 24);
    }
  if (bt_net_forward (net, x, batch, FALSE, &error) == NULL)
    {
      g_printerr ("%s\n", error->message);
      return 1;
    }
  gint64 t0 = g_get_monotonic_time ();
  double c0 = cpu_seconds ();
  long images = 0;
  do
    {
      bt_net_forward (net, x, batch, FALSE, NULL);
      images += batch;
    }
  while ((g_get_monotonic_time () - t0) / 1e6 < seconds);
  double wall = (g_get_monotonic_time () - t0) / 1e6, cpu = cpu_seconds () - c0;
  printf ("RESULT impl=bottega preset=%s batch=%d threads=%d ips=%.0f cpu_ms=%.4f\n",
          preset_id, batch, threads, images / wall, cpu * 1e3 / images);
  return 0;
}
