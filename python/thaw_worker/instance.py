"""One serving instance: runs the handler's predict() for HTTP requests, one at a time on a
predict thread, under a per-request timeout and a memory limit. A handler that raises or returns
the wrong type fails only its request; one that hangs or passes the memory limit fails its request
and the instance exits (status EXIT_HANDLER_FAILED) so its supervisor replaces it."""
import concurrent.futures
import json
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
        self._executor.submit(lambda: None)  # the thread starts now, not on the first request

    def on_predict_thread(self, fn):
        """Runs fn() on the predict thread and returns its result (a spare's warm-up)."""
        return self._executor.submit(fn).result()

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
        """(status, body, JSON header length or None) for one inference request: a JSON body, or a
        JSON header followed by binary output tensors."""
        status, answer = self._infer(body, header_length)
        answer, head_length = answer if isinstance(answer, tuple) else (answer, None)
        self._count(status)
        if status == 200 and not self.timeline.has("first_request"):
            self.timeline.mark("first_request")
            self.events.emit("first_response", model=self.model, timeline=self.timeline.to_json())
        return status, answer, head_length

    def _unavailable(self):
        if self.serving():
            return None
        why = "stopping" if self.stopping else ("being replaced" if self.failed else "not ready yet")
        return 503, {"error": f"model '{self.model}' is {why}; retry"}

    def _run(self, fn, arg, what):
        """Runs fn(arg) on the predict thread under the timeout and the memory limit.
        (True, result) or (False, (status, error body))."""
        start = time.monotonic()
        future = self._executor.submit(fn, arg)
        limit = self.options.memory_limit_bytes
        while True:
            done, _ = concurrent.futures.wait([future], timeout=0.02)
            if done:
                break
            if time.monotonic() - start > self.options.predict_timeout_s:
                ms = int(self.options.predict_timeout_s * 1000)
                msg = (f"model '{self.model}': {what} ran past its {ms} ms timeout (predict_timeout_ms); this "
                       "instance is being replaced")
                self._fail("timeout", msg)
                return False, (504, {"error": msg})
            if limit and resident_bytes() > limit:
                return False, self._over_memory(what)
        with self._lock:
            self.predict_seconds += time.monotonic() - start
            self.predicts += 1
        if limit and resident_bytes() > limit:
            return False, self._over_memory(what)
        try:
            return True, future.result()
        except BaseException as e:  # noqa: BLE001 - the handler's own error, reported to its caller
            traceback.print_exc(file=sys.stderr)
            return False, (500, {"error": f"model '{self.model}': {what} raised {type(e).__name__}: {e}"})

    def _infer(self, body, header_length):
        refused = self._unavailable()
        if refused:
            return refused
        try:
            inputs, wanted, rid, binary = kserve.decode_request(body, header_length, self.options.limits)
        except kserve.RequestError as e:
            return e.status, {"error": e.message}
        ok, result = self._run(self.handler.predict, inputs, "predict()")
        if not ok:
            return result
        try:
            return 200, kserve.encode_outputs(result, wanted, self.model, self.version, rid, self.options.limits,
                                              binary)
        except kserve.HandlerOutputError as e:
            return 500, {"error": f"model '{self.model}': {e}"}
        except kserve.RequestError as e:
            return e.status, {"error": e.message}

    def plain_json(self, route, body):
        """(status, JSON-able answer) for an OpenAI-style route: the handler's method for it gets
        the request's JSON object and returns the answer's (docs/python.md)."""
        status, answer = self._plain_json(route, body)
        self._count(status)
        return status, answer

    def _plain_json(self, route, body):
        method = self.handler.json_route(route)
        if method is None:
            return 404, {"error": f"model '{self.model}' does not serve {route}: its handler defines no "
                                  f"{self.handler.JSON_ROUTES[route]}(request)"}
        refused = self._unavailable()
        if refused:
            return refused
        if kserve.json_value_bound(body) > self.options.limits.max_values:
            return 413, {"error": f"the request holds more than --max-json-values {self.options.limits.max_values} "
                                  "JSON values"}
        try:
            request = json.loads(body)
        except RecursionError:
            return 400, {"error": "the request's JSON is nested too deeply"}
        except (ValueError, UnicodeDecodeError) as e:
            return 400, {"error": f"the request body is not JSON: {e}"}
        if not isinstance(request, dict):
            return 400, {"error": "the request must be a JSON object"}
        if request.get("stream"):
            return 400, {"error": "streamed answers (\"stream\": true) are not served by Python handlers; "
                                  "send the request without it"}
        what = f"{self.handler.JSON_ROUTES[route]}()"
        ok, result = self._run(method, request, what)
        if not ok:
            return result
        if not isinstance(result, dict):
            return 500, {"error": f"model '{self.model}': {what} returned {type(result).__name__}; it must return "
                                  "a dict (the answer's JSON object)"}
        try:
            data = json.dumps(result).encode()
        except (TypeError, ValueError) as e:
            return 500, {"error": f"model '{self.model}': {what} returned a dict JSON cannot carry: {e}"}
        if len(data) > self.options.limits.max_response_bytes:
            return 413, {"error": f"the answer is {len(data)} bytes, more than --max-response-bytes "
                                  f"{self.options.limits.max_response_bytes}"}
        return 200, data

    def _over_memory(self, what):
        mb = self.options.memory_limit_bytes >> 20
        used = resident_bytes() >> 20
        msg = (f"model '{self.model}': the instance passed its memory limit ({used} MiB resident, limit {mb} MiB, "
               f"memory_limit_mb) while running {what}; this instance is being replaced")
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
