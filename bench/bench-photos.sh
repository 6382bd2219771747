#!/bin/sh
# bench-photos.sh BUILD_DIR [SECONDS]: 12 MP phone-size JPEGs. Decode + resize to 224×224 and
# thumbnails, Bottega and PIL alternated twice in one run (one thread each), then the peak RSS
# of importing 500 of them. Prints the load average before each round. Tensors: Bottega as it
# runs (1/8 scale) beside PIL's draft to 448 (the issue's reference) and, for the same scale,
# Bottega at 1/4 (tensor2x) beside PIL's draft to 224 (tensor1x); "compare" prints how far the
# 1/8-scale tensor is from the 1/4-scale one. Bottega's decodes run in the sandbox helpers, whose
# CPU its "ms CPU/image" does not see: read the wall rates, and the "bottega-in-process" row
# (BT_BENCH_IN_PROCESS=1, the decoder in the bench's own process) for the decoder's CPU.
set -eu
build=$1
seconds=${2:-5}
bench="$build/bench/bench-photos"
here=$(dirname "$0")
work=$(mktemp -d /tmp/bt-bench-photos-XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM
# A textured 4000×3000 photo (owl.jpg from ../shared upscaled, with sensor-like noise), q 90,
# stored sideways with EXIF orientation 6 like a portrait phone photo.
/usr/bin/python3 - "$work/photo.jpg" "$here/../../shared/images/owl.jpg" <<'PY'
import os, sys
import numpy as np
from PIL import Image
src = sys.argv[2]
rng = np.random.default_rng(1)
if os.path.exists(src):
    base = Image.open(src).convert("RGB").resize((4000, 3000), Image.BICUBIC)
else:
    yy, xx = np.mgrid[0:3000, 0:4000]
    base = Image.fromarray(np.dstack([xx % 256, yy % 256, (xx + yy) % 256]).astype(np.uint8))
a = np.asarray(base).astype(np.int16) + rng.normal(0, 6, (3000, 4000, 3)).astype(np.int16)
e = Image.Exif(); e[0x0112] = 6
Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)).save(sys.argv[1], quality=90, exif=e.tobytes())
PY
echo "photo: 4000×3000 JPEG q90, $(du -k "$work/photo.jpg" | cut -f1) KiB, EXIF orientation 6"
"$bench" compare "$work/photo.jpg"
for round in 1 2; do
  echo "round $round, load average: $(cut -d' ' -f1-3 /proc/loadavg)"
  "$bench" tensor "$work/photo.jpg" "$seconds"
  # the decoder itself: the sandboxed runs' CPU column is this process's, not the helpers'
  BT_BENCH_IN_PROCESS=1 "$bench" tensor "$work/photo.jpg" "$seconds"
  /usr/bin/python3 "$here/bench-photos-pil.py" tensor "$work/photo.jpg" "$seconds"
  "$bench" tensor2x "$work/photo.jpg" "$seconds"
  /usr/bin/python3 "$here/bench-photos-pil.py" tensor1x "$work/photo.jpg" "$seconds"
  "$bench" thumbs "$work/photo.jpg" "$seconds"
  /usr/bin/python3 "$here/bench-photos-pil.py" thumbs "$work/photo.jpg" "$seconds"
done
# 500 distinct 12 MP files: the same photo with a numbered JPEG comment after SOI.
mkdir -p "$work/import/a" "$work/import/b"
/usr/bin/python3 - "$work/photo.jpg" "$work/import" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
for i in range(500):
    text = b"bottega bench %d" % i
    seg = b"\xff\xfe" + struct.pack(">H", len(text) + 2) + text
    open("%s/%s/p%03d.jpg" % (sys.argv[2], "ab"[i % 2], i), "wb").write(data[:2] + seg + data[2:])
PY
echo "import, load average: $(cut -d' ' -f1-3 /proc/loadavg)"
"$bench" import "$work/import"
