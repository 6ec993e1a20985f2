#!/usr/bin/env python3
"""What a thaw pod's start costs on this machine, beyond Kubernetes' part: `thaw serve` from exec to
its readiness probe's first 200 (/v2/health/ready polled every 2 ms), to the first answer of a cold
model right after, and the memory of the idle server (RSS and PSS, no instance loaded). The median of
--runs starts goes into `thaw sim --nodes` as --thaw-start-ms and --pod-base-mb.

Usage: pod_start.py --thaw build-release/thaw --bundle models/minilm.thaw [--runs 5] --out pod-start.json
"""
import argparse
import json
import os
import pathlib
import statistics
import subprocess
import tempfile
import time
import urllib.error
import urllib.request


def get(url, timeout=1.0, data=None):
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None, b""


def memory_kb(pid):
    rss = pss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


def one_start(thaw, models_dir, port):
    t0 = time.perf_counter()
    proc = subprocess.Popen([thaw, "serve", "--models", models_dir, "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = t0 + 60
        while time.perf_counter() < deadline:
            code, _ = get(base + "/v2/health/ready", timeout=0.5)
            if code == 200:
                break
            if proc.poll() is not None:
                raise SystemExit(f"thaw serve exited with {proc.returncode} before it was ready")
            time.sleep(0.002)
        else:
            raise SystemExit("thaw serve was not ready within 60 s")
        ready = time.perf_counter() - t0
        rss, pss = memory_kb(proc.pid)
        model = pathlib.Path(os.listdir(models_dir)[0]).stem
        body = json.dumps({"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": ["hello"]}]})
        code, text = get(f"{base}/v2/models/{model}/infer", timeout=60, data=body.encode())
        if code != 200:
            raise SystemExit(f"first request: {code} {text[:200]!r}")
        answered = time.perf_counter() - t0
        return {"ready_ms": ready * 1e3, "first_answer_ms": answered * 1e3, "idle_rss_mb": rss / 1024,
                "idle_pss_mb": pss / 1024}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--thaw", required=True)
    ap.add_argument("--bundle", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        os.symlink(os.path.abspath(a.bundle), os.path.join(d, pathlib.Path(a.bundle).name))
        runs = [one_start(a.thaw, d, free_port()) for _ in range(a.runs)]
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    out = {"runs": runs, "median": med, "bundle": a.bundle, "loadavg": os.getloadavg()}
    pathlib.Path(a.out).write_text(json.dumps(out, indent=1))
    print(json.dumps(med))


if __name__ == "__main__":
    main()
