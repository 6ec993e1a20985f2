#!/usr/bin/env python3
"""Gateway benchmark: what `thaw serve` adds over a bare worker, first requests per rung, Ray Serve.

One run, one machine:
  1. Builds the tiny model (tools/make_tiny_model.py) and packs MiniLM (bench/data/).
  2. Direct: a `thaw run` worker on the tiny bundle, driven by `thaw bench load` (open loop,
     latency from the scheduled send) at --ray-rate and each of --rates for --duration s.
  3. Gateway (only when `thaw serve --help` works): `thaw serve --models DIR` over tiny and MiniLM,
     the same loads through it; added latency = gateway - direct at p50 and p99. Then MiniLM's
     first request per rung: warm (admin prewarm), zygote, page_cache, disk (admin drain; for
     disk the bundle is also evicted from the page cache with posix_fadvise and checked with
     fincore), each timed from send to a complete, correct response (cosine >= 0.9999 against
     the sentence-transformers reference) on a fresh connection, --rung-runs times.
  4. Ray Serve (bench/peers/ray_serve_peer.py): first request from zero replicas, and its added
     latency over a bare Python server running the same onnxruntime code, at --ray-rate.
Prints tables with ratios and writes bench/results/gateway-latest.json (and a timestamped copy
under bench/results/raw/).

  5. With --replay S: S seconds of the Azure LLM code trace (tools/trace_to_schedule.py: time
     compressed, rate capped, zipf over N copies of the tiny model) through `thaw serve`, with
     per-model latency and the gateway's cold starts by rung.

Usage: bench/gateway.sh [--quick] [--rates 1000,5000] [--duration 10] [--skip-ray] [--replay 60] ...
"""
import argparse
import datetime as dt
import http.client
import json
import os
import pathlib
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
from worker_harness import MINILM, THAW_BIN  # noqa: E402

DATA = ROOT / "bench" / "data"
PYTHON = sys.executable
REF = json.loads((MINILM / "reference.json").read_text())
RUNGS = ["warm", "zygote", "page_cache", "disk"]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


class EventProcess:
    """A child that prints JSON event lines on stdout (thaw run, thaw serve); a thread keeps reading them."""

    def __init__(self, cmd, name):
        self.name = name
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.stderr)
        self.events = []
        self.cond = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            with self.cond:
                self.events.append(ev)
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def stderr_tail(self, n=2000):
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")[-n:]

    def wait_for(self, name, timeout):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for ev in self.events:
                    if ev.get("event") == name:
                        return ev
                if self.proc.poll() is not None and not self.reader.is_alive():
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(min(left, 0.5))
        raise RuntimeError(f"{self.name} never reported {name!r}: events={self.events[-5:]} "
                           f"stderr={self.stderr_tail()}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---------------------------------------------------------------- load runs

def bench_load(url, body_file, rate, duration, warmup, connections, headers=()):
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        cmd = [THAW_BIN, "bench", "load", "--url", url, "--body-file", str(body_file), "--rate", str(rate),
               "--duration", str(duration), "--warmup", str(warmup), "--connections", str(connections),
               "--timeout", "10", "--quiet", "--json", out.name]
        for h in headers:
            cmd += ["--header", h]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + warmup + 120)
        if r.returncode != 0:
            raise RuntimeError(f"thaw bench load failed ({r.returncode}): {r.stderr}")
        return json.loads(pathlib.Path(out.name).read_text())


def load_row(report):
    lat = report["latency_from_schedule"]
    errors = sum(report["error_counts"].values())
    non_ok = sum(n for code, n in report["status_counts"].items() if not code.startswith("2"))
    return {"p50_ms": lat["p50_ms"], "p90_ms": lat["p90_ms"], "p99_ms": lat["p99_ms"], "p999_ms": lat["p999_ms"],
            "max_ms": lat["max_ms"], "send_p50_ms": report["latency_from_send"]["p50_ms"],
            "send_lag_p99_ms": report["send_lag"]["p99_ms"], "offered_rate": report["offered_rate"],
            "achieved_rate": report["achieved_rate"], "measured": report["measured"],
            "errors": errors, "non_2xx": non_ok, "error_counts": report["error_counts"],
            "status_counts": report["status_counts"], "status_examples": report.get("status_examples", {}),
            "error_examples": report["error_examples"], "peak_connections": report["peak_connections"]}


