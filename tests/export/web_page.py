# web_page.py: the web page snippet run for real: a page made of the snippet exactly as shown plus
# a few lines that classify its <img> and POST the result back, served on 127.0.0.1 with the
# model and onnxruntime-web's files, opened in Debian's headless Chromium.
import http.server
import json
import os
import shutil
import signal
import subprocess
import threading
import time

BROWSERS = ["/usr/bin/chromium-headless-shell", "/usr/bin/chromium"]

# classify() is the snippet's; what the page prints comes back as the body of POST /result
DRIVER = """
<img id="photo" src="%s">
<script>
const photo = document.getElementById("photo");
(photo.complete ? Promise.resolve() : new Promise((ok, fail) => { photo.onload = ok; photo.onerror = fail; }))
  .then(() => classify(photo))
  .then((r) => JSON.stringify(r), (e) => JSON.stringify({ error: String(e && e.stack || e) }))
  .then((body) => fetch("/result", { method: "POST", body }));
</script>
"""


def browser():
    """The headless browser's path, or None."""
    return next((b for b in BROWSERS if os.access(b, os.X_OK)), None)


def end_group(proc):
    """Ends proc's process group (the wrapper script, the browser and all it started): SIGTERM,
    then SIGKILL if the group is still there after 10 s."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        for _ in range(100):
            proc.poll()  # reap the leader, or the group lives on as its zombie
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
    proc.wait()


def run(root, snippet_file, image, runtime_dir, timeout=90):
    """Serves root (the snippet's page, its model and image) and runtime_dir under /ort/, opens
    the page in the browser, returns (the page's result as a dict or None, what went wrong)."""
    with open(os.path.join(root, snippet_file), encoding="utf-8") as f:
        page = f.read() + DRIVER % image
    with open(os.path.join(root, "index.html"), "w", encoding="utf-8") as f:
        f.write(page)
    got = {}
    done = threading.Event()

    class Handler(http.server.SimpleHTTPRequestHandler):
        extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                          ".wasm": "application/wasm", ".mjs": "text/javascript", ".js": "text/javascript"}

        def translate_path(self, path):
            if path.startswith("/ort/"):
                return os.path.join(runtime_dir, os.path.basename(path.split("?", 1)[0]))
            return super().translate_path(path)

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(204)
            self.end_headers()
            if self.path == "/result" and not done.is_set():
                got["text"] = body.decode("utf-8", "replace")
                done.set()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a, **k: Handler(*a, directory=root, **k))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    profile = os.path.join(root, "browser-profile")
    exe = browser()
    args = [exe, "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
            "--disable-extensions", "--user-data-dir=" + profile, "--enable-logging=stderr", "--v=0"]
    if not exe.endswith("headless-shell"):
        args.append("--headless")
    args.append(f"http://127.0.0.1:{server.server_address[1]}/index.html")
    log = open(os.path.join(root, "browser.log"), "w")
    # its own process group: Debian's /usr/bin/chromium-headless-shell is a shell script that runs
    # the browser as its child, so ending the script alone would leave the browser running
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, HOME=root),
                            start_new_session=True)
    try:
        finished = done.wait(timeout)
    finally:
        end_group(proc)
        server.shutdown()
        log.close()
        shutil.rmtree(profile, ignore_errors=True)
    if not finished:
        tail = open(os.path.join(root, "browser.log"), encoding="utf-8", errors="replace").read()[-3000:]
        return None, f"no result from the page in {timeout} s; the browser said:\n{tail}"
    result = json.loads(got["text"])
    if "error" in result:
        return None, "the page's script failed: " + result["error"]
    return result, None
