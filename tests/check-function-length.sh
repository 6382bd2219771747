#!/usr/bin/env bash
# check-function-length.sh: no function in src/ is longer than 150 lines (#18), counted from the
# "{" in column 0 that opens its body to the "}" in column 0 that closes it (the project's GNU
# style puts both there). Prints TAP, and the ten longest as comments.
# Usage: check-function-length.sh SOURCE_ROOT
set -u
src=${1:-${BOTTEGA_SOURCE_ROOT:?}}
limit=150
list=$(find "$src/src" -name '*.c' -print0 | sort -z | xargs -0 awk '
  FNR == 1 { name = ""; start = 0 }
  /^[A-Za-z_][A-Za-z0-9_]* \(/ { name = $1 }
  /^\{$/ { start = FNR }
  /^\}$/ && start > 0 { printf "%d %s %s\n", FNR - start + 1, FILENAME, name; start = 0 }
' | sort -rn)
echo "1..1"
long=$(printf '%s\n' "$list" | awk -v l=$limit '$1 > l')
if [ -z "$long" ]; then
  echo "ok 1 - no function in src/ is longer than $limit lines"
else
  echo "not ok 1 - functions longer than $limit lines"
  printf '%s\n' "$long" | sed "s|$src/||; s/^/# /"
fi
printf '%s\n' "$list" | head -10 | sed "s|$src/||; s/^/# longest: /"
[ -z "$long" ]
