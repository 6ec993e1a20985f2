"""End-to-end: the gRPC inference service of `thaw serve --grpc-port` and `thaw run --grpc-port`, as
Triton's and KServe's gRPC clients see it, unmodified: health, metadata, inference in the raw and the
typed form, statistics, the repository extension, tiers, limits, cancellation and every error mapped
to its gRPC status."""
import json
import pathlib
import subprocess
import sys
import threading

import grpc
import numpy as np
import pytest
import tritonclient.grpc as tgrpc
from tritonclient.grpc import service_pb2 as pb
from tritonclient.grpc import service_pb2_grpc as pb_grpc
from tritonclient.utils import InferenceServerException

from serve_client import REFERENCE, SENTENCES, cosine, slow_body
from serve_harness import Gateway
from worker_harness import THAW_BIN, Worker, pack_minilm


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return pack_minilm(tmp_path_factory.mktemp("bundle"))


@pytest.fixture(scope="module")
def gw(tmp_path_factory, bundle):
    d = tmp_path_factory.mktemp("gw")
    config = {"server": {"max_body_mb": 1, "grpc_port": 0}, "models": [{"name": "minilm", "bundle": str(bundle)}]}
    (d / "thaw.yaml").write_text(json.dumps(config))
    g = Gateway("--config", str(d / "thaw.yaml"), log_path=d / "serve.log")
    g.grpc_url = f"127.0.0.1:{g.events[-1]['grpc_port']}"
    g.kind = "serve"
    yield g
    assert g.stop() == 0, g.log_tail()


@pytest.fixture(scope="module")
def worker(bundle):
    w = Worker(bundle, "--port", "0", "--grpc-port", "0", "--max-body", str(1 << 20), "--model-name", "minilm")
    listening = next(e for e in w.events if e["event"] == "listening")
    w.grpc_url = f"127.0.0.1:{listening['grpc_port']}"
    w.kind = "run"
    yield w
    assert w.stop() == 0


@pytest.fixture(params=["serve", "run"])
def server(request, gw, worker):
    """Both servers answer the same service; each test runs against each."""
    return gw if request.param == "serve" else worker


@pytest.fixture
def client(server):
    c = tgrpc.InferenceServerClient(server.grpc_url)
    yield c
    c.close()


def text_input(sentences):
    t = tgrpc.InferInput("text", [len(sentences)], "BYTES")
    t.set_data_from_numpy(np.array(sentences, dtype=object))
    return t


def stub(server):
    channel = grpc.insecure_channel(server.grpc_url)
    return channel, pb_grpc.GRPCInferenceServiceStub(channel)


def grpc_error(fn):
    with pytest.raises(grpc.RpcError) as e:
        fn()
    return e.value


# ---------------------------------------------------------------- health and metadata


def test_health_and_metadata(client, server):
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready("minilm")
    assert client.is_model_ready("minilm", "1")
    # Unknown models and versions are not ready; that is an answer, not an error.
    assert not client.is_model_ready("no-such-model")
    assert not client.is_model_ready("minilm", "9")
    meta = client.get_server_metadata(as_json=True)
    assert meta["name"] == "thaw"
    assert meta["version"]
    model = client.get_model_metadata("minilm", as_json=True)
    assert model["name"] == "minilm"
    assert model["platform"]
    assert "input_ids" in [i["name"] for i in model["inputs"]]
    assert [o["name"] for o in model["outputs"]] == ["sentence_embedding"]


def test_model_config_is_tritons(client):
    config = client.get_model_config("minilm", as_json=True)["config"]
    assert config["name"] == "minilm"
    assert [i["name"] for i in config["input"]] == ["input_ids", "attention_mask", "token_type_ids"]
    assert config["input"][0]["data_type"] == "TYPE_INT64"
    assert config["output"][0]["data_type"] == "TYPE_FP32"
    with pytest.raises(InferenceServerException) as e:
        client.get_model_config("no-such-model")
    assert e.value.status() == "StatusCode.NOT_FOUND"


def test_unknown_model_metadata_is_not_found(client):
    with pytest.raises(InferenceServerException) as e:
        client.get_model_metadata("no-such-model")
    assert e.value.status() == "StatusCode.NOT_FOUND"
    assert "no-such-model" in e.value.message()


# ---------------------------------------------------------------- inference


def test_infer_matches_the_reference(client):
    result = client.infer("minilm", [text_input(SENTENCES[:3])])
    emb = result.as_numpy("sentence_embedding")
    assert emb.shape == (3, 384) and emb.dtype == np.float32
    for i in range(3):
        assert cosine(emb[i], REFERENCE["embeddings"][i]) >= 0.9999
    # Asking for the output by name gives the same.
    again = client.infer("minilm", [text_input(SENTENCES[:1])],
                         outputs=[tgrpc.InferRequestedOutput("sentence_embedding")])
    assert cosine(again.as_numpy("sentence_embedding")[0], REFERENCE["embeddings"][0]) >= 0.9999


