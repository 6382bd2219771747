#!/usr/bin/env bash
# bench-unknown.sh [BUILD] [EPOCHS] [PROJECT]: issue #23's "none of these" bar. A Fashion-MNIST
# Small CNN (trained here for EPOCHS, default 5, by bench-calibration.sh; or the model of an
# already trained PROJECT, e.g. the one bench-calibration.sh keeps with BENCH_PROJECT=DIR), then
# `predict --json` on 1,000 of its test-split images and on 1,000 far-out images made here as
# grey 28×28 PNGs: 250 uniform noise, 250 blank (one grey level each), 250 Shapes drawings
# (bench-make-shapes), 250 crops of the photos in ../shared/images. Prints the AUROC of
# unknown_score (far-out = positive) and the share of each kind called unknown at the model's own
# threshold. Bar: AUROC >= 0.95 and >= 90 % of the far-out images rejected.
# BENCH_N (default 1000) sets both counts.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-_build}
EPOCHS=${2:-5}
PROJECT=${3:-}
N=${BENCH_N:-1000}
SHARED=${BOTTEGA_SHARED_DIR:-../shared}
CLI="$BUILD/src/cli/bottega-cli"
if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] && [ -z "$PROJECT" ]; then
  echo "SKIP: needs Debian's dataset-fashion-mnist"
  exit 0
fi
if [ ! -d "$SHARED/images" ]; then
  echo "SKIP: the shared photos ($SHARED/images) are absent: set BOTTEGA_SHARED_DIR"
  exit 0
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ -z "$PROJECT" ]; then   # the calibration bench's training (and its numbers), kept here
  PROJECT="$WORK/fashion"
  BENCH_PROJECT="$PROJECT" bash bench/bench-calibration.sh "$BUILD" "$EPOCHS"
fi
MODEL=$(ls -t "$PROJECT"/models/*.bottega-model | head -1)
echo "model: $MODEL"

# in-distribution: the first N images of the test split (labels.csv: path,class,split)
mkdir -p "$WORK/in" "$WORK/out"
/usr/bin/python3 - "$PROJECT" "$N" "$WORK/in" <<'EOF'
import csv, os, sys
project, n, dest = sys.argv[1], int(sys.argv[2]), sys.argv[3]
taken = 0
with open(os.path.join(project, "labels.csv"), newline="") as f:
    for row in csv.reader(f):
        if len(row) < 3 or row[2] != "test":
            continue
        path = row[0] if os.path.isabs(row[0]) else os.path.join(project, row[0])
        os.symlink(os.path.abspath(path), os.path.join(dest, "%05d.png" % taken))
        taken += 1
        if taken == n:
            break
print("in-distribution: %d test-split images" % taken)
EOF

"$BUILD/bench/bench-make-shapes" "$WORK/shapes" $(( (N / 4 + 3) / 4 )) 64 7 >/dev/null
/usr/bin/python3 - "$WORK/out" "$N" "$WORK/shapes" "$SHARED/images" <<'EOF'
import os, random, sys
from PIL import Image
import numpy as np
dest, n, shapes, photos = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
rng = np.random.default_rng(23)
random.seed(23)
quarter = n // 4
kinds = {"noise": quarter, "blank": quarter, "shapes": quarter, "photo": n - 3 * quarter}
def save(a, kind, i):
    Image.fromarray(a.astype(np.uint8), "L").save(os.path.join(dest, "%s-%04d.png" % (kind, i)))
for i in range(kinds["noise"]):
    save(rng.integers(0, 256, (28, 28)), "noise", i)
for i in range(kinds["blank"]):
    save(np.full((28, 28), rng.integers(0, 256)), "blank", i)
drawn = sorted(os.path.join(r, f) for r, _, fs in os.walk(shapes) for f in fs if f.endswith(".png"))
for i in range(kinds["shapes"]):
    img = Image.open(drawn[i % len(drawn)]).convert("L").resize((28, 28), Image.BILINEAR)
    save(np.asarray(img), "shapes", i)
exts = (".jpg", ".jpeg", ".bmp", ".png")
pics = sorted(os.path.join(r, f) for r, _, fs in os.walk(photos) for f in fs if f.lower().endswith(exts))
for i in range(kinds["photo"]):
    img = Image.open(pics[i % len(pics)]).convert("L")
    w, h = img.size
    s = int(min(w, h) * random.uniform(0.5, 1.0))
    x, y = random.randint(0, w - s), random.randint(0, h - s)
    save(np.asarray(img.crop((x, y, x + s, y + s)).resize((28, 28), Image.BILINEAR)), "photo", i)
print("far-out: " + ", ".join("%d %s" % (v, k) for k, v in kinds.items()) + " (%d photos to crop from)" % len(pics))
EOF

"$CLI" predict "$MODEL" "$WORK/in" --json > "$WORK/in.json"
"$CLI" predict "$MODEL" "$WORK/out" --json > "$WORK/out.json"
/usr/bin/python3 - "$WORK/in.json" "$WORK/out.json" <<'EOF'
import json, os, sys
def load(path):
    text, objs, dec, i = open(path).read(), [], json.JSONDecoder(), 0
    while True:
        while i < len(text) and text[i] in " \n\r\t,[]":
            i += 1
        if i >= len(text):
            return objs
        obj, i = dec.raw_decode(text, i)
        objs.append(obj)
inside, outside = load(sys.argv[1]), load(sys.argv[2])
pos = [o["unknown_score"] for o in outside]
neg = [o["unknown_score"] for o in inside]
# AUROC as the Mann-Whitney statistic: P(score of a far-out image > score of a test image), ties half
ranked = sorted([(s, 1) for s in pos] + [(s, 0) for s in neg])
rank_sum, i = 0.0, 0
while i < len(ranked):
    j = i
    while j < len(ranked) and ranked[j][0] == ranked[i][0]:
        j += 1
    mid = (i + 1 + j) / 2.0
    rank_sum += mid * sum(1 for k in range(i, j) if ranked[k][1] == 1)
    i = j
auroc = (rank_sum - len(pos) * (len(pos) + 1) / 2.0) / (len(pos) * len(neg))
rejected = sum(1 for o in outside if o["unknown"]) / len(outside)
accepted_in = sum(1 for o in inside if not o["unknown"]) / len(inside)
print("test images %d, far-out %d" % (len(inside), len(outside)))
for kind in ("noise", "blank", "shapes", "photo"):
    sel = [o for o in outside if os.path.basename(o["image"]).startswith(kind + "-")]
    if sel:
        print("  %-6s %3d: %5.1f %% called unknown" % (kind, len(sel), 100.0 * sum(o["unknown"] for o in sel) / len(sel)))
print("test images accepted at the model's threshold: %.1f %% (fitted for 95 %% of validation)" % (100 * accepted_in))
print("AUROC %.4f (bar >= 0.95: %s); far-out rejected %.1f %% (bar >= 90 %%: %s)" %
      (auroc, "met" if auroc >= 0.95 else "NOT met", 100 * rejected, "met" if rejected >= 0.9 else "NOT met"))
EOF
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
