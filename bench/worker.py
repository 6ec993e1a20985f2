#!/usr/bin/env python3
"""Cold start of one inference worker: exec -> first correct response, thaw vs a Python peer.

For each system: one untimed start to make the page cache hot, then --runs cold starts. Each start
is timed from just before exec to the first correct response (cosine >= 0.9999 against the
sentence-transformers reference embedding), then --warm-requests more requests give the warm
latency. Floors measured in the same run: exec of /bin/true, and `thaw --version` (binary + shared
libraries loaded, no model). Prints a table and writes JSON (default bench/results/worker.json).
"""
import argparse
import http.client
import json
import os
import pathlib
import platform
import select
import signal
import statistics
import subprocess
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
from worker_harness import MINILM, THAW_BIN, pack_minilm  # noqa: E402

REF = json.loads((MINILM / "reference.json").read_text())
PYTHON = str(ROOT / ".venv" / "bin" / "python")


def wait_ready(proc, timeout=300):
    buf = b""
    deadline = time.monotonic() + timeout
    fd = proc.stdout.fileno()
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.5)
        if r:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                ev = json.loads(line)
                if ev.get("event") == "ready":
                    return ev
                if ev.get("event") == "error":
                    raise RuntimeError(ev)
        elif proc.poll() is not None:
            break
    raise RuntimeError(f"never ready: {proc.stderr.read().decode(errors='replace')[-2000:]}")


def request_body(index, as_tokens):
    """Text for sentence `index`, or its reference token ids for a worker built without a tokenizer."""
    if not as_tokens:
        return json.dumps({"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1],
                                       "data": [REF["sentences"][index]]}]})
    ids = REF["input_ids"][index]
    shape = [1, len(ids)]
    return json.dumps({"inputs": [
        {"name": "input_ids", "datatype": "INT64", "shape": shape, "data": ids},
        {"name": "attention_mask", "datatype": "INT64", "shape": shape, "data": [1] * len(ids)},
        {"name": "token_type_ids", "datatype": "INT64", "shape": shape, "data": [0] * len(ids)}]})


def takes_text(conn, model):
    conn.request("GET", f"/v2/models/{model}")
    resp = conn.getresponse()
    meta = json.loads(resp.read())
    return "text_input" in meta.get("parameters", {})


