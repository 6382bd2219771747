#!/usr/bin/python3
# check-serve-auth.py HOST PORT TOKEN IDLE IMAGE: drives `bottega-cli serve --token TOKEN
# --idle-timeout IDLE` over loopback.
#  - without the token, or with a wrong one, every page answers 401 with a reason; with it (as a
#    Bearer header or ?token=) the same requests succeed, and POST /predict classifies IMAGE;
#  - a connection that sends nothing, one that stops half-way through its headers and one that
#    promises a body it never sends are each closed by the server within IDLE + 3 s;
#  - the server answers after each.
import http.client
import json
import socket
import sys
import time

host, port, token, idle, image = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4]), sys.argv[5]
body = open(image, "rb").read()


def request(method, path, data=None, headers=None):
    c = http.client.HTTPConnection(host, port, timeout=30)
    c.request(method, path, body=data, headers=headers or {})
    r = c.getresponse()
    payload = r.read()
    c.close()
    return r.status, payload


bearer = {"Authorization": "Bearer " + token}
for method, path, data in (("GET", "/", None), ("GET", "/model", None), ("POST", "/predict", body)):
    for headers, query in (({}, ""), ({"Authorization": "Bearer wrong" + token}, ""), ({}, "?token=x" + token)):
        status, payload = request(method, path + query, data, headers)
        assert status == 401, (method, path, headers, query, status, payload)
        if path != "/":
            assert "token" in json.loads(payload)["error"], payload
    status, payload = request(method, path, data, bearer)
    assert status == 200, (method, path, status, payload)
    sep = "&" if "?" in path else "?"
    status, payload = request(method, path + sep + "token=" + token, data)
    assert status == 200, (method, path, "query", status, payload)
    if path == "/predict":
        answer = json.loads(payload)
        assert len(answer["predictions"]) >= 2, answer


def closed_within(send, limit):
    """Seconds until the server closes a connection that sent `send` and then nothing."""
    s = socket.create_connection((host, port), timeout=limit + 5)
    start = time.monotonic()
    if send:
        s.sendall(send)
    try:
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
    except (ConnectionResetError, socket.timeout):
        pass
    took = time.monotonic() - start
    s.close()
    return took


limit = idle + 3
for what, send in (("nothing", b""), ("half the headers", b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Le"),
                   ("no body", b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n"
                               b"Authorization: Bearer " + token.encode() + b"\r\n\r\nabc")):
    took = closed_within(send, limit)
    assert took <= limit, f"a connection that sent {what} stayed open {took:.1f} s (limit {limit:.0f} s)"
    status, _ = request("GET", "/model", None, bearer)
    assert status == 200, (what, status)
    print(f"closed a connection that sent {what} after {took:.1f} s")
print("token asked on every page; idle connections closed; still serving")
