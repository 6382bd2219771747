#!/usr/bin/python3
# check-onnx.py DIR: checks DIR/model.onnx with software Bottega did not write:
# onnx.checker (full check, with shape inference) and OpenCV's ONNX importer, whose output on
# DIR/input.bin must match DIR/expected.bin (Bottega's own probabilities) within 1e-4.
# DIR/spec.json: {"input_shape": [N,C,H,W], "labels": [...] or null, "preprocessing": {...} or null}
# Exit 77 (skip) when python3-onnx or python3-opencv is missing.
import json
import os
import sys

try:
    import numpy as np
    import onnx
    import cv2
except ImportError as e:
    print(f"SKIP: {e.name} is not installed (Debian: python3-onnx, python3-opencv)")
    sys.exit(77)

d = sys.argv[1]
tol = float(sys.argv[2]) if len(sys.argv) > 2 else 1e-4
spec = json.load(open(os.path.join(d, "spec.json")))
path = os.path.join(d, "model.onnx")

model = onnx.load(path)
onnx.checker.check_model(model, full_check=True)
assert model.opset_import[0].version == 13, model.opset_import
g = model.graph
assert [i.name for i in g.input if i.name not in {t.name for t in g.initializer}] == ["image"], g.input
assert [o.name for o in g.output] == ["probabilities"], g.output
dims = g.input[0].type.tensor_type.shape.dim
assert dims[0].dim_param != "" and dims[0].dim_value == 0, "batch dimension must be symbolic"
assert [x.dim_value for x in dims[1:]] == spec["input_shape"][1:], dims
meta = {p.key: p.value for p in model.metadata_props}
if spec.get("labels") is not None:
    assert json.loads(meta["labels"]) == spec["labels"], meta["labels"]
if spec.get("preprocessing") is not None:
    got = json.loads(meta["preprocessing"])
    want = spec["preprocessing"]
    assert set(got) == {"width", "height", "channels", "resize", "scale", "mean", "std"}, got
    for k, v in want.items():
        if isinstance(v, list):
            assert np.allclose(got[k], v, atol=1e-7), (k, got[k], v)
        elif isinstance(v, float):
            assert abs(got[k] - v) < 1e-9, (k, got[k], v)
        else:
            assert got[k] == v, (k, got[k], v)

x = np.fromfile(os.path.join(d, "input.bin"), dtype="<f4").reshape(spec["input_shape"])
want = np.fromfile(os.path.join(d, "expected.bin"), dtype="<f4").reshape(x.shape[0], -1)

net = cv2.dnn.readNetFromONNX(path)
net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
# one image at a time and the whole batch at once: the batch dimension must really be free
rows = []
for i in range(x.shape[0]):
    net.setInput(np.ascontiguousarray(x[i:i + 1]))
    rows.append(net.forward().reshape(1, -1))
got = np.concatenate(rows)
net.setInput(x)
got_batch = net.forward().reshape(x.shape[0], -1)
# a check on constant or saturated outputs would prove little
assert want.max() - want.min() > 1e-3 and 1e-6 < want.max() < 1 - 1e-6, ("degenerate probabilities", want)
diff = max(float(np.abs(got - want).max()), float(np.abs(got_batch - want).max()))
print(f"opencv {cv2.__version__} onnx {onnx.__version__}: max abs diff {diff:.3g} over {want.size} probabilities in [{want.min():.3g}, {want.max():.3g}]")
if not diff <= tol:
    print("FAIL: OpenCV disagrees with Bottega\nopencv:", got[:2], "\nbottega:", want[:2])
    sys.exit(1)
sys.exit(0)
