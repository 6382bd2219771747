/* bt-net-cam.h: what Grad-CAM needs from a network (#23): its last spatial feature map and the
 * gradient of one class's logit with respect to it. Part of the engine's public API. */
#pragma once

#include "engine/bt-engine.h"

G_BEGIN_DECLS

/* TRUE when the net has a spatial feature map (more than one position) feeding its classifier:
 * the CNN presets, not the MLP nor a transfer head. */
gboolean bt_net_has_feature_map (const BtNet *net);

/* Runs one inference forward pass of x (one image, C×H×W) and returns, for the last spatial
 * feature map A (c × h × w), a copy of A in *features and d logit[class_index] / dA in
 * *gradient (both g_free). FALSE with BT_ENGINE_ERROR_UNSUPPORTED when the net has no such map
 * or its classifier holds a layer this walk does not know. */
gboolean bt_net_class_gradient (BtNet *net, const float *x, int class_index,
                                float **features, float **gradient,
                                int *c, int *h, int *w, GError **error);

/* d logit[class_index] / d x for one input x of a net made of dense, dropout (as in inference),
 * flatten and pooling layers alone, such as a transfer model's head on its backbone's embedding:
 * Grad-CAM's way back into a backbone. d_x holds the net's input size. FALSE with
 * BT_ENGINE_ERROR_UNSUPPORTED for any other net. */
gboolean bt_net_class_input_gradient (BtNet *net, const float *x, int class_index, float *d_x,
                                      GError **error);

/* The logit of class_index computed from a feature map of the shape above through the net's
 * classifier layers alone (no input): for checking the gradient by finite differences. NAN when
 * the net has no feature map. */
double   bt_net_logit_from_features (BtNet *net, const float *features, int class_index);

G_END_DECLS
