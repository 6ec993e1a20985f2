"""End-to-end: POST /v1/embeddings on an encoder model (all-MiniLM-L6-v2) through `thaw run` and
`thaw serve`, with the real `openai` client (its default base64 encoding and floats)."""
import json
import os
import sys

import numpy as np
import pytest
import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_harness import Gateway  # noqa: E402
from worker_harness import MINILM, Worker, pack_minilm  # noqa: E402

openai = pytest.importorskip("openai")
REFERENCE = json.loads((MINILM / "reference.json").read_text())


def cosine(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return pack_minilm(tmp_path_factory.mktemp("emb"))


def test_worker_embeddings_match_the_reference(bundle):
    w = Worker(bundle, "--port", "0")
    try:
        c = openai.OpenAI(base_url=f"http://{w.url}/v1", api_key="unused", max_retries=0, timeout=60)
        r = c.embeddings.create(model=w.model, input=REFERENCE["sentences"][:4])  # base64 on the wire
        assert [d.index for d in r.data] == [0, 1, 2, 3]
        for i, d in enumerate(r.data):
            assert cosine(d.embedding, REFERENCE["embeddings"][i]) >= 0.9999
        one = c.embeddings.create(model=w.model, input="a", encoding_format="float")
        assert cosine(one.data[0].embedding, REFERENCE["embeddings"][5]) >= 0.9999
        assert [m.id for m in c.models.list().data] == [w.model]
        with pytest.raises(openai.NotFoundError):
            c.embeddings.create(model="nope", input="x")
        for body, word in [({"input": []}, "input"), ({"input": [1, 2]}, "input"), ({}, "input"),
                           ({"input": "x", "encoding_format": "hex"}, "encoding_format"),
                           ({"input": "x", "dimensions": 8}, "dimensions")]:
            bad = requests.post(f"http://{w.url}/v1/embeddings", json=body, timeout=30)
            assert bad.status_code == 400 and word in bad.json()["error"]["message"], bad.text
        # A generative route is not served by an encoder model.
        assert requests.post(f"http://{w.url}/v1/completions", json={"prompt": "x"}, timeout=30).status_code == 404
    finally:
        assert w.stop() == 0


def test_serve_routes_embeddings_by_the_body_model(bundle, tmp_path):
    g = Gateway.over_bundles(tmp_path, {"minilm": bundle})
    try:
        c = openai.OpenAI(base_url=f"{g.base}/v1", api_key="unused", max_retries=0, timeout=120)
        r = c.embeddings.create(model="minilm", input=REFERENCE["sentences"][0])
        assert cosine(r.data[0].embedding, REFERENCE["embeddings"][0]) >= 0.9999
    finally:
        assert g.stop() == 0
