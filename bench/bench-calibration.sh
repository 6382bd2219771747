#!/usr/bin/env bash
# bench-calibration.sh [BUILD] [EPOCHS]: issue #23's calibration bar. Fashion-MNIST (Debian's
# dataset-fashion-mnist) as a PNG tree, the Small CNN trained EPOCHS (default 15) epochs by
# bottega-cli, then `evaluate --json` on the test split: the temperature fitted on the validation
# split and the expected calibration error (15 bins) before and after it. Bar: ece_after ≤ 0.02
# and lower than ece_before. BENCH_PROJECT=DIR keeps the trained project there (bench-unknown.sh
# reads its model: one training serves both bars).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-_build}
EPOCHS=${2:-15}
THREADS=${BENCH_THREADS:-2}
if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  echo "SKIP: needs Debian's dataset-fashion-mnist"
  exit 0
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
PNG="$WORK/png"
PROJECT="$WORK/fashion"
if [ -n "${BENCH_PROJECT:-}" ]; then
  PNG="$BENCH_PROJECT-png"   # the project's images: kept beside it
  PROJECT="$BENCH_PROJECT"
fi
"$BUILD/tools/bottega-fmnist-to-png" "$PNG" >/dev/null
"$BUILD/src/cli/bottega-cli" new "$PROJECT" --from "$PNG" | tail -1
start=$(date +%s)
"$BUILD/src/cli/bottega-cli" train "$PROJECT" --preset small-cnn --size 28 --color grey \
  --epochs "$EPOCHS" --batch-size 64 --optimizer adam --lr 0.001 --augment none \
  --early-stopping 0 --threads "$THREADS" --seed 1 | tail -2
echo "training: $(( $(date +%s) - start )) s, load average: $(cut -d' ' -f1-3 /proc/loadavg)"
"$BUILD/src/cli/bottega-cli" evaluate "$PROJECT" --json |
  /usr/bin/python3 -c 'import json,sys; e=json.load(sys.stdin); print("test N=%d accuracy=%.4f temperature=%.4f ece_before=%.4f ece_after=%.4f bar(ece_after<=0.02 and <ece_before)=%s" % (e["n"], e["accuracy"], e["temperature"], e["ece_before"], e["ece_after"], e["ece_after"] <= 0.02 and e["ece_after"] < e["ece_before"]))'
