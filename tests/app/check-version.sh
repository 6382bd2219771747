#!/usr/bin/env bash
# check-version.sh: `bottega --version` and `bottega-cli --version` print the project's
# version and exit 0, without a display. Prints TAP. Usage: check-version.sh VERSION BOTTEGA BOTTEGA_CLI
set -u
version=$1; shift
n=0
failed=0
for exe in "$@"; do
  n=$((n + 1))
  name=$(basename "$exe")
  if out=$(env -u DISPLAY -u WAYLAND_DISPLAY "$exe" --version 2>&1) && [ "$out" = "$name $version" ]; then
    echo "ok $n - $name --version prints \"$name $version\""
  else
    echo "not ok $n - $name --version prints \"$name $version\""
    printf '%s\n' "$out" | sed 's/^/# got: /'
    failed=1
  fi
done
echo "1..$n"
exit $failed
