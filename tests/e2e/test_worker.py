"""End-to-end: the real `thaw run` on a real MiniLM bundle, driven by tritonclient unmodified."""
import http.client
import json
import socket
import sys
import time

import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
from worker_harness import MINILM, Worker, pack_minilm  # noqa: E402

REFERENCE = json.loads((MINILM / "reference.json").read_text())


def cosine(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def token_batch(ids_list):
    """Pads HF input_ids into the three int64 [batch, seq] tensors the model takes."""
    longest = max(len(ids) for ids in ids_list)
    ids = np.zeros((len(ids_list), longest), dtype=np.int64)
    mask = np.zeros_like(ids)
    for i, row in enumerate(ids_list):
        ids[i, : len(row)] = row
        mask[i, : len(row)] = 1
    return ids, mask, np.zeros_like(ids)


def triton_inputs(ids, mask, types, binary):
    inputs = []
    for name, arr in (("input_ids", ids), ("attention_mask", mask), ("token_type_ids", types)):
        t = triton.InferInput(name, list(arr.shape), "INT64")
        t.set_data_from_numpy(arr, binary_data=binary)
        inputs.append(t)
    return inputs


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return pack_minilm(tmp_path_factory.mktemp("bundle"))


@pytest.fixture(scope="module")
def worker(bundle):
    w = Worker(bundle, "--port", "0", "--warmup", "2")
    yield w
    assert w.stop() == 0
    assert any(ev.get("event") == "stopped" for ev in w.events) or w.wait_for("stopped", 5)


@pytest.fixture()
def client(worker):
    c = triton.InferenceServerClient(worker.url, network_timeout=60)
    yield c
    c.close()


def raw_request(worker, method, path, body=b"", headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", worker.port, timeout=30)
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, data


def test_ready_event_carries_the_cold_start_timeline(worker):
    tl = worker.ready["timeline"]
    for phase in ("exec_to_main_ms", "bundle_open_ms", "session_create_ms", "listening_ms", "warmup_ms",
                  "exec_to_ready_ms"):
        assert phase in tl and tl[phase] >= 0, (phase, tl)
    assert tl["exec_time_source"] == "env"
    assert tl["exec_to_ready_ms"] >= tl["exec_to_main_ms"]


def test_health_and_metadata_through_tritonclient(client, worker):
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready(worker.model)
    meta = client.get_model_metadata(worker.model)
    assert meta["name"] == worker.model
    assert {i["name"] for i in meta["inputs"]} == {"input_ids", "attention_mask", "token_type_ids"}
    assert meta["outputs"][0]["datatype"] == "FP32"
    server = client.get_server_metadata()
    assert "binary_tensor_data" in server["extensions"]
    assert not client.is_model_ready("no-such-model")


@pytest.mark.parametrize("binary", [False, True])
def test_embeddings_match_sentence_transformers(client, worker, binary):
    ids, mask, types = token_batch(REFERENCE["input_ids"])
    outputs = [triton.InferRequestedOutput("sentence_embedding", binary_data=binary)]
    result = client.infer(worker.model, triton_inputs(ids, mask, types, binary), outputs=outputs)
    emb = result.as_numpy("sentence_embedding")
    assert emb.shape == (len(REFERENCE["sentences"]), 384)
    for got, want in zip(emb, REFERENCE["embeddings"]):
        assert cosine(got, want) >= 0.9999


def test_default_outputs_come_back_binary(client, worker):
    ids, mask, types = token_batch(REFERENCE["input_ids"][:2])
    result = client.infer(worker.model, triton_inputs(ids, mask, types, True))
    out = result.get_output("sentence_embedding")
    assert out["parameters"]["binary_data_size"] == 2 * 384 * 4
    assert cosine(result.as_numpy("sentence_embedding")[1], REFERENCE["embeddings"][1]) >= 0.9999


@pytest.mark.parametrize("binary", [False, True])
def test_text_in_embedding_out(client, worker, binary):
    if "text_input" not in client.get_model_metadata(worker.model).get("parameters", {}):
        pytest.skip("this thaw build has no tokenizer module, so the worker takes no text")
    sentences = REFERENCE["sentences"]
    text = triton.InferInput("text", [len(sentences)], "BYTES")
    text.set_data_from_numpy(np.array([s.encode() for s in sentences], dtype=np.object_), binary_data=binary)
    result = client.infer(worker.model, [text])
    emb = result.as_numpy("sentence_embedding")
    for got, want in zip(emb, REFERENCE["embeddings"]):
        assert cosine(got, want) >= 0.9999


def test_warm_and_metrics(worker):
    status, body = raw_request(worker, "GET", "/warm")
    assert status == 200
    status, body = raw_request(worker, "GET", "/metrics")
    assert status == 200
    text = body.decode()
    assert 'thaw_cold_start_phase_seconds{phase="session_create"}' in text
    assert "thaw_exec_to_ready_seconds" in text
    assert 'outcome="success"' in text


def test_first_response_event(client, worker):
    ids, mask, types = token_batch(REFERENCE["input_ids"][:1])
    client.infer(worker.model, triton_inputs(ids, mask, types, True))
    ev = worker.wait_for("first_response", 10)
    assert ev["timeline"]["exec_to_first_response_ms"] >= ev["timeline"]["exec_to_ready_ms"]


def assert_json_error(status, body, want_status, mentions):
    assert status == want_status, body
    err = json.loads(body)["error"]
    assert mentions in err, err


def infer_json(worker, body, model=None, headers=None):
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    return raw_request(worker, "POST", f"/v2/models/{model or worker.model}/infer", payload,
                       {"Content-Type": "application/json", **(headers or {})})


GOOD_INPUTS = [
    {"name": "input_ids", "datatype": "INT64", "shape": [1, 3], "data": [101, 7592, 102]},
    {"name": "attention_mask", "datatype": "INT64", "shape": [1, 3], "data": [1, 1, 1]},
    {"name": "token_type_ids", "datatype": "INT64", "shape": [1, 3], "data": [0, 0, 0]},
]


def test_bad_inputs_get_clear_4xx_and_the_worker_keeps_serving(worker, client):
    assert_json_error(*infer_json(worker, b"{not json"), 400, "JSON")
    wrong_dtype = [dict(GOOD_INPUTS[0], datatype="FP32", data=[1.0, 2.0, 3.0])] + GOOD_INPUTS[1:]
    assert_json_error(*infer_json(worker, {"inputs": wrong_dtype}), 400, "INT64")
    wrong_rank = [dict(GOOD_INPUTS[0], shape=[3])] + GOOD_INPUTS[1:]
    assert_json_error(*infer_json(worker, {"inputs": wrong_rank}), 400, "shape")
    bad_count = [dict(GOOD_INPUTS[0], shape=[1, 4])] + GOOD_INPUTS[1:]
    assert_json_error(*infer_json(worker, {"inputs": bad_count}), 400, "elements")
    assert_json_error(*infer_json(worker, {"inputs": GOOD_INPUTS[:2]}), 400, "missing input 'token_type_ids'")
    assert_json_error(*infer_json(worker, {"inputs": GOOD_INPUTS}, model="nope"), 404, "unknown model")
    status, _ = raw_request(worker, "GET", "/v2/models/nope")
    assert status == 404
    assert_json_error(*infer_json(worker, {"inputs": GOOD_INPUTS, "outputs": [{"name": "zzz"}]}), 400, "unknown output")
    header = json.dumps({"inputs": [dict(GOOD_INPUTS[0], data=None, parameters={"binary_data_size": 999})]}).encode()
    assert_json_error(*infer_json(worker, header + b"\0" * 8, headers={"Inference-Header-Content-Length": str(len(header))}),
                      400, "binary_data_size")
    with pytest.raises(InferenceServerException):
        t = triton.InferInput("input_ids", [1, 2], "INT32")
        t.set_data_from_numpy(np.array([[1, 2]], dtype=np.int32))
        client.infer(worker.model, [t])
    status, body = infer_json(worker, {"inputs": GOOD_INPUTS})
    assert status == 200 and worker.alive()


@pytest.fixture(scope="module")
def strict_worker(bundle):
    w = Worker(bundle, "--port", "0", "--max-body", "65536", "--request-timeout-ms", "500", "--warmup", "0")
    yield w
    assert w.stop() == 0


def test_oversize_body_gets_413(strict_worker):
    status, body = infer_json(strict_worker, b"{" + b" " * 200_000 + b"}")
    assert_json_error(status, body, 413, "65536")
    assert infer_json(strict_worker, {"inputs": GOOD_INPUTS})[0] == 200


def test_slow_client_is_cut_off_and_others_are_served(strict_worker):
    slow = socket.create_connection(("127.0.0.1", strict_worker.port), timeout=30)
    slow.sendall(b"POST /v2/models/x/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
    # Meanwhile a normal client is answered.
    assert infer_json(strict_worker, {"inputs": GOOD_INPUTS})[0] == 200
    start = time.monotonic()
    assert slow.recv(4096) == b"", "server kept a stalled request open"
    assert time.monotonic() - start < 20
    slow.close()
    assert strict_worker.alive()
    _, metrics = raw_request(strict_worker, "GET", "/metrics")
    assert "thaw_http_timeouts_total 1" in metrics.decode()


def test_unix_socket_and_ready_fd(bundle, tmp_path):
    import os
    path = tmp_path / "w.sock"
    r, wfd = os.pipe()
    w = Worker(bundle, "--unix", str(path), "--ready-fd", str(wfd), "--warmup", "1", wait_ready=False,
               pass_fds=(wfd,))
    os.close(wfd)
    try:
        line = os.read(r, 4096).decode()
        assert line.startswith("ready v1 unix:"), line
        model = w.wait_for("ready", 10)["model"]

        class UnixConnection(http.client.HTTPConnection):
            def connect(self):
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.settimeout(30)
                self.sock.connect(str(path))

        conn = UnixConnection("localhost")
        conn.request("POST", f"/v2/models/{model}/infer", body=json.dumps({"inputs": GOOD_INPUTS}))
        resp = conn.getresponse()
        body = json.loads(resp.read())
        assert resp.status == 200, body
        assert body["outputs"][0]["shape"] == [1, 384]
        conn.close()
    finally:
        os.close(r)
        assert w.stop() == 0
    assert not path.exists()


def test_missing_bundle_fails_fast(tmp_path):
    w = Worker(tmp_path / "nope.thaw", "--port", "0", wait_ready=False)
    ev = w.wait_for("error", 30)
    assert ev["stage"] == "load"
    assert w.proc.wait(timeout=30) != 0
