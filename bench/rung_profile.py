#!/usr/bin/env python3
"""MiniLM's rung profile as `thaw serve` measures it, written with `thaw serve --write-profile`.

One `thaw serve` over a private copy of the MiniLM bundle (fixed keep-alive of an hour, so only the
admin API moves the model). --runs times each: a start from the zygote (admin drain to zygote), from
the page cache (drain to page_cache, the bundle read whole), from disk (drain to disk, the bundle
evicted with posix_fadvise). After each, the server has measured what the rung held (the zygote's
PSS, the bundle's bytes in the page cache, a fresh instance's PSS). On SIGTERM the server writes
the profile: latency is the mean instance start from each rung (launch to ready), memory is
relative to a fresh instance's PSS. The client also times each first answer (send to response)
minus a warm one, the definition of the earlier hand-written profile, for comparison.
Writes profiles/minilm-measured.yaml (the served file with a header) and bench/results/profile-latest.json.

Usage: bench/profile.sh [--runs 3] [--thaw PATH]
"""
import argparse
import datetime as dt
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from gateway import EventProcess, admin, evict, log, read_whole  # noqa: E402
from worker_harness import MINILM  # noqa: E402  (gateway put tests/e2e on the path)

RUNGS = ["zygote", "page_cache", "disk"]


def first_answer_ms(port):
    body = json.dumps({"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES",
                                   "data": ["the ladder keeps models close"]}]})
    t0 = time.perf_counter()
    status, answer = admin(port, "POST", "/v2/models/minilm/infer", json.loads(body))
    if status != 200:
        raise RuntimeError(f"infer answered {status}: {answer}")
    return (time.perf_counter() - t0) * 1e3


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--thaw", default=str(ROOT / "build" / "thaw"))
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        bundle = tmp / "minilm.thaw"
        subprocess.run([a.thaw, "pack", str(MINILM / "model.onnx"), "--extra", str(MINILM / "tokenizer.json"),
                        "--name", "minilm", "-o", str(bundle)], check=True, capture_output=True, timeout=600)
        cfg = tmp / "thaw.yaml"
        cfg.write_text(json.dumps({"server": {"port": 0, "policy": "fixed:keepalive_min=60"},
                                   "models": [{"name": "minilm", "bundle": str(bundle)}]}))
        written = tmp / "measured.yaml"
        g = EventProcess([a.thaw, "serve", "--config", str(cfg), "--write-profile", str(written)], "thaw serve")
        port = g.wait_for("serving", 60)["port"]

        def models():
            return {m["name"]: m for m in admin(port, "GET", "/admin/models")[1]["models"]}

        def served_text():
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/profile", timeout=60) as r:
                return r.read().decode()

        def profile():
            return yaml.safe_load(served_text())["models"]["minilm"]

        def until(pred, what, timeout=30):
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if pred():
                    return
                time.sleep(0.2)
            raise RuntimeError(f"timed out waiting for {what}")

        client = {r: [] for r in ["warm"] + RUNGS}
        try:
            admin(port, "POST", "/admin/models/minilm/prewarm", {"rung": "warm"})
            first_answer_ms(port)
            until(lambda: profile()["warm_mb"] > 0, "a fresh instance's PSS")
            for _ in range(a.runs):
                client["warm"].append(first_answer_ms(port))
                for rung in RUNGS:
                    admin(port, "POST", "/admin/models/minilm/drain", {"rung": rung})
                    until(lambda: models()["minilm"]["instances"] == [], f"instances to stop at {rung}")
                    if rung == "page_cache":
                        read_whole(bundle)
                        # The cached bytes are read at the server's next refresh of costs (every 10 s).
                        until(lambda: profile()["page_cache_mb"] > 0, "the page cache's bytes", 30)
                    if rung == "zygote":
                        until(lambda: profile()["zygote_mb"] > 0, "the zygote's PSS")
                    if rung == "disk":
                        evict(bundle)
                    client[rung].append(first_answer_ms(port))
                    # A fresh instance's PSS after each non-forked start, a second after it is up.
                    time.sleep(1.5)
            served = served_text()
        finally:
            g.stop()
        text = written.read_text()
    measured = yaml.safe_load(text)
    warm_ms = statistics.median(client["warm"])
    first_answer = {r: statistics.median(v) - warm_ms for r, v in client.items() if r != "warm"}
    m = measured["models"]["minilm"]
    header = (f"# MiniLM's rung profile (173 MiB bundle, 86 MiB of weights), written by `thaw serve --write-profile`\n"
              f"# and reproduced by bench/profile.sh ({a.runs} starts per rung, {dt.date.today()}, load average "
              f"{os.getloadavg()[0]:.1f}). Latency: mean instance start\n"
              f"# (launch to ready). Memory: fresh instance {m['warm_mb']:.0f} MiB PSS, zygote {m['zygote_mb']:.0f} MiB "
              f"PSS, bundle in the page cache {m['page_cache_mb']:.0f} MiB.\n"
              f"# First answer minus a warm one, client side (medians): "
              + ", ".join(f"{r} {v:.1f} ms" for r, v in first_answer.items()) + ".\n")
    (ROOT / "profiles" / "minilm-measured.yaml").write_text(header + text)
    out = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "runs": a.runs,
           "loadavg": os.getloadavg(), "profile": measured, "served_while_running_equals_written": served == text,
           "client_first_answer_minus_warm_ms": first_answer, "client_samples_ms": client}
    (ROOT / "bench" / "results" / "profile-latest.json").write_text(json.dumps(out, indent=1) + "\n")
    log(header + text)


if __name__ == "__main__":
    main()
