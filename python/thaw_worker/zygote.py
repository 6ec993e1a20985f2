"""Zygote mode (docs/worker-protocol.md, section 5): the template has imported, initialised and
warmed up the handler once; each `fork [ENDPOINT]` on its control socket forks a child that serves
at once, sharing the template's memory copy-on-write."""
import ctypes
import os
import select
import signal
import socket
import time

from . import fork_hygiene, http_server
from .protocol import MAX_LINE

PR_SET_PDEATHSIG = 1
COMMAND_WAIT_S = 2.0
CHILD_STOP_S = 10.0
_libc = ctypes.CDLL(None, use_errno=True)


def _read_command(conn):
    conn.settimeout(COMMAND_WAIT_S)
    deadline = time.monotonic() + COMMAND_WAIT_S
    data = b""
    while b"\n" not in data:
        if len(data) >= MAX_LINE:
            return None, f"the command is longer than {MAX_LINE} bytes"
        left = deadline - time.monotonic()
        if left <= 0:
            return None, f"no command within {COMMAND_WAIT_S:g} s; send \"fork [ENDPOINT]\""
        conn.settimeout(left)
        try:
            chunk = conn.recv(MAX_LINE)
        except (socket.timeout, TimeoutError):
            return None, f"no command within {COMMAND_WAIT_S:g} s; send \"fork [ENDPOINT]\""
        except OSError as e:
            return None, f"reading the command: {e}"
        if not chunk:
            return None, "the connection closed before a whole command"
        data += chunk
    line = data.split(b"\n", 1)[0].decode("utf-8", "replace").rstrip("\r")
    if len(line) + 1 > MAX_LINE:
        return None, f"the command is longer than {MAX_LINE} bytes"
    word, _, arg = line.partition(" ")
    if word != "fork":
        return None, f"unknown command {word!r}; send \"fork [ENDPOINT]\""
    endpoint = arg.strip() or "127.0.0.1:0"
    try:
        http_server.parse_endpoint(endpoint)
    except ValueError as e:
        return None, str(e)
    return endpoint, None


def _reply(conn, line):
    try:
        conn.settimeout(2.0)
        conn.sendall((line.replace("\n", " ") + "\n").encode())
        return True
    except OSError:
        return False


class Zygote:
    def __init__(self, control_path, make_instance, events, model, threads, stop_signals, server_options,
                 after_fork=lambda: None):
        self.after_fork = after_fork
        self.control_path = control_path
        self.make_instance = make_instance
        self.events = events
        self.model = model
        self.threads = threads
        self.stop_signals = stop_signals
        self.server_options = server_options
        self.children = set()
        self.pid = os.getpid()
        self.sock = None

    def listen(self):
        try:
            if os.path.exists(self.control_path):
                os.unlink(self.control_path)
        except OSError:
            pass
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.bind(self.control_path)
            s.listen(64)
        except OSError:
            s.close()
            raise
        self.sock = s

    def _reap(self):
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self.children.clear()
                return
            if pid == 0:
                return
            self.children.discard(pid)
            code = os.waitstatus_to_exitcode(status)
            self.events.emit("child_exited", pid=pid, status=code if code >= 0 else 128 - code)

    def serve(self):
        """Forks children until a stop signal; returns the signal."""
        while True:
            pending = signal.sigpending() & self.stop_signals
            if pending:
                return pending.pop()
            self._reap()
            if not select.select([self.sock], [], [], 0.1)[0]:
                continue
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                endpoint, error = _read_command(conn)
                if error:
                    _reply(conn, f"error {error}")
                    continue
                requested = time.monotonic()
                try:
                    pid = os.fork()
                except OSError as e:
                    _reply(conn, f"error fork failed: {e}")
                    continue
                if pid == 0:
                    self._child(conn, endpoint, requested)  # never returns
                self.children.add(pid)
                self.events.emit("forked", pid=pid)

    def _child(self, conn, endpoint, requested):
        status = 1
        try:
            self.sock.close()
            _libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
            if os.getppid() != self.pid:  # the template died between fork and prctl
                fork_hygiene.leave(0)
            forked = time.monotonic()
            fork_hygiene.after_fork(self.threads)
            try:
                self.after_fork()
            except BaseException as e:  # noqa: BLE001 - the handler's hook failed: this child cannot serve
                _reply(conn, f"error the handler's after_fork() raised {type(e).__name__}: {e}")
                fork_hygiene.leave(1)
            hygiene = time.monotonic()
            instance = self.make_instance()
            try:
                server = http_server.listen(endpoint, instance, self.server_options)
            except (OSError, ValueError) as e:
                _reply(conn, f"error listening on {endpoint}: {e.strerror if isinstance(e, OSError) else e}")
                fork_hygiene.leave(1)
            listening = time.monotonic()
            instance.start()
            instance.ready = True
            http_server.serve_in_background(server)
            me = os.getpid()
            replied = time.monotonic()
            if not _reply(conn, f"ready {me} {server.endpoint}"):
                self.events.emit("abandoned", pid=me, endpoint=server.endpoint)
                fork_hygiene.leave(0)
            conn.close()
            self.events.emit("ready", endpoint=server.endpoint, port=server.port, model=self.model, version=instance.version,
                             pid=me, forked=True, fork_to_ready_ms=round((replied - requested) * 1e3, 3),
                             fork_phases_ms={"fork": round((forked - requested) * 1e3, 3),
                                             "after_fork": round((hygiene - forked) * 1e3, 3),
                                             "listen": round((listening - hygiene) * 1e3, 3),
                                             "serve": round((replied - listening) * 1e3, 3)})
            signo = signal.sigwait(self.stop_signals)
            server.drain(self.server_options["stop_grace_s"])
            self.events.emit("stopped", signal=int(signo), pid=me)
            status = 0
        except BaseException as e:  # noqa: BLE001 - a child never unwinds into the template's loop
            http_server.log(f"forked child failed: {e!r}")
        fork_hygiene.leave(status)

    def stop(self):
        """W21: SIGTERM every child, SIGKILL after 10 s, remove the control socket."""
        for pid in list(self.children):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + CHILD_STOP_S
        while self.children and time.monotonic() < deadline:
            self._reap()
            time.sleep(0.01)
        for pid in list(self.children):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        while self.children:
            try:
                pid, status = os.waitpid(-1, 0)
                self.children.discard(pid)
            except ChildProcessError:
                break
        if self.sock is not None:
            self.sock.close()
        try:
            os.unlink(self.control_path)
        except OSError:
            pass
