# bench-flowers12.sh: sourced by the flowers12 benchmarks (bench-recipe.sh, bench-tune-transfer.sh)
# with their arguments [BUILD] [ROUNDS]: sets BUILD, ROUNDS, FLOWERS (absolute), CLI, exports
# BOTTEGA_BACKBONE_DIR (the shared models), makes a work folder DIR removed on exit; exits 0 with a
# SKIP message without ../shared/images/flowers12, the default backbone or /usr/bin/time.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-_build}
ROUNDS=${2:-2}
SHARED=${BOTTEGA_SHARED_DIR:-../shared}
FLOWERS=$SHARED/images/flowers12
CLI=$BUILD/src/cli/bottega-cli
[ -d "$FLOWERS/train" ] || { echo "SKIP: $FLOWERS is absent"; exit 0; }
[ -f "$SHARED/models/mobilenet_v2_1.0_224_quant.tflite" ] || { echo "SKIP: the default backbone is absent"; exit 0; }
[ -x /usr/bin/time ] || { echo "SKIP: /usr/bin/time is not installed"; exit 0; }
export BOTTEGA_BACKBONE_DIR=$(cd "$SHARED/models" && pwd)
FLOWERS=$(cd "$FLOWERS" && pwd)

DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
