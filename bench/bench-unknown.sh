#!/usr/bin/env bash
# bench-unknown.sh [BUILD] [EPOCHS] [PROJECT]: issue #23's "none of these" bar. A Fashion-MNIST
# Small CNN (trained here for EPOCHS, default 5, by bench-calibration.sh; or the model of an
# already trained PROJECT, e.g. the one bench-calibration.sh keeps with BENCH_PROJECT=DIR), then
# `predict --json` on 1,000 of its test-split images and on 1,000 far-out images made here as
# grey 28×28 PNGs: 250 uniform noise, 250 blank (one grey level each), 250 Shapes drawings
# (bench-make-shapes), 250 crops of the photos in ../shared/images. Prints the AUROC of
# unknown_score (far-out = positive) and the share of each kind called unknown at the model's own
# threshold. Bar: AUROC >= 0.95 and >= 90 % of the far-out images rejected.
# For a model whose score combines the energy with the distance to the class centroids (its
# JSON has "unknown_parts"), it also predicts 1,000 validation-split images and compares three
# rules on the same model, each with its threshold fitted on those validation images for 95 %
# accepted: the energy alone (the score before the centroids), the distance alone, and the
# model's own combined score (its threshold as saved, fitted on the whole validation split).
# BENCH_N (default 1000) sets the counts. BENCH_LAYERS=1 (engine presets) also compares, on the
# same images, the centroid distance on two layers — the first dense layer's input, which the
# score uses, and the last one's (the penultimate activations) — alone, and combined with the
# energy by max and by sum (bench-unknown-features; centroids from every 8th training image).
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

# in-distribution: N images spread evenly over the test split, and N over the validation split
# (labels.csv: path,class,split; it lists the images class by class, so the first N would be
# one or two classes only — as this bench took them before session 9)
mkdir -p "$WORK/in" "$WORK/val" "$WORK/out"
/usr/bin/python3 - "$PROJECT" "$N" "$WORK" <<'EOF'
import csv, os, sys
project, n, work = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rows = {"test": [], "val": []}
with open(os.path.join(project, "labels.csv"), newline="") as f:
    for row in csv.reader(f):
        if len(row) >= 3 and row[2] in rows:
            rows[row[2]].append(row)