def test_infer_keeps_the_request_id(client):
    result = client.infer("minilm", [text_input(SENTENCES[:1])], request_id="req-42")
    assert result.get_response().id == "req-42"


def test_typed_contents_are_accepted(server):
    channel, s = stub(server)
    try:
        req = pb.ModelInferRequest(model_name="minilm")
        t = req.inputs.add(name="text", datatype="BYTES", shape=[2])
        t.contents.bytes_contents.extend([SENTENCES[0].encode(), SENTENCES[1].encode()])
        resp = s.ModelInfer(req, timeout=60)
        assert resp.outputs[0].name == "sentence_embedding"
        emb = np.frombuffer(resp.raw_output_contents[0], dtype=np.float32).reshape(list(resp.outputs[0].shape))
        for i in range(2):
            assert cosine(emb[i], REFERENCE["embeddings"][i]) >= 0.9999
    finally:
        channel.close()


def test_contents_in_the_wrong_field_are_invalid(server):
    channel, s = stub(server)
    try:
        req = pb.ModelInferRequest(model_name="minilm")
        t = req.inputs.add(name="text", datatype="BYTES", shape=[1])
        t.contents.int64_contents.extend([1])
        err = grpc_error(lambda: s.ModelInfer(req, timeout=60))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "bytes_contents" in err.details()

        req = pb.ModelInferRequest(model_name="minilm")
        req.inputs.add(name="text", datatype="BYTES", shape=[1])
        req.inputs.add(name="other", datatype="BYTES", shape=[1])
        req.raw_input_contents.append(b"\x01\x00\x00\x00a")
        err = grpc_error(lambda: s.ModelInfer(req, timeout=60))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "raw_input_contents" in err.details()

        # A shape that does not match the elements sent.
        req = pb.ModelInferRequest(model_name="minilm")
        t = req.inputs.add(name="text", datatype="BYTES", shape=[3])
        t.contents.bytes_contents.extend([b"only one"])
        err = grpc_error(lambda: s.ModelInfer(req, timeout=60))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    finally:
        channel.close()


def test_request_errors_map_to_grpc_codes(client):
    with pytest.raises(InferenceServerException) as e:
        client.infer("no-such-model", [text_input(["x"])])
    assert e.value.status() == "StatusCode.NOT_FOUND"

    wrong = tgrpc.InferInput("no_such_input", [1], "BYTES")
    wrong.set_data_from_numpy(np.array(["x"], dtype=object))
    with pytest.raises(InferenceServerException) as e:
        client.infer("minilm", [wrong])
    assert e.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert "no_such_input" in e.value.message()

    with pytest.raises(InferenceServerException) as e:
        client.infer("minilm", [text_input(["x"])], model_version="9")
    assert e.value.status() == "StatusCode.NOT_FOUND"


def test_a_message_over_the_limit_is_resource_exhausted(client):
    big = tgrpc.InferInput("text", [1], "BYTES")
    big.set_data_from_numpy(np.array(["word " * (300 << 10)], dtype=object))  # 1.5 MB > 1 MiB
    with pytest.raises(InferenceServerException) as e:
        client.infer("minilm", [big])
    assert e.value.status() == "StatusCode.RESOURCE_EXHAUSTED"
    assert client.is_server_live()


def test_a_deadline_cancels_the_call_and_the_server_goes_on(client, server):
    rows = slow_body(rows=64, words=120)["inputs"][0]["data"]
    with pytest.raises(InferenceServerException) as e:
        client.infer("minilm", [text_input(rows)], client_timeout=0.05)
    assert e.value.status() == "StatusCode.DEADLINE_EXCEEDED"
    result = client.infer("minilm", [text_input(SENTENCES[:1])])
    assert cosine(result.as_numpy("sentence_embedding")[0], REFERENCE["embeddings"][0]) >= 0.9999


