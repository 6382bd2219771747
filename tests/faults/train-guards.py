#!/usr/bin/env python3
"""train-guards.py CLI CHECKER [development|release]: what `bottega-cli new` and `train` do with what must not pass
silently (issue #26):
- a second trainer on the same project is refused while the first runs, naming it; once the
  first is killed with SIGKILL its lock is taken over at once (no age rule);
- images that cannot be read at training are each named and `train` exits 3, not 0;
- a decoder that crashes (the helper's test hook, development builds) costs only that photo:
  `new --from` goes on and lists it as corrupt, `train` names it and exits 3."""
import os
import re
import shutil
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from faultlib import Tools, make_tree, fail, note  # noqa: E402

TRAIN = ('--preset', 'mlp', '--size', '16', '--color', 'grey')


def item_paths(project):
    """The image paths of labels.csv (first column), absolute."""
    paths = []
    with open(os.path.join(project, 'labels.csv'), encoding='utf-8') as f:
        for i, line in enumerate(f):
            if i == 0:
                continue
            p = line.split(',')[0].strip('"')
            paths.append(p if os.path.isabs(p) else os.path.join(project, p))
    return paths


def run_lock(tools, project):
    first = tools.start('train', project, '--epochs', '100000', *TRAIN)
    lock = os.path.join(project, 'runs', '.lock')
    t0 = time.monotonic()
    while True:
        if first.poll() is not None:
            fail('the first trainer ended early:\n' + first.stdout.read() + first.stderr.read())
        try:
            with open(lock, encoding='utf-8') as f:
                if f.read().startswith('%d ' % first.pid):
                    break
        except FileNotFoundError:
            pass
        if time.monotonic() - t0 > 60:
            fail('the first trainer never took the run lock')
        time.sleep(0.02)
    p = tools.run('train', project, '--epochs', '1', *TRAIN)
    if p.returncode != 1 or 'Another training run is writing to this project' not in p.stderr \
            or 'process %d' % first.pid not in p.stderr:
        fail('a second trainer was not refused (exit %d):\n%s%s' % (p.returncode, p.stdout, p.stderr))
    note('second trainer: ' + p.stderr.strip())
    first.send_signal(signal.SIGKILL)
    first.wait()
    first.stdout.close()
    first.stderr.close()
    # the killed trainer's lock is free at once
    p = tools.run('train', project, '--epochs', '1', *TRAIN)
    if p.returncode != 0:
        fail('the lock of a killed trainer was not taken over (exit %d):\n%s%s'
             % (p.returncode, p.stdout, p.stderr))


def unreadable(tools, project):
    paths = item_paths(project)
    bad = paths[3]
    with open(bad, 'r+b') as f:  # swap bytes past the header: the file still looks like a BMP
        data = bytearray(f.read())
        data[0:2] = b'XX'
        f.seek(0)
        f.write(data)
    p = tools.run('train', project, '--epochs', '1', *TRAIN)
    if p.returncode != 3 or os.path.basename(bad) not in p.stdout or 'could not be read' not in p.stderr:
        fail('train with an unreadable image: exit %d\n%s%s' % (p.returncode, p.stdout, p.stderr))
    if not re.search(r'Model saved to', p.stdout):
        fail('the model of the readable images was not saved:\n' + p.stdout)
    q = tools.run('train', project, '--epochs', '1', '--quiet', *TRAIN)
    if q.returncode != 3 or os.path.basename(bad) not in q.stderr:
        fail('train --quiet with an unreadable image: exit %d\n%s%s' % (q.returncode, q.stdout, q.stderr))
    note('unreadable: ' + p.stderr.strip())


def decoder_crash(tools, work, src):
    """The helper's "crash" hook aborts on files starting with BTCRASH."""
    env = dict(tools.env, BT_DECODER_TEST_HOOK='crash')
    crash_tools = Tools(tools.cli, tools.checker)
    crash_tools.env = env
    bomb = os.path.join(src, 'class1', 'zz-crash.bmp')
    with open(bomb, 'wb') as f:
        f.write(b'BTCRASH: a decoder bug that kills its process')
    project = os.path.join(work, 'crash')
    p = crash_tools.run('new', project, '--from', src)
    os.unlink(bomb)
    if p.returncode != 0 or 'zz-crash.bmp' not in p.stdout + p.stderr:
        fail('new --from with a crashing decoder: exit %d\n%s%s' % (p.returncode, p.stdout, p.stderr))
    # in-process it would be "not an image"; the sandbox reports the crash as corrupt
    line = [ln for ln in (p.stdout + p.stderr).splitlines() if 'zz-crash.bmp' in ln][0]
    if 'corrupt' not in line:
        fail('the crashed decode is not reported as corrupt: ' + line)
    note('import: ' + line.strip())
    counts = crash_tools.check(project)
    # and at training: an imported photo that now crashes the decoder
    victim = item_paths(project)[0]
    with open(victim, 'wb') as f:
        f.write(b'BTCRASH and more bytes')
    p = crash_tools.run('train', project, '--epochs', '1', *TRAIN)
    if p.returncode != 3 or os.path.basename(victim) not in p.stdout:
        fail('train with a crashing decoder: exit %d\n%s%s' % (p.returncode, p.stdout, p.stderr))
    note('train: %d items, exit 3, %s named' % (counts['items'], os.path.basename(victim)))


def main():
    cli, checker = sys.argv[1], sys.argv[2]
    tools = Tools(cli, checker)
    work = tempfile.mkdtemp(prefix='bt-train-guards-')
    try:
        src = make_tree(os.path.join(work, 'src'), classes=2, per_class=12, size=16)
        project = os.path.join(work, 'p')
        p = tools.run('new', project, '--from', src)
        if p.returncode != 0:
            fail('new --from failed:\n' + p.stderr)
        run_lock(tools, project)
        unreadable(tools, project)
        if len(sys.argv) < 4 or sys.argv[3] == 'development':
            decoder_crash(tools, work, src)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print('ok')


if __name__ == '__main__':
    main()
