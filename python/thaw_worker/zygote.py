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
                 after_fork=lambda: None, spares=1, warm_spare=None):
        self.after_fork = after_fork
        self.spares = spares
        self.warm_spare = warm_spare
        self.spare = None  # (pid, the template's end of its channel)
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
            if self.spare is not None and self.spare[0] not in self.children:
                self.spare[1].close()  # it died (reaped above): make another
                self.spare = None
            if not select.select([self.sock], [], [], 0.1)[0]:
                if self.spares and self.spare is None:
                    self._fork_spare()  # only when idle: never in a requester's way
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
                if self._hand_over(conn, endpoint):
                    continue
                try:
                    pid = os.fork()
                except OSError as e:
                    _reply(conn, f"error fork failed: {e}")
                    continue
                if pid == 0:
                    self._child(conn, endpoint, requested)  # never returns
                self.children.add(pid)
                self.events.emit("forked", pid=pid)

    # ----- spares: a child forked ahead of its request (Android's zygote keeps such a pool), which
    # has run the after-fork work and the handler's warmup() and waits for an endpoint and the
    # requester's connection (passed with SCM_RIGHTS), so a request waits for no fork at all.
    def _fork_spare(self):
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            pid = os.fork()
        except OSError:
            mine.close()
            theirs.close()
            return
        if pid == 0:
            mine.close()
            self._spare_main(theirs)  # never returns
        theirs.close()
        self.children.add(pid)
        self.spare = (pid, mine)

    def _hand_over(self, conn, endpoint):
        """Gives the command to the spare when it is prepared; False: fork on request instead (a
        spare still warming up would make the requester wait for its warm-up)."""
        if self.spare is None:
            return False
        pid, chan = self.spare
        try:
            prepared = bool(select.select([chan], [], [], 0)[0]) and chan.recv(1) == b"r"
        except OSError:
            prepared = False
        if not prepared:
            return False
        self.spare = None
        try:
            socket.send_fds(chan, [endpoint.encode()], [conn.fileno()])
        except OSError:
            return False
        finally:
            chan.close()
        self.events.emit("forked", pid=pid, spare=True)
        return True

    def _spare_main(self, chan):
        status = 1
        try:
            self._enter_child()
            forked = time.monotonic()
            failure = self._after_fork()
            instance = self.make_instance()
            instance.start()  # its predict thread waits with the spare
            if failure is None and self.warm_spare is not None:
                try:  # on the predict thread, whose thread-local state (torch's) the requests will use
                    instance.on_predict_thread(self.warm_spare)
                except BaseException as e:  # noqa: BLE001
                    failure = f"the handler's warmup() raised {type(e).__name__}: {e}"
            ready_at = time.monotonic()
            chan.sendall(b"r")  # prepared: the template may hand it a command now
            while not select.select([chan], [], [], 0.1)[0]:
                if signal.sigpending() & self.stop_signals:
                    fork_hygiene.leave(0)
            msg, fds, _, _ = socket.recv_fds(chan, MAX_LINE, 1)
            chan.close()
            if not msg or not fds:
                fork_hygiene.leave(0)  # the template closed its end: never used
            conn = socket.socket(fileno=fds[0])
            requested = time.monotonic()
            if failure is not None:
                _reply(conn, f"error {failure}")
                fork_hygiene.leave(1)
            status = self._serve(conn, msg.decode(), requested,
                                 {"spare_prepare": round((ready_at - forked) * 1e3, 3)}, spare=True, instance=instance)
        except BaseException as e:  # noqa: BLE001 - a child never unwinds into the template's loop
            http_server.log(f"spare child failed: {e!r}")
        fork_hygiene.leave(status)

    # ----- a child
    def _enter_child(self):
        self.sock.close()
        if self.spare is not None:
            self.spare[1].close()
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != self.pid:  # the template died between fork and prctl
            fork_hygiene.leave(0)

    def _after_fork(self):
        """Fork hygiene and the handler's after_fork(); the error message when the hook failed."""
        fork_hygiene.after_fork(self.threads)
        try:
            self.after_fork()
        except BaseException as e:  # noqa: BLE001 - the handler's hook failed: this child cannot serve
            return f"the handler's after_fork() raised {type(e).__name__}: {e}"
        return None

    def _child(self, conn, endpoint, requested):
        status = 1
        try:
            self._enter_child()
            forked = time.monotonic()
            failure = self._after_fork()
            if failure is not None:
                _reply(conn, f"error {failure}")
                fork_hygiene.leave(1)
            status = self._serve(conn, endpoint, requested,
                                 {"fork": round((forked - requested) * 1e3, 3),
                                  "after_fork": round((time.monotonic() - forked) * 1e3, 3)})
        except BaseException as e:  # noqa: BLE001 - a child never unwinds into the template's loop
            http_server.log(f"forked child failed: {e!r}")
        fork_hygiene.leave(status)

    def _serve(self, conn, endpoint, requested, phases, spare=False, instance=None):
        """Listens on endpoint, replies on conn, serves until a stop signal; the exit status."""
        begun = time.monotonic()
        if instance is None:
            instance = self.make_instance()
            instance.start()
        try:
            server = http_server.listen(endpoint, instance, self.server_options)
        except (OSError, ValueError) as e:
            _reply(conn, f"error listening on {endpoint}: {e.strerror if isinstance(e, OSError) else e}")
            return 1
        listening = time.monotonic()
        instance.ready = True
        http_server.serve_in_background(server)
        me = os.getpid()
        replied = time.monotonic()
        if not _reply(conn, f"ready {me} {server.endpoint}"):
            self.events.emit("abandoned", pid=me, endpoint=server.endpoint)
            return 0
        conn.close()
        phases.update({"listen": round((listening - begun) * 1e3, 3), "serve": round((replied - listening) * 1e3, 3)})
        self.events.emit("ready", endpoint=server.endpoint, port=server.port, model=self.model, version=instance.version,
                         pid=me, forked=True, spare=spare, fork_to_ready_ms=round((replied - requested) * 1e3, 3),
                         fork_phases_ms=phases)
        signo = signal.sigwait(self.stop_signals)
        server.drain(self.server_options["stop_grace_s"])
        self.events.emit("stopped", signal=int(signo), pid=me)
        return 0

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
        if self.spare is not None:
            self.spare[1].close()
            self.spare = None
        if self.sock is not None:
            self.sock.close()
        try:
            os.unlink(self.control_path)
        except OSError:
            pass
