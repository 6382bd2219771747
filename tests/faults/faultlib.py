"""faultlib.py: what the fault-injection scripts share: image trees written with the standard
library only (BMP), running bottega-cli, and the checks made after every fault."""
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time

TEMP_RE = re.compile(r'^\.?.+\.[A-Za-z0-9]{6}$')


def write_bmp(path, w, h, pixel):
    row = (w * 3 + 3) & ~3
    data = bytearray()
    for y in range(h):
        r = bytearray()
        for x in range(w):
            cr, cg, cb = pixel(x, y)
            r += bytes((cb, cg, cr))
        r += b'\0' * (row - w * 3)
        data += r
    head = b'BM' + struct.pack('<IHHI', 54 + len(data), 0, 0, 54)
    info = struct.pack('<IiiHHIIiiII', 40, w, h, 1, 24, 0, len(data), 2835, 2835, 0, 0)
    with open(path, 'wb') as f:
        f.write(head + info + data)


def make_tree(root, classes=3, per_class=40, size=24, seed=1):
    """classes × per_class distinct images a small network can tell apart (stripes by class)."""
    import random
    rng = random.Random(seed)
    for c in range(classes):
        d = os.path.join(root, 'class%d' % c)
        os.makedirs(d, exist_ok=True)
        for i in range(per_class):
            noise = [rng.randrange(60) for _ in range(size * size)]
            def px(x, y, c=c, noise=noise):
                v = 190 if ((x if c == 0 else y if c == 1 else x + y) // 3) % 2 else 40
                n = noise[y * size + x]
                return (min(255, v + n), min(255, v + n // 2), n)
            write_bmp(os.path.join(d, '%03d.bmp' % i), size, size, px)
    return root


class Tools:
    def __init__(self, cli, checker):
        self.cli = cli
        self.checker = checker
        self.env = dict(os.environ, LC_ALL='C.UTF-8')

    def run(self, *args, timeout=120):
        p = subprocess.run([self.cli] + list(args), capture_output=True, text=True,
                           env=self.env, timeout=timeout)
        if p.returncode < 0:
            fail('bottega-cli %s died of signal %d\n%s%s' % (' '.join(args), -p.returncode,
                                                             p.stdout, p.stderr))
        return p

    def start(self, *args):
        return subprocess.Popen([self.cli] + list(args), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=self.env)

    def check(self, project):
        """Every file of the project parses; returns the checker's counts. A failure says which
        program failed and how, so a sanitizer report of the checker itself (the project fine)
        is not read as a broken project."""
        p = subprocess.run([self.checker, project], capture_output=True, text=True, timeout=60)
        m = re.match(r'classes (\d+) items (\d+) models (\d+) runs (\d+)', p.stdout)
        if p.returncode != 0 or not m:
            fail(checker_failure(self.checker, project, p))
        return dict(classes=int(m[1]), items=int(m[2]), models=int(m[3]), runs=int(m[4]))


def temp_files(project):
    """Temp files of atomic writes now in the project (project folder, models/, runs/*/)."""
    found = []
    dirs = [project, os.path.join(project, 'models')]
    runs = os.path.join(project, 'runs')
    if os.path.isdir(runs):
        dirs += [os.path.join(runs, r) for r in os.listdir(runs)]
    for d in dirs:
        try:
            names = os.listdir(d)
        except OSError:
            continue
        found += [os.path.join(d, n) for n in names if TEMP_RE.match(n) and n != 'labels.csv']
    return found


def checker_failure(checker, project, p):
    """What went wrong with one run of the project checker, in words."""
    name = os.path.basename(checker)
    how = 'died of signal %d' % -p.returncode if p.returncode < 0 else 'exited %d' % p.returncode
    if re.search(r'(Address|Leak|UndefinedBehavior)Sanitizer', p.stderr):
        what = ('%s %s with a sanitizer report of its own (this is about the checker process, '
                'not a project file):' % (name, how))
    elif p.returncode == 0:
        what = '%s printed no counts:' % name
    else:
        what = '%s %s: a project file does not parse after a fault:' % (name, how)
    return '%s\n  project: %s\n%s%s' % (what, project, p.stdout, p.stderr)


def fail(message):
    print('FAIL: ' + message, flush=True)
    sys.exit(1)


def note(message):
    print(message, flush=True)
