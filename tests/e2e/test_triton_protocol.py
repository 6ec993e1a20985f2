"""End-to-end: `thaw serve` and `thaw run` as a Triton/KServe user's clients see them: health bodies,
statistics, compressed requests, versions, the repository extension's edge cases, tritonclient
(HTTP, HTTP async) and the `kserve` client, unmodified."""
import asyncio
import gzip
import json
import pathlib
import subprocess
import sys
import zlib

import numpy as np
import pytest
import requests
import tritonclient.http as triton
import tritonclient.http.aio as triton_aio

from serve_client import REFERENCE, SENTENCES, cosine, json_error, text_body
from serve_harness import Gateway
from worker_harness import Worker, pack_minilm


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return pack_minilm(tmp_path_factory.mktemp("bundle"))


@pytest.fixture(scope="module")
def gw(tmp_path_factory, bundle):
    d = tmp_path_factory.mktemp("gw")
    config = {"server": {"max_body_mb": 1}, "models": [{"name": "minilm", "bundle": str(bundle)}]}
    (d / "thaw.yaml").write_text(json.dumps(config))
    g = Gateway("--config", str(d / "thaw.yaml"), log_path=d / "serve.log")
    yield g
    assert g.stop() == 0, g.log_tail()


@pytest.fixture(scope="module")
def worker(bundle):
    w = Worker(bundle, "--port", "0", "--max-body", str(1 << 20), "--model-name", "minilm")
    w.base = f"http://{w.url}"
    yield w
    assert w.stop() == 0


@pytest.fixture(params=["serve", "run"])
def server(request, gw, worker):
    """Both servers answer the same protocol; each test runs against each."""
    return gw if request.param == "serve" else worker


def embedding_of(body, i=0):
    out = body["outputs"][0]
    return np.asarray(out["data"], dtype=np.float32).reshape(out["shape"])[i]


def infer_raw(server, body, headers):
    return requests.post(f"{server.base}/v2/models/minilm/infer", data=body, headers=headers, timeout=60)


# ---------------------------------------------------------------- health and readiness bodies


def test_health_and_readiness_have_the_specified_bodies(server):
    assert requests.get(f"{server.base}/v2/health/live").json() == {"live": True}
    assert requests.get(f"{server.base}/v2/health/ready").json() == {"ready": True}
    assert requests.get(f"{server.base}/v2/models/minilm/ready").json() == {"name": "minilm", "ready": True}
    assert requests.get(f"{server.base}/v2/models/minilm/versions/1/ready").json() == {"name": "minilm", "ready": True}


def test_an_unknown_version_is_404_on_every_route(server):
    for method, path in [("GET", "/v2/models/minilm/versions/9/ready"), ("GET", "/v2/models/minilm/versions/9"),
                         ("GET", "/v2/models/minilm/versions/9/config"), ("GET", "/v2/models/minilm/versions/9/stats"),
                         ("POST", "/v2/models/minilm/versions/9/infer")]:
        r = requests.request(method, f"{server.base}{path}", json=text_body(["x"]), timeout=60)
        assert r.status_code == 404, (path, r.text)
        assert "version '9'" in json_error(r)


def test_kserve_rest_client_works_unmodified(server):
    # Its own process: kserve and tritonclient.grpc cannot share one (see kserve_probe.py).
    probe = pathlib.Path(__file__).with_name("kserve_probe.py")
    r = subprocess.run([sys.executable, str(probe), "rest", server.base], capture_output=True, text=True,
                       timeout=120, cwd=probe.parent)
    assert r.returncode == 0, r.stdout + r.stderr


def test_tritonclient_async_http_works_unmodified(server):
    async def run():
        client = triton_aio.InferenceServerClient(server.base.removeprefix("http://"))
        try:
            assert await client.is_server_live()
            assert await client.is_model_ready("minilm")
            text = triton_aio.InferInput("text", [2], "BYTES")
            text.set_data_from_numpy(np.array([SENTENCES[0], SENTENCES[1]], dtype=object))
            result = await client.infer("minilm", [text])
            emb = result.as_numpy("sentence_embedding")
            for i in range(2):
                assert cosine(emb[i], REFERENCE["embeddings"][i]) >= 0.9999
        finally:
            await client.close()

    asyncio.run(run())


# ---------------------------------------------------------------- statistics


