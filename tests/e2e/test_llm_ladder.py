"""End-to-end: generative GGUF models through the ladder of `thaw serve`, as the ONNX models go: a
small GGUF student answers /v1/chat/completions while the big model starts (marked by
X-Thaw-Served-By), latency tiers (X-Latency-Tier) with a reserved pool, the memory budget demoting an
idle LLM instance and serving it again, and the admin API moving a model between rungs (zygote,
disk) with the answers unchanged. The "big" model is the tiny synthetic one in F16, its student the
same model quantised to Q4_0: quick, yet two real GGUF models."""
import json
import os
import shutil
import subprocess
import sys
import time

import pytest
import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_client import json_error, metric  # noqa: E402
from serve_harness import Gateways  # noqa: E402
from worker_harness import ROOT, THAW_BIN  # noqa: E402

LLM = ROOT / "models" / "src" / "llm-tiny"
pytestmark = pytest.mark.skipif(not (LLM / "model-f16.gguf").exists(),
                                reason="scripts/setup.sh makes models/src/llm-tiny")
WORKER_ARGS = ["--backend-opt", "threads=1", "--backend-opt", "slots=2", "--backend-opt", "context=512"]
CHAT = {"messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 8, "temperature": 0}


def pack(src, out, *extra):
    subprocess.run([THAW_BIN, "pack", str(src), "-o", str(out), *extra], check=True, capture_output=True, timeout=120)
    return out


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    d = tmp_path_factory.mktemp("llm-ladder")
    return {"big": pack(LLM / "model-f16.gguf", d / "big.thaw"),
            "small": pack(LLM / "model-f16.gguf", d / "small.thaw", "--quantize", "q4_0")}


@pytest.fixture()
def serve(tmp_path):
    gateways = Gateways(tmp_path)

    def start(models, server=None):
        return gateways.start({
            "server": {"tick_interval_ms": 50, **(server or {})}, "models_dir": str(tmp_path / "none"),
            "models": [{"bundle": str(b), "worker_args": WORKER_ARGS, **m} for b, m in models]})

    yield start
    gateways.close()


def chat(g, model, tier=None, **extra):
    headers = {"X-Latency-Tier": tier} if tier else {}
    return g.post("/v1/chat/completions", json={"model": model, **CHAT, **extra}, headers=headers, timeout=60)


def test_a_small_gguf_student_answers_while_the_big_one_starts(serve, bundles):
    g = serve([(bundles["big"], {"name": "big", "student": "small"}),
               (bundles["small"], {"name": "small", "min_instances": 1})],
              server={"policy": "fixed:keepalive_min=5"})
    g.wait_until(lambda: len(g.models()["small"]["instances"]) == 1, 60, "the student's floor")
    first = chat(g, "big")
    assert first.status_code == 200, first.text
    assert first.headers.get("X-Thaw-Served-By") == "small"
    assert first.json()["model"] == "small"  # the student answers under its own name
    assert first.json()["choices"][0]["message"]["content"] == chat(g, "small").json()["choices"][0]["message"]["content"]

    g.wait_until(lambda: len(g.models()["big"]["instances"]) == 1, 60, "the big model to start")
    later = chat(g, "big")
    assert later.status_code == 200 and "X-Thaw-Served-By" not in later.headers
    assert later.json()["model"] == "big"
    # Streamed answers come from the big model too, once it is up.
    with requests.post(f"{g.base}/v1/chat/completions", json={"model": "big", **CHAT, "stream": True},
                       stream=True, timeout=60) as r:
        body = b"".join(r.iter_content(None))
    assert r.status_code == 200 and "X-Thaw-Served-By" not in r.headers and body.rstrip().endswith(b"data: [DONE]")
    assert metric(g.get("/metrics").text, "thaw_gateway_student_answers_total", model="big") >= 1


def test_latency_tiers_premium_uses_the_reserved_llm_instance(serve, bundles):
    g = serve([(bundles["big"], {"name": "big", "reserved_instances": 1})])
    g.wait_until(lambda: [i["pool"] for i in g.models()["big"]["instances"]] == ["reserved"], 60,
                 "the reserved instance")
    premium = chat(g, "big", tier="premium")
    assert premium.status_code == 200 and "X-Thaw-Cold-Start" not in premium.headers, premium.headers
    standard = chat(g, "big", tier="standard")
    assert standard.status_code == 200
    assert "X-Thaw-Cold-Start" in standard.headers, "standard must not borrow the reserved pool"
    assert standard.json()["choices"] == premium.json()["choices"]
    assert sorted(i["pool"] for i in g.models()["big"]["instances"]) == ["reserved", "shared"]
    bad = chat(g, "big", tier="gold")
    assert bad.status_code == 400 and "premium" in bad.json()["error"]["message"]  # OpenAI's error shape


def test_the_memory_budget_demotes_an_idle_llm_and_serves_it_again(serve, bundles, tmp_path):
    # Private copies: no other test's instance shares their pages, so PSS is what one instance costs.
    # The worker's default slots and context, which the manager's estimate before a first start assumes.
    private = shutil.copy(bundles["big"], tmp_path / "private.thaw")
    defaults = {"worker_args": ["--backend-opt", "threads=1"]}
    probe = serve([(private, {"name": "a", **defaults})])
    estimate = probe.models()["a"]["fresh_instance_estimate_bytes"]
    assert chat(probe, "a").status_code == 200
    probe.wait_until(lambda: probe.models()["a"]["instances"][0]["pss_bytes"] > 0, 10, "a PSS measurement")
    pss = probe.models()["a"]["instances"][0]["pss_bytes"]
    assert probe.stop() == 0
    # The estimate from the manifest (GGUF, KV cache of every slot, buffers, process) is near the truth.
    assert 0.8 * pss < estimate < 1.9 * pss, (pss >> 20, estimate >> 20)
    # Room for one instance (and for the estimate made before the first is measured), not for two.
    budget_mb = int(max(pss * 1.3, estimate * 1.05)) // (1 << 20) + 1

    g = serve([(private, {"name": "a", **defaults}), (private, {"name": "b", **defaults})],
              server={"memory_budget_mb": budget_mb})
    a = chat(g, "a")
    assert a.status_code == 200, (pss >> 20, budget_mb, a.text)
    g.wait_until(lambda: g.models()["a"]["memory_bytes"] > 0, 10, "a's PSS")
    b = chat(g, "b")
    assert b.status_code == 200, b.text
    g.wait_until(lambda: g.models()["a"]["instances"] == [], 10, "a to be demoted")
    assert len(g.models()["b"]["instances"]) == 1
    assert metric(g.get("/metrics").text, "thaw_memory_budget_bytes") == budget_mb << 20
    again = chat(g, "a")
    assert again.status_code == 200 and "X-Thaw-Cold-Start" in again.headers
    assert again.json()["choices"][0]["message"] == a.json()["choices"][0]["message"]
    g.wait_until(lambda: g.models()["b"]["instances"] == [], 10, "b to be demoted")


def test_the_admin_api_moves_an_llm_between_rungs(serve, bundles):
    g = serve([(bundles["big"], {"name": "big"})], server={"policy": "fixed:keepalive_min=5"})
    assert g.models()["big"]["rung"] in ("disk", "page_cache")
    warm = chat(g, "big")
    assert warm.status_code == 200 and warm.headers["X-Thaw-Cold-Start"] in ("disk", "page_cache")
    assert g.models()["big"]["rung"] == "warm"

    r = g.post("/admin/models/big/prewarm", json={"rung": "zygote"})
    assert r.status_code == 200 and r.json()["rung"] == "zygote", r.text
    g.wait_until(lambda: g.models()["big"]["instances"] == [], 10, "instances to stop at the zygote rung")
    m = g.models()["big"]
    assert m["rung"] == "zygote" and m["zygote"]["pid"] > 0
    forked = chat(g, "big")
    assert forked.status_code == 200 and forked.headers["X-Thaw-Cold-Start"] == "zygote"
    assert forked.json()["choices"] == warm.json()["choices"]

    r = g.post("/admin/models/big/drain", json={"rung": "disk"})
    assert r.status_code == 200, r.text
    g.wait_until(lambda: g.models()["big"]["rung"] == "disk" and not g.models()["big"]["instances"], 10, "disk")
    assert g.models()["big"]["zygote"] is None or not g.models()["big"]["zygote"].get("pid")
    assert g.post("/admin/models/big/prewarm", json={"rung": "warm"}).status_code == 200
    assert len(g.models()["big"]["instances"]) == 1


def test_a_streamed_generation_outlives_the_request_timeout_while_tokens_flow(serve, bundles):
    # request_timeout_ms bounds the wait for an answer and then each pause between two pieces of a
    # stream: a long generation that keeps sending tokens is never cut, a silent one is.
    g = serve([(bundles["big"], {"name": "big", "request_timeout_ms": 300, "worker_args": ["--backend-opt", "threads=1"]})])
    assert g.post("/admin/models/big/prewarm").status_code == 200
    body = {"model": "big", "prompt": "the model", "max_tokens": 3000, "ignore_eos": True, "temperature": 0}
    t0 = time.monotonic()
    with requests.post(f"{g.base}/v1/completions", json={**body, "stream": True}, stream=True, timeout=60) as r:
        events = [line for line in r.iter_lines() if line.startswith(b"data:")]
    took = time.monotonic() - t0
    assert r.status_code == 200 and events[-1] == b"data: [DONE]", events[-3:]
    last = json.loads(events[-2][5:])
    assert last["choices"][0]["finish_reason"] == "length", last
    if took < 0.6:
        pytest.skip(f"generated 3000 tokens in {took:.2f} s: too fast to outlast the timeout")
    whole = g.post("/v1/completions", json=body)
    assert whole.status_code == 504 and "request_timeout_ms" in whole.text, whole.text
    assert chat(g, "big").status_code == 200  # and the model keeps serving
