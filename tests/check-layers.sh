#!/usr/bin/env bash
# check-layers.sh: the dependency rule of docs/ARCHITECTURE.md, checked on the build.
#   engine  : GLib + OpenBLAS only      dataset : GLib/GIO + stb + Cairo only
#   training: engine + dataset          neither engine nor dataset ever touches GTK
#   doctor  : engine + dataset + training (nothing above; nothing below includes it)
# Three views: the compile commands (no GTK include path), the static libraries' undefined
# symbols (no gtk_/gdk_/gsk_), and the sources' #include lines (no upward or sideways include).
# Prints TAP. Usage: check-layers.sh SOURCE_ROOT BUILD_ROOT
set -u
src=${1:-${BOTTEGA_SOURCE_ROOT:?}}
build=${2:-${BOTTEGA_BUILD_ROOT:?}}
n=0
failed=0

check () {  # check "description" command...
  local desc=$1; shift
  local out
  n=$((n + 1))
  if out=$("$@" 2>&1); then
    echo "ok $n - $desc"
  else
    echo "not ok $n - $desc"
    printf '%s\n' "$out" | sed 's/^/# /'
    failed=1
  fi
}

# No compile command of a layer's own sources may carry GTK's include path.
no_gtk_flags () {
  local layer=$1
  /usr/bin/python3 - "$build/compile_commands.json" "$layer" <<'PY'
import json, sys
entries = json.load(open(sys.argv[1]))
layer = "src/%s/" % sys.argv[2]
mine = [e for e in entries if layer in e["file"]]
if not mine:
    print("no compile commands for", layer); sys.exit(1)
bad = [e["file"] for e in mine if "gtk-4.0" in e["command"] or "gtk4" in e["command"]]
for f in bad:
    print(f, "is compiled with GTK's include path")
sys.exit(1 if bad else 0)
PY
}

# The static library must not need any GTK, GDK or GSK symbol.
no_gtk_symbols () {
  local lib=$1
  [ -f "$lib" ] || { echo "$lib not built"; return 1; }
  local syms
  syms=$(nm -u "$lib" 2>/dev/null | awk '{print $NF}' | grep -E '^(gtk|gdk|gsk)_' | sort -u)
  [ -z "$syms" ] || { echo "$lib needs: $syms"; return 1; }
}

# The layer's sources include nothing from the named layers.
no_includes_of () {
  local layer=$1; shift
  local pattern hits
  pattern=$(printf '%s|' "$@"); pattern=${pattern%|}
  hits=$(grep -rnE "^[[:space:]]*#[[:space:]]*include[[:space:]]*[<\"]($pattern)" "$src/src/$layer" || true)
  [ -z "$hits" ] || { echo "$hits"; return 1; }
}

check "engine is compiled without GTK" no_gtk_flags engine
check "dataset is compiled without GTK" no_gtk_flags dataset
check "libbottega-engine.a needs no GTK symbol" no_gtk_symbols "$build/src/engine/libbottega-engine.a"
check "libbottega-dataset.a needs no GTK symbol" no_gtk_symbols "$build/src/dataset/libbottega-dataset.a"
check "training needs no GTK symbol" no_gtk_symbols "$build/src/training/libbottega-training.a"
check "doctor is compiled without GTK" no_gtk_flags doctor
check "libbottega-doctor.a needs no GTK symbol" no_gtk_symbols "$build/src/doctor/libbottega-doctor.a"
check "engine includes no GTK, dataset, training or app header" \
  no_includes_of engine 'gtk/' 'gdk/' 'dataset/' 'training/' 'doctor/' 'app/' 'bt-dataset' 'bt-training'
check "dataset includes no GTK, engine, training or app header" \
  no_includes_of dataset 'gtk/' 'gdk/' 'engine/' 'training/' 'doctor/' 'app/' 'bt-engine' 'bt-layers' 'bt-training'
check "training includes no GTK, doctor or app header" no_includes_of training 'gtk/' 'gdk/' 'doctor/' 'app/'
check "doctor includes no GTK, app or cli header" no_includes_of doctor 'gtk/' 'gdk/' 'app/' 'cli/'
check "cli includes no GTK or app header" no_includes_of cli 'gtk/' 'gdk/' 'app/'

# The display-less tool must start without GTK installed.
no_gtk_linked () {
  local exe=$1
  [ -x "$exe" ] || { echo "$exe not built"; return 1; }
  local libs
  libs=$(ldd "$exe" | grep -E 'lib(gtk|gdk|gsk)-?4' || true)
  [ -z "$libs" ] || { echo "$exe links: $libs"; return 1; }
}
check "bottega-cli does not link GTK" no_gtk_linked "$build/src/cli/bottega-cli"

echo "1..$n"
exit $failed
