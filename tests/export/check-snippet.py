#!/usr/bin/python3
# check-snippet.py DIR: runs the "Use It in Your App" snippets exactly as the page shows them,
# for one image: DIR/snippet.py (Python, ONNX Runtime) and DIR/curl.sh (curl against
# `bottega-cli serve DIR/spec.json:model --port spec.port`), and compares what they print with
# `bottega-cli predict --json` (DIR/predict.json) for the same image: the class, its probability
# and the unknown score within 1e-4. Without the Python package onnxruntime (Debian 12 has none)
# the snippet's `import onnxruntime` gets ort-python/onnxruntime.py, which runs ONNX Runtime
# 1.30 from npm. DIR/web.html's inline script must parse (`node --check`).
# Exit 77 (skip) when numpy or Pillow is missing.
# check-snippet.py DIR --web: the web page snippet DIR/web.html in headless Chromium
# (web_page.py), with onnxruntime-web 1.30 from npm, on DIR/spec.json:image: every class's
# probability and the unknown score within 1e-4 of DIR/predict.json. Exit 77 (skip) without
# Chromium (Debian: chromium-headless-shell or chromium) or npm's registry.
import json
import os
import shutil
import subprocess
import sys

try:
    import numpy  # noqa: F401
    import PIL  # noqa: F401
except ImportError as e:
    print(f"SKIP: {e.name} is not installed (Debian: python3-numpy, python3-pil)")
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
d = sys.argv[1]
spec = json.load(open(os.path.join(d, "spec.json"), encoding="utf-8"))
want = json.loads(open(os.path.join(d, "predict.json"), encoding="utf-8").read())[0]
top = want["predictions"][0]
failed = False


def check(what, ok, detail):
    global failed
    print(f"{what}: {'ok' if ok else 'FAIL'} ({detail})")
    failed = failed or not ok


if "--web" in sys.argv[2:]:
    sys.path.insert(0, HERE)
    import web_page
    from ort_node import ORT_VERSION, ort_modules
    if web_page.browser() is None:
        print("SKIP: no headless Chromium (Debian: apt-get install chromium-headless-shell, or chromium)")
        sys.exit(77)
    modules, why = ort_modules("onnxruntime-web")
    if modules is None:
        print("SKIP:", why)
        sys.exit(77)
    got, why = web_page.run(d, "web.html", spec["image"], os.path.join(modules, "onnxruntime-web", "dist"))
    if got is None:
        print("FAIL:", why)
        sys.exit(1)
    # the page's probabilities are in the model's class order, predict's by probability
    labels = spec["labels"]
    diffs = [abs(got["probabilities"][labels.index(p["class"])] - p["probability"]) for p in want["predictions"]]
    du = abs(got["unknownScore"] - want["unknown_score"])
    shown = ", ".join(f"{lab} {p:.6f}" for lab, p in zip(labels, got["probabilities"]))
    check(f"web page snippet (onnxruntime-web {ORT_VERSION}, {os.path.basename(web_page.browser())})",
          len(got["probabilities"]) == len(labels) == len(want["predictions"]) and got["label"] == top["class"]
          and max(diffs) <= 1e-4 and du <= 1e-4,
          f"printed {shown}, unknown {got['unknownScore']:.6f}; predict: top {top['class']} {top['probability']:.6f}, "
          f"unknown {want['unknown_score']:.6f}; max |Δp| {max(diffs):.2g}, |Δunknown| {du:.2g}")
    sys.exit(1 if failed else 0)

env = dict(os.environ)
try:
    import onnxruntime  # noqa: F401
    how = "onnxruntime " + onnxruntime.__version__
except ImportError:
    env["PYTHONPATH"] = os.path.join(HERE, "ort-python")
    how = "ONNX Runtime from npm through ort-python/onnxruntime.py"
r = subprocess.run([sys.executable, "snippet.py"], cwd=d, env=env, capture_output=True, text=True, timeout=300)
if r.returncode != 0:
    print("FAIL: the Python snippet did not run:", r.stdout, r.stderr[-3000:])
    sys.exit(1)
label, prob, unknown = r.stdout.strip().rsplit(" ", 2)
check(f"python snippet ({how})", label == top["class"] and abs(float(prob) - top["probability"]) <= 1e-4
      and abs(float(unknown) - want["unknown_score"]) <= 1e-4,
      f"printed {r.stdout.strip()!r}, predict: {top['class']} {top['probability']} {want['unknown_score']}")

html = open(os.path.join(d, "web.html"), encoding="utf-8").read()
script = html.split("<script>", 1)[1].split("</script>", 1)[0]
with open(os.path.join(d, "web.js"), "w", encoding="utf-8") as f:
    f.write(script)
if os.access("/usr/bin/node", os.X_OK):
    r = subprocess.run(["/usr/bin/node", "--check", os.path.join(d, "web.js")], capture_output=True, text=True)
    check("web page script parses (node --check)", r.returncode == 0, r.stderr.strip()[-500:] or "no error")

if shutil.which("curl") is None:
    print("curl is not installed: the curl snippet not run")
else:
    cli = os.path.join(os.environ["BOTTEGA_BUILD_ROOT"], "src", "cli", "bottega-cli")
    server = subprocess.Popen([cli, "serve", spec["model"], "--port", str(spec["port"])], stdout=subprocess.PIPE,
                              text=True, env=dict(os.environ, LANGUAGE="C"))
    try:
        line = server.stdout.readline()
        if "http://" not in line:
            print("FAIL: the server did not start:", line)
            sys.exit(1)
        r = subprocess.run(["/bin/sh", "curl.sh"], cwd=d, capture_output=True, text=True, timeout=60)
        got = json.loads(r.stdout)
        same = [p["class"] for p in got["predictions"]] == [p["class"] for p in want["predictions"]] and all(
            abs(a["probability"] - b["probability"]) <= 1e-5 for a, b in zip(got["predictions"], want["predictions"]))
        check("curl snippet", same and got["unknown"] == want["unknown"], f"{got['predictions'][0]}")
    finally:
        server.terminate()
        server.wait(timeout=30)
sys.exit(1 if failed else 0)