def infer(conn, model, body):
    conn.request("POST", f"/v2/models/{model}/infer", body=body, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    data = resp.read()
    if resp.status != 200:
        raise RuntimeError(f"{resp.status}: {data[:300]!r}")
    out = json.loads(data)["outputs"][0]["data"]
    return np.asarray(out, dtype=np.float64)


def cosine(a, b):
    b = np.asarray(b, dtype=np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def one_start(cmd, env, warm_requests, as_tokens=False):
    env = dict(env)
    t0 = time.monotonic_ns()
    env["THAW_EXEC_BOOTTIME_NS"] = str(time.clock_gettime_ns(time.CLOCK_BOOTTIME))
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        ev = wait_ready(proc)
        t_ready = time.monotonic_ns()
        conn = http.client.HTTPConnection("127.0.0.1", ev["port"], timeout=120)
        emb = infer(conn, ev["model"], request_body(0, as_tokens))
        t_first = time.monotonic_ns()
        cos = cosine(emb, REF["embeddings"][0])
        if cos < 0.9999:
            raise RuntimeError(f"wrong embedding: cosine {cos}")
        warm = []
        for i in range(warm_requests):
            s = time.monotonic_ns()
            infer(conn, ev["model"], request_body(i % 3, as_tokens))
            warm.append((time.monotonic_ns() - s) / 1e6)
        conn.close()
        return {"exec_to_ready_ms": (t_ready - t0) / 1e6, "exec_to_first_response_ms": (t_first - t0) / 1e6,
                "first_request_ms": (t_first - t_ready) / 1e6, "warm_request_ms": statistics.median(warm),
                "cosine": cos, "input": "token_ids" if as_tokens else "text", "self_reported": ev.get("timeline")}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def thaw_takes_text(cmd, env):
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        ev = wait_ready(proc)
        conn = http.client.HTTPConnection("127.0.0.1", ev["port"], timeout=60)
        return takes_text(conn, ev["model"])
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def fork_child(control):
    """Asks a `thaw run --zygote` template for a ready child; returns (pid, host, port)."""
    import socket
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(60)
        s.connect(str(control))
        s.sendall(b"fork\n")
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = s.recv(4096)
            if not chunk:
                raise RuntimeError(f"zygote closed the control socket: {reply!r}")
            reply += chunk
    _, pid, endpoint = reply.decode().split()
    host, port = endpoint.rsplit(":", 1)
    return int(pid), host, int(port)


def zygote_forks(bundle, env, runs, as_tokens):
    """Fork -> first correct response for children of one warmed-up `thaw run --zygote` template."""
    import tempfile
    control = pathlib.Path(tempfile.mkdtemp()) / "zygote.sock"
    proc = subprocess.Popen([THAW_BIN, "run", str(bundle), "--zygote", str(control), "--warmup", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        buf = b""
        while b"zygote_ready" not in buf:
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                raise RuntimeError(proc.stderr.read().decode(errors="replace"))
            buf += chunk
        model = next(json.loads(l)["model"] for l in buf.splitlines() if b"zygote_ready" in l)
        out = []
        for _ in range(runs):
            t0 = time.monotonic_ns()
            pid, host, port = fork_child(control)
            conn = http.client.HTTPConnection(host, int(port), timeout=60)
            emb = infer(conn, model, request_body(0, as_tokens))
            t1 = time.monotonic_ns()
            if cosine(emb, REF["embeddings"][0]) < 0.9999:
                raise RuntimeError("wrong embedding from a forked child")
            conn.close()
            os.kill(pid, signal.SIGTERM)
            out.append((t1 - t0) / 1e6)
        pss = children_pss(proc.pid, control, model, as_tokens)
        return out, pss
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)


def pss_kib(pid):
    """Proportional set size of one process, from /proc/PID/smaps_rollup."""
    for line in pathlib.Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    raise RuntimeError(f"no Pss for {pid}")


def children_pss(template_pid, control, model, as_tokens, counts=(1, 2, 4)):
    """Total PSS of the template plus N live, served children, for each N: the weight pages are
    shared copy-on-write, so each extra child should add little."""
    children, totals = [], {}
    try:
        for n in counts:
            while len(children) < n:
                pid, host, port = fork_child(control)
                conn = http.client.HTTPConnection(host, int(port), timeout=60)
                infer(conn, model, request_body(0, as_tokens))
                conn.close()
                children.append(pid)
            totals[n] = sum(pss_kib(p) for p in [template_pid] + children) / 1024
    finally:
        for pid in children:
            os.kill(pid, signal.SIGTERM)
    per_extra = (totals[counts[-1]] - totals[counts[0]]) / (counts[-1] - counts[0])
    return {"total_pss_mib_by_children": totals, "pss_per_extra_child_mib": per_extra}


def exec_floor(cmd, runs):
    times = []
    for _ in range(runs):
        t0 = time.monotonic_ns()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
        times.append((time.monotonic_ns() - t0) / 1e6)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--warm-requests", type=int, default=20)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "worker.json"))
    ap.add_argument("--skip-python", action="store_true")
    args = ap.parse_args()

    data = ROOT / "bench" / "data"
    data.mkdir(parents=True, exist_ok=True)
    bundle = data / "minilm.thaw"
    if not bundle.exists():
        pack_minilm(data)

    env = dict(os.environ, HF_HUB_OFFLINE="1")
    systems = {"thaw run": [THAW_BIN, "run", str(bundle), "--port", "0", "--warmup", "1"]}
    if not args.skip_python:
        systems["python + sentence-transformers"] = [PYTHON, str(ROOT / "bench" / "peer_st_server.py")]

    results = {"machine": platform.node(), "cpus": os.cpu_count(), "runs": args.runs,
               "floors_ms": {"exec /bin/true": exec_floor(["/bin/true"], 20),
                             "thaw --version": exec_floor([THAW_BIN, "--version"], 20)},
               "systems": {}}
    for name, cmd in systems.items():
        as_tokens = name == "thaw run" and not thaw_takes_text(cmd, env)
        one_start(cmd, env, 1, as_tokens)  # hot page cache
        runs = [one_start(cmd, env, args.warm_requests, as_tokens) for _ in range(args.runs)]
        med = {k: statistics.median(r[k] for r in runs) for k in
               ("exec_to_ready_ms", "exec_to_first_response_ms", "first_request_ms", "warm_request_ms")}
        results["systems"][name] = {"median": med, "runs": runs}

    thaw_tokens = results["systems"]["thaw run"]["runs"][0]["input"] == "token_ids"
    forks, pss = zygote_forks(bundle, env, args.runs, thaw_tokens)
    results["zygote_fork_to_first_response_ms"] = {"median": statistics.median(forks), "runs": forks}
    inspect = subprocess.run([THAW_BIN, "inspect", "--json", str(bundle)], capture_output=True, check=True, text=True)
    weights_mib = json.loads(inspect.stdout)["tensor_bytes"] / 2**20
    results["zygote_pss"] = dict(pss, weights_mib=weights_mib)

    print(f"cold start, median of {args.runs} (page cache hot), {os.cpu_count()} CPUs")
    print(f"{'system':34} {'exec->ready':>12} {'exec->1st resp':>15} {'1st request':>12} {'warm request':>13}")
    for name, r in results["systems"].items():
        m = r["median"]
        print(f"{name:34} {m['exec_to_ready_ms']:10.1f}ms {m['exec_to_first_response_ms']:13.1f}ms "
              f"{m['first_request_ms']:10.2f}ms {m['warm_request_ms']:11.2f}ms")
    print(f"{'thaw run --zygote: fork->1st resp':34} {statistics.median(forks):28.1f}ms")
    print(f"{'zygote PSS (template + N children)':34} " +
          ", ".join(f"{n}: {v:.0f} MiB" for n, v in pss["total_pss_mib_by_children"].items()))
    print(f"{'PSS per extra child':34} {pss['pss_per_extra_child_mib']:28.1f} MiB "
          f"({100 * pss['pss_per_extra_child_mib'] / weights_mib:.1f}% of the {weights_mib:.0f} MiB of weights)")
    for name, v in results["floors_ms"].items():
        print(f"floor: {name:27} {v:10.2f}ms")
    if len(results["systems"]) == 2:
        a, b = (r["median"]["exec_to_first_response_ms"] for r in results["systems"].values())
        print(f"thaw is {b / a:.1f}x faster from exec to first response")
        results["speedup_exec_to_first_response"] = b / a
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
