#!/usr/bin/env python3
"""How fast can `thaw bench load` drive a `thaw run` worker of the tiny model on this machine?

Steps the offered rate up (--rates) against one worker (--worker-threads HTTP threads) and, per
step, records the achieved rate, errors, send lag (how late the generator sent: its own
saturation shows here first), and the CPU seconds the load generator and the worker each used
(getrusage of the child; /proc/<pid>/stat for the worker). The ceiling is the highest step whose
achieved rate is >= 99% of the offered rate with no errors; the generator's CPU cost per request
gives the rate one core of it could drive if the server were free (1 / cost). Prints a table and
writes bench/results/loadgen-ceiling-latest.json.

Usage: bench/loadgen_ceiling.sh [--rates 2000,5000,10000,15000,20000,30000] [--duration 5]
"""
import argparse
import json
import os
import pathlib
import resource
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from gateway import DATA, THAW_BIN, EventProcess, log  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def step(url, body, rate, duration, warmup, connections, worker_pid):
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        cmd = [THAW_BIN, "bench", "load", "--url", url, "--rate", str(rate), "--duration", str(duration),
               "--warmup", str(warmup), "--connections", str(connections), "--timeout", "5", "--quiet",
               "--json", out.name]
        if body:
            cmd += ["--body-file", str(body)]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        worker_before = proc_cpu_s(worker_pid)
        t0 = time.monotonic()
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + warmup + 60)
        wall = time.monotonic() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        worker_cpu = proc_cpu_s(worker_pid) - worker_before
        if r.returncode != 0:
            raise RuntimeError(r.stderr)
        rep = json.loads(pathlib.Path(out.name).read_text())
    gen_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    sent = rep["scheduled"]
    errors = sum(rep["error_counts"].values())
    return {"rate": rate, "achieved_rate": rep["achieved_rate"], "measured": rep["measured"], "errors": errors,
            "error_counts": rep["error_counts"], "status_counts": rep["status_counts"],
            "p50_ms": rep["latency_from_schedule"]["p50_ms"], "p99_ms": rep["latency_from_schedule"]["p99_ms"],
            "send_lag_p50_ms": rep["send_lag"]["p50_ms"], "send_lag_p99_ms": rep["send_lag"]["p99_ms"],
            "peak_connections": rep["peak_connections"], "wall_s": wall,
            "loadgen_cpu_s": gen_cpu, "loadgen_cpu_us_per_request": gen_cpu / sent * 1e6,
            "worker_cpu_s": worker_cpu, "worker_cpu_us_per_request": worker_cpu / sent * 1e6}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rates", default="2000,5000,10000,15000,20000,30000")
    ap.add_argument("--duration", type=float, default=5)
    ap.add_argument("--warmup", type=float, default=1)
    ap.add_argument("--connections", type=int, default=256)
    ap.add_argument("--worker-threads", type=int, default=1)
    ap.add_argument("--target", choices=["infer", "live"], default="infer",
                    help="infer: POST the tiny model; live: GET /v2/health/live (no inference)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "loadgen-ceiling-latest.json"))
    args = ap.parse_args(argv)
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "make_tiny_model.py"), "--thaw", THAW_BIN],
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        log(r.stderr)
        return 1
    worker = EventProcess([THAW_BIN, "run", str(DATA / "tiny.thaw"), "--port", "0", "--threads",
                           str(args.worker_threads), "--max-connections", "4096"], "thaw run")
    rows = []
    try:
        ready = worker.wait_for("ready", 120)
        base = f"http://127.0.0.1:{ready['port']}"
        url, body = ((f"{base}/v2/models/tiny/infer", DATA / "tiny_request.json") if args.target == "infer"
                     else (f"{base}/v2/health/live", None))
        for rate in [float(x) for x in args.rates.split(",") if x.strip()]:
            row = step(url, body, rate, args.duration, args.warmup, args.connections, worker.proc.pid)
            rows.append(row)
            log(f"{rate:>8.0f}/s: achieved {row['achieved_rate']:8.0f}/s, errors {row['errors']}, p50 "
                f"{row['p50_ms']:.2f} ms, p99 {row['p99_ms']:.2f} ms, send lag p99 {row['send_lag_p99_ms']:.2f} ms, "
                f"loadgen {row['loadgen_cpu_us_per_request']:.1f} us/req, worker {row['worker_cpu_us_per_request']:.1f} us/req")
    finally:
        worker.stop()
    ok = [r for r in rows if r["achieved_rate"] >= 0.99 * r["rate"] and r["errors"] == 0]
    ceiling = max((r["rate"] for r in ok), default=None)
    costs = sorted(r["loadgen_cpu_us_per_request"] for r in rows)
    cost = costs[len(costs) // 2] if costs else None
    doc = {"target": args.target, "worker_threads": args.worker_threads, "cpus": os.cpu_count(),
           "load_average_at_end": os.getloadavg(), "rows": rows, "ceiling_rate": ceiling,
           "loadgen_cpu_us_per_request_median": cost,
           "loadgen_one_core_rate_estimate": 1e6 / cost if cost else None}
    print(f"\n| offered/s | achieved/s | errors | p50 ms | p99 ms | send lag p99 ms | loadgen us/req | worker us/req |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['rate']:.0f} | {r['achieved_rate']:.0f} | {r['errors']} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
              f"{r['send_lag_p99_ms']:.2f} | {r['loadgen_cpu_us_per_request']:.1f} | {r['worker_cpu_us_per_request']:.1f} |")
    print(f"\nceiling (>= 99% achieved, no errors): {ceiling} req/s; load generator CPU "
          f"{cost:.1f} us/request -> about {1e6 / cost:.0f} req/s per core if the server were free")
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n")
    log(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
