#!/usr/bin/env python3
"""Cold start of one inference worker: exec -> first correct response, thaw vs its peers.

Models (--models): minilm (the real all-MiniLM-L6-v2) and bertlarge (a synthetic BERT-large-shaped
encoder, ~530 MB fp32 with the default 8 layers, made once by tools/make_synthetic_bert.py and
cached under bench/data/). Systems, per model:
  python peer      a small Python HTTP handler loading the model at start-up: sentence-transformers
                   for minilm (bench/peer_st_server.py), onnxruntime for bertlarge (peer_ort_server.py)
  ORT C++          plain ONNX Runtime C API, default options, the plain .onnx path, one Run
                   (bench/ort_first_answer.cpp; no HTTP, so a lower bound for a C++ service)
  thaw run (hot)   page cache hot
  thaw run (cold)  the bundle evicted from the page cache before each start (fadvise DONTNEED,
                   checked with mincore); the thaw binary and libonnxruntime stay cached
  thaw --zygote    fork request -> first correct response, and fork request -> ready (the control
                   socket's reply, and the child's own fork_to_ready_ms)
Every hot system gets one untimed start first, then --runs timed starts. A start is timed from just
before exec to the first response whose embedding has cosine >= 0.9999 with the reference
(sentence-transformers for minilm, onnxruntime Python on the same .onnx for bertlarge); then
--warm-requests more requests give the warm latency. Also: first request after ready vs warm,
PSS of the zygote template with 1, 2 and 4 children. Limits measured in the same run: exec of
/bin/true, `thaw --version`, and `thaw limits` (memcpy, page-cache read, storage read).
Prints one table and writes JSON (default bench/results/worker.json).
"""
import argparse
import http.client
import json
import os
import pathlib
import platform
import select
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
from worker_harness import MINILM, THAW_BIN, pack_minilm  # noqa: E402

PYTHON = str(ROOT / ".venv" / "bin" / "python")
BUILD = pathlib.Path(THAW_BIN).parent
ORT_FIRST_ANSWER = str(BUILD / "src" / "engine" / "onnx" / "thaw_ort_first_answer")
PAGE_CACHE = str(BUILD / "src" / "loader" / "thaw_page_cache")
MIN_COSINE = 0.9999


class Model:
    """One benchmarked model: its bundle, plain .onnx, reference outputs and Python peer."""

    def __init__(self, name, bundle, onnx, reference, peer_name, peer_cmd):
        self.name, self.bundle, self.onnx = name, pathlib.Path(bundle), pathlib.Path(onnx)
        self.ref = json.loads(pathlib.Path(reference).read_text())
        self.peer_name, self.peer_cmd = peer_name, peer_cmd


def prepare_models(names, layers):
    data = ROOT / "bench" / "data"
    data.mkdir(parents=True, exist_ok=True)
    models = []
    for name in names:
        if name == "minilm":
            bundle = data / "minilm.thaw"
            if not bundle.exists():
                pack_minilm(data)
            models.append(Model("minilm", bundle, MINILM / "model.onnx", MINILM / "reference.json",
                                "python + sentence-transformers", [PYTHON, str(ROOT / "bench" / "peer_st_server.py")]))
        elif name == "bertlarge":
            out = data / f"bertlarge-L{layers}"
            subprocess.run([PYTHON, str(ROOT / "tools" / "make_synthetic_bert.py"), "--layers", str(layers),
                            "--out", str(out), "--thaw", THAW_BIN], check=True, stdout=subprocess.DEVNULL)
            models.append(Model("bertlarge", out / "model.thaw", out / "model.onnx", out / "reference.json",
                                "python + onnxruntime",
                                [PYTHON, str(ROOT / "bench" / "peer_ort_server.py"), str(out / "model.onnx"),
                                 str(out / "tokenizer.json"), "bertlarge"]))
        else:
            raise SystemExit(f"unknown model {name!r} (minilm, bertlarge)")
    return models


