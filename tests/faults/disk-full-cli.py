#!/usr/bin/env python3
"""disk-full-cli.py CLI CHECKER SHIM: bottega-cli on a full disk. As root (CI) the disk is a
real one: a 32 MiB tmpfs mounted by this script in a private mount namespace, filled at the
moment that matters. Otherwise, and for the best model (whose write only a shim can single
out), an LD_PRELOAD shim makes the writes of the chosen files fail with ENOSPC. For the import,
the project file, a checkpoint and the best model: a clear message, exit status 1 (never a
signal), the old files byte for byte, no temp file left, and every project file still parses."""
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from faultlib import Tools, make_tree, temp_files, fail, note  # noqa: E402

NOSPACE = os.strerror(28)  # "No space left on device"


class Disk:
    """A small disk: a tmpfs (root) or a plain folder + the shim (filled by env)."""

    def __init__(self, work, real):
        self.path = os.path.join(work, 'disk')
        os.makedirs(self.path)
        self.real = real
        if real:
            subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=32m', 'tmpfs', self.path], check=True)
        self.filler = os.path.join(self.path, 'filler')

    def fill(self):
        if not self.real:
            return
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            for size in (65536, 4096, 512, 1):
                try:
                    while True:
                        os.write(fd, b'\0' * size)
                except OSError:
                    pass
        finally:
            os.close(fd)

    def free(self):
        if os.path.exists(self.filler):
            os.unlink(self.filler)

    def close(self):
        if self.real:
            subprocess.run(['umount', '-l', self.path])


def snapshot(project):
    out = {}
    for rel in ['project.ini', 'labels.csv'] + [os.path.relpath(p, project) for p in
                                                glob.glob(os.path.join(project, 'models', '*'))]:
        with open(os.path.join(project, rel), 'rb') as f:
            out[rel] = f.read()
    return out


def expect_clean_failure(what, p, project, before, tools):
    if p.returncode != 1:
        fail('%s on a full disk: exit status %d, expected 1\n%s%s' % (what, p.returncode, p.stdout, p.stderr))
    text = p.stdout + p.stderr
    if NOSPACE not in text and 'disk space' not in text:
        fail('%s on a full disk: the message does not say the disk is full:\n%s' % (what, text))
    if project is not None:
        after = snapshot(project)
        for rel, data in before.items():
            if after.get(rel) != data:
                fail('%s on a full disk changed %s' % (what, rel))
        left = temp_files(project)
        if left:
            fail('%s on a full disk left temp files: %s' % (what, left))
        tools.check(project)
    note('%s: exit 1, “%s”' % (what, text.strip().splitlines()[-1]))


def main():
    cli, checker, shim = (os.path.abspath(a) for a in sys.argv[1:4])
    real = os.geteuid() == 0 and os.environ.get('BT_DISK_FULL_SHIM') is None
    if real and os.environ.get('BT_IN_PRIVATE_NS') is None:
        # our own mount namespace: the tmpfs is invisible to the rest of the machine and goes
        # away with this process. A container may refuse it (no CAP_SYS_ADMIN): then the shim.
        probe = subprocess.run(['unshare', '-m', '--propagation', 'private', 'sh', '-c',
                                'd=$(mktemp -d) && mount -t tmpfs -o size=1m tmpfs "$d" && umount "$d"; r=$?; rmdir "$d"; exit $r'],
                               capture_output=True)
        if probe.returncode == 0:
            env = dict(os.environ, BT_IN_PRIVATE_NS='1')
            r = subprocess.run(['unshare', '-m', '--propagation', 'private', sys.executable] + sys.argv, env=env)
            sys.exit(r.returncode)
        note('cannot mount a tmpfs in a private namespace: the shim stands in for a full disk')
        real = False
    tools = Tools(cli, checker)
    work = tempfile.mkdtemp(prefix='bt-full-')
    disk = Disk(work, real)
    note('full disk by %s' % ('a 32 MiB tmpfs' if real else 'the LD_PRELOAD shim'))

    def shim_env(match):
        return dict(tools.env, LD_PRELOAD=shim, BT_ENOSPC_MATCH=match, BT_ENOSPC_AFTER='0')

    try:
        src = make_tree(os.path.join(work, 'src'), classes=3, per_class=30, size=24)
        project = os.path.join(disk.path, 'p')

        # 1. the import: nothing is left, and the same command works once there is room
        disk.fill()
        env = tools.env if real else shim_env(disk.path)
        p = subprocess.run([cli, 'new', project, '--from', src], capture_output=True, text=True, env=env)
        expect_clean_failure('import (new --from)', p, None, None, tools)
        if os.path.exists(os.path.join(project, 'project.ini')):
            fail('a failed import left a project behind')
        disk.free()
        p = tools.run('new', project, '--from', src)
        if p.returncode != 0:
            fail('new --from with room again:\n' + p.stderr)
        p = tools.run('train', project, '--preset', 'mlp', '--size', '16', '--epochs', '1', '--quiet')
        if p.returncode != 0:
            fail('a first training run failed:\n' + p.stdout + p.stderr)

        # 2. the project file: a setting given to train is saved first
        before = snapshot(project)
        disk.fill()
        env = tools.env if real else shim_env('project.ini')
        p = subprocess.run([cli, 'train', project, '--epochs', '2', '--lr', '0.005'],
                           capture_output=True, text=True, env=env)
        expect_clean_failure('project.ini (train --lr)', p, project, before, tools)
        disk.free()

        # 3. a checkpoint: the disk fills once the run has started
        before = snapshot(project)
        n_runs = len(os.listdir(os.path.join(project, 'runs')))
        if real:
            proc = subprocess.Popen([cli, 'train', project, '--preset', 'small-cnn', '--size', '24',
                                     '--epochs', '2'], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True, env=tools.env)
            before = None
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and proc.poll() is None:
                runs = os.listdir(os.path.join(project, 'runs'))
                if len(runs) > n_runs:
                    break
                time.sleep(0.001)
            before = snapshot(project)  # project.ini now holds the new preset
            disk.fill()
            out, err = proc.communicate(timeout=120)
            p = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
            if p.returncode < 0:
                fail('train died of signal %d on a full disk' % -p.returncode)
        else:
            env = shim_env('checkpoint-')
            p = subprocess.run([cli, 'train', project, '--preset', 'small-cnn', '--size', '24', '--epochs', '2'],
                               capture_output=True, text=True, env=env)
            before = {k: v for k, v in before.items() if k != 'project.ini'}
        expect_clean_failure('checkpoint or best model (the disk fills during a run)', p, project, before, tools)
        disk.free()

        # 4. the best model (the shim, on either disk: only the model's write fails)
        before = snapshot(project)
        env = shim_env('.bottega-model')
        p = subprocess.run([cli, 'train', project], capture_output=True, text=True, env=env)
        expect_clean_failure('best model (train)', p, project, before, tools)
    finally:
        disk.free()
        disk.close()
        shutil.rmtree(work, ignore_errors=True)
    note('PASS')


if __name__ == '__main__':
    main()
