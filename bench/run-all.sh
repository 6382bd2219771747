#!/usr/bin/env bash
# run-all.sh [BUILD]: Bottega beside its best peers in one run, alternated, ending with the ratios
# and one line per target of #25 saying met or not. Run through `./run bench`.
#   training: bench-train (the engine alone), `bottega-cli train` (the product path: a whole epoch
#     with validation on a 28×28 grey Fashion-MNIST PNG project), PyTorch 1.13 at its best setting
#     (OPENBLAS_NUM_THREADS=1, torch.set_num_threads(THREADS)) and at its default;
#   inference: bench-infer and ONNX Runtime 1.30 (npm onnxruntime-node, 1 and 2 intra-op threads)
#     on the same network exported by Bottega, Small CNN and Deeper CNN, batch 256 and batch 1;
#   the GEMM-shape limit from a measured sgemm rate (bench-train --gemm-limit).
# The machine may be shared: each rate comes with its CPU time per image, and the load average
# is printed before every step. Environment (defaults): BENCH_ROUNDS (2), BENCH_EPOCHS (5),
# BENCH_LIMIT (0 = all 60,000 training images per epoch), BENCH_TEST_LIMIT (0 = all 10,000 test images), BENCH_THREADS (2), BENCH_CLI (1: run
# bottega-cli train; its project is made once in BENCH_WORK, or BENCH_CLI_PROJECT: a Bottega
# project of 28×28 grey Fashion-MNIST PNGs made before), BENCH_ORT (1), BENCH_PHOTOS (1),
# BENCH_TRAIN (1; 0: inference rows only), BENCH_IM2COL (1: also the engine's old im2col + sgemm
# path, BOTTEGA_CONV=im2col, as impl bottega-im2col, to show what Winograd and the direct conv gain),
# BENCH_PRESETS (the training presets, "small-cnn mlp"), BENCH_TORCH_PRESETS (those of them PyTorch
# also trains, the same), BENCH_OLD_BUILD (another build folder, e.g. of main: its bench-train and
# bench-infer run right after this build's, as impl bottega-old, to show what a change gained).
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-_build}
ROUNDS=${BENCH_ROUNDS:-2}
EPOCHS=${BENCH_EPOCHS:-5}
LIMIT=${BENCH_LIMIT:-0}
TEST_LIMIT=${BENCH_TEST_LIMIT:-0}   # test images scored per epoch, 0 = all 10,000
THREADS=${BENCH_THREADS:-2}
PRESETS=${BENCH_PRESETS:-small-cnn mlp}
TORCH_PRESETS=" ${BENCH_TORCH_PRESETS:-$PRESETS} "
OLD=${BENCH_OLD_BUILD:-}
WORK=${BENCH_WORK:-$BUILD/bench/work}
ORT_VERSION=1.30.0
OUT=$(mktemp)
TMP=$(mktemp -d)
trap 'rm -rf "$OUT" "$TMP"' EXIT
mkdir -p "$WORK"

load () { echo "  [load average $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs]"; }
have_torch=0
/usr/bin/python3 -c "import torch" 2>/dev/null && have_torch=1

TRAIN=${BENCH_TRAIN:-1}
# ---- the GEMM-shape limit ----
if [ "$TRAIN" = 1 ]; then
echo "== GEMM-shape limit (Small CNN training GEMMs at the engine's shapes, single-threaded sgemm × $THREADS)"
load
"$BUILD/bench/bench-train" --gemm-limit --threads "$THREADS" | tee -a "$OUT"
fi

