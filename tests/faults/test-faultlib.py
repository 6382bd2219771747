#!/usr/bin/env python3
"""test-faultlib.py: the fault scripts' own helpers. A failure of the project checker says which
program failed and whether it was a sanitizer report of the checker itself or a project file
that does not parse (the kill harness once failed in CI with only a LeakSanitizer report)."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from faultlib import checker_failure  # noqa: E402


def run(rc, out, err):
    return subprocess.CompletedProcess(['bt-fault-check', 'P'], rc, out, err)


def expect(message, *parts):
    for part in parts:
        if part not in message:
            print('FAIL: %r not in:\n%s' % (part, message))
            sys.exit(1)


lsan = run(1, 'classes 3 items 120 models 1 runs 2\n',
           '==1234==ERROR: LeakSanitizer: detected memory leaks\n    #0 malloc\n')
expect(checker_failure('/b/tests/faults/bt-fault-check', '/tmp/p', lsan),
       'bt-fault-check exited 1 with a sanitizer report of its own', 'not a project file', '/tmp/p',
       'LeakSanitizer: detected memory leaks')
parse = run(1, '', 'labels.csv: line 3: unknown class\n')
m = checker_failure('/b/bt-fault-check', '/tmp/p', parse)
expect(m, 'bt-fault-check exited 1: a project file does not parse', 'labels.csv: line 3')
if 'sanitizer' in m:
    print('FAIL: a parse failure read as a sanitizer report')
    sys.exit(1)
expect(checker_failure('/b/bt-fault-check', '/tmp/p', run(-11, '', '')), 'died of signal 11')
expect(checker_failure('/b/bt-fault-check', '/tmp/p', run(0, 'garbage', '')), 'printed no counts')
print('ok')
