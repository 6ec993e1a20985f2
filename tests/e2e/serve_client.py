"""Client-side helpers for the end-to-end tests of `thaw serve`: request bodies, checks against the
reference embeddings, counting how every request ended, Prometheus text, and the gateway's processes."""
import http.client
import json
import os
import pathlib
import random
import socket
import threading
import time

import numpy as np
import requests

from worker_harness import MINILM

REFERENCE = json.loads((MINILM / "reference.json").read_text())
SENTENCES = REFERENCE["sentences"]
# Short, non-empty sentences: cheap enough to send hundreds of times on two cores.
LIGHT = [i for i, s in enumerate(SENTENCES) if 0 < len(s) < 80]
TRACES = pathlib.Path(os.environ.get("THAW_TRACES", "/work/shared/traces")) / "azure-llm-2023"
AZURE_SAMPLE = pathlib.Path(os.environ.get("THAW_TRACES", "/work/shared/traces")) / "azure2019-sample"
CLIENT_TIMEOUT = 30  # no request may take this long: a client timeout counts as a lost request


def cosine(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def text_body(sentences):
    return {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [len(sentences)], "data": list(sentences)}]}


def slow_body(rows=32, words=60):
    """A request that keeps one instance busy for a few hundred ms (more on a loaded machine)."""
    return text_body([" ".join(["slow"] * words)] * rows)


def embeddings(body):
    out = body["outputs"][0]
    assert out["name"] == "sentence_embedding" and out["datatype"] == "FP32", out
    return np.asarray(out["data"], dtype=np.float32).reshape(out["shape"])


def assert_reference(body, indices):
    emb = embeddings(body)
    assert emb.shape == (len(indices), 384)
    for got, i in zip(emb, indices):
        assert cosine(got, REFERENCE["embeddings"][i]) >= 0.9999, SENTENCES[i]


def json_error(resp):
    """The error message of an explicit JSON error response."""
    assert resp.headers.get("Content-Type", "").startswith("application/json"), resp.headers
    err = resp.json()["error"]
    assert isinstance(err, str) and err
    return err


def infer(gw, model, indices, tier=None, session=None, timeout=CLIENT_TIMEOUT):
    headers = {"X-Latency-Tier": tier} if tier else {}
    post = (session or requests).post
    return post(f"{gw.base}/v2/models/{model}/infer", json=text_body([SENTENCES[i] for i in indices]),
                headers=headers, timeout=timeout)


