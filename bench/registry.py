"""The registry rung, side by side in one run (docs/registry.md):

  fetch       the bundle's bytes over the throttled link (curl; 100 MB/s shared, 50 ms a request):
              the physical limit of getting it here
  disk        `thaw serve`'s first request with the bundle on local disk (page cache dropped by
              POST /admin/models/M/drain {"rung":"disk"})
  registry    `thaw serve`'s first request for a model that exists only in the registry (`source:`,
              a fresh model store each time): bar <= 1.1 x (fetch + disk)
  cache hit   the same through `thaw cache` on a "second node" that already holds the bundle, against
              the cache-hit rung's own limits: a loopback read of it from `thaw cache` (curl), and
              writing + fsyncing its bytes to the store's disk (what a fetch that waits for the disk
              before it starts pays) + disk; with --baseline-bin, the same first request by another
              thaw binary (an older build, before/after in one run)
  switch      a new version published (POST /admin/models/M/versions) while `thaw bench load` sends
              --rates requests/s to the old one (MiniLM): failed requests (bar 0) and p99 during the
              switch against p99 of the same load just before it (bar <= 2x), --repeats switches
              (2, then back to 1, ...): failures summed, p99s and ratios as medians
  tiny switch the same on the tiny model (tools/make_tiny_model.py), light enough to take the bar's
              1,000 req/s through `thaw serve` here: --tiny-rates are tried from the first; the
              switch runs at the first rate whose run before it has 0 failures (each rate tried and
              its failures are recorded, so a lower rate says the machine could not sustain more)
  delta       bytes `thaw serve` fetches for version 2 of a bundle sharing 90 % of its chunks with
              version 1 already in its store (a changed thaw.yaml, restarted): bar <= 15 % of a full fetch

Medians of --repeats runs. Writes bench/results/registry-latest.json and .md.
    bench/registry.sh [--repeats 3] [--mbps 100] [--rtt-ms 50] [--rates 1000,50] [--delta-mb 200]
                      [--tiny-rates 1000,800,600,400,200] [--baseline-bin PATH] [--only-cache-hit]
"""
import argparse
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
from cache_harness import Cache, Upstream, make_bundle  # noqa: E402
sys.path.insert(0, str(ROOT / "tools"))
import make_tiny_model  # noqa: E402
import serve_harness  # noqa: E402
from serve_client import SENTENCES, text_body  # noqa: E402
from serve_harness import Gateway  # noqa: E402

BUNDLE = ROOT / "models" / "minilm.thaw"


class Done(Exception):
    """--only-cache-hit: the rows it asks for are measured."""


def curl_seconds(url, dest="/dev/null"):
    out = subprocess.run(["curl", "-s", "-o", str(dest), "-w", "%{time_total} %{http_code}", url], check=True,
                         capture_output=True, text=True, timeout=600).stdout.split()
    assert out[1] == "200", out
    if dest != "/dev/null":
        os.unlink(dest)
    return float(out[0])


