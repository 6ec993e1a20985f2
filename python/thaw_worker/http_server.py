"""HTTP/1.1 on a Unix socket or TCP for one instance: health, /warm, the Open Inference Protocol
routes and /metrics (docs/worker-protocol.md section 4), with a drain on stop (section 6)."""
import http.server
import json
import os
import re
import socket
import socketserver
import sys
import threading
import time

MODEL_ROUTE = re.compile(r"^/v2/models/([^/]+)(?:/versions/([^/]+))?(/ready|/config|/infer)?$")


def parse_endpoint(text):
    """("unix", path) or ("tcp", host, port) from "unix:PATH" or "HOST:PORT"/"[V6]:PORT"."""
    if text.startswith("unix:"):
        return ("unix", text[5:])
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"endpoint {text!r} is neither unix:PATH nor HOST:PORT")
    return ("tcp", host.strip("[]") or "127.0.0.1", int(port))


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "thaw-python"
    sys_version = ""

    def setup(self):
        super().setup()
        self.busy = False
        self.server.track(self, True)

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.track(self, False)

    def log_message(self, fmt, *args):  # requests are counted in /metrics, not logged one by one
        pass

    def handle_one_request(self):
        try:
            self.raw_requestline = self.rfile.readline(65537)
            if not self.raw_requestline:
                self.close_connection = True
                return
            self.busy = True
            try:
                if len(self.raw_requestline) > 65536:
                    self.send_error(414)
                    return
                if not self.parse_request():
                    return
                if self.command not in ("GET", "POST", "HEAD"):
                    self._json(405, {"error": f"method {self.command} is not served here"})
                    return
                self.route()
                self.wfile.flush()
            finally:
                self.busy = False
                if self.server.stopping:
                    self.close_connection = True
        except (TimeoutError, socket.timeout, ConnectionError, OSError):
            self.close_connection = True
        after = getattr(self.server.instance, "after_response", None)
        if after is not None:
            after()

    def _send(self, status, body, content_type, headers=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        if self.server.stopping:
            self.send_header("Connection", "close")
        # Head and body in one write: one segment, one wake-up of the gateway's reader.
        self._headers_buffer.append(b"\r\n")
        if self.command != "HEAD":
            self._headers_buffer.append(body)
        self.flush_headers()

    def _json(self, status, obj):
        body = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
        self._send(status, body, "application/json")

    def _body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self.close_connection = True
            self._json(411, {"error": "send the request with a Content-Length (chunked bodies are not taken)"})
            return None
        try:
            n = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            self.close_connection = True
            self._json(400, {"error": "Content-Length is not a number"})
            return None
        inst = self.server.instance
        if n < 0 or n > inst.options.max_body:
            self.close_connection = True
            self._json(413, {"error": f"the body is {n} bytes, more than --max-body {inst.options.max_body}"})
            return None
        data = self.rfile.read(n)
        if len(data) != n:
            self.close_connection = True
            return None
        return data

    def route(self):
        inst = self.server.instance
        path = self.path.split("?", 1)[0]
        if path == "/v2/health/live":
            return self._json(200, {"live": True})
        if path in ("/v2/health/ready", "/warm"):
            ok = inst.serving()
            if path == "/warm":
                return self._send(200 if ok else 503, b"warm" if ok else b"not ready", "text/plain")
            return self._json(200 if ok else 503, {"ready": ok})
        if path == "/metrics":
            return self._send(200, inst.metrics().encode(), "text/plain; version=0.0.4")
        if path == "/v2":
            return self._json(200, {"name": "thaw", "version": "1", "extensions": ["binary_tensor_data"]})
        if path == "/v2/repository/index" and self.command == "POST":
            self._body()
            return self._json(200, [{"name": inst.model, "version": inst.version,
                                     "state": "READY" if inst.serving() else "UNAVAILABLE"}])
        if path in inst.handler.JSON_ROUTES:
            if self.command != "POST":
                return self._json(405, {"error": f"{path} takes POST"})
            body = self._body()
            if body is None:
                return None
            status, answer = inst.plain_json(path, body)
            return self._json(status, answer)
        m = MODEL_ROUTE.match(path)
        if not m:
            return self._json(404, {"error": f"no route {path}; see docs/protocol.md"})
        name, version, tail = m.group(1), m.group(2), m.group(3)
        if name != inst.model or (version is not None and version != inst.version):
            return self._json(404, {"error": f"unknown model '{name}'" + (f" version '{version}'" if version else "")
                                    + f"; this worker serves '{inst.model}' version '{inst.version}'"})
        if tail == "/infer":
            if self.command != "POST":
                return self._json(405, {"error": "infer takes POST"})
            body = self._body()
            if body is None:
                return None
            status, answer, head_length = inst.infer(body, self.headers.get("Inference-Header-Content-Length"))
            if head_length is None:
                return self._json(status, answer)
            return self._send(status, answer, "application/octet-stream",
                              {"Inference-Header-Content-Length": str(head_length)})
        if tail == "/ready":
            ok = inst.serving()
            return self._json(200 if ok else 503, {"name": inst.model, "ready": ok})
        if tail == "/config":
            return self._json(200, {"name": inst.model, "platform": "python", "backend": "python",
                                    "max_batch_size": 0, "input": inst.handler.signature("INPUTS"),
                                    "output": inst.handler.signature("OUTPUTS"),
                                    "openai_routes": inst.handler.json_routes()})
        return self._json(200, inst.metadata())


class _ServerMixin(socketserver.ThreadingMixIn):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def setup_tracking(self, instance, options):
        self.instance = instance
        self.stopping = False
        self.max_connections = options.get("max_connections", 1024)
        self.idle_timeout = options.get("idle_timeout_s", 60.0)
        self._conns = set()
        self._lock = threading.Lock()

    def track(self, handler, add):
        with self._lock:
            (self._conns.add if add else self._conns.discard)(handler)

    def process_request(self, request, client_address):
        with self._lock:
            full = len(self._conns) >= self.max_connections
        if full:
            try:
                body = b'{"error":"too many connections; retry"}'
                request.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                                b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            except OSError:
                pass
            self.shutdown_request(request)
            return
        request.settimeout(self.idle_timeout)
        super().process_request(request, client_address)

    def drain(self, grace_s):
        """Stops accepting, closes idle connections, waits up to grace_s for requests in flight."""
        self.stopping = True
        self.shutdown()
        self.socket.close()
        deadline = time.monotonic() + grace_s
        while True:
            with self._lock:
                conns = list(self._conns)
            for h in conns:
                if not h.busy:
                    try:
                        h.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
            if not any(h.busy for h in conns) or time.monotonic() > deadline:
                return
            time.sleep(0.01)


class UnixServer(_ServerMixin, socketserver.UnixStreamServer):
    def __init__(self, path, instance, options):
        self.setup_tracking(instance, options)
        self.path = path
        try:
            if os.path.exists(path) and not os.path.isdir(path):
                os.unlink(path)  # W15: a stale socket file
        except OSError:
            pass
        super().__init__(path, _Handler)
        self.endpoint = f"unix:{path}"
        self.port = 0

    def get_request(self):
        conn, _ = self.socket.accept()
        return conn, ("unix", 0)

    def drain(self, grace_s):
        super().drain(grace_s)
        try:
            os.unlink(self.path)
        except OSError:
            pass


class TcpServer(_ServerMixin, socketserver.TCPServer):
    allow_reuse_address = True

    def __init__(self, host, port, instance, options):
        self.setup_tracking(instance, options)
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        super().__init__((host, port), _Handler)
        self.port = self.server_address[1]
        self.endpoint = f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().server_bind()


class _WarmServer:
    """What a request handler needs of its server, for warm_up_stack()."""

    def __init__(self, instance):
        self.instance = instance
        self.stopping = False

    def track(self, handler, add):
        pass


def warm_up_stack(instance):
    """Runs a few requests through the HTTP and KServe code on this thread, over a socket pair, so
    that a zygote's children find that code already run (CPython 3.11 specialises bytecode in place
    the first time it runs, which in a child would copy the pages holding it)."""
    from . import kserve
    model = instance.model.encode()
    requests = (b"GET /v2/health/live HTTP/1.1\r\nHost: w\r\n\r\n"
                b"GET /v2/models/" + model + b" HTTP/1.1\r\nHost: w\r\n\r\n"
                b"POST /v2/models/" + model + b"/infer HTTP/1.1\r\nHost: w\r\nContent-Type: application/json\r\n"
                b"Content-Length: 2\r\nConnection: close\r\n\r\n{}")
    a, b = socket.socketpair()
    try:
        b.sendall(requests)
        b.shutdown(socket.SHUT_WR)
        _Handler(a, ("warm-up", 0), _WarmServer(instance))
        b.settimeout(1)
        while b.recv(65536):
            pass
    except OSError:
        pass
    finally:
        a.close()
        b.close()
    limits = kserve.Limits()
    body = json.dumps({"id": "w", "inputs": [{"name": "x", "datatype": "FP32", "shape": [2], "data": [1, 2]},
                                             {"name": "t", "datatype": "BYTES", "shape": [1], "data": ["w"]}]}).encode()
    inputs, _, _, _ = kserve.decode_request(body, None, limits)
    kserve.encode_outputs({"y": inputs["x"], "t": ["w"]}, None, "w", "1", "w", limits)
    kserve.encode_outputs({"y": inputs["x"], "t": ["w"]}, None, "w", "1", "w", limits, True)


def listen(endpoint, instance, options):
    """A server bound to endpoint ("unix:PATH" or "HOST:PORT"); OSError or ValueError when it cannot."""
    kind = parse_endpoint(endpoint)
    if kind[0] == "unix":
        return UnixServer(kind[1], instance, options)
    return TcpServer(kind[1], kind[2], instance, options)


def serve_in_background(server):
    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="http", daemon=True)
    t.start()
    return t


def log(msg):
    sys.stderr.write(f"thaw_worker: {msg}\n")
    sys.stderr.flush()
