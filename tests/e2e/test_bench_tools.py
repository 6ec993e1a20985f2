"""End-to-end checks of the benchmark helpers bench/worker.py relies on: the plain ONNX Runtime
exec -> first answer program (real MiniLM, against the sentence-transformers reference) and the
page-cache evict / residency tool."""
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("THAW_BIN", str(ROOT / "build" / "thaw"))).parent
ORT_FIRST_ANSWER = BUILD / "src" / "engine" / "onnx" / "thaw_ort_first_answer"
PAGE_CACHE = BUILD / "src" / "loader" / "thaw_page_cache"
MINILM = ROOT / "models" / "src" / "minilm"

pytestmark = pytest.mark.skipif(not (ORT_FIRST_ANSWER.exists() and PAGE_CACHE.exists()),
                                reason="benchmark helpers not built (THAW_BUILD_BENCH=OFF)")


def run(*args):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=120)


def cosine(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_ort_first_answer_matches_the_reference():
    ref = json.loads((MINILM / "reference.json").read_text())
    for index in (0, 2):
        r = run(ORT_FIRST_ANSWER, MINILM / "model.onnx", ",".join(map(str, ref["input_ids"][index])))
        assert r.returncode == 0, r.stderr
        line = json.loads(r.stdout)
        assert line["event"] == "answer"
        assert len(line["output"]) == 384
        assert cosine(line["output"], ref["embeddings"][index]) >= 0.9999
        assert line["create_ms"] > 0 and line["main_to_answer_ms"] >= line["create_ms"]


def test_ort_first_answer_rejects_bad_input(tmp_path):
    ids = "101,2023,102"
    assert run(ORT_FIRST_ANSWER).returncode == 1
    r = run(ORT_FIRST_ANSWER, MINILM / "model.onnx", "101,x,102")
    assert r.returncode == 1 and "bad token id" in r.stderr
    r = run(ORT_FIRST_ANSWER, tmp_path / "missing.onnx", ids)
    assert r.returncode == 1 and "session" in r.stderr
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x00not a model" * 100)
    assert run(ORT_FIRST_ANSWER, garbage, ids).returncode == 1
    r = run(ORT_FIRST_ANSWER, MINILM / "model.onnx", ids, "no_such_output")
    assert r.returncode == 1 and "run" in r.stderr


def fs_type(path):
    """File system type of the mount holding `path` (longest matching mount point)."""
    best, kind = "", ""
    for line in Path("/proc/mounts").read_text().splitlines():
        _, mount, fstype = line.split()[:3]
        if str(path).startswith(mount) and len(mount) > len(best):
            best, kind = mount, fstype
    return kind


def test_page_cache_evict_and_residency():
    d = BUILD / "test-page-cache"
    d.mkdir(exist_ok=True)
    f = d / "blob.bin"
    f.write_bytes(os.urandom(8 << 20))
    try:
        f.read_bytes()
        r = run(PAGE_CACHE, "residency", f)
        assert r.returncode == 0, r.stderr
        hot = json.loads(r.stdout)
        assert hot["file_bytes"] == 8 << 20 and hot["fraction"] == 1.0
        r = run(PAGE_CACHE, "evict", f)
        assert r.returncode == 0, r.stderr
        cold = json.loads(r.stdout)
        assert 0.0 <= cold["fraction"] <= 1.0
        if fs_type(f.resolve()) not in ("tmpfs", "ramfs", "overlay"):
            assert cold["fraction"] < 0.05
    finally:
        f.unlink()


def test_page_cache_errors(tmp_path):
    assert run(PAGE_CACHE).returncode == 2
    assert run(PAGE_CACHE, "drop", tmp_path).returncode == 2
    r = run(PAGE_CACHE, "residency", tmp_path / "missing")
    assert r.returncode == 1 and "missing" in r.stderr
    assert run(PAGE_CACHE, "evict", tmp_path / "missing").returncode == 1
