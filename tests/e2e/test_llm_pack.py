"""End-to-end: `thaw pack` for generative models beyond a ready GGUF: quantised with llama.cpp's own
quantizer in the same step (`--quantize q4_0`), and from a Hugging Face model directory through
llama.cpp's converter. A Q4 bundle's greedy output is checked token for token against llama.cpp's own
generator (examples/simple, linked with the same libllama) on the very GGUF inside the bundle."""
import json
import os
import pathlib
import subprocess
import sys

import pytest
import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from worker_harness import ROOT, THAW_BIN, Worker  # noqa: E402

sys.path.insert(0, str(ROOT / "tools"))
import bundle_file  # noqa: E402

LLM = ROOT / "models" / "src" / "llm-tiny"
LLAMA_SIMPLE = pathlib.Path(THAW_BIN).resolve().parent / "tests" / "engine" / "llm" / "thaw_llama_simple"
pytestmark = pytest.mark.skipif(not (LLM / "model-f16.gguf").exists(),
                                reason="scripts/setup.sh makes models/src/llm-tiny")
PROMPTS = ["the model", "Cold start of a warm zygote 42", "serve the request"]


def pack(src, out, *extra, check=True):
    p = subprocess.run([THAW_BIN, "pack", str(src), "-o", str(out), *extra], capture_output=True, text=True,
                       timeout=300)
    if check:
        assert p.returncode == 0, p.stderr
    return p


