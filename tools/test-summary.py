#!/usr/bin/python3
"""Reads one or more meson testlog.json files (main, sanitizer and fuzz builds) and prints the
one closing line 'N passed, N failed, N skipped (M planned)' over all of them.

Each TAP sub-test counts (meson records them in the log's stdout); a test program that is not
TAP counts once. A skip is planned when tests/planned-skips.txt lists it with its reason; any
other skip is printed and counted as a failure, so a new skip cannot hide behind an old one.
A "not ok ... # TODO" is a known gap, as TAP defines it: counted apart, not a failure.
Exit status is 1 when anything failed."""
import fnmatch
import json
import os
import re
import sys

PLANNED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "planned-skips.txt")


def read_planned(path):
    rules = []
    try:
        f = open(path, encoding="utf-8")
    except OSError:
        return rules
    for n, line in enumerate(f, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        cols = [c.strip() for c in line.split("|")]
        if len(cols) != 4 or not cols[3]:
            print(f"test-summary: {path}:{n}: want 'test | path | message | reason'", file=sys.stderr)
            sys.exit(1)
        rules.append(cols)
    return rules


def planned(rules, test, path, message):
    for t, p, m, _ in rules:
        if fnmatch.fnmatchcase(test, t) and fnmatch.fnmatchcase(path, p) and (m == "*" or m in message):
            return True
    return False


rules = read_planned(PLANNED)
passed = failed = skipped = planned_skips = todo = 0
unplanned = []


def skip(test, path, message):
    global skipped, planned_skips
    skipped += 1
    if planned(rules, test, path, message):
        planned_skips += 1
    else:
        unplanned.append(f"{test} {path} # SKIP {message}".strip())


for path in sys.argv[1:]:
    try:
        log = open(path, encoding="utf-8", errors="replace")
    except OSError as e:
        print(f"test-summary: no test log {path} ({e.strerror}); counted as one failure", file=sys.stderr)
        failed += 1
        continue
    for line in log:
        line = line.strip()
        if not line:
            continue
        t = json.loads(line)
        name = t.get("name", "").split(" / ")[-1]   # meson writes "project:suite / name"
        result = t.get("result", "")
        out = t.get("stdout", "") or ""
        oks = len(re.findall(r"^ok \d+", out, re.M))
        skips = re.findall(r"^ok \d+ ?-? ?([^#\n]*?)\s*# SKIP\s*(.*)$", out, re.M)
        nots = len(re.findall(r"^not ok \d+", out, re.M))
        todos = len(re.findall(r"^not ok \d+.*# TODO", out, re.M))
        if oks + nots > 0:
            passed += oks - len(skips)
            for sub, message in skips:
                skip(name, sub.strip(), message.strip())
            failed += nots - todos
            todo += todos
            if result in ("FAIL", "TIMEOUT", "ERROR") and nots == 0:
                failed += 1
        elif result in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif result == "SKIP":
            skip(name, "", "")
        else:
            failed += 1

for u in unplanned:
    print(f"test-summary: unplanned skip (list it with its reason in tests/planned-skips.txt or fix it): {u}",
          file=sys.stderr)
failed += len(unplanned)
print(f"{passed} passed, {failed} failed, {skipped} skipped ({planned_skips} planned)"
      + (f", {todo} todo" if todo else ""))
sys.exit(1 if failed else 0)