def run_loads(url, body_file, rates, args, label, after=None):
    """One bench load per rate; `after()` (if given) adds facts gathered right after each run."""
    rows = {}
    for rate in rates:
        log(f"  {label}: {rate:g} req/s for {args.duration:g} s (+{args.warmup:g} s warm-up)")
        rows[str(rate)] = load_row(bench_load(url, body_file, rate, args.duration, args.warmup, args.connections))
        r = rows[str(rate)]
        if after:
            r.update(after())
        log(f"    p50 {r['p50_ms']:.3f} ms, p99 {r['p99_ms']:.3f} ms, achieved {r['achieved_rate']:.0f}/s, "
            f"errors {r['errors']}, non-2xx {r['non_2xx']}")
        for code, body in {**r["status_examples"], **r["error_examples"]}.items():
            log(f"      {code}: {body}")
    return rows


def aggregate(rows):
    """Medians over rounds of the latency figures; errors summed."""
    med = lambda key: statistics.median(r[key] for r in rows)
    return {"p50_ms": med("p50_ms"), "p90_ms": med("p90_ms"), "p99_ms": med("p99_ms"), "p999_ms": med("p999_ms"),
            "max_ms": max(r["max_ms"] for r in rows), "achieved_rate": med("achieved_rate"),
            "measured": sum(r["measured"] for r in rows), "errors": sum(r["errors"] for r in rows),
            "non_2xx": sum(r["non_2xx"] for r in rows), "rounds": rows}


def run_interleaved(direct_url, gateway_url, body_file, rates, args, after=None):
    """Per rate, `args.rounds` rounds that alternate direct and gateway runs (the order flips every round), so
    the machine's drift hits both alike; added latency is the median over rounds of gateway - direct."""
    direct, gateway, added = {}, {}, {}
    per_round = max(1.0, args.duration / args.rounds)
    for rate in rates:
        d_rows, g_rows = [], []
        log(f"  {rate:g} req/s: {args.rounds} rounds of {per_round:g} s direct and {per_round:g} s gateway")
        for i in range(args.rounds):
            order = [("direct", direct_url, d_rows), ("gateway", gateway_url, g_rows)]
            for label, url, rows in (order if i % 2 == 0 else order[::-1]):
                rows.append(load_row(bench_load(url, body_file, rate, per_round, min(args.warmup, 0.5), args.connections)))
            log(f"    round {i + 1}: direct p50 {d_rows[-1]['p50_ms']:.3f} p99 {d_rows[-1]['p99_ms']:.3f} | "
                f"gateway p50 {g_rows[-1]['p50_ms']:.3f} p99 {g_rows[-1]['p99_ms']:.3f} ms")
        key = str(rate)
        direct[key], gateway[key] = aggregate(d_rows), aggregate(g_rows)
        if after:
            gateway[key].update(after())
        added[key] = {q: statistics.median(g[q] - d[q] for d, g in zip(d_rows, g_rows)) for q in ("p50_ms", "p99_ms")}
        for row in (*d_rows, *g_rows):
            for code, body in {**row["status_examples"], **row["error_examples"]}.items():
                log(f"      {code}: {body}")
    return direct, gateway, added


# ---------------------------------------------------------------- MiniLM first requests

def minilm_body(index=0):
    return json.dumps({"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1],
                                   "data": [REF["sentences"][index]]}]})


