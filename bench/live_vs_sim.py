#!/usr/bin/env python3
"""Live against simulated: the same arrivals replayed through `thaw serve` and through `thaw sim`.

One run:
  1. A seeded workload (tools/make_poisson_workload.py): six copies of the tiny model, Poisson
     arrivals with mean gaps from 4 s to 80 s, five minutes, written both as a `thaw bench load`
     schedule and as an Azure Functions 2021 trace with the same timestamps.
  2. The rung profile of those models measured here, through `thaw serve`: the first request from
     each rung (warm, zygote, page cache, disk with the bundle evicted) minus a warm one, medians of
     --profile-runs; memory from the instances' and the zygote's PSS. Both sides use this profile.
  3. Live: per policy, a fresh `thaw serve` over private copies of the bundle (evicted first), the
     schedule replayed open-loop by `thaw bench load`; cold starts read from /admin/models (instance
     starts by rung) and /metrics (requests that waited for a start). The policies run side by side.
  4. Simulated: `thaw sim` on the trace with the same policy, profile, concurrency, max_instances
     and per-model memory (the manager's estimate for the bundle, as /admin/models reports it).
Prints a table (live, simulated, difference) and writes bench/results/live-vs-sim-<label>.json.

Usage: bench/live_vs_sim.sh [--policies P,...] [--seconds 300] [--seed 1] [--thaw PATH] [--label NAME]
"""
import argparse
import concurrent.futures
import datetime as dt
import json
import os
import pathlib
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from gateway import EventProcess, admin, evict, log, read_whole  # noqa: E402

DATA = ROOT / "bench" / "data"
RUNGS = ["warm", "zygote", "page_cache", "disk"]
DEFAULT_POLICIES = ["fixed:keepalive_min=0.5", "fixed10", "hybrid", "ladder", "gbm"]


def ensure_tiny(thaw):
    if not (DATA / "tiny.thaw").exists() or not (DATA / "tiny_request.json").exists():
        subprocess.run([sys.executable, str(ROOT / "tools" / "make_tiny_model.py")], check=True,
                       env=dict(os.environ, THAW_BIN=thaw))


def get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=60) as r:
        return r.read().decode()


def serve(thaw, directory, models, policy, profile=None, extra_server=()):
    lines = ["server:", "  port: 0", f"  policy: '{policy}'"]
    if profile:
        lines.append(f"  profile: {profile}")
    lines += [f"  {line}" for line in extra_server]
    lines.append("models:")
    for name in models:
        copy = pathlib.Path(directory) / f"{name}.thaw"
        shutil.copyfile(DATA / "tiny.thaw", copy)
        lines.append(f"  - {{name: {name}, bundle: {copy}}}")
    cfg = pathlib.Path(directory) / "thaw.yaml"
    cfg.write_text("\n".join(lines) + "\n")
    g = EventProcess([thaw, "serve", "--config", str(cfg), "--port", "0"], f"thaw serve ({policy})")
    g.port = g.wait_for("serving", 60)["port"]
    # Evicted after start-up, which reads each bundle's manifest (most of a tiny bundle).
    for name in models:
        evict(pathlib.Path(directory) / f"{name}.thaw")
    return g


def infer_ms(port, model):
    body = (DATA / "tiny_request.json").read_bytes()
    t0 = time.perf_counter()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v2/models/{model}/infer", data=body,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        r.read()
        status = r.status
    if status != 200:
        raise RuntimeError(f"infer answered {status}")
    return (time.perf_counter() - t0) * 1e3


def models_of(port):
    return {m["name"]: m for m in json.loads(get(port, "/admin/models"))["models"]}


