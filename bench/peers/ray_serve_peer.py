#!/usr/bin/env python3
"""Ray Serve as the scale-to-zero peer: the same ONNX model behind Ray Serve's HTTP proxy.

Serves an ONNX model (the tiny benchmark model or MiniLM's model.onnx) with onnxruntime (one
intra-op thread, like a thaw instance) in a Ray Serve deployment with autoscaling min_replicas=0,
max_replicas=1, and measures:

  first_request: scale-to-zero cold start. Wait until Ray has scaled the deployment to 0 running
    replicas (serve.status()), then time one HTTP request from send to its complete, correct
    response (outputs compared with the numpy/reference result). Repeated --runs times.
  added_latency: what the serving stack adds over the inference itself. The same request body at
    the same low open-loop rate (--rate req/s for --duration s, after --warmup s, sent by
    `thaw bench load`) goes to (1) Ray Serve through its HTTP proxy with its one replica warm, and
    (2) a bare Python HTTP server (http.server.ThreadingHTTPServer, keep-alive) in one process
    running the very same onnxruntime inference code. added = Ray - bare, at p50 and at p99 of the
    latency from the scheduled send time. Both serve one request at a time on this machine.

Requests and responses use the KServe v2 JSON shape ({"inputs": [{name, datatype, shape, data}]}).
MiniLM takes token ids (input_ids, attention_mask, token_type_ids), not text, so no tokenizer runs
in Python. Prints a table and writes JSON (default bench/results/ray-serve-latest.json).

Usage:
  bench/peers/ray_serve_peer.py [--models tiny,minilm] [--runs 3] [--rate 50] [--duration 10]
  bench/peers/ray_serve_peer.py bare --model tiny --port 0     (the bare server alone)
  bench/peers/ray_serve_peer.py check                          (does Ray start here?)
"""
import argparse
import http.server
import json
import os
import pathlib
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = ROOT / "bench" / "data"
MINILM = ROOT / "models" / "src" / "minilm"
THAW_BIN = os.environ.get("THAW_BIN", str(ROOT / "build" / "thaw"))
PYTHON = sys.executable

# Scale-down is reported to Ray's controller every 10 s by default; 1 s only makes the wait for
# zero replicas shorter. Scale-up from zero has its own immediate path in Ray's router.
os.environ.setdefault("RAY_SERVE_REPLICA_AUTOSCALING_METRIC_PUSH_INTERVAL_S", "1")
os.environ.setdefault("RAY_SERVE_HANDLE_AUTOSCALING_METRIC_PUSH_INTERVAL_S", "1")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

DTYPES = {"FP32": "float32", "FP64": "float64", "INT64": "int64", "INT32": "int32", "BOOL": "bool"}


# ---- the model: paths, request body, correctness -------------------------------------------

def model_files(name):
    """(onnx path, request body dict, checker(response dict) -> bool) for 'tiny' or 'minilm'."""
    import numpy as np
    if name == "tiny":
        if not (DATA / "tiny.onnx").exists():
            subprocess.run([PYTHON, str(ROOT / "tools" / "make_tiny_model.py"), "--no-pack"], check=True)
        body = json.loads((DATA / "tiny_request.json").read_text())
        want = np.asarray(json.loads((DATA / "tiny_expected.json").read_text())["output"], dtype=np.float64)

        def check(resp):
            got = np.asarray(resp["outputs"][0]["data"], dtype=np.float64)
            return got.shape == want.shape and bool(np.allclose(got, want, rtol=1e-4, atol=1e-4))
        return DATA / "tiny.onnx", body, check
    if name == "minilm":
        ref = json.loads((MINILM / "reference.json").read_text())
        ids = ref["input_ids"][0]
        shape = [1, len(ids)]
        body = {"inputs": [
            {"name": "input_ids", "datatype": "INT64", "shape": shape, "data": ids},
            {"name": "attention_mask", "datatype": "INT64", "shape": shape, "data": [1] * len(ids)},
            {"name": "token_type_ids", "datatype": "INT64", "shape": shape, "data": [0] * len(ids)}]}
        want = np.asarray(ref["embeddings"][0], dtype=np.float64)

        def check(resp):
            out = next((o for o in resp["outputs"] if o["name"] == "sentence_embedding"), resp["outputs"][0])
            got = np.asarray(out["data"], dtype=np.float64)
            if got.shape != want.shape:
                return False
            return float(got @ want / (np.linalg.norm(got) * np.linalg.norm(want))) >= 0.9999
        return MINILM / "model.onnx", body, check
    raise ValueError(f"unknown model {name!r} (tiny or minilm)")


