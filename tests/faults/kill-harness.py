#!/usr/bin/env python3
"""kill-harness.py CLI CHECKER: kill -9 `bottega-cli new --from` and `bottega-cli train` at
random moments (some chosen by watching for the temp file of a write in progress), and after
every kill check that every project file parses, that no label is lost, that an interrupted
import can be redone, and that --resume continues at the epoch after the last checkpoint.
Bounded: about 20 kills of each kind, ~30 s in all. BT_KILL_SEED=N repeats a run."""
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from faultlib import Tools, make_tree, temp_files, fail, note  # noqa: E402

N_KILLS = int(os.environ.get('BT_KILLS', '20'))
EPOCHS = 4


def kill_at(proc, project, deadline_s, watch):
    """SIGKILL proc after deadline_s, or as soon as a temp file shows up when watch is set.
    Returns what triggered the kill ('time', 'temp:<name>') or 'exited'."""
    t0 = time.monotonic()
    while proc.poll() is None:
        if watch:
            tmp = [t for t in temp_files(project) if watch is True or watch in os.path.basename(t)]
            if tmp:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                return 'temp:' + os.path.basename(tmp[0])
        if time.monotonic() - t0 >= deadline_s:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return 'time'
        time.sleep(0.0005 if watch else 0.002)
    return 'exited'


def kills_during_import(tools, rng, work, src, n_images):
    """A killed `new --from` leaves either nothing, or a project that parses and holds every
    label, or an unfinished one that the same command redoes."""
    t0 = time.monotonic()
    p = tools.run('new', os.path.join(work, 'timing'), '--from', src)
    full = time.monotonic() - t0
    if p.returncode != 0:
        fail('new --from failed:\n' + p.stderr)
    stats = {'nothing': 0, 'complete': 0, 'redone': 0}
    for k in range(N_KILLS):
        project = os.path.join(work, 'import%02d' % k)
        watch = k % 3 == 2
        proc = tools.start('new', project, '--from', src)
        why = kill_at(proc, project, rng.uniform(0, full * 1.1), watch)
        if not os.path.exists(os.path.join(project, 'project.ini')):
            stats['nothing'] += 1
        else:
            unfinished = os.path.exists(os.path.join(project, '.bottega-new-incomplete'))
            counts = tools.check(project)
            if not unfinished and counts['items'] != n_images:
                fail('import %d (%s): a complete project lost labels: %s' % (k, why, counts))
            if unfinished:
                stats['redone'] += 1
            else:
                stats['complete'] += 1
        # the same command again always ends with every image
        if not os.path.exists(os.path.join(project, 'project.ini')) or \
           os.path.exists(os.path.join(project, '.bottega-new-incomplete')):
            again = tools.run('new', project, '--from', src)
            if again.returncode != 0:
                fail('import %d (%s): `new --from` cannot be redone:\n%s' % (k, why, again.stderr))
        counts = tools.check(project)
        if counts['items'] != n_images:
            fail('import %d: %d of %d labels after the redo' % (k, counts['items'], n_images))
        shutil.rmtree(project)
    note('import: %d kills (full import %.2f s): left nothing %d, complete %d, redone %d'
         % (N_KILLS, full, stats['nothing'], stats['complete'], stats['redone']))


def newest_resumable(project):
    """(run folder, last checkpoint epoch) of the run --resume takes, or (None, 0)."""
    runs = os.path.join(project, 'runs')
    best = (None, 0)
    for name in sorted(os.listdir(runs)) if os.path.isdir(runs) else []:
        d = os.path.join(runs, name)
        if os.path.exists(os.path.join(d, 'finished')) or not os.path.exists(os.path.join(d, 'config.ini')):
            continue
        epochs = [int(m[1]) for m in (re.match(r'^checkpoint-(\d+)\.state$', f) for f in os.listdir(d)) if m]
        if epochs:
            best = (d, max(epochs))
    return best


def resume_args(tools, project, run_dir):
    """--resume as this build spells it: bare, with the run id, or --resume-run FOLDER."""
    if tools.resume_style is None:
        help_text = tools.run('train', '--help').stdout
        if re.search(r'--resume(=| )\[?RUN', help_text):
            tools.resume_style = 'id'
        else:
            tools.resume_style = 'bare'
    if tools.resume_style == 'id':
        # "--resume=ID" works for a required and for an optional GOption argument alike
        return ['--resume=' + os.path.basename(run_dir)]
    return ['--resume']


