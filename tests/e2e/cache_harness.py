"""Processes for the cache's end-to-end tests and benchmark: synthetic bundles, the fault-injecting
upstream (upstream_server.py) and `thaw cache`."""
import json
import os
import pathlib
import select
import signal
import subprocess
import sys
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[2]
THAW_BIN = os.environ.get("THAW_BIN", str(ROOT / "build" / "thaw"))
MAKE_BUNDLE = os.environ.get("THAW_MAKE_BUNDLE", str(pathlib.Path(THAW_BIN).parent / "cache_make_bundle"))
UPSTREAM = pathlib.Path(__file__).resolve().parent / "upstream_server.py"


def make_bundle(out, name, version, megabytes, tensors=10, changed=0, seed_base=0, zstd=False):
    out = pathlib.Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    args = [MAKE_BUNDLE, str(out), name, version, str(megabytes), str(tensors), str(changed), str(seed_base)]
    if zstd:
        args.append("zstd")
    subprocess.run(args, check=True, timeout=600)
    return out


def _wait_ready(proc, timeout):
    deadline = time.monotonic() + timeout
    buf = b""
    fd = proc.stdout.fileno()
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                try:
                    ev = json.loads(line)
                except ValueError:
                    continue
                if ev.get("event") == "ready":
                    return ev
        elif proc.poll() is not None:
            break
    err = proc.stderr.read().decode(errors="replace") if proc.poll() is not None else ""
    raise RuntimeError(f"process did not become ready: {err}")


class Process:
    def __init__(self, args, timeout=60):
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.ready = _wait_ready(self.proc, timeout)
        self.port = self.ready["port"]
        self.base = f"http://127.0.0.1:{self.port}"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill9(self):
        self.proc.kill()
        self.proc.wait()


class Upstream(Process):
    def __init__(self, root, mbps=0, rtt_ms=0, port=0):
        super().__init__([sys.executable, str(UPSTREAM), "--dir", str(root), "--port", str(port), "--mbps", str(mbps),
                          "--rtt-ms", str(rtt_ms)])

    def control(self, path, body=None):
        data = json.dumps(body or {}).encode()
        req = urllib.request.Request(self.base + path, data=data, method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def fault(self, kind, count=1, **kw):
        return self.control("/_faults", {"kind": kind, "count": count, **kw})

    def stats(self):
        with urllib.request.urlopen(self.base + "/_stats", timeout=10) as r:
            return json.loads(r.read())


class Cache(Process):
    def __init__(self, upstream_url, cache_dir, *extra, port=0):
        super().__init__([THAW_BIN, "cache", "--upstream", upstream_url, "--dir", str(cache_dir), "--port", str(port),
                          *extra])

    def stats(self):
        with urllib.request.urlopen(self.base + "/stats", timeout=10) as r:
            return json.loads(r.read())


def get(url, headers=None, timeout=120):
    """(status, headers, body) without raising on HTTP errors."""
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def post(url, body, timeout=300):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")
