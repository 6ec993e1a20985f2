"""Starts and stops real `thaw run` workers for the end-to-end tests and the benchmark."""
import json
import os
import pathlib
import select
import socket
import signal
import socket
import subprocess
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
THAW_BIN = os.environ.get("THAW_BIN", str(ROOT / "build" / "thaw"))
MINILM = ROOT / "models" / "src" / "minilm"


def free_port():
    """A loopback port nothing listens on now (closed again at once: a peer that is down, or a port to
    hand a process that cannot report the one it picked)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def pack_minilm(out_dir):
    """Packs the MiniLM model with its tokenizer into out_dir/minilm.thaw and returns the path."""
    out = pathlib.Path(out_dir) / "minilm.thaw"
    subprocess.run([THAW_BIN, "pack", str(MINILM / "model.onnx"), "--extra", str(MINILM / "tokenizer.json"),
                    "-o", str(out)], check=True, capture_output=True, timeout=300)
    return out


def fork_child(control, endpoint=None, timeout=30):
    """Asks a `thaw run --zygote` template (its control socket) for a ready child; returns the reply
    split as [status, pid, endpoint] ("ready", ...) or ["error", message]."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(control))
        s.sendall(("fork" + (" " + endpoint if endpoint else "") + "\n").encode())
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            reply += chunk
    return reply.decode().strip().split(" ", 2)


class EventLines:
    """A thaw process (self.proc) that prints JSON event lines on stdout (self.events, self._buf)."""

    def wait_for(self, name, timeout=60):
        """Reads event lines until one named `name`; fails if the process exits first."""
        deadline = time.monotonic() + timeout
        for ev in self.events:
            if ev.get("event") == name:
                return ev
        fd = self.proc.stdout.fileno()
        while True:
            while b"\n" in self._buf:  # lines a previous call read but did not look at come first
                line, self._buf = self._buf.split(b"\n", 1)
                ev = json.loads(line)
                self.events.append(ev)
                if ev.get("event") == name:
                    return ev
            if time.monotonic() >= deadline:
                break
            if select.select([fd], [], [], 0.2)[0]:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                self._buf += chunk
            elif self.proc.poll() is not None:
                break
        raise AssertionError(f"{self.what} never reported {name!r}; events={self.events} {self.failure_detail()}")

    def failure_detail(self):
        return ""

    def alive(self):
        return self.proc.poll() is None

    def stop(self, timeout=30):
        """SIGTERM, then SIGKILL after `timeout` s; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


class Worker(EventLines):
    """A `thaw run` process; events are the JSON lines it prints on stdout."""

    what = "worker"

    def failure_detail(self):
        return "stderr=" + (self.proc.stderr.read().decode(errors="replace") if self.proc.poll() is not None else "")

    def __init__(self, bundle, *args, wait_ready=True, timeout=120, pass_fds=()):
        env = dict(os.environ)
        # Lets the worker measure exec -> main exactly (see src/worker/cold_start.h).
        env["THAW_EXEC_BOOTTIME_NS"] = str(time.clock_gettime_ns(time.CLOCK_BOOTTIME))
        self.proc = subprocess.Popen([THAW_BIN, "run", str(bundle), *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env, pass_fds=pass_fds)
        self.events = []
        self._buf = b""
        if wait_ready:
            self.ready = self.wait_for("ready", timeout)
            self.port = self.ready["port"]
            self.model = self.ready["model"]
            self.url = f"127.0.0.1:{self.port}"