def measure_profile(thaw, directory, runs):
    """The tiny model's rung costs through thaw serve: latency minus warm, memory relative to warm."""
    g = serve(thaw, directory, ["p"], "fixed:keepalive_min=60")
    bundle = pathlib.Path(directory) / "p.thaw"
    try:
        lat = {r: [] for r in RUNGS}
        mem = {}
        for _ in range(runs):
            for rung in RUNGS:
                path = "/admin/models/p/prewarm" if rung == "warm" else "/admin/models/p/drain"
                status, answer = admin(g.port, "POST", path, {"rung": rung})
                if status != 200:
                    raise RuntimeError(f"{path} {rung}: {status} {answer}")
                if rung == "page_cache":
                    read_whole(bundle)
                if rung == "disk":
                    evict(bundle)
                lat[rung].append(infer_ms(g.port, "p"))
                if rung == "warm":
                    infer_ms(g.port, "p")
        # Memory: an instance's PSS, and the zygote's, measured once each is up a second.
        admin(g.port, "POST", "/admin/models/p/drain", {"rung": "zygote"})
        infer_ms(g.port, "p")
        time.sleep(2.5)
        m = models_of(g.port)["p"]
        warm_pss = max(i["pss_bytes"] for i in m["instances"]) if m["instances"] else 0
        zygote_pss = m["zygote"]["pss_bytes"] if m["zygote"] else 0
        admin(g.port, "POST", "/admin/models/p/prewarm", {"rung": "warm"})
        admin(g.port, "POST", "/admin/models/p/drain", {"rung": "disk"})
        admin(g.port, "POST", "/admin/models/p/prewarm", {"rung": "warm"})
        time.sleep(2.5)
        m = models_of(g.port)["p"]
        fresh_pss = max((i["pss_bytes"] for i in m["instances"] if not i["forked"]), default=warm_pss)
        estimate = m.get("fresh_instance_estimate_bytes")
    finally:
        g.stop()
    warm_ms = statistics.median(lat["warm"])
    latency = {r: max(0.0, statistics.median(lat[r]) - warm_ms) for r in RUNGS}
    latency["warm"] = 0.0
    # Latency must grow down the ladder for a valid profile.
    latency["page_cache"] = max(latency["page_cache"], latency["zygote"] + 0.1)
    latency["disk"] = max(latency["disk"], latency["page_cache"] + 0.1)
    base = max(fresh_pss, 1)
    memory = {"warm": 1.0, "zygote": min(0.99, zygote_pss / base),
              "page_cache": min(0.98, bundle.stat().st_size / base), "disk": 0.0}
    memory["page_cache"] = min(memory["page_cache"], memory["zygote"] - 0.01)
    text = ["# Rung profile of the tiny model, measured by bench/live_vs_sim.py in this run.",
            f"source: \"measured {dt.date.today()} by bench/live_vs_sim.py (tiny model)\"", "rungs:"]
    for r in RUNGS:
        text += [f"  {r}:", f"    latency_ms: {latency[r]:.3f}", f"    memory_fraction: {memory[r]:.4f}"]
    path = pathlib.Path(directory) / "tiny-profile.yaml"
    path.write_text("\n".join(text) + "\n")
    return path, {"latency_ms": latency, "memory_fraction": memory, "fresh_pss_bytes": fresh_pss,
                  "zygote_pss_bytes": zygote_pss, "estimate_bytes": estimate, "samples_ms": lat}


def metric_sum(text, name, label_filter=None):
    total = {}
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', line[len(name):line.index("}") + 1]))
        if label_filter and not label_filter(labels):
            continue
        value = float(line.rsplit(" ", 1)[1])
        rung = labels.get("rung", "")
        total[rung] = total.get(rung, 0) + value
    return total


def live_run(thaw, policy, profile, workload, seconds, baseline):
    with tempfile.TemporaryDirectory() as d:
        names = [f"m{k}" for k in range(6)]
        g = serve(thaw, d, names, policy, profile)
        try:
            out = pathlib.Path(d) / "load.json"
            cmd = [thaw, "bench", "load", "--url", f"http://127.0.0.1:{g.port}/v2/models/{{model}}/infer",
                   "--method", "POST", "--header", "Content-Type: application/json",
                   "--body-file", str(DATA / "tiny_request.json"), "--schedule", str(workload / "workload.sched"),
                   "--connections", "32", "--timeout", "60", "--quiet", "--json", str(out)]
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 300)
            if r.returncode != 0:
                raise RuntimeError(f"thaw bench load: {r.stderr[-2000:]}")
            load = json.loads(out.read_text())
            time.sleep(1.5)  # the last requests' instances are counted
            models = models_of(g.port)
            metrics = get(g.port, "/metrics")
        finally:
            g.stop()
    starts = {r: sum(m["cold_starts"][r] for m in models.values()) for r in RUNGS}
    cold_requests = metric_sum(metrics, "thaw_gateway_cold_requests_total")
    estimate = next(iter(models.values())).get("fresh_instance_estimate_bytes")
    return {"instance_starts": starts, "cold_requests": {r: int(cold_requests.get(r, 0)) for r in RUNGS},
            "status_counts": load["status_counts"], "error_counts": load["error_counts"],
            "measured": load["measured"], "estimate_bytes": estimate}


