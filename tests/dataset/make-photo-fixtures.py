#!/usr/bin/python3
"""Photo fixtures for test-decode-photos, made by encoders independent of Bottega (Pillow,
ImageMagick, heif-enc, cwebp, tiffcp). For each fixture it writes the file and the intended
pixels as raw RGB (after orientation, colour management and compositing over white), and one
manifest line:  name  file  reference.rgb  width  height  max_abs_tol  mean_abs_tol  marker
(marker 1: the red square must be in the top-left quadrant). A fixture whose encoder is
missing is listed as "skip name why".
Usage: make-photo-fixtures.py OUTDIR"""
import ctypes
import ctypes.util
import io
import os
import shutil
import struct
import subprocess
import sys
import zlib

import numpy as np
from PIL import Image, ImageCms, ImageOps

OUT = sys.argv[1]
os.makedirs(OUT, exist_ok=True)
W, H = 96, 64
lines = []


def scene(w=W, h=H):
    """Four flat quadrants and a red square in the top-left one (flat areas survive lossy codecs)."""
    a = np.zeros((h, w, 3), np.uint8)
    a[: h // 2, : w // 2] = (250, 250, 250)
    a[: h // 2, w // 2:] = (0, 160, 0)
    a[h // 2:, : w // 2] = (30, 40, 200)
    a[h // 2:, w // 2:] = (220, 210, 20)
    a[h * 6 // 64:h * 22 // 64, h * 6 // 64:h * 22 // 64] = (230, 0, 0)
    return a


if len(sys.argv) == 4 and sys.argv[2] == "--sideways":
    # make-photo-fixtures.py OUTDIR --sideways PHOTO: the photo as an upright JPEG and stored
    # sideways with EXIF orientations 3, 6 and 8 (same quality), for the classifier test.
    # ("-": the test scene, 300×200)
    photo = Image.fromarray(scene(300, 200)) if sys.argv[3] == "-" else Image.open(sys.argv[3]).convert("RGB")
    inverse = {1: None, 3: Image.ROTATE_180, 6: Image.ROTATE_90, 8: Image.ROTATE_270}
    for o, t in inverse.items():
        e = Image.Exif()
        e[0x0112] = o
        (photo if t is None else photo.transpose(t)).save(os.path.join(OUT, f"photo-o{o}.jpg"), quality=92,
                                                          exif=e.tobytes())
    sys.exit(0)


def write_ref(name, arr):
    path = os.path.join(OUT, name + ".rgb")
    arr.astype(np.uint8).tofile(path)
    return path


def add(name, path, ref, max_tol, mean_tol, marker=1):
    rp = write_ref(name, ref)
    lines.append(f"{name}\t{path}\t{rp}\t{ref.shape[1]}\t{ref.shape[0]}\t{max_tol}\t{mean_tol}\t{marker}")


def skip(name, why):
    lines.append(f"skip\t{name}\t{why}")


def run(*cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def p(name):
    return os.path.join(OUT, name)


upright = scene()
Image.fromarray(upright).save(p("upright.png"))

# EXIF orientation: store the pixels so that applying orientation o shows the upright scene.
STORE = {  # the inverse of each orientation's display transform
    1: None, 2: Image.FLIP_LEFT_RIGHT, 3: Image.ROTATE_180, 4: Image.FLIP_TOP_BOTTOM,
    5: Image.TRANSPOSE, 6: Image.ROTATE_90, 7: Image.TRANSVERSE, 8: Image.ROTATE_270,
}


def stored(o):
    im = Image.fromarray(upright)
    return im if STORE[o] is None else im.transpose(STORE[o])


def exif_for(o):
    e = Image.Exif()
    e[0x0112] = o
    return e


for o in range(1, 9):
    im = stored(o)
    # The generator checks itself against Pillow's own reading of the tag.
    ex = exif_for(o)
    im.info["exif"] = ex.tobytes()
    back = ImageOps.exif_transpose(im.copy())
    assert np.array_equal(np.asarray(back.convert("RGB")), upright), o
    im.save(p(f"orient{o}.jpg"), quality=95, exif=ex.tobytes())
    add(f"jpeg-orientation-{o}", p(f"orient{o}.jpg"), upright, 140, 2.5)

stored(6).save(p("orient6.png"), exif=exif_for(6).tobytes())
add("png-exif-orientation-6", p("orient6.png"), upright, 0, 0)
stored(8).save(p("orient8.webp"), lossless=True, exif=exif_for(8).tobytes())
add("webp-exif-orientation-8", p("orient8.webp"), upright, 0, 0)
stored(3).save(p("orient3.tif"), tiffinfo={274: 3})
add("tiff-orientation-3", p("orient3.tif"), upright, 0, 0)
stored(5).save(p("orient5.tif"), tiffinfo={274: 5})
add("tiff-orientation-5", p("orient5.tif"), upright, 0, 0)

# Progressive and arithmetic-coded JPEG (ImageMagick → libjpeg).
run("convert", p("upright.png"), "-quality", "95", "-interlace", "JPEG", p("progressive.jpg"))
add("jpeg-progressive", p("progressive.jpg"), upright, 140, 2.5)
try:
    run("convert", p("upright.png"), "-quality", "95", "-define", "jpeg:arithmetic-coding=true", p("arith.jpg"))
    add("jpeg-arithmetic", p("arith.jpg"), upright, 140, 2.5)
except subprocess.CalledProcessError:
    skip("jpeg-arithmetic", "ImageMagick cannot write arithmetic coding")
# Grey JPEG
grey = np.asarray(Image.fromarray(upright).convert("L"))
Image.fromarray(grey).save(p("grey.jpg"), quality=95)
add("jpeg-grey", p("grey.jpg"), np.repeat(grey[:, :, None], 3, 2), 40, 2.0, marker=0)

# CMYK JPEG (ImageMagick writes Adobe's inverted CMYK) and CMYK TIFF; naive conversion both ways.
run("convert", p("upright.png"), "-colorspace", "CMYK", "-quality", "95", p("cmyk.jpg"))
add("jpeg-cmyk", p("cmyk.jpg"), upright, 140, 4.0)
Image.fromarray(upright).convert("CMYK").save(p("cmyk-pil.jpg"), quality=95)
add("jpeg-cmyk-pil", p("cmyk-pil.jpg"), upright, 140, 4.0)
run("convert", p("upright.png"), "-colorspace", "CMYK", p("cmyk.tif"))
add("tiff-cmyk", p("cmyk.tif"), upright, 3, 1.0)

# WebP: lossy, lossless, alpha, animated
run("cwebp", "-quiet", "-q", "95", p("upright.png"), "-o", p("lossy.webp"))
add("webp-lossy", p("lossy.webp"), upright, 140, 3.0)
run("cwebp", "-quiet", "-lossless", p("upright.png"), "-o", p("lossless.webp"))
add("webp-lossless", p("lossless.webp"), upright, 0, 0)
rgba = np.dstack([upright, np.full((H, W), 255, np.uint8)])
rgba[H // 2:, :, 3] = 0        # bottom half transparent
rgba[:, W // 2:, 3] //= 2       # right half half-transparent
Image.fromarray(rgba, "RGBA").save(p("alpha.png"))
a = rgba[:, :, 3:4].astype(np.float64) / 255
over_white = np.floor(rgba[:, :, :3] * a + 255 * (1 - a) + 0.5).astype(np.uint8)
run("cwebp", "-quiet", "-lossless", "-exact", p("alpha.png"), "-o", p("alpha.webp"))
add("webp-alpha", p("alpha.webp"), over_white, 1, 0.1)
frame2 = np.full((H, W, 3), (10, 200, 200), np.uint8)
Image.fromarray(upright).save(p("anim.webp"), save_all=True, append_images=[Image.fromarray(frame2)],
                              duration=100, lossless=True)
add("webp-animated-first-frame", p("anim.webp"), upright, 0, 0)

# TIFF: 8-bit RGB (tiffcp rewrites it with LZW), palette, grey, 16-bit
Image.fromarray(upright).save(p("plain.tif"))
run("tiffcp", "-c", "lzw", p("plain.tif"), p("lzw.tif"))
add("tiff-8bit-lzw", p("lzw.tif"), upright, 0, 0)
Image.fromarray(upright).convert("P", palette=Image.ADAPTIVE, colors=8).save(p("palette.tif"))
add("tiff-palette", p("palette.tif"), upright, 0, 0)
Image.fromarray(grey).save(p("grey.tif"))
add("tiff-grey", p("grey.tif"), np.repeat(grey[:, :, None], 3, 2), 0, 0, marker=0)


def png16(path, arr16):
    """A 16-bit RGB(A) PNG written by hand (zlib + struct): Pillow cannot write 16-bit colour."""
    h, w, c = arr16.shape
    raw = b"".join(b"\0" + arr16[y].astype(">u2").tobytes() for y in range(h))
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    ct = 2 if c == 3 else 6
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, ct, 0, 0, 0))
    data += chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    open(path, "wb").write(data)


rng = np.random.default_rng(7)
deep = (upright.astype(np.uint32) * 257).astype(np.int64) + rng.integers(-128, 128, upright.shape)
deep = np.clip(deep, 0, 65535).astype(np.uint16)
png16(p("deep.png"), deep)
deep_ref = np.floor(deep.astype(np.float64) * 255 / 65535 + 0.5).astype(np.uint8)
add("png-16bit", p("deep.png"), deep_ref, 0, 0)
run("convert", p("deep.png"), "-depth", "16", "-compress", "none", p("deep.tif"))
add("tiff-16bit", p("deep.tif"), deep_ref, 1, 0.5)

# Palette + transparency (tRNS), composited over white
pal = Image.fromarray(rgba, "RGBA").convert("P", palette=Image.ADAPTIVE, colors=16)
pal_rgba = np.asarray(Image.fromarray(rgba, "RGBA").quantize(colors=16, method=Image.FASTOCTREE).convert("RGBA"))
Image.fromarray(pal_rgba, "RGBA").convert("P").save(p("palette-alpha.png"), optimize=False)
pal_back = np.asarray(Image.open(p("palette-alpha.png")).convert("RGBA")).astype(np.float64)
pa = pal_back[:, :, 3:4] / 255
add("png-palette-alpha", p("palette-alpha.png"),
    np.floor(pal_back[:, :, :3] * pa + 255 * (1 - pa) + 0.5).astype(np.uint8), 1, 0.1)
assert Image.open(p("palette-alpha.png")).mode == "P"

# GIF and TGA (plain and RLE)
Image.fromarray(upright).save(p("scene.gif"))
add("gif", p("scene.gif"), upright, 0, 0)
Image.fromarray(upright).save(p("scene.tga"))
add("tga", p("scene.tga"), upright, 0, 0)
Image.fromarray(upright).save(p("scene-rle.tga"), compression="tga_rle")
add("tga-rle", p("scene-rle.tga"), upright, 0, 0)
Image.fromarray(upright).save(p("scene.bmp"))
add("bmp", p("scene.bmp"), upright, 0, 0)

# Display P3: the scene converted from sRGB to P3 by lcms (via Pillow), the P3 profile made by
# lcms itself (ctypes); decoding must give the sRGB original within ±2.
lcms = ctypes.CDLL(ctypes.util.find_library("lcms2") or "liblcms2.so.2")


class XyY(ctypes.Structure):
    _fields_ = [("x", ctypes.c_double), ("y", ctypes.c_double), ("Y", ctypes.c_double)]


lcms.cmsBuildParametricToneCurve.restype = ctypes.c_void_p
lcms.cmsBuildParametricToneCurve.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_double)]
lcms.cmsCreateRGBProfile.restype = ctypes.c_void_p
lcms.cmsCreateRGBProfile.argtypes = [ctypes.POINTER(XyY), ctypes.c_void_p, ctypes.c_void_p]
lcms.cmsSaveProfileToMem.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint32)]
srgb_curve = (ctypes.c_double * 5)(2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045)
curve = lcms.cmsBuildParametricToneCurve(None, 4, srgb_curve)
d65 = XyY(0.3127, 0.3290, 1.0)
prim = (XyY * 3)(XyY(0.680, 0.320, 1), XyY(0.265, 0.690, 1), XyY(0.150, 0.060, 1))
curves = (ctypes.c_void_p * 3)(curve, curve, curve)
prof = lcms.cmsCreateRGBProfile(ctypes.byref(d65), prim, curves)
n = ctypes.c_uint32(0)
lcms.cmsSaveProfileToMem(ctypes.c_void_p(prof), None, ctypes.byref(n))
buf = ctypes.create_string_buffer(n.value)
lcms.cmsSaveProfileToMem(ctypes.c_void_p(prof), buf, ctypes.byref(n))
p3_icc = buf.raw[: n.value]
p3 = ImageCms.ImageCmsProfile(io.BytesIO(p3_icc))
# a smooth scene (gradients), where a wrong profile shows
yy, xx = np.mgrid[0:H, 0:W]
# (channels kept off 0 and 255: there 8-bit P3 cannot hold an sRGB value to ±2, as in photos)
smooth = np.dstack([24 + xx * 207 // (W - 1), 24 + yy * 207 // (H - 1),
                    24 + (xx + yy) * 207 // (W + H - 2)]).astype(np.uint8)
smooth[6:22, 6:22] = (220, 30, 30)
to_p3 = ImageCms.buildTransform(ImageCms.createProfile("sRGB"), p3, "RGB", "RGB",
                                renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC)
p3_img = ImageCms.applyTransform(Image.fromarray(smooth), to_p3)
assert np.abs(np.asarray(p3_img).astype(int) - smooth).max() > 8  # really different numbers
p3_img.save(p("p3.png"), icc_profile=p3_icc)
add("png-display-p3", p("p3.png"), smooth, 6, 0.4)
p3_img.save(p("p3.jpg"), icc_profile=p3_icc, quality=100, subsampling=0)
add("jpeg-display-p3", p("p3.jpg"), smooth, 24, 1.2)
Image.fromarray(smooth).save(p("srgb-copy.png"))
add("png-srgb-copy", p("srgb-copy.png"), smooth, 0, 0)

# HEIC and AVIF through libheif's own encoder
for kind, args in (("heic", []), ("avif", ["-A"])):
    out = p(f"scene.{kind}")
    if shutil.which("heif-enc") is None:
        skip(kind, "heif-enc missing")
        continue
    try:
        run("heif-enc", *args, "-q", "95", "-p", "chroma=444", p("upright.png"), "-o", out)
    except subprocess.CalledProcessError:
        try:
            run("heif-enc", *args, "-q", "95", p("upright.png"), "-o", out)
        except subprocess.CalledProcessError:
            skip(kind, "heif-enc cannot encode " + kind)
            continue
    add(kind, out, upright, 160, 4.0)

# CMYK JPEG with its own CMYK profile: an ICC v2 printer profile made by lcms (ctypes) whose
# inks and paper are far from the naive formula (warm paper, impure inks: a 2-point CLUT to Lab);
# ImageMagick writes the CMYK JPEG and embeds the profile; Pillow + lcms give the reference.
V = ctypes.c_void_p
for fname, res, args in [
        ("cmsCreateProfilePlaceholder", V, [V]), ("cmsSetProfileVersion", None, [V, ctypes.c_double]),
        ("cmsSetDeviceClass", None, [V, ctypes.c_uint32]), ("cmsSetColorSpace", None, [V, ctypes.c_uint32]),
        ("cmsSetPCS", None, [V, ctypes.c_uint32]), ("cmsPipelineAlloc", V, [V, ctypes.c_uint32, ctypes.c_uint32]),
        ("cmsStageAllocCLut16bit", V, [V, ctypes.c_uint32, ctypes.c_uint32, ctypes.c_uint32,
                                       ctypes.POINTER(ctypes.c_uint16)]),
        ("cmsPipelineInsertStage", ctypes.c_int, [V, ctypes.c_int, V]),
        ("cmsWriteTag", ctypes.c_int, [V, ctypes.c_uint32, V]), ("cmsD50_XYZ", V, [])]:
    getattr(lcms, fname).restype = res
    getattr(lcms, fname).argtypes = args


def icc_sig(s):
    return int.from_bytes(s.encode(), "big")


def lin_to_lab(rgb):
    m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    x, y, z = m @ np.asarray(rgb) / np.array([0.9505, 1.0, 1.089])
    f = lambda t: np.cbrt(t) if t > 0.008856 else 7.787 * t + 16 / 116  # noqa: E731
    return 116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))


paper = np.array([0.92, 0.90, 0.80])
inks = [np.array(v) for v in ((0.12, 0.60, 0.90), (0.85, 0.15, 0.55), (0.95, 0.88, 0.08), (0.04, 0.04, 0.05))]
clut = []
for corner in range(16):  # C slowest, K fastest
    refl = paper.copy()
    for bit, ink in enumerate(inks):
        if corner >> (3 - bit) & 1:
            refl = refl * ink
    L, a, b = lin_to_lab(refl)
    clut += [round(L / 100 * 65535), round((a + 128) * 257), round((b + 128) * 257)]
cmyk_prof = lcms.cmsCreateProfilePlaceholder(None)
lcms.cmsSetProfileVersion(cmyk_prof, 2.1)
lcms.cmsSetDeviceClass(cmyk_prof, icc_sig("prtr"))
lcms.cmsSetColorSpace(cmyk_prof, icc_sig("CMYK"))
lcms.cmsSetPCS(cmyk_prof, icc_sig("Lab "))
pipe = lcms.cmsPipelineAlloc(None, 4, 3)
lcms.cmsPipelineInsertStage(pipe, 0, lcms.cmsStageAllocCLut16bit(
    None, 2, 4, 3, (ctypes.c_uint16 * 48)(*[min(65535, max(0, v)) for v in clut])))
lcms.cmsWriteTag(cmyk_prof, icc_sig("A2B0"), pipe)
lcms.cmsWriteTag(cmyk_prof, icc_sig("wtpt"), lcms.cmsD50_XYZ())
n = ctypes.c_uint32(0)
lcms.cmsSaveProfileToMem(ctypes.c_void_p(cmyk_prof), None, ctypes.byref(n))
buf = ctypes.create_string_buffer(n.value)
lcms.cmsSaveProfileToMem(ctypes.c_void_p(cmyk_prof), buf, ctypes.byref(n))
cmyk_icc = buf.raw[: n.value]
open(p("printer-cmyk.icc"), "wb").write(cmyk_icc)
run("convert", p("upright.png"), "-colorspace", "CMYK", "-quality", "95", p("cmyk-plain.jpg"))
run("convert", p("cmyk-plain.jpg"), "-profile", p("printer-cmyk.icc"), "-quality", "95", p("cmyk-icc.jpg"))
cmyk_im = Image.open(p("cmyk-icc.jpg"))
assert cmyk_im.mode == "CMYK" and cmyk_im.info.get("icc_profile") == cmyk_icc
cmyk_ref = np.asarray(ImageCms.profileToProfile(cmyk_im, ImageCms.ImageCmsProfile(io.BytesIO(cmyk_icc)),
                                                ImageCms.createProfile("sRGB"),
                                                renderingIntent=ImageCms.Intent.PERCEPTUAL, outputMode="RGB"))
assert np.abs(cmyk_ref.astype(int) - np.asarray(cmyk_im.convert("RGB")).astype(int)).mean() > 20  # not naive
add("jpeg-cmyk-icc", p("cmyk-icc.jpg"), cmyk_ref, 3, 0.5, marker=0)

# HEIF with an nclx colour box instead of an ICC profile: the P3 numbers of the smooth scene
# declared Display P3 (primaries 12, sRGB transfer 13) must decode to the sRGB original; the
# scene's numbers declared linear light (transfer 8) must come out sRGB-encoded (the formula). AVIF, because
# heif-enc 1.15 writes no colr box for HEVC (the nclx goes into x265's VUI, which libheif does not
# report); the decode path is the same libheif one.
if shutil.which("heif-enc") is not None:
    Image.fromarray(np.asarray(p3_img)).save(p("p3-no-icc.png"))  # the numbers, no profile
    lin = upright / 255.0
    linear_as_srgb = np.floor(255 * np.where(lin <= 0.0031308, 12.92 * lin, 1.055 * lin ** (1 / 2.4) - 0.055)
                              + 0.5).astype(np.uint8)
    for name, src, ref, nclx in (
            ("avif-nclx-p3", p("p3-no-icc.png"), smooth, ["--colour_primaries=12", "--transfer_characteristic=13",
                                                           "--matrix_coefficients=6"]),
            ("avif-nclx-linear", p("upright.png"), linear_as_srgb, ["--colour_primaries=1",
                                                                     "--transfer_characteristic=8",
                                                                     "--matrix_coefficients=6"])):
        out = p(name + ".avif")
        try:
            run("heif-enc", "-A", "-q", "98", "-p", "chroma=444", "--full_range_flag=1", *nclx, src, "-o", out)
        except subprocess.CalledProcessError:
            skip(name, "heif-enc cannot write nclx")
            continue
        # heif-enc 1.15 writes the matrix into the colr box but leaves primaries and transfer
        # "unspecified" (2, 2): the fixture sets them in the box itself (same pixels)
        data = bytearray(open(out, "rb").read())
        at = data.find(b"colrnclx")
        assert at > 0, "no nclx colr box"
        prim, trc = (int(a.split("=")[1]) for a in nclx[:2])
        struct.pack_into(">HH", data, at + 8, prim, trc)
        open(out, "wb").write(bytes(data))
        add(name, out, ref, 24, 1.5, marker=0)
else:
    skip("avif-nclx", "heif-enc missing")

open(os.path.join(OUT, "manifest.tsv"), "w").write("\n".join(lines) + "\n")