# ---- the product path's project (made once) ----
PROJECT=${BENCH_CLI_PROJECT:-}
if [ "$TRAIN" = 1 ] && [ "${BENCH_CLI:-1}" = 1 ] && [ -z "$PROJECT" ]; then
  if [ ! -f "$WORK/fmnist-project/.bench-ready" ]; then
    echo "== making the 28×28 grey Fashion-MNIST PNG project for bottega-cli (once, in $WORK)"
    rm -rf "$WORK/fmnist-tree" "$WORK/fmnist-project"
    if "$BUILD/tools/bottega-fmnist-to-png" "$WORK/fmnist-tree" >/dev/null &&
       "$BUILD/src/cli/bottega-cli" new "$WORK/fmnist-project" --from "$WORK/fmnist-tree" >/dev/null; then
      touch "$WORK/fmnist-project/.bench-ready"
    fi
  fi
  [ -f "$WORK/fmnist-project/.bench-ready" ] && PROJECT="$WORK/fmnist-project"
  [ -n "$PROJECT" ] || echo "SKIP bottega-cli train: no Fashion-MNIST project (dataset-fashion-mnist installed?)"
fi

# bottega-cli train, one epoch on a copy of the project; prints a RESULT line from the rate it
# printed for the epoch (validation included) and its CPU time per trained image.
cli_train () {
  rm -rf "$TMP/p" && cp -a "$PROJECT" "$TMP/p"
  /usr/bin/time -f "%U %S" -o "$TMP/time" "$BUILD/src/cli/bottega-cli" train "$TMP/p" --preset small-cnn \
    --size 28 --color grey --epochs 1 --batch-size 64 --optimizer adam --lr 0.001 --augment none \
    --early-stopping 0 --threads "$THREADS" --seed 1 > "$TMP/cli.log" 2>&1 || { tail -3 "$TMP/cli.log"; return; }
  local ips n cpu
  ips=$(grep -o "[0-9,]* img/s" "$TMP/cli.log" | tail -1 | tr -d ', img/s')
  n=$(grep -o "step [0-9]*/[0-9]*" "$TMP/cli.log" | tail -1 | cut -d/ -f2)
  cpu=$(awk '{print $1 + $2}' "$TMP/time")
  grep -E "val_acc|Final test" "$TMP/cli.log" | tail -2 | sed 's/^/  /'
  echo "RESULT impl=bottega-cli preset=small-cnn train_ips=$ips cpu_ips=$(awk -v n="$n" -v c="$cpu" 'BEGIN{printf "%.0f", n*64/c}') (process CPU incl. decoding, validation and test)"
}

# ---- training, alternated ----
for round in $(seq 1 "$([ "$TRAIN" = 1 ] && echo "$ROUNDS" || echo 0)"); do
  for preset in $PRESETS; do
    echo "== round $round, $preset: Bottega (bench-train, $EPOCHS epochs)"; load
    "$BUILD/bench/bench-train" --preset "$preset" --epochs "$EPOCHS" --threads "$THREADS" --limit "$LIMIT" \
      --test-limit "$TEST_LIMIT" | grep -E "^epoch|^RESULT" | sed "s/^RESULT /RESULT round=$round /" | tee -a "$OUT"
    if [ -n "$OLD" ]; then
      echo "== round $round, $preset: Bottega's other build $OLD (bench-train, $EPOCHS epochs)"; load
      "$OLD/bench/bench-train" --preset "$preset" --epochs "$EPOCHS" --threads "$THREADS" --limit "$LIMIT" \
        --test-limit "$TEST_LIMIT" | grep -E "^epoch|^RESULT" \
        | sed "s/^RESULT impl=bottega /RESULT round=$round impl=bottega-old /" | tee -a "$OUT"
    fi
    if [ $have_torch -eq 1 ] && [[ "$TORCH_PRESETS" == *" $preset "* ]]; then
      echo "== round $round, $preset: PyTorch, OPENBLAS_NUM_THREADS=1 (its best setting)"; load
      OPENBLAS_NUM_THREADS=1 /usr/bin/python3 -u bench/torch_fmnist.py --preset "$preset" --epochs "$EPOCHS" \
        --threads "$THREADS" --limit "$LIMIT" --test-limit "$TEST_LIMIT" | grep -E "^epoch|^RESULT" \
        | sed "s/^RESULT impl=pytorch /RESULT round=$round impl=pytorch-best /" | tee -a "$OUT"
      if [ "$preset" = small-cnn ]; then
        echo "== round $round, $preset: PyTorch, default threading"; load
        /usr/bin/python3 -u bench/torch_fmnist.py --preset "$preset" --epochs "$EPOCHS" --threads "$THREADS" \
          --limit "$LIMIT" --test-limit "$TEST_LIMIT" | grep -E "^RESULT" | sed "s/^RESULT impl=pytorch /RESULT round=$round impl=pytorch-default /" \
          | tee -a "$OUT"
      fi
    fi
    if [ "$preset" = small-cnn ] && [ -n "$PROJECT" ]; then
      echo "== round $round, small-cnn: bottega-cli train (one epoch, validation included)"; load
      cli_train | sed "s/^RESULT /RESULT round=$round /" | tee -a "$OUT"
    fi
  done
