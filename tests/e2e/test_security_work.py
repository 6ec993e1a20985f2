"""Safe to expose, the worker's and the bundles' side: bounded work per request (errors naming the
bound, memory given back), token inputs longer than the model's positions, data verified before the
first answer, and bad bundles that do not stop `thaw serve`. Real workers on the MiniLM bundle."""
import json
import os
import shutil
import subprocess
import time

import pytest
import requests

from serve_harness import Gateway
from worker_harness import THAW_BIN, Worker, pack_minilm

MIB = 1 << 20


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return pack_minilm(tmp_path_factory.mktemp("bundle"))


@pytest.fixture(scope="module")
def verify_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("verified")


@pytest.fixture(scope="module")
def worker(bundle, verify_cache):
    w = Worker(bundle, "--port", "0", "--verify-cache", str(verify_cache))
    yield w
    assert w.stop() == 0


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def settled_rss_mib(pid, below, timeout=5):
    """The RSS once it is below `below`, or after `timeout` s: a closed connection's buffers are
    freed when the server notices the close, just after the answer."""
    deadline = time.monotonic() + timeout
    while rss_mib(pid) >= below and time.monotonic() < deadline:
        time.sleep(0.05)
    return rss_mib(pid)


def infer_url(w):
    return f"http://{w.url}/v2/models/{w.model}/infer"


def texts(n, words=8):
    sentence = " ".join(["thaw"] * words)
    return {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [n], "data": [sentence] * n}]}


def token_body(length, batch=1):
    row = [101] + [2023] * (length - 2) + [102]
    def tensor(name, value_row):
        return {"name": name, "datatype": "INT64", "shape": [batch, length], "data": value_row * batch}
    return {"inputs": [tensor("input_ids", row), tensor("attention_mask", [1] * length),
                       tensor("token_type_ids", [0] * length)]}


def nested(depth):
    return "[" * depth + "]" * depth


def refused(r, status, bound):
    assert r.status_code == status, (r.status_code, r.text[:300])
    err = r.json()["error"]
    assert bound in err, err
    return err


# ---------------------------------------------------------------- bounds on one request


def test_batch_over_the_bound_is_413_naming_it(worker):
    assert requests.post(infer_url(worker), json=texts(64), timeout=120).status_code == 200
    refused(requests.post(infer_url(worker), json=texts(65), timeout=60), 413, "max_batch=64")


def test_tokens_per_request_over_the_bound_is_413_naming_it(worker):
    # 64 texts of 100 words: 64 x 202 tokens, over 8192.
    refused(requests.post(infer_url(worker), json=texts(64, 100), timeout=60), 413, "max_request_tokens=8192")
    # 9 texts of 512 tokens: few tokens but long sequences, whose attention grows with their square.
    refused(requests.post(infer_url(worker), json=texts(9, 600), timeout=60), 413, "max_attention_cells=2097152")


def test_token_inputs_longer_than_the_positions_are_400_naming_the_limit(worker, bundle):
    # `thaw pack` records the model's position table in the bundle; the worker bounds sequences by it.
    info = json.loads(subprocess.run([THAW_BIN, "inspect", str(bundle), "--json"], capture_output=True, text=True,
                                     check=True).stdout)
    assert info["metadata"]["max_positions"] == 512
    assert requests.post(infer_url(worker), json=token_body(512), timeout=60).status_code == 200
    refused(requests.post(infer_url(worker), json=token_body(513), timeout=60), 400, "max_positions=512")


def test_json_depth_is_bounded_in_parameters_and_everywhere(worker):
    body = texts(1)
    for where in ("request", "input"):
        doc = json.loads(json.dumps(body))
        target = doc if where == "request" else doc["inputs"][0]
        target["parameters"] = {"x": json.loads(nested(28))}
        assert requests.post(infer_url(worker), json=doc, timeout=60).status_code == 200
        text = json.dumps(body)
        deep = ('{"parameters": {"x": ' + nested(100) + "}, " + text[1:]) if where == "request" else \
            text.replace('"name": "text"', '"parameters": {"x": ' + nested(100) + '}, "name": "text"')
        refused(requests.post(infer_url(worker), data=deep, timeout=60), 400, "max_json_depth=32")


def test_json_values_are_bounded_in_parameters(worker):
    body = texts(1)
    body["parameters"] = {"x": [0] * (1 << 20)}
    refused(requests.post(infer_url(worker), json=body, timeout=60), 413, "max_json_values=")


def test_refused_and_large_requests_leave_the_rss_where_it_was(worker):
    """No request over the bounds moves the RSS by more than a few MiB, and one at the bounds gives
    its memory back (it used to keep 1.5 GB)."""
    url = infer_url(worker)
    for _ in range(3):
        assert requests.post(url, json=texts(4), timeout=60).status_code == 200
    before = rss_mib(worker.proc.pid)
    # 60 MB of nesting in "parameters", 2 M values, 10,000 texts: each refused before the work.
    deep = '{"parameters": {"x": ' + nested(30 * MIB) + '}, "inputs": []}'
    refused(requests.post(url, data=deep, timeout=120), 400, "max_json_depth")
    values = '{"parameters": {"x": [' + ",".join(["0"] * (2 << 20)) + ']}, "inputs": []}'
    refused(requests.post(url, data=values, timeout=120), 413, "max_json_values")
    refused(requests.post(url, json=texts(10_000), timeout=120), 413, "max_batch")
    after_refused = settled_rss_mib(worker.proc.pid, before + 8)
    # At the bounds: 8 texts of 600 words run 8 x 512 tokens.
    assert requests.post(url, json=texts(8, 600), timeout=300).status_code == 200
    after_large = settled_rss_mib(worker.proc.pid, before + 16)
    print(f"rss MiB: before {before:.0f}, after refused {after_refused:.0f}, after a request at the bounds "
          f"{after_large:.0f}")
    assert after_refused - before < 8, (before, after_refused)
    assert after_large - before < 16, (before, after_large)