class OnnxInference:
    """KServe v2 JSON in, KServe v2 JSON out, over one onnxruntime session (1 intra-op thread)."""

    def __init__(self, onnx_path, model_name):
        import onnxruntime as ort
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.model_name = model_name

    def __call__(self, body):
        import numpy as np
        feeds = {}
        for t in body["inputs"]:
            feeds[t["name"]] = np.asarray(t["data"], dtype=DTYPES[t["datatype"]]).reshape(t["shape"])
        results = self.session.run(None, feeds)
        return {"model_name": self.model_name, "outputs": [
            {"name": n, "datatype": "FP32", "shape": list(a.shape), "data": a.ravel().tolist()}
            for n, a in zip(self.output_names, results)]}


# ---- the bare Python HTTP server -------------------------------------------------------------

def serve_bare(model, port, ready_file=None):
    """Serves POST /v2/models/<model>/infer with the same inference; blocks."""
    onnx_path, _, _ = model_files(model)
    infer = OnnxInference(onnx_path, model)
    lock = threading.Lock()  # one inference at a time, like one Ray replica

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body are two writes; Nagle would hold the body back 40 ms

        def log_message(self, *args):
            pass

        def do_POST(self):
            length = int(self.headers.get("Content-Length", 0))
            try:
                body = json.loads(self.rfile.read(length))
                with lock:
                    out = json.dumps(infer(body)).encode()
                status = 200
            except Exception as e:  # a bad request must not kill the server
                out, status = json.dumps({"error": str(e)}).encode(), 400
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    if ready_file:
        pathlib.Path(ready_file).write_text(str(server.server_address[1]))
    print(json.dumps({"event": "serving", "port": server.server_address[1]}), flush=True)
    server.serve_forever()


class BareServer:
    """The bare server as a child process."""

    def __init__(self, model):
        self.ready = tempfile.NamedTemporaryFile(delete=False, suffix=".port")
        self.ready.close()
        os.unlink(self.ready.name)
        self.proc = subprocess.Popen([PYTHON, __file__, "bare", "--model", model, "--port", "0",
                                      "--ready-file", self.ready.name], stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while not os.path.exists(self.ready.name) or not pathlib.Path(self.ready.name).read_text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("bare server did not start")
            time.sleep(0.05)
        self.port = int(pathlib.Path(self.ready.name).read_text())

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if os.path.exists(self.ready.name):
            os.unlink(self.ready.name)


# ---- Ray Serve -------------------------------------------------------------------------------

def ensure_ray():
    """Installs tools/requirements-bench.txt into this interpreter's environment when Ray Serve is missing."""
    try:
        import ray  # noqa: F401
        from ray import serve  # noqa: F401
        return
    except ImportError:
        pass
    req = ROOT / "tools" / "requirements-bench.txt"
    print(f"Ray Serve is not installed; installing {req.relative_to(ROOT)} into {sys.prefix}", flush=True)
    subprocess.run([PYTHON, "-m", "pip", "install", "-q", "-r", str(req)], check=True, timeout=1800)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_ray(http_port):
    import ray
    from ray import serve
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=256 << 20, log_to_driver=False,
             configure_logging=False)
    serve.start(http_options={"host": "127.0.0.1", "port": http_port})
    return ray, serve


def deploy(serve, model, downscale_to_zero_s):
    """Deploys `model` as its own application at /v2/models/<model>, starting with 0 replicas."""
    onnx_path, _, _ = model_files(model)

    @serve.deployment(
        name=f"{model}-onnx",
        ray_actor_options={"num_cpus": 0.5},
        max_ongoing_requests=8,
        autoscaling_config={
            "min_replicas": 0, "initial_replicas": 0, "max_replicas": 1,
            "target_ongoing_requests": 1, "upscale_delay_s": 0,
            "downscale_delay_s": downscale_to_zero_s, "downscale_to_zero_delay_s": downscale_to_zero_s,
            "look_back_period_s": 2.0, "metrics_interval_s": 0.5,
        },
    )
    class OnnxDeployment:
        def __init__(self, path, name):
            self.infer = OnnxInference(path, name)

        async def __call__(self, request):
            from starlette.responses import JSONResponse
            try:
                body = await request.json()
                return JSONResponse(self.infer(body))
            except Exception as e:
                return JSONResponse({"error": str(e)}, status_code=400)

    serve.run(OnnxDeployment.bind(str(onnx_path), model), name=model, route_prefix=f"/v2/models/{model}",
              blocking=False)
    return f"{model}-onnx"


def running_replicas(serve, app, deployment):
    try:
        st = serve.status().applications[app].deployments[deployment]
    except KeyError:
        return None
    return sum(n for state, n in st.replica_states.items() if str(getattr(state, "value", state)) == "RUNNING")


