#!/usr/bin/env python3
# Bottega training script for PyTorch, written by `bottega-cli export DIR --pytorch OUT`.
# It trains the project's architecture with the project's settings on a GPU when there is one,
# across processes or machines under torchrun (DistributedDataParallel + DistributedSampler),
# and writes the trained weights as a .bottega-model file that Bottega opens in its Test page.
#
#   python3 train.py                                  # one process (GPU if available)
#   torchrun --nproc_per_node=4 train.py              # four processes on this machine
#   torchrun --nnodes=2 --node_rank=R --master_addr=HOST --nproc_per_node=8 train.py
#
# Beside it: config.json (architecture, settings, preprocessing, classes), labels.csv
# (path,class,split for every usable image) and initial.bottega-model (Bottega's own
# initial weights and the model header that the trained file reuses). For transfer-learning
# projects Bottega has already run the frozen backbone: embeddings/*.npy hold every image's
# embedding and this script trains the head on them (the backbone itself is not trained), and
# backbone.json + backbone.f32 hold the project's model's backbone (fine-tuned blocks included)
# for `--model M --predict photo.jpg` (BackboneNet).
import argparse
import csv
import hashlib
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
try:
    from PIL import Image
except ImportError:  # only image projects need Pillow; transfer heads train on embeddings
    Image = None

HERE = os.path.dirname(os.path.abspath(__file__))
ALIGN = 64


# ---- .bottega-model container (docs/model-format.md) ----

def read_container(path):
    """Returns (version, header text, key-file groups, {float tensor name: (offset, shape, float32
    array)}, data length, {byte tensor name: (offset, bytes)}). Byte tensors (dtype u8, version 2)
    hold a self-contained transfer model's backbone file; they are copied, never trained. A
    fine-tuned model (version 3) also has float tensors backbone.op.K.weight/bias, and models
    since #23 centroids.mean/spread: see network_tensors."""
    with open(path, "rb") as f:
        buf = f.read()
    if len(buf) < 64 or buf[:8] != b"BTGMODEL":
        raise ValueError(f"{path} is not a Bottega model file")
    version, header_len, data_off, data_len = struct.unpack_from("<IIQQ", buf, 8)
    if version not in (1, 2, 3):
        raise ValueError(f"{path}: format version {version} is not supported")
    if hashlib.sha256(buf[:-32]).digest() != buf[-32:]:
        raise ValueError(f"{path}: checksum mismatch")
    header = buf[32:32 + header_len].decode("utf-8")
    groups = parse_keyfile(header)
    tensors, blobs = {}, {}
    for i in range(int(groups["tensors"]["count"])):
        g = groups[f"tensor.{i}"]
        shape = [int(s) for s in g["shape"].split(";") if s]
        off = int(g["offset"])
        n = int(np.prod(shape))
        if g.get("dtype", "f32le") == "u8":
            blobs[g["name"]] = (off, bytes(buf[data_off + off:data_off + off + n]))
            continue
        arr = np.frombuffer(buf, dtype="<f4", count=n, offset=data_off + off).reshape(shape)
        tensors[g["name"]] = (off, shape, arr.copy())
    return version, header, groups, tensors, data_len, blobs


def network_tensors(tensors):
    """The tensors of the layer list in config.json (the head, for a transfer model): not the
    class centroids, nor a fine-tuned backbone's operators (those are in backbone.f32)."""
    return {k: v for k, v in tensors.items() if not k.startswith(("centroids.", "backbone.op."))}


def parse_keyfile(text):
    groups, cur = {}, None
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            cur = groups.setdefault(line[1:-1], {})
        elif "=" in line and cur is not None:
            k, v = line.split("=", 1)
            cur[k.strip()] = unescape(v.lstrip(" "))
    return groups


