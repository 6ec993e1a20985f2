"""End-to-end: generative GGUF models through `thaw pack` and `thaw run`, driven by the real
`openai` client: completions and chat, streamed and not, greedy output token for token against
transformers on the same weights, bad input, a client that disconnects mid-stream, concurrent
streams (continuous batching) and forked children of a zygote."""
import concurrent.futures
import json
import os
import socket
import subprocess
import sys
import time

import pytest
import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from worker_harness import ROOT, THAW_BIN, Worker, fork_child  # noqa: E402

LLM = ROOT / "models" / "src" / "llm-tiny"
openai = pytest.importorskip("openai")
pytestmark = pytest.mark.skipif(not (LLM / "model-f16.gguf").exists(),
                                reason="scripts/setup.sh makes models/src/llm-tiny")


def pack(gguf, out, *extra):
    subprocess.run([THAW_BIN, "pack", str(gguf), "-o", str(out), *extra], check=True, capture_output=True, timeout=120)
    return out


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return pack(LLM / "model-f16.gguf", tmp_path_factory.mktemp("llm") / "tiny.thaw")


@pytest.fixture(scope="module")
def worker(bundle):
    w = Worker(bundle, "--port", "0", "--backend-opt", "threads=1", "--backend-opt", "slots=4")
    yield w
    assert w.stop() == 0


def client(w):
    return openai.OpenAI(base_url=f"http://{w.url}/v1", api_key="unused", max_retries=0, timeout=60)


@pytest.fixture(scope="module")
def reference():
    """Greedy continuations from transformers on the same (F16-exact) weights."""
    torch = pytest.importorskip("torch")
    from transformers import AutoModelForCausalLM, AutoTokenizer
    tok = AutoTokenizer.from_pretrained(LLM / "hf")
    model = AutoModelForCausalLM.from_pretrained(LLM / "hf", torch_dtype=torch.float32)
    out = {}
    for prompt in ["the model", "Cold start of a warm zygote 42"]:
        ids = tok(prompt, return_tensors="pt").input_ids
        gen = model.generate(ids, max_new_tokens=20, do_sample=False, pad_token_id=0)
        new = gen[0, ids.shape[1]:].tolist()
        out[prompt] = (ids.shape[1], new, tok.decode(new, skip_special_tokens=True))
    return tok, out


def test_pack_records_tokenizer_template_and_defaults(bundle):
    info = subprocess.run([THAW_BIN, "inspect", str(bundle), "--json"], check=True, capture_output=True, text=True)
    m = json.loads(info.stdout)
    text = json.dumps(m)
    assert '"backend": "llm"' in text and "im_start" in text and "qwen2" in text, text[:2000]


def test_greedy_completion_matches_transformers_token_for_token(worker, reference):
    tok, ref = reference
    c = client(worker)
    for prompt, (n_prompt, ids, text) in ref.items():
        r = c.completions.create(model=worker.model, prompt=prompt, max_tokens=20, temperature=0)
        assert r.usage.prompt_tokens == n_prompt
        assert r.usage.completion_tokens == len(ids)  # the end token counts, as in transformers
        assert r.choices[0].text == text
        ended = ids[-1] in (tok.convert_tokens_to_ids("<|im_end|>"), tok.convert_tokens_to_ids("<|endoftext|>"))
        assert r.choices[0].finish_reason == ("stop" if ended else "length")
        # Token for token: a greedy stream sends one piece per token, each the decoded token.
        pieces = [ch.choices[0].text for ch in c.completions.create(
            model=worker.model, prompt=prompt, max_tokens=20, temperature=0, stream=True) if ch.choices]
        expected = [tok.decode([i]) for i in ids[: len(ids) - ended]]
        if not any("\ufffd" in e for e in expected):  # else partial UTF-8 pieces are merged
            assert [p for p in pieces if p] == expected


def test_streamed_completion_equals_the_whole_one(worker, reference):
    _, ref = reference
    c = client(worker)
    prompt = "the model"
    pieces = []
    for chunk in c.completions.create(model=worker.model, prompt=prompt, max_tokens=20, temperature=0, stream=True):
        if chunk.choices:
            pieces.append(chunk.choices[0].text)
    assert "".join(pieces) == ref[prompt][2]
    assert len(pieces) > 5  # token by token, not one lump