def write_fsync_seconds(src, dest):
    """Writes the bundle's bytes to the store's disk and fsyncs them: what a durable local copy costs."""
    data = pathlib.Path(src).read_bytes()
    t0 = time.monotonic()
    with open(dest, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    took = time.monotonic() - t0
    os.unlink(dest)
    return took


def load_run(gw, model, body, rate, seconds, out, warmup=0.0):
    """`thaw bench load` at `rate` req/s of `body` to `model`; writes its JSON report to `out`."""
    return subprocess.Popen([os.environ["THAW_BIN"], "bench", "load", "--url", f"{gw.base}/v2/models/{model}/infer",
                             "--body-file", str(body), "--rate", str(rate), "--duration", str(seconds), "--warmup",
                             str(warmup), "--timeout", "10", "--json", str(out), "-q"])


def failures(report):
    bad = sum(n for code, n in report["status_counts"].items() if code != "200")
    return bad + sum(report["error_counts"].values())


def summary(report):
    lat = report["latency_from_schedule"]
    return {"p99_ms": lat["p99_ms"], "p50_ms": lat["p50_ms"], "achieved_rate": report["achieved_rate"],
            "failures": failures(report)}


def version_switch(work, up, root, model, body, rates, tag, rounds):
    """Serves `model` from the registry as version 1, finds the first of `rates` whose run has no failure
    (the last rate if none), then `rounds` times: the same load just before, and during which the other
    version is published (2, then 1: a rollback is the same operation), then just after.
    Version 2 holds version 1's bytes: what is timed is start-beside-then-switch, not the fetch."""
    versions = root / "models" / model
    if not (versions / "2.thaw").exists():
        shutil.copyfile(versions / "1.thaw", versions / "2.thaw")
    config = {"name": model, "source": f"{up.base}/models/{model}/1.thaw", "prefetch": True, "min_instances": 1,
              "max_instances": 2, "concurrency": 8}
    gw = serve(work, [config], f"switch-{tag}")

    def run(name, rate, seconds, warmup=0.0):
        out = work / f"{name}-{tag}.json"
        return load_run(gw, model, body, rate, seconds, out, warmup), out

    try:
        assert first_request(gw, model, json.loads(pathlib.Path(body).read_text())) < 120
        tried = []
        for rate in rates:
            proc, out = run(f"probe-{rate:g}", rate, 8, warmup=2)
            proc.wait(timeout=120)
            probe = summary(json.loads(out.read_text()))
            tried.append({"rate": rate} | probe)
            if probe["failures"] == 0:
                break
        runs = []
        for i in range(rounds):
            version = "2" if i % 2 == 0 else "1"
            proc, before = run("before", rate, 8, warmup=1)
            proc.wait(timeout=120)
            proc, during = run("during", rate, 10)
            time.sleep(1.5)
            t0 = time.monotonic()
            r = gw.post(f"/admin/models/{model}/versions",
                        json={"source": f"{up.base}/models/{model}/{version}.thaw"}, timeout=300)
            switch_s = time.monotonic() - t0
            assert r.status_code == 200, r.text
            proc.wait(timeout=120)
            proc, after = run("after", rate, 5)
            proc.wait(timeout=120)
            b, d = summary(json.loads(before.read_text())), summary(json.loads(during.read_text()))
            runs.append({"to_version": r.json()["version"], "switch_seconds": switch_s, "before": b, "during": d,
                         "after": summary(json.loads(after.read_text())), "p99_ratio": d["p99_ms"] / b["p99_ms"]})
        return {"model": model, "rate": rate, "rates_tried": tried, "runs": runs,
                "failures": {k: sum(x[k]["failures"] for x in runs) for k in ("before", "during", "after")},
                "median": {"before_p99_ms": statistics.median(x["before"]["p99_ms"] for x in runs),
                           "during_p99_ms": statistics.median(x["during"]["p99_ms"] for x in runs),
                           "after_p99_ms": statistics.median(x["after"]["p99_ms"] for x in runs),
                           "p99_ratio": statistics.median(x["p99_ratio"] for x in runs),
                           "switch_seconds": statistics.median(x["switch_seconds"] for x in runs),
                           "achieved_rate_during": statistics.median(x["during"]["achieved_rate"] for x in runs)}}
    finally:
        gw.stop()


def worker_timeline(bundle):
    """`thaw run` on a local bundle: the cold-start timeline of its ready event (ms per phase)."""
    proc = subprocess.Popen([serve_harness.THAW_BIN, "run", "--port", "0", str(bundle)], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        for line in proc.stdout:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if ev.get("event") == "ready":
                return ev["timeline"]
        raise RuntimeError("thaw run ended before it was ready")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def serve(work, models, tag, overlap=True):
    """overlap=False: store.start_while_fetching off (the start waits for the whole fetch)."""
    config = {"server": {"tick_interval_ms": 50}, "models": models,
              "store": {"dir": str(work / f"store-{tag}"), **({} if overlap else {"start_while_fetching": False})}}
    path = work / f"thaw-{tag}.yaml"
    path.write_text(json.dumps(config))
    return Gateway("--config", str(path), log_path=work / f"serve-{tag}.log")


def first_request(gw, model, body=None):
    t0 = time.monotonic()
    r = gw.session.post(f"{gw.base}/v2/models/{model}/infer", json=body or text_body(SENTENCES[:1]), timeout=300)
    took = time.monotonic() - t0
    assert r.status_code == 200, r.text
    return took


def switch_met(s):
    return s["failures"]["during"] == 0 and s["median"]["p99_ratio"] <= 2


def switch_line(s):
    tried = ""
    if len(s["rates_tried"]) > 1:
        tried = " (not sustained with 0 failures: " + ", ".join(
            f"{t['rate']:g} req/s: {t['failures']} failed" for t in s["rates_tried"][:-1]) + ")"
    m, f = s["median"], s["failures"]
    ratios = ", ".join(f"{x['p99_ratio']:.2f}" for x in s["runs"])
    return (f"- version switch, {s['model']}, under {s['rate']:g} req/s offered{tried} (achieved "
            f"{m['achieved_rate_during']:.0f}/s), {len(s['runs'])} switches: failed requests {f['before']} before, "
            f"**{f['during']}** during (bar 0), {f['after']} after; median p99 {m['before_p99_ms']:.2f} ms before, "
            f"{m['during_p99_ms']:.2f} ms during, {m['after_p99_ms']:.2f} ms after; median during/before "
            f"**{m['p99_ratio']:.2f}x** (runs: {ratios}; "
            f"bar <= 2x: {'met' if switch_met(s) else 'MISSED'}); a switch took {m['switch_seconds']:.2f} s")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--mbps", type=float, default=100)
    ap.add_argument("--rtt-ms", type=float, default=50)
    ap.add_argument("--delta-mb", type=int, default=200)
    ap.add_argument("--rates", default="1000,50",
                    help="request rates (req/s) the version switch runs under, each in its own run: the bar's, and "
                         "one this machine sustains")
    ap.add_argument("--tiny-rates", default="1000,800,600,400,200",
                    help="request rates (req/s) for the version switch on the tiny model, highest first: the switch "
                         "runs at the first one the machine sustains with 0 failures before it")
    ap.add_argument("--baseline-bin", default="",
                    help="another thaw binary whose cache-hit first request is measured in the same runs (before/after)")
    ap.add_argument("--only-cache-hit", action="store_true",
                    help="measure the fetch, disk, registry and cache-hit rows only (no switch, no delta)")
    args = ap.parse_args()
    load_start = os.getloadavg()
    work = pathlib.Path(tempfile.mkdtemp(prefix="thaw-registry-bench-"))
    root = work / "registry"
    (root / "models" / "minilm").mkdir(parents=True)
    shutil.copyfile(BUNDLE, root / "models" / "minilm" / "1.thaw")
    tiny = work / "tiny"
    assert make_tiny_model.main(["--out", str(tiny), "--thaw", os.environ["THAW_BIN"]]) == 0
    (root / "models" / "tiny").mkdir()
    shutil.copyfile(tiny / "tiny.thaw", root / "models" / "tiny" / "1.thaw")
    local = work / "local" / "minilm.thaw"
    local.parent.mkdir()
    shutil.copyfile(BUNDLE, local)
    size = BUNDLE.stat().st_size
    up = Upstream(root, mbps=args.mbps, rtt_ms=args.rtt_ms)
    cache = Cache(f"{up.base}/models", work / "cache")
    src = f"{up.base}/models/minilm/1.thaw"
    rows = {"fetch": [], "disk": [], "registry": [], "registry_no_overlap": [], "registry_first_phase": [],
            "loopback": [], "write": [], "cache_hit": [], "cache_hit_no_overlap": [],
            "cache_hit_fetch": [], "loopback_to_file": [], "start_exec_to_main": [], "start_exec_to_ready": []}
    if args.baseline_bin:
        baseline_bin = work / "thaw-baseline"
        shutil.copyfile(args.baseline_bin, baseline_bin)  # a copy: the original may be rebuilt meanwhile
        baseline_bin.chmod(0o755)
        rows["cache_hit_baseline"] = []
    try:
        # The second node's cache holds the bundle before the runs (its hit is what is measured).
        curl_seconds(f"{cache.base}/models/minilm/1")
        disk_gw = serve(work, [{"name": "minilm", "bundle": str(local)}], "disk")
        try:
            for i in range(args.repeats):
                rows["fetch"].append(curl_seconds(src))
                assert disk_gw.post("/admin/models/minilm/drain", json={"rung": "disk"}).status_code == 200
                rows["disk"].append(first_request(disk_gw, "minilm"))
                gw = serve(work, [{"name": "minilm", "source": src}], f"reg{i}")
                try:
                    rows["registry"].append(first_request(gw, "minilm"))
                    deadline = time.monotonic() + 120  # the answer may come before the fetch ends
                    while not gw.get("/admin/models").json()["store"]["models"][0]["present"] and time.monotonic() < deadline:
                        time.sleep(0.05)
                    store = gw.get("/admin/models").json()["store"]
                    rows["registry_first_phase"].append(store["models"][0]["last_fetch"]["first_phase_seconds"])
                finally:
                    gw.stop()
                gw = serve(work, [{"name": "minilm", "source": src}], f"regoff{i}", overlap=False)
                try:
                    rows["registry_no_overlap"].append(first_request(gw, "minilm"))
                finally:
                    gw.stop()
                rows["loopback"].append(curl_seconds(f"{cache.base}/models/minilm/1"))
                rows["write"].append(write_fsync_seconds(local, work / "write-probe"))
                # The same read landing in a file on the store's disk (page cache, no fsync): what
                # any fetch pays beyond the loopback read, before checking a byte.
                rows["loopback_to_file"].append(curl_seconds(f"{cache.base}/models/minilm/1", work / "curl-probe"))
                gw = serve(work, [{"name": "minilm", "source": f"{cache.base}/models/minilm/1"}], f"hit{i}")
                try:
                    rows["cache_hit"].append(first_request(gw, "minilm"))
                    deadline = time.monotonic() + 120
                    while not gw.get("/admin/models").json()["store"]["models"][0]["present"] and time.monotonic() < deadline:
                        time.sleep(0.02)
                    rows["cache_hit_fetch"].append(gw.get("/admin/models").json()["store"]["models"][0]["last_fetch"]["seconds"])
                finally:
                    gw.stop()
                gw = serve(work, [{"name": "minilm", "source": f"{cache.base}/models/minilm/1"}], f"hitoff{i}",
                           overlap=False)
                try:
                    rows["cache_hit_no_overlap"].append(first_request(gw, "minilm"))
                finally:
                    gw.stop()
                if args.baseline_bin:
                    own, serve_harness.THAW_BIN = serve_harness.THAW_BIN, str(baseline_bin)
                    try:
                        gw = serve(work, [{"name": "minilm", "source": f"{cache.base}/models/minilm/1"}], f"base{i}")
                    finally:
                        serve_harness.THAW_BIN = own
                    try:
                        rows["cache_hit_baseline"].append(first_request(gw, "minilm"))
                    finally:
                        gw.stop()
                # The worker's start before it opens its bundle (exec to main), beside its whole
                # start: what a start overlapped with a fetch hides at the least (docs/registry.md).
                timeline = worker_timeline(local)
                rows["start_exec_to_main"].append(timeline["exec_to_main_ms"] / 1000)
                rows["start_exec_to_ready"].append(timeline["exec_to_ready_ms"] / 1000)
                for tag in (f"store-reg{i}", f"store-hit{i}", f"store-base{i}", f"store-regoff{i}", f"store-hitoff{i}"):
                    shutil.rmtree(work / tag, ignore_errors=True)
        finally:
            disk_gw.stop()

        if args.only_cache_hit:
            raise Done
        minilm_body = work / "minilm-body.json"
        minilm_body.write_text(json.dumps(text_body(SENTENCES[:1])))
        switches = [version_switch(work, up, root, "minilm", minilm_body, [float(r)], f"minilm{i}", args.repeats)
                    for i, r in enumerate(args.rates.split(","))]
        switches.append(version_switch(work, up, root, "tiny", tiny / "tiny_request.json",
                                       [float(r) for r in args.tiny_rates.split(",")], "tiny", args.repeats))

        # Delta: version 2 shares 9 of 10 tensors' chunks with version 1 (same layout, one tensor new).
        make_bundle(root / "models" / "synth" / "1.thaw", "synth", "1", args.delta_mb, 10, 0, 0)
        make_bundle(root / "models" / "synth" / "2.thaw", "synth", "2", args.delta_mb, 10, 1, 1000)
        fetched = {}
        for version in ("1", "2"):
            config_models = [{"name": "synth", "source": f"{up.base}/models/synth/{version}.thaw", "prefetch": True}]
            gw = serve(work, config_models, "delta")
            try:
                deadline = time.monotonic() + 300
                while time.monotonic() < deadline:
                    entry = gw.get("/admin/models").json()["store"]["models"][0]
                    if entry.get("last_fetch") or entry.get("last_error"):
                        break
                    time.sleep(0.1)
                assert entry.get("last_fetch"), entry
                fetched[version] = entry["last_fetch"] | {"bytes": entry["bytes"]}
            finally:
                gw.stop()
    except Done:
        switches, fetched = [], None
    finally:
        cache.stop()
        up.stop()

    med = {k: statistics.median(v) for k, v in rows.items()}
    ratio_registry = med["registry"] / (med["fetch"] + med["disk"])
    ratio_hit = med["cache_hit"] / (med["loopback"] + med["disk"])
    ratio_registry_off = med["registry_no_overlap"] / (med["fetch"] + med["disk"])
    ratio_hit_off = med["cache_hit_no_overlap"] / (med["loopback"] + med["disk"])
    ratio_hit_durable = med["cache_hit"] / (max(med["loopback"], med["write"]) + med["disk"])
    delta_fraction = fetched["2"]["fetched_bytes"] / fetched["1"]["fetched_bytes"] if fetched else None
    result = {
        "bundle": str(BUNDLE), "bundle_bytes": size, "mbps": args.mbps, "rtt_ms": args.rtt_ms,
        "repeats": args.repeats, "loadavg_start": load_start, "loadavg": os.getloadavg(), "runs_s": rows, "median_s": med,
        "registry_over_fetch_plus_disk": ratio_registry, "bar_registry": 1.1, "meets_registry": ratio_registry <= 1.1,
        "cache_hit_over_loopback_plus_disk": ratio_hit,
        "registry_no_overlap_over_fetch_plus_disk": ratio_registry_off,
        "cache_hit_no_overlap_over_loopback_plus_disk": ratio_hit_off,
        "cache_hit_over_max_loopback_write_plus_disk": ratio_hit_durable,
        "bar_cache_hit": 1.1, "meets_cache_hit": ratio_hit <= 1.1,
        "delta": {"v1": fetched["1"], "v2": fetched["2"], "fraction": delta_fraction, "bar": 0.15,
                  "meets": delta_fraction <= 0.15} if fetched else None,
        "store_after_registry_run": store,
        "switch": [s | {"meets": switch_met(s)} for s in switches],
    }
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    stem = "registry-cache-hit-latest" if args.only_cache_hit else "registry-latest"
    (out / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    md = [f"# Registry rung ({size / 1e6:.1f} MB MiniLM bundle, link {args.mbps:g} MB/s + {args.rtt_ms:g} ms/request, "
          f"load average {' / '.join(f'{x:.2f}' for x in load_start)} at start, "
          f"{' / '.join(f'{x:.2f}' for x in os.getloadavg())} at end, on {os.cpu_count()} cores; median of {args.repeats})", "",
          "| what | median s | runs |", "|---|---|---|"]
    names = {"fetch": "fetch its bytes (curl, throttled): the limit", "disk": "thaw serve first request, disk rung",
             "registry": "thaw serve first request, registry rung (source: registry), start while fetching",
             "registry_no_overlap": "the same, store.start_while_fetching: false",
             "registry_first_phase": "of which the fetch's first phase (what a start reads: the files)",
             "loopback": "read it from thaw cache (curl, loopback): the limit",
             "write": "write + fsync its bytes to the store's disk (a durable copy; the store syncs it after the start)",
             "cache_hit": "thaw serve first request, source: thaw cache holding it, start while fetching",
             "cache_hit_no_overlap": "the same, store.start_while_fetching: false",
             "cache_hit_fetch": "of which the store's fetch (its log: request to rename)",
             "loopback_to_file": "read it from thaw cache into a file on the store's disk (curl -o, no fsync)",
             "start_exec_to_main": "a worker's start before it opens its bundle (exec to main)",
             "start_exec_to_ready": "a worker's whole start (exec to ready, bundle in the page cache)",
             "cache_hit_baseline": f"the same, {args.baseline_bin} (baseline)"}
    for k in rows:
        md.append(f"| {names[k]} | {med[k]:.3f} | {', '.join(f'{x:.3f}' for x in rows[k])} |")
    md += ["", f"- registry / (fetch + disk) = **{ratio_registry:.3f}** (bar <= 1.1: {'met' if ratio_registry <= 1.1 else 'MISSED'})",
           f"- cache hit / (loopback read + disk) = **{ratio_hit:.3f}** (bar <= 1.1: {'met' if ratio_hit <= 1.1 else 'MISSED'}); "
           f"/ (max(loopback read, write + fsync) + disk) = **{ratio_hit_durable:.3f}**",
           f"- without start while fetching: registry / (fetch + disk) = **{ratio_registry_off:.3f}**, "
           f"cache hit / (loopback read + disk) = **{ratio_hit_off:.3f}**; a worker's exec to main is "
           f"{1000 * med['start_exec_to_main']:.0f} ms of its {1000 * med['start_exec_to_ready']:.0f} ms start",
           *([f"- baseline cache hit / (loopback read + disk) = **{med['cache_hit_baseline'] / (med['loopback'] + med['disk']):.3f}**"]
             if args.baseline_bin else []),
           *[switch_line(s) for s in switches]]
    if fetched:
        md += [f"- version 2 sharing 90 % of chunks: fetched {fetched['2']['fetched_bytes'] / 1e6:.1f} MB of "
               f"{fetched['2']['bytes'] / 1e6:.1f} MB (full fetch of version 1: {fetched['1']['fetched_bytes'] / 1e6:.1f} MB) = "
               f"**{100 * delta_fraction:.1f} %** (bar <= 15 %: {'met' if delta_fraction <= 0.15 else 'MISSED'})"]
    (out / f"{stem}.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