def sim_run(thaw, policy, profile, workload, memory_mb, baseline):
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        cmd = [thaw, "sim", "--trace", str(workload / "workload.csv"), "--policy", policy, "--profile", str(profile),
               "--default-memory-mb", f"{memory_mb:.3f}", "--threads", "1", "--no-progress", "--json", out.name]
        if not baseline:
            cmd += ["--concurrency", "4", "--max-instances", "4"]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            raise RuntimeError(f"thaw sim: {r.stderr[-2000:]}")
        res = json.loads(pathlib.Path(out.name).read_text())["results"][0]
    starts = res.get("instance_starts_by_rung")
    requests = res.get("cold_requests_by_rung")
    by_request = res["starts_by_rung"]
    if starts is None:  # an older simulator counts requests by the rung they found
        starts = {r: (by_request[r] if r != "warm" else 0) for r in RUNGS}
    if requests is None:
        requests = {r: (by_request[r] if r != "warm" else 0) for r in RUNGS}
    return {"instance_starts": starts, "cold_requests": requests, "starts_by_rung": by_request,
            "cold_pct": res["cold_pct"]}


def cold_total(d):
    return sum(v for r, v in d.items() if r != "warm")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--thaw", default=os.environ.get("THAW_BIN", str(ROOT / "build" / "thaw")))
    ap.add_argument("--policies", default=",".join(DEFAULT_POLICIES))
    ap.add_argument("--seconds", type=float, default=300)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--profile-runs", type=int, default=3)
    ap.add_argument("--profile", help="use this rung profile instead of measuring one")
    ap.add_argument("--memory-mb", type=float, help="per-model memory for the simulator (default: the live estimate)")
    ap.add_argument("--baseline", action="store_true", help="a build whose thaw sim lacks --concurrency")
    ap.add_argument("--label", default="latest")
    a = ap.parse_args()
    ensure_tiny(a.thaw)
    policies = [p for p in a.policies.split(",") if p]
    out = {"when": dt.datetime.now(dt.timezone.utc).isoformat(), "thaw": a.thaw, "args": vars(a),
           "load_avg_start": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        workload = tmp / "workload"
        subprocess.run([sys.executable, str(ROOT / "tools" / "make_poisson_workload.py"), "--out", str(workload),
                        "--seconds", str(a.seconds), "--seed", str(a.seed)], check=True, capture_output=True)
        out["workload"] = json.loads((workload / "workload.json").read_text())
        if a.profile:
            profile, measured = pathlib.Path(a.profile).resolve(), None
        else:
            log(f"measuring the tiny model's rung profile ({a.profile_runs} runs per rung)")
            pdir = tmp / "profile"
            pdir.mkdir()
            profile, measured = measure_profile(a.thaw, pdir, a.profile_runs)
            log(f"  latency ms {({k: round(v, 2) for k, v in measured['latency_ms'].items()})}, memory "
                f"{({k: round(v, 3) for k, v in measured['memory_fraction'].items()})}")
        out["profile"] = measured or {"file": str(profile)}
        out["profile_text"] = profile.read_text()
        log(f"live: {len(policies)} policies side by side, {out['workload']['arrivals']} arrivals over {a.seconds:g} s")
        with concurrent.futures.ThreadPoolExecutor(len(policies)) as pool:
            futures = {p: pool.submit(live_run, a.thaw, p, profile, workload, a.seconds, a.baseline) for p in policies}
            live = {p: f.result() for p, f in futures.items()}
        rows = []
        for p in policies:
            estimate = live[p]["estimate_bytes"]
            memory_mb = a.memory_mb or (estimate / (1 << 20) if estimate else 170.0)
            sim = sim_run(a.thaw, p, profile, workload, memory_mb, a.baseline)
            ls, ss = cold_total(live[p]["instance_starts"]), cold_total(sim["instance_starts"])
            lr, sr = cold_total(live[p]["cold_requests"]), cold_total(sim["cold_requests"])
            diff = (ss - ls) / ls * 100 if ls else (0.0 if ss == 0 else float("inf"))
            rows.append({"policy": p, "live": live[p], "sim": sim, "memory_mb": memory_mb,
                         "live_starts": ls, "sim_starts": ss, "live_cold_requests": lr, "sim_cold_requests": sr,
                         "starts_diff_pct": diff, "within_10pct": abs(diff) <= 10.0})
    out["rows"] = rows
    out["load_avg_end"] = os.getloadavg()
    print(f"\n| policy | live cold starts (by rung z/pc/d) | simulated | difference | live cold requests | simulated |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        by = lambda d: "/".join(str(int(d[k])) for k in ("zygote", "page_cache", "disk"))
        print(f"| {r['policy']} | {r['live_starts']} ({by(r['live']['instance_starts'])}) | {r['sim_starts']} "
              f"({by(r['sim']['instance_starts'])}) | {r['starts_diff_pct']:+.1f} % | {r['live_cold_requests']} | "
              f"{r['sim_cold_requests']} |")
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    path = results / f"live-vs-sim-{a.label}.json"
    path.write_text(json.dumps(out, indent=1))
    log(f"wrote {path}")


if __name__ == "__main__":
    main()