def test_response_size_is_bounded_before_the_answer_is_built(bundle, verify_cache):
    w = Worker(bundle, "--port", "0", "--verify-cache", str(verify_cache), "--max-response-bytes", "16384",
               "--max-batch", "4", "--max-request-tokens", "100", "--max-json-depth", "4")
    try:
        assert requests.post(infer_url(w), json=texts(1), timeout=60).status_code == 200
        refused(requests.post(infer_url(w), json=texts(4), timeout=60), 413, "max_response_bytes=16384")
        refused(requests.post(infer_url(w), json=texts(5), timeout=60), 413, "max_batch=4")
        refused(requests.post(infer_url(w), json=texts(2, 40), timeout=60), 413, "max_request_tokens=100")
        body = texts(1)
        body["parameters"] = {"x": [[[1]]]}
        refused(requests.post(infer_url(w), json=body, timeout=60), 400, "max_json_depth=4")
        help_text = subprocess.run([THAW_BIN, "run", "--help"], capture_output=True, text=True).stdout
        for flag in ("--max-batch", "--max-request-tokens", "--max-attention-cells", "--max-positions", "--max-response-bytes",
                     "--max-json-depth", "--max-json-values", "--verify", "--verify-cache"):
            assert flag in help_text, flag
    finally:
        assert w.stop() == 0


# ---------------------------------------------------------------- data checked before the first answer


def flipped_copy(bundle, out):
    """A copy of the bundle with one byte flipped in the middle of its data section."""
    shutil.copyfile(bundle, out)
    size = os.path.getsize(out)
    with open(out, "r+b") as f:
        f.seek(size // 2)
        b = f.read(1)
        f.seek(size // 2)
        f.write(bytes([b[0] ^ 0xFF]))
    return out


def test_a_corrupt_bundle_is_refused_with_exit_code_3(bundle, tmp_path):
    bad = flipped_copy(bundle, tmp_path / "flipped.thaw")
    r = subprocess.run([THAW_BIN, "run", str(bad), "--port", "0", "--verify-cache", str(tmp_path / "cache")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 3, r.stderr
    assert "flipped.thaw" in r.stderr and "failed the check" in r.stderr, r.stderr
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


def test_verification_is_remembered_until_the_file_changes(bundle, tmp_path):
    cache = tmp_path / "cache"
    copy = tmp_path / "m.thaw"
    shutil.copyfile(bundle, copy)
    def start():
        w = Worker(copy, "--port", "0", "--verify-cache", str(cache))
        assert w.stop() == 0
        return w.ready["timeline"]
    assert "verify_ms" in start()      # the first start checks
    assert len(list(cache.iterdir())) == 1
    assert "verify_ms" not in start()  # the second does not
    os.utime(copy, ns=(0, 1_000_000_000))
    assert "verify_ms" in start()      # a touched file is checked again


# ---------------------------------------------------------------- bad bundles in the models directory


def test_bad_bundles_are_listed_and_the_good_ones_served(bundle, tmp_path, monkeypatch):
    monkeypatch.setenv("THAW_VERIFY_CACHE", str(tmp_path / "verified"))
    models = tmp_path / "models"
    models.mkdir()
    os.symlink(bundle, models / "minilm.thaw")
    (models / "empty.thaw").write_bytes(b"")
    (models / "garbage.thaw").write_bytes(b"not a bundle at all" * 100)
    flipped_copy(bundle, models / "flipped.thaw")
    g = Gateway("--models", str(models), log_path=tmp_path / "serve.log")
    try:
        assert sorted(r["name"] for r in g.events[-1]["refused"]) == ["empty", "garbage"]
        listed = {r["name"]: r for r in g.get("/admin/models").json()["refused"]}
        assert sorted(listed) == ["empty", "garbage"]
        assert listed["empty"]["bundle"].endswith("empty.thaw") and listed["empty"]["error"]
        index = {m["name"]: m for m in g.post("/v2/repository/index").json()}
        assert index["empty"]["state"] == "UNAVAILABLE" and index["empty"]["reason"], index
        assert index["minilm"]["state"] == "READY"
        assert "empty" not in {m["name"] for m in g.post("/v2/repository/index", json={"ready": True}).json()}
        log = (tmp_path / "serve.log").read_text()
        assert "empty.thaw" in log and "garbage.thaw" in log
        r = g.post("/v2/models/minilm/infer", json=texts(2), timeout=120)
        assert r.status_code == 200, r.text
        r = g.post("/v2/models/garbage/infer", json=texts(1))
        assert r.status_code == 503 and "garbage.thaw" in r.json()["error"], r.text
        # Its header is fine, its data is not: the worker refuses it and the gateway says so.
        r = g.post("/v2/models/flipped/infer", json=texts(1), timeout=300)
        assert r.status_code == 503, r.text
        assert "failed the check" in r.json()["error"], r.text
    finally:
        assert g.stop() == 0, g.log_tail()


def test_strict_mode_refuses_to_start(bundle, tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    os.symlink(bundle, models / "minilm.thaw")
    (models / "empty.thaw").write_bytes(b"")
    r = subprocess.run([THAW_BIN, "serve", "--port", "0", "--models", str(models), "--strict"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stderr
    assert "empty.thaw" in r.stderr and "strict" in r.stderr, r.stderr
