#!/usr/bin/python3
"""Reads one or more meson testlog.json files (main build, fuzz build) and prints the one
closing line 'N passed, N failed, N skipped' over all of them.

Each TAP sub-test counts (meson records them in the log's stdout); a test program that
is not TAP counts once. A "not ok … # TODO" is a known gap, as TAP defines it: counted apart,
not a failure. Exit status is 1 when anything failed."""
import json
import re
import sys

passed = failed = skipped = todo = 0
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
        result = t.get("result", "")
        out = t.get("stdout", "") or ""
        oks = len(re.findall(r"^ok \d+", out, re.M))
        skips = len(re.findall(r"^ok \d+.*# SKIP", out, re.M))
        nots = len(re.findall(r"^not ok \d+", out, re.M))
        todos = len(re.findall(r"^not ok \d+.*# TODO", out, re.M))
        if oks + nots > 0:
            passed += oks - skips
            skipped += skips
            failed += nots - todos
            todo += todos
            if result in ("FAIL", "TIMEOUT", "ERROR") and nots == 0:
                failed += 1
        elif result in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif result == "SKIP":
            skipped += 1
        else:
            failed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped" + (f", {todo} todo" if todo else ""))
sys.exit(1 if failed else 0)
