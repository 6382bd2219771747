#!/usr/bin/python3
# check-serve.py HOST PORT EXPECTED.json IMAGE…: drives a running `bottega-cli serve` over
# loopback with Python's own HTTP client and raw sockets.
#  - GET / (the form), GET /model (labels + preprocessing);
#  - every IMAGE POSTed (raw bytes and multipart) answers the object `bottega-cli predict --json`
#    printed for it (EXPECTED.json): the same classes in the same order, the same unknown flag,
#    numbers equal to 1e-5 (predict runs its images through the network as one batch, the server
#    one at a time, and a GEMM of another shape rounds the last float digits differently);
#  - 1,000 requests from 4 concurrent clients, no error, each answer exactly the server's first;
#  - 20 hostile requests each get their 4xx with a reason, and the server answers after each.
import http.client
import json
import os
import socket
import struct
import sys
import threading
import zlib

host, port, expected_path, images = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
expected = {e["image"]: e for e in json.load(open(expected_path))}
assert len(expected) == len(images) >= 2, (expected.keys(), images)
data = {p: open(p, "rb").read() for p in images}


def request(method, path, body=None, headers=None, conn=None):
    own = conn is None
    c = conn or http.client.HTTPConnection(host, port, timeout=60)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    payload = r.read()
    if own:
        c.close()
    return r.status, r.getheader("Content-Type", ""), payload


def alive(after):
    status, ctype, body = request("GET", "/model")
    assert status == 200, (after, status, body)
    return json.loads(body)


# the form and the model
status, ctype, body = request("GET", "/")
assert status == 200 and ctype.startswith("text/html") and b"/predict" in body, (status, ctype, body[:200])
model = alive("start")
assert model["labels"] == ["circle", "square", "triangle", "star"], model
assert model["preprocessing"]["width"] == 24 and model["preprocessing"]["resize"] == "center-crop", model
status, _, body = request("GET", "/nowhere")
assert status == 404, status

from urllib.parse import quote


def predict(path, conn=None, multipart=False):
    if multipart:
        b = "bottegaboundary"
        body = (f"--{b}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"{path}\"\r\n"
                f"Content-Type: application/octet-stream\r\n\r\n").encode() + data[path] + f"\r\n--{b}--\r\n".encode()
        return request("POST", "/predict", body, {"Content-Type": f"multipart/form-data; boundary={b}"}, conn)
    return request("POST", "/predict?name=" + quote(path), data[path], {"Content-Type": "application/octet-stream"},
                   conn)


def same_answer(got, want):
    if got.keys() != want.keys() or got["image"] != want["image"] or got["unknown"] != want["unknown"]:
        return False
    if [g["class"] for g in got["predictions"]] != [w["class"] for w in want["predictions"]]:
        return False
    if any(abs(g["probability"] - w["probability"]) > 1e-5 for g, w in zip(got["predictions"], want["predictions"])):
        return False
    return abs(got["unknown_score"] - want["unknown_score"]) <= 1e-5


served = {}
for p in images:
    for mp in (False, True):
        status, ctype, body = predict(p, multipart=mp)
        assert status == 200 and ctype.startswith("application/json"), (p, status, body)
        got = json.loads(body)
        want = dict(expected[p])
        if mp:   # a form's file name comes without its folder
            want["image"] = os.path.basename(p)
        assert same_answer(got, want), ("answer differs from predict --json", p, mp, got, want)
        if not mp:
            served[p] = got

# 1,000 requests, 4 clients, each on its own kept-alive connection
errors = []


def client(k):
    conn = http.client.HTTPConnection(host, port, timeout=120)
    try:
        for i in range(250):
            p = images[(k + i) % len(images)]
            status, _, body = predict(p, conn)
            if status != 200 or json.loads(body) != served[p]:
                errors.append((k, i, status, body[:200]))
    except Exception as e:  # a broken connection is an error too
        errors.append((k, "exception", repr(e)))
    finally:
        conn.close()


threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
assert not errors, errors[:5]