def total_replicas(serve, app, deployment):
    try:
        st = serve.status().applications[app].deployments[deployment]
    except KeyError:
        return None
    return sum(st.replica_states.values())


def wait_for_zero(serve, app, deployment, timeout):
    """Polls until the deployment has no replica in any state; returns seconds waited."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if total_replicas(serve, app, deployment) == 0:
            return time.monotonic() - t0
        time.sleep(0.25)
    raise RuntimeError(f"Ray did not scale {app} to zero within {timeout} s")


def post_json(url, body, timeout=120):
    data = json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return resp.status, json.loads(resp.read())


def timed_request(url, body, check, timeout=120):
    """(ms from send to complete response, correct?) over a fresh connection."""
    t0 = time.perf_counter()
    try:
        status, resp = post_json(url, body, timeout)
    except urllib.error.HTTPError as e:
        return (time.perf_counter() - t0) * 1e3, False, f"HTTP {e.code}"
    ms = (time.perf_counter() - t0) * 1e3
    return ms, status == 200 and check(resp), f"HTTP {status}"


def bench_load(url, body_file, rate, duration, warmup):
    """`thaw bench load` report (dict) for an open-loop run at `rate`."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        r = subprocess.run([THAW_BIN, "bench", "load", "--url", url, "--body-file", str(body_file), "--rate", str(rate),
                            "--duration", str(duration), "--warmup", str(warmup), "--connections", "8",
                            "--timeout", "30", "--quiet", "--json", out.name],
                           capture_output=True, text=True, timeout=duration + warmup + 120)
        if r.returncode != 0:
            raise RuntimeError(f"thaw bench load failed: {r.stderr}")
        return json.loads(pathlib.Path(out.name).read_text())


def load_summary(report):
    lat = report["latency_from_schedule"]
    return {"p50_ms": lat["p50_ms"], "p90_ms": lat["p90_ms"], "p99_ms": lat["p99_ms"], "max_ms": lat["max_ms"],
            "measured": report["measured"], "status_counts": report["status_counts"],
            "error_counts": report["error_counts"], "achieved_rate": report["achieved_rate"]}


def measure_model(serve, http_port, model, args):
    onnx_path, body, check = model_files(model)
    url = f"http://127.0.0.1:{http_port}/v2/models/{model}/infer"
    deployment = deploy(serve, model, args.downscale_to_zero_s)
    result = {"model": model, "onnx": str(onnx_path), "onnx_bytes": onnx_path.stat().st_size, "first_request": []}
    for run in range(args.runs):
        waited = wait_for_zero(serve, model, deployment, args.zero_timeout)
        ms, ok, status = timed_request(url, body, check)
        result["first_request"].append({"ms": ms, "correct": ok, "status": status, "waited_for_zero_s": waited})
        print(f"  {model}: first request from zero replicas #{run + 1}: {ms:.0f} ms ({status}, "
              f"{'correct' if ok else 'WRONG'})", flush=True)
    good = [r["ms"] for r in result["first_request"] if r["correct"]]
    result["first_request_median_ms"] = statistics.median(good) if good else None

    if args.rate > 0:
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(body, f)
            body_file = f.name
        try:
            ms, ok, status = timed_request(url, body, check)  # wakes the replica; the warm-up keeps it
            if not ok:
                raise RuntimeError(f"Ray answered {status} with a wrong result")
            ray_report = bench_load(url, body_file, args.rate, args.duration, args.warmup)
            bare = BareServer(model)
            try:
                bare_url = f"http://127.0.0.1:{bare.port}/v2/models/{model}/infer"
                ms, ok, status = timed_request(bare_url, body, check)
                if not ok:
                    raise RuntimeError(f"bare server answered {status} with a wrong result")
                bare_report = bench_load(bare_url, body_file, args.rate, args.duration, args.warmup)
            finally:
                bare.stop()
        finally:
            os.unlink(body_file)
        ray_s, bare_s = load_summary(ray_report), load_summary(bare_report)
        result["added_latency"] = {
            "rate": args.rate, "duration_s": args.duration, "ray_serve": ray_s, "bare_python": bare_s,
            "added_p50_ms": ray_s["p50_ms"] - bare_s["p50_ms"], "added_p99_ms": ray_s["p99_ms"] - bare_s["p99_ms"]}
        print(f"  {model}: at {args.rate} req/s Ray Serve p50 {ray_s['p50_ms']:.2f} / p99 {ray_s['p99_ms']:.2f} ms, "
              f"bare Python p50 {bare_s['p50_ms']:.2f} / p99 {bare_s['p99_ms']:.2f} ms", flush=True)
    serve.delete(model)
    return result


