#!/usr/bin/env python3
"""gRPC against REST, same server, same models, same run: what the gRPC front end adds for a small
request and what it saves for a 1 MB tensor, with KServe's own model server (REST and gRPC) as the
peer and the loopback round trip of the same bytes as the physical floor.

Cases (sequential requests from one client; rounds interleave the protocols to share the noise):
  live    server liveness: each protocol's floor with these clients (REST's two forms are the same call)
  tiny    the 16-float model of tools/make_tiny_model.py: nearly all serving path, no math
  minilm  one short sentence through all-MiniLM-L6-v2 (thaw only; the peer has no tokenizer)
  1mb     an FP32 identity model fed 262,144 floats (1 MiB in, 1 MiB back)
Protocols: tritonclient.http with JSON tensors, tritonclient.http with binary tensors (its
default), tritonclient.grpc (raw contents). Reports medians, p90 and gRPC/REST ratios.

    bench/protocols.sh [--rounds 10] [--per-round 20] [--skip-peer] [--out bench/results]
"""
import argparse
import json
import os
import pathlib
import platform
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

import numpy as np
import onnx
import tritonclient.grpc as tgrpc
import tritonclient.http as thttp
from onnx import TensorProto, helper

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from gateway import DATA, PYTHON, ROOT, THAW_BIN, log, prepare_models  # noqa: E402

ECHO_FLOATS = 1 << 18  # 1 MiB of FP32
SENTENCE = "A man is eating food."


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_echo_bundle():
    path = DATA / "echo.thaw"
    if path.exists():
        return path
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "echo",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [-1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [-1])])
    model = helper.make_model(graph, producer_name="thaw-bench", opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, DATA / "echo.onnx")
    subprocess.run([THAW_BIN, "pack", str(DATA / "echo.onnx"), "--name", "echo", "-o", str(path)], check=True,
                   capture_output=True, timeout=300)
    return path


