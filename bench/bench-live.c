/* bench-live.c: the Test page's live mode without the window: GStreamer's videotestsrc at 640×480
 * 30 fps converted to RGB by the same elements as bt-camera.c (its streaming thread running
 * meanwhile), the newest frame classified by a MobileNet V2 transfer model, again and again.
 * Prints answers a second (the rate the bars can update) and CPU ms per answer, whole process.
 *   bench-live [SECONDS] [BACKBONE]   (BACKBONE: a catalogue name; default mobilenet_v2_1.0_224_quant)
 * Needs ../shared/models (BOTTEGA_SHARED_DIR); skips (exit 77) without it. */
#include "config.h"

#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <gst/video/video.h>
#include <stdio.h>
#include <string.h>
#include <glib/gstdio.h>
#include <sys/resource.h>

#include "training/bt-backbones.h"
#include "training/bt-training.h"
#include "training/bt-transfer.h"

static double
cpu_s (void)
{
  struct rusage ru;
  getrusage (RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* The newest frame as packed RGB (the camera's copy), or NULL. */
static BtImage *
pull_frame (GstAppSink *sink)
{
  g_autoptr(GstSample) sample = gst_app_sink_try_pull_sample (sink, GST_SECOND);
  GstVideoInfo info;
  GstVideoFrame frame;
  BtImage *img;

  if (sample == NULL || !gst_video_info_from_caps (&info, gst_sample_get_caps (sample))
      || !gst_video_frame_map (&frame, &info, gst_sample_get_buffer (sample), GST_MAP_READ))
    return NULL;
  img = bt_image_new (GST_VIDEO_FRAME_WIDTH (&frame), GST_VIDEO_FRAME_HEIGHT (&frame), 3);
  for (int y = 0; y < img->height; y++)
    memcpy (img->pixels + (gsize) y * img->width * 3,
            (const guint8 *) GST_VIDEO_FRAME_PLANE_DATA (&frame, 0) + (gsize) y * GST_VIDEO_FRAME_PLANE_STRIDE (&frame, 0),
            (gsize) img->width * 3);
  gst_video_frame_unmap (&frame);
  return img;
}

int
main (int argc, char **argv)
{
  double seconds = argc > 1 ? g_ascii_strtod (argv[1], NULL) : 10;
  const char *name = argc > 2 ? argv[2] : "mobilenet_v2_1.0_224_quant";
  const char *shared = g_getenv ("BOTTEGA_SHARED_DIR");
  g_autofree char *models = g_build_filename (shared ? shared : SOURCE_ROOT "/../shared", "models", NULL);
  g_autofree char *tmp = g_dir_make_tmp ("bt-bench-live-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (tmp, "live.bottega-model", NULL);
  const BtBackboneInfo *info = bt_backbones_lookup (name);
  const char *names[] = { "one", "two", "three", NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(BtNet) head = NULL;
  g_autoptr(BtModel) model = NULL;
  GstElement *pipeline;
  guint n = 0;
  double t0, c0, t;

  gst_init (&argc, &argv);
  if (info == NULL)
    g_error ("no backbone %s in the catalogue", name);
  bt_backbone_set_search_dir (models);
  {
    g_autofree char *file = g_build_filename (models, info->file, NULL);
    if (!g_file_test (file, G_FILE_TEST_EXISTS))
      {
        printf ("SKIP: %s not found (../shared/models)\n", file);
        return 77;
      }
  }
  head = bt_net_new_transfer (info->embedding, 0, 3, 0.0f, 1, &error);
  if (head == NULL || !bt_model_save (path, head, names, NULL, info->file, info->sha256, NULL, &error)
      || (model = bt_model_load (path, &error)) == NULL)
    g_error ("model: %s", error->message);

  pipeline = gst_parse_launch ("videotestsrc is-live=true pattern=ball ! video/x-raw,width=640,height=480,framerate=30/1 "
                               "! videoconvert ! videoscale ! video/x-raw,format=RGB ! appsink name=sink max-buffers=1 "
                               "drop=true sync=false", &error);
  if (pipeline == NULL)
    g_error ("pipeline: %s", error->message);
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  {
    GstElement *sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
    g_autoptr(BtImage) first = pull_frame (GST_APP_SINK (sink));   /* the backbone loads on the first answer */
    g_free (bt_predict_image (model, first, &error));

    {
      g_autofree char *load = NULL;
      if (g_file_get_contents ("/proc/loadavg", &load, NULL, NULL))
        printf ("load average %s", load);
    }
    t0 = g_get_monotonic_time () / 1e6;
    c0 = cpu_s ();
    do
      {
        g_autoptr(BtImage) frame = pull_frame (GST_APP_SINK (sink));
        g_autofree float *probs = frame ? bt_predict_image (model, frame, &error) : NULL;

        if (probs == NULL)
          g_error ("predict: %s", error ? error->message : "no frame");
        n++;
        t = g_get_monotonic_time () / 1e6 - t0;
      }
    while (t < seconds);
    gst_object_unref (sink);
  }
  printf ("live %s: %.1f answers/s, %.1f ms CPU per answer (camera thread included; %u in %.1f s)\n", name,
          n / t, (cpu_s () - c0) * 1000 / n, n, t);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (pipeline);
  g_unlink (path);
  g_rmdir (tmp);
  return 0;
}