class Events:
    """JSON event lines from a process's stdout, read without blocking past a deadline."""

    def __init__(self, proc):
        self.proc, self.buf, self.seen = proc, b"", []

    def wait(self, match, timeout=300):
        for i, ev in enumerate(self.seen):
            if match(ev):
                return self.seen.pop(i)
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], 0.5)
            if r:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    break
                self.buf += chunk
                while b"\n" in self.buf:
                    line, self.buf = self.buf.split(b"\n", 1)
                    ev = json.loads(line)
                    if ev.get("event") == "error":
                        raise RuntimeError(ev)
                    if match(ev):
                        return ev
                    self.seen.append(ev)
            elif self.proc.poll() is not None:
                break
        err = self.proc.stderr.read().decode(errors="replace")[-2000:] if self.proc.poll() is not None else ""
        raise RuntimeError(f"no matching event before the deadline or exit: {err}")


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def request_body(model, index, as_tokens):
    """Text for sentence `index`, or its reference token ids for a worker built without a tokenizer."""
    if not as_tokens:
        return json.dumps({"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1],
                                       "data": [model.ref["sentences"][index]]}]})
    ids = model.ref["input_ids"][index]
    shape = [1, len(ids)]
    return json.dumps({"inputs": [
        {"name": "input_ids", "datatype": "INT64", "shape": shape, "data": ids},
        {"name": "attention_mask", "datatype": "INT64", "shape": shape, "data": [1] * len(ids)},
        {"name": "token_type_ids", "datatype": "INT64", "shape": shape, "data": [0] * len(ids)}]})


