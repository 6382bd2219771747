#!/usr/bin/env bash
# bench-train-ab.sh ROUNDS BUILD... : the Small CNN's training speed and accuracy through the product
# path, for two or more builds (e.g. main's _build and a build of an older commit), alternated ROUNDS
# times in one run. Each run is `bottega-cli train` of a copy of the 28×28 grey Fashion-MNIST project
# (60,000 training images; made once with the first build's tools, as run-all.sh makes it), one epoch,
# the settings run-all.sh uses for its CLI row. Prints per run the img/s `train` printed for the epoch
# (validation included), the process CPU per trained image and the final test accuracy, then each
# build's best and median, with the load average before and after.
#
#   bash bench/bench-train-ab.sh 2 _build /work/wt-old/_build
set -uo pipefail
[ $# -ge 2 ] || { echo "usage: $0 ROUNDS BUILD..." >&2; exit 2; }
rounds=$1
shift
first=$1
WORK=${BENCH_WORK:-$first/bench/work}
PROJECT=$WORK/fmnist-project
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$WORK"
if [ ! -f "$PROJECT/.bench-ready" ]; then
  echo "== making the 28×28 grey Fashion-MNIST PNG project (once, in $WORK)"
  rm -rf "$WORK/fmnist-tree" "$PROJECT"
  "$first/tools/bottega-fmnist-to-png" "$WORK/fmnist-tree" >/dev/null &&
    "$first/src/cli/bottega-cli" new "$PROJECT" --from "$WORK/fmnist-tree" >/dev/null &&
    touch "$PROJECT/.bench-ready" ||
    { echo "SKIP: no Fashion-MNIST project (is dataset-fashion-mnist installed?)"; exit 0; }
fi
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs); $rounds rounds"
for r in $(seq 1 "$rounds"); do
  for b in "$@"; do
    rm -rf "$TMP/p" && cp -a "$PROJECT" "$TMP/p"
    /usr/bin/time -f "%U %S" -o "$TMP/time" "$b/src/cli/bottega-cli" train "$TMP/p" --preset small-cnn \
      --size 28 --color grey --epochs 1 --batch-size 64 --optimizer adam --lr 0.001 --augment none \
      --early-stopping 0 --threads 2 --seed 1 > "$TMP/log" 2>&1 || { echo "$b failed:"; tail -3 "$TMP/log"; continue; }
    ips=$(grep -o "[0-9,]* img/s" "$TMP/log" | tail -1 | tr -d ', img/s')
    n=$(grep -o "step [0-9]*/[0-9]*" "$TMP/log" | tail -1 | cut -d/ -f2)
    cpu=$(awk '{print $1 + $2}' "$TMP/time")
    acc=$(grep -o "[Tt]est accuracy[^0-9]*[0-9.]*" "$TMP/log" | tail -1 | grep -o "[0-9.]*$")
    echo "RUN round=$r build=$b img_s=$ips cpu_img_s=$(awk -v n="$n" -v c="$cpu" 'BEGIN{printf "%.0f", n*64/c}') test_acc=${acc:-?}"
  done
done | tee "$TMP/runs"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/python3 - "$TMP/runs" <<'PY'
import sys, statistics
rows = {}
for line in open(sys.argv[1]):
    if not line.startswith("RUN "):
        continue
    kv = dict(f.split("=", 1) for f in line.split()[1:])
    rows.setdefault(kv["build"], []).append(kv)
for b, rs in rows.items():
    ips = [float(r["img_s"]) for r in rs if r["img_s"]]
    cps = [float(r["cpu_img_s"]) for r in rs]
    accs = sorted({r["test_acc"] for r in rs})
    print(f"{b}: img/s best {max(ips):.0f} median {statistics.median(ips):.0f}; "
          f"CPU img/s best {max(cps):.0f}; test accuracy {', '.join(accs)}")
PY