class Outcomes:
    """Counts how every request ended; thread-safe. 'lost' (no answer) and 'bad' must stay empty."""

    def __init__(self):
        self.lock = threading.Lock()
        self.sent = 0
        self.ok = 0
        self.errors = {}  # status -> count, explicit JSON errors only
        self.messages = []  # their texts, for the summary
        self.bad = []     # wrong embeddings, unexpected statuses, non-JSON errors
        self.lost = []    # client-side timeouts and broken connections
        self.latencies = []
        self.warm_latencies = []  # answers that did not wait for a cold start

    def run(self, fn, indices):
        with self.lock:
            self.sent += 1
        t0 = time.monotonic()
        try:
            resp = fn()
        except requests.RequestException as e:
            with self.lock:
                self.lost.append(repr(e))
            return
        elapsed = time.monotonic() - t0
        try:
            if resp.status_code == 200:
                assert_reference(resp.json(), indices)
                outcome = "ok"
            elif resp.status_code in (502, 503, 504):
                outcome = resp.status_code
                message = f"{outcome}: {json_error(resp)}"
                with self.lock:
                    self.messages.append(message[:200])
            else:
                raise AssertionError(f"unexpected HTTP {resp.status_code}: {resp.text[:200]}")
        except (AssertionError, ValueError, KeyError) as e:
            with self.lock:
                self.bad.append(repr(e)[:300])
            return
        with self.lock:
            self.latencies.append(elapsed)
            if "X-Thaw-Cold-Start" not in resp.headers:
                self.warm_latencies.append(elapsed)
            if outcome == "ok":
                self.ok += 1
            else:
                self.errors[outcome] = self.errors.get(outcome, 0) + 1

    @property
    def answered(self):
        return self.ok + sum(self.errors.values()) + len(self.bad)

    def check(self):
        assert not self.lost, f"{len(self.lost)} requests got no answer: {self.lost[:3]}"
        assert not self.bad, f"{len(self.bad)} bad answers: {self.bad[:3]}"
        assert self.sent == self.answered, (self.sent, self.answered)

    def as_dict(self):
        def pct(values, p):
            v = sorted(values)
            return round(v[min(len(v) - 1, int(p * len(v)))] * 1000, 2) if v else None
        return {"sent": self.sent, "answered": self.answered, "ok": self.ok,
                "errors": {str(k): v for k, v in self.errors.items()}, "lost": len(self.lost), "bad": len(self.bad),
                "p50_ms": pct(self.latencies, 0.5), "p99_ms": pct(self.latencies, 0.99),
                "max_ms": pct(self.latencies, 1), "cold_start_waits": len(self.latencies) - len(self.warm_latencies),
                "warm_p50_ms": pct(self.warm_latencies, 0.5), "warm_p99_ms": pct(self.warm_latencies, 0.99)}

    def summary(self):
        def pct(values, p):
            v = sorted(values)
            return v[min(len(v) - 1, int(p * len(v)))] * 1000 if v else float("nan")
        lat, warm = self.latencies, self.warm_latencies
        return (f"sent={self.sent} answered={self.answered} ok={self.ok} errors={self.errors} "
                f"p50={pct(lat, 0.5):.1f}ms p99={pct(lat, 0.99):.1f}ms max={pct(lat, 1):.1f}ms "
                f"(cold-start waits: {len(lat) - len(warm)}; without them p50={pct(warm, 0.5):.1f}ms "
                f"p99={pct(warm, 0.99):.1f}ms)"
                + (f" first errors: {self.messages[:3]}" if self.messages else ""))


def load(gw, models, threads, seconds, outcomes, pause=0.0):
    """Closed-loop load: `threads` clients sending light requests to `models` for `seconds`."""
    stop = time.monotonic() + seconds

    def client(k):
        rng = random.Random(k)
        session = requests.Session()
        while time.monotonic() < stop:
            idx = rng.sample(LIGHT, rng.randint(1, 3))
            model = models[rng.randrange(len(models))]
            outcomes.run(lambda: infer(gw, model, idx, session=session), idx)
            if pause:
                time.sleep(pause)

    ts = [threading.Thread(target=client, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    return ts


def pid_gone(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1].startswith("Z")  # a zombie is gone for our purposes
    except FileNotFoundError:
        return True


def processes_using(runtime_dir):
    """Pids whose command line names the gateway's runtime dir: its workers, zygotes and forks."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or pid_gone(int(entry)):
            continue
        try:
            cmdline = pathlib.Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(runtime_dir) in cmdline:
            out.append(int(entry))
    return out


def wait(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def metric(text, name, **labels):
    """The sum of the samples of `name` whose labels include `labels`."""
    total, found = 0.0, False
    for line in text.splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        head, value = line.rsplit(" ", 1)
        series, _, rest = head.partition("{")
        if series != name:
            continue
        got = dict(kv.split("=", 1) for kv in rest.rstrip("}").split(",") if kv)
        if all(got.get(k) == f'"{v}"' for k, v in labels.items()):
            total += float(value)
            found = True
    return total if found else None


def unix_get(endpoint, path, timeout=5):
    class UnixConnection(http.client.HTTPConnection):
        def connect(self):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(endpoint.removeprefix("unix:"))

    conn = UnixConnection("localhost", timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read().decode()
    finally:
        conn.close()


def trace_arrivals(name, start, seconds):
    """(offset seconds, context tokens) of the trace's requests in [start, start + seconds)."""
    out = []
    with open(TRACES / name) as f:
        next(f)
        for line in f:
            stamp, context, _ = line.strip().split(",")
            clock = stamp.split(" ")[1].split(":")
            t = int(clock[0]) * 3600 + int(clock[1]) * 60 + float(clock[2])
            if start <= t < start + seconds:
                out.append((t - start, int(context)))
            elif t >= start + seconds:
                break
    return out
