"""End-to-end: the Python zygote of a torch model. The template imports torch, initialises and warms
up once with no thread pool started; 20 forked children (half of them spares forked ahead of their
request) each start their own pool (2 threads),
draw fresh random numbers, answer exactly as torch does in this process, and never run the
template's atexit handlers."""
import json
import os
import signal
import socket
import sys
import tempfile
import time

import numpy as np
import pytest
import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from python_harness import HANDLERS, pack_handler, use_cache  # noqa: E402
from worker_harness import Worker  # noqa: E402

torch = pytest.importorskip("torch")
CHILDREN = 20


def fork(control, endpoint):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(30)
        s.connect(control)
        s.sendall(f"fork {endpoint}\n".encode())
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = s.recv(4096)
            assert chunk, f"no reply; got {reply!r}"
            reply += chunk
    word, pid, ep = reply.decode().split()
    assert word == "ready", reply
    return int(pid), ep


def reference(x):
    sys.path.insert(0, str(HANDLERS))
    try:
        import torch_mlp
    finally:
        sys.path.pop(0)
    with torch.inference_mode():
        return torch_mlp.build()(torch.from_numpy(x)).numpy()


@pytest.fixture(scope="module")
def zygote(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pyzygote")
    use_cache(tmp / "cache")
    bundle = pack_handler("torch_mlp", tmp)
    sockets = tempfile.mkdtemp(prefix="thaw-pz-")
    atexit_log = tmp / "atexit.log"
    os.environ["THAW_TEST_ATEXIT_LOG"] = str(atexit_log)
    control = os.path.join(sockets, "z.sock")
    w = Worker(bundle, "--zygote", control, "--backend-opt", "threads=2", wait_ready=False)
    ready = w.wait_for("zygote_ready", 120)
    yield w, ready, control, sockets, atexit_log
    w.stop()


def test_the_template_holds_no_thread_pool(zygote):
    _, ready, _, _, _ = zygote
    assert ready["threads"] == 1, ready
    t = ready["timeline"]
    for phase in ("exec_to_interpreter_ms", "imports_ms", "init_ms", "warmup_ms", "exec_to_ready_ms"):
        assert phase in t, t


def test_twenty_forked_children_answer_right_with_their_own_pools_and_seeds(zygote):
    w, _, control, _, _ = zygote
    rng = np.random.default_rng(7)
    x = rng.standard_normal((8, 256)).astype(np.float32)
    want = reference(x)
    body = {"inputs": [{"name": "x", "datatype": "FP32", "shape": list(x.shape), "data": x.ravel().tolist()}]}
    pids, draws = [], []
    forked = []
    for _ in range(CHILDREN // 2):
        time.sleep(0.4)  # the template forks a spare when idle: the first of each pair gets it,
        forked.append(fork(control, "127.0.0.1:0"))  # the second is forked on request
        forked.append(fork(control, "127.0.0.1:0"))
    for pid, ep in forked:
        r = requests.post(f"http://{ep}/v2/models/torch_mlp/infer", json=body, timeout=60)
        assert r.status_code == 200, r.text
        out = {o["name"]: o for o in r.json()["outputs"]}
        y = np.asarray(out["y"]["data"], dtype=np.float32).reshape(out["y"]["shape"])
        np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-5)
        assert out["threads"]["data"] == [2], "each child sets its own torch thread count"
        assert out["pid"]["data"] == [pid]
        assert out["hooks"]["data"] == [1, 1], "before_fork() once in the template, after_fork() once in the child"
        pids.append(pid)
        draws.append(tuple(out["rand"]["data"]))
        # a second request on the child's now-started pool
        r2 = requests.post(f"http://{ep}/v2/models/torch_mlp/infer", json=body, timeout=60)
        assert r2.status_code == 200
        np.testing.assert_allclose(np.asarray(r2.json()["outputs"][0]["data"], dtype=np.float32).reshape(want.shape),
                                   want, rtol=1e-4, atol=1e-5)
    assert len(set(pids)) == CHILDREN
    assert len(set(draws)) == CHILDREN, "every child draws its own random numbers"
    for pid in pids:
        os.kill(pid, signal.SIGTERM)
    exited = set()
    while len(exited) < CHILDREN:
        ev = w.wait_for("child_exited", 30)
        w.events.remove(ev)
        exited.add(ev["pid"])
        assert ev["status"] == 0, ev
    assert exited == set(pids)
    kinds = {e["pid"]: e.get("spare", False) for e in w.events if e["event"] == "forked"}
    assert any(kinds[p] for p in pids) and not all(kinds[p] for p in pids), kinds


def test_only_the_template_runs_its_atexit_handlers(zygote):
    w, _, control, _, atexit_log = zygote
    pid, ep = fork(control, "127.0.0.1:0")
    assert requests.get(f"http://{ep}/v2/health/ready", timeout=10).status_code == 200
    assert w.stop() == 0
    lines = atexit_log.read_text().split() if atexit_log.exists() else []
    assert lines == [str(w.proc.pid), str(w.proc.pid)], (
        f"the template's atexit handler ran in {lines} (children must not run it; the template must)")
