#!/usr/bin/env bash
# bench-recipe.sh [BUILD] [ROUNDS]: flowers12 as a person gets it. `bottega-cli new P --from train/`
# then `bottega-cli train P` with no options (the recommended transfer preset and the Automatic
# recipe), beside the hand-chosen transfer run of flowers12/README.md (`--preset transfer
# --epochs 30 --split 85/15/0 --recipe manual`), alternated ROUNDS times in one run. Each run
# starts from a new project (embeddings computed afresh). Prints, per run: accuracy on test/
# (`bottega-cli predict --csv`, the folder name is the truth), wall and CPU time of `train`, its
# peak RSS, what the recipe chose and made of it (its last line: fine-tuning kept or left out,
# what the final model was trained on), and the load average (on a loaded machine read the CPU
# time). For the default run that kept fine-tuning, also the frozen head of the same run on test/
# and whether "fine-tuned >= frozen head" holds.
# Skips with a message without ../shared/images/flowers12 or the default backbone.
. "$(dirname "$0")/bench-flowers12.sh"   # BUILD ROUNDS FLOWERS CLI DIR, or a SKIP

one_run () {  # NAME, then train's options
  local name=$1; shift
  local p="$DIR/$name-$round"
  "$CLI" new "$p" --from "$FLOWERS/train" >/dev/null 2>&1 || { echo "$name: new failed"; return; }
  local load; load=$(cut -d' ' -f1 /proc/loadavg)
  /usr/bin/time -f '%e %U %S %M' -o "$DIR/time" "$CLI" train "$p" "$@" >"$DIR/train.log" 2>&1 \
    || { echo "$name: train failed"; tail -3 "$DIR/train.log"; return; }
  local acc; acc=$(test_accuracy "$p"/models/*.bottega-model)
  read -r wall user sys rss <"$DIR/time"
  printf '%-8s test %s  wall %6.1f s  cpu %6.1f s  peak RSS %4d MiB  load %s\n' \
    "$name" "$acc" "$wall" "$(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')" $((rss / 1024)) "$load"
  grep -h "^Automatic recipe" "$DIR/train.log" | tail -1 | sed 's/^/         /'
  if [ "$name" = default ]; then same_run_comparison "$p" "$acc"; fi
}

test_accuracy () {  # MODEL: "0.9833 (236/240)" on test/ (the folder name is the truth)
  "$CLI" predict "$1" "$FLOWERS/test" --csv "$DIR/pred.csv" >/dev/null 2>&1
  awk -F, 'NR > 1 { n++; k = split($1, a, "/"); if (a[k - 1] == $2) c++ }
           END { if (n) printf "%.4f (%d/%d)", c / n, c, n }' "$DIR/pred.csv"
}

# When the recipe kept fine-tuning, the run folder also holds the frozen head it would have saved
# otherwise (runs/<id>/frozen-head.bottega-model): both on test/, the target being fine-tuned ≥ frozen.
same_run_comparison () {  # PROJECT, the kept model's test accuracy
  local frozen; frozen=$(ls "$1"/runs/*/frozen-head.bottega-model 2>/dev/null | head -1)
  [ -n "$frozen" ] || { echo "         same run: fine-tuning left out (no frozen head beside it)"; return; }
  local tuned=$2
  local head; head=$(test_accuracy "$frozen")
  awk -v a="${tuned%% *}" -v b="${head%% *}" -v na="${tuned#* }" -v nb="${head#* }" 'BEGIN {
    printf "         fine-tuned %.2f %% vs frozen head %.2f %% (same run; %s vs %s)\n", 100 * a, 100 * b, na, nb
    printf "         target fine-tuned >= frozen head of the same run: %s\n", (a + 0 >= b + 0 ? "MET" : "NOT MET") }'
}

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs)"
for round in $(seq 1 "$ROUNDS"); do
  one_run default
  one_run by-hand --preset transfer --epochs 30 --split 85/15/0 --recipe manual
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
