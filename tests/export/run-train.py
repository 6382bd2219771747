#!/usr/bin/python3
# run-train.py MODE DIR ARGS...: runs DIR/train.py (written by Bottega's PyTorch export) on the
# CPU, as one process (MODE "single") or as two under torchrun with gloo (MODE "torchrun2").
# Exit 77 (skip) when python3-torch, python3-numpy or python3-pil is missing.
import os
import socket
import subprocess
import sys

try:
    import numpy  # noqa: F401
    import PIL  # noqa: F401
    import torch  # noqa: F401
except ImportError as e:
    print(f"SKIP: {e.name} is not installed (Debian: python3-torch, python3-numpy, python3-pil)")
    sys.exit(77)

mode, d, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
env = dict(os.environ, OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
script = os.path.join(d, "train.py")
if mode == "single":
    cmd = [sys.executable, script, "--cpu"] + rest
else:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # torchrun itself (torch.distributed.run), with Debian 12's bug patched when present:
    # torch 1.13 under Python 3.11 maps every --redirects/--tee value to None (Std.from_str
    # compares an Enum with an int), so the launcher dies before starting any worker.
    launcher = (
        "import re, sys\n"
        "from torch.distributed.elastic.multiprocessing import api\n"
        "if api.Std.from_str('0') is None:\n"
        "    def from_str(cls, vm):\n"
        "        if re.fullmatch(r'[0-3]', vm):\n"
        "            return cls(int(vm))\n"
        "        return {int(i): cls(int(v)) for i, v in (m.split(':') for m in vm.split(','))}\n"
        "    api.Std.from_str = classmethod(from_str)\n"
        "from torch.distributed.run import main\n"
        "sys.argv[0] = 'torchrun'\n"
        "main()\n")
    cmd = [sys.executable, "-c", launcher, "--nnodes=1", "--nproc_per_node=2",
           "--master_addr=127.0.0.1", f"--master_port={port}", script, "--cpu"] + rest
r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
print(r.stdout.strip())
if r.returncode != 0:
    print(r.stderr[-4000:])
    sys.exit(1)
