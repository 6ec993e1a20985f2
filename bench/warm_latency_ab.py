#!/usr/bin/env python3
"""Warm-request latency through `thaw serve`, two builds side by side (A/B), rounds alternating.

Each round starts a fresh `thaw serve` per build over the tiny model (tools/make_tiny_model.py;
one warm instance), warms it, then sends --requests sequential requests on one keep-alive
connection and records each latency. Prints per build the median over rounds of p50 and p99, and
the ratio B/A. Meant for "did the HTTP layer change warm latency": the tiny model's inference
costs little, so the gateway's own work is most of what is measured.

Usage: bench/warm_latency_ab.py --a OLD/thaw --b NEW/thaw [--rounds 5] [--requests 2000]
Writes bench/results/warm-latency-ab.json.
"""
import argparse
import http.client
import json
import pathlib
import statistics
import subprocess
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
DATA = ROOT / "bench" / "data"


def run_once(thaw, models_dir, body, requests):
    with tempfile.TemporaryDirectory() as d:
        cfg = pathlib.Path(d) / "thaw.yaml"
        cfg.write_text(json.dumps({"models_dir": str(models_dir), "defaults": {"min_instances": 1, "max_instances": 1}}))
        proc = subprocess.Popen([thaw, "serve", "--config", str(cfg), "--port", "0"], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL)
        try:
            port = None
            while port is None:
                ev = json.loads(proc.stdout.readline())
                if ev.get("event") == "serving":
                    port = ev["port"]
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            headers = {"Content-Type": "application/json"}

            def one():
                t0 = time.perf_counter()
                conn.request("POST", "/v2/models/tiny/infer", body=body, headers=headers)
                r = conn.getresponse()
                r.read()
                if r.status != 200:
                    raise RuntimeError(f"status {r.status}")
                return time.perf_counter() - t0

            deadline = time.monotonic() + 60
            while True:  # until the instance is up
                try:
                    one()
                    break
                except (RuntimeError, OSError):
                    if time.monotonic() > deadline:
                        raise
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                    time.sleep(0.1)
            for _ in range(300):
                one()
            lat = sorted(one() for _ in range(requests))
            return {"p50_us": lat[len(lat) // 2] * 1e6, "p99_us": lat[int(len(lat) * 0.99)] * 1e6}
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--a", required=True)
    ap.add_argument("--b", required=True)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--requests", type=int, default=2000)
    args = ap.parse_args()
    subprocess.run([str(ROOT / ".venv" / "bin" / "python"), str(ROOT / "tools" / "make_tiny_model.py"), "--thaw", args.b], check=True,
                   capture_output=True)
    models = pathlib.Path(tempfile.mkdtemp())
    (models / "tiny.thaw").symlink_to(DATA / "tiny.thaw")
    body = (DATA / "tiny_request.json").read_bytes()
    rows = {"a": [], "b": []}
    for r in range(args.rounds):
        for k in (("a", "b") if r % 2 == 0 else ("b", "a")):
            rows[k].append(run_once(getattr(args, k), models, body, args.requests))
            print(f"round {r} {k}: p50 {rows[k][-1]['p50_us']:.0f} us, p99 {rows[k][-1]['p99_us']:.0f} us", flush=True)
    out = {k: {m: statistics.median(x[m] for x in v) for m in ("p50_us", "p99_us")} for k, v in rows.items()}
    out["ratio_b_over_a"] = {m: out["b"][m] / out["a"][m] for m in ("p50_us", "p99_us")}
    out["rounds"] = rows
    out["builds"] = {"a": args.a, "b": args.b}
    print(json.dumps({k: out[k] for k in ("a", "b", "ratio_b_over_a")}, indent=1))
    res = ROOT / "bench" / "results"
    res.mkdir(parents=True, exist_ok=True)
    (res / "warm-latency-ab.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
