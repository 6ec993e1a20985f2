#!/usr/bin/env python3
"""Data-plane benchmark: requests held behind a cold start must cost nobody else anything.

Two scenarios, each on a fresh `thaw serve` over copies of the tiny model (tools/make_tiny_model.py):

  head-of-line  A warm model ("warm", min_instances 1) takes 1k req/s (open loop, `thaw bench load`)
                for --duration s. In the burst rounds, --burst requests arrive at once for a cold
                model ("cold") whose start is slowed to --start-delay-ms by the test option
                `thaw run --debug-start-delay-ms`. Rounds with and without the burst alternate; the
                figures are medians over rounds: the warm model's p99 with and without the burst,
                its errors, and how many burst requests were answered 200.
  holding       --hold concurrent connections each send one request to a cold model whose start
                takes --hold-delay-ms; the gateway's RSS is sampled while they wait. Memory per
                waiting request = (peak RSS while all wait - RSS before) / requests waiting. Every
                request must be answered 200 once the model starts.

--baseline configures a gateway whose waiting requests hold threads (1,024 threads, 1,022 waiting,
the most such a build accepts), to measure the same scenarios on such a build (--thaw PATH);
--server-defaults leaves the server's limits at the build's defaults instead.

Usage: bench/dataplane.sh [--thaw PATH] [--baseline] [--rounds 3] [--duration 20] [--burst 1000]
                          [--hold 10000] [--skip-hold] [--skip-hol] [--label NAME]
Writes bench/results/dataplane-<label>.json.
"""
import argparse
import datetime as dt
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from gateway import EventProcess, load_row, log  # noqa: E402

DATA = ROOT / "bench" / "data"


def ensure_tiny(thaw):
    if not (DATA / "tiny.thaw").exists() or not (DATA / "tiny_request.json").exists():
        env = dict(os.environ, THAW_BIN=thaw)
        subprocess.run([sys.executable, str(ROOT / "tools" / "make_tiny_model.py")], check=True, env=env)


def write_config(directory, args, cold_delay_ms, queue):
    """thaw.yaml with a warm and a cold copy of the tiny model."""
    bundle = DATA / "tiny.thaw"
    server = ["  port: 0"]
    if args.server_defaults:
        pass  # the build's own server limits (threads, max_waiting)
    elif args.baseline:
        server += ["  threads: 1024", "  max_waiting: 1022"]
    else:
        server += [f"  max_waiting: {queue}"]
    text = "\n".join([
        "server:", *server,
        "models:",
        f"  - {{name: warm, bundle: {bundle}, min_instances: 1, max_instances: 1}}",
        f"  - {{name: cold, bundle: {bundle}, max_instances: 1, queue_limit: {queue}, queue_timeout_ms: 120000,",
        f"      start_timeout_ms: {cold_delay_ms + 60000}, worker_args: [--debug-start-delay-ms, '{cold_delay_ms}']}}",
        ""])
    path = pathlib.Path(directory) / "thaw.yaml"
    path.write_text(text)
    return path


