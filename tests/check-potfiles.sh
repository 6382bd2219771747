#!/usr/bin/env bash
# check-potfiles.sh: po/POTFILES.in lists every file with translatable strings and nothing
# that does not exist. Translatable: _( N_( C_( NC_( ngettext in C (comments ignored),
# translatable="yes" in .ui, and the desktop entry, metainfo and GSettings schema in data/.
# Prints TAP. Usage: check-potfiles.sh [SOURCE_ROOT]
set -u
src=${1:-${BOTTEGA_SOURCE_ROOT:?}}
exec /usr/bin/python3 - "$src" <<'PY'
import os, re, sys

src = sys.argv[1]
listed = []
for line in open(os.path.join(src, "po", "POTFILES.in"), encoding="utf-8"):
    line = line.strip()
    if line and not line.startswith("#"):
        listed.append(line)

c_string = re.compile(r'"(?:\\.|[^"\\])*"')
c_call = re.compile(r'(?<![A-Za-z0-9_])(?:N_|C_|NC_|Q_|_|g_dngettext|ngettext|g_dpgettext2)\s*\(')
ui_mark = re.compile(r'translatable\s*=\s*"(?:yes|true|1)"')

def translatable(rel):
    path = os.path.join(src, rel)
    try:
        text = open(path, encoding="utf-8", errors="replace").read()
    except OSError:
        return False
    if rel.endswith((".c", ".h")):
        # Drop comments but keep strings, so a "/*" inside a string does not confuse us.
        out, pos = [], 0
        for m in re.finditer(r'/\*.*?\*/|//[^\n]*|"(?:\\.|[^"\\\n])*"', text, re.S):
            out.append(text[pos:m.start()])
            out.append(m.group(0) if m.group(0).startswith('"') else " ")
            pos = m.end()
        out.append(text[pos:])
        return c_call.search(c_string.sub('""', "".join(out))) is not None
    if rel.endswith(".ui"):
        return ui_mark.search(text) is not None
    if rel.endswith((".desktop.in", ".desktop.in.in", ".metainfo.xml.in", ".metainfo.xml.in.in", ".gschema.xml")):
        return True
    return False

found = []
for top in ("src", "ui", "data"):
    for root, dirs, files in os.walk(os.path.join(src, top)):
        dirs.sort()
        for f in sorted(files):
            rel = os.path.relpath(os.path.join(root, f), src)
            if translatable(rel):
                found.append(rel)

n = 0
failed = False
def report(ok, desc, details):
    global n, failed
    n += 1
    print(("ok" if ok else "not ok"), n, "-", desc)
    for d in details:
        print("#", d)
    failed = failed or not ok

missing = [f for f in found if f not in listed]
report(not missing, "every file with translatable strings is in po/POTFILES.in",
       ["missing: " + f for f in missing])
gone = [f for f in listed if not os.path.isfile(os.path.join(src, f))]
report(not gone, "every file in po/POTFILES.in exists", ["does not exist: " + f for f in gone])
dups = sorted({f for f in listed if listed.count(f) > 1})
report(not dups, "po/POTFILES.in lists no file twice", ["twice: " + f for f in dups])
print("1.." + str(n))
sys.exit(1 if failed else 0)
PY
