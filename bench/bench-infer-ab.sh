#!/usr/bin/env bash
# bench-infer-ab.sh PRESET BATCH ROUNDS BIN... : alternates bench-infer binaries (e.g. copies of
# _build/bench/bench-infer made at two commits) ROUNDS times on one engine thread and prints each
# binary's CPU ms per image, sorted, with the load average before and after. Set BOTTEGA_CONV=im2col
# in the environment of one of them (a wrapper script) to compare against the old conv path.
set -uo pipefail
[ $# -ge 4 ] || { echo "usage: $0 PRESET BATCH ROUNDS BIN..." >&2; exit 2; }
preset=$1 batch=$2 rounds=$3
shift 3
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq 1 "$rounds"); do
  for bin in "$@"; do
    echo "$bin $("$bin" --preset "$preset" --batch "$batch" --threads 1 --seconds 1.5 | grep -o 'cpu_ms=[0-9.]*' | cut -d= -f2)"
  done
done | sort -k1,1 -k2,2n | awk '{a[$1] = a[$1] " " $2} END {for (k in a) print k ":" a[k] " CPU ms/image"}'
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
