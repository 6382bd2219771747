#!/usr/bin/python3
# check-snippet.py DIR: runs the "Use It in Your App" snippets exactly as the page shows them,
# for one image: DIR/snippet.py (Python, ONNX Runtime) and DIR/curl.sh (curl against
# `bottega-cli serve DIR/spec.json:model --port spec.port`), and compares what they print with
# `bottega-cli predict --json` (DIR/predict.json) for the same image: the class, its probability
# and the unknown score within 1e-4. Without the Python package onnxruntime (Debian 12 has none)
# the snippet's `import onnxruntime` gets ort-python/onnxruntime.py, which runs ONNX Runtime
# 1.30 from npm. DIR/web.html's inline script must parse (`node --check`; no browser here).
# Exit 77 (skip) when numpy or Pillow is missing.
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