def unescape(v):
    out, i = [], 0
    while i < len(v):
        c = v[i]
        if c == "\\" and i + 1 < len(v):
            out.append({"s": " ", "n": "\n", "t": "\t", "r": "\r", "\\": "\\"}.get(v[i + 1], v[i + 1]))
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def write_container(template_path, out_path, state, extra_metadata):
    """Writes out_path: the template's header (plus extra [metadata] keys) and the tensors in
    `state` (name → numpy float32) at the template's offsets, then the SHA-256."""
    version, header, groups, tensors, data_len, blobs = read_container(template_path)
    lines = [f"{k}={v}" for k, v in extra_metadata.items()]
    if "[metadata]\n" in header:
        header = header.replace("[metadata]\n", "[metadata]\n" + "".join(l + "\n" for l in lines), 1)
    else:
        header = header + "\n[metadata]\n" + "".join(l + "\n" for l in lines)
    hbytes = header.encode("utf-8")
    data_off = (32 + len(hbytes) + ALIGN - 1) // ALIGN * ALIGN
    data = bytearray(data_len)
    for name, (off, shape, _) in tensors.items():
        arr = np.ascontiguousarray(state[name], dtype="<f4")
        if list(arr.shape) != shape:
            raise ValueError(f"{name}: shape {list(arr.shape)} but the model file wants {shape}")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name}: NaN or infinite weights (training diverged)")
        raw = arr.tobytes()
        data[off:off + len(raw)] = raw
    for off, raw in blobs.values():
        data[off:off + len(raw)] = raw
    buf = bytearray(data_off)
    buf[:32] = b"BTGMODEL" + struct.pack("<IIQQ", version, len(hbytes), data_off, data_len)
    buf[32:32 + len(hbytes)] = hbytes
    buf += data
    buf += hashlib.sha256(bytes(buf)).digest()
    tmp = out_path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(buf)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, out_path)


# ---- The network: Bottega's layer list, executed in order ----

SPATIAL_OPS = ("conv", "dwconv", "maxpool", "avgpool")


def spatial(h, l, conv):
    """A convolution (the module conv), max or average pooling of a layer-list entry; padding is
    explicit (TFLite's SAME pads may be asymmetric), average pooling counts in-bounds values only."""
    pads = (l["pad_left"], l["pad_right"], l["pad_top"], l["pad_bottom"])
    if l["op"] in ("conv", "dwconv"):
        return conv(F.pad(h, pads) if any(pads) else h)
    if l["op"] == "maxpool":
        return F.max_pool2d(F.pad(h, pads, value=-math.inf) if any(pads) else h,
                            (l["kh"], l["kw"]), (l["sh"], l["sw"]))
    if pads[0] != pads[1] or pads[2] != pads[3]:
        raise ValueError("asymmetric average pooling is not supported")
    return F.avg_pool2d(h, (l["kh"], l["kw"]), (l["sh"], l["sw"]), padding=(pads[2], pads[0]),
                        count_include_pad=False)


class BottegaNet(nn.Module):
    def __init__(self, layers):
        super().__init__()
        self.layers = layers
        self.mods = nn.ModuleDict()
        for l in layers:
            key = l["name"].replace(".", "__")
            op = l["op"]
            if op in ("conv", "dwconv"):
                groups = l["in_c"] if op == "dwconv" else l["groups"]
                self.mods[key] = nn.Conv2d(l["in_c"], l["c"], (l["kh"], l["kw"]), (l["sh"], l["sw"]),
                                           padding=0, groups=groups, bias=l["has_bias"])
            elif op == "dense":
                self.mods[key] = nn.Linear(l["in_c"] * l["in_h"] * l["in_w"], l["c"], bias=l["has_bias"])
            elif op == "batchnorm":
                self.mods[key] = nn.BatchNorm2d(l["c"], eps=l["eps"], momentum=l["momentum"])
            elif op == "dropout":
                self.mods[key] = nn.Dropout(l["p"])

    def param_name(self, file_name):
        layer, attr = file_name.rsplit(".", 1)
        return "mods." + layer.replace(".", "__") + "." + attr

    def forward(self, x):
        outs = []
        for l in self.layers:
            h = x if l["src"] < 0 else outs[l["src"]]
            op = l["op"]
            m = self.mods[l["name"].replace(".", "__")] if l["name"].replace(".", "__") in self.mods else None
            if op in SPATIAL_OPS:
                y = spatial(h, l, m)
            elif op == "dense":
                y = m(torch.flatten(h, 1))
            elif op == "gap":
                y = h.mean(dim=(2, 3), keepdim=True)
            elif op == "flatten":
                y = torch.flatten(h, 1)
            elif op == "dropout":
                y = m(h)
            elif op == "batchnorm":
                y = m(h)
            elif op == "add":
                y = h + outs[l["src2"]]
            else:
                raise ValueError(f"unknown layer {op}")
            if l["act"] == "relu":
                y = F.relu(y)
            elif l["act"] == "relu6":
                y = F.relu6(y)
            outs.append(y)
        return torch.flatten(outs[-1], 1)