def infer(conn, name, body):
    conn.request("POST", f"/v2/models/{name}/infer", body=body, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    data = resp.read()
    if resp.status != 200:
        raise RuntimeError(f"{resp.status}: {data[:300]!r}")
    return np.asarray(json.loads(data)["outputs"][0]["data"], dtype=np.float64)


def cosine(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def checked(model, emb, what):
    cos = cosine(emb, model.ref["embeddings"][0])
    if cos < MIN_COSINE:
        raise RuntimeError(f"{what}: wrong embedding for {model.name} (cosine {cos})")
    return cos


def one_start(model, cmd, env, warm_requests, as_tokens=False):
    """exec -> ready -> first correct response -> warm requests, for one server process."""
    env = dict(env)
    t0 = time.monotonic_ns()
    env["THAW_EXEC_BOOTTIME_NS"] = str(time.clock_gettime_ns(time.CLOCK_BOOTTIME))
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        ev = Events(proc).wait(lambda e: e.get("event") == "ready")
        t_ready = time.monotonic_ns()
        conn = http.client.HTTPConnection("127.0.0.1", ev["port"], timeout=120)
        emb = infer(conn, ev["model"], request_body(model, 0, as_tokens))
        t_first = time.monotonic_ns()
        cos = checked(model, emb, " ".join(cmd[:2]))
        warm = []
        for i in range(warm_requests):
            s = time.monotonic_ns()
            infer(conn, ev["model"], request_body(model, i % 3, as_tokens))
            warm.append((time.monotonic_ns() - s) / 1e6)
        conn.close()
        return {"exec_to_ready_ms": (t_ready - t0) / 1e6, "exec_to_first_response_ms": (t_first - t0) / 1e6,
                "first_request_ms": (t_first - t_ready) / 1e6,
                "warm_request_ms": statistics.median(warm) if warm else None,
                "cosine": cos, "input": "token_ids" if as_tokens else "text", "self_reported": ev.get("timeline")}
    finally:
        stop(proc)


def ort_cpp_start(model):
    """exec -> first correct answer of plain ONNX Runtime C++ (session from the .onnx path, one Run)."""
    ids = ",".join(str(i) for i in model.ref["input_ids"][0])
    t0 = time.monotonic_ns()
    proc = subprocess.Popen([ORT_FIRST_ANSWER, str(model.onnx), ids], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        ev = Events(proc).wait(lambda e: e.get("event") == "answer")
        t_answer = time.monotonic_ns()
    finally:
        proc.wait(timeout=60)
    cos = checked(model, ev["output"], "thaw_ort_first_answer")
    return {"exec_to_first_response_ms": (t_answer - t0) / 1e6, "first_request_ms": ev["run_ms"],
            "cosine": cos, "self_reported": {k: ev[k] for k in ("env_ms", "create_ms", "run_ms", "main_to_answer_ms")},
            "onnxruntime": ev["onnxruntime"]}


def page_cache(op, path):
    """`op` is "evict" (drop `path` from the page cache) or "residency"; returns the fraction of
    `path` resident afterwards (mincore)."""
    out = subprocess.run([PAGE_CACHE, op, str(path)], capture_output=True, text=True, check=True).stdout
    return json.loads(out)["fraction"]


def takes_text(model, cmd, env):
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        ev = Events(proc).wait(lambda e: e.get("event") == "ready")
        conn = http.client.HTTPConnection("127.0.0.1", ev["port"], timeout=60)
        conn.request("GET", f"/v2/models/{ev['model']}")
        meta = json.loads(conn.getresponse().read())
        return "text_input" in meta.get("parameters", {})
    finally:
        stop(proc)


def fork_child(control):
    """Asks a `thaw run --zygote` template for a ready child; returns (pid, host, port)."""
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


def zygote(model, env, runs, as_tokens):
    """Per fork: fork request -> ready reply (client) and the child's fork_to_ready_ms, and fork
    request -> first correct response; then PSS with 1, 2 and 4 live children."""
    control = pathlib.Path(tempfile.mkdtemp()) / "zygote.sock"
    proc = subprocess.Popen([THAW_BIN, "run", str(model.bundle), "--zygote", str(control), "--warmup", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        events = Events(proc)
        name = events.wait(lambda e: e.get("event") == "zygote_ready")["model"]
        first, ready_client, ready_child = [], [], []
        for _ in range(runs):
            t0 = time.monotonic_ns()
            pid, host, port = fork_child(control)
            t_ready = time.monotonic_ns()
            conn = http.client.HTTPConnection(host, port, timeout=60)
            emb = infer(conn, name, request_body(model, 0, as_tokens))
            t1 = time.monotonic_ns()
            checked(model, emb, "zygote child")
            conn.close()
            os.kill(pid, signal.SIGTERM)
            ev = events.wait(lambda e, pid=pid: e.get("event") == "ready" and e.get("pid") == pid, timeout=30)
            first.append((t1 - t0) / 1e6)
            ready_client.append((t_ready - t0) / 1e6)
            ready_child.append(ev["fork_to_ready_ms"])
        return {"fork_to_first_response_ms": first, "fork_to_ready_client_ms": ready_client,
                "fork_to_ready_child_ms": ready_child,
                "pss": children_pss(model, proc.pid, control, name, as_tokens)}
    finally:
        stop(proc)


def pss_kib(pid):
    """Proportional set size of one process, from /proc/PID/smaps_rollup."""
    for line in pathlib.Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    raise RuntimeError(f"no Pss for {pid}")


def children_pss(model, template_pid, control, name, as_tokens, counts=(1, 2, 4)):
    """Total PSS of the template plus N live, served children, for each N: the weight pages are
    shared copy-on-write, so each extra child should add little."""
    children, totals = [], {}
    try:
        for n in counts:
            while len(children) < n:
                pid, host, port = fork_child(control)
                conn = http.client.HTTPConnection(host, port, timeout=60)
                infer(conn, name, request_body(model, 0, as_tokens))
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


def limits(bundle):
    """`thaw limits --cold` on the largest bundle: memcpy, hot page-cache read, storage read (GB/s)."""
    out = subprocess.run([THAW_BIN, "limits", "--file", str(bundle), "--cold", "--json"], capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out)


def med(runs, key):
    vals = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def bench_model(model, args, env):
    res = {"bundle": str(model.bundle), "bundle_bytes": model.bundle.stat().st_size,
           "onnx_bytes": model.onnx.stat().st_size, "systems": {}}
    inspect = subprocess.run([THAW_BIN, "inspect", "--json", str(model.bundle)], capture_output=True, check=True,
                             text=True)
    res["weights_mib"] = json.loads(inspect.stdout)["tensor_bytes"] / 2**20
    thaw_cmd = [THAW_BIN, "run", str(model.bundle), "--port", "0", "--warmup", "1"]
    as_tokens = not takes_text(model, thaw_cmd, env)

    def record(name, runs, **extra):
        res["systems"][name] = dict(extra, median={k: med(runs, k) for k in (
            "exec_to_ready_ms", "exec_to_first_response_ms", "first_request_ms", "warm_request_ms")}, runs=runs)
        print(f"  {model.name}: {name}: {res['systems'][name]['median']['exec_to_first_response_ms']:.1f} ms",
              file=sys.stderr)

    if not args.skip_python:
        one_start(model, model.peer_cmd, env, 1)  # hot page cache, compiled bytecode
        record(model.peer_name, [one_start(model, model.peer_cmd, env, args.warm_requests) for _ in range(args.runs)])
    ort_cpp_start(model)
    record("ORT C++ (plain .onnx)", [ort_cpp_start(model) for _ in range(args.runs)])
    one_start(model, thaw_cmd, env, 1, as_tokens)
    hot, hot_resident = [], []
    for _ in range(args.runs):
        hot_resident.append(page_cache("residency", model.bundle))
        hot.append(one_start(model, thaw_cmd, env, args.warm_requests, as_tokens))
    record("thaw run (hot)", hot, resident_fraction_before=hot_resident)
    cold, resident = [], []
    for _ in range(args.runs):
        resident.append(page_cache("evict", model.bundle))
        cold.append(one_start(model, thaw_cmd, env, args.warm_requests, as_tokens))
    record("thaw run (cold)", cold, resident_fraction_after_evict=resident)
    z = zygote(model, env, args.runs, as_tokens)
    res["zygote"] = dict(z, median={k: statistics.median(z[k]) for k in
                                    ("fork_to_first_response_ms", "fork_to_ready_client_ms", "fork_to_ready_child_ms")})
    z["pss"]["weights_mib"] = res["weights_mib"]
    hot = res["systems"]["thaw run (hot)"]["median"]
    res["targets"] = {
        "fork_to_ready_ms (<= 5)": res["zygote"]["median"]["fork_to_ready_client_ms"],
        "first_request / warm_request (<= 1.5)": hot["first_request_ms"] / hot["warm_request_ms"],
        "pss_per_extra_child / weights (< 0.10)": z["pss"]["pss_per_extra_child_mib"] / res["weights_mib"],
    }
    return res


def print_table(results):
    print(f"\nexec -> first correct response, median of {results['runs']} starts; {results['cpus']} CPUs, "
          f"load average {results['loadavg_before']} before, {results['loadavg_after']} after")
    hdr = (f"| {'model':9} | {'system':34} | {'exec->ready':>11} | {'exec->1st resp':>14} | {'1st request':>11} "
           f"| {'warm request':>12} | {'vs thaw hot':>11} |")
    print(hdr)
    print("|" + "|".join("-" * (len(c)) for c in hdr.split("|")[1:-1]) + "|")
    fmt = lambda v, d=1: "-" if v is None else f"{v:.{d}f} ms"  # noqa: E731
    for name, m in results["models"].items():
        base = m["systems"]["thaw run (hot)"]["median"]["exec_to_first_response_ms"]
        rows = [(s, r["median"]) for s, r in m["systems"].items()]
        z = m["zygote"]["median"]
        rows.append(("thaw --zygote (from fork request)", {"exec_to_ready_ms": z["fork_to_ready_client_ms"],
                                                         "exec_to_first_response_ms": z["fork_to_first_response_ms"]}))
        for sys_name, r in rows:
            t = r["exec_to_first_response_ms"]
            print(f"| {name:9} | {sys_name:34} | {fmt(r.get('exec_to_ready_ms')):>11} | {fmt(t):>14} "
                  f"| {fmt(r.get('first_request_ms'), 2):>11} | {fmt(r.get('warm_request_ms'), 2):>12} "
                  f"| {t / base:10.2f}x |")
    print()
    for name, m in results["models"].items():
        z, pss = m["zygote"]["median"], m["zygote"]["pss"]
        cold = m["systems"]["thaw run (cold)"]["resident_fraction_after_evict"]
        hot = m["systems"]["thaw run (hot)"].get("resident_fraction_before", [float("nan")])
        print(f"{name}: weights {m['weights_mib']:.0f} MiB, bundle {m['bundle_bytes'] / 2**20:.0f} MiB; bundle "
              f"resident before each start: hot >= {100 * min(hot):.1f}%, cold <= {100 * max(cold):.1f}%")
        print(f"  zygote fork -> ready: {z['fork_to_ready_client_ms']:.2f} ms at the client (control-socket reply; "
              f"min {min(m['zygote']['fork_to_ready_client_ms']):.2f}), {z['fork_to_ready_child_ms']:.2f} ms in "
              f"the child (target <= 5 ms)")
        t = m["targets"]
        print(f"  first request after ready / warm request: {t['first_request / warm_request (<= 1.5)']:.2f}x "
              f"(target <= 1.5x)")
        print(f"  zygote PSS (template + N children): " +
              ", ".join(f"{n}: {v:.0f} MiB" for n, v in pss["total_pss_mib_by_children"].items()) +
              f"; per extra child {pss['pss_per_extra_child_mib']:.1f} MiB = "
              f"{100 * t['pss_per_extra_child / weights (< 0.10)']:.1f}% of the weights (target < 10%)")
    lim = results["limits"]
    print(f"\nlimits (same run, {lim['file']}): memcpy {lim['memcpy_gb_per_s']:.2f} GB/s, page-cache read "
          f"{lim['page_cache_read_gb_per_s']:.2f} GB/s (hot), storage read "
          f"{lim.get('storage_read_buffered_gb_per_s', float('nan')):.2f} GB/s buffered / "
          f"{lim.get('storage_read_direct_gb_per_s', float('nan')):.2f} GB/s O_DIRECT (cold)")
    storage = lim.get("storage_read_buffered_gb_per_s", float("nan"))
    for name, m in results["models"].items():
        w, b = m["weights_mib"] * 2**20, m["bundle_bytes"]
        print(f"  {name}: reading the weights once takes >= {w / lim['page_cache_read_gb_per_s'] / 1e6:.1f} ms hot, "
              f">= {w / storage / 1e6:.1f} ms from storage (the whole bundle: {b / storage / 1e6:.1f} ms)")
    print("ORT C++: no HTTP; its 1st request is the in-process Run. Cold: only the bundle is evicted.")
    for name, v in results["floors_ms"].items():
        print(f"floor: {name:20} {v:8.2f} ms")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5, help="timed starts per system (median reported)")
    ap.add_argument("--warm-requests", type=int, default=10)
    ap.add_argument("--models", default="minilm,bertlarge", help="comma-separated: minilm, bertlarge")
    ap.add_argument("--bertlarge-layers", type=int, default=8,
                    help="encoder layers of the synthetic model (8: ~530 MB; 24: full BERT-large, ~1.34 GB)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "worker.json"))
    ap.add_argument("--skip-python", action="store_true")
    args = ap.parse_args()
    if args.runs < 1:
        raise SystemExit("--runs must be >= 1")
    for tool in (THAW_BIN, ORT_FIRST_ANSWER, PAGE_CACHE):
        if not os.access(tool, os.X_OK):
            raise SystemExit(f"missing {tool}: build the thaw, thaw_ort_first_answer and thaw_page_cache targets")

    models = prepare_models([m for m in args.models.split(",") if m], args.bertlarge_layers)
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    results = {"machine": platform.node(), "cpus": os.cpu_count(), "runs": args.runs,
               "loadavg_before": " ".join(f"{x:.2f}" for x in os.getloadavg()),
               "cold_start_note": "cold: the bundle is evicted before each start; the thaw binary and "
                                  "libonnxruntime stay in the page cache",
               "limits": limits(max((m.bundle for m in models), key=lambda p: p.stat().st_size)),
               "floors_ms": {"exec /bin/true": exec_floor(["/bin/true"], 20),
                             "thaw --version": exec_floor([THAW_BIN, "--version"], 20)},
               "models": {}}
    for model in models:
        results["models"][model.name] = bench_model(model, args, env)
    results["loadavg_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print_table(results)
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
