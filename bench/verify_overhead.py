#!/usr/bin/env python3
"""What checking a bundle on its first start costs on the disk rung: `thaw run` from a bundle
evicted from the page cache, exec -> ready and exec -> first answer, with `--verify never` and
`--verify always` (what a first start does), alternating, medians. Also the page-cache (hot) start.
Usage: bench/verify_overhead.py [--bundle M.thaw] [--rounds N]; writes bench/results/verify-latest.json."""
import argparse
import http.client
import json
import os
import pathlib
import select
import statistics
import subprocess
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
THAW = os.environ.get("THAW_BIN", str(ROOT / "build" / "thaw"))


def evict(path):
    """Drops the file from the page cache; returns the fraction still resident (fincore)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    out = subprocess.run(["fincore", "--bytes", "--noheadings", "--output", "RES,SIZE", str(path)],
                         capture_output=True, text=True, check=True).stdout.split()
    return int(out[0]) / int(out[1])


def start(bundle, mode):
    env = dict(os.environ, THAW_EXEC_BOOTTIME_NS=str(time.clock_gettime_ns(time.CLOCK_BOOTTIME)))
    t0 = time.monotonic_ns()
    proc = subprocess.Popen([THAW, "run", str(bundle), "--port", "0", "--verify", mode], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=env)
    try:
        buf = b""
        while b'"ready"' not in buf:
            r, _, _ = select.select([proc.stdout], [], [], 60)
            chunk = os.read(proc.stdout.fileno(), 65536) if r else b""
            if not chunk:
                raise RuntimeError(f"no ready event: {buf[-500:]!r}")
            buf += chunk
        ev = next(json.loads(line) for line in buf.splitlines() if b'"ready"' in line)
        conn = http.client.HTTPConnection("127.0.0.1", ev["port"], timeout=60)
        body = json.dumps({"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": ["thaw"]}]})
        conn.request("POST", f"/v2/models/{ev['model']}/infer", body, {"Content-Type": "application/json"})
        assert conn.getresponse().status == 200
        first = (time.monotonic_ns() - t0) / 1e6
        return ev["timeline"]["exec_to_ready_ms"], first, ev["timeline"].get("verify_ms", 0.0)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", default=str(ROOT / "build" / "tests" / "manager" / "minilm.thaw"))
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    runs = {f"{rung} verify={mode}": [] for rung in ("disk", "page_cache") for mode in ("never", "always")}
    resident = []
    for _ in range(a.rounds):
        for mode in ("never", "always"):
            resident.append(evict(a.bundle))
            runs[f"disk verify={mode}"].append(start(a.bundle, mode))
        for mode in ("never", "always"):
            runs[f"page_cache verify={mode}"].append(start(a.bundle, mode))
    out = {"bundle": a.bundle, "bundle_bytes": os.path.getsize(a.bundle), "rounds": a.rounds,
           "resident_after_evict_max": max(resident), "systems": {}}
    print(f"{'':28} {'exec->ready ms':>15} {'exec->1st answer ms':>20} {'verify wait ms':>15}")
    for name, samples in runs.items():
        med = [statistics.median(s[i] for s in samples) for i in range(3)]
        out["systems"][name] = {"exec_to_ready_ms": [s[0] for s in samples], "first_answer_ms": [s[1] for s in samples],
                                "verify_wait_ms": [s[2] for s in samples], "median": med}
        print(f"{name:28} {med[0]:15.1f} {med[1]:20.1f} {med[2]:15.1f}")
    for rung in ("disk", "page_cache"):
        never = out["systems"][f"{rung} verify=never"]["median"][0]
        always = out["systems"][f"{rung} verify=always"]["median"][0]
        out[f"{rung}_overhead"] = always / never - 1
        print(f"{rung}: verifying adds {100 * (always / never - 1):.1f}% to exec->ready (medians)")
    print(f"resident after evict: <= {100 * max(resident):.1f}%")
    (ROOT / "bench" / "results").mkdir(parents=True, exist_ok=True)
    (ROOT / "bench" / "results" / "verify-latest.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
