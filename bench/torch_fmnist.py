#!/usr/bin/python3
"""The same nets as bench-train.c in PyTorch, for a side-by-side comparison (bench/run-all.sh).

    /usr/bin/python3 bench/torch_fmnist.py --preset small-cnn --epochs 5

Fashion-MNIST from the gzip IDX files, pixels / 255, Adam 1e-3, batch 64, 2 threads;
prints the same RESULT line as bench-train."""
import argparse
import gzip
import resource
import statistics
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    rank = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(rank)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * rank).reshape(dims)


def make_net(preset, dropout=0.25):
    if preset == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                             nn.Linear(128, 10))
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Dropout(dropout), nn.Linear(128, 10))


def bottega_init(net):
    """Bottega's former initialization, for a like-with-like comparison."""
    layers = [m for m in net if isinstance(m, (nn.Conv2d, nn.Linear))]
    for m in layers:
        if m is layers[-1]:
            nn.init.xavier_uniform_(m.weight)
        else:
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
        nn.init.zeros_(m.bias)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="small-cnn", choices=["mlp", "small-cnn"])
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--limit", type=int, default=0, help="train on only this many images per epoch")
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--test-limit", type=int, default=0, help="score only the first N test images")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--init", default="torch", choices=["torch", "bottega"],
                    help="torch: PyTorch's defaults; bottega: He-normal, zero biases, Glorot classifier")
    # lock-step comparison with bench-train --save-init: same weights, same batches
    ap.add_argument("--load-init", help="initial weights from bench-train --save-init")
    ap.add_argument("--dropout", type=float, default=0.25)
    ap.add_argument("--no-shuffle", action="store_true", help="train in file order")
    ap.add_argument("--trace", type=int, default=0, help="print the batch loss every N steps")
    ap.add_argument("--ema", type=float, default=0.0,
                    help="also score a moving average of the weights, decay min(D, (1+t)/(10+t)), "
                         "as Bottega's trainer does (0 = off)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    xtr = torch.from_numpy(read_idx(args.data + "/train-images-idx3-ubyte.gz").copy()).unsqueeze(1)
    ytr = torch.from_numpy(read_idx(args.data + "/train-labels-idx1-ubyte.gz").astype(np.int64))
    xte = torch.from_numpy(read_idx(args.data + "/t10k-images-idx3-ubyte.gz").copy()).unsqueeze(1)
    yte = torch.from_numpy(read_idx(args.data + "/t10k-labels-idx1-ubyte.gz").astype(np.int64))
    if args.test_limit > 0:
        xte, yte = xte[:args.test_limit], yte[:args.test_limit]

    net = make_net(args.preset, args.dropout)
    if args.init == "bottega":
        bottega_init(net)
    if args.load_init:
        flat = torch.from_numpy(np.fromfile(args.load_init, dtype=np.float32))
        params = list(net.parameters())
        assert len(flat) == sum(p.numel() for p in params), "weights file does not match the net"
        off = 0
        with torch.no_grad():
            for p in params:
                p.copy_(flat[off:off + p.numel()].view_as(p))
                off += p.numel()
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    print(f"PyTorch {torch.__version__} {args.preset}: {sum(p.numel() for p in net.parameters())} parameters, "
          f"batch {args.batch}, {args.threads} threads")
    per_epoch = min(args.limit, len(xtr)) if args.limit > 0 else len(xtr)
    average = [p.detach().clone() for p in net.parameters()] if args.ema > 0 else None
    avg_t = 0

    def swap_average():
        with torch.no_grad():
            for a, p in zip(average, net.parameters()):
                tmp = p.detach().clone()
                p.copy_(a)
                a.copy_(tmp)

    def test_accuracy():
        correct = 0
        with torch.no_grad():
            for s in range(0, len(xte), 256):
                out = net(xte[s:s + 256].float() / 255)
                correct += (out.argmax(1) == yte[s:s + 256]).sum().item()
        return correct / len(xte)

    ips, cpu_ips, acc, infer = [], [], [], 0.0
    for epoch in range(args.epochs):
        net.train()
        perm = torch.arange(len(xtr)) if args.no_shuffle else torch.randperm(len(xtr))
        t0 = time.perf_counter()
        c0 = time.process_time()
        total = 0.0
        steps = 0
        for s in range(0, per_epoch, args.batch):
            idx = perm[s:min(s + args.batch, per_epoch)]
            x = xtr[idx].float() / 255
            loss = F.cross_entropy(net(x), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            if average is not None:
                avg_t += 1
                take = 1.0 - min(args.ema, (1.0 + avg_t) / (10.0 + avg_t))
                with torch.no_grad():
                    for a, p in zip(average, net.parameters()):
                        a.add_(p.detach() - a, alpha=take)
            if args.trace > 0 and steps % args.trace == 0:
                print(f"step {steps} loss {loss.item():.6f}")
            total += loss.item()
            steps += 1
        secs = time.perf_counter() - t0
        ips.append(per_epoch / secs)
        cpu_ips.append(per_epoch / (time.process_time() - c0))
        net.eval()
        correct = 0
        t0 = time.perf_counter()
        with torch.no_grad():
            for s in range(0, len(xte), 256):
                out = net(xte[s:s + 256].float() / 255)
                correct += (out.argmax(1) == yte[s:s + 256]).sum().item()
        esecs = time.perf_counter() - t0
        infer = max(infer, len(xte) / esecs)
        acc.append(correct / len(xte))
        if average is not None:
            swap_average()
            print(f"epoch {epoch + 1}: test accuracy of the weights' moving average {test_accuracy():.4f}")
            swap_average()
        print(f"epoch {epoch + 1}: loss {total / steps:.4f}, {ips[-1]:.0f} img/s training "
              f"({cpu_ips[-1]:.0f} img per CPU-s), "
              f"test accuracy {acc[-1]:.4f}, {len(xte) / esecs:.0f} img/s inference")
    tail = ips[1:] if len(ips) > 1 else ips
    ctail = cpu_ips[1:] if len(cpu_ips) > 1 else cpu_ips
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    a = lambda e: acc[e - 1] if len(acc) >= e else 0.0
    print(f"RESULT impl=pytorch preset={args.preset} train_ips={statistics.median(tail):.0f} "
          f"cpu_ips={statistics.median(ctail):.0f} "
          f"infer_ips={infer:.0f} acc1={a(1):.4f} acc3={a(3):.4f} acc5={a(5):.4f} rss_mib={rss:.1f}")


if __name__ == "__main__":
    main()
