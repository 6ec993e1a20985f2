"""End-to-end: Python handlers packed with `thaw pack --python` and served by `thaw run` and
`thaw serve` through the Python worker. A handler that raises, hangs, leaks memory, prints to
stdout, returns the wrong type or aborts the interpreter gets a clear error for that request and,
where the instance cannot go on, a fresh instance; the gateway and the other model never notice."""
import json
import os
import subprocess
import sys

import pytest
import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from python_harness import HANDLERS, pack_handler, use_cache  # noqa: E402
from serve_harness import Gateway  # noqa: E402
from worker_harness import THAW_BIN, Worker  # noqa: E402

SCALE_BODY = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [2], "data": [1.0, 2.0]}]}


def mode(m):
    return {"inputs": [{"name": "mode", "datatype": "BYTES", "shape": [1], "data": [m]}]}


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pyhandlers")
    use_cache(tmp / "cache")
    return {"scale": pack_handler("scale", tmp, extra=[HANDLERS / "scale"]),
            "misbehave": pack_handler("misbehave", tmp), "dir": tmp}


def test_pack_stores_the_handler_its_files_and_backend(bundles):
    r = subprocess.run([THAW_BIN, "inspect", str(bundles["scale"]), "--json"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    m = json.loads(r.stdout)
    m = m.get("manifest", m)
    assert m["backend"] == "python"
    names = {f["name"] for f in m["files"]}
    assert names == {"scale.py", "scale/config.json"}, names
    assert all(f["offset"] % 4096 == 0 for f in m["files"])


def test_pack_refuses_a_handler_that_is_not_a_module(tmp_path):
    bad = tmp_path / "my-handler.py"
    bad.write_text("def predict(x):\n    return x\n")
    r = subprocess.run([THAW_BIN, "pack", "--python", str(bad), "-o", str(tmp_path / "x.thaw")],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "not a Python identifier" in r.stderr, r.stderr


def test_thaw_run_serves_a_handler_and_reports_its_start_phases(bundles):
    w = Worker(bundles["scale"], "--port", "0")
    try:
        t = w.ready["timeline"]
        for phase in ("exec_to_interpreter_ms", "imports_ms", "init_ms", "warmup_ms", "exec_to_ready_ms"):
            assert phase in t, t
        base = f"http://{w.url}"
        r = requests.post(f"{base}/v2/models/scale/infer", json=SCALE_BODY, timeout=30)
        assert r.status_code == 200, r.text
        assert r.json()["outputs"][0]["data"] == [3.0, 6.0]
        meta = requests.get(f"{base}/v2/models/scale", timeout=10).json()
        assert meta["platform"] == "python" and meta["inputs"][0]["name"] == "x"
        assert requests.get(f"{base}/warm", timeout=10).status_code == 200
        bad = requests.post(f"{base}/v2/models/scale/infer", data=b"{not json", timeout=10)
        assert bad.status_code == 400 and "not JSON" in bad.json()["error"]
        bad = requests.post(f"{base}/v2/models/scale/infer", timeout=10,
                            json={"inputs": [{"name": "x", "datatype": "FP32", "shape": [3], "data": [1]}]})
        assert bad.status_code == 400 and "3 elements" in bad.json()["error"]
    finally:
        assert w.stop() == 0
    w.wait_for("stopped")


def test_tritonclient_works_unmodified_with_binary_and_json_tensors(bundles):
    np = pytest.importorskip("numpy")
    th = pytest.importorskip("tritonclient.http")
    w = Worker(bundles["scale"], "--port", "0")
    try:
        c = th.InferenceServerClient(w.url)
        assert c.is_server_live() and c.is_model_ready("scale")
        x = th.InferInput("x", [3], "FP32")
        x.set_data_from_numpy(np.array([1, 2, 3], dtype=np.float32))  # binary tensor extension
        assert c.infer("scale", [x], outputs=[th.InferRequestedOutput("y")]).as_numpy("y").tolist() == [3, 6, 9]
        json_out = [th.InferRequestedOutput("y", binary_data=False)]
        assert c.infer("scale", [x], outputs=json_out).as_numpy("y").tolist() == [3, 6, 9]
        x.set_data_from_numpy(np.array([5, 6, 7], dtype=np.float32), binary_data=False)
        assert c.infer("scale", [x]).as_numpy("y").tolist() == [15, 18, 21]
        assert c.get_model_metadata("scale")["platform"] == "python"
    finally:
        assert w.stop() == 0


def test_openai_style_routes_take_and_give_plain_json(bundles):
    w = Worker(bundles["scale"], "--port", "0")
    try:
        base = f"http://{w.url}"
        r = requests.post(f"{base}/v1/embeddings", json={"input": ["ab", "abcd"]}, timeout=30)
        assert r.status_code == 200, r.text
        assert [d["embedding"] for d in r.json()["data"]] == [[6.0], [12.0]]
        r = requests.post(f"{base}/v1/embeddings", json={"input": "x", "stream": True}, timeout=30)
        assert r.status_code == 400 and "stream" in r.json()["error"]
        r = requests.post(f"{base}/v1/chat/completions", json={"messages": []}, timeout=30)
        assert r.status_code == 404 and "chat_completions(request)" in r.json()["error"]
        r = requests.post(f"{base}/v1/embeddings", data=b"[1, 2", timeout=30)
        assert r.status_code == 400
        cfg = requests.get(f"{base}/v2/models/scale/config", timeout=10).json()
        assert cfg["openai_routes"] == ["/v1/embeddings"]
    finally:
        assert w.stop() == 0


def test_a_handler_printing_to_stdout_does_not_corrupt_the_events(bundles):
    w = Worker(bundles["misbehave"], "--port", "0")
    try:
        r = requests.post(f"http://{w.url}/v2/models/misbehave/infer", json=mode("print"), timeout=30)
        assert r.status_code == 200, r.text
    finally:
        assert w.stop() == 0
    w.wait_for("stopped")  # every stdout line parsed as a JSON event on the way
    assert "must not reach the event stream" in w.proc.stderr.read().decode()


@pytest.fixture(scope="module")
def gateway(bundles):
    tmp = bundles["dir"]
    config = {"server": {"ping_interval_ms": 500},
              "models": [{"name": "scale", "bundle": str(bundles["scale"])},
                         {"name": "bad", "bundle": str(bundles["misbehave"]), "max_instances": 2,
                          "worker_args": ["--backend-opt", "predict_timeout_ms=1500",
                                          "--backend-opt", "memory_limit_mb=250"]}]}
    path = tmp / "thaw.yaml"
    path.write_text(json.dumps(config))
    g = Gateway("--config", str(path), log_path=tmp / "serve.log")
    yield g
    g.stop()


def infer(gateway, model, body):
    return gateway.post(f"/v2/models/{model}/infer", json=body, timeout=60)


def still_fine(gateway):
    r = infer(gateway, "scale", SCALE_BODY)
    assert r.status_code == 200 and r.json()["outputs"][0]["data"] == [3.0, 6.0], r.text
    r = infer(gateway, "bad", mode("ok"))
    assert r.status_code == 200, r.text
    return r.json()["outputs"][0]["data"][0]


@pytest.mark.parametrize("what, status, words", [
    ("raise", 500, "predict() raised ValueError: this handler refuses the input"),
    ("wrong_type", 500, "predict() returned str"),
    ("hang", 504, "timeout"),
    ("leak", 507, "memory limit"),
    ("abort", 502, "failed mid-request"),
])
def test_a_misbehaving_handler_fails_only_its_request(gateway, what, status, words):
    still_fine(gateway)
    r = infer(gateway, "bad", mode(what))
    assert r.status_code == status, r.text
    assert words in r.json()["error"], r.json()
    still_fine(gateway)


def test_a_replaced_instance_is_counted_and_the_model_serves_on(gateway):
    r = infer(gateway, "bad", mode("hang"))
    assert r.status_code == 504
    pid_after = still_fine(gateway)
    assert pid_after > 0
    assert gateway.get("/v2/health/ready").status_code == 200


def test_thaw_serve_forks_a_python_model_from_its_zygote(gateway):
    """The ladder treats a Python model like any other: parked at the zygote rung, its next request
    is answered by a forked child."""
    assert gateway.post("/admin/models/scale/prewarm", json={"rung": "zygote"}).status_code == 200
    assert gateway.post("/admin/models/scale/drain", json={"rung": "zygote"}).status_code == 200
    gateway.wait_until(lambda: gateway.models()["scale"]["rung"] == "zygote", what="scale parked at the zygote rung")
    r = infer(gateway, "scale", SCALE_BODY)
    assert r.status_code == 200 and r.json()["outputs"][0]["data"] == [3.0, 6.0], r.text
    assert r.headers.get("X-Thaw-Cold-Start") == "zygote", dict(r.headers)
    zygote = gateway.models()["scale"]["zygote"]
    assert zygote and zygote["pid"] > 0, zygote


def test_binary_answers_pass_through_thaw_serve(gateway):
    np = pytest.importorskip("numpy")
    th = pytest.importorskip("tritonclient.http")
    c = th.InferenceServerClient(gateway.url)
    x = th.InferInput("x", [2], "FP32")
    x.set_data_from_numpy(np.array([1, 4], dtype=np.float32))
    r = c.infer("scale", [x], outputs=[th.InferRequestedOutput("y", binary_data=True)])
    assert r.as_numpy("y").tolist() == [3, 12]
    assert r.get_output("y")["parameters"]["binary_data_size"] == 8
