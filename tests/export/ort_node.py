# ort_node.py: ONNX Runtime for the export tests, from npm: onnxruntime-node (its CPU library
# ships in the package), run by /usr/bin/node, and onnxruntime-web (its WebAssembly build, for the
# web page snippet in a browser), each installed once into the build folder.
import fcntl
import json
import os
import subprocess
import tempfile

ORT_VERSION = "1.30.0"


def ort_modules(package="onnxruntime-node"):
    """The node_modules folder holding package@ORT_VERSION, installed on first use into the build
    folder (shared by every test, under a lock); (None, reason) when it cannot be had."""
    if not os.access("/usr/bin/node", os.X_OK):
        return None, "/usr/bin/node is not installed"
    root = os.environ.get("BOTTEGA_BUILD_ROOT") or tempfile.gettempdir()
    prefix = os.path.join(root, "tests", "export", f"{package}-{ORT_VERSION}")
    os.makedirs(prefix, exist_ok=True)
    modules = os.path.join(prefix, "node_modules")
    pkg = os.path.join(modules, package, "package.json")
    with open(os.path.join(prefix, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(pkg) and json.load(open(pkg)).get("version") == ORT_VERSION:
            return modules, None
        # --ignore-scripts: onnxruntime-node's install script would download GPU libraries; its
        # CPU library ships in the package itself (onnxruntime-web has no script to miss)
        try:
            r = subprocess.run(["npm", "install", "--ignore-scripts", "--no-audit", "--no-fund",
                                "--prefix", prefix, f"{package}@{ORT_VERSION}"],
                               capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as e:
            return None, f"npm could not install {package}@{ORT_VERSION}: {e}"
        if r.returncode != 0 or not os.path.exists(pkg):
            lines = [l for l in r.stderr.splitlines() if l.strip() and "log of this run" not in l]
            last = lines[0] if lines else "(no message)"
            return None, f"npm could not install {package}@{ORT_VERSION} (no registry?): {last}"
        return modules, None
