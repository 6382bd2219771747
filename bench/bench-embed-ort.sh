#!/usr/bin/env bash
# bench-embed-ort.sh [BUILD] [IMAGES] [ROUNDS] [BEFORE]: Bottega's backbone embeddings beside ONNX Runtime
# 1.30 (npm onnxruntime-node, MLAS kernels) for every catalogue backbone (data/backbones.ini)
# present in ../shared/models, alternated ROUNDS times (default 2) in this one run.
#   Bottega: bench-embed --machine, 2 workers (the embedding pool), the default path (the integer
#     one where the CPU has AVX2), IMAGES images (default 48), without and with decoding a
#     1280x720 JPEG and resizing it.
#   ONNX Runtime: the same architecture in float from torchvision (bench/torch_backbones_onnx.py,
#     opset 13, ending at the global average pool), at 1 and 2 intra-op threads and batch 1 and
#     8; its best is taken. "With decode" adds the decode + resize time (CPU, and wall) that
#     decoding added to Bottega's run of the same photo (ONNX Runtime has no decoder; it is
#     given ours at the same cost).
# The numbers compared are the best (lowest) ms per image of each side over the rounds; the load
# average is printed before and after. Target (#19): ONNX Runtime / Bottega >= 1.2 in CPU time
# and in wall time. Skips with a message without ../shared/models, node, npm's registry or torch.
# BEFORE: a folder holding an earlier build's bench/bench-embed (e.g. a copy of it made before a
#   kernel change, with src/ → the build's src/); it runs as a third side, "before", alternated
#   with the two others, and its ratio to this build is printed.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-_build}
IMAGES=${2:-48}
ROUNDS=${3:-2}
BEFORE=${4:-}
ORT_VERSION=1.30.0
SHARED=${BOTTEGA_SHARED_DIR:-../shared}
PHOTO=$SHARED/images/cat_720p.jpg
[ -d "$SHARED/models" ] && [ -f "$PHOTO" ] || { echo "SKIP: $SHARED/models or $PHOTO is absent"; exit 0; }
[ -x /usr/bin/node ] || { echo "SKIP: /usr/bin/node is not installed"; exit 0; }
[ -x "$BUILD/bench/bench-embed" ] || { echo "SKIP: build $BUILD/bench/bench-embed first"; exit 0; }
modules=$(bench/ort-modules.sh "$BUILD" "$ORT_VERSION") \
  || { echo "SKIP: npm could not install onnxruntime-node@$ORT_VERSION (no registry?)"; exit 0; }

DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
out=$(/usr/bin/python3 bench/torch_backbones_onnx.py "$DIR" 2>/dev/null | tail -1)
case "$out" in wrote*) ;; *) echo "SKIP: torchvision references: $out"; exit 0 ;; esac
# An outside reader checks the reference files.
/usr/bin/python3 -c "import onnx, sys; [onnx.checker.check_model(p) for p in sys.argv[1:]]" "$DIR"/*.onnx \
  || { echo "FAIL: onnx.checker rejects a reference graph"; exit 1; }

# catalogue id, file, input size → the reference of the same architecture
mapfile -t rows < <(awk -F= '/^\[/{id=substr($0,2,length($0)-2)} /^file=/{f=$2} /^input=/{print id" "f" "$2}' data/backbones.ini)
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs); $IMAGES images per run, $ROUNDS rounds"
RES="$DIR/results"
for round in $(seq 1 "$ROUNDS"); do
  for row in "${rows[@]}"; do
    read -r id file size <<<"$row"
    model="$SHARED/models/$file"
    [ -f "$model" ] || { [ "$round" = 1 ] && echo "$id: not in $SHARED/models, skipped"; continue; }
    case "$id" in
      *mobilenet_v2_1.0_224*) ref=v2_224 ;;
      mobilenet_v1_1.0_224*) ref=v1_1.0_224 ;;
      mobilenet_v1_0.5_160*) ref=v1_0.5_160 ;;
      *) [ "$round" = 1 ] && echo "$id: no ONNX reference of its architecture, skipped"; continue ;;
    esac
    line=$("$BUILD/bench/bench-embed" --machine --threads 2 --images "$IMAGES" --model "$model" --image "$PHOTO") \
      || { echo "FAIL: bench-embed on $file"; exit 1; }
    echo "round $round  $(printf '%-48s' "$id") bottega            $line"
    echo "$id bottega $line" >> "$RES"
    if [ -n "$BEFORE" ]; then
      line=$("$BEFORE/bench/bench-embed" --machine --threads 2 --images "$IMAGES" --model "$model" --image "$PHOTO") \
        || { echo "FAIL: $BEFORE's bench-embed on $file"; exit 1; }
      echo "round $round  $(printf '%-48s' "$id") before             $line"
      echo "$id before $line" >> "$RES"
    fi
    for threads in 1 2; do
      for batch in 1 8; do
        line=$(NODE_PATH="$modules" /usr/bin/node bench/ort-time.js "$DIR/$ref.onnx" "$IMAGES" "$threads" "$batch" "$size") \
          || { echo "FAIL: onnxruntime on $ref.onnx"; exit 1; }
        echo "round $round  $(printf '%-48s' "$id") ort t$threads b$batch        $line"
        echo "$id ort $line" >> "$RES"
      done
    done
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
[ -f "$RES" ] || { echo "SKIP: no catalogue backbone in $SHARED/models"; exit 0; }
/usr/bin/python3 - "$RES" <<'PY'
import sys
rows = {}
for line in open(sys.argv[1]):
    f = line.split()
    kv = {f[i]: f[i + 1] for i in range(2, len(f) - 1, 2)}
    rows.setdefault(f[0], {}).setdefault(f[1], []).append(kv)
met = True
v2_met = any(bb.startswith("mobilenet_v2_1.0_224") for bb in rows)
print(f"{'backbone':48s} {'':14s} {'Bottega':>8s} {'ORT':>8s} {'ORT/Bottega':>12s}")
for bb, sides in rows.items():
    b, o = sides["bottega"], sides["ort"]
    b_cpu = min(float(r["cpu_ms"]) for r in b)
    b_wall = min(float(r["wall_ms"]) for r in b)
    dec_cpu = min(float(r["decode_cpu_ms"]) for r in b)
    dec_wall = min(float(r["decode_wall_ms"]) for r in b)
    decode = max(dec_cpu - b_cpu, 0.0)   # decode + resize CPU ms per image, measured by Bottega
    decode_wall = max(dec_wall - b_wall, 0.0)   # and what it added to Bottega's wall time
    o_cpu = min(float(r["cpu_ms"]) for r in o)
    o_wall = min(float(r["wall_ms"]) for r in o)
    path = b[0]["path"]
    for what, bv, ov in (("CPU ms", b_cpu, o_cpu), ("wall ms", b_wall, o_wall),
                         ("CPU ms+decode", dec_cpu, o_cpu + decode),
                         ("wall ms+decode", dec_wall, o_wall + decode_wall)):
        ratio = ov / bv
        if what in ("CPU ms", "wall ms") and ratio < 1.2:
            met = False
            if bb.startswith("mobilenet_v2_1.0_224"):
                v2_met = False
        print(f"{bb:48s} {what:14s} {bv:8.2f} {ov:8.2f} {ratio:11.2f}x" + (f"   ({path} path)" if what == "CPU ms" else ""))
for bb, sides in rows.items():
    if "before" in sides:
        b, o = sides["bottega"], sides["before"]
        for what in ("cpu_ms", "wall_ms"):
            bv, ov = min(float(r[what]) for r in b), min(float(r[what]) for r in o)
            print(f"{bb:48s} {what + ' before':14s} {ov:8.2f} -> {bv:8.2f}   before/now {ov / bv:5.2f}x")
print("target of #19 (ONNX Runtime / Bottega >= 1.2x in CPU and wall time, MobileNet V2 1.0/224): "
      + ("MET" if v2_met else "NOT MET"))
print("every catalogue backbone >= 1.2x in CPU and wall time (stricter than #19): "
      + ("MET" if met else "NOT MET"))
PY
