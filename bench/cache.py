"""Benchmark of `thaw cache` in front of a throttled registry, all in one run:

  loopback limit  the same bytes from an unthrottled file server (kernel sendfile) over loopback
  direct          the bundle straight from the throttled upstream (no cache)
  miss            through a cold cache (it fetches header+manifest, then chunks in parallel)
  hit             through the warm cache
  shared version  a second version sharing ~90% of its chunks, through the warm cache
  16 concurrent   16 clients miss on the same version at once; upstream requests and bytes counted

Every transfer is `curl -o /dev/null`. Prints a markdown table; writes bench/results/cache-latest.json.
"""
import argparse
import concurrent.futures
import json
import os
import pathlib
import platform
import shutil
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
from cache_harness import Cache, Upstream, make_bundle  # noqa: E402


def curl(url):
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-D", "-", "-w", "\n%{time_total} %{size_download} %{http_code}", url],
                         check=True, capture_output=True, text=True, timeout=600).stdout
    t, size, code = out.strip().splitlines()[-1].split()
    cache_state = next((l.split(":", 1)[1].strip() for l in out.splitlines() if l.lower().startswith("x-thaw-cache")), "")
    if code != "200":
        raise RuntimeError(f"{url}: HTTP {code}")
    return float(t), int(size), cache_state


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=int, default=500, help="bundle size in MB")
    ap.add_argument("--mbps", type=float, default=100, help="upstream bandwidth, MB/s")
    ap.add_argument("--rtt-ms", type=float, default=50, help="upstream latency per request")
    ap.add_argument("--repeats", type=int, default=3, help="runs of the fast measurements (median)")
    ap.add_argument("--work", default=str(ROOT / "bench" / "data" / "cache"))
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "cache-latest.json"))
    args = ap.parse_args()

    work = pathlib.Path(args.work)
    registry = work / "registry"
    v1 = registry / "m" / "1.thaw"
    v2 = registry / "m" / "2.thaw"
    # Ten equal tensors; version 2 changes the first one: it shares 90% of its chunk bytes.
    if not v1.exists() or v1.stat().st_size < args.mb * 0.95 * (1 << 20):
        make_bundle(v1, "m", "1", args.mb, tensors=10)
        make_bundle(v2, "m", "2", args.mb, tensors=10, changed=1, seed_base=1000)
    size = v1.stat().st_size
    n = args.repeats

    fast = Upstream(registry)
    slow = Upstream(registry, mbps=args.mbps, rtt_ms=args.rtt_ms)
    results = {}
    caches = []
    try:
        curl(f"{fast.base}/m/1.thaw")  # page cache warm
        loop = [curl(f"{fast.base}/m/1.thaw")[0] for _ in range(n)]
        results["loopback_s"] = statistics.median(loop)

        results["direct_s"] = curl(f"{slow.base}/m/1.thaw")[0]

        d = work / "cache-a"
        shutil.rmtree(d, ignore_errors=True)
        c = Cache(slow.base, d)
        caches.append(c)
        t, got, state = curl(f"{c.base}/models/m/1")
        assert got == size and state == "miss", (got, state)
        results["miss_s"] = t
        hits = []
        for _ in range(n):
            t, got, state = curl(f"{c.base}/models/m/1")
            assert got == size and state == "hit"
            hits.append(t)
        results["hit_s"] = statistics.median(hits)
        slow.control("/_reset")
        t, got, state = curl(f"{c.base}/models/m/2")
        assert got == v2.stat().st_size and state == "miss"
        results["shared_version_s"] = t
        results["shared_version_upstream_bytes"] = slow.stats()["bytes"]
        recipe1 = json.loads((d / "versions" / "m" / "1.json").read_text())
        recipe2 = json.loads((d / "versions" / "m" / "2.json").read_text())
        ids1 = {x["id"] for x in recipe1["chunks"]}
        shared = sum(x["stored_length"] for x in recipe2["chunks"] if x["id"] in ids1)
        results["shared_chunk_fraction"] = shared / sum(x["stored_length"] for x in recipe2["chunks"])
        results["chunks"] = len(recipe1["chunks"])
        c.stop()

        d = work / "cache-b"
        shutil.rmtree(d, ignore_errors=True)
        c = Cache(slow.base, d)
        caches.append(c)
        slow.control("/_reset")
        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(16) as ex:
            outs = list(ex.map(lambda _: curl(f"{c.base}/models/m/1"), range(16)))
        results["concurrent16_s"] = time.monotonic() - t0
        assert all(o[1] == size for o in outs)
        st = slow.stats()
        results["concurrent16_upstream_requests"] = st["requests"]
        results["concurrent16_upstream_bytes"] = st["bytes"]
        results["single_miss_upstream_requests"] = 1 + len(recipe1["chunks"])
        c.stop()
    finally:
        for c in caches:
            c.stop()
        fast.stop()
        slow.stop()

    mb = size / 1e6
    r = results
    rows = [
        ("loopback limit (unthrottled sendfile)", r["loopback_s"], "-"),
        (f"direct from upstream ({args.mbps:g} MB/s, {args.rtt_ms:g} ms)", r["direct_s"], "-"),
        ("cache miss", r["miss_s"], f"{r['miss_s'] / r['direct_s']:.3f}x direct (target <= 1.1x)"),
        ("cache hit", r["hit_s"], f"{r['loopback_s'] / r['hit_s'] * 100:.0f}% of loopback (target >= 80%)"),
        (f"new version sharing {r['shared_chunk_fraction'] * 100:.0f}% of chunks", r["shared_version_s"],
         f"{r['shared_version_s'] / r['miss_s'] * 100:.1f}% of a full miss (target <= 15%)"),
        ("16 concurrent misses", r["concurrent16_s"],
         f"{r['concurrent16_upstream_requests']} upstream requests vs {r['single_miss_upstream_requests']} for one miss; "
         f"{r['concurrent16_upstream_bytes'] / size:.3f}x the bundle's bytes (target: one fetch)"),
    ]
    print(f"\n`thaw cache`, {mb:.0f} MB bundle, {r['chunks']} chunks, median of {n} for loopback and hit\n")
    print("| transfer | seconds | MB/s | vs target |")
    print("|---|---:|---:|---|")
    for name, t, note in rows:
        print(f"| {name} | {t:.3f} | {mb / t:.0f} | {note} |")
    out = {
        "bundle_bytes": size, "upstream_mbps": args.mbps, "upstream_rtt_ms": args.rtt_ms, "repeats": n,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "results": results,
        "ratios": {
            "miss_over_direct": r["miss_s"] / r["direct_s"],
            "hit_over_loopback_throughput": r["loopback_s"] / r["hit_s"],
            "shared_version_over_full_miss": r["shared_version_s"] / r["miss_s"],
            "concurrent16_single_fetch": r["concurrent16_upstream_requests"] == r["single_miss_upstream_requests"],
        },
    }
    pathlib.Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
