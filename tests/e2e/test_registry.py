"""Models by reference: `thaw serve` fetches a bundle from a registry (the fault-injecting upstream
server, or a real `thaw cache` in front of it) into its model store on the first request, verifies it,
and serves it; every bad answer reaches the waiting client as 502/503/507 naming the cause, leaves no
partial file in the store, and the next request fetches again. The store's disk budget evicts
unused copies (least recently used, pinned kept), which puts a model back on the registry rung."""
import hashlib
import json
import os
import pathlib
import shutil

import pytest

from cache_harness import Cache, Upstream
from serve_client import assert_reference, infer, json_error
from serve_harness import Gateway
from worker_harness import pack_minilm


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return pack_minilm(tmp_path_factory.mktemp("bundle"))


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """A registry root holding nothing yet, served by the fault-injecting upstream."""
    root = tmp_path_factory.mktemp("registry")
    up = Upstream(root)
    yield root, up
    up.stop()


def publish(root, bundle, name, version):
    dest = pathlib.Path(root) / "models" / name / f"{version}.thaw"
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not dest.exists():
        try:
            os.link(bundle, dest)
        except OSError:
            shutil.copyfile(bundle, dest)
    return dest


def wait_stored(gw, name, headers=None):
    """Waits for the model's copy to be in the store: a start while fetching answers before the
    fetch ends (docs/registry.md)."""
    entry = lambda: next(m for m in gw.get("/admin/models", headers=headers).json()["store"]["models"]
                         if m["name"] == name)
    gw.wait_until(lambda: entry()["present"], 60, f"{name}'s copy in the store")


def store_files(store):
    """The store's files but the durability markers (NAME/VERSION.thaw.durable, docs/registry.md)."""
    return sorted(str(p.relative_to(store)) for p in pathlib.Path(store).rglob("*")
                  if p.is_file() and not p.name.endswith(".durable"))


@pytest.fixture()
def serve(tmp_path):
    started = []

    def start(models, store_budget_mb=None, extra=None):
        config = {"server": {"tick_interval_ms": 50}, "models": models,
                  "store": {"dir": str(tmp_path / "store"), **({"budget_mb": store_budget_mb} if store_budget_mb else {})}}
        config.update(extra or {})
        path = tmp_path / f"thaw{len(started)}.yaml"
        path.write_text(json.dumps(config))
        gw = Gateway("--config", str(path), log_path=tmp_path / f"serve{len(started)}.log")
        started.append(gw)
        return gw

    yield start
    for gw in started:
        if gw.proc.returncode is None:
            assert gw.alive(), f"thaw serve died during the test: {gw.log_tail()}"
            assert gw.stop() == 0, gw.log_tail()


def source(up, name, version):
    """A plain registry holds NAME/VERSION.thaw (the layout `thaw cache --upstream` reads)."""
    return f"{up.base}/models/{name}/{version}.thaw"


def test_first_request_fetches_verifies_and_serves(registry, bundle, serve, tmp_path):
    root, up = registry
    publish(root, bundle, "fresh", "1")
    digest = hashlib.sha256(bundle.read_bytes()).hexdigest()
    gw = serve([{"name": "fresh", "source": source(up, "fresh", "1"), "sha256": f"sha256:{digest}"}])
    before = gw.models()["fresh"]
    assert before["rung"] == "registry" and before["source"] == source(up, "fresh", "1")
    assert store_files(tmp_path / "store") == []
    r = infer(gw, "fresh", [0, 1], timeout=120)
    assert r.status_code == 200, r.text
    assert_reference(r.json(), [0, 1])
    assert (tmp_path / "store" / "fresh" / "1.thaw").read_bytes() == bundle.read_bytes()
    m = gw.models()["fresh"]
    assert m["cold_starts"]["registry"] == 1 and m["version"] == "1"
    store = gw.get("/admin/models").json()["store"]
    entry = store["models"][0]
    assert entry["present"] and entry["bytes"] == bundle.stat().st_size and entry["last_fetch"]["fetched_bytes"] > 0
    # The registry rung is in the measured profile, below disk.
    profile = gw.get("/admin/profile").text
    assert "registry:" in profile