def test_chat_streaming_and_not_with_usage(worker):
    c = client(worker)
    msgs = [{"role": "system", "content": "You answer briefly."}, {"role": "user", "content": "Say hello."}]
    whole = c.chat.completions.create(model=worker.model, messages=msgs, max_tokens=12, temperature=0)
    assert whole.choices[0].message.role == "assistant"
    text = whole.choices[0].message.content
    assert whole.usage.completion_tokens >= 1 and whole.usage.prompt_tokens > 10
    stream = c.chat.completions.create(model=worker.model, messages=msgs, max_tokens=12, temperature=0, stream=True,
                                       stream_options={"include_usage": True})
    pieces, usage, finish = [], None, None
    for chunk in stream:
        if chunk.usage:
            usage = chunk.usage
        for ch in chunk.choices:
            pieces.append(ch.delta.content or "")
            finish = ch.finish_reason or finish
    assert "".join(pieces) == text
    assert usage.total_tokens == whole.usage.total_tokens
    assert finish == whole.choices[0].finish_reason


def test_sampling_is_seeded_and_stop_strings_cut(worker):
    c = client(worker)
    a = c.completions.create(model=worker.model, prompt="the", max_tokens=16, temperature=1.0, top_p=0.9, seed=7)
    b = c.completions.create(model=worker.model, prompt="the", max_tokens=16, temperature=1.0, top_p=0.9, seed=7)
    assert a.choices[0].text == b.choices[0].text
    full = c.completions.create(model=worker.model, prompt="the model", max_tokens=20, temperature=0).choices[0].text
    stop = full[5:8]
    cut = c.completions.create(model=worker.model, prompt="the model", max_tokens=20, temperature=0, stop=[stop])
    assert cut.choices[0].text == full[: full.index(stop)]
    assert cut.choices[0].finish_reason == "stop"


def test_models_list(worker):
    models = client(worker).models.list()
    assert [m.id for m in models.data] == [worker.model]


@pytest.mark.parametrize("body,status,word", [
    ({"prompt": "x", "max_tokens": 10**9}, 400, "max_tokens"),
    ({"prompt": "x", "temperature": -1}, 400, "temperature"),
    ({"prompt": "x", "top_p": 1.5}, 400, "top_p"),
    ({"prompt": "x", "n": 3}, 400, "'n'"),
    ({"prompt": ["a", "b"]}, 400, "prompt"),
    ({"prompt": 5}, 400, "prompt"),
    ({"model": "other", "prompt": "x"}, 404, "other"),
    ({"prompt": "x", "stop": [""]}, 400, "stop"),
])
def test_bad_completion_requests_get_clear_errors(worker, body, status, word):
    r = requests.post(f"http://{worker.url}/v1/completions", json=body, timeout=30)
    assert r.status_code == status, r.text
    assert word in r.json()["error"]["message"]


@pytest.mark.parametrize("body,word", [
    ({"messages": []}, "messages"),
    ({"messages": [{"role": "wizard", "content": "x"}]}, "role"),
    ({"messages": [{"content": "x"}]}, "role"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, "content"),
    ({"messages": "hello"}, "messages"),
])
def test_malformed_chat_messages_get_400(worker, body, word):
    r = requests.post(f"http://{worker.url}/v1/chat/completions", json=body, timeout=30)
    assert r.status_code == 400, r.text
    assert word in r.json()["error"]["message"]


def test_prompt_over_the_context_is_refused(worker):
    c = client(worker)
    ctx = c.models.list().data[0].model_extra["context_length"]
    with pytest.raises(openai.BadRequestError) as e:
        c.completions.create(model=worker.model, prompt="the model " * ctx, max_tokens=4)
    assert "context" in str(e.value)
    r = requests.post(f"http://{worker.url}/v1/completions", data=b"{not json", timeout=30)
    assert r.status_code == 400


def test_concurrent_streams_share_the_instance(worker, reference):
    _, ref = reference
    prompt = "the model"

    def one(_):
        return client(worker).completions.create(model=worker.model, prompt=prompt, max_tokens=20,
                                                 temperature=0).choices[0].text

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        texts = list(pool.map(one, range(8)))
    # Batched with each other (4 slots, 4 queued), every answer is still the greedy one.
    assert texts == [ref[prompt][2]] * 8


def test_client_that_disconnects_mid_stream_frees_its_slot(bundle):
    w = Worker(bundle, "--port", "0", "--backend-opt", "threads=1", "--backend-opt", "slots=1",
               "--backend-opt", "queue=0")
    try:
        # Greedy "the model" runs to max_tokens on this model (no end token): only a cancel frees the slot.
        body = json.dumps({"prompt": "the model", "max_tokens": 3000, "temperature": 0, "stream": True}).encode()
        s = socket.create_connection(("127.0.0.1", w.port), timeout=10)
        s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        got = b""
        while got.count(b"data:") < 3:
            got += s.recv(4096)
        # The one slot is busy and nothing may wait: a second request is refused.
        busy = requests.post(f"http://{w.url}/v1/completions", json={"prompt": "x", "max_tokens": 2}, timeout=30)
        assert busy.status_code == 429, busy.text
        assert b"[DONE]" not in got + s.recv(65536)  # still generating when the client goes
        s.close()
        deadline = time.monotonic() + 5
        while True:
            r = requests.post(f"http://{w.url}/v1/completions", json={"prompt": "x", "max_tokens": 2}, timeout=30)
            if r.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        assert r.status_code == 200, r.text
    finally:
        assert w.stop() == 0


