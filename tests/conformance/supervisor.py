"""Starts a worker the way thaw's supervisor does (docs/worker-protocol.md, section 2), and talks
to it over its ready descriptor, its HTTP endpoint and a zygote's control socket."""
import ctypes
import http.client
import json
import os
import pathlib
import select
import shlex
import signal
import socket
import subprocess
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
THAW_BIN = os.environ.get("THAW_BIN", str(ROOT / "build" / "thaw"))
WORKER_CMD = shlex.split(os.environ.get("THAW_WORKER_CMD", "")) or [THAW_BIN, "run"]
START_TIMEOUT = float(os.environ.get("THAW_CONFORMANCE_TIMEOUT_S", "60"))

READY_FD = 3
VERSION = 1
PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def _child_setup(ready_w):
    """Runs in the child before exec: the ready pipe as fd 3, no other descriptor inherited, and
    SIGTERM when the thread that started it dies."""

    def setup():
        os.dup2(ready_w, READY_FD)  # inheritable
        for name in os.listdir("/proc/self/fd"):
            if int(name) > READY_FD:
                try:
                    os.set_inheritable(int(name), False)
                except OSError:
                    pass
        if _libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG)")

    return setup


class Worker:
    """A worker started as `WORKER BUNDLE ARGS...` with the supervisor's descriptors and environment.
    stdout is read as event lines; stderr goes to a log file named in failure messages."""

    def __init__(self, bundle, args, log_dir, versions="1", env=None):
        r, w = os.pipe()
        environ = dict(os.environ)
        environ.pop("THAW_WORKER_PROTOCOL", None)
        if versions is not None:
            environ["THAW_WORKER_PROTOCOL"] = versions
        environ["THAW_EXEC_BOOTTIME_NS"] = str(time.clock_gettime_ns(time.CLOCK_BOOTTIME))
        environ.update(env or {})
        self.log = pathlib.Path(log_dir) / f"worker-{time.monotonic_ns()}.log"
        self.argv = [*WORKER_CMD, str(bundle), *args]
        with open(self.log, "ab") as err:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err,
                                         env=environ, close_fds=False, preexec_fn=_child_setup(w))
        os.close(w)
        self.pid = self.proc.pid
        self._ready = r
        self._ready_buf = b""
        self._ready_eof = False
        self._out = b""
        self.events = []

    # ----- the ready descriptor -----
    def ready_line(self, timeout=START_TIMEOUT):
        """The line on fd 3 without its newline, or None if fd 3 reached end-of-file first."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self._ready_buf and not self._ready_eof:
            left = deadline - time.monotonic()
            assert left > 0, f"no ready line within {timeout} s{self.detail()}"
            if select.select([self._ready], [], [], min(left, 0.2))[0]:
                chunk = os.read(self._ready, 4096)
                self._ready_buf += chunk
                self._ready_eof = not chunk
        if b"\n" not in self._ready_buf:
            return None
        line, _, rest = self._ready_buf.partition(b"\n")
        assert len(line) < 4096, "the ready line is longer than 4096 bytes"
        return line.decode()

    def ready_line_pending(self):
        """True if nothing at all has arrived on fd 3 yet (no line, no end-of-file)."""
        if select.select([self._ready], [], [], 0)[0]:
            return False
        return not self._ready_buf and not self._ready_eof

    def ready_closed(self, timeout=10):
        """Reads fd 3 to end-of-file; returns what came after the line (must be nothing)."""
        self.ready_line(timeout)
        deadline = time.monotonic() + timeout
        extra = self._ready_buf.partition(b"\n")[2]
        while not self._ready_eof:
            left = deadline - time.monotonic()
            assert left > 0, f"fd 3 still open {timeout} s after the ready line{self.detail()}"
            if select.select([self._ready], [], [], min(left, 0.2))[0]:
                chunk = os.read(self._ready, 4096)
                extra += chunk
                self._ready_eof = not chunk
        return extra

    def endpoint(self):
        line = self.ready_line()
        assert line is not None, f"fd 3 closed without a ready line{self.detail()}"
        words = line.split(" ", 2)
        assert len(words) == 3 and words[:2] == ["ready", f"v{VERSION}"], \
            f"the ready line {line!r} is not 'ready v{VERSION} <endpoint>' (W5){self.detail()}"
        return words[2]

    # ----- events on stdout -----
    def _read_events(self, timeout):
        fd = self.proc.stdout.fileno()
        if select.select([fd], [], [], timeout)[0]:
            chunk = os.read(fd, 65536)
            if not chunk:
                return False
            self._out += chunk
            while b"\n" in self._out:
                line, self._out = self._out.split(b"\n", 1)
                try:
                    ev = json.loads(line)
                except ValueError:
                    raise AssertionError(f"stdout line is not JSON (W9): {line!r}")
                assert isinstance(ev, dict) and isinstance(ev.get("event"), str), f"not an event (W9): {line!r}"
                self.events.append(ev)
        return True

    def event(self, name, timeout=10, where=lambda ev: True):
        """The first event named `name` that satisfies `where`, reading stdout until it comes."""
        deadline = time.monotonic() + timeout
        while True:
            for ev in self.events:
                if ev["event"] == name and where(ev):
                    return ev
            left = deadline - time.monotonic()
            if left <= 0 or not self._read_events(min(left, 0.2)):
                raise AssertionError(f"no {name!r} event; events={self.events}{self.detail()}")

    def drain_events(self):
        """Reads stdout to its end (the worker has exited); every line must be an event."""
        while self._read_events(1):
            pass
        assert not self._out, f"stdout ended inside a line: {self._out!r}"

    # ----- process -----
    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout=15):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"still running {timeout} s later{self.detail()}")

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self._ready)
        self.proc.stdout.close()

    def detail(self):
        text = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
        return f"\n  argv: {shlex.join(self.argv)}\n  stderr ({self.log}):\n{text}"


def gone(pid):
    """True once `pid` has exited (a zombie counts)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError):
        return True