class BackboneNet(nn.Module):
    """A transfer project's backbone as Bottega's float executor runs it, from the image to the
    embedding: backbone.json (one layer per operator of the TFLite graph, in order) and the raw
    little-endian float32 weights of backbone.f32 (no pickle). Its parameters are ordinary torch
    parameters (conv.<index>.weight/bias), so it can be trained further."""

    def __init__(self, graph_path):
        super().__init__()
        with open(graph_path, encoding="utf-8") as f:
            self.graph = json.load(f)
        blob = np.fromfile(os.path.join(os.path.dirname(graph_path), self.graph["weights"]), dtype="<f4")
        self.layers = self.graph["layers"]
        self.convs = nn.ModuleDict()
        for l in self.layers:
            if l["op"] not in ("conv", "dwconv"):
                continue
            m = nn.Conv2d(l["in_c"], l["c"], (l["kh"], l["kw"]), (l["sh"], l["sw"]), padding=0,
                          groups=l["groups"], bias=True)
            with torch.no_grad():
                for name in ("weight", "bias"):
                    ref = l[name]
                    n = int(np.prod(ref["shape"]))
                    if ref["offset"] + n > blob.size:
                        raise ValueError(f"{self.graph['weights']} is shorter than backbone.json says")
                    getattr(m, name).copy_(torch.from_numpy(blob[ref["offset"]:ref["offset"] + n]
                                                            .reshape(ref["shape"]).copy()))
            self.convs[str(l["index"])] = m

    def operator_weights(self, index):
        m = self.convs[str(index)]
        return m.weight.detach().numpy(), m.bias.detach().numpy()

    def forward(self, x):
        outs = []
        for l in self.layers:
            h = x if l["src"] < 0 else outs[l["src"]]
            op = l["op"]
            if op in SPATIAL_OPS:
                y = spatial(h, l, self.convs[str(l["index"])] if op in ("conv", "dwconv") else None)
            elif op == "mean":
                y = h.mean(dim=(2, 3), keepdim=l["out_rank"] == 4)
            elif op == "add":
                y = h + (outs[l["src2"]] if l["src2"] >= 0 else l["constant"])
            elif op == "identity":
                y = h
            else:
                raise ValueError(f"unknown backbone layer {op}")
            if l["lo"] is not None or l["hi"] is not None:
                y = torch.clamp(y, min=l["lo"], max=l["hi"])
            outs.append(y)
        return torch.flatten(outs[-1], 1)


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def check_backbone(backbone, groups, tensors, model_path):
    """A transfer model predicts through backbone.f32 only when it is that model's backbone: the
    same file (SHA-256) and, for a fine-tuned model, the same replaced operators and weights."""
    g = backbone.graph
    sha = groups.get("backbone", {}).get("sha256", "")
    if sha != g["backbone_sha256"]:
        sys.exit(f"{model_path}: its backbone (SHA-256 {sha[:12]}…) is not the one in backbone.json "
                 f"({g['backbone']}); export the project again from Bottega with this model as its model")
    tuned = {}
    for name, (_, _, arr) in tensors.items():
        if name.startswith("backbone.op."):
            op, kind = name[len("backbone.op."):].rsplit(".", 1)
            tuned.setdefault(int(op), {})[kind] = arr
    if sorted(tuned) != sorted(g["fine_tuned_ops"]):
        sys.exit(f"{model_path}: its fine-tuned backbone operators {sorted(tuned)} are not the ones in "
                 f"backbone.json {sorted(g['fine_tuned_ops'])}; export the project again from Bottega "
                 "with this model as its model")
    for op, wb in tuned.items():
        w, b = backbone.operator_weights(op)
        if w.shape != wb["weight"].shape or not np.array_equal(w, wb["weight"]) or not np.array_equal(b, wb["bias"]):
            sys.exit(f"{model_path}: the fine-tuned weights of operator {op} differ from backbone.f32's; "
                     "export the project again from Bottega with this model as its model")