def test_zygote_forks_children_that_generate(bundle, reference, tmp_path):
    _, ref = reference
    control = tmp_path / "control.sock"
    w = Worker(bundle, "--zygote", str(control), "--backend-opt", "threads=2", wait_ready=False)
    try:
        w.wait_for("zygote_ready", 60)
        # Loaded, context built, warmed up, and still one thread: safe to fork.
        assert len(os.listdir(f"/proc/{w.proc.pid}/task")) == 1
        for _ in range(2):
            status, pid, endpoint = fork_child(control)
            assert status == "ready", (status, pid, endpoint)
            c = openai.OpenAI(base_url=f"http://{endpoint}/v1", api_key="unused", max_retries=0, timeout=60)
            r = c.completions.create(model=w.wait_for("zygote_ready")["model"], prompt="the model", max_tokens=20,
                                     temperature=0)
            assert r.choices[0].text == ref["the model"][2]
    finally:
        assert w.stop() == 0


def test_serve_routes_openai_requests_by_the_body_model(bundle, reference, tmp_path):
    from serve_harness import Gateway
    _, ref = reference
    g = Gateway.over_bundles(tmp_path, {"tiny": bundle})
    try:
        c = openai.OpenAI(base_url=f"{g.base}/v1", api_key="unused", max_retries=0, timeout=120)
        assert [m.id for m in c.models.list().data] == ["tiny"]
        # The first request starts the model (from disk), streamed through the gateway.
        pieces = [ch.choices[0].text for ch in c.completions.create(
            model="tiny", prompt="the model", max_tokens=20, temperature=0, stream=True) if ch.choices]
        assert "".join(pieces) == ref["the model"][2]
        chat = c.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "hi"}], max_tokens=4)
        assert chat.usage.completion_tokens >= 1
        with pytest.raises(openai.NotFoundError):
            c.completions.create(model="nope", prompt="x", max_tokens=2)
        r = g.post("/v1/completions", json={"prompt": "x"})
        assert r.status_code == 400 and "model" in r.json()["error"]["message"]
        # A refusal of the gateway's shared proxy path (an unknown latency tier) in OpenAI's shape too.
        with pytest.raises(openai.BadRequestError) as refused:
            c.completions.create(model="tiny", prompt="x", max_tokens=2, extra_headers={"X-Latency-Tier": "gold"})
        assert isinstance(refused.value.body, dict) and "premium" in refused.value.body["message"]
        assert refused.value.body["type"] == "invalid_request_error"
    finally:
        assert g.stop() == 0


def test_zygote_keeps_the_warm_up_prompt_for_chat_requests_that_share_it(tmp_path):
    """Packed with the application's system prompt (rendered by the model's own chat template) as the
    warm-up prompt, a zygote's child reuses that prefix's KV: the usage says so, and the greedy answer
    is the one an instance without the prompt cache gives."""
    from transformers import AutoTokenizer
    system = "You are a terse assistant for a team that runs models; answer in one short sentence."
    rendered = AutoTokenizer.from_pretrained(LLM / "hf").apply_chat_template(
        [{"role": "system", "content": system}], tokenize=False)
    b = pack(LLM / "model-f16.gguf", tmp_path / "chat.thaw", "--backend-opt", f"warmup_prompt={rendered}")
    msgs = [{"role": "system", "content": system}, {"role": "user", "content": "What is a cold start?"}]
    plain = Worker(b, "--port", "0", "--backend-opt", "threads=1", "--backend-opt", "prompt_cache=0")
    try:
        expected = client(plain).chat.completions.create(model=plain.model, messages=msgs, max_tokens=16,
                                                         temperature=0)
        assert expected.usage.prompt_tokens_details.cached_tokens == 0
    finally:
        assert plain.stop() == 0
    control = tmp_path / "control.sock"
    z = Worker(b, "--zygote", str(control), "--backend-opt", "threads=1", wait_ready=False)
    try:
        model = z.wait_for("zygote_ready", 60)["model"]
        status, pid, endpoint = fork_child(control)
        assert status == "ready", (status, pid, endpoint)
        c = openai.OpenAI(base_url=f"http://{endpoint}/v1", api_key="unused", max_retries=0, timeout=60)
        r = c.chat.completions.create(model=model, messages=msgs, max_tokens=16, temperature=0)
        assert r.choices[0].message.content == expected.choices[0].message.content
        assert r.usage.prompt_tokens == expected.usage.prompt_tokens
        assert r.usage.prompt_tokens_details.cached_tokens > 10
    finally:
        assert z.stop() == 0
