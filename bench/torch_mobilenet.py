#!/usr/bin/python3
"""torch_mobilenet.py: images/s of torchvision's mobilenet_v2 (random weights, eval mode,
224x224, one image per forward) on a given number of threads; bench-embed runs it beside
Bottega's own executor. Prints 'images/s VALUE cpu_ms VALUE' or 'SKIP reason'."""
import sys
import time

def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 64
    batch = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    try:
        import torch
        import torchvision
    except ImportError as e:
        print("SKIP", e)
        return 0
    torch.manual_seed(0)
    torch.set_num_threads(threads)
    model = torchvision.models.mobilenet_v2(weights=None).eval()
    # The embedding: everything before the classifier (features + global average pool).
    x = torch.randn(batch, 3, 224, 224)
    with torch.inference_mode():
        for _ in range(3):
            model.features(x)
        t0 = time.perf_counter()
        c0 = time.process_time()
        done = 0
        while done < n:
            y = model.features(x).mean((2, 3))
            done += batch
        dt = time.perf_counter() - t0
        cpu = time.process_time() - c0
    assert y.shape[1] == 1280
    print("images/s %.2f cpu_ms %.1f" % (done / dt, 1000.0 * cpu / done))
    return 0

if __name__ == "__main__":
    sys.exit(main())