dest = {"test": os.path.join(work, "in"), "val": os.path.join(work, "val")}
for split, got in rows.items():
    picked = [got[i * len(got) // n] for i in range(n)] if len(got) > n else got
    for i, row in enumerate(picked):
        path = row[0] if os.path.isabs(row[0]) else os.path.join(project, row[0])
        os.symlink(os.path.abspath(path), os.path.join(dest[split], "%05d.png" % i))
    rows[split] = picked
print("in-distribution: %d test-split images of %d classes (%d validation-split images for the rules' thresholds)"
      % (len(rows["test"]), len(set(r[1] for r in rows["test"])), len(rows["val"])))
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

if [ "${BENCH_LAYERS:-0}" = 1 ]; then
  /usr/bin/python3 - "$PROJECT" "$WORK" <<'EOF'
import csv, os, sys
project, work = sys.argv[1], sys.argv[2]
train = [r for r in csv.reader(open(os.path.join(project, "labels.csv"), newline="")) if len(r) >= 3 and r[2] == "train"][::8]
with open(os.path.join(work, "train.txt"), "w") as f, open(os.path.join(work, "train.lab"), "w") as g:
    for r in train:
        f.write((r[0] if os.path.isabs(r[0]) else os.path.join(project, r[0])) + "\n")
        g.write(r[1] + "\n")
for d in ("val", "in", "out"):
    with open(os.path.join(work, d + ".txt"), "w") as f:
        for name in sorted(os.listdir(os.path.join(work, d))):
            f.write(os.path.join(work, d, name) + "\n")
EOF
  for d in train val in out; do
    "$BUILD/bench/bench-unknown-features" "$MODEL" < "$WORK/$d.txt" > "$WORK/$d.bin"
  done
  T=$(grep -a -m1 '^temperature=' "$MODEL" | cut -d= -f2)
  /usr/bin/python3 - "$WORK" "${T:-1}" <<'EOF'
import os, sys
import numpy as np
work, temperature = sys.argv[1], float(sys.argv[2])
def load(name):
    raw = open(os.path.join(work, name + ".bin"), "rb").read()
    k, d1, d2 = np.frombuffer(raw[:12], dtype=np.int32)
    a = np.frombuffer(raw[12:], dtype=np.float32).reshape(-1, 1 + k + d1 + d2).astype(np.float64)
    return a[:, 1:1 + k], a[:, 1 + k:1 + k + d1], a[:, 1 + k + d1:]
tr, va, te, ou = (load(n) for n in ("train", "val", "in", "out"))
names = open(os.path.join(work, "train.lab")).read().split()
classes = sorted(set(names))
y = np.array([classes.index(c) for c in names])
kinds = np.array([os.path.basename(n).split("-")[0] for n in open(os.path.join(work, "out.txt")).read().split()])
def energy(z):
    m = (z / temperature).max(1, keepdims=True)
    return -temperature * (m[:, 0] + np.log(np.exp(z / temperature - m).sum(1)))
def auroc(pos, neg):
    r = np.concatenate([pos, neg]).argsort().argsort() + 1.0
    return (r[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg))
def q(s, p):
    s = np.sort(s)
    return s[max(0, min(len(s) - 1, int(np.ceil(p * len(s))) - 1))]
def report(name, v, t, o):
    th = q(v, 0.95)
    per = ", ".join("%s %.1f %%" % (k, 100 * (o[kinds == k] > th).mean()) for k in ("noise", "blank", "shapes", "photo"))
    print("  %-44s AUROC %.4f  far-out rejected %5.1f %%  test accepted %5.1f %%  (%s)"
          % (name, auroc(o, t), 100 * (o > th).mean(), 100 * (t <= th).mean(), per))
def distance(layer):
    # as bt_centroids_fit + bt_centroids_distance
    x = tr[layer]
    mu = np.stack([x[y == c].mean(0) for c in range(len(classes))])
    sd = np.stack([x[y == c].std(0) for c in range(len(classes))])
    sp = np.sqrt(sd ** 2 + (0.1 * sd.mean()) ** 2)
    f = lambda z: np.sqrt((((z[:, None, :] - mu[None]) / sp[None]) ** 2).mean(2)).min(1)
    return f(va[layer]), f(te[layer]), f(ou[layer])
def scaled(x, v):
    c = np.median(v)
    return (x - c) / (q(v, 0.95) - c)
E = tuple(energy(s[0]) for s in (va, te, ou))
print("rules on the same model, each threshold fitted on the validation images for 95 % accepted:")
report("energy alone", *E)
print("  (dense input: the first dense layer's input, which the score uses; penultimate: the last one's)")
for layer, label in ((1, "dense input"), (2, "penultimate")):
    D = distance(layer)
    report("distance (%s)" % label, *D)
    report("max(energy, distance (%s))" % label, *(np.maximum(scaled(e, E[0]), scaled(d, D[0])) for e, d in zip(E, D)))
    report("energy + distance (%s)" % label, *(scaled(e, E[0]) + scaled(d, D[0]) for e, d in zip(E, D)))
EOF
fi
"$CLI" predict "$MODEL" "$WORK/in" --json > "$WORK/in.json"
"$CLI" predict "$MODEL" "$WORK/out" --json > "$WORK/out.json"
if grep -q unknown_parts "$WORK/in.json"; then
  "$CLI" predict "$MODEL" "$WORK/val" --json > "$WORK/val.json"
else
  echo "[]" > "$WORK/val.json"
fi
/usr/bin/python3 - "$WORK/in.json" "$WORK/out.json" "$WORK/val.json" <<'EOF'
import json, math, os, sys
def load(path):
    text, objs, dec, i = open(path).read(), [], json.JSONDecoder(), 0
    while True:
        while i < len(text) and text[i] in " \n\r\t,[]":
            i += 1
        if i >= len(text):
            return objs
        obj, i = dec.raw_decode(text, i)
        objs.append(obj)
inside, outside, val = load(sys.argv[1]), load(sys.argv[2]), load(sys.argv[3])
def auroc(pos, neg):
    # the Mann-Whitney statistic: P(score of a far-out image > score of a test image), ties half
    ranked = sorted([(s, 1) for s in pos] + [(s, 0) for s in neg])
    rank_sum, i = 0.0, 0
    while i < len(ranked):
        j = i
        while j < len(ranked) and ranked[j][0] == ranked[i][0]:
            j += 1
        mid = (i + 1 + j) / 2.0
        rank_sum += mid * sum(1 for k in range(i, j) if ranked[k][1] == 1)
        i = j
    return (rank_sum - len(pos) * (len(pos) + 1) / 2.0) / (len(pos) * len(neg))
def fit95(scores):
    # as bt_calibration_fit_threshold: the smallest score at or below which 95 % lie
    s = sorted(scores)
    return s[max(0, min(len(s) - 1, math.ceil(0.95 * len(s)) - 1))]
def report(name, score, unknown):
    a = auroc([score(o) for o in outside], [score(o) for o in inside])
    rejected = sum(1 for o in outside if unknown(o)) / len(outside)
    accepted_in = sum(1 for o in inside if not unknown(o)) / len(inside)
    kinds = []
    for kind in ("noise", "blank", "shapes", "photo"):
        sel = [o for o in outside if os.path.basename(o["image"]).startswith(kind + "-")]
        if sel:
            kinds.append("%s %.1f %%" % (kind, 100.0 * sum(1 for o in sel if unknown(o)) / len(sel)))
    print("%-42s AUROC %.4f  far-out rejected %5.1f %%  test accepted %5.1f %%  (%s)"
          % (name, a, 100 * rejected, 100 * accepted_in, ", ".join(kinds)))
    return a, rejected
print("test images %d, far-out %d" % (len(inside), len(outside)))
if val and all("unknown_parts" in o for o in inside + outside + val):
    # the same model under three rules; the first is the score before the centroids
    for part, label in (("energy", "energy alone (the old score)"), ("distance", "nearest-centroid distance alone")):
        t = fit95([o["unknown_parts"][part] for o in val])
        report(label + ", val 95 %", lambda o, p=part: o["unknown_parts"][p], lambda o, p=part, t=t: o["unknown_parts"][p] > t)
    print("validation images accepted at the model's own threshold: %.1f %% of %d"
          % (100.0 * sum(1 for o in val if not o["unknown"]) / len(val), len(val)))
a, rejected = report("the model's unknown_score and threshold", lambda o: o["unknown_score"], lambda o: o["unknown"])
print("AUROC %.4f (bar >= 0.95: %s); far-out rejected %.1f %% (bar >= 90 %%: %s)" %
      (a, "met" if a >= 0.95 else "NOT met", 100 * rejected, "met" if rejected >= 0.9 else "NOT met"))
EOF
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
