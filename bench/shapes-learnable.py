#!/usr/bin/python3
"""shapes-learnable.py: checks that the built-in Shapes sample is learnable by a small CNN.

Generates the default sample (4 x 250 images, 64 x 64) with bench-make-shapes, trains the
"Small CNN" shape of DESIGN.md (conv3x3.32 - pool - conv3x3.64 - pool - dense 128 - dropout)
with PyTorch on the project's own train split, and prints the validation accuracy.
Usage: shapes-learnable.py PATH/TO/bench-make-shapes [EPOCHS]
"""
import csv
import os
import shutil
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import torch
    import torch.nn as nn
    from PIL import Image
except ImportError as e:
    print("SKIP: needs python3-torch, python3-numpy and python3-pil (%s)" % e)
    sys.exit(0)


def main():
    maker = sys.argv[1]
    epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 15
    tmp = tempfile.mkdtemp(prefix="bt-shapes-")
    try:
        proj = os.path.join(tmp, "shapes")
        subprocess.run([maker, proj], check=True, stdout=subprocess.DEVNULL)
        rows = list(csv.DictReader(open(os.path.join(proj, "labels.csv"), newline="")))
        classes = sorted({r["class"] for r in rows}, key=["circle", "square", "triangle", "star"].index)
        data = {"train": ([], []), "val": ([], []), "test": ([], [])}
        for r in rows:
            path = r["path"] if os.path.isabs(r["path"]) else os.path.join(proj, r["path"])
            img = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0
            data[r["split"]][0].append(img.transpose(2, 0, 1))
            data[r["split"]][1].append(classes.index(r["class"]))
        tensors = {k: (torch.tensor(np.stack(v[0])), torch.tensor(v[1])) for k, v in data.items() if v[0]}
        torch.manual_seed(0)
        torch.set_num_threads(2)
        model = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * 16 * 16, 128), nn.ReLU(), nn.Dropout(0.5),
            nn.Linear(128, len(classes)))
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        xt, yt = tensors["train"]
        for epoch in range(epochs):
            model.train()
            perm = torch.randperm(len(xt))
            for i in range(0, len(xt), 32):
                idx = perm[i:i + 32]
                opt.zero_grad()
                loss = nn.functional.cross_entropy(model(xt[idx]), yt[idx])
                loss.backward()
                opt.step()
            model.eval()
            with torch.no_grad():
                xv, yv = tensors["val"]
                acc = (model(xv).argmax(1) == yv).float().mean().item()
            print("epoch %2d  loss %.3f  val_acc %.3f" % (epoch + 1, loss.item(), acc))
        print("splits: train %d, val %d, test %d" % tuple(len(tensors[k][1]) if k in tensors else 0
                                                        for k in ("train", "val", "test")))
        print("final validation accuracy: %.1f %%" % (100 * acc))
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
