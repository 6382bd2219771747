#!/usr/bin/python3
"""torch_mobilenet_onnx.py OUT.onnx: torchvision's mobilenet_v2 (random weights, eval mode) with
a 1280 -> 4 linear head and softmax, exported by torch.onnx (opset 13, input "image" [N,3,224,224],
output "probabilities") -- the reference bench-onnx-ort.sh times beside Bottega's file.
Prints 'wrote PATH' or 'SKIP reason'."""
import sys


def main():
    try:
        import torch
        import torchvision
    except ImportError as e:
        print("SKIP", e)
        return 0
    torch.manual_seed(0)
    net = torchvision.models.mobilenet_v2(weights=None)
    net.classifier = torch.nn.Linear(1280, 4)
    model = torch.nn.Sequential(net, torch.nn.Softmax(dim=1)).eval()
    x = torch.randn(1, 3, 224, 224)
    torch.onnx.export(model, x, sys.argv[1], opset_version=13, input_names=["image"],
                      output_names=["probabilities"],
                      dynamic_axes={"image": {0: "N"}, "probabilities": {0: "N"}})
    print("wrote", sys.argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