def test_bad_sources_fail_clearly_leave_nothing_and_retry(registry, bundle, serve, tmp_path):
    root, up = registry
    gw = serve([{"name": "later", "source": source(up, "later", "1")},
                {"name": "wronghash", "source": source(up, "wronghash", "1"), "sha256": "0" * 64},
                {"name": "gone", "source": "http://127.0.0.1:9/models/gone/1"}])
    # Not published yet: 502 naming the 404; nothing in the store.
    r = infer(gw, "later", [0], timeout=60)
    assert r.status_code == 502, r.text
    assert "no such bundle" in json_error(r)
    # Unreachable source: 503.
    r = infer(gw, "gone", [0], timeout=60)
    assert r.status_code == 503, r.text
    assert "unreachable" in json_error(r)
    # A hash that differs: 502 naming it, and no file.
    publish(root, bundle, "wronghash", "1")
    r = infer(gw, "wronghash", [0], timeout=120)
    assert r.status_code == 502 and "SHA-256" in json_error(r), r.text
    assert store_files(tmp_path / "store") == []
    # Corrupt bytes on every try: 502; truncated bodies likewise; then the next request fetches it.
    publish(root, bundle, "later", "1")
    up.control("/_reset")
    up.fault("corrupt", count=1000, path_contains="/later/", after=1)
    r = infer(gw, "later", [0], timeout=120)
    assert r.status_code in (502, 503) and "later" in json_error(r), r.text
    assert store_files(tmp_path / "store") == []
    up.control("/_reset")
    gw.wait_until(lambda: True)
    import time
    time.sleep(2.2)  # the start back-off after a failed start
    r = infer(gw, "later", [0], timeout=120)
    assert r.status_code == 200, r.text
    wait_stored(gw, "later")
    assert store_files(tmp_path / "store") == ["later/1.thaw"]
    # Served before its fsync; recorded durable once the store's background sync is done.
    stored = lambda: next(m for m in gw.get("/admin/models").json()["store"]["models"] if m["name"] == "later")
    gw.wait_until(lambda: stored()["durable"], 30, "later's copy recorded durable")
    assert (tmp_path / "store" / "later" / "1.thaw.durable").is_file()


def test_budget_evicts_unused_copies_to_the_registry_rung(registry, bundle, serve, tmp_path):
    root, up = registry
    for name in ("a", "b", "p"):
        publish(root, bundle, name, "1")
    size_mb = bundle.stat().st_size / 2**20
    # Room for two copies, not three: the pinned one stays, the least recently used other goes.
    gw = serve([{"name": "p", "source": source(up, "p", "1"), "pinned": True, "prefetch": True},
                {"name": "a", "source": source(up, "a", "1")},
                {"name": "b", "source": source(up, "b", "1")}], store_budget_mb=int(size_mb * 2.5))
    gw.wait_until(lambda: gw.models()["p"]["rung"] != "registry", 60, "prefetch of p")
    assert infer(gw, "a", [0], timeout=120).status_code == 200
    wait_stored(gw, "a")
    # a's instance holds its copy: the budget cannot take it while it runs.
    assert gw.post("/admin/models/a/drain", json={"rung": "disk"}).status_code == 200
    assert infer(gw, "b", [0], timeout=120).status_code == 200
    wait_stored(gw, "b")
    gw.wait_until(lambda: gw.models()["a"]["rung"] == "registry", 30, "a evicted to the registry rung")
    assert sorted(store_files(tmp_path / "store")) == ["b/1.thaw", "p/1.thaw"]
    store = {m["name"]: m for m in gw.get("/admin/models").json()["store"]["models"]}
    assert store["a"]["evictions"] == 1 and not store["a"]["present"] and store["p"]["pinned"]
    assert gw.models()["a"]["fetch_estimate_ms"] > 0
    # While b's instance runs, a cannot fit beside b and p: refused before its download, naming the budget.
    r = infer(gw, "a", [0], timeout=120)
    assert r.status_code == 507 and "store.budget_mb" in r.json()["error"], r.text
    assert sorted(store_files(tmp_path / "store")) == ["b/1.thaw", "p/1.thaw"]
    # Once b stops, a is back from the registry rung on its next request (b's copy makes room).
    assert gw.post("/admin/models/b/drain", json={"rung": "disk"}).status_code == 200
    gw.wait_until(lambda: infer(gw, "a", [0], timeout=120).status_code == 200, 30, "a served again")
    wait_stored(gw, "a")
    assert sorted(store_files(tmp_path / "store")) == ["a/1.thaw", "p/1.thaw"]


