#!/bin/sh
# run-on-own-display.sh PROGRAM [ARGS...]: runs one GTK test on an Xvfb of its own. The tests press
# keys and click through the X server (bt-test-input.c); on a display shared with a test running
# in parallel, that test's popover or menu grab would take them. Xvfb picks a free display number
# itself (-displayfd), so parallel runs never race for one.
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
"$@"
