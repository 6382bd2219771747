#!/usr/bin/env bash
# fuzz-soak.sh [MINUTES] [FUZZ_BUILD]: every libFuzzer target for MINUTES each (default 10,
# at least 10), one after another, from the committed seeds plus what earlier soaks found
# (kept in FUZZ_BUILD/soak-corpus-TARGET). Prints, per target, the executions, the executions
# per second, the corpus size and the crashes (inputs saved in FUZZ_BUILD/soak-crashes/).
# Exit status 1 when any target crashed. The fuzz build, as `./run test` makes it:
#   CC=clang meson setup _build-fuzz -Dfuzzing=true -Dtests=false \
#     -Db_sanitize=address,undefined -Db_lundef=false && ninja -C _build-fuzz
set -uo pipefail
cd "$(dirname "$0")/.."
MINUTES=${1:-10}
BUILD=${2:-_build-fuzz}
SECS=$((MINUTES * 60))
if [ -n "${SOAK_SECONDS:-}" ]; then
  SECS=$SOAK_SECONDS   # a quick try of this script, not a soak
elif [ "$MINUTES" -lt 10 ]; then
  echo "fuzz-soak: a soak runs at least 10 minutes per target (SOAK_SECONDS=N for a quick try)" >&2
  exit 2
fi
[ -d "$BUILD/fuzz" ] || { echo "fuzz-soak: no $BUILD/fuzz (see the comment at the top)" >&2; exit 2; }
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
crashes_dir="$BUILD/soak-crashes"
mkdir -p "$crashes_dir"
printf '%-16s %12s %10s %8s %8s\n' target executions exec/s corpus crashes
total_crashes=0
for fuzzer in "$BUILD"/fuzz/fuzz-*; do
  name=$(basename "$fuzzer")
  case "$name" in *-seeds|*.p) continue ;; esac
  [ -x "$fuzzer" ] || continue
  corpus="$BUILD/soak-corpus-$name"
  mkdir -p "$corpus"
  [ -x "$fuzzer-seeds" ] && "$fuzzer-seeds" "$corpus" >/dev/null
  seeds="fuzz/seeds/${name#fuzz-}"
  dirs=("$corpus")
  [ -d "$seeds" ] && dirs+=("$seeds")
  log="$BUILD/soak-$name.log"
  before=$(ls "$crashes_dir" | grep -c "^$name-" || true)
  # -fork: a crash is recorded and the run goes on, so one soak reports every distinct crash
  "$fuzzer" -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
    -max_total_time="$SECS" -timeout=10 -rss_limit_mb=4096 \
    -artifact_prefix="$crashes_dir/$name-" -print_final_stats=1 "${dirs[@]}" >"$log" 2>&1
  after=$(ls "$crashes_dir" | grep -c "^$name-" || true)
  execs=$(grep -oE '#[0-9]+' "$log" | tail -1 | tr -d '#')
  execs=${execs:-0}
  n_corpus=$(ls "$corpus" | wc -l)
  new=$((after - before))
  total_crashes=$((total_crashes + new))
  printf '%-16s %12s %10s %8s %8s\n' "$name" "$execs" "$((execs / SECS))" "$n_corpus" "$new"
done
echo "crashes: $total_crashes (inputs in $crashes_dir; logs in $BUILD/soak-*.log)"
[ "$total_crashes" -eq 0 ]