def test_statistics_count_successes_failures_and_phases(server):
    client = triton.InferenceServerClient(server.base.removeprefix("http://"))
    before = client.get_inference_statistics("minilm")["model_stats"][0]
    for i in range(3):
        assert requests.post(f"{server.base}/v2/models/minilm/infer", json=text_body([SENTENCES[i]] * 2)).status_code == 200
    bad = requests.post(f"{server.base}/v2/models/minilm/infer", json={"inputs": [{"name": "nope"}]})
    assert bad.status_code == 400
    after = client.get_inference_statistics("minilm")["model_stats"][0]
    assert after["name"] == "minilm" and after["version"] == "1"
    s0, s1 = before["inference_stats"], after["inference_stats"]
    assert int(s1["success"]["count"]) - int(s0["success"]["count"]) == 3
    assert int(s1["fail"]["count"]) - int(s0["fail"]["count"]) == 1
    assert int(s1["success"]["ns"]) > int(s0["success"]["ns"])
    assert int(s1["compute_infer"]["ns"]) > int(s0["compute_infer"]["ns"])
    assert int(after["execution_count"]) - int(before["execution_count"]) == 3
    assert int(after["last_inference"]) > 0
    every = requests.get(f"{server.base}/v2/models/stats").json()["model_stats"]
    assert [m["name"] for m in every] == ["minilm"]


# ---------------------------------------------------------------- compressed requests


@pytest.mark.parametrize("algorithm", ["gzip", "deflate"])
def test_tritonclient_compressed_requests(server, algorithm):
    client = triton.InferenceServerClient(server.base.removeprefix("http://"))
    text = triton.InferInput("text", [1], "BYTES")
    text.set_data_from_numpy(np.array([SENTENCES[3]], dtype=object), binary_data=True)
    result = client.infer("minilm", [text], request_compression_algorithm=algorithm)
    assert cosine(result.as_numpy("sentence_embedding")[0], REFERENCE["embeddings"][3]) >= 0.9999


def test_a_raw_deflate_body_is_accepted_too(server):
    raw = zlib.compressobj(wbits=-15)
    body = raw.compress(json.dumps(text_body([SENTENCES[4]])).encode()) + raw.flush()
    r = infer_raw(server, body, {"Content-Type": "application/json", "Content-Encoding": "deflate"})
    assert r.status_code == 200, r.text
    assert cosine(embedding_of(r.json()), REFERENCE["embeddings"][4]) >= 0.9999


def test_a_compression_bomb_is_413_and_the_server_keeps_serving(server):
    # 1 MiB is the limit; 64 MiB of spaces compress to about 64 KiB.
    bomb = gzip.compress(b'{"inputs": [' + b" " * (64 << 20) + b"]}", compresslevel=9)
    assert len(bomb) < (1 << 20)
    r = infer_raw(server, bomb, {"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert r.status_code == 413, r.text
    assert "limit" in json_error(r)
    assert requests.post(f"{server.base}/v2/models/minilm/infer", json=text_body(["still here"])).status_code == 200


def test_corrupt_and_unknown_codings_are_clear_errors(server):
    corrupt = gzip.compress(json.dumps(text_body(["x"])).encode())[:-9]
    r = infer_raw(server, corrupt, {"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert r.status_code == 400 and "gzip" in json_error(r)
    r = infer_raw(server, b"{}", {"Content-Type": "application/json", "Content-Encoding": "br"})
    assert r.status_code == 415 and "br" in json_error(r)


# ---------------------------------------------------------------- the repository extension at the gateway


def test_load_with_a_configuration_or_files_is_refused_by_name(gw):
    for params, name in [({"config": "{}"}, "config"), ({"file:1/model.onnx": "AAAA"}, "file:1/model.onnx")]:
        r = requests.post(f"{gw.base}/v2/repository/models/minilm/load", json={"parameters": params})
        assert r.status_code == 400, r.text
        assert f"'{name}'" in json_error(r)
    r = requests.post(f"{gw.base}/v2/repository/models/minilm/load", data="not json")
    assert r.status_code == 400


def test_the_index_checks_its_ready_field(gw):
    assert requests.post(f"{gw.base}/v2/repository/index", json={"ready": "yes"}).status_code == 400
    assert requests.post(f"{gw.base}/v2/repository/index", data="[").status_code == 400
    index = requests.post(f"{gw.base}/v2/repository/index", json={"ready": True}).json()
    assert index == [{"name": "minilm", "version": "1", "state": "READY", "reason": index[0]["reason"]}]


def test_a_gzip_admin_body_is_decoded(gw):
    body = gzip.compress(json.dumps({"rung": "page_cache"}).encode())
    r = requests.post(f"{gw.base}/admin/models/minilm/drain", data=body,
                      headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert r.status_code == 200, r.text
    assert r.json()["rung"] == "page_cache"
