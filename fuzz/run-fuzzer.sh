#!/bin/sh
# run-fuzzer.sh FUZZER SEEDGEN CORPUS SECONDS: writes the seed corpus (SEEDGEN may be "-"),
# then fuzzes for SECONDS. Meson runs this as a test in suite 'fuzz'; for a longer run by
# hand: fuzz/run-fuzzer.sh _build-fuzz/fuzz/fuzz-model _build-fuzz/fuzz/fuzz-model-seeds /tmp/c 3600
set -eu
fuzzer=$1 seedgen=$2 corpus=$3 seconds=$4
mkdir -p "$corpus"
if [ "$seedgen" != "-" ]; then
  "$seedgen" "$corpus"
fi
exec "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 "$corpus"
