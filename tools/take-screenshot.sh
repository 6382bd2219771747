#!/usr/bin/env bash
# take-screenshot.sh: photographs the real app, on the Shapes sample, under Xvfb, the way
# docs/screenshot.png was made. Usage: tools/take-screenshot.sh [BUILD_DIR] [OUT.png]
# Needs xvfb-run and ImageMagick's import. Uses a throwaway data folder, so the sample is
# drawn fresh and your own settings are not touched.
set -euo pipefail
cd "$(dirname "$0")/.."
build=$(realpath "${1:-_build}")
out=${2:-docs/screenshot.png}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

XDG_DATA_HOME="$tmp/data" XDG_CONFIG_HOME="$tmp/config" GSETTINGS_BACKEND=memory \
GSETTINGS_SCHEMA_DIR="$build/data" GSK_RENDERER=cairo \
  xvfb-run -a -s "-screen 0 1100x720x24" bash -c '
    "$1/src/app/bottega" --sample &
    app=$!
    sleep "${BOTTEGA_SCREENSHOT_WAIT:-8}"
    import -window root "$2"
    kill $app' _ "$build" "$tmp/shot.png"
cp "$tmp/shot.png" "$out"
echo "wrote $out"