def test_a_bundle_the_budget_cannot_hold_is_507_before_its_download(registry, bundle, serve, tmp_path):
    root, up = registry
    publish(root, bundle, "big", "1")
    size_mb = bundle.stat().st_size / 2**20
    gw = serve([{"name": "big", "source": source(up, "big", "1")}], store_budget_mb=max(1, int(size_mb / 2)))
    r = infer(gw, "big", [0], timeout=120)
    assert r.status_code == 507, r.text
    assert "store.budget_mb" in r.json()["error"], r.text
    assert store_files(tmp_path / "store") == []
    store = gw.get("/admin/models").json()["store"]
    assert store["bytes"] == 0 and store["reserved_bytes"] == 0


def test_through_thaw_cache_on_a_second_node(registry, bundle, serve, tmp_path):
    root, up = registry
    publish(root, bundle, "viacache", "1")
    cache = Cache(f"{up.base}/models", tmp_path / "cache")
    try:
        gw = serve([{"name": "viacache", "source": f"{cache.base}/models/viacache/1"}])
        r = infer(gw, "viacache", [0], timeout=120)
        assert r.status_code == 200, r.text
        assert cache.stats()["misses"] >= 1
    finally:
        cache.stop()


def test_a_new_version_switches_without_failures_and_rolls_back(registry, bundle, serve, tmp_path):
    root, up = registry
    publish(root, bundle, "ver", "1")
    publish(root, bundle, "ver", "2")
    token = tmp_path / "admin.token"
    token.write_text("s3cret-admin-token\n")
    token.chmod(0o600)
    auth = {"Authorization": "Bearer s3cret-admin-token"}
    gw = serve([{"name": "ver", "source": source(up, "ver", "1")}],
               extra={"security": {"admin_token_file": str(token)}})
    assert infer(gw, "ver", [0], timeout=120).status_code == 200
    # Version 2's chunks come from version 1's copy once that is whole (the answer above may come
    # while the rest of it is still fetched).
    wait_stored(gw, "ver", headers=auth)
    # Nobody without the token changes what is served.
    assert gw.post("/admin/models/ver/versions", json={"source": source(up, "ver", "2")}).status_code in (401, 403)
    # A version that cannot be fetched: 502 naming why; version 1 keeps serving.
    bad = gw.post("/admin/models/ver/versions", json={"source": source(up, "ver", "9")}, headers=auth, timeout=120)
    assert bad.status_code == 502 and "no such bundle" in bad.json()["error"], bad.text
    assert gw.get("/admin/models", headers=auth).json()["models"][0]["version"] == "1"
    # Requests keep flowing while version 2 is published.
    import threading
    failures, done = [], threading.Event()

    def load():
        while not done.is_set():
            r = infer(gw, "ver", [1], timeout=60)
            if r.status_code != 200:
                failures.append((r.status_code, r.text))

    t = threading.Thread(target=load)
    t.start()
    try:
        ok = gw.post("/admin/models/ver/versions", json={"source": source(up, "ver", "2")}, headers=auth, timeout=180)
        assert ok.status_code == 200 and ok.json()["version"] == "2", ok.text
        assert infer(gw, "ver", [0], timeout=60).status_code == 200
    finally:
        done.set()
        t.join()
    assert failures == []
    models = gw.get("/admin/models", headers=auth).json()
    assert models["models"][0]["version"] == "2"
    fetch = {(m["name"], m["version"]): m for m in models["store"]["models"]}[("ver", "2")]["last_fetch"]
    assert fetch["chunks_reused"] == fetch["chunks"], fetch  # the same bytes: nothing but the head fetched
    assert gw.session.post(f"{gw.base}/v2/models/ver/versions/2/infer", json={"inputs": [
        {"name": "text", "datatype": "BYTES", "shape": [1], "data": ["hello"]}]}, timeout=60).status_code == 200
    # Rolling back is the same operation; SIGHUP with a changed thaw.yaml publishes too.
    back = gw.post("/admin/models/ver/versions", json={"source": source(up, "ver", "1")}, headers=auth, timeout=180)
    assert back.status_code == 200 and back.json()["version"] == "1", back.text
    config = json.loads((tmp_path / "thaw0.yaml").read_text())
    config["models"][0]["source"] = source(up, "ver", "2")
    (tmp_path / "thaw0.yaml").write_text(json.dumps(config))
    import signal
    gw.proc.send_signal(signal.SIGHUP)
    gw.wait_until(lambda: gw.get("/admin/models", headers=auth).json()["models"][0]["version"] == "2", 60,
                  "SIGHUP switch to version 2")


