"""A model registry stand-in for the cache's tests and benchmark: serves files under a directory
over HTTP/1.1 with single byte-range support, a shared bandwidth limit, per-request latency, and
faults injected through a control API.

    python upstream_server.py --dir DIR [--port 0] [--mbps 100] [--rtt-ms 50]

Prints {"event": "ready", "port": N} on stdout. Control (JSON):
    POST /_faults  {"kind": "status"|"drop"|"truncate"|"corrupt"|"delay", "count": N,
                    "status": 503, "delay_ms": 2000, "path_contains": "...", "after": K,
                    "min_offset": A, "max_offset": B}
                                queue a fault for N matching requests after the next K (with
                                min/max_offset: only ranges starting in [A, B))
    POST /_config  {"mbps": 0, "rtt_ms": 0}   change throttling (0: none)
    GET  /_stats   {"requests": N, "bytes": N, "by_path": {...}}
    POST /_reset   clear stats and faults
"""

import argparse
import json
import os
import re
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class State:
    def __init__(self, root, mbps, rtt_ms):
        self.root = os.path.realpath(root)
        self.lock = threading.Lock()
        self.mbps = mbps
        self.rtt_ms = rtt_ms
        self.faults = []
        self.reset_stats()
        self.next_send = time.monotonic()

    def reset_stats(self):
        self.requests = 0
        self.bytes = 0
        self.by_path = {}

    def take_fault(self, path, start):
        with self.lock:
            for f in self.faults:
                if not f.get("min_offset", 0) <= start < f.get("max_offset", float("inf")):
                    continue
                if f["count"] > 0 and f.get("path_contains", "") in path:
                    if f.get("after", 0) > 0:  # let this many matching requests through first
                        f["after"] -= 1
                        continue
                    f["count"] -= 1
                    return dict(f)
        return None

    def throttle(self, n):
        """Shared token bucket: all connections together get `mbps` MB/s."""
        if not self.mbps:
            return
        with self.lock:
            now = time.monotonic()
            start = max(now, self.next_send)
            self.next_send = start + n / (self.mbps * 1e6)
            wait = self.next_send - now
        if wait > 0:
            time.sleep(wait)


RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: State = None

    def log_message(self, fmt, *args):
        pass

    def _json(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        st = self.state
        length = int(self.headers.get("Content-Length", "0") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        if self.path == "/_faults":
            body.setdefault("count", 1)
            with st.lock:
                st.faults.append(body)
            return self._json(200, {"ok": True})
        if self.path == "/_config":
            with st.lock:
                st.mbps = body.get("mbps", st.mbps)
                st.rtt_ms = body.get("rtt_ms", st.rtt_ms)
            return self._json(200, {"ok": True})
        if self.path == "/_reset":
            with st.lock:
                st.faults = []
                st.reset_stats()
            return self._json(200, {"ok": True})
        return self._json(404, {"error": "no such control"})

    def do_GET(self):
        st = self.state
        if self.path == "/_stats":
            with st.lock:
                return self._json(200, {"requests": st.requests, "bytes": st.bytes, "by_path": st.by_path})
        path = os.path.realpath(os.path.join(st.root, self.path.split("?")[0].lstrip("/")))
        with st.lock:
            st.requests += 1
            st.by_path[self.path] = st.by_path.get(self.path, 0) + 1
        if st.rtt_ms:
            time.sleep(st.rtt_ms / 1000.0)
        m = RANGE_RE.match((self.headers.get("Range") or "").strip())
        fault = self.state.take_fault(self.path, int(m.group(1)) if m and m.group(1) else 0)
        if fault and fault["kind"] == "delay":
            time.sleep(fault.get("delay_ms", 1000) / 1000.0)
        if fault and fault["kind"] == "status":
            return self._json(fault.get("status", 503), {"error": "injected"})
        if not path.startswith(st.root + os.sep) or not os.path.isfile(path):
            return self._json(404, {"error": "not found"})
        size = os.path.getsize(path)
        first, last, code = 0, size - 1, 200
        rng = self.headers.get("Range")
        if rng:
            m = RANGE_RE.match(rng.strip())
            if not m or (not m.group(1) and not m.group(2)):
                return self._json(416, {"error": "bad range"})
            if m.group(1):
                first = int(m.group(1))
                last = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
            else:
                first = max(0, size - int(m.group(2)))
            if first >= size or last < first:
                return self._json(416, {"error": "unsatisfiable"})
            code = 206
        n = last - first + 1
        self.send_response(code)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(n))
        self.send_header("Accept-Ranges", "bytes")
        if code == 206:
            self.send_header("Content-Range", f"bytes {first}-{last}/{size}")
        self.end_headers()
        send = n
        if fault and fault["kind"] in ("drop", "truncate"):
            send = n // 2 if fault["kind"] == "truncate" else 0
        with open(path, "rb") as f:
            if not st.mbps and not fault:
                self.wfile.flush()
                sent = self.connection.sendfile(f, offset=first, count=n)
                with st.lock:
                    st.bytes += sent
                return
            f.seek(first)
            left = send
            while left > 0:
                piece = f.read(min(left, 256 << 10))
                if not piece:
                    break
                if fault and fault["kind"] == "corrupt" and left == send:
                    piece = bytes([piece[0] ^ 0xFF]) + piece[1:]
                st.throttle(len(piece))
                self.wfile.write(piece)
                left -= len(piece)
                with st.lock:
                    st.bytes += len(piece)
        if send < n:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--mbps", type=float, default=0, help="shared bandwidth limit in MB/s (0: none)")
    ap.add_argument("--rtt-ms", type=float, default=0, help="latency added before each response")
    args = ap.parse_args()
    Handler.state = State(args.dir, args.mbps, args.rtt_ms)
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.request_queue_size = 256
    srv = ThreadingHTTPServer((args.host, args.port), Handler)
    print(json.dumps({"event": "ready", "port": srv.server_address[1]}), flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
