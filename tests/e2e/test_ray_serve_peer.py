"""bench/peers/ray_serve_peer.py: the bare Python baseline answers correctly; Ray Serve only on request.

Ray Serve is a bench-only dependency (tools/requirements-bench.txt) and takes seconds to start, so
its smoke test runs only with THAW_TEST_RAY=1 and Ray installed.
"""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench" / "peers"))
import ray_serve_peer as peer  # noqa: E402


@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory, monkeypatch_module):
    d = tmp_path_factory.mktemp("peer")
    subprocess.run([sys.executable, str(ROOT / "tools" / "make_tiny_model.py"), "--out", str(d), "--no-pack"],
                   check=True, capture_output=True, timeout=120)
    monkeypatch_module.setattr(peer, "DATA", d)
    return d


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def test_inference_matches_numpy_for_tiny_and_minilm(tiny_files):
    path, body, check = peer.model_files("tiny")
    out = peer.OnnxInference(path, "tiny")(body)
    assert out["outputs"][0]["shape"] == [1, 16]
    assert check(out)
    out["outputs"][0]["data"][0] += 1.0
    assert not check(out)
    path, body, check = peer.model_files("minilm")
    out = peer.OnnxInference(path, "minilm")(body)
    assert check(out)


def test_bare_server_answers_and_rejects_bad_bodies(tiny_files):
    bare = peer.BareServer("tiny")
    try:
        _, body, check = peer.model_files("tiny")
        url = f"http://127.0.0.1:{bare.port}/v2/models/tiny/infer"
        ms, ok, status = peer.timed_request(url, body, check)
        assert ok and status == "HTTP 200" and ms > 0
        ms, ok, status = peer.timed_request(url, {"inputs": [{"name": "input"}]}, check)
        assert not ok and status == "HTTP 400"
    finally:
        bare.stop()


@pytest.mark.skipif(os.environ.get("THAW_TEST_RAY") != "1" or importlib.util.find_spec("ray") is None,
                    reason="set THAW_TEST_RAY=1 with ray[serve] installed")
def test_ray_serve_scales_from_zero_and_answers():
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "peers" / "ray_serve_peer.py"), "check"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    # Ray's own processes may print on the same stdout; the result is the JSON line.
    result = json.loads(next(line for line in r.stdout.splitlines() if line.startswith('{"ray"')))
    assert result["correct"] is True