@pytest.fixture()
def small_disk(tmp_path):
    """A 40 MiB tmpfs for the model store (needs root: skipped elsewhere)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    import subprocess
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=40m", "tmpfs", str(mnt)],
                                           capture_output=True).returncode != 0:
        pytest.skip("mounting a small tmpfs needs root")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_a_full_disk_is_507_and_leaves_nothing(registry, bundle, serve, small_disk, tmp_path):
    root, up = registry
    publish(root, bundle, "big", "1")
    config_models = [{"name": "big", "source": source(up, "big", "1")}]
    config = {"server": {"tick_interval_ms": 50}, "models": config_models, "store": {"dir": str(small_disk / "store")}}
    path = tmp_path / "full.yaml"
    path.write_text(json.dumps(config))
    gw = Gateway("--config", str(path), log_path=tmp_path / "full.log")
    try:
        r = infer(gw, "big", [0], timeout=120)
        assert r.status_code == 507, r.text
        assert "disk is full" in json_error(r)
        assert store_files(small_disk / "store") == []
    finally:
        assert gw.stop() == 0


def test_a_canary_takes_its_share_then_is_promoted(registry, bundle, serve):
    root, up = registry
    publish(root, bundle, "can", "1")
    publish(root, bundle, "can", "2")
    gw = serve([{"name": "can", "source": source(up, "can", "1")}])
    assert infer(gw, "can", [0], timeout=120).status_code == 200
    r = gw.post("/admin/models/can/versions", json={"source": source(up, "can", "2"), "canary_percent": 50}, timeout=180)
    assert r.status_code == 200 and r.json()["version"] == "1", r.text
    m = gw.models()["can"]
    assert m["canary"]["percent"] == 50 and m["canary"]["version"] == "2"
    assert sorted(i["canary"] for i in m["instances"]) == [False, True]
    for _ in range(4):
        assert infer(gw, "can", [1], timeout=60).status_code == 200
    assert gw.post("/admin/models/can/versions", json={"source": source(up, "can", "2"), "canary_percent": 101}
                   ).status_code == 400
    promoted = gw.post("/admin/models/can/versions", json={"source": source(up, "can", "2")}, timeout=60)
    assert promoted.status_code == 200 and promoted.json()["version"] == "2", promoted.text
    gw.wait_until(lambda: len(gw.models()["can"]["instances"]) == 1, 30, "version 1 drained")
    assert gw.models()["can"]["canary"] is None


def first_file_chunk(bundle):
    """The file offset of the chunk holding the bundle's first file: an ONNX start with graph.ort reads
    the files, not the tensors before them (docs/registry.md, Start while fetching)."""
    import subprocess
    from serve_harness import THAW_BIN
    m = json.loads(subprocess.run([THAW_BIN, "inspect", "--json", str(bundle)], check=True, capture_output=True,
                                  text=True).stdout)
    start = m["data_offset"] + min(f["offset"] for f in m["files"])
    return max(c["file_offset"] for c in m["chunks"] if c["file_offset"] <= start)


def test_an_instance_starts_and_answers_while_its_tensors_still_arrive(registry, bundle, serve, tmp_path):
    root, up = registry
    publish(root, bundle, "early", "1")
    publish(root, bundle, "late", "1")
    files_at = first_file_chunk(bundle)
    up.control("/_reset")
    # The tensors' ranges (the second phase) are held back 5 s; the files' ranges come at once.
    up.fault("delay", count=1000, delay_ms=5000, min_offset=1, max_offset=files_at)
    gw = serve([{"name": "early", "source": source(up, "early", "1")}])
    r = infer(gw, "early", [0, 1], timeout=120)
    assert r.status_code == 200, r.text
    assert_reference(r.json(), [0, 1])
    assert not (tmp_path / "store" / "early" / "1.thaw").exists(), "answered before the fetch ended"
    wait_stored(gw, "early")
    stored = lambda: next(m for m in gw.get("/admin/models").json()["store"]["models"] if m["name"] == "early")
    assert (tmp_path / "store" / "early" / "1.thaw").read_bytes() == bundle.read_bytes()
    assert 0 < stored()["last_fetch"]["first_phase_seconds"] < 5
    r = infer(gw, "early", [1], timeout=60)
    assert r.status_code == 200, r.text
    assert_reference(r.json(), [1])
    # Turned off: the first answer waits for the whole fetch.
    up.control("/_reset")
    up.fault("delay", count=1000, delay_ms=2000, min_offset=1, max_offset=files_at)
    gw2 = serve([{"name": "late", "source": source(up, "late", "1")}],
                extra={"store": {"dir": str(tmp_path / "store2"), "start_while_fetching": False}})
    r = infer(gw2, "late", [0], timeout=120)
    assert r.status_code == 200, r.text
    assert (tmp_path / "store2" / "late" / "1.thaw").exists(), "off: answered after the fetch"
    up.control("/_reset")


def test_a_failed_second_phase_fails_the_start_and_leaves_nothing(registry, bundle, serve, tmp_path):
    root, up = registry
    publish(root, bundle, "half", "1")
    files_at = first_file_chunk(bundle)
    up.control("/_reset")
    up.fault("status", count=1000, status=404, min_offset=1, max_offset=files_at)
    gw = serve([{"name": "half", "source": source(up, "half", "1")}])
    r = infer(gw, "half", [0], timeout=120)
    # The instance reads none of the tensors, and the rest of the fetch waits for it to be ready: its
    # first answer may come (right) before the rest fails; else the request hears the cause.
    if r.status_code == 200:
        assert_reference(r.json(), [0])
    else:
        assert r.status_code == 502, r.text
        assert "no such bundle" in json_error(r) and "half" in json_error(r)
    # Either way the fetch fails, the instance on the arriving copy is stopped, and nothing stays.
    entry = lambda: next(m for m in gw.get("/admin/models").json()["store"]["models"] if m["name"] == "half")
    gw.wait_until(lambda: entry()["failures"] >= 1, 30, "the failed fetch recorded")
    assert "no such bundle" in entry()["last_error"]
    gw.wait_until(lambda: gw.models()["half"]["instances"] == [], 30, "the instance on the arriving copy stopped")
    assert store_files(tmp_path / "store") == []
    up.control("/_reset")
    import time
    time.sleep(2.2)  # the start back-off after a failed start
    r = infer(gw, "half", [0], timeout=120)
    assert r.status_code == 200, r.text
    assert_reference(r.json(), [0])
    wait_stored(gw, "half")  # (the answer may come before the rest of the fetch)
    assert store_files(tmp_path / "store") == ["half/1.thaw"]


LLM_TINY = pathlib.Path(__file__).resolve().parents[2] / "models" / "src" / "llm-tiny" / "model-f16.gguf"


@pytest.mark.skipif(not LLM_TINY.exists(), reason="scripts/setup.sh makes models/src/llm-tiny")
def test_a_generative_model_from_the_registry_streams_its_answer(registry, serve, tmp_path):
    """A GGUF bundle by reference: fetched whole (its start maps the weights, so nothing starts early),
    then a streamed chat completion through the OpenAI endpoint, and the copy kept for the next start."""
    import subprocess
    import requests
    from serve_harness import THAW_BIN
    root, up = registry
    llm = tmp_path / "tiny.thaw"
    subprocess.run([THAW_BIN, "pack", str(LLM_TINY), "-o", str(llm)], check=True, capture_output=True, timeout=120)
    publish(root, llm, "tiny-llm", "1")
    gw = serve([{"name": "tiny-llm", "source": source(up, "tiny-llm", "1"),
                 "worker_args": ["--backend-opt", "threads=1", "--backend-opt", "context=256"]}])
    assert gw.models()["tiny-llm"]["rung"] == "registry"
    with requests.post(f"{gw.base}/v1/chat/completions", stream=True, timeout=120,
                       json={"model": "tiny-llm", "messages": [{"role": "user", "content": "Say hello."}],
                             "max_tokens": 6, "temperature": 0, "stream": True}) as r:
        assert r.status_code == 200, r.text
        events = [line[6:] for line in r.iter_lines(decode_unicode=True) if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(c["model"] == "tiny-llm" for c in chunks)
    assert any(c["choices"][0]["delta"].get("content") for c in chunks if c["choices"]), chunks
    assert (tmp_path / "store" / "tiny-llm" / "1.thaw").read_bytes() == llm.read_bytes()
    entry = next(m for m in gw.get("/admin/models").json()["store"]["models"] if m["name"] == "tiny-llm")
    assert entry["present"] and entry["last_fetch"]["first_phase_bytes"] == 0
    assert gw.models()["tiny-llm"]["cold_starts"]["registry"] == 1