def first_epoch(output):
    m = re.search(r'^Epoch (\d+)/(\d+)', output, re.M)
    return int(m[1]) if m else None


def kills_during_training(tools, rng, work, src, n_images):
    project = os.path.join(work, 'train')
    p = tools.run('new', project, '--from', src)
    if p.returncode != 0:
        fail(p.stderr)
    labels = open(os.path.join(project, 'labels.csv'), 'rb').read()
    train_args = ['--preset', 'small-cnn', '--size', '24', '--batch-size', '16', '--epochs', str(EPOCHS)]
    t0 = time.monotonic()
    p = tools.run('train', project, *train_args, '--quiet')
    full = time.monotonic() - t0
    if p.returncode != 0:
        fail('training failed:\n' + p.stdout + p.stderr)
    resumed = checked = 0
    stats = {}
    for k in range(N_KILLS):
        run_dir, last = newest_resumable(project)
        if run_dir is not None:
            args = ['train', project] + resume_args(tools, project, run_dir)
        else:
            args = ['train', project]
        proc = tools.start(*args)
        # every third kill waits for a write in progress: a checkpoint, the metrics, the model
        watch = [False, False, '.state.', False, False, 'metrics.csv.', False, False, '.bottega-model.'][k % 9]
        # (a watching kill waits longer: the write may come only at the end of an epoch)
        why = kill_at(proc, project, full * 1.5 if watch else rng.uniform(0.05, full * 0.5), watch)
        out = proc.stdout.read() if proc.stdout else ''
        err = proc.stderr.read() if proc.stderr else ''
        key = why if not why.startswith('temp:') else 'temp ' + watch.strip('.')
        stats[key] = stats.get(key, 0) + 1
        if why == 'exited' and proc.returncode != 0:
            fail('train %d exited %d:\n%s%s' % (k, proc.returncode, out, err))
        tools.check(project)
        if open(os.path.join(project, 'labels.csv'), 'rb').read() != labels:
            fail('train %d (%s): labels.csv changed' % (k, why))
        if run_dir is not None:
            resumed += 1
            e = first_epoch(out)
            if e is not None:
                checked += 1
                if e != last + 1:
                    fail('train %d: resumed %s (last checkpoint %d) at epoch %d\n%s'
                         % (k, os.path.basename(run_dir), last, e, out))
    # the last word: a resume runs to the end
    run_dir, last = newest_resumable(project)
    if run_dir is not None:
        p = tools.run('train', project, *resume_args(tools, project, run_dir))
        if p.returncode != 0:
            fail('the final resume failed:\n' + p.stdout + p.stderr)
        if first_epoch(p.stdout) != last + 1 and last < EPOCHS:
            fail('the final resume started at epoch %s, not %d' % (first_epoch(p.stdout), last + 1))
        if not re.search(r'^Epoch %d/%d' % (EPOCHS, EPOCHS), p.stdout, re.M):
            fail('the final resume did not reach epoch %d:\n%s' % (EPOCHS, p.stdout))
    counts = tools.check(project)
    if counts['items'] != n_images:
        fail('training lost labels: %s' % counts)
    counts['orphan temp files'] = len(temp_files(project))
    note('train: %d kills (full run %.2f s; %s), %d resumes, %d of them checked to start at '
         'the epoch after their last checkpoint; %s' % (N_KILLS, full, stats, resumed, checked, counts))


def main():
    cli, checker = sys.argv[1], sys.argv[2]
    seed = int(os.environ.get('BT_KILL_SEED', str(random.randrange(1 << 30))))
    note('seed %d (BT_KILL_SEED=%d repeats this run)' % (seed, seed))
    rng = random.Random(seed)
    tools = Tools(cli, checker)
    tools.resume_style = None
    # /dev/shm when there is one: the fsyncs of a real disk would make each run seconds longer
    base = os.environ.get('BT_FAULT_TMP') or ('/dev/shm' if os.path.isdir('/dev/shm') else None)
    work = tempfile.mkdtemp(prefix='bt-kill-', dir=base)
    try:
        src = make_tree(os.path.join(work, 'src'), classes=3, per_class=40, size=24, seed=seed)
        t0 = time.monotonic()
        kills_during_import(tools, rng, work, src, 120)
        t1 = time.monotonic()
        kills_during_training(tools, rng, work, src, 120)
        note('import part %.1f s, training part %.1f s' % (t1 - t0, time.monotonic() - t1))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    note('PASS')


if __name__ == '__main__':
    main()
