"""`thaw pack` on the real MiniLM model: the bundle's graph.onnx plus its data section (read here
straight from the file by the format in docs/format.md) must reproduce the original model's output
under ONNX Runtime; the zstd bundle must hold the same logical bytes and verify clean."""
import json
import os
import struct
import subprocess
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

ROOT = Path(__file__).resolve().parents[2]
THAW = os.environ.get("THAW_BIN", str(ROOT / "build" / "thaw"))
MODEL_DIR = ROOT / "models" / "src" / "minilm"
MODEL = MODEL_DIR / "model.onnx"

pytestmark = pytest.mark.skipif(not MODEL.exists(), reason="models/src/minilm is not exported")


def run_thaw(*args, check=True):
    return subprocess.run([THAW, *map(str, args)], capture_output=True, text=True, check=check)


def read_bundle(path):
    """Parses an uncompressed bundle independently of the C++ reader: header, manifest, data."""
    blob = Path(path).read_bytes()
    assert blob[:4] == b"THAW"
    version, m_off, m_len, d_off, d_stored, f_len = struct.unpack_from("<IQQQQQ", blob, 4)
    assert version == 1 and f_len == len(blob) and d_off % 4096 == 0
    manifest = json.loads(blob[m_off:m_off + m_len])
    assert manifest["compression"] == "none"
    data = blob[d_off:d_off + manifest["data_length"]]
    assert len(data) == manifest["data_length"] == d_stored
    return manifest, data


@pytest.fixture(scope="module")
def packed(tmp_path_factory):
    out = tmp_path_factory.mktemp("pack")
    plain, zstd = out / "minilm.thaw", out / "minilm.zstd.thaw"
    # --no-ort: ONNX Runtime's format writer is not byte-deterministic, and these tests compare
    # two packs byte for byte. The default (with graph.ort) is covered by test_default_pack_adds_ort_model.
    run_thaw("pack", MODEL, "-o", plain, "--name", "minilm", "--extra", MODEL_DIR / "tokenizer.json", "--no-ort")
    run_thaw("pack", MODEL, "-o", zstd, "--compress", "zstd", "--name", "minilm",
             "--extra", MODEL_DIR / "tokenizer.json", "--no-ort")
    return out, plain, zstd


def test_default_pack_adds_ort_model(tmp_path):
    out = tmp_path / "minilm.thaw"
    run_thaw("pack", MODEL, "-o", out, "--name", "minilm")
    manifest, data = read_bundle(out)
    ort_file = next(f for f in manifest["files"] if f["name"] == "graph.ort")
    assert ort_file["offset"] % 4096 == 0 and ort_file["length"] > 80_000_000
    assert manifest["metadata"]["ort_version"]
    assert run_thaw("verify", out).returncode == 0


def reference_inputs():
    ref = json.loads((MODEL_DIR / "reference.json").read_text())
    ids = ref["input_ids"][:4]
    width = max(len(x) for x in ids)
    input_ids = np.zeros((len(ids), width), dtype=np.int64)
    mask = np.zeros_like(input_ids)
    for i, row in enumerate(ids):
        input_ids[i, :len(row)] = row
        mask[i, :len(row)] = 1
    return {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": np.zeros_like(input_ids)}


def test_graph_and_data_section_reproduce_the_model(packed, tmp_path):
    _, plain, _ = packed
    manifest, data = read_bundle(plain)
    files = {f["name"]: f for f in manifest["files"]}
    graph = files["graph.onnx"]
    (tmp_path / "graph.onnx").write_bytes(data[graph["offset"]:graph["offset"] + graph["length"]])
    (tmp_path / "thaw.data").write_bytes(data)

    # Every initializer is an external reference into thaw.data at its tensor's offset.
    g = onnx.load(str(tmp_path / "graph.onnx"), load_external_data=False)
    tensors = {t["name"]: t for t in manifest["tensors"]}
    external = 0
    for init in g.graph.initializer:
        if init.data_location != onnx.TensorProto.EXTERNAL:
            assert not init.dims or 0 in init.dims, f"{init.name} kept inline"
            continue
        ext = {e.key: e.value for e in init.external_data}
        t = tensors[init.name]
        assert ext == {"location": "thaw.data", "offset": str(t["offset"]), "length": str(t["length"])}
        assert not init.raw_data
        external += 1
    assert external == len(tensors) > 50

    inputs = reference_inputs()
    want = ort.InferenceSession(str(MODEL), providers=["CPUExecutionProvider"]).run(None, inputs)
    got = ort.InferenceSession(str(tmp_path / "graph.onnx"), providers=["CPUExecutionProvider"]).run(None, inputs)
    assert len(got) == len(want)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)

    # The bundle records the signature and a BERT-style warm-up request the graph accepts.
    sig = manifest["metadata"]["signature"]
    assert [i["name"] for i in sig["inputs"]] == ["input_ids", "attention_mask", "token_type_ids"]
    assert sig["outputs"][0]["name"] == "sentence_embedding"
    warm = {}
    for w in manifest["warmup"][0]["inputs"]:
        f = files[w["file"]]
        warm[w["name"]] = np.frombuffer(data[f["offset"]:f["offset"] + f["length"]], dtype=np.int64).reshape(w["shape"])
    assert warm["input_ids"][0, 0] == 101 and warm["input_ids"][0, -1] == 102
    out = ort.InferenceSession(str(tmp_path / "graph.onnx"), providers=["CPUExecutionProvider"]).run(None, warm)
    assert out[0].shape == (1, 384)


def test_extra_file_is_stored_verbatim(packed):
    _, plain, _ = packed
    manifest, data = read_bundle(plain)
    f = next(f for f in manifest["files"] if f["name"] == "tokenizer.json")
    assert data[f["offset"]:f["offset"] + f["length"]] == (MODEL_DIR / "tokenizer.json").read_bytes()


def test_zstd_bundle_holds_the_same_data_and_verifies(packed):
    _, plain, zstd = packed
    a = json.loads(run_thaw("inspect", "--json", plain).stdout)
    b = json.loads(run_thaw("inspect", "--json", zstd).stdout)
    assert b["compression"] == "zstd" and b["byte_shuffle"] is True
    assert a["tensors"] == b["tensors"] and a["files"] == b["files"]
    assert [c["id"] for c in a["chunks"]] == [c["id"] for c in b["chunks"]]
    assert b["file_size"] < a["file_size"]
    assert run_thaw("verify", zstd).returncode == 0


def test_verify_exit_codes(packed, tmp_path):
    _, plain, _ = packed
    assert run_thaw("verify", plain).returncode == 0
    manifest, _ = read_bundle(plain)
    t = next(t for t in manifest["tensors"] if t["name"] == "bert.embeddings.word_embeddings.weight")
    blob = bytearray(Path(plain).read_bytes())
    d_off = struct.unpack_from("<Q", blob, 24)[0]
    blob[d_off + t["offset"] + 1000] ^= 0xFF
    bad = tmp_path / "bad.thaw"
    bad.write_bytes(bytes(blob))
    r = run_thaw("verify", bad, check=False)
    assert r.returncode == 3
    assert "bert.embeddings.word_embeddings.weight" in r.stderr
    assert run_thaw("verify", tmp_path / "missing.thaw", check=False).returncode == 4
    (tmp_path / "junk.thaw").write_bytes(b"not a bundle at all" * 10)
    r = run_thaw("inspect", tmp_path / "junk.thaw", check=False)
    assert r.returncode == 3 and "bad magic" in r.stderr
    assert run_thaw("pack", tmp_path / "nope.onnx", "-o", tmp_path / "x.thaw", check=False).returncode == 4