def check_ray():
    """Starts Ray and Ray Serve, deploys the tiny model, answers one request; prints what happened."""
    t0 = time.monotonic()
    port = free_port()
    ray, serve = start_ray(port)
    started = time.monotonic() - t0
    onnx_path, body, check = model_files("tiny")
    deploy(serve, "tiny", 2.0)
    ms, ok, status = timed_request(f"http://127.0.0.1:{port}/v2/models/tiny/infer", body, check)
    print(json.dumps({"ray": ray.__version__, "ray_start_s": round(started, 2), "first_request_ms": round(ms, 1),
                      "correct": ok, "status": status, "cpus": os.cpu_count()}))
    serve.shutdown()
    ray.shutdown()
    return 0 if ok else 1


def print_table(results):
    print(f"\n{'model':<8} {'first request from 0 (median)':>30} {'Ray p50':>9} {'bare p50':>9} {'added p50':>10} "
          f"{'Ray p99':>9} {'bare p99':>9} {'added p99':>10}")
    for r in results:
        first = r.get("first_request_median_ms")
        a = r.get("added_latency")
        cells = [f"{first:.0f} ms" if first is not None else "n/a"]
        if a:
            cells += [f"{a['ray_serve']['p50_ms']:.2f}", f"{a['bare_python']['p50_ms']:.2f}", f"{a['added_p50_ms']:.2f}",
                      f"{a['ray_serve']['p99_ms']:.2f}", f"{a['bare_python']['p99_ms']:.2f}", f"{a['added_p99_ms']:.2f}"]
        else:
            cells += ["-"] * 6
        print(f"{r['model']:<8} {cells[0]:>30} " + " ".join(f"{c:>9}" if i % 3 != 2 else f"{c:>10}"
                                                           for i, c in enumerate(cells[1:])))
    print("(latencies in ms from the scheduled send; added = Ray Serve through its HTTP proxy - bare Python server)")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd")
    bare = sub.add_parser("bare", help="run the bare Python server alone")
    bare.add_argument("--model", default="tiny")
    bare.add_argument("--port", type=int, default=0)
    bare.add_argument("--ready-file")
    sub.add_parser("check", help="start Ray Serve and answer one request")
    ap.add_argument("--models", default="tiny,minilm", help="comma-separated: tiny, minilm")
    ap.add_argument("--runs", type=int, default=3, help="first-request measurements per model")
    ap.add_argument("--rate", type=float, default=50, help="req/s for the added-latency runs (0: skip them)")
    ap.add_argument("--duration", type=float, default=10, help="measured seconds per added-latency run")
    ap.add_argument("--warmup", type=float, default=2, help="unmeasured seconds before each run")
    ap.add_argument("--downscale-to-zero-s", type=float, default=2.0, help="Ray's downscale_to_zero_delay_s")
    ap.add_argument("--zero-timeout", type=float, default=180, help="longest wait for zero replicas")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "ray-serve-latest.json"))
    args = ap.parse_args(argv)
    if args.cmd == "bare":
        serve_bare(args.model, args.port, args.ready_file)
        return 0
    ensure_ray()
    if args.cmd == "check":
        return check_ray()

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    http_port = free_port()
    t0 = time.monotonic()
    ray, serve = start_ray(http_port)
    ray_start_s = time.monotonic() - t0
    print(f"Ray {ray.__version__} and Serve started in {ray_start_s:.1f} s (proxy on 127.0.0.1:{http_port})", flush=True)
    results = []
    try:
        for model in models:
            results.append(measure_model(serve, http_port, model, args))
    finally:
        serve.shutdown()
        ray.shutdown()
    print_table(results)
    doc = {"peer": "ray-serve", "ray_version": ray.__version__, "ray_start_s": ray_start_s,
           "host": {"cpus": os.cpu_count(), "machine": platform.machine(), "python": platform.python_version()},
           "settings": {"runs": args.runs, "rate": args.rate, "duration_s": args.duration, "warmup_s": args.warmup,
                        "downscale_to_zero_delay_s": args.downscale_to_zero_s, "replica_num_cpus": 0.5,
                        "intra_op_threads": 1, "max_replicas": 1},
           "definitions": {
               "first_request": "deployment at 0 replicas (serve.status), then one POST from send to complete, "
                                "correct response, fresh connection",
               "added_latency": "p50/p99 latency from the scheduled send (thaw bench load, open loop) through Ray "
                                "Serve's HTTP proxy with one warm replica, minus the same for a bare Python "
                                "ThreadingHTTPServer running the same onnxruntime code"},
           "results": results}
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
