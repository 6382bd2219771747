#!/usr/bin/python3
"""torch_backbones_onnx.py OUTDIR: the ONNX Runtime references of bench-embed-ort.sh, one per
catalogue architecture, each ending at the global average pool (the embedding Bottega cuts at):
  v2_224.onnx       torchvision's mobilenet_v2 .features + global average pool (1280-d)
  v1_1.0_224.onnx   MobileNet V1 1.0 (Howard et al. 2017: 3x3/2 conv, 13 depthwise-separable
                    blocks, BatchNorm + ReLU6, folded by the exporter) + global average pool (1024-d)
  v1_0.5_160.onnx   the same at width 0.5, 160x160 input (512-d)
Random weights (speed only), eval mode, exported by torch.onnx at opset 13 with input "image"
[N,3,S,S] (dynamic N). Prints 'wrote DIR' or 'SKIP reason'."""
import os
import sys


def main():
    try:
        import torch
        import torchvision
    except ImportError as e:
        print("SKIP", e)
        return 0
    nn = torch.nn
    torch.manual_seed(0)

    class Pooled(nn.Module):
        def __init__(self, features):
            super().__init__()
            self.features = features

        def forward(self, x):
            return torch.flatten(nn.functional.adaptive_avg_pool2d(self.features(x), 1), 1)

    def conv_bn(cin, cout, k, stride, groups=1):
        return [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
                nn.BatchNorm2d(cout), nn.ReLU6(inplace=True)]

    def mobilenet_v1(alpha):
        spec = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 \
               + [(1024, 2), (1024, 1)]
        c = int(32 * alpha)
        layers = conv_bn(3, c, 3, 2)
        for out, stride in spec:
            o = int(out * alpha)
            layers += conv_bn(c, c, 3, stride, groups=c) + conv_bn(c, o, 1, 1)
            c = o
        return nn.Sequential(*layers)

    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    models = {
        "v2_224": (torchvision.models.mobilenet_v2(weights=None).features, 224),
        "v1_1.0_224": (mobilenet_v1(1.0), 224),
        "v1_0.5_160": (mobilenet_v1(0.5), 160),
    }
    for name, (features, size) in models.items():
        model = Pooled(features).eval()
        x = torch.randn(1, 3, size, size)
        torch.onnx.export(model, x, os.path.join(out_dir, name + ".onnx"), opset_version=13,
                          input_names=["image"], output_names=["embedding"],
                          dynamic_axes={"image": {0: "N"}, "embedding": {0: "N"}})
    print("wrote", out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