def predict_images(model, cfg, transfer, groups, tensors, model_path, paths, out_path, temperature, device):
    """Photos → the model's probabilities: decoded and resized as config.json says, normalized with
    the backbone's preprocessing, backbone (backbone.json) + head, the model's test-time mirroring
    (mean of the two passes' logits) and softmax(logits / temperature). Prints one JSON line per
    photo; out_path (optional) gets them as float32, photos × classes."""
    if not transfer:
        sys.exit("--predict with photos is for transfer projects; give other models raw float32 inputs")
    backbone = BackboneNet(os.path.join(HERE, transfer["network"]["graph"]))
    check_backbone(backbone, groups, tensors, model_path)
    backbone.to(device).eval()
    model.eval()
    mirror = groups.get("inference", {}).get("test-time-augmentation", "none") == "mirror"
    x = torch.from_numpy(np.stack([normalize(load_pixels(p, cfg), cfg) for p in paths])).to(device)
    with torch.no_grad():
        logits = model(backbone(x))
        if mirror:
            logits = (logits + model(backbone(torch.flip(x, dims=[3])))) / 2
        p = torch.softmax(logits / temperature, dim=1).cpu().numpy().astype("<f4")
    for path, row in zip(paths, p):
        print(json.dumps({"image": path, "top_class": cfg["classes"][int(row.argmax())],
                          "probabilities": {c: float(v) for c, v in zip(cfg["classes"], row)}}), flush=True)
    if out_path:
        p.tofile(out_path)


# ---- Data ----

