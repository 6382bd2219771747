#!/usr/bin/env bash
# bench-tune-transfer.sh [BUILD] [ROUNDS]: `bottega-cli tune` and `cv` on a transfer project (#21):
# flowers12's train/ (12 classes × 60 photos) made a project with `bottega-cli new`, preset
# transfer with the default backbone, split 70/30/0. Per round: `tune --trials 8` with an empty
# embedding cache (cold: the backbone embeds every photo), the same again with the cache filled
# by it (warm), then `cv --k 5` (warm). Prints wall and CPU time of each (the decoder helpers
# included), the mean seconds of a trial after the first (the first one waits for the
# embeddings), the best trial's validation accuracy, and the load average (on a loaded machine
# read the CPU time). Skips with a message without ../shared/images/flowers12 or the backbone.
. "$(dirname "$0")/bench-flowers12.sh"   # BUILD ROUNDS FLOWERS CLI DIR, or a SKIP
P=$DIR/flowers
"$CLI" new "$P" --from "$FLOWERS/train" >/dev/null 2>&1 || { echo "new failed"; exit 1; }
sed -i "s/^preset=.*/preset=transfer/; /^\[split\]/,/^\[/ { s/^train=.*/train=70/; s/^val=.*/val=30/; s/^test=.*/test=0/ }" "$P/project.ini"

timed () {  # NAME, then the command's arguments
  local name=$1; shift
  local load; load=$(cut -d' ' -f1 /proc/loadavg)
  /usr/bin/time -f '%e %U %S' -o "$DIR/time" "$CLI" "$@" >"$DIR/out.log" 2>&1 \
    || { echo "$name: failed"; tail -3 "$DIR/out.log"; return; }
  read -r wall user sys <"$DIR/time"
  local extra=""
  if [ "$1" = tune ]; then
    local csv; csv=$(ls -d "$P"/runs/tune-* | sort | tail -1)/trials.csv
    extra=$(awk -F, 'NR > 2 { s += $16; n++ } NR > 1 && $13 > best { best = $13 }
                     END { printf "trials 2-%d: %.2f s each, best val acc %.3f", n + 1, s / n, best }' "$csv")
  else
    extra=$(grep -h "fold validation accuracy" "$DIR/out.log")
  fi
  printf '%-10s wall %6.1f s  cpu %6.1f s  load %5s  %s\n' "$name" "$wall" \
    "$(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')" "$load" "$extra"
}

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs)"
for round in $(seq 1 "$ROUNDS"); do
  rm -rf "$P/cache/embeddings"
  timed tune-cold tune "$P" --trials 8 --seed "$round"
  timed tune-warm tune "$P" --trials 8 --seed "$round"
  timed cv-warm cv "$P" --k 5
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
