"""The worker protocol, version 1, from the worker's side: version negotiation, the ready
descriptor, and the JSON event lines on stdout (docs/worker-protocol.md, sections 2, 3 and 8)."""
import json
import os
import threading

SPEAKS = (1,)
VERSION_ENV = "THAW_WORKER_PROTOCOL"
EXEC_TIME_ENV = "THAW_EXEC_BOOTTIME_NS"
MAX_LINE = 4096


class ProtocolError(Exception):
    """The supervisor speaks no version this worker speaks."""


def negotiate(announced):
    """The version to speak given THAW_WORKER_PROTOCOL's value (None: unset). Raises ProtocolError
    with a message naming both sides' versions."""
    ours = ",".join(str(v) for v in SPEAKS)
    if announced is None:
        return max(SPEAKS)
    try:
        offered = [int(v) for v in announced.split(",")]
        if not offered or any(v < 0 for v in offered):
            raise ValueError(announced)
    except ValueError:
        raise ProtocolError(f"unsupported: {VERSION_ENV}={announced!r} is not a comma-separated list of protocol "
                            f"versions; this worker speaks version {ours} (docs/worker-protocol.md, \"Versioning\")")
    shared = set(offered) & set(SPEAKS)
    if not shared:
        raise ProtocolError(f"unsupported: the supervisor speaks worker protocol version {announced} "
                            f"({VERSION_ENV}={announced}), but this worker speaks version {ours}: use a thaw "
                            f"release that speaks version {ours}, or a worker that speaks version {announced} "
                            f"(docs/worker-protocol.md, \"Versioning\")")
    return max(shared)


class Events:
    """One JSON object per line on the event stream (the descriptor stdout had at start; the
    process's own fd 1 is pointed at stderr so that a handler's prints cannot corrupt it)."""

    def __init__(self, fd):
        self._fd = fd
        self._lock = threading.Lock()

    def emit(self, name, **fields):
        line = (json.dumps({"event": name, **fields}, sort_keys=True, default=str) + "\n").encode()
        with self._lock:
            view = memoryview(line)
            while view:
                try:
                    n = os.write(self._fd, view)
                except BrokenPipeError:
                    return
                view = view[n:]


def take_stdout_for_events():
    """Moves the real stdout to a private descriptor for events and points fd 1 (and sys.stdout)
    at stderr, so print(), logging to stdout and C libraries writing to fd 1 land in the log."""
    import sys
    events_fd = os.dup(1)  # not inheritable
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return Events(events_fd)


class ReadyFd:
    """The ready descriptor: one line, then closed. fd None: none given, every call does nothing."""

    def __init__(self, fd):
        self._fd = fd

    def _send(self, line):
        if self._fd is None:
            return
        data = (line.replace("\n", " ").replace("\r", " ")[:MAX_LINE - 1] + "\n").encode()
        try:
            os.write(self._fd, data)
        except OSError:
            pass
        self.close()

    def ready(self, version, endpoint):
        self._send(f"ready v{version} {endpoint}")

    def error(self, message):
        self._send(f"error {message}")

    def close(self):
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = None
