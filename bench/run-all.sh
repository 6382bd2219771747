#!/usr/bin/env bash
# run-all.sh [BUILD]: every benchmark, Bottega beside PyTorch where python3-torch is installed,
# ending with the ratios. Epochs: BENCH_EPOCHS (default 5). Run through `./run bench`.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-_build}
EPOCHS=${BENCH_EPOCHS:-5}
LIMIT=${BENCH_LIMIT:-0}   # images per epoch, 0 = all 60000
THREADS=${BENCH_THREADS:-2}
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT

have_torch=0
/usr/bin/python3 -c "import torch" 2>/dev/null && have_torch=1

for preset in mlp small-cnn; do
  echo "== $preset: Bottega"
  "$BUILD/bench/bench-train" --preset "$preset" --epochs "$EPOCHS" --threads "$THREADS" --limit "$LIMIT" | tee -a "$OUT"
  if [ $have_torch -eq 1 ]; then
    echo "== $preset: PyTorch"
    /usr/bin/python3 -u bench/torch_fmnist.py --preset "$preset" --epochs "$EPOCHS" --threads "$THREADS" --limit "$LIMIT" | tee -a "$OUT"
  fi
done

echo
echo "== summary ($EPOCHS epochs, batch 64, $THREADS threads; both sides in this one run)"
/usr/bin/python3 - "$OUT" <<'PY'
import re, sys
rows = {}
for line in open(sys.argv[1]):
    if line.startswith("RESULT "):
        kv = dict(p.split("=", 1) for p in line.split()[1:])
        rows[(kv["impl"], kv["preset"])] = kv
for preset in ("mlp", "small-cnn"):
    b = rows.get(("bottega", preset))
    t = rows.get(("pytorch", preset))
    if not b:
        continue
    print(f"{preset:10s} Bottega: train {b['train_ips']} img/s, inference {b['infer_ips']} img/s, "
          f"acc {b['acc1']}/{b['acc3']}/{b['acc5']} (1/3/5 ep), peak RSS {b['rss_mib']} MiB")
    if t:
        print(f"{preset:10s} PyTorch: train {t['train_ips']} img/s, inference {t['infer_ips']} img/s, "
              f"acc {t['acc1']}/{t['acc3']}/{t['acc5']} (1/3/5 ep), peak RSS {t['rss_mib']} MiB")
        r = float(b['train_ips']) / float(t['train_ips'])
        rc = float(b.get('cpu_ips', 'nan')) / float(t.get('cpu_ips', 'nan'))
        ri = float(b['infer_ips']) / float(t['infer_ips'])
        print(f"{preset:10s} ratio Bottega/PyTorch: training {r:.2f}x (per CPU-second {rc:.2f}x), "
              f"inference {ri:.2f}x")
PY

echo
echo "== phone photos: 12 MP JPEG decode + 224×224 and thumbnails beside PIL, import RSS"
bench/bench-photos.sh "$BUILD" 5
