#!/bin/sh
# bench-finetune.sh: fine-tuning MobileNet V2's top blocks (#27).
#  1. One training step (batch 32) of the top N blocks + head: Bottega beside PyTorch (torchvision
#     mobilenet_v2, random weights, same shapes, batch norm folded away as in the TFLite graph) at
#     2 threads and at 1 (OPENBLAS_NUM_THREADS=1), alternated, twice; uptime before each round.
#  2. flowers12 end to end: `bottega-cli new P --from train/`, `train P --preset transfer
#     --finetune-blocks N` (everything else default), then every photo of test/ predicted:
#     accuracy, wall and CPU time, peak RSS.
# Usage: bench/bench-finetune.sh [BUILD_DIR] [N…]   (BOTTEGA_SHARED_DIR: default ../shared)
set -e
BUILD=${1:-_build}
[ $# -gt 0 ] && shift
BLOCKS=${*:-0 1 2 3}
SHARED=$(realpath "${BOTTEGA_SHARED_DIR:-$(dirname "$0")/../../shared}")
MODEL=$SHARED/models/mobilenet_v2_1.0_224_quant.tflite
CLI=$BUILD/src/cli/bottega-cli
PY=/usr/bin/python3
HERE=$(dirname "$0")
[ -f "$MODEL" ] || { echo "SKIP: $MODEL not found"; exit 0; }

echo "== one fine-tuning step, batch 32 (CPU s/step is the number to read on a busy machine)"
[ -n "${SKIP_STEP:-}" ] || for round in 1 2; do
  uptime
  for nb in 1 2 3; do
    "$BUILD/bench/bench-finetune-step" "$MODEL" $nb 32 10 2
    $PY "$HERE/torch_finetune_step.py" $nb 32 10 2
    OPENBLAS_NUM_THREADS=1 "$BUILD/bench/bench-finetune-step" "$MODEL" $nb 32 10 1
    OPENBLAS_NUM_THREADS=1 $PY "$HERE/torch_finetune_step.py" $nb 32 10 1
  done
done

echo "== flowers12: train/ → project, transfer preset, --finetune-blocks N; test/ predicted"
echo "   (one project: the first N computes the embeddings, later ones find them cached)"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
P=$TMP/p
"$CLI" new "$P" --from "$SHARED/images/flowers12/train" > /dev/null
for n in $BLOCKS; do
  uptime
  BOTTEGA_BACKBONE_DIR=$SHARED/models /usr/bin/time -f "%e %U %S %M" -o "$TMP/time" \
    "$CLI" train "$P" --preset transfer --finetune-blocks "$n" > "$TMP/log" 2>&1 || { tail "$TMP/log"; exit 1; }
  M=$(ls "$P"/models/*.bottega-model | tail -1)
  BOTTEGA_BACKBONE_DIR=$SHARED/models "$CLI" predict "$M" "$SHARED/images/flowers12/test" --csv "$TMP/pred.csv" > /dev/null
  ACC=$(awk -F, 'NR > 1 { n++; split($1, p, "/"); if (p[length(p) - 1] == $2) ok++ } END { printf "%.1f%% of %d", 100 * ok / n, n }' "$TMP/pred.csv")
  read WALL USR SYS RSS < "$TMP/time"
  EPOCHS=$(grep -c "step .*val_loss.*(best)\|step .*val_loss" "$TMP/log" || true)
  printf "finetune-blocks=%s  test accuracy %s  wall %ss  cpu %.0fs  peak RSS %d MiB  (%s)\n" \
    "$n" "$ACC" "$WALL" "$(echo "$USR + $SYS" | bc)" $((RSS / 1024)) "$(grep -o 'saved model is epoch [0-9]*' "$TMP/log" | head -1)"
done
