"""End-to-end: `thaw run --zygote` forks ready workers that serve correct embeddings at once."""
import json
import os
import socket
import sys
import time

import numpy as np
import pytest
import tritonclient.http as triton

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from worker_harness import MINILM, Worker, fork_child, pack_minilm  # noqa: E402

REFERENCE = json.loads((MINILM / "reference.json").read_text())


def embed(url, model, index):
    ids = np.array([REFERENCE["input_ids"][index]], dtype=np.int64)
    inputs = []
    for name, arr in (("input_ids", ids), ("attention_mask", np.ones_like(ids)), ("token_type_ids", np.zeros_like(ids))):
        t = triton.InferInput(name, list(arr.shape), "INT64")
        t.set_data_from_numpy(arr)
        inputs.append(t)
    client = triton.InferenceServerClient(url, network_timeout=60)
    try:
        return client.infer(model, inputs).as_numpy("sentence_embedding")[0]
    finally:
        client.close()


def cosine(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.fixture(scope="module")
def zygote(tmp_path_factory):
    d = tmp_path_factory.mktemp("zygote")
    bundle = pack_minilm(d)
    control = d / "control.sock"
    w = Worker(bundle, "--zygote", str(control), "--warmup", "1", wait_ready=False)
    ev = w.wait_for("zygote_ready", 120)
    w.control = control
    w.model = ev["model"]
    yield w
    assert w.stop() == 0
    assert not control.exists()


def test_template_runs_no_thread_before_forking(zygote):
    # One thread: fork() copies only the caller, so no lock or pool is left half-owned in children.
    assert len(os.listdir(f"/proc/{zygote.proc.pid}/task")) == 1


def test_forked_children_serve_correct_embeddings(zygote, tmp_path):
    status, pid, endpoint = fork_child(zygote.control)
    assert status == "ready", (status, pid, endpoint)
    ev = zygote.wait_for("forked", 10)
    assert ev["pid"] == int(pid)
    emb = embed(endpoint, zygote.model, 0)
    assert cosine(emb, REFERENCE["embeddings"][0]) >= 0.9999

    sock = tmp_path / "child.sock"
    status2, pid2, endpoint2 = fork_child(zygote.control, f"unix:{sock}")
    assert status2 == "ready" and endpoint2 == f"unix:{sock}" and pid2 != pid
    assert sock.exists()
    # The first child keeps serving beside the second.
    assert cosine(embed(endpoint, zygote.model, 1), REFERENCE["embeddings"][1]) >= 0.9999


def test_bad_control_commands_get_errors(zygote):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(str(zygote.control))
        s.sendall(b"explode\n")
        assert s.recv(4096).startswith(b"error")
    status, *_ = fork_child(zygote.control, "no-port-here")
    assert status == "error"
    # Still forking after bad commands.
    assert fork_child(zygote.control)[0] == "ready"


def test_children_stop_with_the_template(tmp_path):
    bundle = pack_minilm(tmp_path)
    control = tmp_path / "c.sock"
    w = Worker(bundle, "--zygote", str(control), "--warmup", "0", wait_ready=False)
    w.wait_for("zygote_ready", 120)
    _, pid, _ = fork_child(control)
    assert os.path.exists(f"/proc/{pid}")
    assert w.stop() == 0
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{pid}")
