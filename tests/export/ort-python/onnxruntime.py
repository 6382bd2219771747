# onnxruntime.py: for the snippet tests where the Python package onnxruntime is not installed
# (Debian 12 has none, and no other registry is reached): InferenceSession.run as the package
# has it, computed by ONNX Runtime itself (npm onnxruntime-node, tests/export/ort_node.py) in a
# node process, so the page's Python snippet runs unchanged. Only what the snippet uses.
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from ort_node import ort_modules  # noqa: E402


class InferenceSession:
    def __init__(self, path, *args, **kwargs):
        if not os.path.exists(path):
            raise FileNotFoundError(path)
        self.path = path

    def run(self, output_names, feeds):
        modules, why = ort_modules()
        if modules is None:
            raise RuntimeError(why)
        with tempfile.TemporaryDirectory() as d:
            (name, x), = feeds.items()
            x = np.ascontiguousarray(x, dtype="<f4")
            x.tofile(os.path.join(d, "input.bin"))
            r = subprocess.run(["/usr/bin/node", os.path.join(os.path.dirname(HERE), "run-ort-all.js"), self.path,
                                name, os.path.join(d, "input.bin"), ",".join(str(v) for v in x.shape), d],
                               capture_output=True, text=True, env=dict(os.environ, NODE_PATH=modules), timeout=300)
            if r.returncode != 0:
                raise RuntimeError(r.stderr)
            outs = {}
            for o in json.load(open(os.path.join(d, "outputs.json"))):
                outs[o["name"]] = np.fromfile(os.path.join(d, o["file"]), dtype="<f4").reshape(o["dims"])
        return [outs[n] for n in (output_names or list(outs))]
