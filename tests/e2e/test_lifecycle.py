"""End-to-end: `thaw serve` under a cluster's life cycle. SIGTERM mid-request with a drain delay:
readiness turns false first while requests are still answered, the request in flight finishes, then
the listener closes and the process exits 0. A fresh pod is serving by its readiness probe's first
success: the first 200 of /v2/health/ready is followed at once by a real answer."""
import concurrent.futures
import json
import signal
import statistics
import subprocess
import time

import pytest
import requests

from serve_client import CLIENT_TIMEOUT, assert_reference, embeddings, infer, slow_body
from serve_harness import Gateway
from worker_harness import THAW_BIN, free_port, pack_minilm


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return pack_minilm(tmp_path_factory.mktemp("bundle"))


def config(tmp_path, bundle, name="thaw.yaml", **model):
    path = tmp_path / name
    path.write_text(json.dumps({"server": {"tick_interval_ms": 50},
                                "models": [{"name": "minilm", "bundle": str(bundle), **model}]}))
    return path


def ready_status(gw):
    try:
        return requests.get(gw.base + "/v2/health/ready", timeout=5).status_code
    except requests.ConnectionError:
        return None  # the listener is closed


def test_sigterm_turns_readiness_false_first_then_finishes_the_request_in_flight(tmp_path, bundle):
    gw = Gateway("--config", str(config(tmp_path, bundle, min_instances=1)), "--drain-delay-ms", "1500",
                 "--stop-grace-ms", "20000", log_path=tmp_path / "serve.log")
    try:
        gw.wait_until(lambda: len(gw.models()["minilm"]["instances"]) == 1, 30, "the warm instance")
        assert ready_status(gw) == 200
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            slow = pool.submit(requests.post, f"{gw.base}/v2/models/minilm/infer", json=slow_body(64, 100),
                               timeout=CLIENT_TIMEOUT)
            gw.wait_until(lambda: gw.models()["minilm"]["in_flight"] == 1, 10, "the request in flight")
            sent = time.monotonic()
            gw.proc.send_signal(signal.SIGTERM)
            assert gw.wait_for("draining", 10)["drain_delay_ms"] == 1500
            # Not ready, on a new connection: the listener is still open.
            assert ready_status(gw) == 503
            # A request a load balancer sends before it has seen the probe fail is still taken and
            # answered (after the slow one: the model's one instance is busy).
            assert time.monotonic() - sent < 1.5, "the checks above ran past the drain delay"
            late = infer(gw, "minilm", [0])
            assert late.status_code == 200, late.text
            assert_reference(late.json(), [0])
            resp = slow.result()
        assert resp.status_code == 200, resp.text
        assert embeddings(resp.json()).shape == (64, 384)
        assert gw.proc.wait(timeout=30) == 0, gw.log_tail()
        assert time.monotonic() - sent >= 1.5  # it served out its drain delay
        assert ready_status(gw) is None
        assert gw.wait_for("stopped", 5)["signal"] == signal.SIGTERM
        names = [e["event"] for e in gw.events]
        assert names.index("draining") < names.index("stopped")
    finally:
        gw.stop()


def test_a_second_signal_cuts_the_drain_delay_short(tmp_path, bundle):
    gw = Gateway("--config", str(config(tmp_path, bundle)), "--drain-delay-ms", "60000",
                 log_path=tmp_path / "serve.log")
    try:
        sent = time.monotonic()
        gw.proc.send_signal(signal.SIGTERM)
        gw.wait_for("draining", 10)
        assert ready_status(gw) == 503
        gw.proc.send_signal(signal.SIGTERM)
        assert gw.proc.wait(timeout=30) == 0, gw.log_tail()
        assert time.monotonic() - sent < 30
    finally:
        gw.stop()


def test_serving_by_the_readiness_probes_first_success(tmp_path, bundle):
    """From exec, /v2/health/ready is polled every 2 ms on new connections; at its first 200 a request
    goes at once and must be answered. Prints exec -> ready (what bench/pod_start.py feeds the
    cluster simulation)."""
    cfg = config(tmp_path, bundle)
    ready_ms = []
    for run in range(3):
        port = free_port()
        t0 = time.monotonic()
        proc = subprocess.Popen([THAW_BIN, "serve", "--config", str(cfg), "--port", str(port)],
                                stdout=subprocess.DEVNULL, stderr=open(tmp_path / f"serve{run}.log", "wb"))
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = t0 + 30
            while True:
                assert time.monotonic() < deadline and proc.poll() is None, (tmp_path / f"serve{run}.log").read_text()
                try:
                    if requests.get(base + "/v2/health/ready", timeout=1).status_code == 200:
                        break
                except requests.ConnectionError:
                    pass
                time.sleep(0.002)
            ready_ms.append((time.monotonic() - t0) * 1e3)

            class G:  # what infer() needs of a gateway
                pass
            g = G()
            g.base = base
            resp = infer(g, "minilm", [0, 1])
            assert resp.status_code == 200, resp.text
            assert_reference(resp.json(), [0, 1])
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
    print(f"\nthaw serve exec -> first ready 200: median {statistics.median(ready_ms):.1f} ms "
          f"(runs: {', '.join(f'{m:.1f}' for m in ready_ms)})")
