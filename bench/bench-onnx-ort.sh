#!/usr/bin/env bash
# bench-onnx-ort.sh [BUILD] [IMAGES] [ROUNDS]: ONNX Runtime 1.30 (npm onnxruntime-node, CPU, one
# intra-op thread) ms per image on Bottega's ONNX of a MobileNet V2 transfer model (both forms)
# beside the torchvision-exported equivalent, alternated ROUNDS times in this one run; prints the
# load average before and after (the CPU time per image is the number to compare on a loaded box).
# Skips with a message without ../shared/models, node, npm's registry or python3-torch.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-_build}
IMAGES=${2:-40}
ROUNDS=${3:-3}
ORT_VERSION=1.30.0
BACKBONE=${BOTTEGA_SHARED_DIR:-../shared}/models/mobilenet_v2_1.0_224_quant.tflite
[ -f "$BACKBONE" ] || { echo "SKIP: $BACKBONE is absent"; exit 0; }
[ -x /usr/bin/node ] || { echo "SKIP: /usr/bin/node is not installed"; exit 0; }

modules=$(bench/ort-modules.sh "$BUILD" "$ORT_VERSION") \
  || { echo "SKIP: npm could not install onnxruntime-node@$ORT_VERSION (no registry?)"; exit 0; }

DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
"$BUILD/bench/bench-onnx-write" "$BACKBONE" "$DIR" || exit 1
out=$(/usr/bin/python3 bench/torch_mobilenet_onnx.py "$DIR/torch.onnx" 2>/dev/null | tail -1)
case "$out" in wrote*) ;; *) echo "SKIP: torchvision reference: $out"; exit 0 ;; esac

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs)"
echo "onnxruntime-node $ORT_VERSION, $IMAGES images per run, 1 thread, batch 1, 224x224"
RES="$DIR/results"
for round in $(seq 1 "$ROUNDS"); do
  for m in bottega-fast torch bottega-opencv; do
    line=$(NODE_PATH="$modules" /usr/bin/node bench/ort-time.js "$DIR/$m.onnx" "$IMAGES" 1) || exit 1
    echo "round $round  $(printf '%-15s' "$m") $line"
    echo "$m $line" >> "$RES"
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/python3 - "$RES" <<'PY'
import sys, statistics
cpu = {}
for line in open(sys.argv[1]):
    f = line.split()
    cpu.setdefault(f[0], []).append(float(f[2]))
best = {k: min(v) for k, v in cpu.items()}
med = {k: statistics.median(v) for k, v in cpu.items()}
for k in cpu:
    print(f"{k:15s} CPU ms/image: best {best[k]:.2f}, median {med[k]:.2f}")
t = best["torch"]
for k in ("bottega-fast", "bottega-opencv"):
    print(f"{k} / torchvision (best CPU ms): {best[k] / t:.2f}x  (median: {med[k] / med['torch']:.2f}x)")
PY
