"""The cold-start timeline: when each start-up phase ended, from the exec that started the process
(THAW_EXEC_BOOTTIME_NS, else /proc/self/stat), on CLOCK_BOOTTIME, in the C++ worker's format:
{"exec_to_interpreter_ms", "<phase>_ms"..., "exec_to_ready_ms", "exec_time_source"}."""
import os
import threading
import time


def _now_ns():
    return time.clock_gettime_ns(time.CLOCK_BOOTTIME)


def _exec_time(env_value):
    if env_value:
        try:
            return int(env_value), "env"
        except ValueError:
            pass
    try:
        with open("/proc/self/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
        ticks = int(rest[19])  # field 22 counts from 1 with pid and comm before the ")"
        return ticks * 1_000_000_000 // os.sysconf("SC_CLK_TCK"), "proc_stat"
    except (OSError, ValueError, IndexError):
        return None, "unknown"


class Timeline:
    def __init__(self, exec_env=None, clock=_now_ns):
        self._clock = clock
        self._exec, self._source = _exec_time(exec_env)
        self._marks = []
        self._lock = threading.Lock()

    def mark(self, name):
        with self._lock:
            if all(n != name for n, _ in self._marks):
                self._marks.append((name, self._clock()))

    def has(self, name):
        return any(n == name for n, _ in self._marks)

    def since_exec_ms(self, name):
        for n, t in self._marks:
            if n == name and self._exec is not None:
                return (t - self._exec) / 1e6
        return None

    def to_json(self):
        out = {}
        with self._lock:
            prev = self._exec
            for i, (name, t) in enumerate(self._marks):
                key = f"exec_to_{name}_ms" if i == 0 else f"{name}_ms"
                if prev is not None:
                    out[key] = round((t - prev) / 1e6, 3)
                prev = t
            for total in ("ready", "first_request"):
                for name, t in self._marks:
                    if name == total and self._exec is not None:
                        label = "exec_to_ready_ms" if total == "ready" else "exec_to_first_response_ms"
                        out[label] = round((t - self._exec) / 1e6, 3)
        out["exec_time_source"] = self._source
        return out