def raw(payload, timeout=30):
    """Sends bytes as they are; returns the status code of the answer (0: none before close)."""
    s = socket.create_connection((host, port), timeout=timeout)
    try:
        s.sendall(payload)
        try:
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        got = b""
        while b"\r\n" not in got:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
    except (ConnectionResetError, BrokenPipeError):
        return 0
    finally:
        s.close()
    line = got.split(b"\r\n", 1)[0].split()
    return int(line[1]) if len(line) >= 2 and line[1].isdigit() else 0


def png_chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


huge_png = (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 60000, 60000, 8, 2, 0, 0, 0))
            + png_chunk(b"IDAT", zlib.compress(b"\0" * 65536)) + png_chunk(b"IEND", b""))
first = data[images[0]]


def post(body, ctype="application/octet-stream", extra=""):
    return (f"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
            f"{extra}\r\n").encode() + body


hostile = [
    ("empty body", post(b""), 400),
    ("truncated image", post(first[:len(first) // 2]), 400),
    ("first bytes only", post(first[:16]), 400),
    ("random bytes", post(bytes(range(256)) * 40), 400),
    ("text instead of an image", post(b"hello, world", "text/plain"), 400),
    ("JSON instead of an image", post(b'{"image": "cat.jpg"}', "application/json"), 400),
    ("PNG claiming 60000 x 60000", post(huge_png, "image/png"), 400),
    ("JPEG start marker and garbage", post(b"\xff\xd8\xff\xe0" + b"\x00" * 4000, "image/jpeg"), 400),
    ("BMP header claiming 2^31 pixels wide", post(b"BM" + struct.pack("<IHHI", 54, 0, 0, 54) + struct.pack(
        "<IiiHHIIiiII", 40, 2 ** 31 - 1, 2 ** 31 - 1, 1, 24, 0, 0, 0, 0, 0, 0) + b"\0" * 64, "image/bmp"), 400),
    ("multipart with no file", post(b"--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n\r\n--b--\r\n",
                                   "multipart/form-data; boundary=b"), 400),
    ("multipart with a wrong boundary", post(b"--zzz\r\n\r\nabc\r\n--zzz--\r\n", "multipart/form-data; boundary=b"),
     400),
    ("multipart holding a corrupt image", post(b"--b\r\nContent-Disposition: form-data; name=\"image\"; "
                                               b"filename=\"a.png\"\r\n\r\n\x89PNG\r\n\x1a\nxx\r\n--b--\r\n",
                                               "multipart/form-data; boundary=b"), 400),
    # asked first (as curl does for big uploads): refused before any of it is sent
    ("a 2 GB body, Expect: 100-continue", b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000000\r\n"
     b"Expect: 100-continue\r\n\r\n", 413),
    # sent whole: read and dropped, then refused
    ("a 17 MB body", post(b"\0" * (17 << 20), "image/png"), 413),
    ("chunked body", b"POST /predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
     411),
    # past libsoup's 64 KB header limit: refused or dropped, either way not served
    ("a 200 KB header", post(first, extra="X-Big: " + "a" * 200000 + "\r\n"), {0, 400, 431}),
    ("a negative Content-Length", b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\nhello", {400, 413}),
    ("not HTTP at all", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 300 + b"\r\n\r\n", 400),
    ("GET on /predict", b"GET /predict HTTP/1.1\r\nHost: x\r\n\r\n", 405),
    ("a body cut short (connection closed)", b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 50000\r\n\r\n"
     + first[:1000], {0, 400}),
]
assert len(hostile) == 20
for name, payload, want in hostile:
    got = raw(payload)
    if isinstance(want, set):
        assert got in want, (name, "status", got, "expected one of", want)
    else:
        assert got == want, (name, "status", got, "expected", want)
    alive(name)

# the reason is in the answer
status, _, body = request("POST", "/predict", first[:40], {})
assert status == 400 and json.loads(body)["error"], (status, body)
# and it still predicts
status, _, body = predict(images[1])
assert status == 200 and json.loads(body) == served[images[1]], (status, body)
print(f"serve: {2 * len(images)} single answers, 1000 from 4 clients, {len(hostile)} hostile requests refused, "
      "still serving")