def loopback_floor(nbytes, n):
    """Median seconds to send `nbytes` over loopback TCP and get them back (the data's physical floor)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)

    def echo():
        c, _ = srv.accept()
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while True:
            got = 0
            while got < nbytes:
                chunk = c.recv(1 << 20)
                if not chunk:
                    return
                got += len(chunk)
            c.sendall(b"\0" * nbytes)

    threading.Thread(target=echo, daemon=True).start()
    cl = socket.create_connection(srv.getsockname())
    cl.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    payload = b"\1" * nbytes
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        cl.sendall(payload)
        got = 0
        while got < nbytes:
            got += len(cl.recv(1 << 20))
        times.append(time.perf_counter() - t0)
    cl.close()
    srv.close()
    return statistics.median(times)


class Clients:
    """One client of each protocol against one server, and the request of each case."""

    def __init__(self, http_url, grpc_url):
        self.http = thttp.InferenceServerClient(http_url, network_timeout=120, connection_timeout=120)
        self.grpc = tgrpc.InferenceServerClient(grpc_url)
        self.tiny_x = np.round(np.random.default_rng(1).standard_normal((1, 16)), 3).astype(np.float32)
        self.echo_x = np.arange(ECHO_FLOATS, dtype=np.float32)

    def request(self, case, proto):
        if case == "live":  # the protocol's floor: a call that does nothing
            return self.grpc.is_server_live if proto == "grpc" else self.http.is_server_live
        if case == "minilm":
            name, arr, dtype, inp = "minilm", np.array([SENTENCE], dtype=object), "BYTES", "text"
        elif case == "tiny":
            name, arr, dtype, inp = "tiny", self.tiny_x, "FP32", "input"
        else:
            name, arr, dtype, inp = "echo", self.echo_x, "FP32", "x"
        if proto == "grpc":
            t = tgrpc.InferInput(inp, list(arr.shape), dtype)
            t.set_data_from_numpy(arr)
            return lambda: self.grpc.infer(name, [t])
        binary = proto == "rest-binary"
        t = thttp.InferInput(inp, list(arr.shape), dtype)
        t.set_data_from_numpy(arr, binary_data=binary)
        # Ask for the output in the same form as the input.
        out_name = {"minilm": "sentence_embedding", "tiny": "output", "1mb": "y"}[case]
        outs = [thttp.InferRequestedOutput(out_name, binary_data=binary)]
        return lambda: self.http.infer(name, [t], outputs=outs)

    def close(self):
        self.http.close()
        self.grpc.close()


def measure(clients, cases, protos, rounds, per_round, check):
    """{case: {proto: [seconds]}}, rounds interleaving the protocols."""
    out = {c: {p: [] for p in protos} for c in cases}
    for case in cases:
        calls = {p: clients.request(case, p) for p in protos}
        for p, call in calls.items():
            check(case, call())  # also the warm-up
            for _ in range(5):
                call()
        n = per_round if case != "1mb" else max(2, per_round // 4)
        for _ in range(rounds):
            for p, call in calls.items():
                for _ in range(n):
                    t0 = time.perf_counter()
                    call()
                    out[case][p].append(time.perf_counter() - t0)
    return out


def summary(samples):
    s = sorted(samples)
    return {"n": len(s), "median_ms": round(statistics.median(s) * 1e3, 3),
            "p90_ms": round(s[int(0.9 * (len(s) - 1))] * 1e3, 3)}


def check_output(case, result):
    if case == "live":
        assert result is True
    elif case == "1mb":
        y = result.as_numpy("y")
        assert y.shape == (ECHO_FLOATS,) and y[-1] == ECHO_FLOATS - 1, "echo answered wrong"
    elif case == "tiny":
        assert result.as_numpy("output").shape == (1, 16)
    else:
        assert result.as_numpy("sentence_embedding").shape == (1, 384)


def wait_port(port, proc, timeout=120):
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"port {port} never opened")


def run_thaw(args, models_dir):
    proc = subprocess.Popen([THAW_BIN, "serve", "--models", str(models_dir), "--port", "0", "--grpc-port", "0",
                             "--config", str(DATA / "gateway.yaml")],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        ev = json.loads(proc.stdout.readline())
        clients = Clients(f"127.0.0.1:{ev['port']}", f"127.0.0.1:{ev['grpc_port']}")
        log("thaw serve: measuring")
        res = measure(clients, ["live", "tiny", "minilm", "1mb"], ["rest-json", "rest-binary", "grpc"], args.rounds,
                      args.per_round, check_output)
        clients.close()
        return res
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)


def run_peer(args):
    hp, gp = free_port(), free_port()
    proc = subprocess.Popen([PYTHON, str(ROOT / "bench" / "peers" / "kserve_echo_peer.py"), "--http-port", str(hp),
                             "--grpc-port", str(gp)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            cwd=ROOT / "bench" / "peers")
    try:
        wait_port(hp, proc)
        wait_port(gp, proc)
        clients = Clients(f"127.0.0.1:{hp}", f"127.0.0.1:{gp}")
        log("kserve model server: measuring")
        # KServe's REST refuses tritonclient's JSON tensors (it reads them as bytes without the binary
        # header), so the peer runs REST in the binary form only.
        res = measure(clients, ["live", "tiny", "1mb"], ["rest-binary", "grpc"], args.rounds, args.per_round,
                      check_output)
        clients.close()
        return res
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--per-round", type=int, default=20, help="requests per protocol per round (1mb: a quarter)")
    ap.add_argument("--skip-peer", action="store_true", help="thaw only")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = ap.parse_args()
    models_dir = prepare_models()
    (models_dir / "echo.thaw").symlink_to(make_echo_bundle())
    floor_small = loopback_floor(64, 500)
    floor_1mb = loopback_floor(4 * ECHO_FLOATS, 50)
    servers = {"thaw": run_thaw(args, models_dir)}
    if not args.skip_peer:
        try:
            servers["kserve"] = run_peer(args)
        except Exception as e:  # noqa: BLE001 - the peer is reported missing, thaw's numbers stand
            log(f"peer skipped: {e}")
    result = {"host": platform.node(), "cpus": os.cpu_count(), "loadavg": os.getloadavg(),
              "floor_ms": {"64B": round(floor_small * 1e3, 4), "1MiB": round(floor_1mb * 1e3, 4)}, "servers": {}}
    lines = ["# gRPC against REST (tritonclient, sequential, ms)", "",
             f"Loopback round trip of the same bytes: 64 B {floor_small * 1e3:.3f} ms, 1 MiB {floor_1mb * 1e3:.3f} ms; "
             f"load average {os.getloadavg()[0]:.2f}.", "",
             "| server | case | REST JSON | REST binary | gRPC | gRPC / REST binary | gRPC / REST JSON |",
             "|---|---|---|---|---|---|---|"]
    for server, res in servers.items():
        result["servers"][server] = {}
        for case, by_proto in res.items():
            s = {p: summary(v) for p, v in by_proto.items()}
            g, rb = s["grpc"]["median_ms"], s["rest-binary"]["median_ms"]
            rj = s["rest-json"]["median_ms"] if "rest-json" in s else None
            s["ratio_grpc_rest_binary"] = round(g / rb, 3)
            if rj:
                s["ratio_grpc_rest_json"] = round(g / rj, 3)
            result["servers"][server][case] = s
            json_cols = f"{rj:.3f}" if rj else "—"
            json_ratio = f"{g / rj:.2f}" if rj else "—"
            lines.append(f"| {server} | {case} | {json_cols} | {rb:.3f} | {g:.3f} | {g / rb:.2f} | {json_ratio} |")
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "protocols-latest.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "protocols-latest.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
