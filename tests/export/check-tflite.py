#!/usr/bin/python3
# check-tflite.py DIR [TOLERANCE]: runs DIR/model.tflite with Arm NN's TensorFlow Lite parser
# (Debian's python3-pyarmnn, reference CPU backend), software Bottega did not write, on every
# image of DIR/input.bin (N × C × H × W floats, Bottega's preprocessed input) and checks its
# probabilities against DIR/expected.bin (Bottega's own) within TOLERANCE (default 1e-4).
# DIR/spec.json: {"input_shape": [N,C,H,W], "labels": [...], "temperature": T}: the file must hold
# that many outputs and carry the labels in its metadata. With DIR/expected-score.bin (N floats,
# Bottega's unknown scores) its second output "logits" must give them: -T * logsumexp(logits).
# With "int8": {"min_top1": F, "max_mean_abs": D} in the spec the file is full-integer: the input is
# quantized with the input tensor's scale and zero point, the outputs dequantized (in a wider type
# first), and the check is: the same top class on at least F of the images, mean |Δp| ≤ D.
# Exit 77 (skip) when python3-numpy or python3-pyarmnn is missing.
import contextlib
import io
import json
import os
import sys

try:
    import numpy as np
except ImportError as e:
    print(f"SKIP: {e.name} is not installed (Debian: python3-numpy)")
    sys.exit(77)
try:
    # pyarmnn prints a line for each parser Debian's build leaves out
    with contextlib.redirect_stdout(io.StringIO()):
        import pyarmnn as ann
except ImportError:
    print("SKIP: pyarmnn is not installed (Debian: python3-pyarmnn, libarmnntfliteparser22, "
          "libarmnn-cpuref-backend22)")
    sys.exit(77)

d = sys.argv[1]
tol = float(sys.argv[2]) if len(sys.argv) > 2 else 1e-4
spec = json.load(open(os.path.join(d, "spec.json")))
n, c, h, w = spec["input_shape"]
path = os.path.join(d, "model.tflite")
x = np.fromfile(os.path.join(d, "input.bin"), dtype=np.float32).reshape(n, c, h, w)
expected = np.fromfile(os.path.join(d, "expected.bin"), dtype=np.float32).reshape(n, -1)
k = expected.shape[1]

blob = open(path, "rb").read()
if blob[4:8] != b"TFL3":
    print("FAIL: no TFL3 file identifier")
    sys.exit(1)
labels = json.dumps(spec["labels"], ensure_ascii=False, separators=(",", ":")).encode()
if spec.get("labels") is not None and labels not in blob:
    print("FAIL: the labels are not in the file's metadata")
    sys.exit(1)

parser = ann.ITfLiteParser()
network = parser.CreateNetworkFromBinaryFile(path)
inputs = list(parser.GetSubgraphInputTensorNames(0))
outputs = list(parser.GetSubgraphOutputTensorNames(0))
score_path = os.path.join(d, "expected-score.bin")
scores = np.fromfile(score_path, dtype=np.float32) if os.path.exists(score_path) else None
if len(inputs) != 1 or len(outputs) not in (1, 2) or outputs[0] != "probabilities" \
        or (scores is not None and outputs[1:] != ["logits"]):
    print(f"FAIL: inputs {inputs} and outputs {outputs}, expected one input, then \"probabilities\" "
          f"(and \"logits\")")
    sys.exit(1)
in_info = parser.GetNetworkInputBindingInfo(0, inputs[0])
out_infos = [parser.GetNetworkOutputBindingInfo(0, o) for o in outputs]
in_shape = tuple(in_info[1].GetShape()[i] for i in range(in_info[1].GetNumDimensions()))
if in_shape != (1, h, w, c):
    print(f"FAIL: input shape {in_shape}, expected {(1, h, w, c)}")
    sys.exit(1)
int8 = spec.get("int8")
in_scale, in_zp = in_info[1].GetQuantizationScale(), in_info[1].GetQuantizationOffset()
out_q = [(o[1].GetQuantizationScale(), o[1].GetQuantizationOffset()) for o in out_infos]
runtime = ann.IRuntime(ann.CreationOptions())
opt, _ = ann.Optimize(network, [ann.BackendId("CpuRef")], runtime.GetDeviceSpec(), ann.OptimizerOptions())
net_id, _ = runtime.LoadNetwork(opt)

worst = 0.0
worst_score = 0.0
same_top, sum_abs = 0, 0.0
temperature = float(spec.get("temperature", 1.0))
for i in range(n):
    nhwc = np.ascontiguousarray(x[i].transpose(1, 2, 0)[None])
    if int8:
        nhwc = np.clip(np.rint(nhwc / in_scale) + in_zp, -128, 127).astype(np.int8)
    in_t = ann.make_input_tensors([in_info], [nhwc])
    out_t = ann.make_output_tensors(out_infos)
    runtime.EnqueueWorkload(net_id, in_t, out_t)
    results = ann.workload_tensors_to_ndarray(out_t)
    if int8:
        results = [(r.astype(np.float64) - zp) * sc for r, (sc, zp) in zip(results, out_q)]
    got = results[0].astype(np.float64).reshape(-1)
    if got.shape[0] != k:
        print(f"FAIL: {got.shape[0]} outputs, expected {k}")
        sys.exit(1)
    worst = max(worst, float(np.max(np.abs(got - expected[i]))))
    if int8:
        same_top += int(np.argmax(got)) == int(np.argmax(expected[i]))
        sum_abs += float(np.mean(np.abs(got - expected[i])))
        continue
    if int(np.argmax(got)) != int(np.argmax(expected[i])):
        print(f"FAIL: image {i}: Arm NN's top class is {int(np.argmax(got))}, Bottega's {int(np.argmax(expected[i]))}")
        sys.exit(1)
    if scores is not None:
        z = results[1].astype(np.float64).reshape(-1)
        m = z.max()
        score = -temperature * (m + np.log(np.exp(z - m).sum()))
        worst_score = max(worst_score, abs(score - float(scores[i])) / max(1.0, abs(float(scores[i]))))
spread = float(expected.max() - expected.min())
if spread < 0.05:
    print(f"FAIL: Bottega's probabilities span only {spread:.3g}; the comparison would prove little")
    sys.exit(1)
if int8:
    top1, mean_abs = same_top / n, sum_abs / n
    print(f"Arm NN {ann.ARMNN_VERSION} (CpuRef), int8 file: the same top class as Bottega's float model on "
          f"{same_top} of {n} images ({100 * top1:.1f} %), mean |Δp| {mean_abs:.4f}, max {worst:.3f} "
          f"(probabilities spanning {spread:.2f})")
    if top1 < int8["min_top1"] or mean_abs > int8["max_mean_abs"]:
        print(f"FAIL: needs ≥ {100 * int8['min_top1']:.0f} % and mean |Δp| ≤ {int8['max_mean_abs']}")
        sys.exit(1)
    sys.exit(0)
if worst > tol or worst_score > tol:
    print(f"Probabilities differ by {worst:.3g}, unknown scores by {worst_score:.3g} (relative)")
if worst > tol:
    print(f"FAIL: Arm NN differs from Bottega by {worst:.3g} (tolerance {tol:g})")
    sys.exit(1)
if worst_score > tol:
    print(f"FAIL: the unknown score from Arm NN's logits differs from Bottega's by {worst_score:.3g} "
          f"(relative, tolerance {tol:g})")
    sys.exit(1)
print(f"Arm NN {ann.ARMNN_VERSION} (CpuRef) agrees with Bottega on {n} images within {worst:.2g} "
      f"(probabilities spanning {spread:.2f}; unknown scores within {worst_score:.2g})")
