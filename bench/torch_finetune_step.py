#!/usr/bin/python3
"""torch_finetune_step.py: PyTorch's twin of bench-finetune-step: one training step of
torchvision mobilenet_v2's top N inverted-residual blocks (random weights, same shapes), the
1x1 convolution to 1280, the pooling and a 12-class linear head, batch B, on random
activations at the cut: forward, cross-entropy, backward, Adam. Batch norm is replaced by
Identity because the TFLite graph Bottega trains has it folded into the convolutions (a frozen,
folded BN is what both train). Prints the same line as bench-finetune-step, or 'SKIP reason'.
  torch_finetune_step.py N [BATCH] [STEPS] [THREADS]"""
import sys
import time


def main():
    n_blocks = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    batch = int(sys.argv[2]) if len(sys.argv) > 2 else 32
    steps = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    threads = int(sys.argv[4]) if len(sys.argv) > 4 else 2
    try:
        import torch
        import torchvision
    except ImportError as e:
        print("SKIP", e)
        return 0
    torch.manual_seed(0)
    torch.set_num_threads(threads)
    net = torchvision.models.mobilenet_v2(weights=None)
    for name, mod in list(net.named_modules()):
        for cname, child in list(mod.named_children()):
            if isinstance(child, torch.nn.BatchNorm2d):
                setattr(mod, cname, torch.nn.Identity())
    feats = net.features
    # features[1..17] are the 17 inverted-residual blocks, features[18] the 1x1 conv to 1280
    first = 18 - n_blocks
    top = torch.nn.Sequential(*[feats[i] for i in range(first, 19)])
    head = torch.nn.Linear(1280, 12)
    # the cut's shape: run the bottom once
    with torch.no_grad():
        x = feats[:first](torch.randn(1, 3, 224, 224))
    x = torch.rand(batch, *x.shape[1:]) * 6
    labels = torch.randint(0, 12, (batch,))
    params = list(top.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=1e-4)
    lossf = torch.nn.CrossEntropyLoss()
    wall = cpu = 0.0
    for s in range(steps + 1):
        t0, c0 = time.perf_counter(), time.process_time()
        opt.zero_grad(set_to_none=True)
        loss = lossf(head(top(x).mean((2, 3))), labels)
        loss.backward()
        opt.step()
        if s > 0:
            wall += time.perf_counter() - t0
            cpu += time.process_time() - c0
    n_params = sum(p.numel() for p in top.parameters())
    print("pytorch  blocks=%d batch=%d threads=%d params=%d  %.1f ms/step  %.1f img/s  cpu %.3f s/step"
          % (n_blocks, batch, threads, n_params, 1e3 * wall / steps, batch * steps / wall, cpu / steps))
    return 0


if __name__ == "__main__":
    sys.exit(main())
