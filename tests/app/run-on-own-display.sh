#!/bin/sh
# run-on-own-display.sh PROGRAM [ARGS...]: runs one GTK test on an Xvfb of its own. The tests press
# keys and click through the X server (bt-test-input.c); on a display shared with a test running
# in parallel, that test's popover or menu grab would take them. Xvfb picks a free display number
# itself (-displayfd), so parallel runs never race for one.
# BT_TEST_SHUFFLE=SEED: the program's test cases run in an order shuffled by SEED (its -l list
# given back as -p options, which GLib runs in the order given), so a case that only passes after
# another one fails; ./run test sets a new seed each run and prints it, to repeat an order.
# A program listed in tests/app/in-order.txt (with the reason) keeps its own order.
set -eu
dir=$(mktemp -d)
trap 'kill "$xvfb" 2>/dev/null || true; wait "$xvfb" 2>/dev/null || true; rm -rf "$dir"' EXIT
Xvfb -displayfd 3 -screen 0 1600x1000x24 -nolisten tcp -noreset 3>"$dir/display" 2>"$dir/xvfb.log" &
xvfb=$!
# Xvfb writes the number once it accepts connections
while [ ! -s "$dir/display" ]; do
  if ! kill -0 "$xvfb" 2>/dev/null; then
    cat "$dir/xvfb.log" >&2
    echo "run-on-own-display: Xvfb did not start" >&2
    exit 1
  fi
  sleep 0.05
done
DISPLAY=":$(cat "$dir/display")"
export DISPLAY
unset WAYLAND_DISPLAY
in_order="$(dirname "$0")/in-order.txt"
if [ -n "${BT_TEST_SHUFFLE:-}" ] && grep -q "^$(basename "$1"):" "$in_order"; then
  echo "run-on-own-display: $(basename "$1") runs in its own order (tests/app/in-order.txt)" >&2
elif [ -n "${BT_TEST_SHUFFLE:-}" ]; then
  prog=$1
  shift
  order=$("$prog" -l "$@" 2>/dev/null | grep '^/' |
          awk -v seed="$BT_TEST_SHUFFLE" 'BEGIN { srand (seed) } { printf "%.9f %s\n", rand (), $0 }' |
          sort -n | cut -d' ' -f2-)
  echo "run-on-own-display: BT_TEST_SHUFFLE=$BT_TEST_SHUFFLE order:" $order >&2
  # -p runs a case and every case under its path: a case whose path is another's prefix would run twice
  clash=$(echo "$order" | tr ' ' '\n' | awk 'NF { p[NR] = $0 } END { for (i in p) for (j in p) if (index (p[j], p[i] "/") == 1) print p[i] }')
  if [ -n "$clash" ]; then
    echo "run-on-own-display: a test path is the prefix of another's (rename it): $clash" >&2
    exit 1
  fi
  paths=""
  for p in $order; do
    paths="$paths -p $p"
  done
  # GLib prints a TAP plan after each -p: one plan, at the end, for meson
  # shellcheck disable=SC2086  # (test paths hold no spaces)
  { "$prog" $paths "$@"; echo $? >"$dir/status"; } |
    awk '/^1\.\.[0-9]+$/ { next } /^(not )?ok / { n++ } { print; fflush () } END { print "1.." n }'
  exit "$(cat "$dir/status")"
fi
"$@"
