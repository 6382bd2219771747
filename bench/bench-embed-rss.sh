#!/usr/bin/env bash
# bench-embed-rss.sh [BUILD] [N]: peak memory of embedding N (default 2000) distinct 12 MP
# (4000x3000) JPEG photos, as the transfer preset does it: `bottega-cli new --from` on a folder
# of them, then `bottega-cli train --preset transfer --epochs 1`, whose embedding step decodes and
# embeds every photo on all cores. The photos are generated in a temporary folder under /tmp
# (eight encoded 12 MP images, each file with its own JPEG comment) and removed at the end. Prints the peak
# resident set size (GNU time's %M) and the CPU and wall time per photo. Target (#19): under
# 300 MiB. Skips without ../shared/models or python3-PIL.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-_build}
N=${2:-2000}
SHARED=${BOTTEGA_SHARED_DIR:-../shared}
MODEL=$SHARED/models/mobilenet_v2_1.0_224_quant.tflite
[ -f "$MODEL" ] || { echo "SKIP: $MODEL is absent"; exit 0; }
[ -x /usr/bin/time ] || { echo "SKIP: GNU time (/usr/bin/time) is not installed"; exit 0; }
DIR=$(mktemp -d /tmp/bottega-rss.XXXXXX)
trap 'rm -rf "$DIR"' EXIT
/usr/bin/python3 - "$DIR/photos" "$N" <<'PY' || { echo "SKIP: python3-PIL/numpy could not make the photos"; exit 0; }
# Eight different 12 MP photos are encoded; each of the N files is one of them with its own
# JPEG comment segment after SOI, so every file has different bytes (a different content hash:
# no import duplicate, no embedding cache hit) and decodes to full 12 MP.
import os, sys
import numpy as np
from PIL import Image
out, n = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(19)
h, w = 3000, 4000
ramp_x = np.linspace(0, 255, w, dtype=np.float32)[None, :]
ramp_y = np.linspace(0, 255, h, dtype=np.float32)[:, None]
bases = []
for k in range(8):
    img = np.empty((h, w, 3), np.uint8)
    img[..., 0] = (ramp_x * (0.3 + 0.1 * k) + ramp_y * 0.2).astype(np.uint8)
    img[..., 1] = (ramp_y * (0.9 - 0.1 * k)).astype(np.uint8)
    img[..., 2] = ((ramp_x + ramp_y) * 0.5 * (k % 2)).astype(np.uint8)
    y0, x0 = rng.integers(0, h - 512), rng.integers(0, w - 512)
    img[y0:y0 + 512, x0:x0 + 512] = rng.integers(0, 255, (512, 512, 3), dtype=np.uint8)
    path = os.path.join(out, "base%d.jpg" % k)
    os.makedirs(out, exist_ok=True)
    Image.fromarray(img).save(path, quality=85)
    bases.append(open(path, "rb").read())
    os.unlink(path)
for i in range(n):
    d = os.path.join(out, "class%d" % (i % 2))
    os.makedirs(d, exist_ok=True)
    jpeg = bases[(i // 2) % 4 * 2 + i % 2]
    note = b"bottega rss photo %d" % i
    com = b"\xff\xfe" + (len(note) + 2).to_bytes(2, "big") + note
    with open(os.path.join(d, "photo%05d.jpg" % i), "wb") as f:
        f.write(jpeg[:2] + com + jpeg[2:])
PY
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs); $N photos of 4000x3000, $(du -sh "$DIR/photos" | cut -f1)"
"$BUILD/src/cli/bottega-cli" new "$DIR/proj" --from "$DIR/photos" >/dev/null || { echo "FAIL: bottega-cli new"; exit 1; }
BOTTEGA_BACKBONE_DIR=$SHARED/models /usr/bin/time -o "$DIR/time" -f "%M %e %U %S" \
  "$BUILD/src/cli/bottega-cli" train "$DIR/proj" --preset transfer --epochs 1 -q >/dev/null \
  || { echo "FAIL: bottega-cli train"; exit 1; }
read -r rss_kb wall user sys < "$DIR/time"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/python3 - "$rss_kb" "$wall" "$user" "$sys" "$N" <<'PY'
import sys
rss, wall, user, sys_, n = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
mib = rss / 1024
print(f"peak RSS {mib:.1f} MiB; {1000 * (user + sys_) / n:.1f} CPU ms and {1000 * wall / n:.1f} wall ms per photo "
      f"(decode + embed + 1 epoch of the head)")
print("target (peak RSS < 300 MiB): " + ("MET" if mib < 300 else "NOT MET"))
PY
