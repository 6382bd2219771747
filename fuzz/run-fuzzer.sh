#!/bin/sh
# run-fuzzer.sh FUZZER SEEDGEN SEEDDIR CORPUS SECONDS: fills CORPUS with what SEEDGEN writes
# ("-" = none), then fuzzes for SECONDS over CORPUS plus the read-only SEEDDIR ("-" = none).
# Meson runs this as a test in suite 'fuzz'. A longer run by hand, e.g. one hour:
#   fuzz/run-fuzzer.sh _build-fuzz/fuzz/fuzz-model _build-fuzz/fuzz/fuzz-model-seeds - /tmp/corpus 3600
set -eu
fuzzer=$1 seedgen=$2 seeds=$3 corpus=$4 seconds=$5
mkdir -p "$corpus"
if [ "$seedgen" != "-" ]; then
  "$seedgen" "$corpus"
fi
if [ "$seeds" != "-" ]; then
  set -- "$corpus" "$seeds"
else
  set -- "$corpus"
fi
# libFuzzer exits 77 on a crash by default, which meson reads as "skipped": make it a failure.
# a fixed seed (BOTTEGA_FUZZ_SEED to change it) keeps the test run reproducible; bench/fuzz-soak.sh explores
exec "$fuzzer" -seed="${BOTTEGA_FUZZ_SEED:-1}" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
  -error_exitcode=1 -timeout_exitcode=1 -artifact_prefix="$(dirname "$corpus")/" "$@"