done

# ---- inference beside ONNX Runtime ----
modules=""
if [ "${BENCH_ORT:-1}" = 1 ] && [ -x /usr/bin/node ]; then
  for prefix in "$BUILD/tests/export/onnxruntime-node-$ORT_VERSION" "$BUILD/bench/onnxruntime-node-$ORT_VERSION"; do
    [ -f "$prefix/node_modules/onnxruntime-node/package.json" ] && { modules="$prefix/node_modules"; break; }
  done
  if [ -z "$modules" ]; then
    prefix="$BUILD/bench/onnxruntime-node-$ORT_VERSION"
    mkdir -p "$prefix"
    # --ignore-scripts: the install script would download GPU libraries; the CPU one is in the package
    npm install --ignore-scripts --no-audit --no-fund --prefix "$prefix" "onnxruntime-node@$ORT_VERSION" >/dev/null 2>&1 \
      && modules="$prefix/node_modules"
  fi
fi
[ -n "$modules" ] || echo "SKIP ONNX Runtime: node or npm's onnxruntime-node@$ORT_VERSION is not available"
for preset in small-cnn deeper-cnn; do
  case $preset in small-cnn) shape="1 28 28" ;; *) shape="3 64 64" ;; esac
  "$BUILD/bench/bench-infer" --preset "$preset" --batch 1 --seconds 0.1 --onnx "$TMP/$preset.onnx" >/dev/null
  for round in $(seq 1 "$ROUNDS"); do
    for batch in 256 1; do
      echo "== round $round, $preset inference, batch $batch"; load
      for t in 1 2; do
        "$BUILD/bench/bench-infer" --preset "$preset" --batch "$batch" --threads "$t" --seconds 3 \
          | sed "s/^RESULT /RESULT round=$round /" | tee -a "$OUT"
        [ -n "$OLD" ] && "$OLD/bench/bench-infer" --preset "$preset" --batch "$batch" --threads "$t" --seconds 3 \
          | sed "s/^RESULT impl=bottega /RESULT round=$round impl=bottega-old /" | tee -a "$OUT"
        [ "${BENCH_IM2COL:-1}" = 1 ] && BOTTEGA_CONV=im2col "$BUILD/bench/bench-infer" --preset "$preset" \
          --batch "$batch" --threads "$t" --seconds 3 \
          | sed "s/^RESULT impl=bottega /RESULT round=$round impl=bottega-im2col /" | tee -a "$OUT"
        [ -n "$modules" ] && NODE_PATH="$modules" /usr/bin/node bench/ort-infer.js "$TMP/$preset.onnx" $shape "$batch" "$t" 3 \
          | sed "s/^RESULT impl=ort /RESULT round=$round impl=ort preset=$preset /" | tee -a "$OUT"
      done
    done
  done
done

if [ "${BENCH_PHOTOS:-1}" = 1 ]; then
  echo
  echo "== phone photos: 12 MP JPEG decode + 224×224 and thumbnails beside PIL, import RSS"
  bench/bench-photos.sh "$BUILD" 5
fi

echo
echo "== summary ($ROUNDS rounds, $EPOCHS epochs, batch 64, $THREADS threads; everything in this one run)"
echo "   load average now: $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/python3 bench/run-all-summary.py "$OUT" "$EPOCHS"