def manifest(bundle):
    out = subprocess.run([THAW_BIN, "inspect", str(bundle), "--json"], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def gguf_of(bundle, dest):
    """The GGUF a bundle holds, byte for byte (stored whole at its entry of the data section)."""
    return pathlib.Path(bundle_file.extract(bundle, "model.gguf", dest, THAW_BIN))


def gguf_file_type(path):
    sys.path.insert(0, str(pathlib.Path.home() / ".cache/thaw/llama.cpp-0.3.36/src/gguf-py"))
    import gguf
    r = gguf.GGUFReader(str(path))
    return int(r.fields["general.file_type"].parts[-1][0]), {t.tensor_type.name for t in r.tensors}


def llama_cpp_greedy(gguf, prompt, n):
    """llama.cpp's own greedy continuation: examples/simple prints the prompt, then each token."""
    p = subprocess.run([str(LLAMA_SIMPLE), "-m", str(gguf), "-n", str(n), prompt], capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.startswith(prompt.encode()) and p.stdout.endswith(b"\n"), p.stdout
    # Byte-level BPE pieces may split a UTF-8 character: decoded as a whole, as thaw's answer is.
    return p.stdout[len(prompt.encode()):-1].decode(errors="replace")


def complete(url, prompt, n):
    r = requests.post(f"http://{url}/v1/completions",
                      json={"prompt": prompt, "max_tokens": n, "temperature": 0}, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture(scope="module")
def q4(tmp_path_factory):
    d = tmp_path_factory.mktemp("q4")
    return pack(LLM / "model-f16.gguf", d / "tiny-q4.thaw", "--quantize", "q4_0") and d / "tiny-q4.thaw"


def test_quantize_writes_a_q4_gguf_into_the_bundle(q4, tmp_path):
    m = manifest(q4)
    assert m["metadata"]["llm"]["packed_from"] == {"format": "gguf", "quantize": "q4_0"}
    assert m["name"] == "model-f16"
    file_type, types = gguf_file_type(gguf_of(q4, tmp_path / "q4.gguf"))
    assert file_type == 2 and "Q4_0" in types, (file_type, types)  # LLAMA_FTYPE_MOSTLY_Q4_0
    assert q4.stat().st_size < 0.5 * (LLM / "model-f16.gguf").stat().st_size


@pytest.mark.skipif(not LLAMA_SIMPLE.exists(), reason="thaw_llama_simple is built with llama.cpp")
def test_q4_bundle_serves_greedy_tokens_equal_to_llama_cpps_own(q4, tmp_path):
    gguf = gguf_of(q4, tmp_path / "q4.gguf")
    w = Worker(q4, "--port", "0", "--backend-opt", "threads=1")
    try:
        for prompt in PROMPTS:
            expected = llama_cpp_greedy(gguf, prompt, 16)
            r = complete(w.url, prompt, 16)
            assert r["choices"][0]["text"] == expected, prompt
            assert r["usage"]["completion_tokens"] >= 1
    finally:
        assert w.stop() == 0


def test_q4_bundle_through_thaw_serve(q4, tmp_path):
    from serve_harness import Gateway
    ref = Worker(q4, "--port", "0", "--backend-opt", "threads=1")
    try:
        expected = complete(ref.url, "the model", 12)["choices"][0]["text"]
    finally:
        assert ref.stop() == 0
    g = Gateway.over_bundles(tmp_path, {"tiny-q4": q4})
    try:
        r = g.post("/v1/completions", json={"model": "tiny-q4", "prompt": "the model", "max_tokens": 12,
                                            "temperature": 0})
        assert r.status_code == 200, r.text
        assert r.json()["choices"][0]["text"] == expected
    finally:
        assert g.stop() == 0


def test_q4_k_m_packs_and_generates(tmp_path):
    # The tiny model's rows (64 wide) are narrower than a K-quant block (256): llama.cpp falls back to
    # a compatible type for those tensors, as it does for real models with such shapes.
    out = tmp_path / "km.thaw"
    pack(LLM / "model-f16.gguf", out, "--backend-opt", "quantize=Q4_K_M")
    assert manifest(out)["metadata"]["llm"]["packed_from"]["quantize"] == "q4_k_m"
    w = Worker(out, "--port", "0", "--backend-opt", "threads=1")
    try:
        assert complete(w.url, "the model", 8)["usage"]["completion_tokens"] >= 1
    finally:
        assert w.stop() == 0


@pytest.mark.parametrize("src,args,code,words", [
    ("f16", ["--quantize", "q3_xyz"], 1, ["q3_xyz", "q4_k_m"]),
    ("q8", ["--quantize", "q4_0"], 1, ["requantizing", "F16"]),
    ("text", ["--quantize", "q4_0"], 1, ["not a GGUF"]),
    ("text", [], 1, ["not a GGUF"]),
    ("f16", ["--backend-opt", "convert_type=q4_0"], 2, ["convert_type"]),
])
def test_bad_quantize_input_gets_a_clear_error_and_no_bundle(tmp_path, src, args, code, words):
    text = tmp_path / "notes.gguf"
    text.write_text("not a model\n" * 100)
    path = {"f16": LLM / "model-f16.gguf", "q8": LLM / "model-q8_0.gguf", "text": text}[src]
    out = tmp_path / "bad.thaw"
    p = pack(path, out, *args, check=False)
    assert p.returncode == code, p.stderr
    for w in words:
        assert w in p.stderr, p.stderr
    assert not out.exists()
    assert not list(tmp_path.glob("*.tmp*"))


def test_pack_a_hugging_face_directory_in_one_step(tmp_path):
    out = tmp_path / "hf.thaw"
    p = pack(LLM / "hf", out, "--name", "tiny-hf")
    assert "convert_hf_to_gguf.py" in p.stderr, p.stderr
    m = manifest(out)
    assert m["name"] == "tiny-hf"
    assert m["metadata"]["llm"]["packed_from"] == {"format": "huggingface", "convert_type": "f16"}
    assert m["metadata"]["llm"]["architecture"] == "qwen2" and "im_start" in m["metadata"]["llm"]["chat_template"]
    # The same converter, the same tree: the bundle's GGUF is the F16 file set-up made, byte for byte.
    assert gguf_of(out, tmp_path / "m.gguf").read_bytes() == (LLM / "model-f16.gguf").read_bytes()
    w = Worker(out, "--port", "0", "--backend-opt", "threads=1")
    try:
        assert complete(w.url, "the model", 4)["model"] == "tiny-hf"
    finally:
        assert w.stop() == 0


def test_hugging_face_directory_errors_are_clear(tmp_path):
    odd = tmp_path / "odd"
    odd.mkdir()
    config = json.loads((LLM / "hf" / "config.json").read_text())
    config["architectures"] = ["NoSuchModelForCausalLM"]
    (odd / "config.json").write_text(json.dumps(config))
    (odd / "model.safetensors").symlink_to(LLM / "hf" / "model.safetensors")
    p = pack(odd, tmp_path / "odd.thaw", check=False)
    assert p.returncode == 1 and "NoSuchModelForCausalLM" in p.stderr and "not supported" in p.stderr, p.stderr
    assert not (tmp_path / "odd.thaw").exists()

    env = dict(os.environ, THAW_LLAMA_SRC=str(tmp_path / "nowhere"))
    p = subprocess.run([THAW_BIN, "pack", str(LLM / "hf"), "-o", str(tmp_path / "x.thaw")], capture_output=True,
                       text=True, env=env, timeout=60)
    assert p.returncode == 4 and "convert_hf_to_gguf.py" in p.stderr and "setup.sh" in p.stderr, p.stderr

    # A folder without weights is no model directory: nobody claims it.
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "config.json").write_text("{}")
    p = pack(empty, tmp_path / "y.thaw", check=False)
    assert p.returncode == 2 and "cannot tell the format" in p.stderr, p.stderr