def parent_of(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def wait_until(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.02)


# ----- HTTP on an endpoint: "host:port", "[v6]:port" or "unix:/path" -----
class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def connection(endpoint, timeout=30):
    if endpoint.startswith("unix:"):
        return _UnixConnection(endpoint[5:], timeout)
    host, _, port = endpoint.rpartition(":")
    return http.client.HTTPConnection(host.strip("[]"), int(port), timeout=timeout)


def request(endpoint, method, path, body=None, headers=None):
    """(status, body bytes)."""
    conn = connection(endpoint)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def status(endpoint, path):
    return request(endpoint, "GET", path)[0]


def infer_body(endpoint, model):
    """One valid inference request: THAW_WORKER_INFER's file, else built from the model's metadata."""
    if os.environ.get("THAW_WORKER_INFER"):
        return pathlib.Path(os.environ["THAW_WORKER_INFER"]).read_bytes()
    code, meta = request(endpoint, "GET", f"/v2/models/{model}")
    assert code == 200, (code, meta)
    inputs = []
    for spec in json.loads(meta)["inputs"]:
        shape = [1 if d < 0 else d for d in spec["shape"]]
        count = 1
        for d in shape:
            count *= d
        value = {"BYTES": "a", "BOOL": True}.get(spec["datatype"], 1)
        inputs.append({"name": spec["name"], "datatype": spec["datatype"], "shape": shape, "data": [value] * count})
    return json.dumps({"inputs": inputs}).encode()


# ----- a zygote's control socket -----
def control(path, command, timeout=15, shut_read=False):
    """Sends one command line (bytes, newline included); returns the reply without its newline,
    or None when the connection closed without one."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(path))
        if shut_read:
            s.shutdown(socket.SHUT_RD)
        s.sendall(command)
        if shut_read:
            return None
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = s.recv(4096)
            if not chunk:
                return None
            reply += chunk
    return reply[:-1].decode()