def cosine(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def first_request(port, model, timeout=120):
    """(ms, correct, status): one infer on a fresh connection, send to complete response."""
    body = minilm_body(0)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    t0 = time.perf_counter()
    try:
        conn.request("POST", f"/v2/models/{model}/infer", body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
    finally:
        ms = (time.perf_counter() - t0) * 1e3
        conn.close()
    if resp.status != 200:
        return ms, False, resp.status
    out = json.loads(data)["outputs"][0]["data"]
    return ms, cosine(out, REF["embeddings"][0]) >= 0.9999, resp.status


def admin(port, method, path, body=None, timeout=300):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=json.dumps(body) if body is not None else None,
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
    finally:
        conn.close()
    try:
        parsed = json.loads(data) if data else {}
    except ValueError:
        parsed = {"raw": data.decode(errors="replace")}
    return resp.status, parsed


def reported_rung(listing, model):
    """The rung GET /admin/models reports for `model`, if its answer says (several shapes accepted)."""
    entries = listing.get("models", listing) if isinstance(listing, dict) else listing
    if isinstance(entries, dict):
        entry = entries.get(model)
    else:
        entry = next((e for e in entries or [] if isinstance(e, dict) and (e.get("name") or e.get("model")) == model),
                     None)
    if not isinstance(entry, dict):
        return None
    for key in ("rung", "state", "current_rung"):
        if isinstance(entry.get(key), str):
            return entry[key]
    return None


def bring_to_rung(port, model, rung, bundle, timeout=120):
    """Moves `model` to `rung` through the admin routes; returns facts about how it went."""
    path = f"/admin/models/{model}/prewarm" if rung == "warm" else f"/admin/models/{model}/drain"
    t0 = time.perf_counter()
    status, answer = admin(port, "POST", path, {"rung": rung})
    if status >= 300:
        raise RuntimeError(f"POST {path} {{'rung': {rung!r}}} -> {status} {answer}")
    facts = {"admin_status": status, "admin_ms": (time.perf_counter() - t0) * 1e3}
    if rung == "page_cache":
        read_whole(bundle)
    if rung == "disk":
        facts["resident_after_evict"] = evict(bundle)
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        st, listing = admin(port, "GET", "/admin/models")
        seen = reported_rung(listing, model) if st == 200 else None
        if seen is None or seen == rung:
            break
        time.sleep(0.05)
    facts["reported_rung"] = seen
    facts["rung_confirmed"] = seen == rung
    if seen is not None and seen != rung:
        raise RuntimeError(f"{model} stayed at {seen!r}, not {rung!r}, for {timeout} s")
    if rung == "disk":  # the wait above may have let something read the file again
        facts["resident_after_evict"] = evict(bundle)
        if facts["resident_after_evict"] > 0.05:
            log(f"    warning: {facts['resident_after_evict']:.0%} of {bundle.name} is still in the page cache after "
                "eviction (a live process still maps it?); the disk rung is not cold")
    return facts


def read_whole(path):
    with open(path, "rb", buffering=0) as f:
        while f.read(16 << 20):
            pass


def evict(path):
    """posix_fadvise(DONTNEED) on the whole file; returns the fraction still resident (fincore), -1 unknown."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)  # dirty pages (a fresh copy) cannot be dropped until written back
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    if shutil.which("fincore") is None:
        return -1.0
    r = subprocess.run(["fincore", "--bytes", "--noheadings", "--raw", "-o", "RES", str(path)],
                       capture_output=True, text=True)
    try:
        return int(r.stdout.split()[0]) / os.path.getsize(path)
    except (ValueError, IndexError):
        return -1.0


def measure_rungs(port, model, bundle, runs):
    out = {rung: [] for rung in RUNGS}
    for run in range(runs):
        for rung in RUNGS:
            facts = bring_to_rung(port, model, rung, bundle)
            ms, ok, status = first_request(port, model)
            out[rung].append({"ms": ms, "correct": ok, "status": status, **facts})
            log(f"    {model} from {rung:<10} #{run + 1}: {ms:8.1f} ms ({status}, {'correct' if ok else 'WRONG'})")
    return out


# ---------------------------------------------------------------- trace replay

def find_trace(name):
    for base in (ROOT.parent, ROOT.parent.parent):
        path = base / "shared" / "traces" / "azure-llm-2023" / name
        if path.exists():
            return path
    return None


def run_replay(args):
    """Replays a slice of the Azure LLM code trace through thaw serve over N copies of the tiny model."""
    trace = find_trace("code.csv")
    if trace is None:
        return {"skipped": "../shared/traces/azure-llm-2023/code.csv not found"}
    n = args.replay_models
    names = [f"tiny{k}" for k in range(n)]
    models_dir = DATA / "replay-models"
    if models_dir.exists():
        shutil.rmtree(models_dir)
    models_dir.mkdir()
    for name in names:
        (models_dir / f"{name}.thaw").symlink_to(DATA / "tiny.thaw")
    schedule = DATA / "replay.sched"
    cmd = [PYTHON, str(ROOT / "tools" / "trace_to_schedule.py"), str(trace), "-o", str(schedule),
           "--compress", str(args.replay_compress), "--max-rate", str(args.replay_max_rate),
           "--duration", str(args.replay), "--model-names", ",".join(names)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise RuntimeError(f"trace_to_schedule.py failed: {r.stderr}")
    port = free_port()
    log(f"replay: {r.stderr.strip()}")
    serve = EventProcess([THAW_BIN, "serve", "--models", str(models_dir), "--host", "127.0.0.1", "--port", str(port),
                          *args.serve_arg], "thaw serve")
    try:
        serve.wait_for("serving", 120)
        with tempfile.NamedTemporaryFile(suffix=".json") as out:
            load = subprocess.run([THAW_BIN, "bench", "load", "--url",
                                   f"http://127.0.0.1:{port}/v2/models/{{model}}/infer", "--schedule", str(schedule),
                                   "--body-file", str(DATA / "tiny_request.json"), "--connections",
                                   str(args.connections), "--timeout", "30", "--quiet", "--json", out.name],
                                  capture_output=True, text=True, timeout=args.replay + 300)
            if load.returncode != 0:
                raise RuntimeError(f"thaw bench load failed: {load.stderr}")
            report = json.loads(pathlib.Path(out.name).read_text())
        st, listing = admin(port, "GET", "/admin/models")
        cold = {m["name"]: m.get("cold_starts") for m in listing.get("models", [])} if st == 200 else {}
    finally:
        serve.stop()
    per_model = {name: {"requests": m["requests"], "ok": m["ok"], "p50_ms": m["latency_from_schedule"]["p50_ms"],
                        "p99_ms": m["latency_from_schedule"]["p99_ms"], "max_ms": m["latency_from_schedule"]["max_ms"],
                        "cold_starts": cold.get(name)}
                 for name, m in report.get("per_model", {}).items()}
    return {"trace": trace.name, "compress": args.replay_compress, "max_rate": args.replay_max_rate,
            "duration_s": args.replay, "models": names, "schedule_summary": r.stderr.strip(), "load": load_row(report),
            "per_model": per_model}


# ---------------------------------------------------------------- the run

def thaw_serve_available():
    try:
        r = subprocess.run([THAW_BIN, "serve", "--help"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, str(e)
    # An unknown subcommand followed by --help prints the top-level help and exits 0, so look for
    # serve's own option.
    if r.returncode == 0 and "--models" in r.stdout:
        return True, ""
    if r.returncode == 0:
        return False, "this thaw has no serve subcommand"
    last = (r.stderr or r.stdout).strip().splitlines()
    return False, f"exit {r.returncode}: {last[-1] if last else 'no output'}"


def prepare_models():
    r = subprocess.run([PYTHON, str(ROOT / "tools" / "make_tiny_model.py"), "--thaw", THAW_BIN],
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise RuntimeError(f"make_tiny_model.py failed: {r.stderr}")
    minilm = DATA / "minilm.thaw"
    if not minilm.exists() or minilm.stat().st_mtime < (MINILM / "model.onnx").stat().st_mtime:
        log("packing MiniLM")
        # Named like its file, so the worker's model name and the gateway's (the file stem) agree.
        subprocess.run([THAW_BIN, "pack", str(MINILM / "model.onnx"), "--extra", str(MINILM / "tokenizer.json"),
                        "--name", "minilm", "-o", str(minilm)], check=True, capture_output=True, timeout=600)
    models_dir = DATA / "models"
    if models_dir.exists():
        shutil.rmtree(models_dir)
    models_dir.mkdir()
    for name in ("tiny", "minilm"):
        (models_dir / f"{name}.thaw").symlink_to(DATA / f"{name}.thaw")
    # The same backend capacity as the direct run: one instance per model (the default scale-out
    # would start up to 4 tiny instances that fight the load generator for the 2 cores).
    (DATA / "gateway.yaml").write_text("defaults: {max_instances: 1, concurrency: 64}\n")
    return models_dir


def run_ray(args, raw_dir, stamp):
    if args.ray_json:
        return json.loads(pathlib.Path(args.ray_json).read_text())
    out = raw_dir / f"ray-serve-{stamp}.json"
    cmd = [PYTHON, str(ROOT / "bench" / "peers" / "ray_serve_peer.py"), "--models", "tiny,minilm",
           "--runs", str(args.rung_runs), "--rate", str(args.ray_rate), "--duration", str(args.duration),
           "--warmup", str(args.warmup), "--out", str(out)]
    log("Ray Serve peer: " + " ".join(cmd[1:]))
    r = subprocess.run(cmd, stdout=sys.stderr, stderr=subprocess.PIPE, text=True, timeout=3600)
    if r.returncode != 0:
        return {"error": f"ray_serve_peer.py exited {r.returncode}", "stderr_tail": r.stderr[-3000:]}
    return json.loads(out.read_text())


def ratio(a, b):
    return a / b if a is not None and b not in (None, 0) else None


def fmt(v, digits=2):
    return "n/a" if v is None else f"{v:.{digits}f}"


def report(results):
    lines = []
    rates = list(results["direct"].keys())
    gw = results.get("gateway") or {}
    gw_loads = gw.get("loads", {})
    lines.append("\n## tiny model: direct worker vs through thaw serve (ms, open loop, from the scheduled send)\n")
    lines.append("| rate | direct p50 | direct p99 | gateway p50 | gateway p99 | added p50 | added p99 | "
                 "errors direct/gateway | gateway instances |")
    lines.append("|---|---|---|---|---|---|---|---|---|")
    for rate in rates:
        d, g = results["direct"][rate], gw_loads.get(rate)
        added = gw.get("added", {}).get(rate, {})
        lines.append(f"| {float(rate):g}/s | {d['p50_ms']:.3f} | {d['p99_ms']:.3f} | "
                     f"{fmt(g and g['p50_ms'], 3)} | {fmt(g and g['p99_ms'], 3)} | {fmt(added.get('p50_ms'), 3)} | "
                     f"{fmt(added.get('p99_ms'), 3)} | {d['errors'] + d['non_2xx']}/"
                     f"{'n/a' if not g else g['errors'] + g['non_2xx']} | "
                     f"{'n/a' if not g else g.get('gateway_instances', 'n/a')} |")
    if not gw.get("available"):
        lines.append(f"\n(gateway rows skipped: {gw.get('skipped', 'thaw serve not available')})")

    ray = results.get("ray") or {}
    ray_models = {r["model"]: r for r in ray.get("results", [])}
    ray_minilm = ray_models.get("minilm", {}).get("first_request_median_ms")
    lines.append("\n## MiniLM: first request through thaw serve by rung vs Ray Serve from zero replicas (ms, median)\n")
    lines.append("| start | thaw serve | Ray Serve from 0 replicas | Ray / thaw |")
    lines.append("|---|---|---|---|")
    for rung in RUNGS:
        v = gw.get("first_request_median_ms", {}).get(rung)
        lines.append(f"| {rung} | {fmt(v, 1)} | {fmt(ray_minilm, 1)} | {fmt(ratio(ray_minilm, v), 1)} |")

    lines.append("\n## Added latency over the bare server at the same low rate (tiny model, ms)\n")
    lines.append("| system | definition | p50 | p99 |")
    lines.append("|---|---|---|---|")
    ray_rate_key = str(results["settings"]["ray_rate"])
    thaw_added = gw.get("added", {}).get(ray_rate_key, {})
    ray_added = ray_models.get("tiny", {}).get("added_latency", {})
    lines.append(f"| thaw serve | gateway - direct thaw worker | {fmt(thaw_added.get('p50_ms'), 3)} | "
                 f"{fmt(thaw_added.get('p99_ms'), 3)} |")
    lines.append(f"| Ray Serve | HTTP proxy + replica - bare Python server | {fmt(ray_added.get('added_p50_ms'), 3)} | "
                 f"{fmt(ray_added.get('added_p99_ms'), 3)} |")
    lines.append(f"| ratio | Ray / thaw | {fmt(ratio(ray_added.get('added_p50_ms'), thaw_added.get('p50_ms')), 1)} | "
                 f"{fmt(ratio(ray_added.get('added_p99_ms'), thaw_added.get('p99_ms')), 1)} |")
    rep = results.get("replay")
    if rep and rep.get("per_model"):
        lines.append(f"\n## Azure LLM code trace through thaw serve ({rep['duration_s']:g} s at x{rep['compress']:g}, "
                     f"cap {rep['max_rate']:g}/s, {len(rep['models'])} tiny-model copies; ms from the schedule)\n")
        lines.append("| model | requests | 2xx | p50 | p99 | max | cold starts by rung |")
        lines.append("|---|---|---|---|---|---|---|")
        for name, m in rep["per_model"].items():
            cold = ", ".join(f"{k} {v}" for k, v in (m["cold_starts"] or {}).items() if v) or "none"
            lines.append(f"| {name} | {m['requests']} | {m['ok']} | {m['p50_ms']:.3f} | {m['p99_ms']:.3f} | "
                         f"{m['max_ms']:.1f} | {cold} |")
        errs = rep["load"]["errors"] + rep["load"]["non_2xx"]
        lines.append(f"\n({rep['load']['measured']} requests, {errs} not 2xx or failed; {rep['schedule_summary']})")
    elif rep:
        lines.append(f"\n(trace replay: {rep.get('error') or rep.get('skipped')})")
    if ray.get("error"):
        lines.append(f"\n(Ray Serve failed: {ray['error']})")
    elif not ray:
        lines.append("\n(Ray Serve skipped)")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rates", default="1000,5000", help="comma-separated req/s for the tiny-model loads")
    ap.add_argument("--duration", type=float, default=10, help="measured seconds per rate and system")
    ap.add_argument("--rounds", type=int, default=5, help="alternating direct/gateway rounds the duration is split into")
    ap.add_argument("--warmup", type=float, default=2, help="unmeasured seconds before each load run")
    ap.add_argument("--connections", type=int, default=256, help="bench load connection cap")
    ap.add_argument("--rung-runs", type=int, default=3, help="first-request measurements per rung (and for Ray)")
    ap.add_argument("--ray-rate", type=float, default=50, help="req/s of the added-latency comparison with Ray")
    ap.add_argument("--skip-ray", action="store_true", help="leave Ray Serve out")
    ap.add_argument("--ray-json", help="reuse a ray_serve_peer.py result instead of running it")
    ap.add_argument("--serve-arg", action="append", default=[], help="extra argument for thaw serve (repeatable)")
    ap.add_argument("--replay", type=float, default=0,
                    help="also replay this many seconds of the Azure LLM code trace through thaw serve (0: no)")
    ap.add_argument("--replay-compress", type=float, default=10, help="time compression of the replay")
    ap.add_argument("--replay-max-rate", type=float, default=500, help="rate cap of the replay (req/s)")
    ap.add_argument("--replay-models", type=int, default=4, help="copies of the tiny model the replay spreads over")
    ap.add_argument("--quick", action="store_true", help="short runs for a smoke test (3 s, 1 run per rung)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"), help="results directory")
    args = ap.parse_args(argv)
    if args.quick:
        args.duration, args.warmup, args.rung_runs, args.rounds = 3, 1, 1, 1
    rates = [float(r) for r in args.rates.split(",") if r.strip()]
    all_rates = sorted({args.ray_rate, *rates})
    out_dir = pathlib.Path(args.out)
    raw_dir = out_dir / "raw"
    raw_dir.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    t_start = time.monotonic()
    if not os.path.exists(THAW_BIN):
        log(f"{THAW_BIN} not found: build first (scripts/build.sh)")
        return 1

    results = {"benchmark": "gateway", "stamp": stamp,
               "host": {"cpus": os.cpu_count(), "machine": platform.machine(), "kernel": platform.release(),
                        "load_average_at_start": os.getloadavg()},
               "settings": {"rates": rates, "ray_rate": args.ray_rate, "duration_s": args.duration,
                            "warmup_s": args.warmup, "connections": args.connections, "rung_runs": args.rung_runs},
               "definitions": {
                   "latency": "thaw bench load, open loop, from each request's scheduled send to its complete "
                              "response (queueing included); p50/p99 over the measured window",
                   "added": "median over alternating rounds of (gateway - direct), same rate, body, client and "
                            "tiny bundle; one worker each (the gateway runs with max_instances 1 unless "
                            "--serve-arg --config overrides it; see gateway_instances)",
                   "first_request": "model moved to the rung with the admin routes, then one POST on a fresh "
                                    "connection, send to complete correct response"}}

    log("preparing models")
    models_dir = prepare_models()
    tiny_body = DATA / "tiny_request.json"
    expected = json.loads((DATA / "tiny_expected.json").read_text())["output"]

    log("direct: thaw run on the tiny bundle")
    worker = EventProcess([THAW_BIN, "run", str(DATA / "tiny.thaw"), "--port", "0"], "thaw run")
    ready = worker.wait_for("ready", 120)
    results["direct_worker_ready"] = ready.get("timeline")
    direct_url = f"http://127.0.0.1:{ready['port']}/v2/models/tiny/infer"

    available, why = thaw_serve_available()
    gw = {"available": available}
    if not available:
        gw["skipped"] = f"thaw serve is not available yet ({why}); gateway measurements skipped"
        log(gw["skipped"])
        try:
            results["direct"] = {str(k): v for k, v in run_loads(direct_url, tiny_body, all_rates, args,
                                                                  "direct").items()}
        finally:
            worker.stop()
    else:
        port = free_port()
        log(f"gateway: thaw serve --models {models_dir} --port {port}")
        config = [] if "--config" in args.serve_arg else ["--config", str(DATA / "gateway.yaml")]
        serve = EventProcess([THAW_BIN, "serve", "--models", str(models_dir), "--host", "127.0.0.1",
                              "--port", str(port), *config, *args.serve_arg], "thaw serve")
        try:
            ev = serve.wait_for("serving", 120)
            gw["serving_event"] = ev
            bring_to_rung(port, "tiny", "warm", DATA / "tiny.thaw")
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            conn.request("POST", "/v2/models/tiny/infer", body=tiny_body.read_bytes(),
                         headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            got = json.loads(resp.read())
            conn.close()
            if resp.status != 200 or not np.allclose(got["outputs"][0]["data"], expected, rtol=1e-4, atol=1e-4):
                raise RuntimeError(f"thaw serve answered the tiny model wrongly: {resp.status} {got}")
            def tiny_state():
                # How many instances the gateway ran for the load (the direct run has one worker).
                st, listing = admin(port, "GET", "/admin/models")
                entry = next((m for m in listing.get("models", []) if m.get("name") == "tiny"), {}) if st == 200 else {}
                state = {"gateway_instances": len(entry.get("instances") or []),
                         "gateway_cold_starts": entry.get("cold_starts")}
                log(f"    gateway ran {state['gateway_instances']} tiny instance(s)")
                return state

            log("direct vs gateway, interleaved")
            try:
                direct, loads, added = run_interleaved(direct_url, f"http://127.0.0.1:{port}/v2/models/tiny/infer",
                                                       tiny_body, all_rates, args, after=tiny_state)
            finally:
                worker.stop()
            results["direct"], gw["loads"], gw["added"] = direct, loads, added
            log("gateway: MiniLM first request per rung")
            gw["first_request"] = measure_rungs(port, "minilm", (DATA / "minilm.thaw").resolve(), args.rung_runs)
            gw["first_request_median_ms"] = {
                rung: statistics.median([r["ms"] for r in runs if r["correct"]]) if any(r["correct"] for r in runs)
                else None for rung, runs in gw["first_request"].items()}
        except Exception as e:  # keep what was measured; say what broke
            gw["error"] = f"{type(e).__name__}: {e}"
            gw["stderr_tail"] = serve.stderr_tail()
            log(f"gateway measurement failed: {gw['error']}")
        finally:
            gw["exit_code"] = serve.stop()
            worker.stop()
    results.setdefault("direct", {})
    results["gateway"] = gw
    if args.replay > 0 and available:
        log(f"replay: {args.replay:g} s of the Azure LLM code trace through thaw serve")
        try:
            results["replay"] = run_replay(args)
        except Exception as e:  # keep the rest of the run
            results["replay"] = {"error": f"{type(e).__name__}: {e}"}
            log(f"replay failed: {results['replay']['error']}")

    results["ray"] = None if args.skip_ray else run_ray(args, raw_dir, stamp)
    results["elapsed_s"] = time.monotonic() - t_start
    text = report(results)
    print(text)
    for path in (raw_dir / f"gateway-{stamp}.json", out_dir / "gateway-latest.json"):
        path.write_text(json.dumps(results, indent=2) + "\n")
    log(f"\nwrote {out_dir / 'gateway-latest.json'} and raw/gateway-{stamp}.json in {results['elapsed_s']:.0f} s")
    return 1 if gw.get("error") else 0


if __name__ == "__main__":
    sys.exit(main())
