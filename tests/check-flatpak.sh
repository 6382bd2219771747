#!/usr/bin/env bash
# check-flatpak.sh: the Flatpak manifest is valid JSON, pins every download (release tarball
# or commit, each with a sha256), builds the app from this checkout with the finish-args the
# app needs, and is accepted by flatpak-builder --show-manifest where that tool is installed.
# Building needs the network, so it is not tried here. Prints TAP. Usage: check-flatpak.sh [SOURCE_ROOT]
set -u
src=${1:-${BOTTEGA_SOURCE_ROOT:?}}
manifest="$src/flatpak/io.github.bottega.Bottega.json"
n=0
failed=0
ok () { n=$((n + 1)); echo "ok $n - $1"; }
not_ok () { n=$((n + 1)); echo "not ok $n - $1"; shift; printf '%s\n' "$@" | sed 's/^/# /'; failed=1; }

if out=$(/usr/bin/python3 -m json.tool "$manifest" 2>&1 >/dev/null); then
  ok "manifest is valid JSON"
else
  not_ok "manifest is valid JSON" "$out"
fi

if out=$(/usr/bin/python3 - "$manifest" <<'PY' 2>&1
import json, re, sys
m = json.load(open(sys.argv[1]))
problems = []
if m.get("id") != "io.github.bottega.Bottega":
    problems.append("id is %r" % m.get("id"))
if m.get("runtime") != "org.gnome.Platform" or m.get("sdk") != "org.gnome.Sdk":
    problems.append("runtime/sdk are not the GNOME ones")
if not re.fullmatch(r"\d+", str(m.get("runtime-version", ""))):
    problems.append("runtime-version %r is not a stable GNOME release" % m.get("runtime-version"))
if m.get("command") != "bottega":
    problems.append("command is %r" % m.get("command"))
# --share=network: the Model page downloads the backbones the app does not ship
need = {"--socket=wayland", "--socket=fallback-x11", "--share=ipc", "--share=network", "--device=dri",
        "--filesystem=xdg-pictures:ro"}
args = set(m.get("finish-args", []))
for a in sorted(need - args):
    problems.append("finish-args lack " + a)
for a in sorted(args):
    if a in ("--filesystem=home", "--filesystem=host") or a.startswith("--filesystem=host"):
        problems.append("finish-args grant too much: " + a)
mods = {mod.get("name"): mod for mod in m.get("modules", []) if isinstance(mod, dict)}
names = [mod.get("name") for mod in m.get("modules", []) if isinstance(mod, dict)]
if names[-1:] != ["bottega"]:
    problems.append("the app is not the last module: %r" % names)
for dep in ("openblas", "stb"):
    if dep not in mods:
        problems.append("no %s module" % dep)
        continue
    archives = [s for s in mods[dep].get("sources", []) if s.get("type") in ("archive", "file", "git")]
    if not archives:
        problems.append("%s has no pinned source" % dep)
    for s in archives:
        url = s.get("url", "")
        if not re.fullmatch(r"[0-9a-f]{64}", s.get("sha256", "")) and s.get("type") != "git":
            problems.append("%s source %s has no sha256" % (dep, url))
        if re.search(r"/(master|main|develop|HEAD)(\.|/|$)", url):
            problems.append("%s source %s follows a branch" % (dep, url))
if "openblas" in mods and not re.search(r"/v\d+\.\d+\.\d+/OpenBLAS-\d+\.\d+\.\d+\.tar\.gz$",
                                         mods["openblas"]["sources"][0].get("url", "")):
    problems.append("openblas is not a release tarball")
if "stb" in mods and not re.search(r"/archive/[0-9a-f]{40}\.tar\.gz$", mods["stb"]["sources"][0].get("url", "")):
    problems.append("stb is not pinned to a commit")
app = mods.get("bottega", {})
if app.get("buildsystem") != "meson" or not any(s.get("type") == "dir" for s in app.get("sources", [])):
    problems.append("the app module does not build this checkout with meson")
print("\n".join(problems))
sys.exit(1 if problems else 0)
PY
); then
  ok "manifest pins its sources and grants what the app needs"
else
  not_ok "manifest pins its sources and grants what the app needs" "$out"
fi

if command -v flatpak-builder >/dev/null; then
  if out=$(flatpak-builder --show-manifest "$manifest" 2>&1 >/dev/null); then
    ok "flatpak-builder --show-manifest accepts it"
  else
    not_ok "flatpak-builder --show-manifest accepts it" "$out"
  fi
else
  n=$((n + 1)); echo "ok $n # SKIP flatpak-builder is not installed"
fi

echo "1..$n"
exit $failed
