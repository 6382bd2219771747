#!/usr/bin/python3
"""The data doctor's label-issue finding done in PyTorch, for bench-doctor --torch (#22).

    /usr/bin/python3 bench/torch_doctor_oof.py --list DIR/torch-list.tsv --epochs 5

The list has one image a line: path, given class, true class (tab-separated; written by
bench-doctor). The same idea as the doctor: K stratified folds, a fresh network of the preset
per fold (Adam, cosine learning rate, the project's batch size) trained on the other folds
and predicting its own, then confident learning on the out-of-fold probabilities (per-class
thresholds = mean self-confidence; an image counts for the most probable class that reaches
its threshold, else for its argmax when even its own class is unsure; off the diagonal = an
issue, ranked by 1 - P(given)). Prints one RESULT line that bench-doctor reads."""
import argparse
import math
import os
import sys
import time

# two threads on a shared, loaded machine: OpenMP's spinning waits burn CPU for nothing
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
    from PIL import Image
except ImportError as e:  # the bench skips the baseline
    print(f"torch_doctor_oof: {e}", file=sys.stderr)
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_fmnist import make_net  # noqa: E402  (the same MLP / Small CNN as bench-train)


def load(list_path):
    paths, given, truth = [], [], []
    with open(list_path, encoding="utf-8") as f:
        for line in f:
            p, g, t = line.rstrip("\n").split("\t")
            paths.append(p)
            given.append(int(g))
            truth.append(int(t))
    x = np.stack([np.asarray(Image.open(p).convert("L"), dtype=np.uint8) for p in paths])
    return torch.from_numpy(x).unsqueeze(1), np.array(given), np.array(truth)


def stratified_folds(labels, k, rng):
    fold = np.empty(len(labels), dtype=np.int64)
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        rng.shuffle(members)
        fold[members] = np.arange(len(members)) % k
    return fold


def out_of_fold(x, y, fold, k, args):
    probs = np.zeros((len(y), int(y.max()) + 1))
    yt = torch.from_numpy(y)
    for f in range(k):
        train = np.flatnonzero(fold != f)
        held = np.flatnonzero(fold == f)
        torch.manual_seed(args.seed * 1000003 + f)
        net = make_net(args.preset, dropout=args.dropout)
        opt = torch.optim.Adam(net.parameters(), lr=args.lr)
        steps = math.ceil(len(train) / args.batch) * args.epochs
        t = 0
        net.train()
        for _ in range(args.epochs):
            order = torch.from_numpy(train)[torch.randperm(len(train))]
            for s in range(0, len(order), args.batch):
                rows = order[s:s + args.batch]
                for g in opt.param_groups:
                    g["lr"] = args.lr * 0.5 * (1 + math.cos(math.pi * t / steps))
                opt.zero_grad()
                loss = F.cross_entropy(net(x[rows].float() / 255.0), yt[rows])
                loss.backward()
                opt.step()
                t += 1
        net.eval()
        with torch.no_grad():
            for s in range(0, len(held), 256):
                rows = held[s:s + 256]
                probs[rows] = F.softmax(net(x[rows].float() / 255.0), dim=1).numpy()
    return probs


def confident_learning(P, given):
    c = P.shape[1]
    self_conf = P[np.arange(len(given)), given]
    thr = np.array([self_conf[given == j].mean() if (given == j).any() else 1.0 for j in range(c)])
    issues = []
    for i, p in enumerate(P):
        ok = np.flatnonzero(p >= thr)
        best = ok[np.argmax(p[ok])] if len(ok) else -1
        if best < 0 and p[given[i]] < thr[given[i]]:
            best = int(np.argmax(p))
        if best >= 0 and best != given[i]:
            issues.append((1.0 - p[given[i]], i, best))
    issues.sort(key=lambda s: (-s[0], s[1]))
    return issues


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--list", required=True)
    ap.add_argument("--preset", default="mlp", choices=["mlp", "small-cnn"])
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    x, given, truth = load(args.list)
    cpu0, wall0 = time.process_time(), time.monotonic()
    fold = stratified_folds(given, args.folds, np.random.default_rng(args.seed))
    P = out_of_fold(x, given, fold, args.folds, args)
    issues = confident_learning(P, given)
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    flipped = given != truth
    in500 = sum(flipped[i] for _, i, _ in issues[:500])
    in1000 = sum(flipped[i] for _, i, _ in issues[:1000])
    found = [(i, s) for _, i, s in issues if flipped[i]]
    right = sum(truth[i] == s for i, s in found)
    acc = float((P.argmax(axis=1) == given).mean())
    print(f"RESULT oof_accuracy={acc:.4f} issues={len(issues)} precision500={in500 / 500:.4f} "
          f"recall1000={in1000 / max(flipped.sum(), 1):.4f} found={len(found)} right={right} "
          f"cpu={cpu:.1f} wall={wall:.1f}")


if __name__ == "__main__":
    main()
