"""End-to-end: `thaw bench load` against real `thaw run` workers (MiniLM and the tiny model)."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from worker_harness import ROOT, THAW_BIN, Worker, pack_minilm  # noqa: E402

sys.path.insert(0, str(ROOT / "tools"))
import make_tiny_model  # noqa: E402


def bench_load(*args, timeout=120):
    """Runs `thaw bench load ... --json -` and returns (report, stderr text)."""
    r = subprocess.run([THAW_BIN, "bench", "load", *map(str, args), "--json", "-"], capture_output=True,
                       text=True, timeout=timeout)
    assert r.returncode == 0, f"exit {r.returncode}: {r.stderr}"
    return json.loads(r.stdout), r.stderr


def counted(report):
    return sum(report["status_counts"].values()) + sum(report["error_counts"].values())


@pytest.fixture(scope="module")
def minilm_worker(tmp_path_factory):
    w = Worker(pack_minilm(tmp_path_factory.mktemp("bench_load")), "--port", "0", "--warmup", "1")
    yield w
    assert w.stop() == 0


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny")
    assert make_tiny_model.main(["--out", str(d), "--thaw", THAW_BIN]) == 0
    w = Worker(d / "tiny.thaw", "--port", "0")
    yield d, w
    assert w.stop() == 0


def test_minilm_constant_rate_every_request_answered(minilm_worker, tmp_path):
    body = tmp_path / "body.json"
    body.write_text(json.dumps({"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1],
                                            "data": ["The quick brown fox jumps over the lazy dog."]}]}))
    url = f"http://{minilm_worker.url}/v2/models/{minilm_worker.model}/infer"
    report, text = bench_load("--url", url, "--body-file", body, "--rate", 20, "--duration", 2, "--warmup", 0.5)
    assert report["scheduled"] == 50 and report["warmup_requests"] == 10 and report["measured"] == 40
    assert report["status_counts"] == {"200": 40}, report
    assert report["error_counts"] == {}
    assert counted(report) == report["measured"]
    lat = report["latency_from_schedule"]
    assert lat["count"] == 40
    assert 0 < lat["min_ms"] <= lat["p50_ms"] <= lat["p90_ms"] <= lat["p99_ms"] <= lat["max_ms"]
    # Latency from the schedule includes the wait before sending, so it is never below the send one.
    assert lat["p50_ms"] >= report["latency_from_send"]["p50_ms"]
    assert report["offered_rate"] == pytest.approx(20.0)
    assert "requests     40 measured" in text


def test_minilm_bad_requests_are_counted_by_status(minilm_worker, tmp_path):
    body = tmp_path / "bad.json"
    body.write_text('{"inputs": [{"name": "nope"')
    url = f"http://{minilm_worker.url}/v2/models/{minilm_worker.model}/infer"
    report, _ = bench_load("--url", url, "--body-file", body, "--rate", 50, "--duration", 0.4, "--poisson",
                           "--seed", 3)
    assert set(report["status_counts"]) == {"400"}
    assert counted(report) == report["measured"] == report["scheduled"]


def test_schedule_file_spreads_over_models(minilm_worker, tmp_path):
    model = minilm_worker.model
    schedule = tmp_path / "schedule.txt"
    lines = [f"{i * 0.02:.3f} {model if i % 3 else 'missing-model'}" for i in range(30)]
    schedule.write_text("# offset model\n" + "\n".join(lines) + "\n")
    report, _ = bench_load("--url", f"http://{minilm_worker.url}/v2/models/{{model}}/ready",
                           "--schedule", schedule)
    assert report["measured"] == 30
    assert report["status_counts"] == {"200": 20, "404": 10}
    assert report["per_model"][model]["ok"] == 20
    assert report["per_model"]["missing-model"]["requests"] == 10
    assert report["per_model"]["missing-model"]["ok"] == 0


def test_tiny_model_answers_correctly_under_load(tiny):
    d, worker = tiny
    import urllib.request
    req = urllib.request.Request(f"http://{worker.url}/v2/models/tiny/infer",
                                 data=(d / "tiny_request.json").read_bytes(),
                                 headers={"Content-Type": "application/json"})
    got = json.loads(urllib.request.urlopen(req, timeout=30).read())["outputs"][0]["data"]
    want = json.loads((d / "tiny_expected.json").read_text())["output"]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    report, _ = bench_load("--url", f"http://{worker.url}/v2/models/tiny/infer", "--body-file",
                           d / "tiny_request.json", "--rate", 200, "--duration", 1, "--connections", 4)
    assert report["status_counts"] == {"200": 200}
    assert report["peak_connections"] <= 4


def test_dead_server_every_request_is_an_error(tmp_path):
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    report, _ = bench_load("--url", f"http://127.0.0.1:{port}/", "--rate", 100, "--duration", 0.3)
    assert report["status_counts"] == {}
    assert report["error_counts"] == {"connect_refused": 30}


@pytest.mark.parametrize("args,message", [
    (["--url", "https://127.0.0.1/", "--rate", "1"], "https"),
    (["--url", "http://127.0.0.1:1/", "--rate", "1", "--header", "no-colon"], "Name: value"),
    (["--url", "http://127.0.0.1:1/{model}", "--rate", "1", "--duration", "1"], "{model}"),
    (["--url", "http://127.0.0.1:1/"], "--rate"),
])
def test_bad_arguments_are_usage_errors(args, message):
    r = subprocess.run([THAW_BIN, "bench", "load", *args], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2, r
    assert message in r.stderr


def test_bad_schedule_file_names_the_line(tmp_path):
    schedule = tmp_path / "s.txt"
    schedule.write_text("0\n0.5\nlater\n")
    r = subprocess.run([THAW_BIN, "bench", "load", "--url", "http://127.0.0.1:1/", "--schedule", str(schedule)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    assert "line 3" in r.stderr
