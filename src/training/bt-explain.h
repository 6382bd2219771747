/* bt-explain.h: "what the model looked at" (#23): a heat map over an image for one class, by
 * occlusion sensitivity (any model, transfer ones too) or Grad-CAM (the engine's CNN presets).
 * Synchronous: call from a worker (the model runner), never from the GTK main thread. */
#pragma once

#include "engine/bt-engine.h"
#include "dataset/bt-dataset.h"
#include <gio/gio.h>

G_BEGIN_DECLS

typedef enum {
  BT_EXPLAIN_AUTO,        /* Grad-CAM where the net has a feature map, else occlusion */
  BT_EXPLAIN_OCCLUSION,   /* slide a grey patch, measure the drop of the class's probability */
  BT_EXPLAIN_GRADCAM,     /* class-weighted last feature map; CNN presets only */
} BtExplainMethod;

const char *bt_explain_method_to_string   (BtExplainMethod method);  /* "auto" | "occlusion" | "gradcam" */
gboolean    bt_explain_method_from_string (const char *s, BtExplainMethod *out);
/* TRUE when the model can be explained with Grad-CAM (its net has a spatial feature map). */
gboolean    bt_explain_supports_gradcam   (BtModel *model);

typedef struct {
  int              width, height;   /* the image's own size (or the size asked for) */
  float           *heat;            /* width × height, row-major, ≥ 0, summing to 1 */
  int              class_index;
  BtExplainMethod  method;          /* the method used (never AUTO) */
} BtHeatmap;
void bt_heatmap_free (BtHeatmap *map);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BtHeatmap, bt_heatmap_free)

/* The heat map of class_index (-1: the predicted class) over image, at out_w × out_h (0, 0: the
 * image's size), through the model's own preprocessing (resize mode, channels, backbone), so
 * the heat lands on the pixels the model saw (outside a centre crop it is 0). Uses the compute
 * gate; cancellable between batches. */
BtHeatmap *bt_explain_image (BtModel *model, const BtImage *image, int class_index,
                             BtExplainMethod method, int out_w, int out_h,
                             GCancellable *cancellable, GError **error);

/* The same for an image file, through the dataset's decode-and-resize path: the heat at the
 * image's own upright size, or scaled so its longer side is at most max_side (0: no limit).
 * *image (may be NULL) gets the image at that size (grey or RGB as the model reads it). */
BtHeatmap *bt_explain_file  (BtModel *model, const char *path, int class_index,
                             BtExplainMethod method, int max_side, BtImage **image,
                             GCancellable *cancellable, GError **error);

/* The share of the heat inside a rectangle (x, y, w, h in the map's pixels), for tests and the
 * quality benchmark. */
double bt_heatmap_share_in (const BtHeatmap *map, int x, int y, int w, int h);

/* RGBA (straight alpha, width × height × 4) of the map in a red → yellow colour scale relative
 * to its own maximum; alpha grows with the heat (× opacity), so cold areas stay clear. */
guint8 *bt_heatmap_to_rgba (const BtHeatmap *map, double opacity);

G_END_DECLS
