"""Benchmark of `thaw cache` in front of a throttled registry, all in one run:

  loopback limit  the same bytes from nginx (sendfile, unthrottled) over loopback; also shown: the
                  Python file server unthrottled, and a page-cache read of the file (cat)
  direct          the bundle straight from the throttled upstream (no cache)
  miss            through a cold cache (it fetches header+manifest, then chunks in parallel)
  hit             through the warm cache
  shared version  a second version sharing ~90% of its chunks: POST /prefetch into a cache that holds
                  version 1 (upstream work), against POST /prefetch of version 1 into an empty
                  cache; and a client GET of it through the warm cache (end to end)
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
import socket
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


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Nginx:
    """nginx serving the registry directory over loopback with sendfile: the transfer limit."""

    def __init__(self, root, work):
        self.port = free_port()
        work.mkdir(parents=True, exist_ok=True)
        conf = work / "nginx.conf"
        temps = " ".join(f"{k}_temp_path {work}/{k};" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        user = "user root;" if os.geteuid() == 0 else ""
        conf.write_text(f"""{user} daemon off; worker_processes 1; pid {work}/nginx.pid; error_log {work}/error.log;
events {{ worker_connections 64; }}
http {{ access_log off; sendfile on; tcp_nopush on; {temps}
  server {{ listen 127.0.0.1:{self.port}; root {root}; }} }}
""")
        self.proc = subprocess.Popen([shutil.which("nginx") or "/usr/sbin/nginx", "-c", str(conf), "-p", str(work)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nginx did not start: " + self.proc.stderr.read().decode(errors="replace"))

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def timed_post(url, body):
    t0 = time.monotonic()
    out = subprocess.run(["curl", "-s", "-f", "-X", "POST", "-H", "Content-Type: application/json", "-d", json.dumps(body),
                          url], check=True, capture_output=True, timeout=600)
    return time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=int, default=500, help="bundle size in MB")
    ap.add_argument("--mbps", type=float, default=100, help="upstream bandwidth, MB/s")
    ap.add_argument("--rtt-ms", type=float, default=50, help="upstream latency per request")
    ap.add_argument("--repeats", type=int, default=5, help="runs of the fast measurements (median)")
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
    nginx = Nginx(registry, work / "nginx") if shutil.which("nginx") or os.path.exists("/usr/sbin/nginx") else None
    results = {}
    caches = []
    try:
        curl(f"{fast.base}/m/1.thaw")  # page cache warm
        cat = []
        for _ in range(n):
            t0 = time.monotonic()
            subprocess.run(["cat", str(v1)], stdout=subprocess.DEVNULL, check=True)
            cat.append(time.monotonic() - t0)
        results["page_cache_read_s"] = statistics.median(cat)

        results["direct_s"] = curl(f"{slow.base}/m/1.thaw")[0]

        d = work / "cache-a"
        shutil.rmtree(d, ignore_errors=True)
        c = Cache(slow.base, d)
        caches.append(c)
        t, got, state = curl(f"{c.base}/models/m/1")
        assert got == size and state == "miss", (got, state)
        results["miss_s"] = t
        # Hits and the loopback references alternate, so machine noise lands on both alike.
        if nginx:
            curl(f"{nginx.base}/m/1.thaw")
        hits, py_loop, ngx_loop = [], [], []
        for _ in range(n):
            t, got, state = curl(f"{c.base}/models/m/1")
            assert got == size and state == "hit"
            hits.append(t)
            py_loop.append(curl(f"{fast.base}/m/1.thaw")[0])
            if nginx:
                ngx_loop.append(curl(f"{nginx.base}/m/1.thaw")[0])
        results["hit_s"] = statistics.median(hits)
        results["python_loopback_s"] = statistics.median(py_loop)
        if nginx:
            results["nginx_loopback_s"] = statistics.median(ngx_loop)
        # The limit is the fastest loopback transfer of these bytes measured here.
        results["loopback_s"] = min(results.get("nginx_loopback_s", 1e9), results["python_loopback_s"])
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

        d = work / "cache-p"
        shutil.rmtree(d, ignore_errors=True)
        c = Cache(slow.base, d)
        caches.append(c)
        results["prefetch_full_s"] = timed_post(f"{c.base}/prefetch", {"name": "m", "version": "1"})
        slow.control("/_reset")
        results["prefetch_shared_s"] = timed_post(f"{c.base}/prefetch", {"name": "m", "version": "2"})
        results["prefetch_shared_upstream_bytes"] = slow.stats()["bytes"]
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
        if nginx:
            nginx.stop()

    mb = size / 1e6
    r = results
    rows = [
        ("page-cache read of the file (cat)", r["page_cache_read_s"], "-"),
        ("Python file server, unthrottled (sendfile)", r["python_loopback_s"], "-"),
    ]
    if "nginx_loopback_s" in r:
        rows.append(("nginx, unthrottled (sendfile)", r["nginx_loopback_s"], "-"))
    rows += [
        ("**loopback limit** (fastest of the above servers)", r["loopback_s"], "-"),
        (f"direct from upstream ({args.mbps:g} MB/s, {args.rtt_ms:g} ms)", r["direct_s"], "-"),
        ("cache miss", r["miss_s"], f"{r['miss_s'] / r['direct_s']:.3f}x direct (target <= 1.1x)"),
        ("cache hit", r["hit_s"], f"{r['loopback_s'] / r['hit_s'] * 100:.0f}% of loopback (target >= 80%)"),
        ("prefetch of version 1 into an empty cache (full fetch)", r["prefetch_full_s"], "-"),
        (f"prefetch of version 2 (shares {r['shared_chunk_fraction'] * 100:.0f}% of chunks)", r["prefetch_shared_s"],
         f"{r['prefetch_shared_s'] / r['prefetch_full_s'] * 100:.1f}% of the full fetch (target <= 15%)"),
        ("GET of version 2 through the cache, end to end", r["shared_version_s"],
         f"{r['shared_version_s'] / r['miss_s'] * 100:.1f}% of a full miss"),
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
            "shared_version_prefetch_over_full_prefetch": r["prefetch_shared_s"] / r["prefetch_full_s"],
            "shared_version_get_over_full_miss": r["shared_version_s"] / r["miss_s"],
            "concurrent16_single_fetch": r["concurrent16_upstream_requests"] == r["single_miss_upstream_requests"],
        },
    }
    pathlib.Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
