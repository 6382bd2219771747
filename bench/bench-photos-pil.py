#!/usr/bin/python3
"""The PIL side of bench/bench-photos.sh: decode + resize to 224×224 of a JPEG the fastest PIL
way (draft mode lets libjpeg scale by 1/2, 1/4, 1/8 to at least 448×448, then a resize), and
the same for a 256-pixel thumbnail (Image.thumbnail, which also uses draft).
Usage: bench-photos-pil.py tensor|tensor1x|thumbs FILE SECONDS"""
import sys
import time

from PIL import Image, ImageOps

mode, path, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
n, t0, c0 = 0, time.monotonic(), time.process_time()
while True:
    with Image.open(path) as im:
        if mode in ("tensor", "tensor1x"):
            # tensor: the "fastest PIL way" (draft to cover 448); tensor1x: draft to cover
            # 224, the same DCT scale as Bottega's tensors now
            im.draft("RGB", (448, 448) if mode == "tensor" else (224, 224))
            size = im.size
            im.convert("RGB").resize((224, 224), Image.BILINEAR, reducing_gap=None)
        else:
            im.draft("RGB", (512, 512))
            im = ImageOps.exif_transpose(im)
            size = im.size
            im.thumbnail((256, 256))
    n += 1
    t = time.monotonic() - t0
    if t >= seconds and n >= 3:
        break
cpu = (time.process_time() - c0) * 1000 / n
print(f"PIL     {mode:<6} {n / t:.1f} images/s, {cpu:.1f} ms CPU/image ({n} in {t:.2f} s; decoded at {size[0]}×{size[1]})")