def test_concurrent_calls_all_answer(server):
    errors = []

    def run():
        c = tgrpc.InferenceServerClient(server.grpc_url)
        try:
            for i in range(5):
                emb = c.infer("minilm", [text_input([SENTENCES[i]])]).as_numpy("sentence_embedding")[0]
                if cosine(emb, REFERENCE["embeddings"][i]) < 0.9999:
                    errors.append(f"wrong embedding for sentence {i}")
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))
        finally:
            c.close()

    threads = [threading.Thread(target=run) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []


# ---------------------------------------------------------------- statistics and repository


def test_statistics_count_grpc_inferences(client):
    before = client.get_inference_statistics("minilm", as_json=True)["model_stats"][0]
    client.infer("minilm", [text_input(SENTENCES[:2])])
    after = client.get_inference_statistics("minilm", as_json=True)["model_stats"][0]
    count = lambda s: int(s.get("inference_stats", {}).get("success", {}).get("count", 0))  # noqa: E731
    assert count(after) == count(before) + 1
    assert int(after["inference_count"]) > int(before.get("inference_count", 0))
    every = client.get_inference_statistics(as_json=True)["model_stats"]
    assert "minilm" in [m["name"] for m in every]
    with pytest.raises(InferenceServerException) as e:
        client.get_inference_statistics("no-such-model")
    assert e.value.status() == "StatusCode.NOT_FOUND"


def test_repository_index(client, server):
    index = client.get_model_repository_index(as_json=True)["models"]
    assert [m["name"] for m in index] == ["minilm"]
    assert index[0]["state"] == "READY"
    channel, s = stub(server)
    try:
        err = grpc_error(lambda: s.RepositoryIndex(pb.RepositoryIndexRequest(repository_name="elsewhere"), timeout=10))
        assert err.code() == grpc.StatusCode.NOT_FOUND
    finally:
        channel.close()


def test_unload_and_load_through_grpc(gw):
    c = tgrpc.InferenceServerClient(gw.grpc_url)
    try:
        with pytest.raises(InferenceServerException) as e:
            c.load_model("minilm", config=json.dumps({"max_batch_size": 4}))
        assert e.value.status() == "StatusCode.INVALID_ARGUMENT"
        assert "config" in e.value.message()
        c.unload_model("minilm")
        assert not c.is_model_ready("minilm")
        with pytest.raises(InferenceServerException) as e:
            c.infer("minilm", [text_input(["x"])])
        assert e.value.status() == "StatusCode.UNAVAILABLE"
        c.load_model("minilm")
        assert c.is_model_ready("minilm")
        assert c.infer("minilm", [text_input(SENTENCES[:1])]).as_numpy("sentence_embedding").shape == (1, 384)
        with pytest.raises(InferenceServerException) as e:
            c.load_model("no-such-model")
        assert e.value.status() == "StatusCode.NOT_FOUND"
    finally:
        c.close()


def test_the_tier_comes_from_metadata(gw):
    c = tgrpc.InferenceServerClient(gw.grpc_url)
    try:
        ok = c.infer("minilm", [text_input(SENTENCES[:1])], headers={"x-latency-tier": "premium"})
        assert ok.as_numpy("sentence_embedding").shape == (1, 384)
        with pytest.raises(InferenceServerException) as e:
            c.infer("minilm", [text_input(SENTENCES[:1])], headers={"x-latency-tier": "platinum"})
        assert e.value.status() == "StatusCode.INVALID_ARGUMENT"
        assert "platinum" in e.value.message()
    finally:
        c.close()


# ---------------------------------------------------------------- the kserve client


def test_kserve_grpc_client_works_unmodified(server):
    # Its own process: kserve and tritonclient.grpc cannot share one (see kserve_probe.py).
    probe = pathlib.Path(__file__).with_name("kserve_probe.py")
    r = subprocess.run([sys.executable, str(probe), "grpc", server.grpc_url], capture_output=True, text=True,
                       timeout=120, cwd=probe.parent)
    assert r.returncode == 0, r.stdout + r.stderr


# ---------------------------------------------------------------- flags


def test_grpc_with_a_zygote_is_refused(bundle, tmp_path):
    r = subprocess.run([THAW_BIN, "run", str(bundle), "--grpc-port", "0", "--zygote", str(tmp_path / "z.sock")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "--grpc-port" in r.stderr and "--zygote" in r.stderr


def test_a_busy_grpc_port_fails_the_start(bundle, worker):
    port = worker.grpc_url.rsplit(":", 1)[1]
    r = subprocess.run([THAW_BIN, "run", str(bundle), "--port", "0", "--grpc-port", port],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1
    assert "gRPC" in r.stderr


def test_garbage_on_the_grpc_port_harms_nobody(client, server):
    import os
    import socket
    host, port = server.grpc_url.rsplit(":", 1)
    for payload in (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + os.urandom(4096),
                    os.urandom(65536)):
        with socket.create_connection((host, int(port)), timeout=10) as s:
            try:
                s.sendall(payload)
                s.recv(1024)
            except OSError:
                pass  # the server may close on us: that is the point
    assert client.is_server_live()
    assert client.infer("minilm", [text_input(SENTENCES[:1])]).as_numpy("sentence_embedding").shape == (1, 384)


def test_without_the_module_grpc_is_refused_clearly(bundle, tmp_path):
    # The gRPC libraries live in libthaw_grpc.so next to the executable, loaded only for --grpc-port.
    import shutil
    lone = tmp_path / "thaw"
    shutil.copy(THAW_BIN, lone)
    r = subprocess.run([str(lone), "run", str(bundle), "--port", "0", "--grpc-port", "0"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 1
    assert "gRPC is not available" in r.stderr and "libthaw_grpc.so" in r.stderr