def load_pixels(path, cfg):
    """The image resized as the project says, as uint8 H×W×C (Bottega's resize modes)."""
    w, h, c = cfg["input"]["width"], cfg["input"]["height"], cfg["input"]["channels"]
    if Image is None:
        sys.exit("Pillow is needed to read the images (Debian: apt install python3-pil)")
    img = Image.open(path)
    if img.mode in ("RGBA", "LA", "P"):
        img = img.convert("RGBA")
        white = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, img)
    img = img.convert("L" if c == 1 else "RGB")
    mode = cfg["input"]["resize"]
    iw, ih = img.size
    if mode == "center-crop":
        s = max(w / iw, h / ih)
        nw, nh = max(w, round(iw * s)), max(h, round(ih * s))
        img = img.resize((nw, nh), Image.BOX if s < 1 else Image.BILINEAR)
        left, top = (nw - w) // 2, (nh - h) // 2
        img = img.crop((left, top, left + w, top + h))
    elif mode == "pad":
        s = min(w / iw, h / ih)
        nw, nh = max(1, round(iw * s)), max(1, round(ih * s))
        img = img.resize((nw, nh), Image.BOX if s < 1 else Image.BILINEAR)
        canvas = Image.new(img.mode, (w, h))
        canvas.paste(img, ((w - nw) // 2, (h - nh) // 2))
        img = canvas
    else:
        img = img.resize((w, h), Image.BOX if (w < iw or h < ih) else Image.BILINEAR)
    return np.asarray(img, dtype=np.uint8).reshape(h, w, c)


def normalize(pixels, cfg):
    """uint8 H×W×C → float32 C×H×W: x = (pixel × scale − mean) / std per channel."""
    c = pixels.shape[2]
    p = cfg["preprocessing"]
    mean = np.array(p["mean"][:c], np.float32).reshape(c, 1, 1)
    std = np.array(p["std"][:c], np.float32).reshape(c, 1, 1)
    return (pixels.astype(np.float32).transpose(2, 0, 1) * p["scale"] - mean) / std


def augment(pixels, s, rng):
    """Bottega's augmentations: mirror, shift by up to 1/8 of the side, rotate by up to ±15°,
    contrast 0.8–1.2 and brightness ±20 %."""
    h, w, c = pixels.shape
    flip = s["augment_flip"] and rng.random() < 0.5
    pad = max(1, min(w, h) // 8)
    sx = rng.integers(-pad, pad + 1) if s["augment_crop"] else 0
    sy = rng.integers(-pad, pad + 1) if s["augment_crop"] else 0
    angle = (rng.random() * 2 - 1) * math.pi / 12 if s["augment_rotate"] else 0.0
    if flip or sx or sy or angle:
        cs, sn = math.cos(angle), math.sin(angle)
        cx, cy = (w - 1) / 2, (h - 1) / 2
        # output (x, y) → source (px, py): shift back, rotate, mirror
        a, b = cs, sn
        d, e = -sn, cs
        off_x = -a * (cx + sx) - b * (cy + sy) + cx
        off_y = -d * (cx + sx) - e * (cy + sy) + cy
        if flip:
            a, b, off_x = -a, -b, (w - 1) - off_x
        img = Image.fromarray(pixels.squeeze(2) if c == 1 else pixels)
        # PIL samples at pixel centres: shift by half a pixel on both sides of the map
        coeffs = (a, b, off_x + 0.5 * (1 - a - b), d, e, off_y + 0.5 * (1 - d - e))
        img = img.transform((w, h), Image.AFFINE, coeffs,
                            resample=Image.BILINEAR if angle else Image.NEAREST, fillcolor=0)
        pixels = np.asarray(img, dtype=np.uint8).reshape(h, w, c)
    if s["augment_color"]:
        contrast = 0.8 + 0.4 * rng.random()
        brightness = (rng.random() * 2 - 1) * 0.2 * 255
        v = (pixels.astype(np.float32) - 127.5) * contrast + 127.5 + brightness
        pixels = np.clip(v + 0.5, 0, 255).astype(np.uint8)
    return pixels


class ImageSet(torch.utils.data.Dataset):
    def __init__(self, rows, cfg, train):
        self.rows, self.cfg, self.train = rows, cfg, train
        self.cache = {}
        self.rng = np.random.default_rng(cfg["settings"]["seed"] + int(os.environ.get("RANK", "0")))

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        path, label = self.rows[i]
        if i not in self.cache:
            self.cache[i] = load_pixels(path, self.cfg)
        px = self.cache[i]
        if self.train:
            px = augment(px, self.cfg["settings"], self.rng)
        return torch.from_numpy(normalize(px, self.cfg)), label


class EmbeddingSet(torch.utils.data.Dataset):
    """One split of a transfer project: the backbone's embeddings (float32 rows × dim) and their
    class indices, as Bottega wrote them (NumPy .npy files, no pickled objects)."""

    def __init__(self, split):
        x = np.load(os.path.join(HERE, split["x"]), allow_pickle=False)
        y = np.load(os.path.join(HERE, split["y"]), allow_pickle=False)
        if x.ndim != 2 or x.dtype != np.float32 or y.shape != (x.shape[0],):
            raise ValueError(f"{split['x']}, {split['y']}: unexpected shapes {x.shape}, {y.shape}")
        self.x = torch.from_numpy(np.ascontiguousarray(x))
        self.y = torch.from_numpy(y.astype(np.int64))

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.x[i], self.y[i]

    def labels(self):
        return self.y.numpy()


def read_rows(cfg, labels_csv, path_map):
    """labels.csv's images by split; path_map: (old prefix, new prefix) pairs, for images that
    lie elsewhere on this machine than on the one that exported them."""
    index = {name: i for i, name in enumerate(cfg["classes"])}
    rows = {"train": [], "val": [], "test": []}
    with open(labels_csv, newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            if r["class"] in index and r.get("split", "train") in rows:
                path = r["path"]
                for old, new in path_map:
                    if path.startswith(old):
                        path = new + path[len(old):]
                        break
                rows[r.get("split", "train")].append((path, index[r["class"]]))
    return rows


# ---- Training ----

def main():
    ap = argparse.ArgumentParser(description="Train a Bottega model with PyTorch.")
    ap.add_argument("--epochs", type=int, help="override the project's number of epochs")
    ap.add_argument("--batch-size", type=int, help="per process; override the project's")
    ap.add_argument("--lr", type=float, help="override the project's learning rate")
    ap.add_argument("--cpu", action="store_true", help="train on the CPU even when a GPU is present")
    ap.add_argument("--output", default=os.path.join(HERE, "trained.bottega-model"))
    ap.add_argument("--path-map", action="append", default=[], metavar="OLD=NEW",
                    help="read the images whose labels.csv path starts with OLD from NEW instead "
                         "(for machines where they lie elsewhere); may be repeated")
    ap.add_argument("--predict", nargs="+", metavar="X",
                    help="after training, run the model on this raw float32 N×C×H×W file (transfer: N×dim "
                         "embeddings); with --model also photos (transfer projects: backbone.json + head)")
    ap.add_argument("--predict-output", help="where --predict writes the probabilities (float32)")
    ap.add_argument("--model", help="no training: run --predict with this .bottega-model's weights, its "
                                    "calibration temperature and, for photos, its test-time mirroring (the "
                                    "probabilities Bottega shows)")
    args = ap.parse_args()
    if args.model and not args.predict:
        sys.exit("--model needs --predict")
    photos = bool(args.predict) and all(p.lower().endswith(IMAGE_SUFFIXES) for p in args.predict)
    if args.predict and not photos and len(args.predict) != 1:
        sys.exit("--predict takes one raw float32 file, or photos")
    if photos and not args.model:
        sys.exit("--predict with photos needs --model (the model whose backbone this folder holds)")

    with open(os.path.join(HERE, "config.json"), encoding="utf-8") as f:
        cfg = json.load(f)
    s = cfg["settings"]
    epochs = args.epochs if args.epochs is not None else s["epochs"]
    batch_size = args.batch_size or s["batch_size"]
    lr = args.lr or s["learning_rate"]

    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and not args.cpu
    device = torch.device(f"cuda:{local_rank}" if use_cuda else "cpu")
    if use_cuda:
        torch.cuda.set_device(device)
    if world > 1:
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    torch.manual_seed(s["seed"])

    model = BottegaNet(cfg["layers"])
    # start from Bottega's own initial weights (or, with --model, use a trained model's)
    _, _, groups, all_tensors, _, _ = read_container(args.model or os.path.join(HERE, "initial.bottega-model"))
    tensors = network_tensors(all_tensors)
    sd = model.state_dict()
    for name, (_, _, arr) in tensors.items():
        if model.param_name(name) not in sd or tuple(sd[model.param_name(name)].shape) != arr.shape:
            sys.exit(f"{args.model}: its network is not the one in config.json (tensor {name})")
        sd[model.param_name(name)] = torch.from_numpy(arr.copy())
    model.load_state_dict(sd)
    model.to(device)
    transfer = cfg.get("transfer")
    if args.model:
        # Bottega's probabilities are softmax(logits / T), T fitted on the validation split
        temperature = float(groups.get("calibration", {}).get("temperature", "1"))
        if photos:
            predict_images(model, cfg, transfer, groups, all_tensors, args.model, args.predict,
                           args.predict_output, temperature, device)
        else:
            predict(model, cfg, transfer, device, args.predict[0], args.predict_output, temperature)
        return
    net = nn.parallel.DistributedDataParallel(model, device_ids=[local_rank] if use_cuda else None) \
        if world > 1 else model

    if transfer:
        sets = {k: EmbeddingSet(transfer["splits"][k]) for k in ("train", "val", "test")}
        if len(sets["train"]) == 0:
            sys.exit("embeddings/train_x.npy has no rows")
        train_set = sets["train"]
        train_labels = train_set.labels()
        val_set = sets["val"] if len(sets["val"]) else None
        test_set = sets["test"] if len(sets["test"]) else None
    else:
        path_map = []
        for m in args.path_map:
            old, sep, new = m.partition("=")
            if not sep or not old:
                sys.exit(f"--path-map {m}: expected OLD=NEW")
            path_map.append((old, new))
        rows = read_rows(cfg, os.path.join(HERE, "labels.csv"), path_map)
        if not rows["train"]:
            sys.exit("labels.csv has no training images")
        train_set = ImageSet(rows["train"], cfg, train=True)
        train_labels = [l for _, l in rows["train"]]
        val_set = ImageSet(rows["val"], cfg, train=False) if rows["val"] else None
        test_set = ImageSet(rows["test"], cfg, train=False) if rows["test"] else None
    sampler = torch.utils.data.distributed.DistributedSampler(train_set, num_replicas=world, rank=rank,
                                                              shuffle=True, seed=s["seed"]) if world > 1 else None
    loader = torch.utils.data.DataLoader(train_set, batch_size=batch_size, shuffle=sampler is None,
                                         sampler=sampler, num_workers=0, drop_last=False)

    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (decay if name.endswith(".weight") and p.dim() > 1 else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": s["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}]
    if s["optimizer"] == "sgd":
        opt = torch.optim.SGD(groups, lr=lr, momentum=0.9)
    elif s["optimizer"] == "adamw":
        opt = torch.optim.AdamW(groups, lr=lr)
    else:
        opt = torch.optim.Adam(groups, lr=lr)
    total = max(1, epochs * len(loader))
    if s["schedule"] == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total)
    elif s["schedule"] == "step":
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=max(1, total // 3), gamma=0.1)
    else:
        sched = None

    weight = None
    if s["class_weights"]:
        counts = np.bincount(train_labels, minlength=len(cfg["classes"])).astype(np.float32)
        weight = torch.tensor(len(train_labels) / (len(counts) * np.maximum(counts, 1)), device=device)
    loss_fn = nn.CrossEntropyLoss(weight=weight, label_smoothing=s["label_smoothing"])

    # Like Bottega's trainer: the model validated, kept and saved is a moving average of the
    # weights, updated after every step with decay min(d, (1 + t) / (10 + t)).
    avg_decay = float(s.get("weight_average_decay", 0.0))
    average = [p.detach().clone() for p in model.parameters()] if avg_decay > 0 else None
    avg_t = 0

    def swap_average():
        if average is not None:
            with torch.no_grad():
                for a, p in zip(average, model.parameters()):
                    tmp = p.detach().clone()
                    p.copy_(a)
                    a.copy_(tmp)

    monitor = s["early_stopping_monitor"]
    best, best_epoch, best_state, bad = None, 0, None, 0
    for epoch in range(1, epochs + 1):
        if sampler is not None:
            sampler.set_epoch(epoch)
        net.train()
        t0, seen, loss_sum, correct = time.time(), 0, 0.0, 0
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            opt.zero_grad()
            logits = net(x)
            loss = loss_fn(logits, y)
            loss.backward()
            opt.step()
            if average is not None:
                avg_t += 1
                take = 1.0 - min(avg_decay, (1.0 + avg_t) / (10.0 + avg_t))
                with torch.no_grad():
                    for a, p in zip(average, model.parameters()):
                        a.add_(p.detach() - a, alpha=take)
            if sched is not None:
                sched.step()
            seen += len(y)
            loss_sum += loss.item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
        msg = f"epoch {epoch}/{epochs}: loss {loss_sum / max(seen, 1):.4f} acc {correct / max(seen, 1):.3f}"
        stop = 0
        if rank == 0 and val_set is not None:
            swap_average()
            val_loss, val_acc = evaluate(model, val_set, device, batch_size, loss_fn)
            msg += f" val_loss {val_loss:.4f} val_acc {val_acc:.3f}"
            score = val_acc if monitor == "val_acc" else -val_loss
            if best is None or score > best + s["early_stopping_min_delta"]:
                best, best_epoch, bad = score, epoch, 0
                if s["restore_best"]:
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                bad += 1
                if s["early_stopping_patience"] > 0 and bad >= s["early_stopping_patience"]:
                    stop = 1
            swap_average()
        if rank == 0:
            print(msg + f" ({time.time() - t0:.1f} s, {world} process(es), {device})", flush=True)
        if world > 1:
            flag = torch.tensor([stop], device=device)
            dist.broadcast(flag, 0)
            stop = int(flag.item())
        if stop:
            if rank == 0:
                print(f"early stopping: no improvement of {monitor} for {bad} epochs", flush=True)
            break
    if rank == 0:
        swap_average()  # the last epoch's model is its averaged weights
    if rank == 0 and best_state is not None and best_epoch != epoch:
        model.load_state_dict(best_state)
        print(f"restored the weights of epoch {best_epoch}, the best {monitor}", flush=True)

    if rank == 0:
        model.eval()
        state = {name: model.state_dict()[model.param_name(name)].detach().cpu().numpy() for name in tensors}
        write_container(os.path.join(HERE, "initial.bottega-model"), args.output, state,
                        {"trained-with": f"pytorch-{torch.__version__}", "trained-epochs": str(epochs),
                         "trained-processes": str(world)})
        print(f"wrote {args.output}", flush=True)
        if test_set is not None:
            test_loss, test_acc = evaluate(model, test_set, device, batch_size, loss_fn)
            print(f"test_loss {test_loss:.4f} test_acc {test_acc:.3f} ({len(test_set)} samples)", flush=True)
            model.eval()
        if args.predict:
            # the file written has no calibration yet: its probabilities are the plain softmax
            predict(model, cfg, transfer, device, args.predict[0], args.predict_output, 1.0)
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()


def predict(model, cfg, transfer, device, path, out_path, temperature):
    """softmax(logits / temperature) of the raw float32 inputs in path, written to out_path."""
    if transfer:
        shape = (-1, transfer["dim"])  # embeddings, as Bottega's backbone computes them
    else:
        shape = (-1, cfg["input"]["channels"], cfg["input"]["height"], cfg["input"]["width"])
    x = torch.from_numpy(np.fromfile(path, dtype="<f4").reshape(shape)).to(device)
    model.eval()
    with torch.no_grad():
        p = torch.softmax(model(x) / temperature, dim=1).cpu().numpy().astype("<f4")
    p.tofile(out_path or path + ".probabilities")


def evaluate(model, dataset, device, batch_size, loss_fn):
    model.eval()
    correct, loss_sum = 0, 0.0
    with torch.no_grad():
        for x, y in torch.utils.data.DataLoader(dataset, batch_size=batch_size):
            x, y = x.to(device), y.to(device)
            logits = model(x)
            loss_sum += loss_fn(logits, y).item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
    model.train()
    return loss_sum / max(len(dataset), 1), correct / max(len(dataset), 1)


if __name__ == "__main__":
    main()
