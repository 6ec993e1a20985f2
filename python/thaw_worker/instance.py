"""One serving instance: runs the handler's predict() for HTTP requests, one at a time on a
predict thread, under a per-request timeout and a memory limit. A handler that raises or returns
the wrong type fails only its request; one that hangs or passes the memory limit fails its request
and the instance exits (status EXIT_HANDLER_FAILED) so its supervisor replaces it."""
import concurrent.futures
import os
import sys
import threading
import time
import traceback

from . import kserve

EXIT_HANDLER_FAILED = 70  # EX_SOFTWARE
_PAGE = os.sysconf("SC_PAGE_SIZE")


def resident_bytes():
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


class Options:
    def __init__(self, predict_timeout_s=30.0, memory_limit_bytes=0, limits=None, max_body=64 << 20):
        self.predict_timeout_s = predict_timeout_s
        self.memory_limit_bytes = memory_limit_bytes
        self.limits = limits or kserve.Limits()
        self.max_body = max_body


class Instance:
    def __init__(self, handler, model, options, events, timeline):
        self.handler = handler
        self.model = model
        self.version = handler.version
        self.options = options
        self.events = events
        self.timeline = timeline
        self.ready = False
        self.stopping = False
        self.failed = None  # why the instance must be replaced, once it must
        self._executor = None
        self._lock = threading.Lock()
        self.counts = {}  # status -> requests answered
        self.predict_seconds = 0.0
        self.predicts = 0

    def start(self):
        """Starts the predict thread (in the serving process: after the fork, never in a template)."""
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="predict")

    def serving(self):
        return self.ready and not self.stopping and self.failed is None

    def _fail(self, reason, message):
        with self._lock:
            if self.failed is None:
                self.failed = message
                self.events.emit("handler_failed", model=self.model, pid=os.getpid(), reason=reason, error=message)

    def _count(self, status):
        with self._lock:
            self.counts[status] = self.counts.get(status, 0) + 1

    def infer(self, body, header_length):
        """(status, JSON body bytes) for one inference request."""
        status, answer = self._infer(body, header_length)
        self._count(status)
        if status == 200 and not self.timeline.has("first_request"):
            self.timeline.mark("first_request")
            self.events.emit("first_response", model=self.model, timeline=self.timeline.to_json())
        return status, answer

    def _infer(self, body, header_length):
        if not self.serving():
            why = "stopping" if self.stopping else ("being replaced" if self.failed else "not ready yet")
            return 503, {"error": f"model '{self.model}' is {why}; retry"}
        try:
            inputs, wanted, rid = kserve.decode_request(body, header_length, self.options.limits)
        except kserve.RequestError as e:
            return e.status, {"error": e.message}
        start = time.monotonic()
        future = self._executor.submit(self.handler.predict, inputs)
        limit = self.options.memory_limit_bytes
        while True:
            done, _ = concurrent.futures.wait([future], timeout=0.02)
            if done:
                break
            if time.monotonic() - start > self.options.predict_timeout_s:
                ms = int(self.options.predict_timeout_s * 1000)
                msg = (f"model '{self.model}': predict() ran past its {ms} ms timeout (predict_timeout_ms); this "
                       "instance is being replaced")
                self._fail("timeout", msg)
                return 504, {"error": msg}
            if limit and resident_bytes() > limit:
                return self._over_memory()
        elapsed = time.monotonic() - start
        with self._lock:
            self.predict_seconds += elapsed
            self.predicts += 1
        if limit and resident_bytes() > limit:
            return self._over_memory()
        try:
            result = future.result()
        except Exception as e:  # noqa: BLE001 - the handler's own error, reported to its caller
            traceback.print_exc(file=sys.stderr)
            return 500, {"error": f"model '{self.model}': predict() raised {type(e).__name__}: {e}"}
        except BaseException as e:  # SystemExit, KeyboardInterrupt raised by the handler
            return 500, {"error": f"model '{self.model}': predict() raised {type(e).__name__}: {e}"}
        try:
            return 200, kserve.encode_outputs(result, wanted, self.model, self.version, rid, self.options.limits)
        except kserve.HandlerOutputError as e:
            return 500, {"error": f"model '{self.model}': {e}"}
        except kserve.RequestError as e:
            return e.status, {"error": e.message}

    def _over_memory(self):
        mb = self.options.memory_limit_bytes >> 20
        used = resident_bytes() >> 20
        msg = (f"model '{self.model}': the instance passed its memory limit ({used} MiB resident, limit {mb} MiB, "
               "memory_limit_mb) while running predict(); this instance is being replaced")
        self._fail("memory", msg)
        return 507, {"error": msg}

    def metadata(self):
        return {"name": self.model, "versions": [self.version], "platform": "python",
                "inputs": self.handler.signature("INPUTS"), "outputs": self.handler.signature("OUTPUTS")}

    def metrics(self):
        lines = ["# TYPE thaw_worker_requests_total counter"]
        with self._lock:
            for status, n in sorted(self.counts.items()):
                lines.append(f'thaw_worker_requests_total{{model="{self.model}",status="{status}"}} {n}')
            lines += ["# TYPE thaw_worker_predict_seconds summary",
                      f'thaw_worker_predict_seconds_sum{{model="{self.model}"}} {self.predict_seconds:.6f}',
                      f'thaw_worker_predict_seconds_count{{model="{self.model}"}} {self.predicts}']
        lines += ["# TYPE thaw_worker_ready gauge", f'thaw_worker_ready{{model="{self.model}"}} {int(self.serving())}',
                  "# TYPE thaw_worker_resident_bytes gauge",
                  f'thaw_worker_resident_bytes{{model="{self.model}"}} {resident_bytes()}']
        return "\n".join(lines) + "\n"
