"""End-to-end: the real `thaw pack` and `thaw run` choosing backends through the registry:
--backend-opt (and the older flags it replaces) reaching the ONNX plugin, bad options refused
naming the valid keys, a bundle of a backend this build lacks refused naming it, and the model
metadata's platform coming from the plugin."""
import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from worker_harness import MINILM, THAW_BIN, Worker, pack_minilm  # noqa: E402

pytestmark = pytest.mark.skipif(not (MINILM / "model.onnx").exists(), reason="models/src/minilm is not exported")

REQUEST = {"inputs": [
    {"name": "input_ids", "datatype": "INT64", "shape": [1, 3], "data": [101, 7592, 102]},
    {"name": "attention_mask", "datatype": "INT64", "shape": [1, 3], "data": [1, 1, 1]},
    {"name": "token_type_ids", "datatype": "INT64", "shape": [1, 3], "data": [0, 0, 0]},
]}


def thaw(*args):
    return subprocess.run([THAW_BIN, *map(str, args)], capture_output=True, text=True, timeout=300)


def files_of(bundle):
    out = thaw("inspect", "--json", bundle)
    assert out.returncode == 0, out.stderr
    return {f["name"] for f in json.loads(out.stdout)["files"]}


def get_json(worker, path, body=None):
    req = urllib.request.Request(f"http://{worker.url}{path}", data=body and json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return resp.status, json.loads(resp.read())


def failed_start(bundle, *args):
    """Starts a worker that must fail to load; returns (exit code, its error event)."""
    w = Worker(bundle, "--port", "0", *args, wait_ready=False)
    ev = w.wait_for("error", 60)
    assert ev["stage"] == "load"
    return w.proc.wait(timeout=30), ev["error"]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return pack_minilm(tmp_path_factory.mktemp("plugins"))


@pytest.mark.parametrize("args", [("--backend-opt", "graph_optimization=extended"),
                                  ("--graph-optimization", "basic")])
def test_backend_options_reach_the_onnx_plugin(bundle, args):
    w = Worker(bundle, "--port", "0", "--warmup", "1", *args)
    try:
        status, meta = get_json(w, f"/v2/models/{w.model}")
        assert status == 200 and meta["platform"] == "onnxruntime_onnx"
        status, out = get_json(w, f"/v2/models/{w.model}/infer", REQUEST)
        assert status == 200 and out["outputs"][0]["shape"] == [1, 384]
    finally:
        assert w.stop() == 0


@pytest.mark.parametrize("opt, message", [
    ("colour=red", "backend 'onnx' has no option 'colour'; valid keys: graph_optimization"),
    ("graph_optimization=fast", "graph_optimization='fast': the value must be one of none, basic, extended, all"),
    ("graph_optimization", "backend option 'graph_optimization' is not key=value"),
])
def test_bad_backend_options_are_refused_before_loading(bundle, opt, message):
    code, error = failed_start(bundle, "--backend-opt", opt)
    assert code == 1
    assert message in error, error


def test_a_bundle_of_an_unknown_backend_is_refused_naming_it(tmp_path):
    out = tmp_path / "trt.thaw"
    packed = thaw("pack", MINILM / "model.onnx", "-o", out, "--backend", "tensorrt", "--backend-opt", "ort_format=false")
    assert packed.returncode == 0, packed.stderr
    code, error = failed_start(out)
    assert code == 1
    assert "no backend 'tensorrt' in this build of thaw (known backends: onnx, python, llm)" in error, error


def test_pack_options_go_to_the_plugin_that_claims_the_input(tmp_path):
    with_ort, without = tmp_path / "with.thaw", tmp_path / "without.thaw"
    assert thaw("pack", MINILM / "model.onnx", "-o", with_ort).returncode == 0
    assert "graph.ort" in files_of(with_ort)
    for flag in (["--backend-opt", "ort_format=false"], ["--no-ort"]):
        assert thaw("pack", MINILM / "model.onnx", "-o", without, *flag).returncode == 0
        assert files_of(without) >= {"graph.onnx"} and "graph.ort" not in files_of(without)

    bad = thaw("pack", MINILM / "model.onnx", "-o", tmp_path / "bad.thaw", "--backend-opt", "level=9")
    assert bad.returncode == 2
    assert "packing for backend 'onnx' has no option 'level'; valid keys: ort_format" in bad.stderr


def test_pack_refuses_an_input_no_backend_claims_listing_what_each_packs(tmp_path):
    model = tmp_path / "model.tflite"
    model.write_bytes(b"TFL3" + b"\0" * 60)
    out = thaw("pack", model, "-o", tmp_path / "m.thaw")
    assert out.returncode == 2
    assert "onnx: ONNX models (*.onnx)" in out.stderr and "llm: GGUF language models (*.gguf)" in out.stderr, out.stderr
    assert "safetensors" in out.stderr, out.stderr