def get_json(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as r:
        return json.loads(r.read())


def start_gateway(thaw, config):
    g = EventProcess([thaw, "serve", "--config", str(config), "--port", "0"], "thaw serve")
    ev = g.wait_for("serving", 60)
    g.port = ev["port"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the warm model's floor instance
        models = {m["name"]: m for m in get_json(g.port, "/admin/models")["models"]}
        if len(models["warm"]["instances"]) >= 1:
            return g
        time.sleep(0.05)
    raise RuntimeError("the warm model's floor instance did not start")


def load(thaw, url, args_list, timeout):
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        cmd = [thaw, "bench", "load", "--url", url, "--body-file", str(DATA / "tiny_request.json"), "--quiet",
               "--json", out.name, *args_list]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError(f"thaw bench load failed ({r.returncode}): {r.stderr[-2000:]}")
        return json.loads(pathlib.Path(out.name).read_text())


def burst_schedule(directory, n):
    path = pathlib.Path(directory) / f"burst-{n}.sched"
    path.write_text("0\n" * n)
    return path


def ok_count(report):
    return sum(n for code, n in report["status_counts"].items() if code.startswith("2"))


def hol_round(thaw, config, args, with_burst, sched):
    g = start_gateway(thaw, config)
    base = f"http://127.0.0.1:{g.port}"
    try:
        result = {}
        burst_thread = None
        if with_burst:
            def fire():
                time.sleep(args.warmup + args.burst_at)
                result["burst"] = load(thaw, base + "/v2/models/cold/infer",
                                       ["--schedule", str(sched), "--connections", str(args.burst),
                                        "--timeout", str(args.start_delay_ms / 1000 + 60)], 600)
            burst_thread = threading.Thread(target=fire)
            burst_thread.start()
        warm = load(thaw, base + "/v2/models/warm/infer",
                    ["--rate", str(args.rate), "--duration", str(args.duration), "--warmup", str(args.warmup),
                     "--connections", "64", "--timeout", "10"], args.duration + args.warmup + 120)
        if burst_thread:
            burst_thread.join()
        row = {"warm": load_row(warm)}
        if with_burst:
            b = result["burst"]
            row["burst"] = {"sent": b["measured"], "ok": ok_count(b), "status_counts": b["status_counts"],
                            "error_counts": b["error_counts"], "p50_ms": b["latency_from_schedule"]["p50_ms"],
                            "max_ms": b["latency_from_schedule"]["max_ms"],
                            "examples": {**b.get("status_examples", {}), **b["error_examples"]}}
        return row
    finally:
        g.stop()


def head_of_line(thaw, args, tmp):
    config = write_config(tmp, args, args.start_delay_ms, max(args.burst * 2, 2000))
    sched = burst_schedule(tmp, args.burst)
    quiet, burst = [], []
    for i in range(args.rounds):
        for with_burst in ((False, True) if i % 2 == 0 else (True, False)):
            row = hol_round(thaw, config, args, with_burst, sched)
            (burst if with_burst else quiet).append(row)
            w = row["warm"]
            extra = ""
            if with_burst:
                extra = f" | burst: {row['burst']['ok']}/{row['burst']['sent']} answered 200, " \
                        f"max {row['burst']['max_ms']:.0f} ms {row['burst']['examples'] or ''}"
            log(f"  round {i + 1} {'burst' if with_burst else 'quiet'}: warm p50 {w['p50_ms']:.3f} p99 "
                f"{w['p99_ms']:.3f} ms, errors {w['errors']}, non-2xx {w['non_2xx']}{extra}")
    med = lambda rows, key: statistics.median(r["warm"][key] for r in rows)
    summary = {
        "warm_p99_quiet_ms": med(quiet, "p99_ms"), "warm_p99_burst_ms": med(burst, "p99_ms"),
        "warm_p50_quiet_ms": med(quiet, "p50_ms"), "warm_p50_burst_ms": med(burst, "p50_ms"),
        "warm_errors_burst": sum(r["warm"]["errors"] + r["warm"]["non_2xx"] for r in burst),
        "burst_answered_ok": [r["burst"]["ok"] for r in burst], "burst_size": args.burst,
        "p99_diffs_ms": [b["warm"]["p99_ms"] - q["warm"]["p99_ms"] for q, b in zip(quiet, burst)],
    }
    summary["p99_added_ms"] = summary["warm_p99_burst_ms"] - summary["warm_p99_quiet_ms"]
    return {"summary": summary, "quiet": quiet, "burst": burst}


def rss_kib(pid):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def threads_of(pid):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 0


def holding(thaw, args, tmp):
    config = write_config(tmp, args, args.hold_delay_ms, args.hold * 2)
    sched = burst_schedule(tmp, args.hold)
    g = start_gateway(thaw, config)
    pid = g.proc.pid
    try:
        time.sleep(1.0)
        before = rss_kib(pid)
        threads_before = threads_of(pid)
        result = {}

        def fire():
            result["load"] = load(thaw, f"http://127.0.0.1:{g.port}/v2/models/cold/infer",
                                  ["--schedule", str(sched), "--connections", str(args.hold),
                                   "--timeout", str(args.hold_delay_ms / 1000 + 120)], 900)
        t = threading.Thread(target=fire)
        t0 = time.monotonic()
        t.start()
        peak, peak_threads, waiting_peak, samples = before, threads_before, 0, []
        while t.is_alive():
            try:
                m = {x["name"]: x for x in get_json(g.port, "/admin/models")["models"]}["cold"]
                waiting = sum(m["queue"].values())
            except Exception:  # noqa: BLE001 - the admin route may be slow while 10k connect
                waiting = -1
            r = rss_kib(pid)
            samples.append((round(time.monotonic() - t0, 2), r, waiting))
            if waiting >= waiting_peak and waiting > 0:
                waiting_peak = waiting
                peak = max(peak, r)
                peak_threads = max(peak_threads, threads_of(pid))
            time.sleep(0.1)
        t.join()
        rep = result["load"]
        out = {"requests": args.hold, "answered_ok": ok_count(rep), "status_counts": rep["status_counts"],
               "error_counts": rep["error_counts"],
               "examples": {**rep.get("status_examples", {}), **rep["error_examples"]},
               "rss_before_kib": before, "rss_peak_waiting_kib": peak, "waiting_peak": waiting_peak,
               "threads_before": threads_before, "threads_peak": peak_threads,
               "latency_p50_ms": rep["latency_from_schedule"]["p50_ms"],
               "latency_max_ms": rep["latency_from_schedule"]["max_ms"], "samples": samples[::5]}
        out["kib_per_waiting_request"] = (peak - before) / waiting_peak if waiting_peak > 0 else None
        log(f"  holding: {out['answered_ok']}/{args.hold} answered 200, peak waiting {waiting_peak}, RSS "
            f"{before / 1024:.1f} -> {peak / 1024:.1f} MiB, threads {threads_before} -> {peak_threads}, "
            f"{out['kib_per_waiting_request'] or float('nan'):.2f} KiB per waiting request; "
            f"{out['examples'] or ''}")
        return out
    finally:
        g.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--thaw", default=os.environ.get("THAW_BIN", str(ROOT / "build" / "thaw")))
    ap.add_argument("--baseline", action="store_true", help="configure for a build whose waiting requests hold threads")
    ap.add_argument("--server-defaults", action="store_true",
                    help="leave the server limits (threads, max_waiting) at the build's defaults")
    ap.add_argument("--label", default="latest")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--rate", type=float, default=1000)
    ap.add_argument("--duration", type=float, default=20)
    ap.add_argument("--warmup", type=float, default=2)
    ap.add_argument("--burst", type=int, default=1000)
    ap.add_argument("--burst-at", type=float, default=3, help="seconds into the measured window")
    ap.add_argument("--start-delay-ms", type=int, default=3000)
    ap.add_argument("--hold", type=int, default=10000)
    ap.add_argument("--hold-delay-ms", type=int, default=15000)
    ap.add_argument("--skip-hol", action="store_true")
    ap.add_argument("--skip-hold", action="store_true")
    args = ap.parse_args()
    ensure_tiny(args.thaw)
    out = {"when": dt.datetime.now(dt.timezone.utc).isoformat(), "thaw": args.thaw, "args": vars(args),
           "load_avg_start": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_hol:
            log(f"head-of-line: warm at {args.rate:g} req/s, burst of {args.burst} on a cold model "
                f"({args.start_delay_ms} ms start), {args.rounds} rounds")
            out["head_of_line"] = head_of_line(args.thaw, args, tmp)
            s = out["head_of_line"]["summary"]
            log(f"  warm p99 quiet {s['warm_p99_quiet_ms']:.3f} ms, with burst {s['warm_p99_burst_ms']:.3f} ms "
                f"(+{s['p99_added_ms']:.3f}), warm errors {s['warm_errors_burst']}, burst answered "
                f"{s['burst_answered_ok']} of {args.burst}")
        if not args.skip_hold:
            log(f"holding: {args.hold} connections waiting on a cold model ({args.hold_delay_ms} ms start)")
            out["holding"] = holding(args.thaw, args, tmp)
    out["load_avg_end"] = os.getloadavg()
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    path = results / f"dataplane-{args.label}.json"
    path.write_text(json.dumps(out, indent=1))
    log(f"wrote {path}")


if __name__ == "__main__":
    main()
