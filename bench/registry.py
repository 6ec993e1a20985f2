"""The registry rung, side by side in one run (docs/registry.md):

  fetch       the bundle's bytes over the throttled link (curl; 100 MB/s shared, 50 ms a request):
              the physical limit of getting it here
  disk        `thaw serve`'s first request with the bundle on local disk (page cache dropped by
              POST /admin/models/M/drain {"rung":"disk"})
  registry    `thaw serve`'s first request for a model that exists only in the registry (`source:`,
              a fresh model store each time): bar <= 1.1 x (fetch + disk)
  cache hit   the same through `thaw cache` on a "second node" that already holds the bundle, against
              the cache-hit rung's own limits: a loopback read of it from `thaw cache` (curl), and
              writing + fsyncing its bytes to the store's disk (the copy must be durable) + disk
  switch      a new version published (POST /admin/models/M/versions) while `thaw bench load` sends
              --rate requests/s to the old one: failed requests (bar 0) and p99 during the switch
              against p99 of the same load just before it (bar <= 2x)
  delta       bytes `thaw serve` fetches for version 2 of a bundle sharing 90 % of its chunks with
              version 1 already in its store (a changed thaw.yaml, restarted): bar <= 15 % of a full fetch

Medians of --repeats runs. Writes bench/results/registry-latest.json and .md.
    bench/registry.sh [--repeats 3] [--mbps 100] [--rtt-ms 50] [--rates 1000,50] [--delta-mb 200]
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
from serve_client import SENTENCES, text_body  # noqa: E402
from serve_harness import Gateway  # noqa: E402

BUNDLE = ROOT / "models" / "minilm.thaw"


def curl_seconds(url):
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{time_total} %{http_code}", url], check=True,
                         capture_output=True, text=True, timeout=600).stdout.split()
    assert out[1] == "200", out
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


def load_run(gw, rate, seconds, out, warmup=0.0):
    """`thaw bench load` at `rate` req/s on one short sentence; returns its JSON report."""
    body = out.with_suffix(".body.json")
    body.write_text(json.dumps(text_body(SENTENCES[:1])))
    return subprocess.Popen([os.environ["THAW_BIN"], "bench", "load", "--url", f"{gw.base}/v2/models/minilm/infer",
                             "--body-file", str(body), "--rate", str(rate), "--duration", str(seconds), "--warmup",
                             str(warmup), "--timeout", "10", "--json", str(out), "-q"])


def failures(report):
    bad = sum(n for code, n in report["status_counts"].items() if code != "200")
    return bad + sum(report["error_counts"].values())


def version_switch(work, up, root, rate, run):
    if not (root / "models" / "minilm" / "2.thaw").exists():
        shutil.copyfile(root / "models" / "minilm" / "1.thaw", root / "models" / "minilm" / "2.thaw")
    gw = serve(work, [{"name": "minilm", "source": f"{up.base}/models/minilm/1.thaw", "prefetch": True,
                       "min_instances": 1, "max_instances": 2, "concurrency": 8}], f"switch{run}")
    try:
        assert first_request(gw, "minilm") < 120
        before = work / "before.json"
        load_run(gw, rate, 8, before, warmup=2).wait(timeout=120)
        during = work / "during.json"
        proc = load_run(gw, rate, 10, during)
        time.sleep(1.5)
        t0 = time.monotonic()
        r = gw.post("/admin/models/minilm/versions", json={"source": f"{up.base}/models/minilm/2.thaw"}, timeout=300)
        switch_s = time.monotonic() - t0
        assert r.status_code == 200, r.text
        proc.wait(timeout=120)
        b, d = json.loads(before.read_text()), json.loads(during.read_text())
        return {"rate": rate, "switch_seconds": switch_s, "version_after": r.json()["version"],
                "before": {"p99_ms": b["latency_from_schedule"]["p99_ms"], "p50_ms": b["latency_from_schedule"]["p50_ms"],
                           "achieved_rate": b["achieved_rate"], "failures": failures(b)},
                "during": {"p99_ms": d["latency_from_schedule"]["p99_ms"], "p50_ms": d["latency_from_schedule"]["p50_ms"],
                           "achieved_rate": d["achieved_rate"], "failures": failures(d)}}
    finally:
        gw.stop()


def serve(work, models, tag):
    config = {"server": {"tick_interval_ms": 50}, "models": models, "store": {"dir": str(work / f"store-{tag}")}}
    path = work / f"thaw-{tag}.yaml"
    path.write_text(json.dumps(config))
    return Gateway("--config", str(path), log_path=work / f"serve-{tag}.log")


def first_request(gw, model):
    t0 = time.monotonic()
    r = gw.session.post(f"{gw.base}/v2/models/{model}/infer", json=text_body(SENTENCES[:1]), timeout=300)
    took = time.monotonic() - t0
    assert r.status_code == 200, r.text
    return took


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--mbps", type=float, default=100)
    ap.add_argument("--rtt-ms", type=float, default=50)
    ap.add_argument("--delta-mb", type=int, default=200)
    ap.add_argument("--rates", default="1000,50",
                    help="request rates (req/s) the version switch runs under, each in its own run: the bar's, and "
                         "one this machine sustains")
    args = ap.parse_args()
    work = pathlib.Path(tempfile.mkdtemp(prefix="thaw-registry-bench-"))
    root = work / "registry"
    (root / "models" / "minilm").mkdir(parents=True)
    shutil.copyfile(BUNDLE, root / "models" / "minilm" / "1.thaw")
    local = work / "local" / "minilm.thaw"
    local.parent.mkdir()
    shutil.copyfile(BUNDLE, local)
    size = BUNDLE.stat().st_size
    up = Upstream(root, mbps=args.mbps, rtt_ms=args.rtt_ms)
    cache = Cache(f"{up.base}/models", work / "cache")
    src = f"{up.base}/models/minilm/1.thaw"
    rows = {"fetch": [], "disk": [], "registry": [], "loopback": [], "write": [], "cache_hit": []}
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
                    store = gw.get("/admin/models").json()["store"]
                finally:
                    gw.stop()
                rows["loopback"].append(curl_seconds(f"{cache.base}/models/minilm/1"))
                rows["write"].append(write_fsync_seconds(local, work / "write-probe"))
                gw = serve(work, [{"name": "minilm", "source": f"{cache.base}/models/minilm/1"}], f"hit{i}")
                try:
                    rows["cache_hit"].append(first_request(gw, "minilm"))
                finally:
                    gw.stop()
                for tag in (f"store-reg{i}", f"store-hit{i}"):
                    shutil.rmtree(work / tag, ignore_errors=True)
        finally:
            disk_gw.stop()

        switches = [version_switch(work, up, root, float(r), i) for i, r in enumerate(args.rates.split(","))]

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
    finally:
        cache.stop()
        up.stop()

    med = {k: statistics.median(v) for k, v in rows.items()}
    ratio_registry = med["registry"] / (med["fetch"] + med["disk"])
    ratio_hit = med["cache_hit"] / (med["loopback"] + med["disk"])
    ratio_hit_durable = med["cache_hit"] / (max(med["loopback"], med["write"]) + med["disk"])
    delta_fraction = fetched["2"]["fetched_bytes"] / fetched["1"]["fetched_bytes"]
    result = {
        "bundle": str(BUNDLE), "bundle_bytes": size, "mbps": args.mbps, "rtt_ms": args.rtt_ms,
        "repeats": args.repeats, "loadavg": os.getloadavg(), "runs_s": rows, "median_s": med,
        "registry_over_fetch_plus_disk": ratio_registry, "bar_registry": 1.1, "meets_registry": ratio_registry <= 1.1,
        "cache_hit_over_loopback_plus_disk": ratio_hit,
        "cache_hit_over_max_loopback_write_plus_disk": ratio_hit_durable,
        "delta": {"v1": fetched["1"], "v2": fetched["2"], "fraction": delta_fraction, "bar": 0.15,
                  "meets": delta_fraction <= 0.15},
        "store_after_registry_run": store,
        "switch": [s | {"p99_ratio": s["during"]["p99_ms"] / s["before"]["p99_ms"],
                        "meets": s["during"]["failures"] == 0 and s["during"]["p99_ms"] <= 2 * s["before"]["p99_ms"]}
                   for s in switches],
    }
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "registry-latest.json").write_text(json.dumps(result, indent=2) + "\n")
    md = [f"# Registry rung ({size / 1e6:.1f} MB MiniLM bundle, link {args.mbps:g} MB/s + {args.rtt_ms:g} ms/request, "
          f"load {os.getloadavg()[0]:.2f}, median of {args.repeats})", "",
          "| what | median s | runs |", "|---|---|---|"]
    names = {"fetch": "fetch its bytes (curl, throttled): the limit", "disk": "thaw serve first request, disk rung",
             "registry": "thaw serve first request, registry rung (source: registry)",
             "loopback": "read it from thaw cache (curl, loopback): the limit",
             "write": "write + fsync its bytes to the store's disk: the limit of a durable copy",
             "cache_hit": "thaw serve first request, source: thaw cache holding it"}
    for k in rows:
        md.append(f"| {names[k]} | {med[k]:.3f} | {', '.join(f'{x:.3f}' for x in rows[k])} |")
    md += ["", f"- registry / (fetch + disk) = **{ratio_registry:.3f}** (bar <= 1.1: {'met' if ratio_registry <= 1.1 else 'MISSED'})",
           f"- cache hit / (loopback read + disk) = **{ratio_hit:.3f}**; / (max(loopback read, write + fsync) + disk) = "
           f"**{ratio_hit_durable:.3f}**",
           *[f"- version switch under {s['rate']:g} req/s offered (achieved {s['during']['achieved_rate']:.0f}/s; "
             f"{s['before']['failures']} failed in the run before it): **{s['during']['failures']}** failed requests "
             f"(bar 0), p99 {s['before']['p99_ms']:.1f} ms before, {s['during']['p99_ms']:.1f} ms during = "
             f"**{s['during']['p99_ms'] / s['before']['p99_ms']:.2f}x** (bar <= 2x); the switch took "
             f"{s['switch_seconds']:.2f} s" for s in switches],
           f"- version 2 sharing 90 % of chunks: fetched {fetched['2']['fetched_bytes'] / 1e6:.1f} MB of "
           f"{fetched['2']['bytes'] / 1e6:.1f} MB (full fetch of version 1: {fetched['1']['fetched_bytes'] / 1e6:.1f} MB) = "
           f"**{100 * delta_fraction:.1f} %** (bar <= 15 %: {'met' if delta_fraction <= 0.15 else 'MISSED'})"]
    (out / "registry-latest.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
