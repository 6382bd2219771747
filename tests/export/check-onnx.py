#!/usr/bin/python3
# check-onnx.py DIR [TOLERANCE] [--form fast|opencv]: checks DIR/model.onnx with software Bottega
# did not write: onnx.checker (full check, with shape inference), ONNX Runtime 1.30 (the npm
# package onnxruntime-node run by /usr/bin/node, installed once into the build folder) and, for the
# OpenCV form, OpenCV's ONNX importer. Each runtime's output on DIR/input.bin must match
# DIR/expected.bin (Bottega's own probabilities) within 1e-4.
# The form is read from the graph (Clip nodes: the fast form; none: the OpenCV form); --form
# asserts it. The fast form must not hold the Sub/Relu spelling of a clamp, the OpenCV form no Clip.
# DIR/spec.json: {"input_shape": [N,C,H,W], "labels": [...] or null, "preprocessing": {...} or null,
#   optional "predict_json": a file of `bottega-cli predict --json` output for the N images (then the
#   expected probabilities and unknown scores are its, not DIR/expected.bin), optional "metadata":
#   {"calibration_temperature": T, "unknown_threshold": U, "class_thresholds": {...}} that
#   metadata_props must hold}
# The fast form has a second output "unknown_score" (the OpenCV form does not), checked against
# predict's JSON when it is given.
# Exit 77 (skip) when python3-onnx is missing, or when no runtime that reads the form is available.
import json
import os
import subprocess
import sys

try:
    import numpy as np
    import onnx
except ImportError as e:
    print(f"SKIP: {e.name} is not installed (Debian: python3-numpy, python3-onnx)")
    sys.exit(77)
try:
    import cv2
except ImportError:
    cv2 = None

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from ort_node import ort_modules  # noqa: E402

args = sys.argv[1:]
want_form = None
if "--form" in args:
    i = args.index("--form")
    want_form = args[i + 1]
    del args[i:i + 2]
d = args[0]
tol = float(args[1]) if len(args) > 1 else 1e-4
spec = json.load(open(os.path.join(d, "spec.json")))
path = os.path.join(d, "model.onnx")


model = onnx.load(path)
onnx.checker.check_model(model, full_check=True)
assert model.opset_import[0].version == 13, model.opset_import
g = model.graph
assert [i.name for i in g.input if i.name not in {t.name for t in g.initializer}] == ["image"], g.input
outputs = [o.name for o in g.output]
assert outputs in (["probabilities"], ["probabilities", "unknown_score"]), outputs
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

want_meta = spec.get("metadata") or {}
for k, v in want_meta.items():
    assert k in meta, f"metadata_props has no {k}: {sorted(meta)}"
    got = json.loads(meta[k])
    if isinstance(v, dict):
        assert set(got) == set(v) and all(abs(got[c] - v[c]) < 1e-6 for c in v), (k, got, v)
    else:
        assert abs(got - v) < 1e-6 * max(1, abs(v)), (k, got, v)
if want_meta:
    assert "probabilities" in meta["decision_rule"] and "unknown_score" in meta["decision_rule"], meta

x = np.fromfile(os.path.join(d, "input.bin"), dtype="<f4").reshape(spec["input_shape"])
want_unknown = None
if spec.get("predict_json"):
    text = open(os.path.join(d, spec["predict_json"]), encoding="utf-8").read()
    try:
        answers = json.loads(text)
    except json.JSONDecodeError:
        answers = [json.loads(l) for l in text.splitlines() if l.strip()]
    if isinstance(answers, dict):
        answers = answers.get("images") or answers.get("results") or [answers]
    assert len(answers) == x.shape[0], answers
    names = spec["labels"]
    want = np.array([[next(p["probability"] for p in a["predictions"] if p["class"] == n) for n in names]
                     for a in answers], dtype=np.float64)
    want_unknown = np.array([a["unknown_score"] for a in answers])
else:
    want = np.fromfile(os.path.join(d, "expected.bin"), dtype="<f4").reshape(x.shape[0], -1)

ops = [n.op_type for n in g.node]
form = "fast" if "Clip" in ops else "opencv"
if want_form is not None:
    assert want_form in ("fast", "opencv"), want_form
    if want_form == "fast":
        assert "Sub" not in ops, "the fast form still spells a clamp with Sub/Relu"
        for n in g.node:
            if n.op_type == "Clip":
                bounds = [i for i in n.input[1:] if i]
                assert bounds and all(b in {t.name for t in g.initializer} for b in bounds), n
    else:
        assert "Clip" not in ops, "the OpenCV form holds a Clip, which OpenCV 4.6 refuses"
    form = want_form
    assert ("unknown_score" in outputs) == (form == "fast"), (form, outputs)
# a check on constant or saturated outputs would prove little
assert want.max() - want.min() > 1e-3 and 1e-6 < want.max() < 1 - 1e-6, ("degenerate probabilities", want)

report = [f"{form} form, onnx {onnx.__version__}"]
checked = 0
failed = False


def compare(name, got, got_batch):
    global checked, failed
    diff = max(float(np.abs(got - want).max()), float(np.abs(got_batch - want).max()))
    report.append(f"{name}: max abs diff {diff:.3g}")
    checked += 1
    if not diff <= tol:
        print(f"FAIL: {name} disagrees with Bottega\n{name}:", got[:2], "\nbottega:", want[:2])
        failed = True


modules, why = ort_modules()
if modules is None:
    report.append(f"ONNX Runtime not run: {why}")
else:
    out = os.path.join(d, "ort-out.bin")
    env = dict(os.environ, NODE_PATH=modules)
    r = subprocess.run(["/usr/bin/node", os.path.join(HERE, "run-ort.js"), path, os.path.join(d, "input.bin"),
                        ",".join(str(v) for v in x.shape), out], capture_output=True, text=True, env=env,
                       timeout=600)
    if r.returncode != 0:
        print("FAIL: ONNX Runtime could not run the model:", r.stdout, r.stderr)
        sys.exit(1)
    o = np.fromfile(out, dtype="<f4").reshape(2 * x.shape[0], -1)
    compare(r.stdout.strip(), o[:x.shape[0]], o[x.shape[0]:])
    assert os.path.exists(out + ".unknown") == ("unknown_score" in outputs), outputs
    if want_unknown is not None:
        u = np.fromfile(out + ".unknown", dtype="<f4")
        diff = float(np.abs(u - want_unknown).max())
        report.append(f"unknown_score: max abs diff {diff:.3g} (scores {want_unknown.min():.3g} to {want_unknown.max():.3g})")
        if not diff <= 1e-4 * max(1.0, float(np.abs(want_unknown).max())):
            print("FAIL: ONNX Runtime's unknown_score disagrees with Bottega's:", u, want_unknown)
            failed = True

if form == "opencv":
    if cv2 is None:
        report.append("OpenCV not run: python3-opencv is not installed")
    else:
        net = cv2.dnn.readNetFromONNX(path)
        net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
        net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
        # one image at a time and the whole batch at once: the batch dimension must really be free
        rows = []
        for i in range(x.shape[0]):
            net.setInput(np.ascontiguousarray(x[i:i + 1]))
            rows.append(net.forward().reshape(1, -1))
        net.setInput(x)
        compare(f"opencv {cv2.__version__}", np.concatenate(rows), net.forward().reshape(x.shape[0], -1))

print("; ".join(report) + f"; {want.size} probabilities in [{want.min():.3g}, {want.max():.3g}]")
if failed:
    sys.exit(1)
if checked == 0:
    print("SKIP: no runtime that reads this form could run")
    sys.exit(77)
sys.exit(0)
